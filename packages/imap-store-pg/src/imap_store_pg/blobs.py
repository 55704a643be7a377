"""Where message octets live.

By default bodies are rows of the ``bodies`` table, written in the same transaction as the
message (one round trip per APPEND) and read by range with ``substring`` so that a partial
FETCH does not load a whole large message. A deployment may keep them elsewhere (an object
store) with a `BlobStore`, named in the store URL (``?blobs=<url>``) and found through the
entry point group ``imap_store_pg.blob_stores`` (name: the URL scheme; value: a factory taking
the URL and returning a `BlobStore`).

With a blob store, APPEND writes the blob first (key: a random UUID), then the metadata
transaction; when the transaction fails the blob is deleted again. Bodies are shared by COPY:
a blob is deleted after the transaction that removed its last message committed.
"""

from __future__ import annotations

import abc
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points

from imap_server.spool import SpooledMessage

__all__ = ["BLOB_STORE_GROUP", "BlobInfo", "BlobStore", "open_blob_store"]

BLOB_STORE_GROUP = "imap_store_pg.blob_stores"


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobInfo:
    """One blob of `BlobStore.entries`."""

    key: str
    #: Its octets; None: not known.
    size: int | None = None
    #: When it was written, in seconds since the epoch; None: not known (garbage collection
    #: then takes it for young, and removes it only with ``older_than=0``).
    last_modified: float | None = None


#: Range of each `get` in the default `BlobStore.stream`.
_STREAM_PIECE = 1024 * 1024


class BlobStore(abc.ABC):
    """Message octets by key. Keys are made by the store (UUID hex); a blob is never
    rewritten."""

    @abc.abstractmethod
    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``."""

    async def put_message(self, key: str, body: bytes | SpooledMessage) -> None:
        """Store an APPENDed message under ``key``. A message over 1 MiB comes as a
        `imap_server.spool.SpooledMessage` (a temporary file): a blob store that can upload
        from a file (``body.reader()``, ``body.chunks()``) overrides this so that the message
        is never held whole. The default reads it into memory and calls `put`."""
        await self.put(key, await body.read() if isinstance(body, SpooledMessage) else body)

    @abc.abstractmethod
    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Return octets ``[start:end]`` of the blob (``end`` None: to its end)."""

    async def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Octets ``[start:end]`` of the blob in pieces, for a FETCH of a large body. The
        default: `get` of 1 MiB ranges; a store that can stream one request overrides it."""
        for offset in range(start, end, _STREAM_PIECE):
            yield await self.get(key, offset, min(offset + _STREAM_PIECE, end))

    @abc.abstractmethod
    async def delete(self, keys: Sequence[str]) -> None:
        """Delete the blobs (missing ones are no error)."""

    @abc.abstractmethod
    def keys(self) -> AsyncIterator[str]:
        """Every key held (for garbage collection of blobs a crash left behind)."""

    async def entries(self) -> AsyncIterator[BlobInfo]:
        """Every blob held, with its size and last-modified time where the store knows them
        (`PgStore.collect_garbage` removes only old orphans). The default: `keys` with
        neither known; a store that can tell them cheaply (an object listing) overrides it."""
        async for key in self.keys():
            yield BlobInfo(key=key)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called by `PgStore.aclose`."""


def open_blob_store(url: str) -> BlobStore:
    """The `BlobStore` for ``url``, by its scheme's entry point.

    Raises:
        ValueError: No installed blob store handles the scheme.
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    for ep in entry_points(group=BLOB_STORE_GROUP):
        if ep.name.lower() == scheme:
            factory: Callable[[str], BlobStore] = ep.load()
            blobs = factory(url)
            if not isinstance(blobs, BlobStore):
                raise TypeError(f"blob store factory {ep.value} returned {type(blobs).__name__}")
            return blobs
    raise ValueError(f"no installed blob store handles {scheme or '(no scheme)'}:// URLs")
