"""The REST layer answers at `/` exactly as under `/api` (DESIGN.md decision 2), progress WebSocket included."""

from __future__ import annotations

import csv
import json
import re
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from resolvers.workflows import TEMPLATE_ID
from tests.conftest import Api, LiveServer, Tree
from tests.test_operations import OPERATIONS_FILE

VOLATILE = ("timestamp", "uptime", "freeBytes", "heartbeatAt", "leaseExpiresAt")
"""Fields that differ between two calls a moment apart (the disk's free space changes with any write on the
machine; a replica renews its lease every few seconds)."""


def steady(body: Any) -> Any:
    if isinstance(body, dict):
        return {key: steady(value) for key, value in body.items() if key not in VOLATILE}
    if isinstance(body, list):
        return [steady(item) for item in body]
    return body


@pytest.fixture(scope="module")
def seeded(module_user: Api, module_tree: Tree) -> dict[str, str]:
    """Real ids for the path parameters of the reads."""
    memory = module_user.create(
        "/context/memories", {"content": "root and api", "scope": "project", "scope_id": module_tree.project["id"]}
    )
    return {
        "organizations": module_tree.org["id"],
        "workspaces": module_tree.workspace["id"],
        "projects": module_tree.project["id"],
        "workflows": TEMPLATE_ID,
        "memories": memory["id"],
    }


def concrete(path: str, ids: dict[str, str]) -> str:
    """The operation's path with seeded ids: `{id}` after `/projects/` is a project, and so on."""
    names = {
        "organizationId": ids["organizations"],
        "workspaceId": ids["workspaces"],
        "projectId": ids["projects"],
        "workflowId": ids["workflows"],
        "scope": "project",
        "scopeId": ids["projects"],
    }
    first = path.strip("/").split("/")[0]
    names["id"] = ids.get("memories" if path.startswith("/context/memories/") else first, "missing-id")
    return re.sub(r"\{([^}]+)\}", lambda m: names.get(m.group(1), "missing-id"), path)


def reads() -> list[tuple[str, str]]:
    """Every read (GET) of the 95 operations: operationId and path."""
    with OPERATIONS_FILE.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [(row["operationId"], row["path"]) for row in rows if row["method"] == "GET"]


QUERIES = {
    "ListMemories": {"scope": "project"},
    "GetSyncStats": {"scope": "project"},
    "GetTrackedFiles": {"scope": "project"},
}


@pytest.mark.parametrize(("operation", "path"), reads(), ids=[operation for operation, _ in reads()])
def test_every_read_answers_the_same_at_the_root(
    server: LiveServer, module_user: Api, seeded: dict[str, str], operation: str, path: str
) -> None:
    target = concrete(path, seeded)
    params = {**QUERIES.get(operation, {}), **({"scope_id": seeded["projects"]} if operation in QUERIES else {})}
    under_api = module_user.get(target, params=params)
    at_root = module_user.client.get(f"{server.url}{target}", params=params, headers=module_user.headers())
    assert at_root.status_code == under_api.status_code, (operation, at_root.text, under_api.text)
    assert under_api.status_code < 500, under_api.text
    assert steady(at_root.json()) == steady(under_api.json()), operation
    if under_api.status_code >= 400:
        assert at_root.json()["path"] == under_api.json()["path"] == target  # relative to its mount


def test_writes_at_the_root_are_the_same_data(server: LiveServer, module_user: Api) -> None:
    root = Api(server.url, module_user.token)
    org = root.create("/organizations", {"name": "At the root", "folderPath": "root-mount-org"})
    assert module_user.get(f"/organizations/{org['id']}").json() == org
    assert root.delete(f"/organizations/{org['id']}").status_code == 204
    assert module_user.get(f"/organizations/{org['id']}").status_code == 404
    login = httpx.post(f"{server.url}/auth/login", json={"username": module_user.username, "password": "wrong"})
    assert login.status_code == 401 and login.json()["success"] is False and login.json()["path"] == "/auth/login"


def test_wrong_method_names_every_method_of_the_path_at_both_mounts(server: LiveServer, module_user: Api) -> None:
    for base in (server.api_url, server.url):
        response = module_user.client.request("DELETE", f"{base}/organizations", headers=module_user.headers())
        assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD, POST", response.text
        assert response.json()["path"] == "/organizations"
        # A literal path is never taken for a parameter: /flexy/images is not the sandbox "images".
        images = module_user.client.request("DELETE", f"{base}/flexy/images", headers=module_user.headers())
        assert images.status_code == 405 and images.headers["allow"] == "GET, HEAD"
    unmatched = module_user.client.get(f"{server.url}/organizations/a%0Ab", headers=module_user.headers())
    assert unmatched.status_code == 404 and unmatched.json()["code"] == "NOT_FOUND"


def test_progress_socket_at_the_root(server: LiveServer, module_user: Api, module_tree: Tree) -> None:
    ws_root = server.url.replace("http", "ws", 1)
    url = f"{ws_root}/progress/subscribe/{module_tree.project['id']}"
    with connect(f"{url}?token={module_user.token}") as socket:
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=5))["type"] == "pong"
    with connect(f"{url}?token=bad") as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
