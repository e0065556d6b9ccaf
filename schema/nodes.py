"""Fetching any object by its global id: `node(id:)`, `nodes(ids:)` and the typed lookups of the root."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from schema.context import GraphInfo
from schema.executions import Execution
from schema.loaders import Loaders
from schema.memories import Memory
from schema.organizations import Organization
from schema.projects import Project
from schema.relay import Node, parse_global_id
from schema.sandboxes import Sandbox, SandboxOperation
from schema.tasks import Task
from schema.usage import Budget
from schema.users import User
from schema.workflows import Workflow, WorkflowVersion
from schema.workspaces import Workspace

NODE_TYPES: dict[str, tuple[Callable[[Loaders], DataLoader[str, Any]], Callable[[Any], Node]]] = {
    "User": (lambda loaders: loaders.user, User.of),
    "Organization": (lambda loaders: loaders.organization, Organization.of),
    "Workspace": (lambda loaders: loaders.workspace, Workspace.of),
    "Project": (lambda loaders: loaders.project, Project.of),
    "Sandbox": (lambda loaders: loaders.sandbox, Sandbox.of),
    "SandboxOperation": (lambda loaders: loaders.operation, SandboxOperation.of),
    "Task": (lambda loaders: loaders.task, Task.of),
    "Workflow": (lambda loaders: loaders.workflow, Workflow.of),
    "WorkflowVersion": (lambda loaders: loaders.version, WorkflowVersion.of),
    "Execution": (lambda loaders: loaders.execution, Execution.of),
    "Memory": (lambda loaders: loaders.memory, Memory.of),
    "Budget": (lambda loaders: loaders.budget, Budget.of),
}


async def resolve_node(info: GraphInfo, global_id: object, *types: str) -> Any:
    """The object behind a global id (of one of `types`, when given); null when it is missing, not visible to
    the caller, or not an id this server made: the three look the same."""
    parsed = parse_global_id(global_id)
    if parsed is None or parsed[0] not in NODE_TYPES or (types and parsed[0] not in types):
        return None
    loader, wrap = NODE_TYPES[parsed[0]]
    found = await loader(info.context.loaders).load(parsed[1])
    return wrap(found) if found is not None else None


async def resolve_nodes(info: GraphInfo, global_ids: Sequence[object]) -> list[Any]:
    """Several objects, batched per type by the loaders (one query per type however many ids)."""
    return list(await asyncio.gather(*(resolve_node(info, value) for value in global_ids)))
