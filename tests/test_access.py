"""A user outside an organization cannot read, list, change or delete anything in it: REST and GraphQL alike."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, LiveServer, Tree, add_user, make_tree
from tests.graphql_calls import USER_ERRORS, data, gid, mutate, refused


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
    ("query($id: ID!) { organization(id: $id) { id name } }", "Organization"),
    ("query($id: ID!) { organization(id: $id) { workspaces { nodes { id } } } }", "Organization"),
    ("query($id: ID!) { organization(id: $id) { members { nodes { role } } } }", "Organization"),
    ("query($id: ID!) { organization(id: $id) { folders { nodes { name } } } }", "Organization"),
    ("query($id: ID!) { workspace(id: $id) { id name } }", "Workspace"),
    ("query($id: ID!) { workspace(id: $id) { projects { nodes { id } } } }", "Workspace"),
    ("query($id: ID!) { workspace(id: $id) { folders { nodes { name } } } }", "Workspace"),
    ("query($id: ID!) { project(id: $id) { id name } }", "Project"),
    ("query($id: ID!) { project(id: $id) { workflowState { currentPhaseId } } }", "Project"),
    ("query($id: ID!) { node(id: $id) { id } }", "Organization"),
    ("query($id: ID!) { node(id: $id) { id } }", "Workspace"),
    ("query($id: ID!) { node(id: $id) { id } }", "Project"),
]
"""Lookups of another user's objects: null, exactly as for an id that names nothing."""

GRAPHQL_WRITES = {
    "Organization": [
        'mutation($id: ID!) { updateOrganization(input: {id: $id, name: "H"}) { organization { id } PAYLOAD } }',
        "mutation($id: ID!) { deleteOrganization(input: {id: $id}) { deletedId PAYLOAD } }",
        'mutation($id: ID!) { createWorkspace(input: {organizationId: $id, name: "E", folderPath: "e"}) { workspace { id } PAYLOAD } }',
        'mutation($id: ID!) { setOrganizationMember(input: {organizationId: $id, username: "admin"}) { member { role } PAYLOAD } }',
        "mutation($id: ID!, $me: ID!) { removeOrganizationMember(input: {organizationId: $id, userId: $me}) { removedUserId PAYLOAD } }",
    ],
    "Workspace": [
        'mutation($id: ID!) { updateWorkspace(input: {id: $id, name: "H"}) { workspace { id } PAYLOAD } }',
        "mutation($id: ID!) { deleteWorkspace(input: {id: $id}) { deletedId PAYLOAD } }",
        'mutation($id: ID!) { createProject(input: {workspaceId: $id, name: "E", folderPath: "e"}) { project { id } PAYLOAD } }',
    ],
    "Project": [
        'mutation($id: ID!) { updateProject(input: {id: $id, name: "H"}) { project { id } PAYLOAD } }',
        "mutation($id: ID!) { deleteProject(input: {id: $id, deleteFolder: true}) { deletedId PAYLOAD } }",
        "mutation($id: ID!, $ws: ID!) { moveProject(input: {id: $id, workspaceId: $ws}) { project { id } PAYLOAD } }",
        'mutation($id: ID!) { updateWorkflowState(input: {projectId: $id, currentPhaseId: "x"}) { project { id } PAYLOAD } }',
        'mutation($id: ID!) { setTrackedStep(input: {projectId: $id, stepId: "s", status: COMPLETED}) { project { id } PAYLOAD } }',
        "mutation($id: ID!) { setTaskLimit(input: {projectId: $id, limit: 3}) { project { id } PAYLOAD } }",
        "mutation($id: ID!) { createSandbox(input: {projectId: $id}) { sandbox { id } PAYLOAD } }",
        'mutation($id: ID!) { executeAdhocTask(input: {projectId: $id, title: "t", prompt: "x", taskType: BASH}) { task { id } PAYLOAD } }',
        'mutation($id: ID!) { executeTask(input: {projectId: $id, stepId: "design", prompt: "x"}) { task { id } PAYLOAD } }',
        'mutation($id: ID!) { executeWorkflowStep(input: {projectId: $id, stepId: "design"}) { task { id } PAYLOAD } }',
    ],
}
"""Every mutation on another user's organization, workspace or project: refused as not found, in the payload."""
NOT_FOUND = {
    "Organization": "ORGANIZATION_NOT_FOUND",
    "Workspace": "WORKSPACE_NOT_FOUND",
    "Project": "PROJECT_NOT_FOUND",
}


