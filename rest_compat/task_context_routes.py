"""Task context over REST (operations 46-48), dialog capture (89), and the dialog path that continues an agent
task's conversation."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import conversations, memory_search, task_context
from resolvers.runtime import Caller
from rest_compat.http import endpoint, field, read_body, runtime
from rest_compat.memory_shapes import memory_json
from rest_compat.spec import fit
from rest_compat.spec.memories import Memory
from rest_compat.spec.tasks import (
    CaptureTaskDialogRequest,
    DialogRequest,
    DialogResponse,
    GetRelevantContextRequest,
    GetRelevantContextResponse,
    RelevantContextQuery,
    SaveTaskOutputRequest,
    SaveTaskOutputResponse,
    TaskContextResponse,
)
from store.models import Task


def relevant_json(hits: list[memory_search.Hit]) -> GetRelevantContextResponse:
    return {"memories": [memory_json(memory, score) for memory, score in hits]}


@endpoint(
    "POST",
    "/projects/{projectId}/tasks/context/relevant",
    operation="GetRelevantContext",
    body=GetRelevantContextRequest,
    response=GetRelevantContextResponse,
)
async def relevant_context(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    hits = await memory_search.relevant_memories(
        runtime(request),
        caller,
        request.path_params["projectId"],
        field(body, "prompt"),
        max_memories=field(body, "maxMemories", "max_memories"),
        types=field(body, "types"),
        include_workspace=field(body, "includeWorkspace"),
        include_org=field(body, "includeOrg"),
    )
    return relevant_json(hits)


@endpoint(
    "GET",
    "/context/relevant",
    operation="GetRelevantContextByQuery",
    query=RelevantContextQuery,
    response=GetRelevantContextResponse,
)
async def relevant_context_by_query(request: Request, caller: Caller) -> Any:
    """The memories most relevant to a prompt (the SDK's query form of operation 48)

    With `projectId`, exactly as operation 48; without, ranked among every memory the caller may see.
    """
    query = request.query_params
    hits = await memory_search.relevant_memories(
        runtime(request),
        caller,
        query.get("projectId") or query.get("project_id"),
        query.get("prompt"),
        max_memories=query.get("maxMemories") or query.get("max_memories"),
        types=query.getlist("types") or None,
        include_workspace=query.get("includeWorkspace"),
        include_org=query.get("includeOrg"),
    )
    return relevant_json(hits)


@endpoint(
    "GET", "/projects/{projectId}/tasks/{taskId}/context", operation="GetTaskContext", response=TaskContextResponse
)
async def get_task_context(request: Request, caller: Caller) -> Any:
    path = request.path_params
    found = await task_context.task_context(runtime(request), caller, path["projectId"], path["taskId"])
    return {
        "injectedMemories": [memory_json(memory) for memory in found.injected],
        "generatedMemory": memory_json(found.generated) if found.generated else None,
        "activeDialog": found.active_dialog,
        "usage": {
            "generated": 1 if found.generated else 0,
            "injected": len(found.injected),
            "retrieved": found.retrieved,
        },
    }


@endpoint(
    "POST",
    "/projects/{projectId}/tasks/{taskId}/context/save",
    status=201,
    operation="SaveTaskOutputAsContext",
    body=SaveTaskOutputRequest,
    response=SaveTaskOutputResponse,
)
async def save_task_output(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    path = request.path_params
    memory = await task_context.save_task_output(
        runtime(request),
        caller,
        path["projectId"],
        path["taskId"],
        field(body, "content"),
        memory_type=field(body, "type", "memory_type"),
        summary=field(body, "summary"),
        tags=field(body, "tags"),
    )
    return {"message": "Task output saved as context", "memory": memory_json(memory)}


@endpoint(
    "POST",
    "/context/capture/task/{taskId}",
    status=201,
    operation="CaptureTaskDialog",
    body=CaptureTaskDialogRequest,
    response=Memory,
)
async def capture_task_dialog(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    memory = await task_context.capture_task_dialog(
        runtime(request),
        caller,
        request.path_params["taskId"],
        field(body, "projectId", "project_id"),
        field(body, "content"),
        field(body, "metadata"),
    )
    return memory_json(memory)


@endpoint(
    "POST",
    "/projects/{projectId}/tasks/{taskId}/dialog",
    status=201,
    operation="CaptureProjectTaskDialog",
    body=DialogRequest,
    response=DialogResponse,
)
async def capture_dialog(request: Request, caller: Caller) -> Any:
    """Continue an agent task's conversation, or keep a task's dialog as its memory

    A `message`, or `content` sent to an agent task (claude, qwen, gemini, codex), queues a follow-up task that
    resumes the task's agent session (`operationId` and `taskId` are the follow-up's). `content` sent to a bash
    task is kept as its `task-dialog` memory (the SDK's form of operation 89; `operationId` is the memory's).
    """
    body = await read_body(request)
    path = request.path_params
    outcome = await conversations.dialog(
        runtime(request),
        caller,
        path["projectId"],
        path["taskId"],
        field(body, "message"),
        field(body, "content"),
        field(body, "metadata"),
    )
    if isinstance(outcome, Task):
        return fit(
            DialogResponse,
            operationId=outcome.id,
            status=outcome.status,
            message="Follow-up queued: it resumes the task's agent session",
            taskId=outcome.id,
            parentTaskId=outcome.parent_task_id,
            conversationId=outcome.conversation_id,
            sessionId=outcome.resume_session_id,
        )
    return fit(
        DialogResponse,
        operationId=outcome.id,
        status="completed",
        message="Task dialog captured",
        memory=memory_json(outcome),
    )


routes = [
    relevant_context,
    relevant_context_by_query,
    get_task_context,
    save_task_output,
    capture_dialog,
    capture_task_dialog,
]
