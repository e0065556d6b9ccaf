"""Workflow executions (operations 31-37) running as tasks, on the real Docker engine and locally.

Each test drives a real server (`sandbox_server`, docker and local) over REST and reads the steps' effects
in the project folder, the step tasks' records and the project's event stream."""

from __future__ import annotations

import json
import time
from typing import Any

from websockets.sync.client import connect

from tests.conftest import Api, LiveServer
from tests.test_progress import progress_url
from tests.test_tasks import Project, sandbox_project, wait_for_task

ENDS = ("completed", "failed", "cancelled")
EXECUTION_KEYS = {
    "id", "workflowId", "workflowName", "projectId", "userId", "status", "phases", "currentPhase", "totalPhases",
    "progress", "startTime", "metadata", "createdAt",
}  # fmt: skip
"""Besides these, `endTime`, `duration` and `error` once they have a value (absent, never null, before)."""
PHASE_KEYS = {
    "id", "phaseId", "name", "description", "status", "steps", "currentStep", "progress", "startTime", "endTime",
    "duration", "error", "outputSummary",
}  # fmt: skip
STEP_KEYS = {
    "id", "stepId", "name", "description", "status", "taskId", "startTime", "endTime", "duration", "output", "error",
}  # fmt: skip


def bash_step(step_id: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "title": step_id.upper(), "type": "process", "taskType": "bash", "prompt": script, **extra}


def three_phases(tag: str = "v1") -> dict[str, Any]:
    """Three phases of bash steps that append to `order.txt`, with one step that has nothing to run."""
    return {
        "phases": [
            {
                "id": "prototype",
                "title": "Rapid prototyping",
                "steps": [
                    bash_step("p1", f'echo "p1 {tag} $GREETING" >> order.txt'),
                    {"id": "review", "title": "Review", "type": "milestone"},
                    bash_step("p2", f"echo p2 {tag} >> order.txt"),
                ],
            },
            {"id": "qa", "title": "Automated QA", "steps": [bash_step("q1", f"echo q1 {tag} >> order.txt")]},
            {"id": "optimize", "title": "Optimization", "steps": [bash_step("o1", f"echo o1 {tag} >> order.txt")]},
        ],
        "transitions": [
            {"from": "prototype", "to": "qa", "type": "forward"},
            {"from": "qa", "to": "optimize", "type": "forward"},
            {"from": "optimize", "to": "prototype", "type": "feedback", "label": "Feedback Loop"},
        ],
    }


def published_workflow(api: Api, definition: dict[str, Any], name: str = "Flow") -> dict[str, Any]:
    workflow = api.create("/workflows", {"name": name, "description": "runs as tasks", "definition": definition})
    response = api.patch(f"/workflows/{workflow['id']}/status", {"status": "published"})
    assert response.status_code == 200, response.text
    return response.json()


