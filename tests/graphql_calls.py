"""GraphQL from the tests: global ids of objects made over REST, answers without errors, mutation payloads
and their user errors, the codes of top-level errors, and subscriptions over graphql-transport-ws."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.sync.client import ClientConnection, connect

from schema.relay import global_id
from tests.conftest import Api, LiveServer

USER_ERRORS = "userErrors { field code message }"
"""The selection every mutation in the tests asks for besides its result."""
EVENT = "__typename ... on Event { id type time project { id } }"
"""The fields every event of a subscription has (the `Event` interface), for a selection on `ProjectEvent`."""


def gid(type_name: str, database_id: str) -> str:
    """The global id of an object the REST API names by `database_id` (`gid("Project", project["id"])`)."""
    return str(global_id(type_name, database_id))


def data(api: Api, query: str, **variables: Any) -> dict[str, Any]:
    """The answer's data, which must come without errors."""
    result = api.graphql(query, variables)
    assert "errors" not in result, result
    return result["data"]


def mutate(api: Api, query: str, **variables: Any) -> dict[str, Any]:
    """The payload of a one-mutation operation that must succeed: no errors, no user errors."""
    (payload,) = data(api, query, **variables).values()
    assert payload["userErrors"] == [], payload
    return payload


def refused(api: Api, query: str, **variables: Any) -> tuple[dict[str, Any], list[str]]:
    """The payload of a one-mutation operation that must be refused, and its user errors' codes."""
    (payload,) = data(api, query, **variables).values()
    assert payload["userErrors"], payload
    assert all(error["message"] for error in payload["userErrors"]), payload
    return payload, [error["code"] for error in payload["userErrors"]]


def error_codes(api: Api, query: str, **variables: Any) -> list[str]:
    """The codes of an answer's top-level errors, which it must have."""
    result = api.graphql(query, variables)
    assert result.get("errors"), result
    return [error["extensions"]["code"] for error in result["errors"]]


@contextmanager
def graphql_socket(server: LiveServer, token: str) -> Iterator[ClientConnection]:
    """A graphql-transport-ws connection to `/graphql`, authenticated in `connection_init` and acknowledged."""
    with connect(server.url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert next_message(socket, timeout=5)["type"] == "connection_ack"
        yield socket


def next_message(socket: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    """The next message, which must come as a text frame (standard clients refuse binary ones)."""
    frame = socket.recv(timeout=timeout)
    assert isinstance(frame, str), f"a binary frame: {frame!r}"
    return json.loads(frame)


def subscribe(socket: ClientConnection, query: str, operation_id: str = "s", **variables: Any) -> None:
    message = {"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
    socket.send(json.dumps(message))


def results_until_complete(socket: ClientConnection, field: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Every result of the subscription's `field`, in order, until the server completes it."""
    received = []
    while True:
        message = next_message(socket, timeout)
        if message["type"] == "complete":
            return received
        assert message["type"] == "next" and "errors" not in message["payload"], message
        received.append(message["payload"]["data"][field])


def subscription_error_codes(socket: ClientConnection, timeout: float = 10) -> list[str]:
    """The codes of the errors a refused subscription answers with (an `error` message, or errors in `next`)."""
    message = next_message(socket, timeout)
    assert message["type"] in ("error", "next"), message
    errors = message["payload"] if message["type"] == "error" else message["payload"].get("errors")
    assert errors, message
    return [error["extensions"]["code"] for error in errors]


def add_member(owner: Api, org_id: str, member: Api, role: str = "MEMBER") -> None:
    """`member` joins the organization (REST has no route for memberships)."""
    mutate(
        owner,
        "mutation($o: ID!, $u: String!, $r: Role!) { setOrganizationMember(input: {organizationId: $o, username: $u,"
        " role: $r}) { member { role } userErrors { field code message } } }",
        o=gid("Organization", org_id),
        u=member.username,
        r=role,
    )
