"""Reading an agent CLI's machine-readable output, line by line, into typed steps.

Three formats, from the CLIs' documentation:
- `claude-stream`: Claude Code's `-p --output-format stream-json --verbose` (and Qwen Code's, which follows
  it): `system` (init / session_start, with the session id and model), `assistant` messages whose content
  blocks are text or `tool_use`, `user` messages carrying `tool_result` blocks, and a final `result` with
  `usage`, `modelUsage` and (Claude) `total_cost_usd`. One API message with several content blocks comes as
  several lines with the same message id and the same usage: usage is kept per message id.
- `gemini-stream`: Gemini CLI's `--output-format stream-json`: `init`, `message` (assistant text in
  `delta` chunks), `tool_use`, `tool_result`, `error`, and `result` with `stats`.
- `codex-json`: Codex CLI's `exec --json`: `thread.started` (the session), `item.started`/`item.completed`
  (agent messages, commands, file changes, MCP tool calls, web searches), `turn.completed` with `usage`,
  `turn.failed` and `error`.

A line that is not a JSON object, or one of a type the format does not know, is plain text: shown as it
came, never failing the task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

TRIM = 4000
"""Characters of a tool's input or output kept in a step."""


@dataclass(frozen=True)
class Session:
    session_id: str
    model: str | None


@dataclass(frozen=True)
class Message:
    text: str
    shown: bool = False
    """Already shown as it streamed (Gemini's deltas): recorded, not printed again."""


