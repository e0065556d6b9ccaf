"""Signing in and out (resolvers/auth.py): login, refresh-token rotation, logout and token checks."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

import strawberry

from resolvers import auth, users
from resolvers.errors import DomainError
from schema.context import GraphInfo
from schema.errors import Payload, UserError
from schema.users import User


@strawberry.input(description="A username and password.")
class LoginInput:
    username: str = strawberry.field(description="The account's name.")
    password: str = strawberry.field(description="Its password.")


@strawberry.input(description="A refresh token to exchange.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The refresh token from the last login or refresh.")


@strawberry.input(description="What to revoke besides this login.")
class LogoutInput:
    refresh_token: str | None = strawberry.field(
        default=None, description="A refresh token of yours to revoke too (its whole login)."
    )


@strawberry.type(description="A new token pair, from login or refreshToken.")
class SessionPayload(Payload):
    token: str | None = strawberry.field(default=None, description="The access token: send `Authorization: Bearer …`.")
    refresh_token: str | None = strawberry.field(
        default=None, description="Exchange it for a new pair with refreshToken; it works once."
    )
    user: User | None = strawberry.field(default=None, description="Who signed in.")


@strawberry.type(description="The result of logout.")
class LogoutPayload(Payload):
    revoked: bool = strawberry.field(default=False, description="True once the login's tokens no longer work.")


def _session_payload(session: auth.Session | None, errors: list[UserError]) -> SessionPayload:
    if session is None:
        return SessionPayload(user_errors=errors)
    return SessionPayload(token=session.access_token, refresh_token=session.refresh_token, user=User.of(session.user))


def _client_address(info: GraphInfo) -> str | None:
    client = info.context.request.client
    return client.host if client else None


async def _signing_in(call: Awaitable[auth.Session]) -> tuple[auth.Session | None, list[UserError]]:
    """Login and refresh: a refusal (wrong password, used refresh token, too many tries) is their answer."""
    try:
        return await call, []
    except DomainError as error:
        code = "AUTHENTICATION_FAILED" if error.code == "UNAUTHORIZED" else error.code
        return None, [UserError.of(DomainError(code, error.message, error.details))]


@strawberry.type
class AuthQueries:
    @strawberry.field(description="The user an access token belongs to; null when the token is not valid.")
    async def verify_token(
        self, info: GraphInfo, token: Annotated[str, strawberry.argument(description="An access token.")]
    ) -> User | None:
        try:
            caller = await auth.verify(info.context.rt, token)
        except DomainError:
            return None
        return User.of(await users.get_user(info.context.rt, caller))


@strawberry.type
class AuthMutations:
    @strawberry.mutation(description="Sign in; needs no token. Repeated failures are refused for a while.")
    async def login(self, info: GraphInfo, input: LoginInput) -> SessionPayload:
        call = auth.login(info.context.rt, input.username, input.password, _client_address(info))
        session, errors = await _signing_in(call)
        return _session_payload(session, errors)

    @strawberry.mutation(description="Exchange a refresh token for a new pair; needs no access token.")
    async def refresh_token(self, info: GraphInfo, input: RefreshTokenInput) -> SessionPayload:
        session, errors = await _signing_in(auth.refresh(info.context.rt, input.refresh_token))
        return _session_payload(session, errors)

    @strawberry.mutation(description="Sign out: this login's tokens (and the refresh token given) stop working.")
    async def logout(self, info: GraphInfo, input: LogoutInput | None = None) -> LogoutPayload:
        token = input.refresh_token if input else None
        await auth.logout(info.context.rt, info.context.caller, token)
        return LogoutPayload(revoked=True)
