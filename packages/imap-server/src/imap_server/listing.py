"""LIST and LSUB: which mailbox names a command selects, and with which attributes.

Pure functions over the store's view of a user (`MailboxInfo` values and the subscribed
names); the session fetches those, calls `list_mailboxes`, and sends the responses (followed,
for LIST-STATUS, by a ``* STATUS`` for each name `status_targets` returns).

What is implemented (RFC 9051 section 6.3.9, RFC 5258, RFC 5819, RFC 6154, RFC 3348, and
RFC 3501 section 6.3.9 for LSUB):

- Wildcards: ``*`` matches anything, ``%`` anything but the hierarchy delimiter. Matching
  simulates the pattern as an automaton over bit sets: linear in the name's length whatever
  the pattern (no backtracking), and patterns longer than `MAX_PATTERN_LENGTH` match nothing
  (RFC 9051: a pattern the server does not accept is silently ignored).
- ``INBOX`` is case-insensitive: as a name, and as the first level of a pattern.
- The reference is prefixed to each pattern (`canonical_name`); the basic ``LIST "" ""``
  returns the delimiter and the reference's root.
- Attributes: ``\\HasChildren`` / ``\\HasNoChildren`` always (RFC 9051 lets a server send them
  unasked, and clients use them), except with ``\\Noinferiors`` which implies the latter;
  ``\\Noselect`` for the store's placeholders; ``\\NonExistent`` for names that do not exist
  (subscribed names, missing superiors of existing mailboxes: RFC 9051 example 10), written
  ``\\Noselect`` for a basic LIST in IMAP4rev1 whose client may not know ``\\NonExistent``;
  special-use attributes always (RFC 6154 section 2 allows them in every LIST);
  ``\\Subscribed`` only when asked (SUBSCRIBED selection or return option).
- Selection: SUBSCRIBED, SPECIAL-USE, RECURSIVEMATCH (CHILDINFO); REMOTE is accepted and
  changes nothing (no remote mailboxes here).
- A name that does not itself qualify is listed because of its descendants only when none
  of them is listed (RFC 9051 section 6.3.9.6: servers SHOULD suppress redundant CHILDINFO;
  the same rule decides LSUB's ``\\Noselect`` parents and LIST's missing superiors).
- Result order: INBOX and its children first, then by hierarchy level, deterministic.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from imap_wire import (
    List,
    ListResponse,
    ListReturnOption,
    ListSelectOption,
    Lsub,
    LsubResponse,
    MailboxAttribute,
    Modifier,
)

from .store import MailboxInfo

__all__ = [
    "MAX_PATTERN_LENGTH",
    "SPECIAL_USE_ATTRIBUTES",
    "BadListOptions",
    "ListRequest",
    "canonical_name",
    "list_mailboxes",
    "list_request",
    "mark_unselectable",
    "match_pattern",
    "status_targets",
]

#: Patterns (after the reference is prefixed) longer than this match nothing.
MAX_PATTERN_LENGTH = 1024

#: The special-use attributes of RFC 6154 (canonical case).
SPECIAL_USE_ATTRIBUTES = frozenset(
    {
        MailboxAttribute.ALL,
        MailboxAttribute.ARCHIVE,
        MailboxAttribute.DRAFTS,
        MailboxAttribute.FLAGGED,
        MailboxAttribute.JUNK,
        MailboxAttribute.SENT,
        MailboxAttribute.TRASH,
    }
)

_INBOX = "INBOX"
_NOSELECT = MailboxAttribute.NOSELECT.value
_NONEXISTENT = MailboxAttribute.NONEXISTENT.value
_NOINFERIORS = MailboxAttribute.NOINFERIORS.value
_SUBSCRIBED = MailboxAttribute.SUBSCRIBED.value
_HAS_CHILDREN = MailboxAttribute.HAS_CHILDREN.value
_HAS_NO_CHILDREN = MailboxAttribute.HAS_NO_CHILDREN.value
# Attributes this module computes: the store's say on them is ignored.
_COMPUTED = frozenset({_NONEXISTENT, _SUBSCRIBED, _HAS_CHILDREN, _HAS_NO_CHILDREN})
# Store attributes in any case -> canonical spelling.
_CANONICAL = {a.value.upper(): a.value for a in MailboxAttribute}
_SPECIAL_USE = frozenset(a.value for a in SPECIAL_USE_ATTRIBUTES)
_SPECIAL_USE_UPPER = frozenset(a.upper() for a in _SPECIAL_USE)
# Output order of attributes: selectability first, children last (RFC examples vary; one
# fixed order keeps responses deterministic).
_RANK = {
    _NONEXISTENT: 0,
    _NOSELECT: 0,
    _NOINFERIORS: 1,
    MailboxAttribute.MARKED.value: 2,
    MailboxAttribute.UNMARKED.value: 2,
    MailboxAttribute.REMOTE.value: 2,
    **{a: 4 for a in _SPECIAL_USE},
    _SUBSCRIBED: 5,
    _HAS_CHILDREN: 6,
    _HAS_NO_CHILDREN: 6,
}
_OTHER_RANK = 3
_ORDER = {a.value: i for i, a in enumerate(MailboxAttribute)}


class BadListOptions(ValueError):
    """The LIST options are invalid (the session answers ``BAD``), e.g. RECURSIVEMATCH
    without SUBSCRIBED (RFC 5258 section 3.1)."""


# -- patterns -------------------------------------------------------------------------------


def _normalize_inbox(name: str, delimiter: str) -> str:
    """Spell a first hierarchy level that is INBOX in any case as ``INBOX``."""
    if name[:5].upper() != _INBOX:
        return name
    if len(name) == 5:
        return _INBOX
    if delimiter and name.startswith(delimiter, 5):
        return _INBOX + name[5:]
    return name


def _inbox(name: str) -> str:
    return _INBOX if name.upper() == _INBOX else name


def _collapse(pattern: str) -> list[str]:
    """Split a pattern into one-character items, each run of wildcards made one wildcard
    (``*`` if the run holds one, else ``%``): equivalent, and it keeps the automaton's
    epsilon closure to a single shift."""
    items: list[str] = []
    for ch in pattern:
        if ch in "*%" and items and items[-1] in "*%":
            if ch == "*":
                items[-1] = "*"
            continue
        items.append(ch)
    return items


@functools.lru_cache(maxsize=512)
def _compile(pattern: str, delimiter: str) -> Callable[[str], bool]:
    """Return a predicate telling whether a (normalized) name matches ``pattern``."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return lambda name: False
    pattern = _normalize_inbox(pattern, delimiter)
    items = _collapse(pattern)
    wild = [i for i, item in enumerate(items) if item in "*%"]
    # Fast paths for the shapes clients use: "*", "%", "Foo/*", "Foo/%", no wildcard.
    if not wild:
        return pattern.__eq__
    if wild == [len(items) - 1]:
        prefix = "".join(items[:-1])
        n = len(prefix)
        if items[-1] == "*":
            return lambda name: name.startswith(prefix)
        if not delimiter:
            return lambda name: name.startswith(prefix)
        return lambda name: name.startswith(prefix) and name.find(delimiter, n) < 0
    return _automaton(items, delimiter)


