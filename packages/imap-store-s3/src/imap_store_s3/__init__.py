"""An S3 store for imap-server: standalone (`S3Store`, ``s3://bucket/prefix?endpoint=...``),
or as the body store under imap-store-pg (`open_s3_blob_store`)."""

from __future__ import annotations

from typing import Any

from ._client import NotFound, PreconditionFailed, S3Client, S3Config, parse_s3_url
from .store import S3Store, open_s3_store

__all__ = [
    "NotFound",
    "PreconditionFailed",
    "S3Client",
    "S3Config",
    "S3Store",
    "open_s3_blob_store",
    "open_s3_store",
    "parse_s3_url",
]


def open_s3_blob_store(url: str) -> Any:
    """The ``imap_store_pg.blob_stores`` entry point (imported on use: it needs
    imap-store-pg)."""
    from .blob import open_s3_blob_store as open_blob_store

    return open_blob_store(url)
