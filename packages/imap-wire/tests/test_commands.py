"""Client commands: every RFC example, round trips of every command kind, malformed input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import string
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_wire._command_base import Command, UidCommand
from imap_wire._commands import (
    Append,
    Authenticate,
    Capability,
    Check,
    Close,
    Copy,
    Create,
    Delete,
    Enable,
    Examine,
    Expunge,
    Fetch,
    Id,
    Idle,
    List,
    ListReturnOption,
    ListSelectOption,
    Login,
    Logout,
    Lsub,
    Move,
    Namespace,
    Noop,
    Rename,
    Search,
    SearchReturnOption,
    Select,
    StartTLS,
    Status,
    Store,
    StoreMode,
    Subscribe,
    Unselect,
    Unsubscribe,
    install,
    parse_command_values,
)
from imap_wire._encoding import LiteralMode, LiteralSource, WireWriter
from imap_wire._fetch import (
    FetchBody,
    FetchItem,
    FetchMacro,
    Section,
    SectionText,
    parse_fetch_attributes,
)
from imap_wire._flags import Flag
from imap_wire._framer import Framer, Line
from imap_wire._limits import Limits
from imap_wire._modifiers import Modifier, parse_generic_modifier
from imap_wire._mutf7 import normalize_inbox
from imap_wire._registry import CommandParser, ParseContext, Registry, default_registry
from imap_wire._search import SearchCriteria as Key
from imap_wire._search import SearchKey, needs_charset, parse_search_program
from imap_wire._sequence_set import MAX_NUMBER, STAR, SequenceSet
from imap_wire._state import COMMAND_STATES
from imap_wire._status import StatusItem
from imap_wire._values import Cursor, Literal8, StreamedLiteral, Value, tokenize
from imap_wire.errors import LocalProtocolError, RemoteProtocolError

# -- helpers -----------------------------------------------------------------------------------

#: The default grammar, plus generic parsers for a few extension modifiers, so the RFC 4466
#: hooks can be exercised (the base grammar defines no modifier of its own).
REGISTRY = default_registry()
EXTENSION_MODIFIERS = {
    "SELECT": ("CONDSTORE", "QRESYNC", "ANNOTATE", "RESPONSES"),
    "CREATE": ("USE", "X-PARAM"),
    "RENAME": ("X-PARAM",),
    "FETCH": ("CHANGEDSINCE", "VANISHED"),
    "STORE": ("UNCHANGEDSINCE",),
    "SEARCH-RETURN": ("PARTIAL", "X-RET"),
    "LIST-SELECT": ("X-SEL",),
    "LIST-RETURN": ("MYRIGHTS", "X-RET"),
    "APPEND": ("X-ANNOTATION", "X-EXT"),
}
for _context, _names in EXTENSION_MODIFIERS.items():
    for _name in _names:
        REGISTRY.modifiers[(_context, _name)] = parse_generic_modifier
for _item in ("MAILBOXID", "HIGHESTMODSEQ", "APPENDLIMIT"):
    REGISTRY.modifiers[("STATUS-ITEM", _item)] = parse_generic_modifier

CTX = ParseContext(registry=REGISTRY)
CTX_UTF8 = ParseContext(registry=REGISTRY, utf8=True)
LIMITS = Limits()
_ANNOUNCEMENT = re.compile(rb"~?\{[0-9]+\+?\}")


def split_line(
    text: str | bytes, literals: tuple[bytes, ...] = ()
) -> tuple[list[bytes], list[bytes]]:
    """Split a command's text after each literal announcement, as the framer does."""
    data = text.encode() if isinstance(text, str) else text
    segments: list[bytes] = []
    start = 0
    for m in _ANNOUNCEMENT.finditer(data):
        segments.append(data[start : m.end()])
        start = m.end()
    segments.append(data[start:])
    assert len(segments) == len(literals) + 1, "one literal per announcement"
    return segments, list(literals)


def parse(text: str | bytes, *literals: bytes, ctx: ParseContext = CTX) -> Command:
    segments, lits = split_line(text, literals)
    return parse_command_values(tokenize(segments, list(lits), LIMITS), ctx)


def encode(command: Command, *, utf8: bool = False) -> bytes:
    w = WireWriter(literal_mode=LiteralMode.RESPONSE, utf8=utf8)
    command.write(w)
    return w.getvalue()


def reparse(command: Command, ctx: ParseContext = CTX) -> Command:
    """Write the command (literals inline), frame it, tokenize it and parse it again."""
    data = encode(command, utf8=ctx.utf8)
    framer = Framer(LIMITS, stream_threshold=1 << 30, decide_literals=False)
    framer.feed(data)
    frame = framer.next_frame()
    assert isinstance(frame, Line), frame
    assert framer.next_frame() is None
    assert framer.buffered == 0
    assert not framer.in_line
    values = tokenize(frame.segments, frame.literals, LIMITS, strict=ctx.strict)
    return parse_command_values(values, ctx)


def assert_round_trip(command: Command, ctx: ParseContext = CTX) -> None:
    again = reparse(command, ctx)
    assert again == command
    assert type(again) is type(command)
    assert again.command_name == command.command_name


def criteria(text: str) -> SearchKey:
    return parse_search_program(Cursor(tokenize([text.encode()], [], LIMITS)), CTX, None)


# -- the examples of RFC 9051 section 6 and RFC 3501 section 6 ---------------------------------

MESSAGE_9051 = (
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    b"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    b"Subject: afternoon meeting\r\n"
    b"To: mooch@owatagu.siam.edu.example\r\n"
    b"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
    b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
)
MESSAGE_9051_PLUS = MESSAGE_9051.replace(b"Blurdybloop.example", b"example.com").replace(
    b"owatagu.siam.edu.example", b"example.com"
)
MESSAGE_3501 = (
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    b"From: Fred Foobar <foobar@Blurdybloop.COM>\r\n"
    b"Subject: afternoon meeting\r\n"
    b"To: mooch@owatagu.siam.edu\r\n"
    b"Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
    b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
)

_FEB_1994 = dt.date(1994, 2, 1)
_SMITH = Key.flagged() & Key.since(_FEB_1994) & ~Key.from_("Smith")
_SINCE_NOT_SMITH = Key.since(dt.date(2006, 2, 12)) & ~Key.from_("Smith")
_ALL_LIST = List(tag="A682", reference="", patterns=("*",))
_HEADER_FIELDS = FetchBody(
    section=Section(text=SectionText.HEADER_FIELDS, fields=("DATE", "FROM")), peek=False
)

Example = tuple[str, tuple[bytes, ...], Command | type[Command]]

