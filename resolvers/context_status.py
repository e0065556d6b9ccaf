"""Context memory's health and description (operations 80-81)."""

from __future__ import annotations

from dataclasses import dataclass

from resolvers.runtime import Runtime

VERSION = "1.0.0"
FEATURES = (
    "semantic_search",
    "hierarchical_scopes",
    "document_import",
    "file_sync",
    "task_capture",
    "upsert",
)


@dataclass(frozen=True)
class ContextHealth:
    status: str
    """healthy, loading (the model is still loading), unhealthy (with `error`) or disabled."""
    enabled: bool
    auto_capture: bool
    provider: str
    model: str
    memories: int | None
    error: str | None


def provider(rt: Runtime) -> str:
    return f"local:{rt.settings.embedding_model}"


def context_health(rt: Runtime) -> ContextHealth:
    index = rt.memory.index
    return ContextHealth(
        status=rt.memory.status,
        enabled=rt.memory.enabled,
        auto_capture=rt.settings.auto_capture_enabled,
        provider=provider(rt),
        model=rt.settings.embedding_model,
        memories=index.count if index is not None else None,
        error=rt.memory.error,
    )
