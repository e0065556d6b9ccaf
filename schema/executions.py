"""Workflow executions (resolvers/executions.py, execution_plan.py; operations 31-37): an execution, its
phases and steps, each step with the task it ran as, and starting, pausing, resuming and cancelling."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from resolvers import executions
from resolvers.execution_plan import execution_progress, phase_progress
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.projects import Project, project_id
from schema.relay import Node, database_id, global_id
from schema.sandboxes import Progress
from schema.tasks import Task
from schema.users import User, user_of
from schema.workflows import Workflow, WorkflowVersion, workflow_id
from store import models


@strawberry.enum(description="Where a workflow execution stands.")
class ExecutionStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Made, not started.")
    INITIALIZING = strawberry.enum_value("initializing", description="Starting.")
    RUNNING = strawberry.enum_value("running", description="Running its steps.")
    PAUSED = strawberry.enum_value("paused", description="Paused before its next step.")
    COMPLETED = strawberry.enum_value("completed", description="Every step finished.")
    FAILED = strawberry.enum_value("failed", description="A step failed (see error).")
    CANCELLED = strawberry.enum_value("cancelled", description="Cancelled.")


@strawberry.enum(description="Where a phase or step of an execution stands.")
class StageStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Not reached yet.")
    INITIALIZING = strawberry.enum_value("initializing", description="Starting (phases only).")
    RUNNING = strawberry.enum_value("running", description="Running.")
    COMPLETED = strawberry.enum_value("completed", description="Finished.")
    FAILED = strawberry.enum_value("failed", description="Failed.")
    SKIPPED = strawberry.enum_value("skipped", description="Not executable, so passed over.")


@strawberry.enum(description="What started an execution.")
class TriggeredBy(Enum):
    MANUAL = strawberry.enum_value("manual", description="A person, by hand.")
    API = strawberry.enum_value("api", description="A program, through the API.")
    SCHEDULE = strawberry.enum_value("schedule", description="A schedule.")


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@strawberry.type(description="One step of an execution, and the task it ran as.")
class StepExecution:
    step_id: str = strawberry.field(description="The step's id in the definition.")
    name: str = strawberry.field(description="Its title.")
    description: str | None = strawberry.field(description="What it is about.")
    status: StageStatus = strawberry.field(description="Where it stands.")
    start_time: datetime | None = strawberry.field(description="When it began.")
    end_time: datetime | None = strawberry.field(description="When it ended.")
    duration: int | None = strawberry.field(description="Milliseconds from start to end.")
    output: str | None = strawberry.field(description="The end of its task's output.")
    error: str | None = strawberry.field(description="Why it failed.")
    task_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, step: dict[str, Any]) -> StepExecution:
        return cls(
            step_id=step["stepId"],
            name=step["name"],
            description=step.get("description"),
            status=StageStatus(step["status"]),
            start_time=_moment(step.get("startTime")),
            end_time=_moment(step.get("endTime")),
            duration=step.get("duration"),
            output=step.get("output"),
            error=step.get("error"),
            task_id=step.get("taskId"),
        )

    @strawberry.field(description="The task it ran as; null for a skipped step or one not reached yet.")
    async def task(self, info: GraphInfo) -> Task | None:
        if self.task_id is None:
            return None
        found = await info.context.loaders.task.load(self.task_id)
        return Task.of(found) if found else None


def step_of_task(execution: models.WorkflowExecution, task_id: str) -> StepExecution | None:
    """The step of an execution that ran as the task (a step run again after a restart names its newest task)."""
    for phase in execution.phases:
        for step in phase["steps"]:
            if step.get("taskId") == task_id:
                return StepExecution.of(step)
    return None


@strawberry.type(description="One phase of an execution.")
class PhaseExecution:
    phase_id: str = strawberry.field(description="The phase's id in the definition.")
    name: str = strawberry.field(description="Its title.")
    description: str | None = strawberry.field(description="What it is about.")
    status: StageStatus = strawberry.field(description="Where it stands.")
    current_step: int = strawberry.field(description="Index of the step it is on.")
    progress: Progress = strawberry.field(description="How many of its steps have finished.")
    start_time: datetime | None = strawberry.field(description="When it began.")
    end_time: datetime | None = strawberry.field(description="When it ended.")
    duration: int | None = strawberry.field(description="Milliseconds from start to end.")
    error: str | None = strawberry.field(description="Why it failed.")
    output_summary: str | None = strawberry.field(description="What its steps produced, in short.")
    steps: list[StepExecution] = strawberry.field(description="Its steps, in order.")

    @classmethod
    def of(cls, phase: dict[str, Any]) -> PhaseExecution:
        return cls(
            phase_id=phase["phaseId"],
            name=phase["name"],
            description=phase.get("description"),
            status=StageStatus(phase["status"]),
            current_step=phase.get("currentStep", 0),
            progress=Progress(**phase_progress(phase)),
            start_time=_moment(phase.get("startTime")),
            end_time=_moment(phase.get("endTime")),
            duration=phase.get("duration"),
            error=phase.get("error"),
            output_summary=phase.get("outputSummary"),
            steps=[StepExecution.of(step) for step in phase["steps"]],
        )


@strawberry.type(description="One run of a workflow in a project, pinned to the version it started with.")
class Execution(Node):
    workflow_name: str = strawberry.field(description="The workflow's name when it was made.")
    workflow_version: int = strawberry.field(description="The version it runs, pinned when it was made.")
    status: ExecutionStatus = strawberry.field(description="Where it stands.")
    phases: list[PhaseExecution] = strawberry.field(description="Its phases, in the order they run.")
    current_phase: int = strawberry.field(description="Index of the phase it is on.")
    total_phases: int = strawberry.field(description="How many phases it has.")
    progress: Progress = strawberry.field(description="How many of its steps have finished, with a message.")
    input_parameters: JSON | None = strawberry.field(description="The values it was given (added to prompts).")
    triggered_by: TriggeredBy = strawberry.field(description="What started it.")
    error: str | None = strawberry.field(description="Why it failed.")
    created_at: datetime = strawberry.field(description="When it was made.")
    start_time: datetime | None = strawberry.field(description="When it started.")
    end_time: datetime | None = strawberry.field(description="When it ended.")
    duration: int | None = strawberry.field(description="Milliseconds from start to end.")
    record: strawberry.Private[models.WorkflowExecution]

    @classmethod
    def of(cls, execution: models.WorkflowExecution) -> Execution:
        return cls(
            id=global_id("Execution", execution.id),
            database_id=execution.id,
            workflow_name=execution.workflow_name,
            workflow_version=execution.workflow_version,
            status=ExecutionStatus(execution.status),
            phases=[PhaseExecution.of(phase) for phase in execution.phases],
            current_phase=execution.current_phase,
            total_phases=len(execution.phases),
            progress=Progress(**execution_progress(execution.status, execution.phases, execution.error)),
            input_parameters=execution.input_parameters,
            triggered_by=TriggeredBy(execution.triggered_by),
            error=execution.error,
            created_at=execution.created_at,
            start_time=execution.start_time,
            end_time=execution.end_time,
            duration=execution.duration,
            record=execution,
        )

    @strawberry.field(description="The workflow's working copy; null once it is deleted or not visible to you.")
    async def workflow(self, info: GraphInfo) -> Workflow | None:
        found = await info.context.loaders.workflow.load(self.record.workflow_id)
        return Workflow.of(found) if found else None

    @strawberry.field(description="The version snapshot it runs; null for a draft's execution or a deleted workflow.")
    async def pinned_version(self, info: GraphInfo) -> WorkflowVersion | None:
        if self.record.workflow_version_id is None:
            return None
        found = await info.context.loaders.version.load(self.record.workflow_version_id)
        return WorkflowVersion.of(found) if found else None

    @strawberry.field(description="The project it runs in.")
    async def project(self, info: GraphInfo) -> Project | None:
        found = await info.context.loaders.project.load(self.record.project_id)
        return Project.of(found) if found else None

    @strawberry.field(description="Who made it; null when unknown or not visible to you.")
    async def user(self, info: GraphInfo) -> User | None:
        return await user_of(info, self.record.user_id)

    @strawberry.field(description="One of its steps, by the step's id in the definition; null if it has none such.")
    def step(
        self, step_id: Annotated[str, strawberry.argument(description="The step's id in the definition.")]
    ) -> StepExecution | None:
        for phase in self.phases:
            for step in phase.steps:
                if step.step_id == step_id:
                    return step
        return None


def execution_id(value: object, field: str = "id") -> str:
    return database_id(field, value, "Execution")


@strawberry.input(description="A new execution of a workflow in a project.")
class CreateExecutionInput:
    workflow_id: strawberry.ID = strawberry.field(description="The workflow.")
    project_id: strawberry.ID = strawberry.field(description="The project whose sandbox runs its steps.")
    input_parameters: JSON | None = strawberry.field(default=None, description="Values added to its steps' prompts.")
    triggered_by: TriggeredBy | None = strawberry.field(default=None, description="What starts it; api when left out.")
    workflow_version: int | None = strawberry.field(
        default=None, description="The version to run; the latest published one when left out."
    )


@strawberry.input(description="An execution.")
class ExecutionInput:
    id: strawberry.ID = strawberry.field(description="The execution.")


@strawberry.type(description="The result of a mutation on an execution.")
class ExecutionPayload(Payload):
    execution: Execution | None = strawberry.field(
        default=None, description="The execution; follow it with the executionEvents subscription."
    )


def _execution_payload(execution: models.WorkflowExecution | None, errors: list[Any]) -> ExecutionPayload:
    return ExecutionPayload(execution=Execution.of(execution) if execution else None, user_errors=errors)


@strawberry.type
class ExecutionMutations:
    @strawberry.mutation(description="Make a pending execution of a workflow in a project.")
    async def create_execution(self, info: GraphInfo, input: CreateExecutionInput) -> ExecutionPayload:
        async def create() -> models.WorkflowExecution:
            metadata = {
                "inputParameters": input.input_parameters,
                "triggeredBy": input.triggered_by.value if input.triggered_by else None,
                "workflowVersion": input.workflow_version,
            }
            return await executions.create_execution(
                info.context.rt,
                info.context.caller,
                workflow_id(input.workflow_id, "workflowId"),
                project_id(input.project_id, "projectId"),
                metadata,
            )

        return _execution_payload(*await attempt(create()))

    @strawberry.mutation(description="Start a pending execution.")
    async def start_execution(self, info: GraphInfo, input: ExecutionInput) -> ExecutionPayload:
        return _execution_payload(*await attempt(_on_execution(info, executions.start_execution, input)))

    @strawberry.mutation(description="Pause a running execution: its running step finishes, the next one waits.")
    async def pause_execution(self, info: GraphInfo, input: ExecutionInput) -> ExecutionPayload:
        return _execution_payload(*await attempt(_on_execution(info, executions.pause_execution, input)))

    @strawberry.mutation(description="Resume a paused execution from the step it stopped before.")
    async def resume_execution(self, info: GraphInfo, input: ExecutionInput) -> ExecutionPayload:
        return _execution_payload(*await attempt(_on_execution(info, executions.resume_execution, input)))

    @strawberry.mutation(description="Cancel an unfinished execution and its running step's task.")
    async def cancel_execution(self, info: GraphInfo, input: ExecutionInput) -> ExecutionPayload:
        return _execution_payload(*await attempt(_on_execution(info, executions.cancel_execution, input)))


async def _on_execution(info: GraphInfo, action: Any, input: ExecutionInput) -> models.WorkflowExecution:
    return await action(info.context.rt, info.context.caller, execution_id(input.id))
