"""Access tokens must stay readable by the SDK's `atob`, whatever the claims hold."""

from __future__ import annotations

import base64
import json
import random
import string

import jwt
import pytest

from resolvers.tokens import issue_access_token, read_access_token

SECRET = "test-secret-of-enough-length-for-hs256"


def _payload(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    assert "-" not in part and "_" not in part, part
    return json.loads(base64.b64decode(part + "=" * (-len(part) % 4), validate=True))


def test_payload_never_contains_base64url_only_characters() -> None:
    rng = random.Random(7)
    alphabet = string.printable + ">?~" * 10 + "é漢😀"
    for _ in range(500):
        username = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        token = issue_access_token(SECRET, "user-id", username, "family", 60)
        assert _payload(token)["username"] == username
        assert read_access_token(SECRET, token).username == username


def test_forged_and_expired_tokens_are_refused() -> None:
    token = issue_access_token(SECRET, "user-id", "alice", "family", 60)
    with pytest.raises(jwt.InvalidSignatureError):
        read_access_token("another-secret-of-enough-length-xx", token)
    expired = issue_access_token(SECRET, "user-id", "alice", "family", -5)
    with pytest.raises(jwt.ExpiredSignatureError):
        read_access_token(SECRET, expired)
    unsigned = jwt.encode({"sub": "x", "username": "x", "iat": 1, "exp": 9999999999}, "", algorithm="none")
    with pytest.raises(jwt.InvalidTokenError):
        read_access_token(SECRET, unsigned)
