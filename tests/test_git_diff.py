"""A diff read back from git's NUL-separated lists: renames, deletions, binary files and odd names exactly."""

from __future__ import annotations

from pathlib import Path

from resolvers.git_diff import file_changes
from tests.agent_support import git


def test_renames_deletions_binaries_and_odd_names(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "old name.txt").write_text("one\ntwo\nthree\nfour\n")
    (tmp_path / "gone.txt").write_text("bye\n")
    (tmp_path / "kept.txt").write_text("a\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "base")
    base = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "mv", "old name.txt", "new\tname.txt")
    (tmp_path / "new\tname.txt").write_text("one\ntwo\nthree\nfour\nfive\n")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "kept.txt").write_text("a\nb\n")
    (tmp_path / "image.bin").write_bytes(bytes(range(256)))
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "change")
    numstat = git(tmp_path, "diff", "-z", "--numstat", "-M", base, "HEAD")
    statuses = git(tmp_path, "diff", "-z", "--name-status", "-M", base, "HEAD")
    assert [change.as_record() for change in file_changes(numstat, statuses)] == [
        {"path": "gone.txt", "oldPath": None, "status": "deleted", "linesAdded": 0, "linesRemoved": 1, "binary": False},
        {"path": "image.bin", "oldPath": None, "status": "added", "linesAdded": 0, "linesRemoved": 0, "binary": True},
        {"path": "kept.txt", "oldPath": None, "status": "modified", "linesAdded": 1, "linesRemoved": 0, "binary": False},
        {
            "path": "new\tname.txt", "oldPath": "old name.txt", "status": "renamed", "linesAdded": 1, "linesRemoved": 0,
            "binary": False,
        },
    ]  # fmt: skip
    assert file_changes("", "") == []
