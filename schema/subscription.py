"""Subscription root: live progress, replayed from `after` first so that nothing is missed or repeated."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError

from resolvers import executions, sandbox_operations, tasks
from resolvers.errors import DomainError
from resolvers.events import StoredEvent, follow_project
from resolvers.sandbox_operations import FINISHED
from schema.context import GraphInfo
from schema.errors import domain_extensions
from schema.events import EXECUTION_ENDS, TASK_ENDS, EventId, ProjectEvent, event_of
from schema.relay import database_id
from schema.sandboxes import SandboxOperation

After = Annotated[
    EventId | None,
    strawberry.argument(description="The last event id you saw: the events after it come first, then live ones."),
]


async def _opened(opening: Awaitable[AsyncGenerator[StoredEvent, None]]) -> AsyncGenerator[StoredEvent, None]:
    """A stream whose access was checked; a refusal is a top-level error with its code."""
    try:
        return await opening
    except DomainError as error:
        raise GraphQLError(error.message, extensions=domain_extensions(error)) from None


def _checked_id(field: str, value: object, type_name: str) -> str:
    try:
        return database_id(field, value, type_name)
    except DomainError as error:
        raise GraphQLError(error.message, extensions=domain_extensions(error)) from None


async def _events(
    info: GraphInfo, stream: AsyncGenerator[StoredEvent, None], ends: tuple[str, ...] = ()
) -> AsyncGenerator[Any, None]:
    """Typed events of a stream, until one of the `ends` types (if any); each sees the database afresh."""
    try:
        async for event in stream:
            info.context.forget_loaded()
            yield event_of(event)
            if event.type in ends:
                return
    finally:
        await stream.aclose()


@strawberry.type(description="Live progress: each stream replays from `after`, then follows live events.")
class Subscription:
    @strawberry.subscription(description="Every event of a project, as long as you stay subscribed.")
    async def project_events(
        self,
        info: GraphInfo,
        project_id: Annotated[strawberry.ID, strawberry.argument(description="The project.")],
        after: After = None,
    ) -> AsyncGenerator[ProjectEvent, None]:
        checked = _checked_id("projectId", project_id, "Project")
        stream = await _opened(follow_project(info.context.rt, info.context.caller, checked, after))
        async for event in _events(info, stream):
            yield event

    @strawberry.subscription(description="A task's events, from task_queued to its end (completed, failed, cancelled).")
    async def task_events(
        self,
        info: GraphInfo,
        task_id: Annotated[strawberry.ID, strawberry.argument(description="The task.")],
        after: After = None,
    ) -> AsyncGenerator[ProjectEvent, None]:
        checked = _checked_id("taskId", task_id, "Task")
        stream = await _opened(tasks.follow_task(info.context.rt, info.context.caller, checked, after))
        async for event in _events(info, stream, TASK_ENDS):
            yield event

    @strawberry.subscription(
        description="A workflow execution's events and its step tasks' events, until the execution ends."
    )
    async def execution_events(
        self,
        info: GraphInfo,
        execution_id: Annotated[strawberry.ID, strawberry.argument(description="The execution.")],
        after: After = None,
    ) -> AsyncGenerator[ProjectEvent, None]:
        checked = _checked_id("executionId", execution_id, "Execution")
        stream = await _opened(executions.follow_execution(info.context.rt, info.context.caller, checked, after))
        async for event in _events(info, stream, EXECUTION_ENDS):
            yield event

    @strawberry.subscription(
        description="A background sandbox operation: its state now, then each change until it ends."
    )
    async def sandbox_operation(
        self,
        info: GraphInfo,
        operation_id: Annotated[strawberry.ID, strawberry.argument(description="The operation.")],
    ) -> AsyncGenerator[SandboxOperation, None]:
        rt, caller = info.context.rt, info.context.caller
        checked = _checked_id("operationId", operation_id, "SandboxOperation")
        # Note the log position before reading, so any change after the read arrives as an event.
        cursor = await rt.events.latest_id()
        try:
            operation = await sandbox_operations.get_operation(rt, caller, checked)
        except DomainError as error:
            raise GraphQLError(error.message, extensions=domain_extensions(error)) from None
        yield SandboxOperation.of(operation)
        if operation.status in FINISHED:
            return
        stream = await _opened(
            follow_project(
                rt,
                caller,
                operation.project_id,
                cursor,
                lambda e: e.subject_type == "operation" and e.subject_id == checked,
            )
        )
        try:
            async for _event in stream:
                operation = await sandbox_operations.get_operation(rt, caller, checked)
                yield SandboxOperation.of(operation)
                if operation.status in FINISHED:
                    return
        finally:
            await stream.aclose()
