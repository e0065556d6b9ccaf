"""Sandbox backends behind one interface (see `sandbox.base`); `open_backend` picks one."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from sandbox.base import SandboxBackend, SandboxUnavailable

log = logging.getLogger(__name__)

KINDS = ("auto", "docker", "local")


def _options_for(backend: type[SandboxBackend], options: dict[str, Any]) -> dict[str, Any]:
    """The options that `backend`'s constructor takes (the others are meant for the other backend)."""
    accepted = inspect.signature(backend.__init__).parameters
    return {key: value for key, value in options.items() if key in accepted}


async def open_backend(kind: str = "auto", **options: Any) -> SandboxBackend:
    """The backend for SANDBOX_BACKEND=`kind`: "docker", "local", or "auto" (Docker when its engine answers a
    ping, else local).

    `options` holds the constructor arguments of either backend, e.g. `url=`, `memory_bytes=`, `network=`
    for Docker, `state_dir=` (required whenever local may be chosen) for local, and `egress=`, `user_id=`,
    `hidden_paths=` for both; each backend receives only its own. An explicit "docker" is not pinged: the
    service can start while the engine is down, and each call then raises SandboxUnavailable.
    """
    from sandbox.docker import DockerBackend
    from sandbox.local import LocalBackend

    if kind not in KINDS:
        raise ValueError(f"unknown sandbox backend {kind!r}: use one of {', '.join(KINDS)}")
    unknown = set(options) - set(_options_for(DockerBackend, options)) - set(_options_for(LocalBackend, options))
    if unknown:
        raise TypeError(f"unknown sandbox backend options: {', '.join(sorted(unknown))}")
    if kind == "docker":
        return DockerBackend(**_options_for(DockerBackend, options))
    if kind == "auto":
        docker = DockerBackend(**_options_for(DockerBackend, options))
        try:
            await docker.ping()
        except SandboxUnavailable as exc:
            await docker.close()
            log.info("Docker is not available (%s); sandboxes use the local backend", exc)
        else:
            return docker
    return LocalBackend(**_options_for(LocalBackend, options))
