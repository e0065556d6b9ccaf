"""A built AInTandem console (`CONSOLE_DIR`) served at `/`, in front of the API mounted there too.

The console's pages (`/workflows`, `/settings`, `/context`, …) share their paths with API operations, so a
request is told apart by what it asks for: a file of the build is served as that file; a page load (GET
with `text/html` in `Accept`) of any other path gets `index.html`, never cached and marked `Vary: Accept`
so a browser never answers the SDK's `fetch` of the same path from it; everything else goes to the API.
`/runtime-config.js` is written as the console's own container entrypoint writes it.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RUNTIME_CONFIG = "/runtime-config.js"
NEVER_PAGES = ("/flexy/", "/code-server/")
"""What the console opens in frames and tabs under these paths (a sandbox's shell, docs and ports, the code
editor) is served by this server, not by the console: their page loads are never answered with index.html."""
NEVER_CACHED = {"Cache-Control": "no-store", "Vary": "Accept"}


def runtime_config(public_url: str) -> str:
    """What the console reads before its bundle: `apiBaseUrl` empty means "this origin"."""
    return f"window.__KAI_CONFIG__ = {{\n  apiBaseUrl: {orjson.dumps(public_url).decode()}\n}};\n"


def wants_page(headers: Headers) -> bool:
    return "text/html" in headers.get("accept", "").lower()


class ConsoleSite:
    def __init__(self, folder: Path, public_url: str, api: ASGIApp) -> None:
        self.folder = folder.resolve()
        self.index = self.folder / "index.html"
        if not self.index.is_file():
            raise SystemExit(f"CONSOLE_DIR {folder} has no index.html: point it at a built console")
        self.files = StaticFiles(directory=self.folder)
        self.config = runtime_config(public_url)
        self.api = api

    def _is_file(self, path: str) -> bool:
        candidate = (self.folder / path.lstrip("/")).resolve()
        return candidate.is_relative_to(self.folder) and candidate.is_file()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.api(scope, receive, send)
            return
        path: str = scope["path"]
        if path == RUNTIME_CONFIG:
            response: ASGIApp = Response(
                self.config, media_type="text/javascript", headers={"Cache-Control": "no-store"}
            )
        elif path != "/" and self._is_file(path):
            response = self.files
        elif wants_page(Headers(scope=scope)) and not path.startswith(NEVER_PAGES):
            response = FileResponse(self.index, media_type="text/html", headers=NEVER_CACHED)
        else:
            await self.api(scope, receive, _varying(send))
            return
        await response(scope, receive, send)


def _varying(send: Send) -> Send:
    """The API's answers to GETs of paths the console shares vary with `Accept` too."""

    async def send_varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).add_vary_header("Accept")
        await send(message)

    return send_varying
