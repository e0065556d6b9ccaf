"""Three replicas (`python app.py serve` processes) on one PostgreSQL, with the LISTEN/NOTIFY bus and with
NATS, two Docker engines as sandbox hosts: events reach every replica in order, work is claimed by lease and
survives the loss of a replica, a paused replica cannot overwrite, limits hold across replicas, memories are
found everywhere, sandboxes spread over the hosts and a host that stops answering is reported."""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Api, Tree, unique
from tests.graphql_calls import gid
from tests.replica_cluster import BLIND_ORG, LEASE_SECONDS, Cluster, Replica, remove_sandboxes, wait_for
from tests.test_executions import (
    act,
    bash_step,
    create_execution,
    execution,
    published_workflow,
    steps_of,
    wait_for_execution,
)
from tests.test_tasks import wait_for_task

FINISHED = ("completed", "failed", "cancelled")
TASK_ENDS = ("task_completed", "task_failed", "task_cancelled")


# helpers


def tree_on(api: Api, organization_folder: str | None = None) -> Tree:
    org = api.create("/organizations", {"name": unique("Org"), "folderPath": organization_folder or unique("org")})
    workspace = api.create(f"/organizations/{org['id']}/workspaces", {"name": unique("Ws"), "folderPath": unique("ws")})
    project = api.create(f"/workspaces/{workspace['id']}/projects", {"name": unique("P"), "folderPath": unique("p")})
    return Tree(org, workspace, project)


def sandbox_for(api: Api, project_id: str) -> dict[str, Any]:
    response = api.post("/flexy", {"projectId": project_id})
    assert response.status_code in (200, 201), response.text
    return response.json()


def queue(api: Api, project_id: str, script: str) -> str:
    response = api.post(f"/projects/{project_id}/tasks/adhoc", {"title": "t", "prompt": script, "taskType": "bash"})
    assert response.status_code == 201, response.text
    return response.json()["taskId"]


def progress(replica: Replica, token: str, project_id: str, after: int | None) -> ClientConnection:
    query = f"token={token}" + (f"&after={after}" if after is not None else "")
    return connect(f"{replica.ws_url}/api/progress/subscribe/{project_id}?{query}", max_size=None)


