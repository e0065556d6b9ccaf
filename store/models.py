"""SQLAlchemy models: the durable shape of the domain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def aggregate_time(value: datetime | str | None) -> datetime | None:
    """A timestamp from an aggregate (`max(updated_at)`), which comes back without the column's type: as text
    on SQLite, naive or not."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)


class RefreshToken(Base):
    """A refresh token, stored only as its SHA-256. Tokens rotated from one login share a family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Organization(Timestamped, Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    folder_path: Mapped[str] = mapped_column(String(255), unique=True)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class OrganizationMember(Base):
    __tablename__ = "organization_members"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_organization_members_user", "user_id"),)


class Workspace(Timestamped, Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    folder_path: Mapped[str] = mapped_column(String(255))

    __table_args__ = (
        UniqueConstraint("organization_id", "folder_path", name="uq_workspaces_folder"),
        UniqueConstraint("organization_id", "name", name="uq_workspaces_name"),
    )


class Project(Timestamped, Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    folder_path: Mapped[str] = mapped_column(String(255))
    sandbox_id: Mapped[str | None] = mapped_column(String(128), default=None)
    sandbox_name: Mapped[str | None] = mapped_column(String(255), default=None)
    workflow_id: Mapped[str | None] = mapped_column(String(36), default=None)
    workflow_version_id: Mapped[str | None] = mapped_column(String(36), default=None)
    workflow_state: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    ai_config: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    task_limit: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """How many of the project's tasks may run in its sandbox at once."""
    task_isolation: Mapped[str] = mapped_column(String(16), default="shared", server_default="shared")
    """Where its tasks run by default: `shared` (the project folder) or `worktree` (a git worktree each)."""
    network_mode: Mapped[str | None] = mapped_column(String(16), default=None)
    """`none`, `egress` or `open`; None is the default (`egress`)."""
    network_allowed_hosts: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    """The `egress` allow-list an owner set; None derives it from the AI configuration."""

    __table_args__ = (
        UniqueConstraint("workspace_id", "folder_path", name="uq_projects_folder"),
        UniqueConstraint("workspace_id", "name", name="uq_projects_name"),
    )


class UserSettings(Base):
    __tablename__ = "user_settings"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    git_display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    git_email: Mapped[str | None] = mapped_column(String(320), default=None)
    docker_image: Mapped[str | None] = mapped_column(String(255), default=None)
    preferences: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


EVENT_ID = BigInteger().with_variant(Integer, "sqlite")
"""64-bit ids (an output line is an event: a 32-bit id runs out within weeks on a busy cluster); SQLite's
INTEGER PRIMARY KEY is 64-bit already and must stay INTEGER to keep AUTOINCREMENT."""


class Event(Base):
    """One progress event. Ids only grow, so a subscriber resumes after the last id it saw: within a project
    they grow in commit order too (`store.events` serializes a project's appends), which is what replay needs."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (
        Index("ix_events_project_id_id", "project_id", "id"),
        Index("ix_events_subject", "subject_type", "subject_id", "id"),
        # SQLite would otherwise reuse the largest id once its row is deleted.
        {"sqlite_autoincrement": True},
    )


class Sandbox(Timestamped, Base):
    """A project's sandbox as this service created it; its live state comes from the backend."""

    __tablename__ = "sandboxes"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    image: Mapped[str] = mapped_column(String(255))
    backend: Mapped[str] = mapped_column(String(16))
    workdir: Mapped[str] = mapped_column(String(1024))
    folder_mapping: Mapped[str] = mapped_column(String(2048))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    host: Mapped[str | None] = mapped_column(String(64), default=None)
    """The SANDBOX_HOSTS host it was placed on (None: the one sandbox backend of a single-host setup)."""


class SandboxOperation(Base):
    """An asynchronous sandbox operation and its steps, as clients poll or follow it."""

    __tablename__ = "sandbox_operations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    sandbox_id: Mapped[str | None] = mapped_column(String(128))
    sandbox_name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    progress: Mapped[dict[str, Any]]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(4096), default=None)
    details: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    end_time: Mapped[datetime | None] = mapped_column(default=None)
    replica_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """The replica running it: an operation whose replica is gone is failed, naming it."""


