"""Organizations and their members (resolvers/organizations.py, operations 1-5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

import strawberry

from resolvers import browsing, organizations, workspaces
from resolvers.pages import page_request
from schema.connections import After, Before, Connection, First, Last, nested_connection
from schema.context import GraphInfo
from schema.errors import Payload, attempt
from schema.folders import Folder, folder_connection
from schema.memories import ContextScope
from schema.relay import database_id, global_id
from schema.unset import sent
from schema.usage import SpendingScope
from schema.users import User, user_of
from store import models

if TYPE_CHECKING:
    from schema.secrets import Secret
    from schema.workspaces import Workspace

T = TypeVar("T")


@strawberry.enum(description="What a member may do in an organization.")
class Role(Enum):
    OWNER = strawberry.enum_value("owner", description="Everything, including managing members.")
    MEMBER = strawberry.enum_value("member", description="Everything but managing members.")


def remembered(info: GraphInfo, wrap: Callable[[models.Organization], T]) -> Callable[[models.Organization], T]:
    """Wrap organizations and keep them for the request, so fields pointing back at them need no query."""

    def remember(org: models.Organization) -> T:
        info.context.loaders.organization.prime(org.id, org)
        return wrap(org)

    return remember


@strawberry.type(description="A team's top folder under BASE_ROOT; everything below it is visible to its members only.")
class Organization(ContextScope, SpendingScope):
    SCOPE: ClassVar[str] = "organization"
    name: str = strawberry.field(description="Its display name.")
    folder_path: str = strawberry.field(description="Its folder's name, directly under BASE_ROOT.")
    created_at: datetime = strawberry.field(description="When it was made.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    created_by_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, org: models.Organization) -> Organization:
        return cls(
            id=global_id("Organization", org.id),
            database_id=org.id,
            name=org.name,
            folder_path=org.folder_path,
            created_at=org.created_at,
            updated_at=org.updated_at,
            created_by_id=org.created_by_id,
        )

    @strawberry.field(description="Who made it; null when unknown or not visible to you.")
    async def created_by(self, info: GraphInfo) -> User | None:
        return await user_of(info, self.created_by_id)

    @strawberry.field(description="Its workspaces, oldest first.")
    async def workspaces(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Annotated[Workspace, strawberry.lazy("schema.workspaces")]]:
        from schema.workspaces import Workspace, remembered_workspace

        listing = workspaces.workspace_listing(info.context.caller)
        request = page_request(first, after, last, before)
        return await nested_connection(
            info, self.database_id, listing, request, remembered_workspace(info, Workspace.of)
        )

    @strawberry.field(description="Its members, in the order they joined.")
    async def members(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Member]:
        listing = organizations.member_listing(info.context.caller)
        request = page_request(first, after, last, before)
        return await nested_connection(info, self.database_id, listing, request, Member.of)

    @strawberry.field(description="Its secrets by name: names and dates only, never values.")
    async def secrets(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Annotated[Secret, strawberry.lazy("schema.secrets")]]:
        from schema.secrets import secret_connection

        return await secret_connection(info, "organization", self.database_id, page_request(first, after, last, before))

    @strawberry.field(description="Folders inside its folder, for a new workspace to adopt.")
    async def folders(
        self, info: GraphInfo, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Folder]:
        names = await browsing.workspace_folders(info.context.rt, info.context.caller, self.database_id)
        return folder_connection(names, "workspace-folders", first, after, last, before)


@strawberry.type(description="A user's membership of an organization.")
class Member:
    role: Role = strawberry.field(description="What they may do.")
    joined_at: datetime = strawberry.field(description="When they joined.")
    user_id: strawberry.Private[str]

    @classmethod
    def of(cls, member: models.OrganizationMember) -> Member:
        return cls(role=Role(member.role), joined_at=member.created_at, user_id=member.user_id)

    @strawberry.field(description="The member.")
    async def user(self, info: GraphInfo) -> User | None:
        return await user_of(info, self.user_id)


def organization_id(value: object, field: str = "id") -> str:
    return database_id(field, value, "Organization")


@strawberry.input(description="A new organization; you become its owner.")
class CreateOrganizationInput:
    name: str = strawberry.field(description="Its display name.")
    folder_path: str = strawberry.field(
        description="Its folder under BASE_ROOT (one name; an existing one is adopted)."
    )


@strawberry.input(description="What to change in an organization; fields left out stay.")
class UpdateOrganizationInput:
    id: strawberry.ID = strawberry.field(description="The organization.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    folder_path: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new folder name; the folder is renamed on disk."
    )


@strawberry.input(description="An organization to delete.")
class DeleteOrganizationInput:
    id: strawberry.ID = strawberry.field(description="The organization; its records go, its folders stay on disk.")


@strawberry.input(description="A member to add, or whose role to change.")
class SetOrganizationMemberInput:
    organization_id: strawberry.ID = strawberry.field(description="The organization (you must own it).")
    username: str = strawberry.field(description="The user to add or change.")
    role: Role = strawberry.field(default=Role.MEMBER, description="Their role.")


@strawberry.input(description="A member to remove.")
class RemoveOrganizationMemberInput:
    organization_id: strawberry.ID = strawberry.field(description="The organization.")
    user_id: strawberry.ID = strawberry.field(description="The member (yourself, or anyone if you own it).")


@strawberry.type(description="The result of createOrganization and updateOrganization.")
class OrganizationPayload(Payload):
    organization: Organization | None = strawberry.field(default=None, description="The organization as stored.")


@strawberry.type(description="The result of deleteOrganization.")
class DeleteOrganizationPayload(Payload):
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted organization's id.")


@strawberry.type(description="The result of setOrganizationMember.")
class MemberPayload(Payload):
    member: Member | None = strawberry.field(default=None, description="The membership as stored.")


@strawberry.type(description="The result of removeOrganizationMember.")
class RemoveOrganizationMemberPayload(Payload):
    removed_user_id: strawberry.ID | None = strawberry.field(default=None, description="The removed member's id.")


def _organization_payload(org: models.Organization | None, errors: list[Any]) -> OrganizationPayload:
    return OrganizationPayload(organization=Organization.of(org) if org else None, user_errors=errors)


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(description="Make an organization and its folder; you become its owner.")
    async def create_organization(self, info: GraphInfo, input: CreateOrganizationInput) -> OrganizationPayload:
        call = organizations.create_organization(info.context.rt, info.context.caller, input.name, input.folder_path)
        return _organization_payload(*await attempt(call))

    @strawberry.mutation(description="Rename an organization or its folder.")
    async def update_organization(self, info: GraphInfo, input: UpdateOrganizationInput) -> OrganizationPayload:
        async def update() -> models.Organization:
            return await organizations.update_organization(
                info.context.rt,
                info.context.caller,
                organization_id(input.id),
                name=sent(input.name),
                folder_path=sent(input.folder_path),
            )

        return _organization_payload(*await attempt(update()))

    @strawberry.mutation(description="Delete an organization's records (stopping its sandboxes); folders stay on disk.")
    async def delete_organization(self, info: GraphInfo, input: DeleteOrganizationInput) -> DeleteOrganizationPayload:
        async def delete() -> None:
            await organizations.delete_organization(info.context.rt, info.context.caller, organization_id(input.id))

        _, errors = await attempt(delete())
        return DeleteOrganizationPayload(deleted_id=None if errors else input.id, user_errors=errors)

    @strawberry.mutation(description="Add a member by username, or change a member's role (owners only).")
    async def set_organization_member(self, info: GraphInfo, input: SetOrganizationMemberInput) -> MemberPayload:
        async def set_member() -> models.OrganizationMember:
            member, _ = await organizations.set_member(
                info.context.rt,
                info.context.caller,
                organization_id(input.organization_id, "organizationId"),
                input.username,
                input.role.value,
            )
            return member

        member, errors = await attempt(set_member())
        return MemberPayload(member=Member.of(member) if member else None, user_errors=errors)

    @strawberry.mutation(description="Remove a member; anyone may leave, owners may remove others.")
    async def remove_organization_member(
        self, info: GraphInfo, input: RemoveOrganizationMemberInput
    ) -> RemoveOrganizationMemberPayload:
        async def remove() -> None:
            await organizations.remove_member(
                info.context.rt,
                info.context.caller,
                organization_id(input.organization_id, "organizationId"),
                database_id("userId", input.user_id, "User"),
            )

        _, errors = await attempt(remove())
        return RemoveOrganizationMemberPayload(removed_user_id=None if errors else input.user_id, user_errors=errors)
