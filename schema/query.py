"""Query root: every read the REST layer offers, plus the graph below each object."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import (
    auth,
    browsing,
    organizations,
    projects,
    sandbox_operations,
    sandboxes,
    settings,
    tasks,
    users,
    workflow_state,
    workspaces,
)
from resolvers.errors import DomainError
from resolvers.health import uptime_seconds
from schema.context import Context
from schema.execution_fields import ExecutionQueries
from schema.memory_fields import MemoryQueries
from schema.memory_import_fields import MemoryImportQueries
from schema.sandbox_types import Sandbox, SandboxImage, SandboxOperation
from schema.task_types import Task, TaskPage
from schema.types import (
    DirectoryListing,
    Health,
    Organization,
    Project,
    Settings,
    User,
    WorkflowState,
    Workspace,
)
from schema.workflow_fields import WorkflowQueries

GraphInfo = Info[Context, None]


@strawberry.type
class Query(MemoryImportQueries, MemoryQueries, WorkflowQueries, ExecutionQueries):
    @strawberry.field(description="Liveness; needs no token.")
    def health(self, info: GraphInfo) -> Health:
        return Health(status="ok", uptime=uptime_seconds(info.context.rt))

    @strawberry.field(description="The authenticated user.")
    async def me(self, info: GraphInfo) -> User:
        return User.of(await users.get_user(info.context.rt, info.context.caller))

    @strawberry.field(description="Every user (administrators only).")
    async def users(self, info: GraphInfo) -> list[User]:
        return [User.of(u) for u in await users.list_users(info.context.rt, info.context.caller)]

    @strawberry.field(description="Check an access token; null when it is not valid.")
    async def verify_token(self, info: GraphInfo, token: str) -> User | None:
        try:
            caller = await auth.verify(info.context.rt, token)
        except DomainError:
            return None
        return User.of(await users.get_user(info.context.rt, caller))

    @strawberry.field
    async def organizations(self, info: GraphInfo) -> list[Organization]:
        found = await organizations.list_organizations(info.context.rt, info.context.caller)
        info.context.loaders.remember_organizations(found)
        return [Organization.of(o) for o in found]

    @strawberry.field
    async def organization(self, info: GraphInfo, id: strawberry.ID) -> Organization:
        return Organization.of(await organizations.get_organization(info.context.rt, info.context.caller, id))

    @strawberry.field(description="Workspaces of one organization, or of every organization you belong to.")
    async def workspaces(self, info: GraphInfo, organization_id: strawberry.ID | None = None) -> list[Workspace]:
        rt, caller = info.context.rt, info.context.caller
        if organization_id is None:
            found = await workspaces.list_all_workspaces(rt, caller)
        else:
            found = await workspaces.list_workspaces(rt, caller, organization_id)
        return [Workspace.of(w) for w in found]

    @strawberry.field
    async def workspace(self, info: GraphInfo, id: strawberry.ID) -> Workspace:
        return Workspace.of(await workspaces.get_workspace(info.context.rt, info.context.caller, id))

    @strawberry.field(description="Projects of one workspace, or of every workspace you can see.")
    async def projects(self, info: GraphInfo, workspace_id: strawberry.ID | None = None) -> list[Project]:
        rt, caller = info.context.rt, info.context.caller
        if workspace_id is None:
            found = await projects.list_all_projects(rt, caller)
        else:
            found = await projects.list_projects(rt, caller, workspace_id)
        return [Project.of(p) for p in found]

    @strawberry.field
    async def project(self, info: GraphInfo, id: strawberry.ID) -> Project:
        return Project.of(await projects.get_project(info.context.rt, info.context.caller, id))

    @strawberry.field
    async def workflow_state(self, info: GraphInfo, project_id: strawberry.ID) -> WorkflowState:
        state = await workflow_state.get_workflow_state(info.context.rt, info.context.caller, project_id)
        return WorkflowState.of(state)

    @strawberry.field
    async def settings(self, info: GraphInfo) -> Settings:
        return Settings.of(await settings.get_settings(info.context.rt, info.context.caller))

    @strawberry.field(description="Folder names directly under BASE_ROOT.")
    async def organization_folders(self, info: GraphInfo) -> list[str]:
        return list(await browsing.organization_folders(info.context.rt, info.context.caller))

    @strawberry.field(description="Folder names inside an organization's folder.")
    async def workspace_folders(self, info: GraphInfo, organization_id: strawberry.ID) -> list[str]:
        return list(await browsing.workspace_folders(info.context.rt, info.context.caller, organization_id))

    @strawberry.field(description="Folder names inside a workspace's folder.")
    async def project_folders(self, info: GraphInfo, workspace_id: strawberry.ID) -> list[str]:
        return list(await browsing.project_folders(info.context.rt, info.context.caller, workspace_id))

    @strawberry.field(description="Sandboxes of every project you can see.")
    async def sandboxes(self, info: GraphInfo) -> list[Sandbox]:
        return [Sandbox.of(view) for view in await sandboxes.list_sandboxes(info.context.rt, info.context.caller)]

    @strawberry.field
    async def sandbox(self, info: GraphInfo, id: strawberry.ID) -> Sandbox:
        return Sandbox.of(await sandboxes.get_sandbox(info.context.rt, info.context.caller, id))

    @strawberry.field(description="The configured sandbox images, marking which exist locally.")
    async def sandbox_images(self, info: GraphInfo) -> list[SandboxImage]:
        images, _ = await sandboxes.list_images(info.context.rt, info.context.caller)
        return [SandboxImage.of(image) for image in images]

    @strawberry.field
    async def sandbox_operation(self, info: GraphInfo, id: strawberry.ID) -> SandboxOperation:
        return SandboxOperation.of(await sandbox_operations.get_operation(info.context.rt, info.context.caller, id))

    @strawberry.field(description="A project's sandbox operations, newest first, optionally by status.")
    async def sandbox_operations(
        self, info: GraphInfo, project_id: strawberry.ID, status: list[str] | None = None
    ) -> list[SandboxOperation]:
        found = await sandbox_operations.list_project_operations(
            info.context.rt, info.context.caller, project_id, status or []
        )
        return [SandboxOperation.of(operation) for operation in found]

    @strawberry.field(description="Subfolders of a host folder under HOST_BROWSE_ROOT (legacy).")
    async def host_directories(self, info: GraphInfo, current_path: str | None = None) -> DirectoryListing:
        path, directories = await browsing.browse_host(info.context.rt, info.context.caller, current_path)
        return DirectoryListing(current_path=str(path), directories=list(directories))

    @strawberry.field(description="A task of a project you can see.")
    async def task(self, info: GraphInfo, id: strawberry.ID) -> Task:
        return Task.of(await tasks.get_task(info.context.rt, info.context.caller, None, id))

    @strawberry.field(description="A project's tasks, newest first, filtered and paged (limit capped at 100).")
    async def tasks(
        self,
        info: GraphInfo,
        project_id: strawberry.ID,
        status: list[str] | None = None,
        type: str | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> TaskPage:
        found, total = await tasks.list_tasks(
            info.context.rt,
            info.context.caller,
            project_id,
            statuses=status or [],
            kind=type,
            search=search,
            limit=limit,
            offset=offset,
        )
        return TaskPage(tasks=[Task.of(task) for task in found], total=total)
