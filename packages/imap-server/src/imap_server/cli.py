"""The ``imap-server`` command (also ``python -m imap_server``).

``imap-server serve`` runs a server over a store named by URL (see `imap_server.stores`);
``imap-server demo`` runs one over an in-memory account full of sample mail, and prints how to
connect to it. Run ``imap-server serve --help`` for the options.

Administration of a persistent store (one implementing `imap_server.accounts.SchemaAdmin` and
`imap_server.accounts.AccountAdmin`, such as PostgreSQL):

- ``imap-server db upgrade --store URL`` creates the schema or applies the migrations it lacks
  (servers refuse to start on an older schema); ``imap-server db version --store URL`` prints
  the version the database is at;
- ``imap-server user add|passwd|del|list --store URL [NAME]`` creates an account, changes its
  password, deletes it (with its mail, without asking) or lists the accounts. Passwords are
  never taken from the command line: with a terminal on stdin they are asked for twice
  (``getpass``), otherwise the first line of stdin is the password (without its newline).

Output: one line per listener once it accepts connections goes to stderr, whatever the log
level (``imap-server: listening on 127.0.0.1:1143 (plain, STARTTLS)``; with port 0 it shows the
port the system chose, so scripts and tests can read it), as do the log and error messages.
With the default ``--log-level INFO`` that includes one line per command (logger
``imap_server.commands``; ``--no-command-log`` turns it off). The demo's instructions go to stdout.

``serve``'s options, by group (each documented, with its default, in ``--help``):

- listeners, TLS and users: ``--listen``, ``--tls-listen``, ``--cert``, ``--key``, ``--store``,
  ``--user``, ``--plaintext-auth``, ``--tls-min-version``, ``--sasl``;
- limits: ``--max-connections``, ``--max-connections-per-address``, ``--max-bad-commands``,
  ``--max-line-length``, ``--max-literal-size``, ``--max-literal-memory``,
  ``--spool-directory``, ``--max-nesting``;
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
certificate, unknown store), each reported in one line without a traceback. The ``db`` and
``user`` commands exit with 0 when done, 1 when the account named does not exist (``passwd``,
``del``) or exists already (``add``), 2 for bad arguments, a store that cannot do what was
asked, a refused password or a store error (such as a schema older than the store needs), and
130 when interrupted (Ctrl-C at the password prompt).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import getpass
import inspect
import ipaddress
import logging
import math
import os
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn, TypedDict

import anyio

from imap_wire import DEFAULT_SERVER_LIMITS, Limits

from . import demo
from .accounts import (
    AccountAdmin,
    AccountExists,
    GarbageCollector,
    NoSuchAccount,
    SchemaAdmin,
)
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
    "read_password",
    "server_options",
    "tls_context",
]

PROG = "imap-server"
DEFAULT_LISTEN = "127.0.0.1:1143"
DEFAULT_STORE = "memory://"
#: Exit code for bad arguments and for errors that keep the server from starting (as argparse).
EXIT_ERROR = 2
#: Exit code of ``user`` commands when the account named is missing (or, for ``add``, exists).
EXIT_FAILURE = 1
#: Exit code after Ctrl-C in a ``db`` or ``user`` command (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

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
#: `imap-server gc --older-than`: an orphan younger than this may be an APPEND in progress.
DEFAULT_GC_AGE = 3600.0
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
    """An error to report in one line on stderr, exiting with `exit_code` (no traceback)."""

    #: The command's exit code when this error stops it.
    exit_code: int = EXIT_ERROR


class _AccountError(CliError):
    """The account named does not exist, or (``user add``) exists already."""

    exit_code = EXIT_FAILURE


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


def _age(text: str) -> float:
    """An age: seconds, 0 or more."""
    return _number(text, "number of seconds", zero="any age")


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
    _add_admin_commands(commands, common)
    return parser


def _password_help(command: str) -> str:
    return (
        "The password is never taken from the command line: when stdin is a terminal it is "
        "asked for twice (hidden), otherwise the first line of stdin is the password (without "
        f"its newline), as in: printf '%s\\n' \"$PASSWORD\" | imap-server user {command} "
        "--store URL NAME. An empty password is refused."
    )


def _add_admin_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """The ``db`` and ``user`` commands, which administer a persistent store."""
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--store",
        required=True,
        metavar="URL",
        help="the store; its scheme picks an installed store, e.g. postgresql://user@host/mail "
        "(a password in the URL is never shown in messages)",
    )
    parents = [common, store]

    db = commands.add_parser(
        "db",
        help="create or upgrade a store's database schema",
        description="Manage the schema of a store that keeps one (such as PostgreSQL). Run "
        "'imap-server db upgrade' on a new database and after installing a new version of the "
        "store, before starting servers: they refuse a database whose schema is too old.",
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser(
        "upgrade",
        parents=parents,
        help="create the schema, or apply the migrations it lacks",
        description="Create the store's schema in an empty database, or apply the migrations "
        "an existing one lacks, in order, each in one transaction; then print the schema "
        "version the database is at and the migrations applied. Running it again does "
        "nothing, and several runs at once are safe (they take turns).",
    )
    upgrade.set_defaults(run=_db_upgrade_command, admin=True)
    db_version = db_commands.add_parser(
        "version",
        parents=parents,
        help="print the schema version the database is at",
        description="Print the schema version the database is at, as a number "
        "(0: nothing created yet), changing nothing.",
    )
    db_version.set_defaults(run=_db_version_command, admin=True)

    user = commands.add_parser(
        "user",
        help="add, remove and list the accounts of a persistent store",
        description="Manage the accounts of a persistent store (such as PostgreSQL; "
        "memory:// keeps nothing between runs: use 'imap-server serve --user' there). "
        "Run 'imap-server user COMMAND --help' for each command. " + _password_help("add"),
    )
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    add = user_commands.add_parser(
        "add",
        parents=parents,
        help="create an account (password from a prompt or stdin)",
        description="Create an account with an empty INBOX. Exits with 1 when it exists "
        "already. " + _password_help("add"),
    )
    passwd = user_commands.add_parser(
        "passwd",
        parents=parents,
        help="change an account's password (from a prompt or stdin)",
        description="Replace an account's password (and the SCRAM keys derived from it). "
        "Exits with 1 when there is no such account. " + _password_help("passwd"),
    )
    delete = user_commands.add_parser(
        "del",
        parents=parents,
        help="delete an account with all its mail",
        description="Delete an account with all its mailboxes and messages, without asking "
        "for confirmation (so that scripts can), and print what was deleted. Exits with 1 "
        "when there is no such account.",
    )
    for command in (add, passwd, delete):
        command.add_argument("name", metavar="NAME", help="the account's user name")
    for command in (add, passwd):
        # Caught to refuse without echoing it, as argparse would (it is likely a password).
        command.add_argument("extra", nargs="*", help=argparse.SUPPRESS)
        command.set_defaults(command_parser=command)
    user_list = user_commands.add_parser(
        "list",
        parents=parents,
        help="print the accounts' names",
        description="Print every account's name, one a line, sorted.",
    )
    for command in (add, passwd, delete, user_list):
        command.set_defaults(run=_user_command, admin=True)

    gc = commands.add_parser(
        "gc",
        parents=parents,
        help="remove message bodies a crash left behind",
        description="Remove stored message bodies that no message refers to: what a crash "
        "between storing a body and recording its message leaves behind (stores that keep "
        "bodies apart, such as S3). A body younger than --older-than is kept, as it may "
        "belong to an APPEND in progress; a body a mailbox refers to is never removed. Safe "
        "to run while servers run.",
    )
    gc.add_argument(
        "--older-than",
        type=_age,
        default=DEFAULT_GC_AGE,
        metavar="SECONDS",
        help=f"only remove bodies stored at least this long ago (default: {DEFAULT_GC_AGE:g})",
    )
    gc.add_argument(
        "--dry-run",
        action="store_true",
        help="count what would be removed, remove nothing",
    )
    gc.set_defaults(run=_gc_command, admin=True, command_parser=gc)


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
        "--spool-directory",
        default=None,
        metavar="DIR",
        help="where APPEND messages over 1 MiB are written while they arrive (unlinked "
        "temporary files, gone when the command ends; default: the system's temporary "
        "directory, TMPDIR)",
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
    spool_directory: str | None
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
        spool_directory=args.spool_directory,
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
    if isinstance(store, AccountAdmin) and not callable(add_user):
        raise CliError(
            f"--user: the store {redact_url(url)} keeps its accounts: create them once with "
            f"'{PROG} user add --store URL NAME' (the password from a prompt or stdin)"
        )
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


# -- administration (db, user) ------------------------------------------------------------------


async def _open_admin_store(url: str) -> Backend:
    try:
        return await open_store(url)
    except (ValueError, TypeError) as exc:
        raise CliError(f"--store {redact_url(url)}: {exc}") from None


async def _close(store: Backend) -> None:
    with anyio.CancelScope(shield=True):
        await store.aclose()


def _schema_admin(store: Backend, url: str) -> SchemaAdmin:
    if not isinstance(store, SchemaAdmin):
        raise CliError(f"the store at {redact_url(url)} has no schema to upgrade")
    return store


async def _db_upgrade_command(args: argparse.Namespace) -> None:
    # No start(): a store refuses to start on an old schema, which is what this is to fix.
    url: str = args.store
    store = await _open_admin_store(url)
    try:
        admin = _schema_admin(store, url)
        applied = await admin.upgrade()
        version = await admin.schema_version()
        if applied:
            done = ", ".join(str(v) for v in applied)
            print(f"database upgraded to schema version {version} (applied: {done})", flush=True)
        else:
            print(f"database already at schema version {version}", flush=True)
    finally:
        await _close(store)


async def _db_version_command(args: argparse.Namespace) -> None:
    url: str = args.store
    store = await _open_admin_store(url)
    try:
        version = await _schema_admin(store, url).schema_version()
        print(version, flush=True)
    finally:
        await _close(store)


async def _gc_command(args: argparse.Namespace) -> None:
    url: str = args.store
    store = await _open_admin_store(url)
    try:
        if not isinstance(store, GarbageCollector):
            raise CliError(
                f"the store at {redact_url(url)} leaves no orphaned bodies to collect "
                "(it does not implement imap_server.accounts.GarbageCollector)"
            )
        await store.start()
        report = await store.collect_garbage(older_than=args.older_than, dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        print(
            f"examined {report.examined} bodies: {verb} {report.removed} orphaned "
            f"({report.removed_bytes} octets); kept {report.too_young} orphaned ones younger "
            f"than {args.older_than:g} s",
            flush=True,
        )
    finally:
        await _close(store)


def _account_admin(store: Backend, url: str) -> AccountAdmin:
    # memory:// first: an account made in it would vanish with this process, whatever it has.
    if isinstance(store, MemoryStore):
        raise CliError(
            f"the store at {redact_url(url)} keeps nothing between runs: an account made here "
            "would be gone when this command exits (give 'imap-server serve' --user NAME:PASSWORD "
            "instead, or use a persistent store)"
        )
    if isinstance(store, AccountAdmin):
        return store
    raise CliError(
        f"the store at {redact_url(url)} cannot manage accounts (it does not implement "
        "imap_server.accounts.AccountAdmin; use the store's own tools)"
    )


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Let Ctrl-C raise KeyboardInterrupt at once while blocked in a prompt: the event loop's
    SIGINT handler would only cancel the main task, after the prompt returned."""
    try:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


