"""The egress proxy on its own, over real sockets on loopback: what it carries and what it refuses.

(Inside a sandbox the listener is planted in the sandbox's namespace; here it is an ordinary loopback
socket, which the proxy serves the same way.)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from sandbox.base import NetworkPolicy
from sandbox.egress import EgressProxy


class Origin:
    """A TCP server that records each request head it receives and answers with a fixed body."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.heads.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\norigin")
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


async def through(proxy_port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


Scenario = Callable[[int, int, Origin], Awaitable[None]]


def run(scenario: Scenario, hosts: tuple[str, ...] | None = None, service_port: int | None = None) -> None:
    """Start an origin and a proxy whose policy lists `hosts` (default: the origin as localhost:port)."""

    async def main() -> None:
        origin = Origin()
        port = await origin.start()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        policy = NetworkPolicy("egress", hosts if hosts is not None else (f"localhost:{port}",))
        proxy = EgressProxy(("127.0.0.1", service_port or port))
        server = await proxy.serve(listener, policy)
        try:
            await scenario(listener.getsockname()[1], port, origin)
        finally:
            server.close()
            origin.close()

    asyncio.run(main())


def test_connect_to_a_listed_host_opens_a_tunnel() -> None:
    async def scenario(proxy: int, port: int, origin: Origin) -> None:
        answer = await through(proxy, f"CONNECT localhost:{port} HTTP/1.1\r\n\r\nGET /x HTTP/1.0\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.0 200 OK")
        assert answer.endswith(b"origin")
        assert origin.heads == [b"GET /x HTTP/1.0\r\n\r\n"]

    run(scenario)


def test_a_plain_request_reaches_the_origin_in_origin_form_without_proxy_headers() -> None:
    async def scenario(proxy: int, port: int, origin: Origin) -> None:
        request = (
            f"GET http://LOCALHOST:{port}/path?q=1 HTTP/1.1\r\nHost: localhost:{port}\r\n"
            "Proxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n"
        )
        answer = await through(proxy, request.encode())
        assert answer.endswith(b"origin")
        (head,) = origin.heads
        assert head.startswith(b"GET /path?q=1 HTTP/1.1\r\n")
        assert b"X-Kept: yes" in head and b"Connection: close" in head
        assert b"Proxy-" not in head

    run(scenario)


@pytest.mark.parametrize(
    "request_line",
    [
        "CONNECT localhost:{other} HTTP/1.1",  # the listed host, another port
        "CONNECT 127.0.0.1:{port} HTTP/1.1",  # the same server under a name that is not listed
        "GET http://127.0.0.1:{port}/ HTTP/1.1",
    ],
)
def test_anything_unlisted_is_refused_before_a_connection_is_made(request_line: str) -> None:
    async def scenario(proxy: int, port: int, origin: Origin) -> None:
        line = request_line.format(port=port, other=port + 1 if port < 65535 else port - 1)
        answer = await through(proxy, f"{line}\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 403 Forbidden")
        assert b"is not on this sandbox's allow-list" in answer
        assert origin.heads == []

    run(scenario)


def test_a_wildcard_reaches_only_public_addresses() -> None:
    """`*.0.0.1` matches 127.0.0.1 as a name, but a wildcard never leads to loopback or private addresses."""

    async def scenario(proxy: int, port: int, origin: Origin) -> None:
        answer = await through(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 403 Forbidden") and b"no public address" in answer
        assert origin.heads == []

    run(scenario, hosts=("*.0.0.1",))


def test_host_docker_internal_is_this_service_and_only_its_port() -> None:
    async def scenario(proxy: int, port: int, origin: Origin) -> None:
        answer = await through(proxy, f"GET http://host.docker.internal:{port}/api/health HTTP/1.0\r\n\r\n".encode())
        assert answer.endswith(b"origin") and origin.heads[0].startswith(b"GET /api/health ")
        elsewhere = await through(proxy, f"CONNECT host.docker.internal:{port + 1} HTTP/1.1\r\n\r\n".encode())
        assert elsewhere.startswith(b"HTTP/1.1 403 Forbidden") and b"only" in elsewhere

    run(scenario, hosts=("host.docker.internal",))


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"hello\r\n\r\n", b"not an HTTP proxy request"),
        (b"GET https://localhost/ HTTP/1.1\r\n\r\n", b"use CONNECT for https"),
        (b"CONNECT localhost:99999 HTTP/1.1\r\n\r\n", b"bad port"),
        (b"GET /relative HTTP/1.1\r\n\r\n", b"absolute http:// URL"),
    ],
)
def test_malformed_requests_are_answered_400(request_bytes: bytes, reason: bytes) -> None:
    async def scenario(proxy: int, port: int, origin: Origin) -> None:
        answer = await through(proxy, request_bytes)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request") and reason in answer
        assert origin.heads == []

    run(scenario)
