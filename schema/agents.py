"""Agent tasks (resolvers/agent_run.py, conversations.py, worktrees.py): a task's typed steps, its worktree and
diff, continuing its conversation, merging or discarding its branch, and a project's default isolation."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from resolvers import conversations, worktrees
from resolvers.errors import DomainError
from resolvers.pages import page_request
from schema.connections import After, Before, Connection, First, Last, listed_connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.projects import Project, ProjectPayload, project_id
from schema.tasks import Task, TaskPayload, task_id
from store import models


@strawberry.enum(description="Where a task works.")
class TaskIsolation(Enum):
    SHARED = strawberry.enum_value("shared", description="In the project folder, as every shared task.")
    WORKTREE = strawberry.enum_value("worktree", description="In a git worktree and on a branch of its own.")


@strawberry.enum(description="What an agent step is.")
class AgentStepKind(Enum):
    MESSAGE = strawberry.enum_value("message", description="Text the agent wrote.")
    TOOL_CALL = strawberry.enum_value("tool_call", description="A tool the agent called, with its input.")
    TOOL_RESULT = strawberry.enum_value("tool_result", description="What a tool call gave back.")


@strawberry.type(description="One step of an agent task, in the order it came.")
class AgentStep:
    index: int = strawberry.field(description="Its place among the task's steps, from 1.")
    kind: AgentStepKind = strawberry.field(description="What it is.")
    text: str | None = strawberry.field(description="A message's text, or a tool result's output (trimmed).")
    tool_call_id: str | None = strawberry.field(
        description="The CLI's id of the tool call (a call and its result share it)."
    )
    tool_name: str | None = strawberry.field(description="A tool call's tool.")
    input: JSON | None = strawberry.field(description="A tool call's input.")
    ok: bool | None = strawberry.field(description="Whether a tool result is a success.")
    created_at: datetime = strawberry.field(description="When it came.")

    @classmethod
    def of(cls, step: models.AgentStep) -> AgentStep:
        return cls(
            index=step.seq,
            kind=AgentStepKind(step.kind),
            text=step.text,
            tool_call_id=step.tool_call_id,
            tool_name=step.name,
            input=step.input,
            ok=step.ok,
            created_at=step.created_at,
        )


@strawberry.enum(description="Where a worktree stands.")
class WorktreeState(Enum):
    ACTIVE = strawberry.enum_value("active", description="Its tasks work in it.")
    MERGED = strawberry.enum_value("merged", description="Its branch was merged into its base branch.")
    DISCARDED = strawberry.enum_value("discarded", description="Removed with its branch, unmerged.")
    REMOVED = strawberry.enum_value(
        "removed", description="Removed after its retention (its branch too when it was merged)."
    )


@strawberry.type(description="The git worktree and branch a task (and its follow-ups) worked in.")
class Worktree:
    path: str = strawberry.field(description="Relative to the project folder.")
    branch: str = strawberry.field(description="Its branch.")
    base_branch: str | None = strawberry.field(description="The branch it merges into; null from a detached HEAD.")
    base_commit: str = strawberry.field(description="The commit it started from.")
    head_commit: str | None = strawberry.field(description="Its branch's last commit when a task of it ended.")
    state: WorktreeState = strawberry.field(description="Where it stands.")
    merge_commit: str | None = strawberry.field(description="Its base branch's commit after the merge.")
    branch_deleted: bool = strawberry.field(description="Whether its branch is gone.")
    created_at: datetime = strawberry.field(description="When it was made.")
    last_used_at: datetime = strawberry.field(description="When a task of it last ended.")
    removed_at: datetime | None = strawberry.field(description="When it was removed.")

    @classmethod
    def of(cls, row: models.Worktree) -> Worktree:
        return cls(
            path=row.path,
            branch=row.branch,
            base_branch=row.base_branch,
            base_commit=row.base_commit,
            head_commit=row.head_commit,
            state=WorktreeState(row.state),
            merge_commit=row.merge_commit,
            branch_deleted=row.branch_deleted,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            removed_at=row.removed_at,
        )


@strawberry.enum(description="What happened to a file.")
class FileChangeStatus(Enum):
    ADDED = strawberry.enum_value("added", description="It is new.")
    MODIFIED = strawberry.enum_value("modified", description="It changed.")
    DELETED = strawberry.enum_value("deleted", description="It is gone.")
    RENAMED = strawberry.enum_value("renamed", description="It moved (from oldPath), maybe changed too.")
    COPIED = strawberry.enum_value("copied", description="It is a copy of oldPath.")
    TYPE_CHANGED = strawberry.enum_value("type-changed", description="It became a link, or stopped being one.")


@strawberry.type(description="A file a task's branch changed.")
class FileChange:
    path: str = strawberry.field(description="Relative to the repository.")
    old_path: str | None = strawberry.field(description="Where it was, for a rename or copy.")
    status: FileChangeStatus = strawberry.field(description="What happened to it.")
    lines_added: int = strawberry.field(description="Lines added (0 for a binary file).")
    lines_removed: int = strawberry.field(description="Lines removed (0 for a binary file).")
    binary: bool = strawberry.field(description="Whether git sees it as binary.")

    @classmethod
    def of(cls, record: dict[str, Any]) -> FileChange:
        return cls(
            path=record["path"],
            old_path=record.get("oldPath"),
            status=FileChangeStatus(record["status"]),
            lines_added=record["linesAdded"],
            lines_removed=record["linesRemoved"],
            binary=record.get("binary", False),
        )


@strawberry.type(description="What a worktree task's branch holds against the commit its worktree started from.")
class TaskDiff:
    branch: str = strawberry.field(description="The branch.")
    base_commit: str = strawberry.field(description="The commit it is compared with.")
    head_commit: str = strawberry.field(description="The branch's commit when the task ended.")
    files_changed: int = strawberry.field(description="How many files changed.")
    lines_added: int = strawberry.field(description="Lines added in all.")
    lines_removed: int = strawberry.field(description="Lines removed in all.")
    patch: str = strawberry.field(description="The unified diff (its first MiB).")
    truncated: bool = strawberry.field(description="Whether the patch was cut.")
    created_at: datetime = strawberry.field(description="When the task ended.")
    file_records: strawberry.Private[list[dict[str, Any]]]

    @classmethod
    def of(cls, diff: models.TaskDiff) -> TaskDiff:
        return cls(
            branch=diff.branch,
            base_commit=diff.base_commit,
            head_commit=diff.head_commit,
            files_changed=len(diff.files),
            lines_added=diff.lines_added,
            lines_removed=diff.lines_removed,
            patch=diff.patch,
            truncated=diff.truncated,
            created_at=diff.created_at,
            file_records=diff.files,
        )

    @strawberry.field(description="The files changed, by path.")
    async def files(
        self, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[FileChange]:
        items = [FileChange.of(record) for record in self.file_records]
        return listed_connection(items, lambda item: item.path, "diff-files", page_request(first, after, last, before))


@strawberry.enum(description="How to merge a task's branch.")
class MergeStrategy(Enum):
    AUTO = strawberry.enum_value("auto", description="Fast-forward when possible, else a merge commit.")
    FAST_FORWARD = strawberry.enum_value("fast-forward", description="Only a fast-forward (refused otherwise).")
    MERGE_COMMIT = strawberry.enum_value("merge-commit", description="Always a merge commit.")


@strawberry.enum(description="What a merge did.")
class MergeKind(Enum):
    FAST_FORWARD = strawberry.enum_value("fast-forward", description="The base branch moved to the task's branch.")
    MERGE_COMMIT = strawberry.enum_value("merge-commit", description="A merge commit joined the two.")
    UP_TO_DATE = strawberry.enum_value("up-to-date", description="Nothing to merge: the base branch had it all.")


@strawberry.input(description="A follow-up for a finished agent task: it resumes the task's session.")
class ContinueTaskInput:
    task_id: strawberry.ID = strawberry.field(description="The task to continue.")
    message: str = strawberry.field(description="What to tell the agent next.")


@strawberry.input(description="A finished worktree task to merge into the branch it started from.")
class MergeTaskInput:
    task_id: strawberry.ID = strawberry.field(description="The task.")
    strategy: MergeStrategy = strawberry.field(default=MergeStrategy.AUTO, description="How.")


@strawberry.input(description="A finished worktree task whose worktree and branch to remove.")
class DiscardTaskInput:
    task_id: strawberry.ID = strawberry.field(description="The task.")


@strawberry.input(description="Where a project's new tasks work by default.")
class SetTaskIsolationInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    isolation: TaskIsolation = strawberry.field(description="`worktree` applies when its folder is a git repository.")


@strawberry.type(description="The result of mergeTask.")
class MergeTaskPayload(Payload):
    task: Task | None = strawberry.field(default=None, description="The task.")
    merged: MergeKind | None = strawberry.field(default=None, description="What the merge did.")
    commit: str | None = strawberry.field(default=None, description="The base branch's commit after the merge.")
    conflicts: list[str] | None = strawberry.field(
        default=None, description="The files that conflict, when the merge was refused for that."
    )


@strawberry.type
class AgentMutations:
    @strawberry.mutation(description="Continue a finished agent task: queue a follow-up that resumes its session.")
    async def continue_task(self, info: GraphInfo, input: ContinueTaskInput) -> TaskPayload:
        async def follow_up() -> models.Task:
            return await conversations.continue_task(
                info.context.rt, info.context.caller, None, task_id(input.task_id, "taskId"), input.message
            )

        found, errors = await attempt(follow_up())
        return TaskPayload(task=Task.of(found) if found else None, user_errors=errors)

    @strawberry.mutation(description="Merge a finished worktree task's branch into its base branch (never forced).")
    async def merge_task(self, info: GraphInfo, input: MergeTaskInput) -> MergeTaskPayload:
        conflicts: list[str] | None = None

        async def merge() -> worktrees.MergeOutcome:
            nonlocal conflicts
            try:
                return await worktrees.merge_task(
                    info.context.rt, info.context.caller, None, task_id(input.task_id, "taskId"), input.strategy.value
                )
            except DomainError as error:
                if error.code == "MERGE_CONFLICT":
                    conflicts = (error.details or {}).get("conflicts")
                raise

        outcome, errors = await attempt(merge())
        if outcome is None:
            return MergeTaskPayload(user_errors=errors, conflicts=conflicts)
        return MergeTaskPayload(task=Task.of(outcome.task), merged=MergeKind(outcome.strategy), commit=outcome.commit)

    @strawberry.mutation(description="Remove a finished worktree task's worktree and branch.")
    async def discard_task(self, info: GraphInfo, input: DiscardTaskInput) -> TaskPayload:
        async def discard() -> models.Task:
            found, _ = await worktrees.discard_task(
                info.context.rt, info.context.caller, None, task_id(input.task_id, "taskId")
            )
            return found

        found, errors = await attempt(discard())
        return TaskPayload(task=Task.of(found) if found else None, user_errors=errors)

    @strawberry.mutation(description="Set where a project's new tasks work by default.")
    async def set_task_isolation(self, info: GraphInfo, input: SetTaskIsolationInput) -> ProjectPayload:
        async def set_default() -> models.Project:
            return await worktrees.set_task_isolation(
                info.context.rt, info.context.caller, project_id(input.project_id, "projectId"), input.isolation.value
            )

        found, errors = await attempt(set_default())
        return ProjectPayload(project=Project.of(found) if found else None, user_errors=errors)
