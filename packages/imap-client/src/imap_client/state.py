"""What the client knows of the selected mailbox, kept current from untagged responses."""

from __future__ import annotations

from dataclasses import dataclass, field

from imap_wire import (
    ExistsResponse,
    ExpungeResponse,
    FetchResponse,
    FlagsResponse,
    HighestModSeqCode,
    PermanentFlagsCode,
    RecentResponse,
    Response,
    ResponseStatus,
    StatusResponse,
    UidNextCode,
    UidValidityCode,
    VanishedResponse,
)

__all__ = ["MailboxState"]


@dataclass(slots=True)
class MailboxState:
    """The selected mailbox as the server last described it.

    Updated by every untagged response, solicited or not (RFC 9051 section 7: the client
    must track EXISTS and EXPUNGE whenever they come). ``name`` is None when no mailbox is
    selected.
    """

    name: str | None = None
    read_only: bool = False
    exists: int = 0
    recent: int = 0
    flags: tuple[str, ...] = ()
    permanent_flags: tuple[str, ...] | None = None
    uid_validity: int | None = None
    uid_next: int | None = None
    highest_modseq: int | None = None
    #: Flags last reported for messages, by sequence number (from FETCH responses).
    message_flags: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def reset(self, name: str | None = None, *, read_only: bool = False) -> None:
        """Forget everything (a new SELECT, or none)."""
        self.name = name
        self.read_only = read_only
        self.exists = 0
        self.recent = 0
        self.flags = ()
        self.permanent_flags = None
        self.uid_validity = None
        self.uid_next = None
        self.highest_modseq = None
        self.message_flags.clear()

    def update(self, response: Response) -> None:
        kind = type(response)
        if kind is FetchResponse:
            assert isinstance(response, FetchResponse)
            if response.flags is not None:
                self.message_flags[response.seq] = response.flags
            if response.modseq is not None and (
                self.highest_modseq is None or response.modseq > self.highest_modseq
            ):
                self.highest_modseq = response.modseq
        elif kind is ExistsResponse:
            assert isinstance(response, ExistsResponse)
            self.exists = response.count
        elif kind is ExpungeResponse:
            assert isinstance(response, ExpungeResponse)
            self._expunge(response.seq)
        elif kind is RecentResponse:
            assert isinstance(response, RecentResponse)
            self.recent = response.count
        elif kind is FlagsResponse:
            assert isinstance(response, FlagsResponse)
            self.flags = response.flags
        elif kind is VanishedResponse:
            assert isinstance(response, VanishedResponse)
            if not response.earlier:
                # VANISHED (not EARLIER) replaces EXPUNGE under QRESYNC: UIDs, not numbers,
                # so only the count can be kept.
                self.exists = max(0, self.exists - response.uids.count(0))
        elif kind is StatusResponse:
            assert isinstance(response, StatusResponse)
            if response.status is ResponseStatus.OK and response.code is not None:
                self._code(response)

    def _code(self, response: StatusResponse) -> None:
        code = response.code
        if isinstance(code, UidValidityCode):
            self.uid_validity = code.uid_validity
        elif isinstance(code, UidNextCode):
            self.uid_next = code.uid_next
        elif isinstance(code, PermanentFlagsCode):
            self.permanent_flags = code.flags
        elif isinstance(code, HighestModSeqCode):
            self.highest_modseq = code.modseq

    def _expunge(self, seq: int) -> None:
        self.exists = max(0, self.exists - 1)
        if self.message_flags:
            # Numbers above the expunged message move down by one.
            self.message_flags = {
                (n - 1 if n > seq else n): f for n, f in self.message_flags.items() if n != seq
            }
