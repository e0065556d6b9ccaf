"""The GraphQL skin: the graph, mutations, error codes, limits, the explorer and the exported schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app import SCHEMA_FILE
from resolvers.workflows import TEMPLATE_ID
from schema import build_schema
from tests.conftest import Api, LiveServer, Tree, login_as, unique
from tests.graphql_calls import (
    USER_ERRORS,
    data,
    error_codes,
    gid,
    graphql_socket,
    mutate,
    next_message,
    refused,
    subscribe,
)
from tests.statements import fewest_statements

NESTED = """{ me { organizations(first: 10) { nodes { id name
  workspaces(first: 10) { nodes { id name
    projects(first: 10) { nodes { id name workspace { id } organization { id } } } } } } } } }"""


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
        data(api, "{ health { status } }")  # the caller is established now, and cached for a few seconds
        count, result = fewest_statements(server, lambda api=api: data(api, NESTED))
        organizations = result["me"]["organizations"]["nodes"]
        projects = [p for o in organizations for w in o["workspaces"]["nodes"] for p in w["projects"]["nodes"]]
        assert len(projects) == expected_projects
        for org in organizations:
            for workspace in org["workspaces"]["nodes"]:
                for project in workspace["projects"]["nodes"]:
                    assert project["workspace"]["id"] == workspace["id"]
                    assert project["organization"]["id"] == org["id"]
        counts.append(count)
    assert counts[0] == counts[1], counts
    # The viewer, organizations, workspaces, projects; the parents the projects point back to come from
    # the loaders.
    assert counts[1] <= 4, counts


def test_graph_follows_the_domain(alice: Api, tree: Tree) -> None:
    result = data(
        alice,
        """query($p: ID!) { project(id: $p) { id databaseId name folderPath
             workflowState { currentPhaseId currentStepId steps { stepId status } }
             workspace { id organization { id members { nodes { role user { username } } } } }
             organization { id } } }""",
        p=gid("Project", tree.project["id"]),
    )
    project = result["project"]
    assert project["id"] == gid("Project", tree.project["id"]) and project["databaseId"] == tree.project["id"]
    assert project["folderPath"] == tree.project["folderPath"]
    assert project["workflowState"] == {"currentPhaseId": "rapid-prototyping", "currentStepId": None, "steps": []}
    assert project["workspace"]["id"] == gid("Workspace", tree.workspace["id"])
    members = project["workspace"]["organization"]["members"]["nodes"]
    assert members == [{"role": "OWNER", "user": {"username": alice.username}}]
    assert project["organization"]["id"] == gid("Organization", tree.org["id"])
    same = data(alice, "query($p: ID!) { node(id: $p) { __typename id } }", p=project["id"])
    assert same == {"node": {"__typename": "Project", "id": project["id"]}}


def test_mutations_mirror_rest(server: LiveServer, alice: Api) -> None:
    org = mutate(
        alice,
        f'mutation($f: String!) {{ createOrganization(input: {{name: "G", folderPath: $f}}) {{'
        f" organization {{ id databaseId folderPath }} {USER_ERRORS} }} }}",
        f=unique("g"),
    )["organization"]
    org_id = org["databaseId"]
    assert org["id"] == gid("Organization", org_id)
    create_workspace = (
        "mutation($o: ID!, $n: String!, $f: String!) { createWorkspace(input: {organizationId: $o, name: $n,"
        f" folderPath: $f}}) {{ workspace {{ id organization {{ id }} }} {USER_ERRORS} }} }}"
    )
    ws = mutate(alice, create_workspace, o=org["id"], n="W", f="w")["workspace"]
    assert ws["organization"]["id"] == org["id"]
    other = mutate(alice, create_workspace, o=org["id"], n="W2", f="w2")["workspace"]
    project = mutate(
        alice,
        """mutation($w: ID!, $wf: ID!, $c: JSON) { createProject(input: {workspaceId: $w, name: "P",
             folderPath: "p", workflowId: $wf, aiConfig: $c}) { project { id databaseId workflow { id } aiConfig }
             userErrors { field code message } } }""",
        w=ws["id"],
        wf=gid("Workflow", TEMPLATE_ID),
        c={"aiWindows": [{"type": "qwen"}]},
    )["project"]
    assert project["workflow"] == {"id": gid("Workflow", TEMPLATE_ID)}
    assert project["aiConfig"]["aiWindows"][0]["type"] == "qwen"
    assert alice.get(f"/projects/{project['databaseId']}").json()["workflowId"] == TEMPLATE_ID
    updated = mutate(
        alice,
        """mutation($id: ID!) { updateProject(input: {id: $id, workflowId: null, aiConfig: {aiWindows: [{type: "claude"}]}})
             { project { workflow { id } aiConfig name } userErrors { field code message } } }""",
        id=project["id"],
    )["project"]
    assert (updated["workflow"], updated["name"]) == (None, "P")
    assert [window["type"] for window in updated["aiConfig"]["aiWindows"]] == ["claude"]
    assert alice.get(f"/projects/{project['databaseId']}").json()["workflowId"] is None
    state = mutate(
        alice,
        f"""mutation($id: ID!) {{ updateWorkflowState(input: {{projectId: $id, currentPhaseId: "automated-qa"}})
             {{ project {{ workflowState {{ currentPhaseId }} }} {USER_ERRORS} }} }}""",
        id=project["id"],
    )
    assert state["project"]["workflowState"]["currentPhaseId"] == "automated-qa"
    step = mutate(
        alice,
        f"""mutation($id: ID!) {{ setTrackedStep(input: {{projectId: $id, stepId: "qa-version", status: COMPLETED}})
             {{ project {{ workflowState {{ steps {{ stepId status }} }} }} {USER_ERRORS} }} }}""",
        id=project["id"],
    )
    assert step["project"]["workflowState"]["steps"] == [{"stepId": "qa-version", "status": "COMPLETED"}]
    assert alice.get(f"/projects/{project['databaseId']}/workflow").json()["stepStatuses"] == {
        "qa-version": "completed"
    }
    moved = mutate(
        alice,
        f"mutation($id: ID!, $w: ID!) {{ moveProject(input: {{id: $id, workspaceId: $w}})"
        f" {{ project {{ workspace {{ id }} }} {USER_ERRORS} }} }}",
        id=project["id"],
        w=other["id"],
    )
    assert moved["project"]["workspace"]["id"] == other["id"]
    org_folder = server.settings.base_root / org["folderPath"]
    assert (org_folder / "w2" / "p").is_dir() and not (org_folder / "w" / "p").exists()
    settings = mutate(
        alice,
        f'mutation {{ updateSettings(input: {{gitEmail: "a@b.c"}}) {{ settings {{ gitEmail }} {USER_ERRORS} }} }}',
    )
    assert settings["settings"]["gitEmail"] == "a@b.c"
    mine = data(alice, "{ me { databaseId settings { gitEmail } } }")["me"]
    assert mine == {"databaseId": alice.user_id, "settings": {"gitEmail": "a@b.c"}}
    assert alice.get("/settings").json()["gitEmail"] == "a@b.c"
    deleted = mutate(
        alice,
        f"mutation($id: ID!) {{ deleteProject(input: {{id: $id, deleteFolder: true}}) {{ deletedId {USER_ERRORS} }} }}",
        id=project["id"],
    )
    assert deleted["deletedId"] == project["id"] and not (org_folder / "w2" / "p").exists()
    gone = mutate(
        alice,
        f"mutation($id: ID!) {{ deleteOrganization(input: {{id: $id}}) {{ deletedId {USER_ERRORS} }} }}",
        id=org["id"],
    )
    assert gone["deletedId"] == org["id"]
    assert alice.get(f"/organizations/{org_id}").status_code == 404
    assert data(alice, "query($id: ID!) { organization(id: $id) { id } }", id=org["id"]) == {"organization": None}


def test_auth_mutations(server: LiveServer, make_user: Callable[..., Api]) -> None:
    user = make_user()
    anonymous = Api(server.api_url)
    login = mutate(
        anonymous,
        "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) {"
        f" token refreshToken user {{ id username }} {USER_ERRORS} }} }}",
        u=user.username,
        p="user-password-123",
    )
    assert login["user"] == {"id": gid("User", user.user_id), "username": user.username}
    refreshed = mutate(
        anonymous,
        f"mutation($r: String!) {{ refreshToken(input: {{refreshToken: $r}}) {{ token refreshToken {USER_ERRORS} }} }}",
        r=login["refreshToken"],
    )
    session = Api(server.api_url, refreshed["token"])
    assert data(session, "{ me { username } }")["me"]["username"] == user.username
    assert mutate(session, f"mutation {{ logout {{ revoked {USER_ERRORS} }} }}")["revoked"] is True
    assert error_codes(session, "{ me { username } }") == ["UNAUTHORIZED"]
    used = anonymous.graphql(
        "mutation($r: String!) { refreshToken(input: {refreshToken: $r}) { token userErrors { code } } }",
        {"r": login["refreshToken"]},
    )["data"]["refreshToken"]
    assert used == {"token": None, "userErrors": [{"code": "AUTHENTICATION_FAILED"}]}
    wrong, codes = refused(
        anonymous,
        f'mutation {{ login(input: {{username: "admin", password: "nope-nope"}}) {{ token {USER_ERRORS} }} }}',
    )
    assert codes == ["AUTHENTICATION_FAILED"] and wrong["token"] is None


def all_usernames(api: Api) -> list[str]:
    """Every user's name, page by page."""
    names, after = [], None
    while True:
        page = data(
            api,
            "query($a: String) { users(first: 100, after: $a) { nodes { username } pageInfo { hasNextPage endCursor } } }",
            a=after,
        )["users"]
        names += [user["username"] for user in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return names
        after = page["pageInfo"]["endCursor"]


def test_only_admins_add_and_list_users(server: LiveServer, admin: Api, alice: Api) -> None:
    create = (
        "mutation($u: String!, $p: String!) { createUser(input: {username: $u, password: $p}) {"
        f" user {{ username isAdmin }} {USER_ERRORS} }} }}"
    )
    name = unique("new")
    payload, codes = refused(alice, create, u=name, p="long-enough-1")
    assert codes == ["FORBIDDEN"] and payload["user"] is None
    assert error_codes(alice, "{ users { nodes { id } } }") == ["FORBIDDEN"]
    assert name not in all_usernames(admin)
    created = mutate(admin, create, u=name, p="long-enough-1")
    assert created["user"] == {"username": name, "isAdmin": False}
    assert login_as(server, name, "long-enough-1").token
    _, codes = refused(admin, create, u=name, p="long-enough-1")
    assert codes == ["ALREADY_EXISTS"]
    short_name = unique("s")
    short, _ = refused(admin, create, u=short_name, p="short")
    assert [(e["field"], e["code"]) for e in short["userErrors"]] == [("password", "VALIDATION_ERROR")]
    usernames = all_usernames(admin)
    assert name in usernames and short_name not in usernames


def test_error_codes_in_extensions(server: LiveServer, alice: Api) -> None:
    anonymous = Api(server.api_url)
    assert error_codes(anonymous, "{ me { id } }") == ["UNAUTHORIZED"]
    refused_anonymously = anonymous.graphql(
        'mutation { createOrganization(input: {name: "X", folderPath: "x"}) { organization { id } } }'
    )
    assert [e["extensions"]["code"] for e in refused_anonymously["errors"]] == ["UNAUTHORIZED"]
    assert data(anonymous, "{ health { status } }")["health"]["status"] == "OK"
    bad, _ = refused(
        alice,
        f'mutation {{ createOrganization(input: {{name: "X", folderPath: "../up"}}) {{ organization {{ id }} {USER_ERRORS} }} }}',
    )
    assert bad["organization"] is None
    assert [(e["field"], e["code"]) for e in bad["userErrors"]] == [("folderPath", "VALIDATION_ERROR")]
    assert error_codes(alice, "{ me { nope } }") == ["GRAPHQL_VALIDATION_FAILED"]
    assert error_codes(alice, "{ me { id ") == ["GRAPHQL_PARSE_FAILED"]


def test_limits_refuse_abusive_queries(alice: Api) -> None:
    nested = "{ workspaces(first: 1) { nodes { organization " * 6
    deep = "{ me { organizations(first: 1) { nodes " + nested + "{ id }" + " } } }" * 6 + " } } }"
    result = alice.graphql(deep)
    assert [e["extensions"]["code"] for e in result["errors"]] == ["QUERY_TOO_DEEP"], result
    assert "levels deep" in result["errors"][0]["message"] and result.get("data") is None
    aliases = "{ " + " ".join(f"a{i}: health {{ status }}" for i in range(40)) + " }"
    result = alice.graphql(aliases)
    assert [e["extensions"]["code"] for e in result["errors"]] == ["TOO_MANY_ALIASES"], result
    assert "aliases" in result["errors"][0]["message"]
    tokens = "{ health { " + "status " * 6000 + "} }"
    result = alice.graphql(tokens)
    assert [e["extensions"]["code"] for e in result["errors"]] == ["TOO_MANY_TOKENS"], result
    assert "token" in result["errors"][0]["message"].lower()


def test_graphiql_is_served_to_browsers(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_queries_over_websocket_authenticate_in_connection_init(server: LiveServer, alice: Api) -> None:
    with graphql_socket(server, alice.token) as socket:
        subscribe(socket, "{ me { username } }", "1")
        message = next_message(socket, timeout=5)
        assert message["type"] == "next" and message["payload"]["data"]["me"]["username"] == alice.username
        assert next_message(socket, timeout=5) == {"id": "1", "type": "complete"}
    url = server.url.replace("http", "ws") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"]) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer forged"}}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def test_exported_schema_is_up_to_date() -> None:
    from strawberry.printer import print_schema

    committed = Path(SCHEMA_FILE).read_text()
    assert committed == print_schema(build_schema()) + "\n", "schema.graphql is stale: run `make schema`"
