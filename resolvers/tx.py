"""A write transaction whose constraint violations surface as a domain conflict."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.errors import conflict
from resolvers.runtime import Runtime


@asynccontextmanager
async def writing(rt: Runtime) -> AsyncIterator[AsyncSession]:
    try:
        async with rt.db.write() as session:
            yield session
    except IntegrityError as error:
        # Pre-checks catch the usual cases with a precise message; this covers a race between writers.
        raise conflict("The change conflicts with existing data", {"constraint": str(error.orig)}) from None