#: Every ``C:`` line of RFC 9051 section 6 that is a command, in order (lines the RFC wraps
#: are joined with one space; duplicates are kept once). SASL responses and ``DONE`` are
#: continuation lines, not commands. B283 and A442 are in `RFC_ERROR_EXAMPLES`.
RFC9051_EXAMPLES: list[Example] = [
    ("abcd CAPABILITY", (), Capability(tag="abcd")),
    ("efgh STARTTLS", (), StartTLS(tag="efgh")),
    ("ijkl CAPABILITY", (), Capability(tag="ijkl")),
    ("a002 NOOP", (), Noop(tag="a002")),
    ("a047 NOOP", (), Noop(tag="a047")),
    ("A023 LOGOUT", (), Logout(tag="A023")),
    ("a001 CAPABILITY", (), Capability(tag="a001")),
    ("a002 STARTTLS", (), StartTLS(tag="a002")),
    ("a003 CAPABILITY", (), Capability(tag="a003")),
    (
        "a004 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",
        (),
        Authenticate(tag="a004", mechanism="PLAIN", initial_response=b"test\x00test\x00test"),
    ),
    ("A001 AUTHENTICATE GSSAPI", (), Authenticate(tag="A001", mechanism="GSSAPI")),
    ("A01 STARTTLS", (), StartTLS(tag="A01")),
    ("A02 CAPABILITY", (), Capability(tag="A02")),
    (
        "A03 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",
        (),
        Authenticate(tag="A03", mechanism="PLAIN", initial_response=b"test\x00test\x00test"),
    ),
    ("C01 CAPABILITY", (), Capability(tag="C01")),
    ("A01 AUTHENTICATE PLAIN", (), Authenticate(tag="A01", mechanism="PLAIN")),
    (
        "A01 AUTHENTICATE EXTERNAL =",
        (),
        Authenticate(tag="A01", mechanism="EXTERNAL", initial_response=b""),
    ),
    ("a001 LOGIN SMITH SESAME", (), Login(tag="a001", username="SMITH", password="SESAME")),
    ("t1 CAPABILITY", (), Capability(tag="t1")),
    (
        "t2 ENABLE CONDSTORE X-GOOD-IDEA",
        (),
        Enable(tag="t2", capabilities=("CONDSTORE", "X-GOOD-IDEA")),
    ),
    ("t3 CAPABILITY", (), Capability(tag="t3")),
    ("a1 ENABLE CONDSTORE", (), Enable(tag="a1", capabilities=("CONDSTORE",))),
    ("A142 SELECT INBOX", (), Select(tag="A142", mailbox="INBOX")),
    ("A143 SELECT Drafts", (), Select(tag="A143", mailbox="Drafts")),
    ("A932 EXAMINE blurdybloop", (), Examine(tag="A932", mailbox="blurdybloop")),
    ("A003 CREATE owatagusiam/", (), Create(tag="A003", mailbox="owatagusiam/")),
    (
        "A004 CREATE owatagusiam/blurdybloop",
        (),
        Create(tag="A004", mailbox="owatagusiam/blurdybloop"),
    ),
    ("A005 CREATE NonNormalized", (), Create(tag="A005", mailbox="NonNormalized")),
    ('A682 LIST "" *', (), _ALL_LIST),
    ("A683 DELETE blurdybloop", (), Delete(tag="A683", mailbox="blurdybloop")),
    ("A684 DELETE foo", (), Delete(tag="A684", mailbox="foo")),
    ("A685 DELETE foo/bar", (), Delete(tag="A685", mailbox="foo/bar")),
    ('A686 LIST "" *', (), List(tag="A686", reference="", patterns=("*",))),
    ("A687 DELETE foo", (), Delete(tag="A687", mailbox="foo")),
    ('A82 LIST "" *', (), List(tag="A82", reference="", patterns=("*",))),
    ("A83 DELETE blurdybloop", (), Delete(tag="A83", mailbox="blurdybloop")),
    ("A84 DELETE foo", (), Delete(tag="A84", mailbox="foo")),
    ('A85 LIST "" *', (), List(tag="A85", reference="", patterns=("*",))),
    ('A86 LIST "" %', (), List(tag="A86", reference="", patterns=("%",))),
    (
        "A683 RENAME blurdybloop sarasoop",
        (),
        Rename(tag="A683", old="blurdybloop", new="sarasoop"),
    ),
    ("A684 RENAME foo zowie", (), Rename(tag="A684", old="foo", new="zowie")),
    ('A685 LIST "" *', (), List(tag="A685", reference="", patterns=("*",))),
    ('Z432 LIST "" *', (), List(tag="Z432", reference="", patterns=("*",))),
    ("Z433 RENAME INBOX old-mail", (), Rename(tag="Z433", old="INBOX", new="old-mail")),
    ('Z434 LIST "" *', (), List(tag="Z434", reference="", patterns=("*",))),
    ("1001 RENAME X Y", (), Rename(tag="1001", old="X", new="Y")),
    ("1002 SUBSCRIBE Y", (), Subscribe(tag="1002", mailbox="Y")),
    ("1003 UNSUBSCRIBE X", (), Unsubscribe(tag="1003", mailbox="X")),
    (
        "A002 SUBSCRIBE #news.comp.mail.mime",
        (),
        Subscribe(tag="A002", mailbox="#news.comp.mail.mime"),
    ),
    (
        "A002 UNSUBSCRIBE #news.comp.mail.mime",
        (),
        Unsubscribe(tag="A002", mailbox="#news.comp.mail.mime"),
    ),
    ('A101 LIST "" ""', (), List(tag="A101", reference="", patterns=("",))),
    (
        'A102 LIST #news.comp.mail.misc ""',
        (),
        List(tag="A102", reference="#news.comp.mail.misc", patterns=("",)),
    ),
    (
        'A103 LIST /usr/staff/jones ""',
        (),
        List(tag="A103", reference="/usr/staff/jones", patterns=("",)),
    ),
    ("A202 LIST ~/Mail/ %", (), List(tag="A202", reference="~/Mail/", patterns=("%",))),
    ('A01 LIST "" "*"', (), List(tag="A01", reference="", patterns=("*",))),
    (
        'A02 LIST (SUBSCRIBED) "" "*"',
        (),
        List(
            tag="A02",
            reference="",
            patterns=("*",),
            select_options=(ListSelectOption.SUBSCRIBED,),
        ),
    ),
    (
        'A03 LIST () "" "%" RETURN (CHILDREN)',
        (),
        List(
            tag="A03",
            reference="",
            patterns=("%",),
            return_options=(ListReturnOption.CHILDREN,),
        ),
    ),
    (
        'A04 LIST (REMOTE) "" "%" RETURN (CHILDREN)',
        (),
        List(
            tag="A04",
            reference="",
            patterns=("%",),
            select_options=(ListSelectOption.REMOTE,),
            return_options=(ListReturnOption.CHILDREN,),
        ),
    ),
    (
        'A05 LIST (REMOTE SUBSCRIBED) "" "*"',
        (),
        List(
            tag="A05",
            reference="",
            patterns=("*",),
            select_options=(ListSelectOption.REMOTE, ListSelectOption.SUBSCRIBED),
        ),
    ),
    (
        'A06 LIST (REMOTE) "" "*" RETURN (SUBSCRIBED)',
        (),
        List(
            tag="A06",
            reference="",
            patterns=("*",),
            select_options=(ListSelectOption.REMOTE,),
            return_options=(ListReturnOption.SUBSCRIBED,),
        ),
    ),
    ('C01 LIST "" "*"', (), List(tag="C01", reference="", patterns=("*",))),
    ('CA3 LIST "" "%" RETURN (CHILDREN)', (), List),
    ('C02 LIST (SUBSCRIBED) "" "*"', (), List),
    (
        'C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"',
        (),
        List(
            tag="C04",
            reference="",
            patterns=("%",),
            select_options=(ListSelectOption.SUBSCRIBED, ListSelectOption.RECURSIVEMATCH),
        ),
    ),
    ('C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)', (), List),
    ('D01 LIST "" "*"', (), List),
    ('D02 LIST (SUBSCRIBED) "" "*"', (), List),
    ('D03 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"', (), List),
    ('D03 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*"', (), List),
    ('a1 LIST "" ("foo")', (), List(tag="a1", reference="", patterns=("foo",))),
    ('a2 LIST (SUBSCRIBED) "" "foo/*"', (), List),
    ('a3 LIST (SUBSCRIBED RECURSIVEMATCH) "" foo RETURN (CHILDREN)', (), List),
    ('a1 LIST (REMOTE) "" *', (), List),
    ('a2 LIST () "" %', (), List(tag="a2", reference="", patterns=("%",))),
    ('a3 LIST (REMOTE) "" %', (), List),
    (
        'a3.1 LIST "" (% music/rock)',
        (),
        List(tag="a3.1", reference="", patterns=("%", "music/rock")),
    ),
    (
        'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))',
        (),
        List(
            tag="A01",
            reference="",
            patterns=("%",),
            return_status=(StatusItem.MESSAGES, StatusItem.UNSEEN),
        ),
    ),
    (
        'A02 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (STATUS (MESSAGES))',
        (),
        List(
            tag="A02",
            reference="",
            patterns=("%",),
            select_options=(ListSelectOption.SUBSCRIBED, ListSelectOption.RECURSIVEMATCH),
            return_status=(StatusItem.MESSAGES,),
        ),
    ),
    ("A001 NAMESPACE", (), Namespace(tag="A001")),
    ('A002 CREATE "INBOX.Sent Mail"', (), Create(tag="A002", mailbox="INBOX.Sent Mail")),
    (
        'A002 LIST (SPECIAL-USE) "" "*"',
        (),
        List(
            tag="A002",
            reference="",
            patterns=("*",),
            select_options=(ListSelectOption.SPECIAL_USE,),
        ),
    ),
    ('A003 LIST (SPECIAL-USE) "#mh/" "*"', (), List),
    ('A004 CREATE "Sent Mail"', (), Create(tag="A004", mailbox="Sent Mail")),
    ('A005 CREATE "Delete Items"', (), Create(tag="A005", mailbox="Delete Items")),
    ('A006 CREATE "#mh/Deleted Items"', (), Create(tag="A006", mailbox="#mh/Deleted Items")),
    (
        'A002 LIST "" "Other Users/%"',
        (),
        List(tag="A002", reference="", patterns=("Other Users/%",)),
    ),
    ('A002 LIST "" "#Users/%"', (), List),
    ('A003 LIST "" "#Users/Mike/%"', (), List),
    ('A002 LIST "" "~mark/%"', (), List),
    (
        "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
        (),
        Status(tag="A042", mailbox="blurdybloop", items=(StatusItem.UIDNEXT, StatusItem.MESSAGES)),
    ),
    (
        r"A003 APPEND saved-messages (\Seen) {326}",
        (MESSAGE_9051,),
        Append(tag="A003", mailbox="saved-messages", flags=(Flag.SEEN,), message=MESSAGE_9051),
    ),
    (
        r"A003 APPEND saved-messages (\Seen) {297+}",
        (MESSAGE_9051_PLUS,),
        Append(tag="A003", mailbox="saved-messages", flags=(Flag.SEEN,), message=MESSAGE_9051_PLUS),
    ),
    (
        "A004 COPY 2:4 meeting",
        (),
        Copy(tag="A004", sequence_set=SequenceSet.parse("2:4"), mailbox="meeting"),
    ),
    (
        "A005 UID COPY 305:310 meeting",
        (),
        Copy(tag="A005", uid=True, sequence_set=SequenceSet.parse("305:310"), mailbox="meeting"),
    ),
    ("A006 COPY 2 funny", (), Copy(tag="A006", sequence_set=SequenceSet.of(2), mailbox="funny")),
    ("A007 SELECT funny", (), Select(tag="A007", mailbox="funny")),
    ("A001 SELECT INBOX", (), Select(tag="A001", mailbox="INBOX")),
    ("A002 IDLE", (), Idle(tag="A002")),
    (
        "A003 FETCH 4 ALL",
        (),
        Fetch(tag="A003", sequence_set=SequenceSet.of(4), macro=FetchMacro.ALL),
    ),
    ("A004 IDLE", (), Idle(tag="A004")),
    ("A005 FETCH 3 ALL", (), Fetch),
    ("A006 IDLE", (), Idle(tag="A006")),
    ("A341 CLOSE", (), Close(tag="A341")),
    ("A342 UNSELECT", (), Unselect(tag="A342")),
    ("A202 EXPUNGE", (), Expunge(tag="A202")),
    (
        'A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
        (),
        Search(
            tag="A282",
            criteria=_SMITH,
            return_options=(SearchReturnOption.MIN, SearchReturnOption.COUNT),
        ),
    ),
    (
        'A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
        (),
        Search(tag="A283", criteria=_SMITH, return_options=()),
    ),
    (
        'A284 SEARCH TEXT "string not in mailbox"',
        (),
        Search(tag="A284", criteria=Key.text("string not in mailbox")),
    ),
    (
        "A285 SEARCH CHARSET UTF-8 TEXT {12}",
        ("отпуск".encode(),),
        Search(tag="A285", charset="UTF-8", criteria=Key.text("отпуск")),
    ),
    (
        "A284 SEARCH RETURN (MIN) UNSEEN",
        (),
        Search(tag="A284", criteria=Key.unseen(), return_options=(SearchReturnOption.MIN,)),
    ),
    (
        "A285 UID SEARCH RETURN (MIN MAX) 1:5000",
        (),
        Search(
            tag="A285",
            uid=True,
            criteria=Key.sequence(SequenceSet.parse("1:5000")),
            return_options=(SearchReturnOption.MIN, SearchReturnOption.MAX),
        ),
    ),
    ("A286 SEARCH RETURN (COUNT) DELETED", (), Search),
    (
        'A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
        (),
        Search(tag="A282", criteria=_SMITH, return_options=(SearchReturnOption.SAVE,)),
    ),
    (
        "A283 FETCH $ (UID INTERNALDATE FLAGS BODY.PEEK[HEADER])",
        (),
        Fetch(
            tag="A283",
            sequence_set=SequenceSet.saved(),
            attributes=(
                FetchItem(name="UID"),
                FetchItem(name="INTERNALDATE"),
                FetchItem(name="FLAGS"),
                FetchBody(section=Section(text=SectionText.HEADER), peek=True),
            ),
        ),
    ),
    ('A300 SEARCH RETURN (SAVE) SINCE 1-Jan-2004 NOT FROM "Smith"', (), Search),
    (
        "A301 UID SEARCH UID $ SMALLER 4096",
        (),
        Search(tag="A301", uid=True, criteria=Key.uid(SequenceSet.saved()) & Key.smaller(4096)),
    ),
    (
        "A301 UID SEARCH $ SMALLER 4096",
        (),
        Search(
            tag="A301",
            uid=True,
            criteria=Key.sequence(SequenceSet.saved()) & Key.smaller(4096),
        ),
    ),
    ('P282 SEARCH RETURN (SAVE) SINCE 1-Feb-1994 NOT FROM "Smith"', (), Search),
    ("P283 SEARCH CHARSET UTF-8 (OR $ 1,3000:3021) TEXT {8+}", ("мать".encode(),), Search),
    ('B282 SEARCH RETURN (SAVE) SINCE 1-Feb-1994 NOT FROM "Smith"', (), Search),
    ('E282 SEARCH RETURN (SAVE) SINCE 28-Oct-2006 NOT FROM "Eric"', (), Search),
    (
        'E283 COPY $ "Other Messages"',
        (),
        Copy(tag="E283", sequence_set=SequenceSet.saved(), mailbox="Other Messages"),
    ),
    (
        "F282 SEARCH RETURN (SAVE) KEYWORD $Junk",
        (),
        Search(
            tag="F282", criteria=Key.keyword("$Junk"), return_options=(SearchReturnOption.SAVE,)
        ),
    ),
    ('F283 COPY $ "Junk"', (), Copy(tag="F283", sequence_set=SequenceSet.saved(), mailbox="Junk")),
    (
        r"F284 STORE $ +FLAGS.Silent (\Deleted)",
        (),
        Store(
            tag="F284",
            sequence_set=SequenceSet.saved(),
            mode=StoreMode.ADD,
            silent=True,
            flags=(Flag.DELETED,),
        ),
    ),
    ("G282 SEARCH RETURN (SAVE) KEYWORD $Junk", (), Search),
    ('G283 SEARCH RETURN (ALL) SINCE 28-Oct-2006 FROM "Eric"', (), Search),
    ("H282 SEARCH RETURN (SAVE) KEYWORD $Junk", (), Search),
    ('H283 SEARCH RETURN (SAVE) SINCE 28-Oct-2006 FROM "Eric"', (), Search),
    (
        'C282 SEARCH RETURN (ALL) SINCE 12-Feb-2006 NOT FROM "Smith"',
        (),
        Search(tag="C282", criteria=_SINCE_NOT_SMITH, return_options=(SearchReturnOption.ALL,)),
    ),
    ('C283 SEARCH RETURN (ALL SAVE) SINCE 12-Feb-2006 NOT FROM "Smith"', (), Search),
    ('C284 SEARCH RETURN (SAVE MIN) SINCE 12-Feb-2006 NOT FROM "Smith"', (), Search),
    ('C285 SEARCH RETURN (MAX SAVE MIN) SINCE 12-Feb-2006 NOT FROM "Smith"', (), Search),
    (
        'C286 SEARCH RETURN (MAX SAVE MIN COUNT) SINCE 12-Feb-2006 NOT FROM "Smith"',
        (),
        Search(
            tag="C286",
            criteria=_SINCE_NOT_SMITH,
            return_options=(
                SearchReturnOption.MAX,
                SearchReturnOption.SAVE,
                SearchReturnOption.MIN,
                SearchReturnOption.COUNT,
            ),
        ),
    ),
    ('C286 SEARCH RETURN (ALL SAVE MIN) SINCE 12-Feb-2006 NOT FROM "Smith"', (), Search),
    (
        "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
        (),
        Fetch(
            tag="A654",
            sequence_set=SequenceSet.parse("2:4"),
            attributes=(FetchItem(name="FLAGS"), _HEADER_FIELDS),
        ),
    ),
    (
        r"A003 STORE 2:4 +FLAGS (\Deleted)",
        (),
        Store(
            tag="A003",
            sequence_set=SequenceSet.parse("2:4"),
            mode=StoreMode.ADD,
            flags=(Flag.DELETED,),
        ),
    ),
    (
        "A003 COPY 2:4 MEETING",
        (),
        Copy(tag="A003", sequence_set=SequenceSet.parse("2:4"), mailbox="MEETING"),
    ),
    (
        "a UID MOVE 42:69 foo",
        (),
        Move(tag="a", uid=True, sequence_set=SequenceSet.parse("42:69"), mailbox="foo"),
    ),
    (
        "A003 UID EXPUNGE 3000:3002",
        (),
        Expunge(tag="A003", uid=True, uids=SequenceSet.parse("3000:3002")),
    ),
    (
        "A999 UID FETCH 4827313:4828442 FLAGS",
        (),
        Fetch(
            tag="A999",
            uid=True,
            sequence_set=SequenceSet.parse("4827313:4828442"),
            attributes=(FetchItem(name="FLAGS"),),
        ),
    ),
    ("a441 CAPABILITY", (), Capability(tag="a441")),
]

