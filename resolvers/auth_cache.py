"""Callers established from access tokens in the last few seconds, so most requests cost no query.

Revocations made by this process (logout, a replayed refresh token) clear the entries of that login at
once; a revocation made by another replica is honoured here within `ttl` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resolvers.runtime import Caller

DEFAULT_TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000


class AuthCache:
    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Caller, float]] = OrderedDict()

    def get(self, token: str) -> Caller | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        caller, valid_until = entry
        if time.monotonic() >= valid_until:
            del self._entries[token]
            return None
        return caller

    def put(self, token: str, caller: Caller, expires_at: float) -> None:
        """Remember a caller until `ttl` passes or the token expires (`expires_at`, epoch seconds)."""
        lifetime = min(self.ttl, expires_at - time.time())
        if lifetime <= 0:
            return
        self._entries[token] = (caller, time.monotonic() + lifetime)
        self._entries.move_to_end(token)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_families(self, families: set[str]) -> None:
        for token in [t for t, (caller, _) in self._entries.items() if caller.token_family in families]:
            del self._entries[token]
