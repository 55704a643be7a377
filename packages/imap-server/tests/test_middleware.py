"""The middleware pipeline end to end: Recovery, CommandTimeout, RateLimit, Metrics,
CommandLog, AuthThrottle, and the pipeline itself (order, `CommandCall`).

Each case runs a real server on 127.0.0.1 with the middleware under test and checks what the
client sees (the exact response), what the middleware recorded, and that the server is
still healthy afterwards: a fresh connection logs in and runs NOOP (`assert_healthy`).

A small test extension adds commands whose handlers misbehave on purpose: ``XSLOW`` sleeps,
``XBOOM`` raises RuntimeError, ``XPARSE`` raises `imap_wire.ProtocolError`, ``XFLOOD``
writes untagged responses until cancelled, ``XPING`` just records that it ran, ``XENCODE``
sends a response the wire cannot encode (a server bug).

No assertion is about timing; sleeps only let time pass (a window expire, a handler that
was not cancelled finish).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import anyio
import anyio.abc
import pytest

from imap_server import CommandContext, ServerExtension
from imap_server.errors import AuthenticationFailed, CommandFailed
from imap_server.memory import MemoryStore
from imap_server.middleware import (
    AuthThrottle,
    CallNext,
    CommandCall,
    CommandLog,
    CommandMetrics,
    CommandTimeout,
    Metrics,
    Middleware,
    RateLimit,
    Recovery,
    TokenBucket,
    compose,
    default_middleware,
)
from imap_server.server import Server
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_server.testing.transcript import TranscriptClient, login_steps
from imap_wire import (
    Command,
    ConnectionState,
    Cursor,
    Login,
    Noop,
    ParseContext,
    ProtocolError,
    Registry,
    ResponseStatus,
    StatusResponse,
)
from imap_wire.sasl import ScramSha256Client

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
LOCKED = "NO [AUTHENTICATIONFAILED] Too many failed logins; try again later"
AUTH_FAILED = "NO [AUTHENTICATIONFAILED] Authentication failed"
SERVERBUG = "NO [SERVERBUG] internal server error"
SLOW_DOWN = "NO [LIMIT] Too many commands; slow down"

#: Small AuthThrottle delays, so failures cost next to nothing.
FAST: dict[str, Any] = {"base_delay": 0.01, "max_delay": 0.05}


# -- the store -------------------------------------------------------------------------------


class FastStore(MemoryStore):
    """Cheap password hashes."""

    scrypt_n = 16


def new_store() -> FastStore:
    store = FastStore()
    store.add_user("user", "pass")
    store.add_user("alice", "apass")
    return store


# -- the test extension ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeCommand(Command):
    """``tag XSLOW`` and the other probe commands (no arguments)."""

    name: ClassVar[str] = "XPROBE"
    verb: str

    @property
    def command_name(self) -> str:
        return self.verb


PROBE_VERBS = ("XSLOW", "XBOOM", "XPARSE", "XFLOOD", "XPING", "XENCODE")


def _probe_parser(verb: str) -> Callable[[str, Cursor, ParseContext], ProbeCommand]:
    def parse(tag: str, cursor: Cursor, ctx: ParseContext) -> ProbeCommand:
        cursor.end(verb)
        return ProbeCommand(tag=tag, verb=verb)

    return parse


def install_probe_grammar(registry: Registry) -> None:
    states = frozenset(
        {
            ConnectionState.NOT_AUTHENTICATED,
            ConnectionState.AUTHENTICATED,
            ConnectionState.SELECTED,
        }
    )
    for verb in PROBE_VERBS:
        registry.commands[verb] = _probe_parser(verb)
        registry.command_states[verb] = states


@dataclass
class Probe:
    """What the probe handlers did (and how long XSLOW sleeps)."""

    seconds: float = 10.0
    started: bool = False
    after_sleep: bool = False
    finally_ran: bool = False
    events: list[str] = field(default_factory=list)


def _untagged(text: str) -> StatusResponse:
    return StatusResponse(tag=None, status=ResponseStatus.OK, text=text)


def probe_extension(probe: Probe) -> ServerExtension:
    async def xslow(ctx: CommandContext, command: ProbeCommand) -> None:
        probe.started = True
        await ctx.out.send(_untagged("slow started"))
        try:
            await anyio.sleep(probe.seconds)
            probe.after_sleep = True
        finally:
            probe.finally_ran = True

    async def xboom(ctx: CommandContext, command: ProbeCommand) -> None:
        raise RuntimeError("kaboom-internal-detail")

    async def xparse(ctx: CommandContext, command: ProbeCommand) -> None:
        raise ProtocolError("XPARSE argument is malformed")

    async def xflood(ctx: CommandContext, command: ProbeCommand) -> None:
        line = _untagged("x" * 4000)
        while True:
            await ctx.out.send(line)

    async def xping(ctx: CommandContext, command: ProbeCommand) -> None:
        probe.events.append("handler")

    async def xencode(ctx: CommandContext, command: ProbeCommand) -> None:
        # A server bug: a response the wire cannot express (LocalProtocolError).
        await ctx.out.send(_untagged("line\r\nbreak"))

    return ServerExtension(
        name="middleware-probe",
        handlers={
            "XSLOW": xslow,
            "XBOOM": xboom,
            "XPARSE": xparse,
            "XFLOOD": xflood,
            "XPING": xping,
            "XENCODE": xencode,
        },
        wire=install_probe_grammar,
    )


# -- servers and clients ---------------------------------------------------------------------


@asynccontextmanager
async def running(
    middleware: Sequence[Middleware] | None,
    probe: Probe | None = None,
    **options: Any,
) -> AsyncIterator[RunningServer]:
    """A server on 127.0.0.1 with ``middleware`` (None: the default) and the probe commands;
    stopped when the block ends."""
    async with serve_for_tests(
        new_store(),
        middleware=middleware,
        extensions=[probe_extension(probe if probe is not None else Probe())],
        **options,
    ) as running_server:
        yield running_server


async def open_client(running: RunningServer, local_host: str | None = None) -> TranscriptClient:
    stream = await anyio.connect_tcp(running.host, running.port, local_host=local_host)
    return TranscriptClient(stream, timeout=TIMEOUT)


async def assert_healthy(
    running: RunningServer,
    *,
    local_host: str | None = None,
    user: str = "user",
    password: str = "pass",
) -> None:
    """A fresh connection logs in, runs NOOP and logs out."""
    async with await open_client(running, local_host) as client:
        await client.play(
            login_steps(user, password)
            + """
            C: h1 NOOP
            S: h1 OK NOOP completed
            C: h2 LOGOUT
            S: * BYE ...
            S: h2 OK ...
            S: <closed>
            """
        )


async def wait_until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for something the server does right after writing a response."""
    with anyio.fail_after(TIMEOUT):
        while not condition():
            await anyio.sleep(0.005)


