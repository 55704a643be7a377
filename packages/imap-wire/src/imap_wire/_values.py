"""Generic IMAP values: the tokenizer every parser starts from, and typed accessors.

A logical line (command or response, with its literals) is turned into a flat list of
`Value`: an atom is a `str` (numbers, ``NIL``, flags, sequence sets and section atoms such as
``BODY[1.2]<0>`` included), a quoted string or literal is `bytes` (a literal8 is `Literal8`,
a `bytes` subclass), a parenthesised list is a Python `list`, and a literal that was streamed
to the application in chunks is a `StreamedLiteral` placeholder. Grammar modules then read the
values through a `Cursor`, so no parser re-scans raw bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from ._limits import Limits
from .errors import LimitExceeded, RemoteProtocolError

__all__ = [
    "Cursor",
    "Literal8",
    "StreamedLiteral",
    "Value",
    "as_astring",
    "as_atom",
    "as_list",
    "as_nstring",
    "as_number",
    "as_string",
    "tokenize",
]


class Literal8(bytes):
    """The contents of a binary literal (``~{n}``, RFC 3516): may hold NUL octets."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamedLiteral:
    """Stands for a literal whose octets were handed out as `LiteralChunk` events.

    Attributes:
        size: Octet count announced in the literal's ``{n}``.
        binary: True for a literal8 (``~{n}``).
        index: Position of this literal among the streamed literals of its line.
    """

    size: int
    binary: bool = False
    index: int = 0


Value: TypeAlias = "str | bytes | StreamedLiteral | list[Value]"

# One alternative per token kind, the most frequent first; whatever matches none of them is a
# lone bad octet caught by the last alternative. A section ``[...]`` (with its header-field
# list) stays inside its atom, so ``BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.512>`` is one token.
# ``]`` is an ordinary atom character (ASTRING-CHAR includes resp-specials), and so is an
# unmatched ``[``. A section cannot contain ``[``, and no alternative is ambiguous, so the
# scan stays linear on hostile input. Atoms and quoted strings match whole runs at a time:
# per-character alternation costs several times more in the ``re`` engine.
_ATOM_CHAR = rb'[^\x00-\x20\x7f()"{\[]'
_SECTION = rb"\[[^\[\]\r\n]*\]"
# After its first run of atom characters or its first section, an atom goes on with more
# sections and runs (``BODY[1]<0>``, ``x[a][b]``), and may end with an unmatched ``[``.
_ATOM_TAIL = rb"(?:" + _SECTION + _ATOM_CHAR + rb"*)*(?:\[" + _ATOM_CHAR + rb"*)*"
# A list of NILs and plain quoted strings (an ENVELOPE address, a BODYSTRUCTURE parameter
# list) is matched as one token and unpacked by `_FLAT_ITEM` in C, instead of one Python step
# per item: such lists make up most of a FETCH response.
_FLAT_ITEM = re.compile(rb'"([^"\\\r\n]*)"|(NIL)')
# At most 64 items, so one token never holds more than the item limit can stop early.
_FLAT_LIST = rb'\((?:NIL|"[^"\\\r\n]*")(?: (?:NIL|"[^"\\\r\n]*")){0,63}\)'
_TOKEN = re.compile(
    _FLAT_LIST
    + rb"|~\{[0-9]+\+?\}"
    + (rb"|" + _ATOM_CHAR + rb"+" + _ATOM_TAIL)
    + rb'|"[^"\\\r\n]*(?:\\[^\r\n][^"\\\r\n]*)*"'
    + rb"|[()]"
    + rb"|\{[0-9]+\+?\}"
    + (rb"|" + _SECTION + _ATOM_CHAR + rb"*" + _ATOM_TAIL)
    + (rb"|\[" + _ATOM_CHAR + rb"*")
    + rb"|[^ ]"
)
# Only \" and \\ are escapes (RFC 9051 section 9); a backslash before anything else is kept,
# as some servers send unescaped backslashes in mailbox names ("INBOX\Sub").
_UNESCAPE = re.compile(rb'\\(["\\])')


