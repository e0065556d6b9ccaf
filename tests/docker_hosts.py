"""A second private Docker engine for the cluster tests: reached over tcp:// with mutual TLS as Docker
documents it (a CA, a server certificate for 127.0.0.1, a client certificate), that can be stopped and
started again with its containers kept, and that does not see one folder of the shared BASE_ROOT (it runs
in a mount namespace of its own with an empty tmpfs over that folder), so that placement's check that a
host sees the project folders has a host to refuse.

Built on `tests.docker_engine` (its argv, its image, its clean-up).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.docker_engine import (
    DockerEngine,
    _alive,
    _dockerd_argv,
    _make_bridge,
    _terminate,
    _terminate_pidfile,
    _wait_until_up,
    build_test_image,
    check_requirements,
)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_tls(folder: Path) -> tuple[Path, Path]:
    """A CA, the engine's certificate and a client's, laid out as Docker documents. Returns (engine's folder,
    client's folder with ca.pem, cert.pem and key.pem)."""
    engine, client = folder / "engine", folder / "client"
    engine.mkdir(parents=True)
    client.mkdir(parents=True)
    ca_key = _key()
    ca = _certificate("orchestrator test CA", ca_key, None, ca_key, ca=True)
    server_key, client_key = _key(), _key()
    server = _certificate("127.0.0.1", server_key, ca.subject, ca_key, server=True)
    client_cert = _certificate("orchestrator replica", client_key, ca.subject, ca_key)
    for target in (engine, client):
        (target / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (engine / "cert.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_key(server_key, engine / "key.pem")
    (client / "cert.pem").write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(client_key, client / "key.pem")
    return engine, client


@dataclass
class TlsEngine:
    """A dockerd on a unix socket (for the tests' own calls) and tcp://127.0.0.1:port with mutual TLS."""

    folder: Path
    port: int
    blind_to: Path
    client_tls: Path
    engine: DockerEngine | None = None

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start dockerd (again: its data root and containers are kept across a stop)."""
        bridge = self.engine.bridge if self.engine else _make_bridge()
        tls = self.folder / "tls" / "engine"
        argv = [
            *_dockerd_argv(self.folder, bridge),
            f"--host=tcp://127.0.0.1:{self.port}",
            "--tlsverify",
            f"--tlscacert={tls / 'ca.pem'}",
            f"--tlscert={tls / 'cert.pem'}",
            f"--tlskey={tls / 'key.pem'}",
        ]
        script = f"mount -t tmpfs -o size=1m tmpfs {shlex.quote(str(self.blind_to))} && exec {shlex.join(argv)}"
        with (self.folder / "dockerd.log").open("ab") as log:
            process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.engine = DockerEngine(self.folder, process, bridge)
        _wait_until_up(self.engine)

    def stop(self) -> None:
        """Stop dockerd the way a host going down would (its containers stop with it)."""
        assert self.engine is not None
        _terminate(self.engine.process, timeout=30)
        _terminate_pidfile(self.folder / "exec" / "containerd" / "containerd.pid")

    def crash(self) -> None:
        """Stop answering at once, as a host that loses power does: dockerd, its containerd, the containers'
        shims and everything in the containers killed together. (Killing dockerd alone leaves shims that a
        new containerd must take over, which on a loaded machine outlasts dockerd's wait for containerd.)"""
        assert self.engine is not None
        doomed = _processes_of_engine(self.folder)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.engine.process.wait(timeout=30)
        _terminate_pidfile(self.folder / "exec" / "containerd" / "containerd.pid")
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in doomed) and time.monotonic() < deadline:
            time.sleep(0.05)

    def destroy(self) -> None:
        if self.engine is not None:
            self.engine.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _processes_of_engine(folder: Path) -> list[int]:
    """dockerd, containerd and every shim of the engine in `folder` (their command lines name it), with all
    their descendants (the containers' processes)."""
    parents: dict[int, int] = {}
    roots = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if str(folder) in command and command.split(" ", 1)[0].rsplit("/", 1)[-1].startswith(("dockerd", "containerd")):
            roots.append(int(entry.name))
    doomed = set(roots)
    while True:
        more = {pid for pid, parent in parents.items() if parent in doomed} - doomed
        if not more:
            return sorted(doomed)
        doomed |= more


def start_tls_engine(port: int, blind_to: Path) -> TlsEngine:
    """A second engine with the test image, unable to see `blind_to` (which must exist)."""
    check_requirements()
    folder = Path(tempfile.mkdtemp(prefix="orch-dockerd-tls-", dir="/tmp"))
    _, client = make_tls(folder / "tls")
    engine = TlsEngine(folder, port, blind_to, client)
    try:
        engine.start()
        assert engine.engine is not None
        build_test_image(engine.engine)
    except BaseException:
        with contextlib.suppress(Exception):
            engine.destroy()
        raise
    return engine