class RawClient:
    """A client on a raw socket that counts the octets it sends and receives."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.sent = 0
        self.received = 0
        self.closed = False

    @classmethod
    async def open(cls, running: RunningServer, local_host: str | None = None) -> RawClient:
        return cls(await anyio.connect_tcp(running.host, running.port, local_host=local_host))

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stream.aclose()

    def mark(self) -> None:
        """Start counting afresh (for the next command)."""
        self.sent = self.received = 0

    async def send(self, data: bytes) -> None:
        self.sent += len(data)
        await self.stream.send(data)

    async def _fill(self) -> bool:
        try:
            with anyio.fail_after(TIMEOUT):
                data = await self.stream.receive(65536)
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
            data = b""
        if not data:
            self.closed = True
            return False
        self.buffer += data
        return True

    async def line(self) -> bytes:
        """The next line, CRLF included (b"" once the server closed the connection)."""
        while b"\r\n" not in self.buffer:
            if not await self._fill():
                rest, self.buffer = self.buffer, b""
                self.received += len(rest)
                return rest
        end = self.buffer.index(b"\r\n") + 2
        line, self.buffer = self.buffer[:end], self.buffer[end:]
        self.received += len(line)
        return line

    async def until_tagged(self, tag: str) -> list[bytes]:
        """Lines up to and including the tagged response of ``tag``."""
        lines: list[bytes] = []
        while True:
            line = await self.line()
            if not line:
                raise AssertionError(f"connection closed before {tag}; got {lines!r}")
            lines.append(line)
            if line.startswith(tag.encode() + b" "):
                return lines

    async def command(self, tag: str, data: bytes) -> tuple[int, int, list[bytes]]:
        """Send ``data`` (one or more lines, literals inline), read to the tagged response;
        return the octets sent and received for it, and the lines."""
        self.mark()
        await self.send(data)
        lines = await self.until_tagged(tag)
        return self.sent, self.received, lines

    async def read_to_end(self) -> bytes:
        while await self._fill():
            pass
        rest, self.buffer = self.buffer, b""
        return rest


def plain(user: str, password: str) -> str:
    """The AUTHENTICATE PLAIN initial response."""
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


async def scram_login(client: RawClient, tag: str, user: str, password: str) -> bytes:
    """AUTHENTICATE SCRAM-SHA-256 driven with imap_wire's client mechanism; return the
    tagged response line."""
    mech = ScramSha256Client(user, password)
    first = mech.initial_response()
    assert first is not None
    await client.send(
        f"{tag} AUTHENTICATE SCRAM-SHA-256 {base64.b64encode(first).decode()}\r\n".encode()
    )
    while True:
        line = await client.line()
        if not line.startswith(b"+"):
            assert line.startswith(tag.encode() + b" "), line
            return line.rstrip(b"\r\n")
        challenge = base64.b64decode(line[1:].strip())
        if mech.complete:
            # A server-final-message: nothing more to say.
            await client.send(b"\r\n")
            continue
        answer = mech.respond(challenge)
        await client.send(base64.b64encode(answer) + b"\r\n")


# -- middleware the tests compose --------------------------------------------------------------


class Recorder:
    """Notes entering and leaving, to see the pipeline order."""

    def __init__(self, label: str, events: list[str]) -> None:
        self.label = label
        self.events = events

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        self.events.append(f"{self.label}>{call.name}")
        response = await call_next(call)
        self.events.append(f"{self.label}<{call.name}")
        return response


class Exploding:
    """A buggy middleware: raises for every command whose tag starts with ``boom``."""

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        if call.tag.startswith("boom"):
            raise ValueError("middleware bug")
        return await call_next(call)


class Capture:
    """Keeps each call and its repr when it entered and when it left."""

    def __init__(self) -> None:
        self.calls: list[CommandCall] = []
        self.reprs: list[str] = []

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        self.calls.append(call)
        self.reprs.append(repr(call))
        response = await call_next(call)
        self.reprs.append(repr(call))
        return response


class RecordingThrottle(AuthThrottle):
    """An AuthThrottle that notes the failure count each delay was computed for."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.delay_counts: list[int] = []

    def _delay(self, count: int) -> float:
        self.delay_counts.append(count)
        return super()._delay(count)


def fake_call(
    command: Command, name: str, *, remote: str | None = "10.0.0.1", user: str | None = None
) -> CommandCall:
    """A CommandCall outside a server (for unit tests of the middleware)."""
    context = SimpleNamespace(
        connection=SimpleNamespace(username=user, bytes_consumed=0, bytes_queued=0),
        info=SimpleNamespace(remote=(remote, 40000) if remote is not None else None),
    )
    return CommandCall(
        command=command, name=name, tag=command.tag, context=cast(CommandContext, context)
    )


async def answer_ok(call: CommandCall) -> StatusResponse:
    return StatusResponse(tag=call.tag, status=ResponseStatus.OK, text="done")


# == the pipeline ==============================================================================


async def test_pipeline_order_first_is_outermost() -> None:
    probe = Probe()
    events = probe.events
    pipeline = [Recorder("outer", events), Recorder("middle", events), Recorder("inner", events)]
    async with running(pipeline, probe) as server:
        async with await open_client(server) as client:
            await client.play(login_steps())
            events.clear()
            await client.play("C: p1 XPING\nS: p1 OK XPING completed")
        assert events == [
            "outer>XPING",
            "middle>XPING",
            "inner>XPING",
            "handler",
            "inner<XPING",
            "middle<XPING",
            "outer<XPING",
        ]
        await assert_healthy(server)


async def test_compose_chains_first_outermost() -> None:
    events: list[str] = []

    async def innermost(call: CommandCall) -> StatusResponse:
        events.append("innermost")
        return await answer_ok(call)

    chain = compose([Recorder("a", events), Recorder("b", events)], innermost)
    response = await chain(fake_call(Noop(tag="t1"), "NOOP"))
    assert response.tag == "t1" and response.status is ResponseStatus.OK
    assert events == ["a>NOOP", "b>NOOP", "innermost", "b<NOOP", "a<NOOP"]
    assert compose([], innermost) is innermost


