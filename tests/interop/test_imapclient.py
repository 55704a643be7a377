"""IMAPClient (a popular synchronous client over imaplib) against our server.

The server runs in a thread (`ThreadedServer`) so that tests can preload what the protocol
cannot create, such as special-use attributes; its listener offers STARTTLS. IMAPClient parses
the responses itself (ENVELOPE, BODYSTRUCTURE, dates, flags), so these tests check that our
output survives a parser that is not ours.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import DRAFTS, SENT, TRASH

from imap_server import MemoryStore

if TYPE_CHECKING:
    from imap_server.testing.harness import ThreadedServer

USER = "alice"
PASSWORD = "interop secret: with a colon"
TIMEOUT = 10.0

MESSAGE = (
    b"From: Ann Example <ann@example.com>\r\n"
    b"To: Bob <bob@example.org>, carol@example.net\r\n"
    b"Cc: dave@example.com\r\n"
    b"Subject: Quarterly figures\r\n"
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    b"Message-ID: <figures-1@example.com>\r\n"
    b"In-Reply-To: <question@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe figures are up.\r\n"
    b"--XX\r\nContent-Type: application/pdf; name=figures.pdf\r\n"
    b"Content-Disposition: attachment; filename=figures.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n"
)


def simple(subject: str) -> bytes:
    return f"From: ann@example.com\r\nSubject: {subject}\r\n\r\n{subject}\r\n".encode()


@pytest.fixture
def connect(
    threaded_server: ThreadedServer, client_ssl_context: ssl.SSLContext
) -> Iterator[Callable[..., IMAPClient]]:
    """Open logged-in IMAPClient connections (after STARTTLS); each is logged out after."""
    opened: list[IMAPClient] = []
    assert threaded_server.running is not None
    port = threaded_server.running.port

    def open_one(*, login: bool = True) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=TIMEOUT)
        opened.append(client)
        client.normalise_times = False  # keep time zones: compare aware datetimes
        if login:
            client.starttls(client_ssl_context)
            client.login(USER, PASSWORD)
        return client

    yield open_one
    for client in opened:
        try:
            client.logout()
        except (OSError, IMAPClientError):
            client.shutdown()


@pytest.fixture
def client(connect: Callable[..., IMAPClient]) -> IMAPClient:
    return connect()


def test_plain_login_on_loopback_without_tls(connect: Callable[..., IMAPClient]) -> None:
    c = connect(login=False)
    with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
        c.plain_login(USER, "wrong")
    assert c.plain_login(USER, PASSWORD).endswith(b"Logged in")
    assert [name for _, _, name in c.list_folders()] == ["INBOX"]


def test_starttls_login_id_namespace_enable(
    connect: Callable[..., IMAPClient], client_ssl_context: ssl.SSLContext
) -> None:
    c = connect(login=False)
    assert c.has_capability("STARTTLS")
    c.starttls(client_ssl_context)
    assert isinstance(c.socket(), ssl.SSLSocket)
    assert not c.has_capability("STARTTLS")
    assert b"Logged in" in c.login(USER, PASSWORD)
    caps = c.capabilities()
    assert {b"IMAP4REV2", b"IDLE", b"MOVE", b"UIDPLUS", b"SPECIAL-USE"} <= set(caps)
    server_id = c.id_({"name": "interop-test", "version": "1"})
    assert dict(zip(server_id[0][::2], server_id[0][1::2], strict=True))[b"name"] == b"imap-server"
    ns = c.namespace()
    assert ns.personal == (("", "/"),)
    assert ns.other is None and ns.shared is None
    assert c.enable("IMAP4rev2", "NO-SUCH-EXTENSION") == [b"IMAP4rev2"]


def test_folders(
    client: IMAPClient, threaded_server: ThreadedServer, memory_store: MemoryStore
) -> None:
    async def preload() -> None:
        user = await memory_store.open_user(USER)
        # Names no heuristic would guess: only the attributes tell.
        await user.create_mailbox("Gesendet", special_use=frozenset({"\\Sent"}))
        await user.create_mailbox("Papierkorb", special_use=frozenset({"\\Trash"}))

    threaded_server.call(preload)
    c = client
    # RFC 6154 special-use attributes come with every LIST, not only with RETURN (SPECIAL-USE).
    assert {name: (set(flags), sep) for flags, sep, name in c.list_folders()} == {
        "Gesendet": ({b"\\HasNoChildren", b"\\Sent"}, b"/"),
        "INBOX": ({b"\\HasNoChildren"}, b"/"),
        "Papierkorb": ({b"\\HasNoChildren", b"\\Trash"}, b"/"),
    }
    assert c.find_special_folder(SENT) == "Gesendet"
    assert c.find_special_folder(TRASH) == "Papierkorb"
    assert c.find_special_folder(DRAFTS) is None

    c.create_folder("Projects")
    c.create_folder("Projects/Zürich")  # modified UTF-7 on the wire, both ways
    assert c.folder_exists("Projects/Zürich")
    assert c.list_folders("", "Projects") == [((b"\\HasChildren",), b"/", "Projects")]
    assert c.list_folders("Projects/", "*") == [((b"\\HasNoChildren",), b"/", "Projects/Zürich")]
    c.folder_encode = False  # the names as the server sent them
    assert c.list_folders("Projects/", "*")[0][2] == b"Projects/Z&APw-rich"
    c.folder_encode = True

    c.rename_folder("Projects/Zürich", "Projects/Genève")
    assert not c.folder_exists("Projects/Zürich")
    assert c.folder_exists("Projects/Genève")
    c.subscribe_folder("Projects/Genève")
    assert [f[2] for f in c.list_sub_folders()] == ["Projects/Genève"]
    c.unsubscribe_folder("Projects/Genève")
    assert c.list_sub_folders() == []

    c.append("Projects/Genève", simple("one"))
    status = c.folder_status("Projects/Genève")
    assert status[b"MESSAGES"] == 1
    assert status[b"UNSEEN"] == 1
    assert status[b"UIDNEXT"] == 2
    assert status[b"UIDVALIDITY"] > 0
    assert c.folder_status("Projects/Genève", [b"MESSAGES"]) == {b"MESSAGES": 1}

    with pytest.raises(IMAPClientError, match="ALREADYEXISTS"):
        c.create_folder("Projects")
    c.delete_folder("Projects/Genève")
    c.delete_folder("Projects")
    assert not c.folder_exists("Projects")
    with pytest.raises(IMAPClientError, match="NONEXISTENT"):
        c.delete_folder("Projects")


def test_append_select_search_fetch(client: IMAPClient) -> None:
    c = client
    when = dt.datetime(2024, 2, 29, 13, 14, 15, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    c.append("INBOX", MESSAGE, flags=[b"\\Flagged", b"$Work"], msg_time=when)
    c.append("INBOX", simple("lunch"), flags=[b"\\Seen"])
    c.append("INBOX", simple("Grüße aus Zürich"))

    selected = c.select_folder("INBOX")
    assert selected[b"EXISTS"] == 3
    assert selected[b"UIDNEXT"] == 4
    assert selected[b"READ-WRITE"] is True
    assert {b"\\Seen", b"\\Flagged", b"$Work"} <= set(selected[b"FLAGS"])
    assert b"\\*" in selected[b"PERMANENTFLAGS"]

    assert c.search() == [1, 2, 3]
    assert c.search(["FLAGGED"]) == [1]
    assert c.search(["UNSEEN", "FROM", "ann@example.com"]) == [1, 3]
    assert c.search(["SUBJECT", "lunch"]) == [2]
    assert c.search(["OR", "SEEN", "KEYWORD", "$Work"]) == [1, 2]
    assert c.search(["SENTBEFORE", dt.date(2000, 1, 1)]) == [1]
    assert c.search(["SINCE", dt.date(2024, 2, 29), "BEFORE", dt.date(2024, 3, 1)]) == [1]
    assert c.search(["CC", "dave", "NOT", "DELETED"]) == [1]

    data = c.fetch([1], ["ENVELOPE", "BODYSTRUCTURE", "BODY[]", "FLAGS", "INTERNALDATE"])
    msg = data[1]
    assert msg[b"SEQ"] == 1
    assert msg[b"BODY[]"] == MESSAGE
    # Fetching BODY[] set \Seen, and FLAGS in the same response says so.
    assert set(msg[b"FLAGS"]) == {b"\\Flagged", b"$Work", b"\\Recent", b"\\Seen"}
    assert msg[b"INTERNALDATE"] == when

    env = msg[b"ENVELOPE"]
    assert env.subject == b"Quarterly figures"
    assert env.date == dt.datetime(
        1994, 2, 7, 21, 52, 25, tzinfo=dt.timezone(-dt.timedelta(hours=8))
    )
    assert [(a.name, a.mailbox, a.host) for a in env.from_] == [
        (b"Ann Example", b"ann", b"example.com")
    ]
    assert env.sender == env.from_ and env.reply_to == env.from_
    assert [str(a) for a in env.to] == ["Bob <bob@example.org>", "carol@example.net"]
    assert [str(a) for a in env.cc] == ["dave@example.com"]
    assert env.bcc is None
    assert env.in_reply_to == b"<question@example.com>"
    assert env.message_id == b"<figures-1@example.com>"

    body = msg[b"BODYSTRUCTURE"]
    assert body.is_multipart
    parts, subtype = body[0], body[1]
    assert subtype.upper() == b"MIXED"
    text, pdf = parts
    assert (text[0].upper(), text[1].upper()) == (b"TEXT", b"PLAIN")
    assert text[2] == (b"CHARSET", b"utf-8")
    # The CRLF before a boundary belongs to the boundary (RFC 2046 section 5.1.1).
    assert (text[6], text[7]) == (len(b"The figures are up."), 1)  # octets, lines
    assert (pdf[0].upper(), pdf[1].upper()) == (b"APPLICATION", b"PDF")
    assert pdf[5].upper() == b"BASE64"
    disposition = pdf[8]
    assert disposition[0].upper() == b"ATTACHMENT"
    assert disposition[1] == (b"FILENAME", b"figures.pdf")

    # A peek leaves \Seen alone; a BODY[] fetch sets it.
    peek = c.fetch([3], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "RFC822.SIZE"])[3]
    assert peek[b"BODY[HEADER.FIELDS (SUBJECT)]"].startswith(b"Subject: Gr")
    assert peek[b"RFC822.SIZE"] == len(simple("Grüße aus Zürich"))
    assert b"\\Seen" not in c.get_flags([3])[3]
    c.fetch([3], ["BODY[TEXT]"])
    assert b"\\Seen" in c.get_flags([3])[3]

    # BINARY (RFC 3516): the server undoes the Content-Transfer-Encoding.
    binary = c.fetch([1], ["BINARY.PEEK[2]", "BINARY.SIZE[2]", "RFC822.HEADER"])[1]
    assert binary[b"BINARY[2]"] == b"%PDF-1.4\n"
    assert binary[b"BINARY.SIZE[2]"] == len(b"%PDF-1.4\n")
    assert binary[b"RFC822.HEADER"] == MESSAGE.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"


def test_flags_copy_move_expunge(client: IMAPClient) -> None:
    c = client
    c.create_folder("Archive")
    for n in range(1, 6):
        c.append("INBOX", simple(f"message {n}"))
    c.select_folder("INBOX")
    assert c.search() == [1, 2, 3, 4, 5]

    assert c.add_flags([1, 2], [b"\\Seen", b"tag"]) == {
        1: (b"\\Recent", b"\\Seen", b"tag"),
        2: (b"\\Recent", b"\\Seen", b"tag"),
    }
    assert c.remove_flags([2], [b"tag"]) == {2: (b"\\Recent", b"\\Seen")}
    assert c.set_flags([3], [b"\\Answered"]) == {3: (b"\\Answered", b"\\Recent")}
    assert c.add_flags([4], [b"\\Flagged"], silent=True) is None
    assert c.get_flags([1, 2, 3, 4]) == {
        1: (b"\\Recent", b"\\Seen", b"tag"),
        2: (b"\\Recent", b"\\Seen"),
        3: (b"\\Answered", b"\\Recent"),
        4: (b"\\Flagged", b"\\Recent"),
    }

    c.copy([1, 3], "Archive")
    c.move([4], "Archive")
    assert c.search() == [1, 2, 3, 5]

    c.delete_messages([1, 2])  # \Deleted
    c.uid_expunge([2])  # only UID 2
    assert c.search() == [1, 3, 5]
    c.set_flags([5], [b"\\Deleted"])
    response, expunged = c.expunge()  # every \Deleted message
    assert response == b"EXPUNGE completed"
    # IMAP4rev1: RECENT follows, as recent messages went (RFC 3501 section 7.3.2).
    assert sorted(expunged) == [(1, b"EXPUNGE"), (1, b"RECENT"), (3, b"EXPUNGE")]
    assert c.search() == [3]

    c.select_folder("Archive", readonly=True)
    archived = c.fetch(c.search(), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    assert [
        (set(d[b"FLAGS"]) - {b"\\Recent"}, d[b"BODY[HEADER.FIELDS (SUBJECT)]"])
        for d in archived.values()
    ] == [
        ({b"\\Seen", b"tag"}, b"Subject: message 1\r\n\r\n"),
        ({b"\\Answered"}, b"Subject: message 3\r\n\r\n"),
        ({b"\\Flagged"}, b"Subject: message 4\r\n\r\n"),
    ]
    with pytest.raises(IMAPClientError):
        c.add_flags([1], [b"\\Deleted"])  # EXAMINE: read-only
    assert c.unselect_folder() == b"UNSELECT completed"


def test_idle_sees_mail_from_another_connection(connect: Callable[..., IMAPClient]) -> None:
    watcher, other = connect(), connect()
    watcher.select_folder("INBOX")
    watcher.idle()
    other.append("INBOX", simple("while idling"))
    other.select_folder("INBOX")
    other.add_flags([1], [b"\\Flagged"])
    seen: list[Any] = []
    deadline = dt.datetime.now() + dt.timedelta(seconds=TIMEOUT)
    while (1, b"EXISTS") not in seen and dt.datetime.now() < deadline:
        seen += watcher.idle_check(timeout=1)
    text, responses = watcher.idle_done()
    seen += responses
    assert text == b"IDLE completed"
    assert (1, b"EXISTS") in seen
    assert watcher.search(["FLAGGED"]) == [1]


def test_search_with_a_non_ascii_criterion(client: IMAPClient) -> None:
    c = client
    c.append("INBOX", simple("Grüße aus Zürich"))
    c.append("INBOX", simple("Greetings from Zurich"))
    c.select_folder("INBOX")
    assert c.search(["SUBJECT", "Zürich"], charset="UTF-8") == [1]
    assert c.search(["TEXT", "ZÜRICH"], charset="UTF-8") == [1]  # any case, beyond ASCII
