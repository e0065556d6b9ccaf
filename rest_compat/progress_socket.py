"""The progress WebSocket: `/progress/subscribe/{projectId}?token=JWT[&after=ID]`, one socket per project.

The token is checked when the socket opens; a bad one closes it with 4401 and a project the caller
may not see with 4404, before anything is sent. Every event of the project is then pushed as JSON;
`{"type":"ping"}` from the client is answered with a pong. A subscriber that falls too far behind is
closed with 1013 so that it reconnects with `after` and misses nothing. Opening too many sockets (per user
or per address, see `rate_limit`) is also answered 1013, with the seconds to wait in the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncGenerator

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from resolvers.auth import authenticate
from resolvers.errors import DomainError
from resolvers.events import StoredEvent, SubscriberLagged, follow_project
from rest_compat.http import now_iso
from rest_compat.shapes import event_json

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400
CLOSE_TRY_AGAIN = 1013
"""Too many connections (the reason says when to retry), or a subscriber too slow to keep up."""
CLOSE_LAGGED = CLOSE_TRY_AGAIN


async def progress_socket(websocket: WebSocket) -> None:
    rt = websocket.state.runtime
    await websocket.accept()
    try:
        rt.admission.socket_from(websocket.client.host if websocket.client else None)
        caller = await authenticate(rt, websocket.query_params.get("token"))
        rt.admission.socket_of(caller.user_id)
    except DomainError as error:
        code = CLOSE_TRY_AGAIN if error.code == "TOO_MANY_REQUESTS" else CLOSE_UNAUTHORIZED
        await websocket.close(code, error.message[:120])
        return
    try:
        stream = await follow_project(
            rt, caller, websocket.path_params["projectId"], websocket.query_params.get("after")
        )
    except DomainError as error:
        code = CLOSE_NOT_FOUND if error.status == 404 else CLOSE_BAD_REQUEST
        await websocket.close(code, error.message[:120])
        return
    pusher = asyncio.create_task(_push(websocket, stream))
    try:
        await _answer_pings(websocket)
    finally:
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pusher
        with contextlib.suppress(Exception):
            await stream.aclose()


_encoded: OrderedDict[tuple[str, int], str] = OrderedDict()
ENCODED_CACHE_SIZE = 1024


def encoded(event: StoredEvent) -> str:
    """The event's frame, encoded once however many sockets it goes to.

    Keyed by project and id: ids are only unique within one event log, and a process may hold several.
    """
    key = (event.project_id, event.id)
    text = _encoded.get(key)
    if text is None:
        text = orjson.dumps(event_json(event)).decode()
        _encoded[key] = text
        if len(_encoded) > ENCODED_CACHE_SIZE:
            _encoded.popitem(last=False)
    return text


async def _push(websocket: WebSocket, stream: AsyncGenerator[StoredEvent, None]) -> None:
    try:
        async for event in stream:
            await websocket.send_text(encoded(event))
    except SubscriberLagged:
        await websocket.close(CLOSE_LAGGED, "fell behind; reconnect with after=<last eventId>")


async def _answer_pings(websocket: WebSocket) -> None:
    while True:
        try:
            text = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            return
        try:
            message = json.loads(text)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("type") == "ping":
            await websocket.send_text(json.dumps({"type": "pong", "timestamp": now_iso()}))


route = WebSocketRoute("/progress/subscribe/{projectId}", progress_socket)
