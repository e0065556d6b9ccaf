"""What the agent tests add to the busybox test image, without a registry: the fake agent CLIs, and this
host's git with the shared libraries it loads (found with ldd), at the paths it looks for them.

git is placed in its exec path (`/usr/lib/git-core/git`, where it also runs its own subcommands from) and
linked as `/usr/bin/git`.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

FAKE_AGENT = Path(__file__).resolve().parent / "fake_agents" / "agent"
AGENT_NAMES = ("claude", "qwen", "gemini", "codex")
GIT_EXEC_PATH = "usr/lib/git-core"


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _folders(archive: tarfile.TarFile, path: str, made: set[str]) -> None:
    """Every folder above `path`, once (the rootfs has its own top folders already)."""
    parts = Path(path).parent.parts
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        if folder not in made and folder not in ("bin", "etc", "tmp", "usr", "usr/local", "usr/local/bin"):
            made.add(folder)
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            archive.addfile(info)


def add_fake_agents(archive: tarfile.TarFile) -> None:
    script = FAKE_AGENT.read_bytes()
    for name in AGENT_NAMES:
        _add(archive, f"usr/local/bin/{name}", script, 0o755)


def shared_libraries(binary: str) -> list[str]:
    """The absolute paths of the libraries `binary` loads, its loader included."""
    listing = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return sorted({match for match in re.findall(r"(/\S+)\s+\(0x", listing)})


def add_host_git(archive: tarfile.TarFile) -> None:
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("git is not installed on this host: the test image copies it")
    binary = os.path.realpath(git)
    made: set[str] = set()
    target = f"{GIT_EXEC_PATH}/git"
    _folders(archive, target, made)
    _add(archive, target, Path(binary).read_bytes(), 0o755)
    _folders(archive, "usr/bin/git", made)
    link = tarfile.TarInfo("usr/bin/git")
    link.type, link.linkname, link.mode, link.mtime = tarfile.SYMTYPE, "../lib/git-core/git", 0o777, int(time.time())
    archive.addfile(link)
    for library in shared_libraries(binary):
        name = library.lstrip("/")
        _folders(archive, name, made)
        _add(archive, name, Path(os.path.realpath(library)).read_bytes(), 0o755)
