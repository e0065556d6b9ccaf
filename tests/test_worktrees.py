"""A branch per task, on both backends: tasks in their own git worktrees (git run inside the sandbox), their
diffs, merges (fast-forward, merge commit, a conflict reported and nothing changed), discards, follow-ups in
the same worktree, and worktrees cleaned up after their retention."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from websockets.sync.client import connect

from tests.agent_support import fake_agents, git, git_project
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, Api, LiveServer, login_as
from tests.test_progress import progress_url
from tests.test_tasks import Project, sandbox_project, submit, task_settings, wait_for_task

IDENTITY = {"gitDisplayName": "Ada Lovelace", "gitEmail": "ada@example.com"}


def branches(folder: Path) -> list[str]:
    return git(folder, "branch", "--list", "--format=%(refname:short)").split()


def test_parallel_tasks_work_apart_then_merge_cleanly_or_report_a_conflict(
    sandbox_server: LiveServer, sandbox_owner: Api
) -> None:
    api = sandbox_owner
    assert api.put("/settings", IDENTITY).status_code == 200
    project = git_project(sandbox_server, api, {"README.md": "# Project\nline two\n", "other.txt": "other\n"})
    base = f"/projects/{project.id}"
    assert api.post(f"{base}/task-limits", {"limit": 2}).json()["limit"] == 2
    assert api.put(f"{base}/task-isolation", {"isolation": "worktree"}).json() == {
        "projectId": project.id, "isolation": "worktree"
    }  # fmt: skip
    edit = "!write README.md # Project by {who}\n!write shared.txt from {who}\n!pause 1\n!run cat shared.txt"
    with fake_agents(sandbox_server, project.folder):
        first = submit(api, project.id, edit.format(who="A"), "claude")
        second = submit(api, project.id, edit.format(who="B"), "claude")
        done = [wait_for_task(api, project.id, task_id) for task_id in (first, second)]
        third = wait_for_task(api, project.id, submit(api, project.id, "!write other.txt changed by C", "claude"))
    assert [task["status"] for task in done] == ["completed", "completed"], [t["error"] for t in done]
    assert done[1]["startTime"] < done[0]["endTime"], "the two ran at the same time"
    check_apart(project, done)
    diff = check_diff(api, project, done[0])
    check_merges(api, project, done, third, diff)
    check_discard(api, project, done)


def check_apart(project: Project, done: list[dict]) -> None:
    for task, who in zip(done, "AB", strict=True):
        assert task["isolation"] == "worktree"
        assert task["agentSteps"][-1]["text"] == f"from {who}", "each read back its own file"
        assert task["worktree"]["path"] == f".orchestrator/worktrees/{task['id']}"
        assert task["worktree"]["baseBranch"] == "main" and task["worktree"]["state"] == "active"
        assert (project.folder / task["worktree"]["path"] / "shared.txt").read_text() == f"from {who}\n"
        assert [a["path"] for a in task["artifacts"]] == ["README.md", "shared.txt"]
        assert task["diff"] == {"filesChanged": 2, "linesAdded": 2, "linesRemoved": 2}
    assert (project.folder / "README.md").read_text() == "# Project\nline two\n", "the project folder is untouched"
    assert not (project.folder / "shared.txt").exists()
    assert git(project.folder, "status", "--porcelain") == "", ".orchestrator/ is excluded from the repository"


def check_diff(api: Api, project: Project, task: dict) -> dict:
    base = f"/projects/{project.id}/tasks/{task['id']}"
    diff = api.get(f"{base}/diff").json()
    assert diff["branch"] == task["worktree"]["branch"] and diff["baseCommit"] == task["worktree"]["baseCommit"]
    assert [(f["path"], f["status"], f["linesAdded"], f["linesRemoved"]) for f in diff["files"]] == [
        ("README.md", "modified", 1, 2), ("shared.txt", "added", 1, 0)
    ]  # fmt: skip
    assert "-# Project\n" in diff["patch"] and "+# Project by A\n" in diff["patch"] and diff["truncated"] is False
    patch = api.get(f"{base}/diff?format=patch")
    assert patch.headers["content-type"].startswith("text/x-diff") and patch.text == diff["patch"]
    author = git(project.folder, "log", "-1", "--format=%an <%ae>", diff["branch"])
    assert author == "Ada Lovelace <ada@example.com>", "the task's commit has its user's git identity"
    return diff


def check_merges(api: Api, project: Project, done: list[dict], third: dict, diff: dict) -> None:
    base = f"/projects/{project.id}/tasks"
    merged = api.post(f"{base}/{done[0]['id']}/merge", {})
    assert merged.status_code == 200, merged.text
    assert merged.json()["strategy"] == "fast-forward" and merged.json()["commit"] == diff["headCommit"]
    assert (project.folder / "README.md").read_text() == "# Project by A\n"
    assert git(project.folder, "rev-parse", "main") == diff["headCommit"]

    forward = api.post(f"{base}/{done[1]['id']}/merge", {"strategy": "fast-forward"})
    assert forward.status_code == 409 and forward.json()["code"] == "NOT_FAST_FORWARD"
    conflict = api.post(f"{base}/{done[1]['id']}/merge", {"strategy": "merge-commit"})
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["code"] == "MERGE_CONFLICT"
    assert conflict.json()["details"]["conflicts"] == ["README.md", "shared.txt"]
    assert git(project.folder, "rev-parse", "main") == diff["headCommit"], "nothing was merged"
    assert git(project.folder, "status", "--porcelain") == "" and not (project.folder / ".git" / "MERGE_HEAD").exists()

    clean = api.post(f"{base}/{third['id']}/merge", {"strategy": "auto"})
    assert clean.status_code == 200 and clean.json()["strategy"] == "merge-commit"
    parents = git(project.folder, "log", "-1", "--format=%P %an", "main").split()
    assert len(parents) == 4 and " ".join(parents[2:]) == "Ada Lovelace", "a merge commit, by the merger"
    assert (project.folder / "other.txt").read_text() == "changed by C\n"
    assert (project.folder / "README.md").read_text() == "# Project by A\n"


def check_discard(api: Api, project: Project, done: list[dict]) -> None:
    base = f"/projects/{project.id}/tasks"
    branch = done[1]["worktree"]["branch"]
    assert branch in branches(project.folder)
    discarded = api.post(f"{base}/{done[1]['id']}/discard")
    assert discarded.status_code == 200 and discarded.json()["worktree"]["state"] == "discarded"
    assert not (project.folder / done[1]["worktree"]["path"]).exists() and branch not in branches(project.folder)
    assert api.post(f"{base}/{done[1]['id']}/merge", {}).status_code == 400
    assert api.get(f"{base}/{done[1]['id']}").json()["worktree"]["state"] == "discarded"
    assert api.get(f"{base}/{done[0]['id']}").json()["worktree"]["state"] == "merged"


def test_a_follow_up_works_in_the_same_worktree_and_branch(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = git_project(sandbox_server, sandbox_owner, {"a.txt": "a\n"})
    base = f"/projects/{project.id}/tasks"
    with fake_agents(sandbox_server, project.folder):
        task_id = submit(sandbox_owner, project.id, "!write b.txt first\n!run pwd", "claude", isolation="worktree")
        first = wait_for_task(sandbox_owner, project.id, task_id)
        follow_up = sandbox_owner.post(f"{base}/{task_id}/dialog", {"message": "!append b.txt second\n!run pwd"})
        second = wait_for_task(sandbox_owner, project.id, follow_up.json()["taskId"])
    assert second["status"] == "completed" and second["sessionId"] == first["sessionId"]
    moved = ("headCommit", "lastUsedAt")
    assert {k: v for k, v in second["worktree"].items() if k not in moved} == {
        k: v for k, v in first["worktree"].items() if k not in moved
    }
    assert first["agentSteps"][-1]["text"] == second["agentSteps"][-1]["text"], "the same folder"
    assert first["agentSteps"][-1]["text"].endswith(first["worktree"]["path"])
    assert (project.folder / first["worktree"]["path"] / "b.txt").read_text() == "first\nsecond\n"
    assert second["diff"] == {"filesChanged": 1, "linesAdded": 2, "linesRemoved": 0}, "the branch against its base"
    log = git(project.folder, "log", "--format=%s", first["worktree"]["branch"]).splitlines()
    assert log == ["Follow-up: a task", "a task", "Initial"]


def test_isolation_needs_a_git_repository(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    plain = sandbox_project(sandbox_server, sandbox_owner)
    refused = sandbox_owner.post(
        f"/projects/{plain.id}/tasks/adhoc",
        {"title": "t", "prompt": "echo", "taskType": "bash", "isolation": "worktree"},
    )
    assert refused.status_code == 400 and refused.json()["details"]["field"] == "isolation"
    bad = sandbox_owner.put(f"/projects/{plain.id}/task-isolation", {"isolation": "elsewhere"})
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "isolation"
    assert sandbox_owner.put(f"/projects/{plain.id}/task-isolation", {"isolation": "worktree"}).status_code == 200
    task = wait_for_task(sandbox_owner, plain.id, submit(sandbox_owner, plain.id, "echo here > here.txt"))
    assert task["isolation"] == "shared" and "worktree" not in task, "the default falls back outside a repository"
    assert (plain.folder / "here.txt").exists()
    missing = sandbox_owner.get(f"/projects/{plain.id}/tasks/{task['id']}/diff")
    assert missing.status_code == 404
    assert sandbox_owner.post(f"/projects/{plain.id}/tasks/{task['id']}/merge", {}).status_code == 400
    repository = git_project(sandbox_server, sandbox_owner, {"x.txt": "x\n"})
    bash = submit(sandbox_owner, repository.id, "echo made > made.txt", "bash", isolation="worktree")
    done = wait_for_task(sandbox_owner, repository.id, bash)
    assert done["status"] == "completed" and done["diff"]["filesChanged"] == 1, "bash tasks get worktrees too"
    assert not (repository.folder / "made.txt").exists()
    strategy = sandbox_owner.post(f"/projects/{repository.id}/tasks/{bash}/merge", {"strategy": "rebase"})
    assert strategy.status_code == 400 and strategy.json()["details"]["field"] == "strategy"


def test_finished_worktrees_are_removed_after_their_retention(fresh_server: Callable[..., LiveServer]) -> None:
    """On a server of its own, whose clean-up runs every second; local only (the git it runs is the merge's and
    discard's, tested on both backends above)."""
    env = {
        "SANDBOX_BACKEND": "local",
        "IMAGE_NAME": "orchestrator-test:latest",
        "TASK_COMMAND_BASH": "sh -c {prompt}",
        "WORKTREE_CLEANUP_SECONDS": "1",
    }
    live = fresh_server(**env)
    admin = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    project = git_project(live, admin, {"a.txt": "a\n"})
    merged_id = submit(admin, project.id, "echo one > one.txt", "bash", isolation="worktree")
    kept_id = submit(admin, project.id, "echo two > two.txt", "bash", isolation="worktree")
    merged, kept = (wait_for_task(admin, project.id, task_id) for task_id in (merged_id, kept_id))
    assert admin.post(f"/projects/{project.id}/tasks/{merged_id}/merge", {}).status_code == 200
    assert (project.folder / merged["worktree"]["path"]).is_dir(), "kept while within the retention (a week)"
    with (
        connect(progress_url(live, project.id, admin.token)) as socket,
        task_settings(live, worktree_retention_seconds=0),
    ):
        removed: dict[str, dict] = {}
        while len(removed) < 2:
            event = json.loads(socket.recv(timeout=30))
            if event["type"] == "worktree_removed":
                removed[event["taskId"]] = event
    assert removed[merged_id]["branchDeleted"] is True and removed[kept_id]["branchDeleted"] is False
    for task in (merged, kept):
        assert not (project.folder / task["worktree"]["path"]).exists()
    assert branches(project.folder) == ["main", kept["worktree"]["branch"]], "an unmerged branch is kept"
    late = admin.post(f"/projects/{project.id}/tasks/{kept_id}/merge", {})
    assert late.status_code == 200 and late.json()["strategy"] == "merge-commit"
    assert (project.folder / "two.txt").read_text() == "two\n"
    assert admin.get(f"/projects/{project.id}/tasks/{kept_id}").json()["worktree"]["state"] == "merged"
