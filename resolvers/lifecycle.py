"""The built-in three-phase lifecycle (contract §4.2): the template workflow, and the steps a project
follows when it is bound to no workflow of its own."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

_PHASES: dict[tuple[str, str], tuple[str, str, tuple[tuple[str, str], ...]]] = {
    ("rapid-prototyping", "Rapid prototyping"): (
        "From an idea to a version people can try",
        "#3b82f6",
        (
            ("trigger", "What started the work and what it should achieve"),
            ("requirements", "The needs, written down and agreed"),
            ("design", "How it will be built"),
            ("preview", "A first version to look at"),
            ("dogfooding", "The team uses it for real"),
            ("acceptance-criteria", "What must hold before it goes to QA"),
            ("ready-for-qa", "Handed over to quality assurance"),
        ),
    ),
    ("automated-qa", "Automated QA"): (
        "Checked by machines before anyone relies on it",
        "#f59e0b",
        (
            ("qa-version", "The version under test"),
            ("qa-cicd", "Build and test pipeline for it"),
            ("qa-version-run", "The pipeline run on that version"),
            ("qa-preview", "A preview deployment to test against"),
            ("qa-automated", "Automated tests over the preview"),
            ("qa-official-version", "The version that passed, tagged"),
            ("qa-production", "Released to production"),
        ),
    ),
    ("continuous-optimization", "Continuous optimization"): (
        "Improving what runs in production, release after release",
        "#10b981",
        (
            ("feature-updates", "The next changes to make"),
            ("opt-cicd", "The pipeline for those changes"),
            ("opt-version", "The new version"),
            ("opt-preview", "A preview of the new version"),
            ("opt-automated", "Automated tests over it"),
            ("opt-dogfooding", "The team uses the new version"),
            ("opt-official-version", "The version that passed, tagged"),
            ("opt-production", "Released to production"),
        ),
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
            "description": description,
            "color": color,
            "steps": [
                {"id": step_id, "title": _title(step_id), "description": about, "type": "process"}
                for step_id, about in steps
            ],
        }
        for (phase_id, phase_title), (description, color, steps) in _PHASES.items()
    ]
    first, *_ = ids = [phase["id"] for phase in phases]
    transitions = [{"from": before, "to": after, "type": "forward"} for before, after in pairwise(ids)]
    transitions += [
        {"from": ids[-1], "to": first, "type": "feedback", "label": "Feedback Loop"},
        {"from": ids[1], "to": first, "type": "feedback", "label": "QA Feedback"},
    ]
    return {"phases": phases, "transitions": transitions}
