"""Whole-tree views: an organization with its workspaces and projects."""

from __future__ import annotations

from dataclasses import dataclass

from resolvers.organizations import get_organization
from resolvers.projects import projects_by_workspace
from resolvers.runtime import Caller, Runtime
from resolvers.workspaces import list_workspaces
from store.models import Organization, Project, Workspace


@dataclass(frozen=True)
class WorkspaceTree:
    workspace: Workspace
    projects: list[Project]


@dataclass(frozen=True)
class OrganizationTree:
    organization: Organization
    workspaces: list[WorkspaceTree]


async def organization_tree(rt: Runtime, caller: Caller, org_id: str) -> OrganizationTree:
    org = await get_organization(rt, caller, org_id)
    workspaces = await list_workspaces(rt, caller, org.id)
    projects = await projects_by_workspace(rt, caller, [w.id for w in workspaces])
    return OrganizationTree(org, [WorkspaceTree(w, projects[w.id]) for w in workspaces])
