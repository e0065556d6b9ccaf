"""Tokens and cost: counting a running task's usage, keeping it (on the task and in the `task_usage` ledger),
and adding it up per project, workspace or organization, by day and by model.

A task's usage is its CLI's final figures when the CLI gave them (Claude Code's `modelUsage` and
`total_cost_usd`); until then, the sum of what its messages reported. A cost the CLI did not report is
estimated from the price table (`resolvers.prices`); a model without a price costs `unknown` (0 in sums).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.access import member_org_ids, visible_organization, visible_project, visible_workspace
from resolvers.agent_output import Usage
from resolvers.errors import invalid
from resolvers.prices import PriceTable
from resolvers.runtime import Caller, Runtime
from resolvers.validation import UNSET
from store.models import Project, Task, TaskUsage, Workspace

UNKNOWN_MODEL = "unknown"
SCOPES = ("organization", "workspace", "project")
LEDGER_COLUMNS = {
    "organization": TaskUsage.organization_id,
    "workspace": TaskUsage.workspace_id,
    "project": TaskUsage.project_id,
}


@dataclass
class Totals:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    cost_source: str | None = None
    """`reported`, `estimated`, `unknown`, or `mixed` for a sum of several."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def add(self, other: Totals) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_usd += other.cost_usd
        if other.cost_source is not None:
            sources = {self.cost_source, other.cost_source} - {None}
            self.cost_source = sources.pop() if len(sources) == 1 else "mixed"


@dataclass
class Tally:
    """A running task's usage, unit by unit (see `agent_output.Usage`)."""

    prices: PriceTable
    default_model: str | None = None
    units: dict[str, Usage] = field(default_factory=dict)
    finals: dict[str, Usage] = field(default_factory=dict)

    def add(self, usage: Usage) -> bool:
        """Count a unit; True when the totals may have changed."""
        chosen = self.finals if usage.final else self.units
        if chosen.get(usage.key) == usage:
            return False
        chosen[usage.key] = usage
        return True

    def by_model(self) -> dict[str, Totals]:
        found: dict[str, Totals] = {}
        for usage in (self.finals or self.units).values():
            model = usage.model or self.default_model or UNKNOWN_MODEL
            found.setdefault(model, Totals()).add(self._priced(model, usage))
        return found

    def _priced(self, model: str, usage: Usage) -> Totals:
        counted = Totals(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
        if usage.cost_usd is not None:
            counted.cost_usd, counted.cost_source = usage.cost_usd, "reported"
            return counted
        estimate = self.prices.cost(model, *_tokens(counted))
        counted.cost_usd, counted.cost_source = (estimate, "estimated") if estimate is not None else (0.0, "unknown")
        return counted

    def totals(self) -> Totals:
        total = Totals()
        for counted in self.by_model().values():
            total.add(counted)
        return total

    def model(self) -> str | None:
        """The model that did most of the work (by tokens)."""
        models = self.by_model()
        return max(models, key=lambda name: models[name].total_tokens) if models else None


def _tokens(totals: Totals) -> tuple[int, int, int, int]:
    return totals.input_tokens, totals.output_tokens, totals.cache_read_tokens, totals.cache_write_tokens


@dataclass(frozen=True)
class Place:
    """Where a task's spending counts."""

    project_id: str
    workspace_id: str
    organization_id: str
    day: str


async def place_of(session: AsyncSession, task: Task) -> Place:
    workspace_id, organization_id = (
        await session.execute(
            select(Workspace.id, Workspace.organization_id)
            .join(Project, Project.workspace_id == Workspace.id)
            .where(Project.id == task.project_id)
        )
    ).one()
    started = task.start_time or task.created_at
    return Place(task.project_id, workspace_id, organization_id, started.date().isoformat())


async def save_task_usage(session: AsyncSession, task_id: str, place: Place, tally: Tally) -> Totals:
    """The task's usage so far, on the task and in the ledger (its rows replaced)."""
    totals = tally.totals()
    await session.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(
            model=tally.model(),
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cache_read_tokens=totals.cache_read_tokens,
            cache_write_tokens=totals.cache_write_tokens,
            cost_usd=totals.cost_usd,
            cost_source=totals.cost_source,
        )
    )
    await session.execute(delete(TaskUsage).where(TaskUsage.task_id == task_id))
    for model, counted in tally.by_model().items():
        session.add(
            TaskUsage(
                task_id=task_id,
                project_id=place.project_id,
                workspace_id=place.workspace_id,
                organization_id=place.organization_id,
                model=model,
                day=place.day,
                input_tokens=counted.input_tokens,
                output_tokens=counted.output_tokens,
                cache_read_tokens=counted.cache_read_tokens,
                cache_write_tokens=counted.cache_write_tokens,
                cost_usd=counted.cost_usd,
                cost_source=counted.cost_source or "unknown",
            )
        )
    return totals


