"""The agent CLIs a task can run: how each is called (its streaming mode, model and resume flags), which
variables carry its API key, and which parser reads its output.

A command is a template (TASK_COMMAND_<TYPE>) split like a shell would, never run by one: `{prompt}`
becomes part of one argument, and the standalone tokens `{model}` and `{resume}` expand to the CLI's flags
only when the project's AI window names a model, or when a follow-up resumes a session. A template without
`{resume}` gets the resume flags at its end.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from resolvers.errors import DomainError
from store.config import Settings


@dataclass(frozen=True)
class Agent:
    name: str
    output: str
    """The parser of its standard output: `claude-stream`, `gemini-stream`, `codex-json` or `text`."""
    resume_args: Callable[[str], list[str]] | None
    """The arguments that resume a session, or None when the CLI cannot continue one."""
    key_variables: tuple[str, ...] = ()
    base_url_variables: tuple[str, ...] = ()
    model_variables: tuple[str, ...] = ()


AGENTS: dict[str, Agent] = {
    "claude": Agent(
        "claude",
        "claude-stream",
        lambda session: ["--resume", session],
        ("ANTHROPIC_API_KEY",),
        ("ANTHROPIC_BASE_URL",),
        ("ANTHROPIC_MODEL",),
    ),
    "qwen": Agent(
        "qwen",
        "claude-stream",  # Qwen Code's stream-json follows Claude Code's message shapes
        lambda session: ["--resume", session],
        ("OPENAI_API_KEY",),
        ("OPENAI_BASE_URL",),
        ("OPENAI_MODEL",),
    ),
    "gemini": Agent(
        "gemini",
        "gemini-stream",
        lambda session: ["--resume", session],
        ("GEMINI_API_KEY",),
        ("GOOGLE_GEMINI_BASE_URL",),
        ("GEMINI_MODEL",),
    ),
    "codex": Agent(
        "codex",
        "codex-json",
        lambda session: ["resume", session],  # `codex exec resume <id> <prompt>`
        ("CODEX_API_KEY", "OPENAI_API_KEY"),
        ("OPENAI_BASE_URL",),
    ),
    "bash": Agent("bash", "text", None),
}
TASK_TYPES = tuple(AGENTS)
AGENT_TYPES = tuple(name for name, agent in AGENTS.items() if agent.output != "text")
"""The task types that run a coding agent (they spend tokens; budgets apply to them)."""


def is_agent(task_type: str) -> bool:
    return task_type in AGENT_TYPES


def template(settings: Settings, task_type: str) -> str:
    return getattr(settings, f"task_command_{task_type}")


def ai_window(ai_config: Mapping[str, Any] | None, task_type: str) -> Mapping[str, Any]:
    """The project's first AI window of this type ({} when it has none)."""
    for window in (ai_config or {}).get("aiWindows") or []:
        if isinstance(window, Mapping) and window.get("type") == task_type:
            return window
    return {}


def command_argv(
    settings: Settings, task_type: str, prompt: str, model: str | None = None, resume: str | None = None
) -> list[str]:
    """The task's argv; `resume` is the session a follow-up continues."""
    agent = AGENTS[task_type]
    if resume is not None and agent.resume_args is None:
        raise DomainError("INVALID_STATUS", f"A {task_type} task has no session to continue")
    resume_args = agent.resume_args(resume) if agent.resume_args and resume else []
    argv: list[str] = []
    placed = False
    for part in shlex.split(template(settings, task_type)):
        if part == "{model}":
            argv += ["--model", model] if model else []
        elif part == "{resume}":
            argv += resume_args
            placed = True
        else:
            argv.append(part.replace("{prompt}", prompt))
    return argv if placed else argv + resume_args


def agent_environment(ai_config: Mapping[str, Any] | None, task_type: str) -> dict[str, str]:
    """The CLI's own variables for the key, base URL and model of the project's AI window of its type."""
    agent, window = AGENTS[task_type], ai_window(ai_config, task_type)
    values = {
        agent.key_variables: window.get("apiKey"),
        agent.base_url_variables: window.get("baseUrl"),
        agent.model_variables: window.get("model"),
    }
    return {name: value for names, value in values.items() if value for name in names}
