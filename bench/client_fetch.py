"""Benchmark: IMAP clients against Dovecot: APPEND, parsed FETCH, full bodies, big messages.

Starts Dovecot (everything in a temporary folder, one account per client), then measures, one
client after the other in fresh child processes: imap_client's `AsyncClient` and its sync
facade `Client`, IMAPClient and stdlib imaplib. Each client APPENDs the same realistic
messages to its own empty INBOX, runs ``FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE
BODYSTRUCTURE)`` and ``FETCH 1:* (BODY.PEEK[])``, then APPENDs one big message from a file and
FETCHes it back to a file, each in a child process of its own whose peak RSS growth is
measured. It prints messages/s for each step and client, with CPU notes, and checks every
client got back what was appended. bench/README.md says what exactly is measured and how to
read it.

Run ``python bench/client_fetch.py --help`` for the options. The last line printed is always
``ratio imap_client/imapclient parsed FETCH: X.XX`` (higher is better for imap_client) when
both clients ran; the script exits non-zero if Dovecot could not be run or a check failed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import cProfile
import datetime as dt
import email.utils
import gc
import hashlib
import imaplib
import importlib.metadata
import importlib.util
import json
import math
import multiprocessing
import os
import pickle
import platform
import pstats
import pwd
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any, NoReturn

if importlib.util.find_spec("imap_client") is None:
    # Not pip-installed (e.g. a fresh clone before scripts/test): use the source trees.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/imap-wire/src"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/imap-client/src"))

import anyio
import imapclient

from imap_client import AsyncClient
from imap_wire import BodySectionKey, FetchResponse

CLIENTS = ("imap_client", "imap_client-sync", "imapclient", "imaplib")
PASSWORD = "bench-pass"
# The metadata FETCH every client sends, and the full bodies one.
META_ITEMS = ("UID", "FLAGS", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE")
BODY_ITEM = "BODY.PEEK[]"
COMMAND_TIMEOUT = 600.0  # seconds; the big message takes a few at most
START_TIMEOUT = 15.0  # seconds for Dovecot to accept connections
STOP_TIMEOUT = 10.0  # seconds for it to exit after SIGTERM
TASK_TIMEOUT = 1800.0  # seconds for one child process
STEP_LABELS = {
    "append": "APPEND",
    "fetch_meta": "FETCH metadata",
    "fetch_bodies": "FETCH bodies",
    "append_big": "APPEND from file",
    "fetch_big": "FETCH to file",
}

# -- messages ----------------------------------------------------------------------------------

FIRST_NAMES = (
    "Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Hiro", "Ines", "Jamal",
    "Karin", "Liam", "Maria", "Noah", "Olga", "Pablo", "Qing", "Rosa", "Sven", "Tariq",
)  # fmt: skip
LAST_NAMES = (
    "Anderson", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ivanova",
    "Jones", "Kowalski", "Lopez", "Martin", "Nakamura", "Patel", "Rossi", "Schmidt", "Weber",
)  # fmt: skip
# Display names that reach the wire as RFC 2047 encoded words, with an ASCII mailbox.
NON_ASCII_PEOPLE = (
    ("Jürgen Müller", "juergen.mueller"), ("Åsa Lindqvist", "asa.lindqvist"),
    ("José Núñez", "jose.nunez"), ("Zoë Brontë", "zoe.bronte"), ("Łukasz Wróbel", "lukasz"),
    ("Søren Kierkegård", "soren.k"), ("Ελένη Παπαδοπούλου", "eleni.p"),
)  # fmt: skip
DOMAINS = (
    "example.com", "example.com", "example.org", "example.net", "mail.example.net",
    "corp.example.co.uk", "lists.example.io", "uni.example.edu", "shop.example.de",
)  # fmt: skip
LISTS = ("dev", "announce", "users", "infra-alerts", "billing")
WORDS = (
    "quarterly", "report", "meeting", "notes", "invoice", "draft", "review", "release",
    "update", "budget", "schedule", "project", "proposal", "agenda", "weekly", "summary",
    "build", "failed", "deploy", "contract", "travel", "plans", "lunch", "tomorrow", "question",
    "about", "the", "new", "office", "migration", "server", "backup", "status", "ticket",
    "customer", "feedback", "roadmap", "design", "launch", "hiring", "and", "we", "to", "of",
    "a", "in", "for", "is", "on", "that", "with", "please", "thanks", "attached", "see",
)  # fmt: skip
NON_ASCII_WORDS = ("café", "naïve", "Grüße", "réunion", "München", "señor", "Übersicht", "ça")
NON_ASCII_SUBJECTS = (
    "Réunion d'équipe", "Grüße aus München", "Número de pedido confirmado",
    "Tōkyō trip — itinerary", "Überweisung für März", "Résumé: dernière version",
    "Заявка на отпуск", "会議の議事録",
)  # fmt: skip
# (type, subtype, file extension) of attachments.
ATTACHMENTS = (
    ("application", "pdf", "pdf"), ("application", "pdf", "pdf"), ("image", "png", "png"),
    ("image", "jpeg", "jpg"), ("application", "zip", "zip"),
    ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ("text", "calendar", "ics"), ("text", "csv", "csv"),
)  # fmt: skip
MAILERS = ("Mozilla Thunderbird 115.6", "Apple Mail (2.3774)", "Microsoft Outlook 16.0", "mutt")


def encoded_word(text: str, rng: random.Random) -> str:
    """Return `text` as an RFC 2047 encoded word (B or Q encoding, UTF-8)."""
    data = text.encode()
    if rng.random() < 0.5:
        return f"=?UTF-8?B?{base64.b64encode(data).decode()}?="
    chars = (
        "_" if b == 32 else chr(b) if chr(b).isalnum() and b < 128 else f"={b:02X}" for b in data
    )
    return f"=?UTF-8?Q?{''.join(chars)}?="


def person(rng: random.Random) -> str:
    """Return a mailbox for an address header: a display name (sometimes encoded) and address."""
    domain = rng.choice(DOMAINS)
    if rng.random() < 0.12:
        name, local = rng.choice(NON_ASCII_PEOPLE)
        return f"{encoded_word(name, rng)} <{local}@{domain}>"
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    address = f"{first.lower()}.{last.lower()}@{domain}"
    roll = rng.random()
    if roll < 0.1:
        return address
    if roll < 0.25:
        return f'"{last}, {first}" <{address}>'
    return f"{first} {last} <{address}>"


def prose(rng: random.Random, size: int, non_ascii: bool) -> list[str]:
    """Return lines of text (without line ends) of about `size` characters in all."""
    lines = [f"Hi {rng.choice(FIRST_NAMES)},", ""]
    length = 0
    while length < size:
        words = [rng.choice(WORDS) for _ in range(rng.randint(7, 13))]
        if non_ascii and rng.random() < 0.3:
            words[rng.randrange(len(words))] = rng.choice(NON_ASCII_WORDS)
        line = " ".join(words).capitalize() + "."
        lines.append(line)
        length += len(line) + 2
        if rng.random() < 0.15:
            lines.append("")
    lines += ["", "Best regards,", rng.choice(FIRST_NAMES)]
    return lines


def encode_text(text: str) -> tuple[str, str]:
    """Return (Content-Transfer-Encoding, body with CRLF line ends) for `text` (LF lines)."""
    if text.isascii():
        return "7bit", text.replace("\n", "\r\n")
    qp = binascii.b2a_qp(text.encode(), istext=True).decode("ascii")
    return "quoted-printable", qp.replace("\n", "\r\n")


def text_part(rng: random.Random, size: int, html: bool = False) -> str:
    """Return a text/plain (or text/html) MIME part: its headers, a blank line, its body."""
    non_ascii = rng.random() < 0.25
    lines = prose(rng, size, non_ascii)
    if html:
        text = "<html><body>\n" + "".join(f"<p>{line}</p>\n" for line in lines) + "</body></html>\n"
    else:
        text = "\n".join(lines) + "\n"
    encoding, body = encode_text(text)
    kind = "html" if html else "plain"
    return (
        f"Content-Type: text/{kind}; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n{body}"
    )


def multipart(rng: random.Random, subtype: str, parts: Sequence[str]) -> str:
    """Return a multipart/`subtype` MIME part holding `parts` (each headers + body)."""
    boundary = f"----=_Part_{rng.getrandbits(64):016x}"
    inner = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts)
    return (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'
        f"This is a multi-part message in MIME format.\r\n\r\n{inner}--{boundary}--\r\n"
    )


def base64_lines(data: bytes) -> str:
    """Return `data` in base64, 76-character lines with CRLF."""
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def attachment(rng: random.Random) -> str:
    """Return an attachment part of 2 KB to 100 KB (before base64), log-uniform."""
    size = int(math.exp(rng.uniform(math.log(2_000), math.log(100_000))))
    main, sub, ext = rng.choice(ATTACHMENTS)
    stem = rng.choice(WORDS) + "-" + str(rng.randint(2021, 2025))
    if rng.random() < 0.15:
        # A non-ASCII file name: RFC 2231 parameter value continuation syntax.
        name = f"{rng.choice(NON_ASCII_WORDS)}-{stem}.{ext}"
        quoted = "".join(
            chr(b) if chr(b).isalnum() and b < 128 else f"%{b:02X}" for b in name.encode()
        )
        disposition = f"attachment; filename*=UTF-8''{quoted}"
        type_name = f"name*=UTF-8''{quoted}"
    else:
        disposition = f'attachment; filename="{stem}.{ext}"'
        type_name = f'name="{stem}.{ext}"'
    if main == "text":
        rows = [",".join(rng.choice(WORDS) for _ in range(6)) for _ in range(size // 40)]
        data = ("\n".join(rows) + "\n").encode()
    else:
        data = rng.randbytes(size)
    return (
        f"Content-Type: {main}/{sub}; {type_name}\r\n"
        f"Content-Disposition: {disposition}; size={len(data)}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64_lines(data)}"
    )


@dataclass(slots=True)
class Corpus:
    """The messages every client APPENDs, in order, and their Message-IDs."""

    messages: list[bytes]
    message_ids: list[str]
    kinds: dict[str, int]

    @property
    def octets(self) -> int:
        return sum(map(len, self.messages))


def make_corpus(count: int, seed: int) -> Corpus:
    """Return `count` varied messages, the same for a given `seed`.

    Plain text (some quoted-printable with non-ASCII), multipart/alternative with HTML (some
    with an inline image in multipart/related), multipart/mixed with 1 to 3 attachments of
    2 KB to 100 KB, forwarded messages (message/rfc822); delivered-mail headers (Received,
    DKIM-Signature, List-Id ...), RFC 2047 encoded words in names and subjects, and threads
    (In-Reply-To, References, "Re:").
    """
    rng = random.Random(seed)
    messages: list[bytes] = []
    ids: list[str] = []
    threads: list[tuple[str, str, str]] = []  # (message id, subject, references)
    kinds = dict.fromkeys(("plain", "alternative", "attachments", "forward", "related"), 0)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for n in range(count):
        domain = rng.choice(DOMAINS)
        sender = person(rng)
        when = start + dt.timedelta(seconds=n * 600 + rng.randrange(600))
        date = email.utils.format_datetime(when)
        message_id = f"<{rng.getrandbits(64):016x}.{n}@{domain}>"
        headers = [
            f"Return-Path: <bounce-{rng.getrandbits(32):08x}@{domain}>",
            f"Received: from mx{rng.randint(1, 9)}.{domain} (mx.{domain} "
            f"[192.0.2.{rng.randint(1, 254)}])\r\n\tby mx.example.net (Postfix) with ESMTPS id "
            f"{rng.getrandbits(40):010X}\r\n\tfor <me@example.net>; {date}",
            f"Received: by mail.{domain} with HTTP; {date}",
        ]
        if rng.random() < 0.3:
            signature = base64.b64encode(rng.randbytes(192)).decode()
            folded = "\r\n\t ".join(signature[i : i + 64] for i in range(0, len(signature), 64))
            headers.append(
                f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1;\r\n"
                f"\th=from:to:subject:date:message-id; bh="
                f"{base64.b64encode(rng.randbytes(32)).decode()};\r\n\tb={folded}"
            )
        if threads and rng.random() < 0.3:
            parent_id, subject, references = rng.choice(threads[-50:])
            if not subject.startswith("Re: "):
                subject = "Re: " + subject
            references = f"{references} {parent_id}".strip()
            thread_headers = [f"In-Reply-To: {parent_id}", f"References: {references}"]
        else:
            if rng.random() < 0.15:
                subject = encoded_word(rng.choice(NON_ASCII_SUBJECTS), rng)
            else:
                words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
                subject = " ".join(words).capitalize()
            references = ""
            thread_headers = []
        threads.append((message_id, subject, references[-900:]))
        recipients = ", ".join(person(rng) for _ in range(rng.choice((1, 1, 1, 2, 3))))
        headers += [f"Date: {date}", f"From: {sender}", f"To: {recipients}"]
        if rng.random() < 0.25:
            headers.append(f"Cc: {person(rng)}")
        headers += [f"Subject: {subject}", f"Message-ID: {message_id}", *thread_headers]
        if rng.random() < 0.15:
            name = rng.choice(LISTS)
            headers += [
                f"List-Id: {name.capitalize()} list <{name}.{domain}>",
                f"List-Unsubscribe: <mailto:{name}-unsubscribe@{domain}>",
            ]
        if rng.random() < 0.3:
            headers.append(f"X-Mailer: {rng.choice(MAILERS)}")
        headers.append("MIME-Version: 1.0")

        size = int(min(20_000, max(200, rng.lognormvariate(7.2, 0.8))))
        roll = rng.random()
        if roll < 0.42:
            kind, body = "plain", text_part(rng, size)
        elif roll < 0.70:
            parts = [text_part(rng, size), text_part(rng, size, html=True)]
            kind, body = "alternative", multipart(rng, "alternative", parts)
        elif roll < 0.92:
            first = (
                multipart(rng, "alternative", [text_part(rng, size), text_part(rng, size, True)])
                if rng.random() < 0.4
                else text_part(rng, size)
            )
            files = [attachment(rng) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
            kind, body = "attachments", multipart(rng, "mixed", [first, *files])
        elif roll < 0.96:
            forwarded = (
                f"From: {person(rng)}\r\nTo: {person(rng)}\r\nDate: {date}\r\n"
                f"Subject: {' '.join(rng.choice(WORDS) for _ in range(4))}\r\n"
                f"Message-ID: <{rng.getrandbits(64):016x}@{domain}>\r\nMIME-Version: 1.0\r\n"
                f"{text_part(rng, size // 2)}"
            )
            parts = [
                text_part(rng, 200),
                f"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n{forwarded}",
            ]
            kind, body = "forward", multipart(rng, "mixed", parts)
        else:
            image = attachment(rng).replace("attachment;", "inline;", 1)
            image = f"Content-ID: <img{n}@{domain}>\r\n" + image
            related = multipart(rng, "related", [text_part(rng, size, html=True), image])
            kind, body = "related", multipart(rng, "alternative", [text_part(rng, size), related])
        kinds[kind] += 1
        messages.append(("\r\n".join(headers) + "\r\n" + body).encode("ascii"))
        ids.append(message_id)
    return Corpus(messages, ids, kinds)


def write_big_message(path: Path, size: int, seed: int) -> tuple[int, str]:
    """Write a message of about `size` octets to `path`: a short text and one base64
    attachment. Return its exact size and SHA-256. Written in pieces: never held whole."""
    rng = random.Random(seed)
    boundary = f"----=_Part_{rng.getrandbits(64):016x}"
    head = (
        "From: Alice Anderson <alice.anderson@example.com>\r\nTo: Bob Brown <bob@example.net>\r\n"
        f"Date: {email.utils.format_datetime(dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC))}\r\n"
        "Subject: The raw footage, as promised\r\n"
        f"Message-ID: <{rng.getrandbits(64):016x}@example.com>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere it is.\r\n\r\n"
        f'--{boundary}\r\nContent-Type: video/mp4; name="footage.mp4"\r\n'
        'Content-Disposition: attachment; filename="footage.mp4"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii")
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    block = base64_lines(rng.randbytes(57 * 1024)).encode("ascii")  # 1024 lines of 78 octets
    line = 78
    lines = max(1, (size - len(head) - len(tail)) // line)
    digest = hashlib.sha256()
    written = 0
    with path.open("wb") as out:

        def put(data: bytes) -> None:
            nonlocal written
            out.write(data)
            digest.update(data)
            written += len(data)

        put(head)
        while lines:
            take = min(lines, len(block) // line)
            put(block[: take * line])
            lines -= take
        put(tail[2:])  # the last base64 line ended with CRLF already
    return written, digest.hexdigest()


def file_digest(path: Path) -> tuple[int, str]:
    """Return the size and SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# -- Dovecot -----------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Dovecot:
    """A Dovecot master in the foreground (``dovecot -F``), everything under `folder`.

    One passwd-file account per name in `users`, each with its own Maildir. As root, the mail
    processes run as ``nobody`` (Dovecot refuses mail access as UID 0); the login and internal
    processes keep the Debian package's ``dovenull`` and ``dovecot`` users.
    """

    host = "127.0.0.1"

    def __init__(self, folder: Path, users: Sequence[str]) -> None:
        binary = shutil.which("dovecot") or next(
            (p for p in ("/usr/sbin/dovecot", "/sbin/dovecot") if os.access(p, os.X_OK)), None
        )
        if binary is None:
            fail("Dovecot is not installed: apt-get install dovecot-imapd")
        self.binary = binary
        self.folder = folder
        self.users = tuple(users)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = ""
        with contextlib.suppress(OSError):
            result = subprocess.run([binary, "--version"], capture_output=True, text=True)
            self.version = result.stdout.split(" ")[0].strip()

    def _config(self, port: int) -> str:
        folder = self.folder
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("nobody")
            uid, gid = mail_user.pw_uid, mail_user.pw_gid
            users = chroot = ""
        else:
            uid, gid = os.getuid(), os.getgid()
            me = pwd.getpwuid(uid).pw_name
            users = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
            chroot = "  chroot =\n"  # chroot needs root
        return f"""\
# Written by bench/client_fetch.py (Dovecot 2.3 syntax).
protocols = imap
listen = 127.0.0.1
base_dir = {folder / "run"}
state_dir = {folder / "state"}
instance_name = client-fetch-{os.getpid()}
log_path = {folder / "dovecot.log"}
info_log_path = {folder / "dovecot.log"}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks = 127.0.0.0/8
{users}first_valid_uid = {min(uid, 500)}
first_valid_gid = 0
mail_location = maildir:~/Maildir
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder / "passwd"}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {folder / "passwd"}
  default_fields = uid={uid} gid={gid} home={folder / "mail"}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{chroot}}}
"""

    def start(self) -> None:
        """Start Dovecot on a free port; wait for its greeting."""
        (self.folder / "passwd").write_text(
            "".join(f"{user}:{{PLAIN}}{PASSWORD}::::::\n" for user in self.users)
        )
        mail = self.folder / "mail"
        mail.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(mail, nobody.pw_uid, nobody.pw_gid)
        for _ in range(3):  # another process may take the free port before Dovecot binds it
            self.port = free_port()
            conf = self.folder / "dovecot.conf"
            conf.write_text(self._config(self.port))
            with (self.folder / "stderr.log").open("ab") as stderr:
                # A session of its own: Ctrl-C in the terminal does not reach it, stop() does.
                self.proc = subprocess.Popen(
                    [self.binary, "-F", "-c", str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,
                )
            if self._wait_until_ready():
                return
            self.stop()
            if "bind(" not in self.log():
                break
        fail(f"Dovecot did not start:\n{self.log()[-3000:]}")

    def _wait_until_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=2.0) as sock,
            ):
                sock.settimeout(2.0)
                if sock.recv(1024).startswith(b"* OK"):
                    return True
            time.sleep(0.05)
        return False

    @property
    def pgid(self) -> int:
        """The process group of the master and all its children (the imap processes too)."""
        return self.proc.pid if self.proc is not None else 0

    def log(self) -> str:
        """Dovecot's log and what it wrote to stderr."""
        text = []
        for name in ("dovecot.log", "stderr.log"):
            with contextlib.suppress(OSError):
                text.append((self.folder / name).read_text(errors="replace"))
        return "".join(text)

    def errors(self) -> list[str]:
        """Error lines of Dovecot's log."""
        return [
            line
            for line in self.log().splitlines()
            if ": Error:" in line or ": Panic:" in line or ": Fatal:" in line
        ]

    def stop(self) -> None:
        """SIGTERM to the master (it stops its children), SIGKILL to the group if need be."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- measuring ---------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float | None:
    """CPU seconds (user + system) used by the processes of group `pgid`, None if unknown.

    The master's reaped children (imap-login processes) count through its cutime and cstime.
    """
    if not pgid:
        return None
    total = 0
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) != pgid:
            continue
        total += int(fields[11]) + int(fields[12])
        if int(pid) == pgid:
            total += int(fields[13]) + int(fields[14])
    return total / CLOCK_TICKS


def machine_cpu() -> float | None:
    """CPU seconds all CPUs spent busy so far (not idle, not waiting for I/O)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICKS


