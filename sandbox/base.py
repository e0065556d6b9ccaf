"""The interface every sandbox backend implements, and the values that cross it.

A sandbox is where a project's commands run: a Docker container, or (without Docker) the project
folder itself with processes isolated by bubblewrap where it is installed. Backends know nothing
about users, projects or the database; callers pass a complete `SandboxSpec`.
"""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SANDBOX_LABEL = "orchestrator.sandbox"
"""Label (value "true") on everything a backend creates, so it lists only its own sandboxes."""
PROJECT_LABEL = "orchestrator.project-id"

STATUSES = ("created", "running", "paused", "stopped", "exited", "removing", "dead")


class SandboxError(Exception):
    """A backend failed to do what was asked; the message says what and why."""


class SandboxNotFound(SandboxError):
    pass


class SandboxUnavailable(SandboxError):
    """The backend cannot be reached at all (for example the Docker engine is down)."""


class ImageNotFound(SandboxError):
    pass


class NotOffered(SandboxError):
    """This backend does not offer what was asked (a sandbox network address, or a terminal of its own)."""


@dataclass(frozen=True)
class PortMapping:
    host_port: int
    container_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class FolderMapping:
    host_path: str
    container_path: str


NETWORK_MODES = ("none", "egress", "open")


@dataclass(frozen=True)
class NetworkPolicy:
    """What a sandbox may reach: nothing (`none`), only the allow-listed hosts through the service's egress
    proxy (`egress`), or whatever the host network reaches (`open`)."""

    mode: str = "none"
    allowed_hosts: tuple[str, ...] = ()
    """Entries `name`, `name:port`, `*.domain` or `*.domain:port` (an IPv4 literal as a name); `egress` only."""

    def __post_init__(self) -> None:
        if self.mode not in NETWORK_MODES:
            raise ValueError(f"network mode must be one of {', '.join(NETWORK_MODES)}, not {self.mode!r}")

    def as_record(self) -> dict[str, object]:
        return {"mode": self.mode, "allowedHosts": list(self.allowed_hosts)}

    @classmethod
    def from_record(cls, record: dict[str, object] | None) -> NetworkPolicy:
        if not record:
            return cls()
        hosts = record.get("allowedHosts") or []
        return cls(str(record.get("mode") or "none"), tuple(str(host) for host in hosts))  # type: ignore[union-attr]


@dataclass(frozen=True)
class SandboxSpec:
    """Everything needed to create a sandbox for one project."""

    name: str
    image: str
    project_id: str
    project_dir: Path
    """The project's folder on this host; it becomes the working directory."""
    container_workdir: str
    """Where the project folder appears inside the sandbox (for example /base-root/org/ws/project)."""
    env: dict[str, str] = field(default_factory=dict)
    folder_mappings: Sequence[FolderMapping] = ()
    port_mappings: Sequence[PortMapping] = ()
    docker_socket: bool = False
    """Mount the engine's socket inside (docker-out-of-docker); only when the project asks."""
    network: NetworkPolicy = field(default_factory=NetworkPolicy)


def check_network(spec: SandboxSpec, egress: object | None) -> None:
    """What no backend can do: published ports without a network, or `egress` without the proxy."""
    if spec.port_mappings and spec.network.mode != "open":
        raise SandboxError(f"port mappings need the open network mode (this sandbox's is {spec.network.mode})")
    if spec.network.mode == "egress" and egress is None:
        raise SandboxError("the egress network mode needs the egress proxy, which this backend was not given")


def covers(outer: str, inner: str) -> bool:
    """Whether path `inner` is `outer` or lies inside it (both absolute and normalized)."""
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def refuse_hidden_mappings(spec: SandboxSpec, hidden: Sequence[str]) -> None:
    """A folder mapping that contains a hidden path, or lies inside one, would show it: refuse it."""
    for mapping in spec.folder_mappings:
        resolved = os.path.realpath(mapping.host_path)
        for secret in hidden:
            if covers(secret, resolved) or covers(resolved, secret):
                raise SandboxError(f"folder mapping {mapping.host_path} would expose {secret}, which stays hidden")


