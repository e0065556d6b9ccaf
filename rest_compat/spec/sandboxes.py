"""Sandboxes ("flexy", operations 51-63)."""

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from resolvers.sandbox_operations import OPERATION_STATUSES, OPERATION_TYPES
from rest_compat.spec import Id, Timestamp, optional_text
from rest_compat.spec.workflows import Progress

SandboxStatus = Literal["running", "stopped", "paused", "exited", "removing", "dead", "created"]
OperationStatus = Literal[OPERATION_STATUSES]


class SandboxPort(TypedDict):
    sandboxPort: int
    hostPort: NotRequired[int]
    protocol: Literal["tcp", "udp"]


class SandboxInfoResponse(TypedDict):
    """`id` equals `sandboxId`; `folderMapping` is `hostPath:containerPath`; `status` is `dead` when the
    backend no longer has the sandbox; `isolation` says how the local backend confines it."""

    sandboxId: str
    id: str
    name: str
    image: str
    status: SandboxStatus
    ports: list[SandboxPort]
    ip: NotRequired[str]
    projectId: str
    folderMapping: str
    workingDir: str
    backend: str
    isolation: NotRequired[str]
    createdAt: Timestamp
    updatedAt: NotRequired[Timestamp]


class SandboxCreationResponse(SandboxInfoResponse):
    imageName: str
    aiConfig: NotRequired[dict[str, Any]]


class CreateSandboxRequest(TypedDict):
    """One sandbox per project; `imageName` defaults to the user's `dockerImage`, else `IMAGE_NAME`."""

    projectId: Id
    name: NotRequired[optional_text(200)]
    folderMapping: NotRequired[optional_text(4096)]
    aiConfig: NotRequired[dict[str, Any] | None]
    imageName: NotRequired[optional_text(255)]


class SandboxImageResponse(TypedDict):
    id: str
    name: str
    repository: str
    tags: list[str]
    isDefault: bool
    available: bool


class SandboxImagesListResponse(TypedDict):
    images: list[SandboxImageResponse]
    total: int
    defaultImageId: str


class AsyncOperationResponse(TypedDict):
    operationId: str
    status: OperationStatus
    message: str


class CancelOperationResponse(TypedDict):
    operationId: str
    message: str
    status: OperationStatus


class OperationStep(TypedDict):
    id: str
    name: str
    status: Literal["pending", "running", "completed", "failed"]
    startTime: NotRequired[Timestamp]
    endTime: NotRequired[Timestamp]
    duration: NotRequired[int]
    message: NotRequired[str]
    error: NotRequired[str]


class SandboxOperation(TypedDict):
    """Progress counts finished steps; times are ISO instants, `duration` milliseconds."""

    id: str
    operationId: str
    type: Literal[OPERATION_TYPES]
    status: OperationStatus
    sandboxId: NotRequired[str]
    sandboxName: NotRequired[str]
    projectId: NotRequired[str]
    userId: NotRequired[str]
    progress: Progress
    error: NotRequired[str]
    startTime: Timestamp
    endTime: NotRequired[Timestamp]
    duration: NotRequired[int]
    steps: list[OperationStep]
    metadata: NotRequired[dict[str, Any]]


class OperationList(TypedDict):
    operations: list[SandboxOperation]


class OperationListQuery(TypedDict, total=False):
    status: list[OperationStatus]
