"""`imap_server.message` checked against the stdlib ``email`` parser, on every run.

`parse_message` scans the MIME structure itself (it needs byte offsets, bounded work and
speed; see its module docstring). This suite parses the same octets with
``email.parser.BytesParser(policy=email.policy.compat32)`` and compares, for a hand-written
corpus of realistic and odd messages and for hypothesis-generated well-formed MIME trees:

- the tree: multipart or leaf, nesting, number of parts, encapsulated messages;
- each entity's media type and subtype (case-insensitively), its Content-Type parameters
  (RFC 2231 ones decoded on both sides with the stdlib's own helpers), Content-ID,
  Content-Description, Content-Disposition and its parameters, Content-Transfer-Encoding;
- each leaf's octets: our ``BODY[part]`` against ``get_payload(decode=False)`` and our
  ``BINARY[part]`` against ``get_payload(decode=True)``;
- the delimiters: the octets between our parts must be exactly RFC 2046 delimiter lines (the
  line break before ``--boundary`` belongs to the delimiter), and what lies before the first
  and after the close delimiter must be the stdlib's preamble and epilogue;
- each envelope against the raw header values (``compat32`` keeps them as sent; ours are the
  same text unfolded and trimmed) and the address lists against ``email.utils.getaddresses``
  (``mailbox@host`` pairs; display names only where no comment is involved).

Line endings: ``BytesParser`` keeps every line ending as it is (CRLF or LF), and both
parsers give the line break before a delimiter to the delimiter (RFC 2046 section 5.1.1),
so leaf octets compare exactly, with no normalisation; the stdlib also breaks lines at a
bare CR, which ours does not (see `QUIRKS`). The one transformation on the stdlib side:
``get_payload(decode=False)`` returns an 8-bit payload decoded from its charset
(undecodable octets as U+FFFD), so our octets are decoded the same way for that
comparison; the exact octets of an identity-encoded part are compared through
``get_payload(decode=True)``, which returns them undecoded.

Where the two parsers disagree, `QUIRKS` names each accepted difference with the RFC reason
ours is kept, and each corpus message lists the ones it shows: a new disagreement, or a
listed one that no longer shows, fails the test.
"""

from __future__ import annotations

import base64
import binascii
import email.charset
import email.errors
import email.header
import email.parser
import email.policy
import email.utils
import itertools
import re
import urllib.parse
from collections.abc import Coroutine
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, TypeVar, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_server.message import (
    ParsedMessage,
    UnknownTransferEncoding,
    _decode_charset,
    _decode_words,
    _Node,
    header_values,
    parse_message,
    read_binary,
    read_section,
    search_text,
)
from imap_server.store import BytesBody
from imap_wire import Address, BodyStructure, Envelope, MultiPart, Section, SinglePart

_T = TypeVar("_T")

#: Every difference between the two parsers that is accepted, with the reason ours is kept.
QUIRKS: dict[str, str] = {
    "no-close-delimiter": (
        "A multipart without its close delimiter: the stdlib drops the line break that ends "
        "the last part, although no delimiter follows to own it. RFC 2046 section 5.1.1 gives "
        "the CRLF to the delimiter that follows it; with none, it is the part's last line "
        "break, and ours keeps it."
    ),
    "multipart-without-delimiter": (
        "A multipart with no boundary parameter, or whose boundary never starts a line: the "
        "stdlib makes it a leaf (NoBoundaryInMultipartDefect / StartBoundaryNotFoundDefect); "
        "ours describes one TEXT/PLAIN part holding the whole body, since RFC 2046 section "
        "5.1.1 and RFC 9051 body-type-mpart (1*body) need at least one part. The part's "
        "octets equal the stdlib's payload (checked)."
    ),
    "duplicate-delimiter": (
        "A delimiter line directly followed by another: the stdlib skips the second, ours "
        "gives an empty part between them; a close delimiter directly after a delimiter "
        "closes the multipart for ours (after an empty last part), where the stdlib swallows "
        "it and makes the epilogue a part. The RFC 2046 section 5.1.1 grammar produces "
        "neither reading (one line break cannot end the first delimiter line and start the "
        "second), so ours keeps its rule that every delimiter line ends a part, and that the "
        "close delimiter ends the body parts, as section 5.1.1 says."
    ),
    "space-before-colon": (
        "A header field with white space before its colon (``Subject : x``): the stdlib "
        "takes the line for the start of the body; RFC 5322 section 4.5.8 (obs-optional, "
        'field-name *WSP ":") makes it a field, as ours does.'
    ),
    "unix-from": (
        "An mbox ``From `` line first: the stdlib skips it and reads the header after it; "
        'it is no RFC 5322 header field (field-name ":"), so ours ends the (empty) header '
        "there and all the octets are body, as sent. RFC 4155 mbox framing is not part of a "
        "message an IMAP client APPENDs."
    ),
    "missing-field-name": (
        "A line starting with a colon in a header: the stdlib skips it and reads on; RFC "
        "5322 section 3.6.8 needs 1*ftext before the colon, so it is no field, and ours "
        "starts the body there."
    ),
    "bare-cr": (
        "A bare CR: the stdlib takes it for a line break (a boundary after one is found); "
        "RFC 5322 section 2.3 and RFC 2046 section 5.1.1 know only CRLF (ours also takes a "
        "bare LF, as the stdlib does)."
    ),
    "structured-field": (
        "Content-Type and Content-Transfer-Encoding are structured fields (RFC 2045 sections "
        "5.1 and 6.1, with the lexical tokens of RFC 822): comments and white space may stand "
        "between tokens. The stdlib reads the raw text: it keeps them in the media type "
        "(``text / html``, ``plain (x)``, an invalid type read as one) and in parameter "
        "values, and decodes no body whose encoding reads ``base64 (encoded)``. Ours drops "
        "them."
    ),
    "param-without-value": (
        "A parameter without ``=value`` (``; charset;``): the stdlib keeps it with an empty "
        'value; RFC 2045 section 5.1 has parameter := attribute "=" value, so ours drops '
        "it (and a text part gets the US-ASCII default)."
    ),
    "unterminated-quote": (
        "A quoted parameter value without its closing quote: the stdlib ends it at the next "
        "semicolon; a quoted-string (RFC 822, RFC 2045 section 5.1) runs to its closing "
        "quote, so ours takes the rest of the field as the value."
    ),
    "rfc2231-sections": (
        "RFC 2231 continuations not starting at ``*0``: the stdlib joins what there is; RFC "
        "2231 section 3 counts sections from 0 without gaps, so ours drops the parameter "
        "(and stops a value at a gap)."
    ),
    "empty-boundary": (
        '``boundary=""``: the stdlib splits at lines ``--``; RFC 2046 section 5.1.1 '
        "needs 1 to 70 characters, so ours has no boundary: one TEXT/PLAIN part holds the "
        "body."
    ),
    "nul": (
        "NUL in a header field: the stdlib keeps it; no IMAP string may hold NUL (RFC 9051 "
        "section 4.3, CHAR8), so our envelope has U+FFFD there."
    ),
    "message-subtype": (
        "message/delivery-status, message/partial, message/external-body: the stdlib parses "
        "the body as a nested message (or header blocks); RFC 9051 section 7.5.2 gives an "
        "envelope and a nested body structure to message/rfc822 (and message/global, RFC "
        "6532) only, so for IMAP these parts are leaves."
    ),
    "message-encoded": (
        "message/rfc822 with a base64 or quoted-printable Content-Transfer-Encoding: the "
        "stdlib parses the encoded octets as a message; RFC 2046 section 5.2.1 allows only "
        "7bit, 8bit and binary there, and the encoded octets are no message, so ours keeps "
        "the part opaque (a leaf)."
    ),
    "unknown-cte": (
        "A Content-Transfer-Encoding outside RFC 2045 (x-uuencode): the stdlib decodes "
        "uuencode or returns the octets; RFC 3516 section 4.3 requires BINARY to fail with "
        "UNKNOWN-CTE, which `read_binary` signals."
    ),
    "route-address": (
        "An obs-route (``<@relay1,@relay2:user@host>``, RFC 5322 section 4.4): "
        "``email.utils.getaddresses`` splits it at the comma into bogus addresses; ours "
        "keeps user@host (and the route as the ADL of RFC 9051)."
    ),
}


