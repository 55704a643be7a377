"""SEARCH criteria: RFC 9051 / RFC 3501 section 6.4.4, with ``$`` (RFC 5182)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imap_wire._encoding import WireWriter
from imap_wire._limits import Limits
from imap_wire._registry import ParseContext, Registry
from imap_wire._search import (
    MAX_SEARCH_DEPTH,
    SearchAnd,
    SearchCriteria,
    SearchDate,
    SearchHeader,
    SearchKey,
    SearchKeyword,
    SearchNot,
    SearchOr,
    SearchParser,
    SearchSequence,
    SearchSimple,
    SearchSize,
    SearchText,
    SearchUid,
    as_search_parser,
    install,
    needs_charset,
    parse_search_charset,
    parse_search_program,
    write_search_program,
)
from imap_wire._sequence_set import STAR, SequenceSet
from imap_wire._values import Cursor, Literal8, StreamedLiteral, Value, tokenize
from imap_wire.errors import LocalProtocolError, RemoteProtocolError


def _registry() -> Registry:
    registry = Registry()
    install(registry)
    return registry


REGISTRY = _registry()
STRICT = ParseContext(registry=REGISTRY)
TOLERANT = ParseContext(registry=REGISTRY, strict=False)

_ANNOUNCE = re.compile(rb"~?\{([0-9]+)\+?\}\r\n")


def values_of(wire: bytes) -> list[Value]:
    """Tokenize written octets, splitting out the literals the writer announced."""
    segments: list[bytes] = []
    literals: list[bytes | StreamedLiteral] = []
    pos = 0
    while m := _ANNOUNCE.search(wire, pos):
        segments.append(wire[pos : m.end() - 2])
        end = m.end() + int(m.group(1))
        literals.append(wire[m.end() : end])
        pos = end
    segments.append(wire[pos:])
    return tokenize(segments, literals, Limits())


def parse(
    wire: bytes, ctx: ParseContext = STRICT, charset: str | None = None
) -> tuple[str | None, SearchKey]:
    """Parse ``[CHARSET x] keys`` as a SEARCH command's arguments."""
    cursor = Cursor(values_of(wire))
    found = parse_search_charset(cursor)
    key = parse_search_program(cursor, ctx, found if found is not None else charset)
    assert cursor.at_end()
    return found, key


def key_of(wire: bytes, ctx: ParseContext = STRICT) -> SearchKey:
    return parse(wire, ctx)[1]


def written(key: SearchKey, *, charset: str | None = None, utf8: bool = False) -> bytes:
    w = WireWriter(utf8=utf8)
    write_search_program(w, key, charset=charset)
    return w.getvalue()


FEB_1 = dt.date(1994, 2, 1)


# -- the RFC examples --------------------------------------------------------------------------


def test_rfc_flagged_since_not_from() -> None:
    # RFC 3501 and RFC 9051 section 6.4.4 (the latter after RETURN (MIN COUNT) / RETURN ()).
    key = key_of(b'FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')
    assert key == SearchAnd(
        keys=(
            SearchSimple(name="FLAGGED"),
            SearchDate(name="SINCE", date=FEB_1),
            SearchNot(key=SearchText(name="FROM", value="Smith")),
        )
    )
    assert key == SearchCriteria.flagged() & SearchCriteria.since(FEB_1) & ~SearchCriteria.from_(
        "Smith"
    )
    assert written(key) == b"FLAGGED SINCE 1-Feb-1994 NOT FROM Smith"


def test_rfc_deleted_from_since() -> None:
    key = key_of(b'DELETED FROM "SMITH" SINCE 1-Feb-1994')
    assert key == SearchCriteria.deleted() & SearchCriteria.from_("SMITH") & SearchCriteria.since(
        FEB_1
    )


def test_rfc_text_not_in_mailbox() -> None:
    key = key_of(b'TEXT "string not in mailbox"')
    assert key == SearchText(name="TEXT", value="string not in mailbox")
    assert written(key) == b'TEXT "string not in mailbox"'


