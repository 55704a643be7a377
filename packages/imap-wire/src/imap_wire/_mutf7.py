"""Mailbox name encoding: modified UTF-7 and UTF-8.

IMAP4rev1 mailbox names use modified UTF-7 (RFC 3501 section 5.1.3, repeated in RFC 9051
appendix A.1). Once ``UTF8=ACCEPT`` is enabled (RFC 9755 section 3), and in IMAP4rev2
(RFC 9051 section 5.1), mailbox names travel as raw UTF-8 instead and ``&`` is an ordinary
character.

Strict decoding accepts exactly the encodings :func:`encode_mailbox_name` produces, which is
what RFC 3501 section 5.1.3 asks a server to verify for CREATE. Lenient decoding never raises,
for clients that must list whatever a real server returns; it is lossy, so a client that needs
to address such a mailbox again should keep the raw bytes.
"""

from __future__ import annotations

import base64
import re

__all__ = ["decode_mailbox_name", "encode_mailbox_name", "normalize_inbox"]

# Printable US-ASCII except "&": the characters that represent themselves (RFC 3501 5.1.3).
_PLAIN_BYTES = re.compile(rb"[\x20-\x25\x27-\x7e]*").fullmatch
# Everything else is shifted; one maximal run per shift, so no null shifts are ever written.
_SHIFTED_RUN = re.compile(r"[^\x20-\x7e]+")
# Alphabet of modified BASE64: RFC 2152's base64 with "," in place of "/".
_B64_RUN = re.compile(rb"[A-Za-z0-9+,]*")
_LITERAL_BYTE = re.compile(rb"[^\x20-\x7e]")
# "&" counts too: its one canonical form is "&-", never BASE64.
_PRINTABLE_IN_TEXT = re.compile(r"[\x20-\x7e]")
_TO_B64 = bytes.maketrans(b",", b"/")
_FROM_B64 = bytes.maketrans(b"/", b",")
_DASH = 0x2D
# Lengths (mod 8) of a run of BASE64 characters that ends on a whole UTF-16 code unit with
# fewer than 6 spare bits: 3 chars = 1 unit + 2 bits, 6 = 2 units + 4 bits, 8 = 3 units.
_WHOLE_UNIT_LENGTHS = frozenset({0, 3, 6})


def encode_mailbox_name(name: str, *, utf8: bool = False) -> bytes:
    """Encode a mailbox name for the wire.

    Args:
        name: The mailbox name as text.
        utf8: Write raw UTF-8, as after ``ENABLE UTF8=ACCEPT`` (RFC 9755 section 3) or in
            IMAP4rev2 (RFC 9051 section 5.1); otherwise write modified UTF-7 (RFC 3501
            section 5.1.3).

    Returns:
        The encoded name. Characters outside the BMP become UTF-16 surrogate pairs inside the
        modified BASE64, as in RFC 2152.

    Raises:
        ValueError: ``name`` contains a lone surrogate code point, which has no encoding in
            either form.
    """
    if utf8:
        try:
            return name.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"mailbox name has a lone surrogate at index {exc.start}") from exc
    # str.isprintable() is exactly 0x20-0x7e on ASCII, and beats a regex on the common case.
    if name.isascii() and name.isprintable() and "&" not in name:
        return name.encode("ascii")
    out: list[bytes] = []
    pos = 0
    for match in _SHIFTED_RUN.finditer(name):
        out.append(name[pos : match.start()].replace("&", "&-").encode("ascii"))
        try:
            utf16 = match.group().encode("utf-16-be")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"mailbox name has a lone surrogate at index {match.start() + exc.start}"
            ) from exc
        out.append(b"&" + _b64encode(utf16) + b"-")
        pos = match.end()
    out.append(name[pos:].replace("&", "&-").encode("ascii"))
    return b"".join(out)


def decode_mailbox_name(raw: bytes, *, utf8: bool = False, strict: bool = True) -> str:
    """Decode a mailbox name read from the wire.

    Args:
        raw: The mailbox name as it appeared in the astring, quoting and literal framing
            already removed.
        utf8: Read raw UTF-8 and treat ``&`` as an ordinary character, as after
            ``ENABLE UTF8=ACCEPT`` (RFC 9755 section 3) or in IMAP4rev2 (RFC 9051 section 5.1);
            otherwise read modified UTF-7 (RFC 3501 section 5.1.3). The Net-Unicode
            restrictions of RFC 9755 section 3 (no control characters) are mailbox naming
            policy and are left to the server.
        strict: Reject anything that is not the one canonical encoding of a name. When false,
            never raise: malformed shift sequences are kept literally, non-canonical but
            readable BASE64 is decoded anyway, and 8-bit bytes are read as UTF-8 with
            ``surrogateescape``.

    Returns:
        The mailbox name as text.

    Raises:
        ValueError: ``strict`` is true and ``raw`` is malformed: invalid UTF-8 when ``utf8``;
            otherwise an 8-bit or control byte outside BASE64, an unterminated ``&``, a
            character outside the modified BASE64 alphabet, a BASE64 run that is not a whole
            number of UTF-16 code units or has non-zero padding bits, an unpaired surrogate,
            an encoded printable ASCII character, or a null shift (``-&``).
    """
    if utf8:
        if not strict:
            return raw.decode("utf-8", "surrogateescape")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"mailbox name is not valid UTF-8 at offset {exc.start}: {exc.reason}"
            ) from exc
    if _PLAIN_BYTES(raw):
        return raw.decode("ascii")
    return _decode_mutf7(raw, strict)


