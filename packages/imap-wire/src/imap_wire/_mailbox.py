"""Mailbox names on the wire: ``mailbox`` and ``list-mailbox`` (RFC 9051 section 9)."""

from __future__ import annotations

from ._mutf7 import decode_mailbox_name, normalize_inbox
from ._registry import ParseContext
from ._values import Value, as_astring
from .errors import RemoteProtocolError

__all__ = ["decode_mailbox", "parse_list_mailbox", "parse_mailbox"]


def decode_mailbox(raw: bytes, ctx: ParseContext) -> str:
    """Decode a mailbox name's octets (modified UTF-7, or UTF-8 with UTF8=ACCEPT)."""
    try:
        name = decode_mailbox_name(raw, utf8=ctx.utf8, strict=ctx.strict)
    except ValueError as exc:
        raise RemoteProtocolError(f"invalid mailbox name: {exc}") from None
    return normalize_inbox(name)


def parse_mailbox(v: Value, ctx: ParseContext) -> str:
    """Parse a ``mailbox`` (an astring; ``INBOX`` is case-insensitive)."""
    return decode_mailbox(as_astring(v, "mailbox name"), ctx)


def parse_list_mailbox(v: Value, ctx: ParseContext) -> str:
    """Parse a LIST pattern (list-chars, wildcards included, or a string)."""
    raw = as_astring(v, "mailbox pattern")
    try:
        return decode_mailbox_name(raw, utf8=ctx.utf8, strict=ctx.strict)
    except ValueError as exc:
        raise RemoteProtocolError(f"invalid mailbox pattern: {exc}") from None
