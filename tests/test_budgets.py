"""Budgets that stop work, on both backends: owners set them, members read them, a running agent task that
crosses one is stopped with the reason, the next is refused with 402 BUDGET_EXCEEDED, and 80% is warned of."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.agent_support import fake_agents, task_events
from tests.conftest import Api, LiveServer, make_tree
from tests.graphql_calls import gid
from tests.test_flexy import create_sandbox
from tests.test_tasks import Project, project_folder, sandbox_project, submit, wait_for_task

EXPENSIVE = "!tokens 100000 1000\n!pause 0.3\n!repeat 40 step"
"""Each message is estimated at $0.315 (Claude Sonnet's prices); 40 of them would take 12 s."""


@pytest.fixture
def project(sandbox_server: LiveServer, sandbox_owner: Api) -> Project:
    return sandbox_project(sandbox_server, sandbox_owner)


def add_member(owner: Api, org_id: str, member: Api) -> None:
    result = owner.graphql(
        "mutation($o: ID!, $u: String!) { setOrganizationMember(input: {organizationId: $o, username: $u, role: MEMBER})"
        " { userErrors { message } } }",
        {"o": gid("Organization", org_id), "u": member.username},
    )
    assert result["data"]["setOrganizationMember"]["userErrors"] == [], result


def test_owners_set_budgets_members_read_them_others_see_nothing(
    sandbox_owner: Api, make_sandbox_user: Callable[[], Api]
) -> None:
    tree = make_tree(sandbox_owner)
    paths = {
        "organization": f"/organizations/{tree.org['id']}",
        "workspace": f"/workspaces/{tree.workspace['id']}",
        "project": f"/projects/{tree.project['id']}",
    }
    member, stranger = make_sandbox_user(), make_sandbox_user()
    add_member(sandbox_owner, tree.org["id"], member)
    for scope, path in paths.items():
        created = sandbox_owner.put(f"{path}/budgets/month", {"limitUsd": 5})
        assert created.status_code == 201, created.text
        budget = created.json()
        assert (budget["scope"], budget["scopeId"], budget["period"], budget["limitUsd"]) == (
            scope, path.rsplit("/", 1)[1], "month", 5.0
        )  # fmt: skip
        assert budget["limitTokens"] is None and budget["spent"] == {"usd": 0.0, "tokens": 0}
        assert budget["exceeded"] is False
        replaced = sandbox_owner.put(f"{path}/budgets/month", {"limitUsd": 7.5, "limitTokens": 10_000})
        assert replaced.status_code == 200 and replaced.json()["id"] == budget["id"]
        assert sandbox_owner.put(f"{path}/budgets/total", {"limitUsd": 100}).status_code == 201
        listed = member.get(f"{path}/budgets")
        assert listed.status_code == 200
        assert [(b["period"], b["limitUsd"], b["limitTokens"]) for b in listed.json()] == [
            ("month", 7.5, 10_000), ("total", 100.0, None)
        ]  # fmt: skip
        refused = member.put(f"{path}/budgets/month", {"limitUsd": 1000})
        assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
        assert member.delete(f"{path}/budgets/month").status_code == 403
        for response in (stranger.get(f"{path}/budgets"), stranger.put(f"{path}/budgets/month", {"limitUsd": 1})):
            assert response.status_code == 404, response.text
        for body, field in [
            ({}, "limitUsd"),
            ({"limitUsd": 0}, "limitUsd"),
            ({"limitUsd": -1}, "limitUsd"),
            ({"limitUsd": "5"}, "limitUsd"),
            ({"limitUsd": True}, "limitUsd"),
            ({"limitUsd": 5, "limitTokens": 1.5}, "limitTokens"),
            ({"limitUsd": 5, "limitTokens": 0}, "limitTokens"),
        ]:
            bad = sandbox_owner.put(f"{path}/budgets/month", body)
            assert bad.status_code == 400 and bad.json()["details"]["field"] == field, (body, bad.text)
        week = sandbox_owner.put(f"{path}/budgets/week", {"limitUsd": 5})
        assert week.status_code == 400 and week.json()["details"]["field"] == "period"
        assert sandbox_owner.delete(f"{path}/budgets/total").status_code == 204
        assert sandbox_owner.delete(f"{path}/budgets/total").status_code == 404
        assert [b["period"] for b in sandbox_owner.get(f"{path}/budgets").json()] == ["month"]


def test_a_budget_stops_a_running_task_and_refuses_the_next(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project
) -> None:
    limit = sandbox_owner.put(f"/projects/{project.id}/budgets/month", {"limitUsd": 1})
    assert limit.status_code == 201
    with fake_agents(sandbox_server, project.folder):
        task_id = submit(sandbox_owner, project.id, EXPENSIVE, "claude")
        task = wait_for_task(sandbox_owner, project.id, task_id)
    assert task["status"] == "cancelled", task
    assert task["error"].startswith("The task was stopped: the monthly budget of project")
    assert "($1.00) is spent" in task["error"]
    steps = [step["text"] for step in task["agentSteps"]]
    assert steps == ["step 1", "step 2", "step 3", "step 4"], "stopped at the message that crossed $1"
    assert task["usage"]["costUsd"] == pytest.approx(4 * 0.315) and task["usage"]["costSource"] == "estimated"

    events = task_events(sandbox_server, sandbox_owner, project.id, task_id)
    types = [event["type"] for event in events]
    assert [kind for kind in types if kind.startswith("budget")] == ["budget_warning", "budget_exceeded"]
    assert types.index("budget_exceeded") < types.index("task_cancelled")
    warning = events[types.index("budget_warning")]
    assert warning["budget"]["limitUsd"] == 1 and warning["spent"]["usd"] == pytest.approx(0.945)
    exceeded = events[types.index("budget_exceeded")]
    assert exceeded["action"] == "stopped" and exceeded["spent"]["usd"] == pytest.approx(1.26)
    assert events[-1]["error"] == task["error"], "task_cancelled carries the reason"

    refused = sandbox_owner.post(
        f"/projects/{project.id}/tasks/adhoc", {"title": "more", "prompt": "!say hi", "taskType": "claude"}
    )
    assert refused.status_code == 402, refused.text
    body = refused.json()
    assert body["code"] == "BUDGET_EXCEEDED" and body["statusCode"] == 402 and "refused" in body["message"]
    assert body["details"]["budget"]["scope"] == "project" and body["details"]["budget"]["limitUsd"] == 1
    assert body["details"]["spent"]["usd"] == pytest.approx(1.26) and body["details"]["ratio"] >= 1
    follow_up = sandbox_owner.post(f"/projects/{project.id}/tasks/{task_id}/dialog", {"message": "go on"})
    assert follow_up.status_code == 402
    assert sandbox_owner.get(f"/projects/{project.id}/tasks").headers["X-Total-Count"] == "1", "nothing was queued"
    bash = wait_for_task(sandbox_owner, project.id, submit(sandbox_owner, project.id, "echo costs nothing"))
    assert bash["status"] == "completed", "a bash task spends nothing: budgets do not apply to it"
    listed = sandbox_owner.get(f"/projects/{project.id}/budgets").json()[0]
    assert listed["exceeded"] is True and listed["spent"]["usd"] == pytest.approx(1.26)
    assert sandbox_owner.put(f"/projects/{project.id}/budgets/month", {"limitUsd": 10}).status_code == 200
    with fake_agents(sandbox_server, project.folder):
        again = wait_for_task(sandbox_owner, project.id, submit(sandbox_owner, project.id, "!say hi", "claude"))
    assert again["status"] == "completed", "a raised budget lets agent tasks run again"


def test_an_organization_token_budget_covers_all_its_projects(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    tree = make_tree(sandbox_owner)
    second = sandbox_owner.create(f"/workspaces/{tree.workspace['id']}/projects", {"name": "Two", "folderPath": "two"})
    first = Project(
        tree.project["id"], project_folder(sandbox_server, tree), create_sandbox(sandbox_owner, tree.project["id"])
    )
    create_sandbox(sandbox_owner, second["id"])
    budget = {"limitUsd": 1000, "limitTokens": 1000}
    assert sandbox_owner.put(f"/organizations/{tree.org['id']}/budgets/total", budget).status_code == 201
    script = "!tokens 300 100\n!pause 0.2\n!repeat 20 step"
    with fake_agents(sandbox_server, first.folder):
        stopped = wait_for_task(sandbox_owner, first.id, submit(sandbox_owner, first.id, script, "claude"))
    assert (
        stopped["status"] == "cancelled" and "organization" in stopped["error"] and "1,000 tokens" in stopped["error"]
    )
    assert stopped["usage"]["totalTokens"] == 3 * 400, "stopped at the message that crossed 1000 tokens"
    events = task_events(sandbox_server, sandbox_owner, first.id, stopped["id"])
    budget_events = [
        (event["type"], event["spent"]["tokens"]) for event in events if event["type"].startswith("budget")
    ]
    assert budget_events == [("budget_warning", 800), ("budget_exceeded", 1200)]
    refused = sandbox_owner.post(
        f"/projects/{second['id']}/tasks/adhoc", {"title": "t", "prompt": "hi", "taskType": "codex"}
    )
    assert refused.status_code == 402 and refused.json()["details"]["budget"]["scope"] == "organization"
    assert refused.json()["details"]["spent"]["tokens"] == 1200
