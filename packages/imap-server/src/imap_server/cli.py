"""The ``imap-server`` command (also ``python -m imap_server``).

``imap-server serve`` runs a server over a store named by URL (see `imap_server.stores`);
``imap-server demo`` runs one over an in-memory account full of sample mail, and prints how to
connect to it. Run ``imap-server serve --help`` for the options.

Output: one line per listener once it accepts connections goes to stderr, whatever the log
level (``imap-server: listening on 127.0.0.1:1143 (plain, STARTTLS)``; with port 0 it shows the
port the system chose, so scripts and tests can read it), as do the log and error messages.
With the default ``--log-level INFO`` that includes one line per command (logger
``imap_server.commands``; ``--no-command-log`` turns it off). The demo's instructions go to stdout.

``serve``'s options, by group (each documented, with its default, in ``--help``):

- listeners, TLS and users: ``--listen``, ``--tls-listen``, ``--cert``, ``--key``, ``--store``,
  ``--user``, ``--plaintext-auth``, ``--tls-min-version``, ``--sasl``;
- limits: ``--max-connections``, ``--max-connections-per-address``, ``--max-bad-commands``,
  ``--max-line-length``, ``--max-literal-size``, ``--max-literal-memory``, ``--max-nesting``;
- timeouts: ``--unauthenticated-timeout``, ``--autologout``, ``--idle-timeout``,
  ``--write-timeout``, ``--tls-handshake-timeout``;
- middleware (the pipeline is CommandLog, Recovery, RateLimit, AuthThrottle, CommandTimeout):
  ``--command-timeout``, ``--rate-limit``, ``--rate-limit-per-address``, ``--auth-delay``,
  ``--auth-max-delay``, ``--auth-window``, ``--auth-lockout-address``, ``--auth-lockout-user``,
  ``--no-auth-throttle``, ``--no-command-log``.

`server_options` turns the parsed options into `Server` keyword arguments without starting
anything.

Exit codes: 0 after SIGINT or SIGTERM (a clean shutdown; a second signal exits at once, with 1),
2 for bad arguments and errors that stop the server from starting (port in use, unreadable
certificate, unknown store), each reported in one line without a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import inspect
import ipaddress
import logging
import math
import os
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn, TypedDict

import anyio

from imap_wire import DEFAULT_SERVER_LIMITS, Limits

from . import demo
from .auth import DEFAULT_MECHANISMS, SaslMechanisms
from .memory import MemoryStore
from .middleware import (
    AuthThrottle,
    CommandLog,
    CommandTimeout,
    Middleware,
    RateLimit,
    Recovery,
)
from .server import Listener, PlaintextAuth, Server
from .store import Backend, StoreError
from .stores import open_store, redact_url

__all__ = [
    "Address",
    "CliError",
    "ServerOptions",
    "build_parser",
    "main",
    "middleware_pipeline",
    "parse_address",
    "parse_user",
    "server_options",
    "tls_context",
]

PROG = "imap-server"
DEFAULT_LISTEN = "127.0.0.1:1143"
DEFAULT_STORE = "memory://"
#: Exit code for bad arguments and for errors that keep the server from starting (as argparse).
EXIT_ERROR = 2

log = logging.getLogger("imap_server.cli")

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# bind() failures that are about the address asked for, not about the store or the system.
_LISTEN_ERRNOS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})
#: ``--tls-min-version`` choices.
TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}
DEFAULT_TLS_VERSION = "1.2"
# serve's defaults (those of Server and of the middleware, which tests check they match).
DEFAULT_UNAUTHENTICATED_TIMEOUT = 60.0
DEFAULT_AUTOLOGOUT = 30 * 60.0
DEFAULT_IDLE_TIMEOUT = 30 * 60.0
DEFAULT_WRITE_TIMEOUT = 60.0
DEFAULT_TLS_HANDSHAKE_TIMEOUT = 30.0
DEFAULT_MAX_LITERAL_MEMORY = 512 * 1024 * 1024
DEFAULT_COMMAND_TIMEOUT = 300.0
DEFAULT_RATE_LIMIT = 500.0
DEFAULT_RATE_LIMIT_PER_ADDRESS = 2000.0
DEFAULT_AUTH_DELAY = 0.5
DEFAULT_AUTH_MAX_DELAY = 8.0
DEFAULT_AUTH_WINDOW = 15 * 60.0
DEFAULT_AUTH_LOCKOUT_ADDRESS = 100
DEFAULT_AUTH_LOCKOUT_USER = 20
#: RFC 9051 section 5.4: an autologout timer must be at least 30 minutes.
RFC_MIN_AUTOLOGOUT = 30 * 60


class CliError(Exception):
    """An error to report in one line on stderr, exiting with `EXIT_ERROR` (no traceback)."""


# -- arguments --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    """A host and port to listen on (``HOST:PORT``; IPv6 as ``[::1]:143``)."""

    host: str
    port: int

    def __str__(self) -> str:
        return format_address(self.host, self.port)


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> Address:
    """Parse ``HOST:PORT`` or ``[IPV6]:PORT``.

    Example:
        >>> parse_address("[::1]:143")
        Address(host='::1', port=143)

    Raises:
        ValueError: Not of that form, or the port is not 0 to 65535.
    """
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [IPV6]:PORT, got {text!r}")
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])  # a zone index (%eth0) may follow
        except ValueError:
            raise ValueError(f"not an IPv6 address in brackets: {text!r}") from None
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"expected HOST:PORT, got {text!r}")
        if ":" in host:
            raise ValueError(f"write an IPv6 address in brackets, as in [::1]:143: {text!r}")
    if not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"the port must be a number from 0 to 65535, got {port!r}")
    return Address(host, int(port))


def parse_user(text: str) -> tuple[str, str]:
    """Parse ``NAME:PASSWORD`` (the password may hold colons, the name may not).

    Raises:
        ValueError: No colon, or an empty name.
    """
    name, sep, password = text.partition(":")
    if not sep or not name:
        raise ValueError(f"expected NAME:PASSWORD, got {name or text!r}")
    return name, password


def _argument_type(parse: Callable[[str], object]) -> Callable[[str], object]:
    """Wrap a parser for argparse, which turns ArgumentTypeError into a usage error."""

    def convert(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in _LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"invalid log level {text!r} (choose from {', '.join(_LOG_LEVELS)})"
        )
    return level


def _limit(text: str) -> int | None:
    """A limit option: a count, or 0 for no limit (None)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid count {text!r} (0 or more; 0: no limit)")
    return value or None


