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
    NetworkPolicy,
    PortMapping,
    SandboxBackend,
    SandboxError,
    SandboxNotFound,
    SandboxUnavailable,
)
from sandbox.docker import CONTAINER_SOCKET, HOME, NETWORK_LABEL, DockerBackend, _status, uses_own_init
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
    """Every hardening setting, read back from the engine (OWASP's Docker rules), then checked from inside."""

    async def scenario(backend: SandboxBackend) -> None:
        info = await backend.create(docker_harness.spec())
        await backend.start(info.id)
        data = await container_data(docker_harness, info.id)
        host, config = data["HostConfig"], data["Config"]
        assert config["User"] == "1000:1000"
        assert host["Privileged"] is False
        assert host["SecurityOpt"] == ["no-new-privileges:true"]
        assert host["CapDrop"] == ["ALL"]
        assert not host["CapAdd"]
        assert host["ReadonlyRootfs"] is True
        assert set(host["Tmpfs"]) == {"/tmp", HOME}
        assert "uid=1000,gid=1000,mode=0700" in host["Tmpfs"][HOME]
        assert all("nosuid" in options and "size=" in options for options in host["Tmpfs"].values())
        assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
        assert {limit["Name"]: (limit["Soft"], limit["Hard"]) for limit in host["Ulimits"]} == {
            "nofile": (8192, 8192),
            "nproc": (4096, 4096),
        }
        assert host["ExtraHosts"] == ["host.docker.internal:host-gateway"]
        assert host["Memory"] == 256 * 1024**2
        assert host["NanoCpus"] == 1_000_000_000
        assert host["PidsLimit"] == 512
        assert host["NetworkMode"] == "none", "a spec without a policy gets no network"
        assert host["RestartPolicy"]["Name"] == "no"
        assert config["Labels"] == {
            SANDBOX_LABEL: "true",
            PROJECT_LABEL: "project-1",
            NETWORK_LABEL: '{"mode": "none", "allowedHosts": []}',
        }
        assert config["WorkingDir"] == WORKDIR
        assert "GREETING=hello" in config["Env"] and f"HOME={HOME}" in config["Env"]
        assert host["Binds"] == [f"{docker_harness.project_dir}:{WORKDIR}"]
        assert not any(CONTAINER_SOCKET in mount["Destination"] for mount in data["Mounts"])
        assert config["Entrypoint"][:2] == ["/bin/sh", "-c"], "an image without an init gets the keepalive"
        # The same limits, seen from inside: no capabilities, a non-root user who owns what it writes,
        # nothing writable but the project, /tmp and the home folder, and the host gateway's name resolves.
        probe = (
            "grep CapEff /proc/self/status; id -u; id -g; ulimit -n; ulimit -u; touch /etc/x /usr/x 2>&1;"
            " touch /tmp/x $HOME/x && echo private-writable; echo made > made.txt; grep host.docker.internal /etc/hosts"
        )
        result = await collect(await backend.run(info.id, ["sh", "-c", probe]))
        lines = result.stdout.decode().splitlines()
        assert lines[0].split() == ["CapEff:", "0000000000000000"]
        assert lines[1:5] == ["1000", "1000", "8192", "4096"]
        assert sum("Read-only file system" in line for line in lines) == 2
        assert "private-writable" in lines
        assert lines[-1].endswith("host.docker.internal")
        made = docker_harness.project_dir / "made.txt"
        assert (made.stat().st_uid, made.stat().st_gid) == (1000, 1000)
        assert (docker_harness.project_dir.stat().st_uid, docker_harness.project_dir.stat().st_gid) == (1000, 1000)

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
            folder_mappings=[FolderMapping(str(shared), "/srv/shared")],
            port_mappings=[PortMapping(port, 8080)],
            network=NetworkPolicy("open"),
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
        prompt = "add a README\n!pause 0.2\n!repeat 3 step\n!write claude-output.md add a README"
        result = await collect(await backend.run(info.id, ["claude", "-p", prompt]))
        assert result.exit_code == 0
        assert len(result.chunk_times) >= 3, "the lines arrive as they are printed"
        assert result.chunk_times[-1] - result.chunk_times[0] >= 0.4
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
        # the engine checks the network on start; only `open` sandboxes use the backend's network
        info = await backend.create(docker_harness.spec(network=NetworkPolicy("open")))
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
