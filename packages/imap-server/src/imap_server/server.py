"""`Server`: listeners, configuration, and what every connection shares.

Typical embedding::

    store = MemoryStore()
    store.add_user("alice", "secret")
    server = Server(store)
    await server.serve(Listener("127.0.0.1", 1143))
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

import anyio
import anyio.abc
from anyio.abc import TaskStatus
from anyio.streams.tls import TLSAttribute, TLSStream

from imap_wire import (
    DEFAULT_SERVER_LIMITS,
    CapabilityCode,
    Limits,
    Registry,
    ResponseStatus,
    StatusResponse,
    default_registry,
    encode_response,
    parse_generic_modifier,
    response_code,
)

from .auth import (
    Authenticators,
    CertificateAuthenticator,
    CramMd5Authenticator,
    SaslMechanisms,
    SaslTransport,
    ScramAuthenticator,
    TokenAuthenticator,
)
from .connection import CommandContext, Connection
from .extensions import EnableHook, Handler, ServerExtension, load_extensions
from .handlers import BASE_HANDLERS
from .middleware import Middleware, default_middleware
from .session import ConnectionInfo, Session, StoreSession
from .store import Backend, PasswordAuthenticator
from .tracker import Tracker

__all__ = ["Listener", "PlaintextAuth", "Server"]

log = logging.getLogger("imap_server")

#: When LOGIN and AUTHENTICATE PLAIN are allowed without TLS: never, only from a loopback
#: address (the default), or always.
PlaintextAuth = Literal["never", "loopback", "always"]

# What the server implements beyond the IMAP4rev1 base, advertised in CAPABILITY.
# (Everything IMAP4rev2 folded into its base, so rev1 clients find them too.)
_BASE_CAPABILITIES = (
    "IMAP4rev1",
    "IMAP4rev2",
    "LITERAL+",
    "SASL-IR",
    "ID",
    "ENABLE",
    "IDLE",
    "NAMESPACE",
    "UNSELECT",
    "UIDPLUS",
    "ESEARCH",
    "SEARCHRES",
    "MOVE",
    "CHILDREN",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "BINARY",
    "STATUS=SIZE",
)


def _package_version() -> str:
    try:
        return version("imap-server")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


@dataclass(frozen=True, slots=True)
class Listener:
    """Where to accept connections.

    Attributes:
        host: Address to bind (``"127.0.0.1"``, ``"::"``, ``"0.0.0.0"``).
        port: Port (0: any free port; see `Server.ports`).
        tls: Implicit TLS (port 993 style) with this context; None for plain TCP, where
            STARTTLS is offered when the server has a ``tls_context``.
    """

    host: str
    port: int
    tls: ssl.SSLContext | None = None


class Server:
    """An IMAP server over a store.

    Args:
        backend: The store.
        authenticator: Checks passwords; default: the backend if it is a
            `PasswordAuthenticator` (as `MemoryStore` is).
        sasl: The AUTHENTICATE mechanisms offered (default: `SaslMechanisms()`: each
            mechanism whose authenticator is configured, except ANONYMOUS).
        scram_authenticator: Gives SCRAM stored keys; default: ``authenticator`` (or the
            backend it defaulted to) if it is a `ScramAuthenticator` (as `MemoryStore` is).
        cram_md5_authenticator: Gives CRAM-MD5 secrets (plaintext passwords); default: the
            same way, if it is a `CramMd5Authenticator`. Off otherwise.
        token_authenticator: Checks OAuth tokens (XOAUTH2, OAUTHBEARER); off when None.
        certificate_authenticator: Maps TLS client certificates to users (EXTERNAL); off
            when None. The TLS context must request client certificates.
        tls_context: Offered through STARTTLS on plain listeners (server side context with a
            certificate loaded).
        plaintext_auth: Whether LOGIN / AUTHENTICATE PLAIN are allowed on a connection that
            is not encrypted: ``"loopback"`` (default: only from 127.0.0.0/8 and ::1),
            ``"always"`` or ``"never"``.
        extensions: `ServerExtension` values, or names of installed ones (entry point group
            ``imap_server.extensions``).
        session_factory: Builds the `Session` of each connection (default: `StoreSession`).
        limits: Bounds on client input (line length, literal size, nesting...).
        server_id: What ``ID`` returns (RFC 2971).
        autologout: Seconds an authenticated client may stay silent (RFC 9051: at least 30
            minutes).
        unauthenticated_timeout: Seconds a client may stay silent before logging in.
        idle_timeout: Seconds an IDLE may last without the client saying anything.
        max_connections: Connections open at once, in total (default 1000). A client over
            the limit gets ``* BYE [UNAVAILABLE] Too many connections`` and is closed
            before a session is created. None: no limit.
        max_connections_per_address: Connections open at once from one remote IP address
            (the port is not part of the address; default 50). Same answer. None: no limit.
        max_bad_commands: Commands answered BAD in a row (by the parser or by a handler)
            after which the server says ``* BYE Too many invalid commands`` and closes the
            connection (default 10); any other completed command resets the count. None: no
            limit.
        write_timeout: Seconds a write to a client may wait for the client to read (default
            60). A client that does not read its responses (a FETCH of large bodies it never
            reads) is closed after that; until then it holds at most one buffer of output
            (64 KB) in the server. None: wait forever.
        max_literal_memory: Octets of literals (APPEND messages, mostly) the server holds
            while receiving them, all connections together (default 512 MiB). A literal
            that would go over is refused before its ``+`` with ``NO [UNAVAILABLE] Too much
            mail arriving at once; try again later``. Literals over 1 MiB are received into
            temporary files (`spool_directory`), not memory, but count here all the same:
            the limit also bounds that disk space, and a store that keeps bodies in memory
            or in its database reads them back. None: no limit.
        spool_directory: Where APPEND messages over 1 MiB are written while they arrive
            (`imap_server.spool.SpooledMessage`: unlinked files, gone when the command ends
            or the process dies). Default: the system's temporary directory (``TMPDIR``).
        middleware: The pipeline around each command, outermost first (default:
            `default_middleware()`: `Recovery` and `AuthThrottle`). See
            `imap_server.middleware`.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        authenticator: PasswordAuthenticator | None = None,
        sasl: SaslMechanisms | None = None,
        scram_authenticator: ScramAuthenticator | None = None,
        cram_md5_authenticator: CramMd5Authenticator | None = None,
        token_authenticator: TokenAuthenticator | None = None,
        certificate_authenticator: CertificateAuthenticator | None = None,
        tls_context: ssl.SSLContext | None = None,
        plaintext_auth: PlaintextAuth = "loopback",
        extensions: Sequence[ServerExtension | str] = (),
        session_factory: Callable[[Server, ConnectionInfo], Session] | None = None,
        limits: Limits = DEFAULT_SERVER_LIMITS,
        server_id: Mapping[str, str] | None = None,
        autologout: float = 30 * 60,
        unauthenticated_timeout: float = 60,
        idle_timeout: float = 30 * 60,
        tls_handshake_timeout: float = 30,
        greeting: str = "IMAP server ready",
        max_connections: int | None = 1000,
        max_connections_per_address: int | None = 50,
        max_bad_commands: int | None = 10,
        write_timeout: float | None = 60,
        max_literal_memory: int | None = 512 * 1024 * 1024,
        spool_directory: str | None = None,
        middleware: Sequence[Middleware] | None = None,
    ) -> None:
        for name, value in (
            ("max_connections", max_connections),
            ("max_connections_per_address", max_connections_per_address),
            ("max_bad_commands", max_bad_commands),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None for no limit)")
        self.backend = backend
        if authenticator is None and isinstance(backend, PasswordAuthenticator):
            authenticator = backend
        self.authenticator = authenticator
        # The password authenticator may serve other families too (MemoryStore does SCRAM).
        candidate: object = authenticator
        if scram_authenticator is None and isinstance(candidate, ScramAuthenticator):
            scram_authenticator = candidate
        if cram_md5_authenticator is None and isinstance(candidate, CramMd5Authenticator):
            cram_md5_authenticator = candidate
        self.authenticators = Authenticators(
            password=authenticator,
            scram=scram_authenticator,
            cram_md5=cram_md5_authenticator,
            token=token_authenticator,
            certificate=certificate_authenticator,
        )
        self.sasl = sasl if sasl is not None else SaslMechanisms()
        self.tls_context = tls_context
        self.plaintext_auth: PlaintextAuth = plaintext_auth
        self.limits = limits
        self.server_id: Mapping[str, str] = (
            server_id
            if server_id is not None
            else {"name": "imap-server", "version": _package_version()}
        )
        self.autologout = autologout
        self.unauthenticated_timeout = unauthenticated_timeout
        self.idle_timeout = idle_timeout
        self.tls_handshake_timeout = tls_handshake_timeout
        self.greeting_text = greeting
        self.max_connections = max_connections
        self.max_connections_per_address = max_connections_per_address
        self.max_bad_commands = max_bad_commands
        if write_timeout is not None and write_timeout <= 0:
            raise ValueError("write_timeout must be positive (or None to wait forever)")
        self.write_timeout = write_timeout
        if max_literal_memory is not None and max_literal_memory < 1:
            raise ValueError("max_literal_memory must be at least 1 (or None for no limit)")
        self.max_literal_memory = max_literal_memory
        self._literal_memory = 0
        self.spool_directory = spool_directory
        self.middleware: tuple[Middleware, ...] = tuple(
            default_middleware() if middleware is None else middleware
        )
        # Admitted connections (accepted, TLS handshakes included), in total and by address.
        self._open_connections = 0
        self._open_by_address: dict[str, int] = {}
        self.tracker = Tracker()
        self._session_factory = session_factory
        self.extensions: list[ServerExtension] = [ext for ext in _resolve_extensions(extensions)]
        self.wire_registry: Registry = default_registry().copy()
        # CREATE (USE (\Sent)): RFC 6154 CREATE-SPECIAL-USE, which the server implements.
        self.wire_registry.modifiers[("CREATE", "USE")] = parse_generic_modifier
        handlers: dict[str, Handler] = dict(BASE_HANDLERS)
        self._enable_hooks: dict[str, EnableHook] = {"IMAP4REV2": _enable_rev2}
        self._extra_capabilities: list[str] = []
        for ext in self.extensions:
            if ext.wire is not None:
                self.wire_registry.install(ext.name, ext.wire)
            handlers.update({name.upper(): h for name, h in ext.handlers.items()})
            for name, wrapper in ext.wrappers.items():
                key = name.upper()
                inner = handlers.get(key)
                if inner is None:
                    raise ValueError(f"extension {ext.name!r} wraps unknown command {name!r}")
                handlers[key] = wrapper(inner)
            self._enable_hooks.update({n.upper(): h for n, h in ext.on_enable.items()})
            self._extra_capabilities.extend(ext.capabilities)
        self.handlers: Mapping[str, Handler] = handlers
        #: Ports bound by `serve`, in listener order (useful with port 0).
        self.ports: list[int] = []
        self.connections: set[Connection] = set()

    # -- configuration the connections ask for ----------------------------------------------------

    def handler_for(self, name: str) -> Handler | None:
        return self.handlers.get(name)

    def capabilities(
        self, conn: Connection, *, authenticated: bool | None = None
    ) -> tuple[str, ...]:
        """The capability list for a connection in its present state."""
        if authenticated is None:
            authenticated = conn.username is not None
        caps = list(dict.fromkeys(_BASE_CAPABILITIES))
        if not authenticated:
            if self.tls_context is not None and not conn.info.tls:
                caps.append("STARTTLS")
            plaintext = self.plaintext_auth_allowed(conn.info)
            transport = self.sasl_transport(conn)
            for spec in self.sasl.usable(self.authenticators, transport):
                if plaintext or not spec.plaintext:
                    caps.append(f"AUTH={spec.name}")
            if not plaintext:
                caps.append("LOGINDISABLED")
        caps.extend(c for c in self._extra_capabilities if c not in caps)
        return tuple(caps)

    def sasl_transport(self, conn: Connection) -> SaslTransport:
        """What the SASL mechanisms need to know about a connection (TLS, channel binding,
        client certificate)."""
        ssl_object: ssl.SSLObject | None = conn.stream.extra(TLSAttribute.ssl_object, None)
        return self.sasl.transport(ssl_object, tls=conn.info.tls)

    def plaintext_auth_allowed(self, info: ConnectionInfo) -> bool:
        if info.tls or self.plaintext_auth == "always":
            return True
        if self.plaintext_auth == "never":
            return False
        return info.remote is not None and _is_loopback(info.remote[0])

    def greeting(self, conn: Connection) -> StatusResponse:
        return StatusResponse(
            tag=None,
            status=ResponseStatus.OK,
            code=CapabilityCode(capabilities=self.capabilities(conn)),
            text=self.greeting_text,
        )

    async def authenticate(
        self, ctx: CommandContext, username: str, password: str, authzid: str | None
    ) -> str:
        """Check credentials through the session (LOGIN, AUTHENTICATE PLAIN / LOGIN), after
        the middleware's login guards (`AuthThrottle`'s lockout)."""
        await ctx.connection.login_attempt(username)
        return await ctx.session.login(username, password, authzid=authzid)

    def enable(self, ctx: CommandContext, capability: str) -> bool:
        hook = self._enable_hooks.get(capability)
        return hook is not None and hook(ctx)

    def reserve_literal_memory(self, size: int) -> bool:
        """Count ``size`` octets of a literal about to be received, if the server's
        ``max_literal_memory`` allows it."""
        limit = self.max_literal_memory
        if limit is not None and self._literal_memory + size > limit:
            log.warning("refused a %d-octet literal: %d arriving", size, self._literal_memory)
            return False
        self._literal_memory += size
        return True

    def release_literal_memory(self, size: int) -> None:
        self._literal_memory -= size

    @property
    def literal_memory(self) -> int:
        """Octets of literals being received or waiting for their command to run."""
        return self._literal_memory

    def note_bad_command(self, conn: Connection) -> None:
        """Called for each command answered BAD by the parser (a hook for logging and metrics;
        the connection itself counts BAD answers against ``max_bad_commands``)."""

    def command_done(
        self, conn: Connection, name: str, status: ResponseStatus, seconds: float
    ) -> None:
        """Called after each command (hook for logging and metrics)."""
        log.debug("%s %s %.3f ms", name, status.value, seconds * 1000)

    def new_session(self, info: ConnectionInfo) -> Session:
        if self._session_factory is not None:
            return self._session_factory(self, info)
        return StoreSession(self.backend, self.tracker, authenticator=self.authenticator, info=info)

    # -- serving ----------------------------------------------------------------------------------

    async def handle_stream(self, stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
        """Serve one client on an already accepted stream (any transport).

        The connection limits apply (``max_connections``, ``max_connections_per_address``).
        """
        host = info.remote[0] if info.remote is not None else None
        if not self._admit(host):
            await self._refuse(stream, host)
            return
        try:
            await self._run_connection(stream, info)
        finally:
            self._release(host)

    def _admit(self, host: str | None) -> bool:
        """Count a new connection from ``host`` if the limits allow it."""
        limit = self.max_connections
        if limit is not None and self._open_connections >= limit:
            return False
        if host is not None:
            per_address = self.max_connections_per_address
            count = self._open_by_address.get(host, 0)
            if per_address is not None and count >= per_address:
                return False
            self._open_by_address[host] = count + 1
        self._open_connections += 1
        return True

    def _release(self, host: str | None) -> None:
        self._open_connections -= 1
        if host is not None:
            count = self._open_by_address[host] - 1
            if count:
                self._open_by_address[host] = count
            else:
                del self._open_by_address[host]

    async def _refuse(self, stream: anyio.abc.ByteStream, host: str | None) -> None:
        """Say ``* BYE [UNAVAILABLE]`` to a client over a connection limit and close."""
        log.info("refused a connection from %s: too many connections", host)
        with anyio.move_on_after(5):
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await stream.send(_TOO_MANY_CONNECTIONS)
        await anyio.aclose_forcefully(stream)

    async def _run_connection(self, stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
        conn = Connection(self, stream, info, self.new_session(info))
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)

    async def _accept(self, stream: anyio.abc.SocketStream, listener: Listener) -> None:
        remote = local = None
        try:
            sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            remote = _address(stream.extra(anyio.abc.SocketAttribute.remote_address))
            local = _address(stream.extra(anyio.abc.SocketAttribute.local_address))
        except (OSError, anyio.TypedAttributeLookupError):
            pass
        host = remote[0] if remote is not None else None
        # Admitted before the TLS handshake, so that handshakes in progress count too.
        if not self._admit(host):
            if listener.tls is None:
                await self._refuse(stream, host)
                return
            try:
                with anyio.fail_after(self.tls_handshake_timeout):
                    tls_stream = await TLSStream.wrap(
                        stream, server_side=True, ssl_context=listener.tls,
                        standard_compatible=False,
                    )  # fmt: skip
            except Exception:
                await anyio.aclose_forcefully(stream)
                return
            await self._refuse(tls_stream, host)
            return
        try:
            await self._accept_admitted(stream, listener, remote, local)
        finally:
            self._release(host)

    async def _accept_admitted(
        self,
        stream: anyio.abc.SocketStream,
        listener: Listener,
        remote: tuple[str, int] | None,
        local: tuple[str, int] | None,
    ) -> None:
        byte_stream: anyio.abc.ByteStream = stream
        if listener.tls is not None:
            try:
                with anyio.fail_after(self.tls_handshake_timeout):
                    byte_stream = await TLSStream.wrap(
                        stream, server_side=True, ssl_context=listener.tls,
                        standard_compatible=False,
                    )  # fmt: skip
            except Exception:
                log.info("TLS handshake with %s failed", remote)
                await anyio.aclose_forcefully(stream)
                return
        info = ConnectionInfo(remote=remote, local=local, tls=listener.tls is not None)
        try:
            await self._run_connection(byte_stream, info)
        except Exception:  # pragma: no cover - Connection.run handles its own errors
            log.exception("connection from %s failed", remote)

    async def serve(
        self,
        *listeners: Listener,
        task_status: TaskStatus[list[int]] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept connections on every listener until cancelled.

        With ``await task_group.start(server.serve, ...)`` the start returns the bound ports
        once every listener accepts connections.
        """
        await self.backend.start()
        self.tracker.attach(self.backend)
        try:
            self.ports = []
            bound: list[tuple[anyio.abc.Listener[anyio.abc.SocketStream], Listener]] = []
            try:
                for spec in listeners:
                    # Bound in order, each port recorded as it goes: after an OSError, the
                    # listener that failed is listeners[len(self.ports)].
                    tcp = await anyio.create_tcp_listener(
                        local_host=spec.host, local_port=spec.port
                    )
                    bound.append((tcp, spec))
                    self.ports.append(_listener_port(tcp))
            except BaseException:
                for opened, _ in bound:
                    await anyio.aclose_forcefully(opened)
                raise
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._reap_silent_connections)
                for listener, spec in bound:
                    tg.start_soon(self._serve_listener, listener, spec)
                task_status.started(list(self.ports))
        finally:
            self.tracker.detach()
            with anyio.CancelScope(shield=True):
                await self.backend.aclose()

    async def _reap_silent_connections(self) -> None:
        """Close connections that waited for their client longer than their timeout.

        One task for all connections, waking a few times per shortest timeout, instead of a
        timer per read: reads are the hot path, silent clients are rare.
        """
        timeouts = [self.unauthenticated_timeout, self.autologout, self.idle_timeout]
        if self.write_timeout is not None:
            timeouts.append(self.write_timeout)
        interval = min(1.0, *(t / 4 for t in timeouts))
        async with anyio.create_task_group() as tg:
            while True:
                await anyio.sleep(interval)
                now = time.monotonic()
                for conn in tuple(self.connections):
                    if conn.expired(now):
                        tg.start_soon(conn.time_out)

    async def _serve_listener(
        self, tcp: anyio.abc.Listener[anyio.abc.SocketStream], spec: Listener
    ) -> None:
        async with tcp:
            await tcp.serve(lambda stream: self._accept(stream, spec))


_TOO_MANY_CONNECTIONS = encode_response(
    StatusResponse(
        tag=None,
        status=ResponseStatus.BYE,
        code=response_code("UNAVAILABLE"),
        text="Too many connections",
    )
)


def _enable_rev2(ctx: CommandContext) -> bool:
    ctx.options.rev2 = True
    return True


def _resolve_extensions(items: Sequence[ServerExtension | str]) -> list[ServerExtension]:
    names = [i for i in items if isinstance(i, str)]
    loaded = iter(load_extensions(names)) if names else iter(())
    return [next(loaded) if isinstance(i, str) else i for i in items]


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def _listener_port(listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> int:
    sockets = getattr(listener, "listeners", [listener])
    addr = sockets[0].extra(anyio.abc.SocketAttribute.local_address)
    return int(addr[1])


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
