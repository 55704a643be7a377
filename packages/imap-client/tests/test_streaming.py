"""Streaming FETCH bodies into sinks and iterators, and APPEND from files and iterators, against
our server; the 100 MB memory bounds against one in another process."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gc
import hashlib
import io
import os
import re
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from imap_client import (
    AsyncClient,
    CommandFailed,
    ConnectionLost,
    ImapConnectionError,
    ImapTimeout,
    PendingCommand,
)
from imap_client._streaming import MessageNotFound
from imap_wire import (
    Fetch,
    FetchItem,
    FetchResponse,
    LiteralMode,
    Section,
    SectionText,
    SequenceSet,
)

pytestmark = pytest.mark.anyio

Connect = Callable[[], AbstractAsyncContextManager[AsyncClient]]

MiB = 1024 * 1024
WAIT = 10.0


def small_message(text: str = "Hello") -> bytes:
    return (
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: small\r\n\r\n" + text + "\r\n"
    ).encode()


def big_message(size: int, fill: bytes = b"0123456789abcdef") -> bytes:
    """A text message of exactly ``size`` octets, lines of 64 characters."""
    header = b"From: a@example.org\r\nSubject: big\r\n\r\n"
    line = (fill * (64 // len(fill) + 1))[:62] + b"\r\n"
    body = line * ((size - len(header)) // len(line) + 1)
    return header + body[: size - len(header)]


PAYLOAD = bytes(range(256)) * 8  # 2 KiB with NUL octets


def multipart(payload: bytes = PAYLOAD) -> bytes:
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (
        b"From: a@example.org\r\n"
        b"Subject: parts\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n'
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"The text part.\r\n"
        b"--b1\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n" + encoded + b"--b1--\r\n"
    )


class Chunks:
    """A sync sink that records each write."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)


class AsyncSink:
    """An async sink, slow on purpose."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    async def write(self, data: bytes) -> None:
        await anyio.sleep(0)
        self.buffer += data


class Recording(anyio.abc.ByteStream):
    """Wraps the connection's stream and records what goes each way."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner
        self.sent = bytearray()
        self.received = bytearray()

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data = await self.inner.receive(max_bytes)
        self.received += data
        return data

    async def send(self, item: bytes) -> None:
        self.sent += item
        await self.inner.send(item)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def fetch_flags(client: AsyncClient, uid: int) -> FetchResponse:
    pending = PendingCommand(
        Fetch(
            tag=client.next_tag(),
            uid=True,
            sequence_set=SequenceSet(ranges=((uid, uid),)),
            attributes=(FetchItem(name="FLAGS"), FetchItem(name="INTERNALDATE")),
        ),
        claims=lambda r: isinstance(r, FetchResponse),
    )
    await (await client.submit(pending)).wait()
    [response] = pending.responses
    assert isinstance(response, FetchResponse)
    return response


@pytest.fixture
async def inbox(client: AsyncClient) -> AsyncClient:
    await client.select("INBOX")
    return client


# -- fetch_to ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [200, 3 * MiB])
async def test_fetch_to_whole_message(inbox: AsyncClient, size: int) -> None:
    message = big_message(size)
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None
    sink = Chunks()
    assert await inbox.fetch_to(uid, "", sink) == size
    assert sink.data == message
    if size > MiB:
        # Over the wire's threshold: chunks straight from the reader, none of them large.
        assert len(sink.parts) > 10
        assert max(map(len, sink.parts)) <= 256 * 1024
    else:
        assert len(sink.parts) == 1
    # BODY.PEEK: not \Seen.
    flags = (await fetch_flags(inbox, uid)).flags
    assert flags is not None and "\\Seen" not in flags


async def test_fetch_to_without_peek_sets_seen(inbox: AsyncClient) -> None:
    uid = (await inbox.append_from("INBOX", small_message())).uid
    assert uid is not None
    assert await inbox.fetch_to(uid, "TEXT", Chunks(), peek=False) == len(b"Hello\r\n")
    flags = (await fetch_flags(inbox, uid)).flags
    assert flags is not None and "\\Seen" in flags


async def test_fetch_to_async_sinks(inbox: AsyncClient, tmp_path: Path) -> None:
    message = big_message(2 * MiB + 17)
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None
    sink = AsyncSink()
    assert await inbox.fetch_to(uid, "", sink) == len(message)
    assert bytes(sink.buffer) == message
    async with await anyio.open_file(tmp_path / "m.eml", "wb") as f:
        assert await inbox.fetch_to(uid, "", f) == len(message)
    assert (tmp_path / "m.eml").read_bytes() == message


