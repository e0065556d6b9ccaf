"""The Docker backend: one hardened, labelled container per project, commands run with `docker exec`.

Choices worth knowing (the why is in the docstrings below):

* Keepalive. A sandbox must stay up between commands. An image that defines its own long-running
  init (an ENTRYPOINT, or a CMD other than a bare shell, like the flexy image's `init.sh`) keeps it;
  otherwise the container runs a busybox/POSIX-sh loop that sleeps and exits at once on SIGTERM.
* Commands. `run()` execs `/bin/sh -c 'exec "$@"' sh argv...`: a missing program then fails the way
  a shell reports it (exit 127, "<name>: not found" on stderr) instead of Docker's OCI error on stdout.
* Killing. The Engine API has no "kill exec". Every exec gets a unique `ORCHESTRATOR_EXEC_ID` in its
  environment, which all its children inherit; `kill()` runs a second exec that signals every process
  whose /proc/<pid>/environ carries that marker (TERM, then KILL after a grace period). This catches
  background children and grandchildren too; only a process that scrubs its environment escapes.
  Images therefore need `/bin/sh`, `tr`, `grep` and `kill` (every usual base image has them).
* Capabilities. All dropped; `cap_add` adds some back for images whose init needs them (an init that
  switches to an unprivileged user needs SETUID, SETGID and usually CHOWN, DAC_OVERRIDE, FOWNER).
* Who and where. Commands run as USER_ID:GROUP_ID (1000:1000 unless set), who is made the owner of the
  project folder when the sandbox is created; the root filesystem is read-only, with tmpfs on /tmp and
  the home folder; json-file logs rotate; nofile and nproc are bounded; `host.docker.internal` resolves
  to the engine's host gateway.
* Network, by the sandbox's policy. `none`: no network at all (loopback only). `egress`: no network
  either, and the service plants its egress proxy's listener on the container's loopback (see
  `sandbox.netns`; needs this service on the engine's host, as root) after every start, and again
  before a command when it is missing (after this service restarted). `open`: a bridge network of the
  sandbox's own (created and removed with it), or the `network` given to the backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import posixpath
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.exceptions import DockerError
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from sandbox._command import Emit, StreamedCommand
from sandbox.base import (
    PROJECT_LABEL,
    SANDBOX_LABEL,
    ImageNotFound,
    NetworkPolicy,
    NotOffered,
    PortMapping,
    RunningCommand,
    SandboxBackend,
    SandboxError,
    SandboxInfo,
    SandboxNotFound,
    SandboxSpec,
    SandboxUnavailable,
    ServiceAddress,
    check_network,
    refuse_hidden_mappings,
)
from sandbox.egress import EgressProxy
from sandbox.netns import connect_in, listen_in
from sandbox.proxy_env import proxy_environment

DEFAULT_URL = "unix:///var/run/docker.sock"
GIB = 1024**3
CONTAINER_SOCKET = "/var/run/docker.sock"
EXEC_MARKER = "ORCHESTRATOR_EXEC_ID"
NETWORK_LABEL = "orchestrator.network"
"""The sandbox's network policy as JSON, so that it survives a restart of this service."""
OWN_NETWORK_LABEL = "orchestrator.own-network"
"""Names the bridge network created for an `open` sandbox, removed with it."""
HOST_GATEWAY = "host.docker.internal:host-gateway"
HOME = "/home/sandbox"

KEEPALIVE = "trap exit TERM; while :; do sleep 3600 & wait; done"
"""PID 1 when the image has no init of its own: sleeps in the background so `wait` returns on SIGTERM."""

EXEC_WRAPPER = 'exec "$@"'

KILL_SCRIPT = """
sig=$1; marker=$2; pids=
for f in /proc/[0-9]*/environ; do
  pid=${f#/proc/}; pid=${pid%/environ}
  [ "$pid" = "$$" ] && continue
  tr '\\0' '\\n' <"$f" 2>/dev/null | grep -qxF "$marker" && pids="$pids $pid"
done
[ -z "$pids" ] || kill -s "$sig" $pids 2>/dev/null
exit 0
"""

_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_IMAGE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
INIT_MODES = ("auto", "keepalive", "image")

