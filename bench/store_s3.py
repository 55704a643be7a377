"""Benchmark: imap-server with the S3 store, standalone and under PostgreSQL, and the memory store.

Starts moto (`imap_store_s3.testing.s3_endpoint`) behind a small counting HTTP proxy of this
script's own (a child process: every request to S3 goes through it and is logged with its
operation and key), a throwaway PostgreSQL, and three ``imap-server serve`` processes: over
``memory://``, over ``s3://bucket/mail?endpoint=<proxy>`` (the standalone store) and over
``postgresql://...?blobs=<s3 URL>`` (PG metadata, bodies in S3), with the same options. Each
fills INBOX with 1,000 messages of 3 to 10 KB. Then:

1. S3 requests per operation (the two S3 stores, one after the other, nothing else running):
   one session runs N of each operation in a row after a warm-up, and the requests the
   store's bucket saw meanwhile are divided by N: APPEND (to another mailbox), UID FETCH of
   one BODY.PEEK[] (of a message not fetched before), UID FETCH 1:1000 (FLAGS ENVELOPE) in
   the already-selected INBOX, SELECT of INBOX (re-selected), UID STORE +FLAGS of one
   message, and the FETCH of one body again with pauses of 0.5 s. Then the session idles a
   few seconds with INBOX selected: the requests it sees then are background (the standalone
   store polls open mailboxes).
2. Rates: 10 concurrent sessions APPENDing, then FETCHing one body each command, on all
   three stores (alternating), with CPU columns and the S3 requests per operation under load.
3. A 100 MB message: on each store, through a fresh server process (the load phases leave
   freed heap in the first one, which would hide what the message costs), APPEND it (the
   client streams the literal in 1 MiB pieces) and FETCH its BODY[] (the client reads and
   discards it in pieces), sampling the server process's VmRSS and VmHWM
   (/proc/PID/status; VmHWM reset through clear_refs).

Run ``python bench/store_s3.py --help`` for the options. The script exits non-zero if a server
could not be run or a check failed. bench/README.md says how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import http.client
import importlib.metadata
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

from server_load import (
    ImapError,
    cpu_seconds,
    log_tail,
    machine_cpu_seconds,
    percentile_ms,
    quote,
    stop,
)
from store_pg import (
    Client,
    checked,
    imap_server_argv,
    login,
    logout,
    message_pool,
    pipelined_append,
    postgres_cpu_seconds,
    redact,
)

COMMAND_TIMEOUT = 60.0  # seconds without a tagged reply before a command counts as failed
BIG_TIMEOUT = 600.0  # seconds for the 100 MB APPEND or FETCH
START_TIMEOUT = 60.0  # seconds for a server to print its "listening on" line
STORES = ("memory", "s3", "pg+s3")
S3_STORES = ("s3", "pg+s3")
OPERATIONS = (
    "APPEND",
    "FETCH body",
    "FETCH 1000 FLAGS ENVELOPE",
    "SELECT",
    "STORE",
    "FETCH body, paused",
)
PAUSE = 0.5  # seconds between the runs of "FETCH body, paused" (a user reading mail)
RATE_PHASES = ("APPEND", "FETCH body")
COUNT_MAILBOX = "Counted"  # where the counted APPENDs go
APPEND_MAILBOX = "Appended"  # where the rate phase's APPENDs go
BIG_MAILBOX = "Big"
MiB = 1024 * 1024
PROXY_PATH = "/__store_s3_bench__/log"
# The targets of the issue (standalone S3 store): S3 requests per operation at most this.
TARGETS = {"APPEND": 3.0, "FETCH body": 1.0, "FETCH 1000 FLAGS ENVELOPE": 2.0}
BIG_TARGET_MB = 32.0  # RSS growth while a 100 MB message goes in, and out


def progress(message: str) -> None:
    """Tell what is going on (stderr, so that stdout has only the figures)."""
    print(f"store_s3: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    """Stop the benchmark with `message` and a non-zero exit status."""
    sys.exit(f"store_s3: {message}")


# -- the counting proxy (runs in a child process: python store_s3.py --proxy UPSTREAM) ---------

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "expect",
    "proxy-connection",
}
_PIECE = 256 * 1024


def s3_operation(method: str, path: str, query: dict[str, list[str]], copy: bool) -> str:
    """Name the S3 operation of a path-style request (``GetObject``, ``UploadPart``...)."""
    has_key = "/" in path.lstrip("/")
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "GET":
        if "uploads" in query:
            return "ListMultipartUploads"
        if "uploadId" in query:
            return "ListParts"
        if not has_key:
            return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        return "GetObject"
    if method == "PUT":
        if "partNumber" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        if not has_key:
            return "CreateBucket"
        return "CopyObject" if copy else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        if "delete" in query:
            return "DeleteObjects"
        return "POST"
    if method == "DELETE":
        if "uploadId" in query:
            return "AbortMultipartUpload"
        return "DeleteObject" if has_key else "DeleteBucket"
    return method


def key_kind(key: str) -> str:
    """Return what a key (under ``mail/``) holds: ``bodies``, ``mailboxes/log``, ``blobs``..."""
    parts = [p for p in key.split("/") if p]
    if parts and parts[0] == "mail":
        parts = parts[1:]
    if not parts:
        return "-"
    if parts[0] in ("mailboxes", "users") and len(parts) > 2:
        return f"{parts[0]}/{parts[2]}"
    return parts[0]


class CountingProxy:
    """A plain HTTP/1.1 proxy to ``upstream`` (moto) logging every request it forwards.

    Bodies stream through in pieces both ways (a 100 MB upload is never held). Each log
    record: ``[bucket, operation, key kind, status, octets up, octets down, conditions]``.
    ``GET PROXY_PATH?since=N`` (answered by the proxy itself) returns the records from N on.
    """

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        assert parts.hostname is not None and parts.port is not None
        self.upstream = (parts.hostname, parts.port)
        self.lock = threading.Lock()
        self.log: list[list[Any]] = []
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.proxy = self  # type: ignore[attr-defined]
        self.server = server

    def handle(self, request: _Handler) -> None:
        split = urllib.parse.urlsplit(request.path)
        if split.path == PROXY_PATH:
            since = int(urllib.parse.parse_qs(split.query).get("since", ["0"])[0])
            with self.lock:
                payload = json.dumps(self.log[since:]).encode()
            request.send_response(200)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
            return
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        path = urllib.parse.unquote(split.path)
        bucket, _, key = path.lstrip("/").partition("/")
        method = request.command
        copy = "x-amz-copy-source" in request.headers
        operation = s3_operation(method, split.path, query, copy)
        if operation.startswith("List") and "prefix" in query:
            key = query["prefix"][0]
        if operation == "GetObject" and "Range" in request.headers:
            operation = "GetObject (range)"
        conditions = ",".join(
            name for name in ("If-None-Match", "If-Match") if name in request.headers
        )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        chunked = request.headers.get("Transfer-Encoding", "").lower() == "chunked"
        length = int(request.headers.get("Content-Length") or 0)
        # A connection of its own per request: nothing stale, nothing shared between threads.
        conn = http.client.HTTPConnection(*self.upstream, timeout=300)
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.forward(
                request, conn, method, headers, chunked, length, operation, bucket, key, conditions
            )
        finally:
            conn.close()

    def forward(
        self,
        request: _Handler,
        conn: http.client.HTTPConnection,
        method: str,
        headers: dict[str, str],
        chunked: bool,
        length: int,
        operation: str,
        bucket: str,
        key: str,
        conditions: str,
    ) -> None:
        """Send `request` to moto on `conn`, its answer back, and log it."""
        up = 0
        conn.putrequest(method, request.path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        elif length or method in ("PUT", "POST"):
            conn.putheader("Content-Length", str(length))
        conn.endheaders()
        if chunked:
            while True:
                size = int(request.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while request.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    conn.send(b"0\r\n\r\n")
                    break
                data = request.rfile.read(size)
                request.rfile.readline()
                up += len(data)
                conn.send(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            left = length
            while left:
                data = request.rfile.read(min(_PIECE, left))
                if not data:
                    break
                left -= len(data)
                up += len(data)
                conn.send(data)
        response = conn.getresponse()
        request.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                request.send_header(name, value)
        down = 0
        declared = response.getheader("Content-Length")
        if method == "HEAD" or response.status in (204, 304):
            request.send_header("Content-Length", declared or "0")
            request.end_headers()
            response.read()
        elif declared is not None:
            request.send_header("Content-Length", declared)
            request.end_headers()
            while True:
                data = response.read(_PIECE)
                if not data:
                    break
                down += len(data)
                request.wfile.write(data)
        else:
            data = response.read()
            down = len(data)
            request.send_header("Content-Length", str(down))
            request.end_headers()
            request.wfile.write(data)
        with self.lock:
            self.log.append(
                [bucket, operation, key_kind(key), response.status, up, down, conditions]
            )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body would
    # wait for the client's delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _any(self) -> None:
        proxy: CountingProxy = self.server.proxy  # type: ignore[attr-defined]
        try:
            proxy.handle(self)
        except OSError:
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any


def proxy_main(upstream: str) -> None:
    """Run the counting proxy until killed; print ``listening on PORT`` first."""
    proxy = CountingProxy(upstream)
    print(f"listening on {proxy.server.server_address[1]}", flush=True)
    proxy.server.serve_forever()


@dataclass(slots=True)
class ProxyHandle:
    """The counting proxy child process, as the benchmark sees it."""

    proc: subprocess.Popen[bytes]
    url: str
    seen: int = 0  # log records fetched so far

    def records(self) -> list[list[Any]]:
        """Return the records logged since the last call."""
        parts = urllib.parse.urlsplit(self.url)
        assert parts.hostname is not None and parts.port is not None
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request("GET", f"{PROXY_PATH}?since={self.seen}")
            records: list[list[Any]] = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        self.seen += len(records)
        return records

    async def arecords(self) -> list[list[Any]]:
        return await asyncio.to_thread(self.records)


@contextlib.contextmanager
def counting_proxy(upstream: str, log_dir: Path) -> Iterator[ProxyHandle]:
    """Run the proxy in front of `upstream` as a child process; stop it on the way out."""
    log = log_dir / "proxy.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--proxy", upstream],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(rb"listening on (\d+)", line)
        if not match:
            fail(f"the counting proxy did not start:\n{log_tail(log)}")
        yield ProxyHandle(proc, f"http://127.0.0.1:{int(match.group(1))}")
    finally:
        stop(proc)


def find_pid(*words: str) -> int | None:
    """Return the PID of a process whose command line has all of `words`."""
    wanted = [w.encode() for w in words]
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(w in argv for w in wanted):
            return int(entry.name)
    return None


# -- servers -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Server:
    """One ``imap-server serve`` process started by the benchmark."""

    name: str
    url: str  # the --store URL, password-free
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    bucket: str | None  # its S3 bucket (None: memory)
    pg_port: int | None  # the port of its PostgreSQL (pg+s3 only)


@contextlib.contextmanager
def serving(
    name: str,
    store_url: str,
    users: Sequence[str],
    log_dir: Path,
    bucket: str | None,
    pg_port: int | None,
) -> Iterator[Server]:
    """Run ``imap-server serve --store URL`` on a free port; stop it on the way out.

    The rate limits are off, and the largest literal is 200 MB (for the 100 MB message); the
    rest of serve's defaults stay.
    """
    argv = [*imap_server_argv(), "serve", "--listen", "127.0.0.1:0", "--store", store_url]
    argv += ["--rate-limit", "0", "--rate-limit-per-address", "0"]
    argv += ["--max-literal-size", str(200 * 1000 * 1000)]
    for user in users:
        argv += ["--user", user]
    log = log_dir / f"{name.replace('+', '_')}.log"
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
        yield Server(name, redact(store_url), proc, port, log, bucket, pg_port)
        if proc.poll() is not None:
            fail(f"{name} died during the run (status {proc.returncode}):\n{log_tail(log)}")
    finally:
        stop(proc)


def s3_available() -> str | None:
    """Return why the S3 stores cannot be measured, None if they can."""
    try:
        import imap_store_pg
        import imap_store_s3
        import imap_store_s3.testing
    except ImportError as exc:
        return f"a store package cannot be imported ({exc})"
    if not hasattr(imap_store_s3, "S3Store") or not hasattr(imap_store_pg, "PgStore"):
        return "imap_store_s3.S3Store or imap_store_pg.PgStore is missing"
    return None


async def prepare_s3(url: str, user: str, password: str) -> None:
    """Add the account to the standalone store at `url`."""
    from imap_store_s3 import open_s3_store

    store = open_s3_store(url)
    await store.start()
    try:
        await store.create_account(user, password)
    finally:
        await store.aclose()


async def prepare_pg(dsn: str, user: str, password: str) -> str:
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


# -- S3 requests per operation -----------------------------------------------------------------


@dataclass(slots=True)
class OpCount:
    """The S3 requests N runs of one operation made (in the store's bucket)."""

    count: int
    seconds: float
    by_kind: collections.Counter[str] = field(default_factory=collections.Counter)
    #: Wall-clock seconds the requests were counted over (pauses included).
    window: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.by_kind.values())

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "seconds": self.seconds,
            "requests": self.requests,
            "per_op": self.requests / self.count,
            "window": self.window,
            "by_kind_per_op": {kind: n / self.count for kind, n in sorted(self.by_kind.items())},
        }


