"""Cursor connections (the Relay shape GitHub and Shopify use): `edges`, `nodes`, `pageInfo`, `totalCount`.

A connection is built from a resolver's keyset `Page`. Nested connections (a field below a list of
parents) go through a per-request DataLoader, so every parent's page comes from one statement; the total
is counted only when a client asks for `totalCount`, again once for all parents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry.types import Info

from resolvers.pages import Listing, Page, PageRequest, page_in_memory, page_of, pages_of, total_of, totals_of

N = TypeVar("N")
T = TypeVar("T")

First = Annotated[
    int | None, strawberry.argument(description="Return the first n items (0 to 100; 50 when neither first nor last).")
]
After = Annotated[str | None, strawberry.argument(description="Return items after this cursor (from `pageInfo`).")]
Last = Annotated[int | None, strawberry.argument(description="Return the last n items (0 to 100).")]
Before = Annotated[str | None, strawberry.argument(description="Return items before this cursor.")]


@strawberry.type(description="Where a page sits in its list, and the cursors to move on from it.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="More items precede this page (when paging forward: true whenever `after` was given)."
    )
    start_cursor: str | None = strawberry.field(description="The cursor of the page's first item.")
    end_cursor: str | None = strawberry.field(description="The cursor of the page's last item.")


@strawberry.type(description="An item of a page and its cursor.")
class Edge(Generic[N]):
    cursor: str = strawberry.field(description="Pass it as `after` or `before` to page on from this item.")
    node: N = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list: its items, their cursors and how many the list holds.")
class Connection(Generic[N]):
    edges: list[Edge[N]] = strawberry.field(description="The items with their cursors.")
    nodes: list[N] = strawberry.field(description="The items alone.")
    page_info: PageInfo = strawberry.field(description="Where the page sits in the list.")
    count_all: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole list holds (its filters applied).")
    async def total_count(self) -> int:
        return await self.count_all()


def connection(page: Page[Any], wrap: Callable[[Any], N], count_all: Callable[[], Awaitable[int]]) -> Connection[N]:
    nodes = [wrap(item) for item in page.items]
    edges = [Edge(cursor=cursor, node=node) for cursor, node in zip(page.cursors, nodes, strict=True)]
    info = PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=page.cursors[0] if page.cursors else None,
        end_cursor=page.cursors[-1] if page.cursors else None,
    )
    return Connection(edges=edges, nodes=nodes, page_info=info, count_all=count_all)


async def root_connection(
    info: Info[Any, None], listing: Listing, request: PageRequest, wrap: Callable[[Any], N]
) -> Connection[N]:
    """A top-level list: one statement for the page, one more only if `totalCount` is asked for."""
    rt = info.context.rt
    page = await page_of(rt, listing, request)
    return connection(page, wrap, lambda: total_of(rt, listing))


async def nested_connection(
    info: Info[Any, None],
    parent: Hashable,
    listing: Listing,
    request: PageRequest,
    wrap: Callable[[Any], N],
    *arguments: Hashable,
) -> Connection[N]:
    """One parent's page of a list that hangs below many parents (`project.tasks`): batched with every other
    parent asking the same field with the same arguments, in one statement per request."""
    rt, loaders = info.context.rt, info.context.loaders
    name = (listing.ordering.name, str(listing.parent), *arguments)
    pages = loaders.batch((*name, request), lambda keys: pages_of(rt, listing, keys, request))
    totals = loaders.batch((*name, "total"), lambda keys: totals_of(rt, listing, keys))
    page = await pages.load(parent)
    return connection(page, wrap, lambda: totals.load(parent))


def list_key(values: Sequence[Any] | None) -> tuple[Any, ...]:
    """Arguments that are lists, as a hashable part of a batch's key."""
    return tuple(values or ())


def listed_connection(items: Sequence[N], key: Callable[[N], str], name: str, request: PageRequest) -> Connection[N]:
    """A connection over a list already in memory (bounded by what holds it), by a unique text key."""
    page = page_in_memory(items, key, name, request)

    async def total() -> int:
        return len(items)

    return connection(page, lambda item: item, total)
