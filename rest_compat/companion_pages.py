"""The small HTML pages the companion paths answer instead of JSON: they are shown inside the console's frames."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

from resolvers.errors import DomainError

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}
TITLES = {
    400: "Bad request",
    401: "Sign in first",
    404: "Sandbox not found",
    501: "Not available on this server",
    502: "Nothing answers there",
    503: "The sandbox is not running",
}
CODE_SERVER_MESSAGE = (
    "The code editor (code-server) is a separate service of the original platform, not part of this server. "
    "Open the project's folder in an editor of your own, or run code-server next to this server and route "
    "<code>/code-server/</code> to it."
)


def page(status: int, title: str, message_html: str) -> HTMLResponse:
    """A page with a title and a message (already HTML: escape what comes from elsewhere)."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>"
        "body{font:15px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;"
        "background:#f6f7f9;color:#1f2328}main{max-width:36rem;padding:2rem}h1{font-size:1.25rem;margin:0 0 .5rem}"
        "code{background:#e8eaee;padding:0 .25rem;border-radius:3px}"
        "@media (prefers-color-scheme:dark){body{background:#16181d;color:#e6e8eb}code{background:#2a2d35}}"
        f"</style></head><body><main><h1>{escape(title)}</h1><p>{message_html}</p></main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def error_page(error: DomainError) -> HTMLResponse:
    return page(error.status, TITLES.get(error.status, "Error"), escape(error.message))


def code_server_page() -> HTMLResponse:
    return page(501, "The code editor is not part of this server", CODE_SERVER_MESSAGE)
