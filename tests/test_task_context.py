"""Tasks and context (operations 46-48, 89): memories injected into prompts, dialogs captured as memories.

A server of its own on the local sandbox backend, with auto-capture on and a `qwen` that prints its
prompt, so the task's output shows exactly what the CLI was given.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, Api, LiveServer, Tree, add_user, login_as, make_tree
from tests.graphql_calls import USER_ERRORS, data, error_codes, gid, mutate
from tests.test_flexy import create_sandbox
from tests.test_memories import create, wait_healthy
from tests.test_tasks import submit, wait_for_task


@pytest.fixture
def context_server(fresh_server: Callable[..., LiveServer]) -> LiveServer:
    return fresh_server(SANDBOX_BACKEND="local", AUTO_CAPTURE_ENABLED="true", TASK_COMMAND_QWEN="printf %s {prompt}")


def project_with_sandbox(live: LiveServer) -> tuple[Api, Tree]:
    admin = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    wait_healthy(admin)
    tree = make_tree(admin)
    create_sandbox(admin, tree.project["id"])
    return admin, tree


def captured_context(api: Api, project_id: str, task_id: str, timeout: float = 30) -> dict:
    """The task's context once its dialog is captured (that follows the task's completion)."""
    deadline = time.monotonic() + timeout
    while True:
        context = api.get(f"/projects/{project_id}/tasks/{task_id}/context").json()
        if context["generatedMemory"] is not None or time.monotonic() > deadline:
            return context
        time.sleep(0.05)


def test_context_memories_go_into_the_prompt_and_the_dialog_is_captured(context_server: LiveServer) -> None:
    admin, tree = project_with_sandbox(context_server)
    pid = tree.project["id"]
    base_url = create(admin, "The API base URL is https://api.example.test/v2.", "project", pid)
    org_note = create(admin, "Every service logs in JSON.", "organization", tree.org["id"], visibility="organization")

    task_id = submit(admin, pid, "Say hello", task_type="qwen", contextMemoryIds=[base_url["id"], org_note["id"]])
    task = wait_for_task(admin, pid, task_id)
    assert task["status"] == "completed", task
    assert task["prompt"] == "Say hello"
    assert task["result"].startswith("Context from memory:")
    assert "https://api.example.test/v2" in task["result"] and "logs in JSON" in task["result"]
    assert task["result"].endswith("Task:\nSay hello")

    context = captured_context(admin, pid, task_id)
    assert [m["id"] for m in context["injectedMemories"]] == [base_url["id"], org_note["id"]]
    generated = context["generatedMemory"]
    assert generated["metadata"]["memory_type"] == "task-dialog"
    assert generated["metadata"]["scope"] == "task" and generated["metadata"]["scope_id"] == task_id
    assert generated["metadata"]["visibility"] == "project"
    assert generated["metadata"]["source"]["type"] == "auto-capture"
    assert (
        generated["memory"].startswith("Prompt:\nSay hello") and "Output:\nContext from memory" in generated["memory"]
    )
    assert context["usage"] == {"generated": 1, "injected": 2, "retrieved": 2}
    assert context["activeDialog"] is None
    record = admin.get(f"/projects/{pid}/tasks/{task_id}").json()
    assert record["generatedMemoryId"] == generated["id"]
    assert record["contextUsage"] == {"retrieved": 2, "injected": 2, "generated": 1}

    relevant = admin.post(
        f"/projects/{pid}/tasks/context/relevant", {"prompt": "what is the base URL of the API?", "maxMemories": 5}
    )
    assert relevant.status_code == 200, relevant.text
    found = {m["id"] for m in relevant.json()["memories"]}
    assert {base_url["id"], generated["id"], org_note["id"]} <= found
    without_org = admin.post(
        f"/projects/{pid}/tasks/context/relevant", {"prompt": "logging format", "includeOrg": False, "maxMemories": 10}
    ).json()
    assert org_note["id"] not in {m["id"] for m in without_org["memories"]}
    only_dialogs = admin.post(
        f"/projects/{pid}/tasks/context/relevant", {"prompt": "hello", "types": ["task-dialog"]}
    ).json()
    assert [m["id"] for m in only_dialogs["memories"]] == [generated["id"]]
    relevant_query = (
        "query($p: ID!, $q: String!, $org: Boolean!, $types: [String!]) { relevantContext(projectId: $p, prompt: $q,"
        " first: 10, includeOrganization: $org, types: $types) { score memory { databaseId } } }"
    )
    project_gid = gid("Project", pid)

    def relevant_ids(prompt: str, org: bool = True, types: list[str] | None = None) -> list[str]:
        hits = data(admin, relevant_query, p=project_gid, q=prompt, org=org, types=types)["relevantContext"]
        return [hit["memory"]["databaseId"] for hit in hits]

    assert {base_url["id"], generated["id"], org_note["id"]} <= set(relevant_ids("what is the base URL of the API?"))
    assert org_note["id"] not in relevant_ids("logging format", org=False)
    assert relevant_ids("hello", types=["task-dialog"]) == [generated["id"]]

    # The task list carries the same figures; a memory deleted since counts as no longer injectable.
    assert admin.delete(f"/context/memories/{org_note['id']}").status_code in (200, 204)
    listed = admin.get(f"/projects/{pid}/tasks").json()
    assert [(t["generatedMemoryId"], t["contextUsage"]) for t in listed if t["id"] == task_id] == [
        (generated["id"], {"retrieved": 2, "injected": 1, "generated": 1})
    ]
    through_graphql = data(
        admin,
        "query($id: ID!) { task(id: $id) { generatedMemory { id databaseId } contextMemories { id }"
        " contextUsage { retrieved injected generated } } }",
        id=gid("Task", task_id),
    )
    assert through_graphql["task"] == {
        "generatedMemory": {"id": gid("Memory", generated["id"]), "databaseId": generated["id"]},
        "contextMemories": [{"id": gid("Memory", base_url["id"])}],
        "contextUsage": {"retrieved": 2, "injected": 1, "generated": 1},
    }


def test_save_capture_and_refusals(context_server: LiveServer) -> None:
    admin, tree = project_with_sandbox(context_server)
    pid = tree.project["id"]
    task_id = submit(admin, pid, "echo hi", task_type="bash")
    wait_for_task(admin, pid, task_id)

    saved = admin.post(
        f"/projects/{pid}/tasks/{task_id}/context/save",
        {"content": "The build needs Node 20.", "type": "workflow-insight", "summary": "node", "tags": ["build"]},
    )
    assert saved.status_code == 201, saved.text
    memory = saved.json()["memory"]
    assert saved.json()["message"] and memory["metadata"]["memory_type"] == "workflow-insight"
    assert memory["metadata"]["custom"] == {"summary": "node"} and memory["metadata"]["tags"] == ["build"]

    captured = admin.post(f"/context/capture/task/{task_id}", {"projectId": pid, "content": "user: hi\nai: hello"})
    assert captured.status_code == 201, captured.text
    assert captured.json()["metadata"]["memory_type"] == "task-dialog"
    assert (
        admin.get(f"/projects/{pid}/tasks/{task_id}/context").json()["generatedMemory"]["id"] == captured.json()["id"]
    )

    task_gid = gid("Task", task_id)
    kept = mutate(
        admin,
        'mutation($t: ID!) { saveTaskOutput(input: {taskId: $t, content: "Deploys need a green build.",'
        ' memoryType: "workflow-insight", summary: "deploy", tags: ["ci"]}) {'
        f" memory {{ databaseId memoryType tags custom visibility scope {{ id }} }} {USER_ERRORS} }} }}",
        t=task_gid,
    )["memory"]
    assert (kept["memoryType"], kept["tags"], kept["custom"]) == ("workflow-insight", ["ci"], {"summary": "deploy"})
    assert (kept["visibility"], kept["scope"]) == ("PROJECT", {"id": task_gid})
    assert admin.get(f"/context/memories/{kept['databaseId']}").json()["memory"] == "Deploys need a green build."
    dialog = mutate(
        admin,
        'mutation($t: ID!) { captureTaskDialog(input: {taskId: $t, content: "user: bye\\nai: bye"}) {'
        f" memory {{ id memoryType content }} {USER_ERRORS} }} }}",
        t=task_gid,
    )["memory"]
    assert (dialog["memoryType"], dialog["content"]) == ("task-dialog", "user: bye\nai: bye")
    generated = data(admin, "query($t: ID!) { task(id: $t) { generatedMemory { id } } }", t=task_gid)
    assert generated["task"]["generatedMemory"] == {"id": dialog["id"]}

    stranger = add_user(context_server, admin)
    assert stranger.post(f"/context/capture/task/{task_id}", {"projectId": pid, "content": "x"}).status_code == 404
    assert stranger.get(f"/projects/{pid}/tasks/{task_id}/context").status_code == 404
    assert stranger.post(f"/projects/{pid}/tasks/context/relevant", {"prompt": "build"}).status_code == 404
    relevant = 'query($p: ID!) { relevantContext(projectId: $p, prompt: "build") { score } }'
    assert error_codes(stranger, relevant, p=gid("Project", pid)) == ["PROJECT_NOT_FOUND"]
    own = make_tree(stranger)
    create_sandbox(stranger, own.project["id"])
    refused = stranger.post(
        f"/projects/{own.project['id']}/tasks/adhoc",
        {"title": "t", "prompt": "echo", "taskType": "bash", "contextMemoryIds": [memory["id"]]},
    )
    assert refused.status_code == 404 and "contextMemoryIds" in refused.json()["error"]
    assert stranger.get(f"/projects/{own.project['id']}/tasks").json() == []
    assert admin.post(f"/context/capture/task/{task_id}", {"projectId": pid, "content": ""}).status_code == 400
    assert admin.post(f"/projects/{pid}/tasks/context/relevant", {"prompt": "x", "maxMemories": 500}).status_code == 400


def test_context_memories_are_comments_in_a_bash_script(context_server: LiveServer) -> None:
    admin, tree = project_with_sandbox(context_server)
    pid = tree.project["id"]
    note = create(admin, "rm -rf / is never to be run", "project", pid)
    task = wait_for_task(admin, pid, submit(admin, pid, "echo done", task_type="bash", contextMemoryIds=[note["id"]]))
    assert task["status"] == "completed" and task["result"].strip() == "done"
