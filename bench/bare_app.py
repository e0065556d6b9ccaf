"""The baseline for `rest_vs_graphql.py`: the least a Starlette app can do to answer `GET /api/projects`.

    BENCH_DATABASE_URL=sqlite+aiosqlite:////path/to/orchestrator.db \\
        .venv/bin/python -m uvicorn --app-dir bench bare_app:app --port 9901

It opens the service's SQLite database with SQLAlchemy async (aiosqlite), checks no token, runs one
SELECT of the projects table per request and returns the same JSON as the REST endpoint (the same
keys, timestamps and workflow-state defaults), through Starlette's `JSONResponse` as the service does.
It imports nothing from the service, so it measures the framework, driver and database alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DEFAULT_PHASE = "rapid-prototyping"
SELECT_PROJECTS = text(
    "SELECT id, workspace_id, name, folder_path, sandbox_id, sandbox_name, workflow_id, workflow_version_id,"
    " workflow_state, ai_config, created_at, updated_at FROM projects ORDER BY created_at, id"
)

engine = create_async_engine(os.environ.get("BENCH_DATABASE_URL", "sqlite+aiosqlite:///data/orchestrator.db"))


def iso(stored: str | None) -> str | None:
    """SQLite keeps UTC timestamps as naive text; the REST shape is ISO 8601 with milliseconds and `Z`."""
    if stored is None:
        return None
    return datetime.fromisoformat(stored).isoformat(timespec="milliseconds") + "Z"


def json_column(stored: str | None) -> Any:
    return None if stored is None else json.loads(stored)


def workflow_state(stored: str | None) -> dict[str, Any] | None:
    state = json_column(stored)
    if not state:
        return None
    return {"currentPhaseId": DEFAULT_PHASE, "currentStepId": None, "stepStatuses": {}, "lastUpdated": None, **state}


def project_json(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "workspaceId": row.workspace_id,
        "name": row.name,
        "folderPath": row.folder_path,
        "sandboxId": row.sandbox_id,
        "sandboxName": row.sandbox_name,
        "workflowId": row.workflow_id,
        "workflowVersionId": row.workflow_version_id,
        "workflowState": workflow_state(row.workflow_state),
        "aiConfig": json_column(row.ai_config),
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


async def list_projects(request: Request) -> JSONResponse:
    async with engine.connect() as connection:
        rows = (await connection.execute(SELECT_PROJECTS)).all()
    return JSONResponse([project_json(row) for row in rows])


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = Starlette(routes=[Route("/api/projects", list_projects)], lifespan=lifespan)
