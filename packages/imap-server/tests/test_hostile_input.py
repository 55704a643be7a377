"""Hostile and broken clients: every one gets a clear answer, nothing leaks, nothing hangs.

Each test runs a real server (`serve_for_tests`, or `ThreadedServer` for the stdlib client)
and talks to it over raw sockets. What is checked, every time:

- the answer is a protocol response (``BAD``, ``NO [TOOBIG]``, ``BYE``), never silence;
- the server logs no error and no traceback (the ``clean_logs`` fixture);
- a client that goes away leaves nothing behind: the server's ``connections`` set empties and
  the event loop is back to the tasks it had before (`assert_no_leftovers`);
- afterwards a new connection logs in and works (`assert_server_works`).

Every wait is bounded by `TIMEOUT`, which a working server never comes near.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import random
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.abc
import pytest
from anyio.streams.tls import TLSStream

from imap_server.connection import Connection
from imap_server.memory import MemoryStore
from imap_server.testing.harness import RunningServer, ThreadedServer, serve_for_tests
from imap_wire import Limits

TIMEOUT = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FastStore(MemoryStore):
    """A memory store whose password hashes cost nothing."""

    scrypt_n = 16


def new_store() -> FastStore:
    store = FastStore()
    store.add_user("user", "pass")
    return store


@pytest.fixture
def clean_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Fail the test if anything logged an error or a traceback."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    bad = [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info is not None
    ]
    assert not bad, "errors logged:\n" + "\n".join(bad)


# -- a raw client ---------------------------------------------------------------------------------


class Raw:
    """Bytes in, lines out: a client that sends exactly what the test says."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, running: RunningServer, *, login: bool = False) -> Raw:
        raw = cls(await anyio.connect_tcp(running.host, running.port))
        assert (await raw.line()).startswith(b"* OK")
        if login:
            await raw.send(b"l1 LOGIN user pass\r\n")
            assert (await raw.until(b"l1 ")).startswith(b"l1 OK")
        return raw

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def line(self) -> bytes:
        """The next line the server sends (without CRLF)."""
        with anyio.fail_after(TIMEOUT):
            while (end := self.buffer.find(b"\r\n")) < 0:
                data = await self.stream.receive(65536)
                self.buffer += data
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def until(self, prefix: bytes) -> bytes:
        """Skip lines up to the first that starts with ``prefix``; return it."""
        while not (line := await self.line()).startswith(prefix):
            pass
        return line

    async def closed(self) -> bytes:
        """Read until the server closes the connection; return what came."""
        out = bytearray(self.buffer)
        self.buffer.clear()
        with anyio.fail_after(TIMEOUT):
            while True:
                try:
                    out += await self.stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                    return bytes(out)

    async def aclose(self) -> None:
        await self.stream.aclose()


def tasks_now() -> int:
    return len(asyncio.all_tasks())


async def assert_no_leftovers(running: RunningServer, tasks_before: int) -> None:
    """The server forgot every connection and the loop runs no task it did not run before."""
    with anyio.move_on_after(TIMEOUT):
        while running.server.connections or tasks_now() > tasks_before:
            await anyio.sleep(0.01)
    assert not running.server.connections, f"connections left: {running.server.connections}"
    assert tasks_now() <= tasks_before, f"tasks left: {asyncio.all_tasks()}"


