"""Organizations, workspaces and projects over REST (operations 1-21): statuses, shapes, folders."""

from __future__ import annotations

import re
from pathlib import Path

from resolvers.workflows import TEMPLATE_ID
from tests.conftest import Api, LiveServer, Tree, make_tree, unique

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ORG_KEYS = {"id", "name", "folderPath", "createdById", "createdAt", "updatedAt"}
WORKSPACE_KEYS = {"id", "organizationId", "name", "folderPath", "createdAt", "updatedAt"}
PROJECT_KEYS = {
    "id",
    "workspaceId",
    "name",
    "folderPath",
    "sandboxId",
    "sandboxName",
    "workflowId",
    "workflowVersionId",
    "workflowState",
    "aiConfig",
    "createdAt",
    "updatedAt",
}


def folder(server: LiveServer, *parts: str) -> Path:
    return server.settings.base_root.joinpath(*parts)


def test_organization_lifecycle(server: LiveServer, alice: Api) -> None:
    name, path = unique("Org"), unique("org")
    created = alice.create("/organizations", {"name": name, "folderPath": path, "unknownField": 1})
    assert created.keys() == ORG_KEYS
    assert created["name"] == name and created["folderPath"] == path and created["createdById"] == alice.user_id
    assert ISO.match(created["createdAt"]) and ISO.match(created["updatedAt"])
    assert folder(server, path).is_dir()

    listed = alice.get("/organizations")
    assert listed.status_code == 200 and created in listed.json()
    assert alice.get(f"/organizations/{created['id']}").json() == created

    renamed_path = unique("org")
    updated = alice.put(f"/organizations/{created['id']}", {"name": "Renamed", "folderPath": renamed_path})
    assert updated.status_code == 200
    assert updated.json()["name"] == "Renamed" and updated.json()["folderPath"] == renamed_path
    assert folder(server, renamed_path).is_dir() and not folder(server, path).exists()

    only_name = alice.put(f"/organizations/{created['id']}", {"name": "Again"})
    assert only_name.json()["folderPath"] == renamed_path and only_name.json()["name"] == "Again"

    deleted = alice.delete(f"/organizations/{created['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert alice.get(f"/organizations/{created['id']}").status_code == 404
    assert folder(server, renamed_path).is_dir(), "deleting an organization keeps its folder"


def test_workspace_lifecycle(server: LiveServer, alice: Api) -> None:
    org = alice.create("/organizations", {"name": unique("Org"), "folderPath": unique("org")})
    path = unique("ws")
    workspace = alice.create(f"/organizations/{org['id']}/workspaces", {"name": "Main", "folderPath": path})
    assert workspace.keys() == WORKSPACE_KEYS and workspace["organizationId"] == org["id"]
    assert folder(server, org["folderPath"], path).is_dir()

    assert alice.get(f"/organizations/{org['id']}/workspaces").json() == [workspace]
    assert workspace in alice.get("/workspaces").json()
    assert alice.get(f"/workspaces/{workspace['id']}").json() == workspace

    new_path = unique("ws")
    updated = alice.put(f"/workspaces/{workspace['id']}", {"folderPath": new_path}).json()
    assert updated["folderPath"] == new_path and updated["name"] == "Main"
    assert folder(server, org["folderPath"], new_path).is_dir()
    assert not folder(server, org["folderPath"], path).exists()

    project = alice.create(f"/workspaces/{workspace['id']}/projects", {"name": "P", "folderPath": "p"})
    assert alice.delete(f"/workspaces/{workspace['id']}").status_code == 204
    assert alice.get(f"/workspaces/{workspace['id']}").status_code == 404
    assert alice.get(f"/projects/{project['id']}").status_code == 404, "its projects go with it"
    assert folder(server, org["folderPath"], new_path, "p").is_dir(), "folders stay on disk"


def test_project_lifecycle(server: LiveServer, alice: Api) -> None:
    tree = make_tree(alice)
    org_path, ws_path = tree.org["folderPath"], tree.workspace["folderPath"]
    ai_config = {
        "aiWindows": [{"type": "claude", "apiKey": "k", "model": "m", "baseUrl": ""}],
        "enableDockerOutofDocker": False,
        "portMappings": [{"hostPort": 8080, "containerPort": 80}],
        "environmentVariables": [{"name": "FOO", "value": "bar"}],
    }
    project = alice.create(
        f"/workspaces/{tree.workspace['id']}/projects",
        {"name": "Site", "folderPath": "site", "workflowId": TEMPLATE_ID, "aiConfig": ai_config},
    )
    assert project.keys() == PROJECT_KEYS - {"sandboxId", "sandboxName", "workflowState"}  # none yet: absent
    assert project["workspaceId"] == tree.workspace["id"] and project["workflowId"] == TEMPLATE_ID
    assert project["aiConfig"]["aiWindows"][0]["type"] == "claude"
    assert project["aiConfig"]["portMappings"] == [{"hostPort": 8080, "containerPort": 80}]
    assert "workflowState" not in project and "sandboxId" not in project
    assert folder(server, org_path, ws_path, "site").is_dir()

    assert project in alice.get(f"/workspaces/{tree.workspace['id']}/projects").json()
    assert project in alice.get("/projects").json()
    assert alice.get(f"/projects/{project['id']}").json() == project

    updated = alice.put(
        f"/projects/{project['id']}",
        {"name": "Site 2", "folderPath": "site-2", "sandboxId": "abc123", "sandboxName": "flexy-abc"},
    ).json()
    assert updated["name"] == "Site 2" and updated["sandboxId"] == "abc123" and updated["sandboxName"] == "flexy-abc"
    assert updated["workflowId"] == TEMPLATE_ID, "fields not sent stay"
    assert folder(server, org_path, ws_path, "site-2").is_dir()
    assert not folder(server, org_path, ws_path, "site").exists()

    unbound = alice.put(f"/projects/{project['id']}", {"workflowId": None}).json()
    assert unbound["workflowId"] is None and unbound["workflowVersionId"] is None

    kept = alice.delete(f"/projects/{project['id']}")
    assert kept.status_code == 204
    assert folder(server, org_path, ws_path, "site-2").is_dir(), "deleteFolder defaults to false"
    assert alice.get(f"/projects/{project['id']}").status_code == 404

    doomed = alice.create(f"/workspaces/{tree.workspace['id']}/projects", {"name": "Doomed", "folderPath": "doomed"})
    (folder(server, org_path, ws_path, "doomed") / "file.txt").write_text("x")
    assert alice.delete(f"/projects/{doomed['id']}?deleteFolder=true").status_code == 204
    assert not folder(server, org_path, ws_path, "doomed").exists()


def test_move_project_moves_its_folder(server: LiveServer, alice: Api, tree: Tree) -> None:
    target = alice.create(
        f"/organizations/{tree.org['id']}/workspaces", {"name": unique("W"), "folderPath": unique("w")}
    )
    source_dir = folder(server, tree.org["folderPath"], tree.workspace["folderPath"], tree.project["folderPath"])
    (source_dir / "keep.txt").write_text("content")
    moved = alice.post(f"/projects/{tree.project['id']}/move", {"newWorkspaceId": target["id"]})
    assert moved.status_code == 200 and moved.json()["workspaceId"] == target["id"]
    target_dir = folder(server, tree.org["folderPath"], target["folderPath"], tree.project["folderPath"])
    assert (target_dir / "keep.txt").read_text() == "content" and not source_dir.exists()

    back = alice.post(f"/projects/{tree.project['id']}/move", {"targetWorkspaceId": tree.workspace["id"]})
    assert back.status_code == 200 and back.json()["workspaceId"] == tree.workspace["id"]
    assert (source_dir / "keep.txt").exists()


def test_move_conflicts_when_target_has_that_folder(server: LiveServer, alice: Api, tree: Tree) -> None:
    target = alice.create(
        f"/organizations/{tree.org['id']}/workspaces", {"name": unique("W"), "folderPath": unique("w")}
    )
    alice.create(
        f"/workspaces/{target['id']}/projects", {"name": unique("Other"), "folderPath": tree.project["folderPath"]}
    )
    response = alice.post(f"/projects/{tree.project['id']}/move", {"newWorkspaceId": target["id"]})
    assert response.status_code == 409
    assert alice.get(f"/projects/{tree.project['id']}").json()["workspaceId"] == tree.workspace["id"]


def test_workflow_state_default_update_and_step(alice: Api, tree: Tree) -> None:
    pid = tree.project["id"]
    default = alice.get(f"/projects/{pid}/workflow")
    assert default.status_code == 200
    assert default.json() == {
        "currentPhaseId": "rapid-prototyping",
        "currentStepId": None,
        "stepStatuses": {},
        "lastUpdated": None,
    }
    put = alice.put(
        f"/projects/{pid}/workflow",
        {"currentPhaseId": "automated-qa", "currentStepId": "qa-version", "stepStatuses": {"trigger": "completed"}},
    )
    assert put.status_code == 200
    state = put.json()["workflowState"]
    assert put.json()["id"] == pid
    assert state["currentPhaseId"] == "automated-qa" and state["currentStepId"] == "qa-version"
    assert state["stepStatuses"] == {"trigger": "completed"} and ISO.match(state["lastUpdated"])

    step = alice.put(f"/projects/{pid}/workflow/step/qa-version", {"status": "in-progress"})
    assert step.status_code == 200
    assert step.json()["stepStatuses"] == {"trigger": "completed", "qa-version": "in-progress"}
    patched = alice.patch(f"/projects/{pid}/workflow/step/trigger", {"status": "pending"})
    assert patched.status_code == 200 and patched.json()["stepStatuses"]["trigger"] == "pending"
    assert alice.get(f"/projects/{pid}/workflow").json() == patched.json()
    assert alice.get(f"/projects/{pid}").json()["workflowState"] == patched.json()


def test_hierarchy_and_project_path(alice: Api, tree: Tree) -> None:
    hierarchy = alice.get(f"/organizations/{tree.org['id']}/hierarchy").json()
    assert hierarchy["organization"]["id"] == tree.org["id"]
    assert [w["workspace"]["id"] for w in hierarchy["workspaces"]] == [tree.workspace["id"]]
    assert [p["id"] for p in hierarchy["workspaces"][0]["projects"]] == [tree.project["id"]]
    path = alice.get(f"/projects/{tree.project['id']}/path").json()
    assert (path["organization"]["id"], path["workspace"]["id"], path["project"]["id"]) == (
        tree.org["id"],
        tree.workspace["id"],
        tree.project["id"],
    )


def test_settings_read_and_write(alice: Api) -> None:
    initial = alice.get("/settings")
    assert initial.status_code == 200
    body = initial.json()
    assert body["userId"] == alice.user_id and body["preferences"]["theme"] == "light"
    assert "gitDisplayName" not in body and "dockerImage" not in body
    update = {"gitDisplayName": "Alice", "gitEmail": "alice@example.com", "dockerImage": "ainkai/flexy:latest"}
    written = alice.put("/settings", update)
    assert written.status_code == 200
    assert {k: written.json()[k] for k in update} == update and ISO.match(written.json()["updatedAt"])
    assert {k: alice.get("/settings").json()[k] for k in update} == update
    cleared = alice.put("/settings", {"gitDisplayName": None}).json()
    assert "gitDisplayName" not in cleared and cleared["gitEmail"] == "alice@example.com"
