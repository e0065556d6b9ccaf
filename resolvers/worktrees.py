"""A branch per task: git worktrees in which tasks work apart from the project folder and from each other.

- `isolation: worktree` (per task; each project has a default, `shared` unless set) needs the project folder
  to be a git repository. Such a task runs in `.orchestrator/worktrees/<task id>` inside the project folder, on
  its own branch `orchestrator/task-<id>` made from the commit checked out in the project folder (whose branch
  is the one it merges into). `.orchestrator/` is listed in the repository's `info/exclude`. A follow-up of the
  task (a continued conversation) works in the same worktree, on the same branch.
- When a worktree task ends (whatever its status), what it changed is committed on its branch and its diff
  against the commit the worktree started from becomes the task's diff: files with their status and lines
  added and removed, and the patch (1 MiB kept).
- A finished task can be merged into its base branch (fast-forward, or a merge commit; a conflict is reported
  and the merge aborted, never forced) where that branch is checked out (else in a temporary worktree), or
  discarded: its worktree and branch removed.
- Worktrees whose tasks have all finished are removed after WORKTREE_RETENTION_SECONDS; the branch goes with
  them only when it was merged (an unmerged branch stays, and can still be merged or continued).

Git always runs inside the project's sandbox (`resolvers.git_runner`), one command of a project at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from resolvers import events
from resolvers.access import visible_project, visible_task
from resolvers.errors import DomainError, invalid
from resolvers.git_diff import file_changes
from resolvers.git_runner import Git, Identity, identity_of
from resolvers.runtime import Caller, Runtime
from resolvers.sandboxes import ensure_running, live_state
from resolvers.task_runner import host_folder, sandbox_folder
from resolvers.tx import writing
from resolvers.validation import UNSET, one_of
from store.models import Project, Sandbox, Task, TaskDiff, Worktree, utcnow

log = logging.getLogger("orchestrator.worktrees")

ISOLATIONS = ("shared", "worktree")
OWN_FOLDER = ".orchestrator"
WORKTREES = f"{OWN_FOLDER}/worktrees"
MERGES = f"{OWN_FOLDER}/merges"
STRATEGIES = ("auto", "fast-forward", "merge-commit")
ACTIVE = ("queued", "running", "pending")
PATCH_LIMIT = 1024 * 1024
HEAD_AND_BRANCH = "git rev-parse --verify HEAD && { git symbolic-ref --quiet --short HEAD || echo; }"
"""The commit checked out, then its branch (an empty line on a detached HEAD)."""
ADD_WORKTREE = (
    'f=$(git rev-parse --git-path info/exclude) && mkdir -p "$(dirname "$f")" && '
    '{ grep -qxF "/.orchestrator/" "$f" 2>/dev/null || echo "/.orchestrator/" >> "$f"; } && '
    'git worktree add -q -b "$1" "$2" "$3"'
)
"""`.orchestrator/` excluded from the repository, then the worktree made: branch $1 at path $2 from commit $3."""
COMMIT_ALL = 'git add -A && { git diff --cached --quiet || git commit -q -m "$1" -m "$2"; } && git rev-parse HEAD'
LIST_CHANGES = 'git diff -z --numstat -M "$1" "$2" && printf "\\0\\0\\0" && git diff -z --name-status -M "$1" "$2"'
"""Line counts, three NULs, statuses: of the changes from $1 to $2 (no list holds two NULs in a row, so the
last three NULs of the output part them)."""


def is_repository(folder: Path) -> bool:
    return (folder / ".git").exists()


async def isolation_for(rt: Runtime, project_id: str, record: Sandbox, requested: object) -> str:
    """A new task's isolation: the one asked for (`worktree` only in a git repository), else the project's
    default (`shared` when that is `worktree` but the folder is no repository)."""
    repository = is_repository(host_folder(record.folder_mapping, record.workdir))
    if requested not in (None, UNSET, ""):
        chosen = one_of("isolation", requested, ISOLATIONS)
        if chosen == "worktree" and not repository:
            raise invalid("isolation", "needs the project folder to be a git repository; it is not one")
        return chosen
    async with rt.db.read() as session:
        default = await session.scalar(select(Project.task_isolation).where(Project.id == project_id))
    return "worktree" if default == "worktree" and repository else "shared"


async def set_task_isolation(rt: Runtime, caller: Caller, project_id: str, isolation: object) -> Project:
    """Set where a project's tasks run by default (any member, as with the task limit)."""
    chosen = one_of("isolation", isolation, ISOLATIONS)
    async with writing(rt) as session:
        project, *_ = await visible_project(session, caller, project_id)
        project.task_isolation = chosen
    return project


