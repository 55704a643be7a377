"""BODY and BODYSTRUCTURE parsing and writing (RFC 9051 section 7.5.2), and part numbering."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imap_wire._bodystructure import (
    BodyStructure,
    Disposition,
    ExtensionValue,
    MultiPart,
    SinglePart,
    parse_body_structure,
    part_at,
)
from imap_wire._encoding import WireWriter
from imap_wire._envelope import Address, Envelope
from imap_wire._framer import Framer, Line
from imap_wire._limits import Limits
from imap_wire._values import Literal8, StreamedLiteral, Value, tokenize
from imap_wire.errors import RemoteProtocolError

LIMITS = Limits()


def read(data: bytes) -> Value:
    """Frame and tokenize one value the way a client reads a response line."""
    framer = Framer(LIMITS, stream_threshold=1 << 30, decide_literals=False)
    framer.feed(data + b"\r\n")
    frame = framer.next_frame()
    assert isinstance(frame, Line)
    values = tokenize(frame.segments, frame.literals, LIMITS)
    assert len(values) == 1
    return values[0]


def parse(data: bytes) -> BodyStructure:
    return parse_body_structure(read(data))


def wire(bs: BodyStructure) -> bytes:
    w = WireWriter()
    bs.write(w)
    return w.getvalue()


US_ASCII = (("CHARSET", "US-ASCII"),)

# -- RFC examples ----------------------------------------------------------------------------


def test_rfc9051_simple_text() -> None:
    data = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 2279 48)'
    bs = parse(data)
    assert bs == SinglePart(
        type="TEXT", subtype="PLAIN", params=US_ASCII, encoding="7BIT", size=2279, lines=48
    )
    assert isinstance(bs, SinglePart)
    assert bs.mime_type == "text/plain" and bs.param("charset") == "US-ASCII"
    assert not bs.extended
    assert wire(bs) == data


def test_rfc9051_multipart() -> None:
    data = (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)'
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") '
        b'"<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")'
    )
    bs = parse(data)
    assert bs == MultiPart(
        parts=(
            SinglePart(
                type="TEXT", subtype="PLAIN", params=US_ASCII, size=1152, lines=23, encoding="7BIT"
            ),
            SinglePart(
                type="TEXT",
                subtype="PLAIN",
                params=(("CHARSET", "US-ASCII"), ("NAME", "cc.diff")),
                id="<960723163407.20117h@cac.washington.edu>",
                description="Compiler diff",
                encoding="BASE64",
                size=4554,
                lines=73,
            ),
        ),
        subtype="MIXED",
    )
    assert isinstance(bs, MultiPart) and bs.mime_type == "multipart/mixed"
    assert bs.parts[1].param("name") == "cc.diff"
    assert wire(bs) == data


def test_rfc9051_fetch_full_body() -> None:
    # BODY of the FETCH FULL example, RFC 9051 section 6.4.5 (RFC 3501 has the same).
    data = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)'
    assert parse(data) == SinglePart(
        type="TEXT", subtype="PLAIN", params=US_ASCII, encoding="7BIT", size=3028, lines=92
    )


# -- real server shapes (constructed after what these servers send) ---------------------------

GMAIL = (
    b'((("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "QUOTED-PRINTABLE" 120 4 NIL NIL NIL)'
    b'("TEXT" "HTML" ("CHARSET" "UTF-8") NIL NIL "QUOTED-PRINTABLE" 1234 20 NIL NIL NIL) '
    b'"ALTERNATIVE" ("BOUNDARY" "000000000000abc") NIL NIL)'
    b'("APPLICATION" "PDF" ("NAME" "a.pdf") "<f_kx1>" NIL "BASE64" 52000 NIL '
    b'("ATTACHMENT" ("FILENAME" "a.pdf")) NIL) "MIXED" ("BOUNDARY" "000000000000def") NIL NIL)'
)


def test_gmail() -> None:
    bs = parse(GMAIL)
    assert isinstance(bs, MultiPart) and bs.extended
    assert bs.param("boundary") == "000000000000def"
    assert bs.disposition is None and bs.language is None and bs.location is None
    alternative, pdf = bs.parts
    assert isinstance(alternative, MultiPart) and alternative.subtype == "ALTERNATIVE"
    html = alternative.parts[1]
    assert html == SinglePart(
        type="TEXT",
        subtype="HTML",
        params=(("CHARSET", "UTF-8"),),
        encoding="QUOTED-PRINTABLE",
        size=1234,
        lines=20,
        extended=True,
    )
    assert pdf == SinglePart(
        type="APPLICATION",
        subtype="PDF",
        params=(("NAME", "a.pdf"),),
        id="<f_kx1>",
        encoding="BASE64",
        size=52000,
        disposition=Disposition(type="ATTACHMENT", params=(("FILENAME", "a.pdf"),)),
        extended=True,
    )
    assert isinstance(pdf, SinglePart) and pdf.disposition is not None
    assert pdf.disposition.param("filename") == "a.pdf"
    assert part_at(bs, (1, 2)) is html and part_at(bs, (2,)) is pdf
    # Written back, every extension field is present (Gmail leaves the location out).
    assert parse(wire(bs)) == bs


ENCAPSULATED_ENVELOPE = (
    b'("Sat, 8 Jan 2011 14:16:36 +0100" "Fwd: report" (("Ann" NIL "ann" "example.com")) '
    b'(("Ann" NIL "ann" "example.com")) (("Ann" NIL "ann" "example.com")) '
    b'((NIL NIL "bob" "example.org")) NIL NIL NIL "<m1@example.com>")'
)
DOVECOT = (
    b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 1 NIL NIL NIL NIL)'
    b'("message" "rfc822" NIL NIL NIL "7bit" 500 ' + ENCAPSULATED_ENVELOPE + b" "
    b'(("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 185 18 NIL NIL ("cs") NIL)'
    b'("image" "png" ("name" "x.png") "<img1>" NIL "base64" 100 NIL '
    b'("inline" ("filename" "x.png")) NIL "http://example.com/x.png") '
    b'"related" ("boundary" "b2" "type" "text/plain") NIL NIL NIL) 31 NIL ("attachment" NIL) '
    b'NIL NIL) "mixed" ("boundary" "b1") NIL ("en" "de") NIL)'
)


def test_dovecot_lower_case_and_encapsulated_message() -> None:
    bs = parse(DOVECOT)
    assert isinstance(bs, MultiPart) and bs.mime_type == "multipart/mixed"
    assert bs.language == ("en", "de")
    text, message = bs.parts
    assert isinstance(text, SinglePart) and text.mime_type == "text/plain" and text.lines == 1
    assert isinstance(message, SinglePart) and message.is_message
    assert message.mime_type == "message/rfc822" and message.lines == 31
    assert message.disposition == Disposition(type="attachment")
    assert message.envelope is not None
    assert message.envelope.subject == "Fwd: report"
    assert message.envelope.to == (Address(mailbox="bob", host="example.org"),)
    inner = message.body
    assert isinstance(inner, MultiPart) and inner.param("TYPE") == "text/plain"
    inner_text, image = inner.parts
    assert isinstance(inner_text, SinglePart) and inner_text.language == ("cs",)
    assert isinstance(image, SinglePart) and image.location == "http://example.com/x.png"
    assert part_at(bs, (2, 1)) is inner_text and part_at(bs, (2, 2)) is image
    assert parse(wire(bs)) == bs


EXCHANGE = (
    b'(("text" "plain" ("charset" "iso-8859-1") NIL "Mail message body" "quoted-printable" '
    b'2201 34 NIL NIL NIL NIL)("application" "msword" NIL NIL NIL "base64" 50446 NIL '
    b'(NIL NIL) NIL NIL)("text" "html" ("charset" "iso-8859-1") NIL NIL "quoted-printable" '
    b'850 31 NIL "inline" NIL NIL) "mixed" ("boundary" "===============1176586998==") NIL NIL)'
)


def test_exchange_odd_dispositions() -> None:
    bs = parse(EXCHANGE)
    assert isinstance(bs, MultiPart)
    plain, msword, html = bs.parts
    assert isinstance(plain, SinglePart) and plain.description == "Mail message body"
    # (NIL NIL) is no disposition; a bare string is a disposition without parameters.
    assert isinstance(msword, SinglePart) and msword.disposition is None
    assert isinstance(html, SinglePart) and html.disposition == Disposition(type="inline")
    assert parse(wire(bs)) == bs


def test_gmail_multipart_without_parts() -> None:
    bs = parse(
        b'(("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "BASE64" 10 1 NIL NIL NIL)'
        b'("ALTERNATIVE" ("BOUNDARY" "==alt") NIL NIL)("RELATED" NIL ("ATTACHMENT" NIL) NIL) '
        b'"MIXED" ("BOUNDARY" "==mixed") NIL NIL)'
    )
    assert isinstance(bs, MultiPart)
    _, alternative, related = bs.parts
    assert alternative == MultiPart(
        parts=(), subtype="ALTERNATIVE", params=(("BOUNDARY", "==alt"),), extended=True
    )
    assert related == MultiPart(
        parts=(), subtype="RELATED", disposition=Disposition(type="ATTACHMENT"), extended=True
    )
    assert part_at(bs, (2,)) is alternative and part_at(bs, (2, 1)) is None
    assert parse(wire(bs)) == bs


def test_multipart_without_parts_written_as_body() -> None:
    empty = MultiPart(parts=(), subtype="MIXED")
    assert wire(empty) == b'("MIXED")'
    assert parse(b'("MIXED")') == empty


def test_encapsulated_message_with_empty_body() -> None:
    # MailKit issue #944: an empty envelope and "()" for the body.
    data = (
        b'("message" "rfc822" NIL NIL NIL "7BIT" 787 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) () '
        b"0 NIL NIL NIL)"
    )
    bs = parse(data)
    assert bs == SinglePart(
        type="message",
        subtype="rfc822",
        encoding="7BIT",
        size=787,
        envelope=Envelope(),
        lines=0,
        extended=True,
    )
    # The location the server left out is written as NIL.
    assert wire(bs) == data[:-1] + b" NIL)"
    nil_body = data.replace(b"() 0", b"NIL 0")
    assert parse(nil_body) == bs


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # A message/rfc822 part without envelope and body is read as a basic part.
        (
            b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 100)',
            SinglePart(type="MESSAGE", subtype="RFC822", size=100),
        ),
        (
            b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 100 "md5" NIL NIL NIL)',
            SinglePart(type="MESSAGE", subtype="RFC822", size=100, md5="md5", extended=True),
        ),
        (
            b'("MESSAGE" "DELIVERY-STATUS" NIL NIL NIL "7BIT" 421 NIL NIL NIL)',
            SinglePart(type="MESSAGE", subtype="DELIVERY-STATUS", size=421, extended=True),
        ),
        # Text parts without their line count.
        (
            b'("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "8BIT" 100)',
            SinglePart(
                type="TEXT", subtype="PLAIN", params=(("CHARSET", "UTF-8"),), encoding="8BIT",
                size=100,
            ),
        ),
        (
            b'("TEXT" "PLAIN" NIL NIL NIL "8BIT" 100 NIL NIL NIL NIL)',
            SinglePart(type="TEXT", subtype="PLAIN", encoding="8BIT", size=100, extended=True),
        ),
        (
            b'("TEXT" "PLAIN" NIL NIL NIL "8BIT" 100 "Q2hlY2sgSW50ZWdyaXR5IQ==")',
            SinglePart(
                type="TEXT", subtype="PLAIN", encoding="8BIT", size=100,
                md5="Q2hlY2sgSW50ZWdyaXR5IQ==", extended=True,
            ),
        ),
        # Numbers sent as strings, () and NIL for parameters, atoms for strings.
        (
            b'("TEXT" "PLAIN" () NIL NIL "7BIT" "100" "5")',
            SinglePart(type="TEXT", subtype="PLAIN", size=100, lines=5),
        ),
        (
            b"(text plain (charset utf-8) nil nil 7bit 10 1)",
            SinglePart(
                type="text", subtype="plain", params=(("charset", "utf-8"),), encoding="7bit",
                size=10, lines=1,
            ),
        ),
        # Language as one string, as a list, as ().
        (
            b'("IMAGE" "GIF" NIL NIL NIL "BASE64" 10 NIL NIL "en" NIL)',
            SinglePart(type="IMAGE", subtype="GIF", encoding="BASE64", size=10,
                       language=("en",), extended=True),
        ),
        (
            b'("IMAGE" "GIF" NIL NIL NIL "BASE64" 10 NIL NIL ("en" "fr") NIL)',
            SinglePart(type="IMAGE", subtype="GIF", encoding="BASE64", size=10,
                       language=("en", "fr"), extended=True),
        ),
        (
            b'("IMAGE" "GIF" NIL NIL NIL "BASE64" 10 NIL NIL () NIL)',
            SinglePart(type="IMAGE", subtype="GIF", encoding="BASE64", size=10, extended=True),
        ),
        # Extension fields of the wrong shape count as absent.
        (
            b'("multipart" "related" ("boundary" "b") NIL NIL "7BIT" 400 ("boundary" "b") '
            b"((x) NIL) (NIL) (x))",
            SinglePart(type="multipart", subtype="related", params=(("boundary", "b"),),
                       size=400, extended=True),
        ),
        (
            b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1) "MIXED" ("odd") ("inline" ("x")))',
            MultiPart(
                parts=(SinglePart(type="TEXT", subtype="PLAIN", size=1, lines=1),),
                subtype="MIXED",
                disposition=Disposition(type="inline"),
                extended=True,
            ),
        ),
        # Extension data beyond the location, nested.
        (
            b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1 NIL NIL NIL "loc" "ext" 12 '
            b'("a" ("b" NIL 3) ()) 99999999999999999999 nil X)',
            SinglePart(
                type="TEXT", subtype="PLAIN", size=1, lines=1, location="loc",
                extensions=("ext", 12, ("a", ("b", None, 3), ()), "99999999999999999999", None,
                            "X"),
                extended=True,
            ),
        ),
        # A literal8 where a string belongs.
        (
            b'(~{4}\r\nTEXT "PLAIN" NIL NIL NIL "7BIT" 1 1)',
            SinglePart(type="TEXT", subtype="PLAIN", size=1, lines=1),
        ),
    ],
)  # fmt: skip
def test_tolerances(data: bytes, expected: BodyStructure) -> None:
    bs = parse(data)
    assert bs == expected
    assert parse(wire(bs)) == bs


# What real servers send that the grammar does not allow (see the module docstring).
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Dovecot (-1) and SmarterMail (-2, MailKit issue #385): a negative size reads as 0.
        (
            b'("text" "plain" NIL NIL NIL "7bit" -2 0 NIL NIL NIL)',
            SinglePart(type="text", subtype="plain", encoding="7bit", lines=0, extended=True),
        ),
        (
            b'("multipart" "appledouble" ("boundary" "B_8145") NIL NIL "7BIT" -1 NIL NIL NIL '
            b"NIL)",
            SinglePart(type="multipart", subtype="appledouble", params=(("boundary", "B_8145"),),
                       extended=True),
        ),
        # mail.ru (MailKit issue #124, vmime issue #159): NIL for a parameter value, here in a
        # basic part and in a multipart's extension data.
        (
            b'("text" "plain" ("charset" NIL) NIL NIL "8bit" 536 0 NIL NIL NIL NIL)',
            SinglePart(type="text", subtype="plain", params=(("charset", ""),), encoding="8bit",
                       size=536, lines=0, extended=True),
        ),
        (
            b'(("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 536 0 NIL NIL NIL NIL)'
            b'"alternative" ("boundary" NIL))',
            MultiPart(
                parts=(SinglePart(type="text", subtype="plain", params=(("charset", "utf-8"),),
                                  encoding="8bit", size=536, lines=0, extended=True),),
                subtype="alternative", params=(("boundary", ""),), extended=True,
            ),
        ),
        # maddy: NIL for the encoding; and NIL for the media type.
        (
            b'("application" "pdf" NIL NIL NIL NIL 100 NIL NIL NIL NIL)',
            SinglePart(type="application", subtype="pdf", encoding="", size=100, extended=True),
        ),
        (
            b'(NIL "pdf" NIL NIL NIL "base64" 100)',
            SinglePart(type="", subtype="pdf", encoding="base64", size=100),
        ),
        # MailKit issue #1393: NIL in place of the parts of a multipart.
        (
            b'(NIL "alternative" ("boundary" "Apple-Mail=_352F") NIL NIL NIL)',
            MultiPart(parts=(), subtype="alternative", params=(("boundary", "Apple-Mail=_352F"),),
                      extended=True),
        ),
        # MailKit issue #486: a disposition without its type keeps its parameters.
        (
            b'("application" "pdf" NIL NIL NIL "base64" 100 NIL (NIL ("FILENAME" "a.pdf")) NIL '
            b"NIL)",
            SinglePart(type="application", subtype="pdf", encoding="base64", size=100,
                       disposition=Disposition(type="", params=(("FILENAME", "a.pdf"),)),
                       extended=True),
        ),
    ],
)  # fmt: skip
def test_server_quirks(data: bytes, expected: BodyStructure) -> None:
    bs = parse(data)
    assert bs == expected
    assert parse(wire(bs)) == bs


def test_nil_parts_inside_an_encapsulated_message() -> None:
    # The whole structure of MailKit issue #1393 (a delivery report).
    bs = parse(
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 727 16 NIL NIL NIL NIL)'
        b'("message" "delivery-status" ("name" "Delivery status") NIL NIL "7bit" 416 NIL NIL '
        b'NIL NIL)("message" "rfc822" ("name" "Message headers") NIL NIL "7bit" 903 '
        b'("Mon, 17 Nov 2014 13:29:21 +0100" "Re: Adresy" (("username" NIL "e.username" '
        b'"example.com")) NIL NIL NIL NIL NIL "<x@y>" "<D6@example.com>") (NIL "alternative" '
        b'("boundary" "Apple-Mail=_352F") NIL NIL NIL) 17 NIL NIL NIL NIL) "report" '
        b'("report-type" "delivery-status" "boundary" "_e0d7") NIL NIL NIL)'
    )
    assert isinstance(bs, MultiPart) and bs.subtype == "report"
    message = bs.parts[2]
    assert isinstance(message, SinglePart) and message.lines == 17
    assert message.body == MultiPart(
        parts=(),
        subtype="alternative",
        params=(("boundary", "Apple-Mail=_352F"),),
        extended=True,
    )
    assert parse(wire(bs)) == bs


def test_message_global() -> None:
    data = (
        b'("MESSAGE" "GLOBAL" NIL NIL NIL "8BIT" 300 ' + ENCAPSULATED_ENVELOPE + b' ("TEXT" '
        b'"PLAIN" ("CHARSET" "UTF-8") NIL NIL "8BIT" 20 2) 12)'
    )
    bs = parse(data)
    assert isinstance(bs, SinglePart) and bs.is_message and bs.lines == 12
    assert bs.body == SinglePart(
        type="TEXT", subtype="PLAIN", params=(("CHARSET", "UTF-8"),), encoding="8BIT", size=20,
        lines=2,
    )  # fmt: skip
    assert wire(bs) == data


def test_deep_nesting() -> None:
    # message/rfc822 in multipart in message/rfc822 in multipart, 30 levels deep.
    leaf = SinglePart(type="TEXT", subtype="PLAIN", size=1, lines=1)
    bs: BodyStructure = leaf
    for level in range(30):
        if level % 2:
            bs = MultiPart(parts=(bs, leaf), subtype="MIXED", extended=level % 4 == 1)
        else:
            bs = SinglePart(
                type="MESSAGE", subtype="RFC822", size=level, envelope=Envelope(subject="x"),
                body=bs, lines=level,
            )  # fmt: skip
    parsed = parse(wire(bs))
    assert parsed == bs
    # One number per multipart; the innermost message's body is its part 1.
    assert part_at(parsed, (1,) * 16) == leaf
    assert part_at(parsed, (1,) * 17) is None
    assert part_at(parsed, (1,) * 15 + (2,)) is None
    assert part_at(parsed, (1,) * 14 + (2,)) == leaf


def test_writer_leaves_out_what_the_shape_has_no_place_for() -> None:
    # Extension fields are written only for BODYSTRUCTURE, lines only for text and messages.
    part = SinglePart(
        type="IMAGE", subtype="PNG", size=5, lines=3, md5="x", language=("en",), body=None
    )
    assert wire(part) == b'("IMAGE" "PNG" NIL NIL NIL "7BIT" 5)'
    multi = MultiPart(parts=(part,), subtype="MIXED", params=(("BOUNDARY", "b"),))
    assert wire(multi) == b'(("IMAGE" "PNG" NIL NIL NIL "7BIT" 5) "MIXED")'


# -- part numbering (RFC 9051 section 6.4.5.1) -------------------------------------------------


def _leaf(type_: str, subtype: str, name: str) -> SinglePart:
    return SinglePart(type=type_, subtype=subtype, description=name, size=1)


def _message(name: str, body: BodyStructure) -> SinglePart:
    return SinglePart(
        type="MESSAGE", subtype="RFC822", description=name, size=1, envelope=Envelope(),
        body=body, lines=1,
    )  # fmt: skip


# The example message of RFC 9051 section 6.4.5.1.
RFC_EXAMPLE = MultiPart(
    subtype="MIXED",
    parts=(
        _leaf("TEXT", "PLAIN", "1"),
        _leaf("APPLICATION", "OCTET-STREAM", "2"),
        _message(
            "3",
            MultiPart(
                subtype="MIXED",
                parts=(_leaf("TEXT", "PLAIN", "3.1"), _leaf("APPLICATION", "OCTET-STREAM", "3.2")),
            ),
        ),
        MultiPart(
            subtype="MIXED",
            parts=(
                _leaf("IMAGE", "GIF", "4.1"),
                _message(
                    "4.2",
                    MultiPart(
                        subtype="MIXED",
                        parts=(
                            _leaf("TEXT", "PLAIN", "4.2.1"),
                            MultiPart(
                                subtype="ALTERNATIVE",
                                parts=(
                                    _leaf("TEXT", "PLAIN", "4.2.2.1"),
                                    _leaf("TEXT", "RICHTEXT", "4.2.2.2"),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        ),
    ),
)


@pytest.mark.parametrize(
    ("section", "mime_type"),
    [
        ("1", "text/plain"),
        ("2", "application/octet-stream"),
        ("3", "message/rfc822"),
        ("3.1", "text/plain"),
        ("3.2", "application/octet-stream"),
        ("4", "multipart/mixed"),
        ("4.1", "image/gif"),
        ("4.2", "message/rfc822"),
        ("4.2.1", "text/plain"),
        ("4.2.2", "multipart/alternative"),
        ("4.2.2.1", "text/plain"),
        ("4.2.2.2", "text/richtext"),
    ],
)
def test_part_numbers_of_the_rfc_example(section: str, mime_type: str) -> None:
    bs = parse(wire(RFC_EXAMPLE))
    part = part_at(bs, tuple(int(n) for n in section.split(".")))
    assert part is not None and part.mime_type == mime_type
    if isinstance(part, SinglePart):
        assert part.description == section


@pytest.mark.parametrize(
    "path", [(0,), (5,), (-1,), (1, 1), (3, 3), (4, 2, 3), (4, 2, 2, 1, 1), (4, 1, 1)]
)
def test_part_numbers_that_do_not_exist(path: tuple[int, ...]) -> None:
    assert part_at(RFC_EXAMPLE, path) is None


def test_part_numbers_of_a_single_part_message() -> None:
    text = _leaf("TEXT", "PLAIN", "body")
    assert part_at(text, ()) is text
    assert part_at(text, (1,)) is text
    assert part_at(text, (2,)) is None and part_at(text, (1, 1)) is None
    # A message whose body is itself message/rfc822: 1 is that part, 1.1 the inner body.
    inner = _leaf("TEXT", "HTML", "inner")
    outer = _message("outer", inner)
    assert part_at(outer, (1,)) is outer
    assert part_at(outer, (1, 1)) is inner
    assert part_at(outer, (1, 2)) is None
    assert part_at(RFC_EXAMPLE, ()) is RFC_EXAMPLE


# -- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"NIL",
        b'"TEXT"',
        b"()",
        b"(NIL)",
        b'("TEXT" "PLAIN" NIL NIL NIL "7BIT")',
        b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" abc 1)',
        b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 99999999999999999999 1)',
        b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" (1) 1)',
        b'("TEXT" "PLAIN" ("CHARSET") NIL NIL "7BIT" 1 1)',
        b'("TEXT" "PLAIN" "CHARSET" NIL NIL "7BIT" 1 1)',
        b'("TEXT" "PLAIN" (("CHARSET") "x") NIL NIL "7BIT" 1 1)',
        b'("TEXT" "PLAIN" NIL (x) NIL "7BIT" 1 1)',
        b'("TEXT" "PLAIN" NIL NIL NIL ("7BIT") 1 1)',
        b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1))',
        b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1) ("MIXED"))',
        b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1) NIL)',
        b'(() "MIXED")',
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 1 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))',
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 1 (NIL NIL NIL NIL NIL NIL NIL) () 1)',
        b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" -x 1)',
        b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" - 1)',
        b'("TEXT" "PLAIN" ("CHARSET" (NIL)) NIL NIL "7BIT" 1 1)',
        b'(NIL NIL "PLAIN" NIL NIL NIL "7BIT" 1 1)',
        b"(NIL)",
        b"(NIL (x))",
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 1 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "x")',
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 1 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) '
        b"(NIL) 1)",
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse(data)


def test_streamed_literal_is_refused() -> None:
    v = read(b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1)')
    assert isinstance(v, list)
    v[0] = StreamedLiteral(size=1_000_000)
    with pytest.raises(RemoteProtocolError):
        parse_body_structure(v)


def test_nesting_deeper_than_the_stack() -> None:
    # Only possible with a tokenizer depth limit far above the default.
    v: Value = ["MIXED"]
    for _ in range(5000):
        v = [v, "MIXED"]
    with pytest.raises(RemoteProtocolError, match="too deeply"):
        parse_body_structure(v)


# -- hypothesis ------------------------------------------------------------------------------

texts = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=10),
    st.binary(max_size=10).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(["NIL", "", "7BIT", "12", "a b", '"\\']),
)
ntexts = st.none() | texts
# An all-digit MD5 after a missing line count would read as the line count.
md5s = st.none() | texts.filter(lambda s: not (s.isdigit() and s.isascii()))
params = st.lists(st.tuples(texts, texts), max_size=3).map(tuple)
dispositions = st.none() | st.builds(Disposition, type=texts, params=params)
languages = st.none() | st.lists(texts, min_size=1, max_size=3).map(tuple)
extension_values: st.SearchStrategy[ExtensionValue] = st.recursive(
    st.none() | texts | st.integers(0, 2**63 - 1),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=6,
)
extension_lists = st.lists(extension_values, max_size=3).map(tuple)
addresses = st.builds(Address, name=ntexts, adl=ntexts, mailbox=ntexts, host=ntexts)
address_lists = st.lists(addresses, max_size=2).map(tuple)
envelopes = st.builds(
    Envelope, date=ntexts, subject=ntexts, from_=address_lists, to=address_lists,
    message_id=ntexts,
)  # fmt: skip
sizes = st.integers(0, 2**32 - 1)
line_counts = st.integers(0, 2**63 - 1)


@st.composite
def single_parts(
    draw: st.DrawFn, bodies: st.SearchStrategy[BodyStructure] | None = None
) -> SinglePart:
    kind = draw(st.sampled_from(["basic", "text", "message"]))
    lines = envelope = body = None
    if kind == "text":
        type_ = draw(st.sampled_from(["TEXT", "text", "Text"]))
        subtype = draw(texts)
        lines = draw(st.none() | line_counts)
    elif kind == "message":
        type_ = draw(st.sampled_from(["MESSAGE", "message"]))
        subtype = draw(st.sampled_from(["RFC822", "GLOBAL", "rfc822"]))
        if draw(st.booleans()):  # else the basic shape
            envelope = draw(envelopes)
            body = None if bodies is None else draw(st.none() | bodies)
            lines = draw(st.none() | line_counts)
    else:
        type_ = draw(texts)
        subtype = draw(texts)
    extended = draw(st.booleans())
    return SinglePart(
        type=type_,
        subtype=subtype,
        params=draw(params),
        id=draw(ntexts),
        description=draw(ntexts),
        encoding=draw(texts),
        size=draw(sizes),
        lines=lines,
        envelope=envelope,
        body=body,
        md5=draw(md5s) if extended else None,
        disposition=draw(dispositions) if extended else None,
        language=draw(languages) if extended else None,
        location=draw(ntexts) if extended else None,
        extensions=draw(extension_lists) if extended else (),
        extended=extended,
    )


@st.composite
def multi_parts(draw: st.DrawFn, bodies: st.SearchStrategy[BodyStructure]) -> MultiPart:
    extended = draw(st.booleans())
    return MultiPart(
        parts=tuple(draw(st.lists(bodies, max_size=3))),
        subtype=draw(texts),
        params=draw(params) if extended else (),
        disposition=draw(dispositions) if extended else None,
        language=draw(languages) if extended else None,
        location=draw(ntexts) if extended else None,
        extensions=draw(extension_lists) if extended else (),
        extended=extended,
    )


body_structures: st.SearchStrategy[BodyStructure] = st.recursive(
    single_parts(),
    lambda inner: st.one_of(multi_parts(inner), single_parts(inner)),
    max_leaves=5,
)


@settings(max_examples=80, deadline=None)
@given(body_structures)
def test_round_trip(bs: BodyStructure) -> None:
    assert parse(wire(bs)) == bs


atoms = st.sampled_from(
    ["NIL", "nil", "0", "12", "TEXT", "MESSAGE", "RFC822", "x", "99999999999999999999999"]
)
leaves: st.SearchStrategy[Value] = st.one_of(
    atoms,
    st.sampled_from([b"TEXT", b"message", b"RFC822", b"PLAIN", b"12", b"", b"\xff"]),
    st.builds(Literal8, st.binary(max_size=3)),
    st.builds(StreamedLiteral, size=st.integers(0, 9)),
)
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=12), max_leaves=25)


@settings(max_examples=70, deadline=None)
@given(values)
def test_parse_raises_only_protocol_errors(v: Value) -> None:
    with contextlib.suppress(RemoteProtocolError):
        assert isinstance(parse_body_structure(v), SinglePart | MultiPart)


@settings(max_examples=50, deadline=None)
@given(st.data(), body_structures)
def test_mutated_structures_raise_only_protocol_errors(
    data: st.DataObject, bs: BodyStructure
) -> None:
    v = read(wire(bs))
    assert isinstance(v, list)
    target = v
    while True:
        index = data.draw(st.integers(0, len(target) - 1))
        item = target[index]
        if isinstance(item, list) and item and data.draw(st.booleans()):
            target = item
            continue
        if data.draw(st.booleans()):
            target[index] = data.draw(values)
        else:
            del target[index]
        break
    with contextlib.suppress(RemoteProtocolError):
        parse_body_structure(v)
