"""Tasks through GraphQL: the mutations, the queries, and `taskEvents` over graphql-transport-ws."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api, LiveServer
from tests.test_progress import graphql_socket
from tests.test_tasks import Project, sandbox_project, submit, wait_for_task

TASK_FIELDS = (
    "id status taskType title result exitCode duration artifacts { path type size } project { id } sandbox { id }"
)


@pytest.fixture
def project(sandbox_server: LiveServer, sandbox_owner: Api) -> Project:
    return sandbox_project(sandbox_server, sandbox_owner)


def run(api: Api, query: str, **variables: Any) -> dict[str, Any]:
    result = api.graphql(query, variables)
    assert "errors" not in result, result
    return result["data"]


def error_code(api: Api, query: str, **variables: Any) -> str:
    result = api.graphql(query, variables)
    return result["errors"][0]["extensions"]["code"]


def subscribe(socket: Any, query: str, **variables: Any) -> None:
    socket.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": query, "variables": variables}}))


def test_a_task_from_mutation_to_its_last_event(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project
) -> None:
    started = run(
        sandbox_owner,
        'mutation($p: ID!, $s: String!) { executeAdhocTask(projectId: $p, title: "GQL", prompt: $s,'
        ' taskType: "bash", parameters: {k: 1}) { id status taskType parameters } }',
        p=project.id,
        s="echo one; sleep 1; echo two > out.log",
    )["executeAdhocTask"]
    assert started["taskType"] == "bash" and started["parameters"] == {"k": 1}
    with graphql_socket(sandbox_server, sandbox_owner.token) as socket:
        subscribe(
            socket,
            "subscription($t: ID!) { taskEvents(taskId: $t, after: 0) { type subjectId payload } }",
            t=started["id"],
        )
        received = []
        while True:
            message = json.loads(socket.recv(timeout=30))
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            received.append(message["payload"]["data"]["taskEvents"])
    types = [event["type"] for event in received]
    assert types[0] == "task_queued" and types[1] == "task_started" and types[-1] == "task_completed", types
    assert "output" in types and "artifact" in types
    assert all(event["subjectId"] == started["id"] for event in received)

    task = run(sandbox_owner, f"query($id: ID!) {{ task(id: $id) {{ {TASK_FIELDS} }} }}", id=started["id"])["task"]
    assert (task["status"], task["exitCode"], task["project"]["id"]) == ("completed", 0, project.id)
    assert task["sandbox"]["id"] == project.sandbox["id"] and task["artifacts"] == [
        {"path": "out.log", "type": "log", "size": 4}
    ]
    listed = run(
        sandbox_owner,
        "query($p: ID!) { project(id: $p) { taskLimit queueStatus { pending running sandboxId }"
        ' tasks(status: ["completed"], type: "adhoc") { totalCount edges { node { id } } pageInfo { hasNextPage } } } }',
        p=project.id,
    )["project"]
    assert listed["taskLimit"] == 1
    assert listed["tasks"] == {
        "totalCount": 1,
        "edges": [{"node": {"id": started["id"]}}],
        "pageInfo": {"hasNextPage": False},
    }
    assert listed["queueStatus"] == {"pending": 0, "running": 0, "sandboxId": project.sandbox["id"]}
    assert run(sandbox_owner, 'query($p: ID!) { tasks(projectId: $p, search: "echo one") { total } }', p=project.id)[
        "tasks"
    ] == {"total": 1}


def test_limit_cancel_and_refusals(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project, make_sandbox_user: Callable[[], Api]
) -> None:
    limited = run(
        sandbox_owner, "mutation($p: ID!) { setTaskLimit(projectId: $p, limit: 3) { id taskLimit } }", p=project.id
    )
    assert limited["setTaskLimit"]["taskLimit"] == 3
    assert (
        error_code(sandbox_owner, "mutation($p: ID!) { setTaskLimit(projectId: $p, limit: 0) { id } }", p=project.id)
        == "VALIDATION_ERROR"
    )
    assert (
        error_code(
            sandbox_owner,
            'mutation($p: ID!) { executeAdhocTask(projectId: $p, title: "t", prompt: "x", taskType: "perl") { id } }',
            p=project.id,
        )
        == "INVALID_VALUE"
    )
    task_id = submit(sandbox_owner, project.id, "sleep 30")
    wait_for_task(sandbox_owner, project.id, task_id, ("running",))
    other = make_sandbox_user()
    assert error_code(other, "query($id: ID!) { task(id: $id) { id } }", id=task_id) == "TASK_NOT_FOUND"
    assert error_code(other, "mutation($id: ID!) { cancelTask(id: $id) { id } }", id=task_id) == "TASK_NOT_FOUND"
    for mutation in (
        'mutation($p: ID!) { executeAdhocTask(projectId: $p, title: "t", prompt: "x") { id } }',
        'mutation($p: ID!) { executeTask(projectId: $p, stepId: "design", prompt: "x") { id } }',
        'mutation($p: ID!) { executeWorkflowStep(projectId: $p, stepId: "design") { id } }',
        "mutation($p: ID!) { setTaskLimit(projectId: $p, limit: 3) { taskLimit } }",
    ):
        assert error_code(other, mutation, p=project.id) == "PROJECT_NOT_FOUND", mutation
    assert error_code(other, "query($p: ID!) { tasks(projectId: $p) { total } }", p=project.id) == "PROJECT_NOT_FOUND"
    with graphql_socket(sandbox_server, other.token) as socket:
        subscribe(socket, "subscription($t: ID!) { taskEvents(taskId: $t) { type } }", t=task_id)
        message = json.loads(socket.recv(timeout=5))
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "TASK_NOT_FOUND"
    cancelled = run(sandbox_owner, "mutation($id: ID!) { cancelTask(id: $id) { id status } }", id=task_id)
    assert cancelled["cancelTask"] == {"id": task_id, "status": "cancelled"}


def test_project_tasks_page_by_cursor(sandbox_server: LiveServer, sandbox_owner: Api, project: Project) -> None:
    ids = [submit(sandbox_owner, project.id, f"echo {n}") for n in range(5)]
    for task_id in ids:
        wait_for_task(sandbox_owner, project.id, task_id)
    query = "query($p: ID!, $after: String) { project(id: $p) { tasks(first: 2, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }"
    seen, after = [], None
    while True:
        page = run(sandbox_owner, query, p=project.id, after=after)["project"]["tasks"]
        assert page["totalCount"] == 5 and len(page["edges"]) <= 2
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(ids)), "newest first, each task once"
    bad = sandbox_owner.graphql(query, {"p": project.id, "after": "not-a-cursor"})
    assert bad["errors"][0]["extensions"] == {
        "code": "VALIDATION_ERROR",
        "statusCode": 400,
        "details": {"field": "after"},
    }
