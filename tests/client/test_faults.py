"""The client against servers that misbehave, and under load.

A scripted server (an anyio TCP listener on 127.0.0.1, free port, run by the test itself)
plays the server's side line by line: it closes the socket in the middle of a FETCH literal,
during IDLE, after APPEND's ``+``, during AUTHENTICATE; it sends malformed responses and BYE.
Each time the client must fail promptly with a typed error (`ConnectionLost` or
`ProtocolViolation`), fail every pending command (ten are pipelined), leave no task running
and never hang (every test runs under `anyio.fail_after`); `aclose` stays idempotent and
`closed` / `close_cause` say what happened.

Then pipelining: a hundred commands in flight on one connection, each answered with its own
data (the scripted server answers them in reverse order; our server and Dovecot for real).
"""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import pytest

from imap_client import (
    AsyncClient,
    ConnectionLost,
    ImapTimeout,
    ProtocolViolation,
)
from imap_wire import ExistsResponse, FetchResponse, Limits, Response

#: What a response cut short by the end of the stream raises: the connection was lost in
#: the middle of it (`ProtocolViolation` is what the wire calls a truncated line).
MID_RESPONSE = (ConnectionLost, ProtocolViolation)

if TYPE_CHECKING:
    from conftest import Target

pytestmark = pytest.mark.anyio

#: Seconds any one scenario may take: the client must never hang.
LIMIT = 10.0
#: Commands pipelined when the connection breaks.
PIPELINED = 10

CAPABILITIES = "IMAP4rev1 IDLE UIDPLUS AUTH=PLAIN"
GREETING = f"* OK [CAPABILITY {CAPABILITIES}] scripted server ready"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


# -- the scripted server --------------------------------------------------------------------------


@dataclass(slots=True)
class Command:
    """A command line as the scripted server read it (literals not included)."""

    tag: str
    name: str
    args: str
    line: bytes


class Peer:
    """The server's end of one connection, driven by a test's script."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self._buffer = bytearray()
        self.commands: list[Command] = []

    async def _fill(self) -> None:
        data = await self.stream.receive()  # anyio.EndOfStream when the client closes
        self._buffer += data

    async def read_line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            await self._fill()
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    async def read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def command(self) -> Command:
        """The next command line (a synchronizing literal in it is not read: see `literal`)."""
        line = await self.read_line()
        tag, _, rest = line.decode("utf-8", "replace").partition(" ")
        name, _, args = rest.partition(" ")
        name = name.upper()
        if name == "UID":
            sub, _, args = args.partition(" ")
            name = f"UID {sub.upper()}"
        command = Command(tag=tag, name=name, args=args, line=line)
        self.commands.append(command)
        return command

    async def send(self, *lines: str | bytes) -> None:
        """Send lines (str: CRLF added) or raw octets (bytes: sent as they are)."""
        data = b"".join(
            line.encode("utf-8") + b"\r\n" if isinstance(line, str) else line for line in lines
        )
        await self.stream.send(data)

    async def answer(self, command: Command) -> None:
        """What a well-behaved server answers to the ordinary commands."""
        tag, name = command.tag, command.name
        if name == "CAPABILITY":
            await self.send(f"* CAPABILITY {CAPABILITIES}", f"{tag} OK done")
        elif name == "LOGIN":
            await self.send(f"{tag} OK [CAPABILITY {CAPABILITIES}] logged in")
        elif name in ("SELECT", "EXAMINE"):
            await self.send(
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                "* 3 EXISTS",
                "* 0 RECENT",
                "* OK [UIDVALIDITY 42] ok",
                "* OK [UIDNEXT 4] ok",
                f"{tag} OK [READ-WRITE] selected",
            )
        elif name == "LOGOUT":
            await self.send("* BYE bye", f"{tag} OK done")
        else:
            await self.send(f"{tag} OK done")

    async def serve_until(self, *names: str, hold: tuple[str, ...] = ()) -> Command:
        """Answer ordinary commands until one of ``names`` comes; return that one. Those
        named in ``hold`` are left unanswered."""
        while True:
            command = await self.command()
            if command.name in names:
                return command
            if command.name not in hold:
                await self.answer(command)

    async def gather(self, count: int, *names: str) -> list[Command]:
        """Answer ordinary commands until ``count`` of ``names`` came (not answered)."""
        found: list[Command] = []
        while len(found) < count:
            command = await self.command()
            if command.name in names:
                found.append(command)
            else:
                await self.answer(command)
        return found


Script = Callable[[Peer], Awaitable[None]]


@dataclass(slots=True)
class ScriptedServer:
    host: str
    port: int
    #: Set when the script ended (the server then closed the connection).
    finished: anyio.Event = field(default_factory=anyio.Event)
    peers: list[Peer] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def client(self, **options: Any) -> AsyncClient:
        options.setdefault("timeout", LIMIT)
        options.setdefault("connect_timeout", LIMIT)
        return AsyncClient(self.host, self.port, tls=False, **options)


@asynccontextmanager
async def scripted_server(script: Script) -> AsyncIterator[ScriptedServer]:
    """Accept connections on a free loopback port; run ``script`` for each, then close it."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    server = ScriptedServer(host="127.0.0.1", port=port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        try:
            async with stream:
                peer = Peer(stream)
                server.peers.append(peer)
                await peer.send(GREETING)
                await script(peer)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the client went away first
        except Exception as exc:  # a broken script: fail the test, not the listener
            server.errors.append(exc)
        finally:
            server.finished.set()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()
    assert not server.errors, f"the script failed: {server.errors!r}"


