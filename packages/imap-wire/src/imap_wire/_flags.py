"""Message flags and keywords (RFC 9051 section 2.3.2)."""

from __future__ import annotations

import enum

from ._encoding import WireWriter
from ._values import Value, as_atom, as_list
from .errors import RemoteProtocolError

__all__ = ["Flag", "normalize_flag", "parse_flag", "parse_flag_list", "write_flag_list"]


class Flag(enum.StrEnum):
    """System flags, and the keywords RFC 9051 defines (plain `str` values, so they compare
    equal to the strings a server sends).
    """

    SEEN = "\\Seen"
    ANSWERED = "\\Answered"
    FLAGGED = "\\Flagged"
    DELETED = "\\Deleted"
    DRAFT = "\\Draft"
    RECENT = "\\Recent"
    #: In PERMANENTFLAGS: the client may create new keywords.
    WILDCARD = "\\*"
    FORWARDED = "$Forwarded"
    MDN_SENT = "$MDNSent"
    JUNK = "$Junk"
    NOT_JUNK = "$NotJunk"
    PHISHING = "$Phishing"


_CANONICAL = {f.value.upper(): f.value for f in Flag if f.value.startswith("\\")}


def normalize_flag(flag: str) -> str:
    """Return a system flag in its canonical case (flags are case-insensitive)."""
    if flag[:1] == "\\":
        return _CANONICAL.get(flag.upper(), flag)
    return flag


def parse_flag(v: Value) -> str:
    """Parse one flag atom (``\\Seen``, ``$Label``, ``\\*`` in PERMANENTFLAGS)."""
    flag = as_atom(v, "flag")
    if flag[:1] == "\\":
        return normalize_flag(flag)
    if "\\" in flag:
        raise RemoteProtocolError("invalid flag")
    return flag


def parse_flag_list(v: Value) -> tuple[str, ...]:
    """Parse a parenthesised flag list."""
    return tuple(parse_flag(f) for f in as_list(v, "flag list"))


def write_flag_list(w: WireWriter, flags: tuple[str, ...] | list[str] | frozenset[str]) -> None:
    """Write a parenthesised flag list."""
    w.open()
    for i, flag in enumerate(flags):
        if i:
            w.sp()
        w.flag(flag)
    w.close()
