"""The store conformance suite: every rule of `imap_server.store`, as pytest tests.

A store package runs it by subclassing `StoreConformance` in its own tests, giving a fresh
store and a way to create accounts::

    class TestPgStore(StoreConformance):
        @pytest.fixture
        async def backend(self) -> AsyncIterator[Backend]:
            store = PgStore(dsn)  # a fresh, empty store
            await store.start()
            yield store
            await store.aclose()

        async def make_user(self, backend: Backend, name: str, password: str) -> None:
            await cast(PgStore, backend).create_account(name, password)

The tests run on asyncio only (asyncpg supports nothing else). The password tests run when the
store is also a `PasswordAuthenticator` (override the ``authenticator`` fixture otherwise).
A slow store may lower `StoreConformance.large_mailbox_size`.

What the interface leaves to each store is not tested: whether superior names created on the
way are selectable, case sensitivity of names other than INBOX, whether a store keeps
tombstones forever, and whether a change to nothing notifies.
"""

from __future__ import annotations

import datetime as _dt
import unicodedata
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import ClassVar

import anyio
import pytest

from imap_server.message import ParsedMessage, parse_message
from imap_server.spool import SpooledMessage
from imap_server.store import (
    AlreadyExists,
    AppendResult,
    Backend,
    CannotError,
    FlagChange,
    InvalidName,
    Mailbox,
    MailboxGone,
    MailboxInfo,
    MessageData,
    NoSuchMailbox,
    PasswordAuthenticator,
    StoreError,
    User,
    Want,
)

__all__ = ["StoreConformance", "sample_message"]

SEEN = "\\Seen"
DELETED = "\\Deleted"
FLAGGED = "\\Flagged"
ANSWERED = "\\Answered"
#: An internal date with seconds only (IMAP's precision) and a zone other than UTC.
DATE = _dt.datetime(2024, 3, 1, 12, 30, 45, tzinfo=_dt.timezone(_dt.timedelta(hours=2)))
SPECIAL_USES = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
INVALID_NAMES = ("", "/a", "a//b", "a/*", "a%", "tab\there", "nul\x00", "del\x7f", "c1\x85")


def sample_message(n: int = 1, *, text: bytes | None = None) -> bytes:
    """Return a small RFC 5322 message, different for each ``n``."""
    body = text if text is not None else b"Hello number %d.\r\n" % n
    return (
        b"From: Alice <alice@example.org>\r\n"
        b"To: Bob <bob@example.org>\r\n"
        b"Subject: message %d\r\n"
        b"Date: Fri, 1 Mar 2024 12:30:45 +0200\r\n"
        b"Message-ID: <%d@example.org>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n" % (n, n)
    ) + body


def _not_provided(suite: object, what: str) -> Backend:
    raise NotImplementedError(f"{type(suite).__name__} must provide {what}")


def _parsed(data: bytes) -> ParsedMessage:
    return parse_message(data)


async def _append(
    mailbox: Mailbox,
    n: int = 1,
    *,
    flags: frozenset[str] = frozenset(),
    date: _dt.datetime | None = DATE,
    data: bytes | None = None,
) -> AppendResult:
    body = data if data is not None else sample_message(n)
    return await mailbox.append(body, parsed=_parsed(body), flags=flags, internal_date=date)


async def _fill(mailbox: Mailbox, count: int, flags: frozenset[str] = frozenset()) -> list[int]:
    return [(await _append(mailbox, n, flags=flags)).uid for n in range(1, count + 1)]


async def _all(mailbox: Mailbox, want: Want = Want.META) -> Sequence[MessageData]:
    snapshot = await mailbox.snapshot()
    return await mailbox.fetch(snapshot.uids, want)


async def _flags(mailbox: Mailbox) -> dict[int, frozenset[str]]:
    return {message.uid: message.flags for message in await _all(mailbox)}


async def _check_counters(mailbox: Mailbox) -> None:
    """STATUS, SNAPSHOT and FETCH must tell the same story."""
    status = await mailbox.status()
    snapshot = await mailbox.snapshot()
    messages = await mailbox.fetch(snapshot.uids)
    assert [m.uid for m in messages] == list(snapshot.uids)
    assert [m.flags for m in messages] == list(snapshot.flags)
    assert status.messages == len(messages)
    assert status.unseen == sum(SEEN not in m.flags for m in messages)
    assert status.deleted == sum(DELETED in m.flags for m in messages)
    assert status.size == sum(m.size for m in messages)
    assert status.uid_next == snapshot.uid_next
    assert status.uid_validity == snapshot.uid_validity
    assert status.highest_modseq == snapshot.highest_modseq
    assert all(m.uid < status.uid_next for m in messages)
    assert all(m.modseq <= status.highest_modseq for m in messages)


def _by_name(infos: Sequence[MailboxInfo]) -> dict[str, MailboxInfo]:
    by_name = {info.name: info for info in infos}
    assert len(by_name) == len(infos), "a name listed twice"
    return by_name


async def _names(user: User) -> set[str]:
    return set(_by_name(await user.list_mailboxes()))


async def _expect_gone(mailbox: Mailbox, other: Mailbox) -> None:
    """Every call on ``mailbox`` raises `MailboxGone`; ``other`` is a live mailbox."""
    with pytest.raises(MailboxGone):
        await mailbox.status()
    with pytest.raises(MailboxGone):
        await mailbox.snapshot()
    with pytest.raises(MailboxGone):
        await mailbox.fetch([1])
    with pytest.raises(MailboxGone):
        await _append(mailbox)
    with pytest.raises(MailboxGone):
        await mailbox.store_flags([1], FlagChange.ADD, frozenset({SEEN}))
    with pytest.raises(MailboxGone):
        await mailbox.expunge()
    with pytest.raises(MailboxGone):
        await mailbox.expunge([1])
    with pytest.raises(MailboxGone):
        await mailbox.copy([1], other)
    with pytest.raises(MailboxGone):
        await mailbox.move([1], other)
    with pytest.raises(MailboxGone):
        await mailbox.changes_since(0)
    # ...and as the destination of a copy or move.
    with pytest.raises(MailboxGone):
        await other.copy([1], mailbox)
    with pytest.raises(MailboxGone):
        await other.move([1], mailbox)


