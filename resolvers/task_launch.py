"""Everything a task's run needs besides the scheduler's queue: where it runs (the project folder, or its
worktree), its argv and environment, and, for an agent, the reading of its streamed output
(`resolvers.agent_run`); at its end, its usage and steps written and its worktree's diff kept.

The scheduler calls `prepare` before starting the command, `feed`/`finish` on its output, `failure` for why
the agent says it failed, and `settle` before recording the task's end.

An agent's environment: the project's AI window of its type as the CLI's own variables (its key, base URL
and model), the task user's git identity, the secrets over them, and HOME in `.orchestrator/home` inside the
project folder, where the CLIs keep their sessions: they outlive the sandbox (whose home may be a tmpfs) and
this service, so a conversation can be continued after either restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from resolvers import agent_output, secrets, task_context, worktrees
from resolvers.agent_run import AgentRun, BestEffort, Emit, Fence
from resolvers.agents import AGENTS, agent_environment, ai_window, command_argv, is_agent
from resolvers.errors import DomainError
from resolvers.git_runner import IN_FOLDER, TASK_GIT_CONFIG, Identity, identity_of
from resolvers.prices import PriceTable
from resolvers.runtime import Runtime
from resolvers.secret_masking import Masker
from resolvers.task_runner import host_folder, sandbox_folder
from resolvers.usage import Tally, place_of
from store.models import Project, Sandbox, Task

log = logging.getLogger("orchestrator.tasks")

AGENT_HOME = f"{worktrees.OWN_FOLDER}/home"
MAKE_HOME = 'mkdir -p "$HOME" && ' + IN_FOLDER


@dataclass
class Launch:
    argv: list[str]
    """What the sandbox runs (wrapped to start in the task's folder)."""
    program: str
    """The CLI itself, as errors name it."""
    env: dict[str, str]
    masker: Masker
    folder: Path
    """The task's folder on this host, for its artifacts."""
    record: Sandbox
    identity: Identity
    place: worktrees.Place | None = None
    agent: AgentRun | None = None
    settled: bool = field(default=False)

    async def feed(self, stream: str, data: bytes) -> bytes:
        return await self.agent.feed(stream, data) if self.agent else data

    async def finish(self) -> bytes:
        return await self.agent.finish() if self.agent else b""

    def failure(self) -> str | None:
        return self.agent.failure() if self.agent else None

    async def settle(self, rt: Runtime, task: Task, stopping: bool) -> None:
        """Write what the agent left unwritten; commit and diff the worktree (not while the server stops).
        Safe to call again after a failure (a full disk): what was done is not done twice."""
        if self.agent is not None:
            await self.agent.settle()
        if self.place is not None and not stopping and not self.settled:
            try:
                await worktrees.conclude(rt, task, self.record, self.place, self.identity)
            except DomainError as error:  # the task's own outcome stands; its diff is missing, and logged why
                log.warning("could not keep the diff of task %s: %s", task.id, error.message)
        self.settled = True


async def prepare(
    rt: Runtime, task: Task, record: Sandbox, emit: Emit, best_effort: BestEffort, fence: Fence
) -> Launch:
    async with rt.db.read() as session:
        ai_config = await session.scalar(select(Project.ai_config).where(Project.id == task.project_id))
        place_of_usage = await place_of(session, task)
    identity = await identity_of(rt, task.user_id)
    place = await worktrees.prepare(rt, task, record, identity)
    model = ai_window(ai_config, task.task_type).get("model") or None
    prompt = await task_context.prompt_with_context(rt, task)
    argv = command_argv(rt.settings, task.task_type, prompt, model, task.resume_session_id)
    task_secrets = await secrets.task_environment(rt, task.project_id)
    keys = agent_environment(ai_config, task.task_type)
    env = {**keys, **identity.environment(), **TASK_GIT_CONFIG, **task_secrets}
    masker = Masker([*task_secrets.values(), *keys.values()])
    folder = place.folder if place else host_folder(record.folder_mapping, record.workdir)
    cwd = place.cwd if place else sandbox_folder(record)
    launch = Launch(argv, argv[0], env, masker, folder, record, identity, place)
    if is_agent(task.task_type):
        env["HOME"] = f"{sandbox_folder(record).rstrip('/')}/{AGENT_HOME}"
        launch.argv = ["/bin/sh", "-c", MAKE_HOME, "sh", cwd, *argv]
        parser = agent_output.parser_for(AGENTS[task.task_type].output, model)
        tally = Tally(PriceTable(rt.settings.agent_prices), model)
        launch.agent = AgentRun(rt, task, parser, tally, place_of_usage, masker, emit, best_effort, fence)
    elif place is not None:
        launch.argv = ["/bin/sh", "-c", IN_FOLDER, "sh", cwd, *argv]
    return launch
