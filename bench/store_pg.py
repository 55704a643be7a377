"""Benchmark: imap-server with the PostgreSQL store against the memory store, same load, same run.

Starts a throwaway PostgreSQL (`imap_store_pg.testing.postgres_server`), an empty database
upgraded to the store's schema with one account, and two ``imap-server serve`` processes: one
over ``memory://``, one over that ``postgresql://`` database, with the same options. Then, in
timed phases of their own so that each rate is clean, 10 concurrent sessions (plain asyncio
sockets) run one kind of command each: APPEND, FETCH headers, FETCH bodies, STORE, SEARCH. It
prints the rate and p50/p99 latency of each operation on both stores and the ratios
pg/memory. Last, it fills one mailbox with 100,000 messages and another with 1,000 on each store
and times SELECT and the FETCH of the last 50 messages in both. bench/README.md says what
exactly is measured and how to read it.

Run ``python bench/store_pg.py --help`` for the options. The script exits non-zero if a server
could not be run or a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from server_load import (
    FIRST_NAMES,
    WORDS,
    Connection,
    ImapError,
    Reply,
    cpu_seconds,
    log_tail,
    machine_cpu_seconds,
    make_message,
    percentile_ms,
    quote,
    stop,
)

REPO = Path(__file__).resolve().parents[1]
COMMAND_TIMEOUT = 30.0  # seconds without a tagged reply before a command counts as failed
START_TIMEOUT = 60.0  # seconds for a server to print its "listening on" line
STORES = ("memory", "pg")
PHASES = ("APPEND", "FETCH headers", "FETCH bodies", "STORE", "SEARCH")
APPEND_MAILBOX = "Appended"  # the APPEND phase's mailbox: INBOX keeps its size for the rest
LARGE_MAILBOX = "Large"
SMALL_MAILBOX = "Small"
LAST = 50  # messages the large-mailbox FETCH asks for
META = b"(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"
# The targets of the issue: pg/memory rates at least this, 100k/1k time ratios at most this.
TARGETS = {"APPEND": 0.30, "FETCH headers": 0.50}
LARGE_TARGET = 2.0


def progress(message: str) -> None:
    """Tell what is going on (stderr, so that stdout has only the figures)."""
    print(f"store_pg: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    """Stop the benchmark with `message` and a non-zero exit status."""
    sys.exit(f"store_pg: {message}")


def count_label(n: int) -> str:
    """Return 100000 as ``100k``, 1500 as ``1500``."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


# -- messages ----------------------------------------------------------------------------------


def message_pool(seed: int, count: int, low: int, high: int) -> list[bytes]:
    """Return `count` realistic messages of `low` to `high` octets (deterministic)."""
    rng = random.Random(seed)
    return [make_message(rng, rng.randint(low, high)) for _ in range(count)]


# -- protocol ----------------------------------------------------------------------------------


class Client(Connection):
    """`server_load.Connection`, also keeping the UIDNEXT a SELECT announced."""

    uidnext = 0

    def _untagged(self, first: bytes, octets: int) -> None:
        if first.startswith(b"* OK [UIDNEXT "):
            self.uidnext = int(first[14:].split(b"]", 1)[0])
        super()._untagged(first, octets)


async def login(port: int, user: str, password: str, select: str | None = None) -> Client:
    """Connect, LOGIN and SELECT `select` (if given); fail the benchmark on NO or BAD."""
    conn = await Client.open("127.0.0.1", port)
    assert isinstance(conn, Client)
    commands = [b"LOGIN %s %s" % (quote(user), quote(password))]
    if select is not None:
        commands.append(b"SELECT " + quote(select))
    for text in commands:
        async with asyncio.timeout(COMMAND_TIMEOUT):
            reply = await conn.command(text)
        if reply.status != b"OK":
            conn.close()
            raise ImapError(f"{text.split()[0].decode()} failed: {reply.text!r}")
    return conn


