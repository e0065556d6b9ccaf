"""The memory batch paths of the SDK (create, delete) and the console (update), before `/context/memories/{id}`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import memory_batches
from resolvers.runtime import Caller
from rest_compat.http import endpoint, field, read_body, runtime
from rest_compat.memory_routes import memory_draft
from rest_compat.memory_shapes import memory_json
from rest_compat.spec.memories import BatchCreateRequest, BatchDeleted, BatchDeleteRequest, BatchUpdateRequest, Memory


@endpoint(
    "POST",
    "/context/memories/batch",
    status=201,
    operation="CreateMemoriesBatch",
    body=BatchCreateRequest,
    response=list[Memory],
)
async def create_batch(request: Request, caller: Caller) -> Any:
    """Create several memories at once: all, or none when one is wrong"""
    items = memory_batches.batch_of("memories", field(await read_body(request), "memories"))
    drafts = [memory_draft(item) if isinstance(item, dict) else None for item in items]
    return [memory_json(m) for m in await memory_batches.create_memories(runtime(request), caller, drafts)]


@endpoint(
    "PUT", "/context/memories/batch", operation="UpdateMemoriesBatch", body=BatchUpdateRequest, response=list[Memory]
)
async def update_batch(request: Request, caller: Caller) -> Any:
    """Change the text of several memories at once: all, or none when one is wrong"""
    updates = field(await read_body(request), "updates")
    return [memory_json(m) for m in await memory_batches.update_memories(runtime(request), caller, updates)]


@endpoint(
    "POST",
    "/context/memories/batch-delete",
    operation="DeleteMemoriesBatch",
    body=BatchDeleteRequest,
    response=BatchDeleted,
)
async def delete_batch(request: Request, caller: Caller) -> Any:
    """Delete several memories at once: all, or none when one cannot be seen"""
    ids = field(await read_body(request), "memoryIds", "ids")
    deleted = await memory_batches.delete_memories(runtime(request), caller, ids)
    return {"deleted": len(deleted), "memoryIds": deleted}


routes = [create_batch, update_batch, delete_batch]
