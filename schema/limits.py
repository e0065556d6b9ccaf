"""Limits checked before a GraphQL operation runs: depth, aliases, page sizes and cost.

The cost is the number of objects the operation may return, as GitHub's node limit counts it: every list
field's page size (`first`/`last`, 50 when neither is given) multiplied by the page sizes of the lists
above it, summed over the operation. `organizations(first: 10) { nodes { projects(first: 50) { nodes
{ tasks(first: 5) { nodes { id } } } } } }` costs 10 + 500 + 2,500. It is known from the document and
its variables alone, so an over-large operation is refused with its cost before any query runs.
Every refusal carries `extensions.code`. Fields of introspection (`__schema`, `__type`) are not counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from resolvers.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from schema.errors import coded

PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True)
class Limits:
    max_depth: int = 20
    max_aliases: int = 30
    max_cost: int = 100_000


@dataclass
class _Tally:
    cost: int = 0
    aliases: int = 0
    depth: int = 0
    errors: list[GraphQLError] = field(default_factory=list)


class _Analysis:
    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.tally = _Tally()

    def _fields(self, selections: SelectionSetNode, seen: frozenset[str]) -> Iterator[tuple[FieldNode, str | None]]:
        """The fields of a selection set with fragments spread, each with the type its fragment names."""
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection, None
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else None
                for found, _ in self._fields(selection.selection_set, seen):
                    yield found, condition
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    inner = self._fields(fragment.selection_set, seen | {selection.name.value})
                    for found, _ in inner:
                        yield found, fragment.type_condition.name.value

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                if isinstance(argument.value, VariableNode):
                    return self.variables.get(argument.value.name.value)
                return value_from_ast_untyped(argument.value, self.variables)
        return None

    def _page_size(self, node: FieldNode, path: list[str]) -> int:
        sizes = [self._argument(node, name) for name in PAGE_ARGUMENTS]
        for name, size in zip(PAGE_ARGUMENTS, sizes, strict=True):
            if size is not None and (
                not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_PAGE_SIZE
            ):
                self.tally.errors.append(
                    coded(
                        f"{'.'.join(path)}: {name} must be a whole number from 0 to {MAX_PAGE_SIZE}",
                        "PAGE_SIZE_INVALID",
                        field=".".join(path),
                        argument=name,
                        maximum=MAX_PAGE_SIZE,
                    )
                )
                return 0
        return next((size for size in sizes if size is not None), DEFAULT_PAGE_SIZE)

    def walk(self, selections: SelectionSetNode, parent: Any, multiplier: int, depth: int, path: list[str]) -> None:
        self.tally.depth = max(self.tally.depth, depth)
        for node, condition in self._fields(selections, frozenset()):
            name = node.name.value
            if name.startswith("__"):
                continue
            if node.alias:
                self.tally.aliases += 1
            owner = self.schema.get_type(condition) if condition else parent
            if not isinstance(owner, GraphQLObjectType | GraphQLInterfaceType) or name not in owner.fields:
                continue
            definition = owner.fields[name]
            here = [*path, node.alias.value if node.alias else name]
            count = multiplier
            if any(argument in definition.args for argument in PAGE_ARGUMENTS):
                count = multiplier * self._page_size(node, here)
                self.tally.cost += count
            if node.selection_set:
                self.walk(node.selection_set, get_named_type(definition.type), count, depth + 1, here)


def analyse(
    schema: GraphQLSchema, document: Any, operation_name: str | None, variables: dict[str, Any] | None, limits: Limits
) -> list[GraphQLError]:
    """The limits the operation to run breaks, as coded errors (empty when it is within all of them)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = next((o for o in operations if o.name and o.name.value == operation_name), None) or (
        operations[0] if len(operations) == 1 and operation_name is None else None
    )
    if chosen is None:
        return []
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    analysis = _Analysis(schema, fragments, variables or {})
    root = schema.get_root_type(chosen.operation)
    analysis.walk(chosen.selection_set, root, 1, 1, [])
    tally = analysis.tally
    errors = list(tally.errors)
    if tally.depth > limits.max_depth:
        errors.append(
            coded(
                f"The operation is {tally.depth} levels deep; at most {limits.max_depth} are allowed",
                "QUERY_TOO_DEEP",
                depth=tally.depth,
                limit=limits.max_depth,
            )
        )
    if tally.aliases > limits.max_aliases:
        errors.append(
            coded(
                f"The operation uses {tally.aliases} aliases; at most {limits.max_aliases} are allowed",
                "TOO_MANY_ALIASES",
                aliases=tally.aliases,
                limit=limits.max_aliases,
            )
        )
    if tally.cost > limits.max_cost:
        errors.append(
            coded(
                f"The operation may return {tally.cost} objects; at most {limits.max_cost} are allowed "
                "(ask for smaller pages with first/last)",
                "QUERY_TOO_COSTLY",
                cost=tally.cost,
                limit=limits.max_cost,
            )
        )
    return errors


class OperationLimits(SchemaExtension):
    """Refuses an operation that breaks a limit before it runs, as a request error (like a validation error).

    It must come after the validation cache in the schema's extensions: it analyses only documents that
    passed validation, then hands its errors on as the validation's."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors == [] and context.graphql_document is not None:
            errors = analyse(
                context.schema._schema, context.graphql_document, context.operation_name, context.variables, self.limits
            )
            if errors:
                context.pre_execution_errors = errors
        yield
