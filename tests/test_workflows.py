"""Workflow definitions (operations 22-30) over REST, on SQLite and PostgreSQL (the shared `server`)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from resolvers.workflows import TEMPLATE_ID
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, Api, login_as, make_tree, unique
from tests.graphql_calls import USER_ERRORS, data, gid, mutate, refused

WORKFLOW_KEYS = {
    "id", "name", "description", "definition", "status", "version", "currentVersion", "isTemplate", "createdAt",
    "updatedAt",
}  # fmt: skip
VERSION_KEYS = {
    "id", "workflowId", "name", "description", "definition", "status", "version", "currentVersion", "createdAt",
    "updatedAt",
}  # fmt: skip
OPTIONAL = {"changeDescription", "organizationId"}
"""Besides those keys, these are there when they have a value (absent, never null, otherwise)."""


def definition(*step_types: str) -> dict[str, Any]:
    """A definition with every field the spec requires, so it comes back exactly as sent."""
    return {
        "phases": [
            {
                "id": "plan",
                "title": "Plan",
                "description": "Decide",
                "color": "#3b82f6",
                "steps": [{"id": "spec", "title": "Spec", "description": "Write it", "type": "process"}],
            },
            {
                "id": "build",
                "title": "Build",
                "description": "Make it",
                "color": "#22c55e",
                "steps": [
                    {"id": f"s{index}", "title": f"S{index}", "description": "", "type": kind}
                    for index, kind in enumerate(step_types or ("milestone",))
                ],
            },
        ],
        "transitions": [{"from": "plan", "to": "build", "type": "forward"}],
    }


def create(api: Api, **body: Any) -> dict[str, Any]:
    return api.create("/workflows", {"name": unique("Flow"), "description": "d", "definition": definition(), **body})


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return body


def test_create_get_list_as_draft(alice: Api) -> None:
    org = make_tree(alice).org
    created = create(alice, status="published")
    assert set(created) - OPTIONAL == WORKFLOW_KEYS
    assert created["status"] == "draft"
    assert (created["version"], created["currentVersion"], created["isTemplate"]) == (1, 1, False)
    assert created["organizationId"] == org["id"]
    assert created["definition"] == definition()
    fetched = alice.get(f"/workflows/{created['id']}")
    assert fetched.status_code == 200 and fetched.json() == created
    listed = alice.get("/workflows").json()
    assert created["id"] in [w["id"] for w in listed]
    drafts = alice.get("/workflows", params={"status": "draft"}).json()
    assert created["id"] in [w["id"] for w in drafts] and all(w["status"] == "draft" for w in drafts)
    published = alice.get("/workflows", params={"status": "published"}).json()
    assert created["id"] not in [w["id"] for w in published]
    assert_error(alice.get("/workflows", params={"status": "bogus"}), 400, "INVALID_VALUE")


def test_empty_definition_and_caller_without_organization(make_user: Any) -> None:
    loner, other = make_user(), make_user()
    created = loner.create("/workflows", {"name": "empty", "description": "", "definition": {}})
    assert created["definition"] == {"phases": [], "transitions": []} and "organizationId" not in created
    assert loner.get(f"/workflows/{created['id']}").status_code == 200
    assert_error(other.get(f"/workflows/{created['id']}"), 404, "WORKFLOW_NOT_FOUND")
    missing = assert_error(loner.post("/workflows", {"name": "nothing"}), 400, "MISSING_REQUIRED_FIELD")
    assert missing["details"] == {"field": "definition"}


def test_sparse_definition_is_answered_with_the_spec_defaults(alice: Api) -> None:
    """What a definition leaves out comes back as the spec's required fields, never missing or null."""
    sparse = {
        "phases": [{"id": "p", "icon": None, "steps": [{"id": "s", "workflows": [{"name": "guide", "path": "g.md"}]}]}],
        "transitions": [{"from": "p", "to": "p", "label": None}],
    }
    created = alice.create("/workflows", {"name": unique("Sparse"), "definition": sparse})
    assert created["description"] == ""
    assert created["definition"] == {
        "phases": [
            {
                "id": "p",
                "title": "p",
                "description": "",
                "color": "#64748b",
                "steps": [
                    {
                        "id": "s",
                        "title": "s",
                        "description": "",
                        "type": "process",
                        "workflows": [{"name": "guide", "path": "g.md", "description": "", "phase": ""}],
                    }
                ],
            }
        ],
        "transitions": [{"from": "p", "to": "p", "type": "forward"}],
    }
    for wrong, field in [
        ({"phases": [{"id": "p", "color": 3}]}, "definition.phases[0].color"),
        (
            {"phases": [{"id": "p", "steps": [{"id": "s", "description": []}]}]},
            "definition.phases[0].steps[0].description",
        ),
        (
            {"phases": [{"id": "p", "steps": [{"id": "s", "workflows": [{"path": 1}]}]}]},
            "definition.phases[0].steps[0].workflows[0].path",
        ),
    ]:
        body = assert_error(alice.post("/workflows", {"name": "x", "definition": wrong}), 400, "VALIDATION_ERROR")
        assert body["details"]["field"] == field


