"""Response codes: the bracketed ``resp-text-code`` of a status response (RFC 9051 section 7.1).

A code is parsed from the text between ``[`` and ``]`` into a typed value: `SimpleCode` for the
argument-less codes (``ALERT``, ``TRYCREATE``, the RFC 5530 codes ...), one class per code with
arguments (`UidNextCode`, `CopyUidCode` ...), and `OtherCode` for a code nobody registered, kept
verbatim so clients still see it (RFC 9051 section 7.1: clients MUST ignore codes they do not
recognize, which they can only do if the response still parses). Parsers are looked up in
``registry.response_codes`` by upper-case name, so an extension adds a code the way `install`
adds the base ones.
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ._encoding import UINT32, UINT63, WireWriter, in_range, is_atom
from ._flags import parse_flag_list
from ._limits import Limits
from ._registry import ParseContext, Registry, ResponseCodeParser
from ._sequence_set import SequenceSet
from ._values import Value, as_atom, as_list, tokenize
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "AppendUidCode",
    "BadCharsetCode",
    "CapabilityCode",
    "CodeName",
    "CopyUidCode",
    "HighestModSeqCode",
    "ModifiedCode",
    "OtherCode",
    "PermanentFlagsCode",
    "ResponseCode",
    "SimpleCode",
    "UidNextCode",
    "UidValidityCode",
    "UnseenCode",
    "install",
    "parse_response_code",
    "parse_simple_code",
    "response_code",
]


class CodeName(enum.StrEnum):
    """Names of the response codes the base grammar knows (plain `str` values)."""

    # RFC 9051 section 7.1 (and RFC 3501 section 7.1).
    ALERT = "ALERT"
    ALREADYEXISTS = "ALREADYEXISTS"
    APPENDUID = "APPENDUID"
    AUTHENTICATIONFAILED = "AUTHENTICATIONFAILED"
    AUTHORIZATIONFAILED = "AUTHORIZATIONFAILED"
    BADCHARSET = "BADCHARSET"
    CANNOT = "CANNOT"
    CAPABILITY = "CAPABILITY"
    CLIENTBUG = "CLIENTBUG"
    CLOSED = "CLOSED"
    CONTACTADMIN = "CONTACTADMIN"
    COPYUID = "COPYUID"
    CORRUPTION = "CORRUPTION"
    EXPIRED = "EXPIRED"
    EXPUNGEISSUED = "EXPUNGEISSUED"
    HASCHILDREN = "HASCHILDREN"
    INUSE = "INUSE"
    LIMIT = "LIMIT"
    NONEXISTENT = "NONEXISTENT"
    NOPERM = "NOPERM"
    NOTSAVED = "NOTSAVED"
    OVERQUOTA = "OVERQUOTA"
    PARSE = "PARSE"
    PERMANENTFLAGS = "PERMANENTFLAGS"
    PRIVACYREQUIRED = "PRIVACYREQUIRED"
    READ_ONLY = "READ-ONLY"
    READ_WRITE = "READ-WRITE"
    SERVERBUG = "SERVERBUG"
    TRYCREATE = "TRYCREATE"
    UIDNEXT = "UIDNEXT"
    UIDNOTSTICKY = "UIDNOTSTICKY"
    UIDVALIDITY = "UIDVALIDITY"
    UNAVAILABLE = "UNAVAILABLE"
    UNKNOWN_CTE = "UNKNOWN-CTE"
    #: RFC 3501 only (IMAP4rev2 dropped it), still sent by rev1 servers.
    UNSEEN = "UNSEEN"
    #: RFC 6154 section 6 (SPECIAL-USE, folded into IMAP4rev2).
    USEATTR = "USEATTR"
    #: RFC 4469 section 5 / RFC 7888 section 4 (oversized literal).
    TOOBIG = "TOOBIG"
    #: RFC 7162 section 7 (CONDSTORE / QRESYNC).
    HIGHESTMODSEQ = "HIGHESTMODSEQ"
    NOMODSEQ = "NOMODSEQ"
    MODIFIED = "MODIFIED"


#: Codes without arguments, all parsed into `SimpleCode`.
SIMPLE_CODES: frozenset[str] = frozenset(
    {
        CodeName.ALERT,
        CodeName.ALREADYEXISTS,
        CodeName.AUTHENTICATIONFAILED,
        CodeName.AUTHORIZATIONFAILED,
        CodeName.CANNOT,
        CodeName.CLIENTBUG,
        CodeName.CLOSED,
        CodeName.CONTACTADMIN,
        CodeName.CORRUPTION,
        CodeName.EXPIRED,
        CodeName.EXPUNGEISSUED,
        CodeName.HASCHILDREN,
        CodeName.INUSE,
        CodeName.LIMIT,
        CodeName.NOMODSEQ,
        CodeName.NONEXISTENT,
        CodeName.NOPERM,
        CodeName.NOTSAVED,
        CodeName.OVERQUOTA,
        CodeName.PARSE,
        CodeName.PRIVACYREQUIRED,
        CodeName.READ_ONLY,
        CodeName.READ_WRITE,
        CodeName.SERVERBUG,
        CodeName.TOOBIG,
        CodeName.TRYCREATE,
        CodeName.UIDNOTSTICKY,
        CodeName.UNAVAILABLE,
        CodeName.UNKNOWN_CTE,
        CodeName.USEATTR,
    }
)

# The code's name is an atom (RFC 9051 section 9, resp-text-code). Unlike `is_atom` this
# allows "[": the code is cut out of the raw line, never tokenized, so no section can form.
_CODE_NAME = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\\]]+\Z')
# 1*<any TEXT-CHAR except "]">; 8-bit octets are let through (UTF8=ACCEPT servers send them).
_CODE_TEXT = re.compile(r"[^\x00\r\n\]]+\Z")
_CHARSET_QUOTED = re.compile(r"[\x01-\x09\x0b\x0c\x0e-\x5c\x5e-\x7f]*\Z")
_ESCAPE = re.compile(r'(["\\])')
# At most 19 digits: int() of a huge digit string is slow, or raises ValueError past 4300.
_NUMBER = re.compile(rb"[0-9]{1,19}\Z")
_LIMITS = Limits(max_depth=4, max_items=10_000)


class ResponseCode(abc.ABC):
    """A response code: what a status response carries between ``[`` and ``]``.

    Every subclass is a frozen value with a `name` (upper-case) and a `write` method that
    writes the code without its brackets (``APPENDUID 38505 3955``).
    """

    __slots__ = ()

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The code's name, upper-case (``TRYCREATE``)."""

    @abc.abstractmethod
    def write(self, w: WireWriter) -> None:
        """Write the code without its brackets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimpleCode(ResponseCode):
    """An argument-less code such as ``ALERT``, ``TRYCREATE`` or ``NOPERM`` (see `CodeName`).

    Attributes:
        name: The code's name, upper-case.
    """

    name: str

    def write(self, w: WireWriter) -> None:
        """Write the name."""
        _write_code_name(w, self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class BadCharsetCode(ResponseCode):
    """``BADCHARSET``: the SEARCH charset is not supported (RFC 9051 section 7.1).

    Attributes:
        charsets: The charsets the server supports; empty when it did not list them.
    """

    name: ClassVar[str] = CodeName.BADCHARSET
    charsets: tuple[str, ...] = ()

    def write(self, w: WireWriter) -> None:
        """Write ``BADCHARSET`` and the parenthesised charsets, if any."""
        w.raw(b"BADCHARSET")
        if not self.charsets:
            return
        w.raw(b" (")
        for i, charset in enumerate(self.charsets):
            if i:
                w.sp()
            # charset = atom / quoted; a literal cannot appear inside [...], nor can "]". The
            # list is tokenized when read, so a charset holding "[" is quoted (`is_atom`).
            if is_atom(charset):
                w.raw(charset.encode("ascii"))
            elif _CHARSET_QUOTED.match(charset):
                w.raw(b'"' + _ESCAPE.sub(r"\\\1", charset).encode("ascii") + b'"')
            else:
                raise LocalProtocolError(f"charset {charset!r} cannot appear in BADCHARSET")
        w.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityCode(ResponseCode):
    """``CAPABILITY``: the server's capabilities, in a greeting or after login.

    Attributes:
        capabilities: Capability names as the server sent them (``IMAP4rev2``, ``AUTH=PLAIN``).
    """

    name: ClassVar[str] = CodeName.CAPABILITY
    capabilities: tuple[str, ...]

    def write(self, w: WireWriter) -> None:
        """Write ``CAPABILITY`` and the capability atoms."""
        if not self.capabilities:
            raise LocalProtocolError("CAPABILITY needs at least one capability")
        w.raw(b"CAPABILITY")
        for capability in self.capabilities:
            w.sp()
            w.atom(capability)


@dataclass(frozen=True, slots=True, kw_only=True)
class PermanentFlagsCode(ResponseCode):
    """``PERMANENTFLAGS``: the flags the client can change permanently (``\\*``: new keywords).

    Attributes:
        flags: Flags in canonical case (see `imap_wire._flags`).
    """

    name: ClassVar[str] = CodeName.PERMANENTFLAGS
    flags: tuple[str, ...]

    def write(self, w: WireWriter) -> None:
        """Write ``PERMANENTFLAGS`` and the flag list."""
        w.raw(b"PERMANENTFLAGS (")
        for i, flag in enumerate(self.flags):
            if i:
                w.sp()
            # flag-perm = flag / "\*"; WireWriter.flag refuses "*" (an atom-special).
            if flag == "\\*":
                w.raw(b"\\*")
            else:
                w.flag(flag)
        w.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class UidNextCode(ResponseCode):
    """``UIDNEXT``: the next UID the mailbox will assign (RFC 9051 section 2.3.1.1)."""

    name: ClassVar[str] = CodeName.UIDNEXT
    uid_next: int

    def write(self, w: WireWriter) -> None:
        """Write ``UIDNEXT <n>``."""
        _write_number(w, self.name, self.uid_next, UINT32)


@dataclass(frozen=True, slots=True, kw_only=True)
class UidValidityCode(ResponseCode):
    """``UIDVALIDITY``: the mailbox's UID validity value (RFC 9051 section 2.3.1.1)."""

    name: ClassVar[str] = CodeName.UIDVALIDITY
    uid_validity: int

    def write(self, w: WireWriter) -> None:
        """Write ``UIDVALIDITY <n>``."""
        _write_number(w, self.name, self.uid_validity, UINT32)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnseenCode(ResponseCode):
    """``UNSEEN``: sequence number of the first unseen message (RFC 3501 section 7.1 only)."""

    name: ClassVar[str] = CodeName.UNSEEN
    seq: int

    def write(self, w: WireWriter) -> None:
        """Write ``UNSEEN <n>``."""
        _write_number(w, self.name, self.seq, UINT32)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendUidCode(ResponseCode):
    """``APPENDUID``: UIDs given to appended messages (RFC 9051 section 7.1, RFC 4315).

    Attributes:
        uid_validity: UIDVALIDITY of the destination mailbox.
        uids: The new UID, or (MULTIAPPEND) the new UIDs in append order.
    """

    name: ClassVar[str] = CodeName.APPENDUID
    uid_validity: int
    uids: SequenceSet

    def write(self, w: WireWriter) -> None:
        """Write ``APPENDUID <uidvalidity> <uid-set>``."""
        w.raw(b"APPENDUID ")
        w.number(in_range(self.uid_validity, 1, UINT32, "UIDVALIDITY"))
        w.sp()
        _write_uid_set(w, self.uids)


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyUidCode(ResponseCode):
    """``COPYUID``: UIDs of copied or moved messages (RFC 9051 section 7.1, RFC 4315).

    Attributes:
        uid_validity: UIDVALIDITY of the destination mailbox.
        source: UIDs of the messages in the source mailbox, in copy order.
        destination: The UIDs they got in the destination mailbox, in the same order.
    """

    name: ClassVar[str] = CodeName.COPYUID
    uid_validity: int
    source: SequenceSet
    destination: SequenceSet

    def write(self, w: WireWriter) -> None:
        """Write ``COPYUID <uidvalidity> <source> <destination>``."""
        w.raw(b"COPYUID ")
        w.number(in_range(self.uid_validity, 1, UINT32, "UIDVALIDITY"))
        w.sp()
        _write_uid_set(w, self.source)
        w.sp()
        _write_uid_set(w, self.destination)


