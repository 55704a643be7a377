"""Tests of imap_server.fetching: macros, plans, responses, and their wire form."""

from __future__ import annotations

import base64
import datetime as _dt
import time
from collections.abc import Sequence

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_server import message
from imap_server.fetching import (
    FetchPlan,
    UnknownTransferEncoding,
    build_fetch_response,
    expand_macro,
    fetch_plan,
)
from imap_server.message import parse_message
from imap_server.store import BytesBody, MessageData, Want
from imap_wire import (
    BinarySectionKey,
    BodySectionKey,
    FetchAttribute,
    FetchBinary,
    FetchBinarySize,
    FetchBody,
    FetchItem,
    FetchMacro,
    Section,
    SectionText,
    WireWriter,
    encode_response,
    parse_command,
    parse_response,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


UTC = _dt.UTC
DATE = _dt.datetime(1996, 7, 17, 2, 44, 25, tzinfo=_dt.timezone(_dt.timedelta(hours=-7)))

# The message of RFC 9051 section 8 (its header is exactly the 342 octets the RFC shows; the
# body is made to the 3028 octets and 92 lines its BODY reports).
RFC_HEADER = (
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
RFC_BODY = b"x" * 31 + b"\r\n"
RFC_MESSAGE = RFC_HEADER + RFC_BODY * 91 + b"y" * 23 + b"\r\n"

MULTIPART = (
    b"From: a@example.org\r\n"
    b"Subject: parts\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XX"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"hello\r\n"
    b"--XX\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes(b"bin\x00ary\xff") + b"--XX\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes("caf\u00e9".encode()) + b"--XX\r\n"
    b"Content-Type: application/x-thing\r\n"
    b"Content-Transfer-Encoding: x-uuencode\r\n"
    b"\r\n"
    b"begin 644 x\r\n"
    b"--XX\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--XX--\r\n"
)


def msg(
    data: bytes = RFC_MESSAGE,
    *,
    uid: int = 447,
    flags: Sequence[str] = ("\\Seen",),
    size: int | None = None,
    want: Want = Want.STRUCTURE | Want.BODY,
) -> MessageData:
    return MessageData(
        uid=uid,
        flags=frozenset(flags),
        modseq=7,
        internal_date=DATE,
        size=len(data) if size is None else size,
        parsed=parse_message(data) if want & Want.STRUCTURE else None,
        body=BytesBody(data) if want & Want.BODY else None,
    )


def attributes(line: str) -> tuple[FetchAttribute, ...]:
    """The attributes of ``a FETCH 1 <line>``, parsed by the codec as the server does."""
    command = parse_command(b"a FETCH 1 " + line.encode() + b"\r\n")
    macro = getattr(command, "macro", None)
    if macro is not None:
        return expand_macro(macro)
    result: tuple[FetchAttribute, ...] = command.attributes  # type: ignore[attr-defined]
    return result


def plan(line: str, *, uid_command: bool = False) -> FetchPlan:
    return fetch_plan(attributes(line), uid_command=uid_command)


async def fetch(line: str, message_data: MessageData, seq: int = 1, **kw: object) -> bytes:
    response = await build_fetch_response(message_data, seq, plan(line), **kw)  # type: ignore[arg-type]
    data = encode_response(response)
    assert parse_response(data) == response
    return data


# -- macros -------------------------------------------------------------------------------


def names_of(items: Sequence[FetchAttribute]) -> list[str]:
    out = []
    for item in items:
        w = WireWriter()
        item.write(w)
        out.append(w.getvalue().decode())
    return out


def test_expand_macro() -> None:
    assert names_of(expand_macro(FetchMacro.FAST)) == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert names_of(expand_macro(FetchMacro.ALL)) == [
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
    ]
    assert names_of(expand_macro("full")) == [
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODY",
    ]
    with pytest.raises(ValueError):
        expand_macro("MOST")


# -- plans --------------------------------------------------------------------------------


def test_uid_added_first_for_uid_commands() -> None:
    p = plan("(FLAGS)", uid_command=True)
    assert names_of(p.attributes) == ["UID", "FLAGS"]
    assert names_of(plan("(FLAGS UID)", uid_command=True).attributes) == ["FLAGS", "UID"]
    assert names_of(plan("(FLAGS)").attributes) == ["FLAGS"]


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("(FLAGS UID INTERNALDATE RFC822.SIZE)", Want.META),
        ("FAST", Want.META),
        ("(ENVELOPE)", Want.STRUCTURE),
        ("(BODY)", Want.STRUCTURE),
        ("(BODYSTRUCTURE FLAGS)", Want.STRUCTURE),
        ("ALL", Want.STRUCTURE),
        ("FULL", Want.STRUCTURE),
        ("(BODY[])", Want.BODY),
        ("(BODY.PEEK[]<0.100>)", Want.BODY),
        ("(RFC822)", Want.BODY),
        ("(BODY[TEXT])", Want.BODY | Want.STRUCTURE),
        ("(BODY.PEEK[1])", Want.BODY | Want.STRUCTURE),
        ("(BODY[HEADER.FIELDS (DATE)])", Want.BODY | Want.STRUCTURE),
        ("(RFC822.HEADER)", Want.BODY | Want.STRUCTURE),
        ("(RFC822.TEXT)", Want.BODY | Want.STRUCTURE),
        ("(BINARY[1])", Want.BODY | Want.STRUCTURE),
        ("(BINARY.SIZE[1])", Want.BODY | Want.STRUCTURE),
        ("(ENVELOPE BODY[])", Want.BODY | Want.STRUCTURE),
    ],
)
def test_want(line: str, want: Want) -> None:
    assert plan(line).want == want


