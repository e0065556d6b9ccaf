"""Live fan-out of committed events to subscribers, per project.

`EventBus` is the seam for a broker that fans out across replicas (`store.cluster_bus`: PostgreSQL
LISTEN/NOTIFY or NATS JetStream); `InProcessBus` serves a single process. A subscriber that falls too far
behind is dropped (its stream ends with `SubscriberLagged`) rather than let memory grow; it resumes from the
event log by id.

Each live event names the id of the project's event before it (`prev_id`): a subscriber that sees a
`prev_id` other than the last id it has knows it missed something (a broker lost or reordered a notice)
and reads the gap from the log, so a broker may lose, repeat or reorder and subscribers still see every
event once, in order.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

DEFAULT_QUEUE_LIMIT = 10_000


@dataclass(frozen=True)
class StoredEvent:
    id: int
    project_id: str
    subject_type: str
    subject_id: str
    type: str
    payload: dict[str, Any]
    created_at: datetime
    prev_id: int | None = None
    """The project's previous event (0: none); None when unknown (a subscriber then checks the log)."""


class SubscriberLagged(Exception):
    """The subscriber's queue overflowed; it must resume from the log after its last id."""


@dataclass(eq=False)
class Subscription:
    project_id: str
    limit: int = field(default_factory=lambda: DEFAULT_QUEUE_LIMIT)
    queue: asyncio.Queue[StoredEvent | None] = field(default_factory=asyncio.Queue)
    lagged: bool = False
    counted: bool = True
    """False for the service's own listeners (a driver waiting for a step's task), not clients."""

    def offer(self, event: StoredEvent) -> bool:
        """Queue the event; False (and an end marker after what is queued) when the queue is full."""
        if self.queue.qsize() >= self.limit:
            self.lagged = True
            self.queue.put_nowait(None)
            return False
        self.queue.put_nowait(event)
        return True

    async def next(self) -> StoredEvent:
        event = await self.queue.get()
        if event is None:
            raise SubscriberLagged
        return event


class EventBus(ABC):
    @abstractmethod
    def subscribe(self, project_id: str, counted: bool = True) -> Subscription: ...

    @abstractmethod
    def unsubscribe(self, subscription: Subscription) -> None: ...

    @abstractmethod
    async def publish(self, event: StoredEvent) -> None: ...

    @abstractmethod
    def subscriber_count(self) -> int: ...

    async def stage(self, session: AsyncSession, events: Sequence[StoredEvent]) -> None:  # noqa: B027
        """Called inside the transaction that stores `events` (a broker's wake-up can commit with them)."""

    async def publish_batch(self, events: Sequence[StoredEvent]) -> None:
        """Called once the transaction that stored `events` has committed, in id order."""
        for event in events:
            await self.publish(event)

    async def start(self) -> None:  # noqa: B027 - most buses have nothing to connect to
        """Connect to the broker, if any."""

    async def close(self) -> None:  # noqa: B027
        """Disconnect from the broker, if any."""


class InProcessBus(EventBus):
    def __init__(self) -> None:
        self._by_project: defaultdict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, project_id: str, counted: bool = True) -> Subscription:
        subscription = Subscription(project_id, counted=counted)
        self._by_project[project_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._by_project.get(subscription.project_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._by_project[subscription.project_id]

    async def publish(self, event: StoredEvent) -> None:
        for subscription in list(self._by_project.get(event.project_id, ())):
            if not subscription.offer(event):
                self.unsubscribe(subscription)

    def subscriber_count(self) -> int:
        """Clients following events (the service's own listeners left out)."""
        return sum(1 for subscribers in self._by_project.values() for s in subscribers if s.counted)
