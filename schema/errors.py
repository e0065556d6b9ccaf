"""Errors in GraphQL: expected failures of mutations as typed user errors in the payload (Saleor's and
Shopify's way); top-level errors, always with `extensions.code`, for authentication, bad requests
and the unexpected (logged with the request id, answered without internals)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterator
from enum import Enum
from typing import Any, TypeVar

import strawberry
from graphql.error import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import StreamExecutionResult

from resolvers import storage
from resolvers.errors import STATUS_BY_CODE, DomainError
from resolvers.runtime import Runtime

log = logging.getLogger("orchestrator.graphql")
T = TypeVar("T")

TOP_LEVEL_CODES = frozenset({"UNAUTHORIZED", "INTERNAL_ERROR"})
"""Domain failures that are not the mutation's business but the request's: they stay top-level errors."""
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"


UserErrorCode = strawberry.enum(
    Enum(  # type: ignore[misc]
        "UserErrorCode",
        {
            code: strawberry.enum_value(code, description=f"The REST API answers this with HTTP {status}.")
            for code, status in STATUS_BY_CODE.items()
            if code not in TOP_LEVEL_CODES
        },
    ),
    description="Why a mutation was refused; the same codes as the REST API's error bodies.",
)


@strawberry.type(description="An expected failure of a mutation: which input field, why, and in words.")
class UserError:
    field: str | None = strawberry.field(description="The input field at fault, when one is (its REST name).")
    code: UserErrorCode = strawberry.field(description="A stable code to act on.")  # type: ignore[valid-type]
    message: str = strawberry.field(description="What went wrong, for people.")

    @classmethod
    def of(cls, error: DomainError) -> UserError:
        field = (error.details or {}).get("field")
        return cls(
            field=field if isinstance(field, str) else None, code=UserErrorCode[error.code], message=error.message
        )


@strawberry.type(description="What every mutation answers: its result, or the reasons it was refused.")
class Payload:
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the mutation was refused; empty when it succeeded."
    )


async def attempt(call: Awaitable[T]) -> tuple[T | None, list[UserError]]:
    """The result of a resolver call, or the user error it refused with (nothing was changed then)."""
    try:
        return await call, []
    except DomainError as error:
        if error.code in TOP_LEVEL_CODES:
            raise
        return None, [UserError.of(error)]


def domain_extensions(error: DomainError) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": error.code, "statusCode": error.status}
    if error.details is not None:
        extensions["details"] = error.details
    return extensions


def coded(message: str, code: str, **extensions: Any) -> GraphQLError:
    """A top-level error with its code, raised before execution (limits) or by a subscription."""
    return GraphQLError(message, extensions={"code": code, **extensions})


def is_expected(error: GraphQLError) -> bool:
    """Domain errors and query mistakes are answers, not incidents: they are not logged."""
    return error.original_error is None or isinstance(error.original_error, DomainError)


def _translate(error: GraphQLError, request_id: str, rt: Runtime | None) -> GraphQLError:
    original = error.original_error
    if original is not None and not isinstance(original, DomainError) and rt is not None:
        original = storage.full_error(rt, original) or original  # a write refused by a full disk: 507's twin
    if isinstance(original, DomainError):
        extensions = domain_extensions(original)
    elif original is None and error.extensions and "code" in error.extensions:
        return error
    elif isinstance(error, GraphQLSyntaxError) or (original is None and error.message.startswith("Syntax Error")):
        code = TOO_MANY_TOKENS if "tokens. Parsing aborted" in error.message else "GRAPHQL_PARSE_FAILED"
        extensions = {"code": code}
    elif original is None:
        extensions = {"code": "GRAPHQL_VALIDATION_FAILED", **(error.extensions or {})}
    else:
        log.error("unhandled error at %s (request %s)", error.path, request_id, exc_info=original)
        return GraphQLError(
            f"Internal server error (request {request_id})",
            error.nodes,
            error.source,
            error.positions,
            error.path,
            None,
            {"code": "INTERNAL_ERROR"},
        )
    message = original.message if isinstance(original, DomainError) else error.message
    return GraphQLError(message, error.nodes, error.source, error.positions, error.path, None, extensions)


class DomainErrors(SchemaExtension):
    """Gives every error of a result its code, for whole results and for each streamed one."""

    def _process(self, result: Any) -> None:
        if result is None or not getattr(result, "errors", None):
            return
        context = self.execution_context.context
        request_id = getattr(getattr(context, "request", None), "scope", {}).get("request_id", "-")
        rt = getattr(context, "rt", None)
        result.errors = [_translate(error, request_id, rt) for error in result.errors]

    def on_operation(self) -> Iterator[None]:
        yield
        self._process(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._process(result)
        yield None
