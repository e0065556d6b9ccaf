"""Liveness: the process answers and how long it has been up."""

from __future__ import annotations

import time

from resolvers.runtime import Runtime


def uptime_seconds(rt: Runtime) -> float:
    return round(time.monotonic() - rt.started_at, 3)
