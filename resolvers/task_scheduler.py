"""The task scheduler: one FIFO queue per project, at most the project's `task_limit` running at once
across every replica.

The database is the queue: a task waits as `queued` and is claimed with a lease (`store.leases`: the
project's running tasks counted under its lock, the oldest queued ones taken with SKIP LOCKED), so a task is
either claimed or cancelled, never both, and by one replica only. The claiming replica renews the lease
while the task runs (`resolvers.cluster`); every write of the running task names the lease, so a replica
that lost it (paused past its expiry while another replica failed the task) writes nothing more and kills
the command. Waiting for a task's end and cancelling it work whichever replica runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import budgets, sandboxes, task_context, task_launch, telemetry
from resolvers.budgets import BudgetExceeded
from resolvers.cluster import is_lost_replica
from resolvers.errors import DomainError
from resolvers.runtime import Runtime
from resolvers.storage import full_storage_reason, until_stored
from resolvers.task_launch import Launch
from resolvers.task_runner import OutputBuffer, artifacts_between, snapshot
from resolvers.tx import writing
from sandbox._command import KILLED_EXIT_CODE, NOT_FOUND_EXIT_CODE
from sandbox.base import RunningCommand, SandboxUnavailable
from store.bus import SubscriberLagged, Subscription
from store.leases import Lease, LeaseLost, claim_queued_tasks, fenced_update, hold
from store.models import Sandbox, Task, utcnow

log = logging.getLogger("orchestrator.tasks")

INTERRUPTED = "The server stopped while the task was running"
FINISHED = ("completed", "failed", "cancelled")
RECHECK_SECONDS = 30.0
"""How often a waiter on a task's end reads its record again even without an announcement."""
FLUSH_SECONDS = 1.0
"""How often a running task's output so far is written to its record, for readers of the task."""
END_EVENTS = ("task_completed", "task_failed", "task_cancelled")


class LeaseGone(asyncio.CancelledError):
    """Raised into a runner whose lease another replica took over: it stops (killing its command) and
    writes nothing more. A CancelledError, so that every cancellation path of the runner takes it."""


def interrupted(task: Task) -> bool:
    """Whether the task died with its replica (a restart, or a replica that stopped renewing its lease)
    rather than ending on its own: a workflow step runs such a task again."""
    return task.status == "failed" and (task.error == INTERRUPTED or is_lost_replica(task.error))


async def task_event(
    rt: Runtime, subject: Task, type: str, *, lease: Lease | None = None, wait: bool = True, **fields: Any
) -> None:
    """Record a task's event; a workflow step's task events name their execution too. With `lease`, only
    while that lease holds the task."""
    if subject.execution_id:
        fields["executionId"] = subject.execution_id
    await rt.events.append(
        subject.project_id, "task", subject.id, type, {"taskId": subject.id, **fields}, lease=lease, wait=wait
    )


