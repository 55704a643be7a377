"""Tests of SEARCH evaluation (`imap_server.search`): RFC 9051 / RFC 3501 section 6.4.4.

Criteria are written as a client sends them and parsed by `imap_wire`, so each case reads like
the RFC. Messages are real RFC 5322 octets parsed by `imap_server.message`; the property tests
compare the evaluator with a deliberately naive model of the RFC text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from imap_server import message as msgmod
from imap_server import search as S
from imap_server.message import parse_message
from imap_server.store import BytesBody, MessageData, Want
from imap_wire import (
    SearchAnd,
    SearchCriteria,
    SearchDate,
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
    WireWriter,
    parse_command,
)

STAR = 0  # how SequenceSet.ranges spells "*"
UTC = dt.UTC


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- helpers -------------------------------------------------------------------------------------


def key_of(criteria: str) -> SearchKey:
    """Parse search criteria as the server gets them from ``SEARCH <criteria>``."""
    command: Any = parse_command(f"A1 SEARCH {criteria}\r\n".encode(), utf8=True)
    key: SearchKey = command.criteria
    return key


def wire(key: SearchKey) -> str:
    w = WireWriter(utf8=True)
    key.write(w)
    return w.getvalue().decode()


def raw_message(*headers: str, body: str = "Hello.\r\n") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def message(
    uid: int,
    *,
    flags: Sequence[str] = (),
    internal: dt.datetime = dt.datetime(2024, 3, 10, 12, 0, tzinfo=UTC),
    size: int | None = None,
    raw: bytes | None = None,
    modseq: int = 1,
) -> MessageData:
    """A message as the store returns it: META only unless ``raw`` is given."""
    return MessageData(
        uid=uid,
        flags=frozenset(flags),
        modseq=modseq,
        internal_date=internal,
        size=size if size is not None else len(raw or b""),
        parsed=parse_message(raw) if raw is not None else None,
        body=BytesBody(raw) if raw is not None else None,
    )


def scope_of(
    messages: Sequence[MessageData],
    *,
    extra: Sequence[int] = (),
    saved: frozenset[int] | None = None,
    recent: frozenset[int] = frozenset(),
) -> S.SearchScope:
    return S.SearchScope(
        uids=sorted({m.uid for m in messages} | set(extra)), saved=saved, recent=recent
    )


async def run(
    criteria: str | SearchKey,
    messages: Sequence[MessageData],
    scope: S.SearchScope | None = None,
    evaluators: S.SearchEvaluators | None = None,
) -> list[int]:
    key = key_of(criteria) if isinstance(criteria, str) else criteria
    return await S.search(key, messages, scope or scope_of(messages), evaluators=evaluators)


# -- a small mailbox ----------------------------------------------------------------------------

TZ_PST = dt.timezone(dt.timedelta(hours=-8))
TZ_JST = dt.timezone(dt.timedelta(hours=9))

RAW_LUNCH = raw_message(
    'From: "Alice Example" <alice@example.org>',
    "To: bob@example.com",
    "Cc: carol@example.net",
    "Subject: Lunch plans",
    "Date: Sun, 10 Mar 2024 23:30:00 -0800",
    "Message-ID: <m1@example.org>",
    body="Let's meet at noon.\r\n",
)
RAW_HOLIDAY = raw_message(
    "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>",
    "To: alice@example.org",
    "Bcc: secret@example.com",
    "Subject: =?utf-8?b?0J7RgtC/0YPRgdC6?=",
    "Date: Mon, 11 Mar 2024 00:30:00 +0900",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    body="Wir treffen uns in der Stra=C3=9Fe am Bahnhof.\r\n",
)
RAW_ALTERNATIVE = raw_message(
    "From: newsletter@example.com",
    "To: alice@example.org",
    "Subject: Weekly digest",
    "X-Priority: 1",
    "MIME-Version: 1.0",
    'Content-Type: multipart/alternative; boundary="b1"',
    body=(
        "--b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        "U2VjcmV0IGluZ3JlZGllbnQ6IGNhcmRhbW9t\r\n"  # "Secret ingredient: cardamom"
        "--b1--\r\n"
    ),
)
RAW_BAD_DATE = raw_message(
    "From: bob@example.com",
    "To: alice@example.org",
    "Subject: Re: Lunch plans",
    "Date: sometime next week",
    body="NOON is fine.\r\n",
)


def mailbox() -> list[MessageData]:
    return [
        message(3, flags=["\\Seen"], internal=dt.datetime(2024, 3, 10, 23, 30, tzinfo=TZ_PST),
                raw=RAW_LUNCH),
        message(7, flags=["\\Flagged", "$Forwarded"],
                internal=dt.datetime(2024, 3, 11, 0, 30, tzinfo=TZ_JST), raw=RAW_HOLIDAY),
        message(8, flags=["\\Answered", "\\Deleted", "\\Draft"],
                internal=dt.datetime(2024, 3, 12, 0, 0, tzinfo=UTC), raw=RAW_ALTERNATIVE),
        message(12, flags=[], internal=dt.datetime(2024, 3, 9, 23, 59, 59, tzinfo=UTC),
                raw=RAW_BAD_DATE),
    ]  # fmt: skip


# -- flags and other cheap keys ------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ("ALL", [3, 7, 8, 12]),
        ("ANSWERED", [8]),
        ("DELETED", [8]),
        ("DRAFT", [8]),
        ("FLAGGED", [7]),
        ("SEEN", [3]),
        ("UNANSWERED", [3, 7, 12]),
        ("UNDELETED", [3, 7, 12]),
        ("UNDRAFT", [3, 7, 12]),
        ("UNFLAGGED", [3, 8, 12]),
        ("UNSEEN", [7, 8, 12]),
        ("KEYWORD $Forwarded", [7]),
        ("KEYWORD $forwarded", [7]),
        ("KEYWORD $FORWARDED", [7]),
        ("UNKEYWORD $forwarded", [3, 8, 12]),
        ("KEYWORD $Junk", []),
        ("UNKEYWORD $Junk", [3, 7, 8, 12]),
    ],
)
async def test_flag_keys(criteria: str, expected: list[int]) -> None:
    assert await run(criteria, mailbox()) == expected


@pytest.mark.anyio
async def test_recent_new_old() -> None:
    # RFC 3501: NEW is (RECENT UNSEEN); OLD is NOT RECENT, as opposed to NOT NEW.
    messages = mailbox()
    scope = scope_of(messages, recent=frozenset({3, 7}))
    assert await run("RECENT", messages, scope) == [3, 7]
    assert await run("NEW", messages, scope) == [7]
    assert await run("OLD", messages, scope) == [8, 12]
    assert await run("NOT NEW", messages, scope) == [3, 8, 12]
    assert await run("RECENT", messages) == []
    assert await run("OLD", messages) == [3, 7, 8, 12]


@pytest.mark.anyio
async def test_sizes_compare_strictly() -> None:
    messages = [message(1, size=99), message(2, size=100), message(3, size=101)]
    assert await run("LARGER 100", messages) == [3]
    assert await run("SMALLER 100", messages) == [1]
    assert await run("LARGER 99 SMALLER 101", messages) == [2]
    assert await run("LARGER 0", [message(1, size=0)]) == []
    assert await run("SMALLER 9223372036854775807", messages) == [1, 2, 3]


# -- dates ---------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        # Internal dates in their own zone: 23:30 -0800 on the 10th is the 11th in UTC, but
        # RFC 9051 disregards time and timezone, so it is on the 10th.
        ("ON 10-Mar-2024", [3]),
        ("ON 11-Mar-2024", [7]),  # 00:30 +0900: still the 10th in UTC
        ("ON 12-Mar-2024", [8]),
        ("ON 9-Mar-2024", [12]),
        ("BEFORE 11-Mar-2024", [3, 12]),
        ("BEFORE 10-Mar-2024", [12]),
        ("BEFORE 9-Mar-2024", []),
        ("SINCE 11-Mar-2024", [7, 8]),
        ("SINCE 10-Mar-2024", [3, 7, 8]),
        ("SINCE 13-Mar-2024", []),
        ("SINCE 10-Mar-2024 BEFORE 12-Mar-2024", [3, 7]),
        # The Date: header, in its own zone too; 12 has none usable and never matches.
        ("SENTON 10-Mar-2024", [3]),
        ("SENTON 11-Mar-2024", [7]),
        ("SENTBEFORE 11-Mar-2024", [3]),
        ("SENTSINCE 11-Mar-2024", [7]),
        ("SENTSINCE 1-Jan-1970", [3, 7]),
        ("SENTBEFORE 1-Jan-2100", [3, 7]),
        ("NOT SENTON 10-Mar-2024", [7, 8, 12]),
    ],
)
async def test_date_keys(criteria: str, expected: list[int]) -> None:
    assert await run(criteria, mailbox()) == expected


@pytest.mark.anyio
async def test_internal_date_at_zone_extremes() -> None:
    # The same instant, seen in three zones, is on three different dates.
    instant = dt.datetime(2024, 6, 1, 11, 0, tzinfo=UTC)
    messages = [
        message(1, internal=instant.astimezone(dt.timezone(dt.timedelta(hours=-12)))),
        message(2, internal=instant),
        message(3, internal=instant.astimezone(dt.timezone(dt.timedelta(hours=14)))),
    ]
    assert await run("ON 31-May-2024", messages) == [1]
    assert await run("ON 1-Jun-2024", messages) == [2]
    assert await run("ON 2-Jun-2024", messages) == [3]
    west, east = dt.timezone(dt.timedelta(hours=-12)), dt.timezone(dt.timedelta(hours=14))
    messages = [
        message(1, internal=dt.datetime(2024, 6, 1, 0, 0, tzinfo=west)),
        message(2, internal=dt.datetime(2024, 6, 1, 23, 59, 59, tzinfo=east)),
    ]
    assert await run("ON 1-Jun-2024", messages) == [1, 2]
    assert await run("BEFORE 1-Jun-2024", messages) == []
    assert await run("SINCE 2-Jun-2024", messages) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("date", "on"),
    [
        ("Sat, 01 Jun 2024 00:00:00 -1200", "1-Jun-2024"),
        ("Sat, 01 Jun 2024 23:59:59 +1400", "1-Jun-2024"),
        ("1 Jun 2024 08:00 -0000", "1-Jun-2024"),  # zone unknown: the date as written
        ("Sat, 1 Jun 24 10:00:00 GMT", "1-Jun-2024"),  # two-digit year, named zone
        ("Sat, 01 Jun 2024 10:00:00 +0000 (UTC)", "1-Jun-2024"),
        ("Sat,\r\n 01 Jun 2024 10:00:00 +0200", "1-Jun-2024"),  # folded header
    ],
)
async def test_sent_date_forms(date: str, on: str) -> None:
    raw = raw_message("From: a@example.org", f"Date: {date}")
    messages = [message(5, raw=raw)]
    assert await run(f"SENTON {on}", messages) == [5]
    assert await run(f"SENTBEFORE {on}", messages) == []
    assert await run(f"SENTSINCE {on}", messages) == [5]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        ("From: a@example.org",),  # no Date: at all
        ("From: a@example.org", "Date: yesterday"),
        ("From: a@example.org", "Date: Sat, 32 Jun 2024 10:00:00 +0000"),
        ("From: a@example.org", "Date: "),
    ],
)
async def test_sent_keys_never_match_without_a_usable_date(headers: tuple[str, ...]) -> None:
    messages = [message(5, raw=raw_message(*headers))]
    for name in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        for day in ("1-Jan-1970", "1-Jun-2024", "31-Dec-2099"):
            assert await run(f"{name} {day}", messages) == []
            assert await run(f"NOT {name} {day}", messages) == [5]


# -- text ----------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ('FROM "alice"', [3]),
        ('FROM "ALICE EXAMPLE"', [3]),  # display names are part of the field's text
        ('FROM "@example.org"', [3]),
        ('FROM "jürgen"', [7]),  # RFC 2047 decoded
        ('FROM "MÜLLER"', [7]),  # and case-folded beyond ASCII
        ('FROM "juergen@example.de"', [7]),
        ('TO "alice@example.org"', [7, 8, 12]),
        ('TO "bob"', [3]),
        ('CC "carol"', [3]),
        ('CC "alice"', []),
        ('BCC "secret"', [7]),
        ('SUBJECT "lunch"', [3, 12]),
        ('SUBJECT "re: LUNCH"', [12]),
        ('SUBJECT "отпуск"', [7]),  # the RFC 9051 example, base64 encoded word
        ('SUBJECT "ОТПУСК"', [7]),
        ('SUBJECT "weekly digest"', [8]),
        ('SUBJECT "digest weekly"', []),
        ('BODY "noon"', [3, 12]),
        ('BODY "straße"', [7]),  # quoted-printable UTF-8, decoded
        ('BODY "STRASSE"', [7]),  # full case folding: ß folds to ss
        ('BODY "cardamom"', [8]),  # base64 inside multipart/alternative
        ('BODY "lunch"', []),  # BODY does not look at the header
        ('TEXT "lunch"', [3, 12]),  # TEXT does
        ('TEXT "x-priority"', [8]),
        ('TEXT "cardamom"', [8]),
        ('TEXT "noon"', [3, 12]),
        ('TEXT "nothing like this"', []),
        ('HEADER "X-Priority" "1"', [8]),
        ('HEADER "x-priority" ""', [8]),  # presence; field names are case-insensitive
        ('HEADER "Message-ID" "<m1@example.org>"', [3]),
        ('HEADER "Bcc" ""', [7]),
        ('HEADER "Subject" "LUNCH"', [3, 12]),
        ('HEADER "Subject" "отпуск"', [7]),
        ('HEADER "X-Nothing" ""', []),
    ],
)
async def test_text_keys(criteria: str, expected: list[int]) -> None:
    assert await run(criteria, mailbox()) == expected


@pytest.mark.anyio
async def test_decomposed_text_matches_composed_needle() -> None:
    # Some mail programs send "é" as e + U+0301; users type it precomposed (and vice versa).
    decomposed = raw_message(
        "From: a@example.org",
        "Subject: =?utf-8?q?Caf=65=CC=81?=",
        "Content-Type: text/plain; charset=utf-8",
        body="Re\u0301sume\u0301 attached.\r\n",
    )
    composed = raw_message(
        "From: a@example.org",
        "Subject: =?utf-8?q?Caf=C3=A9?=",
        "Content-Type: text/plain; charset=utf-8",
        body="R\u00e9sum\u00e9 attached.\r\n",
    )
    messages = [message(1, raw=decomposed), message(2, raw=composed)]
    assert await run('SUBJECT "CAF\u00c9"', messages) == [1, 2]
    assert await run('SUBJECT "cafe\u0301"', messages) == [1, 2]
    assert await run('BODY "R\u00c9SUM\u00c9"', messages) == [1, 2]
    assert await run('BODY "re\u0301sume\u0301"', messages) == [1, 2]


@pytest.mark.anyio
async def test_empty_text_matches_everything_without_reading() -> None:
    # The empty string is a substring of any text; no message data is needed to know it.
    messages = [message(1), message(2)]  # META only: reading them would raise
    for name in ("FROM", "TO", "CC", "BCC", "SUBJECT", "BODY", "TEXT"):
        key = key_of(f'{name} ""')
        assert S.needed(key) is Want.META
        assert await run(key, messages) == [1, 2]


@pytest.mark.anyio
async def test_one_field_at_a_time() -> None:
    # Two To: fields: a needle spanning the end of one and the start of the next is no match.
    raw = raw_message("To: first@example.org", "To: second@example.org")
    messages = [message(1, raw=raw)]
    assert await run('TO "second"', messages) == [1]
    assert await run('TO "org first"', messages) == []
    assert await run(SearchText(name="TO", value="org\nsecond"), messages) == []


# -- sequence sets -------------------------------------------------------------------------------


def sset(text: str) -> SequenceSet:
    return SequenceSet.parse(text)


VIEW = S.SearchScope(uids=[3, 7, 8, 12, 20], saved=frozenset({7, 12, 99}))


@pytest.mark.parametrize(
    ("text", "uid", "expected"),
    [
        ("1", False, [3]),
        ("2:4", False, [7, 8, 12]),
        ("4:2", False, [7, 8, 12]),
        ("*", False, [20]),
        ("3:*", False, [8, 12, 20]),
        ("*:3", False, [8, 12, 20]),
        ("5:*", False, [20]),
        ("1,3,1,5", False, [3, 8, 20]),
        ("6", False, []),  # beyond the view: ignored here
        ("4:9", False, [12, 20]),
        ("1:4294967295", False, [3, 7, 8, 12, 20]),
        ("$", False, [7, 12]),  # 99 was expunged since it was saved
        ("7", True, [7]),
        ("4:11", True, [7, 8]),
        ("11:4", True, [7, 8]),
        ("1", True, []),
        ("*", True, [20]),
        ("13:*", True, [20]),
        ("21:*", True, [20]),  # RFC 9051 6.4.8: n:* always holds the highest UID
        ("100:*", True, [20]),
        ("*:100", True, [20]),
        ("8:*", True, [8, 12, 20]),
        ("1:2,21:4294967295", True, []),
        ("$", True, [7, 12]),
    ],
)
def test_resolve_sequence_set(text: str, uid: bool, expected: list[int]) -> None:
    assert S.resolve_sequence_set(sset(text), VIEW, uid=uid) == expected


def test_resolve_in_an_empty_view() -> None:
    empty = S.SearchScope(uids=[])
    for text in ("*", "1:*", "*:1", "1", "$"):
        assert S.resolve_sequence_set(sset(text), empty, uid=False) == []
        assert S.resolve_sequence_set(sset(text), empty, uid=True) == []


def test_saved_result_absent_or_empty() -> None:
    # RFC 5182: "$" with nothing saved, or an empty result saved, is valid and matches nothing.
    for saved in (None, frozenset[int]()):
        scope = S.SearchScope(uids=[1, 2, 3], saved=saved)
        assert S.resolve_sequence_set(sset("$"), scope, uid=False) == []
        assert S.resolve_sequence_set(sset("$"), scope, uid=True) == []


@pytest.mark.anyio
async def test_sequence_set_keys() -> None:
    messages = mailbox()  # UIDs 3 7 8 12; the view also still numbers 10 (expunged)
    scope = scope_of(messages, extra=[10], saved=frozenset({3, 12}))
    assert await run("1:2", messages, scope) == [3, 7]
    assert await run("4", messages, scope) == []  # seq 4 is UID 10, gone from the store
    assert await run("*", messages, scope) == [12]
    assert await run("3:*", messages, scope) == [8, 12]
    assert await run("UID 7:10", messages, scope) == [7, 8]
    assert await run("UID *", messages, scope) == [12]
    assert await run("UID 13:*", messages, scope) == [12]
    assert await run("$", messages, scope) == [3, 12]
    assert await run("UID $", messages, scope) == [3, 12]
    assert await run("NOT $", messages, scope) == [7, 8]
    assert await run("$ SEEN", messages, scope) == [3]
    assert await run("OR 1 UID 12", messages, scope) == [3, 12]
    assert await run("$", messages, scope_of(messages)) == []  # nothing saved
    assert await run("*", [], S.SearchScope(uids=[])) == []
    assert await run("UID 1:*", [], S.SearchScope(uids=[])) == []
    assert await run("NOT *", [], S.SearchScope(uids=[])) == []


# -- combinations --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ("UNSEEN UNDELETED", [7, 12]),
        ('DELETED FROM "newsletter" SINCE 1-Feb-1994', [8]),  # the RFC's example, adapted
        ('FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"', [7]),
        ("OR SEEN FLAGGED", [3, 7]),
        ("OR (SEEN FLAGGED) DELETED", [8]),
        ('OR SUBJECT "lunch" BODY "cardamom"', [3, 8, 12]),
        ('NOT OR SUBJECT "lunch" BODY "cardamom"', [7]),
        ("NOT NOT SEEN", [3]),
        ("(((SEEN)))", [3]),
        ('(UNSEEN (TEXT "noon" LARGER 10))', [12]),
        ('OR (NOT SEEN) (NOT BODY "noon")', [7, 8, 12]),
        ("OR OR ANSWERED FLAGGED SEEN", [3, 7, 8]),
        ("NOT ALL", []),
    ],
)
async def test_combinations(criteria: str, expected: list[int]) -> None:
    assert await run(criteria, mailbox()) == expected


@pytest.mark.anyio
async def test_cheap_keys_first_spare_the_body() -> None:
    # META-only messages: any attempt to read one raises, so these pass only if the flag
    # decides first, whatever order the client wrote the keys in.
    messages = [message(1, flags=["\\Seen"]), message(2, flags=["\\Seen"])]
    assert await run('BODY "x" UNSEEN', messages) == []
    assert await run('(TEXT "x" FROM "y") UNSEEN', messages) == []
    assert await run('OR BODY "x" SEEN', messages) == [1, 2]
    assert await run('NOT OR HEADER "X" "y" SEEN', messages) == []
    assert await run('SENTON 1-Jan-2024 HEADER "X" "" 1:* UNSEEN', messages) == []
    with pytest.raises(ValueError, match="Want"):
        await run('BODY "x" SEEN', messages)


@pytest.mark.anyio
async def test_text_decoded_once_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []
    real_text = msgmod.search_text
    real_headers = msgmod.header_values

    async def counting_text(parsed: Any, body: Any, *, include_headers: bool) -> str:
        calls.append(("text", include_headers))
        text: str = await real_text(parsed, body, include_headers=include_headers)
        return text

    async def counting_headers(parsed: Any, body: Any, name: str) -> list[str]:
        calls.append(("header", name.lower()))
        values: list[str] = await real_headers(parsed, body, name)
        return values

    monkeypatch.setattr(msgmod, "search_text", counting_text)
    monkeypatch.setattr(msgmod, "header_values", counting_headers)
    messages = mailbox()[:1]
    found = await run(
        'TEXT "lunch" TEXT "noon" NOT TEXT "zebra" BODY "meet" BODY "noon" '
        'SUBJECT "plans" HEADER "subject" "lunch" FROM "alice"',
        messages,
    )
    assert found == [3]
    assert sorted(calls, key=str) == sorted(
        [("text", True), ("text", False), ("header", "subject"), ("header", "from")], key=str
    )


# -- needed() ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "want"),
    [
        ("ALL", Want.META),
        ("SEEN UNFLAGGED KEYWORD $x LARGER 5 SMALLER 9", Want.META),
        ("ON 1-Jan-2024 BEFORE 1-Jan-2024 SINCE 1-Jan-2024", Want.META),
        ("1:* UID 3:4 $ NOT OR RECENT NEW", Want.META),
        ("SENTON 1-Jan-2024", Want.STRUCTURE),
        ("NOT SENTBEFORE 1-Jan-2024", Want.STRUCTURE),
        ('FROM "x"', Want.STRUCTURE | Want.BODY),
        ('HEADER "X-Spam" ""', Want.STRUCTURE | Want.BODY),
        ('OR SEEN BODY "x"', Want.STRUCTURE | Want.BODY),
        ('SEEN (NOT (TEXT "x"))', Want.STRUCTURE | Want.BODY),
    ],
)
def test_needed(criteria: str, want: Want) -> None:
    assert S.needed(key_of(criteria)) == want


# -- extension keys and errors -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ModSeqKey(SearchKey):
    """A stand-in for CONDSTORE's ``MODSEQ n``."""

    modseq: int

    def write(self, w: WireWriter) -> None:
        w.raw(f"MODSEQ {self.modseq}".encode())


