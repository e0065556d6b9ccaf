"""One agent task's output as it streams: lines parsed into typed steps (`resolvers.agent_output`), each step
recorded (an event, a row) with the task's secrets masked, usage counted and checked against the budgets, and
the human-readable text handed back for `output` events and the terminal output.

Typed events: `agent_session` (the session id and model, as soon as the CLI names them), `agent_message`,
`tool_call`, `tool_result`, and `usage` (the task's running totals, at most about once a second and at the
end). Steps and usage are written about once a second and at the end; the session id at once, so that a task
interrupted by a crash can still be continued.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import agent_output as out
from resolvers.budgets import BudgetExceeded, BudgetGuard
from resolvers.runtime import Runtime
from resolvers.secret_masking import Masker
from resolvers.tx import writing
from resolvers.usage import Place, Tally, Totals, save_task_usage
from store.models import AgentStep, Task

Emit = Callable[..., Awaitable[None]]
"""Records one event of the task: `emit(type, **fields)` (skipped on a full disk)."""
BestEffort = Callable[[Awaitable[Any]], Awaitable[None]]
Fence = Callable[[AsyncSession], Awaitable[None]]
"""Called first inside each write of the run: raises when this replica no longer holds the task's lease (a
replica paused past it must not add steps or usage to a task another replica has failed)."""

WRITE_SECONDS = 1.0
MAX_LINE = 1024 * 1024
"""A line longer than this is no JSON line of any CLI: it is shown as text as it comes."""
MAX_STORED_STEPS = 5000


def usage_fields(totals: Totals) -> dict[str, Any]:
    """Tokens and cost as events and REST answers name them."""
    return {
        "inputTokens": totals.input_tokens,
        "outputTokens": totals.output_tokens,
        "cacheReadTokens": totals.cache_read_tokens,
        "cacheWriteTokens": totals.cache_write_tokens,
        "totalTokens": totals.total_tokens,
        "costUsd": round(totals.cost_usd, 6),
        "costSource": totals.cost_source,
    }


class AgentRun:
    def __init__(
        self,
        rt: Runtime,
        task: Task,
        parser: out.Parser,
        tally: Tally,
        place: Place,
        masker: Masker,
        emit: Emit,
        best_effort: BestEffort,
        fence: Fence,
    ) -> None:
        self.rt, self.task, self.parser, self.tally, self.place = rt, task, parser, tally, place
        self.masker, self.emit, self.best_effort, self.fence = masker, emit, best_effort, fence
        self.guard = BudgetGuard(rt, task.project_id, task.id)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.line = ""
        self.passing = False
        """The line being read started as plain text: it is shown as it comes."""
        self.session_id: str | None = None
        self.result: out.Result | None = None
        self.seq = 0
        self.rows: list[AgentStep] = []
        self.usage_dirty = False
        self.written_at = time.monotonic()
        self.usage_sent_at = 0.0
        self.final_checked = False

    # -- reading -------------------------------------------------------------------------------

    async def feed(self, stream: str, data: bytes) -> bytes:
        """A chunk of the CLI's output; returns what to show of it (stderr as it is)."""
        if stream != "stdout":
            return data
        self.line += self.decoder.decode(data)
        shown: list[str] = []
        while "\n" in self.line:
            line, self.line = self.line.split("\n", 1)
            if self.passing:
                self.passing = False
                shown.append(line + "\n")
            else:
                shown.append(await self._steps(self.parser.parse(line)))
        plain = self.passing or not self.line.lstrip().startswith("{") or len(self.line) > MAX_LINE
        if (self.line.strip() and plain) or (self.line and self.passing):
            self.passing = True
            shown.append(self.line)
            self.line = ""
        if time.monotonic() - self.written_at > WRITE_SECONDS:
            await self.best_effort(self._write())
        return "".join(shown).encode()

    async def finish(self) -> bytes:
        """At the end of the output: what was still held."""
        self.line += self.decoder.decode(b"", final=True)
        shown: list[str] = []
        if self.line:
            line, self.line = self.line, ""
            shown.append(line + "\n" if self.passing else await self._steps(self.parser.parse(line)))
        shown.append(await self._steps(self.parser.finish()))
        return "".join(shown).encode()

    async def _steps(self, steps: list[out.Step]) -> str:
        shown = []
        for step in steps:
            await self._record(step)
            shown.append(out.render(step))
        return "".join(shown)

    # -- recording -----------------------------------------------------------------------------

    async def _record(self, step: out.Step) -> None:
        if isinstance(step, out.Session):
            await self._session(step)
        elif isinstance(step, out.Message):
            await self._step("message", "agent_message", text=self.masker.mask(step.text))
        elif isinstance(step, out.ToolCall):
            name, given = step.name, self.masker.mask_within(step.input)
            await self._step("tool_call", "tool_call", tool_call_id=step.call_id, name=name, input=given)
        elif isinstance(step, out.ToolResult):
            output = self.masker.mask(out.trim(step.output))
            await self._step("tool_result", "tool_result", tool_call_id=step.call_id, text=output, ok=step.ok)
        elif isinstance(step, out.Usage):
            await self._usage(step)
        elif isinstance(step, out.Result):
            self.result = step

    async def _session(self, step: out.Session) -> None:
        if step.session_id == self.session_id:
            return
        self.session_id = step.session_id
        self.tally.default_model = step.model or self.tally.default_model
        await self.best_effort(self._save_session())
        await self.emit("agent_session", sessionId=step.session_id, model=step.model)

    async def _save_session(self) -> None:
        async with writing(self.rt) as session:
            await self.fence(session)
            await session.execute(update(Task).where(Task.id == self.task.id).values(session_id=self.session_id))

    async def _step(self, kind: str, event: str, **values: Any) -> None:
        self.seq += 1
        fields = {
            "index": self.seq,
            "text": values.get("text"),
            "toolCallId": values.get("tool_call_id"),
            "name": values.get("name"),
            "input": values.get("input"),
            "ok": values.get("ok"),
        }
        await self.emit(event, **{key: value for key, value in fields.items() if value is not None})
        if self.seq <= MAX_STORED_STEPS:
            self.rows.append(AgentStep(task_id=self.task.id, seq=self.seq, kind=kind, **values))

    async def _usage(self, step: out.Usage) -> None:
        if not self.tally.add(step):
            return
        self.usage_dirty = True
        totals = self.tally.totals()
        if step.final or time.monotonic() - self.usage_sent_at > WRITE_SECONDS:
            self.usage_sent_at = time.monotonic()
            await self.emit("usage", model=self.tally.model(), final=step.final, **usage_fields(totals))
        # Raises BudgetExceeded once a limit is crossed; the CLI's final figures come when its work is done,
        # so they are recorded against the budgets but stop nothing.
        self.final_checked = self.final_checked or step.final
        try:
            await self.guard.observe(totals, final=step.final)
        except BudgetExceeded:
            self.final_checked = True  # stopped for it: its end is no second crossing
            raise

    async def _write(self) -> None:
        """Steps and usage so far, in one transaction; kept for the next try when it fails."""
        self.written_at = time.monotonic()
        rows, dirty = list(self.rows), self.usage_dirty
        if not rows and not dirty:
            return
        async with writing(self.rt) as session:
            await self.fence(session)
            session.add_all(rows)
            if dirty:
                await save_task_usage(session, self.task.id, self.place, self.tally)
        del self.rows[: len(rows)]
        if dirty:
            self.usage_dirty = False

    async def settle(self) -> None:
        """At the end: everything not yet written, and the final usage against the budgets (no stop now)."""
        if self.usage_dirty:
            await self.emit("usage", model=self.tally.model(), final=True, **usage_fields(self.tally.totals()))
        await self._write()
        if self.session_id is not None:
            await self._save_session()
        if not self.final_checked:
            self.final_checked = True
            await self.guard.observe(self.tally.totals(), final=True)

    def failure(self) -> str | None:
        """Why the agent says it failed, when its final result says so."""
        if self.result is not None and not self.result.ok:
            return self.masker.mask(f"The agent reported an error: {self.result.error}")
        return None
