"""The in-memory store: the reference implementation of `imap_server.store`.

`MemoryStore` keeps every account, mailbox and message in process memory, so it is lost when the
process ends. It serves tests, demos and single-process deployments, and shows what a store must
do; the conformance suite in `imap_server.testing` holds it to the same rules as every other store.

Atomicity: every mutating call reads and writes its state with no ``await`` in between, so on one
event loop it commits as a single step; only then does it call `Backend.notify_change`. The store
is not thread-safe: use it from one event loop.

Speed: a mailbox keeps its messages in a dict by UID plus a sorted UID list (fetch by UID, ranges
by bisection), its STATUS counters incrementally, and a MODSEQ-ordered change log, so that
`Mailbox.changes_since` costs O(1) when nothing changed and otherwise O(log n + changes), not a
scan of the mailbox.

Example:
    >>> store = MemoryStore()
    >>> store.add_user("alice", "secret")
"""

from __future__ import annotations

import datetime as _dt
import itertools
import logging
import operator
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

import anyio.lowlevel
import anyio.to_thread

from imap_wire.sasl import ScramCredentials

from .accounts import PasswordHash, check_login, scram_keys
from .auth import ScramAuthenticator
from .names import SPECIAL_USE_ATTRIBUTES
from .names import canonical_name as _canonical_name
from .names import is_inferior as _is_inferior
from .names import special_use as _special_use
from .names import superiors as _superiors
from .spool import SpooledMessage
from .store import (
    AlreadyExists,
    AppendResult,
    Backend,
    BytesBody,
    CannotError,
    CopyResult,
    FlagChange,
    FlagUpdate,
    InvalidName,
    Mailbox,
    MailboxChanges,
    MailboxGone,
    MailboxInfo,
    MailboxSnapshot,
    MailboxStatus,
    MessageData,
    MessageTooBig,
    NoSuchMailbox,
    OverQuota,
    PasswordAuthenticator,
    StoreError,
    User,
    Want,
)

if TYPE_CHECKING:
    from .message import ParsedMessage

__all__ = ["SPECIAL_USE_ATTRIBUTES", "MemoryStore", "open_memory_store"]

_log = logging.getLogger(__name__)
_flags_of = operator.attrgetter("flags")

_DELIMITER = "/"
_INBOX = "INBOX"
_NOSELECT = frozenset({"\\Noselect"})
_SEEN = "\\Seen"
_DELETED = "\\Deleted"
_RECENT = "\\Recent"
#: UIDs and UIDVALIDITY are nz-number: 32-bit, above zero (RFC 9051 section 9).
_MAX_UID = 2**32 - 1
#: Flag sets are few per mailbox; sharing one frozenset per distinct set saves memory with
#: many messages. Bounded so that a client inventing keywords cannot grow the table forever.
_MAX_INTERNED_FLAG_SETS = 1024
#: The change log is compacted once it holds over this many entries per current one (+ a floor).
_LOG_SLACK = 2
_LOG_MIN_COMPACT = 1024


class _Message:
    """One stored message. ``flags`` and ``modseq`` change; the rest never does."""

    __slots__ = ("body", "flags", "internal_date", "modseq", "parsed", "views")

    def __init__(
        self,
        *,
        body: bytes,
        parsed: ParsedMessage,
        flags: frozenset[str],
        modseq: int,
        internal_date: _dt.datetime,
    ) -> None:
        self.body = body
        self.parsed = parsed
        self.flags = flags
        self.modseq = modseq
        self.internal_date = internal_date
        #: `MessageData` already built for this message, by `Want`: FETCH and SEARCH ask for
        #: the same views of the same messages again and again. Cleared by `set_flags`.
        self.views: dict[Want, MessageData] = {}

    def set_flags(self, flags: frozenset[str], modseq: int) -> None:
        self.flags = flags
        self.modseq = modseq
        self.views.clear()


