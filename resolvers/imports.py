"""Documents into memories (operations 82-88): import by path, by content or a folder; sync by hash.

Every file imported by path is tracked per scope (path relative to BASE_ROOT, SHA-256, memory ids). A
sync re-imports a file only when its hash changed, replacing that file's chunks and nothing else; a
folder sync also imports new files and removes the memories of files that are gone. Counting: chunks
made for new files are `memories_created`, chunks made for changed files (replacing their old ones)
`memories_updated`, chunks removed with deleted files `memories_deleted`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import context_files
from resolvers.chunking import chunk_text
from resolvers.context_files import TextFile
from resolvers.errors import invalid
from resolvers.memories import MAX_CONTENT, scope_path, tags_of
from resolvers.memory_scope import ScopePath, check_scope, visible_scope_ids
from resolvers.memory_writes import embed, save_memories, set_content
from resolvers.pages import Listing, Ordering
from resolvers.runtime import Caller, Runtime
from resolvers.validation import UNSET, one_of, optional_bool, optional_text, required_text
from store.models import Memory, TrackedFile, aggregate_time, new_id, utcnow
from store.vector_index import SCOPE_RANKS

DEFAULT_TYPE = "documentation"


@dataclass(frozen=True)
class ImportTarget:
    """Where imported text goes and how its memories are labelled, as the caller sent it."""

    scope: object
    scope_id: object
    memory_type: object = None
    visibility: object = None
    tags: object = None
    chunk_content: object = None


@dataclass(frozen=True)
class FolderRequest:
    """A folder to import or sync, as the caller sent it: recursive by default, markdown and text files."""

    folder_path: object
    recursive: object = None
    file_extensions: object = None


@dataclass(frozen=True)
class ImportOptions:
    memory_type: str
    visibility: str
    tags: list[str]
    chunk: bool


@dataclass
class ImportResult:
    files_imported: int = 0
    memories_created: int = 0
    chunks_created: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class SyncResult:
    files_synced: int = 0
    memories_updated: int = 0
    memories_created: int = 0
    memories_deleted: int = 0
    modified: int = 0
    new: int = 0
    deleted: int = 0


@dataclass
class _FilePlan:
    """One file's change: its new chunks (none when it is gone) and how to track it."""

    relative: str
    file_hash: str | None
    memories: list[Memory]
    texts: list[str]


def import_options(
    scope: str, memory_type: object, visibility: object, tags: object, chunk_content: object
) -> ImportOptions:
    return ImportOptions(
        memory_type=optional_text("memory_type", memory_type, 64) or DEFAULT_TYPE,
        visibility=scope if visibility in (None, UNSET, "") else one_of("visibility", visibility, tuple(SCOPE_RANKS)),
        tags=tags_of(tags),
        chunk=optional_bool("chunk_content", chunk_content, True),
    )


async def _resolve(rt: Runtime, caller: Caller, target: ImportTarget) -> tuple[ScopePath, ImportOptions]:
    """The target's scope (404 when the caller may not see it) and its checked labels."""
    scope, scope_id = check_scope(target.scope, target.scope_id)
    options = import_options(scope, target.memory_type, target.visibility, target.tags, target.chunk_content)
    return await scope_path(rt, caller, scope, scope_id), options


def _plan(
    rt: Runtime,
    caller: Caller,
    scope: ScopePath,
    options: ImportOptions,
    text: str,
    label: str | None,
    file_hash: str | None,
    tracked: bool,
) -> _FilePlan:
    """The memories for one document: its chunks, or the whole text as one."""
    if options.chunk:
        chunks = [(c.text, c.line_start, c.line_end) for c in chunk_text(text, rt.settings.context_chunk_chars)]
    else:
        if len(text) > MAX_CONTENT:
            raise invalid("content", f"is longer than {MAX_CONTENT} characters; import it with chunk_content")
        chunks = [(text.strip(), 1, max(1, len(text.splitlines())))] if text.strip() else []
    now = utcnow().isoformat()
    memories = []
    for index, (_, line_start, line_end) in enumerate(chunks):
        source: dict[str, Any] = {"type": "file" if label else "api", "line_start": line_start, "line_end": line_end}
        source.update(chunk_index=index, chunk_count=len(chunks), import_timestamp=now)
        if label:
            source.update(file_path=label, original_format=Path(label).suffix.lstrip(".") or "text")
        if file_hash:
            source["file_hash"] = file_hash
        memories.append(
            Memory(
                id=new_id(),
                scope=scope.scope,
                scope_id=scope.scope_id,
                memory_type=options.memory_type,
                visibility=options.visibility,
                hierarchy=scope.hierarchy(),
                tags=options.tags,
                source=source,
                file_path=label if tracked else None,
                created_by_id=caller.user_id,
            )
        )
    return _FilePlan(label or "", file_hash, memories, [text for text, _, _ in chunks])


