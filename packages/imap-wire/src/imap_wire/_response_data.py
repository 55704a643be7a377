"""Untagged response data (RFC 9051 sections 7.2 to 7.5, RFC 3501 section 7) as typed values.

One frozen class per kind of data, each with ``write(w)`` writing the whole line, and one
parser per kind registered by `install` in ``registry.untagged`` / ``registry.numbered``.
`imap_wire._responses` holds the status responses, the line parser and the `Response` union,
and re-exports everything here; its docstring lists what client-side (``strict=False``)
parsing tolerates.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from ._encoding import UINT32, UINT63, WireWriter, in_range, is_atom
from ._ext_value import ExtValue, to_ext_value, write_ext_value
from ._flags import parse_flag_list, write_flag_list
from ._mailbox import parse_mailbox
from ._mutf7 import decode_mailbox_name, encode_mailbox_name
from ._registry import ParseContext, Registry
from ._sequence_set import SequenceSet
from ._values import (
    Cursor,
    Value,
    as_astring,
    as_atom,
    as_list,
    as_nstring,
    as_number,
    as_string,
)
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "CapabilityResponse",
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
    "SearchResponse",
    "VanishedResponse",
    "install",
    "to_ext_value",
    "write_ext_value",
]


class MailboxAttribute(enum.StrEnum):
    """Mailbox attributes of LIST and LSUB responses (plain `str` values, canonical case).

    RFC 9051 section 7.3.1 (``mbx-list-flags``), RFC 5258 section 3 and RFC 6154 section 2.
    Other attributes are kept as sent.
    """

    NOINFERIORS = "\\Noinferiors"
    NOSELECT = "\\Noselect"
    MARKED = "\\Marked"
    UNMARKED = "\\Unmarked"
    NONEXISTENT = "\\NonExistent"
    SUBSCRIBED = "\\Subscribed"
    REMOTE = "\\Remote"
    HAS_CHILDREN = "\\HasChildren"
    HAS_NO_CHILDREN = "\\HasNoChildren"
    ALL = "\\All"
    ARCHIVE = "\\Archive"
    DRAFTS = "\\Drafts"
    FLAGGED = "\\Flagged"
    JUNK = "\\Junk"
    SENT = "\\Sent"
    TRASH = "\\Trash"


_ATTRIBUTES = {a.value.upper(): a.value for a in MailboxAttribute}


# -- shared helpers --------------------------------------------------------------------------------

# tagged-ext-label (RFC 4466), upper-case.
_LABEL = re.compile(r"[A-Z_.-][A-Z0-9_.:-]*\Z")
_QUOTED_ESCAPE = re.compile(rb'(["\\])')


def _untagged(w: WireWriter, keyword: bytes) -> None:
    w.raw(b"* " + keyword)


def _check_name(name: str, what: str) -> str:
    """Return a name the parser upper-cases (extension tags, STATUS items, CHILDINFO
    options), refusing one that would not read back: it must be an upper-case atom."""
    if not (is_atom(name) and name == name.upper()):
        raise LocalProtocolError(f"invalid {what} {name!r} (an upper-case atom)")
    return name


def _write_delimiter(w: WireWriter, delimiter: str | None) -> None:
    """Write ``DQUOTE QUOTED-CHAR DQUOTE / nil`` (RFC 9051 section 9, ``mailbox-list``)."""
    if delimiter is None:
        w.raw(b"NIL")
        return
    if len(delimiter) != 1:
        raise LocalProtocolError("a hierarchy delimiter is one character")
    try:
        data = delimiter.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError("invalid hierarchy delimiter") from None
    if data in (b"\x00", b"\r", b"\n"):
        raise LocalProtocolError("invalid hierarchy delimiter")
    w.raw(b'"' + _QUOTED_ESCAPE.sub(rb"\\\1", data) + b'"')


# -- parsing helpers -------------------------------------------------------------------------------


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_delimiter(v: Value, ctx: ParseContext) -> str | None:
    if isinstance(v, bytes):
        text = _text(v)
        if len(text) == 1 and text not in "\x00\r\n":
            return text
        if not ctx.strict:
            return text or None
    elif type(v) is str:
        if v.upper() == "NIL":
            return None
        if not ctx.strict and len(v) == 1:
            return v
    raise RemoteProtocolError("invalid hierarchy delimiter")


def _mailbox_prefix(v: Value, ctx: ParseContext) -> str:
    raw = as_string(v, "namespace prefix") if ctx.strict else as_astring(v, "namespace prefix")
    try:
        return decode_mailbox_name(raw, utf8=ctx.utf8, strict=ctx.strict)
    except ValueError:
        raise RemoteProtocolError("invalid namespace prefix") from None


def _string(v: Value, what: str, ctx: ParseContext) -> str:
    """Read a ``string`` as text; client side an atom is good enough."""
    return _text(as_string(v, what) if ctx.strict else as_astring(v, what))


# -- capability data -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityResponse:
    """``* CAPABILITY ...`` (RFC 9051 section 7.2.2).

    Attributes:
        capabilities: Capability names as sent (compare them case-insensitively).
    """

    capabilities: tuple[str, ...]

    def write(self, w: WireWriter) -> None:
        """Write the line."""
        _write_atoms_line(w, b"CAPABILITY", self.capabilities)


@dataclass(frozen=True, slots=True, kw_only=True)
class EnabledResponse:
    """``* ENABLED ...``: the extensions an ENABLE command turned on (RFC 5161 section 3.2).

    Attributes:
        capabilities: Capability names as sent; may be empty.
    """

    capabilities: tuple[str, ...] = ()

    def write(self, w: WireWriter) -> None:
        """Write the line."""
        _write_atoms_line(w, b"ENABLED", self.capabilities)


def _write_atoms_line(w: WireWriter, keyword: bytes, atoms: tuple[str, ...]) -> None:
    _untagged(w, keyword)
    for atom in atoms:
        w.sp()
        w.atom(atom)
    w.crlf()


def _parse_atoms(cursor: Cursor, what: str) -> tuple[str, ...]:
    values = cursor.values
    out = tuple(as_atom(v, what) for v in values[cursor.pos :])
    cursor.pos = len(values)
    return out


def _parse_capability(cursor: Cursor, ctx: ParseContext) -> CapabilityResponse:
    return CapabilityResponse(capabilities=_parse_atoms(cursor, "capability"))


def _parse_enabled(cursor: Cursor, ctx: ParseContext) -> EnabledResponse:
    return EnabledResponse(capabilities=_parse_atoms(cursor, "capability"))


# -- LIST, LSUB ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _MailboxList:
    """Fields and wire form shared by LIST and LSUB responses."""

    keyword: ClassVar[bytes] = b""

    attributes: tuple[str, ...] = ()
    delimiter: str | None
    mailbox: str
    extended: tuple[tuple[str, ExtValue], ...] = ()

    @property
    def childinfo(self) -> tuple[str, ...]:
        """The ``CHILDINFO`` selection options (RFC 5258 section 3.5), or ``()``."""
        for name, value in self.extended:
            if name == "CHILDINFO" and isinstance(value, tuple):
                return tuple(v for v in value if isinstance(v, str))
        return ()

    @property
    def oldname(self) -> str | None:
        """The ``OLDNAME`` of a renamed or canonicalised mailbox (RFC 9051 6.3.9.7), or None."""
        for name, value in self.extended:
            if name == "OLDNAME" and isinstance(value, str):
                return value
        return None

    def write(self, w: WireWriter) -> None:
        """Write ``* LIST (attributes) "delimiter" mailbox [(extended data)]``.

        ``CHILDINFO`` must hold a tuple of option names and ``OLDNAME`` a mailbox name; other
        extended items are written in their generic form (`write_ext_value`).
        """
        _untagged(w, self.keyword)
        w.raw(b" ")
        write_flag_list(w, self.attributes)
        w.sp()
        _write_delimiter(w, self.delimiter)
        w.sp()
        w.mailbox(self.mailbox)
        if self.extended:
            w.raw(b" (")
            for i, (name, value) in enumerate(self.extended):
                if i:
                    w.sp()
                w.string(name)
                w.sp()
                _write_extended_item(w, name, value)
            w.close()
        w.crlf()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListResponse(_MailboxList):
    """``* LIST`` (RFC 9051 section 7.3.1; extended data from RFC 5258 section 3).

    Attributes:
        attributes: Mailbox attributes, known ones in canonical case (see
            `MailboxAttribute`).
        delimiter: The hierarchy delimiter, or None for a flat name space.
        mailbox: The mailbox name, decoded (INBOX normalised).
        extended: Extended data items as ``(NAME, value)``: ``("CHILDINFO", ("SUBSCRIBED",))``,
            ``("OLDNAME", "old name")``, otherwise the generic form (`ExtValue`).
    """

    keyword: ClassVar[bytes] = b"LIST"


@dataclass(frozen=True, slots=True, kw_only=True)
class LsubResponse(_MailboxList):
    """``* LSUB`` (RFC 3501 section 7.2.3): the same fields as `ListResponse`."""

    keyword: ClassVar[bytes] = b"LSUB"


_L = TypeVar("_L", bound=_MailboxList)


def _write_extended_item(w: WireWriter, name: str, value: ExtValue) -> None:
    _check_name(name, "extended data tag")
    if name == "CHILDINFO":
        if not isinstance(value, tuple):
            raise LocalProtocolError("CHILDINFO holds a tuple of option names")
        w.open()
        for i, option in enumerate(value):
            if not isinstance(option, str):
                raise LocalProtocolError("CHILDINFO holds a tuple of option names")
            if i:
                w.sp()
            w.string(_check_name(option, "CHILDINFO option"))
        w.close()
    elif name == "OLDNAME":
        if not isinstance(value, str):
            raise LocalProtocolError("OLDNAME holds a mailbox name")
        w.open()
        w.mailbox(value)
        w.close()
    else:
        write_ext_value(w, value)


def _parse_attribute(v: Value, ctx: ParseContext) -> str:
    attr = as_atom(v, "mailbox attribute")
    if attr[:1] != "\\" and ctx.strict:
        raise RemoteProtocolError("invalid mailbox attribute")
    return _ATTRIBUTES.get(attr.upper(), attr)


def _parse_extended_item(name: str, v: Value, ctx: ParseContext) -> ExtValue:
    if name == "CHILDINFO":
        return tuple(
            _text(as_astring(o, "CHILDINFO option")).upper() for o in as_list(v, "CHILDINFO")
        )
    if name == "OLDNAME":
        if type(v) is list:
            if len(v) != 1:
                raise RemoteProtocolError("OLDNAME holds one mailbox name")
            return parse_mailbox(v[0], ctx)
        if ctx.strict:
            raise RemoteProtocolError("OLDNAME needs a parenthesised mailbox name")
        return parse_mailbox(v, ctx)
    return to_ext_value(v)


def _parse_mailbox_list(cls: type[_L], cursor: Cursor, ctx: ParseContext) -> _L:
    attributes = tuple(_parse_attribute(a, ctx) for a in cursor.list("mailbox attributes"))
    delimiter = _parse_delimiter(cursor.next("hierarchy delimiter"), ctx)
    mailbox = parse_mailbox(cursor.next("mailbox name"), ctx)
    extended: list[tuple[str, ExtValue]] = []
    if not cursor.at_end():
        items = cursor.list("extended data")
        if len(items) % 2:
            raise RemoteProtocolError("extended data item without a value")
        for i in range(0, len(items), 2):
            name = _text(as_astring(items[i], "extended data tag")).upper()
            extended.append((name, _parse_extended_item(name, items[i + 1], ctx)))
    return cls(
        attributes=attributes, delimiter=delimiter, mailbox=mailbox, extended=tuple(extended)
    )


def _parse_list(cursor: Cursor, ctx: ParseContext) -> ListResponse:
    return _parse_mailbox_list(ListResponse, cursor, ctx)


def _parse_lsub(cursor: Cursor, ctx: ParseContext) -> LsubResponse:
    return _parse_mailbox_list(LsubResponse, cursor, ctx)


# -- STATUS ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxStatusResponse:
    """``* STATUS mailbox (items)`` (RFC 9051 section 7.3.2; also sent by LIST-STATUS).

    Equal responses hash alike (the hash covers the mailbox only), but the ``items`` dict is
    shared: treat it as read-only.

    Attributes:
        mailbox: The mailbox name, decoded.
        items: Numeric items by upper-case name (``MESSAGES``, ``UIDNEXT``, ... see
            `imap_wire._status.StatusItem`), in the order sent.
        extra: Items whose value is not a number (``MAILBOXID (F2212...)``, RFC 8474), as
            ``(NAME, value)`` in the generic form.
    """

    mailbox: str
    items: dict[str, int] = field(default_factory=dict, hash=False)
    extra: tuple[tuple[str, ExtValue], ...] = ()

    def write(self, w: WireWriter) -> None:
        """Write the line."""
        _untagged(w, b"STATUS ")
        w.mailbox(self.mailbox)
        w.raw(b" (")
        pairs: list[tuple[str, int | ExtValue]] = [*self.items.items(), *self.extra]
        for i, (name, value) in enumerate(pairs):
            if i:
                w.sp()
            w.raw(_check_name(name, "STATUS item").encode("ascii") + b" ")
            if isinstance(value, int):
                w.number(in_range(value, 0, UINT63, name))
            else:
                write_ext_value(w, value)
        w.close()
        w.crlf()


def _parse_status(cursor: Cursor, ctx: ParseContext) -> MailboxStatusResponse:
    raw = cursor.next("mailbox name")
    if type(raw) is str and type(cursor.peek()) is str and not ctx.strict:
        # "* STATUS Deleted Items (...)" (Gromox): a name with spaces sent unquoted.
        words = [raw]
        while type(cursor.peek()) is str:
            words.append(cursor.atom("mailbox name"))
        raw = " ".join(words)
    mailbox = parse_mailbox(raw, ctx)
    values = cursor.list("status items")
    if len(values) % 2:
        raise RemoteProtocolError("STATUS item without a value")
    items: dict[str, int] = {}
    extra: list[tuple[str, ExtValue]] = []
    for i in range(0, len(values), 2):
        name = as_atom(values[i], "status item").upper()
        v = values[i + 1]
        if type(v) is str and v.isascii() and v.isdigit():
            items[name] = as_number(v, name, maximum=UINT63)
        else:
            extra.append((name, to_ext_value(v)))
    return MailboxStatusResponse(mailbox=mailbox, items=items, extra=tuple(extra))


# -- SEARCH, ESEARCH -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResponse:
    """``* SEARCH n ...`` (RFC 3501 section 7.2.5; RFC 9051 keeps it for IMAP4rev1 clients).

    Attributes:
        numbers: Message sequence numbers or UIDs, in the order sent.
        modseq: The highest mod-sequence of the messages found (RFC 7162 section 3.1.5).
    """

    numbers: tuple[int, ...] = ()
    modseq: int | None = None

    def write(self, w: WireWriter) -> None:
        """Write the line.

        Raises:
            LocalProtocolError: A ``modseq`` without numbers (RFC 7162 forbids it).
        """
        _untagged(w, b"SEARCH")
        for n in self.numbers:
            w.sp()
            w.number(in_range(n, 1, UINT32, "SEARCH number"))
        if self.modseq is not None:
            if not self.numbers:
                raise LocalProtocolError("SEARCH (MODSEQ) needs at least one number")
            w.raw(b" (MODSEQ %d)" % in_range(self.modseq, 1, UINT63, "MODSEQ"))
        w.crlf()


def _parse_search(cursor: Cursor, ctx: ParseContext) -> SearchResponse:
    minimum = 1 if ctx.strict else 0
    numbers: list[int] = []
    modseq: int | None = None
    values = cursor.values
    for pos in range(cursor.pos, len(values)):
        v = values[pos]
        if type(v) is str:
            numbers.append(as_number(v, "message number", minimum=minimum))
            continue
        items = as_list(v, "SEARCH data")
        if (
            len(items) != 2
            or pos != len(values) - 1
            or as_atom(items[0], "MODSEQ").upper() != "MODSEQ"
        ):
            raise RemoteProtocolError("expected (MODSEQ n) at the end of SEARCH")
        modseq = as_number(items[1], "mod-sequence", minimum=minimum, maximum=UINT63)
    cursor.pos = len(values)
    return SearchResponse(numbers=tuple(numbers), modseq=modseq)


@dataclass(frozen=True, slots=True, kw_only=True)
class ESearchResponse:
    """``* ESEARCH`` (RFC 9051 section 7.3.4, RFC 4731; ``MODSEQ`` from RFC 7162).

    Attributes:
        tag: The tag of the command this answers (``(TAG "A282")``), if given.
        uid: True when the numbers are UIDs.
        min: ``MIN``: the lowest number found.
        max: ``MAX``: the highest number found.
        count: ``COUNT``: how many messages were found.
        all: ``ALL``: every number found.
        modseq: ``MODSEQ``: the highest mod-sequence of the messages found.
        extra: Other return data (``PARTIAL``, ``RELEVANCY`` ...) as ``(NAME, value)`` in the
            generic form, in the order sent.
    """

    tag: str | None = None
    uid: bool = False
    min: int | None = None
    max: int | None = None
    count: int | None = None
    all: SequenceSet | None = None
    modseq: int | None = None
    extra: tuple[tuple[str, ExtValue], ...] = ()

    def write(self, w: WireWriter) -> None:
        """Write the line: correlator, ``UID``, MIN, MAX, COUNT, ALL, MODSEQ, then extra."""
        _untagged(w, b"ESEARCH")
        if self.tag is not None:
            w.raw(b" (TAG ")
            w.string(self.tag)
            w.close()
        if self.uid:
            w.raw(b" UID")
        for keyword, n, minimum in (
            (b"MIN", self.min, 1),
            (b"MAX", self.max, 1),
            (b"COUNT", self.count, 0),
        ):
            if n is not None:
                w.raw(b" " + keyword + b" ")
                w.number(in_range(n, minimum, UINT32, keyword.decode()))
        if self.all is not None:
            if self.all.is_saved:
                raise LocalProtocolError("ESEARCH ALL cannot be '$'")
            w.raw(b" ALL ")
            self.all.write(w)
        if self.modseq is not None:
            w.raw(b" MODSEQ ")
            w.number(in_range(self.modseq, 1, UINT63, "MODSEQ"))
        for name, value in self.extra:
            if name in _ESEARCH_KNOWN:
                raise LocalProtocolError(f"{name} has its own ESEARCH field")
            if not _LABEL.match(name):
                raise LocalProtocolError(f"invalid ESEARCH return data name {name!r}")
            w.sp()
            w.raw(name.encode("ascii"))
            w.sp()
            write_ext_value(w, value)
        w.crlf()


_ESEARCH_KNOWN = frozenset({"MIN", "MAX", "COUNT", "ALL", "MODSEQ", "UID"})


def _sequence_set(v: Value, what: str, ctx: ParseContext) -> SequenceSet:
    seq = SequenceSet.parse(as_atom(v, what), allow_star=not ctx.strict)
    if seq.is_saved:
        raise RemoteProtocolError(f"{what} cannot be '$'")
    return seq


def _parse_esearch(cursor: Cursor, ctx: ParseContext) -> ESearchResponse:
    tag: str | None = None
    first = cursor.peek()
    if type(first) is list:
        cursor.pos += 1
        if len(first) != 2 or as_atom(first[0], "TAG").upper() != "TAG":
            raise RemoteProtocolError("invalid ESEARCH correlator")
        tag = _text(as_astring(first[1], "tag"))
    uid = cursor.peek_atom() == "UID"
    if uid:
        cursor.pos += 1
    minimum = 1 if ctx.strict else 0
    fields: dict[str, int | None] = {"MIN": None, "MAX": None, "COUNT": None, "MODSEQ": None}
    all_: SequenceSet | None = None
    extra: list[tuple[str, ExtValue]] = []
    while not cursor.at_end():
        name = cursor.keyword("ESEARCH return data")
        v = cursor.next(name)
        if name == "COUNT":
            fields[name] = as_number(v, name)
        elif name == "MODSEQ":
            fields[name] = as_number(v, name, minimum=minimum, maximum=UINT63)
        elif name in fields:
            fields[name] = as_number(v, name, minimum=minimum)
        elif name == "ALL":
            all_ = _sequence_set(v, "ESEARCH ALL", ctx)
        else:
            extra.append((name, to_ext_value(v)))
    return ESearchResponse(
        tag=tag,
        uid=uid,
        min=fields["MIN"],
        max=fields["MAX"],
        count=fields["COUNT"],
        all=all_,
        modseq=fields["MODSEQ"],
        extra=tuple(extra),
    )


# -- FLAGS, EXISTS, RECENT, EXPUNGE, VANISHED ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagsResponse:
    """``* FLAGS (...)``: the flags defined in the mailbox (RFC 9051 section 7.3.5).

    Attributes:
        flags: Flags in canonical case, in the order sent.
    """

    flags: tuple[str, ...]

    def write(self, w: WireWriter) -> None:
        """Write the line."""
        _untagged(w, b"FLAGS ")
        write_flag_list(w, self.flags)
        w.crlf()


def _parse_flags(cursor: Cursor, ctx: ParseContext) -> FlagsResponse:
    return FlagsResponse(flags=parse_flag_list(cursor.next("flag list")))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExistsResponse:
    """``* n EXISTS``: the number of messages in the mailbox (RFC 9051 section 7.4.1).

    Attributes:
        count: The number of messages.
    """

    count: int

    def write(self, w: WireWriter) -> None:
        """Write the line."""
        w.raw(b"* %d EXISTS\r\n" % in_range(self.count, 0, UINT32, "EXISTS count"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RecentResponse:
    """``* n RECENT``: the number of messages with ``\\Recent`` (RFC 3501 section 7.3.2).

    Attributes:
        count: The number of recent messages.
    """

    count: int

    def write(self, w: WireWriter) -> None:
        """Write the line."""
        w.raw(b"* %d RECENT\r\n" % in_range(self.count, 0, UINT32, "RECENT count"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpungeResponse:
    """``* n EXPUNGE``: message ``n`` was expunged (RFC 9051 section 7.5.1).

    Attributes:
        seq: Its message sequence number.
    """

    seq: int

    def write(self, w: WireWriter) -> None:
        """Write the line."""
        w.raw(b"* %d EXPUNGE\r\n" % in_range(self.seq, 1, UINT32, "EXPUNGE message number"))


def _parse_exists(n: int, cursor: Cursor, ctx: ParseContext) -> ExistsResponse:
    return ExistsResponse(count=n)


def _parse_recent(n: int, cursor: Cursor, ctx: ParseContext) -> RecentResponse:
    return RecentResponse(count=n)


def _parse_expunge(n: int, cursor: Cursor, ctx: ParseContext) -> ExpungeResponse:
    if n == 0:
        raise RemoteProtocolError("EXPUNGE needs a non-zero message number")
    return ExpungeResponse(seq=n)


@dataclass(frozen=True, slots=True, kw_only=True)
class VanishedResponse:
    """``* VANISHED [(EARLIER)] uids``: messages expunged, by UID (RFC 7162 section 3.2.10).

    Attributes:
        earlier: True for ``(EARLIER)``: an answer to UID FETCH (VANISHED) or SELECT
            (QRESYNC), not a new expunge.
        uids: The UIDs.
    """

    earlier: bool = False
    uids: SequenceSet

    def write(self, w: WireWriter) -> None:
        """Write the line."""
        _untagged(w, b"VANISHED (EARLIER) " if self.earlier else b"VANISHED ")
        if self.uids.is_saved:
            raise LocalProtocolError("VANISHED UIDs cannot be '$'")
        self.uids.write(w)
        w.crlf()


def _parse_vanished(cursor: Cursor, ctx: ParseContext) -> VanishedResponse:
    earlier = False
    first = cursor.peek()
    if type(first) is list:
        cursor.pos += 1
        if len(first) != 1 or as_atom(first[0], "EARLIER").upper() != "EARLIER":
            raise RemoteProtocolError("expected (EARLIER) in VANISHED")
        earlier = True
    return VanishedResponse(earlier=earlier, uids=_sequence_set(cursor.next("UIDs"), "UIDs", ctx))


# -- NAMESPACE -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceEntry:
    """One namespace of a NAMESPACE response (RFC 9051 section 7.3.3, RFC 2342 section 5).

    Attributes:
        prefix: The prefix of the namespace's mailbox names (``""``, ``"#shared/"``).
        delimiter: Its hierarchy delimiter, or None.
        extensions: Namespace response extensions as ``(name, values)``
            (``("X-PARAM", ("FLAG1", "FLAG2"))``).
    """

    prefix: str
    delimiter: str | None
    extensions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def write(self, w: WireWriter) -> None:
        """Write ``(prefix delimiter *(SP name SP (values)))``."""
        try:
            prefix = encode_mailbox_name(self.prefix, utf8=w.utf8)
        except ValueError:
            raise LocalProtocolError("namespace prefix cannot be encoded") from None
        w.open()
        w.string(prefix)
        w.sp()
        _write_delimiter(w, self.delimiter)
        for name, values in self.extensions:
            if not values:
                raise LocalProtocolError("a namespace extension needs at least one value")
            w.sp()
            w.string(name)
            w.raw(b" (")
            for i, value in enumerate(values):
                if i:
                    w.sp()
                w.string(value)
            w.close()
        w.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceResponse:
    """``* NAMESPACE personal other shared`` (RFC 9051 section 7.3.3, RFC 2342).

    Attributes:
        personal: The personal namespaces, or None (``NIL``).
        other: Other users' namespaces, or None.
        shared: Shared namespaces, or None.
    """

    personal: tuple[NamespaceEntry, ...] | None = None
    other: tuple[NamespaceEntry, ...] | None = None
    shared: tuple[NamespaceEntry, ...] | None = None

    def write(self, w: WireWriter) -> None:
        """Write the line.

        Raises:
            LocalProtocolError: An empty tuple (the grammar has ``NIL``, not ``()``).
        """
        _untagged(w, b"NAMESPACE")
        for group in (self.personal, self.other, self.shared):
            w.sp()
            if group is None:
                w.nil()
                continue
            if not group:
                raise LocalProtocolError("an empty namespace list is written as None (NIL)")
            w.open()
            for namespace in group:
                namespace.write(w)
            w.close()
        w.crlf()


def _parse_namespace_descr(v: Value, ctx: ParseContext) -> NamespaceEntry:
    items = as_list(v, "namespace")
    if len(items) < 2 or len(items) % 2:
        raise RemoteProtocolError("invalid namespace description")
    prefix = _mailbox_prefix(items[0], ctx)
    delimiter = _parse_delimiter(items[1], ctx)
    extensions: list[tuple[str, tuple[str, ...]]] = []
    for i in range(2, len(items), 2):
        name = _string(items[i], "namespace extension", ctx)
        values = as_list(items[i + 1], "namespace extension values")
        if not values and ctx.strict:
            raise RemoteProtocolError("empty namespace extension values")
        extensions.append(
            (name, tuple(_string(x, "namespace extension value", ctx) for x in values))
        )
    return NamespaceEntry(prefix=prefix, delimiter=delimiter, extensions=tuple(extensions))


def _parse_namespaces(v: Value, ctx: ParseContext) -> tuple[NamespaceEntry, ...] | None:
    if type(v) is str and v.upper() == "NIL":
        return None
    items = as_list(v, "namespace list")
    if not items:
        if ctx.strict:
            raise RemoteProtocolError("empty namespace list")
        return None
    return tuple(_parse_namespace_descr(x, ctx) for x in items)


def _parse_namespace(cursor: Cursor, ctx: ParseContext) -> NamespaceResponse:
    personal = _parse_namespaces(cursor.next("personal namespaces"), ctx)
    other = _parse_namespaces(cursor.next("other users' namespaces"), ctx)
    shared = _parse_namespaces(cursor.next("shared namespaces"), ctx)
    return NamespaceResponse(personal=personal, other=other, shared=shared)


# -- ID --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IdResponse:
    """``* ID (...)`` or ``* ID NIL``: the server's identity (RFC 2971 section 3.2).

    Attributes:
        parameters: ``(field, value)`` pairs in the order sent (value None for ``NIL``), or
            None for ``NIL``.
    """

    parameters: tuple[tuple[str, str | None], ...] | None = None

    def write(self, w: WireWriter) -> None:
        """Write the line."""
        _untagged(w, b"ID ")
        if self.parameters is None:
            w.nil()
        else:
            w.open()
            for i, (name, value) in enumerate(self.parameters):
                if i:
                    w.sp()
                w.string(name)
                w.sp()
                w.nstring(value)
            w.close()
        w.crlf()


def _parse_id(cursor: Cursor, ctx: ParseContext) -> IdResponse:
    v = cursor.next("ID parameters")
    if type(v) is str and v.upper() == "NIL":
        return IdResponse(parameters=None)
    items = as_list(v, "ID parameters")
    if len(items) % 2:
        raise RemoteProtocolError("ID field without a value")
    params: list[tuple[str, str | None]] = []
    for i in range(0, len(items), 2):
        name = _string(items[i], "ID field", ctx)
        raw = as_nstring(items[i + 1], "ID value") if ctx.strict else _id_value(items[i + 1])
        params.append((name, None if raw is None else _text(raw)))
    return IdResponse(parameters=tuple(params))


def _id_value(v: Value) -> bytes | None:
    if type(v) is str and v.upper() == "NIL":
        return None
    return as_astring(v, "ID value")


def install(registry: Registry) -> None:
    """Register the parsers of the untagged data of the base grammar.

    Numbered: ``EXISTS``, ``RECENT``, ``EXPUNGE`` (``FETCH`` comes from `imap_wire._fetch`).
    Untagged: ``CAPABILITY``, ``ENABLED``, ``LIST``, ``LSUB``, ``STATUS``, ``SEARCH``,
    ``ESEARCH``, ``FLAGS``, ``NAMESPACE``, ``ID``, ``VANISHED``.
    """
    registry.numbered.update(EXISTS=_parse_exists, RECENT=_parse_recent, EXPUNGE=_parse_expunge)
    registry.untagged.update(
        CAPABILITY=_parse_capability,
        ENABLED=_parse_enabled,
        LIST=_parse_list,
        LSUB=_parse_lsub,
        STATUS=_parse_status,
        SEARCH=_parse_search,
        ESEARCH=_parse_esearch,
        FLAGS=_parse_flags,
        NAMESPACE=_parse_namespace,
        ID=_parse_id,
        VANISHED=_parse_vanished,
    )
