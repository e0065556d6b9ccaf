"""A workflow definition as typed phases, steps and transitions (contract §4.2).

The definition is stored as sent (unknown keys kept for the console); these types read its known fields."""

from __future__ import annotations

from typing import Any

import strawberry


def _text(source: dict[str, Any], key: str) -> str | None:
    value = source.get(key)
    return value if isinstance(value, str) else None


@strawberry.type
class WorkflowLink:
    name: str | None
    path: str | None
    description: str | None
    phase: str | None
    id: str | None

    @classmethod
    def of(cls, link: dict[str, Any]) -> WorkflowLink:
        return cls(**{key: _text(link, key) for key in ("name", "path", "description", "phase", "id")})


@strawberry.type
class WorkflowStep:
    id: str
    title: str | None
    description: str | None
    type: str | None = strawberry.field(description="process, milestone, decision or documentation.")
    has_executable_task: bool | None
    prompt: str | None = strawberry.field(description="What the step's task runs (a script for bash).")
    qwen_code_prompt: str | None
    task_type: str | None = strawberry.field(description="claude, qwen or bash; executions use qwen when unset.")
    task_file: str | None
    workflows: list[WorkflowLink]

    @classmethod
    def of(cls, step: dict[str, Any]) -> WorkflowStep:
        executable = step.get("hasExecutableTask")
        return cls(
            id=str(step["id"]),
            title=_text(step, "title"),
            description=_text(step, "description"),
            type=_text(step, "type"),
            has_executable_task=executable if isinstance(executable, bool) else None,
            prompt=_text(step, "prompt"),
            qwen_code_prompt=_text(step, "qwenCodePrompt"),
            task_type=_text(step, "taskType"),
            task_file=_text(step, "taskFile"),
            workflows=[WorkflowLink.of(link) for link in step.get("workflows") or [] if isinstance(link, dict)],
        )


@strawberry.type
class WorkflowPhase:
    id: str
    title: str | None
    title_en: str | None
    description: str | None
    color: str | None
    icon: str | None
    steps: list[WorkflowStep]

    @classmethod
    def of(cls, phase: dict[str, Any]) -> WorkflowPhase:
        return cls(
            id=str(phase["id"]),
            title=_text(phase, "title"),
            title_en=_text(phase, "titleEn"),
            description=_text(phase, "description"),
            color=_text(phase, "color"),
            icon=_text(phase, "icon"),
            steps=[WorkflowStep.of(step) for step in phase.get("steps") or []],
        )


@strawberry.type
class WorkflowTransition:
    from_: str = strawberry.field(name="from")
    to: str
    label: str | None
    type: str | None = strawberry.field(description="forward, feedback or loop.")


@strawberry.type
class WorkflowDefinition:
    phases: list[WorkflowPhase]
    transitions: list[WorkflowTransition]

    @classmethod
    def of(cls, definition: dict[str, Any]) -> WorkflowDefinition:
        return cls(
            phases=[WorkflowPhase.of(phase) for phase in definition.get("phases") or []],
            transitions=[
                WorkflowTransition(
                    from_=str(transition["from"]),
                    to=str(transition["to"]),
                    label=_text(transition, "label"),
                    type=_text(transition, "type"),
                )
                for transition in definition.get("transitions") or []
            ],
        )
