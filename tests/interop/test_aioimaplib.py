"""aioimaplib (an asyncio IMAP client) against our server, run in the same event loop
(`serve_for_tests`).

aioimaplib hands back each response as lines of bytes (`Response.result`, `Response.lines`),
so the checks below read the lines the server wrote.
"""

from __future__ import annotations

import datetime as dt
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from aioimaplib import aioimaplib

from imap_server import Listener, MemoryStore
from imap_server.testing.harness import RunningServer, serve_for_tests

if TYPE_CHECKING:
    from conftest import Certificate

USER = "alice"
PASSWORD = "interop secret: with a colon"
TIMEOUT = 10.0  # aioimaplib's timeout for each command
TEST_TIMEOUT = 30.0  # for a whole test

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aioimaplib runs on asyncio only


@asynccontextmanager
async def server(
    store: MemoryStore, tls: ssl.SSLContext | None = None
) -> AsyncIterator[RunningServer]:
    listeners = (Listener("127.0.0.1", 0), Listener("127.0.0.1", 0, tls=tls)) if tls else ()
    async with serve_for_tests(store, listeners=listeners) as running:
        yield running


@asynccontextmanager
async def client(port: int, *, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Any]:
    """A logged-in aioimaplib client, logged out (or its connection closed) on the way out."""
    if ssl_context is None:
        c = aioimaplib.IMAP4(host="127.0.0.1", port=port, timeout=TIMEOUT)
    else:
        c = aioimaplib.IMAP4_SSL(
            host="127.0.0.1", port=port, timeout=TIMEOUT, ssl_context=ssl_context
        )
    try:
        await c.wait_hello_from_server()
        assert ok(await c.login(USER, PASSWORD))[0].endswith(b"Logged in")
        yield c
    finally:
        if c.get_state() != "LOGOUT":
            with suppress(Exception):  # already broken: closing the transport will do
                await c.logout()
        transport = c.protocol.transport
        if transport is not None:
            transport.close()


def ok(response: Any) -> list[bytes]:
    assert response.result == "OK", response
    lines: list[bytes] = [bytes(line) for line in response.lines]
    return lines


def message(subject: str, body: str = "body") -> bytes:
    return f"From: ann@example.com\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


async def pushed_until(c: Any, pattern: bytes) -> list[bytes]:
    """What the server pushed during IDLE, up to a line that matches ``pattern``."""
    pushed: list[bytes] = []
    while not any(re.fullmatch(pattern, line) for line in pushed):
        pushed += [bytes(line) for line in await c.wait_server_push(TIMEOUT)]
    return pushed


async def test_a_session(memory_store: MemoryStore) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with server(memory_store) as running, client(running.port) as c:
            assert c.has_capability("IMAP4rev1") and c.has_capability("IDLE")
            ok(await c.create("Archive"))
            when = dt.datetime(2023, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
            lines = ok(await c.append(message("one", "first"), mailbox="INBOX",
                                      flags=r"(\Flagged)", date=when))  # fmt: skip
            assert re.fullmatch(rb"\[APPENDUID \d+ 1\] APPEND completed", lines[-1])
            ok(await c.append(message("two", "second"), mailbox="INBOX"))
            ok(await c.append(message("three", "third"), mailbox="INBOX"))

            lines = ok(await c.select("INBOX"))
            assert b"3 EXISTS" in lines
            assert lines[-1] == b"[READ-WRITE] SELECT completed"
            assert ok(await c.search("ALL")) == [b"1 2 3", b"SEARCH completed"]
            assert ok(await c.search("SUBJECT", "two"))[0] == b"2"
            assert ok(await c.search("FLAGGED"))[0] == b"1"
            assert ok(await c.uid_search("NOT", "FLAGGED"))[0] == b"2 3"

            lines = ok(await c.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])"))
            assert lines[0].startswith(b"1 FETCH (FLAGS (\\Flagged \\Recent) ")
            assert re.search(rb'INTERNALDATE "( 6|06)-May-2023 07:08:09 \+0000"', lines[0])
            assert lines[1] == message("one", "first")  # the literal, on a line of its own
            assert lines[2:] == [b")", b"FETCH completed"]
            lines = ok(await c.uid("fetch", "2:3", "(UID FLAGS)"))
            assert lines == [
                b"2 FETCH (UID 2 FLAGS (\\Recent))",
                b"3 FETCH (UID 3 FLAGS (\\Recent))",
                b"UID FETCH completed",
            ]

            lines = ok(await c.store("1:2", "+FLAGS", r"(\Seen)"))
            assert lines[:2] == [
                b"1 FETCH (FLAGS (\\Flagged \\Recent \\Seen))",
                b"2 FETCH (FLAGS (\\Recent \\Seen))",
            ]
            lines = ok(await c.uid("store", "3", "+FLAGS.SILENT", r"(\Answered)"))
            assert lines == [b"UID STORE completed"]

            lines = ok(await c.copy("1", "Archive"))
            assert re.fullmatch(rb"\[COPYUID \d+ 1 1\] COPY completed", lines[-1])
            lines = ok(await c.uid("copy", "2:3", "Archive"))
            assert re.fullmatch(rb"\[COPYUID \d+ 2:3 2:3\] (UID )?COPY completed", lines[-1])
            lines = ok(await c.move("3", "Archive"))
            assert b"3 EXPUNGE" in lines

            ok(await c.store("1", "+FLAGS", r"(\Deleted)"))
            assert ok(await c.expunge()) == [b"1 EXPUNGE", b"EXPUNGE completed"]
            assert ok(await c.search("ALL"))[0] == b"1"

            lines = ok(await c.status("Archive", "(MESSAGES UNSEEN)"))
            assert lines[0] == b"Archive (MESSAGES 4 UNSEEN 2)"  # message 3 twice, unseen
            ok(await c.close())

            lines = ok(await c.logout())
            assert lines[0].startswith(b"BYE")
            assert c.get_state() == "LOGOUT"


async def test_idle_sees_changes_from_another_connection(memory_store: MemoryStore) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            server(memory_store) as running,
            client(running.port) as watcher,
            client(running.port) as other,
        ):
            ok(await other.append(message("before"), mailbox="INBOX"))
            ok(await watcher.select("INBOX"))
            idle = await watcher.idle_start(timeout=TIMEOUT)
            assert watcher.has_pending_idle()

            ok(await other.append(message("while idling"), mailbox="INBOX"))
            await pushed_until(watcher, rb"2 EXISTS")

            ok(await other.select("INBOX"))
            ok(await other.store("1", "+FLAGS", r"(\Flagged)"))
            await pushed_until(watcher, rb"1 FETCH \(.*FLAGS \([^)]*\\Flagged[^)]*\).*\)")

            watcher.idle_done()
            done = await idle
            assert ok(done) == [b"IDLE completed"]
            assert ok(await watcher.search("FLAGGED"))[0] == b"1"


async def test_implicit_tls(memory_store: MemoryStore, tls_files: Certificate) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with server(memory_store, tls_files.server_context()) as running:
            context = tls_files.client_context()
            async with client(running.ports[1], ssl_context=context) as c:
                ok(await c.append(message("secret"), mailbox="INBOX"))
                lines = ok(await c.select("INBOX"))
                assert b"1 EXISTS" in lines
