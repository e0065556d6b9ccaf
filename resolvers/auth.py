"""Login, refresh-token rotation, logout and token verification.

Every session also carries a *companion pass*: a token like the access token (same user, same login family,
same lifetime) signed with a key of its own. It travels in a cookie limited to the sandbox companion paths,
which frames load without a bearer header. It is renewed with every refresh, and it stops working when its
login is revoked (logout, a replayed refresh token) exactly as the access token does.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.errors import DomainError, missing
from resolvers.passwords import verify_password
from resolvers.runtime import Caller, Runtime
from resolvers.storage import full_storage_reason
from resolvers.tokens import AccessClaims, companion_key, issue_access_token, read_access_token
from resolvers.validation import required_text
from store.models import RefreshToken, User, utcnow


@dataclass(frozen=True)
class Session:
    access_token: str
    refresh_token: str | None
    """None when the disk was too full to keep one: the login lasts as long as its access token."""
    user: User
    companion_pass: str
    """For the sandbox companions (web terminal, editor, ports), which frames open without a header."""


def _hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _unauthorized(message: str) -> DomainError:
    return DomainError("UNAUTHORIZED", message)


def _start_session(rt: Runtime, user: User, family_id: str, session: AsyncSession) -> Session:
    refresh_token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=_hash(refresh_token),
            expires_at=utcnow() + timedelta(seconds=rt.settings.refresh_token_ttl),
        )
    )
    return _signed_session(rt, user, family_id, refresh_token)


def _signed_session(rt: Runtime, user: User, family_id: str, refresh_token: str | None) -> Session:
    """A login's access token and companion pass, beside its refresh token (None if none could be kept)."""
    ttl = rt.settings.access_token_ttl
    access = issue_access_token(rt.jwt_secret, user.id, user.username, family_id, ttl)
    companion = issue_access_token(companion_key(rt.jwt_secret), user.id, user.username, family_id, ttl)
    return Session(access, refresh_token, user, companion)


async def login(rt: Runtime, username: object, password: object, client_address: str | None) -> Session:
    if not isinstance(username, str) or not username:
        raise missing("username")
    if not isinstance(password, str) or not password:
        raise missing("password")
    rt.admission.login(username, client_address)
    wait = rt.login_throttle.retry_after(username, client_address)
    if wait:
        raise DomainError(
            "TOO_MANY_REQUESTS",
            f"Too many failed logins; try again in {wait} seconds",
            {"retryAfter": wait},
        )
    async with rt.db.read() as session:
        user = await session.scalar(select(User).where(User.username == username))
    if not await verify_password(user.password_hash if user else None, password):
        rt.login_throttle.record_failure(username, client_address)
        raise DomainError("AUTHENTICATION_FAILED", "Invalid username or password")
    assert user is not None
    rt.login_throttle.record_success(username, client_address)
    family = str(uuid.uuid4())
    try:
        async with rt.db.write() as session:
            return _start_session(rt, user, family, session)
    except Exception as error:
        # A full disk cannot keep the refresh token; the password check was a read, so the login still
        # holds: an access token alone, refreshed by logging in again. Logout still revokes it (below).
        if (reason := full_storage_reason(error)) is None:
            raise
        rt.storage.note_full(reason)
        return _signed_session(rt, user, family, None)


async def refresh(rt: Runtime, refresh_token: object) -> Session:
    """Rotate a refresh token. Replaying a rotated token revokes its whole family."""
    if not isinstance(refresh_token, str) or not refresh_token:
        raise missing("refreshToken")
    replayed_family: str | None = None
    async with rt.db.write() as session:
        record = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash(refresh_token)))
        if record is None or record.revoked_at is not None or record.expires_at <= utcnow():
            raise _unauthorized("Refresh token is invalid or expired")
        if record.rotated_at is not None:
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == record.family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            replayed_family = record.family_id
        else:
            user = await session.get(User, record.user_id)
            if user is None:
                raise _unauthorized("Refresh token is invalid or expired")
            record.rotated_at = utcnow()
            return _start_session(rt, user, record.family_id, session)
    assert replayed_family is not None
    rt.auth_cache.forget_families({replayed_family})
    raise _unauthorized("Refresh token was already used; every session from that login is revoked")


