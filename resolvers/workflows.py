"""Workflow definitions (operations 22-30). The row is the working copy; publishing, and every update of
a published workflow, store an immutable version snapshot (design decision 5)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.access import member_org_ids, visible_organization
from resolvers.errors import DomainError, conflict, missing, not_found
from resolvers.execution_plan import EXECUTION_ENDS
from resolvers.lifecycle import lifecycle_definition
from resolvers.pages import Listing, Ordering
from resolvers.runtime import Caller, Runtime
from resolvers.tx import writing
from resolvers.validation import UNSET, Maybe, one_of, optional_text, required_text
from resolvers.workflow_definition import validate_definition
from store.models import OrganizationMember, Project, Workflow, WorkflowExecution, WorkflowVersion

STATUSES = ("draft", "published", "archived")
TEMPLATE_ID = "00000000-0000-4000-8000-000000000001"
"""The built-in lifecycle template's fixed id, so seeding it is idempotent."""


def _visible(caller: Caller) -> ColumnElement[bool]:
    return or_(
        Workflow.is_template.is_(True),
        Workflow.organization_id.in_(member_org_ids(caller)),
        (Workflow.organization_id.is_(None)) & (Workflow.created_by_id == caller.user_id),
    )


async def visible_workflow(session: AsyncSession, caller: Caller, workflow_id: str) -> Workflow:
    workflow = await session.scalar(select(Workflow).where(Workflow.id == workflow_id, _visible(caller)))
    if workflow is None:
        raise not_found("workflow", workflow_id)
    return workflow


async def _changeable(session: AsyncSession, caller: Caller, workflow_id: str) -> Workflow:
    workflow = await visible_workflow(session, caller, workflow_id)
    if workflow.is_template:
        raise DomainError("FORBIDDEN", "The built-in template cannot be changed; clone it instead", {"id": workflow_id})
    return workflow


async def _home_organization(session: AsyncSession, caller: Caller, organization_id: object) -> str | None:
    """The organization a new workflow belongs to: the one asked for, else the caller's first, else none."""
    chosen = optional_text("organizationId", organization_id, 36)
    if chosen is not None:
        return (await visible_organization(session, caller, chosen)).id
    query = (
        select(OrganizationMember.organization_id)
        .where(OrganizationMember.user_id == caller.user_id)
        .order_by(OrganizationMember.created_at, OrganizationMember.organization_id)
        .limit(1)
    )
    return await session.scalar(query)


def _snapshot(workflow: Workflow) -> WorkflowVersion:
    return WorkflowVersion(
        workflow_id=workflow.id,
        version=workflow.version,
        name=workflow.name,
        description=workflow.description,
        definition=workflow.definition,
        change_description=workflow.change_description,
    )


async def _ensure_snapshot(session: AsyncSession, workflow: Workflow) -> None:
    """Snapshot the working copy unless its version already holds exactly it. A draft edited after
    an earlier publication gets the next version number, so snapshots stay immutable."""
    query = select(WorkflowVersion).where(
        WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.version == workflow.version
    )
    stored = await session.scalar(query)
    if stored is not None:
        if (stored.name, stored.description, stored.definition) == (
            workflow.name,
            workflow.description,
            workflow.definition,
        ):
            return
        workflow.version += 1
    session.add(_snapshot(workflow))


async def seed_template(rt: Runtime) -> None:
    """Store the built-in lifecycle template, with its first version; when the built-in definition has
    changed since (a newer server), the template takes it as its next version, leaving earlier ones intact."""
    async with writing(rt) as session:
        template = await session.get(Workflow, TEMPLATE_ID)
        if template is None:
            template = Workflow(
                id=TEMPLATE_ID,
                name="Three-phase lifecycle",
                description="Rapid prototyping, automated QA and continuous optimization (built-in)",
                definition=lifecycle_definition(),
                status="published",
                version=1,
                is_template=True,
            )
            session.add(template)
            await session.flush()
            session.add(_snapshot(template))
        elif template.definition != lifecycle_definition():
            template.definition = lifecycle_definition()
            template.change_description = "The built-in lifecycle of this server version"
            await _ensure_snapshot(session, template)


