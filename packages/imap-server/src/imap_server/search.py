"""Evaluating SEARCH criteria against a mailbox's messages (RFC 9051 and RFC 3501 section 6.4.4).

`imap_wire` parses a search program into a tree of `SearchKey` values; this module says which
messages of the selected mailbox match it. The command handler:

1. calls `needed` to learn the least message data the criteria need (a flags-only search
   loads no bodies), which also rejects keys nobody can evaluate before any work is done;
2. fetches the session's messages with that `Want`;
3. calls `search` with a `SearchScope` (the session's numbering, the saved result ``$``
   and the session's ``\\Recent`` messages) and gets the matching UIDs back.

Keys are evaluated one message at a time, so the decoded text of one message is cached while
its criteria are tested and dropped before the next (memory stays bounded by one message).
Within ``AND`` (and ``OR``), cheap keys run first: a flag, size or date that already decides
the outcome spares the body search.

Extension keys (``MODSEQ``, ``FUZZY`` ...) plug in through `SearchEvaluators`, a registry from
`SearchKey` subclass to `SearchKeyEvaluator`; `default_evaluators` covers the base keys and
returns a fresh copy an application may extend::

    evaluators = default_evaluators()
    evaluators.register(ModSeqKey, LeafEvaluator(match=lambda k, m, ctx: m.modseq >= k.modseq))
    uids = await search(key, messages, scope, evaluators=evaluators)
"""

from __future__ import annotations

import bisect
import datetime as _dt
import enum
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar

import anyio.lowlevel

from imap_wire import (
    SearchAnd,
    SearchDate,
    SearchHeader,
    SearchKey,
    SearchKeyword,
    SearchNot,
    SearchOr,
    SearchSequence,
    SearchSimple,
    SearchSize,
    SearchText,
    SearchUid,
    SequenceSet,
)

from . import message as _message
from .errors import CommandFailed
from .store import Body, MessageData, Want

__all__ = [
    "Cost",
    "LeafEvaluator",
    "MatchResult",
    "SearchContext",
    "SearchEvaluators",
    "SearchKeyEvaluator",
    "SearchPlanner",
    "SearchScope",
    "UnsupportedSearchKey",
    "default_evaluators",
    "fold_text",
    "needed",
    "resolve_sequence_set",
    "search",
]

K = TypeVar("K", bound=SearchKey)
K_contra = TypeVar("K_contra", bound=SearchKey, contravariant=True)
T = TypeVar("T")

#: What an evaluator returns for one message: a plain bool when it can tell at once (flags,
#: sizes), an awaitable when it must read the message. Plain bools spare a coroutine per
#: message and key, which is most of the cost of a flags-only search of a large mailbox.
MatchResult = bool | Awaitable[bool]

# Let other tasks run every so many messages: a search of a large mailbox is CPU-bound and
# its awaits rarely suspend, so without this it would hold the event loop for its duration.
_CHECKPOINT_EVERY: Final = 512


# -- scope and errors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchScope:
    """What the evaluation knows about the session's view of the mailbox.

    Attributes:
        uids: The session's messages, ascending; a message's sequence number is its index
            + 1. May hold UIDs already expunged but not yet reported to the client.
        saved: UIDs of the saved search result ``$`` (RFC 5182), or None when nothing was
            saved; ``$`` then matches nothing.
        recent: UIDs that are ``\\Recent`` for this session (RFC 3501).
    """

    uids: Sequence[int]
    saved: frozenset[int] | None = None
    recent: AbstractSet[int] = frozenset()


class UnsupportedSearchKey(CommandFailed):
    """A search key no evaluator handles (answers ``NO [CANNOT]``).

    The parser accepted it, so an extension taught the grammar a key but gave the server no
    evaluator for it, or a base key carries a name this module does not know.
    """

    def __init__(self, key: SearchKey) -> None:
        super().__init__(f"cannot search by {type(key).__name__}", code="CANNOT")
        self.key = key