class TaskScheduler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._running: dict[str, asyncio.Task[None]] = {}
        self._project_of: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._wakers: set[asyncio.Task[None]] = set()
        self._finish_waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._stopping = False
        self._leases: dict[str, Lease] = {}
        self._decided: set[str] = set()
        """Tasks whose end this replica has written (fenced): their end events need no lease any more."""
        self._gone: set[str] = set()
        """Tasks whose lease another replica took over: their runners write nothing more."""
        self._aborts: dict[str, str] = {}
        """Why a runner was cancelled, when it is to fail rather than end `cancelled`."""

    def _lock(self, project_id: str) -> asyncio.Lock:
        return self._locks.setdefault(project_id, asyncio.Lock())

    async def wake(self, project_id: str) -> None:
        """Start the project's oldest queued tasks while it has free slots (counted across replicas)."""
        if self._stopping:
            return
        cluster = self.rt.cluster
        async with self._lock(project_id):
            async with writing(self.rt) as session:
                claimed = await claim_queued_tasks(
                    session, self.rt.db, project_id, cluster.replica_id, cluster.claim_seconds
                )
            for lease in claimed:
                self._leases[lease.row_id] = lease
                runner = asyncio.create_task(self._run(lease.row_id), name=f"task-{lease.row_id}")
                self._running[lease.row_id] = runner
                self._project_of[lease.row_id] = project_id

    def wake_soon(self, project_id: str) -> None:
        """Start the project's queued tasks in the background; on a full disk, once there is space again."""
        if self._stopping:
            return
        waker = asyncio.create_task(self._wake_when_stored(project_id), name=f"task-wake-{project_id}")
        self._wakers.add(waker)
        waker.add_done_callback(self._wakers.discard)

    async def _wake_when_stored(self, project_id: str) -> None:
        try:
            await self._stored(f"starting the queued tasks of project {project_id}", lambda: self.wake(project_id))
        except Exception:
            log.exception("could not start the queued tasks of project %s", project_id)

    async def _stored(self, what: str, write: Callable[[], Awaitable[Any]]) -> None:
        """Write now, or as soon as the disk has room again (given up only when the server stops)."""
        await until_stored(self.rt, what, write, give_up=lambda: self._stopping)

    async def _best_effort(self, write: Awaitable[Any]) -> None:
        """A write that may be skipped on a full disk (live output: the task's record keeps all of it)."""
        try:
            await write
        except Exception as error:
            if (reason := full_storage_reason(error)) is None:
                raise
            self.rt.storage.note_full(reason)

    async def wait_until_finished(self, task_id: str) -> Task | None:
        """The task once it has completed, failed or been cancelled (None if it was deleted meanwhile), on
        whichever replica it runs.

        The waiter registers (here, and on the project's live events for another replica's announcement)
        before reading the record again, so an end between the two is not missed."""
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finish_waiters.setdefault(task_id, set()).add(ended)
        subscription: Subscription | None = None
        try:
            while True:
                async with self.rt.db.read() as session:
                    task = await session.get(Task, task_id)
                if task is None or task.status in FINISHED:
                    return task
                if subscription is None and self.rt.cluster.shared:  # another replica may run it
                    subscription = self.rt.events.bus.subscribe(task.project_id, counted=False)
                    continue
                # The periodic look also notices a task deleted with its project while it waited.
                if not await self._end_announced(ended, subscription, task_id) and subscription is not None:
                    self.rt.events.bus.unsubscribe(subscription)
                    subscription = None
                if ended.done():
                    ended = asyncio.get_running_loop().create_future()
                    self._finish_waiters.setdefault(task_id, set()).add(ended)
        finally:
            if subscription is not None:
                self.rt.events.bus.unsubscribe(subscription)
            waiters = self._finish_waiters.get(task_id, set())
            waiters.discard(ended)
            if not waiters:
                self._finish_waiters.pop(task_id, None)

    @staticmethod
    async def _end_announced(ended: asyncio.Future[None], subscription: Subscription | None, task_id: str) -> bool:
        """Wait for the task's end (announced here or in its events) or RECHECK_SECONDS; False when the
        subscription fell behind and was dropped."""

        async def watch() -> None:
            if subscription is None:
                await asyncio.Event().wait()
            while subscription is not None:
                event = await subscription.next()
                if event.subject_type == "task" and event.subject_id == task_id and event.type in END_EVENTS:
                    return

        watcher = asyncio.create_task(watch())
        try:
            await asyncio.wait({ended, watcher}, timeout=RECHECK_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            outcome = (await asyncio.gather(watcher, return_exceptions=True))[0]
        return not isinstance(outcome, SubscriberLagged)

    def _announce_end(self, task_id: str) -> None:
        for ended in self._finish_waiters.pop(task_id, set()):
            if not ended.done():
                ended.set_result(None)

    async def cancel(self, task: Task) -> None:
        """A queued task never starts; a running one is killed and ends `cancelled`."""
        async with self._lock(task.project_id):
            async with writing(self.rt) as session:
                dropped = await session.execute(
                    update(Task)
                    .where(Task.id == task.id, Task.status == "queued")
                    .values(status="cancelled", end_time=utcnow())
                )
            runner = self._running.get(task.id)
        if dropped.rowcount == 1:  # type: ignore[attr-defined]
            try:
                await self._event(task, "task_cancelled", task=task.title)
            finally:
                self._announce_end(task.id)
            return
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            return
        elsewhere = await self._ask_owners_to_cancel(Task.id == task.id)
        if not elsewhere:
            raise DomainError("INVALID_STATUS", f"Task {task.id} is not queued or running", {"status": task.status})
        await self._await_ends(elsewhere)

    async def cancel_running(self, project_id: str) -> None:
        """Cancel the project's running tasks, here and on other replicas (its sandbox is going away); each
        ends `cancelled`."""
        runners = [runner for task_id, runner in self._running.items() if self._project_of.get(task_id) == project_id]
        for runner in runners:
            runner.cancel()
        elsewhere = await self._ask_owners_to_cancel(
            Task.project_id == project_id, Task.lease_owner != self.rt.cluster.replica_id
        )
        await asyncio.gather(*runners, return_exceptions=True)
        await self._await_ends(elsewhere)

    async def _ask_owners_to_cancel(self, *where: Any) -> list[str]:
        """Mark running tasks to cancel and tell the replicas running them; returns their ids."""
        async with writing(self.rt) as session:
            rows = (
                await session.execute(
                    update(Task)
                    .where(*where, Task.status == "running")
                    .values(cancel_requested=True)
                    .returning(Task.id, Task.lease_owner)
                )
            ).all()
        for task_id, owner in rows:
            if owner:
                await self.rt.cluster.ask_to_cancel(task_id, owner)
        return [task_id for task_id, _ in rows]

    async def _await_ends(self, task_ids: list[str]) -> None:
        """Wait (about one lease at most: a dead owner's tasks are failed by then) for tasks to end."""
        if task_ids:
            waits = asyncio.gather(*(self.wait_until_finished(task_id) for task_id in task_ids))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waits, self.rt.cluster.lease_seconds + 5)

    def cancel_here(self, task_id: str) -> None:
        """Another replica asked: cancel the task if it runs here."""
        runner = self._running.get(task_id)
        if runner is not None:
            runner.cancel()

    def abort(self, task_id: str, reason: str) -> None:
        """Stop a running task here and fail it with `reason` (its sandbox host went away, say)."""
        runner = self._running.get(task_id)
        if runner is not None:
            self._aborts[task_id] = reason
            runner.cancel()

    def running_here(self) -> dict[str, str]:
        """Task id → project id of the tasks this replica runs."""
        return dict(self._project_of)

    def leases(self) -> dict[str, Lease]:
        return dict(self._leases)

    def keep_leases(self, held_before: dict[str, Lease], renewed: dict[str, int], cancel: set[str]) -> int:
        """After a renewal: stop the runners whose lease did not renew (another replica took the task over),
        cancel those another replica asked to cancel. Returns how many leases were lost."""
        lost = 0
        for task_id, lease in held_before.items():
            if self._leases.get(task_id) != lease or task_id in self._decided:
                continue  # ended meanwhile
            if renewed.get(task_id) != lease.fence:
                lost += 1
                log.warning("task %s: this replica's lease was lost; stopping it without writing more", task_id)
                self._gone.add(task_id)
                self.cancel_here(task_id)
            elif task_id in cancel:
                self.cancel_here(task_id)
        return lost

    async def _run(self, task_id: str) -> None:
        project_id = self._project_of[task_id]
        started = time.monotonic()
        buffer = OutputBuffer()
        task: Task | None = None
        launch: Launch | None = None
        span = contextlib.ExitStack()
        try:
            async with self.rt.db.read() as session:
                task = await session.get(Task, task_id)
                record = await session.scalar(select(Sandbox).where(Sandbox.project_id == project_id))
            if task is None:
                return
            span.enter_context(telemetry.task_span(task.trace_context, task.id, self.rt.cluster.replica_id))
            record = await self._begin(task, record)
            launch = await task_launch.prepare(
                self.rt, task, record, partial(self._live_event, task), self._best_effort, partial(self._fence, task_id)
            )
            buffer.masker = launch.masker
            before = await asyncio.to_thread(snapshot, launch.folder)
            timeout = self.rt.settings.task_timeout_seconds
            with sandboxes.backend_errors(record.id):
                command = await self.rt.backend.run(record.id, launch.argv, env=launch.env, timeout=timeout)
            exit_code = await self._stream(task, command, buffer, launch)
            artifacts = artifacts_between(before, await asyncio.to_thread(snapshot, launch.folder))
            for artifact in artifacts:
                await self._stored(
                    f"an artifact of task {task_id}", partial(self._event, task, "artifact", artifact=artifact)
                )
            error = launch.failure()
            if exit_code != 0:
                error = error or _failure(launch.program, exit_code, command.timed_out, timeout, buffer)
            await self._end(task, started, buffer, launch, exit_code=exit_code, artifacts=artifacts, error=error)
        except asyncio.CancelledError:
            error = self._aborts.pop(task_id, None) or (INTERRUPTED if self._stopping else None)
            status = "failed" if error else "cancelled"
            await self._end(task, started, buffer, launch, status=status, error=error)
        except BudgetExceeded as refusal:
            await self._end(task, started, buffer, launch, status="cancelled", error=refusal.message)
        except SandboxUnavailable as failure:  # its sandbox host stopped answering mid-run
            await self._end(task, started, buffer, launch, error=str(failure))
        except DomainError as failure:
            await self._end(task, started, buffer, launch, error=failure.message)
        except Exception as failure:  # record any surprise on the task instead of leaving it running
            if (reason := full_storage_reason(failure)) is not None:
                await self._end(task, started, buffer, launch, error=f"The server's storage was full: {reason}")
            else:
                log.exception("task %s failed", task_id)
                await self._end(task, started, buffer, launch, error=f"Unexpected error: {failure}")
        finally:
            span.close()
            self._running.pop(task_id, None)
            self._project_of.pop(task_id, None)
            self._forget_lease(task_id)
            self.wake_soon(project_id)

    async def _begin(self, task: Task, record: Sandbox | None) -> Sandbox:
        """Announce the task's start; DomainError when its project has no sandbox, BudgetExceeded when a
        budget over it is spent."""
        what = f"the start of task {task.id}"
        await self._stored(what, lambda: self._event(task, "task_started", task=task.title))
        await self._stored(what, lambda: self._step_progress(task, "running", 0))
        if record is None:
            raise DomainError("CONTAINER_NOT_FOUND", f"Project {task.project_id} has no sandbox")
        await budgets.refuse_if_spent(self.rt, task.project_id, task.task_type, task.id)
        await sandboxes.ensure_running(self.rt, record)
        return record

    async def _stream(self, task: Task, command: RunningCommand, buffer: OutputBuffer, launch: Launch) -> int:
        """Announce each chunk as it arrives (an agent's as its readable steps, with its typed events); keep the
        output so far on the record about once a second."""
        flushed = time.monotonic()
        try:
            async for chunk in command.output():
                text = buffer.add(chunk.stream, await launch.feed(chunk.stream, chunk.data))
                if text:
                    await self._best_effort(self._event(task, "output", output=text))
                if time.monotonic() - flushed > FLUSH_SECONDS:
                    flushed = time.monotonic()
                    await self._best_effort(self._save(task.id, terminal_output=buffer.kept()))
            if held := buffer.add("stdout", await launch.finish()) + buffer.finish():
                await self._best_effort(self._event(task, "output", output=held))
            return await command.wait()
        except (asyncio.CancelledError, BudgetExceeded):
            await asyncio.shield(command.kill())
            raise

    async def _save(self, task_id: str, **values: Any) -> None:
        """Write the running task's record, only while this replica's lease holds it; its end (a final
        status) also lets the lease go."""
        lease = self._leases.get(task_id)
        if lease is None or task_id in self._decided:
            async with writing(self.rt) as session:
                await session.execute(update(Task).where(Task.id == task_id).values(**values))
            return
        final = values.get("status") in FINISHED
        if final:
            values = {**values, "lease_owner": None, "lease_expires_at": None}
        try:
            async with writing(self.rt) as session:
                await fenced_update(session, self.rt.db, lease, **values)
        except LeaseLost:
            self._lose(task_id)
        if final:
            self._decided.add(task_id)

    async def _event(self, subject: Task, type: str, **fields: Any) -> None:
        """A running task's event, only while this replica's lease holds it. Output is not waited for: the
        log writes it in order, batched with what follows."""
        lease = None if subject.id in self._decided else self._leases.get(subject.id)
        try:
            await task_event(self.rt, subject, type, lease=lease, wait=type != "output", **fields)
        except LeaseLost:
            self._lose(subject.id)

    async def _fence(self, task_id: str, session: AsyncSession) -> None:
        """Inside a write about the running task (an agent's steps, usage and session): refused once this
        replica's lease on the task is lost."""
        lease = self._leases.get(task_id)
        if lease is None or task_id in self._decided:
            return
        try:
            await hold(session, self.rt.db, lease)
        except LeaseLost:
            self._lose(task_id)

    def _lose(self, task_id: str) -> None:
        """Another replica took the task over: stop here, writing nothing more."""
        if task_id not in self._gone:
            log.warning("task %s: its lease is lost (paused past it?); its late writes are refused", task_id)
            self._gone.add(task_id)
        raise LeaseGone

    def _forget_lease(self, task_id: str) -> None:
        self._leases.pop(task_id, None)
        self._decided.discard(task_id)
        self._gone.discard(task_id)
        self._aborts.pop(task_id, None)

    async def _live_event(self, subject: Task, type: str, **fields: Any) -> None:
        """An event while the task runs, skipped on a full disk (as live output is)."""
        await self._best_effort(self._event(subject, type, **fields))

    async def _step_progress(self, task: Task, status: str, progress: int) -> None:
        """For a workflow-step task: its step's state, in the SDK's words (`running`, not `in-progress`)."""
        if not task.is_adhoc:
            await self._event(
                task, "step_progress", stepId=task.step_id, step=task.title, status=status, progress=progress
            )

    async def _end(
        self, task: Task | None, started: float, buffer: OutputBuffer, launch: Launch | None, **outcome: Any
    ) -> None:
        """Record the task's end; a failure to (the server stopping on a full disk) is logged, never raised
        out of the task's runner, and the next start fails the task as interrupted.

        A cancellation while the end is written (the host monitor aborting a task whose runner is already
        ending it, a shutdown) waits for the end: a runner that left its task `running` would stop renewing
        the lease, and the task would be failed later for the wrong reason."""
        ending = asyncio.ensure_future(self._record_end(task, started, buffer, launch, **outcome))
        while not ending.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(ending)

    async def _record_end(
        self, task: Task | None, started: float, buffer: OutputBuffer, launch: Launch | None, **outcome: Any
    ) -> None:
        if task is not None and task.id in self._gone:
            return  # another replica decided this task's end
        try:
            await self._finish(task, started, buffer, launch, **outcome)
        except LeaseGone:
            return
        except Exception:
            log.exception("could not record the end of task %s", task.id if task else "?")

    async def _finish(
        self,
        task: Task | None,
        started: float,
        buffer: OutputBuffer,
        launch: Launch | None,
        *,
        status: str | None = None,
        error: str | None = None,
        exit_code: int | None = None,
        artifacts: list[dict[str, Any]] | None = None,
    ) -> None:
        if task is None:
            return
        status = status or ("failed" if error else "completed")
        buffer.finish()
        output = buffer.kept()
        error = buffer.masker.mask(error) if error else error
        duration = round((time.monotonic() - started) * 1000)
        ended = utcnow()
        what = f"the end of task {task.id}"
        # Its output events are appended without waiting, fenced by the lease that the end lets go: they must
        # be in the log before it, or they would be refused as late writes.
        await self.rt.events.flush()
        if launch is not None:
            await self._stored(what, lambda: launch.settle(self.rt, task, self._stopping))
        await self._stored(
            what,
            lambda: self._save(
                task.id,
                status=status,
                error=error,
                result=output if status == "completed" else None,
                terminal_output=output,
                exit_code=exit_code,
                artifacts=artifacts or [],
                end_time=ended,
                duration=duration,
            ),
        )
        try:
            await self._stored(
                what, lambda: self._step_progress(task, "completed" if status == "completed" else "failed", 100)
            )
            if status == "completed":
                await self._stored(
                    what, lambda: self._event(task, "task_completed", task=task.title, output=output, duration=duration)
                )
                await task_context.auto_capture(self.rt, task, output)
            elif status == "failed":
                await self._stored(
                    what, lambda: self._event(task, "task_failed", task=task.title, error=error, output=output)
                )
            else:
                reason = {"error": error} if error else {}
                await self._stored(what, lambda: self._event(task, "task_cancelled", task=task.title, **reason))
        finally:
            self._announce_end(task.id)  # after its events, so a waiting execution's events follow them

    async def announce_abandoned(self, task: Task) -> None:
        """The events of a task that another replica failed when its lease ran out (`resolvers.cluster`)."""
        error = task.error or INTERRUPTED
        await self._step_progress(task, "failed", 100)
        await self._event(task, "task_failed", task=task.title, error=error, output=task.terminal_output or "")
        self._announce_end(task.id)
        self.wake_soon(task.project_id)

    async def reconcile(self) -> tuple[int, int]:
        """At start: tasks left running by earlier processes of this replica are failed with the reason
        (those of other replicas are theirs until their leases run out); queued ones are scheduled again."""
        async with writing(self.rt) as session:
            failed = await session.execute(
                update(Task)
                .where(Task.status == "running", self.rt.cluster.earlier_incarnations(Task.lease_owner))
                .values(status="failed", error=INTERRUPTED, end_time=utcnow(), lease_owner=None, lease_expires_at=None)
            )
            projects = (
                await session.execute(
                    select(Task.project_id, func.count()).where(Task.status == "queued").group_by(Task.project_id)
                )
            ).all()
        for project_id, _count in projects:
            await self.wake(project_id)
        return failed.rowcount, sum(count for _, count in projects)  # type: ignore[attr-defined]

    async def shutdown(self) -> None:
        self._stopping = True
        for waker in list(self._wakers):
            waker.cancel()
        runners = list(self._running.values())
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, *self._wakers, return_exceptions=True)


def _failure(program: str, exit_code: int, timed_out: bool, timeout: int, buffer: OutputBuffer) -> str:
    if timed_out:
        return f"The task timed out after {timeout} s and was killed"
    if exit_code == NOT_FOUND_EXIT_CODE:
        return f"{program}: command not found in the sandbox"
    if exit_code == KILLED_EXIT_CODE:
        return "The task's process was killed"
    tail = buffer.stderr_tail.strip()
    return f"The command exited with code {exit_code}" + (f": {tail}" if tail else "")
