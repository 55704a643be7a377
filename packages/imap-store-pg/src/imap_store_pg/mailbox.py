"""Users and mailboxes of `PgStore`: the `imap_server.store.User` and `Mailbox` interfaces
in SQL.

Every mutating call is one transaction. A change to a mailbox's messages first locks (or
updates) the mailbox row, which holds UIDNEXT, HIGHESTMODSEQ and the STATUS counters: that
serializes writers of one mailbox across processes, makes UID and MODSEQ allocation roll back
with a failed transaction (no gaps, no duplicates), and keeps the counters exact. The
transaction sends ``NOTIFY imap_changes, '<mailbox id>'`` (delivered at commit to the other
processes); after the commit the store also calls `Backend.notify_change` itself.

Hierarchy operations (CREATE, DELETE, RENAME) lock the account row, so that two of them on
one account never interleave.
"""

from __future__ import annotations

import datetime as _dt
import functools
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from imap_server.message import ParsedMessage
from imap_server.names import canonical_name, is_inferior, special_use, superiors
from imap_server.spool import SpooledMessage
from imap_server.store import (
    AlreadyExists,
    AppendResult,
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
    StoreError,
    User,
    Want,
)

from .cache import CachedMailbox

if TYPE_CHECKING:
    from .store import PgStore

__all__ = ["MailboxRef", "PgMailbox", "PgUser"]

_Conn = Any  # an asyncpg connection (asyncpg ships no type information)
_INBOX = "INBOX"
_NOSELECT = frozenset({"\\Noselect"})
_SEEN = "\\Seen"
_DELETED = "\\Deleted"
_RECENT = "\\Recent"
_MAX_UID = 2**32 - 1
#: Bodies up to this size come back with the FETCH query itself (one round trip).
_INLINE_BODY = 64 * 1024
#: A MODSEQ above any real one: "send me no rows, only the mailbox row".
_NO_ROWS = 2**62

# -- SQL --------------------------------------------------------------------------------------

#: The mailbox row, plus (when ``$2`` is below HIGHESTMODSEQ) everything that changed after
#: MODSEQ ``$2``: one statement, so one consistent snapshot.
_REFRESH = """
SELECT mb.name, mb.uid_validity, mb.uid_next, mb.highest_modseq, mb.keywords,
       mb.messages, mb.unseen, mb.deleted, mb.size,
       c.uids, c.flags, c.modseqs, x.uids AS x_uids, x.modseqs AS x_modseqs
FROM mailboxes mb
LEFT JOIN LATERAL (
    SELECT array_agg(m.uid ORDER BY m.uid) AS uids,
           array_agg(array_to_string(m.flags, ' ') ORDER BY m.uid) AS flags,
           array_agg(m.modseq ORDER BY m.uid) AS modseqs
    FROM messages m
    WHERE m.mailbox_id = mb.id AND m.modseq > $2 AND mb.highest_modseq > $2
) c ON true
LEFT JOIN LATERAL (
    SELECT array_agg(e.uid ORDER BY e.uid) AS uids, array_agg(e.modseq ORDER BY e.uid) AS modseqs
    FROM expunged e
    WHERE e.mailbox_id = mb.id AND e.modseq > $2 AND mb.highest_modseq > $2
) x ON true
WHERE mb.id = $1 AND NOT mb.noselect
"""

_LOCK_ONE = """
SELECT id, highest_modseq, uid_next, uid_validity, account_id FROM mailboxes
WHERE id = $1 AND NOT noselect FOR UPDATE
"""

_LOCK_MANY = """
SELECT id, highest_modseq, uid_next, uid_validity, account_id FROM mailboxes
WHERE id = ANY($1::bigint[]) AND NOT noselect ORDER BY id FOR UPDATE
"""

