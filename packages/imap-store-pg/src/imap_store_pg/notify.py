"""Change notifications between processes: PostgreSQL LISTEN/NOTIFY.

Every transaction that changes a mailbox runs ``pg_notify('imap_changes', '<mailbox id>')``;
PostgreSQL delivers it at commit to every connection listening on the channel. Each `PgStore`
keeps one dedicated connection listening, and passes each payload to
`Backend.notify_change`, which wakes the sessions of this process that have the mailbox open
(asyncpg runs the callback on the event loop).

A notification is only a hint (the tracker always asks the store what changed), but a missed
one would leave a session asleep until its next command. So when the listening connection
drops, the listener reconnects (with backoff) and then reports every mailbox this process has
cached as changed, since notifications sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg

__all__ = ["CHANNEL", "ChangeListenerConnection"]

CHANNEL = "imap_changes"
_log = logging.getLogger("imap_store_pg.notify")
_RETRY_FIRST = 0.1
_RETRY_MAX = 5.0


class ChangeListenerConnection:
    """One LISTEN connection, reconnected when it drops."""

    def __init__(
        self,
        dsn: str,
        on_change: Callable[[str], None],
        cached_ids: Callable[[], Iterable[int]],
        connect_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._dsn = dsn
        self._on_change = on_change
        self._cached_ids = cached_ids
        self._connect_kwargs = connect_kwargs or {}
        self._conn: Any = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Connect and LISTEN (errors propagate: the caller translates them)."""
        await self._connect()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn, **self._connect_kwargs)
        try:
            await conn.add_listener(CHANNEL, self._notified)
            conn.add_termination_listener(self._terminated)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self._on_change(payload)

    def _terminated(self, conn: Any) -> None:
        if self._closed or conn is not self._conn:
            return
        self._conn = None
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = _RETRY_FIRST
        while not self._closed:
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                _log.warning("LISTEN connection lost, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            _log.info("LISTEN connection re-established")
            # Whatever was notified while we were away is lost: report every mailbox.
            for mailbox_id in self._cached_ids():
                self._on_change(str(mailbox_id))
            return

    async def aclose(self) -> None:
        self._closed = True
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5)
