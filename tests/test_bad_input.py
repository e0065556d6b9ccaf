"""Bad input gets a clear 4xx in the contract's error body, names the problem, and changes nothing."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import Api, LiveServer, Tree, unique

ERROR_KEYS = {"error", "message", "code", "statusCode", "timestamp", "path"}


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.keys() >= ERROR_KEYS, body
    assert body["code"] == code and body["statusCode"] == status
    assert body["error"] == body["message"] and body["message"]
    if field is not None:
        assert body["details"]["field"] == field, body
        assert field.split(".")[0] in body["message"]
    return body


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"folderPath": "x"}, "MISSING_REQUIRED_FIELD", "name"),
        ({"name": "X"}, "MISSING_REQUIRED_FIELD", "folderPath"),
        ({"name": 5, "folderPath": "x"}, "VALIDATION_ERROR", "name"),
        ({"name": "  ", "folderPath": "x"}, "VALIDATION_ERROR", "name"),
        ({"name": "X", "folderPath": ["x"]}, "VALIDATION_ERROR", "folderPath"),
        ({"name": "X", "folderPath": ".."}, "VALIDATION_ERROR", "folderPath"),
        ({"name": "X", "folderPath": "."}, "VALIDATION_ERROR", "folderPath"),
        ({"name": "X", "folderPath": "a/b"}, "VALIDATION_ERROR", "folderPath"),
        ({"name": "X", "folderPath": "../escape"}, "VALIDATION_ERROR", "folderPath"),
        ({"name": "X", "folderPath": "/etc"}, "VALIDATION_ERROR", "folderPath"),
        ({"name": "X", "folderPath": "a\\b"}, "VALIDATION_ERROR", "folderPath"),
        ({"name": "X", "folderPath": "nul\x00byte"}, "VALIDATION_ERROR", "folderPath"),
        ({"name": "X", "folderPath": " padded "}, "VALIDATION_ERROR", "folderPath"),
        ({"name": "X" * 201, "folderPath": "x"}, "VALIDATION_ERROR", "name"),
    ],
)
def test_create_organization_rejects(
    server: LiveServer, module_user: Api, body: dict[str, Any], code: str, field: str
) -> None:
    before = sorted(p.name for p in server.settings.base_root.iterdir())
    organizations = module_user.get("/organizations").json()
    assert_error(module_user.post("/organizations", body), 400, code, field)
    assert module_user.get("/organizations").json() == organizations
    assert sorted(p.name for p in server.settings.base_root.iterdir()) == before


def test_body_must_be_a_json_object(alice: Api) -> None:
    headers = {"content-type": "application/json"}
    assert_error(alice.post("/organizations", content=b"{broken", headers=headers), 400, "VALIDATION_ERROR")
    assert_error(alice.post("/organizations", content=b"[1, 2]", headers=headers), 400, "VALIDATION_ERROR")
    assert_error(alice.post("/organizations", content=b"\xff\xfe", headers=headers), 400, "VALIDATION_ERROR")


def test_symlink_escaping_its_parent_is_refused(server: LiveServer, alice: Api, tmp_path: Any) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link_name = unique("link")
    os.symlink(outside, server.settings.base_root / link_name)
    assert_error(
        alice.post("/organizations", {"name": "L", "folderPath": link_name}), 400, "VALIDATION_ERROR", "folderPath"
    )
    assert alice.get("/organizations").json() == []


def test_symlink_inside_a_workspace_is_refused(server: LiveServer, alice: Api, tree: Tree, tmp_path: Any) -> None:
    ws_dir = server.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"]
    os.symlink(tmp_path, ws_dir / "sneaky")
    response = alice.post(f"/workspaces/{tree.workspace['id']}/projects", {"name": "S", "folderPath": "sneaky"})
    assert_error(response, 400, "VALIDATION_ERROR", "folderPath")
    rename = alice.put(f"/projects/{tree.project['id']}", {"folderPath": "sneaky"})
    assert_error(rename, 400, "VALIDATION_ERROR", "folderPath")
    assert alice.get(f"/projects/{tree.project['id']}").json()["folderPath"] == tree.project["folderPath"]


def test_duplicates_conflict(server: LiveServer, alice: Api, tree: Tree) -> None:
    again = alice.post("/organizations", {"name": "Other", "folderPath": tree.org["folderPath"]})
    assert_error(again, 409, "ALREADY_EXISTS")
    ws_path = f"/organizations/{tree.org['id']}/workspaces"
    assert_error(
        alice.post(ws_path, {"name": tree.workspace["name"], "folderPath": unique("w")}), 409, "ALREADY_EXISTS"
    )
    assert_error(
        alice.post(ws_path, {"name": unique("W"), "folderPath": tree.workspace["folderPath"]}), 409, "ALREADY_EXISTS"
    )
    projects = f"/workspaces/{tree.workspace['id']}/projects"
    assert_error(alice.post(projects, {"name": tree.project["name"], "folderPath": unique("p")}), 409, "ALREADY_EXISTS")
    assert len(alice.get(projects).json()) == 1
    assert len(alice.get(ws_path).json()) == 1


def test_rename_onto_an_existing_folder_conflicts(server: LiveServer, alice: Api, tree: Tree) -> None:
    ws_dir = server.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"]
    (ws_dir / "taken").mkdir()
    response = alice.put(f"/projects/{tree.project['id']}", {"name": "New name", "folderPath": "taken"})
    assert_error(response, 409, "CONFLICT")
    after = alice.get(f"/projects/{tree.project['id']}").json()
    assert after["folderPath"] == tree.project["folderPath"] and after["name"] == tree.project["name"]
    assert (ws_dir / tree.project["folderPath"]).is_dir()


@pytest.mark.parametrize(
    ("method", "path_template", "code"),
    [
        ("GET", "/organizations/{id}", "ORGANIZATION_NOT_FOUND"),
        ("PUT", "/organizations/{id}", "ORGANIZATION_NOT_FOUND"),
        ("DELETE", "/organizations/{id}", "ORGANIZATION_NOT_FOUND"),
        ("GET", "/organizations/{id}/workspaces", "ORGANIZATION_NOT_FOUND"),
        ("POST", "/organizations/{id}/workspaces", "ORGANIZATION_NOT_FOUND"),
        ("GET", "/workspaces/{id}", "WORKSPACE_NOT_FOUND"),
        ("PUT", "/workspaces/{id}", "WORKSPACE_NOT_FOUND"),
        ("DELETE", "/workspaces/{id}", "WORKSPACE_NOT_FOUND"),
        ("GET", "/workspaces/{id}/projects", "WORKSPACE_NOT_FOUND"),
        ("POST", "/workspaces/{id}/projects", "WORKSPACE_NOT_FOUND"),
        ("GET", "/projects/{id}", "PROJECT_NOT_FOUND"),
        ("PUT", "/projects/{id}", "PROJECT_NOT_FOUND"),
        ("DELETE", "/projects/{id}", "PROJECT_NOT_FOUND"),
        ("POST", "/projects/{id}/move", "PROJECT_NOT_FOUND"),
        ("GET", "/projects/{id}/workflow", "PROJECT_NOT_FOUND"),
        ("PUT", "/projects/{id}/workflow", "PROJECT_NOT_FOUND"),
        ("PUT", "/projects/{id}/workflow/step/s1", "PROJECT_NOT_FOUND"),
        ("GET", "/folders/workspaces/{id}", "ORGANIZATION_NOT_FOUND"),
        ("GET", "/folders/projects/{id}", "WORKSPACE_NOT_FOUND"),
    ],
)
def test_unknown_ids_are_404(module_user: Api, method: str, path_template: str, code: str) -> None:
    body = {"name": "X", "folderPath": "x", "newWorkspaceId": "x", "currentPhaseId": "p", "status": "pending"}
    response = module_user.request(method, path_template.format(id="no-such-id"), json=body)
    assert_error(response, 404, code)


def test_move_to_unknown_workspace(alice: Api, tree: Tree) -> None:
    response = alice.post(f"/projects/{tree.project['id']}/move", {"newWorkspaceId": "nope"})
    assert_error(response, 404, "WORKSPACE_NOT_FOUND")
    assert_error(
        alice.post(f"/projects/{tree.project['id']}/move", {}), 400, "MISSING_REQUIRED_FIELD", "newWorkspaceId"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"aiConfig": "nope"}, "aiConfig"),
        ({"aiConfig": {"aiWindows": [{"type": "gpt-9"}]}}, "aiConfig.aiWindows[0].type"),
        ({"aiConfig": {"aiWindows": [{}] * 6}}, "aiConfig.aiWindows"),
        (
            {"aiConfig": {"portMappings": [{"hostPort": 70000, "containerPort": 80}]}},
            "aiConfig.portMappings[0].hostPort",
        ),
        (
            {"aiConfig": {"environmentVariables": [{"name": "1BAD", "value": ""}]}},
            "aiConfig.environmentVariables[0].name",
        ),
        (
            {"aiConfig": {"folderMappings": [{"hostPath": "/x", "containerPath": "rel"}]}},
            "aiConfig.folderMappings[0].containerPath",
        ),
        ({"aiConfig": {"enableDockerOutofDocker": "yes"}}, "aiConfig.enableDockerOutofDocker"),
        ({"workflowState": {"currentPhaseId": "p", "stepStatuses": {"s": "done"}}}, "workflowState.stepStatuses.s"),
        ({"workflowState": {"stepStatuses": {}}}, "workflowState.currentPhaseId"),
        ({"sandboxId": 12}, "sandboxId"),
        ({"name": ""}, "name"),
    ],
)
def test_update_project_rejects(module_user: Api, module_tree: Tree, body: dict[str, Any], field: str) -> None:
    project = module_tree.project
    response = module_user.put(f"/projects/{project['id']}", body)
    assert response.status_code == 400, response.text
    assert response.json()["details"]["field"] == field
    assert module_user.get(f"/projects/{project['id']}").json() == project


def test_workflow_state_rejects(alice: Api, tree: Tree) -> None:
    pid = tree.project["id"]
    assert_error(alice.put(f"/projects/{pid}/workflow", {}), 400, "MISSING_REQUIRED_FIELD", "currentPhaseId")
    assert_error(
        alice.put(f"/projects/{pid}/workflow", {"currentPhaseId": "p", "stepStatuses": []}),
        400,
        "VALIDATION_ERROR",
        "stepStatuses",
    )
    assert_error(alice.put(f"/projects/{pid}/workflow/step/s1", {}), 400, "MISSING_REQUIRED_FIELD", "status")
    assert_error(alice.put(f"/projects/{pid}/workflow/step/s1", {"status": "done"}), 400, "INVALID_VALUE", "status")
    assert alice.get(f"/projects/{pid}/workflow").json()["stepStatuses"] == {}


def test_settings_reject_bad_values(alice: Api) -> None:
    assert_error(alice.put("/settings", {"gitEmail": "not-an-email"}), 400, "VALIDATION_ERROR", "gitEmail")
    assert_error(alice.put("/settings", {"dockerImage": "Bad Image!"}), 400, "VALIDATION_ERROR", "dockerImage")
    assert_error(alice.put("/settings", {"gitDisplayName": 42}), 400, "VALIDATION_ERROR", "gitDisplayName")
    assert "gitEmail" not in alice.get("/settings").json()  # unset fields are absent, never null


def test_unknown_route_and_wrong_method(alice: Api) -> None:
    assert_error(alice.get("/no/such/thing"), 404, "NOT_FOUND")
    response = alice.patch("/organizations", {})
    assert response.status_code == 405 and response.json()["statusCode"] == 405