class _Account:
    """One user: credentials, mailboxes, subscriptions, bytes used (for the quota)."""

    __slots__ = (
        "mailboxes",
        "name",
        "password",
        "placeholders",
        "removed",
        "scram",
        "subscriptions",
        "used_bytes",
    )

    def __init__(self, name: str, password: PasswordHash) -> None:
        self.name = name
        self.password = password
        #: SCRAM stored keys by hash name (``"sha1"``, ``"sha256"``); never the password.
        self.scram: dict[str, ScramCredentials] = {}
        #: Selectable mailboxes by canonical name.
        self.mailboxes: dict[str, _MailboxState] = {}
        #: ``\\Noselect`` names kept for their inferiors (deleted mailboxes that had some).
        self.placeholders: set[str] = set()
        self.subscriptions: set[str] = set()
        self.used_bytes = 0
        self.removed = False

    def exists(self, name: str) -> bool:
        return name in self.mailboxes or name in self.placeholders

    def has_inferiors(self, name: str) -> bool:
        return any(
            _is_inferior(other, name)
            for other in itertools.chain(self.mailboxes, self.placeholders)
        )

    def __repr__(self) -> str:
        return f"<account {self.name!r}: {len(self.mailboxes)} mailboxes>"


class _MailboxState:
    """One incarnation of a mailbox. Handles (`_MemoryMailbox`) point at it; DELETE marks it
    gone, so handles opened before fail with `MailboxGone` instead of seeing a new mailbox
    created under the same name."""

    def __init__(
        self,
        *,
        mailbox_id: str,
        name: str,
        account: _Account,
        uid_validity: int,
        special_use: frozenset[str] = frozenset(),
    ) -> None:
        self.id = mailbox_id
        self.name = name
        self.account = account
        self.uid_validity = uid_validity
        self.special_use = special_use
        self.gone = False
        self.uid_next = 1
        # Positive (RFC 7162 mod-sequence-value), and the first change gets 2: above it.
        self.highest_modseq = 1
        self.messages: dict[int, _Message] = {}
        #: Every live UID, ascending (appends only ever add the largest).
        self.uids: list[int] = []
        #: Expunged UID -> MODSEQ of its expunge, kept for `changes_since`.
        self.tombstones: dict[int, int] = {}
        # The change log: parallel arrays of (MODSEQ, UID), in MODSEQ order because MODSEQs are
        # handed out increasing. An entry is current while its MODSEQ is still the UID's
        # (message or tombstone); stale ones are skipped and compacted away now and then.
        self.log_modseq = array("Q")
        self.log_uid = array("Q")
        self.keywords: set[str] = set()
        self._keywords_frozen: frozenset[str] | None = frozenset()
        self._flag_sets: dict[frozenset[str], frozenset[str]] = {}
        self.unseen = 0
        self.deleted = 0
        self.size = 0

    # -- bookkeeping

    def next_modseq(self) -> int:
        self.highest_modseq += 1
        return self.highest_modseq

    def intern_flags(self, flags: frozenset[str]) -> frozenset[str]:
        shared = self._flag_sets.get(flags)
        if shared is not None:
            return shared
        if len(self._flag_sets) < _MAX_INTERNED_FLAG_SETS:
            self._flag_sets[flags] = flags
        new_keywords = [flag for flag in flags if not flag.startswith("\\")]
        if new_keywords and not self.keywords.issuperset(new_keywords):
            self.keywords.update(new_keywords)
            self._keywords_frozen = None
        return flags

    def frozen_keywords(self) -> frozenset[str]:
        if self._keywords_frozen is None:
            self._keywords_frozen = frozenset(self.keywords)
        return self._keywords_frozen

    def log(self, modseq: int, uid: int) -> None:
        self.log_modseq.append(modseq)
        self.log_uid.append(uid)

    def maybe_compact_log(self) -> None:
        live = len(self.messages) + len(self.tombstones)
        if len(self.log_uid) <= _LOG_SLACK * live + _LOG_MIN_COMPACT:
            return
        modseqs = array("Q")
        uids = array("Q")
        for modseq, uid in zip(self.log_modseq, self.log_uid, strict=True):
            if self.current_modseq(uid) == modseq:
                modseqs.append(modseq)
                uids.append(uid)
        self.log_modseq = modseqs
        self.log_uid = uids

    def current_modseq(self, uid: int) -> int | None:
        message = self.messages.get(uid)
        if message is not None:
            return message.modseq
        return self.tombstones.get(uid)

    def count_in(self, message: _Message) -> None:
        flags = message.flags
        if _SEEN not in flags:
            self.unseen += 1
        if _DELETED in flags:
            self.deleted += 1
        self.size += len(message.body)

    def count_out(self, message: _Message) -> None:
        flags = message.flags
        if _SEEN not in flags:
            self.unseen -= 1
        if _DELETED in flags:
            self.deleted -= 1
        self.size -= len(message.body)

    def existing(self, uids: Sequence[int]) -> list[int]:
        """The UIDs among ``uids`` that exist, ascending, without duplicates."""
        if isinstance(uids, range) and uids.step > 0:
            # "1:*" arrives as a range: bisect instead of materializing up to 2**32 numbers.
            lo = bisect_left(self.uids, uids.start)
            hi = bisect_left(self.uids, uids.stop)
            found = self.uids[lo:hi]
            if uids.step != 1:
                found = [uid for uid in found if (uid - uids.start) % uids.step == 0]
            return found
        messages = self.messages
        return sorted({uid for uid in uids if uid in messages})

    # -- changes (each called with no await around it, by a mailbox handle)

    def add(
        self,
        *,
        body: bytes,
        parsed: ParsedMessage,
        flags: frozenset[str],
        internal_date: _dt.datetime,
        modseq: int,
    ) -> int:
        uid = self.uid_next
        self.uid_next = uid + 1
        message = _Message(
            body=body,
            parsed=parsed,
            flags=self.intern_flags(flags),
            modseq=modseq,
            internal_date=internal_date,
        )
        self.messages[uid] = message
        self.uids.append(uid)
        self.log(modseq, uid)
        self.count_in(message)
        self.account.used_bytes += len(body)
        return uid

    def remove(self, uids: list[int], modseq: int) -> None:
        """Expunge ``uids`` (existing, ascending), recording each with ``modseq``."""
        for uid in uids:
            message = self.messages.pop(uid)
            self.count_out(message)
            self.account.used_bytes -= len(message.body)
            self.tombstones[uid] = modseq
            self.log(modseq, uid)
        if len(uids) < 32:
            for uid in uids:
                del self.uids[bisect_left(self.uids, uid)]
        else:
            messages = self.messages
            self.uids = [uid for uid in self.uids if uid in messages]
        self.maybe_compact_log()

    def destroy(self) -> None:
        """Drop this incarnation (DELETE): handles raise `MailboxGone` from now on."""
        self.gone = True
        self.account.used_bytes -= self.size
        self.messages = {}
        self.uids = []
        self.tombstones = {}
        self.log_modseq = array("Q")
        self.log_uid = array("Q")

    def reserve_uids(self, count: int) -> None:
        if self.uid_next + count - 1 > _MAX_UID:
            raise CannotError("The mailbox has run out of UIDs")