async def logout(conn: Connection) -> None:
    """LOGOUT (errors ignored) and close."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await conn.command(b"LOGOUT")
    conn.close()


async def checked(conn: Connection, text: bytes) -> Reply:
    """Run one command; fail the benchmark unless it is answered OK."""
    async with asyncio.timeout(COMMAND_TIMEOUT):
        reply = await conn.command(text)
    if reply.status != b"OK":
        raise ImapError(f"{text[:40]!r} failed: {reply.text!r}")
    return reply


async def pipelined_append(
    port: int,
    user: str,
    password: str,
    mailbox: str,
    messages: Sequence[bytes],
    connections: int = 4,
    batch: int = 100,
) -> None:
    """APPEND `messages` to `mailbox`, LITERAL+ literals, `batch` commands in flight at once.

    The messages are spread over `connections` connections with no mailbox selected; each
    writes `batch` APPENDs in one go, then reads their `batch` tagged replies, all of which
    must be OK.
    """

    async def one(share: Sequence[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await reader.readline()  # greeting
            writer.write(b"L LOGIN %s %s\r\n" % (quote(user), quote(password)))
            line = await reader.readline()
            while line.startswith(b"* "):
                line = await reader.readline()
            if not line.startswith(b"L OK"):
                raise ImapError(f"LOGIN failed: {line!r}")
            name = quote(mailbox)
            for start in range(0, len(share), batch):
                chunk = share[start : start + batch]
                out = bytearray()
                for message in chunk:
                    out += b"F APPEND %s {%d+}\r\n%s\r\n" % (name, len(message), message)
                writer.write(out)
                await writer.drain()
                done = 0
                while done < len(chunk):
                    line = await reader.readline()
                    if not line:
                        raise ImapError("connection closed during the fill")
                    if line.startswith(b"F "):
                        if not line.startswith(b"F OK"):
                            raise ImapError(f"APPEND failed: {line!r}")
                        done += 1
            writer.write(b"Z LOGOUT\r\n")
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    shares = [messages[i::connections] for i in range(connections)]
    await asyncio.gather(*(one(share) for share in shares if share))


# -- servers -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Server:
    """One ``imap-server serve`` process started by the benchmark."""

    name: str
    url: str  # the --store URL, password-free
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    pg_port: int | None  # the port of its PostgreSQL, None for memory://


def imap_server_argv() -> list[str]:
    """Return the command running imap-server (before ``serve``)."""
    script = Path(sys.executable).parent / "imap-server"
    return [str(script)] if script.exists() else [sys.executable, "-m", "imap_server"]


@contextlib.contextmanager
def serving(name: str, store_url: str, users: Sequence[str], log_dir: Path) -> Iterator[Server]:
    """Run ``imap-server serve --store URL`` on a free port; stop it on the way out.

    The rate limits are off (every session comes from 127.0.0.1, and the fill goes faster than
    the per-connection limit); the rest of serve's default pipeline stays on.
    """
    argv = [*imap_server_argv(), "serve", "--listen", "127.0.0.1:0", "--store", store_url]
    argv += ["--rate-limit", "0", "--rate-limit-per-address", "0"]
    for user in users:
        argv += ["--user", user]
    log = log_dir / f"{name}.log"
    progress(f"starting {name}: imap-server serve --store {redact(store_url)} (log {log})")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        pattern = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
        while True:
            match = pattern.search(log.read_bytes())
            if match:
                port = int(match.group(1))
                break
            if proc.poll() is not None:
                fail(f"{name} exited with status {proc.returncode}:\n{log_tail(log)}")
            if time.monotonic() > deadline:
                fail(f"{name} did not listen within {START_TIMEOUT:.0f} s:\n{log_tail(log)}")
            time.sleep(0.05)
        pg_port = urlsplit(store_url).port if store_url.startswith("postgres") else None
        yield Server(name, redact(store_url), proc, port, log, pg_port)
        if proc.poll() is not None:
            fail(f"{name} died during the run (status {proc.returncode}):\n{log_tail(log)}")
    finally:
        stop(proc)


def redact(url: str) -> str:
    """Return `url` without a password."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)


