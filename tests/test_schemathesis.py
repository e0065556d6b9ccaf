"""schemathesis (from PyPI) against the live server and its own OpenAPI document.

A server of this module's own (local sandboxes, task commands that only echo, so no generated prompt is
ever run) is seeded with a real tree, sandbox, workflow, execution, tasks and memories; schemathesis then
generates valid and invalid requests for every operation of `/api/openapi.json`, with a bearer token and
the seeded ids put into path parameters and bodies most of the time. Every check must pass: no server
error, every answer in its documented status, content type, headers and schema, invalid data refused,
unsupported methods answered 405 with the right `Allow`. The run is bounded by examples per operation
and by time: 45 s of cases here (1,400 cases took 75 s, 2,700 two minutes; raise MAX_SECONDS to hunt longer).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, Api, LiveServer, login_as, start_server

ECHO = "echo {prompt}"
MAX_EXAMPLES = 10
MAX_SECONDS = 45
SKIPPED = ("Logout",)
"""Logging out would revoke the token every other case authenticates with."""


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    env = {
        "SANDBOX_BACKEND": "local",
        "TASK_COMMAND_BASH": ECHO,
        "TASK_COMMAND_QWEN": ECHO,
        "TASK_COMMAND_CLAUDE": ECHO,
        "TASK_COMMAND_GEMINI": ECHO,
        "TASK_COMMAND_CODEX": ECHO,
    }
    live = start_server(tmp_path_factory.mktemp("schemathesis"), **env)
    yield live
    live.stop()


def wait_until(check: object, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen in {seconds}s"
        time.sleep(0.1)


def seed(api: Api) -> dict[str, list[str]]:
    """One of everything, returned as the ids schemathesis should use."""
    org = api.create("/organizations", {"name": "Fuzz", "folderPath": "fuzz"})
    workspace = api.create(f"/organizations/{org['id']}/workspaces", {"name": "W", "folderPath": "w"})
    project = api.create(f"/workspaces/{workspace['id']}/projects", {"name": "P", "folderPath": "p"})
    sandbox = api.create("/flexy", {"projectId": project["id"]})
    workflow = api.create("/workflows", {"name": "Flow", "description": "d", "definition": {}})
    execution = api.post(f"/workflows/{workflow['id']}/executions", {"projectId": project["id"]}).json()
    task = api.create(f"/projects/{project['id']}/tasks/adhoc", {"title": "t", "prompt": "hi", "taskType": "bash"})
    step_task = api.create(f"/projects/{project['id']}/workflow/steps/design/execute", {})
    for task_id in (task["taskId"], step_task["taskId"]):
        wait_until(
            lambda task_id=task_id: (
                api.get(f"/projects/{project['id']}/tasks/{task_id}").json()["status"] == "completed"
            ),
            f"task {task_id} completing",
        )
    wait_until(lambda: api.get("/context/health").json()["status"] == "healthy", "context memory loading")
    memory = api.create("/context/memories", {"content": "a note", "scope": "project", "scope_id": project["id"]})
    version = api.get(f"/workflows/{workflow['id']}/versions").json()
    return {
        "organizations": [org["id"]],
        "workspaces": [workspace["id"]],
        "projects": [project["id"]],
        "sandboxes": [sandbox["id"]],
        "workflows": [workflow["id"], "00000000-0000-4000-8000-000000000001"],
        "versions": [v["id"] for v in version] or [workflow["id"]],
        "executions": [execution["executionId"]],
        "tasks": [task["taskId"], step_task["taskId"]],
        "steps": ["design", "requirements"],
        "memories": [memory["id"]],
        "scopes": ["project"],
    }


PATH_IDS = {
    "organizationId": "organizations",
    "workspaceId": "workspaces",
    "projectId": "projects",
    "workflowId": "workflows",
    "versionId": "versions",
    "executionId": "executions",
    "taskId": "tasks",
    "stepId": "steps",
    "scopeId": "projects",
}
ID_OF_PATH = [
    ("^/organizations/", "organizations"),
    ("^/workspaces/", "workspaces"),
    ("^/projects/", "projects"),
    ("^/workflows/", "workflows"),
    ("^/flexy/", "sandboxes"),
    ("^/context/memories/", "memories"),
]
BODY_IDS = {
    "projectId": "projects",
    "scope_id": "projects",
    "newWorkspaceId": "workspaces",
    "workflowId": "workflows",
    "stepId": "steps",
}
ALWAYS = {"stepId"}
"""Whether a step exists depends on the project's workflow, which no schema can say: always a real one."""
STATEFUL = (
    "Refresh",  # with no token at all, neither in the body nor as the cookie
    "CancelTask",  # a finished task
    "CancelOperation",  # a finished operation
    "StartWorkflowExecution",  # an execution that is not pending
    "PauseWorkflowExecution",  # one that is not running
    "ResumeWorkflowExecution",  # one that is not paused
    "CancelWorkflowExecution",  # one that has finished
    "UpdateTaskStepStatus",  # an ad-hoc task, which runs no step
    "ExecuteTask",  # a step the project's workflow does not have
    "ExecuteWorkflowStep",
    "ExecuteProjectWorkflowStep",
    "UpsertMemory",  # a `uniqueKey` the memory has no value for
    "ExecuteAdhocTask",  # `isolation: worktree` in a project folder that is no git repository
    "CaptureProjectTaskDialog",  # a follow-up of an agent task that reported no session, or is still running
    "MergeTask",  # a task that ran in no worktree
    "DiscardTask",
    "GetOrganizationUsage",  # `to` before `from`, each a valid day
    "GetWorkspaceUsage",
    "GetProjectUsage",
)
"""Operations whose valid requests may still be refused (400, the contract's INVALID_STATUS or INVALID_VALUE)
for the state they find or for how their fields relate, which no schema can say: the check that valid data is
accepted is off for them."""