# Docker's states that map onto ours one to one; "exited" is decided by `_status`.
_DIRECT_STATES = {"created", "running", "paused", "removing", "dead"}
_STOPPED_EXIT_CODES = {0, 137, 143}  # clean exit, SIGKILL and SIGTERM: what `docker stop` leaves


def _status(state: dict[str, Any]) -> str:
    """Docker state → one of STATUSES.

    "exited" after a stop (exit 0, or 143/137 from SIGTERM/SIGKILL) is "stopped"; any other exit code,
    or an OOM kill, is "exited": the sandbox died on its own. "restarting" counts as "running".
    """
    docker_status = state.get("Status", "")
    if docker_status in _DIRECT_STATES:
        return docker_status
    if docker_status == "restarting":
        return "running"
    if docker_status == "exited" and state.get("ExitCode") in _STOPPED_EXIT_CODES and not state.get("OOMKilled"):
        return "stopped"
    return "exited"


def _parse_time(value: str) -> datetime:
    """Docker's RFC 3339 times have nanoseconds; datetime takes at most microseconds."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(trimmed)
    except ValueError:
        return datetime.now(UTC)


def _ports(host_config: dict[str, Any]) -> list[PortMapping]:
    mappings = []
    for key, bindings in (host_config.get("PortBindings") or {}).items():
        container_port, _, protocol = key.partition("/")
        for binding in bindings or []:
            if binding.get("HostPort"):
                mappings.append(PortMapping(int(binding["HostPort"]), int(container_port), protocol or "tcp"))
    return mappings


def _ip(settings: dict[str, Any]) -> str | None:
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    for network in (settings.get("Networks") or {}).values():
        if network.get("IPAddress"):
            return network["IPAddress"]
    return None


def _local_pid(data: dict[str, Any]) -> int | None:
    """The container's main process as this machine sees it, or None: the engine's pid names it only when this
    service shares the engine's pid namespace, so the process's cgroup must name the container too."""
    pid = int((data.get("State") or {}).get("Pid") or 0)
    try:
        cgroups = Path(f"/proc/{pid}/cgroup").read_text() if pid else ""
    except OSError:
        return None
    return pid if data["Id"] in cgroups else None


def _info(data: dict[str, Any]) -> SandboxInfo:
    config = data.get("Config") or {}
    labels = config.get("Labels") or {}
    return SandboxInfo(
        id=data["Id"],
        name=data.get("Name", "").lstrip("/"),
        image=config.get("Image", ""),
        status=_status(data.get("State") or {}),
        project_id=labels.get(PROJECT_LABEL),
        created_at=_parse_time(data.get("Created", "")),
        workdir=config.get("WorkingDir", ""),
        ports=_ports(data.get("HostConfig") or {}),
        ip=_ip(data.get("NetworkSettings") or {}),
        isolation="docker",
    )


def uses_own_init(image_config: dict[str, Any]) -> bool:
    """Whether an image's default command keeps a container up by itself.

    An ENTRYPOINT, or a CMD that is more than a bare shell, is taken to be the image's init (the flexy
    image's `init.sh` starts its services and stays up). A bare `sh`/`bash` CMD (ubuntu, busybox) or
    none at all (an imported rootfs) would exit at once without a terminal, so those get the keepalive.
    """
    if image_config.get("Entrypoint"):
        return True
    command = image_config.get("Cmd") or []
    return not (len(command) == 0 or (len(command) == 1 and posixpath.basename(command[0]) in SHELLS))


NotFound = Callable[[str], SandboxError]
"""Builds the error for a 404 from the engine's message."""


def _translate(exc: DockerError, action: str, not_found: NotFound, url: str) -> SandboxError:
    if exc.status == 900:
        return SandboxUnavailable(f"the Docker engine at {url} cannot be reached: {exc.message}")
    if exc.status == 404:
        return not_found(exc.message)
    if exc.status == 409:
        return SandboxError(f"{action}: conflict: {exc.message}")
    return SandboxError(f"{action} failed: {exc.message}")


def _missing_for_create(image: str, action: str, message: str) -> SandboxError:
    if "image" in message.lower():
        return ImageNotFound(f"image {image} is not available locally")
    return SandboxError(f"{action} failed: {message}")  # a network that does not exist, for example


