"""`GET /api/openapi.json`, generated from the routes, and its reference page `/api/docs` with its own files."""

from __future__ import annotations

import csv
import re
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.test_operations import OPERATIONS_FILE

CONSOLE_PATHS = [
    ("GET", "/auth/me"),
    ("GET", "/organizations/{id}/hierarchy"),
    ("GET", "/projects/{id}/path"),
    ("PATCH", "/projects/{id}/workflow/step/{stepId}"),
    ("GET", "/flexy/{id}"),
    ("POST", "/flexy/{id}/restart"),
    ("GET", "/workflows/{workflowId}/executions"),
    ("GET", "/workflows/executions/{executionId}/steps/{stepId}"),
    ("POST", "/projects/{projectId}/workflow/execute"),
    ("POST", "/tasks/{taskId}/rerun"),
    ("GET", "/projects/{projectId}/tasks/{taskId}/output"),
    ("PATCH", "/projects/{projectId}/tasks/{taskId}/step"),
    ("GET", "/projects/{projectId}/tasks/{taskId}/steps/{stepId}"),
    ("POST", "/projects/{projectId}/tasks/{taskId}/dialog"),
    ("GET", "/context/relevant"),
    ("GET", "/projects/{projectId}/memories"),
    ("GET", "/projects/{projectId}/memories/stats"),
    ("GET", "/context/hierarchical/{scope}/{scopeId}"),
    ("POST", "/context/memories/batch"),
    ("PUT", "/context/memories/batch"),
    ("POST", "/context/memories/batch-delete"),
    ("POST", "/settings/reset"),
    ("DELETE", "/settings/{key}"),
]
"""The calls of contract §6 that the console and the SDK make beside the 95."""
SECRET_PATHS = [
    (method, f"/{owner}/{{id}}/secrets{suffix}")
    for owner in ("organizations", "projects")
    for method, suffix in (("GET", ""), ("PUT", "/{name}"), ("DELETE", "/{name}"))
]
"""This service's own operations for sealed secrets."""
NETWORK_PATHS = [("GET", "/projects/{projectId}/network"), ("PUT", "/projects/{projectId}/network")]
"""This service's own operations for a project's sandbox network."""
AGENT_PATHS = [
    ("GET", "/projects/{projectId}/tasks/{taskId}/conversation"),
    ("GET", "/projects/{projectId}/tasks/{taskId}/agent-steps"),
    ("GET", "/projects/{projectId}/tasks/{taskId}/diff"),
    ("POST", "/projects/{projectId}/tasks/{taskId}/merge"),
    ("POST", "/projects/{projectId}/tasks/{taskId}/discard"),
    ("PUT", "/projects/{projectId}/task-isolation"),
] + [
    (method, f"/{owner}/{{id}}/{suffix}")
    for owner in ("organizations", "workspaces", "projects")
    for method, suffix in (
        ("GET", "usage"),
        ("GET", "budgets"),
        ("PUT", "budgets/{period}"),
        ("DELETE", "budgets/{period}"),
    )
]
"""This service's own operations for agent tasks, usage and budgets."""


@pytest.fixture(scope="module")
def document(server: LiveServer) -> dict[str, Any]:
    response = httpx.get(f"{server.api_url}/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    return response.json()


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference is None:
        return schema
    name = reference.removeprefix("#/components/schemas/")
    assert name in document["components"]["schemas"], reference
    return document["components"]["schemas"][name]


def test_every_operation_of_the_contract_is_described(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    with OPERATIONS_FILE.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 95
    for row in rows:
        entry = document["paths"][row["path"]][row["method"].lower()]
        assert entry["operationId"] == row["operationId"]
        assert row["success_status"] in entry["responses"], row
        assert entry["responses"]["default"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
        if row["request_schema"]:
            body = entry["requestBody"]["content"]["application/json"]["schema"]
            assert body["$ref"] == f"#/components/schemas/{row['request_schema']}", row
        documented = {parameter["name"] for parameter in entry["parameters"]}
        for query in re.findall(r"(\w+)\??:", row["query_params"]):
            assert query in documented, (row["operationId"], query)
        public = row["operationId"] in ("Health", "Login", "Logout", "Refresh", "VerifyToken", "VerifyCurrentToken")
        assert (entry.get("security") == []) is public, row["operationId"]
    ids = [entry["operationId"] for methods in document["paths"].values() for entry in methods.values()]
    assert (
        len(ids) == len(set(ids)) == 95 + len(CONSOLE_PATHS) + len(SECRET_PATHS) + len(NETWORK_PATHS) + len(AGENT_PATHS)
    )


def test_console_paths_and_shapes_are_described(document: dict[str, Any]) -> None:
    for method, path in CONSOLE_PATHS + SECRET_PATHS + NETWORK_PATHS + AGENT_PATHS:
        assert method.lower() in document["paths"][path], (method, path)
    tasks = document["paths"]["/projects/{projectId}/tasks"]["get"]["responses"]["200"]
    assert tasks["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/TaskRecord"},
    }
    assert tasks["headers"]["X-Total-Count"]["schema"] == {"type": "integer"}
    search = resolve(
        document,
        document["paths"]["/context/search"]["post"]["responses"]["200"]["content"]["application/json"]["schema"],
    )
    assert set(search["required"]) == {"results", "memories", "count", "total", "query"}
    stats = document["components"]["schemas"]["MemoryStats"]
    assert {"totalMemories", "totalSize", "averageSize", "lastUpdated"} <= set(stats["required"])
    sandbox = document["components"]["schemas"]["SandboxInfoResponse"]
    assert sandbox["properties"]["ip"] == {"type": "string"} and "ip" not in sandbox["required"]
    phase = document["components"]["schemas"]["WorkflowPhase"]
    assert {"id", "title", "description", "color", "steps"} <= set(phase["required"])
    assert "definition" in document["components"]["schemas"]["CreateWorkflowRequest"]["required"]
    assert {"200", "201"} <= set(document["paths"]["/context/memories/upsert"]["put"]["responses"])


def test_the_reference_page_is_served_with_its_own_files(server: LiveServer, document: dict[str, Any]) -> None:
    for base in (server.api_url, server.url):
        page = httpx.get(f"{base}/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        prefix = base.removeprefix(server.url)
        assert f'src="{prefix}/docs/assets/swagger-ui-bundle.js"' in page.text
        assert f'url: "{prefix}/openapi.json"' in page.text and "http" not in page.text.split("<body>")[1]
        script = httpx.get(f"{base}/docs/assets/swagger-ui-bundle.js")
        assert (
            script.status_code == 200
            and "javascript" in script.headers["content-type"]
            and len(script.content) > 100_000
        )
        assert httpx.get(f"{base}/docs/assets/swagger-ui.css").status_code == 200
    assert httpx.get(f"{server.url}/openapi.json").json() == document