# -- helpers --------------------------------------------------------------------------------------


def task_ids() -> set[int]:
    """The tasks of the event loop (asyncio: `asyncio.all_tasks`)."""
    ids = {task.id for task in anyio.get_running_tasks()}
    try:
        loop_tasks = asyncio.all_tasks()
    except RuntimeError:  # not asyncio
        return ids
    return ids | {id(task) for task in loop_tasks}


@asynccontextmanager
async def no_task_leak() -> AsyncIterator[None]:
    """Fail if tasks started in the block outlive it."""
    before = task_ids()
    yield
    await anyio.sleep(0)
    leaked = task_ids() - before
    assert not leaked, f"{len(leaked)} task(s) left running: {anyio.get_running_tasks()}"


async def run_all(*calls: Callable[[], Awaitable[object]]) -> list[BaseException | None]:
    """Run the calls at once; return what each raised (None: returned)."""
    outcomes: list[BaseException | None] = [None] * len(calls)

    async def one(index: int, call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        except Exception as exc:
            outcomes[index] = exc

    async with anyio.create_task_group() as tg:
        for index, call in enumerate(calls):
            tg.start_soon(one, index, call)
    return outcomes


async def assert_closed(
    client: AsyncClient,
    kind: type[BaseException] | tuple[type[BaseException], ...] = ConnectionLost,
) -> None:
    """The connection ended for the right reason; later commands fail at once; `aclose` is
    idempotent."""
    with anyio.fail_after(2):
        await client.closed.wait()
    assert isinstance(client.close_cause, kind), repr(client.close_cause)
    with pytest.raises(ConnectionLost):
        await client.noop()
    await client.aclose()
    await client.aclose()


# -- BYE and a plain close ------------------------------------------------------------------------


async def logged_in(server: ScriptedServer) -> AsyncClient:
    client = server.client()
    await client.connect()
    await client.login("user", "pass")
    return client


async def test_bye_fails_every_pending_command(anyio_backend: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.gather(PIPELINED, "NOOP")
        await peer.send("* BYE server shutting down")

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            client = await logged_in(server)
            outcomes = await run_all(*[client.noop] * PIPELINED)
            assert all(isinstance(o, ConnectionLost) for o in outcomes), outcomes
            lost = outcomes[0]
            assert isinstance(lost, ConnectionLost)
            assert lost.bye == "server shutting down"
            await assert_closed(client)
            assert "server shutting down" in str(client.close_cause)


async def test_bye_then_commands_refused(anyio_backend: str) -> None:
    """After BYE (the socket still open) a new command fails at once: the server takes none."""
    bye_sent = anyio.Event()

    async def script(peer: Peer) -> None:
        command = await peer.serve_until("NOOP")
        await peer.send("* BYE going away", f"{command.tag} OK done")
        bye_sent.set()
        await anyio.sleep(LIMIT)  # and the socket stays open

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT / 2):
            async with server.client() as client:
                await client.login("user", "pass")
                await client.noop()
                with pytest.raises(ConnectionLost) as lost:
                    await client.noop()
                assert lost.value.bye == "going away"
                await client.logout()  # nothing to send: not an error


async def test_close_while_commands_pending(anyio_backend: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.gather(PIPELINED, "NOOP")

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                outcomes = await run_all(*[client.noop] * PIPELINED)
                assert all(isinstance(o, ConnectionLost) for o in outcomes), outcomes
                await assert_closed(client)
                assert "server closed the connection" in str(client.close_cause)


async def test_bye_greeting_refused(anyio_backend: str) -> None:
    async def script(peer: Peer) -> None:
        raise AssertionError("not reached")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.send(b"* BYE too many connections\r\n")

    async with no_task_leak():
        with anyio.fail_after(LIMIT):
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, handle)
                client = AsyncClient("127.0.0.1", port, tls=False, connect_timeout=LIMIT)
                with pytest.raises(ConnectionLost, match="too many connections"):
                    await client.connect()
                await client.aclose()
                await client.aclose()
                tg.cancel_scope.cancel()


async def test_close_before_greeting(anyio_backend: str) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        await stream.aclose()

    async with no_task_leak():
        with anyio.fail_after(LIMIT):
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, handle)
                client = AsyncClient("127.0.0.1", port, tls=False, connect_timeout=LIMIT)
                with pytest.raises(ConnectionLost):
                    await client.connect()
                await client.aclose()
                tg.cancel_scope.cancel()


