"""A `RunningCommand` shared by the backends: a producer feeds output into a queue, a signaller stops it.

Each backend supplies two coroutines: `produce(emit)` reads the process's output, calls `emit` for every
chunk as it arrives and returns the exit code; `signal(name)` sends a signal ("TERM" or "KILL") to the
process and all its children. Everything else (the queue, the timeout, the TERM-then-KILL escalation
and the -1 exit code of a killed command) lives here once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from sandbox.base import OutputChunk, RunningCommand, SandboxError

Emit = Callable[[str, bytes], None]
Producer = Callable[[Emit], Awaitable[int]]
Signaller = Callable[[str], Awaitable[None]]

KILLED_EXIT_CODE = -1
NOT_FOUND_EXIT_CODE = 127


class StreamedCommand(RunningCommand):
    """A started command whose output is read by a background task as the process writes it.

    The output queue is unbounded on purpose: a caller may call `wait()` without reading `output()`,
    and a bounded queue would then stall the process on a full pipe forever.
    """

    def __init__(
        self,
        produce: Producer,
        signal: Signaller,
        *,
        timeout: float | None = None,
        kill_grace: float = 0.5,
        on_exit: Callable[[StreamedCommand], None] | None = None,
    ) -> None:
        self._queue: asyncio.Queue[OutputChunk | None] = asyncio.Queue()
        self._signal = signal
        self._kill_grace = kill_grace
        self._killed = False
        self._timed_out = False
        self._kill_task: asyncio.Task[None] | None = None
        self._work = asyncio.ensure_future(produce(self._emit))
        self._work.add_done_callback(self._finished)
        self._on_exit = on_exit
        self._timer = asyncio.get_running_loop().call_later(timeout, self._expire) if timeout is not None else None

    def _emit(self, stream: str, data: bytes) -> None:
        if data:
            self._queue.put_nowait(OutputChunk(stream, data))

    def _finished(self, work: asyncio.Future[int]) -> None:
        if not work.cancelled():
            work.exception()  # marks it retrieved: `wait()` reports it, asyncio need not log it
        self._queue.put_nowait(None)
        if self._timer is not None:
            self._timer.cancel()
        if self._on_exit is not None:
            self._on_exit(self)

    def _expire(self) -> None:
        if not self._work.done():
            self._timed_out = True
            self._kill_task = asyncio.ensure_future(self.kill())

    @property
    def done(self) -> bool:
        return self._work.done()

    @property
    def timed_out(self) -> bool:
        return self._timed_out

    async def output(self) -> AsyncIterator[OutputChunk]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk
        self._queue.put_nowait(None)  # a second reader (or a re-read) ends at once instead of hanging

    async def wait(self) -> int:
        try:
            code = await asyncio.shield(self._work)
        except SandboxError:
            raise
        except Exception as exc:
            raise SandboxError(f"lost track of the command: {exc}") from exc
        if self._kill_task is not None:
            await self._kill_task
        return KILLED_EXIT_CODE if self._killed else code

    async def kill(self) -> None:
        """TERM everything the command started; KILL what is still there after the grace period."""
        if self._work.done():
            return
        self._killed = True
        for signal in ("TERM", "KILL", "KILL"):
            with contextlib.suppress(SandboxError):
                await self._signal(signal)
            await asyncio.wait({self._work}, timeout=self._kill_grace)
            if self._work.done():
                return


def failed_command(message: str, exit_code: int = NOT_FOUND_EXIT_CODE) -> StreamedCommand:
    """A command that never started: its only output is `message` on stderr."""

    async def produce(emit: Emit) -> int:
        emit("stderr", message.encode() + b"\n")
        return exit_code

    async def signal(_: str) -> None:
        return None

    return StreamedCommand(produce, signal)
