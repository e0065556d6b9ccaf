"""Context memories (operations 69-90) in the mem0-style shape of contract §4.7, and the console's batch paths."""

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field, StringConstraints
from typing_extensions import TypedDict

from resolvers.memories import SOURCE_TYPES
from resolvers.memory_scope import SCOPES
from rest_compat.spec import Id, Limit, LongText, Offset, Timestamp, at_most, free_text, optional_text, text

Scope = Literal[SCOPES]


class Hierarchy(TypedDict):
    """Where the memory's scope sits; the levels below the scope are null."""

    org_id: str
    org_name: str
    workspace_id: str | None
    workspace_name: str | None
    project_id: str | None
    project_name: str | None
    task_id: str | None
    task_name: str | None


class MemorySource(TypedDict):
    """Provenance; imported chunks also carry `file_path`, `line_start`, `line_end`, `file_hash`, ..."""

    type: Literal[SOURCE_TYPES]


class MemoryMetadata(TypedDict):
    hierarchy: Hierarchy
    memory_type: str
    scope: Scope
    scope_id: str
    visibility: Scope
    tags: list[str]
    source: MemorySource
    custom: NotRequired[dict[str, Any]]


class Memory(TypedDict):
    """`memory` is the text; `score` (higher is nearer) comes with search results only."""

    id: str
    memory: str
    hash: str
    metadata: MemoryMetadata
    created_at: Timestamp
    updated_at: Timestamp
    score: NotRequired[float]


class MemoryList(TypedDict):
    """A page of memories, newest first; `count` is how many match in all."""

    memories: list[Memory]
    count: int


class SimilarResult(TypedDict):
    """`results` and `memories` are the same list, nearest first; `count` and `total` its length."""

    results: list[Memory]
    memories: list[Memory]
    count: int
    total: int


class SearchResult(SimilarResult):
    query: str


class MemoryStats(TypedDict):
    """`total`/`totalMemories` count the memories, `totalSize`/`averageSize` their text in characters,
    `lastUpdated` is the latest change (null when there are none)."""

    total: int
    by_type: dict[str, int]
    scope: NotRequired[Scope]
    scope_id: NotRequired[str]
    context_enabled: bool
    auto_capture_enabled: bool
    provider: str
    totalMemories: int
    totalSize: int
    averageSize: int
    lastUpdated: Timestamp | None


class ContextHealth(TypedDict):
    status: Literal["healthy", "unhealthy", "disabled", "loading"]
    enabled: bool
    auto_capture: bool
    provider: str
    model: str
    memories: NotRequired[int]
    error: NotRequired[str]


class ContextInfo(TypedDict):
    enabled: bool
    auto_capture: bool
    provider: str
    model: str
    version: str
    features: dict[str, bool]


class ImportResult(TypedDict):
    files_imported: int
    memories_created: int
    chunks_created: int
    errors: list[str]


class ChangeCounts(TypedDict):
    modified: int
    new: int
    deleted: int


class SyncResult(TypedDict):
    files_synced: int
    memories_updated: int
    memories_created: int
    memories_deleted: int
    total_changes: ChangeCounts


class SyncStats(TypedDict):
    total_tracked_files: int
    last_sync: Timestamp | None
    files_by_scope: dict[str, int]


class TrackedFile(TypedDict):
    file_path: str
    file_hash: str
    scope: Scope
    scope_id: str
    memory_ids: list[str]
    last_import: Timestamp
    last_sync: Timestamp | None


class TrackedFiles(TypedDict):
    files: list[TrackedFile]


class HierarchySync(TypedDict):
    success: bool
    scopes: int
    memories_updated: int


Tags = at_most(50, text(100))
Types = at_most(50, text(64)) | Annotated[str, StringConstraints(pattern=r"^[^,\x00]{0,64}(,[^,\x00]{0,64}){0,49}$")]
"""Memory types, as a list or comma-joined (blank items ignored)."""


class SourceDraft(TypedDict, total=False):
    """Provenance; further keys are kept as sent."""

    type: Literal[SOURCE_TYPES]


class MemoryDraft(TypedDict):
    """Also accepted: CoSpec's camelCase (`scopeId`, `type`, `metadata.*`) and the console's
    `{projectId, content, metadata: {scope, memory_type, ...}}`."""

    content: LongText
    scope: Scope
    scope_id: Id
    memory_type: NotRequired[optional_text(64)]
    visibility: NotRequired[Scope | None]
    tags: NotRequired[Tags | None]
    source: NotRequired[SourceDraft | None]
    custom: NotRequired[dict[str, Any] | None]


class CreateMemoryRequest(MemoryDraft):
    pass


class UpsertMemoryRequest(MemoryDraft):
    """With `uniqueKey`, the memory of the same scope whose metadata has that key's value is updated."""


class UpsertQuery(TypedDict, total=False):
    uniqueKey: str


class UpdateMemoryRequest(TypedDict):
    content: LongText


class MemoryListQuery(TypedDict):
    scope: Scope
    scope_id: Id
    memory_type: NotRequired[free_text(64)]
    tags: NotRequired[Tags]
    limit: NotRequired[Limit]
    offset: NotRequired[Offset]


class ScopeMemoriesQuery(TypedDict, total=False):
    memory_type: free_text(64)
    tags: Tags
    limit: Limit
    offset: Offset
    include_inherited: Literal["true", "false"]


class PageQuery(TypedDict, total=False):
    limit: Limit
    offset: Offset


class LimitQuery(TypedDict, total=False):
    limit: Limit


class SearchMemoriesRequest(TypedDict):
    query: LongText
    scope: Scope
    scope_id: Id
    limit: NotRequired[Limit | None]
    include_inherited: NotRequired[bool | None]
    types: NotRequired[Types | None]


class BatchCreateRequest(TypedDict):
    """At most 100; all are checked before any is created."""

    memories: Annotated[list[MemoryDraft], Field(min_length=1, max_length=100)]


class BatchDeleteRequest(TypedDict):
    """At most 100; every one must exist for the caller before any is deleted."""

    memoryIds: Annotated[list[text(64)], Field(min_length=1, max_length=100, json_schema_extra={"uniqueItems": True})]


class MemoryUpdate(TypedDict):
    id: text(64)
    content: LongText


class BatchUpdateRequest(TypedDict):
    """At most 100, each memory once; every one must exist for the caller before any is changed."""

    updates: Annotated[list[MemoryUpdate], Field(min_length=1, max_length=100)]


class BatchDeleted(TypedDict):
    deleted: int
    memoryIds: list[str]


class ScopeQuery(TypedDict):
    scope: Scope
    scope_id: Id


class ImportTargetFields(TypedDict):
    scope: Scope
    scope_id: Id
    memory_type: NotRequired[optional_text(64)]
    visibility: NotRequired[Scope | None]
    tags: NotRequired[Tags | None]
    chunk_content: NotRequired[bool | None]


class ImportDocumentRequest(ImportTargetFields):
    """`file_path` is relative to the scope's folder, or absolute (also as `/base-root/...`), inside its
    organization's folder."""

    file_path: text(4096)


class ImportDocumentContentRequest(ImportTargetFields):
    content: LongText
    file_path: NotRequired[optional_text(4096)]


class ImportFolderRequest(ImportTargetFields):
    folder_path: text(4096)
    recursive: NotRequired[bool | None]
    file_extensions: NotRequired[list[text(32)] | None]


class SyncFileRequest(ImportTargetFields):
    file_path: text(4096)


class SyncFolderRequest(ImportFolderRequest):
    pass
