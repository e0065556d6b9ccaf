"""Git inside a project's sandbox (never on this host): the sandbox's own user, its filesystem view and its
confinement apply to every git command the service runs, on both backends.

Every command gets the identity of a user's settings (gitDisplayName, gitEmail) as author and committer, and a
configuration through `GIT_CONFIG_*` variables (no file is needed in a read-only root or a fresh home):
`safe.directory=*` (the folder may belong to another uid than the sandbox's user), no hooks and no signing
for the service's own commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from resolvers.errors import DomainError
from resolvers.runtime import Runtime
from resolvers.sandboxes import backend_errors
from store.models import User, UserSettings

IN_FOLDER = 'cd "$1" || exit 1; shift; exec "$@"'
"""Runs its arguments in the folder given first (a sandbox's commands otherwise start in the project folder)."""
GIT_TIMEOUT = 120
OUTPUT_LIMIT = 1024 * 1024
DEFAULT_NAME, DEFAULT_EMAIL = "Orchestrator", "orchestrator@localhost"


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def environment(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


def git_config(*pairs: tuple[str, str]) -> dict[str, str]:
    """Configuration in the environment (git 2.31 and later)."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
    return env


TASK_GIT_CONFIG = git_config(("safe.directory", "*"))
"""What a task's own git commands get: the project folder may be owned by another uid."""
SERVICE_GIT_CONFIG = git_config(("safe.directory", "*"), ("core.hooksPath", "/dev/null"), ("commit.gpgSign", "false"))


async def identity_of(rt: Runtime, user_id: str | None) -> Identity:
    """A user's git identity from their settings; their username (and a local address) when unset."""
    if user_id is None:
        return Identity(DEFAULT_NAME, DEFAULT_EMAIL)
    async with rt.db.read() as session:
        row = (
            await session.execute(
                select(User.username, UserSettings.git_display_name, UserSettings.git_email)
                .outerjoin(UserSettings, UserSettings.user_id == User.id)
                .where(User.id == user_id)
            )
        ).first()
    if row is None:
        return Identity(DEFAULT_NAME, DEFAULT_EMAIL)
    username, name, email = row
    return Identity(name or username, email or f"{username}@orchestrator.local")


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def message(self) -> str:
        return (self.err.strip() or self.out.strip() or f"exit code {self.code}")[-2000:]


async def run_in(
    rt: Runtime,
    sandbox_id: str,
    folder: str,
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    limit: int = OUTPUT_LIMIT,
) -> Outcome:
    """Run `argv` in `folder` (a path inside the sandbox) and collect its output (up to `limit` bytes each)."""
    with backend_errors(sandbox_id):
        command = await rt.backend.run(
            sandbox_id, ["/bin/sh", "-c", IN_FOLDER, "sh", folder, *argv], env=env, timeout=GIT_TIMEOUT
        )
        streams: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        truncated = False
        async for chunk in command.output():
            kept = streams[chunk.stream]
            room = limit - len(kept)
            truncated = truncated or len(chunk.data) > room
            kept += chunk.data[: max(room, 0)]
        code = await command.wait()
    return Outcome(
        code, streams["stdout"].decode(errors="replace"), streams["stderr"].decode(errors="replace"), truncated
    )


class Git:
    """Git commands of one project, in its sandbox, as one user."""

    def __init__(self, rt: Runtime, sandbox_id: str, identity: Identity) -> None:
        self.rt, self.sandbox_id = rt, sandbox_id
        self.env = {**identity.environment(), **SERVICE_GIT_CONFIG, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}

    async def run(self, folder: str, *args: str, limit: int = OUTPUT_LIMIT) -> Outcome:
        return await run_in(self.rt, self.sandbox_id, folder, ["git", *args], self.env, limit)

    async def check(self, folder: str, *args: str) -> str:
        """The output of a command that must succeed; OPERATION_FAILED with git's message otherwise."""
        outcome = await self.run(folder, *args)
        if not outcome.ok:
            raise DomainError("OPERATION_FAILED", f"git {args[0]} failed: {outcome.message}")
        return outcome.out

    async def sh(self, folder: str, script: str, *args: str) -> Outcome:
        return await run_in(self.rt, self.sandbox_id, folder, ["/bin/sh", "-c", script, "sh", *args], self.env)
