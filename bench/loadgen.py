"""A small HTTP/1.1 load generator: N keep-alive connections hammering one request for a fixed time.

    .venv/bin/python bench/loadgen.py --port 9900 --path /api/health --connections 16 --duration 10

Each connection sends one request, reads the whole response, and sends the next (no pipelining).
Only responses that complete inside the measuring window (after the warm-up) are counted; a response
counts as a success when its status is 200 and, if `--expect-length` is given, its body has exactly that
many bytes (a cheap guard against counting error bodies). It prints one JSON object: successes,
requests per second, p50/p95 latency, the errors by kind, and this process's own CPU use, so a caller
can tell whether the client rather than the server was the bottleneck.

It is meant to run in its own process, never inside the server being measured; it uses uvloop when
installed and only the standard library otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CONNECT_RETRY_DELAY = 0.05
FINISH_GRACE_SECONDS = 5.0


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Window:
    measure_from: float
    end: float


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    keep_alive: bool


def build_request(host: str, port: int, method: str, path: str, headers: list[str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive", *headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers expected: just the final CRLF
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def read_response(reader: asyncio.StreamReader) -> Response:
    status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await read_chunked(reader)
    else:
        raise ValueError("response has neither Content-Length nor chunked encoding")
    return Response(status, body, headers.get("connection", "").lower() != "close")


def record(stats: Stats, response: Response, latency: float, expect_length: int | None) -> None:
    if response.status != 200:
        stats.errors[f"status {response.status}"] += 1
    elif expect_length is not None and len(response.body) != expect_length:
        stats.errors["200 with unexpected body length"] += 1
    else:
        stats.latencies.append(latency)


async def run_connection(
    host: str, port: int, request: bytes, window: Window, stats: Stats, expect_length: int | None
) -> None:
    """One keep-alive connection, reopened after any failure, until the window ends."""
    while time.perf_counter() < window.end:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as error:
            stats.errors[f"connect: {type(error).__name__}"] += 1
            await asyncio.sleep(CONNECT_RETRY_DELAY)
            continue
        try:
            while (started := time.perf_counter()) < window.end:
                writer.write(request)
                response = await read_response(reader)
                finished = time.perf_counter()
                if started >= window.measure_from and finished <= window.end:
                    record(stats, response, finished - started, expect_length)
                if not response.keep_alive:
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            stats.errors[f"io: {type(error).__name__}"] += 1
        finally:
            writer.close()


async def generate(args: argparse.Namespace) -> Stats:
    request = build_request(args.host, args.port, args.method, args.path, args.header, args.body.encode())
    start = time.perf_counter()
    window = Window(measure_from=start + args.warmup, end=start + args.warmup + args.duration)
    stats = Stats()
    tasks = [
        asyncio.create_task(run_connection(args.host, args.port, request, window, stats, args.expect_length))
        for _ in range(args.connections)
    ]
    _, pending = await asyncio.wait(tasks, timeout=args.warmup + args.duration + FINISH_GRACE_SECONDS)
    for task in pending:
        task.cancel()
        stats.errors["timeout: request still pending at the end"] += 1
    await asyncio.gather(*pending, return_exceptions=True)
    return stats


def percentile_ms(latencies: list[float], pct: int) -> float | None:
    if len(latencies) < 2:
        return latencies[0] * 1000 if latencies else None
    return statistics.quantiles(latencies, n=100, method="inclusive")[pct - 1] * 1000


def summary(stats: Stats, duration: float, client_cpu_pct: float) -> dict[str, object]:
    return {
        "ok": len(stats.latencies),
        "rps": len(stats.latencies) / duration,
        "p50_ms": percentile_ms(stats.latencies, 50),
        "p95_ms": percentile_ms(stats.latencies, 95),
        "errors": dict(stats.errors),
        "client_cpu_pct": client_cpu_pct,
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'; repeatable")
    parser.add_argument("--body", default="", help="request body (sent as is)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before the measurement")
    parser.add_argument("--expect-length", type=int, help="body length a success must have")
    return parser.parse_args(argv)


def event_loop_runner() -> Callable[..., Any]:
    """uvloop's runner when it is installed (as it is for the server), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def main() -> None:
    args = parse_args()
    runner = event_loop_runner()
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    stats = runner(generate(args))
    cpu_pct = 100 * (cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)  # warm-up included
    print(json.dumps(summary(stats, args.duration, cpu_pct)))


if __name__ == "__main__":
    main()
