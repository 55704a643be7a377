"""Transcript tests: FETCH (RFC 9051 6.4.5, RFC 3501 6.4.5, BINARY from RFC 3516) and STORE
(RFC 9051 6.4.6), with their UID forms (6.4.9).

The ``seeded`` INBOX holds four messages (see ``conftest.MESSAGES``):

1. Alice -> Bob, "Hello world", text/plain, 178 octets, \\Seen
2. Carol -> bob, Cc Dave, "Meeting agenda", 240 octets, \\Answered \\Flagged $Work
3. Erin -> bob, Bcc audit, "Quarterly report", multipart/mixed (text/plain + base64
   application/octet-stream of 00 01 02 03 04), 429 octets, \\Seen \\Deleted
4. Bob -> Alice, "Draft of the plan", 1039 octets, \\Draft
"""

from __future__ import annotations

import pytest

from imap_server.testing.harness import RunningServer
from imap_server.testing.transcript import login_steps, play, select_steps

pytestmark = pytest.mark.anyio

LOGIN = login_steps()
SELECT = select_steps()
EXAMINE = select_steps(read_only=True)
SELECT_REV2 = select_steps(rev2=True)


def _address(name: str | None, mailbox: str) -> str:
    display = "NIL" if name is None else f'"{name}"'
    return f'(({display} NIL "{mailbox}" "example.org"))'


#: INTERNALDATE of the sample messages, by UID.
DATE = {
    1: 'INTERNALDATE " 1-Jan-2020 10:00:00 +0000"',
    2: 'INTERNALDATE "15-Jun-2021 07:30:00 +0000"',
    3: 'INTERNALDATE "10-Mar-2022 21:00:00 +0000"',
    4: 'INTERNALDATE " 5-May-2023 12:00:00 +0000"',
}
ALICE, CAROL, ERIN = (
    _address("Alice", "alice"),
    _address("Carol", "carol"),
    _address("Erin", "erin"),
)
ENVELOPE_1 = (
    f'("Wed, 01 Jan 2020 10:00:00 +0000" "Hello world" {ALICE} {ALICE} {ALICE} '
    f'{_address("Bob", "bob")} NIL NIL NIL "<m1@example.org>")'
)
ENVELOPE_2 = (
    f'("Tue, 15 Jun 2021 09:30:00 +0200" "Meeting agenda" {CAROL} {CAROL} {CAROL} '
    f'{_address(None, "bob")} {_address("Dave", "dave")} NIL "<m1@example.org>" '
    '"<m2@example.org>")'
)
ENVELOPE_3 = (
    f'("Thu, 10 Mar 2022 16:00:00 -0500" "Quarterly report" {ERIN} {ERIN} {ERIN} '
    f'{_address(None, "bob")} NIL {_address(None, "audit")} NIL "<m3@example.org>")'
)
#: What FAST returns for message 1 (and ALL and FULL begin with).
FAST_1 = f"FLAGS (\\Recent \\Seen) {DATE[1]} RFC822.SIZE 178"
BODY_1 = '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 25 1)'
BODYSTRUCTURE_1 = '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 25 1 NIL NIL NIL NIL)'
PART_3_1 = '"TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 24 1'
PART_3_2 = '"APPLICATION" "OCTET-STREAM" ("NAME" "r.bin") NIL NIL "BASE64" 8'
BODYSTRUCTURE_3 = (
    f'(({PART_3_1} NIL NIL NIL NIL)({PART_3_2} NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "XX") '
    "NIL NIL NIL)"
)
BODY_3 = f'(({PART_3_1})({PART_3_2}) "MIXED")'


# -- FETCH: message attributes --------------------------------------------------------------------