async def _apply(rt: Runtime, scope: ScopePath, plans: Sequence[_FilePlan], synced: bool) -> list[str]:
    """Store the plans' chunks, drop the old chunks of their files, and track (or untrack) the files.
    Returns the ids of the chunks dropped."""
    texts = [text for plan in plans for text in plan.texts]
    memories = [memory for plan in plans for memory in plan.memories]
    vectors = await embed(rt, texts)
    for memory, text, vector in zip(memories, texts, vectors, strict=True):
        set_content(rt, memory, text, vector)
    files = [plan.relative for plan in plans if plan.relative]
    async with rt.db.read() as session:
        old = (
            await session.scalars(
                select(Memory.id).where(Memory.scope_id == scope.scope_id, Memory.file_path.in_(files))
            )
        ).all()

    async def track(session: AsyncSession) -> None:
        now = utcnow()
        known = await session.scalars(
            select(TrackedFile).where(TrackedFile.scope_id == scope.scope_id, TrackedFile.file_path.in_(files))
        )
        records = {record.file_path: record for record in known}
        for plan in plans:
            if not plan.relative:
                continue
            record = records.get(plan.relative)
            if plan.file_hash is None:
                if record is not None:
                    await session.execute(delete(TrackedFile).where(TrackedFile.id == record.id))
                continue
            if record is None:
                record = TrackedFile(scope=scope.scope, scope_id=scope.scope_id, file_path=plan.relative)
                session.add(record)
                records[plan.relative] = record
            record.file_hash, record.memory_ids = plan.file_hash, [m.id for m in plan.memories]
            if plan.memories:  # a file keeps the type, visibility and tags it was imported with
                first = plan.memories[0]
                record.memory_type, record.visibility, record.tags = first.memory_type, first.visibility, first.tags
            record.last_import = now
            record.last_sync = now if synced else record.last_sync

    await save_memories(rt, memories, vectors, removed=old, also=track)
    return list(old)


async def _read(rt: Runtime, scope: ScopePath, field_name: str, raw: object) -> TextFile:
    return await asyncio.to_thread(context_files.read_named, rt, scope, field_name, raw)


async def import_document(rt: Runtime, caller: Caller, file_path: object, target: ImportTarget) -> ImportResult:
    """Import one file (replacing what an earlier import of it made in this scope) and track it."""
    path, options = await _resolve(rt, caller, target)
    document = await _read(rt, path, "file_path", file_path)
    plan = _plan(rt, caller, path, options, document.text, document.relative, document.sha256, tracked=True)
    if not plan.memories:
        raise invalid("file_path", f"{document.relative} has no text to import")
    await _apply(rt, path, [plan], synced=False)
    return ImportResult(1, len(plan.memories), len(plan.memories) if options.chunk else 0)


async def import_content(
    rt: Runtime, caller: Caller, content: object, target: ImportTarget, file_path: object = None
) -> ImportResult:
    """Import text the caller sends (no filesystem access needed); `file_path` only labels it."""
    text = required_text("content", content, rt.settings.context_import_max_bytes)
    label = optional_text("file_path", file_path, 1024)
    path, options = await _resolve(rt, caller, target)
    plan = _plan(rt, caller, path, options, text, label, None, tracked=False)
    await _apply(rt, path, [plan], synced=False)
    return ImportResult(1, len(plan.memories), len(plan.memories) if options.chunk else 0)


async def _folder_files(
    rt: Runtime, scope: ScopePath, request: FolderRequest
) -> tuple[Path, list[TextFile], list[str]]:
    """The folder and its readable text files; the files that could not be read are named in errors."""
    deep = optional_bool("recursive", request.recursive, True)
    extensions = context_files.extensions_of("file_extensions", request.file_extensions)
    return await asyncio.to_thread(context_files.read_folder, rt, scope, request.folder_path, deep, extensions)


async def import_folder(rt: Runtime, caller: Caller, folder: FolderRequest, target: ImportTarget) -> ImportResult:
    """Import (and track) every readable file of the folder with one of the extensions; the others are
    named in `errors`."""
    path, options = await _resolve(rt, caller, target)
    _, files, errors = await _folder_files(rt, path, folder)
    plans = [_plan(rt, caller, path, options, f.text, f.relative, f.sha256, tracked=True) for f in files]
    plans = [plan for plan in plans if plan.memories]
    if plans:
        await _apply(rt, path, plans, synced=False)
    created = sum(len(plan.memories) for plan in plans)
    return ImportResult(len(plans), created, created, errors)


async def _tracked(rt: Runtime, scope_id: str) -> dict[str, TrackedFile]:
    async with rt.db.read() as session:
        rows = await session.scalars(select(TrackedFile).where(TrackedFile.scope_id == scope_id))
        return {row.file_path: row for row in rows}