def _number(text: str, what: str, *, zero: str | None = None, whole: bool = False) -> float:
    """A finite number of at least 1 (``whole``) or more than 0, or 0 when ``zero`` says
    what 0 means."""
    try:
        value = float(int(text)) if whole else float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and zero is None):
        allowed = f"0 or more; 0: {zero}" if zero is not None else "more than 0"
        if whole and zero is None:
            allowed = "1 or more"
        raise argparse.ArgumentTypeError(f"invalid {what} {text!r} ({allowed})")
    return value


def _size(text: str) -> int:
    """A size or depth: a whole number, 1 or more."""
    return int(_number(text, "number", whole=True))


def _seconds(text: str) -> float:
    """A timeout or window: seconds, more than 0."""
    return _number(text, "number of seconds")


def _seconds_or_off(text: str) -> float | None:
    """A timeout that 0 turns off (None)."""
    return _number(text, "number of seconds", zero="off") or None


def _delay(text: str) -> float:
    """A delay: seconds, 0 or more."""
    return _number(text, "number of seconds", zero="no delay")


def _rate(text: str) -> float | None:
    """A rate: per second, or 0 for no limit (None)."""
    return _number(text, "rate", zero="no limit") or None


def _tls_version(text: str) -> str:
    if text not in TLS_VERSIONS:
        raise argparse.ArgumentTypeError(
            f"invalid TLS version {text!r} (choose from {', '.join(TLS_VERSIONS)})"
        )
    return text


_KNOWN_MECHANISMS = (*DEFAULT_MECHANISMS, "ANONYMOUS")


