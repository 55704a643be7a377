"""`IdleCommands`: IDLE (RFC 9051 section 6.3.13, RFC 2177) and waiting for mailbox updates.

::

    async with client.idle() as updates:
        async for update in updates:  # EXISTS, EXPUNGE, FETCH (flags), VANISHED, BYE...
            if isinstance(update, ExistsResponse):
                break  # leaving the block sends DONE and awaits the tagged OK

    async with client.idle() as updates:
        batch = await updates.wait(60)  # [] after 60 s without news

    exists = await client.idle_until(lambda r: isinstance(r, ExistsResponse), timeout=300)

The updates are the untagged responses the server sends (`imap_wire` response objects); the
engine keeps `client.mailbox` current from them before they are handed out, so a consumer
may look at the state as well as at the update. The handlers registered with
`ClientBase.on_unsolicited` keep receiving them too.

How it runs: ``async with`` sends IDLE and returns once the server has answered ``+``. A
task of the session's own then re-issues IDLE every ``restart_after`` seconds (DONE, the
tagged OK, IDLE again: RFC 2177 asks for at least every 29 minutes, as servers may log out
a client idle for 30), whether or not anybody is reading the updates; the iterator does not
see it. Leaving the block stops that task, sends DONE and awaits the tagged OK, also when
the block ends with an exception or a cancellation (then shielded, bounded by the client's
timeout; if the server does not answer in time the connection is closed, as its state is
no longer known).

While IDLE runs, other commands wait: IDLE is not pipelined (RFC 9051 section 5.5), so a
command started inside the block (or from another task) goes out only after the block is
left, or at the next restart. Leave the block to run commands.

Servers without IDLE: `idle` raises `MissingCapability` unless ``poll_interval`` is given,
in which case the session sends NOOP every ``poll_interval`` seconds instead and hands out
the untagged responses it brings, through the same iterator. Polling is opt-in because it
costs a round trip per interval and reports changes only that often.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Self

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from imap_wire import ClientConnection, Idle, Response, ResponseStatus, StatusResponse

from ._base import ClientBase
from ._core import PendingCommand, _Completed
from .errors import CommandFailed, ImapTimeout, MissingCapability

__all__ = ["DEFAULT_RESTART_AFTER", "IdleCommands", "IdleSession"]

log = logging.getLogger("imap_client")

#: Re-issue IDLE after this many seconds (RFC 2177: at least every 29 minutes).
DEFAULT_RESTART_AFTER = 29 * 60.0
#: Updates kept for a consumer that does not read; more are dropped (the mailbox state is
#: kept current regardless) and counted in `IdleSession.dropped`.
DEFAULT_MAX_BUFFERED = 10_000
# Bound on ending IDLE when the client has no command timeout.
_END_TIMEOUT = 30.0


class IdleSession:
    """One ``async with client.idle() as updates:`` block: an async context manager, and
    the async iterator of updates it yields (itself).

    Iterating yields each untagged response the server sends while the session runs, in
    order; it ends only by ``break`` (or an error). `wait` takes what is there with a
    timeout.

    Attributes:
        restarts: How many times IDLE was re-issued (or NOOP sent, when polling).
        dropped: Updates dropped because ``max_buffered`` were waiting unread.
        polling: True when the server lacks IDLE and the session polls with NOOP.

    Raises:
        ConnectionLost: From iterating or `wait`: the connection ended (after the updates
            received before it).
        CommandFailed: From iterating or `wait`: the server refused IDLE when it was
            re-issued (or NOOP).
        ImapTimeout: From iterating or `wait`: the server did not answer ``+`` or the tagged
            OK in time.
    """

    def __init__(
        self,
        client: ClientBase,
        *,
        restart_after: float = DEFAULT_RESTART_AFTER,
        poll_interval: float | None = None,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
    ) -> None:
        if restart_after <= 0:
            raise ValueError("restart_after must be positive")
        if poll_interval is not None and poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self._client = client
        self._restart_after = restart_after
        self._poll_interval = poll_interval
        self._max_buffered = max_buffered
        self.restarts = 0
        self.dropped = 0
        self.polling = False
        self._send: MemoryObjectSendStream[Response] | None = None
        self._receive: MemoryObjectReceiveStream[Response] | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._unregister: Callable[[], None] | None = None
        # Set to end the wait of the task (stop requested, or the IDLE command completed).
        self._wake = anyio.Event()
        self._stopping = False
        self._entered = False
        # What ended the session from inside (connection lost, IDLE refused), and whether
        # the iterator has raised it (else leaving the block does).
        self._error: BaseException | None = None
        self._error_raised = False
        # The IDLE command in flight, and whether its "+" has come.
        self._current: PendingCommand | None = None
        self._idling = False

    # -- the context manager ---------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("an IdleSession can be entered only once")
        self._entered = True
        client = self._client
        if not client.has_capability("IDLE"):
            if self._poll_interval is None:
                raise MissingCapability(
                    "IDLE",
                    "the server does not offer IDLE (pass poll_interval= to poll with NOOP)",
                )
            self.polling = True
        self._send, self._receive = anyio.create_memory_object_stream[Response](self._max_buffered)
        self._unregister = client.on_unsolicited(self._on_update)
        try:
            if not self.polling:
                await self._begin()
            task_group = anyio.create_task_group()
            await task_group.__aenter__()
        except BaseException:
            self._unregister()
            await self._end_current()
            self._send.close()
            self._receive.close()
            raise
        self._task_group = task_group
        task_group.start_soon(self._run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._request_stop()
        try:
            if self._task_group is not None:
                # The task ends IDLE itself once it sees the stop; the block's own exception
                # (if any) is not the task group's business, so it is not passed in (it
                # would come out wrapped in an exception group).
                await self._task_group.__aexit__(None, None, None)
        finally:
            if self._unregister is not None:
                self._unregister()
            # Still idling if the task was cancelled before it could end IDLE.
            await self._end_current()
            assert self._receive is not None
            self._receive.close()
        if exc is None and self._error is not None and not self._error_raised:
            self._error_raised = True
            raise self._error

    # -- the iterator ------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Response:
        """Return the next update; wait as long as it takes (see `wait` for a timeout)."""
        update = await self._next()
        if update is None:
            raise StopAsyncIteration
        return update

    async def wait(self, timeout: float | None = None) -> list[Response]:
        """Return the updates waiting, or wait up to ``timeout`` seconds for the first one.

        Returns:
            Every update available once there is one (in order), or ``[]`` if ``timeout``
            passed without any (or the session has ended).

        Raises:
            ConnectionLost: The connection ended (once the updates before it are taken).
        """
        batch: list[Response] = []
        ended = self._take_waiting(batch)  # even with a timeout of 0
        if batch:
            return batch  # if the stream has ended, the next call raises why
        if ended:
            await self._next()  # raises what ended the session, if anything did
            return []
        first = None
        with anyio.move_on_after(timeout):
            first = await self._next()
        if first is None:
            return []
        batch.append(first)
        self._take_waiting(batch)
        return batch

    def _take_waiting(self, batch: list[Response]) -> bool:
        """Move the updates waiting into ``batch``; return True if the stream has ended."""
        receive = self._receiving()
        while True:
            try:
                batch.append(receive.receive_nowait())
            except anyio.WouldBlock:
                return False
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return True

    def _receiving(self) -> MemoryObjectReceiveStream[Response]:
        if self._receive is None:
            raise RuntimeError("enter the session (async with client.idle() as updates) first")
        return self._receive

    async def _next(self) -> Response | None:
        try:
            return await self._receiving().receive()
        except anyio.EndOfStream:
            if self._error is not None:
                self._error_raised = True
                raise self._error from None
            return None
        except anyio.ClosedResourceError:  # the block was left
            return None

    # -- the task that keeps IDLE going ----------------------------------------------------

    def _on_update(self, response: Response) -> None:
        # Called by the reader for every untagged response nobody claimed. A handler rather
        # than the command's exchange stream, so the moment between one IDLE's OK and the
        # next IDLE (a restart), and the NOOPs when polling, lose nothing either.
        if self._send is None:
            return
        try:
            self._send.send_nowait(response)
        except anyio.WouldBlock:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("IDLE updates are not being read: dropping them")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    async def _run(self) -> None:
        assert self._send is not None
        try:
            if self.polling:
                await self._poll()
            else:
                await self._keep_idling()
        except Exception as exc:
            self._error = exc
        finally:
            self._send.close()

    async def _keep_idling(self) -> None:
        while True:
            pending = self._current
            assert pending is not None
            # Wait until the restart is due, the block is left (`_request_stop`), or the
            # server ends IDLE or the connection (the command's completion).
            pending.add_done_callback(self._wake.set)
            with anyio.move_on_after(self._restart_after):
                await self._wake.wait()
            if pending.done:
                # The server ended IDLE without DONE: the connection is gone (raises), or
                # it said so with a tagged response.
                self._current = None
                ended: StatusResponse | None = await pending.wait()
            else:
                ended = await self._end_current()
            if ended is not None and ended.status is not ResponseStatus.OK:
                raise CommandFailed(pending.name, ended)
            if self._stopping:
                return
            self._wake = anyio.Event()
            self.restarts += 1
            await self._begin()

    async def _poll(self) -> None:
        assert self._poll_interval is not None
        while True:
            await self._client.noop()  # its untagged responses reach _on_update
            with anyio.move_on_after(self._poll_interval):
                await self._wake.wait()
            if self._stopping:
                return
            self.restarts += 1

    def _request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _begin(self) -> None:
        """Send IDLE and wait for its ``+``."""
        client = self._client
        pending = PendingCommand(Idle(tag=client.next_tag()), exchange=True)
        await client.submit(pending)  # if it raises, nothing is in flight
        self._current, self._idling = pending, False
        try:
            with anyio.fail_after(client.timeout):
                await pending.continuation()
        except _Completed:
            # Refused (NO / BAD) instead of "+".
            self._current = None
            raise CommandFailed(pending.name, await pending.wait()) from None
        except TimeoutError:
            error = ImapTimeout(f"no answer to IDLE after {client.timeout} s")
            self._current = None
            await client.connection.aclose(error)
            raise error from None
        self._idling = True

    async def _end_current(self) -> StatusResponse | None:
        """End the IDLE in flight, if any: DONE, then its tagged response (None if it
        failed: that is for the iterator or the caller to see).

        Shielded, so that a cancelled block still leaves the connection usable; bounded by
        the client's timeout, after which the connection is closed (its state unknown).
        """
        pending, self._current = self._current, None
        if pending is None:
            return None
        conn = self._client.connection
        timeout = self._client.timeout if self._client.timeout is not None else _END_TIMEOUT
        with anyio.CancelScope(shield=True):
            try:
                with anyio.fail_after(timeout):
                    if not self._idling and not pending.done:
                        # DONE means something only after the "+" (cancelled before it).
                        with contextlib.suppress(_Completed, Exception):
                            await pending.continuation()
                    if not pending.done:
                        await conn.write_raw(ClientConnection.DONE)
                    return await pending.wait()
            except TimeoutError:
                error = ImapTimeout(f"no answer to DONE after {timeout} s")
                await conn.aclose(error)
                raise error from None
            except Exception as exc:  # the connection ended: nothing left to end
                log.debug("IDLE ended with %r", exc)
        return None


class IdleCommands(ClientBase):
    """IDLE and waiting for updates."""

    def idle(
        self,
        *,
        restart_after: float = DEFAULT_RESTART_AFTER,
        poll_interval: float | None = None,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
    ) -> IdleSession:
        """IDLE: ``async with client.idle() as updates:`` yields the server's updates.

        Args:
            restart_after: Seconds after which IDLE is re-issued (RFC 2177: at most 29
                minutes; servers may drop a client idle for 30), transparently.
            poll_interval: For servers without IDLE: send NOOP this often instead. None
                (the default): such a server makes entering the block raise.
            max_buffered: Updates kept for a consumer that does not keep up; more are
                dropped (and counted) rather than held without bound.

        Raises:
            MissingCapability: On entering the block: the server lacks IDLE and
                ``poll_interval`` is None.
            CommandFailed: On entering the block: the server refused IDLE.
            ConnectionLost: On entering the block: the connection ended.
        """
        return IdleSession(
            self,
            restart_after=restart_after,
            poll_interval=poll_interval,
            max_buffered=max_buffered,
        )

    async def idle_until(
        self,
        predicate: Callable[[Response], bool],
        timeout: float | None = None,
        *,
        restart_after: float = DEFAULT_RESTART_AFTER,
        poll_interval: float | None = None,
    ) -> Response:
        """IDLE until an update satisfies ``predicate``; return that update.

        ``predicate`` sees each update after the mailbox state (`ClientBase.mailbox`) took
        it into account, so it may test either. IDLE has ended when this returns.

        Args:
            predicate: Called with each update.
            timeout: Seconds to wait at most (None: no limit).
            restart_after: As for `idle`.
            poll_interval: As for `idle`.

        Raises:
            ImapTimeout: ``timeout`` passed first.
            ConnectionLost: The connection ended first.
        """
        async with self.idle(restart_after=restart_after, poll_interval=poll_interval) as updates:
            with anyio.move_on_after(timeout):
                async for update in updates:
                    if predicate(update):
                        return update
        raise ImapTimeout(f"no matching update within {timeout} s")
