"""Secrets over REST (an extension of the contract): names and dates only, never values.

GET    /organizations/{id}/secrets          the organization's secrets
PUT    /organizations/{id}/secrets/{name}   {value} → 201 created, 200 replaced (owners only)
DELETE /organizations/{id}/secrets/{name}   204 (owners only)
and the same under /projects/{id}, whose list is what its tasks get (its own over its organization's).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import secrets
from resolvers.runtime import Caller
from rest_compat.http import ApiRoute, JSONBody, endpoint, path_id, read_body, runtime
from rest_compat.shapes import iso
from rest_compat.spec.secrets import SecretName, SecretResponse, SetSecretRequest


def secret_json(info: secrets.SecretInfo) -> SecretResponse:
    return SecretResponse(
        name=info.name,
        scope="organization" if info.scope == "organization" else "project",
        scopeId=info.scope_id,
        createdAt=iso(info.created_at),
        updatedAt=iso(info.updated_at),
    )


def _routes(scope: str, prefix: str) -> list[ApiRoute]:
    owner = scope.capitalize()
    named = {"name": SecretName}

    @endpoint("GET", f"{prefix}/{{id}}/secrets", operation=f"List{owner}Secrets", response=list[SecretResponse])
    async def list_secrets(request: Request, caller: Caller) -> Any:
        found = await secrets.list_secrets(runtime(request), caller, scope, path_id(request))
        return [secret_json(info) for info in found]

    @endpoint(
        "PUT",
        f"{prefix}/{{id}}/secrets/{{name}}",
        operation=f"Set{owner}Secret",
        body=SetSecretRequest,
        response=SecretResponse,
        path_types=named,
        others={201: SecretResponse},
    )
    async def set_secret(request: Request, caller: Caller) -> Any:
        body = await read_body(request)
        info, created = await secrets.set_secret(
            runtime(request), caller, scope, path_id(request), path_id(request, "name"), body.get("value")
        )
        return JSONBody(secret_json(info), status_code=201 if created else 200)

    @endpoint(
        "DELETE", f"{prefix}/{{id}}/secrets/{{name}}", status=204, operation=f"Delete{owner}Secret", path_types=named
    )
    async def delete_secret(request: Request, caller: Caller) -> None:
        await secrets.delete_secret(runtime(request), caller, scope, path_id(request), path_id(request, "name"))

    return [list_secrets, set_secret, delete_secret]


routes = [*_routes("organization", "/organizations"), *_routes("project", "/projects")]
