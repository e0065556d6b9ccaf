"""Tasks (operations 38, 40-44): queued per project sandbox, run inside it, streamed live.

Every test runs on the real Docker engine and on the local backend (`sandbox_server`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from resolvers.task_runner import OUTPUT_LIMIT
from tests.conftest import Api, LiveServer, Tree, make_tree
from tests.image_extras import FAKE_AGENT
from tests.test_flexy import create_sandbox
from tests.test_progress import progress_url, wait_for_subscribers

FINISHED = ("completed", "failed", "cancelled")
TASK_KEYS = {
    "id", "projectId", "stepId", "sandboxId", "prompt", "status", "result", "startTime", "endTime", "userId",
    "isAdhoc", "title", "artifacts", "terminalOutput", "duration", "contextMemoryIds", "taskType", "createdAt",
}  # fmt: skip
"""A completed ad-hoc task's keys; `parameters`, `error`, `description` only when they have a value."""


@dataclasses.dataclass
class Project:
    id: str
    folder: Path
    sandbox: dict[str, Any]


def project_folder(server: LiveServer, tree: Tree) -> Path:
    return (
        server.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"] / tree.project["folderPath"]
    )


def sandbox_project(server: LiveServer, owner: Api) -> Project:
    """A new project of `owner` with a running sandbox."""
    tree = make_tree(owner)
    sandbox = create_sandbox(owner, tree.project["id"])
    return Project(tree.project["id"], project_folder(server, tree), sandbox)


@pytest.fixture
def project(sandbox_server: LiveServer, sandbox_owner: Api) -> Project:
    return sandbox_project(sandbox_server, sandbox_owner)


def submit(api: Api, project_id: str, prompt: str, task_type: str | None = "bash", **extra: Any) -> str:
    body = {"title": extra.pop("title", "a task"), "prompt": prompt, **extra}
    if task_type is not None:
        body["taskType"] = task_type
    response = api.post(f"/projects/{project_id}/tasks/adhoc", body)
    assert response.status_code == 201, response.text
    assert response.json()["message"]
    return response.json()["taskId"]


