"""The Shell tab on the local backend: this server's own terminal (a PTY running a shell in the project folder
under the tasks' confinement) over a WebSocket, its xterm.js page and files, in headless Chromium too; and what
the other companion paths answer where there is no container."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from tests.conftest import USER_PASSWORD, Api, LiveServer, add_user, make_tree
from tests.test_companions import (
    Frame,
    assert_hidden,
    assert_page,
    create_sandbox,
    raw_request,
    read_until,
    socket_refusal,
)
from tests.test_sdk_tree import SDK_DIR, node_binary

pytestmark = pytest.mark.parametrize("sandbox_server", ["local"], indirect=True)


@pytest.fixture(scope="module")
def owner(sandbox_server: LiveServer, sandbox_admin: Api) -> Api:
    return add_user(sandbox_server, sandbox_admin)


@pytest.fixture(scope="module")
def sandbox(owner: Api) -> dict[str, Any]:
    return create_sandbox(owner, make_tree(owner).project["id"])


@pytest.fixture(scope="module")
def frame(sandbox_server: LiveServer, owner: Api) -> Frame:
    return Frame.of(sandbox_server, owner)


def processes_with(argument: bytes) -> list[int]:
    """Processes of this host whose command line has `argument` (the sandbox's are visible from outside)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if argument in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_for(condition: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_the_terminal_runs_commands_in_the_project_folder_and_follows_resizes(
    frame: Frame, sandbox: dict[str, Any]
) -> None:
    project_dir = sandbox["folderMapping"].split(":")[0]
    with frame.socket(f"/flexy/{sandbox['id']}/shell/ws?cols=100&rows=30") as ws:
        ws.send(b"stty size; echo at-$(pwd)-$((2+3))\r")
        seen = read_until(ws, f"at-{project_dir}-5".encode())
        assert b"30 100" in seen
        ws.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
        ws.send(json.dumps({"type": "input", "data": "stty size; echo resized-$((1+1))\r"}))
        assert b"40 120" in read_until(ws, b"resized-2")
        ws.send(b"touch /usr/escape-probe || echo refused-$((3*3))\r")
        assert b"Read-only file system" in read_until(ws, b"refused-9"), "the terminal is confined like tasks"
        ws.send(b"exit\r")
        with pytest.raises(ConnectionClosedOK):
            read_until(ws, b"never")
    assert not os.path.exists("/usr/escape-probe")


def test_closing_the_socket_kills_the_shell_and_what_it_runs(frame: Frame, sandbox: dict[str, Any]) -> None:
    marker = f"4242.{uuid.uuid4().int % 10**9}".encode()
    with frame.socket(f"/flexy/{sandbox['id']}/shell/ws") as ws:
        ws.send(b"sleep " + marker + b" & sleep " + marker + b"1\r")
        wait_for(lambda: processes_with(marker) and processes_with(marker + b"1"), "the commands did not start")
    wait_for(lambda: not processes_with(marker) and not processes_with(marker + b"1"), "the shell's commands live on")


def test_stopping_the_sandbox_closes_its_terminals_and_then_the_page_says_so(
    owner: Api, sandbox_server: LiveServer
) -> None:
    stopped = create_sandbox(owner, make_tree(owner).project["id"])
    frame = Frame.of(sandbox_server, owner)
    with frame.socket(f"/flexy/{stopped['id']}/shell/ws") as ws:
        ws.send(b"echo up-$((1+1))\r")
        read_until(ws, b"up-2")
        assert owner.post(f"/flexy/{stopped['id']}/stop").status_code == 204
        with pytest.raises(ConnectionClosed):
            read_until(ws, b"never")
    assert_page(frame.get(f"/flexy/{stopped['id']}/shell"), 503, "stopped", "Start it")
    refused = socket_refusal(lambda: frame.socket(f"/flexy/{stopped['id']}/shell/ws"))
    assert refused.response.status_code == 503


