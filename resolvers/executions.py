"""Workflow executions (operations 31-37): create, start, pause, resume, cancel, read and list.

An execution pins the definition of the workflow version it was created from; the engine
(`execution_engine.py`) runs it. Executions belong to their project: whoever may not see the project
gets 404 for them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import events, workflows
from resolvers.access import in_visible_project, visible_execution, visible_project
from resolvers.errors import DomainError, invalid, not_found
from resolvers.events import StoredEvent
from resolvers.execution_plan import EXECUTION_ENDS, initial_phases, is_executable
from resolvers.pages import Listing, Ordering
from resolvers.runtime import Caller, Runtime
from resolvers.tx import writing
from resolvers.validation import UNSET, one_of, optional_object, required_text, whole_number
from store.models import Sandbox, Workflow, WorkflowExecution, WorkflowVersion, utcnow

STATUSES = ("pending", "initializing", "running", "paused", "completed", "failed", "cancelled")
TRIGGERS = ("manual", "api", "schedule")
MAX_PAGE = 100


def _version_number(value: Any) -> int | None:
    if value is None or value is UNSET:
        return None
    number = whole_number(value) if not isinstance(value, str) else None
    if number is None or number < 1:
        raise invalid("metadata.workflowVersion", "must be a positive whole number")
    return number


async def _pinned(
    session: AsyncSession, workflow: Workflow, wanted: int | None
) -> tuple[int, str | None, dict[str, Any]]:
    """The version an execution runs: the one asked for, else the workflow's latest snapshot when it is
    published, else (a draft) its working copy. Returns (number, snapshot id, definition)."""
    number = wanted if wanted is not None else workflow.version
    snapshot = await session.scalar(
        select(WorkflowVersion).where(WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.version == number)
    )
    if wanted is not None and snapshot is None:
        raise invalid("metadata.workflowVersion", f"workflow {workflow.id} has no version {wanted}", "INVALID_VALUE")
    if snapshot is not None and (wanted is not None or workflow.status == "published"):
        return snapshot.version, snapshot.id, snapshot.definition
    return workflow.version, None, workflow.definition


async def create_execution(
    rt: Runtime, caller: Caller, workflow_id: str, project_id: object, metadata: object = None
) -> WorkflowExecution:
    """A pending execution of the workflow in the project (operation 31); `start` runs it."""
    project = required_text("projectId", project_id, 36)
    details = optional_object("metadata", metadata) or {}
    parameters = optional_object("metadata.inputParameters", details.get("inputParameters"))
    trigger = details.get("triggeredBy")
    triggered_by = "api" if trigger in (None, UNSET) else one_of("metadata.triggeredBy", trigger, TRIGGERS)
    wanted = _version_number(details.get("workflowVersion"))
    async with writing(rt) as session:
        workflow = await workflows.visible_workflow(session, caller, workflow_id)
        if workflow.status == "archived":
            raise DomainError(
                "INVALID_STATUS", f"Workflow {workflow_id} is archived and cannot be executed", {"status": "archived"}
            )
        await visible_project(session, caller, project)
        number, snapshot_id, definition = await _pinned(session, workflow, wanted)
        execution = WorkflowExecution(
            workflow_id=workflow.id,
            workflow_name=workflow.name,
            workflow_version=number,
            workflow_version_id=snapshot_id,
            definition=definition,
            project_id=project,
            user_id=caller.user_id,
            status="pending",
            phases=initial_phases(definition),
            current_phase=0,
            input_parameters=parameters,
            triggered_by=triggered_by,
        )
        session.add(execution)
    await rt.executions.event(execution, "workflow_execution_created", input=parameters)
    return execution


@asynccontextmanager
async def _transition(rt: Runtime, caller: Caller, execution_id: str) -> AsyncIterator[WorkflowExecution]:
    """The execution, read again under its lock, for a change of its state."""
    async with rt.db.read() as session:
        await visible_execution(session, caller, execution_id)  # 404 before a lock is made for an unknown id
    async with rt.executions.lock(execution_id):
        async with rt.db.read() as session:
            execution = await visible_execution(session, caller, execution_id)
        yield execution


def _refuse(execution: WorkflowExecution, action: str, allowed: str) -> DomainError:
    return DomainError(
        "INVALID_STATUS",
        f"Execution {execution.id} is {execution.status}; only {allowed} execution can be {action}",
        {"status": execution.status, "executionId": execution.id},
    )


def _needs_sandbox(execution: WorkflowExecution) -> bool:
    return any(
        is_executable(step) for phase in execution.definition.get("phases") or [] for step in phase.get("steps") or []
    )


async def start_execution(rt: Runtime, caller: Caller, execution_id: str) -> WorkflowExecution:
    """pending → initializing; the engine then runs it (→ running). Executable steps need a sandbox."""
    async with _transition(rt, caller, execution_id) as execution:
        async with rt.db.read() as session:
            sandbox = await session.scalar(select(Sandbox.id).where(Sandbox.project_id == execution.project_id))
        if execution.status != "pending":
            raise _refuse(execution, "started", "a pending")
        if sandbox is None and _needs_sandbox(execution):
            raise DomainError(
                "CONTAINER_NOT_FOUND",
                f"Project {execution.project_id} has no sandbox to run the workflow's steps in",
                {"projectId": execution.project_id},
            )
        await rt.executions.save(execution, status="initializing", start_time=utcnow())
        rt.executions.drive(execution_id)
    return execution


async def pause_execution(rt: Runtime, caller: Caller, execution_id: str) -> WorkflowExecution:
    """The running step finishes; the next one waits for `resume`."""
    async with _transition(rt, caller, execution_id) as execution:
        if execution.status not in ("initializing", "running"):
            raise _refuse(execution, "paused", "a running")
        await rt.executions.save(execution, status="paused")
        await rt.executions.event(execution, "workflow_execution_paused")
    return execution


async def resume_execution(rt: Runtime, caller: Caller, execution_id: str) -> WorkflowExecution:
    async with _transition(rt, caller, execution_id) as execution:
        if execution.status != "paused":
            raise _refuse(execution, "resumed", "a paused")
        await rt.executions.save(execution, status="running")
        await rt.executions.event(execution, "workflow_execution_resumed")
        rt.executions.drive(execution_id)
    return execution


async def cancel_execution(rt: Runtime, caller: Caller, execution_id: str) -> WorkflowExecution:
    """Any execution not finished yet ends `cancelled`; its running step's task is cancelled."""
    async with _transition(rt, caller, execution_id) as execution:
        if execution.status in EXECUTION_ENDS:
            raise _refuse(execution, "cancelled", "an unfinished")
        await rt.executions.cancel(execution)
    return execution


