"""Context memory (resolvers/memories.py, memory_search.py, context_status.py; operations 69-81): memories,
the scopes they hang on (the `ContextScope` interface of organizations, workspaces, projects and tasks),
semantic search, stats, health."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, ClassVar

import strawberry
from strawberry.scalars import JSON

from resolvers import imports, memories, memory_batches, memory_search
from resolvers.context_status import FEATURES, VERSION, context_health
from resolvers.memories import MemoryDraft
from resolvers.memories import MemoryStats as MemoryStatsView
from resolvers.pages import page_request
from schema.connections import After, Before, Connection, First, Last, list_key, nested_connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.relay import Node, database_id, global_id, typed_id
from schema.users import User, user_of
from store import models

SCOPE_TYPES = {"Organization": "organization", "Workspace": "workspace", "Project": "project", "Task": "task"}


def scope_of(field: str, value: object) -> tuple[str, str]:
    """(scope kind, database id) of a scope object's global id."""
    type_name, scope_id = typed_id(field, value, *SCOPE_TYPES)
    return SCOPE_TYPES[type_name], scope_id


@strawberry.enum(description="The kind of object a memory is attached to.")
class ScopeKind(Enum):
    ORGANIZATION = strawberry.enum_value("organization", description="An organization.")
    WORKSPACE = strawberry.enum_value("workspace", description="A workspace.")
    PROJECT = strawberry.enum_value("project", description="A project.")
    TASK = strawberry.enum_value("task", description="A task (its dialog, for instance).")


@strawberry.enum(description="How widely a memory is shared below the object it is attached to.")
class Visibility(Enum):
    ORGANIZATION = strawberry.enum_value("organization", description="With everything in its organization.")
    WORKSPACE = strawberry.enum_value("workspace", description="With every project of its workspace.")
    PROJECT = strawberry.enum_value("project", description="Within its project.")
    TASK = strawberry.enum_value("task", description="With its task only.")


@strawberry.enum(description="Where a memory came from.")
class SourceType(Enum):
    FILE = strawberry.enum_value("file", description="Imported from a file.")
    API = strawberry.enum_value("api", description="Sent through the API.")
    MANUAL = strawberry.enum_value("manual", description="Written by hand.")
    AUTO_CAPTURE = strawberry.enum_value("auto-capture", description="Kept automatically from a task.")


@strawberry.type(description="A memory's provenance; for imported chunks, the file and lines.")
class MemorySource:
    type: SourceType = strawberry.field(description="Where it came from.")
    file_path: str | None = strawberry.field(description="The file, relative to BASE_ROOT.")
    line_start: int | None = strawberry.field(description="First line of the chunk in the file.")
    line_end: int | None = strawberry.field(description="Last line of the chunk in the file.")
    file_hash: str | None = strawberry.field(description="SHA-256 of the file when imported.")
    raw: JSON = strawberry.field(description="Every provenance field as stored, including ones not typed here.")

    @classmethod
    def of(cls, source: dict[str, Any] | None) -> MemorySource:
        source = source or {}
        kind = source.get("type")

        def number(key: str) -> int | None:
            value = source.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        def text(key: str) -> str | None:
            value = source.get(key)
            return value if isinstance(value, str) else None

        return cls(
            type=SourceType(kind) if kind in {member.value for member in SourceType} else SourceType.API,
            file_path=text("file_path"),
            line_start=number("line_start"),
            line_end=number("line_end"),
            file_hash=text("file_hash"),
            raw=source,
        )


@strawberry.type(description="How many memories of one type.")
class MemoryTypeCount:
    memory_type: str = strawberry.field(description="The type (free text, e.g. specification, task-dialog).")
    count: int = strawberry.field(description="How many.")


@strawberry.type(description="Counts of memories, in all and by type.")
class MemoryStats:
    total: int = strawberry.field(description="How many memories.")
    by_type: list[MemoryTypeCount] = strawberry.field(description="How many of each type, by type name.")
    total_size: int = strawberry.field(description="Characters of text in all.")
    last_updated: datetime | None = strawberry.field(description="The latest change to any of them.")

    @classmethod
    def of(cls, stats: MemoryStatsView) -> MemoryStats:
        by_type = [MemoryTypeCount(memory_type=k, count=v) for k, v in sorted(stats.by_type.items())]
        return cls(total=stats.total, by_type=by_type, total_size=stats.total_size, last_updated=stats.last_updated)