def test_draft_update_in_place(alice: Api) -> None:
    created = create(alice)
    response = alice.put(f"/workflows/{created['id']}", {"name": "renamed", "definition": definition("decision")})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert set(updated) - OPTIONAL == WORKFLOW_KEYS
    assert (updated["name"], updated["version"], updated["status"]) == ("renamed", 1, "draft")
    assert updated["definition"] == definition("decision")
    assert alice.get(f"/workflows/{created['id']}/versions").json() == []


def test_published_update_stores_versions(alice: Api) -> None:
    created = create(alice)
    published = alice.patch(f"/workflows/{created['id']}/status", {"status": "published"})
    assert published.status_code == 200 and published.json()["status"] == "published"
    response = alice.put(
        f"/workflows/{created['id']}", {"definition": definition("documentation"), "changeDescription": "docs step"}
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["version"], updated["currentVersion"], updated["changeDescription"]) == (2, 2, "docs step")
    assert alice.get(f"/workflows/{created['id']}").json()["definition"] == definition("documentation")
    versions = alice.get(f"/workflows/{created['id']}/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert all(set(v) - OPTIONAL == VERSION_KEYS and v["workflowId"] == created["id"] for v in versions)
    assert "changeDescription" not in versions[1]
    assert versions[0]["changeDescription"] == "docs step"
    first = alice.get(f"/workflows/versions/{versions[1]['id']}")
    assert first.status_code == 200 and first.json()["definition"] == definition()
    # Publishing again changes nothing: the working copy is already snapshotted.
    alice.patch(f"/workflows/{created['id']}/status", {"status": "published"})
    assert len(alice.get(f"/workflows/{created['id']}/versions").json()) == 2


def test_republished_draft_edit_gets_a_new_version(alice: Api) -> None:
    created = create(alice)
    alice.patch(f"/workflows/{created['id']}/status", {"status": "published"})
    alice.patch(f"/workflows/{created['id']}/status", {"status": "draft"})
    alice.put(f"/workflows/{created['id']}", {"definition": definition("decision")})
    republished = alice.patch(f"/workflows/{created['id']}/status", {"status": "published"}).json()
    assert republished["version"] == 2
    versions = alice.get(f"/workflows/{created['id']}/versions").json()
    assert [(v["version"], v["definition"]) for v in versions] == [(2, definition("decision")), (1, definition())]


def test_status_changes_and_archive(alice: Api) -> None:
    created = create(alice)
    for status in ("published", "archived", "draft"):
        response = alice.patch(f"/workflows/{created['id']}/status", {"status": status})
        assert response.status_code == 200 and response.json()["status"] == status
    assert_error(alice.patch(f"/workflows/{created['id']}/status", {"status": "gone"}), 400, "INVALID_VALUE")
    assert_error(alice.patch(f"/workflows/{created['id']}/status", {}), 400, "MISSING_REQUIRED_FIELD")


def test_clone(alice: Api) -> None:
    created = create(alice)
    alice.patch(f"/workflows/{created['id']}/status", {"status": "published"})
    alice.put(f"/workflows/{created['id']}", {"definition": definition("decision")})
    clone = alice.post(f"/workflows/{created['id']}/clone", {"name": "mine", "description": "copy"})
    assert clone.status_code == 201, clone.text
    copy = clone.json()
    assert set(copy) - OPTIONAL == WORKFLOW_KEYS and copy["id"] != created["id"]
    assert (copy["name"], copy["description"], copy["status"], copy["version"]) == ("mine", "copy", "draft", 1)
    assert copy["isTemplate"] is False and copy["definition"] == definition("decision")
    assert alice.get(f"/workflows/{copy['id']}/versions").json() == []


def test_delete(alice: Api) -> None:
    created = create(alice)
    alice.patch(f"/workflows/{created['id']}/status", {"status": "published"})
    response = alice.delete(f"/workflows/{created['id']}")
    assert response.status_code == 204 and not response.content
    assert_error(alice.get(f"/workflows/{created['id']}"), 404, "WORKFLOW_NOT_FOUND")
    assert_error(alice.delete(f"/workflows/{created['id']}"), 404, "WORKFLOW_NOT_FOUND")


def test_delete_refused_while_a_project_uses_it(alice: Api) -> None:
    tree = make_tree(alice)
    created = create(alice)
    bound = alice.put(f"/projects/{tree.project['id']}", {"workflowId": created["id"]})
    assert bound.status_code == 200, bound.text
    assert_error(alice.delete(f"/workflows/{created['id']}"), 409, "WORKFLOW_IN_USE")
    assert alice.get(f"/workflows/{created['id']}").status_code == 200
    alice.put(f"/projects/{tree.project['id']}", {"workflowId": None})
    assert alice.delete(f"/workflows/{created['id']}").status_code == 204


def test_template_is_seeded_and_protected(make_user: Any) -> None:
    newcomer = make_user()
    templates = [w for w in newcomer.get("/workflows").json() if w["isTemplate"]]
    assert [t["id"] for t in templates] == [TEMPLATE_ID]
    template = templates[0]
    assert template["status"] == "published" and "organizationId" not in template
    phases = template["definition"]["phases"]
    assert all(p["description"] and p["color"].startswith("#") for p in phases)
    assert all(s["description"] for p in phases for s in p["steps"])
    assert [p["id"] for p in phases] == ["rapid-prototyping", "automated-qa", "continuous-optimization"]
    assert [[s["id"] for s in p["steps"]] for p in phases] == [
        ["trigger", "requirements", "design", "preview", "dogfooding", "acceptance-criteria", "ready-for-qa"],
        ["qa-version", "qa-cicd", "qa-version-run", "qa-preview", "qa-automated", "qa-official-version", "qa-production"],
        ["feature-updates", "opt-cicd", "opt-version", "opt-preview", "opt-automated", "opt-dogfooding",
         "opt-official-version", "opt-production"],
    ]  # the contract's lifecycle (§4.2)  # fmt: skip
    assert TEMPLATE_ID in [w["id"] for w in newcomer.get("/workflows", params={"status": "published"}).json()]
    assert len(newcomer.get(f"/workflows/{TEMPLATE_ID}/versions").json()) == 1
    assert newcomer.put(f"/workflows/{TEMPLATE_ID}", {"name": "mine"}).status_code == 403
    assert newcomer.patch(f"/workflows/{TEMPLATE_ID}/status", {"status": "archived"}).status_code == 403
    assert newcomer.delete(f"/workflows/{TEMPLATE_ID}").status_code == 403
    assert newcomer.get(f"/workflows/{TEMPLATE_ID}").json() == template
    copy = newcomer.create(f"/workflows/{TEMPLATE_ID}/clone", {"name": "my lifecycle"})
    assert (copy["isTemplate"], copy["status"], copy["version"]) == (False, "draft", 1)
    assert copy["definition"] == template["definition"]


BAD_DEFINITIONS = [
    (
        {"phases": [{"id": "a", "steps": []}, {"id": "a", "steps": []}], "transitions": []},
        "definition.phases[1].id",
    ),
    (
        {"phases": [{"id": "a", "steps": [{"id": "x"}]}, {"id": "b", "steps": [{"id": "x"}]}], "transitions": []},
        "definition.phases[1].steps[0].id",
    ),
    (
        {"phases": [{"id": "a", "steps": []}], "transitions": [{"from": "a", "to": "z", "type": "forward"}]},
        "definition.transitions[0].to",
    ),
    (
        {"phases": [{"id": "a", "steps": []}, {"id": "b", "steps": [{"id": "x", "type": "magic"}]}]},
        "definition.phases[1].steps[0].type",
    ),
    (
        {"phases": [{"id": "a", "steps": []}], "transitions": [{"from": "a", "to": "a", "type": "sideways"}]},
        "definition.transitions[0].type",
    ),
    ({"phases": [{"title": "no id"}]}, "definition.phases[0].id"),
    ({"phases": "none"}, "definition.phases"),
    ([], "definition"),
]


@pytest.mark.parametrize(("bad", "path"), BAD_DEFINITIONS)
def test_bad_definitions_are_refused(module_user: Api, bad: Any, path: str) -> None:
    before = module_user.get("/workflows").json()
    refused = module_user.post("/workflows", {"name": "bad", "definition": bad})
    assert refused.status_code == 400, refused.text
    assert path in refused.json()["error"]
    assert module_user.get("/workflows").json() == before
    existing = create(module_user)
    refused = module_user.put(f"/workflows/{existing['id']}", {"definition": bad})
    assert refused.status_code == 400 and path in refused.json()["error"]
    assert module_user.get(f"/workflows/{existing['id']}").json() == existing


def test_empty_name_is_refused(alice: Api) -> None:
    assert alice.post("/workflows", {"name": "", "definition": {}}).status_code == 400
    assert_error(alice.post("/workflows", {"definition": {}}), 400, "MISSING_REQUIRED_FIELD")
    created = create(alice)
    refused = alice.put(f"/workflows/{created['id']}", {"name": "  "})
    assert refused.status_code == 400 and "name" in refused.json()["error"]
    assert alice.get(f"/workflows/{created['id']}").json() == created


def test_unknown_ids(alice: Api) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for response in (
        alice.get(f"/workflows/{missing}"),
        alice.put(f"/workflows/{missing}", {"name": "x"}),
        alice.delete(f"/workflows/{missing}"),
        alice.patch(f"/workflows/{missing}/status", {"status": "published"}),
        alice.post(f"/workflows/{missing}/clone", {"name": "x"}),
        alice.get(f"/workflows/{missing}/versions"),
        alice.get(f"/workflows/versions/{missing}"),
    ):
        assert_error(response, 404, "WORKFLOW_NOT_FOUND")


def test_another_user_cannot_touch_it(alice: Api, bob: Api) -> None:
    make_tree(alice)
    created = create(alice)
    alice.patch(f"/workflows/{created['id']}/status", {"status": "published"})
    version_id = alice.get(f"/workflows/{created['id']}/versions").json()[0]["id"]
    assert created["id"] not in [w["id"] for w in bob.get("/workflows").json()]
    assert TEMPLATE_ID in [w["id"] for w in bob.get("/workflows").json()]
    for response in (
        bob.get(f"/workflows/{created['id']}"),
        bob.put(f"/workflows/{created['id']}", {"name": "x"}),
        bob.delete(f"/workflows/{created['id']}"),
        bob.patch(f"/workflows/{created['id']}/status", {"status": "archived"}),
        bob.post(f"/workflows/{created['id']}/clone", {"name": "x"}),
        bob.get(f"/workflows/{created['id']}/versions"),
        bob.get(f"/workflows/versions/{version_id}"),
    ):
        assert_error(response, 404, "WORKFLOW_NOT_FOUND")
    assert alice.get(f"/workflows/{created['id']}").json()["status"] == "published"


def test_organization_is_chosen_among_the_callers(alice: Api, bob: Api) -> None:
    org = make_tree(alice).org
    created = create(alice, organizationId=org["id"])
    assert_error(
        bob.post("/workflows", {"name": "x", "definition": {}, "organizationId": org["id"]}),
        404,
        "ORGANIZATION_NOT_FOUND",
    )
    assert bob.get(f"/workflows/{created['id']}").status_code == 404


FIELDS = "id databaseId name status version currentVersion isTemplate organization { id } definition changeDescription"


def test_graphql_operations(alice: Api) -> None:
    tree = make_tree(alice)
    created = mutate(
        alice,
        f'mutation($d: JSON!) {{ createWorkflow(input: {{name: "g", definition: $d}}) {{ workflow {{ {FIELDS} }} {USER_ERRORS} }} }}',
        d=definition(),
    )["workflow"]
    assert (created["status"], created["version"], created["organization"]) == (
        "DRAFT",
        1,
        {"id": gid("Organization", tree.org["id"])},
    )
    workflow_id = created["id"]
    assert workflow_id == gid("Workflow", created["databaseId"])
    published = mutate(
        alice,
        f"mutation($id: ID!) {{ changeWorkflowStatus(input: {{id: $id, status: PUBLISHED}}) {{ workflow {{ status }} {USER_ERRORS} }} }}",
        id=workflow_id,
    )
    assert published["workflow"]["status"] == "PUBLISHED"
    updated = mutate(
        alice,
        'mutation($id: ID!, $d: JSON) { updateWorkflow(input: {id: $id, definition: $d, changeDescription: "v2"})'
        f" {{ workflow {{ version currentVersion changeDescription }} {USER_ERRORS} }} }}",
        id=workflow_id,
        d=definition("decision"),
    )["workflow"]
    assert updated == {"version": 2, "currentVersion": 2, "changeDescription": "v2"}
    versions = data(
        alice, "query($id: ID!) { workflow(id: $id) { versions { nodes { id version definition } } } }", id=workflow_id
    )["workflow"]["versions"]["nodes"]
    assert [v["version"] for v in versions] == [2, 1]
    old = data(
        alice, "query($id: ID!) { workflowVersion(id: $id) { workflow { id } definition } }", id=versions[1]["id"]
    )
    assert old["workflowVersion"] == {"workflow": {"id": workflow_id}, "definition": definition()}
    listed = data(alice, "{ workflows(status: PUBLISHED, first: 100) { nodes { id } } }")["workflows"]["nodes"]
    assert {workflow_id, gid("Workflow", TEMPLATE_ID)} <= {w["id"] for w in listed}
    assert data(alice, "query($id: ID!) { workflow(id: $id) { name } }", id=workflow_id)["workflow"]["name"] == "g"
    project_query = "query($id: ID!) { project(id: $id) { workflow { id } } }"
    project_id = gid("Project", tree.project["id"])
    assert data(alice, project_query, id=project_id)["project"]["workflow"] is None
    alice.put(f"/projects/{tree.project['id']}", {"workflowId": created["databaseId"]})
    assert data(alice, project_query, id=project_id)["project"]["workflow"] == {"id": workflow_id}
    delete = f"mutation($id: ID!) {{ deleteWorkflow(input: {{id: $id}}) {{ deletedId {USER_ERRORS} }} }}"
    in_use, codes = refused(alice, delete, id=workflow_id)
    assert codes == ["WORKFLOW_IN_USE"] and in_use["deletedId"] is None
    assert alice.get(f"/workflows/{created['databaseId']}").status_code == 200
    alice.put(f"/projects/{tree.project['id']}", {"workflowId": None})
    clone = mutate(
        alice,
        f'mutation($id: ID!) {{ cloneWorkflow(input: {{id: $id, name: "c"}}) {{ workflow {{ status version }} {USER_ERRORS} }} }}',
        id=workflow_id,
    )
    assert clone["workflow"] == {"status": "DRAFT", "version": 1}
    assert mutate(alice, delete, id=workflow_id)["deletedId"] == workflow_id
    assert data(alice, "query($id: ID!) { workflow(id: $id) { id } }", id=workflow_id) == {"workflow": None}
    _, codes = refused(alice, delete, id=gid("Workflow", TEMPLATE_ID))
    assert codes == ["FORBIDDEN"]
    bad, codes = refused(
        alice,
        f'mutation {{ createWorkflow(input: {{name: "", definition: {{}}}}) {{ workflow {{ id }} {USER_ERRORS} }} }}',
    )
    assert codes == ["VALIDATION_ERROR"] and bad["workflow"] is None


def test_graphql_another_user_cannot_touch_it(alice: Api, bob: Api) -> None:
    tree = make_tree(alice)
    original = create(alice)
    workflow_id = gid("Workflow", original["id"])
    alice.put(f"/projects/{tree.project['id']}", {"workflowId": original["id"]})
    released = create(alice)
    assert alice.patch(f"/workflows/{released['id']}/status", {"status": "published"}).status_code == 200
    (version,) = alice.get(f"/workflows/{released['id']}/versions").json()
    before = [[w["id"] for w in api.get("/workflows").json()] for api in (alice, bob)]
    for query, variables in (
        ("query($id: ID!) { workflow(id: $id) { id } }", {"id": workflow_id}),
        (
            "query($id: ID!) { workflow(id: $id) { versions { nodes { id } } } }",
            {"id": gid("Workflow", released["id"])},
        ),
        (
            "query($id: ID!) { workflowVersion(id: $id) { id definition } }",
            {"id": gid("WorkflowVersion", version["id"])},
        ),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": workflow_id}),
    ):
        found = data(bob, query, **variables)
        assert list(found.values()) == [None], query
    for mutation in (
        'mutation($id: ID!) { updateWorkflow(input: {id: $id, name: "x"}) { workflow { id } PAYLOAD } }',
        "mutation($id: ID!) { changeWorkflowStatus(input: {id: $id, status: ARCHIVED}) { workflow { id } PAYLOAD } }",
        'mutation($id: ID!) { cloneWorkflow(input: {id: $id, name: "x"}) { workflow { id } PAYLOAD } }',
        "mutation($id: ID!) { deleteWorkflow(input: {id: $id}) { deletedId PAYLOAD } }",
    ):
        payload, codes = refused(bob, mutation.replace("PAYLOAD", USER_ERRORS), id=workflow_id)
        assert codes == ["WORKFLOW_NOT_FOUND"], mutation
        assert all(value is None for key, value in payload.items() if key != "userErrors"), payload
    ids = [w["id"] for w in data(bob, "{ workflows(first: 100) { nodes { id } } }")["workflows"]["nodes"]]
    assert gid("Workflow", TEMPLATE_ID) in ids and workflow_id not in ids
    template = data(bob, "query($id: ID!) { workflow(id: $id) { isTemplate } }", id=gid("Workflow", TEMPLATE_ID))
    assert template == {"workflow": {"isTemplate": True}}
    assert alice.get(f"/workflows/{original['id']}").json() == original
    assert [[w["id"] for w in api.get("/workflows").json()] for api in (alice, bob)] == before
    assert_error(
        alice.put(f"/projects/{tree.project['id']}", {"workflowId": create(bob)["id"]}), 404, "WORKFLOW_NOT_FOUND"
    )


def test_an_older_built_in_template_is_brought_up_to_date_at_start(fresh_server: Any, tmp_path: Any) -> None:
    """A database seeded by an older server (phases without description or colour) gets this server's
    built-in lifecycle as the template's next version; the earlier version stays as it was."""
    data_dir = tmp_path / "template"
    fresh_server(data_dir, CONTEXT_ENABLED="false").stop()
    old = {"phases": [{"id": "rapid-prototyping", "title": "Rapid prototyping", "steps": []}], "transitions": []}
    with sqlite3.connect(data_dir / "orchestrator.db") as db:
        db.execute("UPDATE workflows SET definition = ? WHERE id = ?", (json.dumps(old), TEMPLATE_ID))
        db.execute("UPDATE workflow_versions SET definition = ? WHERE workflow_id = ?", (json.dumps(old), TEMPLATE_ID))
    live = fresh_server(data_dir, CONTEXT_ENABLED="false")
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    template = api.get(f"/workflows/{TEMPLATE_ID}").json()
    assert template["version"] == 2 and template["definition"]["phases"][0]["color"].startswith("#")
    versions = api.get(f"/workflows/{TEMPLATE_ID}/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["definition"]["phases"][0]["description"] == ""  # answered with the default, as stored
