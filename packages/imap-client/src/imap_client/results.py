"""What the command methods return: small frozen values built from the server's responses.

`FetchData` is `imap_wire.FetchResponse` itself (already typed: ``uid``, ``flags``,
``envelope``, ``body_structure``, ``sections`` ...); the others are built here from one or
more responses (`SelectData` from the untagged data of SELECT, `ListData` from a LIST
response and the STATUS that LIST-STATUS sends after it ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from imap_wire import (
    AppendUidCode,
    CopyUidCode,
    ESearchResponse,
    FetchResponse,
    ListResponse,
    LsubResponse,
    MailboxStatusResponse,
    NamespaceEntry,
    NamespaceResponse,
    SequenceSet,
)

__all__ = [
    "SPECIAL_USE_ATTRIBUTES",
    "AppendResult",
    "CopyResult",
    "FetchData",
    "ListData",
    "NamespaceData",
    "SearchData",
    "SelectData",
    "StatusData",
]

#: One message's data from a FETCH (or the FETCH a STORE answers with): the wire's typed
#: response. Data the server split over several responses is merged into one.
FetchData: TypeAlias = FetchResponse

#: The special-use attributes of RFC 6154 section 2 (and ``\Important``, RFC 8457), upper case.
SPECIAL_USE_ATTRIBUTES = frozenset(
    {"\\ALL", "\\ARCHIVE", "\\DRAFTS", "\\FLAGGED", "\\JUNK", "\\SENT", "\\TRASH", "\\IMPORTANT"}
)
_NOT_SELECTABLE = frozenset({"\\NOSELECT", "\\NONEXISTENT"})
_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusData:
    """A mailbox's status (RFC 9051 section 7.3.2): from STATUS, or LIST-STATUS (RFC 5819).

    The typed fields are None for items the server did not send.

    Attributes:
        mailbox: The mailbox name (decoded).
        messages: ``MESSAGES``: the number of messages.
        uid_next: ``UIDNEXT``: the next UID the mailbox will assign.
        uid_validity: ``UIDVALIDITY``.
        unseen: ``UNSEEN``: the number of messages without ``\\Seen``.
        deleted: ``DELETED``: the number of messages with ``\\Deleted``.
        size: ``SIZE``: the mailbox's total size in octets (RFC 8438).
        recent: ``RECENT`` (IMAP4rev1 only).
        highest_modseq: ``HIGHESTMODSEQ`` (CONDSTORE, RFC 7162).
        append_limit: ``APPENDLIMIT`` (RFC 7889).
        items: Every numeric item by upper-case name, as sent (extension items included).
        extra: Items whose value is not a number, as ``(NAME, value)`` in the wire's generic
            form (``MAILBOXID``, RFC 8474).
    """

    mailbox: str
    messages: int | None = None
    uid_next: int | None = None
    uid_validity: int | None = None
    unseen: int | None = None
    deleted: int | None = None
    size: int | None = None
    recent: int | None = None
    highest_modseq: int | None = None
    append_limit: int | None = None
    items: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    extra: tuple[tuple[str, object], ...] = ()

    @classmethod
    def from_response(cls, response: MailboxStatusResponse) -> StatusData:
        """Build from a ``* STATUS`` response."""
        items = response.items
        return cls(
            mailbox=response.mailbox,
            messages=items.get("MESSAGES"),
            uid_next=items.get("UIDNEXT"),
            uid_validity=items.get("UIDVALIDITY"),
            unseen=items.get("UNSEEN"),
            deleted=items.get("DELETED"),
            size=items.get("SIZE"),
            recent=items.get("RECENT"),
            highest_modseq=items.get("HIGHESTMODSEQ"),
            append_limit=items.get("APPENDLIMIT"),
            items=MappingProxyType(dict(items)),
            extra=tuple(response.extra),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ListData:
    """One mailbox of a LIST (or LSUB) answer (RFC 9051 section 7.3.1, RFC 5258, RFC 6154).

    Attributes:
        name: The mailbox name, decoded (modified UTF-7 or UTF-8 on the wire; ``INBOX``
            normalised).
        delimiter: The hierarchy delimiter, or None for a flat name space.
        attributes: The mailbox attributes; the known ones in their canonical case
            (``\\HasNoChildren``, ``\\Noselect``, ``\\Sent`` ...; see
            `imap_wire.MailboxAttribute`), others as sent.
        special_use: The special-use attributes among them (``\\Sent``, ``\\Trash`` ...).
        status: The mailbox's status when it was asked for (``status=`` of `list`), else
            None.
        child_info: The ``CHILDINFO`` extended data (RFC 5258 section 3.5), e.g.
            ``("SUBSCRIBED",)``.
        old_name: The ``OLDNAME`` extended data (RFC 9051 section 6.3.9.7), if any.
    """

    name: str
    delimiter: str | None
    attributes: frozenset[str] = frozenset()
    special_use: frozenset[str] = frozenset()
    status: StatusData | None = None
    child_info: tuple[str, ...] = ()
    old_name: str | None = None

    @classmethod
    def from_response(
        cls, response: ListResponse | LsubResponse, status: StatusData | None = None
    ) -> ListData:
        """Build from a ``* LIST`` or ``* LSUB`` response (and the STATUS that followed it)."""
        attributes = frozenset(response.attributes)
        return cls(
            name=response.mailbox,
            delimiter=response.delimiter,
            attributes=attributes,
            special_use=frozenset(a for a in attributes if a.upper() in SPECIAL_USE_ATTRIBUTES),
            status=status,
            child_info=response.childinfo,
            old_name=response.oldname,
        )

    def has_attribute(self, attribute: str) -> bool:
        """Tell whether the mailbox has an attribute (compared case-insensitively)."""
        upper = attribute.upper()
        return any(a.upper() == upper for a in self.attributes)

    @property
    def selectable(self) -> bool:
        """False for ``\\Noselect`` and ``\\NonExistent`` mailboxes."""
        return not any(a.upper() in _NOT_SELECTABLE for a in self.attributes)


@dataclass(frozen=True, slots=True, kw_only=True)
class SelectData:
    """What SELECT or EXAMINE reported about the mailbox (RFC 9051 section 6.3.2).

    Attributes:
        name: The mailbox name as selected.
        read_only: True after EXAMINE, or when the server answered ``[READ-ONLY]``.
        exists: ``EXISTS``: the number of messages.
        recent: ``RECENT`` (IMAP4rev1 servers only; 0 otherwise).
        flags: ``FLAGS``: the flags defined in the mailbox.
        permanent_flags: ``PERMANENTFLAGS``: the flags the client can change permanently
            (``\\*``: new keywords too); None when the server did not say (then all can).
        uid_validity: ``UIDVALIDITY``.
        uid_next: ``UIDNEXT`` (None from old servers that do not send it).
        highest_modseq: ``HIGHESTMODSEQ`` (CONDSTORE), else None.
        unseen: ``UNSEEN``: the number of the first unseen message (IMAP4rev1 servers), else
            None.
        list_data: The LIST response an IMAP4rev2 server sends with the mailbox's
            attributes, else None.
    """

    name: str
    read_only: bool = False
    exists: int = 0
    recent: int = 0
    flags: tuple[str, ...] = ()
    permanent_flags: tuple[str, ...] | None = None
    uid_validity: int | None = None
    uid_next: int | None = None
    highest_modseq: int | None = None
    unseen: int | None = None
    list_data: ListData | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceData:
    """The server's namespaces (RFC 9051 section 7.3.3, RFC 2342).

    Each group is empty when the server has none of that kind (``NIL``).

    Attributes:
        personal: The user's own namespaces (usually one, prefix ``""``).
        other: Other users' namespaces.
        shared: Shared namespaces.
    """

    personal: tuple[NamespaceEntry, ...] = ()
    other: tuple[NamespaceEntry, ...] = ()
    shared: tuple[NamespaceEntry, ...] = ()

    @classmethod
    def from_response(cls, response: NamespaceResponse) -> NamespaceData:
        """Build from a ``* NAMESPACE`` response."""
        return cls(
            personal=response.personal or (),
            other=response.other or (),
            shared=response.shared or (),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendResult:
    """What APPEND told about the new message (``APPENDUID``, RFC 4315 / RFC 9051 7.1).

    Attributes:
        uid_validity: UIDVALIDITY of the destination mailbox, or None without UIDPLUS.
        uid: The new message's UID, or None without UIDPLUS.
    """

    uid_validity: int | None = None
    uid: int | None = None

    @classmethod
    def from_code(cls, code: object) -> AppendResult:
        """Build from the tagged OK's response code (anything else gives an empty result)."""
        if isinstance(code, AppendUidCode) and not code.uids.has_star:
            uids = list(code.uids)
            return cls(uid_validity=code.uid_validity, uid=uids[0] if len(uids) == 1 else None)
        return cls()


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyResult:
    """Where COPY or MOVE put the messages (``COPYUID``, RFC 4315 / RFC 9051 section 7.1).

    Attributes:
        uid_validity: UIDVALIDITY of the destination mailbox.
        source_uids: UIDs of the messages in the source mailbox, in copy order.
        destination_uids: The UIDs they got in the destination, in the same order.
    """

    uid_validity: int
    source_uids: tuple[int, ...]
    destination_uids: tuple[int, ...]

    @classmethod
    def from_code(cls, code: object) -> CopyResult | None:
        """Build from a ``COPYUID`` response code; None for any other code (or none)."""
        if not isinstance(code, CopyUidCode):
            return None
        try:
            source, destination = tuple(code.source), tuple(code.destination)
        except ValueError:  # "*" cannot appear in a uid-set; a broken server sent it
            return None
        return cls(uid_validity=code.uid_validity, source_uids=source, destination_uids=destination)

    @property
    def mapping(self) -> dict[int, int]:
        """Destination UID by source UID."""
        return dict(zip(self.source_uids, self.destination_uids, strict=False))


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchData:
    """The result of a SEARCH with return options (RFC 4731 ESEARCH, RFC 5182 SAVE).

    Fields the server was not asked for (or did not send) are None.

    Attributes:
        uid: True when the numbers are UIDs (UID SEARCH).
        min: ``MIN``: the lowest number found (None when nothing matched).
        max: ``MAX``: the highest number found.
        count: ``COUNT``: how many messages matched.
        all: ``ALL``: the numbers found, as a compact set (None when nothing matched or
            ALL was not asked for).
        modseq: ``MODSEQ``: the highest mod-sequence of the messages found (CONDSTORE).
        saved: True when the result was saved on the server as ``$`` (``SAVE``).
        extra: Other return data as ``(NAME, value)`` in the wire's generic form.
    """

    uid: bool = False
    min: int | None = None
    max: int | None = None
    count: int | None = None
    all: SequenceSet | None = None
    modseq: int | None = None
    saved: bool = False
    extra: tuple[tuple[str, object], ...] = ()

    @classmethod
    def from_response(
        cls, response: ESearchResponse | None, *, uid: bool, saved: bool = False
    ) -> SearchData:
        """Build from an ``* ESEARCH`` response (None: the server sent none, which means
        nothing matched or only SAVE was asked for)."""
        if response is None:
            return cls(uid=uid, saved=saved)
        return cls(
            uid=uid,
            min=response.min,
            max=response.max,
            count=response.count,
            all=response.all,
            modseq=response.modseq,
            saved=saved,
            extra=tuple(response.extra),
        )

    @property
    def numbers(self) -> list[int]:
        """The numbers of ``ALL`` in ascending order (empty when absent)."""
        if self.all is None:
            return []
        return sorted(set(self.all))
