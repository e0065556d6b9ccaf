"""Organizations, workspaces, projects and the project's workflow tracker (operations 1-21)."""

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from resolvers.workflow_state import STEP_STATUSES
from rest_compat.spec import FolderName, Id, Name, Timestamp, optional_text
from rest_compat.spec.network import NetworkRequest

StepStatus = Literal[STEP_STATUSES]


class Organization(TypedDict):
    """`folderPath` is one folder name under the base folder."""

    id: str
    name: str
    folderPath: str
    createdAt: Timestamp
    updatedAt: Timestamp
    createdById: NotRequired[str]


class Workspace(TypedDict):
    """`folderPath` is one folder name under its organization's folder."""

    id: str
    organizationId: str
    name: str
    folderPath: str
    createdAt: Timestamp
    updatedAt: Timestamp


class WorkflowState(TypedDict):
    """The project's manual workflow tracker; the default (phase `rapid-prototyping`) until it is set."""

    currentPhaseId: str
    currentStepId: str | None
    stepStatuses: dict[str, StepStatus]
    lastUpdated: Timestamp | None


class Project(TypedDict):
    """`folderPath` is one folder name under its workspace's folder; `workflowId` null means the built-in
    lifecycle."""

    id: str
    workspaceId: str
    name: str
    folderPath: str
    sandboxId: NotRequired[str]
    sandboxName: NotRequired[str]
    workflowId: str | None
    workflowVersionId: str | None
    workflowState: NotRequired[WorkflowState]
    aiConfig: NotRequired[dict[str, Any]]
    createdAt: Timestamp
    updatedAt: Timestamp


class WorkspaceProjects(TypedDict):
    workspace: Workspace
    projects: list[Project]


class OrganizationHierarchy(TypedDict):
    organization: Organization
    workspaces: list[WorkspaceProjects]


class ProjectPath(TypedDict):
    organization: Organization
    workspace: Workspace
    project: Project


class CreateOrganizationRequest(TypedDict):
    name: Name
    folderPath: FolderName


class UpdateOrganizationRequest(TypedDict, total=False):
    name: Name
    folderPath: FolderName


class CreateWorkspaceRequest(TypedDict):
    name: Name
    folderPath: FolderName


class UpdateWorkspaceRequest(TypedDict, total=False):
    name: Name
    folderPath: FolderName


class CreateProjectRequest(TypedDict):
    name: Name
    folderPath: FolderName
    workflowId: NotRequired[optional_text(36)]
    aiConfig: NotRequired[dict[str, Any] | None]
    network: NotRequired[NetworkRequest]
    """The sandbox's network (owners of the organization only); see `PUT /projects/{projectId}/network`."""


class UpdateProjectRequest(TypedDict, total=False):
    """`workflowId` null (or blank) unbinds the project's workflow."""

    name: Name
    folderPath: FolderName
    sandboxId: optional_text(128)
    sandboxName: optional_text(255)
    workflowState: "UpdateWorkflowStateRequest | None"
    workflowId: optional_text(36)
    aiConfig: dict[str, Any] | None


class MoveProjectRequest(TypedDict):
    """`targetWorkspaceId` (the console's name) is accepted in its place."""

    newWorkspaceId: Id


class DeleteProjectQuery(TypedDict, total=False):
    deleteFolder: bool


class UpdateWorkflowStateRequest(TypedDict):
    currentPhaseId: Name
    currentStepId: NotRequired[optional_text(200)]
    stepStatuses: NotRequired[dict[str, StepStatus] | None]


class UpdateStepStatusRequest(TypedDict):
    status: StepStatus
