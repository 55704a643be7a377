"""Benchmark: a mixed IMAP workload against imap-server and pymap, plus stdlib imaplib APPENDs.

Starts `imap-server serve` (memory store) and pymap (its in-memory ``dict`` backend) one after
the other, each on a free 127.0.0.1 port with the same user. For each server it pre-fills INBOX
with realistic messages, then worker processes drive concurrent sessions (plain asyncio
sockets, not our own client) through a mixed workload for a fixed time: LOGIN, SELECT, FETCH
headers, FETCH bodies, STORE, APPEND, SEARCH, EXPUNGE, LOGOUT. It prints commands/s, p50/p99
latency per command and errors, then the rate of stdlib imaplib APPENDing messages over one
connection. bench/README.md says what exactly is measured and how to read it.

Run ``python bench/server_load.py --help`` for the options. The last line printed is always
``ratio imap-server/pymap commands/s: X.XX`` (higher is better for imap-server) when both
servers ran; the script exits non-zero if a server could not be run or a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import email.utils
import imaplib
import importlib.metadata
import importlib.util
import ipaddress
import json
import math
import multiprocessing
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parents[1]
# pymap is installed into its own venv unless --pymap-cmd or PATH provides one; the version is
# pinned so that figures stay comparable from one run (and one machine) to the next.
PYMAP_REQUIREMENT = "pymap==0.36.7"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imap-toolkit-bench"
PYMAP_VENV = CACHE_DIR / "pymap-venv"

COMMAND_TIMEOUT = 10.0  # seconds without a tagged reply before a command counts as failed
GRACE = 5.0  # seconds after the window for commands in flight to finish
START_TIMEOUT = 30.0  # seconds for a server to accept connections

KINDS = (
    "LOGIN", "SELECT", "FETCH headers", "FETCH body", "STORE", "SEARCH", "APPEND", "EXPUNGE",
    "LOGOUT",
)  # fmt: skip
# Workload steps and their weights. Most steps are one command; "delete" is STORE +FLAGS
# (\Deleted) then EXPUNGE. Besides these, --reconnect-percent of the steps are a reconnect:
# LOGOUT, then LOGIN and SELECT on a new connection.
STEPS = ("fetch_headers", "fetch_body", "store", "search", "append", "delete")
WEIGHTS = (24, 20, 16, 14, 10, 10)
# The mailbox stays within this factor of its pre-filled size: past it, an APPEND step becomes a
# delete and a delete step becomes an APPEND.
DRIFT = 0.1

# -- messages ----------------------------------------------------------------------------------

FIRST_NAMES = (
    "Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Hiro", "Ines", "Jamal",
    "Karin", "Liam", "Maria", "Noah", "Olga", "Pablo",
)  # fmt: skip
LAST_NAMES = (
    "Anderson", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Jones",
    "Kowalski", "Lopez", "Martin", "Nakamura", "Patel", "Rossi", "Schmidt",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.net", "corp.example.co.uk")
WORDS = (
    "quarterly", "report", "meeting", "notes", "invoice", "draft", "review", "release",
    "update", "budget", "schedule", "project", "proposal", "agenda", "weekly", "summary",
    "build", "failed", "deploy", "contract", "travel", "plans", "lunch", "tomorrow", "question",
    "about", "the", "new", "office", "migration", "server", "backup", "status", "ticket",
    "customer", "feedback", "roadmap", "design", "launch", "hiring", "and", "we", "to", "of",
)  # fmt: skip


def make_message(rng: random.Random, size: int) -> bytes:
    """Return an RFC 5322 message of about `size` octets (CRLF line ends).

    The headers are what a delivered message carries (Return-Path, Received, Date, From, To,
    Subject, Message-ID, MIME); the body is text/plain, or for about a third of the messages
    multipart/alternative with an HTML copy.
    """
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    domain = rng.choice(DOMAINS)
    address = f"{first.lower()}.{last.lower()}@{domain}"
    to_first = rng.choice(FIRST_NAMES)
    to_address = f"{to_first.lower()}@example.net"
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(10**8))
    date = email.utils.format_datetime(when)
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).capitalize()
    if rng.random() < 0.3:
        subject = "Re: " + subject
    headers = [
        f"Return-Path: <{address}>",
        f"Received: from mail.{domain} (mail.{domain} [192.0.2.{rng.randint(1, 254)}])\r\n"
        f"\tby mx.example.net with ESMTPS id {rng.getrandbits(48):012x}\r\n"
        f"\tfor <{to_address}>; {date}",
        f"Date: {date}",
        f"From: {first} {last} <{address}>",
        f"To: {to_first} <{to_address}>",
        f"Subject: {subject}",
        f"Message-ID: <{rng.getrandbits(64):016x}@{domain}>",
        "MIME-Version: 1.0",
    ]
    multipart = rng.random() < 0.3
    boundary = f"=_{rng.getrandbits(64):016x}"
    if multipart:
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    else:
        headers += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit"]
    head = "\r\n".join(headers) + "\r\n\r\n"
    text_size = max(40, (size - len(head)) // (2 if multipart else 1))
    lines: list[str] = [f"Hi {to_first},", ""]
    length = 0
    while length < text_size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
        lines.append(line)
        length += len(line) + 2
    lines += ["", f"{first}"]
    text = "\r\n".join(lines) + "\r\n"
    if not multipart:
        return (head + text).encode("ascii")
    html = "<html><body>" + "".join(f"<p>{line}</p>\r\n" for line in lines) + "</body></html>"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        f"--{boundary}--\r\n"
    )
    return (head + body).encode("ascii")


def prefill_size(rng: random.Random) -> int:
    """Return the size of one pre-filled message: median about 3 KB, a few up to 40 KB."""
    return int(min(40_000, max(500, rng.lognormvariate(8.0, 0.8))))


# -- protocol ----------------------------------------------------------------------------------


class ImapError(Exception):
    """The server broke the protocol or closed the connection."""


@dataclass(slots=True)
class Reply:
    """What the load generator keeps of one command's responses.

    Attributes:
        status: The tagged status (``OK``, ``NO`` or ``BAD``).
        text: The tagged response line.
        fetches: Untagged FETCH responses received.
        literal_octets: Octets of literals in those FETCH responses.
        search_hits: Numbers in the untagged SEARCH response, -1 if none came.
    """

    status: bytes = b""
    text: bytes = b""
    fetches: int = 0
    literal_octets: int = 0
    search_hits: int = -1


class Connection(asyncio.Protocol):
    """One IMAP connection, parsing just enough of the responses, as they arrive.

    All framing happens in `data_received` (lines, literals ``{n}`` skipped by length), so a
    command costs one wake-up of the session that sent it, when its tagged completion arrives;
    the generator stays cheap next to the server it measures. It also keeps the mailbox size
    the server announced (EXISTS, EXPUNGE).
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.exists = 0
        self.octets_in = 0
        self._buffer = bytearray()
        self._skip = 0  # literal octets still to skip
        self._first: bytes | None = None  # first line of the response being read
        self._octets = 0  # literal octets in the response being read
        self._greeting: bytes | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self._tag = b""
        self._count = 0
        self._literal: bytes | None = None
        self._reply = Reply()

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        """Connect and read the greeting, which must be ``* OK``."""
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(cls, host, port)
        try:
            if conn._greeting is None:
                await conn._wait()
        except BaseException:
            conn.close()
            raise
        greeting = conn._greeting or b""
        if not greeting.startswith(b"* OK"):
            conn.close()
            raise ImapError(f"greeting {greeting[:100]!r}")
        return conn

    def close(self) -> None:
        """Close the socket (without LOGOUT)."""
        if self.transport is not None:
            self.transport.close()

    async def command(self, text: bytes, literal: bytes | None = None) -> Reply:
        """Send `text` (and `literal`, after the server's continuation); return the reply."""
        if self.transport is None or self.transport.is_closing():
            raise ImapError("connection closed")
        self._count += 1
        self._tag = b"A%d " % self._count
        self._reply = reply = Reply()
        self._literal = literal
        if literal is not None:
            text += b" {%d}" % len(literal)
        self.transport.write(self._tag + text + b"\r\n")
        await self._wait()
        return reply

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self, error: Exception | None = None) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._error = ImapError(f"connection closed ({exc!r})" if exc else "connection closed")
        self._wake(self._error)

    def data_received(self, data: bytes) -> None:
        self.octets_in += len(data)
        buffer = self._buffer
        buffer += data
        pos = 0
        size = len(buffer)
        while True:
            if self._skip:
                taken = min(self._skip, size - pos)
                pos += taken
                self._skip -= taken
                if self._skip:
                    break
            end = buffer.find(b"\r\n", pos)
            if end < 0:
                break
            line = bytes(buffer[pos:end])
            pos = end + 2
            if self._first is None:
                self._first = line
            # A line ending in {n} announces a literal of n octets, then the response goes on.
            if line.endswith(b"}"):
                start = line.rfind(b"{")
                if start >= 0 and line[start + 1 : -1].isdigit():
                    self._skip = int(line[start + 1 : -1])
                    self._octets += self._skip
                    continue
            first, self._first = self._first, None
            octets, self._octets = self._octets, 0
            try:
                self._response(first, octets)
            except (ImapError, ValueError) as exc:
                self._error = ImapError(f"{exc} in {first[:100]!r}")
                self._wake(self._error)
                self.close()
                break
        del buffer[:pos]

    def _response(self, first: bytes, octets: int) -> None:
        """Handle one whole response (`first`: its first line, without CRLF)."""
        if self._greeting is None:
            self._greeting = first
            self._wake()
        elif first.startswith(b"* "):
            self._untagged(first, octets)
        elif self._tag and first.startswith(self._tag):
            self._reply.status = first[len(self._tag) :].split(b" ", 1)[0].upper()
            self._reply.text = first
            self._tag = b""
            self._wake()
        elif first.startswith(b"+") and self._literal is not None:
            assert self.transport is not None
            self.transport.write(self._literal + b"\r\n")
            self._literal = None
        else:
            raise ImapError("unexpected response")

    def _untagged(self, first: bytes, octets: int) -> None:
        words = first.split(b" ", 3)
        if len(words) >= 3 and words[1].isdigit():
            kind = words[2].upper()
            if kind == b"FETCH":
                self._reply.fetches += 1
                self._reply.literal_octets += octets
            elif kind == b"EXISTS":
                self.exists = int(words[1])
            elif kind == b"EXPUNGE":
                self.exists -= 1
        elif words[1].upper() == b"SEARCH":
            self._reply.search_hits = len(first.split()) - 2