def tally(records: list[list[Any]], bucket: str) -> collections.Counter[str]:
    """Count `records` of `bucket` by ``operation key-kind [conditions] status``."""
    counter: collections.Counter[str] = collections.Counter()
    for rec_bucket, operation, kind, status, _up, _down, conditions in records:
        if rec_bucket != bucket:
            continue
        label = f"{operation} {kind}"
        if conditions:
            label += f" [{conditions}]"
        if not 200 <= status < 300:
            label += f" -> {status}"
        counter[label] += 1
    return counter


async def count_requests(
    server: Server, proxy: ProxyHandle, args: argparse.Namespace
) -> dict[str, Any]:
    """Run each operation N times in one session; return the S3 requests per operation."""
    assert server.bucket is not None
    user, password = args.user.split(":", 1)
    n = args.count
    rng = random.Random(f"{args.seed}-count")
    slow = args.count_slow
    messages = message_pool(args.seed + 7, n + 2, 3000, 10000)
    conn = await login(server.port, user, password, "INBOX")
    results: dict[str, OpCount] = {}
    try:
        if conn.exists != args.prefill:
            raise ImapError(f"{server.name}: INBOX holds {conn.exists}, not {args.prefill}")
        await checked(conn, b"CREATE " + quote(COUNT_MAILBOX))
        # UIDs: INBOX was filled in one go, UIDs 1..prefill. Warm-up and counted FETCHes and
        # STOREs each take UIDs of their own, never fetched or flagged before.
        uids = rng.sample(range(1, args.prefill + 1), 2 * n + slow + 6)
        fetch_uids, store_uids = uids[: n + 2], uids[n + 2 : 2 * n + 4]
        paused_uids = uids[2 * n + 4 :]

        def command(operation: str, i: int) -> tuple[bytes, bytes | None, int]:
            if operation == "APPEND":
                return b"APPEND " + quote(COUNT_MAILBOX), messages[i], 0
            if operation == "FETCH body":
                return b"UID FETCH %d (BODY.PEEK[])" % fetch_uids[i], None, 1
            if operation == "FETCH body, paused":
                return b"UID FETCH %d (BODY.PEEK[])" % paused_uids[i], None, 1
            if operation == "FETCH 1000 FLAGS ENVELOPE":
                return b"UID FETCH 1:%d (FLAGS ENVELOPE)" % args.prefill, None, args.prefill
            if operation == "SELECT":
                return b"SELECT INBOX", None, 0
            return b"UID STORE %d +FLAGS (\\Flagged)" % store_uids[i], None, 0

        for operation in OPERATIONS:
            runs = n if operation in ("APPEND", "FETCH body", "STORE") else slow
            for i in range(2):  # warm-up
                text, literal, _ = command(operation, runs + i)
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    reply = await conn.command(text, literal)
                if reply.status != b"OK":
                    raise ImapError(f"{text[:40]!r} failed: {reply.text!r}")
            await asyncio.sleep(0.3)
            await proxy.arecords()  # forget what came before
            window_start = time.perf_counter()
            elapsed = 0.0  # in the commands (not in the pauses)
            for i in range(runs):
                if operation == "FETCH body, paused":
                    await asyncio.sleep(PAUSE)
                text, literal, want = command(operation, i)
                start = time.perf_counter()
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    reply = await conn.command(text, literal)
                elapsed += time.perf_counter() - start
                if reply.status != b"OK":
                    raise ImapError(f"{text[:40]!r} failed: {reply.text!r}")
                if want and reply.fetches != want:
                    raise ImapError(f"{text[:40]!r}: {reply.fetches} of {want} messages")
            await asyncio.sleep(0.2)  # let stragglers (uploads finishing) land in the log
            records = await proxy.arecords()
            window = time.perf_counter() - window_start
            results[operation] = OpCount(runs, elapsed, tally(records, server.bucket), window)
            progress(
                f"{server.name}: {operation}: {results[operation].requests / runs:.2f} "
                f"S3 requests per operation"
            )
        await proxy.arecords()
        await asyncio.sleep(args.idle)
        idle = tally(await proxy.arecords(), server.bucket)
    finally:
        await logout(conn)
    idle_rate = sum(idle.values()) / args.idle
    operations = {op: result.summary() for op, result in results.items()}
    for summary in operations.values():
        # The store's background requests (its poll of open mailboxes, measured while idle)
        # fall into every counting window; net of them is what the operation itself costs.
        background = idle_rate * summary["window"]
        summary["net_per_op"] = max(0.0, summary["requests"] - background) / summary["count"]
    return {
        "operations": operations,
        "idle_seconds": args.idle,
        "idle_requests": dict(idle),
        "idle_per_second": idle_rate,
    }


