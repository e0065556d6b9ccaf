"""A reconnect storm against a task's live output: what one existing subscriber still gets.

Run it from the repository root (about 40 seconds; it is never part of the tests):

    .venv/bin/python bench/reconnect_storm.py
    .venv/bin/python bench/reconnect_storm.py --rate 200 --seconds 15

What it does, twice (limits off: SOCKET_OPENS_PER_MINUTE_PER_USER=0 and ..._PER_ADDRESS=0; then the defaults),
all on 127.0.0.1:

1. Starts the real service (`python app.py serve`, SANDBOX_BACKEND=local) with a fresh DATA_DIR, logs in, and
   creates a project with a sandbox (helpers from `bench/rest_vs_graphql.py` and `bench/event_fanout.py`).
2. Opens one subscriber on the project's progress WebSocket, then starts a bash task that prints a line every
   5 ms, so its output streams as events for the whole run.
3. Measures the subscriber for `--calm` seconds, then for `--seconds` seconds while a storm opens `--rate`
   connections a second, as the same user, each with `after=0` (so an accepted one replays the project's
   events), reading what it is sent for 200 ms and closing.
4. Prints, for the calm and the storm windows: output events per second reaching the subscriber, their delay
   from the server's timestamp (p50, p95; ms resolution), the server's CPU, and how many storm connections
   were accepted or refused (close code 1013).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import websockets
from rest_vs_graphql import (
    HOST,
    BenchError,
    call,
    free_port,
    login,
    ms,
    process_cpu_seconds,
    run_bench,
    running,
    service_env,
    wait_until_up,
)

STREAM = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.005; done"
STORM_READ_SECONDS = 0.2


@dataclass
class Window:
    events: int = 0
    lines: int = 0
    delays: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    seconds: float = 0.0
    accepted: int = 0
    refused: int = 0
    failed: int = 0

    def per_second(self, count: int) -> float:
        return count / self.seconds if self.seconds else 0.0

    def delay(self, pct: int) -> float | None:
        if len(self.delays) < 2:
            return None
        return 1000 * statistics.quantiles(self.delays, n=100)[pct - 1]


@dataclass
class Subscriber:
    """Counts the task's output events into whichever window is open."""

    window: Window | None = None

    async def run(self, url: str) -> None:
        async with websockets.connect(url, max_size=None) as socket:
            async for frame in socket:
                event = json.loads(frame)
                if self.window is not None and event.get("type") == "output":
                    self.window.events += 1
                    self.window.lines += event["output"].count("\n")
                    stored = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
                    self.window.delays.append(time.time() - stored)


async def storm_connection(url: str, window: Window) -> None:
    try:
        async with websockets.connect(url, max_size=None, open_timeout=10) as socket:
            try:
                async with asyncio.timeout(STORM_READ_SECONDS):
                    async for _frame in socket:
                        pass
            except TimeoutError:
                window.accepted += 1
    except websockets.ConnectionClosed as closed:
        if closed.rcvd is not None and closed.rcvd.code == 1013:
            window.refused += 1
        else:
            window.failed += 1
    except (OSError, TimeoutError, websockets.InvalidHandshake):
        window.failed += 1


async def measure(pid: int, seconds: float, window: Window, storm: tuple[str, float] | None) -> None:
    started_cpu, started = process_cpu_seconds(pid) or 0.0, time.monotonic()
    client_cpu = time.process_time()
    connections: list[asyncio.Task[None]] = []
    if storm is None:
        await asyncio.sleep(seconds)
    else:
        url, rate = storm
        for n in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            connections.append(asyncio.create_task(storm_connection(url, window)))
    window.seconds = time.monotonic() - started
    window.cpu_seconds = (process_cpu_seconds(pid) or 0.0) - started_cpu
    window.client_cpu_seconds = time.process_time() - client_cpu
    await asyncio.gather(*connections)


