"""The REST compatibility layer: the original orchestrator's operations, mounted under `/api` and at `/`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Router
from starlette.types import ASGIApp

from rest_compat import (
    agent_routes,
    auth_routes,
    batch_routes,
    companion_routes,
    execution_routes,
    flexy_routes,
    import_routes,
    memory_routes,
    misc_routes,
    network_routes,
    openapi,
    progress_socket,
    secret_routes,
    task_context_routes,
    task_routes,
    tree_routes,
    usage_routes,
    workflow_routes,
)
from rest_compat.body_limit import BodyLimit, rest_limits, rest_too_large
from rest_compat.http import ApiRoute, error_body
from rest_compat.routing import by_path
from store.config import Settings

_CODES = {404: "NOT_FOUND", 405: "VALIDATION_ERROR"}

API_ROUTES: list[ApiRoute] = [
    *auth_routes.routes,
    *tree_routes.routes,
    *misc_routes.routes,
    *flexy_routes.routes,
    *task_context_routes.routes,
    *agent_routes.routes,
    *task_routes.routes,
    *execution_routes.routes,
    *workflow_routes.routes,
    *import_routes.routes,
    *batch_routes.routes,
    *memory_routes.routes,
    *secret_routes.routes,
    *network_routes.routes,
    *usage_routes.routes,
]
"""Every operation, in matching order: a path is matched before any later, more general one."""


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """404 and 405 in the contract's error body (also for paths no mount matches, e.g. with a newline)."""
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "VALIDATION_ERROR")
    message = "No such endpoint" if exc.status_code == 404 else f"{request.method} is not allowed here"
    return JSONResponse(
        error_body(request, code, exc.status_code, message), status_code=exc.status_code, headers=exc.headers
    )


IMPORTS_BY_CONTENT = ("/context/import/document/content",)
"""Routes whose body carries a whole document: they take CONTEXT_IMPORT_MAX_BYTES more than the others."""


def build_api(settings: Settings) -> ASGIApp:
    """The REST sub-application, its request bodies limited; it reads the runtime from the parent app's state."""
    default = settings.request_body_max_bytes
    larger = {path: default + settings.context_import_max_bytes for path in IMPORTS_BY_CONTENT}
    limited = BodyLimit(_routes(), rest_limits(default, larger), rest_too_large)
    # The companions stream bodies of any size through to the sandbox: they stay outside the limit.
    return Router(routes=[*companion_routes.routes, Mount("", limited)])


def _routes() -> Starlette:
    return Starlette(
        routes=[
            *openapi.routes(route.operation for route in API_ROUTES),
            *by_path(API_ROUTES),
            progress_socket.route,
        ],
        exception_handlers={HTTPException: http_error},
    )
