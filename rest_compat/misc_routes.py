"""Settings (49-50), folder listings (64-67) and health (68)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from starlette.requests import Request

from resolvers import browsing, settings
from resolvers.health import uptime_seconds
from resolvers.runtime import Caller
from resolvers.settings import SETTING_FIELDS
from resolvers.storage import storage_health
from rest_compat.http import endpoint, field, read_body, runtime
from rest_compat.shapes import iso, settings_json
from rest_compat.spec.account import (
    BrowseDirectoriesRequest,
    BrowseDirectoriesResponse,
    HealthResponse,
    ListFoldersResponse,
    SettingsResponse,
    UpdateSettingsRequest,
)


@endpoint("GET", "/settings", operation="GetUserSettings", response=SettingsResponse)
async def get_settings(request: Request, caller: Caller) -> Any:
    return settings_json(await settings.get_settings(runtime(request), caller))


@endpoint("PUT", "/settings", operation="UpdateUserSettings", body=UpdateSettingsRequest, response=SettingsResponse)
async def update_settings(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    updated = await settings.update_settings(
        runtime(request),
        caller,
        git_display_name=field(body, "gitDisplayName"),
        git_email=field(body, "gitEmail"),
        docker_image=field(body, "dockerImage"),
    )
    return settings_json(updated)


@endpoint("POST", "/settings/reset", operation="ResetUserSettings", response=SettingsResponse)
async def reset_settings(request: Request, caller: Caller) -> Any:
    """Reset the settings to their defaults (no git identity, no image of one's own)."""
    return settings_json(await settings.reset_settings(runtime(request), caller))


@endpoint(
    "DELETE",
    "/settings/{key}",
    operation="DeleteUserSetting",
    path_types={"key": Literal[tuple(SETTING_FIELDS)]},
    response=SettingsResponse,
)
async def delete_setting(request: Request, caller: Caller) -> Any:
    """Clear one setting."""
    return settings_json(await settings.clear_setting(runtime(request), caller, request.path_params["key"]))


@endpoint(
    "POST",
    "/host/directories",
    operation="BrowseDirectories",
    body=BrowseDirectoriesRequest,
    response=BrowseDirectoriesResponse,
)
async def browse_directories(request: Request, caller: Caller) -> Any:
    body = await read_body(request)
    path, directories = await browsing.browse_host(runtime(request), caller, body.get("currentPath"))
    return {"currentPath": str(path), "directories": list(directories)}


@endpoint("GET", "/folders/organizations", operation="ListOrganizationFolders", response=ListFoldersResponse)
async def organization_folders(request: Request, caller: Caller) -> Any:
    return {"folders": list(await browsing.organization_folders(runtime(request), caller))}


@endpoint("GET", "/folders/workspaces/{organizationId}", operation="ListWorkspaceFolders", response=ListFoldersResponse)
async def workspace_folders(request: Request, caller: Caller) -> Any:
    org_id = request.path_params["organizationId"]
    return {"folders": list(await browsing.workspace_folders(runtime(request), caller, org_id))}


@endpoint("GET", "/folders/projects/{workspaceId}", operation="ListProjectFolders", response=ListFoldersResponse)
async def project_folders(request: Request, caller: Caller) -> Any:
    workspace_id = request.path_params["workspaceId"]
    return {"folders": list(await browsing.project_folders(runtime(request), caller, workspace_id))}


@endpoint("GET", "/health", authenticated=False, operation="Health", response=HealthResponse)
async def health(request: Request) -> Any:
    rt = runtime(request)
    found = await storage_health(rt)
    return {
        "status": "ok" if found.status == "ok" else "degraded",
        "uptime": uptime_seconds(rt),
        "storage": {
            "status": found.status,
            "freeBytes": found.free_bytes,
            "waitingWrites": found.waiting_writes,
            "lastFullAt": iso(datetime.fromtimestamp(found.last_full_at, UTC)) if found.last_full_at else None,
        },
    }


routes = [
    get_settings,
    update_settings,
    reset_settings,
    delete_setting,
    browse_directories,
    organization_folders,
    workspace_folders,
    project_folders,
    health,
]
