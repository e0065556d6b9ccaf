"""Context memory reads and writes, mixed into the Query and Mutation roots."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import memories, memory_search
from resolvers.context_status import context_health
from resolvers.memories import MemoryDraft
from schema.context import Context
from schema.memory_types import (
    ContextHealth,
    Memory,
    MemoryConnection,
    MemoryHit,
    MemoryStats,
    UpsertedMemory,
    hits_of,
    memory_connection,
)
from schema.pagination import decode_cursor

GraphInfo = Info[Context, None]


@strawberry.input
class MemoryInput:
    content: str
    scope: str
    scope_id: str
    memory_type: str | None = None
    visibility: str | None = strawberry.field(default=None, description="Defaults to the scope.")
    tags: list[str] | None = None
    source: JSON | None = None
    custom: JSON | None = None

    def draft(self) -> MemoryDraft:
        return MemoryDraft(
            self.content,
            self.scope,
            self.scope_id,
            self.memory_type,
            self.visibility,
            self.tags,
            self.source,
            self.custom,
        )


async def scope_memories(
    info: GraphInfo,
    scope: str,
    scope_id: str,
    first: int,
    after: str | None,
    memory_type: str | None,
    tags: list[str] | None,
    include_inherited: bool,
) -> MemoryConnection:
    start = decode_cursor(after)
    found, total = await memories.list_memories(
        info.context.rt,
        info.context.caller,
        scope,
        scope_id,
        memory_type=memory_type,
        tags=tags,
        limit=first,
        offset=start,
        include_inherited=include_inherited,
    )
    return memory_connection(found, total, start)


@strawberry.type
class MemoryQueries:
    @strawberry.field(description="A scope's memories, newest first (`first` capped at 100).")
    async def memories(
        self,
        info: GraphInfo,
        scope: str,
        scope_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        memory_type: str | None = None,
        tags: list[str] | None = None,
        include_inherited: bool = False,
    ) -> MemoryConnection:
        return await scope_memories(info, scope, scope_id, first, after, memory_type, tags, include_inherited)

    @strawberry.field
    async def memory(self, info: GraphInfo, id: strawberry.ID) -> Memory:
        return Memory.of(await memories.get_memory(info.context.rt, info.context.caller, id))

    @strawberry.field(description="Memories of a scope nearest in meaning to `query`, best first.")
    async def search_memories(
        self,
        info: GraphInfo,
        query: str,
        scope: str,
        scope_id: strawberry.ID,
        limit: int = 10,
        include_inherited: bool = False,
        types: list[str] | None = None,
    ) -> list[MemoryHit]:
        found = await memory_search.search_memories(
            info.context.rt,
            info.context.caller,
            query,
            scope,
            scope_id,
            limit=limit,
            include_inherited=include_inherited,
            types=types,
        )
        return hits_of(found)

    @strawberry.field(description="The memories you can see nearest in meaning to this one.")
    async def similar_memories(self, info: GraphInfo, id: strawberry.ID, limit: int = 10) -> list[MemoryHit]:
        return hits_of(await memory_search.similar_memories(info.context.rt, info.context.caller, id, limit))

    @strawberry.field(description="Counts by type: of every memory you can see, or of one scope's own.")
    async def memory_stats(
        self, info: GraphInfo, scope: str | None = None, scope_id: strawberry.ID | None = None
    ) -> MemoryStats:
        return MemoryStats.of(await memories.memory_stats(info.context.rt, info.context.caller, scope, scope_id))

    @strawberry.field
    def context_health(self, info: GraphInfo) -> ContextHealth:
        return ContextHealth.of(context_health(info.context.rt))


@strawberry.type
class MemoryMutations:
    @strawberry.mutation
    async def create_memory(self, info: GraphInfo, input: MemoryInput) -> Memory:
        return Memory.of(await memories.create_memory(info.context.rt, info.context.caller, input.draft()))

    @strawberry.mutation(
        description="Update the scope's memory whose `uniqueKey` field (in custom or source) matches, else create."
    )
    async def upsert_memory(self, info: GraphInfo, input: MemoryInput, unique_key: str | None = None) -> UpsertedMemory:
        memory, created = await memories.upsert_memory(info.context.rt, info.context.caller, input.draft(), unique_key)
        return UpsertedMemory(memory=Memory.of(memory), created=created)

    @strawberry.mutation
    async def update_memory(self, info: GraphInfo, id: strawberry.ID, content: str) -> Memory:
        return Memory.of(await memories.update_memory(info.context.rt, info.context.caller, id, content))

    @strawberry.mutation
    async def delete_memory(self, info: GraphInfo, id: strawberry.ID) -> bool:
        await memories.delete_memory(info.context.rt, info.context.caller, id)
        return True
