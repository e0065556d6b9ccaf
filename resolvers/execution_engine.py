"""The execution engine: runs a workflow execution's phases in definition order and their steps in order,
each executable step as a task in the project's sandbox, waiting for it before the next.

One driver (an asyncio task) per running execution, on the replica that holds the execution's lease
(`store.leases`); every write of a driver names that lease, so a driver that lost it (its replica paused
past the lease while another replica took over) writes nothing. Every change of an execution's state
happens under that execution's lock, which holds across replicas (`store.locks`), so the driver and the
pause, resume and cancel requests never interleave, whichever replicas they reach. Pause takes effect
before the next step; cancel cancels the step's task. A driver stopped with its replica leaves its
execution `running` and lets its lease go; another replica (or the next start) drives it on from the step
it was on, as does any replica once the lease of a replica that died runs out.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import events
from resolvers.errors import DomainError
from resolvers.execution_plan import (
    EXECUTION_ENDS,
    all_steps,
    begin,
    end,
    is_executable,
    mutable,
    next_phase,
    next_step_of,
    phase_summary,
    step_work,
    tail,
)
from resolvers.runtime import Runtime
from resolvers.storage import full_storage_reason, until_stored
from resolvers.task_scheduler import FINISHED as TASK_ENDS
from resolvers.task_scheduler import interrupted
from resolvers.tasks import enqueue
from resolvers.tx import writing
from store import leases
from store.leases import Lease, LeaseLost, fenced_update
from store.locks import Namespace
from store.models import Sandbox, Task, WorkflowExecution, new_id, utcnow

log = logging.getLogger("orchestrator.executions")

ACTIVE = ("initializing", "running")
CANCELLED_STEP = "Cancelled with the execution"
_DRIVING: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("driving", default=None)
"""Inside a driver: the lease it drives under (requests change executions without one)."""


class ExecutionEngine:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._leases: dict[str, Lease] = {}

    @asynccontextmanager
    async def lock(self, execution_id: str) -> AsyncIterator[None]:
        """The execution's lock, across replicas; its in-process part is kept only while someone holds or
        waits for it, so idle ones cost nothing."""
        local = self._locks.get(execution_id)
        if local is None:
            local = self._locks[execution_id] = asyncio.Lock()
        async with local, self.rt.locks.hold(Namespace.EXECUTION, execution_id):
            yield

    def drive(self, execution_id: str, lease: Lease | None = None) -> None:
        """Run the execution on, unless a driver already does (here, or on the replica whose lease holds
        it); call with its lock held."""
        if execution_id in self._drivers:
            return
        self._drivers[execution_id] = asyncio.create_task(
            self._drive(execution_id, lease), name=f"execution-{execution_id}"
        )

    def _driving(self, execution_id: str) -> Lease | None:
        lease = _DRIVING.get()
        return lease if lease is not None and lease.row_id == execution_id else None

    async def event(self, execution: WorkflowExecution, type: str, **fields: Any) -> None:
        await events.record(
            self.rt,
            execution.project_id,
            "execution",
            execution.id,
            type,
            lease=self._driving(execution.id),
            executionId=execution.id,
            workflowId=execution.workflow_id,
            **fields,
        )

    async def _load(self, execution_id: str) -> WorkflowExecution | None:
        async with self.rt.db.read() as session:
            return await session.get(WorkflowExecution, execution_id)

    async def save(self, execution: WorkflowExecution, **values: Any) -> None:
        """Store changed columns (a vanished execution, deleted with its project, stays vanished); a
        driver's writes only while its lease holds the execution (LeaseLost otherwise)."""
        async with writing(self.rt) as session:
            await self._write(session, execution, values)
        for name, value in values.items():
            setattr(execution, name, value)

    async def _write(self, session: AsyncSession, execution: WorkflowExecution, values: dict[str, Any]) -> None:
        if (lease := self._driving(execution.id)) is not None:
            await fenced_update(session, self.rt.db, lease, **values)
        else:
            changed = update(WorkflowExecution).where(WorkflowExecution.id == execution.id).values(**values)
            await session.execute(changed)

    async def _claim(self, execution_id: str) -> Lease | None:
        cluster = self.rt.cluster
        async with writing(self.rt) as session:
            return await leases.claim_execution(
                session, self.rt.db, execution_id, cluster.replica_id, cluster.claim_seconds
            )

    async def _let_go(self, execution_id: str) -> None:
        """Stop driving: let the lease go, so that whichever replica resumes the execution can drive it."""
        self._drivers.pop(execution_id, None)
        lease = self._leases.pop(execution_id, None)
        if lease is not None and self.rt.cluster.shared:  # with SQLite, the one replica claims it again
            async with writing(self.rt) as session:
                await leases.release(session, self.rt.db, lease)

    async def _drive(self, execution_id: str, lease: Lease | None) -> None:
        try:
            lease = lease or await self._claim(execution_id)
            if lease is None:
                return  # another replica's lease holds it: that replica drives it
            self._leases[execution_id] = lease
            _DRIVING.set(lease)
            while True:
                async with self.lock(execution_id):
                    task_id = await self._advance(execution_id)
                    if task_id is None:
                        # Leave under the lock, so a resume that comes next starts a new driver.
                        await self._let_go(execution_id)
                        return
                task = await self.rt.tasks.wait_until_finished(task_id)
                async with self.lock(execution_id):
                    await self._settle(execution_id, task_id, task)
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            log.warning("execution %s: this replica's lease was lost; another replica drives it", execution_id)
        except Exception as failure:  # fail the execution with the surprise instead of leaving it running
            reason = full_storage_reason(failure)
            if reason is None:
                log.exception("execution %s failed", execution_id)
            error = f"The server's storage was full: {reason}" if reason else f"Unexpected error: {failure}"
            try:  # on a full disk, as soon as there is space again
                await until_stored(
                    self.rt,
                    f"the failure of execution {execution_id}",
                    partial(self._fail_if_running, execution_id, error),
                    give_up=lambda: False,
                )
            except Exception:
                log.exception("could not record the failure of execution %s", execution_id)
        finally:
            if self._drivers.get(execution_id) is asyncio.current_task():
                self._drivers.pop(execution_id)
                if (held := self._leases.pop(execution_id, None)) is not None and self.rt.cluster.shared:
                    await asyncio.shield(self._release_quietly(held))

    async def _release_quietly(self, lease: Lease) -> None:
        try:
            async with writing(self.rt) as session:
                await leases.release(session, self.rt.db, lease)
        except Exception as error:  # noqa: BLE001 - it runs out by itself
            log.warning("could not let go of the lease of execution %s: %s", lease.row_id, error)

    async def _fail_if_running(self, execution_id: str, error: str) -> None:
        async with self.lock(execution_id):
            execution = await self._load(execution_id)
            if execution is not None and execution.status not in EXECUTION_ENDS:
                await self._fail(execution, mutable(execution.phases), error)

    async def _advance(self, execution_id: str) -> str | None:
        """Take the execution to its next step: returns the task to wait for, or None when the driver stops
        (the execution paused, ended, or vanished with its project)."""
        while True:
            execution = await self._load(execution_id)
            if execution is None or execution.status not in ACTIVE:
                return None
            if execution.status == "initializing":
                await self.save(execution, status="running")
                await self.event(execution, "workflow_execution_started")
            phases = mutable(execution.phases)
            phase_index = next_phase(phases)
            if phase_index is None:
                await self._complete(execution, phases)
                return None
            phase = phases[phase_index]
            if phase["status"] == "pending":
                begin(phase)
                await self.save(execution, phases=phases, current_phase=phase_index)
                await self.event(execution, "workflow_phase_started", phaseId=phase["phaseId"], phase=phase["name"])
            step_index = next_step_of(phase)
            if step_index is None:  # a phase without steps
                await self._close_phase_if_done(execution, phases, phase_index)
                continue
            step = phase["steps"][step_index]
            phase["currentStep"] = step_index
            if step["status"] == "running" and step.get("taskId"):
                return step["taskId"]  # a step the previous process was waiting on
            if not is_executable(execution.definition["phases"][phase_index]["steps"][step_index]):
                end(step, "skipped")
                await self._close_phase_if_done(execution, phases, phase_index)
                continue
            work = step_work(execution.definition, phase_index, step_index, execution.input_parameters)
            # The step names its task in the transaction that stores the task: no reader sees a step whose
            # task is missing, and no task exists that no step knows.
            task = Task(
                id=new_id(),
                step_id=step["stepId"],
                title=work.title,
                prompt=work.prompt,
                parameters=execution.input_parameters,
                is_adhoc=False,
                execution_id=execution.id,
            )
            begin(step)
            step["taskId"] = task.id
            try:
                await self._queue(execution, task, work.task_type, phases=phases, current_phase=phase_index)
            except DomainError as refusal:
                step["taskId"] = None
                end(step, "failed", error=refusal.message)
                await self._fail(execution, phases, f"Step '{step['name']}' could not start: {refusal.message}")
                return None
            return task.id

    async def _queue(self, execution: WorkflowExecution, task: Task, kind: str, **values: Any) -> None:
        """Queue a step's task, storing the execution's changed columns `values` in the same transaction."""
        async with self.rt.db.read() as session:
            record = await session.scalar(select(Sandbox).where(Sandbox.project_id == execution.project_id))
        await enqueue(
            self.rt,
            execution.project_id,
            record,
            task,
            kind,
            execution.user_id,
            alongside=lambda session: self._write(session, execution, values),
        )
        for name, value in values.items():
            setattr(execution, name, value)

    async def _settle(self, execution_id: str, task_id: str, task: Task | None) -> None:
        """Record how the step's task ended. A step whose task the server's stop interrupted, or whose task
        was never stored (a crash in between), runs again."""
        execution = await self._load(execution_id)
        if execution is None or execution.status in EXECUTION_ENDS:
            return
        phases = mutable(execution.phases)
        phase_index, step = _step_of_task(phases, task_id)
        if step is None:
            return
        if task is None or interrupted(task):
            step["status"], step["taskId"] = "pending", None
            await self.save(execution, phases=phases)
            return
        if task is not None and task.status == "completed":
            end(step, "completed", output=tail(task.result))
            await self._close_phase_if_done(execution, phases, phase_index)
            return
        error = task.error or "The step's task was cancelled"
        end(step, "failed", output=tail(task.terminal_output), error=error)
        await self._fail(execution, phases, f"Step '{step['name']}' failed: {error}")

    async def _close_phase_if_done(
        self, execution: WorkflowExecution, phases: list[dict[str, Any]], index: int
    ) -> None:
        phase = phases[index]
        if any(step["status"] in ("pending", "running") for step in phase["steps"]):
            await self.save(execution, phases=phases)
            return
        summary = phase_summary(phase)
        end(phase, "completed", outputSummary=summary)
        await self.save(execution, phases=phases)
        await self.event(
            execution, "workflow_phase_completed", phaseId=phase["phaseId"], phase=phase["name"], output=summary
        )

    async def _complete(self, execution: WorkflowExecution, phases: list[dict[str, Any]]) -> None:
        steps = all_steps(phases)
        done = sum(1 for step in steps if step["status"] == "completed")
        output = f"{done} of {len(steps)} steps completed, {len(steps) - done} skipped"
        duration = _duration(execution)
        await self.save(execution, status="completed", phases=phases, end_time=utcnow(), duration=duration)
        await self.event(execution, "workflow_execution_completed", output=output, duration=duration)

    async def _fail(self, execution: WorkflowExecution, phases: list[dict[str, Any]], error: str) -> None:
        for phase in phases:
            if phase["status"] == "running":
                end(phase, "failed", error=error, outputSummary=phase_summary(phase))
        duration = _duration(execution)
        await self.save(execution, status="failed", phases=phases, error=error, end_time=utcnow(), duration=duration)
        await self.event(execution, "workflow_execution_failed", error=error)

    async def cancel(self, execution: WorkflowExecution) -> None:
        """Mark the execution cancelled, close its running step and phase, then cancel the step's task."""
        phases = mutable(execution.phases)
        running_task = None
        for phase in phases:
            for step in phase["steps"]:
                if step["status"] == "running":
                    running_task = step.get("taskId")
                    end(step, "failed", error=CANCELLED_STEP)
            if phase["status"] == "running":
                end(phase, "failed", error=CANCELLED_STEP, outputSummary=phase_summary(phase))
        duration = _duration(execution)
        await self.save(execution, status="cancelled", phases=phases, end_time=utcnow(), duration=duration)
        await self.event(execution, "workflow_execution_cancelled")
        if running_task:
            async with self.rt.db.read() as session:
                task = await session.get(Task, running_task)
            if task is not None and task.status not in TASK_ENDS:
                await self.rt.tasks.cancel(task)

    async def reconcile(self) -> int:
        """At start: take over the executions earlier processes of this replica drove, then drive on every
        active execution that no live replica holds."""
        async with writing(self.rt) as session:
            await session.execute(
                update(WorkflowExecution)
                .where(self.rt.cluster.earlier_incarnations(WorkflowExecution.lease_owner))
                .values(lease_owner=None, lease_expires_at=None)
            )
        return await self.adopt_orphans()

    async def adopt_orphans(self) -> int:
        """Claim and drive active executions that no live lease holds (their replica died or stopped)."""
        cluster = self.rt.cluster
        async with writing(self.rt) as session:
            candidates = [i for i in await leases.orphaned_executions(session, self.rt.db) if i not in self._drivers]
            claimed = [
                lease
                for execution_id in candidates
                if (
                    lease := await leases.claim_execution(
                        session, self.rt.db, execution_id, cluster.replica_id, cluster.claim_seconds
                    )
                )
                is not None
            ]
        for lease in claimed:
            log.info("driving on execution %s, which no live replica held", lease.row_id)
            self.drive(lease.row_id, lease)
        cluster.executions_adopted += len(claimed)
        return len(claimed)

    def leases(self) -> dict[str, Lease]:
        return dict(self._leases)

    def keep_leases(self, held_before: dict[str, Lease], renewed: dict[str, int]) -> int:
        """After a renewal: stop the drivers whose lease did not renew (another replica drives on)."""
        lost = 0
        for execution_id, lease in held_before.items():
            if self._leases.get(execution_id) != lease or renewed.get(execution_id) == lease.fence:
                continue
            lost += 1
            log.warning("execution %s: this replica's lease was lost; stopping its driver", execution_id)
            self._leases.pop(execution_id, None)
            driver = self._drivers.pop(execution_id, None)
            if driver is not None:
                driver.cancel()
        return lost

    async def shutdown(self) -> None:
        """Stop the drivers; their executions stay `running`, and their leases go, so that another replica
        (or the next start) continues them at once."""
        drivers = list(self._drivers.values())
        for driver in drivers:
            driver.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)


def _step_of_task(phases: list[dict[str, Any]], task_id: str) -> tuple[int, dict[str, Any] | None]:
    for index, phase in enumerate(phases):
        for step in phase["steps"]:
            if step.get("taskId") == task_id and step["status"] == "running":
                return index, step
    return 0, None


def _duration(execution: WorkflowExecution) -> int | None:
    if execution.start_time is None:
        return None
    return round((utcnow() - execution.start_time).total_seconds() * 1000)
