"""Tasks (operations 38, 40-44): queue an ad-hoc task, read, list, cancel, and the project's limit."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import budgets, events, telemetry, workflows, worktrees
from resolvers.access import in_visible_project, visible_project, visible_task
from resolvers.agents import TASK_TYPES
from resolvers.errors import DomainError, invalid
from resolvers.events import StoredEvent
from resolvers.execution_plan import StepWork, find_step, step_work
from resolvers.lifecycle import lifecycle_definition
from resolvers.pages import Listing, Ordering
from resolvers.runtime import Caller, Runtime
from resolvers.storage import full_storage_reason
from resolvers.task_context import check_context_memories, visible_memory_ids
from resolvers.task_scheduler import FINISHED, task_event
from resolvers.tx import writing
from resolvers.validation import MAX_OFFSET, UNSET, one_of, optional_object, optional_text, required_text, whole_number
from store.models import Project, Sandbox, Task, WorkflowVersion

TASK_STATUSES = ("pending", "queued", "running", "completed", "failed", "cancelled")
KINDS = ("workflow", "adhoc")
MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_TASK_LIMIT = 64
MAX_PROMPT = 100_000


@dataclass(frozen=True)
class QueueStatus:
    project_id: str
    sandbox_id: str | None
    pending: int
    running: int


def _default_type(project: Project) -> str:
    """The type of the project's first configured AI window, else qwen."""
    windows = (project.ai_config or {}).get("aiWindows") or []
    first = windows[0].get("type") if windows and isinstance(windows[0], dict) else None
    return first if first in TASK_TYPES else "qwen"


def _memory_ids(value: Any) -> list[str] | None:
    if value is None or value is UNSET:
        return None
    if not isinstance(value, list) or len(value) > 100 or not all(isinstance(i, str) and i for i in value):
        raise invalid("contextMemoryIds", "must be a list of at most 100 ids")
    return value


async def _project_sandbox(rt: Runtime, caller: Caller, project_id: str) -> tuple[Project, Sandbox | None]:
    async with rt.db.read() as session:
        project, *_ = await visible_project(session, caller, project_id)
        record = await session.scalar(select(Sandbox).where(Sandbox.project_id == project_id))
    return project, record


async def execute_adhoc_task(
    rt: Runtime,
    caller: Caller,
    project_id: str,
    *,
    title: object,
    prompt: object,
    description: object = None,
    parameters: object = None,
    task_type: object = None,
    context_memory_ids: object = None,
    isolation: object = None,
) -> Task:
    """Validate, queue and announce an ad-hoc task; the scheduler starts it when the project has room."""
    task = Task(
        step_id="adhoc",
        title=required_text("title", title, 200),
        description=optional_text("description", description, 4096),
        prompt=required_text("prompt", prompt, MAX_PROMPT),
        parameters=optional_object("parameters", parameters),
        is_adhoc=True,
        context_memory_ids=_memory_ids(context_memory_ids),
    )
    project, _ = await _project_sandbox(rt, caller, project_id)
    await check_context_memories(rt, caller, task.context_memory_ids)
    kind = _default_type(project) if task_type in (None, UNSET, "") else one_of("taskType", task_type, TASK_TYPES)
    return await _queue(rt, caller, project_id, task, kind, isolation)


async def _bound_definition(session: AsyncSession, caller: Caller, project: Project) -> dict[str, Any]:
    """The definition of the project's workflow (its bound version when one is named); the built-in
    lifecycle when it is bound to none, or to one that is gone or not visible to the caller."""
    if project.workflow_version_id:
        version = await session.get(WorkflowVersion, project.workflow_version_id)
        if version is not None and version.workflow_id == project.workflow_id:
            return version.definition
    if project.workflow_id:
        found = await workflows.workflows_in(session, caller, [project.workflow_id])
        if project.workflow_id in found:
            return found[project.workflow_id].definition
    return lifecycle_definition()


async def _project_step(rt: Runtime, caller: Caller, project_id: str, step_id: object) -> tuple[str, StepWork]:
    """A step of the project's workflow, by id, and the task it becomes; 400 for a step it does not have."""
    checked = required_text("stepId", step_id, 100)
    async with rt.db.read() as session:
        project, *_ = await visible_project(session, caller, project_id)
        definition = await _bound_definition(session, caller, project)
    position = find_step(definition, checked)
    if position is None:
        raise invalid("stepId", f"{checked!r} is not a step of the project's workflow", "INVALID_VALUE")
    return checked, step_work(definition, *position, None)


async def execute_step_task(
    rt: Runtime, caller: Caller, project_id: str, *, step_id: object, prompt: object, parameters: object = None
) -> Task:
    """A task for a workflow step with the caller's own prompt (operation 39), run with the step's CLI."""
    text = required_text("prompt", prompt, MAX_PROMPT)
    checked, work = await _project_step(rt, caller, project_id, step_id)
    task = Task(
        step_id=checked,
        title=work.title,
        prompt=text,
        parameters=optional_object("parameters", parameters),
        is_adhoc=False,
    )
    return await _queue(rt, caller, project_id, task, work.task_type)


