"""GraphQL types for context memory: the memory with its scope object, hits, a connection, stats and health."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers.context_status import ContextHealth as ContextHealthView
from resolvers.errors import not_found
from resolvers.memories import MemoryStats as MemoryStatsView
from schema.context import Context
from schema.pagination import PageInfo, encode_cursor, page_info
from schema.task_types import Task
from schema.types import Organization, Project, Workspace
from store import models

MemoryScope = Annotated[Organization | Workspace | Project | Task, strawberry.union("MemoryScope")]


@strawberry.type
class Memory:
    id: strawberry.ID
    content: str = strawberry.field(description="The memory's text (`memory` in the REST shape).")
    memory_type: str
    scope: str = strawberry.field(description="organization, workspace, project or task.")
    scope_id: str
    visibility: str = strawberry.field(description="How widely it is shared: organization, workspace, project, task.")
    tags: list[str]
    source: JSON | None
    custom: JSON | None
    hierarchy: JSON = strawberry.field(description="Ids and names of the scope's ancestors when last synced.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, memory: models.Memory) -> Memory:
        return cls(
            id=strawberry.ID(memory.id),
            content=memory.content,
            memory_type=memory.memory_type,
            scope=memory.scope,
            scope_id=memory.scope_id,
            visibility=memory.visibility,
            tags=list(memory.tags),
            source=memory.source,
            custom=memory.custom,
            hierarchy=memory.hierarchy,
            created_at=memory.created_at,
            updated_at=memory.updated_at,
        )

    @strawberry.field(description="The organization, workspace, project or task the memory is attached to.")
    async def scope_object(self, info: Info[Context, None]) -> MemoryScope:
        loaders = info.context.loaders
        if self.scope == "organization":
            return Organization.of(await loaders.organization.load(self.scope_id))
        if self.scope == "workspace":
            return Workspace.of(await loaders.workspace.load(self.scope_id))
        if self.scope == "project":
            project = await loaders.project.load(self.scope_id)
            if project is None:
                raise not_found("project", self.scope_id)
            return Project.of(project)
        task = await loaders.task.load(self.scope_id)
        if task is None:
            raise not_found("task", self.scope_id)
        return Task.of(task)


@strawberry.type
class MemoryHit:
    score: float = strawberry.field(description="Cosine similarity to the query, higher is closer.")
    memory: Memory


def hits_of(found: Sequence[tuple[models.Memory, float]]) -> list[MemoryHit]:
    return [MemoryHit(score=score, memory=Memory.of(memory)) for memory, score in found]


@strawberry.type
class MemoryEdge:
    cursor: str
    node: Memory


@strawberry.type
class MemoryConnection:
    edges: list[MemoryEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="How many memories match in all.")


def memory_connection(found: Sequence[models.Memory], total: int, start: int) -> MemoryConnection:
    edges = [MemoryEdge(cursor=encode_cursor(start + i), node=Memory.of(memory)) for i, memory in enumerate(found)]
    end = edges[-1].cursor if edges else None
    return MemoryConnection(edges=edges, page_info=page_info(start, len(edges), total, end), total_count=total)


@strawberry.type
class MemoryTypeCount:
    memory_type: str
    count: int


@strawberry.type
class MemoryStats:
    total: int
    by_type: list[MemoryTypeCount]
    scope: str | None
    scope_id: str | None

    @classmethod
    def of(cls, stats: MemoryStatsView) -> MemoryStats:
        return cls(
            total=stats.total,
            by_type=[MemoryTypeCount(memory_type=k, count=v) for k, v in sorted(stats.by_type.items())],
            scope=stats.scope,
            scope_id=stats.scope_id,
        )


@strawberry.type
class ContextHealth:
    status: str = strawberry.field(description="healthy, loading, unhealthy or disabled.")
    enabled: bool
    auto_capture: bool
    provider: str
    model: str
    memories: int | None = strawberry.field(description="Vectors in the index; null until it is loaded.")
    error: str | None

    @classmethod
    def of(cls, health: ContextHealthView) -> ContextHealth:
        return cls(
            status=health.status,
            enabled=health.enabled,
            auto_capture=health.auto_capture,
            provider=health.provider,
            model=health.model,
            memories=health.memories,
            error=health.error,
        )


@strawberry.type
class UpsertedMemory:
    memory: Memory
    created: bool = strawberry.field(description="True when no memory matched and a new one was made.")


@strawberry.type
class ImportResult:
    files_imported: int
    memories_created: int
    chunks_created: int
    errors: list[str]


@strawberry.type
class SyncResult:
    files_synced: int
    memories_updated: int
    memories_created: int
    memories_deleted: int
    modified: int
    new: int
    deleted: int


@strawberry.type
class TrackedFile:
    file_path: str = strawberry.field(description="Relative to BASE_ROOT.")
    file_hash: str
    scope: str
    scope_id: str
    memory_ids: list[str]
    last_import: datetime
    last_sync: datetime | None

    @classmethod
    def of(cls, record: models.TrackedFile) -> TrackedFile:
        return cls(
            file_path=record.file_path,
            file_hash=record.file_hash,
            scope=record.scope,
            scope_id=record.scope_id,
            memory_ids=list(record.memory_ids),
            last_import=record.last_import,
            last_sync=record.last_sync,
        )


@strawberry.type
class TaskContext:
    injected_memories: list[Memory]
    generated_memory: Memory | None
    retrieved: int = strawberry.field(description="How many context memories the task asked for.")
