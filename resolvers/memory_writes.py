"""The one way memories are written: database rows and their index vectors change together.

Embedding happens before the write lock is taken; the lock then covers the transaction and the index
change, so the index applies changes in the order the database committed them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.errors import DomainError
from resolvers.runtime import Runtime
from resolvers.tx import writing
from store.memory_vectors import ContextUnavailable, vector_bytes
from store.models import Memory


@contextmanager
def context_available() -> Iterator[None]:
    """Context memory disabled, loading too long, or without a model → 503 with the reason."""
    try:
        yield
    except ContextUnavailable as error:
        raise DomainError("SERVICE_UNAVAILABLE", str(error)) from None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def embed(rt: Runtime, texts: list[str]) -> np.ndarray:
    with context_available():
        return await rt.memory.embed(texts)


def set_content(rt: Runtime, memory: Memory, content: str, vector: np.ndarray) -> None:
    memory.content = content
    memory.content_hash = content_hash(content)
    memory.embedding = vector_bytes(vector)
    memory.embedding_model = rt.settings.embedding_model


async def save_memories(
    rt: Runtime,
    changed: Sequence[Memory],
    vectors: np.ndarray | None = None,
    *,
    removed: Sequence[str] = (),
    also: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> None:
    """Store `changed` (new or updated rows; `vectors` row i for changed[i], None when only their
    attributes changed), delete `removed`, run `also` in the same transaction, then update the index."""
    with context_available():
        async with rt.memory.changing() as index:
            async with writing(rt) as session:
                # New rows are inserted; rows read earlier (detached) are re-attached and their changes updated.
                session.add_all(changed)
                if removed:
                    await session.execute(delete(Memory).where(Memory.id.in_(removed)))
                if also is not None:
                    await also(session)
                await session.flush()  # new rows get their ids
                await rt.memory.changes.record(session, [memory.id for memory in changed] + list(removed))
            await rt.memory.drop(index, removed)
            if vectors is not None:
                await rt.memory.put(index, changed, vectors)
            else:
                await rt.memory.retag(index, changed)
        await rt.memory.changes.announce()
