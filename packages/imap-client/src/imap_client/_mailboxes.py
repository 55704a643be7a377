"""`MailboxCommands`: mailbox commands (SELECT, LIST, STATUS, CREATE, APPEND, ENABLE, ...).

Each method sends one typed `imap_wire` command and claims exactly the untagged data that
answers it (see `PendingCommand.claims`), so commands started from several tasks on one
connection each get their own data: LIST takes LIST responses (and, with LIST-STATUS, the
STATUS that follows each of them), STATUS takes the STATUS of its mailbox, NAMESPACE, ID and
ENABLE one response of their kind each. SELECT and EXAMINE run alone (RFC 9051 section 5.5)
and take the mailbox data (FLAGS, EXISTS, RECENT, the ``OK [UIDVALIDITY ...]`` family, and
the LIST an IMAP4rev2 server adds).
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as _dt
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence

from imap_wire import (
    Append,
    Check,
    Close,
    Create,
    Delete,
    Enable,
    EnabledResponse,
    Examine,
    ExistsResponse,
    FlagsResponse,
    HighestModSeqCode,
    Id,
    IdResponse,
    List,
    ListResponse,
    Lsub,
    LsubResponse,
    MailboxStatusResponse,
    Modifier,
    Namespace,
    NamespaceResponse,
    Noop,
    PermanentFlagsCode,
    RecentResponse,
    Rename,
    Response,
    ResponseStatus,
    Select,
    Status,
    StatusResponse,
    Subscribe,
    UidNextCode,
    UidValidityCode,
    UnseenCode,
    Unselect,
    Unsubscribe,
)

from ._base import ClientBase
from ._core import PendingCommand
from .errors import InvalidCommand, MissingCapability
from .results import AppendResult, ListData, NamespaceData, SelectData, StatusData

__all__ = ["MailboxCommands"]

#: The items `MailboxCommands.status` asks for by default.
DEFAULT_STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN")

# Untagged OK codes that describe the mailbox being selected (RFC 9051 section 6.3.2; UNSEEN
# from RFC 3501; HIGHESTMODSEQ and NOMODSEQ from RFC 7162; CLOSED ends the previous one).
_SELECT_CODES = frozenset(
    {
        "UIDVALIDITY",
        "UIDNEXT",
        "PERMANENTFLAGS",
        "UNSEEN",
        "HIGHESTMODSEQ",
        "NOMODSEQ",
        "CLOSED",
        "MAILBOXID",
    }
)


def mailbox_key(name: str) -> str:
    """Return the form two mailbox names are compared in: NFC, ``INBOX`` case-insensitive.

    RFC 9051 section 5.1: INBOX is case-insensitive, and a UTF-8 server may answer with the
    normalised (NFC) form of the name it was given.
    """
    name = unicodedata.normalize("NFC", name)
    return "INBOX" if name.upper() == "INBOX" else name


def claim_once(accepts: Callable[[Response], bool]) -> Callable[[Response], bool]:
    """Return a claims predicate taking the first response ``accepts`` approves, and no more.

    For commands answered by exactly one untagged response (STATUS, NAMESPACE, ID, ENABLE,
    SEARCH): when two such commands are in flight, the earlier one takes the first response
    and the later one the next, which is the order a server answers in.
    """
    taken = False

    def claims(response: Response) -> bool:
        nonlocal taken
        if taken or not accepts(response):
            return False
        taken = True
        return True

    return claims


class MailboxCommands(ClientBase):
    """Mailbox commands: SELECT, EXAMINE, LIST, STATUS, CREATE, APPEND, ENABLE, ID, ...

    Mailbox names are `str`; the wire encodes them (modified UTF-7, or UTF-8 once IMAP4rev2
    or UTF8=ACCEPT is enabled) and decodes them in responses.
    """

    # -- ENABLE and ID ----------------------------------------------------------------------

    @property
    def enabled(self) -> frozenset[str]:
        """The extensions ENABLE turned on (upper case), e.g. ``{"IMAP4REV2"}``."""
        return frozenset(self.connection.enabled)

    async def enable(self, *capabilities: str) -> frozenset[str]:
        """ENABLE: turn extensions on (RFC 9051 section 6.3.1, RFC 5161).

        Args:
            capabilities: The capability names (``"IMAP4rev2"``, ``"UTF8=ACCEPT"`` ...).

        Returns:
            Those the server enabled by this command (upper case).

        Raises:
            CommandFailed: The server refused the command.
        """
        if not capabilities:
            raise InvalidCommand("ENABLE needs at least one capability")
        pending = await self._run(
            Enable(tag=self.next_tag(), capabilities=tuple(capabilities)),
            claim_once(lambda r: isinstance(r, EnabledResponse)),
        )
        enabled = frozenset(
            c.upper()
            for r in pending.responses
            if isinstance(r, EnabledResponse)
            for c in r.capabilities
        )
        self.connection.enabled.update(enabled)
        return enabled

    async def enable_best(self) -> frozenset[str]:
        """Enable the best protocol level the server offers: IMAP4rev2, else UTF8=ACCEPT.

        Not done implicitly: IMAP4rev2 changes what the server sends (ESEARCH answers SEARCH,
        no RECENT, UTF-8 mailbox names), which an application may not expect. Call it after
        logging in; with neither offered it does nothing.

        Returns:
            What the server enabled (upper case; empty when nothing was offered).
        """
        if self.has_capability("IMAP4rev2"):
            return await self.enable("IMAP4rev2")
        if self.has_capability("UTF8=ACCEPT") and self.has_capability("ENABLE"):
            return await self.enable("UTF8=ACCEPT")
        return frozenset()

    async def id(
        self, params: Mapping[str, str | None] | None = None
    ) -> dict[str, str | None] | None:
        """ID: exchange implementation information (RFC 2971).

        Args:
            params: What to tell the server (``{"name": "myapp", "version": "1.0"}``), or
                None to say nothing (``ID NIL``).

        Returns:
            The server's fields (keys as sent), or None when it said nothing (``NIL``).
        """
        parameters = None if params is None else tuple(params.items())
        pending = await self._run(
            Id(tag=self.next_tag(), parameters=parameters),
            claim_once(lambda r: isinstance(r, IdResponse)),
        )
        for r in pending.responses:
            if isinstance(r, IdResponse) and r.parameters is not None:
                return dict(r.parameters)
        return None

    # -- SELECT, EXAMINE, CLOSE, UNSELECT ---------------------------------------------------

    async def select(self, name: str, *, read_only: bool = False) -> SelectData:
        """SELECT (or EXAMINE with ``read_only``) a mailbox (RFC 9051 sections 6.3.2, 6.3.3).

        `mailbox` is reset when the command is sent and then follows the server's data; on
        failure no mailbox is selected (the server deselected the previous one too).

        Raises:
            CommandFailed: No such mailbox (code ``NONEXISTENT`` on most servers), no
                access ...
        """
        cls = Examine if read_only else Select
        command = cls(tag=self.next_tag(), mailbox=name)
        state = self.mailbox
        pending = PendingCommand(
            command,
            claims=_select_claims,
            on_send=lambda: state.reset(name, read_only=read_only),
        )
        try:
            await self._run(command, pending=pending)
        except BaseException:
            state.reset(None)
            raise
        data = _select_data(name, read_only, pending)
        state.read_only = data.read_only
        return data

    async def examine(self, name: str) -> SelectData:
        """EXAMINE: select a mailbox read-only (RFC 9051 section 6.3.3); see `select`."""
        return await self.select(name, read_only=True)

    async def unselect(self) -> None:
        """UNSELECT: leave the mailbox without expunging (RFC 9051 section 6.4.2, RFC 3691).

        Raises:
            MissingCapability: The server offers neither UNSELECT nor IMAP4rev2.
        """
        if not (self.has_capability("UNSELECT") or self.has_capability("IMAP4rev2")):
            raise MissingCapability("UNSELECT")
        await self._run(Unselect(tag=self.next_tag()))
        self.mailbox.reset(None)

    async def close_mailbox(self) -> None:
        """CLOSE: expunge the ``\\Deleted`` messages silently and leave the mailbox
        (RFC 9051 section 6.4.1)."""
        await self._run(Close(tag=self.next_tag()))
        self.mailbox.reset(None)

    async def check(self) -> None:
        """CHECK: ask for a checkpoint (RFC 3501 section 6.4.1).

        IMAP4rev2 dropped CHECK: once it is enabled a NOOP is sent instead.
        """
        if "IMAP4REV2" in self.connection.enabled:
            await self._run(Noop(tag=self.next_tag()))
        else:
            await self._run(Check(tag=self.next_tag()))

    # -- CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE -------------------------------------

    async def create(self, name: str, *, special_use: Iterable[str] = ()) -> None:
        """CREATE a mailbox (RFC 9051 section 6.3.4).

        Args:
            name: The new mailbox's name.
            special_use: Special-use attributes for it (``"\\\\Sent"``, ``"\\\\Trash"``;
                CREATE-SPECIAL-USE, RFC 6154 section 3).

        Raises:
            CommandFailed: It exists (code ``ALREADYEXISTS``), the name is not allowed ...
            MissingCapability: ``special_use`` without CREATE-SPECIAL-USE.
        """
        uses = tuple(special_use)
        params: tuple[Modifier, ...] = ()
        if uses:
            if not self.has_capability("CREATE-SPECIAL-USE"):
                raise MissingCapability("CREATE-SPECIAL-USE")
            params = (Modifier(name="USE", value=uses),)
        await self._run(Create(tag=self.next_tag(), mailbox=name, params=params))

    async def delete(self, name: str) -> None:
        """DELETE a mailbox (RFC 9051 section 6.3.5).

        Raises:
            CommandFailed: No such mailbox (``NONEXISTENT``), it has children
                (``HASCHILDREN``), ...
        """
        await self._run(Delete(tag=self.next_tag(), mailbox=name))

    async def rename(self, old: str, new: str) -> None:
        """RENAME a mailbox (RFC 9051 section 6.3.6).

        Raises:
            CommandFailed: ``old`` does not exist (``NONEXISTENT``), ``new`` does
                (``ALREADYEXISTS``), ...
        """
        await self._run(Rename(tag=self.next_tag(), old=old, new=new))

    async def subscribe(self, name: str) -> None:
        """SUBSCRIBE to a mailbox (RFC 9051 section 6.3.7)."""
        await self._run(Subscribe(tag=self.next_tag(), mailbox=name))

    async def unsubscribe(self, name: str) -> None:
        """UNSUBSCRIBE from a mailbox (RFC 9051 section 6.3.8)."""
        await self._run(Unsubscribe(tag=self.next_tag(), mailbox=name))

    # -- LIST, LSUB, NAMESPACE, STATUS -------------------------------------------------------

    async def list(
        self,
        reference: str = "",
        pattern: str | Sequence[str] = "*",
        *,
        select: Iterable[str] = (),
        return_: Iterable[str] = (),
        status: Iterable[str] | None = None,
    ) -> builtins.list[ListData]:
        """LIST mailboxes (RFC 9051 section 6.3.9; LIST-EXTENDED, RFC 5258).

        Args:
            reference: The reference name (``""``: the pattern alone).
            pattern: The pattern (``*`` matches across levels, ``%`` within one), or
                several patterns (LIST-EXTENDED).
            select: Selection options (``"SUBSCRIBED"``, ``"SPECIAL-USE"``, ``"REMOTE"``,
                ``"RECURSIVEMATCH"``; LIST-EXTENDED).
            return_: Return options (``"SUBSCRIBED"``, ``"CHILDREN"``, ``"SPECIAL-USE"``).
            status: STATUS items to return for each mailbox (LIST-STATUS, RFC 5819). Without
                LIST-STATUS a STATUS command is sent per selectable mailbox instead.

        Returns:
            One `ListData` per mailbox, in the order the server sent them.

        Raises:
            MissingCapability: Several patterns or options without LIST-EXTENDED.
        """
        patterns = (pattern,) if isinstance(pattern, str) else tuple(pattern)
        select_options = tuple(o.upper() for o in select)
        return_options = tuple(o.upper() for o in return_)
        items = None if status is None else tuple(i.upper() for i in status)
        rev2 = self.has_capability("IMAP4rev2")
        if (select_options or return_options or len(patterns) != 1) and not (
            rev2 or self.has_capability("LIST-EXTENDED")
        ):
            raise MissingCapability("LIST-EXTENDED")
        list_status = items is not None and (rev2 or self.has_capability("LIST-STATUS"))
        command = List(
            tag=self.next_tag(),
            reference=reference,
            patterns=patterns,
            select_options=select_options,
            return_options=return_options,
            return_status=items if list_status else None,
        )
        pending = await self._run(command, _list_claims(ListResponse, with_status=list_status))
        result = _list_data(pending.responses)
        if items is not None and not list_status:
            result = [
                _with_status(d, await self.status(d.name, items) if d.selectable else None)
                for d in result
            ]
        return result

    async def lsub(self, reference: str = "", pattern: str = "*") -> builtins.list[ListData]:
        """List subscribed mailboxes: LSUB (RFC 3501 section 6.3.9).

        IMAP4rev2 dropped LSUB: once it is enabled ``LIST (SUBSCRIBED)`` is sent instead
        (RFC 9051 section 6.3.9), whose answers carry ``\\Subscribed``.
        """
        if "IMAP4REV2" in self.connection.enabled:
            return await self.list(reference, pattern, select=("SUBSCRIBED",))
        command = Lsub(tag=self.next_tag(), reference=reference, pattern=pattern)
        pending = await self._run(command, _list_claims(LsubResponse, with_status=False))
        return _list_data(pending.responses)

    async def namespace(self) -> NamespaceData:
        """NAMESPACE: the prefixes and delimiters of the name spaces (RFC 9051 6.3.10)."""
        pending = await self._run(
            Namespace(tag=self.next_tag()),
            claim_once(lambda r: isinstance(r, NamespaceResponse)),
        )
        for r in pending.responses:
            if isinstance(r, NamespaceResponse):
                return NamespaceData.from_response(r)
        return NamespaceData()

    async def status(self, name: str, items: Iterable[str] = DEFAULT_STATUS_ITEMS) -> StatusData:
        """STATUS: a mailbox's counters without selecting it (RFC 9051 section 6.3.11).

        Args:
            name: The mailbox.
            items: The items (``MESSAGES``, ``UIDNEXT``, ``UIDVALIDITY``, ``UNSEEN``,
                ``DELETED``, ``SIZE``, ...).

        Raises:
            CommandFailed: No such mailbox (``NONEXISTENT``), ...
        """
        key = mailbox_key(name)
        pending = await self._run(
            Status(tag=self.next_tag(), mailbox=name, items=tuple(i.upper() for i in items)),
            claim_once(
                lambda r: isinstance(r, MailboxStatusResponse) and mailbox_key(r.mailbox) == key
            ),
        )
        for r in pending.responses:
            if isinstance(r, MailboxStatusResponse):
                return StatusData.from_response(r)
        return StatusData(mailbox=name)

    # -- APPEND ------------------------------------------------------------------------------

    async def append(
        self,
        name: str,
        message: bytes,
        *,
        flags: Iterable[str] = (),
        date: _dt.datetime | None = None,
    ) -> AppendResult:
        """APPEND a message to a mailbox (RFC 9051 section 6.3.12).

        A message holding NUL octets is sent as a ``literal8`` (BINARY, RFC 3516).

        Args:
            name: The destination mailbox.
            message: The whole message (RFC 5322, CRLF line ends).
            flags: Flags to set on it (``"\\\\Seen"`` ...).
            date: Its internal date (an aware datetime); None for the server's clock.

        Returns:
            Its UID and the mailbox's UIDVALIDITY (None without UIDPLUS).

        Raises:
            CommandFailed: No such mailbox (code ``TRYCREATE``), too big (``TOOBIG``) ...
            MissingCapability: NUL octets and no BINARY.
        """
        binary = b"\0" in message
        if binary and not (self.has_capability("BINARY") or self.has_capability("IMAP4rev2")):
            raise MissingCapability("BINARY")
        command = Append(
            tag=self.next_tag(),
            mailbox=name,
            flags=tuple(flags),
            date_time=date,
            message=message,
            binary=binary,
        )
        pending = await self._run(command)
        assert pending.result is not None
        return AppendResult.from_code(pending.result.code)


# -- claims ------------------------------------------------------------------------------------


def _select_claims(response: Response) -> bool:
    kind = type(response)
    if kind is StatusResponse:
        assert isinstance(response, StatusResponse)
        return (
            response.status is ResponseStatus.OK
            and response.code is not None
            and response.code.name.upper() in _SELECT_CODES
        )
    return kind in (FlagsResponse, ExistsResponse, RecentResponse, ListResponse)


def _list_claims(kind: type[Response], *, with_status: bool) -> Callable[[Response], bool]:
    """Claim LIST (or LSUB) responses, and a STATUS only for a mailbox this command listed:
    LIST-STATUS sends it after the mailbox's LIST (RFC 5819 section 2)."""
    listed: set[str] = set()

    def claims(response: Response) -> bool:
        if isinstance(response, kind):
            assert isinstance(response, ListResponse | LsubResponse)
            if with_status:
                listed.add(mailbox_key(response.mailbox))
            return True
        if with_status and isinstance(response, MailboxStatusResponse):
            key = mailbox_key(response.mailbox)
            if key in listed:
                listed.discard(key)
                return True
        return False

    return claims


