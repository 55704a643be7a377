"""IDLE against our server: updates from another connection, DONE, restarts, polling without
IDLE, and the connection ending while idling."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from imap_client import AsyncClient, CommandFailed, ConnectionLost, ImapTimeout, PendingCommand
from imap_client._idle import IdleSession
from imap_client.errors import MissingCapability
from imap_server.testing.harness import ThreadedServer
from imap_wire import (
    Command,
    ExistsResponse,
    Expunge,
    ExpungeResponse,
    FetchResponse,
    Response,
    ResponseStatus,
    SequenceSet,
    StatusResponse,
    Store,
    StoreMode,
)

pytestmark = pytest.mark.anyio

Seed = Callable[..., Awaitable[None]]
Connect = Callable[[], AbstractAsyncContextManager[AsyncClient]]

# Bound on every wait for an update: our server sends them within milliseconds.
WAIT = 5.0


def message(i: int) -> bytes:
    return f"Subject: idle {i}\r\n\r\nBody {i}\r\n".encode()


async def run(client: AsyncClient, command: Command) -> None:
    """Run a wire command (what the other connection does), expecting OK."""
    pending = await client.submit(PendingCommand(command))
    result = await pending.wait()
    assert result.status is ResponseStatus.OK, result


def uids(n: int) -> SequenceSet:
    return SequenceSet(ranges=((n, n),))


async def next_of(updates: IdleSession, kind: type[Response]) -> Response:
    """The next update of ``kind`` (others skipped), within `WAIT`."""
    with anyio.fail_after(WAIT):
        async for update in updates:
            if isinstance(update, kind):
                return update
    raise AssertionError("the updates ended")


@pytest.fixture
async def idler(client: AsyncClient, seed: Seed) -> AsyncClient:
    """``client`` with INBOX selected, holding two messages (UIDs 1 and 2)."""
    await seed(2)
    await client.select("INBOX")
    return client


async def test_updates_from_another_connection(idler: AsyncClient, connect: Connect) -> None:
    async with connect() as other:
        await other.select("INBOX")
        async with idler.idle() as updates:
            await other.append_from("INBOX", message(3))
            exists = await next_of(updates, ExistsResponse)
            assert isinstance(exists, ExistsResponse) and exists.count == 3
            assert idler.mailbox.exists == 3  # the state took it in before handing it out

            await run(
                other,
                Store(
                    tag=other.next_tag(),
                    uid=True,
                    sequence_set=uids(1),
                    mode=StoreMode.ADD,
                    flags=("\\Flagged",),
                ),
            )
            fetch = await next_of(updates, FetchResponse)
            assert isinstance(fetch, FetchResponse) and fetch.seq == 1
            assert fetch.flags is not None and "\\Flagged" in fetch.flags

            await run(
                other,
                Store(
                    tag=other.next_tag(),
                    uid=True,
                    sequence_set=uids(2),
                    mode=StoreMode.ADD,
                    flags=("\\Deleted",),
                ),
            )
            await run(other, Expunge(tag=other.next_tag()))
            expunge = await next_of(updates, ExpungeResponse)
            assert isinstance(expunge, ExpungeResponse) and expunge.seq == 2
            assert idler.mailbox.exists == 2
    # DONE was sent and answered: the connection takes commands again.
    await idler.noop()
    assert not idler.closed.is_set()


async def test_wait_with_timeout(idler: AsyncClient, connect: Connect) -> None:
    async with idler.idle() as updates:
        with anyio.fail_after(WAIT):
            assert await updates.wait(0.05) == []
        async with connect() as other:
            await other.append_from("INBOX", message(3))
            await other.append_from("INBOX", message(4))
        batch: list[Response] = []
        with anyio.fail_after(WAIT):
            while not any(isinstance(u, ExistsResponse) and u.count == 4 for u in batch):
                batch += await updates.wait(WAIT)
        assert [u.count for u in batch if isinstance(u, ExistsResponse)][-1] == 4
    await idler.noop()


async def test_idle_until(idler: AsyncClient, connect: Connect) -> None:
    async def append_soon() -> None:
        await anyio.sleep(0.05)
        async with connect() as other:
            await other.append_from("INBOX", message(3))

    async with anyio.create_task_group() as tg:
        tg.start_soon(append_soon)
        update = await idler.idle_until(lambda r: isinstance(r, ExistsResponse), timeout=WAIT)
    assert isinstance(update, ExistsResponse) and update.count == 3
    await idler.noop()


async def test_idle_until_times_out(idler: AsyncClient) -> None:
    with pytest.raises(ImapTimeout):
        await idler.idle_until(lambda r: False, timeout=0.1)
    await idler.noop()  # IDLE ended cleanly


async def test_restart_is_transparent(idler: AsyncClient, connect: Connect) -> None:
    async with idler.idle(restart_after=0.05) as updates:
        with anyio.fail_after(WAIT):
            while updates.restarts < 3:
                assert await updates.wait(0.02) == []
        async with connect() as other:
            await other.append_from("INBOX", message(3))
        exists = await next_of(updates, ExistsResponse)
        assert isinstance(exists, ExistsResponse) and exists.count == 3
        # Still restarting after the update.
        with anyio.fail_after(WAIT):
            before = updates.restarts
            while updates.restarts < before + 2:
                await anyio.sleep(0.02)
    await idler.noop()
    assert idler.connection.handlers == []  # the session's handler is gone


async def test_unsolicited_handlers_keep_working(idler: AsyncClient, connect: Connect) -> None:
    seen: list[Response] = []
    idler.on_unsolicited(seen.append)
    async with idler.idle() as updates:
        async with connect() as other:
            await other.append_from("INBOX", message(3))
        await next_of(updates, ExistsResponse)
    assert any(isinstance(r, ExistsResponse) and r.count == 3 for r in seen)


async def test_leaving_on_an_exception_ends_idle(idler: AsyncClient) -> None:
    with pytest.raises(ValueError, match="boom"):  # not wrapped in an exception group
        async with idler.idle():
            raise ValueError("boom")
    await idler.noop()


async def test_leaving_on_cancellation_ends_idle(idler: AsyncClient) -> None:
    with anyio.move_on_after(0.1) as scope:
        async with idler.idle() as updates:
            async for _ in updates:
                pass
    assert scope.cancelled_caught
    # DONE went out although the block was cancelled (shielded).
    with anyio.fail_after(WAIT):
        await idler.noop()


async def test_other_commands_wait_for_the_block(idler: AsyncClient) -> None:
    done = anyio.Event()

    async def noop() -> None:
        await idler.noop()
        done.set()

    async with anyio.create_task_group() as tg:
        async with idler.idle():
            tg.start_soon(noop)
            await anyio.sleep(0.1)
            assert not done.is_set()  # IDLE is not pipelined with other commands
        with anyio.fail_after(WAIT):
            await done.wait()


async def test_dropped_when_not_read(idler: AsyncClient, connect: Connect) -> None:
    async with idler.idle(max_buffered=1) as updates:
        async with connect() as other:
            for i in range(3, 6):
                await other.append_from("INBOX", message(i))
        with anyio.fail_after(WAIT):
            while idler.mailbox.exists < 5:
                await anyio.sleep(0.01)
        assert updates.dropped >= 1
        assert len(await updates.wait(0)) == 1
    assert idler.mailbox.exists == 5  # the state is complete regardless


async def test_without_idle_capability(idler: AsyncClient, connect: Connect) -> None:
    wire = idler.connection.wire
    wire.capabilities = wire.capabilities - {"IDLE"}
    with pytest.raises(MissingCapability) as info:
        async with idler.idle():
            pass
    assert info.value.capability == "IDLE"

    async with idler.idle(poll_interval=0.05) as updates:
        assert updates.polling
        async with connect() as other:
            await other.append_from("INBOX", message(3))
        exists = await next_of(updates, ExistsResponse)
        assert isinstance(exists, ExistsResponse) and exists.count == 3
        # Commands run while polling (NOOP is pipelined).
        await idler.noop()
    assert updates.restarts >= 1


# -- a scripted server, for what ours does not do ----------------------------------------------


@asynccontextmanager
async def scripted(
    on_idle: Callable[[int], bytes], *, after_plus: bytes = b""
) -> AsyncIterator[AsyncClient]:
    """A logged-in client to a server that answers the n-th IDLE (from 1) with
    ``on_idle(n)`` (a line, or b"" for "+") and then sends ``after_plus``; an empty answer
    to DONE closes the connection."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await converse(stream)

    async def converse(stream: anyio.abc.SocketStream) -> None:
        lines = BufferedByteReceiveStream(stream)
        await stream.send(b"* OK [CAPABILITY IMAP4rev1 IDLE] scripted\r\n")
        idles = 0
        idle_tag = b""
        with contextlib.suppress(anyio.EndOfStream, anyio.IncompleteRead, OSError):
            while True:
                line = await lines.receive_until(b"\r\n", 1024)
                if line == b"DONE":
                    await stream.send(idle_tag + b" OK IDLE done\r\n")
                    continue
                tag, _, rest = line.partition(b" ")
                if rest.upper() != b"IDLE":
                    await stream.send(tag + b" OK done\r\n")
                    continue
                idles += 1
                answer = on_idle(idles)
                if answer:
                    await stream.send(tag + b" " + answer + b"\r\n")
                    continue
                idle_tag = tag
                await stream.send(b"+ idling\r\n" + after_plus.replace(b"<tag>", tag))
                if b"BYE" in after_plus:
                    await stream.aclose()
                    return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            async with AsyncClient("127.0.0.1", port, tls=False, timeout=10) as client:
                await client.login("user", "pass")
                yield client
        finally:
            tg.cancel_scope.cancel()


