"""Secrets of organizations and projects (resolvers/secrets.py): their names only, never their values, and
setting and deleting them (owners only)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from resolvers import secrets
from resolvers.pages import PageRequest, page_in_memory
from resolvers.secrets import SecretInfo
from schema.connections import Connection, connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.relay import typed_id

OWNERS = {"Organization": "organization", "Project": "project"}


@strawberry.enum(description="Where a secret is kept.")
class SecretScope(Enum):
    ORGANIZATION = strawberry.enum_value("organization", description="For every project of the organization.")
    PROJECT = strawberry.enum_value("project", description="For the project (over the organization's of its name).")


@strawberry.type(description="A secret, as much as may be told of it: its name, where it is kept, when it was set.")
class Secret:
    name: str = strawberry.field(description="The environment variable a task gets it in.")
    scope: SecretScope = strawberry.field(description="Where it is kept.")
    created_at: datetime = strawberry.field(description="When it was first set.")
    updated_at: datetime = strawberry.field(description="When its value last changed.")

    @classmethod
    def of(cls, info: SecretInfo) -> Secret:
        return cls(
            name=info.name, scope=SecretScope(info.scope), created_at=info.created_at, updated_at=info.updated_at
        )


async def secret_connection(info: GraphInfo, scope: str, scope_id: str, request: PageRequest) -> Connection[Secret]:
    """The secrets of an organization or project (a project's include its organization's it does not
    override), by name."""
    found = [Secret.of(s) for s in await secrets.list_secrets(info.context.rt, info.context.caller, scope, scope_id)]
    page = page_in_memory(found, lambda secret: secret.name, f"secrets-{scope}", request)

    async def total() -> int:
        return len(found)

    return connection(page, lambda secret: secret, total)


def _owner(value: object) -> tuple[str, str]:
    type_name, database_id = typed_id("ownerId", value, *OWNERS)
    return OWNERS[type_name], database_id


@strawberry.input(description="A secret to set: created, or its value replaced.")
class SetSecretInput:
    owner_id: strawberry.ID = strawberry.field(description="The organization or project that keeps it.")
    name: str = strawberry.field(description="An environment variable name (letters, digits, _).")
    value: str = strawberry.field(description="Its value (4 to 16384 characters); never shown again.")


@strawberry.input(description="A secret to delete.")
class DeleteSecretInput:
    owner_id: strawberry.ID = strawberry.field(description="The organization or project that keeps it.")
    name: str = strawberry.field(description="Its name.")


@strawberry.type(description="The result of setSecret.")
class SetSecretPayload(Payload):
    secret: Secret | None = strawberry.field(default=None, description="The secret, without its value.")
    created: bool | None = strawberry.field(default=None, description="True when it did not exist before.")


@strawberry.type(description="The result of deleteSecret.")
class DeleteSecretPayload(Payload):
    deleted_name: str | None = strawberry.field(default=None, description="The name of the deleted secret.")


@strawberry.type
class SecretMutations:
    @strawberry.mutation(description="Set a secret of an organization or project (owners only).")
    async def set_secret(self, info: GraphInfo, input: SetSecretInput) -> SetSecretPayload:
        async def set_one() -> tuple[SecretInfo, bool]:
            scope, scope_id = _owner(input.owner_id)
            return await secrets.set_secret(
                info.context.rt, info.context.caller, scope, scope_id, input.name, input.value
            )

        result, errors = await attempt(set_one())
        if result is None:
            return SetSecretPayload(user_errors=errors)
        return SetSecretPayload(secret=Secret.of(result[0]), created=result[1])

    @strawberry.mutation(description="Delete a secret of an organization or project (owners only).")
    async def delete_secret(self, info: GraphInfo, input: DeleteSecretInput) -> DeleteSecretPayload:
        async def delete() -> None:
            scope, scope_id = _owner(input.owner_id)
            await secrets.delete_secret(info.context.rt, info.context.caller, scope, scope_id, input.name)

        _, errors = await attempt(delete())
        return DeleteSecretPayload(deleted_name=None if errors else input.name, user_errors=errors)