def _automaton(items: list[str], delimiter: str) -> Callable[[str], bool]:
    """Simulate the pattern's automaton on bit sets: bit ``i`` set means the name read so far
    can have consumed the first ``i`` items. One pass over the name, no backtracking."""
    literal: dict[str, int] = {}
    star = percent = 0
    for i, item in enumerate(items):
        if item == "*":
            star |= 1 << i
        elif item == "%":
            percent |= 1 << i
        else:
            literal[item] = literal.get(item, 0) | 1 << i
    wild = star | percent
    accept = 1 << len(items)
    start = 1 | (1 & wild) << 1

    def match(name: str) -> bool:
        states = start
        for ch in name:
            states = (
                (states & literal.get(ch, 0)) << 1
                | (states & star)
                | (0 if ch == delimiter else states & percent)
            )
            if not states:
                return False
            states |= (states & wild) << 1
        return bool(states & accept)

    return match


def match_pattern(pattern: str, name: str, delimiter: str) -> bool:
    """Tell whether mailbox ``name`` matches LIST ``pattern`` (RFC 9051 section 6.3.9).

    ``*`` matches zero or more characters, ``%`` zero or more characters other than
    ``delimiter``. INBOX is case-insensitive, as a name and as the first level of the pattern.
    Time is linear in ``len(name)`` for any pattern; a pattern longer than
    `MAX_PATTERN_LENGTH` matches nothing.
    """
    return _compile(pattern, delimiter)(_normalize_inbox(name, delimiter))


