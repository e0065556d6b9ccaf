"""End to end: the published SDK's sandbox service and its ProgressClient against the live server."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.conftest import Api, LiveServer
from tests.test_sdk_tree import SDK_DIR, node_binary, run_script


def test_sdk_drives_a_sandbox_and_receives_its_events(
    sandbox_server: LiveServer, make_sandbox_user: Callable[[], Api]
) -> None:
    user, other = make_sandbox_user(), make_sandbox_user()
    result = run_script(
        node_binary(),
        sandbox_server,
        user,
        uuid.uuid4().hex[:10],
        SDK_DIR / "sandboxes.mjs",
        OTHER_TOKEN=other.token or "",
    )
    assert result["refusedWith"] == 4404
    types = result["eventTypes"]
    assert types[:2] == ["sandbox_created", "sandbox_started"]
    assert "sandbox_stopped" in types and types.count("sandbox_started") >= 2
    assert user.get(f"/flexy/{result['sandboxId']}").status_code == 404, "the SDK deleted it"
