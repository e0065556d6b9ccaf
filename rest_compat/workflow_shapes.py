"""The JSON shapes of workflows, their versions and executions (contract §4.2-4.3)."""

from __future__ import annotations

from typing import Any

from resolvers.execution_plan import execution_progress, iso, phase_progress
from rest_compat.spec import fit, workflows
from store.models import Workflow, WorkflowExecution, WorkflowVersion

STEP_FIELDS = (
    "id",
    "stepId",
    "name",
    "description",
    "status",
    "taskId",
    "startTime",
    "endTime",
    "duration",
    "output",
    "error",
)
PHASE_FIELDS = (
    "id",
    "phaseId",
    "name",
    "description",
    "status",
    "currentStep",
    "startTime",
    "endTime",
    "duration",
    "error",
    "outputSummary",
)
DEFAULT_COLOR = "#64748b"
"""A phase without a colour of its own is drawn in slate grey."""


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


def _link_json(link: dict[str, Any]) -> workflows.WorkflowLink:
    defaults = {name: _text(link.get(name), "") for name in ("name", "path", "description", "phase")}
    return fit(workflows.WorkflowLink, **{**_present(link), **defaults})


def _step_json(step: dict[str, Any]) -> workflows.WorkflowStep:
    links = step.get("workflows")
    defaults = {
        "title": _text(step.get("title"), step["id"]),
        "description": _text(step.get("description"), ""),
        "type": step.get("type") or "process",
        "workflows": [_link_json(link) for link in links] if isinstance(links, list) else None,
    }
    return fit(workflows.WorkflowStep, **{**_present(step), **defaults})


def _phase_json(phase: dict[str, Any]) -> workflows.WorkflowPhase:
    defaults = {
        "title": _text(phase.get("title"), phase["id"]),
        "description": _text(phase.get("description"), ""),
        "color": _text(phase.get("color"), DEFAULT_COLOR),
        "steps": [_step_json(step) for step in phase.get("steps") or []],
    }
    return fit(workflows.WorkflowPhase, **{**_present(phase), **defaults})


def definition_json(definition: dict[str, Any]) -> workflows.WorkflowDefinition:
    """A stored definition in the spec's shape: what it leaves out (a phase's colour, a step's description, a
    transition's type, even `phases` of an empty `{}`) answered with its default, never as null."""
    transitions = [
        {**_present(transition), "type": transition.get("type") or "forward"}
        for transition in definition.get("transitions") or []
    ]
    return {
        **definition,
        "phases": [_phase_json(phase) for phase in definition.get("phases") or []],
        "transitions": transitions,  # type: ignore[typeddict-item]
    }


def workflow_json(workflow: Workflow) -> workflows.WorkflowResponse:
    return fit(
        workflows.WorkflowResponse,
        id=workflow.id,
        name=workflow.name,
        description=workflow.description or "",
        definition=definition_json(workflow.definition),
        status=workflow.status,
        version=workflow.version,
        currentVersion=workflow.version,
        isTemplate=workflow.is_template,
        createdAt=iso(workflow.created_at),
        updatedAt=iso(workflow.updated_at),
        changeDescription=workflow.change_description,
        organizationId=workflow.organization_id,
    )


def workflow_version_json(version: WorkflowVersion) -> workflows.WorkflowVersionResponse:
    """A snapshot in the union of the console's WorkflowVersion and the spec's WorkflowResponse."""
    return fit(
        workflows.WorkflowVersionResponse,
        id=version.id,
        workflowId=version.workflow_id,
        name=version.name,
        description=version.description or "",
        definition=definition_json(version.definition),
        status="published",
        version=version.version,
        currentVersion=version.version,
        createdAt=iso(version.created_at),
        updatedAt=iso(version.created_at),
        changeDescription=version.change_description,
    )


def step_execution_json(step: dict[str, Any]) -> workflows.StepExecution:
    return fit(workflows.StepExecution, **{name: step.get(name) for name in STEP_FIELDS})


def phase_execution_json(phase: dict[str, Any]) -> workflows.PhaseExecution:
    return fit(
        workflows.PhaseExecution,
        **{name: phase.get(name) for name in PHASE_FIELDS},
        steps=[step_execution_json(step) for step in phase["steps"]],
        progress=phase_progress(phase),
    )


def execution_json(execution: WorkflowExecution) -> workflows.WorkflowExecution:
    """The contract's WorkflowExecution; `metadata.workflowVersion` is the version it runs."""
    return fit(
        workflows.WorkflowExecution,
        id=execution.id,
        workflowId=execution.workflow_id,
        workflowName=execution.workflow_name,
        projectId=execution.project_id,
        userId=execution.user_id,
        status=execution.status,
        phases=[phase_execution_json(phase) for phase in execution.phases],
        currentPhase=execution.current_phase,
        totalPhases=len(execution.phases),
        progress=execution_progress(execution.status, execution.phases, execution.error),
        startTime=iso(execution.start_time or execution.created_at),
        endTime=iso(execution.end_time),
        duration=execution.duration,
        error=execution.error,
        createdAt=iso(execution.created_at),
        metadata=fit(
            workflows.ExecutionMetadata,
            inputParameters=execution.input_parameters,
            triggeredBy=execution.triggered_by,
            workflowVersion=execution.workflow_version,
            workflowVersionId=execution.workflow_version_id,
        ),
    )
