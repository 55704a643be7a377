"""Extension data in its generic form: the ``tagged-ext-val`` of RFC 4466 section 3.

Command parameters and modifiers (`imap_wire._modifiers`) and response data nobody parses
into a typed value (LIST extended data, STATUS and ESEARCH items, `UnknownResponse`) keep
their values as a tree of atoms (`str`), strings (`bytes`) and lists (`tuple`).
"""

from __future__ import annotations

from typing import TypeAlias

from ._encoding import WireWriter, sectioned_atom_pattern
from ._values import Literal8, StreamedLiteral, Value
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = ["ExtValue", "ext_value", "to_ext_value", "write_ext_value"]

#: Extension data in its generic form: an atom is a `str` (numbers and sequence sets
#: included), a quoted string or literal is `bytes` (`Literal8` for a literal8), a
#: parenthesised list is a tuple. A `StreamedLiteral` can be read in a response but not
#: written back.
ExtValue: TypeAlias = "str | bytes | StreamedLiteral | tuple[ExtValue, ...]"

# An atom that reads back as one `str`: ASTRING-CHARs plus "*" (sequence sets such as 1:*),
# after an optional "\" (flag-like names such as \Seen), with "[" only in closed pairs.
_EXT_ATOM = sectioned_atom_pattern(
    r'[^\x00-\x20\x7f-\U0010ffff(){%"\\\[]',
    r'[^\x00-\x20\x7f-\U0010ffff(){%"\\\[\]]',
    prefix=r"\\?",
)


def to_ext_value(v: Value) -> ExtValue:
    """Return a tokenized value of a response in the generic form (lists become tuples)."""
    if isinstance(v, list):
        return tuple(to_ext_value(x) for x in v)
    return v


def ext_value(v: Value) -> ExtValue:
    """Return a command parameter's value in the generic form (lists become tuples).

    A literal8 becomes plain `bytes`: ``tagged-ext-val`` has no literal8, so the value is
    written back as a string.

    Raises:
        RemoteProtocolError: The value holds a streamed literal.
    """
    if isinstance(v, list):
        return tuple(ext_value(x) for x in v)
    if isinstance(v, StreamedLiteral):
        raise RemoteProtocolError("a streamed literal cannot be a parameter value")
    if type(v) is Literal8:
        return bytes(v)
    return v


def write_ext_value(w: WireWriter, value: ExtValue) -> None:
    """Write extension data in its generic form: atoms as they are, strings quoted or as
    literals (a `Literal8` as a literal8), tuples in parentheses.

    Raises:
        LocalProtocolError: A `str` that is not an atom, a `StreamedLiteral`, or a value of
            another type.
    """
    if isinstance(value, tuple):
        w.open()
        for i, item in enumerate(value):
            if i:
                w.sp()
            write_ext_value(w, item)
        w.close()
    elif isinstance(value, Literal8):
        w.literal(value, binary=True)
    elif isinstance(value, bytes):
        w.string(value)
    elif isinstance(value, str):
        if not _EXT_ATOM.match(value):
            raise LocalProtocolError(f"not a valid atom: {value!r}")
        w.raw(value.encode("ascii"))
    elif isinstance(value, StreamedLiteral):
        raise LocalProtocolError("a streamed literal cannot be written back")
    else:
        raise LocalProtocolError(f"not an extension value: {type(value).__name__}")
