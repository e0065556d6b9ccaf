"""Asynchronous sandbox operations: answered at once, then run step by step in the background.

Each change of an operation (a step starting or ending, the end) is stored and announced as a
`sandbox_operation_progress` event, so clients can poll the operation or follow it live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from resolvers import events, sandboxes
from resolvers.access import in_visible_project, visible_operation, visible_project
from resolvers.cluster import alive_replicas
from resolvers.errors import DomainError, invalid
from resolvers.pages import Listing, Ordering
from resolvers.runtime import Caller, Runtime
from resolvers.tx import writing
from store.models import Replica, Sandbox, SandboxOperation, utcnow

log = logging.getLogger("orchestrator.sandbox-operations")

OPERATION_TYPES = ("create", "start", "stop", "restart", "delete", "pull_image")
OPERATION_STATUSES = (
    "pending",
    "in_progress",
    "pulling_image",
    "creating_sandbox",
    "starting_sandbox",
    "stopping_sandbox",
    "completed",
    "failed",
    "cancelled",
)
FINISHED = ("completed", "failed", "cancelled")
INTERRUPTED = "The server stopped while the operation was running"


@dataclass(frozen=True)
class Step:
    id: str
    name: str
    status: str
    """The operation's status while this step runs."""
    action: Callable[[], Awaitable[Any]]


def _iso_now() -> str:
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _progress(message: str, current: int, total: int) -> dict[str, Any]:
    return {
        "message": message,
        "percentage": round(100 * current / total) if total else 100,
        "total": total,
        "current": current,
    }


class _Gone(Exception):
    """The operation's record was deleted (with its project) while it ran: there is nothing left to update."""


