"""What a task adds on top of its command: queued → completed latency of a `true` task, and throughput.

Run it from the repository root (never part of the tests):

    .venv/bin/python bench/task_overhead.py                      # local backend
    .venv/bin/python bench/task_overhead.py --backend docker --docker-host unix:///var/run/docker.sock \
        --image some-image-with-sh:latest

It starts the real service (`python app.py serve`) with a fresh DATA_DIR, creates a project and its sandbox, then

1. runs `--latency-tasks` bash tasks whose script is `true`, one at a time, and reports the time from the
   task's `createdAt` (when it was queued) to its `endTime` (when it was recorded completed): p50, p95, max;
2. sets the project's task limit to `--limit` (4), submits `--throughput-tasks` such tasks at once and reports
   tasks completed per second, from the first `createdAt` to the last `endTime`.

Both come from the server's own timestamps (millisecond resolution), so client polling adds nothing.
The command runs as `sh -c <script>` (TASK_COMMAND_BASH), so images without bash work too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rest_vs_graphql import HOST, BenchError, call, free_port, login, running, service_env, wait_until_up


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("local", "docker"), default="local")
    parser.add_argument("--docker-host")
    parser.add_argument("--image", default="flexy-dev-sandbox:latest")
    parser.add_argument("--latency-tasks", type=int, default=50)
    parser.add_argument("--throughput-tasks", type=int, default=100)
    parser.add_argument("--limit", type=int, default=4)
    return parser.parse_args()


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def submit(api: str, token: str, project_id: str) -> str:
    body = {"title": "bench", "prompt": "true", "taskType": "bash"}
    return call("POST", f"{api}/projects/{project_id}/tasks/adhoc", body, token, 201)["taskId"]


def wait_all(api: str, token: str, project_id: str, task_ids: list[str], timeout: float = 600) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(task_ids):
        if time.monotonic() > deadline:
            raise BenchError(f"{len(task_ids) - len(done)} tasks did not finish")
        for task_id in task_ids:
            if task_id not in done:
                task = call("GET", f"{api}/projects/{project_id}/tasks/{task_id}", token=token)
                if task["status"] in ("completed", "failed", "cancelled"):
                    if task["status"] != "completed":
                        raise BenchError(f"task {task_id} {task['status']}: {task['error']}")
                    done[task_id] = task
        time.sleep(0.01)
    return [done[task_id] for task_id in task_ids]


def project_with_sandbox(api: str, token: str) -> str:
    """A new organization, workspace and project with a sandbox; returns the project's id."""
    org = call("POST", f"{api}/organizations", {"name": "Bench", "folderPath": "bench"}, token, 201)
    ws = call("POST", f"{api}/organizations/{org['id']}/workspaces", {"name": "W", "folderPath": "w"}, token, 201)
    project = call("POST", f"{api}/workspaces/{ws['id']}/projects", {"name": "P", "folderPath": "p"}, token, 201)
    call("POST", f"{api}/flexy", {"projectId": project["id"]}, token, 201)
    return project["id"]


def latency_ms(task: dict[str, Any]) -> float:
    return (moment(task["endTime"]) - moment(task["createdAt"])).total_seconds() * 1000


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tasks-") as work, open(Path(work) / "service.log", "w") as log:
        port = free_port()
        env = service_env(Path(work) / "data", port)
        env.update(SANDBOX_BACKEND=args.backend, IMAGE_NAME=args.image, TASK_COMMAND_BASH="sh -c {prompt}")
        if args.docker_host:
            env["DOCKER_HOST"] = args.docker_host
        api = f"http://{HOST}:{port}/api"
        with running([sys.executable, "app.py", "serve"], env, log) as process:
            wait_until_up(f"{api}/health", process, Path(work) / "service.log")
            token = login(api)
            pid = project_with_sandbox(api, token)

            latencies = []
            for _ in range(args.latency_tasks):
                latencies.extend(latency_ms(t) for t in wait_all(api, token, pid, [submit(api, token, pid)]))
            latencies.sort()
            p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
            print(
                f"{args.backend}: `true` task queued → completed over {len(latencies)} tasks: "
                f"p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms"
            )

            call("POST", f"{api}/projects/{pid}/task-limits", {"limit": args.limit}, token)
            ids = [submit(api, token, pid) for _ in range(args.throughput_tasks)]
            tasks = wait_all(api, token, pid, ids)
            first = min(moment(t["createdAt"]) for t in tasks)
            last = max(moment(t["endTime"]) for t in tasks)
            seconds = (last - first).total_seconds()
            print(
                f"{args.backend}: limit {args.limit}, {len(tasks)} tasks in {seconds:.2f} s: "
                f"{len(tasks) / seconds:.1f} tasks/s"
            )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        sys.exit(1)
