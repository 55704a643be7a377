"""Fixtures of the imap-client tests: our server in the test's event loop, and a client.

Every async test runs under asyncio and, when it is installed, trio (anyio's pytest plugin):
`serve_for_tests` runs on anyio only, so the server runs in the same loop as the client.

``server`` is `imap_server.testing.harness.serve_for_tests` over a fresh `MemoryStore` with
user ``user`` / ``pass`` (cheap password hashes), ``client`` an `AsyncClient` logged in to it,
``seed`` puts messages in a mailbox through the store (no IMAP involved), and ``connect``
opens more clients (for updates seen from another connection).

Test modules cannot import this file (``--import-mode=importlib``): they use the fixtures.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from imap_client import AsyncClient
from imap_server import MemoryStore
from imap_server.message import parse_message
from imap_server.testing.harness import RunningServer, serve_for_tests

_BACKENDS = ["asyncio"] + (["trio"] if importlib.util.find_spec("trio") is not None else [])

#: ``await seed(count, mailbox="INBOX", flags=frozenset())``: append ``count`` messages; the
#: i-th (from 1) has subject ``Message <i>`` and body ``Body <i>``.
Seed = Callable[..., Awaitable[None]]
#: ``async with connect() as other:``: another logged-in client to the same server.
Connect = Callable[[], AbstractAsyncContextManager[AsyncClient]]


class FastStore(MemoryStore):
    """A `MemoryStore` with cheap password hashes (the tests log in often)."""

    scrypt_n = 2**4


def make_message(i: int, *, subject: str | None = None) -> bytes:
    """A small RFC 5322 message numbered ``i``."""
    subject = subject if subject is not None else f"Message {i}"
    return (
        f"From: Sender {i} <sender{i}@example.org>\r\n"
        f"To: rcpt@example.org\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <m{i}@example.org>\r\n"
        f"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        f"\r\n"
        f"Body {i}\r\n"
    ).encode()


@pytest.fixture(params=_BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture
def store() -> FastStore:
    store = FastStore()
    store.add_user("user", "pass")
    return store


@pytest.fixture
async def server(anyio_backend: str, store: FastStore) -> AsyncIterator[RunningServer]:
    """Our server over ``store``, on a free loopback port."""
    async with serve_for_tests(store) as running:
        yield running


@pytest.fixture
def connect(server: RunningServer) -> Connect:
    """Open more logged-in clients to ``server``."""

    @asynccontextmanager
    async def open_client() -> AsyncIterator[AsyncClient]:
        async with AsyncClient(server.host, server.port, tls=False, timeout=10) as client:
            await client.login("user", "pass")
            yield client

    return open_client


@pytest.fixture
async def client(connect: Connect) -> AsyncIterator[AsyncClient]:
    """A client logged in as ``user`` (nothing selected)."""
    async with connect() as client:
        yield client


@pytest.fixture
def seed(store: FastStore) -> Seed:
    """Append sample messages to a mailbox of ``user`` through the store."""

    async def add(
        count: int,
        mailbox: str = "INBOX",
        flags: Iterable[str] = (),
        *,
        start: int = 1,
    ) -> None:
        box = await (await store.open_user("user")).get_mailbox(mailbox)
        for i in range(start, start + count):
            body = make_message(i)
            await box.append(
                body,
                parsed=parse_message(body),
                flags=frozenset(flags),
                internal_date=dt.datetime(2024, 1, 1, 10, 0, i % 60, tzinfo=dt.UTC),
            )

    return add
