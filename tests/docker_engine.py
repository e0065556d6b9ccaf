"""A private Docker engine for the tests, and a tiny test image built locally (no registry is reachable).

The engine gets its own data root, exec root, pid file, unix socket, config file and network bridge in a
short folder under /tmp (a unix socket path must stay under 108 bytes), so it neither needs nor touches
a system dockerd. iptables and masquerading are off: containers need no way out, and published ports
still work through Docker's userland proxy. When no bridge can be made, the engine runs with
`--bridge=none` and `ports_published` is False.

The image `orchestrator-test:latest` is a busybox-static root filesystem (every applet linked, /tmp,
/etc/passwd with the sandbox user 1000) with the fake agent CLIs and this host's git (`tests/image_extras.py`),
imported from a tar made in memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import io
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.image_extras import add_fake_agents, add_host_git

IMAGE = "orchestrator-test:latest"
BUSYBOX = Path("/bin/busybox")
INSTALL_HINT = "run `make test` (scripts/system-deps.sh installs docker.io, busybox-static and bubblewrap)"
IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"


PASSWD = (
    b"root:x:0:0:root:/root:/bin/sh\n"
    b"sandbox:x:1000:1000:sandbox:/home/sandbox:/bin/sh\n"
    b"nobody:x:65534:65534::/:/bin/false\n"
)
"""Sandboxes run as 1000:1000 (USER_ID/GROUP_ID), a user with a name and a home as in the original image."""
GROUP = b"root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n"


class EngineMissing(RuntimeError):
    """What the engine needs is not installed here (the fixture fails with this message)."""


@dataclass
class DockerEngine:
    folder: Path
    process: subprocess.Popen[bytes]
    bridge: str | None
    image: str = IMAGE

    @property
    def socket_path(self) -> Path:
        return self.folder / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def ports_published(self) -> bool:
        return self.bridge is not None

    def request(self, method: str, path: str, body: bytes | None = None, **query: str | list[str]) -> bytes:
        """One Engine API call over the unix socket (sync: the helper must not depend on the code under test).
        A list value repeats its query parameter."""
        connection = _UnixConnection(str(self.socket_path))
        try:
            target = f"{path}?{urlencode(query, doseq=True)}" if query else path
            headers = {"Content-Type": "application/x-tar" if body else "application/json"}
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {data.decode(errors='replace')}")
            return data
        finally:
            connection.close()

    def stop(self) -> None:
        """Remove every container, stop the engine (TERM, then KILL), unmount what it left, delete the folder."""
        with contextlib.suppress(Exception):
            for container in json.loads(self.request("GET", "/containers/json", all="1")):
                self.request("DELETE", f"/containers/{container['Id']}", force="1", v="1")
        _terminate(self.process, timeout=20)
        _terminate_pidfile(self.folder / "exec" / "containerd" / "containerd.pid")
        _unmount_under(self.folder)
        if self.bridge:
            subprocess.run(["ip", "link", "delete", self.bridge], check=False, capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _is_static(binary: Path) -> bool:
    """An ELF without an interpreter (PT_INTERP) needs no libc: it runs alone in an empty image."""
    data = binary.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only, like the machines we run on
        return False
    (program_offset,) = struct.unpack_from("<Q", data, 0x20)
    entry_size, entries = struct.unpack_from("<HH", data, 0x36)
    for index in range(entries):
        (kind,) = struct.unpack_from("<I", data, program_offset + index * entry_size)
        if kind == 3:
            return False
    return True


def check_requirements() -> None:
    if os.geteuid() != 0:
        raise EngineMissing("the Docker tests start their own dockerd and need root")
    if not shutil.which("dockerd"):
        raise EngineMissing(f"dockerd is not installed: {INSTALL_HINT}")
    if not BUSYBOX.exists() or not _is_static(BUSYBOX):
        raise EngineMissing(f"a static busybox is needed for the test image: {INSTALL_HINT}")


BRIDGE_LOCK = Path(tempfile.gettempdir()) / "orchestrator-test-bridges.lock"


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no interface or route here uses."""
    used = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True, check=False)
    taken = [
        ipaddress.ip_network(word, strict=False)
        for line in used.stdout.splitlines()
        for word in line.split()[:1]
        if word[0].isdigit()
    ]
    for candidate in ipaddress.ip_network("10.213.0.0/16").subnets(new_prefix=24):
        if not any(candidate.overlaps(network) for network in taken):
            return candidate
    raise RuntimeError("no free subnet for the test engine's bridge")


def _make_bridge() -> str | None:
    """A bridge of our own (a system dockerd keeps docker0); None when this machine cannot make one."""
    name = f"orchbr{secrets.token_hex(4)}"
    # One process at a time between finding a free subnet and taking it: the test workers start engines at once.
    with BRIDGE_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subnet = _free_subnet()
        steps = [
            ["ip", "link", "add", "name", name, "type", "bridge"],
            ["ip", "addr", "add", f"{next(subnet.hosts())}/{subnet.prefixlen}", "dev", name],
            ["ip", "link", "set", name, "up"],
        ]
        for step in steps:
            if subprocess.run(step, capture_output=True, check=False).returncode != 0:
                subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
                return None
    return name