# -- rates -------------------------------------------------------------------------------------


@dataclass(slots=True)
class PhaseResult:
    """One operation's figures on one store: latencies in the window, CPU, S3 requests."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    done: int = 0  # commands completed OK, warm-up included
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    anomalies: collections.Counter[str] = field(default_factory=collections.Counter)
    server_cpu: float | None = None
    postgres_cpu: float = 0.0
    s3_cpu: float | None = None
    client_cpu: float = 0.0
    other_cpu: float | None = None
    s3_requests: int | None = None  # in the whole phase, warm-up included (S3 stores)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5 and text not in self.error_samples:
            self.error_samples.append(text[:160])

    def summary(self) -> dict[str, Any]:
        values = sorted(self.latencies)

        def percent(cpu: float | None) -> float | None:
            return None if cpu is None else cpu / self.seconds * 100

        return {
            "count": len(values),
            "per_second": self.rate,
            "p50_ms": percentile_ms(values, 0.5),
            "p99_ms": percentile_ms(values, 0.99),
            "errors": self.errors,
            "error_samples": self.error_samples,
            "anomalies": dict(self.anomalies),
            "server_cpu_percent": percent(self.server_cpu),
            "postgres_cpu_percent": percent(self.postgres_cpu),
            "s3_cpu_percent": percent(self.s3_cpu),
            "load_generator_cpu_percent": percent(self.client_cpu),
            "other_cpu_percent": percent(self.other_cpu),
            "server_cpu_ms_per_op": (
                self.server_cpu / len(values) * 1000
                if values and self.server_cpu is not None
                else None
            ),
            "s3_requests_per_op": (
                self.s3_requests / self.done if self.done and self.s3_requests is not None else None
            ),
        }


def s3_side_cpu(pids: Sequence[int]) -> float | None:
    """CPU seconds of moto and the proxy so far."""
    total = 0.0
    for pid in pids:
        value = cpu_seconds(pid)
        if value is None:
            return None
        total += value
    return total


async def run_phase(
    server: Server,
    phase: str,
    args: argparse.Namespace,
    own: Sequence[Sequence[bytes]],
    proxy: ProxyHandle,
    s3_pids: Sequence[int],
) -> PhaseResult:
    """Run `args.sessions` sessions doing only `phase` for warm-up + `args.seconds`."""
    user, password = args.user.split(":", 1)
    result = PhaseResult(args.seconds)
    conns = await asyncio.gather(
        *(login(server.port, user, password, "INBOX") for _ in range(args.sessions))
    )
    await proxy.arecords()
    go = time.monotonic() + 0.05
    window = (go + args.warmup, go + args.warmup + args.seconds)
    loop = asyncio.get_running_loop()
    marks: list[tuple[float | None, float, float | None, float, float | None]] = []

    def mark() -> None:
        marks.append(
            (
                cpu_seconds(server.proc.pid),
                postgres_cpu_seconds(server.pg_port),
                s3_side_cpu(s3_pids),
                time.process_time(),
                machine_cpu_seconds(),
            )
        )

    loop.call_at(window[0], mark)
    loop.call_at(window[1], mark)

    async def session(number: int, conn: Client) -> None:
        rng = random.Random(f"{args.seed}-{phase}-{number}")
        mine = own[number % len(own)]
        await asyncio.sleep(max(0.0, go - time.monotonic()))
        while time.monotonic() < window[1]:
            if phase == "APPEND":
                message = rng.choice(mine)
                text = b"APPEND %s {%d+}\r\n%s" % (quote(APPEND_MAILBOX), len(message), message)
                want = 0
            else:
                text = b"UID FETCH %d (BODY.PEEK[])" % rng.randint(1, args.prefill)
                want = 1
            start = time.monotonic()
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    reply = await conn.command(text)
            except (ImapError, OSError, TimeoutError) as exc:
                result.error(f"{phase}: {exc!r}")
                return
            end = time.monotonic()
            if reply.status != b"OK":
                result.error(reply.text.decode("ascii", "replace"))
                continue
            result.done += 1
            if want and (reply.fetches != want or reply.literal_octets == 0):
                result.anomalies[f"{phase}: {reply.fetches} of {want} messages"] += 1
            if window[0] <= end <= window[1]:
                result.latencies.append(end - start)

    try:
        await asyncio.gather(*(session(n, c) for n, c in enumerate(conns)))
    finally:
        await asyncio.gather(*(logout(c) for c in conns))
    if server.bucket is not None:
        await asyncio.sleep(0.2)
        result.s3_requests = sum(tally(await proxy.arecords(), server.bucket).values())
    if len(marks) == 2:
        (s0, p0, x0, c0, m0), (s1, p1, x1, c1, m1) = marks
        result.server_cpu = None if s0 is None or s1 is None else s1 - s0
        result.s3_cpu = None if x0 is None or x1 is None else x1 - x0
        if server.bucket is None:
            result.s3_cpu = 0.0
        result.postgres_cpu, result.client_cpu = p1 - p0, c1 - c0
        if m0 is not None and m1 is not None:
            ours = (result.server_cpu or 0.0) + result.postgres_cpu + result.client_cpu
            result.other_cpu = max(0.0, m1 - m0 - ours - (result.s3_cpu or 0.0))
    return result


# -- the 100 MB message ------------------------------------------------------------------------


def big_message(size: int) -> Iterator[bytes]:
    """Yield a `size`-octet message in pieces of about 1 MiB (the same octets every time)."""
    header = (
        b"From: Big Sender <big@example.org>\r\nTo: bench@example.org\r\n"
        b"Subject: a big message\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <big@example.org>\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    line = b"".join(b"%c" % (65 + (i * 7) % 26) for i in range(76)) + b"\r\n"
    piece = line * (MiB // len(line))
    yield header
    left = size - len(header)
    while left > 0:
        chunk = piece[:left]
        left -= len(chunk)
        yield chunk


def vm_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, in octets."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return values


def reset_hwm(pid: int) -> bool:
    """Reset VmHWM of `pid` to its current RSS; False if the kernel does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def read_response_line(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readuntil(b"\r\n")
    return line[:-2]


async def big_transfer(
    server: Server, args: argparse.Namespace, proxy: ProxyHandle
) -> dict[str, Any]:
    """APPEND a `args.big_mb` MB message, then FETCH BODY[] of it; RSS of the server meanwhile."""
    user, password = args.user.split(":", 1)
    size = args.big_mb * 1000 * 1000
    pid = server.proc.pid
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=MiB)
    result: dict[str, Any] = {"size": size}

    async def tagged(tag: bytes) -> bytes:
        while True:
            line = await read_response_line(reader)
            if line.startswith(tag + b" "):
                return line
            if line.endswith(b"}"):  # skip an unexpected literal
                n = int(line[line.rfind(b"{") + 1 : -1])
                await reader.readexactly(n)

    async def simple(tag: bytes, text: bytes) -> None:
        writer.write(tag + b" " + text + b"\r\n")
        line = await tagged(tag)
        if not line.startswith(tag + b" OK"):
            raise ImapError(f"{text[:40]!r} failed: {line!r}")

    peak_sampled = 0
    sampling = True

    async def sampler() -> None:
        nonlocal peak_sampled
        while sampling:
            with contextlib.suppress(OSError):
                peak_sampled = max(peak_sampled, vm_status(pid)["VmRSS"])
            await asyncio.sleep(0.02)

    def begin(what: str) -> dict[str, Any]:
        nonlocal peak_sampled
        hwm_reset = reset_hwm(pid)
        base = vm_status(pid)["VmRSS"]
        peak_sampled = base
        return {"what": what, "baseline": base, "hwm_reset": hwm_reset, "t": time.perf_counter()}

    def end(state: dict[str, Any], records: list[list[Any]]) -> dict[str, Any]:
        status = vm_status(pid)
        peak = max(peak_sampled, status["VmHWM"]) if state["hwm_reset"] else peak_sampled
        requests = tally(records, server.bucket) if server.bucket else {}
        return {
            "seconds": time.perf_counter() - state["t"],
            "baseline_rss": state["baseline"],
            "peak_rss": peak,
            "growth": peak - state["baseline"],
            "after_rss": status["VmRSS"],
            "peak_from": "VmHWM" if state["hwm_reset"] else "VmRSS samples every 20 ms",
            "s3_requests": dict(requests),
        }

    task: asyncio.Task[None] | None = None
    try:
        await read_response_line(reader)  # greeting
        await simple(b"L", b"LOGIN %s %s" % (quote(user), quote(password)))
        await simple(b"C", b"CREATE " + quote(BIG_MAILBOX))
        await simple(b"S", b"SELECT " + quote(BIG_MAILBOX))
        # Warm-up: a small APPEND and FETCH, so that the baseline has what any session costs.
        small = b"Subject: warm-up\r\n\r\nhello\r\n"
        writer.write(b"W APPEND %s {%d+}\r\n%s\r\n" % (quote(BIG_MAILBOX), len(small), small))
        if not (await tagged(b"W")).startswith(b"W OK"):
            raise ImapError("warm-up APPEND failed")
        await simple(b"F", b"UID FETCH 1:* (BODY.PEEK[])")
        await asyncio.sleep(1.0)
        task = asyncio.get_running_loop().create_task(sampler())
        await proxy.arecords()

        # In: a synchronizing literal, written in pieces as the socket drains.
        state = begin("APPEND")
        digest = hashlib.sha256()
        writer.write(b"A APPEND %s {%d}\r\n" % (quote(BIG_MAILBOX), size))
        line = await read_response_line(reader)
        if not line.startswith(b"+"):
            raise ImapError(f"APPEND of {size} octets refused: {line!r}")
        async with asyncio.timeout(BIG_TIMEOUT):
            for piece in big_message(size):
                digest.update(piece)
                writer.write(piece)
                await writer.drain()
            writer.write(b"\r\n")
            line = await tagged(b"A")
        if not line.startswith(b"A OK"):
            raise ImapError(f"APPEND of {size} octets failed: {line!r}")
        await asyncio.sleep(0.3)
        result["in"] = end(state, await proxy.arecords())
        progress(
            f"{server.name}: {args.big_mb} MB in: {result['in']['growth'] / MiB:.1f} MiB RSS growth"
        )
        await asyncio.sleep(1.0)

        # Out: FETCH BODY[] of it, read in pieces of 1 MiB and thrown away.
        writer.write(b"X UID FETCH 2:* (UID)\r\n")  # its UID is the last one
        uid = 0
        while True:
            line = await read_response_line(reader)
            found = re.search(rb"UID (\d+)", line)
            if line.startswith(b"* ") and found:
                uid = max(uid, int(found.group(1)))
            if line.startswith(b"X "):
                break
        state = begin("FETCH")
        received = hashlib.sha256()
        octets = -1
        async with asyncio.timeout(BIG_TIMEOUT):
            writer.write(b"B UID FETCH %d (BODY[])\r\n" % uid)
            while True:
                line = await read_response_line(reader)
                if line.startswith(b"B "):
                    if not line.startswith(b"B OK"):
                        raise ImapError(f"FETCH BODY[] failed: {line!r}")
                    break
                if line.endswith(b"}"):
                    n = int(line[line.rfind(b"{") + 1 : -1])
                    if octets < 0 and b"BODY[]" in line:
                        octets = n
                        while n:
                            data = await reader.read(min(MiB, n))
                            if not data:
                                raise ImapError("connection closed in the literal")
                            received.update(data)
                            n -= len(data)
                    else:
                        await reader.readexactly(n)
        await asyncio.sleep(0.3)
        result["out"] = end(state, await proxy.arecords())
        progress(
            f"{server.name}: {args.big_mb} MB out: {result['out']['growth'] / MiB:.1f} MiB growth"
        )
        result["out"]["octets"] = octets
        result["out"]["intact"] = octets == size and received.digest() == digest.digest()
        writer.write(b"Z LOGOUT\r\n")
    finally:
        sampling = False
        if task is not None:
            await task
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return result