def tree_ids(tree: Tree) -> dict[str, str]:
    return {
        "Organization": tree.org["id"],
        "Workspace": tree.workspace["id"],
        "Project": tree.project["id"],
    }


@pytest.mark.parametrize(("query", "target"), GRAPHQL_READS)
def test_graphql_lookups_of_the_other_users_objects_answer_null(
    outsider: Api, module_tree: Tree, query: str, target: str
) -> None:
    found = data(outsider, query, id=gid(target, tree_ids(module_tree)[target]))
    (field,) = found.keys()
    assert found == {field: None}
    # Exactly as if it did not exist: the same answer as for a made-up id of the same type.
    assert data(outsider, query, id=gid(target, "00000000-0000-4000-8000-000000000000")) == {field: None}
    assert data(outsider, query, id="not a global id") == {field: None}


def test_graphql_nodes_of_the_other_users_objects_are_null(outsider: Api, module_user: Api, module_tree: Tree) -> None:
    ids = [gid(kind, database_id) for kind, database_id in tree_ids(module_tree).items()]
    ids.append(gid("User", module_user.user_id))  # a user who shares no organization with the caller
    assert data(outsider, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=ids) == {"nodes": [None] * 4}
    mine = data(module_user, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=ids)["nodes"]
    assert [node["id"] for node in mine] == ids


@pytest.fixture(scope="module")
def outsiders_tree(outsider: Api) -> Tree:
    return make_tree(outsider)


@pytest.mark.parametrize(
    ("query", "target"), [(query, target) for target, queries in GRAPHQL_WRITES.items() for query in queries]
)
def test_graphql_mutations_refuse_the_other_users_objects_and_change_nothing(
    server: LiveServer,
    module_user: Api,
    outsider: Api,
    module_tree: Tree,
    outsiders_tree: Tree,
    query: str,
    target: str,
) -> None:
    variables = {"id": gid(target, tree_ids(module_tree)[target])}
    if "$ws" in query:
        variables["ws"] = gid("Workspace", outsiders_tree.workspace["id"])
    if "$me" in query:
        variables["me"] = gid("User", module_user.user_id)
    payload, codes = refused(outsider, query.replace("PAYLOAD", USER_ERRORS), **variables)
    assert codes == [NOT_FOUND[target]]
    assert all(value is None for key, value in payload.items() if key != "userErrors"), payload
    unchanged(server, module_user, module_tree)


def unchanged(server: LiveServer, owner: Api, tree: Tree) -> None:
    """The owner's tree is as it was made: records, membership, folders; nothing was added to it."""
    org, ws, project = tree.org["id"], tree.workspace["id"], tree.project["id"]
    assert owner.get(f"/organizations/{org}").json() == tree.org
    assert owner.get(f"/workspaces/{ws}").json() == tree.workspace
    assert owner.get(f"/projects/{project}").json() == tree.project
    assert owner.get(f"/projects/{project}/workflow").json()["stepStatuses"] == {}
    assert [w["id"] for w in owner.get(f"/organizations/{org}/workspaces").json()] == [ws]
    assert [p["id"] for p in owner.get(f"/workspaces/{ws}/projects").json()] == [project]
    assert owner.get(f"/projects/{project}/tasks").json() == []
    assert owner.get("/flexy").json() == []
    seen = data(
        owner,
        "query($o: ID!, $p: ID!) { organization(id: $o) { members { nodes { user { username } } } }"
        " project(id: $p) { taskLimit sandbox { id } } }",
        o=gid("Organization", org),
        p=gid("Project", project),
    )
    assert seen["organization"]["members"]["nodes"] == [{"user": {"username": owner.username}}]
    assert seen["project"] == {"taskLimit": 1, "sandbox": None}
    folder = server.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"]
    assert (folder / tree.project["folderPath"]).is_dir() and not (folder / "e").exists()


