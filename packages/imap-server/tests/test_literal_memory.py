"""``Server(max_literal_memory=...)``: literals all connections are receiving at once are
bounded; one over the budget is refused before its ``+``, and the budget comes back."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

from imap_server import MemoryStore, Server
from imap_server.testing.harness import serve_for_tests

pytestmark = pytest.mark.anyio


class Raw:
    """Bytes out, lines in."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buffer = b""

    @classmethod
    async def connect(cls, host: str, port: int) -> Raw:
        return cls(await anyio.connect_tcp(host, port))

    async def __aenter__(self) -> Raw:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stream.aclose()

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def line(self) -> bytes:
        with anyio.fail_after(5):
            while b"\r\n" not in self.buffer:
                self.buffer += await self.stream.receive()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line + b"\r\n"


def new_store() -> MemoryStore:
    store = MemoryStore()
    store.add_user("user", "pass")
    return store


async def logged_in(client: Raw) -> None:
    await client.line()  # greeting
    await client.send(b"a0 LOGIN user pass\r\n")
    assert (await client.line()).startswith(b"a0 OK")


async def test_literal_over_the_budget_is_refused_and_the_budget_returns() -> None:
    store = new_store()
    async with serve_for_tests(store, max_literal_memory=10_000) as running:
        first = await Raw.connect(running.host, running.port)
        second = await Raw.connect(running.host, running.port)
        async with first, second:
            await logged_in(first)
            await logged_in(second)
            # The first client's literal holds 8,000 of the 10,000 octets while it arrives.
            await first.send(b"a1 APPEND INBOX {8000}\r\n")
            assert (await first.line()).startswith(b"+")
            await first.send(b"x" * 4000)
            # The second one's 4,000 would go over: refused before any "+".
            await second.send(b"b1 APPEND INBOX {4000}\r\n")
            assert await second.line() == (
                b"b1 NO [UNAVAILABLE] Too much mail arriving at once; try again later\r\n"
            )
            assert running.server.literal_memory == 8000
            # The first APPEND completes: its octets are given back.
            await first.send(b"Subject: x\r\n\r\n".ljust(4000, b"y") + b"\r\n")
            assert (await first.line()).startswith(b"a1 OK")
            assert running.server.literal_memory == 0
            await second.send(b"b2 APPEND INBOX {14}\r\n")
            assert (await second.line()).startswith(b"+")
            await second.send(b"Subject: y\r\n\r\n\r\n")
            assert (await second.line()).startswith(b"b2 OK")
    assert running.server.literal_memory == 0


async def test_budget_returns_when_a_client_leaves_mid_literal() -> None:
    async with serve_for_tests(new_store(), max_literal_memory=10_000) as running:
        client = await Raw.connect(running.host, running.port)
        async with client:
            await logged_in(client)
            await client.send(b"a1 APPEND INBOX {9000}\r\n")
            assert (await client.line()).startswith(b"+")
            await client.send(b"x" * 100)
            assert running.server.literal_memory == 9000
        with anyio.fail_after(5):
            while running.server.literal_memory:
                await anyio.sleep(0.01)


def test_bad_budget() -> None:
    with pytest.raises(ValueError):
        Server(MemoryStore(), max_literal_memory=0)
