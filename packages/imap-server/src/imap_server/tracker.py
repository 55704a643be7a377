"""The mailbox tracker: turns store changes into each session's EXISTS / EXPUNGE / FETCH.

Two pieces, after go-imap v2's ``imapserver/tracker.go``:

- `Tracker`, one per server: listens to the store's change notifications and wakes every
  session watching the changed mailbox (in this process; a store shared by several processes
  relays the others' changes through `Backend.notify_change` too).
- `MailboxView`, one per selected mailbox of a session: the session's own numbering of the
  messages (sequence number = position in ``uids`` + 1). `MailboxView.poll` asks the store
  what changed since the MODSEQ the view last saw, and produces the untagged updates in an
  order that keeps the client's numbering right.

A wake-up is only a hint that something changed: the view always asks the store
(`Mailbox.changes_since`), so a lost or duplicated notification costs nothing but latency.
Expunges wait while the command in progress must not see numbers shift (FETCH, STORE,
SEARCH without UID: RFC 9051 section 7.5.1); the messages stay in the view, numbered as
before, until the next command that may report them.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import anyio

from imap_wire import (
    ExistsResponse,
    ExpungeResponse,
    FetchResponse,
    FlagsResponse,
    PermanentFlagsCode,
    RecentResponse,
    Response,
    ResponseStatus,
    StatusResponse,
)

from .fetching import flags_response
from .store import Backend, Mailbox, MailboxSnapshot

__all__ = ["SYSTEM_FLAGS", "MailboxView", "Tracker", "Watcher"]

_RECENT = "\\Recent"
#: The system flags a client may set (``\\Recent`` is the server's).
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


class Watcher:
    """A session's interest in one mailbox: woken when it changes."""

    __slots__ = ("_event", "mailbox_id", "pending")

    def __init__(self, mailbox_id: str) -> None:
        self.mailbox_id = mailbox_id
        #: True when the mailbox changed since the session last polled.
        self.pending = True
        self._event = anyio.Event()

    def wake(self) -> None:
        self.pending = True
        self._event.set()

    async def wait(self) -> None:
        """Return once the mailbox changed (at once if it changed since the last poll)."""
        if not self.pending:
            await self._event.wait()

    def clear(self) -> None:
        """Mark the changes seen; the next `wait` waits for a new change."""
        self.pending = False
        if self._event.is_set():
            self._event = anyio.Event()


@dataclass(slots=True)
class _MailboxEntry:
    watchers: set[Watcher] = field(default_factory=set)
    #: The highest UID some session of this process has been given as \Recent.
    recent_floor: int = 0


class Tracker:
    """Fans store change notifications out to the sessions of this process.

    ``\\Recent`` (IMAP4rev1 only) is tracked here too: a new message is recent to the first
    session of this process that sees it. It is not persisted, so after a restart every
    message counts as recent once (and a mailbox whose floor was dropped from the bounded
    memory of left mailboxes, `max_remembered_floors`); IMAP4rev2 dropped the flag for
    reasons like this.
    """

    #: Recent floors kept for mailboxes nobody watches any more (an int each, least recently
    #: left dropped first): re-selecting a large mailbox must not make every message recent
    #: again (and build a set of all its UIDs to say so).
    max_remembered_floors: int = 10_000

    def __init__(self) -> None:
        self._mailboxes: dict[str, _MailboxEntry] = {}
        self._backend: Backend | None = None
        self._floors: dict[str, int] = {}

    def attach(self, backend: Backend) -> None:
        """Start listening to a store's notifications."""
        self._backend = backend
        backend.add_change_listener(self.changed)

    def detach(self) -> None:
        if self._backend is not None:
            self._backend.remove_change_listener(self.changed)
            self._backend = None

    def changed(self, mailbox_id: str) -> None:
        """The store's change listener: wake the mailbox's watchers."""
        entry = self._mailboxes.get(mailbox_id)
        if entry is not None:
            for watcher in entry.watchers:
                watcher.wake()

    def watch(self, mailbox_id: str) -> Watcher:
        entry = self._mailboxes.get(mailbox_id)
        if entry is None:
            floor = self._floors.pop(mailbox_id, 0)
            entry = self._mailboxes[mailbox_id] = _MailboxEntry(recent_floor=floor)
        watcher = Watcher(mailbox_id)
        entry.watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        entry = self._mailboxes.get(watcher.mailbox_id)
        if entry is None:
            return
        entry.watchers.discard(watcher)
        if not entry.watchers:
            del self._mailboxes[watcher.mailbox_id]
            if entry.recent_floor:
                floors = self._floors
                floors[watcher.mailbox_id] = entry.recent_floor
                if len(floors) > self.max_remembered_floors:
                    del floors[next(iter(floors))]

    def recent_floor(self, mailbox_id: str) -> int:
        """The highest UID of the mailbox some session of this process has been given as
        ``\\Recent``: the higher ones are recent to the next session to select it."""
        entry = self._mailboxes.get(mailbox_id)
        return self._floors.get(mailbox_id, 0) if entry is None else entry.recent_floor

    def claim_recent(self, mailbox_id: str, uids: Sequence[int], *, claim: bool) -> set[int]:
        """Return which of ``uids`` (ascending) are recent to the calling session; with ``claim``
        (a read-write session), no other session of this process gets them as recent."""
        entry = self._mailboxes.get(mailbox_id)
        if entry is None:
            return set()
        # Only the tail above the floor, found by bisection.
        tail = uids[bisect.bisect_right(uids, entry.recent_floor) :]
        if claim and tail:
            entry.recent_floor = tail[-1]
        return set(tail)