@dataclass(frozen=True, slots=True, kw_only=True)
class EitherKey(SearchKey):
    """An extension key that nests others: matches when exactly one of them does."""

    left: SearchKey
    right: SearchKey

    def write(self, w: WireWriter) -> None:
        w.raw(b"XOR")


class XorEvaluator:
    def want(self, key: EitherKey, planner: S.SearchPlanner) -> Want:
        return planner.want(key.left) | planner.want(key.right)

    def cost(self, key: EitherKey, planner: S.SearchPlanner) -> int:
        return max(planner.cost(key.left), planner.cost(key.right))

    async def __call__(self, key: EitherKey, message: MessageData, ctx: S.SearchContext) -> bool:
        return await ctx.matches(key.left, message) != await ctx.matches(key.right, message)


def _modseq_at_least(key: ModSeqKey, m: MessageData, ctx: S.SearchContext) -> bool:
    return m.modseq >= key.modseq


@pytest.mark.anyio
async def test_extension_keys() -> None:
    evaluators = S.default_evaluators()
    evaluators.register(ModSeqKey, S.LeafEvaluator(match=_modseq_at_least))
    evaluators.register(EitherKey, XorEvaluator())
    messages = [message(u, modseq=u * 10, flags=["\\Seen"] if u % 2 else []) for u in (1, 2, 3, 4)]
    modseq = ModSeqKey(modseq=25)
    assert await run(modseq, messages, evaluators=evaluators) == [3, 4]
    assert await run(~modseq & SearchCriteria.seen(), messages, evaluators=evaluators) == [1]
    xor = EitherKey(left=modseq, right=SearchCriteria.seen())
    assert await run(xor, messages, evaluators=evaluators) == [1, 4]
    assert S.needed(xor, evaluators=evaluators) is Want.META
    xor_text = EitherKey(left=modseq, right=SearchCriteria.body("x"))
    assert S.needed(xor_text, evaluators=evaluators) == Want.STRUCTURE | Want.BODY
    # The default registry is a fresh value each time: registering changed only this one.
    assert ModSeqKey not in S.default_evaluators().evaluators
    copy = evaluators.copy()
    copy.evaluators.clear()
    assert ModSeqKey in evaluators.evaluators


