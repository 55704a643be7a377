"""Every example command and response of RFC 9051 and RFC 3501 (sections 6 and 7).

The corpus is extracted from the RFC text by ``conftest.py``; each ``C:`` line must parse as
a command and each ``S:`` line as a response, and re-encoding must give bytes that parse to
an equal value. Most also re-encode byte for byte; the rest differ only in representation
(a quoted string written as an atom, FETCH items in another order, a keyword's case).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from imap_wire._api import encode_command, encode_response, parse_command, parse_responses
from imap_wire._api import parse_response as parse_one_response
from imap_wire._command_base import Command
from imap_wire._commands import Append, Login, Search
from imap_wire._encoding import LiteralMode
from imap_wire._registry import ParseContext, Registry, default_registry
from imap_wire._values import Cursor
from imap_wire.errors import RemoteProtocolError

# Examples that fail because of a bug in the codec: "<test function>[<example id>]" -> why.
# conftest.py marks them as strict xfails, so a fix turns them into failures to remove here.
KNOWN_FAILURES: dict[str, str] = {}

# Examples whose parse is expected to fail, as the RFC's own server response shows:
# example id -> (status, code) the RemoteProtocolError must carry.
EXPECTED_ERRORS: dict[str, tuple[str, str | None]] = {
    # "S: B283 NO [BADCHARSET UTF-8] KOI8-R is not supported" (RFC 9051 section 6.4.4.1).
    "rfc9051-L4224-C": ("NO", "BADCHARSET"),
}

# Experimental commands (RFC 9051 section 6.5.1): parsed with the extension below installed.
NEEDS_PIG_LATIN = {"rfc9051-L4866-C", "rfc3501-L3449-C"}

# Lower bounds on the corpus, so a broken extractor cannot pass by finding nothing.
MIN_EXAMPLES = {(9051, "C"): 180, (9051, "S"): 460, (3501, "C"): 55, (3501, "S"): 150}
# How many examples re-encode to exactly the RFC's bytes (684 of 882 when written).
MIN_BYTE_IDENTICAL = 660


@dataclass(frozen=True, slots=True, kw_only=True)
class XPigLatin(Command):
    """The experimental command of RFC 9051 section 6.5.1, as a third party would add it."""

    name: ClassVar[str] = "XPIG-LATIN"


def _parse_pig_latin(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    return XPigLatin(tag=tag)


def _install_pig_latin(registry: Registry) -> None:
    registry.commands["XPIG-LATIN"] = _parse_pig_latin


def _pig_latin_registry() -> Registry:
    registry = default_registry()
    registry.install("x-pig-latin", _install_pig_latin)
    return registry


def _registry_for(example: Any) -> Registry | None:
    return _pig_latin_registry() if example.id in NEEDS_PIG_LATIN else None


# -- the corpus itself ---------------------------------------------------------------------


def test_corpus_is_large(rfc_dir: Path | None, rfc_examples: tuple[Any, ...]) -> None:
    assert rfc_dir is not None, (
        "rfc9051.txt and rfc3501.txt not found: set IMAP_RFC_DIR or put them in a 'rfc' "
        "folder at the repository root (see conftest.py)"
    )
    counts = Counter((e.rfc, e.direction) for e in rfc_examples)
    for key, minimum in MIN_EXAMPLES.items():
        assert counts[key] >= minimum, (key, counts[key])
    assert len(rfc_examples) > 800
    assert len({e.id for e in rfc_examples}) == len(rfc_examples)


def test_skipped_lines_are_exactly_the_listed_ones(
    rfc_skipped: tuple[Any, ...], rfc_expected_skips: dict[tuple[int, int], str]
) -> None:
    assert {(s.rfc, s.line): s.reason for s in rfc_skipped} == rfc_expected_skips


def test_wrapped_lines_are_joined(rfc_examples: tuple[Any, ...]) -> None:
    by_id = {e.id: e.data for e in rfc_examples}
    # RFC 3501 wraps at the column of "S:"; RFC 9051 deeper.
    assert by_id["rfc3501-L1352-S"] == (
        b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"
    )
    assert by_id["rfc9051-L1859-S"] == (
        b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\Answered \\Flagged \\Draft \\*)]"
        b" System flags and keywords allowed\r\n"
    )
    assert by_id["rfc9051-L3154-S"] == (
        b'* NAMESPACE (("" "/")) (("~" "/")) (("#shared/" "/")'
        b'("#public/" "/")("#ftp/" "/")("#news." "."))\r\n'
    )
    # A wrapped SASL challenge is base64 cut in the middle: joined without a space.
    assert by_id["rfc9051-L1544-S"] == (
        b"+ YDMGCSqGSIb3EgECAgIBAAD/////6jcyG4GE3KkTzBeBiVHeceP2CWY0SR0fAQAgAAQEBAQ=\r\n"
    )


def test_literals_are_reassembled(rfc_examples: tuple[Any, ...]) -> None:
    by_id = {e.id: e for e in rfc_examples}
    login = by_id["rfc9051-L6193-C"]
    assert login.data == b"A001 LOGIN {11}\r\nFRED FOOBAR {7}\r\nfat man\r\n"
    assert login.literals == (b"FRED FOOBAR", b"fat man")
    for ident, size in (
        ("rfc9051-L3484-C", 326),
        ("rfc9051-L3500-C", 297),
        ("rfc3501-L2589-C", 310),
    ):
        (message,) = by_id[ident].literals
        assert len(message) == size
        assert message.startswith(b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n")
        assert message.endswith(
            b"\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
        )
        assert by_id[ident].data.endswith(message + b"\r\n")
    assert by_id["rfc9051-L4005-C"].literals == ("отпуск".encode(),)
    # The continuation requests between the literals are examples of their own.
    assert by_id["rfc9051-L6194-S"].data == b"+ Ready for additional command text\r\n"
    literal_examples = [e for e in rfc_examples if e.literals]
    assert len(literal_examples) == 9
    # Every literal in the two RFCs is counted right; nothing had to be fixed up.
    assert [e.note for e in rfc_examples if e.note] == []


def test_miscounted_literal_is_fixed_up(
    rfc_extract: Callable[[str, int], tuple[list[Any], list[Any]]],
) -> None:
    text = "\n".join(
        [
            "6.  Client Commands",
            "",
            "   Example:",
            "",
            "     C: A1 APPEND box {99}",
            "     S: + Ready for literal data",
            "     C: Subject: hi",
            "     C:",
            "     C: body",
            "     C:",
            "     S: A1 OK APPEND completed",
            "     C: A2 LOGIN {3}",
            "     C: bob {4}",
            "     C: pass",
            "     C: A3 IDLE",
            "     S: + idling",
            "     C: DONE",
            "",
            "8.  Sample",
        ]
    )
    examples, skipped = rfc_extract(text, 9999)
    assert [(e.line, e.direction) for e in examples] == [
        (5, "C"),
        (6, "S"),
        (11, "S"),
        (12, "C"),
        (15, "C"),
        (16, "S"),
    ]
    append = examples[0]
    assert append.data == b"A1 APPEND box {21}\r\nSubject: hi\r\n\r\nbody\r\n\r\n"
    assert append.literals == (b"Subject: hi\r\n\r\nbody\r\n",)
    assert append.note == "literal declared as 99 octets, content is 21"
    assert examples[3].data == b"A2 LOGIN {3}\r\nbob {4}\r\npass\r\n"
    assert examples[3].note == ""
    assert [(s.line, s.text) for s in skipped] == [(17, "DONE")]


def test_paginated_text_is_joined_across_page_breaks(
    rfc_extract: Callable[[str, int], tuple[list[Any], list[Any]]],
) -> None:
    text = "\n".join(
        [
            "6.      Client Commands",
            "   Example:    S: * CAPABILITY IMAP4rev1 STARTTLS",
            "",
            "",
            "Crispin                     Standards Track                    [Page 24]",
            "\f",
            "RFC 3501                         IMAPv4                       March 2003",
            "",
            "",
            "               AUTH=GSSAPI",
            "               S: a OK done",
            "8.      Sample IMAP4rev1 connection",
        ]
    )
    examples, _ = rfc_extract(text, 3501)
    assert [e.data for e in examples] == [
        b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI\r\n",
        b"a OK done\r\n",
    ]


def test_known_failures_name_existing_tests(rfc_examples: tuple[Any, ...]) -> None:
    ids = {e.id for e in rfc_examples}
    tests = {name for name in globals() if name.startswith("test_")}
    for key in KNOWN_FAILURES:
        function, _, rest = key.partition("[")
        assert function in tests, key
        assert rest.rstrip("]") in ids, key
    assert set(EXPECTED_ERRORS) <= ids
    assert ids >= NEEDS_PIG_LATIN


# -- commands ------------------------------------------------------------------------------


def test_command_parses(rfc_command: Any) -> None:
    expected = EXPECTED_ERRORS.get(rfc_command.id)
    if expected is not None:
        with pytest.raises(RemoteProtocolError) as info:
            parse_command(rfc_command.data)
        assert (info.value.status, info.value.code) == expected
        assert info.value.tag == rfc_command.data.split(b" ", 1)[0].decode()
        return
    command = parse_command(rfc_command.data, registry=_registry_for(rfc_command))
    assert isinstance(command, Command)
    assert command.tag == rfc_command.data.split(b" ", 1)[0].decode()


def test_experimental_command_needs_its_extension() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_command(b"A442 XPIG-LATIN\r\n")
    assert (info.value.tag, info.value.status) == ("A442", "BAD")
    assert parse_command(b"A442 XPIG-LATIN\r\n", registry=_pig_latin_registry()) == XPigLatin(
        tag="A442"
    )


@pytest.mark.parametrize("mode", [LiteralMode.SYNC, LiteralMode.PLUS, LiteralMode.MINUS])
def test_command_round_trip(rfc_command: Any, mode: LiteralMode) -> None:
    if rfc_command.id in EXPECTED_ERRORS:
        pytest.skip("the example shows the command being refused")
    registry = _registry_for(rfc_command)
    command = parse_command(rfc_command.data, registry=registry)
    encoded = encode_command(command, literal_mode=mode)
    again = parse_command(encoded, registry=registry)
    assert again == command
    # Encoding is a function of the value: a second trip gives the same bytes.
    assert encode_command(again, literal_mode=mode) == encoded


def test_command_values(rfc_examples: tuple[Any, ...]) -> None:
    by_id = {e.id: e for e in rfc_examples}
    login = parse_command(by_id["rfc9051-L6193-C"].data)
    assert isinstance(login, Login)
    assert (login.username, login.password) == ("FRED FOOBAR", "fat man")
    append = parse_command(by_id["rfc3501-L2589-C"].data)
    assert isinstance(append, Append)
    assert append.mailbox == "saved-messages"
    assert append.flags == ("\\Seen",)
    assert append.message == by_id["rfc3501-L2589-C"].literals[0]
    search = parse_command(by_id["rfc9051-L4005-C"].data)
    assert isinstance(search, Search)


# -- responses -----------------------------------------------------------------------------


def test_response_parses(rfc_response: Any) -> None:
    response = parse_one_response(rfc_response.data)
    assert hasattr(response, "write")


def test_response_round_trip(rfc_response: Any) -> None:
    response = parse_one_response(rfc_response.data)
    encoded = encode_response(response)
    again = parse_one_response(encoded)
    assert again == response
    assert encode_response(again) == encoded


@pytest.mark.parametrize("rfc", [9051, 3501])
def test_responses_parse_as_one_stream(rfc_examples: tuple[Any, ...], rfc: int) -> None:
    responses = [e.data for e in rfc_examples if e.rfc == rfc and e.direction == "S"]
    assert parse_responses(b"".join(responses)) == [parse_one_response(r) for r in responses]


# -- byte-identical re-encoding ------------------------------------------------------------


def _reencode(example: Any) -> bytes | None:
    try:
        if example.direction == "C":
            return encode_command(
                parse_command(example.data, registry=_registry_for(example)),
                literal_mode=LiteralMode.PLUS if b"+}\r\n" in example.data else LiteralMode.SYNC,
            )
        return encode_response(parse_one_response(example.data))
    except RemoteProtocolError:
        return None


def test_most_examples_reencode_byte_identical(rfc_examples: tuple[Any, ...]) -> None:
    identical = [e for e in rfc_examples if _reencode(e) == e.data]
    assert len(identical) >= MIN_BYTE_IDENTICAL, len(identical)
