"""The load side of `bench/event_fanout.py`: N progress-WebSocket subscribers and one publisher, in one process.

`bench/event_fanout.py` starts the server, seeds a project with a sandbox and runs this script; by hand:

    .venv/bin/python bench/fanout_client.py --port 9900 --token JWT --project P --sandbox S --subscribers 500

1. Opens `--subscribers` sockets to `/api/progress/subscribe/{project}?token=...&after=0`, a few handshakes at a
   time. With `after=0` the server replays the project's history before the live events; its last event is the
   `sandbox_started` of the sandbox's creation. The server subscribes a socket to the live stream before it
   replays, so a subscriber that has received that event cannot miss anything published later.
2. When every subscriber is ready (or has failed), publishes `--events` events on one keep-alive connection by
   alternating `POST /api/flexy/{sandbox}/stop` and `/start` (each stores one event), one request at a time,
   paced to `--rate` per second if given, noting `time.time()` just before writing each request.
3. Waits until every subscriber has `--events` frames (or the drain timeout passes), closes the sockets, then
   parses the frames (only their arrival time is taken while measuring) and prints one JSON object: latencies,
   delivered events per second, the delivery check, errors, and the CPU use of server and client meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loadgen import build_request, cpu_seconds, event_loop_runner, parse_head, percentile_ms
from rest_vs_graphql import process_cpu_seconds
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

HISTORY_END = "sandbox_started"  # the last event the sandbox's creation stores: the end of the replayed history
ACTIONS = ("stop", "start")  # published in turn, starting from the running sandbox
EVENT_TYPES = {"stop": "sandbox_stopped", "start": "sandbox_started"}
CONNECT_CONCURRENCY = 50
CONNECT_TIMEOUT = 30.0
PUBLISH_TIMEOUT = 120.0
DRAIN_TIMEOUT = 15.0
CLOSE_TIMEOUT = 2.0
POLL_INTERVAL = 0.01


@dataclass(eq=False)
class Subscriber:
    ready: bool = False
    ended: bool = False
    marker_id: int | None = None
    frames: list[tuple[float, str]] = field(default_factory=list)
    """(time.time() on arrival, the raw frame) for every frame after the history."""
    error: str | None = None


@dataclass(frozen=True)
class Publication:
    action: str
    sent: float
    answered: float
    status: int


@dataclass(frozen=True)
class Frame:
    event_id: int
    type: str
    stored: float
    """The event's server timestamp (milliseconds, truncated) as epoch seconds."""
    received: float


# --- subscribers ---------------------------------------------------------------------------------------


async def read_history(ws: ClientConnection, subscriber: Subscriber) -> None:
    async for message in ws:
        event = json.loads(message)
        if event.get("type") == HISTORY_END:
            subscriber.marker_id = event["eventId"]
            subscriber.ready = True
            return
    raise ConnectionClosed(ws.close_rcvd, ws.close_sent)


async def subscribe(url: str, subscriber: Subscriber, gate: asyncio.Semaphore, compression: str | None) -> None:
    """Connect, read the history, then keep every frame until cancelled; any failure ends up in `error`."""
    try:
        async with gate:
            ws = await connect(url, compression=compression, open_timeout=CONNECT_TIMEOUT, close_timeout=CLOSE_TIMEOUT)
        async with ws:
            await read_history(ws, subscriber)
            frames = subscriber.frames
            async for message in ws:
                frames.append((time.time(), message))
            subscriber.error = f"closed by the server: {ws.close_code}"
    except ConnectionClosed as error:
        code = error.rcvd.code if error.rcvd else "no close frame"
        subscriber.error = f"closed by the server: {code}"
    except (OSError, InvalidHandshake, TimeoutError) as error:
        subscriber.error = f"connect: {type(error).__name__}"
    finally:
        subscriber.ended = True


# --- publisher ------------------------------------------------------------------------------------------


async def read_status(reader: asyncio.StreamReader) -> int:
    """The status of one response, its body skipped (204 comes without Content-Length; errors carry one)."""
    status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status


async def publish(args: argparse.Namespace) -> list[Publication]:
    """Sequential stop/start requests; stops early at the first answer other than 204."""
    auth = f"Authorization: Bearer {args.token}"
    requests = {
        action: build_request(args.host, args.port, "POST", f"/api/flexy/{args.sandbox}/{action}", [auth], b"")
        for action in ACTIONS
    }
    reader, writer = await asyncio.open_connection(args.host, args.port)
    publications: list[Publication] = []
    start = time.monotonic()
    try:
        for index in range(args.events):
            if args.rate:
                await asyncio.sleep(max(0.0, start + index / args.rate - time.monotonic()))
            action = ACTIONS[index % 2]
            sent = time.time()
            writer.write(requests[action])
            status = await read_status(reader)
            publications.append(Publication(action, sent, time.time(), status))
            if status != 204:
                break
    finally:
        writer.close()
    return publications


# --- running ----------------------------------------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL)
    return True


def socket_url(args: argparse.Namespace) -> str:
    return f"ws://{args.host}:{args.port}/api/progress/subscribe/{args.project}?token={args.token}&after=0"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    subscribers = [Subscriber() for _ in range(args.subscribers)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    compression = None if args.compression == "none" else "deflate"
    url = socket_url(args)
    tasks = [asyncio.create_task(subscribe(url, s, gate, compression)) for s in subscribers]
    try:
        connect_started = time.monotonic()
        await wait_until(lambda: all(s.ready or s.ended for s in subscribers), CONNECT_TIMEOUT)
        connect_seconds = time.monotonic() - connect_started
        if not any(s.ready for s in subscribers):
            return {"fatal": "no subscriber got ready", "errors": errors(subscribers, [])}
        cpu = (cpu_seconds(), process_cpu_seconds(args.server_pid) if args.server_pid else None, time.monotonic())
        publications = await asyncio.wait_for(publish(args), PUBLISH_TIMEOUT)
        wanted = len(publications)
        await wait_until(lambda: all(len(s.frames) >= wanted or s.ended for s in subscribers), DRAIN_TIMEOUT)
        usage = cpu_use(cpu, args.server_pid)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"connectSeconds": connect_seconds, **usage, **analyse(subscribers, publications)}


