"""Keyset pages: `first/after/last/before` over an ordered query, for one list or for many parents at once.

A cursor holds the sort key of the row it points at (not a position), so pages stay correct while rows
are inserted and deleted: the page after a cursor is every row that sorts after that key, whatever
happened before it. The sort key always ends with a unique column, so it orders rows totally.

For nested lists (every project's first five tasks) one statement serves every parent: rows are numbered
within their parent with `ROW_NUMBER() OVER (PARTITION BY parent ORDER BY key)` and cut at the page size,
so the cost of a level does not grow with how many parents it fans out over.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from resolvers.errors import invalid
from resolvers.runtime import Runtime
from resolvers.validation import UNSET

T = TypeVar("T")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
_PARENT = "_page_parent"
_RANK = "_page_rank"


@dataclass(frozen=True)
class PageRequest:
    """Which slice of a list a caller asks for: `first` after a cursor, or `last` before one."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    @property
    def size(self) -> int:
        return self.last if self.last is not None else self.first if self.first is not None else DEFAULT_PAGE_SIZE

    @property
    def backwards(self) -> bool:
        return self.last is not None


def _size(name: str, value: object) -> int | None:
    if value is None or value is UNSET:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PAGE_SIZE:
        raise invalid(name, f"must be a whole number from 0 to {MAX_PAGE_SIZE}", "PAGE_SIZE_INVALID")
    return value


def page_request(first: object = None, after: object = None, last: object = None, before: object = None) -> PageRequest:
    """A checked request: sizes from 0 to 100 (more is refused, never cut), `first` and `last` not both."""
    checked_first, checked_last = _size("first", first), _size("last", last)
    if checked_first is not None and checked_last is not None:
        raise invalid("last", "cannot be combined with first")
    for name, cursor in (("after", after), ("before", before)):
        if cursor not in (None, UNSET) and not isinstance(cursor, str):
            raise invalid(name, "must be a cursor string")
    return PageRequest(
        checked_first,
        after if isinstance(after, str) else None,
        checked_last,
        before if isinstance(before, str) else None,
    )


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool

    @classmethod
    def empty(cls) -> Page[T]:
        return cls([], [], False, False)


@dataclass(frozen=True)
class Ordering:
    """How a list sorts: columns (descending or not), the last one unique. `name` tags its cursors."""

    name: str
    keys: tuple[tuple[InstrumentedAttribute[Any], bool], ...]

    def clauses(self, backwards: bool = False) -> list[ColumnElement[Any]]:
        return [
            column.asc() if descending == backwards else column.desc()  # type: ignore[union-attr]
            for column, descending in self.keys
        ]

    def key_of(self, item: Any) -> list[Any]:
        return [getattr(item, column.key) for column, _ in self.keys]

    def cursor(self, item: Any) -> str:
        values = [value.isoformat() if isinstance(value, datetime) else value for value in self.key_of(item)]
        return base64.urlsafe_b64encode(orjson.dumps([self.name, values])).decode().rstrip("=")

    def decode(self, field: str, cursor: str) -> list[Any]:
        """The sort key a cursor of this list holds; a cursor of another list, or garbage, is refused."""
        try:
            name, values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (ValueError, TypeError, binascii.Error):
            raise invalid(field, "is not a cursor of this list", "INVALID_CURSOR") from None
        if name != self.name or not isinstance(values, list) or len(values) != len(self.keys):
            raise invalid(field, "is not a cursor of this list", "INVALID_CURSOR")
        decoded = []
        for (column, _), value in zip(self.keys, values, strict=True):
            decoded.append(_typed(field, column, value))
        return decoded

    def beyond(self, field: str, cursor: str, after: bool) -> ColumnElement[bool]:
        """Rows sorting strictly after (or before) the cursor's row, in this ordering."""
        values = self.decode(field, cursor)
        alternatives = []
        for index, (column, descending) in enumerate(self.keys):
            equal = [self.keys[i][0] == values[i] for i in range(index)]
            later = column < values[index] if descending == after else column > values[index]
            alternatives.append(and_(*equal, later))
        return or_(*alternatives)

    def window(self, request: PageRequest) -> list[ColumnElement[bool]]:
        conditions = []
        if request.after:
            conditions.append(self.beyond("after", request.after, after=True))
        if request.before:
            conditions.append(self.beyond("before", request.before, after=False))
        return conditions


def _typed(field: str, column: InstrumentedAttribute[Any], value: Any) -> Any:
    kind = column.type
    try:  # a TypeDecorator (UTCDateTime) knows its Python type through the type it decorates
        expected = getattr(kind, "impl", kind).python_type
    except NotImplementedError:
        expected = object
    if expected is datetime and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    elif expected is object or isinstance(value, expected):
        return value
    raise invalid(field, "is not a cursor of this list", "INVALID_CURSOR")


def _page_of(rows: Sequence[Any], ordering: Ordering, request: PageRequest) -> Page[Any]:
    more = len(rows) > request.size
    items = list(rows[: request.size])
    if request.backwards:
        items.reverse()
        return Page(items, [ordering.cursor(i) for i in items], bool(request.before), more)
    return Page(items, [ordering.cursor(i) for i in items], more, bool(request.after))