def _check_image(image: str) -> None:
    """Image references go into URL paths: refuse anything that is not one."""
    if not _IMAGE_PATTERN.fullmatch(image) or ".." in image:
        raise ImageNotFound(f"{image!r} is not a valid image reference")


class DockerBackend(SandboxBackend):
    """Sandboxes as containers on one Docker engine, reached with aiodocker (never blocking the loop)."""

    name = "docker"
    has_network = True

    def __init__(
        self,
        url: str | None = None,
        *,
        memory_bytes: int = 2 * GIB,
        nano_cpus: int = 2_000_000_000,
        pids_limit: int = 512,
        cap_add: Sequence[str] = (),
        network: str | None = None,
        init: str = "auto",
        publish_host_ip: str = "",
        socket_path: str | None = None,
        kill_grace: float = 0.5,
        connect_timeout: float = 5.0,
        egress: EgressProxy | None = None,
        user_id: int = 1000,
        group_id: int = 1000,
        log_max_size: str = "10m",
        log_max_file: int = 3,
        nofile: int = 8192,
        nproc: int = 4096,
        tmpfs_size: str = "512m",
        hidden_paths: Sequence[str | Path] = (),
    ) -> None:
        """`url`: the engine (default $DOCKER_HOST, else the local socket). `network`: a Docker network
        name for the containers (None: the engine's default bridge; "host" is refused). `init`: "auto",
        "keepalive" or "image" (see `uses_own_init`). `publish_host_ip`: where published ports listen
        ("" = all interfaces, as `docker run -p`). `socket_path`: the engine's socket on the engine's
        host, bound into sandboxes that ask for docker-out-of-docker (default: the path in a unix:// url,
        else /var/run/docker.sock). `network` is for `open` sandboxes only; the other modes have none.
        `egress`: the proxy for `egress` sandboxes (without one that mode is refused). `user_id`/`group_id`:
        who commands run as. `log_max_size`/`log_max_file`: json-file rotation. `nofile`/`nproc`: ulimits
        (nproc counts every process of that uid on the engine's host, so it is a ceiling, not a share).
        `tmpfs_size`: the size of /tmp and of the home folder each. `hidden_paths`: host paths no folder
        mapping may contain or lie inside (DATA_DIR, BASE_ROOT, this service's files)."""
        if network == "host":
            raise ValueError("sandboxes never use the host network")
        if init not in INIT_MODES:
            raise ValueError(f"init must be one of {INIT_MODES}, not {init!r}")
        self.url = url or os.environ.get("DOCKER_HOST") or DEFAULT_URL
        self.memory_bytes = memory_bytes
        self.nano_cpus = nano_cpus
        self.pids_limit = pids_limit
        self.cap_add = tuple(cap_add)
        self.network = network
        self.init = init
        self.publish_host_ip = publish_host_ip
        self.socket_path = socket_path or (self.url.removeprefix("unix://") if self.url.startswith("unix://") else None)
        self.kill_grace = kill_grace
        self.connect_timeout = connect_timeout
        self.egress = egress
        self.user_id, self.group_id = user_id, group_id
        self.log_max_size, self.log_max_file = log_max_size, log_max_file
        self.nofile, self.nproc = nofile, nproc
        self.tmpfs_size = tmpfs_size
        self.hidden_paths = tuple(os.path.realpath(path) for path in hidden_paths)
        self._proxies: dict[str, tuple[int, asyncio.Server]] = {}
        """Container id → (the pid whose namespace the listener is in, the proxy serving it)."""
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_connect=connect_timeout)
        self._docker: aiodocker.Docker | None = None

    # -- plumbing -------------------------------------------------------------------------------

    def _client(self) -> aiodocker.Docker:
        """Created on first use: an aiohttp session belongs to the running event loop."""
        if self._docker is None:
            self._docker = aiodocker.Docker(url=self.url, timeout=self._timeout)
        return self._docker

    @contextlib.asynccontextmanager
    async def _errors(self, action: str, not_found: NotFound | None = None) -> AsyncIterator[None]:
        """Turn aiodocker's and aiohttp's errors into the interface's."""
        missing = not_found or (lambda message: SandboxError(f"{action}: {message}"))
        try:
            yield
        except DockerError as exc:
            raise _translate(exc, action, missing, self.url) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SandboxUnavailable(f"the Docker engine at {self.url} cannot be reached: {exc}") from exc

    @staticmethod
    def _sandbox_missing(sandbox_id: str) -> NotFound:
        """A 404 about the container is SandboxNotFound; about something else (a network) it is not."""

        def error(message: str) -> SandboxError:
            if "no such container" in message.lower():
                return SandboxNotFound(f"sandbox {sandbox_id} does not exist")
            return SandboxError(f"sandbox {sandbox_id}: {message}")

        return error

    async def _inspect_raw(self, sandbox_id: str) -> dict[str, Any]:
        if not _ID_PATTERN.fullmatch(sandbox_id):  # it goes into a URL path: nothing but a name or an id
            raise SandboxNotFound(f"sandbox {sandbox_id!r} does not exist")
        async with self._errors(f"inspect sandbox {sandbox_id}", self._sandbox_missing(sandbox_id)):
            data = await self._client().containers.container(sandbox_id).show()
        if ((data.get("Config") or {}).get("Labels") or {}).get(SANDBOX_LABEL) != "true":
            raise SandboxNotFound(f"sandbox {sandbox_id} does not exist")  # not ours: as if it were not there
        return data

    async def _container(self, sandbox_id: str) -> DockerContainer:
        """The container after checking it exists and is ours."""
        data = await self._inspect_raw(sandbox_id)
        return self._client().containers.container(data["Id"])

    # -- images ---------------------------------------------------------------------------------

    async def ping(self) -> None:
        async with self._errors("ping the Docker engine"), asyncio.timeout(self.connect_timeout):
            await self._client().version()  # bounded: a hung engine can accept connections and never answer

    async def image_exists(self, image: str) -> bool:
        _check_image(image)
        try:
            async with self._errors(f"inspect image {image}", ImageNotFound):
                await self._client().images.inspect(image)
        except ImageNotFound:
            return False
        return True

    async def pull_image(self, image: str) -> None:
        """Any failure to pull (unknown image, registry unreachable, denied) is ImageNotFound."""
        _check_image(image)
        try:
            async with self._errors(f"pull image {image}"):
                await self._client().images.pull(image)
        except SandboxUnavailable:
            raise
        except SandboxError as exc:
            raise ImageNotFound(f"image {image} is not available locally and could not be pulled: {exc}") from exc

    async def list_images(self) -> Sequence[str]:
        async with self._errors("list images"):
            images = await self._client().images.list()
        tags = (tag for image in images for tag in image.get("RepoTags") or [])
        return sorted({tag for tag in tags if tag != "<none>:<none>"})

    # -- lifecycle ------------------------------------------------------------------------------

    async def _entrypoint(self, image: str) -> list[str] | None:
        """The command override for PID 1, or None to keep the image's own."""
        if self.init == "image":
            return None
        if self.init == "auto":
            async with self._errors(
                f"inspect image {image}", lambda _: ImageNotFound(f"image {image} is not available")
            ):
                data = await self._client().images.inspect(image)
            if uses_own_init(data.get("Config") or {}):
                return None
        return ["/bin/sh", "-c", KEEPALIVE]

    def _binds(self, spec: SandboxSpec) -> list[str]:
        binds = [f"{spec.project_dir}:{spec.container_workdir}"]
        binds += [f"{mapping.host_path}:{mapping.container_path}" for mapping in spec.folder_mappings]
        if spec.docker_socket:
            binds.append(f"{self.socket_path or CONTAINER_SOCKET}:{CONTAINER_SOCKET}")
        else:
            self._refuse_socket_exposure(spec)
        return binds

    def _refuse_socket_exposure(self, spec: SandboxSpec) -> None:
        """A folder mapping that contains the engine's socket would hand out the engine: refuse it."""
        sockets = {Path(path) for path in (self.socket_path, CONTAINER_SOCKET) if path}
        sockets |= {Path(os.path.realpath(path)) for path in sockets}
        for mapping in spec.folder_mappings:
            host = Path(os.path.realpath(mapping.host_path))
            if any(socket == host or socket.is_relative_to(host) for socket in sockets):
                raise SandboxError(
                    f"folder mapping {mapping.host_path} would expose the Docker socket; "
                    "enable docker-out-of-docker instead"
                )

    def _tmpfs(self) -> dict[str, str]:
        common = f"rw,nosuid,nodev,size={self.tmpfs_size}"
        return {"/tmp": common, HOME: f"{common},uid={self.user_id},gid={self.group_id},mode=0700"}

    def _config(
        self, spec: SandboxSpec, entrypoint: list[str] | None, network: str, own_network: bool
    ) -> dict[str, Any]:
        ports = {f"{port.container_port}/{port.protocol}": port for port in spec.port_mappings}
        host_config: dict[str, Any] = {
            "Binds": self._binds(spec),
            "PortBindings": {
                key: [{"HostIp": self.publish_host_ip, "HostPort": str(port.host_port)}] for key, port in ports.items()
            },
            "Privileged": False,
            "SecurityOpt": ["no-new-privileges:true"],
            "CapDrop": ["ALL"],
            "CapAdd": list(self.cap_add),
            "Memory": self.memory_bytes,
            "MemorySwap": self.memory_bytes,
            "NanoCpus": self.nano_cpus,
            "PidsLimit": self.pids_limit,
            "RestartPolicy": {"Name": "no"},
            "ReadonlyRootfs": True,
            "Tmpfs": self._tmpfs(),
            "LogConfig": {
                "Type": "json-file",
                "Config": {"max-size": self.log_max_size, "max-file": str(self.log_max_file)},
            },
            "Ulimits": [
                {"Name": "nofile", "Soft": self.nofile, "Hard": self.nofile},
                {"Name": "nproc", "Soft": self.nproc, "Hard": self.nproc},
            ],
            "ExtraHosts": [HOST_GATEWAY],
            "NetworkMode": network,
        }
        env = {"HOME": HOME, **(proxy_environment() if spec.network.mode == "egress" else {}), **spec.env}
        labels = {
            SANDBOX_LABEL: "true",
            PROJECT_LABEL: spec.project_id,
            NETWORK_LABEL: json.dumps(spec.network.as_record()),
        }
        if own_network:
            labels[OWN_NETWORK_LABEL] = network
        config: dict[str, Any] = {
            "Image": spec.image,
            "User": f"{self.user_id}:{self.group_id}",
            "Env": [f"{key}={value}" for key, value in env.items()],
            "Labels": labels,
            "WorkingDir": spec.container_workdir,
            "ExposedPorts": {key: {} for key in ports},
            "HostConfig": host_config,
        }
        if entrypoint is not None:
            config["Entrypoint"] = entrypoint
            config["Cmd"] = []
        return config

    async def create(self, spec: SandboxSpec) -> SandboxInfo:
        if not posixpath.isabs(spec.container_workdir):
            raise SandboxError(f"the working directory must be an absolute path, not {spec.container_workdir!r}")
        _check_image(spec.image)
        check_network(spec, self.egress)
        refuse_hidden_mappings(spec, self.hidden_paths)
        entrypoint = await self._entrypoint(spec.image)
        await asyncio.to_thread(_give_folder, spec.project_dir, self.user_id, self.group_id)
        network, own_network = await self._network_for(spec)
        config = self._config(spec, entrypoint, network, own_network)
        action = f"create sandbox {spec.name}"
        try:
            async with self._errors(action, lambda message: _missing_for_create(spec.image, action, message)):
                container = await self._client().containers.create(config, name=spec.name)
        except SandboxError:
            if own_network:
                await self._remove_network(network)
            raise
        return await self.inspect(container.id)

    async def _network_for(self, spec: SandboxSpec) -> tuple[str, bool]:
        """The NetworkMode of a new sandbox, and whether it is a network made for it alone."""
        if spec.network.mode != "open":
            return "none", False
        if self.network:
            return self.network, False
        name = f"{spec.name}-net"
        labels = {SANDBOX_LABEL: "true", PROJECT_LABEL: spec.project_id}
        async with self._errors(f"create network {name}"):
            await self._client().networks.create({"Name": name, "Driver": "bridge", "Labels": labels})
        return name, True

    async def _remove_network(self, name: str) -> None:
        with contextlib.suppress(SandboxError):
            async with self._errors(f"remove network {name}"):
                await (await self._client().networks.get(name)).delete()

    # -- the egress proxy -----------------------------------------------------------------------

    async def _ensure_proxy(self, data: dict[str, Any]) -> None:
        """Plant the proxy in a running `egress` sandbox whose current namespace has none yet."""
        labels = (data.get("Config") or {}).get("Labels") or {}
        policy = NetworkPolicy.from_record(json.loads(labels.get(NETWORK_LABEL) or "{}"))
        pid = int((data.get("State") or {}).get("Pid") or 0)
        if policy.mode != "egress" or not pid:
            return
        current = self._proxies.get(data["Id"])
        if current is not None and current[0] == pid:
            return
        self._drop_proxy(data["Id"])
        assert self.egress is not None, "create() refuses egress sandboxes without a proxy"
        server = await self.egress.serve(await listen_in(pid), policy)
        self._proxies[data["Id"]] = (pid, server)

    def _drop_proxy(self, container_id: str) -> None:
        current = self._proxies.pop(container_id, None)
        if current is not None:
            current[1].close()

    async def start(self, sandbox_id: str) -> SandboxInfo:
        container = await self._container(sandbox_id)
        async with self._errors(f"start sandbox {sandbox_id}", self._sandbox_missing(sandbox_id)):
            await container.start()
        return await self._running_info(sandbox_id)

    async def _running_info(self, sandbox_id: str) -> SandboxInfo:
        data = await self._inspect_raw(sandbox_id)
        await self._ensure_proxy(data)
        return _info(data)

    async def stop(self, sandbox_id: str, timeout: float = 10) -> SandboxInfo:
        container = await self._container(sandbox_id)
        async with self._errors(f"stop sandbox {sandbox_id}", self._sandbox_missing(sandbox_id)):
            await container.stop(t=max(0, round(timeout)))
        self._drop_proxy(container.id)
        return await self.inspect(sandbox_id)

    async def restart(self, sandbox_id: str) -> SandboxInfo:
        container = await self._container(sandbox_id)
        async with self._errors(f"restart sandbox {sandbox_id}", self._sandbox_missing(sandbox_id)):
            await container.restart(t=10)
        return await self._running_info(sandbox_id)

    async def delete(self, sandbox_id: str) -> None:
        """Stop gracefully, then remove the container and its anonymous volumes (never bind sources), and the
        network made for it."""
        data = await self._inspect_raw(sandbox_id)
        container = self._client().containers.container(data["Id"])
        async with self._errors(f"delete sandbox {sandbox_id}", self._sandbox_missing(sandbox_id)):
            with contextlib.suppress(DockerError):
                await container.stop(t=10)
            await container.delete(force=True, v=True)
        self._drop_proxy(data["Id"])
        own_network = ((data.get("Config") or {}).get("Labels") or {}).get(OWN_NETWORK_LABEL)
        if own_network:
            await self._remove_network(own_network)

    async def inspect(self, sandbox_id: str) -> SandboxInfo:
        return _info(await self._inspect_raw(sandbox_id))

    async def list(self) -> Sequence[SandboxInfo]:
        async with self._errors("list sandboxes"):
            found = await self._client().containers.list(all=True, filters={"label": [f"{SANDBOX_LABEL}=true"]})
        infos = await asyncio.gather(*(self._inspect_or_none(container.id) for container in found))
        return [info for info in infos if info is not None]

    async def _inspect_or_none(self, sandbox_id: str) -> SandboxInfo | None:
        try:
            return await self.inspect(sandbox_id)
        except SandboxNotFound:  # removed between the listing and now
            return None

    async def service_address(self, sandbox_id: str, port: int) -> ServiceAddress:
        """The container's own address on its network; else, when `port` is published, the engine's host; else,
        for a container with no network (the `none` and `egress` modes) on this machine's engine, a connection
        made inside its network namespace to its loopback.

        Nothing but the sandbox's own ports can come out: the host is the container's IP (or, for a published
        port, the engine's host at the port Docker published for this container's `port`, or the container's
        own loopback).
        """
        data = await self._inspect_raw(sandbox_id)
        info = _info(data)
        if info.status != "running":
            raise SandboxError(f"sandbox {sandbox_id} is not running (it is {info.status})")
        if info.ip:
            return ServiceAddress(info.ip, port)
        for mapping in info.ports:
            if mapping.container_port == port and mapping.protocol == "tcp":
                return ServiceAddress(self._engine_host(), mapping.host_port)
        pid = await asyncio.to_thread(_local_pid, data)
        if pid is not None and not self.url.startswith(("tcp://", "http://", "https://")):
            return ServiceAddress("127.0.0.1", port, connect=functools.partial(connect_in, pid, port))
        raise NotOffered(f"sandbox {sandbox_id} has no network address, and its port {port} is not published")

    def _engine_host(self) -> str:
        """Where published ports listen, seen from here: the engine's host (this one for a local socket)."""
        if self.url.startswith(("tcp://", "http://", "https://")):
            return urlsplit(self.url).hostname or "127.0.0.1"
        return "127.0.0.1" if self.publish_host_ip in ("", "0.0.0.0", "::") else self.publish_host_ip

    # -- commands -------------------------------------------------------------------------------

    async def run(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> RunningCommand:
        if not argv:
            raise SandboxError("nothing to run: the command is empty")
        data = await self._inspect_raw(sandbox_id)
        await self._ensure_proxy(data)
        container = self._client().containers.container(data["Id"])
        marker = uuid.uuid4().hex
        environment = {**(env or {}), EXEC_MARKER: marker}
        async with self._errors(f"run in sandbox {sandbox_id}", self._sandbox_missing(sandbox_id)):
            execution = await container.exec(["/bin/sh", "-c", EXEC_WRAPPER, "sh", *argv], environment=environment)
            stream = await self._started(execution)
        return StreamedCommand(
            self._producer(execution, stream),
            self._signaller(container, f"{EXEC_MARKER}={marker}"),
            timeout=timeout,
            kill_grace=self.kill_grace,
        )

    @staticmethod
    async def _started(execution: Exec) -> Stream:
        """Start the exec now (not on the first read), so that a kill() cannot come before the process."""
        stream = execution.start(detach=False)
        try:
            await stream.__aenter__()
        except BaseException:
            await stream.close()
            raise
        return stream

    def _producer(self, execution: Exec, stream: Stream) -> Callable[[Emit], Awaitable[int]]:
        async def produce(emit: Emit) -> int:
            try:
                async with self._errors("read command output"):
                    while (message := await stream.read_out()) is not None:
                        emit("stderr" if message.stream == 2 else "stdout", message.data)
            finally:
                await stream.close()
            return await self._exit_code(execution)

        return produce

    async def _exit_code(self, execution: Exec) -> int:
        """The stream ends when the process closes its output; the engine records the exit just after."""
        for _ in range(200):
            async with self._errors("inspect command"):
                data = await execution.inspect()
            if not data.get("Running"):
                return int(data.get("ExitCode") or 0)
            await asyncio.sleep(0.05)
        raise SandboxError("the command closed its output but did not exit")

    def _signaller(self, container: DockerContainer, marker: str) -> Callable[[str], Awaitable[None]]:
        async def signal(name: str) -> None:
            async with self._errors("signal command"):
                killer = await container.exec(["/bin/sh", "-c", KILL_SCRIPT, "kill", name, marker])
                await killer.start(detach=True)

        return signal

    async def close(self) -> None:
        for container_id in list(self._proxies):
            self._drop_proxy(container_id)
        if self._docker is not None:
            await self._docker.close()
            self._docker = None


def _give_folder(folder: Path, user_id: int, group_id: int) -> None:
    """Make the sandbox's user the owner of the project folder and what is in it (symlinks themselves, never
    their targets; relative to each folder's descriptor, so no path a task swapped for a link is followed).
    Only root can; otherwise the folder stays this service's."""
    if os.geteuid() != 0:
        return
    os.chown(folder, user_id, group_id, follow_symlinks=False)
    for _, folders, files, descriptor in os.fwalk(folder):
        for name in [*folders, *files]:
            os.chown(name, user_id, group_id, dir_fd=descriptor, follow_symlinks=False)