def _sasl_mechanisms(text: str) -> tuple[str, ...]:
    """A comma-separated list of built-in SASL mechanism names (case-insensitive)."""
    names = tuple(dict.fromkeys(name.strip().upper() for name in text.split(",")))
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated SASL mechanism names, got {text!r}"
        )
    try:
        SaslMechanisms(enabled=names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (known: {', '.join(_KNOWN_MECHANISMS)})") from None
    return names


def _package_version() -> str:
    try:
        return version("imap-server")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "(source tree)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``imap-server`` command."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="An IMAP4rev2 / IMAP4rev1 server on anyio."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # Options both commands take, so that they may follow the command name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level",
        type=_log_level,
        default="INFO",
        metavar="LEVEL",
        help=f"log messages at this level and above to stderr ({', '.join(_LOG_LEVELS)}; "
        "default: INFO)",
    )
    address = _argument_type(parse_address)

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="serve a store",
        description="Serve a store over IMAP until SIGINT or SIGTERM.",
    )
    serve.add_argument(
        "--listen",
        action="append",
        type=address,
        metavar="HOST:PORT",
        help=f"accept plain connections here (repeatable; IPv6 as [::1]:143; port 0: any "
        f"free port; default: {DEFAULT_LISTEN}). STARTTLS is offered when --cert is given",
    )
    serve.add_argument(
        "--tls-listen",
        action="append",
        default=[],
        type=address,
        metavar="HOST:PORT",
        help="accept implicit-TLS connections here, as on port 993 (repeatable; needs --cert)",
    )
    serve.add_argument("--cert", metavar="FILE", help="TLS certificate chain (PEM)")
    serve.add_argument(
        "--key", metavar="FILE", help="TLS private key (PEM; default: in the --cert file)"
    )
    serve.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="URL",
        help=f"the store to serve; its scheme picks an installed store (default: {DEFAULT_STORE})",
    )
    serve.add_argument(
        "--user",
        action="append",
        default=[],
        dest="users",
        type=_argument_type(parse_user),
        metavar="NAME:PASSWORD",
        help="create this user in the store before serving (repeatable; stores that can "
        "create users, such as memory://). Note that other local users can see the "
        "command line",
    )
    serve.add_argument(
        "--plaintext-auth",
        choices=("never", "loopback", "always"),
        default="loopback",
        help="when the LOGIN command and AUTHENTICATE PLAIN and LOGIN work without TLS: "
        "never (TLS or STARTTLS is required even from loopback: LOGINDISABLED is advertised "
        "and LOGIN is answered NO [PRIVACYREQUIRED]), only from loopback addresses "
        "(default), or always",
    )
    serve.add_argument(
        "--tls-min-version",
        type=_tls_version,
        metavar="{" + ",".join(TLS_VERSIONS) + "}",
        help="the oldest TLS version accepted, for --tls-listen and STARTTLS; clients that "
        f"cannot speak it fail the handshake (needs --cert; default: {DEFAULT_TLS_VERSION})",
    )
    serve.add_argument(
        "--sasl",
        type=_sasl_mechanisms,
        metavar="MECHANISMS",
        help="comma-separated SASL mechanisms AUTHENTICATE offers, in this order; each is "
        "still offered only where the store supports it and the connection allows it "
        "(see --plaintext-auth). ANONYMOUS, off by default, lets anyone log in as the user "
        f"'anonymous' (default: all but ANONYMOUS: {', '.join(DEFAULT_MECHANISMS)})",
    )
    _add_limit_options(serve)
    _add_timeout_options(serve)
    _add_middleware_options(serve)
    serve.set_defaults(run=_serve_command, command_parser=serve)

    demo_parser = commands.add_parser(
        "demo",
        parents=[common],
        help="serve sample mail from memory, to try a client",
        description=f"Serve an in-memory account ({demo.DEMO_USER} / {demo.DEMO_PASSWORD}) "
        "with sample messages and folders, and print how to connect. Nothing is saved.",
    )
    demo_parser.add_argument(
        "--listen",
        type=address,
        default=parse_address(DEFAULT_LISTEN),
        metavar="HOST:PORT",
        help=f"accept connections here (default: {DEFAULT_LISTEN})",
    )
    demo_parser.set_defaults(run=_demo_command, command_parser=demo_parser)
    return parser


