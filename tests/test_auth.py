"""The five auth operations and every token flow, over real HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import httpx

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, Api, LiveServer, login_as

SDK_ERROR_KEYS = {"error", "message", "code", "statusCode", "timestamp", "path"}


def test_login_returns_tokens_user_and_refresh_cookie(server: LiveServer) -> None:
    api = Api(server.api_url)
    response = api.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["user"]["username"] == ADMIN_USERNAME and body["user"]["id"]
    assert body["token"].count(".") == 2 and body["refreshToken"]
    cookie = response.headers["set-cookie"]
    assert "aintandem_refresh_token=" + body["refreshToken"] in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("samesite", "SameSite")


def test_access_token_payload_decodes_with_plain_base64(server: LiveServer, make_user: Callable[..., Api]) -> None:
    user = make_user()
    for token in [user.token] + [login_as(server, user.username, "user-password-123").token for _ in range(20)]:
        payload = token.split(".")[1]
        assert "-" not in payload and "_" not in payload, payload
        claims = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True))
        assert isinstance(claims["exp"], int) and claims["exp"] > time.time()
        assert claims["sub"] == user.user_id and claims["username"] == user.username


def test_bad_credentials_answer_401_with_success_false(server: LiveServer, make_user: Callable[..., Api]) -> None:
    user = make_user()
    response = Api(server.api_url).login(user.username, "wrong-password")
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False and body["code"] == "AUTHENTICATION_FAILED"
    assert body.keys() >= SDK_ERROR_KEYS and body["path"] == "/auth/login"
    unknown = Api(server.api_url).login("nobody-at-all", "whatever-password")
    assert unknown.status_code == 401 and unknown.json()["error"] == body["error"]


def test_login_missing_fields_is_400(server: LiveServer) -> None:
    api = Api(server.api_url)
    response = api.post("/auth/login", {"username": "admin"})
    assert response.status_code == 400
    assert response.json()["code"] == "MISSING_REQUIRED_FIELD" and response.json()["details"]["field"] == "password"
    response = api.post("/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


def test_protected_endpoint_needs_a_valid_token(server: LiveServer) -> None:
    anonymous = Api(server.api_url)
    response = anonymous.get("/settings")
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED" and response.json().keys() >= SDK_ERROR_KEYS
    forged = Api(server.api_url, token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
    assert forged.get("/settings").status_code == 401


def test_expired_access_token_is_refused(fresh_server: Callable[..., LiveServer]) -> None:
    live = fresh_server(ACCESS_TOKEN_TTL="1")
    api = login_as(live, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert api.get("/settings").status_code == 200
    time.sleep(2.1)
    response = api.get("/settings")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_verify_by_header_and_by_body(server: LiveServer, admin: Api) -> None:
    response = admin.get("/auth/verify")
    assert response.status_code == 200
    assert response.json() == {"success": True, "user": {"id": admin.user_id, "username": ADMIN_USERNAME}}
    anonymous = Api(server.api_url)
    assert anonymous.get("/auth/verify").status_code == 401
    by_body = anonymous.post("/auth/verify", {"token": admin.token})
    assert by_body.status_code == 200 and by_body.json()["success"] is True
    bad = anonymous.post("/auth/verify", {"token": "not-a-token"})
    assert bad.status_code == 200 and bad.json()["success"] is False and bad.json()["error"]
    assert anonymous.post("/auth/verify", {}).status_code == 400
    too_long = anonymous.post("/auth/verify", {"token": "x" * 4097})
    assert too_long.status_code == 400 and "token" in too_long.json()["error"]


def test_refresh_rotates_and_replay_revokes_the_family(server: LiveServer, make_user: Callable[..., Api]) -> None:
    user = make_user()
    anonymous = Api(server.api_url)
    first = anonymous.login(user.username, "user-password-123").json()
    rotated = anonymous.post("/auth/refresh", {"refreshToken": first["refreshToken"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["success"] is True and second["token"] and second["refreshToken"] != first["refreshToken"]
    assert Api(server.api_url, second["token"]).get("/settings").status_code == 200

    replay = anonymous.post("/auth/refresh", {"refreshToken": first["refreshToken"]})
    assert replay.status_code == 401 and replay.json()["success"] is False
    # The whole family is gone: the newest refresh token and its access token no longer work.
    assert anonymous.post("/auth/refresh", {"refreshToken": second["refreshToken"]}).status_code == 401
    assert Api(server.api_url, second["token"]).get("/settings").status_code == 401
    # Another login of the same user is a different family and is untouched.
    assert user.get("/settings").status_code == 200


def test_refresh_from_the_cookie(server: LiveServer, make_user: Callable[..., Api]) -> None:
    user = make_user()
    with httpx.Client(base_url=server.api_url) as browser:
        assert (
            browser.post("/auth/login", json={"username": user.username, "password": "user-password-123"}).status_code
            == 200
        )
        assert browser.cookies.get("aintandem_refresh_token")
        response = browser.post("/auth/refresh")
        assert response.status_code == 200 and response.json()["success"] is True
        # The cookie was rotated too, so a second refresh from it works.
        assert browser.post("/auth/refresh").status_code == 200


def test_refresh_without_token_or_with_garbage(server: LiveServer) -> None:
    anonymous = Api(server.api_url)
    missing = anonymous.post("/auth/refresh", {})
    assert missing.status_code == 400 and missing.json()["code"] == "MISSING_REQUIRED_FIELD"
    garbage = anonymous.post("/auth/refresh", {"refreshToken": "garbage"})
    assert garbage.status_code == 401 and garbage.json()["success"] is False


def test_logout_revokes_refresh_and_access_tokens(server: LiveServer, make_user: Callable[..., Api]) -> None:
    user = make_user()
    session = Api(server.api_url)
    tokens = session.login(user.username, "user-password-123").json()
    response = session.post("/auth/logout")
    assert response.status_code == 200 and response.json() == {"success": True, "message": "Logged out"}
    assert (
        'aintandem_refresh_token=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
    )
    assert session.get("/settings").status_code == 401
    assert Api(server.api_url).post("/auth/refresh", {"refreshToken": tokens["refreshToken"]}).status_code == 401
    assert user.get("/settings").status_code == 200
    assert Api(server.api_url).post("/auth/logout").status_code == 401


def test_repeated_failures_are_refused_with_429(fresh_server: Callable[..., LiveServer]) -> None:
    live = fresh_server(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="30")
    api = Api(live.api_url)
    statuses = [api.login(ADMIN_USERNAME, "wrong-password").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    locked = api.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["code"] == "TOO_MANY_REQUESTS" and int(locked.headers["retry-after"]) > 0
