"""Requests per second for listing projects: REST, GraphQL, and a bare Starlette baseline.

Run it from the repository root (it takes about 45 seconds with the defaults):

    .venv/bin/python bench/rest_vs_graphql.py            # or: make bench
    .venv/bin/python bench/rest_vs_graphql.py --projects 200 --connections 32 --duration 20
    .venv/bin/python bench/rest_vs_graphql.py --rounds 3   # on a busy machine: interleave, keep each best

What it does, all on 127.0.0.1:

1. Starts the real service (`python app.py serve`) as a subprocess with a fresh temporary DATA_DIR
   (SQLite), waits for `/api/health`, logs in as `admin` and seeds, through REST, one organization,
   two workspaces and `--projects` projects (some with an AI configuration, some with a workflow state).
2. Starts `bench/bare_app.py` under uvicorn as a second subprocess on the same database file.
3. Checks once that every target answers correctly (REST and bare return identical JSON; GraphQL
   returns every project and no errors), then measures each target in turn, never two at once:
     - REST     `GET /api/projects` with a bearer token;
     - GraphQL  `POST /graphql` with the same projects reached through `me { organizations { workspaces {
                projects } } }` (each page at most 100 items) and the same token;
     - bare     `GET /api/projects` on the bare app: no auth, one SELECT, the same JSON.
   The load comes from `bench/loadgen.py` in its own process: `--connections` keep-alive HTTP/1.1
   connections, one request in flight on each, for a warm-up and then `--duration` measured seconds.
4. Prints requests per second, p50/p95 latency, errors, and CPU use of the server and the client for
   each target, then REST and GraphQL as a percentage of bare (the target is at least 40%).

Both servers run uvicorn with the same defaults (uvloop and httptools when installed). On a small
machine the client competes with the server for CPU, so the client's CPU share is printed: when it
approaches a full core the figures measure the client, not the server, and a server CPU well under
100% means something else took the CPU (or the server waited). With `--rounds N` the targets are
measured N times, interleaved, and each one's fastest round is reported (errors from every round).
Every subprocess is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO, TypeVar

T = TypeVar("T")
BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LOADGEN = BENCH_DIR / "loadgen.py"
HOST = "127.0.0.1"
PASSWORD = "bench-password-123"
TARGET_PCT = 40.0
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 30.0
PROJECT_FIELDS = (
    "id databaseId name folderPath sandboxName aiConfig createdAt updatedAt workspace { id } sandbox { id }"
    " workflow { id } workflowVersion { id } workflowState { currentPhaseId currentStepId steps { stepId status }"
    " lastUpdated }"
)
MAX_PAGE = 100  # the most items one GraphQL page may hold
# Settings that could point the service at a database or folders outside the temporary DATA_DIR.
SCRUBBED_ENV = ("DATABASE_URL", "BASE_ROOT", "KAI_BASE_ROOT", "JWT_SECRET", "AUTH_USERNAME", "HOST", "PORT")
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only: never a proxy


class BenchError(RuntimeError):
    """Setup failed; the message says where."""


@dataclass(frozen=True)
class Target:
    name: str
    port: int
    method: str
    path: str
    headers: tuple[str, ...] = ()
    body: str = ""


@dataclass(frozen=True)
class Result:
    target: Target
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    errors: dict[str, int]
    client_cpu_pct: float
    server_cpu_pct: float | None
    round_rps: tuple[float, ...] = ()


# --- HTTP control calls (setup and checks, not the load) ---------------------------------------


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _opener.open(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def call(method: str, url: str, body: Any = None, token: str | None = None, expect: int = 200) -> Any:
    status, raw = http(method, url, body, token)
    if status != expect:
        raise BenchError(f"{method} {url} answered {status}, expected {expect}: {raw[:300]!r}")
    return json.loads(raw) if raw else None


def wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{url} exited with {process.returncode} while starting:\n{log_tail(log_path)}")
        try:
            if http("GET", url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"{url} did not answer 200 within {STARTUP_TIMEOUT:.0f} s:\n{log_tail(log_path)}")


# --- subprocesses --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def running(command: list[str], env: dict[str, str], log: TextIO) -> Iterator[subprocess.Popen[bytes]]:
    # A new session keeps Ctrl-C from reaching the child directly; `stop` ends it in order.
    process = subprocess.Popen(
        command, cwd=REPO_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield process
    finally:
        stop(process)


def service_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(DATA_DIR=str(data_dir), PORT=str(port), HOST=HOST, AUTH_PASSWORD=PASSWORD, LOG_LEVEL="warning")
    return env


def bare_command(port: int) -> list[str]:
    uvicorn = [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "bare_app:app"]
    return [*uvicorn, "--host", HOST, "--port", str(port), "--log-level", "warning"]


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process and its threads (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- seeding --------------------------------------------------------------------------------------


def login(api: str) -> str:
    return call("POST", f"{api}/auth/login", {"username": "admin", "password": PASSWORD})["token"]


def ai_config(index: int) -> dict[str, Any]:
    return {
        "aiWindows": [{"type": "claude", "model": "sonnet"}, {"type": "qwen"}],
        "folderMappings": [{"hostPath": f"/srv/data/{index}", "containerPath": "/data"}],
        "portMappings": [{"hostPort": 3000 + index, "containerPort": 3000}],
        "environmentVariables": [{"name": "PROJECT_INDEX", "value": str(index)}],
    }


def seed(api: str, token: str, projects: int, workspaces: int) -> None:
    """One organization, `workspaces` workspaces, `projects` projects spread round-robin over them."""
    org = call("POST", f"{api}/organizations", {"name": "Bench", "folderPath": "bench"}, token, 201)
    workspaces_url = f"{api}/organizations/{org['id']}/workspaces"
    workspace_ids = [
        call("POST", workspaces_url, {"name": f"W{i}", "folderPath": f"w{i}"}, token, 201)["id"]
        for i in range(workspaces)
    ]
    for i in range(projects):
        body: dict[str, Any] = {"name": f"Project {i}", "folderPath": f"project-{i}"}
        if i % 2 == 0:
            body["aiConfig"] = ai_config(i)
        url = f"{api}/workspaces/{workspace_ids[i % workspaces]}/projects"
        project = call("POST", url, body, token, 201)
        if i % 3 == 0:
            state = {"currentPhaseId": "build", "currentStepId": "s2", "stepStatuses": {"s1": "completed"}}
            call("PUT", f"{api}/projects/{project['id']}/workflow", state, token)


# --- targets and checks ----------------------------------------------------------------------------


def projects_query(workspaces: int, per_workspace: int) -> str:
    """The GraphQL twin of `GET /api/projects` for the seeded tree: the viewer's organization, its workspaces,
    each one's projects (the graph has no flat list of projects)."""
    return (
        f"{{ me {{ organizations(first: 1) {{ nodes {{ workspaces(first: {workspaces}) {{ nodes {{"
        f" projects(first: {per_workspace}) {{ nodes {{ {PROJECT_FIELDS} }} }} }} }} }} }} }} }}"
    )


