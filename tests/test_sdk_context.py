"""End to end: the published SDK's context methods against the live server (tests/sdk/context.mjs)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.conftest import Api, LiveServer
from tests.test_sdk_tree import SDK_DIR, node_binary, run_script


def test_sdk_context_methods(server: LiveServer, make_user: Callable[..., Api]) -> None:
    user = make_user()
    result = run_script(
        node_binary(),
        server,
        user,
        uuid.uuid4().hex[:10],
        SDK_DIR / "context.mjs",
        BASE_ROOT=str(server.settings.base_root),
    )
    assert result["search"]["count"] == 2 and result["search"]["results"][0]["score"] > 0
    assert result["again"]["metadata"]["tags"] == ["db"], "the second upsert updated the first"
    inherited = {m["id"] for m in result["inherited"]["memories"]}
    assert result["workspaceMemoryId"] in inherited and len(inherited) == 4
    assert [m["id"] for m in result["own"]["memories"]] == [result["upsertedId"]]
    assert result["similar"]["count"] == 2 and result["upsertedId"] not in {
        m["id"] for m in result["similar"]["results"]
    }
    assert result["stats"]["total"] == 3 and result["stats"]["by_type"] == {"architecture": 2, "knowledge": 1}
    assert result["overall"]["total"] == 4
    assert result["info"]["enabled"] is True and result["info"]["features"]["file_sync"] is True
    assert result["imported"]["chunks_created"] == 2
    assert result["firstSync"]["total_changes"] == {"modified": 0, "new": 1, "deleted": 0}
    assert result["secondSync"]["total_changes"]["modified"] == 1 and result["secondSync"]["memories_updated"] == 2
    (tracked,) = result["tracked"]["files"]
    assert tracked["file_path"].endswith("/w/p/specs/api.md") and len(tracked["memory_ids"]) == 2
    assert result["syncStats"]["total_tracked_files"] == 1
    assert result["cacheId"] not in {m["id"] for m in result["afterDelete"]["results"]}
    # what the SDK did is visible over plain REST too
    listed = user.get("/context/memories", params={"scope": "project", "scope_id": result["projectId"]}).json()
    assert listed["count"] == 6
