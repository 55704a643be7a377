"""Transcript tests: COPY (RFC 9051 6.4.7), MOVE (RFC 6851, RFC 9051 6.4.8) and their UID
forms, with COPYUID (RFC 4315) and TRYCREATE.

The ``seeded`` INBOX holds four messages: 1 \\Seen, 2 \\Answered \\Flagged $Work,
3 \\Seen \\Deleted, 4 \\Draft; UIDs 1 to 4.
"""

from __future__ import annotations

import pytest

from imap_server.testing.harness import RunningServer
from imap_server.testing.transcript import play

pytestmark = pytest.mark.anyio

LOGIN = """
    S: * OK [CAPABILITY IMAP4rev1 ...] IMAP server ready
    C: L1 LOGIN user pass
    S: L1 OK [CAPABILITY IMAP4rev1 ...] Logged in
    C: L2 CREATE Dest
    S: L2 OK CREATE completed
"""
#: INTERNALDATE of the sample messages, by UID.
DATE = {
    1: '" 1-Jan-2020 10:00:00 +0000"',
    2: '"15-Jun-2021 07:30:00 +0000"',
    3: '"10-Mar-2022 21:00:00 +0000"',
    4: '" 5-May-2023 12:00:00 +0000"',
}
SELECT = (
    LOGIN
    + """
    C: L3 SELECT INBOX
    S: ...
    S: L3 OK [READ-WRITE] SELECT completed
"""
)
EXAMINE = (
    LOGIN
    + """
    C: L3 EXAMINE INBOX
    S: ...
    S: L3 OK [READ-ONLY] EXAMINE completed
"""
)
SELECT_REV2 = (
    LOGIN
    + """
    C: L3 ENABLE IMAP4rev2
    S: * ENABLED IMAP4rev2
    S: L3 OK ENABLE completed
    C: L4 SELECT INBOX
    S: ...
    S: L4 OK [READ-WRITE] SELECT completed
"""
)


# -- COPY ------------------------------------------------------------------------------------------


async def test_copy(seeded: RunningServer) -> None:
    # COPYUID: destination UIDVALIDITY, source UIDs, destination UIDs (RFC 4315 3). Flags
    # and internal dates travel with the messages (RFC 9051 6.4.7); copies are \Recent.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 COPY 1:2 Dest
        S: a1 OK [COPYUID ... 1:2 1:2] COPY completed
        C: a2 UID COPY 3:4 Dest
        S: a2 OK [COPYUID ... 3:4 3:4] COPY completed
        C: a3 COPY 4,1 Dest
        S: a3 OK [COPYUID ... 1,4 5:6] COPY completed
        C: a4 FETCH 1:* UID
        S: * 1 FETCH (UID 1)
        S: ...
        S: a4 OK FETCH completed
        C: a5 EXAMINE Dest
        S: * OK [CLOSED] Previous mailbox is now closed
        S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)
        S: * 6 EXISTS
        S: * 6 RECENT
        S: ...
        S: a5 OK [READ-ONLY] EXAMINE completed
        C: a6 FETCH 1:* (UID FLAGS INTERNALDATE)
        S: * 1 FETCH (UID 1 FLAGS (\\Recent \\Seen) INTERNALDATE {DATE[1]})
        S: * 2 FETCH (UID 2 FLAGS (\\Answered \\Flagged \\Recent $Work) INTERNALDATE {DATE[2]})
        S: * 3 FETCH (UID 3 FLAGS (\\Deleted \\Recent \\Seen) INTERNALDATE {DATE[3]})
        S: * 4 FETCH (UID 4 FLAGS (\\Draft \\Recent) INTERNALDATE {DATE[4]})
        S: * 5 FETCH (UID 5 FLAGS (\\Recent \\Seen) INTERNALDATE {DATE[1]})
        S: * 6 FETCH (UID 6 FLAGS (\\Draft \\Recent) INTERNALDATE {DATE[4]})
        S: a6 OK FETCH completed
        """,
    )


async def test_copyuid_names_the_destination_uidvalidity(seeded: RunningServer) -> None:
    lines = await play(
        seeded,
        f"""
        {SELECT}
        C: a1 COPY 2 Dest
        S: a1 OK [COPYUID ... 2 1] COPY completed
        C: a2 STATUS Dest (UIDVALIDITY)
        S: * STATUS Dest (UIDVALIDITY ...)
        S: a2 OK STATUS completed
        """,
    )
    copyuid = next(line for line in lines if line.startswith("a1 OK"))
    status = next(line for line in lines if line.startswith("* STATUS"))
    assert copyuid.split()[3] == status.split()[-1].rstrip(")")


async def test_copy_into_selected_mailbox_reports_exists(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 COPY 1 INBOX
        S: * 5 EXISTS
        S: * 5 RECENT
        S: a1 OK [COPYUID ... 1 5] COPY completed
        """,
    )


