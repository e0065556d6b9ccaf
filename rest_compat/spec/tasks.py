"""Tasks (operations 38-48) and the console's and SDK's task paths (contract §6)."""

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from resolvers.tasks import KINDS, TASK_STATUSES
from rest_compat.spec import (
    Id,
    Limit,
    LongText,
    Name,
    Offset,
    Timestamp,
    at_most,
    between,
    free_text,
    optional_text,
    text,
)
from rest_compat.spec.agents import AgentStep, DiffSummary, Isolation, TaskUsage, Worktree
from rest_compat.spec.memories import Memory, Types
from rest_compat.spec.tree import StepStatus, WorkflowState
from rest_compat.spec.workflows import TaskType

TaskStatus = Literal[TASK_STATUSES]


class Artifact(TypedDict):
    """A file the task created or changed, relative to the project folder."""

    path: str
    type: str
    size: NotRequired[int]
    createdAt: Timestamp


class ContextUsage(TypedDict):
    retrieved: int
    injected: int
    generated: int


class TaskRecord(TypedDict):
    """A task as the console's TaskExecution reads it; `stepId` is `adhoc` for ad-hoc tasks, `duration`
    milliseconds, `result` the output of a completed task, `terminalOutput` the output so far."""

    id: str
    projectId: str
    stepId: str
    sandboxId: str
    prompt: str
    parameters: NotRequired[dict[str, Any]]
    status: TaskStatus
    result: NotRequired[str]
    error: NotRequired[str]
    startTime: NotRequired[Timestamp]
    endTime: NotRequired[Timestamp]
    userId: NotRequired[str]
    isAdhoc: bool
    title: str
    description: NotRequired[str]
    artifacts: list[Artifact]
    terminalOutput: NotRequired[str]
    duration: NotRequired[int]
    exitCode: NotRequired[int]
    contextMemoryIds: list[str]
    taskType: TaskType
    createdAt: Timestamp
    executionId: NotRequired[str]
    generatedMemoryId: NotRequired[str]
    contextUsage: ContextUsage
    sessionId: NotRequired[str]
    """The agent's session, once its CLI named it (a follow-up resumes it)."""
    parentTaskId: NotRequired[str]
    """The task a follow-up continues."""
    conversationId: str
    """Its conversation's first task (its own id when it is the first)."""
    model: NotRequired[str]
    usage: TaskUsage
    isolation: Isolation
    worktree: NotRequired[Worktree]
    diff: NotRequired[DiffSummary]
    """A finished worktree task's changes (`GET …/diff` has the files and the patch)."""


class ConversationResponse(TypedDict):
    """Every task of the conversation, its first task first."""

    conversationId: str
    tasks: list[TaskRecord]


class TaskDetails(TaskRecord):
    """A task with its agent steps' first page (`GET …/agent-steps` pages on)."""

    agentSteps: list[AgentStep]
    agentStepsTotal: int


class TaskListQuery(TypedDict, total=False):
    """The answer is the page as a bare array, newest first; `X-Total-Count` says how many match in all."""

    status: list[TaskStatus]
    type: Literal[KINDS]
    search: free_text(200)
    limit: Offset
    offset: Offset


class TaskResponse(TypedDict):
    taskId: str
    message: str


class WorkflowStepExecutionResponse(TypedDict):
    taskId: str
    message: str
    stepId: str


class RerunResponse(WorkflowStepExecutionResponse):
    """The new task; `originalTaskId` is the one re-run."""

    originalTaskId: str


class TaskCancellationResponse(TypedDict):
    message: str
    taskId: str


class TaskLimitResponse(TypedDict):
    """`sandboxId` is null while the project has no sandbox (the limit applies to the next one)."""

    message: str
    limit: int
    sandboxId: str | None


class QueueStatusResponse(TypedDict):
    """`pending` counts queued tasks; `sandboxId` is null while the project has no sandbox."""

    pending: int
    running: int
    projectId: str
    sandboxId: str | None


class ExecuteTaskRequest(TypedDict):
    stepId: text(100)
    prompt: LongText
    parameters: NotRequired[dict[str, Any] | None]