async def execute_workflow_step(
    rt: Runtime,
    caller: Caller,
    project_id: str,
    step_id: str,
    *,
    additional_input: object = None,
    parameters: object = None,
) -> Task:
    """Run a workflow step as a task (operation 45): the step's prompt, then the caller's additional input."""
    extra = optional_text("additionalInput", additional_input, MAX_PROMPT)
    checked, work = await _project_step(rt, caller, project_id, step_id)
    task = Task(
        step_id=checked,
        title=work.title,
        prompt=f"{work.prompt}\n\n{extra}" if extra else work.prompt,
        parameters=optional_object("parameters", parameters),
        is_adhoc=False,
    )
    return await _queue(rt, caller, project_id, task, work.task_type)


async def rerun_task(rt: Runtime, caller: Caller, task_id: str) -> Task:
    """Run a task again as a new task (the console's Re-run).

    An ad-hoc task comes back with the same title, description, prompt, type, parameters and context
    memories (those the caller may still see: run-time injection never reads past the caller's access).
    A workflow-step task comes back as the same step again with the same prompt (the one it ran, its
    additional input included) and type; it belongs to no execution, whichever execution ran the original.
    Either way it is queued in the project's sandbox now (404 when the project has none).
    """
    original = await get_task(rt, caller, None, task_id)
    memory_ids = await visible_memory_ids(rt, caller, original.context_memory_ids) if original.is_adhoc else []
    task = Task(
        step_id=original.step_id,
        title=original.title,
        description=original.description,
        prompt=original.prompt,
        parameters=original.parameters,
        is_adhoc=original.is_adhoc,
        context_memory_ids=memory_ids or None,
    )
    return await _queue(rt, caller, original.project_id, task, original.task_type, original.isolation)


async def _queue(rt: Runtime, caller: Caller, project_id: str, task: Task, kind: str, isolation: object = None) -> Task:
    """Queue a validated task in the project's sandbox and announce it; 404 when the project has no sandbox."""
    _, record = await _project_sandbox(rt, caller, project_id)
    return await enqueue(rt, project_id, record, task, kind, caller.user_id, isolation)


async def enqueue(
    rt: Runtime,
    project_id: str,
    record: Sandbox | None,
    task: Task,
    kind: str,
    user_id: str | None,
    isolation: object = None,
    alongside: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> Task:
    """Queue a task in a sandbox whose project's access is already settled; 404 without a sandbox, 402 when a
    budget over the project is spent (agent tasks), 400 for a worktree outside a git repository. `alongside`
    writes in the task's own transaction (an execution's driver naming its step's task, under its lease)."""
    if record is None:
        raise DomainError(
            "CONTAINER_NOT_FOUND", f"Project {project_id} has no sandbox to run tasks in", {"projectId": project_id}
        )
    task.isolation = await worktrees.isolation_for(rt, project_id, record, isolation)
    await budgets.refuse_if_spent(rt, project_id, kind)
    task.project_id, task.sandbox_id, task.task_type = project_id, record.id, kind
    task.status, task.user_id = "queued", user_id
    task.trace_context = telemetry.current_trace_context()
    async with writing(rt) as session:
        session.add(task)
        if alongside is not None:
            await alongside(session)
    try:
        await task_event(rt, task, "task_queued", task=task.title, input={"prompt": task.prompt})
        await rt.tasks.wake(project_id)
    except Exception as error:
        if full_storage_reason(error) is None:
            raise
        rt.tasks.wake_soon(project_id)  # the task is stored: it starts once the disk has room again
    return task


async def get_task(rt: Runtime, caller: Caller, project_id: str | None, task_id: str) -> Task:
    async with rt.db.read() as session:
        return await visible_task(session, caller, project_id, task_id)


def _page(field: str, value: object, default: int, cap: int | None) -> int:
    if value is None or value is UNSET or value == "":
        return default
    number = whole_number(value)
    if number is None or not 0 <= number <= MAX_OFFSET:
        raise invalid(field, f"must be a whole number from 0 to {MAX_OFFSET}")
    return min(number, cap) if cap is not None else number


def _task_filters(statuses: Sequence[str], kind: object, search: object) -> list[ColumnElement[bool]]:
    """Conditions for a task list's filters: any of the statuses, workflow or ad-hoc, text in title or prompt."""
    for status in statuses:
        if status not in TASK_STATUSES:
            raise invalid("status", f"must be one of {', '.join(TASK_STATUSES)}", "INVALID_VALUE")
    chosen_kind = None if kind in (None, UNSET, "") else one_of("type", kind, KINDS)
    text = optional_text("search", search, 200)
    conditions: list[ColumnElement[bool]] = []
    if statuses:
        conditions.append(Task.status.in_(statuses))
    if chosen_kind is not None:
        conditions.append(Task.is_adhoc.is_(chosen_kind == "adhoc"))
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(Task.title.ilike(pattern, escape="\\"), Task.prompt.ilike(pattern, escape="\\")))
    return conditions


