"""Access JWTs that the published SDK can read.

The SDK decodes the payload with `atob`, which is plain base64 and rejects the
base64url characters `-` and `_`. For ASCII JSON those characters can only come
from `>`, `?` or `~` falling on the third byte of a 3-byte group, so the payload
JSON escapes those three characters as `\\u003e`, `\\u003f`, `\\u007e`: the
same JSON value, and an encoding that never contains `-` or `_`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
_SDK_UNSAFE = str.maketrans({">": "\\u003e", "?": "\\u003f", "~": "\\u007e"})


class _AtobSafeEncoder(json.JSONEncoder):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = True
        super().__init__(**kwargs)

    def encode(self, o: Any) -> str:
        return super().encode(o).translate(_SDK_UNSAFE)


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    username: str
    family_id: str | None
    expires_at: int


def issue_access_token(secret: str, user_id: str, username: str, family_id: str, ttl: int) -> str:
    now = int(time.time())
    payload = {
        "sub": user_id,
        "username": username,
        "fam": family_id,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM, json_encoder=_AtobSafeEncoder)


def read_access_token(secret: str, token: str) -> AccessClaims:
    """Verified claims of a token; raises `jwt.InvalidTokenError` for any bad, forged or expired one."""
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub"]})
    username = claims.get("username")
    family = claims.get("fam")
    if not isinstance(claims["sub"], str) or not isinstance(username, str):
        raise jwt.InvalidTokenError("malformed claims")
    return AccessClaims(claims["sub"], username, family if isinstance(family, str) else None, int(claims["exp"]))


@functools.lru_cache(maxsize=8)
def companion_key(secret: str) -> str:
    """The key of companion passes: derived from the JWT secret, so that neither kind of token opens the other's
    doors (an access token is no pass, and a pass, kept in a cookie, is no access token)."""
    return hmac.new(secret.encode(), b"orchestrator companion pass", hashlib.sha256).hexdigest()
