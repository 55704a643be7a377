"""FETCH: the data items a client asks for, and the ``* n FETCH (...)`` response.

Command side (RFC 9051 section 6.4.5; ABNF ``fetch-att``, ``section``, ``section-binary``,
``partial``): `FetchItem` for plain items (``FLAGS``, ``ENVELOPE`` ...), `FetchBody` for
``BODY[...]`` / ``BODY.PEEK[...]``, `FetchBinary` and `FetchBinarySize` (RFC 3516, folded into
IMAP4rev2), and the `FetchMacro` shorthands. Attributes are parsed through
``registry.fetch_attributes``, keyed by the name before ``[``, so an extension adds an item
(``MODSEQ``, ``EMAILID`` ...) by registering a parser.

Response side (RFC 9051 section 7.5.2; ABNF ``msg-att``): `FetchResponse` with a typed field
per base item, body sections keyed by `BodySectionKey` / `BinarySectionKey`, and ``extra``
for extension items. Items are parsed through ``registry.fetch_items``. `parse_fetch_response`
is the client's hot path (a mailbox sync parses thousands of these), so it dispatches with
plain dict look-ups and builds the response in one constructor call.

Client side (``ctx.strict`` False) a response parses whatever real servers put in it:

- an item nobody parses, or one whose value is malformed, lands in ``FetchResponse.extra``
  as its raw value (Gmail's ``X-GM-LABELS``, a body structure beyond repair) instead of
  failing the whole response;
- items in lower case, ``* 0 FETCH`` (Courier), an empty list ``()``, extra spaces;
- items wrapped in their own parentheses, ``(UID 5 (ENVELOPE (...)) FLAGS ())`` (Lotus
  Domino): the wrapped items are read as if unwrapped;
- ``INTERNALDATE`` with spaces around it, an unpadded hour or a zone without its sign
  (``"19-Feb-2007 17:08:08 0400"``, read as ``+0400``), or ``NIL`` (read as absent);
- a partial section echoed with its length, ``BODY[TEXT]<0.28>`` (WildDuck): the origin
  (here 0) is the key, as if the server had sent ``BODY[TEXT]<0>``.
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ._bodystructure import BodyStructure, parse_body_structure
from ._dates import format_date_time, parse_date_time
from ._encoding import (
    UINT32,
    UINT63,
    LiteralSource,
    WireWriter,
    in_range,
    sectioned_atom_pattern,
)
from ._envelope import Envelope, parse_envelope
from ._flags import Flag, parse_flag_list
from ._limits import Limits
from ._registry import ParseContext, Registry
from ._values import Cursor, Literal8, StreamedLiteral, Value, describe, tokenize
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "BinarySectionKey",
    "BodySectionKey",
    "FetchAttribute",
    "FetchBinary",
    "FetchBinarySize",
    "FetchBody",
    "FetchItem",
    "FetchItemName",
    "FetchMacro",
    "FetchResponse",
    "Section",
    "SectionData",
    "SectionText",
    "install",
    "parse_fetch_attributes",
    "parse_fetch_response",
    "parse_plain_attribute",
    "write_fetch_attributes",
]

_LIMITS = Limits(max_depth=4, max_items=10_000)

#: What a body section holds in a response: the octets, a placeholder for a literal that was
#: streamed to the application in chunks, or None for ``NIL``. A server writing a response
#: may also put a `LiteralSource` there: the encoder announces it and the server streams
#: its octets (parsing never produces one).
SectionData = bytes | StreamedLiteral | LiteralSource | None


# -- sections -------------------------------------------------------------------------------


class SectionText(enum.StrEnum):
    """The non-numeric part of a section specification (RFC 9051 section 6.4.5.1)."""

    HEADER = "HEADER"
    HEADER_FIELDS = "HEADER.FIELDS"
    HEADER_FIELDS_NOT = "HEADER.FIELDS.NOT"
    TEXT = "TEXT"
    #: The MIME header of a body part: only after a part number.
    MIME = "MIME"


_SECTION_TEXTS = {t.value: t for t in SectionText}
_WITH_FIELDS = (SectionText.HEADER_FIELDS, SectionText.HEADER_FIELDS_NOT)
# section-part = nz-number *("." nz-number); ten digits at most keeps int() cheap.
_PART = re.compile(r"[1-9][0-9]{0,9}(?:\.[1-9][0-9]{0,9})*")
_PART_FULL = re.compile(r"(?:[1-9][0-9]{0,9}(?:\.[1-9][0-9]{0,9})*)?\Z")
# An RFC 5322 field-name (printable ASCII but ":"), without "[" and "]": the tokenizer keeps a
# section in its atom only up to the first "]" and only if it holds no "[".
_FIELD_NAME = re.compile(r"[!-9;-Z\\^-~]+\Z")
# Field-name characters that are atom-specials: such names are sent quoted.
_FIELD_QUOTE = frozenset('(){%*"\\')
_FIELD_ESCAPE = re.compile(r'(["\\])')


def _section_error(part: tuple[int, ...], text: SectionText | None, fields: tuple[str, ...]) -> str:
    for n in part:
        if not 1 <= n <= UINT32:
            return "section part numbers must be between 1 and 2**32 - 1"
    if text == SectionText.MIME and not part:
        return "a MIME section needs a part number"
    if text in _WITH_FIELDS:
        if not fields:
            return f"{text} needs at least one header field name"
        for name in fields:
            if not _FIELD_NAME.match(name):
                return "invalid header field name in section"
    elif fields:
        return "header field names need HEADER.FIELDS or HEADER.FIELDS.NOT"
    return ""


def _field_text(name: str) -> str:
    if _FIELD_QUOTE.isdisjoint(name):
        return name
    return '"' + _FIELD_ESCAPE.sub(r"\\\1", name) + '"'


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """A body section specification (RFC 9051 section 6.4.5.1, ABNF ``section-spec``).

    ``Section()`` is the whole message (``BODY[]``); ``Section(part=(1, 2))`` is part 1.2;
    ``Section(text=SectionText.HEADER_FIELDS, fields=("Date", "From"))`` is
    ``HEADER.FIELDS (Date From)``.

    Attributes:
        part: Part numbers, outermost first; empty for the message itself.
        text: HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, or MIME (MIME only after a part).
        fields: Header field names, for HEADER.FIELDS and HEADER.FIELDS.NOT only (case kept:
            servers echo what the client asked for; matching is case-insensitive).

    Raises:
        LocalProtocolError: The combination cannot be written (MIME without a part, fields
            without HEADER.FIELDS, an invalid field name, a part number out of range).
    """

    part: tuple[int, ...] = ()
    text: SectionText | None = None
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.part or self.text is not None or self.fields:
            error = _section_error(self.part, self.text, self.fields)
            if error:
                raise LocalProtocolError(error)

    @classmethod
    def parse(cls, text: str) -> Section:
        """Parse a section specification, with or without its brackets.

        Args:
            text: ``"1.2.MIME"``, ``"HEADER.FIELDS (DATE FROM)"``, ``"[TEXT]"``, ``""`` ...
                Keywords are case-insensitive; field names keep their case.

        Raises:
            RemoteProtocolError: The text is not a section specification.
        """
        if text[:1] == "[" and text[-1:] == "]":
            text = text[1:-1]
        if not text:
            return _WHOLE
        part: tuple[int, ...] = ()
        kind: SectionText | None = None
        fields: tuple[str, ...] = ()
        m = _PART.match(text)
        if m is not None:
            end = m.end()
            part = tuple(map(int, m.group().split(".")))
            if end < len(text) and (text[end] != "." or end + 1 == len(text)):
                raise RemoteProtocolError("invalid section part number")
            text = text[end + 1 :]
        if text:
            keyword, sp, rest = text.partition(" ")
            kind = _SECTION_TEXTS.get(keyword.upper())
            if kind is None:
                raise RemoteProtocolError("invalid section specification")
            if kind in _WITH_FIELDS:
                fields = _parse_header_list(rest) if sp else ()
            elif sp:
                raise RemoteProtocolError(f"unexpected text after section {kind}")
        error = _section_error(part, kind, fields)
        if error:
            raise RemoteProtocolError(error)
        return cls(part=part, text=kind, fields=fields)

    def __str__(self) -> str:
        """Return the section specification without brackets (``1.2.HEADER``)."""
        spec = ".".join(map(str, self.part))
        if self.text is not None:
            spec = f"{spec}.{self.text}" if spec else str(self.text)
            if self.fields:
                spec += " (" + " ".join(map(_field_text, self.fields)) + ")"
        return spec

    def write(self, w: WireWriter) -> None:
        """Write the ``section``: the specification in brackets (``[1.2.HEADER]``)."""
        w.raw(b"[" + str(self).encode("ascii") + b"]")


_WHOLE = Section()


def _parse_header_list(text: str) -> tuple[str, ...]:
    """Parse ``header-list``: ``"(" header-fld-name *(SP header-fld-name) ")"``."""
    values = tokenize([text.encode("utf-8", "surrogateescape")], [], _LIMITS)
    if len(values) != 1 or type(values[0]) is not list or not values[0]:
        raise RemoteProtocolError("expected a parenthesised list of header field names")
    names: list[str] = []
    for v in values[0]:
        if type(v) is str:
            names.append(v)
        elif isinstance(v, bytes):
            names.append(v.decode("utf-8", "surrogateescape"))
        else:
            raise RemoteProtocolError(f"expected header field name, got {describe(v)}")
    return tuple(names)


def _parse_part(text: str) -> tuple[int, ...]:
    """Parse a ``section-binary``'s contents: empty, or ``section-part``."""
    if not _PART_FULL.match(text):
        raise RemoteProtocolError("invalid BINARY section part")
    part = tuple(map(int, text.split("."))) if text else ()
    for n in part:
        if n > UINT32:
            raise RemoteProtocolError("section part number out of range")
    return part


