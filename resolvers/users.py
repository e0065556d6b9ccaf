"""User accounts: the first admin, adding users, listing them."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

from sqlalchemy import func, or_, select

from resolvers.access import member_org_ids
from resolvers.errors import DomainError, conflict, invalid, missing
from resolvers.pages import Listing, Ordering
from resolvers.passwords import hash_password
from resolvers.runtime import Caller, Runtime
from store.models import OrganizationMember, User

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def _check_username(username: object) -> str:
    if username is None or username == "":
        raise missing("username")
    if not isinstance(username, str) or not USERNAME_PATTERN.match(username):
        raise invalid("username", "use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return username


def _check_password(password: object) -> str:
    if password is None or password == "":
        raise missing("password")
    if not isinstance(password, str):
        raise invalid("password", "must be a string")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise invalid("password", f"must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long")
    return password


async def add_user(rt: Runtime, username: object, password: object, is_admin: bool = False) -> User:
    """Create a user; used by the command line and, through `create_user`, by admins."""
    name = _check_username(username)
    password_hash = await hash_password(_check_password(password))
    async with rt.db.write() as session:
        if await session.scalar(select(User.id).where(User.username == name)):
            raise conflict(f"User {name} already exists", {"username": name}, "ALREADY_EXISTS")
        user = User(username=name, password_hash=password_hash, is_admin=is_admin)
        session.add(user)
    return user


async def create_user(rt: Runtime, caller: Caller, username: object, password: object, is_admin: bool) -> User:
    if not caller.is_admin:
        raise DomainError("FORBIDDEN", "Only administrators can add users")
    return await add_user(rt, username, password, is_admin)


async def list_users(rt: Runtime, caller: Caller) -> Sequence[User]:
    if not caller.is_admin:
        raise DomainError("FORBIDDEN", "Only administrators can list users")
    async with rt.db.read() as session:
        return (await session.scalars(select(User).order_by(User.username))).all()


async def get_user(rt: Runtime, caller: Caller) -> User:
    async with rt.db.read() as session:
        user = await session.get(User, caller.user_id)
    if user is None:
        raise DomainError("UNAUTHORIZED", "Your account no longer exists")
    return user


async def ensure_admin(rt: Runtime) -> str | None:
    """On the first start create the admin. Returns the password when it was generated here."""
    async with rt.db.read() as session:
        if await session.scalar(select(func.count()).select_from(User)):
            return None
    generated = rt.settings.auth_password is None
    password = secrets.token_urlsafe(15) if generated else rt.settings.auth_password
    try:
        await add_user(rt, rt.settings.auth_username, password, is_admin=True)
    except DomainError as error:
        raise SystemExit(f"cannot create the admin from AUTH_USERNAME/AUTH_PASSWORD: {error.message}") from None
    return password if generated else None


USER_ORDER = Ordering("users", ((User.username, False), (User.id, False)))


def user_listing(caller: Caller) -> Listing:
    """Every user, by name (administrators only)."""
    if not caller.is_admin:
        raise DomainError("FORBIDDEN", "Only administrators can list users")
    return Listing(select(User), USER_ORDER)


async def users_by_ids(rt: Runtime, caller: Caller, ids: Sequence[str]) -> dict[str, User]:
    """The users among `ids` the caller may know of: themselves, members of a shared organization, and
    (for administrators) everyone."""
    query = select(User).where(User.id.in_(ids))
    if not caller.is_admin:
        shared = select(OrganizationMember.user_id).where(
            OrganizationMember.organization_id.in_(member_org_ids(caller))
        )
        query = query.where(or_(User.id == caller.user_id, User.id.in_(shared)))
    async with rt.db.read() as session:
        return {user.id: user for user in await session.scalars(query)}
