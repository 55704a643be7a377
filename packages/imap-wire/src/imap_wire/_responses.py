"""Server responses (RFC 9051 section 7, RFC 3501 section 7) as typed values.

Every response a server sends is one logical line: a status response (``* OK``, ``A1 NO``,
``* BYE`` ...), a continuation request (``+ ...``) or untagged data (``* CAPABILITY ...``,
``* 12 FETCH (...)``). `parse_response_line` turns a framed line into one of the classes
below, dispatching untagged data through ``ctx.registry.untagged`` (``* KEYWORD ...``) and
``ctx.registry.numbered`` (``* <n> KEYWORD ...``), so an extension adds a response exactly as
`install` adds the base ones; data nobody registered becomes an `UnknownResponse`. Every class
has ``write(w)``, which writes the whole line (``* ``, tag or ``+ ``, the data, CRLF) in the
canonical RFC 9051 syntax, and ``parse(write(x)) == x``.

Covered: RFC 9051 section 7 and RFC 3501 section 7 (status responses, CAPABILITY, ENABLED,
LIST, LSUB, STATUS, SEARCH, ESEARCH, FLAGS, NAMESPACE, EXISTS, RECENT, EXPUNGE, FETCH via
`imap_wire._fetch`), RFC 4731 (ESEARCH), RFC 7162 section 3.2.10 (VANISHED) and section 3.1.5
(``SEARCH ... (MODSEQ n)``), RFC 2342 (NAMESPACE with extensions), RFC 2971 (ID), RFC 5161
(ENABLED), RFC 5258 (LIST extended data: CHILDINFO, OLDNAME), RFC 5819 (STATUS after LIST),
RFC 6154 (special-use attributes).

Clients parse with ``ctx.strict = False`` and then accept what real servers send:

- keywords in any case (``* ok``, ``* 3 exists``, ``* list``, status keywords, ``(earlier)``);
- extra spaces between tokens, and a missing space before ``(``, ``[`` or the text
  (``* OK[ALERT]text``); trailing spaces after data (``* SEARCH 2 3 ``);
- a status response without text (``A1 OK``, ``* OK``, ``* OK [READ-WRITE]``), and a
  continuation request without the space (``+``, ``+Ready``);
- a response code without its status, ``* [COPYUID 55 31 6]`` (Office 365, MailKit issue
  #115) or even without the ``*``, ``[COPYUID 124 10 233]`` (Exchange 2013, ruby/net-imap
  issue #250): read as an untagged ``OK`` (no tag a client sends starts with ``[``);
- a response code that does not parse (``[UIDNEXT x]`` becomes an ``OtherCode``; an
  unterminated or empty ``[`` is kept as text);
- LIST and NAMESPACE delimiters as ``NIL`` in any case, as ``""`` (read as no delimiter) or
  as a bare one-character atom; mailbox names as atoms holding ``]`` (``foo]bar``), 8-bit
  octets in quoted strings (mailbox names decoded leniently, text kept with surrogateescape);
- STATUS item names in any case, and items whose value is not a number (kept in ``extra``);
  a STATUS mailbox name sent unquoted although it holds spaces, ``* STATUS Deleted Items
  (MESSAGES 0)`` (Gromox): the atoms before the item list make up the name;
- SEARCH numbers of ``0``; a NAMESPACE list ``()``; an OLDNAME value without its
  parentheses; unknown attributes without ``\\``;
- ``* BYE`` at any moment (it is an ordinary status response here);
- values after the end of known data are ignored.

Writers are strict: they raise `LocalProtocolError` for anything that would not read back
equal (text with CR, LF or NUL, text that ends like a literal announcement, text that starts
with ``[`` without a code, or with a space).
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass
from typing import TypeAlias

from . import _response_data
from ._encoding import TAG_PATTERN, UINT32, WireWriter, in_range, is_atom
from ._fetch import FetchResponse
from ._limits import DEFAULT_CLIENT_LIMITS, Limits
from ._registry import ParseContext, Registry
from ._response_codes import ResponseCode, parse_response_code
from ._response_data import (
    CapabilityResponse,
    EnabledResponse,
    ESearchResponse,
    ExistsResponse,
    ExpungeResponse,
    ExtValue,
    FlagsResponse,
    IdResponse,
    ListResponse,
    LsubResponse,
    MailboxAttribute,
    MailboxStatusResponse,
    NamespaceEntry,
    NamespaceResponse,
    RecentResponse,
    SearchResponse,
    VanishedResponse,
    to_ext_value,
    write_ext_value,
)
from ._values import Cursor, StreamedLiteral, Value, tokenize
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "CapabilityResponse",
    "ContinuationRequest",
    "ESearchResponse",
    "EnabledResponse",
    "ExistsResponse",
    "ExpungeResponse",
    "ExtValue",
    "FlagsResponse",
    "IdResponse",
    "ListResponse",
    "LsubResponse",
    "MailboxAttribute",
    "MailboxStatusResponse",
    "NamespaceEntry",
    "NamespaceResponse",
    "RecentResponse",
    "Response",
    "ResponseStatus",
    "SearchResponse",
    "StatusResponse",
    "UnknownResponse",
    "VanishedResponse",
    "install",
    "parse_response_line",
    "to_ext_value",
    "write_ext_value",
]


class ResponseStatus(enum.StrEnum):
    """The condition of a status response (RFC 9051 section 7.1)."""

    OK = "OK"
    NO = "NO"
    BAD = "BAD"
    #: Greeting only: the connection is already authenticated.
    PREAUTH = "PREAUTH"
    #: The server is about to close the connection.
    BYE = "BYE"


_STATUSES = {s.value: s for s in ResponseStatus}
_TAGGED_STATUSES = frozenset({ResponseStatus.OK, ResponseStatus.NO, ResponseStatus.BAD})

# A line whose text ends like this announces a literal to the framer.
_LITERAL_END = re.compile(rb"~?\{[0-9]+\+?\}\Z")
_BAD_TEXT = re.compile(rb"[\x00\r\n]")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _text_bytes(text: str, what: str) -> bytes:
    """Encode free text for the end of a line, refusing what would not read back."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} holds a lone surrogate") from None
    if _BAD_TEXT.search(data):
        raise LocalProtocolError(f"{what} cannot hold CR, LF or NUL")
    if data[-1:] == b"}" and _LITERAL_END.search(data):
        raise LocalProtocolError(f"{what} cannot end like a literal announcement")
    return data


