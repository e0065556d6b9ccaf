"""The cluster part of `GET /api/health`: which replica answered, the live replicas and their leases, the
event broker and the sandbox hosts. Addresses and engine URLs only for an administrator's token."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers.auth import authenticate
from resolvers.errors import DomainError
from resolvers.health import ClusterHealth
from resolvers.runtime import Runtime
from rest_compat.shapes import iso


async def is_admin_request(rt: Runtime, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return False
    try:
        caller = await authenticate(rt, header[7:].strip())
    except DomainError:
        return False
    return caller.is_admin


def cluster_json(cluster: ClusterHealth, detailed: bool) -> dict[str, Any]:
    replicas = []
    for replica in cluster.replicas:
        shown: dict[str, Any] = {
            "id": replica.id,
            "name": replica.name,
            "hostname": replica.hostname,
            "startedAt": iso(replica.started_at),
            "heartbeatAt": iso(replica.heartbeat_at),
            "leaseExpiresAt": iso(replica.lease_expires_at),
            "leases": {"tasks": replica.tasks, "executions": replica.executions},
            "self": replica.this,
        }
        if detailed:
            shown["address"] = replica.address
        replicas.append(shown)
    hosts = []
    for host in cluster.hosts:
        shown = {
            "name": host.name,
            "status": "up" if host.up else "down",
            "capacity": host.capacity,
            "sandboxes": host.sandboxes,
            "reserved": host.reserved,
            "free": host.free,
        }
        if host.error:
            shown["error"] = host.error
        if detailed:
            shown["url"] = host.url
        hosts.append(shown)
    broker = dict(cluster.broker)
    if not detailed:
        broker.pop("url", None)
    return {
        "replica": {"id": cluster.replica_id, "name": cluster.replica_name},
        "leaseSeconds": cluster.lease_seconds,
        "replicas": replicas,
        "eventBroker": broker,
        "sandboxHosts": hosts,
    }
