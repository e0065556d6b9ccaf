"""Agent tasks end to end, on the Docker engine and on the local backend (`sandbox_server`): the fake CLIs in
their streaming modes; typed events and steps beside the readable output; tokens and cost per task and summed
per project, workspace and organization; conversations continued with the same session; plain output kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.agent_support import fake_agents, task_events
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, Api, LiveServer, login_as, unique
from tests.test_flexy import create_sandbox
from tests.test_tasks import Project, sandbox_project, submit, task_settings, wait_for_task

SCRIPT = (
    "!say Looking at the project\n"
    "!write notes/plan.md the plan\n"
    "!run cat notes/plan.md\n"
    "!run echo key=$ANTHROPIC_API_KEY; exit 3\n"
    "!tokens 2000 500 10000 1000\n"
    "!say Finished"
)
KEY = "sk-ant-test-0123456789"


@pytest.fixture
def project(sandbox_server: LiveServer, sandbox_owner: Api) -> Project:
    return sandbox_project(sandbox_server, sandbox_owner)


def run_agent(server: LiveServer, api: Api, project: Project, prompt: str, kind: str = "claude") -> dict:
    with fake_agents(server, project.folder):
        task_id = submit(api, project.id, prompt, kind)
        return wait_for_task(api, project.id, task_id)


def test_a_claude_task_streams_typed_steps_and_records_its_usage(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project
) -> None:
    window = {"type": "claude", "apiKey": KEY, "model": "", "baseUrl": ""}
    assert sandbox_owner.put(f"/projects/{project.id}", {"aiConfig": {"aiWindows": [window]}}).status_code == 200
    task = run_agent(sandbox_server, sandbox_owner, project, SCRIPT)
    assert task["status"] == "completed", task["error"]
    events = task_events(sandbox_server, sandbox_owner, project.id, task["id"])
    types = [event["type"] for event in events]
    assert types[:3] == ["task_queued", "task_started", "agent_session"] and types[-1] == "task_completed"
    assert {"output", "agent_message", "tool_call", "tool_result", "usage"} <= set(types)

    session = events[2]
    assert session["sessionId"] == task["sessionId"] and session["model"] == "claude-sonnet-4-5-20250929"
    calls = [event for event in events if event["type"] == "tool_call"]
    assert [(call["name"], call["input"].get("file_path") or call["input"]["command"]) for call in calls] == [
        ("Write", "notes/plan.md"),
        ("Bash", "cat notes/plan.md"),
        ("Bash", "echo key=$ANTHROPIC_API_KEY; exit 3"),
    ]
    results = [event for event in events if event["type"] == "tool_result"]
    assert [(result["toolCallId"], result["ok"]) for result in results] == [
        (call["toolCallId"], ok) for call, ok in zip(calls, (True, True, False), strict=True)
    ]
    assert results[1]["text"] == "the plan" and results[2]["text"] == "key=***", "the AI window's key is masked"
    messages = [event["text"] for event in events if event["type"] == "agent_message"]
    assert messages[0] == "Looking at the project" and messages[-1] == "Finished"
    final = [event for event in events if event["type"] == "usage"][-1]
    assert final["final"] is True and final["costSource"] == "reported"

    output = "".join(event["output"] for event in events if event["type"] == "output")
    assert "Looking at the project\n" in output and "▸ Write: notes/plan.md\n" in output and "✗ key=***" in output
    assert '"type"' not in output, "the output events are readable text, not the CLI's JSON"
    assert output == task["terminalOutput"] == task["result"]
    assert (project.folder / "notes" / "plan.md").read_text() == "the plan\n"
    assert [artifact["path"] for artifact in task["artifacts"]] == ["notes/plan.md"]

    assert task["model"] == "claude-sonnet-4-5-20250929" and task["isolation"] == "shared"
    usage = task["usage"]
    assert (usage["inputTokens"], usage["outputTokens"], usage["cacheReadTokens"], usage["cacheWriteTokens"]) == (
        4 * 120 + 2000, 4 * 30 + 500, 10000, 1000
    )  # fmt: skip
    expected = (2480 * 3 + 620 * 15 + 10000 * 0.3 + 1000 * 3.75) / 1e6
    assert usage["costUsd"] == pytest.approx(expected) and usage["costSource"] == "reported"
    assert usage["totalTokens"] == 2480 + 620 + 10000 + 1000
    steps = task["agentSteps"]
    assert task["agentStepsTotal"] == len(steps) == len(messages) + len(calls) + len(results)
    assert [step["kind"] for step in steps[:4]] == ["message", "message", "tool_call", "tool_result"]
    assert steps[2]["input"] == {"file_path": "notes/plan.md", "content": "the plan"}
    page = sandbox_owner.get(f"/projects/{project.id}/tasks/{task['id']}/agent-steps?after=2&limit=2").json()
    assert page["total"] == len(steps) and [step["index"] for step in page["steps"]] == [3, 4]
    listed = sandbox_owner.get(f"/projects/{project.id}/tasks").json()[0]
    assert listed["usage"] == usage and listed["sessionId"] == task["sessionId"] and "agentSteps" not in listed


def test_four_agents_and_their_usage_summed_per_project_workspace_and_organization(
    sandbox_server: LiveServer, sandbox_owner: Api
) -> None:
    api = sandbox_owner
    org = api.create("/organizations", {"name": unique("Org"), "folderPath": unique("org")})
    spaces = [
        api.create(f"/organizations/{org['id']}/workspaces", {"name": unique("Ws"), "folderPath": unique("ws")})
        for _ in range(2)
    ]
    made = []
    for space in (spaces[0], spaces[0], spaces[1]):
        project = api.create(f"/workspaces/{space['id']}/projects", {"name": unique("P"), "folderPath": unique("p")})
        folder = sandbox_server.settings.base_root / org["folderPath"] / space["folderPath"] / project["folderPath"]
        made.append(Project(project["id"], folder, create_sandbox(api, project["id"])))
    codex_window = {"type": "codex", "apiKey": "sk-codex-0123456789", "model": "gpt-5-codex", "baseUrl": ""}
    assert api.put(f"/projects/{made[2].id}", {"aiConfig": {"aiWindows": [codex_window]}}).status_code == 200
    script = "!tokens 1000 100\n!say one\n!run echo $CODEX_API_KEY\n!say two"
    runs = [(made[0], "claude"), (made[1], "qwen"), (made[2], "gemini"), (made[2], "codex")]
    done = {kind: run_agent(sandbox_server, api, project, script, kind) for project, kind in runs}
    assert {kind: task["status"] for kind, task in done.items()} == dict.fromkeys(done, "completed")
    assert {kind: task["model"] for kind, task in done.items()} == {
        "claude": "claude-sonnet-4-5-20250929", "qwen": "qwen3-coder-plus", "gemini": "gemini-2.5-pro",
        "codex": "gpt-5-codex",
    }  # fmt: skip
    sources = {kind: task["usage"]["costSource"] for kind, task in done.items()}
    assert sources == {"claude": "reported", "qwen": "estimated", "gemini": "estimated", "codex": "estimated"}
    for kind, task in done.items():
        assert task["sessionId"] and task["usage"]["outputTokens"] == 300, kind
        names = [step["kind"] for step in task["agentSteps"]]
        assert names.count("tool_call") == names.count("tool_result") == 1, (kind, names)
    assert "***" in done["codex"]["terminalOutput"] and "sk-codex" not in done["codex"]["terminalOutput"]

    def report(path: str) -> dict:
        response = api.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    cost = {kind: task["usage"]["costUsd"] for kind, task in done.items()}
    today = datetime.now(UTC).date().isoformat()
    first = report(f"/projects/{made[0].id}/usage")
    assert first["total"] == {key: value for key, value in done["claude"]["usage"].items() if key != "model"}
    assert [day["day"] for day in first["days"]] == [today] and first["models"][0]["model"] == done["claude"]["model"]
    workspace = report(f"/workspaces/{spaces[0]['id']}/usage")
    assert workspace["total"]["costUsd"] == pytest.approx(cost["claude"] + cost["qwen"])
    assert workspace["total"]["costSource"] == "mixed"
    assert {m["model"] for m in workspace["models"]} == {"claude-sonnet-4-5-20250929", "qwen3-coder-plus"}
    organization = report(f"/organizations/{org['id']}/usage")
    assert organization["total"]["costUsd"] == pytest.approx(sum(cost.values()))
    assert organization["total"]["outputTokens"] == 4 * 300
    assert {m["model"]: m["costUsd"] for m in organization["models"]} == {
        task["model"]: pytest.approx(cost[kind]) for kind, task in done.items()
    }
    assert organization["days"][0]["costUsd"] == pytest.approx(sum(cost.values()))
    assert len(organization["days"][0]["models"]) == 4
    assert report(f"/organizations/{org['id']}/usage?from=2000-01-01&to=2000-12-31")["total"]["totalTokens"] == 0
    for query in ("from=yesterday", "from=2026-02-30", f"from={today}&to=2000-01-01"):
        response = api.get(f"/organizations/{org['id']}/usage?{query}")
        assert response.status_code == 400, query


def test_a_follow_up_resumes_the_same_session_and_the_chain_is_kept(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project, make_sandbox_user: Callable[[], Api]
) -> None:
    first = run_agent(sandbox_server, sandbox_owner, project, "!say first words")
    base = f"/projects/{project.id}/tasks"
    with fake_agents(sandbox_server, project.folder):
        queued = sandbox_owner.post(f"{base}/{first['id']}/dialog", {"message": "!say second words"})
        assert queued.status_code == 201, queued.text
        answer = queued.json()
        assert answer["operationId"] == answer["taskId"] and answer["status"] == "queued" and answer["message"]
        assert (answer["parentTaskId"], answer["conversationId"]) == (first["id"], first["id"])
        second = wait_for_task(sandbox_owner, project.id, answer["taskId"])
        third_id = sandbox_owner.post(f"{base}/{second['id']}/dialog", {"content": "!say third words"}).json()["taskId"]
        third = wait_for_task(sandbox_owner, project.id, third_id)
    assert [task["status"] for task in (second, third)] == ["completed", "completed"]
    assert first["sessionId"] == second["sessionId"] == third["sessionId"]
    resumed = second["agentSteps"][0]["text"]
    assert resumed == f"Resuming session {first['sessionId']} (turn 2); it began with: !say first words"
    assert third["agentSteps"][0]["text"].startswith(f"Resuming session {first['sessionId']} (turn 3)")
    assert (third["parentTaskId"], third["conversationId"], third["prompt"]) == (
        second["id"],
        first["id"],
        "!say third words",
    )
    chain = sandbox_owner.get(f"{base}/{third['id']}/conversation").json()
    assert chain["conversationId"] == first["id"]
    assert [task["id"] for task in chain["tasks"]] == [first["id"], second["id"], third["id"]]

    other = make_sandbox_user()
    assert other.post(f"{base}/{first['id']}/dialog", {"message": "hi"}).status_code == 404
    assert other.get(f"{base}/{first['id']}/conversation").status_code == 404
    empty = sandbox_owner.post(f"{base}/{first['id']}/dialog", {"message": "  "})
    assert empty.status_code == 400 and empty.json()["details"]["field"] == "message"
    bash = wait_for_task(sandbox_owner, project.id, submit(sandbox_owner, project.id, "echo hi"))
    refused = sandbox_owner.post(f"{base}/{bash['id']}/dialog", {"message": "more"})
    assert refused.status_code == 400 and "bash" in refused.json()["message"]
    kept = sandbox_owner.post(f"{base}/{bash['id']}/dialog", {"content": "user: more\nai: done"})
    assert kept.status_code == 201 and kept.json()["status"] == "completed", "a bash task's dialog is kept as before"
    memory = kept.json()["memory"]
    assert (memory["id"], memory["memory"]) == (kept.json()["operationId"], "user: more\nai: done")
    assert "taskId" not in kept.json(), "nothing was queued"
    running = submit(sandbox_owner, project.id, "sleep 20")
    wait_for_task(sandbox_owner, project.id, running, ("running",))
    with fake_agents(sandbox_server, project.folder):
        waiting = sandbox_owner.post(f"{base}/{first['id']}/dialog", {"message": "!say again"})
        assert waiting.status_code == 201, "the conversation is idle even while the project runs other tasks"
        busy = sandbox_owner.post(f"{base}/{first['id']}/dialog", {"message": "!say twice"})
        assert busy.status_code == 409 and busy.json()["details"]["taskId"] == waiting.json()["taskId"]
    for task_id in (waiting.json()["taskId"], running):
        assert sandbox_owner.post(f"{base}/{task_id}/cancel").status_code == 200


def test_malformed_and_plain_output_falls_back_to_text(
    sandbox_server: LiveServer, sandbox_owner: Api, project: Project
) -> None:
    task = run_agent(sandbox_server, sandbox_owner, project, "!garbage\n!say still here")
    assert task["status"] == "completed"
    output = task["terminalOutput"]
    assert "this line is not JSON at all\n" in output and '{"type":"mystery_event","detail":42}\n' in output
    assert '"text":"cut off\n' in output and "still here\n" in output
    assert [step["text"] for step in task["agentSteps"]] == ["still here"]

    plain = claude_template(sandbox_server, project.folder, "claude -p {prompt}")
    with fake_agents(sandbox_server, project.folder), task_settings(sandbox_server, **plain):
        texts = wait_for_task(
            sandbox_owner, project.id, submit(sandbox_owner, project.id, "!say in text mode", "claude")
        )
    assert texts["status"] == "completed" and texts["terminalOutput"] == "in text mode\n"
    assert "sessionId" not in texts and texts["agentSteps"] == [] and texts["usage"]["totalTokens"] == 0
    refused = sandbox_owner.post(f"/projects/{project.id}/tasks/{texts['id']}/dialog", {"message": "more"})
    assert refused.status_code == 400 and "no agent session" in refused.json()["message"]

    failed = run_agent(sandbox_server, sandbox_owner, project, "!say trying\n!fail out of ideas")
    assert failed["status"] == "failed" and failed["error"] == "The agent reported an error: out of ideas"
    crashed = run_agent(sandbox_server, sandbox_owner, project, "!say trying\n!crash 7")
    assert crashed["status"] == "failed" and crashed["error"] == "The command exited with code 7"
    assert crashed["sessionId"], "the session id is kept as soon as the CLI names it"


def claude_template(server: LiveServer, folder: Path, template: str) -> dict[str, str]:
    """A claude command template for this test (on the local backend, naming the fake in the project folder)."""
    if server.settings.sandbox_backend == "local":
        template = template.replace("claude", str(folder / ".fake-bin" / "claude"), 1)
    return {"task_command_claude": template}


@pytest.mark.parametrize("backend", ["docker", "local"])
def test_a_conversation_continues_after_the_server_restarts(
    backend: str, fresh_server: Callable[..., LiveServer], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {"SANDBOX_BACKEND": backend, "IMAGE_NAME": "orchestrator-test:latest", "TASK_COMMAND_BASH": "sh -c {prompt}"}
    if backend == "docker":
        env["DOCKER_HOST"] = request.getfixturevalue("docker_engine").url
    data = tmp_path / "data"
    live = fresh_server(data, **env)
    admin = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    project = sandbox_project(live, admin)
    first = run_agent(live, admin, project, "!say before the restart")
    live.stop()
    again = fresh_server(data, **env)
    admin = login_as(again, ADMIN_USERNAME, ADMIN_PASSWORD)
    with fake_agents(again, project.folder):
        follow_up = admin.post(f"/projects/{project.id}/tasks/{first['id']}/dialog", {"message": "!say after it"})
        assert follow_up.status_code == 201, follow_up.text
        done = wait_for_task(admin, project.id, follow_up.json()["taskId"])
    assert done["status"] == "completed" and done["sessionId"] == first["sessionId"]
    assert done["agentSteps"][0]["text"].endswith("it began with: !say before the restart")