@dataclass(frozen=True)
class MessageDelta:
    """A piece of a message as it streams: printed at once, recorded with the whole message."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    name: str
    input: Any


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    ok: bool
    output: str


@dataclass(frozen=True)
class Usage:
    """Token counts of one unit of work. `key` names the unit: a later Usage with the same key replaces the
    earlier one (Claude repeats a message's usage on each of its lines). A `final` usage is the CLI's own
    total for the run and replaces everything counted before it."""

    model: str | None
    key: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None
    final: bool = False


@dataclass(frozen=True)
class Result:
    ok: bool
    text: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Text:
    """A line shown as it came: unparsed output, or a notice of the CLI."""

    text: str


Step = Session | Message | MessageDelta | ToolCall | ToolResult | Usage | Result | Text


def trim(text: str, limit: int = TRIM) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text) - limit} more characters]"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _content_text(content: Any) -> str:
    """A tool result's content: a string, or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(block.get("text", "")) for block in content if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


class Parser:
    """One run's output; `parse` is called with each complete line and returns the steps it holds."""

    known: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.model: str | None = None
        self.session_id: str | None = None

    def parse(self, line: str) -> list[Step]:
        stripped = line.strip()
        if not stripped.startswith("{"):
            return [Text(line)]
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return [Text(line)]
        if not isinstance(data, dict) or data.get("type") not in self.known:
            return [Text(line)]
        return self.steps(data)

    def steps(self, data: dict[str, Any]) -> list[Step]:
        raise NotImplementedError

    def finish(self) -> list[Step]:
        """Steps still held at the end of the output."""
        return []


class TextParser(Parser):
    def parse(self, line: str) -> list[Step]:
        return [Text(line)]


class ClaudeStream(Parser):
    known = frozenset({"system", "assistant", "user", "result", "stream_event", "rate_limit_event"})

    def steps(self, data: dict[str, Any]) -> list[Step]:
        kind = data["type"]
        if kind == "system":
            return self._system(data)
        if kind == "assistant":
            return self._assistant(data)
        if kind == "user":
            return self._user(data)
        if kind == "result":
            return self._result(data)
        return []  # partial messages and rate-limit notices: the whole messages follow

    def _system(self, data: dict[str, Any]) -> list[Step]:
        session = _str(data.get("session_id"))
        if data.get("subtype") not in ("init", "session_start") or session is None:
            return []
        self.model = _str(data.get("model")) or self.model
        self.session_id = session
        return [Session(session, self.model)]

    def _assistant(self, data: dict[str, Any]) -> list[Step]:
        message = data.get("message")
        if not isinstance(message, dict):
            return []
        model = _str(message.get("model")) or self.model
        found: list[Step] = []
        for block in message.get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and _str(block.get("text")):
                found.append(Message(block["text"]))
            elif block.get("type") == "tool_use":
                found.append(ToolCall(str(block.get("id") or ""), str(block.get("name") or "tool"), block.get("input")))
        usage = message.get("usage")
        if isinstance(usage, dict):
            found.append(
                Usage(
                    model,
                    f"message:{message.get('id') or data.get('uuid') or len(found)}",
                    _int(usage.get("input_tokens")),
                    _int(usage.get("output_tokens")),
                    _int(usage.get("cache_read_input_tokens")),
                    _int(usage.get("cache_creation_input_tokens")),
                )
            )
        return found

    def _user(self, data: dict[str, Any]) -> list[Step]:
        message = data.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            return []
        return [
            ToolResult(
                str(block.get("tool_use_id") or ""), not block.get("is_error"), _content_text(block.get("content"))
            )
            for block in content
            if isinstance(block, dict) and block.get("type") == "tool_result"
        ]

    def _result(self, data: dict[str, Any]) -> list[Step]:
        found: list[Step] = []
        session = _str(data.get("session_id"))
        if session is not None and session != self.session_id:
            self.session_id = session
            found.append(Session(session, self.model))
        found += self._final_usage(data)
        ok = not data.get("is_error") and data.get("subtype") in (None, "success")
        error = None if ok else _str(data.get("result")) or _str((data.get("error") or {}).get("message"))
        found.append(Result(ok, _str(data.get("result")) if ok else None, error or str(data.get("subtype"))))
        return found

    def _final_usage(self, data: dict[str, Any]) -> list[Step]:
        total_cost = _float(data.get("total_cost_usd"))
        by_model = data.get("modelUsage")
        if isinstance(by_model, dict) and by_model:
            usages = [
                Usage(
                    str(model),
                    f"final:{model}",
                    _int(counts.get("inputTokens")),
                    _int(counts.get("outputTokens")),
                    _int(counts.get("cacheReadInputTokens")),
                    _int(counts.get("cacheCreationInputTokens")),
                    _float(counts.get("costUSD")),
                    final=True,
                )
                for model, counts in by_model.items()
                if isinstance(counts, dict)
            ]
            if len(usages) == 1 and usages[0].cost_usd is None and total_cost is not None:
                usages[0] = replace(usages[0], cost_usd=total_cost)
            return list(usages)
        usage = data.get("usage")
        if not isinstance(usage, dict):
            return []
        return [
            Usage(
                self.model,
                "final",
                _int(usage.get("input_tokens")),
                _int(usage.get("output_tokens")),
                _int(usage.get("cache_read_input_tokens")),
                _int(usage.get("cache_creation_input_tokens")),
                total_cost,
                final=True,
            )
        ]


class GeminiStream(Parser):
    known = frozenset({"init", "message", "tool_use", "tool_result", "error", "result"})

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[str] = []
        self.last_message: str | None = None

    def _flush(self) -> list[Step]:
        if not self.pending:
            return []
        text, self.pending = "".join(self.pending), []
        self.last_message = text
        return [Message(text, shown=True)]

    def _message(self, data: dict[str, Any]) -> list[Step]:
        if data.get("role") != "assistant" or not _str(data.get("content")):
            return []
        if data.get("delta"):
            self.pending.append(data["content"])
            return [MessageDelta(data["content"])]
        return [*self._flush(), Message(data["content"])]

    def _init(self, data: dict[str, Any]) -> list[Step]:
        session = _str(data.get("session_id"))
        self.model = _str(data.get("model")) or self.model
        return [Session(session, self.model)] if session else []

    def _tool_use(self, data: dict[str, Any]) -> list[Step]:
        return [ToolCall(str(data.get("tool_id") or ""), str(data.get("tool_name") or "tool"), data.get("parameters"))]

    def _tool_result(self, data: dict[str, Any]) -> list[Step]:
        output = _str(data.get("output")) or _str((data.get("error") or {}).get("message")) or ""
        return [ToolResult(str(data.get("tool_id") or ""), data.get("status") == "success", output)]

    def _error(self, data: dict[str, Any]) -> list[Step]:
        return [Text(f"! {data.get('severity', 'error')}: {data.get('message', '')}")]

    def steps(self, data: dict[str, Any]) -> list[Step]:
        if data["type"] == "message":
            return self._message(data)
        handle = {
            "init": self._init,
            "tool_use": self._tool_use,
            "tool_result": self._tool_result,
            "error": self._error,
            "result": self._result,
        }[data["type"]]
        return self._flush() + handle(data)

    def _result(self, data: dict[str, Any]) -> list[Step]:
        stats = data.get("stats")
        found: list[Step] = []
        if isinstance(stats, dict):
            cached = _int(stats.get("cached"))
            fresh = _int(stats["input"]) if "input" in stats else max(_int(stats.get("input_tokens")) - cached, 0)
            found.append(Usage(self.model, "final", fresh, _int(stats.get("output_tokens")), cached, 0, final=True))
        ok = data.get("status") == "success"
        error = _str((data.get("error") or {}).get("message")) if not ok else None
        found.append(Result(ok, self.last_message if ok else None, error or (None if ok else "error")))
        return found

    def finish(self) -> list[Step]:
        return self._flush()


def _command_text(item: dict[str, Any]) -> str:
    return str(item.get("command") or "")


class CodexJson(Parser):
    known = frozenset(
        {"thread.started", "turn.started", "turn.completed", "turn.failed", "item.started", "item.updated"}
        | {"item.completed", "item.plan.delta", "request_user_input", "error"}
    )

    def __init__(self, model: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.started: set[str] = set()
        self.turns = 0
        self.last_message: str | None = None

    def steps(self, data: dict[str, Any]) -> list[Step]:
        kind = data["type"]
        if kind == "thread.started":
            session = _str(data.get("thread_id"))
            return [Session(session, self.model)] if session else []
        if kind == "turn.completed":
            self.turns += 1
            usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
            cached = _int(usage.get("cached_input_tokens"))
            fresh = max(_int(usage.get("input_tokens")) - cached, 0)
            counted = Usage(self.model, f"turn:{self.turns}", fresh, _int(usage.get("output_tokens")), cached)
            return [counted, Result(True, self.last_message)]
        if kind == "turn.failed":
            error = data.get("error") if isinstance(data.get("error"), dict) else {}
            return [Result(False, error=str(error.get("message") or "the turn failed"))]
        if kind == "error":
            return [Text(f"! error: {data.get('message', '')}")]
        item = data.get("item")
        if kind in ("item.started", "item.completed") and isinstance(item, dict):
            return self._item(item, completed=kind == "item.completed")
        return []

    def _call(self, item: dict[str, Any]) -> ToolCall | None:
        kind, item_id = item.get("type"), str(item.get("id") or "")
        if kind == "command_execution":
            return ToolCall(item_id, "shell", {"command": _command_text(item)})
        if kind == "mcp_tool_call":
            return ToolCall(item_id, f"{item.get('server')}.{item.get('tool')}", item.get("arguments"))
        if kind == "web_search":
            return ToolCall(item_id, "web_search", {"query": item.get("query")})
        if kind == "file_change":
            return ToolCall(item_id, "apply_patch", {"changes": item.get("changes")})
        return None

    def _item(self, item: dict[str, Any], completed: bool) -> list[Step]:
        kind, item_id = item.get("type"), str(item.get("id") or "")
        if kind == "agent_message":
            if not completed or not _str(item.get("text")):
                return []
            self.last_message = item["text"]
            return [Message(item["text"])]
        if kind == "error" and completed:
            return [Text(f"! {item.get('message', '')}")]
        call = self._call(item)
        if call is None:
            return []
        found: list[Step] = []
        if item_id not in self.started:
            self.started.add(item_id)
            found.append(call)
        if completed:
            found.append(self._result(item))
        return found

    def _result(self, item: dict[str, Any]) -> ToolResult:
        kind, item_id, status = item.get("type"), str(item.get("id") or ""), item.get("status")
        if kind == "command_execution":
            ok = status == "completed" and item.get("exit_code") in (0, None)
            return ToolResult(item_id, ok, str(item.get("aggregated_output") or ""))
        if kind == "file_change":
            changes = item.get("changes") if isinstance(item.get("changes"), list) else []
            summary = ", ".join(f"{c.get('kind')} {c.get('path')}" for c in changes if isinstance(c, dict))
            return ToolResult(item_id, status == "completed", summary)
        if kind == "mcp_tool_call":
            error = item.get("error") if isinstance(item.get("error"), dict) else None
            result = orjson.dumps(item.get("result")).decode() if item.get("result") is not None else ""
            return ToolResult(item_id, status == "completed" and error is None, error["message"] if error else result)
        return ToolResult(item_id, status == "completed", "")


PARSERS: dict[str, Callable[[str | None], Parser]] = {
    "claude-stream": lambda _model: ClaudeStream(),
    "gemini-stream": lambda _model: GeminiStream(),
    "codex-json": CodexJson,
    "text": lambda _model: TextParser(),
}


def parser_for(output: str, model: str | None = None) -> Parser:
    """A parser of one run's output; `model` is what a CLI that never names its model runs (Codex)."""
    return PARSERS[output](model)


def _summary(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("command", "file_path", "path", "pattern", "url", "query"):
            if isinstance(value.get(key), str):
                return value[key]
    return orjson.dumps(value).decode() if value is not None else ""


def _tool_result(step: ToolResult) -> str:
    lines = step.output.strip().splitlines()
    shown = "\n    ".join(line[:200] for line in lines[:5]) + (" …" if len(lines) > 5 else "")
    return f"  {'✓' if step.ok else '✗'} {shown or ('done' if step.ok else 'failed')}\n"


def _message(step: Message) -> str:
    """A whole message; one already shown as it streamed only gets its line ended."""
    if step.shown:
        return "" if step.text.endswith("\n") else "\n"
    return step.text.rstrip("\n") + "\n"


def _session(step: Session) -> str:
    return f"● session {step.session_id}" + (f" ({step.model})" if step.model else "") + "\n"


_RENDERERS: dict[type, Callable[[Any], str]] = {
    Message: _message,
    MessageDelta: lambda step: step.text,
    ToolCall: lambda step: f"▸ {step.name}: {trim(_summary(step.input), 200)}\n",
    ToolResult: _tool_result,
    Session: _session,
    Result: lambda step: "" if step.ok else f"✗ {step.error}\n",
    Text: lambda step: step.text + "\n",
    Usage: lambda _step: "",
}


def render(step: Step) -> str:
    """A step as the human-readable text of `output` events and the task's terminal output."""
    return _RENDERERS[type(step)](step)