async def list_workflows(rt: Runtime, caller: Caller, status: object = None) -> Sequence[Workflow]:
    query = select(Workflow).where(_visible(caller)).order_by(Workflow.created_at, Workflow.id)
    if status is not None:
        query = query.where(Workflow.status == one_of("status", status, STATUSES))
    async with rt.db.read() as session:
        return (await session.scalars(query)).all()


async def get_workflow(rt: Runtime, caller: Caller, workflow_id: str) -> Workflow:
    async with rt.db.read() as session:
        return await visible_workflow(session, caller, workflow_id)


def _required_definition(definition: object) -> object:
    """A new workflow must say what it is: a definition not sent at all is refused; null stands for `{}`."""
    if definition is UNSET:
        raise missing("definition")
    return {} if definition is None else definition


async def create_workflow(
    rt: Runtime,
    caller: Caller,
    name: object,
    definition: object,
    description: object = None,
    organization_id: object = None,
) -> Workflow:
    workflow = Workflow(
        name=required_text("name", name),
        description=optional_text("description", description, 4096),
        definition=validate_definition(_required_definition(definition)),
        status="draft",
        version=1,
        is_template=False,
        created_by_id=caller.user_id,
    )
    async with writing(rt) as session:
        workflow.organization_id = await _home_organization(session, caller, organization_id)
        session.add(workflow)
        await session.flush()
    return workflow


async def update_workflow(
    rt: Runtime,
    caller: Caller,
    workflow_id: str,
    *,
    name: Maybe[object] = UNSET,
    description: Maybe[object] = UNSET,
    definition: Maybe[object] = UNSET,
    change_description: Maybe[object] = UNSET,
) -> Workflow:
    """Drafts change in place; a published workflow's change becomes its next version."""
    changes: dict[str, object] = {}
    if name is not UNSET:
        changes["name"] = required_text("name", name)
    if description is not UNSET:
        changes["description"] = optional_text("description", description, 4096)
    if definition is not UNSET:
        changes["definition"] = validate_definition(definition)
    note = optional_text("changeDescription", change_description, 4096)
    async with writing(rt) as session:
        workflow = await _changeable(session, caller, workflow_id)
        for attribute, value in changes.items():
            setattr(workflow, attribute, value)
        if workflow.status == "published":
            workflow.version += 1
            workflow.change_description = note
            session.add(_snapshot(workflow))
        elif note is not None:
            workflow.change_description = note
        await session.flush()
    return workflow


async def delete_workflow(rt: Runtime, caller: Caller, workflow_id: str) -> None:
    async with writing(rt) as session:
        workflow = await _changeable(session, caller, workflow_id)
        in_use = select(func.count()).select_from(Project).where(Project.workflow_id == workflow.id)
        users = await session.scalar(in_use)
        if users:
            raise conflict(
                f"Workflow {workflow_id} is used by {users} project(s)", {"id": workflow_id}, "WORKFLOW_IN_USE"
            )
        running = (
            select(func.count())
            .select_from(WorkflowExecution)
            .where(WorkflowExecution.workflow_id == workflow.id, WorkflowExecution.status.not_in(EXECUTION_ENDS))
        )
        if unfinished := await session.scalar(running):
            raise conflict(
                f"Workflow {workflow_id} has {unfinished} unfinished execution(s)",
                {"id": workflow_id},
                "WORKFLOW_IN_USE",
            )
        await session.delete(workflow)


async def change_status(rt: Runtime, caller: Caller, workflow_id: str, status: object) -> Workflow:
    """Move between draft, published and archived; publishing snapshots the working copy once."""
    new_status = one_of("status", status, STATUSES)
    async with writing(rt) as session:
        workflow = await _changeable(session, caller, workflow_id)
        workflow.status = new_status
        if new_status == "published":
            await _ensure_snapshot(session, workflow)
        await session.flush()
    return workflow


