"""Subscription root: live progress, replayed from a cursor first so nothing is missed."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from resolvers import executions, sandbox_operations, tasks
from resolvers.errors import DomainError
from resolvers.events import StoredEvent, follow_project
from resolvers.sandbox_operations import FINISHED
from schema.context import Context
from schema.errors import domain_extensions
from schema.sandbox_types import ProgressEvent, SandboxOperation

GraphInfo = Info[Context, None]
TASK_ENDS = ("task_completed", "task_failed", "task_cancelled")
EXECUTION_ENDS = ("workflow_execution_completed", "workflow_execution_failed", "workflow_execution_cancelled")


async def _follow(
    info: GraphInfo, project_id: str, after: int | None, accept: Callable[[StoredEvent], bool] | None = None
) -> AsyncGenerator[StoredEvent, None]:
    """The project's stream; a refusal carries its code, since subscription errors bypass the extension."""
    try:
        return await follow_project(info.context.rt, info.context.caller, project_id, after, accept)
    except DomainError as error:
        raise GraphQLError(error.message, extensions=domain_extensions(error)) from None


async def _events_until(
    opening: Awaitable[AsyncGenerator[StoredEvent, None]], ends: tuple[str, ...]
) -> AsyncGenerator[ProgressEvent, None]:
    """Events of a stream that `opening` checks access for, until one of the `ends` types."""
    try:
        stream = await opening
    except DomainError as error:
        raise GraphQLError(error.message, extensions=domain_extensions(error)) from None
    try:
        async for event in stream:
            yield ProgressEvent.of(event)
            if event.type in ends:
                return
    finally:
        await stream.aclose()


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Every event of a project; with `after`, the ones after that id first.")
    async def project_events(
        self, info: GraphInfo, project_id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[ProgressEvent, None]:
        stream = await _follow(info, project_id, after)
        try:
            async for event in stream:
                yield ProgressEvent.of(event)
        finally:
            await stream.aclose()

    @strawberry.subscription(
        description="A task's events (task_queued … task_completed); with `after`, those after that id first."
    )
    async def task_events(
        self, info: GraphInfo, task_id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[ProgressEvent, None]:
        opening = tasks.follow_task(info.context.rt, info.context.caller, task_id, after)
        async for event in _events_until(opening, TASK_ENDS):
            yield event

    @strawberry.subscription(
        description="A workflow execution's events and its step tasks' events until it ends; with `after`, "
        "those after that id first."
    )
    async def execution_events(
        self, info: GraphInfo, execution_id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[ProgressEvent, None]:
        opening = executions.follow_execution(info.context.rt, info.context.caller, execution_id, after)
        async for event in _events_until(opening, EXECUTION_ENDS):
            yield event

    @strawberry.subscription(
        description="An asynchronous sandbox operation: its state now, then each change until it ends."
    )
    async def sandbox_operation(
        self, info: GraphInfo, operation_id: strawberry.ID
    ) -> AsyncGenerator[SandboxOperation, None]:
        rt, caller = info.context.rt, info.context.caller
        # Note the log position before reading, so any change after the read arrives as an event.
        cursor = await rt.events.latest_id()
        try:
            operation = await sandbox_operations.get_operation(rt, caller, operation_id)
        except DomainError as error:
            raise GraphQLError(error.message, extensions=domain_extensions(error)) from None
        yield SandboxOperation.of(operation)
        if operation.status in FINISHED:
            return
        stream = await follow_project(
            rt,
            caller,
            operation.project_id,
            cursor,
            lambda e: e.subject_type == "operation" and e.subject_id == operation_id,
        )
        try:
            async for _event in stream:
                operation = await sandbox_operations.get_operation(rt, caller, operation_id)
                yield SandboxOperation.of(operation)
                if operation.status in FINISHED:
                    return
        finally:
            await stream.aclose()
