"""GraphQL types for workflow executions: the execution, its phases and steps (each step with its task),
and a cursor connection of a project's executions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import projects
from resolvers.execution_plan import execution_progress, phase_progress
from schema.context import Context
from schema.pagination import PageInfo, encode_cursor, page_info
from schema.task_types import Task
from schema.workflow_types import Workflow
from store import models

if TYPE_CHECKING:
    from schema.types import Project


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@strawberry.type
class ExecutionProgress:
    message: str
    percentage: int
    total: int
    current: int = strawberry.field(description="How many of the steps have finished.")

    @classmethod
    def of(cls, progress: dict[str, Any]) -> ExecutionProgress:
        return cls(**progress)


@strawberry.type
class StepExecution:
    id: strawberry.ID
    step_id: str
    name: str
    description: str | None
    status: str = strawberry.field(description="pending, running, completed, failed or skipped.")
    task_id: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration: int | None = strawberry.field(description="Milliseconds from start to end.")
    output: str | None = strawberry.field(description="The end of the step task's output.")
    error: str | None

    @classmethod
    def of(cls, step: dict[str, Any]) -> StepExecution:
        return cls(
            id=strawberry.ID(step["id"]),
            step_id=step["stepId"],
            name=step["name"],
            description=step.get("description"),
            status=step["status"],
            task_id=step.get("taskId"),
            start_time=_moment(step.get("startTime")),
            end_time=_moment(step.get("endTime")),
            duration=step.get("duration"),
            output=step.get("output"),
            error=step.get("error"),
        )

    @strawberry.field(description="The task the step ran as; null for a skipped or not yet started step.")
    async def task(self, info: Info[Context, None]) -> Task | None:
        if self.task_id is None:
            return None
        task = await info.context.loaders.task.load(self.task_id)
        return Task.of(task) if task else None


@strawberry.type
class PhaseExecution:
    id: strawberry.ID
    phase_id: str
    name: str
    description: str | None
    status: str = strawberry.field(description="pending, running, completed, failed or skipped.")
    current_step: int = strawberry.field(description="Index of the step the phase is on.")
    progress: ExecutionProgress
    start_time: datetime | None
    end_time: datetime | None
    duration: int | None
    error: str | None
    output_summary: str | None
    steps: list[StepExecution]

    @classmethod
    def of(cls, phase: dict[str, Any]) -> PhaseExecution:
        return cls(
            id=strawberry.ID(phase["id"]),
            phase_id=phase["phaseId"],
            name=phase["name"],
            description=phase.get("description"),
            status=phase["status"],
            current_step=phase.get("currentStep", 0),
            progress=ExecutionProgress.of(phase_progress(phase)),
            start_time=_moment(phase.get("startTime")),
            end_time=_moment(phase.get("endTime")),
            duration=phase.get("duration"),
            error=phase.get("error"),
            output_summary=phase.get("outputSummary"),
            steps=[StepExecution.of(step) for step in phase["steps"]],
        )


@strawberry.type
class Execution:
    id: strawberry.ID
    workflow_id: str
    workflow_name: str
    workflow_version: int = strawberry.field(description="The workflow version the execution runs, pinned at creation.")
    project_id: str
    user_id: str | None
    status: str = strawberry.field(
        description="pending, initializing, running, paused, completed, failed or cancelled."
    )
    phases: list[PhaseExecution]
    current_phase: int = strawberry.field(description="Index of the phase the execution is on.")
    total_phases: int
    progress: ExecutionProgress
    input_parameters: JSON | None
    triggered_by: str
    error: str | None
    created_at: datetime
    start_time: datetime | None
    end_time: datetime | None
    duration: int | None = strawberry.field(description="Milliseconds from start to end.")

    @classmethod
    def of(cls, execution: models.WorkflowExecution) -> Execution:
        return cls(
            id=strawberry.ID(execution.id),
            workflow_id=execution.workflow_id,
            workflow_name=execution.workflow_name,
            workflow_version=execution.workflow_version,
            project_id=execution.project_id,
            user_id=execution.user_id,
            status=execution.status,
            phases=[PhaseExecution.of(phase) for phase in execution.phases],
            current_phase=execution.current_phase,
            total_phases=len(execution.phases),
            progress=ExecutionProgress.of(execution_progress(execution.status, execution.phases, execution.error)),
            input_parameters=execution.input_parameters,
            triggered_by=execution.triggered_by,
            error=execution.error,
            created_at=execution.created_at,
            start_time=execution.start_time,
            end_time=execution.end_time,
            duration=execution.duration,
        )

    @strawberry.field(description="The workflow's working copy; null once deleted or when not visible to you.")
    async def workflow(self, info: Info[Context, None]) -> Workflow | None:
        workflow = await info.context.loaders.workflow.load(self.workflow_id)
        return Workflow.of(workflow) if workflow else None

    @strawberry.field
    async def project(self, info: Info[Context, None]) -> Annotated[Project, strawberry.lazy("schema.types")]:
        from schema.types import Project

        return Project.of(await projects.get_project(info.context.rt, info.context.caller, self.project_id))


@strawberry.type
class ExecutionEdge:
    cursor: str
    node: Execution


@strawberry.type
class ExecutionConnection:
    edges: list[ExecutionEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="How many executions match the filters in all.")


def execution_connection(found: Sequence[models.WorkflowExecution], total: int, start: int) -> ExecutionConnection:
    edges = [
        ExecutionEdge(cursor=encode_cursor(start + index), node=Execution.of(execution))
        for index, execution in enumerate(found)
    ]
    end = edges[-1].cursor if edges else None
    return ExecutionConnection(edges=edges, page_info=page_info(start, len(edges), total, end), total_count=total)