def projects_per_workspace(args: argparse.Namespace) -> int:
    """The most projects one workspace gets when `seed` spreads them round-robin."""
    return math.ceil(args.projects / args.workspaces)


def graphql_projects(body: dict[str, Any]) -> list[dict[str, Any]]:
    organizations = body["data"]["me"]["organizations"]["nodes"]
    return [p for o in organizations for w in o["workspaces"]["nodes"] for p in w["projects"]["nodes"]]


def targets(service_port: int, bare_port: int, token: str, args: argparse.Namespace) -> list[Target]:
    auth = f"Authorization: Bearer {token}"
    graphql_body = json.dumps({"query": projects_query(args.workspaces, projects_per_workspace(args))})
    return [
        Target("REST", service_port, "GET", "/api/projects", (auth,)),
        Target("GraphQL", service_port, "POST", "/graphql", (auth, "Content-Type: application/json"), graphql_body),
        Target("bare", bare_port, "GET", "/api/projects"),
    ]


def fetch(target: Target) -> bytes:
    """One request to the target; its body, which must come with 200."""
    url = f"http://{HOST}:{target.port}{target.path}"
    request = urllib.request.Request(url, data=target.body.encode() or None, method=target.method)
    for header in target.headers:
        name, _, value = header.partition(": ")
        request.add_header(name, value)
    with _opener.open(request, timeout=HTTP_TIMEOUT) as response:
        if response.status != 200:
            raise BenchError(f"{target.name} answered {response.status}")
        return response.read()


