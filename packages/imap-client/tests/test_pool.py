"""`ClientPool` and `Pool`: bounds, reuse, health checks, broken connections, retries with
backoff, closing, and the blocking facade from threads."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from imap_client import (
    AsyncClient,
    AuthenticationFailed,
    ConnectionLost,
    ImapConnectionError,
    ImapTimeout,
)
from imap_client.pool import (
    ClientPool,
    ConnectFactory,
    LoginConnector,
    Pool,
    PoolClosed,
    RetryPolicy,
)
from imap_server import MemoryStore
from imap_server.server import Listener
from imap_server.testing.harness import RunningServer, ThreadedServer, serve_for_tests

FAST_RETRY = RetryPolicy(attempts=1)


class FastStore(MemoryStore):
    """Cheap password hashes: these tests log in often."""

    scrypt_n = 2**4


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store() -> FastStore:
    store = FastStore()
    store.add_user("user", "pass")
    return store


@asynccontextmanager
async def serving(store: FastStore, port: int = 0) -> AsyncIterator[RunningServer]:
    async with serve_for_tests(store, listeners=(Listener("127.0.0.1", port),)) as running:
        yield running


class CountingClient(AsyncClient):
    """An `AsyncClient` that counts its NOOPs and LOGOUTs (and can be made to fail NOOP)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.noops = 0
        self.logouts = 0
        self.fail_noop = False

    async def noop(self) -> None:
        self.noops += 1
        if self.fail_noop:
            raise ConnectionLost("pretend the connection is gone")
        await super().noop()

    async def logout(self) -> None:
        self.logouts += 1
        await super().logout()


class Connector:
    """A `ConnectFactory` that records the clients it made and can fail its first calls."""

    def __init__(self, port: int, *, failures: int = 0) -> None:
        self.port = port
        self.failures = failures
        self.calls = 0
        self.made: list[CountingClient] = []

    async def __call__(self) -> AsyncClient:
        self.calls += 1
        if self.calls <= self.failures:
            raise ImapConnectionError("connection refused (pretend)")
        client = CountingClient("127.0.0.1", self.port, tls=False)
        await client.connect()
        await client.login("user", "pass")
        self.made.append(client)
        return client


def _serving_loop_worker(thread: threading.Thread) -> bool:
    """A worker thread of an event loop still running (the test server's: idle workers linger
    for 10 s). One of a client's loop would outlive that loop's thread, and be caught."""
    loop = getattr(thread, "loop", None)
    return thread.name == "AnyIO worker thread" and loop is not None and loop.is_running()


def new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    return {t for t in set(threading.enumerate()) - before if not _serving_loop_worker(t)}


async def eventually(condition: Any, within: float = 3.0) -> None:
    with anyio.fail_after(within):
        while not condition():
            await anyio.sleep(0.01)


# -- bounds and reuse ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_max_size_is_respected_under_50_concurrent_acquirers(store: FastStore) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        async with ClientPool(connect, max_size=5, acquire_timeout=10) as pool:
            holding = peak = done = 0

            async def worker() -> None:
                nonlocal holding, peak, done
                async with pool.acquire() as client:
                    holding += 1
                    peak = max(peak, holding)
                    assert pool.in_use <= 5 and pool.size <= 5
                    await client.noop()
                    await anyio.sleep(0.005)
                    holding -= 1
                done += 1

            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(worker)
            assert done == 50
            assert peak == 5
            assert connect.calls == len(connect.made) <= 5
            assert pool.size <= 5 and pool.in_use == 0


@pytest.mark.anyio
async def test_acquire_times_out_when_every_connection_is_in_use(store: FastStore) -> None:
    connect = Connector(port=0)
    async with (
        serving(store) as running,
        ClientPool(connect, acquire_timeout=0.1, max_size=1) as pool,
    ):
        connect.port = running.port
        async with pool.acquire():
            started = time.monotonic()
            with pytest.raises(ImapTimeout, match="no connection free"):
                async with pool.acquire():
                    pass  # pragma: no cover
            # It waited its acquire_timeout (a sleep is never shorter than asked).
            assert time.monotonic() - started >= 0.09
        async with pool.acquire() as client:  # free again
            await client.noop()


@pytest.mark.anyio
async def test_the_most_recent_idle_connection_is_reused(store: FastStore) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        async with ClientPool(connect, max_size=3) as pool:
            async with pool.acquire() as first, pool.acquire() as second:
                assert first is not second
            async with pool.acquire() as again:
                assert again is first  # released last (the block leaves second first)
            assert connect.calls == 2 and pool.size == 2 and pool.idle == 2


