"""Counting the SQL statements a live server runs, to show that a query's cost does not grow with its data."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event

from tests.conftest import LiveServer

T = TypeVar("T")


@contextmanager
def counting_statements(server: LiveServer) -> Iterator[list[str]]:
    """The statements (transaction control left out) the server runs inside the block."""
    statements: list[str] = []
    lock = threading.Lock()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            with lock:
                statements.append(statement)

    engine = server.runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def fewest_statements(server: LiveServer, request: Callable[[], T], runs: int = 3) -> tuple[int, T]:
    """The statements one request costs: the fewest of `runs` runs, since the server's own background work (a
    finished task waking its project's queue, a lease renewal) can only add to what is counted while it runs.
    Returns that count and the last run's result."""
    counts = []
    for _ in range(runs):
        with counting_statements(server) as statements:
            result = request()
        counts.append(len(statements))
    return min(counts), result