# -- the store ----------------------------------------------------------------------------------


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0)


class MemoryStore(Backend, PasswordAuthenticator, ScramAuthenticator):
    """A complete store kept in memory: accounts with scrypt-hashed passwords, mailboxes,
    messages, subscriptions, special-use attributes.

    Args:
        max_message_size: Largest message accepted, in octets (larger: `MessageTooBig`);
            None for no limit.
        quota_bytes: Most octets of messages one user may keep (beyond: `OverQuota`); None for
            no quota.
    """

    #: scrypt cost parameter for new password hashes (each hash keeps its own, so changing it
    #: affects only passwords set afterwards). A subclass may lower it for fast tests.
    scrypt_n: ClassVar[int] = 2**14
    #: PBKDF2 iteration count of the SCRAM keys derived for new passwords (RFC 7677 section 4
    #: recommends at least 4096).
    scram_iterations: ClassVar[int] = 4096

    def __init__(
        self, *, max_message_size: int | None = None, quota_bytes: int | None = None
    ) -> None:
        super().__init__()
        self.max_message_size = max_message_size
        self.quota_bytes = quota_bytes
        self._accounts: dict[str, _Account] = {}
        self._mailbox_ids = itertools.count(1)
        # UIDVALIDITY counts up from the clock: a restarted process (which lost every message)
        # does not hand out a value a client may still hold UIDs of, and within one process
        # delete + create always gets a new one.
        self._last_uid_validity = min(int(time.time()), _MAX_UID // 2)

    def __repr__(self) -> str:
        return f"<MemoryStore: {len(self._accounts)} users>"

    # -- accounts (administration; synchronous, each hashes for some tens of milliseconds)

    def add_user(self, name: str, password: str) -> None:
        """Create an account with an empty INBOX.

        Raises:
            ValueError: The name is empty or already taken.
        """
        if not name:
            raise ValueError("the user name is empty")
        if name in self._accounts:
            raise ValueError(f"user {name!r} already exists")
        account = _Account(name, PasswordHash.create(password, n=self.scrypt_n))
        account.scram = scram_keys(password, iterations=self.scram_iterations)
        self._new_mailbox(account, _INBOX)
        self._accounts[name] = account

    def set_password(self, name: str, password: str) -> None:
        """Replace a user's password.

        Raises:
            KeyError: No such user.
        """
        account = self._accounts[name]
        account.password = PasswordHash.create(password, n=self.scrypt_n)
        account.scram = scram_keys(password, iterations=self.scram_iterations)

    async def scram_credentials(self, username: str, hash_name: str) -> ScramCredentials | None:
        """The account's SCRAM stored keys for ``hash_name``, or None (no such user)."""
        await anyio.lowlevel.checkpoint()
        account = self._accounts.get(username)
        if account is None or account.removed:
            return None
        return account.scram.get(hash_name)

    def remove_user(self, name: str) -> None:
        """Delete an account and all its mailboxes; open handles raise from then on.

        Raises:
            KeyError: No such user.
        """
        account = self._accounts.pop(name)
        account.removed = True
        states = list(account.mailboxes.values())
        account.mailboxes.clear()
        account.placeholders.clear()
        for state in states:
            state.destroy()
        for state in states:
            self.notify_change(state.id)

    def users(self) -> frozenset[str]:
        """The names of every account."""
        return frozenset(self._accounts)

    # -- Backend / PasswordAuthenticator

    async def open_user(self, username: str) -> User:
        """Return the account's mailboxes.

        Raises:
            StoreError: No such user.
        """
        await anyio.lowlevel.checkpoint()
        account = self._accounts.get(username)
        if account is None:
            raise StoreError("No such user")
        return _MemoryUser(self, account)

    async def check_password(
        self, username: str, password: str, *, authzid: str | None = None
    ) -> str | None:
        """Return ``username`` if the password is right and ``authzid`` is None, empty or the
        user's own name; else None.

        The hash runs in a worker thread (it takes tens of milliseconds), and runs for an
        unknown user too, against a decoy, so the time taken does not tell whether a user
        exists.
        """
        account = self._accounts.get(username)
        record = None if account is None or account.removed else account.password
        return await check_login(username, password, record, authzid=authzid, n=self.scrypt_n)

    # -- internals shared with the user and mailbox handles

    def _new_mailbox(
        self, account: _Account, name: str, special_use: frozenset[str] = frozenset()
    ) -> _MailboxState:
        uid_validity = self._last_uid_validity + 1
        if uid_validity > _MAX_UID:
            uid_validity = 1
        self._last_uid_validity = uid_validity
        state = _MailboxState(
            mailbox_id=f"mem-{next(self._mailbox_ids)}",
            name=name,
            account=account,
            uid_validity=uid_validity,
            special_use=special_use,
        )
        account.placeholders.discard(name)
        account.mailboxes[name] = state
        return state

    def _check_quota(self, account: _Account, added: int) -> None:
        if self.quota_bytes is not None and account.used_bytes + added > self.quota_bytes:
            raise OverQuota()

    def _notify_all(self, ids: Iterable[str]) -> None:
        for mailbox_id in dict.fromkeys(ids):
            self.notify_change(mailbox_id)


def open_memory_store(url: str) -> MemoryStore:
    """Open the store for the URL ``memory://`` (the ``imap_server.stores`` entry point).

    Raises:
        ValueError: Any other URL.
    """
    if url != "memory://":
        raise ValueError(f"not a memory store URL (expected 'memory://'): {url!r}")
    return MemoryStore()


# -- users --------------------------------------------------------------------------------------


class _MemoryUser(User):
    """One account's mailboxes, as `MemoryStore.open_user` hands them out."""

    def __init__(self, store: MemoryStore, account: _Account) -> None:
        self._store = store
        self._account = account

    def __repr__(self) -> str:
        return f"<memory user {self._account.name!r}>"

    @property
    def name(self) -> str:
        return self._account.name

    async def _live(self) -> _Account:
        await anyio.lowlevel.checkpoint()
        if self._account.removed:
            raise StoreError("The account no longer exists")
        return self._account

    async def list_mailboxes(self) -> Sequence[MailboxInfo]:
        account = await self._live()
        subscribed = account.subscriptions
        infos = [
            MailboxInfo(name=name, attributes=state.special_use, subscribed=name in subscribed)
            for name, state in account.mailboxes.items()
        ]
        infos.extend(
            MailboxInfo(name=name, attributes=_NOSELECT, subscribed=name in subscribed)
            for name in account.placeholders
        )
        return infos

    async def get_mailbox(self, name: str) -> Mailbox:
        account = await self._live()
        try:
            canonical = _canonical_name(name)
        except InvalidName:
            raise NoSuchMailbox() from None
        state = account.mailboxes.get(canonical)
        if state is None:
            raise NoSuchMailbox()
        return _MemoryMailbox(self._store, state)

    async def create_mailbox(self, name: str, *, special_use: frozenset[str] = frozenset()) -> None:
        account = await self._live()
        if name.endswith(_DELIMITER):
            name = name[: -len(_DELIMITER)]
        canonical = _canonical_name(name)
        uses = _special_use(special_use)
        # A \Noselect placeholder is not a mailbox: creating its name makes it one again.
        if canonical in account.mailboxes:
            raise AlreadyExists()
        created = [
            self._store._new_mailbox(account, superior)
            for superior in _superiors(canonical)
            if not account.exists(superior)
        ]
        created.append(self._store._new_mailbox(account, canonical, uses))
        self._store._notify_all(state.id for state in created)

    async def delete_mailbox(self, name: str) -> None:
        account = await self._live()
        try:
            canonical = _canonical_name(name)
        except InvalidName:
            raise NoSuchMailbox() from None
        if canonical == _INBOX:
            raise CannotError("INBOX cannot be deleted")
        has_inferiors = account.has_inferiors(canonical)
        state = account.mailboxes.get(canonical)
        if state is None:
            if canonical not in account.placeholders:
                raise NoSuchMailbox()
            if has_inferiors:
                raise CannotError("The name has inferior hierarchical names and is \\Noselect")
            account.placeholders.discard(canonical)
        else:
            del account.mailboxes[canonical]
            state.destroy()
            if has_inferiors:
                account.placeholders.add(canonical)
        self._prune_placeholders(account, canonical)
        if state is not None:
            self._store.notify_change(state.id)

    async def rename_mailbox(self, old: str, new: str) -> None:
        account = await self._live()
        try:
            source = _canonical_name(old)
        except InvalidName:
            raise NoSuchMailbox() from None
        target = _canonical_name(new)
        if not account.exists(source):
            raise NoSuchMailbox()
        if account.exists(target):
            raise AlreadyExists()
        if source == _INBOX:
            self._rename_inbox(account, target)
            return
        if target == source or _is_inferior(target, source):
            raise CannotError("A mailbox cannot be renamed under itself")
        moving = [
            name
            for name in itertools.chain(account.mailboxes, account.placeholders)
            if name == source or _is_inferior(name, source)
        ]
        renamed = {name: target + name[len(source) :] for name in moving}
        if any(account.exists(name) for name in renamed.values()):
            raise AlreadyExists()
        changed = [
            self._store._new_mailbox(account, superior)
            for superior in _superiors(target)
            if not account.exists(superior)
        ]
        for old_name, new_name in renamed.items():
            state = account.mailboxes.pop(old_name, None)
            if state is None:
                account.placeholders.remove(old_name)
                account.placeholders.add(new_name)
            else:
                state.name = new_name
                account.mailboxes[new_name] = state
                changed.append(state)
        self._prune_placeholders(account, source)
        self._store._notify_all(state.id for state in changed)

    def _rename_inbox(self, account: _Account, target: str) -> None:
        """RENAME INBOX: its messages move to a new mailbox; INBOX stays, empty, with its id
        and UIDVALIDITY, so sessions that have it selected see the messages expunged."""
        inbox = account.mailboxes[_INBOX]
        created = [
            self._store._new_mailbox(account, superior)
            for superior in _superiors(target)
            if not account.exists(superior)
        ]
        moved = self._store._new_mailbox(account, target)
        created.append(moved)
        uids = list(inbox.uids)
        # A new incarnation (new UIDVALIDITY), so the messages may keep their UIDs.
        moved.uid_next = inbox.uid_next
        if uids:
            modseq = moved.next_modseq()
            for uid in uids:
                message = inbox.messages[uid]
                moved.messages[uid] = message
                message.set_flags(moved.intern_flags(message.flags), modseq)
                moved.log(modseq, uid)
                moved.count_in(message)
            moved.uids = uids
            account.used_bytes += moved.size  # inbox.remove below takes it off again
            inbox.remove(uids, inbox.next_modseq())
        self._store._notify_all([inbox.id, *(state.id for state in created)])

    @staticmethod
    def _prune_placeholders(account: _Account, name: str) -> None:
        """Drop the placeholders above ``name`` left without inferiors."""
        for superior in reversed(_superiors(name)):
            if superior in account.placeholders and not account.has_inferiors(superior):
                account.placeholders.remove(superior)
            else:
                break

    async def subscribe(self, name: str) -> None:
        account = await self._live()
        account.subscriptions.add(_canonical_name(name))

    async def unsubscribe(self, name: str) -> None:
        account = await self._live()
        try:
            canonical = _canonical_name(name)
        except InvalidName:
            raise NoSuchMailbox("The name is not subscribed") from None
        if canonical not in account.subscriptions:
            raise NoSuchMailbox("The name is not subscribed")
        account.subscriptions.remove(canonical)

    async def subscriptions(self) -> frozenset[str]:
        account = await self._live()
        return frozenset(account.subscriptions)


# -- mailboxes ----------------------------------------------------------------------------------


class _MemoryMailbox(Mailbox):
    """A handle on one mailbox incarnation. ``id`` and ``name`` stay readable after DELETE
    (the tracker needs the id to let go of it); every other call raises `MailboxGone`."""

    __slots__ = ("_state", "_store")

    def __init__(self, store: MemoryStore, state: _MailboxState) -> None:
        self._store = store
        self._state = state

    def __repr__(self) -> str:
        return f"<memory mailbox {self._state.id} {self._state.name!r}>"

    @property
    def id(self) -> str:
        return self._state.id

    @property
    def name(self) -> str:
        return self._state.name

    async def _live(self) -> _MailboxState:
        await anyio.lowlevel.checkpoint()
        if self._state.gone:
            raise MailboxGone()
        return self._state

    async def status(self) -> MailboxStatus:
        state = await self._live()
        return MailboxStatus(
            messages=len(state.messages),
            uid_next=state.uid_next,
            uid_validity=state.uid_validity,
            unseen=state.unseen,
            deleted=state.deleted,
            size=state.size,
            highest_modseq=state.highest_modseq,
        )

    async def snapshot(self) -> MailboxSnapshot:
        state = await self._live()
        messages = state.messages
        uids = tuple(state.uids)
        return MailboxSnapshot(
            uid_validity=state.uid_validity,
            uid_next=state.uid_next,
            highest_modseq=state.highest_modseq,
            uids=uids,
            # map/attrgetter: C loops; SELECT of a large mailbox must not walk it in Python.
            flags=tuple(map(_flags_of, map(messages.__getitem__, uids))),
            keywords=state.frozen_keywords(),
        )

    async def fetch(self, uids: Sequence[int], want: Want = Want.META) -> Sequence[MessageData]:
        state = await self._live()
        messages = state.messages
        with_parsed = Want.STRUCTURE in want
        with_body = Want.BODY in want
        result: list[MessageData] = []
        append = result.append
        for uid in state.existing(uids):
            message = messages[uid]
            data = message.views.get(want)
            if data is None:
                data = message.views[want] = MessageData(
                    uid=uid,
                    flags=message.flags,
                    modseq=message.modseq,
                    internal_date=message.internal_date,
                    size=len(message.body),
                    parsed=message.parsed if with_parsed else None,
                    body=BytesBody(message.body) if with_body else None,
                )
            append(data)
        return result

    async def append(
        self,
        body: bytes | SpooledMessage,
        *,
        parsed: ParsedMessage,
        flags: frozenset[str] = frozenset(),
        internal_date: _dt.datetime | None = None,
    ) -> AppendResult:
        if internal_date is None:
            internal_date = _now()
        elif internal_date.tzinfo is None or internal_date.utcoffset() is None:
            raise ValueError("internal_date must be timezone-aware")
        # This store keeps messages in memory: a spooled one is read back whole.
        data = await body.read() if isinstance(body, SpooledMessage) else bytes(body)
        state = await self._live()
        store = self._store
        size = len(data)
        if store.max_message_size is not None and size > store.max_message_size:
            raise MessageTooBig()
        store._check_quota(state.account, size)
        state.reserve_uids(1)
        modseq = state.next_modseq()
        uid = state.add(
            body=data,
            parsed=parsed,
            flags=flags - {_RECENT},
            internal_date=internal_date,
            modseq=modseq,
        )
        store.notify_change(state.id)
        return AppendResult(uid_validity=state.uid_validity, uid=uid, modseq=modseq)

    async def store_flags(
        self,
        uids: Sequence[int],
        change: FlagChange,
        flags: frozenset[str],
        *,
        unchanged_since: int | None = None,
    ) -> tuple[Sequence[FlagUpdate], Sequence[int]]:
        state = await self._live()
        flags = flags - {_RECENT}
        messages = state.messages
        updates: list[FlagUpdate] = []
        refused: list[int] = []
        modseq = 0  # allocated on the first message that really changes
        for uid in state.existing(uids):
            message = messages[uid]
            if unchanged_since is not None and message.modseq > unchanged_since:
                refused.append(uid)
                continue
            old = message.flags
            if change is FlagChange.REPLACE:
                new = flags
            elif change is FlagChange.ADD:
                new = old | flags
            else:
                new = old - flags
            if new != old:
                if not modseq:
                    modseq = state.next_modseq()
                state.count_out(message)
                message.set_flags(state.intern_flags(new), modseq)
                state.count_in(message)
                state.log(modseq, uid)
            updates.append(FlagUpdate(uid, message.flags, message.modseq))
        if modseq:
            state.maybe_compact_log()
            self._store.notify_change(state.id)
        return updates, refused

    async def expunge(self, uids: Sequence[int] | None = None) -> Sequence[int]:
        state = await self._live()
        messages = state.messages
        candidates = state.uids if uids is None else state.existing(uids)
        removed = [uid for uid in candidates if _DELETED in messages[uid].flags]
        if removed:
            state.remove(removed, state.next_modseq())
            self._store.notify_change(state.id)
        return removed

    def _destination(self, destination: Mailbox) -> _MailboxState:
        if not isinstance(destination, _MemoryMailbox) or destination._store is not self._store:
            raise CannotError("The destination mailbox is not in this store")
        if destination._state.gone:
            raise MailboxGone()
        return destination._state

    @staticmethod
    def _copy_into(source: _MailboxState, target: _MailboxState, uids: list[int]) -> list[int]:
        """Append the messages ``uids`` of ``source`` to ``target``; checks done by the caller."""
        modseq = target.next_modseq()
        messages = source.messages
        return [
            target.add(
                body=message.body,
                parsed=message.parsed,
                flags=message.flags,
                internal_date=message.internal_date,
                modseq=modseq,
            )
            for message in (messages[uid] for uid in uids)
        ]

    async def copy(self, uids: Sequence[int], destination: Mailbox) -> CopyResult:
        state = await self._live()
        target = self._destination(destination)
        found = state.existing(uids)
        if found:
            messages = state.messages
            self._store._check_quota(target.account, sum(len(messages[u].body) for u in found))
            target.reserve_uids(len(found))
            new_uids = self._copy_into(state, target, found)
            self._store.notify_change(target.id)
        else:
            new_uids = []
        return CopyResult(uid_validity=target.uid_validity, source=found, destination=new_uids)

    async def move(self, uids: Sequence[int], destination: Mailbox) -> CopyResult:
        state = await self._live()
        target = self._destination(destination)
        found = state.existing(uids)
        if not found:
            return CopyResult(uid_validity=target.uid_validity, source=[], destination=[])
        if target.account is not state.account:
            messages = state.messages
            self._store._check_quota(target.account, sum(len(messages[u].body) for u in found))
        target.reserve_uids(len(found))
        # Copy first, then expunge, with no await between: nobody sees the middle state.
        new_uids = self._copy_into(state, target, found)
        modseq = target.highest_modseq if target is state else state.next_modseq()
        state.remove(found, modseq)
        self._store._notify_all([state.id, target.id])
        return CopyResult(uid_validity=target.uid_validity, source=found, destination=new_uids)

    async def changes_since(self, modseq: int) -> MailboxChanges:
        state = await self._live()
        if modseq >= state.highest_modseq:
            return MailboxChanges(highest_modseq=state.highest_modseq, uid_next=state.uid_next)
        messages = state.messages
        tombstones = state.tombstones
        updated: dict[int, FlagUpdate] = {}
        expunged: set[int] = set()
        log_uid = state.log_uid
        log_modseq = state.log_modseq
        for i in range(bisect_right(log_modseq, modseq), len(log_uid)):
            uid = log_uid[i]
            entry = log_modseq[i]
            message = messages.get(uid)
            if message is not None:
                if message.modseq == entry:
                    updated[uid] = FlagUpdate(uid, message.flags, entry)
            elif tombstones.get(uid) == entry:
                expunged.add(uid)
        return MailboxChanges(
            highest_modseq=state.highest_modseq,
            uid_next=state.uid_next,
            updated=[updated[uid] for uid in sorted(updated)],
            expunged=sorted(expunged),
        )
