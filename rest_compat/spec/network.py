"""A project's sandbox network settings (an extension of the contract)."""

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints
from typing_extensions import TypedDict

from resolvers.network import HOST_ENTRY, MAX_HOSTS

NetworkMode = Literal["none", "egress", "open"]
HostEntry = Annotated[str, StringConstraints(pattern=rf"^{HOST_ENTRY.pattern}$", max_length=259)]
"""`name`, `*.domain`, either with `:port` (1 to 65535), lower case."""


class NetworkRequest(TypedDict, total=False):
    """Either key may be left out; `allowedHosts: null` returns to the list derived from the AI configuration.
    Other keys are refused: a misspelt key of a security setting must not pass unnoticed."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    mode: NetworkMode
    allowedHosts: Annotated[list[HostEntry], Field(max_length=MAX_HOSTS)] | None


class NetworkResponse(TypedDict):
    mode: NetworkMode
    allowedHosts: list[str]
    defaultAllowedHosts: bool
    """True while the list is the one derived from the AI configuration (no owner has set one)."""
    appliesTo: str