def postgres_cpu_seconds(port: int | None) -> float:
    """Return the CPU time (user + system) of the PostgreSQL listening on `port` so far.

    That is its postmaster (the ``postgres`` process whose command line has ``port=PORT``) and
    the postmaster's children (backends, writers, autovacuum); 0 if `port` is None or none is
    found. Children that exited are not counted.
    """
    if port is None:
        return 0.0
    stats: dict[int, list[str]] = {}
    postmaster = None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            name, _, rest = stat.partition(" (")[2].partition(") ")
            if not name.startswith("postgres"):
                continue
            stats[int(entry.name)] = rest.split()
            if postmaster is None:
                argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
                if f"port={port}".encode() in argv:
                    postmaster = int(entry.name)
        except (OSError, IndexError):
            continue
    ticks = 0
    for pid, fields in stats.items():
        if pid == postmaster or int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# -- PostgreSQL --------------------------------------------------------------------------------


def pg_available() -> str | None:
    """Return why the PostgreSQL store cannot be measured, None if it can."""
    try:
        import imap_store_pg
        import imap_store_pg.testing
    except ImportError as exc:
        return f"imap_store_pg cannot be imported ({exc})"
    if not hasattr(imap_store_pg, "PgStore"):
        return "imap_store_pg has no PgStore yet"
    return None


async def prepare_pg_database(dsn: str, user: str, password: str) -> str:
    """Create a fresh database on `dsn`, upgrade it, add the account; return its URL."""
    from imap_store_pg import PgStore
    from imap_store_pg.testing import fresh_database

    url = await fresh_database(dsn)
    store = PgStore(url)
    await store.upgrade()
    await store.start()
    try:
        await store.create_account(user, password)
    finally:
        await store.aclose()
    return url


async def direct_fill(url: str, user: str, mailbox: str, messages: Sequence[bytes]) -> None:
    """Add `messages` to `mailbox` through a `PgStore` in this process, 8 appends at once.

    Each pool message is parsed once (`parse_message`), as the server would for every APPEND.
    """
    from imap_server.message import parse_message
    from imap_store_pg import PgStore

    parsed = {id(m): parse_message(m) for m in messages}
    store = PgStore(url)
    await store.start()
    try:
        box = await (await store.open_user(user)).get_mailbox(mailbox)
        queue = iter(messages)

        async def worker() -> None:
            for message in queue:
                await box.append(message, parsed=parsed[id(message)])

        await asyncio.gather(*(worker() for _ in range(8)))
    finally:
        await store.aclose()


# -- load phases -------------------------------------------------------------------------------


@dataclass(slots=True)
class PhaseResult:
    """One operation's figures on one store in one round.

    Attributes:
        latencies: Seconds per command completed OK inside the window.
        errors: Failed commands (NO, BAD, no reply in time, connection lost).
        error_samples: A few of their texts.
        anomalies: OK replies without the data they should carry.
        server_cpu: CPU seconds of the server process in the window (None: unknown).
        postgres_cpu: CPU seconds of the benchmark's PostgreSQL in the window (pg only).
        client_cpu: CPU seconds of this load generator in the window.
        other_cpu: CPU seconds every other process on the machine used (None: unknown).
    """

    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    anomalies: Counter[str] = field(default_factory=Counter)
    server_cpu: float | None = None
    postgres_cpu: float = 0.0
    client_cpu: float = 0.0
    other_cpu: float | None = None

    @property
    def rate(self) -> float:
        """Commands per second."""
        return len(self.latencies) / self.seconds

    def error(self, text: str) -> None:
        """Count one failed command."""
        self.errors += 1
        if len(self.error_samples) < 5 and text not in self.error_samples:
            self.error_samples.append(text[:160])


