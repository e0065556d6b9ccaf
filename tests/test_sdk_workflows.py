"""End to end: the published SDK's workflow service and `subscribeToWorkflow` against the live server."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.conftest import Api, LiveServer
from tests.test_sdk_tree import SDK_DIR, node_binary, run_script


def test_sdk_runs_a_workflow_and_receives_its_events(
    sandbox_server: LiveServer, make_sandbox_user: Callable[[], Api]
) -> None:
    user = make_sandbox_user()
    suffix = uuid.uuid4().hex[:10]
    result = run_script(node_binary(), sandbox_server, user, suffix, SDK_DIR / "workflows.mjs")
    assert result["eventTypes"] == [
        ["workflow_execution_started", None],
        *[[f"workflow_phase_{end}", p] for p in ("prototype", "qa", "optimize") for end in ("started", "completed")],
        ["workflow_execution_completed", None],
    ]
    done = result["done"]
    assert done["status"] == "completed" and done["metadata"]["workflowVersion"] == 1
    assert [step["status"] for phase in done["phases"] for step in phase["steps"]] == ["completed"] * 3
    assert result["stepExecution"]["stepId"] == "test" and result["stepExecution"]["status"] == "completed"
    assert result["executionId"] in result["forWorkflow"]
    assert result["transitions"] == ["paused", "running", "cancelled", "cancelled"]
    written = sandbox_server.settings.base_root / f"sdk-flow-{suffix}" / "w" / "p" / "sdk-flow.txt"
    assert written.read_text().splitlines()[:3] == ["build v1", "test v1", "ship v1"], "version 1 was pinned"
