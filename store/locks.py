"""Locks that hold across replicas: PostgreSQL advisory locks, keyed by a namespace and a string.

`lock_in(session, …)` takes a transaction-level lock inside a write transaction (released at its commit),
for short critical sections that are one transaction: appending a project's events in commit order,
claiming a project's queued tasks within its limit, logging memory changes in commit order.

`ClusterLocks.hold(…)` keeps a lock across several transactions (an execution's state change: several
writes and events) on a connection of its own, idle in a transaction that holds the lock. The server ends
that transaction after `idle_seconds` (idle_in_transaction_session_timeout), so a replica that is paused
(SIGSTOP) while holding a lock blocks the others for that long at most; whatever it writes later is
refused by its leases' fencing anyway.

With SQLite there is one process: these are no-ops and the callers' in-process locks suffice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import IntEnum

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from store.db import Database

log = logging.getLogger("orchestrator.locks")


class Namespace(IntEnum):
    """The first key of every advisory lock: what is locked (the second is a hash of whose)."""

    EVENTS = 7301
    TASKS = 7302
    MEMORY = 7303
    PLACEMENT = 7304
    EXECUTION = 7305
    STARTUP = 7306
    MIGRATIONS = 7307


def _key(namespace: Namespace, key: str) -> tuple[object, object]:
    return int(namespace), func.hashtext(key)


async def lock_in(session: AsyncSession, db: Database, namespace: Namespace, key: str = "") -> None:
    """Take the lock for the rest of `session`'s transaction (waiting for it)."""
    if not db.is_sqlite:
        await session.execute(select(func.pg_advisory_xact_lock(*_key(namespace, key))))


class ClusterLocks:
    """Locks held across transactions, each on a pooled connection of its own (never one the writes need)."""

    def __init__(self, db: Database, idle_seconds: float) -> None:
        self.db = db
        self.idle_ms = max(1000, int(idle_seconds * 1000))
        self._engine: AsyncEngine | None = (
            None if db.is_sqlite else create_async_engine(db.url, pool_size=2, max_overflow=60, pool_pre_ping=True)
        )

    @asynccontextmanager
    async def hold(self, namespace: Namespace, key: str) -> AsyncIterator[None]:
        if self._engine is None:
            yield
            return
        async with self._engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {self.idle_ms}"))
            await connection.execute(select(func.pg_advisory_xact_lock(*_key(namespace, key))))
            try:
                yield
            finally:
                try:
                    await transaction.rollback()
                except DBAPIError as error:  # the server ended the idle transaction: the lock went with it
                    log.warning(
                        "lock %s/%s was released by the server before its holder let go: %s", namespace.name, key, error
                    )
                    await connection.invalidate()

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