# -- load generator (runs in worker processes) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What one worker process needs to drive its sessions."""

    index: int
    host: str
    port: int
    user: str
    password: str
    sessions: tuple[int, ...]
    seed: int
    mailbox_size: int
    reconnect: float


@dataclass(slots=True)
class Stats:
    """What worker processes measured; merged in the parent.

    Attributes:
        latencies: Seconds from sending to the tagged OK, per command kind, for the commands
            that completed OK inside the timed window.
        errors: Failed commands per kind (NO, BAD, no reply in time, connection lost), at any
            time, warm-up and grace included.
        error_samples: A few distinct error texts.
        anomalies: OK replies without the data they should carry, per description.
        unfinished: Sessions still waiting for a reply when the grace period ended.
        octets_in: Octets received during the whole run.
        cpu_seconds: CPU time the workers used inside the window.
    """

    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    anomalies: Counter[str] = field(default_factory=Counter)
    unfinished: int = 0
    octets_in: int = 0
    cpu_seconds: float = 0.0

    def error(self, kind: str, text: str) -> None:
        """Count one failed command of `kind`."""
        self.errors[kind] += 1
        sample = f"{kind}: {text[:160]}"
        if len(self.error_samples) < 8 and sample not in self.error_samples:
            self.error_samples.append(sample)

    def merge(self, other: Stats) -> None:
        """Add `other`'s figures to these."""
        for kind, values in other.latencies.items():
            self.latencies[kind].extend(values)
        self.errors.update(other.errors)
        for sample in other.error_samples:
            if len(self.error_samples) < 8 and sample not in self.error_samples:
                self.error_samples.append(sample)
        self.anomalies.update(other.anomalies)
        self.unfinished += other.unfinished
        self.octets_in += other.octets_in
        self.cpu_seconds += other.cpu_seconds