class ExecuteAdhocTaskRequest(TypedDict):
    """`taskType` (empty or null) defaults to the project's first AI window's type, else `qwen`."""

    title: Name
    description: NotRequired[optional_text(4096)]
    prompt: LongText
    parameters: NotRequired[dict[str, Any] | None]
    taskType: NotRequired[TaskType | Literal[""] | None]
    contextMemoryIds: NotRequired[at_most(100, Id) | None]
    isolation: NotRequired[Isolation | Literal[""] | None]
    """`worktree` (a git worktree and branch of its own; the project folder must be a git repository) or
    `shared`; none: the project's default."""


class ExecuteWorkflowStepRequest(TypedDict, total=False):
    additionalInput: optional_text(100_000)
    parameters: dict[str, Any] | None


class ExecuteStepRequest(ExecuteWorkflowStepRequest):
    """The console's form of operation 45: the step in the body."""

    stepId: text(100)


class SetTaskLimitRequest(TypedDict):
    limit: between(1, 64)


class ActiveDialog(TypedDict):
    memoryId: str
    messageCount: int


class TaskContextResponse(TypedDict):
    injectedMemories: list[Memory]
    generatedMemory: Memory | None
    activeDialog: ActiveDialog | None
    usage: ContextUsage


class SaveTaskOutputRequest(TypedDict):
    content: LongText
    type: NotRequired[optional_text(64)]
    summary: NotRequired[optional_text(2000)]
    tags: NotRequired[at_most(50, text(100)) | None]


class SaveTaskOutputResponse(TypedDict):
    message: str
    memory: Memory


class GetRelevantContextRequest(TypedDict):
    """Workspace and organization memories shared down to the project are included unless switched off."""

    prompt: LongText
    maxMemories: NotRequired[Limit | None]
    types: NotRequired[Types | None]
    includeWorkspace: NotRequired[bool | None]
    includeOrg: NotRequired[bool | None]


class RelevantContextQuery(TypedDict):
    """The query form of operation 48; without `projectId`, every memory the caller may see is ranked."""

    prompt: text(8000)
    projectId: NotRequired[Id]
    maxMemories: NotRequired[Limit]
    types: NotRequired[at_most(50, text(64))]
    includeWorkspace: NotRequired[bool]
    includeOrg: NotRequired[bool]


class GetRelevantContextResponse(TypedDict):
    memories: list[Memory]


class CaptureTaskDialogRequest(TypedDict):
    projectId: text(36)
    content: LongText
    metadata: NotRequired[dict[str, Any] | None]


class DialogRequest(TypedDict, total=False):
    """What to tell an agent task next (`message`, or the SDK's `content`), or a bash task's dialog to keep
    (`content`); the project comes from the path."""

    message: LongText
    content: LongText
    metadata: dict[str, Any] | None


class DialogResponse(TypedDict):
    """A follow-up was queued (`operationId` and `taskId` are its id, `status` its status), or the dialog was
    kept as a memory (`status` is `completed`, `operationId` the memory's id)."""

    operationId: str
    status: TaskStatus
    message: str
    memory: NotRequired[Memory]
    taskId: NotRequired[str]
    parentTaskId: NotRequired[str]
    conversationId: NotRequired[str]
    sessionId: NotRequired[str]


class TaskOutput(TypedDict):
    """What the task printed: `output` the whole kept output so far, `result` the output of a completed task."""

    taskId: str
    status: TaskStatus
    output: str
    result: NotRequired[str]
    error: NotRequired[str]
    exitCode: NotRequired[int]


class TaskStep(TypedDict):
    """A task's step as its latest `step_progress` event tells it (status in the SDK's words)."""

    stepId: str
    step: str
    status: Literal["pending", "running", "completed", "failed", "skipped"]
    progress: int
    message: NotRequired[str]
    timestamp: Timestamp


class TaskStepStatusResponse(TypedDict):
    """The task's step marked in the project's workflow tracker."""

    taskId: str
    message: str
    stepId: str
    status: StepStatus
    workflowState: WorkflowState