@strawberry.type(description="Files imported into a scope, and when they were last synced.")
class SyncStats:
    total_tracked_files: int = strawberry.field(description="How many files the scope tracks.")
    last_sync: datetime | None = strawberry.field(description="The latest import or sync of any of them.")


@strawberry.type(description="A file imported into a scope by path, so a sync re-imports it only when it changed.")
class TrackedFile:
    file_path: str = strawberry.field(description="Relative to BASE_ROOT.")
    file_hash: str = strawberry.field(description="SHA-256 of the file at its last import.")
    last_import: datetime = strawberry.field(description="When it was last imported.")
    last_sync: datetime | None = strawberry.field(description="When it was last synced; null if never.")
    memory_ids: strawberry.Private[list[str]]

    @classmethod
    def of(cls, record: models.TrackedFile) -> TrackedFile:
        return cls(
            file_path=record.file_path,
            file_hash=record.file_hash,
            last_import=record.last_import,
            last_sync=record.last_sync,
            memory_ids=list(record.memory_ids),
        )

    @strawberry.field(description="The memories its chunks became.")
    async def memories(self, info: GraphInfo) -> list[Memory]:
        found = await info.context.loaders.memory.load_many(self.memory_ids)
        return [Memory.of(memory) for memory in found if memory is not None]


MemoryType = Annotated[str | None, strawberry.argument(description="Only memories of this type.")]
Tags = Annotated[list[str] | None, strawberry.argument(description="Only memories carrying every one of these tags.")]
Inherited = Annotated[
    bool,
    strawberry.argument(description="Also the memories its ancestors share down to it (by their visibility)."),
]


@strawberry.interface(description="An object memories are attached to: an organization, workspace, project or task.")
class ContextScope(Node):
    SCOPE: ClassVar[str]

    @strawberry.field(description="Its memories, newest first.")
    async def memories(
        self,
        info: GraphInfo,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        memory_type: MemoryType = None,
        tags: Tags = None,
        include_inherited: Inherited = False,
    ) -> Connection[Memory]:
        listing = memories.memory_listing(
            info.context.caller, self.SCOPE, include_inherited=include_inherited, memory_type=memory_type, tags=tags
        )
        request = page_request(first, after, last, before)
        key = (memory_type, list_key(tags), include_inherited)
        return await nested_connection(info, self.database_id, listing, request, Memory.of, *key)

    @strawberry.field(description="Counts of its own memories by type.")
    async def memory_stats(self, info: GraphInfo) -> MemoryStats:
        rt, caller, scope = info.context.rt, info.context.caller, self.SCOPE
        loader = info.context.loaders.batch(
            ("memory_stats", scope), lambda ids: memories.memory_stats_by_scope(rt, caller, scope, ids)
        )
        return MemoryStats.of(await loader.load(self.database_id))

    @strawberry.field(description="Files imported into it by path, by path.")
    async def tracked_files(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[TrackedFile]:
        listing = imports.tracked_file_listing(info.context.caller)
        request = page_request(first, after, last, before)
        return await nested_connection(info, self.database_id, listing, request, TrackedFile.of)

    @strawberry.field(description="How many files it tracks and when they were last synced.")
    async def sync_stats(self, info: GraphInfo) -> SyncStats:
        stats = await info.context.loaders.sync_stats.load(self.database_id)
        return SyncStats(total_tracked_files=stats.total_tracked_files, last_sync=stats.last_sync)


async def scope_object(info: GraphInfo, scope: str, scope_id: str) -> ContextScope | None:
    """The organization, workspace, project or task behind a scope, through the request's loaders."""
    from schema.organizations import Organization
    from schema.projects import Project
    from schema.tasks import Task
    from schema.workspaces import Workspace

    loaders = info.context.loaders
    kinds: dict[str, tuple[Any, Any]] = {
        "organization": (loaders.organization, Organization.of),
        "workspace": (loaders.workspace, Workspace.of),
        "project": (loaders.project, Project.of),
        "task": (loaders.task, Task.of),
    }
    loader, wrap = kinds[scope]
    found = await loader.load(scope_id)
    return wrap(found) if found is not None else None


@strawberry.type(description="A piece of context: text attached to an organization, workspace, project or task.")
class Memory(Node):
    content: str = strawberry.field(description="The memory's text (`memory` in the REST shape).")
    memory_type: str = strawberry.field(description="Free text: specification, documentation, task-dialog, …")
    scope_kind: ScopeKind = strawberry.field(description="The kind of object it is attached to.")
    visibility: Visibility = strawberry.field(description="How widely it is shared below that object.")
    tags: list[str] = strawberry.field(description="Labels to filter by.")
    source: MemorySource = strawberry.field(description="Where it came from.")
    custom: JSON | None = strawberry.field(description="Free-form fields the writer attached.")
    hierarchy: JSON = strawberry.field(description="Ids and names of its ancestors when last synced (informative).")
    created_at: datetime = strawberry.field(description="When it was made.")
    updated_at: datetime = strawberry.field(description="When its text or labels last changed.")
    scope_id: strawberry.Private[str]
    created_by_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, memory: models.Memory) -> Memory:
        return cls(
            id=global_id("Memory", memory.id),
            database_id=memory.id,
            content=memory.content,
            memory_type=memory.memory_type,
            scope_kind=ScopeKind(memory.scope),
            visibility=Visibility(memory.visibility),
            tags=list(memory.tags),
            source=MemorySource.of(memory.source),
            custom=memory.custom,
            hierarchy=memory.hierarchy,
            created_at=memory.created_at,
            updated_at=memory.updated_at,
            scope_id=memory.scope_id,
            created_by_id=memory.created_by_id,
        )

    @strawberry.field(description="The object it is attached to; null if that is gone.")
    async def scope(self, info: GraphInfo) -> ContextScope | None:
        return await scope_object(info, self.scope_kind.value, self.scope_id)

    @strawberry.field(description="Who made it; null when unknown or not visible to you.")
    async def created_by(self, info: GraphInfo) -> User | None:
        return await user_of(info, self.created_by_id)

    @strawberry.field(description="The memories you can see nearest in meaning to this one, best first.")
    async def similar(
        self, info: GraphInfo, first: Annotated[int, strawberry.argument(description="How many (1 to 100).")] = 10
    ) -> list[MemoryHit]:
        found = await memory_search.similar_memories(info.context.rt, info.context.caller, self.database_id, first)
        return hits_of(found)


