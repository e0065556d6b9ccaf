"""Agent tasks through GraphQL, on both backends: typed events in `taskEvents`, the task's usage, steps,
conversation, worktree and diff; continueTask, mergeTask (a conflict reported), discardTask; usage reports
and budgets of organizations, workspaces and projects, with their events."""

from __future__ import annotations

from collections.abc import Callable

from schema.relay import parse_global_id
from tests.agent_support import fake_agents, git_project
from tests.conftest import Api, LiveServer
from tests.graphql_calls import (
    EVENT,
    USER_ERRORS,
    data,
    gid,
    graphql_socket,
    mutate,
    next_message,
    refused,
    results_until_complete,
    subscribe,
)
from tests.test_budgets import EXPENSIVE, add_member
from tests.test_tasks import wait_for_task

STEPS = """
  ... on AgentSessionStarted { sessionId model }
  ... on AgentMessage { index text }
  ... on AgentToolCall { index toolCallId toolName input }
  ... on AgentToolResult { index toolCallId ok output }
  ... on UsageUpdated { model final usage { outputTokens costUsd costSource } }
  ... on TaskOutput { text }
"""
TASK = """id sessionId model isolation status
  usage { inputTokens outputTokens cacheReadTokens cacheWriteTokens totalTokens costUsd costSource }
  agentSteps(first: 3) { totalCount nodes { index kind text toolCallId toolName input ok createdAt } }
  worktree { branch baseBranch state path }
  diff { filesChanged linesAdded linesRemoved patch files { totalCount nodes { path status linesAdded binary } } }
  parent { id } conversation { totalCount nodes { id } } followUps { nodes { id } }"""
CONTINUE = (
    "mutation($t: ID!, $m: String!) { continueTask(input: {taskId: $t, message: $m})"
    f" {{ task {{ id }} {USER_ERRORS} }} }}"
)
QUEUE = (
    'mutation($p: ID!, $s: String!) { executeAdhocTask(input: {projectId: $p, title: "GQL agent", prompt: $s,'
    f" taskType: CLAUDE, isolation: WORKTREE}}) {{ task {{ id isolation }} {USER_ERRORS} }} }}"
)


def rest_id(value: str) -> str:
    parsed = parse_global_id(value)
    assert parsed is not None
    return parsed[1]