def _item_key(atom: str) -> tuple[str, str]:
    """Return the registry key of a FETCH item or attribute (upper-cased up to ``[``) and its
    name: the key followed by the section and partial range as sent."""
    bracket = atom.find("[")
    if bracket < 0:
        key = atom.upper()
        return key, key
    key = atom[:bracket].upper()
    return key, key + atom[bracket:]


def _split_section(name: str) -> tuple[str, str]:
    """Split ``NAME[spec]suffix`` into the spec and the suffix."""
    start = name.find("[")
    end = name.find("]", start)
    if start < 0 or end < 0:
        raise RemoteProtocolError("expected a section in brackets")
    return name[start + 1 : end], name[end + 1 :]


def _part_text(part: tuple[int, ...]) -> bytes:
    for n in part:
        if not 1 <= n <= UINT32:
            raise LocalProtocolError("section part numbers must be between 1 and 2**32 - 1")
    return ".".join(map(str, part)).encode("ascii")


# -- command side ---------------------------------------------------------------------------


class FetchAttribute(abc.ABC):
    """A data item named in a FETCH command (ABNF ``fetch-att``)."""

    __slots__ = ()

    @abc.abstractmethod
    def write(self, w: WireWriter) -> None:
        """Write the data item."""


class FetchItemName(enum.StrEnum):
    """Plain data items of the base grammar (RFC 9051 section 6.4.5; RFC822* from RFC 3501)."""

    ENVELOPE = "ENVELOPE"
    FLAGS = "FLAGS"
    INTERNALDATE = "INTERNALDATE"
    RFC822_SIZE = "RFC822.SIZE"
    RFC822 = "RFC822"
    RFC822_HEADER = "RFC822.HEADER"
    RFC822_TEXT = "RFC822.TEXT"
    BODY = "BODY"
    BODYSTRUCTURE = "BODYSTRUCTURE"
    UID = "UID"


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchItem(FetchAttribute):
    """A data item named by one atom: ``FLAGS``, ``UID``, ``BODY`` (see `FetchItemName`), or
    an extension's item such as ``MODSEQ``.

    Attributes:
        name: The item's name, upper-case.
    """

    name: str

    def write(self, w: WireWriter) -> None:
        """Write the name."""
        w.atom(self.name)