@dataclass(frozen=True, slots=True, kw_only=True)
class HighestModSeqCode(ResponseCode):
    """``HIGHESTMODSEQ``: the mailbox's highest mod-sequence (RFC 7162 section 3.1.2.1)."""

    name: ClassVar[str] = CodeName.HIGHESTMODSEQ
    modseq: int

    def write(self, w: WireWriter) -> None:
        """Write ``HIGHESTMODSEQ <n>``."""
        _write_number(w, self.name, self.modseq, UINT63)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifiedCode(ResponseCode):
    """``MODIFIED``: messages a conditional STORE left alone (RFC 7162 section 3.1.3).

    Attributes:
        set: Message numbers, or UIDs after UID STORE.
    """

    name: ClassVar[str] = CodeName.MODIFIED
    set: SequenceSet

    def write(self, w: WireWriter) -> None:
        """Write ``MODIFIED <sequence-set>``."""
        w.raw(b"MODIFIED ")
        self.set.write(w)


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherCode(ResponseCode):
    """A code no parser is registered for (or, client side, a known code with bad arguments).

    ``atom [SP 1*<any TEXT-CHAR except "]">]`` (RFC 9051 section 9), kept as sent.

    Attributes:
        name: The code's name, upper-case.
        text: What followed the name and a space, verbatim (decoded UTF-8 with
            surrogateescape, so it writes back octet for octet), or None.
    """

    name: str
    text: str | None = None

    def write(self, w: WireWriter) -> None:
        """Write the name and the text."""
        _write_code_name(w, self.name)
        if self.text is not None:
            if not _CODE_TEXT.match(self.text):
                raise LocalProtocolError(f"invalid text for response code {self.name}")
            w.sp()
            w.raw(self.text.encode("utf-8", "surrogateescape"))