def test_rfc9051_charset_utf8_literal() -> None:
    # C: A285 SEARCH CHARSET UTF-8 TEXT {12} / C: отпуск
    text = "отпуск"
    assert len(text.encode()) == 12
    charset, key = parse(b"CHARSET UTF-8 TEXT {12}\r\n" + text.encode())
    assert charset == "UTF-8"
    assert key == SearchCriteria.text(text)
    assert needs_charset(key)
    assert written(key, charset="UTF-8") == b"CHARSET UTF-8 TEXT {12}\r\n" + text.encode()


def test_rfc3501_charset_utf8_literal() -> None:
    # C: A284 SEARCH CHARSET UTF-8 TEXT {6} / C: XXXXXX (6 octets of 8-bit data)
    data = "ÄÖÜ".encode()
    assert len(data) == 6
    charset, key = parse(b"CHARSET UTF-8 TEXT {6}\r\n" + data)
    assert charset == "UTF-8"
    assert key == SearchText(name="TEXT", value="ÄÖÜ")


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (b"UNSEEN", SearchCriteria.unseen()),
        (b"1:5000", SearchCriteria.sequence((1, 5000))),
        (b"DELETED", SearchCriteria.deleted()),
    ],
)
def test_rfc9051_return_option_examples(wire: bytes, expected: SearchKey) -> None:
    # SEARCH RETURN (MIN) UNSEEN; UID SEARCH RETURN (MIN MAX) 1:5000; SEARCH RETURN (COUNT) DELETED
    assert key_of(wire) == expected
    assert written(expected) == wire


def test_rfc5182_saved_result_examples() -> None:
    # Example 3: UID SEARCH UID $ SMALLER 4096, or UID SEARCH $ SMALLER 4096.
    assert key_of(b"UID $ SMALLER 4096") == SearchCriteria.uid(
        SequenceSet.saved()
    ) & SearchCriteria.smaller(4096)
    assert key_of(b"$ SMALLER 4096") == SearchAnd(
        keys=(SearchSequence(sequence_set=SequenceSet.saved()), SearchCriteria.smaller(4096))
    )
    # Example 4: SEARCH CHARSET UTF-8 (OR $ 1,3000:3021) TEXT {8}
    data = b"YYYYYYYY"
    charset, key = parse(b"CHARSET UTF-8 (OR $ 1,3000:3021) TEXT {8}\r\n" + data)
    assert charset == "UTF-8"
    group = SearchCriteria.and_(
        SearchCriteria.sequence(SequenceSet.saved()) | SearchCriteria.sequence(1, (3000, 3021))
    )
    # `&` flattens ANDs (associative), so the group is kept by building the AND directly.
    assert key == SearchAnd(keys=(group, SearchCriteria.text("YYYYYYYY")))
    assert group & SearchCriteria.text("YYYYYYYY") == SearchAnd(
        keys=(*group.keys, SearchCriteria.text("YYYYYYYY"))
    )
    assert written(key) == b"(OR $ 1,3000:3021) TEXT YYYYYYYY"
    # Example 6: SEARCH RETURN (SAVE) SINCE 28-Oct-2006 NOT FROM "Eric"
    assert key_of(b'SINCE 28-Oct-2006 NOT FROM "Eric"') == SearchCriteria.since(
        dt.date(2006, 10, 28)
    ) & ~SearchCriteria.from_("Eric")


def test_rfc5182_unsupported_charset() -> None:
    # Example 5: SEARCH CHARSET KOI8-R (OR $ 1,3000:3021) TEXT {4} -> NO [BADCHARSET ...]
    with pytest.raises(RemoteProtocolError) as info:
        parse(b"CHARSET KOI8-R (OR $ 1,3000:3021) TEXT {4}\r\nXXXX")
    assert info.value.status == "NO"
    assert info.value.code == "BADCHARSET"


# -- every key ---------------------------------------------------------------------------------