# -- the connection breaks in the middle of a command ---------------------------------------------


@pytest.mark.parametrize("size", [5_000, 3 * 1024 * 1024], ids=["literal", "streamed-literal"])
async def test_close_in_fetch_literal(anyio_backend: str, size: int) -> None:
    """Ten FETCHes in flight; the server closes part way through the first one's literal."""

    async def script(peer: Peer) -> None:
        await peer.gather(PIPELINED, "FETCH")
        await peer.send(f"* 1 FETCH (UID 1 BODY[] {{{size}}}".encode() + b"\r\n" + b"x" * 1000)

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                await client.select("INBOX")
                fetches = [
                    functools.partial(client.fetch, n, ["UID", "BODY[]"])
                    for n in range(1, PIPELINED + 1)
                ]
                outcomes = await run_all(*fetches)
                assert all(isinstance(o, MID_RESPONSE) for o in outcomes), outcomes
                await assert_closed(client, MID_RESPONSE)


async def test_close_in_fetch_to(anyio_backend: str) -> None:
    """A body streamed to a sink: the sink got the octets that came, the call fails."""
    size = 3 * 1024 * 1024
    sent = 200_000

    async def script(peer: Peer) -> None:
        await peer.serve_until("UID FETCH")
        await peer.send(f"* 1 FETCH (UID 7 BODY[] {{{size}}}".encode() + b"\r\n" + b"y" * sent)

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                await client.select("INBOX")
                sink = io.BytesIO()
                with pytest.raises(MID_RESPONSE):
                    await client.fetch_to(7, "", sink)
                assert sink.getvalue() == b"y" * len(sink.getvalue())
                await assert_closed(client, MID_RESPONSE)


async def test_close_during_idle(anyio_backend: str) -> None:
    """IDLE runs, updates come, then the server closes: the iterator raises after handing
    out what came; the commands waiting for IDLE to end fail too."""
    idling = anyio.Event()

    async def script(peer: Peer) -> None:
        await peer.serve_until("IDLE")
        await peer.send("+ idling")
        idling.set()
        await peer.send("* 4 EXISTS", "* 1 RECENT")
        await anyio.sleep(0.2)  # the commands below queue up behind IDLE

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                await client.select("INBOX")
                updates: list[Response] = []
                waiting: list[BaseException | None] = []

                async def others() -> None:
                    await idling.wait()
                    waiting.extend(await run_all(*[client.noop] * (PIPELINED - 1)))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(others)
                    with pytest.raises(ConnectionLost):
                        async with client.idle() as session:
                            async for update in session:
                                updates.append(update)
                assert [type(u) for u in updates][:1] == [ExistsResponse]
                assert client.mailbox.exists == 4
                assert len(waiting) == PIPELINED - 1
                assert all(isinstance(o, ConnectionLost) for o in waiting), waiting
                await assert_closed(client)


