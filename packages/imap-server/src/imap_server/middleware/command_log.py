"""`CommandLog`: one log line per command."""

from __future__ import annotations

import logging

from imap_wire import StatusResponse

from ._pipeline import CallNext, CommandCall

__all__ = ["CommandLog"]


class CommandLog:
    """Log one line per command, once its tagged response is written::

        127.0.0.1 alice a7 UID FETCH OK 2.4ms in=52 out=18211

    Fields: client address, user (for LOGIN and AUTHENTICATE before success: the user the
    attempt named, else ``-``), tag, command name, status and response code, duration,
    octets in and out. Arguments are never logged (they may be passwords, tokens, or mail
    content), so nothing needs redacting.

    Args:
        logger: Where to log (default ``imap_server.commands``).
        level: The level of each line (default INFO).
    """

    def __init__(self, *, logger: logging.Logger | None = None, level: int = logging.INFO):
        self.logger = logger if logger is not None else logging.getLogger("imap_server.commands")
        self.level = level

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        if self.logger.isEnabledFor(self.level):
            call.when_done(self._log)
        return await call_next(call)

    def _log(self, call: CommandCall, response: StatusResponse) -> None:
        status = response.status.value
        if response.code is not None:
            status = f"{status} [{response.code.name}]"
        self.logger.log(
            self.level,
            "%s %s %s %s %s %.1fms in=%d out=%d",
            call.remote or "-",
            call.user or call.auth_user or "-",
            call.tag,
            call.name,
            status,
            call.elapsed() * 1000,
            call.bytes_in,
            call.bytes_out,
        )
