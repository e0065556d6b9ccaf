"""Secrets and opening limits over GraphQL: the same rules as REST (owners set, members list names, a stranger
finds nothing, a value never comes back), and GraphQL WebSockets opened too often close with 1013."""

from __future__ import annotations

import json
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from schema.relay import global_id
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, Api, LiveServer, Tree, login_as

VALUE = "sk-graphql-secret-0123456789"
SET = """mutation($o: ID!, $n: String!, $v: String!) { setSecret(input: {ownerId: $o, name: $n, value: $v}) {
  secret { name scope createdAt } created userErrors { field code message } } }"""
DELETE = """mutation($o: ID!, $n: String!) { deleteSecret(input: {ownerId: $o, name: $n}) {
  deletedName userErrors { code } } }"""
LIST = """query($p: ID!) { project(id: $p) { secrets { totalCount nodes { name scope } }
  organization { secrets { nodes { name scope } } } } }"""


def test_secrets_over_graphql(server: LiveServer, alice: Api, bob: Api, tree: Tree) -> None:
    org, project = global_id("Organization", tree.org["id"]), global_id("Project", tree.project["id"])
    set_org = alice.graphql(SET, {"o": org, "n": "API_KEY", "v": VALUE})
    assert set_org["data"]["setSecret"]["created"] is True and set_org["data"]["setSecret"]["userErrors"] == []
    replaced = alice.graphql(SET, {"o": project, "n": "API_KEY", "v": VALUE + "-project"})["data"]["setSecret"]
    assert replaced["secret"] == {"name": "API_KEY", "scope": "PROJECT", "createdAt": replaced["secret"]["createdAt"]}
    listed = alice.graphql(LIST, {"p": project})
    assert listed["data"]["project"]["secrets"] == {"totalCount": 1, "nodes": [{"name": "API_KEY", "scope": "PROJECT"}]}
    assert listed["data"]["project"]["organization"]["secrets"]["nodes"] == [
        {"name": "API_KEY", "scope": "ORGANIZATION"}
    ]
    assert VALUE not in json.dumps(listed) and VALUE not in json.dumps(set_org)

    bad = alice.graphql(SET, {"o": org, "n": "PATH", "v": VALUE})["data"]["setSecret"]
    assert [(e["field"], e["code"]) for e in bad["userErrors"]] == [("name", "VALIDATION_ERROR")]
    for mutation, variables in ((SET, {"o": org, "n": "STOLEN", "v": VALUE}), (DELETE, {"o": org, "n": "API_KEY"})):
        refused = bob.graphql(mutation, variables)["data"]
        (payload,) = refused.values()
        assert [e["code"] for e in payload["userErrors"]] == ["ORGANIZATION_NOT_FOUND"]
    assert bob.graphql(LIST, {"p": project})["data"] == {"project": None}

    deleted = alice.graphql(DELETE, {"o": project, "n": "API_KEY"})["data"]["deleteSecret"]
    assert deleted == {"deletedName": "API_KEY", "userErrors": []}
    assert [s["name"] for s in alice.get(f"/organizations/{tree.org['id']}/secrets").json()] == ["API_KEY"]


def test_graphql_sockets_opened_too_often_close_with_1013(fresh_server: Callable[..., LiveServer]) -> None:
    live = fresh_server(SOCKET_OPENS_PER_MINUTE_PER_USER="2", CONTEXT_ENABLED="false")
    admin = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    outcomes = []
    for subprotocol in ("graphql-transport-ws", "graphql-transport-ws", "graphql-transport-ws", "graphql-ws"):
        with connect(live.url.replace("http", "ws") + "/graphql", subprotocols=[subprotocol]) as socket:
            socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {admin.token}"}}))
            try:
                outcomes.append(json.loads(socket.recv(timeout=10))["type"])
                if subprotocol == "graphql-ws":  # the legacy protocol says why before it closes
                    socket.recv(timeout=10)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                outcomes.append((closed.rcvd.code, "try again in" in closed.rcvd.reason))
    assert (
        outcomes
        == ["connection_ack", "connection_ack", (1013, True), "connection_error", (1013, True)][: len(outcomes)]
    )
    assert outcomes[:3] == ["connection_ack", "connection_ack", (1013, True)]