def test_middleware_protocol_is_runtime_checkable() -> None:
    for piece in (
        Recovery(),
        CommandLog(),
        Metrics(lambda m: None),
        CommandTimeout(),
        RateLimit(),
        AuthThrottle(),
    ):
        assert isinstance(piece, Middleware)


# == CommandCall ===============================================================================


def test_command_call_repr_has_no_arguments() -> None:
    call = fake_call(
        Login(tag="a1", username="someone", password="Hunter2-Secret"), "LOGIN", remote="10.1.2.3"
    )
    text = repr(call)
    assert text == "<CommandCall a1 LOGIN remote='10.1.2.3' user=None>"
    assert "Hunter2-Secret" not in text and "someone" not in text
    assert "Hunter2-Secret" not in str(call)


async def test_command_call_repr_on_a_live_server_has_no_arguments() -> None:
    capture = Capture()
    store = new_store()
    store.add_user("secretuser", "Hunter2-Secret")
    body = b"Subject: TOP-SECRET-BODY"
    async with serve_for_tests(store, middleware=[capture, Recovery()]) as server:
        async with await open_client(server) as client:
            await client.play(
                f"""
                S: * OK ...
                C: a1 LOGIN secretuser Hunter2-Secret
                S: a1 OK ...
                C: a2 SELECT Private-Box-42
                S: a2 NO ...
                C: a3 APPEND INBOX {{{len(body)}+}}
                C+ {body.decode()}
                C:
                S: a3 OK ...
                C: a4 SELECT INBOX
                S: ...
                S: a4 OK ...
                C: a5 SEARCH TEXT needle-xyz
                S: * SEARCH
                S: a5 OK ...
                """
            )
        assert [c.name for c in capture.calls] == ["LOGIN", "SELECT", "APPEND", "SELECT", "SEARCH"]
        # Entering LOGIN: not logged in yet, and neither argument shows.
        assert capture.reprs[0] == "<CommandCall a1 LOGIN remote='127.0.0.1' user=None>"
        assert capture.reprs[1] == "<CommandCall a1 LOGIN remote='127.0.0.1' user='secretuser'>"
        for text in capture.reprs + [repr(c) for c in capture.calls]:
            for secret in ("Hunter2-Secret", "Private-Box-42", "TOP-SECRET-BODY", "needle-xyz"):
                assert secret not in text, text
        await assert_healthy(server)


# == Recovery ==================================================================================


async def test_recovery_turns_a_handler_exception_into_serverbug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="imap_server")
    async with running([Recovery()]) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + f"""
                C: b1 XBOOM
                S: b1 {SERVERBUG}
                C: b2 NOOP
                S: b2 OK NOOP completed
                C: b3 XBOOM
                S: b3 {SERVERBUG}
                C: b4 XPING
                S: b4 OK XPING completed
                """
            )
            assert not any("kaboom" in line for line in client.received)
        await assert_healthy(server)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2
    for record in errors:
        assert record.name == "imap_server"
        assert record.getMessage() == "error in XBOOM (user user, from 127.0.0.1)"
        assert record.exc_info is not None and record.exc_info[0] is RuntimeError
        assert "kaboom-internal-detail" in str(record.exc_info[1])


async def test_recovery_answers_bad_for_a_protocol_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imap_server")
    async with running([Recovery()]) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + """
                C: p1 XPARSE
                S: p1 BAD XPARSE argument is malformed
                C: p2 NOOP
                S: p2 OK NOOP completed
                """
            )
        await assert_healthy(server)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_recovery_treats_an_encoding_failure_as_a_server_bug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="imap_server")
    async with running([Recovery()]) as server:
        async with await open_client(server) as client:
            await client.play(login_steps() + "C: e1 XENCODE\nS: e1 ...")
            await client.play("C: n1 NOOP\nS: n1 OK NOOP completed")
            assert client.received[-2] == f"e1 {SERVERBUG}"
        await assert_healthy(server)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None


async def test_without_recovery_an_encoding_failure_is_a_server_bug() -> None:
    async with running([]) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + f"""
                C: e1 XENCODE
                S: e1 {SERVERBUG}
                C: n1 NOOP
                S: n1 OK NOOP completed
                """
            )
        await assert_healthy(server)


async def test_exception_in_middleware_outside_recovery_hits_the_last_resort(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="imap_server")
    async with running([Exploding(), Recovery()]) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + f"""
                C: boom1 NOOP
                S: boom1 {SERVERBUG}
                C: n2 NOOP
                S: n2 OK NOOP completed
                """
            )
        await assert_healthy(server)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == "error in NOOP"
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is ValueError


async def test_without_recovery_the_connection_still_answers_serverbug() -> None:
    async with running([]) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + f"""
                C: b1 XBOOM
                S: b1 {SERVERBUG}
                C: b2 NOOP
                S: b2 OK NOOP completed
                """
            )
        await assert_healthy(server)


@pytest.mark.parametrize("recovery_outside", [True, False])
async def test_recovery_lets_a_timeout_through(
    caplog: pytest.LogCaptureFixture, recovery_outside: bool
) -> None:
    caplog.set_level(logging.INFO, logger="imap_server")
    pieces: list[Middleware] = [Recovery(), CommandTimeout(0.2)]
    if not recovery_outside:
        pieces.reverse()
    async with running(pieces, Probe(seconds=10)) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + """
                C: t1 XSLOW
                S: * OK slow started
                S: t1 NO [LIMIT] XSLOW took too long and was cancelled
                """
            )
        await assert_healthy(server)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# == CommandTimeout ============================================================================


async def test_timeout_cancels_the_handler() -> None:
    # The handler would finish after 0.6 s: long after the 0.2 s limit, soon enough to see
    # it did not keep running in the background.
    probe = Probe(seconds=0.6)
    async with running([Recovery(), CommandTimeout(0.2)], probe) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + """
                C: t1 XSLOW
                S: * OK slow started
                S: t1 NO [LIMIT] XSLOW took too long and was cancelled
                """
            )
            assert probe.started
            assert probe.finally_ran
            await anyio.sleep(0.8)
            assert not probe.after_sleep
            await client.play("C: t2 NOOP\nS: t2 OK NOOP completed")
        await assert_healthy(server)