@pytest.mark.parametrize("when", ["before-continuation", "after-continuation"])
async def test_close_during_append(anyio_backend: str, when: str) -> None:
    """APPEND of a large message (a synchronizing literal): the server closes before its
    ``+``, or after it, part way through the message."""
    message = b"Subject: big\r\n\r\n" + b"z" * (4 * 1024 * 1024)

    async def script(peer: Peer) -> None:
        await peer.serve_until("APPEND", hold=("NOOP",))
        if when == "after-continuation":
            await peer.send("+ go ahead")
            await peer.read_exactly(100_000)

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                outcomes = await run_all(
                    functools.partial(client.append, "INBOX", message),
                    *[client.noop] * (PIPELINED - 1),
                )
                assert all(isinstance(o, ConnectionLost) for o in outcomes), outcomes
                await assert_closed(client)


async def test_close_during_append_from(anyio_backend: str) -> None:
    """A streamed APPEND whose source is slow: the server closes after ``+``; the call
    fails promptly and stops reading the source."""
    pulled = 0

    async def source() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(100):
            pulled += 1
            yield b"w" * 10_000
            await anyio.sleep(0.01)

    async def script(peer: Peer) -> None:
        await peer.serve_until("APPEND")
        await peer.send("+ go ahead")
        await peer.read_exactly(20_000)

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                with pytest.raises(ConnectionLost):
                    await client.append_from("INBOX", source(), 1_000_000)
                assert pulled < 100
                await assert_closed(client)


@pytest.mark.parametrize("when", ["after-command", "after-challenge"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
async def test_close_during_authenticate(anyio_backend: str, when: str, mechanism: str) -> None:
    """AUTHENTICATE (no SASL-IR: the first message waits for ``+``): the server closes
    before answering, or after its challenge and the client's answer."""

    async def script(peer: Peer) -> None:
        await peer.serve_until("AUTHENTICATE")
        if when == "after-challenge":
            await peer.send("+ ")
            await peer.read_line()
        await anyio.sleep(0.05)  # the NOOPs below queue up behind AUTHENTICATE

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                waiting: list[BaseException | None] = []

                async def others() -> None:
                    await received(server, "AUTHENTICATE", 1)
                    waiting.extend(await run_all(*[client.noop] * (PIPELINED - 1)))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(others)
                    with pytest.raises(ConnectionLost):
                        await client.authenticate(mechanism, "user", "pass")
                assert len(waiting) == PIPELINED - 1
                assert all(isinstance(o, ConnectionLost) for o in waiting), waiting
                await assert_closed(client)


async def test_close_with_commands_waiting_at_the_gate(anyio_backend: str) -> None:
    """A SELECT in flight holds back what follows (RFC 9051 section 5.5): those commands,
    never sent, fail as well."""

    async def script(peer: Peer) -> None:
        await peer.serve_until("SELECT")

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                fetches = [
                    functools.partial(client.fetch, n, ["FLAGS"]) for n in range(1, PIPELINED)
                ]

                outcomes: list[BaseException | None] = []

                async def fetch_later() -> None:
                    await received(server, "SELECT", 1)  # the FETCHes wait for it to end
                    outcomes.extend(await run_all(*fetches))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(fetch_later)
                    outcomes.extend(await run_all(functools.partial(client.select, "INBOX")))
                assert len(outcomes) == PIPELINED
                assert all(isinstance(o, ConnectionLost) for o in outcomes), outcomes
                await assert_closed(client)


async def test_client_closes_with_commands_pending(anyio_backend: str) -> None:
    """`aclose` from another task while commands are in flight: they fail at once."""

    async def script(peer: Peer) -> None:
        await peer.gather(PIPELINED, "NOOP")
        await anyio.sleep(LIMIT)

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT / 2):
            client = await logged_in(server)

            async def close_soon() -> None:
                await received(server, "NOOP", PIPELINED)
                # Not client.aclose(): that must run in the task that connected (it ends the
                # task group the reader runs in); the connection itself closes from anywhere.
                await client.connection.aclose()

            async with anyio.create_task_group() as tg:
                tg.start_soon(close_soon)
                outcomes = await run_all(*[client.noop] * PIPELINED)
            assert all(isinstance(o, ConnectionLost) for o in outcomes), outcomes
            assert client.closed.is_set()
            assert "closed by the client" in str(client.close_cause)
            await client.aclose()
            await client.aclose()


async def received(server: ScriptedServer, name: str, count: int) -> None:
    """Wait until the server has read ``count`` commands called ``name``."""
    while sum(c.name == name for peer in server.peers for c in peer.commands) < count:
        await anyio.sleep(0.005)


# -- malformed responses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"* 1 FETCH (UID 1 BODY[] {12}\r\nabc", id="eof-in-literal"),
        pytest.param(b"* 1 FETCH (UID 1 FLAGS (\\Seen", id="eof-in-line"),
        pytest.param(b"\x00\xff\xfe\x80 binary junk", id="eof-in-junk"),
    ],
)
async def test_truncated_response(anyio_backend: str, garbage: bytes) -> None:
    async def script(peer: Peer) -> None:
        await peer.gather(PIPELINED, "NOOP")
        await peer.send(garbage)

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                outcomes = await run_all(*[client.noop] * PIPELINED)
                assert all(isinstance(o, MID_RESPONSE) for o in outcomes), outcomes
                await assert_closed(client, MID_RESPONSE)