@strawberry.type(description="A memory found by a search, with how close it is.")
class MemoryHit:
    score: float = strawberry.field(description="Cosine similarity to the query, higher is closer (at most 1).")
    memory: Memory = strawberry.field(description="The memory.")


def hits_of(found: list[tuple[models.Memory, float]]) -> list[MemoryHit]:
    return [MemoryHit(score=score, memory=Memory.of(memory)) for memory, score in found]


@strawberry.enum(description="The state of context memory.")
class ContextStatus(Enum):
    HEALTHY = strawberry.enum_value("healthy", description="The model is loaded; search works.")
    LOADING = strawberry.enum_value("loading", description="The model is still loading; search waits for it.")
    UNHEALTHY = strawberry.enum_value("unhealthy", description="The model or index failed (see error).")
    DISABLED = strawberry.enum_value("disabled", description="Switched off by CONTEXT_ENABLED=false.")


@strawberry.type(description="The state of context memory: the embedding model and the index.")
class ContextHealth:
    status: ContextStatus = strawberry.field(description="Whether search works now.")
    enabled: bool = strawberry.field(description="Whether context memory is switched on.")
    auto_capture: bool = strawberry.field(description="Whether finished tasks' dialogs are kept as memories.")
    provider: str = strawberry.field(description="Where embeddings come from (`local:<model>`).")
    model: str = strawberry.field(description="The embedding model.")
    memories: int | None = strawberry.field(description="Vectors in the index; null until it is loaded.")
    error: str | None = strawberry.field(description="What failed, when unhealthy.")
    version: str = strawberry.field(description="The context API's version.")
    features: list[str] = strawberry.field(description="What context memory offers when enabled.")