async def test_fetch_flags_uid_internaldate_size(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)
        S: * 1 FETCH (UID 1 FLAGS (\\Recent \\Seen) {DATE[1]} RFC822.SIZE 178)
        S: * 2 FETCH (UID 2 FLAGS (\\Answered \\Flagged \\Recent $Work) {DATE[2]} RFC822.SIZE 240)
        S: * 3 FETCH (UID 3 FLAGS (\\Deleted \\Recent \\Seen) {DATE[3]} RFC822.SIZE 429)
        S: * 4 FETCH (UID 4 FLAGS (\\Draft \\Recent) {DATE[4]} RFC822.SIZE 1039)
        S: a1 OK FETCH completed
        """,
    )


async def test_fetch_envelope(seeded: RunningServer) -> None:
    # RFC 9051 7.5.2: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
    # message-id; sender and reply-to default to from.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 1 ENVELOPE
        S: * 1 FETCH (ENVELOPE {ENVELOPE_1})
        S: a1 OK FETCH completed
        C: a2 FETCH 2:3 ENVELOPE
        S: * 2 FETCH (ENVELOPE {ENVELOPE_2})
        S: * 3 FETCH (ENVELOPE {ENVELOPE_3})
        S: a2 OK FETCH completed
        """,
    )


async def test_fetch_bodystructure_and_body(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 1 (BODYSTRUCTURE BODY)
        S: * 1 FETCH (BODYSTRUCTURE {BODYSTRUCTURE_1} BODY {BODY_1})
        S: a1 OK FETCH completed
        C: a2 FETCH 3 BODYSTRUCTURE
        S: * 3 FETCH (BODYSTRUCTURE {BODYSTRUCTURE_3})
        S: a2 OK FETCH completed
        C: a3 FETCH 3 BODY
        S: * 3 FETCH (BODY {BODY_3})
        S: a3 OK FETCH completed
        """,
    )


async def test_fetch_macros(seeded: RunningServer) -> None:
    # RFC 9051 6.4.5: ALL = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE; FAST = the first three;
    # FULL = ALL + BODY.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 1 FAST
        S: * 1 FETCH ({FAST_1})
        S: a1 OK FETCH completed
        C: a2 FETCH 1 ALL
        S: * 1 FETCH ({FAST_1} ENVELOPE {ENVELOPE_1})
        S: a2 OK FETCH completed
        C: a3 FETCH 1 FULL
        S: * 1 FETCH ({FAST_1} ENVELOPE {ENVELOPE_1} BODY {BODY_1})
        S: a3 OK FETCH completed
        C: a4 FETCH 1 (ALL)
        S: a4 BAD ...
        """,
    )


# -- FETCH: body sections --------------------------------------------------------------------------


async def test_fetch_body_sections(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 1 BODY.PEEK[]
        S: * 1 FETCH (BODY[] {{178}}
        S: From: Alice <alice@example.org>
        S: To: Bob <bob@example.org>
        S: Subject: Hello world
        S: Date: Wed, 01 Jan 2020 10:00:00 +0000
        S: Message-ID: <m1@example.org>
        S:
        S: Hello Bob, how are you?
        S: )
        S: a1 OK FETCH completed
        C: a2 FETCH 1 BODY.PEEK[HEADER]
        S: * 1 FETCH (BODY[HEADER] {{153}}
        S: From: Alice <alice@example.org>
        S: ...
        S: Message-ID: <m1@example.org>
        S:
        S: )
        S: a2 OK FETCH completed
        C: a3 FETCH 1 BODY.PEEK[TEXT]
        S: * 1 FETCH (BODY[TEXT] {{25}}
        S: Hello Bob, how are you?
        S: )
        S: a3 OK FETCH completed
        C: a4 FETCH 2 BODY.PEEK[HEADER.FIELDS (SUBJECT CC)]
        S: * 2 FETCH (BODY[HEADER.FIELDS (SUBJECT CC)] {{56}}
        S: Cc: Dave <dave@example.org>
        S: Subject: Meeting agenda
        S:
        S: )
        S: a4 OK FETCH completed
        C: a5 FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Date Message-ID)]
        S: * 1 FETCH (BODY[HEADER.FIELDS.NOT (From To Date Message-ID)] {{24}}
        S: Subject: Hello world
        S:
        S: )
        S: a5 OK FETCH completed
        C: a6 FETCH 1 BODY.PEEK[1]
        S: * 1 FETCH (BODY[1] {{25}}
        S: Hello Bob, how are you?
        S: )
        S: a6 OK FETCH completed
        """,
    )


async def test_fetch_multipart_sections(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 3 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2])
        S: * 3 FETCH (BODY[1] {{24}}
        S: See the attached report. BODY[1.MIME] {{43}}
        S: Content-Type: text/plain; charset=utf-8
        S:
        S:  BODY[2] {{8}}
        S: AAECAwQ=)
        S: a1 OK FETCH completed
        C: a2 FETCH 3 BODY.PEEK[2.MIME]
        S: * 3 FETCH (BODY[2.MIME] {{91}}
        S: Content-Type: application/octet-stream; name="r.bin"
        S: Content-Transfer-Encoding: base64
        S:
        S: )
        S: a2 OK FETCH completed
        # A part that does not exist, and HEADER / TEXT of a part that is no message: NIL.
        C: a3 FETCH 3 (BODY.PEEK[3] BODY.PEEK[1.TEXT])
        S: * 3 FETCH (BODY[3] NIL BODY[1.TEXT] NIL)
        S: a3 OK FETCH completed
        """,
    )


