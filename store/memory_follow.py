"""Keeping every replica's FAISS index in step with the database: a log of memory changes, followed by cursor.

Every transaction that writes or deletes memories also appends their ids to `memory_changes`, under a lock
that holds across replicas (`Namespace.MEMORY`), so the log's ids grow in commit order and a follower that
has read up to id N has seen every change committed before it. Each replica follows the log from the
position it had when it opened (or rebuilt) its index: woken by the broker's `memory` notice (staged in the
writing transaction with LISTEN/NOTIFY, posted after it with NATS), and every POLL_SECONDS in case a notice
was lost. A change is applied by reading the memory's current row: present → its vector and attributes
go into the index (unless the index has them already, as on the replica that wrote them), absent → it
leaves the index. Applying the same change twice, or out of order, ends the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.brokers import Hub
from store.db import Database
from store.locks import Namespace, lock_in
from store.models import Memory, MemoryChange, utcnow
from store.vector_index import Entry

if TYPE_CHECKING:
    from store.memory_vectors import MemoryVectors

log = logging.getLogger("orchestrator.memory")
POLL_SECONDS = 2.0
BATCH = 1000
KEEP = timedelta(days=1)
PRUNE_EVERY = 300


class MemoryChangeLog:
    def __init__(self, db: Database, hub: Hub | None = None) -> None:
        self.db = db
        self.hub = hub

    async def record(self, session: AsyncSession, memory_ids: Sequence[str]) -> None:
        """Inside the transaction that writes or deletes these memories."""
        if not memory_ids:
            return
        await lock_in(session, self.db, Namespace.MEMORY)
        session.add_all([MemoryChange(memory_id=memory_id, created_at=utcnow()) for memory_id in memory_ids])
        if self.hub is not None and self.hub.broker.transactional:
            await self.hub.broker.stage(session, "memory", b"{}")

    async def announce(self) -> None:
        """After that transaction committed (brokers that do not send at commit)."""
        if self.hub is not None and not self.hub.broker.transactional:
            try:
                await self.hub.broker.post("memory", b"{}")
            except Exception as error:  # noqa: BLE001 - the followers poll as well
                log.warning("could not announce a memory change to the other replicas: %s", error)

    async def head(self) -> int:
        async with self.db.read() as session:
            return await session.scalar(select(func.coalesce(func.max(MemoryChange.id), 0))) or 0

    async def after(self, cursor: int, limit: int = BATCH) -> list[tuple[int, str]]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(MemoryChange.id, MemoryChange.memory_id)
                .where(MemoryChange.id > cursor)
                .order_by(MemoryChange.id)
                .limit(limit)
            )
            return [(change_id, memory_id) for change_id, memory_id in rows]

    async def prune(self) -> int:
        async with self.db.write() as session:
            removed = await session.execute(delete(MemoryChange).where(MemoryChange.created_at < utcnow() - KEEP))
        return removed.rowcount or 0  # type: ignore[attr-defined]


class MemoryFollower:
    """Applies other replicas' memory changes to this replica's index."""

    def __init__(self, vectors: MemoryVectors, changes: MemoryChangeLog, hub: Hub) -> None:
        self.vectors = vectors
        self.changes = MemoryChangeLog(changes.db.background())
        """Read on the replica's background pool: polling never takes a request's connection."""
        self.cursor = 0
        self.applied = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        hub.on("memory", lambda _message: self._wake.set(), self._wake.set)

    def start(self, cursor: int) -> None:
        self.cursor = cursor
        self._task = asyncio.create_task(self._follow_forever(), name="memory-follower")

    async def _follow_forever(self) -> None:
        rounds = 0
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                rounds += 1
            self._wake.clear()
            try:
                await self.catch_up()
                if rounds >= PRUNE_EVERY / POLL_SECONDS:
                    rounds = 0
                    await self.changes.prune()
            except Exception:
                log.exception("could not apply memory changes to the index; trying again")

    async def catch_up(self) -> int:
        """Apply every change after the cursor; returns how many were read."""
        index = self.vectors.index
        if index is None:
            return 0
        read = 0
        while True:
            rows = await self.changes.after(self.cursor)
            if not rows:
                return read
            async with self.vectors.write_lock:
                await self._apply(sorted({memory_id for _, memory_id in rows}))
            self.cursor = rows[-1][0]
            read += len(rows)
            self.applied += len(rows)

    async def _apply(self, memory_ids: list[str]) -> None:
        index = self.vectors.index
        assert index is not None
        model = self.vectors.settings.embedding_model
        async with self.changes.db.read() as session:
            rows = (await session.scalars(select(Memory).where(Memory.id.in_(memory_ids)))).all()
        present = {row.id: row for row in rows}
        gone = [memory_id for memory_id in memory_ids if memory_id not in present]
        added: list[Entry] = []
        vectors: list[np.ndarray] = []
        for row in present.values():
            entry = Entry(row.id, row.scope_id, row.visibility, row.memory_type, row.content_hash)
            known = index.entry(row.id)
            if known == entry:
                continue  # applied already (written here, or read twice)
            if known is not None and known.content_hash == entry.content_hash:
                index.retag(entry)
            elif row.embedding is not None and row.embedding_model == model:
                added.append(entry)
                vectors.append(np.frombuffer(row.embedding, dtype=np.float32))
        if gone:
            await asyncio.to_thread(index.remove, gone)
        if added:
            await asyncio.to_thread(index.add, added, np.stack(vectors))
        if gone or added:
            self.vectors.mark_dirty()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
