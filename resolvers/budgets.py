"""Budgets: spending limits of organizations, workspaces and projects that stop work.

- A budget is USD (and, optionally, tokens: every token counted, input, output and cache) per calendar
  month (UTC) or in total, for one organization, workspace or project; a scope has at most one of each period.
  An organization's **owners** set and delete the budgets of it and of everything in it; members read them.
- Every budget over a project applies to its agent tasks (bash tasks spend nothing): the project's own, its
  workspace's and its organization's. Spending is the `task_usage` ledger (`resolvers.usage`), running tasks
  included, as they report it.
- A task that would start while one of them is spent is refused (402 `BUDGET_EXCEEDED`, naming the budget
  and what is spent); a queued one that comes to start then ends `cancelled` with the reason. A running one is
  stopped, `cancelled` with the reason, as soon as its streamed usage crosses a limit. Each refusal and stop is
  a `budget_exceeded` event; the first time spending reaches 80% of a budget's limits in a period there is one
  `budget_warning`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import events
from resolvers.access import member_org_ids, require_owner, visible_organization, visible_project, visible_workspace
from resolvers.agents import is_agent
from resolvers.errors import DomainError, invalid, missing
from resolvers.runtime import Caller, Runtime
from resolvers.tx import writing
from resolvers.usage import SCOPES, Totals, spent
from resolvers.validation import UNSET, one_of
from store.models import Budget, Organization, Project, Workspace, utcnow

PERIODS = ("month", "total")
WARN_AT = 0.8
REFRESH_SECONDS = 2.0
"""How often a running task's guard reads again what the other tasks spent (and the budgets themselves)."""
MAX_USD = 1e9
MAX_TOKENS = 10**15


@dataclass(frozen=True)
class BudgetView:
    budget: Budget
    spent: Totals

    @property
    def ratio(self) -> float:
        """How much of its tightest limit is spent (1.0 = all of it)."""
        ratios = [self.spent.cost_usd / self.budget.limit_usd]
        if self.budget.limit_tokens:
            ratios.append(self.spent.total_tokens / self.budget.limit_tokens)
        return max(ratios)

    @property
    def exceeded(self) -> bool:
        return self.ratio >= 1.0

    def describe(self) -> str:
        budget = self.budget
        limits = f"${budget.limit_usd:,.2f}" + (f" / {budget.limit_tokens:,} tokens" if budget.limit_tokens else "")
        used = f"${self.spent.cost_usd:,.4f}" + (
            f" / {self.spent.total_tokens:,} tokens" if budget.limit_tokens else ""
        )
        period = "monthly" if budget.period == "month" else "total"
        return f"the {period} budget of {budget.scope} {budget.scope_id} ({limits}) is spent: {used}"


def budget_json(view: BudgetView) -> dict[str, object]:
    budget = view.budget
    return {
        "budget": {
            "id": budget.id,
            "scope": budget.scope,
            "scopeId": budget.scope_id,
            "period": budget.period,
            "limitUsd": budget.limit_usd,
            "limitTokens": budget.limit_tokens,
        },
        "spent": {"usd": round(view.spent.cost_usd, 6), "tokens": view.spent.total_tokens},
        "ratio": round(view.ratio, 4),
    }


class BudgetExceeded(DomainError):
    def __init__(self, view: BudgetView, what: str) -> None:
        super().__init__("BUDGET_EXCEEDED", f"{what}: {view.describe()}", budget_json(view))
        self.view = view


def period_start(period: str, now: datetime) -> str | None:
    return f"{now:%Y-%m}-01" if period == "month" else None


def _period_key(budget: Budget, now: datetime) -> str:
    """A budget's period and limits: a warning is given once for each."""
    return f"{period_start(budget.period, now) or 'total'}:{budget.limit_usd}:{budget.limit_tokens}"


async def view_of(session: AsyncSession, budget: Budget, except_task: str | None = None) -> BudgetView:
    since = period_start(budget.period, utcnow())
    return BudgetView(budget, await spent(session, budget.scope, budget.scope_id, since, except_task))


