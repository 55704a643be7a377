"""Two ``imap-server serve`` processes on one PostgreSQL database.

A session on one process must learn of every change made through the other: a client in IDLE
on process A sees each APPEND, STORE and EXPUNGE made through process B within a second, and a
SELECT on A right after a change through B shows the change (no stale cache in A).

Each test creates a fresh database (schema applied in this process with `PgStore.upgrade`),
starts ``python -m imap_server serve --store postgresql://...`` twice on port 0, reads each
bound port from the ``listening on`` line, and talks to them over TCP with `Imap`, a small
blocking client of this file. Every child is killed on the way out, pass or fail.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

import anyio
import pytest

from imap_store_pg import PgStore
from imap_store_pg.testing import fresh_database

USER, PASSWORD = "alice", "secret"
START_TIMEOUT = 30.0  # seconds for a child to accept connections
STOP_TIMEOUT = 10.0  # seconds for a child to exit after SIGTERM
TIMEOUT = 15.0  # bound on any wait for a server's answer (keeps a broken server from hanging)
NOTICE = 1.0  # a change through one process reaches an IDLE session on the other within this
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
        greeting = self.read()
        assert greeting.text.startswith("* OK"), greeting
        self.ok(f"LOGIN {USER} {PASSWORD}")

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


def message(n: int) -> bytes:
    return (
        f"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: message {n}\r\n"
        f"Message-ID: <multiprocess-{n}@example.org>\r\n\r\nBody of message {n}.\r\n"
    ).encode()


# -- the tests ---------------------------------------------------------------------------------


def _is(line: str) -> Callable[[str], bool]:
    return lambda text: text == line


def _fetch_with(n: int, flag: str, present: bool) -> Callable[[str], bool]:
    def matches(text: str) -> bool:
        m = _NUMBERED.match(text)
        if m is None or m[1] != str(n) or m[2] != "FETCH":
            return False
        flags = flags_of(text)
        return flags is not None and (flag in flags) == present

    return matches


@pytest.mark.parametrize("writer_on", ["other process", "same process"])
def test_idle_sees_changes_made_through_either_process(db_url: str, writer_on: str) -> None:
    with serving(db_url) as a, serving(db_url) as b:
        port_a, port_b = a.port(), b.port()
        writer_port = port_b if writer_on == "other process" else port_a
        try:
            with connect(port_a, "i") as idler, connect(writer_port, "w") as writer:
                assert idler.select() == 0
                tag = idler.idle()

                uid1 = writer.append(message(1))
                idler.expect("* 1 EXISTS", _is("* 1 EXISTS"), NOTICE)

                writer.select()
                writer.ok(f"UID STORE {uid1} +FLAGS (\\Flagged)")
                idler.expect("FETCH with \\Flagged", _fetch_with(1, "\\Flagged", True), NOTICE)

                uid2 = writer.append(message(2))
                idler.expect("* 2 EXISTS", _is("* 2 EXISTS"), NOTICE)

                writer.ok(f"UID STORE {uid2} +FLAGS (\\Seen)")
                idler.expect("FETCH with \\Seen", _fetch_with(2, "\\Seen", True), NOTICE)
                writer.ok(f"UID STORE {uid2} -FLAGS (\\Seen)")
                idler.expect("FETCH without \\Seen", _fetch_with(2, "\\Seen", False), NOTICE)

                writer.ok(f"UID STORE {uid1} +FLAGS (\\Deleted)")
                idler.expect("FETCH with \\Deleted", _fetch_with(1, "\\Deleted", True), NOTICE)
                writer.ok("EXPUNGE")
                idler.expect("* 1 EXPUNGE", _is("* 1 EXPUNGE"), NOTICE)

                uid3 = writer.append(message(3))
                idler.expect("* 2 EXISTS", _is("* 2 EXISTS"), NOTICE)

                idler.send(b"DONE\r\n")
                done = idler.reply(tag)
                assert done.status == "OK", done
                # The idler's view is the mailbox's: message 1 is uid2, message 2 is uid3.
                fetched = idler.ok("FETCH 1:* (UID FLAGS)").numbered("FETCH")
                uids = [int(m[1]) for r in fetched if (m := _UID.search(r.text))]
                assert uids == [uid2, uid3]
                assert uid1 < uid2 < uid3
        except BaseException:
            print(a.output(), b.output(), sep="\n")
            raise


def test_select_after_a_change_elsewhere_is_fresh(db_url: str) -> None:
    """SELECT / STATUS / FETCH on A right after each change through B show the change."""
    with serving(db_url) as a, serving(db_url) as b:
        port_a, port_b = a.port(), b.port()
        with (
            connect(port_a, "r") as reader,
            connect(port_a, "k") as keeper,
            connect(port_b, "w") as writer,
        ):
            # A session that stays on INBOX keeps process A's view of it warm (a cache, if
            # there is one, is filled and kept).
            keeper.select()
            writer.select()
            expected: dict[int, tuple[set[str], bytes]] = {}
            for n in range(6):
                body = message(100 + n)
                uid = writer.append(body)
                expected[uid] = (set(), body)
                # Right after the tagged OK: no waiting, no NOOP first.
                assert reader.select() == len(expected)
                assert reader.messages() == expected
                assert reader.status() == {
                    "MESSAGES": len(expected),
                    "UIDNEXT": uid + 1,
                    "UNSEEN": 1,
                }
                reader.ok("UNSELECT")

                writer.ok(f"UID STORE {uid} +FLAGS (\\Seen)")
                expected[uid] = ({"\\Seen"}, body)
                reader.select()
                assert reader.messages() == expected
                reader.ok("UNSELECT")
                assert reader.status()["UNSEEN"] == 0

                if n % 2:
                    gone = min(expected)
                    writer.ok(f"UID STORE {gone} +FLAGS.SILENT (\\Deleted)")
                    writer.ok(f"UID EXPUNGE {gone}")
                    del expected[gone]
                    assert reader.select() == len(expected)
                    assert reader.messages() == expected
                    reader.ok("UNSELECT")
            keeper.ok("NOOP")
            assert set(keeper.messages()) == set(expected)
