"""The store interface: what a mail store implements so the server can serve it.

A store is three kinds of object:

- `Backend`: the whole store (one per server process). Opens users, and publishes change
  notifications the server's mailbox tracker subscribes to.
- `User`: one account's mailboxes (create, delete, rename, list, subscriptions).
- `Mailbox`: one mailbox's messages, addressed by UID only. Every change bumps the mailbox's
  MODSEQ; expunges are recorded with theirs, so `Mailbox.changes_since` can tell a session
  everything that happened after the MODSEQ it last saw.

A store never sees sequence numbers, tags or wire syntax: the server's adapter
(`imap_server.session.StoreSession`) turns commands into these calls, and the tracker turns
changes into EXISTS / EXPUNGE / FETCH for every session on a mailbox.

Rules every implementation keeps (the conformance suite in `imap_server.testing` checks them):

- UIDs are assigned in ascending order and never reused within one UIDVALIDITY; `uid_next` is
  above every UID ever assigned. A mailbox deleted and created again gets a new UIDVALIDITY.
- Every change (append, flag change, expunge) gets a MODSEQ above every earlier one in that
  mailbox, and `highest_modseq` is the largest. Changes made in one call may share one MODSEQ.
- Flags are `str` with system flags in canonical case (``\\Seen``); the server normalizes them
  before calling the store. ``\\Recent`` is never stored (it is per session).
- MOVE is atomic: no observer sees a message in both mailboxes or in neither.
- After a change commits, the store calls `Backend.notify_change` with the mailbox's id.
- UID arguments are any `Sequence[int]` ascending without duplicates; the server may pass a
  `range` (``1:*`` of a large mailbox), which a store must not expand into a list.
- A new mailbox's ``highest_modseq`` is at least 1 (RFC 7162 needs it positive); internal
  dates are timezone-aware.
- A `Mailbox` object keeps answering `Mailbox.id` and `Mailbox.name` after its mailbox is
  deleted (the tracker needs the id); every other call then raises `MailboxGone`.

Failures are `StoreError` subclasses, each mapped to a response code by the server.
"""

from __future__ import annotations

import abc
import datetime as _dt
import enum
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .message import ParsedMessage
    from .spool import SpooledMessage

__all__ = [
    "AlreadyExists",
    "AppendResult",
    "Backend",
    "Body",
    "BytesBody",
    "CannotError",
    "ChangeListener",
    "CopyResult",
    "FlagChange",
    "FlagUpdate",
    "InvalidName",
    "Mailbox",
    "MailboxChanges",
    "MailboxGone",
    "MailboxInfo",
    "MailboxSnapshot",
    "MailboxStatus",
    "MessageData",
    "MessageTooBig",
    "NoSuchMailbox",
    "OverQuota",
    "PasswordAuthenticator",
    "StoreError",
    "StoreUnavailable",
    "StreamingBody",
    "UnsupportedSpecialUse",
    "User",
    "Want",
]


_log = logging.getLogger("imap_server.store")

# -- errors ------------------------------------------------------------------------------------


class StoreError(Exception):
    """A store operation failed. ``code`` is the response code the client gets with ``NO``."""

    code: str | None = None

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or "store error")


class NoSuchMailbox(StoreError):
    """No mailbox of that name exists."""

    code = "NONEXISTENT"


class AlreadyExists(StoreError):
    """A mailbox of that name already exists."""

    code = "ALREADYEXISTS"


class InvalidName(StoreError):
    """The mailbox name is not acceptable to this store."""

    code = "CANNOT"


class CannotError(StoreError):
    """The operation can never succeed (e.g. deleting INBOX)."""

    code = "CANNOT"


class UnsupportedSpecialUse(CannotError):
    """The store does not support that special-use attribute (RFC 6154)."""

    code = "USEATTR"


class OverQuota(StoreError):
    """The operation would exceed the user's quota."""

    code = "OVERQUOTA"


class MessageTooBig(StoreError):
    """The message is larger than this store accepts."""

    code = "TOOBIG"


class MailboxGone(StoreError):
    """The mailbox was deleted (or renamed away) while open."""

    code = "NONEXISTENT"


class StoreUnavailable(StoreError):
    """The storage behind the store failed (database down, object store errors)."""

    code = "UNAVAILABLE"


# -- values -------------------------------------------------------------------------------------


