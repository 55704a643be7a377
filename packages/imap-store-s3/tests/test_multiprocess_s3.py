"""Two ``imap-server serve`` processes on one S3 bucket.

Both processes append to one mailbox at once: no acknowledged message may be lost, no UID
issued twice, and both must then list the same messages. A client in IDLE on process A hears
of each APPEND made through process B (the store polls S3 for other processes' changes about
every second; `NOTICE` allows for that).

Each test takes a fresh bucket on the module's S3 endpoint (moto on loopback, or
``IMAP_TEST_S3_ENDPOINT``), creates user ``alice`` in this process with `S3Store`, starts
``python -m imap_server serve --store s3://...`` twice on port 0, reads each bound port from
the ``listening on`` line, and talks to them over TCP with a small blocking client that keeps
each literal's octets (both from `imap_server.testing.process`). Every child is stopped on the
way out, pass or fail.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from imap_server.testing.process import RawClient, ServerProcess, parse_numbered
from imap_store_s3 import S3Store, open_s3_store
from imap_store_s3.testing import S3Unavailable, fresh_bucket, s3_endpoint
from imap_store_s3.testing import test_credentials as aws_test_credentials

USER, PASSWORD = "alice", "secret"
TIMEOUT = 30.0  # bound on any wait for a server's answer (keeps a broken server from hanging)
NOTICE = 5.0  # a change through one process reaches an IDLE session on the other within this
PER_PROCESS = 10  # concurrent clients on each process
APPENDS_EACH = 11  # APPENDs per client: 220 log entries, past the first snapshot (at 200)
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


# -- a server in a child process, and clients ----------------------------------------------------


def serving(url: str, log_dir: Path) -> ServerProcess:
    """``imap-server serve --store URL`` (a context manager)."""
    return ServerProcess.serve(url, log_dir=log_dir, env=child_env())


def connect(port: int, name: str) -> RawClient:
    """A blocking connection logged in as ``alice`` (use it in a ``with``)."""
    return RawClient("127.0.0.1", port, name=name, timeout=TIMEOUT, login=(USER, PASSWORD))


def messages(client: RawClient) -> dict[int, bytes]:
    """``UID FETCH 1:* (UID BODY.PEEK[])`` of the selected mailbox: UID -> body. Fails on a UID
    answered twice."""
    out: dict[int, bytes] = {}
    for uid, r in client.uid_fetch("UID BODY.PEEK[]").items():
        assert len(r.literals) == 1, r
        out[uid] = r.literals[0]
    return out


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
    numbered = parse_numbered(text)
    return numbered[0] if numbered is not None and numbered[1] == "EXISTS" else None


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


def test_concurrent_appends_through_two_processes(s3_url: str, tmp_path: Path) -> None:
    """2 x `PER_PROCESS` clients APPEND `APPENDS_EACH` messages each, all at once, half through
    each process; an IDLE on A sees them all; both processes, and a third started afterwards,
    then list the same messages."""
    out = Appends()
    with serving(s3_url, tmp_path) as a, serving(s3_url, tmp_path) as b:
        ports = {"a": a.port, "b": b.port}
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
                    views[via] = messages(client)
                    status = client.status(items=("MESSAGES", "UIDNEXT"))
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
            print(a.log_tail(), b.log_tail(), sep="\n")
            raise
    # A process started afterwards (a cold cache: snapshot plus log) sees the same.
    with serving(s3_url, tmp_path) as c, connect(c.port, "vc") as client:
        try:
            assert client.select() == total
            assert messages(client) == present
        except BaseException:
            print(c.log_tail())
            raise


@pytest.mark.parametrize("writer_on", ["other process", "same process"])
def test_idle_sees_appends_made_through_either_process(
    s3_url: str, writer_on: str, tmp_path: Path
) -> None:
    with serving(s3_url, tmp_path) as a, serving(s3_url, tmp_path) as b:
        port_a, port_b = a.port, b.port
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
                assert sorted(messages(idler)) == uids
        except BaseException:
            print(a.log_tail(), b.log_tail(), sep="\n")
            raise
