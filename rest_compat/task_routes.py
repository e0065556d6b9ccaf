"""Tasks (operations 38-45). `/tasks/adhoc` is registered before the `{taskId}` routes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import agent_steps, task_context, tasks, worktrees
from resolvers.runtime import Caller
from rest_compat.agent_shapes import agent_json, step_json
from rest_compat.http import endpoint, field, read_body, runtime
from rest_compat.shapes import task_json


def _project(request: Request) -> str:
    return request.path_params["projectId"]


@endpoint("GET", "/projects/{projectId}/tasks")
async def list_tasks(request: Request, caller: Caller) -> Any:
    query = request.query_params
    statuses = [s for value in query.getlist("status") for s in value.split(",") if s]
    found, total = await tasks.list_tasks(
        runtime(request),
        caller,
        _project(request),
        statuses=statuses,
        kind=query.get("type"),
        search=query.get("search"),
        limit=query.get("limit"),
        offset=query.get("offset"),
    )
    usage = await task_context.usage_of(runtime(request), found)
    work = await worktrees.work_of(runtime(request), found)
    return {
        "tasks": [task_json(task, usage[task.id], agent_json(task, work[task.id])) for task in found],
        "total": total,
    }


@endpoint("POST", "/projects/{projectId}/tasks/adhoc", status=201)
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
    return {"taskId": task.id, "message": "Task queued successfully"}


@endpoint("POST", "/projects/{projectId}/tasks", status=201)
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
    return {"taskId": task.id, "message": "Task queued successfully"}


@endpoint("POST", "/projects/{projectId}/workflow/steps/{stepId}/execute", status=201)
async def execute_workflow_step(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    task = await tasks.execute_workflow_step(
        runtime(request),
        caller,
        _project(request),
        request.path_params["stepId"],
        additional_input=field(body, "additionalInput"),
        parameters=field(body, "parameters"),
    )
    return {"taskId": task.id, "message": "Task queued successfully", "stepId": task.step_id}


@endpoint("GET", "/projects/{projectId}/tasks/{taskId}")
async def get_task(request: Request, caller: Caller) -> Any:
    rt = runtime(request)
    task = await tasks.get_task(rt, caller, _project(request), request.path_params["taskId"])
    usage = await task_context.usage_of(rt, [task])
    work = await worktrees.work_of(rt, [task])
    steps, total = await agent_steps.list_steps(rt, caller, task.project_id, task.id, limit=agent_steps.MAX_PAGE)
    return {
        **task_json(task, usage[task.id], agent_json(task, work[task.id])),
        "agentSteps": [step_json(step) for step in steps],
        "agentStepsTotal": total,
    }


@endpoint("POST", "/projects/{projectId}/tasks/{taskId}/cancel")
async def cancel_task(request: Request, caller: Caller) -> Any:
    task = await tasks.cancel_task(runtime(request), caller, _project(request), request.path_params["taskId"])
    return {"message": f"Task {task.status}", "taskId": task.id}


@endpoint("POST", "/projects/{projectId}/task-limits")
async def set_task_limit(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    limit, sandbox_id = await tasks.set_task_limit(runtime(request), caller, _project(request), field(body, "limit"))
    return {"message": f"Task limit set to {limit}", "limit": limit, "sandboxId": sandbox_id}


@endpoint("GET", "/projects/{projectId}/task-queue-status")
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
    get_task,
    cancel_task,
    set_task_limit,
    queue_status,
]