async def assert_server_works(running: RunningServer) -> None:
    """A new client logs in, appends, reads the message back and logs out."""
    client = await Raw.connect(running, login=True)
    await client.send(b"w1 SELECT INBOX\r\n")
    assert (await client.until(b"w1 ")).startswith(b"w1 OK")
    body = b"Subject: still works\r\n\r\nhello\r\n"
    await client.send(b"w2 APPEND INBOX {%d+}\r\n%s\r\n" % (len(body), body))
    assert (await client.until(b"w2 ")).startswith(b"w2 OK")
    await client.send(b"w3 UID FETCH * (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
    fetched = await client.until(b"w3 ")
    assert fetched.startswith(b"w3 OK"), fetched
    await client.send(b"w4 LOGOUT\r\n")
    rest = await client.closed()
    assert b"* BYE" in rest and b"w4 OK" in rest
    await client.aclose()


# -- lines: too long, garbage, NUL, nesting -------------------------------------------------------


@pytest.mark.anyio
async def test_overlong_line_is_refused_and_the_connection_goes_on(
    clean_logs: pytest.LogCaptureFixture,
) -> None:
    async with serve_for_tests(new_store()) as running:
        client = await Raw.connect(running)
        await client.send(b"a1 NOOP " + b"x" * 70_000 + b"\r\na2 NOOP\r\n")
        assert (await client.line()).startswith(b"a1 BAD")
        assert (await client.line()).startswith(b"a2 OK")
        await client.aclose()
        await assert_server_works(running)


@pytest.mark.anyio
async def test_megabyte_without_crlf(clean_logs: pytest.LogCaptureFixture) -> None:
    async with serve_for_tests(new_store()) as running:
        tasks_before = tasks_now()
        # The BAD comes as soon as the line is over the limit, not at its (absent) end.
        client = await Raw.connect(running)
        await client.send(b"a1 NOOP " + b"y" * 1_000_000)
        assert (await client.line()).startswith(b"a1 BAD")
        # What follows up to the CRLF is skipped; the next line is a command again.
        await client.send(b"y" * 100_000 + b"\r\na2 NOOP\r\n")
        assert (await client.line()).startswith(b"a2 OK")
        # A client that sends a megabyte and leaves.
        other = await Raw.connect(running)
        await other.send(b"b1 LOGIN " + b"z" * 1_000_000)
        assert (await other.line()).startswith(b"b1 BAD")
        await other.aclose()
        await client.aclose()
        await assert_no_leftovers(running, tasks_before)
        await assert_server_works(running)


@pytest.mark.anyio
async def test_binary_garbage(clean_logs: pytest.LogCaptureFixture) -> None:
    rng = random.Random(9051)
    # Hundreds of BAD answers in a row: the parser is under test here, not that limit.
    async with serve_for_tests(new_store(), max_bad_commands=None) as running:
        for login in (False, True):
            client = await Raw.connect(running, login=login)
            for _ in range(50):
                # No "{": a literal announcement in random bytes would make the server wait
                # for (or skip) octets; literals have their own tests.
                junk = rng.randbytes(rng.randint(1, 3000)).replace(b"{", b"")
                await client.send(junk + (b"\r\n" if rng.random() < 0.7 else b""))
            await client.send(b"\r\nz1 NOOP\r\n")
            line = await client.until(b"z1 ")
            assert line.startswith(b"z1 OK"), line
            await client.aclose()
        await assert_server_works(running)


@pytest.mark.anyio
async def test_garbage_gets_bad_responses(clean_logs: pytest.LogCaptureFixture) -> None:
    # More BAD answers in a row than the default limit: the parser is under test here.
    async with serve_for_tests(new_store(), max_bad_commands=None) as running:
        client = await Raw.connect(running)
        lines = [
            b"\x00\x01\x02\xff\xfe",
            b"* NOOP",
            b"+ NOOP",
            b"a1",
            b"a1 NOSUCHCOMMAND",
            b"a1 NOOP extra arguments",
            b"a1 LOGIN",
            b'a1 LOGIN "unterminated',
            b"a1 FETCH 1 (FLAGS)",  # not valid before login
            b"\xc3\x28 NOOP",  # invalid UTF-8 in the tag
            b"a1 NOOP\x00",
            b'a1 LOGIN "us\x00er" pass',
            b"a1 LOGIN us\x00er pass",
        ]
        for line in lines:
            await client.send(line + b"\r\n")
            response = await client.line()
            assert response.split(b" ")[1] == b"BAD", (line, response)
        await client.send(b"a2 LOGIN {4}\r\n")
        assert (await client.line()).startswith(b"+")
        await client.send(b"u\x00er pass\r\n")  # NUL inside a literal (not literal8)
        assert (await client.line()).startswith(b"a2 BAD")
        await client.send(b"a3 NOOP\r\n")
        assert (await client.line()).startswith(b"a3 OK")
        await client.aclose()
        await assert_server_works(running)


@pytest.mark.anyio
async def test_deeply_nested_parentheses(clean_logs: pytest.LogCaptureFixture) -> None:
    async with serve_for_tests(new_store()) as running:
        client = await Raw.connect(running)
        await client.send(b"a1 LOGIN " + b"(" * 50_000 + b"\r\n")
        assert (await client.line()).startswith(b"a1 BAD")
        await client.send(b"a2 LOGIN user pass\r\na3 SELECT INBOX\r\n")
        assert (await client.until(b"a3 ")).startswith(b"a3 OK")
        attacks = [
            b"a4 FETCH 1 " + b"(" * 1000 + b"FLAGS" + b")" * 1000,
            b"a4 SEARCH " + b"(" * 1000 + b"ALL" + b")" * 1000,
            b"a4 SEARCH " + b"NOT " * 5000 + b"ALL",
            b"a4 SEARCH " + b"OR ALL " * 5000 + b"ALL",
            b"a4 STORE 1 FLAGS " + b"(" * 100 + b")" * 100,
            b"a4 LIST " + b"(" * 100 + b'"" "*"',
        ]
        for attack in attacks:
            await client.send(attack + b"\r\n")
            response = await client.line()
            assert response.startswith(b"a4 BAD"), (attack[:40], response)
        await client.send(b"a5 NOOP\r\n")
        assert (await client.line()).startswith(b"a5 OK")
        await client.aclose()
        await assert_server_works(running)


# -- literals -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_literal_over_the_limit_is_refused_before_the_continuation(
    clean_logs: pytest.LogCaptureFixture,
) -> None:
    async with serve_for_tests(new_store(), limits=Limits(max_literal_size=10_000)) as running:
        client = await Raw.connect(running, login=True)
        # Refused at once: no "+", so the client never sends the octets.
        await client.send(b"a1 APPEND INBOX {10001}\r\n")
        refused = await client.line()
        assert refused.startswith(b"a1 NO [TOOBIG]"), refused
        await client.send(b"a2 APPEND INBOX {100000000000}\r\n")
        assert (await client.line()).startswith(b"a2 NO [TOOBIG]")
        await client.send(b"a3 NOOP\r\n")
        assert (await client.line()).startswith(b"a3 OK")
        # At the limit it is welcome.
        body = b"Subject: x\r\n\r\n" + b"b" * (10_000 - 15) + b"\r"
        assert len(body) == 10_000
        await client.send(b"a4 APPEND INBOX {10000}\r\n")
        assert (await client.line()).startswith(b"+")
        await client.send(body + b"\r\n")
        assert (await client.line()).startswith(b"a4 OK")
        await client.aclose()
        await assert_server_works(running)