def _write_partial(w: WireWriter, partial: tuple[int, int] | None) -> None:
    if partial is not None:
        origin, count = partial
        if not (0 <= origin <= UINT63 and 1 <= count <= UINT63):
            raise LocalProtocolError("partial range out of bounds")
        w.raw(b"<%d.%d>" % (origin, count))


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchBody(FetchAttribute):
    """``BODY[<section>]<<partial>>`` or ``BODY.PEEK[...]`` (RFC 9051 section 6.4.5).

    Attributes:
        section: The section; ``Section()`` is the whole message.
        peek: True for ``BODY.PEEK``, which leaves ``\\Seen`` alone.
        partial: ``(origin, count)``: at most ``count`` octets from octet ``origin``.
    """

    section: Section = _WHOLE
    peek: bool = False
    partial: tuple[int, int] | None = None

    @property
    def response_key(self) -> BodySectionKey:
        """The key under which the response's `FetchResponse.sections` holds the data."""
        return BodySectionKey(
            section=self.section, origin=None if self.partial is None else self.partial[0]
        )

    def write(self, w: WireWriter) -> None:
        """Write ``BODY[...]`` or ``BODY.PEEK[...]`` with the partial range, if any."""
        w.raw(b"BODY.PEEK" if self.peek else b"BODY")
        self.section.write(w)
        _write_partial(w, self.partial)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchBinary(FetchAttribute):
    """``BINARY[<part>]<<partial>>`` or ``BINARY.PEEK[...]``: a part with its
    Content-Transfer-Encoding removed (RFC 9051 section 6.4.5, RFC 3516).

    Attributes:
        part: Part numbers; empty for the whole (single-part) message.
        peek: True for ``BINARY.PEEK``, which leaves ``\\Seen`` alone.
        partial: ``(origin, count)`` in the decoded data.
    """

    part: tuple[int, ...] = ()
    peek: bool = False
    partial: tuple[int, int] | None = None

    @property
    def response_key(self) -> BinarySectionKey:
        """The key under which the response's `FetchResponse.binary` holds the data."""
        return BinarySectionKey(
            part=self.part, origin=None if self.partial is None else self.partial[0]
        )

    def write(self, w: WireWriter) -> None:
        """Write ``BINARY[...]`` or ``BINARY.PEEK[...]`` with the partial range, if any."""
        w.raw((b"BINARY.PEEK[" if self.peek else b"BINARY[") + _part_text(self.part) + b"]")
        _write_partial(w, self.partial)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchBinarySize(FetchAttribute):
    """``BINARY.SIZE[<part>]``: the decoded size of a part (RFC 9051 section 6.4.5).

    Attributes:
        part: Part numbers; empty for the whole (single-part) message.
    """

    part: tuple[int, ...] = ()

    def write(self, w: WireWriter) -> None:
        """Write ``BINARY.SIZE[...]``."""
        w.raw(b"BINARY.SIZE[" + _part_text(self.part) + b"]")


class FetchMacro(enum.StrEnum):
    """The FETCH macros (RFC 9051 section 6.4.5); a macro stands alone, never in a list."""

    ALL = "ALL"
    FAST = "FAST"
    FULL = "FULL"

    def expand(self) -> tuple[FetchAttribute, ...]:
        """Return the data items the macro stands for."""
        return _MACRO_ITEMS[self]


_MACRO_ITEMS: dict[FetchMacro, tuple[FetchAttribute, ...]] = {
    FetchMacro.FAST: (
        FetchItem(name=FetchItemName.FLAGS),
        FetchItem(name=FetchItemName.INTERNALDATE),
        FetchItem(name=FetchItemName.RFC822_SIZE),
    ),
}
_MACRO_ITEMS[FetchMacro.ALL] = (
    *_MACRO_ITEMS[FetchMacro.FAST],
    FetchItem(name=FetchItemName.ENVELOPE),
)
_MACRO_ITEMS[FetchMacro.FULL] = (*_MACRO_ITEMS[FetchMacro.ALL], FetchItem(name=FetchItemName.BODY))
_MACROS = {m.value: m for m in FetchMacro}

# "<" number64 "." nz-number64 ">"; 19 digits at most keeps int() cheap and in range.
_PARTIAL = re.compile(r"<([0-9]{1,19})\.([0-9]{1,19})>\Z")
_ORIGIN = re.compile(r"<([0-9]{1,19})>\Z")


def _parse_partial(suffix: str) -> tuple[int, int] | None:
    if not suffix:
        return None
    m = _PARTIAL.match(suffix)
    if m is None:
        raise RemoteProtocolError("invalid partial range")
    origin, count = int(m.group(1)), int(m.group(2))
    if origin > UINT63 or not 1 <= count <= UINT63:
        raise RemoteProtocolError("partial range out of bounds")
    return origin, count


