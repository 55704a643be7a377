"""Client commands as typed values (RFC 9051 section 6, RFC 3501 section 6).

Every IMAP4rev1 and IMAP4rev2 command is one frozen dataclass deriving from `Command`: it
carries the command's tag and arguments, `Command.write` writes the whole line as a client
sends it (tag, name, arguments, CRLF), and a parser registered in ``registry.commands`` reads
it back from the generic values of a tokenized line, as a server needs it.
`parse_command_values` is the entry point: it checks the tag, dispatches on the command name
(``UID`` on its sub-command: ``"UID FETCH"`` ...) and attaches the tag to any error, so the
server can answer ``<tag> BAD ...``.

The extensions RFC 9051 folded into the base are here too: the RFC 4466 parameter lists
(SELECT/EXAMINE, CREATE, RENAME, FETCH and STORE modifiers, APPEND extensions; see
`imap_wire._modifiers`), LIST-EXTENDED (RFC 5258) with LIST-STATUS (RFC 5819) and the
SPECIAL-USE options (RFC 6154), ID (RFC 2971), ENABLE (RFC 5161), SASL-IR (RFC 4959), IDLE
(RFC 2177), ESEARCH and SEARCHRES return options (RFC 4731, RFC 5182), BINARY APPEND
(RFC 3516), MOVE (RFC 6851), UID EXPUNGE (RFC 4315), UNSELECT (RFC 3691) and NAMESPACE
(RFC 2342).

An extension command subclasses `Command`, sets its ClassVar ``name``, overrides
``_write_arguments`` (or `Command.write`), and registers ``parser(tag, cursor, ctx)`` under
``registry.commands[NAME]`` (``"UID NAME"`` for a UID form) and its states under
``registry.command_states``. The continuation lines of AUTHENTICATE and the ``DONE`` that
ends IDLE are not commands: the connection reads them.

This module holds the commands of any state, authentication, ENABLE and ID, the entry point
and `install`; the mailbox commands (SELECT ... APPEND) are in `imap_wire._mailbox_commands`,
the message commands (EXPUNGE ... MOVE) in `imap_wire._message_commands`, the base class in
`imap_wire._command_base`. Every command class is importable from here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from . import _mailbox_commands, _message_commands
from ._command_base import (
    Command,
    astring_of,
    atom_arg,
    check_octets,
    encode_text,
    nstring_of,
    string_of,
    text_of,
)
from ._encoding import TAG_PATTERN, WireWriter
from ._mailbox_commands import (
    Append,
    Create,
    Delete,
    Examine,
    List,
    ListReturnOption,
    ListSelectOption,
    Lsub,
    Rename,
    Select,
    Status,
    Subscribe,
    Unsubscribe,
)
from ._message_commands import (
    Copy,
    Expunge,
    Fetch,
    Move,
    Search,
    SearchReturnOption,
    Store,
    StoreMode,
)
from ._registry import CommandParser, ParseContext, Registry
from ._state import COMMAND_STATES
from ._values import Cursor, Value, as_atom, as_list
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "Append",
    "Authenticate",
    "Capability",
    "Check",
    "Close",
    "Command",
    "Copy",
    "Create",
    "Delete",
    "Enable",
    "Examine",
    "Expunge",
    "Fetch",
    "Id",
    "Idle",
    "List",
    "ListReturnOption",
    "ListSelectOption",
    "Login",
    "Logout",
    "Lsub",
    "Move",
    "Namespace",
    "Noop",
    "Rename",
    "Search",
    "SearchReturnOption",
    "Select",
    "StartTLS",
    "Status",
    "Store",
    "StoreMode",
    "Subscribe",
    "Unselect",
    "Unsubscribe",
    "install",
    "parse_command_values",
]

_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


# -- commands without arguments ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Capability(Command):
    """CAPABILITY: ask for the server's capabilities (RFC 9051 section 6.1.1)."""

    name: ClassVar[str] = "CAPABILITY"


@dataclass(frozen=True, slots=True, kw_only=True)
class Noop(Command):
    """NOOP: do nothing, collect pending updates (RFC 9051 section 6.1.2)."""

    name: ClassVar[str] = "NOOP"


