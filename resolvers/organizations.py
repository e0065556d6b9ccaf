"""Organizations and their members."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import folders
from resolvers.access import MEMBER_ORG_IDS, OWNER, ROLES, member_org_ids, require_owner, visible_organization
from resolvers.errors import conflict, not_found
from resolvers.pages import Listing, Ordering
from resolvers.paths import organization_dir
from resolvers.runtime import Caller, Runtime
from resolvers.sandboxes import remove_sandboxes_below
from resolvers.tx import writing
from resolvers.validation import UNSET, Maybe, one_of, required_text
from store.models import Organization, OrganizationMember, User

ALL_VISIBLE_ORGANIZATIONS = (
    select(Organization).where(Organization.id.in_(MEMBER_ORG_IDS)).order_by(Organization.created_at, Organization.id)
)


ORGANIZATION_ORDER = Ordering("organizations", ((Organization.created_at, False), (Organization.id, False)))
MEMBER_ORDER = Ordering("members", ((OrganizationMember.created_at, False), (OrganizationMember.user_id, False)))


def organization_listing(caller: Caller) -> Listing:
    """The caller's organizations, oldest first."""
    return Listing(select(Organization).where(Organization.id.in_(member_org_ids(caller))), ORGANIZATION_ORDER)


def member_listing(caller: Caller) -> Listing:
    """Memberships of the caller's organizations, by organization, in the order members joined."""
    query = select(OrganizationMember).where(OrganizationMember.organization_id.in_(member_org_ids(caller)))
    return Listing(query, MEMBER_ORDER, OrganizationMember.organization_id)


async def list_organizations(rt: Runtime, caller: Caller) -> Sequence[Organization]:
    async with rt.db.read() as session:
        return (await session.scalars(ALL_VISIBLE_ORGANIZATIONS, {"caller_id": caller.user_id})).all()


async def get_organization(rt: Runtime, caller: Caller, org_id: str) -> Organization:
    async with rt.db.read() as session:
        return await visible_organization(session, caller, org_id)


async def organizations_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, Organization]:
    async with rt.db.read() as session:
        query = select(Organization).where(Organization.id.in_(ids), Organization.id.in_(member_org_ids(caller)))
        return {org.id: org for org in await session.scalars(query)}


async def _check_folder_free(session: AsyncSession, folder_path: str, except_id: str | None = None) -> None:
    query = select(Organization.id).where(Organization.folder_path == folder_path)
    if except_id:
        query = query.where(Organization.id != except_id)
    if await session.scalar(query):
        raise conflict(
            f"An organization already uses folder {folder_path!r}", {"field": "folderPath"}, "ALREADY_EXISTS"
        )


async def create_organization(rt: Runtime, caller: Caller, name: object, folder_path: object) -> Organization:
    name = required_text("name", name)
    folder = folders.folder_name("folderPath", folder_path)
    async with writing(rt) as session:
        await _check_folder_free(session, folder)
        org = Organization(name=name, folder_path=folder, created_by_id=caller.user_id)
        session.add(org)
        await session.flush()
        session.add(OrganizationMember(organization_id=org.id, user_id=caller.user_id, role=OWNER))
        created = await folders.make_folder(rt.settings.base_root, folder)
        try:
            await session.flush()
        except Exception:
            if created:
                await folders.undo_make_folder(organization_dir(rt, org))
            raise
    return org


async def update_organization(
    rt: Runtime, caller: Caller, org_id: str, name: Maybe[object] = UNSET, folder_path: Maybe[object] = UNSET
) -> Organization:
    new_name = required_text("name", name) if name is not UNSET else None
    new_folder = folders.folder_name("folderPath", folder_path) if folder_path is not UNSET else None
    async with writing(rt) as session:
        org = await visible_organization(session, caller, org_id)
        await require_owner(session, caller, org)
        if new_name is not None:
            org.name = new_name
        if new_folder is not None and new_folder != org.folder_path:
            await _check_folder_free(session, new_folder, org.id)
            source = organization_dir(rt, org)
            await folders.move_folder(source, rt.settings.base_root, new_folder)
            org.folder_path = new_folder
            try:
                await session.flush()
            except Exception:
                await folders.undo_move_folder(source, organization_dir(rt, org))
                raise
        await session.flush()
    return org


