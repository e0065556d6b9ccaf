"""The web side of observability: a middleware that counts and times every HTTP request by route (and
traces it when tracing is on), and `GET /metrics` in the Prometheus text format."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers import telemetry


def route_of(scope: Scope) -> str:
    """The matched route's template (`/api/projects/{projectId}/tasks`), never the path with its ids."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return f"{scope.get('root_path', '')}{path}" or "/"


class Observability:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        app = scope.get("app")  # this app's: a mounted sub-application puts itself there as the request goes in
        with telemetry.request_span(scope["method"], "request", headers) as span:
            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                route = route_of(scope)
                span.update_name(f"{scope['method']} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                runtime = getattr(app.state, "runtime", None) if app is not None else None
                if runtime is not None:
                    runtime.metrics.observe_request(route, scope["method"], status, time.perf_counter() - started)


async def metrics(request: Request) -> Response:
    return Response(await request.app.state.runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)


metrics_route = Route("/metrics", metrics, methods=["GET"])
