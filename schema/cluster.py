"""The cluster as health reports it: which replica answered, the live replicas and the leases they hold, the
event broker, the sandbox hosts. (Lists here are bounded by the deployment: its replicas, SANDBOX_HOSTS.)"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from resolvers.cluster import ReplicaView
from resolvers.health import ClusterHealth
from resolvers.sandbox_hosts import HostView


@strawberry.type(description="One process serving this API on the shared database.")
class Replica:
    name: str = strawberry.field(description="Its REPLICA_NAME (stable across its restarts).")
    instance: str = strawberry.field(description="This run of it (a restart is a new instance).")
    hostname: str = strawberry.field(description="The machine (or container) it runs on.")
    started_at: datetime = strawberry.field(description="When this instance started.")
    heartbeat_at: datetime = strawberry.field(description="Its last renewal.")
    lease_expires_at: datetime = strawberry.field(description="When it counts as lost unless it renews again.")
    leased_tasks: int = strawberry.field(description="Running tasks whose lease it holds.")
    leased_executions: int = strawberry.field(description="Workflow executions whose lease it holds (it drives them).")
    answering: bool = strawberry.field(description="Whether this is the replica that answered this request.")

    @classmethod
    def of(cls, view: ReplicaView) -> Replica:
        return cls(
            name=view.name,
            instance=view.id,
            hostname=view.hostname,
            started_at=view.started_at,
            heartbeat_at=view.heartbeat_at,
            lease_expires_at=view.lease_expires_at,
            leased_tasks=view.tasks,
            leased_executions=view.executions,
            answering=view.this,
        )


@strawberry.enum(description="Whether a sandbox host answers.")
class SandboxHostStatus(Enum):
    UP = strawberry.enum_value("up", description="It answers: its sandboxes work, new ones may go there.")
    DOWN = strawberry.enum_value("down", description="It does not answer: its sandboxes answer 503, none go there.")


@strawberry.type(description="A Docker engine of SANDBOX_HOSTS.")
class SandboxHost:
    name: str = strawberry.field(description="Its name in SANDBOX_HOSTS.")
    status: SandboxHostStatus = strawberry.field(description="Whether it answers.")
    error: str | None = strawberry.field(description="Why it does not answer, when down.")
    capacity: int = strawberry.field(description="How many sandboxes it takes.")
    sandboxes: int = strawberry.field(description="Sandboxes placed on it.")
    reserved: int = strawberry.field(description="Places taken by sandboxes being created there now.")
    free: int = strawberry.field(description="Places left.")

    @classmethod
    def of(cls, view: HostView) -> SandboxHost:
        return cls(
            name=view.name,
            status=SandboxHostStatus.UP if view.up else SandboxHostStatus.DOWN,
            error=view.error,
            capacity=view.capacity,
            sandboxes=view.sandboxes,
            reserved=view.reserved,
            free=view.free,
        )


@strawberry.enum(description="What carries live events between replicas.")
class EventBrokerKind(Enum):
    IN_PROCESS = strawberry.enum_value("in-process", description="One process (SQLite): nothing to carry.")
    POSTGRESQL = strawberry.enum_value("postgresql", description="PostgreSQL LISTEN/NOTIFY.")
    NATS = strawberry.enum_value("nats", description="NATS JetStream (EVENT_BROKER_URL).")


@strawberry.type(description="The event broker as this replica sees it.")
class EventBroker:
    kind: EventBrokerKind = strawberry.field(description="Which broker.")
    connected: bool = strawberry.field(description="Whether this replica is connected to it now.")


@strawberry.type(description="The cluster this replica belongs to.")
class ClusterState:
    replica: Replica = strawberry.field(description="The replica that answered.")
    replicas: list[Replica] = strawberry.field(description="The replicas alive now, oldest first.")
    event_broker: EventBroker = strawberry.field(description="What carries live events between them.")
    sandbox_hosts: list[SandboxHost] = strawberry.field(description="The sandbox hosts (none without SANDBOX_HOSTS).")
    lease_seconds: int = strawberry.field(description="How long a lease lasts unrenewed (LEASE_SECONDS).")

    @classmethod
    def of(cls, health: ClusterHealth) -> ClusterState:
        replicas = [Replica.of(view) for view in health.replicas]
        answering = next((replica for replica in replicas if replica.answering), None)
        return cls(
            replica=answering or replicas[0],
            replicas=replicas,
            event_broker=EventBroker(
                kind=EventBrokerKind(health.broker["kind"]), connected=health.broker["status"] == "connected"
            ),
            sandbox_hosts=[SandboxHost.of(view) for view in health.hosts],
            lease_seconds=health.lease_seconds,
        )
