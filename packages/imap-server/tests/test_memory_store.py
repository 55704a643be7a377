"""MemoryStore: the store conformance suite, then what only the memory store promises."""

from __future__ import annotations

import datetime as _dt
import gc
import hashlib
import logging
import threading
import types
from collections.abc import AsyncIterator, Callable, Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest

from imap_server.memory import MemoryStore, open_memory_store
from imap_server.message import parse_message
from imap_server.store import (
    Backend,
    CannotError,
    FlagChange,
    MailboxGone,
    MessageTooBig,
    OverQuota,
    StoreError,
    User,
)
from imap_server.testing import StoreConformance, sample_message

pytestmark = pytest.mark.anyio

DELETED = "\\Deleted"
SEEN = "\\Seen"


class _QuickHashStore(MemoryStore):
    # The suite creates a user per test; the real cost (2**14, tens of milliseconds per hash)
    # would make it several seconds slower. The default cost is tested below on its own.
    scrypt_n = 2**4


class TestMemoryStoreConformance(StoreConformance):
    """The whole conformance suite against MemoryStore."""

    @pytest.fixture
    async def backend(self) -> AsyncIterator[Backend]:
        store = _QuickHashStore()
        await store.start()
        yield store
        await store.aclose()

    async def make_user(self, backend: Backend, name: str, password: str) -> None:
        assert isinstance(backend, MemoryStore)
        backend.add_user(name, password)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store() -> MemoryStore:
    store = _QuickHashStore()
    store.add_user("alice", "secret")
    return store


@pytest.fixture
async def user(store: MemoryStore) -> User:
    return await store.open_user("alice")


async def _append(mailbox: Any, n: int = 1, **kwargs: Any) -> int:
    data = sample_message(n)
    result = await mailbox.append(data, parsed=parse_message(data), **kwargs)
    return int(result.uid)


# -- passwords --------------------------------------------------------------------------------


class _ScryptCalls:
    """Records the calls to hashlib.scrypt (and the thread each ran in), then hashes."""

    def __init__(self, original: Callable[..., bytes]) -> None:
        self.original = original
        self.calls: list[dict[str, Any]] = []

    def __call__(self, password: bytes, **kwargs: Any) -> bytes:
        self.calls.append({**kwargs, "thread": threading.get_ident()})
        return self.original(password, **kwargs)


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> _ScryptCalls:
    recorder = _ScryptCalls(hashlib.scrypt)
    monkeypatch.setattr(hashlib, "scrypt", recorder)
    return recorder


async def test_passwords_hashed_with_scrypt(scrypt_calls: _ScryptCalls) -> None:
    store = MemoryStore()
    store.add_user("alice", "secret")
    [made] = scrypt_calls.calls
    assert (made["n"], made["r"], made["p"]) == (2**14, 8, 1)
    assert len(made["salt"]) == 16
    assert await store.check_password("alice", "secret") == "alice"
    assert await store.check_password("alice", "wrong") is None
    assert [call["salt"] for call in scrypt_calls.calls] == [made["salt"]] * 3
    # Checks hash in worker threads, not on the event loop.
    assert all(call["thread"] != threading.get_ident() for call in scrypt_calls.calls[1:])


async def test_unknown_user_costs_a_hash(scrypt_calls: _ScryptCalls) -> None:
    store = MemoryStore()
    assert await store.check_password("nobody", "secret") is None
    [call] = scrypt_calls.calls
    assert (call["n"], call["r"], call["p"]) == (2**14, 8, 1)
    assert call["thread"] != threading.get_ident()


async def test_salts_are_random(scrypt_calls: _ScryptCalls, store: MemoryStore) -> None:
    store.add_user("bob", "same")
    store.add_user("carol", "same")
    salts = [call["salt"] for call in scrypt_calls.calls[-2:]]
    assert salts[0] != salts[1]


def _reachable(root: object) -> Iterator[object]:
    """Every object reachable from ``root`` through instances (not classes or modules)."""
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType)
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        yield obj
        stack.extend(gc.get_referents(obj))


async def test_no_plaintext_kept(store: MemoryStore, user: User) -> None:
    password = "plaintext-canary-7f3a"
    store.add_user("bob", password)
    store.set_password("alice", password + "-2")
    assert await store.check_password("bob", password) == "bob"
    reachable = list(_reachable(store))
    # The walk does reach the accounts' password records...
    assert sum(type(obj).__name__ == "PasswordHash" for obj in reachable) == 2
    # ...and nothing on the way holds the password.
    for obj in reachable:
        if isinstance(obj, str):
            assert password not in obj
        elif isinstance(obj, bytes | bytearray):
            assert password.encode() not in obj
    for shown in (repr(store), repr(user), repr(await user.get_mailbox("INBOX"))):
        assert password not in shown


async def test_user_names_are_exact(store: MemoryStore) -> None:
    assert await store.check_password("Alice", "secret") is None
    assert await store.check_password("alice", "secret", authzid="Alice") is None
    with pytest.raises(StoreError):
        await store.open_user("ALICE")


