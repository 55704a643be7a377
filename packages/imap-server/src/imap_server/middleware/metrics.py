"""`Metrics`: a hook with each command's figures, for Prometheus, StatsD or a log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imap_wire import ResponseStatus, StatusResponse

from ._pipeline import CallNext, CommandCall

__all__ = ["CommandMetrics", "Metrics"]


@dataclass(frozen=True, slots=True)
class CommandMetrics:
    """The figures of one completed command.

    Attributes:
        name: Command name, upper case (``"UID FETCH"``).
        status: The tagged response's status.
        code: Its response code's name (``"TRYCREATE"``), or None.
        duration: Seconds from dispatch to the tagged response written.
        bytes_in: Octets the client sent for the command (line, literals, exchange).
        bytes_out: Octets of responses, the tagged one included.
        user: The logged-in user after the command, or None.
        remote: The client's IP address, or None.
    """

    name: str
    status: ResponseStatus
    code: str | None
    duration: float
    bytes_in: int
    bytes_out: int
    user: str | None
    remote: str | None


class Metrics:
    """Call ``observe(CommandMetrics)`` after each command.

    ``observe`` runs on the event loop after the response is written: it should only
    update counters (a ``prometheus_client`` Counter/Histogram does); an exception it
    raises is the application's bug and is logged by the connection, not sent to the
    client.
    """

    def __init__(self, observe: Callable[[CommandMetrics], None]) -> None:
        self.observe = observe

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        call.when_done(self._done)
        return await call_next(call)

    def _done(self, call: CommandCall, response: StatusResponse) -> None:
        self.observe(
            CommandMetrics(
                name=call.name,
                status=response.status,
                code=str(response.code.name) if response.code is not None else None,
                duration=call.elapsed(),
                bytes_in=call.bytes_in,
                bytes_out=call.bytes_out,
                user=call.user,
                remote=call.remote,
            )
        )
