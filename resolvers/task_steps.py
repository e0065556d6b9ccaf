"""A task's workflow step: how far it got (its `step_progress` events) and marking it in the project's tracker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from resolvers import workflow_state
from resolvers.errors import invalid, not_found
from resolvers.runtime import Caller, Runtime
from resolvers.tasks import get_task
from store.models import Event, Task

_FROM_TASK_STATUS = {"pending": "pending", "queued": "pending", "running": "running", "completed": "completed"}
"""A task's status in the step words of `step_progress` (cancelled and failed tasks failed their step)."""


@dataclass(frozen=True)
class TaskStep:
    step_id: str
    title: str
    status: str
    """pending, running, completed or failed: the SDK's step words."""
    progress: int
    message: str | None
    at: datetime


async def task_step(rt: Runtime, caller: Caller, project_id: str, task_id: str, step_id: str) -> TaskStep:
    """The step as the task's latest `step_progress` event for it tells; for the task's own step with no such
    event kept (ad-hoc tasks have none, old ones are pruned), as the task's status tells. 404 otherwise."""
    task = await get_task(rt, caller, project_id, task_id)
    async with rt.db.read() as session:
        events = (
            await session.scalars(
                select(Event)
                .where(Event.subject_type == "task", Event.subject_id == task.id, Event.type == "step_progress")
                .order_by(Event.id.desc())
            )
        ).all()
    for event in events:
        payload: dict[str, Any] = event.payload
        if payload.get("stepId") == step_id:
            return TaskStep(
                step_id,
                str(payload.get("step") or task.title),
                str(payload.get("status")),
                int(payload.get("progress") or 0),
                payload.get("message"),
                event.created_at,
            )
    if step_id != task.step_id:
        raise not_found("step", step_id)
    return _from_task(task)


def _from_task(task: Task) -> TaskStep:
    status = _FROM_TASK_STATUS.get(task.status, "failed")
    moment = task.end_time or task.start_time or task.created_at
    return TaskStep(task.step_id or "", task.title, status, 100 if task.end_time else 0, task.error, moment)


async def set_task_step_status(
    rt: Runtime, caller: Caller, project_id: str, task_id: str, status: object
) -> tuple[Task, dict[str, Any]]:
    """Mark the workflow step a task ran in the project's tracker (operation 21 for the task's step).
    Ad-hoc tasks have no step to mark (400)."""
    task = await get_task(rt, caller, project_id, task_id)
    if task.is_adhoc or not task.step_id:
        raise invalid("taskId", f"task {task_id} is ad hoc: it runs no workflow step", "INVALID_VALUE")
    state = await workflow_state.set_step_status(rt, caller, task.project_id, task.step_id, status)
    return task, state
