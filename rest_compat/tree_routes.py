"""Organizations, workspaces and projects (operations 1-21) and the SDK's hierarchy views."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import hierarchy, organizations, projects, workflow_state, workspaces
from resolvers.runtime import Caller
from rest_compat.http import ApiRoute, endpoint, field, path_id, read_body, runtime
from rest_compat.shapes import organization_json, project_json, workspace_json
from rest_compat.spec.tree import (
    CreateOrganizationRequest,
    CreateProjectRequest,
    CreateWorkspaceRequest,
    DeleteProjectQuery,
    MoveProjectRequest,
    Organization,
    OrganizationHierarchy,
    Project,
    ProjectPath,
    UpdateOrganizationRequest,
    UpdateProjectRequest,
    UpdateStepStatusRequest,
    UpdateWorkflowStateRequest,
    UpdateWorkspaceRequest,
    WorkflowState,
    Workspace,
)


@endpoint("GET", "/organizations", operation="ListOrganizations", response=list[Organization])
async def list_organizations(request: Request, caller: Caller) -> Any:
    return [organization_json(o) for o in await organizations.list_organizations(runtime(request), caller)]


@endpoint(
    "POST",
    "/organizations",
    status=201,
    operation="CreateOrganization",
    body=CreateOrganizationRequest,
    response=Organization,
)
async def create_organization(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    org = await organizations.create_organization(
        runtime(request), caller, field(body, "name"), field(body, "folderPath")
    )
    return organization_json(org)


@endpoint("GET", "/organizations/{id}", operation="GetOrganization", response=Organization)
async def get_organization(request: Request, caller: Caller) -> Any:
    return organization_json(await organizations.get_organization(runtime(request), caller, path_id(request)))


@endpoint(
    "PUT", "/organizations/{id}", operation="UpdateOrganization", body=UpdateOrganizationRequest, response=Organization
)
async def update_organization(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    org = await organizations.update_organization(
        runtime(request), caller, path_id(request), name=field(body, "name"), folder_path=field(body, "folderPath")
    )
    return organization_json(org)


@endpoint("DELETE", "/organizations/{id}", status=204, operation="DeleteOrganization")
async def delete_organization(request: Request, caller: Caller) -> None:
    await organizations.delete_organization(runtime(request), caller, path_id(request))


@endpoint("GET", "/organizations/{id}/hierarchy", operation="GetOrganizationHierarchy", response=OrganizationHierarchy)
async def organization_hierarchy(request: Request, caller: Caller) -> Any:
    tree = await hierarchy.organization_tree(runtime(request), caller, path_id(request))
    return {
        "organization": organization_json(tree.organization),
        "workspaces": [
            {"workspace": workspace_json(w.workspace), "projects": [project_json(p) for p in w.projects]}
            for w in tree.workspaces
        ],
    }


@endpoint(
    "GET",
    "/organizations/{organizationId}/workspaces",
    operation="ListWorkspacesInOrganization",
    response=list[Workspace],
)
async def list_workspaces_in_organization(request: Request, caller: Caller) -> Any:
    found = await workspaces.list_workspaces(runtime(request), caller, path_id(request, "organizationId"))
    return [workspace_json(w) for w in found]


@endpoint(
    "POST",
    "/organizations/{organizationId}/workspaces",
    status=201,
    operation="CreateWorkspace",
    body=CreateWorkspaceRequest,
    response=Workspace,
)
async def create_workspace(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    workspace = await workspaces.create_workspace(
        runtime(request), caller, path_id(request, "organizationId"), field(body, "name"), field(body, "folderPath")
    )
    return workspace_json(workspace)


@endpoint("GET", "/workspaces", operation="ListAllWorkspaces", response=list[Workspace])
async def list_all_workspaces(request: Request, caller: Caller) -> Any:
    return [workspace_json(w) for w in await workspaces.list_all_workspaces(runtime(request), caller)]


@endpoint("GET", "/workspaces/{id}", operation="GetWorkspace", response=Workspace)
async def get_workspace(request: Request, caller: Caller) -> Any:
    return workspace_json(await workspaces.get_workspace(runtime(request), caller, path_id(request)))


@endpoint("PUT", "/workspaces/{id}", operation="UpdateWorkspace", body=UpdateWorkspaceRequest, response=Workspace)
async def update_workspace(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    workspace = await workspaces.update_workspace(
        runtime(request), caller, path_id(request), name=field(body, "name"), folder_path=field(body, "folderPath")
    )
    return workspace_json(workspace)


@endpoint("DELETE", "/workspaces/{id}", status=204, operation="DeleteWorkspace")
async def delete_workspace(request: Request, caller: Caller) -> None:
    await workspaces.delete_workspace(runtime(request), caller, path_id(request))


@endpoint("GET", "/workspaces/{workspaceId}/projects", operation="ListProjectsInWorkspace", response=list[Project])
async def list_projects_in_workspace(request: Request, caller: Caller) -> Any:
    found = await projects.list_projects(runtime(request), caller, path_id(request, "workspaceId"))
    return [project_json(p) for p in found]


@endpoint(
    "POST",
    "/workspaces/{workspaceId}/projects",
    status=201,
    operation="CreateProject",
    body=CreateProjectRequest,
    response=Project,
)
async def create_project(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    project = await projects.create_project(
        runtime(request),
        caller,
        path_id(request, "workspaceId"),
        field(body, "name"),
        field(body, "folderPath"),
        workflow_id=body.get("workflowId"),
        ai_config=body.get("aiConfig"),
        network_settings=body.get("network"),
    )
    return project_json(project)


@endpoint("GET", "/projects", operation="ListAllProjects", response=list[Project])
async def list_all_projects(request: Request, caller: Caller) -> Any:
    return [project_json(p) for p in await projects.list_all_projects(runtime(request), caller)]


@endpoint("GET", "/projects/{id}", operation="GetProject", response=Project)
async def get_project(request: Request, caller: Caller) -> Any:
    return project_json(await projects.get_project(runtime(request), caller, path_id(request)))


@endpoint("PUT", "/projects/{id}", operation="UpdateProject", body=UpdateProjectRequest, response=Project)
async def update_project(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    project = await projects.update_project(
        runtime(request),
        caller,
        path_id(request),
        name=field(body, "name"),
        folder_path=field(body, "folderPath"),
        sandbox_id=field(body, "sandboxId"),
        sandbox_name=field(body, "sandboxName"),
        workflow_state=field(body, "workflowState"),
        workflow_id=field(body, "workflowId"),
        ai_config=field(body, "aiConfig"),
    )
    return project_json(project)


@endpoint("DELETE", "/projects/{id}", status=204, operation="DeleteProject", query=DeleteProjectQuery)
async def delete_project(request: Request, caller: Caller) -> None:
    delete_folder = request.query_params.get("deleteFolder")
    await projects.delete_project(runtime(request), caller, path_id(request), delete_folder)


@endpoint("POST", "/projects/{id}/move", operation="MoveProject", body=MoveProjectRequest, response=Project)
async def move_project(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    target = field(body, "newWorkspaceId", "targetWorkspaceId", "workspaceId")
    return project_json(await projects.move_project(runtime(request), caller, path_id(request), target))


@endpoint("GET", "/projects/{id}/path", operation="GetProjectPath", response=ProjectPath)
async def project_path(request: Request, caller: Caller) -> Any:
    path = await projects.get_project_path(runtime(request), caller, path_id(request))
    return {
        "organization": organization_json(path.organization),
        "workspace": workspace_json(path.workspace),
        "project": project_json(path.project),
    }


@endpoint("GET", "/projects/{id}/workflow", operation="GetWorkflowState", response=WorkflowState)
async def get_workflow_state(request: Request, caller: Caller) -> Any:
    return await workflow_state.get_workflow_state(runtime(request), caller, path_id(request))


@endpoint(
    "PUT", "/projects/{id}/workflow", operation="UpdateWorkflowState", body=UpdateWorkflowStateRequest, response=Project
)
async def update_workflow_state(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    project = await workflow_state.set_workflow_state(
        runtime(request),
        caller,
        path_id(request),
        field(body, "currentPhaseId"),
        field(body, "currentStepId"),
        field(body, "stepStatuses"),
    )
    return project_json(project)


async def _update_step_status(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    return await workflow_state.set_step_status(
        runtime(request), caller, path_id(request), request.path_params["stepId"], field(body, "status")
    )


def _step_status_route(method: str, operation: str) -> ApiRoute:
    return endpoint(
        method,
        "/projects/{id}/workflow/step/{stepId}",
        operation=operation,
        body=UpdateStepStatusRequest,
        response=WorkflowState,
    )(_update_step_status)


update_step_status = _step_status_route("PUT", "UpdateStepStatus")
patch_step_status = _step_status_route("PATCH", "PatchStepStatus")

routes = [
    list_organizations,
    create_organization,
    get_organization,
    update_organization,
    delete_organization,
    organization_hierarchy,
    list_workspaces_in_organization,
    create_workspace,
    list_all_workspaces,
    get_workspace,
    update_workspace,
    delete_workspace,
    list_projects_in_workspace,
    create_project,
    list_all_projects,
    get_project,
    update_project,
    delete_project,
    move_project,
    project_path,
    get_workflow_state,
    update_workflow_state,
    update_step_status,
    patch_step_status,
]