def cpu_use(before: tuple[float, float | None, float], server_pid: int | None) -> dict[str, float | None]:
    client_before, server_before, wall_before = before
    wall = time.monotonic() - wall_before
    server_after = process_cpu_seconds(server_pid) if server_pid else None
    server = None if server_before is None or server_after is None else 100 * (server_after - server_before) / wall
    return {"clientCpuPct": 100 * (cpu_seconds() - client_before) / wall, "serverCpuPct": server}


# --- analysis ----------------------------------------------------------------------------------------------


def parse(raw: list[tuple[float, str]]) -> list[Frame]:
    frames = []
    for received, text in raw:
        event = json.loads(text)
        stored = datetime.fromisoformat(event["timestamp"]).timestamp()
        frames.append(Frame(event["eventId"], event["type"], stored, received))
    return frames


@dataclass
class Check:
    exact: int = 0
    missing: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    unexpected: int = 0


def check_order(ids: list[int], expected: list[int], check: Check) -> None:
    """Add one subscriber's drops, duplicates and reorderings (ids lower than one received before)."""
    seen: set[int] = set()
    highest = 0
    for event_id in ids:
        check.duplicates += event_id in seen
        check.out_of_order += event_id < highest
        seen.add(event_id)
        highest = max(highest, event_id)
    check.missing += len(set(expected) - seen)
    check.unexpected += len(seen - set(expected))
    check.exact += ids == expected


def quantiles(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile_ms(values, 50),
        "p95": percentile_ms(values, 95),
        "max": max(values) * 1000 if values else None,
    }


def analyse(subscribers: list[Subscriber], publications: list[Publication]) -> dict[str, Any]:
    ready = [s for s in subscribers if s.ready]
    per_subscriber = [parse(s.frames) for s in ready]
    ids = sorted({frame.event_id for frames in per_subscriber for frame in frames})
    published = [p for p in publications if p.status == 204]
    # Requests are sequential and this project gets no other events: the i-th id is the i-th publication.
    sent_at = dict(zip(ids, (p.sent for p in published), strict=False)) if len(ids) == len(published) else {}
    check = Check()
    stored_at: dict[int, float] = {}
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    from_stored, from_sent, wrong_types = [], [], 0
    types = {event_id: EVENT_TYPES[p.action] for event_id, p in zip(ids, published, strict=False)}
    for frames in per_subscriber:
        check_order([f.event_id for f in frames], ids, check)
        for f in frames:
            wrong_types += types.get(f.event_id, f.type) != f.type
            stored_at[f.event_id] = f.stored
            first[f.event_id] = min(first.get(f.event_id, f.received), f.received)
            last[f.event_id] = max(last.get(f.event_id, f.received), f.received)
            from_stored.append(f.received - f.stored)
            if f.event_id in sent_at:
                from_sent.append(f.received - sent_at[f.event_id])
    deliveries = len(from_stored)
    elapsed = max(last.values(), default=0.0) - (published[0].sent if published else 0.0)
    return {
        "subscribers": len(subscribers),
        "ready": len(ready),
        "published": len(published),
        "eventIdsSeen": len(ids),
        "publishSeconds": publications[-1].answered - publications[0].sent if publications else 0.0,
        "requestMs": quantiles([p.answered - p.sent for p in publications]),
        "lastFromStoredMs": quantiles([last[i] - stored_at[i] for i in ids]),
        "lastFromSentMs": quantiles([last[i] - sent_at[i] for i in ids if i in sent_at]),
        "firstFromStoredMs": quantiles([first[i] - stored_at[i] for i in ids]),
        "eachFromStoredMs": quantiles(from_stored),
        "eachFromSentMs": quantiles(from_sent),
        "deliveries": deliveries,
        "elapsedSeconds": elapsed,
        "deliveredPerSecond": deliveries / elapsed if elapsed > 0 else 0.0,
        "check": vars(check),
        "wrongTypes": wrong_types,
        "errors": errors(subscribers, publications),
        "meanFramesPerSubscriber": statistics.fmean(len(f) for f in per_subscriber) if per_subscriber else 0.0,
    }


def errors(subscribers: list[Subscriber], publications: list[Publication]) -> dict[str, int]:
    found = Counter(s.error for s in subscribers if s.error and not s.ready)
    found.update(f"after ready, {s.error}" for s in subscribers if s.error and s.ready)
    found.update(f"publish answered {p.status}" for p in publications if p.status != 204)
    return {kind: count for kind, count in found.items() if kind}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True, help="an access JWT")
    parser.add_argument("--project", required=True, help="the project to subscribe to")
    parser.add_argument("--sandbox", required=True, help="the project's sandbox, running")
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.0, help="events per second; 0: as fast as answered")
    parser.add_argument("--compression", choices=("deflate", "none"), default="deflate")
    parser.add_argument("--server-pid", type=int, help="measure this process's CPU use while publishing")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    print(json.dumps(event_loop_runner()(run(args))))


if __name__ == "__main__":
    main()
