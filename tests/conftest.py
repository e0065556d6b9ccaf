"""Test fixtures: a real uvicorn server on a free port, over real HTTP, with its own data folder.

The server runs in a thread of the test process so tests can also reach its runtime
(for example to count SQL statements); everything else goes over the network.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app import create_app, uvicorn_config
from resolvers.runtime import Runtime
from store.config import Settings
from tests.docker_engine import IMAGE as TEST_IMAGE
from tests.docker_engine import docker_engine  # noqa: F401 - the session's Docker engine, for every test folder
from tests.pg_cluster import postgres_server

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password-123"
USER_PASSWORD = "user-password-123"
TASK_ENV = {"TASK_COMMAND_BASH": "sh -c {prompt}"}
"""The test image has busybox `sh` but no bash."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread
    app: Any

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def runtime(self) -> Runtime:
        return self.app.state.runtime

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "server did not stop"


def start_server(data_dir: Path, **env: str) -> LiveServer:
    port = free_port()
    settings = Settings.from_env(
        {
            "DATA_DIR": str(data_dir),
            "PORT": str(port),
            "AUTH_PASSWORD": ADMIN_PASSWORD,
            "HOST_BROWSE_ROOT": str(data_dir),
            "LOG_LEVEL": "warning",
            **env,
        }
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server failed to start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", settings, server, thread, app)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The shared server; every test that uses it runs once on SQLite and once on PostgreSQL."""
    data_dir = tmp_path_factory.mktemp(f"server-{request.param}")
    if request.param == "sqlite":
        live = start_server(data_dir)
        yield live
        live.stop()
        return
    with postgres_server(free_port()) as database_url:
        live = start_server(data_dir, DATABASE_URL=database_url)
        yield live
        live.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a server of the test's own (for tests that lock accounts or restart); stopped afterwards."""
    started: list[LiveServer] = []

    def start(data_dir: Path | None = None, **env: str) -> LiveServer:
        live = start_server(data_dir or tmp_path / f"server-{len(started)}", **env)
        started.append(live)
        return live

    yield start
    for live in started:
        if live.thread.is_alive():
            live.stop()


class Api:
    """A REST client for one user: `api.get("/organizations")` returns the httpx response."""

    def __init__(self, base_url: str, token: str | None = None, username: str | None = None) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)
        self.token = token
        self.username = username
        self.user_id: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post(
            self.client.base_url.join("/graphql"),
            json={"query": query, "variables": variables or {}},
            headers=self.headers(),
        )
        assert response.status_code == 200, response.text
        return response.json()

    def login(self, username: str, password: str) -> httpx.Response:
        response = self.client.post("/auth/login", json={"username": username, "password": password})
        if response.status_code == 200:
            self.token = response.json()["token"]
            self.username = username
            self.user_id = response.json()["user"]["id"]
        return response

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return response.json()


def unique(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def login_as(live: LiveServer, username: str, password: str) -> Api:
    api = Api(live.api_url)
    response = api.login(username, password)
    assert response.status_code == 200, response.text
    return api


@pytest.fixture(scope="session")
def admin(server: LiveServer) -> Api:
    return login_as(server, ADMIN_USERNAME, ADMIN_PASSWORD)


def add_user(live: LiveServer, admin_api: Api, username: str | None = None, is_admin: bool = False) -> Api:
    username = username or unique("user")
    result = admin_api.graphql(
        "mutation($u: String!, $p: String!, $a: Boolean!) {"
        " createUser(input: {username: $u, password: $p, isAdmin: $a}) { user { id } userErrors { message } } }",
        {"u": username, "p": USER_PASSWORD, "a": is_admin},
    )
    assert "errors" not in result and result["data"]["createUser"]["userErrors"] == [], result
    return login_as(live, username, USER_PASSWORD)


@pytest.fixture
def make_user(server: LiveServer, admin: Api) -> Callable[..., Api]:
    """A new user of the shared server, logged in."""
    return lambda **kwargs: add_user(server, admin, **kwargs)


@pytest.fixture
def alice(make_user: Callable[..., Api]) -> Api:
    return make_user()


@pytest.fixture
def bob(make_user: Callable[..., Api]) -> Api:
    return make_user()


@dataclass
class Tree:
    org: dict[str, Any]
    workspace: dict[str, Any]
    project: dict[str, Any]


def make_tree(api: Api) -> Tree:
    org = api.create("/organizations", {"name": unique("Org"), "folderPath": unique("org")})
    workspace = api.create(f"/organizations/{org['id']}/workspaces", {"name": unique("Ws"), "folderPath": unique("ws")})
    project = api.create(
        f"/workspaces/{workspace['id']}/projects", {"name": unique("Proj"), "folderPath": unique("proj")}
    )
    return Tree(org, workspace, project)


@pytest.fixture
def tree(alice: Api) -> Tree:
    """An organization → workspace → project owned by `alice`."""
    return make_tree(alice)


@pytest.fixture(scope="module")
def module_user(server: LiveServer, admin: Api) -> Api:
    """One user for a whole module, for tests that only read or that must change nothing."""
    return add_user(server, admin)


@pytest.fixture(scope="module")
def module_tree(module_user: Api) -> Tree:
    return make_tree(module_user)


@pytest.fixture(scope="session", params=["docker", "local"])
def sandbox_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose sandboxes run on the test run's own Docker engine, or on the local backend."""
    env = {"SANDBOX_BACKEND": request.param, "IMAGE_NAME": TEST_IMAGE, **TASK_ENV}
    if request.param == "docker":
        env["DOCKER_HOST"] = request.getfixturevalue("docker_engine").url
    live = start_server(tmp_path_factory.mktemp(f"sandbox-{request.param}"), **env)
    yield live
    live.stop()


@pytest.fixture(scope="session")
def sandbox_admin(sandbox_server: LiveServer) -> Api:
    return login_as(sandbox_server, ADMIN_USERNAME, ADMIN_PASSWORD)


@pytest.fixture
def make_sandbox_user(sandbox_server: LiveServer, sandbox_admin: Api) -> Callable[[], Api]:
    return lambda: add_user(sandbox_server, sandbox_admin)


@pytest.fixture(scope="module")
def sandbox_owner(sandbox_server: LiveServer, sandbox_admin: Api) -> Api:
    return add_user(sandbox_server, sandbox_admin)


LONGEST_FIRST = ("tests/test_schemathesis.py", "tests/replicas/test_replicas.py")
"""The files that take minutes each (schemathesis' two, the replica clusters' three)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, so that parallel workers (`make test`: one file at a time each) start on them
    and the short files fill in around them instead of waiting behind one at the end."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in LONGEST_FIRST)
