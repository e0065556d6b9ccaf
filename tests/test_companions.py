"""The sandbox companions on Docker: `/flexy/{id}/shell`, `/docs/` and `/port/{port}/` proxied to a real
container (the companion image: a static HTTP + WebSocket server on 9681 and 8765, busybox httpd on 9280),
HTTP and WebSocket, streaming both ways; the companion cookie; and an attacker's probes."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.companion_image import APP_PORT, DOCS_TITLE, build_companion_image
from tests.conftest import Api, LiveServer, add_user, make_tree
from tests.docker_engine import DockerEngine

pytestmark = pytest.mark.parametrize("sandbox_server", ["docker"], indirect=True)

COOKIE = "aintandem_companion"
BIG = 20 * 1024 * 1024
FIRST = 1024 * 1024


# -- helpers shared with the local terminal's tests ----------------------------------------------------------


def companion_cookie(login: httpx.Response) -> str:
    """The companion pass from a login or refresh answer's Set-Cookie headers."""
    for header in login.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no {COOKIE} cookie in {login.headers.get_list('set-cookie')}")


@dataclass
class Frame:
    """What a console frame has: the companion cookie of a login, and no bearer header."""

    server: LiveServer
    cookie: str

    @classmethod
    def of(cls, server: LiveServer, api: Api, password: str = "user-password-123") -> Frame:
        response = httpx.post(f"{server.api_url}/auth/login", json={"username": api.username, "password": password})
        assert response.status_code == 200, response.text
        return cls(server, companion_cookie(response))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Cookie": f"{COOKIE}={self.cookie}", **kwargs.pop("headers", {})}
        return httpx.get(f"{self.server.api_url}{path}", headers=headers, timeout=30, **kwargs)

    def socket(self, path: str, **kwargs: Any) -> ClientConnection:
        url = f"ws://{self.server.url.removeprefix('http://')}/api{path}"
        headers = {"Cookie": f"{COOKIE}={self.cookie}", **kwargs.pop("headers", {})}
        return connect(url, additional_headers=headers, open_timeout=15, **kwargs)


def socket_refusal(opening: Any) -> InvalidStatus:
    """The HTTP answer that refused a WebSocket handshake."""
    with pytest.raises(InvalidStatus) as refused:
        opening()
    return refused.value


def assert_page(response: httpx.Response, status: int, *words: str) -> None:
    """One of our HTML pages (never JSON inside a frame), with `words` in it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html"), response.headers
    for word in words:
        assert word in response.text, response.text


def read_until(ws: ClientConnection, expected: bytes, timeout: float = 15) -> bytes:
    """Everything the socket sends until `expected` has arrived (bytes or text frames)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while expected not in seen:
        message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        seen += message.encode() if isinstance(message, str) else message
    return seen


