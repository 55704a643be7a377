"""Message parsing and section reads (`imap_server.message`): ENVELOPE and BODYSTRUCTURE
(RFC 9051 section 7.5.2), BODY[section] (section 6.4.5), BINARY (RFC 3516), SEARCH text."""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_server import message as message_module
from imap_server.message import (
    ParsedMessage,
    UnknownTransferEncoding,
    _addresses,
    _decode_words,
    _parse_addresses,
    binary_size,
    header_values,
    parse_message,
    read_binary,
    read_section,
    search_text,
)
from imap_server.store import BytesBody
from imap_wire import (
    Address,
    BodyStructure,
    Disposition,
    Envelope,
    FetchResponse,
    MultiPart,
    Section,
    SectionText,
    SinglePart,
    encode_response,
    parse_response,
    part_at,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def crlf(text: str) -> bytes:
    """Write a test message with CRLF line ends (the source uses LF)."""
    return text.encode().replace(b"\n", b"\r\n")


def run_section(data: bytes, spec: str, partial: tuple[int, int] | None = None) -> bytes | None:
    parsed = parse_message(data)
    return anyio.run(read_section, parsed, BytesBody(data), Section.parse(spec), partial)


def wire(parsed: ParsedMessage) -> bytes:
    return encode_response(
        FetchResponse(
            seq=1, envelope=parsed.envelope, body_structure=parsed.body_structure, body=parsed.body
        )
    )


def assert_wire_round_trip(parsed: ParsedMessage) -> None:
    response = FetchResponse(
        seq=1, envelope=parsed.envelope, body_structure=parsed.body_structure, body=parsed.body
    )
    assert parse_response(encode_response(response)) == response


US_ASCII = (("CHARSET", "US-ASCII"),)

# -- the RFC 9051 examples -----------------------------------------------------------------------

RFC_HEADER = crlf(
    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
    "From: Terry Gray <gray@cac.washington.edu>\n"
    "Subject: IMAP4rev2 WG mtg summary and minutes\n"
    "To: imap@cac.washington.edu\n"
    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
    "Message-Id: <B27397-0100000@cac.washington.edu>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
    "\n"
)
# 92 lines, 3028 octets, as the body of the example's message 12.
RFC_BODY = b"".join(b"%-30d\r\n" % i for i in range(91)) + b"x" * (3028 - 91 * 32 - 2) + b"\r\n"


def test_rfc9051_fetch_full_example() -> None:
    """The envelope and body of message 12 in RFC 9051 section 7.5.2's FETCH example."""
    assert len(RFC_HEADER) == 342 and len(RFC_BODY) == 3028
    parsed = parse_message(RFC_HEADER + RFC_BODY)
    envelope = encode_response(FetchResponse(seq=12, envelope=parsed.envelope, body=parsed.body))
    assert envelope == (
        b'* 12 FETCH (ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" '
        b'"IMAP4rev2 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) '
        b'NIL NIL "<B27397-0100000@cac.washington.edu>") '
        b'BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92))\r\n'
    )
    assert run_section(RFC_HEADER + RFC_BODY, "HEADER") == RFC_HEADER
    assert run_section(RFC_HEADER + RFC_BODY, "TEXT") == RFC_BODY
    assert run_section(RFC_HEADER + RFC_BODY, "1") == RFC_BODY
    assert run_section(RFC_HEADER + RFC_BODY, "HEADER.FIELDS (DATE FROM)") == crlf(
        "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
        "From: Terry Gray <gray@cac.washington.edu>\n\n"
    )


def part(ctype: str, body: str, *headers: str) -> str:
    return "".join(f"{h}\n" for h in (f"Content-Type: {ctype}", *headers)) + "\n" + body


def multipart(subtype: str, boundary: str, *parts: str, preamble: str = "") -> str:
    inner = "".join(f"--{boundary}\n{p}\n" for p in parts)
    return (
        f"Content-Type: multipart/{subtype}; boundary={boundary}\n\n"
        f"{preamble}{inner}--{boundary}--\n"
    )


def rfc822(subject: str, entity: str) -> str:
    return f"From: someone@example.com\nSubject: {subject}\n{entity}"


# The complex message of RFC 9051 section 6.4.5.1, every leaf holding its part number.
RFC_COMPLEX = crlf(
    rfc822(
        "outer",
        multipart(
            "mixed",
            "o",
            part("text/plain", "body 1"),
            part("application/octet-stream", "body 2"),
            part(
                "message/rfc822",
                rfc822(
                    "three",
                    multipart(
                        "mixed",
                        "t",
                        part("text/plain", "body 3.1"),
                        part("application/octet-stream", "body 3.2"),
                    ),
                ),
            ),
            multipart(
                "mixed",
                "f",
                part("image/gif", "body 4.1", "Content-ID: <gif@x>"),
                part(
                    "message/rfc822",
                    rfc822(
                        "four-two",
                        multipart(
                            "mixed",
                            "ft",
                            part("text/plain", "body 4.2.1"),
                            multipart(
                                "alternative",
                                "a",
                                part("text/plain", "body 4.2.2.1"),
                                part("text/richtext", "body 4.2.2.2"),
                            ),
                        ),
                    ),
                ),
            ).rstrip("\n"),
        ),
    )
)

RFC_COMPLEX_PARTS = {
    "1": "TEXT/PLAIN",
    "2": "APPLICATION/OCTET-STREAM",
    "3": "MESSAGE/RFC822",
    "3.1": "TEXT/PLAIN",
    "3.2": "APPLICATION/OCTET-STREAM",
    "4": "MULTIPART/MIXED",
    "4.1": "IMAGE/GIF",
    "4.2": "MESSAGE/RFC822",
    "4.2.1": "TEXT/PLAIN",
    "4.2.2": "MULTIPART/ALTERNATIVE",
    "4.2.2.1": "TEXT/PLAIN",
    "4.2.2.2": "TEXT/RICHTEXT",
}


def mime_type(bs: BodyStructure) -> str:
    if isinstance(bs, MultiPart):
        return f"MULTIPART/{bs.subtype}"
    return f"{bs.type}/{bs.subtype}"


@pytest.mark.parametrize(("spec", "expected"), RFC_COMPLEX_PARTS.items())
def test_rfc9051_part_numbers(spec: str, expected: str) -> None:
    parsed = parse_message(RFC_COMPLEX)
    found = part_at(parsed.body_structure, Section.parse(spec).part)
    assert found is not None and mime_type(found) == expected
    contents = run_section(RFC_COMPLEX, spec)
    assert contents is not None
    if expected.startswith(("TEXT", "APPLICATION", "IMAGE")):
        assert contents == f"body {spec}".encode()


def test_rfc9051_complex_sections() -> None:
    def get(spec: str) -> bytes | None:
        return run_section(RFC_COMPLEX, spec)

    assert get("HEADER") == crlf(
        "From: someone@example.com\nSubject: outer\nContent-Type: multipart/mixed; boundary=o\n\n"
    )
    text = get("TEXT")
    assert text is not None and text.startswith(b"--o\r\n") and text.endswith(b"--o--\r\n")
    assert get("3.HEADER") == crlf(
        "From: someone@example.com\nSubject: three\nContent-Type: multipart/mixed; boundary=t\n\n"
    )
    assert get("3.TEXT") == crlf(
        "--t\nContent-Type: text/plain\n\nbody 3.1\n"
        "--t\nContent-Type: application/octet-stream\n\nbody 3.2\n--t--\n"
    )
    assert get("3") == (get("3.HEADER") or b"") + (get("3.TEXT") or b"")
    assert get("4.1.MIME") == crlf("Content-Type: image/gif\nContent-ID: <gif@x>\n\n")
    assert get("4.2.HEADER.FIELDS (subject)") == b"Subject: four-two\r\n\r\n"
    four_two_text = get("4.2.TEXT")
    assert four_two_text is not None and four_two_text.startswith(b"--ft\r\n")
    assert get("4.2.2.1.MIME") == b"Content-Type: text/plain\r\n\r\n"
    assert get("3.MIME") == b"Content-Type: message/rfc822\r\n\r\n"
    # HEADER and TEXT only after message parts; numbers beyond the structure: NIL.
    for missing in ("1.HEADER", "4.TEXT", "4.1.HEADER.FIELDS (A)", "5", "4.3", "1.1", "3.3"):
        assert get(missing) is None, missing
    assert get("4.2.2.2.1") is None


def test_rfc9051_complex_body_structure_round_trips() -> None:
    parsed = parse_message(RFC_COMPLEX)
    assert_wire_round_trip(parsed)
    bs = parsed.body_structure
    three = part_at(bs, (3,))
    assert isinstance(three, SinglePart) and three.envelope is not None
    assert three.envelope.subject == "three"
    assert three.lines == 13
    assert three.size == len(run_section(RFC_COMPLEX, "3") or b"")


# -- realistic messages --------------------------------------------------------------------------

PLAIN = crlf(
    "Return-Path: <alice@example.com>\n"
    "Received: from mx.example.com (mx.example.com [192.0.2.1])\n"
    "\tby mail.example.org with ESMTPS id 123\n"
    "\tfor <bob@example.org>; Tue, 1 Oct 2024 10:00:00 +0000\n"
    "From: Alice <alice@example.com>\n"
    "To: Bob <bob@example.org>\n"
    "Subject: Lunch\n"
    " tomorrow?\n"
    "Date: Tue, 1 Oct 2024 09:59:00 +0000\n"
    "Message-ID: <lunch-1@example.com>\n"
    "\n"
    "Hi Bob,\n"
    "\n"
    "lunch tomorrow at noon?\n"
    "\n"
    "Alice\n"
)


def test_plain_message() -> None:
    parsed = parse_message(PLAIN)
    alice = (Address(name="Alice", mailbox="alice", host="example.com"),)
    assert parsed.envelope == Envelope(
        date="Tue, 1 Oct 2024 09:59:00 +0000",
        subject="Lunch tomorrow?",
        from_=alice,
        sender=alice,
        reply_to=alice,
        to=(Address(name="Bob", mailbox="bob", host="example.org"),),
        message_id="<lunch-1@example.com>",
    )
    body = PLAIN[PLAIN.index(b"\r\n\r\n") + 4 :]
    assert parsed.body_structure == SinglePart(
        type="TEXT",
        subtype="PLAIN",
        params=US_ASCII,
        encoding="7BIT",
        size=len(body),
        lines=5,
        extended=True,
    )
    assert parsed.body == replace(parsed.body_structure, extended=False)
    assert run_section(PLAIN, "1") == body
    assert run_section(PLAIN, "1.MIME") == run_section(PLAIN, "HEADER")
    assert run_section(PLAIN, "2") is None
    assert_wire_round_trip(parsed)


ALTERNATIVE = crlf(
    "From: news@example.com\n"
    "To: reader@example.org\n"
    "Subject: Weekly\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/alternative; boundary="=_alt_42"\n'
    "\n"
    "This is a multi-part message in MIME format.\n"
    "--=_alt_42\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Caf=C3=A9 news: the soft line=\n"
    " break joins.\n"
    "--=_alt_42\n"
    'Content-Type: text/html; charset="utf-8"\n'
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "<p>Café news</p>\n"
    "--=_alt_42--\n"
    "epilogue text\n"
)


def test_multipart_alternative() -> None:
    parsed = parse_message(ALTERNATIVE)
    bs = parsed.body_structure
    assert isinstance(bs, MultiPart)
    assert bs.subtype == "ALTERNATIVE" and bs.params == (("BOUNDARY", "=_alt_42"),)
    plain, html = bs.parts
    assert isinstance(plain, SinglePart) and isinstance(html, SinglePart)
    assert plain.encoding == "QUOTED-PRINTABLE" and plain.params == (("CHARSET", "utf-8"),)
    assert plain.lines == 2 and plain.size == len(
        b"Caf=C3=A9 news: the soft line=\r\n break joins."
    )
    assert html.subtype == "HTML" and html.encoding == "8BIT"
    assert html.size == len("<p>Café news</p>".encode())
    assert run_section(ALTERNATIVE, "2") == "<p>Café news</p>".encode()
    binary = anyio.run(read_binary, parsed, BytesBody(ALTERNATIVE), (1,))
    assert binary == "Café news: the soft line break joins.".encode()
    assert anyio.run(binary_size, parsed, BytesBody(ALTERNATIVE), (1,)) == len(binary)
    # The basic BODY form: no extension data anywhere.
    assert wire(parsed).count(b"BODY (") == 1
    assert b'BODY (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 45 2)' in (
        wire(parsed)
    )
    assert_wire_round_trip(parsed)


PDF = bytes(range(256)) * 5
PDF_B64 = base64.encodebytes(PDF).replace(b"\n", b"\r\n")
MIXED = (
    crlf(
        "From: =?iso-8859-1?q?J=F6rg?= <joerg@example.de>\n"
        "Sender: secretary@example.de\n"
        "Reply-To: replies@example.de\n"
        'To: team: ann@example.com, "Smith, Bo" <bo@example.com>;, solo@example.com\n'
        "Cc: undisclosed-recipients:;\n"
        "Bcc: hidden@example.com\n"
        "Subject: =?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?=\n"
        "In-Reply-To: <prev@example.de>\n"
        "Message-ID: <report@example.de>\n"
        "Content-Type: multipart/mixed;\n"
        ' boundary="mixed-boundary"\n'
        "Content-Language: de\n"
        "\n"
        "--mixed-boundary\n"
        "Content-Type: text/plain; format=flowed\n"
        "\n"
        "See the attached report.\n"
        "--mixed-boundary\n"
        "Content-Type: application/pdf; name=report.pdf\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment;\n"
        " filename*0*=utf-8''Bericht%20%C3%9C;\n"
        " filename*1*=.pdf; size=1280\n"
        "Content-ID: <report-pdf@example.de>\n"
        "Content-Description: The report\n"
        "Content-Language: de, en\n"
        "Content-Location: http://example.de/report.pdf\n"
        "\n"
    )
    + PDF_B64
    + crlf("--mixed-boundary--\n")
)


def test_multipart_mixed_with_attachment() -> None:
    parsed = parse_message(MIXED)
    envelope = parsed.envelope
    assert envelope.subject == "=?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?="  # raw, as IMAP wants
    assert envelope.from_ == (
        Address(name="=?iso-8859-1?q?J=F6rg?=", mailbox="joerg", host="example.de"),
    )
    assert envelope.sender == (Address(mailbox="secretary", host="example.de"),)
    assert envelope.reply_to == (Address(mailbox="replies", host="example.de"),)
    assert envelope.to == (
        Address(mailbox="team"),
        Address(mailbox="ann", host="example.com"),
        Address(name="Smith, Bo", mailbox="bo", host="example.com"),
        Address(),
        Address(mailbox="solo", host="example.com"),
    )
    assert envelope.to[0].is_group_start and envelope.to[3].is_group_end
    assert envelope.cc == (Address(mailbox="undisclosed-recipients"), Address())
    assert envelope.bcc == (Address(mailbox="hidden", host="example.com"),)
    assert envelope.in_reply_to == "<prev@example.de>"
    assert envelope.message_id == "<report@example.de>"

    bs = parsed.body_structure
    assert isinstance(bs, MultiPart) and bs.language == ("de",)
    text, pdf = bs.parts
    assert isinstance(text, SinglePart) and isinstance(pdf, SinglePart)
    assert text.params == (("CHARSET", "US-ASCII"), ("FORMAT", "flowed"))
    assert pdf == SinglePart(
        type="APPLICATION",
        subtype="PDF",
        params=(("NAME", "report.pdf"),),
        id="<report-pdf@example.de>",
        description="The report",
        encoding="BASE64",
        size=len(PDF_B64) - 2,  # the last line break belongs to the delimiter
        disposition=Disposition(
            type="ATTACHMENT",
            params=(("FILENAME*", "utf-8''Bericht%20%C3%9C.pdf"), ("SIZE", "1280")),
        ),
        language=("de", "en"),
        location="http://example.de/report.pdf",
        extended=True,
    )
    body = BytesBody(MIXED)
    assert anyio.run(read_binary, parsed, body, (2,)) == PDF
    assert anyio.run(read_binary, parsed, body, (2,), (1000, 500)) == PDF[1000:1280]
    assert anyio.run(binary_size, parsed, body, (2,)) == len(PDF)
    assert anyio.run(read_binary, parsed, body, ()) == MIXED
    assert anyio.run(read_binary, parsed, body, (3,)) is None
    assert anyio.run(binary_size, parsed, body, (3,)) is None
    assert run_section(MIXED, "2") == PDF_B64[:-2]
    assert_wire_round_trip(parsed)


FORWARD = (
    crlf(
        "From: carol@example.net\n"
        "To: dave@example.net\n"
        "Subject: Fwd: Lunch\n"
        "Content-Type: multipart/mixed; boundary=outer\n"
        "\n"
        "--outer\n"
        "Content-Type: text/plain\n"
        "\n"
        "Forwarding this.\n"
        "--outer\n"
        "Content-Type: message/rfc822\n"
        "Content-Disposition: inline\n"
        "\n"
    )
    + PLAIN.replace(b"Subject: Lunch\r\n tomorrow?", b"Subject: Lunch tomorrow?")
    + crlf("--outer--\n")
)


def test_nested_message() -> None:
    parsed = parse_message(FORWARD)
    bs = parsed.body_structure
    assert isinstance(bs, MultiPart)
    forwarded = bs.parts[1]
    assert isinstance(forwarded, SinglePart) and forwarded.is_message
    # The line break before the delimiter is not part of the forwarded message.
    inner = parse_message(
        PLAIN.replace(b"Subject: Lunch\r\n tomorrow?", b"Subject: Lunch tomorrow?")[:-2]
    )
    assert forwarded.envelope == inner.envelope
    assert forwarded.body == inner.body_structure
    assert forwarded.disposition == Disposition(type="INLINE")
    assert forwarded.lines == PLAIN.count(b"\n") - 1
    inner_body = b"Hi Bob,\r\n\r\nlunch tomorrow at noon?\r\n\r\nAlice"
    assert run_section(FORWARD, "2.TEXT") == inner_body
    assert run_section(FORWARD, "2.1") == inner_body
    assert run_section(FORWARD, "2.1.MIME") == run_section(FORWARD, "2.HEADER")
    assert run_section(FORWARD, "2.HEADER.FIELDS (SUBJECT)") == b"Subject: Lunch tomorrow?\r\n\r\n"
    assert run_section(FORWARD, "2.MIME") == crlf(
        "Content-Type: message/rfc822\nContent-Disposition: inline\n\n"
    )
    assert run_section(FORWARD, "2.2") is None
    assert_wire_round_trip(parsed)
    # The BODY form of the nested structure has no extension data either.
    nested = parsed.body
    assert isinstance(nested, MultiPart)
    forwarded_basic = nested.parts[1]
    assert isinstance(forwarded_basic, SinglePart) and forwarded_basic.body is not None
    assert not forwarded_basic.body.extended and forwarded_basic.disposition is None


def test_missing_headers() -> None:
    data = crlf("X-Note: nothing useful\n\nbody\n")
    parsed = parse_message(data)
    assert parsed.envelope == Envelope()
    assert parsed.body_structure == SinglePart(
        type="TEXT", subtype="PLAIN", params=US_ASCII, size=6, lines=1, extended=True
    )
    # An empty Sender or Reply-To is the From value too (RFC 9051 section 7.5.2).
    parsed = parse_message(crlf("From: a@b.c\nSender:\nReply-To: \nSubject:\n\n"))
    assert parsed.envelope.sender == parsed.envelope.from_ == parsed.envelope.reply_to
    assert parsed.envelope.subject == ""
    assert_wire_round_trip(parsed)


def test_lf_only_line_ends() -> None:
    for data in (PLAIN, ALTERNATIVE, MIXED, FORWARD, RFC_COMPLEX):
        lf = data.replace(b"\r\n", b"\n")
        crlf_parsed, lf_parsed = parse_message(data), parse_message(lf)
        assert lf_parsed.envelope == crlf_parsed.envelope
        assert [mime_type(p) for p in walk(lf_parsed.body_structure)] == [
            mime_type(p) for p in walk(crlf_parsed.body_structure)
        ]
        for path in all_paths(crlf_parsed.body_structure):
            spec = ".".join(map(str, path))
            crlf_part = run_section(data, spec)
            assert crlf_part is not None
            assert run_section(lf, spec) == crlf_part.replace(b"\r\n", b"\n")
    lf = PLAIN.replace(b"\r\n", b"\n")
    assert parse_message(lf).envelope.subject == "Lunch tomorrow?"
    assert run_section(lf, "HEADER.FIELDS (Subject)") == b"Subject: Lunch\n tomorrow?\n\n"


def test_no_header_body_separator() -> None:
    # A line that is not a header field starts the body.
    data = b"Subject: hi\r\nThis is the body.\r\n"
    parsed = parse_message(data)
    assert parsed.envelope.subject == "hi"
    assert run_section(data, "HEADER") == b"Subject: hi\r\n"
    assert run_section(data, "TEXT") == b"This is the body.\r\n"
    assert run_section(data, "HEADER.FIELDS (SUBJECT)") == b"Subject: hi\r\n\r\n"
    # No header at all: all body.
    assert run_section(b"just text", "TEXT") == b"just text"
    assert run_section(b"just text", "HEADER") == b""
    # A header and no body and no blank line: HEADER.FIELDS has no blank line either
    # (RFC 9051 section 6.4.5.1).
    assert run_section(b"Subject: only", "HEADER") == b"Subject: only"
    assert run_section(b"Subject: only", "HEADER.FIELDS (Subject)") == b"Subject: only\r\n"
    assert run_section(b"Subject: only\r\n", "HEADER.FIELDS (Subject)") == b"Subject: only\r\n"
    assert run_section(b"", "HEADER.FIELDS (Subject)") == b""
    assert run_section(b"", "") == b""
    assert run_section(b"", "1") == b""


def test_header_fields() -> None:
    data = crlf(
        "Received: one\n"
        "Subject: first\n"
        "  folded\n"
        "X-Tag : spaced name\n"
        "from: a@b.c\n"
        "Received: two\n"
        "\n"
        "body\n"
    )

    def fields(spec: str) -> bytes | None:
        return run_section(data, spec)

    assert fields("HEADER.FIELDS (FROM SUBJECT)") == crlf(
        "Subject: first\n  folded\nfrom: a@b.c\n\n"
    )
    assert fields("HEADER.FIELDS (x-tag)") == b"X-Tag : spaced name\r\n\r\n"
    assert fields("HEADER.FIELDS (received)") == b"Received: one\r\nReceived: two\r\n\r\n"
    assert fields("HEADER.FIELDS (Nope)") == b"\r\n"
    assert fields("HEADER.FIELDS.NOT (Received Subject x-tag)") == b"from: a@b.c\r\n\r\n"
    assert fields("HEADER.FIELDS.NOT (Nope)") == fields("HEADER")
    assert run_section(data, "HEADER.FIELDS (received)", (10, 18)) == b"one\r\nReceived: two"
    assert fields("HEADER.FIELDS (Sub)") == b"\r\n"  # a prefix is no match


def test_partial_reads() -> None:
    whole = run_section(PLAIN, "")
    assert whole == PLAIN
    assert run_section(PLAIN, "", (0, 10)) == PLAIN[:10]
    assert run_section(PLAIN, "", (len(PLAIN) - 3, 100)) == PLAIN[-3:]
    assert run_section(PLAIN, "", (len(PLAIN) + 5, 100)) == b""
    assert run_section(PLAIN, "TEXT", (4, 4)) == b"ob,\r"
    assert run_section(PLAIN, "1", (0, 2)) == b"Hi"
    assert run_section(PLAIN, "HEADER", (0, 12)) == b"Return-Path:"
    assert run_section(PLAIN, "5", (0, 2)) is None


class CountingBody:
    """A `Body` that records how many octets each read returned."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.octets_read = 0

    @property
    def size(self) -> int:
        return len(self.data)

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        chunk = self.data[start:end]
        self.octets_read += len(chunk)
        return chunk


@pytest.mark.anyio
async def test_large_message_reads_only_what_is_needed() -> None:
    attachment = bytes(range(256)) * 8192  # 2 MiB
    big = (
        crlf(
            "Subject: big\nContent-Type: multipart/mixed; boundary=b\n\n"
            "--b\nContent-Type: text/plain\n\n"
        )
        + b"line of text\r\n" * 400_000
        + crlf("--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
        + base64.encodebytes(attachment)
        + crlf("--b--\n")
    )
    parsed = parse_message(big)
    body = CountingBody(big)
    first = await read_section(parsed, body, Section(part=(1,)), (0, 100))
    assert first == (b"line of text\r\n" * 8)[:100]
    assert body.octets_read == 100
    body = CountingBody(big)
    assert await read_binary(parsed, body, (2,), (1000, 100)) == attachment[1000:1100]
    assert body.octets_read <= 64 * 1024
    body = CountingBody(big)
    assert await binary_size(parsed, body, (1,)) == 14 * 400_000 - 2
    assert body.octets_read == 0
    assert await binary_size(parsed, body, (2,)) == len(attachment)
    body = CountingBody(big)
    assert await read_section(parsed, body, Section(text=SectionText.HEADER)) is not None
    assert body.octets_read < 100


# -- BINARY --------------------------------------------------------------------------------------


def binary_message(encoding: str, payload: bytes) -> bytes:
    return (
        crlf(f"Content-Type: application/octet-stream\nContent-Transfer-Encoding: {encoding}\n\n")
        + payload
    )


@pytest.mark.parametrize(
    ("encoding", "encoded", "decoded"),
    [
        ("base64", b"SGVsbG8sIHdvcmxkIQ==", b"Hello, world!"),
        ("BASE64", b"SGVs\r\nbG8s\r\nIHdv\r\ncmxk\r\nIQ==\r\n", b"Hello, world!"),
        # Lenient: junk ignored, missing padding, a lone last character dropped.
        ("base64", b"SGV*sbG8\x00sIH!dvcmxkIQ", b"Hello, world!"),
        ("base64", b"SGVsbG8sIHdvcmxkIQ=Q", b"Hello, world!"),
        # "=" ends an encoding: two concatenated encodings decode in turn.
        ("base64", b"QQ==\r\nQg==\r\n", b"AB"),
        (
            "quoted-printable",
            b"caf=C3=A9 =\r\nsoft=3D=\nbreaks\r\n",
            "café soft=breaks\r\n".encode(),
        ),
        ("quoted-printable", b"bad =ZZ escape=", b"bad =ZZ escape"),
        ("7bit", b"as is\r\n", b"as is\r\n"),
        ("8bit", "8-bit é".encode(), "8-bit é".encode()),
        ("binary", b"\x00\x01\xff", b"\x00\x01\xff"),
        ("x-unknown (comment)", b"data", None),
        ("uuencode", b"data", None),
    ],
)
def test_binary_decoding(encoding: str, encoded: bytes, decoded: bytes | None) -> None:
    data = binary_message(encoding, encoded)
    parsed = parse_message(data)
    body = BytesBody(data)
    if decoded is None:
        with pytest.raises(UnknownTransferEncoding):
            anyio.run(read_binary, parsed, body, (1,))
        with pytest.raises(UnknownTransferEncoding):
            anyio.run(binary_size, parsed, body, (1,))
        return
    assert anyio.run(read_binary, parsed, body, (1,)) == decoded
    assert anyio.run(binary_size, parsed, body, (1,)) == len(decoded)
    for origin, count in ((0, 1), (2, 5), (len(decoded), 3), (100, 1)):
        assert (
            anyio.run(read_binary, parsed, body, (1,), (origin, count))
            == (decoded[origin : origin + count])
        )


@given(payload=st.binary(max_size=3000), split=st.integers(1, 200))
def test_streaming_decoders_match_whole(payload: bytes, split: int) -> None:
    for decoder_type, encoded in (
        (message_module._Base64Decoder, base64.encodebytes(payload)),
        (message_module._QuotedPrintableDecoder, binascii.b2a_qp(payload, istext=False)),
    ):
        decoder = decoder_type()
        out = b"".join(decoder.feed(encoded[i : i + split]) for i in range(0, len(encoded), split))
        assert out + decoder.finish() == payload


# -- encoded words, addresses, parameters --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?utf-8?q?caf=C3=A9?=", "café"),
        ("=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"),
        ("=?utf-8?b?w6k=?= =?utf-8?b?w6k=?=", "éé"),  # space between words dropped
        ("=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"),
        ("=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "é"),  # a character split across words
        ("=?utf-8?q?a_b?=", "a b"),
        ("=?utf-8*en?q?lang?=", "lang"),  # RFC 2231 language suffix
        ("=?x-nonsense?q?abc?=", "abc"),
        ("=?utf-8?b?!!!?=", ""),
        ("no words", "no words"),
        ("=?broken", "=?broken"),
    ],
)
def test_encoded_words(raw: str, decoded: str) -> None:
    assert _decode_words(raw) == decoded


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@b.c", [Address(mailbox="a", host="b.c")]),
        ("Alice <a@b.c>", [Address(name="Alice", mailbox="a", host="b.c")]),
        ('"Q, Alice" <a@b.c>', [Address(name="Q, Alice", mailbox="a", host="b.c")]),
        (r'"say \"hi\"" <a@b.c>', [Address(name='say "hi"', mailbox="a", host="b.c")]),
        ("John Q. Public <jqp@x.y>", [Address(name="John Q. Public", mailbox="jqp", host="x.y")]),
        ("John   Doe\t<j@x>", [Address(name="John Doe", mailbox="j", host="x")]),
        ("a@b.c (Alice (the) Cat)", [Address(name="Alice (the) Cat", mailbox="a", host="b.c")]),
        ("<@r1,@r2:u@h>", [Address(adl="@r1,@r2", mailbox="u", host="h")]),
        ('"john doe"@x.y', [Address(mailbox='"john doe"', host="x.y")]),
        ("a @ b . c", [Address(mailbox="a", host="b.c")]),
        ("user@[192.0.2.1]", [Address(mailbox="user", host="[192.0.2.1]")]),
        ("nodomain", [Address(mailbox="nodomain", host="")]),
        ("<>", [Address(mailbox="", host="")]),
        ("a@b, , c@d,", [Address(mailbox="a", host="b"), Address(mailbox="c", host="d")]),
        (
            "G: a@b; H:;",
            [
                Address(mailbox="G"),
                Address(mailbox="a", host="b"),
                Address(),
                Address(mailbox="H"),
                Address(),
            ],
        ),
        ("Open: a@b", [Address(mailbox="Open"), Address(mailbox="a", host="b"), Address()]),
        (
            "=?utf-8?q?J=C3=B6rg?= <j@x>",
            [Address(name="=?utf-8?q?J=C3=B6rg?=", mailbox="j", host="x")],
        ),
        ("alice@x.y <alice@x.y>", [Address(name="alice@x.y", mailbox="alice", host="x.y")]),
        ('"unterminated <a@b>', [Address(mailbox='"unterminated <a@b>', host="")]),
        ("Name <a@b", [Address(name="Name", mailbox="a", host="b")]),
        ("a@b@c", [Address(mailbox="a@b", host="c")]),
        ("", []),
        ("(just a comment)", []),
    ],
)
def test_addresses(text: str, expected: list[Address]) -> None:
    assert list(_addresses(text)) == expected
    assert list(_parse_addresses(text)) == expected


_ADDRESS_PIECES = st.sampled_from(
    [
        "a", "b.c", "@", " ", "  ", "\t", ",", ";", ":", "<", ">", '"', '"x y"', "(c)", "(",
        ")", ".", "[1.2]", "\\", "é", "\xa0", "=?utf-8?q?x?=", "Name", "John Q. Public",
        "x@y.z", "<u@h>", "\r\n ",
    ]
)  # fmt: skip


@given(st.lists(_ADDRESS_PIECES, max_size=12).map("".join))
def test_address_fast_path_agrees_with_tokenizer(text: str) -> None:
    assert _addresses(text) == _parse_addresses(text)


def test_content_type_parameters() -> None:
    def params(value: str) -> tuple[tuple[str, str], ...]:
        parsed = parse_message(f"Content-Type: {value}\r\n\r\n".encode())
        assert isinstance(parsed.body_structure, SinglePart)
        return parsed.body_structure.params

    assert params('text/plain; charset="utf-8"; format=flowed') == (
        ("CHARSET", "utf-8"),
        ("FORMAT", "flowed"),
    )
    assert params("text/plain (comment); charset=(c)utf-8") == (("CHARSET", "utf-8"),)
    assert params('application/x; name="a;b\\"c"') == (("NAME", 'a;b"c'),)
    assert params("application/x; name*0=long; name*1=name.txt") == (("NAME", "longname.txt"),)
    assert params("application/x; name*1*=%20b; name*0*=utf-8''a; name*2=c%") == (
        ("NAME*", "utf-8''a%20bc%25"),
    )
    assert params("application/x; title*=us-ascii'en'This%20is") == (
        ("TITLE*", "us-ascii'en'This%20is"),
    )
    assert params("application/x; a=1; A=2; novalue; b = 3 ") == (("A", "1"), ("B", "3"))
    assert params("application/x; name*1=no-first-segment") == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TEXT/html", ("TEXT", "HTML")),
        ("image/png", ("IMAGE", "PNG")),
        ("text", ("TEXT", "PLAIN")),  # invalid: RFC 2045 section 5.2 default
        ("/plain", ("TEXT", "PLAIN")),
        ("te xt/plain", ("TEXT", "PLAIN")),
        ("", ("TEXT", "PLAIN")),
        ("application/vnd.ms-excel junk", ("APPLICATION", "VND.MS-EXCEL")),
    ],
)
def test_content_types(value: str, expected: tuple[str, str]) -> None:
    bs = parse_message(f"Content-Type: {value}\r\n\r\nx".encode()).body_structure
    assert isinstance(bs, SinglePart) and (bs.type, bs.subtype) == expected


def test_multipart_edge_cases() -> None:
    # No boundary parameter: one text part holding the whole body.
    data = crlf("Content-Type: multipart/mixed\n\n--x\nhello\n")
    bs = parse_message(data).body_structure
    assert isinstance(bs, MultiPart) and len(bs.parts) == 1
    assert mime_type(bs.parts[0]) == "TEXT/PLAIN"
    assert run_section(data, "1") == crlf("--x\nhello\n")
    assert run_section(data, "1.MIME") == b""
    # A boundary that never occurs: the same.
    data = crlf("Content-Type: multipart/mixed; boundary=zz\n\n--x\nhello\n")
    assert run_section(data, "1") == crlf("--x\nhello\n")
    # No closing delimiter: the last part runs to the end. Parts without a header.
    data = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\nsecond\n")
    assert run_section(data, "1") == b"first"
    assert run_section(data, "2") == b"second\r\n"
    assert run_section(data, "1.MIME") == b"\r\n"
    assert run_section(data, "2.MIME") == b""
    # Boundary prefixes and transport padding; an empty part.
    data = crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n"
        "--b \t\n--b\nContent-Type: text/plain\n\n--bb is not a delimiter\n--b--x\n--b--  \n"
    )
    assert run_section(data, "1") == b""
    assert run_section(data, "2") == crlf("--bb is not a delimiter\n--b--x")
    assert run_section(data, "3") is None
    # multipart/digest: parts default to message/rfc822.
    data = crlf(
        "Content-Type: multipart/digest; boundary=d\n\n"
        "--d\n\nSubject: one\n\nfirst\n--d\nContent-Type: text/plain\n\nsecond\n--d--\n"
    )
    bs = parse_message(data).body_structure
    assert isinstance(bs, MultiPart)
    first = bs.parts[0]
    assert isinstance(first, SinglePart) and first.is_message
    assert first.envelope is not None and first.envelope.subject == "one"
    assert run_section(data, "1.1") == b"first"
    assert mime_type(bs.parts[1]) == "TEXT/PLAIN"


def test_message_global_and_encoded_message_parts() -> None:
    data = crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n"
        "--b\nContent-Type: message/global\n\nSubject: =?utf-8?q?x?= ü\n\nbody\n"
        "--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA==\n"
        "--b--\n"
    )
    parsed = parse_message(data)
    bs = parsed.body_structure
    assert isinstance(bs, MultiPart)
    global_part, encoded = bs.parts
    assert isinstance(global_part, SinglePart) and isinstance(encoded, SinglePart)
    assert global_part.envelope is not None and global_part.envelope.subject == "=?utf-8?q?x?= ü"
    assert global_part.lines == 3
    assert run_section(data, "1.TEXT") == b"body"
    # A message part in base64 is no parseable message: opaque, no envelope.
    assert encoded.envelope is None and encoded.lines is None and encoded.encoding == "BASE64"
    assert run_section(data, "2.HEADER") is None
    assert anyio.run(read_binary, parsed, BytesBody(data), (2,)) == b"Subject: x"
    assert_wire_round_trip(parsed)


def test_nesting_depth_is_bounded() -> None:
    levels = 80
    head = "".join(
        f"Content-Type: multipart/mixed; boundary=n{i}\n\n--n{i}\n" for i in range(levels)
    )
    tail = "".join(f"\n--n{i}--" for i in reversed(range(levels)))
    data = crlf(head + "Content-Type: text/plain\n\ndeep" + tail)
    parsed = parse_message(data)
    bs: BodyStructure = parsed.body_structure
    depth = 0
    while isinstance(bs, MultiPart):
        bs = bs.parts[0]
        depth += 1
    assert depth == message_module.MAX_DEPTH
    assert mime_type(bs) == "APPLICATION/OCTET-STREAM"
    assert_wire_round_trip(parsed)
    assert parsed == ParsedMessage.from_bytes(parsed.to_bytes())

    nested = "Subject: deep\n\ntext"
    for _ in range(levels):
        nested = f"Content-Type: message/rfc822\n\n{nested}"
    parsed = parse_message(crlf(nested))
    assert_wire_round_trip(parsed)


def test_part_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_module, "MAX_PARTS", 5)
    parts = "".join(f"--b\n\npart {i}\n" for i in range(10))
    data = crlf(f"Content-Type: multipart/mixed; boundary=b\n\n{parts}--b--\n")
    bs = parse_message(data).body_structure
    assert isinstance(bs, MultiPart) and len(bs.parts) == 4
    last = run_section(data, "4")
    assert last is not None and last.startswith(b"part 3\r\n--b\r\n") and b"part 9" in last


def test_hostile_inputs_stay_fast() -> None:
    import time

    hostile = [
        b"Subject: " + b"a" * 1_000_000 + b"\r\n\r\n",
        b"X" * 1_000_000,
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n" * 100_000,
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"\n--bx" * 150_000,
        b"To: " + b"(" * 100_000 + b"\r\n\r\n",
        b"To: " + b'"\\' * 100_000 + b"\r\n\r\n",
        b"To: " + b"a@b, " * 100_000 + b"\r\n\r\n",
        b"Content-Type: text/plain; " + b"a*0*=b; " * 50_000 + b"\r\n\r\n",
        b"a: b\r\n" * 150_000,
        b"\x00\xff" * 250_000,
    ]
    for data in hostile:
        start = time.perf_counter()
        parsed = parse_message(data)
        elapsed = time.perf_counter() - start
        assert elapsed < 3, (data[:40], elapsed)
        check_invariants(data, parsed)


# -- SEARCH text -----------------------------------------------------------------------------------


def test_header_values() -> None:
    data = crlf(
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n"
        "  aus Berlin\n"
        "X-Many: one\n"
        "x-many: two\n"
        "From: =?iso-8859-1?q?J=F6rg?= <j@example.de>\n"
        "\n"
        "X-Many: not a header\n"
    )
    parsed = parse_message(data)
    body = BytesBody(data)
    assert anyio.run(header_values, parsed, body, "subject") == ["Grüße  aus Berlin"]
    assert anyio.run(header_values, parsed, body, "X-MANY") == ["one", "two"]
    assert anyio.run(header_values, parsed, body, "From") == ["Jörg <j@example.de>"]
    assert anyio.run(header_values, parsed, body, "Missing") == []
    latin1 = b"Subject: caf\xe9\r\n\r\n"
    assert anyio.run(header_values, parse_message(latin1), BytesBody(latin1), "subject") == ["café"]


def test_search_text() -> None:
    data = (
        crlf(
            "Subject: =?utf-8?q?Betreff_=C3=A4?=\n"
            "Content-Type: multipart/mixed; boundary=b\n\n"
            "--b\nContent-Type: text/plain; charset=iso-8859-1\n"
            "Content-Transfer-Encoding: quoted-printable\n\nK=E4se\n"
            "--b\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        )
        + base64.encodebytes("<b>Grüße</b>".encode())
        + crlf(
            "--b\nContent-Type: image/png\nContent-Disposition: attachment; filename=pic.png\n\n"
            "PNGDATA\n"
            "--b\nContent-Type: message/rfc822\n\nSubject: inner subject\n\ninner body\n"
            "--b\nContent-Type: text/plain; charset=x-unknown-charset\n\nplain ascii\n"
            "--b--\n"
        )
    )
    parsed = parse_message(data)
    body_only = anyio.run(lambda: search_text(parsed, BytesBody(data), include_headers=False))
    for expected in ("Käse", "<b>Grüße</b>", "inner subject", "inner body", "plain ascii"):
        assert expected in body_only
    assert "PNGDATA" not in body_only and "Betreff" not in body_only
    assert "pic.png" not in body_only
    everything = anyio.run(lambda: search_text(parsed, BytesBody(data), include_headers=True))
    assert "Subject: Betreff ä" in everything and "filename=pic.png" in everything
    assert "Käse" in everything
    limited = anyio.run(
        lambda: search_text(parsed, BytesBody(data), include_headers=True, limit=60)
    )
    assert "Betreff" in limited and "Grüße" not in limited


# -- serialization -------------------------------------------------------------------------------


def test_to_bytes_round_trip_of_samples() -> None:
    for data in (PLAIN, ALTERNATIVE, MIXED, FORWARD, RFC_COMPLEX, b"", b"\xff\x00"):
        parsed = parse_message(data)
        stored = parsed.to_bytes()
        assert stored.isascii()
        assert ParsedMessage.from_bytes(stored) == parsed


def test_to_bytes_keeps_every_field() -> None:
    parsed = parse_message(PLAIN)
    leaf = parsed.body_structure
    assert isinstance(leaf, SinglePart)
    odd = replace(
        parsed,
        envelope=replace(parsed.envelope, sender=(), reply_to=(Address(name="\udcff"),)),
        body_structure=replace(
            leaf, md5="abc", extensions=("x", 1, None, ("y", (2,))), location="\u20ac"
        ),
    )
    assert ParsedMessage.from_bytes(odd.to_bytes()) == odd


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\xff\xfe",
        b"null",
        b"[]",
        b"[1]",
        b"[2, [], []]",
        b'{"a": 1}',
        b"[1, [null,null,[],0,0,[],[],[],null,null], [0,0,0,0]]",
        # A multipart without parts, a boolean where an integer belongs.
        b'[1, [null,null,[],0,0,[],[],[],null,null], [1,0,0,0,[],"M",[],null,null,null,[],1]]',
        b"[" * 100_000,
    ],
)
def test_from_bytes_rejects_garbage(garbage: bytes) -> None:
    with pytest.raises(ValueError):
        ParsedMessage.from_bytes(garbage)


def test_from_bytes_rejects_mutations() -> None:
    stored = parse_message(MIXED).to_bytes()
    for i in range(0, len(stored), 7):
        for replacement in (b"]", b"-", b'"', b"x"):
            mutated = stored[:i] + replacement + stored[i + 1 :]
            with contextlib.suppress(ValueError):
                ParsedMessage.from_bytes(mutated)


# -- generated messages --------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    ctype: str
    encoding: str | None
    payload: bytes
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Multi:
    subtype: str
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Msg:
    subject: str
    inner: Node


Node = Leaf | Multi | Msg

_TEXT = st.text(alphabet="abc XYZ.,\n", max_size=80).map(str.encode)


@st.composite
def leaves(draw: st.DrawFn) -> Leaf:
    ctype = draw(st.sampled_from(["text/plain", "text/html", "application/pdf", "image/png"]))
    encoding = draw(st.sampled_from([None, "7bit", "8bit", "base64", "quoted-printable"]))
    payload = draw(_TEXT if encoding in (None, "7bit", "8bit") else st.binary(max_size=120))
    headers = draw(
        st.lists(
            st.sampled_from(
                [
                    "Content-Disposition: attachment; filename=x.bin",
                    "Content-ID: <id@x>",
                    "Content-Description: a part",
                    "Content-Language: en, fr",
                    "Content-Location: http://x/y",
                ]
            ),
            max_size=3,
            unique=True,
        )
    )
    return Leaf(ctype, encoding, payload, tuple(headers))


nodes = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.builds(
            Multi,
            st.sampled_from(["mixed", "alternative", "related"]),
            st.lists(children, min_size=1, max_size=4).map(tuple),
        ),
        st.builds(Msg, st.sampled_from(["hello", "=?utf-8?q?h=C3=A9?="]), children),
    ),
    max_leaves=8,
)


class Renderer:
    def __init__(self, newline: bytes) -> None:
        self.nl = newline
        self.boundaries = itertools.count()

    def entity(self, node: Node) -> tuple[list[bytes], bytes]:
        """Return (header lines, body) of the entity for ``node``."""
        nl = self.nl
        if isinstance(node, Leaf):
            headers = [f"Content-Type: {node.ctype}".encode()]
            headers += [h.encode() for h in node.headers]
            body = node.payload.replace(b"\n", nl)
            if node.encoding is not None:
                headers.append(f"Content-Transfer-Encoding: {node.encoding}".encode())
            if node.encoding == "base64":
                body = base64.encodebytes(node.payload).replace(b"\n", nl)
            elif node.encoding == "quoted-printable":
                body = binascii.b2a_qp(node.payload, istext=False)
            return headers, body
        if isinstance(node, Multi):
            boundary = f"=_b{next(self.boundaries)}_="
            headers = [f'Content-Type: multipart/{node.subtype}; boundary="{boundary}"'.encode()]
            delimiter = f"--{boundary}".encode()
            out = [b"preamble" + nl]
            for child in node.parts:
                child_headers, child_body = self.entity(child)
                out.append(delimiter + nl + b"".join(h + nl for h in child_headers) + nl)
                out.append(child_body + nl)
            out.append(delimiter + b"--" + nl)
            return headers, b"".join(out)
        return [b"Content-Type: message/rfc822"], self.message(node)

    def message(self, node: Msg) -> bytes:
        headers, body = self.entity(node.inner)
        headers = [
            b"From: Someone <someone@example.com>",
            b"To: group: a@b.c, d@e.f;",
            b"Subject: " + node.subject.encode(),
            *headers,
        ]
        return b"".join(h + self.nl for h in headers) + self.nl + body


def expected_leaves(
    node: Node, path: tuple[int, ...] = ()
) -> Iterator[tuple[tuple[int, ...], Leaf]]:
    """Yield each leaf with its IMAP part number, ``node`` being a message's root entity."""
    if isinstance(node, Multi):
        for i, child in enumerate(node.parts, 1):
            yield from expected_part(child, (*path, i))
    else:
        yield from expected_part(node, (*path, 1))


def expected_part(node: Node, path: tuple[int, ...]) -> Iterator[tuple[tuple[int, ...], Leaf]]:
    if isinstance(node, Leaf):
        yield path, node
    elif isinstance(node, Multi):
        yield from expected_leaves(node, path)
    else:
        yield from expected_leaves(node.inner, path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root=nodes, newline=st.sampled_from([b"\r\n", b"\n"]))
def test_generated_messages(root: Node, newline: bytes) -> None:
    message = Msg("generated", root)
    data = Renderer(newline).message(message)
    parsed = parse_message(data)
    check_invariants(data, parsed)
    body = BytesBody(data)
    for path, leaf in expected_leaves(root):
        found = part_at(parsed.body_structure, path)
        assert isinstance(found, SinglePart), path
        assert f"{found.type}/{found.subtype}".lower() == leaf.ctype
        expected = leaf.payload
        if leaf.encoding in (None, "7bit", "8bit"):
            expected = expected.replace(b"\n", newline)
        assert anyio.run(read_binary, parsed, body, path) == expected
        assert anyio.run(binary_size, parsed, body, path) == len(expected)
        assert found.size == len(anyio.run(read_section, parsed, body, Section(part=path)) or b"")


# -- invariants over any input --------------------------------------------------------------------


def walk(bs: BodyStructure) -> Iterator[BodyStructure]:
    yield bs
    if isinstance(bs, MultiPart):
        for p in bs.parts:
            yield from walk(p)
    elif bs.body is not None:
        yield from walk(bs.body)


def all_paths(bs: BodyStructure) -> list[tuple[int, ...]]:
    """Every part number the structure has (RFC 9051 section 6.4.5.1)."""
    out: list[tuple[int, ...]] = []

    def container(c: BodyStructure, prefix: tuple[int, ...]) -> None:
        if isinstance(c, MultiPart):
            for i, p in enumerate(c.parts, 1):
                visit(p, (*prefix, i))
        else:
            visit(c, (*prefix, 1))

    def visit(p: BodyStructure, path: tuple[int, ...]) -> None:
        out.append(path)
        if isinstance(p, MultiPart):
            container(p, path)
        elif p.body is not None:
            container(p.body, path)

    container(bs, ())
    return out


def check_layout(bs: BodyStructure, node: tuple[object, ...], lo: int, hi: int) -> None:
    hs, bs_, be, children = node
    assert isinstance(hs, int) and isinstance(bs_, int) and isinstance(be, int)
    assert isinstance(children, tuple)
    assert lo <= hs <= bs_ <= be <= hi
    if isinstance(bs, MultiPart):
        assert len(children) == len(bs.parts)
        previous = bs_
        for p, child in zip(bs.parts, children, strict=True):
            assert child[0] >= previous
            check_layout(p, child, bs_, be)
            previous = child[2]
    else:
        assert bs.size == be - bs_
        if bs.body is not None:
            assert len(children) == 1 and children[0][0] == bs_
            check_layout(bs.body, children[0], bs_, be)
        else:
            assert children == ()


def check_invariants(data: bytes, parsed: ParsedMessage) -> None:
    """Offsets nest inside the message, every section reads the octets the offsets name,
    and the structures survive storage and the wire."""
    layout = parsed._layout
    assert layout[0] == 0 and layout[2] == len(data)
    check_layout(parsed.body_structure, layout, 0, len(data))
    assert ParsedMessage.from_bytes(parsed.to_bytes()) == parsed
    assert_wire_round_trip(parsed)
    body = BytesBody(data)

    async def sections() -> None:
        assert await read_section(parsed, body, Section()) == data
        header = await read_section(parsed, body, Section(text=SectionText.HEADER))
        text = await read_section(parsed, body, Section(text=SectionText.TEXT))
        assert header is not None and text is not None and header + text == data
        paths = all_paths(parsed.body_structure)
        for path in paths[:50]:
            found = part_at(parsed.body_structure, path)
            assert found is not None
            contents = await read_section(parsed, body, Section(part=path))
            mime = await read_section(parsed, body, Section(part=path, text=SectionText.MIME))
            assert contents is not None and mime is not None
            assert contents in data and mime in data
            if contents:
                assert await read_section(parsed, body, Section(part=path), (1, 5)) == contents[1:6]
            if isinstance(found, SinglePart) and found.envelope is not None:
                assert found.body is not None
                h = await read_section(parsed, body, Section(part=path, text=SectionText.HEADER))
                t = await read_section(parsed, body, Section(part=path, text=SectionText.TEXT))
                assert h is not None and t is not None and h + t == contents
                not_fields = await read_section(
                    parsed,
                    body,
                    Section(part=path, text=SectionText.HEADER_FIELDS_NOT, fields=("X-None",)),
                )
                assert not_fields in (h, h + b"\r\n")
            try:
                decoded = await read_binary(parsed, body, path)
                assert decoded is not None
                assert await binary_size(parsed, body, path) == len(decoded)
            except UnknownTransferEncoding:
                pass
        beyond = (*paths[-1][:-1], paths[-1][-1] + 1) if paths else (2,)
        assert part_at(parsed.body_structure, beyond) is None
        assert await read_section(parsed, body, Section(part=beyond)) is None
        await search_text(parsed, body, include_headers=True)
        await header_values(parsed, body, "subject")

    anyio.run(sections)


_FRAGMENTS = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=a", b"Content-Type: multipart/digest; boundary=b",
        b"Content-Type: message/rfc822", b"Content-Type: message/global",
        b"Content-Type: text/plain; charset=utf-8", b"Content-Type: text", b"Content-Type: ;;=",
        b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: quoted-printable",
        b"Content-Transfer-Encoding: x-weird", b"Content-Disposition: attachment; filename*0*=x",
        b"--a", b"--a--", b"--b", b"--b--", b"--a  ", b"", b"", b"", b" folded", b"\tfolded",
        b"Subject: =?utf-8?q?x?=", b"From: a@b", b"To: g: a@b, <c@d>;", b"Cc: (", b'Bcc: "',
        b"Sender: <@r:u@h>", b"text line", b"QUJD=", b"=4", b"\x00", b"\xff\xfe", b"No colon",
        b"\r", b"Content-Language: ,", b"Content-ID:",
    ]
)  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_FRAGMENTS, max_size=40),
    newlines=st.lists(st.sampled_from([b"\r\n", b"\n"]), min_size=1),
)
def test_mime_soup_never_breaks_invariants(lines: list[bytes], newlines: list[bytes]) -> None:
    data = b"".join(line + newlines[i % len(newlines)] for i, line in enumerate(lines))
    check_invariants(data, parse_message(data))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_break_invariants(data: bytes) -> None:
    check_invariants(data, parse_message(data))


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_from_bytes_never_raises_other_errors(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        ParsedMessage.from_bytes(data)


def test_parse_failure_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(message_module, "_envelope", broken)
    parsed = parse_message(b"Subject: x\r\n\r\nbody")
    assert parsed.envelope == Envelope()
    assert parsed.body_structure == SinglePart(
        type="TEXT", subtype="PLAIN", params=US_ASCII, size=18, lines=3, extended=True
    )
    assert run_section(b"Subject: x\r\n\r\nbody", "1") is not None


_HEADER_LINE = st.one_of(
    st.sampled_from(
        [
            b"From: a@b.c",
            b"from : x",
            b"SUBJECT:y",
            b"To: t",
            b" folded",
            b"\tfolded",
            b"X-A: 1",
            b"a:b: c",
        ]
    ),
    st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")),
)


@given(
    lines=st.lists(_HEADER_LINE, max_size=12),
    eol=st.sampled_from([b"\r\n", b"\n"]),
    names=st.lists(st.sampled_from(["From", "subject", "TO", "x-a", "Date", "a:b"]), max_size=3),
)
def test_header_fields_fast_path_agrees_with_the_field_splitter(
    lines: list[bytes], eol: bytes, names: list[str]
) -> None:
    # HEADER.FIELDS picks fields with one regex; HEADER.FIELDS.NOT splits every field. Both
    # must see the same fields, so selecting names and excluding the rest agree.
    header = eol.join(lines) + eol + eol
    end = message_module._fields_end(header)
    wanted = {n.encode().lower() for n in names}
    slow = [c for n, c in message_module._header_fields(header, end) if n in wanted]
    fast = [
        m.group() for m in message_module._fields_pattern(tuple(names)).finditer(header, 0, end)
    ]
    assert fast == slow