# -- text folding -------------------------------------------------------------------------------


def fold_text(text: str) -> str:
    """Return ``text`` as it is compared: case-folded, in Unicode normalization form C.

    RFC 9051 section 6.4.4 asks for case-insensitive substring matching (at least within
    ASCII). Full case folding also matches ``STRASSE`` against ``Straße``; NFC makes a
    decomposed ``é`` (as some mail programs send it) match the composed one a client types.
    Both the searched text and the needle go through this function.
    """
    folded = text.casefold()
    # is_normalized is a quick check, so already-composed text (nearly all of it) is not copied.
    if folded.isascii() or unicodedata.is_normalized("NFC", folded):
        return folded
    return unicodedata.normalize("NFC", folded)


# -- sequence sets ------------------------------------------------------------------------------


def resolve_sequence_set(sset: SequenceSet, scope: SearchScope, *, uid: bool) -> list[int]:
    """Return the UIDs, ascending, that a sequence set names in this view.

    Args:
        sset: The set as parsed: numbers, ranges (``a:b`` is ``b:a``), ``*`` or ``$``.
        scope: The session's view.
        uid: True for a UID set (``UID 4:*``), False for sequence numbers.

    Returns:
        The UIDs of ``scope.uids`` the set names. ``*`` is the last sequence number or the
        highest UID of the view; ``$`` is `SearchScope.saved` (nothing when None). A UID set
        only names UIDs in the view, and ``*`` in an empty view names nothing. Sequence
        numbers beyond the view are ignored: whether they are an error is the caller's call.
    """
    uids = scope.uids
    if sset.is_saved:
        saved = scope.saved
        if not saved:
            return []
        # The saved result may hold UIDs expunged since: only those still in the view count.
        # A few saved UIDs in a large view are looked up; many are found by one pass.
        if len(saved) * 16 < len(uids):
            return _in_view(saved, uids)
        return [u for u in uids if u in saved]
    if not uids:
        return []
    if not uid:
        # intervals() clamps to 1 .. count, so 1:4294967295 costs nothing in a small mailbox.
        out: list[int] = []
        for first, last in sset.intervals(len(uids)):
            out.extend(uids[first - 1 : last])
        return out
    # RFC 9051 section 6.4.8: "*" is the highest UID in use, so 559:* names the last message
    # even when 559 is above it; intervals() does exactly that with largest = the last UID.
    out = []
    for first, last in sset.intervals(uids[-1]):
        lo = bisect.bisect_left(uids, first)
        hi = bisect.bisect_right(uids, last, lo)
        out.extend(uids[lo:hi])
    return out


def _in_view(wanted: frozenset[int], uids: Sequence[int]) -> list[int]:
    """The members of ``wanted`` present in the ascending ``uids`` (few of many: bisect)."""
    out = []
    for u in sorted(wanted):
        i = bisect.bisect_left(uids, u)
        if i < len(uids) and uids[i] == u:
            out.append(u)
    return out


# -- the extension point ------------------------------------------------------------------------


class Cost(enum.IntEnum):
    """How expensive a key is to test; ``AND`` and ``OR`` test cheaper keys first.

    Extension evaluators may return any int; these are the base keys' tiers.
    """

    #: Flags, sizes, internal dates, sequence sets, MODSEQ: `Want.META` data.
    META = 0
    #: Needs the parsed structure (``SENT*`` parse the Date: header).
    STRUCTURE = 10
    #: Reads and decodes header fields (``FROM``, ``HEADER`` ...).
    HEADER = 20
    #: Reads and decodes the whole message (``BODY``, ``TEXT``).
    TEXT = 30


