"""The per-process mailbox cache: what SELECT needs, kept up to date by MODSEQ.

For each mailbox a session of this process has looked at (most recently used first, at most
`MailboxCache.size` of them), we keep every UID and its flags, plus the keywords, UIDNEXT and
HIGHESTMODSEQ they are current for. Catching up is one query for the rows whose MODSEQ is
above the cached HIGHESTMODSEQ (messages added or re-flagged, and expunge records): writers
allocate MODSEQs under the mailbox row lock, so they commit in MODSEQ order and nothing below
the cached value can appear later. So SELECT of a 100,000-message mailbox ships the whole
mailbox once per process, and then only what changed.

Applying a batch is idempotent (a batch from an older point than the cache, or older than
another batch applied meanwhile, changes nothing that is not true), so concurrent catch-ups
on one event loop need no lock: a batch is applied only if it reaches further than the cache.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Sequence

__all__ = ["CachedMailbox", "FlagSets", "MailboxCache"]

_EMPTY: frozenset[str] = frozenset()


class FlagSets:
    """Shares one frozenset per distinct flag string (``"\\Seen $Work"``): messages have few
    distinct flag sets, and building a frozenset per message per query would dominate FETCH.
    Bounded, so that a client inventing keywords cannot grow it forever."""

    __slots__ = ("_limit", "_sets")

    def __init__(self, limit: int = 4096) -> None:
        self._sets: dict[str, frozenset[str]] = {"": _EMPTY}
        self._limit = limit

    def __call__(self, text: str) -> frozenset[str]:
        found = self._sets.get(text)
        if found is None:
            found = frozenset(text.split(" ")) if text else _EMPTY
            if len(self._sets) < self._limit:
                self._sets[text] = found
        return found


class CachedMailbox:
    """One mailbox's UIDs and flags as of ``highest_modseq``."""

    __slots__ = ("flags", "highest_modseq", "keywords", "uid_next", "uids")

    def __init__(self) -> None:
        self.uids = array("I")
        self.flags: list[frozenset[str]] = []
        #: 0: nothing loaded yet (every MODSEQ is above it).
        self.highest_modseq = 0
        self.uid_next = 1
        self.keywords: frozenset[str] = _EMPTY

    def apply(
        self,
        *,
        highest_modseq: int,
        uid_next: int,
        keywords: frozenset[str],
        updated_uids: Sequence[int],
        updated_flags: Sequence[frozenset[str]],
        expunged: Sequence[int],
    ) -> None:
        """Bring the cache to ``highest_modseq`` with every change above some MODSEQ at or
        below the cached one (changes already applied may come again)."""
        if highest_modseq <= self.highest_modseq:
            return
        uids = self.uids
        flags = self.flags
        if not uids and not expunged:
            self.uids = array("I", updated_uids)
            self.flags = list(updated_flags)
        else:
            if expunged:
                if len(expunged) > 32:
                    gone = set(expunged)
                    keep = [i for i, uid in enumerate(uids) if uid not in gone]
                    if len(keep) != len(uids):
                        self.uids = uids = array("I", (uids[i] for i in keep))
                        self.flags = flags = [flags[i] for i in keep]
                else:
                    for uid in expunged:
                        i = bisect_left(uids, uid)
                        if i < len(uids) and uids[i] == uid:
                            del uids[i]
                            del flags[i]
            for uid, flag_set in zip(updated_uids, updated_flags, strict=True):
                if not uids or uid > uids[-1]:
                    uids.append(uid)
                    flags.append(flag_set)
                    continue
                i = bisect_left(uids, uid)
                if i < len(uids) and uids[i] == uid:
                    flags[i] = flag_set
                else:
                    uids.insert(i, uid)
                    flags.insert(i, flag_set)
        self.highest_modseq = highest_modseq
        self.uid_next = uid_next
        self.keywords = keywords


class MailboxCache:
    """`CachedMailbox` by mailbox id, least recently used dropped beyond ``size``."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._entries: OrderedDict[int, CachedMailbox] = OrderedDict()

    def get(self, mailbox_id: int) -> CachedMailbox | None:
        entry = self._entries.get(mailbox_id)
        if entry is not None:
            self._entries.move_to_end(mailbox_id)
        return entry

    def put(self, mailbox_id: int, entry: CachedMailbox) -> None:
        self._entries[mailbox_id] = entry
        self._entries.move_to_end(mailbox_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, mailbox_id: int) -> None:
        self._entries.pop(mailbox_id, None)

    def clear(self) -> None:
        self._entries.clear()

    def ids(self) -> list[int]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
