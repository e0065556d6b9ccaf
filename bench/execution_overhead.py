"""What the execution engine adds between steps: a workflow of `true` bash steps, run end to end.

Run it from the repository root (never part of the tests):

    .venv/bin/python bench/execution_overhead.py            # local backend, 40 steps in 4 phases

It starts the real service (`python app.py serve`) with a fresh DATA_DIR, creates a project with a sandbox and
a published workflow of `--steps` bash steps whose script is `true`, runs `--runs` executions one after the
other, and reports from the server's own timestamps:

1. the hand-off between steps: from one step task's `endTime` to the next step task's `createdAt` (the engine
   noticing the end, recording the step, and queueing the next task): p50, p95, max;
2. each step's whole cost: the execution's duration divided by its steps;
3. a plain `true` task's queued → completed time on the same server, for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from rest_vs_graphql import HOST, call, free_port, login, running, service_env, wait_until_up
from task_overhead import latency_ms, moment, project_with_sandbox, submit, wait_all


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--phases", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    return parser.parse_args()


def definition(steps: int, phases: int) -> dict[str, Any]:
    per_phase = steps // phases
    return {
        "phases": [
            {
                "id": f"phase-{p}",
                "steps": [{"id": f"s{p}-{s}", "taskType": "bash", "prompt": "true"} for s in range(per_phase)],
            }
            for p in range(phases)
        ]
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def run_execution(api: str, token: str, workflow_id: str, project_id: str) -> dict[str, Any]:
    created = call("POST", f"{api}/workflows/{workflow_id}/executions", {"projectId": project_id}, token, 202)
    call("POST", f"{api}/workflows/executions/{created['executionId']}/start", {}, token)
    while True:
        execution = call("GET", f"{api}/workflows/executions/{created['executionId']}", token=token)
        if execution["status"] in ("completed", "failed", "cancelled"):
            if execution["status"] != "completed":
                raise SystemExit(f"execution {execution['status']}: {execution['error']}")
            return execution
        time.sleep(0.05)


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-executions-") as work, open(Path(work) / "service.log", "w") as log:
        port = free_port()
        env = service_env(Path(work) / "data", port)
        env.update(SANDBOX_BACKEND="local", TASK_COMMAND_BASH="sh -c {prompt}")
        api = f"http://{HOST}:{port}/api"
        with running([sys.executable, "app.py", "serve"], env, log) as process:
            wait_until_up(f"{api}/health", process, Path(work) / "service.log")
            token = login(api)
            pid = project_with_sandbox(api, token)
            body = {"name": "bench", "description": "", "definition": definition(args.steps, args.phases)}
            workflow = call("POST", f"{api}/workflows", body, token, 201)
            call("PATCH", f"{api}/workflows/{workflow['id']}/status", {"status": "published"}, token)

            handoffs: list[float] = []
            per_step: list[float] = []
            for _ in range(args.runs):
                execution = run_execution(api, token, workflow["id"], pid)
                task_ids = [step["taskId"] for phase in execution["phases"] for step in phase["steps"]]
                tasks = wait_all(api, token, pid, task_ids)
                for before, after in pairwise(tasks):
                    gap = moment(after["createdAt"]) - moment(before["endTime"])
                    handoffs.append(gap.total_seconds() * 1000)
                per_step.append(execution["duration"] / len(task_ids))
            plain = [
                latency_ms(task) for _ in range(20) for task in wait_all(api, token, pid, [submit(api, token, pid)])
            ]

    print(
        f"hand-off between steps over {len(handoffs)} step pairs: p50 {statistics.median(handoffs):.1f} ms, "
        f"p95 {percentile(handoffs, 0.95):.1f} ms, max {max(handoffs):.1f} ms"
    )
    print(f"whole cost per step ({args.steps} steps, {args.runs} runs): mean {statistics.mean(per_step):.1f} ms")
    print(f"plain `true` task queued → completed: p50 {statistics.median(plain):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
