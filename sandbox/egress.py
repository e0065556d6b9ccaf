"""The egress proxy: the only way out of a sandbox in the `egress` network mode.

An HTTP proxy in this service's event loop: `CONNECT host:port` (HTTPS and any other TCP protocol) and
plain-HTTP requests in absolute form (`GET http://host/path`). Each sandbox has listeners of its own (see
`sandbox.netns`), served with that sandbox's allow-list, so a request is checked against the policy of the
sandbox it came from, never one the sandbox claims.

Rules, in order:
* The target must match an allow-list entry (`name`, `name:port`, `*.domain`, `*.domain:port`), else 403.
* `host.docker.internal` (the name in KAI_BACKEND_URL) means this service: when listed, it reaches the
  service's own port and nothing else on the host.
* The proxy resolves the name itself and connects to the address it checked (no second lookup a DNS answer
  could change). An exact entry allows whatever its name resolves to (the owner listed that host, loopback or
  private included); a name matched only by a wildcard must resolve to public addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.base import NetworkPolicy

log = logging.getLogger(__name__)

SERVICE_HOST_NAME = "host.docker.internal"
MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT = 30.0
"""Seconds a client has to send its request head (an idle connection must not hold a descriptor forever)."""
CHUNK = 65536
HOP_HEADERS = frozenset({"proxy-connection", "proxy-authorization", "connection", "keep-alive"})


class Refused(Exception):
    """A request this proxy will not carry; `status` and the message go back to the sandbox."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class _Entry:
    host: str
    port: int | None
    wildcard: bool

    @classmethod
    def parse(cls, text: str) -> _Entry:
        text = text.strip().lower()
        host, separator, port = text.rpartition(":")
        if not separator:
            host, port = text, ""
        wildcard = host.startswith("*.")
        return cls(host[2:] if wildcard else host, int(port) if port else None, wildcard)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        return host.endswith(f".{self.host}") if self.wildcard else host == self.host


def _match(policy: NetworkPolicy, host: str, port: int) -> _Entry | None:
    """The entry that allows host:port; an exact one wins over a wildcard."""
    entries = [_Entry.parse(text) for text in policy.allowed_hosts]
    found = [entry for entry in entries if entry.matches(host, port)]
    return min(found, key=lambda entry: entry.wildcard, default=None)


def _split_authority(authority: str, default_port: int) -> tuple[str, int]:
    host, port = authority, default_port
    if authority.startswith("["):
        raise Refused(400, "Bad Request", "IPv6 literals are not supported by this proxy")
    if ":" in authority:
        host, _, port_text = authority.rpartition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise Refused(400, "Bad Request", f"bad port in {authority!r}")
        port = int(port_text)
    host = host.lower().rstrip(".")
    if not host:
        raise Refused(400, "Bad Request", "no host in the request")
    return host, port


