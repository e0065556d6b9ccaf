"""The task scheduler: one FIFO queue per project, at most the project's `task_limit` running at once.

The database is the queue: a task waits as `queued` and is claimed by a conditional update, under a
per-project lock that cancelling also takes, so a task is either claimed or cancelled, never both.
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

from resolvers import budgets, events, sandboxes, task_context, task_launch
from resolvers.budgets import BudgetExceeded
from resolvers.errors import DomainError
from resolvers.runtime import Runtime
from resolvers.storage import full_storage_reason, until_stored
from resolvers.task_launch import Launch
from resolvers.task_runner import OutputBuffer, artifacts_between, snapshot
from resolvers.tx import writing
from sandbox._command import KILLED_EXIT_CODE, NOT_FOUND_EXIT_CODE
from sandbox.base import RunningCommand
from store.models import Project, Sandbox, Task, utcnow

log = logging.getLogger("orchestrator.tasks")

INTERRUPTED = "The server stopped while the task was running"
FINISHED = ("completed", "failed", "cancelled")
RECHECK_SECONDS = 30.0
"""How often a waiter on a task's end reads its record again even without an announcement."""
FLUSH_SECONDS = 1.0
"""How often a running task's output so far is written to its record, for readers of the task."""


async def task_event(rt: Runtime, subject: Task, type: str, **fields: Any) -> None:
    """Record a task's event; a workflow step's task events name their execution too."""
    if subject.execution_id:
        fields["executionId"] = subject.execution_id
    await events.record(rt, subject.project_id, "task", subject.id, type, taskId=subject.id, **fields)


class TaskScheduler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._running: dict[str, asyncio.Task[None]] = {}
        self._project_of: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._wakers: set[asyncio.Task[None]] = set()
        self._finish_waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._stopping = False

    def _lock(self, project_id: str) -> asyncio.Lock:
        return self._locks.setdefault(project_id, asyncio.Lock())

    def running_in(self, project_id: str) -> int:
        return sum(1 for task_id in self._running if self._project_of.get(task_id) == project_id)

    async def wake(self, project_id: str) -> None:
        """Start the project's oldest queued tasks while it has free slots."""
        if self._stopping:
            return
        async with self._lock(project_id):
            async with self.rt.db.read() as session:
                limit = await session.scalar(select(Project.task_limit).where(Project.id == project_id))
                free = (limit or 0) - self.running_in(project_id)
                if free <= 0:
                    return
                waiting = (
                    await session.scalars(
                        select(Task.id)
                        .where(Task.project_id == project_id, Task.status == "queued")
                        .order_by(Task.created_at, Task.id)
                        .limit(free)
                    )
                ).all()
            for task_id in waiting:
                async with writing(self.rt) as session:
                    claimed = await session.execute(
                        update(Task)
                        .where(Task.id == task_id, Task.status == "queued")
                        .values(status="running", start_time=utcnow())
                    )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                runner = asyncio.create_task(self._run(task_id), name=f"task-{task_id}")
                self._running[task_id] = runner
                self._project_of[task_id] = project_id

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
        """The task once it has completed, failed or been cancelled (None if it was deleted meanwhile).

        The waiter registers before reading the record, so an end between the two is not missed."""
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finish_waiters.setdefault(task_id, set()).add(ended)
        try:
            while True:
                async with self.rt.db.read() as session:
                    task = await session.get(Task, task_id)
                if task is None or task.status in FINISHED:
                    return task
                # The end is announced by this process; the periodic look also notices a task deleted
                # with its project while it waited, which no announcement covers.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(ended), RECHECK_SECONDS)
                if ended.done():
                    ended = asyncio.get_running_loop().create_future()
                    self._finish_waiters.setdefault(task_id, set()).add(ended)
        finally:
            waiters = self._finish_waiters.get(task_id, set())
            waiters.discard(ended)
            if not waiters:
                self._finish_waiters.pop(task_id, None)

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
        if runner is None:
            raise DomainError("INVALID_STATUS", f"Task {task.id} is not queued or running", {"status": task.status})
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    async def cancel_running(self, project_id: str) -> None:
        """Cancel the project's running tasks (its sandbox is going away); each ends `cancelled`."""
        runners = [runner for task_id, runner in self._running.items() if self._project_of.get(task_id) == project_id]
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)

    async def _run(self, task_id: str) -> None:
        project_id = self._project_of[task_id]
        started = time.monotonic()
        buffer = OutputBuffer()
        task: Task | None = None
        launch: Launch | None = None
        try:
            async with self.rt.db.read() as session:
                task = await session.get(Task, task_id)
                record = await session.scalar(select(Sandbox).where(Sandbox.project_id == project_id))
            if task is None:
                return
            started_task = task
            await self._stored(
                f"the start of task {task_id}",
                lambda: self._event(started_task, "task_started", task=started_task.title),
            )
            await self._stored(f"the start of task {task_id}", lambda: self._step_progress(started_task, "running", 0))
            if record is None:
                raise DomainError("CONTAINER_NOT_FOUND", f"Project {project_id} has no sandbox")
            await budgets.refuse_if_spent(self.rt, project_id, task.task_type, task.id)
            await sandboxes.ensure_running(self.rt, record)
            launch = await task_launch.prepare(
                self.rt, task, record, partial(self._live_event, task), self._best_effort
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
            error = INTERRUPTED if self._stopping else None
            status = "failed" if self._stopping else "cancelled"
            await asyncio.shield(self._end(task, started, buffer, launch, status=status, error=error))
        except BudgetExceeded as refusal:
            await self._end(task, started, buffer, launch, status="cancelled", error=refusal.message)
        except DomainError as failure:
            await self._end(task, started, buffer, launch, error=failure.message)
        except Exception as failure:  # record any surprise on the task instead of leaving it running
            if (reason := full_storage_reason(failure)) is not None:
                await self._end(task, started, buffer, launch, error=f"The server's storage was full: {reason}")
            else:
                log.exception("task %s failed", task_id)
                await self._end(task, started, buffer, launch, error=f"Unexpected error: {failure}")
        finally:
            self._running.pop(task_id, None)
            self._project_of.pop(task_id, None)
            self.wake_soon(project_id)

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
        async with writing(self.rt) as session:
            await session.execute(update(Task).where(Task.id == task_id).values(**values))

    async def _event(self, subject: Task, type: str, **fields: Any) -> None:
        await task_event(self.rt, subject, type, **fields)

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
        out of the task's runner, and the next start fails the task as interrupted."""
        try:
            await self._finish(task, started, buffer, launch, **outcome)
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

    async def reconcile(self) -> tuple[int, int]:
        """At start: tasks left running are failed with the reason; queued ones are scheduled again."""
        async with writing(self.rt) as session:
            failed = await session.execute(
                update(Task)
                .where(Task.status == "running")
                .values(status="failed", error=INTERRUPTED, end_time=utcnow())
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
