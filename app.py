"""The orchestrator service: `create_app(settings)` and the command line.

python app.py serve            serve REST under /api and at /, GraphQL at /graphql (and a console with CONSOLE_DIR)
python app.py create-user NAME add a user (password from a prompt or stdin)
python app.py export-schema    write schema.graphql
python app.py migrate          apply database migrations and exit
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import re
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
import uvicorn.config
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers import log_redaction, sandbox_hosts, telemetry, users, workflows, worktrees
from resolvers.cluster import Cluster, new_replica_id
from resolvers.execution_engine import ExecutionEngine
from resolvers.rate_limit import Admission
from resolvers.runtime import Runtime
from resolvers.sandbox_operations import SandboxOperations
from resolvers.sandbox_spec import protected_paths
from resolvers.sandboxes import unknown_sandboxes
from resolvers.task_scheduler import TaskScheduler
from resolvers.throttle import LoginThrottle
from rest_compat import build_api, http_error, vendor_assets
from rest_compat.body_limit import BodyLimit
from rest_compat.companion_proxy import upstream_client
from rest_compat.console import ConsoleSite
from rest_compat.observability import Observability, metrics_route
from sandbox import open_backend
from sandbox.base import SandboxBackend
from sandbox.egress import EgressProxy
from sandbox.hosts import MultiHostBackend, parse_hosts
from schema import GraphQLView, Limits, build_schema
from schema.graphiql import graphiql_asset
from schema.view import too_large
from store.brokers import Hub, open_broker
from store.bus import EventBus, InProcessBus
from store.cluster_bus import ClusterBus
from store.config import Settings
from store.db import Database
from store.events import EventLog
from store.locks import ClusterLocks, Namespace
from store.memory_follow import MemoryFollower
from store.memory_vectors import MemoryVectors
from store.migrate import upgrade_to_head
from store.secret_box import SecretBox, new_key_text, parse_key

log = logging.getLogger("orchestrator")
SCHEMA_FILE = Path(__file__).resolve().parent / "schema.graphql"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Gives every request an id (the client's `X-Request-ID` when sane) that errors and logs cite."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _kept_secret(given: str | None, path: Path, make: Callable[[], str]) -> str:
    """`given`, else a value generated once and kept in `path` with mode 0600."""
    if given:
        return given
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def load_jwt_secret(settings: Settings) -> str:
    """JWT_SECRET, else a secret generated once and kept in DATA_DIR with mode 0600."""
    return _kept_secret(settings.jwt_secret, settings.data_dir / "jwt-secret", lambda: secrets.token_urlsafe(48))


def load_secret_box(settings: Settings) -> SecretBox:
    """The box that seals stored secrets: SECRETS_KEY, else a key generated once into DATA_DIR/secrets-key."""
    text = _kept_secret(settings.secrets_key, settings.data_dir / "secrets-key", new_key_text)
    try:
        return SecretBox(parse_key(text))
    except ValueError as error:
        source = "SECRETS_KEY" if settings.secrets_key else str(settings.data_dir / "secrets-key")
        raise SystemExit(f"{source} {error}") from None


def service_address(settings: Settings) -> tuple[str, int]:
    """Where the egress proxy reaches this service for a sandbox that lists host.docker.internal."""
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0") else "::1" if settings.host == "::" else settings.host
    return host, settings.port


def prepare_folders(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.base_root.mkdir(parents=True, exist_ok=True)


async def open_sandboxes(settings: Settings) -> SandboxBackend:
    """SANDBOX_HOSTS' Docker engines when set, else the one backend SANDBOX_BACKEND names."""
    options: dict[str, Any] = {
        "memory_bytes": settings.sandbox_memory_mb * 1024 * 1024,
        "nano_cpus": int(settings.sandbox_cpus * 1e9),
        "pids_limit": settings.sandbox_pids,
        "egress": EgressProxy(service_address(settings)),
        "user_id": settings.sandbox_user_id,
        "group_id": settings.sandbox_group_id,
        "nofile": settings.sandbox_nofile,
        "nproc": settings.sandbox_nproc,
        "log_max_size": settings.sandbox_log_max_size,
        "log_max_file": settings.sandbox_log_max_file,
        "hidden_paths": protected_paths(settings),
    }
    if settings.sandbox_hosts:
        try:
            specs = parse_hosts(settings.sandbox_hosts)
        except ValueError as error:
            raise SystemExit(str(error)) from None
        return MultiHostBackend(specs, **options)
    return await open_backend(
        settings.sandbox_backend,
        url=settings.docker_host,
        state_dir=settings.data_dir / "local-sandboxes",
        **options,
    )


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Every runtime part, opened in order and closed in reverse."""
    prepare_folders(settings)
    database = Database(settings.database_url, idle_transaction_seconds=max(5, settings.lease_seconds))
    replica_id = new_replica_id(settings.replica_name)
    broker = open_broker(settings.database_url, database.is_sqlite, settings.event_broker_url, replica_id)
    hub = Hub(broker) if broker is not None else None
    bus: EventBus = ClusterBus(hub, replica_id) if hub is not None else InProcessBus()
    locks = ClusterLocks(database, settings.lease_seconds)
    try:
        await upgrade_to_head(database)
        backend = await open_sandboxes(settings)
        try:
            rt = Runtime(
                settings=settings,
                db=database,
                jwt_secret=load_jwt_secret(settings),
                login_throttle=LoginThrottle(settings.login_max_failures, settings.login_lockout_seconds),
                events=EventLog(database, bus, settings.event_retention_seconds, settings.event_retention_count),
                backend=backend,
                memory=MemoryVectors(settings, database),
                secret_box=load_secret_box(settings),
                admission=Admission.from_settings(settings),
                locks=locks,
            )
            if isinstance(bus, ClusterBus):
                bus.log = rt.events
            rt.cluster = Cluster(rt, hub, replica_id)
            if hub is not None:  # other replicas write memories too: follow their changes
                rt.memory.changes.hub = hub
                rt.memory.follower = MemoryFollower(rt.memory, rt.memory.changes, hub)
            rt.metrics = telemetry.Metrics(rt)
            rt.events.on_delivered = rt.metrics.observe_delivery
            rt.operations = SandboxOperations(rt)
            rt.tasks = TaskScheduler(rt)
            rt.executions = ExecutionEngine(rt)
            try:
                yield rt
            finally:
                await rt.events.close()
                await rt.memory.close()
        finally:
            await backend.close()
    finally:
        await bus.close()
        if hub is not None:
            await hub.close()
        await locks.dispose()
        await database.dispose()


async def reconcile(rt: Runtime) -> None:
    """Work a previous process left half done is failed with a reason; strange sandboxes are reported."""
    interrupted = await rt.operations.reconcile()
    if interrupted:
        log.warning("marked %d sandbox operations left unfinished by a previous run as failed", interrupted)
    failed, requeued = await rt.tasks.reconcile()
    if failed or requeued:
        log.warning("failed %d tasks left running by a previous run; queued %d waiting ones again", failed, requeued)
    continued = await rt.executions.reconcile()
    if continued:
        log.warning("continuing %d workflow executions left running by a previous run", continued)
    for sandbox_id in await unknown_sandboxes(rt):
        log.warning("sandbox %s is labelled as ours but no project knows it", sandbox_id)


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with open_runtime(settings) as rt:
            telemetry.setup_tracing(rt.cluster.replica_id)
            await rt.events.bus.start()
            await rt.cluster.register()
            async with rt.locks.hold(Namespace.STARTUP, "start"):  # replicas starting together take turns
                generated = await users.ensure_admin(rt)
                if generated:
                    print(
                        f"\n  Created admin user {settings.auth_username!r} with password: {generated}\n"
                        "  It is shown only this once; set AUTH_PASSWORD to choose your own.\n",
                        flush=True,
                    )
                await reconcile(rt)
                await workflows.seed_template(rt)
            rt.cluster.start()
            sandbox_hosts.connect(rt)
            rt.memory.start()
            pruning = asyncio.create_task(rt.events.prune_forever(), name="event-pruning")
            cleaning = asyncio.create_task(worktrees.cleanup_forever(rt), name="worktree-cleanup")
            app.state.runtime = rt
            log.info(
                "replica %s serving on http://%s:%s (REST /api and /, GraphQL /graphql, sandboxes: %s, events: %s)",
                rt.cluster.replica_id,
                settings.host,
                settings.port,
                rt.backend.name,
                rt.cluster.broker_health()["kind"],
            )
            try:
                async with upstream_client() as proxy_client:
                    yield {"runtime": rt, "proxy_client": proxy_client}
            finally:
                pruning.cancel()
                cleaning.cancel()
                await rt.executions.shutdown()
                await rt.tasks.shutdown()
                await rt.operations.shutdown()
                await rt.cluster.stop()
                telemetry.shutdown_tracing()

    limits = Limits(max_depth=settings.graphql_max_depth, max_cost=settings.graphql_max_cost)
    graphql = GraphQLView(build_schema(limits))
    graphql_http = BodyLimit(graphql, lambda _scope: settings.request_body_max_bytes, too_large)
    api = build_api(settings)
    root: ASGIApp = api
    if settings.console_dir is not None:
        root = ConsoleSite(settings.console_dir, settings.public_url, api)
    app = Starlette(
        routes=[
            Route("/graphql/assets/{name}", graphiql_asset, methods=["GET"]),
            Route("/graphql", graphql_http, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            metrics_route,
            *vendor_assets.routes,
            Mount("/api", api),
            Mount("", root),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
    app.add_middleware(Observability)
    app.add_middleware(RequestIdMiddleware)
    return app


def configure_logging(settings: Settings) -> None:
    """Our loggers to standard error, with tokens and secret values redacted on every handler."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_redaction.install(logging.getLogger().handlers)


