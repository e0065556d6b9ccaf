"""GraphQL object types: thin views of domain objects, with nested fields through DataLoaders."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import executions, tasks, workflow_state
from resolvers.settings import preferences_of
from schema.context import Context
from schema.sandbox_types import Sandbox
from schema.workflow_types import Workflow
from store import models

if TYPE_CHECKING:
    from schema.execution_types import ExecutionConnection
    from schema.memory_types import MemoryConnection
    from schema.task_types import QueueStatus, TaskConnection


@strawberry.type
class User:
    id: strawberry.ID
    username: str
    is_admin: bool
    created_at: datetime

    @classmethod
    def of(cls, user: models.User) -> User:
        return cls(
            id=strawberry.ID(user.id), username=user.username, is_admin=user.is_admin, created_at=user.created_at
        )


@strawberry.type
class Member:
    user: User
    role: str
    joined_at: datetime


@strawberry.type
class WorkflowState:
    current_phase_id: str
    current_step_id: str | None
    step_statuses: JSON
    last_updated: str | None

    @classmethod
    def of(cls, state: dict[str, Any]) -> WorkflowState:
        return cls(
            current_phase_id=state["currentPhaseId"],
            current_step_id=state["currentStepId"],
            step_statuses=state["stepStatuses"],
            last_updated=state["lastUpdated"],
        )


@strawberry.type
class Organization:
    id: strawberry.ID
    name: str
    folder_path: str
    created_by_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, org: models.Organization) -> Organization:
        return cls(
            id=strawberry.ID(org.id),
            name=org.name,
            folder_path=org.folder_path,
            created_by_id=org.created_by_id,
            created_at=org.created_at,
            updated_at=org.updated_at,
        )

    @strawberry.field
    async def workspaces(self, info: Info[Context, None]) -> list[Workspace]:
        found = await info.context.loaders.workspaces_of_organization.load(self.id)
        info.context.loaders.remember_workspaces(found)
        return [Workspace.of(w) for w in found]

    @strawberry.field
    async def members(self, info: Info[Context, None]) -> list[Member]:
        rows = await info.context.loaders.members_of_organization.load(self.id)
        return [Member(user=User.of(user), role=member.role, joined_at=member.created_at) for member, user in rows]


@strawberry.type
class Workspace:
    id: strawberry.ID
    organization_id: str
    name: str
    folder_path: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, workspace: models.Workspace) -> Workspace:
        return cls(
            id=strawberry.ID(workspace.id),
            organization_id=workspace.organization_id,
            name=workspace.name,
            folder_path=workspace.folder_path,
            created_at=workspace.created_at,
            updated_at=workspace.updated_at,
        )

    @strawberry.field
    async def organization(self, info: Info[Context, None]) -> Organization:
        return Organization.of(await info.context.loaders.organization.load(self.organization_id))

    @strawberry.field
    async def projects(self, info: Info[Context, None]) -> list[Project]:
        return [Project.of(p) for p in await info.context.loaders.projects_of_workspace.load(self.id)]


@strawberry.type
class Project:
    id: strawberry.ID
    workspace_id: str
    name: str
    folder_path: str
    sandbox_id: str | None
    sandbox_name: str | None
    workflow_id: str | None
    workflow_version_id: str | None
    ai_config: JSON | None
    task_limit: int = strawberry.field(description="How many of the project's tasks may run at once.")
    created_at: datetime
    updated_at: datetime
    workflow_state: WorkflowState = strawberry.field(
        description="The manual workflow tracker; the default state when never set."
    )

    @classmethod
    def of(cls, project: models.Project) -> Project:
        return cls(
            id=strawberry.ID(project.id),
            workspace_id=project.workspace_id,
            name=project.name,
            folder_path=project.folder_path,
            sandbox_id=project.sandbox_id,
            sandbox_name=project.sandbox_name,
            workflow_id=project.workflow_id,
            workflow_version_id=project.workflow_version_id,
            ai_config=project.ai_config,
            task_limit=project.task_limit,
            created_at=project.created_at,
            updated_at=project.updated_at,
            workflow_state=WorkflowState.of(workflow_state.state_of(project)),
        )

    @strawberry.field
    async def workspace(self, info: Info[Context, None]) -> Workspace:
        return Workspace.of(await info.context.loaders.workspace.load(self.workspace_id))

    @strawberry.field(description="The project's sandbox, with its live status; null when it has none.")
    async def sandbox(self, info: Info[Context, None]) -> Sandbox | None:
        view = await info.context.loaders.sandbox_of_project.load(str(self.id))
        return Sandbox.of(view) if view else None

    @strawberry.field(description="The workflow the project is bound to; null when none or not visible to you.")
    async def workflow(self, info: Info[Context, None]) -> Workflow | None:
        if self.workflow_id is None:
            return None
        workflow = await info.context.loaders.workflow.load(self.workflow_id)
        return Workflow.of(workflow) if workflow else None

    @strawberry.field
    async def organization(self, info: Info[Context, None]) -> Organization:
        workspace = await info.context.loaders.workspace.load(self.workspace_id)
        return Organization.of(await info.context.loaders.organization.load(workspace.organization_id))

    @strawberry.field(description="The project's tasks, newest first: a cursor connection (`first` capped at 100).")
    async def tasks(
        self,
        info: Info[Context, None],
        first: int = 50,
        after: str | None = None,
        status: list[str] | None = None,
        type: str | None = None,
        search: str | None = None,
    ) -> Annotated[TaskConnection, strawberry.lazy("schema.task_types")]:
        from schema.pagination import decode_cursor
        from schema.task_types import task_connection

        start = decode_cursor(after)
        found, total = await tasks.list_tasks(
            info.context.rt,
            info.context.caller,
            str(self.id),
            statuses=status or [],
            kind=type,
            search=search,
            limit=first,
            offset=start,
        )
        return task_connection(found, total, start)

    @strawberry.field(
        description="The project's workflow executions, newest first: a cursor connection (`first` capped at 100)."
    )
    async def executions(
        self,
        info: Info[Context, None],
        first: int = 50,
        after: str | None = None,
        status: list[str] | None = None,
    ) -> Annotated[ExecutionConnection, strawberry.lazy("schema.execution_types")]:
        from schema.execution_types import execution_connection
        from schema.pagination import decode_cursor

        start = decode_cursor(after)
        found, total = await executions.list_project_executions(
            info.context.rt, info.context.caller, str(self.id), status or [], first, start
        )
        return execution_connection(found, total, start)

    @strawberry.field(description="The project's memories (with inherited ones when asked), newest first.")
    async def memories(
        self,
        info: Info[Context, None],
        first: int = 50,
        after: str | None = None,
        memory_type: str | None = None,
        include_inherited: bool = False,
    ) -> Annotated[MemoryConnection, strawberry.lazy("schema.memory_types")]:
        from schema.memory_fields import scope_memories

        return await scope_memories(info, "project", str(self.id), first, after, memory_type, None, include_inherited)

    @strawberry.field(description="How many of the project's tasks wait and run.")
    async def queue_status(
        self, info: Info[Context, None]
    ) -> Annotated[QueueStatus, strawberry.lazy("schema.task_types")]:
        from schema.task_types import QueueStatus

        return QueueStatus.of(await tasks.queue_status(info.context.rt, info.context.caller, str(self.id)))


@strawberry.type
class Preferences:
    theme: str
    language: str
    notifications: JSON


@strawberry.type
class Settings:
    user_id: str
    preferences: Preferences
    git_display_name: str | None
    git_email: str | None
    docker_image: str | None
    updated_at: datetime | None

    @classmethod
    def of(cls, settings: models.UserSettings) -> Settings:
        prefs = preferences_of(settings)
        return cls(
            user_id=settings.user_id,
            preferences=Preferences(
                theme=prefs["theme"], language=prefs["language"], notifications=prefs["notifications"]
            ),
            git_display_name=settings.git_display_name,
            git_email=settings.git_email,
            docker_image=settings.docker_image,
            updated_at=settings.updated_at,
        )


@strawberry.type
class AuthPayload:
    token: str
    refresh_token: str
    user: User


@strawberry.type
class DirectoryListing:
    current_path: str
    directories: list[str]


@strawberry.type
class Health:
    status: str
    uptime: float
