"""Mutation root: one mutation for every REST write, each with one input and one payload."""

from __future__ import annotations

import strawberry

from schema.agents import AgentMutations
from schema.auth import AuthMutations
from schema.executions import ExecutionMutations
from schema.imports import ImportMutations
from schema.memories import MemoryMutations
from schema.network import NetworkMutations
from schema.organizations import OrganizationMutations
from schema.projects import ProjectMutations
from schema.sandboxes import SandboxMutations
from schema.secrets import SecretMutations
from schema.settings import SettingsMutations
from schema.tasks import TaskMutations
from schema.usage import UsageMutations
from schema.users import UserMutations
from schema.workflows import WorkflowMutations
from schema.workspaces import WorkspaceMutations


@strawberry.type(
    description="Every write. Expected refusals come back in the payload's userErrors; nothing changes then."
)
class Mutation(
    AuthMutations,
    UserMutations,
    SettingsMutations,
    OrganizationMutations,
    WorkspaceMutations,
    ProjectMutations,
    NetworkMutations,
    SecretMutations,
    SandboxMutations,
    TaskMutations,
    AgentMutations,
    UsageMutations,
    WorkflowMutations,
    ExecutionMutations,
    MemoryMutations,
    ImportMutations,
):
    pass