@pytest.mark.anyio
async def test_non_synchronizing_literal_over_the_limit_is_skipped(
    clean_logs: pytest.LogCaptureFixture,
) -> None:
    # A LITERAL+ literal comes whatever the server says: its octets must be skipped, and what
    # looks like commands inside them must not run.
    store = new_store()
    async with serve_for_tests(store, limits=Limits(max_literal_size=1024)) as running:
        client = await Raw.connect(running, login=True)
        smuggled = (b"x1 CREATE Smuggled\r\n" * 200)[:2000]
        await client.send(b"a1 APPEND INBOX {2000+}\r\n" + smuggled + b"\r\na2 NOOP\r\n")
        refused = await client.line()
        assert refused.startswith(b"a1 BAD [TOOBIG]") or refused.startswith(b"a1 NO [TOOBIG]")
        assert (await client.line()).startswith(b"a2 OK")
        user = await store.open_user("user")
        assert [m.name for m in await user.list_mailboxes()] == ["INBOX"]
        await client.aclose()
        await assert_server_works(running)


@pytest.mark.anyio
async def test_literal_over_8k_before_login(clean_logs: pytest.LogCaptureFixture) -> None:
    async with serve_for_tests(new_store()) as running:
        client = await Raw.connect(running)
        await client.send(b"a1 LOGIN {8193}\r\n")
        refused = await client.line()
        assert refused.startswith(b"a1 NO [TOOBIG]"), refused
        # Non-synchronizing: refused, and its octets skipped.
        await client.send(b"a2 LOGIN {9000+}\r\n" + b"u" * 9000 + b" pass\r\na3 NOOP\r\n")
        assert (await client.line()).startswith(b"a2 NO [TOOBIG]")
        assert (await client.line()).startswith(b"a3 OK")
        # A small literal is fine before login.
        await client.send(b"a4 LOGIN {4}\r\n")
        assert (await client.line()).startswith(b"+")
        await client.send(b"user pass\r\n")
        assert (await client.line()).startswith(b"a4 OK")
        await client.aclose()
        await assert_server_works(running)


