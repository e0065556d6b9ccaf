"""Project sandboxes: create, start, stop, restart, delete, list, and the images to build them from."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, delete, select

from resolvers import events, sandbox_hosts
from resolvers.access import in_visible_project, member_org_ids, visible_project, visible_sandbox
from resolvers.errors import DomainError, conflict, invalid, missing
from resolvers.pages import Listing, Ordering
from resolvers.runtime import Caller, Runtime
from resolvers.sandbox_spec import build_spec, choose_image, sandbox_name
from resolvers.tx import writing
from resolvers.validation import optional_text
from sandbox.base import ImageNotFound, SandboxError, SandboxInfo, SandboxNotFound, SandboxUnavailable
from store.models import Project, Sandbox, SandboxReservation, UserSettings, Workspace


@dataclass(frozen=True)
class SandboxView:
    record: Sandbox
    live: SandboxInfo | None
    """What the backend reports; None when the backend no longer has it."""

    @property
    def status(self) -> str:
        return self.live.status if self.live else "dead"


@dataclass(frozen=True)
class ImageView:
    name: str
    is_default: bool
    available: bool


@contextlib.contextmanager
def backend_errors(sandbox_id: str | None = None) -> Iterator[None]:
    """Backend failures as domain errors: 404 for a vanished sandbox, 503 when the engine is down."""
    try:
        yield
    except SandboxNotFound:
        raise DomainError("CONTAINER_NOT_FOUND", f"Sandbox {sandbox_id} no longer exists", {"id": sandbox_id}) from None
    except SandboxUnavailable as error:
        raise DomainError("SERVICE_UNAVAILABLE", f"The sandbox engine is unavailable: {error}") from None
    except ImageNotFound as error:
        raise invalid("imageName", str(error)) from None
    except SandboxError as error:
        raise DomainError("OPERATION_FAILED", f"The sandbox engine failed: {error}") from None


async def announce(rt: Runtime, project_id: str, sandbox_id: str, type: str, **fields: object) -> None:
    """A `sandbox_*` event; the SDK matches sandbox events on `sandboxId` or `containerId`, so both are sent."""
    await events.record(
        rt, project_id, "sandbox", sandbox_id, type, sandboxId=sandbox_id, containerId=sandbox_id, **fields
    )


async def live_state(rt: Runtime, sandbox_id: str) -> SandboxInfo | None:
    with backend_errors(sandbox_id):
        try:
            return await rt.backend.inspect(sandbox_id)
        except SandboxNotFound:
            return None


def _sandboxes_where(*conditions: ColumnElement[bool]) -> Select[tuple[Sandbox]]:
    """Sandbox records, filtered through their project and workspace."""
    return (
        select(Sandbox)
        .join(Project, Project.id == Sandbox.project_id)
        .join(Workspace, Workspace.id == Project.workspace_id)
        .where(*conditions)
        .order_by(Sandbox.created_at)
    )


async def _visible_views(rt: Runtime, caller: Caller, *conditions: ColumnElement[bool]) -> list[SandboxView]:
    """The caller's sandboxes matching `conditions`, with live state from one backend listing."""
    async with rt.db.read() as session:
        visible = Workspace.organization_id.in_(member_org_ids(caller))
        records = (await session.scalars(_sandboxes_where(visible, *conditions))).all()
    return await views_of(rt, records)


async def views_of(rt: Runtime, records: Sequence[Sandbox]) -> list[SandboxView]:
    """Sandbox records with their live state, from one backend listing for all of them."""
    if not records:
        return []
    with backend_errors():
        live = {info.id: info for info in await rt.backend.list()}
    return [SandboxView(record, live.get(record.id)) for record in records]


SANDBOX_ORDER = Ordering("sandboxes", ((Sandbox.created_at, False), (Sandbox.id, False)))


def sandbox_listing(caller: Caller) -> Listing:
    """Sandbox records of the caller's projects, oldest first (their live state comes from `views_of`)."""
    return Listing(in_visible_project(select(Sandbox), Sandbox.project_id, caller), SANDBOX_ORDER)


async def list_sandboxes(rt: Runtime, caller: Caller) -> list[SandboxView]:
    return await _visible_views(rt, caller)


async def get_sandbox(rt: Runtime, caller: Caller, sandbox_id: str) -> SandboxView:
    async with rt.db.read() as session:
        record, *_ = await visible_sandbox(session, caller, sandbox_id)
    return SandboxView(record, await live_state(rt, sandbox_id))