def parse_fetch_attributes(
    v: Value, ctx: ParseContext
) -> tuple[tuple[FetchAttribute, ...], FetchMacro | None]:
    """Parse the data items of a FETCH command: a macro, one item, or a list of items.

    Each item is parsed by ``ctx.registry.fetch_attributes[NAME]``, where ``NAME`` is the
    upper-cased atom up to ``[``. The parser gets the atom (that part upper-cased, the rest
    as sent) and a cursor placed after it, from which it may take arguments.

    Args:
        v: The value after the sequence set.
        ctx: Parse context.

    Returns:
        ``(items, None)``, or ``((), macro)`` for ALL, FAST or FULL.

    Raises:
        RemoteProtocolError: An unknown or malformed item, a macro inside a list, an empty
            list.
    """
    if type(v) is str:
        macro = _MACROS.get(v.upper())
        if macro is not None:
            return (), macro
        values: list[Value] = [v]
    elif type(v) is list:
        if not v:
            raise RemoteProtocolError("empty FETCH attribute list")
        values = v
    else:
        raise RemoteProtocolError(f"expected FETCH attributes, got {describe(v)}")
    parsers = ctx.registry.fetch_attributes
    cursor = Cursor(values)
    attrs: list[FetchAttribute] = []
    while not cursor.at_end():
        key, name = _item_key(cursor.atom("FETCH attribute"))
        parser = parsers.get(key)
        if parser is None:
            raise RemoteProtocolError(f"unknown FETCH attribute {key[:64]}")
        attrs.append(parser(name, cursor, ctx))
    return tuple(attrs), None


def write_fetch_attributes(
    w: WireWriter, attrs: Iterable[FetchAttribute], macro: FetchMacro | None = None
) -> None:
    """Write a FETCH command's data items: the macro, or the items in parentheses.

    Raises:
        LocalProtocolError: Both a macro and items, or neither.
    """
    items = tuple(attrs)
    if macro is not None:
        if items:
            raise LocalProtocolError("a FETCH macro cannot be combined with other items")
        w.raw(macro.value.encode("ascii"))
        return
    if not items:
        raise LocalProtocolError("FETCH needs at least one data item")
    w.open()
    for i, item in enumerate(items):
        if i:
            w.sp()
        item.write(w)
    w.close()


def parse_plain_attribute(name: str, cursor: Cursor, ctx: ParseContext) -> FetchAttribute:
    """Parse an item named by a bare atom into a `FetchItem`.

    Register it for an extension's plain item: ``registry.fetch_attributes["MODSEQ"] =
    parse_plain_attribute``.

    Raises:
        RemoteProtocolError: The atom carries a section or a partial range.
    """
    if "[" in name or "<" in name:
        raise RemoteProtocolError(f"FETCH attribute {name.partition('[')[0][:64]} takes no section")
    return FetchItem(name=name)


def _parse_body_attribute(name: str, cursor: Cursor, ctx: ParseContext) -> FetchAttribute:
    peek = name.startswith("BODY.PEEK")
    if not peek and "[" not in name:
        return parse_plain_attribute(name, cursor, ctx)
    spec, suffix = _split_section(name)
    return FetchBody(section=Section.parse(spec), peek=peek, partial=_parse_partial(suffix))


def _parse_binary_attribute(name: str, cursor: Cursor, ctx: ParseContext) -> FetchAttribute:
    spec, suffix = _split_section(name)
    key = name[: name.find("[")]
    part = _parse_part(spec)
    if key == "BINARY.SIZE":
        if suffix:
            raise RemoteProtocolError("BINARY.SIZE takes no partial range")
        return FetchBinarySize(part=part)
    return FetchBinary(part=part, peek=key == "BINARY.PEEK", partial=_parse_partial(suffix))


# -- response side --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BodySectionKey:
    """Names one ``BODY[<section>]<<origin>>`` item of a FETCH response.

    Attributes:
        section: The section, as the server echoed it.
        origin: The first octet's offset, when the client asked for a partial range.
    """

    section: Section = _WHOLE
    origin: int | None = None

    def __str__(self) -> str:
        origin = "" if self.origin is None else f"<{self.origin}>"
        return f"BODY[{self.section}]{origin}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BinarySectionKey:
    """Names one ``BINARY[<part>]<<origin>>`` item of a FETCH response.

    Attributes:
        part: Part numbers; empty for the whole message.
        origin: The first octet's offset in the decoded data, for a partial range.
    """

    part: tuple[int, ...] = ()
    origin: int | None = None

    def __str__(self) -> str:
        origin = "" if self.origin is None else f"<{self.origin}>"
        return f"BINARY[{'.'.join(map(str, self.part))}]{origin}"


# The item maps of most responses are empty: one shared read-only empty map saves four
# allocations per response on the client's hottest path.
_NO_ITEMS: Mapping[Any, Any] = MappingProxyType({})


