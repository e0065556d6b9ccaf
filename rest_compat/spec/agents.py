"""Agent tasks, usage and budgets (this service's own operations, beside the contract): a task's usage, session,
conversation, worktree and diff; its typed steps; merging and discarding; spending reports and budgets."""

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict

from resolvers.agent_steps import MAX_AFTER, MAX_PAGE
from resolvers.budgets import MAX_TOKENS, MAX_USD, PERIODS
from resolvers.git_diff import STATUSES
from resolvers.worktrees import ISOLATIONS, STRATEGIES
from rest_compat.spec import Timestamp, between

Isolation = Literal[ISOLATIONS]
BudgetPeriod = Literal[PERIODS]
Day = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
"""A day as YYYY-MM-DD (UTC)."""
CostSource = Literal["reported", "estimated", "unknown", "mixed"]


class Usage(TypedDict):
    """Tokens and USD; `costSource` says whether the CLI reported the cost or the price table estimated it."""

    inputTokens: int
    outputTokens: int
    cacheReadTokens: int
    cacheWriteTokens: int
    totalTokens: int
    costUsd: float
    costSource: CostSource | None


class TaskUsage(Usage):
    model: str | None


class Worktree(TypedDict):
    """The git worktree and branch a task (and its follow-ups) works in, relative to the project folder."""

    id: str
    path: str
    branch: str
    baseBranch: str | None
    baseCommit: str
    headCommit: str | None
    state: Literal["active", "merged", "discarded", "removed"]
    mergeCommit: str | None
    branchDeleted: bool
    createdAt: Timestamp
    lastUsedAt: Timestamp
    removedAt: Timestamp | None


class DiffSummary(TypedDict):
    filesChanged: int
    linesAdded: int
    linesRemoved: int


class FileChange(TypedDict):
    path: str
    oldPath: str | None
    status: Literal[tuple(STATUSES.values())]
    linesAdded: int
    linesRemoved: int
    binary: bool


class TaskDiff(DiffSummary):
    """A worktree task's changes against the commit its worktree started from; `patch` is its first MiB."""

    taskId: str
    branch: str
    baseCommit: str
    headCommit: str
    files: list[FileChange]
    patch: str
    truncated: bool
    createdAt: Timestamp


class AgentStep(TypedDict):
    """A message, a tool call (`name`, `input`) or a tool result (`ok`, `text`) of an agent task."""

    index: int
    kind: Literal["message", "tool_call", "tool_result"]
    text: NotRequired[str]
    toolCallId: NotRequired[str]
    name: NotRequired[str]
    input: NotRequired[dict[str, Any]]
    ok: NotRequired[bool]
    createdAt: Timestamp


class AgentStepsQuery(TypedDict, total=False):
    after: between(0, MAX_AFTER)
    """The step number to start after (0, the default: from the first)."""
    limit: between(1, MAX_PAGE)
    """How many (100 unless given)."""


class AgentStepsResponse(TypedDict):
    steps: list[AgentStep]
    total: int


class MergeRequest(TypedDict, total=False):
    """`auto` fast-forwards when it can, else makes a merge commit."""

    strategy: Literal[STRATEGIES] | None


class MergeResponse(TypedDict):
    """`strategy` is what was done: `fast-forward`, `merge-commit`, or `up-to-date`."""

    taskId: str
    strategy: Literal["fast-forward", "merge-commit", "up-to-date"]
    commit: str
    branch: str
    baseBranch: str | None
    worktree: Worktree


class DiscardResponse(TypedDict):
    taskId: str
    branch: str
    worktree: Worktree


class TaskIsolationRequest(TypedDict):
    isolation: Isolation


class TaskIsolationResponse(TypedDict):
    projectId: str
    isolation: Isolation


UsageQuery = TypedDict("UsageQuery", {"from": NotRequired[Day], "to": NotRequired[Day]})
"""Days, both included (UTC); all time when left out (`from` is a keyword: no class body can name it)."""


class ModelUsage(Usage):
    model: str


class DayUsage(Usage):
    day: Day
    models: list[ModelUsage]


UsageReport = TypedDict(
    "UsageReport",
    {
        "scope": Literal["organization", "workspace", "project"],
        "scopeId": str,
        "from": Day | None,
        "to": Day | None,
        "total": Usage,
        "days": list[DayUsage],
        "models": list[ModelUsage],
    },
)
"""A scope's tokens and cost from `from` to `to`, in total, by day (each with its models) and by model."""


class SetBudgetRequest(TypedDict):
    """USD and, optionally, tokens (every token, cache included) per calendar month (UTC) or in total."""

    limitUsd: Annotated[float, Field(gt=0, le=MAX_USD)]
    limitTokens: NotRequired[Annotated[int, Field(gt=0, le=MAX_TOKENS)] | None]


class Spent(TypedDict):
    usd: float
    tokens: int


class Budget(TypedDict):
    """A budget with what is spent against it; `ratio` is its tightest limit's share spent (1 = all)."""

    id: str
    scope: Literal["organization", "workspace", "project"]
    scopeId: str
    period: Literal[PERIODS]
    limitUsd: float
    limitTokens: int | None
    spent: Spent
    ratio: float
    exceeded: bool
    createdAt: Timestamp
    updatedAt: Timestamp
