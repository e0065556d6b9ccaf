"""A deep read over GraphQL against the same data over REST, and a 100-item page on each.

Run it from the repository root (never part of the tests; about two minutes with the defaults):

    .venv/bin/python bench/graphql_deep.py                 # or: make bench
    .venv/bin/python bench/graphql_deep.py --organizations 2 --workspaces 2 --projects 10 --duration 10

It starts the real service (`python app.py serve`, SQLite, local sandboxes) with a fresh DATA_DIR and seeds,
through REST, `--organizations` by `--workspaces` by `--projects` projects, with a sandbox, two finished
tasks and a memory in every tenth project. Then, with `--clients` concurrent clients in this process:

1. **deep**: organizations → workspaces → projects → each project's tasks (first 5), executions (first 5),
   memories (first 5) and queue status. GraphQL asks it in one request; REST needs one request for the
   organizations, one per organization, one per workspace and four per project (1 + 4 + 12 + 960 for the
   default 240 projects), sent with as many in flight as the client allows, as a console would.
2. **page**: 100 projects of a workspace (another user's, so the deep read does not include it),
   `projects(first: 100)` against `GET /api/workspaces/{id}/projects`.

For each it prints fetches per second, p50/p95 latency of a whole fetch, HTTP requests per fetch and SQL
statements per fetch (counted afterwards on an in-process server over the same database, with SQLAlchemy's
cursor events). Every subprocess is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rest_vs_graphql import HOST, call, free_port, login, run_bench, running, service_env, wait_until_up

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEEP = """{ me { organizations(first: 10) { nodes { id name workspaces(first: 5) { nodes { id name
  projects(first: 25) { nodes { id name
    tasks(first: 5) { nodes { id title status } }
    executions(first: 5) { nodes { id status } }
    memories(first: 5) { nodes { id content } }
    queueStatus { pending running } } } } } } } } }"""
PAGER_PASSWORD = "pager-password-123"
PAGE = "query($w: ID!) { workspace(id: $w) { projects(first: 100) { nodes { id name folderPath createdAt } } } }"

Fetch = Callable[[httpx.AsyncClient], Awaitable[int]]
"""One whole fetch; returns how many HTTP requests it took."""


@dataclass(frozen=True)
class Measured:
    name: str
    fetches_per_second: float
    p50_ms: float
    p95_ms: float
    requests_per_fetch: int
    statements_per_fetch: int | None = None


def seed(api: str, token: str, args: argparse.Namespace) -> None:
    """The tree, with something in every tenth project's lists."""
    index = 0
    for o in range(args.organizations):
        org = call("POST", f"{api}/organizations", {"name": f"Org {o}", "folderPath": f"org-{o}"}, token, 201)
        for w in range(args.workspaces):
            body = {"name": f"Ws {w}", "folderPath": f"ws-{w}"}
            workspace = call("POST", f"{api}/organizations/{org['id']}/workspaces", body, token, 201)
            for p in range(args.projects):
                body = {"name": f"Project {p}", "folderPath": f"project-{p}"}
                project = call("POST", f"{api}/workspaces/{workspace['id']}/projects", body, token, 201)
                if index % 10 == 0:
                    fill(api, token, project["id"])
                index += 1


def seed_page(api: str, admin_token: str, size: int) -> tuple[str, str]:
    """Another user with one workspace of `size` projects; their token and the workspace's id."""
    mutation = (
        'mutation($p: String!) { createUser(input: {username: "pager", password: $p}) { userErrors { message } } }'
    )
    created = call(
        "POST",
        api.removesuffix("/api") + "/graphql",
        {"query": mutation, "variables": {"p": PAGER_PASSWORD}},
        admin_token,
    )
    if created["data"]["createUser"]["userErrors"]:
        raise RuntimeError(f"creating the paging user: {created}")
    token = call("POST", f"{api}/auth/login", {"username": "pager", "password": PAGER_PASSWORD})["token"]
    org = call("POST", f"{api}/organizations", {"name": "Page", "folderPath": "page"}, token, 201)
    workspace = call(
        "POST", f"{api}/organizations/{org['id']}/workspaces", {"name": "P", "folderPath": "p"}, token, 201
    )
    for p in range(size):
        body = {"name": f"Paged {p}", "folderPath": f"paged-{p}"}
        call("POST", f"{api}/workspaces/{workspace['id']}/projects", body, token, 201)
    return token, workspace["id"]


def fill(api: str, token: str, project_id: str) -> None:
    call("POST", f"{api}/flexy", {"projectId": project_id}, token, 201)
    for n in range(2):
        call(
            "POST",
            f"{api}/projects/{project_id}/tasks/adhoc",
            {"title": f"t{n}", "prompt": "true", "taskType": "bash"},
            token,
            201,
        )
    memory = {"content": f"note of {project_id}", "scope": "project", "scope_id": project_id}
    call("POST", f"{api}/context/memories", memory, token, 201)


async def rest_deep(client: httpx.AsyncClient) -> int:
    """The deep read as the REST API allows it: a request per list, as many in flight as the client lets."""
    requests = 1
    organizations = (await client.get("/api/organizations")).json()
    workspace_lists = await asyncio.gather(
        *(client.get(f"/api/organizations/{o['id']}/workspaces") for o in organizations)
    )
    workspaces = [w for response in workspace_lists for w in response.json()]
    project_lists = await asyncio.gather(*(client.get(f"/api/workspaces/{w['id']}/projects") for w in workspaces))
    projects = [p for response in project_lists for p in response.json()]
    per_project = [
        path
        for p in projects
        for path in (
            f"/api/projects/{p['id']}/tasks?limit=5",
            f"/api/workflows/projects/{p['id']}/executions",
            f"/api/context/memories?scope=project&scope_id={p['id']}&limit=5",
            f"/api/projects/{p['id']}/task-queue-status",
        )
    ]
    answers = await asyncio.gather(*(client.get(path) for path in per_project))
    if any(answer.status_code != 200 for answer in answers):
        raise RuntimeError("a REST request of the deep read failed")
    return requests + len(workspace_lists) + len(project_lists) + len(answers)


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> int:
    answer = (await client.post("/graphql", json={"query": query, "variables": variables or {}})).json()
    if "errors" in answer:
        raise RuntimeError(f"GraphQL failed: {answer['errors']}")
    return 1


