"""Counting the SQL statements a live server runs, to show that a query's cost does not grow with its data."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.conftest import LiveServer


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