# -- running the section reads ------------------------------------------------------------------


def _drive(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that never suspends (a `BytesBody` read returns at once)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return cast(_T, stop.value)
    coroutine.close()
    raise AssertionError("a BytesBody read suspended")


def _stdlib(data: bytes) -> Message:
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)


# -- what the stdlib says, in our terms ------------------------------------------------------------

_FOLD = re.compile(rb"\r?\n(?=[ \t])")


def _raw(m: Message, name: str) -> str | None:
    """The first ``name`` field as sent, unfolded and trimmed (how our envelope has it)."""
    for key, value in m.raw_items():
        if key.lower() == name:
            octets = value.encode("ascii", "surrogateescape")
            return _FOLD.sub(b"", octets).strip(b" \t\r\n").decode("utf-8", "surrogateescape")
    return None


def _stdlib_params(m: Message, header: str) -> dict[tuple[str, bool], str] | None:
    """A field's parameters as ``get_param`` reads them: by (lower-case name, whether RFC
    2231 extended), the first of each; continuations joined, extended values decoded."""
    params = m.get_params(header=header)
    if not params:
        return None
    out: dict[tuple[str, bool], str] = {}
    for name, value in params[1:]:
        # A str value is unquoted already (collapse_rfc2231_value would unquote it again,
        # and strip the angle brackets of start="<id>").
        key = (name.strip().lower(), not isinstance(value, str))
        out.setdefault(key, value if isinstance(value, str) else _collapse(value))
    return out


def _collapse(value: tuple[str | None, str | None, str]) -> str:
    return email.utils.collapse_rfc2231_value(value)


def _our_params(
    params: tuple[tuple[str, str], ...], eight_bit: bool = False
) -> dict[tuple[str, bool], str]:
    """Our parameters as `_stdlib_params` gives them: an RFC 2231 ``NAME*`` (joined, still
    percent-encoded) decoded with the stdlib's helpers, as ``get_param`` decodes it.

    ``eight_bit``: the field holds 8-bit octets, which ``compat32`` reads as U+FFFD each;
    ours keeps them (UTF-8, or escaped), so they are replaced the same way to compare.
    """
    out: dict[tuple[str, bool], str] = {}
    for name, value in params:
        if name.endswith("*"):
            charset, language, text = email.utils.decode_rfc2231(value)
            text = urllib.parse.unquote(text, encoding="latin-1")
            out.setdefault((name[:-1].lower(), True), _collapse((charset, language, text)))
        else:
            if eight_bit:
                value = value.encode("utf-8", "surrogateescape").decode("ascii", "replace")
            out.setdefault((name.lower(), False), value)
    return out


def _stdlib_text(octets: bytes, m: Message) -> str:
    """Our octets as ``get_payload(decode=False)`` returns a payload: 8-bit text decoded
    from the part's charset (undecodable octets replaced)."""
    if octets.isascii():
        return octets.decode("ascii")
    try:
        return octets.decode(m.get_content_charset("ascii") or "ascii", "replace")
    except LookupError:
        return octets.decode("ascii", "replace")


def _address_key(a: Address) -> str:
    return (a.mailbox or "") + ("@" + a.host if a.host else "")


def _name_key(name: str | None) -> str:
    return " ".join((name or "").split())