async def test_fetch_to_sections(inbox: AsyncClient) -> None:
    message = multipart()
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None
    header, _, _ = message.partition(b"\r\n\r\n")

    async def get(section: Section | str, **options: Any) -> bytes:
        sink = io.BytesIO()
        size = await inbox.fetch_to(uid, section, sink, **options)
        assert size == len(sink.getvalue())
        return sink.getvalue()

    assert await get("HEADER") == header + b"\r\n\r\n"
    assert await get("1") == b"The text part."
    assert await get("1.MIME") == b"Content-Type: text/plain\r\n\r\n"
    assert base64.b64decode(await get("2")) == PAYLOAD
    assert await get(Section(text=SectionText.HEADER_FIELDS, fields=("subject",))) == (
        b"Subject: parts\r\n\r\n"
    )
    assert await get("", partial=(10, 25)) == message[10:35]
    assert await get("", partial=(len(message) - 5, 100)) == message[-5:]
    # BINARY: the part decoded (RFC 3516), NUL octets and all.
    assert await get("2", binary=True) == PAYLOAD
    assert await get("2", binary=True, partial=(256, 256)) == PAYLOAD[256:512]
    with pytest.raises(ValueError, match="BINARY"):
        await get("HEADER", binary=True)


async def test_fetch_to_large_parts(inbox: AsyncClient) -> None:
    payload = os.urandom(int(1.5 * MiB))
    message = multipart(payload)
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None
    sink = Chunks()
    assert await inbox.fetch_to(uid, "2", sink, binary=True) == len(payload)
    assert sink.data == payload and len(sink.parts) > 1
    sink = Chunks()
    origin, count = 1000, int(1.2 * MiB)
    assert await inbox.fetch_to(uid, "", sink, partial=(origin, count)) == count
    assert sink.data == message[origin : origin + count] and len(sink.parts) > 1


async def test_fetch_to_by_sequence_number(inbox: AsyncClient) -> None:
    first = small_message("first")
    last = big_message(int(1.5 * MiB))
    await inbox.append_from("INBOX", first)
    await inbox.append_from("INBOX", last)
    await inbox.noop()
    sink = io.BytesIO()
    await inbox.fetch_to(1, "", sink, uid=False)
    assert sink.getvalue() == first
    sink = io.BytesIO()
    await inbox.fetch_to("*", "", sink, uid=False)
    assert sink.getvalue() == last


async def test_fetch_to_missing(inbox: AsyncClient) -> None:
    with pytest.raises(MessageNotFound):
        await inbox.fetch_to(99, "", io.BytesIO())
    with pytest.raises(ValueError, match="one message"):
        await inbox.fetch_to("1:3", "", io.BytesIO())
    uid = (await inbox.append_from("INBOX", small_message())).uid
    assert uid is not None
    # A part that does not exist: NIL (or empty), not an error.
    assert await inbox.fetch_to(uid, "5", io.BytesIO()) == 0


async def test_fetch_to_sink_failure(inbox: AsyncClient) -> None:
    message = big_message(3 * MiB)
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None

    class Failing:
        def __init__(self) -> None:
            self.calls = 0

        def write(self, data: bytes) -> None:
            self.calls += 1
            if self.calls == 3:
                raise OSError("disk full")

    sink = Failing()
    with pytest.raises(OSError, match="disk full"):
        await inbox.fetch_to(uid, "", sink)
    assert sink.calls == 3  # nothing more was offered to it
    # The rest of the literal was read and dropped: the connection goes on.
    out = io.BytesIO()
    assert await inbox.fetch_to(uid, "", out) == len(message)
    assert out.getvalue() == message


async def test_concurrent_streams(inbox: AsyncClient) -> None:
    """Each streamed literal goes to the command it answers."""
    messages = [big_message(int(1.2 * MiB) + i, fill=bytes([65 + i])) for i in range(3)]
    uids = [(await inbox.append_from("INBOX", m)).uid for m in messages]
    sinks = [io.BytesIO() for _ in messages]
    async with anyio.create_task_group() as tg:
        for uid, sink in zip(uids, sinks, strict=True):
            assert uid is not None
            tg.start_soon(inbox.fetch_to, uid, "", sink)
    assert [s.getvalue() for s in sinks] == messages


@pytest.mark.parametrize("size", [500, int(1.5 * MiB)])
async def test_concurrent_fetches_of_one_message(inbox: AsyncClient, size: int) -> None:
    """Two fetches of the same section in flight at once each get their own copy (each
    takes one literal and one response), with FETCHes of the same message around them."""
    message = big_message(size)
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None
    sinks = [io.BytesIO(), io.BytesIO()]
    async with anyio.create_task_group() as tg:
        tg.start_soon(fetch_flags, inbox, uid)
        for sink in sinks:
            tg.start_soon(inbox.fetch_to, uid, "", sink)
        tg.start_soon(fetch_flags, inbox, uid)
    assert [s.getvalue() for s in sinks] == [message, message]


