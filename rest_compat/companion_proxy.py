"""A streaming reverse proxy, HTTP and WebSocket, from a companion path to one port of a sandbox.

The upstream is always the address the sandbox's backend gave (`resolvers.companions.Upstream`); what the
client sends can only choose the path and query sent there, never the host or the port:

* The target is the rest of the raw path after the route's prefix, which must be written plainly (no encoded
  characters in the prefix), begin with `/`, and hold no `.`/`..` segment; any character outside a path's
  own is percent-encoded. It goes out as the request target of a URL whose host and port are fixed.
* Hop-by-hop headers (and those the Connection header names) are dropped both ways. Host is the upstream's;
  the client's Forwarded/X-Forwarded-* are replaced by this server's own. This service's cookies and a bearer
  Authorization (this service's) are taken out; an upstream's Set-Cookie for this service's cookies is dropped.
* Bodies stream both ways without being held: the request body is read as the upstream takes it, the
  response is passed on chunk by chunk as it arrives, and a client that goes away closes the upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Coroutine
from http.cookies import CookieError, SimpleCookie
from typing import Any

import httpx
import websockets
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from websockets.asyncio.client import ClientConnection

from resolvers.companions import Upstream
from resolvers.errors import DomainError, invalid
from rest_compat.companion_auth import OWN_COOKIES
from rest_compat.socket_transport import SocketTransport

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection"}
    | {"te", "trailer", "transfer-encoding", "upgrade"}
)
NOT_FORWARDED = HOP_BY_HOP | {
    "host",
    "expect",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-proto",
    "x-real-ip",
}
WEBSOCKET_OWN = frozenset(
    {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"}
    | {"content-length", "user-agent"}
)
"""Headers the WebSocket client writes itself for its own handshake."""
_PATH_BYTE = re.compile(rb"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]")
_QUERY_BYTE = re.compile(rb"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%?]")
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SENDABLE_CLOSE = re.compile(r"^(100[0-3]|10(0[7-9]|1[0-4])|[34]\d{3})$")


def upstream_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The HTTP client that reaches sandboxes: no environment proxies, no redirects, no default headers."""
    client = httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(connect=5.0, read=None, write=None, pool=10.0),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
        follow_redirects=False,
        trust_env=False,
    )
    for name in list(client.headers):
        del client.headers[name]  # Accept-Encoding and the rest come from the client, or not at all
    return client


def _percent_encode(data: bytes, pattern: re.Pattern[bytes]) -> bytes:
    return pattern.sub(lambda match: b"%%%02X" % match.group()[0], data)


def upstream_target(scope: Scope, prefix: str) -> bytes:
    """The request target to send upstream: the raw path after `prefix` (root path included) and the query."""
    raw = scope.get("raw_path") or scope["path"].encode()
    plain = prefix.encode()
    if not raw.startswith(plain) or raw[len(plain) : len(plain) + 1] not in (b"", b"/"):
        raise invalid("path", "the sandbox and port must be written plainly in the path (no encoded characters)")
    rest = raw[len(plain) :] or b"/"
    decoded = scope["path"][len(prefix) :]
    if any(segment in (".", "..") for segment in decoded.split("/")):
        raise invalid("path", "'.' and '..' segments are not allowed")
    target = _percent_encode(rest, _PATH_BYTE)
    query = scope.get("query_string", b"")
    return target + b"?" + _percent_encode(query, _QUERY_BYTE) if query else target


def _listed_in_connection(headers: list[tuple[bytes, bytes]]) -> set[str]:
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }


def _without_own_cookies(value: str) -> str:
    kept = []
    for pair in value.split(";"):
        name = pair.split("=", 1)[0].strip()
        if name and name not in OWN_COOKIES:
            kept.append(pair.strip())
    return "; ".join(kept)


