"""Sample mail for ``imap-server demo``: a small, realistic account to point a client at.

`populate` fills an account with folders (Sent, Drafts, Archive, Trash, with their special-use
attributes) and a handful of messages chosen to exercise what clients display: plain text, a
thread (``In-Reply-To`` / ``References``), ``multipart/alternative`` text + HTML, a
``multipart/mixed`` message with CSV and PNG attachments, RFC 2047 encoded-word subjects and
senders (German, Japanese), and a mix of ``\\Seen`` / ``\\Flagged`` / ``\\Draft`` flags.

Dates are relative to the moment of the call (the newest message an hour old), so that the
mailbox looks alive and ``SEARCH SINCE`` has something to find. Every message has CRLF line
endings and is 7-bit: non-ASCII text is quoted-printable or base64 encoded, as mailers send it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import quopri
import struct
import zlib
from dataclasses import dataclass
from email.utils import format_datetime

from .message import parse_message
from .store import Backend

__all__ = ["DEMO_PASSWORD", "DEMO_USER", "FOLDERS", "SampleMessage", "populate", "sample_messages"]

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"

_SEEN = frozenset({"\\Seen"})
# "-- " with its trailing space (RFC 3676 section 4.3), kept out of the templates where an
# editor or linter would strip the space.
_SIGNATURE_SEPARATOR = "-- "
_UNSEEN: frozenset[str] = frozenset()

#: The folders besides INBOX, with their special-use attributes (RFC 6154), so that clients
#: put sent mail, drafts and deleted mail where the account keeps them.
FOLDERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Sent", frozenset({"\\Sent"})),
    ("Drafts", frozenset({"\\Drafts"})),
    ("Archive", frozenset({"\\Archive"})),
    ("Trash", frozenset({"\\Trash"})),
)

_BERLIN = _dt.timezone(_dt.timedelta(hours=1))
_TOKYO = _dt.timezone(_dt.timedelta(hours=9))
_NEW_YORK = _dt.timezone(_dt.timedelta(hours=-5))


@dataclass(frozen=True, slots=True)
class SampleMessage:
    """One sample message and where `populate` files it."""

    mailbox: str
    #: The message octets (CRLF line endings).
    body: bytes
    flags: frozenset[str]
    #: When the message "arrived" (IMAP INTERNALDATE); its Date header is a little earlier.
    internal_date: _dt.datetime


def _date(when: _dt.datetime, zone: _dt.timezone = _dt.UTC) -> str:
    """An RFC 5322 Date header value, in the sender's time zone as a real mailer writes it."""
    return format_datetime(when.astimezone(zone))


def _encoded_word(text: str) -> str:
    """``text`` as one RFC 2047 encoded-word in UTF-8 (B encoding: compact for CJK)."""
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"=?UTF-8?B?{encoded}?="


def _base64_lines(data: bytes) -> str:
    """Base64 in 76-character lines (RFC 2045 section 6.8), newline-terminated."""
    return base64.encodebytes(data).decode("ascii")


