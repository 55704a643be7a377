"""APPEND messages over 1 MiB go to a temporary file (`imap_server.spool.SpooledMessage`), not
memory: what the store gets, that the file goes away, and what a full disk answers."""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imap_server import MemoryStore
from imap_server import memory as memory_module
from imap_server import spool as spool_module
from imap_server.spool import SpooledMessage
from imap_server.testing.conformance import sample_message
from imap_server.testing.harness import serve_for_tests

MiB = 1024 * 1024

# -- SpooledMessage on its own


@given(
    data=st.binary(max_size=3000),
    ranges=st.lists(st.tuples(st.integers(-5, 3100), st.integers(-5, 3100)), max_size=8),
)
def test_pread_is_slicing(data: bytes, ranges: list[tuple[int, int]]) -> None:
    with SpooledMessage.from_bytes(data) as message:
        assert len(message) == message.size == len(data)
        for start, end in ranges:
            assert message.pread(start, end) == data[max(start, 0) : max(end, 0)]


@given(data=st.binary(max_size=5000), size=st.integers(1, 700))
def test_chunks_and_reader_give_the_octets(data: bytes, size: int) -> None:
    with SpooledMessage.from_bytes(data) as message:
        chunks = list(message.chunks(size))
        assert b"".join(chunks) == data
        assert all(len(c) <= size for c in chunks)
        with message.reader() as reader:
            assert reader.read(size) == data[:size]
            assert reader.read() == data[size:]
            reader.seek(0)
            assert reader.read() == data


def test_readers_keep_their_own_positions() -> None:
    data = bytes(range(256)) * 100
    message = SpooledMessage.from_bytes(data)
    with message, message.reader() as first, message.reader() as second:
        assert first.read(10) == data[:10]
        assert second.read(20) == data[:20]
        assert first.read(5) == data[10:15]
        second.seek(-6, io.SEEK_END)
        assert second.read() == data[-6:]
        assert first.tell() == 15


@pytest.mark.anyio
async def test_read_is_a_body() -> None:
    data = b"x" * (2 * MiB) + b"end"
    with SpooledMessage.from_bytes(data) as message:
        assert await message.read() == data  # over 1 MiB: in a worker thread
        assert await message.read(len(data) - 3) == b"end"
        assert await message.read(5, 2) == b""


def test_written_in_pieces_and_closed_twice() -> None:
    message = SpooledMessage()
    for piece in (b"abc", bytearray(b"def"), memoryview(b"ghi")):
        message.write(piece)
    assert message.pread(0, 100) == b"abcdefghi"
    assert repr(message) == "<SpooledMessage 9 octets>"
    message.close()
    message.close()


def test_the_file_has_no_name(tmp_path: Any) -> None:
    with SpooledMessage(str(tmp_path)) as message:
        message.write(b"data")
        assert os.listdir(tmp_path) == []


# -- through the server


