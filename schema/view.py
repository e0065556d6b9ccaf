"""The ASGI view that serves the schema: HTTP (GraphQL over HTTP, with `application/graphql-response+json`),
Server-Sent Events (graphql-sse) and multipart subscriptions, WebSocket (graphql-transport-ws and the
legacy graphql-ws, text frames only), and the GraphiQL explorer, every asset of it served from here.

Authentication: the `Authorization: Bearer` header over HTTP, `connection_init`'s `authorization` over
WebSocket. Sizes are limited around it: the body-limit middleware (413, rendered by `too_large`) and
uvicorn's WebSocket message size (close 1009)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from resolvers.auth import authenticate
from resolvers.errors import DomainError
from schema.context import Context
from schema.errors import coded
from schema.graphiql import graphiql_page

GRAPHQL_RESPONSE = "application/graphql-response+json"
MULTIPART_SUBSCRIPTION_PROTOCOL = "multipart-subscription"
CLOSE_TRY_AGAIN = 1013
HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class _Refused(Exception):
    """A request refused before any GraphQL ran, with its status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bearer(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer":
        return token.strip() or None
    return value.strip() or None


def _limit_error(limit: int) -> dict[str, Any]:
    return coded(
        f"At most {limit} operations may run at once on one connection",
        "TOO_MANY_SUBSCRIPTIONS",
        limit=limit,
    ).formatted


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with a coded error when a connection already runs its limit of operations."""

    async def handle_subscribe(self, message: Any) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            await self.send_message({"id": message["id"], "type": "error", "payload": [_limit_error(limit)]})
            return
        await super().handle_subscribe(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (subscriptions-transport-ws), with the same coded limit error."""

    async def handle_start(self, message: Any) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and message["id"] not in self.tasks
            and len(self.tasks) >= limit
        ):
            await self.send_message({"type": "error", "id": message["id"], "payload": _limit_error(limit)})
            return
        await super().handle_start(message)

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        """Queries and mutations too, as the protocol allows (Strawberry's handler runs subscriptions only):
        one `data` message, then `complete`."""
        if _is_subscription(query, operation_name):
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=self.context,
                operation_name=operation_name,
                allowed_operation_types=(OperationType.QUERY, OperationType.MUTATION),
            )
            await self.send_data_message(result, operation_id)
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.tasks.pop(operation_id, None)


