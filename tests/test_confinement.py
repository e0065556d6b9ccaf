"""An attacker's probes from inside a sandbox, on both backends, run as root (as CI runs): a task's own commands
try to remount, write outside their folder, read the service's data and another project, reach this service
and other loopback services, and reach hosts on and off the project's allow-list.

Each probe prints what it got; the assertions look for what only a successful probe could print (a secret,
a marker, a server's token), so a probe that fails in an unexpected way still cannot pass as confined.
Network probes use busybox `nc` and `wget` with IP addresses (present in both backends; the test image has
no resolver libraries), and talk to the proxy directly as well as through HTTP_PROXY.
"""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Api, LiveServer, Tree, free_port, make_tree
from tests.test_flexy import create_sandbox
from tests.test_tasks import project_folder, submit, wait_for_task

PROXY = "127.0.0.1 3128"


class TokenServer:
    """An HTTP server on 127.0.0.1 whose every answer carries a token of its own."""

    def __init__(self) -> None:
        self.token = f"token-{uuid.uuid4().hex}"
        body = self.token.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[TokenServer, TokenServer]]:
    """(a server the probed project lists, one it does not)."""
    listed, unlisted = TokenServer(), TokenServer()
    yield listed, unlisted
    listed.close()
    unlisted.close()


def set_network(api: Api, project_id: str, mode: str, hosts: list[str]) -> None:
    response = api.put(f"/projects/{project_id}/network", {"mode": mode, "allowedHosts": hosts})
    assert response.status_code == 200, response.text


def run_task(api: Api, project_id: str, script: str) -> str:
    task = wait_for_task(api, project_id, submit(api, project_id, script), timeout=90)
    assert task["status"] in ("completed", "failed"), task
    return task["terminalOutput"].replace("\r", "")  # HTTP's CRLF, echoed through the shell


def http_get(host: str, port: int, path: str = "/") -> str:
    """A shell line: a direct GET with nc (no proxy involved)."""
    return f"printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 {host} {port} 2>&1"


def proxied_get(authority: str, path: str = "/") -> str:
    """A shell line: a GET in absolute form sent straight to the sandbox's proxy."""
    return f"printf 'GET http://{authority}{path} HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 {PROXY} 2>&1"


def proxied_connect(authority: str, path: str = "/") -> str:
    """A shell line: CONNECT through the proxy, then a GET inside the tunnel."""
    request = f"CONNECT {authority} HTTP/1.1\\r\\n\\r\\nGET {path} HTTP/1.0\\r\\n\\r\\n"
    return f"printf '{request}' | busybox nc -w 5 {PROXY} 2>&1"


@dataclass
class Probe:
    mode: str
    output: str
    server: LiveServer
    tree: Tree
    folder: Path
    other_folder: Path
    other_marker: str
    escapes: list[Path]