def tokenize(
    segments: list[bytes],
    literals: list[bytes | StreamedLiteral],
    limits: Limits,
    start: int = 0,
    *,
    strict: bool = False,
) -> list[Value]:
    """Split a logical line into values.

    Args:
        segments: The line's text, split after each literal announcement; every segment but
            the last ends with its ``{n}`` (no CRLF).
        literals: The literals, one per announcement, in order.
        limits: Depth and item-count limits.
        start: Offset in the first segment where tokenizing starts.
        strict: Also refuse what RFC 9051 section 9 forbids and a reader could take two
            ways: values not separated by a space (``LOGIN"a""b"``), and quoted-string
            escapes other than ``\\"`` and ``\\\\`` (servers parse commands
            strictly, so that nothing in front of them reads a command differently). Extra
            spaces stay accepted: they cannot change what a command means.

    Returns:
        The top-level values.

    Raises:
        RemoteProtocolError: Malformed input (unbalanced parentheses, unterminated quoted
            string, stray octets).
        LimitExceeded: Nesting or item count over the limits.
    """
    top: list[Value] = []
    append = top.append
    # The appends of the enclosing lists, restored at each ")".
    stack: list[Callable[[Value], None]] = []
    depth = 0
    max_depth = limits.max_depth
    count = 0
    lit_index = 0
    findall = _TOKEN.findall
    for seg_no, seg in enumerate(segments):
        pos = start if seg_no == 0 else 0
        if strict or len(seg) - pos > _LARGE_SEGMENT:
            toks = _scanned_tokens(seg, pos, limits.max_items - count, strict, seg_no > 0)
        else:
            toks = findall(seg, pos)
        count += len(toks)
        if count > limits.max_items:
            raise LimitExceeded(f"more than {limits.max_items} items in one line")
        # The loop runs once per token of every line read: keep it flat and cheap.
        for tok in toks:
            c = tok[0]
            if c == 34:  # "
                if tok == b'"':
                    raise RemoteProtocolError("unterminated quoted string")
                append(_UNESCAPE.sub(rb"\1", tok[1:-1]) if b"\\" in tok else tok[1:-1])
            elif c == 40:  # (
                if tok != b"(":  # a flat list (see _FLAT_LIST)
                    if depth >= max_depth:
                        raise LimitExceeded(f"parentheses nested deeper than {max_depth}")
                    items: list[Value] = ["NIL" if nil else q for q, nil in _FLAT_ITEM.findall(tok)]
                    append(items)
                    # Counted as its parentheses and items, as the general path counts.
                    count += len(items) + 1
                    if count > limits.max_items:
                        raise LimitExceeded(f"more than {limits.max_items} items in one line")
                    continue
                new: list[Value] = []
                append(new)
                stack.append(append)
                depth += 1
                if depth > max_depth:
                    raise LimitExceeded(f"parentheses nested deeper than {max_depth}")
                append = new.append
            elif c == 41:  # )
                if not depth:
                    raise RemoteProtocolError("unbalanced ')'")
                depth -= 1
                append = stack.pop()
            elif tok == b"NIL":  # the most frequent atom by far
                append("NIL")
            elif c > 32 and c != 123 and c != 127 and (c != 126 or tok[1:2] != b"{"):
                try:
                    append(tok.decode())
                except UnicodeDecodeError:
                    append(tok.decode("utf-8", "surrogateescape"))
            elif c == 123 or c == 126:  # {n} or ~{n}: the next literal
                if len(tok) == 1:
                    raise RemoteProtocolError("unexpected octet 0x7b")
                if lit_index >= len(literals):
                    raise RemoteProtocolError("literal announcement in the middle of a line")
                lit = literals[lit_index]
                lit_index += 1
                append(Literal8(lit) if c == 126 and type(lit) is bytes else lit)
            else:
                raise RemoteProtocolError(f"unexpected octet 0x{c:02x}")
    if depth:
        raise RemoteProtocolError("unbalanced '('")
    if lit_index != len(literals):
        raise RemoteProtocolError("literal announcement in the middle of a line")
    return top


_LARGE_SEGMENT = 1 << 16
_VALID_ESCAPE = re.compile(rb'\\["\\]')


def _scanned_tokens(
    seg: bytes, pos: int, budget: int, strict: bool, after_literal: bool
) -> list[bytes]:
    """Tokenize one segment token by token: stop past ``budget`` tokens (rather than build
    every token of a huge line first) and, when ``strict``, check what `tokenize` says (a
    segment after a literal goes on with a space or ")").
    """
    toks: list[bytes] = []
    prev_end = 0 if after_literal else -1
    prev_open = not after_literal
    for m in _TOKEN.finditer(seg, pos):
        tok = m.group()
        toks.append(tok)
        if len(toks) > budget:
            break
        if strict:
            first = tok[0]
            if m.start() == prev_end and not prev_open and first != 41:
                raise RemoteProtocolError("missing space between values")
            if first == 34 and b"\\" in tok and b"\\" in _VALID_ESCAPE.sub(b"", tok[1:-1]):
                raise RemoteProtocolError("invalid escape in quoted string")
            prev_end = m.end()
            prev_open = tok == b"("
    return toks


