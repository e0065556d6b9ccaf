"""The folders behind organizations, workspaces and projects, and the folder listings.

Each `folderPath` is one folder name inside its parent. All disk work runs in a
thread so the event loop never waits on the file system.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from resolvers.errors import DomainError, conflict, invalid, not_found
from resolvers.validation import required_text

MAX_FOLDER_NAME = 255


def folder_name(field: str, value: object) -> str:
    """A single folder name: no separators, no `.` or `..`, no NUL, not absolute."""
    if isinstance(value, str) and value != value.strip():
        raise invalid(field, "must not start or end with white space")
    name = required_text(field, value, MAX_FOLDER_NAME)
    if "/" in name or "\\" in name:
        raise invalid(field, "must be a single folder name, without '/' or '\\'")
    if name in (".", ".."):
        raise invalid(field, "must not be '.' or '..'")
    return name


def _child(parent: Path, name: str, field: str) -> Path:
    """`parent/name`, refused when it is a symlink or anything but a directory."""
    path = parent / name
    if path.is_symlink():
        raise invalid(field, f"{name!r} is a symbolic link; it could lead outside its parent folder")
    if path.exists() and not path.is_dir():
        raise invalid(field, f"{name!r} exists and is not a folder")
    return path


def _make(parent: Path, name: str, field: str) -> bool:
    path = _child(parent, name, field)
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    return created


async def make_folder(parent: Path, name: str, field: str = "folderPath") -> bool:
    """Create `parent/name` if missing; True when this call created it."""
    return await asyncio.to_thread(_make, parent, name, field)


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


async def undo_make_folder(path: Path) -> None:
    await asyncio.to_thread(_remove_if_empty, path)


def _move(source: Path, target_parent: Path, target_name: str, field: str) -> None:
    target = _child(target_parent, target_name, field)
    if target.exists():
        raise conflict(f"Folder {target_name!r} already exists there", {"field": field})
    target_parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and not source.is_symlink():
        os.rename(source, target)
    else:
        target.mkdir()


async def move_folder(source: Path, target_parent: Path, target_name: str, field: str = "folderPath") -> None:
    """Rename or move a folder; 409 when the target name is taken. A missing source just creates the target."""
    await asyncio.to_thread(_move, source, target_parent, target_name, field)


def _unmove(source: Path, target: Path) -> None:
    if target.is_dir() and not source.exists():
        os.rename(target, source)


async def undo_move_folder(source: Path, target: Path) -> None:
    await asyncio.to_thread(_unmove, source, target)


def _delete(path: Path) -> None:
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


async def delete_folder(path: Path) -> None:
    await asyncio.to_thread(_delete, path)


def _subfolders(path: Path) -> list[str]:
    if not path.is_dir():
        return []
    return sorted(
        entry.name
        for entry in os.scandir(path)
        if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
    )


async def list_subfolders(path: Path) -> Sequence[str]:
    """Names of the real (not symlinked, not hidden) folders directly inside `path`."""
    return await asyncio.to_thread(_subfolders, path)


def _browse(root: Path, current: str | None) -> tuple[Path, list[str]]:
    try:
        return _browse_folder(root, current)
    except (OSError, RuntimeError):  # a name too long, `~nobody` (no such user): no such folder can exist
        raise not_found("folder", str(current)) from None


def _browse_folder(root: Path, current: str | None) -> tuple[Path, list[str]]:
    target = Path(current).expanduser() if current else root
    if not target.is_absolute():
        target = root / target
    resolved = target.resolve()
    if resolved != root and root not in resolved.parents:
        raise DomainError("FORBIDDEN", f"{current} is outside the folder that may be browsed", {"field": "currentPath"})
    if not resolved.exists():
        raise not_found("folder", str(current))
    if not resolved.is_dir():
        raise invalid("currentPath", "is not a folder")
    return resolved, _subfolders(resolved)


async def browse(root: Path, current: str | None) -> tuple[Path, Sequence[str]]:
    return await asyncio.to_thread(_browse, root.resolve(), current)