def read_frames(socket: ClientConnection, until: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """Frames until `until(frames)` is true."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not until(frames):
        remaining = deadline - time.monotonic()
        try:
            assert remaining > 0
            frames.append(json.loads(socket.recv(timeout=remaining)))
        except (AssertionError, TimeoutError):
            summary = [(f.get("eventId"), f["type"], f.get("taskId", "")[:8]) for f in frames]
            raise AssertionError(f"stopped after {len(frames)} frames: {summary}") from None
    return frames


def ended(task_ids: set[str]) -> Any:
    return lambda frames: task_ids <= {f["taskId"] for f in frames if f["type"] in TASK_ENDS}


def whole_log(replica: Replica, token: str, project_id: str) -> list[dict[str, Any]]:
    """The project's whole stream as the log replays it now (until a quiet moment)."""
    frames = []
    with progress(replica, token, project_id, after=0) as socket:
        while True:
            try:
                frames.append(json.loads(socket.recv(timeout=1.5)))
            except TimeoutError:
                return frames


def holder_of(cluster: Cluster, what: str, kind: str = "tasks") -> Replica:
    """The replica whose lease holds the one running task (or execution, `kind`) there is (its health lists
    the lease)."""

    def find() -> Replica | None:
        for replica in cluster.all():
            if replica.process is None or replica.process.poll() is not None:
                continue
            health = replica.health()
            me = next(r for r in health["replicas"] if r["self"])
            if me["leases"][kind]:
                return replica
        return None

    return wait_for(find, 20, f"the replica holding {what}")


def graphql_follow(
    replica: Replica, token: str, project: str, after: int, stop: threading.Event, out: list[int]
) -> None:
    """A graphql-transport-ws subscriber of projectEvents, keeping the ids it gets until `stop`."""
    with connect(f"{replica.ws_url}/graphql", subprotocols=["graphql-transport-ws"], max_size=None) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(socket.recv(timeout=10))["type"] == "connection_ack"
        query = "subscription($p: ID!, $a: EventId) { projectEvents(projectId: $p, after: $a) { ... on Event { id } } }"
        message = {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": query, "variables": {"p": project, "a": str(after)}},
        }
        socket.send(json.dumps(message))
        while not stop.is_set():
            try:
                frame = json.loads(socket.recv(timeout=0.5))
            except TimeoutError:
                continue
            assert frame["type"] == "next", frame
            out.append(int(frame["payload"]["data"]["projectEvents"]["id"]))


def leases_lost(replica: Replica) -> float:
    """How many leases this incarnation of the replica has lost (its /metrics counter)."""
    for line in httpx.get(f"{replica.url}/metrics", timeout=10).text.splitlines():
        if line.startswith("orchestrator_leases_lost_total "):
            return float(line.split()[1])
    raise AssertionError("no orchestrator_leases_lost_total in /metrics")


@pytest.fixture
def apis(cluster: Cluster) -> Iterator[dict[str, Api]]:
    """An admin session on each replica (one login: the token works on all of them). Each test leaves the
    hosts empty: their capacity is small, and placement tests count what is free."""
    first = cluster["a"].api()
    yield {name: Api(replica.api_url, first.token) for name, replica in cluster.replicas.items()}
    remove_sandboxes(cluster)


# events


def test_one_replica_queues_another_runs_and_every_replica_streams_it_in_order(
    cluster: Cluster, apis: dict[str, Api]
) -> None:
    tree = tree_on(apis["a"])
    project_id = tree.project["id"]
    sandbox_for(apis["a"], project_id)
    token = apis["a"].token or ""
    start = int(whole_log(cluster["a"], token, project_id)[-1]["eventId"])
    with (
        progress(cluster["b"], token, project_id, start) as on_b,
        progress(cluster["c"], token, project_id, start) as on_c,
    ):
        task_id = queue(apis["a"], project_id, "for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.1; done")
        seen_b = read_frames(on_b, ended({task_id}))
        seen_c = read_frames(on_c, ended({task_id}))
    ids_b = [f["eventId"] for f in seen_b]
    assert ids_b == [f["eventId"] for f in seen_c] and ids_b == sorted(set(ids_b))
    output = "".join(f["output"] for f in seen_b if f["type"] == "output")
    assert [line for line in output.splitlines() if line.startswith("line")] == [f"line {i}" for i in range(1, 9)]
    assert [f["type"] for f in seen_b][:2] == ["task_queued", "task_started"] and seen_b[-1]["type"] == "task_completed"


def test_concurrent_writers_on_three_replicas_lose_and_repeat_nothing(cluster: Cluster, apis: dict[str, Api]) -> None:
    """One project, tasks running on all three replicas at once (its limit is 3), events written by all of
    them; subscribers on every replica (REST and GraphQL), one reconnecting to another replica halfway."""
    tree = tree_on(apis["a"])
    project_id = tree.project["id"]
    sandbox_for(apis["a"], project_id)
    assert apis["a"].post(f"/projects/{project_id}/task-limits", {"limit": 3}).status_code == 200
    token = apis["a"].token or ""
    start = int(whole_log(cluster["a"], token, project_id)[-1]["eventId"])
    script = "for i in $(seq 1 40); do echo w$i; done; sleep 0.3; for i in $(seq 41 80); do echo w$i; done"

    stop = threading.Event()
    graphql_ids: list[int] = []
    follower = threading.Thread(
        target=graphql_follow, args=(cluster["c"], token, gid("Project", project_id), start, stop, graphql_ids)
    )
    follower.start()
    sockets = {name: progress(cluster[name], token, project_id, start) for name in ("a", "b", "c")}
    try:
        with ThreadPoolExecutor(6) as pool:
            task_ids = set(pool.map(lambda name: queue(apis[name], project_id, script), ["a", "b", "c"] * 2))
        halfway = read_frames(sockets["b"], lambda frames: len(frames) >= 20)
        sockets["b"].close()
        with progress(cluster["c"], token, project_id, halfway[-1]["eventId"]) as again:  # b's subscriber moves to c
            rest = read_frames(again, lambda frames: ended(task_ids)(halfway + frames), timeout=120)
        received = {
            "a": read_frames(sockets["a"], ended(task_ids), timeout=120),
            "c": read_frames(sockets["c"], ended(task_ids), timeout=120),
            "b then c": halfway + rest,
        }
    finally:
        for socket in sockets.values():
            socket.close()
    truth = [f for f in whole_log(cluster["b"], token, project_id) if int(f["eventId"]) > start]
    truth_ids = [int(f["eventId"]) for f in truth]
    assert truth_ids == sorted(set(truth_ids))
    outputs = {
        task_id: "".join(f["output"] for f in truth if f["type"] == "output" and f["taskId"] == task_id)
        for task_id in task_ids
    }
    ends = {f["taskId"]: f["type"] for f in truth if f["type"] in TASK_ENDS}
    assert ends == dict.fromkeys(task_ids, "task_completed"), [f.get("error") for f in truth if f["type"] in TASK_ENDS]
    expected = "".join(f"w{i}\n" for i in range(1, 81))
    assert {task_id: output.replace("\r", "") for task_id, output in outputs.items()} == dict.fromkeys(
        task_ids, expected
    )
    for name, frames in received.items():
        ids = [int(f["eventId"]) for f in frames]
        assert ids == truth_ids[: len(ids)] and len(ids) >= truth_ids.index(max(ids)) + 1, name
        assert set(ids) >= {int(f["eventId"]) for f in truth if f["type"] in TASK_ENDS}, name
    wait_for(lambda: len(graphql_ids) >= len(truth_ids), 30, "the GraphQL subscriber to catch up")
    stop.set()
    follower.join(timeout=10)
    assert graphql_ids[: len(truth_ids)] == truth_ids
    writers = {r["name"] for r in cluster["a"].health()["replicas"]}
    assert len(writers) == 3


# leases


def test_a_killed_replica_loses_its_task_and_its_execution_goes_on_elsewhere(
    cluster: Cluster, apis: dict[str, Api]
) -> None:
    tree = tree_on(apis["a"])
    project_id = tree.project["id"]
    sandbox_for(apis["a"], project_id)
    # Two slots: the step that runs again must not keep the project's next task waiting.
    assert apis["a"].post(f"/projects/{project_id}/task-limits", {"limit": 2}).status_code == 200
    definition = {
        "phases": [
            {"id": "one", "steps": [bash_step("slow", "echo begun >> log.txt; sleep 60")]},
            {"id": "two", "steps": [bash_step("after", "echo after >> log.txt")]},
        ]
    }
    workflow = published_workflow(apis["b"], definition)["id"]
    execution_id = create_execution(apis["b"], workflow, project_id)
    act(apis["b"], execution_id, "start")
    first_task = wait_for(lambda: steps_of(execution(apis["a"], execution_id))["slow"].get("taskId"), 20, "its task")
    wait_for_task(apis["a"], project_id, first_task, ("running",))
    # Any replica may claim the step's task; the one driving the execution and the one running its task die.
    runner = holder_of(cluster, f"task {first_task}")
    driver = holder_of(cluster, f"execution {execution_id}", "executions")
    victims = {runner.name: runner, driver.name: driver}
    survivor = next(replica for replica in cluster.all() if replica.name not in victims)
    api = Api(survivor.api_url, apis["a"].token)
    killed_at = time.monotonic()
    for victim in victims.values():
        victim.kill()
    try:
        failed = wait_for_task(api, project_id, first_task, FINISHED, timeout=LEASE_SECONDS + 15)
        assert time.monotonic() - killed_at < LEASE_SECONDS + 10
        assert failed["status"] == "failed" and "lease" in failed["error"], failed
        assert runner.env["REPLICA_NAME"] in failed["error"], failed
        # The project's next task runs on a replica that is alive.
        after = queue(api, project_id, "echo still served")
        assert wait_for_task(api, project_id, after)["status"] == "completed"

        # The execution goes on elsewhere from the step it was on: that step runs again as a new task.
        def step_task() -> str | None:
            task = steps_of(execution(api, execution_id))["slow"].get("taskId")
            return task if task not in (None, first_task) else None

        second = wait_for(step_task, LEASE_SECONDS + 20, "the step to run again")
        wait_for_task(api, project_id, second, ("running",))
        assert holder_of(cluster, f"execution {execution_id}", "executions").name not in victims
        act(api, execution_id, "cancel")
        assert wait_for_execution(api, execution_id)["status"] == "cancelled"
    finally:
        for name in victims:
            cluster.restart(name)


def test_a_replica_paused_past_its_lease_cannot_overwrite(cluster: Cluster, apis: dict[str, Api]) -> None:
    tree = tree_on(apis["a"])
    project_id = tree.project["id"]
    sandbox_for(apis["a"], project_id)
    token = apis["a"].token or ""
    folder = (
        cluster.infra.base_root / tree.org["folderPath"] / tree.workspace["folderPath"] / tree.project["folderPath"]
    )
    task_id = queue(
        apis["c"], project_id, "i=0; while true; do i=$((i+1)); echo tick $i; echo $i >> ticks.txt; sleep 0.2; done"
    )
    wait_for_task(apis["a"], project_id, task_id, ("running",))
    paused = holder_of(cluster, f"task {task_id}")
    others = [replica for replica in cluster.all() if replica is not paused]
    reader = Api(others[0].api_url, token)
    lost_before = leases_lost(paused)
    paused.signal(signal.SIGSTOP)
    try:
        failed = wait_for_task(reader, project_id, task_id, FINISHED, timeout=LEASE_SECONDS + 15)
        assert failed["status"] == "failed" and paused.env["REPLICA_NAME"] in failed["error"], failed
    finally:
        paused.signal(signal.SIGCONT)
    # Back: its runner learns that its lease is gone at its next write, writes nothing and kills the command.
    wait_for(lambda: leases_lost(paused) > lost_before, LEASE_SECONDS * 3, "the resumed replica to find its lease lost")
    settled = reader.get(f"/projects/{project_id}/tasks/{task_id}").json()
    assert (settled["status"], settled["error"], settled["endTime"]) == (
        failed["status"],
        failed["error"],
        failed["endTime"],
    )
    events = [f for f in whole_log(others[1], token, project_id) if f.get("taskId") == task_id]
    assert events[-1]["type"] == "task_failed" and sum(f["type"] in TASK_ENDS for f in events) == 1
    size = (folder / "ticks.txt").stat().st_size
    time.sleep(1.5)  # the command would have written about seven more ticks by now
    assert (folder / "ticks.txt").stat().st_size == size, "the paused replica's command kept running"


def test_a_paused_replica_adds_no_agent_steps_or_usage_to_a_task_it_lost(
    cluster: Cluster, apis: dict[str, Api]
) -> None:
    """An agent task's steps and usage are written by the run as they stream: after its lease ran out, the
    paused replica's buffered lines must not reach the task another replica has failed."""
    tree = tree_on(apis["a"])
    project_id = tree.project["id"]
    sandbox_for(apis["a"], project_id)
    token = apis["a"].token or ""
    prompt = "!tokens 100 50\n!pause 0.1\n!repeat 400 step"
    response = apis["b"].post(
        f"/projects/{project_id}/tasks/adhoc", {"title": "a", "prompt": prompt, "taskType": "claude"}
    )
    assert response.status_code == 201, response.text
    task_id = response.json()["taskId"]
    steps_path = f"/projects/{project_id}/tasks/{task_id}/agent-steps"
    wait_for(lambda: apis["c"].get(steps_path).json()["total"] >= 5, 30, "the agent's first steps")
    paused = holder_of(cluster, f"task {task_id}")
    reader = Api(next(replica for replica in cluster.all() if replica is not paused).api_url, token)
    lost_before = leases_lost(paused)
    paused.signal(signal.SIGSTOP)
    try:
        failed = wait_for_task(reader, project_id, task_id, FINISHED, timeout=LEASE_SECONDS + 15)
        assert failed["status"] == "failed" and paused.env["REPLICA_NAME"] in failed["error"], failed
        decided = (reader.get(steps_path).json()["total"], reader.get(f"/projects/{project_id}/usage").json())
        time.sleep(1.5)  # the command goes on meanwhile: more than ten steps wait in the paused replica's stream
    finally:
        paused.signal(signal.SIGCONT)
    wait_for(lambda: leases_lost(paused) > lost_before, LEASE_SECONDS * 3, "the resumed replica to find its lease lost")
    time.sleep(1.5)  # its run would have written what it had read by now (about once a second)
    assert (reader.get(steps_path).json()["total"], reader.get(f"/projects/{project_id}/usage").json()) == decided


def test_the_task_limit_holds_across_replicas(cluster: Cluster, apis: dict[str, Api]) -> None:
    tree = tree_on(apis["a"])
    project_id = tree.project["id"]
    sandbox_for(apis["a"], project_id)
    assert apis["b"].post(f"/projects/{project_id}/task-limits", {"limit": 2}).status_code == 200
    with ThreadPoolExecutor(9) as pool:
        task_ids = list(pool.map(lambda name: queue(apis[name], project_id, "sleep 0.4"), ["a", "b", "c"] * 3))
    finished = [wait_for_task(apis["c"], project_id, task_id, timeout=120) for task_id in task_ids]
    assert all(task["status"] == "completed" for task in finished), finished
    spans = [
        (
            datetime.fromisoformat(t["startTime"].replace("Z", "+00:00")),
            datetime.fromisoformat(t["endTime"].replace("Z", "+00:00")),
        )
        for t in finished
    ]
    most = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert most == 2, spans


# memory


def test_a_memory_written_on_one_replica_is_found_on_another_within_a_second(
    cluster: Cluster, apis: dict[str, Api]
) -> None:
    tree = tree_on(apis["a"])
    for name in ("a", "c"):
        wait_for(
            lambda n=name: apis[n].get("/context/health").json()["status"] == "healthy",
            120,
            f"context on {name}",
            every=0.2,
        )
    text = f"the deploy key rotates every {unique('n')} days"
    search = {"query": text, "scope": "project", "scope_id": tree.project["id"], "limit": 5}
    assert apis["c"].post("/context/search", search).status_code == 200  # c's model has answered once
    created = apis["a"].post("/context/memories", {"content": text, "scope": "project", "scope_id": tree.project["id"]})
    assert created.status_code == 201, created.text
    memory_id = created.json()["id"]
    written = time.monotonic()
    asked: list[float] = []

    def found() -> bool:
        asked.append(time.monotonic())
        response = apis["c"].post("/context/search", search)
        return response.status_code == 200 and memory_id in [hit["id"] for hit in response.json()["results"]]

    wait_for(found, 5, "the memory on replica c", every=0.02)
    assert asked[-1] - written < 1.0, (
        "c's index followed the new memory only after a second"
    )  # the search that found it was asked then


# sandbox hosts


def test_sandboxes_spread_over_hosts_and_a_host_that_stops_answering(cluster: Cluster, apis: dict[str, Api]) -> None:
    beta = cluster.infra.beta
    placed: dict[str, list[str]] = {"alpha": [], "beta": []}
    projects = []
    for _ in range(3):
        tree = tree_on(apis["a"])
        sandbox = sandbox_for(apis["b"], tree.project["id"])
        projects.append((tree.project["id"], sandbox["id"]))
    hosts = {h["name"]: h for h in cluster["c"].health()["sandboxHosts"]}
    assert hosts["alpha"]["sandboxes"] >= 1 and hosts["beta"]["sandboxes"] >= 1, hosts
    for name, host in hosts.items():
        assert host["capacity"] == {"alpha": 4, "beta": 6}[name] and host["status"] == "up"
    on_beta = None
    for project_id, sandbox_id in projects:
        host = (
            cluster["a"]
            .api(apis["a"].token)
            .graphql("query($id: ID!) { sandbox(id: $id) { id } }", {"id": gid("Sandbox", sandbox_id)})
        )
        assert host["data"]["sandbox"], host
        placed_on = _host_of(cluster, sandbox_id)
        placed[placed_on].append(sandbox_id)
        if placed_on == "beta" and on_beta is None:
            on_beta = (project_id, sandbox_id)
    assert on_beta is not None
    token = apis["a"].token or ""
    with progress(
        cluster["a"], token, on_beta[0], int(whole_log(cluster["a"], token, on_beta[0])[-1]["eventId"])
    ) as live:
        running = queue(apis["a"], on_beta[0], "echo started; sleep 60")
        read_frames(live, lambda frames: any("started" in f.get("output", "") for f in frames))  # its command runs
    beta.crash()
    try:
        wait_for(
            lambda: {h["name"]: h["status"] for h in cluster["a"].health()["sandboxHosts"]}["beta"] == "down",
            20,
            "beta down",
        )
        answer = apis["a"].get(f"/flexy/{on_beta[1]}")
        assert answer.status_code == 503 and "sandbox host beta" in answer.text, answer.text
        failed = wait_for_task(apis["a"], on_beta[0], running, FINISHED, timeout=30)
        assert failed["status"] == "failed" and "beta" in failed["error"], failed
        fresh = tree_on(apis["c"])
        sandbox_for(apis["c"], fresh.project["id"])
        assert _host_of(cluster, sandbox_for_project(apis["c"], fresh.project["id"])) == "alpha"
    finally:
        beta.start()
    wait_for(
        lambda: all(
            {h["name"]: h["status"] for h in replica.health()["sandboxHosts"]}["beta"] == "up"
            for replica in cluster.all()
        ),
        30,
        "every replica to see beta up",
    )
    again = queue(apis["b"], on_beta[0], "echo back")
    assert wait_for_task(apis["b"], on_beta[0], again, timeout=60)["status"] == "completed"


def test_placement_skips_a_host_that_cannot_see_the_project_folder(cluster: Cluster, apis: dict[str, Api]) -> None:
    """beta does not see BASE_ROOT/blind-org (its own mount namespace hides it): such a project's sandbox goes
    to alpha even when beta has more room."""
    api = apis["a"]
    existing = api.get("/organizations").json()
    org = next((o for o in existing if o["folderPath"] == BLIND_ORG), None)
    if org is None:
        org = api.create("/organizations", {"name": unique("Blind"), "folderPath": BLIND_ORG})
    workspace = api.create(f"/organizations/{org['id']}/workspaces", {"name": unique("Ws"), "folderPath": unique("ws")})
    project = api.create(f"/workspaces/{workspace['id']}/projects", {"name": unique("P"), "folderPath": unique("p")})
    hosts = {h["name"]: h for h in cluster["a"].health()["sandboxHosts"]}
    assert hosts["beta"]["free"] > hosts["alpha"]["free"], hosts
    sandbox = sandbox_for(api, project["id"])
    assert _host_of(cluster, sandbox["id"]) == "alpha"


def sandbox_for_project(api: Api, project_id: str) -> str:
    return api.get(f"/projects/{project_id}").json()["sandboxId"]


def _host_of(cluster: Cluster, sandbox_id: str) -> str:
    """Which engine holds a container (asked of the engines themselves)."""
    alpha = cluster.infra.alpha
    try:
        alpha.request("GET", f"/containers/{sandbox_id}/json")
        return "alpha"
    except RuntimeError:
        assert cluster.infra.beta.engine is not None
        cluster.infra.beta.engine.request("GET", f"/containers/{sandbox_id}/json")
        return "beta"


# observability


def test_health_metrics_and_traces_describe_the_cluster(cluster: Cluster, apis: dict[str, Api]) -> None:
    names = {cluster[name].health()["replica"]["name"] for name in ("a", "b", "c")}
    assert names == {"replica-a", "replica-b", "replica-c"}
    health = cluster["a"].health()
    assert {r["name"] for r in health["replicas"]} == names and health["leaseSeconds"] == LEASE_SECONDS
    assert all(r["leaseExpiresAt"] and "address" not in r for r in health["replicas"])
    assert health["eventBroker"]["kind"] == ("nats" if cluster.broker == "nats" else "postgresql")
    assert health["eventBroker"]["status"] == "connected"
    detailed = httpx.get(f"{cluster['a'].api_url}/health", headers=apis["a"].headers()).json()
    assert all(r["address"].startswith("http://") for r in detailed["replicas"])
    graph = apis["b"].graphql(
        "{ health { cluster { replica { name answering } replicas { name leasedTasks leaseExpiresAt }"
        " eventBroker { kind connected } sandboxHosts { name status capacity sandboxes free } leaseSeconds } } }"
    )["data"]["health"]["cluster"]
    assert graph["replica"] == {"name": "replica-b", "answering": True}
    assert {r["name"] for r in graph["replicas"]} == names
    assert {h["name"] for h in graph["sandboxHosts"]} == {"alpha", "beta"}

    tree = tree_on(apis["a"])
    project_id = tree.project["id"]
    sandbox_for(apis["a"], project_id)
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)  # each broker's run its own trace
    traced = apis["a"].post(
        f"/projects/{project_id}/tasks/adhoc",
        {"title": "traced", "prompt": "echo traced", "taskType": "bash"},
        headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
    )
    task_id = traced.json()["taskId"]
    with progress(cluster["c"], apis["a"].token or "", project_id, 0) as socket:
        read_frames(socket, ended({task_id}))
    metrics = httpx.get(f"{cluster['c'].url}/metrics").text
    for needle in (
        'orchestrator_http_requests_total{method="GET",route="/api/health",status="200"}',
        "orchestrator_http_request_duration_seconds_bucket",
        'orchestrator_tasks{state="completed"}',
        "orchestrator_queue_depth",
        "orchestrator_event_delivery_lag_seconds_count",
        "orchestrator_subscribers",
        'orchestrator_sandbox_host_capacity{host="beta"} 6.0',
        'orchestrator_sandbox_host_up{host="alpha"} 1.0',
        "orchestrator_replicas_alive 3.0",
    ):
        assert needle in metrics, needle

    def spans_of_trace() -> dict[str, tuple[str, str, str, str, dict[str, Any]]] | None:
        found = {span[0]: span for span in cluster.infra.spans.snapshot() if span[1] == trace_id}
        return found if {"task.queue", "task.run"} <= set(found) and any(n.startswith("POST ") for n in found) else None

    spans = wait_for(spans_of_trace, 20, "the trace's spans")
    request = next(span for name, span in spans.items() if name.startswith("POST "))
    assert request[0] == "POST /api/projects/{projectId}/tasks/adhoc" and request[3] == caller_span
    assert spans["task.queue"][3] == request[2] and spans["task.run"][3] == spans["task.queue"][2]
    assert spans["task.run"][4]["orchestrator.task.id"] == task_id


