"""A project's sandbox network (resolvers/network.py): what its sandbox may reach, read by members and set by
owners of the organization. Settings are fixed into a sandbox when it is created."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from resolvers import network
from resolvers.network import NetworkSettings
from resolvers.validation import UNSET
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.relay import database_id
from schema.unset import sent


@strawberry.enum(description="What a project's sandbox may reach.")
class NetworkMode(Enum):
    NONE = strawberry.enum_value("none", description="Loopback only.")
    EGRESS = strawberry.enum_value(
        "egress", description="Only the hosts on the allow-list, through this service's egress proxy (the default)."
    )
    OPEN = strawberry.enum_value("open", description="The network, unfiltered (needed for port mappings).")


@strawberry.type(
    description="A project's sandbox network. It applies to sandboxes created from now on: delete and create "
    "the project's sandbox to apply a change there."
)
class ProjectNetwork:
    mode: NetworkMode = strawberry.field(description="What the sandbox may reach.")
    allowed_hosts: list[str] = strawberry.field(
        description="In EGRESS mode, the hosts it may reach: `name`, `*.domain`, either with `:port`."
    )
    default_allowed_hosts: bool = strawberry.field(
        description="True while the list is the one derived from the AI configuration (no owner has set one)."
    )

    @classmethod
    def of(cls, settings: NetworkSettings) -> ProjectNetwork:
        return cls(
            mode=NetworkMode(settings.mode),
            allowed_hosts=list(settings.allowed_hosts),
            default_allowed_hosts=settings.default_hosts,
        )


@strawberry.input(description="Network settings; fields left out stay as they are.")
class NetworkInput:
    mode: NetworkMode | None = strawberry.field(default=strawberry.UNSET, description="What the sandbox may reach.")
    allowed_hosts: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="The allow-list (at most 100 hosts); null returns to the one derived from the AI configuration.",
    )


def network_body(given: NetworkInput) -> dict[str, Any]:
    """The `{mode, allowedHosts}` body the resolvers check, with only the fields that were sent."""
    body: dict[str, Any] = {}
    if (mode := sent(given.mode)) is not UNSET:
        body["mode"] = mode.value if isinstance(mode, NetworkMode) else mode
    if (hosts := sent(given.allowed_hosts)) is not UNSET:
        body["allowedHosts"] = hosts
    return body


@strawberry.input(description="A project's new network settings (owners of its organization only).")
class SetProjectNetworkInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    network: NetworkInput = strawberry.field(description="What to change.")


@strawberry.type(description="The result of setProjectNetwork.")
class SetProjectNetworkPayload(Payload):
    network: ProjectNetwork | None = strawberry.field(default=None, description="The settings as stored.")


@strawberry.type
class NetworkMutations:
    @strawberry.mutation(description="Set what a project's sandboxes may reach (owners of its organization only).")
    async def set_project_network(self, info: GraphInfo, input: SetProjectNetworkInput) -> SetProjectNetworkPayload:
        async def set_network() -> NetworkSettings:
            project = database_id("projectId", input.project_id, "Project")
            return await network.set_network(info.context.rt, info.context.caller, project, network_body(input.network))

        settings, errors = await attempt(set_network())
        return SetProjectNetworkPayload(network=ProjectNetwork.of(settings) if settings else None, user_errors=errors)