def _write_code_name(w: WireWriter, name: str) -> None:
    data = name.encode("utf-8", "surrogateescape")
    if not _CODE_NAME.match(data):
        raise LocalProtocolError(f"not a valid response code name: {name!r}")
    w.raw(data)


def _write_number(w: WireWriter, name: str, n: int, maximum: int) -> None:
    """Write ``name SP n`` for a code whose argument is one non-zero number."""
    w.raw(name.encode("ascii") + b" ")
    w.number(in_range(n, 1, maximum, name))


def _write_uid_set(w: WireWriter, uids: SequenceSet) -> None:
    # uid-set: no "*" and no "$" (RFC 9051 section 9).
    if uids.is_saved or uids.has_star:
        raise LocalProtocolError("a UID set cannot hold '*' or '$'")
    uids.write(w)


# -- parsing --------------------------------------------------------------------------------


def response_code(name: str) -> ResponseCode:
    """Return the code of that name, for codes written without arguments.

    ``BADCHARSET`` gives a `BadCharsetCode` without a charset list; any other name that takes
    no arguments (base or extension) gives a `SimpleCode`.

    Args:
        name: The code's name, any case (``"TRYCREATE"``, ``CodeName.TOOBIG``).

    Raises:
        LocalProtocolError: The name is not an atom, or the code needs arguments.
    """
    upper = name.upper()
    if upper in SIMPLE_CODES:
        return SimpleCode(name=upper)
    if upper == CodeName.BADCHARSET:
        return BadCharsetCode()
    if upper in _CODES_WITH_ARGUMENTS:
        raise LocalProtocolError(f"response code {upper} needs arguments")
    if not _CODE_NAME.match(upper.encode("utf-8", "surrogateescape")):
        raise LocalProtocolError(f"not a valid response code name: {name!r}")
    return SimpleCode(name=upper)


