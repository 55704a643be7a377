"""Fixtures of the imap-store-s3 tests: an S3 endpoint for the session (moto, or
``IMAP_TEST_S3_ENDPOINT``) and a fresh bucket per test.

Without moto (and no endpoint given) the tests are skipped, except in CI (``CI`` set), where
that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from imap_store_s3.testing import S3Unavailable, fresh_bucket, s3_endpoint


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    """The URL of an S3 endpoint for the whole session."""
    try:
        server = s3_endpoint()
        endpoint = server.__enter__()
    except S3Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"an S3 endpoint is required in CI: {exc}")
        pytest.skip(f"no S3 endpoint: {exc}")
    try:
        yield endpoint
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def s3_url(s3_endpoint_url: str) -> str:
    """The store URL of a fresh, empty bucket."""
    bucket = fresh_bucket(s3_endpoint_url)
    return f"s3://{bucket}/mail?endpoint={s3_endpoint_url}&addressing_style=path"
