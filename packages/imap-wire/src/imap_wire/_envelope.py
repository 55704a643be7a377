"""The ENVELOPE structure (RFC 9051 section 7.5.2; ABNF ``envelope``, ``env-*``, ``address``).

An envelope is the server's digest of a message's RFC 5322 header: ten fields in a fixed
order (date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id). Text
fields are kept as the server sent them (RFC 2047 encoded words stay encoded), decoded from
UTF-8 with ``surrogateescape`` so that `Envelope.write` re-encodes the exact octets. Address
lists are tuples of `Address`; ``NIL`` is the empty tuple, and the writer writes an empty
tuple as ``NIL``. RFC 5322 group syntax stays in the list as marker entries (see
`Address.is_group_start` and `Address.is_group_end`).

`parse_envelope` is on the FETCH hot path, so it reads list items by index, checks types with
``type(x) is bytes`` instead of going through the generic `Cursor` accessors, builds values
with `fast_constructor` (a frozen dataclass ``__init__`` costs two to three times as much),
and reuses the parsed sender and reply-to lists when the server repeated the from list (as
servers do when those header fields are absent, RFC 9051 section 7.5.2).

Tolerances (a client parses what real servers send):

- An atom where an ``nstring`` belongs is read as its text (``NIL`` in any case is None).
- A ``NIL`` element inside an address list is skipped (seen in the wild, MailKit issue #991).
- An address list sent as an empty list ``()`` is read as no addresses, like ``NIL``.
- A literal8 where a string belongs is read like a string.
- An envelope of eight or nine fields, the in-reply-to and message-id left out (QQ Mail,
  MailKit issues #279, #669 and #932): the missing trailing fields are read as ``NIL``, and
  the writer writes all ten.

Not tolerated: an envelope of fewer than eight or more than ten fields, an address without
exactly four, or a list where text belongs; these raise `RemoteProtocolError`, the only
exception `parse_envelope` raises.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, fields, make_dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar, cast

from ._encoding import WireWriter
from ._values import Value, describe
from .errors import RemoteProtocolError

__all__ = ["Address", "Envelope", "parse_envelope"]

_UTF8 = "utf-8"
_ESCAPE = "surrogateescape"


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """One ``address`` structure of an envelope (RFC 9051 section 7.5.2).

    A group is written as a start marker (``host`` None, ``mailbox`` the group name), its
    members, and an end marker (``host`` and ``mailbox`` both None).

    Attributes:
        name: Display name (RFC 5322 phrase, quoting removed), or None.
        adl: Source route (RFC 5322 obs-route), or None.
        mailbox: Local part; the group name in a group start marker; None in a group end.
        host: Domain; None in group markers.
    """

    name: str | None = None
    adl: str | None = None
    mailbox: str | None = None
    host: str | None = None

    @property
    def is_group_start(self) -> bool:
        """True for the marker that opens an RFC 5322 group (``mailbox`` holds its name)."""
        return self.host is None and self.mailbox is not None

    @property
    def is_group_end(self) -> bool:
        """True for the marker that closes an RFC 5322 group."""
        return self.host is None and self.mailbox is None

    @property
    def email(self) -> str | None:
        """Return ``mailbox@host``, or None for group markers and incomplete addresses."""
        if self.mailbox is None or self.host is None:
            return None
        return f"{self.mailbox}@{self.host}"

    def write(self, w: WireWriter) -> None:
        """Write the parenthesised address."""
        w.open()
        w.nstring(self.name)
        w.sp()
        w.nstring(self.adl)
        w.sp()
        w.nstring(self.mailbox)
        w.sp()
        w.nstring(self.host)
        w.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """The ENVELOPE of a message (RFC 9051 section 7.5.2).

    Attributes:
        date: The Date header field as sent, or None.
        subject: The Subject header field (encoded words not decoded), or None.
        from_: The From addresses.
        sender: The Sender addresses (servers default it to From).
        reply_to: The Reply-To addresses (servers default it to From).
        to: The To addresses.
        cc: The Cc addresses.
        bcc: The Bcc addresses.
        in_reply_to: The In-Reply-To header field, or None.
        message_id: The Message-ID header field, or None.
    """

    date: str | None = None
    subject: str | None = None
    from_: tuple[Address, ...] = ()
    sender: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    in_reply_to: str | None = None
    message_id: str | None = None

    @property
    def date_time(self) -> datetime | None:
        """Return `date` parsed as an RFC 5322 date, or None if absent or unparsable.

        The result is naive when the header gives the zone as ``-0000`` (RFC 5322 section
        3.3: local time of unknown offset). Never raises.
        """
        if not self.date:
            return None
        try:
            return parsedate_to_datetime(self.date)
        except (ValueError, TypeError, IndexError, OverflowError):
            return None

    def write(self, w: WireWriter) -> None:
        """Write the parenthesised envelope."""
        w.open()
        w.nstring(self.date)
        w.sp()
        w.nstring(self.subject)
        for addresses in (self.from_, self.sender, self.reply_to, self.to, self.cc, self.bcc):
            w.sp()
            if addresses:
                w.open()
                for address in addresses:
                    address.write(w)
                w.close()
            else:
                w.nil()
        w.sp()
        w.nstring(self.in_reply_to)
        w.sp()
        w.nstring(self.message_id)
        w.close()


_T = TypeVar("_T")


def fast_constructor(cls: type[_T]) -> Callable[..., _T]:
    """Return a positional constructor for the frozen slotted dataclass ``cls``, for parsers.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, which
    dominates the cost of parsing a FETCH response. The constructor returned here is a
    mutable twin with the same slots, whose instances switch their class to ``cls`` once
    their fields are set. It takes every field positionally, in definition order, and runs no
    validation: parsers pass values already of the right types.

    Args:
        cls: A ``@dataclass(frozen=True, slots=True)`` class without ``__post_init__``.

    Returns:
        A callable building ``cls`` instances from positional field values.

    Raises:
        TypeError: ``cls`` is not a slotted dataclass.
    """
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def become(self: object) -> None:
        self.__class__ = cls

    twin = make_dataclass(
        f"_{cls.__name__}Builder",
        names,
        slots=True,
        eq=False,
        repr=False,
        match_args=False,
        namespace={"__post_init__": become},
    )
    if getattr(twin, "__slots__", None) != getattr(cls, "__slots__", None):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    return cast("Callable[..., _T]", twin)


_new_address = fast_constructor(Address)
_new_envelope = fast_constructor(Envelope)
# Comparing the raw lists compares bytes with str, which warns under ``python -b``.
_REUSE_FROM = not sys.flags.bytes_warning


def parse_envelope(v: Value) -> Envelope:
    """Parse an ``envelope`` value (RFC 9051 section 9), with the tolerances listed above.

    Args:
        v: The parenthesised envelope, as tokenized.

    Returns:
        The envelope.

    Raises:
        RemoteProtocolError: The value is not an envelope.
    """
    if type(v) is not list or len(v) != 10:
        if type(v) is not list or not 8 <= len(v) <= 10:
            raise RemoteProtocolError("expected envelope (a list of 10 fields)")
        v = [*v, *("NIL",) * (10 - len(v))]
    date, subject, from_, sender, reply_to, to, cc, bcc, in_reply_to, message_id = v
    from_list = _addresses(from_)
    if _REUSE_FROM:
        sender_list = from_list if sender == from_ else _addresses(sender)
        reply_to_list = from_list if reply_to == from_ else _addresses(reply_to)
    else:
        sender_list = _addresses(sender)
        reply_to_list = _addresses(reply_to)
    return _new_envelope(
        date.decode(_UTF8, _ESCAPE) if type(date) is bytes else _text(date),
        subject.decode(_UTF8, _ESCAPE) if type(subject) is bytes else _text(subject),
        from_list,
        sender_list,
        reply_to_list,
        _addresses(to),
        _addresses(cc),
        _addresses(bcc),
        in_reply_to.decode(_UTF8, _ESCAPE) if type(in_reply_to) is bytes else _text(in_reply_to),
        message_id.decode(_UTF8, _ESCAPE) if type(message_id) is bytes else _text(message_id),
    )


def text_or_nil(v: Value) -> str | None:
    """Read an ``nstring`` that is not a plain quoted string (the slow path of the parsers).

    ``NIL`` in any case is None, another atom is its text, a literal8 is decoded.

    Raises:
        RemoteProtocolError: ``v`` is a list or a streamed literal.
    """
    if type(v) is str:
        return None if v == "NIL" or v.upper() == "NIL" else v
    if isinstance(v, bytes):
        return v.decode(_UTF8, _ESCAPE)
    raise RemoteProtocolError(f"expected a string or NIL, got {describe(v)}")


_text = text_or_nil


def _addresses(v: Value) -> tuple[Address, ...]:
    """Read an address list (``env-from`` and its siblings)."""
    if type(v) is not list:
        if type(v) is str and (v == "NIL" or v.upper() == "NIL"):
            return ()
        raise RemoteProtocolError(f"expected address list, got {describe(v)}")
    out: list[Address] = []
    for a in v:
        if type(a) is list and len(a) == 4:
            name, adl, mailbox, host = a
            # Inline fast paths: a quoted string or NIL (adl is nearly always NIL).
            out.append(
                _new_address(
                    name.decode(_UTF8, _ESCAPE)
                    if type(name) is bytes
                    else (None if name == "NIL" else _text(name)),
                    adl.decode(_UTF8, _ESCAPE)
                    if type(adl) is bytes
                    else (None if adl == "NIL" else _text(adl)),
                    mailbox.decode(_UTF8, _ESCAPE) if type(mailbox) is bytes else _text(mailbox),
                    host.decode(_UTF8, _ESCAPE) if type(host) is bytes else _text(host),
                )
            )
        elif type(a) is str and (a == "NIL" or a.upper() == "NIL"):
            continue
        else:
            raise RemoteProtocolError("expected address (a list of 4 fields)")
    return tuple(out)