@pytest.mark.anyio
async def test_async_leaf_evaluator_and_subclass_lookup() -> None:
    class LoudSeen(SearchSimple):
        pass

    async def slow_seen(key: SearchSimple, m: MessageData, ctx: S.SearchContext) -> bool:
        await anyio.lowlevel.checkpoint()
        return "\\Seen" in m.flags

    messages = [message(1, flags=["\\Seen"]), message(2)]
    # A subclass of a base key uses its base class's evaluator...
    assert await run(LoudSeen(name="SEEN"), messages) == [1]
    # ...until it gets its own, which may be async and still combines with the others.
    evaluators = S.default_evaluators()
    evaluators.register(LoudSeen, S.LeafEvaluator(match=slow_seen))
    key = LoudSeen(name="whatever")
    assert await run(key, messages, evaluators=evaluators) == [1]
    assert await run(~key, messages, evaluators=evaluators) == [2]
    assert await run(key | ~key, messages, evaluators=evaluators) == [1, 2]
    assert await run(key & ~key, messages, evaluators=evaluators) == []
    assert await run(key & SearchCriteria.all(), messages, evaluators=evaluators) == [1]


@pytest.mark.anyio
async def test_override_a_base_key() -> None:
    # An application may back BODY with its own index, say.
    def indexed(key: SearchText, m: MessageData, ctx: S.SearchContext) -> bool:
        return m.uid == 2

    evaluators = S.default_evaluators()
    evaluators.register(SearchText, S.LeafEvaluator(match=indexed, expense=S.Cost.META))
    assert await run('BODY "x"', [message(1), message(2)], evaluators=evaluators) == [2]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "key",
    [
        ModSeqKey(modseq=1),
        SearchNot(key=ModSeqKey(modseq=1)),
        SearchOr(left=SearchCriteria.seen(), right=ModSeqKey(modseq=1)),
        SearchSimple(name="BOGUS"),
        SearchText(name="BOGUS", value="x"),
        SearchDate(name="BOGUS", date=dt.date(2024, 1, 1)),
        SearchSize(name="BOGUS", size=1),
        SearchKeyword(name="BOGUS", keyword="x"),
    ],
)
async def test_unsupported_keys_fail_before_any_work(key: SearchKey) -> None:
    with pytest.raises(S.UnsupportedSearchKey) as info:
        S.needed(key)
    assert info.value.code is not None
    assert "CANNOT" in str(info.value.code)
    with pytest.raises(S.UnsupportedSearchKey):
        await run(key, [])  # even with no message to test


