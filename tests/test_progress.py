"""Live progress: the contract's progress WebSocket and the GraphQL subscriptions, over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Api, LiveServer, Tree, make_tree
from tests.test_flexy import create_sandbox, wait_for_operation


def progress_url(server: LiveServer, project_id: str, token: str | None, after: int | None = None) -> str:
    url = server.url.replace("http", "ws") + f"/api/progress/subscribe/{project_id}"
    query = [f"token={token}"] if token else []
    if after is not None:
        query.append(f"after={after}")
    return url + ("?" + "&".join(query) if query else "")


def receive(socket: ClientConnection, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    return [json.loads(socket.recv(timeout=timeout)) for _ in range(count)]


def receive_until(socket: ClientConnection, event_type: str, timeout: float = 30) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not received or received[-1]["type"] != event_type:
        received.append(json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic()))))
    return received


def wait_for_subscribers(server: LiveServer, expected: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while server.runtime.events.bus.subscriber_count() != expected:
        assert time.monotonic() < deadline, (
            f"{server.runtime.events.bus.subscriber_count()} subscribers, expected {expected}"
        )
        time.sleep(0.02)


@pytest.fixture
def project_tree(sandbox_owner: Api) -> Tree:
    return make_tree(sandbox_owner)


def test_socket_pushes_sandbox_events_of_its_project(
    sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree
) -> None:
    pid = project_tree.project["id"]
    with connect(progress_url(sandbox_server, pid, sandbox_owner.token)) as socket:
        wait_for_subscribers(sandbox_server, 1)
        sandbox = create_sandbox(sandbox_owner, pid)
        created, started = receive(socket, 2)
        assert created["type"] == "sandbox_created" and started["type"] == "sandbox_started"
        for event in (created, started):
            assert (
                event["projectId"] == pid and event["sandboxId"] == sandbox["id"] and event["timestamp"].endswith("Z")
            )
        assert created["containerId"] == sandbox["id"] and created["image"] == sandbox["image"]
        assert created["eventId"] < started["eventId"]
        socket.send(json.dumps({"type": "ping", "timestamp": "now"}))
        assert json.loads(socket.recv(timeout=5))["type"] == "pong"
        assert sandbox_owner.post(f"/flexy/{sandbox['id']}/stop").status_code == 204
        assert [e["type"] for e in receive(socket, 1)] == ["sandbox_stopped"]
    wait_for_subscribers(sandbox_server, 0)


def test_socket_refuses_bad_tokens_and_other_users(
    sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree, make_sandbox_user: Callable[[], Api]
) -> None:
    pid = project_tree.project["id"]
    for token, code in [(None, 4401), ("forged.token.value", 4401), (make_sandbox_user().token, 4404)]:
        with connect(progress_url(sandbox_server, pid, token)) as socket, pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == code
    with (
        connect(progress_url(sandbox_server, "no-such-project", sandbox_owner.token)) as socket,
        pytest.raises(ConnectionClosed) as closed,
    ):
        socket.recv(timeout=5)
    assert closed.value.rcvd.code == 4404
    wait_for_subscribers(sandbox_server, 0)


def test_reconnecting_with_after_replays_every_missed_event_once(
    sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree
) -> None:
    pid = project_tree.project["id"]
    with connect(progress_url(sandbox_server, pid, sandbox_owner.token)) as socket:
        wait_for_subscribers(sandbox_server, 1)
        sandbox = create_sandbox(sandbox_owner, pid)
        first = receive(socket, 1)[0]
    # Disconnected after the first event: everything after it happens while nobody listens.
    for action in ("stop", "start", "stop"):
        assert sandbox_owner.post(f"/flexy/{sandbox['id']}/{action}").status_code == 204
    with connect(progress_url(sandbox_server, pid, sandbox_owner.token, after=first["eventId"])) as socket:
        replayed = receive(socket, 4)
        assert [e["type"] for e in replayed] == [
            "sandbox_started",
            "sandbox_stopped",
            "sandbox_started",
            "sandbox_stopped",
        ]
        ids = [e["eventId"] for e in replayed]
        assert ids == sorted(set(ids)) and ids[0] > first["eventId"]
        assert sandbox_owner.post(f"/flexy/{sandbox['id']}/start").status_code == 204
        live = receive(socket, 1)[0]
        assert live["type"] == "sandbox_started" and live["eventId"] > ids[-1]
        with pytest.raises(TimeoutError):
            socket.recv(timeout=0.5)


@contextmanager
def graphql_socket(server: LiveServer, token: str) -> Iterator[ClientConnection]:
    with connect(server.url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(socket.recv(timeout=5))["type"] == "connection_ack"
        yield socket


def test_graphql_follows_an_async_operation_to_completion(
    sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree
) -> None:
    sid = create_sandbox(sandbox_owner, project_tree.project["id"])["id"]
    submitted = sandbox_owner.graphql(
        "mutation($id: ID!) { sandboxOperation(id: $id, type: RESTART) { id status } }", {"id": sid}
    )
    operation_id = submitted["data"]["sandboxOperation"]["id"]
    with graphql_socket(sandbox_server, sandbox_owner.token) as socket:
        query = "subscription($id: ID!) { sandboxOperation(operationId: $id) { status progress { percentage current total } steps { id status } } }"
        socket.send(
            json.dumps(
                {"id": "op", "type": "subscribe", "payload": {"query": query, "variables": {"id": operation_id}}}
            )
        )
        snapshots = []
        while True:
            message = json.loads(socket.recv(timeout=60))
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            snapshots.append(message["payload"]["data"]["sandboxOperation"])
    assert snapshots[-1]["status"] == "completed" and snapshots[-1]["progress"]["percentage"] == 100
    assert [s["id"] for s in snapshots[-1]["steps"]] == ["stop", "check-image", "start"]
    percentages = [s["progress"]["percentage"] for s in snapshots]
    assert percentages == sorted(percentages)
    assert wait_for_operation(sandbox_owner, operation_id)["status"] == "completed"


def test_graphql_project_events_replay_and_release_on_disconnect(
    sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree
) -> None:
    pid = project_tree.project["id"]
    sid = create_sandbox(sandbox_owner, pid)["id"]
    baseline = sandbox_server.runtime.events.bus.subscriber_count()
    with graphql_socket(sandbox_server, sandbox_owner.token) as socket:
        query = (
            "subscription($p: ID!) { projectEvents(projectId: $p, after: 0) { id type projectId subjectId payload } }"
        )
        socket.send(
            json.dumps({"id": "events", "type": "subscribe", "payload": {"query": query, "variables": {"p": pid}}})
        )
        events = [json.loads(socket.recv(timeout=10))["payload"]["data"]["projectEvents"] for _ in range(2)]
        assert [e["type"] for e in events] == ["sandbox_created", "sandbox_started"]
        assert all(e["projectId"] == pid and e["subjectId"] == sid for e in events)
        wait_for_subscribers(sandbox_server, baseline + 1)
        socket.close()  # dropped without ending the subscription first
        wait_for_subscribers(sandbox_server, baseline)


def test_graphql_subscriptions_refuse_other_users(
    sandbox_server: LiveServer, project_tree: Tree, make_sandbox_user: Callable[[], Api]
) -> None:
    other = make_sandbox_user()
    with graphql_socket(sandbox_server, other.token) as socket:
        query = "subscription($p: ID!) { projectEvents(projectId: $p) { id } }"
        socket.send(
            json.dumps(
                {
                    "id": "x",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": {"p": project_tree.project["id"]}},
                }
            )
        )
        message = json.loads(socket.recv(timeout=5))
    assert message["type"] == "error" or message["payload"].get("errors")
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "PROJECT_NOT_FOUND"
