"""FETCH data items (RFC 9051 section 6.4.5) and FETCH responses (RFC 9051 section 7.5.2)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imap_wire._bodystructure import BodyStructure, parse_body_structure
from imap_wire._encoding import WireWriter
from imap_wire._envelope import Address, Envelope, parse_envelope
from imap_wire._fetch import (
    BinarySectionKey,
    BodySectionKey,
    FetchAttribute,
    FetchBinary,
    FetchBinarySize,
    FetchBody,
    FetchItem,
    FetchItemName,
    FetchMacro,
    FetchResponse,
    Section,
    SectionText,
    install,
    parse_fetch_attributes,
    parse_fetch_response,
    parse_plain_attribute,
    write_fetch_attributes,
)
from imap_wire._limits import Limits
from imap_wire._registry import ParseContext, Registry
from imap_wire._values import Cursor, Literal8, StreamedLiteral, Value, tokenize
from imap_wire.errors import LocalProtocolError, RemoteProtocolError


def _registry() -> Registry:
    registry = Registry()
    install(registry)
    return registry


REGISTRY = _registry()
STRICT = ParseContext(registry=REGISTRY, strict=True)
LENIENT = ParseContext(registry=REGISTRY, strict=False)
LIMITS = Limits()

H = SectionText.HEADER
HF = SectionText.HEADER_FIELDS
HFN = SectionText.HEADER_FIELDS_NOT
TEXT = SectionText.TEXT
MIME = SectionText.MIME


def values_of(text: bytes) -> list[Value]:
    return tokenize([text], [], LIMITS)


def frame(data: bytes) -> tuple[list[bytes], list[bytes | StreamedLiteral]]:
    """Split one written line into segments and literals, as the framer does."""
    segments: list[bytes] = []
    literals: list[bytes | StreamedLiteral] = []
    pos = 0
    while True:
        end = data.index(b"\r\n", pos)
        segment = data[pos:end]
        segments.append(segment)
        m = re.search(rb"~?\{([0-9]+)\+?\}\Z", segment)
        if m is None:
            assert end + 2 == len(data)
            return segments, literals
        size = int(m.group(1))
        literals.append(data[end + 2 : end + 2 + size])
        pos = end + 2 + size


def parse_line(data: bytes, ctx: ParseContext = STRICT) -> FetchResponse:
    """Parse a whole ``* n FETCH (...)`` line (CRLF included) as a client would."""
    segments, literals = frame(data)
    values = tokenize(segments, literals, LIMITS)
    assert values[0] == "*"
    assert values[2] == "FETCH"
    assert isinstance(values[1], str)
    return parse_fetch_response(int(values[1]), Cursor(values, 3), ctx)


def written(obj: FetchAttribute | FetchResponse | Section) -> bytes:
    w = WireWriter()
    obj.write(w)
    return w.getvalue()


def attrs_of(
    text: bytes, ctx: ParseContext = STRICT
) -> tuple[tuple[FetchAttribute, ...], FetchMacro | None]:
    (v,) = values_of(text)
    return parse_fetch_attributes(v, ctx)


def written_attrs(attrs: tuple[FetchAttribute, ...], macro: FetchMacro | None = None) -> bytes:
    w = WireWriter()
    write_fetch_attributes(w, attrs, macro)
    return w.getvalue()


# -- sections --------------------------------------------------------------------------------

# The part specifiers of RFC 9051 section 6.4.5.1's sample message, and the sections of
# the FETCH examples.
SECTIONS = [
    ("", Section()),
    ("HEADER", Section(text=H)),
    ("TEXT", Section(text=TEXT)),
    ("1", Section(part=(1,))),
    ("2", Section(part=(2,))),
    ("3", Section(part=(3,))),
    ("3.HEADER", Section(part=(3,), text=H)),
    ("3.TEXT", Section(part=(3,), text=TEXT)),
    ("3.1", Section(part=(3, 1))),
    ("3.2", Section(part=(3, 2))),
    ("4", Section(part=(4,))),
    ("4.1", Section(part=(4, 1))),
    ("4.1.MIME", Section(part=(4, 1), text=MIME)),
    ("4.2", Section(part=(4, 2))),
    ("4.2.HEADER", Section(part=(4, 2), text=H)),
    ("4.2.TEXT", Section(part=(4, 2), text=TEXT)),
    ("4.2.1", Section(part=(4, 2, 1))),
    ("4.2.2", Section(part=(4, 2, 2))),
    ("4.2.2.1", Section(part=(4, 2, 2, 1))),
    ("4.2.2.2", Section(part=(4, 2, 2, 2))),
    ("1.2.MIME", Section(part=(1, 2), text=MIME)),
    ("HEADER.FIELDS (DATE FROM)", Section(text=HF, fields=("DATE", "FROM"))),
    ("HEADER.FIELDS.NOT (Received)", Section(text=HFN, fields=("Received",))),
    ("2.HEADER.FIELDS (Subject)", Section(part=(2,), text=HF, fields=("Subject",))),
    ("4294967295", Section(part=(4294967295,))),
]


@pytest.mark.parametrize(("text", "section"), SECTIONS)
def test_section_parse_and_str(text: str, section: Section) -> None:
    assert Section.parse(text) == section
    assert Section.parse(f"[{text}]") == section
    assert str(section) == text
    assert written(section) == f"[{text}]".encode()


def test_section_keywords_are_case_insensitive() -> None:
    assert Section.parse("1.mime") == Section(part=(1,), text=MIME)
    assert Section.parse("header.fields.not (x-Spam)") == Section(text=HFN, fields=("x-Spam",))


def test_section_quoted_field_names() -> None:
    section = Section.parse('HEADER.FIELDS ("Date" X-Odd%Name "a\\"b")')
    assert section == Section(text=HF, fields=("Date", "X-Odd%Name", 'a"b'))
    assert str(section) == 'HEADER.FIELDS (Date "X-Odd%Name" "a\\"b")'
    assert Section.parse(str(section)) == section


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "1.0",
        "01",
        "1.",
        ".1",
        "1..2",
        "MIME",
        "HEADER.FIELDS",
        "HEADER.FIELDS ()",
        "HEADER.FIELDS DATE",
        "HEADER.FIELDS (DATE) x",
        "HEADER.FIELDS ((DATE))",
        'HEADER.FIELDS ("a:b")',
        'HEADER.FIELDS ("")',
        "HEADER x",
        "TEXT (DATE)",
        "1.2.BOGUS",
        "FOO",
        "4294967296",
        "12345678901",
        "1 HEADER",
        "HEADER.FIELDS (A {3}",
    ],
)
def test_section_parse_errors(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        Section.parse(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": MIME},
        {"text": HF},
        {"text": H, "fields": ("Date",)},
        {"fields": ("Date",)},
        {"part": (0,)},
        {"part": (2**32,)},
        {"text": HF, "fields": ("a:b",)},
        {"text": HF, "fields": ("a]",)},
        {"text": HF, "fields": ("a[",)},
        {"text": HF, "fields": ("",)},
        {"text": HF, "fields": ("caf\u00e9",)},
    ],
)
def test_impossible_sections_cannot_be_built(kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        Section(**kwargs)  # type: ignore[arg-type]


# -- command side ----------------------------------------------------------------------------

ALL_ITEMS = (FetchItem(name="FLAGS"), FetchItem(name="INTERNALDATE"), FetchItem(name="RFC822.SIZE"))

COMMAND_EXAMPLES: list[tuple[bytes, tuple[FetchAttribute, ...], bytes]] = [
    # RFC 9051 section 6.4.5: C: A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])
    (
        b"(FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
        (FetchItem(name="FLAGS"), FetchBody(section=Section(text=HF, fields=("DATE", "FROM")))),
        b"(FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
    ),
    # RFC 9051 section 6.4.4.1: C: A283 FETCH $ (UID INTERNALDATE FLAGS BODY.PEEK[HEADER])
    (
        b"(UID INTERNALDATE FLAGS BODY.PEEK[HEADER])",
        (
            FetchItem(name="UID"),
            FetchItem(name="INTERNALDATE"),
            FetchItem(name="FLAGS"),
            FetchBody(section=Section(text=H), peek=True),
        ),
        b"(UID INTERNALDATE FLAGS BODY.PEEK[HEADER])",
    ),
    # RFC 9051 section 6.4.9: C: A999 UID FETCH 4827313:4828442 FLAGS
    (b"FLAGS", (FetchItem(name="FLAGS"),), b"(FLAGS)"),
    # RFC 9051 section 8: C: a004 fetch 12 body[header]
    (b"body[header]", (FetchBody(section=Section(text=H)),), b"(BODY[HEADER])"),
    # RFC 7162 section 3.1.4.1: C: s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)
    (b"(FLAGS)", (FetchItem(name="FLAGS"),), b"(FLAGS)"),
    (
        b"BODY.PEEK[1.2.MIME]<0.1024>",
        (FetchBody(section=Section(part=(1, 2), text=MIME), peek=True, partial=(0, 1024)),),
        b"(BODY.PEEK[1.2.MIME]<0.1024>)",
    ),
    (b"BINARY.PEEK[1]", (FetchBinary(part=(1,), peek=True),), b"(BINARY.PEEK[1])"),
    (
        b"(BINARY[1.2]<100.200> BINARY.SIZE[1.2] BINARY[])",
        (
            FetchBinary(part=(1, 2), partial=(100, 200)),
            FetchBinarySize(part=(1, 2)),
            FetchBinary(),
        ),
        b"(BINARY[1.2]<100.200> BINARY.SIZE[1.2] BINARY[])",
    ),
    (
        b"(BODY[]<0.2048> BODY[] BODY BODYSTRUCTURE ENVELOPE RFC822.SIZE)",
        (
            FetchBody(partial=(0, 2048)),
            FetchBody(),
            FetchItem(name="BODY"),
            FetchItem(name="BODYSTRUCTURE"),
            FetchItem(name="ENVELOPE"),
            FetchItem(name="RFC822.SIZE"),
        ),
        b"(BODY[]<0.2048> BODY[] BODY BODYSTRUCTURE ENVELOPE RFC822.SIZE)",
    ),
    # RFC 3501 section 6.4.5: RFC822, RFC822.HEADER, RFC822.TEXT.
    (
        b"(rfc822 RFC822.HEADER RFC822.Text)",
        (
            FetchItem(name="RFC822"),
            FetchItem(name="RFC822.HEADER"),
            FetchItem(name="RFC822.TEXT"),
        ),
        b"(RFC822 RFC822.HEADER RFC822.TEXT)",
    ),
    (
        b'(BODY.PEEK[HEADER.FIELDS.NOT ("Received" X-Spam)]<10.20>)',
        (
            FetchBody(
                section=Section(text=HFN, fields=("Received", "X-Spam")),
                peek=True,
                partial=(10, 20),
            ),
        ),
        b"(BODY.PEEK[HEADER.FIELDS.NOT (Received X-Spam)]<10.20>)",
    ),
]


@pytest.mark.parametrize(("text", "attrs", "canonical"), COMMAND_EXAMPLES)
def test_fetch_attributes(text: bytes, attrs: tuple[FetchAttribute, ...], canonical: bytes) -> None:
    assert attrs_of(text) == (attrs, None)
    assert written_attrs(attrs) == canonical
    assert attrs_of(canonical) == (attrs, None)


@pytest.mark.parametrize(
    ("text", "macro"),
    [(b"ALL", FetchMacro.ALL), (b"full", FetchMacro.FULL), (b"Fast", FetchMacro.FAST)],
)
def test_macros(text: bytes, macro: FetchMacro) -> None:
    # RFC 9051 section 6.4.2: C: A003 FETCH 4 ALL; section 8: C: a003 fetch 12 full.
    assert attrs_of(text) == ((), macro)
    assert written_attrs((), macro) == macro.value.encode()


def test_macro_expansion() -> None:
    envelope, body = FetchItem(name="ENVELOPE"), FetchItem(name="BODY")
    assert FetchMacro.FAST.expand() == ALL_ITEMS
    assert FetchMacro.ALL.expand() == (*ALL_ITEMS, envelope)
    assert FetchMacro.FULL.expand() == (*ALL_ITEMS, envelope, body)


@pytest.mark.parametrize(
    "text",
    [
        b"()",
        b"(ALL)",
        b"(FLAGS FAST)",
        b"BOGUS",
        b"(FLAGS BOGUS)",
        b"MODSEQ",
        b"BODY.PEEK",
        b"BODY[MIME]",
        b"BODY[0]",
        b"BODY[HEADER.FIELDS]",
        b"BODY[HEADER.FIELDS ()]",
        b"BODY[]<0>",
        b"BODY[]<0.0>",
        b"BODY[]<1.2.3>",
        b"BODY[]<x.1>",
        b"BODY[]<0.99999999999999999999>",
        b"BODY[]x",
        b"BINARY",
        b"BINARY[HEADER]",
        b"BINARY[1.0]",
        b"BINARY.SIZE[1]<0.1>",
        b"BINARY.PEEK[1.MIME]",
        b"FLAGS[1]",
        b"UID<0.1>",
        b'"FLAGS"',
        b"(FLAGS (UID))",
        b"(FLAGS {3}",
        b"ENVELOPE[]",
    ],
)
def test_bad_fetch_attributes(text: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        (v,) = values_of(text)
        parse_fetch_attributes(v, STRICT)


def test_extension_attributes() -> None:
    registry = _registry()
    registry.fetch_attributes["MODSEQ"] = parse_plain_attribute

    def parse_preview(name: str, cursor: Cursor, ctx: ParseContext) -> FetchAttribute:
        # RFC 8970: PREVIEW [SP "(" preview-mod *(SP preview-mod) ")"]
        lazy = False
        v = cursor.peek()
        if type(v) is list:
            cursor.next("PREVIEW modifiers")
            lazy = v == ["LAZY"]
        return FetchItem(name="PREVIEW-LAZY" if lazy else "PREVIEW")

    registry.fetch_attributes["PREVIEW"] = parse_preview
    ctx = ParseContext(registry=registry)
    (v,) = values_of(b"(FLAGS modseq PREVIEW (LAZY) UID)")
    assert parse_fetch_attributes(v, ctx) == (
        (
            FetchItem(name="FLAGS"),
            FetchItem(name="MODSEQ"),
            FetchItem(name="PREVIEW-LAZY"),
            FetchItem(name="UID"),
        ),
        None,
    )
    with pytest.raises(RemoteProtocolError):
        attrs_of(b"(FLAGS MODSEQ)")  # not in the base registry


def test_response_keys() -> None:
    body = FetchBody(section=Section(part=(1,)), peek=True, partial=(0, 1024))
    assert body.response_key == BodySectionKey(section=Section(part=(1,)), origin=0)
    assert FetchBody().response_key == BodySectionKey()
    assert FetchBinary(part=(2,), partial=(5, 6)).response_key == BinarySectionKey(
        part=(2,), origin=5
    )
    assert str(BodySectionKey(section=Section(text=H), origin=0)) == "BODY[HEADER]<0>"
    assert str(BinarySectionKey(part=(1, 2))) == "BINARY[1.2]"


@pytest.mark.parametrize(
    ("attrs", "macro"),
    [
        ((), None),
        ((FetchItem(name="FLAGS"),), FetchMacro.ALL),
        ((FetchItem(name="A B"),), None),
        ((FetchBody(partial=(0, 0)),), None),
        ((FetchBody(partial=(-1, 5)),), None),
        ((FetchBinary(part=(0,)),), None),
        ((FetchBinarySize(part=(2**32,)),), None),
    ],
)
def test_unwritable_attributes(attrs: tuple[FetchAttribute, ...], macro: FetchMacro | None) -> None:
    with pytest.raises(LocalProtocolError):
        written_attrs(attrs, macro)


# -- responses: RFC examples -----------------------------------------------------------------

RFC9051_SAMPLE = (
    b'* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 4286 '
    b'ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev2 WG mtg summary and minutes" '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'((NIL NIL "imap" "cac.washington.edu")) '
    b'((NIL NIL "minutes" "CNRI.Reston.VA.US") '
    b'("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
    b'"<B27397-0100000@cac.washington.ed>") '
    b'BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92))\r\n'
)
TERRY = Address(name="Terry Gray", mailbox="gray", host="cac.washington.edu")


def test_rfc9051_sample_connection() -> None:
    for ctx in (STRICT, LENIENT):
        resp = parse_line(RFC9051_SAMPLE, ctx)
        assert resp.seq == 12
        assert resp.flags == ("\\Seen",)
        assert resp.internal_date == dt.datetime(
            1996, 7, 17, 2, 44, 25, tzinfo=dt.timezone(-dt.timedelta(hours=7))
        )
        assert resp.size == 4286
        assert resp.envelope == Envelope(
            date="Wed, 17 Jul 1996 02:23:25 -0700 (PDT)",
            subject="IMAP4rev2 WG mtg summary and minutes",
            from_=(TERRY,),
            sender=(TERRY,),
            reply_to=(TERRY,),
            to=(Address(mailbox="imap", host="cac.washington.edu"),),
            cc=(
                Address(mailbox="minutes", host="CNRI.Reston.VA.US"),
                Address(name="John Klensin", mailbox="KLENSIN", host="MIT.EDU"),
            ),
            message_id="<B27397-0100000@cac.washington.ed>",
        )
        assert resp.body is not None
        assert resp.body == parse_body_structure(
            values_of(b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)')[0]
        )
        assert resp.uid is None and resp.body_structure is None and resp.extra == {}
        # The writer leaves out the space between addresses the RFC's layout shows.
        assert parse_line(written(resp)) == resp


HEADER_342 = (
    b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    b"From: Terry Gray <gray@cac.washington.edu>\r\n"
    b"Subject: IMAP4rev2 WG mtg summary and minutes\r\n"
    b"To: imap@cac.washington.edu\r\n"
    b"cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
    b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
)


def test_rfc9051_body_header_literal() -> None:
    # S: * 12 FETCH (BODY[HEADER] {342} ... )
    assert len(HEADER_342) == 342
    line = b"* 12 FETCH (BODY[HEADER] {342}\r\n" + HEADER_342 + b")\r\n"
    resp = parse_line(line)
    assert resp.sections == {BodySectionKey(section=Section(text=H)): HEADER_342}
    assert resp.header == HEADER_342
    assert resp.section(Section(text=H)) == HEADER_342
    assert resp.body_text is None
    assert written(resp) == line


SIMPLE_RESPONSES: list[tuple[bytes, FetchResponse]] = [
    # RFC 9051 sections 6.4.6 and 8, RFC 3501 section 7.4.2.
    (b"* 2 FETCH (FLAGS (\\Deleted \\Seen))", FetchResponse(seq=2, flags=("\\Deleted", "\\Seen"))),
    (b"* 3 FETCH (FLAGS (\\Deleted))", FetchResponse(seq=3, flags=("\\Deleted",))),
    (
        b"* 4 FETCH (FLAGS (\\Deleted \\Flagged \\Seen))",
        FetchResponse(seq=4, flags=("\\Deleted", "\\Flagged", "\\Seen")),
    ),
    (
        b"* 12 FETCH (FLAGS (\\Seen \\Deleted))",
        FetchResponse(seq=12, flags=("\\Seen", "\\Deleted")),
    ),
    # RFC 9051 section 6.4.9 (UID FETCH).
    (
        b"* 23 FETCH (FLAGS (\\Seen) UID 4827313)",
        FetchResponse(seq=23, uid=4827313, flags=("\\Seen",)),
    ),
    (
        b"* 24 FETCH (FLAGS (\\Seen) UID 4827943)",
        FetchResponse(seq=24, uid=4827943, flags=("\\Seen",)),
    ),
    # RFC 9051 section 7.5.2.
    (
        b"* 23 FETCH (FLAGS (\\Seen) RFC822.SIZE 44827 UID 447)",
        FetchResponse(seq=23, uid=447, flags=("\\Seen",), size=44827),
    ),
    # RFC 3501 section 7.4.2.
    (
        b"* 23 FETCH (FLAGS (\\Seen) RFC822.SIZE 44827)",
        FetchResponse(seq=23, flags=("\\Seen",), size=44827),
    ),
    # RFC 9051 section 2.3.1.1.
    (
        b"* 14 FETCH (UID 1305 FLAGS (\\Seen \\Deleted))",
        FetchResponse(seq=14, uid=1305, flags=("\\Seen", "\\Deleted")),
    ),
    # RFC 7162 sections 3.1.3 and 3.1.4.
    (b"* 1 FETCH (UID 4 MODSEQ (12121231000))", FetchResponse(seq=1, uid=4, modseq=12121231000)),
    (b"* 50 FETCH (MODSEQ (12111230047))", FetchResponse(seq=50, modseq=12111230047)),
    (
        b"* 7 FETCH (MODSEQ (320162342) FLAGS (\\Seen \\Deleted))",
        FetchResponse(seq=7, modseq=320162342, flags=("\\Seen", "\\Deleted")),
    ),
    (
        b"* 101 FETCH (MODSEQ (303011130956) FLAGS ($Processed))",
        FetchResponse(seq=101, modseq=303011130956, flags=("$Processed",)),
    ),
    (
        b"* 1 FETCH (UID 4 MODSEQ (65402) FLAGS (\\Seen))",
        FetchResponse(seq=1, uid=4, modseq=65402, flags=("\\Seen",)),
    ),
    (b"* 1 FETCH (FLAGS ())", FetchResponse(seq=1, flags=())),
]


@pytest.mark.parametrize(("line", "expected"), SIMPLE_RESPONSES)
def test_simple_responses(line: bytes, expected: FetchResponse) -> None:
    for ctx in (STRICT, LENIENT):
        assert parse_line(line + b"\r\n", ctx) == expected
    canonical = written(expected)
    assert parse_line(canonical) == expected


def test_rfc7162_uppercase_flags_are_canonicalised() -> None:
    # RFC 7162 section 3.2: S: * 1 FETCH (MODSEQ (320172342) FLAGS (\SEEN))
    resp = parse_line(b"* 1 FETCH (MODSEQ (320172342) FLAGS (\\SEEN))\r\n")
    assert resp.flags == ("\\Seen",)


def test_written_order_and_shape() -> None:
    resp = FetchResponse(
        seq=7,
        uid=9,
        flags=("\\Seen", "$Label"),
        modseq=5,
        internal_date=dt.datetime(2024, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        size=100,
        binary_sizes={(1,): 30},
        sections={
            BodySectionKey(origin=0): b"abc",
            BodySectionKey(section=Section(part=(2,))): None,
        },
        binary={BinarySectionKey(part=(1,)): b"\x00\x01", BinarySectionKey(part=(3,)): b"\xff"},
        rfc822_text=b"t",
    )
    assert written(resp) == (
        b'* 7 FETCH (UID 9 FLAGS (\\Seen $Label) MODSEQ (5) INTERNALDATE " 3-Feb-2024 04:05:06 '
        b'+0000" RFC822.SIZE 100 BINARY.SIZE[1] 30 BODY[]<0> {3}\r\nabc BODY[2] NIL '
        b"BINARY[1] ~{2}\r\n\x00\x01 BINARY[3] {1}\r\n\xff RFC822.TEXT {1}\r\nt)\r\n"
    )
    assert parse_line(written(resp)) == resp


# -- responses: sections, literals, accessors --------------------------------------------------


def test_sections_and_origins() -> None:
    line = (
        b"* 3 FETCH (UID 8 BODY[]<0> {5}\r\nhello BODY[1.2.MIME] NIL "
        b'BODY[HEADER.FIELDS (date FROM)] "Date: x\r\n\r\n" BINARY[1]<10> ~{3}\r\na\x00b '
        b'BINARY.SIZE[2.1] 77 BINARY[] "x")\r\n'
    )
    segments, literals = frame(line.replace(b'"Date: x\r\n\r\n"', b"{11}\r\nDate: x\r\n\r\n"))
    values = tokenize(segments, literals, LIMITS)
    resp = parse_fetch_response(3, Cursor(values, 3), STRICT)
    assert resp.uid == 8
    assert resp.section(origin=0) == b"hello"
    assert resp.section() is None and resp.body_text is None
    assert resp.section(Section(part=(1, 2), text=MIME)) is None
    assert BodySectionKey(section=Section(part=(1, 2), text=MIME)) in resp.sections
    # Field names match case-insensitively.
    wanted = Section(text=HF, fields=("DATE", "from"))
    assert resp.section(wanted) == b"Date: x\r\n\r\n"
    assert resp.section(Section(text=HF, fields=("DATE",))) is None
    assert resp.binary_section((1,), origin=10) == b"a\x00b"
    assert isinstance(resp.binary_section((1,), origin=10), Literal8)
    assert resp.binary_section() == b"x"
    assert resp.binary_sizes == {(2, 1): 77}
    assert parse_line(written(resp)) == resp


def test_rfc822_items() -> None:
    line = b'* 1 FETCH (RFC822 {3}\r\nabc rfc822.header "h" RFC822.TEXT NIL)\r\n'
    resp = parse_line(line)
    assert (resp.rfc822, resp.rfc822_header, resp.rfc822_text) == (b"abc", b"h", None)


def test_streamed_literal_is_kept_and_cannot_be_written() -> None:
    placeholder = StreamedLiteral(size=10_000_000, index=0)
    values = tokenize([b"* 1 FETCH (UID 7 BODY[] {10000000}", b")"], [placeholder], LIMITS)
    resp = parse_fetch_response(1, Cursor(values, 3), STRICT)
    assert resp.body_text == placeholder
    with pytest.raises(LocalProtocolError):
        written(resp)


def test_body_structure_and_bodystructure() -> None:
    bs = b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)"MIXED")'
    line = b"* 1 FETCH (BODY " + bs + b" BODYSTRUCTURE " + bs + b")\r\n"
    resp = parse_line(line)
    assert resp.body == resp.body_structure == parse_body_structure(values_of(bs)[0])


# -- responses: tolerance and errors ----------------------------------------------------------


def test_lower_case_names() -> None:
    resp = parse_line(b'* 1 FETCH (uid 5 Flags (\\seen) body[text]<0> "x")\r\n', STRICT)
    assert resp == FetchResponse(
        seq=1,
        uid=5,
        flags=("\\Seen",),
        sections={BodySectionKey(section=Section(text=TEXT), origin=0): b"x"},
    )


def test_unknown_items_client_side() -> None:
    line = b'* 1 FETCH (UID 5 X-GM-MSGID 1278455344230334865 EMAILID (M6d99ac3) x-b[1] "v")\r\n'
    with pytest.raises(RemoteProtocolError):
        parse_line(line, STRICT)
    resp = parse_line(line, LENIENT)
    assert resp.uid == 5
    assert resp.extra == {
        "X-GM-MSGID": "1278455344230334865",
        "EMAILID": ["M6d99ac3"],
        "X-B[1]": b"v",
    }
    assert parse_line(written(resp), LENIENT) == resp


def test_malformed_known_items_client_side() -> None:
    line = b'* 1 FETCH (UID 5 INTERNALDATE "yesterday" RFC822.SIZE -1 BODY[0] "x" FLAGS (a\\b))\r\n'
    with pytest.raises(RemoteProtocolError):
        parse_line(line, STRICT)
    resp = parse_line(line, LENIENT)
    assert resp.uid == 5
    assert resp.internal_date is None and resp.size is None and resp.sections == {}
    assert resp.extra == {
        "INTERNALDATE": b"yesterday",
        "RFC822.SIZE": "-1",
        "BODY[0]": b"x",
        "FLAGS": ["a\\b"],
    }


def test_wrapped_items_client_side() -> None:
    # Lotus Domino wraps an item in its own parentheses (MailKit's domino test data).
    line = (
        b"* 2 FETCH (UID 14935 (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)) "
        b'BODYSTRUCTURE ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0 NIL))\r\n'
    )
    with pytest.raises(RemoteProtocolError):
        parse_line(line, STRICT)
    resp = parse_line(line, LENIENT)
    assert resp.uid == 14935 and resp.envelope == Envelope()
    assert resp.body_structure == parse_body_structure(
        values_of(b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0 NIL)')[0]
    )
    assert parse_line(b"* 1 FETCH ((UID 5) (FLAGS ()))\r\n", LENIENT) == FetchResponse(
        seq=1, uid=5, flags=()
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # No sign before the zone (IMAPClient's test data): read as "+".
        (b'"19-Feb-2007 17:08:08 0400"', dt.datetime(2007, 2, 19, 17, 8, 8, tzinfo=dt.timezone(
            dt.timedelta(hours=4)))),
        # Spaces around the value, an unpadded hour.
        (b'"  9-Feb-2007 7:08:08 -0430 "', dt.datetime(2007, 2, 9, 7, 8, 8, tzinfo=dt.timezone(
            -dt.timedelta(hours=4, minutes=30)))),
        (b"NIL", None),
    ],
)  # fmt: skip
def test_loose_internaldate_client_side(text: bytes, expected: dt.datetime | None) -> None:
    line = b"* 1 FETCH (UID 1 INTERNALDATE " + text + b")\r\n"
    with pytest.raises(RemoteProtocolError):
        parse_line(line, STRICT)
    resp = parse_line(line, LENIENT)
    assert resp.internal_date == expected and resp.extra == {}
    # Written back in the grammar's form.
    assert parse_line(written(resp), STRICT) == resp


def test_partial_range_echoed_whole_client_side() -> None:
    # WildDuck (issue #32) answered BODY[TEXT]<0.28> with the range, not just the origin.
    line = b"* 1 FETCH (BODY[TEXT]<0.4> {4}\r\nabcd BINARY[1]<2.2> {2}\r\nab)\r\n"
    with pytest.raises(RemoteProtocolError):
        parse_line(line, STRICT)
    resp = parse_line(line, LENIENT)
    assert resp.section(Section(text=TEXT), origin=0) == b"abcd"
    assert resp.binary_section((1,), origin=2) == b"ab"
    assert written(resp) == b"* 1 FETCH (BODY[TEXT]<0> {4}\r\nabcd BINARY[1]<2> {2}\r\nab)\r\n"


def test_extension_items() -> None:
    registry = _registry()

    def parse_emailid(name: str, v: Value, ctx: ParseContext) -> str:
        if type(v) is list and len(v) == 1 and type(v[0]) is str:
            return v[0]
        raise RemoteProtocolError("bad EMAILID")

    registry.fetch_items["EMAILID"] = parse_emailid
    ctx = ParseContext(registry=registry)
    resp = parse_line(b"* 1 FETCH (EMAILID (M6d99ac3) emailid (Mabc))\r\n", ctx)
    assert resp.extra == {"EMAILID": "Mabc"}


@pytest.mark.parametrize(
    "line",
    [
        b"* 1 FETCH",
        b"* 1 FETCH UID 5",
        b"* 1 FETCH (UID)",
        b"* 1 FETCH (UID 5) x",
        b"* 1 FETCH ((UID) 5)",
        b'* 1 FETCH ("UID" 5)',
        b"* 1 FETCH (UID 5 UID)",
        b"* 1 FETCH (UID 0)",
        b"* 1 FETCH (UID 4294967296)",
        b"* 1 FETCH (UID \xd9\xa3)",
        b"* 1 FETCH (UID " + b"9" * 5000 + b")",
        b"* 1 FETCH (RFC822.SIZE 9223372036854775808)",
        b"* 1 FETCH (MODSEQ 5)",
        b"* 1 FETCH (MODSEQ (5 6))",
        b"* 1 FETCH (MODSEQ (x))",
        b"* 1 FETCH (FLAGS \\Seen)",
        b"* 1 FETCH (FLAGS ((x)))",
        b"* 1 FETCH (INTERNALDATE 5)",
        b"* 1 FETCH (ENVELOPE NIL)",
        b"* 1 FETCH (BODYSTRUCTURE NIL)",
        b"* 1 FETCH (BODY[] (x))",
        b"* 1 FETCH (BODY[]<0.5> NIL)",
        b"* 1 FETCH (BODY[]<x> NIL)",
        b"* 1 FETCH (BODY[]x NIL)",
        b"* 1 FETCH (BODY[MIME] NIL)",
        b"* 1 FETCH (BINARY NIL)",
        b"* 1 FETCH (BINARY[TEXT] NIL)",
        b"* 1 FETCH (BINARY.SIZE[1] x)",
        b"* 1 FETCH (BINARY.SIZE[1]<0> 5)",
        b"* 1 FETCH (RFC822 5)",
        b"* 1 FETCH (X-UNKNOWN 5)",
    ],
)
def test_malformed_responses_strict(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_line(line + b"\r\n", STRICT)


@pytest.mark.parametrize(
    "line",
    [
        b"* 1 FETCH",
        b"* 1 FETCH UID 5",
        b"* 1 FETCH (UID)",
        b"* 1 FETCH ((UID 5) X)",
        b"* 1 FETCH (UID 5 (X))",
        b"* 1 FETCH ((UID) 5 X)",
    ],
)
def test_malformed_structure_is_an_error_client_side_too(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_line(line + b"\r\n", LENIENT)


def test_empty_fetch_data() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_line(b"* 1 FETCH ()\r\n", STRICT)
    resp = parse_line(b"* 1 FETCH ()\r\n", LENIENT)
    assert resp == FetchResponse(seq=1)
    with pytest.raises(LocalProtocolError):
        written(resp)


@pytest.mark.parametrize(
    "resp",
    [
        FetchResponse(seq=1),
        FetchResponse(seq=0, uid=1),
        FetchResponse(seq=1, uid=0),
        FetchResponse(seq=1, size=-1),
        FetchResponse(seq=1, flags=("a b",)),
        FetchResponse(seq=1, sections={BodySectionKey(): b"a\x00b"}),
        FetchResponse(seq=1, sections={BodySectionKey(): StreamedLiteral(size=3)}),
        FetchResponse(seq=1, rfc822=StreamedLiteral(size=3)),
        FetchResponse(seq=1, binary={BinarySectionKey(part=(0,)): b""}),
        FetchResponse(seq=1, binary_sizes={(1,): -1}),
        FetchResponse(seq=1, extra={"A B": "x"}),
        FetchResponse(seq=1, extra={"X": "a b"}),
        FetchResponse(seq=1, extra={"X": 1.5}),
        FetchResponse(seq=1, extra={"X": StreamedLiteral(size=1)}),
    ],
)
def test_unwritable_responses(resp: FetchResponse) -> None:
    with pytest.raises(LocalProtocolError):
        written(resp)


def test_registration() -> None:
    assert REGISTRY.numbered["FETCH"] is parse_fetch_response
    assert set(REGISTRY.fetch_items) >= {
        "UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY",
        "BINARY", "BINARY.SIZE", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "MODSEQ",
    }  # fmt: skip
    assert set(REGISTRY.fetch_attributes) == {n.value for n in FetchItemName} | {
        "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE",
    }  # fmt: skip


# -- round trips and fuzzing -----------------------------------------------------------------

ATOM_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '(){%*"\\][')
atoms = st.text(ATOM_CHARS, min_size=1, max_size=8)
nz32 = st.integers(1, 2**32 - 1)
num64 = st.integers(0, 2**63 - 1)
parts = st.lists(st.integers(1, 2**32 - 1), max_size=4).map(tuple)
field_names = st.text(
    "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ":[]"), min_size=1, max_size=10
)


@st.composite
def sections(draw: st.DrawFn) -> Section:
    part = draw(parts)
    choices: list[SectionText | None] = [None, H, HF, HFN, TEXT]
    if part:
        choices.append(MIME)
    text = draw(st.sampled_from(choices))
    fields: tuple[str, ...] = ()
    if text in (HF, HFN):
        fields = tuple(draw(st.lists(field_names, min_size=1, max_size=4)))
    return Section(part=part, text=text, fields=fields)


partials = st.none() | st.tuples(num64, st.integers(1, 2**63 - 1))
fetch_attributes: st.SearchStrategy[FetchAttribute] = st.one_of(
    st.sampled_from(list(FetchItemName)).map(lambda n: FetchItem(name=n)),
    st.builds(
        lambda s, p, r: FetchBody(section=s, peek=p, partial=r), sections(), st.booleans(), partials
    ),
    st.builds(
        lambda s, p, r: FetchBinary(part=s, peek=p, partial=r), parts, st.booleans(), partials
    ),
    parts.map(lambda p: FetchBinarySize(part=p)),
)


@settings(max_examples=150, deadline=None)
@given(sections())
def test_section_round_trip(section: Section) -> None:
    assert Section.parse(str(section)) == section
    (atom,) = values_of(b"BODY" + written(section))
    assert atom == "BODY" + f"[{section}]"


@settings(max_examples=150, deadline=None)
@given(st.lists(fetch_attributes, min_size=1, max_size=5).map(tuple))
def test_fetch_attributes_round_trip(attrs: tuple[FetchAttribute, ...]) -> None:
    (v,) = values_of(written_attrs(attrs))
    assert parse_fetch_attributes(v, STRICT) == (attrs, None)


ENVELOPES = [
    parse_envelope(values_of(text)[0])
    for text in (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev2 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" '
        b'"cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL '
        b'"imap" "cac.washington.edu")) ((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" '
        b'NIL "KLENSIN" "MIT.EDU")) NIL NIL "<B27397-0100000@cac.washington.ed>")',
        b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        b'("" "Re: \\"quoted\\" [x]" ((NIL NIL "group" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL '
        b'NIL "<a@b>" "<c@d>")',
    )
]
BODY_STRUCTURES: list[BodyStructure] = [
    parse_body_structure(values_of(text)[0])
    for text in (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 2279 48)',
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)("TEXT" "PLAIN" '
        b'("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" '
        b'"Compiler diff" "BASE64" 4554 73) "MIXED")',
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 1200 30 NIL NIL NIL '
        b'NIL)("text" "html" ("charset" "utf-8") NIL NIL "base64" 5000 70 NIL NIL NIL NIL) '
        b'"alternative" ("boundary" "xyz") NIL NIL NIL)',
    )
]
body_data = st.none() | st.binary(max_size=30).filter(lambda b: b"\x00" not in b)
dates = st.builds(
    lambda d, offset: d.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset))),
    st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
system_flags = st.sampled_from(["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"])
raw_values: st.SearchStrategy[Value] = st.recursive(
    atoms | st.binary(max_size=10),
    lambda children: st.lists(children, max_size=3),
    max_leaves=6,
)
extension_names = atoms.map(str.upper).filter(lambda n: n not in REGISTRY.fetch_items)


@st.composite
def fetch_responses(draw: st.DrawFn) -> FetchResponse:
    opt = st.booleans()
    return FetchResponse(
        seq=draw(nz32),
        uid=draw(st.none() | nz32),
        flags=draw(st.none() | st.lists(system_flags | atoms, max_size=4).map(tuple)),
        internal_date=draw(st.none() | dates),
        size=draw(st.none() | num64),
        envelope=draw(st.none() | st.sampled_from(ENVELOPES)) if draw(opt) else None,
        body_structure=draw(st.none() | st.sampled_from(BODY_STRUCTURES)),
        body=draw(st.none() | st.sampled_from(BODY_STRUCTURES[:2])),
        modseq=draw(st.none() | num64),
        sections=draw(
            st.dictionaries(
                st.builds(
                    lambda s, o: BodySectionKey(section=s, origin=o), sections(), st.none() | num64
                ),
                body_data,
                max_size=3,
            )
        ),
        binary=draw(
            st.dictionaries(
                st.builds(
                    lambda p, o: BinarySectionKey(part=p, origin=o), parts, st.none() | num64
                ),
                st.none() | st.binary(max_size=20),
                max_size=2,
            )
        ),
        binary_sizes=draw(st.dictionaries(parts, st.integers(0, 2**32 - 1), max_size=2)),
        rfc822=draw(body_data),
        rfc822_header=draw(body_data),
        rfc822_text=draw(body_data),
        extra=draw(st.dictionaries(extension_names, raw_values, max_size=2)),
    )


def _is_empty(resp: FetchResponse) -> bool:
    return written_or_none(resp) is None


def written_or_none(resp: FetchResponse) -> bytes | None:
    try:
        return written(resp)
    except LocalProtocolError:
        return None


@settings(max_examples=75, deadline=None)
@given(fetch_responses())
def test_fetch_response_round_trip(resp: FetchResponse) -> None:
    data = written_or_none(resp)
    if data is None:
        # Only a response without any item (or NIL-only RFC822 fields) cannot be written.
        assert not any(
            (
                resp.uid,
                resp.flags is not None,
                resp.internal_date,
                resp.size is not None,
                resp.envelope,
                resp.body_structure,
                resp.body,
                resp.modseq is not None,
                resp.sections,
                resp.binary,
                resp.binary_sizes,
                resp.rfc822,
                resp.rfc822_header,
                resp.rfc822_text,
                resp.extra,
            )
        )
        return
    ctx = LENIENT if resp.extra else STRICT
    assert parse_line(data, ctx) == resp


item_names = st.sampled_from(
    [
        "UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY",
        "MODSEQ", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "BODY[]", "BODY[1.MIME]<0>",
        "BODY[HEADER.FIELDS (A)]", "BINARY[1]", "BINARY.SIZE[1]", "BINARY[]<5>", "body[x]",
        "BODY[", "BINARY.SIZE[]<1>", "X-FOO", "flags", "NIL", "0", "\\Seen",
    ]
)  # fmt: skip
junk_values: st.SearchStrategy[Value] = st.recursive(
    item_names
    | st.sampled_from(["NIL", "0", "1", "4294967296", "\\Seen", "-1", "x"])
    | st.binary(max_size=8)
    | st.builds(StreamedLiteral, size=st.integers(0, 10)),
    lambda children: st.lists(children, max_size=4),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(item_names | junk_values, max_size=8))
def test_junk_responses_raise_only_protocol_errors(items: list[Value]) -> None:
    for ctx in (STRICT, LENIENT):
        try:
            resp = parse_fetch_response(1, Cursor([items]), ctx)
        except RemoteProtocolError:
            continue
        assert isinstance(resp, FetchResponse)


@settings(max_examples=150, deadline=None)
@given(junk_values)
def test_junk_attributes_raise_only_protocol_errors(v: Value) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parse_fetch_attributes(v, STRICT)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=30) | st.sampled_from(["1.2.HEADER.FIELDS (", 'HEADER.FIELDS ("', "1." * 5])
)
def test_junk_sections_raise_only_protocol_errors(text: str) -> None:
    with contextlib.suppress(RemoteProtocolError):
        Section.parse(text)
