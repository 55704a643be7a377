"""Two ``imap-server serve`` processes on one S3 bucket.

Both processes append to one mailbox at once: no acknowledged message may be lost, no UID
issued twice, and both must then list the same messages. A client in IDLE on process A hears
of each APPEND made through process B (the store polls S3 for other processes' changes about
every second; `NOTICE` allows for that).

Each test takes a fresh bucket on the module's S3 endpoint (moto on loopback, or
``IMAP_TEST_S3_ENDPOINT``), creates user ``alice`` in this process with `S3Store`, starts
``python -m imap_server serve --store s3://...`` twice on port 0, reads each bound port from
the ``listening on`` line, and talks to them over TCP with `Imap`, a small blocking client of
this file that keeps each literal's octets. Every child is stopped on the way out, pass or fail.
"""

from __future__ import annotations

import contextlib
import os
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

from imap_store_s3 import S3Store, open_s3_store
from imap_store_s3.testing import S3Unavailable, fresh_bucket, s3_endpoint
from imap_store_s3.testing import test_credentials as aws_test_credentials

USER, PASSWORD = "alice", "secret"
START_TIMEOUT = 30.0  # seconds for a child to accept connections
STOP_TIMEOUT = 10.0  # seconds for a child to exit after SIGTERM
TIMEOUT = 30.0  # bound on any wait for a server's answer (keeps a broken server from hanging)
NOTICE = 5.0  # a change through one process reaches an IDLE session on the other within this
PER_PROCESS = 10  # concurrent clients on each process
APPENDS_EACH = 11  # APPENDs per client: 220 log entries, past the first snapshot (at 200)
_LISTENING = re.compile(r"^imap-server: listening on (\S+):(\d+) \(([^)]*)\)$")
_AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


# -- S3 ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """This module's S3 endpoint (moto on loopback, or ``IMAP_TEST_S3_ENDPOINT``)."""
    try:
        server = s3_endpoint()
        url = server.__enter__()
    except S3Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"an S3 endpoint is required in CI: {exc}")
        pytest.skip(f"no S3 endpoint: {exc}")
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


def child_env() -> dict[str, str]:
    """The environment of a child: this one, with the (dummy, for moto) AWS credentials."""
    aws_test_credentials()
    env = dict(os.environ)
    missing = [name for name in _AWS_ENV if not env.get(name)]
    assert not missing, f"no {missing} after aws_test_credentials()"
    return env


class _CheapHashes(S3Store):
    scrypt_n = 2**4  # logins are many here; the server verifies with the hash's own cost


async def _create_user(url: str) -> None:
    store = _CheapHashes(open_s3_store(url).config)
    await store.start()
    try:
        await store.create_account(USER, PASSWORD)
    finally:
        await store.aclose()


@pytest.fixture
def s3_url(endpoint: str) -> str:
    """The store URL of a fresh bucket holding user ``alice`` / ``secret``."""
    aws_test_credentials()
    bucket = fresh_bucket(endpoint)
    url = f"s3://{bucket}/mail?endpoint={endpoint}&addressing_style=path"
    anyio.run(_create_user, url)
    return url


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
            env=child_env(),
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
        if m is None:
            raise self.fail(f"no APPENDUID in {reply.tagged!r}")
        return int(m[1])

    def select(self, mailbox: str = "INBOX") -> int:
        """SELECT; return the EXISTS count."""
        reply = self.ok(f"SELECT {mailbox}")
        [exists] = [int(r.text.split()[1]) for r in reply.numbered("EXISTS")]
        return exists

    def messages(self) -> dict[int, bytes]:
        """``UID FETCH 1:* (UID BODY.PEEK[])`` of the selected mailbox: UID -> body. Fails on a
        UID answered twice."""
        out: dict[int, bytes] = {}
        for r in self.ok("UID FETCH 1:* (UID BODY.PEEK[])").numbered("FETCH"):
            uid = _UID.search(r.text)
            assert uid is not None and len(r.literals) == 1, r
            if int(uid[1]) in out:
                raise self.fail(f"UID {uid[1]} fetched twice")
            out[int(uid[1])] = r.literals[0]
        return out

    def status(self, mailbox: str = "INBOX") -> dict[str, int]:
        reply = self.ok(f"STATUS {mailbox} (MESSAGES UIDNEXT)")
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

    def done(self, tag: str) -> Reply:
        """End IDLE ``tag``."""
        self.send(b"DONE\r\n")
        reply = self.reply(tag)
        if reply.status != "OK":
            raise self.fail(f"IDLE ended with {reply.tagged!r}")
        return reply

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


_MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)@example\.org>\r$", re.MULTILINE)


def message(key: str) -> bytes:
    return (
        f"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: {key}\r\n"
        f"Message-ID: <{key}@example.org>\r\n\r\nBody of {key}.\r\n"
    ).encode()


def message_id(body: bytes) -> str:
    m = _MESSAGE_ID.search(body)
    assert m is not None, body[:300]
    return m[1].decode()


