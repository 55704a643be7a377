"""S3 failing for a while: 500 / 503 answers and dropped connections, from a small
fault-injecting HTTP proxy between the client and moto.

With fewer faults than ``max_attempts`` an operation succeeds on botocore's retries (the
client's request counter shows them); with more it fails cleanly (`StoreUnavailable`), and
nothing half-done stays visible: no message without its body, no body without its message.
Once the faults stop, everything acknowledged reads back byte for byte.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import os
import socket
import threading
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, NoReturn

import anyio.to_thread
import pytest

from imap_server.message import parse_message
from imap_server.spool import SpooledMessage
from imap_server.store import FlagChange, Mailbox, OverQuota, StoreUnavailable, Want
from imap_server.testing.conformance import sample_message
from imap_store_pg import PgStore
from imap_store_pg.testing import PostgresUnavailable, fresh_database, postgres_server
from imap_store_s3._client import S3Client, S3Config
from imap_store_s3.blob import S3BlobStore
from imap_store_s3.testing import S3Unavailable, fresh_bucket, s3_endpoint

pytestmark = pytest.mark.anyio

#: Attempts per request of the clients under test (botocore "standard" retries).
ATTEMPTS = 3
#: Faults that outlast every attempt (see `test_max_attempts_counts_the_first_attempt`).
OUTAGE = ATTEMPTS + 3
_MiB = 1024 * 1024
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "expect"}


# -- the proxy


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 in front of ``upstream`` that forwards every request,
    except that it can be told to answer the next requests itself with a fault:

    - ``"503"``: ``503 Slow Down`` with S3's XML error body (``SlowDown``);
    - ``"500"``: ``500 Internal Server Error`` (``InternalError``);
    - ``"drop"``: close the connection without answering (the request never reaches S3);
    - ``"lost"``: forward the request, then close without answering (S3 did it; the answer is
      lost).

    Faults apply to requests of any method, or only of ``method``.
    """

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        assert parts.hostname is not None and parts.port is not None
        self._upstream = (parts.hostname, parts.port)
        self._lock = threading.Lock()
        self._faults: collections.deque[tuple[str, str | None]] = collections.deque()
        #: Faults injected, by kind.
        self.injected: collections.Counter[str] = collections.Counter()
        #: Requests that reached S3, by method.
        self.forwarded: collections.Counter[str] = collections.Counter()
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.proxy = self
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail(self, count: int, kind: str, *, method: str | None = None) -> None:
        """Answer the next ``count`` requests (of ``method``) with fault ``kind``."""
        assert kind in ("503", "500", "drop", "lost")
        with self._lock:
            self._faults.extend([(kind, method)] * count)

    def heal(self) -> None:
        """Drop the faults not injected yet."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> int:
        with self._lock:
            return len(self._faults)

    def _take(self, method: str) -> str | None:
        with self._lock:
            for i, (kind, only) in enumerate(self._faults):
                if only is None or only == method:
                    del self._faults[i]
                    self.injected[kind] += 1
                    return kind
            self.forwarded[method] += 1
            return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def handle(self, request: _ProxyHandler) -> None:
        method = request.command
        body = _read_body(request)
        kind = self._take(method)
        if kind in ("503", "500"):
            code, reason = (
                ("SlowDown", "Slow Down")
                if kind == "503"
                else ("InternalError", "Internal Server Error")
            )
            payload = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{reason} (injected)</Message>"
                "<RequestId>fault</RequestId></Error>"
            ).encode()
            request.send_response(int(kind), reason)
            request.send_header("Content-Type", "application/xml")
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            if method != "HEAD":
                request.wfile.write(payload)
            return
        if kind == "drop":
            request.hang_up()
            return
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            upstream.request(method, request.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        if kind == "lost":
            request.hang_up()
            return
        request.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                request.send_header(name, value)
        length = response.getheader("Content-Length") if method == "HEAD" else None
        request.send_header("Content-Length", length or str(len(data)))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(data)


class _ProxyServer(ThreadingHTTPServer):
    proxy: FaultProxy


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _any(self) -> None:
        self.server.proxy.handle(self)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any


def _read_body(request: BaseHTTPRequestHandler) -> bytes:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(request.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while request.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(request.rfile.read(size))
            request.rfile.readline()
    length = int(request.headers.get("Content-Length") or 0)
    return request.rfile.read(length) if length else b""


# -- fixtures


class FastPgStore(PgStore):
    scrypt_n: ClassVar[int] = 2**4
    scram_iterations: ClassVar[int] = 64


def _unavailable(what: str, exc: Exception) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI: {exc}")
    pytest.skip(f"no {what}: {exc}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    try:
        server = postgres_server()
        dsn = server.__enter__()
    except PostgresUnavailable as exc:
        _unavailable("PostgreSQL", exc)
    try:
        yield dsn
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    try:
        endpoint = s3_endpoint()
        url = endpoint.__enter__()
    except S3Unavailable as exc:
        _unavailable("S3 endpoint", exc)
    try:
        yield url
    finally:
        endpoint.__exit__(None, None, None)


@pytest.fixture
def proxy(s3_server: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_server)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def bucket(s3_server: str) -> str:
    return fresh_bucket(s3_server)


@pytest.fixture
def blobs(proxy: FaultProxy, bucket: str) -> S3BlobStore:
    """The blob store, through the proxy."""
    return S3BlobStore(
        S3Config(
            bucket=bucket,
            prefix="mail",
            endpoint_url=proxy.url,
            addressing_style="path",
            max_attempts=ATTEMPTS,
            multipart_threshold=5 * _MiB,
            part_size=5 * _MiB,
        )
    )


@pytest.fixture
def direct(s3_server: str, bucket: str) -> S3Client:
    """A client straight to S3 (no faults), to see what the bucket holds."""
    return S3Client(S3Config(bucket=bucket, endpoint_url=s3_server, addressing_style="path"))


@pytest.fixture
async def store(pg_server: str, blobs: S3BlobStore) -> AsyncIterator[PgStore]:
    url = await fresh_database(pg_server)
    await PgStore(url).upgrade()
    store = FastPgStore(url, pool_min=1, pool_max=4, blobs=blobs)
    await store.start()
    try:
        await store.create_account("alice", "pw")
        yield store
    finally:
        await store.aclose()


async def _inbox(store: PgStore) -> Mailbox:
    return await (await store.open_user("alice")).get_mailbox("INBOX")


async def _append(mailbox: Mailbox, data: bytes) -> int:
    return (await mailbox.append(data, parsed=parse_message(data))).uid


async def _read_all(mailbox: Mailbox) -> dict[int, bytes]:
    result: dict[int, bytes] = {}
    for message in await mailbox.fetch(range(1, 2**32), Want.BODY):
        assert message.body is not None
        result[message.uid] = await message.body.read()
    return result


async def _objects(direct: S3Client) -> set[str]:
    return {info.key for info in await direct.list("mail/blobs/")}


async def _message_rows(store: PgStore) -> int:
    async with store._conn() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM messages"))


# -- a few faults: retried


@pytest.mark.parametrize("kind", ["503", "500", "drop", "lost"])
async def test_blob_store_retries(kind: str, proxy: FaultProxy, blobs: S3BlobStore) -> None:
    requests = blobs.client.requests
    proxy.fail(ATTEMPTS - 1, kind)
    await blobs.put("k1", b"first body\r\n")
    assert requests["PutObject"] == ATTEMPTS
    proxy.fail(ATTEMPTS - 1, kind)
    assert await blobs.get("k1", 6) == b"body\r\n"
    assert requests["GetObject"] == ATTEMPTS
    proxy.fail(ATTEMPTS - 1, kind)
    assert [k async for k in blobs.keys()] == ["k1"]  # noqa: SIM118 - a BlobStore
    assert requests["ListObjectsV2"] == ATTEMPTS
    proxy.fail(ATTEMPTS - 1, kind)
    await blobs.delete(["k1"])
    assert requests["DeleteObjects"] == ATTEMPTS
    assert [k async for k in blobs.keys()] == []  # noqa: SIM118 - a BlobStore
    assert proxy.injected[kind] == 4 * (ATTEMPTS - 1)
    assert proxy.pending() == 0


@pytest.mark.parametrize("kind", ["503", "500", "drop", "lost"])
async def test_append_retries(
    kind: str, proxy: FaultProxy, store: PgStore, blobs: S3BlobStore, direct: S3Client
) -> None:
    inbox = await _inbox(store)
    proxy.fail(ATTEMPTS - 1, kind)
    uid = await _append(inbox, sample_message(1))
    assert blobs.client.requests["PutObject"] == ATTEMPTS
    proxy.fail(ATTEMPTS - 1, kind)
    assert await _read_all(inbox) == {uid: sample_message(1)}
    assert blobs.client.requests["GetObject"] == ATTEMPTS
    assert len(await _objects(direct)) == 1


@pytest.mark.parametrize("spooled", [False, True], ids=["bytes", "spooled"])
async def test_multipart_upload_retries(
    spooled: bool, proxy: FaultProxy, store: PgStore, blobs: S3BlobStore
) -> None:
    """Faults on the parts of a large message (12 MiB: three parts of 5 MiB), in memory or
    spooled to a file as the server receives it."""
    inbox = await _inbox(store)
    data = sample_message(1, text=(b"y" * 1022 + b"\r\n") * (12 * 1024))
    proxy.fail(2, "503", method="PUT")
    with SpooledMessage.from_bytes(data) as file:
        body = file if spooled else data
        uid = (await inbox.append(body, parsed=parse_message(data))).uid
    requests = blobs.client.requests
    assert requests["CreateMultipartUpload"] == 1
    assert requests["UploadPart"] == 3 + 2
    assert requests["CompleteMultipartUpload"] == 1
    assert await _read_all(inbox) == {uid: data}


# -- persistent faults: clean failures, nothing acknowledged lost


async def test_failed_multipart_upload_is_aborted(
    proxy: FaultProxy, store: PgStore, blobs: S3BlobStore, direct: S3Client
) -> None:
    """Every part fails: APPEND fails, and the upload is aborted, so S3 keeps no parts (they
    are billed, and no listing of objects shows them)."""
    inbox = await _inbox(store)
    data = sample_message(1, text=(b"z" * 1022 + b"\r\n") * (12 * 1024))
    proxy.fail(OUTAGE, "500", method="PUT")
    with SpooledMessage.from_bytes(data) as file, pytest.raises(StoreUnavailable):
        await inbox.append(file, parsed=parse_message(data))
    proxy.heal()
    assert blobs.client.requests["AbortMultipartUpload"] == 1
    uploads = await anyio.to_thread.run_sync(
        lambda: direct._client.list_multipart_uploads(Bucket=direct.config.bucket)
    )
    assert uploads.get("Uploads", []) == []
    assert await _objects(direct) == set()
    assert await _message_rows(store) == 0


async def test_max_attempts_counts_the_first_attempt(proxy: FaultProxy, blobs: S3BlobStore) -> None:
    proxy.fail(OUTAGE, "500")
    with pytest.raises(StoreUnavailable):
        await blobs.put("k", b"data")
    assert blobs.client.requests["PutObject"] == blobs.config.max_attempts == ATTEMPTS


@pytest.mark.parametrize("kind", ["503", "500", "drop"])
async def test_append_fails_cleanly(
    kind: str, proxy: FaultProxy, store: PgStore, blobs: S3BlobStore, direct: S3Client
) -> None:
    inbox = await _inbox(store)
    kept = {await _append(inbox, sample_message(n)): sample_message(n) for n in (1, 2)}
    before = blobs.client.requests["PutObject"]
    proxy.fail(OUTAGE, kind)
    with pytest.raises(StoreUnavailable):
        await _append(inbox, sample_message(3))
    assert blobs.client.requests["PutObject"] - before == proxy.injected[kind] >= ATTEMPTS
    # Reading fails cleanly too while S3 is down.
    proxy.heal()
    proxy.fail(OUTAGE, kind, method="GET")
    [message] = await inbox.fetch([min(kept)], Want.BODY)
    assert message.body is not None
    with pytest.raises(StoreUnavailable):
        await message.body.read()
    # Nothing of the failed APPEND is visible; everything acknowledged is intact.
    proxy.heal()
    assert await _message_rows(store) == 2
    assert len(await _objects(direct)) == 2
    assert await _read_all(inbox) == kept
    uid = await _append(inbox, sample_message(4))
    assert await _read_all(inbox) == {**kept, uid: sample_message(4)}
    assert uid == max(kept) + 1


async def test_lost_answers_fail_cleanly(
    proxy: FaultProxy, store: PgStore, blobs: S3BlobStore, direct: S3Client
) -> None:
    """S3 stored the body but every answer was lost: APPEND fails, and the blob it wrote is
    deleted again once S3 answers (here the delete itself gets through)."""
    inbox = await _inbox(store)
    proxy.fail(OUTAGE, "lost", method="PUT")
    with pytest.raises(StoreUnavailable):
        await _append(inbox, sample_message(1))
    proxy.heal()
    assert proxy.forwarded["PUT"] == 0
    assert blobs.client.requests["PutObject"] == proxy.injected["lost"] >= ATTEMPTS
    # The body was written (ATTEMPTS times, the same key); APPEND gave up before its
    # metadata transaction, so no message, and the collector finds the orphan.
    assert await _message_rows(store) == 0
    assert len(await _objects(direct)) == 1
    report = await store.collect_garbage(older_than=0)
    assert (report.examined, report.removed) == (1, 1)
    assert await _objects(direct) == set()


async def test_blob_deleted_when_metadata_fails(
    pg_server: str, proxy: FaultProxy, blobs: S3BlobStore, direct: S3Client
) -> None:
    """The body reached S3 but the metadata transaction failed (over quota): the blob is
    deleted; if S3 refuses that delete, the garbage collector removes it later."""
    url = await fresh_database(pg_server)
    await PgStore(url).upgrade()
    first = sample_message(1)
    store = FastPgStore(url, pool_max=2, blobs=blobs, quota_bytes=len(first) + 5)
    await store.start()
    try:
        await store.create_account("alice", "pw")
        inbox = await _inbox(store)
        uid = await _append(inbox, first)
        with pytest.raises(OverQuota):
            await _append(inbox, sample_message(2))
        assert blobs.client.requests["DeleteObjects"] == 1
        assert len(await _objects(direct)) == 1
        # Now the delete after the failure fails too (persistent 503 on POST ?delete).
        proxy.fail(OUTAGE, "503", method="POST")
        with pytest.raises(OverQuota):
            await _append(inbox, sample_message(3))
        proxy.heal()
        assert blobs.client.requests["DeleteObjects"] == 1 + proxy.injected["503"]
        assert len(await _objects(direct)) == 2
        assert await _message_rows(store) == 1
        # After the outage the collector removes it; the acknowledged message stays.
        report = await store.collect_garbage(older_than=0)
        assert (report.examined, report.removed) == (2, 1)
        assert len(await _objects(direct)) == 1
        assert await _read_all(inbox) == {uid: first}
    finally:
        await store.aclose()


async def test_expunge_survives_failed_blob_delete(
    proxy: FaultProxy, store: PgStore, blobs: S3BlobStore, direct: S3Client
) -> None:
    """EXPUNGE commits even when deleting the blob afterwards fails; the blob is garbage."""
    inbox = await _inbox(store)
    gone = await _append(inbox, sample_message(1))
    kept = await _append(inbox, sample_message(2))
    await inbox.store_flags([gone], FlagChange.ADD, frozenset({"\\Deleted"}))
    proxy.fail(OUTAGE, "drop", method="POST")
    await inbox.expunge()
    proxy.heal()
    assert await _message_rows(store) == 1
    assert len(await _objects(direct)) == 2
    report = await store.collect_garbage(older_than=0)
    assert report.removed == 1
    assert await _read_all(inbox) == {kept: sample_message(2)}


# -- the standalone store: a log claim whose answer is lost ----------------------------------


async def test_lost_answer_of_a_log_claim_is_one_message(proxy: FaultProxy, bucket: str) -> None:
    """S3 wrote the log entry but the answer never came: botocore's retry of the PUT meets
    the entry (412), which the store must recognise as its own, not take for another
    writer's (which would append the message twice)."""
    from imap_store_s3 import S3Store

    class FastS3Store(S3Store):
        scrypt_n = 2**4
        scram_iterations = 16

    config = S3Config(
        bucket=bucket, prefix="mail", endpoint_url=proxy.url, addressing_style="path",
        max_attempts=ATTEMPTS,
    )  # fmt: skip
    store = FastS3Store(config)
    await store.start()
    try:
        await store.create_account("alice", "secret")
        inbox = await (await store.open_user("alice")).get_mailbox("INBOX")
        first = sample_message(1)
        await _append(inbox, first)
        # The body upload goes through; the answer to the log claim's PUT is lost.
        body = sample_message(2)
        forwarded = proxy.forwarded["PUT"]
        original_put = store._client.put
        claims: list[str] = []

        async def put(key: str, data: bytes, **kwargs: object) -> str:
            if "/log/" in key and not claims:
                claims.append(key)
                proxy.fail(1, "lost", method="PUT")
            return await original_put(key, data, **kwargs)  # type: ignore[arg-type]

        store._client.put = put  # type: ignore[method-assign]
        uid = await _append(inbox, body)
        assert claims and proxy.injected["lost"] >= 1
        assert proxy.forwarded["PUT"] > forwarded
        messages = await _read_all(inbox)
        assert sorted(messages.values()) == sorted([first, body])
        assert uid == max(messages)
    finally:
        await store.aclose()
