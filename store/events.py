"""The durable event log: every progress event stored with a growing id, then published live.

A subscriber passes the last id it saw: it gets what it missed from the table, then live events, with no
gap and no duplicate, on any replica.

The commit-order trap: ids come from a sequence, and sequence values are not handed out in commit order,
so "the events after id N" could skip an event that commits late with a smaller id. Within a project this
cannot happen here: every transaction that appends a project's events holds that project's advisory lock
(`Namespace.EVENTS`) from before it takes its ids until it commits, so a project's events are numbered
in the order they commit, and a reader that has seen id N has seen every earlier event of that project.
(Ids of different projects interleave freely; every stream and replay is per project.) SQLite serializes
all writers anyway.

Appends are written by one writer task per process in batches (group commit): whatever was appended while
the previous transaction was in flight goes into the next one, with one broker wake-up for it. An append
may wait for its commit (`wait=True`, the default) or not (live output: the writer keeps the order, and
too many unwritten appends make the next one wait). An append may carry a `Lease`: it is stored only if
that lease still holds its task or execution, in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from store.bus import EventBus, StoredEvent
from store.db import Database
from store.leases import Lease, LeaseLost, hold
from store.locks import Namespace, lock_in
from store.models import Event, utcnow

log = logging.getLogger("orchestrator.events")
REPLAY_BATCH = 500
BATCH_MAX = 500
"""Appends written in one transaction at most."""
MAX_UNWRITTEN = 2000
"""Appends waiting for the writer beyond which even those that need not wait do."""


def _stored(row: Event, prev_id: int | None = None) -> StoredEvent:
    return StoredEvent(
        row.id, row.project_id, row.subject_type, row.subject_id, row.type, row.payload, row.created_at, prev_id
    )


@dataclass(eq=False)
class _Append:
    values: dict[str, Any]
    lease: Lease | None
    done: asyncio.Future[StoredEvent | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def project_id(self) -> str:
        return self.values["project_id"]


def _settle(item: _Append, outcome: StoredEvent | BaseException | None) -> None:
    if item.done.done():
        return
    if isinstance(outcome, BaseException):
        item.done.set_exception(outcome)
    else:
        item.done.set_result(outcome)


def _report_unwaited(done: asyncio.Future[StoredEvent | None]) -> None:
    if done.cancelled():
        return
    if (error := done.exception()) is not None and not isinstance(error, LeaseLost):
        log.warning("an event nobody waited for could not be stored: %s", error)


class EventLog:
    def __init__(self, db: Database, bus: EventBus, retention_seconds: int, retention_count: int) -> None:
        self.db = db
        self.bus = bus
        self.retention_seconds = retention_seconds
        self.retention_count = retention_count
        self._unwritten: deque[_Append] = deque()
        self._arrived: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._in_flight: list[_Append] = []
        """The batch the writer is committing now."""
        self.on_delivered: Callable[[float], None] | None = None
        """Told the commit time (epoch seconds) of each live event handed to a subscriber (for metrics)."""

    async def append(
        self,
        project_id: str,
        subject_type: str,
        subject_id: str,
        type: str,
        payload: dict[str, Any],
        *,
        lease: Lease | None = None,
        wait: bool = True,
    ) -> StoredEvent | None:
        """Store an event and publish it once committed. With `wait`, returns it then (LeaseLost when `lease`
        no longer holds its row); otherwise returns None at once, unless the writer is far behind."""
        values = {
            "project_id": project_id,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "type": type,
            "payload": payload,
        }
        item = _Append(values, lease)
        self._unwritten.append(item)
        self._kick()
        if wait or len(self._unwritten) > MAX_UNWRITTEN:
            return await item.done
        item.done.add_done_callback(_report_unwaited)
        return None

    def _kick(self) -> None:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever(), name="event-writer")
        self._arrived.set()

    async def _write_forever(self) -> None:
        assert self._arrived is not None
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._unwritten:
                batch: list[_Append] = []
                while self._unwritten and len(batch) < BATCH_MAX:
                    item = self._unwritten.popleft()
                    if not item.done.done():  # an append whose caller was cancelled before it was written
                        batch.append(item)
                if batch:
                    self._in_flight = batch
                    try:
                        await self._write(batch)
                    finally:
                        self._in_flight = []

    async def _write(self, batch: list[_Append]) -> None:
        """Commit a batch; when it fails as a whole, each append alone, so that one bad append fails only
        itself (an event of a project deleted meanwhile is dropped: nobody can follow that project)."""
        try:
            stored = await self._commit(batch)
        except Exception as error:  # noqa: BLE001 - each append then gets its own outcome
            if len(batch) == 1:
                if isinstance(error, IntegrityError):  # the only constraint an event breaks: its project's key
                    log.info(
                        "dropped a %s event: project %s no longer exists", batch[0].values["type"], batch[0].project_id
                    )
                    _settle(batch[0], None)
                else:
                    _settle(batch[0], error)
                return
            for item in batch:
                await self._write([item])
            return
        for item, outcome in stored:
            _settle(item, outcome)

    async def _commit(self, batch: list[_Append]) -> list[tuple[_Append, StoredEvent | BaseException]]:
        outcomes: list[tuple[_Append, StoredEvent | BaseException]] = []
        accepted: list[_Append] = []
        async with self.db.write() as session:
            projects = sorted({item.project_id for item in batch})
            for project_id in projects:
                await lock_in(session, self.db, Namespace.EVENTS, project_id)
            refused = await self._refused_leases(session, batch)
            for item in batch:
                if item.lease is not None and item.lease in refused:
                    outcomes.append((item, LeaseLost(item.lease)))
                else:
                    accepted.append(item)
            heads = await self._heads(session, projects)
            events = await self._insert(session, accepted, heads)
            await self.bus.stage(session, events)
        # Committed: publish in id order, then answer the appenders.
        await self.bus.publish_batch(events)
        return outcomes + list(zip(accepted, events, strict=True))

    async def _refused_leases(self, session: AsyncSession, batch: Sequence[_Append]) -> set[Lease]:
        refused: set[Lease] = set()
        for lease in {item.lease for item in batch if item.lease is not None}:
            try:
                await hold(session, self.db, lease)
            except LeaseLost:
                refused.add(lease)
        return refused

    async def _heads(self, session: AsyncSession, projects: Sequence[str]) -> dict[str, int]:
        """Each project's newest event id (0 for none), read under the projects' locks."""
        rows = await session.execute(
            select(Event.project_id, func.max(Event.id))
            .where(Event.project_id.in_(projects))
            .group_by(Event.project_id)
        )
        return {project_id: newest or 0 for project_id, newest in rows}

    async def _insert(
        self, session: AsyncSession, items: Sequence[_Append], heads: dict[str, int]
    ) -> list[StoredEvent]:
        """Insert in append order with growing ids; each event learns its project's previous id."""
        if not items:
            return []
        rows = [Event(**item.values, created_at=utcnow()) for item in items]
        if self.db.is_sqlite:
            for row in rows:  # one writer at a time: AUTOINCREMENT numbers them in this order
                session.add(row)
                await session.flush()
        else:
            ids = (
                await session.execute(
                    text("SELECT nextval('events_id_seq') FROM generate_series(1, :n)"), {"n": len(rows)}
                )
            ).scalars()
            for row, event_id in zip(rows, sorted(ids), strict=True):
                row.id = event_id
            session.add_all(rows)
            await session.flush()
        events = []
        for row in rows:
            events.append(_stored(row, heads.get(row.project_id, 0)))
            heads[row.project_id] = row.id
        return events

    async def flush(self) -> None:
        """Wait until everything appended so far is written (or failed): the batch being committed too."""
        pending = [item.done for item in (*self._in_flight, *self._unwritten)]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), 10)
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def latest_id(self, project_id: str | None = None) -> int:
        """The newest event id, of one project or of all."""
        query = select(func.coalesce(func.max(Event.id), 0))
        if project_id is not None:
            query = query.where(Event.project_id == project_id)
        async with self.db.read() as session:
            return await session.scalar(query) or 0

    async def heads(self, project_ids: Sequence[str], db: Database | None = None) -> dict[str, int]:
        """The newest event id of each project that has events (read through `db`, by default the log's)."""
        if not project_ids:
            return {}
        async with (db or self.db).read() as session:
            return await self._heads(session, list(project_ids))

    async def replay(
        self, project_id: str, after: int, limit: int = REPLAY_BATCH, upto: int | None = None
    ) -> list[StoredEvent]:
        """The project's events after id `after` (up to `upto`), oldest first, each with its predecessor's id."""
        query = select(Event).where(Event.project_id == project_id, Event.id > after)
        if upto is not None:
            query = query.where(Event.id <= upto)
        async with self.db.read() as session:
            rows = (await session.scalars(query.order_by(Event.id).limit(limit))).all()
        found, prev = [], after
        for row in rows:
            found.append(_stored(row, prev))
            prev = row.id
        return found

    async def newest(self, project_id: str) -> StoredEvent | None:
        async with self.db.read() as session:
            row = await session.scalar(
                select(Event).where(Event.project_id == project_id).order_by(Event.id.desc()).limit(1)
            )
        return None if row is None else _stored(row)

    async def follow(
        self, project_id: str, after: int | None, accept: Callable[[StoredEvent], bool] = lambda _e: True
    ) -> AsyncGenerator[StoredEvent, None]:
        """Events of one project after id `after` (None: only from now on), then live ones, forever.

        Ends with `SubscriberLagged` if the consumer falls too far behind the live stream.
        """
        subscription = self.bus.subscribe(project_id)
        try:
            last = await self.latest_id(project_id) if after is None else after
            while True:
                while True:  # what the log has after `last`
                    batch = await self.replay(project_id, last)
                    for event in batch:
                        last = event.id
                        if accept(event):
                            yield event
                    if len(batch) < REPLAY_BATCH:
                        break
                while True:  # live, as long as each event follows the last one seen
                    event = await subscription.next()
                    if event.id <= last:
                        continue
                    if event.prev_id is not None and event.prev_id != last:
                        break  # something between `last` and this event was not seen here: read the log
                    last = event.id
                    if accept(event):
                        if self.on_delivered is not None:
                            self.on_delivered(event.created_at.timestamp())
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
