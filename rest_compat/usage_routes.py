"""Usage and budgets over REST (extensions of the contract).

GET    /{organizations|workspaces|projects}/{id}/usage?from=YYYY-MM-DD&to=YYYY-MM-DD
       tokens and cost in total, by day (each with its models) and by model
GET    /{…}/{id}/budgets                   the scope's budgets with what is spent against them
PUT    /{…}/{id}/budgets/{period} {limitUsd, limitTokens?}   month or total; 201 created, 200 replaced (owners)
DELETE /{…}/{id}/budgets/{period}          204 (owners)
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from resolvers import budgets, usage
from resolvers.runtime import Caller
from rest_compat.agent_shapes import budget_view_json, report_json
from rest_compat.http import ApiRoute, JSONBody, endpoint, field, path_id, read_body, runtime
from rest_compat.spec.agents import Budget, BudgetPeriod, SetBudgetRequest, UsageQuery, UsageReport


def _routes(scope: str, prefix: str) -> list[ApiRoute]:
    owner = scope.capitalize()
    period = {"period": BudgetPeriod}

    @endpoint("GET", f"{prefix}/{{id}}/usage", operation=f"Get{owner}Usage", query=UsageQuery, response=UsageReport)
    async def get_usage(request: Request, caller: Caller) -> Any:
        query = request.query_params
        report = await usage.usage_report(
            runtime(request), caller, scope, path_id(request), query.get("from"), query.get("to")
        )
        return report_json(report)

    @endpoint("GET", f"{prefix}/{{id}}/budgets", operation=f"List{owner}Budgets", response=list[Budget])
    async def list_budgets(request: Request, caller: Caller) -> Any:
        found = await budgets.list_budgets(runtime(request), caller, scope, path_id(request))
        return [budget_view_json(view) for view in found]

    @endpoint(
        "PUT",
        f"{prefix}/{{id}}/budgets/{{period}}",
        operation=f"Set{owner}Budget",
        body=SetBudgetRequest,
        response=Budget,
        path_types=period,
        others={201: Budget},
    )
    async def set_budget(request: Request, caller: Caller) -> Any:
        body = await read_body(request)
        view, created = await budgets.set_budget(
            runtime(request),
            caller,
            scope,
            path_id(request),
            path_id(request, "period"),
            field(body, "limitUsd"),
            field(body, "limitTokens"),
        )
        return JSONBody(budget_view_json(view), status_code=201 if created else 200)

    @endpoint(
        "DELETE",
        f"{prefix}/{{id}}/budgets/{{period}}",
        status=204,
        operation=f"Delete{owner}Budget",
        path_types=period,
    )
    async def delete_budget(request: Request, caller: Caller) -> None:
        await budgets.delete_budget(runtime(request), caller, scope, path_id(request), path_id(request, "period"))

    return [get_usage, list_budgets, set_budget, delete_budget]


routes = [
    *_routes("organization", "/organizations"),
    *_routes("workspace", "/workspaces"),
    *_routes("project", "/projects"),
]