async def test_user_admin(store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="exists"):
        store.add_user("alice", "again")
    with pytest.raises(ValueError, match="empty"):
        store.add_user("", "x")
    store.set_password("alice", "new")
    assert await store.check_password("alice", "secret") is None
    assert await store.check_password("alice", "new") == "alice"
    with pytest.raises(KeyError):
        store.set_password("nobody", "x")
    with pytest.raises(KeyError):
        store.remove_user("nobody")
    assert store.users() == {"alice"}


async def test_remove_user(store: MemoryStore, user: User) -> None:
    inbox = await user.get_mailbox("INBOX")
    await _append(inbox)
    notified: list[str] = []
    store.add_change_listener(notified.append)
    store.remove_user("alice")
    assert notified == [inbox.id]
    with pytest.raises(MailboxGone):
        await inbox.status()
    with pytest.raises(StoreError):
        await user.list_mailboxes()
    with pytest.raises(StoreError):
        await store.open_user("alice")
    assert await store.check_password("alice", "secret") is None
    # The name is free again, for a new account that sees nothing of the old one.
    store.add_user("alice", "other")
    fresh = await (await store.open_user("alice")).get_mailbox("INBOX")
    assert (await fresh.status()).messages == 0


# -- limits -------------------------------------------------------------------------------------


async def test_message_too_big() -> None:
    size = len(sample_message(1))
    store = _QuickHashStore(max_message_size=size)
    store.add_user("alice", "secret")
    inbox = await (await store.open_user("alice")).get_mailbox("INBOX")
    await _append(inbox, 1)
    data = sample_message(10)  # one octet more
    with pytest.raises(MessageTooBig) as raised:
        await inbox.append(data, parsed=parse_message(data))
    assert raised.value.code == "TOOBIG"
    assert (await inbox.status()).messages == 1


async def test_quota() -> None:
    size = len(sample_message(1))
    store = _QuickHashStore(quota_bytes=3 * size)
    store.add_user("alice", "secret")
    user = await store.open_user("alice")
    await user.create_mailbox("Other")
    inbox = await user.get_mailbox("INBOX")
    other = await user.get_mailbox("Other")
    uids = [await _append(inbox, 1) for _ in range(2)]
    with pytest.raises(OverQuota) as raised:
        await inbox.copy(uids, other)
    assert raised.value.code == "OVERQUOTA"
    assert (await other.status()).messages == 0
    await _append(other, 1)
    with pytest.raises(OverQuota):
        await _append(inbox, 1)
    # Moving within the account needs no room; expunging and deleting make some.
    await inbox.move(uids, other)
    await user.rename_mailbox("INBOX", "Old")
    with pytest.raises(OverQuota):
        await _append(inbox, 1)
    old = await user.get_mailbox("Old")
    await old.store_flags((await old.snapshot()).uids, FlagChange.ADD, frozenset({DELETED}))
    assert len(await old.expunge()) == 0  # it never had any: the messages are in Other
    await other.store_flags(uids[:1], FlagChange.ADD, frozenset({DELETED}))
    await other.expunge()
    await _append(inbox, 1)
    with pytest.raises(OverQuota):
        await _append(inbox, 1)
    await user.delete_mailbox("Other")
    await _append(inbox, 1)
    await _append(inbox, 1)


async def test_quota_is_per_user() -> None:
    size = len(sample_message(1))
    store = _QuickHashStore(quota_bytes=size)
    store.add_user("alice", "a")
    store.add_user("bob", "b")
    alice = await (await store.open_user("alice")).get_mailbox("INBOX")
    bob = await (await store.open_user("bob")).get_mailbox("INBOX")
    uid = await _append(alice, 1)
    await _append(bob, 1)
    with pytest.raises(OverQuota):
        await alice.move([uid], bob)
    assert (await alice.status()).messages == 1


# -- the store URL --------------------------------------------------------------------------


def test_open_memory_store() -> None:
    assert isinstance(open_memory_store("memory://"), MemoryStore)
    for url in ("memory:", "memory:///", "memory://host", "memory://?user=a:b", "pg://x", ""):
        with pytest.raises(ValueError):
            open_memory_store(url)


def test_entry_point() -> None:
    [point] = [ep for ep in entry_points(group="imap_server.stores") if ep.name == "memory"]
    assert point.load() is open_memory_store


# -- behaviour the interface leaves to the store -------------------------------------------


async def test_internal_date_must_be_aware(user: User) -> None:
    inbox = await user.get_mailbox("INBOX")
    with pytest.raises(ValueError, match="aware"):
        await _append(inbox, internal_date=_dt.datetime(2024, 1, 1, 12, 0))


async def test_recent_never_stored(user: User) -> None:
    inbox = await user.get_mailbox("INBOX")
    uid = await _append(inbox, flags=frozenset({"\\Recent", SEEN}))
    [message] = await inbox.fetch([uid])
    assert message.flags == {SEEN}
    await inbox.store_flags([uid], FlagChange.REPLACE, frozenset({"\\Recent"}))
    [message] = await inbox.fetch([uid])
    assert message.flags == frozenset()