# -- results -----------------------------------------------------------------------------------


def _select_data(name: str, read_only: bool, pending: PendingCommand) -> SelectData:
    exists = recent = 0
    flags: tuple[str, ...] = ()
    permanent: tuple[str, ...] | None = None
    validity = uid_next = modseq = unseen = None
    list_data: ListData | None = None
    for r in pending.responses:
        if isinstance(r, ExistsResponse):
            exists = r.count
        elif isinstance(r, RecentResponse):
            recent = r.count
        elif isinstance(r, FlagsResponse):
            flags = r.flags
        elif isinstance(r, ListResponse):
            list_data = ListData.from_response(r)
        elif isinstance(r, StatusResponse):
            code = r.code
            if isinstance(code, UidValidityCode):
                validity = code.uid_validity
            elif isinstance(code, UidNextCode):
                uid_next = code.uid_next
            elif isinstance(code, PermanentFlagsCode):
                permanent = code.flags
            elif isinstance(code, HighestModSeqCode):
                modseq = code.modseq
            elif isinstance(code, UnseenCode):
                unseen = code.seq
    result = pending.result
    code_name = None if result is None or result.code is None else result.code.name.upper()
    if code_name == "READ-ONLY":
        read_only = True
    elif code_name == "READ-WRITE":
        read_only = False
    return SelectData(
        name=name,
        read_only=read_only,
        exists=exists,
        recent=recent,
        flags=flags,
        permanent_flags=permanent,
        uid_validity=validity,
        uid_next=uid_next,
        highest_modseq=modseq,
        unseen=unseen,
        list_data=list_data,
    )


def _list_data(responses: Sequence[Response]) -> list[ListData]:
    statuses = {
        mailbox_key(r.mailbox): StatusData.from_response(r)
        for r in responses
        if isinstance(r, MailboxStatusResponse)
    }
    return [
        ListData.from_response(r, statuses.get(mailbox_key(r.mailbox)))
        for r in responses
        if isinstance(r, ListResponse | LsubResponse)
    ]


def _with_status(data: ListData, status: StatusData | None) -> ListData:
    return dataclasses.replace(data, status=status)
