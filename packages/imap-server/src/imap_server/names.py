"""Mailbox names as stores file them: the rules every store shares.

A store keeps full names in Unicode NFC with ``/`` between hierarchy levels; ``INBOX`` (the
first level, in any case) is filed as ``INBOX``. These helpers let each store apply the same
rules, so a name means the same mailbox whatever the store.
"""

from __future__ import annotations

import re
import unicodedata

from .store import InvalidName, UnsupportedSpecialUse

__all__ = [
    "DELIMITER",
    "INBOX",
    "SPECIAL_USE_ATTRIBUTES",
    "canonical_name",
    "is_inferior",
    "special_use",
    "superiors",
]

#: The hierarchy delimiter of every built-in store.
DELIMITER = "/"
INBOX = "INBOX"
#: The special-use attributes a mailbox may be created with (RFC 6154 section 2).
SPECIAL_USE_ATTRIBUTES = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)
_SPECIAL_USE_BY_LOWER = {attr.lower(): attr for attr in SPECIAL_USE_ATTRIBUTES}
#: C0 and C1 controls, DEL and lone surrogates are not Net-Unicode (RFC 5198); the wildcards
#: would make the name impossible to LIST unambiguously (RFC 9051 section 5.1).
_BAD_NAME_CHARS = re.compile("[\x00-\x1f\x7f-\x9f*%\ud800-\udfff]")


def canonical_name(name: str) -> str:
    """Return the name the store files a mailbox under, or raise `InvalidName`.

    NFC so that a denormalized name reaches the same mailbox in every command (RFC 9051
    section 5.1); the first level ``INBOX`` in any case becomes ``INBOX``.
    """
    if not name:
        raise InvalidName("The mailbox name is empty")
    if not unicodedata.is_normalized("NFC", name):
        name = unicodedata.normalize("NFC", name)
    if _BAD_NAME_CHARS.search(name):
        raise InvalidName("The mailbox name holds a control or wildcard character")
    levels = name.split(DELIMITER)
    if not all(levels):
        raise InvalidName("The mailbox name has an empty hierarchy level")
    if levels[0].upper() == INBOX and levels[0] != INBOX:
        levels[0] = INBOX
        name = DELIMITER.join(levels)
    return name


def superiors(name: str) -> list[str]:
    """``"a/b/c"`` -> ``["a", "a/b"]``."""
    levels = name.split(DELIMITER)
    return [DELIMITER.join(levels[:i]) for i in range(1, len(levels))]


def is_inferior(name: str, of: str) -> bool:
    """True if ``name`` is below ``of`` in the hierarchy."""
    return name.startswith(of + DELIMITER)


def special_use(attributes: frozenset[str]) -> frozenset[str]:
    """The special-use attributes in canonical case, or raise `UnsupportedSpecialUse`."""
    result = set()
    for attr in attributes:
        canonical = _SPECIAL_USE_BY_LOWER.get(attr.lower())
        if canonical is None:
            raise UnsupportedSpecialUse(f"Unsupported special-use attribute {attr}")
        result.add(canonical)
    return frozenset(result)