EVERY_KEY: list[tuple[bytes, SearchKey]] = [
    (b"ALL", SearchCriteria.all()),
    (b"ANSWERED", SearchCriteria.answered()),
    (b"BCC bob", SearchCriteria.bcc("bob")),
    (b"BEFORE 1-Feb-1994", SearchCriteria.before(FEB_1)),
    (b"BODY swim", SearchCriteria.body("swim")),
    (b"CC carol", SearchCriteria.cc("carol")),
    (b"DELETED", SearchCriteria.deleted()),
    (b"DRAFT", SearchCriteria.draft()),
    (b"FLAGGED", SearchCriteria.flagged()),
    (b"FROM alice", SearchCriteria.from_("alice")),
    (b"HEADER Message-ID <a@b>", SearchCriteria.header("Message-ID", "<a@b>")),
    (b"KEYWORD $Forwarded", SearchCriteria.keyword("$Forwarded")),
    (b"LARGER 1024", SearchCriteria.larger(1024)),
    (b"NEW", SearchCriteria.new()),
    (b"NOT SEEN", SearchCriteria.not_(SearchCriteria.seen())),
    (b"OLD", SearchCriteria.old()),
    (b"ON 31-Dec-2023", SearchCriteria.on(dt.date(2023, 12, 31))),
    (b"OR SEEN FLAGGED", SearchCriteria.or_(SearchCriteria.seen(), SearchCriteria.flagged())),
    (b"RECENT", SearchCriteria.recent()),
    (b"SEEN", SearchCriteria.seen()),
    (b"SENTBEFORE 1-Jan-2000", SearchCriteria.sent_before(dt.date(2000, 1, 1))),
    (b"SENTON 29-Feb-2024", SearchCriteria.sent_on(dt.date(2024, 2, 29))),
    (b"SENTSINCE 9-Sep-1999", SearchCriteria.sent_since(dt.date(1999, 9, 9))),
    (b"SINCE 1-Feb-1994", SearchCriteria.since(FEB_1)),
    (b"SMALLER 9223372036854775807", SearchCriteria.smaller(2**63 - 1)),
    (b"SUBJECT hello", SearchCriteria.subject("hello")),
    (b"TEXT world", SearchCriteria.text("world")),
    (b"TO dave", SearchCriteria.to("dave")),
    (b"UID 1:*", SearchCriteria.uid((1, "*"))),
    (b"UNANSWERED", SearchCriteria.unanswered()),
    (b"UNDELETED", SearchCriteria.undeleted()),
    (b"UNDRAFT", SearchCriteria.undraft()),
    (b"UNFLAGGED", SearchCriteria.unflagged()),
    (b"UNKEYWORD $Junk", SearchCriteria.unkeyword("$Junk")),
    (b"UNSEEN", SearchCriteria.unseen()),
    (b"2,4:7,9,12:*", SearchCriteria.sequence(SequenceSet.parse("2,4:7,9,12:*"))),
    (b"$", SearchCriteria.sequence(SequenceSet.saved())),
    (b"(SEEN)", SearchCriteria.and_(SearchCriteria.seen())),
    (
        b"(SEEN UNDELETED) ALL",
        SearchAnd(
            keys=(
                SearchCriteria.and_(SearchCriteria.seen(), SearchCriteria.undeleted()),
                SearchCriteria.all(),
            )
        ),
    ),
]


@pytest.mark.parametrize(("wire", "expected"), EVERY_KEY, ids=[w.decode() for w, _ in EVERY_KEY])
def test_every_key(wire: bytes, expected: SearchKey) -> None:
    assert key_of(wire) == expected
    assert written(expected) == wire
    # Key names are case-insensitive.
    assert key_of(wire.lower()) == key_of(wire) or wire.lower() != wire


def test_every_base_key_is_registered() -> None:
    names = {w.split()[0].decode() for w, _ in EVERY_KEY if w[:1].isalpha()}
    assert names == set(REGISTRY.search_keys)
    assert len(names) == 35


