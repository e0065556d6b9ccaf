"""Observability: Prometheus metrics for /metrics and OpenTelemetry traces.

Metrics: requests by route, method and status with latency histograms; tasks by state and queue depth
per project (the whole cluster's, read from the database at scrape time: the same on every replica, so
aggregate them with max()); event delivery lag and subscribers (this replica's); sandbox hosts; replicas
alive and the leases this replica holds.

Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, spans go to that OTLP/HTTP endpoint (the standard OTEL_*
variables apply): a request's span (joining the caller's `traceparent`), `task.queue` inside it when it
queues a task, and `task.run` on whichever replica runs that task, a child of `task.queue` (its context is
kept on the task row). Without the endpoint nothing is traced.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from store.models import Task

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_propagator = TraceContextTextMapPropagator()
_tracer: Tracer | None = None


# traces


def setup_tracing(replica_id: str) -> None:
    """Trace to the OTLP endpoint when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set; once per process."""
    global _tracer  # noqa: PLW0603 - one tracer per process, like OpenTelemetry's own global
    if _tracer is not None:
        return
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        _tracer = trace.NoOpTracer()
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME") or "orchestrator", "service.instance.id": replica_id}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = provider.get_tracer("orchestrator")
    _providers.append(provider)


_providers: list[Any] = []


def shutdown_tracing() -> None:
    """Send what is buffered (at shutdown)."""
    for provider in _providers:
        provider.force_flush(timeout_millis=5000)


def tracer() -> Tracer:
    return _tracer or trace.NoOpTracer()


@contextmanager
def request_span(method: str, route: str, headers: dict[str, str]) -> Iterator[trace.Span]:
    """The span of one HTTP request or WebSocket, a child of the caller's `traceparent` when it sends one."""
    parent = _propagator.extract(headers)
    with tracer().start_as_current_span(
        f"{method} {route}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    ) as span:
        yield span


def current_trace_context() -> str | None:
    """The `traceparent` of the current span (queued with a task, so that its run joins the trace)."""
    carrier: dict[str, str] = {}
    with tracer().start_as_current_span("task.queue", kind=SpanKind.INTERNAL):
        _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def task_span(traceparent: str | None, task_id: str, replica_id: str) -> Iterator[None]:
    """The span of a task's run, a child of the span that queued it."""
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()
    with tracer().start_as_current_span(
        "task.run",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={"orchestrator.task.id": task_id, "orchestrator.replica": replica_id},
    ):
        yield


# metrics


class _ClusterCounters(Collector):
    """Counters the runtime keeps as plain numbers, read at scrape time."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[CounterMetricFamily]:
        cluster = self.rt.cluster
        for name, help_text, value in (
            (
                "orchestrator_leases_lost",
                "Leases this replica lost (it had stopped renewing in time)",
                cluster.leases_lost,
            ),
            ("orchestrator_tasks_reaped", "Tasks of lost replicas this replica failed", cluster.tasks_reaped),
            ("orchestrator_executions_adopted", "Executions this replica took over", cluster.executions_adopted),
        ):
            family = CounterMetricFamily(name, help_text)
            family.add_metric([], value)
            yield family


class Metrics:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "orchestrator_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "orchestrator_http_request_duration_seconds",
            "HTTP request latency by route and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.delivery_lag = Histogram(
            "orchestrator_event_delivery_lag_seconds",
            "From an event's commit (on any replica) to its delivery to a live subscriber of this replica",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.tasks = Gauge("orchestrator_tasks", "Tasks by state, in the whole cluster", ["state"], registry=registry)
        self.queue_depth = Gauge(
            "orchestrator_queue_depth", "Queued tasks per project, in the whole cluster", ["project"], registry=registry
        )
        self.subscribers = Gauge(
            "orchestrator_subscribers", "Live event subscribers on this replica", registry=registry
        )
        self.replicas = Gauge("orchestrator_replicas_alive", "Replicas whose lease is current", registry=registry)
        self.leases = Gauge("orchestrator_leases_held", "Leases this replica holds", ["kind"], registry=registry)
        self.host_up = Gauge(
            "orchestrator_sandbox_host_up", "1 when a sandbox host answers", ["host"], registry=registry
        )
        self.host_sandboxes = Gauge(
            "orchestrator_sandbox_host_sandboxes", "Sandboxes placed on a host", ["host"], registry=registry
        )
        self.host_capacity = Gauge(
            "orchestrator_sandbox_host_capacity", "How many sandboxes a host takes", ["host"], registry=registry
        )
        registry.register(_ClusterCounters(rt))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def observe_delivery(self, created: float) -> None:
        self.delivery_lag.observe(max(0.0, time.time() - created))

    async def render(self) -> bytes:
        """Refresh what is read from the database and the runtime, then the text format."""
        from resolvers import sandbox_hosts

        rt = self.rt
        async with rt.db.read() as session:
            by_state = dict((await session.execute(select(Task.status, func.count()).group_by(Task.status))).all())
            queued = (
                await session.execute(
                    select(Task.project_id, func.count()).where(Task.status == "queued").group_by(Task.project_id)
                )
            ).all()
        for state in ("queued", "running", "completed", "failed", "cancelled"):
            self.tasks.labels(state).set(by_state.get(state, 0))
        self.queue_depth.clear()
        for project_id, count in queued:
            self.queue_depth.labels(project_id).set(count)
        self.subscribers.set(rt.events.bus.subscriber_count())
        self.replicas.set(sum(1 for replica in await rt.cluster.replicas() if replica.alive))
        self.leases.labels("task").set(len(rt.tasks.leases()))
        self.leases.labels("execution").set(len(rt.executions.leases()))
        for host in await sandbox_hosts.host_views(rt):
            self.host_up.labels(host.name).set(1 if host.up else 0)
            self.host_sandboxes.labels(host.name).set(host.sandboxes)
            self.host_capacity.labels(host.name).set(host.capacity)
        return generate_latest(self.registry)
