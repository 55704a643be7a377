"""Benchmark: parse realistic FETCH responses with imap_wire and with IMAPClient.

Builds a deterministic corpus of untagged FETCH responses shaped like a real server's
(Dovecot's) answer to ``FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)``,
parses it with `imap_wire.ClientConnection` (framing from raw bytes included, fed in 64 KiB
chunks as a socket would deliver them) and with IMAPClient's `parse_fetch_response`, checks both
parsed what was generated, and prints both rates. It also streams a large literal through
`ClientConnection` and prints the peak memory tracemalloc saw.

Run ``python bench/wire_parse.py --help`` for the options. The last line printed is always
``ratio imap_wire/imapclient: X.XX`` (higher is better for imap_wire).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gc
import importlib.util
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

if importlib.util.find_spec("imap_wire") is None:
    # Not pip-installed (e.g. a fresh clone before scripts/test): use the source tree.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/imap-wire/src"))

import imapclient
from imapclient.response_parser import parse_fetch_response

from imap_wire import (
    NEED_DATA,
    ClientConnection,
    FetchResponse,
    LiteralChunk,
    LiteralStarted,
    Registry,
    default_registry,
)

CHUNK_SIZE = 64 * 1024

# -- corpus ------------------------------------------------------------------------------------

FIRST_NAMES = (
    "Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Hiro", "Ines", "Jamal",
    "Karin", "Liam", "Maria", "Noah", "Olga", "Pablo", "Qing", "Rosa", "Sven", "Tariq",
    "Ursula", "Victor", "Wei", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Anderson", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ivanova",
    "Jones", "Kowalski", "Lopez", "Martin", "Nakamura", "O'Brien", "Patel", "Rossi", "Schmidt",
    "Tanaka", "Weber",
)  # fmt: skip
# Display names that reach the wire as RFC 2047 encoded words (servers do not decode them).
NON_ASCII_NAMES = ("Jürgen Müller", "Åsa Lindqvist", "José Núñez", "Zoë Brontë", "Łukasz Wróbel")
DOMAINS = (
    "example.com", "example.com", "example.org", "example.net", "mail.example.net",
    "corp.example.co.uk", "lists.example.io", "uni.example.edu", "shop.example.de",
)  # fmt: skip
MAILING_LISTS = ("dev", "announce", "users", "infra-alerts", "billing", "noreply", "support")
WORDS = (
    "quarterly", "report", "meeting", "notes", "invoice", "draft", "review", "release",
    "update", "budget", "schedule", "project", "proposal", "agenda", "weekly", "summary",
    "build", "failed", "deploy", "contract", "travel", "plans", "lunch", "tomorrow", "question",
    "about", "the", "new", "office", "migration", "server", "backup", "status", "ticket",
    "customer", "feedback", "roadmap", "design", "launch", "hiring",
)  # fmt: skip
NON_ASCII_SUBJECTS = (
    "Réunion d'équipe",
    "Grüße aus München",
    "Número de pedido confirmado",
    "Tōkyō trip — itinerary",
    "Überweisung für März",
    "Café ☕ on Friday?",
    "Привет, как дела",
)
FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "$Forwarded", "$Junk", "NonJunk")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ZONES = ("+0000", "+0100", "+0200", "-0400", "-0500", "-0700", "+0530", "+0900")
CHARSETS = ("utf-8", "UTF-8", "us-ascii", "iso-8859-1")
TEXT_ENCODINGS = ("7bit", "quoted-printable", "quoted-printable", "base64", "8bit")


@dataclass(frozen=True, slots=True)
class Expected:
    """What one generated response holds, to check the parsers against.

    Attributes:
        seq: Message sequence number.
        uid: UID.
        subject: Envelope subject as on the wire, unescaped (None for NIL).
        subtype: Body structure's top-level multipart subtype, lower case.
        to_count: Addresses in the envelope's To.
    """

    seq: int
    uid: int
    subject: str | None
    subtype: str
    to_count: int


def quoted(text: str) -> str:
    """Return `text` as an IMAP quoted string (RFC 9051 section 4.3)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encoded_word(text: str, rng: random.Random) -> str:
    """Encode `text` as an RFC 2047 encoded word, Q or B encoding."""
    raw = text.encode("utf-8")
    if rng.random() < 0.3:
        return "=?UTF-8?B?" + base64.b64encode(raw).decode("ascii") + "?="
    out = []
    for byte in raw:
        ch = chr(byte)
        if ch == " ":
            out.append("_")
        elif ch.isascii() and (ch.isalnum() or ch in "!*+-/"):
            out.append(ch)
        else:
            out.append(f"={byte:02X}")
    return "=?utf-8?q?" + "".join(out) + "?="