def test_graphql_refuses_moving_a_project_into_the_other_users_workspace(
    server: LiveServer, module_user: Api, outsider: Api, module_tree: Tree
) -> None:
    outsiders = make_tree(outsider)
    _, codes = refused(
        outsider,
        f"mutation($id: ID!, $ws: ID!) {{ moveProject(input: {{id: $id, workspaceId: $ws}}) {{ project {{ id }} {USER_ERRORS} }} }}",
        id=gid("Project", outsiders.project["id"]),
        ws=gid("Workspace", module_tree.workspace["id"]),
    )
    assert codes == ["WORKSPACE_NOT_FOUND"]
    assert outsider.get(f"/projects/{outsiders.project['id']}").json() == outsiders.project
    unchanged(server, module_user, module_tree)


def test_graphql_lists_and_graph_never_reach_the_other_users_tree(
    module_user: Api, outsider: Api, module_tree: Tree
) -> None:
    tree = "{ me { organizations(first: 20) { nodes { id databaseId workspaces(first: 20) { nodes { id databaseId projects(first: 20) { nodes { id databaseId } } } } } } } }"  # fmt: skip
    seen = repr(data(outsider, tree)) + repr(data(outsider, "{ sandboxes { nodes { id } } workflows(first: 100) { nodes { organization { id } } } }"))  # fmt: skip
    for kind, object_id in tree_ids(module_tree).items():
        assert object_id not in seen and gid(kind, object_id) not in seen
    mine = repr(data(module_user, tree))
    assert module_tree.project["id"] in mine and gid("Project", module_tree.project["id"]) in mine


def test_membership_grants_and_removal_revokes_access(alice: Api, bob: Api, tree: Tree) -> None:
    org = gid("Organization", tree.org["id"])
    set_member = (
        "mutation($o: ID!, $u: String!, $r: Role!) { setOrganizationMember(input: {organizationId: $o, username: $u,"
        f" role: $r}}) {{ member {{ role user {{ id }} }} {USER_ERRORS} }} }}"
    )
    added = mutate(alice, set_member, o=org, u=bob.username, r="MEMBER")
    assert added["member"] == {"role": "MEMBER", "user": {"id": gid("User", bob.user_id)}}
    assert bob.get(f"/projects/{tree.project['id']}").status_code == 200
    assert data(bob, "query($p: ID!) { project(id: $p) { id } }", p=gid("Project", tree.project["id"]))["project"]
    assert bob.put(f"/projects/{tree.project['id']}", {"sandboxName": "shared"}).status_code == 200
    # A member may not rename or delete the organization, nor manage members.
    assert bob.put(f"/organizations/{tree.org['id']}", {"name": "Mine now"}).json()["code"] == "FORBIDDEN"
    assert bob.delete(f"/organizations/{tree.org['id']}").status_code == 403
    _, codes = refused(bob, set_member, o=org, u=bob.username, r="OWNER")
    assert codes == ["FORBIDDEN"]
    roles = data(alice, "query($o: ID!) { organization(id: $o) { members { nodes { role user { username } } } } }", o=org)  # fmt: skip
    assert {(m["user"]["username"], m["role"]) for m in roles["organization"]["members"]["nodes"]} == {
        (alice.username, "OWNER"),
        (bob.username, "MEMBER"),
    }

    remove = (
        "mutation($o: ID!, $u: ID!) { removeOrganizationMember(input: {organizationId: $o, userId: $u})"
        f" {{ removedUserId {USER_ERRORS} }} }}"
    )
    removed = mutate(alice, remove, o=org, u=gid("User", bob.user_id))
    assert removed["removedUserId"] == gid("User", bob.user_id)
    assert bob.get(f"/projects/{tree.project['id']}").status_code == 404
    assert data(bob, "query($p: ID!) { project(id: $p) { id } }", p=gid("Project", tree.project["id"])) == {"project": None}  # fmt: skip
    last_owner, codes = refused(alice, remove, o=org, u=gid("User", alice.user_id))
    assert codes == ["CONFLICT"] and last_owner["removedUserId"] is None
    assert alice.get(f"/organizations/{tree.org['id']}").status_code == 200