class Task(Base):
    """A prompt or script run once in a project's sandbox, with its kept output and artifacts."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    sandbox_id: Mapped[str | None] = mapped_column(String(128), default=None)
    step_id: Mapped[str | None] = mapped_column(String(128), default=None)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(4096), default=None)
    prompt: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    task_type: Mapped[str] = mapped_column(String(16))
    is_adhoc: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    terminal_output: Mapped[str | None] = mapped_column(Text, default=None)
    artifacts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    context_memory_ids: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(default=None)
    end_time: Mapped[datetime | None] = mapped_column(default=None)
    duration: Mapped[int | None] = mapped_column(Integer, default=None)
    """Milliseconds from start to end."""
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    execution_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """The workflow execution whose step this task runs, if any."""
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    """The replica (incarnation id) that holds this row's lease, while one does."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_fence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Grows by one at every claim; every write of the holder names it, so a holder that lost the lease
    (paused past its expiry while another replica took over) writes nothing."""
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """Set by a replica asked to cancel a task another replica runs; the runner's replica acts on it."""
    trace_context: Mapped[str | None] = mapped_column(String(128), default=None)
    """The W3C traceparent of the request that queued the task, so its run joins that trace."""
    parent_task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), default=None)
    """The task whose agent session this one continues (a follow-up), if any."""
    conversation_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """For a follow-up, the first task of its conversation; None for that first task itself."""
    resume_session_id: Mapped[str | None] = mapped_column(String(200), default=None)
    """The agent session a follow-up resumes."""
    session_id: Mapped[str | None] = mapped_column(String(200), default=None)
    """The agent session the task ran in, as its CLI reported it."""
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Input tokens not read from the prompt cache (the cache's are counted apart)."""
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    cost_source: Mapped[str | None] = mapped_column(String(16), default=None)
    """`reported` by the CLI, `estimated` from the price table, `unknown` (a model without a price)."""
    isolation: Mapped[str] = mapped_column(String(16), default="shared", server_default="shared")
    worktree_id: Mapped[str | None] = mapped_column(ForeignKey("worktrees.id", ondelete="SET NULL"), default=None)

    __table_args__ = (
        Index("ix_tasks_project_created", "project_id", "created_at"),
        Index("ix_tasks_status", "status"),
        Index("ix_tasks_execution", "execution_id"),
        Index("ix_tasks_conversation", "conversation_id"),
        Index("ix_tasks_parent", "parent_task_id"),
        Index("ix_tasks_worktree", "worktree_id"),
    )


class AgentStep(Base):
    """One typed step of an agent task: a message, a tool call or a tool's result, in the order they came."""

    __tablename__ = "agent_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    """`message`, `tool_call` or `tool_result`."""
    text: Mapped[str | None] = mapped_column(Text, default=None)
    """A message's text, or a tool result's output (trimmed)."""
    tool_call_id: Mapped[str | None] = mapped_column(String(200), default=None)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    """A tool call's tool."""
    input: Mapped[Any | None] = mapped_column(JSON, default=None)
    ok: Mapped[bool | None] = mapped_column(Boolean, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("task_id", "seq", name="uq_agent_steps_seq"), {"sqlite_autoincrement": True})


class TaskUsage(Base):
    """What one task spent on one model: the ledger that usage reports and budgets add up.

    It keeps where the spending happened (project, workspace, organization) without foreign keys to the
    project and workspace, so deleting a task, project or workspace never gives spent money back to a
    budget; only deleting the organization removes its ledger."""

    __tablename__ = "task_usage"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), default=None)
    project_id: Mapped[str] = mapped_column(String(36))
    workspace_id: Mapped[str] = mapped_column(String(36))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    day: Mapped[str] = mapped_column(String(10))
    """The UTC day (YYYY-MM-DD) the task started: the day its spending counts for."""
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    cost_source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_task_usage_organization_day", "organization_id", "day"),
        Index("ix_task_usage_workspace_day", "workspace_id", "day"),
        Index("ix_task_usage_project_day", "project_id", "day"),
        Index("ix_task_usage_task", "task_id"),
    )


