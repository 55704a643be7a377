"""`PgStore` beyond the conformance suite: URL options, the blob store hook, error
translation, LISTEN/NOTIFY between stores, the quota under concurrency, account
administration, and the mailbox cache following another process's changes."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import anyio
import asyncpg
import pytest

from imap_server.accounts import AccountExists, GarbageCollector, GarbageReport, NoSuchAccount
from imap_server.message import parse_message
from imap_server.store import (
    FlagChange,
    Mailbox,
    OverQuota,
    StoreError,
    StoreUnavailable,
    Want,
)
from imap_server.testing.conformance import sample_message
from imap_store_pg import BlobStore, PgStore, open_pg_store
from imap_store_pg import blobs as blobs_module

pytestmark = pytest.mark.anyio


class FastPgStore(PgStore):
    scrypt_n: ClassVar[int] = 2**4
    scram_iterations: ClassVar[int] = 64


class RecordingBlobs(BlobStore):
    """Blobs in a dict, recording every put and delete."""

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.data: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.deletes: list[str] = []

    async def put(self, key: str, data: bytes) -> None:
        self.puts.append(key)
        self.data[key] = data

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        return self.data[key][start:end]

    async def delete(self, keys: Sequence[str]) -> None:
        self.deletes.extend(keys)
        for key in keys:
            self.data.pop(key, None)

    async def keys(self) -> AsyncIterator[str]:
        for key in list(self.data):
            yield key


async def _append(mailbox: Mailbox, n: int = 1, data: bytes | None = None) -> int:
    body = data if data is not None else sample_message(n)
    return (await mailbox.append(body, parsed=parse_message(body))).uid


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PgStore]:
    store = FastPgStore(pg_url, pool_min=1, pool_max=10)
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


# -- URL options


def test_url_options() -> None:
    store = open_pg_store(
        "postgresql://mail:pw@db:5433/mail?pool_max=7&quota_bytes=1000"
        "&max_message_size=500&sslmode=disable&cache_mailboxes=false&pool_min=1"
    )
    assert store.dsn == "postgresql://mail:pw@db:5433/mail?sslmode=disable"
    assert (store.pool_min, store.pool_max) == (1, 7)
    assert store.quota_bytes == 1000
    assert store.max_message_size == 500
    assert store.cache_mailboxes is False
    assert store.blobs is None
    plain = open_pg_store("postgres://db/mail")
    assert plain.dsn == "postgres://db/mail"
    assert (plain.quota_bytes, plain.max_message_size, plain.pool_max) == (None, None, 20)
    assert "pw" not in repr(store)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://db/mail",
        "postgresql://db/mail?pool_max=many",
        "postgresql://db/mail?pool_max=0",
        "postgresql://db/mail?quota_bytes=-1",
        "postgresql://db/mail?cache_mailboxes=maybe",
        "postgresql://db/mail?blobs=nowhere://x",
    ],
)
def test_url_options_invalid(url: str) -> None:
    with pytest.raises(ValueError):
        open_pg_store(url)


class _FakeEntryPoint:
    name = "recording"
    value = "tests:RecordingBlobs"

    def load(self) -> Any:
        return RecordingBlobs


def test_url_blob_store(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_entry_points(*, group: str) -> list[_FakeEntryPoint]:
        assert group == blobs_module.BLOB_STORE_GROUP
        return [_FakeEntryPoint()]

    monkeypatch.setattr(blobs_module, "entry_points", fake_entry_points)
    store = open_pg_store("postgresql://db/mail?blobs=recording%3A%2F%2Fbucket%2Fmail")
    assert isinstance(store.blobs, RecordingBlobs)
    assert store.blobs.url == "recording://bucket/mail"
    assert store.dsn == "postgresql://db/mail"


# -- blob store hook


async def test_blob_store(pg_url: str) -> None:
    blobs = RecordingBlobs()
    data = sample_message(1, text=b"x" * 100_000 + b"\r\n")
    store = FastPgStore(pg_url, blobs=blobs, quota_bytes=len(data) * 2 + 10)
    await store.start()
    try:
        await store.create_account("alice", "pw")
        user = await store.open_user("alice")
        inbox = await user.get_mailbox("INBOX")
        uid = await _append(inbox, data=data)
        assert len(blobs.puts) == 1
        [message] = await inbox.fetch([uid], Want.BODY)
        assert message.body is not None
        assert await message.body.read() == data
        assert await message.body.read(5, 50) == data[5:50]
        # A COPY shares the blob; the quota refuses a third copy, leaving no blob behind.
        await user.create_mailbox("Other")
        other = await user.get_mailbox("Other")
        copied = await inbox.copy([uid], other)
        assert len(blobs.puts) == 1
        with pytest.raises(OverQuota):
            await _append(inbox, data=data)
        assert len(blobs.puts) == 2
        assert blobs.deletes == blobs.puts[1:]
        assert set(blobs.data) == {blobs.puts[0]}
        # Expunging one copy keeps the blob; expunging the last deletes it.
        await inbox.store_flags([uid], FlagChange.ADD, frozenset({"\\Deleted"}))
        await inbox.expunge()
        assert set(blobs.data) == {blobs.puts[0]}
        [again] = await other.fetch(copied.destination, Want.BODY)
        assert again.body is not None
        assert await again.body.read() == data
        await user.delete_mailbox("Other")
        assert blobs.data == {}
    finally:
        await store.aclose()


async def test_collect_garbage(pg_url: str) -> None:
    """Orphans of both kinds: a ``bodies`` row and a blob (of unknown age: removed only with
    ``older_than=0``); never a body a message refers to."""
    blobs = RecordingBlobs()
    store = FastPgStore(pg_url, blobs=blobs)
    await store.start()
    try:
        assert isinstance(store, GarbageCollector)
        await store.create_account("alice", "pw")
        user = await store.open_user("alice")
        inbox = await user.get_mailbox("INBOX")
        uid = await _append(inbox)
        await user.create_mailbox("Other")
        other = await user.get_mailbox("Other")
        await inbox.copy([uid], other)
        [kept] = blobs.data
        blobs.data["orphan"] = b"left by a crash"
        async with store._conn() as conn:
            await conn.execute("INSERT INTO bodies (data) VALUES ($1)", b"12345")
        report = await store.collect_garbage(dry_run=True)
        assert report == GarbageReport(examined=3, removed=1, removed_bytes=5, too_young=1)
        report = await store.collect_garbage()
        assert report == GarbageReport(examined=3, removed=1, removed_bytes=5, too_young=1)
        report = await store.collect_garbage(older_than=0)
        assert report == GarbageReport(examined=2, removed=1, removed_bytes=0)
        assert blobs.deletes == ["orphan"]
        assert set(blobs.data) == {kept}
        with pytest.raises(ValueError):
            await store.collect_garbage(older_than=-1)
    finally:
        await store.aclose()


async def test_bodies_deleted_with_last_message(store: PgStore) -> None:
    await store.create_account("alice", "pw")
    user = await store.open_user("alice")
    inbox = await user.get_mailbox("INBOX")
    uid = await _append(inbox)
    await user.create_mailbox("Other")
    other = await user.get_mailbox("Other")
    await inbox.copy([uid], other)

    async def bodies() -> int:
        async with store._conn() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM bodies"))

    assert await bodies() == 1
    await inbox.store_flags([uid], FlagChange.ADD, frozenset({"\\Deleted"}))
    await inbox.expunge()
    assert await bodies() == 1
    await store.delete_account("alice")
    assert await bodies() == 0


# -- error translation


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_server() -> None:
    store = PgStore(f"postgresql://postgres@127.0.0.1:{_closed_port()}/nothing")
    with pytest.raises(StoreUnavailable):
        await store.start()
    with pytest.raises(StoreUnavailable):
        await store.schema_version()
    with pytest.raises(StoreUnavailable):
        await store.upgrade()
    with pytest.raises(StoreUnavailable):
        await store.open_user("alice")  # not started
    await store.aclose()


async def test_server_went_away(store: PgStore, pg_url: str) -> None:
    await store.create_account("alice", "pw")
    user = await store.open_user("alice")
    inbox = await user.get_mailbox("INBOX")
    await _append(inbox)
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    failures = 0
    for _ in range(3):
        try:
            await inbox.status()
        except StoreUnavailable:
            failures += 1
        except Exception as exc:  # pragma: no cover - the point of the test
            pytest.fail(f"a driver error leaked: {exc!r}")
    assert failures >= 1 or (await inbox.status()).messages == 1


# -- LISTEN / NOTIFY


async def test_notify_reaches_other_store(store: PgStore, pg_url: str) -> None:
    other = PgStore(pg_url, pool_min=1, pool_max=2)
    await other.start()
    try:
        seen: list[str] = []
        event = anyio.Event()

        def listener(mailbox_id: str) -> None:
            seen.append(mailbox_id)
            event.set()

        other.add_change_listener(listener)
        await store.create_account("alice", "pw")
        inbox = await (await store.open_user("alice")).get_mailbox("INBOX")
        with anyio.fail_after(1):
            await _append(inbox)
            await event.wait()
        assert inbox.id in seen
    finally:
        await other.aclose()


async def test_listener_reconnects(store: PgStore, pg_url: str) -> None:
    await store.create_account("alice", "pw")
    inbox = await (await store.open_user("alice")).get_mailbox("INBOX")
    await inbox.snapshot()  # cached: reported after a reconnect
    seen: list[str] = []
    store.add_change_listener(seen.append)
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND query ILIKE 'LISTEN%'"
        )
    finally:
        await admin.close()
    with anyio.fail_after(5):
        while inbox.id not in seen:
            await anyio.sleep(0.05)
    seen.clear()
    other = FastPgStore(pg_url, pool_min=1, pool_max=2)
    await other.start()
    try:
        other_inbox = await (await other.open_user("alice")).get_mailbox("INBOX")
        with anyio.fail_after(5):
            await _append(other_inbox)
            while inbox.id not in seen:
                await anyio.sleep(0.05)
    finally:
        await other.aclose()


# -- quota


async def test_quota_exact_under_concurrency(pg_url: str) -> None:
    data = sample_message(1)
    store = FastPgStore(pg_url, quota_bytes=10 * len(data), pool_max=20)
    await store.start()
    try:
        await store.create_account("alice", "pw")
        inbox = await (await store.open_user("alice")).get_mailbox("INBOX")
        outcomes: list[bool] = []

        async def one() -> None:
            try:
                await _append(inbox, data=data)
            except OverQuota:
                outcomes.append(False)
            else:
                outcomes.append(True)

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one)
        assert outcomes.count(True) == 10
        status = await inbox.status()
        assert (status.messages, status.size) == (10, 10 * len(data))
        async with store._conn() as conn:
            used = await conn.fetchval("SELECT used_bytes FROM accounts WHERE name = 'alice'")
        assert used == 10 * len(data)
        # Expunging frees the room again.
        snapshot = await inbox.snapshot()
        await inbox.store_flags(snapshot.uids[:1], FlagChange.ADD, frozenset({"\\Deleted"}))
        await inbox.expunge()
        await _append(inbox, data=data)
        with pytest.raises(OverQuota):
            await _append(inbox, data=data)
    finally:
        await store.aclose()


# -- accounts


async def test_account_admin(store: PgStore) -> None:
    with pytest.raises(ValueError):
        await store.create_account("", "pw")
    await store.create_account("bob", "one")
    await store.create_account("alice", "two")
    with pytest.raises(AccountExists):
        await store.create_account("bob", "again")
    assert list(await store.account_names()) == ["alice", "bob"]
    assert await store.check_password("bob", "one") == "bob"
    await store.change_password("bob", "three")
    assert await store.check_password("bob", "one") is None
    assert await store.check_password("bob", "three") == "bob"
    credentials = await store.scram_credentials("bob", "sha256")
    assert credentials is not None
    assert credentials.iterations == FastPgStore.scram_iterations
    assert await store.scram_credentials("bob", "md5") is None
    assert await store.scram_credentials("nobody", "sha1") is None
    with pytest.raises(NoSuchAccount):
        await store.change_password("nobody", "x")
    with pytest.raises(NoSuchAccount):
        await store.delete_account("nobody")
    bob = await store.open_user("bob")
    inbox = await bob.get_mailbox("INBOX")
    await _append(inbox)
    await store.delete_account("bob")
    assert list(await store.account_names()) == ["alice"]
    assert await store.check_password("bob", "three") is None
    with pytest.raises(StoreError):
        await store.open_user("bob")
    with pytest.raises(StoreError):
        await inbox.status()
    with pytest.raises(StoreError):
        await bob.list_mailboxes()


# -- the cache follows changes made elsewhere


async def test_cache_follows_other_store(store: PgStore, pg_url: str) -> None:
    await store.create_account("alice", "pw")
    inbox = await (await store.open_user("alice")).get_mailbox("INBOX")
    uids = [await _append(inbox, n) for n in range(1, 6)]
    other = FastPgStore(pg_url, pool_min=1, pool_max=2)
    await other.start()
    try:
        mirror = await (await other.open_user("alice")).get_mailbox("INBOX")
        first = await mirror.snapshot()
        assert list(first.uids) == uids
        await inbox.store_flags(uids[:2], FlagChange.ADD, frozenset({"\\Deleted", "$Gone"}))
        await inbox.store_flags(uids[2:3], FlagChange.ADD, frozenset({"\\Seen"}))
        await inbox.expunge()
        new = await _append(inbox, 6)
        second = await mirror.snapshot()
        assert list(second.uids) == [*uids[2:], new]
        assert list(second.flags) == [{"\\Seen"}, frozenset(), frozenset(), frozenset()]
        assert "$Gone" in second.keywords
        assert second == await inbox.snapshot()
        changes = await mirror.changes_since(first.highest_modseq)
        assert list(changes.expunged) == uids[:2]
        assert [u.uid for u in changes.updated] == [uids[2], new]
    finally:
        await other.aclose()
