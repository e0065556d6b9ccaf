"""Execution rules that need no sandbox, on SQLite and PostgreSQL (the shared `server`): refusals of bad
input and wrong states, access between users, and a workflow whose steps have nothing to run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from resolvers.workflows import TEMPLATE_ID
from tests.conftest import Api, LiveServer, make_tree
from tests.graphql_calls import USER_ERRORS, data, gid, refused
from tests.test_executions import (
    act,
    create_execution,
    execution,
    project_events,
    published_workflow,
    wait_for_execution,
)
from tests.test_workflows import assert_error

PAPER_FLOW = {
    "phases": [
        {"id": "plan", "title": "Plan", "steps": [{"id": "write", "type": "documentation"}]},
        {"id": "empty", "title": "Nothing yet"},
        {"id": "sign", "steps": [{"id": "approve", "type": "milestone"}, {"id": "file", "type": "process"}]},
    ]
}
"""Steps without prompts: an execution skips them all and needs no sandbox."""


def test_steps_with_nothing_to_run_are_skipped_without_a_sandbox(server: LiveServer, alice: Api) -> None:
    project = make_tree(alice).project
    workflow = published_workflow(alice, PAPER_FLOW)
    execution_id = create_execution(alice, workflow["id"], project["id"])
    act(alice, execution_id, "start")
    done = wait_for_execution(alice, execution_id)
    assert done["status"] == "completed"
    assert [phase["status"] for phase in done["phases"]] == ["completed"] * 3
    assert all(step["status"] == "skipped" for phase in done["phases"] for step in phase["steps"])
    assert done["progress"] == {"message": "Completed", "percentage": 100, "total": 3, "current": 3}
    assert done["phases"][1]["outputSummary"] == "no steps"
    flow = [(e["type"], e.get("phaseId")) for e in project_events(server, alice, project["id"])]
    assert flow == [
        ("workflow_execution_created", None),
        ("workflow_execution_started", None),
        *[(f"workflow_phase_{end}", phase) for phase in ("plan", "empty", "sign") for end in ("started", "completed")],
        ("workflow_execution_completed", None),
    ]


def test_executable_steps_need_a_sandbox_to_start(alice: Api) -> None:
    project = make_tree(alice).project
    runs = {"phases": [{"id": "a", "steps": [{"id": "s", "prompt": "echo hi", "taskType": "bash"}]}]}
    execution_id = create_execution(alice, published_workflow(alice, runs)["id"], project["id"])
    assert_error(alice.post(f"/workflows/executions/{execution_id}/start"), 404, "CONTAINER_NOT_FOUND")
    assert execution(alice, execution_id)["status"] == "pending"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({}, "projectId", "MISSING_REQUIRED_FIELD"),
        ({"projectId": 7}, "projectId", "VALIDATION_ERROR"),
        ({"metadata": []}, "metadata", "VALIDATION_ERROR"),
        ({"metadata": {"inputParameters": "x"}}, "metadata.inputParameters", "VALIDATION_ERROR"),
        ({"metadata": {"triggeredBy": "cron"}}, "metadata.triggeredBy", "INVALID_VALUE"),
        ({"metadata": {"workflowVersion": 0}}, "metadata.workflowVersion", "VALIDATION_ERROR"),
        ({"metadata": {"workflowVersion": "1"}}, "metadata.workflowVersion", "VALIDATION_ERROR"),
        ({"metadata": {"workflowVersion": 9}}, "metadata.workflowVersion", "INVALID_VALUE"),
    ],
)
def test_bad_creation_requests_name_the_field_and_store_nothing(
    alice: Api, body: dict[str, Any], field: str, code: str
) -> None:
    project = make_tree(alice).project
    workflow = published_workflow(alice, PAPER_FLOW)
    request = {"projectId": project["id"], **body} if field != "projectId" else body
    error = assert_error(alice.post(f"/workflows/{workflow['id']}/executions", request), 400, code)
    assert error["details"]["field"] == field, error
    assert alice.get(f"/workflows/projects/{project['id']}/executions").json() == {"executions": []}


def test_unknown_ids_and_wrong_states_are_refused(alice: Api) -> None:
    project = make_tree(alice).project
    workflow = published_workflow(alice, PAPER_FLOW)
    missing = "00000000-0000-4000-8000-00000000dead"
    assert_error(
        alice.post(f"/workflows/{missing}/executions", {"projectId": project["id"]}), 404, "WORKFLOW_NOT_FOUND"
    )
    assert_error(
        alice.post(f"/workflows/{workflow['id']}/executions", {"projectId": missing}), 404, "PROJECT_NOT_FOUND"
    )
    for action in ("start", "pause", "resume", "cancel"):
        assert_error(alice.post(f"/workflows/executions/{missing}/{action}"), 404, "NOT_FOUND")
    assert_error(alice.get(f"/workflows/executions/{missing}"), 404, "NOT_FOUND")
    assert_error(alice.get(f"/workflows/projects/{missing}/executions"), 404, "PROJECT_NOT_FOUND")
    assert_error(alice.get(f"/workflows/projects/{project['id']}/executions?status=bogus"), 400, "INVALID_VALUE")

    execution_id = create_execution(alice, workflow["id"], project["id"])
    assert_error(alice.post(f"/workflows/executions/{execution_id}/pause"), 400, "INVALID_STATUS")
    assert_error(alice.post(f"/workflows/executions/{execution_id}/resume"), 400, "INVALID_STATUS")
    assert_error(alice.get(f"/workflows/executions/{execution_id}/steps/nope"), 404, "NOT_FOUND")
    assert execution(alice, execution_id)["status"] == "pending"
    act(alice, execution_id, "start")
    wait_for_execution(alice, execution_id)
    body = assert_error(alice.post(f"/workflows/executions/{execution_id}/start"), 400, "INVALID_STATUS")
    assert body["details"]["status"] == "completed" and "only a pending execution" in body["message"]

    alice.patch(f"/workflows/{workflow['id']}/status", {"status": "archived"})
    assert_error(
        alice.post(f"/workflows/{workflow['id']}/executions", {"projectId": project["id"]}), 400, "INVALID_STATUS"
    )


def test_definitions_with_bad_execution_fields_are_refused(alice: Api) -> None:
    for step, field in (
        ({"id": "s", "taskType": "python"}, "definition.phases[0].steps[0].taskType"),
        ({"id": "s", "prompt": 5}, "definition.phases[0].steps[0].prompt"),
        ({"id": "s", "hasExecutableTask": "yes"}, "definition.phases[0].steps[0].hasExecutableTask"),
    ):
        definition = {"phases": [{"id": "p", "steps": [step]}]}
        response = alice.post("/workflows", {"name": "bad", "description": "", "definition": definition})
        assert response.status_code == 400 and response.json()["details"]["field"] == field, response.text


def test_the_template_runs_as_a_draft_copy_and_a_draft_runs_its_working_copy(alice: Api) -> None:
    project = make_tree(alice).project
    template = create_execution(alice, TEMPLATE_ID, project["id"])
    found = execution(alice, template)
    assert found["workflowName"] == "Three-phase lifecycle" and found["totalPhases"] == 3
    assert found["progress"]["total"] == 22 and found["metadata"]["workflowVersion"] == 1
    draft = alice.create("/workflows", {"name": "draft", "description": "", "definition": PAPER_FLOW})
    from_draft = execution(alice, create_execution(alice, draft["id"], project["id"]))
    assert [phase["phaseId"] for phase in from_draft["phases"]] == ["plan", "empty", "sign"]
    assert "workflowVersionId" not in from_draft["metadata"]


def test_another_user_cannot_see_or_touch_an_execution(alice: Api, make_user: Callable[..., Api]) -> None:
    bob = make_user()
    project = make_tree(alice).project
    workflow = published_workflow(alice, PAPER_FLOW)
    execution_id = create_execution(alice, workflow["id"], project["id"])
    for action in ("start", "pause", "resume", "cancel"):
        assert_error(bob.post(f"/workflows/executions/{execution_id}/{action}"), 404, "NOT_FOUND")
    assert_error(bob.get(f"/workflows/executions/{execution_id}"), 404, "NOT_FOUND")
    assert_error(bob.get(f"/workflows/executions/{execution_id}/steps/write"), 404, "NOT_FOUND")
    assert_error(bob.get(f"/workflows/projects/{project['id']}/executions"), 404, "PROJECT_NOT_FOUND")
    assert_error(bob.get(f"/workflows/{workflow['id']}/executions"), 404, "WORKFLOW_NOT_FOUND")
    bobs_project = make_tree(bob).project
    assert_error(bob.post(f"/workflows/{workflow['id']}/executions", {"projectId": bobs_project["id"]}), 404, "WORKFLOW_NOT_FOUND")  # fmt: skip
    assert_error(bob.post(f"/workflows/{TEMPLATE_ID}/executions", {"projectId": project["id"]}), 404, "PROJECT_NOT_FOUND")  # fmt: skip
    bobs_own = create_execution(bob, TEMPLATE_ID, bobs_project["id"])
    assert bobs_own not in [e["id"] for e in alice.get(f"/workflows/{TEMPLATE_ID}/executions").json()]

    execution_gid = gid("Execution", execution_id)
    for query in (
        "query($id: ID!) { execution(id: $id) { id status } }",
        "query($id: ID!) { node(id: $id) { id } }",
    ):
        assert list(data(bob, query, id=execution_gid).values()) == [None], query
    for action in ("start", "pause", "resume", "cancel"):
        mutation = (
            f"mutation($id: ID!) {{ {action}Execution(input: {{id: $id}}) {{ execution {{ id }} {USER_ERRORS} }} }}"
        )
        payload, codes = refused(bob, mutation, id=execution_gid)
        assert codes == ["NOT_FOUND"] and payload["execution"] is None, action
    create = (
        "mutation($w: ID!, $p: ID!) { createExecution(input: {workflowId: $w, projectId: $p})"
        f" {{ execution {{ id }} {USER_ERRORS} }} }}"
    )
    _, codes = refused(bob, create, w=gid("Workflow", workflow["id"]), p=gid("Project", bobs_project["id"]))
    assert codes == ["WORKFLOW_NOT_FOUND"]
    _, codes = refused(bob, create, w=gid("Workflow", TEMPLATE_ID), p=gid("Project", project["id"]))
    assert codes == ["PROJECT_NOT_FOUND"]
    seen = data(
        bob,
        "query($w: ID!, $t: ID!) { workflow(id: $w) { id } template: workflow(id: $t) { executions { nodes { id } } } }",
        w=gid("Workflow", workflow["id"]),
        t=gid("Workflow", TEMPLATE_ID),
    )
    assert seen["workflow"] is None and seen["template"]["executions"]["nodes"] == [{"id": gid("Execution", bobs_own)}]
    assert execution(alice, execution_id)["status"] == "pending"
    assert [e["id"] for e in alice.get(f"/workflows/projects/{project['id']}/executions").json()["executions"]] == [
        execution_id
    ]
