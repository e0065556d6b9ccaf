"""Strawberry's "not sent" mapped onto the resolvers' UNSET."""

from __future__ import annotations

from typing import Any

from strawberry.types.unset import UnsetType

from resolvers.validation import UNSET, Maybe


def sent(value: Any) -> Maybe[Any]:
    """UNSET for a field the client left out; null stays null."""
    return UNSET if isinstance(value, UnsetType) else value