async def observe(port: int, token: str, project: str, pid: int, args: argparse.Namespace) -> dict[str, Window]:
    api = f"http://{HOST}:{port}/api"
    url = f"ws://{HOST}:{port}/api/progress/subscribe/{project}?token={token}"
    subscriber = Subscriber()
    listening = asyncio.create_task(subscriber.run(url))
    await asyncio.sleep(0.5)
    task = call(
        "POST",
        f"{api}/projects/{project}/tasks/adhoc",
        {"title": "stream", "prompt": STREAM, "taskType": "bash"},
        token,
        201,
    )
    await asyncio.sleep(1.0)  # the task is streaming
    windows = {"calm": Window(), "storm": Window()}
    for name, storm in (("calm", None), ("storm", (f"{url}&after=0", args.rate))):
        subscriber.window = windows[name]
        await measure(pid, args.calm if storm is None else args.seconds, windows[name], storm)
        subscriber.window = None
    ended = call("GET", f"{api}/projects/{project}/tasks/{task['taskId']}", token=token)
    if ended["status"] != "running":
        raise BenchError(f"the streaming task ended early ({ended['status']}): {ended['error']}")
    call("POST", f"{api}/projects/{project}/tasks/{task['taskId']}/cancel", {}, token)
    listening.cancel()
    return windows


def project_with_sandbox(api: str, token: str) -> str:
    """An organization, workspace and plain project (no folder mappings), with its sandbox: the project's id."""
    org = call("POST", f"{api}/organizations", {"name": "Storm", "folderPath": "storm"}, token, 201)
    workspace = call(
        "POST", f"{api}/organizations/{org['id']}/workspaces", {"name": "W", "folderPath": "w"}, token, 201
    )
    project = call("POST", f"{api}/workspaces/{workspace['id']}/projects", {"name": "P", "folderPath": "p"}, token, 201)
    call("POST", f"{api}/flexy", {"projectId": project["id"]}, token, 201)
    return project["id"]


def one_run(
    label: str, limits: dict[str, str], args: argparse.Namespace, work_dir: Path, stack: ExitStack
) -> dict[str, Window]:
    port = free_port()
    env = {**service_env(work_dir / label, port), "SANDBOX_BACKEND": "local", "CONTEXT_ENABLED": "false", **limits}
    log_path = work_dir / f"{label}.log"
    service = stack.enter_context(
        running([sys.executable, "app.py", "serve"], env, stack.enter_context(log_path.open("w")))
    )
    api = f"http://{HOST}:{port}/api"
    wait_until_up(f"{api}/health", service, log_path)
    token = login(api)
    project = project_with_sandbox(api, token)
    print(f"{label}: {args.calm:g} s calm, then {args.seconds:g} s of {args.rate:g} connections/s ...", flush=True)
    return asyncio.run(observe(port, token, project, service.pid, args))


def run(args: argparse.Namespace, work_dir: Path, stack: ExitStack) -> dict[str, dict[str, Window]]:
    unlimited = {"SOCKET_OPENS_PER_MINUTE_PER_USER": "0", "SOCKET_OPENS_PER_MINUTE_PER_ADDRESS": "0"}
    return {
        "limits off": one_run("limits-off", unlimited, args, work_dir, stack),
        "default limits": one_run("default-limits", {}, args, work_dir, stack),
    }


def print_report(results: dict[str, dict[str, Window]]) -> None:
    columns = ("events/s", "lines/s", "delay p50", "p95 ms", "server CPU", "bench CPU", "accepted", "refused")
    print(f"\n  {'':<16}{'window':<8}" + "".join(f"{name:>11}" for name in columns))
    for label, windows in results.items():
        for name, window in windows.items():
            figures = [
                f"{window.per_second(window.events):.0f}",
                f"{window.per_second(window.lines):.0f}",
                ms(window.delay(50)),
                ms(window.delay(95)),
                f"{100 * window.cpu_seconds / window.seconds:.0f}%",
                f"{100 * window.client_cpu_seconds / window.seconds:.0f}%",
            ]
            if name == "storm":
                figures += [str(window.accepted), str(window.refused)]
            print(f"  {label:<16}{name:<8}" + "".join(f"{figure:>11}" for figure in figures))
            if window.failed:
                print(f"  ({window.failed} storm connections failed otherwise)")
    print("(the task prints a line every 5 ms; delays are from the event's server timestamp, millisecond resolution;")
    print(" the bench's own CPU competes with the server's on this machine)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=110, help="storm connections per second (default 110)")
    parser.add_argument("--seconds", type=float, default=10, help="length of the storm (default 10)")
    parser.add_argument("--calm", type=float, default=4, help="length of the calm window before it (default 4)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    return run_bench("bench-storm-", lambda tmp, stack: run(args, tmp, stack), print_report)


if __name__ == "__main__":
    sys.exit(main())
