"""How a frame signs in to the sandbox companion paths: the companion cookie (frames send no bearer header).

Login and refresh set the session's companion pass (see `resolvers.auth`) as an httpOnly, `SameSite=Lax`
cookie whose `Path` is limited to the companion paths: `/flexy/` (the console's, at the root) and `/api/flexy/`.
Logout and a failed refresh delete it. A bearer token, when a request has one, is used instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

from resolvers import auth
from resolvers.auth import Session
from resolvers.runtime import Caller

COMPANION_COOKIE = "aintandem_companion"
COMPANION_COOKIE_PATHS = ("/flexy/", "/api/flexy/")
REFRESH_COOKIE = "aintandem_refresh_token"
OWN_COOKIES = frozenset({COMPANION_COOKIE, REFRESH_COOKIE})
"""This service's cookies: never passed on to a sandbox, and never set by one."""


def set_companion_cookie(response: Response, connection: HTTPConnection, session: Session, max_age: int) -> None:
    for path in COMPANION_COOKIE_PATHS:
        response.set_cookie(
            COMPANION_COOKIE,
            session.companion_pass,
            max_age=max_age,
            path=path,
            httponly=True,
            samesite="lax",
            secure=connection.url.scheme == "https",
        )


def delete_companion_cookie(response: Response) -> None:
    for path in COMPANION_COOKIE_PATHS:
        response.delete_cookie(COMPANION_COOKIE, path=path, httponly=True, samesite="lax")


def bearer(connection: HTTPConnection) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _hostname(authority: str) -> str | None:
    try:
        return urlsplit(f"//{authority}").hostname
    except ValueError:
        return None


def opened_from_elsewhere(connection: HTTPConnection) -> bool:
    """A WebSocket whose page is of another site than this server (its Origin's host differs from Host).

    Ports are not compared: a proxy in front (nginx's `Host $host`) may drop the port from Host."""
    if connection.scope["type"] != "websocket":
        return False
    origin = connection.headers.get("origin")
    if origin is None:
        return False  # not a browser: nothing sends cookies on its behalf
    return _hostname(urlsplit(origin).netloc) != _hostname(connection.headers.get("host", ""))


async def companion_caller(connection: HTTPConnection) -> Caller:
    return await auth.authenticate_companion(
        connection.state.runtime,
        bearer(connection),
        connection.cookies.get(COMPANION_COOKIE),
        foreign_socket=opened_from_elsewhere(connection),
    )
