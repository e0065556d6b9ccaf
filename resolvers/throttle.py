"""Refuses logins for a while after repeated failures, per username and per client address.

Kept in memory: a restart forgets it, and each replica counts on its own.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_TRACKED_KEYS = 50_000
MAX_LOCKOUT_SECONDS = 3600
ADDRESS_FAILURE_FACTOR = 4
"""An address may fail this many times more often than one username before it is locked out."""


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    lockouts: int = 0
    last_failure: float = 0.0


class LoginThrottle:
    def __init__(self, max_failures: int, lockout_seconds: int) -> None:
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def _keys(self, username: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(f"user:{username.lower()}", self.max_failures)]
        if address:
            keys.append((f"addr:{address}", self.max_failures * ADDRESS_FAILURE_FACTOR))
        return keys

    def retry_after(self, username: str, address: str | None) -> int:
        """Seconds until a login for this username from this address may be tried; 0 if now."""
        now = time.monotonic()
        waits = [
            record.locked_until - now
            for key, _ in self._keys(username, address)
            if (record := self._records.get(key)) is not None
        ]
        longest = max(waits, default=0.0)
        return int(longest) + 1 if longest > 0 else 0

    def record_failure(self, username: str, address: str | None) -> None:
        now = time.monotonic()
        for key, limit in self._keys(username, address):
            record = self._records.pop(key, None) or _Record()
            if now - record.last_failure > self.lockout_seconds * 10:
                record.failures = 0
            record.failures += 1
            record.last_failure = now
            if record.failures >= limit:
                lockout = min(self.lockout_seconds * 2**record.lockouts, MAX_LOCKOUT_SECONDS)
                record.locked_until = now + lockout
                record.lockouts += 1
                record.failures = 0
            self._records[key] = record
        while len(self._records) > MAX_TRACKED_KEYS:
            self._records.popitem(last=False)

    def record_success(self, username: str, address: str | None) -> None:
        self._records.pop(f"user:{username.lower()}", None)