async def test_copy_from_examined_mailbox(seeded: RunningServer) -> None:
    # COPY only reads the source: allowed read-only.
    await play(
        seeded,
        f"""
        {EXAMINE}
        C: a1 COPY 1 Dest
        S: a1 OK [COPYUID ... 1 1] COPY completed
        C: a2 STATUS Dest (MESSAGES)
        S: * STATUS Dest (MESSAGES 1)
        S: a2 OK STATUS completed
        """,
    )


async def test_copy_errors(seeded: RunningServer) -> None:
    # RFC 9051 6.4.7: a missing destination is NO [TRYCREATE] and is not created; a
    # sequence number beyond the mailbox is BAD; UIDs that do not exist copy nothing.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 COPY 1 Missing
        S: a1 NO [TRYCREATE] no such mailbox
        C: a2 UID COPY 1 Missing
        S: a2 NO [TRYCREATE] no such mailbox
        C: a3 COPY 7 Dest
        S: a3 BAD invalid message sequence number
        C: a4 UID COPY 99 Dest
        S: a4 OK COPY completed
        C: a5 COPY 1
        S: a5 BAD ...
        C: a6 COPY x Dest
        S: a6 BAD ...
        C: a7 LIST "" Missing
        S: a7 OK LIST completed
        C: a8 STATUS Dest (MESSAGES)
        S: * STATUS Dest (MESSAGES 0)
        S: a8 OK STATUS completed
        """,
    )


# -- MOVE ------------------------------------------------------------------------------------------


async def test_move(seeded: RunningServer) -> None:
    # RFC 6851 3.3: COPYUID in an untagged OK before the EXPUNGEs (RFC 9051 6.4.8); in
    # IMAP4rev1, RECENT after them, as the mailbox's size changed (RFC 3501 7.3.2).
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 MOVE 2 Dest
        S: * OK [COPYUID ... 2 1] Moved
        S: * 2 EXPUNGE
        S: * 3 RECENT
        S: a1 OK MOVE completed
        C: a2 MOVE 1:2 Dest
        S: * OK [COPYUID ... 1,3 2:3] Moved
        S: * 2 EXPUNGE
        S: * 1 EXPUNGE
        S: * 1 RECENT
        S: a2 OK MOVE completed
        C: a3 FETCH 1:* UID
        S: * 1 FETCH (UID 4)
        S: a3 OK FETCH completed
        C: a4 STATUS Dest (MESSAGES DELETED)
        S: * STATUS Dest (MESSAGES 3 DELETED 1)
        S: a4 OK STATUS completed
        """,
    )


async def test_uid_move(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 UID MOVE 3:4 Dest
        S: * OK [COPYUID ... 3:4 1:2] Moved
        S: * 4 EXPUNGE
        S: * 3 EXPUNGE
        S: * 2 RECENT
        S: a1 OK UID MOVE completed
        C: a2 UID MOVE 99 Dest
        S: a2 OK UID MOVE completed
        C: a3 UID MOVE 1:* Dest
        S: * OK [COPYUID ... 1:2 3:4] Moved
        S: * 2 EXPUNGE
        S: * 1 EXPUNGE
        S: * 0 RECENT
        S: a3 OK UID MOVE completed
        C: a4 STATUS INBOX (MESSAGES)
        S: * STATUS INBOX (MESSAGES 0)
        S: a4 OK STATUS completed
        """,
    )


async def test_move_in_rev2(seeded: RunningServer) -> None:
    # RFC 9051 appendix E item 7: COPYUID for MOVE and UID MOVE alike.
    await play(
        seeded,
        f"""
        {SELECT_REV2}
        C: a1 MOVE 1 Dest
        S: * OK [COPYUID ... 1 1] Moved
        S: * 1 EXPUNGE
        S: a1 OK MOVE completed
        """,
    )


async def test_move_errors(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 MOVE 1 Missing
        S: a1 NO [TRYCREATE] no such mailbox
        C: a2 MOVE 9 Dest
        S: a2 BAD invalid message sequence number
        C: a3 MOVE 1
        S: a3 BAD ...
        C: a4 FETCH 1:* UID
        S: * 1 FETCH (UID 1)
        S: * 2 FETCH (UID 2)
        S: * 3 FETCH (UID 3)
        S: * 4 FETCH (UID 4)
        S: a4 OK FETCH completed
        """,
    )


async def test_move_from_examined_mailbox_is_refused(seeded: RunningServer) -> None:
    # MOVE expunges from the source: not in a read-only mailbox.
    await play(
        seeded,
        f"""
        {EXAMINE}
        C: a1 MOVE 1 Dest
        S: a1 NO [READ-ONLY] ...
        C: a2 UID MOVE 1 Dest
        S: a2 NO [READ-ONLY] ...
        C: a3 STATUS Dest (MESSAGES)
        S: * STATUS Dest (MESSAGES 0)
        S: a3 OK STATUS completed
        """,
    )
