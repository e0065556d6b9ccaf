"""The leaf-field shortcut must answer exactly as graphql-core does, errors included."""

from __future__ import annotations

from typing import Any

import strawberry

from schema.fast_execution import FastLeafExecutionContext


@strawberry.type
class Thing:
    name: str
    label: str | None
    count: int
    ratio: float | None

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times


@strawberry.type
class Query:
    @strawberry.field
    def good(self) -> Thing | None:
        return Thing(name="ok", label=None, count=3, ratio=0.5)

    @strawberry.field
    def null_name(self) -> Thing | None:
        return Thing(name=None, label="null name", count=1, ratio=None)  # type: ignore[arg-type]

    @strawberry.field
    def bad_count(self) -> Thing | None:
        return Thing(name="bad", label="bad count", count="not a number", ratio=1.0)  # type: ignore[arg-type]


FIELDS = "{ name label count ratio shout(times: 2) }"
QUERY = f"{{ good {FIELDS} nullName {FIELDS} badCount {FIELDS} }}"


def run(execution_context_class: Any) -> dict[str, Any]:
    schema = strawberry.Schema(query=Query, execution_context_class=execution_context_class)
    result = schema.execute_sync(QUERY)
    return {"data": result.data, "errors": sorted((e.message, tuple(e.path or ())) for e in result.errors or [])}


def test_same_data_and_errors_as_graphql_core() -> None:
    fast, plain = run(FastLeafExecutionContext), run(None)
    assert fast == plain
    assert fast["data"] == {
        "good": {"name": "ok", "label": None, "count": 3, "ratio": 0.5, "shout": "OKOK"},
        "nullName": None,
        "badCount": None,
    }
    messages = [message for message, _ in fast["errors"]]
    assert any("Cannot return null for non-nullable field" in m for m in messages)
    assert any("Int cannot represent" in m for m in messages)


@strawberry.type
class Simple:
    name: str
    label: str | None


@strawberry.type
class SimpleQuery:
    @strawberry.field
    def item(self) -> Simple:
        return Simple(name="n", label=None)


def test_plain_values_are_served_by_the_shortcut() -> None:
    schema = strawberry.Schema(query=SimpleQuery, execution_context_class=FastLeafExecutionContext)
    result = schema.execute_sync("{ item { name label } }")
    assert result.errors is None and result.data == {"item": {"name": "n", "label": None}}
