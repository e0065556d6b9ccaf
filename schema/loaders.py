"""DataLoaders, built per request, so a field below a list costs one query for the whole list, not one
per item: by-id loaders for every object a field can point at, and `batch` for anything else keyed by a
parent (pages of nested connections, counts, stats)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from resolvers import (
    budgets,
    executions,
    imports,
    memories,
    organizations,
    projects,
    sandbox_operations,
    sandboxes,
    task_context,
    tasks,
    users,
    workflows,
    workspaces,
)
from resolvers.runtime import Caller, Runtime

V = TypeVar("V")
Fetch = Callable[[Sequence[Any]], Awaitable[dict[Any, Any]]]


def _loader(fetch: Fetch, default: Any = None) -> DataLoader[Any, Any]:
    async def load(keys: list[Any]) -> list[Any]:
        found = await fetch(keys)
        return [found.get(key, default) for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, rt: Runtime, caller: Caller) -> None:
        self._batches: dict[Hashable, DataLoader[Any, Any]] = {}
        self.user = _loader(lambda ids: users.users_by_ids(rt, caller, ids))
        self.organization = _loader(lambda ids: organizations.organizations_by_ids(rt, caller, ids))
        self.workspace = _loader(lambda ids: workspaces.workspaces_by_ids(rt, caller, ids))
        self.project = _loader(lambda ids: projects.projects_by_ids(rt, caller, ids))
        self.sandbox = _loader(lambda ids: sandboxes.sandboxes_by_ids(rt, caller, ids))
        self.sandbox_of_project = _loader(lambda ids: sandboxes.sandboxes_by_project(rt, caller, ids))
        self.operation = _loader(lambda ids: sandbox_operations.operations_by_ids(rt, caller, ids))
        self.task = _loader(lambda ids: tasks.tasks_by_ids(rt, caller, ids))
        self.queue_status = _loader(lambda ids: tasks.queue_statuses(rt, caller, ids))
        self.context_usage = _loader(lambda ids: task_context.usage_by_ids(rt, ids))
        self.workflow = _loader(lambda ids: workflows.workflows_by_ids(rt, caller, ids))
        self.version = _loader(lambda ids: workflows.versions_by_ids(rt, caller, ids))
        self.execution = _loader(lambda ids: executions.executions_by_ids(rt, caller, ids))
        self.memory = _loader(lambda ids: memories.memories_by_ids(rt, caller, ids))
        self.sync_stats = _loader(lambda ids: imports.sync_stats_by_scope(rt, caller, ids))
        self.budget = _loader(lambda ids: budgets.budgets_by_ids(rt, caller, ids))

    def batch(self, key: Hashable, fetch: Fetch, default: Any = None) -> DataLoader[Any, Any]:
        """The request's loader for `key` (a field and its arguments), made on first use from `fetch`."""
        loader = self._batches.get(key)
        if loader is None:
            loader = self._batches[key] = _loader(fetch, default)
        return loader

    def remember(self, loader: DataLoader[str, V], objects: Iterable[Any]) -> None:
        """Objects already fetched, so fields pointing back at them need no query."""
        loader.prime_many({item.id: item for item in objects})
