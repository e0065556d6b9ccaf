"""Live progress: the contract's progress WebSocket and the GraphQL subscriptions, over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Api, LiveServer, Tree, make_tree
from tests.graphql_calls import (
    EVENT,
    USER_ERRORS,
    gid,
    graphql_socket,
    mutate,
    next_message,
    results_until_complete,
    subscribe,
    subscription_error_codes,
)
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


def test_graphql_follows_an_async_operation_to_completion(
    sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree
) -> None:
    sid = create_sandbox(sandbox_owner, project_tree.project["id"])["id"]
    submitted = mutate(
        sandbox_owner,
        "mutation($id: ID!) { startSandboxOperation(input: {sandboxId: $id, action: RESTART})"
        f" {{ operation {{ id databaseId status type }} {USER_ERRORS} }} }}",
        id=gid("Sandbox", sid),
    )["operation"]
    assert submitted["type"] == "RESTART"
    with graphql_socket(sandbox_server, sandbox_owner.token) as socket:
        query = "subscription($id: ID!) { sandboxOperation(operationId: $id) { id status progress { percentage current total } steps { stepId status } } }"  # fmt: skip
        subscribe(socket, query, "op", id=submitted["id"])
        snapshots = results_until_complete(socket, "sandboxOperation", timeout=60)
    assert {s["id"] for s in snapshots} == {submitted["id"]}
    assert snapshots[-1]["status"] == "COMPLETED" and snapshots[-1]["progress"]["percentage"] == 100
    assert [s["stepId"] for s in snapshots[-1]["steps"]] == ["stop", "check-image", "start"]
    percentages = [s["progress"]["percentage"] for s in snapshots]
    assert percentages == sorted(percentages)
    assert wait_for_operation(sandbox_owner, submitted["databaseId"])["status"] == "completed"


def test_graphql_project_events_replay_and_release_on_disconnect(
    sandbox_server: LiveServer, sandbox_owner: Api, project_tree: Tree
) -> None:
    pid = gid("Project", project_tree.project["id"])
    sid = gid("Sandbox", create_sandbox(sandbox_owner, project_tree.project["id"])["id"])
    query = f"subscription($p: ID!, $a: EventId) {{ projectEvents(projectId: $p, after: $a) {{ {EVENT} ... on SandboxEvent {{ sandbox {{ id }} }} }} }}"  # fmt: skip
    baseline = sandbox_server.runtime.events.bus.subscriber_count()
    with graphql_socket(sandbox_server, sandbox_owner.token) as socket:
        subscribe(socket, query, "events", p=pid, a="0")
        events = [next_message(socket, timeout=10)["payload"]["data"]["projectEvents"] for _ in range(2)]
        assert [(e["__typename"], e["type"]) for e in events] == [
            ("SandboxChanged", "SANDBOX_CREATED"),
            ("SandboxChanged", "SANDBOX_STARTED"),
        ]
        assert all(e["project"]["id"] == pid and e["sandbox"]["id"] == sid for e in events)
        assert all(isinstance(e["id"], str) for e in events) and int(events[0]["id"]) < int(events[1]["id"])
        wait_for_subscribers(sandbox_server, baseline + 1)
        socket.close()  # dropped without ending the subscription first
        wait_for_subscribers(sandbox_server, baseline)
    # Resuming after the first event replays the second, and only it, before anything live.
    with graphql_socket(sandbox_server, sandbox_owner.token) as socket:
        subscribe(socket, query, "again", p=pid, a=events[0]["id"])
        assert next_message(socket, timeout=10)["payload"]["data"]["projectEvents"] == events[1]
        with pytest.raises(TimeoutError):
            socket.recv(timeout=0.5)


def test_graphql_subscriptions_refuse_other_users(
    sandbox_server: LiveServer, project_tree: Tree, make_sandbox_user: Callable[[], Api]
) -> None:
    other = make_sandbox_user()
    with graphql_socket(sandbox_server, other.token) as socket:
        subscribe(socket, "subscription($p: ID!) { projectEvents(projectId: $p) { __typename } }", "x", p=gid("Project", project_tree.project["id"]))  # fmt: skip
        assert subscription_error_codes(socket) == ["PROJECT_NOT_FOUND"]
