"""A workflow definition as typed phases, steps and transitions (contract §4.2).

The definition is stored as sent (unknown keys kept for the console); these types read its known fields,
which resolvers/workflow_definition.py checked when it was stored."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from resolvers.workflow_definition import STEP_TYPES, TRANSITION_TYPES
from schema.tasks import TaskType

STEP_TYPE_MEANINGS = {
    "process": "Work to do.",
    "milestone": "A point reached.",
    "decision": "A choice to make.",
    "documentation": "Something to write down.",
}
TRANSITION_MEANINGS = {
    "forward": "On to the next phase.",
    "feedback": "Back to an earlier phase with what was learnt.",
    "loop": "Round the same phase again.",
}
StepType = strawberry.enum(
    Enum(  # type: ignore[misc]
        "StepType",
        {name.upper(): strawberry.enum_value(name, description=STEP_TYPE_MEANINGS[name]) for name in STEP_TYPES},
    ),
    description="What kind of step a workflow step is.",
)
TransitionType = strawberry.enum(
    Enum(  # type: ignore[misc]
        "TransitionType",
        {name.upper(): strawberry.enum_value(name, description=TRANSITION_MEANINGS[name]) for name in TRANSITION_TYPES},
    ),
    description="How a transition leads between phases.",
)


def _text(source: dict[str, Any], key: str) -> str | None:
    value = source.get(key)
    return value if isinstance(value, str) else None


@strawberry.type(description="A playbook a step links to (a markdown file in the project, usually).")
class WorkflowLink:
    name: str | None = strawberry.field(description="Its title.")
    path: str | None = strawberry.field(description="Where it is, e.g. workflows/01-planning/x.md.")
    description: str | None = strawberry.field(description="What it covers.")
    phase: str | None = strawberry.field(description="The phase it belongs to.")
    link_id: str | None = strawberry.field(name="linkId", description="Its id, when it has one.")

    @classmethod
    def of(cls, link: dict[str, Any]) -> WorkflowLink:
        return cls(
            name=_text(link, "name"),
            path=_text(link, "path"),
            description=_text(link, "description"),
            phase=_text(link, "phase"),
            link_id=_text(link, "id"),
        )


@strawberry.type(description="A step of a workflow phase.")
class WorkflowStep:
    step_id: str = strawberry.field(name="stepId", description="Its id in the definition (unique in the workflow).")
    title: str | None = strawberry.field(description="Its title.")
    description: str | None = strawberry.field(description="What it is about.")
    type: StepType | None = strawberry.field(description="What kind of step.")  # type: ignore[valid-type]
    has_executable_task: bool | None = strawberry.field(description="Executions run it as a task.")
    prompt: str | None = strawberry.field(description="What its task runs (a script for bash).")
    qwen_code_prompt: str | None = strawberry.field(description="Its prompt for Qwen Code (the console's field).")
    task_type: TaskType | None = strawberry.field(  # type: ignore[valid-type]
        description="Which CLI its task runs; executions use qwen when unset."
    )
    task_file: str | None = strawberry.field(description="A file with the task's instructions.")
    workflows: list[WorkflowLink] = strawberry.field(description="Playbooks it links to.")

    @classmethod
    def of(cls, step: dict[str, Any]) -> WorkflowStep:
        executable, kind, task_type = step.get("hasExecutableTask"), step.get("type"), step.get("taskType")
        return cls(
            step_id=str(step["id"]),
            title=_text(step, "title"),
            description=_text(step, "description"),
            type=StepType(kind) if kind in STEP_TYPES else None,
            has_executable_task=executable if isinstance(executable, bool) else None,
            prompt=_text(step, "prompt"),
            qwen_code_prompt=_text(step, "qwenCodePrompt"),
            task_type=TaskType(task_type) if task_type in {t.value for t in TaskType} else None,
            task_file=_text(step, "taskFile"),
            workflows=[WorkflowLink.of(link) for link in step.get("workflows") or [] if isinstance(link, dict)],
        )


@strawberry.type(description="A phase of a workflow: steps in order.")
class WorkflowPhase:
    phase_id: str = strawberry.field(name="phaseId", description="Its id in the definition.")
    title: str | None = strawberry.field(description="Its title.")
    title_en: str | None = strawberry.field(description="Its English title, when the title is in another language.")
    description: str | None = strawberry.field(description="What it is about.")
    color: str | None = strawberry.field(description="Its colour in the console.")
    icon: str | None = strawberry.field(description="Its icon in the console.")
    steps: list[WorkflowStep] = strawberry.field(description="Its steps, in order.")

    @classmethod
    def of(cls, phase: dict[str, Any]) -> WorkflowPhase:
        return cls(
            phase_id=str(phase["id"]),
            title=_text(phase, "title"),
            title_en=_text(phase, "titleEn"),
            description=_text(phase, "description"),
            color=_text(phase, "color"),
            icon=_text(phase, "icon"),
            steps=[WorkflowStep.of(step) for step in phase.get("steps") or []],
        )


@strawberry.type(description="A link from one phase to another, as the console draws it.")
class WorkflowTransition:
    from_phase_id: str = strawberry.field(description="The phase it leaves.")
    to_phase_id: str = strawberry.field(description="The phase it leads to.")
    label: str | None = strawberry.field(description="Its label.")
    type: TransitionType | None = strawberry.field(description="How it leads.")  # type: ignore[valid-type]


@strawberry.type(description="A workflow's phases and the transitions between them.")
class WorkflowDefinition:
    phases: list[WorkflowPhase] = strawberry.field(description="The phases, in the order executions run them.")
    transitions: list[WorkflowTransition] = strawberry.field(description="Links between phases (not followed).")

    @classmethod
    def of(cls, definition: dict[str, Any]) -> WorkflowDefinition:
        return cls(
            phases=[WorkflowPhase.of(phase) for phase in definition.get("phases") or []],
            transitions=[
                WorkflowTransition(
                    from_phase_id=str(transition["from"]),
                    to_phase_id=str(transition["to"]),
                    label=_text(transition, "label"),
                    type=TransitionType(transition["type"]) if transition.get("type") in TRANSITION_TYPES else None,
                )
                for transition in definition.get("transitions") or []
            ],
        )