@dataclass(frozen=True, slots=True, kw_only=True)
class Logout(Command):
    """LOGOUT: end the session (RFC 9051 section 6.1.3)."""

    name: ClassVar[str] = "LOGOUT"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTLS(Command):
    """STARTTLS: begin TLS negotiation (RFC 9051 section 6.2.1)."""

    name: ClassVar[str] = "STARTTLS"


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespace(Command):
    """NAMESPACE: ask for the namespaces (RFC 9051 section 6.3.10, RFC 2342)."""

    name: ClassVar[str] = "NAMESPACE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Idle(Command):
    """IDLE: wait for updates until the client sends ``DONE`` (RFC 9051 section 6.3.13)."""

    name: ClassVar[str] = "IDLE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Check(Command):
    """CHECK: request a checkpoint (RFC 3501 section 6.4.1; removed from IMAP4rev2)."""

    name: ClassVar[str] = "CHECK"


@dataclass(frozen=True, slots=True, kw_only=True)
class Close(Command):
    """CLOSE: expunge silently and leave the selected state (RFC 9051 section 6.4.1)."""

    name: ClassVar[str] = "CLOSE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Unselect(Command):
    """UNSELECT: leave the selected state without expunging (RFC 9051 section 6.4.2)."""

    name: ClassVar[str] = "UNSELECT"


# -- not authenticated state ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticate(Command):
    """AUTHENTICATE: start a SASL exchange (RFC 9051 section 6.2.2, SASL-IR RFC 4959).

    Attributes:
        mechanism: The SASL mechanism name, upper case as parsed (``PLAIN``).
        initial_response: The decoded initial response: None when absent, ``b""`` for the
            empty response (sent as ``=``). Kept out of ``repr``: it often holds a password.
    """

    name: ClassVar[str] = "AUTHENTICATE"
    mechanism: str
    initial_response: bytes | None = field(default=None, repr=False)

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        w.atom(self.mechanism)
        response = self.initial_response
        if response is not None:
            w.sp()
            w.raw(base64.b64encode(response) if response else b"=")


@dataclass(frozen=True, slots=True, kw_only=True)
class Login(Command):
    """LOGIN: authenticate with a user name and password (RFC 9051 section 6.2.3).

    Attributes:
        username: The user name (astring, decoded as UTF-8).
        password: The password (astring, decoded as UTF-8); never shown by ``repr``.
    """

    name: ClassVar[str] = "LOGIN"
    username: str
    password: str = field(repr=False)

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        w.astring(encode_text(self.username, "user name"))
        w.sp()
        w.astring(encode_text(self.password, "password"))


# -- authenticated state -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Enable(Command):
    """ENABLE: turn on extensions (RFC 9051 section 6.3.1, RFC 5161).

    Attributes:
        capabilities: The capability names, at least one, as sent (compare them
            case-insensitively, as in `CapabilityResponse`).
    """

    name: ClassVar[str] = "ENABLE"
    capabilities: tuple[str, ...]

    def _write_arguments(self, w: WireWriter) -> None:
        if not self.capabilities:
            raise LocalProtocolError("ENABLE needs at least one capability")
        for capability in self.capabilities:
            w.sp()
            w.atom(capability)


# -- any state -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Id(Command):
    """ID: exchange implementation information (RFC 2971 section 3.1).

    Attributes:
        parameters: ``(field, value)`` pairs, a value None for ``NIL``; None for ``ID NIL``.
    """

    name: ClassVar[str] = "ID"
    parameters: tuple[tuple[str, str | None], ...] | None = None

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        if self.parameters is None:
            w.nil()
            return
        w.open()
        for i, (key, value) in enumerate(self.parameters):
            if i:
                w.sp()
            w.string(encode_text(key, "ID field"))
            w.sp()
            w.nstring(None if value is None else encode_text(value, "ID value"))
        w.close()


# -- parsing -------------------------------------------------------------------------------