@pytest.mark.anyio
async def test_missing_data_is_an_error() -> None:
    with pytest.raises(ValueError, match="STRUCTURE"):
        await run("SENTON 1-Jan-2024", [message(1)])
    with pytest.raises(ValueError, match="BODY"):
        await run('HEADER "X" ""', [message(1)])


# -- bounded work ------------------------------------------------------------------------------


def _counting(evaluators: S.SearchEvaluators, calls: list[int]) -> S.SearchEvaluators:
    """Count leaf tests: wrap the SearchSimple evaluator."""
    inner = evaluators.lookup(SearchCriteria.seen())

    def counted(key: SearchSimple, m: MessageData, ctx: S.SearchContext) -> S.MatchResult:
        calls.append(m.uid)
        return inner(key, m, ctx)

    evaluators.register(SearchSimple, S.LeafEvaluator(match=counted))
    return evaluators


@pytest.mark.anyio
async def test_deep_trees_cost_linear_time() -> None:
    messages = [message(u, flags=["\\Seen"] if u % 3 else []) for u in range(1, 201)]
    # 127 NOTs (the parser's depth limit) around one key: one leaf test per message.
    deep_not = key_of("NOT " * 127 + "SEEN")
    calls: list[int] = []
    found = await run(deep_not, messages, evaluators=_counting(S.default_evaluators(), calls))
    assert found == [u for u in range(1, 201) if u % 3 == 0]  # odd number of NOTs
    assert len(calls) == len(messages)
    # A left-deep OR chain of 64 leaves: at most one test per leaf and message.
    chain: SearchKey = SearchCriteria.flagged()
    for _ in range(63):
        chain = SearchOr(left=chain, right=SearchCriteria.answered())
    calls.clear()
    found = await run(chain, messages, evaluators=_counting(S.default_evaluators(), calls))
    assert found == []
    assert len(calls) == 64 * len(messages)
    # Nested groups 100 deep, built programmatically (deeper than the wire allows).
    nested: SearchKey = SearchCriteria.unseen()
    for _ in range(100):
        nested = SearchAnd(keys=(SearchCriteria.all(), nested))
    calls.clear()
    found = await run(nested, messages, evaluators=_counting(S.default_evaluators(), calls))
    assert found == [u for u in range(1, 201) if u % 3 == 0]
    assert len(calls) == 101 * len(messages)