#: Every ``C:`` line of RFC 3501 section 6 that is a command, in order (duplicates once).
RFC3501_EXAMPLES: list[Example] = [
    ("abcd CAPABILITY", (), Capability(tag="abcd")),
    ("efgh STARTTLS", (), StartTLS(tag="efgh")),
    ("ijkl CAPABILITY", (), Capability(tag="ijkl")),
    ("a002 NOOP", (), Noop(tag="a002")),
    ("a047 NOOP", (), Noop(tag="a047")),
    ("A023 LOGOUT", (), Logout(tag="A023")),
    ("a001 CAPABILITY", (), Capability(tag="a001")),
    ("a002 STARTTLS", (), StartTLS(tag="a002")),
    ("a003 CAPABILITY", (), Capability(tag="a003")),
    ("a004 LOGIN joe password", (), Login(tag="a004", username="joe", password="password")),
    ("A001 AUTHENTICATE GSSAPI", (), Authenticate(tag="A001", mechanism="GSSAPI")),
    ("a001 LOGIN SMITH SESAME", (), Login(tag="a001", username="SMITH", password="SESAME")),
    ("A142 SELECT INBOX", (), Select(tag="A142", mailbox="INBOX")),
    ("A932 EXAMINE blurdybloop", (), Examine(tag="A932", mailbox="blurdybloop")),
    ("A003 CREATE owatagusiam/", (), Create(tag="A003", mailbox="owatagusiam/")),
    ("A004 CREATE owatagusiam/blurdybloop", (), Create),
    ('A682 LIST "" *', (), _ALL_LIST),
    ("A683 DELETE blurdybloop", (), Delete(tag="A683", mailbox="blurdybloop")),
    ("A684 DELETE foo", (), Delete(tag="A684", mailbox="foo")),
    ("A685 DELETE foo/bar", (), Delete(tag="A685", mailbox="foo/bar")),
    ('A686 LIST "" *', (), List),
    ("A687 DELETE foo", (), Delete(tag="A687", mailbox="foo")),
    ('A82 LIST "" *', (), List),
    ("A83 DELETE blurdybloop", (), Delete),
    ("A84 DELETE foo", (), Delete),
    ('A85 LIST "" *', (), List),
    ('A86 LIST "" %', (), List(tag="A86", reference="", patterns=("%",))),
    ("A683 RENAME blurdybloop sarasoop", (), Rename),
    ("A684 RENAME foo zowie", (), Rename(tag="A684", old="foo", new="zowie")),
    ('A685 LIST "" *', (), List),
    ('Z432 LIST "" *', (), List),
    ("Z433 RENAME INBOX old-mail", (), Rename(tag="Z433", old="INBOX", new="old-mail")),
    ('Z434 LIST "" *', (), List),
    ("A002 SUBSCRIBE #news.comp.mail.mime", (), Subscribe),
    ("A002 UNSUBSCRIBE #news.comp.mail.mime", (), Unsubscribe),
    ('A101 LIST "" ""', (), List(tag="A101", reference="", patterns=("",))),
    ('A102 LIST #news.comp.mail.misc ""', (), List),
    ('A103 LIST /usr/staff/jones ""', (), List),
    ("A202 LIST ~/Mail/ %", (), List(tag="A202", reference="~/Mail/", patterns=("%",))),
    (
        'A002 LSUB "#news." "comp.mail.*"',
        (),
        Lsub(tag="A002", reference="#news.", pattern="comp.mail.*"),
    ),
    ('A003 LSUB "#news." "comp.%"', (), Lsub(tag="A003", reference="#news.", pattern="comp.%")),
    ("A042 STATUS blurdybloop (UIDNEXT MESSAGES)", (), Status),
    (
        r"A003 APPEND saved-messages (\Seen) {310}",
        (MESSAGE_3501,),
        Append(tag="A003", mailbox="saved-messages", flags=(Flag.SEEN,), message=MESSAGE_3501),
    ),
    ("FXXZ CHECK", (), Check(tag="FXXZ")),
    ("A341 CLOSE", (), Close(tag="A341")),
    ("A202 EXPUNGE", (), Expunge(tag="A202")),
    (
        'A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
        (),
        Search(tag="A282", criteria=_SMITH),
    ),
    ('A283 SEARCH TEXT "string not in mailbox"', (), Search),
    (
        "A284 SEARCH CHARSET UTF-8 TEXT {6}",
        (b"XXXXXX",),
        Search(tag="A284", charset="UTF-8", criteria=Key.text("XXXXXX")),
    ),
    (
        "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
        (),
        Fetch(
            tag="A654",
            sequence_set=SequenceSet.parse("2:4"),
            attributes=(FetchItem(name="FLAGS"), _HEADER_FIELDS),
        ),
    ),
    (r"A003 STORE 2:4 +FLAGS (\Deleted)", (), Store),
    ("A003 COPY 2:4 MEETING", (), Copy),
    ("A999 UID FETCH 4827313:4828442 FLAGS", (), Fetch),
    ("a441 CAPABILITY", (), Capability(tag="a441")),
]


def _example_params(examples: list[Example], rfc: str) -> list[Any]:
    return [
        pytest.param(text, literals, expected, id=f"{rfc}:{text[:48]}")
        for text, literals, expected in examples
    ]


@pytest.mark.parametrize(
    ("text", "literals", "expected"),
    _example_params(RFC9051_EXAMPLES, "9051") + _example_params(RFC3501_EXAMPLES, "3501"),
)
def test_rfc_example(
    text: str, literals: tuple[bytes, ...], expected: Command | type[Command]
) -> None:
    command = parse(text, *literals)
    if isinstance(expected, type):
        assert type(command) is expected
    else:
        assert command == expected
        assert type(command) is type(expected)
    assert command.tag == text.split(" ", 1)[0]
    assert_round_trip(command)


