"""`Recovery`: a handler's unexpected exception becomes ``NO [SERVERBUG]``, not a dead
connection."""

from __future__ import annotations

import logging

import anyio

from imap_wire import (
    LocalProtocolError,
    ProtocolError,
    ResponseStatus,
    StatusResponse,
    response_code,
)

from ..errors import ConnectionClosedError
from ._pipeline import CallNext, CommandCall

__all__ = ["Recovery"]


class Recovery:
    """Answer a command whose handler raised an unexpected exception, and keep going.

    The exception is logged with its traceback (on ``logger``, default ``imap_server``);
    the client gets ``NO [SERVERBUG]`` (RFC 5530), or ``BAD`` with the parser's message
    when the exception is an `imap_wire.ProtocolError` (a handler that parses its own
    arguments found them malformed), except a `LocalProtocolError` (a response the server
    could not encode: a server bug). The connection lives on.

    Failures a handler means to report (`CommandFailed`, store errors) are responses before
    they reach here. Place `Recovery` first to cover the other middleware too; the
    connection has the same rule as a last resort for anything that escapes the pipeline.
    """

    def __init__(self, *, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger("imap_server")

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        try:
            return await call_next(call)
        except (ConnectionClosedError, anyio.get_cancelled_exc_class()):
            raise
        except ProtocolError as exc:
            if isinstance(exc, LocalProtocolError):
                # A response the server could not encode: its bug, not the client's.
                self.logger.exception("error in %s (user %s)", call.name, call.user)
                return server_bug(call.tag)
            self.logger.info("%s: %s", call.name, exc)
            return StatusResponse(tag=call.tag, status=ResponseStatus.BAD, text=str(exc))
        except Exception:
            self.logger.exception(
                "error in %s (user %s, from %s)", call.name, call.user, call.remote
            )
            return server_bug(call.tag)


def server_bug(tag: str) -> StatusResponse:
    """``<tag> NO [SERVERBUG] internal server error``."""
    return StatusResponse(
        tag=tag,
        status=ResponseStatus.NO,
        code=response_code("SERVERBUG"),
        text="internal server error",
    )
