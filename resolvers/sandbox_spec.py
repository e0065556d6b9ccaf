"""What a project's sandbox looks like: its name, image, environment and mappings."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from resolvers.ai_config import validate_ai_config
from resolvers.errors import invalid
from resolvers.network import settings_of
from resolvers.paths import project_dir
from resolvers.runtime import Runtime
from sandbox.base import FolderMapping, NetworkPolicy, PortMapping, SandboxSpec, covers
from store.config import Settings
from store.models import Organization, Project, UserSettings, Workspace

CONTAINER_BASE_ROOT = "/base-root"
SERVICE_ROOT = Path(__file__).resolve().parent.parent
"""This service's checkout."""
SYSTEM_PREFIXES = ("/", "/usr", "/usr/local")


def protected_paths(settings: Settings) -> tuple[str, ...]:
    """Host paths no sandbox may see or map: DATA_DIR, BASE_ROOT (every project), this service's files."""
    paths = [settings.data_dir, settings.base_root, SERVICE_ROOT]
    if sys.prefix not in SYSTEM_PREFIXES:
        paths.append(Path(sys.prefix))  # the virtualenv, wherever it lies
    return tuple(dict.fromkeys(os.path.realpath(path) for path in paths))


def _check_mappings(rt: Runtime, config: dict[str, Any] | None, network: NetworkPolicy) -> None:
    protected = protected_paths(rt.settings)
    for index, mapping in enumerate((config or {}).get("folderMappings", [])):
        host = os.path.realpath(mapping["hostPath"] or "/")
        for path in protected:
            if covers(path, host) or covers(host, path):
                raise invalid(
                    f"aiConfig.folderMappings[{index}].hostPath",
                    "must not contain or lie inside this service's data, the base folder or the service's own files",
                )
    if (config or {}).get("portMappings") and network.mode != "open":
        raise invalid("aiConfig.portMappings", f"need the open network mode (this project's is {network.mode})")


def sandbox_name(project: Project, requested: str | None) -> str:
    base = requested or f"flexy-{project.folder_path}"
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", base).strip("-.").lower()[:48] or "flexy"
    return f"{slug}-{project.id[:8]}"


def choose_image(
    rt: Runtime, requested: str | None, settings: UserSettings | None, ai_config: dict[str, Any] | None
) -> str:
    """The request's image, else the project's configured one, else the user's setting, else IMAGE_NAME."""
    return (
        requested
        or (ai_config or {}).get("imageName")
        or (settings.docker_image if settings else None)
        or rt.settings.image_name
    )


def sandbox_env(
    rt: Runtime, project: Project, ai_config: dict[str, Any] | None, settings: UserSettings | None
) -> dict[str, str]:
    env = {
        "KAI_PROJECT_ID": project.id,
        "KAI_BACKEND_URL": rt.settings.backend_url,
        "ENABLE_WEBTTY": "true",
    }
    window_number = 0
    for window in (ai_config or {}).get("aiWindows", []):
        if window["type"] in ("", "none"):
            continue
        window_number += 1
        prefix = f"AI_WINDOW_{window_number}"
        env[f"{prefix}_TYPE"] = window["type"]
        env[f"{prefix}_API_KEY"] = window["apiKey"]
        env[f"{prefix}_MODEL"] = window["model"]
        env[f"{prefix}_BASE_URL"] = window["baseUrl"]
    if settings and settings.git_display_name:
        env["GIT_USERNAME"] = settings.git_display_name
    if settings and settings.git_email:
        env["GIT_EMAIL"] = settings.git_email
    for variable in (ai_config or {}).get("environmentVariables", []):
        env[variable["name"]] = variable["value"]
    return env


def build_spec(
    rt: Runtime,
    org: Organization,
    workspace: Workspace,
    project: Project,
    name: str,
    image: str,
    ai_config: object,
    settings: UserSettings | None,
) -> SandboxSpec:
    config = validate_ai_config(ai_config) if ai_config is not None else project.ai_config
    network = settings_of(project, config).policy
    _check_mappings(rt, config, network)
    return SandboxSpec(
        name=name,
        image=image,
        project_id=project.id,
        project_dir=project_dir(rt, org, workspace, project),
        container_workdir=f"{CONTAINER_BASE_ROOT}/{org.folder_path}/{workspace.folder_path}/{project.folder_path}",
        env=sandbox_env(rt, project, config, settings),
        folder_mappings=[
            FolderMapping(m["hostPath"], m["containerPath"]) for m in (config or {}).get("folderMappings", [])
        ],
        port_mappings=[PortMapping(m["hostPort"], m["containerPort"]) for m in (config or {}).get("portMappings", [])],
        docker_socket=bool((config or {}).get("enableDockerOutofDocker")),
        network=network,
    )
