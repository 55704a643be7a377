"""The stdlib ``imaplib`` against the ``imap-server`` command: every method of `imaplib.IMAP4`
that talks to a server.

One server process serves the whole module (it takes a second to start); each test works in
mailboxes of its own, named after it. Commands of extensions the server does not implement
(ACL, QUOTA, ANNOTATEMORE, SORT, THREAD...) must get a clean ``BAD`` or ``NO``, after which the
connection still works. Every client has a socket timeout, so a server that hangs fails the
test instead of stalling it.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import re
import ssl
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from interop.conftest import CliServer

# Must match conftest.USER / PASSWORD (test modules cannot import conftest at run time).
USER = "alice"
PASSWORD = "interop secret: with a colon"
TIMEOUT = 10.0  # socket timeout of every client: no read waits longer

#: The methods of `imaplib.IMAP4` that send commands, each exercised below.
COMMAND_METHODS = frozenset(
    {
        "append", "authenticate", "capability", "check", "close", "copy", "create", "delete",
        "deleteacl", "enable", "expunge", "fetch", "getacl", "getannotation", "getquota",
        "getquotaroot", "idle", "list", "login", "login_cram_md5", "logout", "lsub", "myrights",
        "namespace", "noop", "partial", "proxyauth", "recent", "rename", "search", "select",
        "setacl", "setannotation", "setquota", "sort", "starttls", "status", "store",
        "subscribe", "thread", "uid", "unselect", "unsubscribe", "xatom",
    }
)  # fmt: skip
#: Public attributes of `imaplib.IMAP4` that send no command of their own.
NOT_COMMANDS = frozenset(
    {
        "abort", "error", "readonly",  # exception classes
        "open", "read", "readline", "send", "shutdown", "socket",  # the transport
        "response", "print_log",  # what was received, the debug log
    }
)  # fmt: skip


def ok(result: tuple[str, list[Any]]) -> list[Any]:
    """The data of an ``OK`` result (imaplib raises on ``BAD``, but returns most ``NO``s)."""
    typ, data = result
    assert typ == "OK", result
    return data


def no(result: tuple[str, list[Any]], code: str) -> None:
    """Check a ``NO`` result (imaplib returns those; it raises on ``BAD``) and its code."""
    typ, data = result
    assert typ == "NO", result
    assert data[0].startswith(f"[{code}]".encode()), result


def flat(data: list[Any]) -> bytes:
    """imaplib's response data (bytes, and (line, literal) tuples) as one byte string."""
    parts: list[bytes] = []
    for item in data:
        if isinstance(item, tuple):
            parts.extend(item)
        elif item is not None:
            parts.append(item)
    return b" ".join(parts)