def create_sandbox(api: Api, project_id: str, image: str | None = None) -> dict[str, Any]:
    response = api.post("/flexy", {"name": "", "projectId": project_id, **({"imageName": image} if image else {})})
    assert response.status_code == 201, response.text
    return response.json()


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def companion_image(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_companion_image(docker_engine, tmp_path_factory.mktemp("companion-image"))


@pytest.fixture(scope="module")
def owner(sandbox_server: LiveServer, sandbox_admin: Api) -> Api:
    return add_user(sandbox_server, sandbox_admin)


def wait_until_serving(frame: Frame, sandbox_id: str) -> None:
    """The container's init starts its servers just after the container starts."""
    deadline = time.monotonic() + 30
    while frame.get(f"/flexy/{sandbox_id}/port/{APP_PORT}/ready").status_code != 200:
        assert time.monotonic() < deadline, "the companion servers did not start"
        time.sleep(0.05)
    while frame.get(f"/flexy/{sandbox_id}/docs/").status_code != 200:
        assert time.monotonic() < deadline, "httpd did not start"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def sandbox(owner: Api, companion_image: str, sandbox_server: LiveServer) -> dict[str, Any]:
    created = create_sandbox(owner, make_tree(owner).project["id"], companion_image)
    wait_until_serving(Frame.of(sandbox_server, owner), created["id"])
    return created


@pytest.fixture(scope="module")
def frame(sandbox_server: LiveServer, owner: Api) -> Frame:
    return Frame.of(sandbox_server, owner)


def container_hostname(docker_engine: DockerEngine, sandbox_id: str) -> str:
    return json.loads(docker_engine.request("GET", f"/containers/{sandbox_id}/json"))["Config"]["Hostname"]


# -- the proxy -----------------------------------------------------------------------------------------------


def test_the_shell_carries_an_interactive_session_both_ways(frame: Frame, sandbox: dict[str, Any]) -> None:
    with frame.socket(f"/flexy/{sandbox['id']}/shell/ws", subprotocols=["tty"]) as ws:
        assert ws.subprotocol == "tty", "the client's subprotocol reaches the terminal and its choice comes back"
        ws.send("echo hello $((6*7))\n")
        assert b"hello 42" in read_until(ws, b"hello 42")
        ws.send(b'echo asking-$((1+1)); read name; echo "hi $name from $(hostname)"\n')
        read_until(ws, b"asking-2")  # the shell now waits in `read` for the next line
        ws.send(b"bob\n")
        assert b"hi bob from" in read_until(ws, b"hi bob from")
        ws.send("exit\n")
        with pytest.raises(ConnectionClosedOK):
            read_until(ws, b"never")


def test_the_shell_page_reaches_port_9681_with_the_clients_headers_cleaned(
    frame: Frame, owner: Api, sandbox: dict[str, Any], docker_engine: DockerEngine
) -> None:
    response = frame.get(
        f"/flexy/{sandbox['id']}/shell?x=1",
        headers={
            "Cookie": f"{COOKIE}={frame.cookie}; aintandem_refresh_token=secret; theirs=kept",
            "Authorization": f"Bearer {owner.token}",
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Host": "evil.example",
            "Forwarded": "for=6.6.6.6;host=evil.example",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "dropped",
            "TE": "trailers",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "X-Custom": "passed",
        },
    )
    assert response.status_code == 200 and response.headers["x-port"] == "9681"
    lines = response.text.splitlines()
    assert lines[:3] == ["port 9681", f"host {container_hostname(docker_engine, sandbox['id'])}", "GET /?x=1 HTTP/1.1"]
    received = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[3:])}
    # A sandbox in the default `egress` mode has no network address: it is reached on its own loopback.
    assert received["host"] == "127.0.0.1:9681"
    assert received["cookie"] == "theirs=kept", "this service's cookies never reach the sandbox"
    assert received["x-custom"] == "passed"
    assert received["x-forwarded-prefix"] == f"/api/flexy/{sandbox['id']}/shell"
    assert "," not in received["x-forwarded-for"], "set by this server, not appended to the client's"
    assert received["x-forwarded-host"] == frame.server.url.removeprefix("http://")
    for name in ("authorization", "forwarded", "x-hop", "te", "proxy-authorization"):
        assert name not in received, f"{name} reached the sandbox"


def test_docs_and_any_port_over_http_and_websocket(frame: Frame, sandbox: dict[str, Any]) -> None:
    sid = sandbox["id"]
    redirect = frame.get(f"/flexy/{sid}/docs")
    assert redirect.status_code == 308 and redirect.headers["location"] == f"/api/flexy/{sid}/docs/"
    docs = frame.get(f"/flexy/{sid}/docs/")
    assert docs.status_code == 200 and DOCS_TITLE in docs.text
    assert frame.get(f"/flexy/{sid}/port/{APP_PORT}").headers["location"] == f"/api/flexy/{sid}/port/{APP_PORT}/"
    app = frame.get(f"/flexy/{sid}/port/{APP_PORT}/some/page")
    assert app.text.splitlines()[0] == f"port {APP_PORT}" and "GET /some/page HTTP/1.1" in app.text
    with frame.socket(f"/flexy/{sid}/port/{APP_PORT}/echo") as ws:
        ws.send("text stays text")
        assert ws.recv(timeout=10) == "text stays text"
        ws.send(b"\x00binary\xff" * 10000)
        assert ws.recv(timeout=10) == b"\x00binary\xff" * 10000


