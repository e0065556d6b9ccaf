"""Workflow executions through GraphQL: the mutations, the execution graph down to each step's task,
`Project.executions`, and `executionEvents` over graphql-transport-ws, on Docker and locally."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Api, LiveServer
from tests.test_executions import (
    act,
    bash_step,
    create_execution,
    published_workflow,
    three_phases,
    wait_for_execution,
)
from tests.test_graphql import counting_statements
from tests.test_graphql_tasks import error_code, run, subscribe
from tests.test_progress import graphql_socket
from tests.test_tasks import sandbox_project

EXECUTION = """
  id status workflowVersion currentPhase totalPhases triggeredBy inputParameters error
  progress { message percentage total current }
  workflow { id name }
  project { id }
  phases { phaseId name status progress { percentage }
           steps { stepId status taskId duration output task { id status stepId taskType } } }
"""


def published(api: Api, definition: dict[str, Any]) -> str:
    workflow = run(
        api,
        'mutation($d: JSON) { createWorkflow(name: "GQL flow", definition: $d) { id structure { phases { id '
        "steps { id taskType prompt } } transitions { from to type label } } } }",
        d=definition,
    )["createWorkflow"]
    structure = workflow["structure"]
    assert [phase["id"] for phase in structure["phases"]] == [phase["id"] for phase in definition["phases"]]
    assert structure["phases"][0]["steps"][0]["taskType"] == "bash"
    assert structure["transitions"][0] == {"from": "prototype", "to": "qa", "type": "forward", "label": None}
    run(api, 'mutation($id: ID!) { changeWorkflowStatus(id: $id, status: "published") { id } }', id=workflow["id"])
    return workflow["id"]


def test_an_execution_from_mutation_to_its_last_event(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    workflow_id = published(sandbox_owner, three_phases())
    created = run(
        sandbox_owner,
        "mutation($w: ID!, $p: ID!) { createExecution(workflowId: $w, projectId: $p,"
        f' inputParameters: {{GREETING: "gql"}}, triggeredBy: "manual") {{ {EXECUTION} }} }}',
        w=workflow_id,
        p=project.id,
    )["createExecution"]
    assert (created["status"], created["workflowVersion"], created["triggeredBy"]) == ("pending", 1, "manual")
    assert created["workflow"] == {"id": workflow_id, "name": "GQL flow"} and created["project"]["id"] == project.id
    assert created["inputParameters"] == {"GREETING": "gql"}

    with graphql_socket(sandbox_server, sandbox_owner.token) as socket:
        subscribe(
            socket,
            "subscription($e: ID!) { executionEvents(executionId: $e, after: 0) { type subjectType payload } }",
            e=created["id"],
        )
        started = run(sandbox_owner, "mutation($id: ID!) { startExecution(id: $id) { status } }", id=created["id"])
        assert started["startExecution"]["status"] == "initializing"
        received = []
        while True:
            message = json.loads(socket.recv(timeout=60))
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            received.append(message["payload"]["data"]["executionEvents"])

    flow = [(e["type"], e["payload"].get("phaseId")) for e in received if e["subjectType"] == "execution"]
    assert flow == [
        ("workflow_execution_created", None),
        ("workflow_execution_started", None),
        *[(f"workflow_phase_{end}", p) for p in ("prototype", "qa", "optimize") for end in ("started", "completed")],
        ("workflow_execution_completed", None),
    ]
    task_events = [e for e in received if e["subjectType"] == "task"]
    assert [e["type"] for e in task_events].count("task_completed") == 4
    assert all(e["payload"]["executionId"] == created["id"] for e in task_events)
    assert received[-1]["type"] == "workflow_execution_completed"

    done = run(sandbox_owner, f"query($id: ID!) {{ execution(id: $id) {{ {EXECUTION} }} }}", id=created["id"])
    execution = done["execution"]
    assert execution["status"] == "completed" and execution["progress"]["percentage"] == 100
    steps = [step for phase in execution["phases"] for step in phase["steps"]]
    assert [(s["stepId"], s["status"]) for s in steps] == [
        ("p1", "completed"),
        ("review", "skipped"),
        ("p2", "completed"),
        ("q1", "completed"),
        ("o1", "completed"),
    ]
    for step in steps:
        if step["status"] == "completed":
            assert step["task"] == {"id": step["taskId"], "status": "completed", "stepId": step["stepId"], "taskType": "bash"}  # fmt: skip
        else:
            assert step["task"] is None
    assert (project.folder / "order.txt").read_text().startswith("p1 v1 gql\n")

    page = run(
        sandbox_owner,
        'query($p: ID!) { project(id: $p) { executions(first: 5, status: ["completed"]) {'
        " totalCount pageInfo { hasNextPage } edges { node { id } } } } }",
        p=project.id,
    )["project"]["executions"]
    assert page["totalCount"] == 1 and page["edges"][0]["node"]["id"] == created["id"]
    assert not page["pageInfo"]["hasNextPage"]


def test_pause_resume_and_cancel_over_graphql(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    definition = {"phases": [{"id": "a", "steps": [bash_step("wait", "sleep 30")]}]}
    workflow_id = run(
        sandbox_owner, 'mutation($d: JSON) { createWorkflow(name: "w", definition: $d) { id } }', d=definition
    )["createWorkflow"]["id"]
    ids = []
    for _ in range(2):
        ids.append(
            run(
                sandbox_owner,
                "mutation($w: ID!, $p: ID!) { createExecution(workflowId: $w, projectId: $p) { id } }",
                w=workflow_id,
                p=project.id,
            )["createExecution"]["id"]
        )
    first, second = ids
    mutate = "mutation($id: ID!) {{ {}(id: $id) {{ id status }} }}"
    assert error_code(sandbox_owner, mutate.format("resumeExecution"), id=first) == "INVALID_STATUS"
    run(sandbox_owner, mutate.format("startExecution"), id=first)
    assert run(sandbox_owner, mutate.format("pauseExecution"), id=first)["pauseExecution"]["status"] == "paused"
    assert run(sandbox_owner, mutate.format("resumeExecution"), id=first)["resumeExecution"]["status"] == "running"
    assert run(sandbox_owner, mutate.format("cancelExecution"), id=first)["cancelExecution"]["status"] == "cancelled"
    assert run(sandbox_owner, mutate.format("cancelExecution"), id=second)["cancelExecution"]["status"] == "cancelled"
    assert error_code(sandbox_owner, mutate.format("startExecution"), id=second) == "INVALID_STATUS"
    listed = run(sandbox_owner, "query($w: ID!) { workflowExecutions(workflowId: $w) { id status } }", w=workflow_id)[
        "workflowExecutions"
    ]
    assert sorted((e["id"], e["status"]) for e in listed) == sorted((i, "cancelled") for i in ids)


def test_another_user_cannot_subscribe_to_an_execution(
    sandbox_server: LiveServer, sandbox_owner: Api, make_sandbox_user: Any
) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    workflow_id = published(sandbox_owner, three_phases())
    execution_id = run(
        sandbox_owner,
        "mutation($w: ID!, $p: ID!) { createExecution(workflowId: $w, projectId: $p) { id } }",
        w=workflow_id,
        p=project.id,
    )["createExecution"]["id"]
    stranger = make_sandbox_user()
    with graphql_socket(sandbox_server, stranger.token) as socket:
        subscribe(socket, "subscription($e: ID!) { executionEvents(executionId: $e) { type } }", e=execution_id)
        message = json.loads(socket.recv(timeout=10))
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND", message


def test_step_tasks_cost_a_constant_number_of_statements(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    """An execution with one step task or with four: the tasks come through one loader query."""
    project = sandbox_project(sandbox_server, sandbox_owner)
    counts = []
    for steps in (1, 4):
        definition = {"phases": [{"id": "a", "steps": [bash_step(f"s{i}", "true") for i in range(steps)]}]}
        execution_id = create_execution(sandbox_owner, published_workflow(sandbox_owner, definition)["id"], project.id)
        act(sandbox_owner, execution_id, "start")
        assert wait_for_execution(sandbox_owner, execution_id)["status"] == "completed"
        with counting_statements(sandbox_server) as statements:
            found = run(
                sandbox_owner,
                "query($id: ID!) { execution(id: $id) { workflow { id } project { id }"
                " phases { steps { task { id status } } } } }",
                id=execution_id,
            )
        assert [s["task"]["status"] for s in found["execution"]["phases"][0]["steps"]] == ["completed"] * steps
        counts.append(len([s for s in statements if not s.startswith("BEGIN")]))
    assert counts[0] == counts[1], counts
