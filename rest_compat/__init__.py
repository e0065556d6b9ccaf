"""The REST compatibility layer: the original orchestrator's operations, mounted under `/api`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from rest_compat import (
    auth_routes,
    execution_routes,
    flexy_routes,
    import_routes,
    memory_routes,
    misc_routes,
    network_routes,
    progress_socket,
    task_context_routes,
    task_routes,
    tree_routes,
    workflow_routes,
)
from rest_compat.http import error_body

_CODES = {404: "NOT_FOUND", 405: "VALIDATION_ERROR"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "VALIDATION_ERROR")
    message = "No such endpoint" if exc.status_code == 404 else f"{request.method} is not allowed here"
    return JSONResponse(
        error_body(request, code, exc.status_code, message), status_code=exc.status_code, headers=exc.headers
    )


def build_api() -> Starlette:
    """The REST sub-application; it reads the runtime from the parent app's state."""
    return Starlette(
        routes=[
            *auth_routes.routes,
            *tree_routes.routes,
            *misc_routes.routes,
            *flexy_routes.routes,
            *task_context_routes.routes,
            *task_routes.routes,
            *execution_routes.routes,
            *workflow_routes.routes,
            *import_routes.routes,
            *memory_routes.routes,
            *network_routes.routes,
            progress_socket.route,
        ],
        exception_handlers={HTTPException: _http_error},
    )
