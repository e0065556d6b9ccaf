"""The README's GraphQL subscription example, run as printed with the npm graphql-ws client."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from schema.relay import global_id
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, LiveServer, login_as, make_tree, start_server
from tests.test_sdk_tree import SDK_DIR, node_binary

README = Path(__file__).parent.parent / "README.md"
MARKER = "<!-- graphql-ws example"


def readme_example() -> str:
    text = README.read_text()
    after_marker = text[text.index(MARKER) :]
    start = after_marker.index("```js\n") + len("```js\n")
    return after_marker[start : after_marker.index("```", start)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("readme"), SANDBOX_BACKEND="local")
    yield server
    server.stop()


def test_the_graphql_ws_example_follows_a_task_to_its_end(live: LiveServer) -> None:
    admin = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    tree = make_tree(admin)
    assert admin.post("/flexy", {"projectId": tree.project["id"]}).status_code == 201
    queued = admin.post(
        f"/projects/{tree.project['id']}/tasks/adhoc",
        {"title": "readme", "prompt": "echo from the readme", "taskType": "bash"},
    )
    assert queued.status_code == 201, queued.text
    env = {
        **os.environ,
        "TOKEN": admin.token or "",
        "PROJECT_ID": global_id("Project", tree.project["id"]),
        "GRAPHQL_WS_URL": live.url.replace("http", "ws") + "/graphql",
    }
    completed = subprocess.run(
        [node_binary(), "--input-type=module", "--eval", readme_example()],
        cwd=SDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    types = [line.split()[1] for line in lines]
    assert types[0] == "SANDBOX_CREATED" and types[-1] == "TASK_COMPLETED", lines
    assert {"TASK_QUEUED", "TASK_STARTED", "OUTPUT"} <= set(types)
    assert any(line.endswith("from the readme") for line in lines if " OUTPUT " in line)
