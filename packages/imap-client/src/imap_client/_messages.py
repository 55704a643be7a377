"""`MessageCommands`: message commands (FETCH, SEARCH, STORE, COPY, MOVE, EXPUNGE, ...).

Messages are named by a set: a `SequenceSet`, its text (``"1:*"``, ``"2,4:7"``, ``"$"``), one
number, or an iterable of numbers; ``uid=True`` sends the UID form and makes the numbers
UIDs. An empty iterable asks for nothing: the method returns an empty result without a
round trip.

FETCH and STORE claim only the FETCH responses of the messages they name (by sequence
number, or by UID for the UID forms), so many FETCHes of different messages run pipelined
from several tasks and each gets exactly its own; a message's data the server split over
several responses is merged into one `FetchData`. SEARCH takes one SEARCH response, or the
ESEARCH carrying its tag; EXPUNGE and MOVE take the EXPUNGE responses sent while they run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeAlias

from imap_wire import (
    Copy,
    ESearchResponse,
    Expunge,
    ExpungeResponse,
    Fetch,
    FetchAttribute,
    FetchItem,
    FetchMacro,
    FetchResponse,
    Move,
    ProtocolError,
    Registry,
    Response,
    ResponseStatus,
    Search,
    SearchKey,
    SearchResponse,
    SequenceSet,
    StatusResponse,
    Store,
    StoreMode,
    parse_command,
)

from ._base import ClientBase
from ._mailboxes import claim_once
from .errors import InvalidCommand, MissingCapability
from .results import CopyResult, FetchData, SearchData
from .state import MailboxState

__all__ = ["MessageCommands", "MessageSet", "as_sequence_set"]

#: What names messages: a set, its text (``"1:*"``), one number, or numbers.
MessageSet: TypeAlias = SequenceSet | str | int | Iterable[int]

_RETURN_OPTIONS = ("MIN", "MAX", "COUNT", "ALL", "SAVE")
_DELETED = "\\Deleted"


def as_sequence_set(messages: MessageSet) -> SequenceSet | None:
    """Turn what names messages into a `SequenceSet`; None for an empty iterable.

    Raises:
        ValueError: Not a valid set (``"1:x"``, 0, a negative number ...).
    """
    try:
        if isinstance(messages, SequenceSet):
            return messages
        if isinstance(messages, str):
            return SequenceSet.parse(messages.strip())
        if isinstance(messages, int):
            return SequenceSet.of(messages)
        numbers = list(messages)
        return SequenceSet.from_numbers(numbers) if numbers else None
    except ProtocolError as exc:
        raise InvalidCommand(f"not a message set: {messages!r} ({exc})") from None


class MessageCommands(ClientBase):
    """Message commands of the selected state: FETCH, SEARCH, STORE, COPY, MOVE, EXPUNGE."""

    # -- FETCH -------------------------------------------------------------------------------

    async def fetch(
        self,
        messages: MessageSet,
        items: Sequence[str | FetchAttribute] | str,
        *,
        uid: bool = False,
    ) -> list[FetchData]:
        """FETCH (or UID FETCH) message data (RFC 9051 sections 6.4.5 and 6.4.9).

        Args:
            messages: The messages (sequence numbers, or UIDs with ``uid``).
            items: The data items: names as in the protocol (``["UID", "FLAGS",
                "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]``), `imap_wire.FetchAttribute` values,
                or one string (``"(FLAGS UID)"``, ``"FLAGS UID"``, a macro: ``"FAST"``).
            uid: Send UID FETCH: ``messages`` are UIDs; every answer then carries ``uid``.

        Returns:
            One `FetchData` per message, by ascending sequence number.

        Raises:
            ValueError: An item or the set cannot be parsed.
            CommandFailed: The server refused the command.
        """
        sequence_set = as_sequence_set(messages)
        if sequence_set is None:
            return []
        attributes, macro = _fetch_attributes(items, self.connection.wire.registry)
        command = Fetch(
            tag=self.next_tag(),
            uid=uid,
            sequence_set=sequence_set,
            attributes=attributes,
            macro=macro,
        )
        pending = await self._run(command, _fetch_claims(sequence_set, uid, self.mailbox))
        return merge_fetch_responses(pending.responses)

    # -- SEARCH ------------------------------------------------------------------------------

    async def search(
        self, criteria: SearchKey | str, *, uid: bool = False, charset: str | None = None
    ) -> list[int]:
        """SEARCH (or UID SEARCH) for messages (RFC 9051 section 6.4.4).

        Args:
            criteria: A `imap_wire.SearchKey` (build it with `imap_wire.SearchCriteria`:
                ``SearchCriteria.from_("alice") & ~SearchCriteria.seen()``) or the criteria
                as in the protocol (``'UNSEEN FROM "alice"'``; non-ASCII text quoted).
            uid: Send UID SEARCH: the numbers returned are UIDs.
            charset: The CHARSET to announce. By default ``UTF-8`` when the criteria hold
                non-ASCII text, and none once UTF-8 is enabled (RFC 9755 section 3 forbids
                it then).

        Returns:
            The matching numbers, ascending.

        Raises:
            ValueError: ``criteria`` cannot be parsed.
            CommandFailed: The server refused the criteria (``BADCHARSET`` ...).
        """
        command = self._search_command(criteria, uid=uid, charset=charset, return_options=None)
        pending = await self._run(command, _search_claims(command.tag))
        numbers: set[int] = set()
        for r in pending.responses:
            if isinstance(r, SearchResponse):
                numbers.update(r.numbers)
            elif isinstance(r, ESearchResponse) and r.all is not None:
                numbers.update(r.all)
        return sorted(numbers)

    async def esearch(
        self,
        criteria: SearchKey | str,
        *,
        return_: Iterable[str] = ("ALL",),
        uid: bool = False,
        charset: str | None = None,
    ) -> SearchData:
        """SEARCH with return options (ESEARCH, RFC 4731; SAVE, RFC 5182).

        Args:
            criteria: As for `search`.
            return_: ``MIN``, ``MAX``, ``COUNT``, ``ALL``, ``SAVE`` (save the result on the
                server as ``$``, for the next command's message set).
            uid: Send UID SEARCH.
            charset: As for `search`.

        Without ESEARCH (an IMAP4rev1 server) a plain SEARCH is sent and MIN, MAX, COUNT and
        ALL are computed here; SAVE needs the server.

        Raises:
            MissingCapability: ``SAVE`` without SEARCHRES.
            CommandFailed: The server refused the command.
        """
        options = tuple(o.upper() for o in return_)
        save = "SAVE" in options
        rev2 = self.has_capability("IMAP4rev2")
        if save and not (rev2 or self.has_capability("SEARCHRES")):
            raise MissingCapability("SEARCHRES")
        if not (rev2 or self.has_capability("ESEARCH")):
            return _emulated_esearch(
                await self.search(criteria, uid=uid, charset=charset), options, uid
            )
        command = self._search_command(criteria, uid=uid, charset=charset, return_options=options)
        pending = await self._run(command, _search_claims(command.tag))
        found = next((r for r in pending.responses if isinstance(r, ESearchResponse)), None)
        return SearchData.from_response(found, uid=uid, saved=save)

    def _search_command(
        self,
        criteria: SearchKey | str,
        *,
        uid: bool,
        charset: str | None,
        return_options: tuple[str, ...] | None,
    ) -> Search:
        utf8 = self.connection.wire.utf8
        if isinstance(criteria, str):
            key, given = _parse_criteria(criteria, self.connection.wire.registry)
            charset = charset or given
        else:
            key = criteria
        tag = self.next_tag()
        if charset is None and not utf8:
            return Search.for_criteria(
                tag=tag, criteria=key, uid=uid, return_options=return_options
            )
        return Search(
            tag=tag, uid=uid, charset=charset, criteria=key, return_options=return_options
        )

    # -- STORE -------------------------------------------------------------------------------

    async def store(
        self,
        messages: MessageSet,
        flags: Iterable[str] | str,
        *,
        mode: StoreMode | str = StoreMode.ADD,
        silent: bool = False,
        uid: bool = False,
    ) -> dict[int, tuple[str, ...]]:
        """STORE (or UID STORE) flags (RFC 9051 section 6.4.6).

        Args:
            messages: The messages.
            flags: The flags (one flag may be given as a plain string).
            mode: ``"+"`` (`StoreMode.ADD`, the default) adds them, ``"-"`` removes them,
                ``""`` replaces the message's flags with them (also by name: ``"add"``,
                ``"remove"``, ``"replace"``).
            silent: ``.SILENT``: the server does not answer with the new flags.
            uid: Send UID STORE: ``messages`` are UIDs, and so are the result's keys.

        Returns:
            The new flags the server reported, by sequence number (by UID with ``uid``);
            empty with ``silent``.

        Raises:
            CommandFailed: The server refused the command (a read-only mailbox ...).
        """
        sequence_set = as_sequence_set(messages)
        if sequence_set is None:
            return {}
        command = Store(
            tag=self.next_tag(),
            uid=uid,
            sequence_set=sequence_set,
            mode=_store_mode(mode),
            silent=silent,
            flags=(flags,) if isinstance(flags, str) else tuple(flags),
        )
        pending = await self._run(command, _fetch_claims(sequence_set, uid, self.mailbox))
        result: dict[int, tuple[str, ...]] = {}
        for r in merge_fetch_responses(pending.responses):
            key = r.uid if uid else r.seq
            if r.flags is not None and key is not None:
                result[key] = r.flags
        return result

    # -- COPY, MOVE --------------------------------------------------------------------------

    async def copy(
        self, messages: MessageSet, destination: str, *, uid: bool = False
    ) -> CopyResult | None:
        """COPY (or UID COPY) messages to another mailbox (RFC 9051 section 6.4.7).

        Returns:
            The UIDs in both mailboxes (``COPYUID``), or None when the server did not say
            (no UIDPLUS) or nothing was to be copied.

        Raises:
            CommandFailed: The destination does not exist (code ``TRYCREATE``), ...
        """
        sequence_set = as_sequence_set(messages)
        if sequence_set is None:
            return None
        command = Copy(tag=self.next_tag(), uid=uid, sequence_set=sequence_set, mailbox=destination)
        pending = await self._run(command)
        assert pending.result is not None
        return CopyResult.from_code(pending.result.code)

    async def move(
        self, messages: MessageSet, destination: str, *, uid: bool = False
    ) -> CopyResult | None:
        """MOVE (or UID MOVE) messages to another mailbox (RFC 9051 section 6.4.8, RFC 6851).

        Without MOVE, it is done as RFC 6851 section 3.3 describes: the UIDs are fetched, then
        UID COPY, UID STORE +FLAGS.SILENT (\\Deleted) and UID EXPUNGE of exactly those
        UIDs; that needs UIDPLUS, for a plain EXPUNGE would also remove other messages
        marked ``\\Deleted``.

        Returns:
            The UIDs in both mailboxes (``COPYUID``), or None when the server did not say.

        Raises:
            CommandFailed: The destination does not exist (``TRYCREATE``), ...
            MissingCapability: Neither MOVE nor UIDPLUS.
        """
        sequence_set = as_sequence_set(messages)
        if sequence_set is None:
            return None
        if self.has_capability("MOVE") or self.has_capability("IMAP4rev2"):
            command = Move(
                tag=self.next_tag(), uid=uid, sequence_set=sequence_set, mailbox=destination
            )
            pending = await self._run(command, _move_claims())
            assert pending.result is not None
            codes = [r.code for r in pending.responses if isinstance(r, StatusResponse)]
            for code in (*codes, pending.result.code):
                result = CopyResult.from_code(code)
                if result is not None:
                    return result
            return None
        if not self.has_capability("UIDPLUS"):
            raise MissingCapability(
                "MOVE",
                "the server offers neither MOVE nor UIDPLUS: moving would expunge every "
                "message marked \\Deleted, not only these",
            )
        found = await self.fetch(sequence_set, [FetchItem(name="UID")], uid=uid)
        uids = sorted({r.uid for r in found if r.uid is not None})
        if not uids:
            return None
        uid_set = SequenceSet.from_numbers(uids)
        copied = await self.copy(uid_set, destination, uid=True)
        await self.store(uid_set, _DELETED, mode=StoreMode.ADD, silent=True, uid=True)
        await self.uid_expunge(uid_set)
        return copied

    # -- EXPUNGE -----------------------------------------------------------------------------

    async def expunge(self) -> list[int]:
        """EXPUNGE: remove the messages marked ``\\Deleted`` (RFC 9051 section 6.4.3).

        Returns:
            The sequence numbers the server reported, in order (each relative to the
            mailbox after the previous ones went, as EXPUNGE responses are).
        """
        pending = await self._run(Expunge(tag=self.next_tag()), _is_expunge)
        return [r.seq for r in pending.responses if isinstance(r, ExpungeResponse)]

    async def uid_expunge(self, messages: MessageSet) -> list[int]:
        """UID EXPUNGE: remove those of the given UIDs that are marked ``\\Deleted``
        (RFC 4315 section 2.1, RFC 9051 section 6.4.9).

        Returns:
            The sequence numbers the server reported, as `expunge` does.

        Raises:
            MissingCapability: Neither UIDPLUS nor IMAP4rev2.
        """
        if not (self.has_capability("UIDPLUS") or self.has_capability("IMAP4rev2")):
            raise MissingCapability("UIDPLUS")
        uids = as_sequence_set(messages)
        if uids is None:
            return []
        pending = await self._run(Expunge(tag=self.next_tag(), uid=True, uids=uids), _is_expunge)
        return [r.seq for r in pending.responses if isinstance(r, ExpungeResponse)]


# -- arguments ---------------------------------------------------------------------------------


def _parsed(line: str, registry: Registry, what: str) -> object:
    try:
        return parse_command(f"x {line}\r\n".encode(), registry=registry)
    except ProtocolError as exc:
        raise InvalidCommand(f"cannot parse {what}: {exc}") from None


def _fetch_attributes(
    items: Sequence[str | FetchAttribute] | str, registry: Registry
) -> tuple[tuple[FetchAttribute, ...], FetchMacro | None]:
    if isinstance(items, str):
        text = items.strip()
        try:
            command = _parsed(f"FETCH 1 {text}", registry, "FETCH items")
        except ValueError:
            if text.startswith("("):
                raise
            command = _parsed(f"FETCH 1 ({text})", registry, "FETCH items")
        assert isinstance(command, Fetch)
        return command.attributes, command.macro
    attributes: list[FetchAttribute] = []
    for item in items:
        if isinstance(item, FetchAttribute):
            attributes.append(item)
            continue
        command = _parsed(f"FETCH 1 {item.strip()}", registry, "FETCH item")
        assert isinstance(command, Fetch)
        if command.macro is not None:
            raise InvalidCommand(f"a FETCH macro ({item}) cannot be combined with other items")
        attributes.extend(command.attributes)
    if not attributes:
        raise InvalidCommand("FETCH needs at least one data item")
    return tuple(attributes), None


def _parse_criteria(criteria: str, registry: Registry) -> tuple[SearchKey, str | None]:
    command = _parsed(f"SEARCH {criteria.strip()}", registry, "SEARCH criteria")
    assert isinstance(command, Search)
    if command.return_options is not None:
        raise InvalidCommand("give SEARCH return options with esearch(return_=...)")
    return command.criteria, command.charset


def _store_mode(mode: StoreMode | str) -> StoreMode:
    if isinstance(mode, StoreMode):
        return mode
    try:
        return StoreMode(mode)
    except ValueError:
        pass
    try:
        return StoreMode[mode.upper()]
    except KeyError:
        raise InvalidCommand(f"not a STORE mode: {mode!r} (use '+', '-' or '')") from None


# -- claims ------------------------------------------------------------------------------------


def _fetch_claims(
    sequence_set: SequenceSet, uid: bool, state: MailboxState
) -> Callable[[Response], bool]:
    """Claim the FETCH responses of the messages in the set: by UID for the UID forms (which
    always carry UID), else by sequence number. ``*`` stands for the largest number known;
    ``$`` (known only to the server) takes every FETCH of the right form."""
    saved = sequence_set.is_saved
    # Items already taken, by message: when two identical FETCHes are in flight and the server
    # sends both commands' data before either tagged OK, the second response of a message
    # brings nothing new and is left for the next command. (A server may split one message's
    # items over several responses; those bring new items and are kept together.)
    taken: dict[int, FetchResponse | frozenset[str]] = {}

    def claims(response: Response) -> bool:
        if not isinstance(response, FetchResponse):
            return False
        if uid:
            number = response.uid
            if number is None:
                return False
            largest = max(number, (state.uid_next or 1) - 1)
        else:
            number = response.seq
            largest = max(number, state.exists)
        if not (saved or sequence_set.contains(number, largest)):
            return False
        before = taken.get(number)
        if before is None:
            # The common case, one response per message: no need to look inside it.
            taken[number] = response
            return True
        if isinstance(before, FetchResponse):
            before = _items_of(before)
        items = _items_of(response)
        if items <= before:
            taken[number] = before
            return False
        taken[number] = before | items
        return True

    return claims


def _items_of(response: FetchResponse) -> frozenset[str]:
    """What a FETCH response carries, as names (UID and sequence number left out)."""
    names = {
        name
        for name in ("flags", "internal_date", "size", "envelope", "body_structure", "body",
                     "modseq", "rfc822", "rfc822_header", "rfc822_text")
        if getattr(response, name) is not None
    }  # fmt: skip
    names.update(f"section {key}" for key in response.sections)
    names.update(f"binary {key}" for key in response.binary)
    names.update(f"size {key}" for key in response.binary_sizes)
    names.update(response.extra)
    return frozenset(names)


def _search_claims(tag: str) -> Callable[[Response], bool]:
    """Claim the ESEARCH that carries this command's tag; or, uncorrelated, one SEARCH (or
    ESEARCH without a tag), the first one while this is the earliest search in flight."""
    taken = False

    def claims(response: Response) -> bool:
        nonlocal taken
        if isinstance(response, ESearchResponse) and response.tag is not None:
            if response.tag != tag:
                return False
        elif not isinstance(response, SearchResponse | ESearchResponse) or taken:
            return False
        taken = True
        return True

    return claims


def _is_expunge(response: Response) -> bool:
    return isinstance(response, ExpungeResponse)


def _move_claims() -> Callable[[Response], bool]:
    """MOVE sends ``* OK [COPYUID ...]`` before the EXPUNGEs (RFC 6851 section 4.3)."""
    copyuid = claim_once(
        lambda r: (
            isinstance(r, StatusResponse)
            and r.tag is None
            and r.status is ResponseStatus.OK
            and r.code is not None
            and r.code.name.upper() == "COPYUID"
        )
    )

    def claims(response: Response) -> bool:
        return _is_expunge(response) or copyuid(response)

    return claims


# -- results -----------------------------------------------------------------------------------


def merge_fetch_responses(responses: Iterable[Response]) -> list[FetchData]:
    """Return the FETCH responses, one per message (merging what a server split), by
    ascending sequence number."""
    by_seq: dict[int, FetchResponse] = {}
    for r in responses:
        if isinstance(r, FetchResponse):
            old = by_seq.get(r.seq)
            by_seq[r.seq] = r if old is None else _merged(old, r)
    return [by_seq[n] for n in sorted(by_seq)]


def _merged(old: FetchResponse, new: FetchResponse) -> FetchResponse:
    changes: dict[str, object] = {}
    for f in dataclasses.fields(FetchResponse):
        if f.name == "seq":
            continue
        value = getattr(new, f.name)
        if isinstance(value, Mapping):
            if value:
                changes[f.name] = {**getattr(old, f.name), **value}
        elif value is not None:
            changes[f.name] = value
    return dataclasses.replace(old, **changes)  # type: ignore[arg-type]


def _emulated_esearch(numbers: list[int], options: tuple[str, ...], uid: bool) -> SearchData:
    """What ESEARCH would have answered, from a plain SEARCH's numbers (RFC 4731 3.1)."""
    wanted = set(options) or {"ALL"}
    unknown = wanted - set(_RETURN_OPTIONS)
    if unknown:
        raise MissingCapability("ESEARCH", f"return options {sorted(unknown)} need ESEARCH")
    if not numbers:
        return SearchData(uid=uid, count=0 if "COUNT" in wanted else None)
    return SearchData(
        uid=uid,
        min=numbers[0] if "MIN" in wanted else None,
        max=numbers[-1] if "MAX" in wanted else None,
        count=len(numbers) if "COUNT" in wanted else None,
        all=SequenceSet.from_numbers(numbers) if "ALL" in wanted else None,
    )