RFC_ERROR_EXAMPLES = [
    # RFC 9051 section 6.4.4.4 (SEARCHRES): an unsupported charset is NO [BADCHARSET].
    pytest.param(
        "B283 SEARCH RETURN (SAVE) CHARSET KOI8-R (OR $ 1,3000:3021) TEXT {4}",
        (b"XXXX",),
        "NO",
        "BADCHARSET",
        id="B283",
    ),
    # RFC 9051 section 6.5 and RFC 3501 section 6.5: an extension command the grammar lacks.
    pytest.param("A442 XPIG-LATIN", (), "BAD", None, id="A442"),
]


@pytest.mark.parametrize(("text", "literals", "status", "code"), RFC_ERROR_EXAMPLES)
def test_rfc_example_refused(
    text: str, literals: tuple[bytes, ...], status: str, code: str | None
) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse(text, *literals)
    assert info.value.tag == text.split(" ", 1)[0]
    assert info.value.status == status
    assert info.value.code == code


def test_rfc_example_count() -> None:
    # The distinct command lines of the two sections, the refused ones included.
    for examples, refused, total in ((RFC9051_EXAMPLES, 2, 144), (RFC3501_EXAMPLES, 1, 55)):
        assert len({text for text, _, _ in examples}) == len(examples)
        assert len(examples) + refused == total


# -- specific behaviour ------------------------------------------------------------------------


def test_names_are_case_insensitive() -> None:
    assert parse("a1 uid fetch 1 flags") == Fetch(
        tag="a1", uid=True, sequence_set=SequenceSet.of(1), attributes=(FetchItem(name="FLAGS"),)
    )
    assert parse("a2 select inbox") == Select(tag="a2", mailbox="INBOX")
    assert parse("a3 Store 1 -flags.silent \\seen") == Store(
        tag="a3",
        sequence_set=SequenceSet.of(1),
        mode=StoreMode.REMOVE,
        silent=True,
        flags=(Flag.SEEN,),
    )
    assert parse("a4 list (subscribed) inbox % return (children)") == List(
        tag="a4",
        reference="INBOX",
        patterns=("%",),
        select_options=(ListSelectOption.SUBSCRIBED,),
        return_options=(ListReturnOption.CHILDREN,),
    )


