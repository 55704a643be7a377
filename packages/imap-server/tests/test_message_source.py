"""`parse_message` over a `MessageSource` (a large APPEND spooled to a file, read a window at
a time): the same `ParsedMessage` as over the octets as `bytes`, whatever the chunk size,
in bounded windows, each octet read about once."""

from __future__ import annotations

import base64
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_server import message as message_module
from imap_server.message import (
    SOURCE_CHUNK,
    SOURCE_HEADER_LIMIT,
    MessageSource,
    ParsedMessage,
    parse_message,
)
from imap_wire import Envelope, MultiPart, SinglePart


def _sibling(name: str) -> ModuleType:
    """Load another test module of this folder, for its messages and strategies (the tests
    are imported with ``--import-mode=importlib``: they cannot import one another)."""
    key = f"_message_source_{name}"
    module = sys.modules.get(key)
    if module is None:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return module


tm: Any = _sibling("test_message")
ts: Any = _sibling("test_message_vs_stdlib")


class BytesSource:
    """A `MessageSource` over bytes that checks and records its reads."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.largest = 0  # the largest window read
        self.total = 0  # octets read in all
        self.reads = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def pread(self, start: int, end: int) -> bytes:
        assert 0 <= start <= end <= len(self.data), (start, end)
        self.largest = max(self.largest, end - start)
        self.total += end - start
        self.reads += 1
        return self.data[start:end]


def _typed(source: BytesSource) -> MessageSource:
    return source  # mypy checks that BytesSource is a MessageSource


CHUNKS = (1, 7, 64, SOURCE_CHUNK)


def assert_same(data: bytes, chunks: tuple[int, ...] = CHUNKS) -> ParsedMessage:
    """Parse ``data`` as bytes and through a source in each chunk size: all agree."""
    expected = parse_message(data)
    for chunk in chunks:
        got = parse_message(_typed(BytesSource(data)), chunk=chunk)
        assert got == expected, chunk
        assert got.to_bytes() == expected.to_bytes(), chunk
    return expected


# -- the messages of the other tests ---------------------------------------------------------------

SAMPLES = {
    "rfc9051-fetch": tm.RFC_HEADER + tm.RFC_BODY,
    "rfc9051-complex": tm.RFC_COMPLEX,
    "plain": tm.PLAIN,
    "alternative": tm.ALTERNATIVE,
    "mixed": tm.MIXED,
    "forward": tm.FORWARD,
    "empty": b"",
    "no header": b"just a body",
    "header only": b"Subject: x",
}


@pytest.mark.parametrize("data", SAMPLES.values(), ids=SAMPLES.keys())
def test_samples(data: bytes) -> None:
    assert_same(data)


@pytest.mark.parametrize("case", ts.CORPUS, ids=[c.name for c in ts.CORPUS])
def test_stdlib_corpus(case: Any) -> None:
    assert_same(case.data)


def test_bounded_nesting_and_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    levels = 80
    head = "".join(
        f"Content-Type: multipart/mixed; boundary=n{i}\n\n--n{i}\n" for i in range(levels)
    )
    tail = "".join(f"\n--n{i}--" for i in reversed(range(levels)))
    assert_same(tm.crlf(head + "Content-Type: text/plain\n\ndeep" + tail), (1, 64))
    nested = "Subject: deep\n\ntext"
    for _ in range(levels):
        nested = f"Content-Type: message/rfc822\n\n{nested}"
    assert_same(tm.crlf(nested), (1, 64))
    monkeypatch.setattr(message_module, "MAX_PARTS", 5)
    parts = "".join(f"--b\n\npart {i}\n" for i in range(10))
    assert_same(tm.crlf(f"Content-Type: multipart/mixed; boundary=b\n\n{parts}--b--\n"))


# -- generated messages ----------------------------------------------------------------------------

_CHUNK = st.sampled_from((1, 2, 3, 7, 64, SOURCE_CHUNK))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root=tm.nodes, newline=st.sampled_from([b"\r\n", b"\n"]))
def test_generated_messages(root: Any, newline: bytes) -> None:
    assert_same(tm.Renderer(newline).message(tm.Msg("generated", root)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelope=ts._envelope_header(), tree=ts._trees, eol=st.sampled_from(("\r\n", "\n")))
def test_generated_trees(envelope: tuple[str, ...], tree: Any, eol: str) -> None:
    assert_same(ts._message(envelope, tree, eol))


_PADDING = st.text(alphabet=" \t", max_size=90)
# Lines around delimiters: delimiters with transport padding (some longer than a window),
# close delimiters, lines that only look like delimiters, stray CRs, headers that nest.
_LINE = st.one_of(
    st.sampled_from(
        [
            "Content-Type: multipart/mixed; boundary=a",
            'Content-Type: multipart/alternative; boundary="a "',
            "Content-Type: multipart/mixed; boundary=longer-boundary",
            "Content-Type: multipart/digest; boundary=a",
            "Content-Type: message/rfc822",
            "Content-Type: text/plain",
            "Content-Transfer-Encoding: base64",
            "Subject: s",
            " folded",
            "",
            "",
            "text",
            "--a",
            "--a--",
            "--longer-boundary",
            "--longer-boundary--",
            "--ab",
            "--a-",
            "--a-x",
            "--a--x",
            "x--a",
            " --a",
            "--a\r",
            "--a--\r",
            "--a \r",
            "--longer",
            "\r",
        ]
    ),
    st.builds(
        lambda delimiter, close, padding, after: delimiter + close + padding + after,
        st.sampled_from(["--a", "--longer-boundary"]),
        st.sampled_from(["", "--"]),
        _PADDING,
        st.sampled_from(["", "", "x", "\r", "-"]),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_LINE, max_size=40),
    newlines=st.lists(st.sampled_from(["\r\n", "\n"]), min_size=1),
    cut=st.integers(0, 3000),
    chunk=_CHUNK,
)
def test_delimiter_soup(lines: list[str], newlines: list[str], cut: int, chunk: int) -> None:
    text = "".join(line + newlines[i % len(newlines)] for i, line in enumerate(lines))
    data = text.encode()
    # Cut short (no close delimiter, a line without its line break) or whole.
    data = data[: max(0, len(data) - cut % 40)] if cut % 3 else data
    assert_same(data, (chunk,))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(tm._FRAGMENTS, max_size=40),
    newlines=st.lists(st.sampled_from([b"\r\n", b"\n"]), min_size=1),
    chunk=_CHUNK,
)
def test_mime_soup(lines: list[bytes], newlines: list[bytes], chunk: int) -> None:
    data = b"".join(line + newlines[i % len(newlines)] for i, line in enumerate(lines))
    assert_same(data, (chunk,))


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=600), chunk=_CHUNK)
def test_arbitrary_bytes(data: bytes, chunk: int) -> None:
    assert_same(data, (chunk,))


# -- the header limit ------------------------------------------------------------------------------


def _header_blocks(parsed: ParsedMessage) -> list[int]:
    """The header length (with its blank line) of every entity."""
    out: list[int] = []

    def visit(node: tuple[Any, ...]) -> None:
        out.append(node[1] - node[0])
        for child in node[3]:
            visit(child)

    visit(parsed._layout)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_LINE, max_size=40),
    newline=st.sampled_from(["\r\n", "\n"]),
    limit=st.integers(1, 120),
    chunk=st.sampled_from((1, 7, 64)),
)
def test_header_limit(lines: list[str], newline: str, limit: int, chunk: int) -> None:
    data = "".join(line + newline for line in lines).encode()
    expected = parse_message(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(message_module, "SOURCE_HEADER_LIMIT", limit)
        got = parse_message(BytesSource(data), chunk=chunk)
    # A header block shorter than the limit is read as in the bytes (the length compared,
    # with the blank line, is at least the block's).
    if max(_header_blocks(expected)) < limit:
        assert got == expected
    tm.check_invariants(data, got)
    assert max(_header_blocks(got)) <= limit + 2


def test_header_limit_cuts_at_a_line_start() -> None:
    fields = b"".join(b"X-F%06d: v\r\n" % i for i in range(SOURCE_HEADER_LIMIT // 13 + 100))
    data = b"Subject: long\r\n" + fields + b"\r\nbody\r\n"
    parsed = parse_message(BytesSource(data))
    assert parsed.envelope.subject == "long"
    body_start = parsed._layout[1]
    assert body_start <= SOURCE_HEADER_LIMIT < data.index(b"\r\n", body_start) + 2
    assert data[body_start - 2 : body_start] == b"\r\n"
    assert data[body_start : body_start + 3] == b"X-F"
    assert parsed.body_structure.size == len(data) - body_start  # type: ignore[union-attr]
    tm.check_invariants(data, parsed)
    # A single line past the limit: no header at all.
    data = b"Subject: " + b"a" * SOURCE_HEADER_LIMIT + b"\r\n\r\nbody"
    parsed = parse_message(BytesSource(data))
    assert parsed._layout[:3] == (0, 0, len(data)) and parsed.envelope == Envelope()
    assert parse_message(data).envelope.subject is not None  # as bytes, the header is read


# -- hostile input ---------------------------------------------------------------------------------

HOSTILE = {
    "long subject": b"Subject: " + b"a" * 1_000_000 + b"\r\n\r\n",
    "no line break": b"X" * 1_000_000,
    "delimiters only": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n" * 100_000,
    "near delimiters": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"\n--bx" * 150_000,
    "open comments": b"To: " + b"(" * 100_000 + b"\r\n\r\n",
    "quoted pairs": b"To: " + b'"\\' * 100_000 + b"\r\n\r\n",
    "many addresses": b"To: " + b"a@b, " * 100_000 + b"\r\n\r\n",
    "many continuations": b"Content-Type: text/plain; " + b"a*0*=b; " * 50_000 + b"\r\n\r\n",
    "many fields": b"a: b\r\n" * 150_000,
    "binary": b"\x00\xff" * 250_000,
    "padding": (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b"
        + b" \t" * 1_500_000
        + b"\r\n\r\npart\r\n--b--"
        + b" " * 3_000_000
        + b"x\r\n--b--\t\t\r\n"
    ),
    "padded non-delimiters": (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + (b"\n--b" + b" " * 3000 + b"x") * 300
    ),
}


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_inputs(data: bytes) -> None:
    for chunk in (4096, SOURCE_CHUNK):
        source = BytesSource(data)
        start = time.perf_counter()
        parsed = parse_message(source, chunk=chunk)
        assert time.perf_counter() - start < 5
        assert parsed == parse_message(data)
        assert source.total < 8 * len(data) + 2 * SOURCE_CHUNK
    tm.check_invariants(data, parsed)


# -- bounded reads ---------------------------------------------------------------------------------

_BOUNDARY = b"=_big_attachment_boundary"


def big_message(attachment_size: int) -> bytes:
    attachment = base64.encodebytes(bytes(range(256)) * (attachment_size // 256))
    return (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\n"
        b'Content-Type: multipart/mixed; boundary="' + _BOUNDARY + b'"\r\n\r\n'
        b"preamble\r\n--" + _BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\n"
        + b"a line of text\r\n" * 1000
        + b"--" + _BOUNDARY + b"\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + attachment.replace(b"\n", b"\r\n")
        + b"--" + _BOUNDARY + b"--  \r\n"
    )  # fmt: skip


@pytest.mark.parametrize("chunk", [64 * 1024, SOURCE_CHUNK])
def test_big_message_reads_bounded_windows_once(chunk: int) -> None:
    data = big_message(15 * 1024 * 1024)
    assert len(data) > 20_000_000
    source = BytesSource(data)
    parsed = parse_message(source, chunk=chunk)
    assert parsed == parse_message(data)
    overlap = len(b"\n--" + _BOUNDARY) + 1
    assert source.largest <= chunk + overlap
    assert source.total < 3 * len(data)
    structure = parsed.body_structure
    assert isinstance(structure, MultiPart) and len(structure.parts) == 2
    text, attachment = structure.parts
    assert isinstance(text, SinglePart) and text.lines == 1000
    assert isinstance(attachment, SinglePart) and attachment.encoding == "BASE64"


def test_fallback_reads_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(message_module, "_envelope", broken)
    data = b"Subject: x\r\n\r\n" + b"line\r\n" * 50_000
    expected = parse_message(data)
    source = BytesSource(data)
    parsed = parse_message(source, chunk=1000)
    assert parsed == expected
    assert parsed.envelope == Envelope() and parsed._layout == (0, 0, len(data), ())
    assert isinstance(parsed.body_structure, SinglePart)
    assert parsed.body_structure.lines == 50_002
    assert source.largest <= 1000 + 3
    assert source.total < 3 * len(data)


def test_source_failures() -> None:
    class Failing(BytesSource):
        def pread(self, start: int, end: int) -> bytes:
            raise OSError("disk")

    class Short(BytesSource):
        def pread(self, start: int, end: int) -> bytes:
            return super().pread(start, end)[:-1]

    with pytest.raises(OSError, match="disk"):
        parse_message(Failing(b"Subject: x\r\n\r\nbody"))
    with pytest.raises(ValueError, match="short read"):
        parse_message(Short(b"Subject: x\r\n\r\nbody"))
    with pytest.raises(ValueError, match="chunk"):
        parse_message(BytesSource(b""), chunk=0)


def test_bytes_like_input_is_still_bytes() -> None:
    data = tm.MIXED
    expected = parse_message(data)
    assert parse_message(bytearray(data)) == expected  # type: ignore[arg-type]
    assert parse_message(memoryview(data)) == expected  # type: ignore[arg-type]
