"""Several Docker engines as one sandbox backend (SANDBOX_HOSTS).

    SANDBOX_HOSTS="alpha=unix:///var/run/docker.sock?capacity=8 beta=tcp://10.0.0.12:2376?capacity=16&tls=/etc/orchestrator/docker/beta"

Entries are `name=url`, separated by spaces or commas; the url takes `capacity` (sandboxes the host takes,
default 10) and, for tcp://, `tls`: a folder laid out as Docker documents for mutual TLS (DOCKER_CERT_PATH:
`ca.pem` to verify the engine, `cert.pem` and `key.pem` to present this client). A tcp:// engine without
`tls` is refused: an engine's API is root on its host.

A sandbox lives on one host and stays there. The host is chosen when it is created (the caller passes it:
placement is a decision of the resolvers, who count what each host holds); afterwards calls about it go to
its host, found through a locator (the database knows which host has which sandbox). Every host is pinged
every CHECK_SECONDS: a host that does not answer is `down`, calls about its sandboxes fail at once with
SandboxUnavailable naming it, and `on_change` tells the caller (who fails the tasks running there); when
it answers again it is `up` and its sandboxes work again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.base import (
    OutputChunk,
    RunningCommand,
    SandboxBackend,
    SandboxError,
    SandboxInfo,
    SandboxNotFound,
    SandboxSpec,
    SandboxUnavailable,
)
from sandbox.docker import DockerBackend

log = logging.getLogger("orchestrator.sandbox-hosts")

DEFAULT_CAPACITY = 10
CHECK_SECONDS = 2.0
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class HostSpec:
    name: str
    url: str
    capacity: int
    tls: Path | None = None


def parse_hosts(text: str) -> list[HostSpec]:
    """SANDBOX_HOSTS as host specs; ValueError naming the entry that is wrong."""
    specs: list[HostSpec] = []
    for entry in text.replace(",", " ").split():
        spec = _host_spec(entry)
        if any(known.name == spec.name for known in specs):
            raise ValueError(f"SANDBOX_HOSTS names host {spec.name} twice")
        specs.append(spec)
    if not specs:
        raise ValueError("SANDBOX_HOSTS names no host")
    return specs


def _host_spec(entry: str) -> HostSpec:
    name, sep, address = entry.partition("=")
    if not sep or not name or not address:
        raise ValueError(f"SANDBOX_HOSTS entry {entry!r} is not name=url")
    if not set(name) <= _NAME_CHARS or len(name) > 64:
        raise ValueError(f"SANDBOX_HOSTS host name {name!r} may hold letters, digits, '-', '_' and '.' only")
    parts = urlsplit(address)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"capacity", "tls"}
    if unknown:
        raise ValueError(f"SANDBOX_HOSTS host {name}: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        capacity = int(options.get("capacity", DEFAULT_CAPACITY))
    except ValueError:
        raise ValueError(f"SANDBOX_HOSTS host {name}: capacity must be a whole number") from None
    if capacity < 0:
        raise ValueError(f"SANDBOX_HOSTS host {name}: capacity must not be negative")
    tls = Path(options["tls"]) if "tls" in options else None
    _check_transport(name, parts.scheme, address, tls)
    return HostSpec(name, address.split("?", 1)[0], capacity, tls)


def _check_transport(name: str, scheme: str, address: str, tls: Path | None) -> None:
    if scheme == "unix":
        if tls is not None:
            raise ValueError(f"SANDBOX_HOSTS host {name}: tls is for tcp:// engines")
    elif scheme == "tcp":
        if tls is None:
            raise ValueError(
                f"SANDBOX_HOSTS host {name}: a tcp:// engine needs tls=<folder with ca.pem, cert.pem, key.pem>"
            )
        missing = [file for file in ("ca.pem", "cert.pem", "key.pem") if not (tls / file).is_file()]
        if missing:
            raise ValueError(f"SANDBOX_HOSTS host {name}: {tls} lacks {', '.join(missing)}")
    else:
        raise ValueError(f"SANDBOX_HOSTS host {name}: the url must be unix:// or tcp://, not {address!r}")


def client_tls(folder: Path) -> ssl.SSLContext:
    """Mutual TLS as Docker documents it: verify the engine against ca.pem, present cert.pem/key.pem."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(folder / "ca.pem"))
    context.load_cert_chain(str(folder / "cert.pem"), str(folder / "key.pem"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass
class Host:
    spec: HostSpec
    backend: DockerBackend
    up: bool = True
    error: str | None = None
    checked_at: float | None = None
    changed_at: float = field(default_factory=time.time)

    def unavailable(self) -> SandboxUnavailable:
        return SandboxUnavailable(f"sandbox host {self.spec.name} ({self.spec.url}) is not answering: {self.error}")


Locator = Callable[[str], Awaitable[str | None]]
"""Sandbox id → the name of its host (None when no sandbox has that id)."""
HostChange = Callable[[Host], Awaitable[None]]


class MultiHostBackend(SandboxBackend):
    name = "docker"

    def __init__(self, specs: Sequence[HostSpec], **docker_options: Any) -> None:
        self.hosts: dict[str, Host] = {}
        for spec in specs:
            context = client_tls(spec.tls) if spec.tls else None
            backend = DockerBackend(spec.url, ssl_context=context, **docker_options)
            self.hosts[spec.name] = Host(spec, backend)
        self._locate: Locator | None = None
        self._on_change: HostChange | None = None
        self._where: dict[str, str] = {}
        self._monitor: asyncio.Task[None] | None = None

    def connect(self, locate: Locator, on_change: HostChange) -> None:
        """Wire the locator and the host-change listener, and start watching the hosts."""
        self._locate, self._on_change = locate, on_change
        if self._monitor is None:
            self._monitor = asyncio.create_task(self._watch_forever(), name="sandbox-hosts")

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def remember(self, sandbox_id: str, host_name: str) -> None:
        self._where[sandbox_id] = host_name

    # health

    async def check(self) -> None:
        """Ping every host now; report the ones that went down or came back."""
        await asyncio.gather(*(self._check(host) for host in self.hosts.values()))

    async def _check(self, host: Host) -> None:
        try:
            await host.backend.ping()
        except SandboxUnavailable as error:
            was_up, host.up, host.error = host.up, False, str(error)
        else:
            was_up, host.up, host.error = host.up, True, None
        host.checked_at = time.time()
        if was_up != host.up:
            host.changed_at = host.checked_at
            if host.up:
                log.warning("sandbox host %s answers again", host.spec.name)
            else:
                log.warning("sandbox host %s stopped answering: %s", host.spec.name, host.error)
            if self._on_change is not None:
                try:
                    await self._on_change(host)
                except Exception:
                    log.exception("handling the change of sandbox host %s failed", host.spec.name)

    async def answers(self, name: str) -> bool:
        """Ping one host now (a call to it just failed): whether it is up."""
        host = self.hosts[name]
        await self._check(host)
        return host.up

    async def _watch_forever(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(CHECK_SECONDS)

    # routing

    async def _host_of(self, sandbox_id: str) -> Host:
        name = self._where.get(sandbox_id)
        if name is None and self._locate is not None:
            name = await self._locate(sandbox_id)
            if name is not None:
                self._where[sandbox_id] = name
        host = self.hosts.get(name or "")
        if host is None:
            raise SandboxNotFound(f"sandbox {sandbox_id} does not exist")
        if not host.up:
            raise host.unavailable()
        return host

    async def _on(self, sandbox_id: str) -> DockerBackend:
        return (await self._host_of(sandbox_id)).backend

    def _up(self) -> list[Host]:
        return [host for host in self.hosts.values() if host.up]

    async def ping(self) -> None:
        if not self._up():
            raise SandboxUnavailable("no sandbox host answers: " + "; ".join(str(h.error) for h in self.hosts.values()))

    async def image_exists(self, image: str) -> bool:
        found = await asyncio.gather(*(host.backend.image_exists(image) for host in self._up()))
        return any(found)

    async def pull_image(self, image: str) -> None:
        await asyncio.gather(*(host.backend.pull_image(image) for host in self._up()))

    async def list_images(self) -> Sequence[str]:
        listed = await asyncio.gather(*(host.backend.list_images() for host in self._up()), return_exceptions=True)
        return sorted({image for images in listed if not isinstance(images, BaseException) for image in images})

    async def create(self, spec: SandboxSpec) -> SandboxInfo:
        raise SandboxUnavailable("a sandbox is created on one host: the caller places it (host(name).backend)")

    async def start(self, sandbox_id: str) -> SandboxInfo:
        return await (await self._on(sandbox_id)).start(sandbox_id)

    async def stop(self, sandbox_id: str, timeout: float = 10) -> SandboxInfo:
        return await (await self._on(sandbox_id)).stop(sandbox_id, timeout)

    async def restart(self, sandbox_id: str) -> SandboxInfo:
        return await (await self._on(sandbox_id)).restart(sandbox_id)

    async def delete(self, sandbox_id: str) -> None:
        await (await self._on(sandbox_id)).delete(sandbox_id)
        self._where.pop(sandbox_id, None)

    async def inspect(self, sandbox_id: str) -> SandboxInfo:
        return await (await self._on(sandbox_id)).inspect(sandbox_id)

    async def list(self) -> Sequence[SandboxInfo]:
        """The sandboxes of the hosts that answer (those of a host that is down are missing)."""
        listed = await asyncio.gather(*(self._listed(host) for host in self._up()))
        return [info for infos in listed for info in infos]

    async def _listed(self, host: Host) -> Sequence[SandboxInfo]:
        try:
            infos = await host.backend.list()
        except SandboxUnavailable as error:
            host.up, host.error = False, str(error)
            return []
        for info in infos:
            self._where[info.id] = host.spec.name
        return infos

    async def run(
        self, sandbox_id: str, argv: Sequence[str], env: dict[str, str] | None = None, timeout: float | None = None
    ) -> RunningCommand:
        host = await self._host_of(sandbox_id)
        try:
            command = await host.backend.run(sandbox_id, argv, env=env, timeout=timeout)
        except SandboxError as error:
            raise await self._unless_down(host, error) from error
        return _HostCommand(command, self, host)

    async def _unless_down(self, host: Host, error: BaseException) -> BaseException:
        """A command that failed or died on `host`: the host's own unavailability when it has stopped
        answering meanwhile (its containers stop as it goes down), else the error itself."""
        await self._check(host)
        return error if host.up else host.unavailable()

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        for host in self.hosts.values():
            await host.backend.close()


class _HostCommand(RunningCommand):
    """A command on one of the hosts: when it ends abnormally because its host went away, it says so."""

    def __init__(self, inner: RunningCommand, hosts: MultiHostBackend, host: Host) -> None:
        self.inner, self.hosts, self.host = inner, hosts, host

    async def output(self) -> AsyncIterator[OutputChunk]:
        try:
            async for chunk in self.inner.output():
                yield chunk
        except SandboxError as error:
            raise await self.hosts._unless_down(self.host, error) from error

    async def wait(self) -> int:
        try:
            exit_code = await self.inner.wait()
        except SandboxError as error:
            raise await self.hosts._unless_down(self.host, error) from error
        if exit_code != 0 and not self.inner.timed_out:
            await self.hosts._check(self.host)
            if not self.host.up:
                raise self.host.unavailable()
        return exit_code

    async def kill(self) -> None:
        await self.inner.kill()

    @property
    def timed_out(self) -> bool:
        return self.inner.timed_out