async def test_names(user: User) -> None:
    await user.create_mailbox("inbox/Sub")
    await user.create_mailbox("a/b")
    await user.create_mailbox("Case")
    await user.create_mailbox("case")
    names = {info.name for info in await user.list_mailboxes()}
    assert names == {"INBOX", "INBOX/Sub", "a", "a/b", "Case", "case"}
    # Superiors made on the way are real mailboxes.
    await user.get_mailbox("a")
    assert (await user.get_mailbox("Inbox/Sub")).name == "INBOX/Sub"


async def test_special_use_case(user: User) -> None:
    await user.create_mailbox("Sent", special_use=frozenset({"\\sent"}))
    [info] = [info for info in await user.list_mailboxes() if info.name == "Sent"]
    assert info.attributes == {"\\Sent"}


async def test_rename_placeholder(user: User) -> None:
    await user.create_mailbox("a/b")
    await user.delete_mailbox("a")
    await user.rename_mailbox("a", "z")
    infos = {info.name: info for info in await user.list_mailboxes()}
    assert set(infos) == {"INBOX", "z", "z/b"}
    assert infos["z"].attributes == {"\\Noselect"}


async def test_uid_validity_distinct(user: User) -> None:
    for name in ("a", "b", "c"):
        await user.create_mailbox(name)
    validities = {(await (await user.get_mailbox(n)).status()).uid_validity for n in "abc"}
    assert len(validities) == 3


async def test_copy_to_foreign_mailbox(user: User) -> None:
    other_store = _QuickHashStore()
    other_store.add_user("bob", "b")
    foreign = await (await other_store.open_user("bob")).get_mailbox("INBOX")
    inbox = await user.get_mailbox("INBOX")
    uid = await _append(inbox)
    with pytest.raises(CannotError):
        await inbox.copy([uid], foreign)


async def test_failing_listener(
    store: MemoryStore, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(mailbox_id: str) -> None:
        raise RuntimeError("listener bug")

    seen: list[str] = []
    store.add_change_listener(broken)
    store.add_change_listener(seen.append)
    inbox = await user.get_mailbox("INBOX")
    with caplog.at_level(logging.ERROR, logger="imap_server.memory"):
        await _append(inbox)  # committed, so it must not raise
    assert seen == [inbox.id]
    assert "listener bug" in caplog.text
    assert (await inbox.status()).messages == 1


async def test_change_log_stays_small(user: User) -> None:
    inbox = await user.get_mailbox("INBOX")
    [a, b] = [await _append(inbox, n) for n in (1, 2)]
    mark = (await inbox.status()).highest_modseq
    for n in range(3000):
        flags = frozenset({f"$K{n % 3}"})
        await inbox.store_flags([a], FlagChange.REPLACE, flags)
    state = inbox._state  # type: ignore[attr-defined]
    assert len(state.log_uid) < 2 * 1024 + 10
    changes = await inbox.changes_since(mark)
    assert [(u.uid, u.flags) for u in changes.updated] == [(a, frozenset({"$K2"}))]
    assert [u.uid for u in (await inbox.changes_since(0)).updated] == [a, b]


# -- size -------------------------------------------------------------------------------------


async def test_hundred_thousand_messages(user: User) -> None:
    """The hot paths on a big mailbox: no timing asserts, but each must be quick (no scans
    where none is needed) for the test to finish in a second or two."""
    count = 100_000
    inbox = await user.get_mailbox("INBOX")
    data = sample_message(1)
    parsed = parse_message(data)
    for _ in range(100):
        await inbox.append(data, parsed=parsed)
    # Copying into itself doubles the mailbox in one call each: quicker than 100,000 appends.
    while (have := len((await inbox.snapshot()).uids)) < count:
        await inbox.copy(range(1, min(have, count - have) + 1), inbox)
    status = await inbox.status()
    assert status.messages == status.unseen == count
    highest = status.highest_modseq
    for _ in range(1000):  # what every session does after every command
        assert not (await inbox.changes_since(highest)).updated
    for uid in range(1, count, 100):  # one flag change, then a session catching up
        mark = (await inbox.status()).highest_modseq
        await inbox.store_flags([uid], FlagChange.ADD, frozenset({SEEN}))
        changes = await inbox.changes_since(mark)
        assert [u.uid for u in changes.updated] == [uid]
        [message] = await inbox.fetch([uid])
        assert message.flags == {SEEN}
    assert len(await inbox.fetch(range(1, 2**32))) == count
    assert len(await inbox.fetch(range(50_000, 50_100))) == 100
    assert len((await inbox.snapshot()).uids) == count
    for uid in range(count - 10, count + 1):
        await inbox.store_flags([uid], FlagChange.ADD, frozenset({DELETED}))
        await inbox.expunge([uid])
    changes = await inbox.changes_since(highest)
    assert len(changes.expunged) == 11
    assert len(changes.updated) == len(range(1, count, 100))
    status = await inbox.status()
    assert status.messages == count - 11
    assert status.unseen == count - 11 - len(range(1, count, 100))