class TryAgainAdapter(ASGIWebSocketAdapter):
    """A socket refused for opening too often closes with 1013 and when to retry, on both protocols
    (Strawberry closes a refused one with 4403, or 1011 on the legacy protocol)."""

    async def close(self, code: int, reason: str) -> None:
        retry = getattr(self.ws.state, "try_again", None)
        await super().close(CLOSE_TRY_AGAIN, retry) if retry else await super().close(code, reason)


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = TryAgainAdapter  # type: ignore[assignment]

    def __init__(self, schema: Any, max_subscriptions: int = 100) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(
                GRAPHQL_TRANSPORT_WS_PROTOCOL,
                GRAPHQL_WS_PROTOCOL,
                GRAPHQL_SSE_PROTOCOL,
                MULTIPART_SUBSCRIPTION_PROTOCOL,
            ),
            max_subscriptions_per_connection=max_subscriptions,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope)
        if (
            request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
            and "query" not in request.query_params
        ):
            await graphiql_page(request)(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except _Refused as refused:
            response = refusal(scope, refused.status, refused.code, refused.message)
        except HTTPException as error:
            code = HTTP_CODES.get(error.status_code, "BAD_REQUEST")
            response = refusal(scope, error.status_code, code, error.reason)
        await response(scope, receive, send)

    def encode_json(self, data: object) -> str:
        """Text, never bytes: the ASGI adapter sends a str as a text frame, which every client expects."""
        return orjson.dumps(data).decode()

    async def parse_http_body(self, request: Any) -> Any:
        """Stream only what needs it: a query or mutation goes back as plain JSON whenever the client
        accepts JSON (urql lists JSON, then SSE, then multipart) or asked for multipart, which carries
        subscriptions only; over SSE alone (the graphql-sse client) it is one `next` event."""
        data = await super().parse_http_body(request)
        if isinstance(data, list) or data.protocol == "http" or not data.query:
            return data
        if _is_subscription(data.query, data.operation_name):
            return data
        accepted = request.headers.get("accept", "")
        if data.protocol == MULTIPART_SUBSCRIPTION_PROTOCOL or "json" in accepted:
            return dataclasses.replace(data, protocol="http")
        return data

    async def execute_single(
        self, request: Any, request_adapter: Any, sub_response: Any, context: Any, root_value: Any, request_data: Any
    ) -> ExecutionResult:
        """A subscription over plain HTTP (no SSE or multipart `Accept`) is refused with 400, never run."""
        if request_data.query and _is_subscription(request_data.query, request_data.operation_name):
            raise _Refused(
                400,
                "STREAM_REQUIRED",
                "A subscription needs a stream: use a WebSocket (graphql-transport-ws or graphql-ws), or POST "
                "with Accept: text/event-stream (graphql-sse) or multipart/mixed;subscriptionSpec=1.0",
            )
        return await super().execute_single(request, request_adapter, sub_response, context, root_value, request_data)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Under `application/graphql-response+json` a request that could not run answers 400, without `data`."""
        processed = process_result(result)
        sub_response = request.state.graphql_response
        if sub_response.media_type == GRAPHQL_RESPONSE and _is_request_error(result):
            processed.pop("data", None)
            sub_response.status_code = 400
        return processed

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or 200,
            media_type=sub_response.media_type or "application/json",
        )
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        context = Context(request=request, response=response, rt=request.state.runtime)
        if isinstance(request, Request):
            assert isinstance(response, Response)
            if GRAPHQL_RESPONSE in request.headers.get("accept", ""):
                response.media_type = GRAPHQL_RESPONSE
            request.state.graphql_response = response
            token = _bearer(request.headers.get("authorization"))
            if token:
                await _sign_in(context, token)
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """Sign the socket in; one that opens too often (per address, then per user) is refused with 1013."""
        rt, socket = context.rt, context.request
        params = context.connection_params or {}
        token = _bearer(params.get("authorization") or params.get("Authorization") or params.get("token"))
        try:
            rt.admission.socket_from(socket.client.host if socket.client else None)
            await _sign_in(context, token)
            if context.caller_or_none is not None:
                rt.admission.socket_of(context.caller_or_none.user_id)
        except DomainError as error:
            socket.state.try_again = error.message[:120]
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from None
        if context.caller_or_none is None:
            raise ConnectionRejectionError({"code": "UNAUTHORIZED", "message": "a valid access token is required"})
        return None


def refusal(scope: Scope, status: int, code: str, message: str) -> Response:
    """A request refused before any GraphQL ran, as a GraphQL error body with its code."""
    body = {"errors": [coded(message, code).formatted]}
    accepted = Request(scope).headers.get("accept", "")
    media = GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in accepted else "application/json"
    return Response(orjson.dumps(body), status_code=status, media_type=media)


def too_large(scope: Scope, limit: int) -> Response:
    """The refusal of a body over the limit (REQUEST_BODY_MAX_BYTES), for the body-limit middleware."""
    return refusal(scope, 413, "PAYLOAD_TOO_LARGE", f"The request body is larger than the limit of {limit} bytes")


def _is_request_error(result: ExecutionResult) -> bool:
    """Refused before execution (parse, validation, limits): no data, and no error has a path."""
    return result.data is None and bool(result.errors) and all(error.path is None for error in result.errors)


def _is_subscription(query: str, operation_name: str | None) -> bool:
    from graphql import GraphQLError, OperationDefinitionNode, parse

    try:
        document = parse(query, max_tokens=5000)
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    return len(chosen) == 1 and chosen[0].operation.value == OperationType.SUBSCRIPTION.value


async def _sign_in(context: Context, token: str | None) -> None:
    try:
        context.caller_or_none = await authenticate(context.rt, token)
    except DomainError as error:
        context.auth_error = error