def _no_items() -> Mapping[Any, Any]:
    return _NO_ITEMS


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResponse:
    """``* <seq> FETCH (...)``: data about one message (RFC 9051 section 7.5.2).

    Fields are None (or empty) for items the response does not carry.

    Attributes:
        seq: The message sequence number.
        uid: ``UID``.
        flags: ``FLAGS``, system flags in canonical case.
        internal_date: ``INTERNALDATE``, an aware datetime.
        size: ``RFC822.SIZE``.
        envelope: ``ENVELOPE``.
        body_structure: ``BODYSTRUCTURE`` (with extension data if the server sent it).
        body: ``BODY``, the non-extensible body structure.
        modseq: ``MODSEQ`` (RFC 7162 section 3.1.4).
        sections: ``BODY[<section>]<<origin>>`` items: the octets, a `StreamedLiteral`
            placeholder, or None for NIL. When writing, a `LiteralSource` instead: the
            encoding holds its announcement and a placeholder (`ServerConnection.send_parts`), and
            the writer streams its octets (which must hold no NUL).
        binary: ``BINARY[<part>]<<origin>>`` items, likewise (a literal8 arrives as
            `Literal8`, which compares equal to `bytes`; a `LiteralSource` is written as
            a literal8 when its ``binary`` is set).
        binary_sizes: ``BINARY.SIZE[<part>]`` items, by part.
        rfc822: ``RFC822`` (RFC 3501), None when absent or NIL (like ``sections``: a
            `LiteralSource` when writing a streamed one, as for the two below).
        rfc822_header: ``RFC822.HEADER`` (RFC 3501).
        rfc822_text: ``RFC822.TEXT`` (RFC 3501).
        extra: Other items by name (upper-case up to ``[``): the registered parser's result,
            or, client side, the raw `Value` of an item nobody parses (or that failed to
            parse). Written back by the value's own ``write(w)`` if it has one, else as a
            generic value.
    """

    seq: int
    uid: int | None = None
    flags: tuple[str, ...] | None = None
    internal_date: datetime | None = None
    size: int | None = None
    envelope: Envelope | None = None
    body_structure: BodyStructure | None = None
    body: BodyStructure | None = None
    modseq: int | None = None
    sections: Mapping[BodySectionKey, SectionData] = field(default_factory=_no_items)
    binary: Mapping[BinarySectionKey, SectionData] = field(default_factory=_no_items)
    binary_sizes: Mapping[tuple[int, ...], int] = field(default_factory=_no_items)
    rfc822: SectionData = None
    rfc822_header: SectionData = None
    rfc822_text: SectionData = None
    extra: Mapping[str, object] = field(default_factory=_no_items)

    # -- accessors --------------------------------------------------------------------------

    def section(self, section: Section = _WHOLE, *, origin: int | None = None) -> SectionData:
        """Return the data of ``BODY[<section>]<<origin>>``, or None if absent (or NIL).

        Header field names match case-insensitively, as servers may echo them in another
        case than asked.
        """
        key = BodySectionKey(section=section, origin=origin)
        if key in self.sections:
            return self.sections[key]
        if section.fields:
            wanted = tuple(f.upper() for f in section.fields)
            for key, value in self.sections.items():
                s = key.section
                if (
                    key.origin == origin
                    and s.part == section.part
                    and s.text == section.text
                    and tuple(f.upper() for f in s.fields) == wanted
                ):
                    return value
        return None

    @property
    def body_text(self) -> SectionData:
        """The whole message, ``BODY[]`` (None if absent)."""
        return self.sections.get(_WHOLE_KEY)

    @property
    def header(self) -> SectionData:
        """The message header, ``BODY[HEADER]`` (None if absent)."""
        return self.sections.get(_HEADER_KEY)

    def binary_section(
        self, part: tuple[int, ...] = (), *, origin: int | None = None
    ) -> SectionData:
        """Return the data of ``BINARY[<part>]<<origin>>``, or None if absent (or NIL)."""
        return self.binary.get(BinarySectionKey(part=part, origin=origin))

    # -- encoding ---------------------------------------------------------------------------

    def write(self, w: WireWriter) -> None:
        """Write the whole response line, ``* <seq> FETCH (...)`` and CRLF.

        Raises:
            LocalProtocolError: No item at all, a value that cannot be sent (a streamed
                literal, NUL octets in BODY data, a binary `LiteralSource` in BODY data, a
                number out of range).
        """
        if not 1 <= self.seq <= UINT32:
            raise LocalProtocolError(f"message sequence number out of range: {self.seq}")
        w.raw(b"* %d FETCH (" % self.seq)
        sep = False

        def item(name: bytes) -> None:
            nonlocal sep
            if sep:
                w.sp()
            sep = True
            w.raw(name)

        if self.uid is not None:
            item(b"UID ")
            w.number(in_range(self.uid, 1, UINT32, "UID"))
        if self.flags is not None:
            item(b"FLAGS (")
            for i, flag in enumerate(self.flags):
                if i:
                    w.sp()
                w.flag(flag)
            w.close()
        if self.modseq is not None:
            item(b"MODSEQ (")
            w.number(in_range(self.modseq, 0, UINT63, "MODSEQ"))
            w.close()
        if self.internal_date is not None:
            item(b'INTERNALDATE "')
            w.raw(format_date_time(self.internal_date).encode("ascii") + b'"')
        if self.size is not None:
            item(b"RFC822.SIZE ")
            w.number(in_range(self.size, 0, UINT63, "RFC822.SIZE"))
        if self.envelope is not None:
            item(b"ENVELOPE ")
            self.envelope.write(w)
        if self.body_structure is not None:
            item(b"BODYSTRUCTURE ")
            self.body_structure.write(w)
        if self.body is not None:
            item(b"BODY ")
            self.body.write(w)
        for part, size in self.binary_sizes.items():
            item(b"BINARY.SIZE[" + _part_text(part) + b"] ")
            w.number(in_range(size, 0, UINT32, "BINARY.SIZE"))
        for key, data in self.sections.items():
            item(b"BODY")
            key.section.write(w)
            _write_origin(w, key.origin)
            _write_body_data(w, data, binary=False)
        for bkey, data in self.binary.items():
            item(b"BINARY[" + _part_text(bkey.part) + b"]")
            _write_origin(w, bkey.origin)
            _write_body_data(w, data, binary=True)
        for name, data in (
            (b"RFC822 ", self.rfc822),
            (b"RFC822.HEADER ", self.rfc822_header),
            (b"RFC822.TEXT ", self.rfc822_text),
        ):
            if data is not None:
                item(name)
                _write_body_data(w, data, binary=False)
        for xname, value in self.extra.items():
            if not _ATOM_TOKEN.match(xname) or xname == "\\":
                raise LocalProtocolError(f"invalid FETCH item name {xname!r}")
            item(xname.encode("utf-8", "surrogateescape") + b" ")
            _write_value(w, value)
        if not sep:
            raise LocalProtocolError("a FETCH response needs at least one data item")
        w.raw(b")\r\n")