class Budget(Timestamped, Base):
    """A spending limit of an organization, workspace or project, per calendar month (UTC) or in total."""

    __tablename__ = "budgets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(36))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    workspace_id: Mapped[str | None] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), default=None)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), default=None)
    period: Mapped[str] = mapped_column(String(8))
    """`month` or `total`."""
    limit_usd: Mapped[float] = mapped_column(Float)
    limit_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    warned_for: Mapped[str | None] = mapped_column(String(64), default=None)
    """The period and limits the 80% warning was last given for, so it is given once each."""
    exceeded_for: Mapped[str | None] = mapped_column(String(64), default=None)
    updated_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)

    __table_args__ = (UniqueConstraint("scope_id", "period", name="uq_budgets_scope_period"),)


class Worktree(Base):
    """A git worktree (and its branch) in which a conversation of tasks works apart from the project folder."""

    __tablename__ = "worktrees"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    root_task_id: Mapped[str] = mapped_column(String(36))
    path: Mapped[str] = mapped_column(String(1024))
    """Relative to the project folder."""
    branch: Mapped[str] = mapped_column(String(255))
    base_branch: Mapped[str | None] = mapped_column(String(255), default=None)
    """The branch checked out in the project folder when it was made (None on a detached HEAD)."""
    base_commit: Mapped[str] = mapped_column(String(64))
    head_commit: Mapped[str | None] = mapped_column(String(64), default=None)
    state: Mapped[str] = mapped_column(String(16))
    """`active`, `merged` (its branch is in its base branch), `discarded`, or `removed` (cleaned up)."""
    merge_commit: Mapped[str | None] = mapped_column(String(64), default=None)
    branch_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)


class TaskDiff(Base):
    """What a worktree task left on its branch: the branch against the commit it started from."""

    __tablename__ = "task_diffs"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    worktree_id: Mapped[str] = mapped_column(String(36))
    branch: Mapped[str] = mapped_column(String(255))
    base_commit: Mapped[str] = mapped_column(String(64))
    head_commit: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    lines_added: Mapped[int] = mapped_column(Integer)
    lines_removed: Mapped[int] = mapped_column(Integer)
    patch: Mapped[str] = mapped_column(Text)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Workflow(Timestamped, Base):
    """A workflow's working copy. Published versions are kept as immutable `WorkflowVersion` snapshots.

    Templates belong to no organization and are visible to everyone; other workflows belong to an
    organization, or, for a caller without one, to their creator alone."""

    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(4096), default=None)
    definition: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_template: Mapped[bool] = mapped_column(Boolean, default=False)
    change_description: Mapped[str | None] = mapped_column(String(4096), default=None)