async def test_fetch_partial(seeded: RunningServer) -> None:
    # RFC 9051 6.4.5: <origin.length>; the response names the origin only; past the end
    # the data is empty.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 1 BODY.PEEK[]<0.10>
        S: * 1 FETCH (BODY[]<0> {{10}}
        S: From: Alic)
        S: a1 OK FETCH completed
        C: a2 FETCH 4 BODY.PEEK[TEXT]<860.100>
        S: * 4 FETCH (BODY[TEXT]<860> {{20}}
        S: e plan, in detail.
        S: )
        S: a2 OK FETCH completed
        C: a3 FETCH 1 BODY.PEEK[]<500.10>
        S: * 1 FETCH (BODY[]<500> {{0}}
        S: )
        S: a3 OK FETCH completed
        C: a4 FETCH 1 BINARY.PEEK[1]<6.3>
        S: * 1 FETCH (BINARY[1]<6> {{3}}
        S: Bob)
        S: a4 OK FETCH completed
        C: a5 FETCH 1 BODY.PEEK[]<0.0>
        S: a5 BAD ...
        """,
    )


async def test_fetch_binary(seeded: RunningServer) -> None:
    # RFC 3516 / RFC 9051 6.4.5: BINARY decodes the transfer encoding; NUL octets need a
    # literal8 (~{n}); BINARY.SIZE is the decoded size.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 3 (BINARY.SIZE[2] BINARY.SIZE[1])
        S: * 3 FETCH (BINARY.SIZE[2] 5 BINARY.SIZE[1] 24)
        S: a1 OK FETCH completed
        C: a2 FETCH 3 BINARY.PEEK[2]
        S: * 3 FETCH (BINARY[2] ~{{5}}
        S: \x00\x01\x02\x03\x04)
        S: a2 OK FETCH completed
        C: a3 FETCH 3 BINARY.PEEK[1]
        S: * 3 FETCH (BINARY[1] {{24}}
        S: See the attached report.)
        S: a3 OK FETCH completed
        C: a4 FETCH 1 (UID BINARY.SIZE[])
        S: * 1 FETCH (UID 1 BINARY.SIZE[] 178)
        S: a4 OK FETCH completed
        C: a5 FETCH 3 BINARY.PEEK[1.MIME]
        S: a5 BAD ...
        C: a6 FETCH 3 BINARY.PEEK[TEXT]
        S: a6 BAD ...
        """,
    )


