"""DataLoaders, built per request, so nested fields cost one query per level, not per object."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from strawberry.dataloader import DataLoader

from resolvers.organizations import members_by_organization, organizations_by_ids
from resolvers.projects import projects_by_ids, projects_by_workspace
from resolvers.runtime import Caller, Runtime
from resolvers.sandboxes import sandboxes_by_project
from resolvers.task_context import usage_by_ids
from resolvers.tasks import tasks_by_ids
from resolvers.workflows import workflows_by_ids
from resolvers.workspaces import workspaces_by_ids, workspaces_by_organization
from store import models

K = TypeVar("K")
V = TypeVar("V")


def _loader(fetch: Callable[[Sequence[str]], Awaitable[dict[str, V]]], default: V | None = None) -> DataLoader[str, V]:
    async def load(keys: list[str]) -> list[V]:
        found = await fetch(keys)
        return [found.get(key, default) for key in keys]  # type: ignore[misc]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, rt: Runtime, caller: Caller) -> None:
        self.organization = _loader(lambda ids: organizations_by_ids(rt, caller, ids))
        self.workspace = _loader(lambda ids: workspaces_by_ids(rt, caller, ids))
        self.workspaces_of_organization = _loader(lambda ids: workspaces_by_organization(rt, caller, ids), [])
        self.project = _loader(lambda ids: projects_by_ids(rt, caller, ids))
        self.projects_of_workspace = _loader(lambda ids: projects_by_workspace(rt, caller, ids), [])
        self.members_of_organization = _loader(lambda ids: members_by_organization(rt, caller, ids), [])
        self.sandbox_of_project = _loader(lambda ids: sandboxes_by_project(rt, caller, ids))
        self.workflow = _loader(lambda ids: workflows_by_ids(rt, caller, ids))
        self.task = _loader(lambda ids: tasks_by_ids(rt, caller, ids))
        self.context_usage = _loader(lambda ids: usage_by_ids(rt, ids))

    def remember_organizations(self, organizations: Iterable[models.Organization]) -> None:
        """Organizations already fetched, so fields pointing back at them need no query."""
        self.organization.prime_many({org.id: org for org in organizations})

    def remember_workspaces(self, workspaces: Iterable[models.Workspace]) -> None:
        self.workspace.prime_many({workspace.id: workspace for workspace in workspaces})
