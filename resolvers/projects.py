"""Projects inside workspaces, with their folders, AI configuration and workflow binding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import folders, network
from resolvers.access import MEMBER_ORG_IDS, member_org_ids, require_owner, visible_project, visible_workspace
from resolvers.ai_config import validate_ai_config
from resolvers.errors import conflict, missing
from resolvers.pages import Listing, Ordering
from resolvers.paths import project_dir, workspace_dir
from resolvers.runtime import Caller, Runtime
from resolvers.sandboxes import remove_sandboxes_below
from resolvers.tx import writing
from resolvers.validation import UNSET, Maybe, optional_bool, optional_text, required_text
from resolvers.workflow_state import validate_state
from resolvers.workflows import visible_workflow
from store.models import Organization, Project, Workspace


@dataclass(frozen=True)
class ProjectPath:
    organization: Organization
    workspace: Workspace
    project: Project
    folder: Path


ALL_VISIBLE_PROJECTS = (
    select(Project)
    .join(Workspace, Workspace.id == Project.workspace_id)
    .where(Workspace.organization_id.in_(MEMBER_ORG_IDS))
    .order_by(Project.created_at, Project.id)
)


PROJECT_ORDER = Ordering("projects", ((Project.created_at, False), (Project.id, False)))


def project_listing(caller: Caller) -> Listing:
    """Projects of the caller's organizations (by workspace), oldest first."""
    query = (
        select(Project)
        .join(Workspace, Workspace.id == Project.workspace_id)
        .where(Workspace.organization_id.in_(member_org_ids(caller)))
    )
    return Listing(query, PROJECT_ORDER, Project.workspace_id)


async def list_all_projects(rt: Runtime, caller: Caller) -> Sequence[Project]:
    async with rt.db.read() as session:
        return (await session.scalars(ALL_VISIBLE_PROJECTS, {"caller_id": caller.user_id})).all()


async def list_projects(rt: Runtime, caller: Caller, workspace_id: str) -> Sequence[Project]:
    async with rt.db.read() as session:
        await visible_workspace(session, caller, workspace_id)
        query = select(Project).where(Project.workspace_id == workspace_id).order_by(Project.created_at, Project.id)
        return (await session.scalars(query)).all()


async def projects_by_workspace(rt: Runtime, caller: Caller, workspace_ids: Sequence[str]) -> dict[str, list[Project]]:
    async with rt.db.read() as session:
        query = (
            select(Project)
            .join(Workspace, Workspace.id == Project.workspace_id)
            .where(Project.workspace_id.in_(workspace_ids), Workspace.organization_id.in_(member_org_ids(caller)))
            .order_by(Project.created_at, Project.id)
        )
        grouped: dict[str, list[Project]] = {workspace_id: [] for workspace_id in workspace_ids}
        for project in await session.scalars(query):
            grouped[project.workspace_id].append(project)
        return grouped


async def projects_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, Project]:
    """The visible ones among several projects, in one query."""
    query = (
        select(Project)
        .join(Workspace, Workspace.id == Project.workspace_id)
        .where(Project.id.in_(ids), Workspace.organization_id.in_(member_org_ids(caller)))
    )
    async with rt.db.read() as session:
        return {project.id: project for project in await session.scalars(query)}


async def get_project(rt: Runtime, caller: Caller, project_id: str) -> Project:
    async with rt.db.read() as session:
        project, _, _ = await visible_project(session, caller, project_id)
        return project


async def get_project_path(rt: Runtime, caller: Caller, project_id: str) -> ProjectPath:
    async with rt.db.read() as session:
        project, workspace, org = await visible_project(session, caller, project_id)
    return ProjectPath(org, workspace, project, project_dir(rt, org, workspace, project))


async def _check_free(
    session: AsyncSession, workspace_id: str, name: str | None, folder: str | None, except_id: str | None = None
) -> None:
    for column, value, field in ((Project.name, name, "name"), (Project.folder_path, folder, "folderPath")):
        if value is None:
            continue
        query = select(Project.id).where(Project.workspace_id == workspace_id, column == value)
        if except_id:
            query = query.where(Project.id != except_id)
        if await session.scalar(query):
            raise conflict(
                f"A project with {field} {value!r} already exists in this workspace", {"field": field}, "ALREADY_EXISTS"
            )


async def _check_workflow(session: AsyncSession, caller: Caller, workflow_id: str | None) -> None:
    """A project may name only a workflow its caller can see (404 `WORKFLOW_NOT_FOUND` otherwise): binding
    another organization's workflow would reveal that it exists and block its owners from deleting it."""
    if workflow_id is not None:
        await visible_workflow(session, caller, workflow_id)