# -- report ------------------------------------------------------------------------------------


def print_counts(counts: dict[str, dict[str, Any]]) -> None:
    """Print the S3-requests-per-operation table of the S3 stores and each one's breakdown."""
    names = list(counts)
    print(
        "S3 requests per operation (one session, N in a row after 2 warm-up runs; "
        f"the paused FETCHes {PAUSE:g} s apart), and ms per command:"
    )
    print(
        f"  {'operation':<28}{'N':>5}"
        + "".join(f"{name + ' req':>12}" for name in names)
        + "".join(f"{name + ' ms':>11}" for name in names)
    )
    for operation in OPERATIONS:
        row = [counts[name]["operations"][operation] for name in names]
        print(
            f"  {operation:<28}{row[0]['count']:>5}"
            + "".join(f"{r['per_op']:>12.2f}" for r in row)
            + "".join(f"{r['seconds'] / r['count'] * 1000:>11.1f}" for r in row)
        )
    for name in names:
        data = counts[name]
        print(f"{name}: requests by operation, key kind [conditional headers] -> error status")
        for operation in OPERATIONS:
            kinds = data["operations"][operation]["by_kind_per_op"]
            text = ", ".join(f"{kind} {n:.2f}" for kind, n in kinds.items()) or "none"
            print(f"  {operation}: {text}")
        idle = ", ".join(f"{k} {v}" for k, v in data["idle_requests"].items()) or "none"
        print(
            f"  idle {data['idle_seconds']:g} s with INBOX selected: "
            f"{data['idle_per_second']:.2f}/s ({idle})"
        )


