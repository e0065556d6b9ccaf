"""A project's network settings over REST (`GET`/`PUT /api/projects/{id}/network`, and the create body) and
GraphQL (`Project.network`, `setProjectNetwork`, `createProject`'s `network`): defaults from the AI
configuration, validation, and who may read and change them."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.network import MODEL_API_HOSTS
from tests.conftest import Api, Tree, make_tree, unique
from tests.graphql_calls import USER_ERRORS, add_member, data, gid, refused


def network(api: Api, project_id: str) -> dict[str, Any]:
    response = api.get(f"/projects/{project_id}/network")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_default_is_egress_to_the_configured_agents_model_apis(alice: Api, tree: Tree) -> None:
    project_id = tree.project["id"]
    default = network(alice, project_id)
    assert default["mode"] == "egress" and default["defaultAllowedHosts"] is True
    assert default["allowedHosts"] == list(MODEL_API_HOSTS["qwen"]), "no AI window: the default task type's"
    config = {
        "aiWindows": [
            {"type": "claude", "apiKey": "k", "model": "m", "baseUrl": ""},
            {"type": "codex", "apiKey": "k", "model": "m", "baseUrl": "https://llm.example.org:8443/v1"},
        ]
    }
    assert alice.put(f"/projects/{project_id}", {"aiConfig": config}).status_code == 200
    hosts = network(alice, project_id)["allowedHosts"]
    assert hosts == [*MODEL_API_HOSTS["claude"], *MODEL_API_HOSTS["codex"], "llm.example.org:8443"]


def test_an_owner_sets_the_mode_and_the_list_and_can_return_to_the_default(alice: Api, tree: Tree) -> None:
    project_id = tree.project["id"]
    body = {
        "mode": "none",
        "allowedHosts": ["Registry.NPMJS.org", "*.pypi.org", "localhost:8080", "registry.npmjs.org."],
    }
    changed = alice.put(f"/projects/{project_id}/network", body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["mode"] == "none" and changed.json()["defaultAllowedHosts"] is False
    assert changed.json()["allowedHosts"] == ["registry.npmjs.org", "*.pypi.org", "localhost:8080"]
    assert network(alice, project_id) == changed.json()
    assert alice.put(f"/projects/{project_id}/network", {"mode": "open"}).json()["allowedHosts"] == [
        "registry.npmjs.org",
        "*.pypi.org",
        "localhost:8080",
    ], "only what is sent changes"
    reset = alice.put(f"/projects/{project_id}/network", {"allowedHosts": None}).json()
    assert (reset["mode"], reset["defaultAllowedHosts"]) == ("open", True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "closed"}, "body.mode"),
        ({"mode": None}, "body.mode"),
        ({"allowedHosts": "api.anthropic.com"}, "body.allowedHosts"),
        ({"allowedHosts": ["https://api.anthropic.com/v1"]}, "body.allowedHosts[0]"),
        ({"allowedHosts": ["ok.example", "bad host"]}, "body.allowedHosts[1]"),
        ({"allowedHosts": ["-leading.example"]}, "body.allowedHosts[0]"),
        ({"allowedHosts": ["example.org:0"]}, "body.allowedHosts[0]"),
        ({"allowedHosts": ["example.org:70000"]}, "body.allowedHosts[0]"),
        ({"allowedHosts": [42]}, "body.allowedHosts[0]"),
        ({"allowedHosts": ["a.example"] * 101}, "body.allowedHosts"),
        ({"proxy": "x"}, "body.proxy"),
    ],
)
def test_bad_settings_are_refused_naming_the_field_and_change_nothing(
    alice: Api, tree: Tree, body: dict[str, Any], field: str
) -> None:
    project_id = tree.project["id"]
    before = network(alice, project_id)
    response = alice.put(f"/projects/{project_id}/network", body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR" and response.json()["details"]["field"] == field
    assert network(alice, project_id) == before


def test_members_read_owners_change_strangers_see_nothing(alice: Api, bob: Api, make_user: Any, tree: Tree) -> None:
    project_id = tree.project["id"]
    add_member(alice, tree.org["id"], bob)
    assert network(bob, project_id)["mode"] == "egress"
    refused = bob.put(f"/projects/{project_id}/network", {"mode": "open"})
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    assert network(alice, project_id)["mode"] == "egress"
    stranger = make_user()
    for response in (
        stranger.get(f"/projects/{project_id}/network"),
        stranger.put(f"/projects/{project_id}/network", {"mode": "open"}),
        stranger.get(f"/projects/{unique('missing')}/network"),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "PROJECT_NOT_FOUND"), response.text


def test_the_create_body_may_carry_the_settings_for_an_owner_only(alice: Api, bob: Api, tree: Tree) -> None:
    body = {"name": unique("Proj"), "folderPath": unique("proj"), "network": {"mode": "none", "allowedHosts": []}}
    created = alice.create(f"/workspaces/{tree.workspace['id']}/projects", body)
    assert network(alice, created["id"]) | {"appliesTo": ""} == {
        "mode": "none",
        "allowedHosts": [],
        "defaultAllowedHosts": False,
        "appliesTo": "",
    }
    add_member(alice, tree.org["id"], bob)
    by_member = bob.post(
        f"/workspaces/{tree.workspace['id']}/projects", {**body, "name": unique("P"), "folderPath": unique("p")}
    )
    assert (by_member.status_code, by_member.json()["code"]) == (403, "FORBIDDEN")
    bad = alice.post(
        f"/workspaces/{tree.workspace['id']}/projects",
        {"name": unique("P"), "folderPath": unique("p"), "network": {"mode": "wide"}},
    )
    assert (bad.status_code, bad.json()["details"]["field"]) == (400, "network.mode")
    names = [project["name"] for project in alice.get(f"/workspaces/{tree.workspace['id']}/projects").json()]
    assert names == [tree.project["name"], body["name"]], "nothing else was created"


def test_port_mappings_need_the_open_mode(sandbox_server: Any, sandbox_owner: Api) -> None:
    tree = make_tree(sandbox_owner)
    project_id = tree.project["id"]
    config = {"portMappings": [{"hostPort": 18081, "containerPort": 8080}]}
    assert sandbox_owner.put(f"/projects/{project_id}", {"aiConfig": config}).status_code == 200
    refused = sandbox_owner.post("/flexy", {"projectId": project_id})
    assert (refused.status_code, refused.json()["details"]["field"]) == (400, "aiConfig.portMappings"), refused.text
    assert "open network mode" in refused.json()["message"]


def test_folder_mappings_of_the_service_data_or_other_projects_are_refused(
    sandbox_server: Any, sandbox_owner: Api
) -> None:
    tree = make_tree(sandbox_owner)
    project_id = tree.project["id"]
    settings = sandbox_server.settings
    for host_path in (str(settings.data_dir), str(settings.base_root / tree.org["folderPath"]), "/"):
        config = {"folderMappings": [{"hostPath": host_path, "containerPath": "/mnt/x"}]}
        assert sandbox_owner.put(f"/projects/{project_id}", {"aiConfig": config}).status_code == 200
        refused = sandbox_owner.post("/flexy", {"projectId": project_id})
        assert refused.status_code == 400, refused.text
        assert refused.json()["details"]["field"] == "aiConfig.folderMappings[0].hostPath"
    assert sandbox_owner.get(f"/projects/{project_id}").json().get("sandboxId") is None


NETWORK = "query($p: ID!) { project(id: $p) { network { mode allowedHosts defaultAllowedHosts } } }"
SET_NETWORK = f"""mutation($p: ID!, $n: NetworkInput!) {{ setProjectNetwork(input: {{projectId: $p, network: $n}}) {{
  network {{ mode allowedHosts defaultAllowedHosts }} {USER_ERRORS} }} }}"""
CREATE = f"""mutation($w: ID!, $name: String!, $n: NetworkInput) {{ createProject(input: {{workspaceId: $w,
  name: $name, folderPath: $name, network: $n}}) {{ project {{ id network {{ mode allowedHosts }} }} {USER_ERRORS} }} }}"""


def test_graphql_reads_and_sets_the_same_settings_as_rest(alice: Api, bob: Api, make_user: Any, tree: Tree) -> None:
    project = gid("Project", tree.project["id"])
    read = data(alice, NETWORK, p=project)["project"]["network"]
    assert read == {"mode": "EGRESS", "allowedHosts": list(MODEL_API_HOSTS["qwen"]), "defaultAllowedHosts": True}
    changed = data(alice, SET_NETWORK, p=project, n={"mode": "NONE", "allowedHosts": ["Pypi.org", "pypi.org"]})
    assert changed["setProjectNetwork"] == {
        "network": {"mode": "NONE", "allowedHosts": ["pypi.org"], "defaultAllowedHosts": False},
        "userErrors": [],
    }
    assert network(alice, tree.project["id"])["allowedHosts"] == ["pypi.org"], "REST sees what GraphQL set"
    only_mode = data(alice, SET_NETWORK, p=project, n={"mode": "OPEN"})["setProjectNetwork"]["network"]
    assert (only_mode["mode"], only_mode["allowedHosts"]) == ("OPEN", ["pypi.org"]), "only what is sent changes"
    reset = data(alice, SET_NETWORK, p=project, n={"allowedHosts": None})["setProjectNetwork"]["network"]
    assert reset["defaultAllowedHosts"] is True

    before = network(alice, tree.project["id"])
    bad, codes = refused(alice, SET_NETWORK, p=project, n={"allowedHosts": ["ok.example", "https://x/y"]})
    assert codes == ["VALIDATION_ERROR"] and bad["userErrors"][0]["field"] == "body.allowedHosts[1]"
    add_member(alice, tree.org["id"], bob)
    assert data(bob, NETWORK, p=project)["project"]["network"]["mode"] == "OPEN"
    _, codes = refused(bob, SET_NETWORK, p=project, n={"mode": "NONE"})
    assert codes == ["FORBIDDEN"]
    stranger = make_user()
    assert data(stranger, NETWORK, p=project) == {"project": None}
    _, codes = refused(stranger, SET_NETWORK, p=project, n={"mode": "NONE"})
    assert codes == ["PROJECT_NOT_FOUND"]
    assert network(alice, tree.project["id"]) == before, "no refusal changed anything"


def test_graphql_create_project_takes_the_settings_for_an_owner_only(alice: Api, bob: Api, tree: Tree) -> None:
    workspace = gid("Workspace", tree.workspace["id"])
    made = data(alice, CREATE, w=workspace, name=unique("net"), n={"mode": "NONE", "allowedHosts": []})
    assert made["createProject"]["project"]["network"] == {"mode": "NONE", "allowedHosts": []}
    add_member(alice, tree.org["id"], bob)
    _, codes = refused(bob, CREATE, w=workspace, name=unique("net"), n={"mode": "OPEN"})
    assert codes == ["FORBIDDEN"]
    plain = data(bob, CREATE, w=workspace, name=unique("net"), n=None)["createProject"]
    assert plain["project"]["network"]["mode"] == "EGRESS", "a member makes projects with the default network"
