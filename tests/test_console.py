"""The AInTandem console's calls (contract §6) and a built console served by this server (`CONSOLE_DIR`).

One server of this module's own serves a stand-in console the test writes (an `index.html` and an asset,
never the real console), with local sandboxes whose bash tasks run `sh` and whose qwen tasks `echo`. The console's own calls are checked over
HTTP as it makes them (`/api/...`, with its bodies) and through the published SDK with `baseURL` set to the
origin, as the console builds it (`tests/sdk/console.mjs`).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import create_app
from store.config import Settings
from tests.conftest import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    TASK_ENV,
    Api,
    LiveServer,
    Tree,
    add_user,
    login_as,
    make_tree,
    start_server,
)
from tests.test_sdk_tree import SDK_DIR, node_binary, run_script

INDEX = "<!doctype html><html><head><script src='/runtime-config.js'></script></head><body>stand-in</body></html>"
ASSET = "console.log('stand-in console');\n"
PUBLIC_URL = "https://console.example:9900"
PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
"""What a browser sends for a page load."""


@pytest.fixture(scope="module")
def console_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("console")
    (folder / "index.html").write_text(INDEX)
    (folder / "assets").mkdir()
    (folder / "assets" / "index-4f2a.js").write_text(ASSET)
    (folder / "assets" / "outside").symlink_to("/etc/hostname")
    return folder


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory, console_dir: Path) -> LiveServer:
    live = start_server(
        tmp_path_factory.mktemp("console-server"),
        CONSOLE_DIR=str(console_dir),
        PUBLIC_URL=f"{PUBLIC_URL}/",
        SANDBOX_BACKEND="local",
        TASK_COMMAND_QWEN="echo {prompt}",  # workflow steps run qwen: here it says what it was asked
        **TASK_ENV,
    )
    yield live
    live.stop()


@pytest.fixture(scope="module")
def owner(console_server: LiveServer) -> Api:
    return add_user(console_server, login_as(console_server, ADMIN_USERNAME, ADMIN_PASSWORD))


@pytest.fixture(scope="module")
def project(owner: Api) -> Tree:
    tree = make_tree(owner)
    owner.create("/flexy", {"projectId": tree.project["id"]})
    return tree


def wait_for(api: Api, project_id: str, task_id: str) -> dict[str, Any]:
    for _ in range(600):
        task = api.get(f"/projects/{project_id}/tasks/{task_id}").json()
        if task["status"] in ("completed", "failed", "cancelled"):
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never finished")


# --- the built console ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/workflows", "/settings", "/context", "/sandbox/abc", "/project/p/workflow"])
def test_page_loads_get_the_console(console_server: LiveServer, path: str) -> None:
    response = httpx.get(f"{console_server.url}{path}", headers=PAGE)
    assert response.status_code == 200 and response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store" and response.headers["vary"] == "Accept"


def test_files_are_files_and_the_rest_is_the_api(console_server: LiveServer, owner: Api) -> None:
    base = console_server.url
    asset = httpx.get(f"{base}/assets/index-4f2a.js", headers=PAGE)
    assert asset.status_code == 200 and asset.text == ASSET
    config = httpx.get(f"{base}/runtime-config.js")
    assert config.text == f'window.__KAI_CONFIG__ = {{\n  apiBaseUrl: "{PUBLIC_URL}"\n}};\n'
    assert config.headers["cache-control"] == "no-store"
    # The same paths, asked for as the SDK asks (no text/html): JSON, marked as varying with Accept.
    workflows = httpx.get(f"{base}/workflows", headers=owner.headers())
    assert workflows.status_code == 200 and isinstance(workflows.json(), list)
    assert workflows.headers["vary"] == "Accept"
    assert httpx.get(f"{base}/settings", headers=owner.headers()).json()["userId"] == owner.user_id
    # Writes are never pages, whatever they accept; nor is anything under /api.
    created = httpx.post(
        f"{base}/organizations", json={"name": "c", "folderPath": "c"}, headers={**PAGE, **owner.headers()}
    )
    assert created.status_code == 201 and created.json()["folderPath"] == "c"
    assert httpx.get(f"{base}/api/workflows", headers={**PAGE, **owner.headers()}).json()[0]["isTemplate"] is True
    # What the console opens in frames is this server's, never a console page.
    for framed in ("/flexy/some-sandbox/shell", "/code-server/?folder=/base-root"):
        assert httpx.get(f"{base}{framed}", headers=PAGE).text != INDEX
    # A link leading out of the console's folder is no file of it.
    assert httpx.get(f"{base}/assets/outside").json()["code"] == "NOT_FOUND"
    assert httpx.get(f"{base}/assets/outside", headers=PAGE).text == INDEX


def test_console_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"index\.html"):
        create_app(Settings.from_env({"DATA_DIR": str(tmp_path), "CONSOLE_DIR": str(tmp_path)}))
    for bad in ("console.example", "https://host/api"):
        with pytest.raises(SystemExit, match="PUBLIC_URL"):
            Settings.from_env({"PUBLIC_URL": bad})
    assert Settings.from_env({"PUBLIC_URL": "http://host:9900/"}).public_url == "http://host:9900"


# --- the console's calls -------------------------------------------------------------------------------


def test_task_list_is_a_bare_array_with_its_total_in_a_header(owner: Api, project: Tree) -> None:
    pid = project.project["id"]
    ids = [
        owner.create(f"/projects/{pid}/tasks/adhoc", {"title": f"t{i}", "prompt": "true", "taskType": "bash"})["taskId"]
        for i in range(3)
    ]
    for task_id in ids:
        wait_for(owner, pid, task_id)
    page = owner.get(f"/projects/{pid}/tasks", params={"limit": 2})
    assert [task["id"] for task in page.json()] == ids[::-1][:2]
    assert page.headers["x-total-count"] == "3" and page.headers["access-control-expose-headers"] == "X-Total-Count"


def test_workflow_execute_and_rerun(owner: Api, project: Tree) -> None:
    pid = project.project["id"]
    # The console runs a step through /api/projects/{pid}/workflow/execute {stepId, additionalInput}.
    queued = owner.post(f"/projects/{pid}/workflow/execute", {"stepId": "design", "additionalInput": "echo extra"})
    assert queued.status_code == 201, queued.text
    assert queued.json()["stepId"] == "design" and queued.json()["message"]
    step_task = wait_for(owner, pid, queued.json()["taskId"])
    assert (step_task["stepId"], step_task["isAdhoc"], step_task["prompt"].endswith("echo extra")) == (
        "design",
        False,
        True,
    )
    bad = owner.post(f"/projects/{pid}/workflow/execute", {"stepId": "no-such-step"})
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "stepId"
    missing = owner.post(f"/projects/{pid}/workflow/execute", {"additionalInput": "x"})
    assert missing.status_code == 400 and missing.json()["code"] == "MISSING_REQUIRED_FIELD"

    # Re-running the step task: the same step again, with the same prompt and type, in no execution.
    again = owner.post(f"/tasks/{step_task['id']}/rerun")
    assert again.status_code == 201, again.text
    assert (again.json()["originalTaskId"], again.json()["stepId"]) == (step_task["id"], "design")
    rerun = wait_for(owner, pid, again.json()["taskId"])
    same = ("stepId", "title", "prompt", "taskType", "isAdhoc", "parameters")
    assert {k: rerun.get(k) for k in same} == {k: step_task.get(k) for k in same}
    assert rerun["id"] != step_task["id"] and "executionId" not in rerun

    # Re-running an ad-hoc task: the same title, description, prompt, type, parameters and context memories.
    memory = owner.create("/context/memories", {"content": "context to inject", "scope": "project", "scope_id": pid})
    adhoc = owner.create(
        f"/projects/{pid}/tasks/adhoc",
        {
            "title": "adhoc",
            "description": "once more",
            "prompt": "echo adhoc",
            "taskType": "bash",
            "parameters": {"k": 1},
            "contextMemoryIds": [memory["id"]],
        },
    )
    original = wait_for(owner, pid, adhoc["taskId"])
    rerun = wait_for(owner, pid, owner.post(f"/tasks/{original['id']}/rerun").json()["taskId"])
    same = ("title", "description", "prompt", "taskType", "parameters", "contextMemoryIds", "isAdhoc", "stepId")
    assert {k: rerun.get(k) for k in same} == {k: original.get(k) for k in same}
    assert rerun["contextMemoryIds"] == [memory["id"]] and rerun["status"] == "completed"
    assert owner.post(f"/tasks/{uuid.uuid4()}/rerun").status_code == 404


def test_a_stranger_cannot_rerun_or_execute(owner: Api, project: Tree, console_server: LiveServer) -> None:
    stranger = add_user(console_server, login_as(console_server, ADMIN_USERNAME, ADMIN_PASSWORD))
    pid = project.project["id"]
    task_id = owner.get(f"/projects/{pid}/tasks").json()[0]["id"]
    assert stranger.post(f"/tasks/{task_id}/rerun").json()["code"] == "TASK_NOT_FOUND"
    assert stranger.post(f"/projects/{pid}/workflow/execute", {"stepId": "design"}).status_code == 404
    assert stranger.get(f"/projects/{pid}/tasks/{task_id}/output").status_code == 404
    assert stranger.get(f"/projects/{pid}/tasks/{task_id}/steps/x").status_code == 404


def test_task_output_steps_and_step_status(owner: Api, project: Tree) -> None:
    pid = project.project["id"]
    queued = owner.create(f"/projects/{pid}/workflow/steps/requirements/execute", {"additionalInput": "echo out"})
    task = wait_for(owner, pid, queued["taskId"])
    output = owner.get(f"/projects/{pid}/tasks/{task['id']}/output").json()
    assert output == {
        "taskId": task["id"],
        "status": "completed",
        "output": task["terminalOutput"],
        "result": task["result"],
        "exitCode": 0,
    }
    step = owner.get(f"/projects/{pid}/tasks/{task['id']}/steps/requirements").json()
    assert (step["stepId"], step["status"], step["progress"], step["step"]) == (
        "requirements",
        "completed",
        100,
        task["title"],
    )
    assert owner.get(f"/projects/{pid}/tasks/{task['id']}/steps/design").json()["code"] == "NOT_FOUND"
    marked = owner.patch(f"/projects/{pid}/tasks/{task['id']}/step", {"status": "completed"})
    assert marked.status_code == 200, marked.text
    assert marked.json()["workflowState"]["stepStatuses"]["requirements"] == "completed"
    assert owner.get(f"/projects/{pid}/workflow").json()["stepStatuses"]["requirements"] == "completed"
    adhoc = owner.get(f"/projects/{pid}/tasks", params={"type": "adhoc"}).json()[0]
    refused = owner.patch(f"/projects/{pid}/tasks/{adhoc['id']}/step", {"status": "completed"})
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_VALUE"
    # An ad-hoc task's own step is answered from the task itself.
    assert owner.get(f"/projects/{pid}/tasks/{adhoc['id']}/steps/adhoc").json()["status"] == "completed"


def test_search_and_stats_answer_in_both_vocabularies(owner: Api, project: Tree) -> None:
    pid = project.project["id"]
    for text in ("alpha notes about deployment", "beta notes about the login page"):
        owner.create("/context/memories", {"content": text, "scope": "project", "scope_id": pid})
    found = owner.post(
        "/context/search", {"query": "login page", "scope": "project", "scope_id": pid, "limit": 2}
    ).json()
    assert found["results"] == found["memories"] and found["count"] == found["total"] == 2
    assert found["query"] == "login page" and found["memories"][0]["memory"] == "beta notes about the login page"
    stats = owner.get(f"/projects/{pid}/memories/stats").json()
    everything = owner.get(f"/projects/{pid}/memories").json()
    sizes = [len(memory["memory"]) for memory in everything]
    assert stats["totalMemories"] == stats["total"] == len(everything)
    assert stats["totalSize"] == sum(sizes) and stats["averageSize"] == round(sum(sizes) / len(sizes))
    assert stats["lastUpdated"] == max(memory["updated_at"] for memory in everything)
    for path in ("/context/stats", f"/context/stats/project/{pid}"):
        assert {"totalMemories", "totalSize", "averageSize", "lastUpdated", "total", "by_type"} <= set(
            owner.get(path).json()
        )
    empty = make_tree(owner).project["id"]
    assert owner.get(f"/context/stats/project/{empty}").json() | {"scope_id": None} == {
        "total": 0,
        "by_type": {},
        "scope": "project",
        "scope_id": None,
        "context_enabled": True,
        "auto_capture_enabled": False,
        "provider": "local:all-MiniLM-L6-v2",
        "totalMemories": 0,
        "totalSize": 0,
        "averageSize": 0,
        "lastUpdated": None,
    }


def test_relevant_context_by_query(owner: Api, project: Tree) -> None:
    pid = project.project["id"]
    by_body = owner.post(f"/projects/{pid}/tasks/context/relevant", {"prompt": "login page", "maxMemories": 3}).json()
    by_query = owner.get(
        "/context/relevant", params={"prompt": "login page", "maxMemories": 3, "projectId": pid}
    ).json()
    assert [m["id"] for m in by_query["memories"]] == [m["id"] for m in by_body["memories"]] and by_body["memories"]
    anywhere = owner.get("/context/relevant", params={"prompt": "login page", "maxMemories": 1}).json()
    assert anywhere["memories"][0]["id"] == by_body["memories"][0]["id"]
    assert owner.get("/context/relevant").json()["code"] == "MISSING_REQUIRED_FIELD"


def test_memory_batches_are_all_or_nothing(owner: Api, project: Tree, console_server: LiveServer) -> None:
    pid = project.project["id"]
    before = len(owner.get(f"/projects/{pid}/memories").json())
    refused = owner.post(
        "/context/memories/batch",
        {
            "memories": [
                {"content": "fine", "scope": "project", "scope_id": pid},
                {"content": " ", "scope": "project", "scope_id": pid},
            ]
        },
    )
    assert refused.status_code == 400 and refused.json()["details"]["field"] == "memories[1].content"
    assert len(owner.get(f"/projects/{pid}/memories").json()) == before
    # The console's and the SDK's shape: {projectId, content, metadata: {scope, memory_type, ...}}.
    created = owner.post(
        "/context/memories/batch",
        {
            "memories": [
                {"projectId": pid, "content": f"batch {i}", "metadata": {"scope": "project", "memory_type": "note"}}
                for i in range(3)
            ]
        },
    )
    assert created.status_code == 201, created.text
    ids = [memory["id"] for memory in created.json()]
    assert [m["metadata"]["memory_type"] for m in created.json()] == ["note"] * 3

    updated = owner.put(
        "/context/memories/batch", {"updates": [{"id": ids[0], "content": "changed"}, {"id": ids[1], "content": "too"}]}
    )
    assert updated.status_code == 200 and [m["memory"] for m in updated.json()] == ["changed", "too"]
    assert owner.get(f"/context/memories/{ids[0]}").json()["memory"] == "changed"

    stranger = add_user(console_server, login_as(console_server, ADMIN_USERNAME, ADMIN_PASSWORD))
    assert (
        stranger.post("/context/memories/batch-delete", {"memoryIds": ids}).json()["details"]["field"] == "memoryIds[0]"
    )
    assert stranger.put("/context/memories/batch", {"updates": [{"id": ids[2], "content": "x"}]}).status_code == 404
    missing = owner.post("/context/memories/batch-delete", {"memoryIds": [ids[2], str(uuid.uuid4())]})
    assert missing.status_code == 404 and owner.get(f"/context/memories/{ids[2]}").status_code == 200
    deleted = owner.post("/context/memories/batch-delete", {"memoryIds": ids})
    assert deleted.json() == {"deleted": 3, "memoryIds": ids}
    assert all(owner.get(f"/context/memories/{memory_id}").status_code == 404 for memory_id in ids)
    assert owner.post("/context/memories/batch-delete", {"memoryIds": []}).status_code == 400


def test_settings_reset_and_delete_one(owner: Api) -> None:
    owner.put("/settings", {"gitDisplayName": "Ann", "gitEmail": "ann@example.com", "dockerImage": "img:1"})
    cleared = owner.delete("/settings/gitEmail")
    assert cleared.status_code == 200 and "gitEmail" not in cleared.json()
    assert (cleared.json()["gitDisplayName"], cleared.json()["dockerImage"]) == ("Ann", "img:1")
    assert owner.delete("/settings/theme").json()["code"] == "INVALID_VALUE"
    reset = owner.post("/settings/reset", {}).json()
    assert not {"gitDisplayName", "gitEmail", "dockerImage"} & set(reset) and reset["preferences"]["theme"] == "light"
    assert owner.get("/settings").json() == reset


def test_the_sdk_drives_the_console_paths_at_the_origin(console_server: LiveServer, owner: Api) -> None:
    """The SDK with `baseURL` = the origin (the console's own choice), and the console's direct calls."""
    result = run_script(
        node_binary(),
        console_server,
        owner,
        uuid.uuid4().hex[:10],
        SDK_DIR / "console.mjs",
        BASE_URL=console_server.url,
    )
    assert result["historyIsArray"] and result["historyIds"] == [result["rerunId"], result["taskId"]]
    assert result["search"]["total"] == len(result["search"]["memories"]) == 1 and result["search"]["query"] == "deploy"
    assert result["stats"]["totalMemories"] == 3 and result["stats"]["totalSize"] > 0 and result["stats"]["lastUpdated"]
    assert result["listed"] == 3 and result["relevant"] >= 1 and result["deletedBatch"] == 2
    assert result["reset"] == {"gitDisplayName": None, "dockerImage": None}
    assert result["page"].startswith("<!doctype html>") and result["workflowsIsArray"]
    assert result["step"]["stepId"] == "design" and result["output"]["status"] == "completed"
    assert result["events"][-1] == "task_completed" and result["marked"] == "completed"
