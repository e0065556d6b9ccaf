"""Plumbing shared by the REST routes: the endpoint decorator, bodies, callers, error bodies."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from resolvers import storage
from resolvers.auth import authenticate
from resolvers.errors import DomainError
from resolvers.runtime import Caller, Runtime
from resolvers.validation import UNSET, Maybe

log = logging.getLogger("orchestrator.rest")

Handler = Callable[..., Awaitable[Any]]


class JSONBody(JSONResponse):
    """JSON rendered by orjson: the same bytes a client parses, several times faster to produce."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def runtime(request: Request) -> Runtime:
    return request.state.runtime


def api_path(request: Request) -> str:
    """The request path as clients of the contract name it: relative to `/api`."""
    path: str = request.scope["path"]
    root = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_body(request: Request, code: str, status: int, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": message,
        "message": message,
        "code": code,
        "statusCode": status,
        "timestamp": now_iso(),
        "path": api_path(request),
    }
    if details is not None:
        body["details"] = details
    return body


def error_response(request: Request, error: DomainError, **extra: Any) -> JSONResponse:
    headers = {}
    if error.code == "TOO_MANY_REQUESTS" and error.details:
        headers["Retry-After"] = str(error.details.get("retryAfter", 1))
    body = {**extra, **error_body(request, error.code, error.status, error.message, error.details)}
    return JSONBody(body, status_code=error.status, headers=headers)


def internal_error_response(request: Request, exc: Exception) -> JSONResponse:
    request_id = request.scope.get("request_id", "-")
    log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id, exc_info=exc)
    message = f"Internal server error (request {request_id})"
    return JSONBody(error_body(request, "INTERNAL_ERROR", 500, message), status_code=500)


def path_id(request: Request, name: str = "id") -> str:
    return request.path_params[name]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_caller(request: Request) -> Caller:
    return await authenticate(runtime(request), bearer_token(request))


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object sent, `{}` for an empty body; 400 for anything else."""
    raw = await request.body()
    if not raw.strip():
        return {}
    return json_object(raw, "Request body")


def json_object(raw: bytes | str, what: str) -> dict[str, Any]:
    """`raw` read as a JSON object; 400 saying what `what` is instead."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise DomainError("VALIDATION_ERROR", f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise DomainError("VALIDATION_ERROR", f"{what} must be a JSON object")
    return value


def field(body: dict[str, Any], *names: str) -> Maybe[Any]:
    """The first of `names` present in the body (aliases), or UNSET when none is."""
    for name in names:
        if name in body:
            return body[name]
    return UNSET


@dataclasses.dataclass(frozen=True)
class Operation:
    """What a route takes and answers, declared beside its handler; the OpenAPI document is made of these.

    `body`, `query` and `response` are wire types (`rest_compat/spec`): a TypedDict's keys are the query
    parameters; `path_types` gives path parameters other than plain strings; `others` documents further
    success answers (status → type) and `headers` the response headers of the success answer.
    """

    method: str
    path: str
    operation_id: str
    status: int
    authenticated: bool
    handler: Handler
    body: Any = None
    query: Any = None
    response: Any = None
    path_types: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    others: Mapping[int, Any] = dataclasses.field(default_factory=dict)
    headers: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class ApiRoute(Route):
    """A route of one method, with its `Operation`."""

    def __init__(self, operation: Operation, app: Callable[[Request], Awaitable[Response]]) -> None:
        super().__init__(operation.path, app, methods=[operation.method], name=operation.handler.__name__)
        self.operation = operation


def endpoint(
    method: str,
    path: str,
    status: int = 200,
    authenticated: bool = True,
    *,
    operation: str,
    body: Any = None,
    query: Any = None,
    response: Any = None,
    path_types: Mapping[str, Any] | None = None,
    others: Mapping[int, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
) -> Callable[[Handler], ApiRoute]:
    """Turn `handler(request, caller)` (or `handler(request)` when public) into a route named `operation`.

    A returned `Response` goes out as is; other values become JSON with `status`,
    and `None` with 204. Domain errors become the contract's error body.
    """
    if (response is None) != (status == 204):
        raise ValueError(f"{method} {path}: declare the response type of every answer but 204")

    def wrap(handler: Handler) -> ApiRoute:
        async def run(request: Request) -> Response:
            try:
                if authenticated:
                    result = await handler(request, await current_caller(request))
                else:
                    result = await handler(request)
            except DomainError as error:
                return error_response(request, error)
            except Exception as exc:  # noqa: BLE001 - the one place that turns surprises into a 500 body
                if (full := storage.full_error(runtime(request), exc)) is not None:
                    return error_response(request, full)
                return internal_error_response(request, exc)
            if isinstance(result, Response):
                return result
            if result is None:
                return Response(status_code=204)
            return JSONBody(result, status_code=status)

        spec = Operation(
            method=method,
            path=path,
            operation_id=operation,
            status=status,
            authenticated=authenticated,
            handler=handler,
            body=body,
            query=query,
            response=response,
            path_types=path_types or {},
            others=others or {},
            headers=headers or {},
        )
        return ApiRoute(spec, run)

    return wrap