# -- status responses and continuation requests ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusResponse:
    """A status response: ``OK``, ``NO``, ``BAD``, ``PREAUTH`` or ``BYE`` (RFC 9051 7.1).

    The greeting is an untagged ``OK``, ``PREAUTH`` or ``BYE``; a command completes with a
    tagged ``OK``, ``NO`` or ``BAD``.

    Attributes:
        tag: The command's tag, or None for an untagged response.
        status: The condition.
        code: The bracketed response code, if any.
        text: Human-readable text (decoded UTF-8 with surrogateescape); may be empty.
    """

    tag: str | None
    status: ResponseStatus
    code: ResponseCode | None = None
    text: str = ""

    def write(self, w: WireWriter) -> None:
        """Write ``tag SP status SP [ "[" code "]" SP ] text CRLF``.

        With an empty text the line ends in the space RFC 9051's ``resp-cond-*`` requires.

        Raises:
            LocalProtocolError: An invalid tag, ``PREAUTH``/``BYE`` with a tag, or a text
                that would not read back (see the module docstring).
        """
        status = _STATUSES.get(self.status)
        if status is None:
            raise LocalProtocolError(f"invalid status {self.status!r}")
        if self.tag is None:
            w.raw(b"* ")
        else:
            if not TAG_PATTERN.match(self.tag):
                raise LocalProtocolError(f"invalid tag {self.tag!r}")
            if status not in _TAGGED_STATUSES:
                raise LocalProtocolError(f"{status} cannot be tagged")
            w.raw(self.tag.encode("ascii") + b" ")
        w.raw(status.value.encode("ascii") + b" ")
        text = _text_bytes(self.text, "response text") if self.text else b""
        if text[:1] == b" ":
            raise LocalProtocolError("response text cannot start with a space")
        if self.code is not None:
            w.raw(b"[")
            self.code.write(w)
            w.raw(b"] ")
        elif text[:1] == b"[":
            raise LocalProtocolError("response text cannot start with '[' without a code")
        w.raw(text)
        w.crlf()


@dataclass(frozen=True, slots=True, kw_only=True)
class ContinuationRequest:
    """A continuation request: ``+ text`` (RFC 9051 section 7.6).

    Attributes:
        text: What follows ``+ ``, verbatim: free text after a literal announcement or IDLE,
            the base64 challenge during AUTHENTICATE (see `data`).
    """

    text: str = ""

    @classmethod
    def from_data(cls, data: bytes) -> ContinuationRequest:
        """Return the continuation request carrying a SASL challenge (base64-encoded)."""
        return cls(text=base64.b64encode(data).decode("ascii"))

    @property
    def data(self) -> bytes:
        """The SASL challenge: `text` base64-decoded (RFC 9051 section 6.2.2).

        Raises:
            RemoteProtocolError: The text is not valid base64.
        """
        try:
            return base64.b64decode(self.text.encode("ascii"), validate=True)
        except (binascii.Error, ValueError):
            raise RemoteProtocolError("continuation request text is not base64") from None

    def write(self, w: WireWriter) -> None:
        """Write ``+ text CRLF``."""
        w.raw(b"+ ")
        if self.text:
            w.raw(_text_bytes(self.text, "continuation text"))
        w.crlf()


