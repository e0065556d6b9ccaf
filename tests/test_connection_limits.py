"""Rate limits on opening: logins (429 with Retry-After) and progress WebSockets (close code 1013 with the
wait in the reason), per user and per address; a storm is refused while a subscriber keeps its events."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, TASK_ENV, Api, LiveServer, add_user, login_as, make_tree
from tests.graphql_calls import add_member
from tests.test_flexy import create_sandbox
from tests.test_progress import progress_url
from tests.test_tasks import submit

LINES = 200
STREAM = f"i=0; while [ $i -lt {LINES} ]; do echo line $i; i=$((i+1)); sleep 0.05; done"
"""Ten seconds of output: the storm of 45 opens must meet the task running, also on a loaded machine."""


def open_socket(live: LiveServer, api: Api, project_id: str) -> tuple[bool, str]:
    """(accepted, close reason): an accepted socket answers a ping; a refused one is closed at once."""
    refused: ConnectionClosed | None = None
    with contextlib.suppress(ConnectionClosed), connect(progress_url(live, project_id, api.token, after=0)) as socket:
        try:
            socket.send(json.dumps({"type": "ping"}))
            while json.loads(socket.recv(timeout=10))["type"] != "pong":
                pass
        except ConnectionClosed as closed:
            refused = closed
    if refused is None:
        return True, ""
    assert refused.rcvd is not None and refused.rcvd.code == 1013, refused
    assert re.search(r"try again in \d+ seconds", refused.rcvd.reason), refused.rcvd.reason
    return False, refused.rcvd.reason


def test_logins_are_limited_per_username_and_per_address(fresh_server: Callable[..., LiveServer]) -> None:
    live = fresh_server(LOGINS_PER_MINUTE_PER_USER="3", LOGINS_PER_MINUTE_PER_ADDRESS="7", CONTEXT_ENABLED="false")
    admin = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    others = [add_user(live, admin) for _ in range(2)]  # logins 2 and 3 from this address
    for _ in range(2):
        assert Api(live.api_url).login(ADMIN_USERNAME, ADMIN_PASSWORD).status_code == 200
    refused = Api(live.api_url).login(ADMIN_USERNAME, ADMIN_PASSWORD)
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "TOO_MANY_REQUESTS" and "username" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    # Another username still may, until the address has used its share (7 a minute here, the refused one counted).
    assert Api(live.api_url).login(others[0].username, "user-password-123").status_code == 200
    by_address = Api(live.api_url).login(others[1].username, "user-password-123")
    assert by_address.status_code == 429 and "address" in by_address.json()["message"]
    assert admin.get("/organizations").status_code == 200, "existing sessions are untouched"


def test_a_socket_storm_is_refused_while_a_subscriber_gets_every_event(
    fresh_server: Callable[..., LiveServer],
) -> None:
    live = fresh_server(
        SANDBOX_BACKEND="local",
        CONTEXT_ENABLED="false",
        SOCKET_OPENS_PER_MINUTE_PER_USER="10",
        SOCKET_OPENS_PER_MINUTE_PER_ADDRESS="40",
        **TASK_ENV,
    )
    alice = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    bob = add_user(live, alice)
    tree = make_tree(alice)
    pid = tree.project["id"]
    add_member(alice, tree.org["id"], bob)
    create_sandbox(alice, pid)

    with connect(progress_url(live, pid, alice.token)) as subscriber:
        task_id = submit(alice, pid, STREAM)
        alices = [open_socket(live, alice, pid) for _ in range(30)]
        bobs = [open_socket(live, bob, pid) for _ in range(15)]
        assert alice.get(f"/projects/{pid}/tasks/{task_id}").json()["status"] == "running", "the storm met the task"
        received = []
        while not received or received[-1]["type"] != "task_completed":
            received.append(json.loads(subscriber.recv(timeout=30)))

    accepted_alice = sum(accepted for accepted, _ in alices)
    assert 9 <= accepted_alice <= 10, alices  # her 10 a minute, one taken by the subscriber
    assert all("for this user" in reason for accepted, reason in alices if not accepted)
    accepted_bob = sum(accepted for accepted, _ in bobs)
    assert 9 <= accepted_bob <= 11, bobs  # what the address had left after alice's 31 opens
    assert any("from this address" in reason for _, reason in bobs)

    lines = "".join(e["output"] for e in received if e["type"] == "output" and e.get("taskId") == task_id)
    assert lines.splitlines() == [f"line {n}" for n in range(LINES)], "every event, in order"
    ids = [e["eventId"] for e in received]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