async def logout(rt: Runtime, caller: Caller, refresh_token: str | None) -> None:
    """Revoke the caller's login (its refresh-token family) and the given refresh token, if any."""
    async with rt.db.write() as session:
        families = [caller.token_family] if caller.token_family else []
        if refresh_token:
            record = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash(refresh_token)))
            if record is not None and record.user_id == caller.user_id:
                families.append(record.family_id)
        if families:
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id.in_(families), RefreshToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        if caller.token_family and not await session.scalar(
            select(exists().where(RefreshToken.family_id == caller.token_family))
        ):
            # A login made while the disk was full kept no refresh token: a revoked one marks it ended.
            session.add(
                RefreshToken(
                    user_id=caller.user_id,
                    family_id=caller.token_family,
                    token_hash=_hash(secrets.token_urlsafe(32)),
                    expires_at=utcnow() + timedelta(seconds=rt.settings.access_token_ttl),
                    revoked_at=utcnow(),
                )
            )
    rt.auth_cache.forget_families(set(families))


async def authenticate(rt: Runtime, token: str | None) -> Caller:
    """The caller behind an access token: valid signature, not expired, user present, login not revoked."""
    if not token:
        raise _unauthorized("Authentication required: send Authorization: Bearer <token>")
    return await _caller_of(rt, token, rt.jwt_secret, "Access token")


async def authenticate_companion(
    rt: Runtime, bearer: str | None, companion_pass: str | None, *, foreign_socket: bool = False
) -> Caller:
    """The caller of a sandbox companion path: a bearer access token when there is one, else the companion pass.

    `foreign_socket`: the request is a WebSocket opened by a page of another origin. Browsers send cookies
    with those too, so the pass is refused there (a bearer token is not: no page can add one on its own).
    """
    if bearer:
        return await authenticate(rt, bearer)
    if not companion_pass:
        raise _unauthorized("Sign in first: this page needs the session of the console (or a bearer token)")
    if foreign_socket:
        raise _unauthorized("The sign-in cookie is not accepted for a WebSocket opened from another site")
    return await _caller_of(rt, companion_pass, companion_key(rt.jwt_secret), "Sign-in cookie")


async def _caller_of(rt: Runtime, token: str, key: str, kind: str) -> Caller:
    """The caller behind a token signed with `key`: valid, not expired, user present, login not revoked."""
    cache_key = f"{kind}:{token}"  # a token is cached as what it was checked as: an access token is no pass
    cached = rt.auth_cache.get(cache_key)
    if cached is not None:
        return cached
    try:
        claims = read_access_token(key, token)
    except jwt.ExpiredSignatureError:
        raise _unauthorized(f"{kind} has expired") from None
    except jwt.InvalidTokenError:
        raise _unauthorized(f"{kind} is invalid") from None
    caller = await _live_caller(rt, claims, kind)
    rt.auth_cache.put(cache_key, caller, claims.expires_at)
    return caller


async def _live_caller(rt: Runtime, claims: AccessClaims, kind: str) -> Caller:
    revoked = (
        exists().where(RefreshToken.family_id == claims.family_id, RefreshToken.revoked_at.is_not(None)).correlate(None)
    )
    async with rt.db.read() as session:
        row = (
            await session.execute(
                select(User.id, User.username, User.is_admin, revoked).where(User.id == claims.user_id)
            )
        ).first()
    if row is None or row[3]:
        raise _unauthorized(f"{kind} is no longer valid")
    return Caller(row[0], row[1], row[2], claims.family_id)


async def verify(rt: Runtime, token: object) -> Caller:
    """The caller a token sent in a body names; 400 for what cannot be a token (not text, over 4,096 characters)."""
    return await authenticate(rt, required_text("token", token, max_length=4096))
