"""Front-end files this server serves itself from `web/` (installed from npm by `make setup`), by name.

Only the files named in `VENDOR_FILES` are served: a request names an entry of the list, never a path on
disk, so nothing else under `web/` (or beyond it) can be asked for. Add a package's files to `web/package.json`
and its entry points here; they appear under `/assets/vendor/<name>`.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
VENDOR_FILES: dict[str, str] = {
    "xterm/xterm.js": "node_modules/@xterm/xterm/lib/xterm.js",
    "xterm/xterm.css": "node_modules/@xterm/xterm/css/xterm.css",
    "xterm/addon-fit.js": "node_modules/@xterm/addon-fit/lib/addon-fit.js",
}
CACHE_CONTROL = "public, max-age=86400"


def vendor_file(name: str) -> Response:
    relative = VENDOR_FILES.get(name)
    if relative is None:
        return PlainTextResponse(f"No such file: {name[:200]}", status_code=404)
    path = WEB_DIR / relative
    if not path.is_file():
        return PlainTextResponse(f"{name} is not installed: run `make setup`", status_code=503)
    return FileResponse(path, headers={"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"})


async def _vendor_asset(request: Request) -> Response:
    return vendor_file(request.path_params["name"])


routes = [Route("/assets/vendor/{name:path}", _vendor_asset, methods=["GET", "HEAD"])]
