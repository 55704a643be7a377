"""imap-store-pg with its bodies in S3 (`imap_store_s3.blob.S3BlobStore`), on moto.

Metadata in a fresh PostgreSQL database per test (`imap_store_pg.testing`), bodies in a fresh
bucket per test (`imap_store_s3.testing`); both servers are started once for the module.
Without PostgreSQL or moto the tests are skipped (a failure in CI).
"""

from __future__ import annotations

import importlib.metadata
import os
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from typing import ClassVar, NoReturn, cast

import anyio
import pytest

from imap_server.message import parse_message
from imap_server.store import Backend, FlagChange, Mailbox, StreamingBody, Want
from imap_server.testing.conformance import StoreConformance, sample_message
from imap_server.testing.harness import serve_for_tests
from imap_store_pg import PgStore, open_pg_store
from imap_store_pg.blobs import BLOB_STORE_GROUP
from imap_store_pg.testing import PostgresUnavailable, fresh_database, postgres_server
from imap_store_s3._client import S3Client, S3Config
from imap_store_s3.blob import S3BlobStore, open_s3_blob_store
from imap_store_s3.testing import S3Unavailable, fresh_bucket, s3_endpoint

pytestmark = pytest.mark.anyio

_MiB = 1024 * 1024


class FastPgStore(PgStore):
    """Cheap password hashes: the suite creates accounts in most tests."""

    scrypt_n: ClassVar[int] = 2**4
    scram_iterations: ClassVar[int] = 64


