"""`CommandTimeout`: a handler that runs too long is cancelled and the client told so."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import anyio

from imap_wire import ResponseStatus, StatusResponse, response_code

from ..errors import ConnectionClosedError
from ._pipeline import CallNext, CommandCall

__all__ = ["DEFAULT_TIMEOUT_EXEMPT", "CommandTimeout"]

log = logging.getLogger("imap_server")

#: Commands that wait for the client by design (their waits have their own timeouts:
#: ``Server(idle_timeout=...)``, ``unauthenticated_timeout``, ``tls_handshake_timeout``).
DEFAULT_TIMEOUT_EXEMPT: frozenset[str] = frozenset({"IDLE", "AUTHENTICATE", "STARTTLS"})


class CommandTimeout:
    """Cancel a command's handler after ``seconds`` and answer ``NO [LIMIT]``.

    Cancellation is anyio's: the handler stops at its next await, its cancel scopes and
    ``finally`` blocks run, and nothing keeps running afterwards. Untagged responses it
    had produced are still sent (they are whole); if the cancellation cut a write to the
    client in the middle, the connection is closed instead, as the client could not tell
    where the response ended.

    Args:
        seconds: The limit for every command not listed in ``per_command``.
        per_command: Limits for particular commands (``{"SEARCH": 120}``).
        exempt: Commands without a limit (default: IDLE, AUTHENTICATE, STARTTLS, which
            wait for the client by design).
    """

    def __init__(
        self,
        seconds: float = 300.0,
        *,
        per_command: Mapping[str, float] | None = None,
        exempt: Iterable[str] = DEFAULT_TIMEOUT_EXEMPT,
    ) -> None:
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        self.seconds = seconds
        self.per_command = {k.upper(): v for k, v in (per_command or {}).items()}
        self.exempt = frozenset(name.upper() for name in exempt)

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        if call.name in self.exempt:
            return await call_next(call)
        limit = self.per_command.get(call.name, self.seconds)
        with anyio.move_on_after(limit):
            return await call_next(call)
        if call.connection.output_broken:
            raise ConnectionClosedError("command timed out while writing to the client")
        log.warning(
            "%s from %s (user %s) cancelled after %.1f s", call.name, call.remote, call.user, limit
        )
        return StatusResponse(
            tag=call.tag,
            status=ResponseStatus.NO,
            code=response_code("LIMIT"),
            text=f"{call.name} took too long and was cancelled",
        )
