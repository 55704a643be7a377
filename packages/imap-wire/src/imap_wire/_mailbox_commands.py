"""Mailbox commands of the authenticated state (RFC 9051 section 6.3): SELECT to APPEND.

LIST covers LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and the SPECIAL-USE options
(RFC 6154); APPEND covers ``append-ext`` (RFC 4466) and literal8 messages (RFC 3516).
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import ClassVar

from ._command_base import (
    Command,
    flags_of,
    list_mailbox_arg,
    mailbox_arg,
    options_of,
    params_of,
    status_items_of,
    write_atoms,
    write_list_mailbox,
    write_mailbox,
)
from ._dates import format_date_time, parse_date_time
from ._encoding import LiteralSource, WireWriter
from ._flags import write_flag_list
from ._modifiers import Modifier, error_keyword, write_modifiers
from ._registry import CommandParser, ParseContext
from ._values import Cursor, Literal8, StreamedLiteral
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "Append",
    "Create",
    "Delete",
    "Examine",
    "List",
    "ListReturnOption",
    "ListSelectOption",
    "Lsub",
    "Rename",
    "Select",
    "Status",
    "Subscribe",
    "Unsubscribe",
    "register_parsers",
]


class ListSelectOption(enum.StrEnum):
    """LIST selection options (RFC 5258 section 3.1; SPECIAL-USE from RFC 6154 section 5.1)."""

    SUBSCRIBED = "SUBSCRIBED"
    REMOTE = "REMOTE"
    RECURSIVEMATCH = "RECURSIVEMATCH"
    SPECIAL_USE = "SPECIAL-USE"


class ListReturnOption(enum.StrEnum):
    """LIST return options without arguments (RFC 5258 section 3.2, RFC 6154 section 5.2).

    The STATUS return option (RFC 5819) has its items, so it is `List.return_status`.
    """

    SUBSCRIBED = "SUBSCRIBED"
    CHILDREN = "CHILDREN"
    SPECIAL_USE = "SPECIAL-USE"


_LIST_SELECT = {o.value: o for o in ListSelectOption}
_LIST_RETURN = {o.value: o for o in ListReturnOption}


@dataclass(frozen=True, slots=True, kw_only=True)
class _MailboxParamsCommand(Command):
    """A command taking a mailbox and an optional RFC 4466 parameter list."""

    mailbox: str
    params: tuple[Modifier, ...] = ()

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        write_mailbox(w, self.mailbox)
        if self.params:
            w.sp()
            write_modifiers(w, self.params)


@dataclass(frozen=True, slots=True, kw_only=True)
class Select(_MailboxParamsCommand):
    """SELECT: open a mailbox read-write (RFC 9051 section 6.3.2).

    Attributes:
        mailbox: The mailbox name.
        params: ``select-params`` (RFC 4466), parsed by the ``("SELECT", NAME)`` modifiers.
    """

    name: ClassVar[str] = "SELECT"


@dataclass(frozen=True, slots=True, kw_only=True)
class Examine(_MailboxParamsCommand):
    """EXAMINE: open a mailbox read-only (RFC 9051 section 6.3.3).

    Attributes:
        mailbox: The mailbox name.
        params: ``select-params`` (RFC 4466), parsed by the ``("SELECT", NAME)`` modifiers.
    """

    name: ClassVar[str] = "EXAMINE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Create(_MailboxParamsCommand):
    """CREATE: create a mailbox (RFC 9051 section 6.3.4).

    Attributes:
        mailbox: The new mailbox's name.
        params: ``create-params`` (RFC 4466), parsed by the ``("CREATE", NAME)`` modifiers.
    """

    name: ClassVar[str] = "CREATE"


@dataclass(frozen=True, slots=True, kw_only=True)
class _MailboxCommand(Command):
    mailbox: str

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        write_mailbox(w, self.mailbox)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delete(_MailboxCommand):
    """DELETE: delete a mailbox (RFC 9051 section 6.3.5)."""

    name: ClassVar[str] = "DELETE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe(_MailboxCommand):
    """SUBSCRIBE: add a mailbox to the subscriptions (RFC 9051 section 6.3.7)."""

    name: ClassVar[str] = "SUBSCRIBE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribe(_MailboxCommand):
    """UNSUBSCRIBE: remove a mailbox from the subscriptions (RFC 9051 section 6.3.8)."""

    name: ClassVar[str] = "UNSUBSCRIBE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rename(Command):
    """RENAME: rename a mailbox (RFC 9051 section 6.3.6).

    Attributes:
        old: The existing mailbox name.
        new: The new mailbox name.
        params: ``rename-params`` (RFC 4466), parsed by the ``("RENAME", NAME)`` modifiers.
    """

    name: ClassVar[str] = "RENAME"
    old: str
    new: str
    params: tuple[Modifier, ...] = ()

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        write_mailbox(w, self.old)
        w.sp()
        write_mailbox(w, self.new)
        if self.params:
            w.sp()
            write_modifiers(w, self.params)


@dataclass(frozen=True, slots=True, kw_only=True)
class List(Command):
    """LIST, basic and extended (RFC 9051 section 6.3.9, RFC 5258, RFC 5819, RFC 6154).

    ``LIST (SUBSCRIBED) "" ("INBOX" "Drafts") RETURN (CHILDREN STATUS (MESSAGES))`` is
    ``List(reference="", patterns=("INBOX", "Drafts"), select_options=("SUBSCRIBED",),
    return_options=("CHILDREN",), return_status=("MESSAGES",))``. An empty selection or
    return option list is the same as none, and a one-pattern list the same as the bare
    pattern (RFC 5258 section 3), so each is written in its short form.

    Attributes:
        reference: The reference name (``mailbox``).
        patterns: The mailbox patterns (``list-mailbox``), at least one.
        select_options: `ListSelectOption` names, and `Modifier` values parsed by the
            ``("LIST-SELECT", NAME)`` modifiers (RFC 5258 ``option-extension``).
        return_options: `ListReturnOption` names, and `Modifier` values parsed by the
            ``("LIST-RETURN", NAME)`` modifiers.
        return_status: The STATUS return option's items (RFC 5819), or None without it.
    """

    name: ClassVar[str] = "LIST"
    reference: str
    patterns: tuple[str, ...]
    select_options: tuple[str | Modifier, ...] = ()
    return_options: tuple[str | Modifier, ...] = ()
    return_status: tuple[str, ...] | None = None

    def _write_arguments(self, w: WireWriter) -> None:
        patterns = self.patterns
        if not patterns:
            raise LocalProtocolError("LIST needs at least one mailbox pattern")
        select = self.select_options
        if _lone_recursivematch(select):
            raise LocalProtocolError("RECURSIVEMATCH needs another selection option")
        w.sp()
        if select:
            write_atoms(w, select)
            w.sp()
        write_mailbox(w, self.reference)
        w.sp()
        if len(patterns) == 1:
            write_list_mailbox(w, patterns[0])
        else:
            w.open()
            for i, pattern in enumerate(patterns):
                if i:
                    w.sp()
                write_list_mailbox(w, pattern)
            w.close()
        status = self.return_status
        if self.return_options or status is not None:
            w.raw(b" RETURN ")
            options: list[str | Modifier] = list(self.return_options)
            if status is not None:
                if not status:
                    raise LocalProtocolError("the STATUS return option needs items")
                options.append(Modifier(name="STATUS", value=tuple(status)))
            write_atoms(w, options)


def _lone_recursivematch(select: Collection[str | Modifier]) -> bool:
    """Tell whether RECURSIVEMATCH lacks the option it refines (RFC 5258 section 3.1)."""
    return ListSelectOption.RECURSIVEMATCH in select and not any(
        o == ListSelectOption.SUBSCRIBED or isinstance(o, Modifier) for o in select
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lsub(Command):
    """LSUB: list subscribed mailboxes (RFC 3501 section 6.3.9; removed from IMAP4rev2).

    Attributes:
        reference: The reference name.
        pattern: The mailbox pattern.
    """

    name: ClassVar[str] = "LSUB"
    reference: str
    pattern: str

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        write_mailbox(w, self.reference)
        w.sp()
        write_list_mailbox(w, self.pattern)


@dataclass(frozen=True, slots=True, kw_only=True)
class Status(Command):
    """STATUS: ask for a mailbox's status (RFC 9051 section 6.3.11).

    Attributes:
        mailbox: The mailbox name.
        items: At least one item: `StatusItem` names, or names registered as
            ``("STATUS-ITEM", NAME)`` modifiers; upper case as parsed.
    """

    name: ClassVar[str] = "STATUS"
    mailbox: str
    items: tuple[str, ...]

    def _write_arguments(self, w: WireWriter) -> None:
        if not self.items:
            raise LocalProtocolError("STATUS needs at least one item")
        w.sp()
        write_mailbox(w, self.mailbox)
        w.sp()
        write_atoms(w, self.items)


@dataclass(frozen=True, slots=True, kw_only=True)
class Append(Command):
    """APPEND: add a message to a mailbox (RFC 9051 section 6.3.12, RFC 4466, RFC 3516).

    Attributes:
        mailbox: The destination mailbox.
        flags: Flags to set on the message.
        date_time: Its internal date, or None for the server's default.
        extensions: ``append-ext`` items (RFC 4466), parsed by the ``("APPEND", NAME)``
            modifiers; written between the date-time and the message.
        message: The message: its octets, a `StreamedLiteral` when the server received it
            in chunks, or a `LiteralSource` when the client streams it itself. Not in
            ``repr`` (it can be large).
        binary: Send (or received) the message as a ``literal8`` (``~{n}``, RFC 3516). A
            `LiteralSource` must agree.
    """

    name: ClassVar[str] = "APPEND"
    mailbox: str
    flags: tuple[str, ...] = ()
    date_time: _dt.datetime | None = None
    extensions: tuple[Modifier, ...] = ()
    message: bytes | StreamedLiteral | LiteralSource = field(repr=False)
    binary: bool = False

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        write_mailbox(w, self.mailbox)
        if self.flags:
            w.sp()
            write_flag_list(w, self.flags)
        if self.date_time is not None:
            w.sp()
            w.string(format_date_time(self.date_time))
        for extension in self.extensions:
            w.sp()
            extension.write(w)
        w.sp()
        message = self.message
        if isinstance(message, LiteralSource):
            if message.binary != self.binary:
                raise LocalProtocolError("the LiteralSource and the APPEND disagree on binary")
            w.literal_source(message)
        elif isinstance(message, bytes):
            if not self.binary and b"\0" in message:
                # RFC 3516 section 4.4: only a literal8 may carry NUL.
                raise LocalProtocolError("a message holding NUL needs binary=True (literal8)")
            w.literal(message, binary=self.binary)
        else:
            raise LocalProtocolError("a streamed literal placeholder cannot be sent")


# -- parsing -------------------------------------------------------------------------------


def _mailbox_and_params(cls: Callable[..., Command], context: str, what: str) -> CommandParser:
    def parse(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
        mailbox = mailbox_arg(cursor, ctx)
        return cls(tag=tag, mailbox=mailbox, params=params_of(cursor, ctx, context, what))

    return parse


def _mailbox_only(cls: Callable[..., Command]) -> CommandParser:
    def parse(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
        return cls(tag=tag, mailbox=mailbox_arg(cursor, ctx))

    return parse


def _parse_rename(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    old = mailbox_arg(cursor, ctx, "existing mailbox name")
    new = mailbox_arg(cursor, ctx, "new mailbox name")
    params = params_of(cursor, ctx, "RENAME", "RENAME parameter")
    return Rename(tag=tag, old=old, new=new, params=params)


def _parse_list(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    select: list[str | Modifier] = []
    if type(cursor.peek()) is list:
        select = options_of(
            cursor.list("LIST selection options"),
            ctx,
            _LIST_SELECT,
            "LIST-SELECT",
            "LIST selection option",
        )
        if _lone_recursivematch(select):
            raise RemoteProtocolError("RECURSIVEMATCH needs another selection option")
    reference = mailbox_arg(cursor, ctx, "reference name")
    v = cursor.next("mailbox pattern")
    if type(v) is list:
        if not v:
            raise RemoteProtocolError("empty mailbox pattern list")
        patterns = tuple(list_mailbox_arg(p, ctx) for p in v)
    else:
        patterns = (list_mailbox_arg(v, ctx),)
    returns: list[str | Modifier] = []
    status: tuple[str, ...] | None = None
    if not cursor.at_end():
        if cursor.keyword("RETURN") != "RETURN":
            raise RemoteProtocolError("expected RETURN after the mailbox patterns")
        options = Cursor(cursor.list("LIST return options"))
        while not options.at_end():
            name = options.keyword("LIST return option")
            if name == "STATUS":
                if status is not None:
                    raise RemoteProtocolError("STATUS return option given twice")
                status = status_items_of(options.list("STATUS items"), ctx)
            elif name in _LIST_RETURN:
                returns.append(_LIST_RETURN[name])
            else:
                returns.append(_list_return_extension(name, options, ctx))
    return List(
        tag=tag,
        reference=reference,
        patterns=patterns,
        select_options=tuple(select),
        return_options=tuple(returns),
        return_status=status,
    )


def _list_return_extension(name: str, cursor: Cursor, ctx: ParseContext) -> Modifier:
    parser = ctx.registry.modifiers.get(("LIST-RETURN", name))
    if parser is None:
        raise RemoteProtocolError(f"unknown LIST return option{error_keyword(name)}")
    result: Modifier = parser(name, cursor, ctx)
    return result


def _parse_lsub(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    reference = mailbox_arg(cursor, ctx, "reference name")
    pattern = list_mailbox_arg(cursor.next("mailbox pattern"), ctx)
    return Lsub(tag=tag, reference=reference, pattern=pattern)


def _parse_status(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    mailbox = mailbox_arg(cursor, ctx)
    items = status_items_of(cursor.list("STATUS items"), ctx)
    return Status(tag=tag, mailbox=mailbox, items=items)


def _parse_append(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    mailbox = mailbox_arg(cursor, ctx)
    flags: tuple[str, ...] = ()
    if type(cursor.peek()) is list:
        flags = flags_of(cursor.list("flag list"), ctx)
    date_time = None
    v = cursor.peek()
    # A date-time is a quoted string and the message a literal, but both tokenize to bytes:
    # a string with something after it is the date-time.
    if type(v) is bytes and cursor.pos + 1 < len(cursor.values):
        cursor.pos += 1
        # date-day-fixed = (SP DIGIT) / 2DIGIT: the parser also takes an unpadded day, as
        # Cyrus and Dovecot do, but a space before two digits is no date-time.
        if ctx.strict and v[:1] == b" " and v[2:3].isdigit():
            raise RemoteProtocolError("invalid date-time")
        date_time = parse_date_time(v)
    extensions: list[Modifier] = []
    registry = ctx.registry.modifiers
    while (name := cursor.peek_atom()) is not None:
        cursor.pos += 1
        parser = registry.get(("APPEND", name))
        if parser is None:
            raise RemoteProtocolError(f"unknown APPEND extension{error_keyword(name)}")
        extensions.append(parser(name, cursor, ctx))
    message = cursor.next("message literal")
    if isinstance(message, StreamedLiteral):
        binary = message.binary
    elif isinstance(message, bytes):
        binary = isinstance(message, Literal8)
    else:
        raise RemoteProtocolError("expected the message as a literal")
    return Append(
        tag=tag,
        mailbox=mailbox,
        flags=flags,
        date_time=date_time,
        extensions=tuple(extensions),
        message=message,
        binary=binary,
    )


def register_parsers(commands: dict[str, CommandParser]) -> None:
    """Register the parsers of SELECT, EXAMINE, CREATE ... APPEND in ``commands``."""
    commands["SELECT"] = _mailbox_and_params(Select, "SELECT", "SELECT parameter")
    commands["EXAMINE"] = _mailbox_and_params(Examine, "SELECT", "EXAMINE parameter")
    commands["CREATE"] = _mailbox_and_params(Create, "CREATE", "CREATE parameter")
    commands["DELETE"] = _mailbox_only(Delete)
    commands["SUBSCRIBE"] = _mailbox_only(Subscribe)
    commands["UNSUBSCRIBE"] = _mailbox_only(Unsubscribe)
    commands["RENAME"] = _parse_rename
    commands["LIST"] = _parse_list
    commands["LSUB"] = _parse_lsub
    commands["STATUS"] = _parse_status
    commands["APPEND"] = _parse_append
