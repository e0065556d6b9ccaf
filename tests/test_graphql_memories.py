"""Context memory through GraphQL: the same resolvers as REST, with the scope object resolved."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Api, Tree, make_tree
from tests.test_graphql import counting_statements
from tests.test_memories import wait_healthy

MEMORY_FIELDS = "id content memoryType scope scopeId visibility tags hierarchy"
CREATE = f"""mutation($input: MemoryInput!) {{ createMemory(input: $input) {{ {MEMORY_FIELDS} }} }}"""


def create(api: Api, content: str, scope: str, scope_id: str, **extra) -> dict:
    result = api.graphql(CREATE, {"input": {"content": content, "scope": scope, "scopeId": scope_id, **extra}})
    assert "errors" not in result, result
    return result["data"]["createMemory"]


def test_memories_from_mutation_to_search_with_scope_objects(alice: Api, tree: Tree) -> None:
    wait_healthy(alice)
    pid, ws = tree.project["id"], tree.workspace["id"]
    create(alice, "The staging database is reset every Sunday night.", "project", pid, memoryType="ops")
    shared = create(alice, "Code review needs two approvals in this workspace.", "workspace", ws)
    assert shared["visibility"] == "workspace" and shared["hierarchy"]["workspace_id"] == ws

    found = alice.graphql(
        """query($p: ID!) { searchMemories(query: "how many reviewers must approve a change", scope: "project",
             scopeId: $p, includeInherited: true, limit: 2) {
               score memory { id content scopeObject { __typename ... on Workspace { id name } ... on Project { id } } } } }""",
        {"p": pid},
    )
    assert "errors" not in found, found
    hits = found["data"]["searchMemories"]
    assert hits[0]["memory"]["id"] == shared["id"]
    assert hits[0]["memory"]["scopeObject"] == {"__typename": "Workspace", "id": ws, "name": tree.workspace["name"]}
    assert hits[1]["memory"]["scopeObject"] == {"__typename": "Project", "id": pid}
    assert hits[0]["score"] > hits[1]["score"]

    page = alice.graphql(
        """query($p: ID!) { project(id: $p) { memories(first: 1, includeInherited: true) {
             totalCount pageInfo { hasNextPage endCursor } edges { node { content } } } } }""",
        {"p": pid},
    )
    connection = page["data"]["project"]["memories"]
    assert connection["totalCount"] == 2 and connection["pageInfo"]["hasNextPage"] is True
    after = alice.graphql(
        """query($p: ID!, $a: String) { memories(scope: "project", scopeId: $p, first: 5, after: $a,
             includeInherited: true) { totalCount pageInfo { hasNextPage } edges { node { id } } } }""",
        {"p": pid, "a": connection["pageInfo"]["endCursor"]},
    )["data"]["memories"]
    assert len(after["edges"]) == 1 and after["pageInfo"]["hasNextPage"] is False

    stats = alice.graphql(
        """query($p: ID!) { memoryStats(scope: "project", scopeId: $p) { total byType { memoryType count } } }""",
        {"p": pid},
    )["data"]["memoryStats"]
    assert stats == {"total": 1, "byType": [{"memoryType": "ops", "count": 1}]}
    health = alice.graphql("{ contextHealth { status enabled provider } }")["data"]["contextHealth"]
    assert health == {"status": "healthy", "enabled": True, "provider": "local:all-MiniLM-L6-v2"}


def test_upsert_update_delete_and_similar(alice: Api, tree: Tree) -> None:
    wait_healthy(alice)
    pid = tree.project["id"]
    upsert = """mutation($input: MemoryInput!) { upsertMemory(input: $input, uniqueKey: "filePath") {
                  created memory { id content } } }"""
    body = {"content": "first", "scope": "project", "scopeId": pid, "custom": {"filePath": "a.md"}}
    first = alice.graphql(upsert, {"input": body})["data"]["upsertMemory"]
    second = alice.graphql(upsert, {"input": {**body, "content": "second"}})["data"]["upsertMemory"]
    assert first["created"] is True and second["created"] is False
    assert second["memory"] == {"id": first["memory"]["id"], "content": "second"}

    memory_id = first["memory"]["id"]
    updated = alice.graphql(
        'mutation($id: ID!) { updateMemory(id: $id, content: "Lions are big cats.") { content } }', {"id": memory_id}
    )
    assert updated["data"]["updateMemory"]["content"] == "Lions are big cats."
    tiger = create(alice, "Tigers are large striped cats.", "project", pid)
    create(alice, "Spreadsheets hold rows and columns.", "project", pid)
    similar = alice.graphql(
        "query($id: ID!) { similarMemories(id: $id, limit: 1) { memory { id } } }", {"id": memory_id}
    )["data"]["similarMemories"]
    assert [hit["memory"]["id"] for hit in similar] == [tiger["id"]]

    deleted = alice.graphql("mutation($id: ID!) { deleteMemory(id: $id) }", {"id": memory_id})
    assert deleted["data"]["deleteMemory"] is True
    gone = alice.graphql("query($id: ID!) { memory(id: $id) { id } }", {"id": memory_id})
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_others_memories_do_not_exist_and_bad_input_names_the_field(
    alice: Api, tree: Tree, make_user: Callable[..., Api]
) -> None:
    wait_healthy(alice)
    secret = create(alice, "The launch date is kept secret.", "project", tree.project["id"])
    bob = make_user()
    make_tree(bob)
    for query in (
        "query($id: ID!) { memory(id: $id) { id } }",
        "query($id: ID!) { similarMemories(id: $id) { score } }",
        "mutation($id: ID!) { deleteMemory(id: $id) }",
    ):
        result = bob.graphql(query, {"id": secret["id"]})
        assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND", result
    search = bob.graphql(
        'query($p: ID!) { searchMemories(query: "launch", scope: "project", scopeId: $p) { score } }',
        {"p": tree.project["id"]},
    )
    assert search["errors"][0]["extensions"]["code"] == "PROJECT_NOT_FOUND"
    assert bob.graphql("{ memoryStats { total } }")["data"]["memoryStats"]["total"] == 0

    bad = bob.graphql(CREATE, {"input": {"content": " ", "scope": "project", "scopeId": tree.project["id"]}})
    assert bad["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    assert "content" in bad["errors"][0]["message"]
    over = alice.graphql(
        'query($p: ID!) { searchMemories(query: "x", scope: "project", scopeId: $p, limit: 500) { score } }',
        {"p": tree.project["id"]},
    )
    assert "limit" in over["errors"][0]["message"]


def test_imports_and_sync_through_mutations(server, alice: Api, tree: Tree) -> None:
    wait_healthy(alice)
    pid = tree.project["id"]
    folder = server.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"]
    (folder / tree.project["folderPath"] / "notes.md").write_text("# Notes\n\nFirst version.\n")
    imported = alice.graphql(
        """mutation($p: ID!) { importDocument(filePath: "notes.md", target: {scope: "project", scopeId: $p}) {
             filesImported memoriesCreated chunksCreated errors } }""",
        {"p": pid},
    )
    assert imported["data"]["importDocument"] == {
        "filesImported": 1,
        "memoriesCreated": 1,
        "chunksCreated": 1,
        "errors": [],
    }
    content = alice.graphql(
        """mutation($p: ID!) { importContent(content: "# A\\n\\none\\n\\n# B\\n\\ntwo", target: {scope: "project", scopeId: $p}) {
             chunksCreated } }""",
        {"p": pid},
    )
    assert content["data"]["importContent"]["chunksCreated"] == 2
    (folder / tree.project["folderPath"] / "notes.md").write_text("# Notes\n\nSecond version.\n")
    synced = alice.graphql(
        """mutation($p: ID!) { syncFile(filePath: "notes.md", target: {scope: "project", scopeId: $p}) {
             filesSynced memoriesUpdated modified } }""",
        {"p": pid},
    )
    assert synced["data"]["syncFile"] == {"filesSynced": 1, "memoriesUpdated": 1, "modified": 1}
    tracked = alice.graphql(
        'query($p: ID!) { trackedFiles(scope: "project", scopeId: $p) { filePath memoryIds lastSync } }', {"p": pid}
    )["data"]["trackedFiles"]
    assert len(tracked) == 1 and tracked[0]["filePath"].endswith("/notes.md") and tracked[0]["lastSync"]
    memory = alice.graphql("query($id: ID!) { memory(id: $id) { content } }", {"id": tracked[0]["memoryIds"][0]})[
        "data"
    ]["memory"]
    assert memory["content"] == "# Notes\n\nSecond version."
    outside = alice.graphql(
        'mutation($p: ID!) { importDocument(filePath: "/etc/passwd", target: {scope: "project", scopeId: $p}) { errors } }',
        {"p": pid},
    )
    assert outside["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    assert "file_path" in outside["errors"][0]["message"]


def test_scope_objects_cost_a_constant_number_of_statements(server, make_user) -> None:
    """One similar memory or five, each in its own project: the scope objects come through a loader."""
    counts = []
    for projects in (2, 6):
        user = make_user()
        wait_healthy(user)
        org = make_tree(user).org
        workspace = user.create(f"/organizations/{org['id']}/workspaces", {"name": "W", "folderPath": "w"})
        first = None
        for index in range(projects):
            project = user.create(f"/workspaces/{workspace['id']}/projects", {"name": f"P{index}", "folderPath": f"p{index}"})  # fmt: skip
            memory = create(user, f"Release notes for service number {index}", "project", project["id"])
            first = first or memory
        with counting_statements(server) as statements:
            found = user.graphql(
                "query($id: ID!) { similarMemories(id: $id, limit: 10) {"
                " memory { scopeObject { ... on Project { id } } } } }",
                {"id": first["id"]},
            )
        assert "errors" not in found, found
        assert len(found["data"]["similarMemories"]) == projects - 1
        counts.append(len([s for s in statements if not s.startswith("BEGIN")]))
    assert counts[0] == counts[1], counts