async def run_phase(
    server: Server,
    phase: str,
    args: argparse.Namespace,
    messages: Sequence[Sequence[bytes]],
    round_number: int,
) -> PhaseResult:
    """Run `args.sessions` sessions doing only `phase` for warm-up + `args.seconds`."""
    user, password = args.user.split(":", 1)
    result = PhaseResult(args.seconds)
    sessions = args.sessions
    conns = await asyncio.gather(
        *(login(server.port, user, password, "INBOX") for _ in range(sessions))
    )
    size = args.prefill
    go = time.monotonic() + 0.05
    window = (go + args.warmup, go + args.warmup + args.seconds)
    loop = asyncio.get_running_loop()
    marks: list[tuple[float | None, float, float, float | None]] = []

    def mark() -> None:
        server_cpu = cpu_seconds(server.proc.pid)
        marks.append(
            (
                server_cpu,
                postgres_cpu_seconds(server.pg_port),
                time.process_time(),
                machine_cpu_seconds(),
            )
        )

    loop.call_at(window[0], mark)  # loop.time() is time.monotonic()
    loop.call_at(window[1], mark)

    async def session(number: int, conn: Client) -> None:
        rng = random.Random(f"{args.seed}-{phase}-{round_number}-{number}")
        own = messages[number % len(messages)]
        append_to = quote(APPEND_MAILBOX)
        await asyncio.sleep(max(0.0, go - time.monotonic()))
        while time.monotonic() < window[1]:
            if phase == "APPEND":
                message = rng.choice(own)
                text = b"APPEND %s {%d+}\r\n%s" % (append_to, len(message), message)
                want = 0
            elif phase == "FETCH headers":
                first = rng.randint(1, size - 9)
                text = b"UID FETCH %d:%d (BODY.PEEK[HEADER])" % (first, first + 9)
                want = 10
            elif phase == "FETCH bodies":
                text = b"UID FETCH %d (BODY.PEEK[])" % rng.randint(1, size)
                want = 1
            elif phase == "STORE":
                sign = b"+" if rng.random() < 0.5 else b"-"
                text = b"UID STORE %d %sFLAGS (\\Seen)" % (rng.randint(1, size), sign)
                want = 0
            else:
                choice = rng.randrange(3)
                if choice == 0:
                    text = b"SEARCH UNSEEN"
                elif choice == 1:
                    text = b'SEARCH FROM "%s"' % rng.choice(FIRST_NAMES).lower().encode()
                else:
                    text = b'SEARCH SUBJECT "%s"' % rng.choice(WORDS[:40]).encode()
                want = -1
            start = time.monotonic()
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    reply = await conn.command(text)
            except (ImapError, OSError) as exc:
                result.error(f"{phase}: {exc!r}")
                return
            end = time.monotonic()
            if reply.status != b"OK":
                result.error(reply.text.decode("ascii", "replace"))
                continue
            if want > 0 and (reply.fetches != want or reply.literal_octets == 0):
                result.anomalies[f"{phase}: {reply.fetches} of {want} messages"] += 1
            elif want < 0 and reply.search_hits < 0:
                result.anomalies["SEARCH without a SEARCH response"] += 1
            if window[0] <= end <= window[1]:
                result.latencies.append(end - start)

    try:
        await asyncio.gather(*(session(n, c) for n, c in enumerate(conns)))
    finally:
        await asyncio.gather(*(logout(c) for c in conns))
    if len(marks) == 2:
        (s0, p0, c0, m0), (s1, p1, c1, m1) = marks
        result.server_cpu = None if s0 is None or s1 is None else s1 - s0
        result.postgres_cpu, result.client_cpu = p1 - p0, c1 - c0
        if m0 is not None and m1 is not None:
            ours = (result.server_cpu or 0.0) + result.postgres_cpu + result.client_cpu
            result.other_cpu = max(0.0, m1 - m0 - ours)
    return result


# -- large mailbox -----------------------------------------------------------------------------


@dataclass(slots=True)
class LargeResult:
    """SELECT and last-50 FETCH times in the large and the small mailbox of one store.

    Attributes:
        fill_seconds: How long filling both mailboxes took.
        fill_method: How they were filled.
        times: Seconds per measurement (``SELECT large``, ``FETCH small`` ...), every repetition.
    """

    fill_seconds: float
    fill_method: str
    times: dict[str, list[float]] = field(default_factory=dict)

    def median_ms(self, what: str) -> float:
        """Return the median of `what`, in milliseconds."""
        return statistics.median(self.times[what]) * 1000

    def ratio(self, what: str) -> float:
        """Return the large mailbox's median time of `what` over the small one's."""
        return self.median_ms(f"{what} large") / self.median_ms(f"{what} small")