def test_enable_keeps_capabilities_as_sent() -> None:
    assert parse("a ENABLE IMAP4rev2 utf8=accept") == Enable(
        tag="a", capabilities=("IMAP4rev2", "utf8=accept")
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class XSort(UidCommand):
    """An extension command with a UID form, registered the documented way."""

    name: ClassVar[str] = "XSORT"
    key: str

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        w.atom(self.key)


def _parse_xsort(uid: bool) -> CommandParser:
    def parse(tag: str, cursor: Cursor, ctx: ParseContext) -> Command:
        return XSort(tag=tag, uid=uid, key=cursor.keyword("sort key"))

    return parse


def test_extension_command() -> None:
    registry = REGISTRY.copy()
    registry.commands["XSORT"] = _parse_xsort(False)
    registry.commands["UID XSORT"] = _parse_xsort(True)
    ctx = ParseContext(registry=registry)
    command = parse("a1 uid xsort arrival", ctx=ctx)
    assert command == XSort(tag="a1", uid=True, key="ARRIVAL")
    assert command.command_name == "UID XSORT"
    assert encode(command) == b"a1 UID XSORT ARRIVAL\r\n"
    assert_round_trip(command, ctx)
    with pytest.raises(RemoteProtocolError) as info:
        parse("a2 XSORT arrival extra", ctx=ctx)
    assert info.value.tag == "a2"


def test_command_names_for_the_state_table() -> None:
    seq = SequenceSet.of(1)
    assert Fetch(tag="a", sequence_set=seq, macro=FetchMacro.FAST).command_name == "FETCH"
    assert Fetch(tag="a", uid=True, sequence_set=seq, macro=FetchMacro.FAST).command_name == (
        "UID FETCH"
    )
    assert Expunge(tag="a", uid=True, uids=seq).command_name == "UID EXPUNGE"
    assert Noop(tag="a").command_name == "NOOP"
    for name in COMMAND_STATES:
        if name != "UID":
            assert name in REGISTRY.commands, name


def test_install_registers_commands_and_states() -> None:
    registry = Registry()
    install(registry)
    assert dict(registry.command_states) == dict(COMMAND_STATES)
    assert {"IMAP4rev2", "LIST-EXTENDED", "MOVE", "UIDPLUS"} <= registry.capabilities
    assert set(registry.commands) == set(COMMAND_STATES) - {"UID"}


def test_secrets_stay_out_of_repr() -> None:
    login = Login(tag="a", username="alice", password="hunter2")
    assert "hunter2" not in repr(login)
    assert "alice" in repr(login)
    auth = Authenticate(tag="a", mechanism="PLAIN", initial_response=b"\x00alice\x00hunter2")
    assert "hunter2" not in repr(auth)
    assert repr(parse('a1 LOGIN alice "s3cret pw"')) == "Login(tag='a1', username='alice')"


def test_authenticate_initial_response() -> None:
    assert parse("a AUTHENTICATE plain =") == Authenticate(
        tag="a", mechanism="PLAIN", initial_response=b""
    )
    assert encode(Authenticate(tag="a", mechanism="PLAIN", initial_response=b"")) == (
        b"a AUTHENTICATE PLAIN =\r\n"
    )
    assert encode(Authenticate(tag="a", mechanism="X", initial_response=b"\x00")) == (
        b"a AUTHENTICATE X AA==\r\n"
    )


def test_login_with_literals_and_8bit() -> None:
    command = parse("a LOGIN {5} {5}", b"al ce", "päss".encode())
    assert command == Login(tag="a", username="al ce", password="päss")
    raw = b"\xff\xfe"
    login = Login(tag="a", username=raw.decode("utf-8", "surrogateescape"), password="x")
    assert b"{2}\r\n\xff\xfe" in encode(login)
    assert_round_trip(login)


def test_select_params_through_registered_modifiers() -> None:
    # RFC 4466 section 2.1.
    assert parse("a SELECT INBOX (ANNOTATE)") == Select(
        tag="a", mailbox="INBOX", params=(Modifier(name="ANNOTATE"),)
    )
    command = parse('a EXAMINE INBOX (ANNOTATE RESPONSES ("UID Responses") CONDSTORE)')
    assert command == Examine(
        tag="a",
        mailbox="INBOX",
        params=(
            Modifier(name="ANNOTATE"),
            Modifier(name="RESPONSES", value=(b"UID Responses",)),
            Modifier(name="CONDSTORE"),
        ),
    )
    assert_round_trip(command)
    # RFC 7162 section 3.2.5: QRESYNC with nested values.
    command = parse("a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))")
    assert command == Select(
        tag="a",
        mailbox="INBOX",
        params=(
            Modifier(name="QRESYNC", value=("67890007", "20050715194045000", "41,43:211,214:541")),
        ),
    )
    assert_round_trip(command)
    with pytest.raises(RemoteProtocolError) as info:
        parse("a SELECT INBOX (BLURDYBLOOP)")
    assert info.value.tag == "a"
    assert "BLURDYBLOOP" in info.value.text


def test_fetch_and_store_modifiers() -> None:
    command = parse("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)")
    assert isinstance(command, Fetch)
    assert command.modifiers == (
        Modifier(name="CHANGEDSINCE", value="12345"),
        Modifier(name="VANISHED"),
    )
    assert_round_trip(command)
    command = parse(r"a STORE 1,3 (UNCHANGEDSINCE 7) FLAGS.SILENT \Seen $Junk")
    assert command == Store(
        tag="a",
        sequence_set=SequenceSet.parse("1,3"),
        silent=True,
        flags=(Flag.SEEN, "$Junk"),
        modifiers=(Modifier(name="UNCHANGEDSINCE", value="7"),),
    )
    assert encode(command) == b"a STORE 1,3 (UNCHANGEDSINCE 7) FLAGS.SILENT (\\Seen $Junk)\r\n"


def test_list_extended_everything() -> None:
    text = (
        'a LIST (SUBSCRIBED RECURSIVEMATCH REMOTE X-SEL (1 "two")) "" ("INBOX" "Drafts") '
        "RETURN (CHILDREN SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN MAILBOXID) MYRIGHTS)"
    )
    command = parse(text)
    assert command == List(
        tag="a",
        reference="",
        patterns=("INBOX", "Drafts"),
        select_options=(
            ListSelectOption.SUBSCRIBED,
            ListSelectOption.RECURSIVEMATCH,
            ListSelectOption.REMOTE,
            Modifier(name="X-SEL", value=("1", b"two")),
        ),
        return_options=(
            ListReturnOption.CHILDREN,
            ListReturnOption.SUBSCRIBED,
            ListReturnOption.SPECIAL_USE,
            Modifier(name="MYRIGHTS"),
        ),
        return_status=(StatusItem.MESSAGES, StatusItem.UNSEEN, "MAILBOXID"),
    )
    assert encode(command) == (
        b'a LIST (SUBSCRIBED RECURSIVEMATCH REMOTE X-SEL (1 "two")) "" (INBOX Drafts) '
        b"RETURN (CHILDREN SUBSCRIBED SPECIAL-USE MYRIGHTS STATUS (MESSAGES UNSEEN MAILBOXID))\r\n"
    )
    assert_round_trip(command)
    # An extension option counts as the base option RECURSIVEMATCH needs.
    assert isinstance(parse('a LIST (RECURSIVEMATCH X-SEL) "" *'), List)


def test_mailbox_names_decode_per_mode() -> None:
    assert parse("a SELECT Entw&APw-rfe") == Select(tag="a", mailbox="Entwürfe")
    command = parse('a SELECT "Entwürfe"', ctx=CTX_UTF8)
    assert command == Select(tag="a", mailbox="Entwürfe")
    assert encode(Select(tag="a", mailbox="Entwürfe")) == b"a SELECT Entw&APw-rfe\r\n"
    assert encode(Select(tag="a", mailbox="Entwürfe"), utf8=True) == (
        'a SELECT "Entwürfe"\r\n'.encode()
    )
    assert parse('a LIST "" Entw&APw-*') == List(tag="a", reference="", patterns=("Entwü*",))


def test_append_forms() -> None:
    when = dt.datetime(1994, 2, 7, 21, 52, 25, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    command = parse(
        r'a APPEND box (\Seen $Label) " 7-Feb-1994 21:52:25 -0800" X-EXT (1 "x") {3}', b"msg"
    )
    assert command == Append(
        tag="a",
        mailbox="box",
        flags=(Flag.SEEN, "$Label"),
        date_time=when,
        extensions=(Modifier(name="X-EXT", value=("1", b"x")),),
        message=b"msg",
    )
    assert encode(command) == (
        b'a APPEND box (\\Seen $Label) " 7-Feb-1994 21:52:25 -0800" X-EXT (1 "x") {3}\r\nmsg\r\n'
    )
    # literal8 (RFC 3516) and no options at all.
    command = parse("a APPEND box ~{3}", b"a\x00b")
    assert command == Append(tag="a", mailbox="box", message=b"a\x00b", binary=True)
    assert encode(command) == b"a APPEND box ~{3}\r\na\x00b\r\n"
    # A message the server received in chunks.
    streamed = StreamedLiteral(size=10_000_000, binary=True)
    values = tokenize([b"a APPEND box {10000000}", b""], [streamed], LIMITS)
    command = parse_command_values(values, CTX)
    assert command == Append(tag="a", mailbox="box", message=streamed, binary=True)


def test_append_streams_a_literal_source() -> None:
    source = LiteralSource(size=5)
    w = WireWriter(literal_mode=LiteralMode.SYNC)
    Append(tag="a", mailbox="box", message=source).write(w)
    parts = [part for part in w.parts() if part[0] != b""]
    assert parts == [(b"a APPEND box {5}\r\n", True), (source, False), (b"\r\n", False)]
    w = WireWriter(literal_mode=LiteralMode.PLUS)
    Append(tag="a", mailbox="box", message=LiteralSource(size=5, binary=True), binary=True).write(w)
    assert w.parts()[0] == (b"a APPEND box ~{5+}\r\n", False)


def test_search_charset() -> None:
    key = Key.subject("Grüße")
    command = Search.for_criteria(tag="a", criteria=key)
    assert command.charset == "UTF-8"
    assert encode(command).startswith(b"a SEARCH CHARSET UTF-8 SUBJECT {")
    assert Search.for_criteria(tag="a", criteria=Key.seen()).charset is None
    assert_round_trip(command)
    parsed = parse("a UID SEARCH RETURN (PARTIAL 1:100 X-RET) CHARSET US-ASCII ALL")
    assert parsed == Search(
        tag="a",
        uid=True,
        charset="US-ASCII",
        criteria=Key.all(),
        return_options=(Modifier(name="PARTIAL", value="1:100"), Modifier(name="X-RET")),
    )
    assert_round_trip(parsed)


def test_id() -> None:
    command = parse('a ID ("name" "sodr" "version" "19.34" "vendor" NIL)')
    assert command == Id(
        tag="a", parameters=(("name", "sodr"), ("version", "19.34"), ("vendor", None))
    )
    assert parse("a ID NIL") == Id(tag="a", parameters=None)
    assert parse("a ID ()") == Id(tag="a", parameters=())
    assert encode(Id(tag="a")) == b"a ID NIL\r\n"
    assert encode(Id(tag="a", parameters=())) == b"a ID ()\r\n"


def test_status_extension_items() -> None:
    command = parse("a STATUS INBOX (messages size Mailboxid)")
    assert command == Status(
        tag="a", mailbox="INBOX", items=(StatusItem.MESSAGES, StatusItem.SIZE, "MAILBOXID")
    )
    with pytest.raises(RemoteProtocolError, match="unknown STATUS item"):
        parse("a STATUS INBOX (MESSAGES MAILBOXID)", ctx=ParseContext(registry=default_registry()))


@pytest.mark.parametrize("item", ["HIGHESTMODSEQ", "APPENDLIMIT"])
def test_status_items_of_extensions_need_registering(item: str) -> None:
    # HIGHESTMODSEQ is CONDSTORE's (RFC 7162), APPENDLIMIT RFC 7889's: like CHANGEDSINCE, a
    # server without the extension answers BAD (RFC 4466 section 2.1).
    base = ParseContext(registry=default_registry())
    for text in (f"a STATUS INBOX (MESSAGES {item})", f'a LIST "" * RETURN (STATUS ({item}))'):
        with pytest.raises(RemoteProtocolError, match="unknown STATUS item") as info:
            parse(text, ctx=base)
        assert (info.value.tag, info.value.status) == ("a", "BAD")
    command = parse(f"a STATUS INBOX (MESSAGES {item.lower()})")
    assert command == Status(tag="a", mailbox="INBOX", items=(StatusItem.MESSAGES, item))
    assert isinstance(command, Status)
    assert command.items[1] is StatusItem(item)
    base_items = "MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT"
    assert parse(f'a STATUS "INBOX" ({base_items})', ctx=base) == Status(
        tag="a", mailbox="INBOX", items=tuple(StatusItem(i) for i in base_items.split())
    )


# -- malformed commands ------------------------------------------------------------------------

MALFORMED = [
    "a1",
    "a1 XPIG-LATIN",
    'a1 "NOOP"',
    "a1 NOOP extra",
    "a1 CAPABILITY (x)",
    "a1 LOGIN onlyuser",
    "a1 LOGIN (a) b",
    "a1 LOGIN a b c",
    "a1 AUTHENTICATE",
    "a1 AUTHENTICATE PLAIN !!!!",
    "a1 AUTHENTICATE PLAIN abc",
    "a1 AUTHENTICATE PLAIN AAAA AAAA",
    'a1 AUTHENTICATE "PLAIN"',
    "a1 AUTHENTICATE PL%AIN",
    "a1 ENABLE",
    "a1 ENABLE (CONDSTORE)",
    "a1 SELECT",
    "a1 SELECT INBOX ()",
    "a1 SELECT INBOX (UNKNOWNPARAM)",
    "a1 SELECT INBOX (CONDSTORE) extra",
    "a1 SELECT INBOX CONDSTORE",
    "a1 SELECT (INBOX)",
    'a1 SELECT "&Jjo!"',
    "a1 EXAMINE INBOX (BLURDYBLOOP)",
    "a1 CREATE",
    "a1 CREATE box (NOPE 1)",
    "a1 DELETE",
    "a1 DELETE a b",
    "a1 RENAME a",
    "a1 RENAME a b (NOPE)",
    "a1 SUBSCRIBE",
    "a1 UNSUBSCRIBE a b",
    "a1 LIST",
    'a1 LIST ""',
    'a1 LIST "" ()',
    'a1 LIST (RECURSIVEMATCH) "" *',
    'a1 LIST (REMOTE RECURSIVEMATCH) "" *',
    'a1 LIST (BOGUS) "" *',
    'a1 LIST ((SUBSCRIBED)) "" *',
    'a1 LIST "" * RETURN (BOGUS)',
    'a1 LIST "" * RETURN CHILDREN',
    'a1 LIST "" * EXTRA (CHILDREN)',
    'a1 LIST "" * RETURN (STATUS ())',
    'a1 LIST "" * RETURN (STATUS (BOGUS))',
    'a1 LIST "" * RETURN (STATUS (MESSAGES) STATUS (UNSEEN))',
    'a1 LIST "" * RETURN (STATUS)',
    'a1 LIST "" * RETURN (CHILDREN) extra',
    "a1 LSUB a",
    "a1 LSUB a b c",
    "a1 STATUS INBOX",
    "a1 STATUS INBOX ()",
    "a1 STATUS INBOX (BOGUS)",
    "a1 STATUS INBOX MESSAGES",
    "a1 APPEND",
    "a1 APPEND box",
    r"a1 APPEND box (\Seen)",
    r"a1 APPEND box (\Seen) NIL",
    r"a1 APPEND box (\*) {1}",
    r'a1 APPEND box (\Seen) "bad date" {1}',
    "a1 APPEND box BOGUS {1}",
    "a1 APPEND box {1} {1}",
    "a1 APPEND box ({1})",
    "a1 IDLE now",
    "a1 EXPUNGE 1",
    "a1 UID",
    "a1 UID FOO 1",
    "a1 UID EXPUNGE",
    "a1 UID EXPUNGE 0",
    "a1 UID NOOP",
    "a1 UID (FETCH) 1 FLAGS",
    "a1 SEARCH",
    "a1 SEARCH RETURN (MIN)",
    "a1 SEARCH RETURN (BOGUS) ALL",
    "a1 SEARCH RETURN MIN ALL",
    "a1 SEARCH CHARSET",
    "a1 SEARCH BOGUS",
    "a1 FETCH",
    "a1 FETCH 1",
    "a1 FETCH 0 FLAGS",
    "a1 FETCH abc FLAGS",
    "a1 FETCH 1 BOGUS",
    "a1 FETCH 1 ()",
    "a1 FETCH 1 (FLAGS) ()",
    "a1 FETCH 1 (FLAGS) (BOGUS)",
    "a1 FETCH 1 (FLAGS) (CHANGEDSINCE 1) (VANISHED)",
    "a1 STORE 1",
    "a1 STORE 1 FLAGZ (\\Seen)",
    "a1 STORE 1 +FLAGS",
    "a1 STORE 1 () FLAGS (\\Seen)",
    "a1 STORE 1 (BOGUS) FLAGS (\\Seen)",
    "a1 STORE 1 +FLAGS (\\*)",
    "a1 STORE 1 +FLAGS (a%b)",
    "a1 STORE 1 +FLAGS (\\Seen) extra",
    'a1 STORE 1 +FLAGS "x"',
    "a1 STORE 1 *FLAGS (\\Seen)",
    "a1 COPY 1",
    "a1 COPY box 1",
    "a1 MOVE 1:2",
    "a1 UID MOVE 1:2 a b",
    "a1 ID",
    'a1 ID ("a")',
    "a1 ID FOO",
    'a1 ID (a "b")',
    'a1 ID ("a" "b") extra',
    'a1 ID ("a" ("b"))',
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_command_is_bad_with_tag(text: str) -> None:
    literals = tuple(b"x" for _ in _ANNOUNCEMENT.finditer(text.encode()))
    with pytest.raises(RemoteProtocolError) as info:
        parse(text, *literals)
    assert info.value.tag == "a1"
    assert info.value.status == "BAD"


@pytest.mark.parametrize(
    "text", ["+x NOOP", '"a" NOOP', "a*b NOOP", "a%b NOOP", "(a) NOOP", "a\\b NOOP", "a{b NOOP"]
)
def test_invalid_tag_has_no_tag(text: str) -> None:
    try:
        values = tokenize([text.encode()], [], LIMITS)
    except RemoteProtocolError:
        return
    with pytest.raises(RemoteProtocolError) as info:
        parse_command_values(values, CTX)
    assert info.value.tag is None


def test_empty_line() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_command_values([], CTX)
    assert info.value.tag is None


def test_password_never_in_error_text() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse("a1 LOGIN alice hunter2 extra-hunter3")
    assert "hunter" not in info.value.text


def test_lenient_context_accepts_sloppy_input() -> None:
    lenient = ParseContext(registry=REGISTRY, strict=False)
    assert parse("a SELECT INBOX ()", ctx=lenient) == Select(tag="a", mailbox="INBOX")
    assert parse('a ID (name "x")', ctx=lenient) == Id(tag="a", parameters=(("name", "x"),))
    assert parse("a STORE 1 FLAGS (a%b)", ctx=lenient) == Store(
        tag="a", sequence_set=SequenceSet.of(1), flags=("a%b",)
    )


# -- strictness regressions (RFC 9051 section 9) -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a1 LOGIN jöhn pw",
        "a1 SELECT Entwürfe",
        "a1 SEARCH SUBJECT café",
        # U+017F and U+0131 upper-case to ASCII: they must not pass for SEEN, FLAGS, ID.
        "a1 SEARCH \u017fEEN",
        "a1 STORE 1 \ufb02AGS (\\Seen)",
        "a1 STORE 1 FLAGS (\\\u017feen)",
        "a1 \u0131D NIL",
        "a1 \u017fELECT INBOX",
    ],
)
@pytest.mark.parametrize("ctx", [CTX, CTX_UTF8], ids=["ascii", "utf8"])
def test_8bit_atoms_are_refused(text: str, ctx: ParseContext) -> None:
    # ATOM-CHAR is a 7-bit CHAR; UTF8=ACCEPT extends quoted strings only (RFC 9755 section 3).
    with pytest.raises(RemoteProtocolError) as info:
        parse(text.encode(), ctx=ctx)
    assert (info.value.tag, info.value.status) == ("a1", "BAD")


def test_8bit_quoted_mailbox_with_utf8_accept() -> None:
    assert parse('a1 SELECT "Entwürfe"'.encode(), ctx=CTX_UTF8) == Select(
        tag="a1", mailbox="Entwürfe"
    )


@pytest.mark.parametrize(
    ("text", "literals"),
    [
        ("a1 LOGIN {3} pw", (b"a\x00b",)),
        ('a1 LOGIN "a\x00b" pw', ()),
        ("a1 APPEND INBOX {3}", (b"a\x00b",)),
        ('a1 ID ("name" {3})', (b"a\x00b",)),
        ("a1 SEARCH SUBJECT {1}", (b"\x00",)),
        ("a1 SELECT {1}", (b"\x00",)),
    ],
)
def test_nul_outside_a_literal8_is_refused(text: str, literals: tuple[bytes, ...]) -> None:
    # RFC 9051 section 9, note 3: NUL only in a literal8 (which only APPEND takes).
    with pytest.raises(RemoteProtocolError, match="NUL") as info:
        parse(text.encode("latin-1"), *literals)
    assert info.value.tag == "a1"
    for ctx in (CTX_UTF8, ParseContext(registry=REGISTRY, strict=False)):
        if ctx.strict:
            with pytest.raises(RemoteProtocolError):
                parse(text.encode("latin-1"), *literals, ctx=ctx)


def test_nul_in_a_literal8_message() -> None:
    command = parse("a1 APPEND INBOX ~{3}", b"a\x00b")
    assert command == Append(tag="a1", mailbox="INBOX", message=b"a\x00b", binary=True)
    assert_round_trip(command)


@pytest.mark.parametrize(
    "text",
    [
        "a1 LOGIN ~{5} pw",
        "a1 LOGIN alice ~{5}",
        "a1 SELECT ~{5}",
        "a1 RENAME ~{5} b",
        'a1 LIST "" ~{5}',
        "a1 LIST ~{5} *",
        "a1 STATUS ~{5} (MESSAGES)",
        "a1 APPEND ~{5} {5}",
        'a1 ID (~{5} "x")',
        'a1 ID ("x" ~{5})',
        "a1 SEARCH SUBJECT ~{5}",
        "a1 SEARCH CHARSET ~{5} ALL",
        "a1 SEARCH SINCE ~{5}",
        "a1 COPY 1 ~{5}",
    ],
)
def test_literal8_is_refused_outside_the_append_message(text: str) -> None:
    # RFC 3516: a literal8 is only APPEND's message (section 4.4) and FETCH BINARY data.
    literals = tuple(b"INBOX" for _ in _ANNOUNCEMENT.finditer(text.encode()))
    with pytest.raises(RemoteProtocolError) as info:
        parse(text, *literals)
    assert (info.value.tag, info.value.status) == ("a1", "BAD")


@pytest.mark.parametrize(
    "text",
    [
        "a1 LOGIN a*b pw",
        "a1 LOGIN alice pw%",
        "a1 LOGIN a\\b pw",
        "a1 SELECT foo*",
        "a1 CREATE foo%",
        "a1 RENAME a b\\c",
        "a1 DELETE a\\",
        "a1 STATUS a* (MESSAGES)",
        "a1 COPY 1 a%",
        'a1 LIST "" foo\\bar',
        "a1 LIST a* %",
        'a1 LSUB "" a\\',
    ],
)
def test_astring_atoms_outside_astring_char_are_refused(text: str) -> None:
    # astring = 1*ASTRING-CHAR / string; list-mailbox = 1*list-char / string.
    with pytest.raises(RemoteProtocolError, match="invalid character") as info:
        parse(text)
    assert info.value.tag == "a1"
    parse(text, ctx=ParseContext(registry=REGISTRY, strict=False))


def test_astring_atoms_with_resp_specials_and_brackets() -> None:
    assert parse("a1 LOGIN a]b p[x]") == Login(tag="a1", username="a]b", password="p[x]")
    assert parse("a1 SELECT a]b") == Select(tag="a1", mailbox="a]b")
    assert parse('a1 LIST "" %/*]') == List(tag="a1", reference="", patterns=("%/*]",))


@pytest.mark.parametrize(
    ("day", "ok"),
    [(" 1", True), ("01", True), ("1", True), ("12", True), (" 12", False), ("  1", False)],
)
def test_append_date_day(day: str, ok: bool) -> None:
    # date-day-fixed = (SP DIGIT) / 2DIGIT; an unpadded day is tolerated, as Cyrus does.
    text = f'a1 APPEND INBOX "{day}-Jan-2024 10:00:00 +0000" {{5}}'
    if ok:
        command = parse(text, b"hello")
        assert isinstance(command, Append)
        assert command.date_time == dt.datetime(2024, 1, int(day), 10, tzinfo=dt.UTC)
    else:
        with pytest.raises(RemoteProtocolError, match="date-time"):
            parse(text, b"hello")


@pytest.mark.parametrize("value", ["1abc", "1:", "0:1", "$1", "1,$", "99999999999999999999"])
def test_generic_modifier_simple_value_must_be_a_number_or_sequence_set(value: str) -> None:
    # tagged-ext-simple = sequence-set / number / number64 (RFC 4466 section 3).
    with pytest.raises(RemoteProtocolError, match="invalid value") as info:
        parse(f"a1 SELECT INBOX (CONDSTORE {value})")
    assert info.value.tag == "a1"
    with pytest.raises(LocalProtocolError):
        encode(Select(tag="a1", mailbox="INBOX", params=(Modifier(name="CONDSTORE", value=value),)))


@pytest.mark.parametrize("value", ["0", "9223372036854775807", "1:*", "$", "4,2:3"])
def test_generic_modifier_simple_values(value: str) -> None:
    command = parse(f"a1 FETCH 1 FLAGS (CHANGEDSINCE {value})")
    assert isinstance(command, Fetch)
    assert command.modifiers == (Modifier(name="CHANGEDSINCE", value=value),)
    assert_round_trip(command)


@pytest.mark.parametrize(
    ("text", "literals"),
    [
        ("a1 SELECT INBOX (QRESYNC (1 2 41,43:%11))", ()),
        ("a1 SELECT INBOX (QRESYNC (1 2 41,\\3:211))", ()),
        ("a1 SELECT INBOX (QRESYNC (1 20050715194[45000 3))", ()),
        ("a1 CREATE foo (USE (NIL\\Drafts))", ()),
        ("a1 CREATE foo (USE (\\Draft[s))", ()),
        ("a1 SELECT INBOX (QRESYNC (1 ~{3}))", (b"a\x00c",)),
    ],
)
def test_generic_modifier_list_values_must_be_writable(
    text: str, literals: tuple[bytes, ...]
) -> None:
    # tagged-ext-comp holds astrings (and, by extensions, sequence sets and \names), never a
    # literal8: whatever the server accepts, the client must be able to write back.
    with pytest.raises(RemoteProtocolError, match="modifier") as info:
        parse(text, *literals)
    assert info.value.tag == "a1"
    parse(text, *literals, ctx=ParseContext(registry=REGISTRY, strict=False))


def test_generic_modifier_list_values() -> None:
    command = parse('a1 CREATE foo (USE (\\Drafts x] "q" 1:* ({3})))', b"lit")
    assert isinstance(command, Create)
    assert command.params == (
        Modifier(name="USE", value=("\\Drafts", "x]", b"q", "1:*", (b"lit",))),
    )
    assert_round_trip(command)


def test_base_grammar_refuses_condstore_modifiers() -> None:
    registry = default_registry()
    ctx = ParseContext(registry=registry)
    for text in (
        "a1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5)",
        "a1 STORE 1 (UNCHANGEDSINCE 5) +FLAGS (\\Seen)",
        "a1 SELECT INBOX (CONDSTORE)",
    ):
        with pytest.raises(RemoteProtocolError) as info:
            parse(text, ctx=ctx)
        assert (info.value.tag, info.value.status) == ("a1", "BAD")


@pytest.mark.parametrize("tag", ["a[b]", "x[1]y[2]", "a[b]]", "a]"])
def test_tags_with_closed_brackets(tag: str) -> None:
    # tag = 1*<any ASTRING-CHAR except "+">: "[" is an ATOM-CHAR, "]" a resp-special.
    assert parse(f"{tag} NOOP") == Noop(tag=tag)
    assert parse(f"{tag} SELECT a]") == Select(tag=tag, mailbox="a]")


@pytest.mark.parametrize("tag", ["a[", "a]b[", "[1]"])
def test_tags_with_open_brackets_are_refused(tag: str) -> None:
    # The tokenizer reads "[ SELECT a]" as a section of the first token, so neither side
    # takes a tag with an unclosed "[" (the server could accept one the client cannot write);
    # nor one starting with "[", which in a response line reads as a code without "* OK".
    for line in (f"{tag} NOOP", f"{tag} SELECT a]"):
        with pytest.raises(RemoteProtocolError, match="invalid tag"):
            parse(line)


@pytest.mark.parametrize("tag", ["a[b]", "x[1]y[2]", "a[b]]", "a]"])
def test_tags_with_closed_brackets_are_written(tag: str) -> None:
    assert_round_trip(Select(tag=tag, mailbox="a]"))


@pytest.mark.parametrize("tag", ["a[", "a[b", "a]b[", "[1]"])
def test_tags_with_open_brackets_are_not_written(tag: str) -> None:
    # Written before "SELECT a]", an unclosed "[" would swallow the line up to that "]".
    with pytest.raises(LocalProtocolError):
        encode(Select(tag=tag, mailbox="a]"))


def test_store_mode_must_be_a_store_mode() -> None:
    with pytest.raises(LocalProtocolError):
        encode(Store(tag="a", sequence_set=SequenceSet.of(1), mode=cast(StoreMode, "*"), flags=()))


def test_escaped_backslash_before_a_letter_reads_back_strictly() -> None:
    # The server tokenizes strictly (imap_wire._api, ServerConnection); "a\\\\ice" is the
    # valid quoted form of a\ice, as the writer sends it.
    data = encode(Login(tag="a", username="a\\ice", password="pw"))
    assert data == b'a LOGIN "a\\\\ice" pw\r\n'
    values = tokenize([data[:-2]], [], LIMITS, strict=True)
    assert parse_command_values(values, CTX) == Login(tag="a", username="a\\ice", password="pw")


# -- what the writer refuses -------------------------------------------------------------------

_SEQ = SequenceSet.of(1)


@pytest.mark.parametrize(
    "command",
    [
        Noop(tag=""),
        Noop(tag="a+b"),
        Noop(tag="a b"),
        Noop(tag="a*"),
        Noop(tag="a[b"),
        Noop(tag="tägg"),
        Enable(tag="a", capabilities=()),
        Enable(tag="a", capabilities=("A B",)),
        Authenticate(tag="a", mechanism="PL AIN"),
        Status(tag="a", mailbox="x", items=()),
        List(tag="a", reference="", patterns=()),
        List(tag="a", reference="", patterns=("*",), return_status=()),
        List(tag="a", reference="", patterns=("*",), select_options=("NOT AN ATOM",)),
        Expunge(tag="a", uid=True),
        Expunge(tag="a", uids=_SEQ),
        Store(tag="a", sequence_set=_SEQ, flags=("a b",)),
        Store(tag="a", sequence_set=_SEQ, flags=("\\*",)),
        Append(tag="a", mailbox="x", flags=("(",), message=b""),
        Append(tag="a", mailbox="x", message=StreamedLiteral(size=3)),
        Append(tag="a", mailbox="x", message=LiteralSource(size=3, binary=True)),
        Fetch(tag="a", sequence_set=_SEQ),
        Fetch(tag="a", sequence_set=SequenceSet(), macro=FetchMacro.ALL),
        Select(tag="a", mailbox="x", params=(Modifier(name="X", value=b"str"),)),
        Select(tag="a", mailbox="x", params=(Modifier(name="X", value="abc"),)),
        Select(tag="a", mailbox="x", params=(Modifier(name="X", value=("a b",)),)),
        Select(tag="a", mailbox="x", params=(Modifier(name="X Y"),)),
        Select(tag="a", mailbox="\ud800"),
        Login(tag="a", username="\ud800", password="x"),
        Id(tag="a", parameters=(("\ud800", None),)),
        Search(tag="a", criteria=Key.all(), return_options=("A B",)),
        # NUL only in a literal8 (RFC 9051 section 9, note 3).
        Login(tag="a", username="a\x00b", password="x"),
        Login(tag="a", username="a", password="\x00"),
        Id(tag="a", parameters=(("name", "a\x00b"),)),
        Append(tag="a", mailbox="x", message=b"a\x00b"),
        Search(tag="a", criteria=Key.subject("a\x00b")),
        Search(tag="a", criteria=Key.header("X\x00", "")),
        Select(tag="a", mailbox="x", params=(Modifier(name="X", value=(b"\x00",)),)),
        Select(tag="a", mailbox="x", params=(Modifier(name="X", value=(Literal8(b"a"),)),)),
        # A charset announced must fit the text (the server checks it) and be printable.
        Search(tag="a", criteria=Key.subject("café"), charset="US-ASCII"),
        Search(tag="a", criteria=Key.subject("\udcff"), charset="UTF-8"),
        Search(tag="a", criteria=Key.all(), charset="UTF\r\n8"),
        Search(tag="a", criteria=Key.all(), charset="ütf"),
        # tagged-ext-simple is a number or a sequence set.
        Select(tag="a", mailbox="x", params=(Modifier(name="X", value="1abc"),)),
    ],
    ids=repr,
)
def test_writer_refuses(command: Command) -> None:
    with pytest.raises(LocalProtocolError):
        encode(command)


@pytest.mark.parametrize(
    "command",
    [
        Select(tag="a", mailbox="a\x00b"),
        List(tag="a", reference="", patterns=("a\x00",)),
        Lsub(tag="a", reference="\x00", pattern="*"),
    ],
    ids=repr,
)
def test_writer_refuses_nul_in_utf8_mailbox_names(command: Command) -> None:
    # Modified UTF-7 encodes NUL (&AAA-); UTF8=ACCEPT would send it as it is.
    assert_round_trip(command)
    with pytest.raises(LocalProtocolError, match="NUL"):
        encode(command, utf8=True)


# -- round trips of every command kind ---------------------------------------------------------

# No "[" in tags: the tokenizer reads "[...]" as a section, so neither side accepts one.
_TAG_CHARS = "".join(c for c in string.printable if c not in ' \t\n\r\x0b\x0c(){%*"\\+[')
tags = st.text(alphabet=_TAG_CHARS, min_size=1, max_size=8)
# No NUL anywhere but in a literal8 (RFC 9051 section 9, note 3): the writers refuse it.
_chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_octets = st.binary(max_size=8).map(lambda b: b.replace(b"\x00", b"\x01"))
texts = st.one_of(
    st.text(_chars, max_size=12),
    _octets.map(lambda b: b.decode("utf-8", "surrogateescape")),
)
mailboxes = st.text(_chars, max_size=12).map(normalize_inbox)
# Wildcards, shifts, spaces, brackets, 8-bit.
patterns = st.text(st.sampled_from("abc/.%*&- []äö台\x7f"), max_size=10)
keywords = st.from_regex(r"[A-Za-z$][A-Za-z0-9$_.\-]{0,8}", fullmatch=True)
flags = st.one_of(
    st.sampled_from([f.value for f in Flag if f is not Flag.WILDCARD]),
    keywords,
    st.from_regex(r"\\[A-Za-z][A-Za-z0-9]{0,6}", fullmatch=True).filter(
        lambda f: f.upper() not in {x.value.upper() for x in Flag}
    ),
)
flag_tuples = st.lists(flags, max_size=4).map(tuple)
numbers = st.one_of(st.just(STAR), st.integers(1, MAX_NUMBER))
sequence_sets = st.one_of(
    st.just(SequenceSet.saved()),
    st.lists(st.tuples(numbers, numbers), min_size=1, max_size=4).map(
        lambda rs: SequenceSet(ranges=tuple(rs))
    ),
)
ext_atoms = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9:*,.$\]\-]{0,8}", fullmatch=True)
ext_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(ext_atoms, _octets),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=6,
)
# tagged-ext-simple = sequence-set / number / number64.
simple_values = st.one_of(
    st.integers(0, 2**63 - 1).map(str),
    sequence_sets.map(str),
)


