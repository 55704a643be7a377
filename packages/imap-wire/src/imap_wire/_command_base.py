"""The `Command` base class, and argument helpers shared by the command modules.

`imap_wire._commands` documents the command model; the commands themselves live there and in
`imap_wire._mailbox_commands` and `imap_wire._message_commands`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from ._encoding import WireWriter, is_atom, is_flag
from ._flags import parse_flag
from ._mailbox import parse_mailbox
from ._modifiers import Modifier, error_keyword, parse_modifiers
from ._mutf7 import encode_mailbox_name
from ._registry import ParseContext
from ._sequence_set import SequenceSet, parse_sequence_set
from ._status import StatusItem
from ._values import Cursor, Value, as_atom
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = ["Command", "UidCommand"]

#: ``tag = 1*<any ASTRING-CHAR except "+">`` (RFC 9051 section 9), less "[": the tokenizer
#: reads "[...]" as a section, so a tag holding "[" might not read back as written. (A
#: response's tag has no such limit: see ``imap_wire._responses._TAG``.)
TAG_PATTERN = re.compile(r'[^\x00-\x20\x7f(){%*"\\+\[]+\Z')
_STATUS_ITEMS = {i.value: i for i in StatusItem}


def text_of(data: bytes) -> str:
    """Decode astring octets as UTF-8; other octets survive as surrogate escapes."""
    return data.decode("utf-8", "surrogateescape")


def encode_text(text: str, what: str) -> bytes:
    """Encode text for the wire (the inverse of `text_of`), refusing lone surrogates."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} holds a lone surrogate") from None


def write_list_mailbox(w: WireWriter, pattern: str) -> None:
    """Write a ``list-mailbox`` pattern (wildcards stay bare)."""
    try:
        raw = encode_mailbox_name(pattern, utf8=w.utf8)
    except ValueError as exc:
        raise LocalProtocolError(str(exc)) from None
    w.list_mailbox(raw)


def write_atoms(w: WireWriter, items: Iterable[str | Modifier]) -> None:
    """Write ``(a b ...)``: names as atoms, modifiers through their own ``write``."""
    w.open()
    for i, item in enumerate(items):
        if i:
            w.sp()
        if isinstance(item, Modifier):
            item.write(w)
        else:
            w.atom(item)
    w.close()


def atom_arg(cursor: Cursor, what: str, ctx: ParseContext) -> str:
    """Consume an atom; strict mode refuses characters outside ATOM-CHAR."""
    text = cursor.atom(what)
    if ctx.strict and not is_atom(text):
        raise RemoteProtocolError(f"invalid {what}")
    return text


def flag_arg(v: Value, ctx: ParseContext) -> str:
    """Parse a ``flag``; strict mode refuses atoms that are not one (``\\*``, ``a%``)."""
    flag = parse_flag(v)
    if ctx.strict and not is_flag(flag):
        raise RemoteProtocolError("invalid flag")
    return flag


def flags_of(items: list[Value], ctx: ParseContext) -> tuple[str, ...]:
    """Parse the contents of a ``flag-list``."""
    return tuple(flag_arg(v, ctx) for v in items)


def params_of(cursor: Cursor, ctx: ParseContext, context: str, what: str) -> tuple[Modifier, ...]:
    """Consume an optional RFC 4466 parameter list (``select-params`` ...) at the line's end.

    The grammar wants at least one parameter; strict mode refuses ``()``.
    """
    if cursor.at_end():
        return ()
    items = cursor.list(f"{what} list")
    if not items and ctx.strict:
        raise RemoteProtocolError(f"empty {what} list")
    return parse_modifiers(items, context, ctx, what=what)


def mailbox_arg(cursor: Cursor, ctx: ParseContext, what: str = "mailbox name") -> str:
    """Consume a ``mailbox``."""
    return parse_mailbox(cursor.next(what), ctx)


def sequence_set_arg(cursor: Cursor) -> SequenceSet:
    """Consume a ``sequence-set`` (``$`` included)."""
    return parse_sequence_set(cursor.next("sequence set"))


def status_items_of(items: list[Value], ctx: ParseContext) -> tuple[str, ...]:
    """Parse ``status-att *(SP status-att)``: known items and registered ``STATUS-ITEM`` names."""
    if not items:
        raise RemoteProtocolError("empty STATUS item list")
    out: list[str] = []
    known = ctx.registry.modifiers
    for v in items:
        name = as_atom(v, "STATUS item").upper()
        item = _STATUS_ITEMS.get(name)
        if item is not None:
            out.append(item)
        elif ("STATUS-ITEM", name) in known:
            out.append(name)
        else:
            raise RemoteProtocolError(f"unknown STATUS item{error_keyword(name)}")
    return tuple(out)


def options_of(
    items: list[Value],
    ctx: ParseContext,
    builtin: Mapping[str, str],
    context: str,
    what: str,
) -> list[str | Modifier]:
    """Parse a list of options: built-in names, else registered ``context`` modifiers."""
    cursor = Cursor(items)
    registry = ctx.registry.modifiers
    out: list[str | Modifier] = []
    while not cursor.at_end():
        name = cursor.keyword(what)
        option = builtin.get(name)
        if option is not None:
            out.append(option)
            continue
        parser = registry.get((context, name))
        if parser is None:
            raise RemoteProtocolError(f"unknown {what}{error_keyword(name)}")
        out.append(parser(name, cursor, ctx))
    return out


# -- the base class ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """A client command (RFC 9051 section 6).

    Attributes:
        name: The command's name, upper case (a ClassVar; ``"FETCH"`` for UID FETCH too).
        tag: The command's tag (``tag = 1*<any ASTRING-CHAR except "+">``).
    """

    name: ClassVar[str] = ""
    tag: str

    @property
    def command_name(self) -> str:
        """The name the state table knows the command by (``"UID FETCH"`` for UID forms)."""
        return self.name

    def write(self, w: WireWriter) -> None:
        """Write the whole command line: tag, name, arguments and CRLF.

        Raises:
            LocalProtocolError: The tag or an argument cannot be expressed on the wire.
        """
        tag = self.tag
        if not (tag.isascii() and TAG_PATTERN.match(tag)):
            raise LocalProtocolError(f"not a valid tag: {tag!r}")
        w.raw(tag.encode("ascii"))
        w.sp()
        w.raw(self.command_name.encode("ascii"))
        self._write_arguments(w)
        w.crlf()

    def _write_arguments(self, w: WireWriter) -> None:
        """Write what follows the name, each argument preceded by its space (none here)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UidCommand(Command):
    """A command with a UID form (``UID FETCH`` ...; RFC 9051 section 6.4.9).

    Attributes:
        uid: True for the UID form: the numbers are UIDs, not sequence numbers.
    """

    uid: bool = False

    @property
    def command_name(self) -> str:
        """``"UID <name>"`` for the UID form, else the name."""
        return f"UID {self.name}" if self.uid else self.name
