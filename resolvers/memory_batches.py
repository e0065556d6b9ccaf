"""Memories in batches (the SDK's and console's batch paths): all checked first, then all written, or none.

Each batch holds at most MAX_BATCH items; an error names the item, e.g. `memories[2].content`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from resolvers.errors import DomainError, invalid, not_found
from resolvers.memories import MAX_CONTENT, MemoryDraft, check_draft, new_memory
from resolvers.memory_scope import ScopePath, visible_memories, visible_scope
from resolvers.memory_writes import embed, save_memories, set_content
from resolvers.runtime import Caller, Runtime
from resolvers.validation import required_text
from store.models import Memory

MAX_BATCH = 100


def batch_of(field: str, value: object) -> list[Any]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH:
        raise invalid(field, f"must be a list of 1 to {MAX_BATCH} items")
    return value


@contextmanager
def _item(field: str, index: int) -> Iterator[None]:
    """Errors about one item name it: `content: ...` becomes `memories[2].content: ...`."""
    try:
        yield
    except DomainError as error:
        details = dict(error.details or {})
        inner = details.get("field")
        details["field"] = f"{field}[{index}]" + (f".{inner}" if inner else "")
        raise DomainError(error.code, f"{field}[{index}].{error.message}", details) from None


async def create_memories(rt: Runtime, caller: Caller, drafts: Sequence[MemoryDraft | None]) -> list[Memory]:
    """Create each draft (None stands for an item that was not an object)."""
    batch_of("memories", list(drafts))
    checked = []
    for index, draft in enumerate(drafts):
        if draft is None:
            raise invalid(f"memories[{index}]", "must be an object")
        with _item("memories", index):
            checked.append(check_draft(draft))
    paths: dict[tuple[str, str], ScopePath] = {}
    async with rt.db.read() as session:
        for index, item in enumerate(checked):
            key = (item.scope, item.scope_id)
            if key not in paths:
                with _item("memories", index):
                    paths[key] = await visible_scope(session, caller, *key)
    vectors = await embed(rt, [item.content for item in checked])
    created = [new_memory(paths[(item.scope, item.scope_id)], item, caller.user_id) for item in checked]
    for memory, item, vector in zip(created, checked, vectors, strict=True):
        set_content(rt, memory, item.content, vector)
    await save_memories(rt, created, vectors)
    return created


async def _visible(rt: Runtime, caller: Caller, field: str, ids: Sequence[str]) -> dict[str, Memory]:
    """The memories by id; 404 naming the first one the caller may not see."""
    async with rt.db.read() as session:
        found = {
            m.id: m for m in await session.scalars(select(Memory).where(Memory.id.in_(ids), visible_memories(caller)))
        }
    for index, memory_id in enumerate(ids):
        if memory_id not in found:
            with _item(field, index):
                raise not_found("memory", memory_id)
    return found


def _distinct(field: str, ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise invalid(field, "must not name a memory twice")
    return ids


async def delete_memories(rt: Runtime, caller: Caller, memory_ids: object) -> list[str]:
    listed = batch_of("memoryIds", memory_ids)
    ids = _distinct("memoryIds", [required_text(f"memoryIds[{i}]", item, 64) for i, item in enumerate(listed)])
    await _visible(rt, caller, "memoryIds", ids)
    await save_memories(rt, [], removed=ids)
    return ids


async def update_memories(rt: Runtime, caller: Caller, updates: object) -> list[Memory]:
    """Each `{id, content}` gets its new text (and embedding)."""
    ids, texts = [], []
    for index, item in enumerate(batch_of("updates", updates)):
        if not isinstance(item, dict):
            raise invalid(f"updates[{index}]", "must be an object with id and content")
        with _item("updates", index):
            ids.append(required_text("id", item.get("id"), 64))
            texts.append(required_text("content", item.get("content"), MAX_CONTENT))
    _distinct("updates", ids)
    found = await _visible(rt, caller, "updates", ids)
    vectors = await embed(rt, texts)
    changed = [found[memory_id] for memory_id in ids]
    for memory, text, vector in zip(changed, texts, vectors, strict=True):
        set_content(rt, memory, text, vector)
    await save_memories(rt, changed, vectors)
    return changed