def canonical_name(reference: str, pattern: str, delimiter: str) -> str:
    """Combine a LIST reference and pattern into the canonical pattern (RFC 9051 6.3.9).

    The reference is a prefix of the result, in the form the client sent (so the client can
    tell the results are in its context): the pattern is appended to it. A reference ending
    with the delimiter and a pattern starting with it share one delimiter (no empty level).
    There are no break-out characters: this server's names all live in one personal name
    space with an empty prefix.
    """
    if not reference:
        return pattern
    if delimiter and reference.endswith(delimiter) and pattern.startswith(delimiter):
        return reference + pattern[len(delimiter) :]
    return reference + pattern


def _root(reference: str, delimiter: str) -> str:
    """The root of a reference for ``LIST ref ""``: up to and including its first delimiter
    (RFC 9051 examples: ``#news.comp.mail.misc`` -> ``#news.``, ``/usr/staff/jones`` ->
    ``/``), else the empty string (allowed for a non-rooted or empty reference)."""
    if not delimiter:
        return ""
    index = reference.find(delimiter)
    return "" if index < 0 else reference[: index + len(delimiter)]


# -- the request ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRequest:
    """A LIST or LSUB command, validated and reduced to what `list_mailboxes` needs.

    Attributes:
        reference: The reference name.
        patterns: The mailbox patterns as sent (at least one).
        select: The selection options (RFC 5258 / RFC 6154).
        returns: The return options without arguments; STATUS is `status_items`.
        status_items: The STATUS return option's items, upper case (RFC 5819); empty without
            it.
        extension_select: Selection options registered by extensions (`Modifier` values);
            this module does not apply them.
        extension_return: Return options registered by extensions, likewise.
        is_lsub: The command is LSUB (responses are `LsubResponse`, RFC 3501 semantics).
        is_extended: The command used the extended syntax (RFC 5258 section 3): selection or
            return options, or several patterns. (The codec reads an empty option list or a
            one-pattern list as the basic form, so ``LIST () "" ""`` counts as basic.)
    """

    reference: str
    patterns: tuple[str, ...]
    select: frozenset[ListSelectOption] = frozenset()
    returns: frozenset[ListReturnOption] = frozenset()
    status_items: tuple[str, ...] = ()
    extension_select: tuple[Modifier, ...] = ()
    extension_return: tuple[Modifier, ...] = ()
    is_lsub: bool = False
    is_extended: bool = False

    @property
    def subscribed_only(self) -> bool:
        """Only subscribed names are selected (SUBSCRIBED selection option)."""
        return ListSelectOption.SUBSCRIBED in self.select

    @property
    def special_use_only(self) -> bool:
        """Only special-use mailboxes are selected (SPECIAL-USE selection option)."""
        return ListSelectOption.SPECIAL_USE in self.select

    @property
    def recursive_match(self) -> bool:
        """RECURSIVEMATCH: parents of selected names get CHILDINFO."""
        return ListSelectOption.RECURSIVEMATCH in self.select

    @property
    def return_subscribed(self) -> bool:
        """``\\Subscribed`` is reported (asked, or implied by the selection option)."""
        return self.subscribed_only or ListReturnOption.SUBSCRIBED in self.returns


