"""Agent tasks over REST (extensions of the contract): a conversation's chain, a task's typed steps, and a
worktree task's diff, merge and discard; a project's default isolation. (Continuing a conversation is the
dialog path, `task_context_routes`.)

GET  /projects/{pid}/tasks/{tid}/conversation      every task of its conversation, first first
GET  /projects/{pid}/tasks/{tid}/agent-steps       its messages, tool calls and results (?after=&limit=)
GET  /projects/{pid}/tasks/{tid}/diff              its branch's diff (JSON; `?format=patch` for the patch)
POST /projects/{pid}/tasks/{tid}/merge {strategy}  auto, fast-forward or merge-commit
POST /projects/{pid}/tasks/{tid}/discard           its worktree and branch removed
PUT  /projects/{pid}/task-isolation {isolation}    shared or worktree, for new tasks
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from resolvers import agent_steps, conversations, task_context, worktrees
from resolvers.runtime import Caller
from rest_compat.agent_shapes import agent_json, diff_json, step_json, worktree_json
from rest_compat.http import endpoint, field, read_body, runtime
from rest_compat.shapes import task_json
from rest_compat.spec.agents import (
    AgentStepsQuery,
    AgentStepsResponse,
    DiscardResponse,
    MergeRequest,
    MergeResponse,
    TaskDiff,
    TaskIsolationRequest,
    TaskIsolationResponse,
)
from rest_compat.spec.tasks import ConversationResponse


def _ids(request: Request) -> tuple[str, str]:
    return request.path_params["projectId"], request.path_params["taskId"]


@endpoint(
    "GET",
    "/projects/{projectId}/tasks/{taskId}/conversation",
    operation="GetTaskConversation",
    response=ConversationResponse,
)
async def conversation(request: Request, caller: Caller) -> Any:
    rt = runtime(request)
    found = await conversations.conversation(rt, caller, *_ids(request))
    usage, work = await task_context.usage_of(rt, found), await worktrees.work_of(rt, found)
    return {
        "conversationId": conversations.root_of(found[0]),
        "tasks": [task_json(task, usage[task.id], agent_json(task, work[task.id])) for task in found],
    }


@endpoint(
    "GET",
    "/projects/{projectId}/tasks/{taskId}/agent-steps",
    operation="ListTaskAgentSteps",
    query=AgentStepsQuery,
    response=AgentStepsResponse,
)
async def list_agent_steps(request: Request, caller: Caller) -> Any:
    query = request.query_params
    steps, total = await agent_steps.list_steps(
        runtime(request), caller, *_ids(request), after=query.get("after"), limit=query.get("limit")
    )
    return {"steps": [step_json(step) for step in steps], "total": total}


@endpoint(
    "GET",
    "/projects/{projectId}/tasks/{taskId}/diff",
    operation="GetTaskDiff",
    response=TaskDiff,
)
async def get_diff(request: Request, caller: Caller) -> Any:
    """A finished worktree task's diff against the commit its worktree started from

    `?format=patch` answers the bare patch as `text/x-diff` instead.
    """
    diff = await worktrees.get_diff(runtime(request), caller, *_ids(request))
    if request.query_params.get("format") == "patch":
        return Response(diff.patch, media_type="text/x-diff; charset=utf-8")
    return diff_json(diff)


@endpoint(
    "POST",
    "/projects/{projectId}/tasks/{taskId}/merge",
    operation="MergeTask",
    body=MergeRequest,
    response=MergeResponse,
)
async def merge_task(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    outcome = await worktrees.merge_task(runtime(request), caller, *_ids(request), field(body, "strategy"))
    return {
        "taskId": outcome.task.id,
        "strategy": outcome.strategy,
        "commit": outcome.commit,
        "branch": outcome.worktree.branch,
        "baseBranch": outcome.worktree.base_branch,
        "worktree": worktree_json(outcome.worktree),
    }


@endpoint("POST", "/projects/{projectId}/tasks/{taskId}/discard", operation="DiscardTask", response=DiscardResponse)
async def discard_task(request: Request, caller: Caller) -> Any:
    task, worktree = await worktrees.discard_task(runtime(request), caller, *_ids(request))
    return {"taskId": task.id, "branch": worktree.branch, "worktree": worktree_json(worktree)}


@endpoint(
    "PUT",
    "/projects/{projectId}/task-isolation",
    operation="SetTaskIsolation",
    body=TaskIsolationRequest,
    response=TaskIsolationResponse,
)
async def set_task_isolation(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    project = await worktrees.set_task_isolation(
        runtime(request), caller, request.path_params["projectId"], field(body, "isolation")
    )
    return {"projectId": project.id, "isolation": project.task_isolation}


routes = [conversation, list_agent_steps, get_diff, merge_task, discard_task, set_task_isolation]