# -- fetch_stream -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [300, 3 * MiB])
async def test_fetch_stream(inbox: AsyncClient, size: int) -> None:
    message = big_message(size)
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None
    chunks = [chunk async for chunk in inbox.fetch_stream(uid)]
    assert b"".join(chunks) == message
    if size > MiB:
        assert len(chunks) > 10
    # A slow consumer gets it all too (the connection waits for it).
    stream = inbox.fetch_stream(uid, "TEXT", buffer=1)
    received = bytearray()
    async for chunk in stream:
        received += chunk
        await anyio.sleep(0.001)
    assert bytes(received) == message.partition(b"\r\n\r\n")[2]
    assert stream.size == (len(received) if size > MiB else None)


async def test_fetch_stream_abandoned(inbox: AsyncClient) -> None:
    message = big_message(4 * MiB)
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None
    # Left with break, the iterator dropped: collected, closed; the rest is dropped.
    async for _ in inbox.fetch_stream(uid, buffer=1):
        break
    gc.collect()
    with anyio.fail_after(WAIT):
        await inbox.noop()
    # Closed explicitly.
    async with inbox.fetch_stream(uid, buffer=1) as stream:
        async for _ in stream:
            break
    with anyio.fail_after(WAIT):
        out = io.BytesIO()
        assert await inbox.fetch_to(uid, "", out) == len(message)
    assert out.getvalue() == message


async def test_fetch_stream_stalled_consumer(inbox: AsyncClient) -> None:
    """A consumer that stops reading holds the connection up for ``stall_timeout`` only."""
    message = big_message(4 * MiB)
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None
    stream = inbox.fetch_stream(uid, buffer=1, stall_timeout=0.2)
    first = await stream.__anext__()
    assert first
    with anyio.fail_after(WAIT):
        await inbox.noop()  # behind the stalled body on the socket; freed after 0.2 s
    with pytest.raises(ImapTimeout, match="consumer"):
        async for _ in stream:
            pass
    out = io.BytesIO()
    assert await inbox.fetch_to(uid, "", out) == len(message)


async def test_fetch_stream_errors(inbox: AsyncClient) -> None:
    with pytest.raises(MessageNotFound):
        async for _ in inbox.fetch_stream(42):
            pass
    with pytest.raises(ValueError):
        inbox.fetch_stream(1, buffer=0)


async def test_fetch_stream_connection_lost(inbox: AsyncClient) -> None:
    uid = (await inbox.append_from("INBOX", big_message(4 * MiB))).uid
    assert uid is not None
    stream = inbox.fetch_stream(uid, buffer=1)
    await stream.__anext__()
    await inbox.connection.aclose()
    with pytest.raises(ConnectionLost), anyio.fail_after(WAIT):
        async for _ in stream:
            pass


# -- append_from -----------------------------------------------------------------------------


def _iterator(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), 1000):
        yield data[i : i + 1000]


async def _async_iterator(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 70_000):
        await anyio.sleep(0)
        yield data[i : i + 70_000]


SOURCES: dict[str, Callable[[bytes, Path], Any]] = {
    "bytes": lambda data, path: data,
    "bytearray": lambda data, path: bytearray(data),
    "memoryview": lambda data, path: memoryview(data),
    "path": lambda data, path: path,
    "str path": lambda data, path: str(path),
    "BytesIO": lambda data, path: io.BytesIO(data),
}


@pytest.mark.parametrize("kind", [*SOURCES, "file", "async file", "iterator", "async iterator"])
async def test_append_sources(inbox: AsyncClient, tmp_path: Path, kind: str) -> None:
    message = big_message(int(1.3 * MiB))
    path = tmp_path / "message.eml"
    path.write_bytes(message)
    async with contextlib.AsyncExitStack() as stack:
        size: int | None = None
        if kind == "file":
            source: Any = stack.enter_context(path.open("rb"))
        elif kind == "async file":
            source = await stack.enter_async_context(await anyio.open_file(path, "rb"))
        elif kind == "iterator":
            source, size = _iterator(message), len(message)
        elif kind == "async iterator":
            source, size = _async_iterator(message), len(message)
        else:
            source = SOURCES[kind](message, path)
        result = await inbox.append_from("INBOX", source, size)
    assert result.uid is not None and result.uid_validity == inbox.mailbox.uid_validity
    out = io.BytesIO()
    assert await inbox.fetch_to(result.uid, "", out) == len(message)
    assert out.getvalue() == message