class EgressProxy:
    """Carries sandbox connections to allow-listed hosts. `service_address`: where this service listens."""

    def __init__(self, service_address: tuple[str, int], connect_timeout: float = 10.0) -> None:
        self.service_address = service_address
        self.connect_timeout = connect_timeout
        self._carrying: set[asyncio.Task[None]] = set()
        """The connections being carried. asyncio holds an upstream's reader only weakly, and once a client has
        half-closed nothing else holds its connection's task: without this set, the garbage collector destroyed
        a connection still waiting for its answer (seen as an empty answer to the sandbox)."""

    async def serve(self, listener: socket.socket, policy: NetworkPolicy) -> asyncio.Server:
        """Accept on `listener` (made by `sandbox.netns`) with `policy`; close the returned server to stop."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._carrying.add(task)
            try:
                await self.handle(reader, writer, policy)
            finally:
                self._carrying.discard(task)

        return await asyncio.start_server(handle, sock=listener, limit=MAX_HEAD_BYTES)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, policy: NetworkPolicy) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(HEAD_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            method, target, version, headers = _parse_head(head)
            if method == "CONNECT":
                host, port = _split_authority(target, 443)
                up_reader, upstream = await self._connect(policy, host, port)
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                host, port, path = _absolute_target(target)
                up_reader, upstream = await self._connect(policy, host, port)
                upstream.write(_origin_request(method, path, version, headers))
            await writer.drain()
            await _relay(reader, writer, up_reader, upstream, tunnel=method == "CONNECT")
        except Refused as refusal:
            log.info("egress proxy refused a request: %s", refusal)
            with contextlib.suppress(OSError):
                writer.write(_answer(refusal))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError, OSError):
            pass
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    stream.close()

    async def _connect(
        self, policy: NetworkPolicy, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        entry = _match(policy, host, port)
        if entry is None:
            raise Refused(403, "Forbidden", f"{host}:{port} is not on this sandbox's allow-list")
        if host == SERVICE_HOST_NAME:
            if port != self.service_address[1]:
                raise Refused(403, "Forbidden", f"{host} reaches this service's port {self.service_address[1]} only")
            addresses = [self.service_address[0]]
        else:
            addresses = await self._resolve(host, port, public_only=entry.wildcard)
        last_error: OSError | None = None
        for address in addresses:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    return await asyncio.open_connection(address, port, limit=CHUNK)
            except (OSError, TimeoutError) as exc:
                last_error = exc if isinstance(exc, OSError) else OSError(f"timed out connecting to {address}")
        raise Refused(502, "Bad Gateway", f"cannot connect to {host}:{port}: {last_error}")

    async def _resolve(self, host: str, port: int, *, public_only: bool) -> Sequence[str]:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Refused(502, "Bad Gateway", f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if public_only:
            addresses = [address for address in addresses if ipaddress.ip_address(address).is_global]
            if not addresses:
                raise Refused(403, "Forbidden", f"{host} resolves to no public address (list it exactly to allow)")
        return addresses


def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise Refused(400, "Bad Request", "not an HTTP proxy request") from None
    headers = []
    for line in lines[1:]:
        if line:
            name, separator, value = line.partition(":")
            if not separator:
                raise Refused(400, "Bad Request", f"bad header line {line[:80]!r}")
            headers.append((name.strip(), value.strip()))
    return method.upper(), target, version, headers


def _absolute_target(target: str) -> tuple[str, int, str]:
    if not target.lower().startswith("http://"):
        raise Refused(400, "Bad Request", "use CONNECT for https, or an absolute http:// URL")
    rest = target[len("http://") :]
    authority, slash, path = rest.partition("/")
    host, port = _split_authority(authority.rpartition("@")[2], 80)
    return host, port, slash + path or "/"


def _origin_request(method: str, path: str, version: str, headers: list[tuple[str, str]]) -> bytes:
    """The request as the origin server expects it, one request per connection."""
    kept = [(name, value) for name, value in headers if name.lower() not in HOP_HEADERS]
    lines = [f"{method} {path} {version}", *(f"{name}: {value}" for name, value in kept), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _answer(refusal: Refused) -> bytes:
    body = f"{refusal}\n".encode()
    return (
        f"HTTP/1.1 {refusal.status} {refusal.reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, half_close: bool = True) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if half_close and writer.can_write_eof():
            writer.write_eof()


async def _relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
    tunnel: bool,
) -> None:
    """Both directions; once the upstream side has closed there is nothing left to carry, so the client's
    direction is dropped. In a CONNECT `tunnel` a client's half-close is passed on and the answer still read;
    for a plain request it is not: the request is whole once sent, and many servers (uvicorn among them) take
    a half-close for a client gone and drop the answer."""
    outgoing = asyncio.ensure_future(_pipe(client_reader, upstream_writer, half_close=tunnel))
    incoming = asyncio.ensure_future(_pipe(upstream_reader, client_writer))
    try:
        await incoming
    finally:
        outgoing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await outgoing