async def clone_workflow(
    rt: Runtime,
    caller: Caller,
    workflow_id: str,
    name: object = None,
    description: Maybe[object] = UNSET,
    organization_id: object = None,
) -> Workflow:
    """An independent draft copy at version 1 in the caller's organization; templates can be cloned."""
    new_name = optional_text("name", name)
    new_description = optional_text("description", description, 4096)
    async with writing(rt) as session:
        source = await visible_workflow(session, caller, workflow_id)
        copy = Workflow(
            name=new_name or f"{source.name} (copy)",
            description=source.description if description is UNSET else new_description,
            definition=source.definition,
            status="draft",
            version=1,
            is_template=False,
            created_by_id=caller.user_id,
            organization_id=await _home_organization(session, caller, organization_id),
        )
        session.add(copy)
        await session.flush()
    return copy


async def list_versions(rt: Runtime, caller: Caller, workflow_id: str) -> Sequence[WorkflowVersion]:
    async with rt.db.read() as session:
        workflow = await visible_workflow(session, caller, workflow_id)
        query = (
            select(WorkflowVersion)
            .where(WorkflowVersion.workflow_id == workflow.id)
            .order_by(WorkflowVersion.version.desc())
        )
        return (await session.scalars(query)).all()


async def get_version(rt: Runtime, caller: Caller, version_id: str) -> WorkflowVersion:
    """A version of a workflow the caller may see. Any other answers exactly as a made-up id does: the
    error names the id asked for, never the parent workflow's."""
    query = (
        select(WorkflowVersion)
        .join(Workflow, Workflow.id == WorkflowVersion.workflow_id)
        .where(WorkflowVersion.id == version_id, _visible(caller))
    )
    async with rt.db.read() as session:
        version = await session.scalar(query)
    if version is None:
        raise not_found("workflow", version_id)
    return version


async def workflows_in(session: AsyncSession, caller: Caller, ids: Sequence[str]) -> dict[str, Workflow]:
    """The visible ones among several workflows, in one query."""
    found = await session.scalars(select(Workflow).where(Workflow.id.in_(ids), _visible(caller)))
    return {workflow.id: workflow for workflow in found}


async def workflows_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, Workflow]:
    """The visible ones among several workflows (for projects' bound workflows)."""
    async with rt.db.read() as session:
        return await workflows_in(session, caller, ids)


WORKFLOW_ORDER = Ordering("workflows", ((Workflow.created_at, False), (Workflow.id, False)))
VERSION_ORDER = Ordering("versions", ((WorkflowVersion.version, True), (WorkflowVersion.id, False)))


def workflow_listing(caller: Caller, status: object = None) -> Listing:
    """Workflows the caller can see (their organizations' and the templates), oldest first."""
    query = select(Workflow).where(_visible(caller))
    if status not in (None, UNSET, ""):
        query = query.where(Workflow.status == one_of("status", status, STATUSES))
    return Listing(query, WORKFLOW_ORDER)


def version_listing(caller: Caller) -> Listing:
    """Version snapshots of the workflows the caller can see, newest first, by workflow."""
    query = select(WorkflowVersion).join(Workflow, Workflow.id == WorkflowVersion.workflow_id).where(_visible(caller))
    return Listing(query, VERSION_ORDER, WorkflowVersion.workflow_id)


async def versions_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, WorkflowVersion]:
    """The visible ones among several version snapshots, in one query."""
    query = (
        select(WorkflowVersion)
        .join(Workflow, Workflow.id == WorkflowVersion.workflow_id)
        .where(WorkflowVersion.id.in_(ids), _visible(caller))
    )
    async with rt.db.read() as session:
        return {version.id: version for version in await session.scalars(query)}
