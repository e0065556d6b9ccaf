"""Importing documents into context memory and keeping them in sync (resolvers/imports.py,
memory_hierarchy.py; operations 82-90)."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import imports
from resolvers.memory_hierarchy import sync_hierarchy
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.memories import Visibility, scope_of


@strawberry.type(description="What an import did.")
class ImportResult:
    files_imported: int = strawberry.field(description="Files read.")
    memories_created: int = strawberry.field(description="Memories made.")
    chunks_created: int = strawberry.field(description="Chunks the text was split into.")
    errors: list[str] = strawberry.field(description="Files skipped, and why (binary, too large, …).")


@strawberry.type(description="What a sync did.")
class SyncResult:
    files_synced: int = strawberry.field(description="Files looked at.")
    memories_updated: int = strawberry.field(description="Memories changed in place.")
    memories_created: int = strawberry.field(description="Memories made (new or changed files).")
    memories_deleted: int = strawberry.field(description="Memories removed (changed or deleted files).")
    modified: int = strawberry.field(description="Files whose content changed.")
    new: int = strawberry.field(description="Files not tracked before.")
    deleted: int = strawberry.field(description="Tracked files that are gone.")


@strawberry.input(description="Where imported text goes and how its memories are labelled.")
class ImportTargetInput:
    scope_id: strawberry.ID = strawberry.field(description="The organization, workspace, project or task.")
    memory_type: str | None = strawberry.field(default=None, description="Their type; documentation by default.")
    visibility: Visibility | None = strawberry.field(default=None, description="How widely to share them.")
    tags: list[str] | None = strawberry.field(default=None, description="Labels for every chunk.")
    chunk_content: bool = strawberry.field(
        default=True, description="Split at headings and paragraphs (CONTEXT_CHUNK_CHARS), or keep one memory."
    )

    def target(self) -> imports.ImportTarget:
        scope, scope_id = scope_of("target.scopeId", self.scope_id)
        visibility = self.visibility.value if self.visibility else None
        return imports.ImportTarget(scope, scope_id, self.memory_type, visibility, self.tags, self.chunk_content)


@strawberry.input(description="A folder to import or sync.")
class FolderInput:
    folder_path: str = strawberry.field(
        description="Relative to the scope's folder, or absolute under its organization's."
    )
    recursive: bool = strawberry.field(default=True, description="Into subfolders too.")
    file_extensions: list[str] | None = strawberry.field(
        default=None, description="Which files; .md, .markdown and .txt when left out."
    )

    def request(self) -> imports.FolderRequest:
        return imports.FolderRequest(self.folder_path, self.recursive, self.file_extensions)


@strawberry.input(description="A file to import.")
class ImportDocumentInput:
    file_path: str = strawberry.field(
        description="Relative to the scope's folder, or absolute under its organization's."
    )
    target: ImportTargetInput = strawberry.field(description="Where its memories go.")


@strawberry.input(description="Text to import, sent by you.")
class ImportContentInput:
    content: str = strawberry.field(description="The text (at most CONTEXT_IMPORT_MAX_BYTES).")
    target: ImportTargetInput = strawberry.field(description="Where its memories go.")
    file_path: str | None = strawberry.field(default=None, description="A name for it (only labels the memories).")


@strawberry.input(description="A folder's files to import.")
class ImportFolderInput:
    folder: FolderInput = strawberry.field(description="The folder.")
    target: ImportTargetInput = strawberry.field(description="Where its memories go.")


@strawberry.input(description="A tracked file to sync.")
class SyncFileInput:
    file_path: str = strawberry.field(description="The file, as it was imported.")
    target: ImportTargetInput = strawberry.field(description="The scope it was imported into.")


@strawberry.input(description="A folder to sync.")
class SyncFolderInput:
    folder: FolderInput = strawberry.field(description="The folder.")
    target: ImportTargetInput = strawberry.field(description="The scope it was imported into.")


@strawberry.type(description="The result of an import.")
class ImportPayload(Payload):
    result: ImportResult | None = strawberry.field(default=None, description="What it did.")


@strawberry.type(description="The result of a sync.")
class SyncPayload(Payload):
    result: SyncResult | None = strawberry.field(default=None, description="What it did.")


@strawberry.type(description="The result of syncMemoryHierarchy.")
class SyncMemoryHierarchyPayload(Payload):
    memories_updated: int = strawberry.field(default=0, description="How many memories' stored names changed.")


def _imported(result: imports.ImportResult | None, errors: list[Any]) -> ImportPayload:
    return ImportPayload(result=ImportResult(**vars(result)) if result else None, user_errors=errors)


def _synced(result: imports.SyncResult | None, errors: list[Any]) -> SyncPayload:
    return SyncPayload(result=SyncResult(**vars(result)) if result else None, user_errors=errors)


@strawberry.type
class ImportMutations:
    @strawberry.mutation(description="Import a file under the scope's organization folder, and track it.")
    async def import_document(self, info: GraphInfo, input: ImportDocumentInput) -> ImportPayload:
        async def run() -> imports.ImportResult:
            return await imports.import_document(
                info.context.rt, info.context.caller, input.file_path, input.target.target()
            )

        return _imported(*await attempt(run()))

    @strawberry.mutation(description="Import text you send.")
    async def import_content(self, info: GraphInfo, input: ImportContentInput) -> ImportPayload:
        async def run() -> imports.ImportResult:
            return await imports.import_content(
                info.context.rt, info.context.caller, input.content, input.target.target(), input.file_path
            )

        return _imported(*await attempt(run()))

    @strawberry.mutation(description="Import (and track) a folder's files; unreadable ones are named in errors.")
    async def import_folder(self, info: GraphInfo, input: ImportFolderInput) -> ImportPayload:
        async def run() -> imports.ImportResult:
            return await imports.import_folder(
                info.context.rt, info.context.caller, input.folder.request(), input.target.target()
            )

        return _imported(*await attempt(run()))

    @strawberry.mutation(description="Re-import a tracked file when its content changed; forget it when it is gone.")
    async def sync_file(self, info: GraphInfo, input: SyncFileInput) -> SyncPayload:
        async def run() -> imports.SyncResult:
            return await imports.sync_file(info.context.rt, info.context.caller, input.file_path, input.target.target())

        return _synced(*await attempt(run()))

    @strawberry.mutation(description="Sync a folder's files: changed, new and deleted ones.")
    async def sync_folder(self, info: GraphInfo, input: SyncFolderInput) -> SyncPayload:
        async def run() -> imports.SyncResult:
            return await imports.sync_folder(
                info.context.rt, info.context.caller, input.folder.request(), input.target.target()
            )

        return _synced(*await attempt(run()))

    @strawberry.mutation(description="Rewrite the names stored in your memories' hierarchy after renames.")
    async def sync_memory_hierarchy(self, info: GraphInfo) -> SyncMemoryHierarchyPayload:
        result, errors = await attempt(sync_hierarchy(info.context.rt, info.context.caller))
        return SyncMemoryHierarchyPayload(memories_updated=result.memories_updated if result else 0, user_errors=errors)