def _options(
    values: Iterable[str | Modifier], kind: type[ListSelectOption] | type[ListReturnOption]
) -> tuple[set[str], list[Modifier]]:
    known: set[str] = set()
    extensions: list[Modifier] = []
    for value in values:
        if isinstance(value, Modifier):
            extensions.append(value)
            continue
        try:
            known.add(kind(value.upper()))
        except ValueError:
            raise BadListOptions(f"unknown LIST option {value[:64]!r}") from None
    return known, extensions


def list_request(command: List | Lsub) -> ListRequest:
    """Validate a LIST or LSUB command and reduce it to a `ListRequest`.

    Raises:
        BadListOptions: An unknown option, RECURSIVEMATCH without SUBSCRIBED (alone or only
            with REMOTE or SPECIAL-USE: RFC 5258 section 3.1 and its grammar), an empty
            STATUS return option, or no pattern. The session answers ``BAD``.
    """
    if isinstance(command, Lsub):
        return ListRequest(reference=command.reference, patterns=(command.pattern,), is_lsub=True)
    if not command.patterns:
        raise BadListOptions("LIST needs at least one mailbox pattern")
    select, extension_select = _options(command.select_options, ListSelectOption)
    returns, extension_return = _options(command.return_options, ListReturnOption)
    if (
        ListSelectOption.RECURSIVEMATCH in select
        and ListSelectOption.SUBSCRIBED not in select
        and not extension_select
    ):
        # RFC 5258 grammar: RECURSIVEMATCH needs a "base" option; of the known ones only
        # SUBSCRIBED is (REMOTE and SPECIAL-USE are "independent"). An extension's option
        # may be a base one, as the codec also assumes.
        raise BadListOptions("RECURSIVEMATCH needs the SUBSCRIBED selection option")
    status: tuple[str, ...] = ()
    if command.return_status is not None:
        if not command.return_status:
            raise BadListOptions("the STATUS return option needs items")
        status = tuple(dict.fromkeys(item.upper() for item in command.return_status))
    extended = bool(
        command.select_options
        or command.return_options
        or command.return_status is not None
        or len(command.patterns) > 1
    )
    return ListRequest(
        reference=command.reference,
        patterns=command.patterns,
        select=frozenset(ListSelectOption(o) for o in select),
        returns=frozenset(ListReturnOption(o) for o in returns),
        status_items=status,
        extension_select=tuple(extension_select),
        extension_return=tuple(extension_return),
        is_extended=extended,
    )


# -- listing --------------------------------------------------------------------------------


def _ancestors(name: str, delimiter: str) -> tuple[str, ...]:
    """The proper superior names of ``name``, nearest last (``a/b/c`` -> ``a``, ``a/b``)."""
    if not delimiter or delimiter not in name:
        return ()
    levels = name.split(delimiter)
    # "inbox/a" is an inferior of INBOX, which is always spelled "INBOX".
    prefix = _inbox(levels[0])
    out: list[str] = []
    for level in levels[1:]:
        if prefix:  # a name starting with the delimiter has no empty superior
            out.append(prefix)
        prefix = prefix + delimiter + level
    return tuple(out)


_Ancestors = Callable[[str], tuple[str, ...]]


def _ancestor_cache(delimiter: str) -> _Ancestors:
    """`_ancestors` memoized for one listing (each name's superiors are needed a few times)."""
    cache: dict[str, tuple[str, ...]] = {}

    def ancestors(name: str) -> tuple[str, ...]:
        found = cache.get(name)
        if found is None:
            found = cache[name] = _ancestors(name, delimiter)
        return found

    return ancestors


