"""A project's network settings: what its sandbox may reach (`none`, `egress` through an allow-list, `open`).

Members see them; only an owner of the project's organization changes them (a task runs with its members'
rights and must not be able to widen its own way out). Unset, the mode is `egress` and the allow-list is
the model APIs of the AI windows the project configures (the default task type's when it configures
none), plus each window's own `baseUrl` host; the list follows the configuration until an owner sets one.
The settings are fixed into a sandbox when it is created: a running sandbox keeps what it was created with
until it is deleted and created again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from resolvers.access import require_owner, visible_project
from resolvers.errors import invalid
from resolvers.runtime import Caller, Runtime
from resolvers.tx import writing
from resolvers.validation import UNSET, Maybe
from sandbox.base import NETWORK_MODES, NetworkPolicy
from store.models import Project

DEFAULT_MODE = "egress"
DEFAULT_TASK_TYPE = "qwen"
MAX_HOSTS = 100
MODEL_API_HOSTS: dict[str, tuple[str, ...]] = {
    "claude": ("api.anthropic.com", "console.anthropic.com", "claude.ai"),
    "qwen": (
        "dashscope.aliyuncs.com",
        "dashscope-intl.aliyuncs.com",
        "dashscope-us.aliyuncs.com",
        "chat.qwen.ai",
        "portal.qwen.ai",
    ),
    "gemini": ("generativelanguage.googleapis.com", "cloudcode-pa.googleapis.com", "oauth2.googleapis.com"),
    "codex": ("api.openai.com", "auth.openai.com", "chatgpt.com"),
}
"""The hosts each agent CLI talks to: its model API and the sign-in it uses."""

# A label: 1 to 63 characters, no hyphen at either end. No look-around: the OpenAPI pattern is this one too.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"  # 1 to 65535
HOST_ENTRY = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*(:{_PORT})?")


@dataclass(frozen=True)
class NetworkSettings:
    mode: str
    allowed_hosts: tuple[str, ...]
    default_hosts: bool
    """True while the allow-list is the one derived from the AI configuration (no owner has set one)."""

    @property
    def policy(self) -> NetworkPolicy:
        return NetworkPolicy(self.mode, self.allowed_hosts if self.mode == "egress" else ())


def default_hosts(ai_config: dict[str, Any] | None) -> tuple[str, ...]:
    windows = [window for window in (ai_config or {}).get("aiWindows", []) if window["type"] not in ("", "none")]
    kinds = [window["type"] for window in windows] or [DEFAULT_TASK_TYPE]
    hosts = [host for kind in kinds for host in MODEL_API_HOSTS.get(kind, ())]
    for window in windows:
        base = urlsplit(window.get("baseUrl") or "")
        if base.hostname:
            hosts.append(f"{base.hostname}:{base.port}" if base.port else base.hostname)
    return tuple(dict.fromkeys(hosts))


def settings_of(project: Project, ai_config: dict[str, Any] | None = None) -> NetworkSettings:
    """The project's settings; `ai_config` replaces the project's own for the default list (a sandbox created
    with a configuration of its own)."""
    mode = project.network_mode or DEFAULT_MODE
    if project.network_allowed_hosts is None:
        return NetworkSettings(mode, default_hosts(ai_config or project.ai_config), True)
    return NetworkSettings(mode, tuple(project.network_allowed_hosts), False)


def validate_mode(value: object, field: str = "mode") -> str:
    if not isinstance(value, str) or value not in NETWORK_MODES:
        raise invalid(field, f"must be one of {', '.join(NETWORK_MODES)}")
    return value


def validate_hosts(value: object, field: str = "allowedHosts") -> tuple[str, ...]:
    """Host names (`name`, `*.domain`, either with `:port`), lower-cased, without duplicates."""
    if not isinstance(value, list) or len(value) > MAX_HOSTS:
        raise invalid(field, f"must be a list of at most {MAX_HOSTS} host names")
    hosts: list[str] = []
    for index, raw in enumerate(value):
        path = f"{field}[{index}]"
        if not isinstance(raw, str):
            raise invalid(path, "must be a host name")
        entry = raw.strip().lower().rstrip(".")
        if "://" in entry or "/" in entry:
            raise invalid(path, f"must be a host name (optionally :port), not a URL: {raw[:100]!r}")
        if len(entry) > 259 or not HOST_ENTRY.fullmatch(entry):
            raise invalid(path, f"is not a valid host name (name, *.domain, optionally :port 1-65535): {raw[:100]!r}")
        hosts.append(entry)
    return tuple(dict.fromkeys(hosts))


def parse_network(value: object, field: str = "network") -> tuple[Maybe[str], Maybe[tuple[str, ...] | None]]:
    """A `{mode, allowedHosts}` body: each key optional; `allowedHosts: null` returns to the default list."""
    if not isinstance(value, dict):
        raise invalid(field, "must be an object with mode and/or allowedHosts")
    unknown = set(value) - {"mode", "allowedHosts"}
    if unknown:
        raise invalid(f"{field}.{sorted(unknown)[0]}", "is not a network setting (mode, allowedHosts)")
    mode: Maybe[str] = validate_mode(value["mode"], f"{field}.mode") if "mode" in value else UNSET
    hosts: Maybe[tuple[str, ...] | None] = UNSET
    if "allowedHosts" in value:
        raw = value["allowedHosts"]
        hosts = None if raw is None else validate_hosts(raw, f"{field}.allowedHosts")
    return mode, hosts


def apply(project: Project, mode: Maybe[str], hosts: Maybe[Sequence[str] | None]) -> None:
    if mode is not UNSET:
        project.network_mode = mode
    if hosts is not UNSET:
        project.network_allowed_hosts = None if hosts is None else list(hosts)


async def get_network(rt: Runtime, caller: Caller, project_id: str) -> NetworkSettings:
    async with rt.db.read() as session:
        project, _, _ = await visible_project(session, caller, project_id)
    return settings_of(project)


async def set_network(rt: Runtime, caller: Caller, project_id: str, body: object) -> NetworkSettings:
    """Owners only; the project's sandbox, if any, keeps its settings until it is created again."""
    mode, hosts = parse_network(body, "body")
    async with writing(rt) as session:
        project, _, org = await visible_project(session, caller, project_id)
        await require_owner(session, caller, org)
        apply(project, mode, hosts)
        await session.flush()
        return settings_of(project)
