"""Workflow executions through GraphQL: the mutations, the execution graph down to each step's task,
`Project.executions`, and `executionEvents` over graphql-transport-ws, on Docker and locally."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, LiveServer
from tests.graphql_calls import (
    EVENT,
    USER_ERRORS,
    data,
    gid,
    graphql_socket,
    mutate,
    refused,
    results_until_complete,
    subscribe,
    subscription_error_codes,
)
from tests.statements import fewest_statements
from tests.test_executions import (
    act,
    bash_step,
    create_execution,
    execution,
    published_workflow,
    three_phases,
    wait_for_execution,
)
from tests.test_tasks import sandbox_project

EXECUTION = """
  id databaseId status workflowVersion currentPhase totalPhases triggeredBy inputParameters error
  progress { message percentage total current }
  workflow { id name }
  project { id }
  phases { phaseId name status progress { percentage }
           steps { stepId status duration output task { id status stepId taskType } } }
"""
EXECUTION_EVENTS = f"""subscription($e: ID!) {{ executionEvents(executionId: $e, after: "0") {{ {EVENT}
  ... on ExecutionEvent {{ execution {{ id }} }}
  ... on PhaseChanged {{ phaseId }}
  ... on TaskEvent {{ task {{ id }} execution {{ id }} }} }} }}"""

STEP_TASKS = (
    "query($id: ID!) { execution(id: $id) { workflow { id } project { id } phases { steps { task { id status } } } } }"
)


def published(api: Api, definition: dict[str, Any]) -> str:
    workflow = mutate(
        api,
        'mutation($d: JSON!) { createWorkflow(input: {name: "GQL flow", definition: $d}) { workflow { id'
        " structure { phases { phaseId steps { stepId taskType prompt } }"
        f" transitions {{ fromPhaseId toPhaseId type label }} }} }} {USER_ERRORS} }} }}",
        d=definition,
    )["workflow"]
    structure = workflow["structure"]
    assert [phase["phaseId"] for phase in structure["phases"]] == [phase["id"] for phase in definition["phases"]]
    assert structure["phases"][0]["steps"][0]["taskType"] == "BASH"
    assert structure["transitions"][0] == {"fromPhaseId": "prototype", "toPhaseId": "qa", "type": "FORWARD", "label": None}  # fmt: skip
    mutate(
        api,
        f"mutation($id: ID!) {{ changeWorkflowStatus(input: {{id: $id, status: PUBLISHED}}) {{ workflow {{ id }} {USER_ERRORS} }} }}",
        id=workflow["id"],
    )
    return workflow["id"]


def new_execution(api: Api, workflow_id: str, project_id: str, fields: str = "id") -> dict[str, Any]:
    return mutate(
        api,
        "mutation($w: ID!, $p: ID!) { createExecution(input: {workflowId: $w, projectId: $p})"
        f" {{ execution {{ {fields} }} {USER_ERRORS} }} }}",
        w=workflow_id,
        p=project_id,
    )["execution"]


def test_an_execution_from_mutation_to_its_last_event(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    pid = gid("Project", project.id)
    workflow_id = published(sandbox_owner, three_phases())
    created = mutate(
        sandbox_owner,
        "mutation($w: ID!, $p: ID!) { createExecution(input: {workflowId: $w, projectId: $p,"
        f' inputParameters: {{GREETING: "gql"}}, triggeredBy: MANUAL}}) {{ execution {{ {EXECUTION} }} {USER_ERRORS} }} }}',
        w=workflow_id,
        p=pid,
    )["execution"]
    assert (created["status"], created["workflowVersion"], created["triggeredBy"]) == ("PENDING", 1, "MANUAL")
    assert created["workflow"] == {"id": workflow_id, "name": "GQL flow"} and created["project"]["id"] == pid
    assert created["inputParameters"] == {"GREETING": "gql"}

    with graphql_socket(sandbox_server, sandbox_owner.token) as socket:
        subscribe(socket, EXECUTION_EVENTS, e=created["id"])
        started = mutate(
            sandbox_owner,
            f"mutation($id: ID!) {{ startExecution(input: {{id: $id}}) {{ execution {{ status }} {USER_ERRORS} }} }}",
            id=created["id"],
        )
        assert started["execution"]["status"] == "INITIALIZING"
        received = results_until_complete(socket, "executionEvents", timeout=60)

    assert all(e["project"]["id"] == pid and e["execution"]["id"] == created["id"] for e in received)
    flow = [(e["type"], e.get("phaseId")) for e in received if "task" not in e]
    assert flow == [
        ("WORKFLOW_EXECUTION_CREATED", None),
        ("WORKFLOW_EXECUTION_STARTED", None),
        *[(f"WORKFLOW_PHASE_{end}", p) for p in ("prototype", "qa", "optimize") for end in ("STARTED", "COMPLETED")],
        ("WORKFLOW_EXECUTION_COMPLETED", None),
    ]
    task_events = [e for e in received if "task" in e]
    assert [e["type"] for e in task_events].count("TASK_COMPLETED") == 4
    assert received[-1]["type"] == "WORKFLOW_EXECUTION_COMPLETED"

    done = data(sandbox_owner, f"query($id: ID!) {{ execution(id: $id) {{ {EXECUTION} }} }}", id=created["id"])
    found = done["execution"]
    assert found["status"] == "COMPLETED" and found["progress"]["percentage"] == 100
    steps = [step for phase in found["phases"] for step in phase["steps"]]
    assert [(s["stepId"], s["status"]) for s in steps] == [
        ("p1", "COMPLETED"),
        ("review", "SKIPPED"),
        ("p2", "COMPLETED"),
        ("q1", "COMPLETED"),
        ("o1", "COMPLETED"),
    ]
    over_rest = {s["stepId"]: s for p in execution(sandbox_owner, created["databaseId"])["phases"] for s in p["steps"]}
    for step in steps:
        if step["status"] == "COMPLETED":
            task_id = gid("Task", over_rest[step["stepId"]]["taskId"])
            assert step["task"] == {"id": task_id, "status": "COMPLETED", "stepId": step["stepId"], "taskType": "BASH"}  # fmt: skip
        else:
            assert step["task"] is None
    assert {e["task"]["id"] for e in task_events} == {s["task"]["id"] for s in steps if s["task"]}
    assert (project.folder / "order.txt").read_text().startswith("p1 v1 gql\n")

    page = data(
        sandbox_owner,
        "query($p: ID!) { project(id: $p) { executions(first: 5, status: [COMPLETED]) {"
        " totalCount pageInfo { hasNextPage } edges { node { id } } } } }",
        p=pid,
    )["project"]["executions"]
    assert page["totalCount"] == 1 and page["edges"][0]["node"]["id"] == created["id"]
    assert not page["pageInfo"]["hasNextPage"]


def test_pause_resume_and_cancel_over_graphql(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    definition = {"phases": [{"id": "a", "steps": [bash_step("wait", "sleep 30")]}]}
    workflow_id = mutate(
        sandbox_owner,
        f'mutation($d: JSON!) {{ createWorkflow(input: {{name: "w", definition: $d}}) {{ workflow {{ id }} {USER_ERRORS} }} }}',
        d=definition,
    )["workflow"]["id"]
    first, second = (new_execution(sandbox_owner, workflow_id, gid("Project", project.id))["id"] for _ in range(2))
    on = "mutation($id: ID!) {{ {}(input: {{id: $id}}) {{ execution {{ id status }} userErrors {{ field code message }} }} }}"  # fmt: skip

    def status_after(action: str, execution_id: str) -> str:
        return mutate(sandbox_owner, on.format(action), id=execution_id)["execution"]["status"]

    pending, codes = refused(sandbox_owner, on.format("resumeExecution"), id=first)
    assert codes == ["INVALID_STATUS"] and pending["execution"] is None
    status_after("startExecution", first)
    assert status_after("pauseExecution", first) == "PAUSED"
    assert status_after("resumeExecution", first) == "RUNNING"
    assert status_after("cancelExecution", first) == "CANCELLED"
    assert status_after("cancelExecution", second) == "CANCELLED"
    _, codes = refused(sandbox_owner, on.format("startExecution"), id=second)
    assert codes == ["INVALID_STATUS"]
    listed = data(
        sandbox_owner, "query($w: ID!) { workflow(id: $w) { executions { nodes { id status } } } }", w=workflow_id
    )["workflow"]["executions"]["nodes"]
    assert sorted((e["id"], e["status"]) for e in listed) == sorted((i, "CANCELLED") for i in (first, second))


def test_another_user_cannot_subscribe_to_an_execution(
    sandbox_server: LiveServer, sandbox_owner: Api, make_sandbox_user: Any
) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    workflow_id = published(sandbox_owner, three_phases())
    execution_id = new_execution(sandbox_owner, workflow_id, gid("Project", project.id))["id"]
    stranger = make_sandbox_user()
    with graphql_socket(sandbox_server, stranger.token) as socket:
        subscribe(socket, "subscription($e: ID!) { executionEvents(executionId: $e) { __typename } }", e=execution_id)
        assert subscription_error_codes(socket) == ["NOT_FOUND"]


def test_step_tasks_cost_a_constant_number_of_statements(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    """An execution with one step task or with four: the tasks come through one loader query."""
    project = sandbox_project(sandbox_server, sandbox_owner)
    counts = []
    for steps in (1, 4):
        definition = {"phases": [{"id": "a", "steps": [bash_step(f"s{i}", "true") for i in range(steps)]}]}
        execution_id = create_execution(sandbox_owner, published_workflow(sandbox_owner, definition)["id"], project.id)
        act(sandbox_owner, execution_id, "start")
        assert wait_for_execution(sandbox_owner, execution_id)["status"] == "completed"
        data(sandbox_owner, "{ health { status } }")  # the caller is established now, and cached for a few seconds
        count, found = fewest_statements(
            sandbox_server, lambda e=execution_id: data(sandbox_owner, STEP_TASKS, id=gid("Execution", e))
        )
        assert [s["task"]["status"] for s in found["execution"]["phases"][0]["steps"]] == ["COMPLETED"] * steps
        counts.append(count)
    assert counts[0] == counts[1], counts
