"""End to end: the published SDK with an agent task. Its task calls, `subscribeToTask` and the task shape it
reads are what they are for a bash task; the typed agent events pass it by; `captureTaskDialog` continues the
task's conversation and answers the SDK's AsyncOperationResponse."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.agent_support import fake_agents
from tests.conftest import Api, LiveServer
from tests.test_sdk_tree import SDK_DIR, node_binary, run_script
from tests.test_tasks import sandbox_project


def test_the_sdk_runs_an_agent_task_and_continues_it(
    sandbox_server: LiveServer, make_sandbox_user: Callable[[], Api]
) -> None:
    user = make_sandbox_user()
    project = sandbox_project(sandbox_server, user)
    with fake_agents(sandbox_server, project.folder):
        result = run_script(
            node_binary(),
            sandbox_server,
            user,
            uuid.uuid4().hex[:10],
            SDK_DIR / "agent_tasks.mjs",
            PROJECT_ID=project.id,
        )
    expected = ["task_queued", "task_started", "task_completed"]
    assert result["seen"] == expected * 2, "the project's task_* events of both tasks, nothing else"
    assert result["eventTypes"][-1] == "task_completed" and set(result["eventTypes"]) <= set(expected)
    assert "hello from the agent" in result["completed"]["output"]
    task = result["task"]
    assert (task["status"], task["taskType"], task["isAdhoc"]) == ("completed", "claude", True)
    assert "hello from the agent" in task["result"] and task["artifacts"][0]["path"] == "sdk.txt"
    assert task["sessionId"] and task["usage"]["totalTokens"] > 0
    assert [listed["id"] for listed in result["history"]] == [result["taskId"]], "a bare array, as the SDK reads it"
    dialog = result["dialog"]
    assert dialog["status"] == "queued" and dialog["parentTaskId"] == result["taskId"]
    assert result["followUpEventTypes"][-1] == "task_completed"
    follow_up = result["followUp"]
    assert follow_up["sessionId"] == task["sessionId"] and follow_up["prompt"] == "!say and once more"
    assert "and once more" in result["followUpCompleted"]["output"]
