"""Sandboxes over REST (operations 51-63): on the real Docker engine and on the local backend."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api, LiveServer, Tree, make_tree

SANDBOX_KEYS = {"sandboxId", "id", "name", "image", "status", "ports", "projectId", "folderMapping", "createdAt"}


def wait_for_operation(api: Api, operation_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        operation = api.get(f"/flexy/operations/{operation_id}").json()
        if operation["status"] in ("completed", "failed", "cancelled"):
            return operation
        time.sleep(0.1)
    raise AssertionError(f"operation {operation_id} did not finish: {operation}")


def assert_gone_from_backend(request: pytest.FixtureRequest, server: LiveServer, sandbox_id: str) -> None:
    """The container (or the local backend's record) is really gone, not just the database row."""
    if server.settings.sandbox_backend == "docker":
        with pytest.raises(RuntimeError, match="404"):
            request.getfixturevalue("docker_engine").request("GET", f"/containers/{sandbox_id}/json")
    else:
        assert not (server.settings.data_dir / "local-sandboxes" / f"{sandbox_id}.json").exists()


@pytest.fixture
def project_tree(sandbox_owner: Api) -> Tree:
    return make_tree(sandbox_owner)


def create_sandbox(api: Api, project_id: str) -> dict[str, Any]:
    response = api.post("/flexy", {"name": "", "projectId": project_id})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_lists_and_records_on_the_project(
    sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree
) -> None:
    pid = project_tree.project["id"]
    created = create_sandbox(sandbox_owner, pid)
    assert created.keys() >= SANDBOX_KEYS
    assert created["status"] == "running" and created["projectId"] == pid
    assert created["image"] == sandbox_server.settings.image_name == created["imageName"]
    folder = (
        sandbox_server.settings.base_root
        / project_tree.org["folderPath"]
        / project_tree.workspace["folderPath"]
        / project_tree.project["folderPath"]
    )
    assert created["folderMapping"].startswith(f"{folder}:")
    project = sandbox_owner.get(f"/projects/{pid}").json()
    assert (project["sandboxId"], project["sandboxName"]) == (created["id"], created["name"])
    listed = sandbox_owner.get("/flexy").json()
    assert [s["id"] for s in listed if s["projectId"] == pid] == [created["id"]]
    assert sandbox_owner.get(f"/flexy/{created['id']}").json()["status"] == "running"
    again = sandbox_owner.post("/flexy", {"projectId": pid})
    assert again.status_code == 409 and again.json()["code"] == "CONFLICT"


def test_sync_stop_start_restart_delete(sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree) -> None:
    sandbox = create_sandbox(sandbox_owner, project_tree.project["id"])
    sid = sandbox["id"]
    assert sandbox_owner.post(f"/flexy/{sid}/stop").status_code == 204
    assert sandbox_owner.get(f"/flexy/{sid}").json()["status"] in ("stopped", "exited")
    stop_again = sandbox_owner.post(f"/flexy/{sid}/stop")
    assert stop_again.status_code == 409 and "not running" in stop_again.json()["message"]
    assert sandbox_owner.post(f"/flexy/{sid}/start").status_code == 204
    assert sandbox_owner.get(f"/flexy/{sid}").json()["status"] == "running"
    start_again = sandbox_owner.post(f"/flexy/{sid}/start")
    assert start_again.status_code == 409 and "already running" in start_again.json()["message"]
    assert sandbox_owner.post(f"/flexy/{sid}/restart").status_code == 204
    assert sandbox_owner.get(f"/flexy/{sid}").json()["status"] == "running"
    assert sandbox_owner.delete(f"/flexy/{sid}").status_code == 204
    gone = sandbox_owner.get(f"/flexy/{sid}")
    assert gone.status_code == 404 and gone.json()["code"] == "CONTAINER_NOT_FOUND"
    project = sandbox_owner.get(f"/projects/{project_tree.project['id']}").json()
    assert "sandboxId" not in project and "sandboxName" not in project
    folder = (
        sandbox_server.settings.base_root
        / project_tree.org["folderPath"]
        / project_tree.workspace["folderPath"]
        / project_tree.project["folderPath"]
    )
    assert folder.is_dir(), "deleting a sandbox keeps the project folder"


def test_async_operations_advance_through_their_steps(
    request: pytest.FixtureRequest, sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree
) -> None:
    pid = project_tree.project["id"]
    sid = create_sandbox(sandbox_owner, pid)["id"]

    stop = sandbox_owner.post(f"/flexy/{sid}/stop-async")
    assert stop.status_code == 202
    assert stop.json()["status"] == "pending" and stop.json()["operationId"]
    stopped = wait_for_operation(sandbox_owner, stop.json()["operationId"])
    assert stopped["status"] == "completed" and stopped["type"] == "stop"
    assert (
        stopped["progress"]["percentage"] == 100 and stopped["progress"]["current"] == stopped["progress"]["total"] == 1
    )
    assert [s["status"] for s in stopped["steps"]] == ["completed"]
    assert sandbox_owner.get(f"/flexy/{sid}").json()["status"] in ("stopped", "exited")

    start = sandbox_owner.post(f"/flexy/{sid}/start-async").json()
    started = wait_for_operation(sandbox_owner, start["operationId"])
    assert started["status"] == "completed"
    assert [s["id"] for s in started["steps"]] == ["check-image", "start"]
    assert all(s["status"] == "completed" and s["duration"] >= 0 for s in started["steps"])
    assert started["duration"] >= 0 and started["endTime"]
    assert sandbox_owner.get(f"/flexy/{sid}").json()["status"] == "running"

    restarted = wait_for_operation(
        sandbox_owner, sandbox_owner.post(f"/flexy/{sid}/restart-async").json()["operationId"]
    )
    assert restarted["status"] == "completed" and [s["id"] for s in restarted["steps"]] == [
        "stop",
        "check-image",
        "start",
    ]

    listed = sandbox_owner.get(f"/flexy/projects/{pid}/operations").json()["operations"]
    assert {o["id"] for o in listed} >= {stopped["id"], started["id"], restarted["id"]}
    assert sandbox_owner.get(f"/flexy/projects/{pid}/operations?status=failed").json() == {"operations": []}
    bad_filter = sandbox_owner.get(f"/flexy/projects/{pid}/operations?status=nonsense")
    assert bad_filter.status_code == 400

    finished = sandbox_owner.post(f"/flexy/operations/{started['id']}/cancel")
    assert finished.status_code == 400 and finished.json()["code"] == "INVALID_STATUS"

    deleted = wait_for_operation(
        sandbox_owner, sandbox_owner.request("DELETE", f"/flexy/{sid}/async").json()["operationId"]
    )
    assert deleted["status"] == "completed" and [s["id"] for s in deleted["steps"]] == ["stop", "delete"]
    assert sandbox_owner.get(f"/flexy/{sid}").status_code == 404
    assert_gone_from_backend(request, sandbox_server, sid)
    assert "sandboxId" not in sandbox_owner.get(f"/projects/{pid}").json()


def test_starting_async_a_running_sandbox_is_refused(sandbox_owner: Api, project_tree: Tree) -> None:
    sid = create_sandbox(sandbox_owner, project_tree.project["id"])["id"]
    response = sandbox_owner.post(f"/flexy/{sid}/start-async")
    assert response.status_code == 409
    assert sandbox_owner.get(f"/flexy/projects/{project_tree.project['id']}/operations").json()["operations"] == []


def test_images_list_the_configured_image(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    images = sandbox_owner.get("/flexy/images").json()
    assert images["total"] == len(images["images"]) >= 1
    assert images["defaultImageId"] == sandbox_server.settings.image_name
    default = next(i for i in images["images"] if i["isDefault"])
    assert default["name"] == sandbox_server.settings.image_name and default["available"] is True


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/flexy/nope", "CONTAINER_NOT_FOUND"),
        ("POST", "/flexy/nope/start", "CONTAINER_NOT_FOUND"),
        ("POST", "/flexy/nope/stop", "CONTAINER_NOT_FOUND"),
        ("DELETE", "/flexy/nope", "CONTAINER_NOT_FOUND"),
        ("POST", "/flexy/nope/start-async", "CONTAINER_NOT_FOUND"),
        ("POST", "/flexy/nope/stop-async", "CONTAINER_NOT_FOUND"),
        ("POST", "/flexy/nope/restart-async", "CONTAINER_NOT_FOUND"),
        ("DELETE", "/flexy/nope/async", "CONTAINER_NOT_FOUND"),
        ("GET", "/flexy/operations/nope", "OPERATION_NOT_FOUND"),
        ("POST", "/flexy/operations/nope/cancel", "OPERATION_NOT_FOUND"),
        ("GET", "/flexy/projects/nope/operations", "PROJECT_NOT_FOUND"),
    ],
)
def test_unknown_ids(sandbox_owner: Api, method: str, path: str, code: str) -> None:
    response = sandbox_owner.request(method, path)
    assert response.status_code == 404 and response.json()["code"] == code