async def time_large(server: Server, args: argparse.Namespace, result: LargeResult) -> None:
    """Time SELECT, FETCH and UID FETCH of the last 50 messages, UNSELECT, in both mailboxes.

    The two mailboxes alternate. The first round of each is kept apart (``first SELECT
    large`` ...): it is the first look at the mailbox in the server process (caches warm up).
    """
    user, password = args.user.split(":", 1)
    conn = await login(server.port, user, password)
    sizes = {"large": args.large, "small": args.small}
    names = {"large": LARGE_MAILBOX, "small": SMALL_MAILBOX}
    try:
        for repetition in range(args.repeat + 1):
            for which in ("large", "small"):
                size = sizes[which]
                name = names[which]
                for what in ("SELECT", "FETCH", "UID FETCH", "UNSELECT"):
                    want = LAST
                    if what == "SELECT":
                        text, want = b"SELECT " + quote(name), 0
                    elif what == "FETCH":
                        text = b"FETCH %d:%d %s" % (size - LAST + 1, size, META)
                    elif what == "UID FETCH":
                        last = conn.uidnext - 1
                        text = b"UID FETCH %d:%d %s" % (last - LAST + 1, last, META)
                    else:
                        text, want = b"UNSELECT", 0
                    start = time.perf_counter()
                    reply = await checked(conn, text)
                    elapsed = time.perf_counter() - start
                    if what == "SELECT" and conn.exists != size:
                        raise ImapError(f"{name} holds {conn.exists} messages, not {size}")
                    if want and reply.fetches != want:
                        raise ImapError(f"{text[:40]!r}: {reply.fetches} of {want} messages")
                    key = f"{what} {which}" if repetition else f"first {what} {which}"
                    result.times.setdefault(key, []).append(elapsed)
    finally:
        await logout(conn)


async def vacuum_analyze(url: str) -> None:
    """``VACUUM (ANALYZE)`` the database at ``url`` (outside a transaction, as it must be)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def fill_large(
    server: Server, args: argparse.Namespace, pg_url: str | None, pool: Sequence[bytes]
) -> LargeResult:
    """Create and fill the large and the small mailbox (`pg_url`: directly, in-process)."""
    user, password = args.user.split(":", 1)
    conn = await login(server.port, user, password)
    try:
        for name in (LARGE_MAILBOX, SMALL_MAILBOX):
            await checked(conn, b"CREATE " + quote(name))
    finally:
        await logout(conn)
    start = time.perf_counter()
    for name, count in ((LARGE_MAILBOX, args.large), (SMALL_MAILBOX, args.small)):
        messages = [pool[i % len(pool)] for i in range(count)]
        progress(f"{server.name}: filling {name} with {count} messages")
        if pg_url is not None and args.fill == "direct":
            await direct_fill(pg_url, user, name, messages)
        else:
            await pipelined_append(server.port, user, password, name, messages)
    elapsed = time.perf_counter() - start
    if pg_url is not None:
        # A bulk load of 100,000 rows sets off autovacuum on messages and bodies, which would
        # otherwise run (2 cores: beside the server and the load) during the timings below;
        # an operator runs the same after a bulk import.
        progress(f"{server.name}: VACUUM ANALYZE after the fill")
        await vacuum_analyze(pg_url)
    if pg_url is not None and args.fill == "direct":
        method = "PgStore.append in this process, 8 at once"
    else:
        method = "pipelined LITERAL+ APPENDs over IMAP, 4 connections x 100 in flight"
    return LargeResult(elapsed, method)


# -- report ------------------------------------------------------------------------------------


def phase_summary(result: PhaseResult) -> dict[str, Any]:
    """Return one phase's figures as JSON-ready data (latencies in ms, CPU in % of a core)."""
    values = sorted(result.latencies)

    def percent(cpu: float | None) -> float | None:
        return None if cpu is None else cpu / result.seconds * 100

    return {
        "count": len(values),
        "per_second": result.rate,
        "p50_ms": percentile_ms(values, 0.5),
        "p99_ms": percentile_ms(values, 0.99),
        "errors": result.errors,
        "error_samples": result.error_samples,
        "anomalies": dict(result.anomalies),
        "server_cpu_percent": percent(result.server_cpu),
        "postgres_cpu_percent": percent(result.postgres_cpu),
        "load_generator_cpu_percent": percent(result.client_cpu),
        "other_cpu_percent": percent(result.other_cpu),
        "server_cpu_ms_per_op": (
            result.server_cpu / len(values) * 1000
            if values and result.server_cpu is not None
            else None
        ),
        "postgres_cpu_ms_per_op": result.postgres_cpu / len(values) * 1000 if values else None,
    }


