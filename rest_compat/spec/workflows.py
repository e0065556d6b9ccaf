"""Workflow definitions and versions (operations 22-30) and executions (31-37)."""

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from resolvers.agents import TASK_TYPES
from resolvers.executions import STATUSES as EXECUTION_STATUSES
from resolvers.executions import TRIGGERS
from resolvers.workflow_definition import STEP_TYPES, TRANSITION_TYPES
from resolvers.workflows import STATUSES
from rest_compat.spec import Id, Name, Timestamp, between, optional_text

WorkflowStatus = Literal[STATUSES]
TaskType = Literal[TASK_TYPES]


class WorkflowLink(TypedDict):
    """A markdown playbook the step points at."""

    name: str
    path: str
    description: str
    phase: str
    id: NotRequired[str]


class WorkflowStep(TypedDict):
    """A step runs as a task when it has a `prompt` (or `qwenCodePrompt`) or `hasExecutableTask`."""

    id: str
    title: str
    description: str
    type: Literal[STEP_TYPES]
    hasExecutableTask: NotRequired[bool]
    qwenCodePrompt: NotRequired[str]
    prompt: NotRequired[str]
    taskType: NotRequired[TaskType]
    taskFile: NotRequired[str]
    taskId: NotRequired[str]
    workflows: NotRequired[list[WorkflowLink]]


class WorkflowPhase(TypedDict):
    id: str
    title: str
    description: str
    color: str
    icon: NotRequired[str]
    titleEn: NotRequired[str]
    steps: list[WorkflowStep]


WorkflowTransition = TypedDict(
    "WorkflowTransition",
    {"from": str, "to": str, "label": NotRequired[str], "type": Literal[TRANSITION_TYPES]},
)


class WorkflowDefinition(TypedDict):
    phases: list[WorkflowPhase]
    transitions: list[WorkflowTransition]


class WorkflowResponse(TypedDict):
    """The working copy; `version` and `currentVersion` are the same number."""

    id: str
    name: str
    description: str
    definition: WorkflowDefinition
    status: WorkflowStatus
    version: int
    currentVersion: int
    isTemplate: bool
    createdAt: Timestamp
    updatedAt: NotRequired[Timestamp]
    changeDescription: NotRequired[str]
    organizationId: NotRequired[str]


class WorkflowVersionResponse(TypedDict):
    """An immutable snapshot, in the union of the console's WorkflowVersion and the spec's WorkflowResponse."""

    id: str
    workflowId: str
    name: str
    description: str
    definition: WorkflowDefinition
    status: Literal["published"]
    version: int
    currentVersion: int
    createdAt: Timestamp
    updatedAt: Timestamp
    changeDescription: NotRequired[str]


class ListWorkflowsQuery(TypedDict, total=False):
    status: WorkflowStatus


class CreateWorkflowRequest(TypedDict):
    """`definition` is checked (each error names its path); `{}` (or null) is an empty definition."""

    name: Name
    description: NotRequired[optional_text(4096)]
    definition: dict[str, Any] | None
    organizationId: NotRequired[optional_text(36)]


class UpdateWorkflowRequest(TypedDict, total=False):
    """Updating a published workflow stores a new version with `changeDescription`."""

    name: Name
    description: optional_text(4096)
    definition: dict[str, Any]
    changeDescription: optional_text(4096)


class ChangeWorkflowStatusRequest(TypedDict):
    status: WorkflowStatus


class CloneWorkflowRequest(TypedDict):
    name: Name
    description: NotRequired[optional_text(4096)]
    organizationId: NotRequired[optional_text(36)]


ExecutionStatus = Literal[EXECUTION_STATUSES]
PhaseStatus = Literal["pending", "initializing", "running", "completed", "failed", "skipped"]


class Progress(TypedDict):
    message: str
    percentage: int
    total: int
    current: int


class StepExecution(TypedDict):
    """Times are ISO instants, `duration` milliseconds."""

    id: str
    stepId: str
    name: str
    description: NotRequired[str]
    status: Literal["pending", "running", "completed", "failed", "skipped"]
    taskId: NotRequired[str]
    startTime: NotRequired[Timestamp]
    endTime: NotRequired[Timestamp]
    duration: NotRequired[int]
    output: NotRequired[str]
    error: NotRequired[str]


class StepExecutionLookup(StepExecution):
    executionId: str
    phaseId: str


class PhaseExecution(TypedDict):
    id: str
    phaseId: str
    name: str
    description: NotRequired[str]
    status: PhaseStatus
    steps: list[StepExecution]
    currentStep: int
    progress: Progress
    startTime: NotRequired[Timestamp]
    endTime: NotRequired[Timestamp]
    duration: NotRequired[int]
    error: NotRequired[str]
    outputSummary: NotRequired[str]


class ExecutionMetadata(TypedDict, total=False):
    """`workflowVersion` is the version the execution runs."""

    inputParameters: dict[str, Any]
    triggeredBy: Literal[TRIGGERS]
    workflowVersion: between(1)
    workflowVersionId: str


class WorkflowExecution(TypedDict):
    """`startTime` is when it started, or when it was created while it is pending."""

    id: str
    workflowId: str
    workflowName: str
    projectId: str
    userId: NotRequired[str]
    status: ExecutionStatus
    phases: list[PhaseExecution]
    currentPhase: int
    totalPhases: int
    progress: Progress
    startTime: Timestamp
    endTime: NotRequired[Timestamp]
    duration: NotRequired[int]
    error: NotRequired[str]
    createdAt: Timestamp
    metadata: ExecutionMetadata


class ExecutionList(TypedDict):
    executions: list[WorkflowExecution]


class WorkflowExecutionResponse(TypedDict):
    executionId: str
    status: ExecutionStatus
    message: str


class CreateWorkflowExecutionRequest(TypedDict):
    projectId: Id
    metadata: NotRequired[ExecutionMetadata | None]


class ExecutionListQuery(TypedDict, total=False):
    status: list[ExecutionStatus]
