"""The workflow-definition reads and writes (operations 22-30), mixed into the Query and Mutation roots."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import workflows
from schema.context import Context
from schema.unset import sent
from schema.workflow_types import Workflow, WorkflowVersion

GraphInfo = Info[Context, None]


@strawberry.input
class UpdateWorkflowInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    definition: JSON | None = strawberry.UNSET
    change_description: str | None = strawberry.UNSET


@strawberry.type
class WorkflowQueries:
    @strawberry.field(description="Workflows you can see (your organizations' and the templates), oldest first.")
    async def workflows(self, info: GraphInfo, status: str | None = None) -> list[Workflow]:
        found = await workflows.list_workflows(info.context.rt, info.context.caller, status)
        return [Workflow.of(workflow) for workflow in found]

    @strawberry.field(description="A workflow's working copy.")
    async def workflow(self, info: GraphInfo, id: strawberry.ID) -> Workflow:
        return Workflow.of(await workflows.get_workflow(info.context.rt, info.context.caller, id))

    @strawberry.field(description="A workflow's version snapshots, newest first.")
    async def workflow_versions(self, info: GraphInfo, workflow_id: strawberry.ID) -> list[WorkflowVersion]:
        found = await workflows.list_versions(info.context.rt, info.context.caller, workflow_id)
        return [WorkflowVersion.of(version) for version in found]

    @strawberry.field(description="One version snapshot, by its id.")
    async def workflow_version(self, info: GraphInfo, id: strawberry.ID) -> WorkflowVersion:
        return WorkflowVersion.of(await workflows.get_version(info.context.rt, info.context.caller, id))


@strawberry.type
class WorkflowMutations:
    @strawberry.mutation(description="A new draft workflow, in the organization given or your first one.")
    async def create_workflow(
        self,
        info: GraphInfo,
        name: str,
        definition: JSON | None = None,
        description: str | None = None,
        organization_id: strawberry.ID | None = None,
    ) -> Workflow:
        workflow = await workflows.create_workflow(
            info.context.rt, info.context.caller, name, definition, description, organization_id
        )
        return Workflow.of(workflow)

    @strawberry.mutation(description="Change the fields given; a published workflow gets a new version.")
    async def update_workflow(self, info: GraphInfo, id: strawberry.ID, input: UpdateWorkflowInput) -> Workflow:
        workflow = await workflows.update_workflow(
            info.context.rt,
            info.context.caller,
            id,
            name=sent(input.name),
            description=sent(input.description),
            definition=sent(input.definition),
            change_description=sent(input.change_description),
        )
        return Workflow.of(workflow)

    @strawberry.mutation(description="Delete a workflow; refused for templates and for workflows a project uses.")
    async def delete_workflow(self, info: GraphInfo, id: strawberry.ID) -> bool:
        await workflows.delete_workflow(info.context.rt, info.context.caller, id)
        return True

    @strawberry.mutation(description="Move a workflow to draft, published or archived.")
    async def change_workflow_status(self, info: GraphInfo, id: strawberry.ID, status: str) -> Workflow:
        return Workflow.of(await workflows.change_status(info.context.rt, info.context.caller, id, status))

    @strawberry.mutation(description="A new draft copy at version 1; templates can be cloned.")
    async def clone_workflow(
        self,
        info: GraphInfo,
        id: strawberry.ID,
        name: str | None = None,
        description: str | None = strawberry.UNSET,
        organization_id: strawberry.ID | None = None,
    ) -> Workflow:
        workflow = await workflows.clone_workflow(
            info.context.rt, info.context.caller, id, name, sent(description), organization_id
        )
        return Workflow.of(workflow)
