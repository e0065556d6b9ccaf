"""How the public schema changes: `schema.graphql` is committed, and every breaking change against the
previous committed version (graphql-core's `find_breaking_changes`) must be written in the API changelog.

`python app.py export-schema` (`make schema`) rewrites `schema.graphql` and adds the breaking changes that
the changelog does not list yet under its "Unreleased" heading; a test fails while any is missing, so a
breaking change cannot land unannounced."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from graphql import build_schema as parse_schema
from graphql import find_breaking_changes

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO / "schema.graphql"
CHANGELOG = REPO / "docs" / "graphql-changelog.md"
UNRELEASED = "## Unreleased"


@dataclass(frozen=True)
class Comparison:
    previous_commit: str | None
    """The newest commit whose schema.graphql differs from the current one; None when there is none."""
    breaking: list[str]


def _git(*arguments: str) -> str | None:
    try:
        done = subprocess.run(["git", *arguments], cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def previous_schema(current: str) -> tuple[str, str] | None:
    """(commit, text) of the last committed schema.graphql that differs from `current`."""
    commits = (_git("log", "--format=%H", "--", SCHEMA_FILE.name) or "").split()
    for commit in commits:
        text = _git("show", f"{commit}:{SCHEMA_FILE.name}")
        if text is not None and text != current:
            return commit, text
    return None


def breaking_changes(old: str, new: str) -> list[str]:
    """Each breaking change from `old` to `new`, as a sentence (e.g. "Query.users was removed.")."""
    return sorted(change.description for change in find_breaking_changes(parse_schema(old), parse_schema(new)))


def compare(current: str) -> Comparison:
    found = previous_schema(current)
    if found is None:
        return Comparison(None, [])
    commit, text = found
    return Comparison(commit, breaking_changes(text, current))


def unrecorded(breaking: list[str], changelog: str) -> list[str]:
    """The breaking changes the changelog does not mention (each one a line `- BREAKING: <sentence>`)."""
    return [change for change in breaking if f"- BREAKING: {change}" not in changelog]


def record(breaking: list[str]) -> list[str]:
    """Add the unrecorded breaking changes under the changelog's Unreleased heading; returns them."""
    text = CHANGELOG.read_text() if CHANGELOG.exists() else "# GraphQL API changelog\n"
    missing = unrecorded(breaking, text)
    if not missing:
        return []
    lines = "".join(f"- BREAKING: {change}\n" for change in missing)
    if UNRELEASED in text:
        head, _, tail = text.partition(UNRELEASED + "\n")
        text = f"{head}{UNRELEASED}\n{lines}{tail}"
    elif "\n## " in text:  # newest first: before the latest release's section
        head, _, tail = text.partition("\n## ")
        text = f"{head}\n{UNRELEASED}\n{lines}\n## {tail}"
    else:
        text = f"{text.rstrip()}\n\n{UNRELEASED}\n{lines}"
    CHANGELOG.parent.mkdir(exist_ok=True)
    CHANGELOG.write_text(text)
    return missing