class MailboxView:
    """One session's view of its selected mailbox.

    Attributes:
        uids: The session's messages, ascending; sequence number n is ``uids[n - 1]``.
        modseq: The mailbox's highest MODSEQ as of the last poll.
        recent: UIDs that are ``\\Recent`` to this session.
    """

    def __init__(
        self,
        mailbox: Mailbox,
        snapshot: MailboxSnapshot,
        tracker: Tracker,
        *,
        read_only: bool,
    ) -> None:
        self.mailbox = mailbox
        self.read_only = read_only
        self.uid_validity = snapshot.uid_validity
        # An array: one copy of 4-octet UIDs, not an object per message (SELECT of a large
        # mailbox stays a memory copy).
        self.uids: array[int] = array("I", snapshot.uids)
        self.modseq = snapshot.highest_modseq
        self.uid_next = snapshot.uid_next
        self._tracker = tracker
        self.watcher = tracker.watch(mailbox.id)
        # The snapshot is current: nothing to poll for until the next notification.
        self.watcher.clear()
        self.recent = tracker.claim_recent(mailbox.id, self.uids, claim=not read_only)
        #: UIDs expunged in the store but not yet reported (their numbers still stand).
        self.expunged: set[int] = set()
        # MODSEQs of changes this session made and already reported itself (its own STORE):
        # polling skips them, so the client does not get the same FETCH twice.
        self._own_modseqs: set[int] = set()
        #: Keywords the client has been told of (in FLAGS): the mailbox's and its messages'.
        # The store's keywords include every one on a message: SELECT of a large mailbox
        # must not walk its flags in Python.
        self.keywords: set[str] = set(snapshot.keywords)

    def close(self) -> None:
        self._tracker.unwatch(self.watcher)

    @property
    def defined_flags(self) -> tuple[str, ...]:
        """What the FLAGS response lists: the system flags and every keyword known."""
        return (*SYSTEM_FLAGS, *sorted(self.keywords))

    def flags_announcement(self, flag_sets: Iterable[frozenset[str]]) -> list[Response]:
        """FLAGS (and PERMANENTFLAGS) again if these flags hold keywords the client has not
        been told of (RFC 9051 section 7.3.5: FLAGS is sent when the defined flags change);
        else nothing."""
        new = {f for flags in flag_sets for f in flags if f not in self.keywords and f[:1] != "\\"}
        if not new:
            return []
        self.keywords |= new
        defined = self.defined_flags
        out: list[Response] = [FlagsResponse(flags=defined)]
        if not self.read_only:
            out.append(
                StatusResponse(
                    tag=None,
                    status=ResponseStatus.OK,
                    text="Flags permitted",
                    code=PermanentFlagsCode(flags=(*defined, "\\*")),
                )
            )
        return out

    # -- numbering --------------------------------------------------------------------------

    @property
    def exists(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int | None:
        """The sequence number of a UID in this view, or None."""
        i = bisect.bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i + 1
        return None

    def live_uids(self, uids: Iterable[int]) -> list[int]:
        """The UIDs among ``uids`` not known to be expunged, ascending."""
        expunged = self.expunged
        return sorted(u for u in uids if u not in expunged) if expunged else sorted(uids)

    def note_own_changes(self, modseqs: Iterable[int]) -> None:
        """Record changes this session reported itself, so polling does not repeat them."""
        self._own_modseqs.update(m for m in modseqs if m > self.modseq)

    def remove_expunged(self, uids: Sequence[int], *, rev1: bool = False) -> list[Response]:
        """Drop UIDs this session expunged itself, returning their EXPUNGE responses.

        With ``rev1``, a ``* n RECENT`` follows them if recent messages were among them: the
        mailbox's size changed, and with it the count (RFC 3501 section 7.3.2).
        """
        out: list[Response] = []
        recent = len(self.recent)
        # Highest first: each response's number is then right without renumbering the rest.
        for uid in sorted(uids, reverse=True):
            seq = self.seq_of(uid)
            if seq is not None:
                del self.uids[seq - 1]
                self.expunged.discard(uid)
                self.recent.discard(uid)
                out.append(ExpungeResponse(seq=seq))
        if rev1 and len(self.recent) != recent:
            out.append(RecentResponse(count=len(self.recent)))
        return out

    # -- polling ----------------------------------------------------------------------------

    async def poll(
        self, *, allow_expunge: bool, rev1: bool, with_modseq: bool = False
    ) -> list[Response]:
        """Fetch what changed and return the untagged updates for this session.

        Args:
            allow_expunge: False while a FETCH, STORE or SEARCH (not UID) completes: expunges
                are then kept for later.
            rev1: IMAP4rev1 rules: ``* n RECENT`` with EXISTS, ``\\Recent`` in flags.
            with_modseq: Put MODSEQ in flag updates (CONDSTORE enabled).
        """
        out: list[Response] = []
        if self.watcher.pending:
            self.watcher.clear()
            out.extend(await self._fetch_changes(rev1=rev1, with_modseq=with_modseq))
        if allow_expunge and self.expunged:
            gone = sorted(self.expunged)
            self.expunged.clear()
            # (A RECENT after the EXPUNGEs only if no EXISTS follows with one of its own.)
            rev1_recent = rev1 and not any(type(r) is RecentResponse for r in out)
            expunges = self.remove_expunged(gone, rev1=rev1_recent)
            # EXPUNGE responses must precede the EXISTS and FETCH computed with the new
            # numbering; EXISTS/FETCH from _fetch_changes used the old numbering, so renumber.
            out = [*expunges, *self._renumbered(out)]
        return out

    def _renumbered(self, updates: list[Response]) -> list[Response]:
        fixed: list[Response] = []
        for r in updates:
            if type(r) is ExistsResponse:
                fixed.append(ExistsResponse(count=len(self.uids)))
            elif type(r) is RecentResponse:
                fixed.append(RecentResponse(count=len(self.recent)))
            elif type(r) is FetchResponse and r.uid is not None:
                seq = self.seq_of(r.uid)
                if seq is not None:
                    fixed.append(_with_seq(r, seq))
            else:
                fixed.append(r)
        return fixed

    async def _fetch_changes(self, *, rev1: bool, with_modseq: bool) -> list[Response]:
        changes = await self.mailbox.changes_since(self.modseq)
        if changes.highest_modseq <= self.modseq and changes.uid_next <= self.uid_next:
            return []
        self.modseq = max(self.modseq, changes.highest_modseq)
        self.uid_next = max(self.uid_next, changes.uid_next)
        own = self._own_modseqs
        for uid in changes.expunged:
            if self.seq_of(uid) is not None:
                self.expunged.add(uid)
        top = self.uids[-1] if self.uids else 0
        new: list[int] = []
        flag_updates: list[FetchResponse] = []
        gone = set(changes.expunged)
        for update in changes.updated:
            uid = update.uid
            if uid > top:
                if uid not in gone:
                    new.append(uid)
                continue
            if update.modseq in own or uid in self.expunged:
                continue
            seq = self.seq_of(uid)
            if seq is None:
                continue
            flags = update.flags | {_RECENT} if rev1 and uid in self.recent else update.flags
            flag_updates.append(
                flags_response(
                    seq, uid, tuple(sorted(flags)), update.modseq if with_modseq else None
                )
            )
        own.clear()
        out: list[Response] = self.flags_announcement(u.flags for u in changes.updated)
        if new:
            new.sort()
            self.uids.extend(new)
            self.recent |= self._tracker.claim_recent(
                self.mailbox.id, new, claim=not self.read_only
            )
            out.append(ExistsResponse(count=len(self.uids)))
            if rev1:
                out.append(RecentResponse(count=len(self.recent)))
        out.extend(flag_updates)
        return out


def _with_seq(r: FetchResponse, seq: int) -> FetchResponse:
    return flags_response(seq, r.uid, r.flags or (), r.modseq)