def _lock(rt: Runtime, project_id: str) -> asyncio.Lock:
    return rt.git_locks.setdefault(project_id, asyncio.Lock())


@dataclass
class Place:
    """Where a worktree task runs: its worktree, as the sandbox and as this host see it."""

    worktree: Worktree
    cwd: str
    folder: Path


def _place(record: Sandbox, worktree: Worktree) -> Place:
    return Place(
        worktree,
        f"{sandbox_folder(record).rstrip('/')}/{worktree.path}",
        host_folder(record.folder_mapping, record.workdir) / worktree.path,
    )


async def prepare(rt: Runtime, task: Task, record: Sandbox, identity: Identity) -> Place | None:
    """The worktree a task runs in (made now, or its conversation's), or None for a shared task."""
    if task.isolation != "worktree":
        return None
    git = Git(rt, record.id, identity)
    async with _lock(rt, task.project_id):
        if task.worktree_id is not None:
            async with rt.db.read() as session:
                worktree = await session.get(Worktree, task.worktree_id)
            if worktree is not None:
                return await _reopen(rt, git, record, worktree)
        return await _create(rt, git, record, task)


async def _create(rt: Runtime, git: Git, record: Sandbox, task: Task) -> Place:
    main = sandbox_folder(record)
    head = await git.sh(main, HEAD_AND_BRANCH)
    if not head.ok:
        raise DomainError("INVALID_STATUS", "The project's git repository has no commit to start a worktree from")
    commit, _, branch_name = head.out.partition("\n")
    worktree = Worktree(
        project_id=task.project_id,
        root_task_id=task.id,
        path=f"{WORKTREES}/{task.id}",
        branch=f"orchestrator/task-{task.id[:8]}",
        base_branch=branch_name.strip() or None,
        base_commit=commit.strip(),
        state="active",
    )
    made = await git.sh(main, ADD_WORKTREE, worktree.branch, worktree.path, worktree.base_commit)
    if not made.ok:
        raise DomainError("OPERATION_FAILED", f"git could not make the task's worktree: {made.message}")
    async with writing(rt) as session:
        session.add(worktree)
        await session.flush()
        await session.execute(update(Task).where(Task.id == task.id).values(worktree_id=worktree.id))
    task.worktree_id = worktree.id
    return _place(record, worktree)


async def _reopen(rt: Runtime, git: Git, record: Sandbox, worktree: Worktree) -> Place:
    """A follow-up's worktree: made again at its path when it was removed (from its branch, or anew from its
    base when the branch went too)."""
    place = _place(record, worktree)
    if not place.folder.is_dir():
        main = sandbox_folder(record)
        await git.run(main, "worktree", "prune")
        if worktree.branch_deleted:
            start = worktree.base_branch or "HEAD"
            base = (await git.check(main, "rev-parse", "--verify", start)).strip()
            await git.check(main, "worktree", "add", "-b", worktree.branch, worktree.path, base)
            worktree.base_commit, worktree.branch_deleted = base, False
        else:
            await git.check(main, "worktree", "add", worktree.path, worktree.branch)
    worktree.state, worktree.removed_at = "active", None
    async with writing(rt) as session:
        await session.merge(worktree)
    return place


