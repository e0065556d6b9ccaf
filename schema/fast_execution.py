"""A shorter path through graphql-core for plain leaf fields.

Most fields in a listing are scalars read straight off an object (`id`, `name`, `createdAt`).
graphql-core still builds a resolve-info object, checks for awaitables and dispatches through
`complete_value` for each of them, which dominates the cost of a large response. Here a field
that Strawberry resolves by plain attribute access (no resolver, no field extensions, no
arguments) and whose type is a scalar or enum is read and serialized directly. Anything
unusual (a null where none is allowed, a value the scalar refuses, middleware) takes
graphql-core's own path, so errors come out exactly as before.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from graphql import GraphQLNonNull, GraphQLObjectType, is_leaf_type
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter


class _Leaf(NamedTuple):
    attribute: str
    resolve: Any
    serialize: Any
    nullable: bool


_PLAIN_LEAVES: dict[tuple[int, str], _Leaf | None] = {}
"""Per (parent type, field name), the leaf's plan, or None when the field does not qualify.
Keyed by the parent type's identity: schema types live as long as the process."""


def _plan(schema: Any, parent_type: GraphQLObjectType, field_name: str) -> _Leaf | None:
    key = (id(parent_type), field_name)
    if key not in _PLAIN_LEAVES:
        field_def = schema.get_field(parent_type, field_name)
        definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF) if field_def else None
        plan = None
        if definition is not None and definition.is_basic_field and not field_def.args:
            nullable = not isinstance(field_def.type, GraphQLNonNull)
            leaf_type = field_def.type if nullable else field_def.type.of_type
            if is_leaf_type(leaf_type):
                plan = _Leaf(definition.python_name, definition.default_resolver, leaf_type.serialize, nullable)
        _PLAIN_LEAVES[key] = plan
    return _PLAIN_LEAVES[key]


class FastLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        leaf = None
        if not (self.middleware_manager and self.middleware_manager.middlewares):
            leaf = _plan(self.schema, parent_type, field_details_list[0].node.name.value)
        if leaf is not None:
            value = leaf.resolve(source, leaf.attribute)
            if value is None:
                if leaf.nullable:
                    return None
            else:
                try:
                    serialized = leaf.serialize(value)
                except Exception:  # noqa: BLE001 - let graphql-core report it the usual way
                    serialized = None
                if serialized is not None and serialized is not Undefined:
                    return serialized
        return super().execute_field(parent_type, source, field_details_list, path, position_context)
