"""Docker only: the container's hardening, images, ports, the socket, the fake AI CLIs and an engine that is down."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiodocker
import pytest

from sandbox.base import (
    PROJECT_LABEL,
    SANDBOX_LABEL,
    FolderMapping,
    ImageNotFound,
    PortMapping,
    SandboxBackend,
    SandboxError,
    SandboxNotFound,
    SandboxUnavailable,
)
from sandbox.docker import CONTAINER_SOCKET, DockerBackend, _status, uses_own_init
from tests.sandbox.conftest import WORKDIR, Harness
from tests.sandbox.util import collect


async def container_data(harness: Harness, sandbox_id: str) -> dict[str, Any]:
    assert harness.engine is not None
    async with aiodocker.Docker(url=harness.engine.url) as docker:
        return await docker.containers.container(sandbox_id).show()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_container_is_hardened_and_labelled(docker_harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.create(docker_harness.spec())
        await backend.start(info.id)
        data = await container_data(docker_harness, info.id)
        host = data["HostConfig"]
        assert host["Privileged"] is False
        assert host["SecurityOpt"] == ["no-new-privileges:true"]
        assert host["CapDrop"] == ["ALL"]
        assert not host["CapAdd"]
        assert host["Memory"] == 256 * 1024**2
        assert host["NanoCpus"] == 1_000_000_000
        assert host["PidsLimit"] == 512
        assert host["NetworkMode"] != "host"
        assert data["Config"]["Labels"] == {SANDBOX_LABEL: "true", PROJECT_LABEL: "project-1"}
        assert data["Config"]["WorkingDir"] == WORKDIR
        assert "GREETING=hello" in data["Config"]["Env"]
        assert host["Binds"] == [f"{docker_harness.project_dir}:{WORKDIR}"]
        assert not any(CONTAINER_SOCKET in mount["Destination"] for mount in data["Mounts"])
        assert data["Config"]["Entrypoint"][:2] == ["/bin/sh", "-c"], "an image without an init gets the keepalive"
        # The limits hold inside: no capabilities at all, even as root.
        result = await collect(await backend.run(info.id, ["sh", "-c", "grep CapEff /proc/self/status"]))
        assert result.stdout.split() == [b"CapEff:", b"0000000000000000"]

    docker_harness.run(scenario)


def test_settings_are_configurable(docker_harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.create(docker_harness.spec())
        host = (await container_data(docker_harness, info.id))["HostConfig"]
        assert (host["PidsLimit"], host["CapAdd"]) == (64, ["CHOWN"])

    docker_harness.run(scenario, pids_limit=64, cap_add=["CHOWN"])


def test_docker_socket_only_when_asked(docker_harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.create(docker_harness.spec(docker_socket=True))
        assert docker_harness.engine is not None
        binds = (await container_data(docker_harness, info.id))["HostConfig"]["Binds"]
        assert f"{docker_harness.engine.socket_path}:{CONTAINER_SOCKET}" in binds
        exposing = docker_harness.spec(
            "exposing", folder_mappings=[FolderMapping(str(docker_harness.engine.folder), "/x")]
        )
        with pytest.raises(SandboxError, match="Docker socket"):
            await backend.create(exposing)

    docker_harness.run(scenario)


def test_folder_mappings_and_published_ports(docker_harness: Harness) -> None:
    assert docker_harness.engine is not None and docker_harness.engine.ports_published
    shared = docker_harness.root / "shared"
    shared.mkdir()
    (shared / "index.html").write_text("served from a mapped folder\n")
    port = free_port()

    async def scenario(backend: SandboxBackend) -> None:
        spec = docker_harness.spec(
            folder_mappings=[FolderMapping(str(shared), "/srv/shared")], port_mappings=[PortMapping(port, 8080)]
        )
        info = await backend.start((await backend.create(spec)).id)
        assert list(info.ports) == [PortMapping(port, 8080, "tcp")]
        assert info.ip
        server = await backend.run(info.id, ["httpd", "-f", "-p", "8080", "-h", "/srv/shared"])
        try:
            body = await fetch(port, "/index.html")
        finally:
            await server.kill()
        assert body.endswith(b"served from a mapped folder\n")
        assert await server.wait() == -1

    docker_harness.run(scenario)


async def fetch(port: int, path: str) -> bytes:
    """GET through the published port, retrying while the server inside starts (the proxy accepts, then resets)."""
    for _ in range(50):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
            data = await reader.read()
            writer.close()
        except OSError:
            data = b""
        if data:
            return data
        await asyncio.sleep(0.1)
    raise AssertionError("nothing answered on the published port")


def test_fake_ai_cli_streams_and_writes_into_the_project(docker_harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.start((await backend.create(docker_harness.spec())).id)
        result = await collect(await backend.run(info.id, ["claude", "-p", "add a README"]))
        assert result.exit_code == 0
        assert len(result.chunk_times) >= 3, "the lines arrive as they are printed"
        assert b"add a README" in result.stdout
        assert "add a README" in (docker_harness.project_dir / "claude-output.md").read_text()

    docker_harness.run(scenario)


def test_images(docker_harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        assert await backend.image_exists(docker_harness.image)
        assert not await backend.image_exists("orchestrator-no-such-image:1")
        assert docker_harness.image in await backend.list_images()
        with pytest.raises(ImageNotFound, match="orchestrator-no-such-image"):
            await backend.pull_image("orchestrator-no-such-image:1")
        with pytest.raises(ImageNotFound):
            await backend.create(docker_harness.spec(image="orchestrator-no-such-image:1"))
        with pytest.raises(ImageNotFound, match="not a valid image reference"):
            await backend.image_exists("../../containers/json")

    docker_harness.run(scenario)


def test_a_missing_network_is_not_a_missing_image(docker_harness: Harness) -> None:
    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.create(docker_harness.spec())  # the engine checks the network on start
        with pytest.raises(SandboxError, match="no-such-network") as raised:
            await backend.start(info.id)
        assert not isinstance(raised.value, (ImageNotFound, SandboxNotFound))

    docker_harness.run(scenario, network="no-such-network")


def test_only_labelled_containers_are_sandboxes(docker_harness: Harness) -> None:
    assert docker_harness.engine is not None

    async def scenario(backend: SandboxBackend) -> None:
        async with aiodocker.Docker(url=docker_harness.engine.url) as docker:
            foreign = await docker.containers.create({"Image": docker_harness.image, "Cmd": ["true"]})
            try:
                assert foreign.id not in [info.id for info in await backend.list()]
                with pytest.raises(SandboxError):
                    await backend.inspect(foreign.id)
            finally:
                await foreign.delete(force=True)

    docker_harness.run(scenario)


def test_an_engine_that_is_down_is_unavailable(tmp_path) -> None:
    async def scenario() -> None:
        backend = DockerBackend(f"unix://{tmp_path}/no-engine.sock")
        try:
            with pytest.raises(SandboxUnavailable):
                await backend.ping()
            with pytest.raises(SandboxUnavailable):
                await backend.inspect("anything")
            with pytest.raises(SandboxUnavailable):
                await backend.list()
        finally:
            await backend.close()

    asyncio.run(scenario())


def test_host_network_is_refused() -> None:
    with pytest.raises(ValueError, match="host network"):
        DockerBackend("unix:///nowhere.sock", network="host")


@pytest.mark.parametrize(
    ("config", "own"),
    [
        ({}, False),
        ({"Cmd": ["/bin/bash"]}, False),
        ({"Cmd": ["sh"]}, False),
        ({"Cmd": ["/usr/local/bin/init.sh"]}, True),
        ({"Cmd": ["sh", "-c", "exec server"]}, True),
        ({"Entrypoint": ["/init"], "Cmd": ["bash"]}, True),
    ],
)
def test_which_images_keep_their_own_init(config: dict[str, Any], own: bool) -> None:
    assert uses_own_init(config) is own


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ({"Status": "created"}, "created"),
        ({"Status": "running"}, "running"),
        ({"Status": "restarting"}, "running"),
        ({"Status": "paused"}, "paused"),
        ({"Status": "exited", "ExitCode": 143}, "stopped"),
        ({"Status": "exited", "ExitCode": 0}, "stopped"),
        ({"Status": "exited", "ExitCode": 1}, "exited"),
        ({"Status": "exited", "ExitCode": 137, "OOMKilled": True}, "exited"),
        ({"Status": "dead"}, "dead"),
    ],
)
def test_docker_states_map_to_sandbox_statuses(state: dict[str, Any], status: str) -> None:
    assert _status(state) == status
