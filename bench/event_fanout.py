"""Fan-out of the progress WebSocket: how fast one project's events reach 500 subscribers.

Run it from the repository root (about 20 seconds with the defaults; it is never part of the tests):

    .venv/bin/python bench/event_fanout.py                       # or: make bench (after the REST/GraphQL one)
    .venv/bin/python bench/event_fanout.py --subscribers 1000 --events 400 --rate 50
    .venv/bin/python bench/event_fanout.py --compression none    # sockets without permessage-deflate

What it does, all on 127.0.0.1:

1. Starts the real service (`python app.py serve`) as a subprocess with SANDBOX_BACKEND=local (a sandbox is just
   the project's folder) and a fresh temporary DATA_DIR, logs in as `admin` and creates through REST an
   organization, a workspace, a project and the project's sandbox (helpers from `bench/rest_vs_graphql.py`).
2. Runs `bench/fanout_client.py` in its own process: it opens `--subscribers` sockets to
   `/api/progress/subscribe/{projectId}`, waits until every one is subscribed, then publishes `--events`
   events by alternating `POST /api/flexy/{id}/stop` and `/start` (one event each), one request at a time, as
   fast as the server answers or paced to `--rate` per second, and records when every frame arrives.
3. Prints, per event, the time from publish to the last subscriber's delivery (p50, p95, max); over all
   deliveries, the time from publish to each delivery (p50, p95); delivered events per second (deliveries
   divided by the time from the first publish to the last delivery); whether every subscriber got every event
   exactly once and in order (missing, duplicate and out-of-order frames); errors; and the CPU use of the
   server and of the client while publishing.

"Publish" is measured two ways: from the event's own `timestamp`, taken by the server when it stores the event
(the same clock, but with millisecond resolution, truncated: those latencies read up to 1 ms high), and from the
client's clock just before it writes the stop/start request (which adds the request's own handling time). The
machine has few cores: the client competes with the server for CPU, so both CPU shares are printed. Every
subprocess is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from fanout_client import CONNECT_TIMEOUT, DRAIN_TIMEOUT, PUBLISH_TIMEOUT
from rest_vs_graphql import (
    BENCH_DIR,
    HOST,
    BenchError,
    call,
    free_port,
    login,
    ms,
    run_bench,
    running,
    seed,
    service_env,
    wait_until_up,
)

CLIENT = BENCH_DIR / "fanout_client.py"
CLIENT_TIMEOUT = CONNECT_TIMEOUT + PUBLISH_TIMEOUT + DRAIN_TIMEOUT + 30


def create_sandbox(api: str, token: str) -> tuple[str, str]:
    """One organization, workspace and project, and the project's (running) sandbox: their ids."""
    seed(api, token, projects=1, workspaces=1)
    project = call("GET", f"{api}/projects", token=token)[0]
    sandbox = call("POST", f"{api}/flexy", {"projectId": project["id"]}, token, 201)
    return project["id"], sandbox["id"]


def client_command(args: argparse.Namespace, port: int, token: str, project: str, sandbox: str, pid: int) -> list[str]:
    command = [sys.executable, str(CLIENT), "--host", HOST, "--port", str(port), "--token", token]
    command += ["--project", project, "--sandbox", sandbox, "--server-pid", str(pid)]
    command += ["--subscribers", str(args.subscribers), "--events", str(args.events)]
    return [*command, "--rate", str(args.rate), "--compression", args.compression]


