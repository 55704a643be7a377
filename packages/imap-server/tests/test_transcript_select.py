"""Transcript tests: SELECT and EXAMINE (RFC 9051 6.3.2-6.3.3, RFC 3501 6.3.1-6.3.2), and
leaving or cleaning a mailbox: CLOSE, UNSELECT (RFC 3691), EXPUNGE, UID EXPUNGE (RFC 4315),
CHECK (RFC 3501 6.4.1).

The ``seeded`` INBOX holds four messages: 1 \\Seen, 2 \\Answered \\Flagged $Work,
3 \\Seen \\Deleted, 4 \\Draft.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from imap_server.testing.harness import RunningServer
from imap_server.testing.transcript import login_steps, play

if TYPE_CHECKING:
    from conftest import Connect

pytestmark = pytest.mark.anyio

LOGIN = login_steps()
LOGIN_REV2 = login_steps(rev2=True)
FLAGS = "\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work"
SELECTED_REV1 = f"""
    S: * FLAGS ({FLAGS})
    S: * 4 EXISTS
    S: * 4 RECENT
    S: * OK [UNSEEN 2] First unseen: 2
    S: * OK [PERMANENTFLAGS ({FLAGS} \\*)] Flags permitted
    S: * OK [UIDVALIDITY ...] UIDs valid
    S: * OK [UIDNEXT 5] Predicted next UID
"""


# -- SELECT / EXAMINE -----------------------------------------------------------------------------


async def test_select_rev1(seeded: RunningServer) -> None:
    # RFC 3501 6.3.1: FLAGS, EXISTS, RECENT, UNSEEN (first unseen), PERMANENTFLAGS,
    # UIDVALIDITY, UIDNEXT; [READ-WRITE].
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        {SELECTED_REV1}
        S: a1 OK [READ-WRITE] SELECT completed
        """,
    )


async def test_select_empty_mailbox(server: RunningServer) -> None:
    # No UNSEEN when no message is unseen (RFC 3501 6.3.1 sends it only if there is one).
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
        S: * 0 EXISTS
        S: * 0 RECENT
        S: * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ...
        S: * OK [UIDVALIDITY ...] UIDs valid
        S: * OK [UIDNEXT 1] Predicted next UID
        S: a1 OK [READ-WRITE] SELECT completed
        """,
    )


async def test_select_rev2(seeded: RunningServer) -> None:
    # RFC 9051 6.3.2: FLAGS, EXISTS, LIST, PERMANENTFLAGS, UIDNEXT, UIDVALIDITY; no RECENT
    # and no UNSEEN (appendix E items 11 and 12).
    await play(
        seeded,
        f"""
        {LOGIN_REV2}
        C: a1 SELECT INBOX
        S: * FLAGS ({FLAGS})
        S: * 4 EXISTS
        S: * OK [PERMANENTFLAGS ({FLAGS} \\*)] Flags permitted
        S: * OK [UIDVALIDITY ...] UIDs valid
        S: * OK [UIDNEXT 5] Predicted next UID
        S: * LIST () "/" INBOX
        S: a1 OK [READ-WRITE] SELECT completed
        """,
    )


async def test_examine_rev1_and_rev2(seeded: RunningServer) -> None:
    # RFC 9051 6.3.3: EXAMINE is read-only: [READ-ONLY], no permanent flags.
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 EXAMINE INBOX
        S: * FLAGS ({FLAGS})
        S: * 4 EXISTS
        S: * 4 RECENT
        S: * OK [UNSEEN 2] First unseen: 2
        S: * OK [PERMANENTFLAGS ()] No permanent flags
        S: * OK [UIDVALIDITY ...] UIDs valid
        S: * OK [UIDNEXT 5] Predicted next UID
        S: a1 OK [READ-ONLY] EXAMINE completed
        C: a2 UNSELECT
        S: a2 OK UNSELECT completed
        C: a3 ENABLE IMAP4rev2
        S: * ENABLED IMAP4rev2
        S: a3 OK ENABLE completed
        C: a4 EXAMINE INBOX
        S: * FLAGS ({FLAGS})
        S: * 4 EXISTS
        S: * OK [PERMANENTFLAGS ()] No permanent flags
        S: * OK [UIDVALIDITY ...] UIDs valid
        S: * OK [UIDNEXT 5] Predicted next UID
        S: * LIST () "/" INBOX
        S: a4 OK [READ-ONLY] EXAMINE completed
        """,
    )


