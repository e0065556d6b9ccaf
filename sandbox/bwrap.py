"""The bubblewrap command line of a local sandbox: what the sandbox sees and what it may do.

* Identity: a user namespace of its own (`--unshare-user`), a non-root uid/gid inside (USER_ID/GROUP_ID),
  every capability dropped, no further user namespaces (`--disable-userns`, and the seccomp filter of
  `sandbox.seccomp`), and its own pid, ipc, uts and cgroup namespaces.
* Files: no view of the host's `/`. The system trees a shell and the agent CLIs need (/usr, /etc, /opt and
  the /bin, /sbin, /lib* links or folders) read-only; the files in /etc that other users may not read (shadow,
  private keys, …) masked; private /tmp, /var/tmp, /run and home folder (tmpfs); a fresh /proc and a
  minimal /dev; then the project folder and its folder mappings, writable at their own paths. Everything
  else (DATA_DIR, BASE_ROOT with the other projects, this service's checkout and virtualenv, other
  users' homes) is simply absent; a hidden path under a bound system tree is covered by an empty tmpfs.
* Network: in the `none` and `egress` modes a network namespace with only loopback (`--unshare-net`);
  in `egress` the service's proxy is planted on that loopback before the command starts (see
  `sandbox.netns`), which is why bwrap then reports its child (`--info-fd`).
"""

from __future__ import annotations

import functools
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.base import covers

SYSTEM_TREES = ("/usr", "/etc", "/opt")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SANDBOX_HOME = "/home/sandbox"
PRIVATE_FOLDERS = ("/tmp", "/var/tmp", "/run", SANDBOX_HOME)


@dataclass(frozen=True)
class Confinement:
    user_id: int = 1000
    group_id: int = 1000
    hidden: tuple[str, ...] = ()
    """Host paths that must never show (DATA_DIR, BASE_ROOT, this service's files), absolute."""


@functools.cache
def system_mounts() -> tuple[str, ...]:
    """The read-only system trees as they exist here (merged-/usr links stay links)."""
    arguments: list[str] = []
    for path in (*SYSTEM_TREES, *SYSTEM_LINKS):
        if os.path.islink(path):
            arguments += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            arguments += ["--ro-bind", path, path]
    return tuple(arguments)


MASKS_MAX_AGE = 60.0
"""Seconds a walk of /etc is reused (a walk takes tens of milliseconds; a command starts in a few)."""


@dataclass
class _EtcWalk:
    walked_at: float = -MASKS_MAX_AGE
    found: tuple[tuple[str, str], ...] = ()


_last_walk = _EtcWalk()


def _unreadable_in_etc() -> tuple[tuple[str, str], ...]:
    """("file" | "folder", path) for everything under /etc that other users cannot read."""
    found: list[tuple[str, str]] = []
    for folder, folders, files in os.walk("/etc"):
        for name in [*folders, *files]:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IXOTH:
                found.append(("folder", path))
                folders.remove(name)
            elif stat.S_ISREG(info.st_mode) and not info.st_mode & stat.S_IROTH:
                found.append(("file", path))
    return tuple(found)


def etc_masks() -> list[str]:
    """Cover every file and folder under /etc that other users cannot read (shadow, private keys, …): outside
    its namespace the sandbox's uid is this service's, which may own them. Blocking; call it off the loop."""
    if time.monotonic() - _last_walk.walked_at > MASKS_MAX_AGE:
        _last_walk.found, _last_walk.walked_at = _unreadable_in_etc(), time.monotonic()
    arguments: list[str] = []
    for kind, path in _last_walk.found:
        if os.path.lexists(path):  # bwrap fails on a mask whose target has gone
            arguments += ["--tmpfs", path] if kind == "folder" else ["--ro-bind", "/dev/null", path]
    return arguments


def hidden_mounts(hidden: Sequence[str]) -> list[str]:
    """An empty tmpfs over each hidden path that a bound system tree would show."""
    arguments: list[str] = []
    for path in hidden:
        if any(covers(tree, path) and tree != path for tree in SYSTEM_TREES) and os.path.isdir(path):
            arguments += ["--tmpfs", path]
    return arguments


def bwrap_argv(
    project_dir: str,
    writable: Sequence[str],
    argv: Sequence[str],
    *,
    confinement: Confinement,
    seccomp_fd: int,
    isolate_network: bool,
    etc_masks: Sequence[str],
    info_fd: int | None = None,
) -> list[str]:
    """bubblewrap around `argv`. `etc_masks`: what `etc_masks()` returned. `info_fd`: where bwrap writes its
    child's pid (to plant the proxy there).

    No `--new-session`: the process is already started in a session of its own without a controlling
    terminal (what that option guards against), and bwrap's extra session would take the command out of
    the process group that `kill()` signals: a kill racing bwrap's start-up could then miss it.
    """
    binds = [arg for path in (project_dir, *writable) for arg in ("--bind", path, path)]
    private = [arg for path in PRIVATE_FOLDERS for arg in ("--tmpfs", path)]
    network = ["--unshare-net"] if isolate_network else []
    sync = ["--info-fd", str(info_fd)] if info_fd is not None else []
    return [
        "bwrap",
        "--unshare-user", "--uid", str(confinement.user_id), "--gid", str(confinement.group_id),
        "--disable-userns",
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        *network,
        "--hostname", "sandbox",
        "--cap-drop", "ALL",
        "--seccomp", str(seccomp_fd),
        *system_mounts(),
        *etc_masks,
        *hidden_mounts(confinement.hidden),
        "--dev", "/dev",
        "--proc", "/proc",
        *private,
        *binds,
        "--chdir", project_dir,
        "--die-with-parent",
        *sync,
        "--",
        *argv,
    ]  # fmt: skip
