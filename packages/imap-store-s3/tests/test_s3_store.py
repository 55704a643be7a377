"""Tests of `S3Store` beyond the conformance suite: URLs, several processes (stores) on one
bucket, notifications, request counts, failed APPENDs and garbage collection."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import anyio
import pytest

from imap_server.message import parse_message
from imap_server.spool import SpooledMessage
from imap_server.store import (
    AppendResult,
    FlagChange,
    Mailbox,
    StoreError,
    StoreUnavailable,
    StreamingBody,
    Want,
)
from imap_server.testing.conformance import sample_message
from imap_store_s3 import S3Store, open_s3_store, parse_s3_url
from imap_store_s3.log import SNAPSHOT_EVERY

pytestmark = pytest.mark.anyio


class FastS3Store(S3Store):
    scrypt_n: ClassVar[int] = 2**4
    scram_iterations: ClassVar[int] = 64


def _store(url: str, **kwargs: Any) -> FastS3Store:
    config, _ = parse_s3_url(url)
    return FastS3Store(config, **kwargs)


@pytest.fixture
async def stores(s3_url: str) -> AsyncIterator[tuple[FastS3Store, FastS3Store]]:
    """Two stores on one bucket: two server processes, as far as S3 is concerned."""
    one, two = _store(s3_url, poll_interval=0.5), _store(s3_url, poll_interval=0.5)
    await one.start()
    await two.start()
    try:
        yield one, two
    finally:
        await one.aclose()
        await two.aclose()


async def _append(mailbox: Mailbox, n: int) -> AppendResult:
    data = sample_message(n)
    return await mailbox.append(data, parsed=parse_message(data))


async def _inbox(store: S3Store, name: str = "alice") -> Mailbox:
    return await (await store.open_user(name)).get_mailbox("INBOX")


# -- URLs


def test_open_s3_store_url() -> None:
    store = open_s3_store(
        "s3://bucket/some/prefix?endpoint=http://127.0.0.1:9&region=eu-west-1"
        "&addressing_style=path&max_message_size=1000&poll_interval=2.5"
    )
    assert store.config.bucket == "bucket"
    assert store.config.prefix == "some/prefix"
    assert store.config.endpoint_url == "http://127.0.0.1:9"
    assert store.config.region == "eu-west-1"
    assert store.config.addressing_style == "path"
    assert store.max_message_size == 1000
    assert store.poll_interval == 2.5
    assert store.account_key("a b/c") == "some/prefix/accounts/a%20b%2Fc"


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/p?color=blue",
        "s3://bucket/p?max_message_size=big",
        "s3://bucket/p?poll_interval=0",
        "s3://bucket/p?addressing_style=sideways",
        "postgresql://host/db",
        "s3:///nobucket",
    ],
)
def test_open_s3_store_bad_url(url: str) -> None:
    with pytest.raises(ValueError):
        open_s3_store(url)


# -- several processes


async def test_concurrent_appends_two_stores(stores: tuple[FastS3Store, FastS3Store]) -> None:
    one, two = stores
    await one.create_account("alice", "pw")
    inboxes = [await _inbox(one), await _inbox(two)]
    results: list[AppendResult] = []
    per_store = 30

    async def append_one(which: int, n: int) -> None:
        results.append(await _append(inboxes[which], n))

    async with anyio.create_task_group() as group:
        for n in range(per_store):
            group.start_soon(append_one, 0, n)
            group.start_soon(append_one, 1, 1000 + n)
    uids = [r.uid for r in results]
    assert len(uids) == len(set(uids)) == 2 * per_store
    assert len({r.modseq for r in results}) == 2 * per_store
    # Both converge on the same state.
    snapshots = [await inbox.snapshot() for inbox in inboxes]
    await anyio.sleep(one.poll_interval + 0.1)  # past the read cache's freshness window
    snapshots = [await inbox.snapshot() for inbox in inboxes]
    assert list(snapshots[0].uids) == list(snapshots[1].uids) == sorted(uids)
    assert snapshots[0].highest_modseq == snapshots[1].highest_modseq
    # Flags changed by one are seen by the other; no update lost.
    await inboxes[0].store_flags(uids[:10], FlagChange.ADD, frozenset({"\\Seen"}))
    await inboxes[1].store_flags(uids[5:15], FlagChange.ADD, frozenset({"\\Flagged"}))
    await anyio.sleep(one.poll_interval + 0.1)
    for inbox in inboxes:
        flags = {m.uid: m.flags for m in await inbox.fetch(sorted(uids)[:15])}
        ordered = sorted(uids)
        assert all("\\Seen" in flags[u] for u in ordered[:10])
        assert all("\\Flagged" in flags[u] for u in ordered[5:15])


async def test_other_store_notified(stores: tuple[FastS3Store, FastS3Store]) -> None:
    one, two = stores
    await one.create_account("alice", "pw")
    watcher = await _inbox(two)
    await watcher.snapshot()
    notified: list[str] = []
    two.add_change_listener(notified.append)
    writer = await _inbox(one)
    started = time.monotonic()
    await _append(writer, 1)
    with anyio.fail_after(3):
        while watcher.id not in notified:
            await anyio.sleep(0.05)
    assert time.monotonic() - started < 3
    assert (await watcher.changes_since(1)).updated


async def test_cold_open_uses_snapshot(s3_url: str) -> None:
    one = _store(s3_url)
    await one.create_account("alice", "pw")
    inbox = await _inbox(one)
    count = SNAPSHOT_EVERY + 5
    data = sample_message(1)
    parsed = parse_message(data)
    for _ in range(count):
        await inbox.append(data, parsed=parsed)
    await inbox.store_flags(range(1, 4), FlagChange.ADD, frozenset({"\\Deleted"}))
    await inbox.expunge()
    cold = _store(s3_url)
    before = cold.requests
    cold_inbox = await _inbox(cold)
    snapshot = await cold_inbox.snapshot()
    # GET account, GET directory, LIST snapshots, GET snapshot, LIST log, GET 7 entries.
    assert cold.requests - before <= 12
    assert list(snapshot.uids) == list(range(4, count + 1))
    assert snapshot == await inbox.snapshot()
    [message] = await cold_inbox.fetch([count], Want.BODY | Want.STRUCTURE)
    assert message.body is not None
    assert await message.body.read() == data
    assert message.parsed == parsed


# -- request budget


async def test_request_counts(s3_url: str) -> None:
    store = _store(s3_url)
    await store.create_account("alice", "pw")
    inbox = await _inbox(store)
    await inbox.snapshot()
    data = sample_message(1)
    parsed = parse_message(data)
    before = store.requests
    appends = 100
    for _ in range(appends):
        await inbox.append(data, parsed=parsed)
    per_append = (store.requests - before) / appends
    assert per_append <= 3, per_append

    # FETCH of one body: one GET (a partial one: one ranged GET).
    [message] = await inbox.fetch([1], Want.BODY)
    assert message.body is not None
    before = store.requests
    assert await message.body.read() == data
    assert store.requests - before == 1
    before = store.requests
    assert await message.body.read(5, 20) == data[5:20]
    assert store.requests - before == 1

    # FETCH FLAGS of 1,000 messages in an open mailbox: fetch() then changes_since().
    for _ in range(1000 - appends):
        await inbox.append(data, parsed=parsed)
    status = await inbox.status()
    await anyio.sleep(store.poll_interval + 0.1)  # the cache is not fresh: the worst case
    before = store.requests
    fetched = await inbox.fetch(range(1, status.uid_next), Want.STRUCTURE)
    await inbox.changes_since(status.highest_modseq)
    assert len(fetched) == 1000
    assert store.requests - before <= 2


async def test_large_body_streams_from_one_get(s3_url: str) -> None:
    store = _store(s3_url)
    await store.create_account("alice", "pw")
    inbox = await _inbox(store)
    line = b"a line of a large message in S3, streamed back\r\n"
    data = sample_message(1, text=line * (3 * 1024 * 1024 // len(line)))
    with SpooledMessage.from_bytes(data) as spooled:
        uid = (await inbox.append(spooled, parsed=parse_message(data))).uid
    [message] = await inbox.fetch([uid], Want.BODY)
    body = message.body
    assert isinstance(body, StreamingBody)
    for start, end in (
        (0, len(data)),
        (0, len(data) + 10),
        (10, 2_000_000),
        (len(data) - 5, len(data)),
    ):
        before = store.requests
        pieces = [piece async for piece in body.stream(start, end)]
        assert b"".join(pieces) == data[start:end]
        assert max(len(piece) for piece in pieces) <= 1024 * 1024
        assert store.requests - before == 1
    # Gone (expunged, and collected): the stream fails as a store error.
    await inbox.store_flags([uid], FlagChange.ADD, frozenset({"\\Deleted"}))
    await inbox.expunge()
    await store.collect_garbage(older_than=0)
    with pytest.raises(StoreError):
        [piece async for piece in body.stream(0, len(data))]


# -- failures and garbage


async def test_failed_body_upload_leaves_nothing(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(s3_url)
    await store.create_account("alice", "pw")
    inbox = await _inbox(store)
    before = await inbox.snapshot()

    async def fail(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("S3 unreachable")

    monkeypatch.setattr(store._client, "upload", fail)
    with pytest.raises(StoreUnavailable):
        await _append(inbox, 1)
    monkeypatch.undo()
    other = _store(s3_url)
    assert await (await _inbox(other)).snapshot() == before
    assert await inbox.snapshot() == before
    assert await store._client.list(store.config.key("bodies") + "/") == []


async def test_failed_claim_removes_body(s3_url: str) -> None:
    store = _store(s3_url)
    await store.create_account("alice", "pw")
    user = await store.open_user("alice")
    await user.create_mailbox("Doomed")
    doomed = await user.get_mailbox("Doomed")
    await user.delete_mailbox("Doomed")
    with pytest.raises(Exception):  # noqa: B017 - MailboxGone
        await _append(doomed, 1)
    assert await store._client.list(store.config.key("bodies") + "/") == []


async def test_bad_endpoint_is_unavailable() -> None:
    store = open_s3_store("s3://bucket/p?endpoint=http://127.0.0.1:9&max_attempts=1")
    with pytest.raises(StoreUnavailable):
        await store.open_user("alice")


async def test_collect_garbage(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(s3_url)
    await store.create_account("alice", "pw")
    inbox = await _inbox(store)
    kept = await _append(inbox, 1)
    expunged = await _append(inbox, 2)
    await inbox.store_flags([expunged.uid], FlagChange.ADD, frozenset({"\\Deleted"}))
    await inbox.expunge()
    orphan = store.body_key()
    await store._client.put(orphan, b"orphaned octets")

    report = await store.collect_garbage(older_than=3600)
    assert (report.examined, report.removed, report.too_young) == (3, 0, 2)

    # An hour later, as far as the collector can tell.
    real_time: Callable[[], float] = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 7200)
    dry = await store.collect_garbage(older_than=3600, dry_run=True)
    assert (dry.examined, dry.removed, dry.too_young) == (3, 2, 0)
    assert dry.removed_bytes > len(b"orphaned octets")
    assert len(await store._client.list(store.config.key("bodies") + "/")) == 3
    report = await store.collect_garbage(older_than=3600)
    assert report.removed == 2
    monkeypatch.undo()
    left = await store._client.list(store.config.key("bodies") + "/")
    assert len(left) == 1
    [message] = await inbox.fetch([kept.uid], Want.BODY)
    assert message.body is not None
    assert await message.body.read() == sample_message(1)


async def test_accounts(s3_url: str) -> None:
    store = _store(s3_url)
    await store.create_account("alice", "one")
    await store.create_account("bob@example.org", "two")
    assert list(await store.account_names()) == ["alice", "bob@example.org"]
    await store.change_password("alice", "three")
    assert await store.check_password("alice", "one") is None
    assert await store.check_password("alice", "three") == "alice"
    assert await store.scram_credentials("alice", "sha256") is not None
    inbox = await _inbox(store)
    await _append(inbox, 1)
    await store.delete_account("alice")
    assert list(await store.account_names()) == ["bob@example.org"]
    assert await store.check_password("alice", "three") is None
    with pytest.raises(Exception):  # noqa: B017 - MailboxGone
        await inbox.status()
    await store.create_account("alice", "again")
    assert (await (await _inbox(store)).status()).messages == 0
