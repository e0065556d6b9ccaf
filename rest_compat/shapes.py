"""The JSON shapes the contract names, built from domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from resolvers.settings import preferences_of
from resolvers.workflow_state import state_of
from store.models import Organization, Project, User, UserSettings, Workspace


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def organization_json(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "folderPath": org.folder_path,
        "createdById": org.created_by_id,
        "createdAt": iso(org.created_at),
        "updatedAt": iso(org.updated_at),
    }


def workspace_json(workspace: Workspace) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "organizationId": workspace.organization_id,
        "name": workspace.name,
        "folderPath": workspace.folder_path,
        "createdAt": iso(workspace.created_at),
        "updatedAt": iso(workspace.updated_at),
    }


def project_json(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "workspaceId": project.workspace_id,
        "name": project.name,
        "folderPath": project.folder_path,
        "sandboxId": project.sandbox_id,
        "sandboxName": project.sandbox_name,
        "workflowId": project.workflow_id,
        "workflowVersionId": project.workflow_version_id,
        "workflowState": state_of(project) if project.workflow_state else None,
        "aiConfig": project.ai_config,
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at),
    }


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username}


def settings_json(settings: UserSettings) -> dict[str, Any]:
    return {
        "userId": settings.user_id,
        "preferences": preferences_of(settings),
        "gitDisplayName": settings.git_display_name,
        "gitEmail": settings.git_email,
        "dockerImage": settings.docker_image,
        "updatedAt": iso(settings.updated_at),
    }
