"""The connection engine: one reader task, commands written whole, responses routed by tag.

`Connection` owns the byte stream and the `imap_wire.ClientConnection`. `Connection.submit`
queues a command and returns its `PendingCommand` at once; many can be in flight. The reader
task parses every response: a tagged one completes its command; an untagged one updates the
selected mailbox's state, is offered to the pending commands that asked for that kind of data
(`PendingCommand.claims`), and otherwise goes to the user's unsolicited handlers. Continuation
requests (``+``) go to the command that is writing a synchronizing literal or running an
exchange (AUTHENTICATE, IDLE).

Commands that must not be pipelined (RFC 9051 section 5.5) wait in `Connection.submit`'s
gate: a command that changes the state (SELECT, LOGIN, ...) waits for everything in flight
and holds back what follows; a command that uses sequence numbers waits while one that may
make the server send EXPUNGE is in flight.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import socket
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from imap_wire import (
    NEED_DATA,
    Command,
    ConnectionClosed,
    ConnectionState,
    ContinuationRequest,
    FetchResponse,
    LiteralChunk,
    LiteralSource,
    LiteralStarted,
    LocalProtocolError,
    RemoteProtocolError,
    Response,
    ResponseStatus,
    StatusResponse,
    StreamedLiteral,
    TraceState,
    trace_lines,
)
from imap_wire import ClientConnection as WireConnection

from .errors import (
    ConnectionLost,
    ImapConnectionError,
    ImapError,
    InvalidCommand,
    ProtocolViolation,
)
from .state import MailboxState

__all__ = ["Connection", "PendingCommand", "UnsolicitedHandler"]

log = logging.getLogger("imap_client")
#: The connection trace (``C:`` / ``S:`` lines, passwords redacted), at DEBUG.
trace_log = logging.getLogger("imap_client.trace")
_connection_ids = itertools.count(1)

_READ_SIZE = 64 * 1024
_STREAM_ENDED = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)

#: Called with each untagged response no pending command claimed.
UnsolicitedHandler = Callable[[Response], None]

# RFC 9051 section 5.5: commands that change the connection or mailbox state run alone.
_BARRIER = frozenset(
    {
        "LOGIN",
        "AUTHENTICATE",
        "STARTTLS",
        "SELECT",
        "EXAMINE",
        "CLOSE",
        "UNSELECT",
        "LOGOUT",
        "ENABLE",
        "IDLE",
        "COMPRESS",
    }
)
# Commands by sequence number: numbers must not shift under them.
_BY_SEQUENCE = frozenset({"FETCH", "STORE", "SEARCH", "COPY", "MOVE"})
# While these run the server may send EXPUNGE (RFC 9051 section 7.5.1 allows it during UID
# commands and EXPUNGE; NOOP and CHECK may carry anything).
_MAY_EXPUNGE = frozenset(
    {
        "EXPUNGE",
        "UID EXPUNGE",
        "UID FETCH",
        "UID STORE",
        "UID SEARCH",
        "UID COPY",
        "UID MOVE",
        "MOVE",
        "NOOP",
        "CHECK",
    }
)


# -- literal sources -------------------------------------------------------------------------

#: What streams a `LiteralSource`'s octets: bytes chunks, sync or async.
LiteralData = Iterable[bytes] | AsyncIterable[bytes]


class PendingCommand:
    """A command sent (or about to be) and not yet completed.

    Await `wait` for its tagged response; `responses` holds the untagged data it claimed.
    """

    def __init__(
        self,
        command: Command,
        *,
        claims: Callable[[Response], bool] | None = None,
        literals: tuple[LiteralData, ...] = (),
        on_literal: Callable[[LiteralStarted], Any] | None = None,
        exchange: bool = False,
        on_send: Callable[[], None] | None = None,
    ) -> None:
        self.command = command
        self.name = command.command_name
        self.tag = command.tag
        self.responses: list[Response] = []
        self.result: StatusResponse | None = None
        self.error: BaseException | None = None
        #: True once the command's first octets are being written.
        self.started = False
        self._claims = claims
        self._literals = literals
        #: For streamed FETCH bodies: called on each large literal meant for this command;
        #: returns a sink with ``write(bytes)`` (sync or async) or None to keep it in memory.
        self.on_literal = on_literal
        #: Called once the gate lets the command go, just before it is written: SELECT
        #: resets the mailbox state there, before any of its responses can arrive.
        self.on_send = on_send
        self._done = anyio.Event()
        self._done_callbacks: list[Callable[[], None]] = []
        # Continuation requests for this command (a "+" after a synchronizing literal, or
        # each step of an exchange). Unbounded: the reader never waits on a command.
        self._cont_send, self._cont_receive = anyio.create_memory_object_stream[
            ContinuationRequest
        ](max_buffer_size=1000)
        #: Set while the command runs an exchange (AUTHENTICATE, IDLE): untagged responses
        #: that nothing claimed are fed to it as well.
        self.exchange_updates: MemoryObjectSendStream[Response] | None = None
        #: The command runs an exchange (AUTHENTICATE, IDLE): the connection routes ``+``
        #: requests to it from before its line is written, so a fast ``+`` is never missed.
        self.exchange = exchange

    def __repr__(self) -> str:
        return f"<PendingCommand {self.tag} {self.name} done={self._done.is_set()}>"

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def claims(self, response: Response) -> bool:
        return self._claims is not None and self._claims(response)

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the command completes or fails (at once if it has).

        It runs in the reader task (or whichever ends the connection): it must not block.
        """
        if self._done.is_set():
            callback()
        else:
            self._done_callbacks.append(callback)

    async def wait(self) -> StatusResponse:
        """Return the tagged response (OK, NO or BAD).

        Raises:
            ConnectionLost: The connection ended first.
        """
        await self._done.wait()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    async def continuation(self) -> ContinuationRequest:
        """Wait for the server's next ``+`` to this command.

        Raises:
            ConnectionLost: The connection ended, or the command completed instead.
        """
        try:
            return await self._cont_receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self.error is not None:
                raise self.error from None
            raise _Completed from None

    # -- called by the connection --

    def _complete(self, response: StatusResponse) -> None:
        self.result = response
        self._finish()

    def _fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self.error = error
            self._finish()

    def _finish(self) -> None:
        self._done.set()
        # A writer waiting for "+" wakes up (EndOfStream / ClosedResourceError), and sees
        # the outcome. Both ends closed: an unclosed stream warns when collected.
        self._cont_send.close()
        self._cont_receive.close()
        if self.exchange_updates is not None:
            self.exchange_updates.close()
        callbacks, self._done_callbacks = self._done_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("command completion callback failed")