async def conclude(rt: Runtime, task: Task, record: Sandbox, place: Place, identity: Identity) -> None:
    """Commit what the task changed on its branch and keep the branch's diff as the task's."""
    git, cwd, worktree = Git(rt, record.id, identity), place.cwd, place.worktree
    async with _lock(rt, task.project_id):
        committed = await git.sh(cwd, COMMIT_ALL, task.title, f"Task {task.id}")
        if not committed.ok:
            raise DomainError("OPERATION_FAILED", f"git could not commit the task's work: {committed.message}")
        head = committed.out.strip()
        listed = await git.sh(cwd, LIST_CHANGES, worktree.base_commit, head)
        patch = await git.run(cwd, "diff", "-M", worktree.base_commit, head, limit=PATCH_LIMIT)
    if not listed.ok:
        raise DomainError("OPERATION_FAILED", f"git could not list the task's changes: {listed.message}")
    numstat, _, statuses = listed.out.rpartition("\0\0\0")
    files = file_changes(numstat, statuses)
    diff = TaskDiff(
        task_id=task.id,
        worktree_id=worktree.id,
        branch=worktree.branch,
        base_commit=worktree.base_commit,
        head_commit=head,
        files=[change.as_record() for change in files],
        lines_added=sum(change.lines_added for change in files),
        lines_removed=sum(change.lines_removed for change in files),
        patch=patch.out,
        truncated=patch.truncated,
    )
    async with writing(rt) as session:
        await session.merge(diff)
        await session.execute(
            update(Worktree).where(Worktree.id == worktree.id).values(head_commit=head, last_used_at=utcnow())
        )


# -- reading ------------------------------------------------------------------------------------------


async def worktrees_by_ids(rt: Runtime, ids: Sequence[str]) -> dict[str, Worktree]:
    async with rt.db.read() as session:
        return {row.id: row for row in await session.scalars(select(Worktree).where(Worktree.id.in_(ids)))}


async def diffs_by_task(rt: Runtime, task_ids: Sequence[str]) -> dict[str, TaskDiff]:
    async with rt.db.read() as session:
        return {
            row.task_id: row for row in await session.scalars(select(TaskDiff).where(TaskDiff.task_id.in_(task_ids)))
        }


async def get_diff(rt: Runtime, caller: Caller, project_id: str | None, task_id: str) -> TaskDiff:
    async with rt.db.read() as session:
        task = await visible_task(session, caller, project_id, task_id)
        diff = await session.get(TaskDiff, task.id)
    if diff is None:
        raise DomainError(
            "NOT_FOUND", f"Task {task_id} has no diff (it is not a finished worktree task)", {"taskId": task_id}
        )
    return diff


# -- merging and discarding ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeOutcome:
    task: Task
    worktree: Worktree
    strategy: str
    """What was done: `fast-forward`, `merge-commit`, or `up-to-date` (nothing to merge)."""
    commit: str


async def _finished_worktree(
    rt: Runtime, caller: Caller, project_id: str | None, task_id: str
) -> tuple[Task, Worktree, Sandbox]:
    """A finished task's worktree, no task of it still queued or running, and its project's sandbox."""
    async with rt.db.read() as session:
        task = await visible_task(session, caller, project_id, task_id)
        worktree = await session.get(Worktree, task.worktree_id) if task.worktree_id else None
        if worktree is None:
            raise DomainError("INVALID_STATUS", f"Task {task_id} did not run in a worktree", {"taskId": task_id})
        busy = await session.scalar(
            select(Task.id).where(Task.worktree_id == worktree.id, Task.status.in_(ACTIVE)).limit(1)
        )
        record = await session.scalar(select(Sandbox).where(Sandbox.project_id == task.project_id))
    if busy is not None:
        raise DomainError(
            "INVALID_STATUS", f"Task {busy} of this worktree is still queued or running", {"taskId": busy}
        )
    if worktree.state == "discarded":
        raise DomainError("INVALID_STATUS", f"The worktree of task {task_id} was discarded", {"taskId": task_id})
    if record is None:
        raise DomainError("CONTAINER_NOT_FOUND", f"Project {task.project_id} has no sandbox to run git in")
    await ensure_running(rt, record)
    return task, worktree, record


