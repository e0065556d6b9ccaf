"""Document import, file sync and hierarchy sync over REST (operations 82-88, 90)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import imports
from resolvers.memory_hierarchy import sync_hierarchy
from resolvers.runtime import Caller
from rest_compat.http import endpoint, field, read_body, runtime
from rest_compat.shapes import iso
from rest_compat.spec import memories as spec
from rest_compat.spec.memories import (
    HierarchySync,
    ImportDocumentContentRequest,
    ImportDocumentRequest,
    ImportFolderRequest,
    ImportResult,
    ScopeQuery,
    SyncFileRequest,
    SyncFolderRequest,
    SyncResult,
    SyncStats,
    TrackedFiles,
)
from store.models import TrackedFile


def import_json(result: imports.ImportResult) -> ImportResult:
    return {
        "files_imported": result.files_imported,
        "memories_created": result.memories_created,
        "chunks_created": result.chunks_created,
        "errors": result.errors,
    }


def sync_json(result: imports.SyncResult) -> SyncResult:
    return {
        "files_synced": result.files_synced,
        "memories_updated": result.memories_updated,
        "memories_created": result.memories_created,
        "memories_deleted": result.memories_deleted,
        "total_changes": {"modified": result.modified, "new": result.new, "deleted": result.deleted},
    }


def tracked_json(record: TrackedFile) -> spec.TrackedFile:
    return {
        "file_path": record.file_path,
        "file_hash": record.file_hash,
        "scope": record.scope,
        "scope_id": record.scope_id,
        "memory_ids": record.memory_ids,
        "last_import": iso(record.last_import),
        "last_sync": iso(record.last_sync),
    }


def import_target(body: dict[str, Any]) -> imports.ImportTarget:
    return imports.ImportTarget(
        scope=field(body, "scope"),
        scope_id=field(body, "scope_id", "scopeId"),
        memory_type=field(body, "memory_type", "memoryType"),
        visibility=field(body, "visibility"),
        tags=field(body, "tags"),
        chunk_content=field(body, "chunk_content", "chunkContent"),
    )


def folder_request(body: dict[str, Any]) -> imports.FolderRequest:
    return imports.FolderRequest(
        field(body, "folder_path", "folderPath"),
        field(body, "recursive"),
        field(body, "file_extensions", "fileExtensions"),
    )


@endpoint(
    "POST",
    "/context/import/document",
    status=201,
    operation="ImportDocument",
    body=ImportDocumentRequest,
    response=ImportResult,
)
async def import_document(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    path = field(body, "file_path", "filePath")
    return import_json(await imports.import_document(runtime(request), caller, path, import_target(body)))


@endpoint(
    "POST",
    "/context/import/document/content",
    status=201,
    operation="ImportDocumentContent",
    body=ImportDocumentContentRequest,
    response=ImportResult,
)
async def import_content(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    label = field(body, "file_path", "filePath")
    result = await imports.import_content(runtime(request), caller, field(body, "content"), import_target(body), label)
    return import_json(result)


@endpoint(
    "POST",
    "/context/import/folder",
    status=201,
    operation="ImportFolder",
    body=ImportFolderRequest,
    response=ImportResult,
)
async def import_folder(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    return import_json(await imports.import_folder(runtime(request), caller, folder_request(body), import_target(body)))


@endpoint("POST", "/context/sync/file", operation="SyncFile", body=SyncFileRequest, response=SyncResult)
async def sync_file(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    path = field(body, "file_path", "filePath")
    return sync_json(await imports.sync_file(runtime(request), caller, path, import_target(body)))


@endpoint("POST", "/context/sync/folder", operation="SyncFolder", body=SyncFolderRequest, response=SyncResult)
async def sync_folder(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    return sync_json(await imports.sync_folder(runtime(request), caller, folder_request(body), import_target(body)))


@endpoint("GET", "/context/sync/stats", operation="GetSyncStats", query=ScopeQuery, response=SyncStats)
async def sync_stats(request: Request, caller: Caller) -> Any:
    query = request.query_params
    stats = await imports.sync_stats(runtime(request), caller, query.get("scope"), query.get("scope_id"))
    return {
        "total_tracked_files": stats.total_tracked_files,
        "last_sync": iso(stats.last_sync),
        "files_by_scope": stats.files_by_scope,
    }


@endpoint("GET", "/context/sync/files", operation="GetTrackedFiles", query=ScopeQuery, response=TrackedFiles)
async def tracked_files(request: Request, caller: Caller) -> Any:
    query = request.query_params
    files = await imports.tracked_files(runtime(request), caller, query.get("scope"), query.get("scope_id"))
    return {"files": [tracked_json(record) for record in files]}


@endpoint("POST", "/context/sync/hierarchy", operation="SyncHierarchy", response=HierarchySync)
async def hierarchy(request: Request, caller: Caller) -> Any:
    result = await sync_hierarchy(runtime(request), caller)
    return {"success": True, "scopes": result.scopes, "memories_updated": result.memories_updated}


routes = [import_document, import_content, import_folder, sync_file, sync_folder, sync_stats, tracked_files, hierarchy]
