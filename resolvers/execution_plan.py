"""The state of one workflow execution as plain data: its phases and steps (the contract's PhaseExecution
and StepExecution shapes), what each step runs, and the progress figures derived from them.

Pure functions: the engine loads the state, changes a copy here, and stores it back."""

from __future__ import annotations

import copy
import json
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.models import utcnow

Phases = list[dict[str, Any]]
STEP_TASK_TYPE = "qwen"
"""The CLI a step runs with when its definition names none, as the console labels workflow steps."""
FINISHED_STEP = ("completed", "failed", "skipped")
EXECUTION_ENDS = ("completed", "failed", "cancelled")
OUTPUT_TAIL = 4000
"""Characters of a step task's output kept on the step; the task itself keeps the whole output."""
_SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class StepWork:
    """What an executable step runs: a prompt (a script for bash) with a task type."""

    title: str
    prompt: str
    task_type: str


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def initial_phases(definition: dict[str, Any]) -> Phases:
    """Every phase and step of the definition, pending, in definition order."""
    return [
        {
            "id": f"phase-{index}",
            "phaseId": phase["id"],
            "name": phase.get("title") or phase["id"],
            "description": phase.get("description"),
            "status": "pending",
            "currentStep": 0,
            "steps": [
                {
                    "id": f"step-{index}-{position}",
                    "stepId": step["id"],
                    "name": step.get("title") or step["id"],
                    "description": step.get("description"),
                    "status": "pending",
                }
                for position, step in enumerate(phase.get("steps") or [])
            ],
        }
        for index, phase in enumerate(definition.get("phases") or [])
    ]


def is_executable(step: dict[str, Any]) -> bool:
    """A step runs as a task with `hasExecutableTask` or a prompt (`prompt`, or the legacy `qwenCodePrompt`)."""
    return bool(step.get("prompt") or step.get("qwenCodePrompt") or step.get("hasExecutableTask"))


def find_step(definition: dict[str, Any], step_id: str) -> tuple[int, int] | None:
    """Where the step with this id sits in the definition, as (phase index, step index)."""
    for phase_index, phase in enumerate(definition.get("phases") or []):
        for step_index, step in enumerate(phase.get("steps") or []):
            if step.get("id") == step_id:
                return phase_index, step_index
    return None


def step_work(
    definition: dict[str, Any], phase_index: int, step_index: int, parameters: dict[str, Any] | None
) -> StepWork:
    """The task a step becomes: its prompt (a description of the step when it has none) with its task type.
    Input parameters follow an AI prompt as a list; a bash script gets them as exported variables."""
    phase = definition["phases"][phase_index]
    step = phase["steps"][step_index]
    text = step.get("prompt") or step.get("qwenCodePrompt")
    task_type = step.get("taskType") or STEP_TASK_TYPE
    title = step.get("title") or step["id"]
    if not text:
        what = f": {step['description']}" if step.get("description") else ""
        text = (
            f"{phase.get('title') or phase['id']}, step '{title}'{what}. "
            "Carry out this step for the project in the current folder."
        )
    return StepWork(title, _with_parameters(text, task_type, parameters or {}), task_type)


def _with_parameters(text: str, task_type: str, parameters: dict[str, Any]) -> str:
    if not parameters:
        return text
    rendered = {key: value if isinstance(value, str) else json.dumps(value) for key, value in parameters.items()}
    if task_type == "bash":
        exports = [f"export {key}={shlex.quote(value)}" for key, value in rendered.items() if _SHELL_NAME.match(key)]
        return "\n".join([*exports, text])
    listed = "\n".join(f"- {key}: {value}" for key, value in rendered.items())
    return f"{text}\n\nInput parameters:\n{listed}"


def next_phase(phases: Phases) -> int | None:
    """The first phase not finished yet (a running one included)."""
    return next((index for index, phase in enumerate(phases) if phase["status"] in ("pending", "running")), None)


def next_step_of(phase: dict[str, Any]) -> int | None:
    """The phase's first step not finished yet (a running one included)."""
    return next((index for index, step in enumerate(phase["steps"]) if step["status"] not in FINISHED_STEP), None)


def next_step(phases: Phases) -> tuple[int, int] | None:
    """The first step not finished yet (a running one included), as (phase index, step index)."""
    for phase_index, phase in enumerate(phases):
        for step_index, step in enumerate(phase["steps"]):
            if step["status"] not in FINISHED_STEP:
                return phase_index, step_index
    return None


def mutable(phases: Phases) -> Phases:
    """A deep copy to change: JSON columns are saved by assigning a new value."""
    return copy.deepcopy(phases)


def begin(item: dict[str, Any]) -> None:
    item["status"] = "running"
    item["startTime"] = iso(utcnow())


def end(item: dict[str, Any], status: str, **fields: Any) -> None:
    """Close a phase or step with its status and end time; the duration runs from its start."""
    now = utcnow()
    item["status"] = status
    item["endTime"] = iso(now)
    started = item.get("startTime")
    if started:
        item["duration"] = round((now - datetime.fromisoformat(started)).total_seconds() * 1000)
    item.update({key: value for key, value in fields.items() if value is not None})


def tail(output: str | None) -> str | None:
    return output[-OUTPUT_TAIL:] if output else output


def phase_summary(phase: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for step in phase["steps"]:
        counts[step["status"]] = counts.get(step["status"], 0) + 1
    return ", ".join(f"{count} {status}" for status, count in counts.items()) or "no steps"


def progress(items: list[dict[str, Any]], message: str) -> dict[str, Any]:
    """`{message, percentage, total, current}`: how many of the steps have finished."""
    total = len(items)
    current = sum(1 for item in items if item["status"] in FINISHED_STEP)
    percentage = round(100 * current / total) if total else 0
    return {"message": message, "percentage": percentage, "total": total, "current": current}


def all_steps(phases: Phases) -> list[dict[str, Any]]:
    return [step for phase in phases for step in phase["steps"]]


def _running_or_next(phases: Phases) -> tuple[dict[str, Any], dict[str, Any]] | None:
    position = next_step(phases)
    if position is None:
        return None
    phase = phases[position[0]]
    return phase, phase["steps"][position[1]]


def execution_progress(status: str, phases: Phases, error: str | None) -> dict[str, Any]:
    """The execution's `progress`: finished steps of all steps, with a message saying where it stands."""
    where = _running_or_next(phases)
    if status in ("running", "initializing") and where:
        message = f"Running step '{where[1]['name']}' of phase '{where[0]['name']}'"
    elif status == "paused" and where:
        verb = "Pausing after" if where[1]["status"] == "running" else "Paused before"
        message = f"{verb} step '{where[1]['name']}' of phase '{where[0]['name']}'"
    else:
        message = {
            "pending": "Waiting to be started",
            "initializing": "Starting",
            "running": "Finishing",
            "completed": "Completed",
            "failed": f"Failed: {error}",
            "cancelled": "Cancelled",
        }.get(status, status)
    return progress(all_steps(phases), message)


def phase_progress(phase: dict[str, Any]) -> dict[str, Any]:
    running = next((step for step in phase["steps"] if step["status"] == "running"), None)
    if running is not None:
        message = f"Running step '{running['name']}'"
    elif phase["status"] == "failed":
        message = f"Failed: {phase.get('error')}"
    elif phase["status"] == "pending":
        message = "Pending"
    else:
        message = phase_summary(phase)
    return progress(phase["steps"], message)