@dataclass(slots=True)
class Usage:
    """Wall and CPU time of one timed step.

    Attributes:
        seconds: Wall time.
        client: CPU seconds of the client's process.
        server: CPU seconds of Dovecot's processes (None if unknown).
        other: CPU seconds of everything else on the machine (None if unknown).
    """

    seconds: float
    client: float
    server: float | None
    other: float | None


class Meter:
    """Measures the wall and CPU time between `start` and `stop`."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self._start: tuple[float, float, float | None, float | None] = (0.0, 0.0, None, None)

    def _now(self) -> tuple[float, float, float | None, float | None]:
        return (time.perf_counter(), time.process_time(), group_cpu(self.pgid), machine_cpu())

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> Usage:
        end = self._now()
        wall0, client0, server0, machine0 = self._start
        wall1, client1, server1, machine1 = end
        client = client1 - client0
        server = None if server0 is None or server1 is None else server1 - server0
        other = None
        if machine0 is not None and machine1 is not None:
            other = max(0.0, machine1 - machine0 - client - (server or 0.0))
        return Usage(wall1 - wall0, client, server, other)


def memory_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    text = Path("/proc/self/status").read_text()
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.MULTILINE))
    return {key: int(value) * 1024 for key, value in found.items()}


def reset_peak() -> tuple[int, str]:
    """Reset this process's peak RSS to its current RSS if Linux lets us; return the
    baseline (bytes) and how it was taken."""
    gc.collect()
    try:
        # "5" resets VmHWM to the current RSS (Linux 4.0 and later).
        Path("/proc/self/clear_refs").write_text("5")
        method = "VmHWM after reset - VmRSS"
        return memory_status()["VmRSS"], method
    except OSError:
        return memory_status()["VmHWM"], "VmHWM after - VmHWM before"


def peak_growth(baseline: int) -> int:
    """How far the peak RSS rose above `baseline` (bytes)."""
    return max(0, memory_status()["VmHWM"] - baseline)


# -- results -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    """One step of one client.

    Attributes:
        name: A key of `STEP_LABELS`.
        messages: Messages handled in one run of the step.
        octets: Message octets handled in one run.
        usage: The timed run kept (the best one for repeated steps); None if not run.
        cpu: All timed runs together, for the CPU shares.
        runs: Timed runs.
        rss_growth: Peak RSS growth over the step, in bytes (big message steps).
        rss_method: How the growth was measured.
        available: False if the client cannot do this step (the note says why).
        note: What the report adds (what the result is, why it is missing).
    """

    name: str
    messages: int = 0
    octets: int = 0
    usage: Usage | None = None
    cpu: Usage | None = None
    runs: int = 0
    rss_growth: int | None = None
    rss_method: str = ""
    available: bool = True
    note: str = ""

    @property
    def rate(self) -> float | None:
        """Messages per second, None if not measured."""
        if self.usage is None or not self.messages or self.usage.seconds <= 0:
            return None
        return self.messages / self.usage.seconds


@dataclass(frozen=True, slots=True)
class Task:
    """What one child process does: `kind` is ``bulk``, ``append_big`` or ``fetch_big``."""

    client: str
    kind: str
    host: str
    port: int
    user: str
    folder: str
    repeat: int
    pgid: int
    big_digest: tuple[int, str] = (0, "")
    profile: bool = False


class CheckFailed(Exception):
    """A client returned something other than what was appended."""


class NotAvailable(Exception):
    """imap_client's sync facade lacks what a step needs (it is being written)."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def best(usages: Sequence[Usage]) -> Usage:
    """The least disturbed (fastest) of several timed runs."""
    return min(usages, key=lambda usage: usage.seconds)