def gen_subject(rng: random.Random) -> str | None:
    """Return a subject: plain, encoded word, or needing quoted-string escapes."""
    r = rng.random()
    if r < 0.005:
        return None
    if r < 0.15:
        text = encoded_word(rng.choice(NON_ASCII_SUBJECTS), rng)
    else:
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 7))]
        if r < 0.21:
            i = rng.randrange(len(words))
            words[i] = '"' + words[i] + '"'
        elif r < 0.23:
            words.append(r"in \\fileserver\shared")
        elif r < 0.26:
            words.append(f"[#{rng.randint(1000, 99999)}]")
        text = " ".join(words)
        text = text[0].upper() + text[1:]
    prefix = rng.random()
    if prefix < 0.3:
        text = "Re: " + text
    elif prefix < 0.36:
        text = "Fwd: " + text
    return text


def gen_address(rng: random.Random) -> str:
    """Return one envelope address ``(name adl mailbox host)``."""
    r = rng.random()
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    host = rng.choice(DOMAINS)
    mailbox = first.lower()
    if rng.random() < 0.6:
        mailbox += "." + last.lower().replace("'", "")
    if r < 0.25:
        name = "NIL"
    elif r < 0.3:
        name = "NIL"
        mailbox = rng.choice(MAILING_LISTS)
    elif r < 0.8:
        name = quoted(f"{first} {last}")
    elif r < 0.9:
        name = quoted(f"{last}, {first}")
    elif r < 0.94:
        name = quoted(f'{first} "{rng.choice(WORDS)}" {last}')
    else:
        name = quoted(encoded_word(rng.choice(NON_ASCII_NAMES), rng))
        mailbox = f"user{rng.randint(1, 9999)}"
    return f"({name} NIL {quoted(mailbox)} {quoted(host)})"


def gen_date(rng: random.Random) -> tuple[dt.datetime, str]:
    """Return a random timestamp and its zone."""
    start = dt.datetime(2021, 1, 1)
    when = start + dt.timedelta(seconds=rng.randrange(4 * 365 * 86400))
    return when, rng.choice(ZONES)


def message_id(rng: random.Random, when: dt.datetime) -> str:
    """Return a Message-ID in one of the shapes common mailers generate."""
    r = rng.random()
    if r < 0.4:
        token = base64.b64encode(rng.randbytes(24), altchars=b"+_").decode("ascii")
        return f"<CA{token}@mail.gmail.example>"
    if r < 0.7:
        return f"<{rng.getrandbits(128):032x}@{rng.choice(DOMAINS)}>"
    stamp = when.strftime("%Y%m%d%H%M%S")
    return f"<{stamp}.{rng.getrandbits(40):010x}.JavaMail.app@{rng.choice(DOMAINS)}>"


