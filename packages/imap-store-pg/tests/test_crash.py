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

import contextlib
import functools
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import anyio
import pytest

from imap_store_pg import PgStore
from imap_store_pg.testing import fresh_database

pytestmark = pytest.mark.slow

USER, PASSWORD = "alice", "secret"
START_TIMEOUT = 30.0  # seconds for a child to accept connections
STOP_TIMEOUT = 10.0  # seconds for a child to exit after SIGTERM
TIMEOUT = 30.0  # bound on any wait for a server's answer (keeps a broken server from hanging)
CLIENTS = 50
ACKED_BEFORE_KILL = 300  # APPENDs acknowledged before the kill
LOAD_TIMEOUT = 60.0  # ...or this many seconds, whichever comes first
_LISTENING = re.compile(r"^imap-server: listening on (\S+):(\d+) \(([^)]*)\)$")


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


# -- a server in a child process ---------------------------------------------------------------


class ServerProcess:
    """``python -m imap_server serve --store URL`` with its output collected line by line."""

    def __init__(self, url: str, *extra: str) -> None:
        argv = [sys.executable, "-m", "imap_server", "serve", "--store", url]
        argv += ["--listen", "127.0.0.1:0", "--max-connections-per-address", "0"]
        argv += ["--rate-limit", "0", "--rate-limit-per-address", "0", *extra]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe: IO[str], lines: list[str]) -> None:
        for line in pipe:
            with self._changed:
                lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def output(self) -> str:
        with self._changed:
            return "\n".join(["--- stdout", *self.stdout, "--- stderr", *self.stderr[-200:]])

    def port(self) -> int:
        """Wait for the ``listening on`` line; return the port."""
        deadline = time.monotonic() + START_TIMEOUT
        with self._changed:
            while True:
                for line in self.stderr:
                    if m := _LISTENING.match(line):
                        return int(m[2])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"not listening after {START_TIMEOUT} s:\n{self.output()}")
                if self.proc.poll() is not None and not any(r.is_alive() for r in self._readers):
                    pytest.fail(
                        f"exited ({self.proc.returncode}) before listening:\n{self.output()}"
                    )
                self._changed.wait(min(remaining, 0.1))

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind in the child."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; wait for it and its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()
        for reader in self._readers:
            reader.join(STOP_TIMEOUT)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@contextlib.contextmanager
def serving(url: str, *extra: str) -> Iterator[ServerProcess]:
    server = ServerProcess(url, *extra)
    try:
        yield server
    finally:
        server.close()


# -- a blocking IMAP client --------------------------------------------------------------------

_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}$")
_NUMBERED = re.compile(r"^\* (\d+) (EXISTS|EXPUNGE|FETCH)\b ?(.*)$")
_UID = re.compile(r"[( ]UID (\d+)")
_FLAGS = re.compile(r"[( ]FLAGS \(([^)]*)\)")
_APPENDUID = re.compile(r"\[APPENDUID \d+ (\d+)\]")


@dataclass
class Response:
    """One response: its text with each literal's data left out (the ``{n}`` stays), and the
    literals' data in order."""

    text: str
    literals: list[bytes] = field(default_factory=list)


@dataclass
class Reply:
    untagged: list[Response]
    tagged: str

    @property
    def status(self) -> str:
        return self.tagged.split(" ", 2)[1]

    def numbered(self, kind: str) -> list[Response]:
        return [r for r in self.untagged if (m := _NUMBERED.match(r.text)) and m[2] == kind]


def flags_of(text: str) -> set[str] | None:
    m = _FLAGS.search(text)
    return None if m is None else {f for f in m[1].split() if f != "\\Recent"}