def parse_command_values(values: list[Value], ctx: ParseContext) -> Command:
    """Parse a tokenized command line into its `Command`.

    Args:
        values: The line's values: the tag, the command name, then the arguments.
        ctx: The parse context: registry (command parsers, modifiers), UTF-8 mode, strictness.

    Returns:
        The command.

    Raises:
        RemoteProtocolError: The line is not a valid command: a missing or invalid tag, an
            unknown command, malformed or extra arguments, and (strict) an 8-bit atom or a
            NUL outside a literal8 anywhere (`check_octets`). Its ``tag`` is the command's tag
            whenever the tag could be read, so the server answers ``<tag> BAD``
            (``NO [BADCHARSET]`` for an unsupported SEARCH charset).
    """
    if not values:
        raise RemoteProtocolError("empty command line")
    first = values[0]
    if not (type(first) is str and first.isascii() and TAG_PATTERN.match(first)):
        raise RemoteProtocolError("invalid tag")
    tag = first
    try:
        if ctx.strict:
            check_octets(values)
        if len(values) < 2:
            raise RemoteProtocolError("missing command name")
        name = as_atom(values[1], "command name").upper()
        cursor = Cursor(values, 2)
        if name == "UID":
            name = f"UID {cursor.keyword('UID command name')}"
        parser = ctx.registry.commands.get(name)
        if parser is None:
            raise RemoteProtocolError("unknown command")
        command: Command = parser(tag, cursor, ctx)
        cursor.end(name.lower() if len(name) <= 40 else "command")
    except RemoteProtocolError as exc:
        if exc.tag is None:
            exc.tag = tag
        raise
    return command


def _no_arguments(cls: Callable[..., Command]) -> CommandParser:
    def parse(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
        return cls(tag=tag)

    return parse


def _parse_authenticate(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    mechanism = atom_arg(cursor, "SASL mechanism", ctx).upper()
    response: bytes | None = None
    if not cursor.at_end():
        text = cursor.atom("initial response")
        if text == "=":
            response = b""
        elif _BASE64.match(text):
            response = base64.b64decode(text)
        else:
            raise RemoteProtocolError("invalid base64 in the initial response")
    return Authenticate(tag=tag, mechanism=mechanism, initial_response=response)


def _parse_login(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    username = text_of(astring_of(cursor.next("user name"), "user name", ctx))
    password = text_of(astring_of(cursor.next("password"), "password", ctx))
    return Login(tag=tag, username=username, password=password)


def _parse_enable(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    capabilities = [atom_arg(cursor, "capability", ctx)]
    while not cursor.at_end():
        capabilities.append(atom_arg(cursor, "capability", ctx))
    return Enable(tag=tag, capabilities=tuple(capabilities))


def _parse_id(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    v = cursor.next("ID parameters")
    if type(v) is str:
        if v.upper() != "NIL":
            raise RemoteProtocolError("expected ID parameters (a list or NIL)")
        return Id(tag=tag, parameters=None)
    items = as_list(v, "ID parameters")
    if len(items) % 2:
        raise RemoteProtocolError("ID parameters must come in field-value pairs")
    pairs: list[tuple[str, str | None]] = []
    for i in range(0, len(items), 2):
        key = string_of(items[i], "ID field", ctx)
        value = nstring_of(items[i + 1], "ID value", ctx)
        pairs.append((text_of(key), None if value is None else text_of(value)))
    return Id(tag=tag, parameters=tuple(pairs))


#: Capabilities whose command syntax the command modules implement.
_CAPABILITIES = (
    "IMAP4rev1",
    "IMAP4rev2",
    "ENABLE",
    "ID",
    "IDLE",
    "SASL-IR",
    "NAMESPACE",
    "UNSELECT",
    "UIDPLUS",
    "MOVE",
    "ESEARCH",
    "SEARCHRES",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "SPECIAL-USE",
    "BINARY",
)


def install(registry: Registry) -> None:
    """Register every IMAP4rev1 and IMAP4rev2 command parser and the commands' states."""
    commands = registry.commands
    for cls in (Capability, Noop, Logout, StartTLS, Namespace, Idle, Check, Close, Unselect):
        commands[cls.name] = _no_arguments(cls)
    commands["AUTHENTICATE"] = _parse_authenticate
    commands["LOGIN"] = _parse_login
    commands["ENABLE"] = _parse_enable
    commands["ID"] = _parse_id
    _mailbox_commands.register_parsers(commands)
    _message_commands.register_parsers(commands)
    registry.command_states.update(COMMAND_STATES)
    registry.capabilities.update(_CAPABILITIES)
