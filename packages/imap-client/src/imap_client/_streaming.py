"""`StreamingCommands`: message bodies to and from files without holding them in memory.

::

    with open("message.eml", "wb") as f:
        size = await client.fetch_to(uid, "", f)  # BODY.PEEK[] of UID ``uid`` into f

    async for chunk in client.fetch_stream(uid, "2"):  # part 2, chunk by chunk
        ...

    result = await client.append_from("INBOX", "big.eml")  # size from the file
    print(result.uid)

Large literals (over the wire's ``stream_literals_over``, 1 MiB by default) come from the
server in chunks; the reader task hands each chunk to the command's sink as it arrives (the
sink's ``write`` is awaited there when it is async), so no more than a read's worth (64 KiB)
is held at a time. Smaller ones arrive whole and are written once the command completes.

The trade-off of streaming over one connection: responses come in order on one socket, so
while a sink (or a `FetchStream`'s consumer) does not take a chunk, nothing behind it is
read, and the other commands in flight wait too. That is the backpressure that bounds the
memory. `fetch_stream` bounds the wait: when its consumer has taken nothing for
``stall_timeout`` seconds the stream is given up (its iterator raises `ImapTimeout`) and the
rest of the body is read and dropped, so the other commands go on. `fetch_to` trusts its
sink (a file) and has no such bound.

APPEND sends its message as a literal streamed from the source, with LITERAL+ when the
server offers it (the wire's ``literal_mode`` follows the capabilities), else after the
server's ``+``. Once the literal is announced the connection is committed to sending
exactly ``size`` octets: if the source fails, comes up short, or the call is cancelled
part way, the connection is closed (the server would otherwise read whatever follows as
message data).

Which literal is whose: each streaming FETCH asks for one section of one message, and
takes the first large literal whose line names that message (its UID, or its sequence
number) and that section. Servers commonly put UID before the body (ours does); with one
that puts it after, literals cannot be told apart while several body FETCHes of the same
section run on the connection at once, so run those one after another with such a server.

Timeouts (the client's ``timeout``) count inactivity here, not the whole transfer: a large
message over a slow link takes as long as it takes, as long as data keeps moving.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import io
import os
import re
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Iterable,
    Iterator,
)
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from imap_wire import (
    Append,
    Fetch,
    FetchBinary,
    FetchBody,
    FetchResponse,
    LiteralSource,
    LiteralStarted,
    RemoteProtocolError,
    Response,
    ResponseStatus,
    Section,
    SequenceSet,
    StatusResponse,
    StreamedLiteral,
)

from ._base import ClientBase
from ._core import PendingCommand
from .errors import CommandFailed, ImapError, ImapTimeout
from .results import AppendResult

__all__ = [
    "AppendSource",
    "BinarySink",
    "FetchStream",
    "MessageNotFound",
    "StreamingCommands",
]

#: Octets read from a file source at a time.
_READ_CHUNK = 64 * 1024


class BinarySink(Protocol):
    """Where `StreamingCommands.fetch_to` writes: a binary file, or anything with a
    ``write(bytes)`` method, plain or async (``anyio.open_file``, a socket wrapper...)."""

    def write(self, data: bytes, /) -> object:
        """Take the next octets (an awaitable result is awaited)."""


@runtime_checkable
class _Readable(Protocol):
    def read(self, size: int, /) -> bytes | Awaitable[bytes]: ...


#: What `StreamingCommands.append_from` reads the message from: its octets, a file path, a
#: binary file object (plain or async ``read``), or an iterable / async iterable of chunks.
AppendSource = (
    bytes
    | bytearray
    | memoryview
    | str
    | os.PathLike[str]
    | _Readable
    | Iterable[bytes]
    | AsyncIterable[bytes]
)


class MessageNotFound(ImapError, LookupError):
    """The FETCH succeeded but sent no such data: no message by that UID or number (a UID
    FETCH of an expunged message answers OK with nothing)."""


# -- which literal is ours ------------------------------------------------------------------

_FETCH_PREFIX = re.compile(rb"\* ([0-9]+) FETCH \(", re.IGNORECASE)
_UID_ITEM = re.compile(rb"[( ]UID ([0-9]+)", re.IGNORECASE)
# The data item just before a literal announcement: BODY[1.2]<0> {123} or BINARY[1] ~{123}.
_ITEM_BEFORE_LITERAL = re.compile(
    rb"(BODY|BINARY)\[([^\]]*)\](?:<([0-9]+)>)? ~?\{[0-9]+\+?\}\s*\Z", re.IGNORECASE
)


def _one_message(message: int | str | SequenceSet) -> tuple[SequenceSet, int | None]:
    """The set naming one message, and its number (None for ``*``)."""
    if isinstance(message, int):
        if message < 1:
            raise ValueError("message numbers and UIDs start at 1")
        return SequenceSet(ranges=((message, message),)), message
    sequence_set = SequenceSet.parse(message) if isinstance(message, str) else message
    ranges = sequence_set.ranges
    if sequence_set.is_saved or len(ranges) != 1 or ranges[0][0] != ranges[0][1]:
        raise ValueError(f"streaming takes one message, not {sequence_set}")
    number = ranges[0][0]
    return sequence_set, (number or None)  # 0 stands for "*"


def _same_section(a: Section, b: Section) -> bool:
    # Header field names match case-insensitively (servers may echo another case).
    return (
        a.part == b.part
        and a.text == b.text
        and tuple(f.upper() for f in a.fields) == tuple(f.upper() for f in b.fields)
    )


class _BodyFetch:
    """One FETCH of one body section, and how to recognise its data."""

    def __init__(
        self,
        client: ClientBase,
        message: int | str | SequenceSet,
        section: Section | str,
        *,
        uid: bool,
        binary: bool,
        peek: bool,
        partial: tuple[int, int] | None,
    ) -> None:
        sequence_set, self.number = _one_message(message)
        self.section = Section.parse(section) if isinstance(section, str) else section
        self.uid = uid
        self.binary = binary
        self.origin = None if partial is None else partial[0]
        if binary:
            if self.section.text is not None:
                raise ValueError("BINARY takes part numbers only (no HEADER, TEXT or MIME)")
            item: FetchBinary | FetchBody = FetchBinary(
                part=self.section.part, peek=peek, partial=partial
            )
        else:
            item = FetchBody(section=self.section, peek=peek, partial=partial)
        command = Fetch(
            tag=client.next_tag(), uid=uid, sequence_set=sequence_set, attributes=(item,)
        )
        #: Where streamed data goes; set by the caller before submitting.
        self.sink: _Sink | None = None
        self.streamed = False
        self.claimed = False
        self.size: int | None = None
        self.pending = PendingCommand(command, claims=self._claims, on_literal=self._on_literal)

    # Both run in the reader task.

    def _on_literal(self, event: LiteralStarted) -> _Sink | None:
        # One literal per command: a second match belongs to another command in flight
        # (two fetches of the same section), which is asked next.
        if self.streamed or not self._ours(event):
            return None
        self.streamed = True
        self.size = event.size
        return self.sink

    def _ours(self, event: LiteralStarted) -> bool:
        head = _FETCH_PREFIX.match(event.prefix)
        item = _ITEM_BEFORE_LITERAL.search(event.preceding)
        if head is None or item is None:
            return False
        if (item.group(1).upper() == b"BINARY") != self.binary:
            return False
        origin = None if item.group(3) is None else int(item.group(3))
        if origin != self.origin:
            return False
        spec = item.group(2).decode("ascii", "replace")
        try:
            if self.binary:
                if spec != ".".join(map(str, self.section.part)):
                    return False
            elif not _same_section(Section.parse(spec), self.section):
                return False
        except RemoteProtocolError:
            return False
        if self.number is not None:
            if self.uid:
                # The UID may come after the body (then it cannot be checked here).
                uid = _UID_ITEM.search(event.prefix) or _UID_ITEM.search(event.preceding)
                if uid is not None and int(uid.group(1)) != self.number:
                    return False
            elif int(head.group(1)) != self.number:
                return False
        return True

    def _claims(self, response: Response) -> bool:
        if self.claimed or not isinstance(response, FetchResponse):
            return False
        found, _ = self._lookup(response)
        if found and self.number is not None:
            if self.uid:
                found = response.uid is None or response.uid == self.number
            else:
                found = response.seq == self.number
        self.claimed = found
        return found

    def _lookup(
        self, response: FetchResponse
    ) -> tuple[bool, bytes | StreamedLiteral | LiteralSource | None]:
        # A LiteralSource is what a server sends; a parsed response never holds one.
        if self.binary:
            for bkey, value in response.binary.items():
                if bkey.part == self.section.part and bkey.origin == self.origin:
                    return True, value
            return False, None
        for key, value in response.sections.items():
            if key.origin == self.origin and _same_section(key.section, self.section):
                return True, value
        return False, None

    def data_in_memory(self, result: StatusResponse) -> bytes:
        """After the tagged response: the octets that arrived whole (b"" if streamed or NIL).

        Raises:
            CommandFailed: NO or BAD.
            MessageNotFound: The server sent no such data.
        """
        if result.status is not ResponseStatus.OK:
            raise CommandFailed(self.pending.name, result)
        for response in self.pending.responses:
            assert isinstance(response, FetchResponse)
            found, value = self._lookup(response)
            if found:
                if value is None or isinstance(value, StreamedLiteral | LiteralSource):
                    return b""  # NIL, or streamed to the sink
                return bytes(value)
        if self.streamed:
            # Streamed, and its response line claimed by another command in flight (a
            # FETCH of the same message): the data is the sink's all the same.
            return b""
        what = "UID" if self.uid else "message"
        raise MessageNotFound(f"no {what} {self.number or '*'} (or no such section)")


# -- sinks (written to by the reader task) --------------------------------------------------


class _Sink(Protocol):
    def write(self, data: bytes, /) -> Awaitable[None] | None: ...


class _Activity:
    """A cancel scope whose deadline moves on whenever data moves: a timeout on
    inactivity rather than on the whole transfer."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.scope = anyio.CancelScope()
        self._active = False

    def __enter__(self) -> anyio.CancelScope:
        scope = self.scope.__enter__()
        self._active = True
        self.touch()
        return scope

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        self._active = False
        return self.scope.__exit__(exc_type, exc, traceback)

    def touch(self) -> None:
        if self._active and self.timeout is not None and not self.scope.cancel_called:
            self.scope.deadline = anyio.current_time() + self.timeout

    def check(self, what: str) -> None:
        if self.scope.cancelled_caught:
            raise ImapTimeout(f"{what}: no data moved for {self.timeout} s")


