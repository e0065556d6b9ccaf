"""The built-in three-phase lifecycle (contract §4.2): the steps a project follows when it is bound to no
workflow of its own. Workflow-step tasks look their step up here."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any


@dataclass(frozen=True)
class LifecycleStep:
    id: str
    title: str
    phase_id: str
    phase_title: str


_PHASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("rapid-prototyping", "Rapid prototyping"): (
        "trigger",
        "requirements",
        "design",
        "preview",
        "dogfooding",
        "acceptance-criteria",
        "ready-for-qa",
    ),
    ("automated-qa", "Automated QA"): (
        "qa-version",
        "qa-cicd",
        "qa-version-run",
        "qa-preview",
        "qa-automated",
        "qa-official-version",
        "qa-production",
    ),
    ("continuous-optimization", "Continuous optimization"): (
        "feature-updates",
        "opt-cicd",
        "opt-version",
        "opt-preview",
        "opt-automated",
        "opt-dogfooding",
        "opt-official-version",
        "opt-production",
    ),
}

STEPS: dict[str, LifecycleStep] = {
    step_id: LifecycleStep(step_id, step_id.replace("-", " ").capitalize(), phase_id, phase_title)
    for (phase_id, phase_title), step_ids in _PHASES.items()
    for step_id in step_ids
}


def step_prompt(step: LifecycleStep, additional_input: str | None) -> str:
    """What a step asks of the AI: the step in its phase, then what the caller added."""
    prompt = f"{step.phase_title}, step '{step.title}': carry out this step for the project in the current folder."
    return f"{prompt}\n\n{additional_input}" if additional_input else prompt


def lifecycle_definition() -> dict[str, Any]:
    """The lifecycle as a workflow definition, the built-in template's: phases linked forward, and fed back
    to the first from QA and from optimization (contract §4.2)."""
    phases = [
        {
            "id": phase_id,
            "title": phase_title,
            "steps": [{"id": step_id, "title": STEPS[step_id].title, "type": "process"} for step_id in step_ids],
        }
        for (phase_id, phase_title), step_ids in _PHASES.items()
    ]
    first, *_ = ids = [phase["id"] for phase in phases]
    transitions = [{"from": before, "to": after, "type": "forward"} for before, after in pairwise(ids)]
    transitions += [
        {"from": ids[-1], "to": first, "type": "feedback", "label": "Feedback Loop"},
        {"from": ids[1], "to": first, "type": "feedback", "label": "QA Feedback"},
    ]
    return {"phases": phases, "transitions": transitions}
