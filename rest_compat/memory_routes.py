"""Context memories over REST (operations 69-81). The upsert route comes before `/context/memories/{id}`.

Bodies are accepted in the contract's snake_case and in the shapes other clients send (§6, §7.10):
CoSpec's camelCase upsert `{content, type, scope, scopeId, metadata: {filePath, visibility, tags, …}}`
and the console's `{projectId, content, metadata: {scope, memory_type, …}}`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import memories, memory_search
from resolvers.context_status import FEATURES, VERSION, context_health
from resolvers.memories import MemoryDraft
from resolvers.runtime import Caller
from resolvers.validation import UNSET
from rest_compat.http import JSONBody, endpoint, field, read_body, runtime
from rest_compat.memory_shapes import health_json, memory_json, search_json, similar_json, stats_json
from rest_compat.spec.memories import (
    ContextHealth,
    ContextInfo,
    CreateMemoryRequest,
    LimitQuery,
    Memory,
    MemoryList,
    MemoryListQuery,
    PageQuery,
    Scope,
    ScopeMemoriesQuery,
    SearchMemoriesRequest,
    SearchResult,
    SimilarResult,
    UpdateMemoryRequest,
    UpsertMemoryRequest,
    UpsertQuery,
)
from rest_compat.spec.memories import MemoryStats as MemoryStatsBody

_KNOWN_METADATA = ("scope", "scope_id", "scopeId", "memory_type", "type", "visibility", "tags", "source", "custom")


def _first(*values: object) -> object:
    """The first value actually sent (neither missing nor null)."""
    for value in values:
        if value is not None and value is not UNSET:
            return value
    return None


def memory_draft(body: dict[str, Any]) -> MemoryDraft:
    """A memory from any of the body shapes clients send; metadata keys we do not know go to `custom`."""
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    project_id = _first(field(body, "projectId", "project_id"))
    scope = _first(field(body, "scope"), field(metadata, "scope"), "project" if isinstance(project_id, str) else None)
    scope_id = _first(field(body, "scope_id", "scopeId"), field(metadata, "scope_id", "scopeId"))
    if scope_id is None and scope == "project":
        scope_id = project_id
    nested_source = metadata.get("source")
    custom = _first(field(body, "custom"))
    if custom is None:
        extra = {k: v for k, v in metadata.items() if k not in _KNOWN_METADATA}
        if nested_source is not None and not isinstance(nested_source, dict):
            extra["source"] = nested_source  # CoSpec names itself here: `source: 'cospec-ai'`
        nested = metadata.get("custom") if isinstance(metadata.get("custom"), dict) else {}
        custom = {**nested, **extra} or None
    return MemoryDraft(
        content=_first(field(body, "content", "memory")),
        scope=scope,
        scope_id=scope_id,
        memory_type=_first(field(body, "memory_type", "memoryType", "type"), field(metadata, "memory_type", "type")),
        visibility=_first(field(body, "visibility"), field(metadata, "visibility")),
        tags=_first(field(body, "tags"), field(metadata, "tags")),
        source=_first(field(body, "source"), nested_source if isinstance(nested_source, dict) else None),
        custom=custom,
    )


async def _page(
    request: Request, caller: Caller, scope: Any, scope_id: Any, inherited: object = None
) -> tuple[list[Memory], int]:
    query = request.query_params
    found, total = await memories.list_memories(
        runtime(request),
        caller,
        scope,
        scope_id,
        memory_type=query.get("memory_type"),
        tags=[tag for value in query.getlist("tags") for tag in value.split(",") if tag.strip()],
        limit=query.get("limit"),
        offset=query.get("offset"),
        include_inherited=query.get("include_inherited") if inherited is None else inherited,
    )
    return [memory_json(m) for m in found], total


async def _listed(request: Request, caller: Caller, scope: Any, scope_id: Any, inherited: object = None) -> MemoryList:
    found, total = await _page(request, caller, scope, scope_id, inherited)
    return {"memories": found, "count": total}


@endpoint("GET", "/context/memories", operation="ListMemories", query=MemoryListQuery, response=MemoryList)
async def list_memories(request: Request, caller: Caller) -> Any:
    query = request.query_params
    return await _listed(request, caller, query.get("scope"), query.get("scope_id") or query.get("scopeId"))


@endpoint("POST", "/context/memories", status=201, operation="CreateMemory", body=CreateMemoryRequest, response=Memory)
async def create_memory(request: Request, caller: Caller) -> Any:
    memory = await memories.create_memory(runtime(request), caller, memory_draft(await read_body(request)))
    return memory_json(memory)


@endpoint(
    "PUT",
    "/context/memories/upsert",
    operation="UpsertMemory",
    body=UpsertMemoryRequest,
    query=UpsertQuery,
    response=Memory,
    others={201: Memory},
)
async def upsert_memory(request: Request, caller: Caller) -> Any:
    draft = memory_draft(await read_body(request))
    memory, created = await memories.upsert_memory(
        runtime(request), caller, draft, request.query_params.get("uniqueKey")
    )
    return JSONBody(memory_json(memory), status_code=201 if created else 200)


@endpoint("GET", "/context/memories/{id}", operation="GetMemory", response=Memory)
async def get_memory(request: Request, caller: Caller) -> Any:
    return memory_json(await memories.get_memory(runtime(request), caller, request.path_params["id"]))


@endpoint("PUT", "/context/memories/{id}", operation="UpdateMemory", body=UpdateMemoryRequest, response=Memory)
async def update_memory(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    memory = await memories.update_memory(
        runtime(request), caller, request.path_params["id"], field(body, "content", "memory")
    )
    return memory_json(memory)


@endpoint("DELETE", "/context/memories/{id}", status=204, operation="DeleteMemory")
async def delete_memory(request: Request, caller: Caller) -> Any:
    await memories.delete_memory(runtime(request), caller, request.path_params["id"])


@endpoint("POST", "/context/search", operation="SearchMemories", body=SearchMemoriesRequest, response=SearchResult)
async def search_memories(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    scope = field(body, "scope")
    scope_id = field(body, "scope_id", "scopeId")
    if isinstance(scope, dict):  # CoSpec sends `scope: {type, id}`
        scope, scope_id = scope.get("type"), scope.get("id")
    query = field(body, "query")
    hits = await memory_search.search_memories(
        runtime(request),
        caller,
        query,
        scope,
        scope_id,
        limit=field(body, "limit"),
        include_inherited=field(body, "include_inherited", "includeInherited"),
        types=_first(field(body, "types"), field(body, "memory_type")),
    )
    return search_json(hits, str(query))


@endpoint(
    "GET", "/context/memories/{id}/similar", operation="GetSimilarMemories", query=LimitQuery, response=SimilarResult
)
async def similar_memories(request: Request, caller: Caller) -> Any:
    hits = await memory_search.similar_memories(
        runtime(request), caller, request.path_params["id"], request.query_params.get("limit")
    )
    return similar_json(hits)


@endpoint("GET", "/context/stats", operation="GetStats", response=MemoryStatsBody)
async def stats(request: Request, caller: Caller) -> Any:
    rt = runtime(request)
    return stats_json(await memories.memory_stats(rt, caller), context_health(rt))


@endpoint(
    "GET",
    "/context/stats/{scope}/{scopeId}",
    operation="GetScopeStats",
    path_types={"scope": Scope},
    response=MemoryStatsBody,
)
async def scope_stats(request: Request, caller: Caller) -> Any:
    rt = runtime(request)
    path = request.path_params
    return stats_json(await memories.memory_stats(rt, caller, path["scope"], path["scopeId"]), context_health(rt))


@endpoint("GET", "/context/health", operation="HealthCheck", response=ContextHealth)
async def health(request: Request, caller: Caller) -> Any:
    return health_json(context_health(runtime(request)))


@endpoint("GET", "/context/info", operation="GetContextInfo", response=ContextInfo)
async def info(request: Request, caller: Caller) -> Any:
    current = context_health(runtime(request))
    info: ContextInfo = {
        "enabled": current.enabled,
        "auto_capture": current.auto_capture,
        "provider": current.provider,
        "model": current.model,
        "version": VERSION,
        "features": {name: current.enabled for name in FEATURES},
    }
    return info


@endpoint(
    "GET",
    "/context/{scope}/{scopeId}/memories",
    operation="GetScopeMemories",
    path_types={"scope": Scope},
    query=ScopeMemoriesQuery,
    response=MemoryList,
)
async def scope_memories(request: Request, caller: Caller) -> Any:
    return await _listed(request, caller, request.path_params["scope"], request.path_params["scopeId"])


@endpoint(
    "GET",
    "/projects/{projectId}/memories",
    operation="ListProjectMemories",
    query=PageQuery,
    response=list[Memory],
    headers={"X-Total-Count": int},
)
async def project_memories(request: Request, caller: Caller) -> Any:
    """A project's memories (the SDK's listMemories)

    The project scope's own memories, newest first, as a bare array; `X-Total-Count` says how many in all.
    """
    found, total = await _page(request, caller, "project", request.path_params["projectId"])
    return JSONBody(found, headers={"X-Total-Count": str(total), "Access-Control-Expose-Headers": "X-Total-Count"})


@endpoint("GET", "/projects/{projectId}/memories/stats", operation="GetProjectMemoryStats", response=MemoryStatsBody)
async def project_stats(request: Request, caller: Caller) -> Any:
    rt = runtime(request)
    found = await memories.memory_stats(rt, caller, "project", request.path_params["projectId"])
    return stats_json(found, context_health(rt))


@endpoint(
    "GET",
    "/context/hierarchical/{scope}/{scopeId}",
    operation="GetHierarchicalContext",
    path_types={"scope": Scope},
    query=PageQuery,
    response=MemoryList,
)
async def hierarchical_memories(request: Request, caller: Caller) -> Any:
    """The console's inherited view of a scope (contract §6): the scope's list with inheritance."""
    return await _listed(request, caller, request.path_params["scope"], request.path_params["scopeId"], True)


routes = [
    list_memories,
    create_memory,
    upsert_memory,
    similar_memories,
    get_memory,
    update_memory,
    delete_memory,
    search_memories,
    stats,
    scope_stats,
    health,
    info,
    scope_memories,
    project_memories,
    project_stats,
    hierarchical_memories,
]