@pytest.mark.anyio
async def test_message_over_the_store_limit(clean_logs: pytest.LogCaptureFixture) -> None:
    store = FastStore(max_message_size=1000)
    store.add_user("user", "pass")
    async with serve_for_tests(store) as running:
        client = await Raw.connect(running, login=True)
        await client.send(b"a1 APPEND INBOX {5000+}\r\n" + b"x" * 5000 + b"\r\na2 NOOP\r\n")
        assert (await client.line()).startswith(b"a1 NO [TOOBIG]")
        assert (await client.line()).startswith(b"a2 OK")
        await client.aclose()


@pytest.mark.anyio
async def test_message_over_the_store_limit_is_refused_before_the_continuation() -> None:
    store = FastStore(max_message_size=1000)
    store.add_user("user", "pass")
    async with serve_for_tests(store) as running:
        client = await Raw.connect(running, login=True)
        await client.send(b"a1 APPEND INBOX {5000}\r\n")
        response = await client.line()
        await client.aclose()
        assert response.startswith(b"a1 NO [TOOBIG]"), response


# -- clients that go away -------------------------------------------------------------------------


async def run_script(client: Raw, script: list[bytes]) -> None:
    """Send the steps: ``LOGIN`` logs in, ``+`` waits for a continuation request."""
    for step in script:
        if step == b"LOGIN":
            await client.send(b"l1 LOGIN user pass\r\n")
            await client.until(b"l1 OK")
        elif step == b"+":
            await client.until(b"+")
        else:
            await client.send(step)


DISCONNECTS = {
    "mid-line": [b"a1 NOO"],
    "mid-literal": [b"a1 LOGIN {10}\r\n", b"+", b"user"],
    "after-literal-announcement": [b"a1 LOGIN {10}\r\n", b"+"],
    "mid-append": [b"LOGIN", b"a2 APPEND INBOX {5000}\r\n", b"+", b"x" * 1000],
    # Over imap_wire's streaming threshold: the literal comes in chunks.
    "mid-streamed-append": [b"LOGIN", b"a2 APPEND INBOX {3000000}\r\n", b"+", b"x" * 1_000_000],
    "mid-authenticate": [b"a1 AUTHENTICATE PLAIN\r\n", b"+"],
    "in-idle": [b"LOGIN", b"a2 SELECT INBOX\r\na3 IDLE\r\n", b"+"],
    "mid-done": [b"LOGIN", b"a2 SELECT INBOX\r\na3 IDLE\r\n", b"+", b"DO"],
    "unanswered-pipeline": [b"LOGIN", b"a2 SELECT INBOX\r\n" + b"a3 NOOP\r\n" * 2000],
}


@pytest.mark.anyio
@pytest.mark.parametrize("script", list(DISCONNECTS.values()), ids=list(DISCONNECTS))
async def test_client_disconnects(
    script: list[bytes], clean_logs: pytest.LogCaptureFixture
) -> None:
    async with serve_for_tests(new_store()) as running:
        tasks_before = tasks_now()
        client = await Raw.connect(running)
        await run_script(client, script)
        assert running.server.connections
        await client.aclose()
        await assert_no_leftovers(running, tasks_before)
        await assert_server_works(running)


@pytest.mark.anyio
@pytest.mark.parametrize("script", [DISCONNECTS["mid-line"], DISCONNECTS["mid-literal"]],
                         ids=["mid-line", "mid-literal"])  # fmt: skip