def _exists(text: str) -> int | None:
    m = _NUMBERED.match(text)
    return int(m[1]) if m is not None and m[2] == "EXISTS" else None


# -- the tests ---------------------------------------------------------------------------------


@dataclass
class Appends:
    """What the clients sent and what the servers acknowledged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, bytes] = field(default_factory=dict)  # Message-ID -> body
    acked: list[tuple[int, str, str]] = field(default_factory=list)  # (UID, Message-ID, via)
    errors: list[str] = field(default_factory=list)


def _append_some(port: int, via: str, number: int, start: threading.Barrier, out: Appends) -> None:
    try:
        with connect(port, f"{via}{number}-") as client:
            start.wait(TIMEOUT)
            for n in range(APPENDS_EACH):
                key = f"multiprocess-{via}-{number}-{n}"
                body = message(key)
                with out.lock:
                    out.sent[key] = body
                uid = client.append(body)
                with out.lock:
                    out.acked.append((uid, key, via))
    except BaseException as exc:
        with out.lock:
            out.errors.append(f"client {via}{number}: {exc}")


def test_concurrent_appends_through_two_processes(s3_url: str) -> None:
    """2 x `PER_PROCESS` clients APPEND `APPENDS_EACH` messages each, all at once, half through
    each process; an IDLE on A sees them all; both processes, and a third started afterwards,
    then list the same messages."""
    out = Appends()
    with serving(s3_url) as a, serving(s3_url) as b:
        ports = {"a": a.port(), "b": b.port()}
        try:
            with connect(ports["a"], "i") as idler:
                assert idler.select() == 0
                tag = idler.idle()
                start = threading.Barrier(2 * PER_PROCESS)
                workers = [
                    threading.Thread(
                        target=_append_some, args=(port, via, i, start, out), daemon=True
                    )
                    for via, port in ports.items()
                    for i in range(PER_PROCESS)
                ]
                began = time.monotonic()
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join(4 * TIMEOUT)
                took = time.monotonic() - began
                assert not any(w.is_alive() for w in workers), "a client hangs"
                assert not out.errors, "\n".join(out.errors[:10])
                total = 2 * PER_PROCESS * APPENDS_EACH
                assert len(out.acked) == total
                print(f"{total} APPENDs through two processes in {took:.1f} s")

                # The idler (on A) hears of all of them, B's included.
                def all_there(text: str) -> bool:
                    return _exists(text) == total

                idler.expect(f"* {total} EXISTS", all_there, NOTICE)
                idler.done(tag)

            uids = [uid for uid, _, _ in out.acked]
            assert len(set(uids)) == len(uids), (
                f"a UID acknowledged twice: {sorted(u for u in uids if uids.count(u) > 1)}"
            )
            views: dict[str, dict[int, bytes]] = {}
            for via, port in ports.items():
                with connect(port, f"v{via}") as client:
                    assert client.select() == total, f"process {via}"
                    views[via] = client.messages()
                    status = client.status()
                    assert status["MESSAGES"] == total, f"process {via}: {status}"
                    assert status["UIDNEXT"] > max(uids), f"process {via}: {status}"
            assert views["a"] == views["b"], "the processes list different messages"
            present = views["a"]
            for uid, key, via in out.acked:
                assert uid in present, f"{key} (UID {uid}, through {via}) is gone"
                assert present[uid] == out.sent[key], f"UID {uid} is not {key} byte for byte"
            keys = [message_id(body) for body in present.values()]
            assert sorted(keys) == sorted(out.sent), "a message stored twice, or a stranger"
        except BaseException:
            print(a.output(), b.output(), sep="\n")
            raise
    # A process started afterwards (a cold cache: snapshot plus log) sees the same.
    with serving(s3_url) as c, connect(c.port(), "vc") as client:
        try:
            assert client.select() == total
            assert client.messages() == present
        except BaseException:
            print(c.output())
            raise


@pytest.mark.parametrize("writer_on", ["other process", "same process"])
def test_idle_sees_appends_made_through_either_process(s3_url: str, writer_on: str) -> None:
    with serving(s3_url) as a, serving(s3_url) as b:
        port_a, port_b = a.port(), b.port()
        writer_port = port_b if writer_on == "other process" else port_a
        try:
            with connect(port_a, "i") as idler, connect(writer_port, "w") as writer:
                assert idler.select() == 0
                tag = idler.idle()
                uids: list[int] = []
                latencies: list[float] = []
                for n in range(1, 4):
                    uids.append(writer.append(message(f"idle-{n}")))
                    acked = time.monotonic()

                    def is_n(text: str, n: int = n) -> bool:
                        return _exists(text) == n

                    idler.expect(f"* {n} EXISTS", is_n, NOTICE)
                    latencies.append(time.monotonic() - acked)
                print(f"EXISTS {', '.join(f'{s:.2f}' for s in latencies)} s after the APPENDs")
                idler.done(tag)
                assert uids == sorted(uids) and len(set(uids)) == 3
                assert sorted(idler.messages()) == uids
        except BaseException:
            print(a.output(), b.output(), sep="\n")
            raise