def print_rates(rates: dict[str, dict[str, dict[str, Any]]], urls: dict[str, str]) -> None:
    """Print the rate table of each store."""
    print(
        "CPU columns: server process, its PostgreSQL, moto + counting proxy, this load "
        "generator, every other process (% of one core over the window); then the server's "
        "CPU ms per operation and S3 requests per operation (whole phase)"
    )
    for name, phases in rates.items():
        print(f"{name} ({urls[name]}):")
        print(
            f"  {'operation':<12}{'count':>7}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
            f"{'server':>8}{'postgres':>10}{'s3':>6}{'bench':>7}{'other':>7}{'ms/op':>7}"
            f"{'S3/op':>7}"
        )
        for phase, row in phases.items():
            p50, p99 = (
                f"{v:.2f}" if v is not None else "-" for v in (row["p50_ms"], row["p99_ms"])
            )
            cpu = [
                "-" if row[key] is None else f"{row[key]:.0f}%"
                for key in (
                    "server_cpu_percent",
                    "postgres_cpu_percent",
                    "s3_cpu_percent",
                    "load_generator_cpu_percent",
                    "other_cpu_percent",
                )
            ]
            ms = row["server_cpu_ms_per_op"]
            s3 = row["s3_requests_per_op"]
            print(
                f"  {phase:<12}{row['count']:>7}{row['per_second']:>8.0f}{p50:>9}{p99:>9}"
                f"{row['errors']:>8}{cpu[0]:>8}{cpu[1]:>10}{cpu[2]:>6}{cpu[3]:>7}{cpu[4]:>7}"
                f"{'-' if ms is None else f'{ms:.2f}':>7}"
                f"{'-' if s3 is None else f'{s3:.2f}':>7}"
            )
            for sample in row["error_samples"]:
                print(f"    error: {sample}")
            for text, count in row["anomalies"].items():
                print(f"    OK but {text}: {count}")


