"""GraphQL subscriptions through clients nobody here wrote: npm graphql-ws under Node, Python gql on both
WebSocket subprotocols, npm graphql-sse over Server-Sent Events, and urql with graphql-ws in headless
Chromium.

Each follows a project and a task, queues a bash task through a mutation, loses its connection in the
middle of the task's output, reconnects and resumes each stream with `after`. What it saw must be the
event log exactly (checked against the REST progress WebSocket, another layer): every event once, in
order, queued → started → output… → completed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from websockets.sync.client import connect

from schema.relay import global_id
from tests.conftest import Api, LiveServer, Tree, add_user, login_as, make_tree, start_server
from tests.test_sdk_tree import SDK_DIR, node_binary

LINES = 40
SCRIPT = f'for i in $(seq 1 {LINES}); do echo "line $i"; sleep 0.05; done'
EXPECTED_OUTPUT = "".join(f"line {i}\n" for i in range(1, LINES + 1))
SCENARIO = (SDK_DIR / "graphql_scenario.mjs").read_text()


def _document(name: str) -> str:
    """A GraphQL document of the shared scenario module, so every client sends the same operations."""
    start = SCENARIO.index(f"export const {name} = `") + len(f"export const {name} = `")
    return SCENARIO[start : SCENARIO.index("`;", start)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own whose sandboxes are local, so tasks start in milliseconds."""
    server = start_server(tmp_path_factory.mktemp("graphql-clients"), SANDBOX_BACKEND="local")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def owner(live: LiveServer) -> Api:
    admin = login_as(live, "admin", "admin-password-123")
    return add_user(live, admin)


@pytest.fixture
def sandboxed(owner: Api) -> Tree:
    """A fresh project with a running sandbox, so each client's log holds only its own task."""
    tree = make_tree(owner)
    assert owner.post("/flexy", {"projectId": tree.project["id"]}).status_code == 201
    return tree


def _log(live: LiveServer, user: Api, project_id: str, task_id: str) -> list[dict[str, Any]]:
    """The project's events from the REST progress WebSocket, from the start until the task ends."""
    url = f"{live.url.replace('http', 'ws')}/api/progress/subscribe/{project_id}?token={user.token}&after=0"
    events = []
    with connect(url, open_timeout=10) as socket:
        while True:
            event = json.loads(socket.recv(timeout=30))
            events.append(event)
            if event["type"] in ("task_completed", "task_failed", "task_cancelled") and event["taskId"] == task_id:
                return events


def check_report(live: LiveServer, user: Api, tree: Tree, report: dict[str, Any]) -> None:
    """What the client saw is the event log, once each, in order, across the reconnect."""
    log = _log(live, user, tree.project["id"], report["databaseId"])
    task_ids = [int(event["id"]) for event in report["task"]]
    assert task_ids == [event["eventId"] for event in log if event.get("taskId") == report["databaseId"]]
    types = [event["type"] for event in report["task"]]
    assert types[:2] == ["TASK_QUEUED", "TASK_STARTED"] and types[-1] == "TASK_COMPLETED", types
    assert set(types[2:-1]) == {"OUTPUT"}, types
    assert "".join(event["text"] for event in report["task"] if event["type"] == "OUTPUT") == EXPECTED_OUTPUT
    assert 0 < report["droppedAt"] < len(report["task"]) - 1, "the connection must drop in the middle"
    assert [int(event["id"]) for event in report["project"]] == [event["eventId"] for event in log]
    assert report["project"][-1]["task"] == report["taskId"] and report["project"][-1]["type"] == "TASK_COMPLETED"
    assert all(event["typename"] for event in report["project"])


