"""Printable, redacted lines of a connection trace (the caller logs them; nothing here does).

`trace_lines` turns the octets of one write or read into ``C:`` / ``S:`` trace lines: CRLF
stripped, non-printable octets escaped as ``\\xNN``, long lines shortened, literal contents
replaced by ``<n octets>``. Passwords and SASL exchanges are redacted: ``LOGIN`` keeps only
the user name, ``AUTHENTICATE`` only the mechanism, and while an ``AUTHENTICATE`` is in
progress every client line and every server challenge is replaced by ``<redacted>``.

One `TraceState` per connection, shared by both directions; octets may come in any chunks
(a line split over reads, several lines in one read).
"""

from __future__ import annotations

import re

__all__ = ["TraceState", "trace_lines"]

#: Characters of a trace line kept before it is cut.
MAX_LINE = 300
# Octets kept at the end of an overlong line, to see a literal announcement there.
_TAIL = 32
_REDACTED = "<redacted>"
_LITERAL_AT_END = re.compile(rb"~?\{([0-9]+)\+?\}$")
_PRINTABLE = frozenset(range(0x20, 0x7F))
# One-word client lines shown as they are: IDLE's end, a SASL cancel.
_SHOWN_WORDS = frozenset({b"DONE", b"*"})


class _Side:
    """One direction: the line being read and the literal being skipped."""

    __slots__ = ("args", "buf", "dropped", "literal_left", "mode", "prefix", "tag")

    def __init__(self) -> None:
        self.buf = bytearray()
        # Octets cut from the middle of an overlong line.
        self.dropped = 0
        self.literal_left = 0
        # Text standing for the literal that preceded this part of the line.
        self.prefix = ""
        # How the rest of the logical line is shown: None at the start of a line, "plain",
        # "login" (``args`` arguments seen) or "redact".
        self.mode: str | None = None
        self.args = 0
        # The first word of the logical line (its tag).
        self.tag = b""

    def append(self, chunk: bytes) -> None:
        self.buf += chunk
        if len(self.buf) > MAX_LINE + 2 * _TAIL:
            cut = len(self.buf) - _TAIL
            self.dropped += cut - MAX_LINE
            del self.buf[MAX_LINE:cut]


class TraceState:
    """Per-connection state of `trace_lines`: partial lines and whether an AUTHENTICATE is
    in progress (from the client's command to the tagged response with its tag)."""

    __slots__ = ("_client", "_server", "auth_tag", "hidden_word", "literal_tag")

    def __init__(self) -> None:
        self._client = _Side()
        self._server = _Side()
        #: The tag of the AUTHENTICATE in progress, or None.
        self.auth_tag: bytes | None = None
        #: A one-word client line that was redacted, until the server's answer that
        #: repeats it as a tag.
        self.hidden_word: bytes | None = None
        #: The tag of a client line whose synchronizing literal awaits the server's "+"
        #: (a refusal instead means the literal never comes).
        self.literal_tag: bytes | None = None


def trace_lines(data: bytes, *, sent_by_client: bool, state: TraceState) -> list[str]:
    """The complete trace lines in ``data`` (a partial line waits for the next call).

    A line that announces a literal is returned at once; the literal's octets are shown as
    ``<n octets>`` at the start of the line that follows them.
    """
    side = state._client if sent_by_client else state._server
    lines: list[str] = []
    i, end = 0, len(data)
    while i < end:
        if side.literal_left:
            n = min(side.literal_left, end - i)
            side.literal_left -= n
            i += n
            continue
        j = data.find(b"\n", i)
        if j < 0:
            side.append(data[i:])
            break
        side.append(data[i:j])
        i = j + 1
        raw = bytes(side.buf)
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        dropped = side.dropped
        side.buf.clear()
        side.dropped = 0
        literal = _LITERAL_AT_END.search(raw)
        # A redacted literal's size is not shown either.
        hidden = side.mode == "redact" or (side.mode == "login" and side.args >= 2)
        prefix = "" if hidden else side.prefix
        text = _render(raw, side, state, sent_by_client=sent_by_client)
        lines.append(_shorten(prefix + text, len(raw) + dropped))
        if not sent_by_client and state.literal_tag is not None:
            _literal_answered(raw, state)
        if literal is not None:
            side.literal_left = int(literal.group(1))
            side.prefix = f"<{side.literal_left} octets>"
            if sent_by_client and not raw.endswith(b"+}"):
                state.literal_tag = side.tag
        else:
            side.prefix = ""
            side.mode = None
    return lines