class _Comparison:
    """Compares one message both ways; `found` collects (difference, part) pairs."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.parsed: ParsedMessage = parse_message(data)
        self.body = BytesBody(data)
        self.found: set[tuple[str, str]] = set()
        self.defects: set[type[email.errors.MessageDefect]] = set()

    def note(self, kind: str, path: tuple[int, ...]) -> None:
        self.found.add((kind, ".".join(map(str, path))))

    def run(self) -> set[tuple[str, str]]:
        m = _stdlib(self.data)
        self.defects = {type(defect) for part in m.walk() for defect in part.defects}
        self.entity(m, self.parsed.body_structure, self.parsed._layout, (), self.parsed.envelope)
        return self.found

    # The entity ``m`` is ours ``structure`` at ``node``. ``path`` is its IMAP part number,
    # or, for a message (``envelope`` given), the number its parts extend: empty for the
    # message itself, the message/rfc822 part's for an encapsulated one. A message that is
    # not multipart has its body as part ``path.1``.
    def entity(
        self,
        m: Message,
        structure: BodyStructure,
        node: _Node,
        path: tuple[int, ...],
        envelope: Envelope | None,
    ) -> None:
        if envelope is not None:
            self.envelope(m, envelope, path)
        self.fields(m, structure, path)
        payload = m.get_payload()
        if isinstance(structure, MultiPart):
            # Ours found no delimiter if its one part starts where the body does.
            undelimited = node[3][0][0] == node[1]
            if undelimited != (not isinstance(payload, list)):
                self.note("multipart-shape", path)
                return
            if not isinstance(payload, list):
                self.note("multipart-without-delimiter", path)
                self.leaf(m, structure.parts[0], (*path, 1))
                return
            if len(payload) != len(structure.parts):
                self.note("part-count", path)
                return
            self.delimiters(m, node, path)
            for number, (sub, part, child) in enumerate(
                zip(payload, structure.parts, node[3], strict=True), 1
            ):
                self.entity(sub, part, child, (*path, number), None)
            return
        if structure.body is not None:
            if not isinstance(payload, list) or len(payload) != 1:
                self.note("message-shape", path)
                return
            # The encapsulated message's parts extend this part's number, which for a
            # message whose whole body it is, is that message's number followed by 1.
            inner = (*path, 1) if envelope is not None else path
            encapsulated = payload[0]
            assert isinstance(encapsulated, Message)
            self.entity(encapsulated, structure.body, node[3][0], inner, structure.envelope)
            return
        if isinstance(payload, list):
            encapsulated = structure.type == "MESSAGE" and structure.subtype in ("RFC822", "GLOBAL")
            kind = "message-encoded" if encapsulated else "message-subtype"
            self.note(kind if m.get_content_maintype() == "message" else "leaf-shape", path)
            return
        self.leaf(m, structure, (*path, 1) if envelope is not None else path)

    def fields(self, m: Message, structure: BodyStructure, path: tuple[int, ...]) -> None:
        if isinstance(structure, MultiPart):
            ours_type = "multipart/" + structure.subtype
        else:
            ours_type = structure.type + "/" + structure.subtype
        if ours_type.lower() != m.get_content_type():
            self.note("content-type", path)
        raw = _raw(m, "content-type")
        if raw is not None:
            theirs = _stdlib_params(m, "content-type") or {}
            ours = _our_params(structure.params, not raw.isascii())
            default = m.get_content_maintype() == "text" and m.get_param("charset") is None
            if default and ours.get(("charset", False)) == "US-ASCII":  # the IMAP default
                del ours[("charset", False)]
            if ours != theirs:
                self.note("params", path)
        disposition = structure.disposition
        raw = _raw(m, "content-disposition")
        if (None if disposition is None else disposition.type.lower()) != (
            m.get_content_disposition()
        ):
            self.note("disposition", path)
        elif disposition is not None and _our_params(
            disposition.params, not (raw or "").isascii()
        ) != (_stdlib_params(m, "content-disposition") or {}):
            self.note("disposition-params", path)
        if isinstance(structure, SinglePart):
            if structure.id != _raw(m, "content-id"):
                self.note("content-id", path)
            if structure.description != _raw(m, "content-description"):
                self.note("content-description", path)
            encoding = (_raw(m, "content-transfer-encoding") or "7bit").lower()
            if structure.encoding.lower() != encoding:
                self.note("content-transfer-encoding", path)

    def leaf(self, m: Message, structure: BodyStructure, number: tuple[int, ...]) -> None:
        ours = _drive(read_section(self.parsed, self.body, Section(part=number)))
        assert ours is not None
        theirs = m.get_payload(decode=False)
        assert isinstance(theirs, str)
        if _stdlib_text(ours, m) != theirs:
            unclosed = (
                email.errors.CloseBoundaryNotFoundDefect in self.defects
                and re.fullmatch(rb"\r?\n", ours[len(theirs) :]) is not None
                and _stdlib_text(ours[: len(theirs)], m) == theirs
            )
            self.note("no-close-delimiter" if unclosed else "payload", number)
            return
        try:
            binary = _drive(read_binary(self.parsed, self.body, number))
        except UnknownTransferEncoding:
            self.note("unknown-cte", number)
            return
        if binary != m.get_payload(decode=True):
            self.note("decoded", number)
        if isinstance(structure, SinglePart) and structure.size != len(ours):
            self.note("size", number)

    def delimiters(self, m: Message, node: _Node, path: tuple[int, ...]) -> None:
        """Check that our offsets leave exactly the RFC 2046 delimiters between the parts,
        and the stdlib's preamble and epilogue outside them."""
        boundary = m.get_boundary()
        assert boundary is not None
        delimiter = rb"--" + re.escape(boundary.encode("utf-8", "surrogateescape"))
        data, children = self.data, node[3]
        line = delimiter + rb"[ \t]*"
        first = re.fullmatch(
            rb"(?:(.*?)\r?\n)??" + line + rb"\r?\n", data[node[1] : children[0][0]], re.S
        )
        if first is None:
            self.note("preamble-offsets", path)
        else:
            text = first.group(1)
            preamble = None if text is None else text.decode("ascii", "surrogateescape")
            if preamble != m.preamble:
                self.note("preamble", path)

        # The line break before a delimiter is the one that ends the delimiter line before
        # it if the part between is empty and the delimiter follows that line directly.
        def before(part: _Node) -> bytes:
            return rb"\r?\n?" if part[0] == part[2] else rb"\r?\n"

        for part, following in itertools.pairwise(children):
            between = before(part) + line + rb"\r?\n"
            if re.fullmatch(between, data[part[2] : following[0]]) is None:
                self.note("delimiter-offsets", path)
        last = re.fullmatch(
            rb"(?:" + before(children[-1]) + delimiter + rb"--[ \t]*(?:\r?\n(.*))?)?",
            data[children[-1][2] : node[2]],
            re.S,
        )
        if last is None:
            self.note("epilogue-offsets", path)
        else:
            epilogue = (last.group(1) or b"").decode("ascii", "surrogateescape")
            if epilogue != (m.epilogue or ""):
                self.note("epilogue", path)

    def envelope(self, m: Message, envelope: Envelope, path: tuple[int, ...]) -> None:
        for name, ours in (
            ("date", envelope.date),
            ("subject", envelope.subject),
            ("in-reply-to", envelope.in_reply_to),
            ("message-id", envelope.message_id),
        ):
            if ours != _raw(m, name):
                self.note("envelope-" + name, path)
        for name, addresses in (
            ("from", envelope.from_),
            ("sender", envelope.sender),
            ("reply-to", envelope.reply_to),
            ("to", envelope.to),
            ("cc", envelope.cc),
            ("bcc", envelope.bcc),
        ):
            raw = _raw(m, name)
            theirs = [pair for pair in email.utils.getaddresses([raw or ""]) if pair[1]]
            if not theirs and name in ("sender", "reply-to"):  # RFC 9051 7.5.2: From's
                raw = _raw(m, "from")
                theirs = [pair for pair in email.utils.getaddresses([raw or ""]) if pair[1]]
            # Group markers (host NIL) and empty addresses have no stdlib counterpart.
            kept = [a for a in addresses if a.host is not None and _address_key(a)]
            if [_address_key(a) for a in kept] != [addr for _, addr in theirs]:
                self.note("envelope-" + name, path)
            elif "(" not in (raw or "") and [_name_key(a.name) for a in kept] != [
                _name_key(n) for n, _ in theirs
            ]:
                self.note("envelope-" + name + "-names", path)


def differences(data: bytes) -> set[tuple[str, str]]:
    """Every (difference, part number) between our parse of ``data`` and the stdlib's."""
    return _Comparison(data).run()


