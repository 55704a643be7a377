"""Fixtures of the imap-store-pg tests: a throwaway PostgreSQL server for the session, and a
fresh, upgraded database per test.

``pg_dsn`` (session): the server's DSN (`imap_store_pg.testing.postgres_server`, or
``IMAP_TEST_PG_DSN``). Without PostgreSQL the package's tests are skipped, except in CI (``CI``
set), where that is a failure. ``pg_url`` (function): the DSN of an empty database with the
current schema.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from imap_store_pg import PgStore
from imap_store_pg.testing import PostgresUnavailable, fresh_database, postgres_server


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: asyncpg supports nothing else."""
    return "asyncio"


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """The DSN of a PostgreSQL server for the whole session."""
    try:
        server = postgres_server()
        dsn = server.__enter__()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"no PostgreSQL: {exc}")
    try:
        yield dsn
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
async def pg_url(pg_dsn: str) -> str:
    """The DSN of a fresh database with the current schema."""
    url = await fresh_database(pg_dsn)
    await PgStore(url).upgrade()
    return url