@strawberry.type
class MemoryQueries:
    @strawberry.field(
        description="Memories of an organization, workspace, project or task nearest in meaning to `query`."
    )
    async def search_memories(
        self,
        info: GraphInfo,
        scope_id: Annotated[strawberry.ID, strawberry.argument(description="The object whose memories to search.")],
        query: Annotated[str, strawberry.argument(description="What to look for, in words.")],
        first: Annotated[int, strawberry.argument(description="How many results (1 to 100).")] = 10,
        include_inherited: Inherited = False,
        types: Annotated[list[str] | None, strawberry.argument(description="Only these memory types.")] = None,
    ) -> list[MemoryHit]:
        scope, checked = scope_of("scopeId", scope_id)
        found = await memory_search.search_memories(
            info.context.rt,
            info.context.caller,
            query,
            scope,
            checked,
            limit=first,
            include_inherited=include_inherited,
            types=types,
        )
        return hits_of(found)

    @strawberry.field(description="Counts by type of every memory you can see.")
    async def memory_stats(self, info: GraphInfo) -> MemoryStats:
        return MemoryStats.of(await memories.memory_stats(info.context.rt, info.context.caller))

    @strawberry.field(description="The state of context memory.")
    def context_health(self, info: GraphInfo) -> ContextHealth:
        health = context_health(info.context.rt)
        return ContextHealth(
            status=ContextStatus(health.status),
            enabled=health.enabled,
            auto_capture=health.auto_capture,
            provider=health.provider,
            model=health.model,
            memories=health.memories,
            error=health.error,
            version=VERSION,
            features=list(FEATURES),
        )


@strawberry.input(description="A new memory.")
class CreateMemoryInput:
    content: str = strawberry.field(description="The text.")
    scope_id: strawberry.ID = strawberry.field(
        description="The organization, workspace, project or task it belongs to."
    )
    memory_type: str | None = strawberry.field(default=None, description="Its type; `knowledge` when left out.")
    visibility: Visibility | None = strawberry.field(
        default=None, description="How widely to share it; the scope's own level when left out."
    )
    tags: list[str] | None = strawberry.field(default=None, description="Labels (at most 50).")
    source: JSON | None = strawberry.field(default=None, description="Provenance (`type`: file, api, manual…).")
    custom: JSON | None = strawberry.field(default=None, description="Free-form fields to keep with it.")

    def draft(self) -> MemoryDraft:
        scope, scope_id = scope_of("scopeId", self.scope_id)
        visibility = self.visibility.value if self.visibility else None
        return MemoryDraft(
            self.content, scope, scope_id, self.memory_type, visibility, self.tags, self.source, self.custom
        )


@strawberry.input(description="A memory to update if one matches, else to create.")
class UpsertMemoryInput(CreateMemoryInput):
    unique_key: str | None = strawberry.field(
        default=None,
        description="The field (in custom or source) that identifies it, e.g. filePath; with none, the same "
        "content in the same scope is the same memory.",
    )


@strawberry.input(description="New text for a memory.")
class UpdateMemoryInput:
    id: strawberry.ID = strawberry.field(description="The memory.")
    content: str = strawberry.field(description="Its new text (it is embedded again).")


@strawberry.input(description="A memory to delete.")
class DeleteMemoryInput:
    id: strawberry.ID = strawberry.field(description="The memory.")


@strawberry.input(description="Several memories to add at once: all of them, or none when one is refused.")
class CreateMemoriesInput:
    memories: list[CreateMemoryInput] = strawberry.field(description="1 to 100 new memories.")


@strawberry.input(description="Several memories' new texts: all changed, or none when one is refused.")
class UpdateMemoriesInput:
    updates: list[UpdateMemoryInput] = strawberry.field(description="1 to 100 memories and their new texts.")


@strawberry.input(description="Several memories to delete: all of them, or none when one is missing.")
class DeleteMemoriesInput:
    ids: list[strawberry.ID] = strawberry.field(description="1 to 100 memories.")


@strawberry.type(description="The result of createMemories and updateMemories.")
class MemoriesPayload(Payload):
    memories: list[Memory] | None = strawberry.field(default=None, description="The memories as stored, in order.")


@strawberry.type(description="The result of deleteMemories.")
class DeleteMemoriesPayload(Payload):
    deleted_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="The deleted memories' ids.")


@strawberry.type(description="The result of createMemory, updateMemory and friends.")
class MemoryPayload(Payload):
    memory: Memory | None = strawberry.field(default=None, description="The memory as stored.")