class Imap:
    """One IMAP connection, logged in as ``alice``."""

    def __init__(self, port: int, name: str) -> None:
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = bytearray()
        self.transcript: list[str] = []
        self._tags = 0
        try:
            greeting = self.read()
            assert greeting.text.startswith("* OK"), greeting
            self.ok(f"LOGIN {USER} {PASSWORD}")
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"Z LOGOUT\r\n")
        self.sock.close()

    def fail(self, text: str) -> AssertionError:
        tail = "\n".join(self.transcript[-30:])
        return AssertionError(f"{self.name}: {text}\n--- last lines ---\n{tail}")

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)  # TimeoutError (socket.timeout) when nothing came
        if not data:
            raise self.fail("connection closed by the server")
        self.buffer += data

    def _line(self, deadline: float) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._fill(deadline)
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def read(self, timeout: float = TIMEOUT) -> Response:
        """The next response; TimeoutError if none is complete within ``timeout``."""
        deadline = time.monotonic() + timeout
        parts: list[bytes] = []
        literals: list[bytes] = []
        line = self._line(deadline)
        while (m := _LITERAL_AT_END.search(line)) is not None:
            size = int(m[1])
            while len(self.buffer) < size:
                self._fill(deadline)
            literals.append(bytes(self.buffer[:size]))
            del self.buffer[:size]
            parts.append(line)
            line = self._line(deadline)
        parts.append(line)
        response = Response(b"".join(parts).decode("utf-8", "replace"), literals)
        self.transcript.append("S: " + response.text)
        return response

    def send(self, data: bytes) -> None:
        self.transcript.append("C: " + data[:200].decode("utf-8", "replace").rstrip("\r\n"))
        self.sock.sendall(data)

    def command(self, text: str, literal: bytes | None = None) -> Reply:
        """Run a command; ``literal`` follows the line (announce it with ``{n+}``)."""
        self._tags += 1
        tag = f"{self.name}{self._tags}"
        data = f"{tag} {text}\r\n".encode()
        if literal is not None:
            data += literal + b"\r\n"
        self.send(data)
        return self.reply(tag)

    def reply(self, tag: str) -> Reply:
        untagged: list[Response] = []
        while True:
            response = self.read()
            if response.text.startswith(tag + " "):
                return Reply(untagged, response.text)
            untagged.append(response)

    def ok(self, text: str, literal: bytes | None = None) -> Reply:
        reply = self.command(text, literal)
        if reply.status != "OK":
            raise self.fail(f"{text!r} answered {reply.tagged!r}")
        return reply

    def append(self, body: bytes, mailbox: str = "INBOX") -> int:
        reply = self.ok(f"APPEND {mailbox} {{{len(body)}+}}", body)
        m = _APPENDUID.search(reply.tagged)
        assert m is not None, reply
        return int(m[1])

    def select(self, mailbox: str = "INBOX") -> int:
        """SELECT; return the EXISTS count."""
        reply = self.ok(f"SELECT {mailbox}")
        [exists] = [int(m[1]) for r in reply.untagged if (m := _NUMBERED.match(r.text))]
        return exists

    def messages(self) -> dict[int, tuple[set[str], bytes]]:
        """``UID FETCH 1:* (FLAGS BODY.PEEK[])`` of the selected mailbox: UID -> flags, body."""
        out: dict[int, tuple[set[str], bytes]] = {}
        for r in self.ok("UID FETCH 1:* (FLAGS BODY.PEEK[])").numbered("FETCH"):
            uid, flags = _UID.search(r.text), flags_of(r.text)
            assert uid is not None and flags is not None and len(r.literals) == 1, r
            out[int(uid[1])] = (flags, r.literals[0])
        return out

    def status(self, mailbox: str = "INBOX") -> dict[str, int]:
        reply = self.ok(f"STATUS {mailbox} (MESSAGES UIDNEXT UNSEEN)")
        [line] = [r.text for r in reply.untagged if r.text.startswith("* STATUS")]
        items = line[line.rindex("(") + 1 : -1].split()
        return {k: int(v) for k, v in zip(items[::2], items[1::2], strict=True)}

    def idle(self) -> str:
        """Start IDLE; return its tag once the ``+`` came."""
        self._tags += 1
        tag = f"{self.name}{self._tags}"
        self.send(f"{tag} IDLE\r\n".encode())
        while not self.read().text.startswith("+"):
            pass
        return tag

    def expect(self, what: str, matches: Callable[[str], bool], within: float) -> str:
        """Read responses until one ``matches``; fail if none does within ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            try:
                response = self.read(deadline - time.monotonic())
            except TimeoutError:
                raise self.fail(f"no {what} within {within} s") from None
            if matches(response.text):
                return response.text


@contextlib.contextmanager
def connect(port: int, name: str) -> Iterator[Imap]:
    client = Imap(port, name)
    try:
        yield client
    finally:
        client.close()


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
        client = Imap(port, f"c{number}-")
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
        client.sock.close()


def fetch_all(client: Imap) -> dict[int, tuple[int, bytes]]:
    """UID -> (RFC822.SIZE, body) of every message in the selected mailbox."""
    out: dict[int, tuple[int, bytes]] = {}
    for r in client.ok("UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])").numbered("FETCH"):
        uid, size = _UID.search(r.text), re.search(r"RFC822\.SIZE (\d+)", r.text)
        assert uid is not None and size is not None and len(r.literals) == 1, r
        assert int(uid[1]) not in out, f"UID {uid[1]} fetched twice"
        out[int(uid[1])] = (int(size[1]), r.literals[0])
    return out


@pytest.mark.timeout(240)
def test_acknowledged_appends_survive_sigkill(db_url: str) -> None:
    load = Load()
    with serving(db_url) as first:
        port = first.port()
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
        assert not load.errors, "\n".join([*load.errors[:10], first.output()])
    acked = dict(load.acked)
    assert len(acked) >= ACKED_BEFORE_KILL // 2, "the load did not get going"
    assert len(acked) == len(load.acked), "a UID was acknowledged twice"

    with serving(db_url) as second, connect(second.port(), "v") as client:
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
