"""Checks on incoming values, shared by every resolver. Each names the offending field."""

from __future__ import annotations

from enum import Enum
from typing import Any, Final, TypeVar, Union

from resolvers.errors import invalid, missing


class _Unset(Enum):
    UNSET = "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset.UNSET
"""A field the caller did not send, as distinct from one sent as null."""

T = TypeVar("T")
Maybe = Union[T, _Unset]  # noqa: UP007 - a generic alias needs Union on Python 3.11


def required_text(field: str, value: Any, max_length: int = 200) -> str:
    if value is None or value is UNSET:
        raise missing(field)
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    text = value.strip()
    if not text:
        raise invalid(field, "must not be empty")
    if len(text) > max_length:
        raise invalid(field, f"must be at most {max_length} characters")
    if "\x00" in text:
        raise invalid(field, "must not contain NUL bytes")
    return text


def optional_text(field: str, value: Any, max_length: int = 200) -> str | None:
    """A string or null; an empty string counts as null."""
    if value is None or value is UNSET:
        return None
    if not isinstance(value, str):
        raise invalid(field, "must be a string or null")
    text = value.strip()
    if len(text) > max_length:
        raise invalid(field, f"must be at most {max_length} characters")
    if "\x00" in text:
        raise invalid(field, "must not contain NUL bytes")
    return text or None


def one_of(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value is None or value is UNSET:
        raise missing(field)
    if value not in allowed:
        raise invalid(field, f"must be one of {', '.join(allowed)}", "INVALID_VALUE")
    return str(value)


def optional_object(field: str, value: Any) -> dict[str, Any] | None:
    if value is None or value is UNSET:
        return None
    if not isinstance(value, dict):
        raise invalid(field, "must be an object")
    return value


def optional_bool(field: str, value: Any, default: bool) -> bool:
    if value is None or value is UNSET:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise invalid(field, "must be true or false")


MAX_OFFSET = 2**31 - 1
"""The largest offset a page may start at (the databases' integers are no wider)."""


def whole_number(value: Any) -> int | None:
    """A whole number as JSON or a query string may carry it (`3`, `3.0`, `"3"`); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