async def test_fetch_binary_unknown_transfer_encoding(seeded: RunningServer) -> None:
    # RFC 3516 4.3 / RFC 9051 7.1: NO [UNKNOWN-CTE]; BODY[] still works.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 APPEND INBOX {{81+}}
        C: Subject: u
        C: Content-Transfer-Encoding: x-weird
        C: Content-Type: text/plain
        C:
        C: abc
        C:
        S: * 5 EXISTS
        S: * 5 RECENT
        S: a1 OK [APPENDUID ... 5] APPEND completed
        C: a2 FETCH 5 BINARY.PEEK[1]
        S: a2 NO [UNKNOWN-CTE] ...
        C: a3 FETCH 5 BINARY.SIZE[1]
        S: a3 NO [UNKNOWN-CTE] ...
        C: a4 FETCH 5 BODY.PEEK[1]
        S: * 5 FETCH (BODY[1] {{5}}
        S: abc
        S: )
        S: a4 OK FETCH completed
        """,
    )


async def test_fetch_rfc822_items(seeded: RunningServer) -> None:
    # RFC 3501 6.4.5: RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER], RFC822.TEXT =
    # BODY[TEXT]; RFC822 and RFC822.TEXT set \Seen.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 4 RFC822.HEADER
        S: * 4 FETCH (RFC822.HEADER {{159}}
        S: From: Bob <bob@example.org>
        S: ...
        S: )
        S: a1 OK FETCH completed
        C: a2 FETCH 4 FLAGS
        S: * 4 FETCH (FLAGS (\\Draft \\Recent))
        S: a2 OK FETCH completed
        C: a3 FETCH 2 RFC822.TEXT
        S: * 2 FETCH (FLAGS ($Work \\Answered \\Flagged \\Recent \\Seen) RFC822.TEXT {{30}}
        S: Agenda: budget and planning.
        S: )
        S: a3 OK FETCH completed
        C: a4 FETCH 4 RFC822
        S: * 4 FETCH (FLAGS (\\Draft \\Recent \\Seen) RFC822 {{1039}}
        S: From: Bob <bob@example.org>
        S: ...
        S: )
        S: a4 OK FETCH completed
        """,
    )


# -- FETCH: \Seen -------------------------------------------------------------------------------


async def test_fetch_body_sets_seen_and_reports_flags(seeded: RunningServer) -> None:
    # RFC 9051 6.4.5: BODY[...] sets \Seen; the server includes the new FLAGS.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 4 BODY[TEXT]<0.20>
        S: * 4 FETCH (FLAGS (\\Draft \\Recent \\Seen) BODY[TEXT]<0> {{20}}
        S: The plan, in detail.)
        S: a1 OK FETCH completed
        C: a2 FETCH 4 BODY[TEXT]<0.3>
        S: * 4 FETCH (BODY[TEXT]<0> {{3}}
        S: The)
        S: a2 OK FETCH completed
        C: a3 FETCH 2 BINARY[1]
        S: * 2 FETCH (FLAGS ($Work \\Answered \\Flagged \\Recent \\Seen) BINARY[1] {{30}}
        S: Agenda: budget and planning.
        S: )
        S: a3 OK FETCH completed
        """,
    )


async def test_fetch_peek_does_not_set_seen(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 4 (BODY.PEEK[TEXT]<0.3> BINARY.PEEK[1]<0.3> RFC822.HEADER BODYSTRUCTURE)
        S: * 4 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ...) BODY[TEXT]<0> {{3}}
        S: ...
        S: a1 OK FETCH completed
        C: a2 FETCH 4 FLAGS
        S: * 4 FETCH (FLAGS (\\Draft \\Recent))
        S: a2 OK FETCH completed
        C: a3 SEARCH UNSEEN
        S: * SEARCH 2 4
        S: a3 OK SEARCH completed
        """,
    )


