"""An ``imap-server serve`` process on S3 killed with SIGKILL while 20 clients APPEND; then
``imap-server gc``.

20 clients APPEND distinct messages (a unique Message-ID each, sizes from a few kB to 200 kB)
in a loop through one server process on a fresh bucket; once at least `ACKED_BEFORE_KILL`
have their tagged OK the process is killed with SIGKILL. A new process on the same bucket must
then serve every acknowledged message byte for byte under the UID its APPENDUID named, no UID
twice, UIDNEXT above every UID; a message whose APPEND was cut off may be there or not, but
only whole.

The bucket is then read with boto3 directly (`inspect_bucket`: the mailbox log replayed, every
body object listed): the log must be whole, every message's body there with its size. A body
no message refers to is an orphan (a body written by an APPEND the kill cut off before its log
entry was claimed), and one more is made on purpose. ``imap-server gc --older-than 0
--dry-run`` (no server running) must count exactly the orphans and delete nothing;
``imap-server gc --older-than 0`` must delete exactly them, and a restarted server must still
serve every message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from imap_server.testing.process import RawClient, ServerProcess
from imap_store_s3 import S3Store, open_s3_store
from imap_store_s3.testing import S3Unavailable, fresh_bucket, s3_endpoint
from imap_store_s3.testing import test_credentials as aws_test_credentials

pytestmark = pytest.mark.slow

USER, PASSWORD = "alice", "secret"
TIMEOUT = 30.0  # bound on any wait for a server's answer (keeps a broken server from hanging)
CLIENTS = 20
ACKED_BEFORE_KILL = 50  # APPENDs acknowledged before the kill
LOAD_TIMEOUT = 60.0  # ...or this many seconds, whichever comes first
GC_TIMEOUT = 120.0  # seconds for an `imap-server gc` run
PREFIX = "mail"  # the store's key prefix in the bucket
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


@dataclass(frozen=True)
class Bucket:
    endpoint: str
    name: str

    @property
    def url(self) -> str:
        """The store URL."""
        return f"s3://{self.name}/{PREFIX}?endpoint={self.endpoint}&addressing_style=path"


@pytest.fixture
def bucket(endpoint: str) -> Bucket:
    """A fresh bucket holding user ``alice`` / ``secret``."""
    aws_test_credentials()
    made = Bucket(endpoint, fresh_bucket(endpoint))
    anyio.run(_create_user, made.url)
    return made


# -- a server in a child process, and clients ----------------------------------------------------


def serving(bucket: Bucket, log_dir: Path) -> ServerProcess:
    """``imap-server serve`` on the bucket (a context manager)."""
    return ServerProcess.serve(bucket.url, log_dir=log_dir, env=child_env())


def connect(port: int, name: str) -> RawClient:
    """A blocking connection logged in as ``alice`` (close it, or use it in a ``with``)."""
    return RawClient("127.0.0.1", port, name=name, timeout=TIMEOUT, login=(USER, PASSWORD))


# -- the bucket, read directly -----------------------------------------------------------------


def s3_client(endpoint: str) -> Any:
    import boto3

    aws_test_credentials()
    return boto3.client("s3", endpoint_url=endpoint)


def list_objects(client: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Key -> size of every object under ``prefix``."""
    out: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            out[str(item["Key"])] = int(item["Size"])
    return out


@dataclass
class BucketView:
    """What the bucket holds, read without the store's code."""

    #: Key -> size of every object under ``<prefix>/bodies/``.
    bodies: dict[str, int]
    #: Mailbox id -> UID -> (body key, size) of every message its log leaves standing.
    live: dict[str, dict[int, tuple[str, int]]]
    #: Broken rules (empty: consistent).
    problems: list[str]

    @property
    def referenced(self) -> set[str]:
        return {body for messages in self.live.values() for body, _ in messages.values()}


def inspect_bucket(bucket: Bucket) -> BucketView:
    """Replay each mailbox log (``<prefix>/mailboxes/<id>/log/<seq:020d>``, JSON entries: ``a``
    appended records with ``u`` UID, ``b`` body key, ``s`` size; ``n`` UIDNEXT floor; ``x``
    expunged UIDs; ``d`` destroyed; see imap_store_s3/log.py) and list the bodies."""
    client = s3_client(bucket.endpoint)
    bodies = list_objects(client, bucket.name, f"{PREFIX}/bodies/")
    logs: dict[str, dict[int, str]] = {}
    problems: list[str] = []
    for key in list_objects(client, bucket.name, f"{PREFIX}/mailboxes/"):
        parts = key.split("/")
        if len(parts) == 5 and parts[3] == "log":
            logs.setdefault(parts[2], {})[int(parts[4])] = key
    live: dict[str, dict[int, tuple[str, int]]] = {}
    for mailbox, entries in logs.items():
        seqs = sorted(entries)
        if seqs != list(range(1, len(seqs) + 1)):
            problems.append(f"mailbox {mailbox}: log entries {seqs[:5]}... not 1..{len(seqs)}")
        messages: dict[int, tuple[str, int]] = {}
        uid_next = 1
        destroyed = False
        for seq in seqs:
            entry = json.loads(
                client.get_object(Bucket=bucket.name, Key=entries[seq])["Body"].read()
            )
            for rec in entry.get("a", ()):
                uid = int(rec["u"])
                if uid < uid_next:
                    problems.append(f"mailbox {mailbox} entry {seq}: UID {uid} below {uid_next}")
                messages[uid] = (str(rec["b"]), int(rec["s"]))
                uid_next = max(uid_next, uid + 1)
            uid_next = max(uid_next, int(entry.get("n", 0)))
            for uid in entry.get("x", ()):
                messages.pop(int(uid), None)
            destroyed = destroyed or bool(entry.get("d"))
        if not destroyed:
            live[mailbox] = messages
    for mailbox, messages in live.items():
        for uid, (body, size) in sorted(messages.items()):
            if body not in bodies:
                problems.append(f"mailbox {mailbox} UID {uid}: body {body} missing")
            elif bodies[body] != size:
                problems.append(f"mailbox {mailbox} UID {uid}: body {bodies[body]} not {size} B")
    return BucketView(bodies, live, problems)


