"""The contract's JSON shapes for context memory (§4.7), mem0-style: `memory` text plus `metadata`."""

from __future__ import annotations

from resolvers.context_status import ContextHealth
from resolvers.memories import MemoryStats
from resolvers.memory_search import Hit
from rest_compat.shapes import iso
from rest_compat.spec import fit
from rest_compat.spec import memories as spec
from store.models import Memory


def memory_json(memory: Memory, score: float | None = None) -> spec.Memory:
    return fit(
        spec.Memory,
        id=memory.id,
        memory=memory.content,
        hash=memory.content_hash,
        metadata=fit(
            spec.MemoryMetadata,
            hierarchy=memory.hierarchy,
            memory_type=memory.memory_type,
            scope=memory.scope,
            scope_id=memory.scope_id,
            visibility=memory.visibility,
            tags=memory.tags,
            source=memory.source,
            custom=memory.custom,
        ),
        created_at=iso(memory.created_at),
        updated_at=iso(memory.updated_at),
        score=round(score, 6) if score is not None else None,
    )


def similar_json(hits: list[Hit]) -> spec.SimilarResult:
    """Nearest first, under both names clients read: `results`/`count` (contract) and `memories`/`total` (SDK)."""
    results = [memory_json(memory, score) for memory, score in hits]
    return {"results": results, "memories": results, "count": len(results), "total": len(results)}


def search_json(hits: list[Hit], query: str) -> spec.SearchResult:
    return {**similar_json(hits), "query": query}


def stats_json(stats: MemoryStats, health: ContextHealth) -> spec.MemoryStats:
    """The contract's counts by type beside the SDK's `totalMemories`, `totalSize`, `averageSize`, `lastUpdated`."""
    return fit(
        spec.MemoryStats,
        total=stats.total,
        by_type=stats.by_type,
        scope=stats.scope,
        scope_id=stats.scope_id,
        context_enabled=health.enabled,
        auto_capture_enabled=health.auto_capture,
        provider=health.provider,
        totalMemories=stats.total,
        totalSize=stats.total_size,
        averageSize=round(stats.total_size / stats.total) if stats.total else 0,
        lastUpdated=iso(stats.last_updated),
    )


def health_json(health: ContextHealth) -> spec.ContextHealth:
    return fit(
        spec.ContextHealth,
        status=health.status,
        enabled=health.enabled,
        auto_capture=health.auto_capture,
        provider=health.provider,
        model=health.model,
        memories=health.memories,
        error=health.error,
    )