class _Lost(Exception):
    """The stream ended in the middle of a response."""


class _Completed(Exception):
    """The command completed while its writer waited for a continuation request."""


@dataclass(slots=True)
class _Gate:
    """Who is in flight, for the RFC 9051 section 5.5 sequencing."""

    in_flight: list[PendingCommand] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def allows(self, name: str) -> bool:
        names = [p.name for p in self.in_flight]
        if not names:
            return True
        if any(n in _BARRIER for n in names):
            return False
        if name in _BARRIER:
            return False
        if name in _BY_SEQUENCE:
            return not any(n in _MAY_EXPUNGE for n in names)
        return True

    def notify(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()


class Connection:
    """The engine under `AsyncClient`: create with a connected stream, then `start` it in a
    task group (it runs the reader task there)."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        *,
        wire: WireConnection | None = None,
    ) -> None:
        self.stream = stream
        self.wire = wire if wire is not None else WireConnection()
        self.mailbox = MailboxState()
        #: Extensions ENABLE turned on, upper case (RFC 9051 section 6.3.1).
        self.enabled: set[str] = set()
        self.handlers: list[UnsolicitedHandler] = []
        self._pending: dict[str, PendingCommand] = {}
        self._gate = _Gate()
        self._write_lock = anyio.Lock()
        # The command whose synchronizing literal or exchange gets the next "+".
        self._wants_continuation: PendingCommand | None = None
        self._tag_counter = 0
        self.greeting: StatusResponse | None = None
        self._greeted = anyio.Event()
        #: Set once the connection has ended; `close_cause` says why.
        self.closed = anyio.Event()
        self.close_cause: BaseException | None = None
        self.bye: StatusResponse | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        # A large literal being streamed to a command's sink.
        self._sink: Any = None
        # Large literals of the line being read that no sink took.
        self._kept: list[_Kept] = []
        # Set after STARTTLS's OK: the reader reads nothing until the TLS layer is in place
        # (the handshake reads the same socket).
        self._reading_paused: anyio.Event | None = None
        # Decided once: a trace started mid-stream could miss an AUTHENTICATE and show its
        # responses.
        self._trace: TraceState | None = None
        if trace_log.isEnabledFor(logging.DEBUG):
            self._trace = TraceState()
            self._trace_id = f"[c{next(_connection_ids)}]"

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, task_group: anyio.abc.TaskGroup) -> StatusResponse:
        """Start reading; return the greeting."""
        self._task_group = task_group
        task_group.start_soon(self._reader)
        await self._greeted.wait()
        if self.greeting is None:
            raise self.close_cause or ConnectionLost("connection closed before the greeting")
        return self.greeting

    def next_tag(self) -> str:
        self._tag_counter += 1
        return f"A{self._tag_counter:04d}"

    async def aclose(self, cause: BaseException | None = None) -> None:
        """Close the stream and fail whatever is pending. Idempotent."""
        self._shutdown(cause or ConnectionLost("connection closed by the client"))
        await anyio.aclose_forcefully(self.stream)

    def _shutdown(self, cause: BaseException) -> None:
        if self.closed.is_set():
            return
        self.close_cause = cause
        self.closed.set()
        self._greeted.set()
        for pending in list(self._pending.values()):
            pending._fail(cause)
        self._pending.clear()
        self._gate.in_flight.clear()
        self._gate.notify()
        self.resume_reading()

    # -- sending ----------------------------------------------------------------------------------

    async def submit(self, pending: PendingCommand) -> PendingCommand:
        """Send a command (waiting for the gate and any ``+`` its literals need); return it
        in flight. Await `PendingCommand.wait` for the result."""
        try:
            while not self._gate.allows(pending.name):
                if self.closed.is_set():
                    break
                changed = self._gate.changed
                await changed.wait()
            if self.closed.is_set() or self.bye is not None:
                # After BYE the server takes no more commands (RFC 9051 section 7.1.5).
                raise self._lost()
        except BaseException as exc:  # never sent (closed, or cancelled while waiting)
            pending._fail(exc)
            raise
        if pending.on_send is not None:
            pending.on_send()
        self._gate.in_flight.append(pending)
        self._pending[pending.tag] = pending
        try:
            async with self._write_lock:
                if self.closed.is_set():  # while waiting for the lock
                    raise self._lost()
                await self._write_command(pending)
        except _Completed:
            pass  # refused before its literal ("NO [TOOBIG]"): the result says so
        except BaseException as exc:
            if not pending.done:
                if isinstance(exc, ImapError):
                    pending._fail(exc)
                else:
                    pending._fail(self._lost())
                self._forget(pending)
            if not isinstance(exc, ImapError) and pending.started:
                # Cancelled halfway through writing the command (or waiting for its "+"):
                # the server would read whatever comes next as the rest of it.
                self._shutdown(ConnectionLost("a command was cancelled while being sent"))
                with anyio.CancelScope(shield=True):
                    await anyio.aclose_forcefully(self.stream)
            raise
        return pending

    async def _write_command(self, pending: PendingCommand) -> None:
        try:
            encoded = self.wire.send(pending.command)
        except LocalProtocolError as exc:
            self._forget(pending)
            if self.closed.is_set() or self.wire.state is ConnectionState.LOGOUT:
                # The server said BYE (or the socket died) before the reader caught up.
                raise self._lost() from exc
            raise InvalidCommand(str(exc)) from exc
        literals = iter(pending._literals)
        buffer = bytearray()
        pending.started = True
        for part, wait in zip(encoded.parts, encoded.wait_after, strict=True):
            if isinstance(part, LiteralSource):
                await self._write(bytes(buffer))
                buffer.clear()
                await self._stream_literal(part, next(literals))
            else:
                buffer += part
            if wait:
                # Set before writing: the "+" may be read before the write returns (trio).
                self._wants_continuation = pending
                await self._write(bytes(buffer))
                buffer.clear()
                try:
                    await pending.continuation()
                finally:
                    self._wants_continuation = None
        if pending.exchange:
            self._wants_continuation = pending
        if buffer:
            await self._write(bytes(buffer))

    async def _stream_literal(self, source: LiteralSource, data: LiteralData) -> None:
        remaining = source.size
        try:
            if isinstance(data, AsyncIterable):
                async for chunk in data:
                    remaining -= len(chunk)
                    if remaining < 0:
                        break
                    await self._write(chunk)
            else:
                for chunk in data:
                    remaining -= len(chunk)
                    if remaining < 0:
                        break
                    await self._write(chunk)
        except BaseException as exc:
            # Cancelled, or the source failed: the literal is announced and the server waits
            # for octets that will never come, so the connection cannot go on.
            if not self.closed.is_set():
                await self.aclose(ConnectionLost(f"a literal broke off: {exc!r}"))
            raise
        if remaining != 0:
            # The announced size is a promise to the server: breaking it desynchronizes the
            # connection for good, so it ends here.
            error = ImapConnectionError("literal data did not match its announced size")
            await self.aclose(error)
            raise error

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        if self._trace is not None:
            self._log_trace(data, sent_by_client=True)
        try:
            await self.stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._shutdown(ConnectionLost(f"connection lost while sending: {exc!r}"))
            raise self._lost() from exc

    def _log_trace(self, data: bytes, *, sent_by_client: bool) -> None:
        assert self._trace is not None
        who = "C:" if sent_by_client else "S:"
        for line in trace_lines(data, sent_by_client=sent_by_client, state=self._trace):
            trace_log.debug("%s %s %s", self._trace_id, who, line)

    async def write_raw(self, data: bytes) -> None:
        """Write a line of an exchange (a SASL response, ``DONE``)."""
        async with self._write_lock:
            await self._write(data)

    def resume_reading(self) -> None:
        """Read again after STARTTLS, once `stream` is the TLS stream (or on closing)."""
        paused, self._reading_paused = self._reading_paused, None
        if paused is not None:
            paused.set()

    def expect_continuations(self, pending: PendingCommand) -> None:
        """Route ``+`` requests to ``pending`` until it completes (AUTHENTICATE, IDLE)."""
        self._wants_continuation = pending

    def _lost(self) -> ConnectionLost:
        cause = self.close_cause
        if isinstance(cause, ConnectionLost):
            return cause
        bye = self.bye.text if self.bye is not None else None
        if cause is None and bye is not None:
            return ConnectionLost(f"the server said BYE: {bye}", bye=bye)
        return ConnectionLost(
            f"connection closed: {cause!r}" if cause else "connection closed", bye=bye
        )

    def _forget(self, pending: PendingCommand) -> None:
        self._pending.pop(pending.tag, None)
        if pending in self._gate.in_flight:
            self._gate.in_flight.remove(pending)
            self._gate.notify()
        if self._wants_continuation is pending:
            self._wants_continuation = None

    # -- reading ----------------------------------------------------------------------------------

    async def _reader(self) -> None:
        cause: BaseException
        try:
            while True:
                try:
                    event = self.wire.next_event()
                except RemoteProtocolError as exc:
                    if exc.fatal:
                        if self.wire.state is ConnectionState.LOGOUT or "closed" in str(exc):
                            # Cut off in the middle of a response: the connection was lost.
                            raise _Lost(str(exc)) from exc
                        raise ProtocolViolation(str(exc)) from exc
                    log.warning("skipped a response that cannot be parsed: %s", exc)
                    self._fail_tagged(exc)
                    continue
                if event is NEED_DATA:
                    if self._reading_paused is not None:
                        await self._reading_paused.wait()
                    try:
                        data = await self.stream.receive(_READ_SIZE)
                    except (
                        anyio.EndOfStream,
                        anyio.BrokenResourceError,
                        anyio.ClosedResourceError,
                        OSError,
                    ):
                        data = b""
                    if self._trace is not None:
                        self._log_trace(data, sent_by_client=False)
                    self.wire.receive_data(data)
                    continue
                if type(event) is ConnectionClosed:
                    bye = self.bye.text if self.bye is not None else None
                    cause = ConnectionLost(
                        "server closed the connection" + (f": {bye}" if bye else ""), bye=bye
                    )
                    break
                if type(event) is LiteralStarted:
                    await self._literal_started(event)
                    continue
                if type(event) is LiteralChunk:
                    await self._literal_chunk(event)
                    continue
                assert not isinstance(event, LiteralStarted | LiteralChunk | ConnectionClosed)
                if self._kept:
                    event = self._restore_kept(event)
                self._dispatch(event)
        except ProtocolViolation as exc:
            cause = exc
        except _Lost as exc:
            bye = self.bye.text if self.bye is not None else None
            cause = ConnectionLost(f"connection lost: {exc}", bye=bye)
        except anyio.get_cancelled_exc_class():
            self._shutdown(ConnectionLost("connection closed by the client"))
            raise
        except Exception as exc:  # a bug here must not leave commands hanging
            log.exception("IMAP reader failed")
            cause = ConnectionLost(f"reader failed: {exc!r}")
        self._shutdown(cause)
        await anyio.aclose_forcefully(self.stream)

    def _dispatch(self, response: Response) -> None:
        if type(response) is StatusResponse:
            if response.tag is not None:
                self._completed(response)
                return
            if self.greeting is None:
                self.greeting = response
                self._greeted.set()
                return
            if response.status is ResponseStatus.BYE:
                self.bye = response
        elif type(response) is ContinuationRequest:
            target = self._wants_continuation
            if target is not None and not target.done:
                target._cont_send.send_nowait(response)
            else:
                log.warning("continuation request with no command waiting for one")
            return
        self.mailbox.update(response)
        for pending in self._gate.in_flight:
            if pending.claims(response):
                pending.responses.append(response)
                return
        for pending in self._gate.in_flight:
            updates = pending.exchange_updates
            if updates is not None:
                # A full or closed stream drops the update: the reader never blocks on a user.
                with contextlib.suppress(
                    anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError
                ):
                    updates.send_nowait(response)
        for handler in tuple(self.handlers):
            try:
                handler(response)
            except Exception:
                log.exception("unsolicited response handler failed")

    def _fail_tagged(self, exc: RemoteProtocolError) -> None:
        """A tagged response that cannot be parsed fails its command at once, rather than
        leaving it to wait for a completion that already came."""
        pending = self._pending.pop(exc.tag, None) if exc.tag else None
        if pending is None:
            return
        if pending in self._gate.in_flight:
            self._gate.in_flight.remove(pending)
        if self._wants_continuation is pending:
            self._wants_continuation = None
        pending._fail(ProtocolViolation(f"malformed response to {pending.name}: {exc}"))
        self._gate.notify()

    def _completed(self, response: StatusResponse) -> None:
        assert response.tag is not None
        pending = self._pending.pop(response.tag, None)
        if pending is None:
            log.warning("tagged response for no pending command: %s", response.tag)
            return
        if pending in self._gate.in_flight:
            self._gate.in_flight.remove(pending)
        if self._wants_continuation is pending:
            self._wants_continuation = None
        if pending.name == "STARTTLS" and response.status is ResponseStatus.OK:
            self._reading_paused = anyio.Event()
        pending._complete(response)
        self._gate.notify()

    async def _literal_started(self, event: LiteralStarted) -> None:
        self._sink = None
        for pending in self._gate.in_flight:
            if pending.on_literal is not None:
                self._sink = pending.on_literal(event)
                if self._sink is not None:
                    return
        # Nobody streams it: keep it, and put it back into the response (the caller asked
        # for the data in memory).
        self._sink = _Kept(event.index)
        self._kept.append(self._sink)

    async def _literal_chunk(self, event: LiteralChunk) -> None:
        sink = self._sink
        if sink is None:
            return
        result = sink.write(event.data)
        if hasattr(result, "__await__"):
            await result

    def _restore_kept(self, response: Response) -> Response:
        """Put literals kept in memory back in place of their `StreamedLiteral` marks."""
        kept = {k.index: bytes(k.data) for k in self._kept}
        self._kept.clear()
        if not isinstance(response, FetchResponse):
            return response

        def fix(mapping: Any) -> Any:
            return {
                key: kept.get(v.index, v) if isinstance(v, StreamedLiteral) else v
                for key, v in mapping.items()
            }

        def one(value: Any) -> Any:
            return kept.get(value.index, value) if isinstance(value, StreamedLiteral) else value

        return dataclasses.replace(
            response,
            sections=fix(response.sections),
            binary=fix(response.binary),
            rfc822=one(response.rfc822),
            rfc822_header=one(response.rfc822_header),
            rfc822_text=one(response.rfc822_text),
        )


class _Kept:
    """A streamed literal kept in memory."""

    __slots__ = ("data", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data


def set_nodelay(stream: anyio.abc.ByteStream) -> None:
    """Disable Nagle's algorithm: a command is written whole, so waiting only adds latency."""
    try:
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (anyio.TypedAttributeLookupError, OSError, AttributeError):
        pass