def test_an_agent_task_its_steps_conversation_and_branch(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    api = sandbox_owner
    project = git_project(sandbox_server, api, {"a.txt": "a\n"})
    with fake_agents(sandbox_server, project.folder):
        queued = mutate(api, QUEUE, p=gid("Project", project.id), s="!write a.txt from the agent\n!say Done")["task"]
        assert queued["isolation"] == "WORKTREE"
        with graphql_socket(sandbox_server, api.token) as socket:
            subscribe(
                socket,
                f'subscription($t: ID!) {{ taskEvents(taskId: $t, after: "0") {{ {EVENT} {STEPS} }} }}',
                t=queued["id"],
            )
            received = results_until_complete(socket, "taskEvents")
        task = data(api, f"query($t: ID!) {{ task(id: $t) {{ {TASK} }} }}", t=queued["id"])["task"]
        follow_up = mutate(api, CONTINUE, t=queued["id"], m="!say again")["task"]
        done = wait_for_task(api, project.id, rest_id(follow_up["id"]))
        rival = mutate(api, QUEUE, p=gid("Project", project.id), s="!write a.txt from a rival")["task"]
        wait_for_task(api, project.id, rest_id(rival["id"]))
    assert done["status"] == "completed" and done["sessionId"] == task["sessionId"]

    names = [event["__typename"] for event in received]
    assert names[:3] == ["TaskQueued", "TaskStarted", "AgentSessionStarted"] and names[-1] == "TaskCompleted"
    assert {"AgentMessage", "AgentToolCall", "AgentToolResult", "UsageUpdated", "TaskOutput"} <= set(names)
    call = next(event for event in received if event["__typename"] == "AgentToolCall")
    assert call["toolName"] == "Write" and call["input"]["file_path"] == "a.txt" and call["type"] == "TOOL_CALL"
    result = next(event for event in received if event["__typename"] == "AgentToolResult")
    assert result["toolCallId"] == call["toolCallId"] and result["ok"] is True
    final = [event for event in received if event["__typename"] == "UsageUpdated"][-1]
    assert final["final"] is True and final["usage"]["costSource"] == "REPORTED"
    assert received[2]["sessionId"] == task["sessionId"] and task["model"] == received[2]["model"]

    assert (task["status"], task["isolation"]) == ("COMPLETED", "WORKTREE")
    assert task["usage"]["outputTokens"] == 2 * 30 and task["usage"]["costSource"] == "REPORTED"
    steps = task["agentSteps"]
    assert steps["totalCount"] == 4 and [n["kind"] for n in steps["nodes"]] == ["MESSAGE", "TOOL_CALL", "TOOL_RESULT"]
    assert task["worktree"]["baseBranch"] == "main" and task["worktree"]["state"] == "ACTIVE"
    diff = task["diff"]
    assert (diff["filesChanged"], diff["linesAdded"], diff["linesRemoved"]) == (1, 1, 1)
    assert diff["files"]["nodes"] == [{"path": "a.txt", "status": "MODIFIED", "linesAdded": 1, "binary": False}]
    assert task["parent"] is None and task["conversation"]["totalCount"] == 1

    chain = data(
        api, "query($t: ID!) { task(id: $t) { parent { id followUps { nodes { id } } } conversation { nodes { id } } } }",
        t=follow_up["id"],
    )["task"]  # fmt: skip
    assert chain["parent"]["id"] == queued["id"] and chain["parent"]["followUps"]["nodes"] == [{"id": follow_up["id"]}]
    assert [node["id"] for node in chain["conversation"]["nodes"]] == [queued["id"], follow_up["id"]]

    merged = mutate(
        api, f"mutation($t: ID!) {{ mergeTask(input: {{taskId: $t}}) {{ merged commit conflicts task {{ id }} {USER_ERRORS} }} }}",
        t=follow_up["id"],
    )  # fmt: skip
    assert merged["merged"] == "FAST_FORWARD" and merged["conflicts"] is None
    assert (project.folder / "a.txt").read_text() == "from the agent\n"
    payload, codes = refused(
        api, f"mutation($t: ID!) {{ mergeTask(input: {{taskId: $t, strategy: MERGE_COMMIT}}) {{ merged conflicts {USER_ERRORS} }} }}",
        t=rival["id"],
    )  # fmt: skip
    assert codes == ["MERGE_CONFLICT"] and payload["conflicts"] == ["a.txt"] and payload["merged"] is None
    discarded = mutate(
        api, f"mutation($t: ID!) {{ discardTask(input: {{taskId: $t}}) {{ task {{ worktree {{ state branchDeleted }} }} {USER_ERRORS} }} }}",
        t=rival["id"],
    )  # fmt: skip
    assert discarded["task"]["worktree"] == {"state": "DISCARDED", "branchDeleted": True}
    _, codes = refused(api, CONTINUE, t=queued["id"], m="  ")
    assert codes == ["VALIDATION_ERROR"]


USAGE = "since until total { totalTokens costUsd costSource } days { nodes { day usage { costUsd } models { nodes { model } } } } models { nodes { model usage { outputTokens } } }"


def test_usage_budgets_and_their_events(
    sandbox_server: LiveServer, sandbox_owner: Api, make_sandbox_user: Callable[[], Api]
) -> None:
    api = sandbox_owner
    project = git_project(sandbox_server, api, {"a.txt": "a\n"})
    tree = data(
        api, "query($p: ID!) { project(id: $p) { workspace { id organization { id } } } }", p=gid("Project", project.id)
    )
    workspace_id, org_id = tree["project"]["workspace"]["id"], tree["project"]["workspace"]["organization"]["id"]
    set_budget = f"mutation($o: ID!, $usd: Float!, $tokens: Int) {{ setBudget(input: {{ownerId: $o, period: MONTH, limitUsd: $usd, limitTokens: $tokens}}) {{ created budget {{ id scope period limitUsd limitTokens spent {{ costUsd }} exceeded }} {USER_ERRORS} }} }}"
    made = mutate(api, set_budget, o=gid("Project", project.id), usd=1.0, tokens=None)
    assert made["created"] is True and made["budget"]["scope"] == "PROJECT" and made["budget"]["exceeded"] is False
    budget_id = made["budget"]["id"]
    member, stranger = make_sandbox_user(), make_sandbox_user()
    add_member(api, rest_id(org_id), member)
    _, codes = refused(member, set_budget, o=gid("Project", project.id), usd=5.0, tokens=None)
    assert codes == ["FORBIDDEN"]
    _, codes = refused(api, set_budget, o=gid("Project", project.id), usd=-1.0, tokens=None)
    assert codes == ["VALIDATION_ERROR"]
    _, codes = refused(stranger, set_budget, o=gid("Project", project.id), usd=5.0, tokens=None)
    assert codes == ["PROJECT_NOT_FOUND"]
    assert data(stranger, "query($b: ID!) { node(id: $b) { id } }", b=budget_id)["node"] is None

    with fake_agents(sandbox_server, project.folder), graphql_socket(sandbox_server, api.token) as socket:
        subscribe(
            socket,
            f"subscription($p: ID!) {{ projectEvents(projectId: $p) {{ {EVENT} ... on BudgetEvent {{ limitUsd spentUsd ratio budget {{ id }} task {{ id }} }} ... on BudgetExceeded {{ action }} ... on TaskCancelled {{ reason }} }} }}",
            p=gid("Project", project.id),
        )
        queued = mutate(api, QUEUE.replace(", isolation: WORKTREE", ""), p=gid("Project", project.id), s=EXPENSIVE)[
            "task"
        ]
        seen: list[dict] = []
        while not seen or seen[-1]["__typename"] != "TaskCancelled":
            message = next_message(socket)
            assert message["type"] == "next", message
            event = message["payload"]["data"]["projectEvents"]
            if event["__typename"] in ("BudgetWarning", "BudgetExceeded", "TaskCancelled"):
                seen.append(event)
    assert [event["__typename"] for event in seen] == ["BudgetWarning", "BudgetExceeded", "TaskCancelled"]
    assert (
        seen[1]["action"] == "STOPPED"
        and seen[1]["budget"]["id"] == budget_id
        and seen[1]["task"]["id"] == queued["id"]
    )
    assert seen[0]["ratio"] >= 0.8 and seen[1]["ratio"] >= 1 and seen[2]["reason"].startswith("The task was stopped")

    scopes = data(
        api,
        f"query($p: ID!, $w: ID!, $o: ID!) {{ project(id: $p) {{ usage {{ {USAGE} }} budgets {{ totalCount nodes {{ id exceeded spent {{ costUsd }} }} }} }}"
        f" workspace(id: $w) {{ usage {{ {USAGE} }} }} organization(id: $o) {{ usage(since: \"2000-01-01\") {{ {USAGE} }} empty: usage(until: \"2000-01-01\") {{ total {{ totalTokens }} }} }} }}",
        p=gid("Project", project.id), w=workspace_id, o=org_id,
    )  # fmt: skip
    project_usage = scopes["project"]["usage"]
    assert project_usage["total"]["costUsd"] == scopes["workspace"]["usage"]["total"]["costUsd"]
    assert project_usage["total"]["costSource"] == "ESTIMATED" and project_usage["since"] is None
    assert scopes["organization"]["usage"]["since"] == "2000-01-01"
    assert scopes["organization"]["usage"]["models"]["nodes"] == [
        {"model": "claude-sonnet-4-5-20250929", "usage": {"outputTokens": 4000}}
    ]
    assert scopes["organization"]["empty"]["total"]["totalTokens"] == 0
    budget = scopes["project"]["budgets"]["nodes"][0]
    assert budget["id"] == budget_id and budget["exceeded"] is True and budget["spent"]["costUsd"] >= 1
    assert data(member, "query($b: ID!) { node(id: $b) { ... on Budget { period limitUsd } } }", b=budget_id)[
        "node"
    ] == {"period": "MONTH", "limitUsd": 1.0}
    deleted = mutate(
        api,
        f"mutation($o: ID!) {{ deleteBudget(input: {{ownerId: $o, period: MONTH}}) {{ deletedId {USER_ERRORS} }} }}",
        o=gid("Project", project.id),
    )
    assert deleted["deletedId"] == budget_id
    _, codes = refused(
        api,
        f"mutation($o: ID!) {{ deleteBudget(input: {{ownerId: $o, period: MONTH}}) {{ deletedId {USER_ERRORS} }} }}",
        o=gid("Project", project.id),
    )
    assert codes == ["NOT_FOUND"]
