"""Several replicas of the service as real processes (`python app.py serve` on loopback ports) sharing one
private PostgreSQL, with NATS and two Docker engines as two sandbox hosts, for the cluster tests.

The infrastructure (PostgreSQL, NATS, the second engine, an OTLP receiver) is started once per test run;
the replicas once per broker (LISTEN/NOTIFY, then NATS), and shared by every cluster test.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, TASK_ENV, Api, free_port
from tests.docker_engine import IMAGE as TEST_IMAGE
from tests.docker_engine import DockerEngine
from tests.docker_hosts import TlsEngine, start_tls_engine
from tests.nats_server import nats_server
from tests.pg_cluster import postgres_server

REPO = Path(__file__).resolve().parent.parent
LEASE_SECONDS = 3
NAMES = ("a", "b", "c")
BLIND_ORG = "blind-org"
"""An organization folder the second engine cannot see."""
JWT_SECRET = "cluster-test-jwt-secret-" + "x" * 24
SECRETS_KEY = base64.b64encode(b"k" * 32).decode()


@dataclass
class Spans:
    """Spans an OTLP/HTTP receiver got, as (name, trace id, span id, parent span id, attributes)."""

    received: list[tuple[str, str, str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
                        self.received.append(
                            (span.name, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), attributes)
                        )

    def snapshot(self) -> list[tuple[str, str, str, str, dict[str, Any]]]:
        with self.lock:
            return list(self.received)


def start_otlp_receiver(spans: Spans) -> ThreadingHTTPServer:
    """An OTLP/HTTP endpoint (POST /v1/traces, protobuf) that keeps what it gets."""

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path == "/v1/traces":
                spans.take(body)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True).start()
    return server


@dataclass
class Infrastructure:
    database_url: str
    nats_url: str
    alpha: DockerEngine
    beta: TlsEngine
    base_root: Path
    folder: Path
    spans: Spans
    otlp_url: str

    def sandbox_hosts(self) -> str:
        return f"alpha={self.alpha.url}?capacity=4 beta={self.beta.tcp_url}?capacity=6&tls={self.beta.client_tls}"


@dataclass
class Replica:
    name: str
    port: int
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.data_dir.parent / f"replica-{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "serve"], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def wait_until_serving(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None and self.process.poll() is None, (
                f"replica {self.name} exited:\n{self.log_tail()}"
            )
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"replica {self.name} did not start:\n{self.log_tail()}"
            time.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        path = self.data_dir.parent / f"replica-{self.name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.api_url}/health", timeout=10).json()

    def api(self, token: str | None = None) -> Api:
        api = Api(self.api_url, token)
        if token is None:
            assert api.login(ADMIN_USERNAME, ADMIN_PASSWORD).status_code == 200
        return api


@dataclass
class Cluster:
    broker: str
    infra: Infrastructure
    replicas: dict[str, Replica]

    def __getitem__(self, name: str) -> Replica:
        return self.replicas[name]

    def all(self) -> list[Replica]:
        return list(self.replicas.values())

    def restart(self, name: str) -> Replica:
        """Start a replica again (after a kill): a new incarnation under the same name."""
        replica = self.replicas[name]
        replica.stop()
        replica.start()
        replica.wait_until_serving()
        return replica

    def replica_named(self, name: str) -> Replica:
        return next(replica for replica in self.replicas.values() if replica.env["REPLICA_NAME"] == name)


def replica_env(infra: Infrastructure, broker: str, name: str, port: int, data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        **TASK_ENV,
        "DATABASE_URL": infra.database_url,
        "DATA_DIR": str(data_dir),
        "BASE_ROOT": str(infra.base_root),
        "PORT": str(port),
        "AUTH_PASSWORD": ADMIN_PASSWORD,
        "JWT_SECRET": JWT_SECRET,
        "SECRETS_KEY": SECRETS_KEY,
        "LEASE_SECONDS": str(LEASE_SECONDS),
        "REPLICA_NAME": f"replica-{name}",
        "SANDBOX_HOSTS": infra.sandbox_hosts(),
        "IMAGE_NAME": TEST_IMAGE,
        "LOG_LEVEL": os.environ.get("CLUSTER_LOG_LEVEL", "warning"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": infra.otlp_url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "MEMORY_INDEX_SAVE_SECONDS": "1",
        "SOCKET_OPENS_PER_MINUTE_PER_ADDRESS": "0",
        "SOCKET_OPENS_PER_MINUTE_PER_USER": "0",
        "LOGINS_PER_MINUTE_PER_ADDRESS": "0",
        "LOGINS_PER_MINUTE_PER_USER": "0",
    }
    if broker == "nats":
        env["EVENT_BROKER_URL"] = infra.nats_url
    else:
        env.pop("EVENT_BROKER_URL", None)
    return env


@pytest.fixture(scope="session")
def cluster_infra(tmp_path_factory: pytest.TempPathFactory, docker_engine: DockerEngine) -> Iterator[Infrastructure]:
    folder = tmp_path_factory.mktemp("cluster")
    base_root = folder / "base-root"
    (base_root / BLIND_ORG).mkdir(parents=True)
    spans = Spans()
    receiver = start_otlp_receiver(spans)
    beta = start_tls_engine(free_port(), base_root / BLIND_ORG)
    try:
        with postgres_server(free_port()) as database_url, nats_server(free_port()) as nats_url:
            yield Infrastructure(
                database_url,
                nats_url,
                docker_engine,
                beta,
                base_root,
                folder,
                spans,
                f"http://127.0.0.1:{receiver.server_address[1]}",
            )
    finally:
        receiver.shutdown()
        beta.destroy()


def start_cluster(infra: Infrastructure, broker: str) -> Cluster:
    replicas = {}
    for name in NAMES:
        port = free_port()
        data_dir = infra.folder / broker / name
        data_dir.mkdir(parents=True)
        replicas[name] = Replica(name, port, data_dir, replica_env(infra, broker, name, port, data_dir))
    for replica in replicas.values():  # together, on an empty database: they take turns to migrate and seed
        replica.start()
    for replica in replicas.values():
        replica.wait_until_serving()
    return Cluster(broker, infra, replicas)


@pytest.fixture(scope="session", params=["listen-notify", "nats"])
def cluster(request: pytest.FixtureRequest, cluster_infra: Infrastructure) -> Iterator[Cluster]:
    """Three replicas (a, b, c) of one database, with the LISTEN/NOTIFY bus and then with NATS."""
    started = start_cluster(cluster_infra, request.param)
    try:
        yield started
    finally:
        for replica in started.all():
            replica.stop()


def remove_sandboxes(cluster: Cluster) -> None:
    """Delete every sandbox through the API, so that the next test finds the hosts' capacity free (the
    database and the hosts are shared by every cluster test)."""
    api = cluster["a"].api()
    refused = [
        response.text
        for sandbox in api.get("/flexy").json()
        if (response := api.delete(f"/flexy/{sandbox['id']}")).status_code not in (204, 404)
    ]
    assert not refused, refused


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll `condition` until it returns something true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
