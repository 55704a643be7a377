"""SEARCH criteria: ``search-program`` and ``search-key`` (RFC 9051 and RFC 3501 section 6.4.4).

A search program is a tree of `SearchKey` values, one subclass per argument shape:
`SearchSimple` (``SEEN``, ``ALL`` ...), `SearchText` (``FROM "x"`` ...), `SearchHeader`,
`SearchDate`, `SearchSize`, `SearchKeyword`, `SearchNot`, `SearchOr`, `SearchAnd` (a
parenthesised group, or several top-level keys), `SearchSequence` and `SearchUid`. Clients
build them through `SearchCriteria` (``SearchCriteria.from_("alice") & ~SearchCriteria.seen()``);
servers get them from `parse_search_program`.

Every key is parsed by a function registered in ``registry.search_keys`` under its upper-case
name, the base keys included (`install`). A key parser is called as ``parser(name, cursor,
ctx)`` with the cursor right after the name; that cursor is always a `SearchParser`, which
adds what a key needs beyond plain values: `SearchParser.text` decodes a string argument with
the command's CHARSET and `SearchParser.key` parses a nested key. An extension narrows the
cursor with `as_search_parser`::

    def parse_fuzzy(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
        return Fuzzy(key=as_search_parser(cursor).key())
"""

from __future__ import annotations

import abc
import datetime as _dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ._dates import format_date, parse_date
from ._encoding import UINT63, WireWriter, is_atom
from ._sequence_set import SequenceItem, SequenceSet
from ._values import Cursor, Literal8, StreamedLiteral, Value, as_astring
from .errors import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from ._registry import ParseContext, Registry

__all__ = [
    "MAX_SEARCH_DEPTH",
    "SUPPORTED_CHARSETS",
    "SearchAnd",
    "SearchCriteria",
    "SearchDate",
    "SearchHeader",
    "SearchKey",
    "SearchKeyword",
    "SearchNot",
    "SearchOr",
    "SearchParser",
    "SearchSequence",
    "SearchSimple",
    "SearchSize",
    "SearchText",
    "SearchUid",
    "as_search_parser",
    "install",
    "needs_charset",
    "parse_search_charset",
    "parse_search_program",
    "write_search_program",
]

#: How deeply keys may nest (NOT, OR, groups and extension keys together). Parentheses are
#: bounded by the tokenizer, but ``NOT NOT NOT ...`` is not parenthesised.
MAX_SEARCH_DEPTH: Final = 128
#: The charsets every server supports (RFC 9051 section 6.4.4); others get ``NO [BADCHARSET]``.
SUPPORTED_CHARSETS: Final = ("US-ASCII", "UTF-8")
_CODECS: Final = {"US-ASCII": "ascii", "UTF-8": "utf-8"}

# Base key names by argument shape (RFC 9051 section 9 ``search-key``; NEW, OLD and RECENT
# are RFC 3501 only).
_SIMPLE_NAMES: Final = (
    "ALL",
    "ANSWERED",
    "DELETED",
    "DRAFT",
    "FLAGGED",
    "NEW",
    "OLD",
    "RECENT",
    "SEEN",
    "UNANSWERED",
    "UNDELETED",
    "UNDRAFT",
    "UNFLAGGED",
    "UNSEEN",
)
_TEXT_NAMES: Final = ("BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO")
_DATE_NAMES: Final = ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE")
_SIZE_NAMES: Final = ("LARGER", "SMALLER")
_KEYWORD_NAMES: Final = ("KEYWORD", "UNKEYWORD")
# A sequence set starts with one of these; no key name does.
_SEQUENCE_START: Final = frozenset("0123456789*$")
# charset = atom / quoted: what a writer may announce.
_CHARSET: Final = re.compile(r"[\x20-\x7e]+\Z")
# An astring's atom form: 1*ASTRING-CHAR (ASCII; no list-wildcards, "\\" or other specials).
_ASTRING_ATOM: Final = re.compile(r'[^\x00-\x20\x7f-\U0010ffff(){%*"\\]+\Z')