async def create_project(
    rt: Runtime,
    caller: Caller,
    workspace_id: str,
    name: object,
    folder_path: object,
    workflow_id: object = None,
    ai_config: object = None,
    network_settings: object = None,
) -> Project:
    """`network_settings` (`{mode, allowedHosts}`, see `resolvers.network`) is for owners of the organization."""
    name = required_text("name", name)
    chosen_network = network.parse_network(network_settings) if network_settings is not None else None
    folder = folders.folder_name("folderPath", folder_path)
    project = Project(
        name=name,
        folder_path=folder,
        workflow_id=optional_text("workflowId", workflow_id, 36),
        ai_config=validate_ai_config(ai_config),
    )
    async with writing(rt) as session:
        workspace, org = await visible_workspace(session, caller, workspace_id)
        if chosen_network is not None:
            await require_owner(session, caller, org)
            network.apply(project, *chosen_network)
        await _check_free(session, workspace.id, name, folder)
        await _check_workflow(session, caller, project.workflow_id)
        project.workspace_id = workspace.id
        session.add(project)
        await session.flush()
        await folders.make_folder(workspace_dir(rt, org, workspace), folder)
    return project


async def update_project(
    rt: Runtime,
    caller: Caller,
    project_id: str,
    *,
    name: Maybe[object] = UNSET,
    folder_path: Maybe[object] = UNSET,
    sandbox_id: Maybe[object] = UNSET,
    sandbox_name: Maybe[object] = UNSET,
    workflow_state: Maybe[object] = UNSET,
    workflow_id: Maybe[object] = UNSET,
    ai_config: Maybe[object] = UNSET,
) -> Project:
    """Change what was sent; `workflowId: null` unbinds the workflow (and its pinned version)."""
    changes: dict[str, object] = {}
    if name is not UNSET:
        changes["name"] = required_text("name", name)
    if sandbox_id is not UNSET:
        changes["sandbox_id"] = optional_text("sandboxId", sandbox_id, 128)
    if sandbox_name is not UNSET:
        changes["sandbox_name"] = optional_text("sandboxName", sandbox_name, 255)
    if workflow_state is not UNSET:
        changes["workflow_state"] = None if workflow_state is None else validate_state(workflow_state)
    if workflow_id is not UNSET:
        changes["workflow_id"] = optional_text("workflowId", workflow_id, 36)
        if changes["workflow_id"] is None:
            changes["workflow_version_id"] = None
    if ai_config is not UNSET:
        changes["ai_config"] = validate_ai_config(ai_config)
    new_folder = folders.folder_name("folderPath", folder_path) if folder_path is not UNSET else None
    async with writing(rt) as session:
        project, workspace, org = await visible_project(session, caller, project_id)
        await _check_free(session, workspace.id, changes.get("name"), new_folder, project.id)  # type: ignore[arg-type]
        await _check_workflow(session, caller, changes.get("workflow_id"))  # type: ignore[arg-type]
        for attribute, value in changes.items():
            setattr(project, attribute, value)
        if new_folder is not None and new_folder != project.folder_path:
            source = project_dir(rt, org, workspace, project)
            await folders.move_folder(source, workspace_dir(rt, org, workspace), new_folder)
            project.folder_path = new_folder
            try:
                await session.flush()
            except Exception:
                await folders.undo_move_folder(source, project_dir(rt, org, workspace, project))
                raise
        await session.flush()
    return project


async def move_project(rt: Runtime, caller: Caller, project_id: str, new_workspace_id: object) -> Project:
    """Move a project, and its folder, into another workspace the caller can see."""
    if not isinstance(new_workspace_id, str) or not new_workspace_id:
        raise missing("newWorkspaceId")
    async with writing(rt) as session:
        project, workspace, org = await visible_project(session, caller, project_id)
        target, target_org = await visible_workspace(session, caller, new_workspace_id)
        if target.id == workspace.id:
            return project
        await _check_free(session, target.id, project.name, project.folder_path)
        source = project_dir(rt, org, workspace, project)
        await folders.move_folder(source, workspace_dir(rt, target_org, target), project.folder_path)
        project.workspace_id = target.id
        try:
            await session.flush()
        except Exception:
            await folders.undo_move_folder(source, project_dir(rt, target_org, target, project))
            raise
    return project


async def delete_project(rt: Runtime, caller: Caller, project_id: str, delete_folder: object = False) -> None:
    """Remove the project's record and its sandbox; its folder goes too only when asked."""
    remove_folder = optional_bool("deleteFolder", delete_folder, False)
    async with rt.db.read() as session:
        project, workspace, org = await visible_project(session, caller, project_id)
    folder = project_dir(rt, org, workspace, project)
    await remove_sandboxes_below(rt, project_id=project.id)
    async with writing(rt) as session:
        stored = await session.get(Project, project.id)
        if stored is not None:
            await session.delete(stored)
    if remove_folder:
        await folders.delete_folder(folder)
