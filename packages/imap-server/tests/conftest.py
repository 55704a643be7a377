"""Shared fixtures of the imap-server tests: a fast store, a running server, sample mail, and
`Peer` (a transcript player that keeps its connection, for exchanges across connections).

The transcript tests (``test_transcript_*.py``) play ``C:`` / ``S:`` scripts with
`imap_server.testing.play`; the fixtures here give them a server on a loopback port, with
user ``user`` / ``pass`` and, through ``seeded``, four sample messages in INBOX.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.abc
import pytest

from imap_server.memory import MemoryStore
from imap_server.message import parse_message
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_server.testing.transcript import TranscriptMismatch, parse_transcript

__all__ = ["MESSAGES", "Connect", "FastStore", "Peer", "SampleMessage"]


class FastStore(MemoryStore):
    """A `MemoryStore` with cheap password hashes (tests log in hundreds of times)."""

    scrypt_n = 2**4


@dataclass(frozen=True, slots=True)
class SampleMessage:
    body: bytes
    flags: frozenset[str]
    internal_date: dt.datetime


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


#: The sample mail ``seeded`` puts in INBOX, UIDs 1 to 4 in this order.
MESSAGES: Sequence[SampleMessage] = (
    SampleMessage(
        body=_crlf(
            "From: Alice <alice@example.org>\n"
            "To: Bob <bob@example.org>\n"
            "Subject: Hello world\n"
            "Date: Wed, 01 Jan 2020 10:00:00 +0000\n"
            "Message-ID: <m1@example.org>\n"
            "\n"
            "Hello Bob, how are you?\n"
        ),
        flags=frozenset({"\\Seen"}),
        internal_date=dt.datetime(2020, 1, 1, 10, 0, 0, tzinfo=dt.UTC),
    ),
    SampleMessage(
        body=_crlf(
            "From: Carol <carol@example.org>\n"
            "To: bob@example.org\n"
            "Cc: Dave <dave@example.org>\n"
            "Subject: Meeting agenda\n"
            "Date: Tue, 15 Jun 2021 09:30:00 +0200\n"
            "Message-ID: <m2@example.org>\n"
            "In-Reply-To: <m1@example.org>\n"
            "\n"
            "Agenda: budget and planning.\n"
        ),
        flags=frozenset({"\\Answered", "\\Flagged", "$Work"}),
        internal_date=dt.datetime(2021, 6, 15, 7, 30, 0, tzinfo=dt.UTC),
    ),
    SampleMessage(
        body=_crlf(
            "From: Erin <erin@example.org>\n"
            "To: bob@example.org\n"
            "Bcc: audit@example.org\n"
            "Subject: Quarterly report\n"
            "Date: Thu, 10 Mar 2022 16:00:00 -0500\n"
            "Message-ID: <m3@example.org>\n"
            "MIME-Version: 1.0\n"
            'Content-Type: multipart/mixed; boundary="XX"\n'
            "\n"
            "--XX\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "\n"
            "See the attached report.\n"
            "--XX\n"
            'Content-Type: application/octet-stream; name="r.bin"\n'
            "Content-Transfer-Encoding: base64\n"
            "\n"
            "AAECAwQ=\n"
            "--XX--\n"
        ),
        flags=frozenset({"\\Seen", "\\Deleted"}),
        internal_date=dt.datetime(2022, 3, 10, 21, 0, 0, tzinfo=dt.UTC),
    ),
    SampleMessage(
        body=_crlf(
            "From: Bob <bob@example.org>\n"
            "To: Alice <alice@example.org>\n"
            "Subject: Draft of the plan\n"
            "Date: Fri, 05 May 2023 12:00:00 +0000\n"
            "Message-ID: <m4@example.org>\n"
            "\n" + "The plan, in detail.\n" * 40
        ),
        flags=frozenset({"\\Draft"}),
        internal_date=dt.datetime(2023, 5, 5, 12, 0, 0, tzinfo=dt.UTC),
    ),
)


async def add_messages(
    store: MemoryStore, messages: Sequence[SampleMessage], mailbox: str = "INBOX"
) -> None:
    """Append ``messages`` to a mailbox of ``user`` through the store (no IMAP involved)."""
    box = await (await store.open_user("user")).get_mailbox(mailbox)
    for m in messages:
        await box.append(
            m.body, parsed=parse_message(m.body), flags=m.flags, internal_date=m.internal_date
        )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store() -> FastStore:
    store = FastStore()
    store.add_user("user", "pass")
    return store


@pytest.fixture
async def server(anyio_backend: str, store: FastStore) -> AsyncIterator[RunningServer]:
    """A server over ``store`` (INBOX empty)."""
    async with serve_for_tests(store) as running:
        yield running


@pytest.fixture
async def seeded(anyio_backend: str, store: FastStore) -> AsyncIterator[RunningServer]:
    """A server whose INBOX holds `MESSAGES` (UIDs 1 to 4)."""
    await add_messages(store, MESSAGES)
    async with serve_for_tests(store) as running:
        yield running


# -- a transcript player that keeps its connection ----------------------------------------------


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("...")), re.DOTALL)


class Peer:
    """One client connection playing transcripts piecewise (same rules as
    `imap_server.testing.play`), so that a test can interleave several connections."""

    def __init__(self, stream: anyio.abc.ByteStream, timeout: float) -> None:
        self._stream = stream
        self._timeout = timeout
        self._buffer = b""
        self.log: list[str] = []

    async def _line(self) -> str | None:
        while b"\r\n" not in self._buffer:
            try:
                with anyio.fail_after(self._timeout):
                    data = await self._stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                return None
            self._buffer += data
        raw, self._buffer = self._buffer.split(b"\r\n", 1)
        line = raw.decode("utf-8", "replace")
        self.log.append("S: " + line)
        return line

    def _fail(self, message: str) -> TranscriptMismatch:
        return TranscriptMismatch(message + "\n--- exchange so far ---\n" + "\n".join(self.log))

    async def play(self, script: str) -> None:
        steps = parse_transcript(script)
        i = 0
        while i < len(steps):
            step = steps[i]
            if step.who in ("C", "C+"):
                data = step.text.encode("utf-8") + (b"\r\n" if step.who == "C" else b"")
                await self._stream.send(data)
                self.log.append(f"{step.who}: {step.text}")
            elif step.text == "...":
                following = next((s for s in steps[i + 1 :] if s.who == "S"), None)
                assert following is not None, "'S: ...' must be followed by an S: line"
                pattern = _pattern(following.text)
                while True:
                    try:
                        got = await self._line()
                    except TimeoutError:
                        raise self._fail(f"timed out waiting for: {following.text}") from None
                    if got is None:
                        if following.text == "<closed>":
                            break
                        raise self._fail(f"connection closed; expected: {following.text}")
                    if pattern.fullmatch(got):
                        break
                i += 1
            else:
                got = await self._expect_line(step.text)
                if got is not None and not _pattern(step.text).fullmatch(got):
                    raise self._fail(f"expected: {step.text}\n     got: {got}")
            i += 1

    async def _expect_line(self, expected: str) -> str | None:
        try:
            got = await self._line()
        except TimeoutError:
            raise self._fail(f"timed out waiting for: {expected}") from None
        if got is None:
            if expected == "<closed>":
                return None
            raise self._fail(f"connection closed; expected: {expected}")
        if expected == "<closed>":
            raise self._fail(f"expected the connection to close; got: {got}")
        return got


@asynccontextmanager
async def _connect(running: RunningServer, timeout: float = 5.0) -> AsyncIterator[Peer]:
    async with await anyio.connect_tcp(running.host, running.port) as stream:
        yield Peer(stream, timeout)


#: ``async with connect(running) as peer:`` opens a connection to a server as a `Peer`.
Connect = Callable[[RunningServer], AbstractAsyncContextManager[Peer]]


@pytest.fixture
def connect() -> Connect:
    """The `Peer` factory: ``async with connect(running) as peer: await peer.play(...)``."""
    return _connect
