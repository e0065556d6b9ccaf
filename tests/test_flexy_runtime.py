"""Sandboxes as the server builds and keeps them: environment and mounts, an engine that is down, and the
reconciliation a restart performs."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiodocker
import pytest

from sandbox.base import PROJECT_LABEL, SANDBOX_LABEL
from sandbox.egress import EgressProxy
from sandbox.local import LocalBackend
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, TEST_IMAGE, Api, LiveServer, login_as, make_tree
from tests.docker_engine import DockerEngine
from tests.sandbox.util import collect
from tests.test_flexy import create_sandbox, wait_for_operation

AI_CONFIG = {
    "aiWindows": [
        {"type": "claude", "apiKey": "sk-test", "model": "sonnet", "baseUrl": "https://llm.example"},
        {"type": "none", "apiKey": "", "model": "", "baseUrl": ""},
        {"type": "qwen", "apiKey": "qk", "model": "qwen3", "baseUrl": ""},
    ],
    "environmentVariables": [{"name": "FOO", "value": "bar baz"}],
}


def sandbox_environment(server: LiveServer, sandbox_id: str, engine: DockerEngine | None) -> dict[str, str]:
    """The environment the sandbox's commands see, read from the sandbox itself."""

    async def read() -> str:
        if engine is not None:
            async with aiodocker.Docker(url=engine.url) as docker:
                data = await docker.containers.container(sandbox_id).show()
            return "\n".join(data["Config"]["Env"])
        # a second backend over the server's records; the sandbox's egress mode needs a proxy to plant
        backend = LocalBackend(server.settings.data_dir / "local-sandboxes", egress=EgressProxy(("127.0.0.1", 9)))
        try:
            return (await collect(await backend.run(sandbox_id, ["env"]))).stdout.decode()
        finally:
            await backend.close()

    return dict(line.split("=", 1) for line in asyncio.run(read()).splitlines() if "=" in line)


def test_environment_comes_from_the_project_and_the_users_settings(
    request: pytest.FixtureRequest, sandbox_server: LiveServer, sandbox_owner: Api
) -> None:
    assert sandbox_owner.put("/settings", {"gitDisplayName": "Ada", "gitEmail": "ada@example.com"}).status_code == 200
    tree = make_tree(sandbox_owner)
    pid = tree.project["id"]
    assert sandbox_owner.put(f"/projects/{pid}", {"aiConfig": AI_CONFIG}).status_code == 200
    sandbox = create_sandbox(sandbox_owner, pid)
    engine = request.getfixturevalue("docker_engine") if sandbox_server.settings.sandbox_backend == "docker" else None
    env = sandbox_environment(sandbox_server, sandbox["id"], engine)
    assert env["KAI_PROJECT_ID"] == pid and env["ENABLE_WEBTTY"] == "true"
    assert (env["AI_WINDOW_1_TYPE"], env["AI_WINDOW_1_API_KEY"], env["AI_WINDOW_1_MODEL"]) == (
        "claude",
        "sk-test",
        "sonnet",
    )
    assert env["AI_WINDOW_1_BASE_URL"] == "https://llm.example"
    assert (env["AI_WINDOW_2_TYPE"], env["AI_WINDOW_2_MODEL"]) == ("qwen", "qwen3"), "empty windows are skipped"
    assert "AI_WINDOW_3_TYPE" not in env
    assert (env["GIT_USERNAME"], env["GIT_EMAIL"]) == ("Ada", "ada@example.com")
    assert env["FOO"] == "bar baz"
    workdir = f"/base-root/{tree.org['folderPath']}/{tree.workspace['folderPath']}/{tree.project['folderPath']}"
    assert sandbox["workingDir"] == workdir