def total(usages: Sequence[Usage]) -> Usage:
    """All timed runs together: CPU shares over several runs are less coarse (the kernel
    counts CPU time in ticks of 10 ms) than over the best one alone."""

    def add(values: list[float | None]) -> float | None:
        return None if None in values else sum(v or 0.0 for v in values)

    return Usage(
        sum(u.seconds for u in usages),
        sum(u.client for u in usages),
        add([u.server for u in usages]),
        add([u.other for u in usages]),
    )


# -- clients: imaplib and IMAPClient (sync) ----------------------------------------------------


class SyncSession:
    """What the drivers need of a sync client. Subclasses implement one client each."""

    name = ""

    def select(self) -> int:
        """SELECT INBOX; return EXISTS."""
        raise NotImplementedError

    def append(self, message: bytes) -> None:
        raise NotImplementedError

    def fetch_meta(self) -> object:
        """``FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)``, in the client's form."""
        raise NotImplementedError

    def check_meta(self, result: object, corpus: Corpus) -> str:
        """Check the metadata of every message; return what the result is made of."""
        raise NotImplementedError

    def fetch_bodies(self) -> object:
        """``FETCH 1:* (BODY.PEEK[])``."""
        raise NotImplementedError

    def check_bodies(self, result: object, corpus: Corpus) -> None:
        raise NotImplementedError

    def append_file(self, path: Path) -> None:
        """APPEND the message in `path` to INBOX."""
        raise NotImplementedError

    def fetch_to_file(self, seq: int, path: Path) -> None:
        """FETCH message `seq`'s BODY[] into `path`."""
        raise NotImplementedError

    def logout(self) -> None:
        raise NotImplementedError


