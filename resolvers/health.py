"""Liveness: the process answers and how long it has been up; the cluster it belongs to."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from resolvers.cluster import ReplicaView
from resolvers.runtime import Runtime
from resolvers.sandbox_hosts import HostView, host_views


def uptime_seconds(rt: Runtime) -> float:
    return round(time.monotonic() - rt.started_at, 3)


@dataclass(frozen=True)
class ClusterHealth:
    replica_id: str
    replica_name: str
    replicas: list[ReplicaView]
    broker: dict[str, Any]
    hosts: list[HostView]
    lease_seconds: int


async def cluster_health(rt: Runtime) -> ClusterHealth:
    """Which replica answers, the replicas with their leases, the event broker, the sandbox hosts."""
    return ClusterHealth(
        rt.cluster.replica_id,
        rt.cluster.name,
        [replica for replica in await rt.cluster.replicas() if replica.alive],
        rt.cluster.broker_health(),
        await host_views(rt),
        rt.cluster.lease_seconds,
    )
