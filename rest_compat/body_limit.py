"""An ASGI middleware that refuses request bodies over a limit before they are read whole.

A `Content-Length` over the limit is answered at once, before a byte of the body is read. A body without
one (chunked) is read chunk by chunk up to the limit and then handed to the app; the chunk that goes
over ends it with the refusal. Either way the app never runs for a refused request, so nothing of it is
stored. How the refusal looks is pluggable (`render`): the REST layer answers with the contract's error
body; GraphQL can wrap its endpoint with the same middleware and a GraphQL-shaped error.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.errors import DomainError
from rest_compat.http import api_path, error_response

LimitFor = Callable[[Scope], int]
"""The limit in bytes for a request (its path may earn a larger one)."""
Render = Callable[[Scope, int], Response]
"""The refusal of a request over `limit` bytes."""


class BodyLimit:
    def __init__(self, app: ASGIApp, limit_for: LimitFor, render: Render) -> None:
        self.app = app
        self.limit_for = limit_for
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                await self._refuse(scope, receive, send, limit)
                return
            await self.app(scope, receive, send)  # the server delivers no more than it declared
            return
        if "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all
            return
        body = await self._read_up_to(receive, limit)
        if body is None:
            await self._refuse(scope, receive, send, limit)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read_up_to(receive: Receive, limit: int) -> list[Message] | None:
        """The body's messages, or None as soon as they add up to more than `limit` bytes."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > limit:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = self.render(scope, limit)
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def rest_too_large(scope: Scope, limit: int) -> Response:
    """The REST refusal: 413 with the contract's error body."""
    error = DomainError(
        "PAYLOAD_TOO_LARGE", f"Request body is larger than the limit of {limit} bytes", {"limit": limit}
    )
    return error_response(Request(scope), error)


def rest_limits(default: int, larger: dict[str, int]) -> LimitFor:
    """`default` for every REST route, `larger[path]` for the paths (relative to `/api`) that take more."""

    def limit_for(scope: Scope) -> int:
        return larger.get(api_path(Request(scope)).rstrip("/"), default)

    return limit_for
