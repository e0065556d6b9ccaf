"""Tasks and context memory (operations 46-47, 89): memories injected into a task's prompt, and a task's
dialog kept as a `task-dialog` memory (by hand, or automatically with AUTO_CAPTURE_ENABLED).

A task's own memories are attached to the task with visibility `project`, so the project's relevant
context (operation 48) finds them for later tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from resolvers import secrets
from resolvers.access import visible_task
from resolvers.errors import DomainError
from resolvers.memories import MAX_CONTENT, CheckedDraft, new_memory, tags_of
from resolvers.memory_scope import ScopePath, visible_memories
from resolvers.memory_writes import embed, save_memories, set_content
from resolvers.runtime import Caller, Runtime
from resolvers.storage import full_storage_reason
from resolvers.validation import optional_object, optional_text, required_text
from store.memory_vectors import ContextUnavailable
from store.models import Memory, Organization, Project, Task, Workspace

log = logging.getLogger("orchestrator.context")

DIALOG_TYPE = "task-dialog"
ACTIVE = ("pending", "queued", "running")


@dataclass(frozen=True)
class TaskContext:
    injected: list[Memory]
    generated: Memory | None
    active_dialog: dict[str, Any] | None
    retrieved: int


@dataclass(frozen=True)
class ContextUsage:
    """A task's context figures, as operation 46 counts them: the memories it asked for, those that were
    there to inject, and the dialog memory it produced."""

    generated_memory_id: str | None
    retrieved: int
    injected: int
    generated: int


async def usage_of(rt: Runtime, tasks: Sequence[Task]) -> dict[str, ContextUsage]:
    """Each task's context figures, for any number of tasks in two queries."""
    asked = {memory_id for task in tasks for memory_id in task.context_memory_ids or []}
    async with rt.db.read() as session:
        present = set(await session.scalars(select(Memory.id).where(Memory.id.in_(asked)))) if asked else set()
        dialogs = await session.execute(
            select(Memory.scope_id, Memory.id)
            .where(Memory.scope_id.in_([task.id for task in tasks]), Memory.memory_type == DIALOG_TYPE)
            .order_by(Memory.created_at, Memory.id)
        )
        newest_dialog: dict[str, str] = {scope_id: memory_id for scope_id, memory_id in dialogs}
    return {
        task.id: ContextUsage(
            generated_memory_id=newest_dialog.get(task.id),
            retrieved=len(task.context_memory_ids or []),
            injected=sum(1 for memory_id in task.context_memory_ids or [] if memory_id in present),
            generated=1 if task.id in newest_dialog else 0,
        )
        for task in tasks
    }


async def usage_by_ids(rt: Runtime, task_ids: Sequence[str]) -> dict[str, ContextUsage]:
    """The figures of tasks already known to be visible (for GraphQL's per-request loader)."""
    async with rt.db.read() as session:
        found = (await session.scalars(select(Task).where(Task.id.in_(task_ids)))).all()
    return await usage_of(rt, found)


async def _task_path(rt: Runtime, task: Task) -> ScopePath:
    """The task's place in the tree (the caller's access to the task was checked already)."""
    async with rt.db.read() as session:
        row = (
            await session.execute(
                select(Project, Workspace, Organization)
                .join(Workspace, Workspace.id == Project.workspace_id)
                .join(Organization, Organization.id == Workspace.organization_id)
                .where(Project.id == task.project_id)
            )
        ).one()
    return ScopePath("task", task.id, row[2], row[1], row[0], task)


async def save_dialog(
    rt: Runtime,
    task: Task,
    content: str,
    user_id: str | None,
    *,
    memory_type: str = DIALOG_TYPE,
    tags: Sequence[str] = (),
    custom: dict[str, Any] | None = None,
    source_type: str = "auto-capture",
) -> Memory:
    """A memory of the task, shared with its project, with the project's secrets masked."""
    masker = await secrets.project_masker(rt, task.project_id)
    content, custom = masker.mask(content), masker.mask_within(custom)
    path = await _task_path(rt, task)
    checked = CheckedDraft(
        content, "task", task.id, memory_type, "project", list(tags), {"type": source_type}, custom or None
    )
    memory = new_memory(path, checked, user_id)
    vectors = await embed(rt, [content])
    set_content(rt, memory, content, vectors[0])
    await save_memories(rt, [memory], vectors)
    return memory


