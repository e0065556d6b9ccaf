"""Cursor connections: opaque cursors over a list's positions, and the page info every connection carries."""

from __future__ import annotations

import base64

import strawberry

from resolvers.errors import invalid

_CURSOR_PREFIX = "offset:"


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(offset: int) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """The position after which a page starts; a cursor this server did not hand out is refused."""
    if cursor is None:
        return 0
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith(_CURSOR_PREFIX) or not text[len(_CURSOR_PREFIX) :].isdigit():
        raise invalid("after", "is not a cursor from this list")
    return int(text[len(_CURSOR_PREFIX) :]) + 1


def page_info(start: int, shown: int, total: int, end_cursor: str | None) -> PageInfo:
    return PageInfo(has_next_page=start + shown < total, end_cursor=end_cursor)