async def get_execution(rt: Runtime, caller: Caller, execution_id: str) -> WorkflowExecution:
    async with rt.db.read() as session:
        return await visible_execution(session, caller, execution_id)


def _statuses(values: Sequence[str]) -> list[str]:
    for status in values:
        if status not in STATUSES:
            raise invalid("status", f"must be one of {', '.join(STATUSES)}", "INVALID_VALUE")
    return list(values)


async def list_project_executions(
    rt: Runtime, caller: Caller, project_id: str, statuses: Sequence[str] = (), first: int = MAX_PAGE, offset: int = 0
) -> tuple[Sequence[WorkflowExecution], int]:
    """A page of the project's executions, newest first, and how many match in all."""
    conditions = [WorkflowExecution.project_id == project_id]
    if wanted := _statuses(statuses):
        conditions.append(WorkflowExecution.status.in_(wanted))
    async with rt.db.read() as session:
        await visible_project(session, caller, project_id)
        total = await session.scalar(select(func.count()).select_from(WorkflowExecution).where(*conditions)) or 0
        query = (
            select(WorkflowExecution)
            .where(*conditions)
            .order_by(WorkflowExecution.created_at.desc(), WorkflowExecution.id)
            .limit(min(max(first, 0), MAX_PAGE))
            .offset(offset)
        )
        return (await session.scalars(query)).all(), total


EXECUTION_ORDER = Ordering("executions", ((WorkflowExecution.created_at, True), (WorkflowExecution.id, False)))


def execution_listing(caller: Caller, statuses: Sequence[str] = (), by_workflow: bool = False) -> Listing:
    """Executions in the caller's projects, newest first, by project (or by workflow)."""
    query = in_visible_project(select(WorkflowExecution), WorkflowExecution.project_id, caller)
    if wanted := _statuses(statuses):
        query = query.where(WorkflowExecution.status.in_(wanted))
    parent = WorkflowExecution.workflow_id if by_workflow else WorkflowExecution.project_id
    return Listing(query, EXECUTION_ORDER, parent)


async def list_workflow_executions(rt: Runtime, caller: Caller, workflow_id: str) -> Sequence[WorkflowExecution]:
    """The workflow's executions in projects the caller may see, newest first."""
    async with rt.db.read() as session:
        await workflows.visible_workflow(session, caller, workflow_id)
        query = in_visible_project(
            select(WorkflowExecution).where(WorkflowExecution.workflow_id == workflow_id),
            WorkflowExecution.project_id,
            caller,
        )
        query = query.order_by(WorkflowExecution.created_at.desc(), WorkflowExecution.id).limit(MAX_PAGE)
        return (await session.scalars(query)).all()


async def get_step_execution(
    rt: Runtime, caller: Caller, execution_id: str, step_id: str
) -> tuple[WorkflowExecution, dict[str, Any], dict[str, Any]]:
    """One step's state, by the step's id in the definition: (execution, phase, step)."""
    execution = await get_execution(rt, caller, execution_id)
    for phase in execution.phases:
        for step in phase["steps"]:
            if step["stepId"] == step_id:
                return execution, phase, step
    raise not_found("step", step_id)


async def follow_execution(
    rt: Runtime, caller: Caller, execution_id: str, after: object = None
) -> AsyncGenerator[StoredEvent, None]:
    """The execution's events and its step tasks' events: those after `after` first, then live ones."""
    execution = await get_execution(rt, caller, execution_id)
    return await events.follow_project(
        rt,
        caller,
        execution.project_id,
        after,
        lambda e: (
            (e.subject_type == "execution" and e.subject_id == execution_id)
            or e.payload.get("executionId") == execution_id
        ),
    )


async def executions_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, WorkflowExecution]:
    """The visible ones among several executions, in one query."""
    query = in_visible_project(
        select(WorkflowExecution).where(WorkflowExecution.id.in_(ids)), WorkflowExecution.project_id, caller
    )
    async with rt.db.read() as session:
        return {execution.id: execution for execution in await session.scalars(query)}