def _add_limit_options(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("limits")
    group.add_argument(
        "--max-connections",
        type=_limit,
        default=1000,
        metavar="N",
        help="connections open at once, in total; a client over the limit is told "
        "BYE [UNAVAILABLE] (0: no limit; default: 1000)",
    )
    group.add_argument(
        "--max-connections-per-address",
        type=_limit,
        default=50,
        metavar="N",
        help="connections open at once from one IP address; a client over the limit is told "
        "BYE [UNAVAILABLE] (0: no limit; default: 50)",
    )
    group.add_argument(
        "--max-bad-commands",
        type=_limit,
        default=10,
        metavar="N",
        help="commands answered BAD in a row after which the connection is closed with BYE "
        "(0: no limit; default: 10)",
    )
    limits = DEFAULT_SERVER_LIMITS
    group.add_argument(
        "--max-line-length",
        type=_size,
        default=limits.max_line_length,
        metavar="OCTETS",
        help="longest command line, literals not included; a longer one is skipped and "
        f"answered BAD (default: {limits.max_line_length})",
    )
    group.add_argument(
        "--max-literal-size",
        type=_size,
        default=limits.max_literal_size,
        metavar="OCTETS",
        help="largest literal (an APPEND's message, for one) accepted; a larger one is "
        f"refused with NO [TOOBIG] (default: {limits.max_literal_size}, "
        f"{limits.max_literal_size // 1024 // 1024} MiB)",
    )
    group.add_argument(
        "--max-literal-memory",
        type=_limit,
        default=DEFAULT_MAX_LITERAL_MEMORY,
        metavar="OCTETS",
        help="octets of literals the server holds while receiving them, all connections "
        "together; a literal that would go over is refused with NO [UNAVAILABLE] before "
        f"the client sends it (0: no limit; default: {DEFAULT_MAX_LITERAL_MEMORY}, "
        f"{DEFAULT_MAX_LITERAL_MEMORY // 1024 // 1024} MiB)",
    )
    group.add_argument(
        "--max-nesting",
        type=_size,
        default=limits.max_depth,
        metavar="DEPTH",
        help="deepest nesting of parenthesised lists in a command; deeper is answered BAD "
        f"(default: {limits.max_depth})",
    )


def _add_timeout_options(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("timeouts (in seconds, fractions allowed)")
    group.add_argument(
        "--unauthenticated-timeout",
        type=_seconds,
        default=DEFAULT_UNAUTHENTICATED_TIMEOUT,
        metavar="SECONDS",
        help="how long a client that has not logged in may stay silent before it is told BYE "
        f"and disconnected (default: {DEFAULT_UNAUTHENTICATED_TIMEOUT:g})",
    )
    group.add_argument(
        "--autologout",
        type=_seconds,
        default=DEFAULT_AUTOLOGOUT,
        metavar="SECONDS",
        help="how long a logged-in client may stay silent before it is told BYE and "
        "disconnected. RFC 9051 (section 5.4) requires at least 30 minutes (1800); lower "
        f"values are accepted with a warning at startup (default: {DEFAULT_AUTOLOGOUT:g})",
    )
    group.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="how long a client may stay in IDLE without sending DONE before it is "
        f"disconnected (default: {DEFAULT_IDLE_TIMEOUT:g})",
    )
    group.add_argument(
        "--write-timeout",
        type=_seconds_or_off,
        default=DEFAULT_WRITE_TIMEOUT,
        metavar="SECONDS",
        help="how long a write to a client that does not read may wait before the "
        f"connection is closed (0: wait forever; default: {DEFAULT_WRITE_TIMEOUT:g})",
    )
    group.add_argument(
        "--tls-handshake-timeout",
        type=_seconds,
        default=DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        metavar="SECONDS",
        help="how long a TLS handshake (--tls-listen or STARTTLS) may take before the "
        f"connection is closed (default: {DEFAULT_TLS_HANDSHAKE_TIMEOUT:g})",
    )


def _add_middleware_options(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group(
        "middleware",
        "Each command passes through CommandLog, Recovery, RateLimit, AuthThrottle and "
        "CommandTimeout, in that order (see imap_server.middleware).",
    )
    group.add_argument(
        "--command-timeout",
        type=_seconds_or_off,
        default=DEFAULT_COMMAND_TIMEOUT,
        metavar="SECONDS",
        help="a command running longer is cancelled and answered NO [LIMIT] (IDLE, "
        "AUTHENTICATE and STARTTLS are exempt: they wait for the client; 0: off; "
        f"default: {DEFAULT_COMMAND_TIMEOUT:g})",
    )
    group.add_argument(
        "--rate-limit",
        type=_rate,
        default=DEFAULT_RATE_LIMIT,
        metavar="PER_SECOND",
        help="commands per second on one connection (bursts of twice that are allowed); "
        "commands over the rate are delayed, up to 2 seconds, then answered NO [LIMIT] "
        f"(LOGOUT is exempt; 0: no limit; default: {DEFAULT_RATE_LIMIT:g})",
    )
    group.add_argument(
        "--rate-limit-per-address",
        type=_rate,
        default=DEFAULT_RATE_LIMIT_PER_ADDRESS,
        metavar="PER_SECOND",
        help="commands per second from one IP address, all its connections together, "
        "limited as --rate-limit "
        f"(0: no limit; default: {DEFAULT_RATE_LIMIT_PER_ADDRESS:g})",
    )
    group.add_argument(
        "--auth-delay",
        type=_delay,
        default=DEFAULT_AUTH_DELAY,
        metavar="SECONDS",
        help="how long the answer to a failed LOGIN or AUTHENTICATE is held back; it doubles "
        "with each further failure from the same address or for the same user, up to "
        f"--auth-max-delay (default: {DEFAULT_AUTH_DELAY:g})",
    )
    group.add_argument(
        "--auth-max-delay",
        type=_delay,
        default=DEFAULT_AUTH_MAX_DELAY,
        metavar="SECONDS",
        help="the longest such delay; not less than --auth-delay "
        f"(default: {DEFAULT_AUTH_MAX_DELAY:g})",
    )
    group.add_argument(
        "--auth-window",
        type=_seconds,
        default=DEFAULT_AUTH_WINDOW,
        metavar="SECONDS",
        help="how long failed logins are remembered (and a lockout lasts) after the last "
        f"one (default: {DEFAULT_AUTH_WINDOW:g})",
    )
    group.add_argument(
        "--auth-lockout-address",
        type=_limit,
        default=DEFAULT_AUTH_LOCKOUT_ADDRESS,
        metavar="N",
        help="failed logins from one IP address after which its logins are all refused "
        "until --auth-window passes without another "
        f"(0: never; default: {DEFAULT_AUTH_LOCKOUT_ADDRESS})",
    )
    group.add_argument(
        "--auth-lockout-user",
        type=_limit,
        default=DEFAULT_AUTH_LOCKOUT_USER,
        metavar="N",
        help="failed logins naming one user after which that user's logins are all refused, "
        "even with the right password, until --auth-window passes without another; anyone "
        "can lock a known user out this way "
        f"(0: never; default: {DEFAULT_AUTH_LOCKOUT_USER})",
    )
    group.add_argument(
        "--no-auth-throttle",
        dest="auth_throttle",
        action="store_false",
        help="no delays or lockouts after failed logins; the --auth-* options are ignored "
        "(default: AuthThrottle on)",
    )
    group.add_argument(
        "--no-command-log",
        dest="command_log",
        action="store_false",
        help="do not log one line per command (client address, user, tag, command, status, "
        "duration, octets; never arguments) to the logger imap_server.commands at INFO, "
        "which --log-level INFO shows (default: CommandLog on)",
    )


# -- shared pieces ----------------------------------------------------------------------------


def make_tls_context(
    cert: str,
    key: str | None = None,
    *,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A server-side TLS context (``minimum_version`` or later, default TLS 1.2) with the
    certificate and key loaded.

    Raises:
        CliError: The files cannot be read, do not match, or the key is encrypted.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = minimum_version

    def no_passphrase() -> NoReturn:
        # Without a callback OpenSSL would prompt on the terminal, and hang a service.
        raise CliError(f"the private key in {key or cert} is encrypted; give an unencrypted key")

    try:
        context.load_cert_chain(cert, key, password=no_passphrase)
    except ssl.SSLError as exc:
        # reason is OpenSSL's short code (KEY_VALUES_MISMATCH...); "PEM lib" says little.
        reason: str | None = exc.reason
        detail = reason if reason and reason != "PEM lib" else "not a PEM certificate and key"
        raise CliError(
            f"cannot load TLS certificate {cert} / key {key or cert}: {detail}"
        ) from None
    except OSError as exc:  # missing or unreadable (OpenSSL does not say which file)
        files = f"{cert} / key {key}" if key else cert
        raise CliError(f"cannot read TLS certificate {files}: {exc.strerror or exc}") from None
    return context


class ServerOptions(TypedDict):
    """`Server` keyword arguments that ``serve``'s options set (all but the TLS context)."""

    plaintext_auth: PlaintextAuth
    sasl: SaslMechanisms
    limits: Limits
    max_connections: int | None
    max_connections_per_address: int | None
    max_bad_commands: int | None
    max_literal_memory: int | None
    unauthenticated_timeout: float
    autologout: float
    idle_timeout: float
    write_timeout: float | None
    tls_handshake_timeout: float
    middleware: list[Middleware]


def server_options(args: argparse.Namespace) -> ServerOptions:
    """The `Server` keyword arguments for ``serve``'s parsed ``args`` (no I/O: the TLS
    context is `tls_context`'s)."""
    limits = dataclasses.replace(
        DEFAULT_SERVER_LIMITS,
        max_line_length=args.max_line_length,
        max_literal_size=args.max_literal_size,
        max_depth=args.max_nesting,
    )
    return ServerOptions(
        plaintext_auth=args.plaintext_auth,
        sasl=SaslMechanisms(
            enabled=args.sasl, server_certificate=_server_certificate(getattr(args, "cert", None))
        ),
        limits=limits,
        max_connections=args.max_connections,
        max_connections_per_address=args.max_connections_per_address,
        max_bad_commands=args.max_bad_commands,
        max_literal_memory=args.max_literal_memory,
        unauthenticated_timeout=args.unauthenticated_timeout,
        autologout=args.autologout,
        idle_timeout=args.idle_timeout,
        write_timeout=args.write_timeout,
        tls_handshake_timeout=args.tls_handshake_timeout,
        middleware=middleware_pipeline(args),
    )


def middleware_pipeline(args: argparse.Namespace) -> list[Middleware]:
    """CommandLog, Recovery, RateLimit, AuthThrottle, CommandTimeout, as ``args`` set them;
    one turned off (by a ``--no-...`` option or 0) is left out."""
    pipeline: list[Middleware] = []
    if args.command_log:
        pipeline.append(CommandLog())
    pipeline.append(Recovery())
    if args.rate_limit is not None or args.rate_limit_per_address is not None:
        pipeline.append(RateLimit(args.rate_limit, args.rate_limit_per_address))
    if args.auth_throttle:
        pipeline.append(
            AuthThrottle(
                base_delay=args.auth_delay,
                max_delay=args.auth_max_delay,
                window=args.auth_window,
                address_lockout_after=args.auth_lockout_address,
                user_lockout_after=args.auth_lockout_user,
            )
        )
    if args.command_timeout is not None:
        pipeline.append(CommandTimeout(args.command_timeout))
    return pipeline


def _server_certificate(path: str | None) -> bytes | None:
    """The first certificate of ``--cert`` (DER), for SCRAM-PLUS's ``tls-server-end-point``
    channel binding; None without one (an unreadable file is `tls_context`'s to report)."""
    if not path:
        return None
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            pem = file.read()
        end = pem.index(_PEM_END) + len(_PEM_END)
        return ssl.PEM_cert_to_DER_cert(pem[pem.index(_PEM_BEGIN) : end])
    except (OSError, ValueError):
        return None


_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS context ``serve``'s ``--cert``, ``--key`` and ``--tls-min-version`` ask for.

    Raises:
        CliError: As `make_tls_context`.
    """
    if not args.cert:
        return None
    version = TLS_VERSIONS[args.tls_min_version or DEFAULT_TLS_VERSION]
    return make_tls_context(args.cert, args.key, minimum_version=version)


def _warn_about(args: argparse.Namespace, tls: ssl.SSLContext | None) -> None:
    """Log settings that work but are probably not what was meant."""
    if args.plaintext_auth == "never" and tls is None:
        log.warning("--plaintext-auth never without --cert: no client can log in")
    if args.autologout < RFC_MIN_AUTOLOGOUT:
        log.warning(
            "--autologout %g is below the 30 minutes (%d s) RFC 9051 section 5.4 requires",
            args.autologout,
            RFC_MIN_AUTOLOGOUT,
        )


async def _add_users(store: Backend, users: Sequence[tuple[str, str]], url: str) -> None:
    if not users:
        return
    add_user = getattr(store, "add_user", None)
    if not callable(add_user):
        raise CliError(
            f"--user: the store {redact_url(url)} cannot create users "
            "(it has no add_user method; create them with the store's own tools)"
        )
    for name, password in users:
        try:
            result = add_user(name, password)
            if inspect.isawaitable(result):  # an async store
                await result
        except ValueError as exc:
            raise CliError(f"--user {name}: {exc}") from None
        log.info("added user %s", name)


def _listening_line(address: str, listener: Listener, starttls: bool) -> str:
    if listener.tls is not None:
        kind = "TLS"
    elif starttls:
        kind = "plain, STARTTLS"
    else:
        kind = "plain"
    return f"{PROG}: listening on {address} ({kind})"


async def _serve(
    server: Server,
    listeners: Sequence[Listener],
    on_ready: Callable[[list[int]], None] | None = None,
) -> None:
    """Run ``server`` on ``listeners`` until cancelled; announce each one once it accepts."""
    try:
        async with anyio.create_task_group() as tg:
            ports: list[int] = await tg.start(server.serve, *listeners)
            for listener, port in zip(listeners, ports, strict=True):
                line = _listening_line(
                    format_address(listener.host, port), listener, server.tls_context is not None
                )
                print(line, file=sys.stderr, flush=True)
            if on_ready is not None:
                on_ready(ports)
    except BaseExceptionGroup as group:
        bind_error = _bind_error(group)
        if bind_error is None:
            raise
        # Server.serve binds the listeners in order, recording each port as it goes: the
        # one that failed is the first without a port.
        failed = len(server.ports)
        where = ""
        if failed < len(listeners):  # else serve changed how it binds: say less, not wrong
            where = f" {format_address(listeners[failed].host, listeners[failed].port)}"
        hint = " (ports below 1024 need privileges)" if bind_error.errno == errno.EACCES else ""
        detail = bind_error.strerror or str(bind_error)
        raise CliError(f"cannot listen on{where}: {detail}{hint}") from None


def _bind_error(group: BaseExceptionGroup[BaseException]) -> OSError | None:
    """The bind failure in ``group``, if that is all the group holds."""
    leaves = _leaves(group)
    if len(leaves) == 1 and isinstance(leaves[0], OSError):
        exc = leaves[0]
        if isinstance(exc, socket.gaierror) or exc.errno in _LISTEN_ERRNOS:
            return exc
    return None


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions in a (possibly nested) exception group, or ``[exc]``."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


# -- the commands -----------------------------------------------------------------------------


async def _serve_command(args: argparse.Namespace) -> None:
    tls = tls_context(args)
    url: str = args.store
    try:
        store = await open_store(url)
    except (ValueError, TypeError) as exc:
        raise CliError(f"--store {redact_url(url)}: {exc}") from None
    log.info("store: %s", redact_url(url))
    await _add_users(store, args.users, url)
    _warn_about(args, tls)
    server = Server(store, tls_context=tls, **server_options(args))
    plain: list[Address] = args.listen or [parse_address(DEFAULT_LISTEN)]
    tls_addresses: list[Address] = args.tls_listen
    listeners = [Listener(a.host, a.port) for a in plain]
    listeners += [Listener(a.host, a.port, tls=tls) for a in tls_addresses]
    await _serve(server, listeners)


async def _demo_command(args: argparse.Namespace) -> None:
    store = MemoryStore()
    store.add_user(demo.DEMO_USER, demo.DEMO_PASSWORD)
    await demo.populate(store, demo.DEMO_USER)
    address: Address = args.listen
    # The demo has no TLS and nothing secret: let mail clients on other machines log in
    # without encryption too (the instructions say "no encryption").
    server = Server(store, plaintext_auth="always")

    def instructions(ports: list[int]) -> None:
        print(demo_instructions(address.host, ports[0]), flush=True)

    await _serve(server, [Listener(address.host, address.port)], instructions)


def demo_instructions(host: str, port: int) -> str:
    """How to connect to the demo server listening on ``host``:``port``."""
    # A wildcard address is where to listen, not where to connect.
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    user, password = demo.DEMO_USER, demo.DEMO_PASSWORD
    one_liner = (
        f"import imaplib; m = imaplib.IMAP4({host!r}, {port}); m.login({user!r}, {password!r}); "
        "m.select('INBOX'); "
        "print(*(p[1].decode().strip() for p in "
        "m.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])')[1] "
        "if isinstance(p, tuple)), sep='\\n'); m.logout()"
    )
    return f"""\
imap-server demo: sample mail served from memory (nothing is saved).

Mail client settings (IMAP):
  server:    {host}
  port:      {port}
  security:  none (no SSL/TLS, no STARTTLS)
  username:  {user}
  password:  {password}

From Python:
  python -c "{one_liner}"

Stop the server with Ctrl-C."""


# -- running ----------------------------------------------------------------------------------


async def _stop_on_signal(
    signals: AsyncIterator[signal.Signals], serving: anyio.CancelScope
) -> None:
    """First SIGINT / SIGTERM: stop serving. A second one: exit at once."""
    async for signum in signals:
        name = signal.Signals(signum).name
        if not serving.cancel_called:
            log.info("received %s, shutting down", name)
            serving.cancel()
        else:
            # Shutdown is stuck (a store that does not close): do not make the user wait.
            log.warning("received %s again, exiting now", name)
            logging.shutdown()
            os._exit(1)


async def _run(
    command: Callable[[argparse.Namespace], Awaitable[None]], args: argparse.Namespace
) -> None:
    # The handlers go in before anything starts, so a signal during startup stops cleanly too.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            serving = anyio.CancelScope()
            tg.start_soon(_stop_on_signal, signals, serving)
            with serving:
                await command(args)
            tg.cancel_scope.cancel()  # stops the signal watcher
    log.info("stopped")


def _configure_logging(level: str) -> None:
    # basicConfig does nothing when the root logger already has handlers (an application
    # embedding main, pytest): their logging setup wins.
    logging.basicConfig(level=level, format=_LOG_FORMAT, stream=sys.stderr)


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return EXIT_ERROR


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and cross-check the arguments; usage errors raise SystemExit (argparse's way)."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        command_parser: argparse.ArgumentParser = args.command_parser
        if args.tls_listen and not args.cert:
            command_parser.error("--tls-listen needs --cert (and --key)")
        if args.key and not args.cert:
            command_parser.error("--key needs --cert")
        if args.tls_min_version and not args.cert:
            command_parser.error("--tls-min-version needs --cert")
        if args.auth_max_delay < args.auth_delay:
            command_parser.error("--auth-max-delay must not be less than --auth-delay")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``imap-server`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 after a clean shutdown (SIGINT, SIGTERM), 2 for bad arguments or
        when the server cannot start.
    """
    try:
        args = _parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse printed them
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    _configure_logging(args.log_level)
    try:
        anyio.run(_run, args.run, args, backend="asyncio")
    except KeyboardInterrupt:
        # SIGINT before the signal handlers were in place (while starting up).
        return 0
    except BaseException as exc:
        leaves = _leaves(exc)
        if not all(isinstance(leaf, CliError | StoreError | OSError) for leaf in leaves):
            raise
        # Expected failures (bad certificate, port in use, store down): one line each.
        for leaf in leaves:
            _error(_describe(leaf))
        return EXIT_ERROR
    return 0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, StoreError):
        return f"store: {exc}"
    # OSError's str() has the errno and, for connections, the address: the most telling.
    return str(exc) or type(exc).__name__
