"""The sandbox companions the console shows in frames: the sandbox's web terminal (its port 9681), its markdown
editor CoSpec AI (port 9280) and any other port of it, reached over the sandbox's own network address (or from
inside its network namespace, when its network mode gives it none); and, on the local backend, where a sandbox
has no network of its own, a terminal of this server's in place of the first.

Access is the sandbox's: whoever may not see it gets the same 404 as for a sandbox that does not exist.
Nothing here ever names another host: an upstream is always the sandbox's own address, from its backend.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from resolvers.errors import DomainError, invalid
from resolvers.runtime import Caller, Runtime
from resolvers.sandboxes import backend_errors, checked_sandbox
from sandbox.base import NotOffered, SandboxInfo, Terminal

SHELL_PORT = 9681
DOCS_PORT = 9280
SERVICE_NAMES = {SHELL_PORT: "web terminal", DOCS_PORT: "markdown editor (CoSpec AI)"}
MAX_COLUMNS = 1000
MAX_ROWS = 500
DEFAULT_SIZE = (80, 24)


@dataclass(frozen=True)
class Upstream:
    """Where one port of a sandbox is reached from this server: `host` and `port`, through a connection
    `connect` opens when set (a sandbox with no network address of its own, see `ServiceAddress`)."""

    host: str
    port: int
    connect: Callable[[], Awaitable[socket.socket]] | None = None


def parse_port(raw: str) -> int:
    """A port as written in a path: 1 to 65535 in plain decimal digits, nothing else."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5 and 1 <= int(raw) <= 65535):
        raise invalid("port", f"{raw[:20]!r} is not a port number (1-65535)")
    return int(raw)


def _dimension(name: str, value: object, limit: int) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 4:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise invalid(name, f"must be a whole number from 1 to {limit}")
    return value


def terminal_size(cols: object, rows: object) -> tuple[int, int]:
    """Columns and rows of a terminal (numbers or digit strings), each at least 1 and within the limits."""
    return _dimension("cols", cols, MAX_COLUMNS), _dimension("rows", rows, MAX_ROWS)


def terminal_is_local(rt: Runtime) -> bool:
    """Whether the Shell tab is this server's own terminal (the backend gives sandboxes no network address)."""
    return not rt.backend.has_network


def _service(port: int) -> str:
    name = SERVICE_NAMES.get(port)
    return f"port {port} ({name})" if name else f"port {port}"


def _require_running(live: SandboxInfo, purpose: str) -> None:
    if live.status != "running":
        raise DomainError(
            "SANDBOX_NOT_RUNNING",
            f"Sandbox {live.name} is {live.status}. Start it to use its {purpose}, then reload this page.",
            {"id": live.id, "status": live.status},
        )


async def sandbox_service(rt: Runtime, caller: Caller, sandbox_id: str, port: int | str) -> Upstream:
    """Where `port` (a number, or as written in a path) of the sandbox answers; 404 for a sandbox the caller
    may not see (whatever the port), 400 for a port that is none, 503 when the sandbox is stopped."""
    _, live = await checked_sandbox(rt, caller, sandbox_id)
    port = parse_port(port) if isinstance(port, str) else port
    if not rt.backend.has_network:
        raise DomainError(
            "DOCKER_BACKEND_REQUIRED",
            f"The sandbox's {_service(port)} needs the Docker backend: this server runs sandboxes on the "
            f"{rt.backend.name} backend, where a sandbox has no network of its own.",
            {"id": sandbox_id, "backend": rt.backend.name},
        )
    _require_running(live, _service(port))
    with backend_errors(sandbox_id):
        try:
            address = await rt.backend.service_address(sandbox_id, port)
        except NotOffered as error:
            raise DomainError("SERVICE_UNREACHABLE", f"{error}.", {"id": sandbox_id, "port": port}) from None
    return Upstream(address.host, address.port, address.connect)


def unreachable(sandbox_id: str, port: int) -> DomainError:
    """The sandbox runs, but nothing accepted a connection on `port`."""
    return DomainError(
        "SERVICE_UNREACHABLE",
        f"Nothing is listening on {_service(port)} of the sandbox. Start the service inside it, then reload this page.",
        {"id": sandbox_id, "port": port},
    )


async def check_terminal(rt: Runtime, caller: Caller, sandbox_id: str) -> None:
    """The caller may open this server's terminal of the sandbox (see `terminal_is_local`) now."""
    _, live = await checked_sandbox(rt, caller, sandbox_id)
    _require_running(live, "terminal")


async def open_terminal(rt: Runtime, caller: Caller, sandbox_id: str, cols: object, rows: object) -> Terminal:
    """An interactive shell in the sandbox's project folder, confined as its tasks are."""
    columns, lines = terminal_size(cols, rows)
    await check_terminal(rt, caller, sandbox_id)
    with backend_errors(sandbox_id):
        return await rt.backend.open_terminal(sandbox_id, columns, lines)
