"""Query root: the viewer, any object by its global id, and the lists and searches that start at the top."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from resolvers.errors import invalid
from resolvers.health import cluster_health, uptime_seconds
from schema.auth import AuthQueries
from schema.cluster import ClusterState
from schema.context import GraphInfo
from schema.executions import Execution
from schema.folders import FolderQueries
from schema.memories import Memory, MemoryQueries
from schema.nodes import resolve_node, resolve_nodes
from schema.organizations import Organization
from schema.projects import Project
from schema.relay import Node
from schema.sandboxes import Sandbox, SandboxOperation, SandboxQueries
from schema.tasks import Task, TaskQueries
from schema.users import UserQueries
from schema.workflows import Workflow, WorkflowQueries, WorkflowVersion
from schema.workspaces import Workspace

Id = Annotated[strawberry.ID, strawberry.argument(description="A global id.")]


@strawberry.enum(description="How the service is.")
class HealthStatus(Enum):
    OK = strawberry.enum_value("ok", description="Serving.")


@strawberry.type(description="Whether the service is up.")
class Health:
    status: HealthStatus = strawberry.field(description="How it is.")
    uptime: float = strawberry.field(description="Seconds since it started.")

    @strawberry.field(
        description="The replica that answered, the replicas alive with their leases, the broker, the sandbox hosts."
    )
    async def cluster(self, info: GraphInfo) -> ClusterState:
        return ClusterState.of(await cluster_health(info.context.rt))


@strawberry.type(description="Every read starts here: `me` for your own things, or an object by its global id.")
class Query(UserQueries, AuthQueries, WorkflowQueries, SandboxQueries, MemoryQueries, TaskQueries, FolderQueries):
    @strawberry.field(description="Liveness and the cluster; needs no token.")
    def health(self, info: GraphInfo) -> Health:
        return Health(status=HealthStatus.OK, uptime=uptime_seconds(info.context.rt))

    @strawberry.field(description="Any object by its global id; null when missing or not visible to you.")
    async def node(self, info: GraphInfo, id: Id) -> Node | None:
        return await resolve_node(info, id)

    @strawberry.field(description="Objects by their global ids, in the same order; null for each missing one.")
    async def nodes(
        self,
        info: GraphInfo,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global ids (at most 100).")],
    ) -> list[Node | None]:
        if len(ids) > 100:
            raise invalid("ids", "must hold at most 100 ids", "PAGE_SIZE_INVALID")
        return await resolve_nodes(info, ids)

    @strawberry.field(description="An organization; null when missing or not visible to you.")
    async def organization(self, info: GraphInfo, id: Id) -> Organization | None:
        return await resolve_node(info, id, "Organization")

    @strawberry.field(description="A workspace; null when missing or not visible to you.")
    async def workspace(self, info: GraphInfo, id: Id) -> Workspace | None:
        return await resolve_node(info, id, "Workspace")

    @strawberry.field(description="A project; null when missing or not visible to you.")
    async def project(self, info: GraphInfo, id: Id) -> Project | None:
        return await resolve_node(info, id, "Project")

    @strawberry.field(description="A sandbox; null when missing or not visible to you.")
    async def sandbox(self, info: GraphInfo, id: Id) -> Sandbox | None:
        return await resolve_node(info, id, "Sandbox")

    @strawberry.field(description="A sandbox operation; null when missing or not visible to you.")
    async def sandbox_operation(self, info: GraphInfo, id: Id) -> SandboxOperation | None:
        return await resolve_node(info, id, "SandboxOperation")

    @strawberry.field(description="A task; null when missing or not visible to you.")
    async def task(self, info: GraphInfo, id: Id) -> Task | None:
        return await resolve_node(info, id, "Task")

    @strawberry.field(description="A workflow; null when missing or not visible to you.")
    async def workflow(self, info: GraphInfo, id: Id) -> Workflow | None:
        return await resolve_node(info, id, "Workflow")

    @strawberry.field(description="A workflow version snapshot; null when missing or not visible to you.")
    async def workflow_version(self, info: GraphInfo, id: Id) -> WorkflowVersion | None:
        return await resolve_node(info, id, "WorkflowVersion")

    @strawberry.field(description="A workflow execution; null when missing or not visible to you.")
    async def execution(self, info: GraphInfo, id: Id) -> Execution | None:
        return await resolve_node(info, id, "Execution")

    @strawberry.field(description="A memory; null when missing or not visible to you.")
    async def memory(self, info: GraphInfo, id: Id) -> Memory | None:
        return await resolve_node(info, id, "Memory")
