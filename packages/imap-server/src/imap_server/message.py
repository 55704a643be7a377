"""Message parsing at APPEND time, and the section reads FETCH and SEARCH make later.

`parse_message` reads a message's octets once and returns a `ParsedMessage`: the ENVELOPE,
the BODYSTRUCTURE, and the byte offsets of every MIME entity (where its header starts, where
its body starts and ends). A store keeps it next to the message (`ParsedMessage.to_bytes` /
`ParsedMessage.from_bytes`), so FETCH never parses a message again: `read_section`,
`read_binary` and `binary_size` turn a section specification into byte ranges and read only
those from the store's `imap_server.store.Body`; `header_values` and `search_text` give
SEARCH the decoded text.

The stdlib ``email`` package, and what this module does itself:

- The MIME structure (header/body split, multipart boundaries, nesting) is scanned here,
  not parsed with ``email.parser``, for three reasons. Byte offsets: FETCH reads
  ``BODY[1.2]`` as a slice of the stored octets, without the rest of the message, and the
  stdlib parser keeps no offsets. Bounded work on hostile input: `MAX_DEPTH`, `MAX_PARTS`,
  `MAX_ADDRESSES`, and scans linear in the octets. Speed: this whole parse takes about
  130 us for a 4.4 KB multipart/alternative message and 145 us for a 20 KB one with a
  base64 attachment, where ``email.parser.BytesParser`` alone takes 250 and 550 us. Fields
  are split with compiled regular expressions and parsed by small tokenizers written for the
  purpose (RFC 5322 address lists with group syntax, RFC 2045 parameters with RFC 2231
  continuations); `binascii` decodes base64 and quoted-printable.
- The stdlib is used where it is the authority and the work is SEARCH's, not APPEND's:
  `header_values` and `search_text` decode RFC 2047 encoded words with
  ``email.header.decode_header`` and ``email.header.make_header`` (falling back to a
  lenient decoder for words the stdlib rejects, such as octets invalid in their charset),
  and find the codec of a charset name (of an encoded word or a text part) through
  ``email.charset`` (its aliases and codec map), then ``codecs``. Nothing here decodes an
  RFC 2231 parameter value (BODYSTRUCTURE carries them joined but still percent-encoded,
  for the client to decode) or parses a date (the envelope's date is the header text).
- ``tests/test_message_vs_stdlib.py`` checks this module against
  ``email.parser.BytesParser(policy=compat32)`` on every test run: for a corpus of
  real-world and malformed messages and for generated MIME trees, the part tree, media
  types, parameters, Content-ID / -Description / -Disposition / -Transfer-Encoding, every
  part's octets (``BODY[part]`` and ``BINARY[part]``), preamble, epilogue and delimiter
  offsets, and the envelopes must agree. The few readings of malformed input where the two
  differ are listed there, each with the RFC reason this module's is kept.

How the octets are read:

- A header ends at its first empty line. A line that is neither a header field
  (``name:``, white space allowed before the colon as RFC 5322 section 4.5.8 has it) nor a
  continuation (leading space or tab) also ends it, without a separator, and starts the
  body (as the stdlib ``email`` parser does): a message with no header at all is then all
  body. Lines may end in CRLF or a bare LF.
- A multipart's parts are delimited by ``--boundary`` lines (RFC 2046 section 5.1.1): the
  boundary (white space at the end of the parameter left out: it can only be padding)
  followed only by optional ``--`` and white space; the line break before it belongs to
  the delimiter. No closing delimiter: the last part runs to the end. The preamble and the
  epilogue belong to no part. A multipart without a boundary parameter or without a single
  delimiter gets one ``TEXT/PLAIN`` part holding its whole body (the grammar needs at least
  one part, and nothing is lost).
- Nesting stops at `MAX_DEPTH` levels and a message holds at most `MAX_PARTS` entities:
  a multipart or encapsulated message beyond either bound is reported as an opaque
  ``APPLICATION/OCTET-STREAM`` part, and a multipart that reaches the part bound puts
  everything after its last part into that part. An address field keeps its first
  `MAX_ADDRESSES` addresses. Every scan is linear in the octets, so hostile input costs
  time proportional to its size only.
- `parse_message` never raises: if something unforeseen fails, the message is described as
  one ``TEXT/PLAIN`` part with an empty envelope (and a warning is logged).
- A message too large to hold in memory (an APPEND spooled to a file) is parsed from a
  `MessageSource`, read a bounded window at a time (`SOURCE_CHUNK` octets, 1 MiB, for line
  counts and delimiter scans; a header block up to `SOURCE_HEADER_LIMIT`, 1 MiB, plus three
  octets), never whole. The result is the one the octets give as `bytes`, but for a header
  block of `SOURCE_HEADER_LIMIT` octets or more: it ends at the start of the line the limit
  falls in (no header at all if that is the first line), and the rest of the entity is
  body. Only hostile messages have such headers; for them, the envelope and MIME fields
  come from the first 1 MiB.

What the structures hold (RFC 9051 section 7.5.2):

- Envelope strings are the header text as sent, unfolded and trimmed, encoded words not
  decoded; decoded from UTF-8 with ``surrogateescape`` (as `imap_wire` does) so that the
  octets go back on the wire unchanged. NUL, which no IMAP string may hold, becomes U+FFFD.
  When a header field occurs more than once, the first occurrence counts.
- Addresses: the display name with quoting removed (a comment stands in for a missing
  name); the local part as written (a quoted local part keeps its quotes, so
  ``mailbox@host`` is a usable address); the domain as written. A missing domain is the
  empty string (NIL would mean a group marker). Groups are written as the RFC says: a start
  marker (mailbox = group name, host NIL), the members, an end marker (all NIL).
- Body structures use upper-case media types, subtypes, encodings, disposition types and
  parameter names, as the RFC examples do; parameter values keep their case. A text part
  without a charset gets ``("CHARSET" "US-ASCII")`` (RFC 2045 section 5.2), and an entity
  without a valid Content-Type is ``TEXT/PLAIN`` (``MESSAGE/RFC822`` in a multipart/digest).
  RFC 2231 continuations (``name*0*``, ``name*1*`` ...) are joined into one ``NAME*``
  (or ``NAME``) parameter, still percent-encoded (RFC 2231 section 6); if only later
  segments are encoded, the first one plain, ``NAME*`` starts with ``''`` (no charset, no
  language). MD5 is always NIL.
- ``size`` counts the octets of an entity's body after its MIME header; ``lines`` (text and
  encapsulated messages) counts its line breaks, plus one for a last line without one.
- A ``message/rfc822`` or ``message/global`` part is parsed as a message (envelope, body
  structure, numbered parts) unless its Content-Transfer-Encoding is other than 7bit, 8bit
  or binary: such a part is opaque (no envelope), as its octets are not a message.
"""

from __future__ import annotations

import binascii
import email.charset
import email.errors
import email.header
import functools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from imap_wire import Address, BodyStructure, Disposition, Envelope, MultiPart, Section, SinglePart
from imap_wire import SectionText as _ST

from .store import Body

__all__ = [
    "MAX_ADDRESSES",
    "MAX_DEPTH",
    "MAX_PARTS",
    "SEARCH_TEXT_LIMIT",
    "SOURCE_CHUNK",
    "SOURCE_HEADER_LIMIT",
    "MessageSource",
    "ParsedMessage",
    "UnknownTransferEncoding",
    "binary_size",
    "header_values",
    "identity_range",
    "parse_message",
    "partial_range",
    "read_binary",
    "read_section",
    "search_text",
    "section_range",
]

_log = logging.getLogger(__name__)

#: Deepest nesting of multiparts and encapsulated messages that is parsed (the message is
#: level 0). Keeps recursion bounded and the BODYSTRUCTURE within the parenthesis depth
#: clients accept (64 for `imap_wire`).
MAX_DEPTH = 50
#: Most MIME entities described in one message.
MAX_PARTS = 10_000
#: Addresses kept of one address header field (the rest are left out of the envelope).
MAX_ADDRESSES = 1000
#: Octets of a message `search_text` reads at most, by default.
SEARCH_TEXT_LIMIT = 4 * 1024 * 1024
#: Octets `parse_message` reads from a `MessageSource` at a time, by default (a delimiter
#: scan's window holds a few more: see `_SourceDelimiters`).
SOURCE_CHUNK = 1024 * 1024
#: A header block read from a `MessageSource` is looked for in this many octets: a longer
#: one is cut (see the module docstring).
SOURCE_HEADER_LIMIT = 1024 * 1024
#: The first read of a header block from a `MessageSource` (doubled until the block ends).
_SOURCE_HEADER_READ = 64 * 1024

_UTF8 = "utf-8"
_ESCAPE = "surrogateescape"
_US_ASCII = (("CHARSET", "US-ASCII"),)
_IDENTITY = frozenset({"7BIT", "8BIT", "BINARY"})
_MESSAGE_SUBTYPES = frozenset({"RFC822", "GLOBAL"})

#: Offsets of one MIME entity: header start, body start (the header includes its blank
#: line), body end, and the entities inside it (a multipart's parts, in order, or the one
#: encapsulated message of a message/rfc822 part).
_Node: TypeAlias = "tuple[int, int, int, tuple[_Node, ...]]"


