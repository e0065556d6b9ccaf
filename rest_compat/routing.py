"""One route per path, holding every method of that path.

Starlette matches one route per method, so a method a path lacks would answer 405 naming only the methods
of the first route that matched, and a path such as `/flexy/images` would fall through to `/flexy/{id}`
for methods it lacks. Here a path's route answers every method: its own methods go to their handlers, any
other gets 405 with all of the path's methods in `Allow`, and later, more general paths never see it.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from rest_compat.http import ApiRoute


class PathRoute(Route):
    def __init__(self, path: str, routes: Iterable[ApiRoute]) -> None:
        self.by_method = {route.operation.method: route for route in routes}
        first = next(iter(self.by_method.values()))
        super().__init__(path, first.endpoint, methods=None, name=first.name)
        allowed = set(self.by_method)
        if "GET" in allowed:
            allowed.add("HEAD")
        self.allow = ", ".join(sorted(allowed))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        route = self.by_method.get("GET" if method == "HEAD" else method)
        if route is None:
            raise HTTPException(status_code=405, headers={"Allow": self.allow})
        await route.app(scope, receive, send)


def by_path(routes: Iterable[ApiRoute]) -> list[PathRoute]:
    """The routes grouped by path, in the order each path first appears."""
    grouped: dict[str, list[ApiRoute]] = {}
    for route in routes:
        same = grouped.setdefault(route.path, [])
        if any(other.operation.method == route.operation.method for other in same):
            raise ValueError(f"{route.operation.method} {route.path} is declared twice")
        same.append(route)
    return [PathRoute(path, same) for path, same in grouped.items()]
