"""A shell on a pseudo-terminal of this host, for backends whose sandboxes are processes here (local).

The shell gets the terminal as its controlling terminal (through util-linux `setsid --ctty`, so nothing runs
between fork and exec in this multi-threaded process): Ctrl-C, job control and SIGWINCH work as in any
terminal. Output is read only when the reader asks for more, so a slow reader slows the shell down
instead of filling memory. Closing kills the process group that was started (TERM, then KILL) and releases
the terminal, which also hangs up whatever still holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
import signal
import struct
import termios
from collections.abc import Callable, Sequence

from sandbox.base import SandboxError, Terminal

READ_SIZE = 65536


def controlling_terminal_argv(argv: Sequence[str]) -> list[str]:
    """`argv` run with its standard input made its controlling terminal."""
    setsid = shutil.which("setsid")
    if setsid is None:
        raise SandboxError("terminals need util-linux's setsid, which is not installed")
    return [setsid, "--wait", "--ctty", *argv]


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def open_pty(cols: int, rows: int) -> tuple[int, int]:
    """A new pseudo-terminal of the given size: (master, non-blocking; slave, for the shell's standard streams)."""
    master, slave = os.openpty()
    _set_size(slave, cols, rows)
    os.set_blocking(master, False)
    return master, slave


class PtyTerminal(Terminal):
    """The shell `process` started (by the backend) on the slave of `master`, with `controlling_terminal_argv`."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        master: int,
        kill_grace: float,
        on_close: Callable[[PtyTerminal], None] | None,
    ) -> None:
        self._process = process
        self._master = master
        self._kill_grace = kill_grace
        self._on_close = on_close
        self._closed = False
        self._waiting: set[asyncio.Future[None]] = set()

    async def _ready(self, add: str, remove: str) -> None:
        """Wait until the master can be read (or written) or the terminal is closed; no callback is left behind."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._waiting.add(ready)
        getattr(loop, add)(self._master, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            self._waiting.discard(ready)
            if not self._closed:
                getattr(loop, remove)(self._master)

    async def read(self) -> bytes:
        while not self._closed:
            try:
                return os.read(self._master, READ_SIZE)
            except BlockingIOError:
                await self._ready("add_reader", "remove_reader")
            except OSError as exc:
                if exc.errno == errno.EIO:  # every copy of the other end is closed: the shell has ended
                    return b""
                raise
        return b""

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._closed:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                await self._ready("add_writer", "remove_writer")
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return  # the shell has ended; its output says so
                raise

    def resize(self, cols: int, rows: int) -> None:
        if not self._closed:
            _set_size(self._master, cols, rows)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close(self)
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        for waiting in self._waiting:
            if not waiting.done():
                waiting.set_result(None)  # a pending read() or write() returns now
        if self._process.returncode is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                self._signal(sig)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._process.wait()), self._kill_grace)
                if self._process.returncode is not None:
                    break
        os.close(self._master)  # hangs up the terminal: a job that left the group gets SIGHUP
        await self._process.wait()