def gen_envelope(rng: random.Random, subject: str | None, to_count: int) -> str:
    """Return an ENVELOPE list (RFC 9051 section 7.5.2) as Dovecot writes it."""
    when, zone = gen_date(rng)
    date = f"{WEEKDAYS[when.weekday()]}, {when.day} {MONTHS[when.month - 1]} {when.year} "
    date += f"{when:%H:%M:%S} {zone}"
    if rng.random() < 0.1:
        date += " (UTC)"
    from_ = gen_address(rng)
    # Servers fill Sender and Reply-To from From when the header is absent.
    sender = from_ if rng.random() < 0.9 else gen_address(rng)
    reply_to = from_ if rng.random() < 0.9 else gen_address(rng)
    to = "".join(gen_address(rng) for _ in range(to_count))
    cc_count = rng.choice((0, 0, 0, 0, 0, 0, 1, 1, 2, 3))
    cc = "(" + "".join(gen_address(rng) for _ in range(cc_count)) + ")" if cc_count else "NIL"
    in_reply_to = quoted(message_id(rng, when)) if rng.random() < 0.35 else "NIL"
    subj = "NIL" if subject is None else quoted(subject)
    return (
        f"({quoted(date)} {subj} ({from_}) ({sender}) ({reply_to}) ({to}) {cc} NIL "
        f"{in_reply_to} {quoted(message_id(rng, when))})"
    )


def text_part(rng: random.Random, subtype: str) -> str:
    """Return a text/* body part with Dovecot's extension data (md5 dsp lang loc all NIL)."""
    charset = rng.choice(CHARSETS)
    params = f'("charset" "{charset}")'
    if subtype == "plain" and rng.random() < 0.15:
        params = f'("charset" "{charset}" "format" "flowed")'
    size = rng.randint(80, 40000)
    lines = size // rng.randint(40, 76) + 1
    encoding = rng.choice(TEXT_ENCODINGS)
    return f'("text" "{subtype}" {params} NIL NIL "{encoding}" {size} {lines} NIL NIL NIL NIL)'


def boundary(rng: random.Random) -> str:
    """Return a MIME boundary in one of the shapes common mailers generate."""
    r = rng.random()
    if r < 0.4:
        return f"000000000000{rng.getrandbits(48):012x}"
    if r < 0.7:
        part, stamp = rng.randint(1, 99999), rng.randint(10**12, 10**13)
        return f"----=_Part_{part}_{rng.randint(1, 10**9)}.{stamp}"
    return f"_000_{rng.getrandbits(64):016X}_"


def gen_alternative(rng: random.Random) -> str:
    """Return a multipart/alternative of text/plain and text/html."""
    return (
        f'({text_part(rng, "plain")}{text_part(rng, "html")} "alternative" '
        f'("boundary" "{boundary(rng)}") NIL NIL NIL)'
    )


def gen_body_structure(rng: random.Random) -> tuple[str, str]:
    """Return a BODYSTRUCTURE list (RFC 9051 section 7.5.2) and its top-level subtype."""
    if rng.random() < 0.7:
        return gen_alternative(rng), "alternative"
    first = gen_alternative(rng) if rng.random() < 0.3 else text_part(rng, "plain")
    filename = quoted(f"{rng.choice(WORDS)}-{rng.randint(2021, 2025)}-{rng.randint(1, 9999)}.pdf")
    pdf = (
        f'("application" "pdf" ("name" {filename}) NIL NIL "base64" {rng.randint(20000, 2000000)} '
        f'NIL ("ATTACHMENT" ("FILENAME" {filename})) NIL NIL)'
    )
    return f'({first}{pdf} "mixed" ("boundary" "{boundary(rng)}") NIL NIL NIL)', "mixed"