class StoreConformance:
    """The conformance tests; subclass it (named ``Test...``) to run them against a store.

    The subclass provides the ``backend`` fixture (a fresh, empty, started store, closed
    afterwards) and `make_user`. Every test is async and runs on asyncio.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.anyio]

    #: Messages in the large-mailbox test.
    large_mailbox_size: ClassVar[int] = 5_000
    #: Size of the message `test_append_spooled` appends as a `SpooledMessage` (a store
    #: that uploads in parts may want it above its part size).
    spooled_message_size: ClassVar[int] = 3 * 1024 * 1024
    #: The account the ``user`` fixture creates.
    user_name: ClassVar[str] = "alice"
    password: ClassVar[str] = "correct horse battery staple"

    # -- what a store provides

    @pytest.fixture
    def anyio_backend(self) -> str:
        """asyncio only: asyncpg, used by the PostgreSQL store, supports nothing else."""
        return "asyncio"

    @pytest.fixture
    async def backend(self) -> AsyncIterator[Backend]:
        """A fresh, empty, started store, closed after the test. Subclasses override it."""
        yield _not_provided(self, "the backend fixture")

    async def make_user(self, backend: Backend, name: str, password: str) -> None:
        """Create an account with an empty INBOX (store-specific). Subclasses override it."""
        _not_provided(self, "make_user")

    # -- fixtures the tests share

    @pytest.fixture
    async def user(self, backend: Backend) -> User:
        await self.make_user(backend, self.user_name, self.password)
        return await backend.open_user(self.user_name)

    @pytest.fixture
    async def inbox(self, user: User) -> Mailbox:
        return await user.get_mailbox("INBOX")

    @pytest.fixture
    async def other(self, user: User) -> Mailbox:
        await user.create_mailbox("Other")
        return await user.get_mailbox("Other")

    @pytest.fixture
    def authenticator(self, backend: Backend) -> PasswordAuthenticator:
        if not isinstance(backend, PasswordAuthenticator):
            pytest.skip("the store does not check passwords")
        return backend

    @pytest.fixture
    def notified(self, backend: Backend) -> Iterator[list[str]]:
        """The mailbox ids passed to `Backend.notify_change`, in order."""
        ids: list[str] = []
        backend.add_change_listener(ids.append)
        yield ids
        backend.remove_change_listener(ids.append)

    # -- users and passwords

    async def test_open_user(self, backend: Backend, user: User) -> None:
        assert user.name == self.user_name
        again = await backend.open_user(self.user_name)
        await user.create_mailbox("Seen by both")
        assert "Seen by both" in await _names(again)

    async def test_open_unknown_user(self, backend: Backend, user: User) -> None:
        with pytest.raises(StoreError):
            await backend.open_user("nobody")

    async def test_users_are_separate(self, backend: Backend, user: User) -> None:
        await self.make_user(backend, "bob", "bob's password")
        bob = await backend.open_user("bob")
        await user.create_mailbox("Alice only")
        await _append(await user.get_mailbox("INBOX"))
        assert await _names(bob) == {"INBOX"}
        assert (await (await bob.get_mailbox("INBOX")).status()).messages == 0
        with pytest.raises(NoSuchMailbox):
            await bob.get_mailbox("Alice only")

    async def test_password_right(self, authenticator: PasswordAuthenticator, user: User) -> None:
        assert await authenticator.check_password(self.user_name, self.password) == user.name

    async def test_password_wrong(self, authenticator: PasswordAuthenticator, user: User) -> None:
        name = self.user_name
        assert await authenticator.check_password(name, self.password + "x") is None
        assert await authenticator.check_password(name, self.password.upper()) is None
        assert await authenticator.check_password(name, "") is None

    async def test_password_unknown_user(
        self, authenticator: PasswordAuthenticator, user: User
    ) -> None:
        assert await authenticator.check_password("nobody", self.password) is None

    async def test_password_authzid(
        self, backend: Backend, authenticator: PasswordAuthenticator, user: User
    ) -> None:
        name, password = self.user_name, self.password
        await self.make_user(backend, "bob", "bob's password")
        for own in (None, "", name):
            assert await authenticator.check_password(name, password, authzid=own) == name
        for foreign in ("bob", "nobody"):
            assert await authenticator.check_password(name, password, authzid=foreign) is None

    # -- mailbox names

    async def test_inbox_always_exists(self, user: User) -> None:
        infos = _by_name(await user.list_mailboxes())
        assert "INBOX" in infos
        assert "\\Noselect" not in infos["INBOX"].attributes
        inbox = await user.get_mailbox("INBOX")
        assert inbox.name == "INBOX"
        for spelling in ("inbox", "Inbox", "iNbOx"):
            same = await user.get_mailbox(spelling)
            assert same.id == inbox.id
            assert same.name == "INBOX"

    async def test_create_inbox_exists(self, user: User) -> None:
        for spelling in ("INBOX", "inbox", "InBox"):
            with pytest.raises(AlreadyExists):
                await user.create_mailbox(spelling)

    async def test_create_and_get(self, user: User) -> None:
        await user.create_mailbox("Projects")
        infos = _by_name(await user.list_mailboxes())
        assert set(infos) == {"INBOX", "Projects"}
        assert infos["Projects"].attributes == frozenset()
        mailbox = await user.get_mailbox("Projects")
        assert mailbox.name == "Projects"
        status = await mailbox.status()
        assert status.messages == status.unseen == status.deleted == status.size == 0
        assert status.uid_next >= 1
        assert 0 < status.uid_validity < 2**32
        assert status.highest_modseq >= 1

    async def test_create_existing(self, user: User) -> None:
        await user.create_mailbox("Projects")
        with pytest.raises(AlreadyExists):
            await user.create_mailbox("Projects")
        with pytest.raises(AlreadyExists):
            await user.create_mailbox("Projects/")

    @pytest.mark.parametrize("name", INVALID_NAMES)
    async def test_create_invalid_name(self, user: User, name: str) -> None:
        with pytest.raises(InvalidName):
            await user.create_mailbox(name)
        assert await _names(user) == {"INBOX"}

    async def test_create_trailing_delimiter(self, user: User) -> None:
        assert user.delimiter == "/", "the suite writes hierarchical names with '/'"
        await user.create_mailbox("Lists/")
        assert await _names(user) == {"INBOX", "Lists"}
        await user.get_mailbox("Lists")

    async def test_create_makes_superiors(self, user: User) -> None:
        await user.create_mailbox("a/b/c")
        assert await _names(user) == {"INBOX", "a", "a/b", "a/b/c"}
        assert (await user.get_mailbox("a/b/c")).name == "a/b/c"
        # Creating a superior that now exists fails; a sibling under it is fine.
        with pytest.raises(AlreadyExists):
            await user.create_mailbox("a/b")
        await user.create_mailbox("a/d")
        assert await _names(user) == {"INBOX", "a", "a/b", "a/b/c", "a/d"}

    async def test_unicode_names(self, user: User) -> None:
        name = "Entwürfe/Größe 📧/日本語"
        await user.create_mailbox(name)
        assert name in await _names(user)
        assert (await user.get_mailbox(name)).name == name

    async def test_denormalized_name(self, user: User) -> None:
        # RFC 9051 section 5.1: refuse non-NFC names, or accept them as their NFC form in
        # every command.
        nfd = unicodedata.normalize("NFD", "Café")
        nfc = unicodedata.normalize("NFC", "Café")
        try:
            await user.create_mailbox(nfd)
        except InvalidName:
            return
        mailbox = await user.get_mailbox(nfc)
        assert (await user.get_mailbox(nfd)).id == mailbox.id
        assert nfc in await _names(user)

    async def test_get_missing(self, user: User) -> None:
        with pytest.raises(NoSuchMailbox):
            await user.get_mailbox("Nope")
        with pytest.raises(NoSuchMailbox):
            await user.get_mailbox("a//b")

    async def test_mailbox_ids(self, user: User, inbox: Mailbox) -> None:
        await user.create_mailbox("One")
        await user.create_mailbox("Two")
        one = await user.get_mailbox("One")
        two = await user.get_mailbox("Two")
        assert len({inbox.id, one.id, two.id}) == 3
        assert (await user.get_mailbox("One")).id == one.id

    # -- special use (RFC 6154)

    @pytest.mark.parametrize("use", SPECIAL_USES)
    async def test_special_use(self, user: User, use: str) -> None:
        await user.create_mailbox("Special", special_use=frozenset({use}))
        infos = _by_name(await user.list_mailboxes())
        assert infos["Special"].attributes == {use}
        assert infos["INBOX"].attributes == frozenset()
        await user.get_mailbox("Special")

    async def test_special_use_unsupported(self, user: User) -> None:
        with pytest.raises(CannotError):
            await user.create_mailbox("Special", special_use=frozenset({"\\Important-ish"}))
        assert await _names(user) == {"INBOX"}

    # -- subscriptions

    async def test_subscriptions(self, user: User) -> None:
        await user.create_mailbox("Lists")
        assert await user.subscriptions() == frozenset()
        await user.subscribe("Lists")
        await user.subscribe("Lists")
        await user.subscribe("Not/there")  # need not exist
        await user.subscribe("inbox")
        assert await user.subscriptions() == {"Lists", "Not/there", "INBOX"}
        infos = _by_name(await user.list_mailboxes())
        assert infos["Lists"].subscribed
        assert infos["INBOX"].subscribed
        assert "Not/there" not in infos
        await user.unsubscribe("Lists")
        assert await user.subscriptions() == {"Not/there", "INBOX"}
        assert not _by_name(await user.list_mailboxes())["Lists"].subscribed
        with pytest.raises(NoSuchMailbox):
            await user.unsubscribe("Lists")

    async def test_subscription_outlives_mailbox(self, user: User) -> None:
        await user.create_mailbox("Short lived")
        await user.subscribe("Short lived")
        await user.delete_mailbox("Short lived")
        assert await user.subscriptions() == {"Short lived"}

    # -- delete

    async def test_delete(
        self, user: User, inbox: Mailbox, other: Mailbox, notified: list[str]
    ) -> None:
        await _fill(other, 3)
        await user.delete_mailbox("Other")
        assert other.id in notified
        assert await _names(user) == {"INBOX"}
        with pytest.raises(NoSuchMailbox):
            await user.get_mailbox("Other")
        await _expect_gone(other, inbox)

    async def test_delete_inbox(self, user: User) -> None:
        for spelling in ("INBOX", "inbox"):
            with pytest.raises(CannotError):
                await user.delete_mailbox(spelling)
        assert await _names(user) == {"INBOX"}

    async def test_delete_missing(self, user: User) -> None:
        with pytest.raises(NoSuchMailbox):
            await user.delete_mailbox("Nope")

    async def test_delete_then_create_is_new(self, user: User, other: Mailbox) -> None:
        await _fill(other, 3)
        before = await other.status()
        await user.delete_mailbox("Other")
        await user.create_mailbox("Other")
        again = await user.get_mailbox("Other")
        after = await again.status()
        assert again.id != other.id
        assert after.uid_validity != before.uid_validity
        assert after.messages == 0
        await _expect_gone(other, again)

    async def test_delete_with_inferiors_leaves_placeholder(self, user: User) -> None:
        await user.create_mailbox("a/b")
        parent = await user.get_mailbox("a")
        child = await user.get_mailbox("a/b")
        await _fill(parent, 2)
        await _fill(child, 2)
        await user.delete_mailbox("a")
        infos = _by_name(await user.list_mailboxes())
        assert set(infos) == {"INBOX", "a", "a/b"}
        assert "\\Noselect" in infos["a"].attributes
        assert "\\Noselect" not in infos["a/b"].attributes
        with pytest.raises(NoSuchMailbox):
            await user.get_mailbox("a")
        await _expect_gone(parent, child)
        assert (await child.status()).messages == 2
        # A placeholder with inferiors cannot be deleted...
        with pytest.raises(CannotError):
            await user.delete_mailbox("a")
        # ...and disappears with its last inferior.
        await user.delete_mailbox("a/b")
        assert await _names(user) == {"INBOX"}

    async def test_nested_placeholders_disappear(self, user: User) -> None:
        await user.create_mailbox("a/b/c")
        await user.create_mailbox("keep")
        await user.delete_mailbox("a")
        await user.delete_mailbox("a/b")
        infos = _by_name(await user.list_mailboxes())
        assert {name for name, info in infos.items() if "\\Noselect" in info.attributes} == {
            "a",
            "a/b",
        }
        await user.delete_mailbox("a/b/c")
        assert await _names(user) == {"INBOX", "keep"}

    async def test_create_over_placeholder(self, user: User) -> None:
        await user.create_mailbox("a/b")
        old = await user.get_mailbox("a")
        before = await old.status()
        await user.delete_mailbox("a")
        await user.create_mailbox("a")
        infos = _by_name(await user.list_mailboxes())
        assert "\\Noselect" not in infos["a"].attributes
        again = await user.get_mailbox("a")
        assert again.id != old.id
        assert (await again.status()).uid_validity != before.uid_validity

    # -- rename

    async def test_rename(
        self, user: User, other: Mailbox, notified: list[str], inbox: Mailbox
    ) -> None:
        uids = await _fill(other, 3)
        await other.store_flags(uids[:1], FlagChange.ADD, frozenset({SEEN}))
        before = await other.snapshot()
        await user.rename_mailbox("Other", "Renamed")
        assert other.id in notified
        assert await _names(user) == {"INBOX", "Renamed"}
        with pytest.raises(NoSuchMailbox):
            await user.get_mailbox("Other")
        renamed = await user.get_mailbox("Renamed")
        assert renamed.id == other.id
        assert renamed.name == "Renamed"
        # The handle opened before the rename follows the mailbox.
        assert other.name == "Renamed"
        after = await other.snapshot()
        assert after.uid_validity == before.uid_validity
        assert list(after.uids) == list(before.uids) == uids
        assert list(after.flags) == list(before.flags)
        await _append(other, 4)
        assert (await renamed.status()).messages == 4

    async def test_rename_moves_inferiors(self, user: User) -> None:
        await user.create_mailbox("a/b/c")
        await user.create_mailbox("ab")  # shares a prefix, but is no inferior
        ids = {name: (await user.get_mailbox(name)).id for name in ("a", "a/b", "a/b/c", "ab")}
        await user.rename_mailbox("a", "z")
        assert await _names(user) == {"INBOX", "z", "z/b", "z/b/c", "ab"}
        for old, new in (("a", "z"), ("a/b", "z/b"), ("a/b/c", "z/b/c"), ("ab", "ab")):
            assert (await user.get_mailbox(new)).id == ids[old]

    async def test_rename_makes_superiors(self, user: User, other: Mailbox) -> None:
        await user.rename_mailbox("Other", "p/q/r")
        assert await _names(user) == {"INBOX", "p", "p/q", "p/q/r"}
        assert other.name == "p/q/r"

    async def test_rename_drops_empty_placeholder(self, user: User) -> None:
        await user.create_mailbox("a/b")
        await user.delete_mailbox("a")
        await user.rename_mailbox("a/b", "b")
        assert await _names(user) == {"INBOX", "b"}

    async def test_rename_to_existing(self, user: User, other: Mailbox) -> None:
        await user.create_mailbox("Taken")
        for taken in ("Taken", "INBOX", "inbox", "Other"):
            with pytest.raises(AlreadyExists):
                await user.rename_mailbox("Other", taken)
        assert await _names(user) == {"INBOX", "Other", "Taken"}

    async def test_rename_missing(self, user: User) -> None:
        with pytest.raises(NoSuchMailbox):
            await user.rename_mailbox("Nope", "Something")

    async def test_rename_under_itself(self, user: User, other: Mailbox) -> None:
        with pytest.raises(CannotError):
            await user.rename_mailbox("Other", "Other/Deeper")
        assert await _names(user) == {"INBOX", "Other"}

    async def test_rename_invalid(self, user: User, other: Mailbox) -> None:
        for name in ("a//b", "*", "/x", ""):
            with pytest.raises(InvalidName):
                await user.rename_mailbox("Other", name)
        assert await _names(user) == {"INBOX", "Other"}

    async def test_rename_keeps_special_use(self, user: User) -> None:
        await user.create_mailbox("Sent Items", special_use=frozenset({"\\Sent"}))
        await user.rename_mailbox("Sent Items", "Sent")
        assert _by_name(await user.list_mailboxes())["Sent"].attributes == {"\\Sent"}

    async def test_rename_inbox(self, user: User, inbox: Mailbox, notified: list[str]) -> None:
        await user.create_mailbox("INBOX/child")
        first = await _append(inbox, 1, flags=frozenset({SEEN, "$Label1"}))
        second = await _append(inbox, 2, data=sample_message(2, text=b"\x00\xff 8-bit\r\n"))
        before_status = await inbox.status()
        before = await inbox.fetch([first.uid, second.uid], Want.BODY)
        bodies = [await m.body.read() for m in before if m.body is not None]
        await user.rename_mailbox("INBOX", "Old mail")
        assert inbox.id in notified
        # INBOX stays, with its id and UIDVALIDITY, empty; its inferiors are unaffected.
        assert await _names(user) == {"INBOX", "INBOX/child", "Old mail"}
        assert (await user.get_mailbox("INBOX")).id == inbox.id
        assert inbox.name == "INBOX"
        status = await inbox.status()
        assert status.messages == status.size == status.unseen == 0
        assert status.uid_validity == before_status.uid_validity
        changes = await inbox.changes_since(before_status.highest_modseq)
        assert list(changes.expunged) == [m.uid for m in before]
        # UIDs are not reused in INBOX (same UIDVALIDITY).
        assert (await _append(inbox, 3)).uid >= before_status.uid_next
        # The messages moved, flags, dates and octets kept.
        moved = await user.get_mailbox("Old mail")
        assert moved.id != inbox.id
        assert moved.id in notified
        after = await _all(moved, Want.BODY)
        assert [m.flags for m in after] == [m.flags for m in before]
        assert [m.internal_date for m in after] == [DATE, DATE]
        assert [await m.body.read() for m in after if m.body is not None] == bodies
        await _check_counters(moved)
        await _check_counters(inbox)

    # -- append, fetch, bodies

    async def test_append(self, inbox: Mailbox, notified: list[str]) -> None:
        empty = await inbox.status()
        result = await _append(inbox, 1, flags=frozenset({FLAGGED, "$Work"}))
        assert inbox.id in notified
        assert result.uid >= empty.uid_next
        assert result.uid_validity == empty.uid_validity
        assert result.modseq > empty.highest_modseq
        status = await inbox.status()
        assert status.uid_next > result.uid
        assert status.highest_modseq == result.modseq
        [message] = await inbox.fetch([result.uid])
        assert message.uid == result.uid
        assert message.flags == {FLAGGED, "$Work"}
        assert message.modseq == result.modseq
        assert message.internal_date == DATE
        assert message.size == len(sample_message(1))

    async def test_append_spooled(self, inbox: Mailbox) -> None:
        # Over 1 MiB, the server hands the store a temporary file, removed once append
        # returns: the store must have copied it by then.
        line = b"a spooled message, read back in full and by range\r\n"
        data = sample_message(7, text=line * (self.spooled_message_size // len(line)))
        spooled = SpooledMessage.from_bytes(data)
        with spooled:
            result = await inbox.append(spooled, parsed=_parsed(data), internal_date=DATE)
        [message] = await inbox.fetch([result.uid], Want.BODY | Want.STRUCTURE)
        assert message.size == len(data)
        assert message.parsed == _parsed(data)
        assert message.body is not None
        assert await message.body.read() == data
        assert await message.body.read(len(data) - 100, len(data)) == data[-100:]

    async def test_append_default_date(self, inbox: Mailbox) -> None:
        start = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
        result = await _append(inbox, date=None)
        end = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=1)
        [message] = await inbox.fetch([result.uid])
        assert message.internal_date.utcoffset() is not None
        assert start <= message.internal_date <= end

    async def test_uids_ascending(self, inbox: Mailbox) -> None:
        uids = await _fill(inbox, 10)
        assert uids == sorted(uids)
        assert len(set(uids)) == 10
        assert (await inbox.status()).uid_next > uids[-1]

    async def test_uid_not_reused_after_expunge(self, user: User, inbox: Mailbox) -> None:
        uids = await _fill(inbox, 3)
        await inbox.store_flags(uids[-1:], FlagChange.ADD, frozenset({DELETED}))
        assert list(await inbox.expunge()) == uids[-1:]
        assert (await inbox.status()).uid_next > uids[-1]
        assert (await _append(inbox, 4)).uid > uids[-1]
        # Not through another handle either (a store must not derive it from the last UID).
        snapshot = await inbox.snapshot()
        await inbox.store_flags(snapshot.uids, FlagChange.ADD, frozenset({DELETED}))
        expunged = await inbox.expunge()
        reopened = await user.get_mailbox("INBOX")
        assert (await reopened.status()).messages == 0
        assert (await _append(reopened, 5)).uid > max(expunged)

    async def test_body_octets_kept(self, inbox: Mailbox) -> None:
        texts = [
            b"",
            b"no final newline",
            b"NUL \x00 and high bytes " + bytes(range(128, 256)) + b"\r\n",
            b"bare LF\nbare CR\rCRLF\r\n" * 3,
            bytes(range(256)) * 4,
            b"x" * 250_000 + b"\r\n",
        ]
        datas = [sample_message(n, text=text) for n, text in enumerate(texts)]
        uids = [(await _append(inbox, data=data)).uid for data in datas]
        fetched = await inbox.fetch(uids, Want.BODY)
        assert [m.uid for m in fetched] == uids
        for message, data in zip(fetched, datas, strict=True):
            assert message.size == len(data)
            assert message.body is not None
            assert message.body.size == len(data)
            assert await message.body.read() == data
            assert await message.body.read(0, None) == data
            assert await message.body.read(3, 40) == data[3:40]
            assert await message.body.read(len(data) - 5) == data[-5:]
            assert await message.body.read(10, len(data) + 1000) == data[10:]
            assert await message.body.read(len(data) + 5) == b""

    async def test_fetch_want(self, inbox: Mailbox) -> None:
        data = sample_message(7)
        uid = (await _append(inbox, data=data)).uid
        [meta] = await inbox.fetch([uid])
        assert meta.uid == uid
        assert meta.size == len(data)
        [structure] = await inbox.fetch([uid], Want.STRUCTURE)
        assert structure.parsed is not None
        assert structure.parsed == _parsed(data)
        [body] = await inbox.fetch([uid], Want.BODY)
        assert body.body is not None
        assert await body.body.read() == data
        [both] = await inbox.fetch([uid], Want.STRUCTURE | Want.BODY)
        assert both.parsed is not None
        assert both.body is not None
        assert (both.uid, both.flags, both.modseq, both.size, both.internal_date) == (
            meta.uid,
            meta.flags,
            meta.modseq,
            meta.size,
            meta.internal_date,
        )

    async def test_fetch_skips_missing(self, inbox: Mailbox) -> None:
        uids = await _fill(inbox, 5)
        await inbox.store_flags([uids[1]], FlagChange.ADD, frozenset({DELETED}))
        await inbox.expunge()
        asked = [uids[4], 999_999, uids[1], uids[0], uids[0], 0, uids[3]]
        fetched = await inbox.fetch(asked)
        assert [m.uid for m in fetched] == [uids[0], uids[3], uids[4]]
        assert list(await inbox.fetch([])) == []
        uid_next = (await inbox.status()).uid_next
        assert [m.uid for m in await inbox.fetch(range(1, uid_next))] == [
            uids[0],
            uids[2],
            uids[3],
            uids[4],
        ]

    # -- flags and MODSEQ

    async def test_store_flags_kinds(self, inbox: Mailbox, notified: list[str]) -> None:
        [uid] = await _fill(inbox, 1, flags=frozenset({SEEN}))
        notified.clear()
        updates, refused = await inbox.store_flags([uid], FlagChange.ADD, frozenset({FLAGGED}))
        assert inbox.id in notified
        assert list(refused) == []
        assert [(u.uid, u.flags) for u in updates] == [(uid, frozenset({SEEN, FLAGGED}))]
        updates, _ = await inbox.store_flags([uid], FlagChange.REMOVE, frozenset({SEEN, "$X"}))
        assert [(u.uid, u.flags) for u in updates] == [(uid, frozenset({FLAGGED}))]
        updates, _ = await inbox.store_flags([uid], FlagChange.REPLACE, frozenset({ANSWERED, "$Y"}))
        assert [(u.uid, u.flags) for u in updates] == [(uid, frozenset({ANSWERED, "$Y"}))]
        assert await _flags(inbox) == {uid: {ANSWERED, "$Y"}}
        await inbox.store_flags([uid], FlagChange.REPLACE, frozenset())
        assert await _flags(inbox) == {uid: frozenset()}

    async def test_store_flags_result(self, inbox: Mailbox) -> None:
        uids = await _fill(inbox, 4)
        await inbox.store_flags([uids[0]], FlagChange.ADD, frozenset({SEEN}))
        updates, refused = await inbox.store_flags(
            [uids[3], 12_345, uids[0], uids[2]], FlagChange.ADD, frozenset({SEEN})
        )
        # Every existing message asked for, changed or not, ascending; missing ones left out.
        assert [u.uid for u in updates] == [uids[0], uids[2], uids[3]]
        assert all(u.flags == {SEEN} for u in updates)
        assert list(refused) == []
        current = {m.uid: m.modseq for m in await _all(inbox)}
        assert all(u.modseq == current[u.uid] for u in updates)

    async def test_modseq_increases(self, inbox: Mailbox) -> None:
        seen = [(await inbox.status()).highest_modseq]
        for n in range(3):
            seen.append((await _append(inbox, n)).modseq)
        [u1, u2, u3] = [m.uid for m in await _all(inbox)]
        updates, _ = await inbox.store_flags([u2], FlagChange.ADD, frozenset({DELETED}))
        seen.append(updates[0].modseq)
        await inbox.expunge()
        seen.append((await inbox.status()).highest_modseq)
        updates, _ = await inbox.store_flags([u1, u3], FlagChange.ADD, frozenset({SEEN}))
        seen.append(max(u.modseq for u in updates))
        assert seen == sorted(seen)
        assert len(set(seen)) == len(seen)
        assert (await inbox.status()).highest_modseq == seen[-1]
        assert max(m.modseq for m in await _all(inbox)) == seen[-1]

    async def test_unchanged_flags_keep_modseq(self, inbox: Mailbox) -> None:
        [a, b] = await _fill(inbox, 2, flags=frozenset({SEEN}))
        before = await inbox.status()
        modseqs = {m.uid: m.modseq for m in await _all(inbox)}
        for change, flags in (
            (FlagChange.ADD, {SEEN}),
            (FlagChange.REMOVE, {FLAGGED}),
            (FlagChange.REPLACE, {SEEN}),
        ):
            updates, _ = await inbox.store_flags([a, b], change, frozenset(flags))
            assert {u.uid: u.modseq for u in updates} == modseqs
        assert (await inbox.status()).highest_modseq == before.highest_modseq
        assert list((await inbox.changes_since(before.highest_modseq)).updated) == []
        # One changed, one not: only the changed one moves on.
        [flagged], _ = await inbox.store_flags([a], FlagChange.ADD, frozenset({FLAGGED}))
        assert flagged.modseq > before.highest_modseq
        updates, _ = await inbox.store_flags([a, b], FlagChange.ADD, frozenset({FLAGGED}))
        new = {u.uid: u.modseq for u in updates}
        assert new[a] == flagged.modseq < new[b]

    async def test_unchanged_since(self, inbox: Mailbox) -> None:
        [a, b, c] = await _fill(inbox, 3)
        mark = (await inbox.status()).highest_modseq
        await inbox.store_flags([b], FlagChange.ADD, frozenset({FLAGGED}))
        updates, refused = await inbox.store_flags(
            [a, b, c, 999], FlagChange.ADD, frozenset({SEEN}), unchanged_since=mark
        )
        assert list(refused) == [b]
        assert [u.uid for u in updates] == [a, c]
        assert await _flags(inbox) == {a: {SEEN}, b: {FLAGGED}, c: {SEEN}}
        # A MODSEQ equal to UNCHANGEDSINCE passes (only "above" is refused).
        [current] = await inbox.fetch([b])
        updates, refused = await inbox.store_flags(
            [b], FlagChange.ADD, frozenset({SEEN}), unchanged_since=current.modseq
        )
        assert (list(refused), [u.uid for u in updates]) == ([], [b])
        # UNCHANGEDSINCE 0 refuses every message (RFC 7162 section 3.1.3).
        before = await _flags(inbox)
        updates, refused = await inbox.store_flags(
            [a, b, c], FlagChange.REPLACE, frozenset(), unchanged_since=0
        )
        assert (list(updates), list(refused)) == ([], [a, b, c])
        assert await _flags(inbox) == before

    async def test_keywords(self, inbox: Mailbox) -> None:
        [uid] = await _fill(inbox, 1, flags=frozenset({SEEN, "$Forwarded"}))
        await inbox.store_flags([uid], FlagChange.ADD, frozenset({"Work", ANSWERED}))
        keywords = (await inbox.snapshot()).keywords
        assert {"$Forwarded", "Work"} <= keywords
        assert not {SEEN, ANSWERED} & keywords

    # -- expunge

    async def test_expunge(self, inbox: Mailbox, notified: list[str]) -> None:
        uids = await _fill(inbox, 6)
        await inbox.store_flags([uids[4], uids[1], uids[2]], FlagChange.ADD, frozenset({DELETED}))
        notified.clear()
        assert list(await inbox.expunge([uids[4], uids[1], uids[0]])) == [uids[1], uids[4]]
        assert inbox.id in notified
        assert [m.uid for m in await _all(inbox)] == [uids[0], uids[2], uids[3], uids[5]]
        assert list(await inbox.expunge()) == [uids[2]]
        assert list(await inbox.expunge()) == []
        assert list(await inbox.expunge([12345])) == []
        await _check_counters(inbox)

    # -- changes_since

    async def test_changes_since_nothing(self, inbox: Mailbox) -> None:
        await _fill(inbox, 3)
        status = await inbox.status()
        changes = await inbox.changes_since(status.highest_modseq)
        assert changes.highest_modseq == status.highest_modseq
        assert changes.uid_next == status.uid_next
        assert (list(changes.updated), list(changes.expunged)) == ([], [])

    async def test_changes_since(self, inbox: Mailbox) -> None:
        [a, b, c, d] = await _fill(inbox, 4)
        await inbox.store_flags([a], FlagChange.ADD, frozenset({FLAGGED}))
        mark = (await inbox.status()).highest_modseq
        await inbox.store_flags([c, b], FlagChange.ADD, frozenset({SEEN}))
        await inbox.store_flags([d], FlagChange.ADD, frozenset({DELETED}))
        await inbox.expunge()
        e = (await _append(inbox, 5, flags=frozenset({SEEN}))).uid
        f = (await _append(inbox, 6)).uid  # appended and expunged after the mark
        await inbox.store_flags([f, c], FlagChange.ADD, frozenset({DELETED, "$Junk"}))
        await inbox.store_flags([c], FlagChange.REMOVE, frozenset({DELETED}))
        await inbox.expunge()
        status = await inbox.status()
        changes = await inbox.changes_since(mark)
        assert changes.highest_modseq == status.highest_modseq
        assert changes.uid_next == status.uid_next
        current = {m.uid: m for m in await _all(inbox)}
        assert [(u.uid, u.flags, u.modseq) for u in changes.updated] == [
            (uid, current[uid].flags, current[uid].modseq) for uid in (b, c, e)
        ]
        assert all(u.modseq > mark for u in changes.updated)
        # d was seen and expunged; f may be reported though the caller never saw it.
        assert d in changes.expunged
        assert set(changes.expunged) <= {d, f}
        assert list(changes.expunged) == sorted(changes.expunged)
        # Before everything: every live message, and nothing else updated.
        everything = await inbox.changes_since(0)
        assert [u.uid for u in everything.updated] == [a, b, c, e]

    async def test_changes_since_each_step(self, inbox: Mailbox) -> None:
        """After each change, changes_since(previous highest) reports exactly that change."""
        mark = (await inbox.status()).highest_modseq
        uid = (await _append(inbox, 1)).uid
        changes = await inbox.changes_since(mark)
        assert [u.uid for u in changes.updated] == [uid]
        mark = changes.highest_modseq
        await inbox.store_flags([uid], FlagChange.ADD, frozenset({DELETED}))
        changes = await inbox.changes_since(mark)
        assert [(u.uid, u.flags) for u in changes.updated] == [(uid, frozenset({DELETED}))]
        assert list(changes.expunged) == []
        mark = changes.highest_modseq
        await inbox.expunge()
        changes = await inbox.changes_since(mark)
        assert (list(changes.updated), list(changes.expunged)) == ([], [uid])
        assert changes.highest_modseq > mark

    # -- snapshot and status

    async def test_snapshot(self, inbox: Mailbox) -> None:
        empty = await inbox.snapshot()
        assert (list(empty.uids), list(empty.flags)) == ([], [])
        uids = await _fill(inbox, 5)
        await inbox.store_flags(uids[::2], FlagChange.ADD, frozenset({SEEN}))
        await inbox.store_flags([uids[1]], FlagChange.ADD, frozenset({DELETED}))
        await inbox.expunge()
        snapshot = await inbox.snapshot()
        status = await inbox.status()
        assert list(snapshot.uids) == [uids[0], uids[2], uids[3], uids[4]]
        assert list(snapshot.flags) == [{SEEN}, {SEEN}, frozenset(), {SEEN}]
        assert snapshot.uid_validity == status.uid_validity
        assert snapshot.uid_next == status.uid_next
        assert snapshot.highest_modseq == status.highest_modseq
        await _check_counters(inbox)

    async def test_status_counters(self, user: User, inbox: Mailbox, other: Mailbox) -> None:
        await _check_counters(inbox)
        uids = await _fill(inbox, 4)
        await _append(inbox, 5, flags=frozenset({SEEN, DELETED}))
        await _check_counters(inbox)
        status = await inbox.status()
        assert (status.messages, status.unseen, status.deleted) == (5, 4, 1)
        assert status.size == sum(len(sample_message(n)) for n in range(1, 6))
        steps = [
            (FlagChange.ADD, {SEEN}),
            (FlagChange.ADD, {DELETED, FLAGGED}),
            (FlagChange.REMOVE, {SEEN}),
            (FlagChange.REPLACE, {SEEN, DELETED}),
            (FlagChange.REPLACE, {ANSWERED}),
            (FlagChange.ADD, {DELETED}),
        ]
        for change, flags in steps:
            await inbox.store_flags(uids[1:3], change, frozenset(flags))
            await _check_counters(inbox)
        await inbox.expunge([uids[1]])
        await _check_counters(inbox)
        await inbox.copy(uids, other)
        await _check_counters(inbox)
        await _check_counters(other)
        await other.move((await other.snapshot()).uids[:2], inbox)
        await _check_counters(inbox)
        await _check_counters(other)
        await inbox.expunge()
        await _check_counters(inbox)
        assert (await inbox.status()).deleted == 0

    # -- copy and move

    async def test_copy(
        self, inbox: Mailbox, other: Mailbox, notified: list[str], user: User
    ) -> None:
        a = (await _append(inbox, 1, flags=frozenset({SEEN, "$Label"}))).uid
        b = (await _append(inbox, 2, date=DATE + _dt.timedelta(days=1))).uid
        c = (await _append(inbox, 3, flags=frozenset({DELETED}))).uid
        source_before = await inbox.snapshot()
        notified.clear()
        result = await inbox.copy([c, 4242, a, b], other)
        assert other.id in notified
        assert list(result.source) == [a, b, c]
        assert len(result.destination) == 3
        assert list(result.destination) == sorted(result.destination)
        assert result.uid_validity == (await other.status()).uid_validity
        copied = await other.fetch(result.destination, Want.BODY)
        assert [m.uid for m in copied] == list(result.destination)
        assert [m.flags for m in copied] == [{SEEN, "$Label"}, frozenset(), {DELETED}]
        assert [m.internal_date for m in copied] == [DATE, DATE + _dt.timedelta(days=1), DATE]
        assert [await m.body.read() for m in copied if m.body] == [
            sample_message(n) for n in (1, 2, 3)
        ]
        # The source is untouched.
        source_after = await inbox.snapshot()
        assert source_after == source_before
        # Copying more goes after what is there.
        again = await inbox.copy([a], other)
        assert again.destination[0] > max(result.destination)
        # Nothing to copy: nothing done.
        empty = await inbox.copy([4242], other)
        assert (list(empty.source), list(empty.destination)) == ([], [])
        await _check_counters(other)

    async def test_copy_to_same_mailbox(self, inbox: Mailbox) -> None:
        uids = await _fill(inbox, 2, flags=frozenset({FLAGGED}))
        result = await inbox.copy(uids, inbox)
        assert list(result.source) == uids
        assert min(result.destination) > max(uids)
        assert await _flags(inbox) == {uid: {FLAGGED} for uid in [*uids, *result.destination]}

    async def test_move(self, inbox: Mailbox, other: Mailbox, notified: list[str]) -> None:
        a = (await _append(inbox, 1, flags=frozenset({SEEN}))).uid
        b = (await _append(inbox, 2)).uid
        c = (await _append(inbox, 3, flags=frozenset({FLAGGED}))).uid
        mark = (await inbox.status()).highest_modseq
        other_mark = (await other.status()).highest_modseq
        notified.clear()
        result = await inbox.move([c, a, 999], other)
        assert inbox.id in notified
        assert other.id in notified
        assert list(result.source) == [a, c]
        assert list(result.destination) == sorted(result.destination)
        assert result.uid_validity == (await other.status()).uid_validity
        # Gone from the source, recorded as expunged...
        assert [m.uid for m in await _all(inbox)] == [b]
        changes = await inbox.changes_since(mark)
        assert list(changes.expunged) == [a, c]
        assert list(changes.updated) == []
        # ...and in the destination, with flags and internal date, no \Deleted added.
        moved = await other.fetch(result.destination, Want.BODY)
        assert [m.flags for m in moved] == [{SEEN}, {FLAGGED}]
        assert [m.internal_date for m in moved] == [DATE, DATE]
        assert [await m.body.read() for m in moved if m.body] == [
            sample_message(1),
            sample_message(3),
        ]
        other_changes = await other.changes_since(other_mark)
        assert [u.uid for u in other_changes.updated] == list(result.destination)
        await _check_counters(inbox)
        await _check_counters(other)

    async def test_move_to_same_mailbox(self, inbox: Mailbox) -> None:
        uids = await _fill(inbox, 3)
        result = await inbox.move(uids[:2], inbox)
        assert list(result.source) == uids[:2]
        assert min(result.destination) > max(uids)
        assert [m.uid for m in await _all(inbox)] == [uids[2], *result.destination]
        await _check_counters(inbox)

    async def test_copy_move_nothing(self, inbox: Mailbox, other: Mailbox) -> None:
        for operation in (inbox.copy, inbox.move):
            result = await operation([1, 2, 3], other)
            assert (list(result.source), list(result.destination)) == ([], [])
        assert (await other.status()).messages == 0

    async def test_copy_move_to_deleted(self, user: User, inbox: Mailbox, other: Mailbox) -> None:
        uids = await _fill(inbox, 2)
        before = await inbox.snapshot()
        await user.delete_mailbox("Other")
        with pytest.raises(MailboxGone):
            await inbox.copy(uids, other)
        with pytest.raises(MailboxGone):
            await inbox.move(uids, other)
        # All or nothing: the source is as it was.
        assert await inbox.snapshot() == before

    # -- concurrency and size

    async def test_concurrent_appends(self, user: User, inbox: Mailbox) -> None:
        tasks, per_task = 20, 10
        results: list[AppendResult] = []
        handles = [inbox, await user.get_mailbox("INBOX")]

        async def append_some(task: int) -> None:
            for n in range(per_task):
                results.append(await _append(handles[task % 2], task * per_task + n))

        async with anyio.create_task_group() as group:
            for task in range(tasks):
                group.start_soon(append_some, task)
        uids = [r.uid for r in results]
        assert len(set(uids)) == tasks * per_task
        assert len({r.modseq for r in results}) == tasks * per_task
        snapshot = await inbox.snapshot()
        assert list(snapshot.uids) == sorted(uids)
        assert snapshot.highest_modseq == max(r.modseq for r in results)
        await _check_counters(inbox)

    async def test_concurrent_changes(self, inbox: Mailbox, other: Mailbox) -> None:
        uids = await _fill(inbox, 40)
        mark = (await inbox.status()).highest_modseq

        async def flag(uid: int) -> None:
            await inbox.store_flags([uid], FlagChange.ADD, frozenset({SEEN}))

        async def move(uid: int) -> None:
            await inbox.move([uid], other)

        async with anyio.create_task_group() as group:
            for uid in uids:
                group.start_soon(flag if uid % 2 else move, uid)
                group.start_soon(_append, other, uid)
        changes = await inbox.changes_since(mark)
        assert [u.uid for u in changes.updated] == [uid for uid in uids if uid % 2]
        assert list(changes.expunged) == [uid for uid in uids if not uid % 2]
        assert (await other.status()).messages == 40 + len(changes.expunged)
        await _check_counters(inbox)
        await _check_counters(other)

    async def test_large_mailbox(self, inbox: Mailbox) -> None:
        count = self.large_mailbox_size
        data = sample_message(1)
        parsed = _parsed(data)
        uids = [(await inbox.append(data, parsed=parsed)).uid for _ in range(count)]
        assert uids == sorted(uids)
        snapshot = await inbox.snapshot()
        assert len(snapshot.uids) == count
        sample = uids[::97]
        assert [m.uid for m in await inbox.fetch(sample[::-1])] == sample
        mark = snapshot.highest_modseq
        half = uids[: count // 2]
        updates, _ = await inbox.store_flags(half, FlagChange.ADD, frozenset({DELETED}))
        assert len(updates) == len(half)
        changes = await inbox.changes_since(mark)
        assert [u.uid for u in changes.updated] == half
        assert list((await inbox.changes_since(changes.highest_modseq)).updated) == []
        assert list(await inbox.expunge()) == half
        one = uids[-1]
        mark = (await inbox.status()).highest_modseq
        await inbox.store_flags([one], FlagChange.ADD, frozenset({SEEN}))
        changes = await inbox.changes_since(mark)
        assert [u.uid for u in changes.updated] == [one]
        assert list(changes.expunged) == []
        status = await inbox.status()
        left = count - len(half)
        assert (status.messages, status.unseen, status.deleted) == (left, left - 1, 0)
        await _check_counters(inbox)
