"""`PgStore`: the whole store (accounts, authentication, pool, listener, schema).

One `PgStore` per server process; any number of processes may share one database. The store
holds an asyncpg pool for the calls of the mailbox and user handles (`imap_store_pg.mailbox`),
one extra connection listening for other processes' changes (`imap_store_pg.notify`), and the
per-process mailbox cache (`imap_store_pg.cache`).
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, ClassVar

import anyio.to_thread
import asyncpg

from imap_server.accounts import (
    AccountAdmin,
    AccountExists,
    GarbageCollector,
    GarbageReport,
    NoSuchAccount,
    PasswordHash,
    SchemaAdmin,
    check_login,
    decode_scram,
    encode_scram,
    scram_keys,
)
from imap_server.auth import ScramAuthenticator
from imap_server.message import ParsedMessage
from imap_server.spool import SpooledMessage
from imap_server.store import (
    Backend,
    PasswordAuthenticator,
    StoreError,
    StoreUnavailable,
    User,
)
from imap_wire.sasl import ScramCredentials

from . import schema
from ._errors import translated
from .blobs import BlobInfo, BlobStore, open_blob_store
from .cache import FlagSets, MailboxCache
from .mailbox import _LOCK_BLOB_KEYS, _LOCK_BODIES, MailboxRef, PgUser, _drop_orphans
from .notify import ChangeListenerConnection

__all__ = ["PgStore", "open_pg_store"]

_log = logging.getLogger("imap_store_pg")
_Conn = Any  # an asyncpg connection
_SCRAM_COLUMNS = {"sha1": "scram_sha1", "sha256": "scram_sha256"}
_URL_OPTIONS = (
    "pool_min",
    "pool_max",
    "quota_bytes",
    "max_message_size",
    "blobs",
    "cache_mailboxes",
)


class _ParsedCache:
    """Decoded `ParsedMessage` by (mailbox id, UID): the message at that address never
    changes, so FETCH of ENVELOPE / BODYSTRUCTURE decodes each one once. LRU-bounded."""

    def __init__(self, size: int = 20_000) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, int], ParsedMessage] = OrderedDict()

    def get(self, key: tuple[int, int]) -> ParsedMessage | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: tuple[int, int], parsed: ParsedMessage) -> None:
        self._entries[key] = parsed
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


#: Blob keys garbage collection checks per query.
_GC_BATCH = 1000
#: Bodies rows no message refers to (`PgStore.collect_garbage`).
_UNREFERENCED_BODIES = """
SELECT b.id, octet_length(b.data) FROM bodies b
WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = b.id) ORDER BY b.id
"""
#: Of bodies ``$1`` (locked), delete those still unreferenced; return their sizes.
_DELETE_UNREFERENCED_BODIES = """
DELETE FROM bodies b WHERE b.id = ANY($1::bigint[])
AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = b.id)
RETURNING octet_length(b.data)
"""
#: Of blob keys ``$1`` (locked), those some message refers to.
_REFERENCED_BLOBS = """
SELECT DISTINCT m.blob_key FROM messages m WHERE m.blob_key = ANY($1::text[])
"""


class PgStore(
    Backend,
    PasswordAuthenticator,
    ScramAuthenticator,
    AccountAdmin,
    SchemaAdmin,
    GarbageCollector,
):
    """A store in PostgreSQL, shared by any number of server processes.

    Args:
        dsn: A libpq-style URL (``postgresql://user:password@host:port/database``).
        pool_min: Connections the pool keeps open (default: 2, or ``pool_max`` if lower).
        pool_max: Connections the pool opens at most (and its LISTEN connection besides).
        quota_bytes: Most octets of messages one account may keep; None: no quota.
        max_message_size: Largest message accepted, in octets; None: no limit.
        blobs: Where message octets go; None: the ``bodies`` table.
        cache_mailboxes: Keep the per-process mailbox cache (SELECT of large mailboxes).
    """

    #: scrypt cost of new password hashes (tests lower it).
    scrypt_n: ClassVar[int] = 2**14
    #: PBKDF2 iterations of new SCRAM keys.
    scram_iterations: ClassVar[int] = 4096

    def __init__(
        self,
        dsn: str,
        *,
        pool_min: int | None = None,
        pool_max: int = 20,
        quota_bytes: int | None = None,
        max_message_size: int | None = None,
        blobs: BlobStore | None = None,
        cache_mailboxes: bool = True,
    ) -> None:
        super().__init__()
        self.dsn = dsn
        if pool_min is None:
            pool_min = min(2, pool_max)
        if pool_max < 1 or not 0 <= pool_min <= pool_max:
            raise ValueError("need 0 <= pool_min <= pool_max and pool_max >= 1")
        self.pool_min = pool_min
        self.pool_max = pool_max
        self.quota_bytes = quota_bytes
        self.max_message_size = max_message_size
        self.cache_mailboxes = cache_mailboxes
        self._blobs = blobs
        self._pool: Any = None
        self._listener: ChangeListenerConnection | None = None
        self._cache = MailboxCache()
        self._flag_sets = FlagSets()
        self._parsed = _ParsedCache()
        self._refs: weakref.WeakValueDictionary[int, MailboxRef] = weakref.WeakValueDictionary()

    def __repr__(self) -> str:
        from imap_server.stores import redact_url

        return f"<PgStore {redact_url(self.dsn)}>"

    @property
    def blobs(self) -> BlobStore | None:
        return self._blobs

    # -- lifecycle

    async def start(self) -> None:
        """Connect the pool and the LISTEN connection.

        Raises:
            StoreUnavailable: The database is unreachable, or its schema is not the one this
                code needs (the message says how to upgrade it).
        """
        if self._pool is not None:
            return
        with translated():
            version = await self.schema_version()
            if version != schema.SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"database schema at version {version}, code needs {schema.SCHEMA_VERSION}: "
                    "run `imap-server db upgrade --store URL`"
                    if version < schema.SCHEMA_VERSION
                    else f"database schema at version {version} is newer than this code "
                    f"({schema.SCHEMA_VERSION}): upgrade imap-store-pg"
                )
            pool = await asyncpg.create_pool(
                self.dsn, min_size=self.pool_min, max_size=self.pool_max, reset=_keep_session
            )
            listener = ChangeListenerConnection(self.dsn, self.notify_change, self._open_ids)
            try:
                await listener.start()
            except BaseException:
                await pool.close()
                raise
        self._pool = pool
        self._listener = listener

    def _open_ids(self) -> list[int]:
        return sorted(set(self._cache.ids()) | set(self._refs.keys()))

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        pool, self._pool = self._pool, None
        if listener is not None:
            await listener.aclose()
        if pool is not None:
            with contextlib.suppress(Exception):
                await pool.close()
        if self._blobs is not None:
            with contextlib.suppress(Exception):
                await self._blobs.aclose()
        self._cache.clear()

    # -- schema (usable without start())

    @contextlib.asynccontextmanager
    async def _own_connection(self) -> AsyncIterator[_Conn]:
        with translated():
            conn = await asyncpg.connect(self.dsn)
            try:
                yield conn
            finally:
                await conn.close()

    async def schema_version(self) -> int:
        async with self._own_connection() as conn:
            return await schema.current_version(conn)

    async def upgrade(self) -> Sequence[int]:
        async with self._own_connection() as conn:
            return await schema.apply_migrations(conn)

    # -- connections (for the handles)

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[_Conn]:
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the store is not started")
        with translated():
            async with pool.acquire() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _txn(self) -> AsyncIterator[_Conn]:
        async with self._conn() as conn, conn.transaction():
            yield conn

    def _ref(self, mailbox_id: int, name: str) -> MailboxRef:
        ref = self._refs.get(mailbox_id)
        if ref is None:
            ref = self._refs[mailbox_id] = MailboxRef(mailbox_id, name)
        else:
            ref.name = name
        return ref

    def _rename_ref(self, mailbox_id: int, name: str) -> None:
        ref = self._refs.get(mailbox_id)
        if ref is not None:
            ref.name = name

    def _notify_all(self, ids: Iterable[int | str]) -> None:
        for mailbox_id in dict.fromkeys(str(i) for i in ids):
            self.notify_change(mailbox_id)

    async def _destroy_mailbox(self, conn: _Conn, mailbox_id: int) -> list[str]:
        """Delete a mailbox row with its messages and the bodies only they used, releasing
        the bytes from the quota; return the blob keys to delete after commit."""
        rows = await conn.fetch(
            "SELECT body_id, blob_key FROM messages WHERE mailbox_id = $1", mailbox_id
        )
        gone = await conn.fetchrow(
            "DELETE FROM mailboxes WHERE id = $1 RETURNING account_id, size", mailbox_id
        )
        if gone is None:
            return []
        await conn.execute(
            "UPDATE accounts SET used_bytes = used_bytes - $2 WHERE id = $1",
            gone["account_id"],
            gone["size"],
        )
        await conn.execute("SELECT pg_notify('imap_changes', $1::text)", str(mailbox_id))
        return await _drop_orphans(conn, rows) if rows else []

    # -- blobs

    async def _blob_put(self, key: str, data: bytes | SpooledMessage) -> None:
        assert self._blobs is not None
        try:
            await self._blobs.put_message(key, data)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"blob store failed: {type(exc).__name__}") from None

    def _blob_store(self) -> BlobStore:
        if self._blobs is None:
            # Stored through a blob store by a process configured with one; this one is not.
            raise StoreUnavailable(
                "this message's body is in a blob store: give every server the same blobs= option"
            )
        return self._blobs

    async def _blob_get(self, key: str, start: int, end: int) -> bytes:
        blobs = self._blob_store()
        try:
            return await blobs.get(key, start, end)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"blob store failed: {type(exc).__name__}") from None

    async def _blob_stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        blobs = self._blob_store()
        try:
            async for chunk in blobs.stream(key, start, end):
                yield chunk
        except StoreError:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"blob store failed: {type(exc).__name__}") from None

    async def _blob_delete_quietly(self, keys: Sequence[str]) -> None:
        """Delete blobs nothing refers to any more; a failure only leaves garbage behind
        (logged), it must not fail the operation that already committed."""
        if not keys or self._blobs is None:
            return
        try:
            await self._blobs.delete(list(keys))
        except Exception:
            _log.exception("could not delete %d blobs", len(keys))

    # -- garbage collection

    async def collect_garbage(
        self, *, older_than: float = 3600.0, dry_run: bool = False
    ) -> GarbageReport:
        """Remove bodies no message refers to: rows of ``bodies`` (written in the message's
        own transaction, so any age is safe), and blobs of the blob store last modified more
        than ``older_than`` seconds ago (a younger one may belong to an APPEND whose metadata
        transaction has not committed yet; one of unknown age counts as young unless
        ``older_than`` is 0).

        Each candidate is checked again under the lock an expunge takes on it (a row lock on
        the body, an advisory lock on the blob key) in a statement of its own, so a COPY that
        committed meanwhile keeps it. Blobs are deleted from the blob store after that check;
        a failure there leaves them for the next run (StoreUnavailable).
        """
        if older_than < 0:
            raise ValueError("older_than must not be negative")
        examined = removed = removed_bytes = too_young = 0
        # Rows of the bodies table.
        async with self._conn() as conn:
            examined += int(await conn.fetchval("SELECT count(*) FROM bodies"))
            candidates = await conn.fetch(_UNREFERENCED_BODIES)
        for i in range(0, len(candidates), _GC_BATCH):
            rows = candidates[i : i + _GC_BATCH]
            if dry_run:
                removed += len(rows)
                removed_bytes += sum(int(row[1]) for row in rows)
                continue
            async with self._txn() as conn:
                ids = [int(row[0]) for row in rows]
                await conn.execute(_LOCK_BODIES, ids)
                sizes = await conn.fetch(_DELETE_UNREFERENCED_BODIES, ids)
            removed += len(sizes)
            removed_bytes += sum(int(row[0]) for row in sizes)
        # Objects of the blob store.
        if self._blobs is not None:
            cutoff = time.time() - older_than
            batch: list[BlobInfo] = []
            try:
                async for info in self._blobs.entries():
                    examined += 1
                    batch.append(info)
                    if len(batch) >= _GC_BATCH:
                        report = await self._collect_blobs(batch, cutoff, older_than, dry_run)
                        removed, removed_bytes, too_young = (
                            removed + report[0],
                            removed_bytes + report[1],
                            too_young + report[2],
                        )
                        batch = []
                if batch:
                    report = await self._collect_blobs(batch, cutoff, older_than, dry_run)
                    removed, removed_bytes, too_young = (
                        removed + report[0],
                        removed_bytes + report[1],
                        too_young + report[2],
                    )
            except StoreError:
                raise
            except Exception as exc:
                raise StoreUnavailable(f"blob store failed: {type(exc).__name__}") from None
        return GarbageReport(
            examined=examined, removed=removed, removed_bytes=removed_bytes, too_young=too_young
        )

    async def _collect_blobs(
        self, infos: Sequence[BlobInfo], cutoff: float, older_than: float, dry_run: bool
    ) -> tuple[int, int, int]:
        """Remove the unreferenced blobs among ``infos`` last modified before ``cutoff``:
        (removed, their octets, unreferenced but too young)."""
        assert self._blobs is not None
        async with self._conn() as conn:
            referenced = {
                row[0] for row in await conn.fetch(_REFERENCED_BLOBS, [i.key for i in infos])
            }
        old: dict[str, BlobInfo] = {}
        young = 0
        for info in infos:
            if info.key in referenced:
                continue
            if older_than == 0 or (info.last_modified is not None and info.last_modified < cutoff):
                old[info.key] = info
            else:
                young += 1
        if not old:
            return 0, 0, young
        keys = sorted(old)
        if not dry_run:
            async with self._txn() as conn:
                # The lock an expunge takes on the keys of the messages it removes, and a
                # fresh statement: a COPY that committed meanwhile keeps its blob.
                await conn.execute(_LOCK_BLOB_KEYS, keys)
                still = {row[0] for row in await conn.fetch(_REFERENCED_BLOBS, keys)}
            keys = [k for k in keys if k not in still]
            if keys:
                await self._blobs.delete(keys)
        return len(keys), sum(old[k].size or 0 for k in keys), young

    # -- users and authentication

    async def open_user(self, username: str) -> User:
        async with self._conn() as conn:
            account_id = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", username)
        if account_id is None:
            raise StoreError("No such user")
        return PgUser(self, account_id, username)

    async def check_password(
        self, username: str, password: str, *, authzid: str | None = None
    ) -> str | None:
        """Return ``username`` if the password is right and ``authzid`` is None, empty or the
        user's own name; else None. An unknown user is checked against a decoy hash, so the
        time taken does not tell whether the user exists."""
        async with self._conn() as conn:
            encoded = await conn.fetchval("SELECT password FROM accounts WHERE name = $1", username)
        record: PasswordHash | None = None
        if encoded is not None:
            try:
                record = PasswordHash.decode(encoded)
            except ValueError:
                _log.error("account %r has an unreadable password hash", username)
        return await check_login(username, password, record, authzid=authzid, n=self.scrypt_n)

    async def scram_credentials(self, username: str, hash_name: str) -> ScramCredentials | None:
        column = _SCRAM_COLUMNS.get(hash_name)
        if column is None:
            return None
        async with self._conn() as conn:
            encoded = await conn.fetchval(
                f"SELECT {column} FROM accounts WHERE name = $1", username
            )
        if encoded is None:
            return None
        try:
            return decode_scram(encoded)
        except ValueError:
            _log.error("account %r has unreadable SCRAM credentials", username)
            return None

    # -- account administration

    def _credentials(self, password: str) -> tuple[str, str | None, str | None]:
        hashed = PasswordHash.create(password, n=self.scrypt_n).encode()
        keys = scram_keys(password, iterations=self.scram_iterations)
        sha1, sha256 = keys.get("sha1"), keys.get("sha256")
        return (
            hashed,
            encode_scram(sha1) if sha1 is not None else None,
            encode_scram(sha256) if sha256 is not None else None,
        )

    async def create_account(self, name: str, password: str) -> None:
        if not name:
            raise ValueError("the user name is empty")
        hashed, sha1, sha256 = await anyio.to_thread.run_sync(self._credentials, password)
        async with self._txn() as conn:
            account_id = await conn.fetchval(
                "INSERT INTO accounts (name, password, scram_sha1, scram_sha256)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING id",
                name,
                hashed,
                sha1,
                sha256,
            )
            if account_id is None:
                raise AccountExists(f"user {name!r} already exists")
            await conn.execute(
                "INSERT INTO mailboxes (account_id, name) VALUES ($1, 'INBOX')", account_id
            )

    async def change_password(self, name: str, password: str) -> None:
        hashed, sha1, sha256 = await anyio.to_thread.run_sync(self._credentials, password)
        async with self._conn() as conn:
            done = await conn.fetchval(
                "UPDATE accounts SET password = $2, scram_sha1 = $3, scram_sha256 = $4"
                " WHERE name = $1 RETURNING id",
                name,
                hashed,
                sha1,
                sha256,
            )
        if done is None:
            raise NoSuchAccount(f"no user {name!r}")

    async def delete_account(self, name: str) -> None:
        orphans: list[str] = []
        async with self._txn() as conn:
            account_id = await conn.fetchval(
                "SELECT id FROM accounts WHERE name = $1 FOR UPDATE", name
            )
            if account_id is None:
                raise NoSuchAccount(f"no user {name!r}")
            ids = [
                row[0]
                for row in await conn.fetch(
                    "SELECT id FROM mailboxes WHERE account_id = $1 AND NOT noselect", account_id
                )
            ]
            for mailbox_id in ids:
                orphans.extend(await self._destroy_mailbox(conn, mailbox_id))
            await conn.execute("DELETE FROM accounts WHERE id = $1", account_id)
        await self._blob_delete_quietly(orphans)
        for mailbox_id in ids:
            self._cache.drop(mailbox_id)
        self._notify_all(ids)

    async def account_names(self) -> Sequence[str]:
        async with self._conn() as conn:
            rows = await conn.fetch("SELECT name FROM accounts ORDER BY name")
        return [row[0] for row in rows]


async def _keep_session(conn: _Conn) -> None:
    """The pool's reset on release: nothing. asyncpg's default (``RESET ALL; UNLISTEN *;
    ...``) costs a round trip per call, and the store leaves no session state behind: no
    settings, no LISTEN on pool connections, only transaction-level advisory locks. An open
    transaction is still rolled back by asyncpg itself before this is called."""


def open_pg_store(url: str) -> PgStore:
    """Open the store a ``postgresql://`` (or ``postgres://``) URL names; not started yet.

    Query options the store takes (and strips before connecting; others go to asyncpg):
    ``pool_min``, ``pool_max``, ``quota_bytes``, ``max_message_size`` (integers),
    ``cache_mailboxes`` (``true``/``false``), and ``blobs=<url>`` (a `BlobStore` found through
    the ``imap_store_pg.blob_stores`` entry points).

    Raises:
        ValueError: Not a PostgreSQL URL, or a bad option value.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://")
    options: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key in _URL_OPTIONS:
            if key in options:
                raise ValueError(f"store URL option {key!r} given twice")
            options[key] = value
        else:
            rest.append((key, value))
    dsn = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(rest)))

    def integer(key: str, *, minimum: int) -> int | None:
        if key not in options:
            return None
        try:
            value = int(options[key])
        except ValueError:
            raise ValueError(f"store URL option {key}={options[key]!r}: not an integer") from None
        if value < minimum:
            raise ValueError(f"store URL option {key}={value}: must be at least {minimum}")
        return value

    kwargs: dict[str, Any] = {}
    for key, minimum in (
        ("pool_min", 0),
        ("pool_max", 1),
        ("quota_bytes", 0),
        ("max_message_size", 1),
    ):
        number = integer(key, minimum=minimum)
        if number is not None:
            kwargs[key] = number
    if "cache_mailboxes" in options:
        flag = options["cache_mailboxes"].lower()
        if flag not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise ValueError(f"store URL option cache_mailboxes={flag!r}: not a boolean")
        kwargs["cache_mailboxes"] = flag in ("true", "1", "yes", "on")
    if "blobs" in options:
        kwargs["blobs"] = open_blob_store(options["blobs"])
    return PgStore(dsn, **kwargs)
