"""An ``imap-server serve`` process killed with SIGKILL while 50 clients APPEND.

50 clients APPEND distinct messages (a unique Message-ID each, sizes from a few hundred octets
to 150 kB) in a loop through one server process; once some hundreds have their tagged OK the
process is killed with SIGKILL. A new process on the same database must then serve every
acknowledged message byte for byte under the UID its APPENDUID named, no UID twice, UIDNEXT above
every UID; a message whose APPEND was cut off may be there or not, but only whole. The database
itself then passes a consistency check (counters, quota, bodies, MODSEQs; see
`consistency_problems`).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from imap_server.testing.process import RawClient, ServerProcess
from imap_store_pg import PgStore
from imap_store_pg.testing import fresh_database

pytestmark = pytest.mark.slow

USER, PASSWORD = "alice", "secret"
TIMEOUT = 30.0  # bound on any wait for a server's answer (keeps a broken server from hanging)
CLIENTS = 50
ACKED_BEFORE_KILL = 300  # APPENDs acknowledged before the kill
LOAD_TIMEOUT = 60.0  # ...or this many seconds, whichever comes first


# -- PostgreSQL --------------------------------------------------------------------------------


class _CheapHashes(PgStore):
    scrypt_n = 2**4  # logins are many here; the server verifies with the hash's own cost


async def _prepare(server_dsn: str) -> str:
    url = await fresh_database(server_dsn)
    await PgStore(url).upgrade()
    store = _CheapHashes(url)
    await store.start()
    try:
        await store.create_account(USER, PASSWORD)
    finally:
        await store.aclose()
    return url


@pytest.fixture
def db_url(pg_dsn: str) -> str:
    """A fresh database with the schema applied and user ``alice`` / ``secret`` (``pg_dsn``:
    the session's PostgreSQL server, from conftest.py)."""
    return anyio.run(_prepare, pg_dsn)


# -- clients -----------------------------------------------------------------------------------


def connect(port: int, name: str) -> RawClient:
    """A blocking connection logged in as ``alice`` (close it, or use it in a ``with``)."""
    return RawClient("127.0.0.1", port, name=name, timeout=TIMEOUT, login=(USER, PASSWORD))


# -- the database's own consistency -----------------------------------------------------------

# Each query returns the rows that break one rule (the schema is imap_store_pg.schema's).
_RULES: dict[str, str] = {
    "a message at or above its mailbox's uid_next": """
        SELECT m.id, m.name, g.uid, m.uid_next FROM messages g JOIN mailboxes m
        ON m.id = g.mailbox_id WHERE g.uid >= m.uid_next OR g.uid < 1""",
    "an expunged UID at or above its mailbox's uid_next": """
        SELECT m.id, m.name, e.uid, m.uid_next FROM expunged e JOIN mailboxes m
        ON m.id = e.mailbox_id WHERE e.uid >= m.uid_next""",
    "a UID both present and expunged": """
        SELECT mailbox_id, uid FROM messages JOIN expunged USING (mailbox_id, uid)""",
    "a MODSEQ above the mailbox's highest_modseq": """
        SELECT m.id, m.name, x.uid, x.modseq, m.highest_modseq FROM mailboxes m JOIN (
            SELECT mailbox_id, uid, modseq FROM messages
            UNION ALL SELECT mailbox_id, uid, modseq FROM expunged) x ON x.mailbox_id = m.id
        WHERE x.modseq > m.highest_modseq OR x.modseq < 1""",
    "an expunge sharing a MODSEQ with a present message": """
        SELECT g.mailbox_id, g.uid, e.uid AS expunged_uid, g.modseq FROM messages g
        JOIN expunged e ON e.mailbox_id = g.mailbox_id AND e.modseq = g.modseq""",
    "mailbox counters that disagree with its messages": r"""
        SELECT m.id, m.name, m.messages, c.n AS counted, m.unseen, c.unseen AS counted_unseen,
               m.deleted, c.deleted AS counted_deleted, m.size, c.size AS counted_size
        FROM mailboxes m CROSS JOIN LATERAL (
            SELECT count(*) AS n,
                   count(*) FILTER (WHERE NOT '\Seen' = ANY (g.flags)) AS unseen,
                   count(*) FILTER (WHERE '\Deleted' = ANY (g.flags)) AS deleted,
                   coalesce(sum(g.size), 0) AS size
            FROM messages g WHERE g.mailbox_id = m.id) c
        WHERE (m.messages, m.unseen, m.deleted, m.size)
              IS DISTINCT FROM (c.n, c.unseen, c.deleted, c.size)""",
    "an account whose used_bytes is not the sum of its messages' sizes": """
        SELECT a.id, a.name, a.used_bytes, coalesce(sum(g.size), 0) AS total
        FROM accounts a LEFT JOIN mailboxes m ON m.account_id = a.id
        LEFT JOIN messages g ON g.mailbox_id = m.id
        GROUP BY a.id HAVING a.used_bytes <> coalesce(sum(g.size), 0)""",
    "a message in a \\Noselect placeholder": """
        SELECT m.id, m.name, g.uid FROM messages g JOIN mailboxes m ON m.id = g.mailbox_id
        WHERE m.noselect""",
    "a message without its body": """
        SELECT g.mailbox_id, g.uid, g.body_id FROM messages g
        WHERE g.blob_key IS NULL AND NOT EXISTS (SELECT 1 FROM bodies b WHERE b.id = g.body_id)""",
    "a body whose length is not the message's size": """
        SELECT g.mailbox_id, g.uid, g.size, octet_length(b.data) AS length FROM messages g
        JOIN bodies b ON b.id = g.body_id WHERE octet_length(b.data) <> g.size""",
    "a body no message refers to": """
        SELECT b.id, octet_length(b.data) AS length FROM bodies b
        WHERE NOT EXISTS (SELECT 1 FROM messages g WHERE g.body_id = b.id)""",
    "a keyword on a message missing from its mailbox's keywords": r"""
        SELECT g.mailbox_id, g.uid, k.k FROM messages g JOIN mailboxes m ON m.id = g.mailbox_id
        CROSS JOIN LATERAL unnest(g.flags) AS k(k)
        WHERE left(k.k, 1) <> '\' AND NOT k.k = ANY (m.keywords)""",
}

# With one message per change (every APPEND here), no two messages share a MODSEQ.
_DISTINCT_MODSEQS = {
    "two present messages sharing a MODSEQ": """
        SELECT mailbox_id, modseq, array_agg(uid) FROM messages
        GROUP BY mailbox_id, modseq HAVING count(*) > 1""",
}
# With only APPENDs, UIDs and MODSEQs rise together (both come from one update of the mailbox
# row).
_APPEND_ONLY = {
    "MODSEQs not ascending with UIDs": """
        SELECT mailbox_id, uid, modseq, previous FROM (
            SELECT mailbox_id, uid, modseq,
                   lag(modseq) OVER (PARTITION BY mailbox_id ORDER BY uid) AS previous
            FROM messages) x WHERE modseq <= previous""",
}


async def consistency_problems(
    url: str, *, distinct_modseqs: bool, append_only: bool = False
) -> list[str]:
    """Every broken rule, with up to five offending rows each (empty: consistent)."""
    import asyncpg

    rules = dict(_RULES)
    if distinct_modseqs:
        rules.update(_DISTINCT_MODSEQS)
    if append_only:
        rules.update(_APPEND_ONLY)
    conn: Any = await asyncpg.connect(url)
    try:
        problems: list[str] = []
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            for rule, query in rules.items():
                rows = await conn.fetch(query)
                problems += [f"{rule}: {dict(row)}" for row in rows[:5]]
        return problems
    finally:
        await conn.close()


# -- the test ----------------------------------------------------------------------------------

_SIZES = (300, 2_000, 20_000, 150_000)
_MESSAGE_ID = re.compile(rb"^Message-ID: <(crash-[0-9]+-[0-9]+)@example\.org>\r$", re.MULTILINE)


def message(client: int, n: int) -> bytes:
    """A message all of whose lines say whose it is, so any cut shows."""
    key = f"crash-{client}-{n}"
    size = _SIZES[(client + n) % len(_SIZES)]
    head = (
        f"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: {key}\r\n"
        f"Message-ID: <{key}@example.org>\r\n\r\n"
    ).encode()
    line = f"{key} line\r\n".encode()
    return head + line * max(1, (size - len(head)) // len(line)) + f"end of {key}\r\n".encode()


def message_id(body: bytes) -> str:
    m = _MESSAGE_ID.search(body)
    assert m is not None, body[:300]
    return m[1].decode()


@dataclass
class Load:
    """What the clients sent and what the server acknowledged."""

    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, bytes] = field(default_factory=dict)  # Message-ID -> body
    acked: list[tuple[int, str]] = field(default_factory=list)  # (UID, Message-ID)
    in_flight: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def append_until_killed(port: int, number: int, load: Load) -> None:
    try:
        client = connect(port, f"c{number}-")
    except BaseException as exc:
        # On a busy machine a client may still be logging in when the server is killed.
        if not load.killed.is_set():
            with load.lock:
                load.errors.append(f"client {number} could not log in: {exc!r}")
        return
    try:
        for n in range(10**6):
            body = message(number, n)
            key = message_id(body)
            with load.lock:
                load.sent[key] = body
                load.in_flight.add(key)
            try:
                uid = client.append(body)
            except (OSError, AssertionError) as exc:
                if not load.killed.is_set():
                    with load.lock:
                        load.errors.append(f"client {number}: {exc}")
                return
            with load.lock:
                load.in_flight.discard(key)
                load.acked.append((uid, key))
    finally:
        client.close(logout=False)


def fetch_all(client: RawClient) -> dict[int, tuple[int, bytes]]:
    """UID -> (RFC822.SIZE, body) of every message in the selected mailbox."""
    out: dict[int, tuple[int, bytes]] = {}
    for uid, r in client.uid_fetch("UID RFC822.SIZE BODY.PEEK[]").items():  # no UID twice
        size = re.search(r"RFC822\.SIZE (\d+)", r.text)
        assert size is not None and len(r.literals) == 1, r
        out[uid] = (int(size[1]), r.literals[0])
    return out


@pytest.mark.timeout(240)
def test_acknowledged_appends_survive_sigkill(db_url: str, tmp_path: Path) -> None:
    load = Load()
    with ServerProcess.serve(db_url, log_dir=tmp_path) as first:
        port = first.port
        workers = [
            threading.Thread(target=append_until_killed, args=(port, i, load), daemon=True)
            for i in range(CLIENTS)
        ]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + LOAD_TIMEOUT
        while load.count() < ACKED_BEFORE_KILL and time.monotonic() < deadline:
            if load.errors:
                break
            time.sleep(0.02)
        load.killed.set()
        first.kill()
        for worker in workers:
            worker.join(TIMEOUT)
        assert not any(w.is_alive() for w in workers), "a client hangs after the kill"
        assert not load.errors, "\n".join([*load.errors[:10], first.log_tail()])
    acked = dict(load.acked)
    assert len(acked) >= ACKED_BEFORE_KILL // 2, "the load did not get going"
    assert len(acked) == len(load.acked), "a UID was acknowledged twice"

    with (
        ServerProcess.serve(db_url, log_dir=tmp_path) as second,
        connect(second.port, "v") as client,
    ):
        assert client.select() >= len(acked)
        present = fetch_all(client)
        for uid, key in sorted(acked.items()):
            assert uid in present, f"acknowledged {key} (UID {uid}) is gone"
            size, body = present[uid]
            assert body == load.sent[key], f"UID {uid} is not {key} byte for byte"
            assert size == len(body)
        seen: dict[str, int] = {}
        for uid, (size, body) in present.items():
            key = message_id(body)
            assert key not in seen, f"{key} stored twice: UIDs {seen[key]} and {uid}"
            seen[key] = uid
            assert key in load.sent, f"UID {uid}: {key} was never sent"
            assert body == load.sent[key], f"UID {uid} ({key}) is not whole"
            assert size == len(body)
        survivors = len(load.in_flight & set(seen))
        print(f"{len(acked)} APPENDs acknowledged; of {len(load.in_flight)} cut off by the kill,")
        print(f"{survivors} were stored (whole) and {len(load.in_flight) - survivors} not")
        status = client.status()
        assert status["MESSAGES"] == len(present)
        assert status["UIDNEXT"] > max(present)
        # A new APPEND takes a fresh UID, above everything acknowledged before the crash.
        after = client.append(message(CLIENTS, 0))
        assert after >= status["UIDNEXT"]
        assert after not in present
        client.ok("NOOP")
        assert fetch_all(client)[after][1] == message(CLIENTS, 0)

    check = functools.partial(consistency_problems, db_url, distinct_modseqs=True, append_only=True)
    problems = anyio.run(check)
    assert not problems, "\n".join(problems)
