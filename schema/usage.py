"""Tokens, cost and budgets (resolvers/usage.py, resolvers/budgets.py): what tasks spent, per organization,
workspace and project by day and by model, and the budgets that stop work."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated, ClassVar

import strawberry

from resolvers import budgets, usage
from resolvers.budgets import BudgetView
from resolvers.pages import page_request
from resolvers.usage import DayUsage as DayView
from resolvers.usage import ModelUsage as ModelView
from resolvers.usage import Totals
from resolvers.usage import UsageReport as ReportView
from schema.connections import After, Before, Connection, First, Last, listed_connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.relay import Node, global_id, typed_id

OWNERS = {"Organization": "organization", "Workspace": "workspace", "Project": "project"}


@strawberry.enum(description="Where a cost figure comes from.")
class CostSource(Enum):
    REPORTED = strawberry.enum_value("reported", description="The agent's CLI reported it.")
    ESTIMATED = strawberry.enum_value("estimated", description="Its tokens priced with the price table.")
    UNKNOWN = strawberry.enum_value("unknown", description="A model without a price: counted as 0.")
    MIXED = strawberry.enum_value("mixed", description="A sum of figures of several sources.")


@strawberry.type(description="Tokens and their cost.")
class TokenUsage:
    input_tokens: int = strawberry.field(description="Input tokens not read from the prompt cache.")
    output_tokens: int = strawberry.field(description="Output tokens.")
    cache_read_tokens: int = strawberry.field(description="Input tokens read from the prompt cache.")
    cache_write_tokens: int = strawberry.field(description="Input tokens written to the prompt cache.")
    total_tokens: int = strawberry.field(description="All four.")
    cost_usd: float = strawberry.field(description="What they cost, in US dollars.")
    cost_source: CostSource | None = strawberry.field(description="Where the cost comes from; null for none.")

    @classmethod
    def of(cls, totals: Totals) -> TokenUsage:
        return cls(
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cache_read_tokens=totals.cache_read_tokens,
            cache_write_tokens=totals.cache_write_tokens,
            total_tokens=totals.total_tokens,
            cost_usd=round(totals.cost_usd, 6),
            cost_source=CostSource(totals.cost_source) if totals.cost_source else None,
        )


@strawberry.type(description="What one model was used for.")
class ModelUsage:
    model: str = strawberry.field(description="The model, as the CLI named it (`unknown` when it did not).")
    usage: TokenUsage = strawberry.field(description="Its tokens and cost.")

    @classmethod
    def of(cls, view: ModelView) -> ModelUsage:
        return cls(model=view.model, usage=TokenUsage.of(view.totals))


@strawberry.type(description="What was spent on one day (UTC; a task counts on the day it started).")
class DayUsage:
    day: date = strawberry.field(description="The day.")
    usage: TokenUsage = strawberry.field(description="Its tokens and cost.")
    model_items: strawberry.Private[list[ModelUsage]]

    @classmethod
    def of(cls, view: DayView) -> DayUsage:
        return cls(
            day=date.fromisoformat(view.day),
            usage=TokenUsage.of(view.totals),
            model_items=[ModelUsage.of(m) for m in view.models],
        )

    @strawberry.field(description="That day's spending by model, by model name.")
    async def models(
        self, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[ModelUsage]:
        return listed_connection(
            self.model_items, lambda item: item.model, "day-models", page_request(first, after, last, before)
        )


@strawberry.type(description="What the tasks of an organization, workspace or project spent.")
class UsageReport:
    since: date | None = strawberry.field(description="The first day counted; null for from the beginning.")
    until: date | None = strawberry.field(description="The last day counted; null for up to now.")
    total: TokenUsage = strawberry.field(description="Everything in the period.")
    day_items: strawberry.Private[list[DayUsage]]
    model_items: strawberry.Private[list[ModelUsage]]

    @classmethod
    def of(cls, report: ReportView) -> UsageReport:
        return cls(
            since=date.fromisoformat(report.since) if report.since else None,
            until=date.fromisoformat(report.until) if report.until else None,
            total=TokenUsage.of(report.total),
            day_items=[DayUsage.of(day) for day in report.days],
            model_items=[ModelUsage.of(m) for m in report.models],
        )

    @strawberry.field(description="Spending by day, oldest first.")
    async def days(
        self, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[DayUsage]:
        request = page_request(first, after, last, before)
        return listed_connection(self.day_items, lambda item: item.day.isoformat(), "usage-days", request)

    @strawberry.field(description="Spending by model, by model name.")
    async def models(
        self, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[ModelUsage]:
        return listed_connection(
            self.model_items, lambda item: item.model, "usage-models", page_request(first, after, last, before)
        )


@strawberry.enum(description="Which spending a budget limits.")
class BudgetPeriod(Enum):
    MONTH = strawberry.enum_value("month", description="Each calendar month (UTC).")
    TOTAL = strawberry.enum_value("total", description="Everything, ever.")


@strawberry.enum(description="What a budget belongs to.")
class BudgetScope(Enum):
    ORGANIZATION = strawberry.enum_value("organization", description="Every project of the organization.")
    WORKSPACE = strawberry.enum_value("workspace", description="Every project of the workspace.")
    PROJECT = strawberry.enum_value("project", description="The project.")


@strawberry.type(description="A limit on what agent tasks may spend; a task that would cross it is refused or stopped.")
class Budget(Node):
    scope: BudgetScope = strawberry.field(description="What it belongs to.")
    period: BudgetPeriod = strawberry.field(description="Which spending it limits.")
    limit_usd: float = strawberry.field(description="US dollars.")
    limit_tokens: int | None = strawberry.field(description="Tokens (all kinds), when it limits them too.")
    spent: TokenUsage = strawberry.field(description="What is spent against it in its period, running tasks included.")
    ratio: float = strawberry.field(description="How much of its tightest limit is spent (1 = all).")
    exceeded: bool = strawberry.field(description="Whether it is spent: agent tasks are refused.")
    created_at: datetime = strawberry.field(description="When it was set first.")
    updated_at: datetime = strawberry.field(description="When its limits last changed.")

    @classmethod
    def of(cls, view: BudgetView) -> Budget:
        budget = view.budget
        return cls(
            id=global_id("Budget", budget.id),
            database_id=budget.id,
            scope=BudgetScope(budget.scope),
            period=BudgetPeriod(budget.period),
            limit_usd=budget.limit_usd,
            limit_tokens=budget.limit_tokens,
            spent=TokenUsage.of(view.spent),
            ratio=round(view.ratio, 4),
            exceeded=view.exceeded,
            created_at=budget.created_at,
            updated_at=budget.updated_at,
        )


Day = Annotated[date | None, strawberry.argument(description="A day (YYYY-MM-DD, UTC).")]


@strawberry.interface(
    description="Something whose agent tasks spend tokens and money: an organization, workspace or project."
)
class SpendingScope(Node):
    SCOPE: ClassVar[str]

    @strawberry.field(description="What its tasks spent, in total, by day and by model (all time unless bounded).")
    async def usage(self, info: GraphInfo, since: Day = None, until: Day = None) -> UsageReport:
        rt, caller, scope = info.context.rt, info.context.caller, self.SCOPE
        loader = info.context.loaders.batch(
            ("usage", scope, since, until), lambda ids: usage.usage_reports(rt, caller, scope, ids, since, until)
        )
        return UsageReport.of(await loader.load(self.database_id))

    @strawberry.field(description="Its own budgets (monthly first).")
    async def budgets(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Budget]:
        rt, caller = info.context.rt, info.context.caller
        loader = info.context.loaders.batch(("budgets",), lambda ids: budgets.budgets_of(rt, caller, ids))
        items = [Budget.of(view) for view in await loader.load(self.database_id)]
        order = {period: str(index) for index, period in enumerate(budgets.PERIODS)}
        request = page_request(first, after, last, before)
        return listed_connection(items, lambda item: order[item.period.value], "budgets", request)


def _owner(value: object) -> tuple[str, str]:
    type_name, database_id = typed_id("ownerId", value, *OWNERS)
    return OWNERS[type_name], database_id


@strawberry.input(description="A budget to set: created, or its limits replaced.")
class SetBudgetInput:
    owner_id: strawberry.ID = strawberry.field(description="The organization, workspace or project it limits.")
    period: BudgetPeriod = strawberry.field(description="Each month, or in total.")
    limit_usd: float = strawberry.field(description="US dollars (above 0).")
    limit_tokens: int | None = strawberry.field(default=None, description="Tokens (all kinds), if also limited.")


@strawberry.input(description="A budget to delete.")
class DeleteBudgetInput:
    owner_id: strawberry.ID = strawberry.field(description="The organization, workspace or project it limits.")
    period: BudgetPeriod = strawberry.field(description="Its period.")


@strawberry.type(description="The result of setBudget.")
class SetBudgetPayload(Payload):
    budget: Budget | None = strawberry.field(default=None, description="The budget, with what is spent against it.")
    created: bool | None = strawberry.field(default=None, description="True when it did not exist before.")


@strawberry.type(description="The result of deleteBudget.")
class DeleteBudgetPayload(Payload):
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted budget's id.")


@strawberry.type
class UsageMutations:
    @strawberry.mutation(description="Set a budget of an organization, workspace or project (owners only).")
    async def set_budget(self, info: GraphInfo, input: SetBudgetInput) -> SetBudgetPayload:
        async def set_one() -> tuple[BudgetView, bool]:
            scope, scope_id = _owner(input.owner_id)
            return await budgets.set_budget(
                info.context.rt,
                info.context.caller,
                scope,
                scope_id,
                input.period.value,
                input.limit_usd,
                input.limit_tokens,
            )

        result, errors = await attempt(set_one())
        if result is None:
            return SetBudgetPayload(user_errors=errors)
        return SetBudgetPayload(budget=Budget.of(result[0]), created=result[1])

    @strawberry.mutation(description="Delete a budget of an organization, workspace or project (owners only).")
    async def delete_budget(self, info: GraphInfo, input: DeleteBudgetInput) -> DeleteBudgetPayload:
        async def delete() -> str:
            scope, scope_id = _owner(input.owner_id)
            return await budgets.delete_budget(
                info.context.rt, info.context.caller, scope, scope_id, input.period.value
            )

        deleted, errors = await attempt(delete())
        return DeleteBudgetPayload(deleted_id=global_id("Budget", deleted) if deleted else None, user_errors=errors)
