"""GraphQL types for sandboxes, their operations, images and progress events."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from resolvers.events import StoredEvent
from resolvers.sandboxes import ImageView, SandboxView
from store import models


@strawberry.type
class SandboxPort:
    sandbox_port: int
    host_port: int | None
    protocol: str


@strawberry.type
class Sandbox:
    id: strawberry.ID
    name: str
    image: str
    status: str
    project_id: str
    backend: str
    isolation: str | None
    working_dir: str
    folder_mapping: str
    ports: list[SandboxPort]
    ip: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: SandboxView) -> Sandbox:
        record, live = view.record, view.live
        return cls(
            id=strawberry.ID(record.id),
            name=record.name,
            image=record.image,
            status=view.status,
            project_id=record.project_id,
            backend=record.backend,
            isolation=live.isolation if live else None,
            working_dir=record.workdir,
            folder_mapping=record.folder_mapping,
            ports=[
                SandboxPort(sandbox_port=p.container_port, host_port=p.host_port, protocol=p.protocol)
                for p in (live.ports if live else ())
            ],
            ip=live.ip if live else None,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


@strawberry.type
class OperationStep:
    id: str
    name: str
    status: str
    start_time: str | None
    end_time: str | None
    error: str | None


@strawberry.type
class OperationProgress:
    message: str
    percentage: int
    total: int
    current: int


@strawberry.type
class SandboxOperation:
    id: strawberry.ID
    type: str
    status: str
    sandbox_id: str | None
    sandbox_name: str | None
    project_id: str
    user_id: str | None
    progress: OperationProgress
    error: str | None
    start_time: datetime
    end_time: datetime | None
    steps: list[OperationStep]

    @classmethod
    def of(cls, operation: models.SandboxOperation) -> SandboxOperation:
        return cls(
            id=strawberry.ID(operation.id),
            type=operation.type,
            status=operation.status,
            sandbox_id=operation.sandbox_id,
            sandbox_name=operation.sandbox_name,
            project_id=operation.project_id,
            user_id=operation.user_id,
            progress=OperationProgress(**operation.progress),
            error=operation.error,
            start_time=operation.start_time,
            end_time=operation.end_time,
            steps=[
                OperationStep(
                    id=step["id"],
                    name=step["name"],
                    status=step["status"],
                    start_time=step.get("startTime"),
                    end_time=step.get("endTime"),
                    error=step.get("error"),
                )
                for step in operation.steps
            ],
        )


@strawberry.type
class SandboxImage:
    name: str
    is_default: bool
    available: bool

    @classmethod
    def of(cls, image: ImageView) -> SandboxImage:
        return cls(name=image.name, is_default=image.is_default, available=image.available)


@strawberry.type
class ProgressEvent:
    id: strawberry.ID
    type: str
    project_id: str
    subject_type: str
    subject_id: str
    timestamp: datetime
    payload: JSON

    @classmethod
    def of(cls, event: StoredEvent) -> ProgressEvent:
        return cls(
            id=strawberry.ID(str(event.id)),
            type=event.type,
            project_id=event.project_id,
            subject_type=event.subject_type,
            subject_id=event.subject_id,
            timestamp=event.created_at,
            payload=event.payload,
        )