def test_bodies_stream_through_without_being_held(frame: Frame, sandbox: dict[str, Any]) -> None:
    """The upstream sends 1 MiB of 20 and waits for /release; a proxy that held the body would never deliver
    the first MiB. The upload sends 1 MiB and waits until the upstream has received it, then the rest."""
    base = f"/flexy/{sandbox['id']}/port/9681"
    cookies = {"Cookie": f"{COOKIE}={frame.cookie}"}
    with httpx.Client(base_url=frame.server.api_url, headers=cookies, timeout=30) as client:
        with client.stream("GET", f"{base}/big") as response:
            assert response.headers["content-length"] == str(BIG)
            received = bytearray()
            chunks = response.iter_raw()
            while len(received) < FIRST:
                received += next(chunks)
            assert client.get(f"{base}/release").status_code == 200
            for chunk in chunks:
                received += chunk
        assert len(received) == BIG
        assert received == bytes(i % 251 for i in range(251)) * (BIG // 251) + bytes(range(BIG % 251))

        payload = bytes(range(256)) * (BIG // 256)

        def body() -> Iterator[bytes]:
            yield payload[:FIRST]
            deadline = time.monotonic() + 15
            while int(client.get(f"{base}/upload-progress").text or 0) < FIRST:
                assert time.monotonic() < deadline, "the first MiB of the upload did not reach the sandbox alone"
                time.sleep(0.02)
            for start in range(FIRST, BIG, 256 * 1024):
                yield payload[start : start + 256 * 1024]

        upload = client.post(f"{base}/upload", content=body(), headers={"Content-Length": str(BIG)})
        assert upload.text == f"received {BIG} sum {sum(payload) % 2**32}\n"


def test_a_stopped_sandbox_and_a_silent_port_answer_html_pages(
    owner: Api, companion_image: str, sandbox_server: LiveServer, frame: Frame, sandbox: dict[str, Any]
) -> None:
    silent = frame.get(f"/flexy/{sandbox['id']}/port/5555/")
    assert_page(silent, 502, "Nothing is listening on port 5555")
    stopped = create_sandbox(owner, make_tree(owner).project["id"], companion_image)
    assert owner.post(f"/flexy/{stopped['id']}/stop").status_code == 204
    for path in ("shell", "docs/", f"port/{APP_PORT}/"):
        assert_page(frame.get(f"/flexy/{stopped['id']}/{path}"), 503, "stopped", "Start it")
    refused = socket_refusal(lambda: frame.socket(f"/flexy/{stopped['id']}/shell/ws"))
    assert refused.response.status_code == 503 and b"stopped" in refused.response.body


# -- the cookie ----------------------------------------------------------------------------------------------


def test_login_sets_the_cookie_on_the_companion_paths_only(sandbox_server: LiveServer, owner: Api) -> None:
    login = httpx.post(
        f"{sandbox_server.api_url}/auth/login", json={"username": owner.username, "password": "user-password-123"}
    )
    cookies = [header for header in login.headers.get_list("set-cookie") if header.startswith(f"{COOKIE}=")]
    paths = sorted(part.strip() for header in cookies for part in header.split(";") if part.strip().startswith("Path"))
    assert paths == ["Path=/api/flexy/", "Path=/flexy/"]
    for header in cookies:
        attributes = {part.strip().lower() for part in header.split(";")[1:]}
        assert {"httponly", "samesite=lax", "max-age=3600"} <= attributes, header
    assert companion_cookie(login) != login.json()["token"], "the pass is not the access token"


def test_the_pass_and_the_access_token_do_not_open_each_others_doors(
    sandbox_server: LiveServer, owner: Api, sandbox: dict[str, Any]
) -> None:
    """Each is checked (and remembered) as what it is: one just accepted as itself still fails as the other."""
    shell = f"{sandbox_server.api_url}/flexy/{sandbox['id']}/shell"
    frame = Frame.of(sandbox_server, owner)
    assert frame.get(f"/flexy/{sandbox['id']}/shell").status_code == 200
    as_bearer = httpx.get(
        f"{sandbox_server.api_url}/organizations", headers={"Authorization": f"Bearer {frame.cookie}"}
    )
    assert as_bearer.status_code == 401
    bearer = httpx.get(shell, headers={"Authorization": f"Bearer {owner.token}"})
    assert bearer.status_code == 200 and bearer.text.startswith("port 9681"), "a bearer token works too"
    assert_page(Frame(sandbox_server, owner.token or "").get(f"/flexy/{sandbox['id']}/shell"), 401, "Sign-in cookie")


def test_logout_ends_the_cookie_and_refresh_renews_it(
    sandbox_server: LiveServer, owner: Api, sandbox: dict[str, Any]
) -> None:
    shell = f"/flexy/{sandbox['id']}/shell"
    login = httpx.post(
        f"{sandbox_server.api_url}/auth/login", json={"username": owner.username, "password": "user-password-123"}
    )
    frame = Frame(sandbox_server, companion_cookie(login))
    assert frame.get(shell).status_code == 200
    refreshed = httpx.post(
        f"{sandbox_server.api_url}/auth/refresh", json={"refreshToken": login.json()["refreshToken"]}
    )
    renewed = Frame(sandbox_server, companion_cookie(refreshed))
    assert renewed.cookie != frame.cookie and renewed.get(shell).status_code == 200
    logout = httpx.post(
        f"{sandbox_server.api_url}/auth/logout", headers={"Authorization": f"Bearer {refreshed.json()['token']}"}
    )
    assert logout.status_code == 200
    deleted = [h for h in logout.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert len(deleted) == 2 and all("Max-Age=0" in h for h in deleted), deleted
    for kept in (frame, renewed):  # a cookie kept against the server's will opens nothing any more
        assert_page(kept.get(shell), 401)
        assert socket_refusal(lambda kept=kept: kept.socket(f"{shell}/ws")).response.status_code == 401


def test_a_replayed_refresh_token_ends_the_cookie(
    sandbox_server: LiveServer, owner: Api, sandbox: dict[str, Any]
) -> None:
    login = httpx.post(
        f"{sandbox_server.api_url}/auth/login", json={"username": owner.username, "password": "user-password-123"}
    )
    frame = Frame(sandbox_server, companion_cookie(login))
    refresh = {"refreshToken": login.json()["refreshToken"]}
    assert httpx.post(f"{sandbox_server.api_url}/auth/refresh", json=refresh).status_code == 200
    assert httpx.post(f"{sandbox_server.api_url}/auth/refresh", json=refresh).status_code == 401
    assert_page(frame.get(f"/flexy/{sandbox['id']}/shell"), 401)


def test_the_cookie_is_refused_for_a_socket_opened_by_another_site(frame: Frame, sandbox: dict[str, Any]) -> None:
    path = f"/flexy/{sandbox['id']}/shell/ws"
    refused = socket_refusal(lambda: frame.socket(path, origin="http://evil.example"))
    assert refused.response.status_code == 401 and b"another site" in refused.response.body
    with frame.socket(path, origin=frame.server.url) as ws:
        ws.send("echo same-site\n")
        assert b"same-site" in read_until(ws, b"same-site")


# -- who may see it ------------------------------------------------------------------------------------------


def companion_paths(sandbox_id: str) -> list[str]:
    return [
        f"/flexy/{sandbox_id}/shell",
        f"/flexy/{sandbox_id}/shell/ws",
        f"/flexy/{sandbox_id}/docs",
        f"/flexy/{sandbox_id}/docs/",
        f"/flexy/{sandbox_id}/port/{APP_PORT}",
        f"/flexy/{sandbox_id}/port/{APP_PORT}/x",
        f"/flexy/{sandbox_id}/port/not-a-port/",
        f"/flexy/{sandbox_id}/port/0/",
    ]


def assert_hidden(server: LiveServer, stranger: Api, sandbox_id: str) -> None:
    """A stranger gets, on every companion path, with the cookie or a bearer token, over HTTP and WebSocket,
    exactly what a sandbox that does not exist answers."""
    missing = uuid.uuid4().hex
    frame = Frame.of(server, stranger)
    bearer = {"Authorization": f"Bearer {stranger.token}"}
    for path, absent in zip(companion_paths(sandbox_id), companion_paths(missing), strict=True):
        for headers in ({"Cookie": f"{COOKIE}={frame.cookie}"}, bearer):
            seen = httpx.get(f"{server.api_url}{path}", headers=headers)
            nothing = httpx.get(f"{server.api_url}{absent}", headers=headers)
            assert_page(seen, 404, "not found")
            assert seen.text.replace(sandbox_id, "ID") == nothing.text.replace(missing, "ID")
            url = f"ws://{server.url.removeprefix('http://')}/api{path}"
            refused = socket_refusal(lambda url=url, headers=headers: connect(url, additional_headers=headers))
            assert refused.response.status_code == 404
        anonymous = httpx.get(f"{server.api_url}{path}")
        assert_page(anonymous, 401, "Sign in")
        assert anonymous.text == httpx.get(f"{server.api_url}{absent}").text


def test_a_non_member_gets_404_on_every_companion_path(
    sandbox_server: LiveServer, sandbox_admin: Api, sandbox: dict[str, Any]
) -> None:
    assert_hidden(sandbox_server, add_user(sandbox_server, sandbox_admin), sandbox["id"])


# -- an attacker's probes ------------------------------------------------------------------------------------


class Listener:
    """A TCP port on this host (every interface) that records whoever connects to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


def raw_request(server: LiveServer, target: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request exactly as written (no client normalising `..` or encodings): status and body."""
    address = server.url.removeprefix("http://")
    headers = {"Host": address, "Connection": "close", **(headers or {})}
    request = f"GET {target} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall((request + "\r\n").encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def test_an_open_sandbox_is_reached_at_its_address_and_a_none_one_on_its_loopback(
    owner: Api, frame: Frame, companion_image: str, docker_engine: DockerEngine
) -> None:
    for mode in ("open", "none"):
        project = make_tree(owner).project["id"]
        assert owner.put(f"/projects/{project}/network", {"mode": mode}).status_code == 200
        created = create_sandbox(owner, project, companion_image)
        wait_until_serving(frame, created["id"])
        response = frame.get(f"/flexy/{created['id']}/shell")
        assert response.status_code == 200
        address = json.loads(docker_engine.request("GET", f"/containers/{created['id']}/json"))["NetworkSettings"]
        ips = [network["IPAddress"] for network in (address.get("Networks") or {}).values() if network["IPAddress"]]
        expected = f"{ips[0]}:9681" if mode == "open" else "127.0.0.1:9681"
        assert (mode == "open") == bool(ips)
        assert f"host: {expected}" in response.text.lower().splitlines(), mode


def echoed_headers(body: str) -> dict[str, str]:
    """The request headers as the companion server received them (its answer echoes them)."""
    lines = body.split("\r\n")[1:]
    return {name.lower(): value for name, _, value in (line.partition(": ") for line in lines if ": " in line)}


def test_no_path_header_or_port_reaches_the_host_or_another_container(
    sandbox_server: LiveServer,
    owner: Api,
    frame: Frame,
    sandbox: dict[str, Any],
    companion_image: str,
    docker_engine: DockerEngine,
    listener: Listener,
) -> None:
    other = create_sandbox(owner, make_tree(owner).project["id"], companion_image)
    wait_until_serving(frame, other["id"])
    mine = f"host {container_hostname(docker_engine, sandbox['id'])}"
    cookie = {"Cookie": f"{COOKIE}={frame.cookie}"}
    base = f"/api/flexy/{sandbox['id']}"
    here = f"127.0.0.1:{listener.port}"

    # The host's port, asked for as the sandbox's: the sandbox has nothing there.
    status, body = raw_request(sandbox_server, f"{base}/port/{listener.port}/", cookie)
    assert status == 502 and "Nothing is listening" in body
    # Absolute URLs, authorities and headers only ever change the path the sandbox itself sees.
    for target, seen in (
        (f"{base}/port/9681//{here}/x", f"GET //{here}/x HTTP/1.1"),
        (f"{base}/port/9681/http://{here}/", f"GET /http://{here}/ HTTP/1.1"),
        (f"{base}/port/9681/@{here}/", f"GET /@{here}/ HTTP/1.1"),
        (f"{base}/shell/%2F%2F{here}", f"GET /%2F%2F{here} HTTP/1.1"),
        (f"http://{here}{base}/shell", "GET / HTTP/1.1"),
    ):
        status, body = raw_request(sandbox_server, target, cookie)
        assert status == 200 and mine in body and seen in body, (target, body)
    for header in ({"Host": here}, {"X-Forwarded-Host": here}, {"Forwarded": f"host={here}"}, {"X-Real-IP": here}):
        status, body = raw_request(sandbox_server, f"{base}/shell", {**cookie, **header})
        assert status == 200 and mine in body, header
        assert echoed_headers(body)["host"].endswith(":9681") and "x-real-ip" not in echoed_headers(body)
    # Dot segments and encoded separators in the part that names the sandbox and the port are refused.
    for target in (
        f"{base}/port/9681/../../{other['id']}/port/9681/",
        f"{base}/port/9681/%2e%2e/%2E%2E/{other['id']}/shell",
        f"{base}/port/{APP_PORT}%2F..%2F9681/",
        f"/api/flexy/{sandbox['id']}%2F..%2F{other['id']}/shell",
        "/api/flexy/%2e%2e/shell",
    ):
        status, body = raw_request(sandbox_server, target, cookie)
        assert status in (400, 404) and mine not in body, (target, status, body)
    # Ports that are not ports, and a port written with encoded digits.
    for port in ("0", "65536", "99999", "-1", "+80", "0x50", "80a", "%D9%A3", "1e3", "%2080", "%38%30"):
        status, body = raw_request(sandbox_server, f"{base}/port/{port}/", cookie)
        assert status == 400 and "<html" in body and "port" in body, (port, status, body)
    assert listener.connections == 0, "a probe reached this host's listener"
