"""The five auth operations (91-95) and `GET /auth/me`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from resolvers import auth, users
from resolvers.auth import Session
from resolvers.errors import DomainError
from resolvers.runtime import Caller
from rest_compat.companion_auth import REFRESH_COOKIE, delete_companion_cookie, set_companion_cookie
from rest_compat.http import bearer_token, endpoint, error_response, read_body, runtime
from rest_compat.shapes import user_json
from rest_compat.spec.account import (
    LoginRequest,
    LoginResponse,
    LogoutResponse,
    Me,
    RefreshRequest,
    RefreshResponse,
    VerifyResponse,
    VerifyTokenRequest,
)


def _session_response(request: Request, session: Session, with_user: bool) -> Response:
    body: dict[str, object] = {"success": True, "token": session.access_token, "refreshToken": session.refresh_token}
    if with_user:
        body["user"] = user_json(session.user)
    response = JSONResponse(body)
    settings = runtime(request).settings
    if session.refresh_token is not None:
        response.set_cookie(
            REFRESH_COOKIE,
            session.refresh_token,
            max_age=settings.refresh_token_ttl,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    set_companion_cookie(response, request, session, settings.access_token_ttl)
    return response


def _without_cookies(response: Response) -> Response:
    response.delete_cookie(REFRESH_COOKIE, path="/")
    delete_companion_cookie(response)
    return response


def _failure(request: Request, error: DomainError) -> Response:
    return error_response(request, error, success=False)


@endpoint("POST", "/auth/login", authenticated=False, operation="Login", body=LoginRequest, response=LoginResponse)
async def login(request: Request) -> Response:
    try:
        body = await read_body(request)
        address = request.client.host if request.client else None
        session = await auth.login(runtime(request), body.get("username"), body.get("password"), address)
    except DomainError as error:
        return _failure(request, error)
    return _session_response(request, session, with_user=True)


@endpoint(
    "POST", "/auth/refresh", authenticated=False, operation="Refresh", body=RefreshRequest, response=RefreshResponse
)
async def refresh(request: Request) -> Response:
    try:
        body = await read_body(request)
        token = body.get("refreshToken") or request.cookies.get(REFRESH_COOKIE)
        session = await auth.refresh(runtime(request), token)
    except DomainError as error:
        return _without_cookies(_failure(request, error))
    return _session_response(request, session, with_user=False)


@endpoint("POST", "/auth/logout", authenticated=False, operation="Logout", response=LogoutResponse)
async def logout(request: Request) -> Response:
    try:
        caller = await auth.authenticate(runtime(request), bearer_token(request))
        body = await read_body(request)
        token = body.get("refreshToken") or request.cookies.get(REFRESH_COOKIE)
        await auth.logout(runtime(request), caller, token if isinstance(token, str) else None)
    except DomainError as error:
        return _failure(request, error)
    return _without_cookies(JSONResponse({"success": True, "message": "Logged out"}))


@endpoint("GET", "/auth/verify", authenticated=False, operation="VerifyCurrentToken", response=VerifyResponse)
async def verify_current(request: Request) -> Response:
    try:
        caller = await auth.authenticate(runtime(request), bearer_token(request))
    except DomainError as error:
        return _failure(request, error)
    return JSONResponse({"success": True, "user": {"id": caller.user_id, "username": caller.username}})


@endpoint(
    "POST",
    "/auth/verify",
    authenticated=False,
    operation="VerifyToken",
    body=VerifyTokenRequest,
    response=VerifyResponse,
)
async def verify_token(request: Request) -> Response:
    body = await read_body(request)
    try:
        caller = await auth.verify(runtime(request), body.get("token"))
    except DomainError as error:
        if error.code != "UNAUTHORIZED":
            raise
        return JSONResponse({"success": False, "error": error.message})
    return JSONResponse({"success": True, "user": {"id": caller.user_id, "username": caller.username}})


@endpoint("GET", "/auth/me", operation="GetCurrentUser", response=Me)
async def me(request: Request, caller: Caller) -> object:
    user = await users.get_user(runtime(request), caller)
    return {**user_json(user), "isAdmin": user.is_admin}


routes = [login, refresh, logout, verify_current, verify_token, me]
