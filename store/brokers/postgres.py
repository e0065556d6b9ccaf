"""PostgreSQL LISTEN/NOTIFY as the broker: one listening connection per replica, reconnected when lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from store.brokers import TOPICS, Broker, MessageHandler

log = logging.getLogger("orchestrator.broker")
CHANNEL_PREFIX = "orchestrator_"
MAX_NOTIFY_BYTES = 7900
"""PostgreSQL refuses a NOTIFY payload of 8000 bytes or more."""
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL as a plain libpq-style DSN for asyncpg."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PostgresBroker(Broker):
    kind = "postgresql"
    transactional = True

    def __init__(self, database_url: str) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self._connection: asyncpg.Connection | None = None
        self._on_message: MessageHandler | None = None
        self._on_reconnect: Callable[[], None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self.reconnects = 0

    @property
    def max_message(self) -> int:
        return MAX_NOTIFY_BYTES

    async def start(self, on_message: MessageHandler, on_reconnect: Callable[[], None]) -> None:
        self._on_message, self._on_reconnect = on_message, on_reconnect
        await self._connect()
        self._supervisor = asyncio.create_task(self._keep_connected(), name="broker-postgres")

    async def _connect(self) -> None:
        connection = await asyncpg.connect(self.dsn, timeout=10)
        connection.add_termination_listener(lambda _connection: self._lost.set())
        for topic in TOPICS:
            await connection.add_listener(CHANNEL_PREFIX + topic, self._deliver)
        self._connection = connection

    def _deliver(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        if self._on_message is not None:
            self._on_message(channel.removeprefix(CHANNEL_PREFIX), payload.encode())

    async def _keep_connected(self) -> None:
        while True:
            await self._lost.wait()
            self._lost.clear()
            self._connection = None
            log.warning("lost the LISTEN connection to PostgreSQL; reconnecting")
            attempt = 0
            while True:
                try:
                    await self._connect()
                    break
                except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                    delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                    attempt += 1
                    log.warning("could not listen on PostgreSQL (%s); retrying in %.1f s", error, delay)
                    await asyncio.sleep(delay)
            self.reconnects += 1
            if self._on_reconnect is not None:
                self._on_reconnect()

    async def stage(self, session: AsyncSession, topic: str, message: bytes) -> None:
        await session.execute(select(func.pg_notify(CHANNEL_PREFIX + topic, message.decode())))

    async def post(self, topic: str, message: bytes) -> None:
        connection = self._connection
        if connection is None:
            raise ConnectionError("not connected to PostgreSQL")
        async with self._send_lock:
            await connection.execute("SELECT pg_notify($1, $2)", CHANNEL_PREFIX + topic, message.decode())

    def health(self) -> dict[str, Any]:
        connected = self._connection is not None and not self._connection.is_closed()
        return {
            "kind": self.kind,
            "status": "connected" if connected else "disconnected",
            "reconnects": self.reconnects,
        }

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
            self._connection = None
