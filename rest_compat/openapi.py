"""The REST layer's OpenAPI 3.1 document, generated from the routes' own declarations, and its reference page.

Each route's `Operation` (method, path, operationId, body, query, response and header types) becomes one
operation; the wire types become `components.schemas` through pydantic's JSON Schema generator, so the
document says what the code answers and cannot drift from it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, get_type_hints

import orjson
from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from rest_compat.http import Operation
from rest_compat.spec import ErrorBody, key_type

REF = "#/components/schemas/{model}"
ASSETS = Path(__file__).resolve().parent.parent / "web" / "node_modules" / "swagger-ui-dist"
"""Swagger UI's files, installed by `make setup` from the npm package swagger-ui-dist (never committed)."""
TAGS = {
    "auth_routes": "Auth",
    "tree_routes": "Organizations, workspaces and projects",
    "workflow_routes": "Workflows",
    "execution_routes": "Workflow executions",
    "task_routes": "Tasks",
    "task_context_routes": "Task context",
    "misc_routes": "Settings, folders and health",
    "flexy_routes": "Sandboxes",
    "memory_routes": "Context memory",
    "batch_routes": "Context memory",
    "import_routes": "Document import and sync",
}
REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content"}
DESCRIPTION = """The REST compatibility layer of the orchestrator: the original AInTandem orchestrator's operations,
with the same paths, status codes and JSON shapes, so that `@aintandem/sdk-core` and the web console work
unchanged. It answers under `/api` and at `/` alike; GraphQL lives at `/graphql`.

Authenticate with `POST /auth/login` and send `Authorization: Bearer <token>`. Every error answers
`{error, message, code, statusCode, details?, timestamp, path}`.

Live progress: `ws(s)://HOST/api/progress/subscribe/{projectId}?token=<token>[&after=<eventId>]` pushes every
event of the project as a JSON text frame."""


class _Generator(GenerateJsonSchema):
    """Schemas without the generated per-property titles ("Folderpath"), which only add noise."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _summary(operation: Operation) -> tuple[str, str]:
    doc = (operation.handler.__doc__ or "").strip()
    if doc:
        first, _, rest = doc.partition("\n")
        return first.strip().rstrip("."), " ".join(rest.split())
    words = re.sub(r"(?<!^)(?=[A-Z][a-z])", " ", operation.operation_id).split()
    return " ".join([words[0], *(word.lower() for word in words[1:])]), ""


def _fields(kind: Any) -> list[tuple[str, Any, bool]]:
    """A query TypedDict's parameters: name, type (with its constraints), required."""
    required: frozenset[str] = kind.__required_keys__
    hints = get_type_hints(kind, include_extras=True)
    return [(name, key_type(hint), name in required) for name, hint in hints.items()]


class _Collector:
    """Every type the document names, keyed, so pydantic generates them in one pass with shared definitions."""

    def __init__(self) -> None:
        self.inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = []

    def add(self, key: tuple[Any, ...], kind: Any, mode: str) -> tuple[Any, ...]:
        self.inputs.append((key, mode, TypeAdapter(kind)))
        return (key, mode)

    def generate(self) -> tuple[dict[Any, Any], dict[str, Any]]:
        mapping, definitions = TypeAdapter.json_schemas(self.inputs, ref_template=REF, schema_generator=_Generator)
        return dict(mapping), definitions.get("$defs", {})


def _parameters(operation: Operation, collect: _Collector) -> list[tuple[dict[str, Any], tuple[Any, ...]]]:
    found = []
    for name in re.findall(r"\{([^}:]+)", operation.path):
        key = collect.add((operation.operation_id, "path", name), operation.path_types.get(name, str), "validation")
        found.append(({"name": name, "in": "path", "required": True}, key))
    if operation.query is not None:
        for name, hint, required in _fields(operation.query):
            key = collect.add((operation.operation_id, "query", name), hint, "validation")
            found.append(({"name": name, "in": "query", "required": required}, key))
    return found


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def build_document(operations: Sequence[Operation]) -> dict[str, Any]:
    collect = _Collector()
    error_key = collect.add(("ErrorBody",), ErrorBody, "serialization")
    planned = []
    for operation in operations:
        parameters = _parameters(operation, collect)
        body = collect.add((operation.operation_id, "body"), operation.body, "validation") if operation.body else None
        answers = {operation.status: operation.response, **operation.others}
        responses = {
            status: collect.add((operation.operation_id, status), kind, "serialization")
            for status, kind in answers.items()
            if kind is not None
        }
        headers = {
            name: collect.add((operation.operation_id, "header", name), kind, "serialization")
            for name, kind in operation.headers.items()
        }
        planned.append((operation, parameters, body, responses, headers))
    schemas, definitions = collect.generate()

    paths: dict[str, dict[str, Any]] = {}
    for operation, parameters, body, responses, headers in planned:
        summary, description = _summary(operation)
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": summary,
            "tags": [TAGS.get(operation.handler.__module__.rsplit(".", 1)[-1], "Other")],
            "parameters": [{**parameter, "schema": schemas[key]} for parameter, key in parameters],
            "responses": {},
        }
        if description:
            entry["description"] = description
        if body is not None:
            required = bool(getattr(operation.body, "__required_keys__", True))
            entry["requestBody"] = {"required": required, "content": _content(schemas[body])}
        for status in sorted({operation.status, *operation.others}):
            answer: dict[str, Any] = {"description": REASONS.get(status, str(status))}
            if status in responses:
                answer["content"] = _content(schemas[responses[status]])
            if status == operation.status and headers:
                answer["headers"] = {name: {"schema": schemas[key]} for name, key in headers.items()}
            entry["responses"][str(status)] = answer
        entry["responses"]["default"] = {"description": "An error", "content": _content(schemas[error_key])}
        if not operation.authenticated:
            entry["security"] = []
        paths.setdefault(operation.path, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Orchestrator REST API",
            "version": metadata.version("orchestrator"),
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/api"}, {"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearerAuth": []}],
    }


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Orchestrator REST API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="reference"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
SwaggerUIBundle({{url: {document}, dom_id: "#reference", persistAuthorization: true, deepLinking: true}});
</script>
</body>
</html>
"""
_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reference page unavailable</title></head>
<body><p>The reference page's files are not installed: run <code>make setup</code>.
The document itself is at <a href="{document}">{document}</a>.</p></body></html>
"""


def routes(operations: Iterable[Operation]) -> list[BaseRoute]:
    """`/openapi.json`, the reference page `/docs` and its files under `/docs/assets`."""
    listed = list(operations)

    @cache
    def document_bytes() -> bytes:
        return orjson.dumps(build_document(listed))

    async def openapi_json(request: Request) -> Response:
        return Response(document_bytes(), media_type="application/json")

    async def reference_page(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        document = f"{root}/openapi.json"
        if not (ASSETS / "swagger-ui-bundle.js").is_file():
            return HTMLResponse(_MISSING.format(document=html.escape(document)), status_code=503)
        page = _PAGE.format(assets=html.escape(f"{root}/docs/assets"), document=orjson.dumps(document).decode())
        return HTMLResponse(page)

    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", reference_page, methods=["GET"]),
        Mount("/docs/assets", StaticFiles(directory=ASSETS, check_dir=False)),
    ]