class SearchKeyEvaluator(Protocol[K_contra]):
    """How to evaluate one kind of `SearchKey` (registered in `SearchEvaluators`).

    An evaluator for a key that nests other keys (like ``NOT``) asks the planner and the
    context about them: ``planner.want(inner)``, ``ctx.check(inner, message)``.
    """

    def want(self, key: K_contra, planner: SearchPlanner) -> Want:
        """Return the message data the key needs.

        Raises:
            UnsupportedSearchKey: The key cannot be evaluated (e.g. an unknown name).
        """
        ...

    def cost(self, key: K_contra, planner: SearchPlanner) -> int:
        """Return how expensive the key is per message (a `Cost` tier, or between them)."""
        ...

    def __call__(self, key: K_contra, message: MessageData, ctx: SearchContext) -> MatchResult:
        """Tell whether ``message`` matches ``key``: a bool, or an awaitable of one."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LeafEvaluator(Generic[K]):
    """A `SearchKeyEvaluator` made of one match function, for keys without nested keys.

    Attributes:
        match: ``match(key, message, ctx)``: a bool, or an awaitable of one.
        needs: The message data every key of this kind needs.
        expense: Its `Cost`.
    """

    match: Callable[[K, MessageData, SearchContext], MatchResult]
    needs: Want = Want.META
    expense: int = Cost.META

    def want(self, key: K, planner: SearchPlanner) -> Want:
        """Return `needs`."""
        return self.needs

    def cost(self, key: K, planner: SearchPlanner) -> int:
        """Return `expense`."""
        return self.expense

    def __call__(self, key: K, message: MessageData, ctx: SearchContext) -> MatchResult:
        """Call `match`."""
        return self.match(key, message, ctx)


@dataclass(slots=True)
class SearchEvaluators:
    """The registry: `SearchKey` subclass -> its `SearchKeyEvaluator`.

    A key whose exact type is not registered uses the evaluator of its nearest registered
    base class. `default_evaluators` returns one covering the base keys.

    Attributes:
        evaluators: The mapping; change it through `register`.
    """

    evaluators: dict[type[SearchKey], SearchKeyEvaluator[Any]] = field(default_factory=dict)

    def register(self, key_type: type[K], evaluator: SearchKeyEvaluator[K]) -> None:
        """Evaluate keys of ``key_type`` (and its subclasses) with ``evaluator``.

        Replaces an evaluator registered for the same type, so an application may override
        a base key's evaluation (say, a BODY search backed by a full-text index).
        """
        self.evaluators[key_type] = evaluator

    def copy(self) -> SearchEvaluators:
        """Return an independent copy (registering in it leaves this one as it is)."""
        return SearchEvaluators(dict(self.evaluators))

    def lookup(self, key: SearchKey) -> SearchKeyEvaluator[Any]:
        """Return the evaluator for ``key``.

        Raises:
            UnsupportedSearchKey: Neither its type nor a base class is registered.
        """
        found = self.evaluators.get(type(key))
        if found is not None:
            return found
        for base in type(key).__mro__[1:]:
            found = self.evaluators.get(base)
            if found is not None:
                return found
        raise UnsupportedSearchKey(key)


class SearchPlanner:
    """Answers `want` and `cost` for the keys of one search program, once per key.

    Evaluators of nested keys ask it about their operands. Answers are remembered per key
    object, so planning a deep tree costs time linear in its size.
    """

    __slots__ = ("_costs", "_evaluators", "_wants")

    def __init__(self, evaluators: SearchEvaluators) -> None:
        self._evaluators = evaluators
        # Keyed by id(); the key is kept in the value so its id cannot be reused meanwhile.
        self._wants: dict[int, tuple[SearchKey, Want]] = {}
        self._costs: dict[int, tuple[SearchKey, int]] = {}

    @property
    def evaluators(self) -> SearchEvaluators:
        """The registry in use."""
        return self._evaluators

    def evaluator(self, key: SearchKey) -> SearchKeyEvaluator[Any]:
        """Return the evaluator for ``key`` (see `SearchEvaluators.lookup`)."""
        return self._evaluators.lookup(key)

    def want(self, key: SearchKey) -> Want:
        """Return what message data ``key`` needs.

        Raises:
            UnsupportedSearchKey: ``key`` or a key nested in it cannot be evaluated.
        """
        hit = self._wants.get(id(key))
        if hit is not None:
            return hit[1]
        want = self._evaluators.lookup(key).want(key, self)
        self._wants[id(key)] = (key, want)
        return want

    def cost(self, key: SearchKey) -> int:
        """Return how expensive ``key`` is to test on one message."""
        hit = self._costs.get(id(key))
        if hit is not None:
            return hit[1]
        cost = self._evaluators.lookup(key).cost(key, self)
        self._costs[id(key)] = (key, cost)
        return cost


_UNSET: Final[Any] = object()


class SearchContext(SearchPlanner):
    """One search in progress: the scope, the planner, and per-message caches.

    Evaluators test nested keys through `check` / `matches`, precompute per-key values once
    per search with `prepared`, and read message text through the cached accessors, which
    return text already passed through `fold_text`.
    """

    __slots__ = (
        "_cache_uid",
        "_headers",
        "_prepared",
        "_sent_date",
        "_texts",
        "scope",
    )

    def __init__(self, scope: SearchScope, evaluators: SearchEvaluators) -> None:
        super().__init__(evaluators)
        #: The session's view of the mailbox.
        self.scope = scope
        self._prepared: dict[int, tuple[SearchKey, Any]] = {}
        # The caches hold data of one message only: the one whose UID is _cache_uid.
        self._cache_uid = 0
        self._texts: dict[bool, str] = {}
        self._headers: dict[str, list[str]] = {}
        self._sent_date: _dt.date | None = _UNSET

    # -- nested keys ----------------------------------------------------------------------------

    def check(self, key: SearchKey, message: MessageData) -> MatchResult:
        """Test ``message`` against ``key``: a bool, or an awaitable when it must read it."""
        return self._evaluators.lookup(key)(key, message, self)

    async def matches(self, key: SearchKey, message: MessageData) -> bool:
        """Tell whether ``message`` matches ``key``."""
        result = self.check(key, message)
        return result if isinstance(result, bool) else await result

    def prepared(self, key: SearchKey, compute: Callable[[], T]) -> T:
        """Return ``compute()``, computed once per key in this search.

        For what depends only on the key and the scope: a resolved sequence set, a folded
        needle, the operands of an ``AND`` in cost order.
        """
        hit = self._prepared.get(id(key))
        if hit is not None:
            value: T = hit[1]
            return value
        value = compute()
        self._prepared[id(key)] = (key, value)
        return value

    # -- message data ---------------------------------------------------------------------------

    def _switch_to(self, message: MessageData) -> None:
        # Evaluation goes message by message, so a new UID means the last message is done.
        if message.uid != self._cache_uid:
            self._cache_uid = message.uid
            self._texts = {}
            self._headers = {}
            self._sent_date = _UNSET

    async def folded_text(self, message: MessageData, *, include_headers: bool) -> str:
        """Return the message's decoded text, folded: the body (``BODY``), or header and
        body (``TEXT``). See `imap_server.message.search_text`.

        Raises:
            ValueError: The message was fetched without `Want.STRUCTURE` and `Want.BODY`.
        """
        self._switch_to(message)
        text = self._texts.get(include_headers)
        if text is None:
            parsed, body = _parts(message)
            raw = await _message.search_text(parsed, body, include_headers=include_headers)
            text = fold_text(raw)
            self._texts[include_headers] = text
        return text

    async def folded_header_values(self, message: MessageData, name: str) -> list[str]:
        """Return the values of the message's top-level header fields named ``name``
        (unfolded, RFC 2047-decoded, then folded), empty when it has none.

        Raises:
            ValueError: The message was fetched without `Want.STRUCTURE` and `Want.BODY`.
        """
        self._switch_to(message)
        lname = name.lower()
        values = self._headers.get(lname)
        if values is None:
            parsed, body = _parts(message)
            memo_key = _MEMO_FIELDS.get(lname)
            if memo_key is not None:
                # The fields clients search most are decoded once per message, not once per
                # SEARCH: a mailbox searched again and again costs a dict lookup per message.
                values = parsed.memo.get(memo_key)
                if values is None:
                    raw = await _message.header_values(parsed, body, name)
                    values = parsed.memo[memo_key] = [fold_text(v) for v in raw]
            else:
                values = [fold_text(v) for v in await _message.header_values(parsed, body, name)]
            self._headers[lname] = values
        return values

    def sent_date(self, message: MessageData) -> _dt.date | None:
        """Return the date of the message's Date: header as written (its own zone), or None
        when it is missing or cannot be parsed.

        Raises:
            ValueError: The message was fetched without `Want.STRUCTURE`.
        """
        self._switch_to(message)
        if self._sent_date is _UNSET:
            if message.parsed is None:
                raise ValueError(f"message UID {message.uid} was fetched without Want.STRUCTURE")
            # date_time parses with email.utils.parsedate_to_datetime and never raises; a
            # "-0000" zone gives a naive datetime, whose date is still the one written.
            when = message.parsed.envelope.date_time
            self._sent_date = None if when is None else when.date()
        return self._sent_date


def _parts(message: MessageData) -> tuple[_message.ParsedMessage, Body]:
    if message.parsed is None or message.body is None:
        raise ValueError(
            f"message UID {message.uid} was fetched without Want.STRUCTURE | Want.BODY"
        )
    return message.parsed, message.body


# -- the base keys ------------------------------------------------------------------------------

_TEXT_WANT: Final = Want.STRUCTURE | Want.BODY


def _flag_test(flag: str, present: bool) -> Callable[[MessageData, SearchScope], bool]:
    if present:
        return lambda m, scope: flag in m.flags
    return lambda m, scope: flag not in m.flags


# RFC 9051 section 6.4.4; NEW, OLD and RECENT from RFC 3501 (\Recent is per session).
_SIMPLE: Final[dict[str, Callable[[MessageData, SearchScope], bool]]] = {
    "ALL": lambda m, scope: True,
    "ANSWERED": _flag_test("\\Answered", True),
    "DELETED": _flag_test("\\Deleted", True),
    "DRAFT": _flag_test("\\Draft", True),
    "FLAGGED": _flag_test("\\Flagged", True),
    "SEEN": _flag_test("\\Seen", True),
    "UNANSWERED": _flag_test("\\Answered", False),
    "UNDELETED": _flag_test("\\Deleted", False),
    "UNDRAFT": _flag_test("\\Draft", False),
    "UNFLAGGED": _flag_test("\\Flagged", False),
    "UNSEEN": _flag_test("\\Seen", False),
    "RECENT": lambda m, scope: m.uid in scope.recent,
    "OLD": lambda m, scope: m.uid not in scope.recent,
    "NEW": lambda m, scope: m.uid in scope.recent and "\\Seen" not in m.flags,
}


class _SimpleEvaluator:
    """``ALL``, the flag keys and the ``\\Recent`` keys."""

    def want(self, key: SearchSimple, planner: SearchPlanner) -> Want:
        if key.name not in _SIMPLE:
            raise UnsupportedSearchKey(key)
        return Want.META

    def cost(self, key: SearchSimple, planner: SearchPlanner) -> int:
        return Cost.META

    def __call__(self, key: SearchSimple, message: MessageData, ctx: SearchContext) -> bool:
        return _SIMPLE[key.name](message, ctx.scope)


class _KeywordEvaluator:
    """``KEYWORD`` / ``UNKEYWORD``: keywords compare case-insensitively in IMAP."""

    def want(self, key: SearchKeyword, planner: SearchPlanner) -> Want:
        if key.name not in ("KEYWORD", "UNKEYWORD"):
            raise UnsupportedSearchKey(key)
        return Want.META

    def cost(self, key: SearchKeyword, planner: SearchPlanner) -> int:
        return Cost.META

    def __call__(self, key: SearchKeyword, message: MessageData, ctx: SearchContext) -> bool:
        flags = message.flags
        # The exact spelling is the usual case: test it before folding every flag.
        present = key.keyword in flags
        if not present:
            wanted = ctx.prepared(key, lambda: key.keyword.casefold())
            present = any(f.casefold() == wanted for f in flags)
        return present if key.name == "KEYWORD" else not present


class _SizeEvaluator:
    """``LARGER`` / ``SMALLER``: strict comparisons with RFC822.SIZE."""

    def want(self, key: SearchSize, planner: SearchPlanner) -> Want:
        if key.name not in ("LARGER", "SMALLER"):
            raise UnsupportedSearchKey(key)
        return Want.META

    def cost(self, key: SearchSize, planner: SearchPlanner) -> int:
        return Cost.META

    def __call__(self, key: SearchSize, message: MessageData, ctx: SearchContext) -> bool:
        if key.name == "LARGER":
            return message.size > key.size
        return message.size < key.size


_INTERNAL_DATE_KEYS: Final = frozenset({"BEFORE", "ON", "SINCE"})
_SENT_DATE_KEYS: Final = frozenset({"SENTBEFORE", "SENTON", "SENTSINCE"})


def _compare_dates(name: str, have: _dt.date, wanted: _dt.date) -> bool:
    if name.endswith("BEFORE"):
        return have < wanted
    if name.endswith("ON"):
        return have == wanted
    return have >= wanted  # SINCE: "within or later than"


class _DateEvaluator:
    """``BEFORE`` / ``ON`` / ``SINCE`` (internal date) and ``SENT*`` (the Date: header).

    RFC 9051 compares dates "disregarding time and timezone": the date as the timestamp
    itself gives it, in its own zone, not converted to the server's or UTC.
    """

    def want(self, key: SearchDate, planner: SearchPlanner) -> Want:
        if key.name in _INTERNAL_DATE_KEYS:
            return Want.META
        if key.name in _SENT_DATE_KEYS:
            return Want.STRUCTURE
        raise UnsupportedSearchKey(key)

    def cost(self, key: SearchDate, planner: SearchPlanner) -> int:
        return Cost.META if key.name in _INTERNAL_DATE_KEYS else Cost.STRUCTURE

    def __call__(self, key: SearchDate, message: MessageData, ctx: SearchContext) -> bool:
        if key.name in _INTERNAL_DATE_KEYS:
            return _compare_dates(key.name, message.internal_date.date(), key.date)
        sent = ctx.sent_date(message)
        # No usable Date: header means the message has no sent date to compare, in any way.
        return sent is not None and _compare_dates(key.name, sent, key.date)


# The text keys that search header fields, by the field they search.
#: Header fields whose folded values are kept in `ParsedMessage.memo` (a fixed few, so a client
#: searching random field names cannot grow every message).
_MEMO_FIELDS: Final = {
    name: f"search.folded.{name}"
    for name in ("from", "to", "cc", "bcc", "subject", "message-id", "in-reply-to", "references")
}

_TEXT_FIELDS: Final = {"BCC": "Bcc", "CC": "Cc", "FROM": "From", "SUBJECT": "Subject", "TO": "To"}


class _TextEvaluator:
    """``BODY``, ``TEXT`` and the header text keys (``FROM``, ``SUBJECT`` ...).

    The header keys search the decoded header fields, addresses as the whole decoded field
    text (display names included). An empty string is a substring of any text, so it
    matches every message without reading any.
    """

    def want(self, key: SearchText, planner: SearchPlanner) -> Want:
        if key.name not in _TEXT_FIELDS and key.name not in ("BODY", "TEXT"):
            raise UnsupportedSearchKey(key)
        return _TEXT_WANT if key.value else Want.META

    def cost(self, key: SearchText, planner: SearchPlanner) -> int:
        if not key.value:
            return Cost.META
        return Cost.HEADER if key.name in _TEXT_FIELDS else Cost.TEXT

    def __call__(self, key: SearchText, message: MessageData, ctx: SearchContext) -> MatchResult:
        if not key.value:
            return True
        return self._match(key, message, ctx)

    async def _match(self, key: SearchText, message: MessageData, ctx: SearchContext) -> bool:
        needle = ctx.prepared(key, lambda: fold_text(key.value))
        name = _TEXT_FIELDS.get(key.name)
        if name is None:
            text = await ctx.folded_text(message, include_headers=key.name == "TEXT")
            return needle in text
        # Each field on its own, so a match cannot straddle two From: fields.
        return any(needle in v for v in await ctx.folded_header_values(message, name))


class _HeaderEvaluator:
    """``HEADER field string``: a field of that name containing the string; with an empty
    string, any message that has the field (RFC 9051 section 6.4.4)."""

    def want(self, key: SearchHeader, planner: SearchPlanner) -> Want:
        return _TEXT_WANT

    def cost(self, key: SearchHeader, planner: SearchPlanner) -> int:
        return Cost.HEADER

    async def __call__(self, key: SearchHeader, message: MessageData, ctx: SearchContext) -> bool:
        needle = ctx.prepared(key, lambda: fold_text(key.value))
        return any(needle in v for v in await ctx.folded_header_values(message, key.field))


class _SetEvaluator:
    """A bare sequence set, or ``UID`` set; resolved to UIDs once per search."""

    def __init__(self, *, uid: bool) -> None:
        self._uid = uid

    def want(self, key: SearchSequence | SearchUid, planner: SearchPlanner) -> Want:
        return Want.META

    def cost(self, key: SearchSequence | SearchUid, planner: SearchPlanner) -> int:
        return Cost.META

    def __call__(
        self, key: SearchSequence | SearchUid, message: MessageData, ctx: SearchContext
    ) -> bool:
        members = ctx.prepared(
            key,
            lambda: frozenset(resolve_sequence_set(key.sequence_set, ctx.scope, uid=self._uid)),
        )
        return message.uid in members


class _NotEvaluator:
    """``NOT key``."""

    def want(self, key: SearchNot, planner: SearchPlanner) -> Want:
        return planner.want(key.key)

    def cost(self, key: SearchNot, planner: SearchPlanner) -> int:
        return planner.cost(key.key)

    def __call__(self, key: SearchNot, message: MessageData, ctx: SearchContext) -> MatchResult:
        result = ctx.check(key.key, message)
        if isinstance(result, bool):
            return not result
        return _negate(result)


async def _negate(result: Awaitable[bool]) -> bool:
    return not await result


def _by_cost(keys: Sequence[SearchKey], ctx: SearchContext) -> tuple[SearchKey, ...]:
    # sorted() is stable: keys of equal cost keep the order the client gave them.
    return tuple(sorted(keys, key=ctx.cost))


class _AndEvaluator:
    """A group of keys that must all match: tested cheapest first, stopping at a failure."""

    def want(self, key: SearchAnd, planner: SearchPlanner) -> Want:
        want = Want.META
        for k in key.keys:
            want |= planner.want(k)
        return want

    def cost(self, key: SearchAnd, planner: SearchPlanner) -> int:
        # Testing the group may stop at its first key, but in the worst case it runs them all.
        return max((planner.cost(k) for k in key.keys), default=Cost.META)

    def __call__(self, key: SearchAnd, message: MessageData, ctx: SearchContext) -> MatchResult:
        keys = ctx.prepared(key, lambda: _by_cost(key.keys, ctx))
        for i, k in enumerate(keys):
            result = ctx.check(k, message)
            if isinstance(result, bool):
                if not result:
                    return False
                continue
            # From the first key that must read the message on, the rest go async too.
            return _all_rest(result, keys[i + 1 :], message, ctx)
        return True


async def _all_rest(
    first: Awaitable[bool], rest: Sequence[SearchKey], message: MessageData, ctx: SearchContext
) -> bool:
    if not await first:
        return False
    for k in rest:
        if not await ctx.matches(k, message):
            return False
    return True


class _OrEvaluator:
    """``OR a b``: the cheaper operand first, the other only when it does not match."""

    def want(self, key: SearchOr, planner: SearchPlanner) -> Want:
        return planner.want(key.left) | planner.want(key.right)

    def cost(self, key: SearchOr, planner: SearchPlanner) -> int:
        return max(planner.cost(key.left), planner.cost(key.right))

    def __call__(self, key: SearchOr, message: MessageData, ctx: SearchContext) -> MatchResult:
        first, second = ctx.prepared(key, lambda: _by_cost((key.left, key.right), ctx))
        result = ctx.check(first, message)
        if isinstance(result, bool):
            return True if result else ctx.check(second, message)
        return _any_rest(result, second, message, ctx)


async def _any_rest(
    first: Awaitable[bool], second: SearchKey, message: MessageData, ctx: SearchContext
) -> bool:
    return await first or await ctx.matches(second, message)


def default_evaluators() -> SearchEvaluators:
    """Return a fresh registry covering every base search key (RFC 9051 and RFC 3501)."""
    evaluators = SearchEvaluators()
    evaluators.register(SearchSimple, _SimpleEvaluator())
    evaluators.register(SearchText, _TextEvaluator())
    evaluators.register(SearchHeader, _HeaderEvaluator())
    evaluators.register(SearchDate, _DateEvaluator())
    evaluators.register(SearchSize, _SizeEvaluator())
    evaluators.register(SearchKeyword, _KeywordEvaluator())
    evaluators.register(SearchNot, _NotEvaluator())
    evaluators.register(SearchOr, _OrEvaluator())
    evaluators.register(SearchAnd, _AndEvaluator())
    evaluators.register(SearchSequence, _SetEvaluator(uid=False))
    evaluators.register(SearchUid, _SetEvaluator(uid=True))
    return evaluators


# -- entry points -------------------------------------------------------------------------------


def needed(key: SearchKey, *, evaluators: SearchEvaluators | None = None) -> Want:
    """Return the least message data evaluating ``key`` needs.

    ``Want.META`` for flags, sizes, internal dates and sequence sets (no message is read);
    ``Want.STRUCTURE`` for the ``SENT*`` dates; ``Want.STRUCTURE | Want.BODY`` for text.

    Raises:
        UnsupportedSearchKey: Some key in the tree has no evaluator. Calling this first
            rejects such a program before any message is fetched.
    """
    return SearchPlanner(default_evaluators() if evaluators is None else evaluators).want(key)


async def search(
    key: SearchKey,
    messages: Sequence[MessageData],
    scope: SearchScope,
    *,
    evaluators: SearchEvaluators | None = None,
) -> list[int]:
    """Return the UIDs of the messages matching ``key``, ascending.

    Args:
        key: The search program (several top-level keys are one `SearchAnd`).
        messages: The session's messages: those of ``scope.uids`` that still exist in the
            store, fetched with at least ``needed(key)``.
        scope: The session's view (sequence numbers, ``$``, ``\\Recent``).
        evaluators: The registry to use; `default_evaluators` when None.

    Raises:
        UnsupportedSearchKey: Some key in the tree has no evaluator (raised before any
            message is tested).
        ValueError: A message lacks data the key needs (fetched with too little `Want`).
    """
    ctx = SearchContext(scope, default_evaluators() if evaluators is None else evaluators)
    ctx.want(key)  # every key checked before the first message, not halfway through
    matched: list[int] = []
    for i, message in enumerate(messages):
        if i and not i % _CHECKPOINT_EVERY:
            await anyio.lowlevel.checkpoint()
        result = ctx.check(key, message)
        if result if isinstance(result, bool) else await result:
            matched.append(message.uid)
    # Stores return messages ascending by UID; sorting again costs one pass when they do.
    matched.sort()
    return matched