# -- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchKey(abc.ABC):
    """One search key (RFC 9051 section 6.4.4); subclasses hold the arguments.

    Keys combine with operators: ``a & b`` is `SearchAnd`, ``a | b`` is `SearchOr` and
    ``~a`` is `SearchNot`. ``&`` flattens (AND is associative): ``a & b & c`` is one
    three-key `SearchAnd`, and an operand that is a `SearchAnd` contributes its keys; build
    ``SearchAnd(keys=...)`` directly to keep a group as a nested key.
    """

    @abc.abstractmethod
    def write(self, w: WireWriter) -> None:
        """Write the key and its arguments (a nested key writes its own parentheses)."""

    def texts(self) -> Iterator[str]:
        """Yield every text argument, nested keys' included (see `needs_charset`)."""
        return iter(())

    def __and__(self, other: SearchKey) -> SearchAnd:
        left = self.keys if isinstance(self, SearchAnd) else (self,)
        right = other.keys if isinstance(other, SearchAnd) else (other,)
        return SearchAnd(keys=left + right)

    def __or__(self, other: SearchKey) -> SearchOr:
        return SearchOr(left=self, right=other)

    def __invert__(self) -> SearchNot:
        return SearchNot(key=self)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchSimple(SearchKey):
    """A key without arguments: ``ALL``, ``SEEN``, ``UNDRAFT``, ``RECENT`` ...

    Attributes:
        name: Upper-case key name.
    """

    name: str

    def write(self, w: WireWriter) -> None:
        """Write the key name."""
        w.atom(self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchText(SearchKey):
    """A key taking a string: ``BCC``, ``BODY``, ``CC``, ``FROM``, ``SUBJECT``, ``TEXT``, ``TO``.

    Attributes:
        name: Upper-case key name.
        value: The text searched for (a substring match; empty matches everything).
    """

    name: str
    value: str

    def write(self, w: WireWriter) -> None:
        """Write ``NAME astring``.

        Raises:
            LocalProtocolError: The name is not an atom, or the value holds NUL.
        """
        w.atom(self.name)
        w.sp()
        _write_text(w, self.value)

    def texts(self) -> Iterator[str]:
        """Yield the value."""
        yield self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHeader(SearchKey):
    """``HEADER field-name string``: a header field containing the text.

    Attributes:
        field: Header field name (``Message-ID``).
        value: Text searched for in the field's value; empty tests the field's presence.
    """

    field: str
    value: str

    def write(self, w: WireWriter) -> None:
        """Write ``HEADER field value``.

        Raises:
            LocalProtocolError: The field name or the value holds NUL.
        """
        w.raw(b"HEADER ")
        _write_text(w, self.field)
        w.sp()
        _write_text(w, self.value)

    def texts(self) -> Iterator[str]:
        """Yield the field name and the value."""
        yield self.field
        yield self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchDate(SearchKey):
    """A key taking a date: ``BEFORE``, ``ON``, ``SINCE`` (internal date) and ``SENTBEFORE``,
    ``SENTON``, ``SENTSINCE`` (the Date: header), all disregarding time and zone.

    Attributes:
        name: Upper-case key name.
        date: The date.
    """

    name: str
    date: _dt.date

    def write(self, w: WireWriter) -> None:
        """Write ``NAME d-Mon-yyyy``."""
        w.atom(self.name)
        w.sp()
        w.raw(format_date(self.date).encode("ascii"))


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchSize(SearchKey):
    """``LARGER n`` or ``SMALLER n``: RFC822.SIZE compared with a ``number64``.

    Attributes:
        name: Upper-case key name.
        size: Size in octets.
    """

    name: str
    size: int

    def write(self, w: WireWriter) -> None:
        """Write ``NAME n``."""
        if self.size > UINT63:
            raise LocalProtocolError("search size over 2**63-1")
        w.atom(self.name)
        w.sp()
        w.number(self.size)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchKeyword(SearchKey):
    """``KEYWORD flag`` or ``UNKEYWORD flag``.

    Attributes:
        name: Upper-case key name.
        keyword: The keyword (``$Forwarded``), an atom.
    """

    name: str
    keyword: str

    def write(self, w: WireWriter) -> None:
        """Write ``NAME keyword``."""
        w.atom(self.name)
        w.sp()
        w.atom(self.keyword)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchNot(SearchKey):
    """``NOT key``: messages that do not match ``key``.

    Attributes:
        key: The negated key.
    """

    key: SearchKey

    def write(self, w: WireWriter) -> None:
        """Write ``NOT key``."""
        w.raw(b"NOT ")
        self.key.write(w)

    def texts(self) -> Iterator[str]:
        """Yield the nested key's texts."""
        return self.key.texts()


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchOr(SearchKey):
    """``OR key1 key2``: messages matching either key.

    Attributes:
        left: The first key.
        right: The second key.
    """

    left: SearchKey
    right: SearchKey

    def write(self, w: WireWriter) -> None:
        """Write ``OR left right``."""
        w.raw(b"OR ")
        self.left.write(w)
        w.sp()
        self.right.write(w)

    def texts(self) -> Iterator[str]:
        """Yield both keys' texts."""
        yield from self.left.texts()
        yield from self.right.texts()


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchAnd(SearchKey):
    """Keys that must all match: a parenthesised group, or a program's top-level keys.

    As a nested key it is written in parentheses; `write_search_program` writes a top-level
    one with two or more keys without them, as the program's key list.

    Attributes:
        keys: The keys, at least one, in order.
    """

    keys: tuple[SearchKey, ...]

    def write(self, w: WireWriter) -> None:
        """Write ``(key1 key2 ...)``.

        Raises:
            LocalProtocolError: The group is empty.
        """
        if not self.keys:
            raise LocalProtocolError("an empty search key group cannot be written")
        w.open()
        self.write_keys(w)
        w.close()

    def write_keys(self, w: WireWriter) -> None:
        """Write the keys separated by spaces, without parentheses."""
        for i, key in enumerate(self.keys):
            if i:
                w.sp()
            key.write(w)

    def texts(self) -> Iterator[str]:
        """Yield every key's texts."""
        for key in self.keys:
            yield from key.texts()


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchSequence(SearchKey):
    """A bare ``sequence-set``: messages with these sequence numbers (``$`` allowed).

    Attributes:
        sequence_set: The message numbers.
    """

    sequence_set: SequenceSet

    def write(self, w: WireWriter) -> None:
        """Write the set."""
        self.sequence_set.write(w)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchUid(SearchKey):
    """``UID sequence-set``: messages with these UIDs (``$`` allowed).

    Attributes:
        sequence_set: The UIDs.
    """

    sequence_set: SequenceSet

    def write(self, w: WireWriter) -> None:
        """Write ``UID set``."""
        w.raw(b"UID ")
        self.sequence_set.write(w)


_SIMPLE_KEYS: Final = {name: SearchSimple(name=name) for name in _SIMPLE_NAMES}


def _write_text(w: WireWriter, text: str) -> None:
    # NUL may appear only in a literal8 (RFC 9051 section 9, note 3), which SEARCH lacks.
    if "\0" in text:
        raise LocalProtocolError("search text holds a NUL")
    w.astring(text)


def _date_of(value: _dt.date) -> _dt.date:
    # A datetime is a date too, but would not compare equal to the date parsed back.
    return value.date() if isinstance(value, _dt.datetime) else value


def _size(value: int) -> int:
    if not 0 <= value <= UINT63:
        raise LocalProtocolError("search size must be between 0 and 2**63-1")
    return value


def _sequence(items: tuple[SequenceSet | SequenceItem, ...]) -> SequenceSet:
    if len(items) == 1 and isinstance(items[0], SequenceSet):
        return items[0]
    plain: list[SequenceItem] = []
    for item in items:
        if isinstance(item, SequenceSet):
            raise LocalProtocolError("pass one SequenceSet, or numbers and ranges")
        plain.append(item)
    if not plain:
        raise LocalProtocolError("a sequence set needs at least one number")
    return SequenceSet.of(*plain)


class SearchCriteria:
    """Constructors for the base search keys (RFC 9051 section 6.4.4).

    Combine them with ``&`` (AND), ``|`` (OR) and ``~`` (NOT)::

        C = SearchCriteria
        C.flagged() & C.since(date(1994, 2, 1)) & ~C.from_("Smith")
    """

    __slots__ = ()

    @staticmethod
    def all() -> SearchSimple:
        """``ALL``: every message."""
        return _SIMPLE_KEYS["ALL"]

    @staticmethod
    def answered() -> SearchSimple:
        """``ANSWERED``: messages with ``\\Answered``."""
        return _SIMPLE_KEYS["ANSWERED"]

    @staticmethod
    def deleted() -> SearchSimple:
        """``DELETED``: messages with ``\\Deleted``."""
        return _SIMPLE_KEYS["DELETED"]

    @staticmethod
    def draft() -> SearchSimple:
        """``DRAFT``: messages with ``\\Draft``."""
        return _SIMPLE_KEYS["DRAFT"]

    @staticmethod
    def flagged() -> SearchSimple:
        """``FLAGGED``: messages with ``\\Flagged``."""
        return _SIMPLE_KEYS["FLAGGED"]

    @staticmethod
    def new() -> SearchSimple:
        """``NEW``: recent and unseen (RFC 3501 only)."""
        return _SIMPLE_KEYS["NEW"]

    @staticmethod
    def old() -> SearchSimple:
        """``OLD``: not recent (RFC 3501 only)."""
        return _SIMPLE_KEYS["OLD"]

    @staticmethod
    def recent() -> SearchSimple:
        """``RECENT``: messages with ``\\Recent`` (RFC 3501 only)."""
        return _SIMPLE_KEYS["RECENT"]

    @staticmethod
    def seen() -> SearchSimple:
        """``SEEN``: messages with ``\\Seen``."""
        return _SIMPLE_KEYS["SEEN"]

    @staticmethod
    def unanswered() -> SearchSimple:
        """``UNANSWERED``: messages without ``\\Answered``."""
        return _SIMPLE_KEYS["UNANSWERED"]

    @staticmethod
    def undeleted() -> SearchSimple:
        """``UNDELETED``: messages without ``\\Deleted``."""
        return _SIMPLE_KEYS["UNDELETED"]

    @staticmethod
    def undraft() -> SearchSimple:
        """``UNDRAFT``: messages without ``\\Draft``."""
        return _SIMPLE_KEYS["UNDRAFT"]

    @staticmethod
    def unflagged() -> SearchSimple:
        """``UNFLAGGED``: messages without ``\\Flagged``."""
        return _SIMPLE_KEYS["UNFLAGGED"]

    @staticmethod
    def unseen() -> SearchSimple:
        """``UNSEEN``: messages without ``\\Seen``."""
        return _SIMPLE_KEYS["UNSEEN"]

    @staticmethod
    def bcc(text: str) -> SearchText:
        """``BCC text``: the envelope's Bcc contains the text."""
        return SearchText(name="BCC", value=text)

    @staticmethod
    def body(text: str) -> SearchText:
        """``BODY text``: the body contains the text."""
        return SearchText(name="BODY", value=text)

    @staticmethod
    def cc(text: str) -> SearchText:
        """``CC text``: the envelope's Cc contains the text."""
        return SearchText(name="CC", value=text)

    @staticmethod
    def from_(text: str) -> SearchText:
        """``FROM text``: the envelope's From contains the text."""
        return SearchText(name="FROM", value=text)

    @staticmethod
    def subject(text: str) -> SearchText:
        """``SUBJECT text``: the subject contains the text."""
        return SearchText(name="SUBJECT", value=text)

    @staticmethod
    def text(text: str) -> SearchText:
        """``TEXT text``: the header or body contains the text."""
        return SearchText(name="TEXT", value=text)

    @staticmethod
    def to(text: str) -> SearchText:
        """``TO text``: the envelope's To contains the text."""
        return SearchText(name="TO", value=text)

    @staticmethod
    def header(field: str, text: str) -> SearchHeader:
        """``HEADER field text``: the header field exists and contains the text."""
        return SearchHeader(field=field, value=text)

    @staticmethod
    def before(date: _dt.date) -> SearchDate:
        """``BEFORE date``: internal date earlier than the date."""
        return SearchDate(name="BEFORE", date=_date_of(date))

    @staticmethod
    def on(date: _dt.date) -> SearchDate:
        """``ON date``: internal date within the date."""
        return SearchDate(name="ON", date=_date_of(date))

    @staticmethod
    def since(date: _dt.date) -> SearchDate:
        """``SINCE date``: internal date within or after the date."""
        return SearchDate(name="SINCE", date=_date_of(date))

    @staticmethod
    def sent_before(date: _dt.date) -> SearchDate:
        """``SENTBEFORE date``: Date: header earlier than the date."""
        return SearchDate(name="SENTBEFORE", date=_date_of(date))

    @staticmethod
    def sent_on(date: _dt.date) -> SearchDate:
        """``SENTON date``: Date: header within the date."""
        return SearchDate(name="SENTON", date=_date_of(date))

    @staticmethod
    def sent_since(date: _dt.date) -> SearchDate:
        """``SENTSINCE date``: Date: header within or after the date."""
        return SearchDate(name="SENTSINCE", date=_date_of(date))

    @staticmethod
    def larger(size: int) -> SearchSize:
        """``LARGER n``: RFC822.SIZE over ``n`` octets.

        Raises:
            LocalProtocolError: ``size`` is negative or over ``2**63 - 1``.
        """
        return SearchSize(name="LARGER", size=_size(size))

    @staticmethod
    def smaller(size: int) -> SearchSize:
        """``SMALLER n``: RFC822.SIZE under ``n`` octets.

        Raises:
            LocalProtocolError: ``size`` is negative or over ``2**63 - 1``.
        """
        return SearchSize(name="SMALLER", size=_size(size))

    @staticmethod
    def keyword(keyword: str) -> SearchKeyword:
        """``KEYWORD flag``: messages with the keyword set."""
        return SearchKeyword(name="KEYWORD", keyword=keyword)

    @staticmethod
    def unkeyword(keyword: str) -> SearchKeyword:
        """``UNKEYWORD flag``: messages without the keyword."""
        return SearchKeyword(name="UNKEYWORD", keyword=keyword)

    @staticmethod
    def not_(key: SearchKey) -> SearchNot:
        """``NOT key``."""
        return SearchNot(key=key)

    @staticmethod
    def or_(left: SearchKey, right: SearchKey) -> SearchOr:
        """``OR left right``."""
        return SearchOr(left=left, right=right)

    @staticmethod
    def and_(*keys: SearchKey) -> SearchAnd:
        """``(key1 key2 ...)``: all the keys (kept as given, not flattened).

        Raises:
            LocalProtocolError: No key given.
        """
        if not keys:
            raise LocalProtocolError("a search key group needs at least one key")
        return SearchAnd(keys=keys)

    @staticmethod
    def sequence(*items: SequenceSet | SequenceItem) -> SearchSequence:
        """A sequence-set key: one `SequenceSet`, or items for `SequenceSet.of`.

        Raises:
            LocalProtocolError: No item, a number out of range, or a set mixed with items.
        """
        return SearchSequence(sequence_set=_sequence(items))

    @staticmethod
    def uid(*items: SequenceSet | SequenceItem) -> SearchUid:
        """``UID set``: one `SequenceSet` (``SequenceSet.saved()`` for ``$``) or items.

        Raises:
            LocalProtocolError: No item, a number out of range, or a set mixed with items.
        """
        return SearchUid(sequence_set=_sequence(items))


def needs_charset(key: SearchKey) -> bool:
    """Tell whether a program holds non-ASCII text, so needs ``CHARSET UTF-8``.

    An IMAP4rev1 server assumes US-ASCII without a CHARSET (RFC 3501 section 6.4.4).
    """
    return any(not text.isascii() for text in key.texts())


def write_search_program(w: WireWriter, key: SearchKey, *, charset: str | None = None) -> None:
    """Write a ``search-program``: ``[CHARSET charset SP] search-key *(SP search-key)``.

    A top-level `SearchAnd` of two or more keys is written as the program's key list,
    without parentheses, which is how `parse_search_program` reads such a list back.

    Args:
        w: The writer.
        key: The criteria.
        charset: The CHARSET to announce, if any (see `needs_charset`).

    Raises:
        LocalProtocolError: The charset is not printable ASCII, or is US-ASCII or UTF-8 and
            some text cannot be encoded in it (the server would refuse the octets sent).
    """
    if charset is not None:
        if not _CHARSET.match(charset):
            raise LocalProtocolError("a charset name is printable ASCII")
        codec = _CODECS.get(charset.upper())
        if codec is not None:
            for text in key.texts():
                try:
                    text.encode(codec)
                except UnicodeEncodeError:
                    raise LocalProtocolError(f"search text that is not {charset}") from None
        w.raw(b"CHARSET ")
        w.astring(charset)
        w.sp()
    if type(key) is SearchAnd and len(key.keys) > 1:
        key.write_keys(w)
    else:
        key.write(w)


# -- parsing -----------------------------------------------------------------------------------


class SearchParser(Cursor):
    """The cursor a search key parser receives: values plus what search strings need.

    Args:
        values: The values to read.
        pos: Where reading starts.
        ctx: The parse context (its registry holds the key parsers).
        charset: The command's CHARSET, upper-case (``US-ASCII`` or ``UTF-8``), or None.
        depth: Nesting depth of the key being parsed.
    """

    __slots__ = ("charset", "ctx", "depth")

    def __init__(
        self,
        values: list[Value],
        pos: int = 0,
        *,
        ctx: ParseContext,
        charset: str | None = None,
        depth: int = 0,
    ) -> None:
        super().__init__(values, pos)
        self.ctx = ctx
        self.charset = charset
        self.depth = depth

    def text(self, what: str) -> str:
        """Consume an ``astring`` and decode it with the command's CHARSET.

        Without CHARSET, 8-bit text is taken as UTF-8 (what IMAP4rev2 assumes); octets that
        are not UTF-8 decode with ``surrogateescape``, so they write back unchanged. In
        strict mode an explicit charset must match the octets, and an atom must be made of
        ``ASTRING-CHAR`` (ASCII even with UTF8=ACCEPT, which extends quoted strings only).

        Raises:
            RemoteProtocolError: Not an astring, or (strict) a literal8, an atom with other
                characters, or text not in the announced charset.
        """
        v = self.next(what)
        if type(v) is str:
            if self.ctx.strict and not _ASTRING_ATOM.match(v):
                raise RemoteProtocolError(f"invalid character in an atom ({what})")
            # The tokenizer decoded a tolerated 8-bit atom as UTF-8 with surrogateescape.
            return v
        if type(v) is Literal8 and self.ctx.strict:
            raise RemoteProtocolError(f"expected {what}, got a literal8")
        data = as_astring(v, what)
        if data.isascii():
            return data.decode("ascii")
        charset = self.charset
        if charset is not None and self.ctx.strict:
            try:
                return data.decode(_CODECS.get(charset, "utf-8"))
            except UnicodeDecodeError:
                raise RemoteProtocolError(f"{what} is not valid {charset}") from None
        return data.decode("utf-8", "surrogateescape")

    def date(self, what: str) -> _dt.date:
        """Consume a ``date`` (``1-Feb-1994``, bare or quoted).

        Raises:
            RemoteProtocolError: Not a valid date.
        """
        v = self.next(what)
        if type(v) is str or type(v) is bytes:
            return parse_date(v)
        raise RemoteProtocolError(f"expected {what} (a date)")

    def sequence_set(self, what: str) -> SequenceSet:
        """Consume a ``sequence-set`` atom (``$`` allowed).

        Raises:
            RemoteProtocolError: Not a valid sequence set.
        """
        v = self.next(what)
        if type(v) is not str:
            raise RemoteProtocolError(f"expected {what} (a sequence set)")
        return SequenceSet.parse(v)

    def key(self) -> SearchKey:
        """Consume one search key, nested keys included.

        Raises:
            RemoteProtocolError: No key, an unknown key, bad arguments, or nesting deeper
                than `MAX_SEARCH_DEPTH`.
        """
        v = self.next("search key")
        if type(v) is str:
            name = v.upper()
            parser = self.ctx.registry.search_keys.get(name)
            if parser is not None:
                depth = self.depth = self.depth + 1
                if depth > MAX_SEARCH_DEPTH:
                    raise RemoteProtocolError("search keys nested too deeply")
                try:
                    result = parser(name, self, self.ctx)
                finally:
                    self.depth = depth - 1
                if not isinstance(result, SearchKey):
                    raise TypeError(f"the parser of search key {name} returned {result!r}")
                return result
            if v[:1] in _SEQUENCE_START:
                return SearchSequence(sequence_set=SequenceSet.parse(v))
            raise RemoteProtocolError(f"unknown search key {name[:40]}")
        if type(v) is list:
            return self._group(v)
        if isinstance(v, StreamedLiteral):
            raise RemoteProtocolError("expected a search key, got a streamed literal")
        raise RemoteProtocolError("expected a search key, got a string")

    def _group(self, values: list[Value]) -> SearchAnd:
        depth = self.depth + 1
        if depth > MAX_SEARCH_DEPTH:
            raise RemoteProtocolError("search keys nested too deeply")
        inner = SearchParser(values, ctx=self.ctx, charset=self.charset, depth=depth)
        keys: list[SearchKey] = []
        while inner.pos < len(values):
            keys.append(inner.key())
        if not keys:
            raise RemoteProtocolError("empty search key group")
        return SearchAnd(keys=tuple(keys))


def as_search_parser(cursor: Cursor) -> SearchParser:
    """Narrow the cursor a search key parser receives to the `SearchParser` it is.

    Raises:
        TypeError: The cursor is a plain `Cursor` (the parser was called directly, not
            through `parse_search_program`).
    """
    if isinstance(cursor, SearchParser):
        return cursor
    raise TypeError("search key parsers are called with a SearchParser")


def parse_search_charset(cursor: Cursor) -> str | None:
    """Consume an optional ``CHARSET charset`` prefix and return the charset as sent.

    RFC 9051 has ``charset = atom / quoted``, RFC 3501 an astring; both are read. Pass the
    result to `parse_search_program`, which answers an unsupported one.

    Raises:
        RemoteProtocolError: ``CHARSET`` without a charset.
    """
    if cursor.peek_atom() != "CHARSET":
        return None
    cursor.pos += 1
    v = cursor.next("charset")
    if type(v) is Literal8:
        raise RemoteProtocolError("expected charset, got a literal8")
    return as_astring(v, "charset").decode("ascii", "replace")


def parse_search_program(cursor: Cursor, ctx: ParseContext, charset: str | None) -> SearchKey:
    """Parse the search keys that make up the rest of the values.

    Args:
        cursor: Positioned at the first key (after any ``CHARSET``); every remaining value
            is consumed.
        ctx: The parse context; its registry holds the key parsers.
        charset: The CHARSET the command named (any case), or None.

    Returns:
        The single key, or a `SearchAnd` of the top-level keys when there are several.

    Raises:
        RemoteProtocolError: No key or a malformed one (``BAD``); an unsupported charset
            (``NO [BADCHARSET]``, RFC 9051 section 6.4.4).
    """
    if charset is not None:
        upper = charset.upper()
        if upper not in _CODECS:
            raise RemoteProtocolError(
                "unsupported charset; use US-ASCII or UTF-8", status="NO", code="BADCHARSET"
            )
        charset = upper
    values = cursor.values
    p = SearchParser(values, cursor.pos, ctx=ctx, charset=charset)
    first = p.key()
    if p.pos >= len(values):
        cursor.pos = p.pos
        return first
    keys = [first]
    while p.pos < len(values):
        keys.append(p.key())
    cursor.pos = p.pos
    return SearchAnd(keys=tuple(keys))


# -- the base keys, registered like an extension's ---------------------------------------------


def _parse_simple(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    return _SIMPLE_KEYS.get(name) or SearchSimple(name=name)


def _parse_text(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    return SearchText(name=name, value=as_search_parser(cursor).text(name))


def _parse_header(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    p = as_search_parser(cursor)
    field = p.text("header field name")
    return SearchHeader(field=field, value=p.text("header value"))


def _parse_date(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    return SearchDate(name=name, date=as_search_parser(cursor).date(name))


def _parse_size(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    return SearchSize(name=name, size=cursor.number(name, maximum=UINT63))


def _parse_keyword(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    if ctx.strict:
        # flag-keyword = atom: no backslash, no resp-specials.
        keyword = cursor.atom(name)
        if "\\" in keyword or not is_atom(keyword):
            raise RemoteProtocolError(f"invalid keyword after {name}")
    else:
        keyword = as_search_parser(cursor).text(name)
    return SearchKeyword(name=name, keyword=keyword)


def _parse_not(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    return SearchNot(key=as_search_parser(cursor).key())


def _parse_or(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    p = as_search_parser(cursor)
    left = p.key()
    return SearchOr(left=left, right=p.key())


def _parse_uid(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    return SearchUid(sequence_set=as_search_parser(cursor).sequence_set("UID set"))


def install(registry: Registry) -> None:
    """Register the SEARCH keys of RFC 9051 and RFC 3501 (section 6.4.4) in ``registry``."""
    keys = registry.search_keys
    for name in _SIMPLE_NAMES:
        keys[name] = _parse_simple
    for name in _TEXT_NAMES:
        keys[name] = _parse_text
    keys["HEADER"] = _parse_header
    for name in _DATE_NAMES:
        keys[name] = _parse_date
    for name in _SIZE_NAMES:
        keys[name] = _parse_size
    for name in _KEYWORD_NAMES:
        keys[name] = _parse_keyword
    keys["NOT"] = _parse_not
    keys["OR"] = _parse_or
    keys["UID"] = _parse_uid
