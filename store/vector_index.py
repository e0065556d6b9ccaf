"""The FAISS index of memory vectors, with the few attributes a search filters on.

Vectors live under integer slots (FAISS ids); each slot also carries its memory's scope id,
visibility rank and type, so a search turns the caller's filter into a bitmap of allowed slots and
FAISS scores only those (`IDSelectorBitmap`): a search returns `k` results whenever `k` allowed
vectors exist, with nothing fetched and then dropped.

Small indexes are exact (`IndexFlatIP`); from `ivf_min` vectors on, an `IndexIVFFlat` probes the
`nprobe` nearest lists; a selective filter (at most EXACT_SEARCH_MAX allowed vectors), or one that
leaves fewer than `k` hits in those lists, probes every list instead, which is exact over the allowed
slots. All methods are blocking and thread-safe: call them off the event loop.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

EXACT_SEARCH_MAX = 4096
"""A filter that allows at most this many vectors is searched exhaustively (every IVF list, scoring only
the allowed vectors: about 2 ms at 100k on 2 cores): exact, where probing a few lists would miss most of them."""
faiss.omp_set_num_threads(1)  # one query at a time gains nothing from threads, and OpenMP spinning hurts under load

SCOPE_RANKS = {"organization": 0, "workspace": 1, "project": 2, "task": 3}
"""Widest first: a visibility of rank r is shared with everything under the scope object of rank r."""
ANY_VISIBILITY = 3
_DIGEST_MOD = 1 << 64


@dataclass(frozen=True)
class Entry:
    """What the index knows of one memory besides its vector."""

    memory_id: str
    scope_id: str
    visibility: str
    memory_type: str
    content_hash: str


@dataclass(frozen=True)
class Reach:
    """Allow the memories attached to `scope_id` whose visibility rank is at most `max_visibility`."""

    scope_id: str
    max_visibility: int = ANY_VISIBILITY


@dataclass(frozen=True)
class Filter:
    reaches: tuple[Reach, ...]
    types: frozenset[str] | None = None
    exclude: str | None = None


def entry_digest(memory_id: str, content_hash: str) -> int:
    """One memory's share of the index checksum; the checksum is their sum, so it updates in O(1)."""
    return int.from_bytes(hashlib.sha256(f"{memory_id}:{content_hash}".encode()).digest()[:8], "big")


def checksum_of(pairs: Iterable[tuple[str, str]]) -> str:
    return f"{sum(entry_digest(m, h) for m, h in pairs) % _DIGEST_MOD:016x}"


