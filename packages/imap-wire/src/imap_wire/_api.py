"""One-shot helpers over the connection machinery: a whole command or response in, a value out."""

from __future__ import annotations

from ._commands import Command, parse_command_values
from ._encoding import LiteralMode, written
from ._framer import Framer, Line, line_tag
from ._limits import DEFAULT_CLIENT_LIMITS, DEFAULT_SERVER_LIMITS, Limits
from ._registry import ParseContext, Registry, default_registry
from ._responses import Response, parse_response_line
from ._values import tokenize
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "encode_command",
    "encode_response",
    "parse_command",
    "parse_response",
    "parse_responses",
]


def _lines(data: bytes, limits: Limits) -> list[Line]:
    framer = Framer(limits, stream_threshold=limits.max_literal_size, decide_literals=False)
    framer.feed(data)
    lines: list[Line] = []
    while (frame := framer.next_frame()) is not None:
        assert isinstance(frame, Line)  # nothing streams: the threshold is the size limit
        lines.append(frame)
    if framer.buffered or framer.in_line:
        raise RemoteProtocolError("incomplete line: it must end with CRLF")
    return lines


def parse_command(
    data: bytes,
    *,
    registry: Registry | None = None,
    utf8: bool = False,
    limits: Limits = DEFAULT_SERVER_LIMITS,
) -> Command:
    """Parse one complete command line, literals inline, as a server does.

    >>> parse_command(b'a1 LOGIN alice "s3cret pw"\\r\\n')
    Login(tag='a1', username='alice')

    Raises:
        RemoteProtocolError: The bytes are not exactly one valid command.
    """
    lines = _lines(data, limits)
    if len(lines) != 1:
        raise RemoteProtocolError(f"expected one command line, got {len(lines)}")
    ctx = ParseContext(registry=registry or default_registry(), utf8=utf8, strict=True)
    line = lines[0]
    try:
        values = tokenize(line.segments, line.literals, limits, strict=True)
        return parse_command_values(values, ctx)
    except RemoteProtocolError as exc:
        if exc.tag is None:
            exc.tag = line_tag(line.segments[0])
        raise


def parse_responses(
    data: bytes,
    *,
    registry: Registry | None = None,
    utf8: bool = False,
    limits: Limits = DEFAULT_CLIENT_LIMITS,
) -> list[Response]:
    """Parse complete response lines, literals inline, as a client does (tolerantly)."""
    ctx = ParseContext(registry=registry or default_registry(), utf8=utf8, strict=False)
    return [
        parse_response_line(ln.segments, ln.literals, ctx, limits) for ln in _lines(data, limits)
    ]


def parse_response(
    data: bytes,
    *,
    registry: Registry | None = None,
    utf8: bool = False,
    limits: Limits = DEFAULT_CLIENT_LIMITS,
) -> Response:
    """Parse one complete response line.

    >>> parse_response(b"* 23 EXISTS\\r\\n")
    ExistsResponse(count=23)

    Raises:
        RemoteProtocolError: The bytes are not exactly one valid response.
    """
    responses = parse_responses(data, registry=registry, utf8=utf8, limits=limits)
    if len(responses) != 1:
        raise RemoteProtocolError(f"expected one response line, got {len(responses)}")
    return responses[0]


def encode_command(
    command: Command, *, literal_mode: LiteralMode = LiteralMode.SYNC, utf8: bool = False
) -> bytes:
    """Encode a command as one byte string (waits for ``+`` are the caller's business).

    >>> from imap_wire import Noop
    >>> encode_command(Noop(tag="a2"))
    b'a2 NOOP\\r\\n'
    """
    w = written(command, literal_mode=literal_mode, utf8=utf8)
    parts = [p for p, _ in w.parts()]
    if not all(isinstance(p, bytes) for p in parts):
        raise LocalProtocolError("the command streams a literal: send it with ClientConnection")
    return b"".join(p for p in parts if isinstance(p, bytes))


def encode_response(response: Response, *, utf8: bool = False) -> bytes:
    """Encode a response.

    >>> from imap_wire import ExistsResponse
    >>> encode_response(ExistsResponse(count=4))
    b'* 4 EXISTS\\r\\n'
    """
    return written(response, literal_mode=LiteralMode.RESPONSE, utf8=utf8).getvalue()
