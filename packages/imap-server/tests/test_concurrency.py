"""Several sessions on one mailbox: updates reach every session, and numbering stays right.

Each test runs a real server (`serve_for_tests`) and talks to it over TCP with `Client`, a
small line-based client written for these tests. The client keeps its own numbering of the
selected mailbox as RFC 9051 tells a client to (section 7.5.1: ``* n EXISTS`` adds messages
at the end, ``* n EXPUNGE`` removes message n and renumbers the rest, ``* n FETCH (UID u ...)``
names message n) and checks every response against it, so a wrong sequence number anywhere
fails the test at the response that carries it. At the end the numbering is compared with
what the store holds.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio
import anyio.abc
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from imap_server.memory import MemoryStore
from imap_server.testing.harness import RunningServer, serve_for_tests

# Bound on any single wait for the server; a correct server answers in milliseconds, so this
# only keeps a broken one from hanging the run.
TIMEOUT = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FastStore(MemoryStore):
    """A memory store whose password hashes cost nothing (logins are many here)."""

    scrypt_n = 16


def new_store() -> FastStore:
    store = FastStore()
    store.add_user("user", "pass")
    return store


def message(n: int) -> bytes:
    return (
        f"From: sender@example.com\r\nTo: user@example.com\r\nSubject: message {n}\r\n"
        f"Message-ID: <{n}@example.com>\r\n\r\nBody of message {n}.\r\n"
    ).encode()


async def store_state(store: MemoryStore, mailbox: str = "INBOX") -> list[tuple[int, set[str]]]:
    """The mailbox as the store holds it: (UID, flags) in UID order."""
    user = await store.open_user("user")
    box = await user.get_mailbox(mailbox)
    snapshot = await box.snapshot()
    return [(uid, set(flags)) for uid, flags in zip(snapshot.uids, snapshot.flags, strict=True)]


# -- a test client --------------------------------------------------------------------------------

_NUMBERED = re.compile(r"\* (\d+) (EXISTS|EXPUNGE|FETCH)\b(.*)$")
_UID = re.compile(r"[( ]UID (\d+)")
_FLAGS = re.compile(r"[( ]FLAGS \(([^)]*)\)")
_LITERAL_AT_END = re.compile(rb"\{(\d+)\}$")
_APPENDUID = re.compile(r"\[APPENDUID \d+ (\d+)\]")


def flags_of(text: str) -> set[str] | None:
    m = _FLAGS.search(text)
    if m is None:
        return None
    return {f for f in m.group(1).split() if f != "\\Recent"}


@dataclass
class Reply:
    untagged: list[str]
    tagged: str

    @property
    def status(self) -> str:
        return self.tagged.split(" ", 2)[1]

    def lines(self, kind: str) -> list[str]:
        """Untagged lines ``* n KIND`` (EXISTS, EXPUNGE, FETCH)."""
        return [u for u in self.untagged if (m := _NUMBERED.match(u)) and m.group(2) == kind]


class Client:
    """One IMAP connection with a client's view of the selected mailbox.

    Attributes:
        seq: The client's numbering: ``seq[n - 1]`` is the UID of message n (None while only
            an EXISTS told of it).
        flags: The flags last reported for each UID.
        transcript: Every line sent and received (for failure messages).
    """

    def __init__(self, stream: anyio.abc.ByteStream, name: str) -> None:
        self.stream = stream
        self.name = name
        self.buffer = bytearray()
        self.seq: list[int | None] = []
        self.flags: dict[int, set[str]] = {}
        self.transcript: list[str] = []
        #: How many EXPUNGE responses came (to tell a test exercised them).
        self.expunges = 0
        self._tags = itertools.count(1)

    @classmethod
    async def connect(cls, running: RunningServer, name: str = "c", *, rev2: bool = True) -> Client:
        stream = await anyio.connect_tcp(running.host, running.port)
        client = cls(stream, name)
        greeting = await client.readline()
        assert greeting.startswith("* OK"), greeting
        reply = await client.command("LOGIN user pass")
        assert reply.status == "OK", reply
        if rev2:
            reply = await client.command("ENABLE IMAP4rev2")
            assert reply.status == "OK", reply
        return client

    async def aclose(self) -> None:
        await self.stream.aclose()

    def fail(self, text: str) -> AssertionError:
        tail = "\n".join(self.transcript[-40:])
        return AssertionError(f"{self.name}: {text}\n--- last lines ---\n{tail}")

    # -- reading and the numbering model

    async def readline(self) -> str:
        """The next response line (a literal in it folded in as text)."""
        with anyio.fail_after(TIMEOUT):
            line = await self._raw_line()
            while (m := _LITERAL_AT_END.search(line)) is not None:
                size = int(m.group(1))
                while len(self.buffer) < size:
                    await self._fill()
                data = bytes(self.buffer[:size])
                del self.buffer[:size]
                line = line + data + await self._raw_line()
        text = line.decode("utf-8", "replace")
        self.transcript.append("S: " + text)
        self.observe(text)
        return text

    async def _raw_line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            await self._fill()
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def _fill(self) -> None:
        try:
            data = await self.stream.receive(65536)
        except anyio.EndOfStream:
            raise self.fail("connection closed by the server") from None
        self.buffer += data

    def observe(self, line: str) -> None:
        """Apply an untagged response to the client's numbering, checking it."""
        m = _NUMBERED.match(line)
        if m is None:
            return
        n, kind, rest = int(m.group(1)), m.group(2), m.group(3)
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
        uid_match = _UID.search(rest)
        uid = self.seq[n - 1]
        if uid_match is not None:
            got = int(uid_match.group(1))
            if uid is not None and uid != got:
                raise self.fail(f"message {n} is UID {uid}, but FETCH says UID {got}")
            uid = self.seq[n - 1] = got
            self.check_ascending()
        flags = flags_of(rest)
        if flags is not None and uid is not None:
            self.flags[uid] = flags

    def check_ascending(self) -> None:
        known = [u for u in self.seq if u is not None]
        if known != sorted(set(known)):
            raise self.fail(f"UIDs not ascending in sequence order: {self.seq}")

    # -- commands

    def next_tag(self) -> str:
        return f"{self.name}{next(self._tags)}"

    async def send(self, data: bytes) -> None:
        self.transcript.append("C: " + data.decode("utf-8", "replace").rstrip("\r\n"))
        await self.stream.send(data)

    async def command(self, text: str, literal: bytes | None = None) -> Reply:
        """Run a command; ``literal`` is sent right after the line (announce it ``{n+}``)."""
        tag = self.next_tag()
        data = f"{tag} {text}\r\n".encode()
        if literal is not None:
            data += literal + b"\r\n"
        await self.send(data)
        return await self.read_reply(tag)

    async def read_reply(self, tag: str) -> Reply:
        untagged: list[str] = []
        while True:
            line = await self.readline()
            if line.startswith(tag + " "):
                return Reply(untagged, line)
            untagged.append(line)

    async def ok(self, text: str, literal: bytes | None = None) -> Reply:
        reply = await self.command(text, literal)
        if reply.status != "OK":
            raise self.fail(f"{text!r} answered {reply.tagged!r}")
        return reply

    async def select(self, mailbox: str = "INBOX") -> Reply:
        self.seq = []
        self.flags = {}
        return await self.ok(f"SELECT {mailbox}")

    async def append(self, mailbox: str, body: bytes, flags: Sequence[str] = ()) -> int:
        """APPEND (LITERAL+); return the new message's UID."""
        flag_list = f"({' '.join(flags)}) " if flags else ""
        reply = await self.ok(f"APPEND {mailbox} {flag_list}{{{len(body)}+}}", body)
        m = _APPENDUID.search(reply.tagged)
        assert m is not None, reply
        return int(m.group(1))

    async def uid_fetch_all(self) -> list[tuple[int, int, set[str]]]:
        """``UID FETCH 1:* (FLAGS)``: (sequence number, UID, flags) of every message."""
        reply = await self.ok("UID FETCH 1:* (FLAGS)")
        out = []
        for line in reply.lines("FETCH"):
            m = _NUMBERED.match(line)
            uid = _UID.search(line)
            flags = flags_of(line)
            assert m is not None and uid is not None and flags is not None, line
            out.append((int(m.group(1)), int(uid.group(1)), flags))
        return out

    async def idle(self) -> str:
        """Start IDLE; return its tag once the server's ``+`` came."""
        tag = self.next_tag()
        await self.send(f"{tag} IDLE\r\n".encode())
        while not (await self.readline()).startswith("+"):
            pass
        return tag

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Read responses (during IDLE) until ``predicate()`` holds."""
        with anyio.fail_after(TIMEOUT):
            while not predicate():
                await self.readline()

    async def done(self, tag: str) -> Reply:
        await self.send(b"DONE\r\n")
        return await self.read_reply(tag)

    async def assert_matches_store(self, store: MemoryStore, mailbox: str = "INBOX") -> None:
        """NOOP, then the whole mailbox by UID FETCH: it must be what the store holds."""
        await self.ok("NOOP")
        state = await store_state(store, mailbox)
        if len(self.seq) != len(state):
            raise self.fail(f"client counts {len(self.seq)} messages, the store {len(state)}")
        rows = await self.uid_fetch_all()
        assert [seq for seq, _, _ in rows] == list(range(1, len(state) + 1))
        assert [(uid, flags) for _, uid, flags in rows] == state
        assert self.seq == [uid for uid, _ in state]


async def fill(client: Client, count: int, mailbox: str = "INBOX") -> list[int]:
    return [await client.append(mailbox, message(i)) for i in range(count)]


async def expunge_uids(client: Client, uids: Sequence[int]) -> Reply:
    """Mark the UIDs \\Deleted and EXPUNGE them (whole-mailbox EXPUNGE)."""
    uid_set = ",".join(str(u) for u in uids)
    await client.ok(f"UID STORE {uid_set} +FLAGS.SILENT (\\Deleted)")
    return await client.ok("EXPUNGE")


# -- IDLE receives the other session's changes ----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("rev2", [True, False], ids=["rev2", "rev1"])
async def test_idle_sees_append(rev2: bool) -> None:
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a", rev2=rev2)
        b = await Client.connect(running, "b")
        await a.select()
        await b.select()
        tag = await a.idle()
        uids = await fill(b, 3)
        await a.wait_for(lambda: len(a.seq) == 3)
        reply = await a.done(tag)
        assert reply.status == "OK"
        await a.assert_matches_store(store)
        assert a.seq == uids
        await a.aclose()
        await b.aclose()


@pytest.mark.anyio
async def test_idle_and_noop_see_flag_changes() -> None:
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a")
        b = await Client.connect(running, "b")
        await a.select()
        uids = await fill(b, 4)
        await b.select()
        await a.ok("NOOP")
        assert len(a.seq) == 4
        tag = await a.idle()
        await b.ok("STORE 2 +FLAGS (\\Flagged)")
        await b.ok(f"UID STORE {uids[2]} +FLAGS (\\Seen $Work)")
        await a.wait_for(lambda: uids[1] in a.flags and uids[2] in a.flags)
        assert a.flags[uids[1]] == {"\\Flagged"}
        assert a.flags[uids[2]] == {"\\Seen", "$Work"}
        assert a.seq[1:3] == uids[1:3]
        await a.done(tag)
        # Outside IDLE, the next command carries the update.
        await b.ok("STORE 4 FLAGS (\\Answered)")
        reply = await a.ok("NOOP")
        assert reply.lines("FETCH") == [f"* 4 FETCH (UID {uids[3]} FLAGS (\\Answered))"]
        rows = await a.uid_fetch_all()
        assert [f for _, _, f in rows] == [
            set(),
            {"\\Flagged"},
            {"\\Seen", "$Work"},
            {"\\Answered"},
        ]
        await a.assert_matches_store(store)
        await a.aclose()
        await b.aclose()


@pytest.mark.anyio
async def test_idle_sees_noncontiguous_expunges() -> None:
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a")
        b = await Client.connect(running, "b")
        uids = await fill(b, 10)
        await a.select()
        await b.select()
        # Fill in the client's numbering so every EXPUNGE is checked against a known UID.
        await a.uid_fetch_all()
        assert a.seq == uids
        tag = await a.idle()
        # Non-contiguous, with a run of two and the last message.
        gone = [uids[i] for i in (1, 2, 4, 7, 9)]
        reply = await expunge_uids(b, gone)
        assert len(reply.lines("EXPUNGE")) == 5
        await a.wait_for(lambda: len(a.seq) == 5)
        assert a.seq == [u for u in uids if u not in gone]
        # Then the first message.
        await expunge_uids(b, [uids[0]])
        await a.wait_for(lambda: len(a.seq) == 4)
        assert a.seq == [uids[i] for i in (3, 5, 6, 8)]
        await a.done(tag)
        await a.assert_matches_store(store)
        await b.assert_matches_store(store)
        await a.aclose()
        await b.aclose()


# -- the EXPUNGE rules of RFC 9051 section 7.5.1 --------------------------------------------------


@pytest.mark.anyio
async def test_no_expunge_during_fetch_store_search_but_after_noop() -> None:
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a")
        b = await Client.connect(running, "b")
        uids = await fill(b, 5)
        await a.select()
        await b.select()
        await a.uid_fetch_all()
        await expunge_uids(b, [uids[1], uids[3]])

        # The first command after the expunge: messages 2 and 4 are still numbered for `a`.
        fetch = await a.command("FETCH 1:5 (UID FLAGS)")
        assert fetch.status == "OK" and not fetch.lines("EXPUNGE"), fetch
        assert "[EXPUNGEISSUED]" in fetch.tagged
        got = sorted(int(m.group(1)) for line in fetch.lines("FETCH") if (m := _UID.search(line)))
        assert got == [uids[0], uids[2], uids[4]]

        search = await a.ok("SEARCH ALL")
        assert not search.lines("EXPUNGE")
        # The expunged messages are not found, and the others keep their old numbers.
        assert any(re.fullmatch(r"\* (E?SEARCH.*)", u) for u in search.untagged), search
        assert "1,3,5" in " ".join(search.untagged) or "1 3 5" in " ".join(search.untagged)

        store_reply = await a.ok("STORE 1:5 +FLAGS (\\Seen)")
        assert not store_reply.lines("EXPUNGE")
        assert sorted(line.split()[1] for line in store_reply.lines("FETCH")) == ["1", "3", "5"]
        assert len(a.seq) == 5

        noop = await a.ok("NOOP")
        assert noop.lines("EXPUNGE") == ["* 4 EXPUNGE", "* 2 EXPUNGE"]
        assert a.seq == [uids[0], uids[2], uids[4]]
        await a.assert_matches_store(store)
        await a.aclose()
        await b.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "command", ["UID FETCH 1:* (FLAGS)", "UID SEARCH ALL", "UID STORE 1:* +FLAGS (\\Seen)"]
)
async def test_uid_commands_may_report_expunges(command: str) -> None:
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a")
        b = await Client.connect(running, "b")
        uids = await fill(b, 3)
        await a.select()
        await b.select()
        await a.uid_fetch_all()
        await expunge_uids(b, [uids[1]])
        reply = await a.ok(command)
        assert reply.lines("EXPUNGE") == ["* 2 EXPUNGE"]
        assert a.seq == [uids[0], uids[2]]
        await a.assert_matches_store(store)
        await a.aclose()
        await b.aclose()


@pytest.mark.anyio
async def test_numbers_stand_until_the_expunge_is_reported() -> None:
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a")
        b = await Client.connect(running, "b")
        uids = await fill(b, 5)
        await a.select()
        await b.select()
        await a.uid_fetch_all()
        await expunge_uids(b, [uids[1]])

        # Message 3 is still UID 3 for `a` (not the UID 4 it would be after renumbering).
        reply = await a.ok("FETCH 3 (UID)")
        assert reply.lines("FETCH") == [f"* 3 FETCH (UID {uids[2]})"]
        # Message 2 is gone: no data, and the tagged OK says why (RFC 9051 7.5.1 / 6.4.5).
        gone = await a.command("FETCH 2 (UID FLAGS)")
        assert gone.status == "OK" and not gone.lines("FETCH"), gone
        assert "[EXPUNGEISSUED]" in gone.tagged
        # STORE by number changes the message the number meant; nothing for the gone one.
        stored = await a.ok("STORE 2:3 +FLAGS (\\Flagged)")
        assert stored.lines("FETCH") == ["* 3 FETCH (FLAGS (\\Flagged))"]
        # A number past the end is still refused, counted with the unreported message.
        assert (await a.command("FETCH 6 (UID)")).status == "BAD"
        # COPY by number copies the message the number meant. (CREATE by `b`: any command of
        # `a` but FETCH, STORE and SEARCH may report the expunge.)
        await b.ok("CREATE Copies")
        copy = await a.ok("COPY 2:4 Copies")
        assert [uid for uid, _ in await store_state(store, "Copies")] == [1, 2]
        assert (await store_state(store))[1] == (uids[2], {"\\Flagged"})
        # COPY is not FETCH, STORE or SEARCH: once it is done, it reports the expunge.
        assert copy.lines("EXPUNGE") == ["* 2 EXPUNGE"]
        assert not (await a.ok("NOOP")).lines("EXPUNGE")
        renumbered = await a.ok("FETCH 2 (UID FLAGS)")
        assert renumbered.lines("FETCH") == [f"* 2 FETCH (UID {uids[2]} FLAGS (\\Flagged))"]
        await a.assert_matches_store(store)
        await a.aclose()
        await b.aclose()


@pytest.mark.anyio
async def test_new_messages_while_an_expunge_waits() -> None:
    # EXISTS during a FETCH counts the expunged-but-unreported message; the EXPUNGE that
    # follows later brings the count down by one.
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a")
        b = await Client.connect(running, "b")
        uids = await fill(b, 3)
        await a.select()
        await b.select()
        await a.uid_fetch_all()
        await expunge_uids(b, [uids[0]])
        new = await fill(b, 2)
        fetch = await a.ok("FETCH 1:* (UID)")
        assert "* 5 EXISTS" in fetch.untagged and not fetch.lines("EXPUNGE")
        assert len(a.seq) == 5
        noop = await a.ok("NOOP")
        assert noop.lines("EXPUNGE") == ["* 1 EXPUNGE"]
        assert len(a.seq) == 4
        await a.assert_matches_store(store)
        assert a.seq == [uids[1], uids[2], *new]
        await a.aclose()
        await b.aclose()


# -- many sessions at once ------------------------------------------------------------------------

FLAG_POOL = ("\\Seen", "\\Flagged", "\\Deleted", "\\Answered", "$Label")


async def random_session(client: Client, rng: random.Random, steps: int) -> None:
    """Mixed APPEND / STORE / EXPUNGE / MOVE / FETCH / SEARCH / NOOP on INBOX."""
    for step in range(steps):
        op = rng.choice(
            ["append", "append", "store", "uid store", "expunge", "move", "fetch", "noop", "search"]
        )
        if op == "append":
            new_flags = rng.sample(FLAG_POOL, rng.randint(0, 2))
            await client.append("INBOX", message(rng.randrange(10**6)), new_flags)
        elif op in ("store", "uid store") and client.seq:
            n = rng.randint(1, len(client.seq))
            sign = rng.choice(["+", "-", ""])
            flags = " ".join(rng.sample(FLAG_POOL, rng.randint(1, 2)))
            uid = client.seq[n - 1]
            if op == "uid store" and uid is not None:
                await client.ok(f"UID STORE {uid} {sign}FLAGS ({flags})")
            else:
                await client.ok(f"STORE {n} {sign}FLAGS ({flags})")
        elif op == "expunge":
            await client.ok("EXPUNGE")
        elif op == "move" and client.seq:
            # Out of INBOX: an expunge for everyone else, with EXPUNGE responses of its own.
            n = rng.randint(1, len(client.seq))
            await client.ok(f"MOVE {n} Elsewhere")
        elif op == "fetch" and client.seq:
            # Not UID FETCH: the numbers must not move while it runs.
            before = len(client.seq)
            reply = await client.ok("FETCH 1:* (UID FLAGS)")
            assert not reply.lines("EXPUNGE") and len(client.seq) >= before
        elif op == "search":
            reply = await client.ok("SEARCH NOT DELETED")
            assert not reply.lines("EXPUNGE")
        else:
            await client.ok("NOOP")
        if step % 5 == 0:
            await anyio.sleep(0)


@pytest.mark.anyio
async def test_many_sessions_mixed_operations() -> None:
    store = new_store()
    sessions = 20
    idlers = 4
    async with serve_for_tests(store) as running:
        clients = [
            await Client.connect(running, f"s{i}x", rev2=i % 2 == 0) for i in range(sessions)
        ]
        await fill(clients[0], 5)
        await clients[0].ok("CREATE Elsewhere")
        for client in clients:
            await client.select()
        idle_tags = [await c.idle() for c in clients[:idlers]]
        finished = anyio.Event()

        async def keep_reading(client: Client) -> None:
            # Apply every update an IDLE session gets while the others work.
            while not finished.is_set():
                with anyio.move_on_after(0.05):
                    await client.readline()

        async with anyio.create_task_group() as readers:
            for client in clients[:idlers]:
                readers.start_soon(keep_reading, client)
            async with anyio.create_task_group() as workers:
                for i, client in enumerate(clients[idlers:]):
                    workers.start_soon(random_session, client, random.Random(i), 30)
            finished.set()
        for client, tag in zip(clients[:idlers], idle_tags, strict=True):
            assert (await client.done(tag)).status == "OK"
        state = await store_state(store)
        assert state, "the random operations left an empty mailbox: nothing was compared"
        assert all(c.expunges for c in clients[:idlers]), "no expunge reached the IDLE sessions"
        for client in clients:
            await client.assert_matches_store(store)
        for client in clients:
            await client.aclose()


# -- the selected mailbox deleted or renamed by another session -----------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("idle", [False, True], ids=["noop", "idle"])
async def test_selected_mailbox_deleted_elsewhere(
    idle: bool, caplog: pytest.LogCaptureFixture
) -> None:
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a")
        b = await Client.connect(running, "b")
        await b.ok("CREATE Work")
        await fill(b, 2, "Work")
        await a.select("Work")
        tag = await a.idle() if idle else None
        await b.ok("DELETE Work")
        if tag is None:
            tag = a.next_tag()
            await a.send(f"{tag} NOOP\r\n".encode())
        # The session cannot go on with a mailbox that is gone: it says so and hangs up.
        lines = []
        with anyio.fail_after(TIMEOUT):
            while True:
                try:
                    lines.append(await a.readline())
                except AssertionError:
                    break  # closed by the server
        assert any(line.startswith("* BYE") for line in lines), lines
        assert not any("SERVERBUG" in line for line in lines), lines
        assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
        # The other session and new ones are unaffected.
        await b.ok("NOOP")
        c = await Client.connect(running, "c")
        assert (await c.command("SELECT Work")).status == "NO"
        await c.select()
        await a.aclose()
        await b.aclose()
        await c.aclose()


@pytest.mark.anyio
async def test_selected_mailbox_renamed_elsewhere() -> None:
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a")
        b = await Client.connect(running, "b")
        await b.ok("CREATE Work")
        uids = await fill(b, 3, "Work")
        await a.select("Work")
        await a.uid_fetch_all()
        await b.ok("RENAME Work Archive")
        # The selected mailbox is the same one under its new name: nothing to report ...
        noop = await a.ok("NOOP")
        assert not noop.lines("EXPUNGE")
        assert a.seq == uids
        # ... and changes made through the new name reach the session.
        tag = await a.idle()
        new = await b.append("Archive", message(99))
        await a.wait_for(lambda: len(a.seq) == 4)
        await a.done(tag)
        await b.ok("CREATE Work")  # a new mailbox of the old name is another mailbox
        await b.append("Work", message(100))
        assert not (await a.ok("NOOP")).untagged
        await a.assert_matches_store(store, "Archive")
        assert a.seq == [*uids, new]
        await a.aclose()
        await b.aclose()


@pytest.mark.anyio
async def test_inbox_renamed_elsewhere_reads_as_expunged() -> None:
    # RENAME INBOX moves its messages out and leaves INBOX (the same mailbox) empty.
    store = new_store()
    async with serve_for_tests(store) as running:
        a = await Client.connect(running, "a")
        b = await Client.connect(running, "b")
        uids = await fill(b, 3)
        await a.select()
        await a.uid_fetch_all()
        await b.ok("RENAME INBOX Old")
        noop = await a.ok("NOOP")
        assert len(noop.lines("EXPUNGE")) == 3
        assert a.seq == []
        await a.assert_matches_store(store)
        assert [uid for uid, _ in await store_state(store, "Old")] == uids
        await a.aclose()
        await b.aclose()


# -- a model-based test: two sessions, random operations ------------------------------------------

_mailbox_numbers = itertools.count(1)


class TwoSessions(RuleBasedStateMachine):
    """Two sessions on one mailbox; a plain dict is the model of what the store must hold.

    The server runs in an event loop in another thread (`portal`); each step calls into it.
    """

    portal: ClassVar[BlockingPortal]
    running: ClassVar[RunningServer]
    store: ClassVar[MemoryStore]

    def __init__(self) -> None:
        super().__init__()
        self.mailbox = f"Box{next(_mailbox_numbers)}"
        self.model: dict[int, set[str]] = {}
        self.clients = [
            self.call(Client.connect, self.running, "a", rev2=True),
            self.call(Client.connect, self.running, "b", rev2=False),
        ]
        self.call(self.clients[0].ok, f"CREATE {self.mailbox}")
        self.call(self.clients[0].ok, f"CREATE {self.mailbox}-moved")
        for client in self.clients:
            self.call(client.select, self.mailbox)

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.portal.call(lambda: func(*args, **kwargs))

    def teardown(self) -> None:
        for client in self.clients:
            self.call(client.aclose)

    @rule(who=st.integers(0, 1), flags=st.sets(st.sampled_from(FLAG_POOL), max_size=2))
    def append(self, who: int, flags: set[str]) -> None:
        uid = self.call(
            self.clients[who].append, self.mailbox, message(len(self.model)), sorted(flags)
        )
        assert uid not in self.model and all(uid > u for u in self.model)
        self.model[uid] = set(flags)

    @rule(
        who=st.integers(0, 1),
        pick=st.integers(0, 10**6),
        sign=st.sampled_from(["+", "-", ""]),
        flags=st.sets(st.sampled_from(FLAG_POOL), min_size=1, max_size=2),
        by_uid=st.booleans(),
    )
    def store_flags(self, who: int, pick: int, sign: str, flags: set[str], by_uid: bool) -> None:
        client = self.clients[who]
        if not client.seq:
            return
        n = pick % len(client.seq) + 1
        if client.seq[n - 1] is None:
            # Learn which message the number means (no data if it is gone meanwhile).
            self.call(client.ok, f"FETCH {n} (UID)")
        uid = client.seq[n - 1]
        text = " ".join(sorted(flags))
        if by_uid and uid is not None:
            self.call(client.ok, f"UID STORE {uid} {sign}FLAGS ({text})")
        else:
            self.call(client.ok, f"STORE {n} {sign}FLAGS ({text})")
        if uid is not None and uid in self.model:
            current = self.model[uid]
            self.model[uid] = (
                current | flags if sign == "+" else current - flags if sign == "-" else set(flags)
            )

    @rule(who=st.integers(0, 1), pick=st.none() | st.integers(0, 10**6))
    def expunge(self, who: int, pick: int | None) -> None:
        client = self.clients[who]
        if pick is None:
            self.call(client.ok, "EXPUNGE")
            gone = [u for u, f in self.model.items() if "\\Deleted" in f]
        else:
            # A UID the session knows: one it was not told of yet (appended by the other
            # session since its last command) is not in its view, and UID EXPUNGE skips it.
            known = [u for u in client.seq if u is not None]
            if not known:
                return
            uid = known[pick % len(known)]
            self.call(client.ok, f"UID EXPUNGE {uid}")
            gone = [uid] if "\\Deleted" in self.model.get(uid, ()) else []
        for uid in gone:
            del self.model[uid]

    @rule(who=st.integers(0, 1), pick=st.integers(0, 10**6), by_uid=st.booleans())
    def move(self, who: int, pick: int, by_uid: bool) -> None:
        client = self.clients[who]
        if not client.seq:
            return
        n = pick % len(client.seq) + 1
        uid = client.seq[n - 1]
        if by_uid and uid is not None:
            self.call(client.ok, f"UID MOVE {uid} {self.mailbox}-moved")
        else:
            if uid is None:
                self.call(client.ok, f"FETCH {n} (UID)")
                uid = client.seq[n - 1]
            self.call(client.ok, f"MOVE {n} {self.mailbox}-moved")
        if uid is not None:
            self.model.pop(uid, None)

    @rule(who=st.integers(0, 1))
    def fetch_by_number(self, who: int) -> None:
        client = self.clients[who]
        if client.seq:
            reply = self.call(client.ok, "FETCH 1:* (UID FLAGS)")
            assert not reply.lines("EXPUNGE")

    @rule(who=st.integers(0, 1))
    def noop(self, who: int) -> None:
        self.call(self.clients[who].ok, "NOOP")

    @rule(who=st.integers(0, 1))
    def check(self, who: int) -> None:
        client = self.clients[who]
        self.call(client.assert_matches_store, self.store, self.mailbox)
        assert client.seq == sorted(self.model)
        assert {uid: client.flags[uid] for uid in self.model} == self.model


def test_two_sessions_model() -> None:
    store = new_store()
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(serve_for_tests(store)) as running,
    ):
        TwoSessions.portal = portal
        TwoSessions.running = running
        TwoSessions.store = store
        run_state_machine_as_test(
            TwoSessions,
            settings=settings(
                max_examples=40,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
