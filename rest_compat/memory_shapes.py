"""The contract's JSON shapes for context memory (§4.7), mem0-style: `memory` text plus `metadata`."""

from __future__ import annotations

from typing import Any

from resolvers.context_status import ContextHealth
from resolvers.memories import MemoryStats
from rest_compat.shapes import iso
from store.models import Memory


def memory_json(memory: Memory, score: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": memory.id,
        "memory": memory.content,
        "hash": memory.content_hash,
        "metadata": {
            "hierarchy": memory.hierarchy,
            "memory_type": memory.memory_type,
            "scope": memory.scope,
            "scope_id": memory.scope_id,
            "visibility": memory.visibility,
            "tags": memory.tags,
            "source": memory.source,
            "custom": memory.custom,
        },
        "created_at": iso(memory.created_at),
        "updated_at": iso(memory.updated_at),
    }
    if score is not None:
        body["score"] = round(score, 6)
    return body


def stats_json(stats: MemoryStats, health: ContextHealth) -> dict[str, Any]:
    body: dict[str, Any] = {"total": stats.total, "by_type": stats.by_type}
    if stats.scope is not None:
        body["scope"], body["scope_id"] = stats.scope, stats.scope_id
    body.update(context_enabled=health.enabled, auto_capture_enabled=health.auto_capture, provider=health.provider)
    return body


def health_json(health: ContextHealth) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": health.status,
        "enabled": health.enabled,
        "auto_capture": health.auto_capture,
        "provider": health.provider,
        "model": health.model,
        "memories": health.memories,
    }
    if health.error:
        body["error"] = health.error
    return body