@pytest.mark.anyio
async def test_a_command_failure_keeps_the_connection(store: FastStore) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        async with ClientPool(connect, max_size=1) as pool:
            with pytest.raises(Exception, match="SELECT failed"):
                async with pool.acquire() as client:
                    await client.select("No such mailbox")
            async with pool.acquire() as again:
                assert again is client


# -- health checks and broken connections ---------------------------------------------------


@pytest.mark.anyio
async def test_health_check_after_idle_time(store: FastStore) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        async with ClientPool(connect, max_size=1, health_check_after=0.05) as pool:
            async with pool.acquire():
                pass
            client = connect.made[0]
            async with pool.acquire():
                pass
            assert client.noops == 0  # idle for less than 0.05 s: no check
            await anyio.sleep(0.08)
            async with pool.acquire() as again:
                assert again is client
            assert client.noops == 1


@pytest.mark.anyio
async def test_a_connection_failing_its_check_is_replaced(store: FastStore) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        async with ClientPool(connect, max_size=1, health_check_after=0) as pool:
            async with pool.acquire():
                pass
            broken = connect.made[0]
            broken.fail_noop = True
            await anyio.sleep(0.01)
            async with pool.acquire() as client:
                assert client is not broken
                await client.noop()
            await eventually(broken.closed.is_set)
            assert broken.logouts == 1
            assert pool.size == 1


@pytest.mark.anyio
async def test_a_socket_killed_in_use_is_replaced(store: FastStore) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        async with ClientPool(connect, max_size=1) as pool:
            with pytest.raises(ConnectionLost):
                async with pool.acquire() as client:
                    await client.connection.stream.aclose()  # the socket dies under it
                    await eventually(client.closed.is_set)
                    await client.noop()
            async with pool.acquire() as fresh:
                assert fresh is not client
                await fresh.noop()
            assert connect.calls == 2 and pool.size == 1


@pytest.mark.anyio
async def test_a_cancelled_holder_gives_its_slot_back_and_the_connection_is_dropped(
    store: FastStore,
) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        async with ClientPool(connect, max_size=1, acquire_timeout=1) as pool:
            with anyio.move_on_after(0.05):
                async with pool.acquire() as client:
                    await anyio.sleep(5)
            assert pool.in_use == 0
            await eventually(client.closed.is_set)  # its state was unknown: dropped
            async with pool.acquire() as fresh:
                assert fresh is not client


@pytest.mark.anyio
async def test_backoff_timing_then_success(store: FastStore) -> None:
    retry = RetryPolicy(attempts=5, base_delay=0.05, max_delay=1.0, jitter=0)
    async with serving(store) as running:
        connect = Connector(running.port, failures=3)
        async with ClientPool(connect, max_size=1, retry=retry) as pool:
            started = time.monotonic()
            async with pool.acquire() as client:
                elapsed = time.monotonic() - started
                await client.noop()
            assert connect.calls == 4
            assert elapsed >= 0.35  # backed off 0.05 + 0.1 + 0.2


@pytest.mark.anyio
async def test_backoff_gives_up_after_the_attempts(store: FastStore) -> None:
    retry = RetryPolicy(attempts=3, base_delay=0.02, max_delay=1.0, jitter=0)
    async with serving(store) as running:
        connect = Connector(running.port, failures=100)
        async with ClientPool(connect, max_size=1, retry=retry) as pool:
            started = time.monotonic()
            with pytest.raises(ImapConnectionError, match="pretend"):
                async with pool.acquire():
                    pass  # pragma: no cover
            assert connect.calls == 3
            assert time.monotonic() - started >= 0.06  # backed off 0.02 + 0.04
            assert pool.size == 0 and pool.in_use == 0
            connect.failures = 0
            async with pool.acquire() as client:  # the slot was given back
                await client.noop()


@pytest.mark.anyio
async def test_a_refused_login_is_not_retried(store: FastStore) -> None:
    async with serving(store) as running:
        connect = LoginConnector(
            "127.0.0.1", "user", "wrong", port=running.port, options={"tls": False}
        )
        attempts = 0

        async def counting() -> AsyncClient:
            nonlocal attempts
            attempts += 1
            return await connect()

        async with ClientPool(counting, retry=RetryPolicy(attempts=5, base_delay=1)) as pool:
            with pytest.raises(AuthenticationFailed):
                async with pool.acquire():
                    pass  # pragma: no cover
        assert attempts == 1  # not retried


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    jittered = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.5)
    rng = random.Random(7)
    for n in range(1, 7):
        ceiling = jittered.ceiling(n)
        delays = {jittered.delay(n, rng) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jitter: not all the same
    full = RetryPolicy(base_delay=1.0, jitter=1.0)
    assert min(full.delay(3, rng) for _ in range(200)) < 0.5
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)