def _attribute_key(attribute: str) -> tuple[int, int, str]:
    return _RANK.get(attribute, _OTHER_RANK), _ORDER.get(attribute, len(_ORDER)), attribute


def _sort_key(name: str, delimiter: str) -> tuple[bool, list[str]]:
    # INBOX and its children first (RFC examples and clients expect it), then hierarchy order
    # ("Fruit", "Fruit/Apple", "Fruit A": children follow their parent).
    levels = name.split(delimiter) if delimiter else [name]
    return levels[0].upper() != _INBOX, levels


@dataclass(slots=True)
class _Entry:
    """A name chosen for the output, before it becomes a response.

    ``selected``: the name meets the selection criteria itself (False: it is listed for its
    inferiors only). ``childinfo``: it gets ``("CHILDINFO" ("SUBSCRIBED"))``.
    """

    selected: bool
    childinfo: bool = False


def list_mailboxes(
    mailboxes: Sequence[MailboxInfo],
    subscriptions: frozenset[str],
    request: ListRequest,
    *,
    delimiter: str,
    rev2: bool,
) -> list[ListResponse | LsubResponse]:
    """Answer a LIST or LSUB command.

    Args:
        mailboxes: Every mailbox of the user (`User.list_mailboxes`).
        subscriptions: Every subscribed name, existing or not (`User.subscriptions`);
            `MailboxInfo.subscribed` counts too.
        request: The command, from `list_request`.
        delimiter: The hierarchy delimiter (empty: a flat name space, sent as NIL).
        rev2: IMAP4rev2 is enabled (decides ``\\NonExistent`` versus ``\\Noselect`` for a
            missing superior in a basic LIST).

    Returns:
        One response per name, INBOX first, then in hierarchy order: `LsubResponse` values
        for LSUB, `ListResponse` values otherwise.
    """
    lsub = request.is_lsub
    # An empty delimiter is a flat name space: NIL on the wire.
    wire_delimiter = delimiter or None
    if not request.is_extended and request.patterns == ("",):
        # The basic LIST "" "" (and LSUB alike): the delimiter and the reference's root.
        root = _root(request.reference, delimiter)
        cls = LsubResponse if lsub else ListResponse
        return [cls(attributes=(_NOSELECT,), delimiter=wire_delimiter, mailbox=root)]
    matchers = [
        _compile(canonical_name(request.reference, p, delimiter), delimiter)
        for p in dict.fromkeys(request.patterns)
        if p  # RFC 5258 section 3: the extended syntax ignores empty patterns
    ]
    if not matchers:
        return []

    def matches(name: str) -> bool:
        folded = _normalize_inbox(name, delimiter)
        return any(m(folded) for m in matchers)

    # Names as the store spells them, but INBOX itself always "INBOX" (RFC 9051 5.1).
    infos: dict[str, MailboxInfo] = {}
    subscribed: set[str] = {_inbox(s) for s in subscriptions}
    for info in mailboxes:
        name = _inbox(info.name)
        infos[name] = info
        if info.subscribed:
            subscribed.add(name)
    ancestors = _ancestor_cache(delimiter)
    # Names with at least one existing inferior: \HasChildren.
    parents = {a for name in infos for a in ancestors(name)}

    entries: dict[str, _Entry]
    if lsub:
        entries = _select_lsub(subscribed, matches, ancestors)
    elif request.subscribed_only:
        entries = _select_subscribed(subscribed, infos, request, matches, ancestors)
    else:
        entries = _select_existing(infos, request, matches, ancestors)

    nonexistent = _NONEXISTENT if rev2 or request.is_extended else _NOSELECT
    return_subscribed = request.return_subscribed
    out: list[ListResponse | LsubResponse] = []
    for name in sorted(entries, key=lambda n: _sort_key(n, delimiter)):
        entry = entries[name]
        found = infos.get(name)
        if lsub:
            attributes = _lsub_attributes(entry, found)
            out.append(LsubResponse(attributes=attributes, delimiter=wire_delimiter, mailbox=name))
            continue
        attributes = _list_attributes(
            found,
            has_children=name in parents,
            subscribed=return_subscribed and name in subscribed,
            nonexistent=nonexistent,
        )
        out.append(
            ListResponse(
                attributes=attributes,
                delimiter=wire_delimiter,
                mailbox=name,
                extended=_CHILDINFO if entry.childinfo else (),
            )
        )
    return out