class Want(enum.Flag):
    """Which parts of a message `Mailbox.fetch` must fill in (the rest may be left None)."""

    #: UID, flags, MODSEQ, internal date and size: always present.
    META = 0
    #: `MessageData.parsed`: ENVELOPE, BODYSTRUCTURE and section offsets.
    STRUCTURE = enum.auto()
    #: `MessageData.body`: access to the message octets.
    BODY = enum.auto()


@runtime_checkable
class Body(Protocol):
    """Read access to one message's octets, possibly without holding them all in memory."""

    @property
    def size(self) -> int:
        """The message size in octets (RFC822.SIZE)."""
        ...

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        """Return octets ``[start:end]`` (``end`` None: to the end), clamped to the size."""
        ...


@runtime_checkable
class StreamingBody(Body, Protocol):
    """A `Body` that can hand out a range of its octets in pieces, from one backend request
    where the backend can (one streamed GET): optional, for stores that can do better than
    one `Body.read` per piece.

    The server streams a large FETCH body section (``BODY[]`` of a 100 MB message) through
    `stream` when the body has it, else through ranged `Body.read` calls, so that it never
    holds the whole section in memory.
    """

    def stream(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Yield octets ``[start:end]`` in order, in pieces of any size (bounded by the
        store: about a network read each); ``start < end <= size``. Raise `StoreError` if
        the octets cannot all be read; the server closes an async generator it stops early.
        """
        ...


@dataclass(frozen=True, slots=True)
class BytesBody:
    """A `Body` over bytes already in memory."""

    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    async def read(self, start: int = 0, end: int | None = None) -> bytes:
        if start == 0 and end is None:
            return self.data
        return self.data[start:end]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageData:
    """One message as `Mailbox.fetch` returns it."""

    uid: int
    flags: frozenset[str]
    modseq: int
    internal_date: _dt.datetime
    size: int
    #: Present when `Want.STRUCTURE` was asked for.
    parsed: ParsedMessage | None = None
    #: Present when `Want.BODY` was asked for.
    body: Body | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxInfo:
    """One mailbox as `User.list_mailboxes` returns it."""

    #: Full name, hierarchy levels separated by `User.delimiter`.
    name: str
    #: Mailbox attributes the store knows: ``\\Noselect`` (a placeholder kept for its
    #: children), special-use ones (``\\Sent``, ``\\Trash``, ...). Children attributes
    #: (``\\HasChildren``) and ``\\Subscribed`` are computed by the server.
    attributes: frozenset[str] = frozenset()
    subscribed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxStatus:
    """The counters STATUS reports (RFC 9051 section 6.3.11)."""

    messages: int
    uid_next: int
    uid_validity: int
    unseen: int
    deleted: int
    #: Total size of the messages in octets (STATUS SIZE).
    size: int
    highest_modseq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxSnapshot:
    """What SELECT needs: the mailbox's messages as one consistent view."""

    uid_validity: int
    uid_next: int
    highest_modseq: int
    #: Every message's UID, ascending. Position + 1 is the sequence number.
    uids: Sequence[int]
    #: Flags of the messages, in the same order as ``uids``.
    flags: Sequence[frozenset[str]]
    #: Keywords the mailbox knows (for the FLAGS response): at least every keyword set on
    #: one of its messages (the server does not look through ``flags`` for more).
    keywords: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class FlagUpdate:
    """A message's flags after a change, and the MODSEQ of that change."""

    uid: int
    flags: frozenset[str]
    modseq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxChanges:
    """Everything that changed in a mailbox after some MODSEQ (see `Mailbox.changes_since`)."""

    highest_modseq: int
    uid_next: int
    #: Messages added or whose flags changed after the MODSEQ, ascending by UID, with their
    #: current flags. A message appended after the MODSEQ is here too: a session tells it
    #: apart by its UID being above the highest it knows.
    updated: Sequence[FlagUpdate] = ()
    #: UIDs expunged after the MODSEQ, ascending. May include UIDs the caller never saw.
    expunged: Sequence[int] = ()


class FlagChange(enum.Enum):
    """How `Mailbox.store_flags` changes flags."""

    REPLACE = "replace"
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendResult:
    """Where `Mailbox.append` put the message (for APPENDUID) and the MODSEQ of the change."""

    uid_validity: int
    uid: int
    modseq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyResult:
    """UIDs of a COPY or MOVE: ``source[i]`` became ``destination[i]`` (both ascending)."""

    uid_validity: int
    source: Sequence[int]
    destination: Sequence[int]


# -- the interface ----------------------------------------------------------------------------

#: Called with a mailbox's id after a change to it committed.
ChangeListener = Callable[[str], None]


class Mailbox(abc.ABC):
    """One mailbox of one user. Every method addresses messages by UID."""

    @property
    @abc.abstractmethod
    def id(self) -> str:
        """An identity unique in the whole store that stays the same across RENAME, and is
        never used again after DELETE. Change notifications carry it."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The mailbox's current full name."""

    @abc.abstractmethod
    async def status(self) -> MailboxStatus:
        """Return the STATUS counters."""

    @abc.abstractmethod
    async def snapshot(self) -> MailboxSnapshot:
        """Return every message's UID and flags, as one consistent view.

        Raises:
            MailboxGone: The mailbox no longer exists.
        """

    @abc.abstractmethod
    async def fetch(self, uids: Sequence[int], want: Want = Want.META) -> Sequence[MessageData]:
        """Return the messages among ``uids`` that exist, ascending by UID.

        UIDs that do not exist (never did, or expunged) are left out, not an error.
        """

    @abc.abstractmethod
    async def append(
        self,
        body: bytes | SpooledMessage,
        *,
        parsed: ParsedMessage,
        flags: frozenset[str] = frozenset(),
        internal_date: _dt.datetime | None = None,
    ) -> AppendResult:
        """Add a message; ``parsed`` is `imap_server.message.parse_message` of ``body``,
        computed once by the server, to keep with it.

        A message over 1 MiB comes as a `imap_server.spool.SpooledMessage`: a temporary file
        the server removes after this returns. Copy it where it belongs in pieces
        (``body.chunks()``, ``body.reader()``), or take its octets with
        ``await body.read()``; ``len(body)`` is the size either way.

        ``internal_date`` None means now. The message is visible to every reader once this
        returns, and not before (never half-written).

        Raises:
            MailboxGone: The mailbox no longer exists.
            OverQuota: The message would exceed the user's quota.
            MessageTooBig: The message is larger than the store accepts.
        """

    @abc.abstractmethod
    async def store_flags(
        self,
        uids: Sequence[int],
        change: FlagChange,
        flags: frozenset[str],
        *,
        unchanged_since: int | None = None,
    ) -> tuple[Sequence[FlagUpdate], Sequence[int]]:
        """Change the flags of the messages among ``uids`` that exist.

        A message whose flags end up different gets a new MODSEQ; one whose flags stay the
        same keeps its MODSEQ. With ``unchanged_since`` (CONDSTORE), a message whose MODSEQ
        is above it is not changed.

        Returns:
            ``(updates, refused)``: the resulting flags of every existing message that was not
            refused (changed or not), ascending by UID; and the UIDs refused by
            ``unchanged_since``.
        """

    @abc.abstractmethod
    async def expunge(self, uids: Sequence[int] | None = None) -> Sequence[int]:
        """Remove the messages flagged ``\\Deleted`` (only those among ``uids`` when given).

        Returns:
            The UIDs removed, ascending. Each is recorded with the MODSEQ of its expunge.
        """

    @abc.abstractmethod
    async def copy(self, uids: Sequence[int], destination: Mailbox) -> CopyResult:
        """Copy the messages among ``uids`` that exist into ``destination``, flags and
        internal date kept, new UIDs ascending in source order. All or nothing.

        Raises:
            MailboxGone: Either mailbox no longer exists. OverQuota.
        """

    @abc.abstractmethod
    async def move(self, uids: Sequence[int], destination: Mailbox) -> CopyResult:
        """Move the messages among ``uids`` that exist into ``destination``, atomically:
        copied there and expunged here in one step.
        """

    @abc.abstractmethod
    async def changes_since(self, modseq: int) -> MailboxChanges:
        """Return what changed after ``modseq``: added and re-flagged messages, expunged
        UIDs. Cheap when nothing changed (``highest_modseq == modseq``): sessions call it
        after every command.

        Raises:
            MailboxGone: The mailbox no longer exists.
        """


class User(abc.ABC):
    """One account's mailboxes. Names are full names in Unicode, hierarchy separated by
    `delimiter`; ``INBOX`` is case-insensitive and always exists."""

    #: The hierarchy delimiter.
    delimiter: str = "/"

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The user's name as the store knows it."""

    @abc.abstractmethod
    async def list_mailboxes(self) -> Sequence[MailboxInfo]:
        """Every mailbox of the user, INBOX included, in any order."""

    @abc.abstractmethod
    async def get_mailbox(self, name: str) -> Mailbox:
        """Open a mailbox.

        Raises:
            NoSuchMailbox: It does not exist, or is a ``\\Noselect`` placeholder.
        """

    @abc.abstractmethod
    async def create_mailbox(self, name: str, *, special_use: frozenset[str] = frozenset()) -> None:
        """Create a mailbox, and any missing superior levels of its name.

        A name that ends with the delimiter creates the mailbox without it (the client only
        declares that it means to create names under it).

        Creating a name that is a ``\\Noselect`` placeholder makes it a real mailbox.

        Raises:
            AlreadyExists: The mailbox exists already.
            InvalidName: The store does not accept the name.
            UnsupportedSpecialUse: The store does not support a special-use attribute asked for.
            CannotError: The mailbox cannot be created for another reason.
        """

    @abc.abstractmethod
    async def delete_mailbox(self, name: str) -> None:
        """Delete a mailbox and its messages. With inferior names, it stays as a
        ``\\Noselect`` placeholder; a placeholder without inferiors disappears.

        Raises:
            NoSuchMailbox: No mailbox of that name exists.
            CannotError: The name is INBOX, or a placeholder that still has inferiors.
        """

    @abc.abstractmethod
    async def rename_mailbox(self, old: str, new: str) -> None:
        """Rename a mailbox and every inferior name with it; missing superiors of ``new``
        are created. Renaming INBOX moves its messages into a new mailbox and leaves INBOX
        empty. The renamed mailbox keeps its id and UIDVALIDITY.

        Raises:
            NoSuchMailbox: No mailbox named ``old`` exists.
            AlreadyExists: A mailbox named ``new`` exists already.
            InvalidName: The store does not accept the name ``new``.
            CannotError: The rename cannot be done for another reason.
        """

    @abc.abstractmethod
    async def subscribe(self, name: str) -> None:
        """Add a name to the subscriptions (it need not exist)."""

    @abc.abstractmethod
    async def unsubscribe(self, name: str) -> None:
        """Remove a name from the subscriptions.

        Raises:
            NoSuchMailbox: The name is not subscribed.
        """

    @abc.abstractmethod
    async def subscriptions(self) -> frozenset[str]:
        """Every subscribed name, existing or not."""


class Backend(abc.ABC):
    """A whole store. The server calls `open_user` after authenticating a client.

    Change notifications: after a change to a mailbox commits, the store calls
    `notify_change` with the mailbox's id (a store shared by several processes also calls it
    for changes other processes made, e.g. from PostgreSQL LISTEN/NOTIFY). The server's
    tracker listens and wakes every session on that mailbox.
    """

    #: The largest message `Mailbox.append` accepts, in octets, or None for no limit of the
    #: store's own. The server refuses a larger APPEND before the client sends it.
    max_message_size: int | None = None

    def __init__(self) -> None:
        self._listeners: list[ChangeListener] = []

    @abc.abstractmethod
    async def open_user(self, username: str) -> User:
        """Return the user's mailboxes.

        Raises:
            StoreError: The user does not exist (the server has already authenticated them, so
                this means the account vanished).
        """

    async def start(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Called once when the server starts (connect pools, start listeners)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Called once when the server stops."""

    def add_change_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def remove_change_listener(self, listener: ChangeListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify_change(self, mailbox_id: str) -> None:
        """Tell every listener that the mailbox changed. Safe to call often; listeners only
        schedule work. Call it from the event loop's thread.

        The change has committed already, so a failing listener is logged and skipped: it
        must not turn a successful store operation into an error.
        """
        for listener in tuple(self._listeners):
            try:
                listener(mailbox_id)
            except Exception:
                _log.exception("change listener failed")


class PasswordAuthenticator(abc.ABC):
    """Checks a user name and password (LOGIN, AUTHENTICATE PLAIN).

    Implementations compare in constant time and never log or keep the password.
    """

    @abc.abstractmethod
    async def check_password(
        self, username: str, password: str, *, authzid: str | None = None
    ) -> str | None:
        """Return the name of the user to log in as, or None to refuse.

        ``authzid`` is the identity a SASL client asks to act as (None or empty: itself);
        refuse it unless the authenticated user may act as that identity.
        """