class UnknownTransferEncoding(Exception):
    """BINARY met a Content-Transfer-Encoding it cannot decode (``NO [UNKNOWN-CTE]``).

    RFC 3516 section 4.3 / RFC 9051 section 6.4.5.

    Attributes:
        encoding: The encoding, as the body structure names it.
    """

    def __init__(self, encoding: str) -> None:
        super().__init__(f"unknown Content-Transfer-Encoding: {encoding}")
        self.encoding = encoding


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedMessage:
    """What FETCH and SEARCH need of a message, computed once by `parse_message`.

    Attributes:
        envelope: The ENVELOPE (RFC 9051 section 7.5.2).
        body_structure: The extended body structure, ``BODYSTRUCTURE``.
    """

    envelope: Envelope
    body_structure: BodyStructure
    #: Offsets of the message entity and of every entity in it, shaped like
    #: ``body_structure`` (see `_Node`).
    _layout: _Node
    #: Scratch space for values derived from the message that are costly to recompute and
    #: small to keep (SEARCH keeps the decoded From/To/Cc/Bcc/Subject here); not serialized,
    #: not compared. Keys are owned by the module that sets them.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def body(self) -> BodyStructure:
        """The non-extensible body structure, ``BODY``: no extension data anywhere."""
        return _basic(self.body_structure)

    def to_bytes(self) -> bytes:
        """Serialize for storage (compact ASCII JSON); `from_bytes` reads it back equal."""
        doc = [_FORMAT, _enc_envelope(self.envelope), _enc_node(self.body_structure, self._layout)]
        return json.dumps(doc, separators=(",", ":"), check_circular=False).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> ParsedMessage:
        """Read what `to_bytes` wrote.

        Raises:
            ValueError: ``data`` is not a serialized `ParsedMessage`.
        """
        try:
            doc = json.loads(data)
            if type(doc) is not list or len(doc) != 3 or doc[0] != _FORMAT:
                raise ValueError("not a serialized ParsedMessage")
            envelope = _dec_envelope(doc[1])
            body_structure, layout = _dec_node(doc[2])
        except ValueError:
            raise
        except (TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            raise ValueError(f"not a serialized ParsedMessage: {exc!r}") from None
        return cls(envelope=envelope, body_structure=body_structure, _layout=layout)


# -- parsing ------------------------------------------------------------------------------------

# A header block: field lines (name, optional white space, colon) and continuation lines.
# Possessive quantifiers: no backtracking, so the scan is linear whatever the input.
_HEADER_BLOCK = re.compile(rb"(?:[!-9;-~]++[ \t]*+:[^\n]*+(?:\n|\Z)|[ \t][^\n]*+(?:\n|\Z))*+")
_FIELD_TAIL = rb"[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)"
_CONTENT_FIELDS = (
    rb"content-(?:type|transfer-encoding|id|description|disposition|language|location)"
)
# Only the fields used are matched, so a header of thousands of fields costs C time only.
_MIME_FIELDS = re.compile(rb"^(" + _CONTENT_FIELDS + rb")" + _FIELD_TAIL, re.I | re.M)
_MESSAGE_FIELDS = re.compile(
    rb"^("
    + _CONTENT_FIELDS
    + rb"|date|subject|from|sender|reply-to|to|cc|bcc|in-reply-to|message-id)"
    + _FIELD_TAIL,
    re.I | re.M,
)
_UNFOLD = re.compile(rb"\r?\n(?=[ \t])")
# What may follow "--boundary" on a delimiter line (RFC 2046 section 5.1.1).
_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*+(?:\r?\n|\r?\Z)")
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_PARAM = re.compile(r"""[\s;]*([^\s=;"]+)\s*(?:=\s*("(?:[^"\\]|\\.)*+"?|[^;]*))?""", re.S)
_RFC2231_NAME = re.compile(r"([^*]+)\*(?:([0-9]{1,4})(\*?))?\Z")
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


def _unquote(text: str) -> str:
    """Remove the backslashes of quoted pairs (RFC 5322 section 3.2.1)."""
    # A function, not the template r"\1": Python 3.11 expands templates slowly.
    return _QUOTED_PAIR.sub(_first_group, text) if "\\" in text else text


def _first_group(m: re.Match[str]) -> str:
    return m.group(1)


_ATTR_CHAR = frozenset("!#$&+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~")


class MessageSource(Protocol):
    """A message's octets read on demand, for `parse_message`: a large APPEND spooled to a
    file, say. `parse_message` reads it a bounded window at a time, never whole.

    ``size`` may be a plain attribute.
    """

    @property
    def size(self) -> int:
        """The number of octets in the message."""
        ...

    def pread(self, start: int, end: int) -> bytes:
        """Return octets ``[start:end]`` (clamped to `size`); synchronous."""
        ...


def parse_message(data: bytes | MessageSource, *, chunk: int = SOURCE_CHUNK) -> ParsedMessage:
    """Compute the envelope, body structure and section offsets of a message.

    Never raises for `bytes`: malformed input gets the best description this module can
    give (see the module docstring), and an unforeseen failure the description of one text
    part. A `MessageSource` gets the same answer as its octets would as `bytes` (only a
    header block of `SOURCE_HEADER_LIMIT` octets or more is read differently, see the
    module docstring), read a window at a time.

    Args:
        data: The message octets, as APPEND received them, or a `MessageSource` giving them.
        chunk: Octets read from a `MessageSource` at a time (`SOURCE_CHUNK`, 1 MiB, unless
            a test wants chunk boundaries everywhere); not used for `bytes`.

    Returns:
        The parsed message.

    Raises:
        ValueError: ``chunk`` is below 1. For a source, also whatever its ``pread`` raises
            (or a short read) should it fail again while the fallback counts the lines.
    """
    parser: _Parser
    if type(data) is bytes:
        parser = _Parser(data)
        end = len(data)
    elif isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        parser = _Parser(data)
        end = len(data)
    else:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, not {chunk}")
        parser = _SourceParser(data, chunk)
        end = data.size
    try:
        envelope, structure, layout = parser.entity(0, end, 0, False, True)
        assert envelope is not None
    except Exception:  # a bug must not make APPEND fail: describe the message plainly
        _log.warning("could not parse a message of %d octets", end, exc_info=True)
        structure = SinglePart(
            type="TEXT", subtype="PLAIN", params=_US_ASCII, encoding="7BIT", size=end,
            lines=parser.lines(0, end), extended=True,
        )  # fmt: skip
        return ParsedMessage(envelope=Envelope(), body_structure=structure, _layout=(0, 0, end, ()))
    return ParsedMessage(envelope=envelope, body_structure=structure, _layout=layout)


#: A delimiter line found in a multipart body: where it starts (after the line break before
#: it, which belongs to it), whether it is the close delimiter (``--boundary--``), and where
#: it ends (after its own line break).
_Found: TypeAlias = tuple[int, bool, int]


class _Finder(Protocol):
    """Finds the delimiter lines of one boundary in a multipart body (`_Parser.split`)."""

    def first(self, start: int) -> _Found | None:
        """The delimiter line at ``start`` (a body may open with one, without a line break
        before it), else the first one after it."""
        ...

    def find(self, position: int) -> _Found | None:
        """The next delimiter line whose line break is at or after ``position``."""
        ...

    def octet(self, index: int) -> int:
        """The octet at ``index``."""
        ...


class _Parser:
    """One message's parse: the octets and what is left of the entity budget.

    The structure is worked out here; the octets are read through `header`, `lines` and
    `delimiters`, which `_SourceParser` overrides to read a `MessageSource` in windows.
    """

    __slots__ = ("budget", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.budget = MAX_PARTS

    def header(self, start: int, end: int, message: bool) -> tuple[dict[bytes, bytes], int]:
        """Find the header of the entity in ``data[start:end]``: its fields (the first field
        of each name; with ``message``, the envelope's fields too) and where its body starts:
        after the empty line that ends the header block, or right where a line that is no
        header field (or ``end``) ended it."""
        data = self.data
        match = _HEADER_BLOCK.match(data, start, end)
        header_end = match.end() if match is not None else start
        return _entity_header(data, start, header_end, end, message)

    def lines(self, start: int, end: int) -> int:
        """Count the text lines in ``data[start:end]``: line breaks, plus one for a last line
        without one."""
        if start >= end:
            return 0
        data = self.data
        n = data.count(b"\n", start, end)
        return n if data[end - 1] == 0x0A else n + 1

    def delimiters(self, delimiter: bytes, end: int) -> _Finder:
        """A finder of ``delimiter`` lines (``--boundary``) before ``end``."""
        return _Delimiters(self.data, delimiter, end)

    def entity(
        self, start: int, end: int, depth: int, digest: bool, message: bool
    ) -> tuple[Envelope | None, BodyStructure, _Node]:
        """Parse the entity in ``data[start:end]``; with ``message``, as an RFC 5322 message
        (its envelope too). ``digest``: a part of a multipart/digest (other default type)."""
        self.budget -= 1
        fields, body_start = self.header(start, end, message)
        envelope = _envelope(fields) if message else None

        raw = fields.get(b"content-type")
        params: tuple[tuple[str, str], ...]
        if raw is None:
            mtype, subtype, params = ("MESSAGE", "RFC822", ()) if digest else ("TEXT", "PLAIN", ())
        else:
            mtype, subtype, params = _content_type(_text(raw))
        if mtype == "TEXT" and not any(key == "CHARSET" for key, _ in params):
            params = (*_US_ASCII, *params)
        raw = fields.get(b"content-transfer-encoding")
        encoding = "7BIT"
        if raw is not None:
            text = _text(raw)
            token = (_strip_comments(text) if "(" in text else text).split(None, 1)
            if token:
                encoding = token[0].partition(";")[0].upper() or "7BIT"
        raw = fields.get(b"content-disposition")
        disposition = None if raw is None else _disposition(_text(raw))
        raw = fields.get(b"content-language")
        language = None if raw is None else _language(_text(raw))
        raw = fields.get(b"content-location")
        location = None if raw is None else _text(raw)
        raw = fields.get(b"content-id")
        content_id = None if raw is None else _text(raw)
        raw = fields.get(b"content-description")
        description = None if raw is None else _text(raw)

        nested = depth < MAX_DEPTH and self.budget > 0
        if mtype == "MULTIPART":
            if nested:
                parts, nodes = self.multipart(body_start, end, depth, subtype, params)
                structure: BodyStructure = MultiPart(
                    parts=parts, subtype=subtype, params=params, disposition=disposition,
                    language=language, location=location, extended=True,
                )  # fmt: skip
                return envelope, structure, (start, body_start, end, nodes)
            mtype, subtype, params = "APPLICATION", "OCTET-STREAM", ()
        elif mtype == "MESSAGE" and subtype in _MESSAGE_SUBTYPES:
            if nested and encoding in _IDENTITY:
                inner_env, inner, node = self.entity(body_start, end, depth + 1, False, True)
                structure = SinglePart(
                    type=mtype, subtype=subtype, params=params, id=content_id,
                    description=description, encoding=encoding, size=end - body_start,
                    lines=self.lines(body_start, end), envelope=inner_env, body=inner,
                    disposition=disposition, language=language, location=location,
                    extended=True,
                )  # fmt: skip
                return envelope, structure, (start, body_start, end, (node,))
            if not nested:
                mtype, subtype, params = "APPLICATION", "OCTET-STREAM", ()
        structure = SinglePart(
            type=mtype, subtype=subtype, params=params, id=content_id, description=description,
            encoding=encoding, size=end - body_start,
            lines=self.lines(body_start, end) if mtype == "TEXT" else None,
            disposition=disposition, language=language, location=location, extended=True,
        )  # fmt: skip
        return envelope, structure, (start, body_start, end, ())

    def multipart(
        self,
        start: int,
        end: int,
        depth: int,
        subtype: str,
        params: tuple[tuple[str, str], ...],
    ) -> tuple[tuple[BodyStructure, ...], tuple[_Node, ...]]:
        """Parse the parts of the multipart body ``data[start:end]``."""
        boundary = next((value for name, value in params if name == "BOUNDARY"), "")
        # A boundary ends in no white space (RFC 2046 section 5.1.1, bcharsnospace): any
        # there can only be transport padding, which delimiter lines may carry anyway.
        boundary = boundary.rstrip(" \t")
        ranges = self.split(start, end, boundary.encode(_UTF8, _ESCAPE)) if boundary else []
        if not ranges:
            text = SinglePart(
                type="TEXT", subtype="PLAIN", params=_US_ASCII, encoding="7BIT",
                size=end - start, lines=self.lines(start, end), extended=True,
            )  # fmt: skip
            self.budget -= 1
            return (text,), ((start, start, end, ()),)
        digest = subtype == "DIGEST"
        parts: list[BodyStructure] = []
        nodes: list[_Node] = []
        for part_start, part_end in ranges:
            _, part, node = self.entity(part_start, part_end, depth + 1, digest, False)
            parts.append(part)
            nodes.append(node)
        return tuple(parts), tuple(nodes)

    def split(self, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
        """Return the ranges of the parts between ``--boundary`` lines in ``data[start:end]``."""
        limit = max(1, self.budget)
        ranges: list[tuple[int, int]] = []
        part_start = -1
        finder = self.delimiters(b"--" + boundary, end)
        found = finder.first(start)
        while found is not None:
            line, closing, tail_end = found
            if part_start >= 0:
                # The line break before the delimiter belongs to it.
                part_end = line - 1
                if part_end > part_start and finder.octet(part_end - 1) == 0x0D:
                    part_end -= 1
                ranges.append((part_start, max(part_start, part_end)))
            if closing:
                return ranges
            part_start = tail_end
            if len(ranges) + 1 >= limit:
                break  # the part bound: this last part takes the rest
            # Search from the delimiter's own line break: the next line may be another.
            found = finder.find(part_start - 1)
        if part_start >= 0:
            ranges.append((part_start, end))
        return ranges


class _Delimiters:
    """Finds the delimiter lines of one boundary after a line break.

    `bytes.find` locates candidates cheaply; should many of them turn out not to be
    delimiters (``--boundary`` followed by other text: hostile or odd input), a regular
    expression for the whole line takes over, so the scan stays at C speed.
    """

    __slots__ = ("data", "delimiter", "end", "misses", "pattern")

    def __init__(self, data: bytes, delimiter: bytes, end: int) -> None:
        self.data = data
        self.delimiter = b"\n" + delimiter
        self.end = end
        self.misses = 0
        self.pattern: re.Pattern[bytes] | None = None

    def first(self, start: int) -> _Found | None:
        """See `_Finder.first`."""
        data, end = self.data, self.end
        size = len(self.delimiter) - 1
        if data.startswith(self.delimiter[1:], start, end):
            tail = _DELIMITER_TAIL.match(data, start + size, end)
            if tail is not None:
                return start, tail.group(1) is not None, tail.end()
        return self.find(start)

    def find(self, position: int) -> _Found | None:
        """Return the next delimiter line at or after ``position`` (at its line break)."""
        data, end = self.data, self.end
        while self.pattern is None:
            found = data.find(self.delimiter, position, end)
            if found < 0:
                return None
            tail = _DELIMITER_TAIL.match(data, found + len(self.delimiter), end)
            if tail is not None:
                return found + 1, tail.group(1) is not None, tail.end()
            position = found + 1
            self.misses += 1
            if self.misses > 32:
                self.pattern = re.compile(re.escape(self.delimiter) + _DELIMITER_TAIL.pattern)
        m = self.pattern.search(data, position, end)
        if m is None:
            return None
        return m.start() + 1, m.group(1) is not None, m.end()

    def octet(self, index: int) -> int:
        """See `_Finder.octet`."""
        return self.data[index]


# -- parsing a MessageSource --------------------------------------------------------------------


def _entity_header(
    data: bytes, start: int, header_end: int, end: int, message: bool
) -> tuple[dict[bytes, bytes], int]:
    """`_Parser.header` once the header block ``data[start:header_end]`` is known."""
    if header_end >= end:
        body_start = end
    elif data[header_end] == 0x0A:
        body_start = header_end + 1
    elif data[header_end] == 0x0D and header_end + 1 < end and data[header_end + 1] == 0x0A:
        body_start = header_end + 2
    else:
        body_start = header_end  # a line that is no header field starts the body
    fields: dict[bytes, bytes] = {}
    if header_end > start:
        pattern = _MESSAGE_FIELDS if message else _MIME_FIELDS
        for m in pattern.finditer(data, start, header_end):
            name = m.group(1).lower()
            if name not in fields:
                fields[name] = m.group(2)
    return fields, body_start


class _SourceParser(_Parser):
    """A `_Parser` over a `MessageSource`, read a bounded window at a time.

    The windows: a line count reads ``chunk`` octets at a time; a delimiter scan, ``chunk``
    octets and the overlap of `_SourceDelimiters` (the length of ``\\n--boundary``, plus
    one); a header block, 64 KiB (or ``chunk``, if smaller), doubled until the block is
    seen to end, up to `SOURCE_HEADER_LIMIT` plus three octets. Each octet is read about
    once per scan the bytes path makes over it (a header block up to twice), and no window
    outlives the scan that read it.
    """

    __slots__ = ("chunk", "source")

    def __init__(self, source: MessageSource, chunk: int) -> None:
        super().__init__(b"")
        self.source = source
        self.chunk = chunk

    def read(self, start: int, end: int) -> bytes:
        """Return octets ``[start:end]``, all of them (the callers stay within the size)."""
        octets = self.source.pread(start, end)
        if type(octets) is not bytes:
            octets = bytes(octets)  # a bytearray's field values could not be dict keys
        if len(octets) != end - start:
            raise ValueError(f"short read: {len(octets)} of {end - start} octets at {start}")
        return octets

    def header(self, start: int, end: int, message: bool) -> tuple[dict[bytes, bytes], int]:
        # The window holds the octet before the entity too, so "^" in the field patterns
        # sees what it sees in the whole message; and two octets past the limit, where the
        # line break after the block is.
        lead = 1 if start > 0 else 0
        final = min(end, start + SOURCE_HEADER_LIMIT)
        size = min(self.chunk, _SOURCE_HEADER_READ)
        while True:
            limit = min(final, start + size)
            window = self.read(start - lead, min(end, limit + 2))
            stop = limit - start + lead
            match = _HEADER_BLOCK.match(window, lead, stop)
            header_end = match.end() if match is not None else lead
            # The pattern judges each line on its own octets: once the line after the block
            # is whole in the window, the block is what the whole message has.
            if limit == final or window.find(b"\n", header_end, stop) >= 0:
                break
            size *= 2
        if header_end == stop and limit < end:
            # The header limit: a block still going at SOURCE_HEADER_LIMIT octets ends at the
            # start of the line the limit falls in (where the pattern stopped, if the window
            # cut that line short of its colon), and the rest is body. With bytes, the block
            # would go on: only a hostile message has such a header.
            cut = max(lead, window.rfind(b"\n", lead, stop) + 1)
            fields, body_start = _entity_header(window, lead, cut, cut, message)
        else:
            fields, body_start = _entity_header(
                window, lead, header_end, end - start + lead, message
            )
        return fields, start - lead + body_start

    def lines(self, start: int, end: int) -> int:
        if start >= end:
            return 0
        count = 0
        window = b""
        for position in range(start, end, self.chunk):
            window = self.read(position, min(end, position + self.chunk))
            count += window.count(b"\n")
        return count if window[-1] == 0x0A else count + 1

    def delimiters(self, delimiter: bytes, end: int) -> _Finder:
        return _SourceDelimiters(self, delimiter, end)


class _SourceDelimiters:
    """`_Delimiters` over a `MessageSource`: a `_Delimiters` searches one window at a time.

    Windows hold ``chunk`` octets and overlap by the length of ``\\n--boundary`` plus one:
    a delimiter line the end of a window cuts before its tail can be judged (inside
    ``\\n--boundary`` or the ``--`` after it) starts in the overlap, and is found in the
    next window. A tail that runs to the end of a window (transport padding, or a CR, may
    go on) is followed through the source by `tail`, a chunk at a time, whatever the length
    of the padding. So the delimiters found are those `_Delimiters` finds in the bytes.
    """

    __slots__ = ("end", "inner", "parser", "span", "start", "window")

    def __init__(self, parser: _SourceParser, delimiter: bytes, end: int) -> None:
        self.parser = parser
        self.end = end
        self.inner = _Delimiters(b"", delimiter, 0)
        self.span = parser.chunk + len(self.inner.delimiter) + 1
        # The current window, ``window`` read at ``start``.
        self.start = 0
        self.window = b""

    def first(self, start: int) -> _Found | None:
        bare = self.inner.delimiter[1:]
        stop = start + len(bare)
        if stop <= self.end and self.parser.read(start, stop) == bare:
            tail = self.tail(stop)
            if tail is not None:
                return start, tail[0], tail[1]
        return self.find(start)

    def find(self, position: int) -> _Found | None:
        end, inner = self.end, self.inner
        overlap = len(inner.delimiter) + 1
        w0, window = self.start, self.window
        if not w0 <= position <= w0 + len(window):
            w0, window = position, b""
        while True:
            w1 = w0 + len(window)
            inner.data, inner.end = window, len(window)
            at = max(0, position - w0)
            while (found := inner.find(at)) is not None:
                line, closing, tail_end = found
                if tail_end < len(window) or w1 == end or window[tail_end - 1] == 0x0A:
                    return w0 + line, closing, w0 + tail_end
                # The tail runs to the end of the window: follow it in the source.
                tail = self.tail(w0 + line - 1 + len(inner.delimiter))
                if tail is not None:
                    return w0 + line, tail[0], tail[1]
                at = line
            if w1 >= end:
                return None
            w0 = max(position, w1 - overlap)
            window = self.parser.read(w0, min(end, w0 + self.span))
            self.start, self.window = w0, window

    def tail(self, position: int) -> tuple[bool, int] | None:
        """Match `_DELIMITER_TAIL` at ``position``, reading on through padding as needed:
        whether it is a close delimiter's, and where it ends; None if it does not match."""
        end, read, step = self.end, self.parser.read, self.parser.chunk
        # A short first read (a tail is a few octets); two octets tell "--" from a mismatch.
        window = read(position, min(end, position + max(2, min(step, 128))))
        m = _DELIMITER_TAIL.match(window)
        if m is None:
            return None
        closing = m.group(1) is not None
        position += m.end()
        if m.end() < len(window) or position == end or window[m.end() - 1] == 0x0A:
            return closing, position
        # The window ends in the padding, or right after a CR.
        cr = window[m.end() - 1] == 0x0D
        while not cr:
            if position == end:
                return closing, position
            window = read(position, min(end, position + step))
            rest = window.lstrip(b" \t")
            position += len(window) - len(rest)
            if rest:
                if rest[0] == 0x0A:
                    return closing, position + 1
                if rest[0] != 0x0D:
                    return None
                position += 1
                cr = True
        if position == end:
            return closing, position
        return (closing, position + 1) if read(position, position + 1) == b"\n" else None

    def octet(self, index: int) -> int:
        at = index - self.start
        if 0 <= at < len(self.window):
            return self.window[at]
        return self.parser.read(index, index + 1)[0]


def _text(raw: bytes) -> str:
    """Return a header field value unfolded and trimmed, as text (octets kept)."""
    if b"\n" in raw:
        raw = _UNFOLD.sub(b"", raw)
    raw = raw.strip(b" \t\r\n")
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", "\ufffd".encode())
    return raw.decode(_UTF8, _ESCAPE)


def _strip_comments(value: str) -> str:
    """Remove RFC 5322 comments (nested, with quoted pairs) outside quoted strings."""
    out: list[str] = []
    depth = 0
    quoted = False
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == "\\" and (quoted or depth):
            if not depth:
                out.append(value[i : i + 2])
            i += 2
            continue
        if depth:
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if not depth:
                    out.append(" ")
        elif c == '"':
            quoted = not quoted
            out.append(c)
        elif c == "(" and not quoted:
            depth = 1
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _params(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Split a MIME header value into its leading value and its parameters (RFC 2045
    section 5.1), joining RFC 2231 continuations; names upper-cased, the first of a name
    kept."""
    if "(" in text:
        text = _strip_comments(text)
    head, _, rest = text.partition(";")
    if not rest:
        return head.strip(), ()
    # Parameters in order; a continued parameter (RFC 2231 section 3) is entered once, with
    # None, where its first segment is, and its segments are collected by number.
    entries: list[tuple[str, str | None]] = []
    sections: dict[str, dict[int, tuple[bool, str]]] = {}
    for m in _PARAM.finditer(rest):
        value = m.group(2)
        if value is None:
            continue
        name = m.group(1).upper()
        if value[:1] == '"':
            value = value[1:-1] if len(value) > 1 and value[-1] == '"' else value[1:]
            value = _unquote(value)
        else:
            value = value.rstrip()
        continued = _RFC2231_NAME.match(name) if "*" in name else None
        if continued is not None and continued.group(2) is not None:
            base = continued.group(1)
            segments = sections.get(base)
            if segments is None:
                segments = sections[base] = {}
                entries.append((base, None))
            segments.setdefault(int(continued.group(2)), (continued.group(3) == "*", value))
        else:
            entries.append((name, value))
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, plain in entries:
        if plain is None:
            segments = sections[name]
            if 0 not in segments:
                continue
            count = 0
            while count in segments:
                count += 1
            # RFC 2231 section 4.1: encoded and plain segments may mix, and only the first
            # carries the charset and language; if it is plain, later encoded ones have
            # neither (the two quotes are written, left blank).
            extended = any(segments[number][0] for number in range(count))
            pieces = [] if segments[0][0] or not extended else ["''"]
            for number in range(count):
                is_extended, piece = segments[number]
                pieces.append(_percent_encode(piece) if extended and not is_extended else piece)
            name = name + "*" if extended else name
            plain = "".join(pieces)
        if name not in seen:
            seen.add(name)
            out.append((name, plain))
    return head.strip(), tuple(out)


def _percent_encode(value: str) -> str:
    """Percent-encode a plain RFC 2231 segment that joins extended ones."""
    if all(c in _ATTR_CHAR for c in value):
        return value
    return "".join(
        c if c in _ATTR_CHAR else "".join(f"%{b:02X}" for b in c.encode(_UTF8, _ESCAPE))
        for c in value
    )


def _content_type(text: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """Parse Content-Type; an invalid type is text/plain (RFC 2045 section 5.2)."""
    head, params = _params(text)
    mtype, slash, subtype = head.partition("/")
    mtype = mtype.strip()
    subtype_match = _TOKEN.match(subtype.strip())
    if not slash or subtype_match is None or _TOKEN.fullmatch(mtype) is None:
        return "TEXT", "PLAIN", params
    return mtype.upper(), subtype_match.group().upper(), params


def _disposition(text: str) -> Disposition | None:
    head, params = _params(text)
    token = _TOKEN.match(head)
    if token is None and not params:
        return None
    return Disposition(type="" if token is None else token.group().upper(), params=params)


def _language(text: str) -> tuple[str, ...] | None:
    if "(" in text:
        text = _strip_comments(text)
    tags = tuple(tag for tag in (t.strip() for t in text.split(",")) if tag)
    return tags or None


# -- envelope -------------------------------------------------------------------------------------

_ADDRESS_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\n]+)
    |"(?P<q>(?:[^"\\]|\\.)*+)"?
    |\[(?:[^\]\\]|\\.)*+\]?(?P<d>)
    |(?P<sp>[<>@,;:.])
    |(?P<c>\()
    |(?P<a>[^ \t\r\n"\[\]\\()<>@,;:.]++)
    |(?P<x>\\.?|[\])])""",
    re.S | re.X,
)

#: An address-list token: kind (``a`` atom, ``q`` quoted string, ``d`` domain literal,
#: ``c`` comment, or the special character itself), its text (quoted strings unescaped),
#: its source text, and whether white space or a comment came before it.
_Token: TypeAlias = tuple[str, str, str, bool]


def _envelope(fields: dict[bytes, bytes]) -> Envelope:
    def text(name: bytes) -> str | None:
        raw = fields.get(name)
        return None if raw is None else _text(raw)

    def addresses(name: bytes) -> tuple[Address, ...]:
        raw = fields.get(name)
        return () if raw is None else _addresses(_text(raw))

    from_ = addresses(b"from")
    # RFC 9051 section 7.5.2: absent or empty Sender and Reply-To are the From value.
    return Envelope(
        date=text(b"date"),
        subject=text(b"subject"),
        from_=from_,
        sender=addresses(b"sender") or from_,
        reply_to=addresses(b"reply-to") or from_,
        to=addresses(b"to"),
        cc=addresses(b"cc"),
        bcc=addresses(b"bcc"),
        in_reply_to=text(b"in-reply-to"),
        message_id=text(b"message-id"),
    )


def _address_tokens(text: str) -> Iterator[_Token]:
    """Yield the tokens of an address list (see `_Token`); never fails."""
    space = False
    i = 0
    n = len(text)
    while i < n:
        m = _ADDRESS_TOKEN.match(text, i)
        if m is None:  # not reachable: every character starts some token
            i += 1
            continue
        kind = m.lastgroup
        if kind == "ws":
            space = True
        elif kind == "c":
            depth = 0
            j = i
            while j < n:
                c = text[j]
                if c == "\\":
                    j += 2
                    continue
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if not depth:
                        break
                j += 1
            j = min(j, n)
            yield ("c", text[i + 1 : j].strip(), text[i : j + 1], space)
            space = True
            i = j + 1
            continue
        else:
            raw = m.group()
            if kind == "q":
                value = _unquote(m.group("q"))
                yield ("q", value, raw, space)
            elif kind == "sp":
                yield (raw, raw, raw, space)
            elif kind == "d":
                yield ("d", raw, raw, space)
            else:
                yield ("a", raw, raw, space)
            space = False
        i = m.end()


# The usual address lists, ``a@b.c, "Name" <a@b.c>, Some Name <a@b.c>``, take a fast path
# that gives what `_parse_addresses` would (the tests compare the two). Only space, tab, CR
# and LF are white space here, as in `_ADDRESS_TOKEN`.
_FAST_ATOM = r"[^ \t\r\n\"(),.:;<>@\[\]\\]+"
_FAST_DOT_ATOM = r"[^ \t\r\n\"(),:;<>@\[\]\\]+"
_FAST_ENTRY = (
    rf"""(?:"(?P<q>(?:[^"\\]|\\.)*+)"|(?P<p>{_FAST_ATOM}(?: {_FAST_ATOM})*+))?[ \t\r\n]*+"""
    rf"<(?P<l>{_FAST_DOT_ATOM})@(?P<d>{_FAST_DOT_ATOM})>"
    rf"|(?P<l2>{_FAST_DOT_ATOM})@(?P<d2>{_FAST_DOT_ATOM})"
)
_FAST_FIRST = re.compile(rf"[ \t\r\n]*+(?:{_FAST_ENTRY})[ \t\r\n]*+", re.S)
_FAST_NEXT = re.compile(rf",[ \t\r\n]*+(?:{_FAST_ENTRY})[ \t\r\n]*+", re.S)


def _addresses(text: str) -> tuple[Address, ...]:
    """Parse an RFC 5322 address list leniently (never raises); `MAX_ADDRESSES` at most."""
    out: list[Address] = []
    n = len(text)
    end = 0
    m = _FAST_FIRST.match(text)
    while m is not None:
        host = m.group("d")
        if host is None:
            out.append(Address(mailbox=m.group("l2"), host=m.group("d2")))
        else:
            name = m.group("q")
            name = m.group("p") if name is None else _unquote(name)
            out.append(
                Address(
                    name=name.strip() or None if name else None, mailbox=m.group("l"), host=host
                )
            )
        end = m.end()
        if end == n or len(out) >= MAX_ADDRESSES:
            return tuple(out)
        m = _FAST_NEXT.match(text, end)
    # The tokenizer takes over at the comma after the last simple entry (its state there is
    # the initial one), or from the start if the simple entries are not followed by a comma.
    if not out or text[end] != ",":
        return _parse_addresses(text, [])
    return _parse_addresses(text[end:], out)


def _parse_addresses(text: str, out: list[Address] | None = None) -> tuple[Address, ...]:
    """Parse an RFC 5322 address list with the tokenizer: groups, comments, routes, junk.

    Appends to ``out`` and returns it all, `MAX_ADDRESSES` at most (and a group's end).
    """
    if out is None:
        out = []
    entry: list[_Token] = []
    in_angle = False
    in_group = False
    for token in _address_tokens(text):
        if len(out) >= MAX_ADDRESSES:
            entry = []
            break
        kind = token[0]
        if in_angle:
            entry.append(token)
            if kind == ">":
                in_angle = False
        elif kind == "<":
            entry.append(token)
            in_angle = True
        elif kind == ",":
            _add_mailbox(out, entry)
            entry = []
        elif kind == ":" and not in_group:
            out.append(Address(mailbox=_phrase(entry) or ""))
            in_group = True
            entry = []
        elif kind == ";":
            _add_mailbox(out, entry)
            entry = []
            if in_group:
                out.append(Address())
                in_group = False
        else:
            entry.append(token)
    _add_mailbox(out, entry)
    if in_group:
        out.append(Address())
    return tuple(out)


def _add_mailbox(out: list[Address], entry: list[_Token]) -> None:
    words = [t for t in entry if t[0] != "c"]
    if not words:
        return
    comment = next((t[1] for t in entry if t[0] == "c" and t[1]), None)
    adl = None
    kinds = [t[0] for t in words]
    if "<" in kinds:
        opening = kinds.index("<")
        name = _phrase(words[:opening]) or comment
        inner = words[opening + 1 :]
        closing = next((i for i, t in enumerate(inner) if t[0] == ">"), len(inner))
        inner = inner[:closing]
        if inner and inner[0][0] == "@":  # obs-route: <@a,@b:user@host>
            colon = next((i for i, t in enumerate(inner) if t[0] == ":"), -1)
            if colon > 0:
                adl = "".join(t[2] for t in inner[:colon])
                inner = inner[colon + 1 :]
    else:
        name = comment
        inner = words
    at = next((i for i in range(len(inner) - 1, -1, -1) if inner[i][0] == "@"), -1)
    if at < 0:
        mailbox, host = _join(inner), ""
    else:
        mailbox, host = _join(inner[:at]), _join(inner[at + 1 :])
    out.append(Address(name=name, adl=adl, mailbox=mailbox, host=host))


def _phrase(tokens: list[_Token]) -> str | None:
    """Join a display name: words unquoted, one space where white space was."""
    out: list[str] = []
    for kind, value, _, space in tokens:
        if kind == "c":
            continue
        if space and out:
            out.append(" ")
        out.append(value)
    return "".join(out).strip() or None


def _join(tokens: list[_Token]) -> str:
    """Join a local part or domain as written (quoted strings keep their quotes)."""
    out: list[str] = []
    previous = ""
    for kind, _, raw, space in tokens:
        if space and out and kind in "aqd" and previous in ("a", "q", "d"):
            out.append(" ")
        out.append(raw)
        previous = kind
    return "".join(out)


# -- sections ---------------------------------------------------------------------------------


def _locate(parsed: ParsedMessage, part: tuple[int, ...]) -> tuple[BodyStructure, _Node] | None:
    """Return the entity that part number ``part`` names (RFC 9051 section 6.4.5.1), the
    same way `imap_wire.part_at` walks the structure, with its offsets."""
    current: tuple[BodyStructure, _Node] = (parsed.body_structure, parsed._layout)
    container: tuple[BodyStructure, _Node] | None = current
    for n in part:
        if container is None:
            return None
        structure, node = container
        if isinstance(structure, MultiPart):
            if not 1 <= n <= len(structure.parts) or len(node[3]) != len(structure.parts):
                return None
            current = (structure.parts[n - 1], node[3][n - 1])
        elif n == 1:
            current = container
        else:
            return None
        container = _inner(*current)
    return current


def _inner(structure: BodyStructure, node: _Node) -> tuple[BodyStructure, _Node] | None:
    """Return what the next part number counts in: a multipart itself, or the message
    encapsulated in a message part."""
    if isinstance(structure, MultiPart):
        return structure, node
    if structure.body is not None and node[3]:
        return structure.body, node[3][0]
    return None


def _message_at(parsed: ParsedMessage, part: tuple[int, ...]) -> _Node | None:
    """Return the message whose HEADER and TEXT ``part`` names: the message itself, or one
    encapsulated in a message/rfc822 (or message/global) part."""
    if not part:
        return parsed._layout
    found = _locate(parsed, part)
    if found is None:
        return None
    structure, node = found
    if isinstance(structure, SinglePart) and structure.body is not None and node[3]:
        return node[3][0]
    return None


def partial_range(start: int, end: int, partial: tuple[int, int] | None) -> tuple[int, int]:
    """The octets of ``[start:end]`` that a partial ``<origin.count>`` selects (empty,
    ``start == end``, when ``origin`` is past the end)."""
    if partial is not None:
        origin, count = partial
        start = min(start + max(origin, 0), end)
        end = min(start + max(count, 0), end)
    return start, end


def section_range(parsed: ParsedMessage, size: int, section: Section) -> tuple[int, int] | None:
    """Octets ``[start:end]`` of ``BODY[section]`` in a message of ``size`` octets, for the
    sections that are one range of it: all but ``HEADER.FIELDS`` and ``HEADER.FIELDS.NOT``
    (see `read_section`). None when the message has no such section (NIL).

    Raises:
        ValueError: A ``HEADER.FIELDS`` or ``HEADER.FIELDS.NOT`` section.
    """
    text = section.text
    if text is None or text == _ST.MIME:
        if not section.part:
            if text is None:
                return 0, size
            return None
        found = _locate(parsed, section.part)
        if found is None:
            return None
        node = found[1]
        return (node[1], node[2]) if text is None else (node[0], node[1])
    if text not in (_ST.HEADER, _ST.TEXT):
        raise ValueError(f"BODY[{text}] is not one range of the message")
    message = _message_at(parsed, section.part)
    if message is None:
        return None
    return (message[0], message[1]) if text == _ST.HEADER else (message[1], message[2])


def identity_range(
    parsed: ParsedMessage, size: int, part: tuple[int, ...]
) -> tuple[int, int] | None:
    """Octets ``[start:end]`` of ``BINARY[part]`` when it needs no decoding (the whole
    message, a 7bit / 8bit / binary part, a multipart); None when it does (base64,
    quoted-printable) or the message has no such part.

    Raises:
        UnknownTransferEncoding: The part has an encoding the server cannot decode.
    """
    if not part:
        return 0, size
    found = _binary_part(parsed, part)
    if found is None or found[0] is not None:
        return None
    node = found[1]
    return node[1], node[2]


async def _read_range(body: Body, start: int, end: int, partial: tuple[int, int] | None) -> bytes:
    start, end = partial_range(start, end, partial)
    if start >= end:
        return b""
    return await body.read(start, end)


def _slice(data: bytes, partial: tuple[int, int] | None) -> bytes:
    if partial is None:
        return data
    origin = max(partial[0], 0)
    return data[origin : origin + max(partial[1], 0)]


async def read_section(
    parsed: ParsedMessage,
    body: Body,
    section: Section,
    partial: tuple[int, int] | None = None,
) -> bytes | None:
    """Return the contents of ``BODY[section]<origin.count>`` (RFC 9051 section 6.4.5).

    - ``BODY[]``: the whole message; ``HEADER`` / ``TEXT``: the header (with its blank
      line) / the body of the message, or of the message encapsulated in the message/rfc822
      (or message/global) part the part number names.
    - A part number alone: the body of that part, without its MIME header (for a
      message/rfc822 part, the whole encapsulated message). Part 1 of a message that is not
      multipart is its body. ``MIME``: the part's MIME header (for the part that is a
      message's body, that message's header).
    - ``HEADER.FIELDS`` / ``HEADER.FIELDS.NOT``: the header lines of the named / of the other
      fields (names case-insensitive, message order, folded lines kept), then the blank
      line that ends the header. That is the message's own (so with nothing left out the
      result equals ``HEADER``); CRLF if the header ends without one but a body follows;
      nothing for a message with no body and no blank line (RFC 9051 section 6.4.5.1).

    Only the octets needed are read from ``body`` (all of the header for the field
    selections).

    Args:
        parsed: The message's `parse_message` result.
        body: The message octets.
        section: The section.
        partial: ``(origin, count)``: return only those octets of the section (none if
            ``origin`` is past its end).

    Returns:
        The octets, or None if the message has no such section: a part number beyond its
        parts, or HEADER / TEXT / HEADER.FIELDS after a part that is not an encapsulated
        message (RFC 9051 allows these only there). The server sends NIL for None; some
        servers (Dovecot) send an empty string instead.
    """
    text = section.text
    if text not in _FIELD_TEXTS:
        span = section_range(parsed, body.size, section)
        return None if span is None else await _read_range(body, *span, partial)
    message = _message_at(parsed, section.part)
    if message is None:
        return None
    header = await body.read(message[0], message[1]) if message[1] > message[0] else b""
    negate = text == _ST.HEADER_FIELDS_NOT
    fields_end = _fields_end(header)
    if negate:
        names = {name.encode(_UTF8, _ESCAPE).lower() for name in section.fields}
        chunks = [c for n, c in _header_fields(header, fields_end) if n not in names]
    else:
        # The common case (a client listing messages asks for a few fields of each): one
        # regex pass picks out the named fields at C speed.
        pattern = _fields_pattern(section.fields)
        chunks = [m.group() for m in pattern.finditer(header, 0, fields_end)]
    out = [chunk if chunk[-1:] == b"\n" else chunk + b"\r\n" for chunk in chunks]
    # The message's own blank line; RFC 9051 section 6.4.5.1 leaves it out only for a
    # message with no body and no blank line.
    blank = header[fields_end:]
    out.append(blank if blank or message[2] == message[1] else b"\r\n")
    return _slice(b"".join(out), partial)


#: The sections that select header fields: every other one is one range of the message.
_FIELD_TEXTS = frozenset({_ST.HEADER_FIELDS, _ST.HEADER_FIELDS_NOT})
_FIELD_START = re.compile(rb"\n(?![ \t])")


@functools.lru_cache(maxsize=256)
def _fields_pattern(names: tuple[str, ...]) -> re.Pattern[bytes]:
    """A pattern matching each whole field (its first line and continuation lines, as
    `_header_fields` splits them) whose name is one of ``names``, case-insensitively."""
    # A field name ends at the first colon, so a name holding one can match nothing.
    encoded = [n.encode(_UTF8, _ESCAPE) for n in names]
    alternatives = b"|".join(re.escape(n) for n in encoded if b":" not in n) or b"(?!)"
    return re.compile(
        rb"^(?:" + alternatives + rb")[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*\n?",
        re.IGNORECASE | re.MULTILINE,
    )


def _fields_end(header: bytes) -> int:
    """Return where the field lines of ``header`` end (where its blank line starts)."""
    match = _HEADER_BLOCK.match(header)
    return 0 if match is None else match.end()


def _header_fields(header: bytes, end: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """Yield each field of a header as (lower-case name, its lines as sent).

    ``end`` is `_fields_end` of the header if the caller has it. A continuation line with
    no field before it yields an empty name.
    """
    if end is None:
        end = _fields_end(header)
    start = 0
    while start < end:
        found = _FIELD_START.search(header, start, end)
        stop = end if found is None else found.end()
        chunk = header[start:stop]
        colon = chunk.find(b":")
        if colon < 0 or chunk[:1] in (b" ", b"\t"):
            yield b"", chunk
        else:
            yield chunk[:colon].rstrip(b" \t").lower(), chunk
        start = stop


# -- BINARY -----------------------------------------------------------------------------------

_B64_KEEP = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_DELETE = bytes(b for b in range(256) if b not in _B64_KEEP)
_B64_TAIL_OCTETS = (0, 0, 1, 2)
_FIRST_CHUNK = 64 * 1024
_MAX_CHUNK = 4 * 1024 * 1024


class _Decoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class _Base64Decoder:
    """Lenient streaming base64 (RFC 4648 section 4).

    Octets outside the alphabet are ignored; ``=`` ends a group, so concatenated encodings
    decode one after another; a group cut short after 2 or 3 characters gives 1 or 2
    octets, and a lone last character is dropped.
    """

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        clean = data.translate(None, _B64_DELETE)
        if b"=" not in clean:
            buf = self._rest + clean
            cut = len(buf) & ~3
            self._rest = buf[cut:]
            return binascii.a2b_base64(buf[:cut]) if cut else b""
        pieces = clean.split(b"=")
        out = bytearray(_b64_final(self._rest + pieces[0]))
        for piece in pieces[1:-1]:
            out += _b64_final(piece)
        buf = pieces[-1]
        cut = len(buf) & ~3
        out += binascii.a2b_base64(buf[:cut])
        self._rest = buf[cut:]
        return bytes(out)

    def finish(self) -> bytes:
        rest, self._rest = self._rest, b""
        return _b64_final(rest)


def _b64_final(buf: bytes) -> bytes:
    """Decode alphabet characters up to the end of an encoding (a short last group too)."""
    cut = len(buf) & ~3
    out = binascii.a2b_base64(buf[:cut]) if cut else b""
    left = len(buf) - cut
    if left >= 2:
        out += binascii.a2b_base64(buf[cut:] + b"=" * (4 - left))
    return out


def _b64_size_of(length: int) -> int:
    return length // 4 * 3 + _B64_TAIL_OCTETS[length % 4]


class _QuotedPrintableDecoder:
    """Streaming quoted-printable (RFC 2045 section 6.7), as lenient as `binascii.a2b_qp`:
    a malformed ``=`` sequence is kept as it is."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        buf = self._rest + data
        # Hold back a "=" that may start an escape or soft line break cut by the chunk.
        cut = buf.rfind(b"=", max(0, len(buf) - 2))
        if cut < 0:
            cut = len(buf)
        self._rest = buf[cut:]
        return binascii.a2b_qp(buf[:cut])

    def finish(self) -> bytes:
        rest, self._rest = self._rest, b""
        return binascii.a2b_qp(rest)


def _decoder(encoding: str) -> _Decoder | None:
    """Return a decoder for ``encoding``, None for the identity encodings.

    Raises:
        UnknownTransferEncoding: Not an encoding of RFC 2045.
    """
    key = encoding.upper()
    if key in _IDENTITY:
        return None
    if key == "BASE64":
        return _Base64Decoder()
    if key == "QUOTED-PRINTABLE":
        return _QuotedPrintableDecoder()
    raise UnknownTransferEncoding(encoding)


def _binary_part(
    parsed: ParsedMessage, part: tuple[int, ...]
) -> tuple[_Decoder | None, _Node] | None:
    found = _locate(parsed, part)
    if found is None:
        return None
    structure, node = found
    encoding = structure.encoding if isinstance(structure, SinglePart) else "7BIT"
    return _decoder(encoding), node


async def _decode(body: Body, start: int, end: int, decoder: _Decoder, want: int | None) -> bytes:
    """Decode ``start:end``; with ``want``, stop reading once that many octets are out."""
    if want is None:
        return decoder.feed(await body.read(start, end)) + decoder.finish() if start < end else b""
    out = bytearray()
    step = _FIRST_CHUNK
    position = start
    while position < end and len(out) < want:
        chunk = await body.read(position, min(end, position + step))
        if not chunk:
            break
        out += decoder.feed(chunk)
        position += len(chunk)
        step = min(step * 2, _MAX_CHUNK)
    if len(out) < want:
        out += decoder.finish()
    return bytes(out)


async def read_binary(
    parsed: ParsedMessage,
    body: Body,
    part: tuple[int, ...],
    partial: tuple[int, int] | None = None,
) -> bytes | None:
    """Return the contents of ``BINARY[part]<origin.count>`` (RFC 3516, RFC 9051 6.4.5).

    The part's body with its Content-Transfer-Encoding removed: base64 and quoted-printable
    are decoded, 7bit, 8bit and binary are returned as they are, and so is a multipart.
    ``part`` empty is the whole message, not decoded. With ``partial``, only as much of an
    encoded part is read and decoded as the range needs.

    Malformed encodings are decoded leniently, never refused. Base64: octets outside the
    alphabet are ignored; ``=`` ends an encoding, so concatenated encodings decode one after
    another; a last group of 2 or 3 characters gives 1 or 2 octets, a lone last character
    is dropped. Quoted-printable: an ``=`` not followed by two hex digits or a line break is
    kept as it is.

    Returns:
        The octets, or None if the message has no such part.

    Raises:
        UnknownTransferEncoding: The part has another encoding (``NO [UNKNOWN-CTE]``).
    """
    if not part:
        return await _read_range(body, 0, body.size, partial)
    found = _binary_part(parsed, part)
    if found is None:
        return None
    decoder, node = found
    if decoder is None:
        return await _read_range(body, node[1], node[2], partial)
    want = None if partial is None else max(partial[0], 0) + max(partial[1], 0)
    return _slice(await _decode(body, node[1], node[2], decoder, want), partial)


async def binary_size(parsed: ParsedMessage, body: Body, part: tuple[int, ...]) -> int | None:
    """Return ``BINARY.SIZE[part]``: the size of `read_binary`'s result for the whole part.

    Counted without reading an identity-encoded part; a base64 part is read (in chunks) but
    only counted, a quoted-printable one decoded.

    Returns:
        The size in octets, or None if the message has no such part.

    Raises:
        UnknownTransferEncoding: The part has an encoding BINARY cannot remove.
    """
    if not part:
        return body.size
    found = _binary_part(parsed, part)
    if found is None:
        return None
    decoder, node = found
    start, end = node[1], node[2]
    if decoder is None:
        return max(0, min(end, body.size) - start)
    size = 0
    step = _FIRST_CHUNK
    position = start
    if isinstance(decoder, _Base64Decoder):
        run = 0  # alphabet characters since the last "="
        while position < end:
            chunk = await body.read(position, min(end, position + step))
            if not chunk:
                break
            position += len(chunk)
            step = min(step * 2, _MAX_CHUNK)
            pieces = chunk.translate(None, _B64_DELETE).split(b"=")
            run += len(pieces[0])
            for piece in pieces[1:]:
                size += _b64_size_of(run)
                run = len(piece)
        return size + _b64_size_of(run)
    while position < end:
        chunk = await body.read(position, min(end, position + step))
        if not chunk:
            break
        position += len(chunk)
        step = min(step * 2, _MAX_CHUNK)
        size += len(decoder.feed(chunk))
    return size + len(decoder.finish())


# -- SEARCH -----------------------------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")


#: Longest charset name looked up (and cached); longer ones are no charset.
_MAX_CHARSET_NAME = 64


@functools.lru_cache(maxsize=256)
def _codec(charset: str) -> str:
    """Return the Python codec that decodes text labelled ``charset``.

    The name goes through the stdlib ``email.charset`` aliases and codec map (``latin_1``
    is ISO-8859-1, ``gb2312`` decodes with ``eucgb2312_cn`` ...), then the ``codecs``
    registry and its aliases. US-ASCII (often mislabelled 8-bit text), unknown names and
    codecs that are no text encodings (``base64``) give UTF-8.
    """
    try:
        codec = email.charset.Charset(charset.strip()).input_codec
        if codec is None:  # us-ascii
            return _UTF8
        b"".decode(codec)  # LookupError: unknown, or not a text encoding
    except (LookupError, UnicodeError, ValueError, email.errors.CharsetError):
        return _UTF8
    return codec


def _decode_charset(data: bytes, charset: str) -> str:
    """Decode text in ``charset`` (see `_codec`); undecodable octets become U+FFFD."""
    codec = _codec(charset) if len(charset) <= _MAX_CHARSET_NAME else _UTF8
    try:
        return data.decode(codec, "replace")
    except (LookupError, ValueError, TypeError):
        return data.decode(_UTF8, "replace")


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words (RFC 2047 sections 4 and 6.2), line by line.

    The stdlib does it: ``email.header.decode_header`` finds and decodes the words (white
    space between adjacent words dropped, adjacent words in one charset joined, so that a
    character may be split across them) and ``email.header.make_header`` turns them into
    text. Charset names are read as `_codec` reads them (an RFC 2231 language suffix,
    ``utf-8*en``, is dropped). Where the stdlib raises (a word whose octets its charset
    cannot decode) or cannot be used (text that is not ASCII: ``decode_header`` would
    escape it), `_decode_words_leniently` decodes instead.
    """
    if "=?" not in text:
        return text
    if "\n" not in text:
        return _decode_line(text)
    # decode_header would join the lines: each line holding "=?" (with the lines folded
    # into it) is decoded alone, and the others are left as they are.
    out: list[str] = []
    position = 0
    found = text.find("=?")
    while found >= 0:
        start = max(text.rfind("\n", position, found) + 1, position)
        while start > position and text[start] in " \t":  # a continuation line
            start = max(text.rfind("\n", position, start - 1) + 1, position)
        end = text.find("\n", found)
        while end >= 0 and text[end + 1 : end + 2] in (" ", "\t"):
            end = text.find("\n", end + 1)
        if end < 0:
            end = len(text)
        elif text[end - 1] == "\r":
            end -= 1
        out.append(text[position:start])
        out.append(_decode_line(text[start:end]))
        position = end
        found = text.find("=?", position)
    out.append(text[position:])
    return "".join(out)


def _decode_line(text: str) -> str:
    """`_decode_words` for one line (folded or not)."""
    if text.isascii():
        try:
            chunks = [
                (chunk, None if charset is None else _word_codec(charset))
                for chunk, charset in email.header.decode_header(text)
            ]
            return str(email.header.make_header(chunks))
        except (email.errors.HeaderParseError, LookupError, UnicodeError, ValueError):
            pass
    return _decode_words_leniently(text)


def _word_codec(charset: str) -> str:
    """The codec of an encoded word's charset (RFC 2231 section 5: ``charset*language``)."""
    name = charset.partition("*")[0]
    if not name:  # no charset, no encoded word (RFC 2047 section 2): left as it is
        raise LookupError("an encoded word without a charset")
    return _codec(name) if len(name) <= _MAX_CHARSET_NAME else _UTF8


def _decode_words_leniently(text: str) -> str:
    """Decode RFC 2047 encoded words where the stdlib fails (see `_decode_words`).

    As ``decode_header`` does, white space between adjacent encoded words is dropped, and
    adjacent words in one charset are decoded together; but undecodable octets become
    U+FFFD, malformed base64 decodes as `read_binary` decodes it, and text around the
    words is kept as it is.
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    position = 0
    for m in _ENCODED_WORD.finditer(text):
        gap = text[position : m.start()]
        if not pending_charset or gap.strip(" \t\r\n"):
            if pending_charset:
                out.append(_decode_charset(bytes(pending), pending_charset))
                pending.clear()
                pending_charset = ""
            out.append(gap)
        charset = m.group(1).partition("*")[0] or "utf-8"
        payload = m.group(3).encode(_UTF8, _ESCAPE)
        if m.group(2) in "bB":
            decoder = _Base64Decoder()
            raw = decoder.feed(payload) + decoder.finish()
        else:
            raw = binascii.a2b_qp(payload, header=True)
        if pending_charset and charset.lower() != pending_charset.lower():
            out.append(_decode_charset(bytes(pending), pending_charset))
            pending.clear()
        pending_charset = charset
        pending += raw
        position = m.end()
    if pending_charset:
        out.append(_decode_charset(bytes(pending), pending_charset))
    out.append(text[position:])
    return "".join(out)


def _header_text(raw: bytes) -> str:
    """Decode raw header octets: UTF-8 (RFC 6532), else Windows-1252, the usual 8-bit."""
    try:
        return raw.decode(_UTF8)
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _field_value(value: bytes) -> str:
    """Return a field value unfolded, trimmed and decoded (encoded words too)."""
    if b"\n" in value:
        value = _UNFOLD.sub(b"", value)
    return _decode_words(_header_text(value.strip(b" \t\r\n")))


async def header_values(parsed: ParsedMessage, body: Body, name: str) -> list[str]:
    """Return the values of the message's header fields named ``name``, for SEARCH.

    Values are unfolded, trimmed, and decoded: UTF-8 (RFC 6532) or, failing that,
    Windows-1252 octets, and RFC 2047 encoded words anywhere in the value (by the stdlib's
    ``email.header``, as ``str(make_header(decode_header(value)))`` reads them).

    Args:
        parsed: The message's `parse_message` result.
        body: The message octets.
        name: The field name, case-insensitive (``"Subject"``, ``"X-Mailer"``).

    Returns:
        The values in message order; empty if the field is absent.
    """
    start, end = parsed._layout[0], parsed._layout[1]
    header = await body.read(start, end) if end > start else b""
    # Only the named fields are matched, at C speed (a continuation line starts with white
    # space, so "^name:" is always a field's first line).
    pattern = re.compile(
        rb"^" + re.escape(name.encode(_UTF8, _ESCAPE)) + _FIELD_TAIL, re.IGNORECASE | re.MULTILINE
    )
    return [_field_value(m.group(1)) for m in pattern.finditer(header, 0, _fields_end(header))]


async def search_text(
    parsed: ParsedMessage,
    body: Body,
    *,
    include_headers: bool,
    limit: int = SEARCH_TEXT_LIMIT,
) -> str:
    """Return the text SEARCH BODY (``include_headers`` False) or TEXT (True) looks in.

    The bodies of ``text/*`` parts with their transfer encoding and charset decoded, and the
    headers of encapsulated messages (part of the body); with ``include_headers``, also the
    message header and every MIME header (RFC 9051 section 6.4.4: TEXT covers the header
    "including MIME header fields"), decoded as in `header_values`. Other parts are skipped.
    Pieces are separated by newlines.

    Args:
        parsed: The message's `parse_message` result.
        body: The message octets.
        include_headers: Whether to include the message and MIME headers.
        limit: Octets read at most (headers and parts in message order); what lies beyond
            is not searched. The default, `SEARCH_TEXT_LIMIT`, is 4 MiB.

    Returns:
        The text.
    """
    out: list[str] = []
    budget = [limit]

    async def read(start: int, end: int) -> bytes:
        end = min(end, start + budget[0])
        if end <= start:
            return b""
        budget[0] -= end - start
        return await body.read(start, end)

    async def header(node: _Node) -> None:
        raw = await read(node[0], node[1])
        if b"\n" in raw:
            raw = _UNFOLD.sub(b"", raw)
        try:
            text = raw.decode(_UTF8)
        except UnicodeDecodeError:
            text = "\n".join(_header_text(line) for line in raw.split(b"\n"))
        out.append(_decode_words(text))

    async def walk(structure: BodyStructure, node: _Node, mime_header: bool) -> None:
        if budget[0] <= 0:
            return
        if mime_header and include_headers:
            await header(node)
        if isinstance(structure, MultiPart):
            for part, child in zip(structure.parts, node[3], strict=False):
                await walk(part, child, True)
        elif structure.body is not None and node[3]:
            inner = node[3][0]
            await header(inner)
            await walk(structure.body, inner, False)
        elif structure.type.upper() == "TEXT":
            raw = await read(node[1], node[2])
            try:
                decoder = _decoder(structure.encoding)
            except UnknownTransferEncoding:
                decoder = None
            if decoder is not None:
                raw = decoder.feed(raw) + decoder.finish()
            out.append(_decode_charset(raw, structure.param("charset") or ""))

    if include_headers:
        await header(parsed._layout)
    await walk(parsed.body_structure, parsed._layout, False)
    return "\n".join(out)


# -- BODY and serialization ---------------------------------------------------------------------


def _basic(structure: BodyStructure) -> BodyStructure:
    """Return ``structure`` without extension data (the ``BODY`` form)."""
    if isinstance(structure, MultiPart):
        return MultiPart(parts=tuple(_basic(p) for p in structure.parts), subtype=structure.subtype)
    return SinglePart(
        type=structure.type, subtype=structure.subtype, params=structure.params,
        id=structure.id, description=structure.description, encoding=structure.encoding,
        size=structure.size, lines=structure.lines, envelope=structure.envelope,
        body=None if structure.body is None else _basic(structure.body),
    )  # fmt: skip


_FORMAT = 1


def _enc_params(params: tuple[tuple[str, str], ...]) -> list[str]:
    return [item for pair in params for item in pair]


def _enc_disposition(disposition: Disposition | None) -> list[Any] | None:
    if disposition is None:
        return None
    return [disposition.type, _enc_params(disposition.params)]


def _enc_addresses(addresses: tuple[Address, ...]) -> list[list[str | None]]:
    return [[a.name, a.adl, a.mailbox, a.host] for a in addresses]


def _enc_envelope(e: Envelope) -> list[Any]:
    from_ = _enc_addresses(e.from_)
    # Sender and Reply-To usually repeat From: 0 says so in a few octets.
    return [
        e.date, e.subject, from_,
        0 if e.sender == e.from_ else _enc_addresses(e.sender),
        0 if e.reply_to == e.from_ else _enc_addresses(e.reply_to),
        _enc_addresses(e.to), _enc_addresses(e.cc), _enc_addresses(e.bcc),
        e.in_reply_to, e.message_id,
    ]  # fmt: skip


def _enc_node(structure: BodyStructure, node: _Node) -> list[Any]:
    hs, bs, be, children = node
    if isinstance(structure, MultiPart):
        return [
            1, hs, bs, be,
            [_enc_node(p, c) for p, c in zip(structure.parts, children, strict=True)],
            structure.subtype, _enc_params(structure.params),
            _enc_disposition(structure.disposition),
            None if structure.language is None else list(structure.language),
            structure.location, list(structure.extensions), structure.extended,
        ]  # fmt: skip
    return [
        0, hs, bs, be, structure.type, structure.subtype, _enc_params(structure.params),
        structure.id, structure.description, structure.encoding, structure.size, structure.lines,
        None if structure.envelope is None else _enc_envelope(structure.envelope),
        None if structure.body is None else _enc_node(structure.body, children[0]),
        structure.md5, _enc_disposition(structure.disposition),
        None if structure.language is None else list(structure.language),
        structure.location, list(structure.extensions), structure.extended,
    ]  # fmt: skip


def _str(v: object) -> str:
    if type(v) is not str:
        raise ValueError(f"expected a string, got {type(v).__name__}")
    return v


def _nstr(v: object) -> str | None:
    return None if v is None else _str(v)


def _int(v: object) -> int:
    if type(v) is not int or v < 0:
        raise ValueError("expected a non-negative integer")
    return v


def _list(v: object) -> list[Any]:
    if type(v) is not list:
        raise ValueError(f"expected a list, got {type(v).__name__}")
    return v


def _dec_params(v: object) -> tuple[tuple[str, str], ...]:
    items = _list(v)
    if len(items) % 2:
        raise ValueError("odd parameter list")
    return tuple((_str(items[i]), _str(items[i + 1])) for i in range(0, len(items), 2))


def _dec_disposition(v: object) -> Disposition | None:
    if v is None:
        return None
    items = _list(v)
    if len(items) != 2:
        raise ValueError("bad disposition")
    return Disposition(type=_str(items[0]), params=_dec_params(items[1]))


def _dec_language(v: object) -> tuple[str, ...] | None:
    return None if v is None else tuple(_str(x) for x in _list(v))


def _dec_extension(v: object) -> Any:
    if v is None or type(v) is str or type(v) is int:
        return v
    return tuple(_dec_extension(x) for x in _list(v))


def _dec_bool(v: object) -> bool:
    if type(v) is not bool:
        raise ValueError("expected a boolean")
    return v


def _dec_addresses(v: object) -> tuple[Address, ...]:
    out = []
    for item in _list(v):
        a = _list(item)
        if len(a) != 4:
            raise ValueError("bad address")
        out.append(
            Address(name=_nstr(a[0]), adl=_nstr(a[1]), mailbox=_nstr(a[2]), host=_nstr(a[3]))
        )
    return tuple(out)


def _dec_envelope(v: object) -> Envelope:
    e = _list(v)
    if len(e) != 10:
        raise ValueError("bad envelope")
    from_ = _dec_addresses(e[2])
    return Envelope(
        date=_nstr(e[0]),
        subject=_nstr(e[1]),
        from_=from_,
        sender=from_ if e[3] == 0 and type(e[3]) is int else _dec_addresses(e[3]),
        reply_to=from_ if e[4] == 0 and type(e[4]) is int else _dec_addresses(e[4]),
        to=_dec_addresses(e[5]),
        cc=_dec_addresses(e[6]),
        bcc=_dec_addresses(e[7]),
        in_reply_to=_nstr(e[8]),
        message_id=_nstr(e[9]),
    )


def _dec_node(v: object) -> tuple[BodyStructure, _Node]:
    n = _list(v)
    kind = n[0]
    hs, bs, be = _int(n[1]), _int(n[2]), _int(n[3])
    if not hs <= bs <= be:
        raise ValueError("bad offsets")
    if kind == 1 and type(kind) is int:
        if len(n) != 12:
            raise ValueError("bad multipart")
        decoded = [_dec_node(p) for p in _list(n[4])]
        multi = MultiPart(
            parts=tuple(p for p, _ in decoded), subtype=_str(n[5]), params=_dec_params(n[6]),
            disposition=_dec_disposition(n[7]), language=_dec_language(n[8]),
            location=_nstr(n[9]), extensions=tuple(_dec_extension(x) for x in _list(n[10])),
            extended=_dec_bool(n[11]),
        )  # fmt: skip
        return multi, (hs, bs, be, tuple(c for _, c in decoded))
    if kind != 0 or type(kind) is not int or len(n) != 20:
        raise ValueError("bad body part")
    lines = None if n[11] is None else _int(n[11])
    envelope = None if n[12] is None else _dec_envelope(n[12])
    inner = None if n[13] is None else _dec_node(n[13])
    single = SinglePart(
        type=_str(n[4]), subtype=_str(n[5]), params=_dec_params(n[6]), id=_nstr(n[7]),
        description=_nstr(n[8]), encoding=_str(n[9]), size=_int(n[10]), lines=lines,
        envelope=envelope, body=None if inner is None else inner[0], md5=_nstr(n[14]),
        disposition=_dec_disposition(n[15]), language=_dec_language(n[16]),
        location=_nstr(n[17]), extensions=tuple(_dec_extension(x) for x in _list(n[18])),
        extended=_dec_bool(n[19]),
    )  # fmt: skip
    return single, (hs, bs, be, () if inner is None else (inner[1],))
