"""Sessions: what one connection does once its command is parsed.

`Session` is the low-level interface: one object per connection, a method per command, typed
arguments, untagged data written to a `ResponseSink`. An application that wants full control
(a proxy, a gateway to another mail system) implements it and passes a factory to `Server`.

`StoreSession` is the implementation over any store (`imap_server.store.Backend`): it keeps
the sequence numbers (`MailboxView`), so a store never sees them.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import anyio

from imap_wire import (
    AppendUidCode,
    BadCharsetCode,
    CopyUidCode,
    ESearchResponse,
    ExistsResponse,
    FetchResponse,
    FlagsResponse,
    HighestModSeqCode,
    ListResponse,
    MailboxStatusResponse,
    PermanentFlagsCode,
    RecentResponse,
    Response,
    ResponseStatus,
    SearchResponse,
    SequenceSet,
    StatusResponse,
    StoreMode,
    UidNextCode,
    UidValidityCode,
    UnseenCode,
    response_code,
)
from imap_wire import Copy as CopyCommand
from imap_wire import Fetch as FetchCommand
from imap_wire import Move as MoveCommand
from imap_wire import Search as SearchCommand
from imap_wire import Store as StoreCommand

from . import fetching, listing, search
from .errors import AuthenticationFailed, CommandFailed
from .message import UnknownTransferEncoding, parse_message
from .spool import SpooledMessage
from .store import (
    Backend,
    FlagChange,
    Mailbox,
    MailboxGone,
    MailboxStatus,
    NoSuchMailbox,
    PasswordAuthenticator,
    StoreError,
    User,
)
from .tracker import SYSTEM_FLAGS, MailboxView, Tracker

__all__ = ["ConnectionInfo", "ResponseSink", "Session", "SessionOptions", "StoreSession"]

_SEEN = "\\Seen"
_DELETED = "\\Deleted"
_RECENT = "\\Recent"
# How imap_wire writes `*` in a parsed sequence set (the last message).
_STAR = 0
# Messages fetched from the store per round trip in FETCH: bounds memory for a FETCH 1:*
# of a large mailbox while keeping store calls few.
_FETCH_BATCH = 512
# APPENDs larger than this are parsed in a worker thread so the event loop keeps serving.
_PARSE_IN_THREAD = 256 * 1024


class ResponseSink(Protocol):
    """Where a session writes untagged responses."""

    async def send(self, response: Response) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionInfo:
    """What a session knows about its connection."""

    #: The client's address and port (None for a transport without one).
    remote: tuple[str, int] | None = None
    local: tuple[str, int] | None = None
    #: True once the connection is encrypted (implicit TLS or after STARTTLS).
    tls: bool = False


@dataclass(slots=True, kw_only=True)
class SessionOptions:
    """Per-connection protocol options, changed by ENABLE."""

    #: IMAP4rev2 rules (after ``ENABLE IMAP4rev2``).
    rev2: bool = False
    #: UTF8=ACCEPT enabled.
    utf8: bool = False
    #: CONDSTORE enabled (by ENABLE, or by a command that uses it).
    condstore: bool = False
    #: Other enabled capabilities, upper-case (for extensions).
    enabled: set[str] = field(default_factory=set)


class Session(abc.ABC):
    """One connection's mailbox operations (override all of them for full control).

    Methods raise `CommandFailed` (or a `StoreError`, which the server maps to ``NO`` with
    its response code) to refuse; untagged data goes to ``out``.
    """

    options: SessionOptions

    # -- not authenticated --

    @abc.abstractmethod
    async def login(self, username: str, password: str, *, authzid: str | None = None) -> str:
        """Check the credentials and open the user's mailboxes; return the user name.

        Raises:
            AuthenticationFailed: Wrong credentials.
        """

    async def login_as(self, username: str) -> str:
        """Open the mailboxes of a user a SASL mechanism verified (no password); return the
        user name. The default refuses: a session that does not know how answers
        ``NO [UNAVAILABLE]``.

        Raises:
            AuthenticationFailed: The user cannot be logged in.
        """
        raise AuthenticationFailed("mechanism not supported by this session", code="UNAVAILABLE")

    # -- authenticated --

    @abc.abstractmethod
    async def select(self, name: str, out: ResponseSink, *, read_only: bool) -> StatusResponse:
        """SELECT or EXAMINE: send the untagged data, return the tagged OK (with its code)."""

    @abc.abstractmethod
    async def unselect(self, *, expunge: bool) -> None:
        """Leave the selected mailbox (CLOSE expunges silently, UNSELECT does not)."""

    @abc.abstractmethod
    async def create(self, name: str, *, special_use: frozenset[str] = frozenset()) -> None: ...

    @abc.abstractmethod
    async def delete(self, name: str) -> None: ...

    @abc.abstractmethod
    async def rename(self, old: str, new: str) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, name: str) -> None: ...

    @abc.abstractmethod
    async def unsubscribe(self, name: str) -> None: ...

    @abc.abstractmethod
    async def list(self, request: listing.ListRequest, out: ResponseSink) -> None:
        """LIST / LSUB, LIST-EXTENDED and LIST-STATUS."""

    @abc.abstractmethod
    async def status(self, name: str, items: Sequence[str]) -> MailboxStatusResponse: ...

    @abc.abstractmethod
    async def append(
        self,
        name: str,
        message: bytes | SpooledMessage,
        *,
        flags: Sequence[str] = (),
        internal_date: _dt.datetime | None = None,
    ) -> AppendUidCode: ...

    @property
    @abc.abstractmethod
    def delimiter(self) -> str: ...

    # -- selected --

    @abc.abstractmethod
    async def poll(self, out: ResponseSink, *, allow_expunge: bool) -> None:
        """Send the updates other sessions caused since the last poll."""

    @abc.abstractmethod
    async def wait_for_changes(self) -> None:
        """Return when the selected mailbox may have changed (IDLE); never returns when no
        mailbox is selected."""

    @abc.abstractmethod
    async def expunge(self, out: ResponseSink, uids: SequenceSet | None = None) -> None: ...

    @abc.abstractmethod
    async def search(self, command: SearchCommand, out: ResponseSink) -> None: ...

    @abc.abstractmethod
    async def fetch(self, command: FetchCommand, out: ResponseSink) -> StatusResponse | None:
        """FETCH; may return a tagged OK with a code (e.g. ``EXPUNGEISSUED``)."""

    @abc.abstractmethod
    async def store(self, command: StoreCommand, out: ResponseSink) -> StatusResponse | None: ...

    @abc.abstractmethod
    async def copy(self, command: CopyCommand, out: ResponseSink) -> CopyUidCode | None: ...

    @abc.abstractmethod
    async def move(self, command: MoveCommand, out: ResponseSink) -> None: ...

    @property
    @abc.abstractmethod
    def selected(self) -> bool: ...

    @property
    @abc.abstractmethod
    def read_only(self) -> bool: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        """The connection ended: release what the session holds."""


# -- the store adapter ---------------------------------------------------------------------------


def normalize_flags(flags: Sequence[str]) -> frozenset[str]:
    """Flags as the store keeps them: system flags in canonical case, ``\\Recent`` dropped
    (a client cannot set it), unknown system flags refused."""
    out: set[str] = set()
    for flag in flags:
        if flag.startswith("\\"):
            canonical = _CANONICAL_FLAGS.get(flag.upper())
            if canonical is None:
                raise CommandFailed(f"{flag} is not a system flag", bad=True)
            if canonical == _RECENT:
                continue
            out.add(canonical)
        else:
            out.add(flag)
    return frozenset(out)


_CANONICAL_FLAGS = {f.upper(): f for f in (*SYSTEM_FLAGS, _RECENT)}

_STORE_CHANGES = {
    StoreMode.REPLACE: FlagChange.REPLACE,
    StoreMode.ADD: FlagChange.ADD,
    StoreMode.REMOVE: FlagChange.REMOVE,
}


class StoreSession(Session):
    """A `Session` over a store: the adapter every store gets for free."""

    def __init__(
        self,
        backend: Backend,
        tracker: Tracker,
        *,
        authenticator: PasswordAuthenticator | None,
        info: ConnectionInfo | None = None,
    ) -> None:
        self.backend = backend
        self.tracker = tracker
        self.authenticator = authenticator
        self.info = info or ConnectionInfo()
        self.options = SessionOptions()
        self.user: User | None = None
        self.view: MailboxView | None = None
        #: UIDs saved by ``SEARCH RETURN (SAVE)`` (RFC 5182), per selected mailbox.
        self.saved: frozenset[int] | None = None

    # -- helpers -------------------------------------------------------------------------------

    def _user(self) -> User:
        if self.user is None:
            raise CommandFailed("not authenticated", bad=True)
        return self.user

    def _view(self) -> MailboxView:
        if self.view is None:
            raise CommandFailed("no mailbox selected", bad=True)
        return self.view

    def _writable_view(self) -> MailboxView:
        view = self._view()
        if view.read_only:
            raise CommandFailed("mailbox is read-only", code="READ-ONLY")
        return view

    @property
    def selected(self) -> bool:
        return self.view is not None

    @property
    def read_only(self) -> bool:
        return self.view is not None and self.view.read_only

    @property
    def delimiter(self) -> str:
        return self._user().delimiter

    def _flags_out(self, view: MailboxView, uid: int, flags: frozenset[str]) -> tuple[str, ...]:
        if not self.options.rev2 and uid in view.recent:
            flags = flags | {_RECENT}
        return tuple(sorted(flags))

    def _scope(self, view: MailboxView) -> search.SearchScope:
        # The view's own set, not a copy: every FETCH and STORE builds a scope, and on a first
        # SELECT every message of a large mailbox may be recent. The scope lives for one command.
        return search.SearchScope(uids=view.uids, saved=self.saved, recent=view.recent)

    def _resolve(self, view: MailboxView, sset: SequenceSet, *, uid: bool) -> list[int]:
        """UIDs named by a sequence set; BAD for a sequence number beyond the mailbox."""
        if not uid and not sset.is_saved:
            top = len(view.uids)
            for a, b in sset.ranges:
                for n in (a, b):
                    # RFC 9051 (seq-number): BAD includes "*" when the mailbox is empty.
                    if n > top or (n == _STAR and not top):
                        raise CommandFailed("invalid message sequence number", bad=True)
        return search.resolve_sequence_set(sset, self._scope(view), uid=uid)

    # -- not authenticated -----------------------------------------------------------------------

    async def login(self, username: str, password: str, *, authzid: str | None = None) -> str:
        if self.authenticator is None:
            raise AuthenticationFailed("no authenticator configured", code="UNAVAILABLE")
        name = await self.authenticator.check_password(username, password, authzid=authzid)
        if name is None:
            raise AuthenticationFailed()
        self.user = await self.backend.open_user(name)
        return name

    async def login_as(self, username: str) -> str:
        self.user = await self.backend.open_user(username)
        return username

    # -- mailboxes ---------------------------------------------------------------------------------

    async def select(self, name: str, out: ResponseSink, *, read_only: bool) -> StatusResponse:
        if self.view is not None:
            await self.unselect(expunge=False)
            await out.send(
                StatusResponse(
                    tag=None, status=ResponseStatus.OK, code=response_code("CLOSED"),
                    text="Previous mailbox is now closed",
                )
            )  # fmt: skip
        user = self._user()
        mailbox = await user.get_mailbox(name)
        snapshot = await mailbox.snapshot()
        view = MailboxView(mailbox, snapshot, self.tracker, read_only=read_only)
        self.view = view
        self.saved = None
        defined = view.defined_flags
        ok = ResponseStatus.OK
        await out.send(FlagsResponse(flags=defined))
        await out.send(ExistsResponse(count=view.exists))
        if not self.options.rev2:
            await out.send(RecentResponse(count=len(view.recent)))
            first_unseen = next(
                (i for i, f in enumerate(snapshot.flags, 1) if _SEEN not in f), None
            )
            if first_unseen is not None:
                await out.send(
                    StatusResponse(tag=None, status=ok, code=UnseenCode(seq=first_unseen),
                                   text=f"First unseen: {first_unseen}")
                )  # fmt: skip
        permanent = () if read_only else (*defined, "\\*")
        await out.send(
            StatusResponse(tag=None, status=ok, code=PermanentFlagsCode(flags=permanent),
                           text="Flags permitted" if permanent else "No permanent flags")
        )  # fmt: skip
        await out.send(
            StatusResponse(tag=None, status=ok, text="UIDs valid",
                           code=UidValidityCode(uid_validity=view.uid_validity))
        )  # fmt: skip
        await out.send(
            StatusResponse(tag=None, status=ok, code=UidNextCode(uid_next=snapshot.uid_next),
                           text="Predicted next UID")
        )  # fmt: skip
        if self.options.condstore:
            await out.send(
                StatusResponse(
                    tag=None, status=ok, code=HighestModSeqCode(modseq=max(1, view.modseq)),
                    text="Highest",
                )
            )  # fmt: skip
        if self.options.rev2:
            await out.send(
                ListResponse(attributes=(), delimiter=user.delimiter, mailbox=mailbox.name)
            )
        code = "READ-ONLY" if read_only else "READ-WRITE"
        verb = "EXAMINE" if read_only else "SELECT"
        return StatusResponse(
            tag=None, status=ok, code=response_code(code), text=f"{verb} completed"
        )

    async def unselect(self, *, expunge: bool) -> None:
        view = self.view
        if view is None:
            return
        self.view = None
        self.saved = None
        view.close()
        if expunge and not view.read_only:
            with contextlib.suppress(MailboxGone):
                await view.mailbox.expunge()

    async def create(self, name: str, *, special_use: frozenset[str] = frozenset()) -> None:
        await self._user().create_mailbox(name, special_use=special_use)

    async def delete(self, name: str) -> None:
        user = self._user()
        view = self.view
        if view is not None:
            try:
                target: Mailbox | None = await user.get_mailbox(name)
            except StoreError:
                target = None
            if target is not None and target.id == view.mailbox.id:
                # Deleting the selected mailbox closes it first (as Dovecot does): the
                # session goes back to the authenticated state instead of finding its
                # mailbox gone at the next poll (BYE, and a NO for a DELETE that worked).
                await self.unselect(expunge=False)
        await user.delete_mailbox(name)

    async def rename(self, old: str, new: str) -> None:
        await self._user().rename_mailbox(old, new)

    async def subscribe(self, name: str) -> None:
        await self._user().subscribe(name)

    async def unsubscribe(self, name: str) -> None:
        await self._user().unsubscribe(name)

    async def list(self, request: listing.ListRequest, out: ResponseSink) -> None:
        user = self._user()
        mailboxes = await user.list_mailboxes()
        subscriptions = await user.subscriptions()
        responses = listing.list_mailboxes(
            mailboxes, subscriptions, request, delimiter=user.delimiter, rev2=self.options.rev2
        )
        if not request.status_items:
            for response in responses:
                await out.send(response)
            return
        targets = set(listing.status_targets(responses, request))
        for response in responses:
            if not (isinstance(response, ListResponse) and response.mailbox in targets):
                await out.send(response)
                continue
            try:
                status = await self.status(response.mailbox, request.status_items)
            except StoreError:
                # Gone between the listing and its STATUS: RFC 5819 wants the LIST line
                # marked \Noselect and no STATUS.
                await out.send(listing.mark_unselectable(response))
                continue
            await out.send(response)
            await out.send(status)

    async def status(self, name: str, items: Sequence[str]) -> MailboxStatusResponse:
        mailbox = await self._user().get_mailbox(name)
        st = await mailbox.status()
        values: dict[str, int] = {}
        for item in items:
            key = item.upper()
            if key == "RECENT" and not self.options.rev2:
                values[key] = await self._recent_count(mailbox, st)
            else:
                values[key] = self._status_value(key, st, mailbox)
        return MailboxStatusResponse(mailbox=mailbox.name, items=values)

    async def _recent_count(self, mailbox: Mailbox, st: MailboxStatus) -> int:
        """STATUS RECENT (RFC 3501 section 6.3.10): the messages with \\Recent set. In the
        selected mailbox, this session's; elsewhere, those no session of this process has been
        given yet, which the next session to select the mailbox gets as \\Recent."""
        view = self.view
        if view is not None and view.mailbox.id == mailbox.id:
            return len(view.recent)
        floor = self.tracker.recent_floor(mailbox.id)
        if floor == 0:
            return st.messages
        if floor >= st.uid_next - 1:
            return 0
        snapshot = await mailbox.snapshot()
        return sum(1 for uid in snapshot.uids if uid > floor)

    def _status_value(self, key: str, st: MailboxStatus, mailbox: Mailbox) -> int:
        if key == "MESSAGES":
            return st.messages
        if key == "UIDNEXT":
            return st.uid_next
        if key == "UIDVALIDITY":
            return st.uid_validity
        if key == "UNSEEN":
            return st.unseen
        if key == "DELETED":
            return st.deleted
        if key == "SIZE":
            return st.size
        if key == "HIGHESTMODSEQ" and self.options.condstore:
            return st.highest_modseq
        raise CommandFailed(f"unknown STATUS item {key}", bad=True)

    async def append(
        self,
        name: str,
        message: bytes | SpooledMessage,
        *,
        flags: Sequence[str] = (),
        internal_date: _dt.datetime | None = None,
    ) -> AppendUidCode:
        user = self._user()
        try:
            mailbox = await user.get_mailbox(name)
        except NoSuchMailbox:
            raise CommandFailed("no such mailbox", code="TRYCREATE") from None
        if len(message) > _PARSE_IN_THREAD:
            parsed = await anyio.to_thread.run_sync(parse_message, message)
        else:
            parsed = parse_message(message)
        result = await mailbox.append(
            message, parsed=parsed, flags=normalize_flags(flags), internal_date=internal_date
        )
        return AppendUidCode(
            uid_validity=result.uid_validity, uids=SequenceSet.from_numbers((result.uid,))
        )

    # -- selected state ------------------------------------------------------------------------

    async def poll(self, out: ResponseSink, *, allow_expunge: bool) -> None:
        view = self.view
        if view is None:
            return
        options = self.options
        try:
            updates = await view.poll(
                allow_expunge=allow_expunge, rev1=not options.rev2, with_modseq=options.condstore
            )
        except MailboxGone:
            await self.unselect(expunge=False)
            raise
        for update in updates:
            await out.send(update)

    async def wait_for_changes(self) -> None:
        view = self.view
        if view is None:
            await anyio.sleep_forever()
            return
        await view.watcher.wait()

    async def expunge(self, out: ResponseSink, uids: SequenceSet | None = None) -> None:
        view = self._writable_view()
        targets = None if uids is None else self._resolve(view, uids, uid=True)
        removed = await view.mailbox.expunge(targets)
        for response in view.remove_expunged(removed, rev1=not self.options.rev2):
            await out.send(response)

    async def search(self, command: SearchCommand, out: ResponseSink) -> None:
        view = self._view()
        options = {
            (o if isinstance(o, str) else o.name).upper() for o in command.return_options or ()
        }
        if command.charset is not None and command.charset.upper() not in ("US-ASCII", "UTF-8"):
            raise CommandFailed(
                "unsupported charset", code=BadCharsetCode(charsets=("US-ASCII", "UTF-8"))
            )
        key = command.criteria
        want = search.needed(key)
        live = view.live_uids(view.uids)
        messages = await view.mailbox.fetch(live, want)
        found = await search.search(key, messages, self._scope(view))
        if "SAVE" in options:
            saved = frozenset(found)
            if found and options & {"MIN", "MAX"} and not options & {"ALL", "COUNT"}:
                # RFC 5182 section 2.4: SAVE with MIN and/or MAX (without ALL or COUNT)
                # saves only the message(s) those return.
                saved = frozenset(
                    u for o, u in (("MIN", min(found)), ("MAX", max(found))) if o in options
                )
            self.saved = saved
        uid = command.uid
        numbers = found if uid else [s for s in (view.seq_of(u) for u in found) if s is not None]
        if command.return_options is None and not self.options.rev2:
            await out.send(SearchResponse(numbers=tuple(numbers)))
            return
        wanted = options - {"SAVE"}
        if not wanted and not options:
            wanted = {"ALL"}
        if not wanted and options == {"SAVE"}:
            # RFC 5182: SAVE alone returns no ESEARCH data unless others are asked for.
            return
        await out.send(
            ESearchResponse(
                tag=command.tag,
                uid=uid,
                min=min(numbers) if numbers and "MIN" in wanted else None,
                max=max(numbers) if numbers and "MAX" in wanted else None,
                count=len(numbers) if "COUNT" in wanted else None,
                all=SequenceSet.from_numbers(numbers) if numbers and "ALL" in wanted else None,
            )
        )

    async def fetch(self, command: FetchCommand, out: ResponseSink) -> StatusResponse | None:
        view = self._view()
        attributes = command.attributes
        if command.macro is not None:
            attributes = fetching.expand_macro(command.macro)
        plan = fetching.fetch_plan(attributes, uid_command=command.uid)
        uids = self._resolve(view, command.sequence_set, uid=command.uid)
        set_seen = plan.sets_seen and not view.read_only
        missing = False
        for start in range(0, len(uids), _FETCH_BATCH):
            batch = uids[start : start + _FETCH_BATCH]
            messages = await view.mailbox.fetch(view.live_uids(batch), plan.want)
            if len(messages) != len(batch):
                missing = True
            seen_now: dict[int, frozenset[str]] = {}
            if set_seen:
                unseen = [m.uid for m in messages if _SEEN not in m.flags]
                if unseen:
                    updates, _ = await view.mailbox.store_flags(
                        unseen, FlagChange.ADD, frozenset((_SEEN,))
                    )
                    view.note_own_changes(u.modseq for u in updates)
                    seen_now = {u.uid: u.flags for u in updates}
            for msg in messages:
                seq = view.seq_of(msg.uid)
                if seq is None:
                    continue
                flags = seen_now.get(msg.uid, msg.flags)
                try:
                    response = await fetching.build_fetch_response(
                        msg, seq, plan, flags=frozenset(self._flags_out(view, msg.uid, flags))
                    )
                except UnknownTransferEncoding:
                    raise CommandFailed("unknown content-transfer-encoding",
                                        code="UNKNOWN-CTE") from None  # fmt: skip
                if msg.uid in seen_now and response.flags is None:
                    # RFC 9051 6.4.5: a FETCH that sets \Seen reports the new flags.
                    response = replace(response, flags=self._flags_out(view, msg.uid, flags))
                await out.send(response)
        if missing:
            return StatusResponse(
                tag=None, status=ResponseStatus.OK, code=response_code("EXPUNGEISSUED"),
                text="Some messages were expunged meanwhile",
            )  # fmt: skip
        return None

    async def store(self, command: StoreCommand, out: ResponseSink) -> StatusResponse | None:
        view = self._writable_view()
        flags = normalize_flags(command.flags)
        uids = view.live_uids(self._resolve(view, command.sequence_set, uid=command.uid))
        updates, _refused = await view.mailbox.store_flags(
            uids, _STORE_CHANGES[command.mode], flags
        )
        view.note_own_changes(u.modseq for u in updates)
        for response in view.flags_announcement(u.flags for u in updates):
            await out.send(response)
        if not command.silent:
            for u in updates:
                seq = view.seq_of(u.uid)
                if seq is None:
                    continue
                await out.send(
                    FetchResponse(
                        seq=seq,
                        uid=u.uid if command.uid else None,
                        flags=self._flags_out(view, u.uid, u.flags),
                        modseq=u.modseq if self.options.condstore else None,
                    )
                )
        return None

    async def _destination(self, name: str) -> Mailbox:
        try:
            return await self._user().get_mailbox(name)
        except NoSuchMailbox:
            raise CommandFailed("no such mailbox", code="TRYCREATE") from None

    async def copy(self, command: CopyCommand, out: ResponseSink) -> CopyUidCode | None:
        view = self._view()
        uids = view.live_uids(self._resolve(view, command.sequence_set, uid=command.uid))
        destination = await self._destination(command.mailbox)
        result = await view.mailbox.copy(uids, destination)
        if not result.source:
            return None
        return CopyUidCode(
            uid_validity=result.uid_validity,
            source=SequenceSet.from_numbers(result.source),
            destination=SequenceSet.from_numbers(result.destination),
        )

    async def move(self, command: MoveCommand, out: ResponseSink) -> None:
        view = self._writable_view()
        uids = view.live_uids(self._resolve(view, command.sequence_set, uid=command.uid))
        destination = await self._destination(command.mailbox)
        result = await view.mailbox.move(uids, destination)
        if result.source:
            await out.send(
                StatusResponse(
                    tag=None,
                    status=ResponseStatus.OK,
                    code=CopyUidCode(
                        uid_validity=result.uid_validity,
                        source=SequenceSet.from_numbers(result.source),
                        destination=SequenceSet.from_numbers(result.destination),
                    ),
                    text="Moved",
                )
            )
        for response in view.remove_expunged(result.source, rev1=not self.options.rev2):
            await out.send(response)

    async def close(self) -> None:
        if self.view is not None:
            self.view.close()
            self.view = None
