"""Tokens and secret values never reach the logs: `python app.py serve` run as production runs it, at
LOG_LEVEL=info, its real access and error logs captured and searched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        return self.log.read_text()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "PORT": str(port),
        "AUTH_PASSWORD": ADMIN_PASSWORD,
        "LOG_LEVEL": "info",
        "SANDBOX_BACKEND": "local",
        "CONTEXT_ENABLED": "false",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "app.py", "serve"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    served = Served(f"http://127.0.0.1:{port}", log, process)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{served.url}/api/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    yield served
    if process.poll() is None:
        process.kill()
        process.wait()


def test_tokens_and_secret_values_are_masked_in_the_real_logs(served: Served) -> None:
    api = httpx.Client(base_url=f"{served.url}/api", timeout=30)
    login = api.post("/auth/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}).json()
    token, refresh_token = login["token"], login["refreshToken"]
    api.headers["Authorization"] = f"Bearer {token}"
    org = api.post("/organizations", json={"name": "Org", "folderPath": "org"}).json()
    workspace = api.post(f"/organizations/{org['id']}/workspaces", json={"name": "W", "folderPath": "w"}).json()
    project = api.post(f"/workspaces/{workspace['id']}/projects", json={"name": "P", "folderPath": "p"}).json()
    secret = f"sk-{uuid.uuid4().hex}"
    assert api.put(f"/projects/{project['id']}/secrets/API_KEY", json={"value": secret}).status_code == 201

    socket_url = f"{served.url.replace('http', 'ws')}/api/progress/subscribe/{project['id']}?token={token}&after=0"
    with connect(socket_url) as socket:
        socket.send('{"type": "ping"}')
        assert "pong" in socket.recv(timeout=10)
    assert api.get("/health", params={"access_token": token, "refresh_token": refresh_token}).status_code == 200
    assert api.get("/health", params={"q": secret}).status_code == 200
    assert api.post("/auth/refresh", json={"refreshToken": refresh_token}).status_code == 200

    logs = served.stop()
    assert f"/api/progress/subscribe/{project['id']}?token=***&after=0" in logs, logs
    assert "/api/health?access_token=***&refresh_token=***" in logs and "/api/health?q=***" in logs
    for value in (token, refresh_token, secret):
        assert value not in logs
    assert token.split(".")[2] not in logs, "not even the signature"
