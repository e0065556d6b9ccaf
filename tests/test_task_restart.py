"""Tasks survive a crash honestly: the server is killed (SIGKILL) while one task runs and one waits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, TASK_ENV, Api, LiveServer, free_port, login_as, make_tree
from tests.docker_engine import IMAGE as TEST_IMAGE
from tests.test_flexy import create_sandbox
from tests.test_tasks import submit, wait_for_task

REPO = Path(__file__).resolve().parent.parent
ENV = {"SANDBOX_BACKEND": "local", "IMAGE_NAME": TEST_IMAGE, **TASK_ENV}


@dataclass
class ServerProcess:
    api: Api
    data_dir: Path
    process: subprocess.Popen[bytes]


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """`python app.py serve` in a process of its own, so that it can be killed outright."""
    port, data_dir = free_port(), tmp_path / "data"
    env = {**os.environ, **ENV, "DATA_DIR": str(data_dir), "PORT": str(port), "AUTH_PASSWORD": ADMIN_PASSWORD}
    process = subprocess.Popen([sys.executable, "app.py", "serve"], cwd=REPO, env={**env, "LOG_LEVEL": "warning"})
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 30
    try:
        while not _healthy(url):
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield ServerProcess(login_as_url(url), data_dir, process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health").status_code == 200
    except httpx.TransportError:
        return False


def login_as_url(url: str) -> Api:
    api = Api(url)
    assert api.login(ADMIN_USERNAME, ADMIN_PASSWORD).status_code == 200
    return api


def test_after_a_crash_the_running_task_fails_and_the_waiting_one_runs(
    server_process: ServerProcess, fresh_server: Callable[..., LiveServer]
) -> None:
    api = server_process.api
    project_id = make_tree(api).project["id"]
    create_sandbox(api, project_id)
    running = submit(api, project_id, "echo working; sleep 5")
    waiting = submit(api, project_id, "echo 'ran after the restart'")
    wait_for_task(api, project_id, running, ("running",))
    server_process.process.kill()
    server_process.process.wait(timeout=10)

    restarted = fresh_server(server_process.data_dir, **ENV)
    again = login_as(restarted, ADMIN_USERNAME, ADMIN_PASSWORD)
    crashed = again.get(f"/projects/{project_id}/tasks/{running}").json()
    assert crashed["status"] == "failed" and "server stopped" in crashed["error"], crashed
    resumed = wait_for_task(again, project_id, waiting)
    assert resumed["status"] == "completed" and "ran after the restart" in resumed["result"], resumed


def test_a_clean_stop_fails_the_running_task_with_the_reason(
    fresh_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    live = fresh_server(tmp_path / "clean", **ENV)
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    project_id = make_tree(api).project["id"]
    create_sandbox(api, project_id)
    running = submit(api, project_id, "sleep 20")
    waiting = submit(api, project_id, "echo later")
    wait_for_task(api, project_id, running, ("running",))
    began = time.monotonic()
    live.stop()
    assert time.monotonic() - began < 5, "stopping kills running tasks instead of waiting for them"
    restarted = fresh_server(tmp_path / "clean", **ENV)
    again = login_as(restarted, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert again.get(f"/projects/{project_id}/tasks/{running}").json()["error"].startswith("The server stopped")
    assert wait_for_task(again, project_id, waiting)["status"] == "completed"
