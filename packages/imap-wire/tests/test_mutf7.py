"""Mailbox name encoding: modified UTF-7 (RFC 3501 section 5.1.3) and UTF-8 (RFC 9755)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imap_wire._mutf7 import decode_mailbox_name, encode_mailbox_name, normalize_inbox

# Text without lone surrogates: everything a mailbox name can be.
names = st.text(st.characters(exclude_categories=["Cs"]))


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        # The example of RFC 3501 section 5.1.3.
        ("~peter/mail/台北/日本語", b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("", b""),
        ("INBOX", b"INBOX"),
        ("&", b"&-"),
        ("A&B", b"A&-B"),
        ("&&", b"&-&-"),
        ("~peter/mail/&/x-y", b"~peter/mail/&-/x-y"),
        # "-" right after a shift is still printable ASCII, written as itself.
        ("台-", b"&U,A--"),
        ("Entwürfe", b"Entw&APw-rfe"),
        ("Отправленные", b"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
        # One run for adjacent non-ASCII characters, including a control character.
        ("ü\x00ü", b"&APwAAAD8-"),
        ("\x7f", b"&AH8-"),
        ("tab\there", b"tab&AAk-here"),
        # Outside the BMP: a UTF-16 surrogate pair (U+1F600 is D83D DE00).
        ("😀", b"&2D3eAA-"),
        ("a😀b", b"a&2D3eAA-b"),
        ("😀&😀", b"&2D3eAA-&-&2D3eAA-"),
    ],
)
def test_known_encodings(text: str, wire: bytes) -> None:
    assert encode_mailbox_name(text) == wire
    assert decode_mailbox_name(wire) == text
    assert decode_mailbox_name(wire, strict=False) == text


def test_utf8_is_raw_and_ampersand_is_plain() -> None:
    # RFC 9755 section 3: after ENABLE UTF8=ACCEPT names are UTF-8, "&" is just a character.
    assert encode_mailbox_name("台北&😀", utf8=True) == "台北&😀".encode()
    assert decode_mailbox_name(b"&U,BTFw-", utf8=True) == "&U,BTFw-"
    assert decode_mailbox_name("Entwürfe".encode(), utf8=True) == "Entwürfe"
    assert decode_mailbox_name(b"&", utf8=True) == "&"


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        # RFC 3501 section 5.1.3: "&Jjo!" has no shift back to US-ASCII.
        (b"&Jjo!", "not modified BASE64"),
        (b"&Jjo", "not terminated"),
        (b"abc&", "not terminated"),
        (b"&U,BTFw", "not terminated"),
        # Standard base64 "/" is not the modified alphabet.
        (b"&U/BTFw-", "not modified BASE64"),
        (b"&AP=-", "not modified BASE64"),
        # Truncated runs: not a whole number of UTF-16 code units.
        (b"&A-", "whole number"),
        (b"&AP-", "whole number"),
        (b"&APwA-", "whole number"),
        (b"&APwAA-", "whole number"),
        # Non-zero padding bits: "&AP0-" would be U+00FD with a stray bit.
        (b"&APx-", "padding bits"),
        # An unpaired surrogate: D83D alone, and DE00 alone.
        (b"&2D0-", "unpaired"),
        (b"&3gA-", "unpaired"),
        (b"&2D0AQQ-", "unpaired"),
        # Printable ASCII must represent itself: "A" (0041), "&" (0026) and " " (0020).
        (b"&AEE-", "printable ASCII"),
        (b"&ACY-", "printable ASCII"),
        (b"&APwAIA-", "printable ASCII"),
        # Null shift: "-&" inside what should be one BASE64 run.
        (b"&APw-&APw-", "null shift"),
        # 8-bit and control bytes outside BASE64.
        ("Entwürfe".encode(), "8-bit"),
        (b"a\x00b", "control"),
        (b"a\x7f", "control"),
        (b"a\r\n", "control"),
    ],
)
def test_strict_rejects(wire: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_mailbox_name(wire)


@pytest.mark.parametrize(
    ("wire", "text"),
    [
        # Malformed shifts are kept literally.
        (b"&Jjo!", "&Jjo!"),
        (b"&Jjo", "&Jjo"),
        (b"abc&", "abc&"),
        (b"&A-", "&A-"),
        (b"&2D0-", "&2D0-"),
        (b"&U/BTFw-", "&U/BTFw-"),
        (b"&&U,BTFw-", "&台北"),
        # Readable but non-canonical BASE64 is decoded.
        (b"&AEE-", "A"),
        (b"&APx-", "ü"),
        (b"&APw-&APw-", "üü"),
        # 8-bit bytes are read as UTF-8, invalid ones kept with surrogateescape.
        ("Entwürfe".encode(), "Entwürfe"),
        (b"caf\xe9", "caf\udce9"),
        (b"a\x00b", "a\x00b"),
    ],
)
def test_lenient_decoding(wire: bytes, text: str) -> None:
    assert decode_mailbox_name(wire, strict=False) == text


def test_utf8_strict_and_lenient() -> None:
    with pytest.raises(ValueError, match="not valid UTF-8 at offset 3"):
        decode_mailbox_name(b"caf\xe9", utf8=True)
    with pytest.raises(ValueError, match="not valid UTF-8"):
        # An encoded surrogate is not UTF-8 either.
        decode_mailbox_name(b"\xed\xa0\xbd", utf8=True)
    assert decode_mailbox_name(b"caf\xe9", utf8=True, strict=False) == "caf\udce9"


@pytest.mark.parametrize("utf8", [False, True])
def test_lone_surrogate_cannot_be_encoded(utf8: bool) -> None:
    with pytest.raises(ValueError, match="lone surrogate at index 2"):
        encode_mailbox_name("ab\ud83dc", utf8=utf8)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("INBOX", "INBOX"),
        ("inbox", "INBOX"),
        ("iNbOx", "INBOX"),
        # Only the whole name: children's case sensitivity is the server's business.
        ("inbox/Sent", "inbox/Sent"),
        ("Inbox.Drafts", "Inbox.Drafts"),
        ("INBOXES", "INBOXES"),
        ("Archive", "Archive"),
        # Unicode case mapping must not apply: dotless i upper-cases to "I".
        ("\u0131nbox", "\u0131nbox"),
    ],
)
def test_normalize_inbox(name: str, expected: str) -> None:
    assert normalize_inbox(name) == expected


@given(names)
def test_round_trip_mutf7(name: str) -> None:
    wire = encode_mailbox_name(name)
    # The result is always 7-bit printable ASCII, as RFC 3501 section 5.1.3 intends.
    assert all(0x20 <= byte <= 0x7E for byte in wire)
    assert decode_mailbox_name(wire) == name
    assert decode_mailbox_name(wire, strict=False) == name


@given(names)
def test_round_trip_utf8(name: str) -> None:
    wire = encode_mailbox_name(name, utf8=True)
    assert decode_mailbox_name(wire, utf8=True) == name
    assert decode_mailbox_name(wire, utf8=True, strict=False) == name


# Bytes biased towards the interesting ones: shifts, BASE64 letters, high and control bytes.
wire_bytes = st.one_of(
    st.binary(),
    st.lists(
        st.sampled_from(
            [b"&", b"-", b"A", b"P", b"w", b"2D3", b"eAA", b",", b"/", b"\xc3\xbc", b"\x00"]
        )
    ).map(b"".join),
)


@given(wire_bytes, st.booleans())
def test_lenient_decode_never_raises(raw: bytes, utf8: bool) -> None:
    assert isinstance(decode_mailbox_name(raw, utf8=utf8, strict=False), str)


@given(wire_bytes)
def test_strict_accepts_only_canonical_encodings(raw: bytes) -> None:
    # Strict decoding accepts exactly what the encoder writes, so a name has one spelling.
    try:
        name = decode_mailbox_name(raw)
    except ValueError:
        return
    assert encode_mailbox_name(name) == raw
    assert decode_mailbox_name(raw, strict=False) == name