async def _sync(
    rt: Runtime,
    caller: Caller,
    scope: ScopePath,
    new_options: ImportOptions,
    present: Sequence[TextFile],
    gone: Sequence[str],
) -> SyncResult:
    """Re-import the files whose hash changed or that are new; untrack and forget the ones gone."""
    tracked = await _tracked(rt, scope.scope_id)
    result = SyncResult()
    plans = []
    for document in present:
        record = tracked.get(document.relative)
        if record is not None and record.file_hash == document.sha256:
            continue
        options = ImportOptions(record.memory_type, record.visibility, record.tags, True) if record else new_options
        plan = _plan(rt, caller, scope, options, document.text, document.relative, document.sha256, tracked=True)
        plans.append(plan)
        if record is None:
            result.new, result.memories_created = result.new + 1, result.memories_created + len(plan.memories)
        else:
            result.modified, result.memories_updated = result.modified + 1, result.memories_updated + len(plan.memories)
    plans += [_FilePlan(relative, None, [], []) for relative in gone]
    result.deleted = len(gone)
    if plans:
        dropped = await _apply(rt, scope, plans, synced=True)
        gone_ids = {i for relative in gone for i in tracked[relative].memory_ids}
        result.memories_deleted = len(gone_ids.intersection(dropped))
    result.files_synced = result.new + result.modified + result.deleted
    return result


async def sync_file(rt: Runtime, caller: Caller, file_path: object, target: ImportTarget) -> SyncResult:
    path, options = await _resolve(rt, caller, target)
    real = context_files.resolve(rt, path, "file_path", file_path)
    relative = context_files.relative_name(rt, real)
    if not real.exists():
        if relative not in await _tracked(rt, path.scope_id):
            raise invalid("file_path", f"{relative} does not exist and is not tracked")
        return await _sync(rt, caller, path, options, [], [relative])
    document = await asyncio.to_thread(context_files.read_text, rt, real, "file_path")
    return await _sync(rt, caller, path, options, [document], [])


async def sync_folder(rt: Runtime, caller: Caller, folder: FolderRequest, target: ImportTarget) -> SyncResult:
    path, options = await _resolve(rt, caller, target)
    root, files, _ = await _folder_files(rt, path, folder)
    prefix = context_files.relative_name(rt, root).rstrip("/") + "/"
    on_disk = {document.relative for document in files}
    tracked = await _tracked(rt, path.scope_id)
    gone = [relative for relative in tracked if relative.startswith(prefix) and relative not in on_disk]
    return await _sync(rt, caller, path, options, files, gone)


@dataclass(frozen=True)
class SyncStats:
    total_tracked_files: int
    last_sync: datetime | None
    files_by_scope: dict[str, int]


async def tracked_files(rt: Runtime, caller: Caller, scope: object, scope_id: object) -> list[TrackedFile]:
    checked_scope, checked_id = check_scope(scope, scope_id)
    await scope_path(rt, caller, checked_scope, checked_id)
    return sorted((await _tracked(rt, checked_id)).values(), key=lambda record: record.file_path)


async def sync_stats(rt: Runtime, caller: Caller, scope: object, scope_id: object) -> SyncStats:
    checked_scope, checked_id = check_scope(scope, scope_id)
    await scope_path(rt, caller, checked_scope, checked_id)
    return (await sync_stats_by_scope(rt, caller, [checked_id]))[checked_id]


TRACKED_FILE_ORDER = Ordering("tracked-files", ((TrackedFile.file_path, False), (TrackedFile.id, False)))


def tracked_file_listing(caller: Caller) -> Listing:
    """Files tracked in the scopes the caller may see, by scope, by path."""
    return Listing(
        select(TrackedFile).where(TrackedFile.scope_id.in_(visible_scope_ids(caller))),
        TRACKED_FILE_ORDER,
        TrackedFile.scope_id,
    )


async def sync_stats_by_scope(rt: Runtime, caller: Caller, scope_ids: Sequence[str]) -> dict[str, SyncStats]:
    """`sync_stats` of several visible scopes in one statement."""
    last = func.max(func.coalesce(TrackedFile.last_sync, TrackedFile.last_import))
    query = (
        select(TrackedFile.scope_id, TrackedFile.scope, func.count(), last)
        .where(TrackedFile.scope_id.in_(scope_ids), TrackedFile.scope_id.in_(visible_scope_ids(caller)))
        .group_by(TrackedFile.scope_id, TrackedFile.scope)
    )
    async with rt.db.read() as session:
        rows = (await session.execute(query)).all()
    found = {
        scope_id: SyncStats(number, aggregate_time(moment), {scope: number}) for scope_id, scope, number, moment in rows
    }
    return {scope_id: found.get(scope_id, SyncStats(0, None, {})) for scope_id in scope_ids}
