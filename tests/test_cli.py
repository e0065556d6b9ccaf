"""The command line and a first start as a new user would do it: a real process, its printed password."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app import SCHEMA_FILE
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def run_cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    env.pop("AUTH_PASSWORD", None)
    return subprocess.run(
        [sys.executable, "app.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATA_DIR": str(data_dir), "PORT": str(port)}
    env.pop("AUTH_PASSWORD", None)
    with log.open("wb") as output:
        return subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=env, stdout=output, stderr=output)


def wait_until_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> str:
    """Everything the server printed until it answered /api/health."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return log.read_text()
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM must end the server gracefully: lifespan shutdown runs (the database is disposed) and it exits."""
    process.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal after a graceful shutdown, so -SIGTERM is a clean exit here.
    assert process.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log.read_text()


def test_first_start_prints_a_generated_admin_password_once(tmp_path: Path) -> None:
    port = free_port()
    process = serve(tmp_path, port, tmp_path / "first.log")
    try:
        output = wait_until_ready(process, port, tmp_path / "first.log")
        match = re.search(r"Created admin user 'admin' with password: (\S+)", output)
        assert match, output
        login = httpx.post(f"http://127.0.0.1:{port}/api/auth/login", json={"username": "admin", "password": match[1]})
        assert login.status_code == 200 and login.json()["success"] is True
    finally:
        stop(process, tmp_path / "first.log")
    secret = tmp_path / "jwt-secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert match[1] not in (tmp_path / "orchestrator.db").read_bytes().decode("latin-1"), (
        "no clear-text password stored"
    )

    process = serve(tmp_path, port, tmp_path / "second.log")
    try:
        again = wait_until_ready(process, port, tmp_path / "second.log")
        assert "password" not in again.lower(), "the password is printed on the first start only"
        login = httpx.post(f"http://127.0.0.1:{port}/api/auth/login", json={"username": "admin", "password": match[1]})
        assert login.status_code == 200, "the admin and the JWT secret survive a restart"
    finally:
        stop(process, tmp_path / "second.log")


def test_create_user_then_log_in(tmp_path: Path) -> None:
    created = run_cli(tmp_path, "create-user", "carol", "--password-stdin", stdin="carol-password-1\n")
    assert created.returncode == 0, created.stderr
    assert "created user carol" in created.stdout
    duplicate = run_cli(tmp_path, "create-user", "carol", "--password-stdin", stdin="carol-password-1\n")
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr
    weak = run_cli(tmp_path, "create-user", "dave", "--password-stdin", stdin="short\n")
    assert weak.returncode != 0 and "password" in weak.stderr
    port = free_port()
    process = serve(tmp_path, port, tmp_path / "server.log")
    try:
        wait_until_ready(process, port, tmp_path / "server.log")
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login", json={"username": "carol", "password": "carol-password-1"}
        )
        assert login.status_code == 200
    finally:
        stop(process, tmp_path / "server.log")


def test_export_schema_writes_the_committed_schema(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    result = run_cli(tmp_path, "export-schema", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_text() == SCHEMA_FILE.read_text()


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout and (tmp_path / "orchestrator.db").exists()
