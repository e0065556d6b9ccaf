"""Keyset cursors: paging a list stays exact while rows are inserted and deleted (an offset would repeat or
skip rows), backwards paging mirrors forwards, and a cursor of another list, or garbage, is refused."""

from __future__ import annotations

from typing import Any

from schema.relay import global_id
from tests.conftest import Api, Tree, unique

PAGE = """query($p: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  project(id: $p) { memories(first: $first, after: $after, last: $last, before: $before) {
    totalCount nodes { databaseId content }
    edges { cursor node { databaseId } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""


def memory(api: Api, tree: Tree, text: str) -> str:
    return api.create("/context/memories", {"content": text, "scope": "project", "scope_id": tree.project["id"]})["id"]


def page(api: Api, tree: Tree, **arguments: Any) -> dict[str, Any]:
    result = api.graphql(PAGE, {"p": global_id("Project", tree.project["id"]), **arguments})
    assert "errors" not in result, result
    return result["data"]["project"]["memories"]


def test_pages_stay_exact_while_rows_come_and_go(alice: Api, tree: Tree) -> None:
    original = [memory(alice, tree, f"original {i} {unique()}") for i in range(7)]
    newest_first = list(reversed(original))

    first = page(alice, tree, first=3)
    assert [n["databaseId"] for n in first["nodes"]] == newest_first[:3]
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    assert [e["cursor"] for e in first["edges"]][-1] == first["pageInfo"]["endCursor"]

    arrived = [memory(alice, tree, f"arrived {i} {unique()}") for i in range(2)]  # they sort first
    second = page(alice, tree, first=3, after=first["pageInfo"]["endCursor"])
    assert [n["databaseId"] for n in second["nodes"]] == newest_first[3:6]
    assert second["totalCount"] == 9 and second["pageInfo"]["hasPreviousPage"]

    assert alice.delete(f"/context/memories/{newest_first[5]}").status_code == 204  # the cursor's own row goes
    third = page(alice, tree, first=3, after=second["pageInfo"]["endCursor"])
    assert [n["databaseId"] for n in third["nodes"]] == newest_first[6:]
    assert not third["pageInfo"]["hasNextPage"]

    before_first = page(alice, tree, last=5, before=first["pageInfo"]["startCursor"])
    assert [n["databaseId"] for n in before_first["nodes"]] == list(reversed(arrived))
    assert not before_first["pageInfo"]["hasPreviousPage"] and before_first["pageInfo"]["hasNextPage"]
    backwards = page(alice, tree, last=2, before=third["pageInfo"]["startCursor"])
    assert [n["databaseId"] for n in backwards["nodes"]] == newest_first[3:5]
    assert backwards["pageInfo"]["hasPreviousPage"]
    assert page(alice, tree, first=0)["nodes"] == []


def test_a_cursor_of_another_list_or_garbage_is_refused(alice: Api, tree: Tree) -> None:
    memory(alice, tree, unique("one"))
    projects = alice.graphql(
        "query($w: ID!) { workspace(id: $w) { projects(first: 1) { pageInfo { endCursor } } } }",
        {"w": global_id("Workspace", tree.workspace["id"])},
    )
    foreign = projects["data"]["workspace"]["projects"]["pageInfo"]["endCursor"]
    for cursor in (foreign, "bm90IGEgY3Vyc29y", "%%%"):
        result = alice.graphql(PAGE, {"p": global_id("Project", tree.project["id"]), "first": 2, "after": cursor})
        (error,) = result["errors"]
        assert error["extensions"]["code"] == "INVALID_CURSOR" and "after" in error["message"]
    both = alice.graphql(PAGE, {"p": global_id("Project", tree.project["id"]), "first": 1, "last": 1})
    assert both["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
