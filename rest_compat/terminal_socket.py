"""The Shell tab on the local backend: an xterm.js page and the WebSocket of a terminal of this server.

Under `/flexy/{id}/shell`: the page itself (`` and `/`), its files (`/assets/vendor/...`, the same allow-list as
`/assets/vendor/` at the root, repeated here so that a proxy that routes only `/flexy/` to this server serves
them too) and the socket (`/ws?cols=&rows=`). On the socket, binary messages carry the terminal's bytes both
ways; a text message is a JSON command: `{"type":"resize","cols":C,"rows":R}`, or `{"type":"input","data":S}`
for clients that cannot send binary. The shell is killed when the socket closes; the socket is closed (1000)
when the shell ends.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from html import escape

from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from resolvers import companions
from resolvers.errors import DomainError, invalid
from resolvers.runtime import Caller
from rest_compat.companion_pages import error_page
from rest_compat.companion_proxy import close_client, until_first
from rest_compat.http import json_object
from rest_compat.vendor_assets import WEB_DIR, vendor_file

PAGE_TEMPLATE = WEB_DIR / "terminal.html"
ASSETS = "assets/vendor/"
CLOSE_BAD_MESSAGE = 4400


@functools.cache
def _template() -> str:
    return PAGE_TEMPLATE.read_text()


def terminal_page(sandbox_id: str, base: str) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = (
        _template()
        .replace("{{base}}", escape(base))
        .replace("{{nonce}}", nonce)
        .replace("{{title}}", escape(f"Terminal of sandbox {sandbox_id}"))
    )
    policy = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'self'; form-action 'none'"
    )
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(html, headers=headers)


def shell_file(sandbox_id: str, base: str, rest: str) -> Response:
    """What `/flexy/{id}/shell/<rest>` answers over HTTP on the local backend (access already checked)."""
    if rest in ("", "/"):
        return terminal_page(sandbox_id, base)
    if rest.startswith(f"/{ASSETS}"):
        return vendor_file(rest[len(ASSETS) + 1 :])
    return error_page(DomainError("NOT_FOUND", f"No such page of the terminal: {rest[:200]}"))


def _command(text: str) -> tuple[int, int] | bytes:
    """A text message: a resize as (cols, rows), or input as bytes; DomainError naming what is wrong."""
    command = json_object(text, "A text message")
    if command.get("type") == "resize":
        return companions.terminal_size(command.get("cols"), command.get("rows"))
    if command.get("type") == "input" and isinstance(command.get("data"), str):
        return command["data"].encode()
    raise invalid("type", 'must be "resize" (with cols and rows) or "input" (with data, a string)')


async def terminal_socket(websocket: WebSocket, caller: Caller, sandbox_id: str) -> None:
    """Open the terminal (refusing the handshake with a page when that fails) and carry it until either end closes."""
    cols, rows = companions.DEFAULT_SIZE
    try:
        terminal = await companions.open_terminal(
            websocket.state.runtime,
            caller,
            sandbox_id,
            websocket.query_params.get("cols", cols),
            websocket.query_params.get("rows", rows),
        )
    except DomainError as error:
        await websocket.send_denial_response(error_page(error))
        return
    try:
        await websocket.accept()

        async def output() -> None:
            with contextlib.suppress(WebSocketDisconnect):  # the client left: the other pump sees it too
                while data := await terminal.read():
                    await websocket.send_bytes(data)
                await close_client(websocket, 1000, "the shell has ended")

        async def commands() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await terminal.write(message["bytes"])
                    continue
                try:
                    command = _command(message.get("text") or "")
                except DomainError as error:
                    await close_client(websocket, CLOSE_BAD_MESSAGE, error.message)
                    return
                if isinstance(command, tuple):
                    terminal.resize(*command)
                else:
                    await terminal.write(command)

        await until_first(output(), commands())
    finally:
        await terminal.close()
        await close_client(websocket, 1000)
