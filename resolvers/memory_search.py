"""Semantic search (operations 75, 77, 48): by text within a scope, similar to a memory, relevant to a prompt.

Each search turns what the caller may see into the index's filter first, so FAISS ranks only those
memories and a search returns `limit` results whenever that many visible matches exist.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from resolvers.errors import invalid
from resolvers.memories import MAX_CONTENT, get_memory, limit_of, scope_path
from resolvers.memory_scope import check_scope, visible_scope_ids
from resolvers.memory_writes import context_available, embed
from resolvers.runtime import Caller, Runtime
from resolvers.validation import UNSET, optional_bool, required_text
from store.memory_vectors import vector_of
from store.models import Memory, Task
from store.vector_index import SCOPE_RANKS, Filter, Reach

Hit = tuple[Memory, float]
DEFAULT_RESULTS = 10


def types_of(value: object) -> frozenset[str] | None:
    if value is None or value is UNSET or value in ([], ""):
        return None
    items = [item for item in value.split(",") if item.strip()] if isinstance(value, str) else value
    if not isinstance(items, list) or len(items) > 50:
        raise invalid("types", "must be a list of at most 50 memory types")
    return frozenset(required_text("types", item, 64) for item in items)


async def _ranked(rt: Runtime, vector: object, where: Filter, k: int) -> list[Hit]:
    with context_available():
        hits = await rt.memory.search(vector, where, k)  # type: ignore[arg-type]
    if not hits:
        return []
    async with rt.db.read() as session:
        rows = {m.id: m for m in await session.scalars(select(Memory).where(Memory.id.in_([i for i, _ in hits])))}
    return [(rows[memory_id], score) for memory_id, score in hits if memory_id in rows]


async def _visible_scope_ids(rt: Runtime, caller: Caller) -> Sequence[str]:
    async with rt.db.read() as session:
        return (await session.scalars(select(visible_scope_ids(caller).subquery().c[0]))).all()


async def search_memories(
    rt: Runtime,
    caller: Caller,
    query: object,
    scope: object,
    scope_id: object,
    *,
    limit: object = None,
    include_inherited: object = None,
    types: object = None,
) -> list[Hit]:
    text = required_text("query", query, MAX_CONTENT)
    checked_scope, checked_id = check_scope(scope, scope_id)
    k = limit_of(limit, DEFAULT_RESULTS)
    inherited = optional_bool("include_inherited", include_inherited, False)
    wanted = types_of(types)
    path = await scope_path(rt, caller, checked_scope, checked_id)
    vectors = await embed(rt, [text])
    return await _ranked(rt, vectors[0], Filter(path.reaches(inherited), wanted), k)


async def similar_memories(rt: Runtime, caller: Caller, memory_id: str, limit: object = None) -> list[Hit]:
    """The memories nearest this one among all the caller may see, itself excluded."""
    k = limit_of(limit, DEFAULT_RESULTS)
    memory = await get_memory(rt, caller, memory_id)
    scope_ids = await _visible_scope_ids(rt, caller)
    if memory.embedding and memory.embedding_model == rt.settings.embedding_model:
        vector = vector_of(memory.embedding)
    else:
        vector = (await embed(rt, [memory.content]))[0]
    where = Filter(tuple(Reach(scope_id) for scope_id in scope_ids), exclude=memory.id)
    return await _ranked(rt, vector, where, k)


async def relevant_memories(
    rt: Runtime,
    caller: Caller,
    project_id: str | None,
    prompt: object,
    *,
    max_memories: object = None,
    types: object = None,
    include_workspace: object = None,
    include_org: object = None,
) -> list[Hit]:
    """What a new task in the project should know: the project's memories, those its tasks shared with
    the project, and (unless switched off) what its workspace and organization share down to it.
    Without a project: the memories nearest the prompt among all the caller may see."""
    text = required_text("prompt", prompt, MAX_CONTENT)
    k = limit_of(max_memories, 5, "maxMemories")
    wanted = types_of(types)
    with_workspace = optional_bool("includeWorkspace", include_workspace, True)
    with_org = optional_bool("includeOrg", include_org, True)
    if project_id is None:
        reaches = [Reach(scope_id) for scope_id in await _visible_scope_ids(rt, caller)]
    else:
        reaches = await _project_reaches(rt, caller, project_id, with_workspace, with_org)
    vectors = await embed(rt, [text])
    return await _ranked(rt, vectors[0], Filter(tuple(reaches), wanted), k)


async def _project_reaches(
    rt: Runtime, caller: Caller, project_id: str, with_workspace: bool, with_org: bool
) -> list[Reach]:
    path = await scope_path(rt, caller, "project", project_id)
    async with rt.db.read() as session:
        task_ids = (await session.scalars(select(Task.id).where(Task.project_id == project_id))).all()
    reaches = [Reach(project_id), *(Reach(task_id, SCOPE_RANKS["project"]) for task_id in task_ids)]
    if with_workspace and path.workspace is not None:
        reaches.append(Reach(path.workspace.id, SCOPE_RANKS["workspace"]))
    if with_org:
        reaches.append(Reach(path.organization.id, SCOPE_RANKS["organization"]))
    return reaches