_WHOLE_KEY = BodySectionKey()
_HEADER_KEY = BodySectionKey(section=Section(text=SectionText.HEADER))
# Any atom the tokenizer reads back (`imap_wire._values`), unlike the strict `is_atom`: item
# names and values of ``extra`` come from tolerant client-side parsing, so they may hold
# 8-bit text (decoded with surrogateescape), atom-specials such as "%", "*" and "]", and a
# closed section with spaces (``X-ITEM[A B]``).
_ATOM_TOKEN = sectioned_atom_pattern(r'[^\x00-\x20\x7f()"{\[]', r"[^\[\]\r\n]")


def _write_origin(w: WireWriter, origin: int | None) -> None:
    """Write the ``<origin>`` of a partial section, if any, and the space after the name."""
    if origin is not None:
        w.raw(b"<%d>" % in_range(origin, 0, UINT63, "origin"))
    w.sp()


def _write_body_data(w: WireWriter, data: SectionData, *, binary: bool) -> None:
    if data is None:
        w.nil()
    elif isinstance(data, StreamedLiteral):
        raise LocalProtocolError("a streamed literal cannot be written back; send its octets")
    elif isinstance(data, LiteralSource):
        if data.binary and not binary:
            raise LocalProtocolError("BODY data cannot be a literal8 (use BINARY)")
        w.literal_source(data)
    elif binary:
        # literal8 only when needed (RFC 9051 section 7.5.2: 8-bit data without NUL is sent
        # as a plain string).
        w.literal(data, binary=type(data) is Literal8 or b"\x00" in data)
    else:
        if b"\x00" in data:
            raise LocalProtocolError("BODY data cannot hold NUL octets (use BINARY)")
        w.literal(data)


def _write_value(w: WireWriter, v: object) -> None:
    """Write an extension item's value: its own ``write``, or a generic `Value`."""
    if isinstance(v, bytes):
        if type(v) is Literal8:
            w.literal(v, binary=True)
        else:
            w.string(v)
    elif isinstance(v, str):
        if not _ATOM_TOKEN.match(v) or v == "\\":
            raise LocalProtocolError(f"not an atom: {v!r}")
        w.raw(v.encode("utf-8", "surrogateescape"))
    elif isinstance(v, list | tuple):
        w.open()
        for i, x in enumerate(v):
            if i:
                w.sp()
            _write_value(w, x)
        w.close()
    elif v is None:
        w.nil()
    elif isinstance(v, int) and not isinstance(v, bool):
        w.number(v)
    elif isinstance(v, StreamedLiteral):
        raise LocalProtocolError("a streamed literal cannot be written back; send its octets")
    else:
        write = getattr(v, "write", None)
        if write is None:
            raise LocalProtocolError(f"cannot write a {type(v).__name__} in a FETCH response")
        write(w)


# -- response parsing -----------------------------------------------------------------------

#: Plain base items and the `FetchResponse` field each fills.
_FIELDS = {
    "UID": "uid",
    "FLAGS": "flags",
    "INTERNALDATE": "internal_date",
    "RFC822.SIZE": "size",
    "ENVELOPE": "envelope",
    "BODYSTRUCTURE": "body_structure",
    "BODY": "body",
    "MODSEQ": "modseq",
    "RFC822": "rfc822",
    "RFC822.HEADER": "rfc822_header",
    "RFC822.TEXT": "rfc822_text",
}
#: Items with a section, and the `FetchResponse` dict each parser's ``(key, value)`` fills.
_SECTION_FIELDS = {"BODY": "sections", "BINARY": "binary", "BINARY.SIZE": "binary_sizes"}

# The response is built with object.__new__ and its slots' setters (`_build_response`): a
# frozen dataclass's __init__ costs several times more, and this is the client's hot path.
_FIELD_NAMES = (
    "seq",
    "uid",
    "flags",
    "internal_date",
    "size",
    "envelope",
    "body_structure",
    "body",
    "modseq",
    "sections",
    "binary",
    "binary_sizes",
    "rfc822",
    "rfc822_header",
    "rfc822_text",
    "extra",
)
if tuple(f.name for f in fields(FetchResponse)) != _FIELD_NAMES:
    raise TypeError("FetchResponse fields changed; update _FIELD_NAMES and _build_response")
(
    _set_seq,
    _set_uid,
    _set_flags,
    _set_internal_date,
    _set_size,
    _set_envelope,
    _set_body_structure,
    _set_body,
    _set_modseq,
    _set_sections,
    _set_binary,
    _set_binary_sizes,
    _set_rfc822,
    _set_rfc822_header,
    _set_rfc822_text,
    _set_extra,
) = (FetchResponse.__dict__[name].__set__ for name in _FIELD_NAMES)
_INDEX = {name: i for i, name in enumerate(_FIELD_NAMES)}
_FIELD_INDEX = {item: _INDEX[name] for item, name in _FIELDS.items()}
_SECTION_INDEX = {item: _INDEX[name] for item, name in _SECTION_FIELDS.items()}
_EXTRA = _INDEX["extra"]
#: Field values of a response being parsed, in `_FIELD_NAMES` order; None stands for the
#: default, which for the dict fields is a new empty dict.
_DEFAULTS: list[Any] = [None] * len(_FIELD_NAMES)
_new = object.__new__
_SYSTEM_FLAGS = frozenset(f.value for f in Flag if f.value[0] == "\\")


