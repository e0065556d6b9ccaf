"""Memories (operations 69-74, 76, 78-79): create, upsert, read, update, delete, list and count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, String, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.access import member_org_ids
from resolvers.errors import invalid, not_found
from resolvers.memory_scope import (
    SCOPES,
    ScopePath,
    check_scope,
    reach_condition,
    visible_memories,
    visible_scope,
)
from resolvers.memory_writes import content_hash, embed, save_memories, set_content
from resolvers.pages import Listing, Ordering
from resolvers.runtime import Caller, Runtime
from resolvers.validation import (
    MAX_OFFSET,
    UNSET,
    one_of,
    optional_bool,
    optional_object,
    optional_text,
    required_text,
    whole_number,
)
from store.models import Memory, Organization, Project, Task, Workspace, aggregate_time, new_id
from store.vector_index import SCOPE_RANKS

MAX_CONTENT = 100_000
MAX_LIMIT = 100
DEFAULT_TYPE = "knowledge"
SOURCE_TYPES = ("file", "api", "manual", "auto-capture")
MAX_TAGS = 50


@dataclass
class MemoryDraft:
    """A memory as a caller sent it, before any check."""

    content: object
    scope: object
    scope_id: object
    memory_type: object = None
    visibility: object = None
    tags: object = None
    source: object = None
    custom: object = None


@dataclass(frozen=True)
class CheckedDraft:
    content: str
    scope: str
    scope_id: str
    memory_type: str
    visibility: str
    tags: list[str]
    source: dict[str, Any]
    custom: dict[str, Any] | None = field(default=None)


def tags_of(value: object) -> list[str]:
    if value is None or value is UNSET:
        return []
    if isinstance(value, str):
        value = [tag for tag in value.split(",") if tag.strip()]
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise invalid("tags", f"must be a list of at most {MAX_TAGS} strings")
    return [required_text("tags", tag, 100) for tag in value]


def source_of(value: object, default_type: str = "api") -> dict[str, Any]:
    source = dict(optional_object("source", value) or {})
    source["type"] = one_of("source.type", source.get("type") or default_type, SOURCE_TYPES)
    return source


def check_draft(draft: MemoryDraft) -> CheckedDraft:
    scope, scope_id = check_scope(draft.scope, draft.scope_id)
    visibility = draft.visibility
    return CheckedDraft(
        content=required_text("content", draft.content, MAX_CONTENT),
        scope=scope,
        scope_id=scope_id,
        memory_type=optional_text("memory_type", draft.memory_type, 64) or DEFAULT_TYPE,
        visibility=scope if visibility in (None, UNSET, "") else one_of("visibility", visibility, tuple(SCOPE_RANKS)),
        tags=tags_of(draft.tags),
        source=source_of(draft.source),
        custom=optional_object("custom", draft.custom),
    )


def limit_of(value: object, default: int, name: str = "limit") -> int:
    """A page size from 1 to MAX_LIMIT; anything over the cap is refused rather than cut."""
    if value is None or value is UNSET or value == "":
        return default
    number = whole_number(value)
    if number is None or not 1 <= number <= MAX_LIMIT:
        raise invalid(name, f"must be a whole number from 1 to {MAX_LIMIT}")
    return number


def offset_of(value: object) -> int:
    if value is None or value is UNSET or value == "":
        return 0
    number = whole_number(value)
    if number is None or not 0 <= number <= MAX_OFFSET:
        raise invalid("offset", f"must be a whole number from 0 to {MAX_OFFSET}")
    return number


def new_memory(path: ScopePath, checked: CheckedDraft, created_by_id: str | None) -> Memory:
    return Memory(
        id=new_id(),
        scope=checked.scope,
        scope_id=checked.scope_id,
        memory_type=checked.memory_type,
        visibility=checked.visibility,
        hierarchy=path.hierarchy(),
        tags=checked.tags,
        source=checked.source,
        custom=checked.custom,
        created_by_id=created_by_id,
    )


async def scope_path(rt: Runtime, caller: Caller, scope: str, scope_id: str) -> ScopePath:
    async with rt.db.read() as session:
        return await visible_scope(session, caller, scope, scope_id)


async def visible_memory(session: AsyncSession, caller: Caller, memory_id: str) -> Memory:
    memory = await session.scalar(select(Memory).where(Memory.id == memory_id, visible_memories(caller)))
    if memory is None:
        raise not_found("memory", memory_id)
    return memory


async def get_memory(rt: Runtime, caller: Caller, memory_id: str) -> Memory:
    async with rt.db.read() as session:
        return await visible_memory(session, caller, memory_id)


async def create_memory(rt: Runtime, caller: Caller, draft: MemoryDraft) -> Memory:
    checked = check_draft(draft)
    path = await scope_path(rt, caller, checked.scope, checked.scope_id)
    memory = new_memory(path, checked, caller.user_id)
    vectors = await embed(rt, [checked.content])
    set_content(rt, memory, checked.content, vectors[0])
    await save_memories(rt, [memory], vectors)
    return memory


def _unique_value(checked: CheckedDraft, key: str) -> str:
    """The value of `key` among what the caller sent (custom, then source), e.g. CoSpec's `filePath`."""
    for holder in (checked.custom or {}, checked.source):
        value = holder.get(key)
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()[:1024]
    raise invalid("uniqueKey", f"the memory has no {key!r} to match on (looked in metadata, custom and source)")