@pytest.mark.anyio
async def test_large_mailbox_yields_and_finishes() -> None:
    messages = [message(u, flags=["\\Seen"] if u % 2 else []) for u in range(1, 5001)]
    with anyio.fail_after(10):
        found = await run("UNSEEN 2:* UID 1:4000", messages)
    assert found == list(range(2, 4001, 2))


# -- properties ----------------------------------------------------------------------------------

FLAG_POOL = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "$Junk", "$junk", "Work")
DAY0 = dt.date(2024, 3, 1)
ZONES = [dt.timezone(dt.timedelta(minutes=m)) for m in (-720, -330, 0, 60, 540, 840)]


@dataclass(frozen=True)
class World:
    messages: list[MessageData]
    scope: S.SearchScope


@st.composite
def worlds(draw: st.DrawFn) -> World:
    uids = sorted(draw(st.sets(st.integers(1, 40), max_size=12)))
    # Some UIDs of the view are already expunged from the store (left out of `messages`).
    gone = set(draw(st.sets(st.sampled_from(uids), max_size=3))) if uids else set()
    messages = [
        message(
            u,
            flags=draw(st.lists(st.sampled_from(FLAG_POOL), max_size=4, unique=True)),
            size=draw(st.integers(0, 12)),
            internal=dt.datetime.combine(
                DAY0 + dt.timedelta(days=draw(st.integers(0, 4))),
                dt.time(draw(st.integers(0, 23)), draw(st.integers(0, 59))),
                tzinfo=draw(st.sampled_from(ZONES)),
            ),
            modseq=draw(st.integers(1, 9)),
        )
        for u in uids
        if u not in gone
    ]
    saved = draw(st.none() | st.frozensets(st.integers(1, 45), max_size=6))
    recent = draw(st.frozensets(st.sampled_from(uids), max_size=4)) if uids else frozenset()
    return World(messages, S.SearchScope(uids=uids, saved=saved, recent=recent))


