"""The sandbox companion paths the console opens in frames and tabs, HTTP and WebSocket alike:

    /flexy/{id}/shell[/...]         the sandbox's web terminal (port 9681); on the local backend, this server's own
    /flexy/{id}/docs/...            the sandbox's markdown editor, CoSpec AI (port 9280)
    /flexy/{id}/port/{port}/...     any port of the sandbox
    /code-server/...                a page saying the code editor is not part of this server

They sit beside the REST `flexy` routes (`/flexy/{id}`, `/flexy/{id}/start`, ...), which differ by suffix.
Every answer of our own is an HTML page (these paths are shown in frames); the caller is found from a bearer
token or the companion cookie (`companion_auth`), and access is the sandbox's.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from resolvers import companions
from resolvers.errors import DomainError
from resolvers.runtime import Caller
from rest_compat.companion_auth import companion_caller
from rest_compat.companion_pages import code_server_page, error_page
from rest_compat.companion_proxy import (
    Unreachable,
    open_upstream_socket,
    proxy_http,
    relay_sockets,
    upstream_target,
)
from rest_compat.terminal_socket import shell_file, terminal_socket


@dataclass(frozen=True)
class Companion:
    """One kind of companion path; `port` None means the port is in the path."""

    segment: str
    port: int | None
    needs_slash: bool
    """Whether `/flexy/{id}/<segment>` without a slash redirects to `.../`, so that relative links work."""

    def prefix(self, scope: Scope) -> str:
        """The path up to the companion's own root, as the client wrote it (root path included)."""
        params = scope["path_params"]
        port = f"/{params['port']}" if self.port is None else ""
        return f"{scope.get('root_path', '')}/flexy/{params['id']}/{self.segment}{port}"

    def port_of(self, scope: Scope) -> int | str:
        """The port asked for: the companion's own, or the path's as written (the resolver checks it)."""
        return self.port if self.port is not None else scope["path_params"]["port"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope, receive)
        try:
            await self._serve(connection, scope, receive, send)
        except DomainError as error:
            await _refuse(error, scope, receive, send)
        except Unreachable:
            error = companions.unreachable(scope["path_params"]["id"], int(self.port_of(scope)))
            await _refuse(error, scope, receive, send)

    async def _serve(self, connection: HTTPConnection, scope: Scope, receive: Receive, send: Send) -> None:
        caller = await companion_caller(connection)
        rt = connection.state.runtime
        sandbox_id = scope["path_params"]["id"]
        if self.port == companions.SHELL_PORT and companions.terminal_is_local(rt):
            await self._local_terminal(connection, caller, sandbox_id, scope, receive, send)
            return
        upstream = await companions.sandbox_service(rt, caller, sandbox_id, self.port_of(scope))
        prefix = self.prefix(scope)
        if self.needs_slash and "rest" not in scope["path_params"]:
            await _redirect_to_folder(prefix, scope, receive, send)
            return
        target = upstream_target(scope, prefix)
        if scope["type"] == "websocket":
            websocket = WebSocket(scope, receive, send)
            socket = await open_upstream_socket(websocket, upstream, target, prefix)
            await websocket.accept(socket.subprotocol)
            await relay_sockets(websocket, socket)
        else:
            await proxy_http(scope, receive, send, connection.state.proxy_client, upstream, target, prefix)

    async def _local_terminal(
        self, connection: HTTPConnection, caller: Caller, sandbox_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        rest = scope["path_params"].get("rest")
        rest = "" if rest is None else f"/{rest}"
        if scope["type"] == "websocket":
            if rest == "/ws":
                await terminal_socket(WebSocket(scope, receive, send), caller, sandbox_id)
                return
            raise DomainError("NOT_FOUND", "The terminal's socket is at .../shell/ws")
        await companions.check_terminal(connection.state.runtime, caller, sandbox_id)
        response = shell_file(sandbox_id, f"{self.prefix(scope)}/", rest)
        await response(scope, receive, send)


async def _redirect_to_folder(prefix: str, scope: Scope, receive: Receive, send: Send) -> None:
    query = scope.get("query_string", b"").decode("latin-1")
    response = RedirectResponse(f"{prefix}/" + (f"?{query}" if query else ""), status_code=308)
    response.headers["Cache-Control"] = "no-store"
    await response(scope, receive, send)


async def _refuse(error: DomainError, scope: Scope, receive: Receive, send: Send) -> None:
    """Our answer to a request we do not pass on: the HTML page (for a WebSocket, as its handshake's answer)."""
    page = error_page(error)
    if scope["type"] == "websocket":
        await WebSocket(scope, receive, send).send_denial_response(page)
    else:
        await page(scope, receive, send)


async def _code_server(request: Request) -> Response:
    return code_server_page()


def _both(path: str, app: Companion) -> list[BaseRoute]:
    return [Route(path, app), WebSocketRoute(path, app)]


SHELL = Companion("shell", companions.SHELL_PORT, needs_slash=False)
DOCS = Companion("docs", companions.DOCS_PORT, needs_slash=True)
PORT = Companion("port", None, needs_slash=True)

routes: list[BaseRoute] = [
    *_both("/flexy/{id}/shell", SHELL),
    *_both("/flexy/{id}/shell/{rest:path}", SHELL),
    *_both("/flexy/{id}/docs", DOCS),
    *_both("/flexy/{id}/docs/{rest:path}", DOCS),
    *_both("/flexy/{id}/port/{port}", PORT),
    *_both("/flexy/{id}/port/{port}/{rest:path}", PORT),
    Route("/code-server", _code_server),
    Route("/code-server/{rest:path}", _code_server),
]