async def upsert_memory(rt: Runtime, caller: Caller, draft: MemoryDraft, unique_key: object) -> tuple[Memory, bool]:
    """Update the memory of the same scope with the same `unique_key` value (or, with no key, the same
    content), else create one. Returns the memory and whether it was created."""
    checked = check_draft(draft)
    key = optional_text("uniqueKey", unique_key, 64)
    value = _unique_value(checked, key) if key else None
    path = await scope_path(rt, caller, checked.scope, checked.scope_id)
    vectors = await embed(rt, [checked.content])
    async with rt.db.read() as session:
        match = Memory.unique_value == value if key else Memory.content_hash == content_hash(checked.content)
        query = select(Memory).where(Memory.scope_id == checked.scope_id, match)
        if key:
            query = query.where(Memory.unique_key == key)
        memory = await session.scalar(query.order_by(Memory.created_at).limit(1))
    created = memory is None
    if memory is None:
        memory = new_memory(path, checked, caller.user_id)
        memory.unique_key, memory.unique_value = key, value
    else:
        memory.memory_type, memory.visibility, memory.tags = checked.memory_type, checked.visibility, checked.tags
        memory.source, memory.custom, memory.hierarchy = checked.source, checked.custom, path.hierarchy()
    set_content(rt, memory, checked.content, vectors[0])
    await save_memories(rt, [memory], vectors)
    return memory, created


async def update_memory(rt: Runtime, caller: Caller, memory_id: str, content: object) -> Memory:
    text = required_text("content", content, MAX_CONTENT)
    memory = await get_memory(rt, caller, memory_id)
    vectors = await embed(rt, [text])
    set_content(rt, memory, text, vectors[0])
    await save_memories(rt, [memory], vectors)
    return memory


async def delete_memory(rt: Runtime, caller: Caller, memory_id: str) -> None:
    memory = await get_memory(rt, caller, memory_id)
    await save_memories(rt, [], removed=[memory.id])


def _tag_condition(tag: str) -> Any:
    """Memories carrying `tag` (JSON lists compare as text the same way on SQLite and PostgreSQL)."""
    token = orjson.dumps(tag).decode().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(Memory.tags, String).like(f"%{token}%", escape="\\")


async def list_memories(
    rt: Runtime,
    caller: Caller,
    scope: object,
    scope_id: object,
    *,
    memory_type: object = None,
    tags: object = None,
    limit: object = None,
    offset: object = None,
    include_inherited: object = None,
) -> tuple[Sequence[Memory], int]:
    """A page of the scope's memories (with inherited ones when asked), newest first, and the total."""
    scope, scope_id = check_scope(scope, scope_id)
    kind = optional_text("memory_type", memory_type, 64)
    wanted = tags_of(tags)
    page, skip = limit_of(limit, 50), offset_of(offset)
    inherited = optional_bool("include_inherited", include_inherited, False)
    async with rt.db.read() as session:
        path = await visible_scope(session, caller, scope, scope_id)
        conditions = [reach_condition(path.reaches(inherited))]
        if kind:
            conditions.append(Memory.memory_type == kind)
        conditions += [_tag_condition(tag) for tag in wanted]
        total = await session.scalar(select(func.count()).select_from(Memory).where(*conditions)) or 0
        found = (
            await session.scalars(
                select(Memory).where(*conditions).order_by(Memory.created_at.desc(), Memory.id).limit(page).offset(skip)
            )
        ).all()
    return found, total


MEMORY_ORDER = Ordering("memories", ((Memory.created_at, True), (Memory.id, False)))