async def test_timeout_spares_a_fast_command() -> None:
    probe = Probe(seconds=0.01)
    async with running([Recovery(), CommandTimeout(5)], probe) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + """
                C: t1 XSLOW
                S: * OK slow started
                S: t1 OK XSLOW completed
                """
            )
        assert probe.after_sleep and probe.finally_ran


async def test_timeout_does_not_cut_idle() -> None:
    async with running([Recovery(), CommandTimeout(0.2)]) as server:
        async with await open_client(server) as client:
            await client.play(login_steps() + "C: i1 IDLE\nS: + idling")
            await anyio.sleep(0.5)
            await client.play("C: DONE\nS: i1 OK IDLE completed\nC: i2 NOOP\nS: i2 OK ...")
        await assert_healthy(server)


async def test_timeout_cuts_idle_when_not_exempt() -> None:
    # The counterpart of the test above: the exemption is what keeps IDLE alive.
    async with running([Recovery(), CommandTimeout(0.2, exempt=())]) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + """
                C: i1 IDLE
                S: + idling
                S: i1 NO [LIMIT] IDLE took too long and was cancelled
                C: i2 NOOP
                S: i2 OK NOOP completed
                """
            )
        await assert_healthy(server)


async def test_timeout_custom_exempt() -> None:
    probe = Probe(seconds=0.5)
    async with running([Recovery(), CommandTimeout(0.1, exempt=["xslow"])], probe) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + """
                C: t1 XSLOW
                S: * OK slow started
                S: t1 OK XSLOW completed
                """
            )
        assert probe.after_sleep


async def test_timeout_per_command_shorter() -> None:
    probe = Probe(seconds=10)
    timeout = CommandTimeout(60, per_command={"xslow": 0.2})
    assert timeout.per_command == {"XSLOW": 0.2}
    async with running([Recovery(), timeout], probe) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + """
                C: t1 XSLOW
                S: * OK slow started
                S: t1 NO [LIMIT] XSLOW took too long and was cancelled
                """
            )
        assert probe.finally_ran and not probe.after_sleep
        await assert_healthy(server)


async def test_timeout_per_command_longer() -> None:
    probe = Probe(seconds=0.4)
    timeout = CommandTimeout(0.1, per_command={"XSLOW": 30})
    async with running([Recovery(), timeout], probe) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + """
                C: t1 XSLOW
                S: * OK slow started
                S: t1 OK XSLOW completed
                """
            )
        assert probe.after_sleep


async def test_timeout_cutting_a_write_closes_the_connection() -> None:
    # XFLOOD writes until cancelled; the client reads nothing, so the write blocks and the
    # timeout cuts it half way: the client could not tell where a response ends, so the
    # connection is closed rather than answered.
    async with running([Recovery(), CommandTimeout(0.3)]) as server:
        async with await RawClient.open(server) as client:
            await client.line()
            await client.command("l1", b"l1 LOGIN user pass\r\n")
            await client.send(b"f1 XFLOOD\r\n")
            await anyio.sleep(1.0)
            rest = await client.read_to_end()
            assert client.closed
            assert b"* OK xxxx" in rest  # the flood did reach the client, in part
            assert b"f1 " not in rest
        await wait_until(lambda: not server.server.connections)
        await assert_healthy(server)


def test_timeout_rejects_bad_config() -> None:
    with pytest.raises(ValueError):
        CommandTimeout(0)
    with pytest.raises(ValueError):
        CommandTimeout(-1)


# == RateLimit =================================================================================


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2.0, burst=4.0, now=0.0)
    assert bucket.full(0.0)
    for _ in range(4):
        assert bucket.wait_for_one(0.0) == 0.0
        bucket.take()
    assert bucket.wait_for_one(0.0) == pytest.approx(0.5)
    bucket.take()  # into debt: the next take waits longer
    assert bucket.level == pytest.approx(-1.0)
    assert bucket.wait_for_one(0.0) == pytest.approx(1.0)
    assert bucket.wait_for_one(1.0) == 0.0  # refilled by 2 tokens
    assert not bucket.full(1.0)
    assert bucket.full(10.0)
    assert bucket.level == 4.0  # never above the burst


def test_rate_limit_rejects_bad_config() -> None:
    cases: list[dict[str, Any]] = [
        {"per_connection": 0.0},
        {"per_connection": -1.0},
        {"per_address": 0.0},
        {"burst": 0.0},
        {"max_delay": -0.1},
    ]
    for kwargs in cases:
        with pytest.raises(ValueError):
            RateLimit(**kwargs)
    RateLimit(per_connection=None, per_address=None)  # no limit at all is allowed


async def test_rate_limit_per_connection_refuses_after_the_burst() -> None:
    # 0.1 commands a second, 3 saved up: a fourth command would wait 10 s.
    limit = RateLimit(per_connection=0.1, per_address=None, burst=30, max_delay=0)
    async with running([Recovery(), limit]) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + f"""
                C: r1 NOOP
                S: r1 OK NOOP completed
                C: r2 NOOP
                S: r2 OK NOOP completed
                C: r3 NOOP
                S: r3 {SLOW_DOWN}
                C: r4 XPING
                S: r4 {SLOW_DOWN}
                C: z LOGOUT
                S: * BYE ...
                S: z OK LOGOUT completed
                S: <closed>
                """
            )
        # A new connection has its own bucket.
        await assert_healthy(server)


async def test_rate_limit_refused_command_does_not_run() -> None:
    probe = Probe()
    limit = RateLimit(per_connection=0.1, per_address=None, burst=10, max_delay=0)
    async with running([limit], probe) as server:
        async with await open_client(server) as client:
            await client.play(
                f"""
                S: * OK ...
                C: r1 XPING
                S: r1 OK XPING completed
                C: r2 XPING
                S: r2 {SLOW_DOWN}
                """
            )
        assert probe.events == ["handler"]


async def test_rate_limit_delays_within_max_delay() -> None:
    # 20 a second, 2 saved up: the commands after the burst wait ~50 ms each, under max_delay.
    limit = RateLimit(per_connection=20, per_address=None, burst=0.1, max_delay=5)
    async with running([Recovery(), limit]) as server:
        async with await open_client(server) as client:
            script = login_steps()
            for i in range(6):
                script += f"\nC: r{i} NOOP\nS: r{i} OK NOOP completed"
            await client.play(script)
        await assert_healthy(server)


