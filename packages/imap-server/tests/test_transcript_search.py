"""Transcript tests: SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4), ESEARCH (RFC 4731) and
SEARCHRES (RFC 5182), in IMAP4rev1 (``* SEARCH`` unless RETURN is given) and IMAP4rev2
(always ``* ESEARCH``).

The ``seeded`` INBOX (see ``conftest.MESSAGES``), all four messages \\Recent to the session:

1. Alice -> Bob, "Hello world", sent and received 1 Jan 2020, 178 octets, \\Seen
2. Carol -> bob, Cc Dave, "Meeting agenda", 15 Jun 2021, 240 octets, \\Answered
   \\Flagged $Work, In-Reply-To <m1@example.org>
3. Erin -> bob, Bcc audit, "Quarterly report", sent 10 Mar 2022 16:00 -0500 (received
   10 Mar 21:00 UTC), multipart, 429 octets, \\Seen \\Deleted
4. Bob -> Alice, "Draft of the plan", 5 May 2023, 1039 octets, \\Draft
"""

from __future__ import annotations

import pytest

from imap_server.testing.harness import RunningServer
from imap_server.testing.transcript import login_steps, play, select_steps

pytestmark = pytest.mark.anyio

LOGIN = login_steps()
SELECT = select_steps()
SELECT_REV2 = select_steps(rev2=True)

KEYS = [
    ("ALL", "1 2 3 4"),
    ("ANSWERED", "2"),
    ("BCC audit", "3"),
    ("BEFORE 1-Jan-2021", "1"),
    ("BODY plan", "2 4"),
    ("BODY PLAN", "2 4"),
    ("CC dave", "2"),
    ("DELETED", "3"),
    ("DRAFT", "4"),
    ("FLAGGED", "2"),
    ("FROM carol", "2"),
    ("FROM example.org", "1 2 3 4"),
    ("HEADER Message-ID m3", "3"),
    ('HEADER In-Reply-To ""', "2"),
    ("HEADER X-Missing x", ""),
    ("KEYWORD $work", "2"),
    ("KEYWORD $Other", ""),
    ("LARGER 500", "4"),
    ("NEW", "2 4"),
    ("NOT SEEN", "2 4"),
    ("OLD", ""),
    ("ON 15-Jun-2021", "2"),
    ("ON 10-Mar-2022", "3"),
    ("OR FROM alice FROM erin", "1 3"),
    ("OR OR DRAFT DELETED ANSWERED", "2 3 4"),
    ("RECENT", "1 2 3 4"),
    ("SEEN", "1 3"),
    ("SENTBEFORE 1-Jan-2021", "1"),
    ("SENTON 10-Mar-2022", "3"),
    ("SENTSINCE 1-Jan-2022", "3 4"),
    ("SINCE 1-Jan-2022", "3 4"),
    ("SINCE 11-Mar-2022", "4"),
    ("SMALLER 200", "1"),
    ("SUBJECT agenda", "2"),
    ("SUBJECT AGENDA", "2"),
    ("TEXT Bob", "1 2 3 4"),
    ("TEXT attached", "3"),
    ("TO alice", "4"),
    ("UID 2:3", "2 3"),
    ("UID 3,9", "3"),
    ("UNANSWERED", "1 3 4"),
    ("UNDELETED", "1 2 4"),
    ("UNDRAFT", "1 2 3"),
    ("UNFLAGGED", "1 3 4"),
    ("UNKEYWORD $Work", "1 3 4"),
    ("UNSEEN", "2 4"),
    ("2:*", "2 3 4"),
    ("1,3", "1 3"),
    ("*", "4"),
    ("9", ""),
    ("(SEEN DELETED)", "3"),
    ("SEEN DELETED", "3"),
    ("NOT (SEEN DELETED)", "1 2 4"),
    ("UNSEEN NOT DRAFT", "2"),
    ("CHARSET UTF-8 SUBJECT hello", "1"),
    ("CHARSET US-ASCII SUBJECT hello", "1"),
]


@pytest.mark.parametrize(("criteria", "expected"), KEYS, ids=[k for k, _ in KEYS])
async def test_search_key(seeded: RunningServer, criteria: str, expected: str) -> None:
    result = f"* SEARCH {expected}" if expected else "* SEARCH"
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH {criteria}
        S: {result}
        S: a1 OK SEARCH completed
        """,
    )


async def test_uid_search(seeded: RunningServer) -> None:
    # UID SEARCH returns UIDs; after an expunge numbers and UIDs differ.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 EXPUNGE
        S: * 3 EXPUNGE
        S: * 3 RECENT
        S: a1 OK EXPUNGE completed
        C: a2 UID SEARCH ALL
        S: * SEARCH 1 2 4
        S: a2 OK UID SEARCH completed
        C: a3 SEARCH ALL
        S: * SEARCH 1 2 3
        S: a3 OK SEARCH completed
        C: a4 UID SEARCH 3
        S: * SEARCH 4
        S: a4 OK UID SEARCH completed
        C: a5 SEARCH UID 4
        S: * SEARCH 3
        S: a5 OK SEARCH completed
        """,
    )


