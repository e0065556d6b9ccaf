"""Folder listings that let a user adopt existing folders, and the legacy host-folder browser."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from resolvers import folders
from resolvers.access import visible_organization, visible_workspace
from resolvers.errors import invalid
from resolvers.paths import organization_dir, workspace_dir
from resolvers.runtime import Caller, Runtime


async def organization_folders(rt: Runtime, caller: Caller) -> Sequence[str]:
    return await folders.list_subfolders(rt.settings.base_root)


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
