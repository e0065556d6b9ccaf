"""Workflow executions (operations 31-37) in GraphQL, mixed into the Query and Mutation roots."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import executions
from schema.context import Context
from schema.execution_types import Execution, StepExecution

GraphInfo = Info[Context, None]


@strawberry.type
class ExecutionQueries:
    @strawberry.field(description="One workflow execution, with its phases and steps.")
    async def execution(self, info: GraphInfo, id: strawberry.ID) -> Execution:
        return Execution.of(await executions.get_execution(info.context.rt, info.context.caller, id))

    @strawberry.field(description="A workflow's executions in projects you can see, newest first (at most 100).")
    async def workflow_executions(self, info: GraphInfo, workflow_id: strawberry.ID) -> list[Execution]:
        found = await executions.list_workflow_executions(info.context.rt, info.context.caller, workflow_id)
        return [Execution.of(execution) for execution in found]

    @strawberry.field(description="One step of an execution, by the step's id in the definition.")
    async def step_execution(self, info: GraphInfo, execution_id: strawberry.ID, step_id: str) -> StepExecution:
        _, _, step = await executions.get_step_execution(info.context.rt, info.context.caller, execution_id, step_id)
        return StepExecution.of(step)


@strawberry.type
class ExecutionMutations:
    @strawberry.mutation(
        description="A pending execution of the workflow in the project, pinned to `workflowVersion` or the latest."
    )
    async def create_execution(
        self,
        info: GraphInfo,
        workflow_id: strawberry.ID,
        project_id: strawberry.ID,
        input_parameters: JSON | None = None,
        triggered_by: str | None = None,
        workflow_version: int | None = None,
    ) -> Execution:
        metadata = {
            "inputParameters": input_parameters,
            "triggeredBy": triggered_by,
            "workflowVersion": workflow_version,
        }
        execution = await executions.create_execution(
            info.context.rt, info.context.caller, workflow_id, project_id, metadata
        )
        return Execution.of(execution)

    @strawberry.mutation(description="Start a pending execution.")
    async def start_execution(self, info: GraphInfo, id: strawberry.ID) -> Execution:
        return Execution.of(await executions.start_execution(info.context.rt, info.context.caller, id))

    @strawberry.mutation(description="Pause a running execution: its running step finishes, the next one waits.")
    async def pause_execution(self, info: GraphInfo, id: strawberry.ID) -> Execution:
        return Execution.of(await executions.pause_execution(info.context.rt, info.context.caller, id))

    @strawberry.mutation(description="Resume a paused execution from the step it stopped before.")
    async def resume_execution(self, info: GraphInfo, id: strawberry.ID) -> Execution:
        return Execution.of(await executions.resume_execution(info.context.rt, info.context.caller, id))

    @strawberry.mutation(description="Cancel an unfinished execution and its running step's task.")
    async def cancel_execution(self, info: GraphInfo, id: strawberry.ID) -> Execution:
        return Execution.of(await executions.cancel_execution(info.context.rt, info.context.caller, id))
