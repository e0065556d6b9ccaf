"""The REST shapes of an agent task's extras: usage, session and conversation, worktree, diff and steps."""

from __future__ import annotations

from typing import Any

from resolvers.agent_run import usage_fields
from resolvers.budgets import BudgetView, budget_json
from resolvers.usage import Totals, UsageReport
from resolvers.worktrees import TaskWork
from rest_compat.shapes import iso
from store.models import AgentStep, Task, TaskDiff, Worktree


def task_usage_json(task: Task) -> dict[str, Any]:
    totals = Totals(
        task.input_tokens, task.output_tokens, task.cache_read_tokens, task.cache_write_tokens, task.cost_usd
    )
    return {"model": task.model, **usage_fields(totals), "costSource": task.cost_source}


def worktree_json(worktree: Worktree) -> dict[str, Any]:
    return {
        "id": worktree.id,
        "path": worktree.path,
        "branch": worktree.branch,
        "baseBranch": worktree.base_branch,
        "baseCommit": worktree.base_commit,
        "headCommit": worktree.head_commit,
        "state": worktree.state,
        "mergeCommit": worktree.merge_commit,
        "branchDeleted": worktree.branch_deleted,
        "createdAt": iso(worktree.created_at),
        "lastUsedAt": iso(worktree.last_used_at),
        "removedAt": iso(worktree.removed_at),
    }


def diff_summary_json(diff: TaskDiff) -> dict[str, Any]:
    return {"filesChanged": len(diff.files), "linesAdded": diff.lines_added, "linesRemoved": diff.lines_removed}


def diff_json(diff: TaskDiff) -> dict[str, Any]:
    return {
        "taskId": diff.task_id,
        "branch": diff.branch,
        "baseCommit": diff.base_commit,
        "headCommit": diff.head_commit,
        "files": diff.files,
        **diff_summary_json(diff),
        "patch": diff.patch,
        "truncated": diff.truncated,
        "createdAt": iso(diff.created_at),
    }


def agent_json(task: Task, work: TaskWork) -> dict[str, Any]:
    """The fields a task record adds for agents, conversations and worktrees."""
    return {
        "sessionId": task.session_id,
        "parentTaskId": task.parent_task_id,
        "conversationId": task.conversation_id or task.id,
        "model": task.model,
        "usage": task_usage_json(task),
        "isolation": task.isolation,
        "worktree": worktree_json(work.worktree) if work.worktree else None,
        "diff": diff_summary_json(work.diff) if work.diff else None,
    }


def step_json(step: AgentStep) -> dict[str, Any]:
    found = {
        "index": step.seq,
        "kind": step.kind,
        "text": step.text,
        "toolCallId": step.tool_call_id,
        "name": step.name,
        "input": step.input,
        "ok": step.ok,
        "createdAt": iso(step.created_at),
    }
    return {key: value for key, value in found.items() if value is not None}


def report_json(report: UsageReport) -> dict[str, Any]:
    return {
        "scope": report.scope,
        "scopeId": report.scope_id,
        "from": report.since,
        "to": report.until,
        "total": usage_fields(report.total),
        "days": [
            {
                "day": day.day,
                **usage_fields(day.totals),
                "models": [{"model": m.model, **usage_fields(m.totals)} for m in day.models],
            }
            for day in report.days
        ],
        "models": [{"model": m.model, **usage_fields(m.totals)} for m in report.models],
    }


def budget_view_json(view: BudgetView) -> dict[str, Any]:
    shaped = budget_json(view)
    return {
        **shaped["budget"],  # type: ignore[dict-item]
        "spent": shaped["spent"],
        "ratio": shaped["ratio"],
        "exceeded": view.exceeded,
        "createdAt": iso(view.budget.created_at),
        "updatedAt": iso(view.budget.updated_at),
    }
