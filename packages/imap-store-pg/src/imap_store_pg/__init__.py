"""A PostgreSQL store for imap-server: many server processes on one database, crash-safe.

    store = PgStore("postgresql://mail@db/mail")
    await store.upgrade()          # or: imap-server db upgrade --store URL
    await store.start()

or, through imap-server's store URLs, ``imap-server serve --store postgresql://mail@db/mail``
(options in the query: ``pool_max``, ``quota_bytes``, ``max_message_size``, ``blobs=<url>``).

Modules: `imap_store_pg.store` (the store, accounts, authentication), `imap_store_pg.mailbox`
(users and mailboxes in SQL), `imap_store_pg.schema` (migrations), `imap_store_pg.notify`
(LISTEN/NOTIFY between processes), `imap_store_pg.cache` (the per-process mailbox cache),
`imap_store_pg.blobs` (where message octets live), `imap_store_pg.testing` (a throwaway
PostgreSQL server for tests).
"""

from __future__ import annotations

from .blobs import BLOB_STORE_GROUP, BlobStore, open_blob_store
from .schema import MIGRATIONS, SCHEMA_VERSION
from .store import PgStore, open_pg_store

__all__ = [
    "BLOB_STORE_GROUP",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "BlobStore",
    "PgStore",
    "open_blob_store",
    "open_pg_store",
]
