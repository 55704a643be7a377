"""The user and mailbox handles of `imap_store_s3.S3Store`.

A user's directory (``users/<account id>/directory``, JSON) holds their mailbox names (each
with its id, UIDVALIDITY and special-use attributes, or ``\\Noselect`` for a placeholder) and
subscriptions. It is replaced with ``If-Match`` (read, change, write; on a lost race read again
and redo the change), and cached per process for `DIRECTORY_TTL` seconds with its ETag: a name
not found in the cached copy is looked up again before the answer is "no".

Mailbox contents are the logs of `imap_store_s3.log`.

Known limits: a MOVE between two mailboxes is two log entries (appended to the destination
first, then expunged from the source), so another process may briefly see the messages in
both; a RENAME INBOX likewise.
"""

from __future__ import annotations

import copy
import datetime as _dt
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from imap_server.names import canonical_name, is_inferior, special_use, superiors
from imap_server.spool import SpooledMessage
from imap_server.store import (
    AlreadyExists,
    AppendResult,
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
    StoreError,
    StoreUnavailable,
    User,
    Want,
)

from ._client import NotFound, PreconditionFailed
from .log import Entry, MailboxState, Message

if TYPE_CHECKING:
    from imap_server.message import ParsedMessage

    from .store import S3Store

__all__ = ["DIRECTORY_TTL", "S3Body", "S3Mailbox", "S3User", "new_directory"]

#: Seconds a process trusts its cached copy of a directory.
DIRECTORY_TTL = 2.0
_INBOX = "INBOX"
_DELIMITER = "/"
_NOSELECT = frozenset({"\\Noselect"})
_DELETED = "\\Deleted"
_RECENT = "\\Recent"
_MAX_UID = 2**32 - 1
_MAX_ATTEMPTS = 50
_R = TypeVar("_R")
Directory = dict[str, Any]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0)


