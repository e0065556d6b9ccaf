"""Secrets of organizations and projects: set by owners, listed by name only, sealed in the database,
in a task's environment when it runs, and `***` wherever its output goes (record, events, memories).

The task tests run on the real Docker engine and on the local backend (`sandbox_server`).
"""

from __future__ import annotations

import hashlib
import json
import stat
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, Api, LiveServer, Tree, login_as, make_tree
from tests.graphql_calls import add_member
from tests.test_flexy import create_sandbox
from tests.test_memories import wait_healthy
from tests.test_progress import progress_url, receive_until
from tests.test_task_context import captured_context
from tests.test_tasks import submit, wait_for_task

SCRIPT = """
printf '%s' "$(echo "$SPLIT" | cut -c1-9)"; sleep 0.4; echo "$SPLIT" | cut -c10-
echo "whole:$WHOLE"
echo "org-only:$ORG_ONLY"
printf '%s' "$WHOLE" | sha256sum
echo "stderr:$WHOLE" >&2
"""


def value(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex}"


def put_secret(api: Api, path: str, name: str, secret: str) -> Any:
    return api.put(f"{path}/secrets/{name}", {"value": secret})


def test_owners_set_members_list_others_see_nothing(alice: Api, make_user: Callable[..., Api], tree: Tree) -> None:
    member, outsider = make_user(), make_user()
    add_member(alice, tree.org["id"], member)
    org_path, project_path = f"/organizations/{tree.org['id']}", f"/projects/{tree.project['id']}"
    secret, replaced = value("org"), value("org2")
    created = put_secret(alice, org_path, "API_KEY", secret)
    assert created.status_code == 201, created.text
    assert created.json().keys() == {"name", "scope", "scopeId", "createdAt", "updatedAt"}
    again = put_secret(alice, org_path, "API_KEY", replaced)
    assert again.status_code == 200 and again.json()["createdAt"] == created.json()["createdAt"]
    assert put_secret(alice, project_path, "API_KEY", value("proj")).status_code == 201
    assert put_secret(alice, org_path, "GIT_TOKEN", value("git")).status_code == 201

    listed = alice.get(f"{org_path}/secrets")
    assert [(s["name"], s["scope"]) for s in listed.json()] == [
        ("API_KEY", "organization"),
        ("GIT_TOKEN", "organization"),
    ]
    effective = member.get(f"{project_path}/secrets").json()
    assert [(s["name"], s["scope"]) for s in effective] == [("API_KEY", "project"), ("GIT_TOKEN", "organization")]
    for response in (created, again, listed):
        assert secret not in response.text and replaced not in response.text

    forbidden = put_secret(member, org_path, "OTHER", value("m"))
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "FORBIDDEN"
    assert member.delete(f"{project_path}/secrets/API_KEY").status_code == 403
    for path in (org_path, project_path):
        hidden = outsider.get(f"{path}/secrets")
        assert hidden.status_code == 404
        assert put_secret(outsider, path, "X_KEY", value("x")).status_code == 404
        assert outsider.delete(f"{path}/secrets/API_KEY").status_code == 404

    assert alice.delete(f"{project_path}/secrets/API_KEY").status_code == 204
    assert alice.delete(f"{project_path}/secrets/API_KEY").json()["code"] == "NOT_FOUND"
    assert [s["scope"] for s in alice.get(f"{project_path}/secrets").json()] == ["organization", "organization"]


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("1ABC", {"value": "long enough"}, "name"),
        ("HAS-DASH", {"value": "long enough"}, "name"),
        ("PATH", {"value": "long enough"}, "name"),
        ("HTTPS_PROXY", {"value": "long enough"}, "name"),
        ("ORCHESTRATOR_EXEC_ID", {"value": "long enough"}, "name"),
        ("A" * 129, {"value": "long enough"}, "name"),
        ("OK_NAME", {"value": "abc"}, "value"),
        ("OK_NAME", {"value": 12345}, "value"),
        ("OK_NAME", {}, "value"),
        ("OK_NAME", {"value": "x" * 16385}, "value"),
        ("OK_NAME", {"value": "nul\x00inside"}, "value"),
    ],
)
def test_bad_names_and_values_are_refused(
    module_user: Api, module_tree: Tree, name: str, body: dict, field: str
) -> None:
    path = f"/projects/{module_tree.project['id']}/secrets"
    response = module_user.put(f"{path}/{name}", body)
    assert response.status_code == 400, response.text
    assert response.json()["details"]["field"] == field
    assert module_user.get(path).json() == []


