"""One client connection: bytes in, commands run in order, responses out.

The connection owns the `imap_wire.ServerConnection` (the parser and state machine) and the
socket. It parses one command at a time and runs it to completion before parsing the next,
because whether a command is valid (and whether its literal is welcome) depends on the state
the previous one left. Responses are gathered in a buffer and written once per command (or
when the buffer passes `_FLUSH_AT`), so a response costs one ``send`` rather than one per line.
A large FETCH body section (`imap_server.fetching.BodyRange`) is written as it is read from
the store, a chunk at a time (`Connection._send_streamed`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from imap_wire import (
    NEED_DATA,
    AuthenticateResponse,
    Command,
    ConnectionClosed,
    ContinuationRequest,
    ContinuationRequired,
    IdleDone,
    LiteralChunk,
    LiteralRefused,
    LiteralRequest,
    LiteralSource,
    LiteralStarted,
    LocalProtocolError,
    RemoteProtocolError,
    Response,
    ResponseStatus,
    ServerConnection,
    StatusResponse,
    StreamedLiteral,
    TraceState,
    response_code,
    trace_lines,
)

from .errors import CommandFailed, ConnectionClosedError
from .fetching import BodyRange
from .middleware._pipeline import CallNext, CommandCall, compose
from .middleware.recovery import server_bug
from .session import ConnectionInfo, Session, SessionOptions
from .spool import SpooledMessage
from .store import MailboxGone, StoreError

if TYPE_CHECKING:
    from .server import Server

__all__ = ["CommandContext", "Connection", "ConnectionClosedError"]

log = logging.getLogger("imap_server")
#: The connection trace (``C:`` / ``S:`` lines, passwords redacted), at DEBUG.
trace_log = logging.getLogger("imap_server.trace")
_connection_ids = itertools.count(1)

_FLUSH_AT = 64 * 1024
_READ_SIZE = 64 * 1024
# FETCH, STORE and SEARCH by sequence number must not see numbers shift under them
# (RFC 9051 section 7.5.1): expunges wait for another command.
_NO_EXPUNGE = frozenset({"FETCH", "STORE", "SEARCH"})


@dataclass(slots=True)
class CommandContext:
    """What a command handler gets besides the command."""

    connection: Connection
    session: Session
    options: SessionOptions
    info: ConnectionInfo
    #: Untagged responses go here (``await ctx.out.send(response)``).
    out: Connection
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def server(self) -> Server:
        return self.connection.server


class Connection:
    """Drives one client from greeting to close. Create through `Server`."""

    def __init__(
        self,
        server: Server,
        stream: anyio.abc.ByteStream,
        info: ConnectionInfo,
        session: Session,
    ) -> None:
        self.server = server
        self.stream = stream
        self.info = info
        self.session = session
        self.wire = ServerConnection(
            registry=server.wire_registry,
            limits=server.limits,
            literal_policy=self._literal_policy,
        )
        self._out = bytearray()
        # Octets of literals accepted for the command being read (Server.max_literal_memory).
        self._literal_reserved = 0
        # Octets received from and written to the client (for each command's figures).
        self.bytes_received = 0
        self.bytes_sent = 0
        # Set when a write was cancelled half way: the client's view of the stream is lost.
        self.output_broken = False
        # When a write to the client started and has not finished (slow-reader timeout).
        self.writing_since: float | None = None
        self._in_mark = 0
        # Octets queued when the next command began (its continuation requests count).
        self._out_mark = 0
        #: The command being run, while it runs.
        self.current_call: CommandCall | None = None
        self._pipeline: CallNext = compose(server.middleware, self._handle)
        # Literals streamed to us (over imap_wire's threshold) for the line being read, by
        # literal index, spooled to temporary files; the command gets them when it runs
        # (`streamed_literal`), and they are removed when it ends.
        # None: the temporary file could not be written (the command gets NO [UNAVAILABLE]).
        self._streamed: dict[int, SpooledMessage | None] = {}
        self._current_streamed = 0
        self._command_literals: dict[int, SpooledMessage | None] = {}
        self._closing = False
        # Timeouts (see _receive): when the connection started waiting for the client, and
        # for how long it may.
        self.waiting_since: float | None = None
        self.wait_limit = 0.0
        self.timed_out = False
        self._writing = False
        self._socket = _raw_socket(stream)
        # Set when a handler already sent its tagged response (STARTTLS answers before the
        # handshake).
        self._answered = False
        # Commands answered BAD in a row (see Server.max_bad_commands).
        self.bad_commands_in_a_row = 0
        self.username: str | None = None
        self.ctx = CommandContext(
            connection=self, session=session, options=session.options, info=info, out=self
        )
        # Decided once: a trace started mid-stream could miss an AUTHENTICATE and show its
        # responses.
        self._trace: TraceState | None = None
        if trace_log.isEnabledFor(logging.DEBUG):
            self._trace = TraceState()
            remote = f" {info.remote[0]}:{info.remote[1]}" if info.remote else ""
            self._trace_id = f"[{next(_connection_ids)}{remote}]"

    def _literal_policy(self, request: LiteralRequest) -> StatusResponse | None:
        """Refuse, before the client sends it, an APPEND the store could not take, or a
        literal the server has no memory left for (``Server.max_literal_memory``)."""
        limit = self.server.backend.max_message_size
        if limit is not None and request.command == "APPEND" and request.size > limit:
            return StatusResponse(
                tag=request.tag, status=ResponseStatus.NO, code=response_code("TOOBIG"),
                text=f"message larger than {limit} octets",
            )  # fmt: skip
        if not self.server.reserve_literal_memory(request.size):
            return StatusResponse(
                tag=request.tag, status=ResponseStatus.NO, code=response_code("UNAVAILABLE"),
                text="Too much mail arriving at once; try again later",
            )  # fmt: skip
        self._literal_reserved += request.size
        return None

    def release_literal_memory(self) -> None:
        """Give back what this connection's literals reserved (once their command ran)."""
        if self._literal_reserved:
            self.server.release_literal_memory(self._literal_reserved)
            self._literal_reserved = 0

    # -- output -------------------------------------------------------------------------------

    async def send(self, response: Response) -> None:
        """Queue a response; written at the end of the command or when the buffer is full.

        A response holding a `BodyRange` (a large FETCH section) is written while its
        octets are read from the store (`_send_streamed`).
        """
        try:
            data = self.wire.send(response)
        except LocalProtocolError:
            # Not one byte string: a streamed literal (rare, so no test on the hot path). A
            # response that cannot be encoded at all raises again here.
            await self._send_streamed(self.wire.send_parts(response))
            return
        self._out += data
        if len(self._out) >= _FLUSH_AT:
            await self.flush()

    async def _send_streamed(self, parts: list[bytes | LiteralSource]) -> None:
        """Write a response whose literals are streamed: the bytes around them are queued,
        each `BodyRange`'s octets written as the store hands them out (memory per literal:
        a chunk, whatever its size).

        Nothing of the response is written before its first literal's first chunk is in
        hand: if the store fails (or the command is cancelled) before that, the response is
        taken back out of the buffer and the error goes on like any (``NO``). Once part of
        the literal is out it cannot be completed: a store failure is logged and closes the
        connection (`ConnectionClosedError`, no BYE: nothing coherent can follow a short
        literal); a cancellation marks the output broken.
        """
        for part in parts:
            if not isinstance(part, bytes | BodyRange):
                raise LocalProtocolError(f"cannot stream the octets of a {type(part).__name__}")
        mark = len(self._out)
        sent = False  # part of this response was written
        for part in parts:
            if isinstance(part, bytes):
                self._out += part
                continue
            assert isinstance(part, BodyRange)
            async with contextlib.aclosing(part.chunks()) as chunks:
                while True:
                    try:
                        chunk = await anext(chunks, None)
                    except (Exception, anyio.get_cancelled_exc_class()) as exc:
                        self._stream_failed(exc, mark, sent)
                        raise
                    if chunk is None:
                        break
                    if len(self._out) + len(chunk) < _FLUSH_AT:
                        self._out += chunk
                        continue
                    sent = True
                    await self.flush()
                    await self._write(chunk)
        if len(self._out) >= _FLUSH_AT:
            await self.flush()

    def _stream_failed(self, exc: BaseException, mark: int, sent: bool) -> None:
        """Reading a streamed literal's octets failed (``exc``). Before anything of the
        response was written, it is taken back out of the buffer and ``exc`` goes on; after,
        the output is broken, and a store failure closes the connection."""
        if not sent:
            del self._out[mark:]
            return
        self.output_broken = True
        if isinstance(exc, Exception):
            log.error(
                "closing %s: reading a message body failed in the middle of a FETCH literal: %s",
                self.info.remote, exc, exc_info=not isinstance(exc, StoreError),
            )  # fmt: skip
            raise ConnectionClosedError("message body read failed") from exc

    async def flush(self) -> None:
        if not self._out:
            return
        data = bytes(self._out)
        self._out.clear()
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        """Write octets to the client now (after what is queued: flush first)."""
        if self._trace is not None:
            self._log_trace(data, sent_by_client=False)
        self._writing = True
        self.writing_since = time.monotonic()
        try:
            await self.stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise ConnectionClosedError("client went away") from exc
        except anyio.get_cancelled_exc_class():
            # Part of the data may be on its way: nothing coherent can follow it.
            self.output_broken = True
            raise
        finally:
            self._writing = False
            self.writing_since = None
        self.bytes_sent += len(data)
        if self.timed_out:
            raise ConnectionClosedError("write timeout")

    @property
    def bytes_consumed(self) -> int:
        """Octets received from the client and parsed."""
        return self.bytes_received - self.wire.buffered

    @property
    def bytes_queued(self) -> int:
        """Octets of responses written or waiting in the buffer."""
        return self.bytes_sent + len(self._out)

    # -- input --------------------------------------------------------------------------------

    async def _receive(self, timeout: float) -> None:
        """Read more octets into the parser (``b""`` at the end of the stream).

        The timeout is enforced by `Server`'s reaper, which closes a connection that has
        waited longer than ``timeout`` (`expired`): cheaper than a cancel scope per read.
        """
        self.waiting_since = time.monotonic()
        self.wait_limit = timeout
        try:
            data = await self.stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            data = b""
        finally:
            self.waiting_since = None
        if self.timed_out:
            raise ConnectionClosedError("idle timeout")
        if self._trace is not None:
            self._log_trace(data, sent_by_client=True)
        self.bytes_received += len(data)
        self.wire.receive_data(data)
        if data and self._socket is not None:
            _quickack(self._socket)

    def _log_trace(self, data: bytes, *, sent_by_client: bool) -> None:
        assert self._trace is not None
        who = "C:" if sent_by_client else "S:"
        for line in trace_lines(data, sent_by_client=sent_by_client, state=self._trace):
            trace_log.debug("%s %s %s", self._trace_id, who, line)

    def expired(self, now: float) -> bool:
        """True if the connection has waited for the client longer than allowed: for its
        next line, or for it to read what the server wrote (``Server.write_timeout``)."""
        if self.timed_out:
            return False
        since = self.waiting_since
        if since is not None and now - since > self.wait_limit:
            return True
        writing = self.writing_since
        limit = self.server.write_timeout
        return writing is not None and limit is not None and now - writing > limit

    async def time_out(self) -> None:
        """Say goodbye to a client that stayed silent too long, and close the stream (a
        client that does not read its output is closed without a word: it would not read
        one)."""
        self.timed_out = True
        if not self._writing:
            await self.bye("Autologout; idle for too long")
        else:
            log.info("closing %s: it does not read what it is sent", self.info.remote)
        await anyio.aclose_forcefully(self.stream)

    def _timeout(self) -> float:
        if self.username is None:
            return self.server.unauthenticated_timeout
        return self.server.autologout

    async def next_event(self) -> Any:
        """The next parser event that needs the connection's attention."""
        while True:
            try:
                event = self.wire.next_event()
            except RemoteProtocolError as exc:
                await self._protocol_error(exc)
                continue
            if event is NEED_DATA:
                await self.flush()
                await self._receive(self._timeout())
                continue
            if type(event) is ContinuationRequired:
                self._out += event.data
                await self.flush()
                continue
            if type(event) is LiteralRefused:
                # The refused line is no command's: its octets are not the next one's.
                self._in_mark = self.bytes_consumed
                await self.send(event.response)
                await self.flush()
                self._out_mark = self.bytes_queued
                continue
            if type(event) is LiteralStarted:
                self._current_streamed = event.index
                self._streamed[event.index] = self._spool_file()
                continue
            if type(event) is LiteralChunk:
                self._spool_chunk(event.data)
                continue
            return event

    async def _protocol_error(self, exc: RemoteProtocolError) -> None:
        self._close_literals()
        self.release_literal_memory()
        self._in_mark = self.bytes_consumed
        response = exc.response
        await self.send(response)
        self._out_mark = self.bytes_queued
        if response.status is ResponseStatus.BYE:
            await self.flush()
            raise ConnectionClosedError(exc.text)
        self.server.note_bad_command(self)
        await self._bad_command()

    async def _bad_command(self) -> None:
        """Count a command answered BAD; at the server's limit, say BYE and close."""
        self.bad_commands_in_a_row += 1
        limit = self.server.max_bad_commands
        if limit is not None and self.bad_commands_in_a_row >= limit:
            await self.bye("Too many invalid commands")
            raise ConnectionClosedError("too many invalid commands")

    async def bye(self, text: str) -> None:
        if self.output_broken:
            return  # a response was cut short: a BYE would be read as part of it
        try:
            await self.send(StatusResponse(tag=None, status=ResponseStatus.BYE, text=text))
            await self.flush()
        except ConnectionClosedError:
            pass

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.send(self.server.greeting(self))
            await self.flush()
            self._out_mark = self.bytes_queued
            while not self._closing:
                event = await self.next_event()
                if type(event) is ConnectionClosed:
                    break
                if isinstance(event, Command):
                    await self.run_command(event)
                else:  # pragma: no cover - events only exchanges expect
                    log.debug("ignored event %r", event)
        except ConnectionClosedError:
            pass
        except anyio.get_cancelled_exc_class():
            # The server is shutting down: say so (RFC 9051 7.1.5) rather than just vanish.
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await self.bye("Server shutting down")
            raise
        finally:
            self.release_literal_memory()
            self._drop_buffers()
            await self.session.close()
            await anyio.aclose_forcefully(self.stream)

    def _drop_buffers(self) -> None:
        """Let go of input and output at once: the connection is in reference cycles
        (its context, its pipeline, its parser's literal policy), which only the cycle
        collector frees, at a time of its own; a half-received literal must not wait."""
        self._close_literals()
        self._out = bytearray()
        self.wire = ServerConnection(registry=self.server.wire_registry, limits=self.server.limits)

    async def run_command(self, command: Command) -> None:
        if self._streamed:
            self._command_literals, self._streamed = self._streamed, {}
        name = command.command_name
        call = CommandCall(
            command=command, name=name, tag=command.tag, context=self.ctx,
            _in_mark=self._in_mark, _out_mark=self._out_mark,
        )  # fmt: skip
        self.current_call = call
        try:
            result = await self._pipeline(call)
        except (ConnectionClosedError, anyio.get_cancelled_exc_class()):
            raise
        except Exception:
            # The last resort, for what escapes the middleware (Recovery handles handlers).
            log.exception("error in %s", name)
            result = server_bug(command.tag)
        finally:
            self.current_call = None
            self.release_literal_memory()
            self._close_literals()
        if self._answered:
            self._answered = False
        else:
            await self.send(result)
        try:
            await self.flush()
        finally:
            self._in_mark = self.bytes_consumed
            self._out_mark = self.bytes_queued
            self._completed(call, result)
        if result.status is ResponseStatus.BAD:
            await self._bad_command()
        else:
            self.bad_commands_in_a_row = 0

    def _completed(self, call: CommandCall, result: StatusResponse) -> None:
        try:
            call.run_done_callbacks(result)
        finally:
            try:
                self.server.command_done(self, call.name, result.status, call.elapsed())
            except Exception:
                log.exception("error in Server.command_done after %s", call.name)

    async def _handle(self, call: CommandCall) -> StatusResponse:
        """The innermost step of the pipeline: the handler, then pending updates."""
        command = call.command
        name = call.name
        handler = self.server.handler_for(name)
        if handler is None:
            return StatusResponse(
                tag=command.tag, status=ResponseStatus.BAD, text="command not implemented"
            )
        try:
            result = await handler(self.ctx, command)
            # UID forms are named "UID FETCH" etc., so they are not in _NO_EXPUNGE.
            await self.session.poll(self, allow_expunge=name not in _NO_EXPUNGE)
        except CommandFailed as exc:
            return exc.response(command.tag)
        except MailboxGone:
            await self.bye("Selected mailbox was deleted")
            self._closing = True
            return StatusResponse(tag=command.tag, status=ResponseStatus.NO, text="mailbox deleted")
        except StoreError as exc:
            return CommandFailed(str(exc), code=exc.code).response(command.tag)
        if result is None:
            return StatusResponse(
                tag=command.tag, status=ResponseStatus.OK, text=f"{name} completed"
            )
        if result.tag is None:
            return StatusResponse(
                tag=command.tag, status=result.status, code=result.code,
                text=result.text or f"{name} completed",
            )  # fmt: skip
        return result

    async def login_attempt(self, user: str) -> None:
        """Note the user a LOGIN / AUTHENTICATE names, and run the middleware's login
        guards on it (they raise `AuthenticationFailed` to refuse)."""
        call = self.current_call
        if call is not None:
            await call.check_login(user)

    def streamed_literal(self, literal: StreamedLiteral) -> SpooledMessage:
        """The octets of a literal of the running command that the wire streamed (one over
        its threshold, 1 MiB: an APPEND's large message), in a temporary file. The file is
        removed when the command ends; a store that keeps the message copies it.

        Raises:
            CommandFailed: No such literal arrived (BAD).
        """
        if literal.index not in self._command_literals:
            raise CommandFailed("message not received", bad=True)
        message = self._command_literals[literal.index]
        if message is None or message.size != literal.size:
            raise CommandFailed("Cannot take the message now; try again later", code="UNAVAILABLE")
        return message

    # A temporary file that cannot be created or written (a full disk, a missing directory)
    # turns into None: the rest of the literal is read and dropped, and the command fails.

    def _spool_file(self) -> SpooledMessage | None:
        try:
            return SpooledMessage(self.server.spool_directory)
        except OSError as exc:
            log.error("cannot spool a literal to %s: %s", self.server.spool_directory, exc)
            return None

    def _spool_chunk(self, data: bytes) -> None:
        index = self._current_streamed
        message = self._streamed[index]
        if message is None:
            return
        try:
            message.write(data)
        except OSError as exc:
            log.error("cannot spool a literal to %s: %s", self.server.spool_directory, exc)
            message.close()
            self._streamed[index] = None

    def _close_literals(self) -> None:
        if not (self._streamed or self._command_literals):
            return  # the usual case, after every command
        for message in (*self._streamed.values(), *self._command_literals.values()):
            if message is not None:
                message.close()
        self._streamed = {}
        self._command_literals = {}

    # -- exchanges handlers use ---------------------------------------------------------------

    async def continuation(self, text: str = "") -> None:
        """Send ``+ text`` now (a continuation request)."""
        await self.send(ContinuationRequest(text=text))
        await self.flush()

    async def read_sasl_response(self) -> AuthenticateResponse:
        """Wait for the client's next AUTHENTICATE line (after `continuation`).

        Raises:
            CommandFailed: The line is not a SASL response (invalid base64, a literal): the
                command ends with BAD (RFC 9051 section 6.2.2).
        """
        event = await self._exchange_event(self._timeout())
        if type(event) is AuthenticateResponse:
            return event
        raise ConnectionClosedError("connection closed during AUTHENTICATE")

    async def idle(self, tag: str) -> None:
        """Run IDLE until DONE: send updates as they happen."""
        await self.continuation("idling")
        await self.session.poll(self, allow_expunge=True)
        await self.flush()
        # Failures are collected and raised after the task group, so the command's error
        # handling sees the exception itself rather than an exception group.
        failure: list[BaseException] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._idle_updates, tg.cancel_scope, failure)
            try:
                while True:
                    event = await self._idle_event()
                    if type(event) is IdleDone:
                        break
                    if type(event) is ConnectionClosed:
                        failure.append(ConnectionClosedError("closed during IDLE"))
                        break
            except (Exception, anyio.get_cancelled_exc_class()) as exc:
                if not isinstance(exc, anyio.get_cancelled_exc_class()) or not failure:
                    failure.append(exc)
            finally:
                tg.cancel_scope.cancel()
        if failure:
            raise failure[0]

    async def _idle_event(self) -> Any:
        return await self._exchange_event(self.server.idle_timeout)

    async def _exchange_event(self, timeout: float) -> Any:
        """The client's line answering a continuation request (a SASL response, DONE).

        A line that is not one ends the command with BAD rather than being taken for the
        next command; a fatal error (a line over the limit) ends the connection.
        """
        while True:
            try:
                event = self.wire.next_event()
            except RemoteProtocolError as exc:
                if exc.response.status is ResponseStatus.BYE:
                    await self._protocol_error(exc)  # sends BYE and raises
                raise CommandFailed(exc.text, bad=True) from None
            if event is NEED_DATA:
                await self.flush()
                await self._receive(timeout)
                continue
            return event

    async def _idle_updates(self, scope: anyio.CancelScope, failure: list[BaseException]) -> None:
        try:
            while True:
                await self.session.wait_for_changes()
                await self.session.poll(self, allow_expunge=True)
                await self.flush()
        except Exception as exc:
            failure.append(exc)
            scope.cancel()

    async def start_tls(self, tag: str) -> None:
        """Answer STARTTLS and switch the stream to TLS."""
        context = self.server.tls_context
        assert context is not None
        await self.send(
            StatusResponse(tag=tag, status=ResponseStatus.OK, text="Begin TLS negotiation now")
        )
        await self.flush()
        self._answered = True
        if self.wire.plaintext_injected:
            # Commands pipelined after STARTTLS in plaintext (CVE-2011-0411): refuse them by
            # dropping the connection rather than run anything an attacker injected.
            raise ConnectionClosedError("plaintext injected after STARTTLS")
        try:
            with anyio.fail_after(self.server.tls_handshake_timeout):
                self.stream = await TLSStream.wrap(
                    self.stream, server_side=True, ssl_context=context, standard_compatible=False
                )
        except Exception as exc:
            raise ConnectionClosedError("TLS handshake failed") from exc
        self.info = _with_tls(self.info)
        self.ctx.info = self.info
        if hasattr(self.session, "info"):
            self.session.info = self.info


def _with_tls(info: ConnectionInfo) -> ConnectionInfo:
    return ConnectionInfo(remote=info.remote, local=info.local, tls=True)


_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def _raw_socket(stream: anyio.abc.ByteStream) -> Any:
    """The stream's socket, looked up once (for `_quickack`), or None."""
    if _QUICKACK is None:
        return None
    try:
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
    except Exception:
        return None
    return raw if hasattr(raw, "setsockopt") else None


def _quickack(sock: Any) -> None:
    """Ask the kernel to ACK at once: a client that writes a literal and its closing CRLF
    in two writes (stdlib imaplib) would otherwise wait for our delayed ACK (Nagle on its
    side), about 40 ms per APPEND. Linux resets quick-ack mode, so set it after each read."""
    try:  # noqa: SIM105 - on every read: a plain try costs nothing, suppress() does
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
    except OSError:
        pass