@pytest.mark.parametrize(
    ("line", "sets_seen"),
    [
        ("(FLAGS ENVELOPE BODYSTRUCTURE BODY)", False),
        ("(BODY[])", True),
        ("(BODY[1.MIME])", True),
        ("(BODY.PEEK[])", False),
        ("(BINARY[1])", True),
        ("(BINARY.PEEK[1])", False),
        ("(BINARY.SIZE[1])", False),
        ("(RFC822)", True),
        ("(RFC822.TEXT)", True),
        ("(RFC822.HEADER)", False),
        ("(RFC822.SIZE)", False),
        ("(BODY.PEEK[] BINARY.PEEK[1] BODY[TEXT])", True),
    ],
)
def test_sets_seen(line: str, sets_seen: bool) -> None:
    assert plan(line).sets_seen is sets_seen


class CustomAttribute(FetchAttribute):
    __slots__ = ()

    def write(self, w: WireWriter) -> None:
        w.raw(b"X-CUSTOM")


def test_unknown_items_are_left_to_extensions() -> None:
    custom = CustomAttribute()
    p = fetch_plan([FetchItem(name="EMAILID"), custom, FetchItem(name="FLAGS")], uid_command=False)
    assert p.extensions == (FetchItem(name="EMAILID"), custom)
    assert p.want == Want.META


@pytest.mark.anyio
async def test_extra_items_go_into_the_response() -> None:
    p = fetch_plan([FetchItem(name="EMAILID"), FetchItem(name="UID")], uid_command=False)
    response = await build_fetch_response(
        msg(want=Want.META), 3, p, extra_items={"EMAILID": ["M6d99ac3275bb4e"]}
    )
    assert encode_response(response) == b"* 3 FETCH (UID 447 EMAILID (M6d99ac3275bb4e))\r\n"


# -- responses: RFC transcripts -----------------------------------------------------------


@pytest.mark.anyio
async def test_rfc9051_sample_fetch_full() -> None:
    data = await fetch("full", msg(size=4286), seq=12)
    # RFC 9051 section 8, lines joined; the RFC's envelope ends its message-id in ".ed>" (a
    # typo: the header it shows says ".edu>"), and its line break between two addresses is
    # editorial (the grammar has no space there).
    assert data == (
        b'* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE'
        b' 4286 ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"'
        b' "IMAP4rev2 WG mtg summary and minutes"'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' ((NIL NIL "imap" "cac.washington.edu"))'
        b' ((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU"))'
        b' NIL NIL "<B27397-0100000@cac.washington.edu>")'
        b' BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92))\r\n'
    )


