"""`ClientBase`: connection lifecycle and command running, under `AsyncClient`.

`AsyncClient` (in ``client.py``) is this class plus one mixin per group of commands, each in
its own module (``_mailboxes.py``, ``_messages.py``, ``_auth.py``, ``_idle.py`` ...), all
subclasses of `ClientBase`.

::

    async with AsyncClient("imap.example.com") as client:  # implicit TLS, port 993
        await client.login("alice", "secret")
        info = await client.select("INBOX")
        for msg in await client.fetch("1:*", ["UID", "FLAGS", "ENVELOPE"]):
            print(msg.uid, msg.envelope.subject)

Every method sends its command at once and returns when its tagged response arrives, so
commands started from several tasks are pipelined on one connection (`Connection` sequences
those that must not be). `submit` is the low-level form: it returns the `PendingCommand`.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from typing import Self

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from imap_wire import (
    DEFAULT_CLIENT_LIMITS,
    Capability,
    CapabilityCode,
    CapabilityResponse,
    Command,
    Limits,
    Login,
    Logout,
    Noop,
    Registry,
    Response,
    ResponseStatus,
    StartTLS,
    StatusResponse,
)
from imap_wire import ClientConnection as WireConnection

from ._core import Connection, PendingCommand, UnsolicitedHandler, set_nodelay
from .errors import (
    AuthenticationFailed,
    CommandFailed,
    ConnectionLost,
    ImapConnectionError,
    ImapTimeout,
)
from .state import MailboxState

__all__ = ["ClientBase"]

IMAP_PORT = 143
IMAPS_PORT = 993


class ClientBase:
    """An IMAP connection: use `AsyncClient` as ``async with AsyncClient(host, ...) as client``.

    Args:
        host: The server's name or address.
        port: Default 993 with implicit TLS, else 143.
        tls: Implicit TLS (the default; port 993).
        starttls: Connect in plaintext and upgrade with STARTTLS before anything else;
            refuses to go on if the server does not offer it.
        ssl_context: The TLS context; default `ssl.create_default_context()`: the system
            trust store and host name checking, never a silent fallback to no verification.
        connect_timeout: Seconds to connect, TLS handshake and greeting included.
        timeout: Seconds a command may take (None: no limit). IDLE has its own.
        registry: The `imap_wire` grammar in force (extensions).
        limits: Bounds on what the server may send.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        tls: bool = True,
        starttls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 30.0,
        timeout: float | None = 120.0,
        registry: Registry | None = None,
        limits: Limits = DEFAULT_CLIENT_LIMITS,
    ) -> None:
        if tls and starttls:
            raise ValueError("choose implicit TLS (tls=True) or STARTTLS, not both")
        self.host = host
        self.port = port if port is not None else (IMAPS_PORT if tls else IMAP_PORT)
        self.tls = tls
        self.starttls = starttls
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._registry = registry
        self._limits = limits
        self._conn: Connection | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        # Leaving the block logs out, as `Client` does; after an error or a cancellation it
        # only closes (a LOGOUT could wait on a connection that is not well).
        if exc_type is None:
            await self.logout()
        else:
            await self.aclose()

    async def connect(self) -> StatusResponse:
        """Open the connection (and TLS); return the greeting.

        Call `aclose` from the same task (it ends the task group the reader runs in);
        ``async with`` does both.

        Raises:
            ImapConnectionError: The connection, the TLS handshake or the greeting failed.
            ImapTimeout: Over ``connect_timeout``.
        """
        if self._stack is not None:
            raise RuntimeError("already connected")
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            greeting = await self._open(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return greeting

    async def _open(self, stack: contextlib.AsyncExitStack) -> StatusResponse:
        # The reader's task group is entered first: cancel scopes (the timeout's) must nest.
        task_group = await stack.enter_async_context(anyio.create_task_group())
        try:
            with anyio.fail_after(self.connect_timeout):
                stream: anyio.abc.ByteStream = await anyio.connect_tcp(self.host, self.port)
                # Closed even if the TLS handshake fails (the socket would leak).
                stack.push_async_callback(anyio.aclose_forcefully, stream)
                set_nodelay(stream)
                if self.tls:
                    stream = await TLSStream.wrap(
                        stream, hostname=self.host, ssl_context=self._context(),
                        standard_compatible=False,
                    )  # fmt: skip
                wire = WireConnection(registry=self._registry, limits=self._limits)
                conn = Connection(stream, wire=wire)
                stack.push_async_callback(conn.aclose)
                greeting = await conn.start(task_group)
                self._conn = conn
                if greeting.status is ResponseStatus.BYE:
                    raise ConnectionLost(f"server refused the connection: {greeting.text}")
                if self.starttls:
                    await self._starttls(conn)
        except TimeoutError:
            raise ImapTimeout(f"connecting to {self.host}:{self.port} timed out") from None
        except ssl.SSLError as exc:  # before OSError, of which it is a subclass
            raise ImapConnectionError(f"TLS with {self.host}:{self.port} failed: {exc}") from exc
        except OSError as exc:
            raise ImapConnectionError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return greeting

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context if self.ssl_context is not None else ssl.create_default_context()

    async def _starttls(self, conn: Connection) -> None:
        if "STARTTLS" not in await self.capability():
            raise ImapConnectionError("the server does not offer STARTTLS")
        await self._run(StartTLS(tag=conn.next_tag()))
        if conn.wire.plaintext_injected:
            raise ImapConnectionError("the server sent data after STARTTLS before TLS")
        conn.stream = await TLSStream.wrap(
            conn.stream, hostname=self.host, ssl_context=self._context(), standard_compatible=False
        )
        conn.resume_reading()
        # What was learnt before TLS is forgotten (RFC 9051 section 6.2.1).
        await self.capability()

    async def aclose(self) -> None:
        """Close the connection (without LOGOUT); fail pending commands. Idempotent."""
        stack, self._stack = self._stack, None
        if stack is not None:
            try:
                if self._conn is not None:
                    await self._conn.aclose()
            finally:
                # Even when cancelled: the reader's task group must be left, or anyio
                # raises for a cancel scope exited out of order.
                await stack.aclose()

    async def logout(self) -> None:
        """LOGOUT, then close. Idempotent; a connection already gone is not an error."""
        conn = self._conn
        if conn is not None and not conn.closed.is_set():
            with contextlib.suppress(ConnectionLost, CommandFailed), anyio.move_on_after(10):
                await self._run(Logout(tag=conn.next_tag()))
        await self.aclose()

    # -- state ------------------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise ImapConnectionError("not connected")
        return self._conn

    @property
    def capabilities(self) -> frozenset[str]:
        """The server's capabilities as last announced (upper case)."""
        return self.connection.wire.capabilities

    def has_capability(self, name: str) -> bool:
        return name.upper() in self.connection.wire.capabilities

    @property
    def mailbox(self) -> MailboxState:
        """The selected mailbox's state, kept current from the server's responses."""
        return self.connection.mailbox

    @property
    def closed(self) -> anyio.Event:
        """Set when the connection has ended; `close_cause` says why."""
        return self.connection.closed

    @property
    def close_cause(self) -> BaseException | None:
        return self.connection.close_cause

    def on_unsolicited(self, handler: UnsolicitedHandler) -> Callable[[], None]:
        """Call ``handler(response)`` for every untagged response no command claimed
        (EXISTS, EXPUNGE, FETCH FLAGS, BYE...); returns a function that unregisters it."""
        handlers = self.connection.handlers
        handlers.append(handler)
        return lambda: handlers.remove(handler) if handler in handlers else None

    # -- running commands ----------------------------------------------------------------------

    def next_tag(self) -> str:
        return self.connection.next_tag()

    async def submit(self, pending: PendingCommand) -> PendingCommand:
        """Send a command now (low level); await ``pending.wait()`` for the result."""
        return await self.connection.submit(pending)

    async def _run(
        self,
        command: Command,
        claims: Callable[[Response], bool] | None = None,
        *,
        pending: PendingCommand | None = None,
        failure: type[CommandFailed] = CommandFailed,
    ) -> PendingCommand:
        """Send a command and wait for it; raise `CommandFailed` on NO / BAD."""
        pending = pending or PendingCommand(command, claims=claims)
        try:
            with anyio.fail_after(self.timeout):
                await self.connection.submit(pending)
                result = await pending.wait()
        except TimeoutError:
            error = ImapTimeout(f"{pending.name} timed out after {self.timeout} s")
            if pending.started and not pending.done:
                # Sent and not answered: where its late answer would come, and the state
                # it leaves, are unknown, and the commands that must wait for it (SELECT,
                # LOGIN, LOGOUT ...) would wait forever. The connection is given up.
                with anyio.CancelScope(shield=True):
                    await self.connection.aclose(ConnectionLost(f"connection closed: {error}"))
            raise error from None
        if result.status is not ResponseStatus.OK:
            raise failure(pending.name, result)
        return pending

    # -- any state -------------------------------------------------------------------------------

    async def capability(self) -> frozenset[str]:
        """CAPABILITY: ask the server again."""
        await self._run(
            Capability(tag=self.next_tag()), lambda r: isinstance(r, CapabilityResponse)
        )
        return self.capabilities

    async def noop(self) -> None:
        """NOOP: lets the server send pending updates (see `mailbox`)."""
        await self._run(Noop(tag=self.next_tag()))

    # -- authentication -------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> None:
        """LOGIN (refused with `ImapConnectionError`, before anything is sent, when the server
        says LOGINDISABLED: use TLS).

        Raises:
            AuthenticationFailed: Wrong credentials (or refused for another reason).
        """
        if self.has_capability("LOGINDISABLED"):
            raise ImapConnectionError("the server disables LOGIN on this connection (use TLS)")
        pending = await self._run(
            Login(tag=self.next_tag(), username=username, password=password),
            failure=AuthenticationFailed,
        )
        await self._after_authentication(pending)

    async def _after_authentication(self, pending: PendingCommand) -> None:
        # Capabilities change once authenticated (RFC 9051 section 6.2.3): most servers put
        # the new list in the OK; otherwise ask.
        result = pending.result
        if result is None or not isinstance(result.code, CapabilityCode):
            await self.capability()