class _FileSink:
    """Writes to the user's sink and counts; an error of the sink fails the command's
    caller, not the connection (the rest of the literal is read and dropped)."""

    def __init__(self, target: BinarySink, activity: _Activity) -> None:
        self._target = target
        self._activity = activity
        self.written = 0
        self.error: BaseException | None = None
        #: Set when the caller has gone (returned, failed, cancelled): drop what comes.
        self.detached = False

    def write(self, data: bytes, /) -> Awaitable[None] | None:
        if self.error is not None or self.detached:
            return None
        self._activity.touch()
        try:
            result = self._target.write(data)
        except Exception as exc:
            self.error = exc
            return None
        if inspect.isawaitable(result):
            return self._finish(result, len(data))
        self.written += len(data)
        return None

    async def _finish(self, result: Awaitable[object], size: int) -> None:
        try:
            await result
        except Exception as exc:
            self.error = exc
            return
        self.written += size


class _QueueSink:
    """Puts chunks into a `FetchStream`'s memory stream, waiting (backpressure) at most
    ``stall_timeout`` seconds for its consumer."""

    def __init__(self, send: MemoryObjectSendStream[bytes], stall_timeout: float | None):
        self._send = send
        self._stall_timeout = stall_timeout
        self.error: BaseException | None = None
        self.abandoned = False

    def write(self, data: bytes, /) -> Awaitable[None] | None:
        if self.abandoned:
            return None
        try:
            self._send.send_nowait(data)
        except anyio.WouldBlock:
            return self._put(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.abandoned = True  # the consumer closed the stream
        return None

    async def _put(self, data: bytes) -> None:
        with anyio.move_on_after(self._stall_timeout) as scope:
            try:
                await self._send.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.abandoned = True
        if scope.cancelled_caught:
            self.abandoned = True
            self.error = ImapTimeout(
                f"the stream's consumer took nothing for {self._stall_timeout} s: "
                "the rest of the body was dropped so that the connection could go on"
            )
            self._send.close()

    def close(self) -> None:
        self._send.close()


class FetchStream:
    """The chunks of one body section: ``async for chunk in client.fetch_stream(...)``.

    The FETCH is sent when iteration starts. Use it as ``async with`` (or call `aclose`)
    to stop early cleanly; a stream dropped part way is closed when collected, and the
    rest of the body is then read and dropped by the connection.

    Attributes:
        size: The literal's size once known (streamed bodies only), else None.
    """

    def __init__(
        self,
        client: ClientBase,
        job: _BodyFetch,
        *,
        buffer: int,
        stall_timeout: float | None,
    ) -> None:
        self._client = client
        self._job = job
        self._buffer = buffer
        self._stall_timeout = stall_timeout
        self._receive: MemoryObjectReceiveStream[bytes] | None = None
        self._sink: _QueueSink | None = None
        self._tail: bytes | None = None
        self._state = "new"  # new, streaming, tail, done
        self._thread: int | None = None

    @property
    def size(self) -> int | None:
        return self._job.size

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: the rest of the body is read and dropped (the command completes on its
        own). Idempotent."""
        self._close()

    def _close(self) -> None:
        self._state = "done"
        if self._receive is not None:
            self._receive.close()

    def __del__(self) -> None:
        # Dropped part way (``break`` without `aclose`): close, so the connection drops
        # the rest. Only in the event loop's thread (memory streams are not thread-safe).
        receive = getattr(self, "_receive", None)
        if receive is not None and self._thread == threading.get_ident():
            receive.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._state == "new":
            await self._start()
        if self._state == "streaming":
            assert self._receive is not None and self._sink is not None
            try:
                return await self._receive.receive()
            except anyio.EndOfStream:
                pass
            except anyio.ClosedResourceError:  # closed by aclose
                raise StopAsyncIteration from None
            if self._sink.error is not None:
                self._close()
                raise self._sink.error
            try:
                result = await self._job.pending.wait()  # completed: it closed the stream
                data = self._job.data_in_memory(result)
            except BaseException:
                self._close()
                raise
            self._state = "tail"
            self._tail = data or None
        if self._state == "tail":
            tail, self._tail = self._tail, None
            if tail is not None:
                return tail
            self._close()
        raise StopAsyncIteration

    async def _start(self) -> None:
        self._state = "streaming"
        self._thread = threading.get_ident()
        send, self._receive = anyio.create_memory_object_stream[bytes](self._buffer)
        sink = self._sink = _QueueSink(send, self._stall_timeout)
        job = self._job
        job.sink = sink
        # The stream ends when the command completes (or fails): that closes the sending
        # end, and the iterator then sees its outcome. Only the sink is referenced from
        # the connection, not this object, so dropping the iterator closes it.
        job.pending.add_done_callback(sink.close)
        try:
            with anyio.fail_after(self._client.timeout):
                await self._client.submit(job.pending)
        except TimeoutError:
            sink.close()
            self._close()
            raise ImapTimeout(f"{job.pending.name} could not be sent in time") from None
        except BaseException:
            sink.close()
            self._close()
            raise


# -- APPEND sources ---------------------------------------------------------------------


class _Chunks:
    """An async iterator of a source's chunks that marks activity as data goes out."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes] | Iterator[bytes],
        activity: _Activity,
    ) -> None:
        self._chunks = chunks
        self._activity = activity

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        self._activity.touch()
        if isinstance(self._chunks, AsyncIterator):
            return await self._chunks.__anext__()
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None