# -- closing ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_aclose_logs_out_every_connection(store: FastStore) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        async with ClientPool(connect, max_size=3) as pool:
            async with pool.acquire(), pool.acquire(), pool.acquire():
                pass
            assert pool.idle == 3
            await pool.aclose()
            assert pool.size == 0 and pool.closed
            assert all(c.logouts == 1 and c.closed.is_set() for c in connect.made)
            with pytest.raises(PoolClosed):
                async with pool.acquire():
                    pass  # pragma: no cover


@pytest.mark.anyio
async def test_leaving_the_block_waits_for_connections_in_use(store: FastStore) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        released = anyio.Event()
        async with anyio.create_task_group() as tg:
            async with ClientPool(connect, max_size=2) as pool:

                async def hold() -> None:
                    async with pool.acquire() as client:
                        await anyio.sleep(0.1)
                        await client.noop()
                    released.set()

                tg.start_soon(hold)
                await eventually(lambda: pool.in_use == 1)
            assert released.is_set()
        assert connect.made[0].logouts == 1


@pytest.mark.anyio
async def test_cancelling_the_pool_closes_without_logout(store: FastStore) -> None:
    async with serving(store) as running:
        connect = Connector(running.port)
        with anyio.move_on_after(0.1):
            async with ClientPool(connect, max_size=2) as pool:
                async with pool.acquire():
                    pass
                await anyio.sleep(5)
        (client,) = connect.made
        assert client.closed.is_set() and client.logouts == 0


# -- a server that goes away ----------------------------------------------------------------


@pytest.mark.anyio
async def test_server_stopped_then_back_on_the_same_port(store: FastStore) -> None:
    retry = RetryPolicy(attempts=40, base_delay=0.02, max_delay=0.05, jitter=0)
    connect = Connector(port=0)
    async with ClientPool(connect, max_size=2, retry=retry) as pool:
        async with serving(store) as running:
            connect.port = port = running.port
            async with pool.acquire() as old:
                await old.noop()
        # The server is gone: the idle connection ends, and its owner drops it.
        await eventually(lambda: pool.size == 0)
        assert old.closed.is_set()

        back = anyio.Event()
        done = anyio.Event()

        async def restart_later() -> None:
            await anyio.sleep(0.15)
            async with serving(store, port):
                back.set()
                await done.wait()

        async with anyio.create_task_group() as tg:
            tg.start_soon(restart_later)
            calls_before = connect.calls
            async with pool.acquire() as fresh:  # retries until the server is back
                assert back.is_set() and fresh is not old
                await fresh.noop()
            assert connect.calls > calls_before + 1  # some attempts failed first
            await pool.aclose()  # before the server goes again
            done.set()


# -- the blocking Pool ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def threaded_server() -> Iterator[RunningServer]:
    store = FastStore()
    store.add_user("user", "pass")
    with ThreadedServer(store) as running:
        yield running


def test_blocking_pool_from_threads(threaded_server: RunningServer) -> None:
    connect: ConnectFactory = LoginConnector(
        threaded_server.host, "user", "pass", port=threaded_server.port, options={"tls": False}
    )
    with Pool(connect, max_size=1) as pool, pool.acquire():
        pass  # warms the server up (its worker thread for password checks)
    time.sleep(0.05)
    before = set(threading.enumerate())
    errors: list[BaseException] = []
    with Pool(connect, max_size=3) as pool:

        def work() -> None:
            try:
                for _ in range(3):
                    with pool.acquire() as client:
                        client.select("INBOX")
                        client.noop()
                        assert pool.async_pool.size <= 3
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert pool.async_pool.size <= 3
        with pool.acquire() as client:
            with pytest.raises(RuntimeError, match="pooled"):
                client.close()
            client.noop()
        with pytest.raises(ConnectionLost):
            client.noop()  # outside its block: no longer ours
    deadline = time.monotonic() + 3
    while new_threads(before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not new_threads(before)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signals reach the main thread only",
)
def test_blocking_pool_ctrl_c_while_waiting_stops_everything(
    threaded_server: RunningServer,
) -> None:
    connect = LoginConnector(
        threaded_server.host, "user", "pass", port=threaded_server.port, options={"tls": False}
    )
    with Pool(connect, max_size=1) as pool, pool.acquire():
        pass  # warm-up
    time.sleep(0.05)
    before = set(threading.enumerate())
    main = threading.main_thread().ident
    assert main is not None
    with (
        pytest.raises(KeyboardInterrupt),
        Pool(connect, max_size=1) as pool,
        pool.acquire() as held,
    ):
        held.noop()
        threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()
        with pool.acquire():  # waits for `held`: interrupted
            pass  # pragma: no cover
    with pytest.raises(PoolClosed), pool.acquire():
        pass  # pragma: no cover
    deadline = time.monotonic() + 3
    while new_threads(before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not new_threads(before)