_CHILDINFO: tuple[tuple[str, tuple[str, ...]], ...] = (("CHILDINFO", ("SUBSCRIBED",)),)


def _add_superiors(
    entries: dict[str, _Entry],
    names: Iterable[str],
    skip: Callable[[str], bool],
    matches: Callable[[str], bool],
    ancestors: _Ancestors,
) -> None:
    """List the superiors of ``names`` that match, are not ``skip``-ped and have no listed
    inferior (that inferior's line already tells the client the level exists; RFC 9051
    example 10 lists "music/rock" without "music"). Deepest first, so that of two matching
    levels only the lower one is listed."""
    covered = {a for name in entries for a in ancestors(name)}
    candidates = {a for name in names for a in ancestors(name) if a not in entries and not skip(a)}
    for name in sorted(candidates, key=lambda a: (-len(ancestors(a)), a)):
        if name not in covered and matches(name):
            entries[name] = _Entry(selected=False)
            covered.update(ancestors(name))


def _select_lsub(
    subscribed: set[str], matches: Callable[[str], bool], ancestors: _Ancestors
) -> dict[str, _Entry]:
    """RFC 3501 LSUB: subscribed names that match; an unsubscribed superior of a subscribed
    name that matches (``LSUB "" %`` with only "foo/bar" subscribed) is listed ``\\Noselect``,
    LSUB's way of saying "not subscribed, has subscribed inferiors"."""
    entries = {name: _Entry(selected=True) for name in subscribed if matches(name)}
    _add_superiors(entries, subscribed, subscribed.__contains__, matches, ancestors)
    return entries


def _is_special(info: MailboxInfo | None) -> bool:
    if info is None:
        return False
    return any(_CANONICAL.get(a.upper(), a) in _SPECIAL_USE for a in info.attributes)


def _select_existing(
    infos: dict[str, MailboxInfo],
    request: ListRequest,
    matches: Callable[[str], bool],
    ancestors: _Ancestors,
) -> dict[str, _Entry]:
    """LIST without SUBSCRIBED: existing mailboxes (special-use ones only with SPECIAL-USE)."""
    special = request.special_use_only
    entries = {
        name: _Entry(selected=True)
        for name, info in infos.items()
        if (not special or _is_special(info)) and matches(name)
    }
    if not special:
        # A missing superior of an existing mailbox ("music" of "music/rock", a store that
        # does not create superiors) is reported "\NonExistent \HasChildren" (RFC 9051
        # section 6.3.9.6 and example 10).
        _add_superiors(entries, infos, infos.__contains__, matches, ancestors)
    return entries


def _select_subscribed(
    subscribed: set[str],
    infos: dict[str, MailboxInfo],
    request: ListRequest,
    matches: Callable[[str], bool],
    ancestors: _Ancestors,
) -> dict[str, _Entry]:
    """LIST (SUBSCRIBED ...): subscribed names, existing or not; with RECURSIVEMATCH, the
    superiors of qualifying names get CHILDINFO (RFC 9051 section 6.3.9.6, table 3)."""
    special = request.special_use_only
    qualifying = [name for name in subscribed if not special or _is_special(infos.get(name))]
    entries = {name: _Entry(selected=True) for name in qualifying if matches(name)}
    if not request.recursive_match:
        return entries
    # For each superior: has it a qualifying inferior, and one that no pattern matches?
    has_inferior: set[str] = set()
    has_unlisted: set[str] = set()
    for name in qualifying:
        listed = name in entries
        for parent in ancestors(name):
            has_inferior.add(parent)
            if not listed:
                has_unlisted.add(parent)
    for parent in has_inferior:
        entry = entries.get(parent)
        if entry is not None:
            # It qualifies itself and has a qualifying inferior: CHILDINFO always (table 3).
            entry.childinfo = True
        elif parent in has_unlisted and matches(parent):
            # It does not qualify: listed only if one of its qualifying inferiors is not
            # (servers SHOULD suppress redundant CHILDINFO, RFC 9051 section 6.3.9.6).
            entries[parent] = _Entry(selected=False, childinfo=True)
    return entries


