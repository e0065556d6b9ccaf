"""The durable event log: every progress event stored with a growing id, then published live.

A subscriber passes the last id it saw: it gets what it missed from the table, then live events,
with no gap and no duplicate. Appends are serialized in this process so that ids reach the bus
in increasing order (a subscriber can then drop anything at or below the last id it has seen).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from store.bus import EventBus, StoredEvent
from store.db import Database
from store.models import Event, utcnow

log = logging.getLogger("orchestrator.events")
REPLAY_BATCH = 500


def _stored(row: Event) -> StoredEvent:
    return StoredEvent(row.id, row.project_id, row.subject_type, row.subject_id, row.type, row.payload, row.created_at)


class EventLog:
    def __init__(self, db: Database, bus: EventBus, retention_seconds: int, retention_count: int) -> None:
        self.db = db
        self.bus = bus
        self.retention_seconds = retention_seconds
        self.retention_count = retention_count
        self._append_lock = asyncio.Lock()

    async def append(
        self, project_id: str, subject_type: str, subject_id: str, type: str, payload: dict[str, Any]
    ) -> StoredEvent | None:
        """Store and publish an event; None when its project was deleted meanwhile (nobody can follow it)."""
        async with self._append_lock:
            try:
                async with self.db.write() as session:
                    row = Event(
                        project_id=project_id,
                        subject_type=subject_type,
                        subject_id=subject_id,
                        type=type,
                        payload=payload,
                    )
                    session.add(row)
                    await session.flush()
                    event = _stored(row)
            except IntegrityError:  # the only constraint an event can break: its project's foreign key
                log.info("dropped a %s event: project %s no longer exists", type, project_id)
                return None
            await self.bus.publish(event)
        return event

    async def latest_id(self) -> int:
        async with self.db.read() as session:
            return await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0

    async def replay(self, project_id: str, after: int, limit: int = REPLAY_BATCH) -> list[StoredEvent]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Event).where(Event.project_id == project_id, Event.id > after).order_by(Event.id).limit(limit)
            )
            return [_stored(row) for row in rows]

    async def follow(
        self, project_id: str, after: int | None, accept: Callable[[StoredEvent], bool] = lambda _e: True
    ) -> AsyncGenerator[StoredEvent, None]:
        """Events of one project after id `after` (None: only from now on), then live ones, forever.

        Ends with `SubscriberLagged` if the consumer falls too far behind the live stream.
        """
        subscription = self.bus.subscribe(project_id)
        try:
            last = await self.latest_id() if after is None else after
            while True:
                batch = await self.replay(project_id, last)
                for event in batch:
                    last = event.id
                    if accept(event):
                        yield event
                if len(batch) < REPLAY_BATCH:
                    break
            while True:
                event = await subscription.next()
                if event.id <= last:
                    continue
                last = event.id
                if accept(event):
                    yield event
        finally:
            self.bus.unsubscribe(subscription)

    async def prune(self) -> int:
        """Delete events older than the retention age, and the oldest beyond the retention count."""
        cutoff = utcnow() - timedelta(seconds=self.retention_seconds)
        async with self.db.write() as session:
            removed = (await session.execute(delete(Event).where(Event.created_at < cutoff))).rowcount or 0
            newest_kept = await session.scalar(
                select(Event.id).order_by(Event.id.desc()).offset(self.retention_count - 1).limit(1)
            )
            if newest_kept is not None:
                removed += (await session.execute(delete(Event).where(Event.id < newest_kept))).rowcount or 0
        return removed

    async def prune_forever(self, every_seconds: float = 300) -> None:
        while True:
            try:
                removed = await self.prune()
            except Exception:
                log.exception("pruning old events failed")
            else:
                if removed:
                    log.info("pruned %d old events", removed)
            await asyncio.sleep(every_seconds)
