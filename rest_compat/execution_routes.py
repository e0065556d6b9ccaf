"""Workflow executions (operations 31-37), plus the SDK's per-workflow list and step lookup (contract §6).

These are registered before the `/workflows/{id}` routes, so `executions` and `projects` are never taken for ids."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from resolvers import executions
from resolvers.runtime import Caller, Runtime
from resolvers.validation import UNSET
from rest_compat.http import ApiRoute, endpoint, field, read_body, runtime
from rest_compat.spec.workflows import (
    CreateWorkflowExecutionRequest,
    ExecutionList,
    ExecutionListQuery,
    StepExecutionLookup,
    WorkflowExecution,
    WorkflowExecutionResponse,
)
from rest_compat.workflow_shapes import execution_json, step_execution_json
from store import models


def _execution(request: Request) -> str:
    return request.path_params["executionId"]


def _answer(execution: models.WorkflowExecution, message: str) -> dict[str, Any]:
    return {"executionId": execution.id, "status": execution.status, "message": message}


@endpoint(
    "POST",
    "/workflows/{workflowId}/executions",
    status=202,
    operation="CreateWorkflowExecution",
    body=CreateWorkflowExecutionRequest,
    response=WorkflowExecutionResponse,
)
async def create_execution(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    metadata = field(body, "metadata")
    execution = await executions.create_execution(
        runtime(request),
        caller,
        request.path_params["workflowId"],
        field(body, "projectId"),
        None if metadata is UNSET else metadata,
    )
    return _answer(execution, "Execution created; start it to run")


@endpoint(
    "GET", "/workflows/{workflowId}/executions", operation="ListWorkflowExecutions", response=list[WorkflowExecution]
)
async def list_workflow_executions(request: Request, caller: Caller) -> Any:
    found = await executions.list_workflow_executions(runtime(request), caller, request.path_params["workflowId"])
    return [execution_json(execution) for execution in found]


Transition = Callable[[Runtime, Caller, str], Awaitable[models.WorkflowExecution]]


def _transition(action: str, change: Transition, message: str) -> ApiRoute:
    """`POST /workflows/executions/{executionId}/<action>` (operations 32, 35-37)."""

    async def handle(request: Request, caller: Caller) -> Any:
        return _answer(await change(runtime(request), caller, _execution(request)), message)

    handle.__name__ = f"{action}_execution"
    path = f"/workflows/executions/{{executionId}}/{action}"
    operation = f"{action.capitalize()}WorkflowExecution"
    return endpoint("POST", path, operation=operation, response=WorkflowExecutionResponse)(handle)


TRANSITIONS = [
    _transition("start", executions.start_execution, "Execution started"),
    _transition("pause", executions.pause_execution, "Execution paused; the running step finishes first"),
    _transition("resume", executions.resume_execution, "Execution resumed"),
    _transition("cancel", executions.cancel_execution, "Execution cancelled"),
]


@endpoint("GET", "/workflows/executions/{executionId}", operation="GetWorkflowExecution", response=WorkflowExecution)
async def get_execution(request: Request, caller: Caller) -> Any:
    return execution_json(await executions.get_execution(runtime(request), caller, _execution(request)))


@endpoint(
    "GET",
    "/workflows/executions/{executionId}/steps/{stepId}",
    operation="GetStepExecution",
    response=StepExecutionLookup,
)
async def get_step_execution(request: Request, caller: Caller) -> Any:
    execution, phase, step = await executions.get_step_execution(
        runtime(request), caller, _execution(request), request.path_params["stepId"]
    )
    return {**step_execution_json(step), "executionId": execution.id, "phaseId": phase["phaseId"]}


@endpoint(
    "GET",
    "/workflows/projects/{projectId}/executions",
    operation="GetProjectWorkflowExecutions",
    query=ExecutionListQuery,
    response=ExecutionList,
)
async def list_project_executions(request: Request, caller: Caller) -> Any:
    statuses = [s for value in request.query_params.getlist("status") for s in value.split(",") if s]
    found, _ = await executions.list_project_executions(
        runtime(request), caller, request.path_params["projectId"], statuses
    )
    return {"executions": [execution_json(execution) for execution in found]}


routes = [
    *TRANSITIONS,
    get_execution,
    get_step_execution,
    list_project_executions,
    create_execution,
    list_workflow_executions,
]
