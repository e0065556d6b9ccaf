"""Local only: bubblewrap confinement, the image stand-ins and the choice of backend."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from sandbox import open_backend
from sandbox.base import SandboxBackend
from sandbox.docker import DockerBackend
from sandbox.local import LocalBackend
from tests.docker_engine import DockerEngine
from tests.sandbox.conftest import Harness
from tests.sandbox.util import collect


def test_bubblewrap_confines_writes_to_the_project_folder(local_harness: Harness) -> None:
    assert shutil.which("bwrap"), "bubblewrap is installed by scripts/system-deps.sh"
    script = 'echo ok > inside.txt; touch /etc/orchestrator-escape; touch "$HOME/orchestrator-escape"; echo done'

    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.start((await backend.create(local_harness.spec())).id)
        assert info.isolation == "bubblewrap"
        result = await collect(await backend.run(info.id, ["sh", "-c", script]))
        assert result.stdout == b"done\n"
        assert result.stderr.count(b"Read-only file system") == 1, "HOME is a private tmpfs: writable, never the host's"

    local_harness.run(scenario)
    assert (local_harness.project_dir / "inside.txt").read_text() == "ok\n"
    assert not Path("/etc/orchestrator-escape").exists()
    assert not (Path.home() / "orchestrator-escape").exists()


def test_bubblewrap_gives_a_private_tmp_and_pid_namespace(local_harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.start((await backend.create(local_harness.spec())).id)
        result = await collect(
            await backend.run(info.id, ["sh", "-c", "echo $$; ls /tmp | wc -l; echo x > /tmp/scratch"])
        )
        pid, tmp_entries = result.stdout.split()[:2]
        assert int(pid) < 10, "a fresh pid namespace"
        assert int(tmp_entries) <= 1, "only the path to the project folder (when it lies under /tmp)"
        assert result.exit_code == 0

    local_harness.run(scenario)


def test_without_bubblewrap_isolation_is_none(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = LocalBackend(tmp_path / "state", use_bwrap=False)
        assert await backend.isolation() == "none"

    asyncio.run(scenario())


def test_the_service_environment_does_not_leak(local_harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "do-not-leak")

    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.start((await backend.create(local_harness.spec())).id)
        result = await collect(await backend.run(info.id, ["sh", "-c", "env"]))
        assert b"do-not-leak" not in result.stdout
        assert b"GREETING=hello" in result.stdout

    local_harness.run(scenario)


def test_local_has_no_images(local_harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        assert await backend.image_exists("anything:latest")
        await backend.pull_image("anything:latest")
        assert await backend.list_images() == []

    local_harness.run(scenario)


def test_records_survive_a_new_backend(local_harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.start((await backend.create(local_harness.spec())).id)
        reopened = local_harness.backend()  # a second backend over the same state folder, as after a restart
        again = await reopened.inspect(info.id)
        assert (again.status, again.workdir, again.name) == ("running", str(local_harness.project_dir), info.name)
        await reopened.close()

    local_harness.run(scenario)


def test_open_backend_auto_falls_back_to_local(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = await open_backend("auto", url=f"unix://{tmp_path}/no-engine.sock", state_dir=tmp_path / "state")
        assert isinstance(backend, LocalBackend)
        await backend.close()

    asyncio.run(scenario())


def test_open_backend_auto_prefers_docker(docker_engine: DockerEngine, tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = await open_backend("auto", url=docker_engine.url, state_dir=tmp_path / "state", pids_limit=100)
        assert isinstance(backend, DockerBackend)
        assert backend.pids_limit == 100
        await backend.close()

    asyncio.run(scenario())


def test_open_backend_rejects_unknown_kinds_and_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sandbox backend"):
        asyncio.run(open_backend("podman"))
    with pytest.raises(TypeError, match="colour"):
        asyncio.run(open_backend("local", state_dir=tmp_path, colour="blue"))