class VectorIndex:
    def __init__(self, dimensions: int, ivf_min: int, nprobe: int) -> None:
        self.dimensions = dimensions
        self.ivf_min = ivf_min
        self.nprobe = nprobe
        self._lock = threading.RLock()
        self._faiss: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimensions))
        self._slot_of: dict[str, int] = {}
        self._entries: list[Entry | None] = []
        self._codes: dict[str, int] = {}
        self._scope = np.zeros(0, dtype=np.int32)
        self._visibility = np.zeros(0, dtype=np.int8)
        self._type = np.zeros(0, dtype=np.int32)
        self._live = np.zeros(0, dtype=bool)
        self._digest = 0
        self.trained_size = 0
        """How many vectors the IVF lists were trained on (0 for the exact index)."""

    @property
    def count(self) -> int:
        return len(self._slot_of)

    @property
    def checksum(self) -> str:
        return f"{self._digest:016x}"

    @property
    def kind(self) -> str:
        return "ivf" if isinstance(self._faiss, faiss.IndexIVF) else "flat"

    def entry(self, memory_id: str) -> Entry | None:
        """What the index holds for a memory (None when it holds none)."""
        with self._lock:
            slot = self._slot_of.get(memory_id)
            return None if slot is None else self._entries[slot]

    def memory_ids(self) -> list[str]:
        with self._lock:
            return list(self._slot_of)

    def outgrown(self) -> bool:
        """True when a rebuild would pick a better structure: exact past `ivf_min`, or IVF lists grown 4x."""
        if self.kind == "flat":
            return self.count >= self.ivf_min
        return self.count >= 4 * self.trained_size

    # building

    @classmethod
    def build(
        cls, dimensions: int, ivf_min: int, nprobe: int, entries: Sequence[Entry], vectors: np.ndarray
    ) -> VectorIndex:
        """A fresh index over `entries` (row i of `vectors` is entry i), IVF when large enough."""
        index = cls(dimensions, ivf_min, nprobe)
        if len(entries) >= ivf_min:
            nlist = max(1, min(int(4 * math.sqrt(len(entries))), len(entries) // 39))
            quantizer = faiss.IndexFlatIP(dimensions)
            ivf = faiss.IndexIVFFlat(quantizer, dimensions, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(0)
            sample = vectors[rng.choice(len(vectors), size=min(len(vectors), nlist * 64), replace=False)]
            ivf.train(np.ascontiguousarray(sample))
            index._faiss = ivf
            index.trained_size = len(entries)
        index.add(entries, vectors)
        return index

    def serialize(self) -> tuple[dict[str, object], bytes]:
        """The header (slots, checksum, shape) and the FAISS bytes, for `index_file`."""
        with self._lock:
            header = {
                "dimensions": self.dimensions,
                "count": self.count,
                "checksum": self.checksum,
                "trained_size": self.trained_size,
                "slots": [entry.memory_id if entry else None for entry in self._entries],
            }
            payload = faiss.serialize_index(self._faiss).tobytes()
        return header, payload

    @classmethod
    def restore(
        cls, header: dict[str, object], payload: bytes, ivf_min: int, nprobe: int, entries: dict[str, Entry]
    ) -> VectorIndex:
        """The index saved as `header` + `payload`, its slots given the current `entries` (from the database).

        Raises ValueError when the file does not describe exactly those entries."""
        slots = header["slots"]
        if not isinstance(slots, list):
            raise ValueError("slots missing")
        index = cls(int(header["dimensions"]), ivf_min, nprobe)  # type: ignore[call-overload]
        index._faiss = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        if index._faiss.d != index.dimensions:
            raise ValueError("dimension mismatch")
        index.trained_size = int(header.get("trained_size") or 0)  # type: ignore[call-overload]
        restored = [entries.get(memory_id) if memory_id else None for memory_id in slots]
        if any(memory_id and restored[i] is None for i, memory_id in enumerate(slots)):
            raise ValueError("the file holds memories the database does not")
        index._grow(len(restored))
        for slot, entry in enumerate(restored):
            index._entries.append(entry)
            if entry is not None:
                index._set_slot(slot, entry)
        if index._faiss.ntotal != index.count or index.checksum != header.get("checksum"):
            raise ValueError("the file's vectors do not match its slots")
        return index

    # changes

    def add(self, entries: Sequence[Entry], vectors: np.ndarray) -> None:
        """Add or replace memories (a memory already present gets its new vector)."""
        if not entries:
            return
        with self._lock:
            self.remove(entry.memory_id for entry in entries)
            first = len(self._entries)
            self._grow(first + len(entries))
            for offset, entry in enumerate(entries):
                self._entries.append(entry)
                self._set_slot(first + offset, entry)
            ids = np.arange(first, first + len(entries), dtype=np.int64)
            self._faiss.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def retag(self, entry: Entry) -> None:
        """New attributes (visibility, type) for a memory whose vector did not change."""
        with self._lock:
            slot = self._slot_of.get(entry.memory_id)
            if slot is not None:
                self._digest = (
                    self._digest - entry_digest(entry.memory_id, self._entries[slot].content_hash)
                ) % _DIGEST_MOD  # type: ignore[union-attr]
                self._entries[slot] = entry
                self._set_slot(slot, entry)

    def remove(self, memory_ids: Iterable[str]) -> None:
        with self._lock:
            slots = []
            for memory_id in memory_ids:
                slot = self._slot_of.pop(memory_id, None)
                if slot is None:
                    continue
                entry = self._entries[slot]
                assert entry is not None
                self._digest = (self._digest - entry_digest(memory_id, entry.content_hash)) % _DIGEST_MOD
                self._entries[slot] = None
                self._live[slot] = False
                slots.append(slot)
            if slots:
                self._faiss.remove_ids(np.array(slots, dtype=np.int64))

    def _grow(self, size: int) -> None:
        if size <= len(self._live):
            return
        capacity = max(size, 2 * len(self._live), 1024)
        self._scope = np.resize(self._scope, capacity)
        self._visibility = np.resize(self._visibility, capacity)
        self._type = np.resize(self._type, capacity)
        live = np.zeros(capacity, dtype=bool)
        live[: len(self._live)] = self._live
        self._live = live

    def _code(self, value: str) -> int:
        return self._codes.setdefault(value, len(self._codes))

    def _set_slot(self, slot: int, entry: Entry) -> None:
        self._slot_of[entry.memory_id] = slot
        self._scope[slot] = self._code(entry.scope_id)
        self._visibility[slot] = SCOPE_RANKS[entry.visibility]
        self._type[slot] = self._code("type:" + entry.memory_type)
        self._live[slot] = True
        self._digest = (self._digest + entry_digest(entry.memory_id, entry.content_hash)) % _DIGEST_MOD

    # searching

    def _lookup(self, values: Iterable[str]) -> np.ndarray:
        """A table over codes, true for `values`: indexing it with a code column tests membership in O(n)."""
        table = np.zeros(len(self._codes) + 1, dtype=bool)
        table[[self._codes[v] for v in values if v in self._codes]] = True
        return table

    def allowed(self, where: Filter) -> np.ndarray:
        """The bitmask over slots of the memories `where` lets through."""
        size = len(self._entries)
        scope, visibility = self._scope[:size], self._visibility[:size]
        mask = np.zeros(size, dtype=bool)
        by_rank: dict[int, list[str]] = {}
        for reach in where.reaches:
            by_rank.setdefault(reach.max_visibility, []).append(reach.scope_id)
        for rank, scope_ids in by_rank.items():
            mask |= self._lookup(scope_ids)[scope] & (visibility <= rank)
        if where.types is not None:
            mask &= self._lookup(f"type:{t}" for t in where.types)[self._type[:size]]
        if where.exclude is not None and where.exclude in self._slot_of:
            mask[self._slot_of[where.exclude]] = False
        return mask & self._live[:size]

    def search(self, vector: np.ndarray, where: Filter, k: int) -> list[tuple[str, float]]:
        """The `k` allowed memories nearest `vector`, best first, as (memory id, cosine similarity)."""
        with self._lock:
            mask = self.allowed(where)
            k = min(k, int(mask.sum()))
            if k <= 0:
                return []
            bitmap = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
            query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
            if isinstance(self._faiss, faiss.IndexIVF):
                nprobe = self._faiss.nlist if mask.sum() <= EXACT_SEARCH_MAX else self.nprobe
                scores, slots = self._faiss.search(
                    query, k, params=faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
                )
                if (slots[0] >= 0).sum() < k:
                    exhaustive = faiss.SearchParametersIVF(sel=selector, nprobe=self._faiss.nlist)
                    scores, slots = self._faiss.search(query, k, params=exhaustive)
            else:
                scores, slots = self._faiss.search(query, k, params=faiss.SearchParameters(sel=selector))
            found = []
            for score, slot in zip(scores[0], slots[0], strict=True):
                entry = self._entries[slot] if slot >= 0 else None
                if entry is not None:
                    found.append((entry.memory_id, float(score)))
            return found
