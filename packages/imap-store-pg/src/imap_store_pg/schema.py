"""The database schema, as numbered migrations.

`MIGRATIONS` is a list of ``(version, SQL)``, applied in order by `upgrade`, each in its own
transaction together with the update of ``schema_version``. Every upgrade takes a
transaction-level advisory lock first, so that several processes upgrading at once
serialize: the first applies what is missing, the others then find nothing to do.

Design notes (version 1):

- ``mailboxes`` holds both selectable mailboxes and ``\\Noselect`` placeholders (``noselect``).
  A mailbox row is never reused: DELETE removes it (and inserts a placeholder row when it has
  inferiors), CREATE over a placeholder replaces the placeholder with a new row, so ids from
  ``bigserial`` are never seen twice, and UIDVALIDITY comes from a sequence started from the
  clock at schema creation.
- Every change to a mailbox's messages first updates (or locks) its ``mailboxes`` row, which
  allocates the UIDs and MODSEQ: the row lock serializes writers across processes, so
  MODSEQs commit in order and readers can catch up with "rows whose modseq > what I have".
- The STATUS counters live on the mailbox row and are kept exact in the same transactions.
- Bodies are in ``bodies`` (or an external blob store, ``blob_key``), shared by COPY: a body
  goes when no message refers to it any more (checked in the expunging transaction).
- ``imap_append`` does APPEND in one round trip (quota, UID, MODSEQ, body, NOTIFY).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_Conn = Any  # an asyncpg.Connection (asyncpg ships no type information)

__all__ = ["ADVISORY_LOCK_KEY", "MIGRATIONS", "SCHEMA_VERSION"]

#: The advisory lock upgrades take (an arbitrary constant: "IMAPSTOR").
ADVISORY_LOCK_KEY = 0x494D415053544F52

_V1 = r"""
CREATE SEQUENCE uid_validity_seq MINVALUE 1 MAXVALUE 4294967295 CYCLE;
SELECT setval('uid_validity_seq', LEAST(GREATEST(extract(epoch FROM now())::bigint, 1),
                                        2147483647));

CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    password text NOT NULL,
    scram_sha1 text,
    scram_sha256 text,
    used_bytes bigint NOT NULL DEFAULT 0
);

CREATE TABLE mailboxes (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name text NOT NULL,
    noselect boolean NOT NULL DEFAULT false,
    special_use text[] NOT NULL DEFAULT '{}',
    uid_validity bigint NOT NULL DEFAULT nextval('uid_validity_seq'),
    uid_next bigint NOT NULL DEFAULT 1,
    highest_modseq bigint NOT NULL DEFAULT 1,
    messages bigint NOT NULL DEFAULT 0,
    unseen bigint NOT NULL DEFAULT 0,
    deleted bigint NOT NULL DEFAULT 0,
    size bigint NOT NULL DEFAULT 0,
    keywords text[] NOT NULL DEFAULT '{}',
    UNIQUE (account_id, name)
);

CREATE TABLE bodies (
    id bigserial PRIMARY KEY,
    data bytea NOT NULL
);
ALTER TABLE bodies ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE messages (
    mailbox_id bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    flags text[] NOT NULL,
    internal_date timestamptz NOT NULL,
    date_offset integer NOT NULL,
    size bigint NOT NULL,
    parsed bytea NOT NULL,
    body_id bigint,
    blob_key text,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);
CREATE INDEX messages_body ON messages (body_id) WHERE body_id IS NOT NULL;
CREATE INDEX messages_blob ON messages (blob_key) WHERE blob_key IS NOT NULL;

CREATE TABLE expunged (
    mailbox_id bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);

CREATE TABLE subscriptions (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name text NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- APPEND in one round trip. Raises IM001 (mailbox gone), IM002 (over quota), IM003 (out of
-- UIDs). Returns the UID, MODSEQ and UIDVALIDITY.
CREATE FUNCTION imap_append(
    p_mailbox bigint, p_flags text[], p_keywords text[], p_date timestamptz,
    p_offset integer, p_size bigint, p_parsed bytea, p_data bytea, p_blob_key text,
    p_quota bigint, OUT uid bigint, OUT modseq bigint, OUT uid_validity bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_account bigint;
    v_body bigint;
BEGIN
    UPDATE mailboxes m SET
        uid_next = m.uid_next + 1,
        highest_modseq = m.highest_modseq + 1,
        messages = m.messages + 1,
        unseen = m.unseen + (CASE WHEN '\Seen' = ANY (p_flags) THEN 0 ELSE 1 END),
        deleted = m.deleted + (CASE WHEN '\Deleted' = ANY (p_flags) THEN 1 ELSE 0 END),
        size = m.size + p_size,
        keywords = CASE WHEN p_keywords <@ m.keywords THEN m.keywords
                        ELSE ARRAY(SELECT DISTINCT unnest(m.keywords || p_keywords)) END
    WHERE m.id = p_mailbox AND NOT m.noselect
    RETURNING m.uid_next - 1, m.highest_modseq, m.uid_validity, m.account_id
    INTO uid, modseq, uid_validity, v_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mailbox % is gone', p_mailbox USING ERRCODE = 'IM001';
    END IF;
    IF uid > 4294967295 THEN
        RAISE EXCEPTION 'mailbox % has run out of UIDs', p_mailbox USING ERRCODE = 'IM003';
    END IF;
    UPDATE accounts a SET used_bytes = a.used_bytes + p_size
    WHERE a.id = v_account AND (p_quota IS NULL OR a.used_bytes + p_size <= p_quota);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'over quota' USING ERRCODE = 'IM002';
    END IF;
    IF p_blob_key IS NULL THEN
        INSERT INTO bodies (data) VALUES (p_data) RETURNING id INTO v_body;
    END IF;
    INSERT INTO messages (mailbox_id, uid, modseq, flags, internal_date, date_offset, size,
                          parsed, body_id, blob_key)
    VALUES (p_mailbox, uid, modseq, p_flags, p_date, p_offset, p_size, p_parsed, v_body,
            p_blob_key);
    PERFORM pg_notify('imap_changes', p_mailbox::text);
END;
$$;
"""

#: Every migration, in order. Never edit one that shipped: add the next.
MIGRATIONS: Sequence[tuple[int, str]] = ((1, _V1),)
#: The version this code needs.
SCHEMA_VERSION = MIGRATIONS[-1][0]

CREATE_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
)


async def current_version(conn: object) -> int:
    """The version the database is at (0: nothing created yet). ``conn``: an asyncpg
    connection."""
    c: _Conn = conn
    if await c.fetchval("SELECT to_regclass('schema_version') IS NOT NULL") is not True:
        return 0
    return int(await c.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def apply_migrations(conn: object) -> list[int]:
    """Apply the migrations the database lacks, each in its own transaction under the
    advisory lock; return the versions applied."""
    c: _Conn = conn
    applied: list[int] = []
    for version, sql in MIGRATIONS:
        async with c.transaction():
            await c.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_KEY)
            await c.execute(CREATE_VERSION_TABLE)
            current = int(await c.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))
            if current >= version:
                continue
            await c.execute(sql)
            await c.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            applied.append(version)
    return applied
