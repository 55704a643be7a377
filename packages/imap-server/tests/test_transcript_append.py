"""Transcript tests: APPEND (RFC 9051 6.3.12) with flags, internal date, synchronizing and
non-synchronizing literals (RFC 7888), binary literals (RFC 3516), TRYCREATE, APPENDUID
(RFC 4315), and the limits of the store (TOOBIG, OVERQUOTA: RFC 5530)."""

from __future__ import annotations

import pytest

from imap_server.memory import MemoryStore
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_server.testing.transcript import login_steps, play

pytestmark = pytest.mark.anyio

LOGIN = login_steps()
#: A small message, one transcript line per message line (each sent with its CRLF).
MESSAGE_LINES = ("Subject: test", "To: a@b.c", "", "body")
MESSAGE = "\n".join(f"C: {line}" for line in MESSAGE_LINES)
MESSAGE_SIZE = sum(len(line) + 2 for line in MESSAGE_LINES)
DATE = '"07-Feb-1994 21:52:25 -0800"'
DATE_OUT = '" 7-Feb-1994 21:52:25 -0800"'
#: The command's own CRLF after the literal.
END = "C:"


class FastLimitedStore(MemoryStore):
    scrypt_n = 2**4


async def test_append_with_synchronizing_literal(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 APPEND INBOX {{{MESSAGE_SIZE}}}
        S: + Ready for literal data
        {MESSAGE}
        {END}
        S: a1 OK [APPENDUID ... 1] APPEND completed
        C: a2 SELECT INBOX
        S: ...
        S: a2 OK [READ-WRITE] SELECT completed
        C: a3 FETCH 1 (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Subject)])
        S: * 1 FETCH (RFC822.SIZE {MESSAGE_SIZE} BODY[HEADER.FIELDS (Subject)] {{17}}
        S: Subject: test
        S:
        S: )
        S: a3 OK FETCH completed
        """,
    )


async def test_append_with_non_synchronizing_literal(server: RunningServer) -> None:
    # RFC 7888 (LITERAL+): no continuation request; the octets follow at once.
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 APPEND INBOX {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a1 OK [APPENDUID ... 1] APPEND completed
        C: a2 APPEND INBOX {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a2 OK [APPENDUID ... 2] APPEND completed
        """,
    )


