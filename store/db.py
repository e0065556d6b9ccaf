"""The database: one async engine, tuned for SQLite, with read and write sessions.

SQLite gets WAL, foreign keys, a busy timeout, and `BEGIN IMMEDIATE` for write
transactions, so a transaction that reads before it writes takes the write lock
up front instead of failing to upgrade its snapshot under concurrency. Read
sessions send no BEGIN at all: each statement is its own snapshot, which saves a
round trip to the driver thread per request (reads never rely on a snapshot
spanning statements).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Interval, event, func, literal
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from store.models import UTCDateTime, utcnow

_BEGIN_MODE = "sqlite_begin_mode"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


SQLITE_BUSY_TIMEOUT_MS = 15_000


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_BEGIN_MODE) == "IMMEDIATE":
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Owns the engine and hands out sessions; `dispose()` must be awaited on shutdown."""

    def __init__(self, url: str, pool_size: int | None = None, idle_transaction_seconds: float | None = None) -> None:
        """`idle_transaction_seconds` (PostgreSQL): the server ends a transaction whose client stays silent
        that long, releasing its row and advisory locks, so that a replica paused (SIGSTOP, a long GC) in the
        middle of a transaction cannot hold up the others past its lease."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.idle_transaction_seconds = idle_transaction_seconds
        options: dict[str, Any] = (
            {"pool_size": pool_size, "max_overflow": pool_size} if pool_size and not self.is_sqlite else {}
        )
        if idle_transaction_seconds and not self.is_sqlite:
            timeout = str(int(idle_transaction_seconds * 1000))
            options["connect_args"] = {"server_settings": {"idle_in_transaction_session_timeout": timeout}}
        self.engine = create_async_engine(
            url,
            pool_pre_ping=not self.is_sqlite,
            json_serializer=_json_text,
            json_deserializer=orjson.loads,
            **options,
        )
        self._background: Database | None = None
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        self.writer = self.engine.execution_options(**{_BEGIN_MODE: "IMMEDIATE"}) if self.is_sqlite else self.engine
        """The engine for transactions that write (schema migrations included)."""
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writes = async_sessionmaker(self.writer, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries only; its transaction is rolled back at the end."""
        async with self._reads() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block ends without error."""
        async with self._writes() as session, session.begin():
            yield session

    def now(self, plus_seconds: float = 0) -> ColumnElement[datetime]:
        """The time as the database sees it (plus some seconds), for leases: replicas on hosts whose clocks
        differ still agree on when a lease ends. SQLite serves one process, whose own clock is the one."""
        if self.is_sqlite:
            return literal(utcnow() + timedelta(seconds=plus_seconds), UTCDateTime())
        clock = func.clock_timestamp(type_=UTCDateTime())
        return clock + literal(timedelta(seconds=plus_seconds), Interval()) if plus_seconds else clock

    def background(self) -> Database:
        """A second pool on the same database for the replica's own periodic work (lease renewals, sweeps),
        so that it neither waits behind requests nor takes their connections."""
        if self._background is None:
            self._background = Database(self.url, pool_size=2, idle_transaction_seconds=self.idle_transaction_seconds)
        return self._background

    async def dispose(self) -> None:
        if self._background is not None:
            await self._background.dispose()
        await self.engine.dispose()