def test_a_task_gets_its_secrets_and_its_output_shows_them_masked(
    sandbox_server: LiveServer, sandbox_owner: Api, request: pytest.FixtureRequest
) -> None:
    tree = make_tree(sandbox_owner)
    pid, org_path, project_path = (
        tree.project["id"],
        f"/organizations/{tree.org['id']}",
        f"/projects/{tree.project['id']}",
    )
    split, whole, org_whole, org_only = value("split"), value("whole"), value("orgwhole"), value("orgonly")
    for path, name, secret in (
        (project_path, "SPLIT", split),
        (project_path, "WHOLE", whole),
        (org_path, "WHOLE", org_whole),
        (org_path, "ORG_ONLY", org_only),
    ):
        assert put_secret(sandbox_owner, path, name, secret).status_code == 201
    sandbox = create_sandbox(sandbox_owner, pid)
    task_id = submit(sandbox_owner, pid, SCRIPT)
    task = wait_for_task(sandbox_owner, pid, task_id)
    assert task["status"] == "completed", task

    output = task["terminalOutput"]
    assert output == task["result"]
    assert "***\n" in output and "whole:***\n" in output and "org-only:***\n" in output and "stderr:***" in output
    assert hashlib.sha256(whole.encode()).hexdigest() in output, "the project's value overrides the organization's"
    with connect(progress_url(sandbox_server, pid, sandbox_owner.token, after=0)) as socket:
        events = receive_until(socket, "task_completed")
    outputs = "".join(e["output"] for e in events if e["type"] == "output")
    assert sorted(outputs.splitlines()) == sorted(output.splitlines())
    answers = [
        json.dumps(events),
        sandbox_owner.get(f"/projects/{pid}/tasks/{task_id}").text,
        sandbox_owner.get(f"/projects/{pid}/tasks").text,
        sandbox_owner.get(f"{project_path}/secrets").text,
    ]
    secrets = (split, whole, org_whole, org_only)
    for text in answers:
        assert not any(secret in text for secret in secrets)
        assert not any(secret[:20] in text for secret in secrets), "not even a part of one"

    # Sealed at rest: no value is anywhere in the database files, and the key is the owner's alone.
    data_dir = sandbox_server.settings.data_dir
    for path in data_dir.glob("orchestrator.db*"):
        stored = path.read_bytes()
        assert not any(secret.encode() in stored for secret in secrets), path
    assert stat.S_IMODE((data_dir / "secrets-key").stat().st_mode) == 0o600
    if sandbox_server.settings.sandbox_backend == "docker":
        engine = request.getfixturevalue("docker_engine")
        inspected = engine.request("GET", f"/containers/{sandbox['id']}/json").decode()
        assert not any(secret in inspected for secret in secrets), "never in the container's own environment"


def test_memories_kept_from_a_task_mask_its_secrets(fresh_server: Callable[..., LiveServer]) -> None:
    live = fresh_server(SANDBOX_BACKEND="local", AUTO_CAPTURE_ENABLED="true")
    admin = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    wait_healthy(admin)
    tree = make_tree(admin)
    pid = tree.project["id"]
    secret = value("token")
    assert put_secret(admin, f"/organizations/{tree.org['id']}", "DEPLOY_TOKEN", secret).status_code == 201
    create_sandbox(admin, pid)
    task_id = submit(admin, pid, 'echo "deploying with $DEPLOY_TOKEN"')
    assert wait_for_task(admin, pid, task_id)["status"] == "completed"
    auto = captured_context(admin, pid, task_id)["generatedMemory"]
    assert auto["metadata"]["source"]["type"] == "auto-capture"
    assert "deploying with ***" in auto["memory"] and secret not in json.dumps(auto)

    captured = admin.post(
        f"/context/capture/task/{task_id}",
        {"projectId": pid, "content": f"user: my token is {secret}", "metadata": {"note": f"was {secret}"}},
    )
    assert captured.status_code == 201, captured.text
    saved = admin.post(
        f"/projects/{pid}/tasks/{task_id}/context/save", {"content": f"{secret} again", "summary": secret}
    )
    assert saved.status_code == 201, saved.text
    stored = [
        admin.get(f"/context/memories/{memory['id']}").json() for memory in (captured.json(), saved.json()["memory"])
    ]
    assert stored[0]["memory"] == "user: my token is ***" and stored[1]["memory"] == "*** again"
    assert secret not in json.dumps(stored) and "was ***" in json.dumps(stored)