# -- unknown data ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownResponse:
    """Untagged data no parser is registered for (``* XPIG-LATIN ...``, ``* 3 XFOO``).

    Clients receive it and go on (RFC 9051 section 7: unknown data is ignored).

    Attributes:
        keyword: The data's keyword, upper-case.
        number: The number before the keyword (``* n KEYWORD``), or None.
        values: What followed the keyword, in the generic form.
    """

    keyword: str
    number: int | None = None
    values: tuple[ExtValue, ...] = ()

    def write(self, w: WireWriter) -> None:
        """Write the line, values in their generic form.

        The keyword must be one no parser is registered for, or the line reads back as that
        parser's response.
        """
        if (
            # The keyword of untagged data is an atom starting with a letter.
            not (is_atom(self.keyword) and self.keyword[:1].isalpha())
            or self.keyword != self.keyword.upper()
            or self.keyword in _STATUSES
        ):
            raise LocalProtocolError(f"invalid response keyword {self.keyword!r}")
        w.raw(b"* ")
        if self.number is not None:
            w.number(in_range(self.number, 0, UINT32, "message number"))
            w.sp()
        w.raw(self.keyword.encode("ascii"))
        for value in self.values:
            w.sp()
            write_ext_value(w, value)
        w.crlf()


#: Every response the base grammar parses. Extensions registered in the registry may return
#: their own classes (which have ``write`` too).
Response: TypeAlias = (
    StatusResponse
    | ContinuationRequest
    | CapabilityResponse
    | EnabledResponse
    | ListResponse
    | LsubResponse
    | MailboxStatusResponse
    | SearchResponse
    | ESearchResponse
    | FlagsResponse
    | ExistsResponse
    | RecentResponse
    | ExpungeResponse
    | VanishedResponse
    | NamespaceResponse
    | IdResponse
    | FetchResponse
    | UnknownResponse
)


# -- the line parser -------------------------------------------------------------------------------

# The hot path: "* 12 FETCH (" (FETCH responses dominate a mailbox sync).
_FETCH_LINE = re.compile(rb"\* ([0-9]{1,10}) FETCH ")
# tag / "*", optional number, keyword (stopping at "[" or "(" so "OK[ALERT]" splits).
_HEAD = re.compile(rb"([^ ]+) +(?:([0-9]+) +)?([^ \[(]*)")