_GC_REPORT = re.compile(
    r"^examined (\d+) bodies: (would remove|removed) (\d+) orphaned \((\d+) octets\); "
    r"kept (\d+) orphaned ones younger than",
    re.MULTILINE,
)


@dataclass
class GcReport:
    examined: int
    removed: int
    removed_bytes: int
    too_young: int


def run_gc(bucket: Bucket, *extra: str) -> GcReport:
    """``imap-server gc --store URL --older-than 0 [extra]``; its report."""
    argv = [sys.executable, "-m", "imap_server", "gc", "--store", bucket.url]
    argv += ["--older-than", "0", *extra]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=GC_TIMEOUT, env=child_env(), check=False
    )
    output = f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    assert done.returncode == 0, f"gc {extra} exited with {done.returncode}\n{output}"
    m = _GC_REPORT.search(done.stdout)
    assert m is not None, f"no report from gc {extra}\n{output}"
    assert (m[2] == "would remove") == ("--dry-run" in extra), output
    return GcReport(int(m[1]), int(m[3]), int(m[4]), int(m[5]))


# -- the load ----------------------------------------------------------------------------------

_SIZES = (3_000, 20_000, 80_000, 200_000)
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


# -- the test ----------------------------------------------------------------------------------


def _load_and_kill(bucket: Bucket, log_dir: Path) -> Load:
    load = Load()
    with serving(bucket, log_dir) as first:
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
            time.sleep(0.01)
        load.killed.set()
        first.kill()
        for worker in workers:
            worker.join(TIMEOUT)
        assert not any(w.is_alive() for w in workers), "a client hangs after the kill"
        assert not load.errors, "\n".join([*load.errors[:10], first.log_tail()])
    return load


def _check_after_restart(bucket: Bucket, load: Load, log_dir: Path) -> dict[int, bytes]:
    """Every acknowledged message there, whole, once; return UID -> body of all (one more
    APPENDed after the restart included)."""
    acked = dict(load.acked)
    with serving(bucket, log_dir) as second, connect(second.port, "v") as client:
        try:
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
            print(f"{len(acked)} APPENDs acknowledged; of {len(load.in_flight)} cut off by the")
            print(
                f"kill, {survivors} were stored (whole) and {len(load.in_flight) - survivors} not"
            )
            status = client.status(items=("MESSAGES", "UIDNEXT"))
            assert status["MESSAGES"] == len(present)
            assert status["UIDNEXT"] > max(present)
            # A new APPEND takes a fresh UID, above everything acknowledged before the crash.
            late = message(CLIENTS, 0)
            after = client.append(late)
            assert after >= status["UIDNEXT"]
            assert after not in present
            client.ok("NOOP")
            assert fetch_all(client)[after][1] == late
        except BaseException:
            print(second.log_tail())
            raise
    return {uid: body for uid, (_, body) in present.items()} | {after: late}


@pytest.mark.timeout(300)
def test_acknowledged_appends_survive_sigkill_and_gc_removes_only_orphans(
    bucket: Bucket, tmp_path: Path
) -> None:
    load = _load_and_kill(bucket, tmp_path)
    acked = dict(load.acked)
    assert len(acked) >= ACKED_BEFORE_KILL, "the load did not get going"
    assert len(acked) == len(load.acked), "a UID was acknowledged twice"
    expected = _check_after_restart(bucket, load, tmp_path)

    # The bucket itself, no server running.
    view = inspect_bucket(bucket)
    assert not view.problems, "\n".join(view.problems[:20])
    [inbox] = view.live.values()
    assert set(inbox) == set(expected), "the log's messages are not the ones served"
    referenced = view.referenced
    assert len(referenced) == len(expected), "two messages share a body object"
    crash_orphans = set(view.bodies) - referenced
    print(f"{len(view.bodies)} bodies: {len(crash_orphans)} orphaned by the kill")

    client = s3_client(bucket.endpoint)
    planted = f"{PREFIX}/bodies/{uuid.uuid4().hex}"
    client.put_object(Bucket=bucket.name, Key=planted, Body=b"an orphan made on purpose\r\n")
    before = list_objects(client, bucket.name, f"{PREFIX}/bodies/")
    orphans = crash_orphans | {planted}
    assert set(before) == referenced | orphans

    dry = run_gc(bucket, "--dry-run")
    assert dry == GcReport(
        examined=len(before),
        removed=len(orphans),
        removed_bytes=sum(before[key] for key in orphans),
        too_young=0,
    )
    assert list_objects(client, bucket.name, f"{PREFIX}/bodies/") == before, (
        "gc --dry-run deleted something"
    )

    real = run_gc(bucket)
    assert real == dry
    left = list_objects(client, bucket.name, f"{PREFIX}/bodies/")
    assert not set(left) & orphans, f"orphans left: {sorted(set(left) & orphans)[:5]}"
    assert set(left) == referenced, f"referenced bodies gone: {sorted(referenced - set(left))}"
    assert run_gc(bucket) == GcReport(len(referenced), 0, 0, 0)

    # Every message still readable through a server.
    with serving(bucket, tmp_path) as third, connect(third.port, "r") as reader:
        try:
            assert reader.select() == len(expected)
            served = fetch_all(reader)
            assert {uid: body for uid, (_, body) in served.items()} == expected
        except BaseException:
            print(third.log_tail())
            raise