def run_client(command: list[str]) -> dict[str, Any]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the fan-out client ran past {CLIENT_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise BenchError(f"the fan-out client failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    if "fatal" in report:
        raise BenchError(f"{report['fatal']}; errors: {report['errors']}")
    return report


def run(args: argparse.Namespace, work_dir: Path, stack: ExitStack) -> dict[str, Any]:
    port = free_port()
    env = {**service_env(work_dir / "data", port), "SANDBOX_BACKEND": "local"}
    log_path = work_dir / "service.log"
    service = stack.enter_context(
        running([sys.executable, "app.py", "serve"], env, stack.enter_context(log_path.open("w")))
    )
    api = f"http://{HOST}:{port}/api"
    wait_until_up(f"{api}/health", service, log_path)
    token = login(api)
    project, sandbox = create_sandbox(api, token)
    print(f"connecting {args.subscribers} subscribers and publishing {args.events} events ...", flush=True)
    return run_client(client_command(args, port, token, project, sandbox, service.pid))


# --- reporting -----------------------------------------------------------------------------------------


def row(label: str, figures: dict[str, float | None], keys: tuple[str, ...] = ("p50", "p95", "max")) -> str:
    cells = "".join(f"{ms(figures[key]):>9}" if key in keys else f"{'':>9}" for key in ("p50", "p95", "max"))
    return f"  {label:<28}{cells}"


def delivery_line(report: dict[str, Any]) -> str:
    check, ready, events = report["check"], report["ready"], report["published"]
    verdict = "all" if check["exact"] == ready else "NOT all"
    return (
        f"delivery check: {check['exact']}/{ready} subscribers got {verdict} {events} events exactly once and in"
        f" order; missing {check['missing']}, duplicates {check['duplicates']}, out of order {check['out_of_order']},"
        f" unexpected {check['unexpected']}, wrong type {report['wrongTypes']}"
    )


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    pace = f"paced to {args.rate:g}/s" if args.rate else "as fast as answered"
    request = report["requestMs"]
    server_cpu = report["serverCpuPct"]
    print(
        f"\n{report['ready']}/{report['subscribers']} subscribers on one project (connected in"
        f" {report['connectSeconds']:.1f} s), compression {args.compression}; {os.cpu_count()} CPUs\n"
        f"published {report['published']} events in {report['publishSeconds']:.2f} s ({pace}; sequential"
        f" stop/start requests, each answered in p50 {ms(request['p50'])} ms, p95 {ms(request['p95'])} ms)\n"
    )
    print(f"  {'latency, ms':<28}{'p50':>9}{'p95':>9}{'max':>9}")
    print("  publish -> last delivery, per event")
    print(row("  from the server timestamp", report["lastFromStoredMs"]))
    print(row("  from the client's send", report["lastFromSentMs"]))
    print(row("publish -> first delivery", report["firstFromStoredMs"]))
    print("  publish -> each delivery")
    print(row("  from the server timestamp", report["eachFromStoredMs"], ("p50", "p95")))
    print(row("  from the client's send", report["eachFromSentMs"], ("p50", "p95")))
    print(
        f"\ndelivered {report['deliveries']} events in {report['elapsedSeconds']:.2f} s (first publish to last"
        f" delivery): {report['deliveredPerSecond']:.0f} events/s"
    )
    print(delivery_line(report))
    print("errors: " + (", ".join(f"{kind}: {count}" for kind, count in report["errors"].items()) or "none"))
    print(
        f"CPU while publishing and delivering: server {'-' if server_cpu is None else f'{server_cpu:.0f}%'},"
        f" client {report['clientCpuPct']:.0f}%"
    )
    print("(server timestamps have millisecond resolution, truncated: latencies from them read up to 1 ms high)")


# --- main --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subscribers", type=int, default=500, help="sockets on the project (default 500)")
    parser.add_argument("--events", type=int, default=200, help="events to publish (default 200)")
    parser.add_argument("--rate", type=float, default=0.0, help="events per second (default: as fast as answered)")
    parser.add_argument(
        "--compression", choices=("deflate", "none"), default="deflate", help="offer permessage-deflate (default)"
    )
    args = parser.parse_args()
    if args.subscribers < 1 or args.events < 1 or args.rate < 0:
        parser.error("counts must be positive and the rate non-negative")
    return args


def main() -> int:
    args = parse_args()
    return run_bench(
        "bench-fanout-", lambda tmp, stack: run(args, tmp, stack), lambda report: print_report(report, args)
    )


if __name__ == "__main__":
    sys.exit(main())