async def _checked_out(git: Git, main: str, branch: str) -> str | None:
    """Where (in the sandbox) `branch` is checked out, if anywhere."""
    listing = await git.check(main, "worktree", "list", "--porcelain")
    for block in listing.split("\n\n"):
        lines = dict(line.split(" ", 1) for line in block.splitlines() if " " in line)
        if lines.get("branch") == f"refs/heads/{branch}":
            return lines.get("worktree")
    return None


async def _merge_in(git: Git, target: str, worktree: Worktree, strategy: str, message: str) -> tuple[str, str]:
    """Merge the worktree's branch in `target` (where the base branch is checked out)."""
    before = (await git.check(target, "rev-parse", "HEAD")).strip()
    if strategy in ("auto", "fast-forward"):
        forward = await git.run(target, "merge", "--ff-only", worktree.branch)
        if forward.ok:
            after = (await git.check(target, "rev-parse", "HEAD")).strip()
            return ("up-to-date" if after == before else "fast-forward"), after
        if strategy == "fast-forward":
            raise DomainError(
                "NOT_FAST_FORWARD",
                f"{worktree.base_branch} has moved on since the task's branch was made; merge with a merge commit",
                {"branch": worktree.branch, "baseBranch": worktree.base_branch},
            )
    merged = await git.run(target, "merge", "--no-ff", "--no-edit", "-m", message, worktree.branch)
    if not merged.ok:
        conflicts = (await git.run(target, "diff", "--name-only", "--diff-filter=U")).out.split()
        await git.run(target, "merge", "--abort")
        if conflicts:
            raise DomainError(
                "MERGE_CONFLICT",
                f"Merging {worktree.branch} into {worktree.base_branch} conflicts in {', '.join(conflicts)};"
                " nothing was changed",
                {"conflicts": conflicts, "branch": worktree.branch, "baseBranch": worktree.base_branch},
            )
        raise DomainError("CONFLICT", f"git refused the merge: {merged.message}", {"branch": worktree.branch})
    after = (await git.check(target, "rev-parse", "HEAD")).strip()
    return ("up-to-date" if after == before else "merge-commit"), after


async def merge_task(
    rt: Runtime, caller: Caller, project_id: str | None, task_id: str, strategy: object = None
) -> MergeOutcome:
    """Merge a finished worktree task's branch into the branch it started from (never forced)."""
    chosen = "auto" if strategy in (None, UNSET, "") else one_of("strategy", strategy, STRATEGIES)
    task, worktree, record = await _finished_worktree(rt, caller, project_id, task_id)
    if worktree.base_branch is None:
        raise DomainError("INVALID_STATUS", "The task started from a detached HEAD: there is no branch to merge into")
    git = Git(rt, record.id, await identity_of(rt, caller.user_id))
    main = sandbox_folder(record)
    message = f"Merge task {task.id[:8]}: {task.title}"
    async with _lock(rt, task.project_id):
        target = await _checked_out(git, main, worktree.base_branch)
        temporary = None
        if target is None:
            temporary = f"{MERGES}/{worktree.id}"
            await git.check(main, "worktree", "add", temporary, worktree.base_branch)
            target = f"{main.rstrip('/')}/{temporary}"
        try:
            done, commit = await _merge_in(git, target, worktree, chosen, message)
        finally:
            if temporary is not None:
                await git.run(main, "worktree", "remove", "--force", temporary)
    worktree.state, worktree.merge_commit = "merged", commit
    async with writing(rt) as session:
        await session.merge(worktree)
    await events.record(
        rt,
        task.project_id,
        "task",
        task.id,
        "worktree_merged",
        taskId=task.id,
        branch=worktree.branch,
        baseBranch=worktree.base_branch,
        strategy=done,
        commit=commit,
    )
    return MergeOutcome(task, worktree, done, commit)


