"""Folder listings that let a user adopt existing folders, and the legacy host-folder browser."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from resolvers import folders
from resolvers.access import member_org_ids, visible_organization, visible_workspace
from resolvers.errors import invalid
from resolvers.paths import organization_dir, workspace_dir
from resolvers.runtime import Caller, Runtime
from store.models import Organization


async def organization_folders(rt: Runtime, caller: Caller) -> Sequence[str]:
    """The folders under BASE_ROOT a new organization could adopt or that are the caller's: those of the
    caller's organizations and those no organization uses. Another organization's folder is never
    listed (its name tells that it exists); an administrator sees every folder."""
    names = await folders.list_subfolders(rt.settings.base_root)
    if caller.is_admin or not names:
        return names
    query = select(Organization.folder_path).where(
        Organization.folder_path.in_(names), Organization.id.not_in(member_org_ids(caller))
    )
    async with rt.db.read() as session:
        others = set(await session.scalars(query))
    return [name for name in names if name not in others]


async def workspace_folders(rt: Runtime, caller: Caller, org_id: str) -> Sequence[str]:
    async with rt.db.read() as session:
        org = await visible_organization(session, caller, org_id)
    return await folders.list_subfolders(organization_dir(rt, org))


async def project_folders(rt: Runtime, caller: Caller, workspace_id: str) -> Sequence[str]:
    async with rt.db.read() as session:
        workspace, org = await visible_workspace(session, caller, workspace_id)
    return await folders.list_subfolders(workspace_dir(rt, org, workspace))


async def browse_host(rt: Runtime, caller: Caller, current_path: object) -> tuple[Path, Sequence[str]]:
    """Subfolders of a folder under HOST_BROWSE_ROOT (the user's home by default); 403 outside it."""
    if current_path is not None and (not isinstance(current_path, str) or "\x00" in current_path):
        raise invalid("currentPath", "must be a path string")
    return await folders.browse(rt.settings.host_browse_root, current_path or None)