def build_corpus(count: int, seed: int) -> tuple[list[bytes], list[Expected]]:
    """Generate `count` FETCH response lines (with CRLF) and what each one holds."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    expected: list[Expected] = []
    uid = rng.randint(1, 5000)
    for seq in range(1, count + 1):
        uid += 1 if rng.random() < 0.9 else rng.randint(2, 50)
        flags = " ".join(rng.sample(FLAGS, rng.choice((0, 1, 1, 1, 2, 2, 3))))
        when, zone = gen_date(rng)
        internal = f"{when.day:02d}-{MONTHS[when.month - 1]}-{when.year} {when:%H:%M:%S} {zone}"
        subject = gen_subject(rng)
        to_count = rng.choice((1, 1, 1, 1, 1, 1, 2, 2, 3, 4))
        body, subtype = gen_body_structure(rng)
        line = (
            f"* {seq} FETCH (UID {uid} FLAGS ({flags}) INTERNALDATE {quoted(internal)} "
            f"RFC822.SIZE {rng.randint(900, 3_000_000)} "
            f"ENVELOPE {gen_envelope(rng, subject, to_count)} BODYSTRUCTURE {body})\r\n"
        )
        lines.append(line.encode("ascii"))
        expected.append(Expected(seq, uid, subject, subtype, to_count))
    return lines, expected


# -- parsing -----------------------------------------------------------------------------------


def parse_with_imap_wire(chunks: Sequence[bytes], registry: Registry) -> list[Any]:
    """Feed raw chunks to a fresh `ClientConnection`; return every event it produced."""
    conn = ClientConnection(registry=registry)
    events: list[Any] = []
    append = events.append
    for chunk in chunks:
        conn.receive_data(chunk)
        while (event := conn.next_event()) is not NEED_DATA:
            append(event)
    return events


def parse_with_imapclient(lines: list[bytes]) -> list[dict[int, dict[bytes, Any]]]:
    """Parse imaplib-shaped FETCH data with IMAPClient, one call per response line.

    Measured against one call over the whole list (what IMAPClient does for one FETCH
    command), one call per response was marginally faster (a few per cent, close to noise), so
    IMAPClient gets the faster of its two ways.
    """
    return [parse_fetch_response([line]) for line in lines]


def best_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Run `fn` `repeat` times; return the best wall time and the last result."""
    best = float("inf")
    result: object = None
    for _ in range(repeat):
        result = None  # let the previous result go before timing the next run
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def fail(message: str) -> NoReturn:
    """Stop the benchmark: a parser got something wrong, so its figure would be meaningless."""
    sys.exit(f"wire_parse: check failed: {message}")