def _literal_answered(raw: bytes, state: TraceState) -> None:
    """A server line while a client literal awaits its "+": the "+" itself, or the
    tagged refusal, after which the client sends the next command instead."""
    if raw.startswith(b"+"):
        state.literal_tag = None
    elif raw.split(b" ", 1)[0] == state.literal_tag:
        state.literal_tag = None
        client = state._client
        client.literal_left = 0
        client.prefix = ""
        client.mode = None


def _render(raw: bytes, side: _Side, state: TraceState, *, sent_by_client: bool) -> str:
    """One physical line, redacted as its logical line requires."""
    if side.mode is None:
        side.mode = "plain"
        side.tag = raw.split(b" ", 1)[0]
        words = raw.split(b" ", 2)
        if sent_by_client:
            if state.auth_tag is not None:  # a SASL response
                side.mode = "redact"
                if len(words) == 1:
                    # Should the server refuse the AUTHENTICATE before reading it, it reads
                    # this as a command and its BAD repeats it as a tag.
                    state.hidden_word = raw
                return _REDACTED
            if len(words) >= 2 and words[1].upper() == b"LOGIN":
                side.mode, side.args = "login", 0
                rest = words[2] if len(words) == 3 else b""
                head = raw[: len(raw) - len(rest)]
                return _escape(head) + _login_args(rest, side)
            if len(words) >= 2 and words[1].upper() == b"AUTHENTICATE":
                state.auth_tag = words[0]
                side.mode = "redact"
                parts = raw.split(b" ", 3)
                return _escape(b" ".join(parts[:3])) + (" " + _REDACTED if len(parts) > 3 else "")
            if len(words) == 1 and raw and raw.upper() not in _SHOWN_WORDS:
                # One word is no command: most likely a SASL response the client sent
                # without waiting for a "+" to an AUTHENTICATE the server refused at once.
                # The server's BAD will repeat it as a tag.
                state.hidden_word = raw
                side.mode = "redact"
                return _REDACTED
        elif state.hidden_word is not None and words[0] == state.hidden_word:
            state.hidden_word = None
            return _REDACTED + _escape(raw[len(words[0]) :])
        elif state.auth_tag is not None:
            if raw.startswith(b"+"):
                return "+ " + _REDACTED if raw.strip(b"+ ") else "+"
            if words[0] == state.auth_tag:
                state.auth_tag = None
        return _escape(raw)
    if side.mode == "redact":
        return _REDACTED
    if side.mode == "login":
        return _login_args(raw, side)
    return _escape(raw)


def _login_args(rest: bytes, side: _Side) -> str:
    """LOGIN's arguments from ``rest`` on: the user name shown, the password redacted."""
    out = ""
    pos, end = 0, len(rest)
    while pos < end:
        if rest[pos] == 0x20:
            out += " "
            pos += 1
            continue
        if side.args >= 1:
            side.args = 2
            return out + _REDACTED
        stop = _token_end(rest, pos)
        if stop < 0:  # an unterminated quoted string: where the password starts is unclear
            side.args = 2
            return out + _REDACTED
        out += _escape(rest[pos:stop])
        side.args += 1
        pos = stop
    return out if side.args < 2 or out.strip() else _REDACTED


def _token_end(data: bytes, pos: int) -> int:
    """Where the argument at ``pos`` ends: after a quoted string, else at the next space;
    -1 for a quoted string that does not end."""
    if data[pos] != 0x22:
        stop = data.find(b" ", pos)
        return len(data) if stop < 0 else stop
    pos += 1
    while pos < len(data):
        if data[pos] == 0x5C:
            pos += 2
        elif data[pos] == 0x22:
            return pos + 1
        else:
            pos += 1
    return -1


def _escape(raw: bytes) -> str:
    if all(b in _PRINTABLE for b in raw):
        return raw.decode("ascii")
    return "".join(chr(b) if b in _PRINTABLE else f"\\x{b:02x}" for b in raw)


def _shorten(text: str, size: int) -> str:
    if len(text) <= MAX_LINE:
        return text
    return f"{text[:MAX_LINE]}... [line of {size} octets]"