def normalize_inbox(name: str) -> str:
    """Return ``"INBOX"`` for any case variant of it, and any other name unchanged.

    INBOX is case-insensitive (RFC 9051 section 5.1 and the ``mailbox`` rule in section 9).
    Only the whole name is normalized: the case sensitivity of every other name, children of
    INBOX such as ``inbox/Sent`` included, is implementation dependent (RFC 9051 section 5.1),
    and the hierarchy delimiter is not known here.

    Args:
        name: A decoded mailbox name.

    Returns:
        ``"INBOX"`` or ``name``.
    """
    # The ASCII check keeps Unicode case mapping out: "\u0131nbox".upper() (dotless i) is "INBOX".
    if len(name) == 5 and name.isascii() and name.upper() == "INBOX":
        return "INBOX"
    return name


def _b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=").translate(_FROM_B64)


def _decode_mutf7(raw: bytes, strict: bool) -> str:
    out: list[str] = []
    pos = 0
    shift_end = -1  # offset just after the last decoded "&...-", to spot null shifts
    length = len(raw)
    while True:
        amp = raw.find(b"&", pos)
        literal = raw[pos:] if amp < 0 else raw[pos:amp]
        if literal:
            if strict:
                _check_literal(literal, pos)
                out.append(literal.decode("ascii"))
            else:
                out.append(literal.decode("utf-8", "surrogateescape"))
        if amp < 0:
            return "".join(out)
        run_match = _B64_RUN.match(raw, amp + 1)
        end = amp + 1 if run_match is None else run_match.end()
        if end >= length or raw[end] != _DASH:
            if strict:
                if end >= length:
                    raise ValueError(f"'&' at offset {amp} is not terminated by '-'")
                raise ValueError(
                    f"byte {raw[end]:#04x} at offset {end} is not modified BASE64"
                    f" (in the shift started at offset {amp})"
                )
            # Not a shift sequence: keep the "&" literally and read on from the next byte.
            out.append("&")
            pos = amp + 1
            continue
        run = raw[amp + 1 : end]
        pos = end + 1
        if not run:
            out.append("&")
            continue
        if strict and amp == shift_end:
            raise ValueError(
                f"null shift '-&' at offset {amp - 1}: adjacent BASE64 runs must be one run"
            )
        text = _decode_run(run, amp, strict)
        if text is None:
            out.append(raw[amp:pos].decode("ascii"))
        else:
            out.append(text)
            shift_end = pos


def _check_literal(literal: bytes, offset: int) -> None:
    bad = _LITERAL_BYTE.search(literal)
    if bad is None:
        return
    byte = bad.group()[0]
    where = offset + bad.start()
    if byte >= 0x80:
        raise ValueError(
            f"8-bit byte {byte:#04x} at offset {where} in a modified UTF-7 mailbox name"
            " (UTF-8 names need UTF8=ACCEPT)"
        )
    raise ValueError(
        f"control byte {byte:#04x} at offset {where} must be encoded in modified BASE64"
    )


def _decode_run(run: bytes, amp: int, strict: bool) -> str | None:
    """Decode the BASE64 between ``&`` and ``-``; None if unreadable and not strict."""
    if len(run) % 8 not in _WHOLE_UNIT_LENGTHS:
        if strict:
            raise ValueError(
                f"modified BASE64 at offset {amp + 1} is {len(run)} characters long,"
                " not a whole number of UTF-16 code units"
            )
        return None
    # Cannot fail: _B64_RUN allowed only the alphabet, and the length check above leaves a
    # remainder of 0, 2 or 3 characters, which the padding completes.
    utf16 = base64.b64decode(run.translate(_TO_B64) + b"=" * (-len(run) % 4), validate=True)
    if strict and _b64encode(utf16) != run:
        raise ValueError(f"modified BASE64 at offset {amp + 1} has non-zero padding bits")
    try:
        text = utf16.decode("utf-16-be")
    except UnicodeDecodeError:
        if strict:
            raise ValueError(
                f"modified BASE64 at offset {amp + 1} holds an unpaired UTF-16 surrogate"
            ) from None
        return None
    if strict:
        plain = _PRINTABLE_IN_TEXT.search(text)
        if plain is not None:
            raise ValueError(
                f"modified BASE64 at offset {amp + 1} encodes the printable ASCII character"
                f" {plain.group()!r}, which must represent itself"
            )
    return text