async def test_fetch_in_examined_mailbox_does_not_set_seen(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {EXAMINE}
        C: a1 FETCH 4 BODY[TEXT]<0.3>
        S: * 4 FETCH (BODY[TEXT]<0> {{3}}
        S: The)
        S: a1 OK FETCH completed
        C: a2 FETCH 4 FLAGS
        S: * 4 FETCH (FLAGS (\\Draft \\Recent))
        S: a2 OK FETCH completed
        """,
    )


# -- FETCH: UID FETCH, sequence sets, errors ----------------------------------------------------


async def test_uid_fetch(seeded: RunningServer) -> None:
    # RFC 9051 6.4.9: UID FETCH always includes UID; UIDs not in the mailbox are skipped.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 UID FETCH 2:3 FLAGS
        S: * 2 FETCH (UID 2 FLAGS (\\Answered \\Flagged \\Recent $Work))
        S: * 3 FETCH (UID 3 FLAGS (\\Deleted \\Recent \\Seen))
        S: a1 OK UID FETCH completed
        C: a2 UID FETCH 9 FLAGS
        S: a2 OK UID FETCH completed
        C: a3 UID FETCH 4:* RFC822.SIZE
        S: * 4 FETCH (UID 4 RFC822.SIZE 1039)
        S: a3 OK UID FETCH completed
        C: a4 UID FETCH 9:* UID
        S: * 4 FETCH (UID 4)
        S: a4 OK UID FETCH completed
        """,
    )


async def test_fetch_sequence_sets(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH * UID
        S: * 4 FETCH (UID 4)
        S: a1 OK FETCH completed
        C: a2 FETCH 3:2 UID
        S: * 2 FETCH (UID 2)
        S: * 3 FETCH (UID 3)
        S: a2 OK FETCH completed
        C: a3 FETCH 1,3,4:* UID
        S: * 1 FETCH (UID 1)
        S: * 3 FETCH (UID 3)
        S: * 4 FETCH (UID 4)
        S: a3 OK FETCH completed
        """,
    )


async def test_fetch_invalid_sequence_numbers(seeded: RunningServer) -> None:
    # RFC 9051 (seq-number): BAD for a number beyond the mailbox's size.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 5 FLAGS
        S: a1 BAD invalid message sequence number
        C: a2 FETCH 2:9 FLAGS
        S: a2 BAD invalid message sequence number
        C: a3 FETCH 0 FLAGS
        S: a3 BAD ...
        C: a4 FETCH 1:0 FLAGS
        S: a4 BAD ...
        C: a5 FETCH -1 FLAGS
        S: a5 BAD ...
        C: a6 FETCH 1 FLAGS
        S: * 1 FETCH (FLAGS (\\Recent \\Seen))
        S: a6 OK FETCH completed
        """,
    )


async def test_fetch_in_empty_mailbox(server: RunningServer) -> None:
    # RFC 9051 (seq-number): '"*" if the selected mailbox is empty' is BAD too.
    await play(
        server,
        f"""
        {SELECT}
        C: a1 FETCH 1 FLAGS
        S: a1 BAD invalid message sequence number
        C: a2 FETCH * FLAGS
        S: a2 BAD invalid message sequence number
        C: a3 FETCH 1:* FLAGS
        S: a3 BAD invalid message sequence number
        C: a4 UID FETCH 1:* FLAGS
        S: a4 OK UID FETCH completed
        """,
    )


