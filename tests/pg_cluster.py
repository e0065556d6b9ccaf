"""A private PostgreSQL server for the tests: its own data folder, socket folder and port, stopped afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries are missing: run `make test` (it installs them) or apt-get install postgresql"
        )
    return Path(found[-1]).parent


def _run(*command: str) -> None:
    subprocess.run(_as_postgres(list(command)), check=True, capture_output=True, text=True, timeout=120)


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; run it as the `postgres` account then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextmanager
def postgres_server(port: int) -> Iterator[str]:
    """Start a throwaway cluster; yields an asyncpg SQLAlchemy URL of an empty database."""
    bin_dir = postgres_bin()
    # Its own top-level temp folder: pytest's are private to root, and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="orchestrator-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (folder, sockets):
            shutil.chown(path, "postgres")
    _run(str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "--username=postgres", "--encoding=UTF8")
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} -c fsync=off"
    _run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start")
    try:
        deadline = time.monotonic() + 30
        while True:
            created = subprocess.run(
                _as_postgres(
                    [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "orchestrator"]
                ),
                capture_output=True,
                text=True,
                check=False,
            )
            if created.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"createdb failed: {created.stderr}")
            time.sleep(0.2)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/orchestrator"
    finally:
        _run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
