"""Context memory's runtime part: the embedding model and the FAISS index on disk, kept in step with the database.

The database is the source of truth (each memory row keeps its vector). At start, once the model has
loaded in the background, the index file is used only when it describes exactly the rows in the
database (count and checksum); a missing, damaged or stale file is rebuilt from the rows, embedding
any that lack a vector from the current model. Changes are applied to the index in memory at once and
written to disk (atomically) a moment later and at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select, union_all, update

from store.config import Settings
from store.db import Database
from store.embedding import Embedder
from store.index_file import IndexFileError, read_checked, write_atomic
from store.memory_follow import MemoryChangeLog, MemoryFollower
from store.models import Memory, Organization, Project, Task, TrackedFile, Workspace
from store.vector_index import Entry, Filter, VectorIndex, checksum_of

log = logging.getLogger("orchestrator.memory")

REBUILD_BATCH = 2000
SWEEP_EVERY = 30
"""Saver rounds between two sweeps for memories whose scope was deleted."""


class ContextUnavailable(Exception):
    """Context memory cannot serve now: disabled, still loading, or its model failed to load."""


def entry_of(memory: Memory) -> Entry:
    return Entry(memory.id, memory.scope_id, memory.visibility, memory.memory_type, memory.content_hash)


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def vector_of(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32)


class MemoryVectors:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.enabled = settings.context_enabled
        self.embedder = Embedder(settings.embedding_model)
        self.path: Path = settings.data_dir / "memory-index" / "memories.idx"
        self.index: VectorIndex | None = None
        self.rebuilt_at_start = False
        self.error: str | None = None
        self.write_lock = asyncio.Lock()
        """Held across a memory's database write and its index change, so the two happen in the same order."""
        self._ready = asyncio.Event()
        self._dirty = False
        self._tasks: list[asyncio.Task[None]] = []
        self.changes = MemoryChangeLog(db)
        """Every memory write is logged here, so that other replicas' indexes follow it."""
        self.follower: MemoryFollower | None = None
        """Applies the other replicas' changes (when the database is shared)."""

    @property
    def status(self) -> str:
        if not self.enabled:
            return "disabled"
        if self.error:
            return "unhealthy"
        return "healthy" if self.index is not None else "loading"

    def start(self) -> None:
        """Begin loading the model and the index; the server answers meanwhile."""
        if self.enabled:
            self._tasks.append(asyncio.create_task(self._prepare(), name="memory-prepare"))

    async def _prepare(self) -> None:
        try:
            await self.embedder.load()
            self.error = self.embedder.error
            if self.error is None:
                await self.sweep_orphans()
                async with self.write_lock:
                    cursor = await self.changes.head()  # before the index is checked: later changes are applied
                    self.index = await self._open_index()
                if self.follower is not None:
                    self.follower.start(cursor)
                self._tasks.append(asyncio.create_task(self._save_forever(), name="memory-index-saver"))
        except Exception as error:
            log.exception("context memory failed to start")
            self.error = f"context memory failed to start: {error}"
        finally:
            self._ready.set()

    async def ready(self, timeout: float = 300) -> VectorIndex:
        """The index, once the model and index are loaded; ContextUnavailable when they cannot be."""
        if not self.enabled:
            raise ContextUnavailable("Context memory is disabled (CONTEXT_ENABLED=false)")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise ContextUnavailable("Context memory is still loading its model; try again shortly") from None
        if self.index is None:
            raise ContextUnavailable(self.error or "Context memory is not available")
        return self.index

    async def embed(self, texts: list[str]) -> np.ndarray:
        await self.ready()
        return await self.embedder.embed(texts)

    # the index in step with the database

    async def _entries(self) -> tuple[dict[str, Entry], bool]:
        """Every memory's entry, and whether all of them carry a vector from the current model."""
        model = self.settings.embedding_model
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(
                        Memory.id,
                        Memory.scope_id,
                        Memory.visibility,
                        Memory.memory_type,
                        Memory.content_hash,
                        Memory.embedding_model,
                    )
                )
            ).all()
        entries = {row[0]: Entry(row[0], row[1], row[2], row[3], row[4]) for row in rows}
        return entries, all(row[5] == model for row in rows)

    async def _open_index(self) -> VectorIndex:
        started = time.monotonic()
        entries, current = await self._entries()
        reason = "it has vectors from another model" if not current else None
        if reason is None:
            try:
                header, payload = await asyncio.to_thread(read_checked, self.path)
                if header.get("model") != self.settings.embedding_model:
                    raise ValueError("it was built with another model")
                if header.get("count") != len(entries):
                    raise ValueError("its count differs from the database's")
                if header.get("checksum") != checksum_of((e.memory_id, e.content_hash) for e in entries.values()):
                    raise ValueError("its checksum differs from the database's")
                return await asyncio.to_thread(
                    VectorIndex.restore,
                    header,
                    payload,
                    self.settings.memory_index_ivf_min,
                    self.settings.memory_index_nprobe,
                    entries,
                )
            except (IndexFileError, ValueError, RuntimeError, KeyError, TypeError) as problem:
                reason = str(problem)
        log.warning("rebuilding the memory index from the database: %s", reason)
        index = await self._rebuild()
        self.rebuilt_at_start = True
        log.info("memory index of %d vectors rebuilt in %.1f s", index.count, time.monotonic() - started)
        return index

    async def _rebuild(self) -> VectorIndex:
        """A new index from every row, embedding those without a current vector (and storing it)."""
        model = self.settings.embedding_model
        await self._embed_missing(model)
        entries: list[Entry] = []
        chunks: list[np.ndarray] = []
        async with self.db.read() as session:
            result = await session.stream(select(Memory).order_by(Memory.id).execution_options(yield_per=REBUILD_BATCH))
            async for batch in result.scalars().partitions():
                entries.extend(entry_of(memory) for memory in batch)
                chunks.append(np.stack([vector_of(memory.embedding or b"") for memory in batch]))
        dimensions = self.embedder.dimensions or 0
        vectors = np.concatenate(chunks) if chunks else np.zeros((0, dimensions), dtype=np.float32)
        index = await asyncio.to_thread(
            VectorIndex.build,
            dimensions,
            self.settings.memory_index_ivf_min,
            self.settings.memory_index_nprobe,
            entries,
            vectors,
        )
        self._dirty = True
        await self.save(index)
        return index

    async def _embed_missing(self, model: str) -> None:
        while True:
            async with self.db.read() as session:
                stale = (
                    await session.execute(
                        select(Memory.id, Memory.content)
                        .where((Memory.embedding_model != model) | Memory.embedding_model.is_(None))
                        .limit(REBUILD_BATCH)
                    )
                ).all()
            if not stale:
                return
            vectors = await self.embedder.embed([content for _, content in stale])
            async with self.db.write() as session:
                await self.changes.record(session, [memory_id for memory_id, _ in stale])
                for (memory_id, _), vector in zip(stale, vectors, strict=True):
                    await session.execute(
                        update(Memory)
                        .where(Memory.id == memory_id)
                        .values(embedding=vector_bytes(vector), embedding_model=model)
                    )

    async def rebuild(self) -> VectorIndex:
        """Rebuild now (for an index that outgrew its structure); searches use the old one meanwhile."""
        async with self.write_lock:
            self.index = await self._rebuild()
        return self.index

    # changes and searches

    @asynccontextmanager
    async def changing(self) -> AsyncIterator[VectorIndex]:
        """The index, under the write lock, for a database write followed by its index change."""
        index = await self.ready()
        async with self.write_lock:
            yield self.index or index
        self._dirty = True

    def mark_dirty(self) -> None:
        """The index changed outside `changing()` (another replica's change applied): save it soon."""
        self._dirty = True

    async def put(self, index: VectorIndex, memories: Sequence[Memory], vectors: np.ndarray) -> None:
        await asyncio.to_thread(index.add, [entry_of(m) for m in memories], vectors)

    async def retag(self, index: VectorIndex, memories: Sequence[Memory]) -> None:
        for memory in memories:
            index.retag(entry_of(memory))

    async def drop(self, index: VectorIndex, memory_ids: Sequence[str]) -> None:
        await asyncio.to_thread(index.remove, list(memory_ids))

    async def search(self, vector: np.ndarray, where: Filter, k: int) -> list[tuple[str, float]]:
        index = await self.ready()
        return await asyncio.to_thread(index.search, vector, where, k)

    # persistence

    async def save(self, index: VectorIndex | None = None) -> None:
        index = index or self.index
        if index is None or not self._dirty:
            return
        self._dirty = False
        header, payload = await asyncio.to_thread(index.serialize)
        header["model"] = self.settings.embedding_model
        await asyncio.to_thread(write_atomic, self.path, header, payload)

    async def sweep_orphans(self) -> int:
        """Forget the memories and tracked files of deleted organizations, workspaces, projects and tasks.

        Until swept they are invisible anyway (access follows the live tree); this keeps them from
        taking space in the database and the index."""
        live = union_all(select(Organization.id), select(Workspace.id), select(Project.id), select(Task.id))
        async with self.write_lock:
            async with self.db.read() as session:
                orphans = (await session.scalars(select(Memory.id).where(Memory.scope_id.not_in(live)))).all()
            async with self.db.write() as session:
                await self.changes.record(session, orphans)
                for start in range(0, len(orphans), REBUILD_BATCH):
                    await session.execute(delete(Memory).where(Memory.id.in_(orphans[start : start + REBUILD_BATCH])))
                await session.execute(delete(TrackedFile).where(TrackedFile.scope_id.not_in(live)))
            if orphans and self.index is not None:
                await asyncio.to_thread(self.index.remove, orphans)
                self._dirty = True
        if orphans:
            log.info("removed %d memories of deleted scopes", len(orphans))
        return len(orphans)

    async def _save_forever(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self.settings.memory_index_save_seconds)
            rounds += 1
            try:
                if rounds % SWEEP_EVERY == 0:
                    await self.sweep_orphans()
                await self.save()
                if self.index is not None and self.index.outgrown():
                    await self.rebuild()
            except Exception:  # the next round tries again; the database still holds everything
                log.exception("could not save the memory index")
                self._dirty = True

    async def close(self) -> None:
        if self.follower is not None:
            await self.follower.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.save()
        finally:
            await self.embedder.close()
