"""The FAISS index on disk is derived from the database: a damaged, missing or stale file is rebuilt at start."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from store.index_file import IndexFileError, read_checked, write_atomic
from store.vector_index import SCOPE_RANKS, Entry, Filter, Reach, VectorIndex, checksum_of
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, Api, LiveServer, login_as, make_tree
from tests.test_memories import DISTRACTORS, PARAPHRASE, TARGET, create, search, wait_healthy

INDEX = Path("memory-index") / "memories.idx"


def ranked(api: Api, pid: str) -> list[tuple[str, float]]:
    return [(r["id"], round(r["score"], 4)) for r in search(api, PARAPHRASE, "project", pid, limit=4)]


def test_a_damaged_missing_or_stale_index_is_rebuilt_with_the_same_results(
    fresh_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    data = tmp_path / "data"

    def start() -> tuple[LiveServer, Api]:
        live = fresh_server(data)
        api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
        wait_healthy(api)
        return live, api

    live, api = start()
    pid = make_tree(api).project["id"]
    for text in [*DISTRACTORS, TARGET]:
        create(api, text, "project", pid)
    before = ranked(api, pid)
    assert len(before) == 4
    live.stop()
    index_file = data / INDEX
    assert index_file.is_file()
    good_copy = tmp_path / "good.idx"
    shutil.copy(index_file, good_copy)

    live, api = start()
    assert live.runtime.memory.rebuilt_at_start is False, "an intact, current index is loaded, not rebuilt"
    assert ranked(api, pid) == before
    live.stop()

    raw = bytearray(index_file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    index_file.write_bytes(bytes(raw))
    live, api = start()
    assert live.runtime.memory.rebuilt_at_start is True
    assert ranked(api, pid) == before
    assert api.get("/context/health").json()["memories"] == 6
    live.stop()

    index_file.unlink()
    live, api = start()
    assert live.runtime.memory.rebuilt_at_start is True
    assert ranked(api, pid) == before
    newest = create(api, "Shipping to production needs a green pipeline and a sign-off.", "project", pid)
    live.stop()

    shutil.copy(good_copy, index_file)  # an older index: one memory short
    live, api = start()
    assert live.runtime.memory.rebuilt_at_start is True
    assert newest["id"] in {memory_id for memory_id, _ in ranked(api, pid)}
    live.stop()


def test_the_index_file_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "index.idx"
    write_atomic(path, {"count": 1}, b"first payload")
    header, payload = read_checked(path)
    assert header["count"] == 1 and payload == b"first payload"
    (tmp_path / f".{path.name}.123.tmp").write_bytes(b"half a write")  # a crash mid-write leaves this behind
    assert read_checked(path)[1] == b"first payload"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(IndexFileError, match="checksum"):
        read_checked(path)
    path.write_bytes(b"garbage")
    with pytest.raises(IndexFileError):
        read_checked(path)


def _random_index(count: int, ivf_min: int) -> tuple[VectorIndex, list[Entry], np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((count, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    entries = [Entry(f"m{i}", f"scope{i % 100}", "project", "t", f"h{i}") for i in range(count)]
    return VectorIndex.build(32, ivf_min, 4, entries, vectors), entries, vectors


@pytest.mark.parametrize("ivf_min", [10**9, 1000], ids=["exact", "ivf"])
def test_filtered_search_matches_exact_search_over_the_allowed_vectors(ivf_min: int) -> None:
    index, entries, vectors = _random_index(5000, ivf_min)
    assert index.kind == ("flat" if ivf_min > 5000 else "ivf")
    query = vectors[3] + 0.05
    query /= np.linalg.norm(query)
    for scopes in (["scope3"], ["scope3", "scope17", "scope42"]):
        allowed = [i for i, e in enumerate(entries) if e.scope_id in scopes]
        exact = sorted(allowed, key=lambda i: -float(vectors[i] @ query))[:10]
        found = index.search(query, Filter(tuple(Reach(s) for s in scopes)), 10)
        assert len(found) == 10, "a filtered search fills its limit when enough vectors are allowed"
        assert {m for m, _ in found} <= {entries[i].memory_id for i in allowed}
        assert found[0][0] == entries[exact[0]].memory_id
    broad = index.search(query, Filter(tuple(Reach(f"scope{i}") for i in range(100))), 10)
    assert len(broad) == 10 and broad[0][0] == "m3", "past EXACT_SEARCH_MAX the probed lists still find the nearest"
    index.remove(["m3"])
    assert "m3" not in {m for m, _ in index.search(query, Filter((Reach("scope3"),)), 60)}
    assert len(index.search(query, Filter((Reach("scope3"),)), 100)) == 49
    narrow = Filter((Reach("scope5", SCOPE_RANKS["organization"]),))
    assert index.search(query, narrow, 10) == [], "project-visible memories do not reach an organization query"


def test_a_saved_index_restores_only_onto_the_same_entries() -> None:
    index, entries, _ = _random_index(300, 100)
    header, payload = index.serialize()
    by_id = {e.memory_id: e for e in entries}
    restored = VectorIndex.restore(header, payload, 100, 4, by_id)
    assert restored.count == 300 and restored.checksum == index.checksum == checksum_of(
        (e.memory_id, e.content_hash) for e in entries
    )
    del by_id["m5"]
    with pytest.raises(ValueError, match="database does not"):
        VectorIndex.restore(header, payload, 100, 4, by_id)


def test_memories_of_deleted_scopes_are_swept_at_start(fresh_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    data = tmp_path / "data"
    live = fresh_server(data)
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    wait_healthy(api)
    tree = make_tree(api)
    kept = create(api, "The organization keeps this.", "organization", tree.org["id"])
    create(api, "This goes with its project.", "project", tree.project["id"])
    folder = (
        live.settings.base_root / tree.org["folderPath"] / tree.workspace["folderPath"] / tree.project["folderPath"]
    )
    (folder / "doc.md").write_text("# Doc\n\ntext\n")
    imported = api.post(
        "/context/import/document", {"file_path": "doc.md", "scope": "project", "scope_id": tree.project["id"]}
    )
    assert imported.status_code == 201, imported.text
    assert api.delete(f"/projects/{tree.project['id']}").status_code == 204
    assert api.get("/context/stats").json()["total"] == 1, "a deleted project's memories are invisible at once"
    live.stop()

    live = fresh_server(data)
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert wait_healthy(api)["memories"] == 1
    assert api.get(f"/context/memories/{kept['id']}").status_code == 200
    live.stop()
