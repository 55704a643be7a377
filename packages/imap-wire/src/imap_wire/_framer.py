"""Incremental framing: bytes in, logical lines (with their literals) out.

The framer knows only CRLF, literal announcements (``{n}``, ``{n+}``, ``~{n}``) and limits.
It never parses grammar, so every caller (server, client, fuzzers) shares one bounded-memory
reader. Large literals are handed out as chunks instead of being assembled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto

from ._encoding import TAG_PATTERN
from ._limits import Limits
from ._values import StreamedLiteral
from .errors import LimitExceeded

__all__ = ["Framer", "Line", "LiteralAnnounced", "LiteralChunk", "LiteralStarted"]

_LITERAL_MARK = re.compile(rb"(~?)\{([0-9]{1,20})(\+?)\}\Z")
# The first word of a line and the command name after it, bounded: what an error response
# may repeat of a line it refuses (the word only if it is a tag the writer can echo).
_TAG = re.compile(rb"([\x21-\x7e]{1,64})(?= |\Z)(?: ([A-Za-z]{1,32}))?")
_COMPACT_AT = 1 << 16


@dataclass(frozen=True, slots=True)
class Line:
    """One logical line: text segments split after each literal announcement, and literals."""

    segments: list[bytes]
    literals: list[bytes | StreamedLiteral]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiteralAnnounced:
    """A literal was announced; the framer waits for `Framer.accept_literal` or `reject`."""

    tag: str | None
    command: str | None
    size: int
    binary: bool
    synchronizing: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LiteralStarted:
    """A literal too large to hold is about to be handed out as `LiteralChunk` events.

    Attributes:
        size: Octets that will follow, in chunks.
        binary: True for a literal8.
        prefix: The line's text up to its first literal, so the receiver can tell what the
            line is (``* 3 FETCH (UID 7 BODY[] {...}`` or ``A1 APPEND box {...}``).
        preceding: The text between the previous literal (or the start of the line) and this
            literal, its announcement included (``BODY[2] {...}``); the same as ``prefix`` for
            the first literal. Neither is copied per literal, so many literals cost no more.
        index: Position among the streamed literals of this line (as in `StreamedLiteral`).
    """

    size: int
    binary: bool
    prefix: bytes
    preceding: bytes
    index: int


@dataclass(frozen=True, slots=True)
class LiteralChunk:
    """Some octets of a streamed literal, in order; their sizes add up to the literal's."""

    data: bytes


def line_tag(text: bytes) -> str | None:
    """Return the tag a command line starts with, if it has one (for error responses)."""
    m = _TAG.match(text)
    if m is None:
        return None
    tag = m.group(1).decode("ascii")
    return tag if TAG_PATTERN.match(tag) else None


class _Mode(Enum):
    LINE = auto()
    DECIDE = auto()
    LITERAL = auto()
    DISCARD_LINE = auto()
    DISCARD_LITERAL = auto()


Frame = Line | LiteralAnnounced | LiteralStarted | LiteralChunk


class _Again(Enum):
    AGAIN = auto()


_AGAIN = _Again.AGAIN


class Framer:
    """Splits a byte stream into logical lines, enforcing `Limits`.

    Args:
        limits: The bounds to enforce.
        stream_threshold: Literals larger than this are streamed as `LiteralChunk` frames.
        decide_literals: True on the server side: every literal announcement is reported as
            `LiteralAnnounced` and waits for a decision; False on the client side.
    """

    def __init__(self, limits: Limits, *, stream_threshold: int, decide_literals: bool) -> None:
        self.limits = limits
        self.stream_threshold = stream_threshold
        self.decide_literals = decide_literals
        self.literal_minus = False
        self._buf = bytearray()
        self._pos = 0
        # Where the search for CRLF resumes in a partial line, so a long line that arrives
        # in many small reads is scanned once, not once per read.
        self._scan = 0
        self._mode = _Mode.LINE
        self._segments: list[bytes] = []
        self._literals: list[bytes | StreamedLiteral] = []
        self._text_len = 0
        self._inline_len = 0
        self._streamed = 0
        self._pending: LiteralAnnounced | None = None
        self._lit_remaining = 0
        self._lit_size = 0
        self._lit_binary = False
        self._lit_stream = False
        self._lit_parts: list[bytes] = []
        self._started = False
        self._tail = b""
        self.eof = False

    def fresh(self) -> Framer:
        """Return a framer with the same settings and nothing buffered."""
        framer = Framer(
            self.limits,
            stream_threshold=self.stream_threshold,
            decide_literals=self.decide_literals,
        )
        framer.literal_minus = self.literal_minus
        return framer

    # -- input ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Append received octets."""
        if self._pos > _COMPACT_AT and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._scan = max(0, self._scan - self._pos)
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Octets received and not yet framed."""
        return len(self._buf) - self._pos

    @property
    def in_line(self) -> bool:
        """True while part of a logical line has been consumed (e.g. mid-literal)."""
        return bool(self._segments) or self._mode is not _Mode.LINE

    # -- decisions on announced literals ----------------------------------------------------

    def accept_literal(self) -> None:
        """Read the announced literal (after a ``+`` for a synchronizing one)."""
        ann = self._pending
        if ann is None:
            raise RuntimeError("no literal is waiting for a decision")
        self._pending = None
        self._begin_literal(ann.size, ann.binary)

    def reject_literal(self) -> None:
        """Drop the line whose literal was announced.

        A synchronizing literal is never sent by the peer once refused; a non-synchronizing
        one is on its way and is skipped, with the rest of its line.
        """
        ann = self._pending
        if ann is None:
            raise RuntimeError("no literal is waiting for a decision")
        self._pending = None
        self._reset_line()
        if not ann.synchronizing:
            self._lit_remaining = ann.size
            self._mode = _Mode.DISCARD_LITERAL

    # -- output -----------------------------------------------------------------------------

    def next_frame(self) -> Frame | None:
        """Return the next frame, or None when more data is needed.

        Raises:
            RemoteProtocolError: The input broke a rule; the framer has already arranged to
                skip the offending line, so the caller may report the error and go on unless
                the error is fatal.
        """
        while True:
            mode = self._mode
            if mode is _Mode.LINE:
                line = self._next_line()
                if line is _AGAIN:
                    continue
                return line
            if mode is _Mode.LITERAL:
                frame = self._read_literal()
                if frame is None and self._mode is _Mode.LITERAL:
                    return None
                if frame is not None:
                    return frame
                continue
            if mode is _Mode.DISCARD_LITERAL:
                avail = len(self._buf) - self._pos
                take = min(avail, self._lit_remaining)
                self._pos += take
                self._lit_remaining -= take
                if self._lit_remaining:
                    return None
                self._mode = _Mode.DISCARD_LINE
                continue
            if mode is _Mode.DISCARD_LINE:
                if not self._discard_line():
                    return None
                continue
            return None  # DECIDE: waiting for accept_literal / reject_literal

    def _next_line(self) -> Frame | _Again | None:
        buf = self._buf
        pos = self._pos
        end = buf.find(b"\r\n", self._scan if self._scan > pos else pos)
        if end < 0:
            size = len(buf)
            # A CR at the end may be the first half of the CRLF: search it again next time,
            # and do not count it as text.
            self._scan = size - 1 if size > pos else pos
            pending = size - pos - (1 if size > pos and buf[-1] == 13 else 0)
            if pending + self._text_len > self.limits.max_line_length:
                self._overlong()
            return None
        self._pos = end + 2
        self._text_len += end - pos
        if self._text_len > self.limits.max_line_length:
            text = bytes(buf[pos:end])
            tag = line_tag(self._segments[0] if self._segments else text)
            self._reset_line()
            m = _LITERAL_MARK.search(text[-32:])
            if m and self._peer_sends(m):
                self._lit_remaining = int(m.group(2))
                self._mode = _Mode.DISCARD_LITERAL
            raise LimitExceeded(f"line longer than {self.limits.max_line_length} octets", tag=tag)
        if end == pos or buf[end - 1] != 0x7D:  # not '}': the common case, a complete line
            text = bytes(buf[pos:end])
            if not self._segments:
                self._text_len = 0
                return Line([text], [])
            self._segments.append(text)
            line = Line(self._segments, self._literals)
            self._reset_line()
            return line
        text = bytes(buf[pos:end])
        m = _LITERAL_MARK.search(text, max(0, len(text) - 32))
        if m is None:
            self._segments.append(text)
            line = Line(self._segments, self._literals)
            self._reset_line()
            return line
        self._segments.append(text)
        size = int(m.group(2))
        binary = bool(m.group(1))
        sync = not m.group(3)
        limits = self.limits
        if size > limits.max_literal_size or (
            not sync and self.literal_minus and size > limits.literal_minus_max
        ):
            tag = self._line_tag()
            self._reset_line()
            if not sync or not self.decide_literals:
                self._lit_remaining = size
                self._mode = _Mode.DISCARD_LITERAL
            raise LimitExceeded(
                f"literal of {size} octets is too large",
                tag=tag,
                status="NO" if sync else "BAD",
                code="TOOBIG",
            )
        if size <= self.stream_threshold and self._inline_len + size > limits.max_inline_literals:
            tag = self._line_tag()
            self._reset_line()
            if not sync or not self.decide_literals:
                self._lit_remaining = size
                self._mode = _Mode.DISCARD_LITERAL
            raise LimitExceeded(
                "literals of this line are too large in total",
                tag=tag,
                status="NO" if sync else "BAD",
                code="TOOBIG",
            )
        if self.decide_literals:
            tag, command = self._line_tag_command()
            self._pending = LiteralAnnounced(
                tag=tag, command=command, size=size, binary=binary, synchronizing=sync
            )
            self._mode = _Mode.DECIDE
            return self._pending
        self._begin_literal(size, binary)
        return _AGAIN

    def _begin_literal(self, size: int, binary: bool) -> None:
        self._lit_remaining = size
        self._lit_size = size
        self._lit_binary = binary
        self._lit_stream = size > self.stream_threshold
        self._lit_parts = []
        self._started = False
        self._mode = _Mode.LITERAL
        if not self._lit_stream:
            self._inline_len += size

    def _read_literal(self) -> Frame | None:
        buf = self._buf
        avail = len(buf) - self._pos
        if self._lit_stream:
            if not self._started:
                self._started = True
                return LiteralStarted(
                    size=self._lit_remaining,
                    binary=self._lit_binary,
                    prefix=self._segments[0],
                    preceding=self._segments[-1],
                    index=self._streamed,
                )
            if self._lit_remaining and not avail:
                return None
            take = min(avail, self._lit_remaining)
            if take:
                chunk = bytes(buf[self._pos : self._pos + take])
                self._pos += take
                self._lit_remaining -= take
                if not self._lit_remaining:
                    self._finish_streamed()
                return LiteralChunk(chunk)
            self._finish_streamed()
            return None
        take = min(avail, self._lit_remaining)
        if take:
            self._lit_parts.append(bytes(buf[self._pos : self._pos + take]))
            self._pos += take
            self._lit_remaining -= take
        if self._lit_remaining:
            return None
        parts = self._lit_parts
        self._literals.append(parts[0] if len(parts) == 1 else b"".join(parts))
        self._lit_parts = []
        self._mode = _Mode.LINE
        return None

    def _finish_streamed(self) -> None:
        self._literals.append(
            StreamedLiteral(size=self._lit_size, binary=self._lit_binary, index=self._streamed)
        )
        self._streamed += 1
        self._mode = _Mode.LINE

    # -- errors and resynchronisation -------------------------------------------------------

    def _overlong(self) -> None:
        if self._segments:
            tag = self._line_tag()
        else:
            tag = line_tag(bytes(self._buf[self._pos : self._pos + 256]))
        self._reset_line()
        self._tail = b""
        self._mode = _Mode.DISCARD_LINE
        raise LimitExceeded(f"line longer than {self.limits.max_line_length} octets", tag=tag)

    def _discard_line(self) -> bool:
        buf = self._buf
        if self._tail.endswith(b"\r") and self._pos < len(buf) and buf[self._pos] == 10:
            # The CRLF was split across two reads.
            text = self._tail[:-1]
            self._tail = b""
            self._pos += 1
            self._after_discarded(text)
            return True
        end = buf.find(b"\r\n", self._pos)
        if end < 0:
            # Keep a little of the tail so a literal announcement at the end is still seen.
            keep_from = max(self._pos, len(buf) - 32)
            self._tail = (self._tail + bytes(buf[keep_from:]))[-32:]
            self._pos = len(buf)
            return False
        text = (self._tail + bytes(buf[max(self._pos, end - 32) : end]))[-32:]
        self._tail = b""
        self._pos = end + 2
        self._after_discarded(text)
        return True

    def _after_discarded(self, text: bytes) -> None:
        # A non-synchronizing literal announced at the end is on its way: skip it too.
        m = _LITERAL_MARK.search(text)
        if m and self._peer_sends(m):
            self._lit_remaining = int(m.group(2))
            self._mode = _Mode.DISCARD_LITERAL
        else:
            self._mode = _Mode.LINE

    def _peer_sends(self, mark: re.Match[bytes]) -> bool:
        # A non-synchronizing literal comes whatever we answer, and so does every literal a
        # server sends (a client never sends "+"): such octets must be skipped, never read
        # as lines.
        return bool(mark.group(3)) or not self.decide_literals

    def _reset_line(self) -> None:
        self._segments = []
        self._literals = []
        self._text_len = 0
        self._inline_len = 0
        self._streamed = 0
        self._mode = _Mode.LINE

    def _line_tag(self) -> str | None:
        return line_tag(self._segments[0]) if self._segments else None

    def _line_tag_command(self) -> tuple[str | None, str | None]:
        if not self._segments:
            return None, None
        m = _TAG.match(self._segments[0])
        if not m or not TAG_PATTERN.match(m.group(1).decode("ascii")):
            return None, None
        cmd = m.group(2)
        return m.group(1).decode("ascii"), cmd.decode("ascii").upper() if cmd else None
