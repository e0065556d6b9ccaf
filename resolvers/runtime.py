"""What every resolver call receives: the running service's parts, and who is calling."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from resolvers.auth_cache import AuthCache
from resolvers.rate_limit import Admission
from resolvers.storage import StorageState
from resolvers.throttle import LoginThrottle
from sandbox.base import SandboxBackend
from store.config import Settings
from store.db import Database
from store.events import EventLog
from store.locks import ClusterLocks
from store.memory_vectors import MemoryVectors
from store.secret_box import SecretBox

if TYPE_CHECKING:
    from resolvers.cluster import Cluster
    from resolvers.execution_engine import ExecutionEngine
    from resolvers.sandbox_operations import SandboxOperations
    from resolvers.task_scheduler import TaskScheduler
    from resolvers.telemetry import Metrics


@dataclass
class Runtime:
    settings: Settings
    db: Database
    jwt_secret: str
    login_throttle: LoginThrottle
    events: EventLog
    backend: SandboxBackend
    memory: MemoryVectors
    secret_box: SecretBox
    admission: Admission
    locks: ClusterLocks
    operations: SandboxOperations = field(init=False)
    tasks: TaskScheduler = field(init=False)
    executions: ExecutionEngine = field(init=False)
    cluster: Cluster = field(init=False)
    metrics: Metrics = field(init=False)
    auth_cache: AuthCache = field(default_factory=AuthCache)
    storage: StorageState = field(default_factory=StorageState)
    started_at: float = field(default_factory=time.monotonic)
    git_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    """One per project: git work on a project's repository (worktrees, merges) goes one at a time."""


@dataclass(frozen=True)
class Caller:
    """An authenticated user, as established from an access token."""

    user_id: str
    username: str
    is_admin: bool
    token_family: str | None = None
