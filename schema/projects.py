"""Projects (resolvers/projects.py, workflow_state.py; operations 12-21): the project, its manual workflow
tracker, and the graph below it (sandbox, workflow, tasks, executions, operations, queue)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import strawberry
from strawberry.scalars import JSON

from resolvers import executions, network, projects, sandbox_operations, tasks, workflow_state
from resolvers.network import NetworkSettings
from resolvers.pages import page_request
from schema.connections import After, Before, Connection, First, Last, list_key, nested_connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.memories import ContextScope
from schema.network import NetworkInput, ProjectNetwork, network_body
from schema.organizations import Organization
from schema.relay import database_id, global_id, optional_database_id
from schema.unset import sent
from schema.usage import SpendingScope
from schema.workspaces import Workspace, workspace_id
from store import models

if TYPE_CHECKING:
    from schema.agents import TaskIsolation
    from schema.executions import Execution, ExecutionStatus
    from schema.sandboxes import OperationStatus, Sandbox, SandboxOperation
    from schema.secrets import Secret
    from schema.tasks import QueueStatus, Task, TaskKind, TaskStatus
    from schema.workflows import Workflow, WorkflowVersion


@strawberry.enum(description="A step's state in a project's manual workflow tracker.")
class TrackedStepStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Not started.")
    IN_PROGRESS = strawberry.enum_value("in-progress", description="Being worked on.")
    COMPLETED = strawberry.enum_value("completed", description="Done.")


@strawberry.type(description="One step's state in the manual tracker.")
class TrackedStep:
    step_id: str = strawberry.field(description="The step's id in the workflow definition.")
    status: TrackedStepStatus = strawberry.field(description="Its state.")


@strawberry.type(description="Where a project stands in its workflow, as the console's tracker records it by hand.")
class WorkflowState:
    current_phase_id: str = strawberry.field(description="The phase the project is in (a definition id).")
    current_step_id: str | None = strawberry.field(description="The step it is on, if any.")
    steps: list[TrackedStep] = strawberry.field(description="The steps whose state was set, by step id.")
    last_updated: datetime | None = strawberry.field(description="When the tracker last changed; null if never.")

    @classmethod
    def of(cls, state: dict[str, Any]) -> WorkflowState:
        updated = state.get("lastUpdated")
        return cls(
            current_phase_id=state["currentPhaseId"],
            current_step_id=state["currentStepId"],
            steps=[
                TrackedStep(step_id=step_id, status=TrackedStepStatus(status))
                for step_id, status in sorted(state["stepStatuses"].items())
            ],
            last_updated=datetime.fromisoformat(updated) if isinstance(updated, str) else None,
        )


@strawberry.type(description="A folder of code inside a workspace, with its own sandbox, tasks and workflow.")
class Project(ContextScope, SpendingScope):
    SCOPE: ClassVar[str] = "project"
    name: str = strawberry.field(description="Its display name (unique in the workspace).")
    folder_path: str = strawberry.field(description="Its folder's name inside the workspace's folder.")
    ai_config: JSON | None = strawberry.field(
        description="AI windows (type, model, key), folder and port mappings, environment for its sandbox."
    )
    task_limit: int = strawberry.field(description="How many of its tasks may run at once (1 to 64).")
    sandbox_name: str | None = strawberry.field(description="The name of its sandbox as recorded on the project.")
    workflow_state: WorkflowState = strawberry.field(
        description="The manual tracker; the default state when never set."
    )
    created_at: datetime = strawberry.field(description="When it was made.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    workspace_id: strawberry.Private[str]
    workflow_id: strawberry.Private[str | None]
    workflow_version_id: strawberry.Private[str | None]
    isolation: strawberry.Private[str]
    network_settings: strawberry.Private[NetworkSettings]

    @classmethod
    def of(cls, project: models.Project) -> Project:
        return cls(
            id=global_id("Project", project.id),
            database_id=project.id,
            name=project.name,
            folder_path=project.folder_path,
            ai_config=project.ai_config,
            task_limit=project.task_limit,
            sandbox_name=project.sandbox_name,
            workflow_state=WorkflowState.of(workflow_state.state_of(project)),
            created_at=project.created_at,
            updated_at=project.updated_at,
            workspace_id=project.workspace_id,
            workflow_id=project.workflow_id,
            workflow_version_id=project.workflow_version_id,
            isolation=project.task_isolation,
            network_settings=network.settings_of(project),
        )

    @strawberry.field(description="Where its new tasks work unless they say (worktree needs a git repository).")
    async def task_isolation(self) -> Annotated[TaskIsolation, strawberry.lazy("schema.agents")]:
        from schema.agents import TaskIsolation

        return TaskIsolation(self.isolation)

    @strawberry.field(description="What its sandbox may reach (fixed into a sandbox when it is created).")
    def network(self) -> ProjectNetwork:
        return ProjectNetwork.of(self.network_settings)

    @strawberry.field(description="The workspace it belongs to.")
    async def workspace(self, info: GraphInfo) -> Workspace | None:
        found = await info.context.loaders.workspace.load(self.workspace_id)
        return Workspace.of(found) if found else None

    @strawberry.field(description="The organization it belongs to.")
    async def organization(self, info: GraphInfo) -> Organization | None:
        workspace = await info.context.loaders.workspace.load(self.workspace_id)
        if workspace is None:
            return None
        found = await info.context.loaders.organization.load(workspace.organization_id)
        return Organization.of(found) if found else None

    @strawberry.field(description="Its sandbox, with its live status; null when it has none.")
    async def sandbox(self, info: GraphInfo) -> Annotated[Sandbox, strawberry.lazy("schema.sandboxes")] | None:
        from schema.sandboxes import Sandbox

        view = await info.context.loaders.sandbox_of_project.load(self.database_id)
        return Sandbox.of(view) if view else None

    @strawberry.field(description="The workflow it is bound to; null when none, or not visible to you.")
    async def workflow(self, info: GraphInfo) -> Annotated[Workflow, strawberry.lazy("schema.workflows")] | None:
        from schema.workflows import Workflow

        if self.workflow_id is None:
            return None
        found = await info.context.loaders.workflow.load(self.workflow_id)
        return Workflow.of(found) if found else None

    @strawberry.field(description="The version of its workflow it is pinned to; null when it follows the latest.")
    async def workflow_version(
        self, info: GraphInfo
    ) -> Annotated[WorkflowVersion, strawberry.lazy("schema.workflows")] | None:
        from schema.workflows import WorkflowVersion

        if self.workflow_version_id is None:
            return None
        found = await info.context.loaders.version.load(self.workflow_version_id)
        return WorkflowVersion.of(found) if found else None

    @strawberry.field(description="Its tasks, newest first.")
    async def tasks(
        self,
        info: GraphInfo,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            list[Annotated[TaskStatus, strawberry.lazy("schema.tasks")]] | None,
            strawberry.argument(description="Only tasks in one of these states."),
        ] = None,
        kind: Annotated[
            Annotated[TaskKind, strawberry.lazy("schema.tasks")] | None,
            strawberry.argument(description="Only workflow-step or only ad-hoc tasks."),
        ] = None,
        search: Annotated[
            str | None, strawberry.argument(description="Only tasks whose title or prompt holds this.")
        ] = None,
    ) -> Connection[Annotated[Task, strawberry.lazy("schema.tasks")]]:
        from schema.tasks import Task

        statuses = [s.value for s in status or []]
        listing = tasks.task_listing(info.context.caller, statuses, kind.value if kind else None, search)
        request = page_request(first, after, last, before)
        key = (list_key(statuses), kind, search)
        return await nested_connection(info, self.database_id, listing, request, Task.of, *key)

    @strawberry.field(description="Its workflow executions, newest first.")
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
        listing = executions.execution_listing(info.context.caller, statuses)
        request = page_request(first, after, last, before)
        return await nested_connection(info, self.database_id, listing, request, Execution.of, list_key(statuses))

    @strawberry.field(description="Its sandbox operations (start, stop, …), newest first.")
    async def operations(
        self,
        info: GraphInfo,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            list[Annotated[OperationStatus, strawberry.lazy("schema.sandboxes")]] | None,
            strawberry.argument(description="Only operations in one of these states."),
        ] = None,
    ) -> Connection[Annotated[SandboxOperation, strawberry.lazy("schema.sandboxes")]]:
        from schema.sandboxes import SandboxOperation

        statuses = [s.value for s in status or []]
        listing = sandbox_operations.operation_listing(info.context.caller, statuses)
        request = page_request(first, after, last, before)
        return await nested_connection(
            info, self.database_id, listing, request, SandboxOperation.of, list_key(statuses)
        )

    @strawberry.field(description="Its secrets by name: names and dates only, never values.")
    async def secrets(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Annotated[Secret, strawberry.lazy("schema.secrets")]]:
        from schema.secrets import secret_connection

        return await secret_connection(info, "project", self.database_id, page_request(first, after, last, before))

    @strawberry.field(description="How many of its tasks wait and run now.")
    async def queue_status(self, info: GraphInfo) -> Annotated[QueueStatus, strawberry.lazy("schema.tasks")]:
        from schema.tasks import QueueStatus

        return QueueStatus.of(await info.context.loaders.queue_status.load(self.database_id))


def project_id(value: object, field: str = "id") -> str:
    return database_id(field, value, "Project")


@strawberry.input(description="A new project.")
class CreateProjectInput:
    workspace_id: strawberry.ID = strawberry.field(description="The workspace to make it in.")
    name: str = strawberry.field(description="Its display name.")
    folder_path: str = strawberry.field(description="Its folder inside the workspace's (an existing one is adopted).")
    workflow_id: strawberry.ID | None = strawberry.field(default=None, description="A workflow to bind it to.")
    ai_config: JSON | None = strawberry.field(default=None, description="AI windows, mappings and environment.")
    network: NetworkInput | None = strawberry.field(
        default=None, description="Its sandbox's network (owners of the organization only); unset, the default."
    )


@strawberry.input(description="What to change in a project; fields left out stay.")
class UpdateProjectInput:
    id: strawberry.ID = strawberry.field(description="The project.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    folder_path: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new folder name; the folder is renamed on disk."
    )
    workflow_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="A workflow to bind it to; null unbinds (and unpins) it."
    )
    ai_config: JSON | None = strawberry.field(default=strawberry.UNSET, description="New AI configuration.")


@strawberry.input(description="A project to delete.")
class DeleteProjectInput:
    id: strawberry.ID = strawberry.field(description="The project (its sandbox is deleted with it).")
    delete_folder: bool = strawberry.field(default=False, description="Delete its folder on disk too.")


@strawberry.input(description="A project to move to another workspace.")
class MoveProjectInput:
    id: strawberry.ID = strawberry.field(description="The project.")
    workspace_id: strawberry.ID = strawberry.field(description="The workspace to move it (and its folder) to.")


@strawberry.input(description="One step's state in the manual tracker.")
class TrackedStepInput:
    step_id: str = strawberry.field(description="The step's id in the definition.")
    status: TrackedStepStatus = strawberry.field(description="Its state.")


@strawberry.input(description="The manual tracker's new state.")
class UpdateWorkflowStateInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    current_phase_id: str = strawberry.field(description="The phase it is in.")
    current_step_id: str | None = strawberry.field(default=strawberry.UNSET, description="The step it is on.")
    steps: list[TrackedStepInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Every step's state (replaces those set before)."
    )


@strawberry.input(description="One step's new state in the manual tracker.")
class SetTrackedStepInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    step_id: str = strawberry.field(description="The step.")
    status: TrackedStepStatus = strawberry.field(description="Its new state.")


@strawberry.type(description="The result of a mutation that changes a project.")
class ProjectPayload(Payload):
    project: Project | None = strawberry.field(default=None, description="The project as stored.")


@strawberry.type(description="The result of deleteProject.")
class DeleteProjectPayload(Payload):
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted project's id.")


def _project_payload(project: models.Project | None, errors: list[Any]) -> ProjectPayload:
    return ProjectPayload(project=Project.of(project) if project else None, user_errors=errors)


@strawberry.type
class ProjectMutations:
    @strawberry.mutation(description="Make a project and its folder in a workspace.")
    async def create_project(self, info: GraphInfo, input: CreateProjectInput) -> ProjectPayload:
        async def create() -> models.Project:
            return await projects.create_project(
                info.context.rt,
                info.context.caller,
                workspace_id(input.workspace_id, "workspaceId"),
                input.name,
                input.folder_path,
                optional_database_id("workflowId", input.workflow_id, "Workflow"),
                input.ai_config,
                None if input.network is None else network_body(input.network),
            )

        return _project_payload(*await attempt(create()))

    @strawberry.mutation(description="Change a project's name, folder, workflow or AI configuration.")
    async def update_project(self, info: GraphInfo, input: UpdateProjectInput) -> ProjectPayload:
        async def update() -> models.Project:
            workflow = sent(input.workflow_id)
            return await projects.update_project(
                info.context.rt,
                info.context.caller,
                project_id(input.id),
                name=sent(input.name),
                folder_path=sent(input.folder_path),
                workflow_id=workflow
                if not isinstance(workflow, str)
                else database_id("workflowId", workflow, "Workflow"),
                ai_config=sent(input.ai_config),
            )

        return _project_payload(*await attempt(update()))

    @strawberry.mutation(description="Delete a project and its sandbox; its folder goes too only when asked.")
    async def delete_project(self, info: GraphInfo, input: DeleteProjectInput) -> DeleteProjectPayload:
        async def delete() -> None:
            await projects.delete_project(
                info.context.rt, info.context.caller, project_id(input.id), input.delete_folder
            )

        _, errors = await attempt(delete())
        return DeleteProjectPayload(deleted_id=None if errors else input.id, user_errors=errors)

    @strawberry.mutation(description="Move a project, and its folder, to another workspace.")
    async def move_project(self, info: GraphInfo, input: MoveProjectInput) -> ProjectPayload:
        async def move() -> models.Project:
            target = workspace_id(input.workspace_id, "workspaceId")
            return await projects.move_project(info.context.rt, info.context.caller, project_id(input.id), target)

        return _project_payload(*await attempt(move()))

    @strawberry.mutation(description="Set the manual tracker: current phase and step, and steps' states.")
    async def update_workflow_state(self, info: GraphInfo, input: UpdateWorkflowStateInput) -> ProjectPayload:
        async def update() -> models.Project:
            steps = sent(input.steps)
            statuses = (
                steps if steps is None or not isinstance(steps, list) else {s.step_id: s.status.value for s in steps}
            )
            return await workflow_state.set_workflow_state(
                info.context.rt,
                info.context.caller,
                project_id(input.project_id, "projectId"),
                input.current_phase_id,
                sent(input.current_step_id),
                statuses,
            )

        return _project_payload(*await attempt(update()))

    @strawberry.mutation(description="Set one step's state in the manual tracker.")
    async def set_tracked_step(self, info: GraphInfo, input: SetTrackedStepInput) -> ProjectPayload:
        async def set_step() -> models.Project:
            rt, caller, checked = info.context.rt, info.context.caller, project_id(input.project_id, "projectId")
            await workflow_state.set_step_status(rt, caller, checked, input.step_id, input.status.value)
            return await projects.get_project(rt, caller, checked)

        return _project_payload(*await attempt(set_step()))
