"""A full disk: DATA_DIR on a small tmpfs (the tests run as root), filled to the last byte.

Every failed write answers 507 `STORAGE_FULL`; login still works; a task that ends meanwhile has its end
written as soon as there is space again; health says so all along.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, TASK_ENV, Api, LiveServer, login_as, make_tree, unique
from tests.test_flexy import create_sandbox
from tests.test_progress import progress_url, receive_until
from tests.test_tasks import project_folder, submit, wait_for_task

HOLD_SCRIPT = "echo started; while [ -e hold ]; do sleep 0.05; done; echo finished"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path) -> Path:
    """Write until the file system refuses: not one byte is left."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError:
                pass
    return filler


def health(api: Api) -> dict:
    response = api.get("/health")
    assert response.status_code == 200
    return response.json()


def wait_for_health(api: Api, check: Callable[[dict], bool], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while not check(body := health(api)):
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    return body


def assert_storage_full(response) -> None:
    assert response.status_code == 507, response.text
    body = response.json()
    assert body["code"] == "STORAGE_FULL" and body["statusCode"] == 507
    assert "storage is full" in body["message"] and body["details"]["reason"]


def test_a_full_disk_answers_507_and_no_task_stays_running(
    small_disk: Path, fresh_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    live = fresh_server(small_disk, SANDBOX_BACKEND="local", CONTEXT_ENABLED="false", **TASK_ENV)
    admin = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    tree = make_tree(admin)
    pid = tree.project["id"]
    create_sandbox(admin, pid)
    (project_folder(live, tree) / "hold").write_text("")
    assert health(admin)["storage"] == {"status": "ok", "freeBytes": health(admin)["storage"]["freeBytes"],
                                        "waitingWrites": 0, "lastFullAt": None}  # fmt: skip

    with connect(progress_url(live, pid, admin.token)) as socket:
        task_id = submit(admin, pid, HOLD_SCRIPT)
        receive_until(socket, "output")
        # Every write from here on needs new space: the write-ahead log is emptied, then the disk filled.
        with sqlite3.connect(small_disk / "orchestrator.db") as db:
            assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        filler = fill(small_disk)

        assert_storage_full(admin.post("/organizations", {"name": unique("Org"), "folderPath": unique("org")}))
        assert_storage_full(admin.put(f"/projects/{pid}/secrets/API_KEY", {"value": "sk-123456"}))
        assert_storage_full(
            admin.post(f"/projects/{pid}/tasks/adhoc", {"title": "t", "prompt": "true", "taskType": "bash"})
        )
        full = health(admin)
        assert full["status"] == "degraded" and full["storage"]["status"] == "full" and full["storage"]["lastFullAt"]

        # Login reads the password hash; only its refresh token cannot be kept.
        again = Api(live.api_url)
        login = again.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        assert login.status_code == 200, login.text
        assert login.json()["refreshToken"] is None and "aintandem_refresh_token" not in login.cookies
        assert again.get("/organizations").status_code == 200

        # The task ends while its end cannot be written: it waits for space, still `running` meanwhile.
        (project_folder(live, tree) / "hold").unlink()
        wait_for_health(admin, lambda body: body["storage"]["waitingWrites"] >= 1)
        assert admin.get(f"/projects/{pid}/tasks/{task_id}").json()["status"] == "running"

        filler.unlink()
        ended = receive_until(socket, "task_completed")[-1]
    assert ended["taskId"] == task_id and "finished" in ended["output"]
    task = wait_for_task(admin, pid, task_id)
    assert task["status"] == "completed" and task["terminalOutput"] == "started\nfinished\n"
    recovered = wait_for_health(admin, lambda body: body["storage"]["waitingWrites"] == 0)
    assert recovered["status"] == "ok" and recovered["storage"]["status"] == "ok"
    assert admin.post("/organizations", {"name": unique("Org"), "folderPath": unique("org")}).status_code == 201
    # The session made while the disk was full still ends at logout.
    assert again.post("/auth/logout").status_code == 200
    assert again.get("/organizations").status_code == 401

    gc.collect()
    unretrieved = [r for r in caplog.records if "never retrieved" in r.getMessage() and r.levelno >= logging.ERROR]
    assert not unretrieved
