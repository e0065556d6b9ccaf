"""Workflow definitions (resolvers/workflows.py, operations 22-30): working copies, immutable version
snapshots, and the executions that ran them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from resolvers import executions, workflows
from resolvers.pages import page_request
from schema.connections import After, Before, Connection, First, Last, list_key, nested_connection, root_connection
from schema.context import GraphInfo
from schema.definitions import WorkflowDefinition
from schema.errors import Payload, attempt
from schema.organizations import Organization, organization_id
from schema.relay import Node, database_id, global_id, optional_database_id
from schema.unset import sent
from schema.users import User, user_of
from store import models

if TYPE_CHECKING:
    from schema.executions import Execution, ExecutionStatus


@strawberry.enum(description="Where a workflow stands in its life.")
class WorkflowStatus(Enum):
    DRAFT = strawberry.enum_value("draft", description="Being written; changes apply in place.")
    PUBLISHED = strawberry.enum_value("published", description="In use; each change makes a new version.")
    ARCHIVED = strawberry.enum_value("archived", description="Put away.")


@strawberry.type(description="A workflow: phases of steps that executions run as tasks. This is its working copy.")
class Workflow(Node):
    name: str = strawberry.field(description="Its name.")
    description: str | None = strawberry.field(description="What it is for.")
    definition: JSON = strawberry.field(description="The definition as sent (unknown keys kept).")
    structure: WorkflowDefinition = strawberry.field(description="The definition as typed phases and transitions.")
    status: WorkflowStatus = strawberry.field(description="Where it stands.")
    version: int = strawberry.field(description="Its version: 1, then one more for each change once published.")
    current_version: int = strawberry.field(
        description="The same as version.", deprecation_reason="The REST shape's duplicate of `version`; use version."
    )
    is_template: bool = strawberry.field(description="A built-in template: visible to all, cloned, never changed.")
    change_description: str | None = strawberry.field(description="What its latest change was.")
    created_at: datetime = strawberry.field(description="When it was made.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    organization_id: strawberry.Private[str | None]
    created_by_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, workflow: models.Workflow) -> Workflow:
        return cls(
            id=global_id("Workflow", workflow.id),
            database_id=workflow.id,
            name=workflow.name,
            description=workflow.description,
            definition=workflow.definition,
            structure=WorkflowDefinition.of(workflow.definition),
            status=WorkflowStatus(workflow.status),
            version=workflow.version,
            current_version=workflow.version,
            is_template=workflow.is_template,
            change_description=workflow.change_description,
            created_at=workflow.created_at,
            updated_at=workflow.updated_at,
            organization_id=workflow.organization_id,
            created_by_id=workflow.created_by_id,
        )

    @strawberry.field(description="The organization it belongs to; null for templates and personal workflows.")
    async def organization(self, info: GraphInfo) -> Organization | None:
        if self.organization_id is None:
            return None
        found = await info.context.loaders.organization.load(self.organization_id)
        return Organization.of(found) if found else None

    @strawberry.field(description="Who made it; null when unknown or not visible to you.")
    async def created_by(self, info: GraphInfo) -> User | None:
        return await user_of(info, self.created_by_id)

    @strawberry.field(description="Its version snapshots, newest first.")
    async def versions(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[WorkflowVersion]:
        listing = workflows.version_listing(info.context.caller)
        request = page_request(first, after, last, before)
        return await nested_connection(info, self.database_id, listing, request, WorkflowVersion.of)

    @strawberry.field(description="Its executions in projects you can see, newest first.")
    async def executions(
        self,
        info: GraphInfo,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            list[Annotated[ExecutionStatus, strawberry.lazy("schema.executions")]] | None,
            strawberry.argument(description="Only executions in one of these states."),
        ] = None,
    ) -> Connection[Annotated[Execution, strawberry.lazy("schema.executions")]]:
        from schema.executions import Execution

        statuses = [s.value for s in status or []]
        listing = executions.execution_listing(info.context.caller, statuses, by_workflow=True)
        request = page_request(first, after, last, before)
        return await nested_connection(info, self.database_id, listing, request, Execution.of, list_key(statuses))


@strawberry.type(description="An immutable snapshot of a published workflow.")
class WorkflowVersion(Node):
    version: int = strawberry.field(description="Its number.")
    name: str = strawberry.field(description="The workflow's name then.")
    description: str | None = strawberry.field(description="The workflow's description then.")
    definition: JSON = strawberry.field(description="The definition then, as sent.")
    structure: WorkflowDefinition = strawberry.field(description="The definition then, typed.")
    change_description: str | None = strawberry.field(description="What changed in it.")
    created_at: datetime = strawberry.field(description="When it was taken.")
    workflow_id: strawberry.Private[str]

    @classmethod
    def of(cls, version: models.WorkflowVersion) -> WorkflowVersion:
        return cls(
            id=global_id("WorkflowVersion", version.id),
            database_id=version.id,
            version=version.version,
            name=version.name,
            description=version.description,
            definition=version.definition,
            structure=WorkflowDefinition.of(version.definition),
            change_description=version.change_description,
            created_at=version.created_at,
            workflow_id=version.workflow_id,
        )

    @strawberry.field(description="The workflow it is a version of.")
    async def workflow(self, info: GraphInfo) -> Workflow | None:
        found = await info.context.loaders.workflow.load(self.workflow_id)
        return Workflow.of(found) if found else None


@strawberry.type
class WorkflowQueries:
    @strawberry.field(description="Workflows you can see (your organizations' and the templates), oldest first.")
    async def workflows(
        self,
        info: GraphInfo,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            WorkflowStatus | None, strawberry.argument(description="Only workflows in this state.")
        ] = None,
    ) -> Connection[Workflow]:
        listing = workflows.workflow_listing(info.context.caller, status.value if status else None)
        return await root_connection(info, listing, page_request(first, after, last, before), Workflow.of)


def workflow_id(value: object, field: str = "id") -> str:
    return database_id(field, value, "Workflow")


@strawberry.input(description="A new draft workflow.")
class CreateWorkflowInput:
    name: str = strawberry.field(description="Its name.")
    definition: JSON = strawberry.field(description="Phases and transitions (`{}` for an empty one).")
    description: str | None = strawberry.field(default=None, description="What it is for.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="Its organization; your first one when left out."
    )


@strawberry.input(description="What to change in a workflow; a published one gets a new version.")
class UpdateWorkflowInput:
    id: strawberry.ID = strawberry.field(description="The workflow.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="A new description.")
    definition: JSON | None = strawberry.field(default=strawberry.UNSET, description="A new definition.")
    change_description: str | None = strawberry.field(default=strawberry.UNSET, description="What this change is.")


@strawberry.input(description="A workflow to delete.")
class DeleteWorkflowInput:
    id: strawberry.ID = strawberry.field(description="The workflow (refused for templates and workflows in use).")


@strawberry.input(description="A workflow's new status.")
class ChangeWorkflowStatusInput:
    id: strawberry.ID = strawberry.field(description="The workflow.")
    status: WorkflowStatus = strawberry.field(description="Its new status; publishing snapshots it.")


@strawberry.input(description="A workflow to copy as a new draft.")
class CloneWorkflowInput:
    id: strawberry.ID = strawberry.field(description="The workflow (templates too).")
    name: str | None = strawberry.field(default=None, description="The copy's name; `<name> (copy)` when left out.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="The copy's description; the original's when left out."
    )
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The copy's organization; your first one when left out."
    )


@strawberry.type(description="The result of a mutation that makes or changes a workflow.")
class WorkflowPayload(Payload):
    workflow: Workflow | None = strawberry.field(default=None, description="The workflow as stored.")


@strawberry.type(description="The result of deleteWorkflow.")
class DeleteWorkflowPayload(Payload):
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted workflow's id.")


def _workflow_payload(workflow: models.Workflow | None, errors: list[Any]) -> WorkflowPayload:
    return WorkflowPayload(workflow=Workflow.of(workflow) if workflow else None, user_errors=errors)


def _organization(value: strawberry.ID | None) -> str | None:
    return None if value is None else organization_id(value, "organizationId")


@strawberry.type
class WorkflowMutations:
    @strawberry.mutation(description="Make a draft workflow.")
    async def create_workflow(self, info: GraphInfo, input: CreateWorkflowInput) -> WorkflowPayload:
        async def create() -> models.Workflow:
            return await workflows.create_workflow(
                info.context.rt,
                info.context.caller,
                input.name,
                input.definition,
                input.description,
                _organization(input.organization_id),
            )

        return _workflow_payload(*await attempt(create()))

    @strawberry.mutation(description="Change a workflow; a published one gets a new version snapshot.")
    async def update_workflow(self, info: GraphInfo, input: UpdateWorkflowInput) -> WorkflowPayload:
        async def update() -> models.Workflow:
            return await workflows.update_workflow(
                info.context.rt,
                info.context.caller,
                workflow_id(input.id),
                name=sent(input.name),
                description=sent(input.description),
                definition=sent(input.definition),
                change_description=sent(input.change_description),
            )

        return _workflow_payload(*await attempt(update()))

    @strawberry.mutation(description="Delete a workflow; refused for templates and workflows in use.")
    async def delete_workflow(self, info: GraphInfo, input: DeleteWorkflowInput) -> DeleteWorkflowPayload:
        async def delete() -> None:
            await workflows.delete_workflow(info.context.rt, info.context.caller, workflow_id(input.id))

        _, errors = await attempt(delete())
        return DeleteWorkflowPayload(deleted_id=None if errors else input.id, user_errors=errors)

    @strawberry.mutation(description="Move a workflow to draft, published or archived.")
    async def change_workflow_status(self, info: GraphInfo, input: ChangeWorkflowStatusInput) -> WorkflowPayload:
        async def change() -> models.Workflow:
            return await workflows.change_status(
                info.context.rt, info.context.caller, workflow_id(input.id), input.status.value
            )

        return _workflow_payload(*await attempt(change()))

    @strawberry.mutation(description="Copy a workflow (templates too) as a new draft at version 1.")
    async def clone_workflow(self, info: GraphInfo, input: CloneWorkflowInput) -> WorkflowPayload:
        async def clone() -> models.Workflow:
            return await workflows.clone_workflow(
                info.context.rt,
                info.context.caller,
                workflow_id(input.id),
                input.name,
                sent(input.description),
                optional_database_id("organizationId", input.organization_id, "Organization"),
            )

        return _workflow_payload(*await attempt(clone()))