def parse_response_code(text: bytes, ctx: ParseContext) -> ResponseCode:
    """Parse what a status response holds between ``[`` and ``]`` (RFC 9051 section 7.1).

    The parser is chosen by upper-case name in ``ctx.registry.response_codes``; a name without
    a parser becomes an `OtherCode`. When ``ctx.strict`` is False (a client reading a server)
    a known code with malformed arguments also becomes an `OtherCode` instead of an error.

    Args:
        text: The octets between the brackets, e.g. ``b"COPYUID 38505 304,319:320 3956:3958"``.
        ctx: Parse context.

    Returns:
        The typed code.

    Raises:
        RemoteProtocolError: The name is not an atom, or (strict) the arguments are invalid.
    """
    sp = text.find(b" ")
    raw_name, args = (text, None) if sp < 0 else (text[:sp], text[sp + 1 :])
    if not _CODE_NAME.match(raw_name):
        raise RemoteProtocolError("invalid response code name")
    name = raw_name.decode("ascii").upper()
    parser = ctx.registry.response_codes.get(name)
    if parser is not None:
        try:
            code: ResponseCode = parser(name, args)
        except RemoteProtocolError:
            if ctx.strict:
                raise
        else:
            return code
    elif ctx.strict and args is not None and not args:
        raise RemoteProtocolError(f"empty text after response code {name}")
    # An empty text ("[NAME ]", tolerated client side) is dropped: it could not be written back.
    return OtherCode(name=name, text=args.decode("utf-8", "surrogateescape") if args else None)


def parse_simple_code(name: str, args: bytes | None) -> ResponseCode:
    """Parse a code that takes no arguments (register it for extension codes of that kind).

    Raises:
        RemoteProtocolError: Arguments follow the name.
    """
    if args is not None:
        raise RemoteProtocolError(f"response code {name} takes no arguments")
    return SimpleCode(name=name)


def _number(args: bytes | None, name: str, minimum: int, maximum: int) -> int:
    if args is None or not _NUMBER.match(args):
        raise RemoteProtocolError(f"response code {name} needs a number")
    n = int(args)
    if not minimum <= n <= maximum:
        raise RemoteProtocolError(f"number out of range in response code {name}")
    return n