class Client:
    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def line(self) -> bytes:
        with anyio.fail_after(20):
            while b"\r\n" not in self.buffer:
                self.buffer += await self.stream.receive()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line + b"\r\n"

    async def until_tagged(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = await self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    async def append(self, message: bytes, tag: bytes = b"a1") -> bytes:
        """APPEND ``message`` to INBOX, in 64 KB writes; the tagged answer."""
        await self.stream.send(tag + b" APPEND INBOX {%d}\r\n" % len(message))
        assert (await self.line()).startswith(b"+")
        for start in range(0, len(message), 65536):
            await self.stream.send(message[start : start + 65536])
        await self.stream.send(b"\r\n")
        return (await self.until_tagged(tag))[-1]


async def logged_in(stream: anyio.abc.ByteStream) -> Client:
    client = Client(stream)
    await client.line()
    await stream.send(b"a0 LOGIN user pass\r\n")
    assert (await client.line()).startswith(b"a0 OK")
    return client


def big_message(size: int = 3 * MiB) -> bytes:
    line = b"A line of a big message, long enough to be a line.\r\n"
    return sample_message(1, text=line * (size // len(line)))


@pytest.fixture
def spools(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SpooledMessage]]:
    """Every SpooledMessage the server creates."""
    made: list[SpooledMessage] = []
    original = SpooledMessage.__init__

    def init(self: SpooledMessage, directory: str | None = None) -> None:
        original(self, directory)
        made.append(self)

    monkeypatch.setattr(SpooledMessage, "__init__", init)
    yield made


def closed(message: SpooledMessage) -> bool:
    return message._file.closed


@pytest.mark.anyio
async def test_a_big_append_reaches_the_store_spooled(
    monkeypatch: pytest.MonkeyPatch, spools: list[SpooledMessage]
) -> None:
    received: list[object] = []
    original = memory_module._MemoryMailbox.append

    async def append(self: Any, body: Any, **kwargs: Any) -> Any:
        received.append(body)
        return await original(self, body, **kwargs)

    monkeypatch.setattr(memory_module._MemoryMailbox, "append", append)
    store = MemoryStore()
    store.add_user("user", "pass")
    data = big_message()
    async with serve_for_tests(store) as running:
        stream = await anyio.connect_tcp(running.host, running.port)
        async with stream:
            client = await logged_in(stream)
            assert (await client.append(data)).startswith(b"a1 OK [APPENDUID ")
            assert (await client.append(b"Subject: small\r\n\r\nhi\r\n", b"a2")).startswith(
                b"a2 OK"
            )
            await stream.send(b"a3 SELECT INBOX\r\n")
            await client.until_tagged(b"a3")
            await stream.send(b"a4 FETCH 1 BODY.PEEK[]\r\n")
            lines = await client.until_tagged(b"a4")
    assert b"".join(lines).startswith(b"* 1 FETCH (BODY[] {%d}\r\n" % len(data) + data)
    spooled, small = received
    assert isinstance(spooled, SpooledMessage)
    assert small == b"Subject: small\r\n\r\nhi\r\n"
    assert spools == [spooled]
    assert closed(spooled)  # removed once the command ended


@pytest.mark.anyio
async def test_a_client_gone_mid_literal_leaves_no_file(spools: list[SpooledMessage]) -> None:
    async with serve_for_tests() as running:
        stream = await anyio.connect_tcp(running.host, running.port)
        async with stream:
            client = await logged_in(stream)
            await stream.send(b"a1 APPEND INBOX {%d}\r\n" % (3 * MiB))
            assert (await client.line()).startswith(b"+")
            await stream.send(b"x" * (2 * MiB))
            with anyio.fail_after(10):
                while not spools:
                    await anyio.sleep(0.01)
        with anyio.fail_after(10):
            while not closed(spools[0]):
                await anyio.sleep(0.01)
        assert running.server.literal_memory == 0


@pytest.mark.anyio
async def test_an_unwritable_spool_directory_answers_unavailable(tmp_path: Any) -> None:
    missing = str(tmp_path / "missing")
    async with serve_for_tests(spool_directory=missing) as running:
        stream = await anyio.connect_tcp(running.host, running.port)
        async with stream:
            client = await logged_in(stream)
            answer = await client.append(big_message())
            assert answer == b"a1 NO [UNAVAILABLE] Cannot take the message now; try again later\r\n"
            # The literal was read to its end: the connection goes on.
            assert (await client.append(b"Subject: small\r\n\r\nhi\r\n", b"a2")).startswith(
                b"a2 OK [APPENDUID "
            )
            await stream.send(b"a3 STATUS INBOX (MESSAGES)\r\n")
            assert b"(MESSAGES 1)" in b"".join(await client.until_tagged(b"a3"))


@pytest.mark.anyio
async def test_a_full_disk_mid_literal_answers_unavailable(
    monkeypatch: pytest.MonkeyPatch, spools: list[SpooledMessage]
) -> None:
    writes = 0
    original = spool_module.SpooledMessage.write

    def write(self: SpooledMessage, data: Any) -> None:
        nonlocal writes
        writes += 1
        if writes == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, data)

    monkeypatch.setattr(spool_module.SpooledMessage, "write", write)
    async with serve_for_tests() as running:
        stream = await anyio.connect_tcp(running.host, running.port)
        async with stream:
            client = await logged_in(stream)
            answer = await client.append(big_message())
            assert answer.startswith(b"a1 NO [UNAVAILABLE]")
            await stream.send(b"a2 STATUS INBOX (MESSAGES)\r\n")
            assert b"(MESSAGES 0)" in b"".join(await client.until_tagged(b"a2"))
    assert spools and all(closed(s) for s in spools)
