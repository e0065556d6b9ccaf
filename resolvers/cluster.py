"""Replicas sharing one database: this replica's registration and heartbeat, the leases it holds, and what
becomes of the work of replicas that stopped renewing theirs.

Every third of LEASE_SECONDS one keeper renews this replica's row and all its leases (one statement per
table) and tells the scheduler and the engine which leases did not renew (they stop that work, writing
nothing). A second one, as often but on its own so that a slow round never delays a renewal, fails the
tasks whose leases ran out with the name of the replica that lost them, adopts the executions nobody
holds, and starts queued tasks that have room. A replica that starts under a name takes
over the work of that name's earlier incarnations at once (a restart), exactly as a single server does.

With SQLite there is one process and so one replica; the same code runs, with nothing to share.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, delete, func, or_, select, true, update

from resolvers.runtime import Runtime
from resolvers.tx import writing
from store import leases
from store.brokers import Hub
from store.locks import Namespace, lock_in
from store.models import ClusterSetting, Replica, Task, WorkflowExecution, utcnow

log = logging.getLogger("orchestrator.cluster")

REPLICA_HISTORY = timedelta(days=1)
"""How long the rows of stopped or lost replicas are kept (for health and for the reasons that name them)."""
KEYS_SETTING = "keys:"


def lost_replica_reason(name: str | None, lease_seconds: int) -> str:
    return (
        f"The replica {name or '(unknown)'} running this task stopped renewing its lease for {lease_seconds} s "
        "(it died, hung or lost the database); the task was failed rather than run again, since agent runs are "
        "not safe to repeat"
    )


LOST_REPLICA_PREFIX = "The replica "


def is_lost_replica(error: str | None) -> bool:
    return bool(error) and error.startswith(LOST_REPLICA_PREFIX) and "stopped renewing its lease" in error  # type: ignore[union-attr]


def alive_replicas(rt: Runtime) -> Select[tuple[str]]:
    """The ids of the replicas whose lease is current."""
    return select(Replica.id).where(Replica.lease_expires_at > rt.db.now(), Replica.stopped_at.is_(None))


def new_replica_id(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.:-]", "-", name)[:48]
    return f"{slug}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class ReplicaView:
    id: str
    name: str
    hostname: str
    address: str
    started_at: datetime
    heartbeat_at: datetime
    lease_expires_at: datetime
    alive: bool
    tasks: int
    executions: int
    this: bool


class Cluster:
    def __init__(self, rt: Runtime, hub: Hub | None, replica_id: str) -> None:
        self.rt = rt
        self.hub = hub
        self.replica_id = replica_id
        self.name = rt.settings.replica_name
        self.lease_seconds = rt.settings.lease_seconds
        self._keepers: list[asyncio.Task[None]] = []
        self.leases_lost = 0
        self.tasks_reaped = 0
        self.executions_adopted = 0
        if hub is not None:
            hub.on("control", self._on_control)

    @property
    def renew_every(self) -> float:
        return self.lease_seconds / 3

    @property
    def claim_seconds(self) -> float:
        """How long a claim lasts unrenewed: LEASE_SECONDS with PostgreSQL; with SQLite (one process, so
        nobody to take over) a century, renewed by nobody; a restart takes over through `earlier_incarnations`."""
        return self.lease_seconds if self.shared else 100 * 365 * 24 * 3600

    @property
    def shared(self) -> bool:
        """Whether other replicas may share the database (PostgreSQL)."""
        return not self.rt.db.is_sqlite

    def earlier_incarnations(self, owner: ColumnElement[str | None]) -> ColumnElement[bool]:
        """Leases this replica takes over at start: every lease with SQLite (one process), else those of
        earlier processes of this replica's name, and leases nobody holds."""
        if not self.shared:
            return true()
        mine = select(Replica.id).where(Replica.name == self.name, Replica.id != self.replica_id)
        return or_(owner.is_(None), owner.in_(mine))

    # registration

    async def register(self) -> None:
        """Join: refuse to start when the other live replicas use other keys (their tokens and sealed
        secrets would not work here), then record this replica."""
        fingerprint = f"jwt={_fingerprint(self.rt.jwt_secret)};secrets={self.rt.secret_box.fingerprint()}"
        rt = self.rt
        async with writing(rt) as session:
            await lock_in(session, rt.db, Namespace.STARTUP)
            alive = alive_replicas(rt)
            others = (
                await session.scalars(
                    select(ClusterSetting.value).where(
                        ClusterSetting.name.in_(select(KEYS_SETTING + alive.subquery().c.id))
                    )
                )
            ).all()
            differing = [value for value in others if value != fingerprint]
            if differing and self.shared:
                raise SystemExit(
                    "this replica's JWT_SECRET or SECRETS_KEY differs from the other live replicas' of this "
                    "database: give every replica the same JWT_SECRET and SECRETS_KEY"
                )
            session.add(
                Replica(
                    id=self.replica_id,
                    name=self.name,
                    hostname=socket.gethostname()[:255],
                    pid=os.getpid(),
                    address=(rt.settings.replica_url or f"http://{rt.settings.host}:{rt.settings.port}")[:255],
                    lease_expires_at=utcnow() + timedelta(seconds=self.claim_seconds),
                )
            )
            session.add(ClusterSetting(name=KEYS_SETTING + self.replica_id, value=fingerprint))
        await self._renew_replica()

    def start(self) -> None:
        """Keep this replica's leases, and watch the others' (with a shared database)."""
        if self.shared:
            self._keepers = [
                asyncio.create_task(self._every_renewal(self.renew), name="cluster-leases"),
                asyncio.create_task(self._every_renewal(self.sweep), name="cluster-sweeps"),
            ]

    async def stop(self) -> None:
        """Leave: the keepers stop; the row says so (its leases were released or failed by then)."""
        for keeper in self._keepers:
            keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)
        try:
            async with writing(self.rt) as session:
                await session.execute(
                    update(Replica)
                    .where(Replica.id == self.replica_id)
                    .values(stopped_at=utcnow(), lease_expires_at=utcnow())
                )
        except Exception as error:  # noqa: BLE001 - its lease runs out by itself
            log.warning("could not record that this replica stopped: %s", error)

    # the keeper

    async def _every_renewal(self, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the cluster keeper's round failed; it tries again")

    async def renew(self) -> None:
        """This replica's row and every lease it holds."""
        await self._renew_replica()
        await self._renew_leases()

    async def sweep(self) -> None:
        """What other replicas left: their lost tasks and executions, and queued tasks with room."""
        await self.reap()
        await self.rt.operations.reap()
        await self.rt.executions.adopt_orphans()
        await self._start_waiting_tasks()
        await self._forget_old_replicas()

    async def _renew_replica(self) -> None:
        db = self.rt.db.background()
        async with db.write() as session:
            await session.execute(
                update(Replica)
                .where(Replica.id == self.replica_id)
                .values(heartbeat_at=utcnow(), lease_expires_at=db.now(self.claim_seconds))
            )

    async def _renew_leases(self) -> None:
        rt = self.rt
        db = rt.db.background()
        held_tasks, held_executions = rt.tasks.leases(), rt.executions.leases()
        async with db.write() as session:
            tasks = await leases.renew(session, db, Task, self.replica_id, self.lease_seconds, list(held_tasks))
            executions = await leases.renew(
                session, db, WorkflowExecution, self.replica_id, self.lease_seconds, list(held_executions)
            )
            cancel = set(
                (
                    await session.scalars(
                        select(Task.id).where(Task.lease_owner == self.replica_id, Task.cancel_requested.is_(True))
                    )
                ).all()
            )
        self.leases_lost += rt.tasks.keep_leases(held_tasks, tasks, cancel)
        self.leases_lost += rt.executions.keep_leases(held_executions, executions)

    async def reap(self) -> int:
        """Fail the running tasks whose leases ran out, naming the replica that held them."""
        rt = self.rt
        db = rt.db.background()
        async with db.write() as session:
            rows = (
                await session.execute(
                    select(Task, Replica.name)
                    .outerjoin(Replica, Replica.id == Task.lease_owner)
                    .where(Task.status == "running", leases.expired(Task, db.now()))
                    .order_by(Task.start_time)
                    .limit(100)
                    .with_for_update(skip_locked=True, of=Task)
                )
            ).all()
            reaped = []
            for task, owner_name in rows:
                reason = lost_replica_reason(owner_name, self.lease_seconds)
                task.status, task.error, task.end_time = "failed", reason, utcnow()
                task.lease_owner, task.lease_expires_at = None, None
                reaped.append(task)
        for task in reaped:
            log.warning("task %s failed: %s", task.id, task.error)
            await rt.tasks.announce_abandoned(task)
        self.tasks_reaped += len(reaped)
        return len(reaped)

    async def _start_waiting_tasks(self) -> None:
        """Queued tasks of projects with room (queued on a replica that died before it started them, say)."""
        async with self.rt.db.background().read() as session:
            projects = (await session.scalars(select(Task.project_id).where(Task.status == "queued").distinct())).all()
        for project_id in projects:
            await self.rt.tasks.wake(project_id)

    async def _forget_old_replicas(self) -> None:
        async with self.rt.db.background().write() as session:
            old = select(Replica.id).where(Replica.lease_expires_at < utcnow() - REPLICA_HISTORY)
            await session.execute(
                delete(ClusterSetting).where(ClusterSetting.name.in_(select(KEYS_SETTING + old.subquery().c.id)))
            )
            await session.execute(delete(Replica).where(Replica.lease_expires_at < utcnow() - REPLICA_HISTORY))

    # control messages

    async def ask_to_cancel(self, task_id: str, owner: str) -> None:
        """Tell the replica running a task to cancel it (it also learns from the row at its next renewal)."""
        if self.hub is None:
            return
        try:
            await self.hub.broker.post("control", orjson.dumps({"to": owner, "cancel": task_id}))
        except Exception as error:  # noqa: BLE001 - the row says so at its next renewal
            log.warning(
                "could not ask replica %s to cancel task %s now (it will at its next renewal): %s",
                owner,
                task_id,
                error,
            )

    def _on_control(self, message: bytes) -> None:
        try:
            order = orjson.loads(message)
        except orjson.JSONDecodeError:
            return
        if isinstance(order, dict) and order.get("to") == self.replica_id and isinstance(order.get("cancel"), str):
            self.rt.tasks.cancel_here(order["cancel"])

    # what health shows

    async def replicas(self) -> list[ReplicaView]:
        rt = self.rt
        async with rt.db.read() as session:
            rows = (
                await session.execute(
                    select(Replica, Replica.lease_expires_at > rt.db.now())
                    .where(Replica.stopped_at.is_(None))
                    .order_by(Replica.started_at)
                )
            ).all()
            held_tasks = await _held(session, Task)
            held_executions = await _held(session, WorkflowExecution)
        return [
            ReplicaView(
                replica.id,
                replica.name,
                replica.hostname,
                replica.address,
                replica.started_at,
                replica.heartbeat_at,
                replica.lease_expires_at,
                bool(alive),
                held_tasks.get(replica.id, 0),
                held_executions.get(replica.id, 0),
                replica.id == self.replica_id,
            )
            for replica, alive in rows
        ]

    def broker_health(self) -> dict[str, Any]:
        if self.hub is None:
            return {"kind": "in-process", "status": "connected"}
        bus: Any = self.rt.events.bus
        return bus.health() if hasattr(bus, "health") else self.hub.broker.health()


async def _held(session: Any, model: leases.Leased) -> dict[str, int]:
    rows = await session.execute(
        select(model.lease_owner, func.count()).where(model.lease_owner.is_not(None)).group_by(model.lease_owner)
    )
    return dict(rows.all())


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(f"orchestrator jwt fingerprint:{secret}".encode()).hexdigest()[:16]
