"""GraphQL types for workflow definitions: the working copy and its immutable version snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.definition_types import WorkflowDefinition
from store import models


def _structure(root: Any) -> WorkflowDefinition:
    return WorkflowDefinition.of(root.definition)


STRUCTURE_DESCRIPTION = "The definition as typed phases, steps and transitions; `definition` is it as sent."


@strawberry.type
class Workflow:
    id: strawberry.ID
    organization_id: str | None
    name: str
    description: str | None
    definition: JSON
    structure: WorkflowDefinition = strawberry.field(resolver=_structure, description=STRUCTURE_DESCRIPTION)
    status: str
    version: int
    current_version: int
    is_template: bool
    change_description: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, workflow: models.Workflow) -> Workflow:
        return cls(
            id=strawberry.ID(workflow.id),
            organization_id=workflow.organization_id,
            name=workflow.name,
            description=workflow.description,
            definition=workflow.definition,
            status=workflow.status,
            version=workflow.version,
            current_version=workflow.version,
            is_template=workflow.is_template,
            change_description=workflow.change_description,
            created_at=workflow.created_at,
            updated_at=workflow.updated_at,
        )


@strawberry.type
class WorkflowVersion:
    id: strawberry.ID
    workflow_id: str
    version: int
    name: str
    description: str | None
    definition: JSON
    structure: WorkflowDefinition = strawberry.field(resolver=_structure, description=STRUCTURE_DESCRIPTION)
    change_description: str | None
    created_at: datetime

    @classmethod
    def of(cls, version: models.WorkflowVersion) -> WorkflowVersion:
        return cls(
            id=strawberry.ID(version.id),
            workflow_id=version.workflow_id,
            version=version.version,
            name=version.name,
            description=version.description,
            definition=version.definition,
            change_description=version.change_description,
            created_at=version.created_at,
        )
