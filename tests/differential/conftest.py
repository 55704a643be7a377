"""Fixtures for the differential tests: Dovecot, the reference IMAP server, and ours, each with a
fresh account per test.

Dovecot is the run's one instance, `dovecot_server` of ``tests/conftest.py`` (shared with
tests/client; its docstring tells how it runs: a passwd-file of accounts, Maildirs with
``LAYOUT=fs``, no auth penalties, mail processes as ``nobody`` when run as root). Each test gets
an account of its own, so no test sees another's mailboxes. Its plain-text port is used here
(``disable_plaintext_auth = no``), LOGIN with a password.

Ours is `imap_server.testing.harness.ThreadedServer` over a `MemoryStore`, one per test.

Both accounts start alike: INBOX, plus ``Sent`` (``\\Sent``) and ``Trash`` (``\\Trash``), both
subscribed. Dovecot's are created over IMAP when the account is handed out, and get their
special-use attributes from the ``inbox`` namespace configuration; ours through the store API.

Test modules cannot import this file at run time (``--import-mode=importlib``): they use the
fixtures, and import the types for annotations only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import pytest

from imap_server import MemoryStore
from imap_server.testing.harness import ThreadedServer

if TYPE_CHECKING:
    from conftest import DovecotServer

LEAK_TIMEOUT = 5.0  # seconds for a test's threads to end after it

#: The mailboxes every account starts with, besides INBOX, and their special-use attribute.
SPECIAL_MAILBOXES = (("Sent", "\\Sent"), ("Trash", "\\Trash"))


@dataclass(frozen=True, slots=True)
class Target:
    """An account on a server to run a scenario against."""

    name: str  # "dovecot" or "ours"
    host: str
    port: int
    user: str
    password: str


# -- ours -----------------------------------------------------------------------------------------


class FastMemoryStore(MemoryStore):
    """A `MemoryStore` with cheap password hashes."""

    scrypt_n: ClassVar[int] = 2**4


@pytest.fixture
def ours() -> Iterator[tuple[ThreadedServer, MemoryStore]]:
    store = FastMemoryStore()
    server = ThreadedServer(store)
    server.start()
    try:
        yield server, store
    finally:
        server.stop()


def _add_our_account(
    server: ThreadedServer, store: MemoryStore, user: str, password: str
) -> Target:
    store.add_user(user, password)

    async def setup() -> None:
        account = await store.open_user(user)
        for name, use in SPECIAL_MAILBOXES:
            await account.create_mailbox(name, special_use=frozenset({use}))
            await account.subscribe(name)

    server.call(setup)
    running = server.running
    assert running is not None
    return Target("ours", running.host, running.port, user, password)


@pytest.fixture
def targets(
    dovecot_server: DovecotServer, ours: tuple[ThreadedServer, MemoryStore]
) -> Iterator[tuple[Target, Target]]:
    """A fresh account on Dovecot and on ours, alike; a test after which Dovecot logged an
    error fails."""
    dovecot = dovecot_server
    user = dovecot.new_user()
    dovecot.prepare_account(user, (name for name, _ in SPECIAL_MAILBOXES))
    reference = Target("dovecot", dovecot.host, dovecot.port, user, dovecot.password)
    ours_target = _add_our_account(*ours, user, dovecot.password)
    log_size = dovecot.log_size()
    yield reference, ours_target
    errors = dovecot.errors_since(log_size)
    assert not errors, "Dovecot logged errors:\n" + "\n".join(errors)


# -- no leaks -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread running (wider-scoped fixtures start before this)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + LEAK_TIMEOUT
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"threads left running: {leaked}"