def test_lower_case_keys_and_arguments() -> None:
    assert key_of(b'or seen not from "x"') == SearchCriteria.seen() | ~SearchCriteria.from_("x")
    assert key_of(b"since 1-feb-1994") == SearchCriteria.since(FEB_1)
    assert key_of(b"uid 5") == SearchCriteria.uid(5)


def test_quoted_date_and_quoted_or_literal_strings() -> None:
    assert key_of(b'SINCE "1-Feb-1994"') == SearchCriteria.since(FEB_1)
    assert key_of(b'HEADER "Content-Type" "text/plain"') == SearchCriteria.header(
        "Content-Type", "text/plain"
    )
    assert key_of(b"SUBJECT {3}\r\nabc") == SearchCriteria.subject("abc")
    assert key_of(b'HEADER X-Spam ""') == SearchCriteria.header("X-Spam", "")


def test_nested_structure_is_kept() -> None:
    wire = b"OR (SEEN FLAGGED) NOT (OR 1:3 UID 5,7) ((ALL)) SMALLER 0"
    key = key_of(wire)
    assert key == SearchAnd(
        keys=(
            SearchOr(
                left=SearchAnd(keys=(SearchCriteria.seen(), SearchCriteria.flagged())),
                right=SearchNot(
                    key=SearchAnd(
                        keys=(
                            SearchOr(
                                left=SearchCriteria.sequence((1, 3)), right=SearchCriteria.uid(5, 7)
                            ),
                        )
                    )
                ),
            ),
            SearchAnd(keys=(SearchAnd(keys=(SearchCriteria.all(),)),)),
            SearchCriteria.smaller(0),
        )
    )
    assert written(key) == wire


def test_top_level_group_round_trips() -> None:
    # A single parenthesised top-level key stays a group; several keys become one AND.
    assert key_of(b"(SEEN FLAGGED)") == SearchAnd(
        keys=(SearchCriteria.seen(), SearchCriteria.flagged())
    )
    assert (
        written(SearchAnd(keys=(SearchCriteria.seen(), SearchCriteria.flagged())))
        == b"SEEN FLAGGED"
    )
    assert written(SearchCriteria.and_(SearchCriteria.seen())) == b"(SEEN)"
    assert key_of(b"(SEEN)") == SearchCriteria.and_(SearchCriteria.seen())


def test_parse_starts_at_the_cursor_and_consumes_everything() -> None:
    cursor = Cursor(values_of(b'A1 SEARCH CHARSET us-ascii SEEN FROM "x"'))
    assert cursor.atom("tag") == "A1"
    assert cursor.keyword("command") == "SEARCH"
    charset = parse_search_charset(cursor)
    assert charset == "us-ascii"
    key = parse_search_program(cursor, STRICT, charset)
    assert key == SearchCriteria.seen() & SearchCriteria.from_("x")
    assert cursor.at_end()


def test_no_charset_prefix() -> None:
    cursor = Cursor(values_of(b"SEEN"))
    assert parse_search_charset(cursor) is None
    assert cursor.pos == 0
    with pytest.raises(RemoteProtocolError):
        parse_search_charset(Cursor(values_of(b"CHARSET")))


# -- constructors and operators ----------------------------------------------------------------


def test_operators() -> None:
    a, b, c = SearchCriteria.seen(), SearchCriteria.flagged(), SearchCriteria.draft()
    assert a & b == SearchAnd(keys=(a, b))
    assert (a & b) & c == SearchAnd(keys=(a, b, c))
    assert a & (b & c) == SearchAnd(keys=(a, b, c))
    assert a | b == SearchOr(left=a, right=b)
    assert ~a == SearchNot(key=a)
    assert written(~(a | b) & c) == b"NOT OR SEEN FLAGGED DRAFT"


