"""Command modifiers: the generic extension hooks of RFC 4466 section 3.

Several commands take an optional parenthesised list of ``name [value]`` pairs that only
extensions define: SELECT and EXAMINE parameters (``select-param``), CREATE and RENAME
parameters, FETCH and STORE modifiers, SEARCH return options, LIST selection and return
options (RFC 5258 ``option-extension``) and APPEND extensions (``append-ext``). All of them are
a `Modifier`: an upper-case name and an optional `ExtValue`, the ``tagged-ext-val`` of
RFC 4466 kept as a tree of atoms (`str`), strings (`bytes`) and lists (`tuple`); see
`imap_wire._ext_value`.

An extension makes a name known by registering a `ModifierParser` under
``registry.modifiers[(context, NAME)]``, where the context is ``"SELECT"`` (EXAMINE too: both
use ``select-params``), ``"CREATE"``, ``"RENAME"``, ``"FETCH"``, ``"STORE"``,
``"SEARCH-RETURN"``, ``"LIST-SELECT"``, ``"LIST-RETURN"`` or ``"APPEND"``. The parser is called
as ``parser(NAME, cursor, ctx)`` with the cursor just after the name (inside the list, or on
the command line for APPEND) and consumes the value it expects. It returns a `Modifier`, or an
instance of a `Modifier` subclass with typed fields and its own ``write``.
`parse_generic_modifier` suits every modifier whose value follows the recommended
``tagged-ext-val`` syntax::

    registry.modifiers[("SELECT", "CONDSTORE")] = parse_generic_modifier

For STATUS items (in STATUS and in the LIST ``RETURN (STATUS (...))`` option) only the
presence of ``("STATUS-ITEM", NAME)`` counts: it makes ``NAME`` a known item name; the
command parsers never call it.

A name nobody registered makes the command a ``BAD`` (RFC 4466 section 2.1: "Any parameter
not defined by extensions that the server supports must be rejected with a BAD response").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ._encoding import UINT63, WireWriter
from ._ext_value import ExtValue, ext_value, write_ext_value
from ._registry import ParseContext
from ._sequence_set import SequenceSet
from ._values import Cursor, Literal8, Value
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ExtValue",
    "Modifier",
    "ext_value",
    "parse_generic_modifier",
    "parse_modifiers",
    "write_ext_value",
    "write_modifiers",
]

# tagged-ext-simple is a sequence-set or a number; anything else that follows a name is the
# next name (tagged-ext-label starts with ALPHA, "-", "_" or ".").
_SIMPLE_FIRST = frozenset("0123456789*$")
# Printable ASCII but SP and the characters an error text had better not carry: a name made
# of these is echoed in error messages (not an atom test; see `error_keyword`).
_ECHOABLE = re.compile(r"[!#$&\'+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+\Z")
_NUMBER64 = re.compile(r"[0-9]{1,19}\Z")


def is_simple_value(text: str) -> bool:
    """Tell whether an atom is a ``tagged-ext-simple``: a sequence set or a ``number64``."""
    if _NUMBER64.match(text):
        return int(text) <= UINT63
    try:
        SequenceSet.parse(text)
    except RemoteProtocolError:
        return False
    return True


def _has_literal8(v: Value) -> bool:
    if type(v) is list:
        return any(_has_literal8(x) for x in v)
    return type(v) is Literal8


def _unwritable_string(value: ExtValue) -> bool:
    if isinstance(value, tuple):
        return any(_unwritable_string(v) for v in value)
    # tagged-ext-val has no literal8 (RFC 4466 section 3), and only a literal8 may carry NUL
    # (RFC 9051 section 9, note 3).
    return isinstance(value, bytes) and (type(value) is Literal8 or b"\0" in value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Modifier:
    """One ``name [value]`` pair of an RFC 4466 parameter or modifier list.

    Attributes:
        name: The parameter's name (``tagged-ext-label``), upper case as parsed.
        value: Its value, or None when the name stands alone. A bare value (not a list) is a
            ``tagged-ext-simple``: a number or a sequence set, kept as the atom's text.
    """

    name: str
    value: ExtValue | None = None

    def write(self, w: WireWriter) -> None:
        """Write ``name [SP value]``.

        Raises:
            LocalProtocolError: The name is not an atom, or the value cannot be written so
                that `parse_generic_modifier` reads it back (a bare string, a bare atom that
                is not a number or sequence set, a literal8, a string holding NUL).
        """
        w.atom(self.name)
        value = self.value
        if value is None:
            return
        if isinstance(value, bytes) or (isinstance(value, str) and not is_simple_value(value)):
            raise LocalProtocolError(
                f"the value of {self.name} must be a number, a sequence set or a list"
            )
        if _unwritable_string(value):
            raise LocalProtocolError(f"the value of {self.name} holds a literal8 or a NUL")
        w.sp()
        write_ext_value(w, value)


def parse_generic_modifier(name: str, cursor: Cursor, ctx: ParseContext) -> Modifier:
    """Parse a modifier whose optional value is a ``tagged-ext-val`` (RFC 4466 section 3).

    A following list, or an atom that starts like a number or a sequence set, is the value;
    anything else belongs to what comes next.

    Args:
        name: The modifier's name, upper case.
        cursor: Positioned just after the name.
        ctx: The parse context: strict mode checks that a bare value is a number64 or a
            sequence set, as ``tagged-ext-simple`` wants.

    Returns:
        The modifier.

    Raises:
        RemoteProtocolError: The value holds a streamed literal, or (strict) a bare value
            is neither a number64 nor a sequence set, or a list holds a literal8 or an atom
            that is not an astring, a sequence set or a flag-like ``\\name``.
    """
    v = cursor.peek()
    if type(v) is list:
        cursor.pos += 1
        if ctx.strict and _has_literal8(v):
            # tagged-ext-val has no literal8 (RFC 4466 section 3).
            raise RemoteProtocolError(f"a literal8 in the value of modifier{error_keyword(name)}")
        value = ext_value(v)
        if ctx.strict:
            # Every atom must be one the writer can send back (tagged-ext-comp is astrings,
            # plus the sequence sets and flag-like names extensions put there): what a
            # server accepts a client must be able to write.
            try:
                write_ext_value(WireWriter(), value)
            except LocalProtocolError:
                raise RemoteProtocolError(
                    f"invalid value of modifier{error_keyword(name)}"
                ) from None
        return Modifier(name=name, value=value)
    if type(v) is str and v[:1] in _SIMPLE_FIRST:
        if ctx.strict and not is_simple_value(v):
            raise RemoteProtocolError(f"invalid value of modifier{error_keyword(name)}")
        cursor.pos += 1
        return Modifier(name=name, value=v)
    return Modifier(name=name)


def error_keyword(name: str) -> str:
    """Return ``name`` quoted for an error text, or ``""`` when it is not fit to echo."""
    if len(name) <= 40 and _ECHOABLE.match(name):
        return f" {name}"
    return ""


def parse_modifiers(
    items: list[Value], context: str, ctx: ParseContext, *, what: str
) -> tuple[Modifier, ...]:
    """Parse the contents of a parameter list through the registered modifier parsers.

    Args:
        items: The values inside the parentheses.
        context: The registry context (``"SELECT"``, ``"FETCH"`` ...).
        ctx: The parse context.
        what: What the list is, for error messages (``"SELECT parameter"``).

    Returns:
        The modifiers, in order.

    Raises:
        RemoteProtocolError: A name is not an atom or is not registered for ``context``, or
            the registered parser refused its value.
    """
    cursor = Cursor(items)
    registry = ctx.registry.modifiers
    out: list[Modifier] = []
    while not cursor.at_end():
        name = cursor.keyword(f"{what} name")
        parser = registry.get((context, name))
        if parser is None:
            raise RemoteProtocolError(f"unknown {what}{error_keyword(name)}")
        out.append(parser(name, cursor, ctx))
    return tuple(out)


def write_modifiers(w: WireWriter, modifiers: Iterable[Modifier]) -> None:
    """Write ``(m1 m2 ...)`` (the caller writes the space before it)."""
    w.open()
    for i, modifier in enumerate(modifiers):
        if i:
            w.sp()
        modifier.write(w)
    w.close()
