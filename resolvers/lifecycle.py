"""The built-in three-phase lifecycle (contract §4.2): the template workflow, and the steps a project
follows when it is bound to no workflow of its own."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

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


def _title(step_id: str) -> str:
    return step_id.replace("-", " ").capitalize()


def lifecycle_definition() -> dict[str, Any]:
    """The lifecycle as a workflow definition, the built-in template's: phases linked forward, and fed back
    to the first from QA and from optimization (contract §4.2)."""
    phases = [
        {
            "id": phase_id,
            "title": phase_title,
            "steps": [{"id": step_id, "title": _title(step_id), "type": "process"} for step_id in step_ids],
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