def large_summary(result: LargeResult) -> dict[str, Any]:
    """Return one store's large-mailbox figures as JSON-ready data (ms)."""
    return {
        "fill_seconds": result.fill_seconds,
        "fill_method": result.fill_method,
        "median_ms": {what: result.median_ms(what) for what in sorted(result.times)},
        "ratio_select": result.ratio("SELECT"),
        "ratio_fetch": result.ratio("FETCH"),
        "ratio_uid_fetch": result.ratio("UID FETCH"),
    }


def per_op(value: float | None) -> str:
    """Format CPU milliseconds per operation."""
    return "-" if value is None else f"{value:.2f}"


def print_phases(name: str, url: str, phases: dict[str, dict[str, Any]]) -> None:
    """Print one store's phase table (CPU: % of one core in the window, then ms per op)."""
    print(f"{name} ({url}):")
    print(
        f"  {'operation':<14}{'count':>8}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'server':>8}{'postgres':>10}{'bench':>7}{'other':>7}{'ms/op':>7}{'pg ms/op':>10}"
    )
    for phase, row in phases.items():
        p50, p99 = (f"{v:.2f}" if v is not None else "-" for v in (row["p50_ms"], row["p99_ms"]))
        cpu = [
            "-" if row[key] is None else f"{row[key]:.0f}%"
            for key in (
                "server_cpu_percent",
                "postgres_cpu_percent",
                "load_generator_cpu_percent",
                "other_cpu_percent",
            )
        ]
        print(
            f"  {phase:<14}{row['count']:>8}{row['per_second']:>8.0f}{p50:>9}{p99:>9}"
            f"{row['errors']:>8}{cpu[0]:>8}{cpu[1]:>10}{cpu[2]:>7}{cpu[3]:>7}"
            f"{per_op(row['server_cpu_ms_per_op']):>7}{per_op(row['postgres_cpu_ms_per_op']):>10}"
        )
        for sample in row["error_samples"]:
            print(f"    error: {sample}")
        for text, count in row["anomalies"].items():
            print(f"    OK but {text}: {count}")


def print_large(name: str, data: dict[str, Any], args: argparse.Namespace) -> None:
    """Print one store's large-mailbox figures."""
    big, small = count_label(args.large), count_label(args.small)
    ms = data["median_ms"]
    print(
        f"{name}: filled {args.large + args.small} messages in {data['fill_seconds']:.1f} s "
        f"({(args.large + args.small) / data['fill_seconds']:,.0f}/s; {data['fill_method']})"
    )
    print(f"  {'median ms':<22}{big:>10}{small:>10}{'ratio':>8}")
    for what in ("SELECT", "FETCH", "UID FETCH", "UNSELECT"):
        label = what if what in ("SELECT", "UNSELECT") else f"{what} last {LAST}"
        large, little = ms[f"{what} large"], ms[f"{what} small"]
        print(f"  {label:<22}{large:>10.2f}{little:>10.2f}{large / little:>8.2f}")
    large, little = ms["first SELECT large"], ms["first SELECT small"]
    print(f"  {'first SELECT (cold)':<22}{large:>10.2f}{little:>10.2f}{large / little:>8.2f}")


