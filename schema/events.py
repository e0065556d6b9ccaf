"""Progress events as typed GraphQL objects (resolvers/events.py): the `Event` interface, one type per
event, and the `ProjectEvent` union the subscriptions stream.

Events are the rows of the event log the REST progress WebSocket also streams; `id` orders them, and
passing the last id seen as `after` resumes a stream with nothing lost and nothing repeated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, NewType

import strawberry
from graphql import IntValueNode, StringValueNode, ValueNode
from strawberry.scalars import JSON

from resolvers.events import StoredEvent, parse_after
from schema.context import GraphInfo
from schema.projects import Project
from schema.tasks import Task, TaskArtifact

if TYPE_CHECKING:
    from schema.agents import MergeKind
    from schema.executions import Execution, StageStatus
    from schema.sandboxes import OperationStatus, OperationType, Progress, Sandbox, SandboxOperation
    from schema.usage import Budget, TokenUsage


def _parse_event_id(value: object) -> int:
    parsed = parse_after(value)
    if parsed is None:
        raise ValueError("an event id is a non-negative whole number")
    return parsed


def _parse_event_id_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> int:
    if isinstance(node, IntValueNode | StringValueNode):
        return _parse_event_id(node.value)
    raise ValueError("an event id is a non-negative whole number")


EventId = NewType("EventId", int)
EVENT_ID_SCALAR = strawberry.scalar(
    name="EventId",
    description="An event's place in the event log: a whole number (sent as a string), larger for later events.",
    serialize=str,
    parse_value=_parse_event_id,
    parse_literal=_parse_event_id_literal,
)

TASK_ENDS = ("task_completed", "task_failed", "task_cancelled")
EXECUTION_ENDS = ("workflow_execution_completed", "workflow_execution_failed", "workflow_execution_cancelled")


@strawberry.enum(description="What happened (the `type` of the REST progress WebSocket's frames).")
class EventType(Enum):
    TASK_QUEUED = strawberry.enum_value("task_queued", description="A task was queued.")
    TASK_STARTED = strawberry.enum_value("task_started", description="A task started running.")
    STEP_PROGRESS = strawberry.enum_value("step_progress", description="A workflow-step task's step moved on.")
    OUTPUT = strawberry.enum_value("output", description="A task wrote output.")
    ARTIFACT = strawberry.enum_value("artifact", description="A task created or changed a file.")
    TASK_COMPLETED = strawberry.enum_value("task_completed", description="A task completed.")
    TASK_FAILED = strawberry.enum_value("task_failed", description="A task failed.")
    TASK_CANCELLED = strawberry.enum_value("task_cancelled", description="A task was cancelled.")
    WORKFLOW_EXECUTION_CREATED = strawberry.enum_value("workflow_execution_created", description="Made.")
    WORKFLOW_EXECUTION_STARTED = strawberry.enum_value("workflow_execution_started", description="Started.")
    WORKFLOW_EXECUTION_PAUSED = strawberry.enum_value("workflow_execution_paused", description="Paused.")
    WORKFLOW_EXECUTION_RESUMED = strawberry.enum_value("workflow_execution_resumed", description="Resumed.")
    WORKFLOW_EXECUTION_COMPLETED = strawberry.enum_value("workflow_execution_completed", description="Completed.")
    WORKFLOW_EXECUTION_FAILED = strawberry.enum_value("workflow_execution_failed", description="Failed.")
    WORKFLOW_EXECUTION_CANCELLED = strawberry.enum_value("workflow_execution_cancelled", description="Cancelled.")
    WORKFLOW_PHASE_STARTED = strawberry.enum_value("workflow_phase_started", description="A phase began.")
    WORKFLOW_PHASE_COMPLETED = strawberry.enum_value("workflow_phase_completed", description="A phase ended.")
    SANDBOX_CREATED = strawberry.enum_value("sandbox_created", description="A sandbox was made.")
    SANDBOX_STARTED = strawberry.enum_value("sandbox_started", description="A sandbox started.")
    SANDBOX_STOPPED = strawberry.enum_value("sandbox_stopped", description="A sandbox stopped.")
    SANDBOX_ERROR = strawberry.enum_value("sandbox_error", description="A sandbox action failed.")
    SANDBOX_DELETED = strawberry.enum_value("sandbox_deleted", description="A sandbox was deleted.")
    SANDBOX_OPERATION_PROGRESS = strawberry.enum_value(
        "sandbox_operation_progress", description="A background sandbox operation moved on."
    )
    AGENT_SESSION = strawberry.enum_value("agent_session", description="An agent task's CLI named its session.")
    AGENT_MESSAGE = strawberry.enum_value("agent_message", description="An agent wrote a message.")
    TOOL_CALL = strawberry.enum_value("tool_call", description="An agent called a tool.")
    TOOL_RESULT = strawberry.enum_value("tool_result", description="A tool call gave its result back.")
    USAGE = strawberry.enum_value("usage", description="An agent task's tokens and cost so far.")
    BUDGET_WARNING = strawberry.enum_value("budget_warning", description="80% of a budget is spent.")
    BUDGET_EXCEEDED = strawberry.enum_value(
        "budget_exceeded", description="A budget is spent: a task was refused or stopped, or ended past it."
    )
    WORKTREE_MERGED = strawberry.enum_value("worktree_merged", description="A task's branch was merged.")
    WORKTREE_DISCARDED = strawberry.enum_value(
        "worktree_discarded", description="A task's worktree and branch were removed."
    )
    WORKTREE_REMOVED = strawberry.enum_value(
        "worktree_removed", description="A finished task's worktree was cleaned up after its retention."
    )
    OTHER = strawberry.enum_value("other", description="A kind of event this schema does not describe yet.")


@strawberry.interface(description="Something that happened in a project.")
class Event:
    id: EventId = strawberry.field(description="Its place in the event log; pass it as `after` to resume.")
    type: EventType = strawberry.field(description="What happened.")
    time: datetime = strawberry.field(description="When.")
    stored: strawberry.Private[StoredEvent]

    @strawberry.field(description="The project it happened in.")
    async def project(self, info: GraphInfo) -> Project | None:
        found = await info.context.loaders.project.load(self.stored.project_id)
        return Project.of(found) if found else None


def _field(event: StoredEvent, key: str) -> Any:
    return event.payload.get(key)


def _text(event: StoredEvent, key: str) -> str | None:
    value = event.payload.get(key)
    return value if isinstance(value, str) else None


def _number(event: StoredEvent, key: str) -> int | None:
    value = event.payload.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@strawberry.interface(description="Something that happened to a task.")
class TaskEvent(Event):
    @strawberry.field(description="The task, as it is now.")
    async def task(self, info: GraphInfo) -> Task | None:
        found = await info.context.loaders.task.load(self.stored.subject_id)
        return Task.of(found) if found else None

    @strawberry.field(description="The workflow execution whose step the task runs; null for other tasks.")
    async def execution(self, info: GraphInfo) -> Annotated[Execution, strawberry.lazy("schema.executions")] | None:
        from schema.executions import Execution

        execution_id = _text(self.stored, "executionId")
        if execution_id is None:
            return None
        found = await info.context.loaders.execution.load(execution_id)
        return Execution.of(found) if found else None


@strawberry.type(description="A task was queued.")
class TaskQueued(TaskEvent):
    title: str | None = strawberry.field(description="The task's title.")
    prompt: str | None = strawberry.field(description="What it will run.")


@strawberry.type(description="A task started running.")
class TaskStarted(TaskEvent):
    title: str | None = strawberry.field(description="The task's title.")


@strawberry.type(description="A workflow-step task's step moved on (the SDK's step_progress).")
class StepProgress(TaskEvent):
    step_id: str | None = strawberry.field(description="The step's id in the definition.")
    step_name: str | None = strawberry.field(description="The step's title.")
    status: Annotated[StageStatus, strawberry.lazy("schema.executions")] | None = strawberry.field(
        description="The step's state, in the SDK's words (running, not in-progress)."
    )
    progress: int | None = strawberry.field(description="0 to 100.")


@strawberry.type(description="A task wrote output.")
class TaskOutput(TaskEvent):
    text: str = strawberry.field(description="The chunk of terminal output, to append to what came before.")


@strawberry.type(description="A task created or changed a file.")
class TaskArtifactWritten(TaskEvent):
    artifact: TaskArtifact | None = strawberry.field(description="The file.")


@strawberry.type(description="A task completed.")
class TaskCompleted(TaskEvent):
    output: str | None = strawberry.field(description="Its whole output (the last 256 KiB).")
    duration: int | None = strawberry.field(description="Milliseconds it ran.")


@strawberry.type(description="A task failed.")
class TaskFailed(TaskEvent):
    error: str | None = strawberry.field(description="Why.")
    output: str | None = strawberry.field(description="Its output up to then.")


@strawberry.type(description="A task was cancelled.")
class TaskCancelled(TaskEvent):
    title: str | None = strawberry.field(description="The task's title.")
    reason: str | None = strawberry.field(description="Why, when not by hand (a budget, for one).")


@strawberry.type(description="An agent task's CLI named the session it works in.")
class AgentSessionStarted(TaskEvent):
    session_id: str | None = strawberry.field(description="The session, as the CLI named it.")
    model: str | None = strawberry.field(description="The model, when the CLI named it.")


@strawberry.type(description="An agent wrote a message.")
class AgentMessage(TaskEvent):
    index: int | None = strawberry.field(description="The step's place among the task's steps, from 1.")
    text: str = strawberry.field(description="What it wrote.")


@strawberry.type(description="An agent called a tool.")
class AgentToolCall(TaskEvent):
    index: int | None = strawberry.field(description="The step's place among the task's steps, from 1.")
    tool_call_id: str | None = strawberry.field(description="The CLI's id of the call (its result has it too).")
    tool_name: str | None = strawberry.field(description="The tool.")
    input: JSON | None = strawberry.field(description="What it was given.")


@strawberry.type(description="A tool call gave its result back.")
class AgentToolResult(TaskEvent):
    index: int | None = strawberry.field(description="The step's place among the task's steps, from 1.")
    tool_call_id: str | None = strawberry.field(description="The CLI's id of the call.")
    ok: bool | None = strawberry.field(description="Whether it succeeded.")
    output: str | None = strawberry.field(description="What it gave back (trimmed).")


@strawberry.type(description="An agent task's tokens and cost so far (about once a second, and at its end).")
class UsageUpdated(TaskEvent):
    model: str | None = strawberry.field(description="The model that did most of the work.")
    final: bool = strawberry.field(description="Whether these are the CLI's own final figures.")
    usage: Annotated[TokenUsage, strawberry.lazy("schema.usage")] = strawberry.field(description="The task's totals.")


@strawberry.enum(description="What a spent budget caused.")
class BudgetAction(Enum):
    REFUSED = strawberry.enum_value("refused", description="A task was refused before it started.")
    STOPPED = strawberry.enum_value("stopped", description="A running task was stopped (cancelled).")
    REACHED = strawberry.enum_value("reached", description="A task ended past the limit; the next are refused.")


@strawberry.interface(description="Something that happened to a budget.")
class BudgetEvent(Event):
    limit_usd: float | None = strawberry.field(description="The budget's USD limit then.")
    limit_tokens: int | None = strawberry.field(description="Its token limit then, if any.")
    spent_usd: float | None = strawberry.field(description="What was spent against it then, in USD.")
    spent_tokens: int | None = strawberry.field(description="The tokens spent against it then.")
    ratio: float | None = strawberry.field(description="How much of its tightest limit was spent then (1 = all).")

    @strawberry.field(description="The budget, as it is now.")
    async def budget(self, info: GraphInfo) -> Annotated[Budget, strawberry.lazy("schema.usage")] | None:
        from schema.usage import Budget

        shaped = _field(self.stored, "budget")
        found = await info.context.loaders.budget.load(shaped["id"]) if isinstance(shaped, dict) else None
        return Budget.of(found) if found else None

    @strawberry.field(description="The task it concerns; null for a task refused before it was queued.")
    async def task(self, info: GraphInfo) -> Task | None:
        task_id = _text(self.stored, "taskId")
        found = await info.context.loaders.task.load(task_id) if task_id else None
        return Task.of(found) if found else None


@strawberry.type(description="80% of a budget is spent (given once per period and limits).")
class BudgetWarning(BudgetEvent):
    pass


@strawberry.type(description="A budget is spent.")
class BudgetExceeded(BudgetEvent):
    action: BudgetAction | None = strawberry.field(description="What it caused.")


@strawberry.type(description="A task's worktree was merged, discarded or cleaned up (see type).")
class WorktreeChanged(TaskEvent):
    branch: str | None = strawberry.field(description="The task's branch.")
    base_branch: str | None = strawberry.field(description="The branch it merged into.")
    merged: Annotated[MergeKind, strawberry.lazy("schema.agents")] | None = strawberry.field(
        description="What a merge did."
    )
    commit: str | None = strawberry.field(description="The base branch's commit after a merge.")
    branch_deleted: bool | None = strawberry.field(description="Whether its branch went with it.")


@strawberry.interface(description="Something that happened to a workflow execution.")
class ExecutionEvent(Event):
    @strawberry.field(description="The execution, as it is now.")
    async def execution(self, info: GraphInfo) -> Annotated[Execution, strawberry.lazy("schema.executions")] | None:
        from schema.executions import Execution

        found = await info.context.loaders.execution.load(self.stored.subject_id)
        return Execution.of(found) if found else None


@strawberry.type(description="A workflow execution was made.")
class ExecutionCreated(ExecutionEvent):
    input: JSON | None = strawberry.field(description="The input parameters it was given.")


@strawberry.type(description="A workflow execution started, paused, resumed or was cancelled (see type).")
class ExecutionChanged(ExecutionEvent):
    pass


@strawberry.type(description="A workflow execution completed.")
class ExecutionCompleted(ExecutionEvent):
    output: str | None = strawberry.field(description="What its last phase produced.")
    duration: int | None = strawberry.field(description="Milliseconds it ran.")


@strawberry.type(description="A workflow execution failed.")
class ExecutionFailed(ExecutionEvent):
    error: str | None = strawberry.field(description="Why.")


@strawberry.type(description="A phase of a workflow execution began or ended (see type).")
class PhaseChanged(ExecutionEvent):
    phase_id: str | None = strawberry.field(description="The phase's id in the definition.")
    phase_name: str | None = strawberry.field(description="Its title.")
    output: str | None = strawberry.field(description="What it produced, once it ended.")


@strawberry.interface(description="Something that happened to a sandbox.")
class SandboxEvent(Event):
    @strawberry.field(description="The sandbox, as it is now; null once deleted.")
    async def sandbox(self, info: GraphInfo) -> Annotated[Sandbox, strawberry.lazy("schema.sandboxes")] | None:
        from schema.sandboxes import Sandbox

        sandbox_id = _text(self.stored, "sandboxId") or self.stored.subject_id
        view = await info.context.loaders.sandbox.load(sandbox_id)
        return Sandbox.of(view) if view else None


@strawberry.type(description="A sandbox was made, started, stopped or deleted (see type).")
class SandboxChanged(SandboxEvent):
    image: str | None = strawberry.field(description="Its image, when it was made.")


@strawberry.type(description="A sandbox action failed.")
class SandboxFailed(SandboxEvent):
    error: str | None = strawberry.field(description="What failed and why.")


@strawberry.type(description="A background sandbox operation moved on.")
class SandboxOperationProgressed(Event):
    operation_type: Annotated[OperationType, strawberry.lazy("schema.sandboxes")] | None = strawberry.field(
        description="What the operation does."
    )
    status: Annotated[OperationStatus, strawberry.lazy("schema.sandboxes")] | None = strawberry.field(
        description="Where it stands."
    )
    progress: Annotated[Progress, strawberry.lazy("schema.sandboxes")] | None = strawberry.field(
        description="How far it has come."
    )

    @strawberry.field(description="The operation, as it is now.")
    async def operation(
        self, info: GraphInfo
    ) -> Annotated[SandboxOperation, strawberry.lazy("schema.sandboxes")] | None:
        from schema.sandboxes import SandboxOperation

        found = await info.context.loaders.operation.load(self.stored.subject_id)
        return SandboxOperation.of(found) if found else None


@strawberry.type(description="An event of a kind this schema does not describe yet.")
class OtherEvent(Event):
    name: str = strawberry.field(description="Its type as the event log names it.")
    payload: JSON = strawberry.field(description="Its fields as stored.")


ProjectEvent = Annotated[
    TaskQueued
    | TaskStarted
    | StepProgress
    | TaskOutput
    | TaskArtifactWritten
    | TaskCompleted
    | TaskFailed
    | TaskCancelled
    | ExecutionCreated
    | ExecutionChanged
    | ExecutionCompleted
    | ExecutionFailed
    | PhaseChanged
    | SandboxChanged
    | SandboxFailed
    | SandboxOperationProgressed
    | AgentSessionStarted
    | AgentMessage
    | AgentToolCall
    | AgentToolResult
    | UsageUpdated
    | BudgetWarning
    | BudgetExceeded
    | WorktreeChanged
    | OtherEvent,
    strawberry.union("ProjectEvent", description="Any event of a project; every member implements `Event`."),
]


def _operation_fields(event: StoredEvent) -> dict[str, Any]:
    from schema.sandboxes import OperationStatus, OperationType, Progress

    kind, status, progress = _field(event, "operationType"), _field(event, "status"), _field(event, "progress")
    return {
        "operation_type": OperationType(kind) if kind in {t.value for t in OperationType} else None,
        "status": OperationStatus(status) if status in {s.value for s in OperationStatus} else None,
        "progress": Progress(**progress) if isinstance(progress, dict) else None,
    }


def _queued(base: dict[str, Any], event: StoredEvent) -> TaskQueued:
    given = _field(event, "input")
    prompt = given.get("prompt") if isinstance(given, dict) else None
    return TaskQueued(**base, title=_text(event, "task"), prompt=prompt if isinstance(prompt, str) else None)


def _step_progress(base: dict[str, Any], event: StoredEvent) -> StepProgress:
    from schema.executions import StageStatus

    status = _text(event, "status")
    return StepProgress(
        **base,
        step_id=_text(event, "stepId"),
        step_name=_text(event, "step"),
        status=StageStatus(status) if status in {s.value for s in StageStatus} else None,
        progress=_number(event, "progress"),
    )


def _artifact(base: dict[str, Any], event: StoredEvent) -> TaskArtifactWritten:
    artifact = _field(event, "artifact")
    return TaskArtifactWritten(**base, artifact=TaskArtifact.of(artifact) if isinstance(artifact, dict) else None)


def _phase(base: dict[str, Any], event: StoredEvent) -> PhaseChanged:
    return PhaseChanged(
        **base, phase_id=_text(event, "phaseId"), phase_name=_text(event, "phase"), output=_text(event, "output")
    )


def _execution_changed(base: dict[str, Any], event: StoredEvent) -> ExecutionChanged:
    return ExecutionChanged(**base)


def _sandbox_changed(base: dict[str, Any], event: StoredEvent) -> SandboxChanged:
    return SandboxChanged(**base, image=_text(event, "image"))


def _usage(base: dict[str, Any], event: StoredEvent) -> UsageUpdated:
    from resolvers.usage import Totals
    from schema.usage import TokenUsage

    totals = Totals(
        *(_number(event, key) or 0 for key in ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens")),
        float(_field(event, "costUsd") or 0),
        _text(event, "costSource"),
    )
    return UsageUpdated(
        **base, model=_text(event, "model"), final=_field(event, "final") is True, usage=TokenUsage.of(totals)
    )


def _budget_fields(event: StoredEvent) -> dict[str, Any]:
    budget, spent = _field(event, "budget") or {}, _field(event, "spent") or {}
    ratio = _field(event, "ratio")
    return {
        "limit_usd": budget.get("limitUsd"),
        "limit_tokens": budget.get("limitTokens"),
        "spent_usd": spent.get("usd"),
        "spent_tokens": spent.get("tokens"),
        "ratio": float(ratio) if isinstance(ratio, int | float) else None,
    }


def _budget_exceeded(base: dict[str, Any], event: StoredEvent) -> BudgetExceeded:
    action = _text(event, "action")
    known = {a.value for a in BudgetAction}
    return BudgetExceeded(**base, **_budget_fields(event), action=BudgetAction(action) if action in known else None)


def _worktree(base: dict[str, Any], event: StoredEvent) -> WorktreeChanged:
    from schema.agents import MergeKind

    merged = _text(event, "strategy")
    deleted = _field(event, "branchDeleted")
    return WorktreeChanged(
        **base,
        branch=_text(event, "branch"),
        base_branch=_text(event, "baseBranch"),
        merged=MergeKind(merged) if merged in {kind.value for kind in MergeKind} else None,
        commit=_text(event, "commit"),
        branch_deleted=deleted if isinstance(deleted, bool) else None,
    )


_BUILDERS: dict[str, Callable[[dict[str, Any], StoredEvent], Any]] = {
    "task_queued": _queued,
    "task_started": lambda base, event: TaskStarted(**base, title=_text(event, "task")),
    "step_progress": _step_progress,
    "output": lambda base, event: TaskOutput(**base, text=_text(event, "output") or ""),
    "artifact": _artifact,
    "task_completed": lambda base, event: TaskCompleted(
        **base, output=_text(event, "output"), duration=_number(event, "duration")
    ),
    "task_failed": lambda base, event: TaskFailed(**base, error=_text(event, "error"), output=_text(event, "output")),
    "task_cancelled": lambda base, event: TaskCancelled(
        **base, title=_text(event, "task"), reason=_text(event, "error")
    ),
    "workflow_execution_created": lambda base, event: ExecutionCreated(**base, input=_field(event, "input")),
    "workflow_execution_started": _execution_changed,
    "workflow_execution_paused": _execution_changed,
    "workflow_execution_resumed": _execution_changed,
    "workflow_execution_cancelled": _execution_changed,
    "workflow_execution_completed": lambda base, event: ExecutionCompleted(
        **base, output=_text(event, "output"), duration=_number(event, "duration")
    ),
    "workflow_execution_failed": lambda base, event: ExecutionFailed(**base, error=_text(event, "error")),
    "workflow_phase_started": _phase,
    "workflow_phase_completed": _phase,
    "sandbox_created": _sandbox_changed,
    "sandbox_started": _sandbox_changed,
    "sandbox_stopped": _sandbox_changed,
    "sandbox_deleted": _sandbox_changed,
    "sandbox_error": lambda base, event: SandboxFailed(**base, error=_text(event, "error")),
    "sandbox_operation_progress": lambda base, event: SandboxOperationProgressed(**base, **_operation_fields(event)),
    "agent_session": lambda base, event: AgentSessionStarted(
        **base, session_id=_text(event, "sessionId"), model=_text(event, "model")
    ),
    "agent_message": lambda base, event: AgentMessage(
        **base, index=_number(event, "index"), text=_text(event, "text") or ""
    ),
    "tool_call": lambda base, event: AgentToolCall(
        **base,
        index=_number(event, "index"),
        tool_call_id=_text(event, "toolCallId"),
        tool_name=_text(event, "name"),
        input=_field(event, "input"),
    ),
    "tool_result": lambda base, event: AgentToolResult(
        **base,
        index=_number(event, "index"),
        tool_call_id=_text(event, "toolCallId"),
        ok=_field(event, "ok") if isinstance(_field(event, "ok"), bool) else None,
        output=_text(event, "text"),
    ),
    "usage": _usage,
    "budget_warning": lambda base, event: BudgetWarning(**base, **_budget_fields(event)),
    "budget_exceeded": _budget_exceeded,
    "worktree_merged": _worktree,
    "worktree_discarded": _worktree,
    "worktree_removed": _worktree,
}


def event_of(event: StoredEvent) -> Any:
    """The typed GraphQL object of a stored event (an `OtherEvent` for a type this schema does not know)."""
    builder = _BUILDERS.get(event.type)
    base = {
        "id": event.id,
        "type": EventType(event.type) if builder else EventType.OTHER,
        "time": event.created_at,
        "stored": event,
    }
    if builder is None:
        return OtherEvent(**base, name=event.type, payload=event.payload)
    return builder(base, event)
