"""Message sets: ``sequence-set`` and ``uid-set`` (RFC 9051 section 9), with ``$`` (RFC 5182).

A `SequenceSet` keeps its ranges as written, so what was parsed is written back unchanged
(the order matters for COPYUID, whose two UID sets pair up in order). Building a set from
numbers (`SequenceSet.of`, `SequenceSet.from_numbers`) sorts and merges instead, giving the
compact form (``1,2,3,5`` becomes ``1:3,5``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

from ._encoding import WireWriter
from ._values import Value, as_atom
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = ["MAX_NUMBER", "STAR", "SequenceSet", "parse_sequence_set"]

#: Stands for ``*`` (the largest number in use) in `SequenceSet.ranges`. Zero is never a
#: valid ``nz-number``, so it cannot collide with a real message number or UID.
STAR: Final = 0
#: The largest ``nz-number`` (RFC 9051 section 9: numbers are 32-bit unsigned).
MAX_NUMBER: Final = 0xFFFF_FFFF

# While merging, "*" counts as above every number: "a:*" is always the interval from
# min(a, largest) to largest, so treating it as "a to infinity" merges soundly.
_INFINITY = MAX_NUMBER + 1

#: An item `SequenceSet.of` accepts: a number, ``"*"``, a ``(first, last)`` pair or a range.
SequenceItem = int | Literal["*"] | tuple[int | Literal["*"], int | Literal["*"]] | range


def _seq_number(text: str, allow_star: bool) -> int:
    # nz-number = digit-nz *DIGIT; isascii() keeps out digits of other scripts.
    if text.isdigit() and text.isascii() and text[0] != "0" and len(text) <= 10:
        n = int(text)
        if n <= MAX_NUMBER:
            return n
    elif text == "*" and allow_star:
        return STAR
    raise RemoteProtocolError("invalid sequence set")


@dataclass(frozen=True, slots=True, kw_only=True)
class SequenceSet:
    """A set of message sequence numbers or UIDs (RFC 9051 section 9 ``sequence-set``).

    Attributes:
        ranges: The ranges in the order written, each as ``(first, last)``; a single number
            ``n`` is ``(n, n)``. `STAR` stands for ``*``. A range ``a:b`` is the same set as
            ``b:a``; both are kept as written.
        is_saved: True for ``$``, the saved search result (RFC 5182); ``ranges`` is then
            empty. The server resolves it; `contains`, `resolve` and iteration refuse it.
    """

    ranges: tuple[tuple[int, int], ...] = ()
    is_saved: bool = False

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, allow_star: bool = True) -> SequenceSet:
        """Parse a ``sequence-set`` atom such as ``2,4:7,9,12:*`` or ``$``.

        Args:
            text: The atom's text.
            allow_star: False for a ``uid-set`` (COPYUID, APPENDUID, VANISHED, ESEARCH ALL),
                which allows neither ``*`` nor ``$``.

        Returns:
            The set, with its ranges in the order written.

        Raises:
            RemoteProtocolError: The text is not a valid set, or a number is 0 or over
                ``2**32 - 1``.
        """
        # Fast path: a single number, the commonest set of all.
        if text.isdigit() and text.isascii() and text[0] != "0" and len(text) <= 10:
            n = int(text)
            if n <= MAX_NUMBER:
                return cls(ranges=((n, n),))
        if text == "$" and allow_star:
            return _SAVED
        ranges: list[tuple[int, int]] = []
        for part in text.split(","):
            first, colon, last = part.partition(":")
            a = _seq_number(first, allow_star)
            ranges.append((a, _seq_number(last, allow_star) if colon else a))
        return cls(ranges=tuple(ranges))

    @classmethod
    def saved(cls) -> SequenceSet:
        """Return ``$``: the result of the last ``SEARCH RETURN (SAVE)`` (RFC 5182)."""
        return _SAVED

    @classmethod
    def of(cls, *items: SequenceItem) -> SequenceSet:
        """Build a compact set: ranges sorted, overlapping and adjacent ones merged.

        Args:
            items: Numbers, ``"*"``, ``(first, last)`` pairs (either order, ``"*"``
                allowed) and `range` objects with step 1 (empty ranges add nothing).

        Returns:
            The set; ``SequenceSet.of(1, 2, 3, 5)`` is ``1:3,5``.

        Raises:
            LocalProtocolError: A number outside ``1 .. 2**32 - 1`` or a range with a step.
        """
        spans: list[tuple[int, int]] = []
        for item in items:
            if isinstance(item, range):
                if item.step != 1:
                    raise LocalProtocolError("a sequence set range must have step 1")
                if not item:
                    continue
                a, b = _checked(item.start), _checked(item.stop - 1)
            elif isinstance(item, tuple):
                a, b = _checked(item[0]), _checked(item[1])
            else:
                a = b = _checked(item)
            spans.append((a, b) if a <= b else (b, a))
        return cls(ranges=_from_merged(_merge(spans)))

    @classmethod
    def from_numbers(cls, numbers: Iterable[int]) -> SequenceSet:
        """Build a compact set from numbers (any order, duplicates allowed).

        Raises:
            LocalProtocolError: A number outside ``1 .. 2**32 - 1``.
        """
        return cls(ranges=tuple(_merge([(n, n) for n in map(_checked_number, numbers)])))

    # -- encoding -------------------------------------------------------------------------

    def __str__(self) -> str:
        if self.is_saved:
            return "$"
        parts = []
        for a, b in self.ranges:
            first = "*" if a == STAR else str(a)
            if a == b:
                parts.append(first)
            else:
                parts.append(f"{first}:{'*' if b == STAR else b}")
        return ",".join(parts)

    def __repr__(self) -> str:
        return f"SequenceSet({str(self)!r})"

    def write(self, w: WireWriter) -> None:
        """Write the set as an atom, ranges in the order held.

        Raises:
            LocalProtocolError: The set is empty, or holds a number over ``2**32 - 1`` or
                below zero.
        """
        if self.is_saved:
            if self.ranges:
                raise LocalProtocolError("a saved-result set ($) cannot hold ranges")
            w.raw(b"$")
            return
        if not self.ranges:
            raise LocalProtocolError("an empty sequence set cannot be written")
        for a, b in self.ranges:
            if not (0 <= a <= MAX_NUMBER and 0 <= b <= MAX_NUMBER):
                raise LocalProtocolError("sequence set number out of range")
        w.raw(str(self).encode("ascii"))

    # -- queries --------------------------------------------------------------------------

    @property
    def has_star(self) -> bool:
        """True when some range uses ``*``."""
        return any(a == STAR or b == STAR for a, b in self.ranges)

    def contains(self, n: int, largest: int) -> bool:
        """Tell whether ``n`` is in the set, with ``*`` standing for ``largest``.

        Only numbers in use (``1 .. largest``) are members, as `resolve` gives them.

        Args:
            n: A message sequence number or UID.
            largest: The largest number in use (message count, or the last UID).

        Raises:
            ValueError: The set is ``$``, which only the server can resolve.
        """
        self._check_resolvable()
        if n < 1 or n > largest:
            return False
        for a, b in self.ranges:
            if a == STAR:
                a = largest
            if b == STAR:
                b = largest
            if a <= n <= b or b <= n <= a:
                return True
        return False

    def intervals(self, largest: int) -> list[tuple[int, int]]:
        """Return the members as sorted, disjoint, non-adjacent ``(first, last)`` intervals.

        ``*`` stands for ``largest`` and everything is clamped to ``1 .. largest``, so
        ``1:4294967295`` costs nothing in a small mailbox. Stores can turn the intervals
        into range queries.

        Raises:
            ValueError: The set is ``$``.
        """
        self._check_resolvable()
        spans: list[tuple[int, int]] = []
        for a, b in self.ranges:
            if a == STAR:
                a = largest
            if b == STAR:
                b = largest
            if a > b:
                a, b = b, a
            a = max(a, 1)
            b = min(b, largest)
            if a <= b:
                spans.append((a, b))
        return _merge(spans)

    def resolve(self, largest: int) -> Iterator[int]:
        """Yield the members in ascending order, each once (``*`` = ``largest``).

        RFC 9051 section 9: ``12:*`` with 10 messages is message 10, and ``2:4`` equals
        ``4:2``. Numbers above ``largest`` do not exist and are left out.

        Raises:
            ValueError: The set is ``$``.
        """
        for a, b in self.intervals(largest):
            yield from range(a, b + 1)

    def count(self, largest: int) -> int:
        """Return how many numbers `resolve` yields, without listing them.

        Raises:
            ValueError: The set is ``$``.
        """
        return sum(b - a + 1 for a, b in self.intervals(largest))

    def __iter__(self) -> Iterator[int]:
        """Yield the numbers in the order written, each range ascending, duplicates kept.

        This is the order COPYUID pairs source and destination UIDs in (RFC 9051 section
        7.1: ``12:10`` is ``10,11,12``).

        Raises:
            ValueError: The set holds ``*`` or is ``$``: use `resolve`.
        """
        if self.is_saved or self.has_star:
            raise ValueError(f"cannot iterate over {self}: resolve it against the mailbox")
        for a, b in self.ranges:
            yield from range(a, b + 1) if a <= b else range(b, a + 1)

    def __contains__(self, n: object) -> bool:
        """Tell whether a number is in a set without ``*`` or ``$``.

        Raises:
            ValueError: The set holds ``*`` or is ``$``: use `contains`.
        """
        if self.is_saved or self.has_star:
            raise ValueError(f"membership in {self} depends on the mailbox: use contains()")
        if not isinstance(n, int):
            return False
        return any(a <= n <= b or b <= n <= a for a, b in self.ranges)

    def _check_resolvable(self) -> None:
        if self.is_saved:
            raise ValueError("the saved search result ($) is known only to the server")


_SAVED: Final = SequenceSet(is_saved=True)


def _checked_number(n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise LocalProtocolError("a sequence set holds integers")
    if not 1 <= n <= MAX_NUMBER:
        raise LocalProtocolError(f"{n} is not a valid message number or UID (1 .. 2**32-1)")
    return n


def _checked(item: int | str) -> int:
    if item == "*":
        return _INFINITY
    if isinstance(item, str):
        raise LocalProtocolError("a sequence set holds integers and '*'")
    return _checked_number(item)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort ``(low, high)`` spans and merge overlapping or adjacent ones."""
    if not spans:
        return []
    spans.sort()
    out: list[tuple[int, int]] = []
    lo, hi = spans[0]
    for a, b in spans[1:]:
        if a <= hi + 1:
            if b > hi:
                hi = b
        else:
            out.append((lo, hi))
            lo, hi = a, b
    out.append((lo, hi))
    return out


def _from_merged(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((STAR if a == _INFINITY else a, STAR if b == _INFINITY else b) for a, b in spans)


def parse_sequence_set(
    v: Value, what: str = "sequence set", *, allow_star: bool = True
) -> SequenceSet:
    """Parse a tokenized value as a `SequenceSet` (see `SequenceSet.parse`).

    Raises:
        RemoteProtocolError: The value is not an atom or not a valid set.
    """
    return SequenceSet.parse(as_atom(v, what), allow_star=allow_star)