@pytest.mark.parametrize("rev2", [False, True], ids=["rev1", "rev2"])
async def test_reselect_sends_closed_first(seeded: RunningServer, rev2: bool) -> None:
    # RFC 9051 6.3.2 (and RFC 7162 for rev1 clients, which ignore unknown codes): [CLOSED]
    # separates the old mailbox's responses from the new one's.
    await play(
        seeded,
        f"""
        {LOGIN_REV2 if rev2 else LOGIN}
        C: a1 CREATE Other
        S: a1 OK CREATE completed
        C: a2 SELECT INBOX
        S: ...
        S: a2 OK [READ-WRITE] SELECT completed
        C: a3 EXAMINE Other
        S: * OK [CLOSED] Previous mailbox is now closed
        S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
        S: * 0 EXISTS
        S: ...
        S: a3 OK [READ-ONLY] EXAMINE completed
        C: a4 SELECT INBOX
        S: * OK [CLOSED] Previous mailbox is now closed
        S: * FLAGS ({FLAGS})
        S: ...
        S: a4 OK [READ-WRITE] SELECT completed
        """,
    )


async def test_select_failure_leaves_no_mailbox_selected(seeded: RunningServer) -> None:
    # RFC 9051 6.3.2: a failed SELECT after a successful one leaves no mailbox selected.
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 SELECT Missing
        S: * OK [CLOSED] Previous mailbox is now closed
        S: a2 NO [NONEXISTENT] ...
        C: a3 FETCH 1 FLAGS
        S: a3 BAD FETCH is not valid in the authenticated state
        C: a4 EXAMINE Missing
        S: a4 NO [NONEXISTENT] ...
        """,
    )


async def test_select_noselect_and_malformed(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 CREATE Parent/Child
        S: a1 OK CREATE completed
        C: a2 DELETE Parent
        S: a2 OK DELETE completed
        C: a3 SELECT Parent
        S: a3 NO ...
        C: a4 SELECT INBOX (FOO)
        S: a4 BAD ...
        C: a5 SELECT INBOX extra
        S: a5 BAD ...
        C: a6 SELECT inbox
        S: ...
        S: a6 OK [READ-WRITE] SELECT completed
        """,
    )


async def test_recent_goes_to_the_first_session_only(
    seeded: RunningServer, connect: Connect
) -> None:
    # RFC 3501 2.3.2: a message is \Recent in one session only.
    async with connect(seeded) as first, connect(seeded) as second:
        for peer in (first, second):
            await peer.play(LOGIN)
        await first.play(
            f"""
            C: a1 SELECT INBOX
            {SELECTED_REV1}
            S: a1 OK [READ-WRITE] SELECT completed
            """
        )
        await second.play(
            """
            C: b1 SELECT INBOX
            S: * FLAGS (...)
            S: * 4 EXISTS
            S: * 0 RECENT
            S: ...
            S: b1 OK [READ-WRITE] SELECT completed
            C: b2 SEARCH RECENT
            S: * SEARCH
            S: b2 OK SEARCH completed
            C: b3 FETCH 1 FLAGS
            S: * 1 FETCH (FLAGS (\\Seen))
            S: b3 OK FETCH completed
            """
        )


# -- CLOSE, UNSELECT, EXPUNGE, CHECK --------------------------------------------------------------


