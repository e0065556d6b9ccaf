"""A full disk: telling it from other failures, answering it (507 `STORAGE_FULL`), waiting it out, and
reporting it in health.

A write fails on a full disk as SQLite's "database or disk is full", PostgreSQL's class 53100
(`disk_full`, asyncpg's DiskFullError) or an `OSError` ENOSPC/EDQUOT from a file write. Requests answer it
at once; the work that must not be lost (a task's end) waits for space in `until_stored`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from resolvers.errors import DomainError

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

log = logging.getLogger("orchestrator.storage")
T = TypeVar("T")

SQLITE_FULL = "database or disk is full"
POSTGRES_DISK_FULL = "53100"
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 5.0
"""A write waiting for space tries again at most this long after the last try."""
PROBE_BYTES = 4096


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (SQLAlchemy's `orig`) and what caused it, each once."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [
            cause
            for cause in (getattr(current, "orig", None), current.__cause__, current.__context__)
            if isinstance(cause, BaseException)
        ]


def full_storage_reason(error: BaseException) -> str | None:
    """Why `error` is a full disk, in the storage's own words; None when it is something else."""
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno in FULL_ERRNOS:
            return f"{os.strerror(cause.errno)} ({cause.filename})" if cause.filename else os.strerror(cause.errno)
        if SQLITE_FULL in str(cause) and "sqlite" in type(cause).__module__:
            return SQLITE_FULL
        if getattr(cause, "sqlstate", None) == POSTGRES_DISK_FULL:
            return f"PostgreSQL: {str(cause).strip() or 'disk full'}"
    return None


@dataclass
class StorageState:
    """What this process has seen of its storage, for health and for the writes waiting for space."""

    last_full_at: float | None = None
    """Wall-clock time of the last write that failed for lack of space."""
    reason: str | None = None
    waiting: int = 0
    """Writes retrying until there is space again (a task's end, starting queued tasks)."""

    def note_full(self, reason: str) -> None:
        self.last_full_at, self.reason = time.time(), reason


def full_error(rt: Runtime, error: BaseException) -> DomainError | None:
    """The 507 answer for a write that failed on a full disk (noted for health); None for other errors."""
    reason = full_storage_reason(error)
    if reason is None:
        return None
    rt.storage.note_full(reason)
    return DomainError(
        "STORAGE_FULL",
        f"The server's storage is full ({reason}); the change could not be saved. Retry once space is freed.",
        {"reason": reason},
    )


async def until_stored(rt: Runtime, what: str, write: Callable[[], Awaitable[T]], give_up: Callable[[], bool]) -> T:
    """Run `write`, and while it fails for lack of space, again with a growing pause (up to
    MAX_RETRY_SECONDS). Other errors, and a full disk once `give_up()` says so, are raised."""
    delay = FIRST_RETRY_SECONDS
    waiting = False
    try:
        while True:
            try:
                return await write()
            except Exception as error:
                reason = full_storage_reason(error)
                if reason is None or give_up():
                    raise
                rt.storage.note_full(reason)
                if not waiting:
                    waiting = True
                    rt.storage.waiting += 1
                    log.warning("storage is full (%s): %s waits for space", reason, what)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
    finally:
        if waiting:
            rt.storage.waiting -= 1


@dataclass(frozen=True)
class StorageHealth:
    status: str
    """"ok", "full" (no space, or writes waiting for it) or "unwritable" (DATA_DIR refuses writes otherwise)."""
    free_bytes: int
    waiting_writes: int
    last_full_at: float | None


def _probe(folder: Path) -> tuple[OSError | None, int]:
    """What stops a small file being written in `folder` now (None: nothing), and the free bytes there."""
    path = folder / f".storage-probe-{os.getpid()}"
    refusal: OSError | None = None
    try:
        with path.open("wb", buffering=0) as probe:
            probe.write(b"\0" * PROBE_BYTES)
    except OSError as error:
        refusal = error
    finally:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    return refusal, shutil.disk_usage(folder).free


async def storage_health(rt: Runtime) -> StorageHealth:
    """Full when DATA_DIR takes no small write for lack of space, or while writes are waiting for space (the
    database may be elsewhere: a waiting write is the sign that it is full)."""
    refusal, free = await asyncio.to_thread(_probe, rt.settings.data_dir)
    state = rt.storage
    if refusal is not None and (reason := full_storage_reason(refusal)) is not None:
        state.note_full(reason)
    if state.waiting > 0 or (refusal is not None and refusal.errno in FULL_ERRNOS):
        status = "full"
    else:
        status = "ok" if refusal is None else "unwritable"
    return StorageHealth(status, free, state.waiting, state.last_full_at)
