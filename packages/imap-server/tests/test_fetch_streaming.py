"""Large FETCH body sections are streamed from the store (`imap_server.fetching.BodyRange`):
the client gets exactly the octets the in-memory path sends, the store is asked for at most
a chunk at a time (or through `StreamingBody.stream`), and a body that fails in the middle
of a literal closes that connection cleanly while the server goes on."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import anyio.abc
import pytest

from imap_server import MemoryStore, fetching, memory
from imap_server.message import parse_message
from imap_server.middleware import CallNext, CommandCall, CommandTimeout, default_middleware
from imap_server.store import Body, StoreError, StreamingBody
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_wire import StatusResponse

pytestmark = pytest.mark.anyio

CHUNK = 64 * 1024
_LITERAL = re.compile(rb"~?\{(\d+)\}\r\n\Z")


def big_message() -> bytes:
    """About 5 MB: a multipart with a text part holding NULs and a base64 part."""
    rng = random.Random(7)
    lines = []
    for i in range(32_000):
        line = bytes(rng.randrange(0x20, 0x7F) for _ in range(75))
        if i % 97 == 0:
            line = line[:10] + b"\x00" + line[11:]
        lines.append(line)
    text = b"\r\n".join(lines) + b"\r\n"
    b64 = b"\r\n".join(bytes(rng.choice(b"ABCDEFGHabcdefgh0123+/") for _ in range(76))
                       for _ in range(33_000)) + b"\r\n"  # fmt: skip
    return (
        b"From: Alice <alice@example.org>\r\n"
        b"To: Bob <bob@example.org>\r\n"
        b"Subject: large\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n'
        b"\r\n"
        b"preamble\r\n"
        b"--XYZ\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"\r\n" + text + b"--XYZ\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n" + b64 + b"--XYZ--\r\n"
    )


MESSAGE = big_message()
SMALL = b"From: Carol <carol@example.org>\r\nSubject: small\r\n\r\nshort \x00 body\r\n"


# -- bodies the store hands out -------------------------------------------------------------


@dataclass
class Calls:
    #: ``(start, end)`` of each read, ``end`` None made the body's size.
    reads: list[tuple[int, int]] = field(default_factory=list)
    streams: list[tuple[int, int]] = field(default_factory=list)


class RecordingBody:
    """A `Body` over bytes that records every read."""

    calls = Calls()

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        self.calls.reads.append((start, len(self.data) if end is None else end))
        return self.data[start:end]


class StreamBody(RecordingBody):
    """A `StreamingBody`: hands out ranges in 100,000-octet pieces."""

    async def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        self.calls.streams.append((start, end))
        for at in range(start, end, 100_000):
            await anyio.sleep(0)
            yield self.data[at : min(at + 100_000, end)]


class FailingBody(RecordingBody):
    """Fails every read that reaches past ``fail_at`` (a store losing its connection)."""

    fail_at = 1 << 20

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        stop = len(self.data) if end is None else end
        if len(self.data) > 100_000 and stop > self.fail_at:
            raise StoreError("backend went away")
        return await super().read(start, end)


class FailingStreamBody(StreamBody):
    async def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        sent = 0
        async for piece in super().stream(start, end):
            if sent > 1_000_000:
                raise StoreError("backend went away")
            sent += len(piece)
            yield piece


def test_the_test_bodies_are_bodies() -> None:
    body: Body = RecordingBody(b"x")
    assert not isinstance(body, StreamingBody)
    assert isinstance(StreamBody(b"x"), StreamingBody)


# -- a raw client ---------------------------------------------------------------------------


class Raw:
    """Bytes out; responses in, literals included."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, running: RunningServer) -> Raw:
        return cls(await anyio.connect_tcp(running.host, running.port))

    async def __aenter__(self) -> Raw:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stream.aclose()

    async def _more(self) -> bool:
        try:
            data = await self.stream.receive(1 << 20)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return False
        self.buffer += data
        return True

    async def line(self) -> bytes:
        """One line, CRLF included (b"" at the end of the stream)."""
        with anyio.fail_after(20):
            while b"\r\n" not in self.buffer:
                if not await self._more():
                    return b""
        end = self.buffer.index(b"\r\n") + 2
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        return line

    async def octets(self, n: int) -> bytes:
        with anyio.fail_after(20):
            while len(self.buffer) < n:
                if not await self._more():
                    break
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def command(self, tag: bytes, text: bytes) -> bytes:
        """Send a command; return everything up to its tagged response, included."""
        await self.stream.send(tag + b" " + text + b"\r\n")
        out = bytearray()
        at_line_start = True
        while True:
            line = await self.line()
            assert line, f"connection closed; got {bytes(out[-200:])!r}"
            out += line
            if at_line_start and line.startswith(tag + b" "):
                return bytes(out)
            m = _LITERAL.search(line)
            if m:
                out += await self.octets(int(m.group(1)))
                at_line_start = False
            else:
                at_line_start = True

    async def until_closed(self) -> bytes:
        with anyio.fail_after(20):
            while await self._more():
                pass
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