@dataclass(frozen=True)
class _Scope:
    scope: str
    scope_id: str
    organization: Organization
    workspace_id: str | None
    project_id: str | None


async def _scope(session: AsyncSession, caller: Caller, scope: object, scope_id: str) -> _Scope:
    kind = one_of("scope", scope, SCOPES)
    if kind == "organization":
        return _Scope(kind, scope_id, await visible_organization(session, caller, scope_id), None, None)
    if kind == "workspace":
        workspace, org = await visible_workspace(session, caller, scope_id)
        return _Scope(kind, scope_id, org, workspace.id, None)
    project, workspace, org = await visible_project(session, caller, scope_id)
    return _Scope(kind, scope_id, org, workspace.id, project.id)


async def list_budgets(rt: Runtime, caller: Caller, scope: object, scope_id: str) -> list[BudgetView]:
    """A scope's own budgets with what is spent against them (month first)."""
    async with rt.db.read() as session:
        checked = await _scope(session, caller, scope, scope_id)
        rows = (await session.scalars(select(Budget).where(Budget.scope_id == checked.scope_id))).all()
        return [await view_of(session, row) for row in sorted(rows, key=lambda row: PERIODS.index(row.period))]


def _usd(value: object) -> float:
    if value is None or value is UNSET:
        raise missing("limitUsd")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_USD:
        raise invalid("limitUsd", f"must be a number of USD above 0 and at most {MAX_USD:,.0f}")
    return float(value)


def _tokens(value: object) -> int | None:
    """A whole number; JSON's 5.0 is one too (JSON Schema's `integer` says so)."""
    if value is None or value is UNSET:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_TOKENS:
        raise invalid("limitTokens", "must be a whole number of tokens above 0, or null")
    return value


async def set_budget(
    rt: Runtime, caller: Caller, scope: object, scope_id: str, period: object, limit_usd: object, limit_tokens: object
) -> tuple[BudgetView, bool]:
    """Create or replace a scope's budget for a period (owners only); True when it was created."""
    checked_period = one_of("period", period, PERIODS)
    usd, tokens = _usd(limit_usd), _tokens(limit_tokens)
    async with writing(rt) as session:
        where = await _scope(session, caller, scope, scope_id)
        await require_owner(session, caller, where.organization)
        row = await session.scalar(
            select(Budget).where(Budget.scope_id == where.scope_id, Budget.period == checked_period)
        )
        created = row is None
        if row is None:
            row = Budget(
                scope=where.scope,
                scope_id=where.scope_id,
                organization_id=where.organization.id,
                workspace_id=where.workspace_id,
                project_id=where.project_id,
                period=checked_period,
            )
            session.add(row)
        row.limit_usd, row.limit_tokens, row.updated_by_id, row.updated_at = usd, tokens, caller.user_id, utcnow()
        await session.flush()
        return await view_of(session, row), created


async def delete_budget(rt: Runtime, caller: Caller, scope: object, scope_id: str, period: object) -> str:
    """Delete a scope's budget for a period (owners only); returns its id."""
    checked_period = one_of("period", period, PERIODS)
    async with writing(rt) as session:
        where = await _scope(session, caller, scope, scope_id)
        await require_owner(session, caller, where.organization)
        row = await session.scalar(
            select(Budget).where(Budget.scope_id == where.scope_id, Budget.period == checked_period)
        )
        if row is None:
            raise DomainError(
                "NOT_FOUND", f"{where.scope.capitalize()} {scope_id} has no {checked_period} budget", {"period": period}
            )
        await session.delete(row)
        return row.id


async def applicable(session: AsyncSession, project_id: str) -> Sequence[Budget]:
    """Every budget over a project: its own, its workspace's, its organization's."""
    workspace_id, organization_id = (
        await session.execute(
            select(Workspace.id, Workspace.organization_id)
            .join(Project, Project.workspace_id == Workspace.id)
            .where(Project.id == project_id)
        )
    ).one()
    return (
        await session.scalars(select(Budget).where(Budget.scope_id.in_([project_id, workspace_id, organization_id])))
    ).all()


