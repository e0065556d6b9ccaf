"""The GraphQL skin: the graph, mutations, error codes, limits, the explorer and the exported schema."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app import SCHEMA_FILE
from schema import build_schema
from tests.conftest import Api, LiveServer, Tree, login_as, unique

NESTED = (
    "{ organizations { id name workspaces { id name projects { id name workspace { id } organization { id } } } } }"
)


@contextmanager
def counting_statements(server: LiveServer) -> Iterator[list[str]]:
    statements: list[str] = []
    lock = threading.Lock()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        with lock:
            statements.append(statement)

    engine = server.runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def populate(api: Api, organizations: int, workspaces: int, projects: int) -> None:
    for _ in range(organizations):
        org = api.create("/organizations", {"name": unique("O"), "folderPath": unique("o")})
        for _ in range(workspaces):
            ws = api.create(f"/organizations/{org['id']}/workspaces", {"name": unique("W"), "folderPath": unique("w")})
            for _ in range(projects):
                api.create(f"/workspaces/{ws['id']}/projects", {"name": unique("P"), "folderPath": unique("p")})


def test_nested_query_costs_a_constant_number_of_statements(server: LiveServer, make_user: Callable[..., Api]) -> None:
    small, large = make_user(), make_user()
    populate(small, 1, 1, 1)
    populate(large, 4, 3, 3)
    counts = []
    for api, expected_projects in ((small, 1), (large, 36)):
        with counting_statements(server) as statements:
            result = api.graphql(NESTED)
        projects = [p for o in result["data"]["organizations"] for w in o["workspaces"] for p in w["projects"]]
        assert len(projects) == expected_projects
        counts.append(len([s for s in statements if not s.startswith("BEGIN")]))
    assert counts[0] == counts[1], counts
    # Organizations, workspaces, projects (and the caller, unless recently seen); the parents the
    # projects point back to come from the loaders.
    assert counts[1] <= 4, counts


def test_graph_follows_the_domain(alice: Api, tree: Tree) -> None:
    result = alice.graphql(
        """query($p: ID!) { project(id: $p) { id name folderPath workflowState { currentPhaseId stepStatuses }
             workspace { id organization { id members { role user { username } } } } organization { id } } }""",
        {"p": tree.project["id"]},
    )
    project = result["data"]["project"]
    assert project["id"] == tree.project["id"] and project["folderPath"] == tree.project["folderPath"]
    assert project["workflowState"] == {"currentPhaseId": "rapid-prototyping", "stepStatuses": {}}
    assert project["workspace"]["id"] == tree.workspace["id"]
    assert project["workspace"]["organization"]["members"] == [{"role": "owner", "user": {"username": alice.username}}]
    assert project["organization"]["id"] == tree.org["id"]


def test_mutations_mirror_rest(server: LiveServer, alice: Api) -> None:
    org = alice.graphql(
        'mutation($f: String!) { createOrganization(name: "G", folderPath: $f) { id folderPath } }', {"f": unique("g")}
    )
    org_id = org["data"]["createOrganization"]["id"]
    ws = alice.graphql(
        'mutation($o: ID!) { createWorkspace(organizationId: $o, name: "W", folderPath: "w") { id organizationId } }',
        {"o": org_id},
    )["data"]["createWorkspace"]
    other = alice.graphql(
        'mutation($o: ID!) { createWorkspace(organizationId: $o, name: "W2", folderPath: "w2") { id } }', {"o": org_id}
    )["data"]["createWorkspace"]
    project = alice.graphql(
        """mutation($w: ID!, $c: JSON) { createProject(workspaceId: $w, name: "P", folderPath: "p", workflowId: "00000000-0000-4000-8000-000000000001",
             aiConfig: $c) { id workflowId aiConfig } }""",
        {"w": ws["id"], "c": {"aiWindows": [{"type": "qwen"}]}},
    )["data"]["createProject"]
    assert (
        project["workflowId"] == "00000000-0000-4000-8000-000000000001"
        and project["aiConfig"]["aiWindows"][0]["type"] == "qwen"
    )
    updated = alice.graphql(
        'mutation($id: ID!) { updateProject(id: $id, input: {workflowId: null, sandboxName: "s"}) { workflowId sandboxName name } }',
        {"id": project["id"]},
    )["data"]["updateProject"]
    assert updated == {"workflowId": None, "sandboxName": "s", "name": "P"}
    state = alice.graphql(
        """mutation($id: ID!) { updateWorkflowState(projectId: $id, currentPhaseId: "automated-qa") { workflowState { currentPhaseId } } }""",
        {"id": project["id"]},
    )
    assert state["data"]["updateWorkflowState"]["workflowState"]["currentPhaseId"] == "automated-qa"
    step = alice.graphql(
        'mutation($id: ID!) { updateStepStatus(projectId: $id, stepId: "qa-version", status: "completed") { stepStatuses } }',
        {"id": project["id"]},
    )
    assert step["data"]["updateStepStatus"]["stepStatuses"] == {"qa-version": "completed"}
    moved = alice.graphql(
        "mutation($id: ID!, $w: ID!) { moveProject(id: $id, newWorkspaceId: $w) { workspaceId } }",
        {"id": project["id"], "w": other["id"]},
    )
    assert moved["data"]["moveProject"]["workspaceId"] == other["id"]
    org_folder = server.settings.base_root / org["data"]["createOrganization"]["folderPath"]
    assert (org_folder / "w2" / "p").is_dir() and not (org_folder / "w" / "p").exists()
    settings = alice.graphql('mutation { updateSettings(input: {gitEmail: "a@b.c"}) { gitEmail userId } }')
    assert settings["data"]["updateSettings"] == {"gitEmail": "a@b.c", "userId": alice.user_id}
    assert alice.get("/settings").json()["gitEmail"] == "a@b.c"
    deleted = alice.graphql("mutation($id: ID!) { deleteProject(id: $id, deleteFolder: true) }", {"id": project["id"]})
    assert deleted["data"]["deleteProject"] is True and not (org_folder / "w2" / "p").exists()
    assert alice.graphql("mutation($id: ID!) { deleteOrganization(id: $id) }", {"id": org_id})["data"][
        "deleteOrganization"
    ]
    assert alice.get(f"/organizations/{org_id}").status_code == 404


def test_auth_mutations(server: LiveServer, make_user: Callable[..., Api]) -> None:
    user = make_user()
    anonymous = Api(server.api_url)
    login = anonymous.graphql(
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token refreshToken user { id username } } }",
        {"u": user.username, "p": "user-password-123"},
    )["data"]["login"]
    assert login["user"]["username"] == user.username
    refreshed = anonymous.graphql(
        "mutation($r: String!) { refreshToken(refreshToken: $r) { token refreshToken } }", {"r": login["refreshToken"]}
    )["data"]["refreshToken"]
    session = Api(server.api_url, refreshed["token"])
    assert session.graphql("{ me { username } }")["data"]["me"]["username"] == user.username
    assert session.graphql("mutation { logout }")["data"]["logout"] is True
    after = session.graphql("{ me { username } }")
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
    wrong = anonymous.graphql('mutation { login(username: "admin", password: "nope-nope") { token } }')
    assert wrong["errors"][0]["extensions"]["code"] == "AUTHENTICATION_FAILED"


def test_only_admins_add_and_list_users(server: LiveServer, admin: Api, alice: Api) -> None:
    create = "mutation($u: String!, $p: String!) { createUser(username: $u, password: $p) { username isAdmin } }"
    name = unique("new")
    refused = alice.graphql(create, {"u": name, "p": "long-enough-1"})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert alice.graphql("{ users { id } }")["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    created = admin.graphql(create, {"u": name, "p": "long-enough-1"})
    assert created["data"]["createUser"] == {"username": name, "isAdmin": False}
    assert login_as(server, name, "long-enough-1").token
    duplicate = admin.graphql(create, {"u": name, "p": "long-enough-1"})
    assert duplicate["errors"][0]["extensions"]["code"] == "ALREADY_EXISTS"
    short = admin.graphql(create, {"u": unique("s"), "p": "short"})
    assert short["errors"][0]["extensions"] == {
        "code": "VALIDATION_ERROR",
        "statusCode": 400,
        "details": {"field": "password"},
    }
    assert name in [u["username"] for u in admin.graphql("{ users { username } }")["data"]["users"]]


def test_error_codes_in_extensions(server: LiveServer, alice: Api) -> None:
    anonymous = Api(server.api_url).graphql("{ organizations { id } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
    assert Api(server.api_url).graphql("{ health { status } }")["data"]["health"]["status"] == "ok"
    bad = alice.graphql('mutation { createOrganization(name: "X", folderPath: "../up") { id } }')
    assert bad["errors"][0]["extensions"] == {
        "code": "VALIDATION_ERROR",
        "statusCode": 400,
        "details": {"field": "folderPath"},
    }
    typo = alice.graphql("{ organizations { nope } }")
    assert typo["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_limits_refuse_abusive_queries(alice: Api) -> None:
    deep = "{ organizations " + "{ workspaces { organization " * 6 + "{ id }" + " } }" * 6 + " }"
    assert "exceeds maximum operation depth" in alice.graphql(deep)["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: health {{ status }}" for i in range(40)) + " }"
    assert "aliases" in alice.graphql(aliases)["errors"][0]["message"]
    tokens = "{ " + " ".join(f"a{i}: health {{ status uptime }}" for i in range(25)) * 20 + " }"
    assert "token" in alice.graphql(tokens)["errors"][0]["message"].lower()


def test_graphiql_is_served_to_browsers(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_queries_over_websocket_authenticate_in_connection_init(server: LiveServer, alice: Api) -> None:
    url = server.url.replace("http", "ws") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"]) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}}))
        assert json.loads(socket.recv(timeout=5))["type"] == "connection_ack"
        socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ me { username } }"}}))
        message = json.loads(socket.recv(timeout=5))
        assert message["type"] == "next" and message["payload"]["data"]["me"]["username"] == alice.username
    with connect(url, subprotocols=["graphql-transport-ws"]) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer forged"}}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def test_exported_schema_is_up_to_date() -> None:
    from strawberry.printer import print_schema

    committed = Path(SCHEMA_FILE).read_text()
    assert committed == print_schema(build_schema()) + "\n", "schema.graphql is stale: run `make schema`"