async def test_refused(anyio_backend: str) -> None:
    async with scripted(lambda n: b"BAD no idling here") as client:
        with pytest.raises(CommandFailed) as info:
            async with client.idle():
                pass
        assert info.value.status is ResponseStatus.BAD
        assert client.connection.handlers == []
        await client.noop()


async def test_refused_at_restart(anyio_backend: str) -> None:
    async with scripted(lambda n: b"NO not again" if n == 2 else b"") as client:
        with pytest.raises(CommandFailed, match="not again"), anyio.fail_after(WAIT):
            async with client.idle(restart_after=0.05) as updates:
                async for _ in updates:
                    pass
        await client.noop()


async def test_server_ends_idle(anyio_backend: str) -> None:
    async with scripted(lambda n: b"", after_plus=b"<tag> NO [ALERT] enough\r\n") as client:
        with pytest.raises(CommandFailed, match="enough"), anyio.fail_after(WAIT):
            async with client.idle() as updates:
                await updates.wait()
        await client.noop()


async def test_bye_while_idling(anyio_backend: str) -> None:
    async with scripted(lambda n: b"", after_plus=b"* BYE shutting down\r\n") as client:
        received: list[Response] = []
        with pytest.raises(ConnectionLost) as info, anyio.fail_after(WAIT):
            async with client.idle() as updates:
                async for update in updates:
                    received.append(update)
        # The BYE itself is an update, before the error.
        assert isinstance(received[-1], StatusResponse)
        assert received[-1].status is ResponseStatus.BYE
        assert info.value.bye == "shutting down"