async def logged_in(running: RunningServer) -> Raw:
    client = await Raw.connect(running)
    assert (await client.line()).startswith(b"* OK")
    assert b"a0 OK" in await client.command(b"a0", b"LOGIN user pass")
    assert b"a1 OK" in await client.command(b"a1", b"EXAMINE INBOX")
    return client


async def new_store(*messages: bytes) -> MemoryStore:
    store = MemoryStore()
    store.scrypt_n = 2**4  # type: ignore[misc]
    store.add_user("user", "pass")
    user = await store.open_user("user")
    inbox = await user.get_mailbox("INBOX")
    for data in messages or (MESSAGE, SMALL):
        await inbox.append(data, parsed=parse_message(data))
    return store


FETCHES = (
    b"FETCH 1 (UID BODY.PEEK[] RFC822.SIZE)",
    b"FETCH 1 BODY.PEEK[]<1000.3000000>",
    b"FETCH 1 (BODY.PEEK[]<7.100> BODY.PEEK[]<5000000.900000> BODY.PEEK[]<9999999.5>)",
    b"FETCH 1 (RFC822)",
    b"FETCH 1 (BODY.PEEK[TEXT] BODY.PEEK[TEXT]<300000.400000>)",
    b"FETCH 1 (BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[3] BODY.PEEK[1.MIME])",
    b"FETCH 1 (RFC822.TEXT RFC822.HEADER BODY.PEEK[HEADER.FIELDS (SUBJECT)] FLAGS)",
    b"FETCH 1:2 (BODY.PEEK[] BODY.PEEK[TEXT] RFC822.TEXT)",
    b"FETCH 1 (BINARY.PEEK[1] BINARY.PEEK[]<100.500000> BINARY.PEEK[2]<0.1000>)",
    b"UID FETCH 1:* (BODY.PEEK[1] BINARY.SIZE[1] BODY.PEEK[2.MIME])",
)


class OctetsOut:
    """Middleware: each command's ``bytes_out`` (what CommandLog logs), by tag."""

    def __init__(self) -> None:
        self.by_tag: dict[str, int] = {}

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        call.when_done(self._done)
        return await call_next(call)

    def _done(self, call: CommandCall, response: StatusResponse) -> None:
        self.by_tag[call.tag] = call.bytes_out


async def run_fetches(
    body_class: type[RecordingBody], monkeypatch: pytest.MonkeyPatch
) -> list[bytes]:
    """Run `FETCHES`, each answer checked against the octet count the middleware sees."""
    monkeypatch.setattr(memory, "BytesBody", body_class)
    body_class.calls = Calls()
    store = await new_store()
    octets = OctetsOut()
    out = []
    async with serve_for_tests(store, middleware=(*default_middleware(), octets)) as running:
        client = await logged_in(running)
        async with client:
            for i, text in enumerate(FETCHES):
                out.append(await client.command(b"f%d" % i, text))
            assert b"z OK" in await client.command(b"z", b"NOOP")
    assert [octets.by_tag[f"f{i}"] for i in range(len(FETCHES))] == [len(a) for a in out]
    return out