def print_big(big: dict[str, dict[str, Any]], size_mb: int) -> None:
    """Print the RSS figures of the big message."""
    print(
        f"{size_mb} MB message: server RSS (MiB) while it is APPENDed (in) and FETCHed as "
        "BODY[] (out)"
    )
    print(
        f"  {'store':<8}{'dir':<5}{'seconds':>9}{'baseline':>10}{'peak':>9}{'growth':>9}"
        f"{'after':>9}  S3 requests"
    )
    for name, data in big.items():
        for way in ("in", "out"):
            row = data[way]
            requests = ", ".join(f"{k} {v}" for k, v in row["s3_requests"].items()) or "-"
            extra = ""
            if way == "out" and not row["intact"]:
                extra = f" (NOT INTACT: {row['octets']} octets)"
            print(
                f"  {name:<8}{way:<5}{row['seconds']:>9.1f}{row['baseline_rss'] / MiB:>10.1f}"
                f"{row['peak_rss'] / MiB:>9.1f}{row['growth'] / MiB:>9.1f}"
                f"{row['after_rss'] / MiB:>9.1f}  {requests}{extra}"
            )


# -- main --------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """Start everything, count, time and weigh; return the figures."""
    from imap_store_pg.testing import postgres_server
    from imap_store_s3.testing import fresh_bucket, s3_endpoint

    user, password = args.user.split(":", 1)
    with contextlib.ExitStack() as stack:
        progress("starting moto and the counting proxy")
        endpoint = stack.enter_context(s3_endpoint())
        moto_port = urllib.parse.urlsplit(endpoint).port
        proxy = stack.enter_context(counting_proxy(endpoint, log_dir))
        s3_pids = [proxy.proc.pid]
        moto_pid = find_pid("moto.server", str(moto_port)) if moto_port else None
        if moto_pid is not None:
            s3_pids.append(moto_pid)
        progress("starting PostgreSQL (initdb, pg_ctl)")
        dsn = stack.enter_context(postgres_server())

        buckets = {"s3": fresh_bucket(endpoint), "pg+s3": fresh_bucket(endpoint)}
        s3_url = f"s3://{buckets['s3']}/mail?endpoint={proxy.url}&addressing_style=path"
        blob_url = f"s3://{buckets['pg+s3']}/mail?endpoint={proxy.url}&addressing_style=path"
        await prepare_s3(s3_url, user, password)
        pg_url = await prepare_pg(dsn, user, password)
        pg_s3_url = f"{pg_url}{'&' if '?' in pg_url else '?'}blobs=" + urllib.parse.quote(
            blob_url, safe=""
        )
        pg_port = urllib.parse.urlsplit(pg_url).port
        # name: (store URL, --user options, bucket, PostgreSQL port)
        setups: dict[str, tuple[str, list[str], str | None, int | None]] = {
            "memory": ("memory://", [args.user], None, None),
            "s3": (s3_url, [], buckets["s3"], None),
            "pg+s3": (pg_s3_url, [], buckets["pg+s3"], pg_port),
        }
        servers = {
            name: stack.enter_context(serving(name, url, users, log_dir, bucket, port))
            for name, (url, users, bucket, port) in setups.items()
        }

        prefill = message_pool(args.seed, args.prefill, 3000, 10000)
        for name, server in servers.items():
            progress(f"{name}: APPENDing {args.prefill} messages to INBOX")
            start = time.perf_counter()
            await pipelined_append(
                server.port, user, password, "INBOX", prefill, connections=4, batch=25
            )
            progress(f"{name}: filled in {time.perf_counter() - start:.1f} s")
            conn = await login(server.port, user, password, "INBOX")
            try:
                if conn.exists != args.prefill:
                    fail(f"{name}: INBOX holds {conn.exists} messages, not {args.prefill}")
                await checked(conn, b"CREATE " + quote(APPEND_MAILBOX))
            finally:
                await logout(conn)
        await proxy.arecords()

        counts: dict[str, dict[str, Any]] = {}
        for name in S3_STORES:
            progress(f"{name}: counting S3 requests per operation")
            counts[name] = await count_requests(servers[name], proxy, args)

        own = [message_pool(args.seed * 1000 + n, 16, 3000, 10000) for n in range(args.sessions)]
        rates: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in servers}
        for phase in RATE_PHASES:
            for name, server in servers.items():
                result = await run_phase(server, phase, args, own, proxy, s3_pids)
                progress(f"{name}: {phase}: {result.rate:,.0f}/s")
                rates[name][phase] = result.summary()

        big: dict[str, dict[str, Any]] = {}
        if args.big_mb:
            # Each in a fresh server process on the same store: the load phases leave freed
            # heap behind, which a long-running process would reuse and so hide what the big
            # message costs.
            for name, (url, users, bucket, port) in setups.items():
                progress(f"{name}: {args.big_mb} MB message in and out (a fresh process)")
                with serving(f"{name}-big", url, users, log_dir, bucket, port) as fresh:
                    big[name] = await big_transfer(fresh, args, proxy)
        urls = {name: server.url for name, server in servers.items()}
    return {"stores": urls, "s3_requests": counts, "rates": rates, "big": big}


