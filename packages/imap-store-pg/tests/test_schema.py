"""Schema creation and migration: `PgStore.upgrade`, `PgStore.schema_version`, and `start`
refusing a database whose schema is not the one the code needs."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from imap_server.store import StoreUnavailable
from imap_store_pg import SCHEMA_VERSION, PgStore, schema
from imap_store_pg.testing import fresh_database

pytestmark = pytest.mark.anyio


async def test_fresh_database_upgrades_to_current(pg_dsn: str) -> None:
    url = await fresh_database(pg_dsn)
    store = PgStore(url)
    assert await store.schema_version() == 0
    applied = await store.upgrade()
    assert list(applied) == [version for version, _ in schema.MIGRATIONS]
    assert await store.schema_version() == SCHEMA_VERSION
    assert list(await store.upgrade()) == []
    await store.start()
    await store.aclose()


async def test_start_refuses_unupgraded_database(pg_dsn: str) -> None:
    url = await fresh_database(pg_dsn)
    store = PgStore(url)
    with pytest.raises(StoreUnavailable) as caught:
        await store.start()
    message = str(caught.value)
    assert f"database schema at version 0, code needs {SCHEMA_VERSION}" in message
    assert "imap-server db upgrade --store URL" in message
    await store.aclose()


async def test_older_version_upgrades(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database at the previous version gets the missing migration only."""
    current = SCHEMA_VERSION
    newer = current + 1
    migration = (newer, "CREATE TABLE upgrade_probe (x integer)")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, migration))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", newer)
    store = PgStore(pg_url)
    with pytest.raises(StoreUnavailable, match=f"at version {current}, code needs {newer}"):
        await store.start()
    assert list(await store.upgrade()) == [newer]
    assert await store.schema_version() == newer
    await store.start()
    await store.aclose()


async def test_newer_database_refused(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", SCHEMA_VERSION + 1)
    finally:
        await conn.close()
    store = PgStore(pg_url)
    with pytest.raises(StoreUnavailable, match="newer than this code"):
        await store.start()


async def test_concurrent_upgrades_apply_once(pg_dsn: str) -> None:
    url = await fresh_database(pg_dsn)
    results: list[list[int]] = []

    async def upgrade() -> None:
        results.append(list(await PgStore(url).upgrade()))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(upgrade)
    assert sorted(results, key=len) == [[], [], [], [version for version, _ in schema.MIGRATIONS]]
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version FROM schema_version ORDER BY version")
    finally:
        await conn.close()
    assert [row[0] for row in rows] == [version for version, _ in schema.MIGRATIONS]
