"""Size limits: request bodies (413 before the body is read whole) and WebSocket messages."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import Api, LiveServer, Tree, unique
from tests.test_progress import progress_url

TEN_MB = 10 * 1024 * 1024
LIMIT = 1024 * 1024


def raw_request(server: LiveServer, head: str) -> socket.socket:
    address = urlsplit(server.url)
    connection = socket.create_connection((address.hostname, address.port), timeout=30)
    connection.sendall(head.encode())
    return connection


def read_response(connection: socket.socket) -> tuple[int, dict[str, str], dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += connection.recv(65536)
    return int(lines[0].split()[1]), headers, json.loads(body)


def head(api: Api, method: str, path: str, **headers: str) -> str:
    fields = {"Host": "localhost", "Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    return (
        f"{method} /api{path} HTTP/1.1\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in {**fields, **headers}.items())
        + "\r\n"
    )


def assert_refused(status: int, body: dict, path: str) -> None:
    assert status == 413
    assert body["code"] == "PAYLOAD_TOO_LARGE" and body["statusCode"] == 413 and body["path"] == path
    assert str(LIMIT) in body["message"]


def test_a_declared_10_mb_body_is_refused_before_it_is_sent(server: LiveServer, alice: Api) -> None:
    name = unique("Huge")
    with raw_request(server, head(alice, "POST", "/organizations", **{"Content-Length": str(TEN_MB)})) as connection:
        connection.sendall(json.dumps({"name": name, "folderPath": unique("f")})[:-1].encode())
        status, headers, body = read_response(connection)
    assert_refused(status, body, "/organizations")
    assert headers["connection"] == "close"
    assert all(o["name"] != name for o in alice.get("/organizations").json()), "nothing stored"


def test_a_10_mb_body_sent_whole_is_refused(alice: Api) -> None:
    name = unique("Huge")
    body = {"name": name, "folderPath": unique("f"), "padding": "x" * TEN_MB}
    try:
        response = alice.post("/organizations", body)
    except httpx.WriteError:
        pytest.fail("the client could not send its body: the server closed before answering")
    assert_refused(response.status_code, response.json(), "/organizations")
    assert all(o["name"] != name for o in alice.get("/organizations").json()), "nothing stored"


def test_a_chunked_body_is_refused_once_it_goes_over(server: LiveServer, alice: Api) -> None:
    name = unique("Chunked")
    chunk = b"x" * 65536
    sent = 0
    with raw_request(server, head(alice, "POST", "/organizations", **{"Transfer-Encoding": "chunked"})) as connection:
        opening = json.dumps({"name": name, "folderPath": unique("f"), "padding": ""})[:-2].encode()
        connection.sendall(b"%x\r\n%s\r\n" % (len(opening), opening))
        connection.settimeout(0.5)
        while True:  # keep sending until the server answers: it must not wait for the end of the body
            try:
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            assert sent <= TEN_MB, "the server read 10 MB without answering"
            connection.setblocking(False)
            try:
                peeked = connection.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                peeked = b""
            connection.settimeout(0.5)
            if peeked:
                break
        connection.settimeout(30)
        status, _, body = read_response(connection)
    assert_refused(status, body, "/organizations")  # answered while the body had no end yet
    assert all(o["name"] != name for o in alice.get("/organizations").json()), "nothing stored"


def test_small_chunked_bodies_and_imports_by_content_pass(server: LiveServer, alice: Api, tree: Tree) -> None:
    name = unique("Small")
    document = json.dumps({"name": name, "folderPath": unique("f")}).encode()
    with raw_request(server, head(alice, "POST", "/organizations", **{"Transfer-Encoding": "chunked"})) as connection:
        half = len(document) // 2
        for part in (document[:half], document[half:]):
            connection.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        connection.sendall(b"0\r\n\r\n")
        status, _, body = read_response(connection)
    assert status == 201 and body["name"] == name
    # An import by content may carry more than the default limit (up to CONTEXT_IMPORT_MAX_BYTES more).
    content = {"scope": "nowhere", "scope_id": tree.project["id"], "content": "# Big\n" + "y" * (LIMIT + 1000)}
    response = alice.post("/context/import/document/content", content)
    assert response.status_code == 400 and response.json()["code"] != "PAYLOAD_TOO_LARGE", response.text
    too_big = {**content, "content": "y" * (LIMIT + server.settings.context_import_max_bytes)}
    assert alice.post("/context/import/document/content", too_big).status_code == 413


def test_websocket_messages_over_the_limit_close_the_socket(server: LiveServer, alice: Api, tree: Tree) -> None:
    with connect(progress_url(server, tree.project["id"], alice.token), max_size=None) as ws:
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"
        ws.send("x" * (server.settings.ws_max_message_bytes + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