def verdicts(data: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Return the ``target`` lines: the issue's goals against the figures."""
    lines = []
    standalone = data["s3_requests"]["s3"]["operations"]
    parts = []
    for operation, goal in TARGETS.items():
        raw = standalone[operation]["per_op"]
        # At the precision printed: the background subtracted is an average over a window
        # that holds a whole number of polls.
        value = round(standalone[operation]["net_per_op"], 2)
        parts.append(
            f"{operation} {value:.2f} {'<=' if value <= goal else '>'} {goal:g} (raw {raw:.2f})"
        )
    lines.append(
        "targets (s3, S3 requests per operation, net of the background poll that the idle "
        "line measures): " + "; ".join(parts)
    )
    if data["big"]:
        for name, big in data["big"].items():
            parts = []
            for way in ("in", "out"):
                growth = big[way]["growth"] / MiB
                parts.append(
                    f"{way} {growth:.1f} {'<' if growth < BIG_TARGET_MB else '>='} "
                    f"{BIG_TARGET_MB:g} MiB"
                )
            lines.append(f"target ({name}, {args.big_mb} MB RSS growth): " + "; ".join(parts))
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """Measure the three stores and print (or dump as JSON) their figures."""
    if argv is None and sys.argv[1:2] == ["--proxy"]:
        proxy_main(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent sessions")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per phase")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per phase")
    parser.add_argument("--prefill", type=int, default=1000, help="messages in INBOX")
    parser.add_argument("--count", type=int, default=300, help="runs of each counted operation")
    parser.add_argument(
        "--count-slow", type=int, default=20, help="runs of the counted FETCH 1:* and SELECT"
    )
    parser.add_argument(
        "--idle", type=float, default=5.0, help="seconds idle with INBOX selected, counted"
    )
    parser.add_argument("--big-mb", type=int, default=100, help="the big message, MB (0: skip)")
    parser.add_argument("--user", default="bench:bench-pass", help="NAME:PASSWORD of the user")
    parser.add_argument("--seed", type=int, default=1, help="random seed of messages and steps")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")
    args = parser.parse_args(argv)
    if min(args.sessions, args.count, args.count_slow) < 1 or args.seconds <= 0:
        parser.error("--sessions, --count, --count-slow and --seconds must be positive")
    if args.prefill < 2 * args.count + args.count_slow + 6:
        parser.error("--prefill must be at least 2 * --count + --count-slow + 6")
    if args.warmup < 0 or args.big_mb < 0 or args.idle <= 0:
        parser.error("--warmup and --big-mb must not be negative, --idle positive")
    if ":" not in args.user:
        parser.error("--user must be NAME:PASSWORD")
    why = s3_available()
    if why is not None:
        fail(why)

    # SIGTERM (e.g. a CI time-out) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        version = importlib.metadata.version("imap-server")
    except importlib.metadata.PackageNotFoundError:
        version = "(source tree)"
    settings = {
        key: getattr(args, key)
        for key in (
            "sessions",
            "seconds",
            "warmup",
            "prefill",
            "count",
            "count_slow",
            "idle",
            "big_mb",
            "seed",
        )
    } | {"cpus": os.cpu_count()}
    if not args.json:
        print(
            f"imap-server {version}; S3: moto behind a counting proxy; INBOX pre-filled with "
            f"{args.prefill} messages of 3-10 KB; rates: {args.sessions} sessions, "
            f"{args.warmup:g} s warm-up + {args.seconds:g} s per operation; seed {args.seed}, "
            f"{os.cpu_count()} CPUs"
        )
        sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="store_s3-") as log_dir:
        try:
            data = asyncio.run(measure(args, Path(log_dir)))
        except (ImapError, OSError, TimeoutError) as exc:
            fail(repr(exc))
    lines = verdicts(data, args)
    if args.json:
        document = {"settings": settings, "version": version, **data, "targets": lines}
        json.dump(document, sys.stdout, indent=2, allow_nan=False)
        print()
        return
    print_counts(data["s3_requests"])
    print_rates(data["rates"], data["stores"])
    for phase in RATE_PHASES:
        memory = data["rates"]["memory"][phase]["per_second"]
        for name in S3_STORES:
            value = data["rates"][name][phase]["per_second"]
            print(f"ratio {name}/memory {phase}: {value / memory if memory else 0.0:.2f}")
    if data["big"]:
        print_big(data["big"], args.big_mb)
    for line in lines:
        print(line)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers are stopped by now
        print("store_s3: interrupted", file=sys.stderr)
        sys.exit(130)