def check_imap_wire(events: list[Any], expected: list[Expected]) -> None:
    """Check imap_wire produced one correct FetchResponse per generated response."""
    fetches = [e for e in events if isinstance(e, FetchResponse)]
    if len(events) != len(expected) or len(fetches) != len(expected):
        fail(f"imap_wire gave {len(events)} events, {len(fetches)} FetchResponse")
    step = max(1, len(expected) // 97)
    for got, want in zip(fetches[::step], expected[::step], strict=True):
        envelope, body = got.envelope, got.body_structure
        if (got.seq, got.uid) != (want.seq, want.uid) or envelope is None or body is None:
            fail(f"imap_wire: seq, UID, ENVELOPE or BODYSTRUCTURE of #{want.seq}")
        if envelope.subject != want.subject or len(envelope.to) != want.to_count:
            fail(f"imap_wire: envelope subject or To of #{want.seq}")
        if body.subtype.lower() != want.subtype:
            fail(f"imap_wire: body structure subtype of #{want.seq}")


def check_imapclient(results: list[dict[int, dict[bytes, Any]]], expected: list[Expected]) -> None:
    """Check IMAPClient parsed one correct message per generated response."""
    by_uid = {uid: data for result in results for uid, data in result.items()}
    if len(by_uid) != len(expected):
        fail(f"imapclient gave {len(by_uid)} messages")
    step = max(1, len(expected) // 97)
    for want in expected[::step]:
        got = by_uid.get(want.uid)
        if got is None:
            fail(f"imapclient: no message with UID {want.uid}")
        envelope = got[b"ENVELOPE"]
        subject = None if envelope.subject is None else envelope.subject.decode("ascii")
        if got[b"SEQ"] != want.seq or subject != want.subject:
            fail(f"imapclient: seq or envelope subject of UID {want.uid}")
        if len(envelope.to) != want.to_count:
            fail(f"imapclient: envelope To of #{want.seq}")
        if got[b"BODYSTRUCTURE"][1].decode().lower() != want.subtype:
            fail(f"imapclient: body structure subtype of #{want.seq}")


# -- streaming ---------------------------------------------------------------------------------


def stream_literal(size: int, registry: Registry) -> int:
    """Stream a `size`-octet BODY[] literal through `ClientConnection`; return peak bytes.

    The literal is never held: one 64 KiB block is fed over and over.
    """
    block = bytes(range(256)) * (CHUNK_SIZE // 256)
    received = 0
    started: list[LiteralStarted] = []
    fetches: list[FetchResponse] = []

    tracemalloc.start()
    try:
        # Stream anything over one chunk, so small --literal-mb values stream too.
        conn = ClientConnection(registry=registry, stream_literals_over=CHUNK_SIZE)

        def drain() -> None:
            nonlocal received
            while (event := conn.next_event()) is not NEED_DATA:
                if isinstance(event, LiteralChunk):
                    received += len(event.data)
                elif isinstance(event, LiteralStarted):
                    started.append(event)
                elif isinstance(event, FetchResponse):
                    fetches.append(event)
                else:
                    fail(f"unexpected event {type(event).__name__} while streaming")

        conn.receive_data(b"* 1 FETCH (UID 7 BODY[] {%d}\r\n" % size)
        drain()
        remaining = size
        while remaining:
            piece = block if remaining >= CHUNK_SIZE else block[:remaining]
            conn.receive_data(piece)
            drain()
            remaining -= len(piece)
        conn.receive_data(b")\r\n")
        drain()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    if received != size:
        fail(f"streamed {received} octets, expected {size}")
    if len(started) != 1 or started[0].size != size:
        fail("no single LiteralStarted announcing the literal")
    if len(fetches) != 1 or fetches[0].uid != 7:
        fail("no final FetchResponse after the literal")
    return peak


# -- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Build the corpus, time both parsers, measure streaming memory, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000, help="FETCH responses in the corpus")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument("--literal-mb", type=int, default=100, help="streamed literal (MiB)")
    parser.add_argument("--seed", type=int, default=1, help="corpus random seed")
    args = parser.parse_args(argv)
    if args.count < 1 or args.repeat < 1 or args.literal_mb < 1:
        parser.error("--count, --repeat and --literal-mb must be positive")

    lines, expected = build_corpus(args.count, args.seed)
    corpus = b"".join(lines)
    chunks = [corpus[i : i + CHUNK_SIZE] for i in range(0, len(corpus), CHUNK_SIZE)]
    # imaplib's shape for IMAPClient: no "* ", no "FETCH ", no CRLF. Prepared untimed.
    imaplib_lines = [line[2:-2].replace(b" FETCH ", b" ", 1) for line in lines]
    registry = default_registry()
    print(
        f"corpus: {args.count} FETCH responses, {len(corpus) / 1e6:.1f} MB, "
        f"{len(corpus) / args.count:.0f} bytes per response on average (seed {args.seed})"
    )

    gc.collect()
    wire_time, wire_events = best_time(lambda: parse_with_imap_wire(chunks, registry), args.repeat)
    assert isinstance(wire_events, list)
    check_imap_wire(wire_events, expected)
    del wire_events
    wire_rate = args.count / wire_time
    print(
        f"imap_wire  ClientConnection, {CHUNK_SIZE // 1024} KiB chunks: "
        f"{wire_rate:,.0f} responses/s ({len(corpus) / wire_time / 1e6:.1f} MB/s, "
        f"best of {args.repeat}: {wire_time:.3f} s)"
    )

    gc.collect()
    peer_time, peer_result = best_time(lambda: parse_with_imapclient(imaplib_lines), args.repeat)
    assert isinstance(peer_result, list)
    check_imapclient(peer_result, expected)
    del peer_result
    peer_rate = args.count / peer_time
    print(
        f"imapclient {imapclient.__version__} parse_fetch_response per response: "
        f"{peer_rate:,.0f} responses/s (best of {args.repeat}: {peer_time:.3f} s)"
    )

    gc.collect()
    peak = stream_literal(args.literal_mb * 1024 * 1024, registry)
    print(f"streaming {args.literal_mb} MB literal: peak {peak / 1e6:.2f} MB (tracemalloc)")
    print(f"ratio imap_wire/imapclient: {wire_rate / peer_rate:.2f}")


if __name__ == "__main__":
    main()