async def _remove(git: Git, main: str, worktree: Worktree, delete_branch: bool) -> None:
    await git.run(main, "worktree", "remove", "--force", worktree.path)
    await git.run(main, "worktree", "prune")
    if delete_branch:
        await git.run(main, "branch", "-D", worktree.branch)


async def discard_task(rt: Runtime, caller: Caller, project_id: str | None, task_id: str) -> tuple[Task, Worktree]:
    """Remove a finished worktree task's worktree and branch (what it did is lost unless it was merged)."""
    task, worktree, record = await _finished_worktree(rt, caller, project_id, task_id)
    git = Git(rt, record.id, await identity_of(rt, caller.user_id))
    async with _lock(rt, task.project_id):
        await _remove(git, sandbox_folder(record), worktree, delete_branch=True)
    worktree.state, worktree.branch_deleted, worktree.removed_at = "discarded", True, utcnow()
    async with writing(rt) as session:
        await session.merge(worktree)
    await events.record(
        rt, task.project_id, "task", task.id, "worktree_discarded", taskId=task.id, branch=worktree.branch
    )
    return task, worktree


# -- clean-up -----------------------------------------------------------------------------------------


async def _expired(rt: Runtime) -> list[tuple[Worktree, Sandbox]]:
    cutoff = utcnow() - timedelta(seconds=rt.settings.worktree_retention_seconds)
    busy = select(Task.worktree_id).where(Task.worktree_id.is_not(None), Task.status.in_(ACTIVE))
    async with rt.db.read() as session:
        rows = await session.execute(
            select(Worktree, Sandbox)
            .join(Sandbox, Sandbox.project_id == Worktree.project_id)
            .where(Worktree.state.in_(("active", "merged")), Worktree.last_used_at < cutoff, Worktree.id.not_in(busy))
        )
        return [(worktree, record) for worktree, record in rows.all()]


async def cleanup(rt: Runtime) -> int:
    """Remove the worktrees kept past their retention whose sandbox is running; returns how many."""
    removed = 0
    for worktree, record in await _expired(rt):
        live = await live_state(rt, record.id)
        if live is None or live.status != "running":
            continue  # git runs in the sandbox: try again once it runs
        git, main = Git(rt, record.id, await identity_of(rt, None)), sandbox_folder(record)
        async with _lock(rt, worktree.project_id):
            base = worktree.base_branch or "HEAD"
            contained = await git.run(main, "merge-base", "--is-ancestor", worktree.branch, base)
            merged = worktree.state == "merged" and contained.ok
            await _remove(git, main, worktree, delete_branch=merged)
        async with writing(rt) as session:
            await session.execute(
                update(Worktree)
                .where(Worktree.id == worktree.id)
                .values(state="removed", branch_deleted=merged, removed_at=utcnow())
            )
        await events.record(
            rt,
            worktree.project_id,
            "task",
            worktree.root_task_id,
            "worktree_removed",
            taskId=worktree.root_task_id,
            branch=worktree.branch,
            branchDeleted=merged,
        )
        removed += 1
    return removed


async def cleanup_forever(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(rt.settings.worktree_cleanup_seconds)
        try:
            removed = await cleanup(rt)
        except Exception:
            log.exception("cleaning up worktrees failed")
        else:
            if removed:
                log.info("removed %d worktrees kept past their retention", removed)


@dataclass(frozen=True)
class TaskWork:
    """What a task's record shows of its worktree and diff."""

    worktree: Worktree | None
    diff: TaskDiff | None


async def work_of(rt: Runtime, tasks: Sequence[Task]) -> dict[str, TaskWork]:
    """Each task's worktree and diff, for any number of tasks in two queries."""
    worktree_ids = [task.worktree_id for task in tasks if task.worktree_id]
    found = await worktrees_by_ids(rt, worktree_ids) if worktree_ids else {}
    ids = [task.id for task in tasks if task.worktree_id]
    diffs = await diffs_by_task(rt, ids) if ids else {}
    return {task.id: TaskWork(found.get(task.worktree_id or ""), diffs.get(task.id)) for task in tasks}
