"""Folder listings (operations 64-67) and the health check (68)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import Api, LiveServer, Tree


def test_organization_folders_list_real_folders_only(
    server: LiveServer, alice: Api, tree: Tree, tmp_path: Path
) -> None:
    root = server.settings.base_root
    (root / "adoptable").mkdir(exist_ok=True)
    (root / ".hidden").mkdir(exist_ok=True)
    (root / "a-file.txt").write_text("x")
    if not (root / "linked").exists():
        os.symlink(tmp_path, root / "linked")
    response = alice.get("/folders/organizations")
    assert response.status_code == 200
    folders = response.json()["folders"]
    assert "adoptable" in folders and tree.org["folderPath"] in folders
    assert ".hidden" not in folders and "a-file.txt" not in folders and "linked" not in folders
    assert folders == sorted(folders)


def test_workspace_and_project_folders(server: LiveServer, alice: Api, tree: Tree) -> None:
    org_dir = server.settings.base_root / tree.org["folderPath"]
    (org_dir / "existing-ws").mkdir()
    assert alice.get(f"/folders/workspaces/{tree.org['id']}").json() == {
        "folders": sorted(["existing-ws", tree.workspace["folderPath"]])
    }
    (org_dir / tree.workspace["folderPath"] / "existing-project").mkdir()
    assert alice.get(f"/folders/projects/{tree.workspace['id']}").json() == {
        "folders": sorted(["existing-project", tree.project["folderPath"]])
    }


def test_existing_folder_is_adopted_with_its_content(server: LiveServer, alice: Api, tree: Tree) -> None:
    ws_dir = server.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"]
    (ws_dir / "legacy").mkdir()
    (ws_dir / "legacy" / "README.md").write_text("old work")
    project = alice.create(f"/workspaces/{tree.workspace['id']}/projects", {"name": "Legacy", "folderPath": "legacy"})
    assert project["folderPath"] == "legacy"
    assert (ws_dir / "legacy" / "README.md").read_text() == "old work"


def test_host_directories_stay_inside_the_browse_root(server: LiveServer, alice: Api) -> None:
    root = server.settings.host_browse_root
    (root / "browse-me" / "child").mkdir(parents=True, exist_ok=True)
    home = alice.post("/host/directories", {})
    assert home.status_code == 200
    assert home.json()["currentPath"] == str(root) and "browse-me" in home.json()["directories"]
    inside = alice.post("/host/directories", {"currentPath": str(root / "browse-me")})
    assert inside.json() == {"currentPath": str(root / "browse-me"), "directories": ["child"]}
    for escape in ("/etc", str(root / ".." / ".."), "../"):
        response = alice.post("/host/directories", {"currentPath": escape})
        assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN", escape
    missing = alice.post("/host/directories", {"currentPath": str(root / "nope")})
    assert missing.status_code == 404
    assert alice.post("/host/directories", {"currentPath": 7}).status_code == 400
    assert Api(server.api_url).post("/host/directories", {}).status_code == 401
