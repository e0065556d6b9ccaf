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
    from schema.executions import Execution, StageStatus
    from schema.sandboxes import OperationStatus, OperationType, Progress, Sandbox, SandboxOperation


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
    "task_cancelled": lambda base, event: TaskCancelled(**base, title=_text(event, "task")),
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