class Session:
    """One simulated client: LOGIN and SELECT INBOX, then random workload steps."""

    def __init__(self, spec: WorkerSpec, number: int, stats: Stats) -> None:
        self.spec = spec
        self.number = number
        self.stats = stats
        self.rng = random.Random(spec.seed * 1_000_003 + number)
        self.conn: Connection | None = None
        self.window = (math.inf, -math.inf)
        self.low = max(1, int(spec.mailbox_size * (1 - DRIFT)))
        self.high = max(self.low + 2, int(spec.mailbox_size * (1 + DRIFT)))
        # Messages this session APPENDs, generated before the clock starts: 0.5 to 2 KB.
        self.messages = [make_message(self.rng, self.rng.randint(500, 2000)) for _ in range(16)]

    async def timed(self, kind: str, text: bytes, literal: bytes | None = None) -> Reply | None:
        """Run one command; record its latency, or an error. None if it failed."""
        conn = self.conn
        assert conn is not None
        start = time.monotonic()
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                reply = await conn.command(text, literal)
        except (ImapError, OSError) as exc:  # TimeoutError is an OSError
            message = "no reply in time" if isinstance(exc, TimeoutError) else repr(exc)
            self.stats.error(kind, message)
            self.drop()
            return None
        end = time.monotonic()
        if reply.status != b"OK":
            self.stats.error(kind, reply.text.decode("ascii", "replace"))
            return None
        if self.window[0] <= end <= self.window[1]:
            self.stats.latencies[kind].append(end - start)
        return reply

    def drop(self) -> None:
        """Forget the connection (closing it); the next step reconnects."""
        if self.conn is not None:
            self.stats.octets_in += self.conn.octets_in
            self.conn.close()
            self.conn = None

    async def connect(self) -> bool:
        """Open a connection, LOGIN and SELECT INBOX; False if that failed."""
        spec = self.spec
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                self.conn = await Connection.open(spec.host, spec.port)
        except (ImapError, OSError) as exc:
            self.stats.error("connect", repr(exc))
            return False
        login = b"LOGIN %s %s" % (quote(spec.user), quote(spec.password))
        if await self.timed("LOGIN", login) is None:
            self.drop()
            return False
        if await self.timed("SELECT", b"SELECT INBOX") is None:
            self.drop()
            return False
        return True

    async def run(self, go: float, window: tuple[float, float]) -> None:
        """Run workload steps from `go` until the window closes, then LOGOUT."""
        self.window = window
        await asyncio.sleep(max(0.0, go - time.monotonic()))
        failures = 0
        while time.monotonic() < window[1]:
            if self.conn is None:
                if not await self.connect():
                    failures += 1
                    if failures >= 5:
                        return  # the server is gone; the errors say so
                    await asyncio.sleep(0.2)
                continue
            failures = 0
            await self.step(self.conn)
        if self.conn is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    await self.conn.command(b"LOGOUT")
            self.drop()

    async def step(self, conn: Connection) -> None:
        """Run one workload step, chosen at random."""
        rng = self.rng
        reconnect = rng.random() < self.spec.reconnect
        step = "reconnect" if reconnect else rng.choices(STEPS, WEIGHTS)[0]
        exists = conn.exists
        if step == "append" and exists > self.high:
            step = "delete"
        elif step == "delete" and exists < self.low:
            step = "append"
        if exists == 0 and step in ("fetch_headers", "fetch_body", "store", "delete"):
            step = "append"

        if step == "fetch_headers":
            first = rng.randint(1, max(1, exists - 9))
            last = min(exists, first + 9)
            text = b"FETCH %d:%d (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])" % (first, last)
            reply = await self.timed("FETCH headers", text)
            if reply is not None and reply.fetches < last - first + 1:
                self.stats.anomalies["FETCH headers"] += 1
        elif step == "fetch_body":
            reply = await self.timed("FETCH body", b"FETCH %d BODY.PEEK[]" % rng.randint(1, exists))
            if reply is not None and (reply.fetches == 0 or reply.literal_octets == 0):
                self.stats.anomalies["FETCH body"] += 1
        elif step == "store":
            sign = b"+" if rng.random() < 0.7 else b"-"
            await self.timed("STORE", b"STORE %d %sFLAGS (\\Seen)" % (rng.randint(1, exists), sign))
        elif step == "search":
            if rng.random() < 0.5:
                text = b"SEARCH UNSEEN"
            else:
                text = b'SEARCH FROM "%s"' % rng.choice(FIRST_NAMES).lower().encode()
            reply = await self.timed("SEARCH", text)
            if reply is not None and reply.search_hits < 0:
                self.stats.anomalies["SEARCH"] += 1
        elif step == "append":
            await self.timed("APPEND", b"APPEND INBOX", rng.choice(self.messages))
        elif step == "delete":
            text = b"STORE %d +FLAGS (\\Deleted)" % rng.randint(1, exists)
            if await self.timed("STORE", text) is not None:
                await self.timed("EXPUNGE", b"EXPUNGE")
        else:
            if await self.timed("LOGOUT", b"LOGOUT") is not None:
                self.drop()
                await self.connect()
            # else: timed() dropped the connection; the next step reconnects.


