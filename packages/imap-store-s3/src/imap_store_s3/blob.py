"""The body store under imap-store-pg: message octets in S3, metadata in PostgreSQL.

``postgresql://.../mail?blobs=s3%3A%2F%2Fbucket%2Fprefix%3Fendpoint%3D...`` (the inner URL
percent-encoded inside the outer query) makes `imap_store_pg.PgStore` keep each message body
as the object ``<prefix>/blobs/<key>``; the entry point ``imap_store_pg.blob_stores`` named
``s3`` calls `open_s3_blob_store`.

A body is written once (``S3Client.upload``: in parts above ``multipart_threshold``), read by
one ranged GET per FETCH of a section, and deleted in batches after the transaction that
removed its last message committed. `S3BlobStore.entries` lists what the bucket holds with
sizes and ages, for ``imap-server gc`` (`PgStore.collect_garbage`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from imap_server.spool import SpooledMessage
from imap_server.store import StoreError, StoreUnavailable
from imap_store_pg.blobs import BlobInfo, BlobStore

from ._client import NotFound, S3Client, S3Config, parse_s3_url

__all__ = ["S3BlobStore", "open_s3_blob_store"]

#: Keys per listing request (S3's maximum).
_PAGE = 1000


class S3BlobStore(BlobStore):
    """Message bodies as objects ``<prefix>/blobs/<key>`` of one bucket.

    Args:
        config: The bucket, prefix, endpoint and client settings.
        client: An `S3Client` to use (tests share one to count requests); None: a new one.
    """

    def __init__(self, config: S3Config, *, client: S3Client | None = None) -> None:
        self.config = config
        self.client = client if client is not None else S3Client(config)
        self._folder = config.key("blobs", "")

    def __repr__(self) -> str:
        return f"<S3BlobStore s3://{self.config.bucket}/{self._folder}>"

    def object_key(self, key: str) -> str:
        """The S3 key of blob ``key``."""
        return self._folder + key

    async def put(self, key: str, data: bytes) -> None:
        await self.client.upload(self.object_key(key), data)

    async def put_message(self, key: str, body: bytes | SpooledMessage) -> None:
        """Upload ``body``; a spooled one part by part from its file (never held whole)."""
        await self.client.upload(self.object_key(key), body)

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Octets ``[start:end]`` by one (ranged) GET.

        Raises:
            StoreError: No such blob (its last message was expunged meanwhile).
            StoreUnavailable: S3 failed (after botocore's retries).
        """
        start = max(start, 0)
        if end is not None and end <= start:
            return b""
        try:
            return await self.client.get(self.object_key(key), start, end)
        except NotFound as exc:
            raise _missing(exc) from None

    async def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Octets ``[start:end]`` in pieces of 1 MiB, from one (ranged) GET."""
        try:
            async for chunk in self.client.stream(self.object_key(key), start, end):
                yield chunk
        except NotFound as exc:
            raise _missing(exc) from None

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            await self.client.delete([self.object_key(k) for k in keys])

    async def keys(self) -> AsyncIterator[str]:
        async for info in self.entries():
            yield info.key

    async def entries(self) -> AsyncIterator[BlobInfo]:
        """Every blob with its size and last-modified time, a page (1000) at a time."""
        after: str | None = None
        while True:
            page = await self.client.list(self._folder, start_after=after, limit=_PAGE)
            for item in page:
                yield BlobInfo(
                    key=item.key[len(self._folder) :],
                    size=item.size,
                    last_modified=item.last_modified,
                )
            if len(page) < _PAGE:
                return
            after = page[-1].key

    async def aclose(self) -> None:
        close = getattr(self.client._client, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()


def _missing(exc: NotFound) -> StoreError:
    """The store error for a blob S3 answered 404 for: the bucket's absence is an outage, a
    missing object a message expunged meanwhile."""
    if str(exc) == "NoSuchBucket":  # a 404 too, but not about the message
        return StoreUnavailable("S3 error NoSuchBucket")
    return StoreError("The message was expunged")


def open_s3_blob_store(url: str) -> S3BlobStore:
    """The blob store an ``s3://bucket/prefix?endpoint=...`` URL names (the options of
    `imap_store_s3.parse_s3_url`).

    Raises:
        ValueError: Not an ``s3://`` URL, a bad option value, or an unknown option.
    """
    config, rest = parse_s3_url(url)
    if rest:
        raise ValueError(f"unknown s3 blob store URL option(s): {', '.join(sorted(rest))}")
    return S3BlobStore(config)
