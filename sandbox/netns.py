"""Sockets made inside another process's network namespace: the egress proxy's listener, and connections to a
sandbox's own ports that its network mode gives no address reachable from here.

A sandbox in the `egress` mode has a network namespace of its own with nothing but loopback. The service
puts one listening TCP socket on that loopback (127.0.0.1:PROXY_PORT): a short-lived thread joins the
namespace with setns(2), creates and binds the socket, and ends. A socket stays in the namespace it was
made in, so the service then accepts on it from its own event loop and hands each connection to the proxy.
Nothing runs inside the sandbox for this, and the sandbox cannot reach anything else: the only way out
of its namespace is that socket, owned by the service.

The same way, `connect_in` makes a socket in a sandbox's namespace and connects it to a port on that loopback:
how this service reaches the sandbox's web terminal, editor and other ports when it has no network at all.

setns(2) into a network namespace needs CAP_SYS_ADMIN (the service runs as root, as in CI and most
containers); without it both raise SandboxError saying so.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from collections.abc import Callable

from sandbox.base import SandboxError

PROXY_HOST = "127.0.0.1"
PROXY_PORT = 3128
"""Where a sandbox finds its proxy (inside its own namespace, so the same for every sandbox)."""

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _enter(namespace_fd: int) -> None:
    if _libc.setns(namespace_fd, _CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise SandboxError(f"cannot enter the sandbox's network namespace: {os.strerror(code)} (needs root)")


def _listener() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((PROXY_HOST, PROXY_PORT))
        listener.listen(64)
        listener.setblocking(False)
    except OSError as exc:
        listener.close()
        raise SandboxError(f"cannot listen for the proxy inside the sandbox: {exc}") from exc
    return listener


def _connector() -> socket.socket:
    made = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    made.setblocking(False)
    return made


def _made_in(namespace_path: str, make: Callable[[], socket.socket]) -> socket.socket:
    """`make()` run on a thread of its own that joins the namespace first and ends right after (its namespace
    is never restored, so no other work ever runs in it)."""
    try:
        namespace_fd = os.open(namespace_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxError(f"cannot open the sandbox's network namespace {namespace_path}: {exc}") from exc
    outcome: list[socket.socket | Exception] = []

    def work() -> None:
        try:
            _enter(namespace_fd)
            outcome.append(make())
        except (OSError, SandboxError) as exc:  # handed to the caller's thread
            outcome.append(exc)

    try:
        thread = threading.Thread(target=work, name="netns-socket", daemon=True)
        thread.start()
        thread.join()
    finally:
        os.close(namespace_fd)
    result = outcome[0]
    if isinstance(result, Exception):
        raise result
    return result


def _namespace_of(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


async def listen_in(pid: int) -> socket.socket:
    """A non-blocking socket listening on PROXY_HOST:PROXY_PORT in the network namespace of process `pid`."""
    return await asyncio.to_thread(_made_in, _namespace_of(pid), _listener)


async def connect_in(pid: int, port: int, timeout: float = 5.0) -> socket.socket:
    """A non-blocking socket connected to 127.0.0.1:`port` in the network namespace of process `pid`; OSError
    (ConnectionRefusedError when nothing listens there) or TimeoutError when it cannot be."""
    try:
        connection = await asyncio.to_thread(_made_in, _namespace_of(pid), _connector)
    except SandboxError as exc:  # a connection that cannot be made, as any other
        raise ConnectionError(str(exc)) from exc
    try:
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(connection, ("127.0.0.1", port))
    except BaseException:
        connection.close()
        raise
    return connection