async def test_append_with_binary_literal(server: RunningServer) -> None:
    # RFC 3516 4.4 (BINARY is advertised): APPEND accepts literal8.
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 APPEND INBOX ~{{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a1 OK [APPENDUID ... 1] APPEND completed
        """,
    )


async def test_append_uid_validity_matches_select(server: RunningServer) -> None:
    # RFC 4315: APPENDUID carries the destination's UIDVALIDITY and the new UID.
    lines = await play(
        server,
        f"""
        {LOGIN}
        C: a1 APPEND INBOX {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a1 OK [APPENDUID ... 1] APPEND completed
        C: a2 EXAMINE INBOX
        S: ...
        S: * OK [UIDVALIDITY ...] UIDs valid
        S: * OK [UIDNEXT 2] Predicted next UID
        S: a2 OK [READ-ONLY] EXAMINE completed
        """,
    )
    appended = next(line for line in lines if line.startswith("a1 OK"))
    validity = next(line for line in lines if "[UIDVALIDITY" in line)
    assert appended.split()[3] == validity.split()[3].rstrip("]")


async def test_append_flags_and_internal_date(server: RunningServer) -> None:
    # RFC 9051 date-time: a day of two digits in, a space-padded day out.
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 APPEND INBOX (\\Seen \\Flagged $Label) {DATE} {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a1 OK [APPENDUID ... 1] APPEND completed
        C: a2 APPEND INBOX () " 7-Feb-1994 01:02:03 +0100" {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a2 OK [APPENDUID ... 2] APPEND completed
        C: a3 APPEND INBOX {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a3 OK [APPENDUID ... 3] APPEND completed
        C: a4 SELECT INBOX
        S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label)
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 2] First unseen: 2
        S: * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label \\*)] ...
        S: * OK [UIDVALIDITY ...] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: a4 OK [READ-WRITE] SELECT completed
        C: a5 FETCH 1:* (FLAGS INTERNALDATE)
        S: * 1 FETCH (FLAGS (\\Flagged \\Recent \\Seen $Label) INTERNALDATE {DATE_OUT})
        S: * 2 FETCH (FLAGS (\\Recent) INTERNALDATE " 7-Feb-1994 01:02:03 +0100")
        S: * 3 FETCH (FLAGS (\\Recent) INTERNALDATE "...")
        S: a5 OK FETCH completed
        """,
    )


async def test_append_recent_flag_is_ignored(server: RunningServer) -> None:
    # \Recent cannot be set by a client (RFC 3501 2.3.2); the message is recent anyway.
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 APPEND INBOX (\\Recent \\seen) {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a1 OK [APPENDUID ... 1] APPEND completed
        C: a2 SELECT INBOX
        S: ...
        S: a2 OK [READ-WRITE] SELECT completed
        C: a3 FETCH 1 FLAGS
        S: * 1 FETCH (FLAGS (\\Recent \\Seen))
        S: a3 OK FETCH completed
        """,
    )


async def test_append_to_selected_mailbox_reports_exists(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 SELECT INBOX
        S: ...
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 APPEND INBOX {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: * 1 EXISTS
        S: * 1 RECENT
        S: a2 OK [APPENDUID ... 1] APPEND completed
        C: a3 APPEND inbox {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: * 2 EXISTS
        S: * 2 RECENT
        S: a3 OK [APPENDUID ... 2] APPEND completed
        """,
    )


async def test_append_to_other_mailbox_while_selected(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 CREATE Other
        S: a1 OK CREATE completed
        C: a2 SELECT INBOX
        S: ...
        S: a2 OK [READ-WRITE] SELECT completed
        C: a3 APPEND Other {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a3 OK [APPENDUID ... 1] APPEND completed
        C: a4 NOOP
        S: a4 OK NOOP completed
        """,
    )


async def test_append_to_missing_mailbox_is_trycreate(server: RunningServer) -> None:
    # RFC 9051 6.3.12: NO [TRYCREATE] when the mailbox does not exist (and is not created).
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 APPEND Missing {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a1 NO [TRYCREATE] no such mailbox
        C: a2 APPEND Missing/Deeper {{{MESSAGE_SIZE}}}
        S: + ...
        {MESSAGE}
        {END}
        S: a2 NO [TRYCREATE] no such mailbox
        C: a3 LIST "" *
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: a3 OK LIST completed
        """,
    )


async def test_append_malformed(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 APPEND INBOX (\\Bogus) {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a1 BAD \\Bogus is not a system flag
        C: a2 APPEND INBOX "32-Feb-1994 21:52:25 +0100" {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a2 BAD invalid date-time
        C: a3 APPEND INBOX "07-Feb-1994" {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a3 BAD invalid date-time
        C: a4 APPEND INBOX (\\Seen {{{MESSAGE_SIZE}+}}
        {MESSAGE}
        {END}
        S: a4 BAD ...
        C: a5 APPEND INBOX {{0+}}
        {END}
        S: a5 BAD empty message
        C: a6 APPEND INBOX
        S: a6 BAD ...
        C: a8 APPEND INBOX UTF8 (~{{{MESSAGE_SIZE}+}}
        {MESSAGE}
        C: )
        S: a8 BAD ...
        C: a9 LIST "" *
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: a9 OK LIST completed
        C: b1 STATUS INBOX (MESSAGES)
        S: * STATUS INBOX (MESSAGES 0)
        S: b1 OK STATUS completed
        """,
    )


@pytest.mark.xfail(
    strict=True,
    reason="imap_wire tokenizes quoted strings and literals alike (bytes), so APPEND takes a "
    "quoted string as the message; RFC 9051 grammar: append = ... SP literal",
)
async def test_append_message_must_be_a_literal(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {LOGIN}
        C: a1 APPEND INBOX "Subject: not a literal"
        S: a1 BAD ...
        """,
    )


async def test_append_too_big(anyio_backend: str) -> None:
    store = FastLimitedStore(max_message_size=20)
    store.add_user("user", "pass")
    async with serve_for_tests(store) as running:
        await play(
            running,
            f"""
            {LOGIN}
            C: a1 APPEND INBOX {{{MESSAGE_SIZE}+}}
            {MESSAGE}
            {END}
            S: a1 NO [TOOBIG] ...
            C: a2 APPEND INBOX {{12+}}
            C: Subject: x
            {END}
            S: a2 OK [APPENDUID ... 1] APPEND completed
            """,
        )


async def test_append_over_quota(anyio_backend: str) -> None:
    store = FastLimitedStore(quota_bytes=50)
    store.add_user("user", "pass")
    async with serve_for_tests(store) as running:
        await play(
            running,
            f"""
            {LOGIN}
            C: a1 APPEND INBOX {{{MESSAGE_SIZE}+}}
            {MESSAGE}
            {END}
            S: a1 OK [APPENDUID ... 1] APPEND completed
            C: a2 APPEND INBOX {{{MESSAGE_SIZE}+}}
            {MESSAGE}
            {END}
            S: a2 NO [OVERQUOTA] ...
            C: a3 STATUS INBOX (MESSAGES)
            S: * STATUS INBOX (MESSAGES 1)
            S: a3 OK STATUS completed
            """,
        )
