"""Rate limits on opening things: logins and WebSocket connections, per user and per client address.

Each key has a token bucket holding up to `per_minute` tokens, refilled at `per_minute / 60` a second: a
burst of that many is fine (a console reconnecting all its sockets at once), a steady stream above it
is refused with the seconds until the next token. Kept in memory: each replica counts on its own.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from resolvers.errors import DomainError
from store.config import Settings

MAX_TRACKED_KEYS = 50_000


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """key → (tokens, when counted), least recently used first."""

    def wait(self, key: str) -> int:
        """Take a token for `key`: 0 when there was one, else whole seconds until there is (none taken).
        A limit of 0 or less means no limit."""
        if self.per_minute <= 0:
            return 0
        now = self._clock()
        tokens, counted = self._buckets.pop(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - counted) * self.per_minute / 60)
        waited = 0
        if tokens >= 1:
            tokens -= 1
        else:
            waited = max(1, math.ceil((1 - tokens) * 60 / self.per_minute))
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > MAX_TRACKED_KEYS:
            self._buckets.popitem(last=False)
        return waited


def too_many(what: str, wait: int) -> DomainError:
    return DomainError("TOO_MANY_REQUESTS", f"Too many {what}; try again in {wait} seconds", {"retryAfter": wait})


@dataclass
class Admission:
    """The limits of one process, from its settings."""

    socket_user: RateLimiter
    socket_address: RateLimiter
    login_user: RateLimiter
    login_address: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        return cls(
            RateLimiter(settings.socket_opens_per_minute_per_user),
            RateLimiter(settings.socket_opens_per_minute_per_address),
            RateLimiter(settings.logins_per_minute_per_user),
            RateLimiter(settings.logins_per_minute_per_address),
        )

    def socket_from(self, address: str | None) -> None:
        """A WebSocket opening from `address`, checked before anything else is done for it."""
        if address and (wait := self.socket_address.wait(address)):
            raise too_many("connections from this address", wait)

    def socket_of(self, user_id: str) -> None:
        """A WebSocket of an authenticated user (checked once the token is known good)."""
        if wait := self.socket_user.wait(user_id):
            raise too_many("connections for this user", wait)

    def login(self, username: str, address: str | None) -> None:
        """A login attempt, successful or not (failures are throttled besides, in `throttle`)."""
        if address and (wait := self.login_address.wait(address)):
            raise too_many("login attempts from this address", wait)
        if wait := self.login_user.wait(username.lower()):
            raise too_many("login attempts for this username", wait)