def request_headers(scope: Scope, prefix: str, skip: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The client's headers as the upstream gets them, with this server's X-Forwarded-* added."""
    incoming: list[tuple[bytes, bytes]] = scope["headers"]
    dropped = NOT_FORWARDED | skip | _listed_in_connection(incoming)
    headers: list[tuple[str, str]] = []
    client_host = ""
    for raw_name, raw_value in incoming:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "host":
            client_host = value
        if name in dropped:
            continue
        if name == "authorization" and value[:7].lower() == "bearer ":
            continue
        if name == "cookie":
            value = _without_own_cookies(value)
            if not value:
                continue
        headers.append((name, value))
    client = scope.get("client")
    headers += [
        ("x-forwarded-for", client[0] if client else ""),
        ("x-forwarded-proto", "https" if scope.get("scheme") in ("https", "wss") else "http"),
        ("x-forwarded-host", client_host),
        ("x-forwarded-prefix", prefix),
    ]
    return headers


def _sets_own_cookie(value: bytes) -> bool:
    try:
        cookie = SimpleCookie(value.decode("latin-1"))
    except CookieError:
        return True  # unreadable: not passed on
    return any(name in OWN_COOKIES for name in cookie)


def _location(value: bytes, upstream: Upstream, prefix: str) -> bytes:
    """Redirects inside the sandbox stay inside it: its own absolute URLs and root paths get the prefix."""
    origin = f"http://{upstream.host}:{upstream.port}".encode()
    if value == origin or value.startswith(origin + b"/"):
        return prefix.encode() + (value[len(origin) :] or b"/")
    if value.startswith(b"/") and not value.startswith(b"//"):
        return prefix.encode() + value
    return value


def response_headers(response: httpx.Response, upstream: Upstream, prefix: str) -> list[tuple[bytes, bytes]]:
    raw = response.headers.raw
    dropped = HOP_BY_HOP | _listed_in_connection(raw)
    headers = []
    for raw_name, value in raw:
        name = raw_name.lower()
        if name.decode("latin-1") in dropped or (name == b"set-cookie" and _sets_own_cookie(value)):
            continue
        headers.append((name, _location(value, upstream, prefix) if name == b"location" else value))
    return headers


class Unreachable(Exception):
    """Nothing accepted a connection at the upstream's address."""


class ClientGone(Exception):
    """The client disconnected while its request body was being passed on."""


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body", False):
            return


def _has_body(scope: Scope) -> bool:
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


async def proxy_http(
    scope: Scope,
    receive: Receive,
    send: Send,
    client: httpx.AsyncClient,
    upstream: Upstream,
    target: bytes,
    prefix: str,
) -> None:
    """Pass one request on and stream the answer back; DomainError (502) when nothing accepts the connection.
    An upstream reached through its own `connect` gets a client of its own for the request."""
    async with contextlib.AsyncExitStack() as own:
        if upstream.connect is not None:
            client = await own.enter_async_context(upstream_client(SocketTransport(upstream.connect)))
        request = client.build_request(
            scope["method"],
            httpx.URL(scheme="http", host=upstream.host, port=upstream.port, raw_path=target),
            headers=request_headers(scope, prefix),
            content=_request_body(receive) if _has_body(scope) else None,
        )
        try:
            response = await client.send(request, stream=True)
        except ClientGone:
            return
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Unreachable from exc
        except httpx.HTTPError as exc:
            raise DomainError("SERVICE_UNREACHABLE", f"The sandbox's service broke off the exchange: {exc}") from exc
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response_headers(response, upstream, prefix),
                }
            )
            await _stream_response(response, send, receive)
        finally:
            await response.aclose()


async def until_first(*pumps: Coroutine[Any, Any, None]) -> None:
    """Run `pumps` together until the first one ends; the others are cancelled. What broke the first is raised."""
    tasks = [asyncio.ensure_future(pump) for pump in pumps]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


async def _stream_response(response: httpx.Response, send: Send, receive: Receive) -> None:
    """Chunks as they come; stops (closing the upstream) as soon as the client disconnects. An upstream that
    breaks off mid-body raises, so that the server aborts the connection instead of ending the body cleanly."""

    async def relay() -> None:
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    await until_first(relay(), disconnected())


def _ws_uri(upstream: Upstream, target: bytes) -> str:
    host = f"[{upstream.host}]" if ":" in upstream.host else upstream.host
    return f"ws://{host}:{upstream.port}{target.decode('ascii')}"


async def open_upstream_socket(
    websocket: WebSocket, upstream: Upstream, target: bytes, prefix: str
) -> ClientConnection:
    """The WebSocket to the sandbox, offered the client's subprotocols; Unreachable or DomainError when refused."""
    headers = request_headers(websocket.scope, prefix, WEBSOCKET_OWN)
    try:
        connection = None if upstream.connect is None else await upstream.connect()
        return await websockets.connect(
            _ws_uri(upstream, target),
            additional_headers=headers,
            subprotocols=websocket.scope.get("subprotocols") or None,
            user_agent_header=websocket.headers.get("user-agent"),
            compression=None,
            max_size=MAX_MESSAGE_BYTES,
            open_timeout=10,
            proxy=None,
            sock=connection,
        )
    except (OSError, TimeoutError) as exc:
        raise Unreachable from exc
    except websockets.InvalidStatus as exc:
        status = exc.response.status_code
        raise DomainError(
            "SERVICE_UNREACHABLE", f"The sandbox's service refused the WebSocket with HTTP {status}"
        ) from exc
    except websockets.InvalidHandshake as exc:
        raise DomainError("SERVICE_UNREACHABLE", f"The sandbox's service broke the WebSocket handshake: {exc}") from exc


async def relay_sockets(websocket: WebSocket, upstream: ClientConnection) -> None:
    """Messages both ways as they come (text stays text, binary stays binary) until either side closes."""

    async def from_client() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(sendable_close(message.get("code")))
                return
            await upstream.send(message["text"] if message.get("text") is not None else message.get("bytes", b""))

    async def from_upstream() -> None:
        with contextlib.suppress(websockets.ConnectionClosed, WebSocketDisconnect):
            async for data in upstream:
                if isinstance(data, str):
                    await websocket.send_text(data)
                else:
                    await websocket.send_bytes(data)

    try:
        await until_first(from_client(), from_upstream())
    finally:
        await upstream.close()
        await close_client(websocket, upstream.close_code, upstream.close_reason or "")


def sendable_close(code: int | None) -> int:
    """`code` when a close frame may carry it (1005 and 1006, for example, only describe a close), else 1000."""
    return code if code is not None and SENDABLE_CLOSE.match(str(code)) else 1000


async def close_client(websocket: WebSocket, code: int | None, reason: str = "") -> None:
    """Close the client's socket with `code` (see `sendable_close`), if it is still open."""
    if websocket.client_state != WebSocketState.CONNECTED or websocket.application_state != WebSocketState.CONNECTED:
        return
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.close(sendable_close(code), reason[:120])