def message(subject: str, body: str = "body\r\n") -> bytes:
    lines = [
        "From: Ann Example <ann@example.com>",
        "To: bob@example.org",
        f"Subject: {subject}",
        "Date: Thu, 29 Feb 2024 13:14:15 +0200",
        f"Message-ID: <{re.sub(r'[^A-Za-z0-9]+', '.', subject)}@example.com>",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


MULTIPART = (
    b"From: Ann Example <ann@example.com>\r\nTo: bob@example.org\r\nSubject: Parts\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
    b"--XX\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--XX--\r\n"
)


@pytest.fixture
def connect(cli_server: CliServer) -> Iterator[Callable[[], imaplib.IMAP4]]:
    """Open plain connections to the server; each is logged out (or closed) afterwards."""
    opened: list[imaplib.IMAP4] = []

    def open_one() -> imaplib.IMAP4:
        m = imaplib.IMAP4(cli_server.host, cli_server.port, timeout=TIMEOUT)
        opened.append(m)
        return m

    yield open_one
    for m in opened:
        if m.state != "LOGOUT":
            try:
                m.logout()
            except (OSError, imaplib.IMAP4.error):
                m.shutdown()


@pytest.fixture
def imap(connect: Callable[[], imaplib.IMAP4]) -> imaplib.IMAP4:
    """A logged-in connection."""
    m = connect()
    ok(m.login(USER, PASSWORD))
    return m


@pytest.fixture
def box(imap: imaplib.IMAP4, request: pytest.FixtureRequest) -> str:
    """A new mailbox for this test (on the `imap` connection)."""
    name = "t-" + re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")
    ok(imap.create(name))
    return name


def test_every_command_method_is_covered() -> None:
    public = {
        name
        for name in dir(imaplib.IMAP4)
        if not name.startswith("_") and callable(getattr(imaplib.IMAP4, name))
    }
    unknown = public - COMMAND_METHODS - NOT_COMMANDS
    assert not unknown, f"imaplib.IMAP4 has methods these tests do not know: {sorted(unknown)}"


def test_greeting_login_capability_noop_logout(connect: Callable[[], imaplib.IMAP4]) -> None:
    m = connect()
    assert m.welcome.startswith(b"* OK ")
    assert {"IMAP4REV1", "STARTTLS", "AUTH=PLAIN", "IDLE"} <= set(m.capabilities)
    assert m.PROTOCOL_VERSION == "IMAP4REV1"
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login(USER, "wrong")
    assert m.state == "NONAUTH"
    data = ok(m.login(USER, PASSWORD))
    assert data[0].startswith(b"[CAPABILITY IMAP4rev1 ")
    assert m.state == "AUTH"
    caps = ok(m.capability())[-1].split()
    assert b"IMAP4rev2" in caps
    assert b"AUTH=PLAIN" not in caps  # not after logging in
    assert ok(m.noop()) == [b"NOOP completed"]
    typ, data = m.logout()
    assert typ == "BYE"
    assert m.state == "LOGOUT"


def test_authenticate_plain_with_a_callable(connect: Callable[[], imaplib.IMAP4]) -> None:
    challenges: list[bytes] = []

    def plain(challenge: bytes) -> bytes:
        challenges.append(challenge)
        return f"\0{USER}\0{PASSWORD}".encode()

    m = connect()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.authenticate("PLAIN", lambda _: f"\0{USER}\0wrong".encode())
    typ, _ = m.authenticate("PLAIN", plain)
    assert typ == "OK"
    assert challenges == [b""]  # one empty challenge, then the credentials
    assert m.state == "AUTH"
    ok(m.select())


def test_login_cram_md5_is_refused_cleanly(connect: Callable[[], imaplib.IMAP4]) -> None:
    m = connect()
    assert "AUTH=CRAM-MD5" not in m.capabilities
    with pytest.raises(imaplib.IMAP4.error) as info:
        m.login_cram_md5(USER, PASSWORD)
    assert not isinstance(info.value, imaplib.IMAP4.abort)
    assert "[CANNOT]" in str(info.value)  # NO [CANNOT]: an unsupported mechanism
    assert m.state == "NONAUTH"
    ok(m.login(USER, PASSWORD))  # the connection is still in step


def test_starttls(cli_server: CliServer, client_ssl_context: ssl.SSLContext) -> None:
    with imaplib.IMAP4(cli_server.host, cli_server.port, timeout=TIMEOUT) as m:
        assert "STARTTLS" in m.capabilities
        typ, _ = m.starttls(ssl_context=client_ssl_context)
        assert typ == "OK"
        assert isinstance(m.sock, ssl.SSLSocket)
        assert m.sock.version() in ("TLSv1.2", "TLSv1.3")
        # imaplib asks for the capabilities again: no STARTTLS a second time.
        assert "STARTTLS" not in m.capabilities
        assert "AUTH=PLAIN" in m.capabilities
        ok(m.login(USER, PASSWORD))
        ok(m.select("INBOX"))
        ok(m.noop())


def test_imap4_ssl_implicit_tls(cli_server: CliServer, client_ssl_context: ssl.SSLContext) -> None:
    with imaplib.IMAP4_SSL(
        cli_server.host, cli_server.tls_port, ssl_context=client_ssl_context, timeout=TIMEOUT
    ) as m:
        assert isinstance(m.sock, ssl.SSLSocket)
        assert "STARTTLS" not in m.capabilities
        ok(m.login(USER, PASSWORD))
        ok(m.append("INBOX", None, None, message("over TLS")))
        ok(m.select("INBOX", readonly=True))
        assert b"Subject: over TLS" in flat(ok(m.fetch("*", "(BODY.PEEK[HEADER])")))
    assert m.state == "LOGOUT"


def test_mailbox_management(imap: imaplib.IMAP4, box: str) -> None:
    m = imap
    no(m.create(box), "ALREADYEXISTS")
    ok(m.create(f"{box}/child"))
    listed = ok(m.list('""', f"{box}*"))
    assert listed == [
        f'(\\HasChildren) "/" {box}'.encode(),
        f'(\\HasNoChildren) "/" {box}/child'.encode(),
    ]
    assert ok(m.list('""', f"{box}%")) == [f'(\\HasChildren) "/" {box}'.encode()]
    assert ok(m.list('""', "no-such-*")) == [None]

    ok(m.subscribe(f"{box}/child"))
    assert ok(m.lsub('""', f"{box}*")) == [f'() "/" {box}/child'.encode()]
    ok(m.unsubscribe(f"{box}/child"))
    assert ok(m.lsub('""', f"{box}*")) == [None]

    # Renaming a mailbox renames its inferiors too.
    ok(m.rename(box, f"{box}-renamed"))
    names = [line.rsplit(b" ", 1)[1] for line in ok(m.list('""', f"{box}*"))]
    assert names == [f"{box}-renamed".encode(), f"{box}-renamed/child".encode()]
    no(m.select(box), "NONEXISTENT")
    assert m.state == "AUTH"
    ok(m.delete(f"{box}-renamed/child"))
    ok(m.delete(f"{box}-renamed"))
    no(m.delete(f"{box}-renamed"), "NONEXISTENT")
    assert ok(m.list('""', f"{box}*")) == [None]


def test_append_status_select_examine_fetch(imap: imaplib.IMAP4, box: str) -> None:
    m = imap
    when = dt.datetime(2024, 2, 29, 13, 14, 15, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    data = ok(m.append(box, r"(\Flagged $Important)", when, MULTIPART))
    assert re.fullmatch(rb"\[APPENDUID \d+ 1\] APPEND completed", data[0])
    ok(m.append(box, None, None, message("Second")))

    status = ok(m.status(box, "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE)"))[0]
    fields = dict(re.findall(rb"([A-Z]+) (\d+)", status))
    assert fields[b"MESSAGES"] == b"2"
    assert fields[b"UIDNEXT"] == b"3"
    assert fields[b"UNSEEN"] == b"2"
    assert int(fields[b"SIZE"]) == len(MULTIPART) + len(message("Second"))

    # readonly=True sends EXAMINE: reading does not set \Seen, changing flags is refused.
    assert ok(m.select(box, readonly=True)) == [b"2"]
    assert "READ-ONLY" in m.untagged_responses
    assert b"Subject: Parts" in flat(ok(m.fetch("1", "(BODY[])")))
    typ, _ = m.store("1", "+FLAGS", r"(\Deleted)")
    assert typ == "NO"

    assert ok(m.select(box)) == [b"2"]
    assert m.response("FLAGS")[1][0].startswith(b"(\\Answered \\Flagged")
    assert "READ-WRITE" in m.untagged_responses
    fetched = flat(ok(m.fetch("1", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)")))
    assert b"UID 1 " in fetched
    flags = re.search(rb"FLAGS \(([^)]*)\)", fetched)
    assert flags is not None
    assert set(flags[1].split()) >= {b"\\Flagged", b"$Important"}
    assert b"\\Seen" not in flags[1]  # the EXAMINE above did not set it
    internal = re.search(rb'INTERNALDATE "([^"]+)"', fetched)
    assert internal is not None
    assert dt.datetime.strptime(internal[1].decode(), "%d-%b-%Y %H:%M:%S %z") == when
    assert imaplib.Internaldate2tuple(fetched) is not None
    assert f"RFC822.SIZE {len(MULTIPART)}".encode() in fetched
    assert re.search(
        rb'ENVELOPE \(NIL "Parts" \(\("Ann Example" NIL "ann" "example.com"\)\)', fetched
    )
    assert re.search(
        rb'BODYSTRUCTURE \(\("TEXT" "PLAIN" \("CHARSET" "utf-8"\).*\)\("TEXT" "HTML".*\) "MIXED"',
        fetched,
        re.IGNORECASE,
    )

    # Sections and partial fetches, each part of the response in its own literal.
    data = ok(m.fetch("1", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[]<0.10>)"))
    assert isinstance(data[0], tuple)
    joined = flat(data)
    assert b"hello" in joined
    assert b"Content-Type: text/html" in joined
    assert b"BODY[]<0> {10}" in joined
    assert b"From: Ann " in joined
    headers = flat(ok(m.fetch("1:2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")))
    assert headers.count(b"Subject: ") == 2


def test_large_message_both_ways(imap: imaplib.IMAP4, box: str) -> None:
    """6 MB: the server spools the APPEND to a file, parses it there, and streams the FETCH
    sections over 256 KiB (BODY[], the attachment part) instead of building them."""
    attachment = b"".join(b"%075d\r\n" % n for n in range(80_000))  # 6.1 MB of 77-octet lines
    big = (
        b"From: Ann Example <ann@example.com>\r\nTo: bob@example.org\r\nSubject: Big\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BIG\r\n\r\n"
        b"--BIG\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--BIG\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--BIG--\r\n"
    )
    ok(imap.append(box, None, None, big))
    assert ok(imap.select(box)) == [b"1"]
    fetched = ok(imap.fetch("1", "(RFC822.SIZE BODYSTRUCTURE BODY.PEEK[])"))
    line, literal = fetched[0]
    assert literal == big
    assert f"RFC822.SIZE {len(big)}".encode() in line
    # The line break before a delimiter belongs to the delimiter (RFC 2046 section 5.1.1).
    part = attachment[:-2]
    assert re.search(rb'"APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" %d' % len(part),
                     line, re.IGNORECASE)  # fmt: skip
    assert ok(imap.fetch("1", "(BODY.PEEK[2])"))[0][1] == part
    assert ok(imap.fetch("1", "(BODY.PEEK[]<100.50>)"))[0][1] == big[100:150]


def test_search(imap: imaplib.IMAP4, box: str) -> None:
    m = imap
    ok(m.append(box, r"(\Seen)", None, message("Lunch on Friday", "Let us meet.\r\n")))
    ok(m.append(box, r"(\Flagged)", None, message("Quarterly report", "x" * 3000 + "\r\n")))
    ok(m.append(box, None, None, message("=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Wien")))
    ok(m.select(box))

    def search(*criteria: str) -> list[int]:
        return [int(n) for n in ok(m.search(None, *criteria))[0].split()]

    assert search("ALL") == [1, 2, 3]
    assert search("SUBJECT", "lunch") == [1]
    assert search("SEEN") == [1]
    assert search("UNSEEN") == [2, 3]
    assert search("FLAGGED") == [2]
    assert search("LARGER", "2000") == [2]
    assert search("OR", "SEEN", "FLAGGED") == [1, 2]
    assert search("NOT", "SEEN", "NOT", "FLAGGED") == [3]
    assert search("BODY", "meet") == [1]
    assert search("FROM", "ann@example.com", "TO", "bob") == [1, 2, 3]
    assert search("SENTON", "29-Feb-2024") == [1, 2, 3]
    assert search("SINCE", "1-Jan-2000", "UID", "2:*") == [2, 3]
    assert search("HEADER", "Message-ID", "@example.com") == [1, 2, 3]
    # CHARSET UTF-8 with the criterion in a literal (imaplib's `literal` attribute).
    m.literal = "grüße".encode()  # type: ignore[assignment]  # typeshed says str; bytes it is
    assert [int(n) for n in ok(m.search("UTF-8", "SUBJECT"))[0].split()] == [3]
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m.search(None, "NO-SUCH-KEY")
    ok(m.noop())


def test_uid_search_with_a_literal(imap: imaplib.IMAP4, box: str) -> None:
    m = imap
    ok(m.append(box, None, None, message("=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Wien")))
    ok(m.select(box))
    m.literal = "grüße".encode()  # type: ignore[assignment]  # typeshed says str; bytes it is
    assert ok(m.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT")) == [b"1"]


def test_store_copy_expunge_check_close_unselect(imap: imaplib.IMAP4, box: str) -> None:
    m = imap
    for n in range(1, 5):
        ok(m.append(box, None, None, message(f"Message {n}")))
    ok(m.create(f"{box}-copies"))
    ok(m.select(box))

    assert ok(m.store("1", "+FLAGS", r"(\Seen \Answered)")) == [
        b"1 (FLAGS (\\Answered \\Recent \\Seen))"
    ]
    assert ok(m.store("1", "-FLAGS", r"(\Answered)")) == [b"1 (FLAGS (\\Recent \\Seen))"]
    assert ok(m.store("2", "FLAGS", "(custom)")) == [b"2 (FLAGS (\\Recent custom))"]
    assert ok(m.store("3", "+FLAGS.SILENT", r"(\Deleted)")) == [None]
    data = ok(m.copy("1:2", f"{box}-copies"))
    assert re.fullmatch(rb"\[COPYUID \d+ 1:2 1:2\] COPY completed", data[0])
    ok(m.check())

    assert ok(m.expunge()) == [b"3"]
    assert ok(m.search(None, "ALL")) == [b"1 2 3"]
    # UNSELECT leaves \Deleted messages alone; CLOSE expunges them, silently.
    ok(m.store("1", "+FLAGS", r"(\Deleted)"))
    ok(m.unselect())
    assert m.state == "AUTH"
    ok(m.select(box))
    assert ok(m.search(None, "DELETED")) == [b"1"]
    ok(m.close())
    assert m.state == "AUTH"
    assert "EXPUNGE" not in m.untagged_responses
    assert ok(m.select(box)) == [b"2"]

    ok(m.select(f"{box}-copies", readonly=True))
    flags = flat(ok(m.fetch("1:*", "(FLAGS)")))
    assert b"1 (FLAGS (\\Recent \\Seen))" in flags or b"1 (FLAGS (\\Seen))" in flags
    assert b"custom" in flags


def test_uid_commands(imap: imaplib.IMAP4, box: str) -> None:
    m = imap
    for n in range(1, 6):
        ok(m.append(box, None, None, message(f"UID {n}")))
    ok(m.create(f"{box}-dest"))
    ok(m.select(box))
    ok(m.store("1", "+FLAGS", r"(\Deleted)"))
    ok(m.expunge())  # now UIDs 2..5 are sequence numbers 1..4

    assert ok(m.uid("SEARCH", "ALL")) == [b"2 3 4 5"]
    assert ok(m.uid("SEARCH", "UID", "3:4")) == [b"3 4"]
    assert ok(m.uid("FETCH", "3", "(FLAGS)")) == [b"2 (UID 3 FLAGS (\\Recent))"]
    assert ok(m.uid("STORE", "3", "+FLAGS", r"(\Flagged)")) == [
        b"2 (UID 3 FLAGS (\\Flagged \\Recent))"
    ]
    assert ok(m.uid("FETCH", "1", "(FLAGS)")) == [None]  # expunged: nothing, no error

    ok(m.uid("COPY", "2:3", f"{box}-dest"))
    ok(m.uid("MOVE", "4", f"{box}-dest"))
    # COPYUID of UID COPY (tagged), then of UID MOVE (untagged, before the EXPUNGE).
    copyuids = m.response("COPYUID")[1]
    assert [c.split()[1:] for c in copyuids] == [[b"2:3", b"1:2"], [b"4", b"3"]]
    # imaplib hands out the EXPUNGE response MOVE caused (sequence number 3: UID 4), and
    # EXPUNGE itself removes nothing more.
    assert ok(m.expunge()) == [b"3"]
    assert ok(m.uid("SEARCH", "ALL")) == [b"2 3 5"]

    ok(m.uid("STORE", "2,5", "+FLAGS.SILENT", r"(\Deleted)"))
    ok(m.uid("EXPUNGE", "5"))  # UIDPLUS: only UID 5, though UID 2 is \Deleted too
    assert ok(m.uid("SEARCH", "ALL")) == [b"2 3"]
    assert m.response("EXPUNGE")[1] == [b"3"]

    ok(m.select(f"{box}-dest"))
    assert ok(m.uid("SEARCH", "ALL")) == [b"1 2 3"]
    fetched = flat(ok(m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")))
    assert re.findall(rb"Subject: (UID \d)", fetched) == [b"UID 2", b"UID 3", b"UID 4"]


def test_recent_reports_mail_from_another_connection(
    imap: imaplib.IMAP4, box: str, connect: Callable[[], imaplib.IMAP4]
) -> None:
    m = imap
    ok(m.append(box, None, None, message("First")))
    ok(m.select(box))
    assert m.recent() == ("OK", [b"1"])  # from the SELECT
    assert m.recent() == ("OK", [None])  # asked again with a NOOP: nothing new

    other = connect()
    ok(other.login(USER, PASSWORD))
    ok(other.append(box, None, None, message("Second")))
    assert m.recent() == ("OK", [b"2"])
    assert m.response("EXISTS")[1][-1] == b"2"


def test_namespace_and_enable_imap4rev2(connect: Callable[[], imaplib.IMAP4]) -> None:
    m = connect()
    ok(m.login(USER, PASSWORD))
    assert ok(m.namespace()) == [b'(("" "/")) NIL NIL']
    ok(m.enable("IMAP4rev2"))
    assert m.response("ENABLED") == ("ENABLED", [b"IMAP4rev2"])
    ok(m.append("INBOX", None, None, message("rev2")))
    ok(m.select("INBOX"))
    # IMAP4rev2 has no \Recent, and answers SEARCH with ESEARCH.
    assert "RECENT" not in m.untagged_responses
    assert b"\\Recent" not in flat(ok(m.fetch("1:*", "(FLAGS)")))
    assert ok(m.search(None, "ALL")) == [None]
    esearch = m.response("ESEARCH")[1][0]
    assert re.fullmatch(rb'\(TAG "[A-Z]+\d+"\) ALL 1(:\d+)?', esearch)


def test_xatom(imap: imaplib.IMAP4, monkeypatch: pytest.MonkeyPatch) -> None:
    # xatom adds the command to imaplib's global table: give it a copy to change.
    monkeypatch.setattr(imaplib, "Commands", dict(imaplib.Commands))
    m = imap
    assert ok(m.xatom("ID", "NIL")) == [b"ID completed"]
    assert m.response("ID")[1][0].startswith(b'("name" "imap-server"')
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m.xatom("XNOSUCHCOMMAND", "argument")
    ok(m.noop())


# Commands of extensions the server does not offer; each needs a BAD or NO, not a hang.
# (method, arguments, needs a selected mailbox, only BAD will do)
UNSUPPORTED: list[tuple[str, tuple[str, ...], bool, bool]] = [
    ("getacl", ("INBOX",), False, False),
    ("setacl", ("INBOX", "bob", "lrs"), False, False),
    ("deleteacl", ("INBOX", "bob"), False, False),
    ("myrights", ("INBOX",), False, False),
    ("getannotation", ("INBOX", '"/comment"', '"value.priv"'), False, False),
    ("setannotation", ("INBOX", '("/comment" ("value.priv" "hello"))'), False, False),
    ("getquota", ('""',), False, False),
    ("getquotaroot", ("INBOX",), False, False),
    ("setquota", ('""', "(STORAGE 512)"), False, False),
    ("proxyauth", ("bob",), False, True),
    ("partial", ("1", "BODY[]", "0", "10"), True, True),
    ("sort", ("(DATE)", "UTF-8", "ALL"), True, True),
    ("thread", ("REFERENCES", "UTF-8", "ALL"), True, True),
]


@pytest.mark.parametrize(
    ("method", "args", "selected", "bad_only"), UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED]
)
def test_unsupported_extension_commands_fail_cleanly(
    imap: imaplib.IMAP4, method: str, args: tuple[str, ...], selected: bool, bad_only: bool
) -> None:
    m = imap
    if selected:
        ok(m.append("INBOX", None, None, message("something to refer to")))
        ok(m.select("INBOX"))
    command: Callable[..., tuple[str, list[Any]]] = getattr(m, method)
    # imaplib raises on BAD, and returns NO.
    try:
        typ, data = command(*args)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        assert re.search(r"\bBAD\b", str(exc)), exc
    else:
        assert typ == ("BAD" if bad_only else "NO"), (typ, data)
    ok(m.noop())  # still in step


@pytest.mark.skipif(not hasattr(imaplib.IMAP4, "idle"), reason="imaplib has IDLE from 3.14")
def test_idle(imap: imaplib.IMAP4, box: str, connect: Callable[[], imaplib.IMAP4]) -> None:
    m = imap
    ok(m.select(box))
    other = connect()
    ok(other.login(USER, PASSWORD))
    seen: list[tuple[str, Any]] = []
    with cast(Any, m).idle(duration=TIMEOUT) as idler:
        ok(other.append(box, None, None, message("while idling")))
        for typ, datum in idler:
            seen.append((typ, datum))
            if typ == "EXISTS":
                break
    assert seen and seen[-1][0] == "EXISTS"
    assert ok(m.search(None, "ALL")) == [b"1"]
