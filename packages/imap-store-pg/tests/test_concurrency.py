"""20 sessions on two ``imap-server serve`` processes sharing one database, then a check.

Ten sessions on each process run a seeded random mix of APPEND, UID STORE, UID EXPUNGE /
EXPUNGE and UID MOVE on three shared mailboxes. Each session keeps a client's numbering of its
selected mailbox (RFC 9051 section 7.5.1) and checks every EXISTS / EXPUNGE / FETCH against it.
Afterwards, through both processes: every mailbox's UIDs are unique and ascending and below
UIDNEXT, STATUS agrees with SEARCH and FETCH, both processes show the same, and every message
(a unique Message-ID each) is in exactly one mailbox (at most one if someone marked it
\\Deleted). Then the database passes a consistency check, including that no two present
messages of a mailbox share a MODSEQ (every change here touches one message per mailbox).
"""

from __future__ import annotations

import functools
import random
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from imap_server.testing.process import (
    RawClient,
    Response,
    ServerProcess,
    flags_of,
    parse_numbered,
    uid_of,
)
from imap_store_pg import PgStore
from imap_store_pg.testing import fresh_database

USER, PASSWORD = "alice", "secret"
TIMEOUT = 30.0  # bound on any wait for a server's answer (keeps a broken server from hanging)
SESSIONS_PER_PROCESS = 10
STEPS = 40  # operations per session
MAILBOXES = ("INBOX", "Shared1", "Shared2")


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


# -- a client that keeps the numbering ---------------------------------------------------------


class Session(RawClient):
    """One IMAP connection, logged in as ``alice``, with a client's numbering of the selected
    mailbox: ``seq[n - 1]`` is the UID of message n (None while only an EXISTS told of it).
    Every EXISTS / EXPUNGE / FETCH is checked against it as it arrives."""

    def __init__(self, port: int, name: str) -> None:
        self.seq: list[int | None] = []
        self.expunges = 0
        super().__init__("127.0.0.1", port, name=name, timeout=TIMEOUT, login=(USER, PASSWORD))

    def received(self, response: Response) -> None:
        numbered = parse_numbered(response.text)
        if numbered is None:
            return
        n, kind, rest = numbered
        if kind == "EXISTS":
            if n < len(self.seq):
                raise self.fail(f"EXISTS {n} would shrink the mailbox of {len(self.seq)}")
            self.seq.extend([None] * (n - len(self.seq)))
            return
        if not 1 <= n <= len(self.seq):
            raise self.fail(f"{kind} of message {n}; the client knows {len(self.seq)}")
        if kind == "EXPUNGE":
            del self.seq[n - 1]
            self.expunges += 1
            return
        if (uid := uid_of(rest)) is not None:
            if self.seq[n - 1] not in (None, uid):
                raise self.fail(f"message {n} is UID {self.seq[n - 1]}, FETCH says UID {uid}")
            self.seq[n - 1] = uid
            known = [u for u in self.seq if u is not None]
            if known != sorted(set(known)):
                raise self.fail(f"UIDs not ascending in sequence order: {self.seq}")

    def select(self, mailbox: str = "INBOX") -> int:
        """SELECT; return the EXISTS count."""
        self.seq = []
        return super().select(mailbox)


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


# -- the load ---------------------------------------------------------------------------------

_MESSAGE_ID = re.compile(r"^Message-ID: <(conc-[0-9]+-[0-9]+)@example\.org>\r$", re.MULTILINE)
_SEARCH = re.compile(r"^\* SEARCH\b(.*)$")


def message(key: str) -> bytes:
    return (
        f"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: {key}\r\n"
        f"Message-ID: <{key}@example.org>\r\n\r\nBody of {key}.\r\n"
    ).encode()


def message_id(header: bytes) -> str:
    m = _MESSAGE_ID.search(header.decode("ascii"))
    assert m is not None, header
    return m[1]


def search(client: Session, criteria: str) -> list[int]:
    reply = client.ok(f"UID SEARCH {criteria}")
    [found] = [m[1].split() for r in reply.untagged if (m := _SEARCH.match(r.text))]
    return [int(u) for u in found]