@pytest.mark.anyio
async def test_rfc9051_sample_fetch_body_header() -> None:
    data = await fetch("body[header]", msg(), seq=12)
    assert data == b"* 12 FETCH (BODY[HEADER] {342}\r\n" + RFC_HEADER + b")\r\n"


@pytest.mark.anyio
async def test_rfc9051_uid_fetch_example() -> None:
    # C: A999 UID FETCH 4827313:4828442 FLAGS -> S: * 23 FETCH (FLAGS (\Seen) UID 4827313)
    p = plan("FLAGS", uid_command=True)
    response = await build_fetch_response(msg(uid=4827313, want=Want.META), 23, p)
    assert response == parse_response(b"* 23 FETCH (FLAGS (\\Seen) UID 4827313)\r\n")
    # The codec writes UID first (item order is free in RFC 9051).
    assert encode_response(response) == b"* 23 FETCH (UID 4827313 FLAGS (\\Seen))\r\n"


@pytest.mark.anyio
async def test_rfc9051_fetch_response_example() -> None:
    p = plan("(FLAGS RFC822.SIZE UID)")
    response = await build_fetch_response(msg(size=44827, want=Want.META), 23, p)
    assert response == parse_response(b"* 23 FETCH (FLAGS (\\Seen) RFC822.SIZE 44827 UID 447)\r\n")


