"""Folder listings (resolvers/browsing.py, operations 64-67): existing folders a new organization,
workspace or project can adopt, and the legacy host-folder browser."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import strawberry

from resolvers import browsing
from resolvers.pages import Page, page_in_memory, page_request
from schema.connections import After, Before, Connection, First, Last, connection
from schema.context import GraphInfo


@strawberry.type(description="A folder on disk.")
class Folder:
    name: str = strawberry.field(description="Its name (one level: what a folderPath takes).")


def folder_connection(
    names: Sequence[str], name: str, first: int | None, after: str | None, last: int | None, before: str | None
) -> Connection[Folder]:
    page: Page[str] = page_in_memory(names, lambda folder: folder, name, page_request(first, after, last, before))

    async def total() -> int:
        return len(names)

    return connection(page, lambda folder: Folder(name=folder), total)


@strawberry.type(description="Subfolders of a folder on the host (legacy).")
class DirectoryListing:
    current_path: str = strawberry.field(description="The folder listed.")
    directories: list[str] = strawberry.field(description="Names of its subfolders.")


@strawberry.type
class FolderQueries:
    @strawberry.field(description="Folders directly under BASE_ROOT, for a new organization to adopt.")
    async def organization_folders(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Folder]:
        names = await browsing.organization_folders(info.context.rt, info.context.caller)
        return folder_connection(names, "organization-folders", first, after, last, before)

    @strawberry.field(
        description="Subfolders of a folder under HOST_BROWSE_ROOT.",
        deprecation_reason="Legacy host browsing from the first console; folders under BASE_ROOT are what "
        "organizations, workspaces and projects adopt (organizationFolders, Organization.folders, Workspace.folders).",
    )
    async def host_directories(
        self,
        info: GraphInfo,
        current_path: Annotated[
            str | None, strawberry.argument(description="The folder to list; HOST_BROWSE_ROOT when left out.")
        ] = None,
    ) -> DirectoryListing:
        path, directories = await browsing.browse_host(info.context.rt, info.context.caller, current_path)
        return DirectoryListing(current_path=str(path), directories=list(directories))
