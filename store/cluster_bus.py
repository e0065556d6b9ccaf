"""The event bus across replicas: local fan-out (as `InProcessBus`) fed by this replica's own commits and by
notices from the others through a broker.

A notice says, per project, which events a transaction added: the project's event before them (`prev`) and
the last of them. With LISTEN/NOTIFY it is staged inside that transaction (one NOTIFY per transaction,
however many output lines it holds; a NOTIFY payload is small, so the events themselves are read back from
the log once per notice and project, only by replicas with subscribers of that project). With NATS it is
published after commit and carries the events when they fit in a message.

Nothing here must be complete: each live event carries `prev_id`, and a subscriber that finds a gap reads
it from the log (`EventLog.follow`). A notice lost outright (a broker outage, a replica killed between its
commit and its publish) is found by the sweep: every SWEEP_SECONDS, and after a reconnect, the newest id of
each project with subscribers here is compared with the last one delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from store.brokers import Hub
from store.bus import InProcessBus, StoredEvent, Subscription
from store.events import EventLog

log = logging.getLogger("orchestrator.bus")
SWEEP_SECONDS = 5.0
UNKNOWN = -1
"""`prev_id` of an event the sweep found: makes its subscribers read the log after their last id."""


def _event_json(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "project": event.project_id,
        "subjectType": event.subject_type,
        "subject": event.subject_id,
        "type": event.type,
        "payload": event.payload,
        "createdAt": event.created_at.isoformat(),
        "prev": event.prev_id,
    }


def _event_of(data: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        data["id"],
        data["project"],
        data["subjectType"],
        data["subject"],
        data["type"],
        data["payload"],
        datetime.fromisoformat(data["createdAt"]),
        data["prev"],
    )


class ClusterBus(InProcessBus):
    def __init__(self, hub: Hub, replica_id: str) -> None:
        super().__init__()
        self.hub = hub
        self.replica_id = replica_id
        self.log: EventLog | None = None
        """The log to read notices' events from (set once both exist)."""
        self._notices: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._delivered: dict[str, int | None] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.notices_received = 0
        self.events_fetched = 0
        hub.on("events", self._notices.put_nowait, self.sweep_soon)

    async def start(self) -> None:
        await self.hub.start()
        self._tasks = [
            asyncio.create_task(self._read_notices(), name="bus-notices"),
            asyncio.create_task(self._sweep_forever(), name="bus-sweep"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # this replica's subscribers

    def subscribe(self, project_id: str, counted: bool = True) -> Subscription:
        self._delivered.setdefault(project_id, None)
        return super().subscribe(project_id, counted)

    def unsubscribe(self, subscription: Subscription) -> None:
        super().unsubscribe(subscription)
        if subscription.project_id not in self._by_project:
            self._delivered.pop(subscription.project_id, None)

    async def publish(self, event: StoredEvent) -> None:
        if event.project_id in self._by_project:
            known = self._delivered.get(event.project_id)
            self._delivered[event.project_id] = max(known or 0, event.id)
        await super().publish(event)

    # notices to and from the other replicas

    def _notices_of(self, events: Sequence[StoredEvent], inline: bool) -> list[bytes]:
        """One message per project (several projects per message for LISTEN/NOTIFY when they fit)."""
        by_project: dict[str, list[StoredEvent]] = {}
        for event in events:
            by_project.setdefault(event.project_id, []).append(event)
        limit = self.hub.broker.max_message
        messages: list[bytes] = []
        entries: list[list[Any]] = []
        for project_id, group in by_project.items():
            entry: list[Any] = [project_id, group[0].prev_id, group[-1].id]
            if inline:
                entry.append([_event_json(event) for event in group])
                if len(orjson.dumps(entry)) > limit - 200:
                    entry.pop()
            entries.append(entry)
        batch: list[list[Any]] = []
        for entry in entries:
            candidate = orjson.dumps({"origin": self.replica_id, "projects": [*batch, entry]})
            if batch and len(candidate) > limit:
                messages.append(orjson.dumps({"origin": self.replica_id, "projects": batch}))
                batch = []
            batch.append(entry)
        if batch:
            messages.append(orjson.dumps({"origin": self.replica_id, "projects": batch}))
        return messages

    async def stage(self, session: AsyncSession, events: Sequence[StoredEvent]) -> None:
        if events and self.hub.broker.transactional:
            for message in self._notices_of(events, inline=False):
                await self.hub.broker.stage(session, "events", message)

    async def publish_batch(self, events: Sequence[StoredEvent]) -> None:
        await super().publish_batch(events)
        if events and not self.hub.broker.transactional:
            for message in self._notices_of(events, inline=True):
                try:
                    await self.hub.broker.post("events", message)
                except Exception as error:  # noqa: BLE001 - the sweep finds these events on the other replicas
                    log.warning("could not announce new events to the other replicas: %s", error)

    async def _read_notices(self) -> None:
        while True:
            message = await self._notices.get()
            if message is None:
                continue
            try:
                await self._take(orjson.loads(message))
            except Exception:
                log.exception("could not deliver the events of a notice")

    async def _take(self, notice: dict[str, Any]) -> None:
        if notice.get("origin") == self.replica_id:
            return
        self.notices_received += 1
        for entry in notice.get("projects", []):
            project_id, prev, last = entry[0], entry[1], entry[2]
            if project_id not in self._by_project:
                continue
            if len(entry) > 3:
                events = [_event_of(data) for data in entry[3]]
            else:
                events = await self._read(project_id, prev or 0, last)
            for event in events:
                await self.publish(event)

    async def _read(self, project_id: str, after: int, upto: int) -> list[StoredEvent]:
        assert self.log is not None
        found: list[StoredEvent] = []
        while True:
            batch = await self.log.replay(project_id, after, upto=upto)
            found += batch
            self.events_fetched += len(batch)
            if not batch or batch[-1].id >= upto:
                return found
            after = batch[-1].id

    # finding what notices missed

    def sweep_soon(self) -> None:
        self._tasks.append(asyncio.create_task(self.sweep(), name="bus-sweep-now"))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception as error:  # noqa: BLE001 - the next round tries again
                log.warning("could not compare the event log with what was delivered: %s", error)

    async def sweep(self) -> None:
        if self.log is None or not self._delivered:
            return
        heads = await self.log.heads(list(self._delivered), self.log.db.background())
        for project_id, head in heads.items():
            if project_id not in self._delivered:
                continue
            delivered = self._delivered[project_id]
            if delivered is None:
                self._delivered[project_id] = head  # a new subscriber read the log itself just now
            elif head > delivered:
                newest = await self.log.newest(project_id)
                if newest is not None:
                    log.info("events of project %s reached no notice here; its subscribers read the log", project_id)
                    await self.publish(
                        StoredEvent(
                            newest.id,
                            newest.project_id,
                            newest.subject_type,
                            newest.subject_id,
                            newest.type,
                            newest.payload,
                            newest.created_at,
                            UNKNOWN,
                        )
                    )

    def health(self) -> dict[str, Any]:
        return {**self.hub.broker.health(), "noticesReceived": self.notices_received}
