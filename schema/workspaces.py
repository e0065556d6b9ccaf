"""Workspaces inside organizations (resolvers/workspaces.py, operations 6-11)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

import strawberry

from resolvers import browsing, projects, workspaces
from resolvers.pages import page_request
from schema.connections import After, Before, Connection, First, Last, nested_connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.folders import Folder, folder_connection
from schema.memories import ContextScope
from schema.organizations import Organization, organization_id
from schema.relay import database_id, global_id
from schema.unset import sent
from schema.usage import SpendingScope
from store import models

if TYPE_CHECKING:
    from schema.projects import Project

T = TypeVar("T")


def remembered_workspace(info: GraphInfo, wrap: Callable[[models.Workspace], T]) -> Callable[[models.Workspace], T]:
    """Wrap workspaces and keep them for the request, so projects pointing back at them need no query."""

    def remember(workspace: models.Workspace) -> T:
        info.context.loaders.workspace.prime(workspace.id, workspace)
        return wrap(workspace)

    return remember


@strawberry.type(description="A folder of projects inside an organization.")
class Workspace(ContextScope, SpendingScope):
    SCOPE: ClassVar[str] = "workspace"
    name: str = strawberry.field(description="Its display name (unique in the organization).")
    folder_path: str = strawberry.field(description="Its folder's name inside the organization's folder.")
    created_at: datetime = strawberry.field(description="When it was made.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    organization_id: strawberry.Private[str]

    @classmethod
    def of(cls, workspace: models.Workspace) -> Workspace:
        return cls(
            id=global_id("Workspace", workspace.id),
            database_id=workspace.id,
            name=workspace.name,
            folder_path=workspace.folder_path,
            created_at=workspace.created_at,
            updated_at=workspace.updated_at,
            organization_id=workspace.organization_id,
        )

    @strawberry.field(description="The organization it belongs to.")
    async def organization(self, info: GraphInfo) -> Organization | None:
        found = await info.context.loaders.organization.load(self.organization_id)
        return Organization.of(found) if found else None

    @strawberry.field(description="Its projects, oldest first.")
    async def projects(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Annotated[Project, strawberry.lazy("schema.projects")]]:
        from schema.projects import Project

        listing = projects.project_listing(info.context.caller)
        request = page_request(first, after, last, before)
        return await nested_connection(info, self.database_id, listing, request, Project.of)

    @strawberry.field(description="Folders inside its folder, for a new project to adopt.")
    async def folders(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Folder]:
        names = await browsing.project_folders(info.context.rt, info.context.caller, self.database_id)
        return folder_connection(names, "project-folders", first, after, last, before)


def workspace_id(value: object, field: str = "id") -> str:
    return database_id(field, value, "Workspace")


@strawberry.input(description="A new workspace.")
class CreateWorkspaceInput:
    organization_id: strawberry.ID = strawberry.field(description="The organization to make it in.")
    name: str = strawberry.field(description="Its display name.")
    folder_path: str = strawberry.field(
        description="Its folder inside the organization's (an existing one is adopted)."
    )


@strawberry.input(description="What to change in a workspace; fields left out stay.")
class UpdateWorkspaceInput:
    id: strawberry.ID = strawberry.field(description="The workspace.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    folder_path: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new folder name; the folder is renamed on disk."
    )


@strawberry.input(description="A workspace to delete.")
class DeleteWorkspaceInput:
    id: strawberry.ID = strawberry.field(description="The workspace; its records go, its folders stay on disk.")


@strawberry.type(description="The result of createWorkspace and updateWorkspace.")
class WorkspacePayload(Payload):
    workspace: Workspace | None = strawberry.field(default=None, description="The workspace as stored.")


@strawberry.type(description="The result of deleteWorkspace.")
class DeleteWorkspacePayload(Payload):
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted workspace's id.")


def _workspace_payload(workspace: models.Workspace | None, errors: list[Any]) -> WorkspacePayload:
    return WorkspacePayload(workspace=Workspace.of(workspace) if workspace else None, user_errors=errors)


@strawberry.type
class WorkspaceMutations:
    @strawberry.mutation(description="Make a workspace and its folder in an organization.")
    async def create_workspace(self, info: GraphInfo, input: CreateWorkspaceInput) -> WorkspacePayload:
        async def create() -> models.Workspace:
            return await workspaces.create_workspace(
                info.context.rt,
                info.context.caller,
                organization_id(input.organization_id, "organizationId"),
                input.name,
                input.folder_path,
            )

        return _workspace_payload(*await attempt(create()))

    @strawberry.mutation(description="Rename a workspace or its folder.")
    async def update_workspace(self, info: GraphInfo, input: UpdateWorkspaceInput) -> WorkspacePayload:
        async def update() -> models.Workspace:
            return await workspaces.update_workspace(
                info.context.rt,
                info.context.caller,
                workspace_id(input.id),
                name=sent(input.name),
                folder_path=sent(input.folder_path),
            )

        return _workspace_payload(*await attempt(update()))

    @strawberry.mutation(description="Delete a workspace's records (stopping its sandboxes); folders stay on disk.")
    async def delete_workspace(self, info: GraphInfo, input: DeleteWorkspaceInput) -> DeleteWorkspacePayload:
        async def delete() -> None:
            await workspaces.delete_workspace(info.context.rt, info.context.caller, workspace_id(input.id))

        _, errors = await attempt(delete())
        return DeleteWorkspacePayload(deleted_id=None if errors else input.id, user_errors=errors)
