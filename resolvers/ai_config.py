"""Validation of a project's `aiConfig`: the AI windows and sandbox options the console edits."""

from __future__ import annotations

import re
from typing import Any

from resolvers.errors import invalid

AI_WINDOW_TYPES = ("", "none", "qwen", "claude", "gemini", "codex")
ALLOWED_TYPES_TEXT = ", ".join(kind or "''" for kind in AI_WINDOW_TYPES)
MAX_AI_WINDOWS = 5
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _text(path: str, value: Any, max_length: int = 2048) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise invalid(path, f"must be a string of at most {max_length} characters")
    return value


def _list(path: str, value: Any, max_items: int = 64) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > max_items:
        raise invalid(path, f"must be a list of at most {max_items} entries")
    return value


def _object(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(path, "must be an object")
    return value


def _port(path: str, value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise invalid(path, "must be a port number from 1 to 65535")
    return value


def _container_path(path: str, value: Any) -> str:
    text = _text(path, value)
    if not text.startswith("/"):
        raise invalid(path, "must be an absolute path")
    return text


def validate_ai_config(value: Any, field: str = "aiConfig") -> dict[str, Any] | None:
    """A normalized copy of the known keys; unknown keys are dropped, wrong ones refused."""
    if value is None:
        return None
    config = _object(field, value)
    result: dict[str, Any] = {}
    windows = _list(f"{field}.aiWindows", config.get("aiWindows"), MAX_AI_WINDOWS)
    result["aiWindows"] = []
    for index, raw in enumerate(windows):
        path = f"{field}.aiWindows[{index}]"
        window = _object(path, raw)
        kind = window.get("type") or ""
        if kind not in AI_WINDOW_TYPES:
            raise invalid(f"{path}.type", f"must be one of {ALLOWED_TYPES_TEXT}")
        result["aiWindows"].append(
            {
                "type": kind,
                "apiKey": _text(f"{path}.apiKey", window.get("apiKey")),
                "model": _text(f"{path}.model", window.get("model")),
                "baseUrl": _text(f"{path}.baseUrl", window.get("baseUrl")),
            }
        )
    dood = config.get("enableDockerOutofDocker", False)
    if not isinstance(dood, bool):
        raise invalid(f"{field}.enableDockerOutofDocker", "must be true or false")
    result["enableDockerOutofDocker"] = dood
    result["folderMappings"] = [
        {
            "hostPath": _text(
                f"{field}.folderMappings[{i}].hostPath", _object(f"{field}.folderMappings[{i}]", m).get("hostPath")
            ),
            "containerPath": _container_path(f"{field}.folderMappings[{i}].containerPath", m.get("containerPath")),
        }
        for i, m in enumerate(_list(f"{field}.folderMappings", config.get("folderMappings")))
    ]
    result["portMappings"] = [
        {
            "hostPort": _port(
                f"{field}.portMappings[{i}].hostPort", _object(f"{field}.portMappings[{i}]", m).get("hostPort")
            ),
            "containerPort": _port(f"{field}.portMappings[{i}].containerPort", m.get("containerPort")),
        }
        for i, m in enumerate(_list(f"{field}.portMappings", config.get("portMappings")))
    ]
    variables = []
    for i, raw in enumerate(_list(f"{field}.environmentVariables", config.get("environmentVariables"), 256)):
        entry = _object(f"{field}.environmentVariables[{i}]", raw)
        name = _text(f"{field}.environmentVariables[{i}].name", entry.get("name"), 256)
        if not ENV_NAME.match(name):
            raise invalid(f"{field}.environmentVariables[{i}].name", "must be a valid variable name")
        variables.append(
            {"name": name, "value": _text(f"{field}.environmentVariables[{i}].value", entry.get("value"), 32768)}
        )
    result["environmentVariables"] = variables
    image = config.get("imageName")
    if image is not None:
        result["imageName"] = _text(f"{field}.imageName", image, 255) or None
    return result