async def sandbox_of_project(rt: Runtime, project_id: str) -> Sandbox | None:
    async with rt.db.read() as session:
        return await session.scalar(select(Sandbox).where(Sandbox.project_id == project_id))


async def create_sandbox(
    rt: Runtime,
    caller: Caller,
    project_id: object,
    name: object = None,
    image_name: object = None,
    ai_config: object = None,
) -> SandboxView:
    """Create and start the project's sandbox; 409 when the project already has one."""
    if not isinstance(project_id, str) or not project_id:
        raise missing("projectId")
    requested_name = optional_text("name", name, 200)
    requested_image = optional_text("imageName", image_name, 255)
    async with rt.db.read() as session:
        project, workspace, org = await visible_project(session, caller, project_id)
        existing = await session.scalar(select(Sandbox.id).where(Sandbox.project_id == project.id))
        settings = await session.get(UserSettings, caller.user_id)
    if existing:
        raise conflict(f"Project {project.id} already has sandbox {existing}", {"sandboxId": existing})
    spec = build_spec(
        rt,
        org,
        workspace,
        project,
        sandbox_name(project, requested_name),
        choose_image(rt, requested_image, settings, project.ai_config),
        ai_config,
        settings,
    )
    with backend_errors():
        created, live, host = await sandbox_hosts.create_placed(rt, spec)
    record = Sandbox(
        id=created.id,
        project_id=project.id,
        name=created.name,
        image=spec.image,
        backend=rt.backend.name,
        workdir=spec.container_workdir,
        folder_mapping=f"{spec.project_dir}:{spec.container_workdir}",
        created_by_id=caller.user_id,
        host=host,
    )
    try:
        async with writing(rt) as session:
            if host is not None:  # the place it took is now its record's
                await session.execute(delete(SandboxReservation).where(SandboxReservation.project_id == project.id))
            session.add(record)
            stored = await session.get(Project, project.id)
            if stored is not None:
                stored.sandbox_id, stored.sandbox_name = created.id, created.name
    except DomainError:
        with backend_errors(created.id):
            await rt.backend.delete(created.id)
        if host is not None:
            await sandbox_hosts.release(rt, project.id)
        raise conflict(f"Project {project.id} already has a sandbox") from None
    await announce(rt, project.id, created.id, "sandbox_created", image=spec.image)
    await announce(rt, project.id, created.id, "sandbox_started")
    return SandboxView(record, live)


async def checked_sandbox(rt: Runtime, caller: Caller, sandbox_id: str) -> tuple[Sandbox, SandboxInfo]:
    async with rt.db.read() as session:
        record, *_ = await visible_sandbox(session, caller, sandbox_id)
    live = await live_state(rt, sandbox_id)
    if live is None:
        raise DomainError("CONTAINER_NOT_FOUND", f"Sandbox {sandbox_id} no longer exists", {"id": sandbox_id})
    return record, live


async def _report_failure(rt: Runtime, record: Sandbox, action: str, error: DomainError) -> None:
    await announce(rt, record.project_id, record.id, "sandbox_error", error=f"{action} failed: {error.message}")


async def start_sandbox(rt: Runtime, caller: Caller, sandbox_id: str) -> SandboxView:
    record, live = await checked_sandbox(rt, caller, sandbox_id)
    if live.status == "running":
        raise conflict(f"Sandbox {sandbox_id} is already running", {"status": live.status})
    return SandboxView(record, await perform(rt, record, "start"))


async def stop_sandbox(rt: Runtime, caller: Caller, sandbox_id: str) -> SandboxView:
    record, live = await checked_sandbox(rt, caller, sandbox_id)
    if live.status != "running":
        raise conflict(f"Sandbox {sandbox_id} is not running", {"status": live.status})
    return SandboxView(record, await perform(rt, record, "stop"))


async def restart_sandbox(rt: Runtime, caller: Caller, sandbox_id: str) -> SandboxView:
    record, _ = await checked_sandbox(rt, caller, sandbox_id)
    return SandboxView(record, await perform(rt, record, "restart"))


