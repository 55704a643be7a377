"""Transcript tests across connections: IDLE (RFC 2177, RFC 9051 6.3.13) and the untagged
updates one session's changes cause in another (RFC 9051 7.4-7.5: EXISTS, EXPUNGE, FETCH;
RECENT for IMAP4rev1 only; UID in every unsolicited FETCH for IMAP4rev2, appendix E
item 21), including the rule that EXPUNGE waits while FETCH, STORE or SEARCH run (7.5.1).

Each exchange waits for the update it caused before the next change, so that one poll
never merges two changes (which would be valid too, but numbered differently).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import pytest

from imap_server.memory import MemoryStore
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_server.testing.transcript import login_steps, play, select_steps

if TYPE_CHECKING:
    from conftest import Connect

pytestmark = pytest.mark.anyio

LOGIN = login_steps()
SELECT = select_steps()
SELECT_REV2 = select_steps(rev2=True)
APPEND = """
    C: {tag} APPEND INBOX {{12+}}
    C: Subject: x
    C:
    S: ...
    S: {tag} OK [APPENDUID ...] APPEND completed
"""


# -- IDLE on one connection -----------------------------------------------------------------------


async def test_idle_and_done(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {LOGIN}
        C: a1 IDLE
        S: + idling
        C: DONE
        S: a1 OK IDLE completed
        C: a2 SELECT INBOX
        S: ...
        S: a2 OK [READ-WRITE] SELECT completed
        C: a3 IDLE
        S: + idling
        C: done
        S: a3 OK IDLE completed
        C: a4 NOOP
        S: a4 OK NOOP completed
        """,
    )