async def test_half_close_mid_command_gets_bye(
    script: list[bytes], clean_logs: pytest.LogCaptureFixture
) -> None:
    # The client shuts down its sending side only, so it can read what the server says about
    # the command cut short.
    async with serve_for_tests(new_store()) as running:
        tasks_before = tasks_now()
        client = await Raw.connect(running)
        await run_script(client, script)
        stream = client.stream
        assert isinstance(stream, anyio.abc.SocketStream)
        await stream.send_eof()
        rest = await client.closed()
        assert rest.startswith(b"* BYE") and rest.endswith(b"\r\n"), rest
        await client.aclose()
        await assert_no_leftovers(running, tasks_before)
        await assert_server_works(running)


@pytest.mark.anyio
async def test_reset_connection_mid_literal(clean_logs: pytest.LogCaptureFixture) -> None:
    # An abortive close (RST) rather than a FIN.
    async with serve_for_tests(new_store()) as running:
        tasks_before = tasks_now()
        client = await Raw.connect(running, login=True)
        await client.send(b"a1 APPEND INBOX {5000}\r\n")
        await client.until(b"+")
        await client.send(b"x" * 100)
        sock = client.stream.extra(anyio.abc.SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await client.aclose()
        await assert_no_leftovers(running, tasks_before)
        await assert_server_works(running)


STALLS = {
    "silent": [],
    "half-line": [b"a1 NOO"],
    "half-literal": [b"a1 LOGIN {10}\r\n", b"+", b"user"],
    "idle": [b"LOGIN", b"a2 SELECT INBOX\r\na3 IDLE\r\n", b"+"],
    "authenticated": [b"LOGIN"],
}


@pytest.mark.anyio
@pytest.mark.parametrize("script", list(STALLS.values()), ids=list(STALLS))
async def test_client_that_stalls_is_logged_out(
    script: list[bytes], clean_logs: pytest.LogCaptureFixture
) -> None:
    async with serve_for_tests(
        new_store(), unauthenticated_timeout=0.5, autologout=0.5, idle_timeout=0.5
    ) as running:
        tasks_before = tasks_now()
        client = await Raw.connect(running)
        await run_script(client, script)
        rest = await client.closed()
        assert rest.endswith(b"* BYE Autologout; idle for too long\r\n"), rest
        await client.aclose()
        await assert_no_leftovers(running, tasks_before)
        await assert_server_works(running)


# -- pipelining -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_thousand_pipelined_noops_answered_in_order(
    clean_logs: pytest.LogCaptureFixture,
) -> None:
    async with serve_for_tests(new_store()) as running:
        client = await Raw.connect(running, login=True)
        await client.send(b"".join(b"n%04d NOOP\r\n" % i for i in range(1000)))
        for i in range(1000):
            assert (await client.line()).startswith(b"n%04d OK" % i)
        await client.aclose()
        await assert_server_works(running)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@pytest.fixture
def client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls_files[0]))
    context.check_hostname = False
    return context


@pytest.mark.anyio
async def test_commands_pipelined_after_starttls_are_not_run(
    server_tls: ssl.SSLContext, clean_logs: pytest.LogCaptureFixture
) -> None:
    # CVE-2011-0411: what came in plaintext after STARTTLS must not run after the handshake.
    store = new_store()
    async with serve_for_tests(store, tls_context=server_tls) as running:
        tasks_before = tasks_now()
        client = await Raw.connect(running)
        await client.send(b"a1 STARTTLS\r\na2 LOGIN user pass\r\na3 CREATE Injected\r\n")
        rest = await client.closed()
        assert rest.startswith(b"a1 OK"), rest
        assert b"a2" not in rest and b"a3" not in rest
        await client.aclose()
        await assert_no_leftovers(running, tasks_before)
        user = await store.open_user("user")
        assert [m.name for m in await user.list_mailboxes()] == ["INBOX"]