# -- the connection ending ---------------------------------------------------------------------


async def test_connection_lost_while_idling(anyio_backend: str) -> None:
    server = ThreadedServer()
    running = server.start()
    try:
        async with AsyncClient(running.host, running.port, tls=False, timeout=10) as client:
            await client.login("user", "pass")
            await client.select("INBOX")
            received: list[Response] = []
            with pytest.raises(ConnectionLost), anyio.fail_after(WAIT):
                async with client.idle() as updates:
                    await anyio.to_thread.run_sync(server.stop)
                    async for update in updates:
                        received.append(update)
            assert client.closed.is_set()
            assert client.connection.handlers == []
            with pytest.raises(ConnectionLost):
                await client.noop()
    finally:
        server.stop()


async def test_connection_lost_reported_on_leaving(anyio_backend: str) -> None:
    """If the block never read the updates, leaving it raises what ended the session."""
    server = ThreadedServer()
    running = server.start()
    try:
        async with AsyncClient(running.host, running.port, tls=False, timeout=10) as client:
            await client.login("user", "pass")
            with pytest.raises(ConnectionLost), anyio.fail_after(WAIT):
                async with client.idle():
                    await anyio.to_thread.run_sync(server.stop)
                    await client.closed.wait()
                    await anyio.sleep(0.01)
    finally:
        server.stop()


def test_arguments_checked() -> None:
    client = AsyncClient("localhost")
    for bad in ({"restart_after": 0}, {"poll_interval": -1.0}, {"max_buffered": 0}):
        with pytest.raises(ValueError):
            client.idle(**bad)
    assert client.idle(restart_after=math.inf).restarts == 0
