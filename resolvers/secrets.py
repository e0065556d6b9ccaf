"""Secrets of organizations and projects: the agents' API keys, a git token, anything a task needs and
nobody should read back.

- An organization's owners set and delete its secrets and those of its projects. Every member may list
  their names (never values), and every member's tasks get them: a member can therefore learn a value
  through a task of their own. Masking keeps values out of output by accident, not out of a member's
  reach; an organization's members are trusted with its secrets.
- Values are stored sealed (`store.secret_box`), are never returned by any API, and go into a task's
  environment only when it runs, never into its sandbox's own environment. A project's secret overrides
  its organization's of the same name.
- Values are masked (`***`) in task output and results, in events, in memories kept from task dialogs,
  and in logs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.access import require_owner, visible_organization, visible_project
from resolvers.errors import DomainError, invalid, missing
from resolvers.log_redaction import KNOWN_SECRETS
from resolvers.runtime import Caller, Runtime
from resolvers.secret_masking import MIN_SECRET_LENGTH, Masker
from resolvers.tx import writing
from resolvers.validation import one_of
from store.models import Organization, Project, Secret, Workspace
from store.secret_box import SecretUnreadable

SCOPES = ("organization", "project")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME = 128
MAX_VALUE = 16384
RESERVED_NAMES = frozenset(
    {"PATH", "HOME", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"}
    | {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}
)
"""Set by the service for every task: its sandbox's network depends on them."""
RESERVED_PREFIX = "ORCHESTRATOR_"


@dataclass(frozen=True)
class SecretInfo:
    """What may be told about a secret: never its value."""

    name: str
    scope: str
    scope_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class _Owner:
    scope: str
    scope_id: str
    organization: Organization

    @property
    def rows(self) -> ColumnElement[bool]:
        column = Secret.organization_id if self.scope == "organization" else Secret.project_id
        return column == self.scope_id


def _sealing_context(row: Secret) -> str:
    """Associated data of a sealed value: where it is kept, so it opens nowhere else."""
    if row.organization_id is not None:
        return f"secret:organization:{row.organization_id}:{row.name}"
    return f"secret:project:{row.project_id}:{row.name}"


def _info(row: Secret) -> SecretInfo:
    scope, scope_id = ("organization", row.organization_id) if row.organization_id else ("project", row.project_id)
    assert scope_id is not None
    return SecretInfo(row.name, scope, scope_id, row.created_at, row.updated_at)


def secret_name(value: object) -> str:
    """A name that is a valid environment variable name and not one the service sets itself."""
    if value is None or value == "":
        raise missing("name")
    if not isinstance(value, str) or len(value) > MAX_NAME or not NAME.fullmatch(value):
        raise invalid("name", f"must be an environment variable name (letters, digits, _; at most {MAX_NAME})")
    if value in RESERVED_NAMES or value.startswith(RESERVED_PREFIX):
        raise invalid("name", f"{value} is set by the service for every task and cannot be a secret")
    return value


def secret_value(value: object) -> str:
    if value is None:
        raise missing("value")
    if not isinstance(value, str):
        raise invalid("value", "must be a string")
    if not MIN_SECRET_LENGTH <= len(value) <= MAX_VALUE:
        raise invalid(
            "value",
            f"must be {MIN_SECRET_LENGTH} to {MAX_VALUE} characters (shorter ones could not be masked in output)",
        )
    if "\x00" in value:
        raise invalid("value", "must not contain NUL bytes")
    return value


async def _owner(session: AsyncSession, caller: Caller, scope: object, scope_id: str) -> _Owner:
    """The organization or project the secrets belong to (404 for one the caller may not see)."""
    kind = one_of("scope", scope, SCOPES)
    if kind == "organization":
        org = await visible_organization(session, caller, scope_id)
        return _Owner(kind, org.id, org)
    project, _, org = await visible_project(session, caller, scope_id)
    return _Owner(kind, project.id, org)


async def list_secrets(rt: Runtime, caller: Caller, scope: object, scope_id: str) -> Sequence[SecretInfo]:
    """An organization's secrets; for a project, those its tasks get: its own and, where it has none of
    that name, its organization's."""
    async with rt.db.read() as session:
        owner = await _owner(session, caller, scope, scope_id)
        condition = owner.rows
        if owner.scope == "project":
            condition = or_(condition, Secret.organization_id == owner.organization.id)
        rows = (await session.scalars(select(Secret).where(condition).order_by(Secret.name))).all()
    own = {row.name for row in rows if row.project_id is not None}
    return [_info(row) for row in rows if row.project_id is not None or row.name not in own]


async def set_secret(
    rt: Runtime, caller: Caller, scope: object, scope_id: str, name: object, value: object
) -> tuple[SecretInfo, bool]:
    """Create or replace a secret (owners only); True when it was created."""
    checked_name, checked_value = secret_name(name), secret_value(value)
    async with writing(rt) as session:
        owner = await _owner(session, caller, scope, scope_id)
        await require_owner(session, caller, owner.organization)
        row = await session.scalar(select(Secret).where(owner.rows, Secret.name == checked_name))
        created = row is None
        if row is None:
            row = Secret(name=checked_name, **{f"{owner.scope}_id": owner.scope_id})
            session.add(row)
        row.sealed = rt.secret_box.seal(checked_value, _sealing_context(row))
        row.updated_by_id = caller.user_id
        await session.flush()
    KNOWN_SECRETS.register([checked_value])
    return _info(row), created


async def delete_secret(rt: Runtime, caller: Caller, scope: object, scope_id: str, name: str) -> None:
    async with writing(rt) as session:
        owner = await _owner(session, caller, scope, scope_id)
        await require_owner(session, caller, owner.organization)
        row = await session.scalar(select(Secret).where(owner.rows, Secret.name == name))
        if row is None:
            raise DomainError("NOT_FOUND", f"Secret {name} not found in {owner.scope} {scope_id}", {"name": name})
        await session.delete(row)


async def task_environment(rt: Runtime, project_id: str) -> dict[str, str]:
    """The secrets a task of the project runs with, opened: its organization's, then its own over them."""
    query = (
        select(Secret)
        .join(Project, Project.id == project_id)
        .join(Workspace, Workspace.id == Project.workspace_id)
        .where(or_(Secret.project_id == project_id, Secret.organization_id == Workspace.organization_id))
    )
    async with rt.db.read() as session:
        rows = sorted((await session.scalars(query)).all(), key=lambda row: row.project_id is not None)
    environment: dict[str, str] = {}
    for row in rows:
        try:
            environment[row.name] = rt.secret_box.open(row.sealed, _sealing_context(row))
        except SecretUnreadable as error:
            raise DomainError(
                "SERVICE_UNAVAILABLE", f"Secret {row.name} cannot be read: it {error} (was SECRETS_KEY changed?)"
            ) from None
    KNOWN_SECRETS.register(environment.values())
    return environment


async def project_masker(rt: Runtime, project_id: str) -> Masker:
    """Masks the values of every secret a task of the project gets."""
    return Masker((await task_environment(rt, project_id)).values())
