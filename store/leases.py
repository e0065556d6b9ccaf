"""Leases: a replica's claim on a task or a workflow execution, in the row itself.

A claim sets `lease_owner` (the replica's incarnation id), `lease_expires_at` (database time) and bumps
`lease_fence`. The holder renews its leases every third of their length, all in one statement per table.
Every write of a claimed row names the lease (owner, fence, not expired), inside the write's own
transaction: a holder that was paused past its lease, while another replica decided what became of the
row, finds its writes refused (`LeaseLost`) and stops. Candidates are picked with `FOR UPDATE SKIP LOCKED`,
so replicas looking for work at the same time never wait for nor take the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Database
from store.locks import Namespace, lock_in
from store.models import Project, Task, WorkflowExecution, utcnow

Leased = type[Task] | type[WorkflowExecution]
ACTIVE_EXECUTIONS = ("initializing", "running")


@dataclass(frozen=True)
class Lease:
    model: Leased
    row_id: str
    owner: str
    fence: int

    def held(self, now: ColumnElement[datetime]) -> list[ColumnElement[bool]]:
        """Conditions true only while this lease holds the row."""
        model = self.model
        return [
            model.id == self.row_id,
            model.lease_owner == self.owner,
            model.lease_fence == self.fence,
            model.lease_expires_at > now,
        ]


class LeaseLost(Exception):
    """The lease ran out or another replica took the row: the write was refused."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(f"{lease.model.__tablename__} {lease.row_id}: lease {lease.fence} of {lease.owner} is lost")
        self.lease = lease


def expired(model: Leased, now: ColumnElement[datetime]) -> ColumnElement[bool]:
    return or_(model.lease_owner.is_(None), model.lease_expires_at.is_(None), model.lease_expires_at <= now)


async def hold(session: AsyncSession, db: Database, lease: Lease) -> None:
    """Check, inside a write transaction, that `lease` still holds its row, and keep the row from being taken
    over until that transaction ends (FOR SHARE); LeaseLost otherwise."""
    found = await session.scalar(select(lease.model.id).where(*lease.held(db.now())).with_for_update(read=True))
    if found is None:
        raise LeaseLost(lease)


async def fenced_update(session: AsyncSession, db: Database, lease: Lease, **values: object) -> None:
    """Update the leased row, only while the lease holds it."""
    changed = await session.execute(update(lease.model).where(*lease.held(db.now())).values(**values))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(lease)


async def claim_queued_tasks(
    session: AsyncSession, db: Database, project_id: str, owner: str, seconds: float
) -> list[Lease]:
    """Claim the project's oldest queued tasks, as many as its task limit leaves room for across every
    replica (counted under the project's lock, so two replicas never both fill the last slot)."""
    await lock_in(session, db, Namespace.TASKS, project_id)
    limit = await session.scalar(select(Project.task_limit).where(Project.id == project_id)) or 0
    running = await session.scalar(
        select(func.count()).select_from(Task).where(Task.project_id == project_id, Task.status == "running")
    )
    free = limit - (running or 0)
    if free <= 0:
        return []
    waiting = (
        await session.scalars(
            select(Task.id)
            .where(Task.project_id == project_id, Task.status == "queued")
            .order_by(Task.created_at, Task.id)
            .limit(free)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not waiting:
        return []
    claimed = await session.execute(
        update(Task)
        .where(Task.id.in_(waiting), Task.status == "queued")
        .values(
            status="running",
            start_time=utcnow(),
            lease_owner=owner,
            lease_expires_at=db.now(seconds),
            lease_fence=Task.lease_fence + 1,
        )
        .returning(Task.id, Task.lease_fence)
    )
    fences = dict(claimed.all())
    return [Lease(Task, task_id, owner, fences[task_id]) for task_id in waiting if task_id in fences]


async def claim_execution(
    session: AsyncSession, db: Database, execution_id: str, owner: str, seconds: float
) -> Lease | None:
    """Take the execution's lease unless another replica's lease still holds it."""
    now = db.now()
    claimed = await session.execute(
        update(WorkflowExecution)
        .where(
            WorkflowExecution.id == execution_id,
            or_(expired(WorkflowExecution, now), WorkflowExecution.lease_owner == owner),
        )
        .values(lease_owner=owner, lease_expires_at=db.now(seconds), lease_fence=WorkflowExecution.lease_fence + 1)
        .returning(WorkflowExecution.lease_fence)
    )
    fence = claimed.scalar()
    return None if fence is None else Lease(WorkflowExecution, execution_id, owner, fence)


async def orphaned_executions(session: AsyncSession, db: Database, limit: int = 100) -> Sequence[str]:
    """Active executions no live lease holds (their replica died or let go), locked against other seekers."""
    return (
        await session.scalars(
            select(WorkflowExecution.id)
            .where(WorkflowExecution.status.in_(ACTIVE_EXECUTIONS), expired(WorkflowExecution, db.now()))
            .order_by(WorkflowExecution.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()


async def renew(
    session: AsyncSession, db: Database, model: Leased, owner: str, seconds: float, ids: Sequence[str]
) -> dict[str, int]:
    """Extend the unexpired leases `owner` holds on rows `ids` (the work it still does: a lease nobody works
    under runs out); returns row id → fence of those renewed."""
    if not ids:
        return {}
    now = db.now()
    renewed = await session.execute(
        update(model)
        .where(model.id.in_(ids), model.lease_owner == owner, model.lease_expires_at > now)
        .values(lease_expires_at=db.now(seconds))
        .returning(model.id, model.lease_fence)
    )
    return dict(renewed.all())


async def release(session: AsyncSession, db: Database, lease: Lease) -> None:
    """Let go of a lease (its row is free to claim at once); nothing happens when it was lost already."""
    await session.execute(
        update(lease.model).where(*lease.held(db.now())).values(lease_owner=None, lease_expires_at=None)
    )
