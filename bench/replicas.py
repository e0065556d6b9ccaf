"""Several replicas on one PostgreSQL: event delivery latency across replicas and task throughput, for 1 and
3 replicas, with the LISTEN/NOTIFY bus and with NATS, in one run.

    .venv/bin/python bench/replicas.py [--events 400] [--tasks 120] [--projects 6]

It starts a private PostgreSQL, NATS and Docker engine (as the tests do), then for each setup `python app.py
serve` replicas (sandboxes on that engine, one shared BASE_ROOT: every replica reaches every sandbox; the
local backend keeps its sandboxes per replica), and measures:

1. delivery latency: a task on the first replica prints `--events` lines (one every 5 ms); a progress
   WebSocket subscriber on every replica receives them; latency is the time from the event's commit (its
   `timestamp`, written by the replica that stored it) to its arrival at the subscriber (same machine, same
   clock): p50, p95, p99 for subscribers on the writing replica and on the others;
2. throughput: `--tasks` `true` tasks over `--projects` projects (task limit 4 each), queued round-robin
   through every replica at once; tasks completed per second, from the first `createdAt` to the last `endTime`;
3. with 3 replicas, memory search across replicas: `--memories` memories written one at a time through the
   first replica, each searched for on the last until it is found: the time from the write's answer to the
   first search that finds it (FAISS on every replica, following the database's change log).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.docker_engine import IMAGE, start_engine  # noqa: E402
from tests.nats_server import nats_server  # noqa: E402
from tests.pg_cluster import postgres_server  # noqa: E402

PASSWORD = "bench-password-123"
SECRET = "bench-jwt-secret-" + "y" * 32


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def moment(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def start_replicas(
    count: int, database_url: str, broker: str | None, docker_url: str, folder: Path
) -> list[tuple[subprocess.Popen[bytes], str]]:
    base_root = folder / "base-root"
    base_root.mkdir(parents=True, exist_ok=True)
    started = []
    for index in range(count):
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DATA_DIR": str(folder / f"replica-{index}"),
            "BASE_ROOT": str(base_root),
            "PORT": str(port),
            "AUTH_PASSWORD": PASSWORD,
            "JWT_SECRET": SECRET,
            "SECRETS_KEY": "YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaGJlbmNoYmU=",
            "REPLICA_NAME": f"bench-{index}",
            "SANDBOX_BACKEND": "docker",
            "DOCKER_HOST": docker_url,
            "IMAGE_NAME": IMAGE,
            "TASK_COMMAND_BASH": "sh -c {prompt}",
            "LOG_LEVEL": "warning",
            "SOCKET_OPENS_PER_MINUTE_PER_ADDRESS": "0",
            "SOCKET_OPENS_PER_MINUTE_PER_USER": "0",
        }
        if broker:
            env["EVENT_BROKER_URL"] = broker
        log = (folder / f"replica-{index}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "app.py", "serve"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        started.append((process, f"http://127.0.0.1:{port}"))
    for process, url in started:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"a replica exited; see {folder}")
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"a replica did not start; see {folder}")
            time.sleep(0.2)
    return started


def stop(replicas: list[tuple[subprocess.Popen[bytes], str]]) -> None:
    for process, _ in replicas:
        process.terminate()
    for process, _ in replicas:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_memory_ready(urls: list[str], token: str) -> None:
    """Every replica's embedding model loaded (it loads in the background at start, using the CPU that the
    measurements need)."""
    deadline = time.monotonic() + 180
    for url in urls:
        while (
            httpx.get(f"{url}/api/context/health", headers={"Authorization": f"Bearer {token}"}).json().get("status")
            != "healthy"
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"context memory on {url} did not become healthy")
            time.sleep(0.2)


def project(client: httpx.Client, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    suffix = os.urandom(4).hex()
    org = client.post(
        "/api/organizations", json={"name": f"O{suffix}", "folderPath": f"o{suffix}"}, headers=headers
    ).json()
    ws = client.post(
        f"/api/organizations/{org['id']}/workspaces", json={"name": "W", "folderPath": "w"}, headers=headers
    ).json()
    pr = client.post(
        f"/api/workspaces/{ws['id']}/projects", json={"name": "P", "folderPath": "p"}, headers=headers
    ).json()
    assert client.post("/api/flexy", json={"projectId": pr["id"]}, headers=headers).status_code in (200, 201)
    assert client.post(f"/api/projects/{pr['id']}/task-limits", json={"limit": 4}, headers=headers).status_code == 200
    return pr["id"]


def queue(url: str, token: str, project_id: str, script: str) -> str:
    response = httpx.post(
        f"{url}/api/projects/{project_id}/tasks/adhoc",
        json={"title": "bench", "prompt": script, "taskType": "bash"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()["taskId"]


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.5):.1f} ms, p95 {pick(0.95):.1f} ms, p99 {pick(0.99):.1f} ms"


def latency(urls: list[str], token: str, project_id: str, lines: int) -> dict[str, list[float]]:
    """Per subscriber (on each replica): seconds from each output event's commit to its arrival."""
    results: dict[str, list[float]] = {url: [] for url in urls}
    ready = threading.Barrier(len(urls) + 1)

    def follow(url: str) -> None:
        ws = url.replace("http", "ws") + f"/api/progress/subscribe/{project_id}?token={token}"
        with connect(ws, max_size=None) as socket:
            ready.wait()
            while True:
                frame = json.loads(socket.recv(timeout=120))
                if frame["type"] == "output":
                    results[url].append(time.time() - moment(frame["timestamp"]))
                if frame["type"] in ("task_completed", "task_failed"):
                    return

    threads = [threading.Thread(target=follow, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    ready.wait()
    queue(urls[0], token, project_id, f"i=0; while [ $i -lt {lines} ]; do i=$((i+1)); echo line $i; sleep 0.005; done")
    for thread in threads:
        thread.join()
    return results


def throughput(urls: list[str], token: str, projects: list[str], tasks: int) -> float:
    plan = [(urls[i % len(urls)], projects[i % len(projects)]) for i in range(tasks)]
    with ThreadPoolExecutor(12) as pool:
        ids = list(pool.map(lambda item: (item[1], queue(item[0], token, item[1], "true")), plan))
    headers = {"Authorization": f"Bearer {token}"}
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 600
    while len(done) < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit("tasks did not finish")
        for project_id, task_id in ids:
            if task_id not in done:
                task = httpx.get(f"{urls[0]}/api/projects/{project_id}/tasks/{task_id}", headers=headers).json()
                if task["status"] in ("completed", "failed", "cancelled"):
                    done[task_id] = task
        time.sleep(0.2)
    first = min(moment(t["createdAt"]) for t in done.values())
    last = max(moment(t["endTime"]) for t in done.values())
    return len(done) / (last - first)


def memory_follow(urls: list[str], token: str, project_id: str, memories: int) -> list[float]:
    """Seconds from a memory's creation through the first replica to a search on the last that finds it."""
    headers = {"Authorization": f"Bearer {token}"}
    writer, reader = httpx.Client(base_url=urls[0], headers=headers), httpx.Client(base_url=urls[-1], headers=headers)
    delays = []
    for index in range(memories):
        text = f"the staging database is rebuilt every {index} days by job {os.urandom(4).hex()}"
        search = {"query": text, "scope": "project", "scope_id": project_id, "limit": 3}
        reader.post("/api/context/search", json=search).raise_for_status()  # the reader's model is warm
        created = writer.post(
            "/api/context/memories", json={"content": text, "scope": "project", "scope_id": project_id}
        )
        created.raise_for_status()
        written, memory_id = time.monotonic(), created.json()["id"]
        while True:
            found = reader.post("/api/context/search", json=search).json()["results"]
            if memory_id in [hit["id"] for hit in found]:
                delays.append(time.monotonic() - written)
                break
            if time.monotonic() - written > 30:
                raise SystemExit(f"memory {memory_id} was not found on {urls[-1]} within 30 s")
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--tasks", type=int, default=120)
    parser.add_argument("--projects", type=int, default=6)
    parser.add_argument("--memories", type=int, default=40)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    rows = []
    engine = start_engine()
    try:
        with postgres_server(free_port()) as database_url, nats_server(free_port()) as nats_url:
            for count, broker, label in ((1, None, "LISTEN/NOTIFY"), (3, None, "LISTEN/NOTIFY"), (3, nats_url, "NATS")):
                setup = folder / f"{count}-{label.replace('/', '')}"
                replicas = start_replicas(count, database_url, broker, engine.url, setup)
                urls = [url for _, url in replicas]
                try:
                    client = httpx.Client(base_url=urls[0], timeout=60)
                    token = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()[
                        "token"
                    ]
                    wait_until_memory_ready(urls, token)
                    lag = latency(urls, token, project(client, token), args.events)
                    projects = [project(client, token) for _ in range(args.projects)]
                    rate = throughput(urls, token, projects, args.tasks)
                    if count > 1:
                        found = memory_follow(urls, token, projects[0], args.memories)
                        print(
                            f"{count} replicas, {label}: a memory written on one is found on another: "
                            f"{percentiles(found)}, max {max(found) * 1000:.1f} ms",
                            flush=True,
                        )
                finally:
                    stop(replicas)
                local = lag[urls[0]]
                remote = [value for url in urls[1:] for value in lag[url]]
                rows.append((count, label, percentiles(local), percentiles(remote), rate))
                print(
                    f"{count} replica(s), {label}: delivery on the writing replica {percentiles(local)};"
                    f" on the others {percentiles(remote)}; {rate:.1f} tasks/s",
                    flush=True,
                )
    finally:
        engine.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print("\n| replicas | bus | delivery, writing replica | delivery, other replicas | tasks/s |")
    print("|---|---|---|---|---|")
    for count, label, local, remote, rate in rows:
        print(f"| {count} | {label} | {local} | {remote} | {rate:.1f} |")


if __name__ == "__main__":
    main()
