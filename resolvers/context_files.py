"""Files that may be imported into a scope: under its organization's folder in BASE_ROOT, text, not too big.

A path is taken relative to the scope's own folder (a task's is its project's), or as an absolute path
(`/base-root/…` as sandboxes see it, or this host's BASE_ROOT path). Whatever it names must resolve,
symlinks followed, inside the folder of the scope's organization: `..`, other absolute paths and links
that lead out are refused, and so is another organization's folder.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from resolvers.errors import DomainError, invalid
from resolvers.memory_scope import ScopePath
from resolvers.paths import organization_dir, project_dir, workspace_dir
from resolvers.runtime import Runtime
from resolvers.validation import UNSET, required_text

CONTAINER_ROOT = "/base-root"
DEFAULT_EXTENSIONS = (".md", ".markdown", ".txt")
MAX_FOLDER_FILES = 2000
SKIPPED_FOLDERS = frozenset({".git", "node_modules", "__pycache__", ".cospec-sync"})


@dataclass(frozen=True)
class TextFile:
    path: Path
    relative: str
    """The path relative to BASE_ROOT: how memories and tracked files name it."""
    text: str
    sha256: str


def scope_folder(rt: Runtime, path: ScopePath) -> Path:
    if path.project is not None and path.workspace is not None:
        return project_dir(rt, path.organization, path.workspace, path.project)
    if path.workspace is not None:
        return workspace_dir(rt, path.organization, path.workspace)
    return organization_dir(rt, path.organization)


def resolve(rt: Runtime, scope: ScopePath, field: str, raw: object) -> Path:
    """The real path named by `raw`; 400 naming `field` when it leaves the scope's organization folder."""
    text = required_text(field, raw, 4096)
    if ".." in Path(text).parts:
        raise invalid(field, "must not contain '..'")
    base = rt.settings.base_root.resolve()
    if text == CONTAINER_ROOT or text.startswith(CONTAINER_ROOT + "/"):
        candidate = base / text[len(CONTAINER_ROOT) :].lstrip("/")
    elif os.path.isabs(text):
        candidate = Path(text)
    else:
        candidate = scope_folder(rt, scope) / text
    real = candidate.resolve()
    if not real.is_relative_to(base):
        raise invalid(field, "must lie under BASE_ROOT")
    if not real.is_relative_to(organization_dir(rt, scope.organization).resolve()):
        raise invalid(field, "must lie inside the folder of the scope's organization")
    return real


def relative_name(rt: Runtime, path: Path) -> str:
    return path.relative_to(rt.settings.base_root.resolve()).as_posix()


def read_text(rt: Runtime, path: Path, field: str) -> TextFile:
    """The file's text (blocking); 400 for a missing, oversized or binary file."""
    if not path.is_file():
        raise invalid(field, f"{relative_name(rt, path)} is not a file")
    limit = rt.settings.context_import_max_bytes
    if path.stat().st_size > limit:
        raise invalid(field, f"{relative_name(rt, path)} is larger than {limit} bytes")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise invalid(field, f"{relative_name(rt, path)} is a binary file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid(field, f"{relative_name(rt, path)} is not UTF-8 text") from None
    return TextFile(path, relative_name(rt, path), text, hashlib.sha256(data).hexdigest())


def read_named(rt: Runtime, scope: ScopePath, field: str, raw: object) -> TextFile:
    """The text of the file `raw` names, checked to lie inside the scope's organization (blocking)."""
    return read_text(rt, resolve(rt, scope, field, raw), field)


def read_folder(
    rt: Runtime, scope: ScopePath, raw: object, recursive: bool, extensions: tuple[str, ...]
) -> tuple[Path, list[TextFile], list[str]]:
    """The folder `raw` names and its readable matching files, with why each other one could not be read
    (blocking: the walk and every read run together, off the event loop)."""
    folder = resolve(rt, scope, "folder_path", raw)
    if not folder.is_dir():
        raise invalid("folder_path", f"{relative_name(rt, folder)} is not a folder")
    paths = walk(folder, recursive, extensions)
    if len(paths) > MAX_FOLDER_FILES:
        raise invalid("folder_path", f"holds more than {MAX_FOLDER_FILES} matching files")
    files, errors = [], []
    for candidate in paths:
        try:
            files.append(read_text(rt, resolve(rt, scope, "folder_path", str(candidate)), "file"))
        except DomainError as error:
            errors.append(f"{candidate.name}: {error.message}")
    return folder, files, errors


def extensions_of(field: str, value: object) -> tuple[str, ...]:
    if value is None or value is UNSET or value == []:
        return DEFAULT_EXTENSIONS
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value) or len(value) > 50:
        raise invalid(field, "must be a list of file extensions such as .md")
    return tuple(("." + v.strip().lstrip(".")).lower() for v in value)


def walk(root: Path, recursive: bool, extensions: tuple[str, ...]) -> list[Path]:
    """Files under `root` with one of `extensions`, sorted; hidden and tool folders skipped (blocking)."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = (
            sorted(d for d in subfolders if d not in SKIPPED_FOLDERS and not d.startswith(".")) if recursive else []
        )
        found += [Path(folder) / name for name in files if Path(name).suffix.lower() in extensions]
    return sorted(found)
