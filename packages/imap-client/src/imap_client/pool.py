"""`ClientPool`: a bounded pool of logged-in `AsyncClient` connections; `Pool`, its blocking form.

::

    connect = LoginConnector("imap.example.com", "alice", "secret")
    async with ClientPool(connect, max_size=5) as pool:
        async with pool.acquire() as client:
            await client.select("INBOX")

    with Pool(connect, max_size=5) as pool:  # from threads, without an event loop
        with pool.acquire() as client:  # a blocking `Client`
            client.select("INBOX")

How it runs: anyio requires a task group to be left by the task that entered it, and every
`AsyncClient` runs its reader in one. So each connection has a task of its own in the pool's
task group, its *owner*: the owner calls ``connect`` (so the client's task group is entered
there), reports the client, and waits until the pool asks it to close the connection or the
connection ends by itself; then it logs out and closes, from the same task. Once connected an
owner is shielded from cancellation (a task group cannot be left from a cancelled task
cleanly): the pool always asks instead. The tasks that `acquire` a client only run commands on
it, which any task may.

Handing out: `acquire` waits for one of ``max_size`` slots (at most ``acquire_timeout``
seconds, then `ImapTimeout`), takes the connection used most recently among the idle ones,
checks it with NOOP if it has been idle more than ``health_check_after`` seconds (a broken one
is dropped and the next one tried), or has a new one opened. Opening retries connection
failures (`ImapConnectionError`, `ImapTimeout`, `OSError`; not a refused login) with
exponential backoff and jitter (`RetryPolicy`). On release, a connection is dropped if the
``async with`` body ended with a connection error, a timeout or a cancellation (its state is
unknown), and kept otherwise (a `CommandFailed` leaves it usable).

Closing: `ClientPool.aclose` (and leaving ``async with`` normally) logs out the idle
connections at once and those in use when they are released, and waits for them. Leaving by
a cancellation or an interruption closes every connection at once, without LOGOUT.

A connection is handed out as it was left: the next holder finds the mailbox the previous one
selected; select what you need. Do not `AsyncClient.logout` or ``aclose`` a pooled client
(only its owner task may): raise, and the pool drops it.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
from anyio.from_thread import BlockingPortal

from .client import AsyncClient
from .errors import ImapConnectionError, ImapTimeout
from .sync import Client, _Runtime, _Stop, _SyncContext

__all__ = ["ClientPool", "ConnectFactory", "LoginConnector", "Pool", "PoolClosed", "RetryPolicy"]

log = logging.getLogger("imap_client.pool")

#: Opens a connection: returns a connected (and usually logged in) `AsyncClient`. It runs in
#: the connection's owner task, which later logs the client out and closes it.
ConnectFactory = Callable[[], Awaitable[AsyncClient]]


class PoolClosed(ImapConnectionError):
    """The pool is closed (or closing): it hands out no connection."""


@dataclass(frozen=True, slots=True)
class LoginConnector:
    """A `ConnectFactory`: ``AsyncClient(host, port, **options)``, connected and logged in
    with LOGIN (a failed login closes the connection before the error propagates).

    Attributes:
        options: Keyword arguments of `AsyncClient` (``tls``, ``ssl_context``, ``timeout``...).
    """

    host: str
    username: str
    password: str = field(repr=False)
    port: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    async def __call__(self) -> AsyncClient:
        client = AsyncClient(self.host, self.port, **self.options)
        await client.connect()
        try:
            await client.login(self.username, self.password)
        except BaseException:
            await client.aclose()  # (not in a shield: it leaves the client's task group)
            raise
        return client


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How opening a connection is retried: exponential backoff with jitter.

    After the n-th failure (n = 1, 2...) the pool waits ``delay(n)``: the ceiling
    ``min(max_delay, base_delay * 2 ** (n - 1))``, minus a random part of up to ``jitter``
    times it (0: no jitter; 1: "full jitter", anywhere between 0 and the ceiling), so that
    clients cut off together do not come back together.

    Attributes:
        attempts: Tries in all (1: no retry); the last failure propagates.
        retry_on: The exceptions worth another try (not a refused login).
    """

    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 10.0
    jitter: float = 0.5
    retry_on: tuple[type[BaseException], ...] = (ImapConnectionError, ImapTimeout, OSError)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def ceiling(self, failures: int) -> float:
        """The delay after ``failures`` failures, before jitter."""
        return min(self.max_delay, self.base_delay * 2.0 ** max(failures - 1, 0))

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``failures`` failures (``rng``: the randomness, for tests)."""
        ceiling = self.ceiling(failures)
        draw = (rng or random).random()
        return ceiling * (1.0 - self.jitter * draw)


class _Slot:
    """One connection and its owner task."""

    __slots__ = ("client", "close_requested", "finished", "last_used")

    def __init__(self) -> None:
        self.client: AsyncClient | None = None
        self.close_requested = anyio.Event()
        self.finished = anyio.Event()
        self.last_used = 0.0

    def request_close(self) -> None:
        self.close_requested.set()


class ClientPool:
    """A bounded pool of `AsyncClient` connections; use as ``async with ClientPool(...)``
    (the pool runs one task per connection in a task group of its own).

    Args:
        connect: Opens one connection (see `ConnectFactory`, `LoginConnector`).
        max_size: Connections at most (in use and idle).
        acquire_timeout: Seconds `acquire` waits for a free slot (None: no limit); opening
            the connection is bounded by the client's ``connect_timeout`` and ``retry``.
        health_check_after: A connection idle for longer is checked with NOOP before it is
            handed out (None: never; 0: always).
        health_check_timeout: Seconds the NOOP may take.
        retry: How opening a connection is retried.
    """

    def __init__(
        self,
        connect: ConnectFactory,
        *,
        max_size: int = 10,
        acquire_timeout: float | None = 30.0,
        health_check_after: float | None = 30.0,
        health_check_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._connect = connect
        self.max_size = max_size
        self.acquire_timeout = acquire_timeout
        self.health_check_after = health_check_after
        self.health_check_timeout = health_check_timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._permits: anyio.Semaphore | None = None
        self._idle: list[_Slot] = []  # most recently used last
        self._live = 0  # owner tasks running
        self._in_use = 0
        self._changed = anyio.Event()
        self._closing = False
        self._hard = False  # closing without LOGOUT
        self._slots: set[_Slot] = set()  # connected, not yet closing

    def __repr__(self) -> str:
        return (
            f"<ClientPool size={self.size} idle={self.idle} in_use={self.in_use} "
            f"max_size={self.max_size}{' closed' if self._closing else ''}>"
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._task_group is not None or self._closing:
            raise RuntimeError("a ClientPool can be entered only once")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        self._permits = anyio.Semaphore(self.max_size)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group = self._task_group
        assert task_group is not None, "not entered"
        try:
            if exc is None or isinstance(exc, Exception):
                await self.aclose()
        finally:
            # Cancelled or interrupted (here or in the block): close what is left at once,
            # without LOGOUT. The owner tasks do not heed cancellation (see `_own`).
            self._close_all(hard=True)
            await task_group.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Stop handing out connections; log out and close every one, the idle ones now and
        those in use once released, and wait for that. Idempotent; call it from outside an
        ``acquire`` block (it waits for every connection to come back)."""
        self._closing = True
        for slot in self._idle:
            slot.request_close()
        self._idle.clear()
        while self._live:
            await self._changed.wait()

    def _close_all(self, *, hard: bool) -> None:
        """Have every connection closed now, those in use included (``hard``: no LOGOUT)."""
        self._closing = True
        self._hard = self._hard or hard
        self._idle.clear()
        for slot in list(self._slots):
            slot.request_close()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    # -- state ------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Connections open or being opened (in use and idle)."""
        return self._live

    @property
    def idle(self) -> int:
        """Connections waiting to be handed out."""
        return len(self._idle)

    @property
    def in_use(self) -> int:
        """Connections handed out."""
        return self._in_use

    @property
    def closed(self) -> bool:
        return self._closing

    # -- handing out ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[AsyncClient]:
        """``async with pool.acquire() as client:`` a logged-in client, for the block's time.

        Raises:
            ImapTimeout: No connection was free within ``acquire_timeout``.
            ImapConnectionError: A new connection could not be opened (after the retries).
            PoolClosed: The pool is closed.
        """
        slot = await self._checkout()
        assert slot.client is not None
        try:
            yield slot.client
        except BaseException as exc:
            self._checkin(slot, broken=_breaks_connection(exc))
            raise
        else:
            self._checkin(slot, broken=False)

    async def _checkout(self) -> _Slot:
        if self._task_group is None or self._permits is None:
            raise RuntimeError("enter the pool first: async with ClientPool(...) as pool")
        if self._closing:
            raise PoolClosed("the pool is closed")
        try:
            with anyio.fail_after(self.acquire_timeout):
                await self._permits.acquire()
        except TimeoutError:
            raise ImapTimeout(
                f"no connection free within {self.acquire_timeout} s (all {self.max_size} in use)"
            ) from None
        try:
            if self._closing:
                raise PoolClosed("the pool is closed")
            slot = await self._take_idle()
            if slot is None:
                slot = await self._open()
            if self.closed:  # (closed while this task waited)
                slot.request_close()
                raise PoolClosed("the pool is closed")
        except BaseException:
            self._permits.release()
            raise
        self._in_use += 1
        return slot

    async def _take_idle(self) -> _Slot | None:
        """The most recently used idle connection that is (still) healthy, if any."""
        while self._idle:
            slot = self._idle.pop()
            client = slot.client
            assert client is not None
            if client.closed.is_set():
                slot.request_close()
                continue
            idle_for = anyio.current_time() - slot.last_used
            if self.health_check_after is None or idle_for <= self.health_check_after:
                return slot
            if await self._healthy(slot):
                return slot
            slot.request_close()
        return None

    async def _healthy(self, slot: _Slot) -> bool:
        client = slot.client
        assert client is not None
        try:
            with anyio.fail_after(self.health_check_timeout):
                await client.noop()
        except (Exception, anyio.get_cancelled_exc_class()) as exc:
            if not isinstance(exc, Exception):  # the acquirer was cancelled: do not keep it
                slot.request_close()
                raise
            log.info("dropping a pooled IMAP connection that failed its check: %r", exc)
            return False
        return True

    def _checkin(self, slot: _Slot, *, broken: bool) -> None:
        assert self._permits is not None
        self._in_use -= 1
        client = slot.client
        assert client is not None
        slot.last_used = anyio.current_time()
        if broken or self._closing or client.closed.is_set() or slot.close_requested.is_set():
            slot.request_close()
        else:
            self._idle.append(slot)
        self._permits.release()

    # -- opening and closing (the owner tasks) ----------------------------------------------------

    async def _open(self) -> _Slot:
        assert self._task_group is not None
        slot = _Slot()
        await self._task_group.start(self._own, slot)
        return slot

    async def _own(self, slot: _Slot, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """A connection's owner: connect (retrying), hand it over, wait, log out and close."""
        self._live += 1
        try:
            with anyio.CancelScope() as scope:
                client = await self._connect_with_retry()
                # The client's task group is now open in this task, inside ``scope``, and must
                # be left from here; a cancelled `ClientBase.aclose` would stop before leaving
                # it. So from now on nothing outside cancels this task: the pool asks for the
                # close with ``slot.close_requested`` (every way out of the pool does).
                scope.shield = True
                slot.client = client
                self._slots.add(slot)
                try:
                    slot.last_used = anyio.current_time()
                    task_status.started()
                    async with anyio.create_task_group() as watch:
                        watch.start_soon(_cancel_on, slot.close_requested, watch.cancel_scope)
                        watch.start_soon(_cancel_on, client.closed, watch.cancel_scope)
                finally:
                    self._slots.discard(slot)
                    if slot in self._idle:
                        self._idle.remove(slot)
                    try:
                        if not self._hard:
                            await client.logout()  # bounded by the client (10 s at most)
                    except Exception as exc:
                        log.info("LOGOUT of a pooled IMAP connection failed: %r", exc)
                    finally:
                        await client.aclose()
        finally:
            self._live -= 1
            slot.finished.set()
            self._notify()

    async def _connect_with_retry(self) -> AsyncClient:
        policy = self.retry
        failures = 0
        while True:
            try:
                return await self._connect()
            except policy.retry_on as exc:
                failures += 1
                if failures >= policy.attempts:
                    raise
                delay = policy.delay(failures)
                log.warning(
                    "IMAP connection failed (%s of %s): %r; retrying in %.2f s",
                    failures, policy.attempts, exc, delay,
                )  # fmt: skip
                await anyio.sleep(delay)


async def _cancel_on(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


def _breaks_connection(exc: BaseException) -> bool:
    """Whether a connection whose user raised ``exc`` must be dropped rather than reused."""
    if not isinstance(exc, Exception):
        return True  # cancelled or interrupted mid-command: its state is unknown
    return isinstance(exc, ImapConnectionError | ImapTimeout | OSError)


# -- the blocking pool --------------------------------------------------------------------------


class Pool:
    """The blocking form of `ClientPool`: one event loop thread for every connection, shared
    by the threads that `acquire` blocking `Client` objects from it.

    ``with Pool(connect, ...) as pool:`` (or `open` / `close`); arguments as for
    `ClientPool`, plus ``backend`` (``"asyncio"`` or ``"trio"``). Safe to use from many
    threads at once: each gets its own connection. The `Client` handed out is valid inside the
    ``with pool.acquire()`` block only; it cannot be closed (the pool does that).
    """

    def __init__(
        self,
        connect: ConnectFactory,
        *,
        max_size: int = 10,
        acquire_timeout: float | None = 30.0,
        health_check_after: float | None = 30.0,
        health_check_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        backend: str = "asyncio",
    ) -> None:
        self._options: dict[str, Any] = dict(
            max_size=max_size, acquire_timeout=acquire_timeout,
            health_check_after=health_check_after, health_check_timeout=health_check_timeout,
            retry=retry,
        )  # fmt: skip
        self._connect = connect
        self._backend = backend
        self._runtime: _Runtime | None = None
        self._pool: ClientPool | None = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._shutdown(graceful=exc_type is None or issubclass(exc_type, Exception))

    def open(self) -> None:
        """Start the event loop thread and the pool (no connection is opened yet)."""
        if self._runtime is not None:
            raise RuntimeError("already open")
        runtime = _Runtime("imap-client pool", self._backend)
        self._pool = runtime.start(self._host)
        self._runtime = runtime

    async def _host(self, stop: _Stop, *, task_status: anyio.abc.TaskStatus[ClientPool]) -> None:
        pool = ClientPool(self._connect, **self._options)
        async with pool:
            task_status.started(pool)
            await stop.event.wait()
            if stop.graceful:
                await pool.aclose()
            else:
                pool._close_all(hard=True)

    def close(self) -> None:
        """Log out every connection (waiting for those in use to be released) and stop the
        thread. Idempotent."""
        self._shutdown(graceful=True)

    def _shutdown(self, *, graceful: bool) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.finish(graceful=graceful)

    @property
    def async_pool(self) -> ClientPool:
        """The `ClientPool` underneath (it lives in the pool's event loop thread)."""
        if self._pool is None:
            raise RuntimeError("the pool is not open")
        return self._pool

    @contextlib.contextmanager
    def acquire(self) -> Iterator[Client]:
        """``with pool.acquire() as client:`` a logged-in blocking `Client` for the block.

        Raises:
            ImapTimeout, ImapConnectionError, PoolClosed: As `ClientPool.acquire`.
        """
        runtime = self._runtime
        pool = self._pool
        if runtime is None or pool is None:
            raise PoolClosed("the pool is not open")
        with _SyncContext(self, pool.acquire) as async_client:
            client = Client._attached(async_client, runtime.portal, runtime.loop_thread)
            try:
                yield client
            finally:
                client._portal = None  # the block is over: the client is no longer ours

    # -- what _SyncContext needs (see sync._Runner) ----------------------------------------------

    @property
    def _portal(self) -> BlockingPortal | None:
        return self._runtime.portal if self._runtime is not None else None

    def _require_portal(self) -> BlockingPortal:
        runtime = self._runtime
        if runtime is None:
            raise PoolClosed("the pool is closed")
        if runtime.in_loop_thread():
            raise RuntimeError("a blocking Pool method was called from the pool's event loop")
        return runtime.portal

    def _abort(self) -> None:
        """After an interruption (Ctrl-C) while waiting: close at once, stop the thread."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.stop_thread()
