"""Refresh the ids and names stored in memories' `hierarchy` after renames and moves (operation 90)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from resolvers.memory_scope import visible_memories, visible_scope
from resolvers.runtime import Caller, Runtime
from resolvers.tx import writing
from store.models import Memory


@dataclass(frozen=True)
class HierarchySync:
    scopes: int
    memories_updated: int


async def sync_hierarchy(rt: Runtime, caller: Caller) -> HierarchySync:
    """Rewrite the hierarchy of every memory the caller can see from the tree as it is now."""
    async with rt.db.read() as session:
        scopes = (
            await session.execute(select(Memory.scope, Memory.scope_id).where(visible_memories(caller)).distinct())
        ).all()
        paths = [await visible_scope(session, caller, scope, scope_id) for scope, scope_id in scopes]
    updated = 0
    async with writing(rt) as session:
        for path in paths:
            result = await session.execute(
                update(Memory).where(Memory.scope_id == path.scope_id).values(hierarchy=path.hierarchy())
            )
            updated += result.rowcount  # type: ignore[attr-defined]
    return HierarchySync(len(paths), updated)
