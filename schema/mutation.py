"""Mutation root: one mutation for every REST write, plus users and memberships."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import auth, organizations, projects, sandboxes, settings, tasks, users, workflow_state, workspaces
from schema.context import Context
from schema.execution_fields import ExecutionMutations
from schema.memory_fields import MemoryMutations
from schema.memory_import_fields import MemoryImportMutations
from schema.sandbox_types import Sandbox, SandboxOperation
from schema.task_types import Task
from schema.types import AuthPayload, Member, Organization, Project, Settings, User, WorkflowState, Workspace
from schema.unset import sent
from schema.workflow_fields import WorkflowMutations

GraphInfo = Info[Context, None]


@strawberry.enum
class SandboxAction(Enum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    DELETE = "delete"


@strawberry.input
class UpdateProjectInput:
    name: str | None = strawberry.UNSET
    folder_path: str | None = strawberry.UNSET
    sandbox_id: str | None = strawberry.UNSET
    sandbox_name: str | None = strawberry.UNSET
    workflow_id: str | None = strawberry.UNSET
    workflow_state: JSON | None = strawberry.UNSET
    ai_config: JSON | None = strawberry.UNSET


@strawberry.input
class SettingsInput:
    git_display_name: str | None = strawberry.UNSET
    git_email: str | None = strawberry.UNSET
    docker_image: str | None = strawberry.UNSET


def _client_address(info: GraphInfo) -> str | None:
    client = info.context.request.client
    return client.host if client else None


@strawberry.type
class Mutation(MemoryImportMutations, MemoryMutations, WorkflowMutations, ExecutionMutations):
    @strawberry.mutation(description="Log in; needs no token.")
    async def login(self, info: GraphInfo, username: str, password: str) -> AuthPayload:
        session = await auth.login(info.context.rt, username, password, _client_address(info))
        return AuthPayload(token=session.access_token, refresh_token=session.refresh_token, user=User.of(session.user))

    @strawberry.mutation(description="Exchange a refresh token for a new pair; needs no access token.")
    async def refresh_token(self, info: GraphInfo, refresh_token: str) -> AuthPayload:
        session = await auth.refresh(info.context.rt, refresh_token)
        return AuthPayload(token=session.access_token, refresh_token=session.refresh_token, user=User.of(session.user))

    @strawberry.mutation(description="Revoke this login's refresh tokens (and the one given).")
    async def logout(self, info: GraphInfo, refresh_token: str | None = None) -> bool:
        await auth.logout(info.context.rt, info.context.caller, refresh_token)
        return True

    @strawberry.mutation(description="Add a user (administrators only).")
    async def create_user(self, info: GraphInfo, username: str, password: str, is_admin: bool = False) -> User:
        return User.of(await users.create_user(info.context.rt, info.context.caller, username, password, is_admin))

    @strawberry.mutation
    async def create_organization(self, info: GraphInfo, name: str, folder_path: str) -> Organization:
        org = await organizations.create_organization(info.context.rt, info.context.caller, name, folder_path)
        return Organization.of(org)

    @strawberry.mutation
    async def update_organization(
        self,
        info: GraphInfo,
        id: strawberry.ID,
        name: str | None = strawberry.UNSET,
        folder_path: str | None = strawberry.UNSET,
    ) -> Organization:
        org = await organizations.update_organization(
            info.context.rt, info.context.caller, id, name=sent(name), folder_path=sent(folder_path)
        )
        return Organization.of(org)

    @strawberry.mutation(description="Delete the organization's records; its folders stay on disk.")
    async def delete_organization(self, info: GraphInfo, id: strawberry.ID) -> bool:
        await organizations.delete_organization(info.context.rt, info.context.caller, id)
        return True

    @strawberry.mutation(description="Add a member by username, or change a member's role (owner or member).")
    async def set_organization_member(
        self, info: GraphInfo, organization_id: strawberry.ID, username: str, role: str = "member"
    ) -> Member:
        member, user = await organizations.set_member(
            info.context.rt, info.context.caller, organization_id, username, role
        )
        return Member(user=User.of(user), role=member.role, joined_at=member.created_at)

    @strawberry.mutation(description="Remove a member; anyone may leave, owners may remove others.")
    async def remove_organization_member(
        self, info: GraphInfo, organization_id: strawberry.ID, user_id: strawberry.ID
    ) -> bool:
        await organizations.remove_member(info.context.rt, info.context.caller, organization_id, user_id)
        return True

    @strawberry.mutation
    async def create_workspace(
        self, info: GraphInfo, organization_id: strawberry.ID, name: str, folder_path: str
    ) -> Workspace:
        workspace = await workspaces.create_workspace(
            info.context.rt, info.context.caller, organization_id, name, folder_path
        )
        return Workspace.of(workspace)

    @strawberry.mutation
    async def update_workspace(
        self,
        info: GraphInfo,
        id: strawberry.ID,
        name: str | None = strawberry.UNSET,
        folder_path: str | None = strawberry.UNSET,
    ) -> Workspace:
        workspace = await workspaces.update_workspace(
            info.context.rt, info.context.caller, id, name=sent(name), folder_path=sent(folder_path)
        )
        return Workspace.of(workspace)

    @strawberry.mutation(description="Delete the workspace's records; its folders stay on disk.")
    async def delete_workspace(self, info: GraphInfo, id: strawberry.ID) -> bool:
        await workspaces.delete_workspace(info.context.rt, info.context.caller, id)
        return True

    @strawberry.mutation
    async def create_project(
        self,
        info: GraphInfo,
        workspace_id: strawberry.ID,
        name: str,
        folder_path: str,
        workflow_id: str | None = None,
        ai_config: JSON | None = None,
    ) -> Project:
        project = await projects.create_project(
            info.context.rt, info.context.caller, workspace_id, name, folder_path, workflow_id, ai_config
        )
        return Project.of(project)

    @strawberry.mutation(description="Change the fields given; workflowId: null unbinds the workflow.")
    async def update_project(self, info: GraphInfo, id: strawberry.ID, input: UpdateProjectInput) -> Project:
        project = await projects.update_project(
            info.context.rt,
            info.context.caller,
            id,
            name=sent(input.name),
            folder_path=sent(input.folder_path),
            sandbox_id=sent(input.sandbox_id),
            sandbox_name=sent(input.sandbox_name),
            workflow_id=sent(input.workflow_id),
            workflow_state=sent(input.workflow_state),
            ai_config=sent(input.ai_config),
        )
        return Project.of(project)

    @strawberry.mutation(description="Delete a project; its folder goes too only with deleteFolder: true.")
    async def delete_project(self, info: GraphInfo, id: strawberry.ID, delete_folder: bool = False) -> bool:
        await projects.delete_project(info.context.rt, info.context.caller, id, delete_folder)
        return True

    @strawberry.mutation(description="Move a project, and its folder, to another workspace.")
    async def move_project(self, info: GraphInfo, id: strawberry.ID, new_workspace_id: strawberry.ID) -> Project:
        return Project.of(await projects.move_project(info.context.rt, info.context.caller, id, new_workspace_id))

    @strawberry.mutation
    async def update_workflow_state(
        self,
        info: GraphInfo,
        project_id: strawberry.ID,
        current_phase_id: str,
        current_step_id: str | None = strawberry.UNSET,
        step_statuses: JSON | None = strawberry.UNSET,
    ) -> Project:
        project = await workflow_state.set_workflow_state(
            info.context.rt,
            info.context.caller,
            project_id,
            current_phase_id,
            sent(current_step_id),
            sent(step_statuses),
        )
        return Project.of(project)

    @strawberry.mutation(description="Set one step's status: pending, in-progress or completed.")
    async def update_step_status(
        self, info: GraphInfo, project_id: strawberry.ID, step_id: str, status: str
    ) -> WorkflowState:
        state = await workflow_state.set_step_status(info.context.rt, info.context.caller, project_id, step_id, status)
        return WorkflowState.of(state)

    @strawberry.mutation(description="Create and start a project's sandbox.")
    async def create_sandbox(
        self,
        info: GraphInfo,
        project_id: strawberry.ID,
        name: str | None = None,
        image_name: str | None = None,
        ai_config: JSON | None = None,
    ) -> Sandbox:
        view = await sandboxes.create_sandbox(
            info.context.rt, info.context.caller, project_id, name, image_name, ai_config
        )
        return Sandbox.of(view)

    @strawberry.mutation
    async def start_sandbox(self, info: GraphInfo, id: strawberry.ID) -> Sandbox:
        return Sandbox.of(await sandboxes.start_sandbox(info.context.rt, info.context.caller, id))

    @strawberry.mutation
    async def stop_sandbox(self, info: GraphInfo, id: strawberry.ID) -> Sandbox:
        return Sandbox.of(await sandboxes.stop_sandbox(info.context.rt, info.context.caller, id))

    @strawberry.mutation
    async def restart_sandbox(self, info: GraphInfo, id: strawberry.ID) -> Sandbox:
        return Sandbox.of(await sandboxes.restart_sandbox(info.context.rt, info.context.caller, id))

    @strawberry.mutation(description="Delete the sandbox; the project folder stays.")
    async def delete_sandbox(self, info: GraphInfo, id: strawberry.ID) -> bool:
        await sandboxes.delete_sandbox(info.context.rt, info.context.caller, id)
        return True

    @strawberry.mutation(
        description="Start, stop, restart or delete in the background; follow it with sandboxOperation."
    )
    async def sandbox_operation(self, info: GraphInfo, id: strawberry.ID, type: SandboxAction) -> SandboxOperation:
        operation = await info.context.rt.operations.submit(info.context.caller, id, type.value)
        return SandboxOperation.of(operation)

    @strawberry.mutation
    async def cancel_sandbox_operation(self, info: GraphInfo, operation_id: strawberry.ID) -> SandboxOperation:
        return SandboxOperation.of(await info.context.rt.operations.cancel(info.context.caller, operation_id))

    @strawberry.mutation(description="Queue an ad-hoc task (claude, qwen or bash) in the project's sandbox.")
    async def execute_adhoc_task(
        self,
        info: GraphInfo,
        project_id: strawberry.ID,
        title: str,
        prompt: str,
        description: str | None = None,
        parameters: JSON | None = None,
        task_type: str | None = None,
        context_memory_ids: list[str] | None = None,
    ) -> Task:
        task = await tasks.execute_adhoc_task(
            info.context.rt,
            info.context.caller,
            project_id,
            title=title,
            prompt=prompt,
            description=description,
            parameters=parameters,
            task_type=task_type,
            context_memory_ids=context_memory_ids,
        )
        return Task.of(task)

    @strawberry.mutation(description="Queue a task for a workflow step with your own prompt.")
    async def execute_task(
        self, info: GraphInfo, project_id: strawberry.ID, step_id: str, prompt: str, parameters: JSON | None = None
    ) -> Task:
        task = await tasks.execute_step_task(
            info.context.rt, info.context.caller, project_id, step_id=step_id, prompt=prompt, parameters=parameters
        )
        return Task.of(task)

    @strawberry.mutation(description="Run a workflow step as a task: the step's prompt plus your additional input.")
    async def execute_workflow_step(
        self,
        info: GraphInfo,
        project_id: strawberry.ID,
        step_id: str,
        additional_input: str | None = None,
        parameters: JSON | None = None,
    ) -> Task:
        task = await tasks.execute_workflow_step(
            info.context.rt,
            info.context.caller,
            project_id,
            step_id,
            additional_input=additional_input,
            parameters=parameters,
        )
        return Task.of(task)

    @strawberry.mutation(description="Cancel a queued task (it never starts) or a running one (it is killed).")
    async def cancel_task(self, info: GraphInfo, id: strawberry.ID) -> Task:
        return Task.of(await tasks.cancel_task(info.context.rt, info.context.caller, None, id))

    @strawberry.mutation(description="How many of the project's tasks may run at once (1 to 64).")
    async def set_task_limit(self, info: GraphInfo, project_id: strawberry.ID, limit: int) -> Project:
        await tasks.set_task_limit(info.context.rt, info.context.caller, project_id, limit)
        return Project.of(await projects.get_project(info.context.rt, info.context.caller, project_id))

    @strawberry.mutation(description="Change the settings given; null clears one.")
    async def update_settings(self, info: GraphInfo, input: SettingsInput) -> Settings:
        updated = await settings.update_settings(
            info.context.rt,
            info.context.caller,
            git_display_name=sent(input.git_display_name),
            git_email=sent(input.git_email),
            docker_image=sent(input.docker_image),
        )
        return Settings.of(updated)
