"""Sandboxes ("flexy", operations 51-63) plus the `GET /flexy/{id}` and restart the SDK calls."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import projects, sandbox_operations, sandboxes
from resolvers.runtime import Caller
from rest_compat.http import ApiRoute, endpoint, field, path_id, read_body, runtime
from rest_compat.shapes import image_json, operation_json, sandbox_creation_json, sandbox_json
from rest_compat.spec.sandboxes import (
    AsyncOperationResponse,
    CancelOperationResponse,
    CreateSandboxRequest,
    OperationList,
    OperationListQuery,
    SandboxCreationResponse,
    SandboxImagesListResponse,
    SandboxInfoResponse,
    SandboxOperation,
)


@endpoint("GET", "/flexy", operation="ListSandboxes", response=list[SandboxInfoResponse])
async def list_sandboxes(request: Request, caller: Caller) -> Any:
    return [sandbox_json(view) for view in await sandboxes.list_sandboxes(runtime(request), caller)]


@endpoint(
    "POST",
    "/flexy",
    status=201,
    operation="CreateSandbox",
    body=CreateSandboxRequest,
    response=SandboxCreationResponse,
)
async def create_sandbox(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    rt = runtime(request)
    view = await sandboxes.create_sandbox(
        rt, caller, field(body, "projectId"), body.get("name"), body.get("imageName"), body.get("aiConfig")
    )
    return sandbox_creation_json(view, await projects.get_project(rt, caller, view.record.project_id))


@endpoint("GET", "/flexy/images", operation="ListSandboxImages", response=SandboxImagesListResponse)
async def list_images(request: Request, caller: Caller) -> Any:
    images, default = await sandboxes.list_images(runtime(request), caller)
    return {"images": [image_json(image) for image in images], "total": len(images), "defaultImageId": default}


@endpoint("GET", "/flexy/operations/{operationId}", operation="GetOperationStatus", response=SandboxOperation)
async def get_operation(request: Request, caller: Caller) -> Any:
    operation_id = request.path_params["operationId"]
    return operation_json(await sandbox_operations.get_operation(runtime(request), caller, operation_id))


@endpoint(
    "POST",
    "/flexy/operations/{operationId}/cancel",
    operation="CancelOperation",
    response=CancelOperationResponse,
)
async def cancel_operation(request: Request, caller: Caller) -> Any:
    operation = await runtime(request).operations.cancel(caller, request.path_params["operationId"])
    return {"operationId": operation.id, "message": f"Operation {operation.status}", "status": operation.status}


@endpoint(
    "GET",
    "/flexy/projects/{projectId}/operations",
    operation="GetProjectOperations",
    query=OperationListQuery,
    response=OperationList,
)
async def project_operations(request: Request, caller: Caller) -> Any:
    statuses = request.query_params.getlist("status")
    found = await sandbox_operations.list_project_operations(
        runtime(request), caller, request.path_params["projectId"], [s for v in statuses for s in v.split(",") if s]
    )
    return {"operations": [operation_json(operation) for operation in found]}


@endpoint("GET", "/flexy/{id}", operation="GetSandbox", response=SandboxInfoResponse)
async def get_sandbox(request: Request, caller: Caller) -> Any:
    return sandbox_json(await sandboxes.get_sandbox(runtime(request), caller, path_id(request)))


@endpoint("POST", "/flexy/{id}/start", status=204, operation="StartSandbox")
async def start_sandbox(request: Request, caller: Caller) -> None:
    await sandboxes.start_sandbox(runtime(request), caller, path_id(request))


@endpoint("POST", "/flexy/{id}/stop", status=204, operation="StopSandbox")
async def stop_sandbox(request: Request, caller: Caller) -> None:
    await sandboxes.stop_sandbox(runtime(request), caller, path_id(request))


@endpoint("POST", "/flexy/{id}/restart", status=204, operation="RestartSandbox")
async def restart_sandbox(request: Request, caller: Caller) -> None:
    await sandboxes.restart_sandbox(runtime(request), caller, path_id(request))


@endpoint("DELETE", "/flexy/{id}", status=204, operation="DeleteSandbox")
async def delete_sandbox(request: Request, caller: Caller) -> None:
    await sandboxes.delete_sandbox(runtime(request), caller, path_id(request))


def _async_operation(method: str, path: str, kind: str, operation: str) -> ApiRoute:
    async def submit(request: Request, caller: Caller) -> Any:
        operation = await runtime(request).operations.submit(caller, path_id(request), kind)
        return {
            "operationId": operation.id,
            "status": operation.status,
            "message": f"{kind.capitalize()} operation accepted",
        }

    submit.__name__ = f"{kind}_sandbox_async"
    submit.__doc__ = f"{kind.capitalize()} the sandbox in the background: poll the operation, or follow it live"
    return endpoint(method, path, status=202, operation=operation, response=AsyncOperationResponse)(submit)


routes = [
    list_sandboxes,
    create_sandbox,
    list_images,
    get_operation,
    cancel_operation,
    project_operations,
    get_sandbox,
    start_sandbox,
    stop_sandbox,
    restart_sandbox,
    delete_sandbox,
    _async_operation("POST", "/flexy/{id}/start-async", "start", "StartSandboxAsync"),
    _async_operation("POST", "/flexy/{id}/stop-async", "stop", "StopSandboxAsync"),
    _async_operation("POST", "/flexy/{id}/restart-async", "restart", "RestartSandboxAsync"),
    _async_operation("DELETE", "/flexy/{id}/async", "delete", "DeleteSandboxAsync"),
]