def check_answers(targets: list[Target], projects: int) -> dict[str, int]:
    """Fail unless every target returns every project correctly; each one's body length otherwise."""
    bodies = {target.name: fetch(target) for target in targets}
    rest, bare, graphql = (json.loads(bodies[name]) for name in ("REST", "bare", "GraphQL"))
    if len(rest) != projects:
        raise BenchError(f"REST returned {len(rest)} projects, expected {projects}")
    if bare != rest:
        raise BenchError("the bare app's JSON differs from the REST endpoint's")
    if graphql.get("errors") or len(graphql_projects(graphql)) != projects:
        raise BenchError(f"GraphQL did not return {projects} projects: {bodies['GraphQL'][:300]!r}")
    # Grouped by workspace, so in another order than REST's flat list.
    if sorted(p["databaseId"] for p in graphql_projects(graphql)) != sorted(p["id"] for p in rest):
        raise BenchError("GraphQL returned other projects than REST")
    return {name: len(body) for name, body in bodies.items()}


# --- measuring -----------------------------------------------------------------------------------------


def loadgen_command(target: Target, args: argparse.Namespace, expect_length: int) -> list[str]:
    command = [sys.executable, str(LOADGEN), "--host", HOST, "--port", str(target.port)]
    command += ["--method", target.method, "--path", target.path, "--body", target.body]
    command += ["--connections", str(args.connections), "--duration", str(args.duration)]
    command += ["--warmup", str(args.warmup), "--expect-length", str(expect_length)]
    for header in target.headers:
        command += ["--header", header]
    return command


def measure(target: Target, server_pid: int, args: argparse.Namespace, expect_length: int) -> Result:
    timeout = args.warmup + args.duration + 30
    cpu_before, wall_before = process_cpu_seconds(server_pid), time.monotonic()
    try:
        done = subprocess.run(
            loadgen_command(target, args, expect_length), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"the load generator for {target.name} ran past {timeout:.0f} s") from None
    cpu_after, wall = process_cpu_seconds(server_pid), time.monotonic() - wall_before
    if done.returncode != 0:
        raise BenchError(f"the load generator for {target.name} failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    server_cpu = None if cpu_before is None or cpu_after is None else 100 * (cpu_after - cpu_before) / wall
    return Result(
        target,
        report["rps"],
        report["p50_ms"],
        report["p95_ms"],
        report["errors"],
        report["client_cpu_pct"],
        server_cpu,
    )


# --- reporting -----------------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_results(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\n{args.projects} projects in {args.workspaces} workspaces; {args.connections} connections, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per target, best of {args.rounds} round(s); "
        f"{os.cpu_count()} CPUs\n"
    )
    print(f"{'target':<8} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'server CPU':>11} {'client CPU':>11}  errors")
    for r in results:
        server_cpu = "-" if r.server_cpu_pct is None else f"{r.server_cpu_pct:.0f}%"
        errors = ", ".join(f"{kind}: {count}" for kind, count in r.errors.items()) or "none"
        print(
            f"{r.target.name:<8} {r.rps:>9.1f} {ms(r.p50_ms):>8} {ms(r.p95_ms):>8} "
            f"{server_cpu:>11} {r.client_cpu_pct:>10.0f}%  {errors}"
        )
    if args.rounds > 1:
        print(
            "\nreq/s in each round: "
            + "; ".join(f"{r.target.name} " + " / ".join(f"{x:.1f}" for x in r.round_rps) for r in results)
        )
    bare = next(r for r in results if r.target.name == "bare")
    print()
    for r in results:
        if r is bare:
            continue
        pct = 100 * r.rps / bare.rps if bare.rps else 0.0
        verdict = "meets" if pct >= TARGET_PCT else "BELOW"
        print(f"{r.target.name:<8} {pct:5.1f}% of bare  ({verdict} the {TARGET_PCT:.0f}% target)")