def test_docker_container_mounts_the_project_folder_as_its_working_directory(
    fresh_server: Callable[..., LiveServer], docker_engine: DockerEngine
) -> None:
    live = fresh_server(SANDBOX_BACKEND="docker", DOCKER_HOST=docker_engine.url, IMAGE_NAME=TEST_IMAGE)
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    tree = make_tree(api)
    sandbox = create_sandbox(api, tree.project["id"])
    data = json.loads(docker_engine.request("GET", f"/containers/{sandbox['id']}/json"))
    host_dir, container_dir = sandbox["folderMapping"].split(":")
    assert data["HostConfig"]["Binds"] == [f"{host_dir}:{container_dir}"]
    assert data["Config"]["WorkingDir"] == container_dir == sandbox["workingDir"]
    assert data["Config"]["Labels"][PROJECT_LABEL] == tree.project["id"]
    assert data["HostConfig"]["Privileged"] is False and data["HostConfig"]["CapDrop"] == ["ALL"]
    assert data["Name"] == f"/{sandbox['name']}"


def test_an_engine_that_is_down_answers_503(fresh_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    live = fresh_server(
        SANDBOX_BACKEND="docker", DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock", IMAGE_NAME=TEST_IMAGE
    )
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    tree = make_tree(api)
    response = api.post("/flexy", {"projectId": tree.project["id"]})
    assert response.status_code == 503 and response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert "unavailable" in response.json()["message"]
    assert "sandboxId" not in api.get(f"/projects/{tree.project['id']}").json()
    images = api.get("/flexy/images")
    assert images.status_code == 200 and images.json()["images"][0]["available"] is False
    assert api.get("/flexy").json() == []


def test_restart_fails_unfinished_operations_and_reports_unknown_sandboxes(
    fresh_server: Callable[..., LiveServer],
    docker_engine: DockerEngine,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data_dir = tmp_path / "data"
    env = {"SANDBOX_BACKEND": "docker", "DOCKER_HOST": docker_engine.url, "IMAGE_NAME": TEST_IMAGE}
    live = fresh_server(data_dir, **env)
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    tree = make_tree(api)
    sandbox = create_sandbox(api, tree.project["id"])
    finished = wait_for_operation(api, api.post(f"/flexy/{sandbox['id']}/stop-async").json()["operationId"])
    live.stop()

    # What a process killed mid-operation leaves behind: an operation still "starting", and a labelled
    # container whose record never got written.
    stale_id = str(uuid.uuid4())
    with sqlite3.connect(data_dir / "orchestrator.db") as db:
        db.execute(
            "INSERT INTO sandbox_operations (id, type, status, sandbox_id, sandbox_name, project_id, user_id, progress,"
            " steps, start_time) VALUES (?, 'start', 'starting_sandbox', ?, ?, ?, ?, ?, ?, '2026-01-01 00:00:00')",
            (
                stale_id,
                sandbox["id"],
                sandbox["name"],
                tree.project["id"],
                api.user_id,
                json.dumps({"message": "Start sandbox…", "percentage": 50, "total": 2, "current": 1}),
                json.dumps(
                    [
                        {"id": "check-image", "name": "Check", "status": "completed"},
                        {"id": "start", "name": "Start", "status": "running"},
                    ]
                ),
            ),
        )
    orphan = asyncio.run(_create_labelled_container(docker_engine, f"orphan-{uuid.uuid4().hex[:8]}"))

    with caplog.at_level(logging.WARNING):
        restarted = fresh_server(data_dir, **env)
    api = login_as(restarted, ADMIN_USERNAME, ADMIN_PASSWORD)
    stale = api.get(f"/flexy/operations/{stale_id}").json()
    assert stale["status"] == "failed" and "server stopped" in stale["error"]
    assert stale["steps"][1]["status"] == "failed" and stale["endTime"]
    assert api.get(f"/flexy/operations/{finished['id']}").json()["status"] == "completed", (
        "finished ones are left alone"
    )
    assert any(orphan in record.getMessage() for record in caplog.records), "the unknown sandbox is reported"
    assert all(
        sandbox["id"] not in record.getMessage()
        for record in caplog.records
        if "no project knows" in record.getMessage()
    )


async def _create_labelled_container(engine: DockerEngine, name: str) -> str:
    config: dict[str, Any] = {
        "Image": TEST_IMAGE,
        "Cmd": ["sleep", "600"],
        "Labels": {SANDBOX_LABEL: "true", PROJECT_LABEL: "gone"},
    }
    async with aiodocker.Docker(url=engine.url) as docker:
        container = await docker.containers.create(config, name=name)
        return container.id