async def test_malformed_lines_are_skipped(anyio_backend: str) -> None:
    """Lines that cannot be parsed but leave the stream in step are skipped (and logged);
    the connection goes on and the commands complete."""

    async def script(peer: Peer) -> None:
        commands = await peer.gather(PIPELINED, "NOOP")
        await peer.send(
            "* 1 FETCH (((",
            "* 1 FETCH " + "(" * 1000,
            "* NOT-A-RESPONSE ]]]",
            "+ stray continuation",
            "X999 OK a tag nobody sent",
            "* 2 FETCH (FLAGS (\\Seen) UID x)",
            "* 3 EXISTS",
        )
        await peer.send(b"\x00\xff garbage line\r\n")
        for command in commands:
            await peer.send(f"{command.tag} OK done")
        await peer.serve_until("LOGOUT")

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                outcomes = await run_all(*[client.noop] * PIPELINED)
                assert outcomes == [None] * PIPELINED
                assert client.mailbox.exists == 3  # the good line after the bad ones
                assert not client.closed.is_set()
                await client.logout()


@pytest.mark.anyio
async def test_malformed_completion_fails_its_command(anyio_backend: str) -> None:
    """A tagged completion that cannot be parsed fails its own command at once (it will
    never be answered again); the others complete and the connection goes on."""

    async def script(peer: Peer) -> None:
        first, second = await peer.gather(2, "NOOP")
        await peer.send(f"{first.tag} BOGUS not a status")
        await peer.send(f"{second.tag} OK done")
        await peer.serve_until("LOGOUT")

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                outcomes = await run_all(client.noop, client.noop)
                # Which task's NOOP went out first is the scheduler's choice.
                assert sum(isinstance(o, ProtocolViolation) for o in outcomes) == 1
                assert outcomes.count(None) == 1
                assert not client.closed.is_set()
                await client.logout()


async def test_overlong_line_skipped(anyio_backend: str) -> None:
    """A response over the client's line limit is dropped, not buffered without bound."""

    async def script(peer: Peer) -> None:
        command = await peer.serve_until("NOOP")
        await peer.send("* SEARCH " + " ".join(["1"] * 5000), f"{command.tag} OK done")
        await peer.serve_until("LOGOUT")

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client(limits=Limits(max_line_length=1000)) as client:
                await client.login("user", "pass")
                await client.noop()
                await client.logout()


# -- pipelining -----------------------------------------------------------------------------------