def quote(text: str) -> bytes:
    """Return `text` as an IMAP quoted string."""
    return b'"' + text.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


async def drive(spec: WorkerSpec, pipe: Pipe) -> Stats:
    """Connect this worker's sessions, report ready, wait for the schedule, run, return stats."""
    stats = Stats()
    sessions = [Session(spec, number, stats) for number in spec.sessions]
    connected = await asyncio.gather(*(session.connect() for session in sessions))
    if not all(connected):
        first = stats.error_samples[0] if stats.error_samples else "?"
        raise ImapError(f"{connected.count(False)} sessions could not LOGIN and SELECT: {first}")
    pipe.send("ready")
    go, window_start, window_end = await asyncio.to_thread(pipe.recv)
    loop = asyncio.get_running_loop()
    cpu: list[float] = []
    # loop.time() is time.monotonic(), the clock the parent's schedule uses.
    loop.call_at(window_start, lambda: cpu.append(time.process_time()))
    loop.call_at(window_end, lambda: cpu.append(time.process_time()))
    tasks = [asyncio.create_task(s.run(go, (window_start, window_end))) for s in sessions]
    _, pending = await asyncio.wait(tasks, timeout=window_end - time.monotonic() + GRACE)
    for task in pending:
        task.cancel()
    stats.unfinished = len(pending)
    await asyncio.gather(*pending, return_exceptions=True)
    for session in sessions:
        session.drop()
    if len(cpu) == 2:
        stats.cpu_seconds = cpu[1] - cpu[0]
    return stats


def worker_main(spec: WorkerSpec, pipe: Pipe) -> None:
    """Entry point of a worker process: run `drive` and send its stats (or the error) back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops workers itself
    try:
        pipe.send(asyncio.run(drive(spec, pipe)))
    except Exception as exc:
        pipe.send(f"worker {spec.index}: {exc!r}")


# -- servers -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    """A server to measure: either started here (`argv` set) or already running.

    Attributes:
        name: What the report calls it.
        version: Its version, as far as known.
        host: Address it listens on.
        port: Its port; for a server started here, a free port picked at each start.
        argv: Command starting it, ``{port}`` standing for the port; None if already running.
        env: Environment of that command (None: this one's).
    """

    name: str
    version: str
    host: str
    port: int = 0
    argv: list[str] | None = None
    env: dict[str, str] | None = None

    def command(self) -> list[str] | None:
        """Return the command starting the server on `port`."""
        return (
            None if self.argv is None else [a.replace("{port}", str(self.port)) for a in self.argv]
        )


def fail(message: str) -> NoReturn:
    """Stop the benchmark with `message` and a non-zero exit status."""
    sys.exit(f"server_load: {message}")


def progress(message: str) -> None:
    """Tell what is going on (stderr, so that stdout has only the figures)."""
    print(f"server_load: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 20) -> str:
    """Return the last `lines` lines of a server's log."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by `running`: SIGTERM to its process group, SIGKILL after 5 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def running(target: Target, log_dir: Path) -> Iterator[subprocess.Popen[bytes] | None]:
    """Start `target`'s server, wait until it accepts connections, stop it on the way out.

    Yields the process, or None for a server that was already running (`--target`).
    """
    if target.argv is None:
        yield None
        return
    target.port = free_port()
    argv = target.command()
    assert argv is not None
    log = log_dir / f"{target.name}.log"
    progress(f"starting {target.name}: {shlex.join(argv)} (log {log})")
    with log.open("wb") as out:
        # A session of its own: Ctrl-C in the terminal does not reach it, stop() does.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=target.env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                fail(f"{target.name} exited with status {proc.returncode}:\n{log_tail(log)}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((target.host, target.port), 1),
            ):
                break
            if time.monotonic() > deadline:
                fail(f"{target.name} did not accept connections in {START_TIMEOUT:.0f} s")
            time.sleep(0.05)
        yield proc
        if proc.poll() is not None:
            fail(f"{target.name} died during the run (status {proc.returncode}):\n{log_tail(log)}")
    finally:
        stop(proc)