async def _notify(
    rt: Runtime, project_id: str, view: BudgetView, type: str, task_id: str | None, **fields: object
) -> None:
    subject, subject_id = ("task", task_id) if task_id else ("budget", view.budget.id)
    extra = {"taskId": task_id} if task_id else {}
    await events.record(rt, project_id, subject, subject_id, type, **budget_json(view), **extra, **fields)


async def _warn_once(rt: Runtime, project_id: str, view: BudgetView, task_id: str | None) -> None:
    """A `budget_warning` the first time spending reaches 80% in this period (and with these limits)."""
    key = _period_key(view.budget, utcnow())
    async with writing(rt) as session:
        claimed = await session.execute(
            update(Budget)
            .where(Budget.id == view.budget.id, or_(Budget.warned_for.is_(None), Budget.warned_for != key))
            .values(warned_for=key)
        )
    if claimed.rowcount == 1:  # type: ignore[attr-defined]
        await _notify(rt, project_id, view, "budget_warning", task_id)


async def refuse_if_spent(rt: Runtime, project_id: str, task_type: str, task_id: str | None = None) -> None:
    """Raise BudgetExceeded (and record it as a `budget_exceeded` event) when an agent task of the project
    may not start: one of the budgets over it is spent."""
    if not is_agent(task_type):
        return
    async with rt.db.read() as session:
        views = [await view_of(session, budget) for budget in await applicable(session, project_id)]
    for view in views:
        if view.exceeded:
            await _notify(rt, project_id, view, "budget_exceeded", task_id, action="refused")
            raise BudgetExceeded(view, "The task was refused")


class BudgetGuard:
    """Watches one running task's usage against every budget over its project."""

    def __init__(self, rt: Runtime, project_id: str, task_id: str) -> None:
        self.rt, self.project_id, self.task_id = rt, project_id, task_id
        self.others: list[BudgetView] = []
        """Each budget with what everything else (this task left out) has spent against it."""
        self.read_at = 0.0
        self.warned: set[str] = set()

    async def _read(self) -> None:
        async with self.rt.db.read() as session:
            budgets = await applicable(session, self.project_id)
            self.others = [await view_of(session, budget, except_task=self.task_id) for budget in budgets]
        self.read_at = time.monotonic()

    async def observe(self, task: Totals, final: bool = False) -> None:
        """Check the task's usage so far; raise BudgetExceeded (after its event) when it crosses a limit.

        At the end (`final`) nothing is stopped any more: a crossing is recorded as a `budget_exceeded`
        event with action `reached`."""
        if time.monotonic() - self.read_at > REFRESH_SECONDS:
            await self._read()
        for other in self.others:
            both = Totals()
            both.add(other.spent)
            both.add(task)
            view = BudgetView(other.budget, both)
            if view.exceeded and not final:
                await _notify(self.rt, self.project_id, view, "budget_exceeded", self.task_id, action="stopped")
                raise BudgetExceeded(view, "The task was stopped")
            if view.exceeded and not other.exceeded:
                await _notify(self.rt, self.project_id, view, "budget_exceeded", self.task_id, action="reached")
            elif view.ratio >= WARN_AT and view.budget.id not in self.warned:
                self.warned.add(view.budget.id)
                await _warn_once(self.rt, self.project_id, view, self.task_id)


async def budgets_of(rt: Runtime, caller: Caller, scope_ids: Sequence[str]) -> dict[str, list[BudgetView]]:
    """The budgets of several visible scopes (month first), with what is spent against each."""
    query = select(Budget).where(Budget.scope_id.in_(scope_ids), Budget.organization_id.in_(member_org_ids(caller)))
    found: dict[str, list[BudgetView]] = {scope_id: [] for scope_id in scope_ids}
    async with rt.db.read() as session:
        for row in sorted((await session.scalars(query)).all(), key=lambda row: PERIODS.index(row.period)):
            found[row.scope_id].append(await view_of(session, row))
    return found


async def budgets_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, BudgetView]:
    query = select(Budget).where(Budget.id.in_(ids), Budget.organization_id.in_(member_org_ids(caller)))
    async with rt.db.read() as session:
        return {row.id: await view_of(session, row) for row in (await session.scalars(query)).all()}