async def test_fetch_malformed(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 FETCH 1 (FOO)
        S: a1 BAD unknown FETCH attribute FOO
        C: a2 FETCH 1
        S: a2 BAD missing FETCH data items
        C: a3 FETCH 1 BODY[0]
        S: a3 BAD ...
        C: a4 FETCH 1 BODY[MIME]
        S: a4 BAD ...
        C: a5 FETCH 1 BODY[HEADER.FIELDS ()]
        S: a5 BAD ...
        C: a6 FETCH 1 BODY[TEXT
        S: a6 BAD ...
        C: a7 FETCH 1 (FLAGS UID
        S: a7 BAD ...
        C: a8 FETCH 1 FLAGS (CHANGEDSINCE 1)
        S: a8 BAD ...
        C: a9 FETCH 1 FLAGS
        S: * 1 FETCH (FLAGS (\\Recent \\Seen))
        S: a9 OK FETCH completed
        """,
    )


async def test_fetch_in_rev2_has_no_recent(seeded: RunningServer) -> None:
    # RFC 9051 appendix E item 12: no \Recent for IMAP4rev2 clients.
    await play(
        seeded,
        f"""
        {SELECT_REV2}
        C: a1 FETCH 1:* FLAGS
        S: * 1 FETCH (FLAGS (\\Seen))
        S: * 2 FETCH (FLAGS (\\Answered \\Flagged $Work))
        S: * 3 FETCH (FLAGS (\\Deleted \\Seen))
        S: * 4 FETCH (FLAGS (\\Draft))
        S: a1 OK FETCH completed
        C: a2 FETCH 4 BODY[TEXT]<0.3>
        S: * 4 FETCH (FLAGS (\\Draft \\Seen) BODY[TEXT]<0> {{3}}
        S: The)
        S: a2 OK FETCH completed
        C: a3 STORE 2 +FLAGS (\\Seen)
        S: * 2 FETCH (FLAGS ($Work \\Answered \\Flagged \\Seen))
        S: a3 OK STORE completed
        """,
    )


# -- STORE --------------------------------------------------------------------------------------


async def test_store_add_remove_replace(seeded: RunningServer) -> None:
    # RFC 9051 6.4.6: the untagged FETCH carries the flags after the change. A new keyword
    # changes the defined flags: FLAGS and PERMANENTFLAGS again first (RFC 9051 7.3.5).
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 STORE 4 +FLAGS (\\Flagged $Todo)
        S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Todo $Work)
        S: * OK [PERMANENTFLAGS (\\Answered ... $Todo $Work \\*)] Flags permitted
        S: * 4 FETCH (FLAGS ($Todo \\Draft \\Flagged \\Recent))
        S: a1 OK STORE completed
        C: a2 STORE 2 -FLAGS (\\Flagged $Work)
        S: * 2 FETCH (FLAGS (\\Answered \\Recent))
        S: a2 OK STORE completed
        C: a3 STORE 1 FLAGS (\\Answered)
        S: * 1 FETCH (FLAGS (\\Answered \\Recent))
        S: a3 OK STORE completed
        C: a4 STORE 1 FLAGS ()
        S: * 1 FETCH (FLAGS (\\Recent))
        S: a4 OK STORE completed
        C: a5 STORE 1:2 +FLAGS \\Seen
        S: * 1 FETCH (FLAGS (\\Recent \\Seen))
        S: * 2 FETCH (FLAGS (\\Answered \\Recent \\Seen))
        S: a5 OK STORE completed
        C: a6 STORE 1 flags (\\seen \\ANSWERED)
        S: * 1 FETCH (FLAGS (\\Answered \\Recent \\Seen))
        S: a6 OK STORE completed
        C: a7 FETCH 1:* FLAGS
        S: * 1 FETCH (FLAGS (\\Answered \\Recent \\Seen))
        S: * 2 FETCH (FLAGS (\\Answered \\Recent \\Seen))
        S: * 3 FETCH (FLAGS (\\Deleted \\Recent \\Seen))
        S: * 4 FETCH (FLAGS (\\Draft \\Flagged \\Recent $Todo))
        S: a7 OK FETCH completed
        """,
    )


async def test_store_unchanged_flags_still_reported(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 STORE 1 +FLAGS (\\Seen)
        S: * 1 FETCH (FLAGS (\\Recent \\Seen))
        S: a1 OK STORE completed
        C: a2 STORE 1 -FLAGS (\\Draft)
        S: * 1 FETCH (FLAGS (\\Recent \\Seen))
        S: a2 OK STORE completed
        """,
    )


async def test_store_silent(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 STORE 1:4 +FLAGS.SILENT (\\Flagged)
        S: a1 OK STORE completed
        C: a2 STORE 1 -FLAGS.SILENT (\\Seen)
        S: a2 OK STORE completed
        C: a3 STORE 2 FLAGS.SILENT ($One)
        S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $One $Work)
        S: * OK [PERMANENTFLAGS (\\Answered ... $One $Work \\*)] Flags permitted
        S: a3 OK STORE completed
        C: a4 UID STORE 3 +FLAGS.SILENT (\\Answered)
        S: a4 OK UID STORE completed
        C: a5 FETCH 1:* FLAGS
        S: * 1 FETCH (FLAGS (\\Flagged \\Recent))
        S: * 2 FETCH (FLAGS (\\Recent $One))
        S: * 3 FETCH (FLAGS (\\Answered \\Deleted \\Flagged \\Recent \\Seen))
        S: * 4 FETCH (FLAGS (\\Draft \\Flagged \\Recent))
        S: a5 OK FETCH completed
        """,
    )


async def test_uid_store(seeded: RunningServer) -> None:
    # RFC 9051 6.4.9: UID STORE responses include UID; missing UIDs are not an error.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 UID STORE 2:3 +FLAGS ($Done)
        S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Done $Work)
        S: * OK [PERMANENTFLAGS (\\Answered ... $Done $Work \\*)] Flags permitted
        S: * 2 FETCH (UID 2 FLAGS ($Done $Work \\Answered \\Flagged \\Recent))
        S: * 3 FETCH (UID 3 FLAGS ($Done \\Deleted \\Recent \\Seen))
        S: a1 OK UID STORE completed
        C: a2 UID STORE 99 +FLAGS (\\Seen)
        S: a2 OK UID STORE completed
        C: a3 UID STORE 4:* FLAGS (\\Seen)
        S: * 4 FETCH (UID 4 FLAGS (\\Recent \\Seen))
        S: a3 OK UID STORE completed
        """,
    )


async def test_store_recent_cannot_be_changed(seeded: RunningServer) -> None:
    # RFC 3501 2.3.2: \Recent is not settable; it is ignored in STORE.
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 STORE 1 FLAGS (\\Recent)
        S: * 1 FETCH (FLAGS (\\Recent))
        S: a1 OK STORE completed
        C: a2 STORE 1 -FLAGS (\\Recent)
        S: * 1 FETCH (FLAGS (\\Recent))
        S: a2 OK STORE completed
        """,
    )