def _unavailable(what: str, exc: Exception) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI: {exc}")
    pytest.skip(f"no {what}: {exc}")


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: asyncpg supports nothing else."""
    return "asyncio"


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """The DSN of a PostgreSQL server for this module."""
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
    """The URL of an S3 endpoint (moto) for this module."""
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
async def database(pg_server: str) -> str:
    """The DSN of a fresh database with the current schema."""
    url = await fresh_database(pg_server)
    await PgStore(url).upgrade()
    return url


@pytest.fixture
def s3_config(s3_server: str) -> S3Config:
    """A fresh bucket (prefix ``mail``)."""
    bucket = fresh_bucket(s3_server)
    return S3Config(bucket=bucket, prefix="mail", endpoint_url=s3_server, addressing_style="path")


@pytest.fixture
async def store(database: str, s3_config: S3Config) -> AsyncIterator[PgStore]:
    store = FastPgStore(database, pool_min=1, pool_max=10, blobs=S3BlobStore(s3_config))
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


def _blobs(store: PgStore) -> S3BlobStore:
    blobs = store.blobs
    assert isinstance(blobs, S3BlobStore)
    return blobs


async def _objects(blobs: S3BlobStore) -> set[str]:
    return {info.key for info in await blobs.client.list(blobs.config.key(""))}


async def _append(mailbox: Mailbox, data: bytes) -> int:
    return (await mailbox.append(data, parsed=parse_message(data))).uid


class TestPgWithS3Blobs(StoreConformance):
    """The whole conformance suite, every body through S3."""

    #: One PUT per message to moto: a smaller large mailbox.
    large_mailbox_size: ClassVar[int] = 500

    @pytest.fixture
    async def backend(self, database: str, s3_config: S3Config) -> AsyncIterator[Backend]:
        store = FastPgStore(database, pool_min=1, pool_max=10, blobs=S3BlobStore(s3_config))
        await store.start()
        try:
            yield store
        finally:
            await store.aclose()

    async def make_user(self, backend: Backend, name: str, password: str) -> None:
        await cast(PgStore, backend).create_account(name, password)


# -- configuration by URL


def test_entry_point_listed() -> None:
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=BLOB_STORE_GROUP)}
    assert found.get("s3") == "imap_store_s3:open_s3_blob_store"


def test_open_s3_blob_store_options() -> None:
    blobs = open_s3_blob_store(
        "s3://bucket/some/prefix?endpoint=http://127.0.0.1:9&addressing_style=path"
        "&multipart_threshold=6291456&part_size=5242880&max_attempts=3"
    )
    assert blobs.config.bucket == "bucket"
    assert blobs.config.prefix == "some/prefix"
    assert blobs.config.endpoint_url == "http://127.0.0.1:9"
    assert blobs.config.max_attempts == 3
    assert blobs.object_key("abc") == "some/prefix/blobs/abc"
    assert open_s3_blob_store("s3://bucket").object_key("abc") == "blobs/abc"
    with pytest.raises(ValueError, match="unknown"):
        open_s3_blob_store("s3://bucket/p?colour=blue")
    with pytest.raises(ValueError):
        open_s3_blob_store("file:///tmp/x")


async def test_open_pg_store_with_s3_blobs(database: str, s3_config: S3Config) -> None:
    inner = (
        f"s3://{s3_config.bucket}/by/url?endpoint={s3_config.endpoint_url}&addressing_style=path"
    )
    url = f"{database}?pool_max=4&blobs={urllib.parse.quote(inner, safe='')}"
    assert "%3Fendpoint%3D" in url
    store = open_pg_store(url)
    blobs = _blobs(store)
    assert blobs.config.bucket == s3_config.bucket
    assert blobs.config.prefix == "by/url"
    assert blobs.config.endpoint_url == s3_config.endpoint_url
    await store.start()
    try:
        await store.create_account("alice", "pw")
        inbox = await (await store.open_user("alice")).get_mailbox("INBOX")
        data = sample_message(7)
        uid = await _append(inbox, data)
        [message] = await inbox.fetch([uid], Want.BODY)
        assert message.body is not None
        assert await message.body.read() == data
        [key] = await _objects(blobs)
        assert key.startswith("by/url/blobs/")
        assert blobs.client.requests["PutObject"] == 1
    finally:
        await store.aclose()


# -- large messages


async def _imap(stream: anyio.abc.ByteStream, tag: str, command: bytes) -> bytes:
    """Send one command; return everything up to and including its tagged response."""
    await stream.send(tag.encode() + b" " + command + b"\r\n")
    received = b""
    while not (received.startswith(tag.encode() + b" ") or b"\r\n" + tag.encode() in received):
        received += await stream.receive()
    while not received.endswith(b"\r\n"):
        received += await stream.receive()
    return received


async def test_large_message_in_parts_and_ranged_fetch(store: PgStore) -> None:
    blobs = _blobs(store)
    assert blobs.config.multipart_threshold == 16 * _MiB
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"-+*/=!?.:;#$%&()[]{}@\r\n"
    data = sample_message(1, text=line * (40 * 1000 * 1000 // len(line)))
    assert len(data) > 39_000_000
    await store.create_account("alice", "pw")
    inbox = await (await store.open_user("alice")).get_mailbox("INBOX")
    await _append(inbox, data)
    requests = dict(blobs.client.requests)
    parts = -(-len(data) // blobs.config.part_size)
    assert requests.get("CreateMultipartUpload") == 1
    assert requests.get("UploadPart") == parts == 5
    assert requests.get("CompleteMultipartUpload") == 1
    assert "PutObject" not in requests
    [key] = await _objects(blobs)
    [info] = await blobs.client.list(key)
    assert info.size == len(data)

    # The whole body, byte for byte, and its end (a GET each).
    [message] = await inbox.fetch([1], Want.BODY)
    assert message.body is not None
    assert await message.body.read() == data
    assert await message.body.read(len(data) - 10, len(data) + 5) == data[-10:]
    assert blobs.client.requests["GetObject"] == 2

    # Streamed (what the server does for a large FETCH): one GET, pieces of 1 MiB.
    assert isinstance(message.body, StreamingBody)
    pieces = [piece async for piece in message.body.stream(0, len(data))]
    assert b"".join(pieces) == data
    assert max(len(piece) for piece in pieces) <= _MiB
    pieces = [piece async for piece in message.body.stream(1000, 3 * _MiB)]
    assert b"".join(pieces) == data[1000 : 3 * _MiB]
    assert blobs.client.requests["GetObject"] == 4

    # A partial FETCH over IMAP reads 100 octets by one ranged GET (the server closes the
    # store when it stops).
    before = blobs.client.requests["GetObject"]
    async with serve_for_tests(store) as server:
        stream = await anyio.connect_tcp(server.host, server.port)
        async with stream:
            greeting = await stream.receive()
            assert greeting.startswith(b"* OK")
            assert b"a1 OK" in await _imap(stream, "a1", b"LOGIN alice pw")
            assert b"a2 OK" in await _imap(stream, "a2", b"SELECT INBOX")
            response = await _imap(stream, "a3", b"FETCH 1 BODY.PEEK[]<0.100>")
            assert b"BODY[]<0> {100}\r\n" + data[:100] + b")" in response
            assert b"a3 OK" in response
            assert b"a4 OK" in await _imap(stream, "a4", b"LOGOUT")
    assert blobs.client.requests["GetObject"] - before == 1


# -- garbage collection


async def test_collect_garbage(store: PgStore) -> None:
    blobs = _blobs(store)
    await store.create_account("alice", "pw")
    user = await store.open_user("alice")
    inbox = await user.get_mailbox("INBOX")
    await user.create_mailbox("Other")
    other = await user.get_mailbox("Other")
    first = await _append(inbox, sample_message(1))
    await _append(inbox, sample_message(2))
    # COPY shares the first blob; expunging the original keeps it for the copy.
    copied = await inbox.copy([first], other)
    await inbox.store_flags([first], FlagChange.ADD, frozenset({"\\Deleted"}))
    await inbox.expunge()
    referenced = await _objects(blobs)
    assert len(referenced) == 2
    # A blob a crash left behind (put, no metadata).
    orphan = b"orphaned body\r\n" * 10
    await blobs.put("0" * 32, orphan)
    assert len(await _objects(blobs)) == 3

    young = await store.collect_garbage(older_than=3600)
    assert (young.examined, young.removed, young.too_young) == (3, 0, 1)
    dry = await store.collect_garbage(older_than=0, dry_run=True)
    assert (dry.examined, dry.removed, dry.removed_bytes) == (3, 1, len(orphan))
    assert len(await _objects(blobs)) == 3
    report = await store.collect_garbage(older_than=0)
    assert (report.examined, report.removed, report.removed_bytes) == (3, 1, len(orphan))
    assert report.too_young == 0
    assert await _objects(blobs) == referenced
    again = await store.collect_garbage(older_than=0)
    assert (again.examined, again.removed) == (2, 0)

    # Every message is still readable.
    [message] = await other.fetch(copied.destination, Want.BODY)
    assert message.body is not None
    assert await message.body.read() == sample_message(1)
    [message] = await inbox.fetch([first + 1], Want.BODY)
    assert message.body is not None
    assert await message.body.read() == sample_message(2)

    # Removing the last copy deletes the blob at once; nothing is left for the collector.
    await other.store_flags(copied.destination, FlagChange.ADD, frozenset({"\\Deleted"}))
    await other.expunge()
    assert len(await _objects(blobs)) == 1
    assert (await store.collect_garbage(older_than=0)).removed == 0


async def test_collect_garbage_bodies_table(database: str) -> None:
    """Without a blob store: rows of ``bodies`` no message refers to."""
    store = FastPgStore(database, pool_min=1, pool_max=4)
    await store.start()
    try:
        await store.create_account("alice", "pw")
        inbox = await (await store.open_user("alice")).get_mailbox("INBOX")
        await _append(inbox, sample_message(1))
        async with store._conn() as conn:
            await conn.execute("INSERT INTO bodies (data) VALUES ($1)", b"lost" * 5)
        report = await store.collect_garbage(older_than=3600, dry_run=True)
        assert (report.examined, report.removed, report.removed_bytes) == (2, 1, 20)
        report = await store.collect_garbage()
        assert (report.examined, report.removed, report.removed_bytes) == (2, 1, 20)
        assert (await store.collect_garbage()).removed == 0
        [message] = await inbox.fetch([1], Want.BODY)
        assert message.body is not None
        assert await message.body.read() == sample_message(1)
    finally:
        await store.aclose()


async def test_blob_store_directly(s3_config: S3Config) -> None:
    client = S3Client(s3_config)
    blobs = S3BlobStore(s3_config, client=client)
    await blobs.put("k1", b"hello world")
    assert await blobs.get("k1") == b"hello world"
    assert await blobs.get("k1", 6) == b"world"
    assert await blobs.get("k1", 0, 5) == b"hello"
    assert await blobs.get("k1", 5, 5) == b""
    await blobs.put("k2", b"x")
    assert [k async for k in blobs.keys()] == ["k1", "k2"]  # noqa: SIM118 - a BlobStore
    assert [(i.key, i.size) async for i in blobs.entries()] == [("k1", 11), ("k2", 1)]
    await blobs.delete(["k1", "missing"])
    assert [k async for k in blobs.keys()] == ["k2"]  # noqa: SIM118 - a BlobStore
    from imap_server.store import StoreError

    with pytest.raises(StoreError):
        await blobs.get("k1")
    assert client.requests["DeleteObjects"] == 1
    await blobs.aclose()
