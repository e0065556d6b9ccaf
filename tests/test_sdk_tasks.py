"""End to end: the published SDK's task service and `subscribeToTask` against the live server."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.conftest import Api, LiveServer
from tests.test_sdk_tree import SDK_DIR, node_binary, run_script


def test_sdk_runs_a_task_and_receives_its_events(
    sandbox_server: LiveServer, make_sandbox_user: Callable[[], Api]
) -> None:
    user = make_sandbox_user()
    result = run_script(node_binary(), sandbox_server, user, uuid.uuid4().hex[:10], SDK_DIR / "tasks.mjs")
    types = result["eventTypes"]
    assert types[:3] == ["task_queued", "task_started", "task_completed"], types
    assert result["completedWith"]["taskId"] == result["taskId"] and "from the sdk" in result["completedWith"]["output"]
    assert result["task"]["artifacts"][0]["path"] == "sdk.txt"
    assert result["queue"]["running"] == 1 and result["queue"]["projectId"] == result["projectId"]
    assert result["cancelledStatus"] == "cancelled"
    assert result["limit"]["sandboxId"] and result["limit"]["message"]
