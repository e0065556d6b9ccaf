"""GraphQL's limits and error codes: cost, page sizes, depth, aliases, tokens, body and message sizes,
subscriptions per connection, subscriptions over plain HTTP, and GraphQL over HTTP's status codes.

Every refusal carries `extensions.code`, and nothing runs (or changes) when a request is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from schema.relay import global_id
from tests.conftest import Api, LiveServer, Tree

GRAPHQL_RESPONSE = "application/graphql-response+json"


def post(live: LiveServer, body: Any, token: str | None = None, **headers: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", **headers}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{live.url}/graphql", content=content, headers=headers, timeout=30)


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json()["errors"]]


def test_an_operation_over_the_cost_limit_is_refused_with_its_cost(server: LiveServer, module_user: Api) -> None:
    query = (
        "{ me { organizations(first: 100) { nodes { workspaces(first: 100) { nodes {"
        " projects(first: 100) { nodes { id } } } } } } } }"
    )
    refused = post(server, {"query": query}, module_user.token)
    assert refused.status_code == 200 and refused.json()["data"] is None
    (error,) = refused.json()["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 100 + 10_000 + 1_000_000, "limit": 100_000}
    strict = post(server, {"query": query}, module_user.token, Accept=GRAPHQL_RESPONSE)
    assert strict.status_code == 400 and "data" not in strict.json()
    assert strict.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    within = "{ me { organizations(first: 10) { nodes { workspaces(first: 10) { nodes { projects(first: 50) { nodes { id } } } } } } } }"
    assert "errors" not in post(server, {"query": within}, module_user.token).json()


@pytest.mark.parametrize(
    "field",
    [
        "me { organizations(first: 101) { nodes { id } } }",
        "me { organizations(last: 101) { nodes { id } } }",
        "workflows(first: 101) { nodes { id } }",
        "sandboxes(first: -1) { nodes { id } }",
        "me { organizations(first: 1) { nodes { workspaces(first: 101) { nodes { id } } } } }",
    ],
)
def test_a_page_over_100_is_refused_the_same_way_everywhere(
    server: LiveServer, module_user: Api, module_tree: Tree, field: str
) -> None:
    refused = post(server, {"query": f"{{ {field} }}"}, module_user.token)
    (error,) = refused.json()["errors"]
    assert error["extensions"]["code"] == "PAGE_SIZE_INVALID" and error["extensions"]["maximum"] == 100
    assert "from 0 to 100" in error["message"]


def test_page_sizes_in_variables_count_too(server: LiveServer, module_user: Api) -> None:
    query = "query($n: Int) { me { organizations(first: $n) { nodes { id } } } }"
    refused = post(server, {"query": query, "variables": {"n": 500}}, module_user.token)
    assert codes(refused) == ["PAGE_SIZE_INVALID"]
    assert "errors" not in post(server, {"query": query, "variables": {"n": 5}}, module_user.token).json()


def test_depth_aliases_and_tokens_have_codes(server: LiveServer, module_user: Api) -> None:
    deep = "{ me { organizations(first: 1) { nodes { " + "workspaces(first: 1) { nodes { organization { " * 7
    deep += "id" + " } } }" * 7 + " } } } }"
    assert codes(post(server, {"query": deep}, module_user.token)) == ["QUERY_TOO_DEEP"]
    aliases = "{ " + " ".join(f"a{i}: health {{ status }}" for i in range(31)) + " }"
    assert codes(post(server, {"query": aliases}, module_user.token)) == ["TOO_MANY_ALIASES"]
    many = "{ " + " ".join(f"a{i}: __typename" for i in range(3000)) + " }"
    assert codes(post(server, {"query": many}, module_user.token)) == ["TOO_MANY_TOKENS"]


def test_a_body_over_the_limit_is_refused_before_anything_runs(server: LiveServer, module_user: Api) -> None:
    name = "padded-organization"
    mutation = (
        'mutation { createOrganization(input: {name: "' + name + '", folderPath: "padded"}) { organization { id } } }'
    )
    padded = json.dumps({"query": mutation + " " * (2 * 1024 * 1024)}).encode()
    refused = post(server, padded, module_user.token)
    assert refused.status_code == 413 and codes(refused) == ["PAYLOAD_TOO_LARGE"]

    def chunks() -> Iterator[bytes]:
        yield padded[: 1024 * 1024]
        yield padded[1024 * 1024 :]

    chunked = httpx.post(
        f"{server.url}/graphql",
        content=chunks(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {module_user.token}"},
    )
    assert chunked.status_code == 413 and codes(chunked) == ["PAYLOAD_TOO_LARGE"]
    huge_variables = {"query": "query($x: String) { health { status } }", "variables": {"x": "v" * 20_000_000}}
    assert post(server, huge_variables, module_user.token).status_code == 413
    assert name not in [o["name"] for o in module_user.get("/organizations").json()]


def test_validation_errors_answer_400_to_graphql_response_clients_only(server: LiveServer, module_user: Api) -> None:
    query = {"query": "{ me { noSuchField } }"}
    legacy = post(server, query, module_user.token)
    assert legacy.status_code == 200 and codes(legacy) == ["GRAPHQL_VALIDATION_FAILED"]
    strict = post(server, query, module_user.token, Accept=GRAPHQL_RESPONSE)
    assert strict.status_code == 400 and codes(strict) == ["GRAPHQL_VALIDATION_FAILED"] and "data" not in strict.json()
    broken = post(server, {"query": "{ me { "}, module_user.token, Accept=GRAPHQL_RESPONSE)
    assert broken.status_code == 400 and codes(broken) == ["GRAPHQL_PARSE_FAILED"]
    fine = post(server, {"query": "{ me { username } }"}, module_user.token, Accept=GRAPHQL_RESPONSE)
    assert fine.status_code == 200 and fine.json() == {"data": {"me": {"username": module_user.username}}}


def test_a_subscription_over_plain_http_is_refused_with_400(
    server: LiveServer, module_user: Api, module_tree: Tree
) -> None:
    project = global_id("Project", module_tree.project["id"])
    query = {"query": f'subscription {{ projectEvents(projectId: "{project}") {{ __typename }} }}'}
    refused = post(server, query, module_user.token)
    assert refused.status_code == 400 and codes(refused) == ["STREAM_REQUIRED"]
    assert "text/event-stream" in refused.json()["errors"][0]["message"]


def test_no_token_is_a_top_level_unauthorized_and_refusals_are_user_errors(
    server: LiveServer, module_user: Api
) -> None:
    anonymous = post(server, {"query": "{ me { username } }"})
    assert codes(anonymous) == ["UNAUTHORIZED"]
    refused = post(
        server,
        {
            "query": 'mutation { createOrganization(input: {name: " ", folderPath: "x"}) { organization { id } userErrors { field code message } } }'
        },
        module_user.token,
    ).json()
    assert "errors" not in refused
    assert refused["data"]["createOrganization"] == {
        "organization": None,
        "userErrors": [{"field": "name", "code": "VALIDATION_ERROR", "message": "name: must not be empty"}],
    }


@contextmanager
def _socket(live: LiveServer, token: str) -> Iterator[ClientConnection]:
    with connect(live.url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(socket.recv(timeout=10))["type"] == "connection_ack"
        yield socket


def test_a_websocket_message_over_the_limit_closes_the_socket(server: LiveServer, module_user: Api) -> None:
    with _socket(server, module_user.token or "") as socket:
        query = "{ health { status } }" + " " * (1100 * 1024)
        socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_subscriptions_per_connection_are_limited_with_a_code(
    server: LiveServer, module_user: Api, module_tree: Tree
) -> None:
    project = global_id("Project", module_tree.project["id"])
    query = f'subscription {{ projectEvents(projectId: "{project}") {{ __typename }} }}'
    with _socket(server, module_user.token or "") as socket:
        for number in range(101):
            socket.send(json.dumps({"id": str(number), "type": "subscribe", "payload": {"query": query}}))
        message = json.loads(socket.recv(timeout=10))
    assert message["type"] == "error" and message["id"] == "100"
    assert message["payload"][0]["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": 100}
