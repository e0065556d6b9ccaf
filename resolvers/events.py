"""Progress events: recording them for a project, and following a project's stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

from resolvers.access import visible_project
from resolvers.errors import invalid
from resolvers.runtime import Caller, Runtime
from store.bus import StoredEvent, SubscriberLagged

__all__ = ["StoredEvent", "SubscriberLagged", "follow_project", "parse_after", "record"]


async def record(
    rt: Runtime, project_id: str, subject_type: str, subject_id: str, type: str, **fields: Any
) -> StoredEvent | None:
    """Store an event and publish it to the project's live subscribers."""
    return await rt.events.append(project_id, subject_type, subject_id, type, fields)


def parse_after(value: object) -> int | None:
    """The `after` cursor: a non-negative event id, or None for "from now on"."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isdigit():
        number = int(value)
    else:
        raise invalid("after", "must be a non-negative event id")
    if number < 0:
        raise invalid("after", "must be a non-negative event id")
    return number


async def follow_project(
    rt: Runtime,
    caller: Caller,
    project_id: str,
    after: object = None,
    accept: Callable[[StoredEvent], bool] | None = None,
) -> AsyncGenerator[StoredEvent, None]:
    """Check access first (404 for a project the caller may not see), then stream its events."""
    cursor = parse_after(after)
    async with rt.db.read() as session:
        await visible_project(session, caller, project_id)
    return rt.events.follow(project_id, cursor, accept or (lambda _event: True))
