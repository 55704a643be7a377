"""Primitive encoders: one `WireWriter` that chooses atom, quoted string or literal.

Grammar modules write values through a `WireWriter`; they never format strings themselves,
so the choice of representation and the literal rules (synchronizing, LITERAL+, LITERAL-,
literal8) live in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ._mutf7 import encode_mailbox_name
from .errors import LocalProtocolError

__all__ = [
    "TAG_PATTERN",
    "UINT32",
    "UINT63",
    "LiteralMode",
    "LiteralSource",
    "WireWriter",
    "in_range",
    "is_atom",
    "is_flag",
    "sectioned_atom_pattern",
]

# ATOM-CHAR: any CHAR except atom-specials (RFC 9051 section 9). "[" is an ATOM-CHAR, but
# the tokenizer keeps "[...]" together as a section (BODY[1]), so text with "[" is quoted.
_ATOM = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\\]\[]+\Z')
# ASTRING-CHAR adds resp-specials ("]").
_ASTRING = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\\[]+\Z')
# list-char adds list-wildcards.
_LIST_MAILBOX = re.compile(rb'[^\x00-\x20\x7f-\xff(){"\\\[]+\Z')
# A flag is "\" atom or a keyword atom ("\*" exists only in PERMANENTFLAGS, written there).
_FLAG = re.compile(rb'\\?[^\x00-\x20\x7f-\xff(){%*"\\\]\[]+\Z')
# QUOTED-CHAR: TEXT-CHAR (no CR, LF, NUL, 8-bit) with "\" and DQUOTE escaped.
_QUOTABLE = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x7f]*\Z")
_QUOTABLE_UTF8 = re.compile(rb"[^\x00\r\n]*\Z")
_ESCAPE = re.compile(rb'(["\\])')
_MAX_QUOTED = 1024


class LiteralMode(Enum):
    """How literals are written.

    Attributes:
        SYNC: Client command, synchronizing ``{n}``: the client waits for ``+`` after each.
        PLUS: Client command with LITERAL+: ``{n+}`` everywhere, no waiting.
        MINUS: Client command with LITERAL-: ``{n+}`` up to 4096 octets, else synchronizing.
        RESPONSE: Server response: ``{n}`` followed at once by the octets.
    """

    SYNC = "sync"
    PLUS = "plus"
    MINUS = "minus"
    RESPONSE = "response"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiteralSource:
    """A literal the application streams itself (a large APPEND from a file, a large body
    section in a server's FETCH response).

    The encoder writes its ``{n}`` announcement (``~{n}`` with ``binary``) and leaves a
    placeholder in the encoded output (`WireWriter.parts`); the caller
    then writes exactly ``size`` octets from its own source. Subclass it to carry what the
    octets come from.
    """

    size: int
    binary: bool = False


class WireWriter:
    """Accumulates an encoded command or response.

    Args:
        literal_mode: How to write literals (see `LiteralMode`).
        utf8: True once UTF8=ACCEPT is enabled (RFC 9755): 8-bit text may be quoted and
            mailbox names are sent as UTF-8 instead of modified UTF-7.
    """

    __slots__ = ("_buf", "_parts", "_waits", "literal_mode", "utf8")

    def __init__(self, *, literal_mode: LiteralMode = LiteralMode.RESPONSE, utf8: bool = False):
        self.literal_mode = literal_mode
        self.utf8 = utf8
        self._buf = bytearray()
        self._parts: list[bytes | LiteralSource] = []
        self._waits: list[bool] = []

    # -- raw pieces ---------------------------------------------------------------------------

    def raw(self, data: bytes) -> None:
        """Append octets verbatim (keywords, separators)."""
        self._buf += data

    def sp(self) -> None:
        """Append one space."""
        self._buf += b" "

    def open(self) -> None:
        """Append ``(``."""
        self._buf += b"("

    def close(self) -> None:
        """Append ``)``."""
        self._buf += b")"

    def crlf(self) -> None:
        """End the line."""
        self._buf += b"\r\n"

    def number(self, n: int) -> None:
        """Append a ``number64`` (RFC 9051 section 9): an int from 0 to 2**63 - 1."""
        if type(n) is not int or not 0 <= n <= UINT63:
            raise LocalProtocolError(f"not a number the protocol can carry: {n!r}")
        self._buf += b"%d" % n

    def nil(self) -> None:
        """Append ``NIL``."""
        self._buf += b"NIL"

    # -- strings ------------------------------------------------------------------------------

    def atom(self, text: str) -> None:
        """Append an atom, refusing text that is not one."""
        data = text.encode("ascii", "surrogateescape") if text.isascii() else b""
        if not _ATOM.match(data):
            raise LocalProtocolError(f"not a valid atom: {text!r}")
        self._buf += data

    def flag(self, text: str) -> None:
        """Append a flag (``\\Seen``) or keyword (``$Forwarded``)."""
        data = text.encode("ascii") if text.isascii() else b""
        if not _FLAG.match(data):
            raise LocalProtocolError(f"not a valid flag or keyword: {text!r}")
        self._buf += data

    def string(self, value: str | bytes) -> None:
        """Append a string, quoted when possible, else as a literal."""
        data = _octets(value)
        if len(data) <= _MAX_QUOTED and (
            _QUOTABLE.match(data) or (self.utf8 and _QUOTABLE_UTF8.match(data) and _is_utf8(data))
        ):
            if b"\\" in data or b'"' in data:
                data = _ESCAPE.sub(rb"\\\1", data)
            self._buf += b'"' + data + b'"'
        else:
            self.literal(data)

    def astring(self, value: str | bytes) -> None:
        """Append an astring: an atom when the text allows it, else a string."""
        data = _octets(value)
        # NIL as an atom would read back as NIL where an nstring is expected.
        if _ASTRING.match(data) and data.upper() != b"NIL":
            self._buf += data
        else:
            self.string(data)

    def nstring(self, value: str | bytes | None) -> None:
        """Append an nstring: ``NIL`` for None, else a string."""
        if value is None:
            self._buf += b"NIL"
        else:
            self.string(value)

    def mailbox(self, name: str) -> None:
        """Append a mailbox name: modified UTF-7, or UTF-8 once UTF8=ACCEPT is enabled."""
        try:
            data = encode_mailbox_name(name, utf8=self.utf8)
        except ValueError as exc:
            raise LocalProtocolError(f"cannot encode mailbox name: {exc}") from None
        self.astring(data)

    def list_mailbox(self, data: bytes) -> None:
        """Append a LIST pattern: list-chars (wildcards included) as an atom, else a string."""
        if _LIST_MAILBOX.match(data):
            self._buf += data
        else:
            self.string(data)

    def literal(self, data: bytes, *, binary: bool = False) -> None:
        """Append a literal (literal8 with ``binary``), following the literal mode.

        NUL is not refused here: command writers refuse it where the grammar does, and a
        server may have to send stored text that holds one (clients read it).
        """
        self._announce(len(data), binary)
        self._buf += data

    def literal_source(self, source: LiteralSource) -> None:
        """Announce a literal whose octets the caller streams (see `LiteralSource`)."""
        if type(source.size) is not int or not 0 <= source.size <= UINT63:
            raise LocalProtocolError(f"invalid literal size {source.size!r}")
        self._announce(source.size, source.binary)
        if self._buf:
            self._cut(wait=False)
        self._parts.append(source)
        self._waits.append(False)

    def _announce(self, size: int, binary: bool) -> None:
        prefix = b"~{" if binary else b"{"
        mode = self.literal_mode
        if mode is LiteralMode.RESPONSE:
            self._buf += b"%b%d}\r\n" % (prefix, size)
        elif mode is LiteralMode.PLUS or (mode is LiteralMode.MINUS and size <= 4096):
            self._buf += b"%b%d+}\r\n" % (prefix, size)
        else:
            self._buf += b"%b%d}\r\n" % (prefix, size)
            self._cut(wait=True)

    def _cut(self, *, wait: bool) -> None:
        self._parts.append(bytes(self._buf))
        self._waits.append(wait)
        self._buf = bytearray()

    # -- results ------------------------------------------------------------------------------

    def getvalue(self) -> bytes:
        """Return everything written, as one byte string (responses)."""
        if self._parts:
            if any(isinstance(p, LiteralSource) for p in self._parts):
                raise LocalProtocolError("output holds a streamed literal; use parts()")
            return b"".join(p for p in self._parts if isinstance(p, bytes)) + bytes(self._buf)
        return bytes(self._buf)

    def parts(self) -> list[tuple[bytes | LiteralSource, bool]]:
        """Return the output as ``(data, wait_after)`` pairs.

        ``wait_after`` is True after a synchronizing literal announcement: the client must
        wait for a continuation request before sending the next part. A `LiteralSource`
        part stands for octets the caller streams itself.
        """
        out: list[tuple[bytes | LiteralSource, bool]] = list(
            zip(self._parts, self._waits, strict=True)
        )
        if self._buf or not out:
            out.append((bytes(self._buf), False))
        return out


#: The largest ``number`` and ``nz-number`` (RFC 9051 section 9: unsigned 32-bit).
UINT32 = 0xFFFF_FFFF
#: The largest ``number64`` (RFC 9051 section 9: signed 64-bit, not negative).
UINT63 = 0x7FFF_FFFF_FFFF_FFFF


def in_range(n: int, minimum: int, maximum: int, what: str) -> int:
    """Return ``n`` if ``minimum <= n <= maximum``: a check before writing a number.

    Raises:
        LocalProtocolError: It is out of range (the message names ``what``).
    """
    if not minimum <= n <= maximum:
        raise LocalProtocolError(f"{what} out of range: {n}")
    return n


class Writable(Protocol):
    """Anything that writes itself: commands, responses and their parts."""

    def write(self, w: WireWriter) -> None:
        """Write the value."""


def written(value: Writable, *, literal_mode: LiteralMode, utf8: bool) -> WireWriter:
    """Write a whole command or response into a new `WireWriter`.

    Raises:
        LocalProtocolError: The value cannot be expressed on the wire, text with lone
            surrogates included (whichever writer met it).
    """
    w = WireWriter(literal_mode=literal_mode, utf8=utf8)
    try:
        value.write(w)
    except UnicodeEncodeError:
        raise LocalProtocolError("text holds a lone surrogate and cannot be encoded") from None
    return w


def is_atom(text: str) -> bool:
    """Tell whether text can be written as an atom (ATOM-CHARs, ``[`` excepted: see above)."""
    return text.isascii() and _ATOM.match(text.encode("ascii")) is not None


def is_flag(text: str) -> bool:
    """Tell whether text can be written as a flag (``\\Seen``) or keyword (``$Label``)."""
    return text.isascii() and _FLAG.match(text.encode("ascii")) is not None


def sectioned_atom_pattern(char: str, section_char: str, *, prefix: str = "") -> re.Pattern[str]:
    """Compile a pattern of the text the tokenizer reads back as one atom, sections included.

    The tokenizer (`imap_wire._values`) keeps a closed ``[...]`` inside its atom
    (``BODY[1.2]``). Text with an unclosed ``[`` could swallow the rest of the line up to
    the next ``]``, and after a leading section a second one starts a new token, so the
    pattern matches neither.

    Args:
        char: A character class (one regex item, ``[`` excluded) of the atom's characters.
        section_char: A character class of what a section may hold (``[`` and ``]``
            excluded).
        prefix: A regex for what may come first (an optional backslash for flag-like
            names).
    """
    section = rf"\[{section_char}*\]"
    return re.compile(rf"{prefix}(?:{char}+(?:{section}{char}*)*|{section}{char}*)\Z")


#: ``tag = 1*<any ASTRING-CHAR except "+">`` (RFC 9051 section 9), ASCII, with any "[" closed
#: by a "]" within the tag ("a[1]", not "a[1": the tokenizer reads "[...]" as a section that
#: runs to the next "]"), and not starting with "[" (a response line starting "[" is read as a
#: response code some servers send without "* OK"). Commands and responses share it, so every
#: tag a server accepts it can answer, and a client can write.
TAG_PATTERN = sectioned_atom_pattern(
    r'[^\x00-\x20\x7f-\U0010ffff(){%*"\\+\[]',
    r'[^\x00-\x20\x7f-\U0010ffff(){%*"\\+\[\]]',
    prefix=r"(?!\[)",
)


def _octets(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise LocalProtocolError("text holds a lone surrogate and cannot be encoded") from None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