async def test_search_with_literal_argument(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH SUBJECT {{5}}
        S: + Ready for literal data
        C: hello
        S: * SEARCH 1
        S: a1 OK SEARCH completed
        C: a2 SEARCH CHARSET UTF-8 TEXT {{9+}}
        C: Quarterly
        S: * SEARCH 3
        S: a2 OK SEARCH completed
        """,
    )


async def test_search_errors(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH CHARSET KOI8-R SUBJECT hello
        S: a1 NO [BADCHARSET...] ...
        C: a2 SEARCH FOO
        S: a2 BAD unknown search key FOO
        C: a3 SEARCH
        S: a3 BAD missing search criteria
        C: a4 SEARCH ON 32-Jan-2020
        S: a4 BAD invalid date
        C: a5 SEARCH KEYWORD \\Seen
        S: a5 BAD ...
        C: a6 SEARCH LARGER x
        S: a6 BAD ...
        C: a7 SEARCH OR SEEN
        S: a7 BAD ...
        C: a8 SEARCH (SEEN
        S: a8 BAD ...
        C: a9 SEARCH RETURN (FOO) ALL
        S: a9 BAD unknown SEARCH return option FOO
        C: b1 SEARCH SEEN
        S: * SEARCH 1 3
        S: b1 OK SEARCH completed
        """,
    )


# -- ESEARCH (RFC 4731) ----------------------------------------------------------------------------


async def test_esearch_return_options(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH RETURN (MIN MAX COUNT) UNSEEN
        S: * ESEARCH (TAG "a1") MIN 2 MAX 4 COUNT 2
        S: a1 OK SEARCH completed
        C: a2 SEARCH RETURN (ALL) ALL
        S: * ESEARCH (TAG "a2") ALL 1:4
        S: a2 OK SEARCH completed
        C: a3 SEARCH RETURN () OR SEEN DRAFT
        S: * ESEARCH (TAG "a3") ALL 1,3:4
        S: a3 OK SEARCH completed
        C: a4 UID SEARCH RETURN (COUNT) ALL
        S: * ESEARCH (TAG "a4") UID COUNT 4
        S: a4 OK UID SEARCH completed
        C: a5 SEARCH RETURN (COUNT) SUBJECT nothing
        S: * ESEARCH (TAG "a5") COUNT 0
        S: a5 OK SEARCH completed
        C: a6 SEARCH RETURN (MIN MAX ALL) SUBJECT nothing
        S: * ESEARCH (TAG "a6")
        S: a6 OK SEARCH completed
        C: a7 UID SEARCH RETURN (MIN MAX) UID 2:4
        S: * ESEARCH (TAG "a7") UID MIN 2 MAX 4
        S: a7 OK UID SEARCH completed
        """,
    )


async def test_rev2_search_answers_esearch(seeded: RunningServer) -> None:
    # RFC 9051 6.4.4 and appendix E item 4: SEARCH without RETURN is RETURN (ALL), answered
    # with ESEARCH; no match: no ALL.
    await play(
        seeded,
        f"""
        {SELECT_REV2}
        C: a1 SEARCH UNSEEN
        S: * ESEARCH (TAG "a1") ALL 2,4
        S: a1 OK SEARCH completed
        C: a2 UID SEARCH SEEN
        S: * ESEARCH (TAG "a2") UID ALL 1,3
        S: a2 OK UID SEARCH completed
        C: a3 SEARCH SUBJECT nothing
        S: * ESEARCH (TAG "a3")
        S: a3 OK SEARCH completed
        C: a4 SEARCH RETURN (COUNT) ALL
        S: * ESEARCH (TAG "a4") COUNT 4
        S: a4 OK SEARCH completed
        C: a5 SEARCH 2:3
        S: * ESEARCH (TAG "a5") ALL 2:3
        S: a5 OK SEARCH completed
        C: a6 UID SEARCH RETURN (SAVE) DRAFT
        S: a6 OK UID SEARCH completed
        C: a7 SEARCH $
        S: * ESEARCH (TAG "a7") ALL 4
        S: a7 OK SEARCH completed
        """,
    )


# -- SEARCHRES (RFC 5182) --------------------------------------------------------------------------


async def test_save_and_use_result(seeded: RunningServer) -> None:
    # SAVE alone returns nothing (RFC 5182 section 1); "$" then works in FETCH, STORE, SEARCH,
    # COPY.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH RETURN (SAVE) SEEN
        S: a1 OK SEARCH completed
        C: a2 FETCH $ UID
        S: * 1 FETCH (UID 1)
        S: * 3 FETCH (UID 3)
        S: a2 OK FETCH completed
        C: a3 SEARCH $
        S: * SEARCH 1 3
        S: a3 OK SEARCH completed
        C: a4 SEARCH OR $ 2 NOT $
        S: * SEARCH 2
        S: a4 OK SEARCH completed
        C: a5 STORE $ +FLAGS.SILENT ($Saved)
        S: * FLAGS (...)
        S: * OK [PERMANENTFLAGS (...)] Flags permitted
        S: a5 OK STORE completed
        C: a6 SEARCH KEYWORD $Saved
        S: * SEARCH 1 3
        S: a6 OK SEARCH completed
        C: a7 CREATE Copies
        S: a7 OK CREATE completed
        C: a8 UID COPY $ Copies
        S: a8 OK [COPYUID ... 1,3 1:2] COPY completed
        C: a9 UID FETCH $ UID
        S: * 1 FETCH (UID 1)
        S: * 3 FETCH (UID 3)
        S: a9 OK UID FETCH completed
        """,
    )


