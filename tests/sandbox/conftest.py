"""Fixtures for the sandbox backends: the private Docker engine of the session, and a harness per backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sandbox.base import SandboxBackend, SandboxSpec
from sandbox.docker import DockerBackend
from sandbox.local import LocalBackend
from tests.docker_engine import DockerEngine

T = TypeVar("T")
WORKDIR = "/base-root/org/workspace/project"
BACKENDS = ["docker", "local", "local-plain"]


@dataclass
class Harness:
    """Builds a backend of one kind inside the test's event loop and removes what the test created."""

    kind: str
    root: Path
    engine: DockerEngine | None
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")

    @property
    def image(self) -> str:
        return self.engine.image if self.engine else "any-image:latest"

    @property
    def project_dir(self) -> Path:
        folder = self.root / "project"
        folder.mkdir(exist_ok=True)
        return folder

    def backend(self, **options: Any) -> SandboxBackend:
        if self.kind == "docker":
            assert self.engine is not None
            return DockerBackend(self.engine.url, memory_bytes=256 * 1024**2, nano_cpus=1_000_000_000, **options)
        return LocalBackend(self.root / "state", use_bwrap=None if self.kind == "local" else False, **options)

    def spec(self, suffix: str = "box", **overrides: Any) -> SandboxSpec:
        values: dict[str, Any] = {
            "name": f"{self.prefix}-{suffix}",
            "image": self.image,
            "project_id": "project-1",
            "project_dir": self.project_dir,
            "container_workdir": WORKDIR,
            "env": {"GREETING": "hello"},
        }
        return SandboxSpec(**{**values, **overrides})

    def run(self, scenario: Callable[[SandboxBackend], Awaitable[T]], **options: Any) -> T:
        async def main() -> T:
            backend = self.backend(**options)
            try:
                return await scenario(backend)
            finally:
                await self._clean(backend)
                await backend.close()

        return asyncio.run(main())

    async def _clean(self, backend: SandboxBackend) -> None:
        for info in await backend.list():
            if info.name.startswith(self.prefix):
                await backend.delete(info.id)


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    engine = request.getfixturevalue("docker_engine") if request.param == "docker" else None
    return Harness(request.param, tmp_path, engine)


@pytest.fixture
def docker_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return Harness("docker", tmp_path, request.getfixturevalue("docker_engine"))


@pytest.fixture
def local_harness(tmp_path: Path) -> Harness:
    return Harness("local", tmp_path, None)