def cpu_seconds(pid: int) -> float | None:
    """Return the CPU time (user + system) process `pid` used so far, None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def imap_server_target(args: argparse.Namespace) -> Target:
    """Return how to start imap-server: --imap-server-cmd, or this interpreter's install."""
    listen = ["serve", "--listen", "127.0.0.1:{port}", "--user", args.user]  # {port}: see Target
    # The rate limits are off: every session comes from 127.0.0.1, which the per-address
    # limit exists to stop, and the imaplib APPENDs run faster than the per-connection limit
    # (500/s) lets one connection go. The rest of serve's default pipeline (command log,
    # recovery, login throttle, command timeout) stays on, and is measured.
    listen += ["--rate-limit", "0", "--rate-limit-per-address", "0"]
    env: dict[str, str] | None = None
    if args.imap_server_cmd:
        argv = shlex.split(args.imap_server_cmd)
    else:
        script = Path(sys.executable).parent / "imap-server"
        argv = [str(script)] if script.exists() else [sys.executable, "-m", "imap_server"]
        if importlib.util.find_spec("imap_server") is None:
            # Not pip-installed (e.g. a fresh clone before scripts/test): use the source trees.
            env = dict(os.environ)
            sources = [str(REPO / "packages" / p / "src") for p in ("imap-server", "imap-wire")]
            env["PYTHONPATH"] = os.pathsep.join([*sources, env.get("PYTHONPATH", "")])
    try:
        version = importlib.metadata.version("imap-server")
    except importlib.metadata.PackageNotFoundError:
        version = "(source tree)"
    return Target("imap-server", version, "127.0.0.1", 0, argv + listen, env)


