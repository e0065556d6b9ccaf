"""Sealing secret values at rest: AES-256-GCM from the `cryptography` package.

A sealed value is `version byte | 96-bit random nonce | ciphertext and tag`. The associated data names
where the value is kept (its owner and name), so a sealed value copied onto another row, or another
secret's name, no longer opens. The key is 32 bytes, given in base64 (`SECRETS_KEY`) or generated once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
_VERSION = b"\x01"


class SecretUnreadable(Exception):
    """A sealed value does not open with this key (another key, or altered data)."""


def parse_key(text: str) -> bytes:
    """A key from its base64 form (standard or URL-safe alphabet); ValueError unless it is 32 bytes."""
    cleaned = text.strip()
    alphabet = b"-_" if "-" in cleaned or "_" in cleaned else None
    try:
        key = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"must be {KEY_BYTES} bytes in base64, got {len(key)}")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a secrets key is {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._fingerprint = hmac.new(key, b"orchestrator secrets key fingerprint", hashlib.sha256).hexdigest()[:16]

    def fingerprint(self) -> str:
        """Tells two keys apart without revealing either (replicas check that they share one)."""
        return self._fingerprint

    def seal(self, value: str, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, value.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        if sealed[:1] != _VERSION or len(sealed) < 1 + NONCE_BYTES:
            raise SecretUnreadable("not a sealed value of a known version")
        nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, context.encode()).decode()
        except InvalidTag:
            raise SecretUnreadable("does not open with the current secrets key") from None
