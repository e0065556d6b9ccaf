"""Sandboxes through GraphQL: the same resolvers as /flexy, on both backends."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Api, LiveServer, make_tree
from tests.graphql_calls import (
    USER_ERRORS,
    data,
    gid,
    graphql_socket,
    mutate,
    refused,
    subscribe,
    subscription_error_codes,
)
from tests.test_flexy import wait_for_operation

SANDBOX = "id databaseId status image project { id } isolation"


def on_sandbox(action: str, fields: str = "sandbox { status }") -> str:
    return f"mutation($id: ID!) {{ {action}(input: {{id: $id}}) {{ {fields} {USER_ERRORS} }} }}"


def test_sandbox_lifecycle_over_graphql(
    sandbox_server: LiveServer, sandbox_owner: Api, make_sandbox_user: Callable[[], Api]
) -> None:
    tree = make_tree(sandbox_owner)
    pid = gid("Project", tree.project["id"])
    created = mutate(
        sandbox_owner,
        f"mutation($p: ID!) {{ createSandbox(input: {{projectId: $p}}) {{ sandbox {{ {SANDBOX} }} {USER_ERRORS} }} }}",
        p=pid,
    )["sandbox"]
    sid = created["id"]
    assert sid == gid("Sandbox", created["databaseId"])
    assert (created["status"], created["project"], created["image"]) == (
        "RUNNING",
        {"id": pid},
        sandbox_server.settings.image_name,
    )
    assert created["isolation"] in ("DOCKER", "BUBBLEWRAP", "NONE")
    assert sandbox_owner.get(f"/flexy/{created['databaseId']}").json()["status"] == "running"

    graph = data(sandbox_owner, "query($p: ID!) { project(id: $p) { sandbox { id status workingDir } } }", p=pid)
    assert graph["project"]["sandbox"]["id"] == sid
    listed = data(sandbox_owner, "{ sandboxes(first: 100) { nodes { id } } }")["sandboxes"]["nodes"]
    assert sid in [s["id"] for s in listed]

    assert mutate(sandbox_owner, on_sandbox("stopSandbox"), id=sid)["sandbox"]["status"] in ("STOPPED", "EXITED")
    again, codes = refused(sandbox_owner, on_sandbox("stopSandbox"), id=sid)
    assert codes == ["CONFLICT"] and again["sandbox"] is None
    assert mutate(sandbox_owner, on_sandbox("startSandbox"), id=sid)["sandbox"]["status"] == "RUNNING"

    operation = mutate(
        sandbox_owner,
        "mutation($id: ID!) { startSandboxOperation(input: {sandboxId: $id, action: STOP})"
        f" {{ operation {{ id databaseId status type sandbox {{ id }} }} {USER_ERRORS} }} }}",
        id=sid,
    )["operation"]
    assert (operation["type"], operation["status"], operation["sandbox"]) == ("STOP", "PENDING", {"id": sid})
    wait_for_operation(sandbox_owner, operation["databaseId"])
    listed = data(
        sandbox_owner,
        "query($p: ID!, $s: ID!) { project(id: $p) { operations(status: [COMPLETED]) { nodes { id steps { stepId status } } } }"
        " sandbox(id: $s) { operations { nodes { id status } } } }",
        p=pid,
        s=sid,
    )
    assert [o["id"] for o in listed["project"]["operations"]["nodes"]] == [operation["id"]]
    assert listed["sandbox"]["operations"]["nodes"] == [{"id": operation["id"], "status": "COMPLETED"}]
    cancel = (
        f"mutation($o: ID!) {{ cancelSandboxOperation(input: {{id: $o}}) {{ operation {{ status }} {USER_ERRORS} }} }}"
    )
    finished, codes = refused(sandbox_owner, cancel, o=operation["id"])
    assert codes == ["INVALID_STATUS"] and finished["operation"] is None

    images = data(sandbox_owner, "{ sandboxImages { name isDefault available } }")["sandboxImages"]
    assert {"name": sandbox_server.settings.image_name, "isDefault": True, "available": True} in images

    other = make_sandbox_user()
    before = sandbox_owner.get(f"/flexy/{created['databaseId']}").json()
    for query, variables in (
        ("query($id: ID!) { sandbox(id: $id) { id } }", {"id": sid}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": sid}),
        ("query($id: ID!) { sandboxOperation(id: $id) { id } }", {"id": operation["id"]}),
    ):
        assert list(data(other, query, **variables).values()) == [None], query
    assert sid not in repr(data(other, "{ sandboxes { nodes { id } } }"))
    with graphql_socket(sandbox_server, other.token) as socket:
        subscribe(socket, "subscription($o: ID!) { sandboxOperation(operationId: $o) { status } }", o=operation["id"])
        assert subscription_error_codes(socket) == ["OPERATION_NOT_FOUND"]
    for mutation, variables, code in (
        (on_sandbox("deleteSandbox", "deletedId"), {"id": sid}, "CONTAINER_NOT_FOUND"),
        (on_sandbox("stopSandbox"), {"id": sid}, "CONTAINER_NOT_FOUND"),
        (on_sandbox("startSandbox"), {"id": sid}, "CONTAINER_NOT_FOUND"),
        (on_sandbox("restartSandbox"), {"id": sid}, "CONTAINER_NOT_FOUND"),
        (
            f"mutation($id: ID!) {{ startSandboxOperation(input: {{sandboxId: $id, action: DELETE}}) {{ operation {{ id }} {USER_ERRORS} }} }}",
            {"id": sid},
            "CONTAINER_NOT_FOUND",
        ),
        (cancel, {"o": operation["id"]}, "OPERATION_NOT_FOUND"),
        (
            f"mutation($p: ID!) {{ createSandbox(input: {{projectId: $p}}) {{ sandbox {{ id }} {USER_ERRORS} }} }}",
            {"p": pid},
            "PROJECT_NOT_FOUND",
        ),
    ):
        payload, codes = refused(other, mutation, **variables)
        assert codes == [code], mutation
        assert all(value is None for key, value in payload.items() if key != "userErrors"), payload
    after = sandbox_owner.get(f"/flexy/{created['databaseId']}").json()
    assert (after["status"], after["id"], after["updatedAt"]) == (before["status"], before["id"], before["updatedAt"])
    assert data(sandbox_owner, "query($p: ID!) { project(id: $p) { operations { totalCount } } }", p=pid) == {
        "project": {"operations": {"totalCount": 1}}
    }

    deleted = mutate(sandbox_owner, on_sandbox("deleteSandbox", "deletedId"), id=sid)
    assert deleted["deletedId"] == sid
    assert data(sandbox_owner, "query($p: ID!) { project(id: $p) { sandbox { id } } }", p=pid)["project"]["sandbox"] is None  # fmt: skip
    assert data(sandbox_owner, "query($id: ID!) { sandbox(id: $id) { id } }", id=sid) == {"sandbox": None}
