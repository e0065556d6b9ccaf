"""Checks on a workflow definition: phases with steps, and transitions between phases.

Each error names the offending path, e.g. `definition.phases[1].steps[0].type`."""

from __future__ import annotations

from typing import Any

from resolvers.agents import TASK_TYPES
from resolvers.errors import invalid

STEP_TYPES = ("process", "milestone", "decision", "documentation")
TRANSITION_TYPES = ("forward", "feedback", "loop")


def _items(path: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(path, "must be a list")
    return value


def _object(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(path, "must be an object")
    return value


def _identifier(path: str, value: Any, seen: set[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(path, "must be a non-empty string")
    if value in seen:
        raise invalid(path, f"duplicate id {value!r}")
    seen.add(value)
    return value


PHASE_TEXTS = ("title", "titleEn", "description", "color", "icon")
STEP_TEXTS = ("title", "description", "taskFile", "taskId")
LINK_TEXTS = ("name", "path", "description", "phase", "id")


def _texts(path: str, item: dict[str, Any], names: tuple[str, ...]) -> None:
    """The fields that hold text, when present, hold text (null counts as absent)."""
    for name in names:
        if item.get(name) is not None and not isinstance(item[name], str):
            raise invalid(f"{path}.{name}", "must be a string")


def _check_links(path: str, links: list[Any]) -> None:
    for index, raw in enumerate(links):
        _texts(f"{path}[{index}]", _object(f"{path}[{index}]", raw), LINK_TEXTS)


def _check_steps(path: str, steps: list[Any], step_ids: set[str]) -> None:
    for index, raw in enumerate(steps):
        step_path = f"{path}[{index}]"
        step = _object(step_path, raw)
        _identifier(f"{step_path}.id", step.get("id"), step_ids)
        if step.get("type") is not None and step["type"] not in STEP_TYPES:
            raise invalid(f"{step_path}.type", f"must be one of {', '.join(STEP_TYPES)}", "INVALID_VALUE")
        _texts(step_path, step, STEP_TEXTS)
        _check_links(f"{step_path}.workflows", _items(f"{step_path}.workflows", step.get("workflows")))
        _check_execution_fields(step_path, step)


def _check_execution_fields(path: str, step: dict[str, Any]) -> None:
    """What an execution runs for the step: its task type, its prompt, whether it runs at all."""
    if step.get("taskType") is not None and step["taskType"] not in TASK_TYPES:
        raise invalid(f"{path}.taskType", f"must be one of {', '.join(TASK_TYPES)}", "INVALID_VALUE")
    for name in ("prompt", "qwenCodePrompt"):
        if step.get(name) is not None and not isinstance(step[name], str):
            raise invalid(f"{path}.{name}", "must be a string")
    if step.get("hasExecutableTask") is not None and not isinstance(step["hasExecutableTask"], bool):
        raise invalid(f"{path}.hasExecutableTask", "must be true or false")


def validate_definition(value: Any) -> dict[str, Any]:
    """The definition as sent, once it is consistent; `{}` is a valid, empty definition."""
    definition = _object("definition", value)
    phase_ids: set[str] = set()
    step_ids: set[str] = set()
    for index, raw in enumerate(_items("definition.phases", definition.get("phases"))):
        phase_path = f"definition.phases[{index}]"
        phase = _object(phase_path, raw)
        _identifier(f"{phase_path}.id", phase.get("id"), phase_ids)
        _texts(phase_path, phase, PHASE_TEXTS)
        _check_steps(f"{phase_path}.steps", _items(f"{phase_path}.steps", phase.get("steps")), step_ids)
    for index, raw in enumerate(_items("definition.transitions", definition.get("transitions"))):
        path = f"definition.transitions[{index}]"
        transition = _object(path, raw)
        for end in ("from", "to"):
            if transition.get(end) not in phase_ids:
                raise invalid(f"{path}.{end}", f"names no phase: {transition.get(end)!r}")
        if transition.get("type") is not None and transition["type"] not in TRANSITION_TYPES:
            raise invalid(f"{path}.type", f"must be one of {', '.join(TRANSITION_TYPES)}", "INVALID_VALUE")
        _texts(path, transition, ("label",))
    return definition