def _values(args: bytes | None, name: str) -> list[Value]:
    if args is None:
        raise RemoteProtocolError(f"response code {name} needs arguments")
    return tokenize([args], [], _LIMITS)


def _one_list(args: bytes | None, name: str) -> list[Value]:
    values = _values(args, name)
    if len(values) != 1:
        raise RemoteProtocolError(f"response code {name} needs one parenthesised list")
    return as_list(values[0], f"{name} list")


def _uid_set(raw: bytes) -> SequenceSet:
    return SequenceSet.parse(raw.decode("ascii", "replace"), allow_star=False)


def _parse_badcharset(name: str, args: bytes | None) -> ResponseCode:
    if args is None:
        return BadCharsetCode()
    charsets: list[str] = []
    for v in _one_list(args, name):
        if isinstance(v, bytes):
            charsets.append(v.decode("utf-8", "surrogateescape"))
        else:
            charsets.append(as_atom(v, "charset"))
    if not charsets:
        raise RemoteProtocolError("empty charset list in response code BADCHARSET")
    return BadCharsetCode(charsets=tuple(charsets))


def _parse_capability(name: str, args: bytes | None) -> ResponseCode:
    capabilities = tuple(as_atom(v, "capability") for v in _values(args, name))
    if not capabilities:
        raise RemoteProtocolError(f"response code {name} needs arguments")
    return CapabilityCode(capabilities=capabilities)


def _parse_permanentflags(name: str, args: bytes | None) -> ResponseCode:
    return PermanentFlagsCode(flags=parse_flag_list(_one_list(args, name)))


def _number_code(make: Callable[[int], ResponseCode], maximum: int) -> ResponseCodeParser:
    """Return the parser of a code whose argument is one non-zero number up to ``maximum``."""

    def parse(name: str, args: bytes | None) -> ResponseCode:
        return make(_number(args, name, 1, maximum))

    return parse


def _split(args: bytes | None, name: str, count: int) -> list[bytes]:
    parts = args.split(b" ") if args is not None else []
    if len(parts) != count:
        raise RemoteProtocolError(f"response code {name} needs {count} arguments")
    return parts


def _parse_appenduid(name: str, args: bytes | None) -> ResponseCode:
    validity, uids = _split(args, name, 2)
    return AppendUidCode(uid_validity=_number(validity, name, 1, UINT32), uids=_uid_set(uids))


def _parse_copyuid(name: str, args: bytes | None) -> ResponseCode:
    validity, source, destination = _split(args, name, 3)
    return CopyUidCode(
        uid_validity=_number(validity, name, 1, UINT32),
        source=_uid_set(source),
        destination=_uid_set(destination),
    )


def _parse_modified(name: str, args: bytes | None) -> ResponseCode:
    (raw,) = _split(args, name, 1)
    return ModifiedCode(set=SequenceSet.parse(raw.decode("ascii", "replace")))


#: The parsers of the base codes that take arguments (`SIMPLE_CODES` take none).
_PARSERS: dict[str, ResponseCodeParser] = {
    CodeName.BADCHARSET: _parse_badcharset,
    CodeName.CAPABILITY: _parse_capability,
    CodeName.PERMANENTFLAGS: _parse_permanentflags,
    CodeName.UIDNEXT: _number_code(lambda n: UidNextCode(uid_next=n), UINT32),
    CodeName.UIDVALIDITY: _number_code(lambda n: UidValidityCode(uid_validity=n), UINT32),
    CodeName.UNSEEN: _number_code(lambda n: UnseenCode(seq=n), UINT32),
    CodeName.HIGHESTMODSEQ: _number_code(lambda n: HighestModSeqCode(modseq=n), UINT63),
    CodeName.APPENDUID: _parse_appenduid,
    CodeName.COPYUID: _parse_copyuid,
    CodeName.MODIFIED: _parse_modified,
}
#: Codes `response_code` cannot build without arguments (BADCHARSET's list is optional).
_CODES_WITH_ARGUMENTS = frozenset(_PARSERS) - {CodeName.BADCHARSET}


def install(registry: Registry) -> None:
    """Register a parser for every response code of the base grammar.

    RFC 9051 section 7.1, RFC 3501 section 7.1 (``UNSEEN``), RFC 5530, RFC 4315 (UIDPLUS),
    RFC 7162 (``HIGHESTMODSEQ``, ``NOMODSEQ``, ``MODIFIED``, ``CLOSED``), RFC 4469 / RFC 7888
    (``TOOBIG``), RFC 6154 (``USEATTR``).
    """
    codes = registry.response_codes
    for name in SIMPLE_CODES:
        codes[name] = parse_simple_code
    codes.update(_PARSERS)
