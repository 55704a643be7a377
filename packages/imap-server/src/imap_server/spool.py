"""Large APPEND messages in a temporary file instead of memory.

The wire parser hands a literal larger than its streaming threshold (1 MiB) to the server in
chunks. The connection writes them to a `SpooledMessage`: an anonymous temporary file (gone
when closed, or when the process dies) that the message parser, and then the store, read in
pieces. A store that keeps bodies elsewhere (S3, a blob store) uploads it from the file, so
a 100 MB message never sits in the server's memory; a store that wants the octets in memory
calls ``await message.read()``.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator

import anyio.to_thread

__all__ = ["SpooledMessage"]

#: Reads larger than this run in a worker thread (a local file, but a big read still takes
#: milliseconds the event loop should not wait).
_READ_IN_THREAD = 1 << 20
#: Chunk size of `SpooledMessage.chunks`.
CHUNK = 1 << 20


class SpooledMessage:
    """A message received into a temporary file: readable by range, never held whole.

    It is a `imap_server.store.Body` (``size`` and ``read``), and also has a synchronous
    ``pread`` (what `imap_server.message.parse_message` reads it with), `chunks`, and
    `reader` (a file object, for APIs that upload from one). ``len(message)`` is its size.

    Args:
        directory: Where the temporary file goes (default: the system's temporary
            directory, ``TMPDIR``).
    """

    __slots__ = ("_fd", "_file", "_size")

    def __init__(self, directory: str | None = None) -> None:
        # TemporaryFile unlinks at once (O_TMPFILE where it can): nothing is left behind
        # when the process is killed.
        self._file = tempfile.TemporaryFile(dir=directory, buffering=0)  # noqa: SIM115 - closed by close()
        self._fd = self._file.fileno()
        self._size = 0

    @classmethod
    def from_bytes(cls, data: bytes, directory: str | None = None) -> SpooledMessage:
        """A spooled copy of ``data`` (tests, and stores that want one shape of input)."""
        message = cls(directory)
        message.write(data)
        return message

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` (the connection, as the literal arrives)."""
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, self._size)
            self._size += written
            view = view[written:]

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    def pread(self, start: int, end: int) -> bytes:
        """Octets ``[start:end]``, clamped to the size."""
        start = max(start, 0)
        end = min(end, self._size)
        if start >= end:
            return b""
        parts: list[bytes] = []
        while start < end:
            data = os.pread(self._fd, end - start, start)
            if not data:  # pragma: no cover - the file does not shrink under us
                break
            parts.append(data)
            start += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        """Octets ``[start:end]`` (``end`` None: to the end), clamped to the size."""
        end = self._size if end is None else end
        if end - start > _READ_IN_THREAD:
            return await anyio.to_thread.run_sync(self.pread, start, end)
        return self.pread(start, end)

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The octets in pieces of ``size`` (synchronous: for a worker thread)."""
        for start in range(0, self._size, size):
            yield self.pread(start, start + size)

    def reader(self) -> io.BufferedReader:
        """A new file object over the message, at its start, with its own position (several
        readers may be open at once). The caller closes it."""
        return io.BufferedReader(_Reader(self._fd, self._size), buffer_size=CHUNK)

    def close(self) -> None:
        """Remove the file (idempotent)."""
        self._file.close()

    def __enter__(self) -> SpooledMessage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SpooledMessage {self._size} octets>"


class _Reader(io.RawIOBase):
    """A read-only, seekable file over a shared descriptor, by `os.pread` (its own position:
    dup'ed descriptors would share one)."""

    def __init__(self, fd: int, size: int) -> None:
        super().__init__()
        self._fd = fd
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._pos)
        n = len(data)
        memoryview(buffer)[:n] = data
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        elif whence == io.SEEK_END:
            self._pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if self._pos < 0:
            self._pos = 0
            raise OSError("negative seek position")
        return self._pos

    def tell(self) -> int:
        return self._pos