# -- main --------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """Start the servers, run the phases and the large-mailbox part; return the figures."""
    stores = [s for s in STORES if args.only in (None, s)]
    with contextlib.ExitStack() as stack:
        servers: dict[str, Server] = {}
        pg_url: str | None = None
        if "memory" in stores:
            servers["memory"] = stack.enter_context(
                serving("memory", "memory://", [args.user], log_dir)
            )
        if "pg" in stores:
            from imap_store_pg.testing import postgres_server

            progress("starting PostgreSQL (initdb, pg_ctl)")
            dsn = stack.enter_context(postgres_server())
            user, password = args.user.split(":", 1)
            pg_url = await prepare_pg_database(dsn, user, password)
            servers["pg"] = stack.enter_context(serving("pg", pg_url, [], log_dir))

        user, password = args.user.split(":", 1)
        prefill = message_pool(args.seed, args.prefill, 2000, 5000)
        for name, server in servers.items():
            progress(f"{name}: APPENDing {args.prefill} messages to INBOX")
            await pipelined_append(server.port, user, password, "INBOX", prefill)
            conn = await login(server.port, user, password, "INBOX")
            try:
                if conn.exists != args.prefill:
                    fail(f"{name}: INBOX holds {conn.exists} messages, not {args.prefill}")
                await checked(conn, b"CREATE " + quote(APPEND_MAILBOX))
            finally:
                await logout(conn)
        own = [message_pool(args.seed * 1000 + n, 16, 2000, 5000) for n in range(args.sessions)]

        best: dict[str, dict[str, PhaseResult]] = {name: {} for name in servers}
        for number in range(1, args.rounds + 1):
            for phase in PHASES:
                # Stores alternate phase by phase, so that both see the same disturbances.
                for name, server in servers.items():
                    result = await run_phase(server, phase, args, own, number)
                    progress(f"round {number}: {name}: {phase}: {result.rate:,.0f}/s")
                    kept = best[name].get(phase)
                    if kept is None or result.rate > kept.rate:
                        best[name][phase] = result

        large: dict[str, LargeResult] = {}
        if args.large:
            pool = message_pool(args.seed + 1, 1000, 1000, 4000)
            for name, server in servers.items():
                large[name] = await fill_large(server, args, pg_url if name == "pg" else None, pool)
                progress(f"{name}: timing SELECT and FETCH in {LARGE_MAILBOX} and {SMALL_MAILBOX}")
                await time_large(server, args, large[name])
        urls = {name: server.url for name, server in servers.items()}

    return {
        "servers": {
            name: {
                "store": urls[name],
                "phases": {phase: phase_summary(best[name][phase]) for phase in PHASES},
                "large": large_summary(large[name]) if name in large else None,
            }
            for name in urls
        }
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Measure both stores and print (or dump as JSON) their figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent sessions")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per phase")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per phase")
    parser.add_argument("--prefill", type=int, default=2000, help="messages in INBOX")
    parser.add_argument("--large", type=int, default=100_000, help="the large mailbox (0: skip)")
    parser.add_argument("--small", type=int, default=1000, help="the small mailbox")
    parser.add_argument("--repeat", type=int, default=20, help="SELECTs timed per mailbox")
    parser.add_argument(
        "--fill",
        choices=("direct", "imap"),
        default="direct",
        help="how the PG mailboxes are filled: PgStore in this process, or pipelined APPENDs",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each phase; the best one is kept"
    )
    parser.add_argument("--only", choices=STORES, help="measure one store")
    parser.add_argument("--user", default="bench:bench-pass", help="NAME:PASSWORD of the user")
    parser.add_argument("--seed", type=int, default=1, help="random seed of messages and steps")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")
    args = parser.parse_args(argv)
    if min(args.sessions, args.rounds, args.repeat) < 1 or args.seconds <= 0:
        parser.error("--sessions, --rounds, --repeat and --seconds must be positive")
    if args.prefill < 10 or args.warmup < 0 or args.large < 0:
        parser.error("--prefill must be at least 10; --warmup and --large not negative")
    if args.large and not LAST <= args.small <= args.large:
        parser.error(f"--small must be between {LAST} and --large")
    if ":" not in args.user:
        parser.error("--user must be NAME:PASSWORD")
    if args.only != "memory":
        why = pg_available()
        if why is not None:
            fail(f"{why}; run with --only memory meanwhile")

    # SIGTERM (e.g. a CI time-out) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        version = importlib.metadata.version("imap-server")
    except importlib.metadata.PackageNotFoundError:
        version = "(source tree)"
    settings = {
        key: getattr(args, key)
        for key in ("sessions", "seconds", "warmup", "prefill", "large", "small", "repeat")
    } | {"fill": args.fill, "rounds": args.rounds, "seed": args.seed, "cpus": os.cpu_count()}
    if not args.json:
        print(
            f"imap-server {version}; {args.sessions} sessions, {args.warmup:g} s warm-up + "
            f"{args.seconds:g} s per operation, INBOX pre-filled with {args.prefill} messages, "
            f"seed {args.seed}, best of {args.rounds} round{'s' if args.rounds > 1 else ''}, "
            f"{os.cpu_count()} CPUs"
        )
        sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="store_pg-") as log_dir:
        try:
            data = asyncio.run(measure(args, Path(log_dir)))
        except (ImapError, OSError) as exc:
            fail(repr(exc))
    servers = data["servers"]
    ratios: dict[str, float] = {}
    if "memory" in servers and "pg" in servers:
        for phase in PHASES:
            memory = servers["memory"]["phases"][phase]["per_second"]
            pg = servers["pg"]["phases"][phase]["per_second"]
            ratios[phase] = pg / memory if memory else 0.0
    document = {"settings": settings, "version": version, **data, "ratios_pg_memory": ratios}
    if args.json:
        json.dump(document, sys.stdout, indent=2, allow_nan=False)
        print()
        return
    print(
        "CPU columns: server process, its PostgreSQL, this load generator, every other process "
        "(% of one core over the window); then the server's and PostgreSQL's CPU ms per operation"
    )
    for name, server in servers.items():
        print_phases(name, server["store"], server["phases"])
    for phase, ratio in ratios.items():
        print(f"ratio pg/memory {phase}: {ratio:.2f}")
    big, small = count_label(args.large), count_label(args.small)
    if args.large:
        print(
            f"large mailbox: {LARGE_MAILBOX} {args.large} messages, {SMALL_MAILBOX} "
            f"{args.small}; median of {args.repeat} (SELECT, FETCH and UID FETCH of the last "
            f"{LAST} {META.decode()}, UNSELECT)"
        )
        for name, server in servers.items():
            print_large(name, server["large"], args)
        for name, server in servers.items():
            suffix = "" if name == "pg" else f" ({name})"
            print(f"ratio {big}/{small} SELECT{suffix}: {server['large']['ratio_select']:.2f}")
            print(
                f"ratio {big}/{small} last-{LAST} FETCH{suffix}: "
                f"{server['large']['ratio_fetch']:.2f}"
            )
    verdicts = [
        f"{phase} {ratios[phase]:.2f} {'>=' if ratios[phase] >= goal else '<'} {goal:.2f}"
        for phase, goal in TARGETS.items()
        if phase in ratios
    ]
    if args.large and "pg" in servers:
        for key, what in (("ratio_select", "SELECT"), ("ratio_fetch", "last-50 FETCH")):
            value = servers["pg"]["large"][key]
            verdicts.append(
                f"{what} {big}/{small} {value:.2f} {'<=' if value <= LARGE_TARGET else '>'} "
                f"{LARGE_TARGET:.0f}"
            )
    if verdicts:
        print("targets (pg): " + "; ".join(verdicts))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers are stopped by now
        print("store_pg: interrupted", file=sys.stderr)
        sys.exit(130)
