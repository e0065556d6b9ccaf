"""The GraphQL schema and the view that serves it (resolvers hold every decision; this is their skin)."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, ValidationCache
from strawberry.extensions import ParserCache as StrawberryParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.errors import DomainErrors, is_expected
from schema.events import EVENT_ID_SCALAR, EventId
from schema.fast_execution import FastLeafExecutionContext
from schema.limits import Limits, OperationLimits
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription
from schema.view import GraphQLView

__all__ = ["GraphQLView", "Limits", "build_schema"]

MAX_TOKENS = 5000


class ParserCache(StrawberryParserCache):
    """Strawberry's parse cache, except that a document that does not parse is left to Strawberry's own
    parser, which reports it as a request error inside the operation, where it gets its code."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError:
            context.graphql_document = None
        yield


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Log only what went wrong on our side; the DomainErrors extension logs those with the request id."""
        unexpected = [error for error in errors if not is_expected(error)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def _describe_inputs(schema: strawberry.Schema) -> strawberry.Schema:
    """Every mutation takes one `input`; say so on each, since its type's description says the rest."""
    mutation = schema._schema.mutation_type
    assert mutation is not None
    for name, field in mutation.fields.items():
        argument = field.args.get("input")
        if argument is not None and not argument.description:
            argument.description = f"What {name} needs (see the input type)."
    return schema


def build_schema(limits: Limits | None = None) -> strawberry.Schema:
    chosen = limits or Limits()
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        execution_context_class=FastLeafExecutionContext,
        config=StrawberryConfig(scalar_map={EventId: EVENT_ID_SCALAR}),
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            lambda: OperationLimits(chosen),  # after the validation cache: it sees only valid documents
            DomainErrors,
        ],
    )
    return _describe_inputs(schema)
