"""The orchestrator service: `create_app(settings)` and the command line.

python app.py serve            serve REST under /api and GraphQL at /graphql
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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers import users, workflows
from resolvers.execution_engine import ExecutionEngine
from resolvers.runtime import Runtime
from resolvers.sandbox_operations import SandboxOperations
from resolvers.sandbox_spec import protected_paths
from resolvers.sandboxes import unknown_sandboxes
from resolvers.task_scheduler import TaskScheduler
from resolvers.throttle import LoginThrottle
from rest_compat import build_api
from sandbox import open_backend
from sandbox.egress import EgressProxy
from schema import GraphQLView, build_schema
from store.bus import InProcessBus
from store.config import Settings
from store.db import Database
from store.events import EventLog
from store.memory_vectors import MemoryVectors
from store.migrate import upgrade_to_head

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


def load_jwt_secret(settings: Settings) -> str:
    """JWT_SECRET, else a secret generated once and kept in DATA_DIR with mode 0600."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.data_dir / "jwt-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
        return secret


def service_address(settings: Settings) -> tuple[str, int]:
    """Where the egress proxy reaches this service for a sandbox that lists host.docker.internal."""
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0") else "::1" if settings.host == "::" else settings.host
    return host, settings.port


def prepare_folders(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.base_root.mkdir(parents=True, exist_ok=True)


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Every runtime part, opened in order and closed in reverse."""
    prepare_folders(settings)
    database = Database(settings.database_url)
    try:
        await upgrade_to_head(database)
        backend = await open_backend(
            settings.sandbox_backend,
            url=settings.docker_host,
            state_dir=settings.data_dir / "local-sandboxes",
            memory_bytes=settings.sandbox_memory_mb * 1024 * 1024,
            nano_cpus=int(settings.sandbox_cpus * 1e9),
            pids_limit=settings.sandbox_pids,
            egress=EgressProxy(service_address(settings)),
            user_id=settings.sandbox_user_id,
            group_id=settings.sandbox_group_id,
            nofile=settings.sandbox_nofile,
            nproc=settings.sandbox_nproc,
            log_max_size=settings.sandbox_log_max_size,
            log_max_file=settings.sandbox_log_max_file,
            hidden_paths=protected_paths(settings),
        )
        try:
            rt = Runtime(
                settings=settings,
                db=database,
                jwt_secret=load_jwt_secret(settings),
                login_throttle=LoginThrottle(settings.login_max_failures, settings.login_lockout_seconds),
                events=EventLog(
                    database, InProcessBus(), settings.event_retention_seconds, settings.event_retention_count
                ),
                backend=backend,
                memory=MemoryVectors(settings, database),
            )
            rt.operations = SandboxOperations(rt)
            rt.tasks = TaskScheduler(rt)
            rt.executions = ExecutionEngine(rt)
            try:
                yield rt
            finally:
                await rt.memory.close()
        finally:
            await backend.close()
    finally:
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
            generated = await users.ensure_admin(rt)
            if generated:
                print(
                    f"\n  Created admin user {settings.auth_username!r} with password: {generated}\n"
                    "  It is shown only this once; set AUTH_PASSWORD to choose your own.\n",
                    flush=True,
                )
            await reconcile(rt)
            await workflows.seed_template(rt)
            rt.memory.start()
            pruning = asyncio.create_task(rt.events.prune_forever(), name="event-pruning")
            app.state.runtime = rt
            log.info(
                "serving on http://%s:%s (REST /api, GraphQL /graphql, sandboxes: %s)",
                settings.host,
                settings.port,
                rt.backend.name,
            )
            try:
                yield {"runtime": rt}
            finally:
                pruning.cancel()
                await rt.executions.shutdown()
                await rt.tasks.shutdown()
                await rt.operations.shutdown()

    graphql = GraphQLView(build_schema())
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Mount("/api", build_api()),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestIdMiddleware)
    return app


def export_schema(path: Path = SCHEMA_FILE) -> None:
    from strawberry.printer import print_schema

    path.write_text(print_schema(build_schema()) + "\n")


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
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        import uvicorn

        host, port = args.host or settings.host, args.port or settings.port
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level=settings.log_level,
            lifespan="on",
            # Progress frames are small and go to many sockets: compressing each costs more than it saves.
            ws_per_message_deflate=False,
        )
    elif args.command == "create-user":
        from resolvers.errors import DomainError

        try:
            asyncio.run(_create_user(settings, args.username, _read_password(args.password_stdin), args.admin))
        except DomainError as error:
            raise SystemExit(error.message) from None
    elif args.command == "export-schema":
        export_schema(args.output)
        print(f"wrote {args.output}")
    elif args.command == "migrate":

        async def migrate() -> None:
            async with open_runtime(settings):
                pass

        asyncio.run(migrate())
        print("database is up to date")


if __name__ == "__main__":
    main()