def probe_script(server: LiveServer, folder: Path, other: Tree, listed: TokenServer, unlisted: TokenServer) -> str:
    data = server.settings.data_dir
    other_host = project_folder(server, other)
    other_container = (
        f"/base-root/{other.org['folderPath']}/{other.workspace['folderPath']}/{other.project['folderPath']}"
    )
    port = server.settings.port
    gateway = "$(grep -m1 host.docker.internal /etc/hosts | cut -f1 -d' ' | cut -f1)"
    lines = [
        "echo == identity; grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; id -u",
        "echo == remount; mount -o remount,rw,bind / 2>&1; echo remount-rc=$?",
        "mount -t tmpfs none /mnt 2>&1; echo tmpfs-rc=$?",
        f"echo == writes; for target in /etc /usr {folder.parent} {data}; do touch $target/escape-$$ 2>&1; done",
        f"echo == data listing; ls -a {data} 2>&1",
        f"echo == data; cat {data}/jwt-secret 2>&1; head -c 16 {data}/orchestrator.db 2>&1",
        f"echo == other project; cat {other_host}/marker.txt {other_container}/marker.txt 2>&1",
        f"echo == other listing; ls -a {other_host.parent} {Path(other_container).parent} 2>&1",
        "echo == service, direct",
        http_get("127.0.0.1", port, "/api/health"),
        f'[ -n "{gateway}" ] && {http_get(gateway, port, "/api/health")}',
        "echo == service, through the proxy",
        proxied_get(f"127.0.0.1:{port}", "/api/health"),
        proxied_get(f"host.docker.internal:{port}", "/api/health"),
        "echo == unlisted loopback service",
        http_get("127.0.0.1", unlisted.port),
        proxied_get(f"127.0.0.1:{unlisted.port}"),
        proxied_get(f"localhost:{unlisted.port}"),
        proxied_connect(f"localhost:{unlisted.port}"),
        "echo == listed host, direct and through the proxy",
        http_get("127.0.0.1", listed.port),
        f"echo listed-plain: $({proxied_get(f'localhost:{listed.port}')})",
        f"echo listed-connect: $({proxied_connect(f'localhost:{listed.port}')})",
        f"echo listed-env: $(unset no_proxy NO_PROXY; busybox wget -q -O- http://localhost:{listed.port}/ 2>&1)",
        "echo == end",
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module", params=["egress", "none"])
def probe(
    request: pytest.FixtureRequest,
    sandbox_server: LiveServer,
    sandbox_owner: Api,
    loopback: tuple[TokenServer, TokenServer],
) -> Probe:
    listed, unlisted = loopback
    other = make_tree(sandbox_owner)
    other_folder = project_folder(sandbox_server, other)
    marker = f"other-project-{uuid.uuid4().hex}"
    (other_folder / "marker.txt").write_text(marker)
    tree = make_tree(sandbox_owner)
    set_network(sandbox_owner, tree.project["id"], request.param, [f"localhost:{listed.port}"])
    create_sandbox(sandbox_owner, tree.project["id"])
    folder = project_folder(sandbox_server, tree)
    output = run_task(sandbox_owner, tree.project["id"], probe_script(sandbox_server, folder, other, listed, unlisted))
    data = sandbox_server.settings.data_dir
    escapes = [Path(root) for root in ("/etc", "/usr", folder.parent, data)]
    return Probe(request.param, output, sandbox_server, tree, folder, other_folder, marker, escapes)


def section(probe: Probe, title: str) -> str:
    """The output between `== title` and the next `==` line."""
    text = probe.output.split(f"== {title}\n", 1)[1]
    return text.split("\n== ", 1)[0]


def test_the_probe_ran_to_its_end(probe: Probe) -> None:
    assert probe.output.rstrip().endswith("== end"), probe.output


def test_a_task_holds_no_capabilities_and_is_not_root(probe: Probe) -> None:
    identity = section(probe, "identity").split()
    assert identity[:6] == ["CapPrm:", "0000000000000000", "CapEff:", "0000000000000000", "CapBnd:", "0" * 16]
    assert identity[6] == "1000"


def test_a_task_cannot_remount_or_mount(probe: Probe) -> None:
    remount = section(probe, "remount")
    assert "remount-rc=0" not in remount and "tmpfs-rc=0" not in remount, remount
    assert "remount-rc=" in remount and "tmpfs-rc=" in remount


def test_a_task_cannot_write_outside_its_folder(probe: Probe) -> None:
    for folder in probe.escapes:
        assert not [path for path in folder.glob("escape-*")], f"a task wrote into {folder}"
    assert probe.folder.is_dir()


def test_a_task_cannot_read_the_service_data_the_secret_or_the_database(probe: Probe) -> None:
    secret = (probe.server.settings.data_dir / "jwt-secret").read_text().strip()
    assert secret not in probe.output
    assert "SQLite format" not in section(probe, "data")
    listing = section(probe, "data listing")
    assert "orchestrator.db" not in listing and "jwt-secret" not in listing, listing


def test_a_task_cannot_read_another_project(probe: Probe) -> None:
    assert probe.other_marker not in probe.output
    assert probe.other_folder.name not in section(probe, "other listing")


def test_a_task_cannot_reach_this_service(probe: Probe) -> None:
    assert '"uptime"' not in section(probe, "service, direct")
    assert '"uptime"' not in section(probe, "service, through the proxy")


def test_a_task_cannot_reach_an_unlisted_loopback_service(probe: Probe, loopback: tuple[TokenServer, ...]) -> None:
    unlisted = section(probe, "unlisted loopback service")
    assert loopback[1].token not in unlisted
    if probe.mode == "egress":
        assert unlisted.count("403 Forbidden") == 3, unlisted


def test_only_a_listed_host_is_reachable_and_only_through_the_proxy(
    probe: Probe, loopback: tuple[TokenServer, ...]
) -> None:
    listed = section(probe, "listed host, direct and through the proxy")
    token = loopback[0].token
    lines = {line.split(":", 1)[0]: line for line in listed.splitlines() if line.startswith("listed-")}
    if probe.mode == "egress":
        assert all(token in lines[name] for name in ("listed-plain", "listed-connect", "listed-env")), listed
        assert listed.count(token) == 3, "never directly: the sandbox's loopback is its own"
    else:
        assert token not in listed


def test_the_service_is_reachable_when_the_owner_lists_it(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    """KAI_BACKEND_URL's host, host.docker.internal, is this service when listed, and only its port."""
    project_id = make_tree(sandbox_owner).project["id"]
    set_network(sandbox_owner, project_id, "egress", ["host.docker.internal"])
    create_sandbox(sandbox_owner, project_id)
    port = sandbox_server.settings.port
    script = "\n".join(
        [
            f"echo health: $({proxied_get(f'host.docker.internal:{port}', '/api/health')})",
            f"echo other-port: $({proxied_get(f'host.docker.internal:{port + 1}')})",
            'echo "backend: $KAI_BACKEND_URL"',
        ]
    )
    output = run_task(sandbox_owner, project_id, script)
    assert '"uptime"' in output.split("health:", 1)[1].split("\n")[0], output
    assert "403 Forbidden" in output.split("other-port:", 1)[1].split("\n")[0], output
    assert f"backend: http://host.docker.internal:{port}" in output


def test_two_sandboxes_cannot_reach_each_other(sandbox_server: LiveServer, sandbox_owner: Api) -> None:
    """A serves on a port inside its sandbox; B, even listing that port on localhost, never reaches it: each
    sandbox's loopback is its own, it has no other address, and the proxy connects from the host."""
    server_project = make_tree(sandbox_owner).project["id"]
    client_project = make_tree(sandbox_owner).project["id"]
    port = free_port()  # nothing on the host listens there
    token = f"sandbox-a-{uuid.uuid4().hex}"
    set_network(sandbox_owner, client_project, "egress", [f"localhost:{port}"])
    for project_id in (server_project, client_project):
        create_sandbox(sandbox_owner, project_id)
    serving = submit(
        sandbox_owner,
        server_project,
        f"mkdir -p /tmp/www && echo {token} > /tmp/www/index.html && exec busybox httpd -f -p {port} -h /tmp/www",
    )
    wait_for_task(sandbox_owner, server_project, serving, ("running",))
    check = "\n".join(
        [
            f"echo own: $({http_get('127.0.0.1', port)})",
            "ip -4 addr 2>/dev/null | grep inet",
            f"echo proxied: $({proxied_get(f'localhost:{port}')})",
        ]
    )
    output = run_task(sandbox_owner, client_project, check)
    assert token not in output
    assert "proxied: HTTP/1.1 502" in output, output
    addresses = [line.split()[1] for line in output.splitlines() if line.strip().startswith("inet ")]
    assert addresses == ["127.0.0.1/8"], output
    cancelled = sandbox_owner.post(f"/projects/{server_project}/tasks/{serving}/cancel")
    assert cancelled.status_code == 200, cancelled.text
