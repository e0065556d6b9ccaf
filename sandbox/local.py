"""The local backend, for machines without Docker: a sandbox is a small JSON record naming the project folder.

Commands run as child processes of this service, under bubblewrap when `bwrap` works here (see
`sandbox.bwrap` for what a sandbox sees and may do: its own user namespace with a non-root uid and no
capabilities, a seccomp filter, only the system trees, the project folder and its mappings, and a network
namespace of its own unless the project's network mode is `open`), else as plain processes
(`SandboxInfo.isolation` says which: "bubblewrap" or "none"; "none" confines nothing, network included).
Either way a command gets a session and process group of its own, without a controlling terminal, and a
kill signals that whole group.

What differs from Docker, by necessity:
* Images: there are none. Every image name "exists", pulling is a no-op and the list is empty, so the
  callers' pull → create → start sequence works unchanged; the record keeps the name for display.
* The working directory is the project folder's own path (there is no container path to map it to);
  folder mappings are made writable at their host paths; ports are recorded but nothing is published
  (in the `open` mode processes share the host's network and bind ports themselves).
* The environment is a minimal one (PATH, locale, a private HOME, the proxy in `egress`) plus the
  sandbox's and the command's, never this service's own variables (which hold its secrets).
* "running" means "accepts commands"; stop and delete kill the commands that are still running.
* The network policy is fixed when the sandbox is created; each command gets a fresh namespace (and, in
  `egress`, a proxy listener of its own that closes when the command ends).
* There is no web terminal inside a sandbox to reach: `open_terminal` gives an interactive shell on a
  pseudo-terminal of this host instead, confined as commands are (the same namespaces and network policy).
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox._command import Emit, StreamedCommand, failed_command
from sandbox.base import (
    NetworkPolicy,
    PortMapping,
    RunningCommand,
    SandboxBackend,
    SandboxError,
    SandboxInfo,
    SandboxNotFound,
    SandboxSpec,
    Terminal,
    check_network,
    refuse_hidden_mappings,
)
from sandbox.bwrap import SANDBOX_HOME, Confinement, bwrap_argv, etc_masks
from sandbox.egress import EgressProxy
from sandbox.netns import listen_in
from sandbox.proxy_env import proxy_environment
from sandbox.seccomp import filter_fd
from sandbox.terminal import PtyTerminal, controlling_terminal_argv, open_pty

log = logging.getLogger(__name__)

INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TERM")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_SIGNALS = {"TERM": signal.SIGTERM, "KILL": signal.SIGKILL}
WARDEN = """
exec 3<&0
read -r gate <&3 && [ "$gate" = go ] || exit 125
if [ "$1" = terminal ]; then exec 4<&1; else exec 4</dev/null; fi
shift
"$@" <&4 3<&- 4<&- &
command=$!
{ while read -r _ <&3; do :; done; kill -KILL -1; } 2>/dev/null &
watcher=$!
exec 3<&- 4<&-
wait "$command"; status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"""
"""Runs a confined command once this service says "go" on the gate pipe that is its standard input (after
planting the egress proxy), then watches that pipe: should the service die, it ends and every process of the
sandbox is killed (`kill -1` inside the sandbox's own pid namespace). bwrap's --die-with-parent alone was seen to
leave a sandbox's pid 1, and so its command, running after the service was killed outright. Its first argument
says what the command reads: `terminal`, the terminal on its standard output; else /dev/null. (The gate comes on
standard input because dash, Debian's /bin/sh, cannot name a descriptor above 9; an explicit `<&4` because an
asynchronous command's input is otherwise /dev/null.)"""
WARDEN_ARGV = ("/bin/sh", "-c", WARDEN, "warden")


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
    network: dict[str, Any] = field(default_factory=dict)

    @property
    def policy(self) -> NetworkPolicy:
        return NetworkPolicy.from_record(self.network)

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


def _resolve(program: str, cwd: str, path: str) -> str | None:
    """Where `program` is, looked up as the sandboxed process would (relative names from the project folder)."""
    if "/" in program:
        candidate = program if os.path.isabs(program) else os.path.join(cwd, program)
        return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None
    return shutil.which(program, path=path)


class LocalBackend(SandboxBackend):
    """Sandboxes as records under `state_dir`; commands as (bubblewrapped) child processes."""

    name = "local"

    def __init__(
        self,
        state_dir: str | Path,
        *,
        use_bwrap: bool | None = None,
        kill_grace: float = 0.5,
        egress: EgressProxy | None = None,
        user_id: int = 1000,
        group_id: int = 1000,
        hidden_paths: Sequence[str | Path] = (),
    ) -> None:
        """`use_bwrap`: None uses bubblewrap when it is installed and works here; False never does;
        True requires it (SandboxError from `run()` when it is missing). `egress`: the proxy that carries
        `egress`-mode sandboxes out (without one that mode is refused). `user_id`/`group_id`: who commands
        are inside their namespace. `hidden_paths`: host paths a sandbox must never see or map (the state
        folder is always one)."""
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.use_bwrap = use_bwrap
        self.kill_grace = kill_grace
        self.egress = egress
        hidden = {os.path.realpath(path) for path in (*hidden_paths, self.state_dir)}
        self.confinement = Confinement(user_id, group_id, tuple(sorted(hidden)))
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

        Decided once, on first use (it takes a subprocess, so not in the constructor); sandboxes a previous
        run of this service left running are ended then too."""
        if self._isolation is None:
            folders = {record.project_dir for record in await self._records()}
            for group in await asyncio.to_thread(_orphaned_groups, folders):
                log.warning("ending sandbox processes (group %d) that a previous run of the service left", group)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
            works = self.use_bwrap is not False and await self._bwrap_works(str(self.state_dir))
            self._isolation = "bubblewrap" if works else "none"
            if self._isolation == "none" and self.use_bwrap is None and shutil.which("bwrap"):
                log.warning("bwrap is installed but cannot create sandboxes here; commands run unconfined")
        return self._isolation

    async def _bwrap_works(self, folder: str) -> bool:
        """bwrap can be installed yet unusable (for example in a container without user namespaces)."""
        if not shutil.which("bwrap"):
            return False
        masks = await asyncio.to_thread(etc_masks)
        seccomp = filter_fd()
        try:
            probe = await asyncio.create_subprocess_exec(
                *bwrap_argv(
                    folder,
                    [],
                    ["true"],
                    confinement=self.confinement,
                    seccomp_fd=seccomp,
                    isolate_network=True,
                    etc_masks=masks,
                ),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                pass_fds=(seccomp,),
            )
        finally:
            os.close(seccomp)
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
        check_network(spec, self.egress)
        refuse_hidden_mappings(spec, self.confinement.hidden)
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
            network=spec.network.as_record(),
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

    def _environment(self, record: _Record, env: dict[str, str] | None, confined: bool) -> dict[str, str]:
        base = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        base.setdefault("PATH", DEFAULT_PATH)
        if confined:
            base |= {"HOME": SANDBOX_HOME, "USER": "sandbox", "LOGNAME": "sandbox"}
            if record.policy.mode == "egress":
                base |= proxy_environment()
        else:
            base |= {key: os.environ[key] for key in ("HOME", "USER", "LOGNAME") if key in os.environ}
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
        confined = await self._confined()
        environment = self._environment(record, env, confined)
        if _resolve(argv[0], record.project_dir, environment["PATH"]) is None:
            return failed_command(f"{argv[0]}: command not found")
        process, finished = await self._start(record, argv, environment, confined)
        return self._track(sandbox_id, process, timeout, on_exit=finished)

    async def open_terminal(self, sandbox_id: str, cols: int, rows: int) -> Terminal:
        """The user's shell (bash when installed, else /bin/sh) in the project folder, confined as commands are."""
        record = await self._runnable(sandbox_id)
        confined = await self._confined()
        environment = self._environment(record, {"TERM": "xterm-256color"}, confined)
        shell = shutil.which("bash", path=environment["PATH"]) or "/bin/sh"
        master, slave = open_pty(cols, rows)
        try:
            argv = controlling_terminal_argv([shell, "-i"])
            process, finished = await self._start(record, argv, environment, confined, terminal=slave)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # the shell has its own copies; once they are gone, reading the master says so
        terminals = self._terminals.setdefault(sandbox_id, set())

        def closed(terminal: PtyTerminal) -> None:
            terminals.discard(terminal)
            finished()

        terminal = PtyTerminal(process, master, self.kill_grace, on_close=closed)
        terminals.add(terminal)
        return terminal

    async def _runnable(self, sandbox_id: str) -> _Record:
        """The record of a sandbox that accepts commands: running, with its project folder present."""
        record = await self._load(sandbox_id)
        if record.status != "running":
            raise SandboxError(f"sandbox {sandbox_id} is not running (it is {record.status})")
        if not os.path.isdir(record.project_dir):
            raise SandboxError(f"the project folder {record.project_dir} of sandbox {sandbox_id} is missing")
        return record

    async def _confined(self) -> bool:
        """Whether commands run under bubblewrap; refused when it is required but does not work here."""
        confined = await self.isolation() == "bubblewrap"
        if not confined and self.use_bwrap:
            raise SandboxError("bubblewrap is required but does not work on this machine")
        return confined

    async def _start(
        self,
        record: _Record,
        argv: Sequence[str],
        environment: dict[str, str],
        confined: bool,
        terminal: int | None = None,
    ) -> tuple[asyncio.subprocess.Process, Callable[[], None]]:
        """`argv` started in the sandbox (on the `terminal` fd, else with piped output), and what to call once
        it has ended. Every command and terminal starts here."""
        if not confined:
            return await self._spawn(list(argv), record.project_dir, environment, terminal=terminal), _nothing
        return await self._start_confined(record, argv, environment, terminal)

    async def _start_confined(
        self, record: _Record, argv: Sequence[str], environment: dict[str, str], terminal: int | None
    ) -> tuple[asyncio.subprocess.Process, Callable[[], None]]:
        """bwrap around the command, under the warden (see WARDEN); in `egress` the proxy is planted in the
        command's namespace first: bwrap reports its child's pid on the info fd, and the warden waits for "go".
        (Not bwrap's `--block-fd`: it goes on at end of file, so a sandbox whose service died in between would
        run, unwatched.)"""
        policy = record.policy
        masks = await asyncio.to_thread(etc_masks)
        seccomp = filter_fd()
        gate_read, gate_write = os.pipe()
        egress = policy.mode == "egress"
        info_read, info_write = os.pipe() if egress else (-1, -1)
        wrapped = bwrap_argv(
            record.project_dir,
            record.folders,
            [*WARDEN_ARGV, "command" if terminal is None else "terminal", *argv],
            confinement=self.confinement,
            seccomp_fd=seccomp,
            isolate_network=policy.mode != "open",
            etc_masks=masks,
            info_fd=info_write if egress else None,
        )
        passed = (seccomp, info_write) if egress else (seccomp,)
        try:
            process = await self._spawn(wrapped, record.project_dir, environment, passed, terminal, stdin=gate_read)
        except BaseException:
            os.close(gate_write)
            if egress:
                os.close(info_read)
            raise
        finally:
            for descriptor in (*passed, gate_read):
                os.close(descriptor)
        server: asyncio.Server | None = None
        if egress:
            try:
                server = await self._plant_proxy(info_read, policy)
            except BaseException:
                os.close(gate_write)  # the warden ends without running the command
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
                raise
            finally:
                os.close(info_read)
        os.write(gate_write, b"go\n")  # kept open while the command runs: its end tells the warden the service is gone

        def finished() -> None:
            os.close(gate_write)
            if server is not None:
                server.close()

        return process, finished

    async def _plant_proxy(self, info_read: int, policy: NetworkPolicy) -> asyncio.Server:
        if self.egress is None:  # a backend opened without one over records made with one
            raise SandboxError("this sandbox's egress network mode needs the egress proxy, which this backend lacks")
        info = await asyncio.to_thread(_read_all, info_read)
        try:
            child = int(json.loads(info)["child-pid"])
        except (ValueError, KeyError, TypeError):
            raise SandboxError(f"bubblewrap did not start the sandbox (it reported {info[:200]!r})") from None
        return await self.egress.serve(await listen_in(child), policy)

    @staticmethod
    async def _spawn(
        argv: list[str],
        cwd: str,
        env: dict[str, str],
        pass_fds: Sequence[int] = (),
        terminal: int | None = None,
        stdin: int | None = None,
    ) -> asyncio.subprocess.Process:
        """Start `argv` in a session of its own; its standard streams are the `terminal` fd, else none in
        and pipes out; `stdin`, when given, is its standard input whichever."""
        if stdin is None:
            stdin = asyncio.subprocess.DEVNULL if terminal is None else terminal
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=env,
                stdin=stdin,
                stdout=asyncio.subprocess.PIPE if terminal is None else terminal,
                stderr=asyncio.subprocess.PIPE if terminal is None else terminal,
                start_new_session=True,  # its own process group, so that a kill reaches its children
                pass_fds=pass_fds,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0]}: {exc}") from exc

    def _track(
        self,
        sandbox_id: str,
        process: asyncio.subprocess.Process,
        timeout: float | None,
        on_exit: Callable[[], None] | None = None,
    ) -> StreamedCommand:
        running = self._running.setdefault(sandbox_id, set())

        def exited(command: StreamedCommand) -> None:
            running.discard(command)
            if on_exit is not None:
                on_exit()

        async def produce(emit: Emit) -> int:
            await asyncio.gather(_pump(process.stdout, "stdout", emit), _pump(process.stderr, "stderr", emit))
            return await process.wait()

        async def send(name: str) -> None:
            with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
                os.killpg(process.pid, _SIGNALS[name])

        command = StreamedCommand(produce, send, timeout=timeout, kill_grace=self.kill_grace, on_exit=exited)
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


def _nothing() -> None:
    """Nothing to release once an unconfined command has ended."""


def _read_all(descriptor: int) -> bytes:
    """What bwrap writes to its info fd (a small JSON object; the pipe ends when bwrap closes it)."""
    chunks = []
    while chunk := os.read(descriptor, 4096):
        chunks.append(chunk)
        if b"}" in chunk:
            break
    return b"".join(chunks)


def _orphaned_groups(project_dirs: set[str]) -> set[int]:
    """Process groups of bwrap processes adopted by init that confine one of `project_dirs`: left by a previous
    run of this service that died (bwrap's --die-with-parent was seen not to take down a sandbox's own pid 1
    when the service was killed outright)."""
    groups = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent, group = int(fields[1]), int(fields[2])
        if parent != 1 or not argv or os.path.basename(argv[0]) != b"bwrap" or b"--chdir" not in argv:
            continue
        chdir = argv.index(b"--chdir")
        if chdir + 1 < len(argv) and argv[chdir + 1].decode(errors="replace") in project_dirs:
            groups.add(group)
    return groups
