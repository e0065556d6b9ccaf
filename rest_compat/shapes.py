"""The JSON shapes the contract names, built from domain objects (workflows: `workflow_shapes`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from resolvers.events import StoredEvent
from resolvers.execution_plan import iso
from resolvers.sandboxes import ImageView, SandboxView
from resolvers.settings import preferences_of
from resolvers.task_context import ContextUsage
from resolvers.workflow_state import state_of
from rest_compat.spec import account, fit, sandboxes, tasks, tree
from store.models import Organization, Project, SandboxOperation, Task, User, UserSettings, Workspace


def organization_json(org: Organization) -> tree.Organization:
    return fit(
        tree.Organization,
        id=org.id,
        name=org.name,
        folderPath=org.folder_path,
        createdById=org.created_by_id,
        createdAt=iso(org.created_at),
        updatedAt=iso(org.updated_at),
    )


def workspace_json(workspace: Workspace) -> tree.Workspace:
    return fit(
        tree.Workspace,
        id=workspace.id,
        organizationId=workspace.organization_id,
        name=workspace.name,
        folderPath=workspace.folder_path,
        createdAt=iso(workspace.created_at),
        updatedAt=iso(workspace.updated_at),
    )


def project_json(project: Project) -> tree.Project:
    return fit(
        tree.Project,
        id=project.id,
        workspaceId=project.workspace_id,
        name=project.name,
        folderPath=project.folder_path,
        sandboxId=project.sandbox_id,
        sandboxName=project.sandbox_name,
        workflowId=project.workflow_id,
        workflowVersionId=project.workflow_version_id,
        workflowState=state_of(project) if project.workflow_state else None,
        aiConfig=project.ai_config,
        createdAt=iso(project.created_at),
        updatedAt=iso(project.updated_at),
    )


def user_json(user: User) -> account.User:
    return {"id": user.id, "username": user.username}


def settings_json(settings: UserSettings) -> account.SettingsResponse:
    return fit(
        account.SettingsResponse,
        userId=settings.user_id,
        preferences=preferences_of(settings),
        gitDisplayName=settings.git_display_name,
        gitEmail=settings.git_email,
        dockerImage=settings.docker_image,
        updatedAt=iso(settings.updated_at),
    )


def sandbox_json(view: SandboxView) -> sandboxes.SandboxInfoResponse:
    """SandboxInfoResponse, plus the `id`, `projectId` and `folderMapping` the console reads."""
    record, live = view.record, view.live
    return fit(
        sandboxes.SandboxInfoResponse,
        sandboxId=record.id,
        id=record.id,
        name=record.name,
        image=record.image,
        status=view.status,
        ports=[
            fit(sandboxes.SandboxPort, sandboxPort=p.container_port, hostPort=p.host_port, protocol=p.protocol)
            for p in (live.ports if live else ())
        ],
        ip=live.ip if live else None,
        projectId=record.project_id,
        folderMapping=record.folder_mapping,
        workingDir=record.workdir,
        backend=record.backend,
        isolation=live.isolation if live else None,
        createdAt=iso(record.created_at),
        updatedAt=iso(record.updated_at),
    )


def sandbox_creation_json(view: SandboxView, project: Project | None = None) -> sandboxes.SandboxCreationResponse:
    """SandboxCreationResponse, with the fields of SandboxInfoResponse too."""
    return fit(
        sandboxes.SandboxCreationResponse,
        **sandbox_json(view),
        imageName=view.record.image,
        aiConfig=project.ai_config if project else None,
    )


def operation_json(operation: SandboxOperation) -> sandboxes.SandboxOperation:
    end = operation.end_time
    return fit(
        sandboxes.SandboxOperation,
        id=operation.id,
        operationId=operation.id,
        type=operation.type,
        status=operation.status,
        sandboxId=operation.sandbox_id,
        sandboxName=operation.sandbox_name,
        projectId=operation.project_id,
        userId=operation.user_id,
        progress=operation.progress,
        error=operation.error,
        startTime=iso(operation.start_time),
        endTime=iso(end),
        duration=round((end - operation.start_time).total_seconds() * 1000) if end else None,
        steps=[_step_json(step) for step in operation.steps],
        metadata=operation.details,
    )


def _step_json(step: dict[str, Any]) -> sandboxes.OperationStep:
    duration = None
    if step.get("startTime") and step.get("endTime"):
        started = datetime.fromisoformat(step["startTime"].replace("Z", "+00:00"))
        ended = datetime.fromisoformat(step["endTime"].replace("Z", "+00:00"))
        duration = round((ended - started).total_seconds() * 1000)
    return fit(sandboxes.OperationStep, **{**step, "duration": duration})


def image_json(image: ImageView) -> sandboxes.SandboxImageResponse:
    repository, _, tag = image.name.rpartition(":") if ":" in image.name.split("/")[-1] else (image.name, "", "latest")
    return {
        "id": image.name,
        "name": image.name,
        "repository": repository,
        "tags": [tag],
        "isDefault": image.is_default,
        "available": image.available,
    }


def event_json(event: StoredEvent) -> dict[str, Any]:
    """A progress event as the SDK's ProgressClient reads it: `type`, `projectId`, `timestamp`, its fields."""
    return {
        **event.payload,
        "type": event.type,
        "projectId": event.project_id,
        "timestamp": iso(event.created_at),
        "eventId": event.id,
    }


def task_json(task: Task, usage: ContextUsage, agent: dict[str, Any]) -> tasks.TaskRecord:
    """A task record; `agent` adds its usage, session, conversation and worktree (`agent_shapes.agent_json`)."""
    return fit(
        tasks.TaskRecord,
        id=task.id,
        projectId=task.project_id,
        stepId=task.step_id,
        sandboxId=task.sandbox_id,
        prompt=task.prompt,
        parameters=task.parameters,
        status=task.status,
        result=task.result,
        error=task.error,
        startTime=iso(task.start_time),
        endTime=iso(task.end_time),
        userId=task.user_id,
        isAdhoc=task.is_adhoc,
        title=task.title,
        description=task.description,
        artifacts=task.artifacts or [],
        terminalOutput=task.terminal_output,
        duration=task.duration,
        exitCode=task.exit_code,
        contextMemoryIds=task.context_memory_ids or [],
        taskType=task.task_type,
        createdAt=iso(task.created_at),
        executionId=task.execution_id,
        generatedMemoryId=usage.generated_memory_id,
        contextUsage={"retrieved": usage.retrieved, "injected": usage.injected, "generated": usage.generated},
        **agent,
    )
