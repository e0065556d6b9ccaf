"""A user outside an organization cannot read, list, change or delete anything in it: REST and GraphQL alike."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, LiveServer, Tree, add_user


@pytest.fixture(scope="module")
def outsider(server: LiveServer, admin: Api) -> Api:
    return add_user(server, admin)


def test_rest_reads_and_lists_hide_the_other_users_tree(outsider: Api, module_tree: Tree) -> None:
    org, ws, project = module_tree.org["id"], module_tree.workspace["id"], module_tree.project["id"]
    for path, code in [
        (f"/organizations/{org}", "ORGANIZATION_NOT_FOUND"),
        (f"/organizations/{org}/workspaces", "ORGANIZATION_NOT_FOUND"),
        (f"/organizations/{org}/hierarchy", "ORGANIZATION_NOT_FOUND"),
        (f"/workspaces/{ws}", "WORKSPACE_NOT_FOUND"),
        (f"/workspaces/{ws}/projects", "WORKSPACE_NOT_FOUND"),
        (f"/projects/{project}", "PROJECT_NOT_FOUND"),
        (f"/projects/{project}/workflow", "PROJECT_NOT_FOUND"),
        (f"/projects/{project}/path", "PROJECT_NOT_FOUND"),
        (f"/folders/workspaces/{org}", "ORGANIZATION_NOT_FOUND"),
        (f"/folders/projects/{ws}", "WORKSPACE_NOT_FOUND"),
    ]:
        response = outsider.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == code
        # Exactly as if it did not exist: same body as for a made-up id, apart from the id itself.
        made_up = outsider.get(path.replace(org, "x").replace(ws, "x").replace(project, "x"))
        assert made_up.json()["code"] == code
    assert all(o["id"] != org for o in outsider.get("/organizations").json())
    assert all(w["id"] != ws for w in outsider.get("/workspaces").json())
    assert all(p["id"] != project for p in outsider.get("/projects").json())


def test_rest_writes_and_deletes_are_refused_and_change_nothing(
    server: LiveServer, module_user: Api, outsider: Api, module_tree: Tree
) -> None:
    org, ws, project = module_tree.org["id"], module_tree.workspace["id"], module_tree.project["id"]
    outsiders_org = outsider.create("/organizations", {"name": "Outsider", "folderPath": f"outsider-{org[:8]}"})
    outsiders_ws = outsider.create(f"/organizations/{outsiders_org['id']}/workspaces", {"name": "W", "folderPath": "w"})
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PUT", f"/organizations/{org}", {"name": "Hacked"}),
        ("DELETE", f"/organizations/{org}", None),
        ("POST", f"/organizations/{org}/workspaces", {"name": "Evil", "folderPath": "evil"}),
        ("PUT", f"/workspaces/{ws}", {"name": "Hacked"}),
        ("DELETE", f"/workspaces/{ws}", None),
        ("POST", f"/workspaces/{ws}/projects", {"name": "Evil", "folderPath": "evil"}),
        ("PUT", f"/projects/{project}", {"name": "Hacked"}),
        ("DELETE", f"/projects/{project}?deleteFolder=true", None),
        ("POST", f"/projects/{project}/move", {"newWorkspaceId": outsiders_ws["id"]}),
        ("PUT", f"/projects/{project}/workflow", {"currentPhaseId": "x"}),
        ("PATCH", f"/projects/{project}/workflow/step/s", {"status": "completed"}),
    ]
    for method, path, body in attempts:
        response = outsider.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    # Moving one of his own projects into Alice's workspace is refused as well.
    outsiders_project = outsider.create(f"/workspaces/{outsiders_ws['id']}/projects", {"name": "P", "folderPath": "p"})
    assert outsider.post(f"/projects/{outsiders_project['id']}/move", {"newWorkspaceId": ws}).status_code == 404

    assert module_user.get(f"/organizations/{org}").json() == module_tree.org
    assert module_user.get(f"/workspaces/{ws}").json() == module_tree.workspace
    assert module_user.get(f"/projects/{project}").json() == module_tree.project
    assert [p["id"] for p in module_user.get(f"/workspaces/{ws}/projects").json()] == [project]
    folder = server.settings.base_root / module_tree.org["folderPath"] / module_tree.workspace["folderPath"]
    assert (folder / module_tree.project["folderPath"]).is_dir() and not (folder / "evil").exists()


GRAPHQL_READS = [
    ("query($id: ID!) { organization(id: $id) { id } }", "org", "ORGANIZATION_NOT_FOUND"),
    ("query($id: ID!) { workspaces(organizationId: $id) { id } }", "org", "ORGANIZATION_NOT_FOUND"),
    ("query($id: ID!) { workspace(id: $id) { id } }", "ws", "WORKSPACE_NOT_FOUND"),
    ("query($id: ID!) { projects(workspaceId: $id) { id } }", "ws", "WORKSPACE_NOT_FOUND"),
    ("query($id: ID!) { project(id: $id) { id } }", "project", "PROJECT_NOT_FOUND"),
    ("query($id: ID!) { workflowState(projectId: $id) { currentPhaseId } }", "project", "PROJECT_NOT_FOUND"),
    ("query($id: ID!) { workspaceFolders(organizationId: $id) }", "org", "ORGANIZATION_NOT_FOUND"),
    ("query($id: ID!) { projectFolders(workspaceId: $id) }", "ws", "WORKSPACE_NOT_FOUND"),
]

GRAPHQL_WRITES = [
    ('mutation($id: ID!) { updateOrganization(id: $id, name: "H") { id } }', "org", "ORGANIZATION_NOT_FOUND"),
    ("mutation($id: ID!) { deleteOrganization(id: $id) }", "org", "ORGANIZATION_NOT_FOUND"),
    (
        'mutation($id: ID!) { createWorkspace(organizationId: $id, name: "E", folderPath: "e") { id } }',
        "org",
        "ORGANIZATION_NOT_FOUND",
    ),
    (
        'mutation($id: ID!) { setOrganizationMember(organizationId: $id, username: "admin") { role } }',
        "org",
        "ORGANIZATION_NOT_FOUND",
    ),
    ('mutation($id: ID!) { updateWorkspace(id: $id, name: "H") { id } }', "ws", "WORKSPACE_NOT_FOUND"),
    ("mutation($id: ID!) { deleteWorkspace(id: $id) }", "ws", "WORKSPACE_NOT_FOUND"),
    (
        'mutation($id: ID!) { createProject(workspaceId: $id, name: "E", folderPath: "e") { id } }',
        "ws",
        "WORKSPACE_NOT_FOUND",
    ),
    ('mutation($id: ID!) { updateProject(id: $id, input: {name: "H"}) { id } }', "project", "PROJECT_NOT_FOUND"),
    ("mutation($id: ID!) { deleteProject(id: $id, deleteFolder: true) }", "project", "PROJECT_NOT_FOUND"),
    (
        'mutation($id: ID!) { updateWorkflowState(projectId: $id, currentPhaseId: "x") { id } }',
        "project",
        "PROJECT_NOT_FOUND",
    ),
    (
        'mutation($id: ID!) { updateStepStatus(projectId: $id, stepId: "s", status: "completed") { currentPhaseId } }',
        "project",
        "PROJECT_NOT_FOUND",
    ),
]


@pytest.mark.parametrize(("query", "target", "code"), GRAPHQL_READS + GRAPHQL_WRITES)
def test_graphql_refuses_the_other_users_objects(
    module_user: Api, outsider: Api, module_tree: Tree, query: str, target: str, code: str
) -> None:
    ids = {"org": module_tree.org["id"], "ws": module_tree.workspace["id"], "project": module_tree.project["id"]}
    result = outsider.graphql(query, {"id": ids[target]})
    assert result["data"] is None
    assert [e["extensions"]["code"] for e in result["errors"]] == [code]
    assert module_user.get(f"/projects/{module_tree.project['id']}").json() == module_tree.project
    assert module_user.get(f"/organizations/{module_tree.org['id']}").json() == module_tree.org


def test_graphql_lists_and_graph_never_reach_the_other_users_tree(
    module_user: Api, outsider: Api, module_tree: Tree
) -> None:
    result = outsider.graphql(
        "{ organizations { id workspaces { id projects { id } } } workspaces { id } projects { id } }"
    )
    seen = repr(result["data"])
    for object_id in (module_tree.org["id"], module_tree.workspace["id"], module_tree.project["id"]):
        assert object_id not in seen
    mine = module_user.graphql("{ organizations { id workspaces { id projects { id } } } }")
    assert module_tree.project["id"] in repr(mine["data"])


def test_membership_grants_and_removal_revokes_access(alice: Api, bob: Api, tree: Tree) -> None:
    org = tree.org["id"]
    added = alice.graphql(
        "mutation($o: ID!, $u: String!) { setOrganizationMember(organizationId: $o, username: $u) { role user { id } } }",
        {"o": org, "u": bob.username},
    )
    assert added["data"]["setOrganizationMember"]["role"] == "member"
    assert bob.get(f"/projects/{tree.project['id']}").status_code == 200
    assert bob.put(f"/projects/{tree.project['id']}", {"sandboxName": "shared"}).status_code == 200
    # A member may not rename or delete the organization, nor manage members.
    assert bob.put(f"/organizations/{org}", {"name": "Mine now"}).json()["code"] == "FORBIDDEN"
    assert bob.delete(f"/organizations/{org}").status_code == 403
    grab = bob.graphql(
        'mutation($o: ID!, $u: String!) { setOrganizationMember(organizationId: $o, username: $u, role: "owner") { role } }',
        {"o": org, "u": bob.username},
    )
    assert grab["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    removed = alice.graphql(
        "mutation($o: ID!, $u: ID!) { removeOrganizationMember(organizationId: $o, userId: $u) }",
        {"o": org, "u": bob.user_id},
    )
    assert removed["data"]["removeOrganizationMember"] is True
    assert bob.get(f"/projects/{tree.project['id']}").status_code == 404
    last_owner = alice.graphql(
        "mutation($o: ID!, $u: ID!) { removeOrganizationMember(organizationId: $o, userId: $u) }",
        {"o": org, "u": alice.user_id},
    )
    assert last_owner["errors"][0]["extensions"]["code"] == "CONFLICT"