def test_constructors_validate() -> None:
    with pytest.raises(LocalProtocolError):
        SearchCriteria.larger(-1)
    with pytest.raises(LocalProtocolError):
        SearchCriteria.smaller(2**63)
    with pytest.raises(LocalProtocolError):
        SearchCriteria.and_()
    with pytest.raises(LocalProtocolError):
        SearchCriteria.sequence()
    with pytest.raises(LocalProtocolError):
        SearchCriteria.uid(0)
    with pytest.raises(LocalProtocolError):
        SearchCriteria.uid(SequenceSet.saved(), 5)
    assert SearchCriteria.since(dt.datetime(1994, 2, 1, 23, 59)) == SearchCriteria.since(FEB_1)
    assert SearchCriteria.sequence(1, 2, 3, 5).sequence_set == SequenceSet.parse("1:3,5")
    assert SearchCriteria.uid(SequenceSet.parse("7:5")).sequence_set.ranges == ((7, 5),)


def test_writer_refuses_invalid_keys() -> None:
    for key in (
        SearchAnd(keys=()),
        SearchSimple(name="NOT A KEY"),
        SearchKeyword(name="KEYWORD", keyword="\\Seen"),
        SearchKeyword(name="KEYWORD", keyword=""),
        SearchSize(name="LARGER", size=-1),
        SearchSize(name="LARGER", size=2**63),
        SearchSequence(sequence_set=SequenceSet()),
        SearchUid(sequence_set=SequenceSet(ranges=((1, 2**32),))),
    ):
        with pytest.raises(LocalProtocolError):
            written(key)


def test_non_ascii_is_written_as_a_literal_or_utf8_quoted() -> None:
    key = SearchCriteria.subject("café")
    assert written(key, charset="UTF-8") == b"CHARSET UTF-8 SUBJECT {5}\r\ncaf\xc3\xa9"
    assert written(key, utf8=True) == b'SUBJECT "caf\xc3\xa9"'


def test_needs_charset() -> None:
    assert not needs_charset(SearchCriteria.from_("alice") & SearchCriteria.seen())
    assert needs_charset(
        SearchCriteria.not_(SearchCriteria.or_(SearchCriteria.seen(), SearchCriteria.body("naïve")))
    )
    assert needs_charset(SearchCriteria.header("Über", ""))
    assert not needs_charset(
        SearchCriteria.since(FEB_1) | SearchCriteria.uid(1) | SearchCriteria.larger(5)
    )


# -- charsets and 8-bit text -------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["UTF-8", "utf-8", "US-ASCII", "us-ascii", None])
def test_supported_charsets(charset: str | None) -> None:
    cursor = Cursor(values_of(b"TEXT abc"))
    assert parse_search_program(cursor, STRICT, charset) == SearchCriteria.text("abc")