def uvicorn_config(
    app: ASGIApp, settings: Settings, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    """How uvicorn serves the app, in one place for `serve` and the tests: its access and error logs
    redacted, WebSocket messages capped at WS_MAX_MESSAGE_BYTES."""
    return uvicorn.Config(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        log_config=log_redaction.uvicorn_log_config(uvicorn.config.LOGGING_CONFIG),
        lifespan="on",
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_message_bytes,
        # Progress frames are small and go to many sockets: compressing each costs more than it saves.
        ws_per_message_deflate=False,
    )


def printed_schema() -> str:
    from strawberry.printer import print_schema

    return print_schema(build_schema()) + "\n"


def export_schema(path: Path = SCHEMA_FILE) -> list[str]:
    """Write the schema. Written to the repository's own schema.graphql, it also records in the changelog
    the breaking changes against the previous committed version (and returns those it added)."""
    from schema import evolution

    text = printed_schema()
    path.write_text(text)
    if path.resolve() != SCHEMA_FILE:
        return []
    return evolution.record(evolution.compare(text).breaking)


async def _create_user(settings: Settings, username: str, password: str, admin: bool) -> None:
    async with open_runtime(settings) as rt:
        user = await users.add_user(rt, username, password, is_admin=admin)
    print(f"created {'admin' if admin else 'user'} {user.username} ({user.id})")


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise SystemExit("passwords differ")
    return first


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="app.py", description="The orchestrator service.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    create = commands.add_parser("create-user", help="add a user")
    create.add_argument("username")
    create.add_argument("--admin", action="store_true", help="make the user an administrator")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    export = commands.add_parser("export-schema", help="write the GraphQL schema")
    export.add_argument("--output", type=Path, default=SCHEMA_FILE)
    commands.add_parser("migrate", help="apply database migrations")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    configure_logging(settings)
    if args.command == "serve":
        overrides = {"host": args.host, "port": args.port}
        uvicorn.Server(uvicorn_config(create_app(settings), settings, **overrides)).run()
    elif args.command == "create-user":
        from resolvers.errors import DomainError

        try:
            asyncio.run(_create_user(settings, args.username, _read_password(args.password_stdin), args.admin))
        except DomainError as error:
            raise SystemExit(error.message) from None
    elif args.command == "export-schema":
        recorded = export_schema(args.output)
        print(f"wrote {args.output}")
        if recorded:
            print(f"recorded {len(recorded)} breaking change(s) in docs/graphql-changelog.md: describe them there")
    elif args.command == "migrate":

        async def migrate() -> None:
            async with open_runtime(settings):
                pass

        asyncio.run(migrate())
        print("database is up to date")


if __name__ == "__main__":
    main()