# --- main --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--projects", type=int, default=50, help="projects to seed (default 50)")
    parser.add_argument("--workspaces", type=int, default=2, help="workspaces to spread them over (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per target (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target (default 2)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every target this many times, interleaved; keep the best"
    )
    args = parser.parse_args()
    if (
        args.projects < 1
        or args.workspaces < 1
        or args.connections < 1
        or args.rounds < 1
        or args.duration <= 0
        or args.warmup < 0
    ):
        parser.error("counts must be positive and durations non-negative")
    if args.workspaces > MAX_PAGE or projects_per_workspace(args) > MAX_PAGE:
        parser.error(f"GraphQL pages hold at most {MAX_PAGE} items: at most {MAX_PAGE} workspaces and projects each")
    return args


def run(args: argparse.Namespace, work_dir: Path, stack: ExitStack) -> list[Result]:
    data_dir = work_dir / "data"
    service_port, bare_port = free_port(), free_port()
    service_log = stack.enter_context((work_dir / "service.log").open("w"))
    service = stack.enter_context(
        running([sys.executable, "app.py", "serve"], service_env(data_dir, service_port), service_log)
    )
    api = f"http://{HOST}:{service_port}/api"
    wait_until_up(f"{api}/health", service, work_dir / "service.log")
    token = login(api)
    print(f"seeding {args.projects} projects through REST ...", flush=True)
    seed(api, token, args.projects, args.workspaces)

    bare_env = {**os.environ, "BENCH_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'orchestrator.db'}"}
    bare_log = stack.enter_context((work_dir / "bare.log").open("w"))
    bare = stack.enter_context(running(bare_command(bare_port), bare_env, bare_log))
    wait_until_up(f"http://{HOST}:{bare_port}/api/projects", bare, work_dir / "bare.log")

    plan = targets(service_port, bare_port, token, args)
    lengths = check_answers(plan, args.projects)
    pids = {service_port: service.pid, bare_port: bare.pid}
    rounds: dict[str, list[Result]] = {target.name: [] for target in plan}
    for round_number in range(1, args.rounds + 1):
        for target in plan:
            print(f"round {round_number}/{args.rounds}: measuring {target.name} ...", flush=True)
            rounds[target.name].append(measure(target, pids[target.port], args, lengths[target.name]))
    return [best_round(results) for results in rounds.values()]


def best_round(results: list[Result]) -> Result:
    """The fastest round (the one least disturbed by anything else on the machine), with every round's errors."""
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result.errors)
    best = max(results, key=lambda result: result.rps)
    return replace(best, errors=dict(errors), round_rps=tuple(result.rps for result in results))


def run_bench(prefix: str, measure: Callable[[Path, ExitStack], T], report: Callable[[T], None]) -> int:
    """Measure in a temporary folder, stop every subprocess whatever happens, then report; the exit code."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, ExitStack() as stack:
        try:
            results = measure(Path(tmp), stack)
        except BenchError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted; stopping the servers", file=sys.stderr)
            return 130
    report(results)
    return 0


def main() -> int:
    args = parse_args()
    return run_bench(
        "bench-rest-graphql-", lambda tmp, stack: run(args, tmp, stack), lambda results: print_results(results, args)
    )


if __name__ == "__main__":
    sys.exit(main())
