"""What the companion proxy costs: the same transfers to a sandbox's port, straight and through the service.

Run it from the repository root, as root (it starts a private Docker engine, as the tests do; never part of
the tests):

    .venv/bin/python bench/companion_proxy.py

It builds the companion test image (`tests/companion_image.py`: a static HTTP + WebSocket server on 9681),
starts the real service (`python app.py serve`) on that engine, creates a sandbox from the image, then measures,
straight to the container's address and through `/api/flexy/{id}/port/9681/`:

1. download: `GET /big` (20 MiB), `--rounds` times: MiB/s (median);
2. upload: `POST /upload` of 20 MiB, `--rounds` times: MiB/s (median);
3. WebSocket: `--messages` round trips of a 100-byte message to `/echo`, one at a time: p50 and p95.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))

from rest_vs_graphql import HOST, call, free_port, login, running, service_env, wait_until_up  # noqa: E402

from tests.companion_image import build_companion_image  # noqa: E402
from tests.docker_engine import start_engine  # noqa: E402

BIG = 20 * 1024 * 1024
MIB = 1024 * 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=2000)
    return parser.parse_args()


def download(client: httpx.Client, base: str) -> float:
    """Seconds for /big (which waits for /release after its first MiB: released at once here)."""
    started = time.perf_counter()
    with client.stream("GET", f"{base}/big") as response:
        releaser = threading.Thread(target=lambda: client.get(f"{base}/release"))
        releaser.start()
        size = sum(len(chunk) for chunk in response.iter_raw())
        releaser.join()
    assert size == BIG, size
    return time.perf_counter() - started


def upload(client: httpx.Client, base: str, payload: bytes) -> float:
    started = time.perf_counter()
    chunks = (payload[start : start + 256 * 1024] for start in range(0, len(payload), 256 * 1024))
    response = client.post(f"{base}/upload", content=chunks, headers={"Content-Length": str(len(payload))})
    assert response.text.startswith(f"received {len(payload)} "), response.text
    return time.perf_counter() - started


def round_trips(url: str, headers: dict[str, str], count: int) -> list[float]:
    message = b"x" * 100
    times = []
    with connect(url, additional_headers=headers) as ws:
        for _ in range(count):
            started = time.perf_counter()
            ws.send(message)
            assert ws.recv() == message
            times.append(time.perf_counter() - started)
    return times


def report(name: str, straight: list[float], proxied: list[float], unit: str) -> None:
    median = statistics.median
    print(f"{name:<24} straight {median(straight):9.1f} {unit}   proxied {median(proxied):9.1f} {unit}")


def main() -> None:
    args = parse_args()
    engine = start_engine()
    try:
        with tempfile.TemporaryDirectory() as folder:
            image = build_companion_image(engine, Path(folder))
            port = free_port()
            env = service_env(Path(folder) / "data", port) | {"SANDBOX_BACKEND": "docker", "DOCKER_HOST": engine.url}
            with (
                (Path(folder) / "service.log").open("w") as log,
                running([sys.executable, "app.py", "serve"], env, log) as process,
            ):
                api = f"http://{HOST}:{port}/api"
                wait_until_up(f"{api}/health", process, Path(folder) / "service.log")
                measure(f"{HOST}:{port}", login(api), image, args)
    finally:
        engine.stop()


def measure(service: str, token: str, image: str, args: argparse.Namespace) -> None:
    api = f"http://{service}/api"
    deadline = time.monotonic() + 300
    while call("GET", f"{api}/context/health", None, token).get("status") == "loading":  # it takes the CPU
        assert time.monotonic() < deadline, "the embedding model did not load"
        time.sleep(0.5)
    org = call("POST", f"{api}/organizations", {"name": "Bench", "folderPath": "bench"}, token, 201)
    workspace = call(
        "POST", f"{api}/organizations/{org['id']}/workspaces", {"name": "W", "folderPath": "w"}, token, 201
    )
    project = call("POST", f"{api}/workspaces/{workspace['id']}/projects", {"name": "P", "folderPath": "p"}, token, 201)
    sandbox = call("POST", f"{api}/flexy", {"projectId": project["id"], "imageName": image}, token, 201)
    ip = call("GET", f"{api}/flexy/{sandbox['id']}", None, token)["ip"]
    auth = {"Authorization": f"Bearer {token}"}
    straight, proxied = f"http://{ip}:9681", f"{api}/flexy/{sandbox['id']}/port/9681"
    with httpx.Client(timeout=60, headers=auth) as client:
        deadline = time.monotonic() + 30
        while client.get(f"{proxied}/ready").status_code != 200:
            assert time.monotonic() < deadline, "the companion server did not start"
            time.sleep(0.1)
        payload = bytes(range(256)) * (BIG // 256)
        for name, run in (
            ("download 20 MiB", lambda base: download(client, base)),
            ("upload 20 MiB", lambda base: upload(client, base, payload)),
        ):
            rates = {base: [BIG / MIB / run(base) for _ in range(args.rounds)] for base in (straight, proxied)}
            report(name, rates[straight], rates[proxied], "MiB/s")
    ws_proxied = f"ws://{service}/api/flexy/{sandbox['id']}/port/9681/echo"
    for name, url in (("straight", f"ws://{ip}:9681/echo"), ("proxied", ws_proxied)):
        times = sorted(round_trips(url, auth, args.messages))
        p50, p95 = times[len(times) // 2] * 1e6, times[int(len(times) * 0.95)] * 1e6
        print(f"WebSocket round trip {name:<9} p50 {p50:7.0f} µs   p95 {p95:7.0f} µs")


if __name__ == "__main__":
    main()
