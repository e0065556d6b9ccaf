"""Where each level of the tree lives on disk: BASE_ROOT/<org>/<workspace>/<project>."""

from __future__ import annotations

from pathlib import Path

from resolvers.runtime import Runtime
from store.models import Organization, Project, Workspace


def organization_dir(rt: Runtime, org: Organization) -> Path:
    return rt.settings.base_root / org.folder_path


def workspace_dir(rt: Runtime, org: Organization, workspace: Workspace) -> Path:
    return organization_dir(rt, org) / workspace.folder_path


def project_dir(rt: Runtime, org: Organization, workspace: Workspace, project: Project) -> Path:
    return workspace_dir(rt, org, workspace) / project.folder_path
