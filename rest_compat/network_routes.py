"""A project's sandbox network settings (not in the original contract): `GET`/`PUT /projects/{id}/network`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import network
from resolvers.network import NetworkSettings
from resolvers.runtime import Caller
from rest_compat.http import endpoint, read_body, runtime
from rest_compat.spec.network import NetworkRequest, NetworkResponse


def network_json(settings: NetworkSettings) -> dict[str, Any]:
    return {
        "mode": settings.mode,
        "allowedHosts": list(settings.allowed_hosts),
        "defaultAllowedHosts": settings.default_hosts,
        "appliesTo": "sandboxes created from now on; delete and create the project's sandbox to apply it there",
    }


@endpoint("GET", "/projects/{projectId}/network", operation="GetProjectNetwork", response=NetworkResponse)
async def get_network(request: Request, caller: Caller) -> Any:
    return network_json(await network.get_network(runtime(request), caller, request.path_params["projectId"]))


@endpoint(
    "PUT",
    "/projects/{projectId}/network",
    operation="SetProjectNetwork",
    body=NetworkRequest,
    response=NetworkResponse,
)
async def set_network(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    settings = await network.set_network(runtime(request), caller, request.path_params["projectId"], body)
    return network_json(settings)


routes = [get_network, set_network]
