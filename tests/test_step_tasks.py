"""Workflow-step tasks (operations 39 and 45) on both backends: they run as qwen tasks and report their
step's progress; an unknown step is refused and nothing is queued."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from websockets.sync.client import connect

from tests.conftest import Api, LiveServer
from tests.test_executions import bash_step, published_workflow
from tests.test_progress import progress_url, receive_until, wait_for_subscribers
from tests.test_tasks import Project, install_fake_cli, sandbox_project, task_settings, wait_for_task


@pytest.fixture
def step_project(sandbox_server: LiveServer, sandbox_owner: Api) -> Project:
    return sandbox_project(sandbox_server, sandbox_owner)


def test_a_step_task_with_its_own_prompt(sandbox_server: LiveServer, sandbox_owner: Api, step_project: Project) -> None:
    with task_settings(sandbox_server, **install_fake_cli(sandbox_server, step_project.folder, "qwen")):
        with connect(progress_url(sandbox_server, step_project.id, sandbox_owner.token)) as socket:
            wait_for_subscribers(sandbox_server, 1)
            response = sandbox_owner.post(
                f"/projects/{step_project.id}/tasks", {"stepId": "requirements", "prompt": "list the needs"}
            )
            assert response.status_code == 201, response.text
            task_id = response.json()["taskId"]
            events = [e for e in receive_until(socket, "task_completed") if e.get("taskId") == task_id]
        task = wait_for_task(sandbox_owner, step_project.id, task_id)
    assert task["status"] == "completed" and task["stepId"] == "requirements" and task["isAdhoc"] is False
    assert task["taskType"] == "qwen" and "list the needs" in task["result"]
    progress = [(e["status"], e["progress"]) for e in events if e["type"] == "step_progress"]
    assert progress == [("running", 0), ("completed", 100)]
    assert all(e["stepId"] == "requirements" for e in events if e["type"] == "step_progress")
    listed = sandbox_owner.get(f"/projects/{step_project.id}/tasks?type=workflow")
    assert [t["id"] for t in listed.json()] == [task_id] and listed.headers["X-Total-Count"] == "1"


def test_running_a_workflow_step_uses_the_steps_prompt(
    sandbox_server: LiveServer, sandbox_owner: Api, step_project: Project
) -> None:
    with task_settings(sandbox_server, **install_fake_cli(sandbox_server, step_project.folder, "qwen")):
        response = sandbox_owner.post(
            f"/projects/{step_project.id}/workflow/steps/qa-cicd/execute", {"additionalInput": "use the nightly runner"}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["stepId"] == "qa-cicd" and body["message"]
        task = wait_for_task(sandbox_owner, step_project.id, body["taskId"])
    assert task["status"] == "completed" and task["title"] == "Qa cicd"
    assert task["prompt"].startswith("Automated QA, step 'Qa cicd'") and task["prompt"].endswith(
        "use the nightly runner"
    )
    assert [a["path"] for a in task["artifacts"]] == ["qwen-output.md"]


def test_a_failing_step_task_reports_the_step_failed(
    sandbox_server: LiveServer, sandbox_owner: Api, step_project: Project
) -> None:
    with (
        task_settings(sandbox_server, task_command_qwen="sh -c {prompt}"),
        connect(progress_url(sandbox_server, step_project.id, sandbox_owner.token)) as socket,
    ):
        wait_for_subscribers(sandbox_server, 1)
        task_id = sandbox_owner.post(
            f"/projects/{step_project.id}/tasks", {"stepId": "design", "prompt": "exit 3"}
        ).json()["taskId"]
        events = receive_until(socket, "task_failed")
    steps = [
        json.dumps([e["status"], e["stepId"]])
        for e in events
        if e["type"] == "step_progress" and e["taskId"] == task_id
    ]
    assert steps == [json.dumps(["running", "design"]), json.dumps(["failed", "design"])]
    assert wait_for_task(sandbox_owner, step_project.id, task_id)["status"] == "failed"


def test_unknown_steps_and_bad_bodies_are_refused(sandbox_owner: Api, step_project: Project) -> None:
    cases = [
        ("POST", f"/projects/{step_project.id}/tasks", {"stepId": "no-such-step", "prompt": "x"}, 400, "stepId"),
        ("POST", f"/projects/{step_project.id}/tasks", {"prompt": "x"}, 400, "stepId"),
        ("POST", f"/projects/{step_project.id}/tasks", {"stepId": "design", "prompt": ""}, 400, "prompt"),
        (
            "POST",
            f"/projects/{step_project.id}/tasks",
            {"stepId": "design", "prompt": "x", "parameters": "no"},
            400,
            "parameters",
        ),
        ("POST", f"/projects/{step_project.id}/workflow/steps/no-such-step/execute", {}, 400, "stepId"),
        (
            "POST",
            f"/projects/{step_project.id}/workflow/steps/design/execute",
            {"additionalInput": 5},
            400,
            "additionalInput",
        ),
    ]
    for method, path, body, status, field in cases:
        response = sandbox_owner.request(method, path, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert response.json()["details"]["field"] == field
    assert sandbox_owner.get(f"/projects/{step_project.id}/tasks").json() == []


def test_another_user_cannot_run_steps(
    sandbox_owner: Api, step_project: Project, make_sandbox_user: Callable[[], Api]
) -> None:
    other = make_sandbox_user()
    assert other.post(f"/projects/{step_project.id}/tasks", {"stepId": "design", "prompt": "x"}).status_code == 404
    assert other.post(f"/projects/{step_project.id}/workflow/steps/design/execute", {}).status_code == 404
    assert sandbox_owner.get(f"/projects/{step_project.id}/tasks").json() == []


def test_steps_come_from_the_workflow_the_project_is_bound_to(
    sandbox_server: LiveServer, sandbox_owner: Api, step_project: Project
) -> None:
    definition = {
        "phases": [{"id": "ship", "title": "Ship", "steps": [bash_step("package", "echo packaging $0 > pkg.txt")]}]
    }
    workflow = published_workflow(sandbox_owner, definition)
    bound = sandbox_owner.put(f"/projects/{step_project.id}", {"workflowId": workflow["id"]})
    assert bound.status_code == 200, bound.text
    body = sandbox_owner.post(f"/projects/{step_project.id}/workflow/steps/package/execute", {}).json()
    task = wait_for_task(sandbox_owner, step_project.id, body["taskId"])
    assert (task["status"], task["taskType"], task["title"], task["stepId"]) == (
        "completed",
        "bash",
        "PACKAGE",
        "package",
    )
    assert (step_project.folder / "pkg.txt").read_text().startswith("packaging")
    refused = sandbox_owner.post(f"/projects/{step_project.id}/tasks", {"stepId": "design", "prompt": "x"})
    assert refused.status_code == 400 and "project's workflow" in refused.json()["message"]
