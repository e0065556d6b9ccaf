"""Domain errors become `extensions.code`; anything unexpected is logged and masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension

from resolvers.errors import DomainError

log = logging.getLogger("orchestrator.graphql")


def domain_extensions(error: DomainError) -> dict[str, object]:
    extensions: dict[str, object] = {"code": error.code, "statusCode": error.status}
    if error.details is not None:
        extensions["details"] = error.details
    return extensions


def is_expected(error: GraphQLError) -> bool:
    """Domain errors and query mistakes are answers, not incidents: they are not logged."""
    return error.original_error is None or isinstance(error.original_error, DomainError)


def _translate(error: GraphQLError, request_id: str) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        return GraphQLError(
            original.message, error.nodes, error.source, error.positions, error.path, None, domain_extensions(original)
        )
    if original is None:
        extensions = {"code": "GRAPHQL_VALIDATION_FAILED", **(error.extensions or {})}
        return GraphQLError(error.message, error.nodes, error.source, error.positions, error.path, None, extensions)
    log.error("unhandled error at %s (request %s)", error.path, request_id, exc_info=original)
    return GraphQLError(
        f"Internal server error (request {request_id})",
        error.nodes,
        error.source,
        error.positions,
        error.path,
        None,
        {"code": "INTERNAL_ERROR", "statusCode": 500},
    )


class DomainErrors(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        context = self.execution_context.context
        request_id = getattr(getattr(context, "request", None), "scope", {}).get("request_id", "-")
        result.errors = [_translate(error, request_id) for error in result.errors]