def _scope_levels(scope: str) -> tuple[Select[Any], list[tuple[str, ColumnElement[str]]], ColumnElement[str]]:
    """For scope objects of one kind: `select(Memory)` from their table joined up to their workspace, the id
    column of each level from the object up to its organization, and the organization's id column."""
    if scope == "organization":
        return select(Memory).select_from(Organization), [("organization", Organization.id)], Organization.id
    if scope == "workspace":
        levels = [("workspace", Workspace.id), ("organization", Workspace.organization_id)]
        return select(Memory).select_from(Workspace), levels, Workspace.organization_id
    levels = [("project", Project.id), ("workspace", Project.workspace_id), ("organization", Workspace.organization_id)]
    if scope == "project":
        query = select(Memory).select_from(Project)
    else:
        query = select(Memory).select_from(Task).join(Project, Project.id == Task.project_id)
        levels = [("task", Task.id), ("project", Task.project_id), *levels[1:]]
    return query.join(Workspace, Workspace.id == Project.workspace_id), levels, Workspace.organization_id


def memory_listing(
    caller: Caller,
    scope: object,
    *,
    include_inherited: bool = False,
    memory_type: object = None,
    tags: object = None,
) -> Listing:
    """Memories of scope objects of one kind, by object, newest first: each object's own memories and, with
    inheritance, its ancestors' memories shared down to it (what `ScopePath.reaches` allows), for every
    object in one statement. Objects the caller may not see have none."""
    kind = optional_text("memory_type", memory_type, 64)
    conditions = [_tag_condition(tag) for tag in tags_of(tags)]
    if kind:
        conditions.append(Memory.memory_type == kind)
    query, levels, organization = _scope_levels(one_of("scope", scope, SCOPES))
    reaches = [Memory.scope_id == levels[0][1]]
    if include_inherited:
        for name, column in levels[1:]:
            shared = [visibility for visibility, rank in SCOPE_RANKS.items() if rank <= SCOPE_RANKS[name]]
            reaches.append(and_(Memory.scope_id == column, Memory.visibility.in_(shared)))
    query = query.join(Memory, or_(*reaches)).where(organization.in_(member_org_ids(caller)), *conditions)
    return Listing(query, MEMORY_ORDER, levels[0][1])


@dataclass(frozen=True)
class MemoryStats:
    total: int
    by_type: dict[str, int]
    scope: str | None = None
    scope_id: str | None = None
    total_size: int = 0
    """Characters of text in all."""
    last_updated: datetime | None = None


STAT_COLUMNS = (
    Memory.memory_type,
    func.count(),
    func.coalesce(func.sum(func.length(Memory.content)), 0),
    func.max(Memory.updated_at),
)
"""Per memory type: how many, characters of text in all, the latest change."""


def _stats(rows: Sequence[Any], scope: str | None = None, scope_id: str | None = None) -> MemoryStats:
    by_type = {kind: count for kind, count, _, _ in rows}
    moments = [aggregate_time(moment) for *_, moment in rows if moment is not None]
    size = sum(int(characters) for _, _, characters, _ in rows)
    return MemoryStats(sum(by_type.values()), by_type, scope, scope_id, size, max(moments, default=None))


async def memory_stats(rt: Runtime, caller: Caller, scope: object = None, scope_id: object = None) -> MemoryStats:
    """Counts by type, the size of the text and the latest change, over every memory the caller may see
    or over one scope's own memories."""
    if scope is None and scope_id is None:
        query = select(*STAT_COLUMNS).where(visible_memories(caller)).group_by(Memory.memory_type)
        async with rt.db.read() as session:
            return _stats((await session.execute(query)).all())
    checked_scope, checked_id = check_scope(scope, scope_id)
    await scope_path(rt, caller, checked_scope, checked_id)
    return (await memory_stats_by_scope(rt, caller, checked_scope, [checked_id]))[checked_id]


async def memory_stats_by_scope(
    rt: Runtime, caller: Caller, scope: str, scope_ids: Sequence[str]
) -> dict[str, MemoryStats]:
    """`memory_stats` of the own memories of several scope objects of one kind, in one statement."""
    query = (
        select(Memory.scope_id, *STAT_COLUMNS)
        .where(Memory.scope_id.in_(scope_ids), visible_memories(caller))
        .group_by(Memory.scope_id, Memory.memory_type)
    )
    async with rt.db.read() as session:
        rows = (await session.execute(query)).all()
    by_scope: dict[str, list[Any]] = {scope_id: [] for scope_id in scope_ids}
    for scope_id, *row in rows:
        by_scope[scope_id].append(row)
    return {scope_id: _stats(found, scope, scope_id) for scope_id, found in by_scope.items()}


async def memories_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, Memory]:
    """The visible ones among several memories, in one query."""
    async with rt.db.read() as session:
        found = await session.scalars(select(Memory).where(Memory.id.in_(ids), visible_memories(caller)))
        return {memory.id: memory for memory in found}