def next_uid_validity(doc: Directory) -> int:
    """A UIDVALIDITY from the clock, above every one the directory handed out."""
    value = max(min(int(time.time()), _MAX_UID // 2), int(doc.get("last_uid_validity", 0)) + 1)
    if value > _MAX_UID:
        value = 1
    doc["last_uid_validity"] = value
    return value


def _new_entry(doc: Directory, uses: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "uid_validity": next_uid_validity(doc),
        "special_use": sorted(uses),
    }


def new_directory() -> tuple[Directory, str]:
    """A directory with only INBOX; and INBOX's id."""
    doc: Directory = {"mailboxes": {}, "subscriptions": [], "last_uid_validity": 0}
    entry = _new_entry(doc)
    doc["mailboxes"][_INBOX] = entry
    return doc, str(entry["id"])


class S3Body:
    """A message's octets in S3: each `read` is one (ranged) GET."""

    __slots__ = ("_key", "_size", "_store")

    def __init__(self, store: S3Store, key: str, size: int) -> None:
        self._store = store
        self._key = key
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        stop = self._size if end is None else min(end, self._size)
        if start >= stop:
            return b""
        try:
            if start == 0 and stop == self._size:
                return await self._store._client.get(self._key)
            return await self._store._client.get(self._key, start, stop)
        except NotFound:
            raise StoreError("The message has been expunged") from None

    async def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Octets ``[start:end]`` in pieces of 1 MiB, from one GET (a FETCH of a large
        body: never held whole)."""
        stop: int | None = min(end, self._size)
        if start == 0 and stop == self._size:
            stop = None  # the whole object: a plain GET, no Range
        try:
            async for chunk in self._store._client.stream(self._key, start, stop):
                yield chunk
        except NotFound:
            raise StoreError("The message has been expunged") from None


# -- users ----------------------------------------------------------------------------------


class S3User(User):
    """One account's mailboxes."""

    def __init__(self, store: S3Store, name: str, account_id: str) -> None:
        self._store = store
        self._name = name
        self.account_id = account_id

    def __repr__(self) -> str:
        return f"<s3 user {self._name!r}>"

    @property
    def name(self) -> str:
        return self._name

    def _key(self) -> str:
        return self._store.directory_key(self.account_id)

    async def _directory(self, *, fresh: bool = False) -> tuple[Directory, str, bool]:
        """The directory, its ETag, and whether it came from the cache."""
        cache = self._store._directories
        cached = cache.get(self.account_id)
        if not fresh and cached is not None and time.monotonic() - cached[2] < DIRECTORY_TTL:
            return cached[0], cached[1], True
        started = time.monotonic()
        try:
            data, etag = await self._store._client.get_with_etag(self._key())
        except NotFound:
            cache.pop(self.account_id, None)
            raise StoreError("The account no longer exists") from None
        doc = self._store.loads(data)
        cache[self.account_id] = (doc, etag, started)
        return doc, etag, False

    async def _update(self, mutate: Callable[[Directory], _R]) -> _R:
        """Read, change with ``mutate`` (which raises to refuse), write with ``If-Match``."""
        doc, etag, cached = await self._directory()
        for _ in range(_MAX_ATTEMPTS):
            changed = copy.deepcopy(doc)
            try:
                result = mutate(changed)
            except StoreError:
                if not cached:
                    raise
                doc, etag, cached = await self._directory(fresh=True)
                continue
            if changed == doc:
                return result
            started = time.monotonic()
            try:
                new_etag = await self._store._client.put(
                    self._key(), self._store.dumps(changed), if_match=etag
                )
            except PreconditionFailed:
                doc, etag, cached = await self._directory(fresh=True)
                continue
            except NotFound:
                raise StoreError("The account no longer exists") from None
            self._store._directories[self.account_id] = (changed, new_etag, started)
            return result
        raise StoreUnavailable("The mailbox directory is too busy")

    async def list_mailboxes(self) -> Sequence[MailboxInfo]:
        doc, _, _ = await self._directory()
        subscribed = set(doc["subscriptions"])
        return [
            MailboxInfo(
                name=name,
                attributes=_NOSELECT if entry.get("noselect") else frozenset(entry["special_use"]),
                subscribed=name in subscribed,
            )
            for name, entry in doc["mailboxes"].items()
        ]

    async def get_mailbox(self, name: str) -> Mailbox:
        try:
            canonical = canonical_name(name)
        except InvalidName:
            raise NoSuchMailbox() from None
        doc, _, cached = await self._directory()
        entry = doc["mailboxes"].get(canonical)
        if (entry is None or entry.get("noselect")) and cached:
            doc, _, _ = await self._directory(fresh=True)
            entry = doc["mailboxes"].get(canonical)
        if entry is None or entry.get("noselect"):
            raise NoSuchMailbox()
        state = self._store._state(entry["id"], canonical, int(entry["uid_validity"]))
        return self._store._handle(state)

    async def create_mailbox(self, name: str, *, special_use: frozenset[str] = frozenset()) -> None:
        if name.endswith(_DELIMITER):
            name = name[: -len(_DELIMITER)]
        canonical = canonical_name(name)
        uses = special_use_of(special_use)

        def mutate(doc: Directory) -> list[tuple[str, dict[str, Any]]]:
            mailboxes = doc["mailboxes"]
            existing = mailboxes.get(canonical)
            if existing is not None and not existing.get("noselect"):
                raise AlreadyExists()
            created = []
            for superior in superiors(canonical):
                if superior not in mailboxes:
                    mailboxes[superior] = _new_entry(doc)
                    created.append((superior, mailboxes[superior]))
            mailboxes[canonical] = _new_entry(doc, uses)
            created.append((canonical, mailboxes[canonical]))
            return created

        created = await self._update(mutate)
        for mailbox_name, entry in created:
            self._store._new_state(entry["id"], mailbox_name, int(entry["uid_validity"]))
        for _, entry in created:
            self._store.notify_change(entry["id"])

    async def delete_mailbox(self, name: str) -> None:
        try:
            canonical = canonical_name(name)
        except InvalidName:
            raise NoSuchMailbox() from None
        if canonical == _INBOX:
            raise CannotError("INBOX cannot be deleted")

        def mutate(doc: Directory) -> dict[str, Any] | None:
            mailboxes = doc["mailboxes"]
            entry = mailboxes.get(canonical)
            if entry is None:
                raise NoSuchMailbox()
            has_inferiors = any(is_inferior(other, canonical) for other in mailboxes)
            if entry.get("noselect"):
                if has_inferiors:
                    raise CannotError("The name has inferior hierarchical names and is \\Noselect")
                del mailboxes[canonical]
                removed = None
            else:
                removed = entry
                if has_inferiors:
                    mailboxes[canonical] = {"noselect": True}
                else:
                    del mailboxes[canonical]
            _prune_placeholders(mailboxes, canonical)
            return removed

        removed = await self._update(mutate)
        if removed is not None:
            state = self._store._state(removed["id"], canonical, int(removed["uid_validity"]))
            await self._store._destroy(state)

    async def rename_mailbox(self, old: str, new: str) -> None:
        try:
            source = canonical_name(old)
        except InvalidName:
            raise NoSuchMailbox() from None
        target = canonical_name(new)
        if source == _INBOX:
            await self._rename_inbox(target)
            return

        def mutate(doc: Directory) -> list[tuple[str, dict[str, Any]]]:
            mailboxes = doc["mailboxes"]
            if source not in mailboxes:
                raise NoSuchMailbox()
            if target in mailboxes:
                raise AlreadyExists()
            if target == source or is_inferior(target, source):
                raise CannotError("A mailbox cannot be renamed under itself")
            moving = [n for n in mailboxes if n == source or is_inferior(n, source)]
            renamed = {n: target + n[len(source) :] for n in moving}
            if any(n in mailboxes for n in renamed.values()):
                raise AlreadyExists()
            changed = []
            for superior in superiors(target):
                if superior not in mailboxes and superior not in renamed.values():
                    mailboxes[superior] = _new_entry(doc)
                    changed.append((superior, mailboxes[superior]))
            entries = {n: mailboxes.pop(n) for n in moving}
            for old_name, new_name in renamed.items():
                mailboxes[new_name] = entries[old_name]
                if not entries[old_name].get("noselect"):
                    changed.append((new_name, entries[old_name]))
            _prune_placeholders(mailboxes, source)
            return changed

        changed = await self._update(mutate)
        for mailbox_name, entry in changed:
            state = self._store._states.get(entry["id"])
            if state is not None:
                state.name = mailbox_name
        for _, entry in changed:
            self._store.notify_change(entry["id"])

    async def _rename_inbox(self, target: str) -> None:
        """RENAME INBOX: its messages move to a new mailbox (same UIDs, new UIDVALIDITY);
        INBOX stays, empty, with its id and UIDVALIDITY."""
        doc, _, _ = await self._directory(fresh=True)
        if target in doc["mailboxes"]:
            raise AlreadyExists()
        inbox_entry = doc["mailboxes"][_INBOX]
        inbox = self._store._state(inbox_entry["id"], _INBOX, int(inbox_entry["uid_validity"]))
        await self._store._logs.refresh(inbox, max_age=0)
        uids = list(inbox.uids)
        records = [inbox.messages[uid].record(uid) for uid in uids]
        uid_next = inbox.uid_next
        moved_id = uuid.uuid4().hex
        moved = self._store._new_state(moved_id, target, 0)
        if records:
            entry: Entry = {"a": records, "n": uid_next}
            await self._store._logs.commit(moved, lambda state: (entry, None))

        def mutate(doc: Directory) -> list[tuple[str, dict[str, Any]]]:
            mailboxes = doc["mailboxes"]
            if target in mailboxes:
                raise AlreadyExists()
            created = []
            for superior in superiors(target):
                if superior not in mailboxes:
                    mailboxes[superior] = _new_entry(doc)
                    created.append((superior, mailboxes[superior]))
            mailboxes[target] = _new_entry(doc)
            mailboxes[target]["id"] = moved_id
            return created

        created = await self._update(mutate)
        moved.uid_validity = int((await self._directory())[0]["mailboxes"][target]["uid_validity"])
        for mailbox_name, entry in created:
            self._store._new_state(entry["id"], mailbox_name, int(entry["uid_validity"]))
        if uids:

            def expunge(state: MailboxState) -> tuple[Entry | None, None]:
                gone = [uid for uid in uids if uid in state.messages]
                return ({"x": gone} if gone else None), None

            await self._store._logs.commit(inbox, expunge)
        self._store.notify_change(inbox.id)
        self._store.notify_change(moved_id)
        for _, entry in created:
            self._store.notify_change(entry["id"])

    async def subscribe(self, name: str) -> None:
        canonical = canonical_name(name)

        def mutate(doc: Directory) -> None:
            if canonical not in doc["subscriptions"]:
                doc["subscriptions"].append(canonical)

        await self._update(mutate)

    async def unsubscribe(self, name: str) -> None:
        try:
            canonical = canonical_name(name)
        except InvalidName:
            raise NoSuchMailbox("The name is not subscribed") from None

        def mutate(doc: Directory) -> None:
            if canonical not in doc["subscriptions"]:
                raise NoSuchMailbox("The name is not subscribed")
            doc["subscriptions"].remove(canonical)

        await self._update(mutate)

    async def subscriptions(self) -> frozenset[str]:
        doc, _, _ = await self._directory()
        return frozenset(doc["subscriptions"])


def special_use_of(attributes: frozenset[str]) -> frozenset[str]:
    return special_use(attributes)


def _prune_placeholders(mailboxes: dict[str, Any], name: str) -> None:
    for superior in reversed(superiors(name)):
        entry = mailboxes.get(superior)
        if (
            entry is not None
            and entry.get("noselect")
            and not any(is_inferior(other, superior) for other in mailboxes)
        ):
            del mailboxes[superior]
        else:
            break


# -- mailboxes ------------------------------------------------------------------------------


class S3Mailbox(Mailbox):
    """A handle on one mailbox (its state is shared by every handle of this process)."""

    def __init__(self, store: S3Store, state: MailboxState) -> None:
        self._store = store
        self._state = state

    def __repr__(self) -> str:
        return f"<s3 mailbox {self._state.id} {self._state.name!r}>"

    @property
    def id(self) -> str:
        return self._state.id

    @property
    def name(self) -> str:
        return self._state.name

    async def _fresh(self, *, exact: bool = False) -> MailboxState:
        """The state, caught up. ``exact`` (SELECT, STATUS): with one LIST now, so that a
        client opening or counting a mailbox sees what other processes did just before.
        Otherwise (FETCH, polls after each command) a read relies on the store's task, which
        lists each open mailbox every poll_interval and tells the sessions what it finds: it
        trusts the cache for up to three intervals (a missed poll cannot leave it stale for
        long), so a FETCH of a body costs its GET alone."""
        store = self._store
        max_age = 0.0 if exact else store.poll_interval * (3 if store.polling else 1)
        await store._logs.refresh(self._state, max_age=max_age)
        return self._state

    async def status(self) -> MailboxStatus:
        state = await self._fresh(exact=True)
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
        state = await self._fresh(exact=True)
        messages = state.messages
        uids = tuple(state.uids)
        return MailboxSnapshot(
            uid_validity=state.uid_validity,
            uid_next=state.uid_next,
            highest_modseq=state.highest_modseq,
            uids=uids,
            flags=tuple(messages[uid].flags for uid in uids),
            keywords=frozenset(state.keywords),
        )

    async def fetch(self, uids: Sequence[int], want: Want = Want.META) -> Sequence[MessageData]:
        state = await self._fresh()
        with_parsed = Want.STRUCTURE in want
        with_body = Want.BODY in want
        messages = state.messages
        result = []
        for uid in state.existing(uids):
            message = messages[uid]
            result.append(
                MessageData(
                    uid=uid,
                    flags=message.flags,
                    modseq=message.modseq,
                    internal_date=message.internal_date,
                    size=message.size,
                    parsed=message.get_parsed() if with_parsed else None,
                    body=S3Body(self._store, message.body, message.size) if with_body else None,
                )
            )
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
        state = self._state
        if state.gone:
            raise MailboxGone()
        store = self._store
        if store.max_message_size is not None and len(body) > store.max_message_size:
            raise MessageTooBig()
        key = store.body_key()
        await store._client.upload(key, body if isinstance(body, SpooledMessage) else bytes(body))
        record = {
            "f": sorted(flags - {_RECENT}),
            "d": internal_date.isoformat(),
            "s": len(body),
            "b": key,
            "p": parsed.to_bytes().decode("ascii"),
        }

        def build(state: MailboxState) -> tuple[Entry | None, int]:
            uid = state.uid_next
            if uid > _MAX_UID:
                raise CannotError("The mailbox has run out of UIDs")
            return {"a": [{"u": uid, **record}]}, uid

        try:
            uid, modseq = await store._logs.commit(state, build)
        except (MailboxGone, CannotError):
            await store._forget_bodies([key])
            raise
        return AppendResult(uid_validity=state.uid_validity, uid=uid, modseq=modseq)

    async def store_flags(
        self,
        uids: Sequence[int],
        change: FlagChange,
        flags: frozenset[str],
        *,
        unchanged_since: int | None = None,
    ) -> tuple[Sequence[FlagUpdate], Sequence[int]]:
        flags = flags - {_RECENT}

        def build(
            state: MailboxState,
        ) -> tuple[Entry | None, tuple[list[FlagUpdate], list[int]]]:
            modseq = state.highest_modseq + 1
            messages = state.messages
            changes: dict[str, list[str]] = {}
            updates: list[FlagUpdate] = []
            refused: list[int] = []
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
                    changes[str(uid)] = sorted(new)
                    updates.append(FlagUpdate(uid, frozenset(new), modseq))
                else:
                    updates.append(FlagUpdate(uid, old, message.modseq))
            return ({"f": changes} if changes else None), (updates, refused)

        (updates, refused), _ = await self._store._logs.commit(self._state, build)
        return updates, refused

    async def expunge(self, uids: Sequence[int] | None = None) -> Sequence[int]:
        def build(state: MailboxState) -> tuple[Entry | None, list[int]]:
            candidates = state.uids if uids is None else state.existing(uids)
            messages = state.messages
            removed = [uid for uid in candidates if _DELETED in messages[uid].flags]
            return ({"x": removed} if removed else None), removed

        removed, _ = await self._store._logs.commit(self._state, build)
        return removed

    def _destination(self, destination: Mailbox) -> MailboxState:
        if not isinstance(destination, S3Mailbox) or destination._store is not self._store:
            raise CannotError("The destination mailbox is not in this store")
        if destination._state.gone:
            raise MailboxGone()
        return destination._state

    @staticmethod
    def _records(state: MailboxState, target: MailboxState, found: list[int]) -> list[Any]:
        first = target.uid_next
        if first + len(found) - 1 > _MAX_UID:
            raise CannotError("The mailbox has run out of UIDs")
        return [state.messages[uid].record(first + i) for i, uid in enumerate(found)]

    async def copy(self, uids: Sequence[int], destination: Mailbox) -> CopyResult:
        state = await self._fresh()
        target = self._destination(destination)
        found = state.existing(uids)
        if not found:
            return CopyResult(uid_validity=target.uid_validity, source=[], destination=[])
        messages = [state.messages[uid] for uid in found]
        new_uids = await self._append_messages(target, messages)
        return CopyResult(uid_validity=target.uid_validity, source=found, destination=new_uids)

    async def _append_messages(self, target: MailboxState, messages: list[Message]) -> list[int]:
        def build(state: MailboxState) -> tuple[Entry | None, list[int]]:
            first = state.uid_next
            if first + len(messages) - 1 > _MAX_UID:
                raise CannotError("The mailbox has run out of UIDs")
            records = [message.record(first + i) for i, message in enumerate(messages)]
            return {"a": records}, [first + i for i in range(len(messages))]

        new_uids, _ = await self._store._logs.commit(target, build)
        return new_uids

    async def move(self, uids: Sequence[int], destination: Mailbox) -> CopyResult:
        state = await self._fresh()
        target = self._destination(destination)
        if target is state:

            def build(state: MailboxState) -> tuple[Entry | None, tuple[list[int], list[int]]]:
                found = state.existing(uids)
                if not found:
                    return None, ([], [])
                records = self._records(state, state, found)
                return {"a": records, "x": found}, (found, [r["u"] for r in records])

            (found, new_uids), _ = await self._store._logs.commit(state, build)
            return CopyResult(uid_validity=state.uid_validity, source=found, destination=new_uids)
        found = state.existing(uids)
        if not found:
            return CopyResult(uid_validity=target.uid_validity, source=[], destination=[])
        messages = [state.messages[uid] for uid in found]
        new_uids = await self._append_messages(target, messages)

        def expunge(state: MailboxState) -> tuple[Entry | None, None]:
            gone = [uid for uid in found if uid in state.messages]
            return ({"x": gone} if gone else None), None

        await self._store._logs.commit(state, expunge)
        return CopyResult(uid_validity=target.uid_validity, source=found, destination=new_uids)

    async def changes_since(self, modseq: int) -> MailboxChanges:
        state = await self._fresh()
        if modseq >= state.highest_modseq:
            return MailboxChanges(highest_modseq=state.highest_modseq, uid_next=state.uid_next)
        updated = [
            FlagUpdate(uid, message.flags, message.modseq)
            for uid, message in state.messages.items()
            if message.modseq > modseq
        ]
        updated.sort(key=lambda u: u.uid)
        expunged = sorted(uid for uid, m in state.tombstones.items() if m > modseq)
        return MailboxChanges(
            highest_modseq=state.highest_modseq,
            uid_next=state.uid_next,
            updated=updated,
            expunged=expunged,
        )