def pymap_command(args: argparse.Namespace) -> list[str]:
    """Return the command that runs pymap, installing it into a cache venv on first use."""
    if args.pymap_cmd:
        return shlex.split(args.pymap_cmd)
    on_path = shutil.which("pymap")
    if on_path:
        return [on_path]
    script = PYMAP_VENV / "bin" / "pymap"
    if (
        script.exists()
        and subprocess.run([script, "--version"], capture_output=True).returncode == 0
    ):
        return [str(script)]
    manual = (
        f"{shlex.quote(sys.executable)} -m venv {PYMAP_VENV} && "
        f"{PYMAP_VENV}/bin/pip install '{PYMAP_REQUIREMENT}'"
    )
    progress(f"pymap not found: installing {PYMAP_REQUIREMENT} into {PYMAP_VENV} (once)")
    shutil.rmtree(PYMAP_VENV, ignore_errors=True)  # a broken venv from an interrupted install
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PYMAP_VENV)], check=True)
        pip = [str(PYMAP_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, PYMAP_REQUIREMENT], check=True)
        subprocess.run([script, "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(PYMAP_VENV, ignore_errors=True)
        fail(
            f"pymap is missing and installing it failed ({exc}).\n"
            f"Install it by hand, then run this again:\n  {manual}\n"
            f"or point --pymap-cmd at a pymap executable."
        )
    return [str(script)]


def pymap_target(args: argparse.Namespace) -> Target:
    """Return how to start pymap's in-memory (dict) backend with the benchmark's user."""
    argv = pymap_command(args)
    result = subprocess.run([*argv, "--version"], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{shlex.join(argv)} --version failed: {result.stderr.strip()}")
    version = result.stdout.strip().removeprefix("pymap ")
    user, password = args.user.split(":", 1)
    argv += ["--host", "127.0.0.1", "--port", "{port}", "--no-tls"]
    argv += ["dict", "--demo-user", user, "--demo-password", password]
    return Target("pymap", version, "127.0.0.1", 0, argv)


def external_target(spec: str) -> Target:
    """Parse ``--target NAME=HOST:PORT``: a server already running on this machine."""
    name, _, address = spec.partition("=")
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not (name and host and port.isdigit()):
        fail(f"--target {spec!r}: expected NAME=HOST:PORT")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        fail(f"--target {spec!r}: this load generator only targets loopback addresses")
    return Target(name, "(external)", host, int(port))


# -- one server's measurement ------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    """Everything measured on one server in one round.

    Attributes:
        target: The server.
        seconds: Length of the timed window.
        stats: What the load generator measured.
        mailbox: INBOX's size at the start, after the pre-fill and after the load.
        server_cpu: CPU seconds the server's process used in the window (None: unknown).
        other_cpu: CPU seconds every other process used in the window, the load generator
            excepted (None: unknown).
        imaplib_rate: imaplib APPENDs per second (None: not measured).
        imaplib_errors: imaplib APPENDs that failed.
    """

    target: Target
    seconds: float
    stats: Stats
    mailbox: list[int]
    server_cpu: float | None
    other_cpu: float | None
    imaplib_rate: float | None = None
    imaplib_errors: int = 0

    @property
    def commands(self) -> int:
        """Commands that completed OK inside the window."""
        return sum(len(v) for v in self.stats.latencies.values())

    @property
    def rate(self) -> float:
        """Commands per second."""
        return self.commands / self.seconds

    @property
    def errors(self) -> int:
        """Failed commands and connections, and sessions left waiting, all counted as errors."""
        return sum(self.stats.errors.values()) + self.stats.unfinished


def machine_cpu_seconds() -> float | None:
    """Return the CPU time all processes on the machine used so far, None if unknown.

    User, nice, system and steal time from /proc/stat; interrupt time is left out, as the kernel
    does not charge it to any process (on loopback, much of it is this benchmark's traffic).
    """
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if fields[:1] != ["cpu"] or len(fields) < 9:
        return None
    user, nice, system, steal = (int(fields[i]) for i in (1, 2, 3, 8))
    return (user + nice + system + steal) / os.sysconf("SC_CLK_TCK")


async def mailbox_size(target: Target, user: str, password: str) -> int:
    """Return INBOX's message count, from a SELECT on a new connection."""
    conn = await Connection.open(target.host, target.port)
    try:
        for text in (b"LOGIN %s %s" % (quote(user), quote(password)), b"SELECT INBOX"):
            reply = await conn.command(text)
            if reply.status != b"OK":
                fail(f"{target.name}: {text.split()[0].decode()} failed: {reply.text!r}")
        await conn.command(b"LOGOUT")
        return conn.exists
    finally:
        conn.close()


async def prefill(target: Target, user: str, password: str, count: int, seed: int) -> list[int]:
    """APPEND `count` messages to INBOX; return its size before and after (checked)."""
    before = await mailbox_size(target, user, password)
    rng = random.Random(seed)
    conn = await Connection.open(target.host, target.port)
    try:
        await conn.command(b"LOGIN %s %s" % (quote(user), quote(password)))
        for _ in range(count):
            reply = await conn.command(b"APPEND INBOX", make_message(rng, prefill_size(rng)))
            if reply.status != b"OK":
                fail(f"{target.name}: pre-fill APPEND failed: {reply.text!r}")
        await conn.command(b"LOGOUT")
    finally:
        conn.close()
    after = await mailbox_size(target, user, password)
    if after != before + count:
        fail(f"{target.name}: INBOX has {after} messages after APPENDing {count} to {before}")
    return [before, after]


def run_load(
    target: Target, proc: subprocess.Popen[bytes] | None, args: argparse.Namespace, size: int
) -> tuple[Stats, float | None, float | None]:
    """Run the workload from worker processes.

    Returns the merged stats, and the CPU seconds the server and all other processes used in
    the window (None where unknown).
    """
    user, password = args.user.split(":", 1)
    ctx = multiprocessing.get_context("spawn")
    pipes: list[Pipe] = []
    workers: list[Any] = []
    try:
        for index in range(args.workers):
            spec = WorkerSpec(
                index=index,
                host=target.host,
                port=target.port,
                user=user,
                password=password,
                sessions=tuple(range(index, args.sessions, args.workers)),
                seed=args.seed,
                mailbox_size=size,
                reconnect=args.reconnect_percent / 100,
            )
            parent_end, child_end = ctx.Pipe()
            worker = ctx.Process(target=worker_main, args=(spec, child_end), daemon=True)
            worker.start()
            child_end.close()
            pipes.append(parent_end)
            workers.append(worker)
        for pipe in pipes:
            if not pipe.poll(120):
                fail(f"{target.name}: a worker did not connect its sessions within 120 s")
            message = pipe.recv()
            if message != "ready":
                fail(f"{target.name}: {message}")
        go = time.monotonic() + 0.1
        window = (go + args.warmup, go + args.warmup + args.seconds)
        for pipe in pipes:
            pipe.send((go, *window))
        progress(
            f"{target.name}: {args.sessions} sessions running for "
            f"{args.warmup:g} s warm-up + {args.seconds:g} s"
        )
        server: list[float | None] = []
        machine: list[float | None] = []
        for moment in window:
            time.sleep(max(0.0, moment - time.monotonic()))
            server.append(cpu_seconds(proc.pid) if proc is not None else None)
            machine.append(machine_cpu_seconds())
        stats = Stats()
        for pipe in pipes:
            if not pipe.poll(GRACE + 30):
                fail(f"{target.name}: a worker did not report its figures")
            result = pipe.recv()
            if isinstance(result, str):
                fail(f"{target.name}: {result}")
            stats.merge(result)
        for worker in workers:
            worker.join(10)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(5)
    server_cpu = other_cpu = None
    if server[0] is not None and server[1] is not None:
        server_cpu = server[1] - server[0]
    if machine[0] is not None and machine[1] is not None:
        other_cpu = max(0.0, machine[1] - machine[0] - (server_cpu or 0.0) - stats.cpu_seconds)
    return stats, server_cpu, other_cpu


def imaplib_appends(
    target: Target, user: str, password: str, count: int, seed: int
) -> tuple[float, int]:
    """APPEND `count` ~2 KB messages with stdlib imaplib; return the rate and the failures.

    One connection, with no mailbox selected (as a client filing sent mail would); STATUS before
    and after checks every message arrived.
    """
    message = make_message(random.Random(seed), 2048)
    imap = imaplib.IMAP4(target.host, target.port, timeout=30)
    try:
        imap.login(user, password)

        def messages() -> int:
            typ, data = imap.status("INBOX", "(MESSAGES)")
            line = data[0]
            if typ != "OK" or not isinstance(line, bytes):
                fail(f"{target.name}: imaplib STATUS failed: {typ} {data!r}")
            return int(line.rsplit(b"MESSAGES", 1)[1].strip(b" ()"))

        before = messages()
        failures = 0
        start = time.perf_counter()
        for _ in range(count):
            try:
                typ, _ = imap.append("INBOX", "", "", message)
            except imaplib.IMAP4.error:
                typ = "BAD"
            failures += typ != "OK"
        elapsed = time.perf_counter() - start
        after = messages()
        if after != before + count - failures:
            fail(f"{target.name}: {count - failures} imaplib APPENDs OK, INBOX {before} -> {after}")
        imap.logout()
    finally:
        with contextlib.suppress(OSError):
            imap.shutdown()
    return (count - failures) / elapsed, failures


def measure(target: Target, args: argparse.Namespace, log_dir: Path) -> Result:
    """Start `target`, pre-fill, run the load and the imaplib APPENDs, stop it."""
    user, password = args.user.split(":", 1)
    with running(target, log_dir) as proc:
        progress(f"{target.name}: pre-filling INBOX with {args.prefill} messages")
        mailbox = asyncio.run(prefill(target, user, password, args.prefill, args.seed))
        stats, server_cpu, other_cpu = run_load(target, proc, args, mailbox[-1])
        mailbox.append(asyncio.run(mailbox_size(target, user, password)))
        result = Result(target, args.seconds, stats, mailbox, server_cpu, other_cpu)
        if args.imaplib_appends:
            progress(f"{target.name}: imaplib APPENDing {args.imaplib_appends} messages")
            result.imaplib_rate, result.imaplib_errors = imaplib_appends(
                target, user, password, args.imaplib_appends, args.seed
            )
    return result


# -- report ------------------------------------------------------------------------------------


def percentile_ms(values: list[float], q: float) -> float | None:
    """Return the `q` quantile of sorted `values` (nearest rank) in ms, None when empty."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))] * 1000


def summary(result: Result, imaplib_rate: float | None) -> dict[str, Any]:
    """Return one server's figures as JSON-ready data (latencies in milliseconds)."""
    window = result.seconds
    latency: dict[str, dict[str, float | int | None]] = {}
    everything: list[float] = []
    for kind in KINDS:
        values = sorted(result.stats.latencies[kind])
        everything += values
        latency[kind] = {
            "count": len(values),
            "per_second": len(values) / window,
            "p50_ms": percentile_ms(values, 0.5),
            "p99_ms": percentile_ms(values, 0.99),
            "errors": result.stats.errors[kind],
        }
    everything.sort()
    latency["all"] = {
        "count": len(everything),
        "per_second": result.rate,
        "p50_ms": percentile_ms(everything, 0.5),
        "p99_ms": percentile_ms(everything, 0.99),
        "errors": result.errors,
    }

    def percent(cpu: float | None) -> float | None:
        return None if cpu is None else cpu / window * 100

    return {
        "server": result.target.name,
        "version": result.target.version,
        "command": result.target.command(),
        "commands": result.commands,
        "commands_per_second": result.rate,
        "errors": result.errors,
        "connect_errors": result.stats.errors["connect"],
        "unfinished_sessions": result.stats.unfinished,
        "error_samples": result.stats.error_samples,
        "fetch_missing_messages": {
            "headers": result.stats.anomalies["FETCH headers"],
            "body": result.stats.anomalies["FETCH body"],
        },
        "search_without_result": result.stats.anomalies["SEARCH"],
        "latency": latency,
        "mailbox_sizes": result.mailbox,
        "received_mb_per_second": result.stats.octets_in / 1e6 / window,
        "server_cpu_percent": percent(result.server_cpu),
        "commands_per_server_cpu_second": (
            result.commands / result.server_cpu if result.server_cpu else None
        ),
        "load_generator_cpu_percent": percent(result.stats.cpu_seconds),
        "other_cpu_percent": percent(result.other_cpu),
        "imaplib_appends_per_second": imaplib_rate,
        "imaplib_append_errors": result.imaplib_errors,
    }


def print_result(data: dict[str, Any], args: argparse.Namespace) -> None:
    """Print one server's figures as text."""
    server_cpu, other_cpu = data["server_cpu_percent"], data["other_cpu_percent"]
    sizes = data["mailbox_sizes"]
    print(
        f"{data['server']} {data['version']}: {data['commands_per_second']:,.0f} commands/s "
        f"({data['commands']} in {args.seconds:g} s), errors: {data['errors']}"
    )
    others = "n/a" if other_cpu is None else f"{other_cpu:.0f}%"
    if server_cpu is None:  # not started here: it is one of the other processes
        cpu, others = "not known", f"{others} (the server's included)"
    else:
        per_cpu = data["commands_per_server_cpu_second"]
        cpu = f"{server_cpu:.0f}% ({per_cpu:,.0f} commands per CPU-second)"
    print(
        f"  CPU in the window (100% = one core): server {cpu}, load generator "
        f"{data['load_generator_cpu_percent']:.0f}%, other processes {others}"
    )
    print(
        f"  received {data['received_mb_per_second']:.1f} MB/s; INBOX {sizes[0]} at the start, "
        f"{sizes[1]} pre-filled, {sizes[2]} after the load"
    )
    print(f"  {'command':<14}{'count':>8}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind, row in data["latency"].items():
        p50, p99 = (f"{v:.2f}" if v is not None else "-" for v in (row["p50_ms"], row["p99_ms"]))
        print(
            f"  {kind:<14}{row['count']:>8}{row['per_second']:>8.0f}{p50:>9}{p99:>9}"
            f"{row['errors']:>8}"
        )
    if data["connect_errors"]:
        print(f"  failed connections: {data['connect_errors']}")
    if data["unfinished_sessions"]:
        print(f"  sessions with no reply {GRACE:g} s after the end: {data['unfinished_sessions']}")
    for sample in data["error_samples"]:
        print(f"  error: {sample}")
    missing = data["fetch_missing_messages"]
    if missing["headers"] or missing["body"]:
        print(
            f"  FETCH OK with messages missing: {missing['headers']} headers, {missing['body']} "
            "body (messages another session expunged: see bench/README.md)"
        )
    if data["search_without_result"]:
        print(f"  SEARCH OK without a SEARCH response: {data['search_without_result']}")
    if server_cpu is not None and server_cpu < 85:
        print("  note: the server used less than a core: something else held it back")
    if server_cpu is not None and other_cpu is not None and other_cpu > 20:
        print("  note: other processes competed for the CPU: figures are disturbed (see --rounds)")
    if data["imaplib_appends_per_second"] is not None:
        errors = data["imaplib_append_errors"]
        print(
            f"  imaplib APPEND of {args.imaplib_appends} 2 KB messages, one connection: "
            f"{data['imaplib_appends_per_second']:,.0f} messages/s"
            + (f", {errors} failed" if errors else "")
        )


# -- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Measure the servers asked for and print (or dump as JSON) their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the timed window")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed run before it (s)")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--prefill", type=int, default=200, help="messages APPENDed first")
    parser.add_argument(
        "--reconnect-percent",
        type=float,
        default=1.0,
        help="share of workload steps that LOGOUT and LOGIN again (%%)",
    )
    parser.add_argument(
        "--imaplib-appends", type=int, default=2000, help="imaplib APPENDs (0: skip)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure each server this often; keep the best"
    )
    parser.add_argument(
        "--only", metavar="NAME", help="measure one server: imap-server, pymap or a --target"
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="also measure a server already running on loopback (same --user)",
    )
    parser.add_argument("--user", default="bench:bench-pass", help="NAME:PASSWORD of the user")
    parser.add_argument("--imap-server-cmd", help="command running imap-server (before 'serve')")
    parser.add_argument("--pymap-cmd", help="command running pymap (default: see README)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of messages and steps")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")
    args = parser.parse_args(argv)
    if min(args.sessions, args.workers, args.prefill, args.rounds) < 1 or args.seconds <= 0:
        parser.error("--sessions, --workers, --prefill, --rounds and --seconds must be positive")
    if args.warmup < 0 or args.imaplib_appends < 0:
        parser.error("--warmup and --imaplib-appends must not be negative")
    if not 0 <= args.reconnect_percent <= 100:
        parser.error("--reconnect-percent must be between 0 and 100")
    if ":" not in args.user:
        parser.error("--user must be NAME:PASSWORD")
    args.workers = min(args.workers, args.sessions)
    external = [external_target(spec) for spec in args.target]
    names = ["imap-server", "pymap", *(target.name for target in external)]
    if len(set(names)) != len(names):
        parser.error("--target names must differ from each other and from the servers")
    if args.only is not None and args.only not in names:
        parser.error(f"--only must be one of {', '.join(names)}")

    # SIGTERM (e.g. a CI time-out) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    targets: list[Target] = []
    if args.only in (None, "imap-server"):
        targets.append(imap_server_target(args))
    if args.only in (None, "pymap"):
        targets.append(pymap_target(args))
    targets += [target for target in external if args.only in (None, target.name)]

    settings = {
        key: getattr(args, key)
        for key in ("sessions", "workers", "seconds", "warmup", "prefill", "reconnect_percent")
    } | {"rounds": args.rounds, "seed": args.seed, "cpus": os.cpu_count()}
    if not args.json:
        print(
            f"{args.sessions} sessions from {args.workers} processes, {args.warmup:g} s warm-up "
            f"+ {args.seconds:g} s timed, INBOX pre-filled with {args.prefill} messages, "
            f"{args.reconnect_percent:g}% reconnects, seed {args.seed}, "
            f"best of {args.rounds} round{'s' if args.rounds > 1 else ''}, "
            f"{os.cpu_count()} CPUs"
        )
        sys.stdout.flush()
    best: dict[str, Result] = {}
    imaplib_best: dict[str, float] = {}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="server_load-") as log_dir:
        for number in range(1, args.rounds + 1):
            for target in targets:
                try:
                    result = measure(target, args, Path(log_dir))
                except (ImapError, OSError, imaplib.IMAP4.error) as exc:
                    fail(f"{target.name}: {exc!r}")
                if args.rounds > 1:
                    progress(f"round {number}: {target.name}: {result.rate:,.0f} commands/s")
                kept = best.get(target.name)
                if kept is None or result.rate > kept.rate:
                    best[target.name] = result
                if result.imaplib_rate is not None:
                    rate = max(result.imaplib_rate, imaplib_best.get(target.name, 0.0))
                    imaplib_best[target.name] = rate
                if number == args.rounds:
                    kept = best[target.name]
                    data = summary(kept, imaplib_best.get(target.name))
                    results[target.name] = data
                    if not args.json:
                        print_result(data, args)
                        sys.stdout.flush()

    ratio = cpu_ratio = None
    if "imap-server" in results and "pymap" in results:
        ours, theirs = results["imap-server"], results["pymap"]
        ratio = ours["commands_per_second"] / theirs["commands_per_second"]
        if ours["commands_per_server_cpu_second"] and theirs["commands_per_server_cpu_second"]:
            cpu_ratio = (
                ours["commands_per_server_cpu_second"] / theirs["commands_per_server_cpu_second"]
            )
    if args.json:
        document = {
            "settings": settings,
            "servers": results,
            "ratio": ratio,
            "ratio_per_server_cpu_second": cpu_ratio,
        }
        json.dump(document, sys.stdout, indent=2, allow_nan=False)
        print()
    elif ratio is not None:
        if cpu_ratio is not None:
            print(f"ratio imap-server/pymap commands per server CPU-second: {cpu_ratio:.2f}")
        print(f"ratio imap-server/pymap commands/s: {ratio:.2f}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers and workers are stopped by now
        print("server_load: interrupted", file=sys.stderr)
        sys.exit(130)