class WorkflowVersion(Base):
    """An immutable snapshot of a published workflow."""

    __tablename__ = "workflow_versions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(4096), default=None)
    definition: Mapped[dict[str, Any]]
    change_description: Mapped[str | None] = mapped_column(String(4096), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workflow_id", "version", name="uq_workflow_versions_version"),)


class WorkflowExecution(Base):
    """One run of a workflow in a project. It pins the definition it started with; `phases` holds the
    state of every phase and step (the contract's PhaseExecution/StepExecution shapes).

    `workflow_id` carries no foreign key: a finished execution keeps its history after its workflow goes."""

    __tablename__ = "workflow_executions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workflow_id: Mapped[str] = mapped_column(String(36))
    workflow_name: Mapped[str] = mapped_column(String(200))
    workflow_version: Mapped[int] = mapped_column(Integer)
    workflow_version_id: Mapped[str | None] = mapped_column(String(36), default=None)
    definition: Mapped[dict[str, Any]]
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    current_phase: Mapped[int] = mapped_column(Integer, default=0)
    input_parameters: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    triggered_by: Mapped[str] = mapped_column(String(16), default="api")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(default=None)
    end_time: Mapped[datetime | None] = mapped_column(default=None)
    duration: Mapped[int | None] = mapped_column(Integer, default=None)
    """Milliseconds from start to end."""
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    """The replica (incarnation id) that holds this row's lease, while one does."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_fence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Grows by one at every claim; every write of the holder names it, so a holder that lost the lease
    (paused past its expiry while another replica took over) writes nothing."""

    __table_args__ = (
        Index("ix_workflow_executions_project_created", "project_id", "created_at"),
        Index("ix_workflow_executions_workflow", "workflow_id"),
        Index("ix_workflow_executions_status", "status"),
    )


class Memory(Timestamped, Base):
    """One piece of context: its text, where it sits in the tree and who it is shared with.

    `scope_id` names an organization, workspace, project or task (by `scope`); access is always
    decided from the live tree, so `hierarchy` (ids and names) is informative only. The embedding is
    kept here so that the FAISS index on disk can be rebuilt without re-embedding."""

    __tablename__ = "memories"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    memory_type: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(36))
    visibility: Mapped[str] = mapped_column(String(16))
    hierarchy: Mapped[dict[str, Any]]
    tags: Mapped[list[str]] = mapped_column(JSON)
    source: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    custom: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    unique_key: Mapped[str | None] = mapped_column(String(64), default=None)
    unique_value: Mapped[str | None] = mapped_column(String(1024), default=None)
    """The field an upsert matched on (`filePath` for CoSpec) and its value."""
    file_path: Mapped[str | None] = mapped_column(String(1024), default=None)
    """For imported chunks: the file they came from, relative to BASE_ROOT."""
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    embedding_model: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        Index("ix_memories_scope", "scope_id", "created_at"),
        Index("ix_memories_file", "scope_id", "file_path"),
        UniqueConstraint("scope_id", "unique_key", "unique_value", name="uq_memories_unique_key"),
    )


class TrackedFile(Base):
    """A file imported into a scope, so that a sync re-imports it only when its hash changed."""

    __tablename__ = "tracked_files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(36))
    file_path: Mapped[str] = mapped_column(String(1024))
    file_hash: Mapped[str] = mapped_column(String(64))
    memory_ids: Mapped[list[str]] = mapped_column(JSON)
    memory_type: Mapped[str] = mapped_column(String(64))
    visibility: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSON)
    """What a re-import gives the file's new chunks: what it was first imported with."""
    last_import: Mapped[datetime] = mapped_column(default=utcnow)
    last_sync: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (UniqueConstraint("scope_id", "file_path", name="uq_tracked_files_path"),)


class Secret(Timestamped, Base):
    """A secret for the tasks of one organization or one project (exactly one of the two), stored sealed:
    AES-GCM with the service's secrets key, bound to its owner and name (see `store.secret_box`)."""

    __tablename__ = "secrets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), default=None
    )
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), default=None)
    name: Mapped[str] = mapped_column(String(128))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)

    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="uq_secrets_organization_name"),
        UniqueConstraint("project_id", "name", name="uq_secrets_project_name"),
        CheckConstraint("(organization_id IS NULL) <> (project_id IS NULL)", name="ck_secrets_one_owner"),
    )


class Replica(Base):
    """One process serving the API (an incarnation: a restart is a new row), alive while its lease is."""

    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    """REPLICA_NAME: stable across restarts; a new incarnation takes over the work of older ones at once."""
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)


class SandboxReservation(Base):
    """A place taken on a sandbox host while a project's sandbox is being created there, so that replicas
    creating sandboxes at the same time never put more on a host than its capacity."""

    __tablename__ = "sandbox_reservations"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemoryChange(Base):
    """A memory written or deleted, in commit order: each replica's FAISS index follows this log by cursor."""

    __tablename__ = "memory_changes"

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True, autoincrement=True)
    memory_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = ({"sqlite_autoincrement": True},)


class ClusterSetting(Base):
    """Facts every replica must agree on, such as fingerprints of the keys they share."""

    __tablename__ = "cluster_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