async def measure(base: str, token: str, fetch: Fetch, clients: int, duration: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    requests = 0
    limits = httpx.Limits(max_connections=clients * 4, max_keepalive_connections=clients * 4)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=120
    ) as client:
        await fetch(client)  # warm-up
        end = time.monotonic() + duration

        async def worker() -> None:
            nonlocal requests
            while time.monotonic() < end:
                started = time.monotonic()
                requests = await fetch(client)
                latencies.append(time.monotonic() - started)

        await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, requests


def summary(name: str, latencies: list[float], requests: int, duration: float) -> Measured:
    ordered = sorted(latencies)
    return Measured(
        name,
        len(ordered) / duration,
        1000 * statistics.median(ordered),
        1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        requests,
    )


def count_statements(data_dir: Path, fetches: dict[str, tuple[str, Fetch]], tokens: dict[str, str]) -> dict[str, int]:
    """SQL statements of one fetch of each kind, on an in-process server over the same database."""
    from sqlalchemy import event

    from tests.conftest import start_server

    live = start_server(data_dir, SANDBOX_BACKEND="local")
    seen: list[str] = []
    lock = threading.Lock()

    def count(_connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            with lock:
                seen.append(statement)

    async def one(token: str, fetch: Fetch) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=live.url, headers=headers, timeout=120) as client:
            await fetch(client)  # the caller's lookup is cached from here on, as for any later request
            engine = live.runtime.db.engine.sync_engine
            event.listen(engine, "before_cursor_execute", count)
            try:
                seen.clear()
                await fetch(client)
                return len(seen)
            finally:
                event.remove(engine, "before_cursor_execute", count)

    try:
        return {name: asyncio.run(one(tokens[name], fetch)) for name, (_, fetch) in fetches.items()}
    finally:
        live.stop()


def run(args: argparse.Namespace, work: Path, stack: ExitStack) -> list[Measured]:
    data_dir = work / "data"
    port = free_port()
    log = stack.enter_context((work / "service.log").open("w"))
    env = {**service_env(data_dir, port), "SANDBOX_BACKEND": "local", "TASK_COMMAND_BASH": "sh -c {prompt}"}
    service = stack.enter_context(running([sys.executable, "app.py", "serve"], env, log))
    base = f"http://{HOST}:{port}"
    wait_until_up(f"{base}/api/health", service, work / "service.log")
    token = login(f"{base}/api")
    total = args.organizations * args.workspaces * args.projects
    print(f"seeding {total} projects (and a {args.page_size}-project workspace) through REST ...", flush=True)
    from schema.relay import global_id

    seed(f"{base}/api", token, args)
    pager_token, workspace_id = seed_page(f"{base}/api", token, args.page_size)
    workspace = global_id("Workspace", workspace_id)
    fetches: dict[str, tuple[str, Fetch]] = {
        "deep: GraphQL": (token, lambda client: graphql(client, DEEP)),
        "deep: REST": (token, rest_deep),
        "page: GraphQL": (pager_token, lambda client: graphql(client, PAGE, {"w": workspace})),
        "page: REST": (pager_token, lambda client: rest_page(client, workspace_id)),
    }
    results = []
    for name, (as_user, fetch) in fetches.items():
        print(f"measuring {name} ...", flush=True)
        latencies, requests = asyncio.run(measure(base, as_user, fetch, args.clients, args.duration))
        results.append(summary(name, latencies, requests, args.duration))
    stack.close()  # the service stops; the database is counted over by an in-process server
    counts = count_statements(data_dir, fetches, {name: as_user for name, (as_user, _) in fetches.items()})
    return [Measured(**{**r.__dict__, "statements_per_fetch": counts[r.name]}) for r in results]


async def rest_page(client: httpx.AsyncClient, workspace_id: str) -> int:
    answer = await client.get(f"/api/workspaces/{workspace_id}/projects")
    if answer.status_code != 200 or len(answer.json()) < 100:
        raise RuntimeError("the REST page failed")
    return 1


def report(results: list[Measured]) -> None:
    print(f"\n{'fetch':<15} {'fetches/s':>10} {'p50 ms':>9} {'p95 ms':>9} {'HTTP req':>9} {'SQL stmts':>10}")
    for r in results:
        statements = "-" if r.statements_per_fetch is None else str(r.statements_per_fetch)
        print(
            f"{r.name:<15} {r.fetches_per_second:>10.1f} {r.p50_ms:>9.1f} {r.p95_ms:>9.1f}"
            f" {r.requests_per_fetch:>9} {statements:>10}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--organizations", type=int, default=4)
    parser.add_argument("--workspaces", type=int, default=3)
    parser.add_argument("--projects", type=int, default=20, help="projects per workspace (default 20)")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per fetch (default 15)")
    args = parser.parse_args()
    return run_bench("bench-graphql-deep-", lambda work, stack: run(args, work, stack), report)


if __name__ == "__main__":
    sys.exit(main())