def create_execution(api: Api, workflow_id: str, project_id: str, **metadata: Any) -> str:
    body: dict[str, Any] = {"projectId": project_id}
    if metadata:
        body["metadata"] = metadata
    response = api.post(f"/workflows/{workflow_id}/executions", body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "pending" and answer["message"]
    return answer["executionId"]


def act(api: Api, execution_id: str, action: str, status: int = 200) -> dict[str, Any]:
    response = api.post(f"/workflows/executions/{execution_id}/{action}")
    assert response.status_code == status, response.text
    return response.json()


def execution(api: Api, execution_id: str) -> dict[str, Any]:
    response = api.get(f"/workflows/executions/{execution_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_execution(
    api: Api, execution_id: str, statuses: tuple[str, ...] = ENDS, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = execution(api, execution_id)
        if found["status"] in statuses:
            return found
        assert time.monotonic() < deadline, f"execution {execution_id} stayed {found['status']}"
        time.sleep(0.05)


def wait_for_step_task(api: Api, execution_id: str, step_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        steps = {step["stepId"]: step for phase in execution(api, execution_id)["phases"] for step in phase["steps"]}
        if steps[step_id].get("taskId"):
            return steps[step_id]["taskId"]
        assert time.monotonic() < deadline, f"step {step_id} never got a task"
        time.sleep(0.05)


def project_events(server: LiveServer, api: Api, project_id: str) -> list[dict[str, Any]]:
    """Every event the project's stream holds so far, replayed from the start."""
    with connect(progress_url(server, project_id, api.token, after=0)) as socket:
        events = []
        while True:
            try:
                events.append(json.loads(socket.recv(timeout=1)))
            except TimeoutError:
                return events


def steps_of(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["stepId"]: step for phase in found["phases"] for step in phase["steps"]}


def test_three_phases_of_bash_steps_run_in_order_and_complete(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    workflow = published_workflow(sandbox_owner, three_phases())
    execution_id = create_execution(
        sandbox_owner, workflow["id"], project.id, inputParameters={"GREETING": "hi there"}, triggeredBy="manual"
    )
    pending = execution(sandbox_owner, execution_id)
    assert set(pending) == EXECUTION_KEYS
    # Not started yet: its start is when it was created (the SDK types `startTime` as always there).
    assert (pending["status"], pending["startTime"], pending["totalPhases"]) == ("pending", pending["createdAt"], 3)
    assert pending["metadata"]["workflowVersion"] == 1 and pending["metadata"]["triggeredBy"] == "manual"
    assert pending["progress"] == {"message": "Waiting to be started", "percentage": 0, "total": 5, "current": 0}

    assert act(sandbox_owner, execution_id, "start")["message"]
    done = wait_for_execution(sandbox_owner, execution_id)

    assert done["status"] == "completed", done
    assert (project.folder / "order.txt").read_text().splitlines() == [
        "p1 v1 hi there",
        "p2 v1",
        "q1 v1",
        "o1 v1",
    ]
    assert done["progress"]["percentage"] == 100 and done["progress"]["current"] == 5
    assert done["endTime"] >= done["startTime"] and done["duration"] >= 0 and "error" not in done
    assert done["currentPhase"] == 2
    for phase in done["phases"]:
        assert set(phase) == PHASE_KEYS - {"error", "description"} and phase["status"] == "completed"
        assert phase["duration"] >= 0  # `error` absent (it did not fail), `description` too (it has none)
        assert phase["progress"]["percentage"] == 100
        for step in phase["steps"]:
            assert set(step) <= STEP_KEYS and None not in step.values()
    steps = steps_of(done)
    assert steps["review"]["status"] == "skipped" and "taskId" not in steps["review"]
    tasks = {}
    for step_id in ("p1", "p2", "q1", "o1"):
        step = steps[step_id]
        assert step["status"] == "completed" and step["duration"] >= 0, step
        task = sandbox_owner.get(f"/projects/{project.id}/tasks/{step['taskId']}").json()
        assert (task["status"], task["stepId"], task["isAdhoc"], task["executionId"]) == (
            "completed",
            step_id,
            False,
            execution_id,
        )
        assert task["taskType"] == "bash" and task["parameters"] == {"GREETING": "hi there"}
        tasks[step_id] = task
    assert [tasks[s]["startTime"] for s in ("p1", "p2", "q1", "o1")] == sorted(
        tasks[s]["startTime"] for s in ("p1", "p2", "q1", "o1")
    )
    assert all(tasks[a]["endTime"] <= tasks[b]["startTime"] for a, b in (("p1", "p2"), ("p2", "q1"), ("q1", "o1")))

    events = [e for e in project_events(sandbox_server, sandbox_owner, project.id) if e.get("executionId")]
    flow = [(e["type"], e.get("phaseId")) for e in events if e["type"].startswith("workflow_")]
    assert flow == [
        ("workflow_execution_created", None),
        ("workflow_execution_started", None),
        ("workflow_phase_started", "prototype"),
        ("workflow_phase_completed", "prototype"),
        ("workflow_phase_started", "qa"),
        ("workflow_phase_completed", "qa"),
        ("workflow_phase_started", "optimize"),
        ("workflow_phase_completed", "optimize"),
        ("workflow_execution_completed", None),
    ]
    assert all(e["workflowId"] == workflow["id"] for e in events if e["type"].startswith("workflow_"))
    assert events[0]["input"] == {"GREETING": "hi there"}
    assert events[-1]["duration"] >= 0 and "4 of 5 steps completed" in events[-1]["output"]
    started = [e for e in events if e["type"] == "workflow_phase_started"]
    assert [e["phase"] for e in started] == ["Rapid prototyping", "Automated QA", "Optimization"]
    task_ends = [e["taskId"] for e in events if e["type"] == "task_completed"]
    assert task_ends == [tasks[s]["id"] for s in ("p1", "p2", "q1", "o1")]
    step_runs = ["task_queued", "task_started", "task_completed"]
    interleaved = [e["type"] for e in events if e["type"] in step_runs or e["type"].startswith("workflow_phase")]
    assert interleaved == [
        "workflow_phase_started", *step_runs, *step_runs, "workflow_phase_completed",
        "workflow_phase_started", *step_runs, "workflow_phase_completed",
        "workflow_phase_started", *step_runs, "workflow_phase_completed",
    ]  # fmt: skip

    listed = sandbox_owner.get(f"/workflows/projects/{project.id}/executions", params={"status": "completed"})
    assert [e["id"] for e in listed.json()["executions"]] == [execution_id]
    assert sandbox_owner.get(f"/workflows/projects/{project.id}/executions?status=running").json() == {"executions": []}
    step = sandbox_owner.get(f"/workflows/executions/{execution_id}/steps/q1").json()
    assert (step["taskId"], step["phaseId"], step["status"], step.get("error")) == (
        tasks["q1"]["id"],
        "qa",
        "completed",
        None,
    )


def test_pause_waits_for_the_running_step_and_resume_goes_on(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    definition = {
        "phases": [
            {
                "id": "only",
                "steps": [
                    bash_step("slow", "sleep 2; echo slow >> order.txt"),
                    bash_step("next", "echo next >> order.txt"),
                ],
            }
        ]
    }
    execution_id = create_execution(sandbox_owner, published_workflow(sandbox_owner, definition)["id"], project.id)
    act(sandbox_owner, execution_id, "start")
    slow_task = wait_for_step_task(sandbox_owner, execution_id, "slow")
    wait_for_task(sandbox_owner, project.id, slow_task, ("running",))
    assert act(sandbox_owner, execution_id, "pause")["status"] == "paused"
    pausing = execution(sandbox_owner, execution_id)
    assert pausing["progress"]["message"].startswith("Pausing after step 'SLOW'")
    assert act(sandbox_owner, execution_id, "pause", 400)["code"] == "INVALID_STATUS"

    assert wait_for_task(sandbox_owner, project.id, slow_task)["status"] == "completed"
    time.sleep(1.5)
    paused = execution(sandbox_owner, execution_id)
    assert paused["status"] == "paused"
    assert [s["status"] for s in paused["phases"][0]["steps"]] == ["completed", "pending"]
    assert "taskId" not in steps_of(paused)["next"]
    assert paused["progress"]["message"] == "Paused before step 'NEXT' of phase 'only'"
    assert paused["progress"]["percentage"] == 50
    assert (project.folder / "order.txt").read_text() == "slow\n"

    assert act(sandbox_owner, execution_id, "resume")["status"] == "running"
    assert act(sandbox_owner, execution_id, "resume", 400)["code"] in ("INVALID_STATUS",)
    done = wait_for_execution(sandbox_owner, execution_id)
    assert done["status"] == "completed"
    assert (project.folder / "order.txt").read_text() == "slow\nnext\n"
    types = [e["type"] for e in project_events(sandbox_server, sandbox_owner, project.id)]
    assert types.index("workflow_execution_paused") < types.index("workflow_execution_resumed")
    workflow_types = [t for t in types if t.startswith("workflow_execution")]
    assert workflow_types[-3:] == [
        "workflow_execution_paused",
        "workflow_execution_resumed",
        "workflow_execution_completed",
    ]


def test_cancel_during_a_running_step_cancels_its_task(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    definition = {
        "phases": [
            {"id": "a", "steps": [bash_step("long", "echo begun; sleep 30; echo never >> order.txt")]},
            {"id": "b", "steps": [bash_step("after", "echo after >> order.txt")]},
        ]
    }
    execution_id = create_execution(sandbox_owner, published_workflow(sandbox_owner, definition)["id"], project.id)
    act(sandbox_owner, execution_id, "start")
    task_id = wait_for_step_task(sandbox_owner, execution_id, "long")
    wait_for_task(sandbox_owner, project.id, task_id, ("running",))
    started = time.monotonic()
    assert act(sandbox_owner, execution_id, "cancel")["status"] == "cancelled"
    task = wait_for_task(sandbox_owner, project.id, task_id)
    assert task["status"] == "cancelled" and time.monotonic() - started < 10
    cancelled = execution(sandbox_owner, execution_id)
    assert cancelled["status"] == "cancelled" and cancelled["endTime"] is not None
    steps = steps_of(cancelled)
    assert steps["long"]["status"] == "failed" and steps["long"]["error"] == "Cancelled with the execution"
    assert steps["after"]["status"] == "pending" and cancelled["phases"][1]["status"] == "pending"
    time.sleep(1)
    assert not (project.folder / "order.txt").exists()
    assert "taskId" not in steps_of(execution(sandbox_owner, execution_id))["after"]
    for action in ("start", "pause", "resume", "cancel"):
        assert act(sandbox_owner, execution_id, action, 400)["code"] == "INVALID_STATUS"
    types = [e["type"] for e in project_events(sandbox_server, sandbox_owner, project.id)]
    assert "workflow_execution_cancelled" in types and "workflow_execution_completed" not in types


def test_a_failing_step_fails_its_phase_and_the_execution(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    definition = {
        "phases": [
            {
                "id": "build",
                "title": "Build",
                "steps": [
                    bash_step("ok", "echo ok >> order.txt"),
                    bash_step("broken", "echo compiler exploded >&2; exit 3"),
                    bash_step("never", "echo never >> order.txt"),
                ],
            },
            {"id": "ship", "steps": [bash_step("deploy", "echo deploy >> order.txt")]},
        ]
    }
    execution_id = create_execution(sandbox_owner, published_workflow(sandbox_owner, definition)["id"], project.id)
    act(sandbox_owner, execution_id, "start")
    failed = wait_for_execution(sandbox_owner, execution_id)
    assert failed["status"] == "failed"
    assert failed["error"] == "Step 'BROKEN' failed: The command exited with code 3: compiler exploded"
    steps = steps_of(failed)
    assert [steps[s]["status"] for s in ("ok", "broken", "never", "deploy")] == [
        "completed",
        "failed",
        "pending",
        "pending",
    ]
    assert "compiler exploded" in steps["broken"]["error"] and "compiler exploded" in steps["broken"]["output"]
    assert failed["phases"][0]["status"] == "failed" and failed["phases"][0]["error"] == failed["error"]
    assert failed["phases"][1]["status"] == "pending"
    assert failed["progress"]["message"] == f"Failed: {failed['error']}"
    assert (project.folder / "order.txt").read_text() == "ok\n"
    events = project_events(sandbox_server, sandbox_owner, project.id)
    last = [e for e in events if e["type"].startswith("workflow_")][-1]
    assert (last["type"], last["error"]) == ("workflow_execution_failed", failed["error"])


def test_an_execution_keeps_the_version_it_started_with(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    first = {"phases": [{"id": "a", "steps": [bash_step("s", "sleep 2; echo v1 >> order.txt"), bash_step("t", "echo v1 >> order.txt")]}]}  # fmt: skip
    workflow = published_workflow(sandbox_owner, first)
    old = create_execution(sandbox_owner, workflow["id"], project.id)
    act(sandbox_owner, old, "start")
    wait_for_step_task(sandbox_owner, old, "s")

    second = {"phases": [{"id": "a", "steps": [bash_step("s", "echo v2 >> order.txt"), bash_step("t", "echo v2 >> order.txt")]}]}  # fmt: skip
    response = sandbox_owner.put(f"/workflows/{workflow['id']}", {"definition": second, "changeDescription": "v2"})
    assert response.status_code == 200 and response.json()["version"] == 2
    assert wait_for_execution(sandbox_owner, old)["status"] == "completed"
    assert (project.folder / "order.txt").read_text() == "v1\nv1\n"
    assert execution(sandbox_owner, old)["metadata"]["workflowVersion"] == 1

    new = create_execution(sandbox_owner, workflow["id"], project.id)
    pinned = create_execution(sandbox_owner, workflow["id"], project.id, workflowVersion=1)
    assert execution(sandbox_owner, new)["metadata"]["workflowVersion"] == 2
    assert execution(sandbox_owner, pinned)["metadata"]["workflowVersion"] == 1
    act(sandbox_owner, new, "start")
    assert wait_for_execution(sandbox_owner, new)["status"] == "completed"
    act(sandbox_owner, pinned, "start")
    assert wait_for_execution(sandbox_owner, pinned)["status"] == "completed"
    assert (project.folder / "order.txt").read_text() == "v1\nv1\nv2\nv2\nv1\nv1\n"


def test_a_workflow_with_a_running_execution_cannot_be_deleted(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project: Project = sandbox_project(sandbox_server, sandbox_owner)
    workflow = published_workflow(sandbox_owner, {"phases": [{"id": "a", "steps": [bash_step("s", "sleep 30")]}]})
    execution_id = create_execution(sandbox_owner, workflow["id"], project.id)
    act(sandbox_owner, execution_id, "start")
    refused = sandbox_owner.delete(f"/workflows/{workflow['id']}")
    assert refused.status_code == 409 and refused.json()["code"] == "WORKFLOW_IN_USE"
    act(sandbox_owner, execution_id, "cancel")
    assert sandbox_owner.delete(f"/workflows/{workflow['id']}").status_code == 204
    kept = execution(sandbox_owner, execution_id)
    assert (kept["status"], kept["workflowId"], kept["workflowName"]) == ("cancelled", workflow["id"], "Flow")


def test_a_step_that_cannot_start_fails_the_execution(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    project = sandbox_project(sandbox_server, sandbox_owner)
    definition = {"phases": [{"id": "a", "steps": [bash_step("one", "sleep 1"), bash_step("two", "echo two")]}]}
    execution_id = create_execution(sandbox_owner, published_workflow(sandbox_owner, definition)["id"], project.id)
    act(sandbox_owner, execution_id, "start")
    wait_for_step_task(sandbox_owner, execution_id, "one")
    act(sandbox_owner, execution_id, "pause")
    wait_for_execution(sandbox_owner, execution_id, ("paused",))
    deadline = time.monotonic() + 30
    while steps_of(execution(sandbox_owner, execution_id))["one"]["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sandbox_owner.delete(f"/flexy/{project.sandbox['id']}").status_code == 204
    act(sandbox_owner, execution_id, "resume")
    failed = wait_for_execution(sandbox_owner, execution_id)
    assert failed["status"] == "failed" and "could not start" in failed["error"], failed
    two = steps_of(failed)["two"]
    assert (two["status"], two.get("taskId")) == ("failed", None) and "no sandbox" in two["error"]
