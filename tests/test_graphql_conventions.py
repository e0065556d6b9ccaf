"""The schema keeps the conventions of the best public GraphQL APIs, checked on the schema itself:
descriptions everywhere, `Node` with global ids, references as objects, connections for lists, enums,
`DateTime`, one input and one payload with typed user errors per mutation, nullable lookups."""

from __future__ import annotations

import re

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)

from schema import build_schema

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}
DEFINITION_IDS = {"stepId", "phaseId", "currentPhaseId", "currentStepId", "fromPhaseId", "toPhaseId", "linkId"}
"""Ids of phases and steps inside a workflow definition: names the definition gives them, not objects."""
AGENT_IDS = {"sessionId", "toolCallId"}
"""Ids the agent CLIs make (a session to resume, a tool call and its result): theirs, not objects of ours."""


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema()._schema


def own_types(schema: GraphQLSchema) -> dict[str, object]:
    return {name: t for name, t in schema.type_map.items() if not name.startswith("__") and name not in BUILT_IN}


def fields_of(schema: GraphQLSchema) -> list[tuple[str, str, GraphQLField]]:
    return [
        (name, field_name, field)
        for name, t in own_types(schema).items()
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
        for field_name, field in t.fields.items()
    ]


def test_every_type_field_argument_and_enum_value_is_described(schema: GraphQLSchema) -> None:
    missing = []
    for name, t in own_types(schema).items():
        if not t.description:  # type: ignore[attr-defined]
            missing.append(name)
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in t.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for argument_name, argument in getattr(field, "args", {}).items():
                    if not argument.description:
                        missing.append(f"{name}.{field_name}({argument_name})")
        if isinstance(t, GraphQLEnumType):
            missing += [f"{name}.{value}" for value, definition in t.values.items() if not definition.description]
    assert missing == []


def test_every_object_with_an_identity_is_a_node(schema: GraphQLSchema) -> None:
    node = schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    for name, t in own_types(schema).items():
        if isinstance(t, GraphQLObjectType) and "databaseId" in t.fields and name != "Viewer":
            assert node in t.interfaces, name
    query = schema.query_type
    assert query is not None
    assert query.fields["node"].type is node and isinstance(query.fields["nodes"].type, GraphQLNonNull)


def test_references_are_objects_not_id_strings(schema: GraphQLSchema) -> None:
    stray = [
        f"{name}.{field_name}"
        for name, field_name, field in fields_of(schema)
        if re.search(r"Ids?$", field_name)
        and field_name not in DEFINITION_IDS | AGENT_IDS | {"databaseId", "deletedId", "deletedIds", "removedUserId"}
    ]
    assert stray == []


def test_lists_that_grow_are_connections_with_the_full_shape(schema: GraphQLSchema) -> None:
    connections = [t for name, t in own_types(schema).items() if name.endswith("Connection")]
    assert len(connections) >= 10
    for connection in connections:
        assert isinstance(connection, GraphQLObjectType)
        assert {"edges", "nodes", "pageInfo", "totalCount"} <= set(connection.fields), connection.name
    page_info = schema.get_type("PageInfo")
    assert isinstance(page_info, GraphQLObjectType)
    assert set(page_info.fields) == {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}
    for name, field_name, field in fields_of(schema):
        if get_named_type(field.type).name.endswith("Connection"):
            assert {"first", "after", "last", "before"} <= set(field.args), f"{name}.{field_name}"
    # Lists that are not connections are bounded by what holds them (a definition's phases, a search's first).
    bounded = {
        "phases", "steps", "transitions", "workflows", "byType", "ports", "userErrors", "errors", "contextMemories",
        "memories", "features", "directories", "tags", "searchMemories", "relevantContext", "similar", "sandboxImages",
        "nodes", "edges", "replicas", "sandboxHosts", "allowedHosts",
    }  # fmt: skip
    plain_lists = [
        f"{name}.{field_name}"
        for name, field_name, field in fields_of(schema)
        if isinstance(field.type, GraphQLNonNull)
        and isinstance(field.type.of_type, GraphQLList)
        and field_name not in bounded
    ]
    assert plain_lists == []


def test_states_and_kinds_are_enums_and_times_are_date_times(schema: GraphQLSchema) -> None:
    for name, field_name, field in fields_of(schema):
        named = get_named_type(field.type)
        if field_name in ("status", "type", "role", "visibility", "scopeKind", "taskType", "kind", "triggeredBy"):
            assert isinstance(named, GraphQLEnumType), f"{name}.{field_name} is {named.name}"
        if field_name.endswith(("At", "Time")) or field_name in ("lastUpdated", "lastImport", "lastSync", "time"):
            assert named.name == "DateTime", f"{name}.{field_name} is {named.name}"


def test_mutations_take_one_input_and_answer_a_payload_with_user_errors(schema: GraphQLSchema) -> None:
    mutation = schema.mutation_type
    assert mutation is not None
    for name, field in mutation.fields.items():
        assert set(field.args) <= {"input"}, name
        payload = get_named_type(field.type)
        assert isinstance(payload, GraphQLObjectType) and payload.name.endswith("Payload"), name
        errors = get_named_type(payload.fields["userErrors"].type)
        assert errors.name == "UserError", name
    user_error = schema.get_type("UserError")
    assert isinstance(user_error, GraphQLObjectType)
    assert isinstance(get_named_type(user_error.fields["code"].type), GraphQLEnumType)


def test_lookups_are_nullable_and_events_are_a_union_sharing_an_interface(schema: GraphQLSchema) -> None:
    query = schema.query_type
    assert query is not None
    for name, field in query.fields.items():
        if "id" in field.args:
            assert not isinstance(field.type, GraphQLNonNull), name
    subscription = schema.subscription_type
    assert subscription is not None
    event = schema.get_type("Event")
    for name in ("projectEvents", "taskEvents", "executionEvents"):
        union = get_named_type(subscription.fields[name].type)
        assert isinstance(union, GraphQLUnionType), name
        assert all(event in member.interfaces for member in union.types), name
        assert get_named_type(subscription.fields[name].args["after"].type).name == "EventId"