def test_a_subscriber_whose_replica_goes_away_resumes_on_another(cluster: Cluster, apis: dict[str, Api]) -> None:
    tree = tree_on(apis["a"])
    project_id = tree.project["id"]
    sandbox_for(apis["a"], project_id)
    token = apis["a"].token or ""
    start = int(whole_log(cluster["a"], token, project_id)[-1]["eventId"])
    task_id = queue(apis["a"], project_id, "for i in $(seq 1 30); do echo r$i; sleep 0.05; done")
    leaving = cluster["c"]
    got: list[dict[str, Any]] = []
    with progress(leaving, token, project_id, start) as socket:
        got += read_frames(socket, lambda frames: len(frames) >= 5)
        leaving.stop()
        try:
            while True:
                got.append(json.loads(socket.recv(timeout=10)))
        except (ConnectionClosed, TimeoutError):
            pass
    try:
        with progress(cluster["b"], token, project_id, got[-1]["eventId"]) as socket:
            got += read_frames(socket, ended({task_id}))
    finally:
        cluster.restart("c")
    truth = [int(f["eventId"]) for f in whole_log(cluster["a"], token, project_id) if int(f["eventId"]) > start]
    assert [int(f["eventId"]) for f in got] == truth[: len(got)] and len(got) == len(truth)
