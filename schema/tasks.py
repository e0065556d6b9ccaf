"""Tasks (resolvers/tasks.py, task_context.py; operations 38-48, 89): the task record and its links, the
project's queue, queueing and cancelling tasks, and the context memory a task used and produced."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import strawberry
from strawberry.scalars import JSON

from resolvers import memory_search, task_context, tasks
from resolvers.agents import TASK_TYPES
from resolvers.pages import page_in_memory, page_request
from resolvers.tasks import QueueStatus as QueueStatusView
from schema.connections import After, Before, Connection, First, Last, connection, nested_connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.memories import ContextScope, Memory, MemoryHit, MemoryPayload, hits_of
from schema.projects import Project, ProjectPayload, project_id
from schema.relay import database_id, global_id
from schema.users import User, user_of
from store import models

if TYPE_CHECKING:
    from schema.agents import AgentStep, TaskDiff, TaskIsolation, Worktree
    from schema.executions import Execution, StepExecution
    from schema.sandboxes import Sandbox
    from schema.usage import TokenUsage

TaskType = strawberry.enum(
    Enum(  # type: ignore[misc]
        "TaskType",
        {
            name.upper(): strawberry.enum_value(name, description=f"Runs TASK_COMMAND_{name.upper()} (`{name} …`).")
            for name in TASK_TYPES
        },
    ),
    description="Which CLI a task runs in its sandbox.",
)


@strawberry.enum(description="Where a task stands.")
class TaskStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Accepted, not yet queued.")
    QUEUED = strawberry.enum_value("queued", description="Waiting for a free slot in its project.")
    RUNNING = strawberry.enum_value("running", description="Running in its sandbox.")
    COMPLETED = strawberry.enum_value("completed", description="Ended with exit code 0.")
    FAILED = strawberry.enum_value("failed", description="Ended otherwise (see error).")
    CANCELLED = strawberry.enum_value("cancelled", description="Cancelled before or while running.")


@strawberry.enum(description="Whether a task runs a workflow step or was asked for on its own.")
class TaskKind(Enum):
    WORKFLOW = strawberry.enum_value("workflow", description="It runs a workflow step.")
    ADHOC = strawberry.enum_value("adhoc", description="It was asked for on its own.")


@strawberry.type(description="A file a task created or changed in its project folder.")
class TaskArtifact:
    path: str = strawberry.field(description="Relative to the project folder.")
    extension: str = strawberry.field(description="Its file extension (md, py, …), or `file` when it has none.")
    size: int | None = strawberry.field(description="Its size in bytes.")
    created_at: datetime | None = strawberry.field(description="When the task wrote it.")

    @classmethod
    def of(cls, artifact: dict[str, Any]) -> TaskArtifact:
        size, created = artifact.get("size"), artifact.get("createdAt")
        return cls(
            path=str(artifact["path"]),
            extension=str(artifact.get("type") or "file"),
            size=size if isinstance(size, int) else None,
            created_at=datetime.fromisoformat(created) if isinstance(created, str) else None,
        )


@strawberry.type(description="A task's use of context memory.")
class ContextUsage:
    retrieved: int = strawberry.field(description="How many context memories it asked for.")
    injected: int = strawberry.field(description="How many of them were there to go into its prompt.")
    generated: int = strawberry.field(description="1 when its dialog was kept as a memory.")


@strawberry.type(description="A prompt or script run once in a project's sandbox, with its output and artifacts.")
class Task(ContextScope):
    SCOPE: ClassVar[str] = "task"
    title: str = strawberry.field(description="A short name.")
    description: str | None = strawberry.field(description="What it is for.")
    prompt: str = strawberry.field(description="What it runs: the prompt for an agent, the script for bash.")
    parameters: JSON | None = strawberry.field(description="Extra values it was given.")
    task_type: TaskType = strawberry.field(description="Which CLI it runs.")  # type: ignore[valid-type]
    kind: TaskKind = strawberry.field(description="Workflow step or ad hoc.")
    step_id: str | None = strawberry.field(
        description="The workflow step it runs (a definition id); `adhoc` otherwise."
    )
    status: TaskStatus = strawberry.field(description="Where it stands.")
    result: str | None = strawberry.field(description="Its output, once it completed.")
    error: str | None = strawberry.field(description="Why it failed.")
    terminal_output: str | None = strawberry.field(description="Its output so far (the last 256 KiB).")
    exit_code: int | None = strawberry.field(description="Its command's exit code; -1 when killed.")
    created_at: datetime = strawberry.field(description="When it was queued.")
    start_time: datetime | None = strawberry.field(description="When it started running.")
    end_time: datetime | None = strawberry.field(description="When it ended.")
    duration: int | None = strawberry.field(description="Milliseconds from start to end.")
    session_id: str | None = strawberry.field(
        description="The agent session it ran in, as its CLI named it: continueTask resumes it."
    )
    model: str | None = strawberry.field(description="The model that did most of its work, as its CLI named it.")
    record: strawberry.Private[models.Task]

    @classmethod
    def of(cls, task: models.Task) -> Task:
        return cls(
            id=global_id("Task", task.id),
            database_id=task.id,
            title=task.title,
            description=task.description,
            prompt=task.prompt,
            parameters=task.parameters,
            task_type=TaskType(task.task_type),
            kind=TaskKind.ADHOC if task.is_adhoc else TaskKind.WORKFLOW,
            step_id=task.step_id,
            status=TaskStatus(task.status),
            result=task.result,
            error=task.error,
            terminal_output=task.terminal_output,
            exit_code=task.exit_code,
            created_at=task.created_at,
            start_time=task.start_time,
            end_time=task.end_time,
            duration=task.duration,
            session_id=task.session_id,
            model=task.model,
            record=task,
        )

    @strawberry.field(description="The project it runs in.")
    async def project(self, info: GraphInfo) -> Project | None:
        found = await info.context.loaders.project.load(self.record.project_id)
        return Project.of(found) if found else None

    @strawberry.field(description="The sandbox it runs in; null once that is gone.")
    async def sandbox(self, info: GraphInfo) -> Annotated[Sandbox, strawberry.lazy("schema.sandboxes")] | None:
        from schema.sandboxes import Sandbox

        if self.record.sandbox_id is None:
            return None
        view = await info.context.loaders.sandbox.load(self.record.sandbox_id)
        return Sandbox.of(view) if view else None

    @strawberry.field(description="Who queued it; null when unknown or not visible to you.")
    async def user(self, info: GraphInfo) -> User | None:
        return await user_of(info, self.record.user_id)

    @strawberry.field(description="The workflow execution whose step it runs; null for other tasks.")
    async def execution(self, info: GraphInfo) -> Annotated[Execution, strawberry.lazy("schema.executions")] | None:
        from schema.executions import Execution

        if self.record.execution_id is None:
            return None
        found = await info.context.loaders.execution.load(self.record.execution_id)
        return Execution.of(found) if found else None

    @strawberry.field(description="The execution step it runs; null for other tasks.")
    async def step(self, info: GraphInfo) -> Annotated[StepExecution, strawberry.lazy("schema.executions")] | None:
        from schema.executions import step_of_task

        if self.record.execution_id is None:
            return None
        found = await info.context.loaders.execution.load(self.record.execution_id)
        return step_of_task(found, self.database_id) if found else None

    @strawberry.field(description="Files it created or changed, by path.")
    async def artifacts(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[TaskArtifact]:
        items = [TaskArtifact.of(artifact) for artifact in self.record.artifacts or []]
        page = page_in_memory(
            items, lambda artifact: artifact.path, "artifacts", page_request(first, after, last, before)
        )

        async def total() -> int:
            return len(items)

        return connection(page, lambda artifact: artifact, total)

    @strawberry.field(description="The memories it asked for as context, as they are now (those still there).")
    async def context_memories(self, info: GraphInfo) -> list[Memory]:
        found = await info.context.loaders.memory.load_many(self.record.context_memory_ids or [])
        return [Memory.of(memory) for memory in found if memory is not None]

    @strawberry.field(description="The memory its dialog was kept as; null when none was.")
    async def generated_memory(self, info: GraphInfo) -> Memory | None:
        usage = await info.context.loaders.context_usage.load(self.database_id)
        if usage.generated_memory_id is None:
            return None
        found = await info.context.loaders.memory.load(usage.generated_memory_id)
        return Memory.of(found) if found else None

    @strawberry.field(description="Its tokens and cost (for an agent task; zeros otherwise), so far while it runs.")
    async def usage(self) -> Annotated[TokenUsage, strawberry.lazy("schema.usage")]:
        from resolvers.usage import Totals
        from schema.usage import TokenUsage

        task = self.record
        totals = Totals(
            task.input_tokens, task.output_tokens, task.cache_read_tokens, task.cache_write_tokens, task.cost_usd
        )
        totals.cost_source = task.cost_source
        return TokenUsage.of(totals)

    @strawberry.field(description="Where it works: the project folder, or a worktree of its own.")
    async def isolation(self) -> Annotated[TaskIsolation, strawberry.lazy("schema.agents")]:
        from schema.agents import TaskIsolation

        return TaskIsolation(self.record.isolation)

    @strawberry.field(description="The task whose conversation it continues; null for a first task.")
    async def parent(self, info: GraphInfo) -> Task | None:
        if self.record.parent_task_id is None:
            return None
        found = await info.context.loaders.task.load(self.record.parent_task_id)
        return Task.of(found) if found else None

    @strawberry.field(description="The tasks that continue it, oldest first.")
    async def follow_ups(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Task]:
        from resolvers.conversations import follow_up_listing

        listing, request = follow_up_listing(info.context.caller), page_request(first, after, last, before)
        return await nested_connection(info, self.database_id, listing, request, Task.of)

    @strawberry.field(description="Its whole conversation: the first task and every follow-up, oldest first.")
    async def conversation(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Task]:
        from resolvers.conversations import conversation_listing, root_of

        listing, request = conversation_listing(info.context.caller), page_request(first, after, last, before)
        return await nested_connection(info, root_of(self.record), listing, request, Task.of)

    @strawberry.field(description="What its agent did, step by step: messages, tool calls and their results.")
    async def agent_steps(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Annotated[AgentStep, strawberry.lazy("schema.agents")]]:
        from resolvers.agent_steps import step_listing
        from schema.agents import AgentStep

        listing, request = step_listing(info.context.caller), page_request(first, after, last, before)
        return await nested_connection(info, self.database_id, listing, request, AgentStep.of)

    @strawberry.field(description="The worktree it works in; null for a shared task.")
    async def worktree(self, info: GraphInfo) -> Annotated[Worktree, strawberry.lazy("schema.agents")] | None:
        from resolvers.worktrees import worktrees_by_ids
        from schema.agents import Worktree

        if self.record.worktree_id is None:
            return None
        rt = info.context.rt
        found = await info.context.loaders.batch(("worktree",), lambda ids: worktrees_by_ids(rt, ids)).load(
            self.record.worktree_id
        )
        return Worktree.of(found) if found else None

    @strawberry.field(description="Its branch's diff once it ended; null for a shared task.")
    async def diff(self, info: GraphInfo) -> Annotated[TaskDiff, strawberry.lazy("schema.agents")] | None:
        from resolvers.worktrees import diffs_by_task
        from schema.agents import TaskDiff

        if self.record.worktree_id is None:
            return None
        rt = info.context.rt
        found = await info.context.loaders.batch(("diff",), lambda ids: diffs_by_task(rt, ids)).load(self.database_id)
        return TaskDiff.of(found) if found else None

    @strawberry.field(description="Its use of context memory, counted as the REST task context counts it.")
    async def context_usage(self, info: GraphInfo) -> ContextUsage:
        usage = await info.context.loaders.context_usage.load(self.database_id)
        return ContextUsage(retrieved=usage.retrieved, injected=usage.injected, generated=usage.generated)


@strawberry.type(description="How many of a project's tasks wait and run.")
class QueueStatus:
    pending: int = strawberry.field(description="Tasks waiting for a slot.")
    running: int = strawberry.field(description="Tasks running now.")
    sandbox_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, status: QueueStatusView) -> QueueStatus:
        return cls(pending=status.pending, running=status.running, sandbox_id=status.sandbox_id)

    @strawberry.field(description="The sandbox the tasks run in; null when the project has none.")
    async def sandbox(self, info: GraphInfo) -> Annotated[Sandbox, strawberry.lazy("schema.sandboxes")] | None:
        from schema.sandboxes import Sandbox

        if self.sandbox_id is None:
            return None
        view = await info.context.loaders.sandbox.load(self.sandbox_id)
        return Sandbox.of(view) if view else None


def task_id(value: object, field: str = "id") -> str:
    return database_id(field, value, "Task")


@strawberry.type
class TaskQueries:
    @strawberry.field(description="The memories a new task in the project should know of, nearest the prompt first.")
    async def relevant_context(
        self,
        info: GraphInfo,
        project_id: Annotated[strawberry.ID, strawberry.argument(description="The project.")],
        prompt: Annotated[str, strawberry.argument(description="What the task will be asked.")],
        first: Annotated[int, strawberry.argument(description="How many memories (1 to 100).")] = 5,
        types: Annotated[list[str] | None, strawberry.argument(description="Only these memory types.")] = None,
        include_workspace: Annotated[
            bool, strawberry.argument(description="Also what the workspace shares down.")
        ] = True,
        include_organization: Annotated[
            bool, strawberry.argument(description="Also what the organization shares down.")
        ] = True,
    ) -> list[MemoryHit]:
        from schema.projects import project_id as checked_project

        found = await memory_search.relevant_memories(
            info.context.rt,
            info.context.caller,
            checked_project(project_id, "projectId"),
            prompt,
            max_memories=first,
            types=types,
            include_workspace=include_workspace,
            include_org=include_organization,
        )
        return hits_of(found)


@strawberry.input(description="An ad-hoc task to queue.")
class ExecuteAdhocTaskInput:
    project_id: strawberry.ID = strawberry.field(description="The project whose sandbox runs it.")
    title: str = strawberry.field(description="A short name.")
    prompt: str = strawberry.field(description="The prompt for an agent, or the script for bash.")
    description: str | None = strawberry.field(default=None, description="What it is for.")
    parameters: JSON | None = strawberry.field(default=None, description="Extra values to keep with it.")
    task_type: TaskType | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Which CLI runs it; the project's first AI window's, else qwen."
    )
    context_memory_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Memories to put before the prompt (as comments for bash)."
    )
    isolation: Annotated[TaskIsolation, strawberry.lazy("schema.agents")] | None = strawberry.field(
        default=None, description="Where it works; the project's default when left out."
    )


@strawberry.input(description="A task for a workflow step with your own prompt.")
class ExecuteTaskInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    step_id: str = strawberry.field(description="A step of the project's workflow (a definition id).")
    prompt: str = strawberry.field(description="What to run, with the step's CLI.")
    parameters: JSON | None = strawberry.field(default=None, description="Extra values to keep with it.")


@strawberry.input(description="A workflow step to run as a task.")
class ExecuteWorkflowStepInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    step_id: str = strawberry.field(description="A step of the project's workflow (a definition id).")
    additional_input: str | None = strawberry.field(default=None, description="Text to add after the step's prompt.")
    parameters: JSON | None = strawberry.field(default=None, description="Extra values to keep with it.")


@strawberry.input(description="A task.")
class TaskInput:
    id: strawberry.ID = strawberry.field(description="The task.")


@strawberry.input(description="How many of a project's tasks may run at once.")
class SetTaskLimitInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    limit: int = strawberry.field(description="1 to 64.")


@strawberry.input(description="A task's output to keep as a memory of the task.")
class SaveTaskOutputInput:
    task_id: strawberry.ID = strawberry.field(description="The task.")
    content: str = strawberry.field(description="The text to keep.")
    memory_type: str | None = strawberry.field(default=None, description="Its type; task-dialog when left out.")
    summary: str | None = strawberry.field(default=None, description="A summary to keep with it.")
    tags: list[str] | None = strawberry.field(default=None, description="Labels.")


@strawberry.input(description="A task's dialog to keep as its task-dialog memory.")
class CaptureTaskDialogInput:
    task_id: strawberry.ID = strawberry.field(description="The task.")
    content: str = strawberry.field(description="The dialog.")
    metadata: JSON | None = strawberry.field(default=None, description="Fields to keep with it (tags among them).")


@strawberry.type(description="The result of a mutation that queues or changes a task.")
class TaskPayload(Payload):
    task: Task | None = strawberry.field(
        default=None, description="The task; follow it with the taskEvents subscription."
    )


def _task_payload(task: models.Task | None, errors: list[Any]) -> TaskPayload:
    return TaskPayload(task=Task.of(task) if task else None, user_errors=errors)


def _memory_ids(values: list[strawberry.ID] | None) -> list[str] | None:
    if values is None:
        return None
    return [database_id("contextMemoryIds", value, "Memory") for value in values]


@strawberry.type
class TaskMutations:
    @strawberry.mutation(description="Queue an ad-hoc task in the project's sandbox.")
    async def execute_adhoc_task(self, info: GraphInfo, input: ExecuteAdhocTaskInput) -> TaskPayload:
        async def execute() -> models.Task:
            return await tasks.execute_adhoc_task(
                info.context.rt,
                info.context.caller,
                project_id(input.project_id, "projectId"),
                title=input.title,
                prompt=input.prompt,
                description=input.description,
                parameters=input.parameters,
                task_type=input.task_type.value if input.task_type else None,
                context_memory_ids=_memory_ids(input.context_memory_ids),
                isolation=input.isolation.value if input.isolation else None,
            )

        return _task_payload(*await attempt(execute()))

    @strawberry.mutation(description="Queue a task for a workflow step with your own prompt.")
    async def execute_task(self, info: GraphInfo, input: ExecuteTaskInput) -> TaskPayload:
        async def execute() -> models.Task:
            return await tasks.execute_step_task(
                info.context.rt,
                info.context.caller,
                project_id(input.project_id, "projectId"),
                step_id=input.step_id,
                prompt=input.prompt,
                parameters=input.parameters,
            )

        return _task_payload(*await attempt(execute()))

    @strawberry.mutation(description="Run a workflow step as a task: its prompt, then your additional input.")
    async def execute_workflow_step(self, info: GraphInfo, input: ExecuteWorkflowStepInput) -> TaskPayload:
        async def execute() -> models.Task:
            return await tasks.execute_workflow_step(
                info.context.rt,
                info.context.caller,
                project_id(input.project_id, "projectId"),
                input.step_id,
                additional_input=input.additional_input,
                parameters=input.parameters,
            )

        return _task_payload(*await attempt(execute()))

    @strawberry.mutation(description="Cancel a queued task (it never starts) or a running one (it is killed).")
    async def cancel_task(self, info: GraphInfo, input: TaskInput) -> TaskPayload:
        async def cancel() -> models.Task:
            return await tasks.cancel_task(info.context.rt, info.context.caller, None, task_id(input.id))

        return _task_payload(*await attempt(cancel()))

    @strawberry.mutation(
        description="Run a task again as a new task: an ad-hoc one with its title, prompt, type, parameters and "
        "context memories; a workflow-step one as the same step with the same prompt."
    )
    async def rerun_task(self, info: GraphInfo, input: TaskInput) -> TaskPayload:
        async def rerun() -> models.Task:
            return await tasks.rerun_task(info.context.rt, info.context.caller, task_id(input.id))

        return _task_payload(*await attempt(rerun()))

    @strawberry.mutation(description="Set how many of a project's tasks may run at once.")
    async def set_task_limit(self, info: GraphInfo, input: SetTaskLimitInput) -> ProjectPayload:
        async def set_limit() -> models.Project:
            from resolvers.projects import get_project

            rt, caller, checked = info.context.rt, info.context.caller, project_id(input.project_id, "projectId")
            await tasks.set_task_limit(rt, caller, checked, input.limit)
            return await get_project(rt, caller, checked)

        project, errors = await attempt(set_limit())
        return ProjectPayload(project=Project.of(project) if project else None, user_errors=errors)

    @strawberry.mutation(description="Keep (part of) a task's output as a memory of the task, shared with its project.")
    async def save_task_output(self, info: GraphInfo, input: SaveTaskOutputInput) -> MemoryPayload:
        async def save() -> models.Memory:
            rt, caller = info.context.rt, info.context.caller
            task = await tasks.get_task(rt, caller, None, task_id(input.task_id, "taskId"))
            return await task_context.save_task_output(
                rt,
                caller,
                task.project_id,
                task.id,
                input.content,
                memory_type=input.memory_type,
                summary=input.summary,
                tags=input.tags,
            )

        memory, errors = await attempt(save())
        return MemoryPayload(memory=Memory.of(memory) if memory else None, user_errors=errors)

    @strawberry.mutation(description="Keep a task's dialog as its task-dialog memory.")
    async def capture_task_dialog(self, info: GraphInfo, input: CaptureTaskDialogInput) -> MemoryPayload:
        async def capture() -> models.Memory:
            rt, caller = info.context.rt, info.context.caller
            task = await tasks.get_task(rt, caller, None, task_id(input.task_id, "taskId"))
            return await task_context.capture_task_dialog(
                rt, caller, task.id, task.project_id, input.content, input.metadata
            )

        memory, errors = await attempt(capture())
        return MemoryPayload(memory=Memory.of(memory) if memory else None, user_errors=errors)
