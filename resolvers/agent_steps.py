"""An agent task's typed steps (messages, tool calls, tool results), as recorded while it ran, in order."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from resolvers.access import in_visible_project, visible_task
from resolvers.errors import invalid
from resolvers.pages import Listing, Ordering
from resolvers.runtime import Caller, Runtime
from resolvers.validation import UNSET
from store.models import AgentStep, Task

MAX_PAGE = 500
MAX_AFTER = 2**31 - 1
STEP_ORDER = Ordering("agent-steps", ((AgentStep.seq, False), (AgentStep.id, False)))


def _number(field: str, value: object, default: int, low: int, high: int) -> int:
    if value is None or value is UNSET:
        return default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid(field, f"must be a whole number from {low} to {high}")
    return value


async def list_steps(
    rt: Runtime, caller: Caller, project_id: str | None, task_id: str, after: object = None, limit: object = None
) -> tuple[Sequence[AgentStep], int]:
    """The task's steps after step number `after` (0: from the first), up to `limit`, and how many it has."""
    start, size = _number("after", after, 0, 0, MAX_AFTER), _number("limit", limit, 100, 1, MAX_PAGE)
    async with rt.db.read() as session:
        task = await visible_task(session, caller, project_id, task_id)
        total = await session.scalar(select(func.count()).where(AgentStep.task_id == task.id)) or 0
        rows = await session.scalars(
            select(AgentStep)
            .where(AgentStep.task_id == task.id, AgentStep.seq > start)
            .order_by(AgentStep.seq)
            .limit(size)
        )
        return rows.all(), total


def step_listing(caller: Caller) -> Listing:
    """Steps by task, in order (for GraphQL's `Task.agentSteps`)."""
    query = in_visible_project(select(AgentStep).join(Task, Task.id == AgentStep.task_id), Task.project_id, caller)
    return Listing(query, STEP_ORDER, AgentStep.task_id)