async def perform(rt: Runtime, record: Sandbox, action: str) -> SandboxInfo:
    """Start, stop or restart on the backend, announcing the outcome as events."""
    try:
        with backend_errors(record.id):
            if action == "start":
                live = await rt.backend.start(record.id)
            elif action == "stop":
                live = await rt.backend.stop(record.id)
            else:
                live = await rt.backend.restart(record.id)
    except DomainError as error:
        await _report_failure(rt, record, action, error)
        raise
    if action in ("stop", "restart"):
        await announce(rt, record.project_id, record.id, "sandbox_stopped")
    if action in ("start", "restart"):
        await announce(rt, record.project_id, record.id, "sandbox_started")
    return live


async def ensure_running(rt: Runtime, record: Sandbox) -> None:
    """Start the sandbox when it is not running; 404 when the backend no longer has it."""
    live = await live_state(rt, record.id)
    if live is None:
        raise DomainError("CONTAINER_NOT_FOUND", f"Sandbox {record.id} no longer exists")
    if live.status != "running":
        await perform(rt, record, "start")


async def delete_sandbox(rt: Runtime, caller: Caller, sandbox_id: str) -> None:
    async with rt.db.read() as session:
        record, *_ = await visible_sandbox(session, caller, sandbox_id)
    await remove(rt, record)


async def remove(rt: Runtime, record: Sandbox) -> None:
    """Delete the container (if it still exists) and the record; the project folder stays.
    Tasks running in it are cancelled first, while their project and its event stream still exist."""
    await rt.tasks.cancel_running(record.project_id)
    try:
        with backend_errors(record.id), contextlib.suppress(SandboxNotFound):
            await rt.backend.delete(record.id)
    except DomainError as error:
        await _report_failure(rt, record, "delete", error)
        raise
    async with writing(rt) as session:
        stored = await session.get(Sandbox, record.id)
        if stored is not None:
            await session.delete(stored)
        project = await session.get(Project, record.project_id)
        if project is not None and project.sandbox_id == record.id:
            project.sandbox_id, project.sandbox_name = None, None
    await announce(rt, record.project_id, record.id, "sandbox_stopped")
    await announce(rt, record.project_id, record.id, "sandbox_deleted")


async def list_images(rt: Runtime, caller: Caller) -> tuple[Sequence[ImageView], str]:
    """The configured images (IMAGE_NAME, SANDBOX_IMAGES, the caller's dockerImage), marking which exist locally."""
    async with rt.db.read() as session:
        settings = await session.get(UserSettings, caller.user_id)
    default = (settings.docker_image if settings else None) or rt.settings.image_name
    names = list(dict.fromkeys([default, rt.settings.image_name, *rt.settings.sandbox_images]))
    try:
        local = set(await rt.backend.list_images())
        present = {name: name in local or await rt.backend.image_exists(name) for name in names}
    except SandboxUnavailable:
        present = dict.fromkeys(names, False)
    return [ImageView(name, name == default, present[name]) for name in names], default


async def sandboxes_by_project(rt: Runtime, caller: Caller, project_ids: Sequence[str]) -> dict[str, SandboxView]:
    """The sandboxes of several projects in one query and one backend listing."""
    views = await _visible_views(rt, caller, Sandbox.project_id.in_(project_ids))
    return {view.record.project_id: view for view in views}


async def unknown_sandboxes(rt: Runtime) -> list[str]:
    """Labelled sandboxes the database does not know (left by a crash, or created by hand)."""
    try:
        live = await rt.backend.list()
    except SandboxError:
        return []
    async with rt.db.read() as session:
        known = set((await session.scalars(select(Sandbox.id))).all())
    return [info.id for info in live if info.id not in known]


async def remove_sandboxes_below(
    rt: Runtime, *, organization_id: str | None = None, workspace_id: str | None = None, project_id: str | None = None
) -> None:
    """Delete the sandboxes of everything below an organization, a workspace or a project that is going away."""
    query = (
        select(Sandbox)
        .join(Project, Project.id == Sandbox.project_id)
        .join(Workspace, Workspace.id == Project.workspace_id)
    )
    if organization_id is not None:
        query = query.where(Workspace.organization_id == organization_id)
    if workspace_id is not None:
        query = query.where(Workspace.id == workspace_id)
    if project_id is not None:
        query = query.where(Project.id == project_id)
    async with rt.db.read() as session:
        records = (await session.scalars(query)).all()
    for record in records:
        await remove(rt, record)


async def sandboxes_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, SandboxView]:
    """The visible ones among several sandboxes, with live state from one backend listing."""
    views = await _visible_views(rt, caller, Sandbox.id.in_(ids))
    return {view.record.id: view for view in views}
