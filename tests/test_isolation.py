"""The three isolation flaws of issue 12, tried by a second user: binding another organization's workflow,
listing its folder names, and telling its workflow versions from made-up ids."""

from __future__ import annotations

import uuid
from typing import Any

from resolvers.workflows import TEMPLATE_ID
from tests.conftest import Api, LiveServer, make_tree, unique
from tests.test_workflows import assert_error, create


def published_version(api: Api) -> tuple[dict[str, Any], str]:
    workflow = create(api)
    assert api.patch(f"/workflows/{workflow['id']}/status", {"status": "published"}).status_code == 200
    return workflow, api.get(f"/workflows/{workflow['id']}/versions").json()[0]["id"]


def test_a_project_names_only_a_workflow_its_caller_can_see(alice: Api, bob: Api) -> None:
    theirs = create(alice)
    mine = make_tree(bob)
    projects = f"/workspaces/{mine.workspace['id']}/projects"
    body = {"name": unique("P"), "folderPath": unique("p"), "workflowId": theirs["id"]}
    assert_error(bob.post(projects, body), 404, "WORKFLOW_NOT_FOUND")
    assert all(p["name"] != body["name"] for p in bob.get(projects).json()), "nothing was created"
    update = bob.put(f"/projects/{mine.project['id']}", {"workflowId": theirs["id"], "name": "renamed"})
    made_up = bob.put(f"/projects/{mine.project['id']}", {"workflowId": str(uuid.uuid4())})
    assert_error(update, 404, "WORKFLOW_NOT_FOUND")
    assert_error(made_up, 404, "WORKFLOW_NOT_FOUND")
    assert bob.get(f"/projects/{mine.project['id']}").json()["name"] == mine.project["name"], "nothing changed"
    # The owners of the workflow can still delete it: nobody else's project holds it.
    assert alice.delete(f"/workflows/{theirs['id']}").status_code == 204
    # A workflow the caller does see (their own, or the built-in template) still binds, on create and update.
    own = create(bob)
    bound = bob.create(projects, {"name": unique("P"), "folderPath": unique("p"), "workflowId": own["id"]})
    assert bound["workflowId"] == own["id"]
    rebound = bob.put(f"/projects/{bound['id']}", {"workflowId": TEMPLATE_ID})
    assert rebound.status_code == 200 and rebound.json()["workflowId"] == TEMPLATE_ID


def test_folder_listing_hides_other_organizations_folders(server: LiveServer, alice: Api, bob: Api, admin: Api) -> None:
    alices = make_tree(alice).org["folderPath"]
    bobs = make_tree(bob).org["folderPath"]
    unused = unique("unused")
    (server.settings.base_root / unused).mkdir()
    seen_by_bob = bob.get("/folders/organizations").json()["folders"]
    assert bobs in seen_by_bob and unused in seen_by_bob
    assert alices not in seen_by_bob
    seen_by_alice = alice.get("/folders/organizations").json()["folders"]
    assert alices in seen_by_alice and unused in seen_by_alice and bobs not in seen_by_alice
    # An administrator sees every folder.
    everything = admin.get("/folders/organizations").json()["folders"]
    assert {alices, bobs, unused} <= set(everything)


def test_a_hidden_workflow_version_answers_as_a_made_up_id(alice: Api, bob: Api) -> None:
    _workflow, version_id = published_version(alice)
    made_up_id = str(uuid.uuid4())
    hidden = bob.get(f"/workflows/versions/{version_id}")
    missing = bob.get(f"/workflows/versions/{made_up_id}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["content-type"] == missing.headers["content-type"]

    def without_id_and_time(response: Any, own_id: str) -> bytes:
        timestamp = response.json()["timestamp"]
        return response.content.replace(own_id.encode(), b"ID").replace(timestamp.encode(), b"T")

    assert without_id_and_time(hidden, version_id) == without_id_and_time(missing, made_up_id)
    assert alice.get(f"/workflows/versions/{version_id}").status_code == 200