def test_bad_create_requests(sandbox_owner: Api, project_tree: Tree) -> None:
    missing = sandbox_owner.post("/flexy", {"name": "x"})
    assert missing.status_code == 400 and missing.json()["details"]["field"] == "projectId"
    unknown = sandbox_owner.post("/flexy", {"projectId": "nope"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "PROJECT_NOT_FOUND"
    bad_config = sandbox_owner.post("/flexy", {"projectId": project_tree.project["id"], "aiConfig": {"aiWindows": "x"}})
    assert bad_config.status_code == 400
    assert "sandboxId" not in sandbox_owner.get(f"/projects/{project_tree.project['id']}").json()


def test_another_user_sees_nothing(
    sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree, make_sandbox_user: Callable[[], Api]
) -> None:
    pid = project_tree.project["id"]
    sid = create_sandbox(sandbox_owner, pid)["id"]
    operation = sandbox_owner.post(f"/flexy/{sid}/stop-async").json()["operationId"]
    wait_for_operation(sandbox_owner, operation)
    other = make_sandbox_user()
    assert all(s["id"] != sid for s in other.get("/flexy").json())
    for method, path in [
        ("GET", f"/flexy/{sid}"),
        ("POST", f"/flexy/{sid}/start"),
        ("DELETE", f"/flexy/{sid}"),
        ("POST", f"/flexy/{sid}/start-async"),
        ("DELETE", f"/flexy/{sid}/async"),
        ("GET", f"/flexy/operations/{operation}"),
        ("POST", f"/flexy/operations/{operation}/cancel"),
        ("GET", f"/flexy/projects/{pid}/operations"),
    ]:
        assert other.request(method, path).status_code == 404, (method, path)
    assert other.post("/flexy", {"projectId": pid}).status_code == 404
    assert sandbox_owner.get(f"/flexy/{sid}").json()["status"] in ("stopped", "exited")


@pytest.mark.parametrize("level", ["project", "workspace", "organization"])
def test_deleting_the_tree_removes_its_sandboxes(
    request: pytest.FixtureRequest, sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree, level: str
) -> None:
    sid = create_sandbox(sandbox_owner, project_tree.project["id"])["id"]
    target = {
        "project": f"/projects/{project_tree.project['id']}",
        "workspace": f"/workspaces/{project_tree.workspace['id']}",
        "organization": f"/organizations/{project_tree.org['id']}",
    }[level]
    assert sandbox_owner.delete(target).status_code == 204
    assert all(s["id"] != sid for s in sandbox_owner.get("/flexy").json())
    assert sandbox_owner.get(f"/flexy/{sid}").status_code == 404
    assert_gone_from_backend(request, sandbox_server, sid)
