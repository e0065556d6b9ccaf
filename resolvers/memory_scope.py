"""Where a memory sits and who sees it: scopes, their live place in the tree, and inheritance (§7.7).

A memory is attached to an organization, workspace, project or task. Its visibility says how widely it
is shared: `task` only that task, `project` within the project, `workspace` all projects of the
workspace, `organization` all of the organization. A query at a scope sees that scope's own memories;
with inheritance it also sees the memories of each ancestor scope whose visibility is that ancestor's
level or wider (shared down its subtree). Access always follows the live tree: a scope the caller
may not see answers 404, and so do its memories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.access import member_org_ids, visible_organization, visible_project, visible_task, visible_workspace
from resolvers.runtime import Caller
from resolvers.validation import one_of, required_text
from store.models import Memory, Organization, Project, Task, Workspace
from store.vector_index import SCOPE_RANKS, Reach

SCOPES = tuple(SCOPE_RANKS)


def check_scope(scope: object, scope_id: object) -> tuple[str, str]:
    return one_of("scope", scope, SCOPES), required_text("scope_id", scope_id, 36)


@dataclass(frozen=True)
class ScopePath:
    """A scope object and its ancestors, as they are now."""

    scope: str
    scope_id: str
    organization: Organization
    workspace: Workspace | None = None
    project: Project | None = None
    task: Task | None = None

    def ancestors(self) -> list[tuple[str, str]]:
        """(scope, id) from this scope up to its organization."""
        chain = [
            ("task", self.task),
            ("project", self.project),
            ("workspace", self.workspace),
            ("organization", self.organization),
        ]
        found = [(scope, node.id) for scope, node in chain if node is not None]
        return found[[scope for scope, _ in found].index(self.scope) :]

    def hierarchy(self) -> dict[str, Any]:
        org, workspace, project, task = self.organization, self.workspace, self.project, self.task
        return {
            "org_id": org.id,
            "org_name": org.name,
            "workspace_id": workspace.id if workspace else None,
            "workspace_name": workspace.name if workspace else None,
            "project_id": project.id if project else None,
            "project_name": project.name if project else None,
            "task_id": task.id if task else None,
            "task_name": task.title if task else None,
        }

    def reaches(self, include_inherited: bool) -> tuple[Reach, ...]:
        """The (scope, widest visibility) pairs whose memories a query here sees."""
        own, *above = self.ancestors()
        reaches = [Reach(own[1])]
        if include_inherited:
            reaches += [Reach(scope_id, SCOPE_RANKS[scope]) for scope, scope_id in above]
        return tuple(reaches)


async def visible_scope(session: AsyncSession, caller: Caller, scope: str, scope_id: str) -> ScopePath:
    """The scope and its ancestors; 404 (as for a missing one) when the caller may not see it."""
    if scope == "organization":
        return ScopePath(scope, scope_id, await visible_organization(session, caller, scope_id))
    if scope == "workspace":
        workspace, org = await visible_workspace(session, caller, scope_id)
        return ScopePath(scope, scope_id, org, workspace)
    task = await visible_task(session, caller, None, scope_id) if scope == "task" else None
    project, workspace, org = await visible_project(session, caller, task.project_id if task else scope_id)
    return ScopePath(scope, scope_id, org, workspace, project, task)


def reach_condition(reaches: tuple[Reach, ...]) -> ColumnElement[bool]:
    """The SQL twin of the index's filter, so lists and searches see the same memories."""
    clauses = []
    for reach in reaches:
        allowed = [name for name, rank in SCOPE_RANKS.items() if rank <= reach.max_visibility]
        clauses.append(and_(Memory.scope_id == reach.scope_id, Memory.visibility.in_(allowed)))
    return or_(*clauses) if clauses else false()


def visible_scope_ids(caller: Caller) -> Any:
    """Every organization, workspace, project and task id the caller may see (a subquery)."""
    orgs = member_org_ids(caller)
    workspaces = select(Workspace.id).where(Workspace.organization_id.in_(orgs))
    projects = select(Project.id).where(Project.workspace_id.in_(workspaces))
    tasks = select(Task.id).where(Task.project_id.in_(projects))
    return union_all(orgs, workspaces, projects, tasks)


def visible_memories(caller: Caller) -> ColumnElement[bool]:
    """Memories whose scope the caller may see."""
    return Memory.scope_id.in_(visible_scope_ids(caller))
