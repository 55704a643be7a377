"""FETCH responses with a `LiteralSource` section (a server streaming a large body):
`ServerConnection.send_parts` gives the bytes around each source, and splicing the source's
octets in gives exactly the encoding of the same response with bytes."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imap_wire import (
    BinarySectionKey,
    BodySectionKey,
    FetchResponse,
    LiteralSource,
    Section,
    SectionText,
    ServerConnection,
)
from imap_wire.errors import LocalProtocolError

SECTIONS = (
    Section(),
    Section(text=SectionText.TEXT),
    Section(part=(1, 2)),
    Section(part=(2,), text=SectionText.MIME),
)


def data_of(size: int, seed: int) -> bytes:
    """Octets that hold no NUL (BODY data), with CR LF and 8-bit ones in them."""
    return bytes((seed + 7 * i) % 255 + 1 for i in range(size))


def splice(parts: list[bytes | LiteralSource], octets: dict[int, bytes]) -> bytes:
    """The parts with each source replaced by its octets (by identity)."""
    out = bytearray()
    for part in parts:
        if isinstance(part, LiteralSource):
            data = octets[id(part)]
            assert len(data) == part.size
            out += data
        else:
            assert isinstance(part, bytes)
            out += part
    return bytes(out)


@st.composite
def responses(draw: st.DrawFn) -> tuple[FetchResponse, FetchResponse, dict[int, bytes]]:
    """A response with bytes sections, the same with some as sources, and their octets."""
    octets: dict[int, bytes] = {}
    plain: dict[BodySectionKey, bytes | None] = {}
    streamed: dict[BodySectionKey, bytes | LiteralSource | None] = {}
    chosen = draw(st.lists(st.sampled_from(SECTIONS), min_size=0, max_size=4, unique=True))
    for i, section in enumerate(chosen):
        origin = draw(st.none() | st.integers(0, 10_000))
        key = BodySectionKey(section=section, origin=origin)
        size = draw(st.integers(0, 3000))
        data = data_of(size, i)
        if draw(st.booleans()) and draw(st.booleans()):
            plain[key] = streamed[key] = None  # NIL
            continue
        plain[key] = data
        if draw(st.booleans()):
            source = LiteralSource(size=size)
            octets[id(source)] = data
            streamed[key] = source
        else:
            streamed[key] = data

    def one(i: int) -> tuple[bytes | None, bytes | LiteralSource | None]:
        if not draw(st.booleans()):
            return None, None
        data = data_of(draw(st.integers(0, 3000)), 100 + i)
        if draw(st.booleans()):
            source = LiteralSource(size=len(data))
            octets[id(source)] = data
            return data, source
        return data, data

    rfc822, rfc822_s = one(1)
    text, text_s = one(2)
    header, header_s = one(3)
    binary_plain: dict[BinarySectionKey, bytes | None] = {}
    binary_streamed: dict[BinarySectionKey, bytes | LiteralSource | None] = {}
    if draw(st.booleans()):
        # Binary data with NUL goes out as a literal8: so does a binary source.
        bdata = b"\x00" + data_of(draw(st.integers(0, 2000)), 5)
        bkey = BinarySectionKey(part=(1,), origin=draw(st.none() | st.integers(0, 99)))
        binary_plain[bkey] = bdata
        bsource = LiteralSource(size=len(bdata), binary=True)
        octets[id(bsource)] = bdata
        binary_streamed[bkey] = bsource
    seq = draw(st.integers(1, 2**32 - 1))
    uid = draw(st.none() | st.integers(1, 2**32 - 1))
    if not (plain or binary_plain or rfc822 or text or header or uid):
        uid = 1
    with_bytes = FetchResponse(
        seq=seq,
        uid=uid,
        size=draw(st.none() | st.integers(0, 10**9)),
        sections=plain,
        binary=binary_plain,
        rfc822=rfc822,
        rfc822_text=text,
        rfc822_header=header,
    )
    with_sources = dataclasses.replace(
        with_bytes,
        sections=streamed,
        binary=binary_streamed,
        rfc822=rfc822_s,
        rfc822_text=text_s,
        rfc822_header=header_s,
    )
    return with_bytes, with_sources, octets


@given(responses())
def test_parts_with_octets_spliced_in_equal_the_bytes_encoding(
    case: tuple[FetchResponse, FetchResponse, dict[int, bytes]],
) -> None:
    with_bytes, with_sources, octets = case
    expected = ServerConnection().send(with_bytes)
    parts = ServerConnection().send_parts(with_sources)
    assert splice(parts, octets) == expected
    sources = [p for p in parts if isinstance(p, LiteralSource)]
    assert len(sources) == len(octets)
    if not octets:
        assert parts == [expected]
    else:
        # Each source comes right after its announcement, never two parts of bytes in a row.
        for before, part in itertools.pairwise(parts):
            if isinstance(part, LiteralSource):
                assert isinstance(before, bytes)
                prefix = b"~{" if part.binary else b"{"
                assert before.endswith(prefix + b"%d}\r\n" % part.size)
            else:
                assert isinstance(before, LiteralSource)


def test_send_refuses_a_source_and_send_parts_splits_around_it() -> None:
    source = LiteralSource(size=5)
    response = FetchResponse(seq=3, uid=9, sections={BodySectionKey(): source})
    with pytest.raises(LocalProtocolError):
        ServerConnection().send(response)
    assert ServerConnection().send_parts(response) == [
        b"* 3 FETCH (UID 9 BODY[] {5}\r\n",
        source,
        b")\r\n",
    ]


def test_send_parts_of_a_response_without_source_is_one_part() -> None:
    response = FetchResponse(seq=1, flags=("\\Seen",), sections={BodySectionKey(): b"abc"})
    assert ServerConnection().send_parts(response) == [ServerConnection().send(response)]


def test_binary_source_is_a_literal8_and_refused_in_body() -> None:
    source = LiteralSource(size=2, binary=True)
    parts = ServerConnection().send_parts(
        FetchResponse(seq=1, binary={BinarySectionKey(part=(1,)): source})
    )
    assert parts == [b"* 1 FETCH (BINARY[1] ~{2}\r\n", source, b")\r\n"]
    with pytest.raises(LocalProtocolError):
        ServerConnection().send_parts(FetchResponse(seq=1, sections={BodySectionKey(): source}))
    with pytest.raises(LocalProtocolError):
        ServerConnection().send_parts(FetchResponse(seq=1, rfc822=source))


def test_a_source_may_end_the_response_items() -> None:
    source = LiteralSource(size=0)
    parts = ServerConnection().send_parts(FetchResponse(seq=1, rfc822_text=source))
    assert parts == [b"* 1 FETCH (RFC822.TEXT {0}\r\n", source, b")\r\n"]