@dataclass(frozen=True)
class SandboxInfo:
    id: str
    name: str
    image: str
    status: str
    """One of STATUSES."""
    project_id: str | None
    created_at: datetime
    workdir: str
    ports: Sequence[PortMapping] = ()
    ip: str | None = None
    isolation: str = "docker"
    """How commands are confined: "docker", "bubblewrap" or "none"."""


@dataclass(frozen=True)
class ServiceAddress:
    """Where this host reaches one port of a sandbox. `connect`, when set, is the only way there: it opens a
    connection (a connected, non-blocking socket) to the port, for a sandbox with no address reachable from
    here; `host` and `port` are then what the sandbox's own service sees itself as (127.0.0.1 and the port)."""

    host: str
    port: int
    connect: Callable[[], Awaitable[socket.socket]] | None = None


@dataclass(frozen=True)
class OutputChunk:
    stream: str
    """"stdout" or "stderr"."""
    data: bytes


class RunningCommand(ABC):
    """A command started in a sandbox. Read `output()` to the end, then `wait()` for the exit code."""

    @abstractmethod
    def output(self) -> AsyncIterator[OutputChunk]:
        """Chunks as the process writes them (not buffered to the end)."""

    @abstractmethod
    async def wait(self) -> int:
        """The exit code; -1 when the process was killed (by `kill()` or the timeout)."""

    @abstractmethod
    async def kill(self) -> None:
        """Stop the process (and its children) now."""

    @property
    @abstractmethod
    def timed_out(self) -> bool: ...


class Terminal(ABC):
    """An interactive shell on a pseudo-terminal in a sandbox. `close()` ends it (and everything it started)."""

    @abstractmethod
    async def read(self) -> bytes:
        """The next output as soon as there is some; b"" once the shell has ended."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Type `data` (keys, pasted text) into the terminal."""

    @abstractmethod
    def resize(self, cols: int, rows: int) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """Kill the shell and its children, and release the terminal."""


class SandboxBackend(ABC):
    name: str
    has_network: bool = False
    """True when each sandbox has a network address of its own, where `service_address` finds its ports
    (Docker); False when sandboxes share this host's network (local), which has `open_terminal` instead."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise SandboxUnavailable when the backend cannot be used."""

    @abstractmethod
    async def image_exists(self, image: str) -> bool: ...

    @abstractmethod
    async def pull_image(self, image: str) -> None:
        """Make `image` available locally; ImageNotFound when it cannot be had."""

    @abstractmethod
    async def list_images(self) -> Sequence[str]:
        """Local image references (repository:tag)."""

    @abstractmethod
    async def create(self, spec: SandboxSpec) -> SandboxInfo:
        """Create (not start) a sandbox."""

    @abstractmethod
    async def start(self, sandbox_id: str) -> SandboxInfo: ...

    @abstractmethod
    async def stop(self, sandbox_id: str, timeout: float = 10) -> SandboxInfo: ...

    @abstractmethod
    async def restart(self, sandbox_id: str) -> SandboxInfo: ...

    @abstractmethod
    async def delete(self, sandbox_id: str) -> None:
        """Remove the sandbox (stopping it first); never the project folder."""

    @abstractmethod
    async def inspect(self, sandbox_id: str) -> SandboxInfo:
        """SandboxNotFound when it does not exist."""

    @abstractmethod
    async def list(self) -> Sequence[SandboxInfo]:
        """Only the sandboxes this service created (labelled)."""

    @abstractmethod
    async def run(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> RunningCommand:
        """Start `argv` (no shell) in the sandbox's working directory; the sandbox must be running."""

    async def service_address(self, sandbox_id: str, port: int) -> ServiceAddress:
        """Where this host reaches `port` of a running sandbox."""
        raise NotOffered(f"the {self.name} backend gives sandboxes no network address of their own")

    async def open_terminal(self, sandbox_id: str, cols: int, rows: int) -> Terminal:
        """An interactive shell in the sandbox's working directory, under the same confinement as `run()`."""
        raise NotOffered(f"the {self.name} backend has no terminals of its own: its sandboxes serve their own")

    @abstractmethod
    async def close(self) -> None: ...
