"""NATS as the broker (EVENT_BROKER_URL=nats://…): events through a JetStream stream, control and memory
wake-ups as plain NATS messages.

Every replica reads the events subject with an ordered push consumer that starts at new messages: when its
connection drops and comes back, nats-py recreates the consumer from the last stream sequence it saw, so
the notices published meanwhile still arrive. The stream keeps a few minutes of notices (the database keeps
the events themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy, DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from store.brokers import TOPICS, Broker, MessageHandler

log = logging.getLogger("orchestrator.broker")
STREAM = "ORCHESTRATOR_EVENTS"
SUBJECT_PREFIX = "orchestrator."
STREAM_MAX_AGE_SECONDS = 600
STREAM_MAX_BYTES = 256 * 1024 * 1024
MAX_MESSAGE = 512 * 1024
CONNECT_SECONDS = 10


def redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"***@{host}" if parts.username or parts.password else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class NatsBroker(Broker):
    kind = "nats"
    transactional = False

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self._client: Client | None = None
        self._on_message: MessageHandler | None = None
        self._on_reconnect: Callable[[], None] | None = None
        self.reconnects = 0

    @property
    def max_message(self) -> int:
        return MAX_MESSAGE

    async def start(self, on_message: MessageHandler, on_reconnect: Callable[[], None]) -> None:
        self._on_message, self._on_reconnect = on_message, on_reconnect
        try:
            self._client = await asyncio.wait_for(
                nats.connect(
                    self.url,
                    name=self.name,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=3,
                    reconnected_cb=self._reconnected,
                    disconnected_cb=self._disconnected,
                    error_cb=self._error,
                ),
                CONNECT_SECONDS,
            )
        except Exception as error:  # noqa: BLE001 - any failure to connect stops the start, with its reason
            raise SystemExit(f"EVENT_BROKER_URL {redacted(self.url)}: cannot connect to NATS: {error}") from None
        jetstream = self._client.jetstream()
        await self._ensure_stream(jetstream)
        await jetstream.subscribe(
            SUBJECT_PREFIX + "events",
            stream=STREAM,
            cb=self._deliver,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            idle_heartbeat=2.0,
        )
        for topic in TOPICS:
            if topic != "events":
                await self._client.subscribe(SUBJECT_PREFIX + topic, cb=self._deliver)

    @staticmethod
    async def _ensure_stream(jetstream: Any) -> None:
        config = StreamConfig(
            name=STREAM,
            subjects=[SUBJECT_PREFIX + "events"],
            storage=StorageType.FILE,
            max_age=STREAM_MAX_AGE_SECONDS,
            max_bytes=STREAM_MAX_BYTES,
            discard=DiscardPolicy.OLD,
        )
        try:
            await jetstream.stream_info(STREAM)
        except NotFoundError:
            with contextlib.suppress(BadRequestError):  # another replica made it first
                await jetstream.add_stream(config)

    async def _deliver(self, message: Msg) -> None:
        if self._on_message is not None:
            self._on_message(message.subject.removeprefix(SUBJECT_PREFIX), message.data)

    async def _reconnected(self) -> None:
        self.reconnects += 1
        log.warning("reconnected to NATS")
        if self._on_reconnect is not None:
            self._on_reconnect()

    async def _disconnected(self) -> None:
        log.warning("lost the connection to NATS; reconnecting")

    async def _error(self, error: Exception) -> None:
        log.warning("NATS: %s", error)

    async def post(self, topic: str, message: bytes) -> None:
        if self._client is None:
            raise ConnectionError("not connected to NATS")
        await self._client.publish(SUBJECT_PREFIX + topic, message)

    def health(self) -> dict[str, Any]:
        connected = self._client is not None and self._client.is_connected
        return {
            "kind": self.kind,
            "status": "connected" if connected else "disconnected",
            "url": redacted(self.url),
            "reconnects": self.reconnects,
        }

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.drain()
            self._client = None
