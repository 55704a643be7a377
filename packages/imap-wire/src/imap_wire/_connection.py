"""h11-style connection objects: bytes in, events out; values in, bytes out.

`ServerConnection` parses what a client sends and encodes what a server answers;
`ClientConnection` does the reverse. Both keep the connection state (RFC 9051 section 3),
track pending tags, and switch modes the protocol implies (literal continuations, the
AUTHENTICATE exchange, IDLE, UTF8=ACCEPT). Neither touches a socket.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ._commands import Authenticate, Command, Idle, StartTLS, parse_command_values
from ._encoding import LiteralMode, LiteralSource, WireWriter, written
from ._framer import Framer, Line, LiteralAnnounced, LiteralChunk, LiteralStarted, line_tag
from ._limits import DEFAULT_CLIENT_LIMITS, DEFAULT_SERVER_LIMITS, Limits
from ._registry import ParseContext, Registry, default_registry
from ._response_codes import CapabilityCode, response_code
from ._responses import (
    CapabilityResponse,
    ContinuationRequest,
    EnabledResponse,
    Response,
    ResponseStatus,
    StatusResponse,
    parse_response_line,
)
from ._state import ConnectionState, StateMachine
from ._values import tokenize
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "NEED_DATA",
    "AuthenticateResponse",
    "ClientConnection",
    "ConnectionClosed",
    "ContinuationRequired",
    "EncodedCommand",
    "IdleDone",
    "LiteralPolicy",
    "LiteralRefused",
    "LiteralRequest",
    "NeedData",
    "ServerConnection",
]

#: Literals larger than this are streamed as `LiteralChunk` events by default.
DEFAULT_STREAM_THRESHOLD: Final = 1 << 20


class NeedData(enum.Enum):
    """`next_event` has nothing more to give until more bytes are received."""

    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its side of the connection (``receive_data(b"")``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContinuationRequired:
    """A synchronizing literal was accepted: the server must write `data` now.

    Attributes:
        tag: The command's tag.
        size: The literal's announced size.
        data: The continuation request to write (``+ Ready for literal data\\r\\n``).
    """

    tag: str | None
    size: int
    data: bytes = b"+ Ready for literal data\r\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiteralRequest:
    """What the literal policy is asked about, before any ``+`` is sent.

    Attributes:
        tag: The command's tag, if it could be read.
        command: The command name (upper case), if it could be read.
        size: Octets announced.
        binary: True for a literal8 (``~{n}``).
        synchronizing: False for ``{n+}``: the octets are on their way whatever we answer.
    """

    tag: str | None
    command: str | None
    size: int
    binary: bool
    synchronizing: bool


#: Returns None to accept a literal, or the response that refuses it (e.g. ``NO [TOOBIG]``).
LiteralPolicy = Callable[[LiteralRequest], "StatusResponse | None"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiteralRefused:
    """The literal policy refused a literal; the server sends `response`.

    The command is dropped: a synchronizing literal is never sent, and the octets of a
    non-synchronizing one are skipped with the rest of the line.
    """

    tag: str | None
    response: StatusResponse


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticateResponse:
    """A client line during an AUTHENTICATE exchange (RFC 9051 section 6.2.2).

    Attributes:
        tag: The AUTHENTICATE command's tag.
        data: The base64-decoded response; empty for an empty line.
        cancelled: The client sent ``*``: the server must answer ``BAD``.
    """

    tag: str
    data: bytes = b""
    cancelled: bool = False

    def __repr__(self) -> str:
        # SASL payloads carry credentials.
        return (
            f"AuthenticateResponse(tag={self.tag!r}, data=<{len(self.data)} octets>, "
            f"cancelled={self.cancelled})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class IdleDone:
    """The client ended IDLE with ``DONE`` (RFC 9051 section 6.3.13)."""

    tag: str


ServerEvent = (
    Command
    | ContinuationRequired
    | LiteralRefused
    | LiteralStarted
    | LiteralChunk
    | AuthenticateResponse
    | IdleDone
    | ConnectionClosed
    | NeedData
)
ClientEvent = Response | LiteralStarted | LiteralChunk | ConnectionClosed | NeedData


class _Base:
    def __init__(
        self,
        registry: Registry | None,
        limits: Limits,
        stream_threshold: int,
        *,
        server: bool,
    ) -> None:
        self.registry = registry if registry is not None else default_registry()
        self.limits = limits
        self.states = StateMachine(extra_commands=self.registry.command_states)
        # A server decides on each literal before its "+", and parses commands strictly; a
        # client reads whatever literals come, and parses responses tolerantly.
        self._framer = Framer(limits, stream_threshold=stream_threshold, decide_literals=server)
        self._strict = server
        self._ctx = ParseContext(registry=self.registry, utf8=False, strict=server)
        self._closed_reported = False
        self._pending: dict[str, str] = {}

    @property
    def state(self) -> ConnectionState:
        """The connection state (RFC 9051 section 3)."""
        return self.states.state

    @property
    def utf8(self) -> bool:
        """True once UTF8=ACCEPT is enabled (RFC 9755)."""
        return self._ctx.utf8

    @property
    def buffered(self) -> int:
        """Octets received (`receive_data`) and not yet parsed into events.

        Received minus buffered is what the events so far were made of: a server uses it to
        count the octets of each command.
        """
        return self._framer.buffered

    def _set_utf8(self) -> None:
        self._ctx = ParseContext(registry=self.registry, utf8=True, strict=self._strict)

    def receive_data(self, data: bytes) -> None:
        """Hand received octets to the parser; ``b""`` means the peer closed the connection."""
        if not data:
            self._framer.eof = True
        else:
            if self._framer.eof:
                raise LocalProtocolError("data received after the end of the stream")
            self._framer.feed(data)

    def _closed(self) -> ConnectionClosed:
        if self._framer.in_line or self._framer.buffered:
            self._framer = self._framer.fresh()
            self._framer.eof = True
            raise RemoteProtocolError("connection closed in the middle of a line", fatal=True)
        self.states.bye()
        return ConnectionClosed()

    def _completed(self, tag: str, status: ResponseStatus) -> None:
        name = self._pending.pop(tag, None)
        if name is not None and status in (
            ResponseStatus.OK,
            ResponseStatus.NO,
            ResponseStatus.BAD,
        ):
            self.states.command_completed(name, status.value)


class ServerConnection(_Base):
    """The server end: parses commands, encodes responses.

    Args:
        registry: Grammar in force (default: IMAP4rev1 + IMAP4rev2).
        limits: Bounds on client input.
        literal_policy: Consulted for every literal before a ``+`` is sent (and for
            non-synchronizing ones before their octets are kept).
        stream_literals_over: Literals larger than this come as `LiteralStarted` and
            `LiteralChunk` events instead of being held in memory.
        literal_minus: The server advertises LITERAL- (RFC 7888 section 5): refuse
            non-synchronizing literals over 4096 octets.
    """

    def __init__(
        self,
        *,
        registry: Registry | None = None,
        limits: Limits = DEFAULT_SERVER_LIMITS,
        literal_policy: LiteralPolicy | None = None,
        stream_literals_over: int = DEFAULT_STREAM_THRESHOLD,
        literal_minus: bool = False,
    ) -> None:
        super().__init__(registry, limits, stream_literals_over, server=True)
        self._framer.literal_minus = literal_minus
        self.literal_policy = literal_policy
        # The AUTHENTICATE, IDLE or STARTTLS command in progress, and whether a continuation
        # request was sent for it (so the next line is a SASL response or DONE).
        self._exchange: Command | None = None
        self._continuation_for: Command | None = None
        #: True when a client sent octets after STARTTLS before the TLS handshake; they
        #: were dropped (CVE-2011-0411) and the server should close the connection.
        self.plaintext_injected = False

    def next_event(self) -> ServerEvent:
        """Return the next event, or `NEED_DATA`.

        Raises:
            RemoteProtocolError: The client sent a malformed command, a command not valid in
                this state, or went over a limit. `RemoteProtocolError.response` is what to
                answer; unless the error is fatal, the connection goes on with the next line.
        """
        if self._exchange is not None and self._continuation_for is None:
            # During AUTHENTICATE, IDLE and STARTTLS the next line means something only once
            # the server has answered: a SASL response or DONE after its "+", nothing after
            # STARTTLS's OK (what followed in plaintext is dropped, CVE-2011-0411).
            if self._framer.eof and not self._closed_reported:
                self._closed_reported = True
                self.states.bye()
                return ConnectionClosed()
            return NEED_DATA
        framer = self._framer
        while True:
            try:
                frame = framer.next_frame()
            except RemoteProtocolError as exc:
                waiting = self._continuation_for
                if waiting is not None:
                    # A bad SASL response or DONE line ends the exchange, under its tag;
                    # its text (credentials, perhaps) is never taken for a tag.
                    exc.tag = waiting.tag
                    self._continuation_for = None
                raise
            if frame is None:
                if framer.eof and not self._closed_reported:
                    # _closed() raises for a line cut short and resets the framer: the
                    # next call then reports the closure.
                    closed = self._closed()
                    self._closed_reported = True
                    return closed
                return NEED_DATA
            if type(frame) is Line:
                return self._line(frame)
            if type(frame) is LiteralAnnounced:
                event = self._announced(frame)
                if event is not None:
                    return event
                continue
            assert isinstance(frame, LiteralStarted | LiteralChunk)
            return frame

    def _announced(self, ann: LiteralAnnounced) -> ContinuationRequired | LiteralRefused | None:
        if self._continuation_for is not None:
            # A literal cannot stand for a SASL response or DONE.
            self._framer.reject_literal()
            tag = self._continuation_for.tag
            self._continuation_for = None
            raise RemoteProtocolError("unexpected literal", tag=tag)
        refusal = self._refusal(ann)
        if refusal is None and self.literal_policy is not None:
            try:
                refusal = self.literal_policy(
                    LiteralRequest(
                        tag=ann.tag,
                        command=ann.command,
                        size=ann.size,
                        binary=ann.binary,
                        synchronizing=ann.synchronizing,
                    )
                )
            except BaseException:
                self._framer.reject_literal()  # the connection must not wait for a decision
                raise
        if refusal is not None:
            self._framer.reject_literal()
            return LiteralRefused(tag=ann.tag, response=refusal)
        self._framer.accept_literal()
        if ann.synchronizing:
            return ContinuationRequired(tag=ann.tag, size=ann.size)
        return None

    def _refusal(self, ann: LiteralAnnounced) -> StatusResponse | None:
        """Refuse, before any "+", a literal of a line that cannot become a valid command."""
        tag, command = ann.tag, ann.command
        bad = ResponseStatus.BAD
        if tag is None:
            return StatusResponse(tag=None, status=bad, text="invalid tag")
        if command is None or (command not in self.registry.commands and command != "UID"):
            # The framer names only the first word: "UID" stands for whichever UID command
            # follows, which the full parse checks once the line is complete.
            return StatusResponse(tag=tag, status=bad, text="unknown command")
        if command != "UID" and not self.states.allows(command):
            return StatusResponse(tag=tag, status=bad, text=f"{command} is not valid now")
        if (
            self.state is ConnectionState.NOT_AUTHENTICATED
            and ann.size > self.limits.max_unauthenticated_literal
        ):
            # Before login, only small literals (a user name, a password) have a use.
            return StatusResponse(
                tag=tag, status=ResponseStatus.NO, code=response_code("TOOBIG"),
                text="literal too large before authentication",
            )  # fmt: skip
        return None

    def _line(self, line: Line) -> ServerEvent:
        waiting = self._continuation_for
        if waiting is not None:
            self._continuation_for = None
            return self._continuation_line(waiting, line.segments[0])
        try:
            values = tokenize(line.segments, line.literals, self.limits, strict=True)
            command = parse_command_values(values, self._ctx)
        except RemoteProtocolError as exc:
            if exc.tag is None:
                exc.tag = line_tag(line.segments[0])
            raise
        name = command.command_name
        if not self.states.allows(name):
            raise RemoteProtocolError(
                f"{name} is not valid in the {self.state.name.lower().replace('_', ' ')} state",
                tag=command.tag,
            )
        if command.tag in self._pending:
            # RFC 9051 section 2.2.1: tags must be unique among commands in progress.
            raise RemoteProtocolError("tag already in use", tag=command.tag)
        self._pending[command.tag] = name
        if isinstance(command, Authenticate | Idle | StartTLS):
            self._exchange = command
        return command

    def _continuation_line(self, command: Command, text: bytes) -> ServerEvent:
        if isinstance(command, Idle):
            if text.upper() != b"DONE":
                raise RemoteProtocolError("expected DONE", tag=command.tag)
            return IdleDone(tag=command.tag)
        if text == b"*":
            return AuthenticateResponse(tag=command.tag, cancelled=True)
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise RemoteProtocolError("invalid base64 in SASL response", tag=command.tag) from None
        return AuthenticateResponse(tag=command.tag, data=data)

    def send(self, response: Response) -> bytes:
        """Encode a response and apply its effect on the connection state.

        A tagged completion ends its command (LOGIN OK authenticates, SELECT OK selects...);
        a continuation request while AUTHENTICATE or IDLE runs makes the next client line a
        SASL response or ``DONE``; ``* ENABLED UTF8=ACCEPT`` switches mailbox names to UTF-8;
        a ``PREAUTH`` greeting authenticates; ``BYE`` ends the connection.

        Raises:
            LocalProtocolError: The response cannot be expressed on the wire, or it holds a
                `LiteralSource` (a FETCH section the server streams): use `send_parts`.
        """
        return self._encode(response).getvalue()

    def send_parts(self, response: Response) -> list[bytes | LiteralSource]:
        """Encode a response like `send`, as parts: byte strings and, for each
        `LiteralSource` in it (a ``BODY[...]`` section of a `FetchResponse`, say), the source
        itself, after the bytes that announce it. The server writes the parts in order,
        streaming exactly ``source.size`` octets in place of each source. Without a source
        there is one part, the bytes `send` returns.

        Raises:
            LocalProtocolError: The response cannot be expressed on the wire.
        """
        return [part for part, _ in self._encode(response).parts()]

    def _encode(self, response: Response) -> WireWriter:
        w = written(response, literal_mode=LiteralMode.RESPONSE, utf8=self.utf8)
        if type(response) is StatusResponse:
            self._after_status(response)
        elif type(response) is ContinuationRequest:
            # AUTHENTICATE and IDLE are never pipelined behind other commands (RFC 9051
            # section 5.5), so a continuation request answers the exchange in progress.
            if isinstance(self._exchange, Authenticate | Idle):
                self._continuation_for = self._exchange
        elif isinstance(response, EnabledResponse) and _enables_utf8(response):
            self._set_utf8()
        return w

    def _after_status(self, response: StatusResponse) -> None:
        status = response.status
        if response.tag is None:
            if status is ResponseStatus.PREAUTH:
                self.states.preauth()
            elif status is ResponseStatus.BYE:
                self.states.bye()
            return
        name = self._pending.get(response.tag)
        self._completed(response.tag, status)
        if self._exchange is not None and self._exchange.tag == response.tag:
            self._exchange = None
            self._continuation_for = None
        if name == "STARTTLS" and status is ResponseStatus.OK and self._framer.buffered:
            # Octets sent after STARTTLS but before the TLS handshake came in plaintext and
            # must not be run as commands (CVE-2011-0411).
            self._framer = self._framer.fresh()
            self.plaintext_injected = True


class ClientConnection(_Base):
    """The client end: encodes commands, parses responses (tolerantly).

    Args:
        registry: Grammar in force.
        limits: Bounds on server output.
        stream_literals_over: Literals (message bodies) larger than this come as
            `LiteralStarted` / `LiteralChunk` events.
        literal_mode: How to send literals; it follows the server's capabilities (LITERAL+
            or LITERAL-) once a CAPABILITY response or code has been seen.
    """

    def __init__(
        self,
        *,
        registry: Registry | None = None,
        limits: Limits = DEFAULT_CLIENT_LIMITS,
        stream_literals_over: int = DEFAULT_STREAM_THRESHOLD,
        literal_mode: LiteralMode = LiteralMode.SYNC,
    ) -> None:
        super().__init__(registry, limits, stream_literals_over, server=False)
        self.literal_mode = literal_mode
        self._initial_literal_mode = literal_mode
        self.capabilities: frozenset[str] = frozenset()
        self._greeted = False
        #: True when the server sent more after its OK to STARTTLS, before the TLS
        #: handshake; it was dropped (CVE-2011-0411) and the client should disconnect.
        self.plaintext_injected = False

    def send(self, command: Command) -> EncodedCommand:
        """Encode a command and record its tag as pending.

        Raises:
            LocalProtocolError: The command is not valid in the current state, its tag is in
                use, or a value cannot be expressed on the wire.
        """
        name = command.command_name
        if not self.states.allows(name):
            raise LocalProtocolError(f"{name} is not valid in the {self.state.name} state")
        if command.tag in self._pending:
            raise LocalProtocolError(f"tag {command.tag!r} is already in use")
        w = written(command, literal_mode=self.literal_mode, utf8=self.utf8)
        self._pending[command.tag] = name
        parts = w.parts()
        return EncodedCommand(
            tag=command.tag,
            parts=tuple(p for p, _ in parts),
            wait_after=tuple(wait for _, wait in parts),
        )

    @staticmethod
    def continuation_data(data: bytes) -> bytes:
        """Encode a SASL response line (base64, RFC 9051 section 6.2.2)."""
        return base64.b64encode(data) + b"\r\n"

    #: Ends IDLE (RFC 9051 section 6.3.13).
    DONE: Final = b"DONE\r\n"
    #: Cancels an AUTHENTICATE exchange.
    CANCEL: Final = b"*\r\n"

    def next_event(self) -> ClientEvent:
        """Return the next response or literal event, or `NEED_DATA`.

        Raises:
            RemoteProtocolError: The server sent a line that cannot be parsed even
                tolerantly; the line is skipped and the connection may go on.
        """
        framer = self._framer
        frame = framer.next_frame()
        if frame is None:
            if framer.eof and not self._closed_reported:
                closed = self._closed()
                self._closed_reported = True
                return closed
            return NEED_DATA
        if type(frame) is not Line:
            assert isinstance(frame, LiteralStarted | LiteralChunk)
            return frame
        try:
            response = parse_response_line(frame.segments, frame.literals, self._ctx, self.limits)
        except RemoteProtocolError as exc:
            if exc.tag is None:
                # The tag of a malformed completion tells the client which command it ends.
                exc.tag = line_tag(frame.segments[0])
            raise
        if isinstance(response, StatusResponse):
            self._after_status(response)
            return response
        self._greeted = True
        if isinstance(response, CapabilityResponse):
            self._set_capabilities(response.capabilities)
        elif isinstance(response, EnabledResponse) and _enables_utf8(response):
            self._set_utf8()
        return response

    def _after_status(self, response: StatusResponse) -> None:
        greeting = not self._greeted
        self._greeted = True
        if isinstance(response.code, CapabilityCode):
            self._set_capabilities(response.code.capabilities)
        if response.tag is not None:
            name = self._pending.get(response.tag)
            self._completed(response.tag, response.status)
            if name == "STARTTLS" and response.status is ResponseStatus.OK:
                self._start_tls()
        elif response.status is ResponseStatus.PREAUTH:
            if greeting:  # PREAUTH means something only as the greeting (RFC 9051 section 7.1)
                self.states.preauth()
        elif response.status is ResponseStatus.BYE:
            self.states.bye()

    def _start_tls(self) -> None:
        # What the server sent after its OK came in plaintext (CVE-2011-0411), and what was
        # learnt before TLS must be forgotten (RFC 9051 section 6.2.1).
        if self._framer.buffered:
            self._framer = self._framer.fresh()
            self.plaintext_injected = True
        self.capabilities = frozenset()
        self.literal_mode = self._initial_literal_mode

    def _set_capabilities(self, capabilities: tuple[str, ...]) -> None:
        caps = frozenset(c.upper() for c in capabilities)
        self.capabilities = caps
        if self.literal_mode is not LiteralMode.RESPONSE:
            if "LITERAL+" in caps:
                self.literal_mode = LiteralMode.PLUS
            elif "LITERAL-" in caps:
                self.literal_mode = LiteralMode.MINUS
            else:
                self.literal_mode = LiteralMode.SYNC


def _enables_utf8(response: EnabledResponse) -> bool:
    # IMAP4rev2 names mailboxes in UTF-8 and allows UTF-8 in quoted strings (RFC 9051
    # sections 5.1 and 9), as UTF8=ACCEPT does for IMAP4rev1 (RFC 9755).
    return any(c.upper() in ("UTF8=ACCEPT", "IMAP4REV2") for c in response.capabilities)


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodedCommand:
    """A command ready to send.

    Attributes:
        tag: The command's tag.
        parts: What to write, in order. A `LiteralSource` stands for octets the caller
            streams itself.
        wait_after: For each part, whether to wait for a continuation request (``+``)
            before writing the next one (after a synchronizing literal announcement).
    """

    tag: str
    parts: tuple[bytes | LiteralSource, ...]
    wait_after: tuple[bool, ...]

    @property
    def data(self) -> bytes:
        """All parts as one byte string, ignoring waits (for tests and LITERAL+ servers).

        Raises:
            LocalProtocolError: A part is a `LiteralSource`.
        """
        if any(isinstance(p, LiteralSource) for p in self.parts):
            raise LocalProtocolError("the command streams a literal; write its parts")
        return b"".join(p for p in self.parts if isinstance(p, bytes))
