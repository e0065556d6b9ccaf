"""Which failures are a full disk: the errors each storage raises for it, and nothing else."""

from __future__ import annotations

import errno
import sqlite3

import sqlalchemy.exc
from asyncpg.exceptions import DiskFullError, UniqueViolationError

from resolvers.storage import full_storage_reason


def test_each_storage_s_disk_full_error_is_recognised() -> None:
    sqlite = sqlalchemy.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    assert full_storage_reason(sqlite) == "database or disk is full"
    postgres = DiskFullError('could not extend file "base/16384/16390": No space left on device')
    assert full_storage_reason(sqlalchemy.exc.OperationalError("INSERT", {}, postgres)).startswith(
        "PostgreSQL: could not extend file"
    )
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/data/x")
        except OSError as cause:
            raise RuntimeError("writing the index failed") from cause
    except RuntimeError as chained:
        assert full_storage_reason(chained) == "No space left on device (/data/x)"


def test_other_failures_are_not() -> None:
    assert (
        full_storage_reason(sqlalchemy.exc.OperationalError("x", {}, sqlite3.OperationalError("database is locked")))
        is None
    )
    assert full_storage_reason(sqlalchemy.exc.IntegrityError("x", {}, UniqueViolationError("duplicate key"))) is None
    assert full_storage_reason(OSError(errno.EACCES, "Permission denied")) is None
    assert full_storage_reason(ValueError("database or disk is full")) is None, "only the storage's own error says so"