async def reference(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What the in-memory path sends: nothing is streamed."""
    with monkeypatch.context() as m:
        m.setattr(fetching, "STREAM_THRESHOLD", 1 << 40)
        return await run_fetches(RecordingBody, m)


# -- the tests ------------------------------------------------------------------------------


async def test_streamed_sections_equal_the_in_memory_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = await reference(monkeypatch)
    # The in-memory path read the whole message at once (no streaming there).
    assert max(e - s for s, e in RecordingBody.calls.reads) == len(MESSAGE)
    textual = MESSAGE.replace(b"\x00", b"\x80")
    assert b"BODY[] {%d}\r\n%b)" % (len(MESSAGE), textual) in expected[0]
    assert b"BODY[]<1000> {3000000}\r\n%b)" % textual[1000:3_001_000] in expected[1]
    assert b"BINARY[]<100> ~{500000}\r\n%b " % MESSAGE[100:500_100] in expected[-2]
    assert expected[-1].startswith(b"* 1 FETCH (UID 1 BINARY.SIZE[1] ")
    assert b")\r\n* 2 FETCH (UID 2 BINARY.SIZE[1] " in expected[-1]
    assert all(answer.endswith(b" FETCH completed\r\n") for answer in expected)

    monkeypatch.setattr(fetching, "CHUNK_SIZE", CHUNK)
    got = await run_fetches(RecordingBody, monkeypatch)
    assert got == expected
    reads = RecordingBody.calls.reads
    assert max(e - s for s, e in reads) <= CHUNK
    # The whole message went out in chunks, several times over.
    assert len(reads) > 5 * len(MESSAGE) // CHUNK


async def test_a_streaming_body_is_streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = await reference(monkeypatch)
    got = await run_fetches(StreamBody, monkeypatch)
    assert got == expected
    calls = StreamBody.calls
    assert (0, len(MESSAGE)) in calls.streams
    assert (1000, 3_001_000) in calls.streams
    # BINARY of a part that needs no decoding, and of the whole message, too.
    part1 = MESSAGE.index(b"us-ascii\r\n\r\n") + 12
    assert (part1, MESSAGE.index(b"\r\n--XYZ\r\nContent-Type: app")) in calls.streams
    assert (100, 500_100) in calls.streams
    # Reads are left for small sections only (headers, short partials).
    assert max(e - s for s, e in calls.reads) <= fetching.STREAM_THRESHOLD


async def test_small_sections_are_not_streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "BytesBody", StreamBody)
    StreamBody.calls = Calls()
    store = await new_store()
    async with serve_for_tests(store) as running:
        client = await logged_in(running)
        async with client:
            answer = await client.command(b"a", b"FETCH 2 (BODY.PEEK[] RFC822.TEXT)")
            assert answer.startswith(b"* 2 FETCH (BODY[] {%d}\r\n" % len(SMALL))
            assert b"short \x80 body" in answer
            answer = await client.command(b"b", b"FETCH 1 (BODY.PEEK[]<0.1000>)")
            head = MESSAGE[:1000].replace(b"\x00", b"\x80")
            assert answer.startswith(b"* 1 FETCH (BODY[]<0> {1000}\r\n" + head + b")")
            # BINARY is not streamed: it decodes its part whole, as before.
            answer = await client.command(b"c", b"FETCH 1 (BINARY.PEEK[2]<0.10> BINARY.SIZE[1])")
            assert re.match(rb"\* 1 FETCH \(BINARY.SIZE\[1\] \d+ BINARY\[2\]<0> ", answer)
            assert answer.endswith(b"c OK FETCH completed\r\n")
    assert StreamBody.calls.streams == []


@pytest.mark.parametrize("body_class", [FailingBody, FailingStreamBody])
async def test_a_body_failing_mid_literal_closes_the_connection(
    body_class: type[RecordingBody],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(memory, "BytesBody", body_class)
    monkeypatch.setattr(fetching, "CHUNK_SIZE", CHUNK)
    body_class.calls = Calls()
    store = await new_store()
    async with serve_for_tests(store) as running:
        client = await logged_in(running)
        async with client:
            await client.stream.send(b"a2 FETCH 1 (UID BODY.PEEK[])\r\n")
            first = await client.line()
            assert first == b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % len(MESSAGE)
            rest = await client.until_closed()
            # Part of the literal, never all of it, and nothing after it.
            assert 0 < len(rest) < len(MESSAGE)
            assert MESSAGE.replace(b"\x00", b"\x80").startswith(rest)
        assert any("in the middle of a FETCH literal" in r.getMessage() for r in caplog.records)
        assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.ERROR)

        # The server goes on: another client reads what does not fail.
        again = await logged_in(running)
        async with again:
            answer = await again.command(b"b1", b"FETCH 1:2 (BODY.PEEK[HEADER] UID)")
            assert answer.count(b"* ") == 2 and b"b1 OK" in answer
            answer = await again.command(b"b2", b"FETCH 2 BODY.PEEK[]")
            assert b"b2 OK" in answer


async def test_a_body_failing_before_the_literal_answers_no(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory, "BytesBody", FailingBody)
    monkeypatch.setattr(FailingBody, "fail_at", 0)
    FailingBody.calls = Calls()
    store = await new_store(SMALL, MESSAGE)
    async with serve_for_tests(store) as running:
        client = await logged_in(running)
        async with client:
            # Message 1 is sent; message 2's response is dropped before any of it leaves,
            # and the command fails as any store failure does.
            answer = await client.command(b"a2", b"FETCH 1:2 (UID BODY.PEEK[])")
            assert answer.startswith(b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % len(SMALL))
            assert b"* 2 FETCH" not in answer
            assert answer.endswith(b"a2 NO backend went away\r\n")
            assert b"a3 OK" in await client.command(b"a3", b"NOOP")


async def test_fetch_plan_marks_ranged_sections() -> None:
    from imap_wire import parse_command

    def plan_of(text: bytes) -> list[bool]:
        command = parse_command(b"t FETCH 1 " + text + b"\r\n")
        plan = fetching.fetch_plan(command.attributes, uid_command=False)  # type: ignore[attr-defined]
        return [spec.ranged for _, spec in plan._steps.sections]

    assert plan_of(b"(BODY[] BODY[1.2] BODY[TEXT] BODY[2.HEADER] BODY[1.MIME])") == [True] * 5
    assert plan_of(b"(BODY[HEADER.FIELDS (A)] BODY[HEADER.FIELDS.NOT (B)])") == [False] * 2


async def test_body_chunks_reads_at_most_a_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    RecordingBody.calls = Calls()
    body = RecordingBody(bytes(range(256)) * 40)
    pieces = [p async for p in fetching.body_chunks(body, 10, 10_000, 1000)]
    assert b"".join(pieces) == body.data[10:10_000]
    assert RecordingBody.calls.reads[0] == (10, 1010)
    assert max(e - s for s, e in RecordingBody.calls.reads) <= 1000
    assert [p async for p in fetching.body_chunks(body, 5, 5)] == []
    with pytest.raises(ValueError):
        _ = [p async for p in fetching.body_chunks(body, 0, 5, 0)]


async def test_body_range_checks_the_octet_count() -> None:
    body = RecordingBody(b"ab\x00cd")
    whole = fetching.BodyRange(size=5, body=body, start=0, end=5)
    assert [p async for p in whole.chunks()] == [b"ab\x80cd"]
    raw = fetching.BodyRange(size=5, body=body, start=0, end=5, textual=False)
    assert [p async for p in raw.chunks()] == [b"ab\x00cd"]
    short = fetching.BodyRange(size=8, body=body, start=0, end=8)
    with pytest.raises(StoreError):
        _ = [p async for p in short.chunks()]
    with pytest.raises(ValueError):
        fetching.BodyRange(size=3, body=body, start=0, end=5)

    class Long(StreamBody):
        async def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
            yield self.data[start:end] + b"!"

    with pytest.raises(StoreError):
        _ = [
            p
            async for p in fetching.BodyRange(size=5, body=Long(b"abcde"), start=0, end=5).chunks()
        ]


class StallingBody(RecordingBody):
    """Never answers a read that reaches past ``stall_at`` (a store that hangs)."""

    stall_at = 1 << 20

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        stop = len(self.data) if end is None else end
        if len(self.data) > 100_000 and stop > self.stall_at:
            await anyio.sleep_forever()
        return await super().read(start, end)


@pytest.mark.parametrize("stall_at", [0, 1 << 20])
async def test_a_command_timing_out_while_streaming(
    stall_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled before any of the literal left: ``NO [LIMIT]``, the connection goes on;
    after: the connection is closed (the literal cannot be completed)."""
    monkeypatch.setattr(memory, "BytesBody", StallingBody)
    monkeypatch.setattr(StallingBody, "stall_at", stall_at)
    monkeypatch.setattr(fetching, "CHUNK_SIZE", CHUNK)
    StallingBody.calls = Calls()
    store = await new_store()
    middleware = (*default_middleware(), CommandTimeout(0.3))
    async with serve_for_tests(store, middleware=middleware) as running:
        client = await logged_in(running)
        async with client:
            if stall_at == 0:
                answer = await client.command(b"a2", b"FETCH 1 (UID BODY.PEEK[])")
                assert answer.startswith(b"a2 NO [LIMIT]")
                assert b"a3 OK" in await client.command(b"a3", b"NOOP")
            else:
                await client.stream.send(b"a2 FETCH 1 (UID BODY.PEEK[])\r\n")
                assert await client.line() == b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % len(MESSAGE)
                rest = await client.until_closed()
                assert 0 < len(rest) < len(MESSAGE)
                assert MESSAGE.replace(b"\x00", b"\x80").startswith(rest)
