"""The store conformance suite (`imap_server.testing.StoreConformance`) against `S3Store`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar, cast

import pytest

from imap_server.store import Backend
from imap_server.testing.conformance import StoreConformance
from imap_store_s3 import S3Store, parse_s3_url


class FastS3Store(S3Store):
    """Cheap password hashes: the suite creates accounts in most tests."""

    scrypt_n: ClassVar[int] = 2**4
    scram_iterations: ClassVar[int] = 64


class TestS3Store(StoreConformance):
    #: Lowered from 5,000: every APPEND is two requests to moto (a few ms each).
    large_mailbox_size: ClassVar[int] = 1_000

    @pytest.fixture
    async def backend(self, s3_url: str) -> AsyncIterator[Backend]:
        config, _ = parse_s3_url(s3_url)
        store = FastS3Store(config)
        await store.start()
        try:
            yield store
        finally:
            await store.aclose()

    async def make_user(self, backend: Backend, name: str, password: str) -> None:
        await cast(S3Store, backend).create_account(name, password)
