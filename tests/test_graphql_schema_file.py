"""`schema.graphql` is what the server serves, and every breaking change to it is in the API changelog."""

from __future__ import annotations

from app import SCHEMA_FILE, printed_schema
from schema import evolution

OLD = "type Query { users: [String!]! project(id: ID!): String }"
NEW = "type Query { project(id: ID!, deep: Boolean!): String }"


def test_the_committed_schema_is_the_served_one() -> None:
    assert SCHEMA_FILE.read_text() == printed_schema(), "schema.graphql is stale: run `make schema`"


def test_every_breaking_change_since_the_previous_schema_is_in_the_changelog() -> None:
    comparison = evolution.compare(SCHEMA_FILE.read_text())
    missing = evolution.unrecorded(comparison.breaking, evolution.CHANGELOG.read_text())
    assert missing == [], f"breaking changes since {comparison.previous_commit} not in the changelog (make schema)"


def test_breaking_changes_are_found_and_must_be_recorded() -> None:
    found = evolution.breaking_changes(OLD, NEW)
    assert found == ["A required argument Query.project(deep:) was added.", "Field Query.users was removed."]
    assert evolution.unrecorded(found, "- BREAKING: Field Query.users was removed.\n") == [found[0]]
    assert evolution.breaking_changes(OLD, OLD + " type Extra { a: Int }") == []