@pytest.mark.anyio
async def test_starttls_then_commands_work(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext, clean_logs: pytest.LogCaptureFixture
) -> None:
    async with serve_for_tests(
        new_store(), tls_context=server_tls, plaintext_auth="never"
    ) as running:
        client = await Raw.connect(running)
        await client.send(b"a0 LOGIN user pass\r\n")
        assert (await client.line()).startswith(b"a0 NO [PRIVACYREQUIRED]")
        await client.send(b"a1 STARTTLS\r\n")
        assert (await client.line()).startswith(b"a1 OK")
        client.stream = await TLSStream.wrap(
            client.stream, hostname="localhost", ssl_context=client_tls, standard_compatible=False
        )
        await client.send(b"a2 LOGIN user pass\r\na3 SELECT INBOX\r\n")
        assert (await client.until(b"a3 ")).startswith(b"a3 OK")
        await client.send(b"a4 STARTTLS\r\n")
        assert (await client.line()).startswith(b"a4 BAD")
        await client.aclose()


# -- a client that never reads --------------------------------------------------------------------


def _buffered(conn: Connection) -> int:
    """Octets the server holds for one client: its response buffer and, on asyncio, the
    transport's write buffer (a private attribute of anyio's socket stream)."""
    transport = getattr(conn.stream, "_transport", None)
    in_transport = transport.get_write_buffer_size() if transport is not None else 0
    return len(conn._out) + int(in_transport)


@pytest.mark.anyio
async def test_client_that_never_reads(clean_logs: pytest.LogCaptureFixture) -> None:
    # Each FETCH answers 15 MB; the client asks for 7 GB and reads none of it. The server
    # must block on the socket rather than buffer what it cannot send, even within a response.
    async with serve_for_tests(new_store()) as running:
        tasks_before = tasks_now()
        client = await Raw.connect(running, login=True)
        body = b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 100
        for i in range(150):
            await client.send(b"p%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(body), body))
            await client.until(b"p%d OK" % i)
        await client.send(b"s1 SELECT INBOX\r\n")
        await client.until(b"s1 OK")
        (conn,) = running.server.connections
        request = b"".join(b"f%d FETCH 1:* BODY.PEEK[]\r\n" % i for i in range(500))
        most = 0
        with anyio.move_on_after(1.5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.send, request)  # blocks once the socket buffers fill
                while True:
                    most = max(most, _buffered(conn))
                    await anyio.sleep(0.01)
        # At most a flush's worth of responses (64 KiB plus one message) and what the
        # transport holds; not one whole response, let alone the gigabytes asked for.
        assert most < 2 * 1024 * 1024, f"the server buffered {most} octets for a stuck client"
        await client.aclose()
        await assert_no_leftovers(running, tasks_before)
        await assert_server_works(running)


# -- a real client: stdlib imaplib ----------------------------------------------------------------


def test_imaplib_appends_with_split_literal(clean_logs: pytest.LogCaptureFixture) -> None:
    # imaplib writes a literal and its closing CRLF in two send() calls, and leaves Nagle on:
    # unless the server ACKs at once, each APPEND waits for a delayed ACK (~40 ms). The rate
    # is printed (pytest -s) rather than asserted: timing depends on the machine.
    store = new_store()
    count = 200
    with ThreadedServer(store) as running:
        client = imaplib.IMAP4(running.host, running.port, timeout=TIMEOUT)
        try:
            client.login("user", "pass")
            started = time.perf_counter()
            for i in range(count):
                message = b"Subject: imaplib %d\r\n\r\nbody %d\r\n" % (i, i)
                typ, _ = client.append("INBOX", "", imaplib.Time2Internaldate(time.time()), message)
                assert typ == "OK"
            elapsed = time.perf_counter() - started
            typ, data = client.select("INBOX")
            assert typ == "OK" and data == [str(count).encode()]
            typ, fetched = client.fetch(f"{count}", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            first = fetched[0]
            assert typ == "OK" and isinstance(first, tuple) and b"imaplib 199" in first[1]
            client.logout()
        finally:
            if client.state != "LOGOUT":
                client.shutdown()
    print(f"\nimaplib: {count} APPENDs in {elapsed:.3f} s ({count / elapsed:.0f}/s)")