@dataclass
class Shared:
    """What every session did, for the check afterwards."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    appended: set[str] = field(default_factory=set)
    #: Messages some session marked \\Deleted (or tried to: it may have moved meanwhile).
    deleted: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def count(self, op: str) -> None:
        with self.lock:
            self.counts[op] = self.counts.get(op, 0) + 1


def run_session(
    port: int, number: int, shared: Shared, start: threading.Barrier, finish: threading.Barrier
) -> None:
    rng = random.Random(number)
    try:
        with Session(port, f"s{number}-") as client:
            start.wait(TIMEOUT)
            selected: str | None = None
            for step in range(STEPS):
                [op] = rng.choices(
                    ["append", "store", "delete", "move", "noop"], weights=[35, 25, 15, 20, 5]
                )
                shared.count(op)
                if op == "append":
                    key = f"conc-{number}-{step}"
                    flags = " ".join(rng.sample(["\\Seen", "\\Flagged"], rng.randint(0, 2)))
                    with shared.lock:
                        shared.appended.add(key)
                    client.append(message(key), rng.choice(MAILBOXES), flags)
                    continue
                if op == "noop" and selected is not None:
                    client.ok("NOOP")
                    continue
                mailbox = rng.choice(MAILBOXES)
                if mailbox != selected:
                    client.select(mailbox)
                    selected = mailbox
                uids = search(client, "ALL")
                if not uids:
                    continue
                uid = rng.choice(uids)
                if op == "store":
                    flag = rng.choice(["\\Seen", "\\Flagged", "$Work"])
                    client.ok(f"UID STORE {uid} {rng.choice('+-')}FLAGS ({flag})")
                elif op == "delete":
                    reply = client.ok(f"UID FETCH {uid} (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                    headers = [r.literals[0] for r in reply.numbered("FETCH") if r.literals]
                    if not headers:
                        continue  # moved or expunged meanwhile
                    with shared.lock:
                        shared.deleted.add(message_id(headers[0]))
                    client.ok(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
                    client.ok(f"UID EXPUNGE {uid}" if rng.random() < 0.5 else "EXPUNGE")
                elif op == "move":
                    target = rng.choice([m for m in MAILBOXES if m != mailbox])
                    client.ok(f"UID MOVE {uid} {target}")
            # Once every session is done, the numbering this one kept from the responses must
            # be the mailbox's.
            finish.wait(TIMEOUT * 4)
            if selected is not None:
                client.ok("NOOP")
                fetched = client.ok("UID FETCH 1:* (UID)").numbered("FETCH")
                by_number = {
                    n[0]: u
                    for r in fetched
                    if (n := parse_numbered(r.text)) and (u := uid_of(r.text)) is not None
                }
                uids = [by_number[n] for n in sorted(by_number)]
                if client.seq != uids or sorted(by_number) != list(range(1, len(uids) + 1)):
                    raise client.fail(f"numbering {client.seq} but the mailbox holds {uids}")
    except threading.BrokenBarrierError:
        pass  # another session failed (and said why)
    except BaseException as exc:
        with shared.lock:
            shared.errors.append(f"session {number}: {exc}")
        start.abort()
        finish.abort()


@dataclass(frozen=True)
class Seen:
    """A mailbox as one process shows it."""

    uids: list[int]
    flags: dict[int, frozenset[str]]
    keys: dict[int, str]  # UID -> Message-ID
    status: dict[str, int]


def look_at(client: Session, mailbox: str) -> Seen:
    exists = client.select(mailbox)
    reply = client.ok("FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    fetched = reply.numbered("FETCH") if exists else []
    numbers = [p[0] for r in fetched if (p := parse_numbered(r.text))]
    assert numbers == list(range(1, exists + 1)), f"{mailbox}: FETCH 1:* gave {numbers}"
    uids: list[int] = []
    flags: dict[int, frozenset[str]] = {}
    keys: dict[int, str] = {}
    for r in fetched:
        uid_or_none, flag_set = uid_of(r.text), flags_of(r.text)
        assert uid_or_none is not None and flag_set is not None and len(r.literals) == 1, r
        uid = uid_or_none
        uids.append(uid)
        flags[uid] = frozenset(flag_set)
        keys[uid] = message_id(r.literals[0])
    assert uids == sorted(set(uids)), f"{mailbox}: UIDs not unique and ascending: {uids}"
    assert search(client, "ALL") == uids, mailbox
    unseen = [u for u in uids if "\\Seen" not in flags[u]]
    assert search(client, "UNSEEN") == unseen, mailbox
    assert search(client, "DELETED") == [u for u in uids if "\\Deleted" in flags[u]], mailbox
    client.ok("UNSELECT")
    status = client.status(mailbox)
    assert status["MESSAGES"] == len(uids), (mailbox, status)
    assert status["UNSEEN"] == len(unseen), (mailbox, status)
    assert not uids or status["UIDNEXT"] > uids[-1], (mailbox, status)
    return Seen(uids, flags, keys, status)


# -- the test ----------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_mixed_sessions_on_two_processes_leave_consistent_mailboxes(
    db_url: str, tmp_path: Path
) -> None:
    shared = Shared()
    with (
        ServerProcess.serve(db_url, log_dir=tmp_path) as a,
        ServerProcess.serve(db_url, log_dir=tmp_path) as b,
    ):
        ports = (a.port, b.port)
        with Session(ports[0], "setup") as client:
            for mailbox in MAILBOXES[1:]:
                client.ok(f"CREATE {mailbox}")
        sessions = 2 * SESSIONS_PER_PROCESS
        start, finish = threading.Barrier(sessions), threading.Barrier(sessions)
        threads = [
            threading.Thread(target=run_session, args=(ports[i % 2], i, shared, start, finish))
            for i in range(sessions)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT * 4)
        assert not any(t.is_alive() for t in threads), "a session hangs"
        assert not shared.errors, "\n\n".join([*shared.errors[:5], a.log_tail(), b.log_tail()])
        print("operations:", shared.counts)

        views = []
        for port in ports:
            with Session(port, "check") as client:
                views.append({mailbox: look_at(client, mailbox) for mailbox in MAILBOXES})
        assert views[0] == views[1], "the two processes show different mailboxes"

    where: dict[str, list[tuple[str, int]]] = {}
    for mailbox, seen in views[0].items():
        for uid, key in seen.keys.items():
            where.setdefault(key, []).append((mailbox, uid))
            assert "\\Deleted" not in seen.flags[uid] or key in shared.deleted, key
    assert set(where) <= shared.appended, set(where) - shared.appended
    for key in sorted(shared.appended):
        places = where.get(key, [])
        assert len(places) <= 1, f"{key} is in {places}"
        if key not in shared.deleted:
            assert len(places) == 1, f"{key} was appended and never deleted, but is gone"

    check = functools.partial(consistency_problems, db_url, distinct_modseqs=True)
    problems = anyio.run(check)
    assert not problems, "\n".join(problems)


def test_copies_expunged_at_once_leave_no_orphan_bodies(db_url: str, tmp_path: Path) -> None:
    """COPY shares a body between messages; when the original and its copy are expunged at
    the same moment through the two processes, the body must still go (not leak: each
    transaction's "does another message still use it?" must see the other's deletion)."""
    with (
        ServerProcess.serve(db_url, log_dir=tmp_path) as a,
        ServerProcess.serve(db_url, log_dir=tmp_path) as b,
        Session(a.port, "setup") as setup,
        Session(a.port, "x") as x,
        Session(b.port, "y") as y,
    ):
        setup.ok("CREATE Copies")
        for round_ in range(10):
            for n in range(20):
                setup.append(message(f"conc-{round_}-{n}"), flags="")
            setup.select()
            setup.ok("UID COPY 1:* Copies")
            setup.ok("UNSELECT")
            x.select("INBOX")
            y.select("Copies")
            x.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
            y.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
            both = threading.Barrier(2)

            def expunge(client: Session, both: threading.Barrier = both) -> None:
                both.wait(TIMEOUT)
                client.ok("EXPUNGE")

            other = threading.Thread(target=expunge, args=(y,))
            other.start()
            expunge(x)
            other.join(TIMEOUT)
            assert x.select("INBOX") == 0
            assert y.select("Copies") == 0

    check = functools.partial(consistency_problems, db_url, distinct_modseqs=False)
    problems = anyio.run(check)
    assert not problems, "\n".join(problems)
