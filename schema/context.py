"""Per-request GraphQL context: the runtime, the caller, and the request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info

from resolvers.errors import DomainError
from resolvers.runtime import Caller, Runtime
from schema.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    rt: Runtime
    caller_or_none: Caller | None = None
    auth_error: DomainError | None = None
    connection_params: dict[str, Any] | None = None
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def caller(self) -> Caller:
        """The authenticated caller; raises UNAUTHORIZED when there is none."""
        if self.caller_or_none is None:
            raise self.auth_error or DomainError(
                "UNAUTHORIZED", "Authentication required: send Authorization: Bearer <token>"
            )
        return self.caller_or_none

    def forget_loaded(self) -> None:
        """Drop what the loaders hold, so the next read sees the database as it is now (between the
        events of a long-lived subscription, whose context outlives any one of them)."""
        self._loaders = None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.rt, self.caller)
        return self._loaders


GraphInfo = Info[Context, None]