async def test_append_reads_a_file_from_its_position(inbox: AsyncClient) -> None:
    source = io.BytesIO(b"garbage" + small_message())
    source.seek(7)
    result = await inbox.append_from("INBOX", source)
    assert result.uid is not None
    out = io.BytesIO()
    await inbox.fetch_to(result.uid, "", out)
    assert out.getvalue() == small_message()
    # An explicit size reads no further.
    source = io.BytesIO(small_message() + b"trailing")
    result = await inbox.append_from("INBOX", source, len(small_message()))
    assert result.uid is not None
    out = io.BytesIO()
    await inbox.fetch_to(result.uid, "", out)
    assert out.getvalue() == small_message()


async def test_append_flags_and_date(inbox: AsyncClient) -> None:
    date = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    result = await inbox.append_from(
        "INBOX", small_message(), flags=("\\Flagged", "$Label"), date=date
    )
    assert result.uid is not None
    response = await fetch_flags(inbox, result.uid)
    assert response.flags is not None and {"\\Flagged", "$Label"} <= set(response.flags)
    assert response.internal_date == date


@pytest.mark.parametrize("mode", [LiteralMode.PLUS, LiteralMode.SYNC])
async def test_literal_plus_or_synchronizing(inbox: AsyncClient, mode: LiteralMode) -> None:
    conn = inbox.connection
    assert conn.wire.literal_mode is LiteralMode.PLUS  # our server offers LITERAL+
    conn.wire.literal_mode = mode
    recording = Recording(conn.stream)
    conn.stream = recording
    await inbox.noop()  # the reader's next read is from the recording
    message = big_message(100_000)
    result = await inbox.append_from("INBOX", message)
    announced = re.search(rb"APPEND INBOX \{(\d+)(\+?)\}\r\n", bytes(recording.sent))
    assert announced is not None and int(announced.group(1)) == len(message)
    assert (announced.group(2) == b"+") is (mode is LiteralMode.PLUS)
    # The synchronizing form waited for the server's "+".
    assert (b"\r\n+ " in b"\r\n" + bytes(recording.received)) is (mode is LiteralMode.SYNC)
    assert result.uid is not None
    out = io.BytesIO()
    await inbox.fetch_to(result.uid, "", out)
    assert out.getvalue() == message


@pytest.mark.parametrize("mode", [LiteralMode.PLUS, LiteralMode.SYNC])
async def test_append_refused(inbox: AsyncClient, mode: LiteralMode) -> None:
    inbox.connection.wire.literal_mode = mode
    with pytest.raises(CommandFailed) as info:
        await inbox.append_from("No such box", big_message(2 * MiB))
    assert info.value.code_name == "TRYCREATE"
    await inbox.noop()  # the connection goes on (the literal was sent or never asked for)


async def test_append_binary(inbox: AsyncClient) -> None:
    message = b"Subject: nul\r\n\r\n" + PAYLOAD + b"\r\n"
    result = await inbox.append_from("INBOX", message, binary=True)
    assert result.uid is not None
    out = io.BytesIO()
    await inbox.fetch_to(result.uid, "", out, binary=True)
    assert out.getvalue() == message


async def test_append_size_mismatch_closes(inbox: AsyncClient) -> None:
    message = small_message()
    with pytest.raises(ValueError, match="size"):
        await inbox.append_from("INBOX", _iterator(message))  # nothing sent
    await inbox.noop()
    with pytest.raises(ImapConnectionError, match="size"):
        await inbox.append_from("INBOX", _iterator(message), len(message) + 1)
    assert inbox.closed.is_set()  # the server would read the next command as message data


async def test_append_too_long_closes(inbox: AsyncClient) -> None:
    message = small_message()
    with pytest.raises(ImapConnectionError, match="size"):
        await inbox.append_from("INBOX", _iterator(message), len(message) - 1)
    assert inbox.closed.is_set()


async def test_append_source_failure_closes(inbox: AsyncClient) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"Subject: x\r\n\r\n"
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        await inbox.append_from("INBOX", failing(), 1000)
    assert inbox.closed.is_set()
    assert isinstance(inbox.close_cause, ConnectionLost)


async def test_append_cancelled_part_way_closes(inbox: AsyncClient) -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b"Subject: x\r\n\r\n"
        await anyio.sleep_forever()
        yield b""

    with anyio.move_on_after(0.1) as scope:
        await inbox.append_from("INBOX", stalls(), 1000)
    assert scope.cancelled_caught
    assert inbox.closed.is_set()