_APPEND = (
    "SELECT uid, modseq, uid_validity FROM imap_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)

_SET_FLAGS = """
WITH msg AS (
    UPDATE messages m SET flags = string_to_array(c.f, ' '), modseq = $2
    FROM unnest($3::bigint[], $4::text[]) AS c(uid, f)
    WHERE m.mailbox_id = $1 AND m.uid = c.uid
    RETURNING 1
), mb AS (
    UPDATE mailboxes SET highest_modseq = $2, unseen = unseen + $5, deleted = deleted + $6,
        keywords = CASE WHEN $7::text[] <@ keywords THEN keywords
                        ELSE ARRAY(SELECT DISTINCT unnest(keywords || $7::text[])) END
    WHERE id = $1
    RETURNING 1
)
SELECT pg_notify('imap_changes', $1::text)
"""

_RECORD_EXPUNGE = """
WITH e AS (
    INSERT INTO expunged (mailbox_id, uid, modseq)
    SELECT $1, u, $2 FROM unnest($3::bigint[]) AS u
    ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq
    RETURNING 1
), mb AS (
    UPDATE mailboxes SET highest_modseq = GREATEST(highest_modseq, $2),
        messages = messages - $4, unseen = unseen - $5, deleted = deleted - $6, size = size - $7
    WHERE id = $1
    RETURNING 1
)
SELECT pg_notify('imap_changes', $1::text)
"""

_RELEASE_BYTES = "UPDATE accounts SET used_bytes = used_bytes - $2 WHERE id = $1"
_CHARGE_BYTES = """
UPDATE accounts SET used_bytes = used_bytes + $2
WHERE id = $1 AND ($3::bigint IS NULL OR used_bytes + $2 <= $3) RETURNING id
"""

#: Locks the bodies of removed messages before looking for other references to them. Two
#: transactions removing the two last references to one body at once (an original and its
#: COPY, expunged through two processes) would otherwise each see the other's message and
#: both keep the body; with the lock, the second waits, and its check (a statement with a
#: fresh snapshot under READ COMMITTED) sees the first one's removal.
_LOCK_BODIES = "SELECT id FROM bodies WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"
#: The same for blob keys, which have no row of their own: a transaction-scoped advisory lock
#: per key (in key order, so two transactions cannot deadlock on them).
_LOCK_BLOB_KEYS = """
SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k ORDER BY k
"""
#: Bodies among ``$1`` no message refers to any more (run after the messages went, in the
#: same transaction, with the bodies locked).
_DROP_ORPHAN_BODIES = """
DELETE FROM bodies b WHERE b.id = ANY($1::bigint[])
AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = b.id)
"""
_ORPHAN_BLOBS = """
SELECT k FROM unnest($1::text[]) AS k
WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_key = k)
"""


@functools.cache
def _fetch_sql(by_range: bool, structure: bool, body: bool) -> str:
    """The FETCH query: at least one row while the mailbox exists (uid NULL when no message
    matched), none once it is gone."""
    where = "m.uid >= $2 AND m.uid < $3" if by_range else "m.uid = ANY($2::bigint[])"
    parsed = "m.parsed" if structure else "NULL::bytea"
    if body:
        data = (
            f"CASE WHEN m.body_id IS NOT NULL AND m.size <= {_INLINE_BODY} "
            "THEN (SELECT b.data FROM bodies b WHERE b.id = m.body_id) END"
        )
    else:
        data = "NULL::bytea"
    return f"""
SELECT m.uid, array_to_string(m.flags, ' ') AS flags, m.modseq, m.internal_date,
       m.date_offset, m.size, {parsed} AS parsed, m.body_id, m.blob_key, {data} AS data
FROM mailboxes mb LEFT JOIN messages m ON m.mailbox_id = mb.id AND {where}
WHERE mb.id = $1 AND NOT mb.noselect
ORDER BY m.uid
"""


def _selection_sql(uids: Sequence[int], first: int) -> tuple[str, list[Any]]:
    """A WHERE fragment on ``uid`` for ``uids`` (parameters numbered from ``first``)."""
    if isinstance(uids, range) and uids.step == 1:
        return f"uid >= ${first} AND uid < ${first + 1}", [max(uids.start, 0), uids.stop]
    return f"uid = ANY(${first}::bigint[])", [_uid_list(uids)]


def _uid_list(uids: Sequence[int]) -> list[int]:
    if isinstance(uids, range):
        if uids.step < 0:
            uids = uids[::-1]
        # A stepped range: only its UIDs up to the largest possible one.
        return list(range(uids.start, min(uids.stop, _MAX_UID + 1), uids.step))
    return [uid for uid in uids if 0 < uid <= _MAX_UID]


def _flag_text(flags: frozenset[str]) -> str:
    return " ".join(sorted(flags))


def _keywords(flags: frozenset[str]) -> list[str]:
    return sorted(flag for flag in flags if not flag.startswith("\\"))


@functools.lru_cache(maxsize=256)
def _zone(offset: int) -> _dt.tzinfo:
    return _dt.UTC if offset == 0 else _dt.timezone(_dt.timedelta(seconds=offset))


# -- bodies -----------------------------------------------------------------------------------


class _PgBody:
    """A message body in the ``bodies`` table, read by range on demand."""

    __slots__ = ("_body_id", "_size", "_store")

    def __init__(self, store: PgStore, body_id: int, size: int) -> None:
        self._store = store
        self._body_id = body_id
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        start = max(start, 0)
        end = self._size if end is None else min(end, self._size)
        if start >= end:
            return b""
        async with self._store._conn() as conn:
            data = await conn.fetchval(
                "SELECT substring(data FROM $2 FOR $3) FROM bodies WHERE id = $1",
                self._body_id,
                start + 1,
                end - start,
            )
        if data is None:
            raise StoreError("The message was expunged")
        return bytes(data)


class _BlobBody:
    """A message body in the external `BlobStore`."""

    __slots__ = ("_key", "_size", "_store")

    def __init__(self, store: PgStore, key: str, size: int) -> None:
        self._store = store
        self._key = key
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        start = max(start, 0)
        end = self._size if end is None else min(end, self._size)
        if start >= end:
            return b""
        return await self._store._blob_get(self._key, start, end)

    def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Octets ``[start:end]`` in pieces (`BlobStore.stream`: one GET from S3)."""
        return self._store._blob_stream(self._key, start, end)


# -- mailboxes --------------------------------------------------------------------------------


class MailboxRef:
    """What every handle on one mailbox in this process shares: its id and current name (a
    RENAME here updates it at once; one elsewhere when a handle next reads the row)."""

    __slots__ = ("__weakref__", "id", "name")

    def __init__(self, mailbox_id: int, name: str) -> None:
        self.id = mailbox_id
        self.name = name


class PgMailbox(Mailbox):
    """A handle on one mailbox row. ``id`` and ``name`` keep answering after DELETE; every
    other call then raises `MailboxGone` (the row is gone, and ids are never reused)."""

    __slots__ = ("_ref", "_store")

    def __init__(self, store: PgStore, ref: MailboxRef) -> None:
        self._store = store
        self._ref = ref

    def __repr__(self) -> str:
        return f"<pg mailbox {self._ref.id} {self._ref.name!r}>"

    @property
    def id(self) -> str:
        return str(self._ref.id)

    @property
    def name(self) -> str:
        return self._ref.name

    @property
    def row_id(self) -> int:
        return self._ref.id

    # -- reading

    async def _refresh(self, since: int) -> Any:
        async with self._store._conn() as conn:
            row = await conn.fetchrow(_REFRESH, self._ref.id, since)
        if row is None:
            self._store._cache.drop(self._ref.id)
            raise MailboxGone()
        self._ref.name = row["name"]
        return row

    def _apply(self, entry: CachedMailbox, row: Any) -> None:
        flag_sets = self._store._flag_sets
        entry.apply(
            highest_modseq=row["highest_modseq"],
            uid_next=row["uid_next"],
            keywords=frozenset(row["keywords"]),
            updated_uids=row["uids"] or (),
            updated_flags=[flag_sets(text) for text in row["flags"] or ()],
            expunged=row["x_uids"] or (),
        )

    async def status(self) -> MailboxStatus:
        cache = self._store._cache
        entry = cache.get(self._ref.id)
        row = await self._refresh(_NO_ROWS if entry is None else entry.highest_modseq)
        if entry is not None:
            self._apply(entry, row)
        return MailboxStatus(
            messages=row["messages"],
            uid_next=row["uid_next"],
            uid_validity=row["uid_validity"],
            unseen=row["unseen"],
            deleted=row["deleted"],
            size=row["size"],
            highest_modseq=row["highest_modseq"],
        )

    async def snapshot(self) -> MailboxSnapshot:
        store = self._store
        entry = store._cache.get(self._ref.id) if store.cache_mailboxes else None
        fresh = entry is None
        if entry is None:
            entry = CachedMailbox()
        row = await self._refresh(entry.highest_modseq)
        self._apply(entry, row)
        if fresh and store.cache_mailboxes:
            # Another task may have loaded it meanwhile: the newest wins.
            current = store._cache.get(self._ref.id)
            if current is None or current.highest_modseq < entry.highest_modseq:
                store._cache.put(self._ref.id, entry)
        return MailboxSnapshot(
            uid_validity=row["uid_validity"],
            uid_next=entry.uid_next,
            highest_modseq=entry.highest_modseq,
            uids=array_copy(entry.uids),
            flags=tuple(entry.flags),
            keywords=entry.keywords,
        )

    async def changes_since(self, modseq: int) -> MailboxChanges:
        entry = self._store._cache.get(self._ref.id)
        since = modseq if entry is None else min(modseq, entry.highest_modseq)
        row = await self._refresh(max(since, 0))
        if entry is not None:
            self._apply(entry, row)
        highest = row["highest_modseq"]
        if highest <= modseq or (row["uids"] is None and row["x_uids"] is None):
            return MailboxChanges(highest_modseq=highest, uid_next=row["uid_next"])
        flag_sets = self._store._flag_sets
        updated = [
            FlagUpdate(uid, flag_sets(text), entry_modseq)
            for uid, text, entry_modseq in zip(
                row["uids"] or (), row["flags"] or (), row["modseqs"] or (), strict=True
            )
            if entry_modseq > modseq
        ]
        expunged = [
            uid
            for uid, entry_modseq in zip(row["x_uids"] or (), row["x_modseqs"] or (), strict=True)
            if entry_modseq > modseq
        ]
        return MailboxChanges(
            highest_modseq=highest, uid_next=row["uid_next"], updated=updated, expunged=expunged
        )

    async def fetch(self, uids: Sequence[int], want: Want = Want.META) -> Sequence[MessageData]:
        store = self._store
        by_range = isinstance(uids, range) and uids.step == 1
        with_parsed = Want.STRUCTURE in want
        with_body = Want.BODY in want
        sql = _fetch_sql(by_range, with_parsed, with_body)
        if by_range:
            assert isinstance(uids, range)
            args: list[Any] = [max(uids.start, 0), min(uids.stop, _MAX_UID + 1)]
        else:
            args = [_uid_list(uids)]
        async with store._conn() as conn:
            rows = await conn.fetch(sql, self._ref.id, *args)
        if not rows:
            store._cache.drop(self._ref.id)
            raise MailboxGone()
        flag_sets = store._flag_sets
        parsed_cache = store._parsed
        mailbox_id = self._ref.id
        result: list[MessageData] = []
        append = result.append
        for row in rows:
            uid = row[0]
            if uid is None:
                continue
            size = row[5]
            parsed: ParsedMessage | None = None
            if with_parsed:
                key = (mailbox_id, uid)
                parsed = parsed_cache.get(key)
                if parsed is None:
                    parsed = ParsedMessage.from_bytes(row[6])
                    parsed_cache.put(key, parsed)
            body: Any = None
            if with_body:
                data = row[9]
                if data is not None:
                    body = BytesBody(data)
                elif row[7] is not None:
                    body = _PgBody(store, row[7], size)
                else:
                    body = _BlobBody(store, row[8], size)
            offset = row[4]
            date = row[3]
            append(
                MessageData(
                    uid=uid,
                    flags=flag_sets(row[1]),
                    modseq=row[2],
                    internal_date=date.astimezone(_zone(offset)) if offset else date,
                    size=size,
                    parsed=parsed,
                    body=body,
                )
            )
        return result

    # -- changing

    async def append(
        self,
        body: bytes | SpooledMessage,
        *,
        parsed: ParsedMessage,
        flags: frozenset[str] = frozenset(),
        internal_date: _dt.datetime | None = None,
    ) -> AppendResult:
        store = self._store
        if internal_date is None:
            internal_date = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
        elif internal_date.tzinfo is None or internal_date.utcoffset() is None:
            raise ValueError("internal_date must be timezone-aware")
        size = len(body)
        if store.max_message_size is not None and size > store.max_message_size:
            raise MessageTooBig()
        flags = flags - {_RECENT}
        offset = internal_date.utcoffset()
        assert offset is not None
        blob_key: str | None = None
        data: bytes | None = None
        if store._blobs is not None:
            blob_key = uuid.uuid4().hex
            await store._blob_put(blob_key, body)
        else:
            # Bodies in PostgreSQL: a bytea parameter, so a spooled message is read whole.
            data = await body.read() if isinstance(body, SpooledMessage) else bytes(body)
        try:
            async with store._conn() as conn:
                row = await conn.fetchrow(
                    _APPEND,
                    self._ref.id,
                    sorted(flags),
                    _keywords(flags),
                    internal_date,
                    int(offset.total_seconds()),
                    size,
                    parsed.to_bytes(),
                    data,
                    blob_key,
                    store.quota_bytes,
                )
        except BaseException:
            if blob_key is not None:
                await store._blob_delete_quietly([blob_key])
            raise
        store.notify_change(self.id)
        return AppendResult(uid_validity=row[2], uid=row[0], modseq=row[1])

    async def store_flags(
        self,
        uids: Sequence[int],
        change: FlagChange,
        flags: frozenset[str],
        *,
        unchanged_since: int | None = None,
    ) -> tuple[Sequence[FlagUpdate], Sequence[int]]:
        store = self._store
        flags = flags - {_RECENT}
        where, args = _selection_sql(uids, 2)
        updates: list[FlagUpdate] = []
        refused: list[int] = []
        changed_uids: list[int] = []
        changed_texts: list[str] = []
        async with store._txn() as conn:
            mailbox = await conn.fetchrow(_LOCK_ONE, self._ref.id)
            if mailbox is None:
                raise MailboxGone()
            rows = await conn.fetch(
                "SELECT uid, array_to_string(flags, ' '), modseq FROM messages"
                f" WHERE mailbox_id = $1 AND {where} ORDER BY uid",
                self._ref.id,
                *args,
            )
            modseq = mailbox["highest_modseq"] + 1
            flag_sets = store._flag_sets
            unseen_delta = deleted_delta = 0
            for uid, text, old_modseq in rows:
                if unchanged_since is not None and old_modseq > unchanged_since:
                    refused.append(uid)
                    continue
                old = flag_sets(text)
                if change is FlagChange.REPLACE:
                    new = flags
                elif change is FlagChange.ADD:
                    new = old | flags
                else:
                    new = old - flags
                if new == old:
                    updates.append(FlagUpdate(uid, old, old_modseq))
                    continue
                new_text = _flag_text(new)
                new = flag_sets(new_text)
                unseen_delta += (_SEEN in old) - (_SEEN in new)
                deleted_delta += (_DELETED in new) - (_DELETED in old)
                changed_uids.append(uid)
                changed_texts.append(new_text)
                updates.append(FlagUpdate(uid, new, modseq))
            if changed_uids:
                await conn.execute(
                    _SET_FLAGS,
                    self._ref.id,
                    modseq,
                    changed_uids,
                    changed_texts,
                    unseen_delta,
                    deleted_delta,
                    _keywords(flags) if change is not FlagChange.REMOVE else [],
                )
        if changed_uids:
            store.notify_change(self.id)
        return updates, refused

    async def expunge(self, uids: Sequence[int] | None = None) -> Sequence[int]:
        store = self._store
        args: list[Any] = []
        if uids is None:
            where = "true"
        else:
            where, args = _selection_sql(uids, 2)
        orphans: list[str] = []
        async with store._txn() as conn:
            mailbox = await conn.fetchrow(_LOCK_ONE, self._ref.id)
            if mailbox is None:
                raise MailboxGone()
            rows = await conn.fetch(
                "DELETE FROM messages WHERE mailbox_id = $1 AND '\\Deleted' = ANY(flags)"
                f" AND {where} RETURNING uid, size, '\\Seen' = ANY(flags), body_id, blob_key",
                self._ref.id,
                *args,
            )
            if not rows:
                return []
            removed = sorted(row[0] for row in rows)
            size = sum(row[1] for row in rows)
            unseen = sum(1 for row in rows if not row[2])
            await conn.execute(
                _RECORD_EXPUNGE,
                self._ref.id,
                mailbox["highest_modseq"] + 1,
                removed,
                len(rows),
                unseen,
                len(rows),
                size,
            )
            await conn.execute(_RELEASE_BYTES, mailbox["account_id"], size)
            orphans = await _drop_orphans(conn, rows)
        await store._blob_delete_quietly(orphans)
        store.notify_change(self.id)
        return removed

    def _destination(self, destination: Mailbox) -> PgMailbox:
        if not isinstance(destination, PgMailbox) or destination._store is not self._store:
            raise CannotError("The destination mailbox is not in this store")
        return destination

    async def copy(self, uids: Sequence[int], destination: Mailbox) -> CopyResult:
        return await self._transfer(uids, self._destination(destination), move=False)

    async def move(self, uids: Sequence[int], destination: Mailbox) -> CopyResult:
        return await self._transfer(uids, self._destination(destination), move=True)

    async def _transfer(self, uids: Sequence[int], target: PgMailbox, *, move: bool) -> CopyResult:
        store = self._store
        source_id, target_id = self._ref.id, target._ref.id
        where, args = _selection_sql(uids, 2)
        async with store._txn() as conn:
            locked = {
                row["id"]: row
                for row in await conn.fetch(_LOCK_MANY, sorted({source_id, target_id}))
            }
            if source_id not in locked or target_id not in locked:
                raise MailboxGone()
            source, dest = locked[source_id], locked[target_id]
            rows = await conn.fetch(
                "SELECT uid, size, array_to_string(flags, ' ') FROM messages"
                f" WHERE mailbox_id = $1 AND {where} ORDER BY uid",
                source_id,
                *args,
            )
            if not rows:
                return CopyResult(uid_validity=dest["uid_validity"], source=[], destination=[])
            found = [row[0] for row in rows]
            count = len(found)
            size = sum(row[1] for row in rows)
            flag_sets = store._flag_sets
            sets = [flag_sets(row[2]) for row in rows]
            unseen = sum(1 for s in sets if _SEEN not in s)
            deleted = sum(1 for s in sets if _DELETED in s)
            keywords = sorted({flag for s in sets for flag in s if not flag.startswith("\\")})
            if dest["uid_next"] + count - 1 > _MAX_UID:
                raise CannotError("The mailbox has run out of UIDs")
            same_account = source["account_id"] == dest["account_id"]
            if not (move and same_account):
                charged = await conn.fetchval(
                    _CHARGE_BYTES, dest["account_id"], size, store.quota_bytes
                )
                if charged is None:
                    raise OverQuota()
                if move:
                    await conn.execute(_RELEASE_BYTES, source["account_id"], size)
            target_row = await conn.fetchrow(
                """
                UPDATE mailboxes SET uid_next = uid_next + $2, highest_modseq = highest_modseq + 1,
                    messages = messages + $2, unseen = unseen + $3, deleted = deleted + $4,
                    size = size + $5,
                    keywords = CASE WHEN $6::text[] <@ keywords THEN keywords
                                    ELSE ARRAY(SELECT DISTINCT unnest(keywords || $6::text[])) END
                WHERE id = $1
                RETURNING uid_next - $2 AS base, highest_modseq, uid_validity
                """,
                target_id,
                count,
                unseen,
                deleted,
                size,
                keywords,
            )
            base, modseq = target_row["base"], target_row["highest_modseq"]
            await conn.execute(
                """
                INSERT INTO messages (mailbox_id, uid, modseq, flags, internal_date, date_offset,
                                      size, parsed, body_id, blob_key)
                SELECT $1, $2 + u.ord - 1, $3, m.flags, m.internal_date, m.date_offset, m.size,
                       m.parsed, m.body_id, m.blob_key
                FROM unnest($5::bigint[]) WITH ORDINALITY AS u(uid, ord)
                JOIN messages m ON m.mailbox_id = $4 AND m.uid = u.uid
                """,
                target_id,
                base,
                modseq,
                source_id,
                found,
            )
            if not move:
                await conn.execute("SELECT pg_notify('imap_changes', $1::text)", str(target_id))
            else:
                await conn.execute(
                    "DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])",
                    source_id,
                    found,
                )
                await conn.execute(
                    _RECORD_EXPUNGE,
                    source_id,
                    modseq if source_id == target_id else source["highest_modseq"] + 1,
                    found,
                    count,
                    unseen,
                    deleted,
                    size,
                )
                if source_id != target_id:
                    await conn.execute("SELECT pg_notify('imap_changes', $1::text)", str(target_id))
        store._notify_all([target_id, source_id] if move else [target_id])
        return CopyResult(
            uid_validity=target_row["uid_validity"],
            source=found,
            destination=list(range(base, base + count)),
        )


def array_copy(uids: Any) -> Any:
    """A copy of an ``array('I')`` (a memcpy, not a walk over the UIDs)."""
    return uids[:]


async def _drop_orphans(conn: _Conn, rows: Sequence[Any]) -> list[str]:
    """Delete the bodies of removed messages no message refers to any more; return the
    orphaned blob keys (deleted from the blob store after the commit)."""
    body_ids = sorted({row["body_id"] for row in rows if row["body_id"] is not None})
    if body_ids:
        await conn.execute(_LOCK_BODIES, body_ids)
        await conn.execute(_DROP_ORPHAN_BODIES, body_ids)
    blob_keys = sorted({row["blob_key"] for row in rows if row["blob_key"] is not None})
    if not blob_keys:
        return []
    await conn.execute(_LOCK_BLOB_KEYS, blob_keys)
    return [row[0] for row in await conn.fetch(_ORPHAN_BLOBS, blob_keys)]


# -- users ------------------------------------------------------------------------------------


class PgUser(User):
    """One account's mailboxes."""

    def __init__(self, store: PgStore, account_id: int, name: str) -> None:
        self._store = store
        self._account_id = account_id
        self._name = name

    def __repr__(self) -> str:
        return f"<pg user {self._name!r}>"

    @property
    def name(self) -> str:
        return self._name

    async def _lock(self, conn: _Conn) -> dict[str, tuple[int, bool]]:
        """Lock the account row; return its names: name -> (id, noselect)."""
        found = await conn.fetchval(
            "SELECT id FROM accounts WHERE id = $1 FOR UPDATE", self._account_id
        )
        if found is None:
            raise StoreError("The account no longer exists")
        rows = await conn.fetch(
            "SELECT name, id, noselect FROM mailboxes WHERE account_id = $1", self._account_id
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    async def list_mailboxes(self) -> Sequence[MailboxInfo]:
        async with self._store._conn() as conn:
            rows = await conn.fetch(
                """
                SELECT m.name, m.noselect, m.special_use, s.name IS NOT NULL
                FROM mailboxes m
                LEFT JOIN subscriptions s ON s.account_id = m.account_id AND s.name = m.name
                WHERE m.account_id = $1
                """,
                self._account_id,
            )
        if not rows:
            raise StoreError("The account no longer exists")
        return [
            MailboxInfo(
                name=name,
                attributes=_NOSELECT if noselect else frozenset(uses),
                subscribed=subscribed,
            )
            for name, noselect, uses, subscribed in rows
        ]

    async def get_mailbox(self, name: str) -> Mailbox:
        try:
            canonical = canonical_name(name)
        except InvalidName:
            raise NoSuchMailbox() from None
        async with self._store._conn() as conn:
            mailbox_id = await conn.fetchval(
                "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2 AND NOT noselect",
                self._account_id,
                canonical,
            )
        if mailbox_id is None:
            raise NoSuchMailbox()
        return PgMailbox(self._store, self._store._ref(mailbox_id, canonical))

    async def _new(
        self, conn: _Conn, names: dict[str, tuple[int, bool]], name: str, **columns: Any
    ) -> int:
        """Insert a mailbox row (replacing a placeholder of that name)."""
        if name in names:
            await conn.execute("DELETE FROM mailboxes WHERE id = $1", names[name][0])
        mailbox_id: int = await conn.fetchval(
            "INSERT INTO mailboxes (account_id, name, special_use, uid_next, highest_modseq)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            self._account_id,
            name,
            sorted(columns.get("special_use", ())),
            columns.get("uid_next", 1),
            columns.get("highest_modseq", 1),
        )
        names[name] = (mailbox_id, False)
        return mailbox_id

    async def create_mailbox(self, name: str, *, special_use: frozenset[str] = frozenset()) -> None:
        if name.endswith("/"):
            name = name[:-1]
        canonical = canonical_name(name)
        uses = special_use_checked(special_use)
        created: list[int] = []
        async with self._store._txn() as conn:
            names = await self._lock(conn)
            if canonical in names and not names[canonical][1]:
                raise AlreadyExists()
            for superior in superiors(canonical):
                if superior not in names:
                    created.append(await self._new(conn, names, superior))
            created.append(await self._new(conn, names, canonical, special_use=uses))
        self._store._notify_all(created)

    async def delete_mailbox(self, name: str) -> None:
        try:
            canonical = canonical_name(name)
        except InvalidName:
            raise NoSuchMailbox() from None
        if canonical == _INBOX:
            raise CannotError("INBOX cannot be deleted")
        store = self._store
        orphans: list[str] = []
        deleted_id: int | None = None
        async with store._txn() as conn:
            names = await self._lock(conn)
            if canonical not in names:
                raise NoSuchMailbox()
            mailbox_id, noselect = names[canonical]
            has_inferiors = any(is_inferior(other, canonical) for other in names)
            if noselect:
                if has_inferiors:
                    raise CannotError("The name has inferior hierarchical names and is \\Noselect")
                await conn.execute("DELETE FROM mailboxes WHERE id = $1", mailbox_id)
            else:
                orphans = await store._destroy_mailbox(conn, mailbox_id)
                deleted_id = mailbox_id
                if has_inferiors:
                    await conn.execute(
                        "INSERT INTO mailboxes (account_id, name, noselect) VALUES ($1, $2, true)",
                        self._account_id,
                        canonical,
                    )
            del names[canonical]
            if has_inferiors:
                names[canonical] = (0, True)
            await self._prune_placeholders(conn, names, canonical)
        await store._blob_delete_quietly(orphans)
        if deleted_id is not None:
            store._cache.drop(deleted_id)
            store.notify_change(str(deleted_id))

    async def _prune_placeholders(
        self, conn: _Conn, names: dict[str, tuple[int, bool]], name: str
    ) -> None:
        """Drop the placeholders above ``name`` left without inferiors."""
        for superior in reversed(superiors(name)):
            entry = names.get(superior)
            if (
                entry is not None
                and entry[1]
                and not any(is_inferior(other, superior) for other in names)
            ):
                await conn.execute(
                    "DELETE FROM mailboxes WHERE account_id = $1 AND name = $2",
                    self._account_id,
                    superior,
                )
                del names[superior]
            else:
                break

    async def rename_mailbox(self, old: str, new: str) -> None:
        try:
            source = canonical_name(old)
        except InvalidName:
            raise NoSuchMailbox() from None
        target = canonical_name(new)
        store = self._store
        changed: list[int] = []
        renamed: dict[int, str] = {}
        async with store._txn() as conn:
            names = await self._lock(conn)
            if source not in names:
                raise NoSuchMailbox()
            if target in names:
                raise AlreadyExists()
            if source == _INBOX:
                changed = await self._rename_inbox(conn, names, target)
            else:
                if target == source or is_inferior(target, source):
                    raise CannotError("A mailbox cannot be renamed under itself")
                moving = [n for n in names if n == source or is_inferior(n, source)]
                new_names = {n: target + n[len(source) :] for n in moving}
                if any(n in names for n in new_names.values()):
                    raise AlreadyExists()
                for superior in superiors(target):
                    if superior not in names:
                        changed.append(await self._new(conn, names, superior))
                ids = [names[n][0] for n in moving]
                await conn.execute(
                    "UPDATE mailboxes m SET name = r.name"
                    " FROM unnest($1::bigint[], $2::text[]) AS r(id, name) WHERE m.id = r.id",
                    ids,
                    [new_names[n] for n in moving],
                )
                for n in moving:
                    mailbox_id, noselect = names.pop(n)
                    names[new_names[n]] = (mailbox_id, noselect)
                    if not noselect:
                        changed.append(mailbox_id)
                        renamed[mailbox_id] = new_names[n]
                await self._prune_placeholders(conn, names, source)
        for mailbox_id, name in renamed.items():
            store._rename_ref(mailbox_id, name)
        store._notify_all(changed)

    async def _rename_inbox(
        self, conn: _Conn, names: dict[str, tuple[int, bool]], target: str
    ) -> list[int]:
        """RENAME INBOX: its messages move (UIDs kept) into a new mailbox with a new
        UIDVALIDITY; INBOX stays, empty, with its id and UIDVALIDITY."""
        inbox_id = names[_INBOX][0]
        inbox = await conn.fetchrow(
            "SELECT uid_next, highest_modseq, messages, unseen, deleted, size, keywords"
            " FROM mailboxes WHERE id = $1 FOR UPDATE",
            inbox_id,
        )
        changed = [inbox_id]
        for superior in superiors(target):
            if superior not in names:
                changed.append(await self._new(conn, names, superior))
        has_messages = inbox["messages"] > 0
        moved_id = await self._new(
            conn,
            names,
            target,
            uid_next=inbox["uid_next"],
            highest_modseq=2 if has_messages else 1,
        )
        changed.append(moved_id)
        if has_messages:
            await conn.execute(
                "UPDATE mailboxes SET messages = $2, unseen = $3, deleted = $4, size = $5,"
                " keywords = $6 WHERE id = $1",
                moved_id,
                inbox["messages"],
                inbox["unseen"],
                inbox["deleted"],
                inbox["size"],
                inbox["keywords"],
            )
            uids = await conn.fetch(
                "UPDATE messages SET mailbox_id = $2, modseq = 2"
                " WHERE mailbox_id = $1 RETURNING uid",
                inbox_id,
                moved_id,
            )
            await conn.execute(
                _RECORD_EXPUNGE,
                inbox_id,
                inbox["highest_modseq"] + 1,
                sorted(row[0] for row in uids),
                inbox["messages"],
                inbox["unseen"],
                inbox["deleted"],
                inbox["size"],
            )
        return changed

    async def subscribe(self, name: str) -> None:
        canonical = canonical_name(name)
        async with self._store._conn() as conn:
            await conn.execute(
                "INSERT INTO subscriptions (account_id, name) SELECT id, $2 FROM accounts"
                " WHERE id = $1 ON CONFLICT DO NOTHING",
                self._account_id,
                canonical,
            )

    async def unsubscribe(self, name: str) -> None:
        try:
            canonical = canonical_name(name)
        except InvalidName:
            raise NoSuchMailbox("The name is not subscribed") from None
        async with self._store._conn() as conn:
            done = await conn.fetchval(
                "DELETE FROM subscriptions WHERE account_id = $1 AND name = $2 RETURNING 1",
                self._account_id,
                canonical,
            )
        if done is None:
            raise NoSuchMailbox("The name is not subscribed")

    async def subscriptions(self) -> frozenset[str]:
        async with self._store._conn() as conn:
            rows = await conn.fetch(
                "SELECT name FROM subscriptions WHERE account_id = $1", self._account_id
            )
        return frozenset(row[0] for row in rows)


def special_use_checked(attributes: frozenset[str]) -> frozenset[str]:
    """`imap_server.names.special_use` (a name of its own: the keyword argument shadows it)."""
    return special_use(attributes)