numbers = st.integers(1, 45) | st.just(STAR)
sequence_sets = st.just(SequenceSet.saved()) | st.builds(
    lambda ranges: SequenceSet(ranges=tuple(ranges)),
    st.lists(st.tuples(numbers, numbers), min_size=1, max_size=4),
)
days = st.integers(-1, 5).map(lambda n: DAY0 + dt.timedelta(days=n))

leaf_keys: st.SearchStrategy[SearchKey] = st.one_of(
    st.sampled_from(
        [
            SearchSimple(name=n)
            for n in (
                *("ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT"),
                *("SEEN", "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN"),
            )
        ]
    ),
    st.builds(
        lambda n, k: SearchKeyword(name=n, keyword=k),
        st.sampled_from(["KEYWORD", "UNKEYWORD"]),
        st.sampled_from(["$Junk", "$JUNK", "work", "Work", "Other"]),
    ),
    st.builds(
        lambda n, s: SearchSize(name=n, size=s),
        st.sampled_from(["LARGER", "SMALLER"]),
        st.integers(0, 13),
    ),
    st.builds(
        lambda n, d: SearchDate(name=n, date=d), st.sampled_from(["BEFORE", "ON", "SINCE"]), days
    ),
    st.builds(lambda s: SearchSequence(sequence_set=s), sequence_sets),
    st.builds(lambda s: SearchUid(sequence_set=s), sequence_sets),
)
keys: st.SearchStrategy[SearchKey] = st.recursive(
    leaf_keys,
    lambda inner: st.one_of(
        st.builds(lambda k: SearchNot(key=k), inner),
        st.builds(lambda a, b: SearchOr(left=a, right=b), inner, inner),
        st.builds(lambda ks: SearchAnd(keys=tuple(ks)), st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=12,
)


def model_set(s: SequenceSet, scope: S.SearchScope, *, uid: bool) -> set[int]:
    """The RFC's words, by brute force: every number of every range, one by one."""
    view = list(scope.uids)
    if s.is_saved:
        return set(scope.saved or ()) & set(view)
    if not view:
        return set()
    largest = view[-1] if uid else len(view)
    named: set[int] = set()
    for a, b in s.ranges:
        a, b = (largest if a == STAR else a), (largest if b == STAR else b)
        named.update(range(min(a, b), max(a, b) + 1))
    if uid:
        return named & set(view)
    return {view[n - 1] for n in named if 1 <= n <= len(view)}


def model(key: SearchKey, m: MessageData, scope: S.SearchScope) -> bool:
    """A naive evaluator written straight from RFC 9051 / RFC 3501 section 6.4.4."""
    recent = m.uid in scope.recent
    match key:
        case SearchSimple(name=name):
            if name == "ALL":
                return True
            if name == "RECENT":
                return recent
            if name == "OLD":
                return not recent
            if name == "NEW":
                return recent and "\\Seen" not in m.flags
            negated = name.startswith("UN")
            flag = "\\" + name.removeprefix("UN").capitalize()
            return (flag in m.flags) != negated
        case SearchKeyword(name=name, keyword=kw):
            has = kw.lower() in {f.lower() for f in m.flags}
            return has if name == "KEYWORD" else not has
        case SearchSize(name=name, size=size):
            return m.size > size if name == "LARGER" else m.size < size
        case SearchDate(name=name, date=day):
            local_day = m.internal_date.date()
            return {"BEFORE": local_day < day, "ON": local_day == day, "SINCE": local_day >= day}[
                name
            ]
        case SearchSequence(sequence_set=s):
            return m.uid in model_set(s, scope, uid=False)
        case SearchUid(sequence_set=s):
            return m.uid in model_set(s, scope, uid=True)
        case SearchNot(key=k):
            return not model(k, m, scope)
        case SearchOr(left=a, right=b):
            return model(a, m, scope) or model(b, m, scope)
        case SearchAnd(keys=ks):
            return all(model(k, m, scope) for k in ks)
    raise AssertionError(key)


def found(key: SearchKey, world: World) -> list[int]:
    result: list[int] = anyio.run(S.search, key, world.messages, world.scope)
    return result


@settings(max_examples=200, deadline=None)
@given(worlds(), keys)
def test_search_agrees_with_the_model(world: World, key: SearchKey) -> None:
    expected = [m.uid for m in world.messages if model(key, m, world.scope)]
    assert found(key, world) == expected
    assert S.needed(key) is Want.META


@settings(max_examples=100, deadline=None)
@given(worlds(), keys, keys)
def test_boolean_algebra(world: World, a: SearchKey, b: SearchKey) -> None:
    every = {m.uid for m in world.messages}
    in_a, in_b = set(found(a, world)), set(found(b, world))
    assert set(found(SearchNot(key=a), world)) == every - in_a
    assert set(found(SearchOr(left=a, right=b), world)) == in_a | in_b
    assert set(found(SearchAnd(keys=(a, b)), world)) == in_a & in_b
    assert found(SearchAnd(keys=(a, b)), world) == found(SearchAnd(keys=(b, a)), world)


views = st.builds(
    lambda uids, saved: S.SearchScope(uids=sorted(uids), saved=saved),
    st.sets(st.integers(1, 40), max_size=15),
    st.none() | st.frozensets(st.integers(1, 45), max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(views, sequence_sets, st.booleans())
def test_resolve_agrees_with_the_model(view: S.SearchScope, s: SequenceSet, uid: bool) -> None:
    assert S.resolve_sequence_set(s, view, uid=uid) == sorted(model_set(s, view, uid=uid))


@settings(max_examples=100, deadline=None)
@given(worlds(), keys)
def test_wire_round_trip_evaluates_the_same(world: World, key: SearchKey) -> None:
    # What a client writes and the server parses back is searched the same way.
    assert found(key_of(wire(key)), world) == found(key, world)


@settings(max_examples=60, deadline=None)
@given(
    # No combining marks: NFC could merge a needle's last letter with the mark after it.
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Mn", "Mc", "Me")),
        min_size=1,
        max_size=30,
    ),
    st.data(),
)
def test_any_substring_of_the_body_is_found(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    needle = text[start:end]
    assume(S.fold_text(needle) in S.fold_text(text))  # Hangul jamo also compose under NFC
    raw = raw_message(
        "From: a@example.org",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        body=_b64(text.encode()) + "\r\n",
    )
    messages = [message(1, raw=raw)]
    for variant in {needle, needle.upper(), needle.lower(), needle.title()}:
        # Case variants that fold alike must be found (dotless i upper-cases to I: it does not).
        if S.fold_text(variant) == S.fold_text(needle):
            key = SearchText(name="BODY", value=variant)
            assert anyio.run(S.search, key, messages, scope_of(messages)) == [1], variant


def _b64(data: bytes) -> str:
    import base64

    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def test_fold_text() -> None:
    assert S.fold_text("Straße") == "strasse"
    assert S.fold_text("E\u0301") == "\u00e9"
    assert S.fold_text("ПРИВЕТ") == "привет"
    assert S.fold_text("ascii ONLY") == "ascii only"