async def test_append_timeout_counts_inactivity(inbox: AsyncClient) -> None:
    message = big_message(100_000)

    async def steady() -> AsyncIterator[bytes]:
        for i in range(0, len(message), 10_000):
            await anyio.sleep(0.03)
            yield message[i : i + 10_000]

    inbox.timeout = 0.2  # the whole transfer takes longer; no gap does
    result = await inbox.append_from("INBOX", steady(), len(message))
    assert result.uid is not None

    async def stalls() -> AsyncIterator[bytes]:
        yield message[:1000]
        await anyio.sleep(1)
        yield message[1000:]

    with pytest.raises(ImapTimeout):
        await inbox.append_from("INBOX", stalls(), len(message))
    assert inbox.closed.is_set()


async def test_fetch_timeout_counts_inactivity(inbox: AsyncClient) -> None:
    message = big_message(3 * MiB)
    uid = (await inbox.append_from("INBOX", message)).uid
    assert uid is not None

    class SlowSink:
        def __init__(self) -> None:
            self.size = 0

        async def write(self, data: bytes) -> None:
            await anyio.sleep(0.005)  # 50 chunks or so: longer than the timeout in all
            self.size += len(data)

    inbox.timeout = 0.15
    sink = SlowSink()
    assert await inbox.fetch_to(uid, "", sink) == len(message) == sink.size


# -- 100 MB: memory stays bounded on the client side --------------------------------------------

# Our server in another process (tracemalloc sees this process only), with a literal limit
# above its default (64 MiB).
_SERVER = """
import sys, anyio
from imap_server import MemoryStore
from imap_server.server import Listener, Server
from imap_wire import Limits

async def main():
    store = MemoryStore()
    store.add_user("user", "pass")
    server = Server(store, limits=Limits(max_literal_size=1 << 30))
    async with anyio.create_task_group() as tg:
        [port] = await tg.start(server.serve, Listener("127.0.0.1", 0))
        print(f"listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)

anyio.run(main)
"""

HUNDRED_MB = 100 * 1000 * 1000
PEAK_LIMIT = 16 * MiB


@pytest.fixture
def remote_server() -> Iterator[int]:
    """Our server in a child process; its port."""
    process = subprocess.Popen([sys.executable, "-c", _SERVER], stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match is not None, line
        yield int(match.group(1))
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


async def generated(size: int, digest: Any) -> AsyncIterator[bytes]:
    """``size`` octets of a message, made up as they go (lines of 64), hashed."""
    header = b"From: a@example.org\r\nSubject: 100 MB\r\n\r\n"
    digest.update(header)
    yield header
    left = size - len(header)
    counter = 0
    while left:
        block = b"".join(b"%062d\r\n" % (counter + i) for i in range(1024))[:left]
        counter += 1024
        left -= len(block)
        digest.update(block)
        yield block


class HashingFile:
    """Writes to a file and hashes what it writes."""

    def __init__(self, file: Any, digest: Any) -> None:
        self.file = file
        self.digest = digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        written: int = self.file.write(data)
        return written


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_100_mb_bounded_memory(remote_server: int, tmp_path: Path) -> None:
    async with AsyncClient("127.0.0.1", remote_server, tls=False, timeout=60) as client:
        await client.login("user", "pass")
        await client.select("INBOX")
        sent = hashlib.sha256()
        tracemalloc.start()
        try:
            result = await client.append_from("INBOX", generated(HUNDRED_MB, sent), HUNDRED_MB)
            _, append_peak = tracemalloc.get_traced_memory()

            tracemalloc.reset_peak()
            assert result.uid is not None
            got = hashlib.sha256()
            with (tmp_path / "big.eml").open("wb") as f:
                size = await client.fetch_to(result.uid, "", HashingFile(f, got))
            _, fetch_peak = tracemalloc.get_traced_memory()

            tracemalloc.reset_peak()
            streamed = hashlib.sha256()
            async for chunk in client.fetch_stream(result.uid):
                streamed.update(chunk)
            _, stream_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    print(
        f"client peak (tracemalloc): append_from {append_peak / MiB:.1f} MiB, "
        f"fetch_to {fetch_peak / MiB:.1f} MiB, fetch_stream {stream_peak / MiB:.1f} MiB"
    )
    assert size == HUNDRED_MB == (tmp_path / "big.eml").stat().st_size
    assert got.digest() == sent.digest() == streamed.digest()
    assert append_peak < PEAK_LIMIT
    assert fetch_peak < PEAK_LIMIT
    assert stream_peak < PEAK_LIMIT
