"""A deep GraphQL query costs the same number of SQL statements at 1 project and at 240: every nested
field (tasks, executions, memories, queue, sandbox, operations, members, workflow, versions, step tasks,
users, scope objects) is batched per request, one statement per level whatever its fan-out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.conftest import Api, LiveServer, unique
from tests.statements import fewest_statements

DEEP = """query Deep {
  me { organizations(first: 5) { totalCount nodes { id name createdBy { username }
    members(first: 5) { nodes { role user { username } } }
    workspaces(first: 5) { nodes { id name organization { id }
      projects(first: 25) { totalCount pageInfo { hasNextPage } nodes { id name
        workspace { id } organization { id }
        workflow { id name versions(first: 2) { nodes { version } } }
        sandbox { id status operations(first: 5) { nodes { id status } } }
        queueStatus { pending running sandbox { id } }
        memoryStats { total } syncStats { totalTrackedFiles }
        tasks(first: 5) { totalCount nodes { id status user { username } project { id } execution { id }
          generatedMemory { id } contextUsage { retrieved } contextMemories { id } } }
        executions(first: 5) { totalCount nodes { id status phases { steps { task { id } } } } }
        operations(first: 5) { nodes { id type } }
        memories(first: 5, includeInherited: true) { totalCount nodes { id scope { id } createdBy { username } } }
      } }
    } }
  } } }
}"""


def populate(api: Api, organizations: int, workspaces: int, projects: int) -> str:
    """A tree of the given shape; returns one project's id."""
    first_project = ""
    for _ in range(organizations):
        org = api.create("/organizations", {"name": unique("O"), "folderPath": unique("o")})
        for _ in range(workspaces):
            ws = api.create(f"/organizations/{org['id']}/workspaces", {"name": unique("W"), "folderPath": unique("w")})
            for _ in range(projects):
                project = api.create(
                    f"/workspaces/{ws['id']}/projects", {"name": unique("P"), "folderPath": unique("p")}
                )
                first_project = first_project or project["id"]
    return first_project


def fill(api: Api, project_id: str) -> None:
    """Something in every nested list of one project: a sandbox and its operation, a task, a memory."""
    assert api.post("/flexy", {"projectId": project_id}).status_code == 201
    memory = api.create("/context/memories", {"content": unique("note"), "scope": "project", "scope_id": project_id})
    queued = api.post(
        f"/projects/{project_id}/tasks/adhoc",
        {"title": "t", "prompt": "true", "taskType": "bash", "contextMemoryIds": [memory["id"]]},
    )
    assert queued.status_code == 201, queued.text
    task_url = f"/projects/{project_id}/tasks/{queued.json()['taskId']}"
    deadline = time.monotonic() + 60
    while api.get(task_url).json()["status"] != "completed":  # its run's own statements are over then
        assert time.monotonic() < deadline, "the task did not complete"
        time.sleep(0.05)


def deep_statements(server: LiveServer, api: Api) -> tuple[int, dict[str, Any]]:
    api.graphql("{ me { username } }")  # the caller is known from here on, as for any later request
    count, result = fewest_statements(server, lambda: api.graphql(DEEP))
    assert "errors" not in result, result
    return count, result["data"]


def test_a_deep_query_costs_the_same_statements_at_1_and_240_projects(
    server: LiveServer, make_user: Callable[..., Api]
) -> None:
    small, large = make_user(), make_user()
    fill(small, populate(small, 1, 1, 1))
    fill(large, populate(large, 4, 3, 20))
    small_count, _ = deep_statements(server, small)
    large_count, large_data = deep_statements(server, large)
    projects = [
        p
        for o in large_data["me"]["organizations"]["nodes"]
        for w in o["workspaces"]["nodes"]
        for p in w["projects"]["nodes"]
    ]
    assert len(projects) == 240
    assert sum(p["tasks"]["totalCount"] for p in projects) == 1
    assert sum(len(p["memories"]["nodes"]) for p in projects) == 1
    print(f"deep query: {small_count} statements at 1 project, {large_count} at 240")
    assert small_count == large_count, (small_count, large_count)
    assert large_count <= 40, large_count