def run_node_client(live: LiveServer, user: Api, tree: Tree, script: str) -> dict[str, Any]:
    project = global_id("Project", tree.project["id"])
    completed = subprocess.run(
        [node_binary(), script, live.url, user.token or "", project, SCRIPT],
        cwd=SDK_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_npm_graphql_ws_client_follows_a_task_across_a_reconnect(live: LiveServer, owner: Api, sandboxed: Tree) -> None:
    check_report(live, owner, sandboxed, run_node_client(live, owner, sandboxed, "graphql_ws_client.mjs"))


def test_npm_graphql_sse_client_follows_a_task_across_a_reconnect(
    live: LiveServer, owner: Api, sandboxed: Tree
) -> None:
    check_report(live, owner, sandboxed, run_node_client(live, owner, sandboxed, "graphql_sse_client.mjs"))


def test_urql_in_chromium_follows_a_task_across_a_reconnect(live: LiveServer, owner: Api, sandboxed: Tree) -> None:
    report = run_node_client(live, owner, sandboxed, "urql_browser.mjs")
    assert report["problems"] == [] and report["blocked"] == []
    check_report(live, owner, sandboxed, report)


async def _gql_scenario(live: LiveServer, user: Api, tree: Tree, subprotocol: str) -> dict[str, Any]:
    """The shared scenario, written with Python's gql client."""

    def session_of() -> Client:
        transport = WebsocketsTransport(
            url=live.url.replace("http", "ws") + "/graphql",
            init_payload={"authorization": f"Bearer {user.token}"},
            subprotocols=[subprotocol],
        )
        return Client(transport=transport, fetch_schema_from_transport=False)

    project = global_id("Project", tree.project["id"])
    project_events, task_events = _document("PROJECT_EVENTS"), _document("TASK_EVENTS")
    project_seen: list[dict[str, Any]] = []
    task_seen: list[dict[str, Any]] = []

    async def follow(
        session: Any, document: Any, variables: dict[str, Any], into: list[Any], field: str, stop: Any
    ) -> None:
        async for result in session.subscribe(GraphQLRequest(document, variable_values=variables)):
            into.append(result[field])
            if stop(result[field]):
                return

    def ends_task(task_id: str) -> Any:
        return lambda event: event["type"] == "TASK_COMPLETED" and (event.get("task") or {}).get("id") == task_id

    async with session_of() as session:
        following = asyncio.create_task(
            follow(
                session,
                project_events,
                {"projectId": project, "after": "0"},
                project_seen,
                "projectEvents",
                lambda _e: False,
            )
        )
        run = {"input": {"projectId": project, "title": "count", "prompt": SCRIPT, "taskType": "BASH"}}
        queued = await session.execute(GraphQLRequest(_document("EXECUTE"), variable_values=run))
        task = queued["executeAdhocTask"]["task"]
        outputs = 0

        def five_outputs(event: dict[str, Any]) -> bool:
            nonlocal outputs
            outputs += event["type"] == "OUTPUT"
            return outputs >= 5

        await follow(session, task_events, {"taskId": task["id"], "after": "0"}, task_seen, "taskEvents", five_outputs)
        dropped_at = len(task_seen)
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    async with session_of() as session:
        resumed = asyncio.create_task(
            follow(
                session,
                project_events,
                {"projectId": project, "after": project_seen[-1]["id"]},
                project_seen,
                "projectEvents",
                ends_task(task["id"]),
            )
        )
        variables = {"taskId": task["id"], "after": task_seen[-1]["id"]}
        await follow(session, task_events, variables, task_seen, "taskEvents", lambda e: e["type"] == "TASK_COMPLETED")
        await asyncio.wait_for(resumed, 30)
    shaped = [
        {
            "id": e["id"],
            "type": e["type"],
            "typename": e["__typename"],
            "text": e.get("text"),
            "task": (e.get("task") or {}).get("id"),
        }
        for e in project_seen
    ]
    return {
        "taskId": task["id"],
        "databaseId": task["databaseId"],
        "droppedAt": dropped_at,
        "task": [{"id": e["id"], "type": e["type"], "text": e.get("text")} for e in task_seen],
        "project": shaped,
    }


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
def test_python_gql_follows_a_task_across_a_reconnect(
    live: LiveServer, owner: Api, sandboxed: Tree, subprotocol: str
) -> None:
    report = asyncio.run(asyncio.wait_for(_gql_scenario(live, owner, sandboxed, subprotocol), 120))
    check_report(live, owner, sandboxed, report)


def test_scenario_documents_are_what_the_schema_serves() -> None:
    """The operations every client sends validate against the exported schema (a stale client fails here)."""
    from graphql import build_schema, parse, validate

    schema = build_schema((Path(__file__).parent.parent / "schema.graphql").read_text())
    for name in ("PROJECT_EVENTS", "TASK_EVENTS", "EXECUTE"):
        assert validate(schema, parse(_document(name))) == [], name


ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"


def test_graphiql_runs_a_query_and_a_subscription_with_the_outside_world_cut_off(
    live: LiveServer, owner: Api, sandboxed: Tree
) -> None:
    page = httpx.get(f"{live.url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "http" not in page.text.replace(live.url, ""), "the page names no outside URL"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "http" not in policy
    for asset in ("graphiql.js", "graphiql.css", "react.js", "react-dom.js", "graphql-ws.js", "init.js"):
        assert f"/graphql/assets/{asset}" in page.text
        assert httpx.get(f"{live.url}/graphql/assets/{asset}").status_code == 200
    assert httpx.get(f"{live.url}/graphql/assets/..%2Fpackage.json").status_code == 404

    screenshot = ARTIFACTS / "graphiql.png"
    project = global_id("Project", sandboxed.project["id"])
    completed = subprocess.run(
        [node_binary(), "graphiql_browser.mjs", live.url, owner.token or "", project, str(screenshot)],
        cwd=SDK_DIR,
        env={**os.environ, "PROJECT_DATABASE_ID": sandboxed.project["id"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["queryResult"] == {"data": {"me": {"username": owner.username}}}
    assert {"TASK_COMPLETED", "text:hello from graphiql"} <= set(report["shown"]), (report["problems"], report["last"])
    assert report["blocked"] == [] and report["problems"] == [], report
    assert screenshot.stat().st_size > 10_000