async def test_idle_ended_by_something_else_than_done(seeded: RunningServer) -> None:
    # Anything but DONE ends the IDLE with BAD (as Dovecot does); the next line is a
    # command again.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 IDLE
        S: + idling
        C: DONEX
        S: a1 BAD expected DONE
        C: a2 IDLE
        S: + idling
        C: a3 NOOP
        S: a2 BAD expected DONE
        C: a4 IDLE
        S: + idling
        C: {{4}}
        S: a4 BAD ...
        C: a5 NOOP
        S: a5 OK NOOP completed
        """,
    )


async def test_idle_before_login_is_bad(seeded: RunningServer) -> None:
    await play(
        seeded,
        """
        S: * OK ...
        C: a1 IDLE
        S: a1 BAD IDLE is not valid in the not authenticated state
        """,
    )


async def test_idle_timeout(store: MemoryStore) -> None:
    # RFC 2177: the server MAY log out a client idling too long.
    async with serve_for_tests(store, idle_timeout=0.2) as running:
        await play(
            running,
            f"""
            {SELECT}
            C: a1 IDLE
            S: + idling
            S: * BYE Autologout; idle for too long
            S: <closed>
            """,
        )


async def test_client_gone_during_idle(
    seeded: RunningServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="imap_server")
    async with connect(seeded) as a:
        await a.play(f"{SELECT}\nC: a1 IDLE\nS: + idling")
    # The server noticed and goes on serving others, without logging an error.
    await play(seeded, f"{SELECT}\nC: b1 NOOP\nS: b1 OK NOOP completed")
    with anyio.fail_after(5):
        while seeded.server.connections:
            await anyio.sleep(0.01)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- updates from a second connection -------------------------------------------------------------


async def test_idle_receives_updates_rev1(seeded: RunningServer, connect: Connect) -> None:
    async with connect(seeded) as idler, connect(seeded) as other:
        await idler.play(f"{SELECT}\nC: a1 IDLE\nS: + idling")
        await other.play(SELECT)
        await other.play("C: b1 STORE 1 +FLAGS.SILENT (\\Flagged)\nS: b1 OK STORE completed")
        await idler.play("S: * 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent \\Seen))")
        await other.play(APPEND.format(tag="b2"))
        # \Recent goes to whichever session sees the message first.
        await idler.play("S: * 5 EXISTS\nS: * ... RECENT")
        await other.play("C: b3 EXPUNGE\nS: * 3 EXPUNGE\nS: b3 OK EXPUNGE completed")
        # The expunged message was recent to the idler: the count changed (RFC 3501 7.3.2).
        await idler.play("S: * 3 EXPUNGE\nS: * ... RECENT")
        await idler.play(
            """
            C: DONE
            S: a1 OK IDLE completed
            C: a2 FETCH 1:* UID
            S: * 1 FETCH (UID 1)
            S: * 2 FETCH (UID 2)
            S: * 3 FETCH (UID 4)
            S: * 4 FETCH (UID 5)
            S: a2 OK FETCH completed
            """
        )


async def test_idle_receives_updates_rev2(seeded: RunningServer, connect: Connect) -> None:
    # RFC 9051: no RECENT, no \Recent; every unsolicited FETCH includes UID.
    async with connect(seeded) as idler, connect(seeded) as other:
        await idler.play(f"{SELECT_REV2}\nC: a1 IDLE\nS: + idling")
        await other.play(SELECT)
        await other.play("C: b1 STORE 2 -FLAGS.SILENT ($Work)\nS: b1 OK STORE completed")
        await idler.play("S: * 2 FETCH (UID 2 FLAGS (\\Answered \\Flagged))")
        await other.play(APPEND.format(tag="b2"))
        await idler.play("S: * 5 EXISTS")
        await other.play("C: b3 EXPUNGE\nS: * 3 EXPUNGE\nS: b3 OK EXPUNGE completed")
        await idler.play(
            """
            S: * 3 EXPUNGE
            C: DONE
            S: a1 OK IDLE completed
            C: a2 NOOP
            S: a2 OK NOOP completed
            """
        )


async def test_changes_made_before_idle_are_sent_when_it_starts(
    seeded: RunningServer, connect: Connect
) -> None:
    async with connect(seeded) as idler, connect(seeded) as other:
        await idler.play(SELECT)
        await other.play(SELECT)
        await other.play("C: b1 STORE 4 +FLAGS.SILENT (\\Seen)\nS: b1 OK STORE completed")
        await idler.play(
            """
            C: a1 IDLE
            S: + idling
            S: * 4 FETCH (UID 4 FLAGS (\\Draft \\Recent \\Seen))
            C: DONE
            S: a1 OK IDLE completed
            """
        )


async def test_updates_arrive_with_the_next_command(
    seeded: RunningServer, connect: Connect
) -> None:
    async with connect(seeded) as first, connect(seeded) as other:
        await first.play(SELECT)
        await other.play(SELECT)
        await other.play(APPEND.format(tag="b1"))
        await first.play(
            """
            C: a1 NOOP
            S: * 5 EXISTS
            S: * ... RECENT
            S: a1 OK NOOP completed
            """
        )
        await other.play("C: b2 STORE 2 +FLAGS.SILENT (\\Seen)\nS: b2 OK STORE completed")
        await first.play(
            """
            C: a2 CHECK
            S: * 2 FETCH (UID 2 FLAGS ($Work \\Answered \\Flagged \\Recent \\Seen))
            S: a2 OK CHECK completed
            """
        )
        await other.play("C: b3 EXPUNGE\nS: * 3 EXPUNGE\nS: b3 OK EXPUNGE completed")
        await first.play(
            """
            C: a3 NOOP
            S: * 3 EXPUNGE
            S: * ... RECENT
            S: a3 OK NOOP completed
            C: a4 NOOP
            S: a4 OK NOOP completed
            """
        )


async def test_expunge_waits_during_fetch_store_search(
    seeded: RunningServer, connect: Connect
) -> None:
    # RFC 9051 7.5.1: no EXPUNGE during FETCH, STORE or SEARCH (numbers must not move under
    # them); UID commands and NOOP may report it. The message's number stays valid meanwhile.
    async with connect(seeded) as first, connect(seeded) as other:
        await first.play(SELECT)
        await other.play(SELECT)
        await other.play(
            """
            C: b1 STORE 2 +FLAGS.SILENT (\\Deleted)
            S: b1 OK STORE completed
            C: b2 EXPUNGE
            S: ...
            S: b2 OK EXPUNGE completed
            """
        )
        await first.play(
            """
            C: a1 FETCH 4 UID
            S: * 4 FETCH (UID 4)
            S: a1 OK FETCH completed
            C: a2 STORE 4 +FLAGS (\\Answered)
            S: * 4 FETCH (FLAGS (\\Answered \\Draft \\Recent))
            S: a2 OK STORE completed
            C: a3 SEARCH ALL
            S: * SEARCH 1 4
            S: a3 OK SEARCH completed
            C: a4 FETCH 2 UID
            S: a4 OK [EXPUNGEISSUED] ...
            C: a5 NOOP
            S: * 3 EXPUNGE
            S: * 2 EXPUNGE
            S: * 2 RECENT
            S: a5 OK NOOP completed
            C: a6 FETCH 1:* UID
            S: * 1 FETCH (UID 1)
            S: * 2 FETCH (UID 4)
            S: a6 OK FETCH completed
            """
        )


async def test_uid_command_may_report_expunge(seeded: RunningServer, connect: Connect) -> None:
    async with connect(seeded) as first, connect(seeded) as other:
        await first.play(SELECT)
        await other.play(SELECT)
        await other.play("C: b1 EXPUNGE\nS: * 3 EXPUNGE\nS: b1 OK EXPUNGE completed")
        await first.play(
            """
            C: a1 UID FETCH 4 UID
            S: * 4 FETCH (UID 4)
            S: * 3 EXPUNGE
            S: * 3 RECENT
            S: a1 OK UID FETCH completed
            """
        )


async def test_selected_mailbox_deleted_by_another_session(
    seeded: RunningServer, connect: Connect
) -> None:
    # Nothing can go on in a mailbox that is gone: BYE (as Dovecot does).
    async with connect(seeded) as first, connect(seeded) as idler, connect(seeded) as other:
        await other.play(
            f"""
            {LOGIN}
            C: b1 CREATE One
            S: b1 OK CREATE completed
            C: b2 CREATE Two
            S: b2 OK CREATE completed
            """
        )
        await first.play(f"{LOGIN}\nC: a1 SELECT One\nS: ...\nS: a1 OK [READ-WRITE] ...")
        await idler.play(
            f"{LOGIN}\nC: i1 SELECT Two\nS: ...\nS: i1 OK [READ-WRITE] ...\nC: i2 IDLE\nS: + idling"
        )
        await other.play("C: b3 DELETE One\nS: b3 OK DELETE completed")
        await other.play("C: b4 DELETE Two\nS: b4 OK DELETE completed")
        await idler.play("S: * BYE Selected mailbox was deleted\nS: i2 NO ...\nS: <closed>")
        await first.play(
            """
            C: a2 NOOP
            S: * BYE Selected mailbox was deleted
            S: a2 NO ...
            S: <closed>
            """
        )


async def test_examine_session_sees_changes(seeded: RunningServer, connect: Connect) -> None:
    async with connect(seeded) as reader, connect(seeded) as writer:
        await reader.play(f"{LOGIN}\nC: a1 EXAMINE INBOX\nS: ...\nS: a1 OK [READ-ONLY] ...")
        await writer.play(SELECT)
        await writer.play("C: b1 STORE 1 -FLAGS.SILENT (\\Seen)\nS: b1 OK STORE completed")
        await reader.play(
            """
            C: a2 NOOP
            S: * 1 FETCH (UID 1 FLAGS (\\Recent))
            S: a2 OK NOOP completed
            """
        )


async def test_new_keyword_from_another_session_redefines_flags(
    seeded: RunningServer, connect: Connect
) -> None:
    # RFC 9051 7.3.5: FLAGS again when the defined flags change, before the FETCH using them.
    async with connect(seeded) as idler, connect(seeded) as other:
        await idler.play(f"{SELECT}\nC: a1 IDLE\nS: + idling")
        await other.play(f"{SELECT}\nC: b1 STORE 1 +FLAGS ($Brand-New)\nS: ...\nS: b1 OK ...")
        await idler.play(
            """
            S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Brand-New $Work)
            S: * OK [PERMANENTFLAGS (... $Brand-New $Work \\*)] Flags permitted
            S: * 1 FETCH (UID 1 FLAGS (...$Brand-New...))
            C: DONE
            S: a1 OK IDLE completed
            """
        )