async def fetch_page(session: AsyncSession, query: Select[Any], ordering: Ordering, request: PageRequest) -> Page[Any]:
    """One page of a list (the query selects one entity and carries its filters and access rules)."""
    if request.size == 0:
        return Page.empty()
    statement = query.where(*ordering.window(request)).order_by(*ordering.clauses(request.backwards))
    rows = (await session.scalars(statement.limit(request.size + 1))).all()
    return _page_of(rows, ordering, request)


async def fetch_pages(
    session: AsyncSession,
    query: Select[Any],
    parent: ColumnElement[Any],
    parents: Sequence[Hashable],
    ordering: Ordering,
    request: PageRequest,
) -> dict[Any, Page[Any]]:
    """The same page of each parent's list, in one statement: rows numbered per parent, cut at the size.

    `parent` is the column naming a row's parent (it may come from a join, so one row can belong to several)."""
    pages: dict[Any, Page[Any]] = {key: Page.empty() for key in parents}
    if not parents or request.size == 0:
        return pages
    rank = func.row_number().over(partition_by=parent, order_by=ordering.clauses(request.backwards))
    inner = (
        query.where(parent.in_(parents), *ordering.window(request))
        .add_columns(parent.label(_PARENT), rank.label(_RANK))
        .subquery()
    )
    entity = aliased(query.column_descriptions[0]["entity"], inner)
    statement = (
        select(entity, inner.c[_PARENT])
        .where(inner.c[_RANK] <= request.size + 1)
        .order_by(inner.c[_PARENT], inner.c[_RANK])
    )
    grouped: dict[Any, list[Any]] = {}
    for item, key in (await session.execute(statement)).all():
        grouped.setdefault(key, []).append(item)
    for key, rows in grouped.items():
        pages[key] = _page_of(rows, ordering, request)
    return pages


async def count(session: AsyncSession, query: Select[Any]) -> int:
    return await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


async def counts_by(
    session: AsyncSession, query: Select[Any], parent: ColumnElement[Any], parents: Sequence[Hashable]
) -> dict[Any, int]:
    """How many rows each parent's list holds, in one statement."""
    if not parents:
        return {}
    inner = query.where(parent.in_(parents)).add_columns(parent.label(_PARENT)).order_by(None).subquery()
    rows = await session.execute(select(inner.c[_PARENT], func.count()).group_by(inner.c[_PARENT]))
    found = dict(rows.all())
    return {key: found.get(key, 0) for key in parents}


def page_in_memory(items: Sequence[T], key: Callable[[T], str], name: str, request: PageRequest) -> Page[T]:
    """Keyset paging of a list held in memory (folder names, a task's artifacts), sorted by a unique text key."""
    ordered = sorted(items, key=key)

    def cursor(item: T) -> str:
        return base64.urlsafe_b64encode(orjson.dumps([name, [key(item)]])).decode().rstrip("=")

    def position(field: str, value: str) -> str:
        try:
            tag, (text,) = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        except (ValueError, TypeError, binascii.Error):
            raise invalid(field, "is not a cursor of this list", "INVALID_CURSOR") from None
        if tag != name or not isinstance(text, str):
            raise invalid(field, "is not a cursor of this list", "INVALID_CURSOR")
        return text

    if request.after:
        start = position("after", request.after)
        ordered = [item for item in ordered if key(item) > start]
    if request.before:
        end = position("before", request.before)
        ordered = [item for item in ordered if key(item) < end]
    size = request.size
    if request.backwards:
        chosen = ordered[-size:] if size else []
        return Page(chosen, [cursor(i) for i in chosen], bool(request.before), len(ordered) > size)
    chosen = ordered[:size]
    return Page(chosen, [cursor(i) for i in chosen], len(ordered) > size, bool(request.after))


@dataclass(frozen=True)
class Listing:
    """A list as one query (its filters and access rules applied), how it sorts, and, for lists that hang
    below parents, the column naming a row's parent."""

    query: Select[Any]
    ordering: Ordering
    parent: ColumnElement[Any] | None = None


async def page_of(rt: Runtime, listing: Listing, request: PageRequest) -> Page[Any]:
    async with rt.db.read() as session:
        return await fetch_page(session, listing.query, listing.ordering, request)


async def pages_of(
    rt: Runtime, listing: Listing, parents: Sequence[Hashable], request: PageRequest
) -> dict[Any, Page[Any]]:
    assert listing.parent is not None
    async with rt.db.read() as session:
        return await fetch_pages(session, listing.query, listing.parent, parents, listing.ordering, request)


async def total_of(rt: Runtime, listing: Listing) -> int:
    async with rt.db.read() as session:
        return await count(session, listing.query)


async def totals_of(rt: Runtime, listing: Listing, parents: Sequence[Hashable]) -> dict[Any, int]:
    assert listing.parent is not None
    async with rt.db.read() as session:
        return await counts_by(session, listing.query, listing.parent, parents)