async def test_save_with_other_return_options(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH RETURN (SAVE ALL) FLAGGED
        S: * ESEARCH (TAG "a1") ALL 2
        S: a1 OK SEARCH completed
        C: a2 SEARCH $
        S: * SEARCH 2
        S: a2 OK SEARCH completed
        C: a3 UID SEARCH RETURN (SAVE COUNT) UNDELETED
        S: * ESEARCH (TAG "a3") UID COUNT 3
        S: a3 OK UID SEARCH completed
        C: a4 SEARCH $
        S: * SEARCH 1 2 4
        S: a4 OK SEARCH completed
        """,
    )


@pytest.mark.parametrize(
    ("options", "response", "saved"),
    [
        ("SAVE MIN", "MIN 2", "2"),
        ("SAVE MAX", "MAX 4", "4"),
        ("SAVE MIN MAX", "MIN 2 MAX 4", "2 4"),
        ("SAVE MIN COUNT", "MIN 2 COUNT 2", "2 4"),
        ("SAVE MAX ALL", "MAX 4 ALL 2,4", "2 4"),
    ],
)
async def test_save_with_min_max(
    seeded: RunningServer, options: str, response: str, saved: str
) -> None:
    # RFC 5182 2.4: with MIN and/or MAX but neither ALL nor COUNT, "$" holds only the
    # message(s) MIN / MAX return.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH RETURN ({options}) UNSEEN
        S: * ESEARCH (TAG "a1") {response}
        S: a1 OK SEARCH completed
        C: a2 SEARCH $
        S: * SEARCH {saved}
        S: a2 OK SEARCH completed
        """,
    )


async def test_saved_result_is_empty_before_save_and_after_reselect(seeded: RunningServer) -> None:
    # RFC 5182 2.1: "$" starts empty and is reset when a mailbox is selected.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH $
        S: * SEARCH
        S: a1 OK SEARCH completed
        C: a2 FETCH $ UID
        S: a2 OK FETCH completed
        C: a3 SEARCH RETURN (SAVE) ALL
        S: a3 OK SEARCH completed
        C: a4 SELECT INBOX
        S: ...
        S: a4 OK [READ-WRITE] SELECT completed
        C: a5 SEARCH $
        S: * SEARCH
        S: a5 OK SEARCH completed
        """,
    )


async def test_saved_result_follows_expunges(seeded: RunningServer) -> None:
    # RFC 5182 2.1: an expunged message leaves "$".
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH RETURN (SAVE) SEEN
        S: a1 OK SEARCH completed
        C: a2 EXPUNGE
        S: * 3 EXPUNGE
        S: * 3 RECENT
        S: a2 OK EXPUNGE completed
        C: a3 SEARCH $
        S: * SEARCH 1
        S: a3 OK SEARCH completed
        """,
    )


async def test_bad_search_with_save_keeps_result(seeded: RunningServer) -> None:
    # RFC 5182 2.1: a SEARCH answered BAD does not change "$".
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH RETURN (SAVE) SEEN
        S: a1 OK SEARCH completed
        C: a2 SEARCH RETURN (SAVE) FOO
        S: a2 BAD ...
        C: a3 SEARCH $
        S: * SEARCH 1 3
        S: a3 OK SEARCH completed
        """,
    )


@pytest.mark.xfail(
    strict=True,
    reason="imap_wire answers an unknown CHARSET with NO [BADCHARSET] while parsing, so the "
    "session never sees the SEARCH and cannot empty $ as RFC 5182 2.1 requires",
)
async def test_failed_search_with_save_empties_result(seeded: RunningServer) -> None:
    # RFC 5182 2.1: a SEARCH with SAVE that fails with NO sets "$" to the empty list.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 SEARCH RETURN (SAVE) SEEN
        S: a1 OK SEARCH completed
        C: a2 SEARCH RETURN (SAVE) CHARSET KOI8-R SUBJECT x
        S: a2 NO [BADCHARSET...] ...
        C: a3 SEARCH $
        S: * SEARCH
        S: a3 OK SEARCH completed
        """,
    )
