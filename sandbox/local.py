"""The local backend, for machines without Docker: a sandbox is a small JSON record naming the project folder.

Commands run as child processes of this service in the project folder, under bubblewrap when `bwrap`
works here (the whole filesystem read-only except the project folder and the folder mappings, a private
/tmp, /proc and /dev, its own pid namespace, killed with its parent), else as plain processes
(`SandboxInfo.isolation` says which: "bubblewrap" or "none"). Either way a command gets a session and
process group of its own, without a controlling terminal, and a kill signals that whole group.

What differs from Docker, by necessity:
* Images: there are none. Every image name "exists", pulling is a no-op and the list is empty, so the
  callers' pull → create → start sequence works unchanged; the record keeps the name for display.
* The working directory is the project folder's own path (there is no container path to map it to);
  folder mappings are made writable at their host paths; ports are recorded but nothing is published
  (processes share the host's network and bind ports themselves).
* The environment is a minimal one (PATH, HOME, locale, …) plus the sandbox's and the command's, never
  this service's own variables (which hold its secrets).
* "running" means "accepts commands"; stop and delete kill the commands that are still running.
* There is no network of a sandbox's own, so no web terminal inside it to reach: `open_terminal` gives an
  interactive shell on a pseudo-terminal of this host instead, confined as commands are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox._command import Emit, StreamedCommand, failed_command
from sandbox.base import (
    PortMapping,
    RunningCommand,
    SandboxBackend,
    SandboxError,
    SandboxInfo,
    SandboxNotFound,
    SandboxSpec,
    Terminal,
)
from sandbox.terminal import PtyTerminal, controlling_terminal_argv

log = logging.getLogger(__name__)

INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TERM")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_SIGNALS = {"TERM": signal.SIGTERM, "KILL": signal.SIGKILL}


@dataclass
class _Record:
    """What is kept on disk for one sandbox."""

    id: str
    name: str
    image: str
    project_id: str
    project_dir: str
    status: str
    created_at: str
    env: dict[str, str] = field(default_factory=dict)
    folders: list[str] = field(default_factory=list)
    ports: list[list[Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> _Record:
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        """Write beside, then rename: a crash never leaves half a record. Owner-only: `env` may hold API keys."""
        temporary = path.with_suffix(".tmp")
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            json.dump(self.__dict__, file, indent=1)
        temporary.replace(path)

    def info(self, isolation: str) -> SandboxInfo:
        return SandboxInfo(
            id=self.id,
            name=self.name,
            image=self.image,
            status=self.status,
            project_id=self.project_id,
            created_at=datetime.fromisoformat(self.created_at),
            workdir=self.project_dir,
            ports=[PortMapping(int(host), int(container), str(protocol)) for host, container, protocol in self.ports],
            ip=None,
            isolation=isolation,
        )


def bwrap_argv(project_dir: str, writable: Sequence[str], argv: Sequence[str]) -> list[str]:
    """bubblewrap around `argv`: / read-only, the project and mapped folders writable at their own paths.

    The tmpfs on /tmp comes before the binds so that a project folder under /tmp stays visible.
    No `--new-session`: the process is already started in a session of its own without a controlling
    terminal (what that option guards against), and bwrap's extra session would take the command out of
    the process group that `kill()` signals: a kill racing bwrap's start-up could then miss it.
    """
    binds = [arg for path in (project_dir, *writable) for arg in ("--bind", path, path)]
    return [
        "bwrap",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        *binds,
        "--chdir", project_dir,
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        "--",
        *argv,
    ]  # fmt: skip


def _resolve(program: str, cwd: str, path: str) -> str | None:
    """Where `program` is, looked up as the sandboxed process would (relative names from the project folder)."""
    if "/" in program:
        candidate = program if os.path.isabs(program) else os.path.join(cwd, program)
        return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None
    return shutil.which(program, path=path)


class LocalBackend(SandboxBackend):
    """Sandboxes as records under `state_dir`; commands as (bubblewrapped) child processes."""

    name = "local"

    def __init__(self, state_dir: str | Path, *, use_bwrap: bool | None = None, kill_grace: float = 0.5) -> None:
        """`use_bwrap`: None uses bubblewrap when it is installed and works here; False never does;
        True requires it (SandboxError from `run()` when it is missing)."""
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.use_bwrap = use_bwrap
        self.kill_grace = kill_grace
        self._isolation: str | None = None
        self._running: dict[str, set[StreamedCommand]] = {}
        self._terminals: dict[str, set[PtyTerminal]] = {}

    # -- records --------------------------------------------------------------------------------

    def _path(self, sandbox_id: str) -> Path:
        if not _ID_PATTERN.fullmatch(sandbox_id):
            raise SandboxNotFound(f"sandbox {sandbox_id!r} does not exist")
        return self.state_dir / f"{sandbox_id}.json"

    async def _load(self, sandbox_id: str) -> _Record:
        """The sandbox's record; file work runs in a thread, as everywhere in this backend."""
        path = self._path(sandbox_id)
        try:
            return await asyncio.to_thread(_Record.load, path)
        except FileNotFoundError:
            raise SandboxNotFound(f"sandbox {sandbox_id} does not exist") from None
        except (ValueError, TypeError) as exc:
            raise SandboxError(f"the record of sandbox {sandbox_id} is unreadable: {exc}") from exc

    async def _records(self) -> list[_Record]:
        return await asyncio.to_thread(self._read_records)

    def _read_records(self) -> list[_Record]:
        records = []
        for path in sorted(self.state_dir.glob("*.json")):
            try:
                records.append(_Record.load(path))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("skipping unreadable sandbox record %s: %s", path, exc)
        return records

    async def _set_status(self, sandbox_id: str, status: str) -> SandboxInfo:
        record = await self._load(sandbox_id)
        record.status = status
        await asyncio.to_thread(record.save, self._path(sandbox_id))
        return record.info(await self.isolation())

    # -- isolation ------------------------------------------------------------------------------

    async def isolation(self) -> str:
        """How commands are confined: "bubblewrap" when bwrap is installed and works here, else "none".

        Decided once, on first use (it takes a subprocess, so not in the constructor)."""
        if self._isolation is None:
            works = self.use_bwrap is not False and await self._bwrap_works(str(self.state_dir))
            self._isolation = "bubblewrap" if works else "none"
            if self._isolation == "none" and self.use_bwrap is None and shutil.which("bwrap"):
                log.warning("bwrap is installed but cannot create sandboxes here; commands run unconfined")
        return self._isolation

    @staticmethod
    async def _bwrap_works(folder: str) -> bool:
        """bwrap can be installed yet unusable (for example in a container without user namespaces)."""
        if not shutil.which("bwrap"):
            return False
        probe = await asyncio.create_subprocess_exec(
            *bwrap_argv(folder, [], ["true"]),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await probe.wait() == 0

    # -- images ---------------------------------------------------------------------------------

    async def ping(self) -> None:
        return None

    async def image_exists(self, image: str) -> bool:
        return True

    async def pull_image(self, image: str) -> None:
        return None

    async def list_images(self) -> Sequence[str]:
        return []

    # -- lifecycle ------------------------------------------------------------------------------

    async def create(self, spec: SandboxSpec) -> SandboxInfo:
        if any(record.name == spec.name for record in await self._records()):
            raise SandboxError(f"create sandbox {spec.name}: conflict: the name is already in use")
        record = _Record(
            id=uuid.uuid4().hex,
            name=spec.name,
            image=spec.image,
            project_id=spec.project_id,
            project_dir=str(Path(spec.project_dir).resolve()),
            status="created",
            created_at=datetime.now(UTC).isoformat(),
            env=dict(spec.env),
            folders=[str(Path(mapping.host_path).resolve()) for mapping in spec.folder_mappings],
            ports=[[port.host_port, port.container_port, port.protocol] for port in spec.port_mappings],
        )
        await asyncio.to_thread(record.save, self._path(record.id))
        return record.info(await self.isolation())

    async def start(self, sandbox_id: str) -> SandboxInfo:
        return await self._set_status(sandbox_id, "running")

    async def stop(self, sandbox_id: str, timeout: float = 10) -> SandboxInfo:
        await self._load(sandbox_id)
        await self._kill_all(sandbox_id)
        return await self._set_status(sandbox_id, "stopped")

    async def restart(self, sandbox_id: str) -> SandboxInfo:
        await self.stop(sandbox_id)
        return await self.start(sandbox_id)

    async def delete(self, sandbox_id: str) -> None:
        path = self._path(sandbox_id)
        await self._load(sandbox_id)
        await self._kill_all(sandbox_id)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def inspect(self, sandbox_id: str) -> SandboxInfo:
        return (await self._load(sandbox_id)).info(await self.isolation())

    async def list(self) -> Sequence[SandboxInfo]:
        isolation = await self.isolation()
        return [record.info(isolation) for record in await self._records()]

    async def _kill_all(self, sandbox_id: str) -> None:
        """Kill the sandbox's commands and close its terminals (stop, delete and shutdown do this)."""
        commands = list(self._running.get(sandbox_id, ()))
        terminals = list(self._terminals.get(sandbox_id, ()))
        await asyncio.gather(*(command.kill() for command in commands), *(terminal.close() for terminal in terminals))

    # -- commands -------------------------------------------------------------------------------

    def _environment(self, record: _Record, env: dict[str, str] | None) -> dict[str, str]:
        base = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        base.setdefault("PATH", DEFAULT_PATH)
        return {**base, **record.env, **(env or {})}

    async def run(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> RunningCommand:
        if not argv:
            raise SandboxError("nothing to run: the command is empty")
        record = await self._runnable(sandbox_id)
        environment = self._environment(record, env)
        if _resolve(argv[0], record.project_dir, environment["PATH"]) is None:
            return failed_command(f"{argv[0]}: command not found")
        process = await self._spawn(await self._confined(record, argv), record.project_dir, environment)
        return self._track(sandbox_id, process, timeout)

    async def _confined(self, record: _Record, argv: Sequence[str]) -> list[str]:
        """`argv` as it must be started to run confined in the sandbox (every command and terminal goes here)."""
        if await self.isolation() == "bubblewrap":
            return bwrap_argv(record.project_dir, record.folders, argv)
        if self.use_bwrap:
            raise SandboxError("bubblewrap is required but does not work on this machine")
        return list(argv)

    async def _runnable(self, sandbox_id: str) -> _Record:
        """The record of a sandbox that accepts commands: running, with its project folder present."""
        record = await self._load(sandbox_id)
        if record.status != "running":
            raise SandboxError(f"sandbox {sandbox_id} is not running (it is {record.status})")
        if not os.path.isdir(record.project_dir):
            raise SandboxError(f"the project folder {record.project_dir} of sandbox {sandbox_id} is missing")
        return record

    async def open_terminal(self, sandbox_id: str, cols: int, rows: int) -> Terminal:
        """The user's shell (bash when installed, else /bin/sh) in the project folder, confined as commands are."""
        record = await self._runnable(sandbox_id)
        environment = self._environment(record, {"TERM": "xterm-256color"})
        shell = shutil.which("bash", path=environment["PATH"]) or "/bin/sh"
        argv = await self._confined(record, controlling_terminal_argv([shell, "-i"]))
        terminals = self._terminals.setdefault(sandbox_id, set())
        terminal = await PtyTerminal.spawn(
            argv, record.project_dir, environment, cols, rows, self.kill_grace, on_close=terminals.discard
        )
        terminals.add(terminal)
        return terminal

    @staticmethod
    async def _spawn(argv: list[str], cwd: str, env: dict[str, str]) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so that a kill reaches its children
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0]}: {exc}") from exc

    def _track(self, sandbox_id: str, process: asyncio.subprocess.Process, timeout: float | None) -> StreamedCommand:
        running = self._running.setdefault(sandbox_id, set())

        async def produce(emit: Emit) -> int:
            await asyncio.gather(_pump(process.stdout, "stdout", emit), _pump(process.stderr, "stderr", emit))
            return await process.wait()

        async def send(name: str) -> None:
            with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
                os.killpg(process.pid, _SIGNALS[name])

        command = StreamedCommand(produce, send, timeout=timeout, kill_grace=self.kill_grace, on_exit=running.discard)
        running.add(command)
        return command

    async def close(self) -> None:
        """Kill whatever is still running: the processes are this service's children."""
        sandbox_ids = set(self._running) | set(self._terminals)
        await asyncio.gather(*(self._kill_all(sandbox_id) for sandbox_id in sandbox_ids))


async def _pump(reader: asyncio.StreamReader | None, stream: str, emit: Emit) -> None:
    """Pass on whatever the process has written as soon as it is there (not line by line)."""
    if reader is None:
        return
    while data := await reader.read(65536):
        emit(stream, data)