def parse_response_line(
    segments: list[bytes],
    literals: list[bytes | StreamedLiteral],
    ctx: ParseContext,
    limits: Limits = DEFAULT_CLIENT_LIMITS,
) -> Response:
    """Parse one framed response line (RFC 9051 section 7).

    Args:
        segments: The line's text, split after each literal announcement (see
            `imap_wire._framer.Line`).
        literals: The line's literals.
        ctx: Parse context; clients use ``strict=False`` (see the module docstring for what
            that tolerates).
        limits: Bounds for the tokenizer.

    Returns:
        The typed response: a `StatusResponse`, `ContinuationRequest`, the class a registered
        parser returns, or `UnknownResponse`.

    Raises:
        RemoteProtocolError: The line cannot be parsed (even tolerantly).
    """
    try:
        first = segments[0]
        m = _FETCH_LINE.match(first)
        if m is not None:
            fetch = ctx.registry.numbered.get("FETCH")
            if fetch is not None:
                n = int(m.group(1))
                if n > UINT32:
                    raise RemoteProtocolError("message number out of range")
                cursor = Cursor(tokenize(segments, literals, limits, m.end()))
                response: Response = fetch(n, cursor, ctx)
                if ctx.strict:
                    cursor.end("FETCH data")
                return response
        if first[:1] == b"+":
            return _parse_continuation(segments, ctx)
        return _parse_general(segments, literals, ctx, limits)
    except RemoteProtocolError:
        raise
    except (LookupError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        # A registered parser broke its contract; the peer's line is still what is bad.
        raise RemoteProtocolError(f"malformed response ({type(exc).__name__})") from exc


def _parse_continuation(segments: list[bytes], ctx: ParseContext) -> ContinuationRequest:
    if len(segments) > 1:
        raise RemoteProtocolError("literal in a continuation request")
    line = segments[0]
    if line[1:2] == b" ":
        text = line[2:]
    elif len(line) == 1 or not ctx.strict:
        text = line[1:]
    else:
        raise RemoteProtocolError("expected a space after '+'")
    if ctx.strict and _BAD_TEXT.search(text):
        raise RemoteProtocolError("invalid octet in continuation request")
    return ContinuationRequest(text=_text(text))


def _parse_general(
    segments: list[bytes],
    literals: list[bytes | StreamedLiteral],
    ctx: ParseContext,
    limits: Limits,
) -> Response:
    first = segments[0]
    if first[:1] == b"[" and not ctx.strict:
        # A response code without "* OK" (see the module docstring).
        bare = _parse_status_response(None, ResponseStatus.OK, segments, 0, ctx)
        if bare.code is None:
            raise RemoteProtocolError("expected a tag and a response keyword")
        return bare
    m = _HEAD.match(first)
    if m is None or not m.group(3):
        if (
            m is not None
            and not ctx.strict
            and m.group(1) == b"*"
            and m.group(2) is None
            and first[m.end() : m.end() + 1] == b"["
        ):  # "* [CODE ...]": no "OK"
            return _parse_status_response(None, ResponseStatus.OK, segments, m.end(), ctx)
        raise RemoteProtocolError("expected a tag and a response keyword")
    raw_tag, raw_number, raw_keyword = m.groups()
    keyword = raw_keyword.decode("ascii", "surrogateescape").upper()
    end = m.end()
    if ctx.strict and (first.count(b" ", 0, end) != (3 if raw_number else 2) - 1):
        raise RemoteProtocolError("extra spaces in the response line")
    status = _STATUSES.get(keyword)
    if raw_tag != b"*":
        tag = raw_tag.decode("utf-8", "surrogateescape")
        if ctx.strict and not TAG_PATTERN.match(tag):
            raise RemoteProtocolError("invalid tag")
        if raw_number is not None or status not in _TAGGED_STATUSES:
            raise RemoteProtocolError("a tagged response must be OK, NO or BAD")
        return _parse_status_response(tag, status, segments, end, ctx)
    if status is not None:
        if raw_number is not None:
            raise RemoteProtocolError("unexpected number before a status response")
        return _parse_status_response(None, status, segments, end, ctx)
    if not keyword[:1].isalpha():
        raise RemoteProtocolError("expected a response keyword")
    values = tokenize(segments, literals, limits, end)
    cursor = Cursor(values)
    if raw_number is not None:
        if len(raw_number) > 10 or int(raw_number) > UINT32:
            raise RemoteProtocolError("message number out of range")
        n = int(raw_number)
        numbered = ctx.registry.numbered.get(keyword)
        if numbered is None:
            return UnknownResponse(keyword=keyword, number=n, values=_freeze_all(values))
        response: Response = numbered(n, cursor, ctx)
    else:
        untagged = ctx.registry.untagged.get(keyword)
        if untagged is None:
            return UnknownResponse(keyword=keyword, values=_freeze_all(values))
        response = untagged(cursor, ctx)
    if ctx.strict:
        cursor.end(keyword)
    return response


def _freeze_all(values: list[Value]) -> tuple[ExtValue, ...]:
    return tuple(to_ext_value(v) for v in values)


def _parse_status_response(
    tag: str | None, status: ResponseStatus, segments: list[bytes], pos: int, ctx: ParseContext
) -> StatusResponse:
    """Parse ``resp-text``: an optional ``[code]``, then free text (never tokenized)."""
    if len(segments) > 1:
        raise RemoteProtocolError("literal in response text")
    line = segments[0]
    n = len(line)
    if ctx.strict:
        if pos < n:
            if line[pos] != 0x20:
                raise RemoteProtocolError("expected a space after the status")
            pos += 1
        if _BAD_TEXT.search(line, pos):
            raise RemoteProtocolError("invalid octet in response text")
    else:
        while pos < n and line[pos] == 0x20:
            pos += 1
    code: ResponseCode | None = None
    if pos < n and line[pos] == 0x5B:  # "["
        close = line.find(b"]", pos + 1)
        if close < 0:
            if ctx.strict:
                raise RemoteProtocolError("unterminated response code")
        else:
            try:
                code = parse_response_code(line[pos + 1 : close], ctx)
            except RemoteProtocolError:
                if ctx.strict:
                    raise
            else:
                pos = close + 1
                if ctx.strict:
                    if pos < n:
                        if line[pos] != 0x20:
                            raise RemoteProtocolError("expected a space after the code")
                        pos += 1
                else:
                    while pos < n and line[pos] == 0x20:
                        pos += 1
    if ctx.strict and line[pos : pos + 1] == b" ":
        raise RemoteProtocolError("extra space before the response text")
    return StatusResponse(tag=tag, status=status, code=code, text=_text(line[pos:]))


def install(registry: Registry) -> None:
    """Register the parsers of every untagged response of the base grammar.

    See `imap_wire._response_data.install`; ``FETCH`` comes from `imap_wire._fetch`.
    """
    _response_data.install(registry)