def _build_response(v: list[Any]) -> FetchResponse:
    resp: FetchResponse = _new(FetchResponse)
    _set_seq(resp, v[0])
    _set_uid(resp, v[1])
    _set_flags(resp, v[2])
    _set_internal_date(resp, v[3])
    _set_size(resp, v[4])
    _set_envelope(resp, v[5])
    _set_body_structure(resp, v[6])
    _set_body(resp, v[7])
    _set_modseq(resp, v[8])
    _set_sections(resp, _NO_ITEMS if v[9] is None else v[9])
    _set_binary(resp, _NO_ITEMS if v[10] is None else v[10])
    _set_binary_sizes(resp, _NO_ITEMS if v[11] is None else v[11])
    _set_rfc822(resp, v[12])
    _set_rfc822_header(resp, v[13])
    _set_rfc822_text(resp, v[14])
    _set_extra(resp, _NO_ITEMS if v[15] is None else v[15])
    return resp


def parse_fetch_response(seq: int, cursor: Cursor, ctx: ParseContext) -> FetchResponse:
    """Parse the ``msg-att`` of ``* <seq> FETCH (...)`` (RFC 9051 sections 7.5.2 and 9).

    Each item is parsed by ``ctx.registry.fetch_items[NAME]`` (``NAME``: the upper-cased
    item name up to ``[``). Client side (``ctx.strict`` False) an item without a parser, or
    one whose value is malformed, lands in ``extra`` as its raw value instead of failing the
    whole response.

    Args:
        seq: The message sequence number before ``FETCH``.
        cursor: Positioned after ``FETCH``.
        ctx: Parse context.

    Returns:
        The response.

    Raises:
        RemoteProtocolError: Not a list of name/value pairs, or (strict) an unknown or
            malformed item.
    """
    items = cursor.next("FETCH data")
    if type(items) is not list:
        raise RemoteProtocolError(
            f"expected FETCH data (a parenthesised list), got {describe(items)}"
        )
    cursor.end("FETCH data")
    n = len(items)
    if n & 1 or (not n and ctx.strict):
        return _parse_wrapped(seq, items, ctx)
    parsers = ctx.registry.fetch_items
    field_index = _FIELD_INDEX
    vals = _DEFAULTS.copy()
    vals[0] = seq
    for i in range(0, n, 2):
        name = items[i]
        if type(name) is not str:
            if type(name) is list and not ctx.strict:
                return _parse_wrapped(seq, items, ctx)
            raise RemoteProtocolError(f"expected FETCH item name, got {describe(name)}")
        parser = parsers.get(name)
        if parser is None:
            # Lower case, a section, or an item nobody parses.
            _parse_item_slowly(name, items[i + 1], ctx, vals)
            continue
        try:
            result = parser(name, items[i + 1], ctx)
        except RemoteProtocolError:
            if ctx.strict:
                raise
            _extra(vals)[name] = items[i + 1]
            continue
        index = field_index.get(name)
        if index is not None:
            vals[index] = result
        else:
            _extra(vals)[name] = result
    return _build_response(vals)


def _parse_wrapped(seq: int, items: list[Value], ctx: ParseContext) -> FetchResponse:
    """Client side, read items wrapped in their own parentheses as if unwrapped (Domino)."""
    if not ctx.strict:
        out: list[Value] = []
        wrapped = False
        for x in items:
            if type(x) is list and not len(out) & 1:  # a list where a name belongs
                out.extend(x)
                wrapped = True
            else:
                out.append(x)
        if wrapped:
            return parse_fetch_response(seq, Cursor([out]), ctx)
    raise RemoteProtocolError("FETCH data must be pairs of item name and value")


def _extra(vals: list[Any]) -> dict[str, object]:
    extra: dict[str, object] | None = vals[_EXTRA]
    if extra is None:
        extra = vals[_EXTRA] = {}
    return extra


def _parse_item_slowly(name: str, value: Value, ctx: ParseContext, vals: list[Any]) -> None:
    """Parse an item with a section, in lower case, or without a parser."""
    key, name = _item_key(name)
    parser = ctx.registry.fetch_items.get(key)
    if parser is None:
        if ctx.strict:
            raise RemoteProtocolError(f"unknown FETCH item {key[:64]}")
        _extra(vals)[name] = value
        return
    try:
        result = parser(name, value, ctx)
    except RemoteProtocolError:
        if ctx.strict:
            raise
        _extra(vals)[name] = value
        return
    if key == name:  # no section
        index = _FIELD_INDEX.get(key)
        if index is not None:
            vals[index] = result
            return
    else:
        index = _SECTION_INDEX.get(key)
        if index is not None:
            section_key, data = result
            target = vals[index]
            if target is None:
                target = vals[index] = {}
            target[section_key] = data
            return
    _extra(vals)[name] = result


def _number(v: Value, what: str, minimum: int, maximum: int) -> int:
    # isascii(): str.isdigit() also accepts digits of other scripts, which int() would take.
    if type(v) is str and v.isdigit() and v.isascii() and len(v) <= 19:
        n = int(v)
        if minimum <= n <= maximum:
            return n
    raise RemoteProtocolError(f"expected {what} (a number)")


def _body_data(v: Value, what: str) -> SectionData:
    if isinstance(v, bytes | StreamedLiteral):
        return v
    if type(v) is str and v.upper() == "NIL":
        return None
    raise RemoteProtocolError(f"expected {what} (a string or NIL), got {describe(v)}")