def describe(v: Value) -> str:
    """Name a value's kind for error messages (never echoes its contents)."""
    if isinstance(v, str):
        return "atom"
    if isinstance(v, list):
        return "list"
    if isinstance(v, StreamedLiteral):
        return "streamed literal"
    return "string"


def as_atom(v: Value, what: str) -> str:
    """Return an atom's text, or raise `RemoteProtocolError` naming ``what``."""
    if type(v) is str:
        return v
    raise RemoteProtocolError(f"expected {what}, got {describe(v)}")


# Bounded so int() never meets a huge digit string (and never raises ValueError).
_DIGITS = re.compile(r"[0-9]{1,20}\Z")


def as_number(v: Value, what: str, *, maximum: int = 0xFFFFFFFF, minimum: int = 0) -> int:
    """Return a ``number`` (RFC 9051 section 9) between ``minimum`` and ``maximum``.

    Use ``maximum=2**63 - 1`` for ``number64`` and ``minimum=1`` for ``nz-number``.
    """
    if type(v) is str and _DIGITS.match(v):
        n = int(v)
        if minimum <= n <= maximum:
            return n
    raise RemoteProtocolError(f"expected {what} (a number)")


def as_astring(v: Value, what: str) -> bytes:
    """Return an ``astring``'s octets: an atom, a quoted string or a literal."""
    if isinstance(v, bytes):
        return v
    if type(v) is str:
        return v.encode("utf-8", "surrogateescape")
    raise RemoteProtocolError(f"expected {what}, got {describe(v)}")


def as_string(v: Value, what: str) -> bytes:
    """Return a ``string``'s octets (quoted or literal; an atom is refused)."""
    if isinstance(v, bytes):
        return v
    raise RemoteProtocolError(f"expected {what} (a string), got {describe(v)}")


def as_nstring(v: Value, what: str = "nstring") -> bytes | None:
    """Return an ``nstring``: octets, or None for ``NIL`` (any atom case)."""
    if isinstance(v, bytes):
        return v
    if type(v) is str and v.upper() == "NIL":
        return None
    raise RemoteProtocolError(f"expected {what}, got {describe(v)}")


def as_list(v: Value, what: str) -> list[Value]:
    """Return a parenthesised list's values."""
    if type(v) is list:
        return v
    raise RemoteProtocolError(f"expected {what} (a parenthesised list), got {describe(v)}")


class Cursor:
    """Reads values one at a time, with typed accessors that raise on a mismatch.

    Grammar modules (commands, SEARCH keys, FETCH items, extensions) all consume a `Cursor`, so
    an extension's parser picks up exactly where the base grammar stopped.
    """

    __slots__ = ("pos", "values")

    def __init__(self, values: list[Value], pos: int = 0) -> None:
        self.values = values
        self.pos = pos

    def at_end(self) -> bool:
        """Return True when every value has been consumed."""
        return self.pos >= len(self.values)

    def peek(self) -> Value | None:
        """Return the next value without consuming it, or None at the end."""
        return self.values[self.pos] if self.pos < len(self.values) else None

    def peek_atom(self) -> str | None:
        """Return the next value upper-cased if it is an atom, else None; consume nothing."""
        v = self.peek()
        return v.upper() if type(v) is str else None

    def next(self, what: str) -> Value:
        """Consume and return the next value; raise if there is none."""
        if self.pos >= len(self.values):
            raise RemoteProtocolError(f"missing {what}")
        v = self.values[self.pos]
        self.pos += 1
        return v

    def atom(self, what: str) -> str:
        """Consume an atom."""
        return as_atom(self.next(what), what)

    def keyword(self, what: str) -> str:
        """Consume an atom and return it upper-cased (keywords are case-insensitive)."""
        return as_atom(self.next(what), what).upper()

    def number(self, what: str, *, maximum: int = 0xFFFFFFFF, minimum: int = 0) -> int:
        """Consume a number."""
        return as_number(self.next(what), what, maximum=maximum, minimum=minimum)

    def astring(self, what: str) -> bytes:
        """Consume an astring."""
        return as_astring(self.next(what), what)

    def string(self, what: str) -> bytes:
        """Consume a string (quoted or literal)."""
        return as_string(self.next(what), what)

    def nstring(self, what: str) -> bytes | None:
        """Consume an nstring."""
        return as_nstring(self.next(what), what)

    def list(self, what: str) -> list[Value]:
        """Consume a parenthesised list."""
        return as_list(self.next(what), what)

    def end(self, what: str) -> None:
        """Raise unless every value has been consumed."""
        if self.pos < len(self.values):
            raise RemoteProtocolError(f"unexpected {describe(self.values[self.pos])} after {what}")
