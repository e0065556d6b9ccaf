"""Small helpers shared by the sandbox tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sandbox.base import RunningCommand


@dataclass
class Result:
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int | None = None
    chunk_times: list[float] = field(default_factory=list)
    """Seconds from the start of `collect` to each chunk."""
    elapsed: float = 0.0


async def collect(command: RunningCommand) -> Result:
    """Read a command's output to the end and wait for it, timing each chunk."""
    result = Result()
    started = time.monotonic()
    async for chunk in command.output():
        result.chunk_times.append(time.monotonic() - started)
        if chunk.stream == "stdout":
            result.stdout += chunk.data
        else:
            result.stderr += chunk.data
    result.exit_code = await command.wait()
    result.elapsed = time.monotonic() - started
    return result
