"""The middleware pipeline: what a middleware is, and what it gets for each command."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from imap_wire import Command, StatusResponse

if TYPE_CHECKING:
    from ..connection import CommandContext, Connection

__all__ = ["CallNext", "CommandCall", "LoginGuard", "Middleware", "compose"]

log = logging.getLogger("imap_server")

#: Checks a user an authentication attempt names, before the login takes effect (for
#: LOGIN: before the password is checked); raises `AuthenticationFailed` to refuse.
LoginGuard = Callable[[str], Awaitable[None]]
#: Called once the command's tagged response has been written.
DoneCallback = Callable[["CommandCall", StatusResponse], None]


@dataclass(slots=True, eq=False, repr=False)
class CommandCall:
    """One command on its way through the pipeline.

    The command object itself holds the client's arguments (a LOGIN's password among them
    for a moment): a middleware that logs should log `name`, not `command`.

    Attributes:
        command: The parsed command.
        name: Its name, upper case (``"FETCH"``, ``"UID FETCH"``).
        tag: Its tag.
        context: The handler's context (connection, session, options).
        started: ``time.perf_counter()`` when the command was dispatched.
        auth_user: For LOGIN and AUTHENTICATE: the user the attempt named, once known.
        login_guards: Checks run on that user before the login takes effect (see
            `LoginGuard`); a middleware appends its own for the call.
    """

    command: Command
    name: str
    tag: str
    context: CommandContext
    started: float = field(default_factory=time.perf_counter)
    auth_user: str | None = None
    login_guards: list[LoginGuard] = field(default_factory=list)
    _in_mark: int = 0
    _out_mark: int = 0
    _done: list[DoneCallback] = field(default_factory=list)

    @property
    def connection(self) -> Connection:
        return self.context.connection

    @property
    def user(self) -> str | None:
        """The logged-in user (None before authentication)."""
        return self.context.connection.username

    @property
    def remote(self) -> str | None:
        """The client's IP address (None for a transport without one)."""
        remote = self.context.info.remote
        return remote[0] if remote is not None else None

    @property
    def bytes_in(self) -> int:
        """Octets the client sent for this command so far: its line(s) and literals, and
        for AUTHENTICATE and IDLE the lines of the exchange."""
        return self.context.connection.bytes_consumed - self._in_mark

    @property
    def bytes_out(self) -> int:
        """Octets of responses to this command so far (written or queued)."""
        return self.context.connection.bytes_queued - self._out_mark

    def elapsed(self) -> float:
        """Seconds since the command was dispatched."""
        return time.perf_counter() - self.started

    def when_done(self, callback: DoneCallback) -> None:
        """Call ``callback(call, response)`` once the tagged response has been written (or
        the connection failed writing it); `bytes_out` and `elapsed` are final then."""
        self._done.append(callback)

    def run_done_callbacks(self, response: StatusResponse) -> None:
        """Call every `when_done` callback; one that raises is logged and the others
        still run (a metrics bug must not silence the command log)."""
        for callback in self._done:
            try:
                callback(self, response)
            except Exception:
                log.exception("error in a when_done callback after %s", self.name)

    async def check_login(self, user: str) -> None:
        """Record ``user`` as the attempt's user and run the login guards on it (once: SCRAM
        names its user during the exchange and again when the login takes effect)."""
        if user == self.auth_user:
            return
        self.auth_user = user
        for guard in self.login_guards:
            await guard(user)

    def __repr__(self) -> str:
        # Never the command: its arguments may be credentials.
        return f"<CommandCall {self.tag} {self.name} remote={self.remote!r} user={self.user!r}>"


#: The rest of the pipeline, down to the handler.
CallNext = Callable[[CommandCall], Awaitable[StatusResponse]]


@runtime_checkable
class Middleware(Protocol):
    """One piece of the pipeline around command handling.

    ``await call_next(call)`` runs the rest of the pipeline and the handler and returns the
    tagged response (its tag set), which the middleware may return as is, replace, or not
    call at all (to refuse the command). Known failures (`CommandFailed`, store errors)
    already are responses there; anything else a handler raises comes out of
    ``call_next`` as an exception (see `Recovery`). The first middleware in
    ``Server(middleware=[...])`` is the outermost.
    """

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse: ...


def compose(middleware: Sequence[Middleware], innermost: CallNext) -> CallNext:
    """Chain ``middleware`` (first = outermost) around ``innermost``."""
    chain = innermost
    for piece in reversed(middleware):
        chain = _link(piece, chain)
    return chain


def _link(piece: Middleware, rest: CallNext) -> CallNext:
    async def call(c: CommandCall) -> StatusResponse:
        return await piece(c, rest)

    return call