async def test_rate_limit_per_address_is_shared_between_connections() -> None:
    limit = RateLimit(per_connection=None, per_address=0.1, burst=30, max_delay=0)
    async with running([Recovery(), limit]) as server:
        async with await open_client(server) as first, await open_client(server) as second:
            await first.play(login_steps())  # token 1
            await second.play(login_steps())  # token 2
            await first.play("C: a1 NOOP\nS: a1 OK NOOP completed")  # token 3
            await second.play(f"C: b1 NOOP\nS: b1 {SLOW_DOWN}")
            await first.play(f"C: a2 NOOP\nS: a2 {SLOW_DOWN}")
            # LOGOUT is exempt.
            await second.play("C: b2 LOGOUT\nS: * BYE ...\nS: b2 OK LOGOUT completed")
        # Another address has its own bucket.
        await assert_healthy(server, local_host="127.0.0.2")
        assert set(limit._addresses) == {"127.0.0.1", "127.0.0.2"}


async def test_rate_limit_custom_exempt() -> None:
    limit = RateLimit(per_connection=0.1, per_address=None, burst=10, max_delay=0, exempt=["noop"])
    async with running([limit]) as server, await open_client(server) as client:
        await client.play(
            login_steps()
            + f"""
                C: r1 NOOP
                S: r1 OK NOOP completed
                C: r2 NOOP
                S: r2 OK NOOP completed
                C: r3 XPING
                S: r3 {SLOW_DOWN}
                """
        )


def test_rate_limit_forgets_idle_addresses_first() -> None:
    limit = RateLimit(per_connection=None, per_address=1.0, burst=2.0, max_addresses=3)
    calls = {a: fake_call(Noop(tag="t"), "NOOP", remote=a) for a in "ABCDE"}
    for address in "ABC":
        limit._buckets(calls[address], 0.0)
    for address in "BC":  # B and C are busy, A is idle (full)
        limit._buckets(calls[address], 0.0)[0].take()
    limit._buckets(calls["D"], 0.01)
    assert set(limit._addresses) == {"B", "C", "D"}
    limit._addresses["D"].take()
    # Every bucket busy: the oldest goes.
    limit._buckets(calls["E"], 0.02)
    assert list(limit._addresses) == ["C", "D", "E"]


async def test_rate_limit_max_addresses_bounds_memory() -> None:
    limit = RateLimit(per_connection=None, per_address=1.0, burst=1.0, max_delay=0, max_addresses=5)
    for i in range(50):
        call = fake_call(Noop(tag=f"t{i}"), "NOOP", remote=f"10.0.{i // 256}.{i % 256}")
        response = await limit(call, answer_ok)
        assert response.status is ResponseStatus.OK
        assert len(limit._addresses) <= 5
    assert "10.0.0.49" in limit._addresses


# == Metrics ===================================================================================


async def test_metrics_figures_match_the_wire() -> None:
    observed: list[CommandMetrics] = []
    body = b"From: a@example.org\r\nSubject: metrics\r\n\r\nHello there.\r\n"
    async with running([Metrics(observed.append)]) as server:
        async with await RawClient.open(server) as client:
            await client.line()  # the greeting is no command's
            expected: list[tuple[str, int, int]] = []

            async def run(tag: str, name: str, data: bytes) -> list[bytes]:
                sent, received, lines = await client.command(tag, data)
                expected.append((name, sent, received))
                return lines

            lines = await run("m1", "LOGIN", b"m1 LOGIN user wrong\r\n")
            assert lines == [b"m1 " + AUTH_FAILED.encode() + b"\r\n"]
            await run("m2", "LOGIN", b"m2 LOGIN user pass\r\n")
            await run("m3", "SELECT", b"m3 SELECT INBOX\r\n")
            literal = b"m4 APPEND INBOX (\\Seen) {%d+}\r\n%s\r\n" % (len(body), body)
            lines = await run("m4", "APPEND", literal)
            assert lines[-1].startswith(b"m4 OK [APPENDUID ")
            lines = await run("m5", "FETCH", b"m5 FETCH 1 BODY.PEEK[]\r\n")
            assert body in b"".join(lines)
            await run("m6", "UID FETCH", b"m6 UID FETCH 1 (FLAGS)\r\n")

            # IDLE: the continuation and DONE belong to the command.
            client.mark()
            await client.send(b"m7 IDLE\r\n")
            assert await client.line() == b"+ idling\r\n"
            await client.send(b"DONE\r\n")
            await client.until_tagged("m7")
            expected.append(("IDLE", client.sent, client.received))

            # Two commands in one write: each gets its own octets.
            client.mark()
            await client.send(b"p1 NOOP\r\np2 NOOP\r\n")
            assert await client.until_tagged("p1") == [b"p1 OK NOOP completed\r\n"]
            assert await client.until_tagged("p2") == [b"p2 OK NOOP completed\r\n"]
            expected += [("NOOP", 9, 22), ("NOOP", 9, 22)]

            await run("m9", "LOGOUT", b"m9 LOGOUT\r\n")
        await wait_until(lambda: len(observed) == len(expected))
        await assert_healthy(server)

    got = [(m.name, m.bytes_in, m.bytes_out) for m in observed[: len(expected)]]
    assert got == expected
    first, second = observed[0], observed[1]
    assert first.status is ResponseStatus.NO and first.code == "AUTHENTICATIONFAILED"
    assert first.user is None and first.remote == "127.0.0.1"
    assert second.status is ResponseStatus.OK and second.code == "CAPABILITY"
    assert second.user == "user"
    assert [m.code for m in observed[2:5]] == ["READ-WRITE", "APPENDUID", None]
    assert all(m.user == "user" and m.remote == "127.0.0.1" for m in observed[1 : len(expected)])
    assert all(m.duration >= 0 for m in observed)


async def test_metrics_counts_the_literal_continuation_of_append() -> None:
    observed: list[CommandMetrics] = []
    async with running([Metrics(observed.append)]) as server:
        async with await RawClient.open(server) as client:
            await client.line()
            await client.command("l1", b"l1 LOGIN user pass\r\n")
            client.mark()
            await client.send(b"a1 APPEND INBOX {5}\r\n")
            assert await client.line() == b"+ Ready for literal data\r\n"
            await client.send(b"hello\r\n")
            await client.until_tagged("a1")
            sent, received = client.sent, client.received
        await wait_until(lambda: len(observed) >= 2)
    assert observed[1].name == "APPEND"
    assert observed[1].bytes_in == sent
    assert observed[1].bytes_out == received


