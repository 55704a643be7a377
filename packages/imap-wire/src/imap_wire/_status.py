"""STATUS items (RFC 9051 section 6.3.11; SIZE from RFC 8438, HIGHESTMODSEQ from RFC 7162)."""

from __future__ import annotations

import enum

__all__ = ["StatusItem"]


class StatusItem(enum.StrEnum):
    """A STATUS data item. Extensions may use other names (kept as plain `str`)."""

    MESSAGES = "MESSAGES"
    UIDNEXT = "UIDNEXT"
    UIDVALIDITY = "UIDVALIDITY"
    UNSEEN = "UNSEEN"
    DELETED = "DELETED"
    SIZE = "SIZE"
    RECENT = "RECENT"
    HIGHESTMODSEQ = "HIGHESTMODSEQ"
    APPENDLIMIT = "APPENDLIMIT"
