"""Conversations that continue: a follow-up task resumes the agent session of a finished task.

A follow-up (`POST /projects/{pid}/tasks/{tid}/dialog {message}`, GraphQL `continueTask`) is queued in the
same project with the same agent, resumes the session its parent reported (Claude Code `--resume <id>`, and
the same for Qwen Code, Gemini CLI and Codex's `exec resume`), runs where its parent ran (the same worktree
and branch for a worktree task), and links to its parent; its conversation is the first task and every
follow-up of it. The session id is kept on the task and the CLIs keep their sessions in the project folder,
so a conversation can be continued after this service, or the sandbox, restarted.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select

from resolvers import task_context
from resolvers.access import in_visible_project, visible_task
from resolvers.agents import AGENTS
from resolvers.errors import DomainError
from resolvers.pages import Listing, Ordering
from resolvers.runtime import Caller, Runtime
from resolvers.task_scheduler import FINISHED
from resolvers.tasks import MAX_PROMPT, enqueue
from resolvers.validation import UNSET, required_text
from store.models import Memory, Sandbox, Task

ACTIVE = ("pending", "queued", "running")
MAX_CONVERSATION = 1000


def root_of(task: Task) -> str:
    """The id of a task's conversation: its first task's."""
    return task.conversation_id or task.id


def _in_conversation(root: str) -> object:
    return or_(Task.id == root, Task.conversation_id == root)


async def dialog(
    rt: Runtime,
    caller: Caller,
    project_id: str,
    task_id: str,
    message: object,
    content: object,
    metadata: object = None,
) -> Task | Memory:
    """The SDK's dialog path (`POST /projects/{pid}/tasks/{tid}/dialog`): a `message`, or `content` sent to an
    agent task, is the next turn of its conversation (a follow-up, `continue_task`); `content` sent to a task
    whose CLI keeps no session (bash) is kept as its `task-dialog` memory, as operation 89 keeps it."""
    if message is UNSET and content is not UNSET:
        async with rt.db.read() as session:
            task = await visible_task(session, caller, project_id, task_id)
        if AGENTS[task.task_type].resume_args is None:
            return await task_context.capture_task_dialog(rt, caller, task_id, project_id, content, metadata)
    return await continue_task(rt, caller, project_id, task_id, content if message is UNSET else message)


async def continue_task(rt: Runtime, caller: Caller, project_id: str | None, task_id: str, message: object) -> Task:
    """Queue a follow-up of a finished agent task that resumes its session."""
    text = required_text("message", message, MAX_PROMPT)
    async with rt.db.read() as session:
        parent = await visible_task(session, caller, project_id, task_id)
        root = root_of(parent)
        busy = await session.scalar(
            select(Task.id).where(_in_conversation(root), Task.status.in_(ACTIVE)).limit(1)  # type: ignore[arg-type]
        )
        record = await session.scalar(select(Sandbox).where(Sandbox.project_id == parent.project_id))
    if AGENTS[parent.task_type].resume_args is None:
        raise DomainError(
            "INVALID_STATUS", f"A {parent.task_type} task has no agent session to continue", {"taskId": task_id}
        )
    if parent.status not in FINISHED:
        raise DomainError(
            "INVALID_STATUS",
            f"Task {task_id} is still {parent.status}; continue it once it has ended",
            {"taskId": task_id},
        )
    if parent.session_id is None:
        raise DomainError(
            "INVALID_STATUS",
            f"Task {task_id} reported no agent session (its CLI's output was not its streaming JSON), so it cannot"
            " be continued",
            {"taskId": task_id},
        )
    if busy is not None:
        raise DomainError("CONFLICT", f"Task {busy} of this conversation is still queued or running", {"taskId": busy})
    follow_up = Task(
        step_id="adhoc",
        title=f"Follow-up: {parent.title}"[:200],
        prompt=text,
        is_adhoc=True,
        parent_task_id=parent.id,
        conversation_id=root,
        resume_session_id=parent.session_id,
        worktree_id=parent.worktree_id,
    )
    return await enqueue(rt, parent.project_id, record, follow_up, parent.task_type, caller.user_id, parent.isolation)


async def conversation(rt: Runtime, caller: Caller, project_id: str | None, task_id: str) -> Sequence[Task]:
    """Every task of a task's conversation, the first first (at most 1000)."""
    async with rt.db.read() as session:
        task = await visible_task(session, caller, project_id, task_id)
        return (
            await session.scalars(
                select(Task)
                .where(_in_conversation(root_of(task)))  # type: ignore[arg-type]
                .order_by(Task.created_at, Task.id)
                .limit(MAX_CONVERSATION)
            )
        ).all()


CONVERSATION_ORDER = Ordering("conversation", ((Task.created_at, False), (Task.id, False)))
ROOT = func.coalesce(Task.conversation_id, Task.id)


def conversation_listing(caller: Caller) -> Listing:
    """Tasks by the conversation they belong to (keyed by its first task's id), oldest first."""
    return Listing(in_visible_project(select(Task), Task.project_id, caller), CONVERSATION_ORDER, ROOT)


def follow_up_listing(caller: Caller) -> Listing:
    """Tasks by the task they continue, oldest first."""
    query = in_visible_project(select(Task).where(Task.parent_task_id.is_not(None)), Task.project_id, caller)
    return Listing(query, CONVERSATION_ORDER, Task.parent_task_id)
