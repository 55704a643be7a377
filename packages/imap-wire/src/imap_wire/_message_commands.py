"""Message commands of the selected state (RFC 9051 section 6.4), with their UID forms.

SEARCH covers the ESEARCH and SEARCHRES return options (RFC 4731, RFC 5182), FETCH and STORE
the RFC 4466 modifiers, EXPUNGE the UID EXPUNGE of RFC 4315, MOVE RFC 6851.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ._command_base import (
    Command,
    UidCommand,
    flag_arg,
    flags_of,
    mailbox_arg,
    options_of,
    params_of,
    sequence_set_arg,
    write_atoms,
    write_mailbox,
)
from ._encoding import WireWriter
from ._fetch import FetchAttribute, FetchMacro, parse_fetch_attributes, write_fetch_attributes
from ._flags import write_flag_list
from ._modifiers import Modifier, write_modifiers
from ._registry import CommandParser, ParseContext
from ._search import (
    SearchKey,
    needs_charset,
    parse_search_charset,
    parse_search_program,
    write_search_program,
)
from ._sequence_set import SequenceSet
from ._values import Cursor
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "Copy",
    "Expunge",
    "Fetch",
    "Move",
    "Search",
    "SearchReturnOption",
    "Store",
    "StoreMode",
    "register_parsers",
]

# store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
_STORE_ITEM = re.compile(r"([+-]?)FLAGS(\.SILENT)?\Z")


class StoreMode(enum.StrEnum):
    """How STORE changes the flags (RFC 9051 section 6.4.6): the prefix of ``FLAGS``."""

    REPLACE = ""
    ADD = "+"
    REMOVE = "-"


class SearchReturnOption(enum.StrEnum):
    """SEARCH return options (RFC 4731 section 3.1; SAVE from RFC 5182 section 2.1)."""

    MIN = "MIN"
    MAX = "MAX"
    ALL = "ALL"
    COUNT = "COUNT"
    SAVE = "SAVE"


_SEARCH_RETURN = {o.value: o for o in SearchReturnOption}
_STORE_MODES = {m.value: m.value.encode() for m in StoreMode}
#: ``parse(tag, cursor, ctx, uid)``: a parser serving a command and its UID form.
_UidFormParser = Callable[[str, Cursor, ParseContext, bool], Command]


@dataclass(frozen=True, slots=True, kw_only=True)
class Expunge(UidCommand):
    """EXPUNGE, or UID EXPUNGE (RFC 9051 sections 6.4.3 and 6.4.9, RFC 4315 section 2.1).

    Attributes:
        uid: True for UID EXPUNGE.
        uids: The UIDs to expunge: required with ``uid``, absent without.
    """

    name: ClassVar[str] = "EXPUNGE"
    uids: SequenceSet | None = None

    def _write_arguments(self, w: WireWriter) -> None:
        if self.uid != (self.uids is not None):
            raise LocalProtocolError("UID EXPUNGE takes a UID set; EXPUNGE takes none")
        if self.uids is not None:
            w.sp()
            self.uids.write(w)


@dataclass(frozen=True, slots=True, kw_only=True)
class Search(UidCommand):
    """SEARCH or UID SEARCH (RFC 9051 section 6.4.4, RFC 4731, RFC 5182).

    The writer announces ``CHARSET <charset>`` exactly when `charset` is set; `for_criteria`
    sets it to ``UTF-8`` when the criteria hold non-ASCII text (what an IMAP4rev1 server
    needs; an IMAP4rev2 server assumes UTF-8 anyway).

    Attributes:
        uid: True for UID SEARCH.
        charset: The CHARSET argument as sent, or None.
        criteria: The search program (several top-level keys are one `SearchAnd`).
        return_options: None for a plain SEARCH; else the ``RETURN (...)`` options (``()``
            for ``RETURN ()``): `SearchReturnOption` names, and `Modifier` values parsed by
            the ``("SEARCH-RETURN", NAME)`` modifiers.
    """

    name: ClassVar[str] = "SEARCH"
    charset: str | None = None
    criteria: SearchKey
    return_options: tuple[str | Modifier, ...] | None = None

    @classmethod
    def for_criteria(
        cls,
        *,
        tag: str,
        criteria: SearchKey,
        uid: bool = False,
        return_options: tuple[str | Modifier, ...] | None = None,
    ) -> Search:
        """Build a search that announces ``CHARSET UTF-8`` when the criteria need it."""
        charset = "UTF-8" if needs_charset(criteria) else None
        return cls(
            tag=tag, uid=uid, charset=charset, criteria=criteria, return_options=return_options
        )

    def _write_arguments(self, w: WireWriter) -> None:
        if self.return_options is not None:
            w.raw(b" RETURN ")
            write_atoms(w, self.return_options)
        w.sp()
        write_search_program(w, self.criteria, charset=self.charset)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetch(UidCommand):
    """FETCH or UID FETCH (RFC 9051 sections 6.4.5 and 6.4.9, RFC 4466 section 2.4).

    Attributes:
        uid: True for UID FETCH.
        sequence_set: The messages.
        attributes: The data items (empty when a macro is used).
        macro: ``ALL``, ``FAST`` or ``FULL``, or None.
        modifiers: ``fetch-modifiers``, parsed by the ``("FETCH", NAME)`` modifiers.
    """

    name: ClassVar[str] = "FETCH"
    sequence_set: SequenceSet
    attributes: tuple[FetchAttribute, ...] = ()
    macro: FetchMacro | None = None
    modifiers: tuple[Modifier, ...] = ()

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        self.sequence_set.write(w)
        w.sp()
        write_fetch_attributes(w, self.attributes, self.macro)
        if self.modifiers:
            w.sp()
            write_modifiers(w, self.modifiers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Store(UidCommand):
    """STORE or UID STORE (RFC 9051 sections 6.4.6 and 6.4.9, RFC 4466 section 2.5).

    Attributes:
        uid: True for UID STORE.
        sequence_set: The messages.
        mode: Replace, add (``+FLAGS``) or remove (``-FLAGS``).
        silent: ``.SILENT``: no untagged FETCH with the new flags.
        flags: The flags (written as a parenthesised list).
        modifiers: ``store-modifiers``, parsed by the ``("STORE", NAME)`` modifiers.
    """

    name: ClassVar[str] = "STORE"
    sequence_set: SequenceSet
    mode: StoreMode = StoreMode.REPLACE
    silent: bool = False
    flags: tuple[str, ...]
    modifiers: tuple[Modifier, ...] = ()

    def _write_arguments(self, w: WireWriter) -> None:
        mode = _STORE_MODES.get(self.mode)
        if mode is None:
            raise LocalProtocolError(f"not a STORE mode: {self.mode!r}")
        w.sp()
        self.sequence_set.write(w)
        if self.modifiers:
            w.sp()
            write_modifiers(w, self.modifiers)
        w.sp()
        w.raw(b"%sFLAGS%s " % (mode, b".SILENT" if self.silent else b""))
        write_flag_list(w, self.flags)


@dataclass(frozen=True, slots=True, kw_only=True)
class _TransferCommand(UidCommand):
    """A command taking messages and a destination mailbox."""

    sequence_set: SequenceSet
    mailbox: str

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        self.sequence_set.write(w)
        w.sp()
        write_mailbox(w, self.mailbox)


@dataclass(frozen=True, slots=True, kw_only=True)
class Copy(_TransferCommand):
    """COPY or UID COPY (RFC 9051 sections 6.4.7 and 6.4.9).

    Attributes:
        uid: True for UID COPY.
        sequence_set: The messages.
        mailbox: The destination mailbox.
    """

    name: ClassVar[str] = "COPY"


@dataclass(frozen=True, slots=True, kw_only=True)
class Move(_TransferCommand):
    """MOVE or UID MOVE (RFC 9051 section 6.4.8, RFC 6851).

    Attributes:
        uid: True for UID MOVE.
        sequence_set: The messages.
        mailbox: The destination mailbox.
    """

    name: ClassVar[str] = "MOVE"


# -- parsing -------------------------------------------------------------------------------


def _parse_expunge(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    return Expunge(tag=tag)


def _parse_uid_expunge(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
    return Expunge(tag=tag, uid=True, uids=sequence_set_arg(cursor))


def _parse_search(tag: str, cursor: Cursor, ctx: ParseContext, uid: bool) -> Command:
    return_options: tuple[str | Modifier, ...] | None = None
    if cursor.peek_atom() == "RETURN":
        cursor.pos += 1
        return_options = tuple(
            options_of(
                cursor.list("SEARCH return options"),
                ctx,
                _SEARCH_RETURN,
                "SEARCH-RETURN",
                "SEARCH return option",
            )
        )
    charset = parse_search_charset(cursor)
    if cursor.at_end():
        raise RemoteProtocolError("missing search criteria")
    criteria = parse_search_program(cursor, ctx, charset)
    return Search(
        tag=tag, uid=uid, charset=charset, criteria=criteria, return_options=return_options
    )


def _parse_fetch(tag: str, cursor: Cursor, ctx: ParseContext, uid: bool) -> Command:
    sequence_set = sequence_set_arg(cursor)
    attributes, macro = parse_fetch_attributes(cursor.next("FETCH data items"), ctx)
    modifiers = params_of(cursor, ctx, "FETCH", "FETCH modifier")
    return Fetch(
        tag=tag,
        uid=uid,
        sequence_set=sequence_set,
        attributes=attributes,
        macro=macro,
        modifiers=modifiers,
    )


def _parse_store(tag: str, cursor: Cursor, ctx: ParseContext, uid: bool) -> Command:
    sequence_set = sequence_set_arg(cursor)
    modifiers: tuple[Modifier, ...] = ()
    if type(cursor.peek()) is list:
        modifiers = params_of(cursor, ctx, "STORE", "STORE modifier")
    m = _STORE_ITEM.match(cursor.keyword("STORE data item"))
    if m is None:
        raise RemoteProtocolError("expected FLAGS, +FLAGS or -FLAGS")
    v = cursor.next("flags")
    if type(v) is list:
        flags = flags_of(v, ctx)
    else:
        found = [flag_arg(v, ctx)]
        while not cursor.at_end():
            found.append(flag_arg(cursor.next("flag"), ctx))
        flags = tuple(found)
    return Store(
        tag=tag,
        uid=uid,
        sequence_set=sequence_set,
        mode=StoreMode(m.group(1)),
        silent=m.group(2) is not None,
        flags=flags,
        modifiers=modifiers,
    )


def _transfer_parser(cls: type[_TransferCommand]) -> _UidFormParser:
    def parse(tag: str, cursor: Cursor, ctx: ParseContext, uid: bool) -> Command:
        sequence_set = sequence_set_arg(cursor)
        return cls(tag=tag, uid=uid, sequence_set=sequence_set, mailbox=mailbox_arg(cursor, ctx))

    return parse


def _uid_form(parse: _UidFormParser, uid: bool) -> CommandParser:
    def parser(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
        return parse(tag, cursor, ctx, uid)

    return parser


def register_parsers(commands: dict[str, CommandParser]) -> None:
    """Register the parsers of EXPUNGE ... MOVE and their UID forms in ``commands``."""
    commands["EXPUNGE"] = _parse_expunge
    commands["UID EXPUNGE"] = _parse_uid_expunge
    for name, parse in (
        ("SEARCH", _parse_search),
        ("FETCH", _parse_fetch),
        ("STORE", _parse_store),
        ("COPY", _transfer_parser(Copy)),
        ("MOVE", _transfer_parser(Move)),
    ):
        commands[name] = _uid_form(parse, False)
        commands[f"UID {name}"] = _uid_form(parse, True)
