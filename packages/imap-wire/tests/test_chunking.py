"""Framing does not depend on how the bytes arrive.

Every RFC example (commands through `ServerConnection`, responses through `ClientConnection`)
gives the same events fed whole, one byte at a time, and split at random points; those events
are the ones the one-shot parsers give. Literals over the streaming threshold arrive as
`LiteralStarted` + `LiteralChunk` events whose octets add up to the literal, followed by the
command or response holding a `StreamedLiteral` placeholder.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_wire._api import parse_command, parse_response
from imap_wire._commands import Append, parse_command_values
from imap_wire._connection import (
    NEED_DATA,
    ClientConnection,
    ContinuationRequired,
    ServerConnection,
)
from imap_wire._fetch import BodySectionKey, FetchResponse, Section
from imap_wire._framer import Framer, Line, LiteralAnnounced, LiteralChunk, LiteralStarted
from imap_wire._limits import DEFAULT_SERVER_LIMITS
from imap_wire._registry import ParseContext, default_registry
from imap_wire._responses import ResponseStatus, StatusResponse
from imap_wire._values import StreamedLiteral, tokenize
from imap_wire.errors import RemoteProtocolError

# The APPEND messages of the RFCs (297 to 326 octets) stream; the short literals stay inline.
STREAM_OVER = 64
_ANNOUNCEMENT = re.compile(rb"(~?)\{([0-9]+)(\+?)\}\r\n")


# -- helpers -------------------------------------------------------------------------------


def _error(exc: RemoteProtocolError) -> tuple[str, str, str | None, str, str | None, bool]:
    return ("error", exc.text, exc.tag, exc.status, exc.code, exc.fatal)


def _drain(conn: ServerConnection | ClientConnection) -> list[Any]:
    events: list[Any] = []
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            events.append(_error(exc))
            if exc.fatal:
                return events
            continue
        if event is NEED_DATA:
            return events
        if isinstance(event, LiteralChunk):
            assert event.data, "an empty LiteralChunk"
        events.append(event)


def _merge_chunks(events: Iterable[Any]) -> list[Any]:
    merged: list[Any] = []
    for event in events:
        if isinstance(event, LiteralChunk) and merged and isinstance(merged[-1], LiteralChunk):
            merged[-1] = LiteralChunk(merged[-1].data + event.data)
        else:
            merged.append(event)
    return merged


def _feed(conn: ServerConnection | ClientConnection, chunks: Iterable[bytes]) -> list[Any]:
    events: list[Any] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        events += _drain(conn)
    return _merge_chunks(events)


def _split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def _random_splits(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return _split(data, (rng.randrange(1, max(2, len(data))) for _ in range(rng.randrange(1, 12))))


def _announcements(data: bytes) -> list[tuple[int, bool]]:
    """Return (size, synchronizing) of each literal, walking the framing like a peer does."""
    out: list[tuple[int, bool]] = []
    pos = 0
    while (end := data.find(b"\r\n", pos)) >= 0:
        m = _ANNOUNCEMENT.search(data, max(pos, end - 30), end + 2)
        if m is None or m.end() != end + 2:
            pos = end + 2
            continue
        size = int(m.group(2))
        out.append((size, not m.group(3)))
        pos = end + 2 + size
    return out


def _server(command_name: str, **kwargs: Any) -> ServerConnection:
    """Return a server connection in a state where ``command_name`` is valid."""
    conn = ServerConnection(**kwargs)
    if conn.states.allows(command_name):
        return conn
    conn.send(StatusResponse(tag=None, status=ResponseStatus.PREAUTH, text="ready"))
    if conn.states.allows(command_name):
        return conn
    conn.receive_data(b"setup SELECT INBOX\r\n")
    assert _drain(conn) == [parse_command(b"setup SELECT INBOX\r\n")]
    conn.send(StatusResponse(tag="setup", status=ResponseStatus.OK, text="selected"))
    assert conn.states.allows(command_name)
    return conn


def _command_name(data: bytes) -> str:
    words = data.split(b"\r\n", 1)[0].split(b" ")
    name = words[1].decode().upper()
    return f"UID {words[2].decode().upper()}" if name == "UID" else name


def _server_events(example: Any, chunks: Iterable[bytes], **kwargs: Any) -> list[Any]:
    return _feed(_server(_command_name(example.data), **kwargs), chunks)


def _client_events(chunks: Iterable[bytes], **kwargs: Any) -> list[Any]:
    return _feed(ClientConnection(**kwargs), chunks)


def _expected_server_events(example: Any) -> list[Any]:
    tag = example.data.split(b" ", 1)[0].decode()
    events: list[Any] = [
        ContinuationRequired(tag=tag, size=size)
        for size, sync in _announcements(example.data)
        if sync
    ]
    try:
        events.append(parse_command(example.data))
    except RemoteProtocolError as exc:
        events.append(_error(exc))
    return events


def _frame_commands(chunks: Iterable[bytes], stream_over: int) -> list[Any]:
    """Parse commands through the state-agnostic path: Framer, tokenize, parse_command_values."""
    limits = DEFAULT_SERVER_LIMITS
    framer = Framer(limits, stream_threshold=stream_over, decide_literals=True)
    ctx = ParseContext(registry=default_registry(), strict=True)
    events: list[Any] = []
    for chunk in chunks:
        framer.feed(chunk)
        while (frame := framer.next_frame()) is not None:
            if isinstance(frame, LiteralAnnounced):
                framer.accept_literal()
                events.append(frame)
            elif isinstance(frame, Line):
                try:
                    values = tokenize(frame.segments, frame.literals, limits)
                    events.append(parse_command_values(values, ctx))
                except RemoteProtocolError as exc:
                    events.append(_error(exc))
            else:
                events.append(frame)
    return _merge_chunks(events)


# -- every example, three ways -------------------------------------------------------------


def test_command_fed_whole_gives_the_parsed_command(rfc_command: Any) -> None:
    assert _server_events(rfc_command, [rfc_command.data]) == _expected_server_events(rfc_command)


def test_command_fed_one_byte_at_a_time(rfc_command: Any) -> None:
    whole = _server_events(rfc_command, [rfc_command.data])
    assert _server_events(rfc_command, _bytewise(rfc_command.data)) == whole


def test_command_fed_in_random_chunks(rfc_command: Any) -> None:
    whole = _server_events(rfc_command, [rfc_command.data])
    for seed in range(5):
        chunks = _random_splits(rfc_command.data, seed)
        assert _server_events(rfc_command, chunks) == whole, chunks


def test_response_fed_whole_gives_the_parsed_response(rfc_response: Any) -> None:
    assert _client_events([rfc_response.data]) == [parse_response(rfc_response.data)]


def test_response_fed_one_byte_at_a_time(rfc_response: Any) -> None:
    assert _client_events(_bytewise(rfc_response.data)) == [parse_response(rfc_response.data)]


def test_response_fed_in_random_chunks(rfc_response: Any) -> None:
    expected = [parse_response(rfc_response.data)]
    for seed in range(5):
        chunks = _random_splits(rfc_response.data, seed)
        assert _client_events(chunks) == expected, chunks


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_example_in_hypothesis_chunks(rfc_examples: Sequence[Any], data: st.DataObject) -> None:
    example = data.draw(st.sampled_from(rfc_examples))
    cuts = data.draw(st.lists(st.integers(1, max(1, len(example.data) - 1)), max_size=20))
    chunks = _split(example.data, cuts)
    if example.direction == "C":
        assert _server_events(example, chunks) == _expected_server_events(example)
    else:
        assert _client_events(chunks) == [parse_response(example.data)]


# -- whole transcripts ---------------------------------------------------------------------


@pytest.mark.parametrize("rfc", [9051, 3501])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_response_transcript_in_random_chunks(
    rfc_examples: Sequence[Any], rfc: int, data: st.DataObject
) -> None:
    responses = [e.data for e in rfc_examples if e.rfc == rfc and e.direction == "S"]
    stream = b"".join(responses)
    cuts = data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=200))
    assert _client_events(_split(stream, cuts)) == [parse_response(r) for r in responses]


@pytest.mark.parametrize("rfc", [9051, 3501])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_command_transcript_in_random_chunks(
    rfc_examples: Sequence[Any], rfc: int, data: st.DataObject
) -> None:
    commands = [e.data for e in rfc_examples if e.rfc == rfc and e.direction == "C"]
    stream = b"".join(commands)
    whole = _frame_commands([stream], STREAM_OVER)
    cuts = data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=200))
    assert _frame_commands(_split(stream, cuts), STREAM_OVER) == whole
    parsed = [
        e for e in whole if not isinstance(e, LiteralAnnounced | LiteralStarted | LiteralChunk)
    ]
    assert len(parsed) == len(commands)


@pytest.mark.parametrize("rfc", [9051, 3501])
def test_command_transcript_one_byte_at_a_time(rfc_examples: Sequence[Any], rfc: int) -> None:
    commands = [e.data for e in rfc_examples if e.rfc == rfc and e.direction == "C"]
    stream = b"".join(commands)
    whole = _frame_commands([stream], 1 << 20)
    assert _frame_commands(_bytewise(stream), 1 << 20) == whole
    expected: list[Any] = []
    for data in commands:
        try:
            expected.append(parse_command(data))
        except RemoteProtocolError as exc:
            expected.append(_error(exc))
    assert [e for e in whole if not isinstance(e, LiteralAnnounced)] == expected


# -- streamed literals ---------------------------------------------------------------------


def _streamed_examples(examples: Iterable[Any]) -> list[Any]:
    return [e for e in examples if any(len(lit) > STREAM_OVER for lit in e.literals)]


def test_rfc_append_streams_its_message(rfc_examples: Sequence[Any]) -> None:
    appends = _streamed_examples(rfc_examples)
    assert len(appends) == 3
    for example in appends:
        (message,) = example.literals
        whole = _server_events(example, [example.data], stream_literals_over=STREAM_OVER)
        sync = _announcements(example.data)[0][1]
        head = whole[1:] if sync else whole
        if sync:
            assert whole[0] == ContinuationRequired(tag="A003", size=len(message))
        started, chunk, command = head
        assert started == LiteralStarted(
            size=len(message),
            binary=False,
            prefix=example.data.split(b"\r\n", 1)[0],
            preceding=example.data.split(b"\r\n", 1)[0],
            index=0,
        )
        assert chunk == LiteralChunk(message)
        assert isinstance(command, Append)
        placeholder = StreamedLiteral(size=len(message), binary=False, index=0)
        inline = parse_command(example.data)
        assert isinstance(inline, Append)
        assert command == dataclasses.replace(inline, message=placeholder)
        for chunks in (_bytewise(example.data), _random_splits(example.data, 7)):
            got = _server_events(example, chunks, stream_literals_over=STREAM_OVER)
            assert got == whole


def _fetch_with_literals(*parts: tuple[str, bytes]) -> bytes:
    out = b"* 12 FETCH (UID 7"
    for name, content in parts:
        out += b" %s {%d}\r\n%s" % (name.encode(), len(content), content)
    return out + b" FLAGS (\\Seen))\r\n"


def test_fetch_response_streams_two_literals(rfc_examples: Sequence[Any]) -> None:
    # Bodies taken from the RFC's APPEND example, served back by FETCH.
    message = _streamed_examples(rfc_examples)[0].literals[0]
    header, _, text = message.partition(b"\r\n\r\n")
    data = _fetch_with_literals(("BODY[HEADER]", header + b"\r\n\r\n"), ("BODY[TEXT]", text))
    whole = _client_events([data], stream_literals_over=32)
    s1, c1, s2, c2, response = whole
    assert (s1.size, s1.index, c1.data) == (len(header) + 4, 0, header + b"\r\n\r\n")
    assert s1.prefix == b"* 12 FETCH (UID 7 BODY[HEADER] {%d}" % (len(header) + 4)
    assert (s2.size, s2.index, c2.data) == (len(text), 1, text)
    assert isinstance(response, FetchResponse)
    assert response.sections == {
        BodySectionKey(section=Section.parse("HEADER")): StreamedLiteral(
            size=len(header) + 4, index=0
        ),
        BodySectionKey(section=Section.parse("TEXT")): StreamedLiteral(size=len(text), index=1),
    }
    inline = parse_response(data)
    assert isinstance(inline, FetchResponse)
    assert dataclasses.replace(inline, sections=response.sections) == response
    assert _client_events(_bytewise(data), stream_literals_over=32) == whole


def _big_message(size: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    line = b"".join(bytes([rng.randrange(33, 127)]) for _ in range(76)) + b"\r\n"
    return (b"Subject: big\r\n\r\n" + line * (size // len(line) + 1))[:size]


@pytest.mark.parametrize("streamed", [True, False])
def test_64k_literal_one_byte_at_a_time(streamed: bool) -> None:
    message = _big_message(64 * 1024)
    threshold = STREAM_OVER if streamed else 1 << 20
    command = b"a1 APPEND INBOX (\\Seen) {%d+}\r\n%s\r\n" % (len(message), message)
    events = _feed(_server("APPEND", stream_literals_over=threshold), _bytewise(command))
    response = _fetch_with_literals(("BODY[]", message))
    client = _feed(ClientConnection(stream_literals_over=threshold), _bytewise(response))
    if streamed:
        assert [type(e) for e in events] == [LiteralStarted, LiteralChunk, Append]
        assert events[1].data == message
        assert [type(e) for e in client] == [LiteralStarted, LiteralChunk, FetchResponse]
        assert client[1].data == message
    else:
        assert events == [parse_command(command)]
        assert isinstance(events[0], Append)
        assert events[0].message == message
        assert client == [parse_response(response)]


@pytest.mark.parametrize("size", [5 * 1024 * 1024 + 3, 1024 * 1024])
def test_large_literal_in_random_chunks(size: int) -> None:
    message = _big_message(size, seed=size)
    command = b"a1 APPEND INBOX {%d}\r\n%s\r\n" % (len(message), message)
    rng = random.Random(size)
    cuts: list[int] = []
    pos = 0
    while pos < len(command):
        pos += rng.choice([1, 2, 7, 100, 4096, 65536, 300_000])
        cuts.append(pos)
    chunks = _split(command, cuts)
    # Streamed: the octets come out in order and nothing is assembled.
    events = _feed(_server("APPEND", stream_literals_over=1 << 16), chunks)
    assert [type(e) for e in events] == [ContinuationRequired, LiteralStarted, LiteralChunk, Append]
    assert events[2].data == message
    # Held in memory (under the threshold): the same value as a one-shot parse.
    inline = _feed(_server("APPEND", stream_literals_over=8 << 20), chunks)
    assert inline[1:] == [parse_command(command)]
    response = _fetch_with_literals(("BODY[]", message))
    client = _feed(ClientConnection(), _split(response, cuts))
    if size > 1 << 20:  # over the client's default threshold
        assert [type(e) for e in client] == [LiteralStarted, LiteralChunk, FetchResponse]
        assert client[1].data == message
    else:
        assert client == [parse_response(response)]