async def _read_file(read: _Readable, size: int, *, in_thread: bool) -> AsyncGenerator[bytes, None]:
    """Read ``size`` octets (at most) in chunks; stop early at the end of the file."""
    remaining = size
    while remaining > 0:
        n = min(_READ_CHUNK, remaining)
        if in_thread:
            result = await anyio.to_thread.run_sync(read.read, n)
        else:
            result = read.read(n)
        data = await result if inspect.isawaitable(result) else result
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"the source's read returned {type(data).__name__}, not bytes")
        if not data:
            return
        remaining -= len(data)
        yield bytes(data)


def _slices(data: memoryview, size: int) -> Iterator[bytes]:
    for start in range(0, size, _READ_CHUNK):
        yield bytes(data[start : start + _READ_CHUNK])


class _OpenedSource:
    """A source ready to stream: its chunks, its size, and what to close afterwards (the
    reader and file opened here; an iterator the caller gave stays the caller's)."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes] | Iterator[bytes],
        size: int,
        *,
        reader: AsyncGenerator[bytes, None] | None = None,
        file: anyio.AsyncFile[bytes] | None = None,
    ) -> None:
        self.chunks = chunks
        self.size = size
        self._reader = reader
        self._file = file

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            if self._reader is not None:
                await self._reader.aclose()
            if self._file is not None:
                await self._file.aclose()


async def _open_source(source: AppendSource, size: int | None) -> _OpenedSource:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source).cast("B")
        n = len(view) if size is None else size
        if n > len(view):
            raise ValueError(f"size {n} is larger than the {len(view)} octets given")
        return _OpenedSource(_slices(view, n), n)
    if isinstance(source, str | os.PathLike):
        path = anyio.Path(os.fspath(source))
        n = (await path.stat()).st_size if size is None else size
        file = await anyio.open_file(path, "rb")
        reader = _read_file(file, n, in_thread=False)
        return _OpenedSource(reader, n, reader=reader, file=file)
    if isinstance(source, _Readable):
        if size is None:
            size = await _remaining_size(source)
        # A plain file is read in a worker thread (reads may block); an in-memory one, or
        # one with an async read, in the event loop.
        in_thread = not isinstance(source, io.BytesIO) and not inspect.iscoroutinefunction(
            source.read
        )
        reader = _read_file(source, size, in_thread=in_thread)
        return _OpenedSource(reader, size, reader=reader)
    if size is None:
        raise ValueError("size is needed for an iterable source")
    if isinstance(source, AsyncIterable):
        return _OpenedSource(aiter(source), size)
    if isinstance(source, Iterable):
        return _OpenedSource(iter(source), size)
    raise TypeError(f"cannot append from {type(source).__name__}")


async def _remaining_size(source: object) -> int:
    """The octets left in a seekable file (plain or async), from its position to its end."""
    try:
        tell = source.tell  # type: ignore[attr-defined]
        seek = source.seek  # type: ignore[attr-defined]
        here = await _result(tell())
        end = await _result(seek(0, os.SEEK_END))
        await _result(seek(here))
    except (AttributeError, OSError, ValueError) as exc:
        raise ValueError("size is needed for a file that cannot seek") from exc
    if not isinstance(here, int) or not isinstance(end, int):
        raise ValueError("size is needed for this file (its tell / seek are not numbers)")
    return max(0, end - here)


async def _result(value: object) -> object:
    return await value if inspect.isawaitable(value) else value


# -- the commands ------------------------------------------------------------------------


class StreamingCommands(ClientBase):
    """Streaming FETCH bodies and APPEND from files."""

    async def fetch_to(
        self,
        message: int | str | SequenceSet,
        section: Section | str,
        sink: BinarySink,
        *,
        uid: bool = True,
        binary: bool = False,
        peek: bool = True,
        partial: tuple[int, int] | None = None,
    ) -> int:
        """Write one message's body section into ``sink`` without holding it in memory.

        Args:
            message: The UID (or, with ``uid=False``, the sequence number) of one message:
                an int, or a one-message set (``"*"`` is the last message).
            section: The section: ``""`` (or ``Section()``) for the whole message,
                ``"1.2"``, ``"HEADER"``, ``"2.TEXT"``...
            sink: Has ``write(bytes)``, plain or async (awaited).
            uid: ``message`` is a UID (UID FETCH).
            binary: FETCH ``BINARY[part]`` (RFC 3516): the part decoded from its
                Content-Transfer-Encoding; ``section`` is then part numbers only.
            peek: ``BODY.PEEK`` / ``BINARY.PEEK``: leave ``\\Seen`` alone.
            partial: ``(origin, count)``: at most ``count`` octets from ``origin``.

        Returns:
            The number of octets written (0 for a NIL section).

        Raises:
            MessageNotFound: No such message (or the server sent no such section).
            CommandFailed: NO or BAD (``UNKNOWN-CTE`` for a BINARY it cannot decode...).
            ImapTimeout: No data for the client's ``timeout`` seconds.
            Exception: Whatever ``sink.write`` raised (the rest of the data is dropped).
        """
        job = _BodyFetch(self, message, section, uid=uid, binary=binary, peek=peek, partial=partial)
        activity = _Activity(self.timeout)
        file_sink = _FileSink(sink, activity)
        job.sink = file_sink
        try:
            with activity:
                await self.submit(job.pending)
                result = await job.pending.wait()
            activity.check(job.pending.name)
            if file_sink.error is not None:
                raise file_sink.error
            data = job.data_in_memory(result)
            if data:
                written = file_sink.write(data)
                if written is not None:
                    await written
                if file_sink.error is not None:
                    raise file_sink.error
            return file_sink.written
        finally:
            file_sink.detached = True

    def fetch_stream(
        self,
        message: int | str | SequenceSet,
        section: Section | str = "",
        *,
        uid: bool = True,
        binary: bool = False,
        peek: bool = True,
        partial: tuple[int, int] | None = None,
        buffer: int = 4,
        stall_timeout: float | None = None,
    ) -> FetchStream:
        """Iterate over one message's body section in chunks (``async for``).

        Memory stays bounded: at most ``buffer`` chunks (of up to 64 KiB) wait for the
        consumer; past that the connection waits too (see the module's notes), for at most
        ``stall_timeout`` seconds, after which the stream is given up. ``message``,
        ``section``, ``uid``, ``binary``, ``peek`` and ``partial`` are as for `fetch_to`.

        Args:
            buffer: Chunks kept for the consumer.
            stall_timeout: Seconds the connection waits for the consumer to take a chunk
                (default: the client's ``timeout``; None there means no limit).

        Raises:
            MessageNotFound: From iterating: as for `fetch_to`.
            CommandFailed: From iterating: as for `fetch_to`.
            ImapTimeout: From iterating: the consumer stalled the connection too long.
        """
        if buffer < 1:
            raise ValueError("buffer must be at least 1")
        job = _BodyFetch(self, message, section, uid=uid, binary=binary, peek=peek, partial=partial)
        return FetchStream(
            self,
            job,
            buffer=buffer,
            stall_timeout=self.timeout if stall_timeout is None else stall_timeout,
        )

    async def append_from(
        self,
        mailbox: str,
        source: AppendSource,
        size: int | None = None,
        *,
        flags: Iterable[str] = (),
        date: _dt.datetime | None = None,
        binary: bool = False,
    ) -> AppendResult:
        """APPEND a message streamed from ``source``, never held whole in memory.

        Args:
            mailbox: The destination.
            source: A path (``str`` / ``os.PathLike``), a binary file object (read from its
                position; ``read`` plain or async), the octets, or an iterable / async
                iterable of ``bytes`` chunks.
            size: The message's size in octets: needed for iterables (and files that
                cannot seek); else defaults to what is left of the file. The source must
                yield exactly that many (a file is read no further).
            flags: Flags to set on the message.
            date: Its internal date (default: the server's time of arrival).
            binary: Send it as a ``literal8`` (RFC 3516; the server must offer BINARY):
                needed when it holds NUL octets.

        Returns:
            The ``APPENDUID`` data (RFC 4315), or an `AppendResult` of Nones without
            UIDPLUS.

        Raises:
            CommandFailed: NO (``TRYCREATE``: no such mailbox; ``TOOBIG``...) or BAD.
            ImapConnectionError: The source did not yield ``size`` octets (the connection
                is closed: see the module's notes).
            ImapTimeout: No data moved for the client's ``timeout`` seconds (the
                connection is then closed too if the message had started).
        """
        opened = await _open_source(source, size)
        activity = _Activity(self.timeout)
        command = Append(
            tag=self.next_tag(),
            mailbox=mailbox,
            flags=tuple(flags),
            date_time=date,
            message=LiteralSource(size=opened.size, binary=binary),
            binary=binary,
        )
        pending = PendingCommand(command, literals=(_Chunks(opened.chunks, activity),))
        try:
            with activity:
                await self.submit(pending)
                result = await pending.wait()
        finally:
            await opened.aclose()
        activity.check(pending.name)
        if result.status is not ResponseStatus.OK:
            raise CommandFailed(pending.name, result)
        return AppendResult.from_code(result.code)