def config(server: LiveServer, token: str, ids: dict[str, list[str]]) -> str:
    """A schemathesis.toml: the token, and the seeded ids bound to the parameters that name them."""
    lines = [
        f'base-url = "{server.api_url}"',
        f"max-time = {MAX_SECONDS}",
        # One worker: with two, hypothesis's concurrent ast.parse calls (describing filters) trip CPython 3.11.7's
        # "AST constructor recursion depth mismatch" (gh-106905, fixed in later releases) at random.
        "workers = 1",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "[auth.openapi.bearerAuth]",
        f'bearer = "{token}"',
        "[checks]",
        "enabled = true",
        # 413 is how a body over the 1 MiB limit is refused: a rejection as proper as a 400.
        "[checks.negative_data_rejection]",
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]',
    ]
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
    lines.append("[parameters]")
    for location, bound in (("path", PATH_IDS), ("body", BODY_IDS)):
        for param, name in bound.items():
            chance = 1.0 if param in ALWAYS else 0.8
            lines.append(f'"{location}.{param}" = {{ dictionary = "{name}", probability = {chance} }}')
    lines += ['"query.scope_id" = { dictionary = "projects", probability = 0.8 }']
    for pattern, name in ID_OF_PATH:
        lines += [
            "[[operations]]",
            f'include-path-regex = "{pattern}\\\\{{id\\\\}}"',
            f'parameters = {{ "path.id" = {{ dictionary = "{name}", probability = 0.8 }} }}',
        ]
    for operation in STATEFUL:
        lines += [
            "[[operations]]",
            f'include-operation-id = "{operation}"',
            "checks.positive_data_acceptance.enabled = false",
        ]
    return "\n".join(lines) + "\n"


def test_schemathesis_finds_nothing(fuzzed_server: LiveServer, tmp_path: Path) -> None:
    api = login_as(fuzzed_server, ADMIN_USERNAME, ADMIN_PASSWORD)
    ids = seed(api)
    (tmp_path / "schemathesis.toml").write_text(config(fuzzed_server, api.token or "", ids))
    binary = shutil.which("st", path=str(Path(sys.executable).parent))
    assert binary, "schemathesis is not installed: run `make setup`"
    command = [binary, "run", f"{fuzzed_server.api_url}/openapi.json", "--report", "junit", "--report-dir", "report"]
    for operation in SKIPPED:
        command += ["--exclude-operation-id", operation]
    completed = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=MAX_SECONDS + 120, check=False
    )
    report = completed.stdout[-20000:] + completed.stderr[-3000:]
    assert completed.returncode == 0, report
    selected = sum(len(methods) for methods in api.get("/openapi.json").json()["paths"].values()) - len(SKIPPED)
    assert f"Tested: {selected}" in completed.stdout, report
    print(completed.stdout.rsplit("Test cases:", 1)[-1].strip())  # shown with `pytest -s`: cases and time