def _list_attributes(
    info: MailboxInfo | None,
    *,
    has_children: bool,
    subscribed: bool,
    nonexistent: str,
) -> tuple[str, ...]:
    attributes: set[str] = set()
    if info is None:
        attributes.add(nonexistent)
    else:
        for a in info.attributes:
            canonical = _CANONICAL.get(a.upper(), a)
            if canonical not in _COMPUTED:
                attributes.add(canonical)
    if subscribed:
        attributes.add(_SUBSCRIBED)
    if _NOINFERIORS not in attributes:
        # \Noinferiors implies \HasNoChildren, and \HasChildren would contradict it.
        attributes.add(_HAS_CHILDREN if has_children else _HAS_NO_CHILDREN)
    return tuple(sorted(attributes, key=_attribute_key))


def _lsub_attributes(entry: _Entry, info: MailboxInfo | None) -> tuple[str, ...]:
    """LSUB attributes: ``\\Noselect`` for an unsubscribed superior (RFC 3501 section
    6.3.9) or a subscribed placeholder, and ``\\Noinferiors``. Nothing else: LSUB
    attributes are not authoritative, and children attributes have no place there (RFC 3348
    section 4). A subscribed name that does not exist gets none: ``\\Noselect`` would read
    as "not subscribed"."""
    if not entry.selected:
        return (_NOSELECT,)
    if info is None:
        return ()
    attributes = {_CANONICAL.get(a.upper(), a) for a in info.attributes}
    return tuple(a for a in (_NOSELECT, _NOINFERIORS) if a in attributes)


# -- after listing --------------------------------------------------------------------------


def status_targets(
    responses: Iterable[ListResponse | LsubResponse], request: ListRequest | None = None
) -> list[str]:
    """The names that get a ``* STATUS`` after their LIST line (LIST-STATUS, RFC 5819).

    Selectable names that meet the selection criteria: not ``\\Noselect`` or
    ``\\NonExistent``, and not listed only for their CHILDINFO (RFC 9051 example 11: such a
    name "doesn't match the selection criteria"). ``request`` makes the SPECIAL-USE selection
    exact too; without it, a CHILDINFO line counts as meeting the criteria when it carries
    ``\\Subscribed``.
    """
    special = request is not None and request.special_use_only
    targets: list[str] = []
    for response in responses:
        if not isinstance(response, ListResponse):
            continue
        attributes = {a.upper() for a in response.attributes}
        if "\\NOSELECT" in attributes or "\\NONEXISTENT" in attributes:
            continue
        if response.extended:
            childinfo = response.childinfo
            if "SUBSCRIBED" in childinfo and "\\SUBSCRIBED" not in attributes:
                continue
            if special and attributes.isdisjoint(_SPECIAL_USE_UPPER):
                continue
        targets.append(response.mailbox)
    return targets


def mark_unselectable(response: ListResponse) -> ListResponse:
    """Return ``response`` with ``\\Noselect`` added: RFC 5819 requires it on a LIST line
    whose STATUS failed because the mailbox cannot be selected."""
    if any(a.upper() == "\\NOSELECT" for a in response.attributes):
        return response
    return dataclasses.replace(
        response,
        attributes=tuple(sorted((*response.attributes, _NOSELECT), key=_attribute_key)),
    )
