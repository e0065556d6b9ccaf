"""The REST layer's wire types: what each operation takes and answers, as the contract and the SDK's types
give them. Routes name them in `endpoint(...)`; shapes build their answers with `fit`; the OpenAPI document
is generated from them (`rest_compat/openapi.py`).

These modules keep their annotations evaluated (no `from __future__ import annotations`): a TypedDict
only knows which of its keys are `NotRequired` when it sees the annotations themselves."""

import types
from functools import cache
from typing import Annotated, Any, NotRequired, Required, TypeVar, Union, get_args, get_origin, get_type_hints

from pydantic import Field, StringConstraints, WithJsonSchema
from typing_extensions import TypedDict

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An ISO-8601 instant in UTC with milliseconds, e.g. `2026-01-17T04:11:55.289Z`."""

WHITE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""The characters Python's `str.strip()` removes, spelled out: regex engines disagree on what `\\s` holds."""
NON_BLANK = rf"^[^\x00]*[^\x00{WHITE}][^\x00]*$"
"""Text as the resolvers accept it: something besides white space, and no NUL."""


def text(max_length: int) -> Any:
    return Annotated[str, StringConstraints(pattern=NON_BLANK, max_length=max_length)]


def free_text(max_length: int) -> Any:
    """Any string without NUL, blank included."""
    return Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", max_length=max_length)]


def optional_text(max_length: int) -> Any:
    """A string or null (blank or null clearing the field)."""
    return free_text(max_length) | None


def at_most(count: int, item: Any) -> Any:
    return Annotated[list[item], Field(max_length=count)]


def between(low: int, high: int | None = None) -> Any:
    return Annotated[int, Field(ge=low, le=high)]


Name = text(200)
Id = text(36)
LongText = text(100_000)
FolderName = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 255,
            "pattern": rf"^(?!\.\.?$)[^/\\\x00{WHITE}](?:[^/\\\x00]*[^/\\\x00{WHITE}])?$",
        }
    ),
]
"""One folder name: no `/` or `\\`, not `.` or `..`, no white space at either end."""
Offset = between(0, 2**31 - 1)
Limit = between(1, 100)

T = TypeVar("T")


def key_type(hint: Any) -> Any:
    """A TypedDict key's type without its `NotRequired`/`Required` marker (constraints kept)."""
    while get_origin(hint) in (NotRequired, Required):
        hint = get_args(hint)[0]
    return hint


def _admits_none(hint: Any) -> bool:
    hint = key_type(hint)
    if get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    if hint is Any or hint is None:
        return True
    return get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)


@cache
def _omittable(kind: type) -> frozenset[str]:
    """The keys `kind` may leave out and whose type has no null: an unknown value there is absent, not null."""
    hints = get_type_hints(kind, include_extras=True)
    optional: frozenset[str] = getattr(kind, "__optional_keys__", frozenset())
    return frozenset(key for key in optional if not _admits_none(hints[key]))


def fit(kind: type[T], **values: Any) -> T:
    """A `kind` from `values`, leaving out the optional keys that have no value (never sending them as null)."""
    omittable = _omittable(kind)
    return {key: value for key, value in values.items() if value is not None or key not in omittable}  # type: ignore[return-value]


class ErrorBody(TypedDict):
    """Every error: `error` and `message` say what went wrong, `code` is one of the contract's codes,
    `path` is the request's path relative to the API's mount (`/api` or `/`)."""

    error: str
    message: str
    code: str
    statusCode: int
    timestamp: Timestamp
    path: str
    details: NotRequired[Annotated[Any, WithJsonSchema({"description": "What the error is about, e.g. the field"})]]