def modifiers(context: str) -> st.SearchStrategy[tuple[Modifier, ...]]:
    one = st.builds(
        Modifier,
        name=st.sampled_from(EXTENSION_MODIFIERS[context]),
        value=st.one_of(st.none(), simple_values, st.lists(ext_values, max_size=3).map(tuple)),
    )
    return st.lists(one, max_size=3).map(tuple)


date_times = st.builds(
    lambda d, minutes: d.replace(microsecond=0, tzinfo=dt.timezone(dt.timedelta(minutes=minutes))),
    st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 30)),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
status_items = st.lists(st.sampled_from([*StatusItem, "MAILBOXID"]), min_size=1, max_size=4).map(
    tuple
)

_SEARCH_TEXTS = [
    "ALL",
    'FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
    "OR SEEN (UNSEEN DELETED) UID 1:*,7",
    "$ SMALLER 4096",
    'HEADER Subject "hi there" LARGER 100',
    "KEYWORD $Junk UNKEYWORD $Phishing BEFORE 9-Oct-2020 SENTON 1-Jan-2000",
    'TEXT "отпуск" BODY "a\\"b"',
    "NOT NOT NEW OLD RECENT ANSWERED DRAFT UNDRAFT",
    "(OR 1:3 5 (TO x CC y BCC z))",
]
search_criteria = st.sampled_from(_SEARCH_TEXTS).map(criteria)
_FETCH_TEXTS = [
    "ALL",
    "FAST",
    "FULL",
    "FLAGS",
    "(UID FLAGS)",
    "BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.512>",
    "(BINARY.PEEK[1.2]<0.100> BINARY.SIZE[1] BODYSTRUCTURE ENVELOPE INTERNALDATE RFC822.SIZE)",
    "(BODY[1.MIME] BODY[] BODY[TEXT] BODY.PEEK[2.HEADER.FIELDS.NOT (X-A)] BODY)",
    "(RFC822 RFC822.HEADER RFC822.TEXT)",
]
fetch_attributes = st.sampled_from(_FETCH_TEXTS).map(
    lambda text: parse_fetch_attributes(tokenize([text.encode()], [], LIMITS)[0], CTX)
)

