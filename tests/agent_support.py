"""What the agent tests share: the fake agent CLIs made reachable on either backend, a task's events replayed
from the event log, and projects whose folder is a git repository."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from tests.conftest import Api, LiveServer, make_tree
from tests.image_extras import AGENT_NAMES, FAKE_AGENT
from tests.test_flexy import create_sandbox
from tests.test_progress import progress_url
from tests.test_tasks import Project, project_folder, task_settings

TASK_ENDS = ("task_completed", "task_failed", "task_cancelled")


@contextmanager
def fake_agents(server: LiveServer, folder: Path) -> Iterator[None]:
    """The four fake CLIs for tasks of the project in `folder`: on Docker they are on the image's PATH; on the
    local backend they are copied into the folder (`.fake-bin`) and the command templates name them there,
    their flags as configured."""
    if server.settings.sandbox_backend == "docker":
        yield
        return
    changes = {}
    for name in AGENT_NAMES:
        script = folder / ".fake-bin" / name
        script.parent.mkdir(exist_ok=True)
        shutil.copyfile(FAKE_AGENT, script)
        script.chmod(0o755)
        template = getattr(server.settings, f"task_command_{name}")
        changes[f"task_command_{name}"] = template.replace(name, str(script), 1)
    with task_settings(server, **changes):
        yield


def task_events(
    server: LiveServer, api: Api, project_id: str, task_id: str, timeout: float = 30
) -> list[dict[str, Any]]:
    """The task's events from the start of the project's log (replayed, then live) up to its end."""
    seen: list[dict[str, Any]] = []
    with connect(progress_url(server, project_id, api.token, after=0)) as socket:
        while not seen or seen[-1]["type"] not in TASK_ENDS:
            event = json.loads(socket.recv(timeout=timeout))
            if event.get("taskId") == task_id:
                seen.append(event)
    return seen


def git(folder: Path, *args: str) -> str:
    """git on this host in a project folder; the folder belongs to the sandbox user, so git is told it is safe."""
    command = ["git", "-c", "safe.directory=*", "-C", str(folder), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def git_project(server: LiveServer, owner: Api, files: dict[str, str]) -> Project:
    """A project whose folder is a git repository with `files` committed on `main`; its sandbox is made after
    the repository, as a sandbox's user then owns all of it."""
    tree = make_tree(owner)
    folder = project_folder(server, tree)
    git(folder, "init", "-q", "-b", "main")
    (folder / ".gitignore").write_text(".fake-bin/\n")
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    git(folder, "add", "-A")
    git(folder, "-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "Initial")
    return Project(tree.project["id"], folder, create_sandbox(owner, tree.project["id"]))
