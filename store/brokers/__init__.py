"""Brokers that carry small messages between replicas: wake-ups for new events and memory changes, and
control messages (cancel a task another replica runs).

`PostgresBroker` (the default with PostgreSQL) uses LISTEN/NOTIFY: a notice is staged inside the
transaction that makes it true, so it is sent when, and only if, that transaction commits. `NatsBroker`
(EVENT_BROKER_URL=nats://…) publishes after commit to NATS, events through a JetStream stream so that a
replica that loses its connection for a moment gets what it missed when it reconnects. Neither is trusted
with completeness: the database stays the source of truth, and what a lost notice hides is found again
(see `store.cluster_bus`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

TOPICS = ("events", "control", "memory")
MessageHandler = Callable[[str, bytes], None]
"""Called with the topic and the message, in the event loop; it must not block."""


class Broker(ABC):
    kind: str
    transactional: bool
    """True when notices are staged inside the writing transaction (sent at commit) rather than posted after."""

    @abstractmethod
    async def start(self, on_message: MessageHandler, on_reconnect: Callable[[], None]) -> None:
        """Connect and deliver every topic's messages to `on_message`; `on_reconnect` after a lost connection."""

    async def stage(self, session: AsyncSession, topic: str, message: bytes) -> None:
        """Send `message` when `session`'s transaction commits (transactional brokers only)."""
        raise NotImplementedError

    @abstractmethod
    async def post(self, topic: str, message: bytes) -> None:
        """Send `message` now."""

    @property
    @abstractmethod
    def max_message(self) -> int:
        """The largest message this broker carries, in bytes."""

    @abstractmethod
    def health(self) -> dict[str, Any]:
        """`kind`, `status` ("connected" or "disconnected") and details, for /api/health."""

    @abstractmethod
    async def close(self) -> None: ...


class Hub:
    """One broker connection shared by every part that talks to other replicas, each on its topic."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._handlers: dict[str, Callable[[bytes], None]] = {}
        self._reconnect_listeners: list[Callable[[], None]] = []
        self._started = False

    def on(self, topic: str, handler: Callable[[bytes], None], on_reconnect: Callable[[], None] | None = None) -> None:
        self._handlers[topic] = handler
        if on_reconnect is not None:
            self._reconnect_listeners.append(on_reconnect)

    async def start(self) -> None:
        if not self._started:
            self._started = True
            await self.broker.start(self._dispatch, self._reconnected)

    def _dispatch(self, topic: str, message: bytes) -> None:
        handler = self._handlers.get(topic)
        if handler is not None:
            handler(message)

    def _reconnected(self) -> None:
        for listener in self._reconnect_listeners:
            listener()

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self.broker.close()


def open_broker(database_url: str, is_sqlite: bool, broker_url: str | None, replica_id: str) -> Broker | None:
    """The broker the settings ask for: NATS for a nats:// EVENT_BROKER_URL, else LISTEN/NOTIFY on
    PostgreSQL; None with SQLite (one process: the in-process bus)."""
    if broker_url:
        from store.brokers.nats import NatsBroker

        return NatsBroker(broker_url, replica_id)
    if is_sqlite:
        return None
    from store.brokers.postgres import PostgresBroker

    return PostgresBroker(database_url)