list_select = st.lists(
    st.one_of(
        st.sampled_from(list(ListSelectOption)),
        st.builds(
            Modifier, name=st.just("X-SEL"), value=st.none() | st.lists(ext_values).map(tuple)
        ),
    ),
    max_size=4,
).map(tuple)
list_return = st.lists(
    st.one_of(
        st.sampled_from(list(ListReturnOption)),
        st.builds(Modifier, name=st.sampled_from(["MYRIGHTS", "X-RET"])),
    ),
    max_size=4,
).map(tuple)


def _list_command(
    tag: str,
    reference: str,
    pats: list[str],
    select: tuple[str | Modifier, ...],
    returns: tuple[str | Modifier, ...],
    status: tuple[str, ...] | None,
) -> List:
    if ListSelectOption.RECURSIVEMATCH in select:
        select = (ListSelectOption.SUBSCRIBED, *select)
    return List(
        tag=tag,
        reference=reference,
        patterns=tuple(pats),
        select_options=select,
        return_options=returns,
        return_status=status,
    )


_UID = st.booleans()


def _binary_if_nul(command: Append) -> Append:
    # Only a literal8 may carry NUL (RFC 3516 section 4.4).
    if isinstance(command.message, bytes) and b"\x00" in command.message:
        return dataclasses.replace(command, binary=True)
    return command


