"""Sandboxes through GraphQL: the same resolvers as /flexy, on both backends."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Api, LiveServer, make_tree
from tests.test_flexy import wait_for_operation


def data(result: dict) -> dict:
    assert "errors" not in result, result
    return result["data"]


def test_sandbox_lifecycle_over_graphql(
    sandbox_server: LiveServer, sandbox_owner: Api, make_sandbox_user: Callable[[], Api]
) -> None:
    tree = make_tree(sandbox_owner)
    pid = tree.project["id"]
    created = data(
        sandbox_owner.graphql(
            "mutation($p: ID!) { createSandbox(projectId: $p) { id status image projectId isolation } }", {"p": pid}
        )
    )["createSandbox"]
    sid = created["id"]
    assert (
        created["status"] == "running"
        and created["projectId"] == pid
        and created["image"] == sandbox_server.settings.image_name
    )
    assert created["isolation"] in ("docker", "bubblewrap", "none")

    graph = data(
        sandbox_owner.graphql(
            "query($p: ID!) { project(id: $p) { sandboxId sandbox { id status workingDir } } }", {"p": pid}
        )
    )
    assert graph["project"]["sandboxId"] == sid and graph["project"]["sandbox"]["id"] == sid
    assert sid in [s["id"] for s in data(sandbox_owner.graphql("{ sandboxes { id } }"))["sandboxes"]]

    assert data(sandbox_owner.graphql("mutation($id: ID!) { stopSandbox(id: $id) { status } }", {"id": sid}))[
        "stopSandbox"
    ]["status"] in ("stopped", "exited")
    refused = sandbox_owner.graphql("mutation($id: ID!) { stopSandbox(id: $id) { status } }", {"id": sid})
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert (
        data(sandbox_owner.graphql("mutation($id: ID!) { startSandbox(id: $id) { status } }", {"id": sid}))[
            "startSandbox"
        ]["status"]
        == "running"
    )

    operation = data(
        sandbox_owner.graphql(
            "mutation($id: ID!) { sandboxOperation(id: $id, type: STOP) { id status type } }", {"id": sid}
        )
    )["sandboxOperation"]
    assert operation["type"] == "stop" and operation["status"] == "pending"
    wait_for_operation(sandbox_owner, operation["id"])
    listed = data(
        sandbox_owner.graphql(
            'query($p: ID!) { sandboxOperations(projectId: $p, status: ["completed"]) { id steps { id status } } }',
            {"p": pid},
        )
    )
    assert [o["id"] for o in listed["sandboxOperations"]] == [operation["id"]]
    finished = sandbox_owner.graphql(
        "mutation($o: ID!) { cancelSandboxOperation(operationId: $o) { status } }", {"o": operation["id"]}
    )
    assert finished["errors"][0]["extensions"]["code"] == "INVALID_STATUS"

    images = data(sandbox_owner.graphql("{ sandboxImages { name isDefault available } }"))["sandboxImages"]
    assert {"name": sandbox_server.settings.image_name, "isDefault": True, "available": True} in images

    other = make_sandbox_user()
    hidden = other.graphql("query($id: ID!) { sandbox(id: $id) { id } }", {"id": sid})
    assert hidden["errors"][0]["extensions"]["code"] == "CONTAINER_NOT_FOUND"
    assert (
        other.graphql("mutation($id: ID!) { deleteSandbox(id: $id) }", {"id": sid})["errors"][0]["extensions"]["code"]
        == "CONTAINER_NOT_FOUND"
    )

    assert (
        data(sandbox_owner.graphql("mutation($id: ID!) { deleteSandbox(id: $id) }", {"id": sid}))["deleteSandbox"]
        is True
    )
    assert (
        data(sandbox_owner.graphql("query($p: ID!) { project(id: $p) { sandbox { id } } }", {"p": pid}))["project"][
            "sandbox"
        ]
        is None
    )