@strawberry.type(description="The result of upsertMemory.")
class UpsertMemoryPayload(MemoryPayload):
    created: bool | None = strawberry.field(default=None, description="True when no memory matched and one was made.")


@strawberry.type(description="The result of deleteMemory.")
class DeleteMemoryPayload(Payload):
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="The global id of the deleted memory."
    )


def _memory_payload(memory: models.Memory | None, errors: list[Any]) -> MemoryPayload:
    return MemoryPayload(memory=Memory.of(memory) if memory else None, user_errors=errors)


def _memory_id(value: object) -> str:
    return database_id("id", value, "Memory")


@strawberry.type
class MemoryMutations:
    @strawberry.mutation(description="Add a memory; it is embedded for search at once.")
    async def create_memory(self, info: GraphInfo, input: CreateMemoryInput) -> MemoryPayload:
        async def create() -> models.Memory:
            return await memories.create_memory(info.context.rt, info.context.caller, input.draft())

        return _memory_payload(*await attempt(create()))

    @strawberry.mutation(description="Update the scope's memory that matches (see uniqueKey), else create it.")
    async def upsert_memory(self, info: GraphInfo, input: UpsertMemoryInput) -> UpsertMemoryPayload:
        async def upsert() -> tuple[models.Memory, bool]:
            return await memories.upsert_memory(info.context.rt, info.context.caller, input.draft(), input.unique_key)

        result, errors = await attempt(upsert())
        if result is None:
            return UpsertMemoryPayload(user_errors=errors)
        return UpsertMemoryPayload(memory=Memory.of(result[0]), created=result[1])

    @strawberry.mutation(description="Replace a memory's text.")
    async def update_memory(self, info: GraphInfo, input: UpdateMemoryInput) -> MemoryPayload:
        async def update() -> models.Memory:
            return await memories.update_memory(
                info.context.rt, info.context.caller, _memory_id(input.id), input.content
            )

        return _memory_payload(*await attempt(update()))

    @strawberry.mutation(description="Delete a memory; searches stop finding it at once.")
    async def delete_memory(self, info: GraphInfo, input: DeleteMemoryInput) -> DeleteMemoryPayload:
        async def delete() -> None:
            await memories.delete_memory(info.context.rt, info.context.caller, _memory_id(input.id))

        _, errors = await attempt(delete())
        return DeleteMemoryPayload(deleted_id=None if errors else input.id, user_errors=errors)

    @strawberry.mutation(description="Add up to 100 memories at once: all, or none when one is refused.")
    async def create_memories(self, info: GraphInfo, input: CreateMemoriesInput) -> MemoriesPayload:
        async def create() -> list[models.Memory]:
            drafts = [item.draft() for item in input.memories]
            return await memory_batches.create_memories(info.context.rt, info.context.caller, drafts)

        found, errors = await attempt(create())
        return MemoriesPayload(
            memories=[Memory.of(m) for m in found] if found is not None else None, user_errors=errors
        )

    @strawberry.mutation(description="Replace up to 100 memories' texts at once: all, or none when one is refused.")
    async def update_memories(self, info: GraphInfo, input: UpdateMemoriesInput) -> MemoriesPayload:
        async def update() -> list[models.Memory]:
            updates = [{"id": _memory_id(item.id), "content": item.content} for item in input.updates]
            return await memory_batches.update_memories(info.context.rt, info.context.caller, updates)

        found, errors = await attempt(update())
        return MemoriesPayload(
            memories=[Memory.of(m) for m in found] if found is not None else None, user_errors=errors
        )

    @strawberry.mutation(description="Delete up to 100 memories at once: all, or none when one is missing.")
    async def delete_memories(self, info: GraphInfo, input: DeleteMemoriesInput) -> DeleteMemoriesPayload:
        async def delete() -> list[str]:
            ids = [_memory_id(value) for value in input.ids]
            return await memory_batches.delete_memories(info.context.rt, info.context.caller, ids)

        deleted, errors = await attempt(delete())
        ids = [global_id("Memory", memory_id) for memory_id in deleted] if deleted is not None else None
        return DeleteMemoriesPayload(deleted_ids=ids, user_errors=errors)