def _item_uid(name: str, v: Value, ctx: ParseContext) -> int:
    return _number(v, "UID", 1, UINT32)


def _item_flags(name: str, v: Value, ctx: ParseContext) -> tuple[str, ...]:
    # Fast path: every flag is a canonical system flag or a plain keyword, as servers send.
    if type(v) is list:
        for flag in v:
            if type(flag) is not str or (flag not in _SYSTEM_FLAGS and "\\" in flag):
                break
        else:
            return tuple(v)  # type: ignore[arg-type]
    return parse_flag_list(v)


def _item_internaldate(name: str, v: Value, ctx: ParseContext) -> datetime | None:
    if isinstance(v, bytes):
        try:
            return parse_date_time(v)
        except RemoteProtocolError:
            if ctx.strict:
                raise
            return _loose_date_time(v)
    if not ctx.strict and type(v) is str and v.upper() == "NIL":
        return None
    raise RemoteProtocolError(f"expected INTERNALDATE (a string), got {describe(v)}")


# What servers send for a date-time besides the grammar's (see the module docstring).
_LOOSE_DATE_TIME = re.compile(
    rb"\s*([0-9]{1,2}-[A-Za-z]{3}-[0-9]{4}) +([0-9]{1,2})(:[0-9]{2}:[0-9]{2})"
    rb" +([+-]?)([0-9]{4})\s*\Z"
)


def _loose_date_time(v: bytes) -> datetime:
    m = _LOOSE_DATE_TIME.match(v)
    if m is None:
        raise RemoteProtocolError("invalid date-time")
    date, hour, rest, sign, zone = m.groups()
    return parse_date_time(b"%s %02d%s %s%s" % (date, int(hour), rest, sign or b"+", zone))


def _item_size(name: str, v: Value, ctx: ParseContext) -> int:
    return _number(v, "RFC822.SIZE", 0, UINT63)


def _item_envelope(name: str, v: Value, ctx: ParseContext) -> Envelope:
    return parse_envelope(v)


def _item_bodystructure(name: str, v: Value, ctx: ParseContext) -> BodyStructure:
    return parse_body_structure(v)


def _item_modseq(name: str, v: Value, ctx: ParseContext) -> int:
    if type(v) is not list or len(v) != 1:
        raise RemoteProtocolError("expected MODSEQ (a parenthesised number)")
    return _number(v[0], "MODSEQ", 0, UINT63)


def _item_rfc822(name: str, v: Value, ctx: ParseContext) -> SectionData:
    return _body_data(v, name)


def _item_body(name: str, v: Value, ctx: ParseContext) -> object:
    """``BODY`` (a body structure) or ``BODY[<section>]<<origin>>`` (a key and its data)."""
    if len(name) == 4:
        return parse_body_structure(v)
    spec, suffix = _split_section(name)
    key = BodySectionKey(section=Section.parse(spec), origin=_origin(suffix, ctx))
    return key, _body_data(v, "BODY section data")


def _origin(suffix: str, ctx: ParseContext) -> int | None:
    if not suffix:
        return None
    m = _ORIGIN.match(suffix)
    if m is None:
        # Client side, a partial range echoed whole (WildDuck): its origin is the key.
        m = None if ctx.strict else _PARTIAL.match(suffix)
        if m is None:
            raise RemoteProtocolError("invalid origin octet")
    origin = int(m.group(1))
    if origin > UINT63:
        raise RemoteProtocolError("origin octet out of range")
    return origin


def _item_binary(name: str, v: Value, ctx: ParseContext) -> tuple[BinarySectionKey, SectionData]:
    spec, suffix = _split_section(name)
    key = BinarySectionKey(part=_parse_part(spec), origin=_origin(suffix, ctx))
    return key, _body_data(v, "BINARY section data")


def _item_binary_size(name: str, v: Value, ctx: ParseContext) -> tuple[tuple[int, ...], int]:
    spec, suffix = _split_section(name)
    if suffix:
        raise RemoteProtocolError("invalid BINARY.SIZE item")
    return _parse_part(spec), _number(v, "BINARY.SIZE", 0, UINT32)


def install(registry: Registry) -> None:
    """Register the base FETCH grammar: command attributes, response items, the response.

    Command attributes: RFC 9051 section 6.4.5 plus RFC 3501's ``RFC822``,
    ``RFC822.HEADER`` and ``RFC822.TEXT``. Response items: RFC 9051 section 7.5.2, RFC 3501
    section 7.4.2, and ``MODSEQ`` (RFC 7162 section 3.1.4).
    """
    attributes = registry.fetch_attributes
    for plain in FetchItemName:
        attributes[plain.value] = parse_plain_attribute
    attributes["BODY"] = _parse_body_attribute
    attributes["BODY.PEEK"] = _parse_body_attribute
    for binary in ("BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        attributes[binary] = _parse_binary_attribute

    items = registry.fetch_items
    items["UID"] = _item_uid
    items["FLAGS"] = _item_flags
    items["INTERNALDATE"] = _item_internaldate
    items["RFC822.SIZE"] = _item_size
    items["ENVELOPE"] = _item_envelope
    items["BODYSTRUCTURE"] = _item_bodystructure
    items["BODY"] = _item_body
    items["MODSEQ"] = _item_modseq
    items["RFC822"] = _item_rfc822
    items["RFC822.HEADER"] = _item_rfc822
    items["RFC822.TEXT"] = _item_rfc822
    items["BINARY"] = _item_binary
    items["BINARY.SIZE"] = _item_binary_size

    registry.numbered["FETCH"] = parse_fetch_response
