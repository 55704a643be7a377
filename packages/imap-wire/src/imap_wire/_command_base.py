"""The `Command` base class, and argument helpers shared by the command modules.

`imap_wire._commands` documents the command model; the commands themselves live there and in
`imap_wire._mailbox_commands` and `imap_wire._message_commands`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from ._encoding import TAG_PATTERN, WireWriter, is_atom, is_flag
from ._flags import parse_flag
from ._mailbox import parse_list_mailbox, parse_mailbox
from ._modifiers import Modifier, error_keyword, parse_modifiers
from ._mutf7 import encode_mailbox_name
from ._registry import ParseContext
from ._sequence_set import SequenceSet, parse_sequence_set
from ._status import StatusItem
from ._values import Cursor, Literal8, Value, as_astring, as_atom, describe
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = ["Command", "UidCommand"]

# status-att of RFC 9051 section 9, and RECENT of RFC 3501. HIGHESTMODSEQ (CONDSTORE, RFC 7162)
# and APPENDLIMIT (RFC 7889) are extensions: like any other, known once registered as
# ("STATUS-ITEM", NAME) (RFC 4466 section 2.1: a BAD for what the server does not support).
_BASE_STATUS_ITEMS = {
    i.value: i for i in StatusItem if i not in (StatusItem.HIGHESTMODSEQ, StatusItem.APPENDLIMIT)
}
_STATUS_ITEMS = {i.value: i for i in StatusItem}
# An astring's atom form is 1*ASTRING-CHAR: the tokenizer's atoms may also hold list-wildcards,
# "\" and 8-bit characters. ("[" is an ATOM-CHAR; the tokenizer keeps "[...]" in its atom.)
_ASTRING_ATOM = re.compile(r'[^\x00-\x20\x7f-\U0010ffff(){%*"\\]+\Z')
# list-char = ATOM-CHAR / list-wildcards / resp-specials.
_LIST_ATOM = re.compile(r'[^\x00-\x20\x7f-\U0010ffff(){"\\]+\Z')


def text_of(data: bytes) -> str:
    """Decode astring octets as UTF-8; other octets survive as surrogate escapes."""
    return data.decode("utf-8", "surrogateescape")


def encode_text(text: str, what: str) -> bytes:
    """Encode text for the wire (the inverse of `text_of`), refusing lone surrogates and NUL.

    NUL may appear only in a literal8 (RFC 9051 section 9, note 3; section 4.3).
    """
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} holds a lone surrogate") from None
    if b"\0" in data:
        raise LocalProtocolError(f"{what} holds a NUL")
    return data


def check_octets(values: list[Value]) -> None:
    """Refuse what no command may hold anywhere: 8-bit atoms and NUL outside a literal8.

    Atoms are ASCII (``ATOM-CHAR`` is a ``CHAR``; UTF8=ACCEPT, RFC 9755 section 3, extends
    quoted strings only), and NUL is allowed only in a literal8 (RFC 9051 section 9, note 3).
    Checking the atoms also keeps out the non-ASCII letters whose upper case is ASCII: U+017F
    (long s) upper-cases to ``S``, so ``SEEN`` spelt with it would pass for the keyword.

    Raises:
        RemoteProtocolError: Some value breaks either rule.
    """
    stack = [values]
    while stack:
        for v in stack.pop():
            if type(v) is str:
                if not v.isascii():
                    raise RemoteProtocolError("8-bit octets in an atom")
            elif type(v) is bytes:
                if b"\0" in v:
                    raise RemoteProtocolError("NUL in a string (only a literal8 may hold one)")
            elif type(v) is list:
                stack.append(v)


def astring_of(v: Value, what: str, ctx: ParseContext, *, wildcards: bool = False) -> bytes:
    """Return an ``astring``'s octets; strict mode checks the atom form's characters.

    Args:
        v: The value.
        what: What it is, for error messages.
        ctx: The parse context.
        wildcards: Read a ``list-mailbox``, whose atom form allows ``%`` and ``*``.

    Raises:
        RemoteProtocolError: Not an astring: a list, a streamed literal, a literal8 (which
            only APPEND's message may be, RFC 3516 section 4.4), or (strict) an atom with
            a character outside ``ASTRING-CHAR`` (``list-char``).
    """
    if ctx.strict:
        if type(v) is str:
            if not (_LIST_ATOM if wildcards else _ASTRING_ATOM).match(v):
                raise RemoteProtocolError(f"invalid character in {what}")
        elif type(v) is Literal8:
            raise RemoteProtocolError(f"expected {what}, got a literal8")
    return as_astring(v, what)


def string_of(v: Value, what: str, ctx: ParseContext) -> bytes:
    """Return a ``string``'s octets (quoted or literal); tolerant mode takes an atom too.

    Raises:
        RemoteProtocolError: Not a string (strict: an atom or a literal8 is not one).
    """
    if isinstance(v, bytes) and not (ctx.strict and type(v) is Literal8):
        return v
    if type(v) is str and not ctx.strict:
        return as_astring(v, what)
    raise RemoteProtocolError(f"expected {what} (a string), got {describe(v)}")


def nstring_of(v: Value, what: str, ctx: ParseContext) -> bytes | None:
    """Return an ``nstring``: a `string_of`, or None for ``NIL`` (any case)."""
    if type(v) is str:
        if v.upper() == "NIL":
            return None
        raise RemoteProtocolError(f"expected {what}, got atom")
    return string_of(v, what, ctx)


def write_mailbox(w: WireWriter, name: str) -> None:
    """Write a ``mailbox``, refusing a NUL that UTF8=ACCEPT would send as it is."""
    if w.utf8 and "\0" in name:
        raise LocalProtocolError("a mailbox name holds a NUL")
    w.mailbox(name)


def write_list_mailbox(w: WireWriter, pattern: str) -> None:
    """Write a ``list-mailbox`` pattern (wildcards stay bare)."""
    try:
        raw = encode_mailbox_name(pattern, utf8=w.utf8)
    except ValueError as exc:
        raise LocalProtocolError(str(exc)) from None
    if b"\0" in raw:
        raise LocalProtocolError("a mailbox pattern holds a NUL")
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
    """Consume a ``mailbox`` (an astring; strict mode checks it as `astring_of` does)."""
    v = cursor.next(what)
    if ctx.strict:
        astring_of(v, what, ctx)
    return parse_mailbox(v, ctx)


def list_mailbox_arg(v: Value, ctx: ParseContext) -> str:
    """Parse a ``list-mailbox`` (a LIST or LSUB pattern)."""
    if ctx.strict:
        astring_of(v, "mailbox pattern", ctx, wildcards=True)
    return parse_list_mailbox(v, ctx)


def sequence_set_arg(cursor: Cursor) -> SequenceSet:
    """Consume a ``sequence-set`` (``$`` included)."""
    return parse_sequence_set(cursor.next("sequence set"))


def status_items_of(items: list[Value], ctx: ParseContext) -> tuple[str, ...]:
    """Parse ``status-att *(SP status-att)``: base items and registered ``STATUS-ITEM`` names.

    A registered name that is a `StatusItem` (``HIGHESTMODSEQ``) is returned as that member.
    """
    if not items:
        raise RemoteProtocolError("empty STATUS item list")
    out: list[str] = []
    known = ctx.registry.modifiers
    for v in items:
        name = as_atom(v, "STATUS item").upper()
        item = _BASE_STATUS_ITEMS.get(name)
        if item is not None:
            out.append(item)
        elif ("STATUS-ITEM", name) in known:
            out.append(_STATUS_ITEMS.get(name, name))
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
        if not TAG_PATTERN.match(tag):
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