class ImaplibSession(SyncSession):
    """Stdlib imaplib: raw responses, nothing parsed past the framing."""

    name = "imaplib"

    def __init__(self, task: Task) -> None:
        self.imap = imaplib.IMAP4(task.host, task.port, timeout=COMMAND_TIMEOUT)
        self.imap.login(task.user, PASSWORD)

    def _ok(self, typ: str, data: object, what: str) -> None:
        if typ != "OK":
            raise CheckFailed(f"imaplib {what}: {typ} {data!r:.200}")

    def select(self) -> int:
        typ, data = self.imap.select("INBOX")
        self._ok(typ, data, "SELECT")
        first = data[0]
        assert isinstance(first, bytes)
        return int(first)

    def append(self, message: bytes) -> None:
        typ, data = self.imap.append("INBOX", None, None, message)
        self._ok(typ, data, "APPEND")

    def fetch_meta(self) -> object:
        typ, data = self.imap.fetch("1:*", f"({' '.join(META_ITEMS)})")
        self._ok(typ, data, "FETCH")
        return data

    def check_meta(self, result: object, corpus: Corpus) -> str:
        # Raw lines (and (line, literal) pairs where Dovecot sent a literal): count the
        # responses, and find every Message-ID in order.
        assert isinstance(result, list)
        starts = [
            item[0] if isinstance(item, tuple) else item
            for item in result
            if isinstance(item, tuple | bytes)
        ]
        count = sum(1 for item in starts if item[:1].isdigit())
        check(count == len(corpus.messages), f"imaplib: {count} FETCH responses")
        blob = b"".join(b"".join(i) if isinstance(i, tuple) else i for i in result)
        position = 0
        for message_id in corpus.message_ids:
            position = blob.find(message_id.encode(), position)
            check(position >= 0, f"imaplib: Message-ID {message_id} missing or out of order")
        return "raw bytes, unparsed"

    def fetch_bodies(self) -> object:
        typ, data = self.imap.fetch("1:*", f"({BODY_ITEM})")
        self._ok(typ, data, "FETCH")
        return data

    def check_bodies(self, result: object, corpus: Corpus) -> None:
        assert isinstance(result, list)
        bodies = [item[1] for item in result if isinstance(item, tuple)]
        check(len(bodies) == len(corpus.messages), f"imaplib: {len(bodies)} bodies")
        for n, (got, want) in enumerate(zip(bodies, corpus.messages, strict=True), 1):
            check(got == want, f"imaplib: body of message {n} differs")

    def append_file(self, path: Path) -> None:
        self.append(path.read_bytes())

    def fetch_to_file(self, seq: int, path: Path) -> None:
        typ, data = self.imap.fetch(str(seq), f"({BODY_ITEM})")
        self._ok(typ, data, "FETCH")
        first = data[0]
        assert isinstance(first, tuple)
        path.write_bytes(first[1])

    def logout(self) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.imap.logout()