# -- the corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A corpus message, written with LF line ends (``crlf``: sent with CRLF), and the
    differences from the stdlib it shows, as (difference, part number) pairs."""

    name: str
    text: str
    crlf: bool = True
    quirks: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    #: The `QUIRKS` entry that explains ``quirks`` not named after one.
    reason: str = ""

    @property
    def data(self) -> bytes:
        octets = self.text.encode("utf-8", "surrogateescape")
        return octets.replace(b"\n", b"\r\n") if self.crlf else octets


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


_PDF = _b64(b"%PDF-1.4\n" + bytes(range(256)) * 3 + b"\n%%EOF\n")
_PNG = _b64(b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 2)
_HEADER = (
    "Return-Path: <alice@example.org>\n"
    "Received: from mx.example.org (mx.example.org [192.0.2.1])\n"
    "\tby mail.example.com with ESMTPS id 4F2A8; Tue, 12 Mar 2024 10:15:02 +0100\n"
    "Date: Tue, 12 Mar 2024 10:15:00 +0100\n"
    "From: Alice Example <alice@example.org>\n"
    'To: Bob <bob@example.com>, "Carol, C." <carol@example.com>\n'
    "Message-ID: <5e0c9d2a.3b1f@example.org>\n"
    "MIME-Version: 1.0\n"
)

CORPUS: tuple[Case, ...] = (
    Case(
        "plain",
        _HEADER + "Subject: Lunch on Friday?\n"
        "Cc: dave@example.net, Erin <erin@example.net>\n"
        "In-Reply-To: <a1b2c3@example.com>\n"
        "Content-Type: text/plain; charset=us-ascii; format=flowed\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        "Hi Bob,\n\nShall we have lunch on Friday?\n\n-- \nAlice\n",
    ),
    Case(
        "lf-only-no-content-type",
        "From: bob@example.com\nTo: alice@example.org\nSubject: no MIME at all\n"
        "Date: Wed, 13 Mar 2024 08:00:00 +0000\n\nJust text,\nwith LF line ends.\n",
        crlf=False,
    ),
    Case(
        "alternative-quoted-printable",
        _HEADER + "Subject: =?UTF-8?Q?Re=3A_Quarterly_r=C3=A9sum=C3=A9?=\n"
        'Content-Type: multipart/alternative; boundary="------------Zx8ALT01"\n'
        "\n"
        "This is a multi-part message in MIME format.\n"
        "--------------Zx8ALT01\n"
        "Content-Type: text/plain; charset=UTF-8; format=flowed\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Caf=C3=A9 at ten? The r=C3=A9sum=C3=A9 is a very long line that has been wra=\n"
        "pped with a soft line break, and 1+1=3D2.=20\n"
        "\n"
        "--------------Zx8ALT01\n"
        "Content-Type: text/html; charset=UTF-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "<html><body><p>Caf=C3=A9 at ten?</p></body></html>\n"
        "\n"
        "--------------Zx8ALT01--\n",
    ),
    Case(
        "mixed-base64-attachments",
        _HEADER + "Subject: Report attached\n"
        "Content-Type: multipart/mixed;\n"
        ' boundary="----=_Part_1234_5678.1710234901000"\n'
        "\n"
        "------=_Part_1234_5678.1710234901000\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "Grüße, see the report and the chart.\n"
        "------=_Part_1234_5678.1710234901000\n"
        'Content-Type: application/pdf; name="Q1 report.pdf"\n'
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="Q1 report.pdf"; size=812\n'
        "Content-Description: Quarterly report\n"
        "\n" + _PDF + "------=_Part_1234_5678.1710234901000\n"
        "Content-Type: image/png\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <chart@example.org>\n"
        "Content-Disposition: inline\n"
        "\n" + _PNG + "------=_Part_1234_5678.1710234901000--\n",
    ),
    Case(
        "nested-rfc822",
        _HEADER + "Subject: Fwd: Budget\n"
        'Content-Type: multipart/mixed; boundary="outer"\n'
        "\n"
        "--outer\n"
        "Content-Type: text/plain\n"
        "\n"
        "Forwarding the message below.\n"
        "--outer\n"
        "Content-Type: message/rfc822\n"
        "Content-Disposition: attachment\n"
        "\n"
        "From: Frank <frank@example.net>\n"
        "To: alice@example.org\n"
        "Subject: Budget\n"
        "Date: Mon, 11 Mar 2024 17:00:00 -0500\n"
        "Message-ID: <budget@example.net>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="inner"\n'
        "\n"
        "--inner\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Voil=E0 the budget.\n"
        "--inner\n"
        "Content-Type: text/html; charset=iso-8859-1\n"
        "\n"
        "<p>Voila the budget.</p>\n"
        "--inner--\n"
        "\n"
        "--outer\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: grace@example.net\n"
        "Subject: a plain encapsulated one\n"
        "\n"
        "Body of a single-part encapsulated message.\n"
        "--outer--\n",
    ),
    Case(
        "related-inline-image",
        _HEADER + "Subject: Newsletter\n"
        'Content-Type: multipart/related; type="text/html"; start="<body@x>";\n'
        '\tboundary="rel-42"\n'
        "\n"
        "--rel-42\n"
        "Content-Type: text/html; charset=us-ascii\n"
        "Content-ID: <body@x>\n"
        "\n"
        '<html><body><img src="cid:logo@x"></body></html>\n'
        "--rel-42\n"
        "Content-Type: image/gif\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <logo@x>\n"
        "Content-Location: logo.gif\n"
        "\n"
        "R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=\n"
        "--rel-42--\n",
    ),
    Case(
        "rfc2231-parameters",
        _HEADER + "Subject: Documents\n"
        'Content-Type: multipart/mixed; boundary="b2231"\n'
        "\n"
        "--b2231\n"
        "Content-Type: application/pdf; name*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.pdf\n"
        "Content-Disposition: attachment;\n"
        " filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.pdf\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "JVBERi0xLjQK\n"
        "--b2231\n"
        "Content-Type: text/plain; charset=us-ascii;\n"
        " name*0*=iso-8859-1'fr'Cr%E8me%20;\n"
        ' name*1="brulee.txt"\n'
        "Content-Disposition: attachment;\n"
        ' filename*0="a very long file name that ";\n'
        ' filename*1="goes on.txt"\n'
        "\n"
        "dessert\n"
        "--b2231--\n",
    ),
    Case(
        "encoded-word-subjects",
        "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.be>\n"
        "To: =?KOI8-R?B?8NLJ18XU?= <privet@example.ru>, =?GB2312?B?1tDOxA==?= <cn@example.cn>\n"
        "Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= =?UTF-8?B?w6k=?= and\n"
        " =?windows-1252?Q?=93quotes=94?=\n"
        "Date: Thu, 14 Mar 2024 12:00:00 +0900\n"
        "Content-Type: text/plain; charset=ISO-2022-JP\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        "\x1b$BF|K\\8l\x1b(B\n",
    ),
    Case(
        "quoted-printable-latin9",
        _HEADER + "Subject: =?iso-8859-15?q?Prix_en_=A4?=\n"
        "Content-Type: text/plain; charset=iso-8859-15\n"
        "Content-Transfer-Encoding: Quoted-Printable\n"
        "\n"
        "Le prix est de 10 =A4.=20\n"
        "Une ligne tr=E8s longue qui continue sur la ligne suivante gr=E2ce =E0 un saut=\n"
        " doux, et un signe =3D.\n"
        "Fin sans saut de ligne=",
    ),
    Case(
        "odd-boundaries-and-padding",
        _HEADER + "Subject: odd boundaries\n"
        'Content-Type: multipart/mixed; boundary="(b\'+_,-./:=? 1)"\n'
        "\n"
        "--(b'+_,-./:=? 1) \t\n"
        "\n"
        "A part with no header: text/plain by default.\n"
        "--(b'+_,-./:=? 1)\n"
        "Content-Type: text/plain\n"
        "\n"
        "--(b'+_,-./:=? 1)x is not a delimiter, nor is --(b'+_,-./:=? 1) here.\n"
        "--(b'+_,-./:=? 1)--   \n",
    ),
    Case(
        "missing-close-delimiter",
        _HEADER + "Subject: cut short\n"
        'Content-Type: multipart/mixed; boundary="cut"\n'
        "\n"
        "--cut\n"
        "Content-Type: text/plain\n"
        "\n"
        "first\n"
        "--cut\n"
        "Content-Type: text/plain\n"
        "\n"
        "second, and the message ends\n",
        quirks=frozenset({("no-close-delimiter", "2")}),
    ),
    Case(
        "multipart-without-boundary",
        _HEADER + "Subject: no boundary\nContent-Type: multipart/mixed\n\nsome text\n",
        quirks=frozenset({("multipart-without-delimiter", "")}),
    ),
    Case(
        "boundary-never-found",
        _HEADER + "Subject: wrong boundary\n"
        'Content-Type: multipart/mixed; boundary="expected"\n'
        "\n"
        "--other\n\ntext\n--other--\n",
        quirks=frozenset({("multipart-without-delimiter", "")}),
    ),
    Case(
        "preamble-epilogue-nested",
        _HEADER + "Subject: preamble and epilogue\n"
        'Content-Type: multipart/mixed; boundary="A"\n'
        "\n"
        "This is the preamble.\nIt has two lines.\n"
        "--A\n"
        'Content-Type: multipart/alternative; boundary="B"\n'
        "\n"
        "inner preamble\n"
        "--B\n"
        "\n"
        "plain\n"
        "--B\n"
        "Content-Type: text/html\n"
        "\n"
        "<p>html</p>\n"
        "--B--\n"
        "inner epilogue\n"
        "--A\n"
        "\n"
        "last part\n"
        "\n"
        "--A--\n"
        "This is the epilogue.\n"
        "It ends here.\n",
    ),
    Case(
        "upper-and-lower-case",
        "FROM: ALICE@EXAMPLE.ORG\n"
        "subject: case games\n"
        "content-type: Multipart/MIXED; BOUNDARY=CaseBoundary\n"
        "\n"
        "--CaseBoundary\n"
        "CONTENT-TYPE: TEXT/PLAIN; CHARSET=UTF-8\n"
        "CONTENT-TRANSFER-ENCODING: BASE64\n"
        "\n"
        "SGVsbG8sIHfDtnJsZCE=\n"
        "--CaseBoundary\n"
        "Content-type: Application/Octet-Stream; Name=DATA.BIN\n"
        "Content-transfer-encoding: Base64\n"
        "Content-disposition: ATTACHMENT; FILENAME=DATA.BIN\n"
        "\n"
        "AAECAwQFBgc=\n"
        "--CaseBoundary--\n",
    ),
    Case(
        "digest",
        _HEADER + "Subject: digest\n"
        'Content-Type: multipart/digest; boundary="dig"\n'
        "\n"
        "--dig\n"
        "\n"
        "From: one@example.net\nSubject: first\n\nfirst body\n"
        "--dig\n"
        "\n"
        "From: two@example.net\nSubject: second\n\nsecond body\n"
        "--dig\n"
        "Content-Type: text/plain\n"
        "\n"
        "a text part in a digest\n"
        "--dig--\n",
    ),
    Case(
        "utf8-headers-8bit-body",
        "From: Jörg Müller <joerg@example.de>\n"
        "To: Zoë <zoe@example.de>\n"
        "Subject: Grüße aus Köln\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "Schöne Grüße!\n",
    ),
    Case(
        "latin1-8bit-body",
        "From: a@example.fr\nSubject: latin-1\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "Cr\udce8me br\udcfbl\udce9e\n",
    ),
    Case(
        "groups-comments-and-routes",
        "From: Pete(A nice chap) <pete(his account)@silly.example(his host)>\n"
        "To: undisclosed-recipients:;\n"
        "Cc: Team: a@example.com, B <b@example.com>;, c@example.com (Carol)\n"
        "Bcc: <@relay1.example,@relay2.example:user@example.com>\n"
        "Reply-To: \n"
        "Sender: secretary@example.com\n"
        "Subject: addresses\n"
        "\n"
        "body\n",
        quirks=frozenset({("envelope-bcc", "")}),
        reason="route-address",
    ),
    Case(
        "report-delivery-status",
        "From: MAILER-DAEMON@example.org\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        '\tboundary="DSN.1"\n'
        "\n"
        "--DSN.1\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "Your message could not be delivered.\n"
        "--DSN.1\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.example.org\n"
        "\n"
        "Final-Recipient: rfc822; nobody@example.com\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "--DSN.1\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "From: alice@example.org\nSubject: hello\n"
        "--DSN.1--\n",
        quirks=frozenset({("message-subtype", "2")}),
    ),
    Case(
        "encoded-message-rfc822",
        "From: a@example.org\nSubject: base64 message/rfc822\n"
        'Content-Type: multipart/mixed; boundary="m"\n'
        "\n"
        "--m\n"
        "Content-Type: message/rfc822\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + _b64(b"From: x@example.org\r\nSubject: inner\r\n\r\nhello\r\n") + "--m--\n",
        quirks=frozenset({("message-encoded", "1")}),
    ),
    Case(
        "uuencode",
        "From: a@example.org\nSubject: uuencoded\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: x-uuencode\n"
        "\n"
        "begin 644 a.txt\n#86)C\n`\nend\n",
        quirks=frozenset({("unknown-cte", "1")}),
    ),
    Case(
        "structured-fields",
        "From: a@example.org\nSubject: comments and spaces\n"
        'Content-Type: multipart/mixed; boundary="s"\n'
        "\n"
        "--s\n"
        "Content-Type: text/plain (plain text); charset=us-ascii (ascii)\n"
        "\n"
        "text\n"
        "--s\n"
        "Content-Type: text / html\n"
        "\n"
        "<p>html</p>\n"
        "--s\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64 (encoded)\n"
        "\n"
        "aGVsbG8=\n"
        "--s--\n",
        quirks=frozenset(
            {
                ("content-type", "1"),
                ("params", "1"),
                ("content-type", "2"),
                ("params", "2"),
                ("content-transfer-encoding", "3"),
                ("decoded", "3"),
            }
        ),
        reason="structured-field",
    ),
    Case(
        "parameter-oddities",
        "From: a@example.org\nSubject: parameters\n"
        'Content-Type: multipart/mixed; boundary="p"\n'
        "\n"
        "--p\n"
        "Content-Type: text/plain; charset; format=flowed\n"
        "\n"
        "x\n"
        "--p\n"
        'Content-Type: text/plain; charset=utf-8; name="abc; format=flowed\n'
        "\n"
        "y\n"
        "--p\n"
        "Content-Type: application/pdf; name*1=part-one.pdf\n"
        "\n"
        "z\n"
        "--p--\n",
        quirks=frozenset({("params", "1"), ("params", "2"), ("params", "3")}),
        reason="param-without-value, unterminated-quote, rfc2231-sections",
    ),
    Case(
        "parameters-agreed",
        "From: a@example.org\nSubject: parameters both read alike\n"
        'Content-Type: multipart/mixed; boundary="q "\n'
        "\n"
        "--q\n"
        'Content-Type: text/plain; charset=utf-8; charset=iso-8859-1; format = "flowed"\n'
        "\n"
        "first charset wins\n"
        "--q \n"
        'Content-Type: application/pdf; name="plain.pdf";\n'
        " name*=utf-8''%C3%A9t%C3%A9.pdf; title*0=abc; title*1*=%41%42; title*2=\" c\"\n"
        "\n"
        "z\n"
        "--q\n"
        'Content-Type: text/plain; charset=utf-8; name="Grüße.txt"\n'
        'Content-Disposition: attachment; filename="Grüße.txt"\n'
        "\n"
        "8-bit parameters (RFC 6532)\n"
        "--q--\n",
    ),
    Case(
        "empty-boundary",
        'From: a@example.org\nContent-Type: multipart/mixed; boundary=""\n\n--\n\nx\n----\n',
        quirks=frozenset({("multipart-shape", "")}),
        reason="empty-boundary",
    ),
    Case(
        "nul-in-subject",
        "From: a@example.org\nSubject: a\x00b\n\nbody\n",
        quirks=frozenset({("envelope-subject", "")}),
        reason="nul",
    ),
    Case(
        "space-before-colon",
        "From: a@example.org\nSubject : spaced\nContent-Type: text/html\n\n<p>x</p>\n",
        quirks=frozenset({("content-type", ""), ("envelope-subject", ""), ("payload", "1")}),
        reason="space-before-colon",
    ),
    Case(
        "unix-from-line",
        "From alice@example.org Tue Mar 12 10:15:00 2024\n"
        "From: alice@example.org\nSubject: mbox\n\nbody\n",
        quirks=frozenset(
            {
                ("envelope-from", ""),
                ("envelope-reply-to", ""),
                ("envelope-sender", ""),
                ("envelope-subject", ""),
                ("payload", "1"),
            }
        ),
        reason="unix-from",
    ),
    Case(
        "missing-field-name",
        "From: a@example.org\n: no name\nSubject: after it\n\nbody\n",
        quirks=frozenset({("envelope-subject", ""), ("payload", "1")}),
        reason="missing-field-name",
    ),
    Case(
        "duplicate-delimiters",
        "From: a@example.org\nSubject: twice\n"
        'Content-Type: multipart/mixed; boundary="d"\n'
        "\n"
        "--d\n"
        "--d\n"
        "\n"
        "one\n"
        "--d\n"
        "\n"
        "\n"
        "--d--\n",
        quirks=frozenset({("part-count", "")}),
        reason="duplicate-delimiter",
    ),
    Case(
        "close-delimiter-after-delimiter",
        "From: a@example.org\nSubject: close at once\n"
        'Content-Type: multipart/mixed; boundary="d"\n'
        "\n"
        "--d\n"
        "--d--\n"
        "epilogue\n",
        quirks=frozenset({("payload", "1"), ("epilogue", "")}),
        reason="duplicate-delimiter",
    ),
    Case(
        "bare-cr",
        "From: a@example.org\nSubject: bare CR\n"
        'Content-Type: multipart/mixed; boundary="r"\n'
        "\n"
        "--r\n"
        "\n"
        "one\r--r\r\ntwo\n"
        "--r--\n",
        crlf=False,
        quirks=frozenset({("part-count", "")}),
        reason="bare-cr",
    ),
    Case("empty", "", crlf=False),
    Case("header-only", "From: a@example.org\nSubject: no body", crlf=False),
)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_corpus_against_stdlib(case: Case) -> None:
    reasons = case.reason.split(", ") if case.reason else []
    assert all(reason in QUIRKS for reason in reasons)
    for kind, _ in case.quirks:
        assert kind in QUIRKS or reasons
    assert differences(case.data) == set(case.quirks)


# -- generated well-formed MIME trees -------------------------------------------------------------
#
# A tree is serialized with LF line ends, then sent with LF or CRLF throughout. Boundaries
# start with "=_" and end with ".<n>", n unique in the message: "=_" appears in no base64 or
# quoted-printable output and in no generated text (whose alphabet has no "="), and the
# unique suffix keeps one boundary from being another's delimiter or close delimiter.


@dataclass(frozen=True)
class _Leaf:
    header: tuple[str, ...]
    body: bytes


@dataclass(frozen=True)
class _Multi:
    subtype: str
    boundary: str
    padding: str
    parts: tuple[_Tree, ...]
    preamble: str | None
    epilogue: str | None


@dataclass(frozen=True)
class _Encapsulated:
    header: tuple[str, ...]
    envelope: tuple[str, ...]
    message: _Tree


_Tree = _Leaf | _Multi | _Encapsulated

_TEXT_ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "=")
_BCHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=? "
_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


def _case(draw: st.DrawFn, text: str) -> str:
    return draw(st.sampled_from((text, text.upper(), text.lower(), text.title())))


@st.composite
def _lines(draw: st.DrawFn, non_ascii: str = "") -> str:
    alphabet = _TEXT_ALPHABET + non_ascii
    lines = draw(st.lists(st.text(alphabet=alphabet, max_size=60), max_size=6))
    return "\n".join(lines) + draw(st.sampled_from(("", "\n")))


@st.composite
def _filename_param(draw: st.DrawFn, name: str) -> str:
    stem = draw(_words)
    form = draw(st.integers(0, 3))
    if form == 0:
        return f"{name}={stem}.txt"
    if form == 1:
        return f'{name}="{stem} copy.txt"'
    if form == 2:
        quoted = urllib.parse.quote(f"{stem} résumé €.txt", safe="")
        return f"{name}*=UTF-8''{quoted}"
    return f'{name}*0="{stem}-";\n\t{name}*1="{draw(_words)}.txt"'


@st.composite
def _leaf(draw: st.DrawFn) -> _Leaf:
    params: list[str] = []
    if draw(st.booleans()):
        mtype = "text/" + draw(st.sampled_from(("plain", "html", "csv")))
        charset = draw(st.sampled_from(("us-ascii", "utf-8", "iso-8859-1", None)))
        extra = {"utf-8": "éü€日本", "iso-8859-1": "éüß"}.get(charset or "", "")
        text = draw(_lines(extra))
        payload = text.encode(charset or "ascii")
        if charset is not None:
            params.append(f"charset={_case(draw, charset)}")
        if draw(st.booleans()):
            params.append("format=flowed")
        cte = draw(st.sampled_from(("8bit" if extra else "7bit", "quoted-printable", "base64")))
    else:
        mtype = draw(st.sampled_from(("application/octet-stream", "image/png", "audio/basic")))
        payload = draw(st.binary(max_size=200))
        cte = draw(st.sampled_from(("base64", "quoted-printable")))
    if draw(st.booleans()):
        params.append(draw(_filename_param("name")))
    if cte == "base64":
        body = base64.encodebytes(payload)
    elif cte == "quoted-printable":
        body = binascii.b2a_qp(payload, istext=mtype.startswith("text/"))
    else:
        body = payload
    header: list[str] = []
    if mtype != "text/plain" or params or draw(st.booleans()):
        separator = draw(st.sampled_from(("; ", ";\n\t", ";\n ")))
        header.append("Content-Type: " + separator.join([_case(draw, mtype), *params]))
    if cte not in ("7bit", "8bit") or draw(st.booleans()):
        header.append("Content-Transfer-Encoding: " + _case(draw, cte))
    if draw(st.booleans()):
        header.append(f"Content-ID: <{draw(_words)}@{draw(_words)}.example>")
    if draw(st.booleans()):
        header.append("Content-Description: " + " ".join(draw(st.lists(_words, min_size=1))))
    if draw(st.booleans()):
        disposition = _case(draw, draw(st.sampled_from(("inline", "attachment"))))
        if draw(st.booleans()):
            disposition += ";\n " + draw(_filename_param("filename"))
        header.append("Content-Disposition: " + disposition)
    draw(st.randoms()).shuffle(header)
    return _Leaf(tuple(header), body)


_ADDRESS = st.builds(
    lambda local, domain, form: (
        f"{local}@{domain}.example",
        f"{local.title()} <{local}@{domain}.example>",
        f'"{local.title()}, {domain}" <{local}@{domain}.example>',
    )[form],
    _words,
    _words,
    st.integers(0, 2),
)


@st.composite
def _envelope_header(draw: st.DrawFn) -> tuple[str, ...]:
    header = [
        "From: " + draw(_ADDRESS),
        "Date: Tue, 12 Mar 2024 10:15:00 +0100",
        f"Message-ID: <{draw(_words)}.{draw(_words)}@example.org>",
    ]
    subject = " ".join(draw(st.lists(_words, min_size=1, max_size=6)))
    form = draw(st.integers(0, 2))
    if form == 1:
        subject = str(email.header.Header(subject + " Grüße", "utf-8").encode())
    elif form == 2:
        subject += " Grüße"  # RFC 6532 UTF-8
    header.append("Subject: " + subject)
    for name in ("To", "Cc", "Reply-To", "Sender"):
        if draw(st.booleans()):
            header.append(f"{name}: " + ",\n ".join(draw(st.lists(_ADDRESS, min_size=1))))
    if draw(st.booleans()):
        header.append(f"In-Reply-To: <{draw(_words)}@example.net>")
    draw(st.randoms()).shuffle(header)
    return tuple(header)


def _extend(children: st.SearchStrategy[_Tree]) -> st.SearchStrategy[_Tree]:
    boundary_tail = st.text(alphabet=_BCHARS, max_size=30)
    optional_text = st.none() | _lines()
    multi = st.builds(
        _Multi,
        subtype=st.sampled_from(("mixed", "alternative", "related", "MIXED", "Alternative")),
        boundary=boundary_tail,
        padding=st.sampled_from(("", "", " ", "\t ")),
        parts=st.lists(children, min_size=1, max_size=4).map(tuple),
        preamble=optional_text,
        epilogue=optional_text,
    )
    encapsulated = st.builds(
        _Encapsulated,
        header=st.sampled_from(((), ("Content-Disposition: attachment",))),
        envelope=_envelope_header(),
        message=children,
    )
    return multi | encapsulated


_trees = st.recursive(_leaf(), _extend, max_leaves=8)


class _Writer:
    def __init__(self) -> None:
        self.boundaries = 0

    def entity(self, tree: _Tree) -> str:
        """The entity: its MIME header, the blank line, its body."""
        if isinstance(tree, _Leaf):
            return "".join(line + "\n" for line in tree.header) + "\n" + self.octets(tree.body)
        if isinstance(tree, _Encapsulated):
            header = ("Content-Type: message/rfc822", *tree.header)
            envelope = "".join(line + "\n" for line in tree.envelope)
            return (
                "".join(line + "\n" for line in header)
                + "\n"
                + envelope
                + self.entity(tree.message)
            )
        self.boundaries += 1
        boundary = "=_" + tree.boundary + f".{self.boundaries}"
        out = [f'Content-Type: multipart/{tree.subtype};\n boundary="{boundary}"\n\n']
        if tree.preamble is not None:
            out.append(tree.preamble + "\n")
        for part in tree.parts:
            out.append(f"--{boundary}{tree.padding}\n{self.entity(part)}\n")
        out.append(f"--{boundary}--{tree.padding}")
        if tree.epilogue is not None:
            out.append("\n" + tree.epilogue)
        return "".join(out)

    @staticmethod
    def octets(data: bytes) -> str:
        return data.decode("utf-8", "surrogateescape")


def _message(envelope: tuple[str, ...], tree: _Tree, eol: str) -> bytes:
    text = "".join(line + "\n" for line in envelope) + _Writer().entity(tree)
    return text.encode("utf-8", "surrogateescape").replace(b"\n", eol.encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelope=_envelope_header(), tree=_trees, eol=st.sampled_from(("\r\n", "\n")))
def test_generated_trees_against_stdlib(envelope: tuple[str, ...], tree: _Tree, eol: str) -> None:
    data = _message(envelope, tree, eol)
    assert differences(data) == set()


# -- SEARCH text: RFC 2047 words and charsets, decoded as the stdlib decodes them ---------------


def _subject(data: bytes) -> list[str]:
    parsed = parse_message(data)
    return _drive(header_values(parsed, BytesBody(data), "Subject"))


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_corpus_search_text_against_stdlib(case: Case) -> None:
    """SEARCH sees each header as ``make_header(decode_header(...))`` reads it, and each
    text part as the stdlib decodes it (where its charset is one Python knows)."""
    data = case.data
    m = _stdlib(data)
    raw = _raw(m, "subject")
    agreed = ("envelope-subject", "") not in case.quirks
    if agreed and raw is not None and raw.isascii():
        expected = str(email.header.make_header(email.header.decode_header(raw)))
        assert _subject(data)[0] == expected
    parsed = parse_message(data)
    text = _drive(search_text(parsed, BytesBody(data), include_headers=False))
    for part in m.walk():
        payload = part.get_payload(decode=True)
        if part.get_content_maintype() != "text" or not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset()
        if charset is None or charset == "us-ascii":
            continue
        codec = email.charset.Charset(charset).input_codec or charset
        try:
            decoded = payload.decode(codec)
        except (LookupError, UnicodeError):
            continue
        assert decoded in text


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "日本語"),
        ("=?GB2312?B?1tDOxA==?=", "中文"),
        ("=?KOI8-R?B?8NLJ18XU?=", "Привет"),
        ("=?windows-1252?Q?=93quoted=94?=", "\u201cquoted\u201d"),
        ("=?ks_c_5601-1987?B?x9GxuQ==?=", "한국"),  # email.charset / codecs alias
        ("=?latin_1?Q?caf=E9?=", "café"),
        ("=?iso-8859-1*fr?Q?caf=E9?=", "café"),  # RFC 2231 section 5 language
        ("=?us-ascii?Q?caf=C3=A9?=", "café"),  # US-ASCII mislabels UTF-8
        ("=?utf-8?Q?caf=E9?=", "caf\ufffd"),  # the stdlib raises; leniently decoded
        ("=?x-unknown?Q?abc?=", "abc"),
        ("=??Q?abc?=", "=??Q?abc?="),  # no charset: no encoded word
        ("Grüße =?utf-8?Q?caf=C3=A9?=", "Grüße café"),  # RFC 6532 text around a word
        ("=?utf-8?Q?a?= =?iso-8859-1?Q?=E9?=", "aé"),
        ("Subject: =?utf-8?Q?a?=\r\nTo: =?utf-8?Q?b?=\r\n", "Subject: a\r\nTo: b\r\n"),
    ],
)
def test_encoded_words_stdlib(raw: str, decoded: str) -> None:
    assert _decode_words(raw) == decoded


@pytest.mark.parametrize(
    ("charset", "data", "text"),
    [
        ("ISO-8859-1", b"caf\xe9", "café"),
        ("latin_1", b"caf\xe9", "café"),  # an email.charset alias
        ("gb2312", "中文".encode("gb2312"), "中文"),  # eucgb2312_cn, email.charset's codec
        ("ks_c_5601-1987", "한국".encode("cp949"), "한국"),
        ("windows-1252", b"\x93q\x94", "\u201cq\u201d"),
        ("us-ascii", "é".encode(), "é"),  # often mislabelled UTF-8
        ("base64", b"abc", "abc"),  # a codec, but no text encoding
        ("x-nonsense", b"abc\xff", "abc\ufffd"),
        ("\u00e9", b"abc", "abc"),
        ("x" * 100, b"abc", "abc"),
    ],
)
def test_charsets(charset: str, data: bytes, text: str) -> None:
    assert _decode_charset(data, charset) == text


_HEADER_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=80
).map(lambda text: " ".join(text.split()))


@given(text=_HEADER_TEXT, charset=st.sampled_from(("utf-8", "iso-8859-1", "koi8-r", "gb2312")))
@settings(max_examples=100, deadline=None)
def test_stdlib_encoded_words_read_back(text: str, charset: str) -> None:
    """What ``email.header.Header`` writes (folded, in any charset), SEARCH reads back."""
    try:
        text.encode(email.charset.Charset(charset).input_codec or charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    encoded = email.header.Header(text, charset, header_name="Subject").encode(linesep="\r\n")
    data = b"Subject: " + encoded.encode("ascii") + b"\r\n\r\nbody\r\n"
    assert _subject(data) == [text]
    parsed = parse_message(data)
    assert text in _drive(search_text(parsed, BytesBody(data), include_headers=True))


# -- the fixes the comparison led to ------------------------------------------------------------


def test_boundary_trailing_white_space_is_padding() -> None:
    """RFC 2046 section 5.1.1: a boundary ends in no space (bcharsnospace), so a trailing
    one in the parameter can only be padding; the stdlib strips it too."""
    data = (
        b'Content-Type: multipart/mixed; boundary="b  "\r\n\r\n'
        b"--b\r\n\r\none\r\n--b  \r\n\r\ntwo\r\n--b--\r\n"
    )
    parsed = parse_message(data)
    assert isinstance(parsed.body_structure, MultiPart)
    assert parsed.body_structure.params == (("BOUNDARY", "b  "),)  # as sent
    assert len(parsed.body_structure.parts) == 2
    assert _drive(read_section(parsed, BytesBody(data), Section(part=(2,)))) == b"two"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # RFC 2231 section 4.1 (3): encoded segments after a plain first one. The joined
        # value is extended, with blank charset and language (section 4.1 (5)).
        ("title*0=abc; title*1*=%41%42", (("TITLE*", "''abc%41%42"),)),
        ('title*0="a b"; title*1*=%41', (("TITLE*", "''a%20b%41"),)),
        # The RFC's own example: encoded first, a plain quoted last segment.
        (
            "title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20;"
            ' title*2="isn\'t it!"',
            (
                (
                    "TITLE*",
                    "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!",
                ),
            ),
        ),
        ("title*0=abc; title*1=def", (("TITLE", "abcdef"),)),
    ],
)
def test_rfc2231_mixed_segments(params: str, expected: tuple[tuple[str, str], ...]) -> None:
    data = f"Content-Type: application/x-stuff; {params}\r\n\r\nx".encode()
    structure = parse_message(data).body_structure
    assert isinstance(structure, SinglePart)
    assert structure.params == expected
    theirs = _stdlib_params(_stdlib(data), "content-type")
    assert _our_params(structure.params) == theirs
