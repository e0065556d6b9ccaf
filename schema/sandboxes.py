"""Sandboxes and their asynchronous operations (resolvers/sandboxes.py, sandbox_operations.py; operations
51-63): a project's sandbox with its live state, images, and start/stop/restart/delete in the background."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from resolvers import sandbox_operations, sandboxes
from resolvers.pages import page_of, page_request, total_of
from resolvers.sandboxes import ImageView, SandboxView
from schema.connections import After, Before, Connection, First, Last, connection, list_key, nested_connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.relay import Node, database_id, global_id
from schema.users import User, user_of
from store import models

if TYPE_CHECKING:
    from schema.projects import Project


@strawberry.enum(description="A sandbox's state, as its engine reports it.")
class SandboxStatus(Enum):
    CREATED = strawberry.enum_value("created", description="Made but never started.")
    RUNNING = strawberry.enum_value("running", description="Running: tasks can run in it.")
    PAUSED = strawberry.enum_value("paused", description="Frozen.")
    STOPPED = strawberry.enum_value("stopped", description="Stopped; a task starts it again.")
    EXITED = strawberry.enum_value("exited", description="Its main process ended.")
    REMOVING = strawberry.enum_value("removing", description="Being deleted.")
    DEAD = strawberry.enum_value("dead", description="Gone from its engine, or broken.")


@strawberry.enum(description="What runs a sandbox.")
class SandboxBackend(Enum):
    DOCKER = strawberry.enum_value("docker", description="A Docker engine: the sandbox is a container.")
    LOCAL = strawberry.enum_value("local", description="This host: the sandbox is the project folder.")


@strawberry.enum(description="How a sandbox's commands are confined.")
class Isolation(Enum):
    DOCKER = strawberry.enum_value("docker", description="In a Docker container.")
    BUBBLEWRAP = strawberry.enum_value("bubblewrap", description="On this host, inside bubblewrap.")
    NONE = strawberry.enum_value("none", description="On this host, as plain processes.")


@strawberry.enum(description="A sandbox port's protocol.")
class PortProtocol(Enum):
    TCP = strawberry.enum_value("tcp", description="TCP.")
    UDP = strawberry.enum_value("udp", description="UDP.")


@strawberry.type(description="A port of a sandbox and where it is published on the host.")
class SandboxPort:
    sandbox_port: int = strawberry.field(description="The port inside the sandbox.")
    host_port: int | None = strawberry.field(description="The host port it is published on, if it is.")
    protocol: PortProtocol = strawberry.field(description="Its protocol.")


@strawberry.type(description="Where a project's tasks run: a container (or, without Docker, the project folder).")
class Sandbox(Node):
    name: str = strawberry.field(description="Its name (the container's).")
    image: str = strawberry.field(description="The image it was made from.")
    status: SandboxStatus = strawberry.field(description="Its state now, from its engine.")
    backend: SandboxBackend = strawberry.field(description="What made it and runs it.")
    isolation: Isolation | None = strawberry.field(description="How its commands are confined; null when it is gone.")
    working_dir: str = strawberry.field(description="The project folder's path inside it.")
    folder_mapping: str = strawberry.field(description="`hostPath:containerPath` of the project folder.")
    ports: list[SandboxPort] = strawberry.field(description="Its ports and where they are published.")
    ip: str | None = strawberry.field(description="Its address on the engine's network, when it has one.")
    created_at: datetime = strawberry.field(description="When it was made.")
    updated_at: datetime = strawberry.field(description="When its record last changed.")
    project_id: strawberry.Private[str]
    created_by_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, view: SandboxView) -> Sandbox:
        record, live = view.record, view.live
        return cls(
            id=global_id("Sandbox", record.id),
            database_id=record.id,
            name=record.name,
            image=record.image,
            status=SandboxStatus(view.status),
            backend=SandboxBackend(record.backend),
            isolation=Isolation(live.isolation) if live else None,
            working_dir=record.workdir,
            folder_mapping=record.folder_mapping,
            ports=[
                SandboxPort(sandbox_port=p.container_port, host_port=p.host_port, protocol=PortProtocol(p.protocol))
                for p in (live.ports if live else ())
            ],
            ip=live.ip if live else None,
            created_at=record.created_at,
            updated_at=record.updated_at,
            project_id=record.project_id,
            created_by_id=record.created_by_id,
        )

    @strawberry.field(description="The project it belongs to.")
    async def project(self, info: GraphInfo) -> Annotated[Project, strawberry.lazy("schema.projects")] | None:
        from schema.projects import Project

        found = await info.context.loaders.project.load(self.project_id)
        return Project.of(found) if found else None

    @strawberry.field(description="Who made it; null when unknown or not visible to you.")
    async def created_by(self, info: GraphInfo) -> User | None:
        return await user_of(info, self.created_by_id)

    @strawberry.field(description="Its operations (start, stop, …), newest first.")
    async def operations(
        self,
        info: GraphInfo,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            list[Annotated[OperationStatus, strawberry.lazy("schema.sandboxes")]] | None,
            strawberry.argument(description="Only operations in one of these states."),
        ] = None,
    ) -> Connection[SandboxOperation]:
        statuses = [s.value for s in status or []]
        listing = sandbox_operations.operation_listing(info.context.caller, statuses, by_sandbox=True)
        request = page_request(first, after, last, before)
        return await nested_connection(
            info, self.database_id, listing, request, SandboxOperation.of, list_key(statuses)
        )


@strawberry.type(description="A sandbox image this service offers.")
class SandboxImage:
    name: str = strawberry.field(description="Its reference (repository:tag).")
    is_default: bool = strawberry.field(description="New sandboxes use it when none is named.")
    available: bool = strawberry.field(description="It exists on the engine (else it is pulled first).")

    @classmethod
    def of(cls, image: ImageView) -> SandboxImage:
        return cls(name=image.name, is_default=image.is_default, available=image.available)


@strawberry.enum(description="What a sandbox operation does.")
class OperationType(Enum):
    CREATE = strawberry.enum_value("create", description="Make the sandbox.")
    START = strawberry.enum_value("start", description="Start it.")
    STOP = strawberry.enum_value("stop", description="Stop it.")
    RESTART = strawberry.enum_value("restart", description="Stop and start it.")
    DELETE = strawberry.enum_value("delete", description="Delete it (the project folder stays).")
    PULL_IMAGE = strawberry.enum_value("pull_image", description="Fetch its image.")


@strawberry.enum(description="Where a sandbox operation stands.")
class OperationStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Accepted, not begun.")
    IN_PROGRESS = strawberry.enum_value("in_progress", description="Working.")
    PULLING_IMAGE = strawberry.enum_value("pulling_image", description="Fetching the image.")
    CREATING_SANDBOX = strawberry.enum_value("creating_sandbox", description="Making the sandbox.")
    STARTING_SANDBOX = strawberry.enum_value("starting_sandbox", description="Starting it.")
    STOPPING_SANDBOX = strawberry.enum_value("stopping_sandbox", description="Stopping it.")
    COMPLETED = strawberry.enum_value("completed", description="Done.")
    FAILED = strawberry.enum_value("failed", description="Failed (see error).")
    CANCELLED = strawberry.enum_value("cancelled", description="Cancelled.")


@strawberry.enum(description="Where one step of a sandbox operation stands.")
class OperationStepStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Not begun.")
    RUNNING = strawberry.enum_value("running", description="Working.")
    COMPLETED = strawberry.enum_value("completed", description="Done.")
    FAILED = strawberry.enum_value("failed", description="Failed.")


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@strawberry.type(description="One step of a sandbox operation.")
class OperationStep:
    step_id: str = strawberry.field(name="stepId", description="The step's name in code (e.g. stop_sandbox).")
    name: str = strawberry.field(description="What it does, in words.")
    status: OperationStepStatus = strawberry.field(description="Where it stands.")
    start_time: datetime | None = strawberry.field(description="When it began.")
    end_time: datetime | None = strawberry.field(description="When it ended.")
    error: str | None = strawberry.field(description="Why it failed.")


@strawberry.type(description="How far an operation or execution has come.")
class Progress:
    message: str = strawberry.field(description="What it is doing, in words.")
    percentage: int = strawberry.field(description="0 to 100.")
    total: int = strawberry.field(description="How many steps in all.")
    current: int = strawberry.field(description="How many steps have finished.")


@strawberry.type(description="A sandbox start, stop, restart or delete running in the background.")
class SandboxOperation(Node):
    type: OperationType = strawberry.field(description="What it does.")
    status: OperationStatus = strawberry.field(description="Where it stands.")
    sandbox_name: str | None = strawberry.field(description="The sandbox's name when the operation began.")
    progress: Progress = strawberry.field(description="How far it has come.")
    error: str | None = strawberry.field(description="Why it failed.")
    steps: list[OperationStep] = strawberry.field(description="Its steps, in order.")
    start_time: datetime = strawberry.field(description="When it was accepted.")
    end_time: datetime | None = strawberry.field(description="When it ended.")
    sandbox_id: strawberry.Private[str | None]
    project_id: strawberry.Private[str]
    user_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, operation: models.SandboxOperation) -> SandboxOperation:
        return cls(
            id=global_id("SandboxOperation", operation.id),
            database_id=operation.id,
            type=OperationType(operation.type),
            status=OperationStatus(operation.status),
            sandbox_name=operation.sandbox_name,
            progress=Progress(**operation.progress),
            error=operation.error,
            steps=[
                OperationStep(
                    step_id=step["id"],
                    name=step["name"],
                    status=OperationStepStatus(step["status"]),
                    start_time=_moment(step.get("startTime")),
                    end_time=_moment(step.get("endTime")),
                    error=step.get("error"),
                )
                for step in operation.steps
            ],
            start_time=operation.start_time,
            end_time=operation.end_time,
            sandbox_id=operation.sandbox_id,
            project_id=operation.project_id,
            user_id=operation.user_id,
        )

    @strawberry.field(description="The sandbox it works on; null once that is deleted.")
    async def sandbox(self, info: GraphInfo) -> Sandbox | None:
        if self.sandbox_id is None:
            return None
        view = await info.context.loaders.sandbox.load(self.sandbox_id)
        return Sandbox.of(view) if view else None

    @strawberry.field(description="The project whose sandbox it works on.")
    async def project(self, info: GraphInfo) -> Annotated[Project, strawberry.lazy("schema.projects")] | None:
        from schema.projects import Project

        found = await info.context.loaders.project.load(self.project_id)
        return Project.of(found) if found else None

    @strawberry.field(description="Who asked for it; null when unknown or not visible to you.")
    async def user(self, info: GraphInfo) -> User | None:
        return await user_of(info, self.user_id)


@strawberry.type
class SandboxQueries:
    @strawberry.field(description="Sandboxes of every project you can see, oldest first.")
    async def sandboxes(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Sandbox]:
        rt, listing = info.context.rt, sandboxes.sandbox_listing(info.context.caller)
        page = await page_of(rt, listing, page_request(first, after, last, before))
        views = {view.record.id: view for view in await sandboxes.views_of(rt, page.items)}
        return connection(page, lambda record: Sandbox.of(views[record.id]), lambda: total_of(rt, listing))

    @strawberry.field(description="The sandbox images on offer (IMAGE_NAME, SANDBOX_IMAGES, your dockerImage).")
    async def sandbox_images(self, info: GraphInfo) -> list[SandboxImage]:
        images, _ = await sandboxes.list_images(info.context.rt, info.context.caller)
        return [SandboxImage.of(image) for image in images]


def sandbox_id(value: object, field: str = "id") -> str:
    return database_id(field, value, "Sandbox")


@strawberry.enum(description="What to do with a sandbox in the background.")
class SandboxAction(Enum):
    START = strawberry.enum_value("start", description="Start it.")
    STOP = strawberry.enum_value("stop", description="Stop it.")
    RESTART = strawberry.enum_value("restart", description="Stop and start it.")
    DELETE = strawberry.enum_value("delete", description="Delete it.")


@strawberry.input(description="A project's new sandbox.")
class CreateSandboxInput:
    project_id: strawberry.ID = strawberry.field(description="The project (it must have none yet).")
    name: str | None = strawberry.field(default=None, description="Its name; made from the project's when left out.")
    image_name: str | None = strawberry.field(
        default=None, description="The image; else your dockerImage setting, else IMAGE_NAME."
    )
    ai_config: JSON | None = strawberry.field(default=None, description="AI configuration for it (else the project's).")


@strawberry.input(description="A sandbox.")
class SandboxInput:
    id: strawberry.ID = strawberry.field(description="The sandbox.")


@strawberry.input(description="A sandbox operation to run in the background.")
class StartSandboxOperationInput:
    sandbox_id: strawberry.ID = strawberry.field(description="The sandbox.")
    action: SandboxAction = strawberry.field(description="What to do.")


@strawberry.input(description="A sandbox operation to cancel.")
class CancelSandboxOperationInput:
    id: strawberry.ID = strawberry.field(description="The operation.")


@strawberry.type(description="The result of a mutation on a sandbox.")
class SandboxPayload(Payload):
    sandbox: Sandbox | None = strawberry.field(default=None, description="The sandbox with its state after it.")


@strawberry.type(description="The result of deleteSandbox.")
class DeleteSandboxPayload(Payload):
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted sandbox's id.")


@strawberry.type(description="The result of startSandboxOperation and cancelSandboxOperation.")
class SandboxOperationPayload(Payload):
    operation: SandboxOperation | None = strawberry.field(
        default=None, description="The operation; follow it with the sandboxOperation subscription."
    )


def _sandbox_payload(view: SandboxView | None, errors: list[Any]) -> SandboxPayload:
    return SandboxPayload(sandbox=Sandbox.of(view) if view else None, user_errors=errors)


def _operation_payload(operation: models.SandboxOperation | None, errors: list[Any]) -> SandboxOperationPayload:
    return SandboxOperationPayload(operation=SandboxOperation.of(operation) if operation else None, user_errors=errors)


@strawberry.type
class SandboxMutations:
    @strawberry.mutation(description="Make and start a project's sandbox.")
    async def create_sandbox(self, info: GraphInfo, input: CreateSandboxInput) -> SandboxPayload:
        async def create() -> SandboxView:
            from schema.projects import project_id

            return await sandboxes.create_sandbox(
                info.context.rt,
                info.context.caller,
                project_id(input.project_id, "projectId"),
                input.name,
                input.image_name,
                input.ai_config,
            )

        return _sandbox_payload(*await attempt(create()))

    @strawberry.mutation(description="Start a stopped sandbox and wait for it.")
    async def start_sandbox(self, info: GraphInfo, input: SandboxInput) -> SandboxPayload:
        async def start() -> SandboxView:
            return await sandboxes.start_sandbox(info.context.rt, info.context.caller, sandbox_id(input.id))

        return _sandbox_payload(*await attempt(start()))

    @strawberry.mutation(description="Stop a running sandbox (its running tasks are cancelled) and wait for it.")
    async def stop_sandbox(self, info: GraphInfo, input: SandboxInput) -> SandboxPayload:
        async def stop() -> SandboxView:
            return await sandboxes.stop_sandbox(info.context.rt, info.context.caller, sandbox_id(input.id))

        return _sandbox_payload(*await attempt(stop()))

    @strawberry.mutation(description="Restart a sandbox and wait for it.")
    async def restart_sandbox(self, info: GraphInfo, input: SandboxInput) -> SandboxPayload:
        async def restart() -> SandboxView:
            return await sandboxes.restart_sandbox(info.context.rt, info.context.caller, sandbox_id(input.id))

        return _sandbox_payload(*await attempt(restart()))

    @strawberry.mutation(description="Delete a sandbox and wait for it; the project folder stays.")
    async def delete_sandbox(self, info: GraphInfo, input: SandboxInput) -> DeleteSandboxPayload:
        async def delete() -> None:
            await sandboxes.delete_sandbox(info.context.rt, info.context.caller, sandbox_id(input.id))

        _, errors = await attempt(delete())
        return DeleteSandboxPayload(deleted_id=None if errors else input.id, user_errors=errors)

    @strawberry.mutation(description="Start, stop, restart or delete a sandbox in the background.")
    async def start_sandbox_operation(
        self, info: GraphInfo, input: StartSandboxOperationInput
    ) -> SandboxOperationPayload:
        async def submit() -> models.SandboxOperation:
            checked = sandbox_id(input.sandbox_id, "sandboxId")
            return await info.context.rt.operations.submit(info.context.caller, checked, input.action.value)

        return _operation_payload(*await attempt(submit()))

    @strawberry.mutation(description="Cancel a sandbox operation that has not finished.")
    async def cancel_sandbox_operation(
        self, info: GraphInfo, input: CancelSandboxOperationInput
    ) -> SandboxOperationPayload:
        async def cancel() -> models.SandboxOperation:
            checked = database_id("id", input.id, "SandboxOperation")
            return await info.context.rt.operations.cancel(info.context.caller, checked)

        return _operation_payload(*await attempt(cancel()))