def _sums() -> tuple[object, ...]:
    return (
        func.coalesce(func.sum(TaskUsage.input_tokens), 0),
        func.coalesce(func.sum(TaskUsage.output_tokens), 0),
        func.coalesce(func.sum(TaskUsage.cache_read_tokens), 0),
        func.coalesce(func.sum(TaskUsage.cache_write_tokens), 0),
        func.coalesce(func.sum(TaskUsage.cost_usd), 0.0),
    )


def _totals(row: Sequence[object], sources: set[str] | None = None) -> Totals:
    found = Totals(*(int(value) for value in row[:4]), float(row[4]))  # type: ignore[call-overload]
    if sources:
        found.cost_source = sources.pop() if len(sources) == 1 else "mixed"
    return found


async def spent(
    session: AsyncSession, scope: str, scope_id: str, since_day: str | None, except_task: str | None = None
) -> Totals:
    """What a scope's tasks spent since a day (all time for None), one task's own spending left out."""
    query = select(*_sums()).where(LEDGER_COLUMNS[scope] == scope_id)
    if since_day is not None:
        query = query.where(TaskUsage.day >= since_day)
    if except_task is not None:
        query = query.where((TaskUsage.task_id != except_task) | TaskUsage.task_id.is_(None))
    return _totals((await session.execute(query)).one())


@dataclass(frozen=True)
class ModelUsage:
    model: str
    totals: Totals


@dataclass(frozen=True)
class DayUsage:
    day: str
    totals: Totals
    models: list[ModelUsage]


@dataclass(frozen=True)
class UsageReport:
    scope: str
    scope_id: str
    since: str | None
    until: str | None
    total: Totals
    days: list[DayUsage]
    models: list[ModelUsage]


def _day(field: str, value: object) -> str | None:
    if value is None or value is UNSET:
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()[:10]
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise invalid(field, "must be a day as YYYY-MM-DD")


async def check_scope(session: AsyncSession, caller: Caller, scope: str, scope_id: str) -> None:
    """404 for a scope the caller may not see."""
    if scope == "organization":
        await visible_organization(session, caller, scope_id)
    elif scope == "workspace":
        await visible_workspace(session, caller, scope_id)
    else:
        await visible_project(session, caller, scope_id)


def _report(scope: str, scope_id: str, since: str | None, until: str | None, rows: Sequence[Any]) -> UsageReport:
    cells: dict[tuple[str, str], Totals] = {}
    for day, model, source, *sums in rows:
        cells.setdefault((day, model), Totals()).add(_totals(sums, {source}))
    total, by_day, by_model = Totals(), {}, {}
    for (day, model), counted in cells.items():
        total.add(counted)
        by_day.setdefault(day, (Totals(), []))[0].add(counted)
        by_day[day][1].append(ModelUsage(model, counted))
        by_model.setdefault(model, Totals()).add(counted)
    return UsageReport(
        scope,
        scope_id,
        since,
        until,
        total,
        [DayUsage(day, totals, models) for day, (totals, models) in sorted(by_day.items())],
        [ModelUsage(model, totals) for model, totals in sorted(by_model.items())],
    )


async def usage_reports(
    rt: Runtime, caller: Caller, scope: str, scope_ids: Sequence[str], since: object = None, until: object = None
) -> dict[str, UsageReport]:
    """Several scopes' spending from `since` to `until` (days, both included; all time when left out), in one
    query; a scope the caller may not see reports nothing."""
    first, last = _day("from", since), _day("to", until)
    if first and last and first > last:
        raise invalid("to", "must not be before from")
    column = LEDGER_COLUMNS[scope]
    query = select(column, TaskUsage.day, TaskUsage.model, TaskUsage.cost_source, *_sums()).where(
        column.in_(scope_ids), TaskUsage.organization_id.in_(member_org_ids(caller))
    )
    if first:
        query = query.where(TaskUsage.day >= first)
    if last:
        query = query.where(TaskUsage.day <= last)
    query = query.group_by(column, TaskUsage.day, TaskUsage.model, TaskUsage.cost_source)
    async with rt.db.read() as session:
        rows = (await session.execute(query)).all()
    by_scope: dict[str, list[Any]] = {scope_id: [] for scope_id in scope_ids}
    for scope_id, *row in rows:
        by_scope[scope_id].append(row)
    return {scope_id: _report(scope, scope_id, first, last, found) for scope_id, found in by_scope.items()}


async def usage_report(
    rt: Runtime, caller: Caller, scope: str, scope_id: str, since: object = None, until: object = None
) -> UsageReport:
    """A scope's spending (404 for one the caller may not see)."""
    async with rt.db.read() as session:
        await check_scope(session, caller, scope, scope_id)
    return (await usage_reports(rt, caller, scope, [scope_id], since, until))[scope_id]