async def test_pipelined_answers_in_reverse_order(anyio_backend: str) -> None:
    """A hundred commands in flight: the server reads them all before answering any, then
    answers the last first, data first; each command gets its own data."""
    count = 100

    async def script(peer: Peer) -> None:
        await peer.send("* 100 EXISTS")
        commands = await peer.gather(count, "FETCH")
        for command in reversed(commands):
            n = int(command.args.split(" ", 1)[0])
            await peer.send(
                f'* {n} FETCH (UID {1000 + n} ENVELOPE (NIL "subject {n}" NIL NIL NIL NIL '
                f"NIL NIL NIL NIL))",
                f"{command.tag} OK done",
            )
        await peer.serve_until("LOGOUT")

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT):
            async with server.client() as client:
                await client.login("user", "pass")
                await client.select("INBOX")
                results: dict[int, FetchResponse] = {}

                async def one(n: int) -> None:
                    [result] = await client.fetch(n, ["UID", "ENVELOPE"])
                    results[n] = result

                async with anyio.create_task_group() as tg:
                    for n in range(1, count + 1):
                        tg.start_soon(one, n)
                assert sorted(results) == list(range(1, count + 1))
                for n, result in results.items():
                    assert result.seq == n and result.uid == 1000 + n
                    assert result.envelope is not None
                    assert result.envelope.subject == f"subject {n}"
                await client.logout()


async def test_hundred_in_flight(target: Target) -> None:
    """A hundred commands at once on one connection against a real server (FETCH, STATUS,
    SEARCH mixed), each result its own."""
    count = 100
    messages = 8
    async with target.client() as client:
        await client.login(target.user, target.password)
        for n in range(1, messages + 1):
            await client.append("INBOX", message(n), flags=["\\Seen"] if n % 2 else [])
        for n, name in enumerate(("Archive", "Drafts", "Junk")):
            for _ in range(n + 1):
                await client.append(name, message(100 + n))
        await client.select("INBOX")
        expected_status = {"Archive": 1, "Drafts": 2, "Junk": 3, "INBOX": messages}
        checked: list[str] = []

        async def fetch(i: int) -> None:
            n = i % messages + 1
            [result] = await client.fetch(n, ["UID", "ENVELOPE"])
            assert result.seq == n
            assert result.envelope is not None and result.envelope.subject == f"message {n}"
            checked.append("FETCH")

        async def status(i: int) -> None:
            name = sorted(expected_status)[i % len(expected_status)]
            result = await client.status(name, ["MESSAGES"])
            assert (result.mailbox, result.messages) == (name, expected_status[name])
            checked.append("STATUS")

        async def search(i: int) -> None:
            n = i % messages + 1
            assert await client.search(f'SUBJECT "message {n}"') == [n]
            checked.append("SEARCH")

        kinds = (fetch, fetch, status, search)
        before = task_ids()
        with anyio.fail_after(LIMIT * 2):
            async with anyio.create_task_group() as tg:
                for i in range(count):
                    tg.start_soon(kinds[i % len(kinds)], i)
        assert len(checked) == count
        assert task_ids() == before
        await client.logout()


def message(n: int) -> bytes:
    return (
        f"From: sender{n}@example.com\r\nTo: you@example.com\r\nSubject: message {n}\r\n"
        f"Message-ID: <m{n}@example.com>\r\n\r\nbody {n}\r\n"
    ).encode()


# -- timeouts -------------------------------------------------------------------------------------


async def test_command_timeout_gives_the_connection_up(anyio_backend: str) -> None:
    """Commands sent and never answered: each caller gets `ImapTimeout` (or `ConnectionLost`
    once the first timeout closed the connection), and the connection is closed rather than
    left with commands in flight that a SELECT would wait for forever."""

    async def script(peer: Peer) -> None:
        await peer.gather(PIPELINED, "NOOP")  # never answered
        await anyio.sleep(LIMIT)

    async with no_task_leak(), scripted_server(script) as server:
        with anyio.fail_after(LIMIT / 2):
            async with server.client(timeout=0.3) as client:
                await client.login("user", "pass")
                outcomes = await run_all(*[client.noop] * PIPELINED)
                assert all(isinstance(o, ImapTimeout | ConnectionLost) for o in outcomes)
                assert any(isinstance(o, ImapTimeout) for o in outcomes), outcomes
                assert client.closed.is_set()
                assert "timed out" in str(client.close_cause)
                with pytest.raises(ConnectionLost):
                    await client.select("INBOX")
