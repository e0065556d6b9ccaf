"""A diff as files with their status and line counts, read from `git diff -z --numstat -M` and
`git diff -z --name-status -M` (NUL-separated, so any file name reads back exactly)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUSES = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied", "T": "type-changed"}


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str
    lines_added: int
    lines_removed: int
    binary: bool = False
    old_path: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "oldPath": self.old_path,
            "status": self.status,
            "linesAdded": self.lines_added,
            "linesRemoved": self.lines_removed,
            "binary": self.binary,
        }


def _statuses(name_status: str) -> dict[str, tuple[str, str | None]]:
    """New path → (status, old path) from `--name-status -z`."""
    fields = name_status.split("\0")
    found: dict[str, tuple[str, str | None]] = {}
    index = 0
    while index < len(fields) and fields[index]:
        code = fields[index][:1]
        if code in ("R", "C"):
            found[fields[index + 2]] = (STATUSES[code], fields[index + 1])
            index += 3
        else:
            found[fields[index + 1]] = (STATUSES.get(code, "modified"), None)
            index += 2
    return found


def _counts(numstat: str) -> dict[str, tuple[int | None, int | None]]:
    """New path → (added, removed) from `--numstat -z`; None for a binary file."""
    fields = numstat.split("\0")
    found: dict[str, tuple[int | None, int | None]] = {}
    index = 0
    while index < len(fields) and fields[index]:
        added, removed, path = fields[index].split("\t", 2)
        if path == "":  # a rename or copy: the old and the new path follow
            path = fields[index + 2]
            index += 3
        else:
            index += 1
        found[path] = (None if added == "-" else int(added), None if removed == "-" else int(removed))
    return found


def file_changes(numstat: str, name_status: str) -> list[FileChange]:
    counts = _counts(numstat)
    changes = []
    for path, (status, old_path) in sorted(_statuses(name_status).items()):
        added, removed = counts.get(path, (0, 0))
        binary = added is None or removed is None
        changes.append(FileChange(path, status, added or 0, removed or 0, binary, old_path))
    return changes