def wait_for_task(
    api: Api, project_id: str, task_id: str, statuses: tuple[str, ...] = FINISHED, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task = api.get(f"/projects/{project_id}/tasks/{task_id}").json()
        assert "status" in task, task
        if task["status"] in statuses:
            return task
        assert time.monotonic() < deadline, f"task {task_id} stayed {task['status']}"
        time.sleep(0.05)


@contextmanager
def task_settings(server: LiveServer, **changes: str) -> Iterator[None]:
    """Change the running server's task settings for one test (it reads them when a task starts)."""
    original = server.runtime.settings
    server.runtime.settings = dataclasses.replace(original, **changes)
    try:
        yield
    finally:
        server.runtime.settings = original


def test_bash_task_streams_its_output_while_it_runs(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project
) -> None:
    script = "echo first line; sleep 2; echo second line; printf hello > made.txt; echo warn >&2"
    with connect(progress_url(sandbox_server, project.id, sandbox_owner.token)) as socket:
        wait_for_subscribers(sandbox_server, 1)
        task_id = submit(sandbox_owner, project.id, script, title="Stream me")
        seen: list[tuple[float, dict[str, Any]]] = []
        while not seen or seen[-1][1]["type"] not in ("task_completed", "task_failed"):
            event = json.loads(socket.recv(timeout=30))
            if event.get("taskId") == task_id:
                seen.append((time.monotonic(), event))
    wait_for_subscribers(sandbox_server, 0)
    types = [event["type"] for _, event in seen]
    assert types[:2] == ["task_queued", "task_started"] and types[-1] == "task_completed", types
    queued = seen[0][1]
    assert queued["task"] == "Stream me" and queued["input"] == {"prompt": script}
    assert all(event["projectId"] == project.id and event["timestamp"].endswith("Z") for _, event in seen)
    outputs = [(at, event) for at, event in seen if event["type"] == "output"]
    first_at = next(at for at, event in outputs if "first line" in event["output"])
    assert seen[-1][0] - first_at > 1.5, "the first line arrived while the command still ran"
    assert "".join(event["output"] for _, event in outputs).count("line") == 2
    artifacts = [event["artifact"] for _, event in seen if event["type"] == "artifact"]
    assert [(a["path"], a["type"], a["size"]) for a in artifacts] == [("made.txt", "txt", 5)]
    completed = seen[-1][1]
    assert "second line" in completed["output"] and completed["duration"] >= 2000

    task = sandbox_owner.get(f"/projects/{project.id}/tasks/{task_id}").json()
    assert task.keys() >= TASK_KEYS
    assert (task["status"], task["exitCode"], task["taskType"], task["isAdhoc"]) == ("completed", 0, "bash", True)
    assert task["sandboxId"] == project.sandbox["id"] and task["userId"] == sandbox_owner.user_id
    assert "first line" in task["result"] and "warn" in task["terminalOutput"]
    assert task["artifacts"][0]["path"] == "made.txt" and task["artifacts"][0]["createdAt"].endswith("Z")
    assert task["duration"] >= 2000 and task["startTime"] <= task["endTime"]


def test_failing_command_ends_failed_with_its_error(sandbox_owner: Api, project: Project) -> None:
    task_id = submit(sandbox_owner, project.id, "echo partial; echo 'it broke' >&2; exit 3")
    task = wait_for_task(sandbox_owner, project.id, task_id)
    assert (task["status"], task["exitCode"], "result" in task) == ("failed", 3, False)
    assert "code 3" in task["error"] and "it broke" in task["error"]
    assert "partial" in task["terminalOutput"]


def test_cancel_a_queued_task_and_a_running_one(sandbox_owner: Api, project: Project) -> None:
    running = submit(sandbox_owner, project.id, "echo started; sleep 30; echo never > late.txt")
    waiting = submit(sandbox_owner, project.id, "echo ran > waited.txt")
    wait_for_task(sandbox_owner, project.id, running, ("running",))
    status = sandbox_owner.get(f"/projects/{project.id}/task-queue-status").json()
    assert status == {"pending": 1, "running": 1, "projectId": project.id, "sandboxId": project.sandbox["id"]}

    cancelled = sandbox_owner.post(f"/projects/{project.id}/tasks/{waiting}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["taskId"] == waiting
    assert sandbox_owner.get(f"/projects/{project.id}/tasks/{waiting}").json()["status"] == "cancelled"

    wait_for_task(sandbox_owner, project.id, running, ("running",))
    began = time.monotonic()
    assert sandbox_owner.post(f"/projects/{project.id}/tasks/{running}/cancel").status_code == 200
    assert time.monotonic() - began < 1.0, "a running task is killed within a second (seen here: 35-150 ms)"
    task = sandbox_owner.get(f"/projects/{project.id}/tasks/{running}").json()
    assert task["status"] == "cancelled" and task["endTime"]
    again = sandbox_owner.post(f"/projects/{project.id}/tasks/{running}/cancel")
    assert again.status_code == 400 and again.json()["code"] == "INVALID_STATUS"
    time.sleep(1)
    assert not (project.folder / "waited.txt").exists() and not (project.folder / "late.txt").exists()
    assert sandbox_owner.get(f"/projects/{project.id}/task-queue-status").json()["running"] == 0


def test_with_limit_two_three_tasks_never_run_at_once(sandbox_owner: Api, project: Project) -> None:
    limit = sandbox_owner.post(f"/projects/{project.id}/task-limits", {"limit": 2})
    assert limit.status_code == 200, limit.text
    assert limit.json()["limit"] == 2 and limit.json()["sandboxId"] == project.sandbox["id"]
    script = "mkdir -p slots; touch slots/{n}; ls slots | wc -l >> counts; sleep 1.5; rm slots/{n}"
    ids = [submit(sandbox_owner, project.id, script.format(n=n)) for n in range(3)]
    tasks = [wait_for_task(sandbox_owner, project.id, task_id) for task_id in ids]
    assert [task["status"] for task in tasks] == ["completed"] * 3
    counts = [int(line) for line in (project.folder / "counts").read_text().split()]
    assert len(counts) == 3 and max(counts) == 2, counts
    spans = sorted((task["startTime"], task["endTime"]) for task in tasks)
    assert spans[2][0] >= min(spans[0][1], spans[1][1]), "the third started only after one of the first two ended"


def install_fake_cli(server: LiveServer, folder: Path, name: str) -> dict[str, str]:
    """On the local backend the fake CLIs are copied into the project folder and the command templates name
    them there (their flags unchanged); the Docker test image has them on PATH."""
    if server.settings.sandbox_backend == "docker":
        return {}
    script = folder / ".fake-bin" / name
    script.parent.mkdir(exist_ok=True)
    shutil.copyfile(FAKE_AGENT, script)
    script.chmod(0o755)
    template = getattr(server.settings, f"task_command_{name}")
    return {f"task_command_{name}": template.replace(name, str(script), 1)}


def test_claude_and_qwen_tasks_run_their_cli(sandbox_server: LiveServer, sandbox_owner: Api, project: Project) -> None:
    changes = {
        **install_fake_cli(sandbox_server, project.folder, "claude"),
        **install_fake_cli(sandbox_server, project.folder, "qwen"),
    }
    with task_settings(sandbox_server, **changes):
        claude = submit(sandbox_owner, project.id, "add a README; rm -rf / $(reboot)", "claude")
        qwen = submit(sandbox_owner, project.id, "write tests", None)
        done = [wait_for_task(sandbox_owner, project.id, task_id) for task_id in (claude, qwen)]
    assert [(task["status"], task["taskType"]) for task in done] == [("completed", "claude"), ("completed", "qwen")]
    assert "Claude (test double) working on: add a README; rm -rf / $(reboot)" in done[0]["result"]
    assert [a["path"] for a in done[0]["artifacts"]] == ["claude-output.md"]
    assert done[0]["artifacts"][0]["type"] == "md"
    assert [a["path"] for a in done[1]["artifacts"]] == ["qwen-output.md"]
    assert "write tests" in (project.folder / "qwen-output.md").read_text()


def test_default_type_is_the_first_ai_window(sandbox_owner: Api) -> None:
    tree = make_tree(sandbox_owner)
    updated = sandbox_owner.put(
        f"/projects/{tree.project['id']}",
        {"aiConfig": {"aiWindows": [{"type": "claude", "apiKey": "", "model": "", "baseUrl": ""}]}},
    )
    assert updated.status_code == 200, updated.text
    create_sandbox(sandbox_owner, tree.project["id"])
    task_id = submit(sandbox_owner, tree.project["id"], "hello", None)
    assert sandbox_owner.get(f"/projects/{tree.project['id']}/tasks/{task_id}").json()["taskType"] == "claude"
    sandbox_owner.post(f"/projects/{tree.project['id']}/tasks/{task_id}/cancel")


def test_a_missing_cli_fails_the_task_naming_it(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project
) -> None:
    with task_settings(sandbox_server, task_command_qwen="no-such-cli -p {prompt}"):
        task_id = submit(sandbox_owner, project.id, "anything", "qwen")
        task = wait_for_task(sandbox_owner, project.id, task_id)
    assert task["status"] == "failed" and task["exitCode"] == 127
    assert task["error"] == "no-such-cli: command not found in the sandbox"


def test_a_stopped_sandbox_is_started_for_the_task(sandbox_owner: Api, project: Project) -> None:
    assert sandbox_owner.post(f"/flexy/{project.sandbox['id']}/stop").status_code == 204
    task = wait_for_task(sandbox_owner, project.id, submit(sandbox_owner, project.id, "echo up"))
    assert task["status"] == "completed" and "up" in task["result"]
    assert sandbox_owner.get(f"/flexy/{project.sandbox['id']}").json()["status"] == "running"


def test_list_filters_and_pages(sandbox_owner: Api, project: Project) -> None:
    ok = submit(sandbox_owner, project.id, "echo alpha", title="Alpha job")
    bad = submit(sandbox_owner, project.id, "exit 1", title="Beta job")
    for task_id in (ok, bad):
        wait_for_task(sandbox_owner, project.id, task_id)
    base = f"/projects/{project.id}/tasks"

    def listed(query: str) -> tuple[list[str], int]:
        response = sandbox_owner.get(f"{base}?{query}")
        assert response.status_code == 200, response.text
        return [task["id"] for task in response.json()], int(response.headers["X-Total-Count"])

    assert listed("") == ([bad, ok], 2)
    assert listed("status=completed") == ([ok], 1)
    assert listed("status=completed,failed") == ([bad, ok], 2)
    assert listed("status=completed&status=failed&limit=1") == ([bad], 2)
    assert listed("limit=1&offset=1") == ([ok], 2)
    assert listed("search=alpha") == ([ok], 1)
    assert listed("search=beta") == ([bad], 1)
    assert listed("type=adhoc") == ([bad, ok], 2)
    assert listed("type=workflow") == ([], 0)
    for query in ("status=nope", "type=other", "limit=x", "offset=-1"):
        assert sandbox_owner.get(f"{base}?{query}").status_code == 400, query


def test_bad_input_is_refused_and_nothing_is_queued(sandbox_owner: Api, project: Project) -> None:
    adhoc = f"/projects/{project.id}/tasks/adhoc"
    for body, field in [
        ({"title": "t", "prompt": ""}, "prompt"),
        ({"title": "t", "prompt": "   "}, "prompt"),
        ({"title": "t"}, "prompt"),
        ({"prompt": "echo"}, "title"),
        ({"title": "t", "prompt": "echo", "taskType": "perl"}, "taskType"),
        ({"title": "t", "prompt": "echo", "parameters": [1]}, "parameters"),
        ({"title": "t", "prompt": "echo", "contextMemoryIds": "m1"}, "contextMemoryIds"),
        ({"title": ["t"], "prompt": "echo"}, "title"),
    ]:
        response = sandbox_owner.post(adhoc, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["details"]["field"] == field
    for limit in (0, -1, "x", None, 1.5, True):
        response = sandbox_owner.post(f"/projects/{project.id}/task-limits", {"limit": limit})
        assert response.status_code == 400, (limit, response.text)
    empty = sandbox_owner.get(f"/projects/{project.id}/tasks")
    assert empty.json() == [] and empty.headers["X-Total-Count"] == "0"
    bare = make_tree(sandbox_owner).project["id"]
    response = sandbox_owner.post(f"/projects/{bare}/tasks/adhoc", {"title": "t", "prompt": "echo"})
    assert response.status_code == 404 and response.json()["code"] == "CONTAINER_NOT_FOUND"
    assert sandbox_owner.get(f"/projects/{bare}/tasks").json() == []
    unknown = sandbox_owner.get(f"/projects/{project.id}/tasks/no-such-task")
    assert unknown.status_code == 404 and unknown.json()["code"] == "TASK_NOT_FOUND"


def test_another_user_cannot_touch_the_tasks(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project, make_sandbox_user: Callable[[], Api]
) -> None:
    task_id = submit(sandbox_owner, project.id, "sleep 5")
    other = make_sandbox_user()
    base = f"/projects/{project.id}"
    for response in [
        other.post(f"{base}/tasks/adhoc", {"title": "t", "prompt": "echo"}),
        other.get(f"{base}/tasks/{task_id}"),
        other.get(f"{base}/tasks"),
        other.post(f"{base}/tasks/{task_id}/cancel"),
        other.post(f"{base}/task-limits", {"limit": 3}),
        other.get(f"{base}/task-queue-status"),
    ]:
        assert response.status_code == 404, response.text
    with (
        connect(progress_url(sandbox_server, project.id, other.token)) as socket,
        pytest.raises(ConnectionClosed) as closed,
    ):
        socket.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
    assert len(sandbox_owner.get(f"{base}/tasks").json()) == 1
    assert sandbox_owner.post(f"{base}/tasks/{task_id}/cancel").status_code == 200


def test_a_task_past_its_timeout_is_killed_and_failed(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project
) -> None:
    with task_settings(sandbox_server, task_timeout_seconds=1):
        task_id = submit(sandbox_owner, project.id, "echo begun; sleep 20")
        task = wait_for_task(sandbox_owner, project.id, task_id, timeout=10)
    assert task["status"] == "failed" and task["error"] == "The task timed out after 1 s and was killed"
    assert "begun" in task["terminalOutput"] and task["duration"] < 5000


def test_deleting_the_sandbox_cancels_its_running_task(sandbox_owner: Api, project: Project) -> None:
    task_id = submit(sandbox_owner, project.id, "sleep 30")
    wait_for_task(sandbox_owner, project.id, task_id, ("running",))
    assert sandbox_owner.delete(f"/flexy/{project.sandbox['id']}").status_code == 204
    assert sandbox_owner.get(f"/projects/{project.id}/tasks/{task_id}").json()["status"] == "cancelled"
    assert sandbox_owner.delete(f"/projects/{project.id}").status_code in (200, 204)


def test_terminal_output_is_bounded_with_the_cut_marked(sandbox_owner: Api, project: Project) -> None:
    script = "i=0; while [ $i -lt 3000 ]; do echo line-$i-................................................................................; i=$((i+1)); done"
    task = wait_for_task(sandbox_owner, project.id, submit(sandbox_owner, project.id, script))
    assert task["status"] == "completed"
    kept = task["terminalOutput"]
    assert kept.startswith("[… ") and "earlier characters cut" in kept.splitlines()[0]
    assert len(kept) < OUTPUT_LIMIT + 100 and kept.rstrip().endswith("line-2999-" + "." * 80)