async def delete_organization(rt: Runtime, caller: Caller, org_id: str) -> None:
    """Removes the records below the organization and their sandboxes; its folders stay on disk."""
    async with rt.db.read() as session:
        org = await visible_organization(session, caller, org_id)
        await require_owner(session, caller, org)
    await remove_sandboxes_below(rt, organization_id=org.id)
    async with writing(rt) as session:
        stored = await session.get(Organization, org.id)
        if stored is not None:
            await session.delete(stored)


async def list_members(rt: Runtime, caller: Caller, org_id: str) -> Sequence[tuple[OrganizationMember, User]]:
    async with rt.db.read() as session:
        await visible_organization(session, caller, org_id)
        rows = await session.execute(
            select(OrganizationMember, User)
            .join(User, User.id == OrganizationMember.user_id)
            .where(OrganizationMember.organization_id == org_id)
            .order_by(OrganizationMember.created_at, User.username)
        )
        return [(member, user) for member, user in rows]


async def members_by_organization(
    rt: Runtime, caller: Caller, org_ids: Sequence[str]
) -> dict[str, list[tuple[OrganizationMember, User]]]:
    async with rt.db.read() as session:
        rows = await session.execute(
            select(OrganizationMember, User)
            .join(User, User.id == OrganizationMember.user_id)
            .where(OrganizationMember.organization_id.in_(org_ids))
            .where(OrganizationMember.organization_id.in_(member_org_ids(caller)))
            .order_by(OrganizationMember.created_at, User.username)
        )
        grouped: dict[str, list[tuple[OrganizationMember, User]]] = {org_id: [] for org_id in org_ids}
        for member, user in rows:
            grouped[member.organization_id].append((member, user))
        return grouped


async def set_member(
    rt: Runtime, caller: Caller, org_id: str, username: object, role: object
) -> tuple[OrganizationMember, User]:
    """Add a user to an organization, or change their role. Owners only."""
    username = required_text("username", username, 64)
    role = one_of("role", role, ROLES)
    async with writing(rt) as session:
        org = await visible_organization(session, caller, org_id)
        await require_owner(session, caller, org)
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            raise not_found("user", username)
        member = await session.get(OrganizationMember, (org.id, user.id))
        if member is None:
            member = OrganizationMember(organization_id=org.id, user_id=user.id, role=role)
            session.add(member)
        else:
            if member.role == OWNER and role != OWNER:
                await _keep_an_owner(session, org.id, user.id)
            member.role = role
    return member, user


async def remove_member(rt: Runtime, caller: Caller, org_id: str, user_id: str) -> None:
    async with writing(rt) as session:
        org = await visible_organization(session, caller, org_id)
        if user_id != caller.user_id:
            await require_owner(session, caller, org)
        member = await session.get(OrganizationMember, (org.id, user_id))
        if member is None:
            raise not_found("member", user_id)
        if member.role == OWNER:
            await _keep_an_owner(session, org.id, user_id)
        await session.execute(
            delete(OrganizationMember).where(
                OrganizationMember.organization_id == org.id, OrganizationMember.user_id == user_id
            )
        )


async def _keep_an_owner(session: AsyncSession, org_id: str, leaving_user_id: str) -> None:
    owners = await session.scalar(
        select(func.count()).where(
            OrganizationMember.organization_id == org_id,
            OrganizationMember.role == OWNER,
            OrganizationMember.user_id != leaving_user_id,
        )
    )
    if not owners:
        raise conflict("An organization must keep at least one owner", {"organizationId": org_id})