async def list_tasks(
    rt: Runtime,
    caller: Caller,
    project_id: str,
    *,
    statuses: Sequence[str] = (),
    kind: object = None,
    search: object = None,
    limit: object = None,
    offset: object = None,
) -> tuple[Sequence[Task], int]:
    """A page of the project's tasks, newest first, and how many match in all."""
    conditions = [Task.project_id == project_id, *_task_filters(statuses, kind, search)]
    page, skip = _page("limit", limit, DEFAULT_PAGE, MAX_PAGE), _page("offset", offset, 0, None)
    async with rt.db.read() as session:
        await visible_project(session, caller, project_id)
        total = await session.scalar(select(func.count()).select_from(Task).where(*conditions)) or 0
        found = (
            await session.scalars(
                select(Task).where(*conditions).order_by(Task.created_at.desc(), Task.id).limit(page).offset(skip)
            )
        ).all()
    return found, total


TASK_ORDER = Ordering("tasks", ((Task.created_at, True), (Task.id, False)))


def task_listing(caller: Caller, statuses: Sequence[str] = (), kind: object = None, search: object = None) -> Listing:
    """Tasks of the caller's projects (by project), newest first, filtered as `list_tasks` filters."""
    query = in_visible_project(select(Task).where(*_task_filters(statuses, kind, search)), Task.project_id, caller)
    return Listing(query, TASK_ORDER, Task.project_id)


async def set_task_limit(rt: Runtime, caller: Caller, project_id: str, limit: object) -> tuple[int, str | None]:
    """Set how many of the project's tasks may run at once; returns it with the sandbox it applies to."""
    if limit is None or limit is UNSET:
        raise invalid("limit", "is required", "MISSING_REQUIRED_FIELD")
    number = whole_number(limit)
    if number is None or not 1 <= number <= MAX_TASK_LIMIT:
        raise invalid("limit", f"must be a whole number from 1 to {MAX_TASK_LIMIT}")
    limit = number
    _, record = await _project_sandbox(rt, caller, project_id)
    async with writing(rt) as session:
        project = await session.get(Project, project_id)
        if project is not None:
            project.task_limit = limit
    await rt.tasks.wake(project_id)
    return limit, record.id if record else None


async def queue_status(rt: Runtime, caller: Caller, project_id: str) -> QueueStatus:
    async with rt.db.read() as session:
        await visible_project(session, caller, project_id)
    return (await queue_statuses(rt, caller, [project_id]))[project_id]


async def queue_statuses(rt: Runtime, caller: Caller, project_ids: Sequence[str]) -> dict[str, QueueStatus]:
    """How many tasks wait and run in each of the visible projects given, in two statements for all."""
    waiting = ("pending", "queued", "running")
    async with rt.db.read() as session:
        counts = (
            await session.execute(
                in_visible_project(
                    select(Task.project_id, Task.status, func.count())
                    .where(Task.project_id.in_(project_ids), Task.status.in_(waiting))
                    .group_by(Task.project_id, Task.status),
                    Task.project_id,
                    caller,
                )
            )
        ).all()
        rows = await session.execute(select(Sandbox.project_id, Sandbox.id).where(Sandbox.project_id.in_(project_ids)))
        sandbox_ids: dict[str, str] = {project_id: sandbox_id for project_id, sandbox_id in rows}
    by_project: dict[str, dict[str, int]] = {}
    for project_id, status, number in counts:
        by_project.setdefault(project_id, {})[status] = number
    statuses = {}
    for project_id in project_ids:
        found = by_project.get(project_id, {})
        pending = found.get("pending", 0) + found.get("queued", 0)
        statuses[project_id] = QueueStatus(project_id, sandbox_ids.get(project_id), pending, found.get("running", 0))
    return statuses


async def cancel_task(rt: Runtime, caller: Caller, project_id: str | None, task_id: str) -> Task:
    task = await get_task(rt, caller, project_id, task_id)
    if task.status in FINISHED:
        raise DomainError(
            "INVALID_STATUS", f"Task {task_id} has already {task.status}", {"status": task.status, "taskId": task_id}
        )
    await rt.tasks.cancel(task)
    return await get_task(rt, caller, task.project_id, task_id)


async def follow_task(
    rt: Runtime, caller: Caller, task_id: str, after: object = None
) -> AsyncGenerator[StoredEvent, None]:
    """The task's events (404 for a task the caller may not see): those after `after` first, then live ones."""
    task = await get_task(rt, caller, None, task_id)
    return await events.follow_project(
        rt, caller, task.project_id, after, lambda e: e.subject_type == "task" and e.subject_id == task_id
    )


async def tasks_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, Task]:
    """The visible ones among several tasks, in one query (for the tasks of an execution's steps)."""
    query = in_visible_project(select(Task).where(Task.id.in_(ids)), Task.project_id, caller)
    async with rt.db.read() as session:
        return {task.id: task for task in await session.scalars(query)}
