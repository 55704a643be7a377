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

import pytest

from imap_server.memory import MemoryStore
from imap_server.message import parse_message
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_server.testing.transcript import TranscriptClient

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


#: The transcript player that keeps its connection (kept under its old name for the tests).
Peer = TranscriptClient


@asynccontextmanager
async def _connect(running: RunningServer, timeout: float = 5.0) -> AsyncIterator[Peer]:
    async with await TranscriptClient.connect(running, timeout=timeout) as client:
        yield client


#: ``async with connect(running) as peer:`` opens a connection to a server as a `Peer`.
Connect = Callable[[RunningServer], AbstractAsyncContextManager[Peer]]


@pytest.fixture
def connect() -> Connect:
    """The `Peer` factory: ``async with connect(running) as peer: await peer.play(...)``."""
    return _connect
