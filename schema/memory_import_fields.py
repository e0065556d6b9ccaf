"""Imports, sync and task context in GraphQL, mixed into the Query and Mutation roots."""

from __future__ import annotations

import dataclasses

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import imports, task_context
from resolvers.memory_hierarchy import sync_hierarchy
from schema.context import Context
from schema.memory_types import ImportResult, Memory, SyncResult, TaskContext, TrackedFile

GraphInfo = Info[Context, None]


def _import_result(result: imports.ImportResult) -> ImportResult:
    return ImportResult(**dataclasses.asdict(result))


def _sync_result(result: imports.SyncResult) -> SyncResult:
    return SyncResult(**dataclasses.asdict(result))


@strawberry.type
class MemoryImportQueries:
    @strawberry.field(description="Files imported by path into a scope, with their hashes and memories.")
    async def tracked_files(self, info: GraphInfo, scope: str, scope_id: strawberry.ID) -> list[TrackedFile]:
        found = await imports.tracked_files(info.context.rt, info.context.caller, scope, scope_id)
        return [TrackedFile.of(record) for record in found]

    @strawberry.field(description="The memories a task was given and the dialog memory it produced.")
    async def task_context(self, info: GraphInfo, project_id: strawberry.ID, task_id: strawberry.ID) -> TaskContext:
        found = await task_context.task_context(info.context.rt, info.context.caller, project_id, task_id)
        return TaskContext(
            injected_memories=[Memory.of(m) for m in found.injected],
            generated_memory=Memory.of(found.generated) if found.generated else None,
            retrieved=found.retrieved,
        )


@strawberry.input(description="Where imported text goes and how its memories are labelled.")
class ImportTargetInput:
    scope: str
    scope_id: strawberry.ID
    memory_type: str | None = None
    visibility: str | None = None
    tags: list[str] | None = None
    chunk_content: bool = True

    def target(self) -> imports.ImportTarget:
        return imports.ImportTarget(
            self.scope, self.scope_id, self.memory_type, self.visibility, self.tags, self.chunk_content
        )


@strawberry.input(description="A folder to import or sync: recursive by default, .md, .markdown and .txt files.")
class FolderInput:
    folder_path: str
    recursive: bool = True
    file_extensions: list[str] | None = None

    def request(self) -> imports.FolderRequest:
        return imports.FolderRequest(self.folder_path, self.recursive, self.file_extensions)


@strawberry.type
class MemoryImportMutations:
    @strawberry.mutation(description="Import a file under the scope's organization folder (relative to the scope's).")
    async def import_document(self, info: GraphInfo, file_path: str, target: ImportTargetInput) -> ImportResult:
        rt, caller = info.context.rt, info.context.caller
        return _import_result(await imports.import_document(rt, caller, file_path, target.target()))

    @strawberry.mutation(description="Import text sent by the caller; `filePath` only labels it.")
    async def import_content(
        self, info: GraphInfo, content: str, target: ImportTargetInput, file_path: str | None = None
    ) -> ImportResult:
        rt, caller = info.context.rt, info.context.caller
        return _import_result(await imports.import_content(rt, caller, content, target.target(), file_path))

    @strawberry.mutation(description="Import (and track) the folder's files; unreadable ones are named in errors.")
    async def import_folder(self, info: GraphInfo, folder: FolderInput, target: ImportTargetInput) -> ImportResult:
        rt, caller = info.context.rt, info.context.caller
        return _import_result(await imports.import_folder(rt, caller, folder.request(), target.target()))

    @strawberry.mutation(description="Re-import a tracked file when its hash changed; forget it when it is gone.")
    async def sync_file(self, info: GraphInfo, file_path: str, target: ImportTargetInput) -> SyncResult:
        rt, caller = info.context.rt, info.context.caller
        return _sync_result(await imports.sync_file(rt, caller, file_path, target.target()))

    @strawberry.mutation(description="Sync every file of the folder: changed, new and deleted ones.")
    async def sync_folder(self, info: GraphInfo, folder: FolderInput, target: ImportTargetInput) -> SyncResult:
        rt, caller = info.context.rt, info.context.caller
        return _sync_result(await imports.sync_folder(rt, caller, folder.request(), target.target()))

    @strawberry.mutation(description="Refresh the names stored in your memories' hierarchy; returns how many.")
    async def sync_memory_hierarchy(self, info: GraphInfo) -> int:
        return (await sync_hierarchy(info.context.rt, info.context.caller)).memories_updated

    @strawberry.mutation(description="Keep a task's dialog as its `task-dialog` memory.")
    async def capture_task_dialog(
        self,
        info: GraphInfo,
        task_id: strawberry.ID,
        project_id: strawberry.ID,
        content: str,
        metadata: JSON | None = None,
    ) -> Memory:
        memory = await task_context.capture_task_dialog(
            info.context.rt, info.context.caller, task_id, project_id, content, metadata
        )
        return Memory.of(memory)
