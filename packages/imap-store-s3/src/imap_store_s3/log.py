"""Mailbox state as a log of immutable change objects in S3, and its per-process cache.

Layout under the store's prefix, for a mailbox id ``M`` (a uuid4 hex, never reused):

- ``mailboxes/M/log/<seq:020d>``: change entry ``seq`` (1, 2, ...), one JSON object, written
  once with ``If-None-Match: *``. Entry ``seq`` is MODSEQ ``seq + 1`` (a new mailbox is at
  MODSEQ 1). Its keys: ``a`` messages appended (UID, flags, internal date, size, body key,
  serialized `ParsedMessage`), ``n`` a floor for UIDNEXT, ``f`` new flags by UID, ``x`` UIDs
  expunged, ``d`` the mailbox was destroyed (DELETE, account deleted). ``a`` applies before
  ``x`` (a MOVE inside one mailbox is one entry).
- ``mailboxes/M/snapshot/<seq:020d>``: the whole state after entry ``seq``, written every
  `SNAPSHOT_EVERY` entries by the writer that claimed that entry (``If-None-Match``; losing
  the race is fine, the other writer wrote the same state).

Writers are optimistic: a change is computed from the cached state (caught up to entry
``N``) and claimed as key ``N + 1``. The conditional PUT succeeds only if nobody else took that
key, which proves the cached state was current, so the UIDs and flags computed from it are
right. If it fails, the writer reads the new entries (one LIST plus a GET each) and computes
the change again. No UID is issued twice and no change is lost, whatever the number of
processes. Within one process, writers of one mailbox take turns on a lock, so they never race
each other (their body uploads still run concurrently).

Readers: a cold open lists the snapshots (the newest wins), reads it, then catches up: one LIST
of the log after the last key seen, plus a GET of each new entry. `Logs.refresh` skips that
LIST when this process caught up less than `Logs.fresh_for` seconds ago (a FETCH then costs
no request for its metadata): another process's change may show up to that much later, never
wrongly (writes are checked by the conditional PUT, not by the cache). `S3Store` sets it to
its ``poll_interval``: the poller keeps every open mailbox caught up that often anyway, so a
read LISTing again within it would only pay for what the poller pays for already.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
import uuid
from array import array
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio

from imap_server.message import ParsedMessage
from imap_server.store import MailboxGone, StoreUnavailable

from ._client import NotFound, PreconditionFailed, S3Client

__all__ = ["FRESH_FOR", "SNAPSHOT_EVERY", "Logs", "MailboxState", "Message"]

_log = logging.getLogger("imap_store_s3")

#: A snapshot every this many entries.
SNAPSHOT_EVERY = 200
#: Reads skip the catch-up LIST when the cache caught up less than this many seconds ago.
FRESH_FOR = 0.2
_SEEN = "\\Seen"
_DELETED = "\\Deleted"
_R = TypeVar("_R")
Entry = dict[str, Any]


#: Lost claims in a row after which a write gives up (a mailbox that busy, or a bug).
MAX_LOST_CLAIMS = 200


def loads(data: bytes, what: str) -> Any:
    """A JSON document of ours, or `StoreUnavailable` if it is damaged."""
    try:
        return json.loads(data)
    except ValueError:
        raise StoreUnavailable(f"damaged {what}") from None


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Message:
    """One message of the cached state. ``flags`` and ``modseq`` change; the rest never."""

    __slots__ = ("body", "date", "flags", "modseq", "parsed", "parsed_json", "size")

    def __init__(
        self,
        *,
        flags: frozenset[str],
        modseq: int,
        date: str,
        size: int,
        body: str,
        parsed_json: str,
    ) -> None:
        self.flags = flags
        self.modseq = modseq
        self.date = date
        self.size = size
        self.body = body
        self.parsed_json = parsed_json
        self.parsed: ParsedMessage | None = None

    @property
    def internal_date(self) -> _dt.datetime:
        return _dt.datetime.fromisoformat(self.date)

    def get_parsed(self) -> ParsedMessage:
        if self.parsed is None:
            self.parsed = ParsedMessage.from_bytes(self.parsed_json.encode("utf-8"))
        return self.parsed

    def record(self, uid: int) -> dict[str, Any]:
        """The entry form (``a`` of a log entry), without the MODSEQ."""
        return {
            "u": uid,
            "f": sorted(self.flags),
            "d": self.date,
            "s": self.size,
            "b": self.body,
            "p": self.parsed_json,
        }


class MailboxState:
    """One mailbox as this process knows it: every live message and the tombstones."""

    def __init__(self, mailbox_id: str, name: str, uid_validity: int) -> None:
        self.id = mailbox_id
        self.name = name
        self.uid_validity = uid_validity
        self.gone = False
        #: The snapshot has been read (or the mailbox is new).
        self.loaded = False
        self.last_seq = 0
        self.uid_next = 1
        self.highest_modseq = 1
        self.messages: dict[int, Message] = {}
        self.uids = array("I")
        self.tombstones: dict[int, int] = {}
        self.keywords: set[str] = set()
        self.unseen = 0
        self.deleted = 0
        self.size = 0
        #: `time.monotonic` when the last catch-up started (or a claim succeeded).
        self.fresh_at = float("-inf")
        self.lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"<s3 mailbox state {self.id} {self.name!r} at entry {self.last_seq}>"

    # -- reading

    def existing(self, uids: Sequence[int]) -> list[int]:
        """The UIDs among ``uids`` that exist, ascending, without duplicates."""
        if isinstance(uids, range) and uids.step > 0:
            lo = bisect_left(self.uids, uids.start)
            hi = bisect_left(self.uids, uids.stop)
            found = list(self.uids[lo:hi])
            if uids.step != 1:
                found = [uid for uid in found if (uid - uids.start) % uids.step == 0]
            return found
        messages = self.messages
        return sorted({uid for uid in uids if uid in messages})

    # -- changes

    def _count(self, message: Message, sign: int) -> None:
        if _SEEN not in message.flags:
            self.unseen += sign
        if _DELETED in message.flags:
            self.deleted += sign
        self.size += sign * message.size

    def _add(self, uid: int, message: Message) -> None:
        if self.uids and uid <= self.uids[-1]:
            raise StoreUnavailable(f"mailbox {self.id}: UID {uid} out of order in the log")
        self.messages[uid] = message
        self.uids.append(uid)
        self._count(message, 1)
        self.keywords.update(flag for flag in message.flags if not flag.startswith("\\"))
        if uid >= self.uid_next:
            self.uid_next = uid + 1

    def apply(self, seq: int, entry: Entry) -> None:
        """Apply log entry ``seq`` (the next one)."""
        if seq != self.last_seq + 1:
            raise StoreUnavailable(f"mailbox {self.id}: log entry {seq} after {self.last_seq}")
        modseq = seq + 1
        for rec in entry.get("a", ()):
            self._add(
                int(rec["u"]),
                Message(
                    flags=frozenset(rec["f"]),
                    modseq=modseq,
                    date=rec["d"],
                    size=int(rec["s"]),
                    body=rec["b"],
                    parsed_json=rec["p"],
                ),
            )
        if "n" in entry:
            self.uid_next = max(self.uid_next, int(entry["n"]))
        for uid_text, flags in entry.get("f", {}).items():
            message = self.messages.get(int(uid_text))
            if message is None:
                continue
            self._count(message, -1)
            message.flags = frozenset(flags)
            message.modseq = modseq
            self._count(message, 1)
            self.keywords.update(flag for flag in flags if not flag.startswith("\\"))
        expunged = entry.get("x")
        if expunged:
            self._remove([int(uid) for uid in expunged], modseq)
        if entry.get("d"):
            self.gone = True
        self.last_seq = seq
        self.highest_modseq = modseq

    def _remove(self, uids: list[int], modseq: int) -> None:
        removed = []
        for uid in uids:
            message = self.messages.pop(uid, None)
            if message is None:
                continue
            self._count(message, -1)
            self.tombstones[uid] = modseq
            removed.append(uid)
        if len(removed) < 32:
            for uid in removed:
                del self.uids[bisect_left(self.uids, uid)]
        elif removed:
            messages = self.messages
            self.uids = array("I", (uid for uid in self.uids if uid in messages))

    # -- snapshots

    def to_snapshot(self) -> dict[str, Any]:
        messages = []
        for uid in self.uids:
            message = self.messages[uid]
            rec = message.record(uid)
            rec["m"] = message.modseq
            messages.append(rec)
        return {
            "seq": self.last_seq,
            "uid_next": self.uid_next,
            "messages": messages,
            "tombstones": [[uid, modseq] for uid, modseq in self.tombstones.items()],
            "gone": self.gone,
        }

    def load_snapshot(self, doc: dict[str, Any]) -> None:
        for rec in doc["messages"]:
            self._add(
                int(rec["u"]),
                Message(
                    flags=frozenset(rec["f"]),
                    modseq=int(rec["m"]),
                    date=rec["d"],
                    size=int(rec["s"]),
                    body=rec["b"],
                    parsed_json=rec["p"],
                ),
            )
        self.tombstones = {int(uid): int(modseq) for uid, modseq in doc["tombstones"]}
        self.uid_next = max(self.uid_next, int(doc["uid_next"]))
        self.last_seq = int(doc["seq"])
        self.highest_modseq = self.last_seq + 1
        self.gone = bool(doc.get("gone"))


class Logs:
    """Reads and writes mailbox logs for one store (see the module docstring)."""

    def __init__(
        self, client: S3Client, notify: Callable[[str], None], *, fresh_for: float = FRESH_FOR
    ) -> None:
        self.client = client
        self._notify = notify
        #: How old a caught-up state a read may use without a LIST (see `refresh`).
        self.fresh_for = fresh_for

    def log_prefix(self, mailbox_id: str) -> str:
        return self.client.config.key("mailboxes", mailbox_id, "log") + "/"

    def log_key(self, mailbox_id: str, seq: int) -> str:
        return f"{self.log_prefix(mailbox_id)}{seq:020d}"

    def snapshot_prefix(self, mailbox_id: str) -> str:
        return self.client.config.key("mailboxes", mailbox_id, "snapshot") + "/"

    @staticmethod
    def _seq(key: str) -> int | None:
        tail = key.rsplit("/", 1)[-1]
        return int(tail) if tail.isdigit() else None

    # -- reading

    async def refresh(self, state: MailboxState, *, max_age: float | None = None) -> None:
        """Bring ``state`` up to date unless it caught up less than ``max_age`` seconds ago.

        Raises:
            MailboxGone: The mailbox was destroyed.
        """
        if max_age is None:
            max_age = self.fresh_for
        if state.gone:
            raise MailboxGone()
        if not (state.loaded and time.monotonic() - state.fresh_at < max_age):
            async with state.lock:
                if not (state.loaded and time.monotonic() - state.fresh_at < max_age):
                    await self._catch_up_locked(state)
        if state.gone:
            raise MailboxGone()

    async def _load_locked(self, state: MailboxState) -> None:
        snapshots = [
            info
            for info in await self.client.list(self.snapshot_prefix(state.id))
            if self._seq(info.key) is not None
        ]
        if snapshots:
            try:
                data = await self.client.get(snapshots[-1].key)
            except NotFound:
                raise StoreUnavailable(f"mailbox {state.id}: snapshot vanished") from None
            state.load_snapshot(loads(data, f"snapshot of mailbox {state.id}"))
        state.loaded = True

    async def _catch_up_locked(self, state: MailboxState) -> int:
        """Read the entries after the last one applied; return how many. Holds the lock."""
        was_loaded = state.loaded
        started = time.monotonic()
        if not was_loaded:
            await self._load_locked(state)
        infos = await self.client.list(
            self.log_prefix(state.id), start_after=self.log_key(state.id, state.last_seq)
        )
        seqs = [(seq, info.key) for info in infos if (seq := self._seq(info.key)) is not None]
        if seqs:
            datas: list[bytes] = [b""] * len(seqs)

            async def get(i: int, key: str) -> None:
                datas[i] = await self.client.get(key)

            async with anyio.create_task_group() as group:
                for i, (_, key) in enumerate(seqs):
                    group.start_soon(get, i, key)
            for (seq, _), data in zip(seqs, datas, strict=True):
                state.apply(seq, loads(data, f"log entry {seq} of mailbox {state.id}"))
        state.fresh_at = started
        if seqs and was_loaded:
            self._notify(state.id)
        return len(seqs)

    # -- writing

    async def commit(
        self, state: MailboxState, build: Callable[[MailboxState], tuple[Entry | None, _R]]
    ) -> tuple[_R, int]:
        """Claim the next log entry with what ``build`` makes of the current state; return
        what ``build`` returned with it and the entry's MODSEQ (0: nothing to write).

        ``build`` runs again on a state caught up after each lost claim, so it must compute
        everything (UIDs, flags) from the state it gets.

        Raises:
            MailboxGone: The mailbox was destroyed. Whatever ``build`` raises.
        """
        async with state.lock:
            if not state.loaded:
                await self._catch_up_locked(state)
            lost = 0
            while True:
                if state.gone:
                    raise MailboxGone()
                entry, result = build(state)
                if entry is None:
                    return result, 0
                # Tells our own entry from another writer's: when S3 wrote it but its answer
                # was lost, botocore's retry of the PUT meets the entry and gets 412.
                token = uuid.uuid4().hex
                entry = {**entry, "claim": token}
                seq = state.last_seq + 1
                started = time.monotonic()
                try:
                    await self.client.put(
                        self.log_key(state.id, seq), dumps(entry), if_none_match=True
                    )
                except PreconditionFailed:
                    if await self._after_lost_claim(state, seq, token, lost):
                        pass  # it was ours after all: state has it applied
                    else:
                        lost += 1
                        if lost >= MAX_LOST_CLAIMS:
                            raise StoreUnavailable(
                                f"mailbox {state.id}: {lost} writes lost to others in a row"
                            ) from None
                        continue
                else:
                    state.apply(seq, entry)
                state.fresh_at = started
                if seq % SNAPSHOT_EVERY == 0:
                    await self._write_snapshot(state)
                break
        self._notify(state.id)
        return result, seq + 1

    async def _after_lost_claim(self, state: MailboxState, seq: int, token: str, lost: int) -> bool:
        """Entry ``seq`` exists: read it (one GET, cheaper than a LIST when one other writer
        is ahead) and apply it; True if it is ours (``token``). After repeated losses, catch
        up fully instead."""
        try:
            data = await self.client.get(self.log_key(state.id, seq))
        except NotFound:  # cannot be (entries are never deleted): read what there is
            await self._catch_up_locked(state)
            return False
        entry = loads(data, f"log entry {seq} of mailbox {state.id}")
        state.apply(seq, entry)
        if entry.get("claim") == token:
            return True
        self._notify(state.id)
        if lost >= 1:  # several writers ahead: one LIST rather than a GET per entry
            await self._catch_up_locked(state)
        return False

    async def _write_snapshot(self, state: MailboxState) -> None:
        prefix = self.snapshot_prefix(state.id)
        try:
            await self.client.put(
                f"{prefix}{state.last_seq:020d}", dumps(state.to_snapshot()), if_none_match=True
            )
            old = state.last_seq - 2 * SNAPSHOT_EVERY
            if old > 0:
                await self.client.delete([f"{prefix}{old:020d}"])
        except PreconditionFailed:
            pass  # another writer made the same snapshot
        except StoreUnavailable as exc:
            _log.warning("snapshot of mailbox %s not written: %s", state.id, exc)