def read_password() -> str:
    """The new password: asked for twice with `getpass.getpass` when stdin is a terminal,
    else the first line of stdin without its line ending. Never logged or echoed.

    Raises:
        CliError: No password, an empty one, or two that differ.
    """
    stdin = sys.stdin
    if stdin is None:
        raise CliError("no stdin to read the password from")
    if stdin.isatty():
        try:
            with _interruptible():
                password = getpass.getpass("Password: ")
                if not password:
                    raise CliError("empty password refused")
                if getpass.getpass("Again: ") != password:
                    raise CliError("the passwords do not match")
        except EOFError:  # Ctrl-D at the prompt
            raise CliError("no password given") from None
        return password
    try:
        line = stdin.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the password from stdin: {exc}") from None
    if not line:
        raise CliError("no password on stdin (give it on the first line, or run in a terminal)")
    password = line.removesuffix("\n")
    if not password:
        raise CliError("empty password refused (the first line of stdin is empty)")
    return password


async def _user_command(args: argparse.Namespace) -> None:
    url: str = args.store
    command: str = args.user_command
    name: str | None = getattr(args, "name", None)
    store = await _open_admin_store(url)
    try:
        admin = _account_admin(store, url)
        # Before start(): nothing is connected yet while a person types.
        password = read_password() if command in ("add", "passwd") else ""
        await store.start()
        if command == "list":
            for account in await admin.account_names():
                print(account)
            sys.stdout.flush()
            return
        assert name is not None
        try:
            if command == "add":
                await admin.create_account(name, password)
                done = f"added user {name}"
            elif command == "passwd":
                await admin.change_password(name, password)
                done = f"changed the password of user {name}"
            else:
                await admin.delete_account(name)
                done = f"deleted user {name} with all its mailboxes and messages"
        except AccountExists:
            raise _AccountError(f"user {name} exists already") from None
        except NoSuchAccount:
            raise _AccountError(f"no such user: {name}") from None
        except ValueError as exc:  # e.g. an empty or invalid name
            raise CliError(f"user {command}: {exc}") from None
        print(done, flush=True)
    finally:
        await _close(store)


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