async def test_metrics_does_not_charge_a_rejected_line_to_the_next_command() -> None:
    observed: list[CommandMetrics] = []
    async with running([Metrics(observed.append)]) as server:
        async with await RawClient.open(server) as client:
            await client.line()
            await client.command("l1", b"l1 LOGIN user pass\r\n")
            _, _, lines = await client.command("x1", b"x1 FROBNICATE\r\n")
            assert lines[-1].startswith(b"x1 BAD")
            sent, received, _ = await client.command("n1", b"n1 NOOP\r\n")
        await wait_until(lambda: len(observed) >= 2)
    assert [m.name for m in observed] == ["LOGIN", "NOOP"]
    assert (observed[1].bytes_in, observed[1].bytes_out) == (sent, received) == (9, 22)


async def test_metrics_observe_error_does_not_reach_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="imap_server")
    seen: list[str] = []

    def observe(metrics: CommandMetrics) -> None:
        seen.append(metrics.name)
        raise RuntimeError("observer bug")

    async with running([Recovery(), Metrics(observe)]) as server:
        async with await open_client(server) as client:
            await client.play(
                login_steps()
                + """
                C: o1 NOOP
                S: o1 OK NOOP completed
                C: o2 XPING
                S: o2 OK XPING completed
                """
            )
            assert all("observer" not in line for line in client.received)
        await assert_healthy(server)
    assert seen[:3] == ["LOGIN", "NOOP", "XPING"]
    hook_errors = [r for r in caplog.records if "when_done callback" in r.getMessage()]
    assert hook_errors and all(r.exc_info is not None for r in hook_errors)


@pytest.mark.parametrize(
    "log_first",
    [True, False],
)
async def test_metrics_observe_error_does_not_suppress_the_command_log(
    caplog: pytest.LogCaptureFixture, log_first: bool
) -> None:
    caplog.set_level(logging.INFO, logger="imap_server")

    def observe(metrics: CommandMetrics) -> None:
        raise RuntimeError("observer bug")

    pieces: list[Middleware] = [CommandLog(), Metrics(observe)]
    if not log_first:
        pieces.reverse()
    async with running(pieces) as server:
        async with await open_client(server) as client:
            await client.play(login_steps() + "C: o1 NOOP\nS: o1 OK NOOP completed")
        await wait_until(lambda: any("after NOOP" in r.getMessage() for r in caplog.records))
        await assert_healthy(server)
    lines = [r.getMessage() for r in caplog.records if r.name == "imap_server.commands"]
    assert [line.split()[2:4] for line in lines[:2]] == [["L1", "LOGIN"], ["o1", "NOOP"]]


# == CommandLog ================================================================================

LOG_LINE = re.compile(
    r"(?P<remote>\S+) (?P<user>\S+) (?P<tag>\S+) (?P<name>[A-Z ]+?) "
    r"(?P<status>OK|NO|BAD)(?: \[(?P<code>[A-Z-]+)\])? \d+\.\dms in=(?P<in>\d+) out=(?P<out>\d+)"
)