@pytest.mark.parametrize("charset", ["KOI8-R", "ISO-8859-1", "UTF8", ""])
def test_unsupported_charsets(charset: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_search_program(Cursor(values_of(b"TEXT abc")), STRICT, charset)
    assert (info.value.status, info.value.code) == ("NO", "BADCHARSET")


def test_quoted_charset() -> None:
    assert parse(b'CHARSET "UTF-8" SEEN') == ("UTF-8", SearchCriteria.seen())


def test_8bit_without_charset_is_utf8() -> None:
    assert key_of(b"TEXT {2}\r\n\xc3\xa9") == SearchCriteria.text("é")
    # Not UTF-8: kept losslessly (surrogateescape), so it writes back unchanged.
    key = key_of(b"TEXT {2}\r\n\xe9t")
    assert isinstance(key, SearchText)
    assert key.value.encode("utf-8", "surrogateescape") == b"\xe9t"
    assert written(key) == b"TEXT {2}\r\n\xe9t"


def test_8bit_with_an_explicit_charset_must_match_when_strict() -> None:
    with pytest.raises(RemoteProtocolError):
        parse(b"CHARSET US-ASCII TEXT {2}\r\n\xc3\xa9")
    with pytest.raises(RemoteProtocolError):
        parse(b"CHARSET UTF-8 TEXT {2}\r\n\xe9t")
    assert parse(b"CHARSET US-ASCII TEXT {2}\r\n\xc3\xa9", TOLERANT)[1] == SearchCriteria.text("é")
    assert parse(b"CHARSET UTF-8 TEXT {1}\r\n\xe9", TOLERANT)[1] == SearchCriteria.text("\udce9")


def test_8bit_atoms() -> None:
    with pytest.raises(RemoteProtocolError):
        key_of("TEXT café".encode())
    assert key_of("TEXT café".encode(), TOLERANT) == SearchCriteria.text("café")
    # UTF8=ACCEPT extends quoted strings only (RFC 9755 section 3): atoms stay ASCII.
    utf8 = ParseContext(registry=REGISTRY, utf8=True)
    with pytest.raises(RemoteProtocolError):
        key_of("TEXT café".encode(), utf8)
    assert key_of('TEXT "café"'.encode(), utf8) == SearchCriteria.text("café")


@pytest.mark.parametrize("text", [b"SUBJECT a*b", b"SUBJECT a%", b"FROM a\\b", b"HEADER X* y"])
def test_atoms_outside_astring_char_are_refused_when_strict(text: bytes) -> None:
    # astring = 1*ASTRING-CHAR / string: no list-wildcards, no "\\" (RFC 9051 section 9).
    with pytest.raises(RemoteProtocolError, match="invalid character"):
        key_of(text)
    key_of(text, TOLERANT)
    assert key_of(b"SUBJECT a]b[c]") == SearchCriteria.subject("a]b[c]")


def test_keyword_arguments() -> None:
    with pytest.raises(RemoteProtocolError):
        key_of(b'KEYWORD "$Forwarded"')
    with pytest.raises(RemoteProtocolError):
        key_of(b"KEYWORD \\Seen")
    assert key_of(b'KEYWORD "$Forwarded"', TOLERANT) == SearchCriteria.keyword("$Forwarded")
    assert key_of(b"UNKEYWORD nonjunk") == SearchCriteria.unkeyword("nonjunk")


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"()",
        b"(SEEN ())",
        b"BOGUS",
        b"SEEN BOGUS",
        b'"SEEN"',
        b"FROM",
        b"FROM (x)",
        b"HEADER Subject",
        b"NOT",
        b"OR SEEN",
        b"UID",
        b"UID abc",
        b'UID "1:3"',
        b"UID 0",
        b"0",
        b"1:2:3",
        b"*x",
        b"SINCE 31-Feb-1994",
        b"SINCE 1-Foo-1994",
        b"SINCE 1994-02-01",
        b"SINCE (1-Feb-1994)",
        b"BEFORE",
        b"LARGER -1",
        b"LARGER x",
        b'LARGER "5"',
        b"SMALLER 9223372036854775808",
        b"KEYWORD",
        b"KEYWORD (x)",
        b"CHARSET UTF-8",
    ],
)
def test_malformed_criteria(wire: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse(wire)
    assert info.value.status == "BAD"


def test_streamed_literal_is_refused() -> None:
    values: list[Value] = ["TEXT", StreamedLiteral(size=10_000_000)]
    with pytest.raises(RemoteProtocolError):
        parse_search_program(Cursor(values), STRICT, None)
    with pytest.raises(RemoteProtocolError):
        parse_search_program(Cursor([StreamedLiteral(size=1)]), STRICT, None)


def test_literal8_argument_is_refused_when_strict() -> None:
    # RFC 3516 allows a literal8 only as APPEND's message (and in FETCH BINARY responses).
    values: list[Value] = ["TEXT", Literal8(b"abc")]
    with pytest.raises(RemoteProtocolError, match="literal8"):
        parse_search_program(Cursor(values), STRICT, None)
    assert parse_search_program(Cursor(values), TOLERANT, None) == SearchCriteria.text("abc")
    with pytest.raises(RemoteProtocolError, match="literal8"):
        parse_search_charset(Cursor(["CHARSET", Literal8(b"UTF-8"), "ALL"]))
    with pytest.raises(RemoteProtocolError):
        parse_search_program(Cursor(["SINCE", Literal8(b"1-Feb-1994")]), TOLERANT, None)


def test_deep_not_chain_is_refused_without_recursion_error() -> None:
    with pytest.raises(RemoteProtocolError):
        key_of(b"NOT " * 100_000 + b"ALL")
    with pytest.raises(RemoteProtocolError):
        key_of(b"OR ALL " * 100_000 + b"ALL")


def test_depth_limit_boundary() -> None:
    key = key_of(b"NOT " * (MAX_SEARCH_DEPTH - 1) + b"ALL")
    for _ in range(MAX_SEARCH_DEPTH - 1):
        assert isinstance(key, SearchNot)
        key = key.key
    assert key == SearchCriteria.all()
    with pytest.raises(RemoteProtocolError):
        key_of(b"NOT " * MAX_SEARCH_DEPTH + b"ALL")


def test_groups_count_towards_the_depth() -> None:
    depth = 40  # under the tokenizer's parenthesis limit
    key_of(b"(" * depth + b"SEEN" + b")" * depth)
    with pytest.raises(RemoteProtocolError):
        key_of(b"(NOT " * depth + b"NOT " * (MAX_SEARCH_DEPTH - 2 * depth) + b"SEEN" + b")" * depth)


# -- extensions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Fuzzy(SearchKey):
    """``FUZZY search-key`` (RFC 6203): an extension key wrapping a nested key."""

    key: SearchKey

    def write(self, w: WireWriter) -> None:
        w.raw(b"FUZZY ")
        self.key.write(w)


@dataclass(frozen=True, slots=True, kw_only=True)
class Older(SearchKey):
    """``OLDER interval`` (RFC 5032)."""

    seconds: int

    def write(self, w: WireWriter) -> None:
        w.raw(b"OLDER ")
        w.number(self.seconds)


def _parse_fuzzy(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    return Fuzzy(key=as_search_parser(cursor).key())


def _parse_older(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
    return Older(seconds=cursor.number("interval", minimum=1))


def _extended() -> ParseContext:
    registry = REGISTRY.copy()
    registry.search_keys["FUZZY"] = _parse_fuzzy
    registry.search_keys["OLDER"] = _parse_older
    return ParseContext(registry=registry)


def test_extension_keys() -> None:
    ctx = _extended()
    key = key_of(b'FUZZY SUBJECT "hello" NOT OLDER 3600', ctx)
    assert key == SearchAnd(
        keys=(Fuzzy(key=SearchCriteria.subject("hello")), SearchNot(key=Older(seconds=3600)))
    )
    assert written(key) == b"FUZZY SUBJECT hello NOT OLDER 3600"
    # Not known to the base registry.
    with pytest.raises(RemoteProtocolError):
        key_of(b"OLDER 3600")


def test_extension_nesting_is_bounded() -> None:
    with pytest.raises(RemoteProtocolError):
        key_of(b"FUZZY " * 10_000 + b"ALL", _extended())


def test_extension_keys_see_the_charset() -> None:
    def parse_x(name: str, cursor: Cursor, ctx: ParseContext) -> SearchKey:
        p = as_search_parser(cursor)
        assert p.charset == "UTF-8"
        assert p.ctx is ctx
        return SearchText(name="X", value=p.text("x"))

    registry = REGISTRY.copy()
    registry.search_keys["X"] = parse_x
    ctx = ParseContext(registry=registry)
    assert parse_search_program(Cursor(["X", b"\xc3\xa9"]), ctx, "utf-8") == SearchText(
        name="X", value="é"
    )


def test_as_search_parser_refuses_a_plain_cursor() -> None:
    with pytest.raises(TypeError):
        as_search_parser(Cursor([]))
    p = SearchParser(["SEEN"], ctx=STRICT)
    assert as_search_parser(p) is p
    assert p.key() == SearchCriteria.seen()
    assert p.at_end()


def test_an_extension_returning_garbage_is_a_programming_error() -> None:
    registry = REGISTRY.copy()
    registry.search_keys["BAD"] = lambda name, cursor, ctx: "not a key"
    with pytest.raises(TypeError):
        parse_search_program(Cursor(["BAD"]), ParseContext(registry=registry), None)


# -- property tests ----------------------------------------------------------------------------

# No NUL: only a literal8 may hold one (RFC 9051 section 9, note 3), and SEARCH has none.
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
# ATOM-CHAR, less "[": the tokenizer reads "[" in an atom as the start of a section.
atom = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='(){%*"\\[]'),
    min_size=1,
    max_size=10,
)
seq_number = st.one_of(st.integers(1, 2**32 - 1), st.integers(1, 20), st.just(STAR))
sequence_sets = st.one_of(
    st.lists(st.tuples(seq_number, seq_number), min_size=1, max_size=4).map(
        lambda r: SequenceSet(ranges=tuple(r))
    ),
    st.just(SequenceSet.saved()),
)
leaves: st.SearchStrategy[SearchKey] = st.one_of(
    st.sampled_from(
        [
            *("ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN"),
            *("UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN"),
        ]
    ).map(lambda n: SearchSimple(name=n)),
    st.builds(
        SearchText,
        name=st.sampled_from(["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"]),
        value=text,
    ),
    st.builds(SearchHeader, field=text, value=text),
    st.builds(
        SearchDate,
        name=st.sampled_from(["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"]),
        date=st.dates(),
    ),
    st.builds(
        SearchSize, name=st.sampled_from(["LARGER", "SMALLER"]), size=st.integers(0, 2**63 - 1)
    ),
    st.builds(SearchKeyword, name=st.sampled_from(["KEYWORD", "UNKEYWORD"]), keyword=atom),
    st.builds(SearchSequence, sequence_set=sequence_sets),
    st.builds(SearchUid, sequence_set=sequence_sets),
)
search_keys = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(SearchNot, key=children),
        st.builds(SearchOr, left=children, right=children),
        st.lists(children, min_size=1, max_size=4).map(lambda k: SearchAnd(keys=tuple(k))),
    ),
    max_leaves=12,
)


