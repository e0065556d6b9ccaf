"""Users: the `User` object, the viewer (`me`), the user list and adding users (resolvers/users.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers import organizations, users
from resolvers.pages import page_request
from schema.connections import After, Before, Connection, First, Last, root_connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.relay import Node, global_id
from store import models

if TYPE_CHECKING:
    from schema.organizations import Organization
    from schema.settings import Settings


@strawberry.type(description="A person who signs in to this service.")
class User(Node):
    username: str = strawberry.field(description="The name they sign in with.")
    is_admin: bool = strawberry.field(description="Administrators may add users and see every user.")
    created_at: datetime = strawberry.field(description="When the account was made.")

    @classmethod
    def of(cls, user: models.User) -> User:
        return cls(
            id=global_id("User", user.id),
            database_id=user.id,
            username=user.username,
            is_admin=user.is_admin,
            created_at=user.created_at,
        )


async def user_of(info: GraphInfo, user_id: str | None) -> User | None:
    """A user a field points at, through the request's loader; null when gone or not visible."""
    if user_id is None:
        return None
    found = await info.context.loaders.user.load(user_id)
    return User.of(found) if found else None


@strawberry.type(description="You, signed in: your account, your organizations and your settings.")
class Viewer(User):
    @strawberry.field(description="The organizations you are a member of, oldest first.")
    async def organizations(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Annotated[Organization, strawberry.lazy("schema.organizations")]]:
        from schema.organizations import Organization, remembered

        listing = organizations.organization_listing(info.context.caller)
        request = page_request(first, after, last, before)
        return await root_connection(info, listing, request, remembered(info, Organization.of))

    @strawberry.field(description="Your settings: git identity for sandboxes, default image, preferences.")
    async def settings(self, info: GraphInfo) -> Annotated[Settings, strawberry.lazy("schema.settings")]:
        from resolvers.settings import get_settings
        from schema.settings import Settings

        return Settings.of(await get_settings(info.context.rt, info.context.caller))


@strawberry.type
class UserQueries:
    @strawberry.field(description="You, the signed-in user.")
    async def me(self, info: GraphInfo) -> Viewer:
        user = await users.get_user(info.context.rt, info.context.caller)
        return Viewer(**vars(User.of(user)))

    @strawberry.field(description="Every user, by name (administrators only).")
    async def users(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[User]:
        listing = users.user_listing(info.context.caller)
        return await root_connection(info, listing, page_request(first, after, last, before), User.of)


@strawberry.input(description="A new account.")
class CreateUserInput:
    username: str = strawberry.field(description="Letters, digits and . _ @ -, at most 64.")
    password: str = strawberry.field(description="At least 8 characters.")
    is_admin: bool = strawberry.field(default=False, description="Make the user an administrator.")


@strawberry.type(description="The result of createUser.")
class CreateUserPayload(Payload):
    user: User | None = strawberry.field(default=None, description="The new user.")


@strawberry.type
class UserMutations:
    @strawberry.mutation(description="Add a user (administrators only).")
    async def create_user(self, info: GraphInfo, input: CreateUserInput) -> CreateUserPayload:
        rt, caller = info.context.rt, info.context.caller
        user, errors = await attempt(users.create_user(rt, caller, input.username, input.password, input.is_admin))
        return CreateUserPayload(user=User.of(user) if user else None, user_errors=errors)
