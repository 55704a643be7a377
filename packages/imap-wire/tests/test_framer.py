"""The framer: bytes in, logical lines with their literals out, within `Limits`."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imap_wire._framer import Framer, Line, LiteralAnnounced, LiteralChunk, LiteralStarted
from imap_wire._limits import DEFAULT_CLIENT_LIMITS, Limits
from imap_wire._values import StreamedLiteral
from imap_wire.errors import LimitExceeded, RemoteProtocolError

Frames = list[Any]


def _framer(limits: Limits | None = None, *, stream: int = 1 << 20, decide: bool = False) -> Framer:
    return Framer(limits or Limits(), stream_threshold=stream, decide_literals=decide)


def _error(exc: RemoteProtocolError) -> tuple[str, str | None, str, str | None]:
    return (exc.text, exc.tag, exc.status, exc.code)


def _run(
    framer: Framer,
    chunks: Iterable[bytes],
    decide: Callable[[LiteralAnnounced], bool] = lambda ann: True,
) -> Frames:
    """Feed chunks, collect frames and errors; answer each announcement with ``decide``."""
    out: Frames = []
    for chunk in chunks:
        framer.feed(chunk)
        while True:
            try:
                frame = framer.next_frame()
            except LimitExceeded as exc:
                out.append(("limit", *_error(exc)))
                continue
            if frame is None:
                break
            if isinstance(frame, LiteralAnnounced):
                if decide(frame):
                    framer.accept_literal()
                else:
                    framer.reject_literal()
            if isinstance(frame, LiteralChunk) and out and isinstance(out[-1], LiteralChunk):
                out[-1] = LiteralChunk(out[-1].data + frame.data)
            else:
                out.append(frame)
    return out


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# -- lines ---------------------------------------------------------------------------------


def test_lines() -> None:
    frames = _run(_framer(), [b"a NOOP\r\n\r\nb LOGIN x y\r\n"])
    assert frames == [Line([b"a NOOP"], []), Line([b""], []), Line([b"b LOGIN x y"], [])]


def test_partial_line_waits_for_crlf() -> None:
    framer = _framer()
    framer.feed(b"a NO")
    assert framer.next_frame() is None
    assert framer.buffered == 4
    framer.feed(b"OP\r")
    assert framer.next_frame() is None
    framer.feed(b"\n")
    assert framer.next_frame() == Line([b"a NOOP"], [])
    assert framer.buffered == 0
    assert not framer.in_line


def test_lone_cr_and_lf_do_not_end_a_line() -> None:
    assert _run(_framer(), [b"a\rb\nc\r\n"]) == [Line([b"a\rb\nc"], [])]


def test_one_byte_at_a_time() -> None:
    data = b"a NOOP\r\n* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\nb LOGIN {0}\r\n {2+}\r\nxy\r\n"
    assert _run(_framer(), _bytewise(data)) == _run(_framer(), [data])


# -- literals ------------------------------------------------------------------------------


def test_literal_inline_on_the_client_side() -> None:
    frames = _run(_framer(), [b"* 1 FETCH (BODY[] {7}\r\nab\r\n{3})\r\n"])
    assert frames == [Line([b"* 1 FETCH (BODY[] {7}", b")"], [b"ab\r\n{3}"])]


def test_literal_forms() -> None:
    data = b"a LOGIN {0}\r\n ~{2}\r\n\x00\x01 {3+}\r\nxyz\r\n"
    assert _run(_framer(), [data]) == [
        Line([b"a LOGIN {0}", b" ~{2}", b" {3+}", b""], [b"", b"\x00\x01", b"xyz"])
    ]


def test_announcement_waits_for_a_decision() -> None:
    framer = _framer(decide=True)
    framer.feed(b"A1 APPEND box ~{5}\r\nhello\r\n")
    assert framer.next_frame() == LiteralAnnounced(
        tag="A1", command="APPEND", size=5, binary=True, synchronizing=True
    )
    assert framer.in_line
    assert framer.next_frame() is None  # nothing happens until accept or reject
    assert framer.next_frame() is None
    framer.accept_literal()
    assert framer.next_frame() == Line([b"A1 APPEND box ~{5}", b""], [b"hello"])
    with pytest.raises(RuntimeError):
        framer.accept_literal()
    with pytest.raises(RuntimeError):
        framer.reject_literal()


def test_announcement_reports_non_synchronizing_literals() -> None:
    framer = _framer(decide=True)
    framer.feed(b"x uid {2+}\r\n")
    assert framer.next_frame() == LiteralAnnounced(
        tag="x", command="UID", size=2, binary=False, synchronizing=False
    )


def test_rejected_synchronizing_literal_drops_the_line() -> None:
    # The client never sends the octets of a refused synchronizing literal.
    frames = _run(_framer(decide=True), [b"a LOGIN {3}\r\nb NOOP\r\n"], decide=lambda a: False)
    assert frames == [
        LiteralAnnounced(tag="a", command="LOGIN", size=3, binary=False, synchronizing=True),
        Line([b"b NOOP"], []),
    ]


def test_rejected_non_synchronizing_literal_is_skipped() -> None:
    data = b"a LOGIN {5+}\r\nb NOO {3+}\r\nxyz more\r\nc NOOP\r\n"
    for chunks in ([data], _bytewise(data)):
        frames = _run(_framer(decide=True), chunks, decide=lambda a: False)
        assert frames == [
            LiteralAnnounced(tag="a", command="LOGIN", size=5, binary=False, synchronizing=False),
            Line([b"c NOOP"], []),
        ]


def test_streamed_literals() -> None:
    data = b"* 1 FETCH (BODY[] ~{3}\r\nabc BODY[1] {2}\r\nxy BODY[2] {6}\r\nwxyz\r\n)\r\n"
    whole = _run(_framer(stream=2), [data])
    assert whole == [
        LiteralStarted(
            size=3,
            binary=True,
            prefix=b"* 1 FETCH (BODY[] ~{3}",
            preceding=b"* 1 FETCH (BODY[] ~{3}",
            index=0,
        ),
        LiteralChunk(b"abc"),
        LiteralStarted(
            size=6,
            binary=False,
            prefix=b"* 1 FETCH (BODY[] ~{3}",
            preceding=b" BODY[2] {6}",
            index=1,
        ),
        LiteralChunk(b"wxyz\r\n"),
        Line(
            [b"* 1 FETCH (BODY[] ~{3}", b" BODY[1] {2}", b" BODY[2] {6}", b")"],
            [
                StreamedLiteral(size=3, binary=True, index=0),
                b"xy",
                StreamedLiteral(size=6, binary=False, index=1),
            ],
        ),
    ]
    assert _run(_framer(stream=2), _bytewise(data)) == whole


def test_streamed_literal_chunks_follow_the_bytewise() -> None:
    framer = _framer(stream=0, decide=True)
    framer.feed(b"a APPEND box {10}\r\n")
    assert isinstance(framer.next_frame(), LiteralAnnounced)
    framer.accept_literal()
    started = framer.next_frame()
    assert isinstance(started, LiteralStarted)
    assert framer.next_frame() is None
    framer.feed(b"0123")
    assert framer.next_frame() == LiteralChunk(b"0123")
    assert framer.next_frame() is None
    framer.feed(b"456789\r\n")
    assert framer.next_frame() == LiteralChunk(b"456789")
    line = framer.next_frame()
    assert line == Line([b"a APPEND box {10}", b""], [StreamedLiteral(size=10, index=0)])


# -- limits --------------------------------------------------------------------------------


def test_line_too_long_then_next_line() -> None:
    data = b"abc NOOP" + b" " * 30 + b"\r\nb NOOP\r\n"
    expected = [
        ("limit", "line longer than 20 octets", "abc", "BAD", None),
        Line([b"b NOOP"], []),
    ]
    limits = Limits(max_line_length=20)
    assert _run(_framer(limits), [data]) == expected
    assert _run(_framer(limits), _bytewise(data)) == expected


def test_line_lengths_do_not_add_up() -> None:
    frames = _run(_framer(Limits(max_line_length=20)), [b"a NOOP\r\n" * 10])
    assert frames == [Line([b"a NOOP"], [])] * 10


def test_line_of_exactly_the_limit() -> None:
    assert _run(_framer(Limits(max_line_length=10)), [b"a NOOP    \r\n"]) == [
        Line([b"a NOOP    "], [])
    ]


def test_line_length_excludes_literals_but_adds_up_segments() -> None:
    limits = Limits(max_line_length=20)
    ok = b"a LOGIN {50}\r\n" + b"y" * 50 + b" xxxxxxx\r\n"
    assert _run(_framer(limits), [ok]) == [Line([b"a LOGIN {50}", b" xxxxxxx"], [b"y" * 50])]
    too_long = b"a LOGIN {3}\r\nabc" + b" x" * 5 + b"\r\nb NOOP\r\n"
    frames = _run(_framer(limits), [too_long])
    assert frames[0][:2] == ("limit", "line longer than 20 octets")
    assert frames[1:] == [Line([b"b NOOP"], [])]


def test_line_too_long_after_a_literal_names_the_tag() -> None:
    limits = Limits(max_line_length=20)
    frames = _run(_framer(limits), [b"a LOGIN {3}\r\nabc" + b" x" * 10 + b"\r\n"])
    assert frames == [("limit", "line longer than 20 octets", "a", "BAD", None)]


def test_overlong_line_without_crlf_is_discarded_as_it_comes() -> None:
    limits = Limits(max_line_length=100)
    framer = _framer(limits)
    frames = _run(framer, [b"t1 APPEND " + b"x" * 60] + [b"x" * 64] * 10)
    assert frames == [("limit", "line longer than 100 octets", "t1", "BAD", None)]
    assert framer.buffered == 0
    assert _run(framer, [b"xxx\r\nt2 NOOP\r\n"]) == [Line([b"t2 NOOP"], [])]


@pytest.mark.parametrize("chunked", [False, True])
def test_overlong_line_ending_in_a_non_synchronizing_literal_skips_it(chunked: bool) -> None:
    # The octets of {n+} follow whatever the server answers: they must not be read as lines.
    data = b"a APPEND box " + b"x" * 40 + b" {11+}\r\nb NOOP\r\nxyz\r\nc NOOP\r\n"
    chunks = _bytewise(data) if chunked else [data]
    frames = _run(_framer(Limits(max_line_length=20)), chunks)
    assert frames == [
        ("limit", "line longer than 20 octets", "a", "BAD", None),
        Line([b"c NOOP"], []),
    ]


def test_overlong_line_with_crlf_split_across_bytewise() -> None:
    frames = _run(_framer(Limits(max_line_length=20)), [b"a " + b"x" * 40 + b"\r", b"\nb NOOP\r\n"])
    assert frames == [
        ("limit", "line longer than 20 octets", "a", "BAD", None),
        Line([b"b NOOP"], []),
    ]


_DISCARDS = {
    "overlong": (Limits(max_line_length=20), b"a NOOP" + b" x" * 20 + b"\r\n"),
    "toobig": (Limits(max_literal_size=3), b"a LOGIN {5+}\r\nab cd x\r\n"),
    "overlong-literal": (Limits(max_line_length=20), b"a " + b"x" * 30 + b" {3+}\r\nabc\r\n"),
}


@pytest.mark.parametrize("case", sorted(_DISCARDS))
def test_discarded_line_one_byte_at_a_time(case: str) -> None:
    limits, data = _DISCARDS[case]
    whole = _run(_framer(limits, decide=True), [data + b"b NOOP\r\n"])
    assert whole[-1] == Line([b"b NOOP"], [])
    assert _run(_framer(limits, decide=True), _bytewise(data + b"b NOOP\r\n")) == whole


def test_line_of_exactly_the_limit_with_crlf_split_across_bytewise() -> None:
    frames = _run(_framer(Limits(max_line_length=10)), [b"a NOOP    \r", b"\n"])
    assert frames == [Line([b"a NOOP    "], [])]


def test_literal_too_large() -> None:
    limits = Limits(max_literal_size=10)
    # Synchronizing: refused before any "+"; the client sends no octets.
    sync = _run(_framer(limits, decide=True), [b"a LOGIN {11}\r\nb NOOP\r\n"])
    assert sync == [
        ("limit", "literal of 11 octets is too large", "a", "NO", "TOOBIG"),
        Line([b"b NOOP"], []),
    ]
    # Non-synchronizing: the octets are on their way and are skipped with the line.
    data = b"a LOGIN {11+}\r\nb NOOP\r\nx y\r\nc NOOP\r\n"
    for chunks in ([data], _bytewise(data)):
        assert _run(_framer(limits, decide=True), chunks) == [
            ("limit", "literal of 11 octets is too large", "a", "BAD", "TOOBIG"),
            Line([b"c NOOP"], []),
        ]
    # The client side refuses too (no decision there).
    assert _run(_framer(limits), [b"* 1 FETCH (BODY[] {11}\r\n"])[0][-2:] == ("NO", "TOOBIG")


def test_literal_minus() -> None:
    framer = _framer(decide=True)
    framer.literal_minus = True
    data = (
        b"a LOGIN {4097+}\r\n"
        + b"x" * 4097
        + b" y\r\nb LOGIN {4096+}\r\n"
        + b"x" * 4096
        + b" y\r\nc LOGIN {5000}\r\n"
    )
    frames = _run(framer, [data])
    assert frames[0] == ("limit", "literal of 4097 octets is too large", "a", "BAD", "TOOBIG")
    assert frames[1] == LiteralAnnounced(
        tag="b", command="LOGIN", size=4096, binary=False, synchronizing=False
    )
    assert frames[2] == Line([b"b LOGIN {4096+}", b" y"], [b"x" * 4096])
    assert frames[3] == LiteralAnnounced(
        tag="c", command="LOGIN", size=5000, binary=False, synchronizing=True
    )
    # Without LITERAL- the same literal is fine.
    assert isinstance(_run(_framer(decide=True), [data])[0], LiteralAnnounced)


def test_inline_literal_total() -> None:
    limits = Limits(max_inline_literals=10)
    data = b"a LOGIN {6+}\r\nabcdef {6+}\r\nabcdef\r\nb NOOP\r\n"
    assert _run(_framer(limits), [data]) == [
        ("limit", "literals of this line are too large in total", "a", "BAD", "TOOBIG"),
        Line([b"b NOOP"], []),
    ]
    sync = _run(_framer(limits, decide=True), [b"a LOGIN {6}\r\nabcdef {6}\r\nb NOOP\r\n"])
    assert sync[1] == ("limit", "literals of this line are too large in total", "a", "NO", "TOOBIG")
    assert sync[2:] == [Line([b"b NOOP"], [])]
    # Streamed literals are not held, so they do not count.
    streamed = _run(_framer(limits, stream=5), [data])
    assert [type(f) for f in streamed] == [
        LiteralStarted,
        LiteralChunk,
        LiteralStarted,
        LiteralChunk,
        Line,
        Line,
    ]
    # The total is per line.
    ok = b"a LOGIN {6+}\r\nabcdef x\r\nb LOGIN {6+}\r\nabcdef x\r\n"
    assert [type(f) for f in _run(_framer(limits), [ok])] == [Line, Line]


def test_memory_stays_bounded_without_crlf() -> None:
    framer = _framer()
    chunk = b"x" * 65536
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        frames = _run(framer, [b"a1 LOGIN " + chunk[9:]] + [chunk] * 159)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert frames == [("limit", "line longer than 65536 octets", "a1", "BAD", None)]
    assert peak < 1 << 20
    assert _run(framer, [b"\r\nb NOOP\r\n"]) == [Line([b"b NOOP"], [])]


def test_long_line_in_small_reads_is_framed_in_linear_time() -> None:
    # Each read must resume the CRLF search where the previous one stopped, not rescan the
    # partial line (which made an 8 MiB line in 1460-octet reads take ~45 s). Checked through
    # the resume point rather than a clock: the suite asserts no timings.
    line = b"* SEARCH " + b"1 " * (2 << 20) + b"\r\n"
    framer = Framer(DEFAULT_CLIENT_LIMITS, stream_threshold=1 << 20, decide_literals=False)
    for i in range(0, len(line) - 1460, 1460):
        framer.feed(line[i : i + 1460])
        assert framer.next_frame() is None
        assert framer._scan >= i + 1460 - 1  # resumes at the last octet read (a lone CR)
    framer.feed(line[i + 1460 :])
    frame = framer.next_frame()
    assert isinstance(frame, Line) and frame.segments == [line[:-2]]


# -- framing does not depend on the reads --------------------------------------------------

_TAGS = st.sampled_from([b"a", b"B2", b"*", b"+", b"x.1"])
_WORD = st.binary(max_size=24).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@st.composite
def _streams(draw: st.DrawFn) -> bytes:
    """Lines of a tag and words, some with literals (any octets) of every form."""
    out = b""
    for _ in range(draw(st.integers(1, 5))):
        line = draw(_TAGS)
        for _ in range(draw(st.integers(0, 3))):
            line += b" " + draw(_WORD)
            if draw(st.booleans()):
                n = draw(st.integers(0, 40))
                mark = draw(st.sampled_from([b"{%d}", b"{%d+}", b"~{%d}", b"~{%d+}"])) % n
                line += b" " + mark + b"\r\n" + draw(st.binary(min_size=n, max_size=n))
        out += line + b"\r\n"
    return out + draw(st.sampled_from([b"", b"a NO", b"\r", b"b {3}\r\nx"]))


def _cuts(data: bytes, points: Iterable[int]) -> list[bytes]:
    ps = sorted({p for p in points if 0 < p < len(data)})
    return [data[a:b] for a, b in zip([0, *ps], [*ps, len(data)], strict=True)]


_SMALL = Limits(
    max_line_length=40,
    max_literal_size=30,
    max_inline_literals=50,
    literal_minus_max=20,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(
    data=b"a  {37}\r\n" + b"\x00" * 37 + b"  \r\nx.1\r\n",
    points=[],
    decide=False,
    minus=False,
    stream=0,
)
@given(
    data=_streams(),
    points=st.lists(st.integers(0, 2000), max_size=30),
    decide=st.booleans(),
    minus=st.booleans(),
    stream=st.sampled_from([0, 10, 1000]),
)
def test_frames_do_not_depend_on_the_reads(
    data: bytes, points: list[int], decide: bool, minus: bool, stream: int
) -> None:
    def make() -> Framer:
        framer = Framer(_SMALL, stream_threshold=stream, decide_literals=decide)
        framer.literal_minus = minus

        return framer

    def policy(ann: LiteralAnnounced) -> bool:
        return ann.size % 3 != 0

    whole = _run(make(), [data], policy)
    assert _run(make(), _cuts(data, points), policy) == whole
    assert _run(make(), _bytewise(data), policy) == whole