def _search(
    tag: str,
    uid: bool,
    charset: str | None,
    key: SearchKey,
    return_options: tuple[str | Modifier, ...] | None,
) -> Search:
    if charset is not None and charset.upper() == "US-ASCII" and needs_charset(key):
        charset = "UTF-8"  # a US-ASCII search cannot carry the non-ASCII text
    return Search(tag=tag, uid=uid, charset=charset, criteria=key, return_options=return_options)


COMMANDS: dict[str, st.SearchStrategy[Command]] = {
    "CAPABILITY": st.builds(Capability, tag=tags),
    "NOOP": st.builds(Noop, tag=tags),
    "LOGOUT": st.builds(Logout, tag=tags),
    "STARTTLS": st.builds(StartTLS, tag=tags),
    "NAMESPACE": st.builds(Namespace, tag=tags),
    "IDLE": st.builds(Idle, tag=tags),
    "CHECK": st.builds(Check, tag=tags),
    "CLOSE": st.builds(Close, tag=tags),
    "UNSELECT": st.builds(Unselect, tag=tags),
    "AUTHENTICATE": st.builds(
        Authenticate,
        tag=tags,
        mechanism=st.from_regex(r"[A-Z0-9_\-]{1,20}", fullmatch=True),
        initial_response=st.none() | st.binary(max_size=40),
    ),
    "LOGIN": st.builds(Login, tag=tags, username=texts, password=texts),
    "ENABLE": st.builds(
        Enable,
        tag=tags,
        capabilities=st.lists(
            st.from_regex(r"[A-Za-z][A-Za-z0-9=+.\-]{0,10}", fullmatch=True), min_size=1, max_size=3
        ).map(tuple),
    ),
    "SELECT": st.builds(Select, tag=tags, mailbox=mailboxes, params=modifiers("SELECT")),
    "EXAMINE": st.builds(Examine, tag=tags, mailbox=mailboxes, params=modifiers("SELECT")),
    "CREATE": st.builds(Create, tag=tags, mailbox=mailboxes, params=modifiers("CREATE")),
    "DELETE": st.builds(Delete, tag=tags, mailbox=mailboxes),
    "SUBSCRIBE": st.builds(Subscribe, tag=tags, mailbox=mailboxes),
    "UNSUBSCRIBE": st.builds(Unsubscribe, tag=tags, mailbox=mailboxes),
    "RENAME": st.builds(Rename, tag=tags, old=mailboxes, new=mailboxes, params=modifiers("RENAME")),
    "LIST": st.builds(
        _list_command,
        tags,
        mailboxes,
        st.lists(patterns, min_size=1, max_size=3),
        list_select,
        list_return,
        st.none() | status_items,
    ),
    "LSUB": st.builds(Lsub, tag=tags, reference=mailboxes, pattern=patterns),
    "STATUS": st.builds(Status, tag=tags, mailbox=mailboxes, items=status_items),
    "APPEND": st.builds(
        Append,
        tag=tags,
        mailbox=mailboxes,
        flags=flag_tuples,
        date_time=st.none() | date_times,
        extensions=modifiers("APPEND"),
        message=st.binary(max_size=40),
        binary=st.booleans(),
    ).map(_binary_if_nul),
    "EXPUNGE": st.builds(Expunge, tag=tags),
    "UID EXPUNGE": st.builds(Expunge, tag=tags, uid=st.just(True), uids=sequence_sets),
    "SEARCH": st.builds(
        _search,
        tags,
        _UID,
        st.sampled_from([None, "UTF-8", "US-ASCII", "utf-8"]),
        search_criteria,
        st.none()
        | st.lists(
            st.one_of(
                st.sampled_from(list(SearchReturnOption)),
                st.builds(Modifier, name=st.just("PARTIAL"), value=simple_values),
            ),
            max_size=4,
        ).map(tuple),
    ),
    "FETCH": fetch_attributes.flatmap(
        lambda am: st.builds(
            Fetch,
            tag=tags,
            uid=_UID,
            sequence_set=sequence_sets,
            attributes=st.just(am[0]),
            macro=st.just(am[1]),
            modifiers=modifiers("FETCH"),
        )
    ),
    "STORE": st.builds(
        Store,
        tag=tags,
        uid=_UID,
        sequence_set=sequence_sets,
        mode=st.sampled_from(list(StoreMode)),
        silent=st.booleans(),
        flags=flag_tuples,
        modifiers=modifiers("STORE"),
    ),
    "COPY": st.builds(Copy, tag=tags, uid=_UID, sequence_set=sequence_sets, mailbox=mailboxes),
    "MOVE": st.builds(Move, tag=tags, uid=_UID, sequence_set=sequence_sets, mailbox=mailboxes),
    "ID": st.builds(
        Id,
        tag=tags,
        parameters=st.none() | st.lists(st.tuples(texts, st.none() | texts), max_size=4).map(tuple),
    ),
}
commands = st.one_of(*COMMANDS.values())


def test_every_command_kind_has_a_strategy() -> None:
    kinds = {name.removeprefix("UID ") for name in COMMAND_STATES if name != "UID"}
    assert kinds <= {name.removeprefix("UID ") for name in COMMANDS}


@pytest.mark.parametrize("kind", sorted(COMMANDS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(kind: str, data: st.DataObject) -> None:
    command = data.draw(COMMANDS[kind])
    assert command.command_name.removeprefix("UID ") == kind.removeprefix("UID ")
    assert_round_trip(command)


@pytest.mark.parametrize("kind", sorted(COMMANDS))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_utf8(kind: str, data: st.DataObject) -> None:
    assert_round_trip(data.draw(COMMANDS[kind]), CTX_UTF8)


@settings(max_examples=60, deadline=None)
@given(commands)
def test_round_trip_with_synchronizing_literals(command: Command) -> None:
    # A client's encoding: the parts joined are the same command.
    w = WireWriter(literal_mode=LiteralMode.SYNC)
    command.write(w)
    joined = b"".join(p for p, _ in w.parts() if isinstance(p, bytes))
    assert joined == encode(command)


# -- fuzzing -----------------------------------------------------------------------------------

_VOCABULARY = [
    *REGISTRY.commands,
    "UID",
    "RETURN",
    "CHARSET",
    "UTF-8",
    "KOI8-R",
    "FLAGS",
    "+FLAGS.SILENT",
    "-FLAGS",
    "STATUS",
    "MESSAGES",
    "SUBSCRIBED",
    "RECURSIVEMATCH",
    "REMOTE",
    "CHILDREN",
    "SPECIAL-USE",
    "NIL",
    "INBOX",
    "ALL",
    "MIN",
    "SAVE",
    "BODY[]",
    "BODY.PEEK[HEADER.FIELDS (A)]<0.1>",
    "BINARY[1]",
    "1:*",
    "$",
    "*",
    "0",
    "1",
    "4294967296",
    "\\Seen",
    "\\*",
    "=",
    "dGVzdA==",
    "CONDSTORE",
    "X-EXT",
    "PARTIAL",
    "SINCE",
    "1-Feb-1994",
    "NOT",
    "OR",
    "&Jjo!",
    "Entw&APw-rfe",
]
soup_atoms = st.one_of(
    st.sampled_from(_VOCABULARY),
    st.text(st.characters(exclude_characters=' ()"{\r\n'), min_size=1, max_size=6),
)
soup_values: st.SearchStrategy[Value] = st.recursive(
    st.one_of(
        soup_atoms,
        st.binary(max_size=6),
        st.sampled_from([b" 1-Feb-1994 21:52:25 -0800", b"", b"NIL"]),
        st.builds(StreamedLiteral, size=st.integers(0, 9), binary=st.booleans()),
    ),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.just("a1"), soup_atoms),
    st.one_of(st.sampled_from(sorted({*REGISTRY.commands, "UID"})), soup_atoms),
    st.lists(soup_values, max_size=8),
    st.booleans(),
    st.booleans(),
)
def test_token_soup_raises_only_remote_protocol_error(
    tag: str, name: str, rest: list[Value], strict: bool, utf8: bool
) -> None:
    ctx = ParseContext(registry=REGISTRY, strict=strict, utf8=utf8)
    values: list[Value] = [tag, *name.split(" "), *rest]
    try:
        command = parse_command_values(values, ctx)
    except RemoteProtocolError as exc:
        if type(tag) is str and tag == "a1":
            assert exc.tag == "a1"
        return
    assert isinstance(command, Command)
    assert command.tag == tag


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([s.encode() for s in _VOCABULARY]),
            st.sampled_from([b" ", b"(", b")", b'"', b"\\", b"{3}", b"~{2}", b"[", b"]"]),
            st.binary(max_size=4),
        ),
        max_size=20,
    )
)
def test_byte_soup_raises_only_remote_protocol_error(parts: list[bytes]) -> None:
    data = b"a1 " + b"".join(parts)
    segments, literals = split_line_lenient(data)
    try:
        values = tokenize(segments, literals, LIMITS)
        parse_command_values(values, CTX)
    except RemoteProtocolError:
        pass


def split_line_lenient(data: bytes) -> tuple[list[bytes], list[bytes | StreamedLiteral]]:
    """Cut after each trailing-style announcement and hand a literal of the right size."""
    segments: list[bytes] = []
    literals: list[bytes | StreamedLiteral] = []
    start = 0
    for m in _ANNOUNCEMENT.finditer(data):
        segments.append(data[start : m.end()])
        size = int(re.sub(rb"\D", b"", m.group()))
        literals.append(b"x" * size)
        start = m.end()
    segments.append(data[start:])
    return segments, literals