def _dockerd_argv(folder: Path, bridge: str | None) -> list[str]:
    (folder / "daemon.json").write_text("{}")  # never the machine's /etc/docker/daemon.json
    return [
        "dockerd",
        f"--config-file={folder / 'daemon.json'}",
        f"--data-root={folder / 'data'}",
        f"--exec-root={folder / 'exec'}",
        f"--pidfile={folder / 'dockerd.pid'}",
        f"--host=unix://{folder / 'docker.sock'}",
        f"--bridge={bridge or 'none'}",
        "--iptables=false",
        "--ip-masq=false",
        "--shutdown-timeout=2",
        "--log-level=warn",
    ]


def _wait_until_up(engine: DockerEngine, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if engine.process.poll() is not None:
            raise RuntimeError(f"dockerd exited with {engine.process.returncode}:\n{_log_tail(engine.folder)}")
        with contextlib.suppress(OSError, http.client.HTTPException, RuntimeError):
            if engine.request("GET", "/_ping") == b"OK":
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not answer within {timeout} s:\n{_log_tail(engine.folder)}")
        time.sleep(0.1)


def _log_tail(folder: Path) -> str:
    with contextlib.suppress(OSError):
        return "\n".join((folder / "dockerd.log").read_text(errors="replace").splitlines()[-20:])
    return ""


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _terminate_pidfile(pidfile: Path, timeout: float = 15) -> None:
    """dockerd stops the containerd it started; after a KILL of dockerd that one is left over. Waits until it
    is gone: a containerd started meanwhile would wait for the old one's lock on its database, and dockerd
    gives up on it."""
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie, which holds no lock any more, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _unmount_under(folder: Path) -> None:
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{folder}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _add_file(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _add_entry(archive: tarfile.TarFile, name: str, kind: bytes, mode: int, target: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.mtime = kind, mode, target, int(time.time())
    archive.addfile(info)


def rootfs_tar(extra_files: dict[str, tuple[bytes, int]] | None = None) -> bytes:
    """busybox and a symlink per applet, the usual folders, users, the fake agent CLIs and git; `extra_files`
    maps more paths (their folders must exist) to (content, mode)."""
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777), ("usr", 0o755)):
            _add_entry(archive, folder, tarfile.DIRTYPE, mode)
        for folder in ("usr/local", "usr/local/bin", "var", "var/run", "proc", "sys", "dev"):
            _add_entry(archive, folder, tarfile.DIRTYPE, 0o755)
        _add_file(archive, "bin/busybox", BUSYBOX.read_bytes(), 0o755)
        for applet in applets:
            if applet != "busybox":
                _add_entry(archive, f"bin/{applet}", tarfile.SYMTYPE, 0o777, "busybox")
        _add_entry(archive, "home", tarfile.DIRTYPE, 0o755)
        _add_file(archive, "etc/passwd", PASSWD)
        _add_file(archive, "etc/group", GROUP)
        add_fake_agents(archive)
        add_host_git(archive)
        for path, (data, mode) in (extra_files or {}).items():
            _add_file(archive, path, data, mode)
    return buffer.getvalue()


def import_image(engine: DockerEngine, image: str, rootfs: bytes, changes: tuple[str, ...] = ()) -> None:
    """`docker import` of a root filesystem by the Engine API, with Dockerfile `changes` (PATH is always set)."""
    repository, _, tag = image.partition(":")
    engine.request(
        "POST",
        "/images/create",
        rootfs,
        fromSrc="-",
        repo=repository,
        tag=tag,
        changes=[f"ENV PATH={IMAGE_PATH}", *changes],
    )


def build_test_image(engine: DockerEngine) -> None:
    """The test image: no CMD (sandboxes get the keepalive)."""
    import_image(engine, engine.image, rootfs_tar())


def start_engine() -> DockerEngine:
    check_requirements()
    folder = Path(tempfile.mkdtemp(prefix="orch-dockerd-", dir="/tmp"))
    bridge = _make_bridge()
    with (folder / "dockerd.log").open("wb") as log:
        process = subprocess.Popen(
            _dockerd_argv(folder, bridge), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    engine = DockerEngine(folder, process, bridge)
    try:
        _wait_until_up(engine)
        build_test_image(engine)
    except BaseException:
        engine.stop()
        raise
    return engine


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """The session's private engine with the test image; fails (never skips) when it cannot be had.

    A conftest makes it available with `from tests.docker_engine import docker_engine  # noqa: F401`;
    import it in one conftest only (each import is a fixture of its own, hence an engine of its own).
    """
    try:
        engine = start_engine()
    except EngineMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield engine
    engine.stop()