async def test_close_expunges_silently(seeded: RunningServer) -> None:
    # RFC 9051 6.4.1: CLOSE removes \Deleted messages without EXPUNGE responses.
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 CLOSE
        S: a2 OK CLOSE completed
        C: a3 STATUS INBOX (MESSAGES DELETED)
        S: * STATUS INBOX (MESSAGES 3 DELETED 0)
        S: a3 OK STATUS completed
        C: a4 CLOSE
        S: a4 BAD CLOSE is not valid in the authenticated state
        """,
    )


async def test_close_after_examine_expunges_nothing(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 EXAMINE INBOX
        S: ...
        S: a1 OK [READ-ONLY] EXAMINE completed
        C: a2 CLOSE
        S: a2 OK CLOSE completed
        C: a3 STATUS INBOX (MESSAGES DELETED)
        S: * STATUS INBOX (MESSAGES 4 DELETED 1)
        S: a3 OK STATUS completed
        """,
    )


async def test_unselect_does_not_expunge(seeded: RunningServer) -> None:
    # RFC 3691 / RFC 9051 6.4.2.
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 UNSELECT
        S: a2 OK UNSELECT completed
        C: a3 STATUS INBOX (MESSAGES DELETED)
        S: * STATUS INBOX (MESSAGES 4 DELETED 1)
        S: a3 OK STATUS completed
        C: a4 UNSELECT
        S: a4 BAD UNSELECT is not valid in the authenticated state
        C: a5 CLOSE extra
        S: a5 BAD ...
        """,
    )


async def test_expunge(seeded: RunningServer) -> None:
    # RFC 9051 7.5.1: each EXPUNGE renumbers the messages after it; the server reports
    # the highest first so that every number is valid when sent. In IMAP4rev1, RECENT
    # follows when recent messages went: the mailbox's size changed (RFC 3501 7.3.2).
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 STORE 1 +FLAGS.SILENT (\\Deleted)
        S: a2 OK STORE completed
        C: a3 EXPUNGE
        S: * 3 EXPUNGE
        S: * 1 EXPUNGE
        S: * 2 RECENT
        S: a3 OK EXPUNGE completed
        C: a4 FETCH 1:* UID
        S: * 1 FETCH (UID 2)
        S: * 2 FETCH (UID 4)
        S: a4 OK FETCH completed
        C: a5 EXPUNGE
        S: a5 OK EXPUNGE completed
        C: a6 CHECK
        S: a6 OK CHECK completed
        """,
    )


async def test_uid_expunge(seeded: RunningServer) -> None:
    # RFC 4315 2.1: only the listed UIDs that are \Deleted go.
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 STORE 1 +FLAGS.SILENT (\\Deleted)
        S: a2 OK STORE completed
        C: a3 UID EXPUNGE 2:3
        S: * 3 EXPUNGE
        S: * 3 RECENT
        S: a3 OK UID EXPUNGE completed
        C: a4 UID EXPUNGE 99
        S: a4 OK UID EXPUNGE completed
        C: a5 UID EXPUNGE 1:*
        S: * 1 EXPUNGE
        S: * 2 RECENT
        S: a5 OK UID EXPUNGE completed
        C: a6 UID FETCH 1:* UID
        S: * 1 FETCH (UID 2)
        S: * 2 FETCH (UID 4)
        S: a6 OK UID FETCH completed
        C: a7 UID EXPUNGE
        S: a7 BAD ...
        C: a8 UID EXPUNGE x
        S: a8 BAD ...
        """,
    )


async def test_expunge_read_only(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 EXAMINE INBOX
        S: ...
        S: a1 OK [READ-ONLY] EXAMINE completed
        C: a2 EXPUNGE
        S: a2 NO [READ-ONLY] ...
        C: a3 UID EXPUNGE 3
        S: a3 NO [READ-ONLY] ...
        C: a4 FETCH 3 UID
        S: * 3 FETCH (UID 3)
        S: a4 OK FETCH completed
        """,
    )


async def test_expunge_in_rev2(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {LOGIN_REV2}
        C: a1 SELECT INBOX
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 EXPUNGE
        S: * 3 EXPUNGE
        S: a2 OK EXPUNGE completed
        C: a3 NOOP
        S: a3 OK NOOP completed
        """,
    )
