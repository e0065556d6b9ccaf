"""Executions across a restart: a running one continues from the step it was on (that step runs again as a
new task, since its task died with the server); a paused one stays paused and resumes later."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from resolvers.task_scheduler import INTERRUPTED
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, LiveServer, login_as, make_tree
from tests.test_executions import (
    act,
    bash_step,
    create_execution,
    execution,
    published_workflow,
    steps_of,
    wait_for_execution,
    wait_for_step_task,
)
from tests.test_flexy import create_sandbox
from tests.test_task_restart import ENV, ServerProcess, server_process  # noqa: F401 - the fixture
from tests.test_tasks import wait_for_task

TWO_STEPS = {
    "phases": [
        {
            "id": "one",
            "steps": [bash_step("first", "echo first-begun >> log.txt; sleep 4; echo first-done >> log.txt")],
        },
        {"id": "two", "steps": [bash_step("second", "echo second >> log.txt")]},
    ]
}


def test_a_running_execution_continues_from_its_step_after_a_crash(
    server_process: ServerProcess,  # noqa: F811
    fresh_server: Callable[..., LiveServer],
) -> None:
    api = server_process.api
    tree = make_tree(api)
    project_id = tree.project["id"]
    create_sandbox(api, project_id)
    execution_id = create_execution(api, published_workflow(api, TWO_STEPS)["id"], project_id)
    act(api, execution_id, "start")
    killed_task = wait_for_step_task(api, execution_id, "first")
    wait_for_task(api, project_id, killed_task, ("running",))
    server_process.process.kill()
    server_process.process.wait(timeout=10)

    restarted = fresh_server(server_process.data_dir, **ENV)
    again = login_as(restarted, ADMIN_USERNAME, ADMIN_PASSWORD)
    done = wait_for_execution(again, execution_id)
    assert done["status"] == "completed", done
    steps = steps_of(done)
    assert steps["first"]["taskId"] != killed_task and steps["first"]["status"] == "completed"
    crashed = again.get(f"/projects/{project_id}/tasks/{killed_task}").json()
    assert (crashed["status"], crashed["error"], crashed["executionId"]) == ("failed", INTERRUPTED, execution_id)
    folder = (
        restarted.settings.base_root
        / tree.org["folderPath"]
        / tree.workspace["folderPath"]
        / tree.project["folderPath"]
    )
    lines = (folder / "log.txt").read_text().splitlines()
    assert lines[-3:] == ["first-begun", "first-done", "second"], lines


def test_a_paused_execution_stays_paused_across_a_clean_restart(
    fresh_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    live = fresh_server(tmp_path / "paused", **ENV)
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    project_id = make_tree(api).project["id"]
    create_sandbox(api, project_id)
    quick = {"phases": [{"id": "a", "steps": [bash_step("x", "echo x"), bash_step("y", "echo y")]}]}
    execution_id = create_execution(api, published_workflow(api, quick)["id"], project_id)
    act(api, execution_id, "start")
    act(api, execution_id, "pause")
    time.sleep(1)
    live.stop()

    restarted = fresh_server(tmp_path / "paused", **ENV)
    again = login_as(restarted, ADMIN_USERNAME, ADMIN_PASSWORD)
    time.sleep(1)
    paused = execution(again, execution_id)
    assert paused["status"] == "paused" and "pending" in [s["status"] for s in steps_of(paused).values()]
    act(again, execution_id, "resume")
    assert wait_for_execution(again, execution_id)["status"] == "completed"