def _quoted_printable(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def _png_chart() -> bytes:
    """A valid 24x16 PNG: three bars of a bar chart, so the attachment opens as an image."""
    width, height = 24, 16
    bars = [
        (2, 8, 10, (0x3B, 0x82, 0xF6)),
        (9, 15, 5, (0x10, 0xB9, 0x81)),
        (16, 22, 2, (0xF5, 0x9E, 0x0B)),
    ]
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type 0 (None) for every scanline
        for x in range(width):
            color = (0xFF, 0xFF, 0xFF)
            for left, right, top, bar_color in bars:
                if left <= x < right and y >= top:
                    color = bar_color
            rows.extend(color)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _message(text: str) -> bytes:
    """Message text written with ``\\n`` -> the octets, CRLF line endings."""
    # Every sample is 7-bit by construction; encoding as ASCII checks it.
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")


def sample_messages(now: _dt.datetime | None = None) -> list[SampleMessage]:
    """The sample messages, dated relative to ``now`` (default: the current time)."""
    if now is None:
        now = _dt.datetime.now(_dt.UTC)
    now = now.replace(microsecond=0)

    def ago(**delta: float) -> _dt.datetime:
        return now - _dt.timedelta(**delta)

    out: list[SampleMessage] = []

    def add(
        mailbox: str, flags: frozenset[str], sent: _dt.datetime, text: str, *, delay: int = 4
    ) -> None:
        # The server received it a few seconds after the sender's Date.
        received = sent + _dt.timedelta(seconds=delay)
        out.append(SampleMessage(mailbox, _message(text), flags, received))

    # 1. The welcome message: plain text, already read.
    sent = ago(days=7)
    add(
        "INBOX",
        _SEEN,
        sent,
        f"""\
Return-Path: <postmaster@example.org>
Received: from localhost (localhost [127.0.0.1])
\tby mail.example.org (imap-server demo); {_date(sent)}
Date: {_date(sent)}
From: imap-server <postmaster@example.org>
To: Demo User <demo@example.org>
Subject: Welcome to the imap-server demo
Message-ID: <welcome.1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Hello,

this account lives in the memory of the imap-server process: everything you
do here (flags, moves, new folders, deleted mail) lasts until the server
stops, and then it is gone.

Things to try:

  * open two mail clients at once, and watch flags and new messages
    appear in the other one (IDLE);
  * search for "lunch", or for mail from Alice;
  * drag a message to Archive, empty the Trash, create folders.

Enjoy,
{_SIGNATURE_SEPARATOR}
imap-server
""",
    )

    # 2. and 3.: a thread. Alice asks, Bob answers (In-Reply-To / References).
    lunch = ago(days=3, hours=2)
    add(
        "INBOX",
        _SEEN,
        lunch,
        f"""\
Date: {_date(lunch, _NEW_YORK)}
From: Alice Example <alice@example.com>
To: Demo User <demo@example.org>, Bob Builder <bob@example.net>
Subject: Team lunch on Friday?
Message-ID: <lunch.20.alice@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii; format=flowed
Content-Transfer-Encoding: 7bit

Hi both,

shall we have lunch together on Friday? The new noodle place on Main
Street opens at noon, and I can book a table for three.

Alice
""",
    )
    reply = ago(days=2, hours=20)
    add(
        "INBOX",
        _UNSEEN,
        reply,
        f"""\
Date: {_date(reply, _NEW_YORK)}
From: Bob Builder <bob@example.net>
To: Alice Example <alice@example.com>
Cc: Demo User <demo@example.org>
Subject: Re: Team lunch on Friday?
Message-ID: <9f3c2a17.bob@example.net>
In-Reply-To: <lunch.20.alice@example.com>
References: <lunch.20.alice@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Count me in. 12:30 would suit me better, if they have a table then.

Bob

On {_date(lunch, _NEW_YORK)}, Alice Example wrote:
> Hi both,
>
> shall we have lunch together on Friday? The new noodle place on Main
> Street opens at noon, and I can book a table for three.
>
> Alice
""",
    )

    # 4. A newsletter: multipart/alternative, plain text and HTML.
    digest = ago(days=2, hours=6)
    add(
        "INBOX",
        _SEEN,
        digest,
        f"""\
Date: {_date(digest)}
From: Project News <news@lists.example.net>
To: demo@example.org
Subject: Your weekly digest: 3 new releases
Message-ID: <digest.2024.w12@lists.example.net>
List-Id: Project News <news.lists.example.net>
List-Unsubscribe: <mailto:news-unsubscribe@lists.example.net>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="=_alt_5d1e0c"

This is a multi-part message in MIME format.

--=_alt_5d1e0c
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Your weekly digest

  * imap-wire 0.1: the sans-I/O IMAP codec
  * imap-client 0.1: async client with pipelining
  * imap-server 0.1: this server

Read more at https://example.net/news

--=_alt_5d1e0c
Content-Type: text/html; charset=us-ascii
Content-Transfer-Encoding: 7bit

<!DOCTYPE html>
<html>
<body style="font-family: sans-serif">
<h1>Your weekly digest</h1>
<ul>
<li><b>imap-wire 0.1</b>: the sans-I/O IMAP codec</li>
<li><b>imap-client 0.1</b>: async client with pipelining</li>
<li><b>imap-server 0.1</b>: this server</li>
</ul>
<p><a href="https://example.net/news">Read more</a></p>
</body>
</html>

--=_alt_5d1e0c--
""",
    )

    # 5. multipart/mixed: a text part, a CSV and a PNG attachment. Read and flagged.
    report = ago(days=1, hours=3)
    csv = "quarter,revenue,costs\nQ1,120,95\nQ2,134,97\nQ3,151,102\n"
    add(
        "INBOX",
        _SEEN | {"\\Flagged"},
        report,
        f"""\
Date: {_date(report)}
From: Carol Numbers <carol@example.com>
To: Demo User <demo@example.org>
Cc: Alice Example <alice@example.com>
Subject: Quarterly report (figures and chart attached)
Message-ID: <report.q3.carol@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=_mixed_8a7b6c"

--=_mixed_8a7b6c
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Hello,

attached are the figures for Q1 to Q3 and a chart of the revenue.
Revenue is up 12% on the previous quarter.

Carol

--=_mixed_8a7b6c
Content-Type: text/csv; charset=us-ascii; name="figures.csv"
Content-Disposition: attachment; filename="figures.csv"
Content-Transfer-Encoding: 7bit

{csv}
--=_mixed_8a7b6c
Content-Type: image/png; name="revenue.png"
Content-Disposition: attachment; filename="revenue.png"
Content-Transfer-Encoding: base64

{_base64_lines(_png_chart())}
--=_mixed_8a7b6c--
""",
    )

    # 6. German: encoded-word subject and sender, quoted-printable UTF-8 body.
    munich = ago(hours=20)
    greeting = (
        "Hallo aus München!\n\n"
        "Das Oktoberfest ist vorbei, die Weißwürste schmecken trotzdem.\n"
        "Schöne Grüße an alle,\n"
        "Jürgen\n"
    )
    add(
        "INBOX",
        _UNSEEN,
        munich,
        f"""\
Date: {_date(munich, _BERLIN)}
From: {_encoded_word("Jürgen Müller")} <juergen@example.de>
To: Demo User <demo@example.org>
Subject: {_encoded_word("Grüße aus München")}
Message-ID: <c0ffee.42.juergen@example.de>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

{_quoted_printable(greeting)}""",
    )

    # 7. Japanese: encoded-word subject and sender, base64 UTF-8 body.
    minutes = ago(hours=5)
    notes = (
        "デモチームの皆様\n\n本日の会議の議事録をお送りします。\nよろしくお願いいたします。\n佐藤\n"
    )
    add(
        "INBOX",
        _UNSEEN,
        minutes,
        f"""\
Date: {_date(minutes, _TOKYO)}
From: {_encoded_word("佐藤 花子")} <hanako.sato@example.jp>
To: Demo User <demo@example.org>
Subject: {_encoded_word("会議の議事録")}
Message-ID: <minutes.7.hanako@example.jp>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{_base64_lines(notes.encode("utf-8"))}""",
    )

    # 8. A flagged, unread reminder.
    reminder = ago(hours=1)
    add(
        "INBOX",
        frozenset({"\\Flagged"}),
        reminder,
        f"""\
Date: {_date(reminder)}
From: Ops Robot <robot@example.org>
To: Demo User <demo@example.org>
Subject: Reminder: the TLS certificate expires in 14 days
Message-ID: <cert-expiry.5501@example.org>
Auto-Submitted: auto-generated
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

The certificate for mail.example.org expires in 14 days.
Renew it before then, or clients will refuse to connect.
""",
    )

    # The other folders: what the demo user sent, a draft, and an archived message.
    answer = ago(days=2, hours=19)
    add(
        "Sent",
        _SEEN,
        answer,
        f"""\
Date: {_date(answer)}
From: Demo User <demo@example.org>
To: Alice Example <alice@example.com>, Bob Builder <bob@example.net>
Subject: Re: Team lunch on Friday?
Message-ID: <d3m0.1@example.org>
In-Reply-To: <9f3c2a17.bob@example.net>
References: <lunch.20.alice@example.com> <9f3c2a17.bob@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

12:30 it is. See you on Friday!
""",
        delay=0,
    )
    draft = ago(hours=2)
    add(
        "Drafts",
        _SEEN | {"\\Draft"},
        draft,
        f"""\
Date: {_date(draft)}
From: Demo User <demo@example.org>
To: Carol Numbers <carol@example.com>
Subject: Questions about the quarterly report
Message-ID: <d3m0.2@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Hi Carol,

thanks for the figures. Two questions:

1.
""",
        delay=0,
    )
    statement = ago(days=30)
    add(
        "Archive",
        _SEEN,
        statement,
        f"""\
Date: {_date(statement)}
From: Example Bank <no-reply@bank.example.com>
To: Demo User <demo@example.org>
Subject: Your monthly statement is ready
Message-ID: <statement.0001@bank.example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Your statement for last month is ready in online banking.
""",
    )
    return out


async def populate(
    store: Backend, user: str = DEMO_USER, *, now: _dt.datetime | None = None
) -> None:
    """Fill ``user``'s account (which must exist) with the sample folders and messages.

    Works with any store; folders that already exist are reused. Every folder is subscribed,
    as some clients show only subscribed ones.
    """
    account = await store.open_user(user)
    existing = {info.name for info in await account.list_mailboxes()}
    for name, special_use in FOLDERS:
        if name not in existing:
            await account.create_mailbox(name, special_use=special_use)
    for name in ("INBOX", *(name for name, _ in FOLDERS)):
        await account.subscribe(name)
    for sample in sample_messages(now):
        mailbox = await account.get_mailbox(sample.mailbox)
        await mailbox.append(
            sample.body,
            parsed=parse_message(sample.body),
            flags=sample.flags,
            internal_date=sample.internal_date,
        )
