"""Secrets of organizations and projects (an extension of the contract): names and dates, never values."""

from typing import Annotated, Literal

from pydantic import StringConstraints
from typing_extensions import TypedDict

from rest_compat.spec import Timestamp

SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


class SecretResponse(TypedDict):
    name: str
    scope: Literal["organization", "project"]
    scopeId: str
    createdAt: Timestamp
    updatedAt: Timestamp


class SetSecretRequest(TypedDict):
    """The value: 4 to 16384 characters, never shown again."""

    value: Annotated[str, StringConstraints(min_length=4, max_length=16384, pattern=r"^[^\x00]*$")]