class ImapclientSession(SyncSession):
    """IMAPClient: parses FETCH responses into dicts (ENVELOPE and BODYSTRUCTURE objects)."""

    name = "imapclient"

    def __init__(self, task: Task) -> None:
        # use_uid=False: FETCH, as the other clients send, not UID FETCH.
        self.client = imapclient.IMAPClient(
            task.host, port=task.port, ssl=False, use_uid=False, timeout=COMMAND_TIMEOUT
        )
        self.client.login(task.user, PASSWORD)
        self.exists = 0

    def select(self) -> int:
        self.exists = int(self.client.select_folder("INBOX")[b"EXISTS"])
        return self.exists

    def all(self) -> list[int]:
        # IMAPClient 4 cannot take "1:*" (it converts the message set to ints to filter the
        # result): it gets every number, as an application passing a SEARCH result would.
        return list(range(1, self.exists + 1))

    def append(self, message: bytes) -> None:
        self.client.append("INBOX", message)

    def fetch_meta(self) -> object:
        return self.client.fetch(self.all(), list(META_ITEMS))

    def check_meta(self, result: object, corpus: Corpus) -> str:
        assert isinstance(result, dict)
        check(len(result) == len(corpus.messages), f"imapclient: {len(result)} messages")
        for seq, (message, message_id) in enumerate(
            zip(corpus.messages, corpus.message_ids, strict=True), 1
        ):
            data = result[seq]
            envelope = data[b"ENVELOPE"]
            check(
                envelope.message_id == message_id.encode(),
                f"imapclient: Message-ID of message {seq}",
            )
            check(data[b"RFC822.SIZE"] == len(message), f"imapclient: size of message {seq}")
            check(b"UID" in data and b"FLAGS" in data, f"imapclient: UID, FLAGS of {seq}")
            check(len(data[b"BODYSTRUCTURE"]) > 0, f"imapclient: BODYSTRUCTURE of {seq}")
        return "dicts: Envelope, BodyData"

    def fetch_bodies(self) -> object:
        return self.client.fetch(self.all(), [BODY_ITEM])

    def check_bodies(self, result: object, corpus: Corpus) -> None:
        assert isinstance(result, dict)
        check(len(result) == len(corpus.messages), f"imapclient: {len(result)} bodies")
        for seq, want in enumerate(corpus.messages, 1):
            check(result[seq][b"BODY[]"] == want, f"imapclient: body of message {seq} differs")

    def append_file(self, path: Path) -> None:
        self.client.append("INBOX", path.read_bytes())

    def fetch_to_file(self, seq: int, path: Path) -> None:
        result = self.client.fetch([seq], [BODY_ITEM])
        path.write_bytes(result[seq][b"BODY[]"])

    def logout(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()


# -- clients: imap_client ----------------------------------------------------------------------


def check_meta_typed(result: Sequence[FetchResponse], corpus: Corpus, who: str) -> str:
    """Check imap_client's FetchResponse objects against the corpus."""
    responses = [r for r in result if isinstance(r, FetchResponse)]
    check(len(responses) == len(corpus.messages), f"{who}: {len(responses)} FetchResponse")
    for response in responses:
        n = response.seq - 1
        check(0 <= n < len(corpus.messages), f"{who}: sequence number {response.seq}")
        envelope = response.envelope
        check(
            envelope is not None and envelope.message_id == corpus.message_ids[n],
            f"{who}: Message-ID of message {response.seq}",
        )
        check(response.size == len(corpus.messages[n]), f"{who}: size of message {response.seq}")
        check(
            response.uid is not None
            and response.flags is not None
            and response.body_structure is not None,
            f"{who}: UID, FLAGS or BODYSTRUCTURE of message {response.seq}",
        )
    return "FetchResponse objects"


def check_bodies_typed(result: Sequence[FetchResponse], corpus: Corpus, who: str) -> None:
    responses = [r for r in result if isinstance(r, FetchResponse)]
    check(len(responses) == len(corpus.messages), f"{who}: {len(responses)} bodies")
    for response in responses:
        data = response.sections.get(BodySectionKey())
        check(
            isinstance(data, bytes) and data == corpus.messages[response.seq - 1],
            f"{who}: body of message {response.seq} differs",
        )


class AsyncSession:
    """imap_client's AsyncClient, under asyncio (anyio's default backend)."""

    name = "imap_client"

    def __init__(self, task: Task) -> None:
        self.task = task
        self.client = AsyncClient(task.host, task.port, tls=False, timeout=COMMAND_TIMEOUT)

    async def open(self) -> None:
        await self.client.connect()
        await self.client.login(self.task.user, PASSWORD)

    async def select(self) -> int:
        return (await self.client.select("INBOX")).exists

    async def append(self, message: bytes) -> None:
        await self.client.append("INBOX", message)

    async def fetch_meta(self) -> list[FetchResponse]:
        return await self.client.fetch("1:*", list(META_ITEMS))

    async def fetch_bodies(self) -> list[FetchResponse]:
        return await self.client.fetch("1:*", [BODY_ITEM])

    async def append_file(self, path: Path) -> None:
        await self.client.append_from("INBOX", path)

    async def fetch_to_file(self, seq: int, path: Path) -> None:
        with path.open("wb") as sink:
            await self.client.fetch_to(seq, "", sink, uid=False)

    async def logout(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.logout()


def method(obj: object, name: str) -> Callable[..., Any]:
    """`obj`'s method `name`, or NotAvailable."""
    found = getattr(obj, name, None)
    if not callable(found):
        raise NotAvailable(f"{type(obj).__name__}.{name} does not exist yet")
    return found  # type: ignore[no-any-return]


class SyncFacadeSession(SyncSession):
    """imap_client's sync facade, `imap_client.Client`.

    Its methods are looked up at run time: the facade mirrors `AsyncClient`'s coroutine
    methods when it is imported, and declares (types) them one by one.
    """

    name = "imap_client-sync"

    def __init__(self, task: Task) -> None:
        try:
            from imap_client.sync import Client
        except ImportError as exc:
            raise NotAvailable(f"imap_client.Client (the sync facade): {exc}") from None
        self.client = Client(task.host, task.port, tls=False, timeout=COMMAND_TIMEOUT)
        self.client.connect()
        self.client.login(task.user, PASSWORD)

    def select(self) -> int:
        data = method(self.client, "select")("INBOX")
        return int(data.exists)

    def append(self, message: bytes) -> None:
        method(self.client, "append")("INBOX", message)

    def fetch_meta(self) -> object:
        return method(self.client, "fetch")("1:*", list(META_ITEMS))

    def check_meta(self, result: object, corpus: Corpus) -> str:
        assert isinstance(result, list)
        return check_meta_typed(result, corpus, self.name)

    def fetch_bodies(self) -> object:
        return method(self.client, "fetch")("1:*", [BODY_ITEM])

    def check_bodies(self, result: object, corpus: Corpus) -> None:
        assert isinstance(result, list)
        check_bodies_typed(result, corpus, self.name)

    def append_file(self, path: Path) -> None:
        method(self.client, "append_from")("INBOX", path)

    def fetch_to_file(self, seq: int, path: Path) -> None:
        with path.open("wb") as sink:
            method(self.client, "fetch_to")(seq, "", sink, uid=False)

    def logout(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()


# -- drivers (run in the child processes) ------------------------------------------------------


def load_corpus(task: Task) -> Corpus:
    with (Path(task.folder) / "corpus.pickle").open("rb") as source:
        corpus = pickle.load(source)
    assert isinstance(corpus, Corpus)
    return corpus


def run_sync_bulk(session: SyncSession, task: Task, corpus: Corpus) -> list[Step]:
    """APPEND the corpus, then FETCH its metadata and its bodies (1 untimed + repeat runs)."""
    meter = Meter(task.pgid)
    steps: list[Step] = []
    check(session.select() == 0, f"{session.name}: INBOX is not empty")
    # The first APPEND is not timed: Dovecot creates the mailbox's index files.
    session.append(corpus.messages[0])
    append = Step("append", len(corpus.messages) - 1, corpus.octets - len(corpus.messages[0]))
    meter.start()
    for message in corpus.messages[1:]:
        session.append(message)
    append.usage = append.cpu = meter.stop()
    append.runs = 1
    steps.append(append)
    exists = session.select()
    check(exists == len(corpus.messages), f"{session.name}: INBOX has {exists} messages")

    for name, fetch, verify in (
        ("fetch_meta", session.fetch_meta, session.check_meta),
        ("fetch_bodies", session.fetch_bodies, session.check_bodies),
    ):
        step = Step(name, len(corpus.messages), corpus.octets if name == "fetch_bodies" else 0)
        result: object = fetch()  # not timed: Dovecot builds its cache of the mailbox
        usages = []
        for _ in range(task.repeat):
            result = None
            gc.collect()
            meter.start()
            result = fetch()
            usages.append(meter.stop())
        step.usage, step.cpu, step.runs = best(usages), total(usages), len(usages)
        step.note = verify(result, corpus) or ""
        result = None
        steps.append(step)
    session.logout()
    return steps


async def run_async_bulk(session: AsyncSession, task: Task, corpus: Corpus) -> list[Step]:
    """`run_sync_bulk` for AsyncClient."""
    meter = Meter(task.pgid)
    steps: list[Step] = []
    await session.open()
    try:
        check(await session.select() == 0, f"{session.name}: INBOX is not empty")
        await session.append(corpus.messages[0])
        first = len(corpus.messages[0])
        append = Step("append", len(corpus.messages) - 1, corpus.octets - first)
        meter.start()
        for message in corpus.messages[1:]:
            await session.append(message)
        append.usage = append.cpu = meter.stop()
        append.runs = 1
        steps.append(append)
        exists = await session.select()
        check(exists == len(corpus.messages), f"{session.name}: INBOX has {exists} messages")

        for name, fetch in (
            ("fetch_meta", session.fetch_meta),
            ("fetch_bodies", session.fetch_bodies),
        ):
            octets = corpus.octets if name == "fetch_bodies" else 0
            step = Step(name, len(corpus.messages), octets)
            result = await fetch()
            usages = []
            for _ in range(task.repeat):
                result = []
                gc.collect()
                meter.start()
                result = await fetch()
                usages.append(meter.stop())
            step.usage, step.cpu, step.runs = best(usages), total(usages), len(usages)
            if task.profile:
                result = []
                profiler = cProfile.Profile()
                profiler.enable()
                result = await fetch()
                profiler.disable()
                print(
                    f"client_fetch: profile of one more {STEP_LABELS[name]} run:", file=sys.stderr
                )
                stats = pstats.Stats(profiler, stream=sys.stderr)
                stats.sort_stats("tottime").print_stats(25)
            if name == "fetch_meta":
                step.note = check_meta_typed(result, corpus, session.name)
            else:
                check_bodies_typed(result, corpus, session.name)
            result = []
            steps.append(step)
    finally:
        await session.logout()
    return steps


def big_step(task: Task) -> tuple[Step, Path, Path]:
    """The step of a big-message task, the big message's file and the file to fetch into."""
    folder = Path(task.folder)
    step = Step(task.kind, 1, task.big_digest[0])
    return step, folder / "big.eml", folder / f"fetched-{task.client}.eml"


def finish_big(step: Step, usage: Usage, baseline: int, method_: str) -> None:
    """Record a big-message step's time and its peak RSS growth over `baseline`."""
    step.rss_growth = peak_growth(baseline)
    step.usage, step.cpu, step.runs, step.rss_method = usage, usage, 1, method_


def verify_fetched(out: Path, task: Task) -> None:
    """The fetched file must equal the big message."""
    try:
        check(file_digest(out) == task.big_digest, f"{task.client}: fetched file differs")
    finally:
        out.unlink(missing_ok=True)


def run_sync_big(session: SyncSession, task: Task) -> Step:
    """APPEND the big message from its file, or FETCH it (the last message) to a file."""
    meter = Meter(task.pgid)
    step, source, out = big_step(task)
    exists = session.select()
    if task.kind == "append_big":
        baseline, how = reset_peak()
        meter.start()
        session.append_file(source)
        finish_big(step, meter.stop(), baseline, how)
        check(session.select() == exists + 1, f"{session.name}: big message not appended")
    else:
        baseline, how = reset_peak()
        meter.start()
        session.fetch_to_file(exists, out)
        finish_big(step, meter.stop(), baseline, how)
        verify_fetched(out, task)
    session.logout()
    return step


async def run_async_big(session: AsyncSession, task: Task) -> Step:
    """`run_sync_big` for AsyncClient."""
    meter = Meter(task.pgid)
    step, source, out = big_step(task)
    await session.open()
    try:
        exists = await session.select()
        if task.kind == "append_big":
            baseline, how = reset_peak()
            meter.start()
            await session.append_file(source)
            finish_big(step, meter.stop(), baseline, how)
            check(await session.select() == exists + 1, "big message not appended")
        else:
            baseline, how = reset_peak()
            meter.start()
            await session.fetch_to_file(exists, out)
            finish_big(step, meter.stop(), baseline, how)
            verify_fetched(out, task)
    finally:
        await session.logout()
    return step


def run_task(task: Task) -> list[Step]:
    """Run one task in this (child) process."""
    if task.client == "imap_client":

        async def main() -> list[Step]:
            session = AsyncSession(task)
            if task.kind == "bulk":
                return await run_async_bulk(session, task, load_corpus(task))
            return [await run_async_big(session, task)]

        result: list[Step] = anyio.run(main)
        return result
    sessions: dict[str, Callable[[Task], SyncSession]] = {
        "imap_client-sync": SyncFacadeSession,
        "imapclient": ImapclientSession,
        "imaplib": ImaplibSession,
    }
    try:
        session = sessions[task.client](task)
        if task.kind == "bulk":
            return run_sync_bulk(session, task, load_corpus(task))
        return [run_sync_big(session, task)]
    except NotAvailable as exc:
        # The sync facade is missing, or one of its methods: nothing of this task is measured.
        names = ("append", "fetch_meta", "fetch_bodies") if task.kind == "bulk" else (task.kind,)
        return [Step(name, available=False, note=str(exc)) for name in names]


def child_main(task: Task, pipe: Pipe) -> None:
    """Entry point of a child process: run the task, send its steps (or the error) back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops children itself
    try:
        pipe.send(run_task(task))
    except CheckFailed as exc:
        pipe.send(f"check failed: {exc}")
    except Exception:
        pipe.send(traceback.format_exc(limit=8))


# -- parent ------------------------------------------------------------------------------------


def fail(message: str) -> NoReturn:
    """Stop the benchmark with `message` and a non-zero exit status."""
    sys.exit(f"client_fetch: {message}")


def progress(message: str) -> None:
    """Tell what is going on (stderr, so that stdout has only the figures)."""
    print(f"client_fetch: {message}", file=sys.stderr, flush=True)


def run_child(task: Task) -> list[Step]:
    """Run `task` in a fresh (spawned) process; return its steps."""
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe(duplex=False)
    proc = context.Process(target=child_main, args=(task, child_end), daemon=True)
    proc.start()
    child_end.close()
    try:
        deadline = time.monotonic() + TASK_TIMEOUT
        while not parent_end.poll(0.2):
            if not proc.is_alive() and not parent_end.poll(0.2):
                fail(f"{task.client} {task.kind}: the child process died ({proc.exitcode})")
            if time.monotonic() > deadline:
                fail(f"{task.client} {task.kind}: no result in {TASK_TIMEOUT:.0f} s")
        result = parent_end.recv()
    except BaseException:  # Ctrl-C, SIGTERM, a failure: stop the child now
        proc.kill()
        proc.join()
        raise
    proc.join(10)
    if proc.is_alive():
        proc.kill()
        proc.join()
    if isinstance(result, str):
        fail(f"{task.client} {task.kind}: {result}")
    assert isinstance(result, list)
    return result


def client_version(client: str) -> str:
    """The version of the client's distribution (Python's for imaplib)."""
    if client == "imaplib":
        return f"Python {platform.python_version()}"
    distribution = "imapclient" if client == "imapclient" else "imap-client"
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "(source tree)"


CLIENT_TITLES = {
    "imap_client": "imap_client {version} AsyncClient (asyncio)",
    "imap_client-sync": "imap_client {version} Client (sync facade)",
    "imapclient": "imapclient {version}",
    "imaplib": "imaplib ({version})",
}


def step_data(step: Step) -> dict[str, Any]:
    """One step as JSON-ready data."""
    data = asdict(step)
    data["label"] = STEP_LABELS[step.name]
    data["messages_per_second"] = step.rate
    usage = step.usage
    data["mb_per_second"] = (
        step.octets / usage.seconds / 1e6 if usage and usage.seconds and step.octets else None
    )
    data["rss_growth_mb"] = None if step.rss_growth is None else step.rss_growth / 1e6
    cpu = step.cpu
    data["messages_per_client_cpu_second"] = (
        step.messages * step.runs / cpu.client if cpu and cpu.client > 0 else None
    )
    return data


def percent(value: float | None, usage: Usage) -> str:
    return "n/a" if value is None or usage.seconds <= 0 else f"{value / usage.seconds * 100:.0f}%"


def limit(usage: Usage) -> str:
    """What held the step back, judging from the CPU each side used."""
    if usage.seconds <= 0:
        return ""
    client = usage.client / usage.seconds
    server = (usage.server or 0.0) / usage.seconds
    other = (usage.other or 0.0) / usage.seconds
    if client >= 0.85:
        return "client CPU-bound"
    if server >= 0.85:
        return "Dovecot CPU-bound"
    if client + server + other >= 0.9 * (os.cpu_count() or 1):
        return "CPUs all busy"
    return "waiting (round trips, I/O)"


def print_client(client: str, data: dict[str, Any]) -> None:
    """Print one client's figures as text."""
    print(CLIENT_TITLES[client].format(version=data["version"]) + ":")
    for step in data["steps"]:
        label = f"  {step['label']:<17}"
        if not step["available"]:
            print(f"{label}not available: {step['note']}")
            continue
        usage, shares = Usage(**step["usage"]), Usage(**step["cpu"])
        cpu = (
            f"CPU: client {percent(shares.client, shares)}, Dovecot "
            f"{percent(shares.server, shares)}, other {percent(shares.other, shares)}; "
            f"{limit(shares)}"
        )
        if step["rss_growth"] is not None:
            mib, speed = step["octets"] / 2**20, step["mb_per_second"]
            print(
                f"{label}{mib:.0f} MiB in {usage.seconds:.2f} s ({speed:.0f} MB/s), "
                f"peak RSS growth {step['rss_growth_mb']:.1f} MB; {cpu}"
            )
            continue
        runs = f", best of {step['runs']}" if step["runs"] > 1 else ""
        speed = f"{step['mb_per_second']:.1f} MB/s, " if step["octets"] else ""
        what = f" [{step['note']}]" if step["note"] else ""
        print(
            f"{label}{step['messages_per_second']:>8,.0f} messages/s "
            f"({speed}{step['messages']} in {usage.seconds:.2f} s{runs}){what}; {cpu}"
        )
    notes = set()
    for step in data["steps"]:
        if step["cpu"] is not None:
            usage = Usage(**step["cpu"])
            if usage.other is not None and usage.seconds > 0 and usage.other / usage.seconds > 0.2:
                notes.add("other processes competed for the CPU: figures are disturbed")
    for note in sorted(notes):
        print(f"  note: {note}")


def parsed_fetch(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """A client's metadata FETCH step, if it ran."""
    for step in data["steps"] if data else ():
        if step["name"] == "fetch_meta" and step["available"]:
            found: dict[str, Any] = step
            return found
    return None


def ratio_of(ours: dict[str, Any] | None, theirs: dict[str, Any] | None, key: str) -> float | None:
    """ours[key] / theirs[key], None if either is missing."""
    if ours is None or theirs is None or not ours[key] or not theirs[key]:
        return None
    return float(ours[key] / theirs[key])


def account(client: str, number: int) -> str:
    """The Dovecot account of `client` in round `number`."""
    return f"{client.replace('-', '_')}_{number}"


def merge_rounds(kept: list[Step], new: list[Step]) -> list[Step]:
    """Keep each step's fastest round; the peak RSS growth is the largest of all rounds."""
    merged = []
    for old, step in zip(kept, new, strict=True):
        better = step if (step.rate or 0.0) > (old.rate or 0.0) else old
        growths = [g for g in (old.rss_growth, step.rss_growth) if g is not None]
        if growths:
            better.rss_growth = max(growths)
        merged.append(better)
    return merged


def work_dir(args: argparse.Namespace) -> str | None:
    """/dev/shm if it has room for everything (Maildirs in memory: disk I/O is not what is
    measured, and it made Dovecot's APPENDs 2 to 3 times slower), else the temp folder."""
    clients = 1 if args.only else len(CLIENTS)
    big = 0 if args.skip_big else args.big_mb * 2**20
    needed = (clients + 2) * (args.messages * 40_000 + 2 * big)  # generous
    try:
        if shutil.disk_usage("/dev/shm").free > needed + 2**30:
            return "/dev/shm"
    except OSError:
        pass
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Start Dovecot, measure the clients asked for, print (or dump as JSON) their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages APPENDed, FETCHed")
    parser.add_argument("--repeat", type=int, default=5, help="timed FETCH runs; best is kept")
    parser.add_argument("--big-mb", type=int, default=100, help="size of the big message (MiB)")
    parser.add_argument("--skip-big", action="store_true", help="skip the big message steps")
    parser.add_argument("--only", choices=CLIENTS, help="measure one client")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every client this often; keep the best"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the messages")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a profile of one more imap_client (async) FETCH run of each kind (stderr)",
    )
    parser.add_argument(
        "--dir", help="where Dovecot's files go (default: /dev/shm if it has room, else /tmp)"
    )
    args = parser.parse_args(argv)
    if min(args.messages, args.repeat, args.big_mb) < 2:
        parser.error("--messages, --repeat and --big-mb must be at least 2")
    if args.rounds < 1:
        parser.error("--rounds must be positive")
    clients = [args.only] if args.only else list(CLIENTS)

    # SIGTERM (e.g. a CI time-out) unwinds like Ctrl-C, so Dovecot is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    folder = Path(tempfile.mkdtemp(prefix="client_fetch-", dir=args.dir or work_dir(args)))
    folder.chmod(0o755)  # as root, Dovecot's mail processes (nobody) must reach the Maildirs
    accounts = [account(c, n) for n in range(1, args.rounds + 1) for c in clients]
    dovecot: Dovecot | None = None
    try:
        dovecot = Dovecot(folder, accounts)
        progress(f"generating {args.messages} messages (seed {args.seed})")
        corpus = make_corpus(args.messages, args.seed)
        with (folder / "corpus.pickle").open("wb") as out:
            pickle.dump(corpus, out)
        big = (0, "")
        if not args.skip_big:
            progress(f"writing the {args.big_mb} MiB message")
            big = write_big_message(folder / "big.eml", args.big_mb * 1024 * 1024, args.seed)
        sizes = sorted(map(len, corpus.messages))
        kinds = ", ".join(f"{kind} {count}" for kind, count in corpus.kinds.items())
        settings = {
            "messages": args.messages,
            "corpus_mb": corpus.octets / 1e6,
            "median_kb": statistics.median(sizes) / 1e3,
            "largest_kb": sizes[-1] / 1e3,
            "kinds": corpus.kinds,
            "seed": args.seed,
            "repeat": args.repeat,
            "rounds": args.rounds,
            "big_message_octets": big[0] or None,
            "dovecot": dovecot.version,
            "dir": str(folder.parent),
            "cpus": os.cpu_count(),
        }
        if not args.json:
            print(
                f"{args.messages} messages, {settings['corpus_mb']:.1f} MB (median "
                f"{settings['median_kb']:.1f} KB, largest {settings['largest_kb']:.0f} KB; "
                f"{kinds}), seed {args.seed}; "
                + (f"big message {big[0] / 2**20:.1f} MiB; " if big[0] else "")
                + f"FETCH best of {args.repeat}"
                + (f", best of {args.rounds} rounds" if args.rounds > 1 else "")
                + f"; Dovecot {dovecot.version}, Maildirs in "
                f"{folder.parent}; {os.cpu_count()} CPUs"
            )
            sys.stdout.flush()
        dovecot.start()
        progress(f"Dovecot {dovecot.version} on 127.0.0.1:{dovecot.port} (files in {folder})")
        kinds_to_run = ["bulk"] if args.skip_big else ["bulk", "append_big", "fetch_big"]
        kept: dict[str, list[Step]] = {}
        results: dict[str, dict[str, Any]] = {}
        for number in range(1, args.rounds + 1):
            for client in clients:
                user = account(client, number)
                steps: list[Step] = []
                for kind in kinds_to_run:
                    progress(f"round {number}: {client}: {kind}")
                    task = Task(
                        client, kind, dovecot.host, dovecot.port, user, str(folder),
                        args.repeat, dovecot.pgid, big, args.profile and number == 1,
                    )  # fmt: skip
                    steps += run_child(task)
                # This account's Maildir is not needed any more (a round's mail is in memory).
                shutil.rmtree(folder / "mail" / user, ignore_errors=True)
                kept[client] = merge_rounds(kept[client], steps) if client in kept else steps
                if number < args.rounds:
                    continue
                data = {
                    "client": client,
                    "version": client_version(client),
                    "steps": [step_data(step) for step in kept[client]],
                }
                results[client] = data
                if not args.json:
                    print_client(client, data)
                    sys.stdout.flush()
        errors = dovecot.errors()
        if errors:
            fail("Dovecot logged errors:\n" + "\n".join(errors[-10:]))
    finally:
        if dovecot is not None:
            dovecot.stop()
        shutil.rmtree(folder, ignore_errors=True)

    ours = parsed_fetch(results.get("imap_client"))
    sync = parsed_fetch(results.get("imap_client-sync"))
    peer = parsed_fetch(results.get("imapclient"))
    ratio = ratio_of(ours, peer, "messages_per_second")
    sync_ratio = ratio_of(sync, peer, "messages_per_second")
    cpu_ratio = ratio_of(ours, peer, "messages_per_client_cpu_second")
    if args.json:
        document = {
            "settings": settings,
            "clients": results,
            "ratio_parsed_fetch": ratio,
            "ratio_sync_parsed_fetch": sync_ratio,
            "ratio_parsed_fetch_per_client_cpu_second": cpu_ratio,
        }
        json.dump(document, sys.stdout, indent=2, allow_nan=False)
        print()
        return
    if cpu_ratio is not None:
        print(f"ratio imap_client/imapclient parsed FETCH per client CPU-second: {cpu_ratio:.2f}")
    if sync_ratio is not None:
        print(f"ratio imap_client sync/imapclient parsed FETCH: {sync_ratio:.2f}")
    if "imap_client" in results and "imapclient" in results:
        print(
            "ratio imap_client/imapclient parsed FETCH: "
            + (f"{ratio:.2f}" if ratio is not None else "not available")
        )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Dovecot and the children are stopped by now
        print("client_fetch: interrupted", file=sys.stderr)
        sys.exit(130)
