"""Context memory through GraphQL: the same resolvers as REST, with the scope object resolved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import Api, LiveServer, Tree, make_tree
from tests.graphql_calls import USER_ERRORS, data, error_codes, gid, mutate, refused
from tests.statements import fewest_statements
from tests.test_memories import wait_healthy

MEMORY_FIELDS = "id databaseId content memoryType scopeKind visibility tags hierarchy scope { id }"
CREATE = f"mutation($input: CreateMemoryInput!) {{ createMemory(input: $input) {{ memory {{ {MEMORY_FIELDS} }} {USER_ERRORS} }} }}"  # fmt: skip
SCOPE_TYPES = {"organization": "Organization", "workspace": "Workspace", "project": "Project", "task": "Task"}

SIMILAR_SCOPES = (
    "query($id: ID!) { memory(id: $id) { similar(first: 10) { memory { scope { ... on Project { id } } } } } }"
)


def create(api: Api, content: str, scope: str, scope_id: str, **extra: Any) -> dict[str, Any]:
    """A memory of the scope (`project` and its REST id), made through createMemory."""
    scope_gid = gid(SCOPE_TYPES[scope], scope_id)
    memory = mutate(api, CREATE, input={"content": content, "scopeId": scope_gid, **extra})["memory"]
    assert memory["scope"] == {"id": scope_gid} and memory["scopeKind"] == scope.upper()
    return memory


def test_memories_from_mutation_to_search_with_scope_objects(alice: Api, tree: Tree) -> None:
    wait_healthy(alice)
    pid, ws = gid("Project", tree.project["id"]), gid("Workspace", tree.workspace["id"])
    create(alice, "The staging database is reset every Sunday night.", "project", tree.project["id"], memoryType="ops")
    shared = create(alice, "Code review needs two approvals in this workspace.", "workspace", tree.workspace["id"])
    assert shared["visibility"] == "WORKSPACE" and shared["hierarchy"]["workspace_id"] == tree.workspace["id"]

    found = data(
        alice,
        """query($p: ID!) { searchMemories(query: "how many reviewers must approve a change", scopeId: $p,
             includeInherited: true, first: 2) {
               score memory { id content scope { __typename ... on Workspace { id name } ... on Project { id } } } } }""",
        p=pid,
    )
    hits = found["searchMemories"]
    assert hits[0]["memory"]["id"] == shared["id"]
    assert hits[0]["memory"]["scope"] == {"__typename": "Workspace", "id": ws, "name": tree.workspace["name"]}
    assert hits[1]["memory"]["scope"] == {"__typename": "Project", "id": pid}
    assert hits[0]["score"] > hits[1]["score"]

    page = data(
        alice,
        """query($p: ID!) { project(id: $p) { memories(first: 1, includeInherited: true) {
             totalCount pageInfo { hasNextPage endCursor } edges { node { id content } } } } }""",
        p=pid,
    )
    connection = page["project"]["memories"]
    assert connection["totalCount"] == 2 and connection["pageInfo"]["hasNextPage"] is True
    after = data(
        alice,
        """query($p: ID!, $a: String) { project(id: $p) { memories(first: 5, after: $a, includeInherited: true) {
             totalCount pageInfo { hasNextPage hasPreviousPage } edges { node { id } } } } }""",
        p=pid,
        a=connection["pageInfo"]["endCursor"],
    )["project"]["memories"]
    assert len(after["edges"]) == 1 and after["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}
    assert after["totalCount"] == 2
    assert {connection["edges"][0]["node"]["id"], after["edges"][0]["node"]["id"]} == {
        shared["id"],
        hits[1]["memory"]["id"],
    }

    stats = data(alice, "query($p: ID!) { project(id: $p) { memoryStats { total byType { memoryType count } } } }", p=pid)  # fmt: skip
    assert stats["project"]["memoryStats"] == {"total": 1, "byType": [{"memoryType": "ops", "count": 1}]}
    health = data(alice, "{ contextHealth { status enabled provider } }")["contextHealth"]
    assert health == {"status": "HEALTHY", "enabled": True, "provider": "local:all-MiniLM-L6-v2"}


def test_upsert_update_delete_and_similar(alice: Api, tree: Tree) -> None:
    wait_healthy(alice)
    pid = tree.project["id"]
    upsert = f"""mutation($input: UpsertMemoryInput!) {{ upsertMemory(input: $input) {{
                  created memory {{ id databaseId content }} {USER_ERRORS} }} }}"""
    body = {"content": "first", "scopeId": gid("Project", pid), "custom": {"filePath": "a.md"}, "uniqueKey": "filePath"}
    first = mutate(alice, upsert, input=body)
    second = mutate(alice, upsert, input={**body, "content": "second"})
    assert first["created"] is True and second["created"] is False
    assert second["memory"] == {**first["memory"], "content": "second"}

    memory_id = first["memory"]["id"]
    updated = mutate(
        alice,
        f'mutation($id: ID!) {{ updateMemory(input: {{id: $id, content: "Lions are big cats."}}) {{ memory {{ content }} {USER_ERRORS} }} }}',
        id=memory_id,
    )
    assert updated["memory"]["content"] == "Lions are big cats."
    tiger = create(alice, "Tigers are large striped cats.", "project", pid)
    create(alice, "Spreadsheets hold rows and columns.", "project", pid)
    similar = data(alice, "query($id: ID!) { memory(id: $id) { similar(first: 1) { memory { id } } } }", id=memory_id)
    assert [hit["memory"]["id"] for hit in similar["memory"]["similar"]] == [tiger["id"]]

    deleted = mutate(
        alice, f"mutation($id: ID!) {{ deleteMemory(input: {{id: $id}}) {{ deletedId {USER_ERRORS} }} }}", id=memory_id
    )
    assert deleted["deletedId"] == memory_id
    assert data(alice, "query($id: ID!) { memory(id: $id) { id } }", id=memory_id) == {"memory": None}
    assert alice.get(f"/context/memories/{first['memory']['databaseId']}").status_code == 404


def test_others_memories_do_not_exist_and_bad_input_names_the_field(
    alice: Api, tree: Tree, make_user: Callable[..., Api]
) -> None:
    wait_healthy(alice)
    secret = create(alice, "The launch date is kept secret.", "project", tree.project["id"])
    stored = alice.get(f"/context/memories/{secret['databaseId']}").json()
    bob = make_user()
    make_tree(bob)
    for query in (
        "query($id: ID!) { memory(id: $id) { id } }",
        "query($id: ID!) { memory(id: $id) { similar { score } } }",
        "query($id: ID!) { node(id: $id) { id } }",
    ):
        assert list(data(bob, query, id=secret["id"]).values()) == [None], query
    for mutation in (
        f'mutation($id: ID!) {{ updateMemory(input: {{id: $id, content: "leaked"}}) {{ memory {{ id }} {USER_ERRORS} }} }}',
        f"mutation($id: ID!) {{ deleteMemory(input: {{id: $id}}) {{ deletedId {USER_ERRORS} }} }}",
    ):
        payload, codes = refused(bob, mutation, id=secret["id"])
        assert codes == ["NOT_FOUND"], mutation
        assert all(value is None for key, value in payload.items() if key != "userErrors"), payload
    target = {"scopeId": gid("Project", tree.project["id"])}
    for mutation, variables in (
        (CREATE, {"input": {"content": "planted", **target}}),
        (
            f"mutation($input: UpsertMemoryInput!) {{ upsertMemory(input: $input) {{ memory {{ id }} {USER_ERRORS} }} }}",
            {"input": {"content": "planted", **target}},
        ),
        (
            f'mutation($t: ImportTargetInput!) {{ importContent(input: {{content: "planted", target: $t}}) {{ result {{ chunksCreated }} {USER_ERRORS} }} }}',
            {"t": target},
        ),
        (
            f'mutation($t: ImportTargetInput!) {{ importDocument(input: {{filePath: "notes.md", target: $t}}) {{ result {{ chunksCreated }} {USER_ERRORS} }} }}',
            {"t": target},
        ),
    ):
        payload, codes = refused(bob, mutation, **variables)
        assert codes == ["PROJECT_NOT_FOUND"], mutation
    search = 'query($p: ID!) { searchMemories(query: "launch", scopeId: $p) { score } }'
    assert error_codes(bob, search, p=gid("Project", tree.project["id"])) == ["PROJECT_NOT_FOUND"]
    assert data(bob, "{ memoryStats { total } }")["memoryStats"]["total"] == 0
    assert alice.get(f"/context/memories/{secret['databaseId']}").json() == stored
    assert data(alice, "query($p: ID!) { project(id: $p) { memories { totalCount } } }", p=target["scopeId"]) == {
        "project": {"memories": {"totalCount": 1}}
    }

    bad, codes = refused(alice, CREATE, input={"content": " ", **target})
    assert codes == ["VALIDATION_ERROR"] and bad["memory"] is None
    assert bad["userErrors"][0]["field"] == "content" and "content" in bad["userErrors"][0]["message"]
    over = 'query($p: ID!) { searchMemories(query: "x", scopeId: $p, first: 500) { score } }'
    assert error_codes(alice, over, p=target["scopeId"]) == ["PAGE_SIZE_INVALID"]
    wrong_kind = data(alice, CREATE, input={"content": "x", "scopeId": gid("Sandbox", tree.project["id"])})
    assert [(e["field"], e["code"]) for e in wrong_kind["createMemory"]["userErrors"]] == [("scopeId", "INVALID_ID")]


def test_imports_and_sync_through_mutations(server: LiveServer, alice: Api, tree: Tree) -> None:
    wait_healthy(alice)
    target = {"scopeId": gid("Project", tree.project["id"])}
    folder = server.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"]
    (folder / tree.project["folderPath"] / "notes.md").write_text("# Notes\n\nFirst version.\n")
    imported = mutate(
        alice,
        """mutation($t: ImportTargetInput!) { importDocument(input: {filePath: "notes.md", target: $t}) {
             result { filesImported memoriesCreated chunksCreated errors } userErrors { field code message } } }""",
        t=target,
    )
    assert imported["result"] == {"filesImported": 1, "memoriesCreated": 1, "chunksCreated": 1, "errors": []}
    content = mutate(
        alice,
        """mutation($t: ImportTargetInput!) { importContent(input: {content: "# A\\n\\none\\n\\n# B\\n\\ntwo",
             target: $t}) { result { chunksCreated } userErrors { field code message } } }""",
        t=target,
    )
    assert content["result"]["chunksCreated"] == 2
    (folder / tree.project["folderPath"] / "notes.md").write_text("# Notes\n\nSecond version.\n")
    synced = mutate(
        alice,
        """mutation($t: ImportTargetInput!) { syncFile(input: {filePath: "notes.md", target: $t}) {
             result { filesSynced memoriesUpdated modified } userErrors { field code message } } }""",
        t=target,
    )
    assert synced["result"] == {"filesSynced": 1, "memoriesUpdated": 1, "modified": 1}
    tracked = data(
        alice,
        "query($p: ID!) { project(id: $p) { trackedFiles { nodes { filePath lastSync memories { id content } } }"
        " syncStats { totalTrackedFiles lastSync } } }",
        p=target["scopeId"],
    )["project"]
    (file,) = tracked["trackedFiles"]["nodes"]
    assert file["filePath"].endswith("/notes.md") and file["lastSync"]
    assert [memory["content"] for memory in file["memories"]] == ["# Notes\n\nSecond version."]
    assert tracked["syncStats"] == {"totalTrackedFiles": 1, "lastSync": file["lastSync"]}
    memory = data(alice, "query($id: ID!) { memory(id: $id) { content } }", id=file["memories"][0]["id"])["memory"]
    assert memory["content"] == "# Notes\n\nSecond version."
    outside, codes = refused(
        alice,
        f'mutation($t: ImportTargetInput!) {{ importDocument(input: {{filePath: "/etc/passwd", target: $t}}) {{ result {{ errors }} {USER_ERRORS} }} }}',
        t=target,
    )
    assert codes == ["VALIDATION_ERROR"] and outside["result"] is None
    assert "file_path" in outside["userErrors"][0]["message"]


def test_scope_objects_cost_a_constant_number_of_statements(server: LiveServer, make_user: Callable[..., Api]) -> None:
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
        assert first is not None
        data(user, "{ health { status } }")  # the caller is established now, and cached for a few seconds
        count, found = fewest_statements(server, lambda u=user, m=first["id"]: data(u, SIMILAR_SCOPES, id=m))
        assert len(found["memory"]["similar"]) == projects - 1
        assert all(hit["memory"]["scope"]["id"] for hit in found["memory"]["similar"])
        counts.append(count)
    assert counts[0] == counts[1], counts
