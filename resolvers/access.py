"""Who may see what. Everything below an organization is visible to its members only;
anything else answers exactly as if it did not exist."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from resolvers.errors import DomainError, not_found
from resolvers.runtime import Caller
from store.models import (
    Organization,
    OrganizationMember,
    Project,
    Sandbox,
    SandboxOperation,
    Task,
    WorkflowExecution,
    Workspace,
)

OWNER = "owner"
MEMBER = "member"
ROLES = (OWNER, MEMBER)
T = TypeVar("T")


MEMBER_ORG_IDS = select(OrganizationMember.organization_id).where(OrganizationMember.user_id == bindparam("caller_id"))
"""The caller's organizations, with the caller's id bound at execution (`{"caller_id": ...}`), so
statements built on it can be constructed once per process instead of once per request."""


def member_org_ids(caller: Caller) -> Select[tuple[str]]:
    return select(OrganizationMember.organization_id).where(OrganizationMember.user_id == caller.user_id)


async def visible_organization(session: AsyncSession, caller: Caller, org_id: str) -> Organization:
    org = await session.scalar(
        select(Organization).where(Organization.id == org_id, Organization.id.in_(member_org_ids(caller)))
    )
    if org is None:
        raise not_found("organization", org_id)
    return org


async def visible_workspace(session: AsyncSession, caller: Caller, workspace_id: str) -> tuple[Workspace, Organization]:
    row = (
        await session.execute(
            select(Workspace, Organization)
            .join(Organization, Organization.id == Workspace.organization_id)
            .where(Workspace.id == workspace_id, Organization.id.in_(member_org_ids(caller)))
        )
    ).first()
    if row is None:
        raise not_found("workspace", workspace_id)
    return row[0], row[1]


async def visible_project(
    session: AsyncSession, caller: Caller, project_id: str
) -> tuple[Project, Workspace, Organization]:
    row = (
        await session.execute(
            select(Project, Workspace, Organization)
            .join(Workspace, Workspace.id == Project.workspace_id)
            .join(Organization, Organization.id == Workspace.organization_id)
            .where(Project.id == project_id, Organization.id.in_(member_org_ids(caller)))
        )
    ).first()
    if row is None:
        raise not_found("project", project_id)
    return row[0], row[1], row[2]


async def require_owner(session: AsyncSession, caller: Caller, org: Organization) -> None:
    role = await session.scalar(
        select(OrganizationMember.role).where(
            OrganizationMember.organization_id == org.id, OrganizationMember.user_id == caller.user_id
        )
    )
    if role != OWNER:
        raise DomainError("FORBIDDEN", f"Only an owner of organization {org.id} can do this")


async def visible_sandbox(
    session: AsyncSession, caller: Caller, sandbox_id: str
) -> tuple[Sandbox, Project, Workspace, Organization]:
    row = (
        await session.execute(
            select(Sandbox, Project, Workspace, Organization)
            .join(Project, Project.id == Sandbox.project_id)
            .join(Workspace, Workspace.id == Project.workspace_id)
            .join(Organization, Organization.id == Workspace.organization_id)
            .where(Sandbox.id == sandbox_id, Organization.id.in_(member_org_ids(caller)))
        )
    ).first()
    if row is None:
        raise DomainError("CONTAINER_NOT_FOUND", f"Sandbox {sandbox_id} not found", {"id": sandbox_id})
    return row[0], row[1], row[2], row[3]


def in_visible_project(
    query: Select[tuple[T]], project_id: InstrumentedAttribute[str], caller: Caller
) -> Select[tuple[T]]:
    """Narrow a query of objects that belong to a project (through `project_id`) to the caller's organizations."""
    return (
        query.join(Project, Project.id == project_id)
        .join(Workspace, Workspace.id == Project.workspace_id)
        .where(Workspace.organization_id.in_(member_org_ids(caller)))
    )


async def visible_operation(session: AsyncSession, caller: Caller, operation_id: str) -> SandboxOperation:
    query = select(SandboxOperation).where(SandboxOperation.id == operation_id)
    operation = await session.scalar(in_visible_project(query, SandboxOperation.project_id, caller))
    if operation is None:
        raise DomainError("OPERATION_NOT_FOUND", f"Operation {operation_id} not found", {"id": operation_id})
    return operation


async def visible_task(session: AsyncSession, caller: Caller, project_id: str | None, task_id: str) -> Task:
    """A task of a project the caller may see (of `project_id` when given); 404 (as for a missing one) otherwise."""
    query = in_visible_project(select(Task).where(Task.id == task_id), Task.project_id, caller)
    if project_id is not None:
        query = query.where(Task.project_id == project_id)
    task = await session.scalar(query)
    if task is None:
        raise not_found("task", task_id)
    return task


async def visible_execution(session: AsyncSession, caller: Caller, execution_id: str) -> WorkflowExecution:
    query = select(WorkflowExecution).where(WorkflowExecution.id == execution_id)
    execution = await session.scalar(in_visible_project(query, WorkflowExecution.project_id, caller))
    if execution is None:
        raise DomainError("NOT_FOUND", f"Execution {execution_id} not found", {"id": execution_id})
    return execution
