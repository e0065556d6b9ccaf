"""GraphQL types for tasks: the task record, a page and a cursor connection of tasks, a project's queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import projects
from resolvers.tasks import QueueStatus as QueueStatusView
from schema.context import Context
from schema.pagination import PageInfo, encode_cursor, page_info
from schema.sandbox_types import Sandbox
from store import models

if TYPE_CHECKING:
    from schema.types import Project


@strawberry.type
class TaskArtifact:
    path: str
    type: str
    size: int | None
    created_at: str | None

    @classmethod
    def of(cls, artifact: dict[str, object]) -> TaskArtifact:
        size = artifact.get("size")
        created = artifact.get("createdAt")
        return cls(
            path=str(artifact["path"]),
            type=str(artifact.get("type") or "file"),
            size=size if isinstance(size, int) else None,
            created_at=created if isinstance(created, str) else None,
        )


@strawberry.type
class ContextUsage:
    retrieved: int = strawberry.field(description="How many context memories the task asked for.")
    injected: int = strawberry.field(description="How many of them were there to go into its prompt.")
    generated: int = strawberry.field(description="1 when the task's dialog was kept as a memory.")


@strawberry.type
class Task:
    id: strawberry.ID
    project_id: str
    sandbox_id: str | None
    step_id: str | None
    title: str
    description: str | None
    prompt: str
    parameters: JSON | None
    task_type: str
    is_adhoc: bool
    status: str
    result: str | None
    error: str | None
    terminal_output: str | None
    artifacts: list[TaskArtifact]
    context_memory_ids: list[str]
    user_id: str | None
    created_at: datetime
    start_time: datetime | None
    end_time: datetime | None
    duration: int | None = strawberry.field(description="Milliseconds from start to end.")
    exit_code: int | None

    @classmethod
    def of(cls, task: models.Task) -> Task:
        return cls(
            id=strawberry.ID(task.id),
            project_id=task.project_id,
            sandbox_id=task.sandbox_id,
            step_id=task.step_id,
            title=task.title,
            description=task.description,
            prompt=task.prompt,
            parameters=task.parameters,
            task_type=task.task_type,
            is_adhoc=task.is_adhoc,
            status=task.status,
            result=task.result,
            error=task.error,
            terminal_output=task.terminal_output,
            artifacts=[TaskArtifact.of(artifact) for artifact in task.artifacts or []],
            context_memory_ids=list(task.context_memory_ids or []),
            user_id=task.user_id,
            created_at=task.created_at,
            start_time=task.start_time,
            end_time=task.end_time,
            duration=task.duration,
            exit_code=task.exit_code,
        )

    @strawberry.field
    async def project(self, info: Info[Context, None]) -> Annotated[Project, strawberry.lazy("schema.types")]:
        from schema.types import Project

        return Project.of(await projects.get_project(info.context.rt, info.context.caller, self.project_id))

    @strawberry.field(description="The project's sandbox, with its live status; null when it has none.")
    async def sandbox(self, info: Info[Context, None]) -> Sandbox | None:
        view = await info.context.loaders.sandbox_of_project.load(self.project_id)
        return Sandbox.of(view) if view else None

    @strawberry.field(description="The memory the task's dialog was kept as; null when none was.")
    async def generated_memory_id(self, info: Info[Context, None]) -> str | None:
        return (await info.context.loaders.context_usage.load(str(self.id))).generated_memory_id

    @strawberry.field(description="The task's use of context memory, as `taskContext` counts it.")
    async def context_usage(self, info: Info[Context, None]) -> ContextUsage:
        usage = await info.context.loaders.context_usage.load(str(self.id))
        return ContextUsage(retrieved=usage.retrieved, injected=usage.injected, generated=usage.generated)


@strawberry.type
class TaskPage:
    tasks: list[Task]
    total: int = strawberry.field(description="How many tasks match the filters in all.")


@strawberry.type
class QueueStatus:
    project_id: str
    sandbox_id: str | None
    pending: int
    running: int

    @classmethod
    def of(cls, status: QueueStatusView) -> QueueStatus:
        return cls(
            project_id=status.project_id, sandbox_id=status.sandbox_id, pending=status.pending, running=status.running
        )


@strawberry.type
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type
class TaskConnection:
    edges: list[TaskEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="How many tasks match the filters in all.")


def task_connection(found: Sequence[models.Task], total: int, start: int) -> TaskConnection:
    edges = [TaskEdge(cursor=encode_cursor(start + index), node=Task.of(task)) for index, task in enumerate(found)]
    end = edges[-1].cursor if edges else None
    return TaskConnection(edges=edges, page_info=page_info(start, len(edges), total, end), total_count=total)