async def _run_admin(
    command: Callable[[argparse.Namespace], Awaitable[None]], args: argparse.Namespace
) -> None:
    try:
        await command(args)
    except (CliError, StoreError, OSError):
        raise
    except Exception as exc:
        # A store that lets a driver's error out, or a missing dependency: still one line,
        # with the traceback in the log for whoever asks for it.
        log.debug("%s failed", PROG, exc_info=True)
        detail = f": {exc}" if str(exc) else ""
        raise CliError(
            f"unexpected {type(exc).__name__}{detail} (--log-level DEBUG shows the traceback)"
        ) from None


def _configure_logging(level: str) -> None:
    # basicConfig does nothing when the root logger already has handlers (an application
    # embedding main, pytest): their logging setup wins.
    logging.basicConfig(level=level, format=_LOG_FORMAT, stream=sys.stderr)
    if logging.getLevelName(level) > logging.DEBUG:
        # Store drivers' INFO lines ("Found credentials in environment variables.") are
        # noise at our INFO; --log-level DEBUG shows them.
        for name in _QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)


_QUIET_LIBRARIES = ("botocore", "boto3", "s3transfer", "urllib3", "asyncpg")


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
    if getattr(args, "extra", None):
        args.command_parser.error(
            "too many arguments (the password is never taken from the command line: it is "
            "asked for on a terminal, or read from stdin)"
        )
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
    # db and user commands run once, without serve's signal handling (Ctrl-C just stops them).
    admin: bool = getattr(args, "admin", False)
    try:
        if admin:
            anyio.run(_run_admin, args.run, args, backend="asyncio")
        else:
            anyio.run(_run, args.run, args, backend="asyncio")
    except KeyboardInterrupt:
        if admin:
            print(file=sys.stderr, flush=True)  # end the line the prompt and ^C are on
            return EXIT_INTERRUPTED
        # SIGINT before the signal handlers were in place (while starting up).
        return 0
    except BaseException as exc:
        leaves = _leaves(exc)
        if not all(isinstance(leaf, CliError | StoreError | OSError) for leaf in leaves):
            raise
        # Expected failures (bad certificate, port in use, store down): one line each.
        for leaf in leaves:
            _error(_describe(leaf))
        return max(_exit_code(leaf) for leaf in leaves)
    return 0


def _exit_code(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, CliError) else EXIT_ERROR


def _describe(exc: BaseException) -> str:
    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, StoreError):
        return f"store: {exc}"
    # OSError's str() has the errno and, for connections, the address: the most telling.
    return str(exc) or type(exc).__name__
