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
from starlette.routing import Route

from resolvers import budgets, usage
from resolvers.runtime import Caller
from rest_compat.agent_shapes import budget_view_json, report_json
from rest_compat.http import JSONBody, endpoint, field, path_id, read_body, runtime


def _routes(scope: str, prefix: str) -> list[Route]:
    @endpoint("GET", f"{prefix}/{{id}}/usage")
    async def get_usage(request: Request, caller: Caller) -> Any:
        query = request.query_params
        report = await usage.usage_report(
            runtime(request), caller, scope, path_id(request), query.get("from"), query.get("to")
        )
        return report_json(report)

    @endpoint("GET", f"{prefix}/{{id}}/budgets")
    async def list_budgets(request: Request, caller: Caller) -> Any:
        found = await budgets.list_budgets(runtime(request), caller, scope, path_id(request))
        return [budget_view_json(view) for view in found]

    @endpoint("PUT", f"{prefix}/{{id}}/budgets/{{period}}")
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

    @endpoint("DELETE", f"{prefix}/{{id}}/budgets/{{period}}")
    async def delete_budget(request: Request, caller: Caller) -> None:
        await budgets.delete_budget(runtime(request), caller, scope, path_id(request), path_id(request, "period"))

    for route in (get_usage, list_budgets, set_budget, delete_budget):
        route.name = f"{scope}_{route.name}"
    return [get_usage, list_budgets, set_budget, delete_budget]


routes = [
    *_routes("organization", "/organizations"),
    *_routes("workspace", "/workspaces"),
    *_routes("project", "/projects"),
]
