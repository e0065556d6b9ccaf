"""httpx over connections that something else opens: a sandbox's port reached from a socket made inside its
network namespace (`resolvers.companions.Upstream.connect`), where no address would lead there."""

from __future__ import annotations

import socket
import ssl
import typing
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import httpcore
import httpx

Connect = Callable[[], Awaitable[socket.socket]]


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            with anyio.fail_after(timeout):
                return await self._stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            with anyio.fail_after(timeout):
                await self._stream.send(buffer)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a sandbox's port is spoken to in plain HTTP")

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.extra(anyio.abc.SocketAttribute.raw_socket) if info == "socket" else None


class _Backend(httpcore.AsyncNetworkBackend):
    """Every connection, whatever the URL's host, is one `connect` opens."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                connection = await self._connect()
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return _Stream(await anyio.abc.SocketStream.from_socket(connection))

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class SocketTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its request and error mapping) on a connection pool over `_Backend`. httpx takes
    no network backend of its own, so the pool it made is replaced (httpx is pinned: see pyproject.toml)."""

    def __init__(self, connect: Connect) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(network_backend=_Backend(connect), max_keepalive_connections=0)
