"""The store conformance suite (`imap_server.testing.StoreConformance`) against `PgStore`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar, cast

import pytest

from imap_server.store import Backend
from imap_server.testing.conformance import StoreConformance
from imap_store_pg import PgStore


class FastPgStore(PgStore):
    """Cheap password hashes: the suite creates accounts in most tests."""

    scrypt_n: ClassVar[int] = 2**4
    scram_iterations: ClassVar[int] = 64


class TestPgStore(StoreConformance):
    @pytest.fixture
    async def backend(self, pg_url: str) -> AsyncIterator[Backend]:
        store = FastPgStore(pg_url, pool_min=1, pool_max=10)
        await store.start()
        try:
            yield store
        finally:
            await store.aclose()

    async def make_user(self, backend: Backend, name: str, password: str) -> None:
        await cast(PgStore, backend).create_account(name, password)