def test_bad_sizes_and_messages_are_refused_with_the_reason(frame: Frame, sandbox: dict[str, Any]) -> None:
    shell = f"/flexy/{sandbox['id']}/shell"
    for query in ("cols=0", "rows=501", "cols=abc", "cols=-3"):
        refused = socket_refusal(lambda query=query: frame.socket(f"{shell}/ws?{query}"))
        assert refused.response.status_code == 400 and b"whole number" in refused.response.body
    for message, reason in (
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "resize", "cols": 0, "rows": 10}', "cols"),
        ('{"type": "launch"}', "resize"),
    ):
        with frame.socket(f"{shell}/ws") as ws:
            ws.send(message)
            with pytest.raises(ConnectionClosed) as closed:
                read_until(ws, b"never")
            assert (
                closed.value.rcvd is not None and closed.value.rcvd.code == 4400 and reason in closed.value.rcvd.reason
            )
    assert socket_refusal(lambda: frame.socket(f"{shell}/elsewhere")).response.status_code == 404


def test_the_page_and_its_files_come_from_this_server_by_name_only(
    sandbox_server: LiveServer, frame: Frame, sandbox: dict[str, Any]
) -> None:
    shell = f"/flexy/{sandbox['id']}/shell"
    page = frame.get(shell)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert f'<base href="/api{shell}/">' in page.text
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce and f'<script nonce="{nonce[1]}">' in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text), "nothing is loaded from another site"
    for path in ("assets/vendor/xterm/xterm.js", "assets/vendor/xterm/addon-fit.js"):
        script = frame.get(f"{shell}/{path}")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"], path
    root = httpx.get(f"{sandbox_server.url}/assets/vendor/xterm/xterm.css")
    assert root.status_code == 200 and root.headers["content-type"].startswith("text/css") and ".xterm" in root.text
    for target in (
        "/assets/vendor/../../pyproject.toml",
        "/assets/vendor/xterm/../../../app.py",
        "/assets/vendor/xterm%2F..%2F..%2F..%2Fapp.py",
        "/assets/vendor/%2Fetc%2Fpasswd",
        "/assets/vendor/",
        "/assets/vendor/xterm/package.json",
        f"/api{shell}/assets/vendor/../../../../../app.py",
    ):
        status, body = raw_request(sandbox_server, target, {"Cookie": f"aintandem_companion={frame.cookie}"})
        assert status == 404 and "import" not in body and "root:" not in body, (target, status, body)


def test_docs_ports_and_code_server_say_what_they_need(frame: Frame, sandbox: dict[str, Any]) -> None:
    for path in ("docs/", "port/8080/", "port/3000/app"):
        assert_page(frame.get(f"/flexy/{sandbox['id']}/{path}"), 501, "needs the Docker backend")
    assert socket_refusal(lambda: frame.socket(f"/flexy/{sandbox['id']}/docs/ws")).response.status_code == 501
    for path in ("/code-server/", "/code-server/?folder=/base-root/org/ws/proj", "/code-server"):
        assert_page(httpx.get(f"{frame.server.api_url}{path}"), 501, "not part of this server")


def test_a_non_member_gets_404_on_every_companion_path(
    sandbox_server: LiveServer, sandbox_admin: Api, sandbox: dict[str, Any]
) -> None:
    assert_hidden(sandbox_server, add_user(sandbox_server, sandbox_admin), sandbox["id"])


def test_the_terminal_renders_and_echoes_in_chromium(
    sandbox_server: LiveServer, owner: Api, sandbox: dict[str, Any]
) -> None:
    assert (SDK_DIR / "node_modules" / "playwright-core").is_dir(), "run `make setup` (tests/sdk)"
    env = {
        **os.environ,
        "BASE_URL": sandbox_server.url,
        "USERNAME": owner.username or "",
        "PASSWORD": USER_PASSWORD,
        "SANDBOX_ID": sandbox["id"],
    }
    result = subprocess.run(
        [node_binary(), str(SDK_DIR / "terminal.mjs")],
        cwd=SDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert "rendered-42" in seen["screen"]
    before, after = seen["sizes"]
    assert re.fullmatch(r"\d+ \d+", before) and re.fullmatch(r"\d+ \d+", after), seen["sizes"]
    assert int(after.split()[1]) < int(before.split()[1]), "a narrower window gives the shell fewer columns"