class SandboxOperations:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def _plan(self, kind: str, record: Sandbox, running: bool) -> list[Step]:
        rt = self.rt

        async def ensure_image() -> None:
            with sandboxes.backend_errors(record.id):
                if not await rt.backend.image_exists(record.image):
                    await rt.backend.pull_image(record.image)

        async def stop_if_running() -> None:
            live = await sandboxes.live_state(rt, record.id)
            if live is not None and live.status == "running":
                await sandboxes.perform(rt, record, "stop")

        start = Step("start", "Start sandbox", "starting_sandbox", lambda: sandboxes.perform(rt, record, "start"))
        stop = Step("stop", "Stop sandbox", "stopping_sandbox", stop_if_running)
        check = Step("check-image", f"Check image {record.image}", "pulling_image", ensure_image)
        if kind == "start":
            if running:
                raise DomainError("CONFLICT", f"Sandbox {record.id} is already running", {"status": "running"})
            return [check, start]
        if kind == "stop":
            if not running:
                raise DomainError("CONFLICT", f"Sandbox {record.id} is not running")
            return [stop]
        if kind == "restart":
            return [stop, check, start]
        return [stop, Step("delete", "Delete sandbox", "in_progress", lambda: sandboxes.remove(rt, record))]

    async def submit(self, caller: Caller, sandbox_id: str, kind: str) -> SandboxOperation:
        record, live = await sandboxes.checked_sandbox(self.rt, caller, sandbox_id)
        plan = self._plan(kind, record, live.status == "running")
        operation = SandboxOperation(
            type=kind,
            status="pending",
            sandbox_id=record.id,
            sandbox_name=record.name,
            project_id=record.project_id,
            user_id=caller.user_id,
            progress=_progress("Waiting to start", 0, len(plan)),
            steps=[{"id": step.id, "name": step.name, "status": "pending"} for step in plan],
            replica_id=self.rt.cluster.replica_id,
        )
        async with writing(self.rt) as session:
            session.add(operation)
        await self._announce(operation)
        task = asyncio.create_task(self._run(operation.id, plan), name=f"sandbox-operation-{operation.id}")
        self._tasks[operation.id] = task
        task.add_done_callback(lambda _task: self._tasks.pop(operation.id, None))
        return operation

    async def _change(self, operation_id: str, change: Callable[[SandboxOperation], None]) -> SandboxOperation:
        async with writing(self.rt) as session:
            operation = await session.get(SandboxOperation, operation_id)
            if operation is None:
                raise _Gone
            change(operation)
        await self._announce(operation)
        return operation

    async def _announce(self, operation: SandboxOperation) -> None:
        await events.record(
            self.rt,
            operation.project_id,
            "operation",
            operation.id,
            "sandbox_operation_progress",
            operationId=operation.id,
            operationType=operation.type,
            sandboxId=operation.sandbox_id,
            status=operation.status,
            progress=operation.progress,
        )

    async def _run(self, operation_id: str, plan: Sequence[Step]) -> None:
        with contextlib.suppress(_Gone):
            await self._steps(operation_id, plan)

    async def _steps(self, operation_id: str, plan: Sequence[Step]) -> None:
        try:
            for index, step in enumerate(plan):
                await self._change(operation_id, lambda op, s=step, i=index: _begin_step(op, i, s, len(plan)))
                await step.action()
                await self._change(operation_id, lambda op, i=index: _end_step(op, i, len(plan)))
            await self._change(operation_id, lambda op: _finish(op, "completed", None, "Done"))
        except DomainError as error:
            reason = error.message
            await self._change(operation_id, lambda op: _finish(op, "failed", reason, "Failed"))
        except asyncio.CancelledError:
            if self._stopping:
                finish = lambda op: _finish(op, "failed", INTERRUPTED, "Interrupted")  # noqa: E731
            else:
                finish = lambda op: _finish(op, "cancelled", None, "Cancelled")  # noqa: E731
            await asyncio.shield(self._change(operation_id, finish))
        except _Gone:
            raise
        except Exception as error:  # record any surprise on the operation instead of losing it
            log.exception("sandbox operation %s failed", operation_id)
            reason = f"Unexpected error: {error}"
            await self._change(operation_id, lambda op: _finish(op, "failed", reason, "Failed"))

    async def cancel(self, caller: Caller, operation_id: str) -> SandboxOperation:
        async with self.rt.db.read() as session:
            operation = await visible_operation(session, caller, operation_id)
        if operation.status in FINISHED:
            raise DomainError(
                "INVALID_STATUS",
                f"Operation {operation_id} has already {operation.status}",
                {"status": operation.status},
            )
        task = self._tasks.get(operation_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:
            await self._change(operation_id, lambda op: _finish(op, "cancelled", None, "Cancelled"))
        return await get_operation(self.rt, caller, operation_id)

    async def shutdown(self) -> None:
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def reconcile(self) -> int:
        """At start: operations earlier processes of this replica left unfinished are failed with the reason."""
        owned = self.rt.cluster.earlier_incarnations(SandboxOperation.replica_id)
        return await self._fail_unfinished(owned, lambda _name: INTERRUPTED, announce=False)

    async def reap(self) -> int:
        """Fail the unfinished operations of replicas whose lease ran out, naming the replica."""
        gone = or_(SandboxOperation.replica_id.is_(None), SandboxOperation.replica_id.not_in(alive_replicas(self.rt)))
        return await self._fail_unfinished(
            gone, lambda name: f"The replica {name or '(unknown)'} running the operation stopped"
        )

    async def _fail_unfinished(
        self, which: ColumnElement[bool], reason: Callable[[str | None], str], announce: bool = True
    ) -> int:
        async with writing(self.rt) as session:
            stale = (
                await session.execute(
                    select(SandboxOperation, Replica.name)
                    .outerjoin(Replica, Replica.id == SandboxOperation.replica_id)
                    .where(SandboxOperation.status.not_in(FINISHED), which)
                    .with_for_update(skip_locked=True, of=SandboxOperation)
                )
            ).all()
            for operation, name in stale:
                _finish(operation, "failed", reason(name), "Interrupted")
        if announce:
            for operation, _name in stale:
                await self._announce(operation)
        return len(stale)


def _with_step(operation: SandboxOperation, index: int, **changes: Any) -> list[dict[str, Any]]:
    """The steps with one of them changed: a new list, so the JSON column is seen as changed and written."""
    return [{**step, **changes} if i == index else step for i, step in enumerate(operation.steps)]


def _begin_step(operation: SandboxOperation, index: int, step: Step, total: int) -> None:
    operation.status = step.status
    operation.steps = _with_step(operation, index, status="running", startTime=_iso_now())
    operation.progress = _progress(f"{step.name}…", index, total)


def _end_step(operation: SandboxOperation, index: int, total: int) -> None:
    operation.steps = _with_step(operation, index, status="completed", endTime=_iso_now())
    operation.progress = _progress(f"{operation.steps[index]['name']}: done", index + 1, total)


def _finish(operation: SandboxOperation, status: str, error: str | None, message: str) -> None:
    """End the operation; a step still running fails with it."""
    operation.status = status
    operation.error = error
    operation.end_time = utcnow()
    failed = {"status": "failed", "endTime": _iso_now(), "error": error or message}
    operation.steps = [{**step, **failed} if step.get("status") == "running" else step for step in operation.steps]
    done = sum(1 for step in operation.steps if step.get("status") == "completed")
    operation.progress = _progress(message, done, len(operation.steps))


async def get_operation(rt: Runtime, caller: Caller, operation_id: str) -> SandboxOperation:
    async with rt.db.read() as session:
        return await visible_operation(session, caller, operation_id)


async def list_project_operations(
    rt: Runtime, caller: Caller, project_id: str, statuses: Sequence[str]
) -> Sequence[SandboxOperation]:
    for status in statuses:
        if status not in OPERATION_STATUSES:
            raise invalid("status", f"must be one of {', '.join(OPERATION_STATUSES)}", "INVALID_VALUE")
    async with rt.db.read() as session:
        await visible_project(session, caller, project_id)
        query = select(SandboxOperation).where(SandboxOperation.project_id == project_id)
        if statuses:
            query = query.where(SandboxOperation.status.in_(statuses))
        return (await session.scalars(query.order_by(SandboxOperation.start_time.desc()))).all()


OPERATION_ORDER = Ordering("operations", ((SandboxOperation.start_time, True), (SandboxOperation.id, False)))


def operation_listing(caller: Caller, statuses: Sequence[str] = (), by_sandbox: bool = False) -> Listing:
    """Sandbox operations in the caller's projects, newest first, by project (or by sandbox)."""
    for status in statuses:
        if status not in OPERATION_STATUSES:
            raise invalid("status", f"must be one of {', '.join(OPERATION_STATUSES)}", "INVALID_VALUE")
    query = in_visible_project(select(SandboxOperation), SandboxOperation.project_id, caller)
    if statuses:
        query = query.where(SandboxOperation.status.in_(statuses))
    parent = SandboxOperation.sandbox_id if by_sandbox else SandboxOperation.project_id
    return Listing(query, OPERATION_ORDER, parent)


async def operations_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, SandboxOperation]:
    """The visible ones among several sandbox operations, in one query."""
    query = in_visible_project(
        select(SandboxOperation).where(SandboxOperation.id.in_(ids)), SandboxOperation.project_id, caller
    )
    async with rt.db.read() as session:
        return {operation.id: operation for operation in await session.scalars(query)}
