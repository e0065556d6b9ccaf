"""Workflow definitions (operations 22-30). `/workflows/versions/{versionId}` is registered before `/workflows/{id}`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import workflows
from resolvers.runtime import Caller
from rest_compat.http import endpoint, field, path_id, read_body, runtime
from rest_compat.spec.workflows import (
    ChangeWorkflowStatusRequest,
    CloneWorkflowRequest,
    CreateWorkflowRequest,
    ListWorkflowsQuery,
    UpdateWorkflowRequest,
    WorkflowResponse,
    WorkflowVersionResponse,
)
from rest_compat.workflow_shapes import workflow_json, workflow_version_json


@endpoint("GET", "/workflows", operation="ListWorkflows", query=ListWorkflowsQuery, response=list[WorkflowResponse])
async def list_workflows(request: Request, caller: Caller) -> Any:
    found = await workflows.list_workflows(runtime(request), caller, request.query_params.get("status"))
    return [workflow_json(workflow) for workflow in found]


@endpoint(
    "POST", "/workflows", status=201, operation="CreateWorkflow", body=CreateWorkflowRequest, response=WorkflowResponse
)
async def create_workflow(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    workflow = await workflows.create_workflow(
        runtime(request),
        caller,
        name=field(body, "name"),
        definition=field(body, "definition"),
        description=field(body, "description"),
        organization_id=field(body, "organizationId"),
    )
    return workflow_json(workflow)


@endpoint("GET", "/workflows/versions/{versionId}", operation="GetWorkflowVersion", response=WorkflowVersionResponse)
async def get_workflow_version(request: Request, caller: Caller) -> Any:
    version = await workflows.get_version(runtime(request), caller, request.path_params["versionId"])
    return workflow_version_json(version)


@endpoint("GET", "/workflows/{id}", operation="GetWorkflow", response=WorkflowResponse)
async def get_workflow(request: Request, caller: Caller) -> Any:
    return workflow_json(await workflows.get_workflow(runtime(request), caller, path_id(request)))


@endpoint("PUT", "/workflows/{id}", operation="UpdateWorkflow", body=UpdateWorkflowRequest, response=WorkflowResponse)
async def update_workflow(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    workflow = await workflows.update_workflow(
        runtime(request),
        caller,
        path_id(request),
        name=field(body, "name"),
        description=field(body, "description"),
        definition=field(body, "definition"),
        change_description=field(body, "changeDescription"),
    )
    return workflow_json(workflow)


@endpoint("DELETE", "/workflows/{id}", status=204, operation="DeleteWorkflow")
async def delete_workflow(request: Request, caller: Caller) -> Any:
    await workflows.delete_workflow(runtime(request), caller, path_id(request))


@endpoint(
    "PATCH",
    "/workflows/{id}/status",
    operation="ChangeWorkflowStatus",
    body=ChangeWorkflowStatusRequest,
    response=WorkflowResponse,
)
async def change_workflow_status(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    workflow = await workflows.change_status(runtime(request), caller, path_id(request), field(body, "status"))
    return workflow_json(workflow)


@endpoint(
    "POST",
    "/workflows/{id}/clone",
    status=201,
    operation="CloneWorkflow",
    body=CloneWorkflowRequest,
    response=WorkflowResponse,
)
async def clone_workflow(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    workflow = await workflows.clone_workflow(
        runtime(request),
        caller,
        path_id(request),
        name=field(body, "name"),
        description=field(body, "description"),
        organization_id=field(body, "organizationId"),
    )
    return workflow_json(workflow)


@endpoint("GET", "/workflows/{id}/versions", operation="ListWorkflowVersions", response=list[WorkflowVersionResponse])
async def list_workflow_versions(request: Request, caller: Caller) -> Any:
    versions = await workflows.list_versions(runtime(request), caller, path_id(request))
    return [workflow_version_json(version) for version in versions]


routes = [
    list_workflows,
    create_workflow,
    get_workflow_version,
    get_workflow,
    update_workflow,
    delete_workflow,
    change_workflow_status,
    clone_workflow,
    list_workflow_versions,
]
