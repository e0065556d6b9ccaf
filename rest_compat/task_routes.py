"""Tasks (operations 38-45) and the console's and SDK's other task paths (contract §6).

`/tasks/adhoc` is registered before the `{taskId}` routes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import agent_steps, task_context, task_steps, tasks, worktrees
from resolvers.runtime import Caller
from rest_compat.agent_shapes import agent_json, step_json
from rest_compat.http import JSONBody, endpoint, field, read_body, runtime
from rest_compat.shapes import iso, task_json
from rest_compat.spec import fit
from rest_compat.spec.tasks import (
    ExecuteAdhocTaskRequest,
    ExecuteStepRequest,
    ExecuteTaskRequest,
    ExecuteWorkflowStepRequest,
    QueueStatusResponse,
    RerunResponse,
    SetTaskLimitRequest,
    TaskCancellationResponse,
    TaskDetails,
    TaskLimitResponse,
    TaskListQuery,
    TaskOutput,
    TaskRecord,
    TaskResponse,
    TaskStep,
    TaskStepStatusResponse,
    WorkflowStepExecutionResponse,
)
from rest_compat.spec.tree import UpdateStepStatusRequest
from store.models import Task

QUEUED = "Task queued successfully"


def _project(request: Request) -> str:
    return request.path_params["projectId"]


def _task(request: Request) -> str:
    return request.path_params["taskId"]


def _step_queued(task: Task) -> dict[str, Any]:
    return {"taskId": task.id, "message": QUEUED, "stepId": task.step_id}


@endpoint(
    "GET",
    "/projects/{projectId}/tasks",
    operation="GetProjectTasks",
    query=TaskListQuery,
    response=list[TaskRecord],
    headers={"X-Total-Count": int},
)
async def list_tasks(request: Request, caller: Caller) -> Any:
    """List the project's tasks

    A page of tasks, newest first, as a bare array; `X-Total-Count` says how many match in all.
    """
    query = request.query_params
    found, total = await tasks.list_tasks(
        runtime(request),
        caller,
        _project(request),
        statuses=[s for value in query.getlist("status") for s in value.split(",") if s],
        kind=query.get("type"),
        search=query.get("search"),
        limit=query.get("limit"),
        offset=query.get("offset"),
    )
    usage = await task_context.usage_of(runtime(request), found)
    work = await worktrees.work_of(runtime(request), found)
    headers = {"X-Total-Count": str(total), "Access-Control-Expose-Headers": "X-Total-Count"}
    records = [task_json(task, usage[task.id], agent_json(task, work[task.id])) for task in found]
    return JSONBody(records, headers=headers)


@endpoint(
    "POST",
    "/projects/{projectId}/tasks/adhoc",
    status=201,
    operation="ExecuteAdhocTask",
    body=ExecuteAdhocTaskRequest,
    response=TaskResponse,
)
async def execute_adhoc_task(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    task = await tasks.execute_adhoc_task(
        runtime(request),
        caller,
        _project(request),
        title=field(body, "title"),
        prompt=field(body, "prompt"),
        description=field(body, "description"),
        parameters=field(body, "parameters"),
        task_type=field(body, "taskType"),
        context_memory_ids=field(body, "contextMemoryIds"),
        isolation=field(body, "isolation"),
    )
    return {"taskId": task.id, "message": QUEUED}


@endpoint(
    "POST",
    "/projects/{projectId}/tasks",
    status=201,
    operation="ExecuteTask",
    body=ExecuteTaskRequest,
    response=TaskResponse,
)
async def execute_task(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    task = await tasks.execute_step_task(
        runtime(request),
        caller,
        _project(request),
        step_id=field(body, "stepId"),
        prompt=field(body, "prompt"),
        parameters=field(body, "parameters"),
    )
    return {"taskId": task.id, "message": QUEUED}


async def _run_step(request: Request, caller: Caller, step_id: object, body: dict[str, Any]) -> Any:
    task = await tasks.execute_workflow_step(
        runtime(request),
        caller,
        _project(request),
        step_id,
        additional_input=field(body, "additionalInput"),
        parameters=field(body, "parameters"),
    )
    return _step_queued(task)


@endpoint(
    "POST",
    "/projects/{projectId}/workflow/steps/{stepId}/execute",
    status=201,
    operation="ExecuteWorkflowStep",
    body=ExecuteWorkflowStepRequest,
    response=WorkflowStepExecutionResponse,
)
async def execute_workflow_step(request: Request, caller: Caller) -> Any:
    return await _run_step(request, caller, request.path_params["stepId"], await read_body(request))


@endpoint(
    "POST",
    "/projects/{projectId}/workflow/execute",
    status=201,
    operation="ExecuteProjectWorkflowStep",
    body=ExecuteStepRequest,
    response=WorkflowStepExecutionResponse,
)
async def execute_step(request: Request, caller: Caller) -> Any:
    """Run a workflow step as a task (the console's form of operation 45: the step in the body)"""
    body = await read_body(request)
    return await _run_step(request, caller, field(body, "stepId"), body)


@endpoint("POST", "/tasks/{taskId}/rerun", status=201, operation="RerunTask", response=RerunResponse)
async def rerun_task(request: Request, caller: Caller) -> Any:
    """Run a task again as a new task (the console's Re-run)

    An ad-hoc task again with its title, prompt, type, parameters and context memories; a workflow-step
    task as the same step again with the same prompt.
    """
    task = await tasks.rerun_task(runtime(request), caller, _task(request))
    return {**_step_queued(task), "originalTaskId": _task(request)}


@endpoint("GET", "/projects/{projectId}/tasks/{taskId}", operation="GetTaskDetails", response=TaskDetails)
async def get_task(request: Request, caller: Caller) -> Any:
    rt = runtime(request)
    task = await tasks.get_task(rt, caller, _project(request), _task(request))
    usage = await task_context.usage_of(rt, [task])
    work = await worktrees.work_of(rt, [task])
    steps, total = await agent_steps.list_steps(rt, caller, task.project_id, task.id, limit=agent_steps.MAX_PAGE)
    return {
        **task_json(task, usage[task.id], agent_json(task, work[task.id])),
        "agentSteps": [step_json(step) for step in steps],
        "agentStepsTotal": total,
    }


@endpoint("GET", "/projects/{projectId}/tasks/{taskId}/output", operation="GetTaskOutput", response=TaskOutput)
async def get_task_output(request: Request, caller: Caller) -> Any:
    """A task's output so far"""
    task = await tasks.get_task(runtime(request), caller, _project(request), _task(request))
    return fit(
        TaskOutput,
        taskId=task.id,
        status=task.status,
        output=task.terminal_output or "",
        result=task.result,
        error=task.error,
        exitCode=task.exit_code,
    )


@endpoint(
    "PATCH",
    "/projects/{projectId}/tasks/{taskId}/step",
    operation="UpdateTaskStepStatus",
    body=UpdateStepStatusRequest,
    response=TaskStepStatusResponse,
)
async def update_task_step(request: Request, caller: Caller) -> Any:
    """Mark the step a workflow-step task ran in the project's workflow tracker"""
    body = await read_body(request)
    task, state = await task_steps.set_task_step_status(
        runtime(request), caller, _project(request), _task(request), field(body, "status")
    )
    status = state["stepStatuses"][task.step_id]
    message = f"Step {task.step_id} marked {status}"
    return {"taskId": task.id, "message": message, "stepId": task.step_id, "status": status, "workflowState": state}


@endpoint("GET", "/projects/{projectId}/tasks/{taskId}/steps/{stepId}", operation="GetTaskStep", response=TaskStep)
async def get_task_step(request: Request, caller: Caller) -> Any:
    """How far a task got with a step, as its latest step progress tells"""
    step = await task_steps.task_step(
        runtime(request), caller, _project(request), _task(request), request.path_params["stepId"]
    )
    return fit(
        TaskStep,
        stepId=step.step_id,
        step=step.title,
        status=step.status,
        progress=step.progress,
        message=step.message,
        timestamp=iso(step.at),
    )


@endpoint(
    "POST",
    "/projects/{projectId}/tasks/{taskId}/cancel",
    operation="CancelTask",
    response=TaskCancellationResponse,
)
async def cancel_task(request: Request, caller: Caller) -> Any:
    task = await tasks.cancel_task(runtime(request), caller, _project(request), _task(request))
    return {"message": f"Task {task.status}", "taskId": task.id}


@endpoint(
    "POST",
    "/projects/{projectId}/task-limits",
    operation="SetTaskLimit",
    body=SetTaskLimitRequest,
    response=TaskLimitResponse,
)
async def set_task_limit(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    limit, sandbox_id = await tasks.set_task_limit(runtime(request), caller, _project(request), field(body, "limit"))
    return {"message": f"Task limit set to {limit}", "limit": limit, "sandboxId": sandbox_id}


@endpoint("GET", "/projects/{projectId}/task-queue-status", operation="GetQueueStatus", response=QueueStatusResponse)
async def queue_status(request: Request, caller: Caller) -> Any:
    status = await tasks.queue_status(runtime(request), caller, _project(request))
    return {
        "pending": status.pending,
        "running": status.running,
        "projectId": status.project_id,
        "sandboxId": status.sandbox_id,
    }


routes = [
    list_tasks,
    execute_task,
    execute_adhoc_task,
    execute_workflow_step,
    execute_step,
    rerun_task,
    get_task,
    get_task_output,
    update_task_step,
    get_task_step,
    cancel_task,
    set_task_limit,
    queue_status,
]
