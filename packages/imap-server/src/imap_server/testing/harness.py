"""Start a server on a free loopback port for tests, in this event loop or in a thread.

In an async test::

    async with serve_for_tests(store) as running:
        ...connect to running.host, running.port...

From synchronous code (stdlib imaplib, IMAPClient, a subprocess client)::

    with ThreadedServer(store) as running:
        imaplib.IMAP4(running.host, running.port)
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ..memory import MemoryStore
from ..server import Listener, Server
from ..store import Backend

__all__ = ["RunningServer", "ThreadedServer", "serve_for_tests"]


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A server accepting connections on ``host:port`` (plain TCP)."""

    server: Server
    host: str
    port: int
    #: Ports of every listener, in the order given (the first is ``port``).
    ports: tuple[int, ...]

    @property
    def backend(self) -> Backend:
        return self.server.backend


def _default_store() -> MemoryStore:
    store = MemoryStore()
    store.add_user("user", "pass")
    return store


@asynccontextmanager
async def serve_for_tests(
    backend: Backend | None = None,
    *,
    listeners: tuple[Listener, ...] = (),
    **server_options: Any,
) -> AsyncIterator[RunningServer]:
    """Run a `Server` in the current event loop for the duration of the block.

    Args:
        backend: The store (default: a `MemoryStore` with user ``user`` / ``pass``).
        listeners: Listeners (default: one plain TCP listener on 127.0.0.1, free port).
        server_options: Passed to `Server`.
    """
    server = Server(backend if backend is not None else _default_store(), **server_options)
    specs = listeners or (Listener("127.0.0.1", 0),)
    async with anyio.create_task_group() as tg:
        ports: list[int] = await tg.start(server.serve, *specs)
        try:
            yield RunningServer(
                server=server, host=specs[0].host, port=ports[0], ports=tuple(ports)
            )
        finally:
            tg.cancel_scope.cancel()


class ThreadedServer:
    """A server in a background thread with its own event loop (asyncio), for tests that use
    blocking clients. A context manager; `start` / `stop` for explicit control.
    """

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        listeners: tuple[Listener, ...] = (),
        **server_options: Any,
    ) -> None:
        self._backend = backend if backend is not None else _default_store()
        self._listeners = listeners
        self._options = server_options
        self._portal_cm: Any = None
        self._portal: BlockingPortal | None = None
        self._cancel: Callable[[], None] | None = None
        self.running: RunningServer | None = None
        self._lock = threading.Lock()

    def start(self) -> RunningServer:
        with self._lock:
            if self.running is not None:
                return self.running
            self._portal_cm = start_blocking_portal(backend="asyncio")
            portal = self._portal = self._portal_cm.__enter__()
            server = Server(self._backend, **self._options)
            specs = self._listeners or (Listener("127.0.0.1", 0),)
            scope_holder: list[anyio.CancelScope] = []

            async def run(*, task_status: anyio.abc.TaskStatus[list[int]]) -> None:
                with anyio.CancelScope() as scope:
                    scope_holder.append(scope)
                    await server.serve(*specs, task_status=task_status)

            future, ports = portal.start_task(run)
            self._future = future
            self._cancel = lambda: portal.call(scope_holder[0].cancel)
            self.running = RunningServer(
                server=server, host=specs[0].host, port=ports[0], ports=tuple(ports)
            )
            return self.running

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` (a coroutine function or plain one) in the server's loop."""
        assert self._portal is not None, "server not started"
        return self._portal.call(func, *args)

    def stop(self) -> None:
        with self._lock:
            if self._portal_cm is None:
                return
            try:
                if self._cancel is not None:
                    self._cancel()
                    with suppress(BaseException):
                        self._future.result(timeout=10)
            finally:
                self._portal_cm.__exit__(None, None, None)
                self._portal_cm = None
                self._portal = None
                self.running = None

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
