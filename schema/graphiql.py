"""GraphiQL, served entirely by this service: the page, its scripts and styles (vendored from npm into
`web/` at setup), and a Content-Security-Policy that lets the page reach nothing but this server."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

WEB = Path(__file__).resolve().parent.parent / "web"
ASSETS: dict[str, tuple[Path, str]] = {
    "react.js": (WEB / "node_modules/react/umd/react.production.min.js", "text/javascript"),
    "react-dom.js": (WEB / "node_modules/react-dom/umd/react-dom.production.min.js", "text/javascript"),
    "graphiql.js": (WEB / "node_modules/graphiql/graphiql.min.js", "text/javascript"),
    "graphiql.css": (WEB / "node_modules/graphiql/graphiql.min.css", "text/css"),
    "graphql-ws.js": (WEB / "node_modules/graphql-ws/umd/graphql-ws.min.js", "text/javascript"),
    "init.js": (WEB / "graphiql/init.js", "text/javascript"),
}
"""The files the page may load, by the name it loads them under: nothing else is served."""
_HOST = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,255}$")

PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>GraphiQL · orchestrator</title>
    <link rel="stylesheet" href="/graphql/assets/graphiql.css">
    <style>body { margin: 0; } #graphiql { height: 100vh; }</style>
  </head>
  <body>
    <div id="graphiql">Loading…</div>
    <script src="/graphql/assets/react.js"></script>
    <script src="/graphql/assets/react-dom.js"></script>
    <script src="/graphql/assets/graphiql.js"></script>
    <script src="/graphql/assets/graphql-ws.js"></script>
    <script src="/graphql/assets/init.js"></script>
  </body>
</html>
"""


def content_security_policy(request: Request) -> str:
    """Scripts, styles and fonts from here only; connections to this server only (HTTP and WebSocket)."""
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if _HOST.match(host) else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"font-src 'self' data:; connect-src 'self'{sockets}; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def graphiql_page(request: Request) -> Response:
    if not all(path.is_file() for path, _ in ASSETS.values()):
        return PlainTextResponse("GraphiQL's files are not installed: run `make setup`.", status_code=503)
    headers = {"Content-Security-Policy": content_security_policy(request), "Cache-Control": "no-store"}
    return HTMLResponse(PAGE, headers=headers)


async def graphiql_asset(request: Request) -> Response:
    found = ASSETS.get(request.path_params["name"])
    if found is None or not found[0].is_file():
        return PlainTextResponse("Not found", status_code=404)
    path, media = found
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=3600"})