async def capture_task_dialog(
    rt: Runtime, caller: Caller, task_id: str, project_id: object, content: object, metadata: object = None
) -> Memory:
    """Operation 89: keep the dialog sent as the task's `task-dialog` memory."""
    project = required_text("projectId", project_id, 36)
    text = required_text("content", content, MAX_CONTENT)
    custom = optional_object("metadata", metadata)
    async with rt.db.read() as session:
        task = await visible_task(session, caller, project, task_id)
    tags = tags_of((custom or {}).get("tags"))
    return await save_dialog(rt, task, text, caller.user_id, tags=tags, custom=custom, source_type="api")


async def save_task_output(
    rt: Runtime,
    caller: Caller,
    project_id: str,
    task_id: str,
    content: object,
    *,
    memory_type: object = None,
    summary: object = None,
    tags: object = None,
) -> Memory:
    """Operation 47: keep (part of) a task's output as a memory of the task."""
    text = required_text("content", content, MAX_CONTENT)
    kind = optional_text("type", memory_type, 64) or DIALOG_TYPE
    note = optional_text("summary", summary, 2000)
    checked_tags = tags_of(tags)
    async with rt.db.read() as session:
        task = await visible_task(session, caller, project_id, task_id)
    custom = {"summary": note} if note else None
    return await save_dialog(
        rt, task, text, caller.user_id, memory_type=kind, tags=checked_tags, custom=custom, source_type="manual"
    )


async def visible_memory_ids(rt: Runtime, caller: Caller, memory_ids: Sequence[str] | None) -> list[str]:
    """Those of the memories the caller may see, in the order given."""
    if not memory_ids:
        return []
    async with rt.db.read() as session:
        found = set(await session.scalars(select(Memory.id).where(Memory.id.in_(memory_ids), visible_memories(caller))))
    return [memory_id for memory_id in memory_ids if memory_id in found]


async def check_context_memories(rt: Runtime, caller: Caller, memory_ids: Sequence[str] | None) -> None:
    """Every memory a new task asks for must exist for the caller (404 naming the first that does not)."""
    found = set(await visible_memory_ids(rt, caller, memory_ids))
    for memory_id in memory_ids or ():
        if memory_id not in found:
            raise DomainError("NOT_FOUND", f"contextMemoryIds: memory {memory_id} not found", {"id": memory_id})


async def _memories(rt: Runtime, memory_ids: Sequence[str]) -> list[Memory]:
    """The memories still there, in the order asked."""
    if not memory_ids:
        return []
    async with rt.db.read() as session:
        rows = {m.id: m for m in await session.scalars(select(Memory).where(Memory.id.in_(memory_ids)))}
    return [rows[memory_id] for memory_id in memory_ids if memory_id in rows]


async def prompt_with_context(rt: Runtime, task: Task) -> str:
    """The task's prompt with its context memories (as they are now) before it."""
    injected = await _memories(rt, task.context_memory_ids or [])
    if not injected:
        return task.prompt
    blocks = [f"[{memory.memory_type}] {memory.content}" for memory in injected]
    context = "Context from memory:\n\n" + "\n\n---\n\n".join(blocks) + "\n\n---\n\nTask:\n"
    if task.task_type == "bash":  # a script: the context goes in as comments, never as commands
        context = "".join(f"# {line}\n" for line in context.splitlines())
    return context + task.prompt


async def auto_capture(rt: Runtime, task: Task, output: str) -> None:
    """With AUTO_CAPTURE_ENABLED, keep a finished task's prompt and output; never fails the task."""
    if not rt.settings.auto_capture_enabled:
        return
    dialog = f"Prompt:\n{task.prompt}\n\nOutput:\n{output}"[:MAX_CONTENT]
    try:
        await save_dialog(rt, task, dialog, task.user_id, custom={"title": task.title})
    except Exception as error:
        if not isinstance(error, ContextUnavailable | DomainError) and full_storage_reason(error) is None:
            raise
        log.warning("could not capture the dialog of task %s: %s", task.id, error)


async def generated_memory(rt: Runtime, task_id: str) -> Memory | None:
    async with rt.db.read() as session:
        return await session.scalar(
            select(Memory)
            .where(Memory.scope_id == task_id, Memory.memory_type == DIALOG_TYPE)
            .order_by(Memory.created_at.desc())
            .limit(1)
        )


async def task_context(rt: Runtime, caller: Caller, project_id: str, task_id: str) -> TaskContext:
    """Operation 46: what the task was given and what it produced."""
    async with rt.db.read() as session:
        task = await visible_task(session, caller, project_id, task_id)
    asked = task.context_memory_ids or []
    injected = await _memories(rt, asked)
    generated = await generated_memory(rt, task.id)
    active = None
    if task.status in ACTIVE:
        active = {"memoryId": generated.id if generated else None, "messageCount": 1 + bool(task.terminal_output)}
    return TaskContext(injected, generated, active, len(asked))