async def test_store_errors(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {SELECT}
        C: a1 STORE 9 FLAGS (\\Seen)
        S: a1 BAD invalid message sequence number
        C: a2 STORE 1 +FLAGS (\\Bogus)
        S: a2 BAD \\Bogus is not a system flag
        C: a3 STORE 1 BADMODE (\\Seen)
        S: a3 BAD ...
        C: a4 STORE 1 +FLAGS (\\Seen
        S: a4 BAD ...
        C: a5 STORE 1 +FLAGS
        S: a5 BAD missing flags
        C: a6 STORE 1 (UNCHANGEDSINCE 5) +FLAGS (\\Seen)
        S: a6 BAD ...
        C: a7 FETCH 1:* FLAGS
        S: * 1 FETCH (FLAGS (\\Recent \\Seen))
        S: * 2 FETCH (FLAGS (\\Answered \\Flagged \\Recent $Work))
        S: * 3 FETCH (FLAGS (\\Deleted \\Recent \\Seen))
        S: * 4 FETCH (FLAGS (\\Draft \\Recent))
        S: a7 OK FETCH completed
        """,
    )


async def test_store_read_only(seeded: RunningServer) -> None:
    await play(
        seeded,
        f"""
        {EXAMINE}
        C: a1 STORE 1 +FLAGS (\\Flagged)
        S: a1 NO [READ-ONLY] ...
        C: a2 UID STORE 1 +FLAGS.SILENT (\\Flagged)
        S: a2 NO [READ-ONLY] ...
        C: a3 FETCH 1 FLAGS
        S: * 1 FETCH (FLAGS (\\Recent \\Seen))
        S: a3 OK FETCH completed
        """,
    )
