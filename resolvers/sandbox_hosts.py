"""Sandbox hosts (SANDBOX_HOSTS): where a new sandbox goes, what a host holds, and what happens when one
stops answering.

Placement: the host that answers with the most free capacity (its capacity less its sandboxes and the
places reserved by creations in progress, counted under a lock that holds across replicas), then a check
that the host sees the project's folder: a marker file written here must appear inside the new container.
Hosts must see BASE_ROOT at the same path as the replicas (shared storage); a host that does not is
skipped with the reason, and when none does the creation fails with 503 naming each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from resolvers.errors import DomainError
from resolvers.runtime import Runtime
from resolvers.tx import writing
from sandbox.base import SandboxBackend, SandboxError, SandboxInfo, SandboxSpec, SandboxUnavailable
from sandbox.hosts import Host, MultiHostBackend
from store.locks import Namespace, lock_in
from store.models import Sandbox, SandboxReservation, Task, utcnow

log = logging.getLogger("orchestrator.sandbox-hosts")
RESERVATION_SECONDS = 600
"""A reservation older than this is a creation that died half way; it no longer takes a place."""
CHECK_TIMEOUT = 30.0


@dataclass(frozen=True)
class HostView:
    name: str
    url: str
    up: bool
    error: str | None
    capacity: int
    sandboxes: int
    reserved: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.sandboxes - self.reserved)


def multi_host(rt: Runtime) -> MultiHostBackend | None:
    return rt.backend if isinstance(rt.backend, MultiHostBackend) else None


def connect(rt: Runtime) -> None:
    """Route calls about existing sandboxes by the host the database names, and fail the tasks running
    on a host that stops answering."""
    hosts = multi_host(rt)
    if hosts is None:
        return

    async def locate(sandbox_id: str) -> str | None:
        async with rt.db.read() as session:
            return await session.scalar(select(Sandbox.host).where(Sandbox.id == sandbox_id))

    async def changed(host: Host) -> None:
        if not host.up:
            await fail_tasks_on(rt, host)

    hosts.connect(locate, changed)


async def fail_tasks_on(rt: Runtime, host: Host) -> int:
    """Fail the tasks this replica runs in sandboxes of a host that stopped answering, with its reason."""
    running = rt.tasks.running_here()
    if not running:
        return 0
    async with rt.db.read() as session:
        on_host = (
            await session.scalars(
                select(Task.id)
                .join(Sandbox, Sandbox.id == Task.sandbox_id)
                .where(Task.id.in_(list(running)), Sandbox.host == host.spec.name)
            )
        ).all()
    reason = f"The sandbox host {host.spec.name} stopped answering while the task ran: {host.error}"
    for task_id in on_host:
        rt.tasks.abort(task_id, reason)
    return len(on_host)


async def host_views(rt: Runtime) -> list[HostView]:
    """Every host with its state, capacity, sandboxes and reservations (empty without SANDBOX_HOSTS)."""
    hosts = multi_host(rt)
    if hosts is None:
        return []
    counts, reserved = await _usage(rt)
    return [
        HostView(
            name,
            host.spec.url,
            host.up,
            host.error,
            host.spec.capacity,
            counts.get(name, 0),
            reserved.get(name, 0),
        )
        for name, host in hosts.hosts.items()
    ]


async def _usage(rt: Runtime, session: object | None = None) -> tuple[dict[str, int], dict[str, int]]:
    fresh = SandboxReservation.created_at > utcnow() - timedelta(seconds=RESERVATION_SECONDS)
    count_sandboxes = select(Sandbox.host, func.count()).where(Sandbox.host.is_not(None)).group_by(Sandbox.host)
    count_reserved = select(SandboxReservation.host, func.count()).where(fresh).group_by(SandboxReservation.host)
    if session is None:
        async with rt.db.read() as reader:
            return dict((await reader.execute(count_sandboxes)).all()), dict(
                (await reader.execute(count_reserved)).all()
            )
    return (
        dict((await session.execute(count_sandboxes)).all()),  # type: ignore[attr-defined]
        dict((await session.execute(count_reserved)).all()),  # type: ignore[attr-defined]
    )


async def _reserve(rt: Runtime, hosts: MultiHostBackend, project_id: str, skip: set[str]) -> str:
    """Take a place on the answering host with the most room; 503 naming every host when none has any."""
    async with writing(rt) as session:
        await lock_in(session, rt.db, Namespace.PLACEMENT)
        counts, reserved = await _usage(rt, session)
        await session.execute(delete(SandboxReservation).where(SandboxReservation.project_id == project_id))
        candidates = []
        for name, host in hosts.hosts.items():
            free = host.spec.capacity - counts.get(name, 0) - reserved.get(name, 0)
            if host.up and free > 0 and name not in skip:
                candidates.append((-free, name))
        if not candidates:
            raise DomainError(
                "SERVICE_UNAVAILABLE",
                "No sandbox host can take a new sandbox: " + _describe(hosts, counts, reserved, skip),
            )
        chosen = min(candidates)[1]
        session.add(SandboxReservation(project_id=project_id, host=chosen))
    return chosen


def _describe(hosts: MultiHostBackend, counts: dict[str, int], reserved: dict[str, int], skip: set[str]) -> str:
    parts = []
    for name, host in hosts.hosts.items():
        if name in skip:
            parts.append(f"{name} does not see the project folder")
        elif not host.up:
            parts.append(f"{name} is not answering ({host.error})")
        else:
            used = counts.get(name, 0) + reserved.get(name, 0)
            parts.append(f"{name} is full ({used}/{host.spec.capacity})")
    return "; ".join(parts)


async def release(rt: Runtime, project_id: str) -> None:
    async with writing(rt) as session:
        await session.execute(delete(SandboxReservation).where(SandboxReservation.project_id == project_id))


async def sees_folder(backend: SandboxBackend, sandbox_id: str, spec: SandboxSpec) -> bool:
    """Whether the host of a started sandbox sees the project folder this replica sees."""
    name = f".orchestrator-host-check-{secrets.token_hex(8)}"
    marker = Path(spec.project_dir) / name
    await asyncio.to_thread(marker.write_text, "written by an orchestrator replica to check shared storage\n")
    try:
        command = await backend.run(
            sandbox_id, ["test", "-e", f"{spec.container_workdir}/{name}"], timeout=CHECK_TIMEOUT
        )
        async for _chunk in command.output():
            pass
        return await command.wait() == 0
    finally:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(marker.unlink)


async def create_placed(rt: Runtime, spec: SandboxSpec) -> tuple[SandboxInfo, SandboxInfo, str | None]:
    """Create and start a project's sandbox: on the one backend, or on the host placement picks (trying
    the next when one does not see the project folder). Returns (created, started, host name)."""
    hosts = multi_host(rt)
    if hosts is None:
        if not await rt.backend.image_exists(spec.image):
            await rt.backend.pull_image(spec.image)
        created = await rt.backend.create(spec)
        try:
            return created, await rt.backend.start(created.id), None
        except SandboxError:
            await rt.backend.delete(created.id)
            raise
    blind: set[str] = set()
    while True:
        try:
            name = await _reserve(rt, hosts, spec.project_id, blind)
        except DomainError:
            await release(rt, spec.project_id)
            raise
        backend = hosts.host(name).backend
        try:
            if not await backend.image_exists(spec.image):
                await backend.pull_image(spec.image)
            created = await backend.create(spec)
            try:
                started = await backend.start(created.id)
                seen = await sees_folder(backend, created.id, spec)
            except BaseException:
                await backend.delete(created.id)
                raise
            if seen:
                hosts.remember(created.id, name)
                return created, started, name
            await backend.delete(created.id)
        except SandboxUnavailable:
            await release(rt, spec.project_id)
            if await hosts.answers(name):
                raise
            # It stopped answering before this replica's next look at it: placed again, among the others.
            log.warning("sandbox host %s stopped answering while a sandbox was created there: trying another", name)
            continue
        except BaseException:
            await release(rt, spec.project_id)
            raise
        log.warning("sandbox host %s does not see %s: trying another host", name, spec.project_dir)
        blind.add(name)
        if blind >= set(hosts.hosts):
            await release(rt, spec.project_id)
            raise DomainError(
                "SERVICE_UNAVAILABLE",
                f"No sandbox host sees the project folder {spec.project_dir}: every host must see BASE_ROOT "
                "at the same path as the replicas (shared storage)",
                {"hosts": sorted(blind)},
            )