async def test_command_log_one_line_per_command(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imap_server.commands")
    middleware: list[Middleware] = [CommandLog(), Recovery(), AuthThrottle(**FAST)]
    async with running(middleware) as server:
        async with await open_client(server) as client:
            await client.play(
                f"""
                S: * OK ...
                C: c1 LOGIN user Wr0ngSecret
                S: c1 {AUTH_FAILED}
                C: c2 AUTHENTICATE PLAIN {plain("alice", "Wr0ngSecret")}
                S: c2 {AUTH_FAILED}
                C: c3 LOGIN user pass
                S: c3 OK ...
                C: c4 NOOP
                S: c4 OK NOOP completed
                C: c5 SELECT INBOX
                S: ...
                S: c5 OK [READ-WRITE] SELECT completed
                C: c6 UID SEARCH ALL
                S: * SEARCH
                S: c6 OK ...
                C: c7 XPARSE
                S: c7 BAD XPARSE argument is malformed
                C: c8 XBOOM
                S: c8 {SERVERBUG}
                C: c9 LOGOUT
                S: * BYE ...
                S: c9 OK LOGOUT completed
                S: <closed>
                """
            )
        await wait_until(lambda: sum(r.name == "imap_server.commands" for r in caplog.records) >= 9)
        await assert_healthy(server)
    records = [r for r in caplog.records if r.name == "imap_server.commands"]
    assert all(r.levelno == logging.INFO for r in records)
    messages = [r.getMessage() for r in records]
    matches = [LOG_LINE.fullmatch(m) for m in messages]
    assert all(matches), messages
    fields = [
        (m["remote"], m["user"], m["tag"], m["name"], m["status"], m["code"])
        for m in matches
        if m is not None
    ]
    assert fields[:9] == [
        ("127.0.0.1", "user", "c1", "LOGIN", "NO", "AUTHENTICATIONFAILED"),
        ("127.0.0.1", "alice", "c2", "AUTHENTICATE", "NO", "AUTHENTICATIONFAILED"),
        ("127.0.0.1", "user", "c3", "LOGIN", "OK", "CAPABILITY"),
        ("127.0.0.1", "user", "c4", "NOOP", "OK", None),
        ("127.0.0.1", "user", "c5", "SELECT", "OK", "READ-WRITE"),
        ("127.0.0.1", "user", "c6", "UID SEARCH", "OK", None),
        ("127.0.0.1", "user", "c7", "XPARSE", "BAD", None),
        ("127.0.0.1", "user", "c8", "XBOOM", "NO", "SERVERBUG"),
        ("127.0.0.1", "user", "c9", "LOGOUT", "OK", None),
    ]
    first = matches[0]
    assert first is not None
    assert int(first["in"]) == len(b"c1 LOGIN user Wr0ngSecret\r\n")
    assert int(first["out"]) == len(f"c1 {AUTH_FAILED}\r\n")
    noop = matches[3]
    assert noop is not None and (noop["in"], noop["out"]) == ("9", "22")
    # Neither password nor the SASL payload is in any line.
    for message in messages:
        assert "Wr0ngSecret" not in message and "pass" not in message
        assert plain("alice", "Wr0ngSecret") not in message


async def test_command_log_custom_logger_and_level(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test_middleware.audit")
    caplog.set_level(logging.DEBUG, logger="test_middleware.audit")
    async with running([CommandLog(logger=logger, level=logging.WARNING)]) as server:
        async with await open_client(server) as client:
            await client.play(login_steps() + "C: n1 NOOP\nS: n1 OK NOOP completed")
        await wait_until(lambda: len([r for r in caplog.records if r.name == logger.name]) >= 2)
    records = [r for r in caplog.records if r.name == logger.name]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    assert records[1].getMessage().startswith("127.0.0.1 user n1 NOOP OK ")


async def test_command_log_silent_when_disabled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="imap_server.commands")
    async with running([CommandLog()]) as server:
        async with await open_client(server) as client:
            await client.play(login_steps() + "C: n1 NOOP\nS: n1 OK NOOP completed")
        await assert_healthy(server)
    assert not [r for r in caplog.records if r.name == "imap_server.commands"]


# == AuthThrottle ==============================================================================


def test_auth_throttle_delay_formula() -> None:
    throttle = AuthThrottle(**FAST)
    assert [throttle._delay(n) for n in range(6)] == [0.0, 0.01, 0.02, 0.04, 0.05, 0.05]
    assert throttle._delay(10**9) == 0.05
    assert AuthThrottle()._delay(1) == 0.5 and AuthThrottle()._delay(100) == 8.0


def test_auth_throttle_rejects_bad_config() -> None:
    cases: list[dict[str, Any]] = [
        {"base_delay": -1.0},
        {"base_delay": 1.0, "max_delay": 0.5},
        {"window": 0.0},
    ]
    for kwargs in cases:
        with pytest.raises(ValueError):
            AuthThrottle(**kwargs)


async def test_auth_throttle_counts_per_address_and_user() -> None:
    throttle = RecordingThrottle(**FAST, address_lockout_after=None, user_lockout_after=None)
    async with running([Recovery(), throttle]) as server:
        async with await open_client(server) as client:
            await client.play(
                f"""
                S: * OK ...
                C: a1 LOGIN user wrong1
                S: a1 {AUTH_FAILED}
                C: a2 LOGIN user wrong2
                S: a2 {AUTH_FAILED}
                C: a3 LOGIN alice wrong3
                S: a3 {AUTH_FAILED}
                """
            )
            assert throttle.failures("address", "127.0.0.1") == 3
            assert throttle.failures("user", "user") == 2
            assert throttle.failures("user", "alice") == 1
            # The delay follows the larger count (the address's, 3, for alice's first).
            assert throttle.delay_counts == [1, 2, 3]
            await client.play("C: a4 LOGIN user pass\nS: a4 OK ... Logged in")
            # Success clears the user's count, not the address's.
            assert throttle.failures("user", "user") == 0
            assert throttle.failures("address", "127.0.0.1") == 3
            assert throttle.failures("user", "alice") == 1
        async with await open_client(server) as client:
            await client.play(f"S: * OK ...\nC: b1 LOGIN user wrong\nS: b1 {AUTH_FAILED}")
        assert throttle.failures("user", "user") == 1
        assert throttle.delay_counts == [1, 2, 3, 4]
        assert throttle.failures("address", "127.0.0.2") == 0
        await assert_healthy(server)


async def test_auth_throttle_counts_authenticate_plain() -> None:
    throttle = AuthThrottle(**FAST)
    async with running([Recovery(), throttle]) as server:
        async with await open_client(server) as client:
            await client.play(
                f"""
                S: * OK ...
                C: a1 AUTHENTICATE PLAIN {plain("alice", "wrong")}
                S: a1 {AUTH_FAILED}
                """
            )
        assert throttle.failures("user", "alice") == 1
        assert throttle.failures("address", "127.0.0.1") == 1
        await assert_healthy(server)


async def test_auth_throttle_counts_scram_failures_against_the_address() -> None:
    throttle = AuthThrottle(**FAST, address_lockout_after=None, user_lockout_after=None)
    async with running([Recovery(), throttle]) as server:
        async with await open_client(server) as client:
            await client.play(f"S: * OK ...\nC: a1 LOGIN alice wrong\nS: a1 {AUTH_FAILED}")
        assert throttle.failures("user", "alice") == 1
        async with await RawClient.open(server) as raw:
            await raw.line()
            assert await scram_login(raw, "s1", "alice", "wrong") == f"s1 {AUTH_FAILED}".encode()
            assert throttle.failures("address", "127.0.0.1") == 2
            assert await scram_login(raw, "s2", "nobody", "x") == f"s2 {AUTH_FAILED}".encode()
            assert throttle.failures("address", "127.0.0.1") == 3
            # The right password through SCRAM clears alice's count (not the address's).
            line = await scram_login(raw, "s3", "alice", "apass")
            assert line.startswith(b"s3 OK ")
        assert throttle.failures("user", "alice") == 0
        assert throttle.failures("address", "127.0.0.1") == 3
        await assert_healthy(server)


async def test_auth_throttle_counts_scram_failures_against_the_user() -> None:
    throttle = AuthThrottle(**FAST, address_lockout_after=None, user_lockout_after=2)
    async with running([Recovery(), throttle]) as server:
        async with await RawClient.open(server) as raw:
            await raw.line()
            for tag in ("s1", "s2"):
                line = await scram_login(raw, tag, "user", "wrong")
                assert line == f"{tag} {AUTH_FAILED}".encode()
            assert throttle.failures("user", "user") == 2
            # An unknown user is counted under the name it gave.
            assert await scram_login(raw, "s3", "nobody", "x") == f"s3 {AUTH_FAILED}".encode()
            assert throttle.failures("user", "nobody") == 1
        # Two guesses at user's password: user is locked out, as after two LOGINs.
        async with await open_client(server, "127.0.0.2") as client:
            await client.play(f"S: * OK ...\nC: b1 LOGIN user pass\nS: b1 {LOCKED}")
        assert throttle.failures("user", "user") == 3
        await assert_healthy(server, user="alice", password="apass")


async def test_auth_throttle_address_lockout() -> None:
    throttle = AuthThrottle(**FAST, address_lockout_after=3, user_lockout_after=None)
    async with running([Recovery(), throttle]) as server:
        async with await open_client(server) as client:
            await client.play(
                f"""
                S: * OK ...
                C: a1 LOGIN user wrong
                S: a1 {AUTH_FAILED}
                C: a2 LOGIN user wrong
                S: a2 {AUTH_FAILED}
                C: a3 LOGIN alice wrong
                S: a3 {AUTH_FAILED}
                C: a4 LOGIN user pass
                S: a4 {LOCKED}
                """
            )
        # Every attempt from that address is refused, whatever it names and however.
        async with await open_client(server) as client:
            await client.play(
                f"""
                S: * OK ...
                C: b1 LOGIN alice apass
                S: b1 {LOCKED}
                C: b2 AUTHENTICATE PLAIN {plain("alice", "apass")}
                S: b2 {LOCKED}
                C: b3 NOOP
                S: b3 OK NOOP completed
                """
            )
        async with await RawClient.open(server) as raw:
            await raw.line()
            assert await scram_login(raw, "s1", "alice", "apass") == f"s1 {LOCKED}".encode()
        # Refusals count too; they do not look at the user.
        assert throttle.failures("address", "127.0.0.1") == 7
        assert throttle.failures("user", "alice") == 1
        assert throttle.failures("user", "user") == 2
        # Another address is not affected.
        await assert_healthy(server, local_host="127.0.0.2")


async def test_auth_throttle_user_lockout() -> None:
    throttle = AuthThrottle(**FAST, address_lockout_after=None, user_lockout_after=2)
    async with running([Recovery(), throttle]) as server:
        async with await open_client(server, "127.0.0.1") as client:
            await client.play(
                f"""
                S: * OK ...
                C: a1 LOGIN user wrong
                S: a1 {AUTH_FAILED}
                C: a2 LOGIN user wrong
                S: a2 {AUTH_FAILED}
                """
            )
        # The user is refused, with the right password, from anywhere, however.
        async with await open_client(server, "127.0.0.2") as client:
            await client.play(
                f"""
                S: * OK ...
                C: b1 LOGIN user pass
                S: b1 {LOCKED}
                C: b2 AUTHENTICATE PLAIN {plain("user", "pass")}
                S: b2 {LOCKED}
                """
            )
        async with await RawClient.open(server, "127.0.0.3") as raw:
            await raw.line()
            assert await scram_login(raw, "s1", "user", "pass") == f"s1 {LOCKED}".encode()
        assert throttle.failures("user", "user") == 5
        # Other users still log in, from the same address as the guesses too.
        await assert_healthy(server, local_host="127.0.0.1", user="alice", password="apass")
        await assert_healthy(server, local_host="127.0.0.2", user="alice", password="apass")


async def test_auth_throttle_window_expires() -> None:
    throttle = AuthThrottle(**FAST, window=0.5, address_lockout_after=2, user_lockout_after=2)
    async with running([Recovery(), throttle]) as server:
        async with await open_client(server) as client:
            await client.play(
                f"""
                S: * OK ...
                C: a1 LOGIN user wrong
                S: a1 {AUTH_FAILED}
                C: a2 LOGIN user wrong
                S: a2 {AUTH_FAILED}
                C: a3 LOGIN user pass
                S: a3 {LOCKED}
                """
            )
        await anyio.sleep(0.8)
        assert throttle.failures("address", "127.0.0.1") == 0
        assert throttle.failures("user", "user") == 0
        await assert_healthy(server)


def test_auth_throttle_failures_expire_by_the_clock() -> None:
    throttle = AuthThrottle(window=10.0)
    for now in (0.0, 1.0, 2.0):
        throttle._record_failure("user", "bob", now)
    assert throttle.failures("user", "bob", now=2.0) == 3
    assert throttle.failures("user", "bob", now=12.0) == 3  # 10 s after the last: still on
    assert throttle.failures("user", "bob", now=12.5) == 0
    assert ("user", "bob") not in throttle._failures  # forgotten, not just ignored
    assert throttle._record_failure("user", "bob", 13.0) == 1


async def test_auth_throttle_max_tracked_bounds_memory() -> None:
    throttle = AuthThrottle(base_delay=0.0, max_delay=0.0, max_tracked=4)

    async def refuse(call: CommandCall) -> StatusResponse:
        try:
            await call.check_login(f"user{call.tag}")
        except CommandFailed as exc:
            return exc.response(call.tag)
        return AuthenticationFailed().response(call.tag)

    for i in range(20):
        call = fake_call(
            Login(tag=str(i), username=f"user{i}", password="x"), "LOGIN", remote=f"10.0.0.{i}"
        )
        response = await throttle(call, refuse)
        assert response.code is not None and response.code.name == "AUTHENTICATIONFAILED"
        assert len(throttle._failures) <= 4
    assert throttle.failures("address", "10.0.0.19") == 1
    assert throttle.failures("user", "user19") == 1
    assert throttle.failures("address", "10.0.0.0") == 0


async def test_auth_throttle_ignores_other_commands() -> None:
    throttle = AuthThrottle(**FAST, address_lockout_after=1)

    async def refuse(call: CommandCall) -> StatusResponse:
        return AuthenticationFailed().response(call.tag)

    response = await throttle(fake_call(Noop(tag="n1"), "NOOP"), refuse)
    assert response.status is ResponseStatus.NO
    assert not throttle._failures


async def test_default_middleware_has_recovery_and_auth_throttle() -> None:
    kinds = [type(m) for m in default_middleware()]
    assert kinds == [Recovery, AuthThrottle]
    assert default_middleware()[1] is not default_middleware()[1]
    store = new_store()
    first, second = Server(store), Server(store)
    assert [type(m) for m in first.middleware] == [Recovery, AuthThrottle]
    assert first.middleware[1] is not second.middleware[1]
    assert Server(store, middleware=[]).middleware == ()
    # And it is in force: a handler's exception is answered, failures are counted.
    async with running(None) as server:
        async with await open_client(server) as client:
            await client.play(
                f"""
                S: * OK ...
                C: a1 LOGIN user wrong
                S: a1 {AUTH_FAILED}
                C: a2 XBOOM
                S: a2 {SERVERBUG}
                """
            )
        throttle = server.server.middleware[1]
        assert isinstance(throttle, AuthThrottle)
        assert throttle.failures("user", "user") == 1
        await assert_healthy(server)