# -- responses: rules ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_meta_only_needs_no_body_or_structure() -> None:
    # MODSEQ is CONDSTORE's (an extension registers its grammar): built directly here.
    items = [FetchItem(name=n) for n in ("FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "MODSEQ")]
    p = fetch_plan(items, uid_command=False)
    response = await build_fetch_response(msg(want=Want.META), 1, p)
    assert encode_response(response) == (
        b'* 1 FETCH (UID 447 FLAGS (\\Seen) MODSEQ (7) INTERNALDATE "17-Jul-1996 02:44:25'
        b' -0700" RFC822.SIZE 3370)\r\n'
    )


@pytest.mark.anyio
async def test_flags_given_and_sorted() -> None:
    m = msg(flags=("custom", "\\Seen", "$Junk", "\\Answered"), want=Want.META)
    response = await build_fetch_response(m, 1, plan("FLAGS"))
    assert response.flags == ("\\Answered", "\\Seen", "$Junk", "custom")
    given_flags = frozenset({"\\Seen", "\\Recent"})
    response = await build_fetch_response(m, 1, plan("FLAGS"), flags=given_flags)
    assert response.flags == ("\\Recent", "\\Seen")
    response = await build_fetch_response(msg(flags=(), want=Want.META), 1, plan("FLAGS"))
    assert encode_response(response) == b"* 1 FETCH (FLAGS ())\r\n"


@pytest.mark.anyio
async def test_partial_echoes_origin() -> None:
    data = bytes(range(32, 127)) * 15 + b"\r\n" * 37  # 1499 octets
    m = msg(data + b"!")
    assert len(data) + 1 == 1500
    # RFC 9051: BODY[]<0.2048> of a 1500-octet message is BODY[]<0> with 1500 octets.
    response = await build_fetch_response(m, 1, plan("BODY[]<0.2048>"))
    assert response.sections == {BodySectionKey(origin=0): data + b"!"}
    assert encode_response(response).startswith(b"* 1 FETCH (BODY[]<0> {1500}\r\n")
    response = await build_fetch_response(m, 1, plan("BODY.PEEK[]<10.5>"))
    assert response.section(Section(), origin=10) == data[10:15]
    # Starting beyond the end: an empty string.
    response = await build_fetch_response(m, 1, plan("BODY[]<5000.10>"))
    assert encode_response(response) == b"* 1 FETCH (BODY[]<5000> {0}\r\n)\r\n"
    # Partial of a section, on the parsed path.
    response = await build_fetch_response(msg(), 1, plan("BODY[HEADER]<0.4>"))
    assert encode_response(response) == b"* 1 FETCH (BODY[HEADER]<0> {4}\r\nDate)\r\n"


@pytest.mark.anyio
async def test_sections_of_a_multipart() -> None:
    m = msg(MULTIPART)
    response = await build_fetch_response(
        m,
        1,
        plan(
            "(BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[5.HEADER] BODY.PEEK[5.TEXT]"
            " BODY.PEEK[9] BODY.PEEK[1.TEXT] BODY.PEEK[HEADER.FIELDS (subject)])"
        ),
    )
    assert response.section(Section.parse("1")) == b"hello"
    assert response.section(Section.parse("1.MIME")) == (
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    assert response.section(Section.parse("5.HEADER")) == b"Subject: inner\r\n\r\n"
    assert response.section(Section.parse("5.TEXT")) == b"inner body"
    # Sections the message lacks: NIL.
    assert BodySectionKey(section=Section.parse("9")) in response.sections
    assert response.section(Section.parse("9")) is None
    assert response.section(Section.parse("1.TEXT")) is None
    # Header field names are echoed as asked.
    key = BodySectionKey(section=Section.parse("HEADER.FIELDS (subject)"))
    assert response.sections[key] == b"Subject: parts\r\n\r\n"
    wire = encode_response(response)
    assert b"BODY[9] NIL" in wire and b"BODY[HEADER.FIELDS (subject)] {18}" in wire


@pytest.mark.anyio
async def test_body_and_body_peek_share_one_item() -> None:
    response = await build_fetch_response(msg(), 1, plan("(BODY[TEXT] BODY.PEEK[TEXT])"))
    assert len(response.sections) == 1


@pytest.mark.anyio
async def test_rfc822_items() -> None:
    response = await build_fetch_response(msg(), 1, plan("(RFC822 RFC822.HEADER RFC822.TEXT)"))
    assert response.rfc822 == RFC_MESSAGE
    assert response.rfc822_header == RFC_HEADER
    assert response.rfc822_text == RFC_MESSAGE[len(RFC_HEADER) :]
    wire = encode_response(response)
    assert wire.startswith(b"* 1 FETCH (RFC822 {3370}\r\n" + RFC_MESSAGE + b" RFC822.HEADER {342}")
    assert parse_response(wire) == response


@pytest.mark.anyio
async def test_rfc822_header_of_a_message_without_body() -> None:
    m = msg(b"Subject: only a header\r\n")
    response = await build_fetch_response(m, 1, plan("(RFC822.HEADER RFC822.TEXT)"))
    assert response.rfc822_header == b"Subject: only a header\r\n"
    assert response.rfc822_text == b""


@pytest.mark.anyio
async def test_binary_literal8_only_with_nul() -> None:
    m = msg(MULTIPART)
    data = await fetch("(BINARY.PEEK[2] BINARY.PEEK[3] BINARY.SIZE[2] BINARY.SIZE[3])", m)
    assert b"BINARY[2] ~{8}\r\nbin\x00ary\xff" in data
    assert b"BINARY[3] {5}\r\ncaf\xc3\xa9" in data
    assert b"BINARY.SIZE[2] 8" in data and b"BINARY.SIZE[3] 5" in data
    response = await build_fetch_response(m, 1, plan("BINARY[2]<3.3>"))
    assert response.binary == {BinarySectionKey(part=(2,), origin=3): b"\x00ar"}


@pytest.mark.anyio
async def test_binary_of_missing_part() -> None:
    response = await build_fetch_response(msg(MULTIPART), 1, plan("(BINARY[7] BINARY.SIZE[7])"))
    assert response.binary_section((7,)) is None
    assert response.binary_sizes == {(7,): 0}
    assert encode_response(response) == b"* 1 FETCH (BINARY.SIZE[7] 0 BINARY[7] NIL)\r\n"


@pytest.mark.anyio
async def test_unknown_transfer_encoding_propagates() -> None:
    assert UnknownTransferEncoding is message.UnknownTransferEncoding
    for line in ("BINARY[4]", "BINARY.PEEK[4]<0.1>", "BINARY.SIZE[4]"):
        with pytest.raises(UnknownTransferEncoding):
            await build_fetch_response(msg(MULTIPART), 1, plan(line))
    # BODY is not decoded, so it does not care.
    response = await build_fetch_response(msg(MULTIPART), 1, plan("BODY.PEEK[4]"))
    assert response.section(Section.parse("4")) == b"begin 644 x"


@pytest.mark.anyio
async def test_nul_in_body_data_is_sent_as_0x80() -> None:
    raw = b"Subject: x\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\r\n"
    m = msg(raw)
    response = await build_fetch_response(m, 1, plan("(BODY[] BODY[TEXT] RFC822 BINARY[1])"))
    assert response.body_text == raw.replace(b"\x00", b"\x80")
    assert response.section(Section(text=SectionText.TEXT)) == b"a\x80b\r\n"
    assert response.rfc822 == raw.replace(b"\x00", b"\x80")
    assert response.binary_section((1,)) == b"a\x00b\r\n"  # BINARY keeps it: literal8
    wire = encode_response(response)
    assert b"BINARY[1] ~{5}" in wire
    assert parse_response(wire) == response


@pytest.mark.anyio
async def test_store_must_fill_what_the_plan_wants() -> None:
    with pytest.raises(ValueError, match="parsed"):
        await build_fetch_response(msg(want=Want.BODY), 1, plan("ENVELOPE"))
    with pytest.raises(ValueError, match="body"):
        await build_fetch_response(msg(want=Want.STRUCTURE), 1, plan("BODY[TEXT]"))


@pytest.mark.anyio
async def test_whole_message_needs_no_structure() -> None:
    response = await build_fetch_response(msg(want=Want.BODY), 1, plan("(BODY.PEEK[] RFC822)"))
    assert response.body_text == RFC_MESSAGE == response.rfc822


@pytest.mark.anyio
async def test_hot_path_speed() -> None:
    # FETCH 1:1000 (FLAGS UID): a sync's hot path. Loose bound: catches a per-message
    # regression by an order of magnitude, not machine noise.
    p = plan("(FLAGS UID)")
    messages = [msg(uid=i, want=Want.META) for i in range(1, 1001)]
    start = time.perf_counter()
    for seq, m in enumerate(messages, 1):
        await build_fetch_response(m, seq, p)
    assert time.perf_counter() - start < 0.25


# -- properties ---------------------------------------------------------------------------

_HEADER_LINES = st.lists(
    st.sampled_from(
        [
            b"From: A <a@example.org>",
            b"To: b@example.org, Group: c@x, d@y;",
            b"Subject: =?utf-8?q?caf=C3=A9?= \xc3\xa9",
            b"Date: Wed, 17 Jul 1996 02:23:25 -0700",
            b"Message-Id: <x@y>",
            b"X-Folded: a\r\n  b",
            b"Content-Language: en",
            b"Content-Disposition: attachment; filename*0=a; filename*1=b",
            b"Bogus line without colon",
            b"Content-Type: text/plain; charset=\x00",
        ]
    ),
    max_size=4,
)
_ENCODINGS = st.sampled_from([b"", b"base64", b"quoted-printable", b"7bit", b"binary", b"x-uu"])
_BODY = st.binary(max_size=40) | st.sampled_from(
    [b"aGVsbG8=\r\n", b"=41=\r\nB=ZZ", b"line\nbare lf\n", b"\x00\xff"]
)


@st.composite
def entities(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A MIME entity: header lines, then a leaf body, a multipart, or a message/rfc822."""
    lines = list(draw(_HEADER_LINES))
    kind = draw(st.sampled_from(["leaf", "leaf", "multi", "message"] if depth < 2 else ["leaf"]))
    if kind == "multi":
        boundary = draw(st.sampled_from([b"b1", b"b2", b"--"]))
        lines.append(b'Content-Type: multipart/mixed; boundary="' + boundary + b'"')
        parts = draw(st.lists(entities(depth + 1), max_size=3))
        body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
        if draw(st.booleans()):
            body += b"--" + boundary + b"--\r\n"
    elif kind == "message":
        lines.append(b"Content-Type: message/rfc822")
        body = draw(entities(depth + 1))
    else:
        lines.append(b"Content-Type: " + draw(st.sampled_from([b"text/plain", b"image/png"])))
        encoding = draw(_ENCODINGS)
        if encoding:
            lines.append(b"Content-Transfer-Encoding: " + encoding)
        body = draw(_BODY)
    newline = draw(st.sampled_from([b"\r\n", b"\n"]))
    return newline.join(lines) + newline + newline + body


_PARTS = st.lists(st.integers(1, 3), max_size=3).map(tuple)
_SECTIONS = st.builds(
    lambda part, text, fields: Section(
        part=part if text != SectionText.MIME or part else (1,),
        text=text,
        fields=fields if text in (SectionText.HEADER_FIELDS, SectionText.HEADER_FIELDS_NOT) else (),
    ),
    _PARTS,
    st.none() | st.sampled_from(list(SectionText)),
    st.lists(st.sampled_from(["Subject", "FROM", "x-folded"]), min_size=1, max_size=2).map(tuple),
)
_PARTIAL = st.none() | st.tuples(st.integers(0, 60), st.integers(1, 60))
_ATTRIBUTES = st.lists(
    st.sampled_from(
        [
            FetchItem(name=n)
            for n in (
                "UID",
                "FLAGS",
                "INTERNALDATE",
                "RFC822.SIZE",
                "ENVELOPE",
                "BODY",
                "BODYSTRUCTURE",
                "RFC822",
                "RFC822.HEADER",
                "RFC822.TEXT",
                "MODSEQ",
            )
        ]
    )
    | st.builds(FetchBody, section=_SECTIONS, peek=st.booleans(), partial=_PARTIAL)
    | st.builds(FetchBinary, part=_PARTS, peek=st.booleans(), partial=_PARTIAL)
    | st.builds(FetchBinarySize, part=_PARTS),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=entities(), items=_ATTRIBUTES, uid_command=st.booleans())
def test_fetch_never_fails_and_round_trips(
    data: bytes, items: list[FetchAttribute], uid_command: bool
) -> None:
    p = fetch_plan(items, uid_command=uid_command)
    m = MessageData(
        uid=9,
        flags=frozenset({"\\Seen", "$Label"}),
        modseq=3,
        internal_date=_dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
        size=len(data),
        parsed=parse_message(data),
        body=BytesBody(data),
    )
    binary = any(isinstance(i, FetchBinary | FetchBinarySize) for i in items)
    try:
        response = anyio.run(build_fetch_response, m, 5, p, backend="asyncio")
    except UnknownTransferEncoding:
        assert binary and b"x-uu" in data
        return
    wire = encode_response(response)
    assert parse_response(wire) == response
    if uid_command:
        assert response.uid == 9
    for key, value in response.sections.items():
        assert value is None or isinstance(value, bytes)
        assert value is None or b"\x00" not in value
        if key.section == Section() and value is not None:
            start = key.origin or 0
            assert value == data[start : start + len(value)].replace(b"\x00", b"\x80")


@settings(max_examples=100, deadline=None)
@given(data=entities())
def test_binary_size_matches_binary(data: bytes) -> None:
    parsed = parse_message(data)
    m = MessageData(
        uid=1,
        flags=frozenset(),
        modseq=1,
        internal_date=DATE,
        size=len(data),
        parsed=parsed,
        body=BytesBody(data),
    )
    for part in [(), (1,), (2,), (1, 1), (2, 1)]:
        p = fetch_plan([FetchBinary(part=part), FetchBinarySize(part=part)], uid_command=False)
        try:
            response = anyio.run(build_fetch_response, m, 1, p, backend="asyncio")
        except UnknownTransferEncoding:
            continue
        decoded = response.binary_section(part)
        assert decoded is None or isinstance(decoded, bytes)
        assert response.binary_sizes[part] == (0 if decoded is None else len(decoded))