@settings(max_examples=200)
@given(search_keys, st.booleans())
def test_round_trip(key: SearchKey, utf8: bool) -> None:
    charset = "UTF-8" if needs_charset(key) else None
    wire = written(key, charset=charset, utf8=utf8)
    ctx = ParseContext(registry=REGISTRY, utf8=utf8)
    found, parsed = parse(wire, ctx)
    assert found == charset
    assert parsed == key


soup_atoms = st.one_of(
    st.sampled_from(
        [
            *sorted(REGISTRY.search_keys),
            *("1", "0", "*", "$", "1:*", "1-Feb-1994", "31-Feb-1994", "NIL", "CHARSET", "-5"),
            *("99999999999999999999", "", "\\Seen", "caf\udce9", "é"),
        ]
    ),
    st.text(max_size=6),
)
soup_leaves: st.SearchStrategy[Value] = st.one_of(
    soup_atoms, st.binary(max_size=6), st.builds(Literal8, st.binary(max_size=3))
)
# Two levels of lists are enough to reach groups in groups; deeper nesting is tested above.
soup: st.SearchStrategy[Value] = st.one_of(
    soup_leaves,
    st.lists(st.one_of(soup_leaves, st.lists(soup_leaves, max_size=3)), max_size=4),
)


@settings(max_examples=150)
@given(
    st.lists(soup, max_size=8),
    st.sampled_from([None, "UTF-8", "us-ascii", "KOI8-R"]),
    st.sampled_from([STRICT, TOLERANT, ParseContext(registry=REGISTRY, utf8=True)]),
)
def test_parse_raises_only_remote_protocol_error(
    values: list[Value], charset: str | None, ctx: ParseContext
) -> None:
    try:
        key = parse_search_program(Cursor(values), ctx, charset)
    except RemoteProtocolError:
        return
    assert isinstance(key, SearchKey)


@settings(max_examples=200)
@given(st.binary(max_size=40))
def test_random_octets_raise_only_remote_protocol_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parse(data)
