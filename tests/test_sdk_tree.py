"""End to end: the published TypeScript client `@aintandem/sdk-core` drives the live server under Node.

`tests/sdk/tree.mjs` walks organizations → workspaces → projects (operations 1-18), the SDK's hierarchy
and path views, settings (49-50) and login/verify (91, 95) through the SDK only, asserting on each answer.
It prints what the server returned; this test then checks the folders on disk and re-reads a few things
over REST. Node is a hard requirement: a missing `node` fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import USER_PASSWORD, Api, LiveServer

SDK_DIR = Path(__file__).parent / "sdk"
SCRIPT = SDK_DIR / "tree.mjs"
MIN_NODE_MAJOR = 20


def node_binary() -> str:
    node = shutil.which("node")
    assert node, "`node` (Node 20+) is not on PATH; the SDK end-to-end test needs it"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    major = int(version.strip().lstrip("v").split(".")[0])
    assert major >= MIN_NODE_MAJOR, f"Node {MIN_NODE_MAJOR}+ is needed, found {version.strip()}"
    sdk_package = SDK_DIR / "node_modules" / "@aintandem" / "sdk-core" / "package.json"
    assert sdk_package.is_file(), "the SDK is not installed: run `npm ci --prefix tests/sdk`"
    return node


def run_script(
    node: str, server: LiveServer, user: Api, suffix: str, script: Path = SCRIPT, **extra_env: str
) -> dict[str, Any]:
    env = {
        **os.environ,
        "BASE_URL": server.api_url,
        "USERNAME": user.username or "",
        "PASSWORD": USER_PASSWORD,
        "SUFFIX": suffix,
        **extra_env,
    }
    completed = subprocess.run(
        [node, str(script)], cwd=SDK_DIR, env=env, capture_output=True, text=True, timeout=90, check=False
    )
    report = f"exit code {completed.returncode}\n--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}"
    assert completed.returncode == 0, report
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    assert lines, report
    return json.loads(lines[-1])


def test_sdk_drives_the_tree_settings_and_auth(server: LiveServer, make_user: Callable[..., Api]) -> None:
    node = node_binary()
    user = make_user()
    suffix = uuid.uuid4().hex[:10]

    result = run_script(node, server, user, suffix)

    base = server.settings.base_root
    org = result["organization"]
    ws1, ws2 = result["workspaces"]
    moved = result["movedProject"]
    deleted = result["deletedProject"]

    # Renaming the organization and the first workspace renamed their folders.
    assert org["folderPath"] == f"sdk-org2-{suffix}"
    assert not (base / result["originalOrganizationFolder"]).exists()
    org_dir = base / org["folderPath"]
    assert ws1["folderPath"] == f"sdk-ws1-{suffix}"
    assert not (org_dir / ws1["originalFolderPath"]).exists()

    # Deleting the organization (and with it the second workspace and the moved project) keeps the folders.
    assert org_dir.is_dir(), f"organization folder {org_dir} is gone after deleting the organization"
    # Deleting the first workspace keeps its folder too.
    assert (org_dir / ws1["folderPath"]).is_dir()

    # The moved project now lives under the second workspace's folder, and no longer under the first.
    assert moved["workspaceId"] == ws2["id"]
    assert moved["originalWorkspaceId"] == ws1["id"]
    assert (org_dir / ws2["folderPath"] / moved["folderPath"]).is_dir()
    assert not (org_dir / ws1["folderPath"] / moved["folderPath"]).exists()

    # deleteProject(id, true) removed the project's folder.
    assert deleted["workspaceId"] == ws1["id"]
    assert not (org_dir / ws1["folderPath"] / deleted["folderPath"]).exists()

    # Over plain REST too: the tree is gone for this user, the settings stayed.
    assert user.get(f"/organizations/{org['id']}").status_code == 404
    assert user.get(f"/workspaces/{ws2['id']}").status_code == 404
    assert user.get(f"/projects/{moved['id']}").status_code == 404
    assert org["id"] not in [o["id"] for o in user.get("/organizations").json()]
    settings = user.get("/settings").json()
    assert result["settings"]["userId"] == user.user_id == settings["userId"]
    for key in ("gitDisplayName", "gitEmail", "dockerImage"):
        assert settings[key] == result["settings"][key]
    assert settings["dockerImage"] == "ainkai/flexy:latest"
