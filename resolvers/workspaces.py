"""Workspaces inside organizations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import folders
from resolvers.access import MEMBER_ORG_IDS, member_org_ids, visible_organization, visible_workspace
from resolvers.errors import conflict
from resolvers.pages import Listing, Ordering
from resolvers.paths import organization_dir, workspace_dir
from resolvers.runtime import Caller, Runtime
from resolvers.sandboxes import remove_sandboxes_below
from resolvers.tx import writing
from resolvers.validation import UNSET, Maybe, required_text
from store.models import Workspace

ALL_VISIBLE_WORKSPACES = (
    select(Workspace).where(Workspace.organization_id.in_(MEMBER_ORG_IDS)).order_by(Workspace.created_at, Workspace.id)
)


WORKSPACE_ORDER = Ordering("workspaces", ((Workspace.created_at, False), (Workspace.id, False)))


def workspace_listing(caller: Caller) -> Listing:
    """Workspaces of the caller's organizations (by organization), oldest first."""
    query = select(Workspace).where(Workspace.organization_id.in_(member_org_ids(caller)))
    return Listing(query, WORKSPACE_ORDER, Workspace.organization_id)


async def list_all_workspaces(rt: Runtime, caller: Caller) -> Sequence[Workspace]:
    async with rt.db.read() as session:
        return (await session.scalars(ALL_VISIBLE_WORKSPACES, {"caller_id": caller.user_id})).all()


async def list_workspaces(rt: Runtime, caller: Caller, org_id: str) -> Sequence[Workspace]:
    async with rt.db.read() as session:
        await visible_organization(session, caller, org_id)
        query = select(Workspace).where(Workspace.organization_id == org_id)
        return (await session.scalars(query.order_by(Workspace.created_at, Workspace.id))).all()


async def workspaces_by_organization(rt: Runtime, caller: Caller, org_ids: Sequence[str]) -> dict[str, list[Workspace]]:
    async with rt.db.read() as session:
        query = select(Workspace).where(
            Workspace.organization_id.in_(org_ids), Workspace.organization_id.in_(member_org_ids(caller))
        )
        grouped: dict[str, list[Workspace]] = {org_id: [] for org_id in org_ids}
        for workspace in await session.scalars(query.order_by(Workspace.created_at, Workspace.id)):
            grouped[workspace.organization_id].append(workspace)
        return grouped


async def workspaces_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, Workspace]:
    async with rt.db.read() as session:
        query = select(Workspace).where(Workspace.id.in_(ids), Workspace.organization_id.in_(member_org_ids(caller)))
        return {workspace.id: workspace for workspace in await session.scalars(query)}


async def get_workspace(rt: Runtime, caller: Caller, workspace_id: str) -> Workspace:
    async with rt.db.read() as session:
        workspace, _ = await visible_workspace(session, caller, workspace_id)
        return workspace


async def _check_free(
    session: AsyncSession, org_id: str, name: str | None, folder: str | None, except_id: str | None = None
) -> None:
    for column, value, field in ((Workspace.name, name, "name"), (Workspace.folder_path, folder, "folderPath")):
        if value is None:
            continue
        query = select(Workspace.id).where(Workspace.organization_id == org_id, column == value)
        if except_id:
            query = query.where(Workspace.id != except_id)
        if await session.scalar(query):
            raise conflict(
                f"A workspace with {field} {value!r} already exists in this organization",
                {"field": field},
                "ALREADY_EXISTS",
            )


async def create_workspace(rt: Runtime, caller: Caller, org_id: str, name: object, folder_path: object) -> Workspace:
    name = required_text("name", name)
    folder = folders.folder_name("folderPath", folder_path)
    async with writing(rt) as session:
        org = await visible_organization(session, caller, org_id)
        await _check_free(session, org.id, name, folder)
        workspace = Workspace(organization_id=org.id, name=name, folder_path=folder)
        session.add(workspace)
        await session.flush()
        await folders.make_folder(organization_dir(rt, org), folder)
    return workspace


async def update_workspace(
    rt: Runtime, caller: Caller, workspace_id: str, name: Maybe[object] = UNSET, folder_path: Maybe[object] = UNSET
) -> Workspace:
    new_name = required_text("name", name) if name is not UNSET else None
    new_folder = folders.folder_name("folderPath", folder_path) if folder_path is not UNSET else None
    async with writing(rt) as session:
        workspace, org = await visible_workspace(session, caller, workspace_id)
        await _check_free(session, org.id, new_name, new_folder, workspace.id)
        if new_name is not None:
            workspace.name = new_name
        if new_folder is not None and new_folder != workspace.folder_path:
            source = workspace_dir(rt, org, workspace)
            await folders.move_folder(source, organization_dir(rt, org), new_folder)
            workspace.folder_path = new_folder
            try:
                await session.flush()
            except Exception:
                await folders.undo_move_folder(source, workspace_dir(rt, org, workspace))
                raise
        await session.flush()
    return workspace


async def delete_workspace(rt: Runtime, caller: Caller, workspace_id: str) -> None:
    """Removes the workspace's records, its projects' and their sandboxes; folders stay on disk."""
    async with rt.db.read() as session:
        workspace, _ = await visible_workspace(session, caller, workspace_id)
    await remove_sandboxes_below(rt, workspace_id=workspace.id)
    async with writing(rt) as session:
        stored = await session.get(Workspace, workspace.id)
        if stored is not None:
            await session.delete(stored)
