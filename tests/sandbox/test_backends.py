"""Behaviour every sandbox backend shares: run against Docker, local with bubblewrap and local without."""

from __future__ import annotations

import asyncio
import time

import pytest

from sandbox.base import SandboxBackend, SandboxError, SandboxNotFound
from tests.sandbox.conftest import Harness
from tests.sandbox.util import collect


async def started(backend: SandboxBackend, harness: Harness, suffix: str = "box") -> str:
    info = await backend.create(harness.spec(suffix))
    await backend.start(info.id)
    return info.id


def test_lifecycle_create_start_stop_restart_delete(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        created = await backend.create(harness.spec())
        assert created.status == "created"
        assert created.name == f"{harness.prefix}-box"
        assert created.project_id == "project-1"
        assert created.image == harness.image
        assert (await backend.start(created.id)).status == "running"
        assert created.id in [info.id for info in await backend.list()]
        assert (await backend.stop(created.id)).status == "stopped"
        restarted = await backend.restart(created.id)
        assert restarted.status == "running"
        result = await collect(await backend.run(created.id, ["sh", "-c", "echo $GREETING"]))
        assert (result.stdout, result.exit_code) == (b"hello\n", 0)
        await backend.delete(created.id)
        with pytest.raises(SandboxNotFound):
            await backend.inspect(created.id)
        assert harness.project_dir.is_dir(), "deleting a sandbox never deletes the project folder"

    harness.run(scenario)


def test_output_is_streamed_as_written(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        sandbox_id = await started(backend, harness)
        result = await collect(await backend.run(sandbox_id, ["sh", "-c", "echo one; sleep 2; echo two"]))
        assert result.stdout == b"one\ntwo\n"
        assert result.exit_code == 0
        assert result.elapsed >= 1.9
        assert result.chunk_times[0] < 1.0, f"first chunk came after {result.chunk_times[0]:.2f} s"

    harness.run(scenario)


def test_exit_code_and_separate_stderr(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        sandbox_id = await started(backend, harness)
        command = await backend.run(sandbox_id, ["sh", "-c", "echo out; echo err >&2; exit 3"])
        result = await collect(command)
        assert (result.stdout, result.stderr, result.exit_code) == (b"out\n", b"err\n", 3)
        assert not command.timed_out

    harness.run(scenario)


def test_command_environment_and_working_directory(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        sandbox_id = await started(backend, harness)
        info = await backend.inspect(sandbox_id)
        command = await backend.run(sandbox_id, ["sh", "-c", 'echo "$GREETING $EXTRA"; pwd'], env={"EXTRA": "world"})
        result = await collect(command)
        assert result.stdout.decode().splitlines() == ["hello world", info.workdir]

    harness.run(scenario)


def test_files_written_appear_in_the_project_folder(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        sandbox_id = await started(backend, harness)
        (harness.project_dir / "input.txt").write_text("from the host\n")
        command = await backend.run(sandbox_id, ["sh", "-c", "mkdir -p out && cat input.txt > out/copy.txt"])
        assert (await collect(command)).exit_code == 0
        assert (harness.project_dir / "out" / "copy.txt").read_text() == "from the host\n"

    harness.run(scenario)


def test_timeout_kills_the_command(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        sandbox_id = await started(backend, harness)
        command = await backend.run(sandbox_id, ["sleep", "30"], timeout=1)
        result = await collect(command)
        assert result.exit_code == -1
        assert command.timed_out
        assert 0.9 <= result.elapsed < 3

    harness.run(scenario)


def test_kill_stops_the_command_and_its_children_within_a_second(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        sandbox_id = await started(backend, harness)
        script = "(sleep 1; echo late > late.txt) & echo started; sleep 30"
        command = await backend.run(sandbox_id, ["sh", "-c", script])
        reader = asyncio.ensure_future(collect(command))
        await asyncio.sleep(0.3)
        began = time.monotonic()
        await command.kill()
        result = await reader
        assert time.monotonic() - began < 1.0
        assert result.exit_code == -1
        assert not command.timed_out
        assert result.stdout == b"started\n"
        await asyncio.sleep(1.2)
        assert not (harness.project_dir / "late.txt").exists(), "the background child outlived kill()"

    harness.run(scenario)


def test_kill_right_after_start_does_not_miss_the_process(harness: Harness) -> None:
    """A kill that races the process's start-up (bwrap setting up, the exec starting) still gets it."""

    async def scenario(backend: SandboxBackend) -> None:
        sandbox_id = await started(backend, harness)
        for _ in range(5):
            command = await backend.run(sandbox_id, ["sleep", "30"])
            await command.kill()
            result = await asyncio.wait_for(collect(command), timeout=3)
            assert result.exit_code == -1

    harness.run(scenario)


def test_stop_kills_running_commands(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        sandbox_id = await started(backend, harness)
        command = await backend.run(sandbox_id, ["sleep", "30"])
        began = time.monotonic()
        await backend.stop(sandbox_id)
        await asyncio.wait_for(collect(command), timeout=5)
        assert time.monotonic() - began < 5

    harness.run(scenario)


def test_run_in_a_stopped_sandbox_is_refused(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        created = await backend.create(harness.spec())
        with pytest.raises(SandboxError):
            await backend.run(created.id, ["true"])
        await backend.start(created.id)
        await backend.stop(created.id)
        with pytest.raises(SandboxError):
            await backend.run(created.id, ["true"])

    harness.run(scenario)


def test_a_missing_command_fails_with_its_name_on_stderr(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        sandbox_id = await started(backend, harness)
        result = await asyncio.wait_for(collect(await backend.run(sandbox_id, ["no-such-tool", "--flag"])), 10)
        assert result.exit_code not in (0, None)
        assert b"no-such-tool" in result.stderr

    harness.run(scenario)


def test_unknown_sandbox_ids(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        for unknown in ("0" * 32, "no-such-sandbox", "../../etc/passwd"):
            with pytest.raises(SandboxNotFound):
                await backend.inspect(unknown)
            with pytest.raises(SandboxNotFound):
                await backend.start(unknown)
            with pytest.raises(SandboxNotFound):
                await backend.run(unknown, ["true"])
            with pytest.raises(SandboxNotFound):
                await backend.delete(unknown)

    harness.run(scenario)


def test_a_name_is_used_once(harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        await backend.create(harness.spec("same"))
        with pytest.raises(SandboxError):
            await backend.create(harness.spec("same"))

    harness.run(scenario)
