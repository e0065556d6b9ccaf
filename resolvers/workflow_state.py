"""The manual workflow tracker on a project: current phase and step, and each step's status."""

from __future__ import annotations

from typing import Any

from resolvers.access import visible_project
from resolvers.errors import invalid
from resolvers.runtime import Caller, Runtime
from resolvers.tx import writing
from resolvers.validation import UNSET, Maybe, one_of, optional_object, optional_text, required_text
from store.models import Project, utcnow

STEP_STATUSES = ("pending", "in-progress", "completed")
DEFAULT_PHASE = "rapid-prototyping"


def default_state() -> dict[str, Any]:
    return {"currentPhaseId": DEFAULT_PHASE, "currentStepId": None, "stepStatuses": {}, "lastUpdated": None}


def state_of(project: Project) -> dict[str, Any]:
    """The project's state, or the default one when it has none yet."""
    return {**default_state(), **(project.workflow_state or {})}


def _stamp() -> str:
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def validate_state(value: Any, field: str = "workflowState") -> dict[str, Any]:
    """A complete state; `field` prefixes the names in errors ("" for a request body's top level)."""
    prefix = f"{field}." if field else ""
    state = optional_object(field or "body", value)
    if state is None:
        raise invalid(field or "body", "must be an object")
    statuses = optional_object(f"{prefix}stepStatuses", state.get("stepStatuses")) or {}
    for step_id, status in statuses.items():
        one_of(f"{prefix}stepStatuses.{step_id}", status, STEP_STATUSES)
    return {
        "currentPhaseId": required_text(f"{prefix}currentPhaseId", state.get("currentPhaseId")),
        "currentStepId": optional_text(f"{prefix}currentStepId", state.get("currentStepId")),
        "stepStatuses": dict(statuses),
        "lastUpdated": _stamp(),
    }


async def get_workflow_state(rt: Runtime, caller: Caller, project_id: str) -> dict[str, Any]:
    async with rt.db.read() as session:
        project, _, _ = await visible_project(session, caller, project_id)
    return state_of(project)


async def set_workflow_state(
    rt: Runtime,
    caller: Caller,
    project_id: str,
    current_phase_id: object,
    current_step_id: Maybe[object] = UNSET,
    step_statuses: Maybe[object] = UNSET,
) -> Project:
    async with writing(rt) as session:
        project, _, _ = await visible_project(session, caller, project_id)
        previous = state_of(project)
        candidate = {
            "currentPhaseId": current_phase_id,
            "currentStepId": previous["currentStepId"] if current_step_id is UNSET else current_step_id,
            "stepStatuses": previous["stepStatuses"] if step_statuses is UNSET else step_statuses,
        }
        project.workflow_state = validate_state(candidate, "")
    return project


async def set_step_status(rt: Runtime, caller: Caller, project_id: str, step_id: str, status: object) -> dict[str, Any]:
    status = one_of("status", status, STEP_STATUSES)
    step_id = required_text("stepId", step_id)
    async with writing(rt) as session:
        project, _, _ = await visible_project(session, caller, project_id)
        state = state_of(project)
        state["stepStatuses"] = {**state["stepStatuses"], step_id: status}
        state["lastUpdated"] = _stamp()
        project.workflow_state = state
    return state
