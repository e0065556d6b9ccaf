"""Documents into memories: chunking with line ranges, folder import, sync by hash, tracked files, refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Api, LiveServer, Tree, make_tree
from tests.test_memories import search, wait_healthy

GUIDE = """# Deploying

Deployments go through the release pipeline.
A manual approval is needed for production.

## Rolling back

Roll back by redeploying the previous tag.
"""
STYLE = """# Code style

We format Python with ruff and keep lines under 120 characters.
"""


def project_folder(server: LiveServer, tree: Tree) -> Path:
    return (
        server.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"] / tree.project["folderPath"]
    )


@pytest.fixture
def ready(alice: Api) -> Api:
    wait_healthy(alice)
    return alice


def listed(api: Api, pid: str) -> list[dict]:
    body = api.get("/context/memories", params={"scope": "project", "scope_id": pid, "limit": 100}).json()
    return body["memories"]


def by_file(memories: list[dict]) -> dict[str, list[tuple[int, int, str]]]:
    files: dict[str, list[tuple[int, int, str]]] = {}
    for memory in memories:
        source = memory["metadata"]["source"]
        files.setdefault(source["file_path"], []).append((source["line_start"], source["line_end"], memory["id"]))
    return {name: sorted(ranges) for name, ranges in files.items()}


def test_folder_import_chunks_with_line_ranges_and_sync_replaces_only_the_changed_file(
    server: LiveServer, ready: Api, tree: Tree
) -> None:
    pid = tree.project["id"]
    docs = project_folder(server, tree) / "docs"
    (docs / "nested").mkdir(parents=True)
    (docs / "guide.md").write_text(GUIDE)
    (docs / "nested" / "style.md").write_text(STYLE)
    (docs / "keep.md").write_text("# Keep\n\nThis page never changes.\n")
    (docs / "notes.bin").write_bytes(b"\x00\x01binary")
    (docs / "ignored.py").write_text("print('not markdown')")

    result = ready.post(
        "/context/import/folder",
        {"folder_path": "docs", "scope": "project", "scope_id": pid, "file_extensions": [".md", "bin"], "tags": ["d"]},
    )
    assert result.status_code == 201, result.text
    body = result.json()
    assert body["files_imported"] == 3 and body["memories_created"] == 4 and body["chunks_created"] == 4
    assert len(body["errors"]) == 1 and "notes.bin" in body["errors"][0] and "binary" in body["errors"][0]

    prefix = f"{tree.org['folderPath']}/{tree.workspace['folderPath']}/{tree.project['folderPath']}/docs"
    files = by_file(listed(ready, pid))
    assert {name: [r[:2] for r in ranges] for name, ranges in files.items()} == {
        f"{prefix}/guide.md": [(1, 4), (6, 8)],
        f"{prefix}/keep.md": [(1, 3)],
        f"{prefix}/nested/style.md": [(1, 3)],
    }
    kept = files[f"{prefix}/keep.md"]
    first = listed(ready, pid)[0]["metadata"]
    assert first["source"]["type"] == "file" and len(first["source"]["file_hash"]) == 64
    assert first["memory_type"] == "documentation" and first["tags"] == ["d"]
    assert search(ready, "how do I undo a bad release", "project", pid)[0]["memory"].startswith("## Rolling back")

    unchanged = ready.post("/context/sync/folder", {"folder_path": "docs", "scope": "project", "scope_id": pid})
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["files_synced"] == 0

    (docs / "nested" / "style.md").write_text(STYLE + "\n## Imports\n\nSort imports with isort rules.\n")
    (docs / "guide.md").unlink()
    (docs / "new.md").write_text("# New\n\nA brand new page about caching.\n")
    synced = ready.post("/context/sync/folder", {"folder_path": "docs", "scope": "project", "scope_id": pid})
    assert synced.status_code == 200, synced.text
    assert synced.json() == {
        "files_synced": 3,
        "memories_updated": 2,
        "memories_created": 1,
        "memories_deleted": 2,
        "total_changes": {"modified": 1, "new": 1, "deleted": 1},
    }
    after = by_file(listed(ready, pid))
    assert set(after) == {f"{prefix}/keep.md", f"{prefix}/nested/style.md", f"{prefix}/new.md"}
    assert after[f"{prefix}/keep.md"] == kept, "an unchanged file keeps its memories, ids and all"
    assert [r[:2] for r in after[f"{prefix}/nested/style.md"]] == [(1, 3), (5, 7)]
    remaining = search(ready, "release pipeline approval", "project", pid, limit=10)
    assert len(remaining) == 4 and all("pipeline" not in r["memory"] for r in remaining)

    tracked = ready.get("/context/sync/files", params={"scope": "project", "scope_id": pid}).json()["files"]
    assert [f["file_path"] for f in tracked] == [f"{prefix}/keep.md", f"{prefix}/nested/style.md", f"{prefix}/new.md"]
    style = tracked[1]
    assert sorted(style["memory_ids"]) == sorted(r[2] for r in after[f"{prefix}/nested/style.md"])
    assert style["last_sync"] is not None
    stats = ready.get("/context/sync/stats", params={"scope": "project", "scope_id": pid}).json()
    assert stats["total_tracked_files"] == 3 and stats["files_by_scope"] == {"project": 3}


def test_document_import_and_sync_of_one_file(server: LiveServer, ready: Api, tree: Tree) -> None:
    pid = tree.project["id"]
    path = project_folder(server, tree) / "README.md"
    path.write_text(GUIDE)
    whole = ready.post(
        "/context/import/document",
        {"file_path": "README.md", "scope": "project", "scope_id": pid, "chunk_content": False, "memory_type": "doc"},
    )
    assert whole.status_code == 201, whole.text
    assert whole.json()["memories_created"] == 1 and whole.json()["chunks_created"] == 0
    again = ready.post("/context/import/document", {"file_path": str(path), "scope": "project", "scope_id": pid})
    assert again.json()["memories_created"] == 2
    assert len(listed(ready, pid)) == 2, "re-importing a file replaces its earlier memories"

    same = ready.post("/context/sync/file", {"file_path": "README.md", "scope": "project", "scope_id": pid}).json()
    assert same["files_synced"] == 0
    path.write_text(STYLE)
    changed = ready.post("/context/sync/file", {"file_path": "README.md", "scope": "project", "scope_id": pid}).json()
    assert changed["memories_updated"] == 1 and changed["total_changes"]["modified"] == 1
    assert [m["memory"] for m in listed(ready, pid)] == [STYLE.strip()]
    assert listed(ready, pid)[0]["metadata"]["memory_type"] == "documentation"
    path.unlink()
    gone = ready.post("/context/sync/file", {"file_path": "README.md", "scope": "project", "scope_id": pid}).json()
    assert gone["memories_deleted"] == 1 and listed(ready, pid) == []


def test_import_content_chunks_what_is_sent(ready: Api, tree: Tree) -> None:
    pid = tree.project["id"]
    result = ready.post(
        "/context/import/document/content",
        {"content": GUIDE, "file_path": "virtual/guide.md", "scope": "project", "scope_id": pid},
    )
    assert result.status_code == 201, result.text
    assert result.json()["chunks_created"] == 2
    sources = sorted(
        (m["metadata"]["source"]["line_start"], m["metadata"]["source"]["file_path"]) for m in listed(ready, pid)
    )
    assert sources == [(1, "virtual/guide.md"), (6, "virtual/guide.md")]


def test_paths_outside_the_organization_folder_and_bad_files_are_refused(
    server: LiveServer, ready: Api, tree: Tree, tmp_path: Path
) -> None:
    pid = tree.project["id"]
    folder = project_folder(server, tree)
    outside = tmp_path / "secret.md"
    outside.write_text("# secret\n")
    (folder / "link.md").symlink_to(outside)
    (folder / "blob.md").write_bytes(b"PNG\x00\x00\x00")
    other = make_tree(ready)
    other_file = project_folder(server, other) / "other.md"
    other_file.write_text("# other org\n")
    for path, message in [
        (str(outside), "BASE_ROOT"),
        ("../../../../etc/passwd", ".."),
        ("link.md", "BASE_ROOT"),
        (str(other_file), "organization"),
        ("blob.md", "binary"),
        ("missing.md", "not a file"),
    ]:
        response = ready.post("/context/import/document", {"file_path": path, "scope": "project", "scope_id": pid})
        assert response.status_code == 400, (path, response.text)
        assert "file_path" in response.json()["error"] and message in response.json()["error"], response.text
    folder_outside = ready.post(
        "/context/import/folder", {"folder_path": str(tmp_path), "scope": "project", "scope_id": pid}
    )
    assert folder_outside.status_code == 400 and "folder_path" in folder_outside.json()["error"]
    empty = ready.post("/context/import/document/content", {"content": "", "scope": "project", "scope_id": pid})
    assert empty.status_code == 400 and "content" in empty.json()["error"]
    assert listed(ready, pid) == []
    assert ready.get("/context/sync/files", params={"scope": "project", "scope_id": pid}).json() == {"files": []}
    os.unlink(folder / "link.md")


def test_sync_hierarchy_refreshes_names_after_a_rename(ready: Api, tree: Tree, make_user) -> None:
    pid = tree.project["id"]
    memory = ready.create("/context/memories", {"content": "naming", "scope": "project", "scope_id": pid})
    assert memory["metadata"]["hierarchy"]["project_name"] == tree.project["name"]
    assert ready.put(f"/projects/{pid}", {"name": "Renamed project"}).status_code == 200
    result = ready.post("/context/sync/hierarchy")
    assert result.status_code == 200 and result.json()["success"] is True
    assert result.json()["memories_updated"] >= 1
    refreshed = ready.get(f"/context/memories/{memory['id']}").json()
    assert refreshed["metadata"]["hierarchy"]["project_name"] == "Renamed project"
    stranger = make_user()
    assert stranger.post("/context/sync/hierarchy").json()["memories_updated"] == 0
    assert stranger.get("/context/sync/files", params={"scope": "project", "scope_id": pid}).status_code == 404
