"""Tasks through GraphQL: the mutations, the queries, and `taskEvents` over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import Api, LiveServer
from tests.graphql_calls import (
    EVENT,
    USER_ERRORS,
    data,
    error_codes,
    gid,
    graphql_socket,
    mutate,
    refused,
    results_until_complete,
    subscribe,
    subscription_error_codes,
)
from tests.test_tasks import Project, sandbox_project, submit, wait_for_task

TASK_FIELDS = (
    "id status taskType kind title result exitCode duration artifacts { nodes { path extension size } }"
    " project { id } sandbox { id }"
)
TASKS_PAGE = """query($p: ID!, $after: String) { project(id: $p) { tasks(first: 2, after: $after) {
  totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } } }"""


@pytest.fixture
def project(sandbox_server: LiveServer, sandbox_owner: Api) -> Project:
    return sandbox_project(sandbox_server, sandbox_owner)


def test_a_task_from_mutation_to_its_last_event(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project
) -> None:
    pid = gid("Project", project.id)
    started = mutate(
        sandbox_owner,
        'mutation($p: ID!, $s: String!) { executeAdhocTask(input: {projectId: $p, title: "GQL", prompt: $s,'
        f" taskType: BASH, parameters: {{k: 1}}}}) {{ task {{ id status taskType parameters }} {USER_ERRORS} }} }}",
        p=pid,
        s="echo one; sleep 1; echo two > out.log",
    )["task"]
    assert started["taskType"] == "BASH" and started["parameters"] == {"k": 1}
    with graphql_socket(sandbox_server, sandbox_owner.token) as socket:
        subscribe(
            socket,
            f'subscription($t: ID!) {{ taskEvents(taskId: $t, after: "0") {{ {EVENT} ... on TaskEvent {{ task {{ id }} }}'
            " ... on TaskOutput { text } ... on TaskArtifactWritten { artifact { path } } } }",
            t=started["id"],
        )
        received = results_until_complete(socket, "taskEvents")
    types = [event["type"] for event in received]
    assert types[0] == "TASK_QUEUED" and types[1] == "TASK_STARTED" and types[-1] == "TASK_COMPLETED", types
    assert "OUTPUT" in types and "ARTIFACT" in types
    assert all(event["task"]["id"] == started["id"] and event["project"]["id"] == pid for event in received)
    assert "one" in "".join(event["text"] for event in received if event["type"] == "OUTPUT")
    assert [event["artifact"]["path"] for event in received if event["type"] == "ARTIFACT"] == ["out.log"]
    ids = [int(event["id"]) for event in received]
    assert ids == sorted(set(ids))

    task = data(sandbox_owner, f"query($id: ID!) {{ task(id: $id) {{ {TASK_FIELDS} }} }}", id=started["id"])["task"]
    assert (task["status"], task["exitCode"], task["kind"], task["project"]["id"]) == ("COMPLETED", 0, "ADHOC", pid)
    assert task["sandbox"]["id"] == gid("Sandbox", project.sandbox["id"])
    assert task["artifacts"]["nodes"] == [{"path": "out.log", "extension": "log", "size": 4}]
    listed = data(
        sandbox_owner,
        "query($p: ID!) { project(id: $p) { taskLimit queueStatus { pending running sandbox { id } }"
        " tasks(status: [COMPLETED], kind: ADHOC) { totalCount edges { node { id } } pageInfo { hasNextPage } } } }",
        p=pid,
    )["project"]
    assert listed["taskLimit"] == 1
    assert listed["tasks"] == {
        "totalCount": 1,
        "edges": [{"node": {"id": started["id"]}}],
        "pageInfo": {"hasNextPage": False},
    }
    assert listed["queueStatus"] == {"pending": 0, "running": 0, "sandbox": {"id": gid("Sandbox", project.sandbox["id"])}}  # fmt: skip
    searched = data(sandbox_owner, 'query($p: ID!) { project(id: $p) { tasks(search: "echo one") { totalCount } } }', p=pid)  # fmt: skip
    assert searched["project"]["tasks"] == {"totalCount": 1}


def test_limit_cancel_and_refusals(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project, make_sandbox_user: Callable[[], Api]
) -> None:
    pid = gid("Project", project.id)
    set_limit = f"mutation($p: ID!, $l: Int!) {{ setTaskLimit(input: {{projectId: $p, limit: $l}}) {{ project {{ id taskLimit }} {USER_ERRORS} }} }}"  # fmt: skip
    assert mutate(sandbox_owner, set_limit, p=pid, l=3)["project"] == {"id": pid, "taskLimit": 3}
    zero, codes = refused(sandbox_owner, set_limit, p=pid, l=0)
    assert codes == ["VALIDATION_ERROR"] and zero["project"] is None
    assert data(sandbox_owner, "query($p: ID!) { project(id: $p) { taskLimit } }", p=pid)["project"]["taskLimit"] == 3
    # Task types are an enum: an unknown one is refused before anything runs.
    perl = 'mutation($p: ID!) { executeAdhocTask(input: {projectId: $p, title: "t", prompt: "x", taskType: PERL}) { task { id } } }'  # fmt: skip
    assert error_codes(sandbox_owner, perl, p=pid) == ["GRAPHQL_VALIDATION_FAILED"]
    assert sandbox_owner.get(f"/projects/{project.id}/tasks").json() == []
    task_id = submit(sandbox_owner, project.id, "sleep 30")
    task_gid = gid("Task", task_id)
    wait_for_task(sandbox_owner, project.id, task_id, ("running",))
    other = make_sandbox_user()
    for query in (
        "query($id: ID!) { task(id: $id) { id } }",
        "query($id: ID!) { node(id: $id) { id } }",
    ):
        assert list(data(other, query, id=task_gid).values()) == [None], query
    cancel = f"mutation($id: ID!) {{ cancelTask(input: {{id: $id}}) {{ task {{ id status }} {USER_ERRORS} }} }}"
    payload, codes = refused(other, cancel, id=task_gid)
    assert codes == ["TASK_NOT_FOUND"] and payload["task"] is None
    for mutation in (
        f'mutation($p: ID!) {{ executeAdhocTask(input: {{projectId: $p, title: "t", prompt: "x"}}) {{ task {{ id }} {USER_ERRORS} }} }}',
        f'mutation($p: ID!) {{ executeTask(input: {{projectId: $p, stepId: "design", prompt: "x"}}) {{ task {{ id }} {USER_ERRORS} }} }}',
        f'mutation($p: ID!) {{ executeWorkflowStep(input: {{projectId: $p, stepId: "design"}}) {{ task {{ id }} {USER_ERRORS} }} }}',
        f"mutation($p: ID!) {{ setTaskLimit(input: {{projectId: $p, limit: 5}}) {{ project {{ taskLimit }} {USER_ERRORS} }} }}",
    ):
        payload, codes = refused(other, mutation, p=pid)
        assert codes == ["PROJECT_NOT_FOUND"], mutation
        assert all(value is None for key, value in payload.items() if key != "userErrors"), payload
    for mutation in (
        f'mutation($t: ID!) {{ saveTaskOutput(input: {{taskId: $t, content: "x"}}) {{ memory {{ id }} {USER_ERRORS} }} }}',
        f'mutation($t: ID!) {{ captureTaskDialog(input: {{taskId: $t, content: "x"}}) {{ memory {{ id }} {USER_ERRORS} }} }}',
    ):
        payload, codes = refused(other, mutation, t=task_gid)
        assert codes == ["TASK_NOT_FOUND"] and payload["memory"] is None, mutation
    assert data(other, "query($p: ID!) { project(id: $p) { tasks { totalCount } } }", p=pid) == {"project": None}
    with graphql_socket(sandbox_server, other.token) as socket:
        subscribe(socket, "subscription($t: ID!) { taskEvents(taskId: $t) { __typename } }", t=task_gid)
        assert subscription_error_codes(socket) == ["TASK_NOT_FOUND"]
    seen = data(sandbox_owner, "query($p: ID!) { project(id: $p) { taskLimit tasks { totalCount nodes { status } } } }", p=pid)  # fmt: skip
    assert seen["project"] == {"taskLimit": 3, "tasks": {"totalCount": 1, "nodes": [{"status": "RUNNING"}]}}
    untouched = data(sandbox_owner, "query($t: ID!) { task(id: $t) { memories { totalCount } } }", t=task_gid)
    assert untouched["task"]["memories"]["totalCount"] == 0
    cancelled = mutate(sandbox_owner, cancel, id=task_gid)
    assert cancelled["task"] == {"id": task_gid, "status": "CANCELLED"}


def test_project_tasks_page_by_cursor(sandbox_server: LiveServer, sandbox_owner: Api, project: Project) -> None:
    ids = [submit(sandbox_owner, project.id, f"echo {n}") for n in range(5)]
    for task_id in ids:
        wait_for_task(sandbox_owner, project.id, task_id)
    pid = gid("Project", project.id)
    seen, after, later = [], None, []
    while True:
        page = data(sandbox_owner, TASKS_PAGE, p=pid, after=after)["project"]["tasks"]
        assert page["totalCount"] == 5 + len(later) and len(page["edges"]) <= 2
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not later:
            # Two tasks queued between two pages: keyset cursors neither repeat nor skip a task for them.
            later = [submit(sandbox_owner, project.id, f"echo later {n}") for n in range(2)]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [gid("Task", task_id) for task_id in reversed(ids)], "newest first, each task once"
    newest = data(sandbox_owner, TASKS_PAGE, p=pid, after=None)["project"]["tasks"]["edges"]
    assert [edge["node"]["id"] for edge in newest] == [gid("Task", task_id) for task_id in reversed(later)]
    bad = sandbox_owner.graphql(TASKS_PAGE, {"p": pid, "after": "not-a-cursor"})
    assert [e["extensions"]["code"] for e in bad["errors"]] == ["INVALID_CURSOR"], bad
    assert bad["errors"][0]["extensions"]["details"] == {"field": "after"}
    for task_id in later:
        wait_for_task(sandbox_owner, project.id, task_id)
