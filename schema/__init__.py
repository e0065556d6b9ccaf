"""The GraphQL schema and the ASGI view that serves it (HTTP, WebSocket, GraphiQL)."""

from __future__ import annotations

import orjson
import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as alias_limit_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit_rule
from strawberry.types import ExecutionContext

from resolvers.auth import authenticate
from resolvers.errors import DomainError
from schema.context import Context
from schema.errors import DomainErrors, is_expected
from schema.fast_execution import FastLeafExecutionContext
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
# Built once: the limiter extensions make new rule classes per request, which defeats the validation cache.
LIMIT_RULES = [depth_limit_rule(MAX_DEPTH, None), alias_limit_rule(MAX_ALIASES)]


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Log only what went wrong on our side; the DomainErrors extension logs those with the request id."""
        unexpected = [error for error in errors if not is_expected(error)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema() -> strawberry.Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        execution_context_class=FastLeafExecutionContext,
        extensions=[
            lambda: AddValidationRules(LIMIT_RULES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            DomainErrors,
        ],
    )


def _bearer(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer":
        return token.strip() or None
    return value.strip() or None


class GraphQLView(GraphQL[Context, None]):
    """Authenticates HTTP requests by their Authorization header and sockets in `connection_init`."""

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        context = Context(request=request, response=response, rt=request.state.runtime)
        if isinstance(request, Request):
            token = _bearer(request.headers.get("authorization"))
            if token:
                await _sign_in(context, token)
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.connection_params or {}
        token = _bearer(params.get("authorization") or params.get("Authorization") or params.get("token"))
        await _sign_in(context, token)
        if context.caller_or_none is None:
            raise ConnectionRejectionError({"code": "UNAUTHORIZED", "message": "a valid access token is required"})
        return None


async def _sign_in(context: Context, token: str | None) -> None:
    try:
        context.caller_or_none = await authenticate(context.rt, token)
    except DomainError as error:
        context.auth_error = error
