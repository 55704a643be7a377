"""`AsyncClient` end to end: every method against our server and Dovecot, on asyncio and trio.

Each test runs four times (``target``: ours, Dovecot; ``anyio_backend``: asyncio, trio) on a
fresh account (INBOX empty, the special-use mailboxes of ``tests/conftest.py``), and checks the
typed results: FETCH data parsed (ENVELOPE, BODYSTRUCTURE, flags, dates, sections), APPENDUID
and COPYUID, LIST attributes, STATUS counters, SEARCH results, the mailbox state kept from
untagged responses. Where the servers differ in what they offer (Dovecot 2.3 has no
IMAP4rev2 and no CREATE-SPECIAL-USE), the test follows the capabilities and checks that the
client refuses what is not offered.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from imap_client import (
    AsyncClient,
    AuthenticationFailed,
    CommandFailed,
    ConnectionLost,
    ImapConnectionError,
    PendingCommand,
)
from imap_client.errors import MissingCapability
from imap_client.results import CopyResult, ListData, SelectData
from imap_wire import (
    Address,
    ExistsResponse,
    MultiPart,
    Noop,
    Response,
    SearchCriteria,
    Section,
    SectionText,
    SinglePart,
)

if TYPE_CHECKING:
    from conftest import Target

pytestmark = pytest.mark.anyio

SPECIAL_USE = {
    "Archive": "\\Archive",
    "Drafts": "\\Drafts",
    "Junk": "\\Junk",
    "Sent": "\\Sent",
    "Trash": "\\Trash",
}

PLAIN = (
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"From: Alice Example <alice@example.com>\r\n"
    b"To: Bob <bob@example.org>, carol@example.net\r\n"
    b"Cc: dave@example.com\r\n"
    b"Subject: Hello end to end\r\n"
    b"Message-ID: <plain-1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello Bob,\r\n"
    b"this is the body.\r\n"
)
ATTACHMENT = bytes(range(256)) * 4
_ATTACHMENT_B64 = base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n")  # 76-column lines
MULTIPART = (
    b"Date: Tue, 02 Jan 2024 11:30:00 +0100\r\n"
    b"From: Bob <bob@example.org>\r\n"
    b"To: Alice Example <alice@example.com>\r\n"
    b"Subject: Report with attachment\r\n"
    b"Message-ID: <multi-1@example.org>\r\n"
    b"In-Reply-To: <plain-1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"See the attachment.\r\n"
    b"--b1\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="data.bin"\r\n'
    b"\r\n" + _ATTACHMENT_B64 + b"--b1--\r\n"
)
INTERNAL_DATE = dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@asynccontextmanager
async def logged_in(target: Target, **options: Any) -> AsyncIterator[AsyncClient]:
    async with target.client(**options) as client:
        await client.login(target.user, target.password)
        yield client
        await client.logout()


async def seed(client: AsyncClient) -> tuple[int, int]:
    """Append `PLAIN` (seen) and `MULTIPART` to INBOX; return their UIDs."""
    first = await client.append("INBOX", PLAIN, flags=["\\Seen"], date=INTERNAL_DATE)
    second = await client.append("INBOX", MULTIPART)
    assert first.uid is not None and second.uid is not None
    return first.uid, second.uid


def flag_set(flags: tuple[str, ...] | None) -> set[str]:
    """The flags, without ``\\Recent`` (which IMAP4rev1 servers add, and clients cannot set)."""
    return set(flags or ()) - {"\\Recent"}


def address(a: Address) -> tuple[str | None, str | None]:
    return a.name, a.email


# -- connection, capabilities, login ---------------------------------------------------------------


async def test_connect_capability_noop_logout(target: Target) -> None:
    client = target.client()
    greeting = await client.connect()
    try:
        assert greeting.status.value == "OK"
        capabilities = await client.capability()
        assert "IMAP4REV1" in capabilities
        assert client.has_capability("imap4rev1")
        assert capabilities == client.capabilities
        await client.noop()
        pending = await client.submit(PendingCommand(Noop(tag=client.next_tag())))  # low level
        assert (await pending.wait()).status.value == "OK"
        await client.login(target.user, target.password)
        assert "AUTH=PLAIN" not in client.capabilities  # the post-login list
        await client.noop()
        await client.logout()
        assert client.closed.is_set()
        await client.logout()  # idempotent
    finally:
        await client.aclose()
        await client.aclose()


async def test_login_refused_then_accepted(target: Target) -> None:
    async with target.client() as client:
        with pytest.raises(AuthenticationFailed) as refused:
            await client.login(target.user, "wrong password")
        assert refused.value.status.value == "NO"
        assert refused.value.code_name == "AUTHENTICATIONFAILED"
        await client.login(target.user, target.password)
        await client.noop()
        await client.logout()


async def test_implicit_tls_and_starttls(target: Target) -> None:
    async with target.client(tls=True) as client:
        assert client.is_tls
        await client.login(target.user, target.password)
        await client.noop()
        await client.logout()
    async with target.client(starttls=True) as client:
        assert client.is_tls
        assert "STARTTLS" not in client.capabilities
        await client.login(target.user, target.password)
        await client.logout()
    async with target.client() as client:
        assert not client.is_tls


async def test_tls_certificate_checked(target: Target) -> None:
    untrusting = ssl.create_default_context()  # the system store: the test CA is not in it
    with pytest.raises(ImapConnectionError, match="TLS"):
        async with target.client(tls=True, ssl_context=untrusting):
            pass
    with pytest.raises(ImapConnectionError):
        async with target.client(starttls=True, ssl_context=untrusting):
            pass


async def test_authenticate_each_mechanism(target: Target) -> None:
    logins = {
        "PLAIN": lambda c: c.login_plain(target.user, target.password),
        "LOGIN": lambda c: c.login_login(target.user, target.password),
        "CRAM-MD5": lambda c: c.login_cram_md5(target.user, target.password),
        "SCRAM-SHA-1": lambda c: c.login_scram(target.user, target.password, "SHA-1"),
        "SCRAM-SHA-256": lambda c: c.login_scram(target.user, target.password),
    }
    assert target.mechanisms <= logins.keys()
    for mechanism in sorted(target.mechanisms):
        for initial_response in (True, False):
            async with target.client() as client:
                await client.capability()
                assert mechanism in client.sasl_mechanisms
                if initial_response:
                    await logins[mechanism](client)
                else:
                    await client.authenticate(
                        mechanism, target.user, target.password, initial_response=False
                    )
                assert "IMAP4REV1" in client.capabilities
                await client.noop()
                await client.logout()

    async def refused(mechanism: str) -> None:
        async with target.client() as client:
            with pytest.raises(AuthenticationFailed):
                await client.authenticate(mechanism, target.user, "wrong password")
            await client.noop()  # the connection is still usable
            await client.logout()

    # A wrong password, for each mechanism (at once: Dovecot delays each failure).
    async with anyio.create_task_group() as tg:
        for mechanism in target.mechanisms:
            tg.start_soon(refused, mechanism)


async def test_mechanisms_not_offered(target: Target) -> None:
    """EXTERNAL and the OAuth mechanisms are offered by neither server (they are tested
    against a scripted server in the package's tests): refused, and the connection goes on."""
    async with target.client() as client:
        await client.capability()
        assert not {"EXTERNAL", "XOAUTH2", "OAUTHBEARER"} & client.sasl_mechanisms
        with pytest.raises(AuthenticationFailed):
            await client.login_external()
        with pytest.raises(AuthenticationFailed):
            await client.login_oauth2(target.user, "token")
        with pytest.raises(AuthenticationFailed):
            await client.login_oauth2(target.user, lambda: "token", "OAUTHBEARER")
        await client.login(target.user, target.password)
        await client.logout()


async def test_channel_binding(target: Target) -> None:
    async with target.client() as client:
        assert client.channel_binding() is None  # no TLS
    async with target.client(tls=True) as client:
        binding = client.channel_binding("tls-server-end-point")
        assert binding is not None
        kind, data = binding
        assert kind == "tls-server-end-point" and len(data) == 32  # SHA-256 of the certificate
        if "SCRAM-SHA-256" in client.sasl_mechanisms:
            await client.login_scram(target.user, target.password)
        else:
            await client.login(target.user, target.password)
        await client.logout()


async def test_login_best(target: Target) -> None:
    async with target.client() as client:
        used = await client.login_best(target.user, target.password)
        assert used == "SCRAM-SHA-256"  # ours and dovecot both offer SCRAM
        await client.logout()
    async with target.client(tls=True) as client:
        used = await client.login_best(target.user, target.password)
        assert used == "SCRAM-SHA-256"
        await client.logout()


# -- ENABLE, ID, NAMESPACE -------------------------------------------------------------------------


async def test_enable_id_namespace(target: Target) -> None:
    async with logged_in(target) as client:
        enabled = await client.enable_best()
        if client.has_capability("IMAP4rev2"):
            assert enabled == {"IMAP4REV2"}
        else:
            assert "IMAP4REV2" not in enabled
        assert client.enabled == enabled
        info = await client.id({"name": "imap-client tests", "version": "1"})
        assert info is not None
        names = {k.lower(): v for k, v in info.items()}
        assert names["name"] == ("Dovecot" if target.kind == "dovecot" else "imap-server")
        namespaces = await client.namespace()
        assert len(namespaces.personal) == 1
        assert namespaces.personal[0].prefix == ""
        assert namespaces.personal[0].delimiter == "/"
        if client.has_capability("CONDSTORE"):
            assert await client.enable("CONDSTORE") == {"CONDSTORE"}


# -- mailboxes ------------------------------------------------------------------------------------


async def test_list_special_use_and_status(target: Target) -> None:
    async with logged_in(target) as client:
        mailboxes = await client.list()
        assert all(isinstance(m, ListData) for m in mailboxes)
        by_name = {m.name: m for m in mailboxes}
        assert set(by_name) == {"INBOX", *SPECIAL_USE}
        assert all(m.delimiter == "/" for m in mailboxes)
        assert all(m.selectable for m in mailboxes)
        assert by_name["INBOX"].special_use == frozenset()

        special = await client.list(return_=["SPECIAL-USE"])
        for m in special:
            expected = SPECIAL_USE.get(m.name)
            assert m.special_use == (frozenset({expected}) if expected else frozenset())
            if expected:
                assert m.has_attribute(expected.upper())
        only = await client.list(select=["SPECIAL-USE"])
        assert {m.name for m in only} == set(SPECIAL_USE)

        subscribed = await client.lsub()
        assert set(SPECIAL_USE) <= {m.name for m in subscribed}
        percent = await client.list("", "%")
        assert {m.name for m in percent} == set(by_name)

        await seed(client)
        with_status = await client.list(status=["MESSAGES", "UNSEEN", "UIDNEXT"])
        status = {m.name: m.status for m in with_status}
        inbox = status["INBOX"]
        assert inbox is not None
        assert (inbox.messages, inbox.unseen) == (2, 1)
        trash = status["Trash"]
        assert trash is not None and trash.messages == 0

        direct = await client.status("INBOX", ["MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY"])
        assert direct.mailbox == "INBOX"
        assert (direct.messages, direct.unseen) == (2, 1)
        assert direct.uid_next is not None and direct.uid_next >= 3
        assert direct.uid_validity is not None and direct.uid_validity > 0
        assert direct.items["MESSAGES"] == 2
        if client.has_capability("STATUS=SIZE"):
            sized = await client.status("INBOX", ["SIZE"])
            assert sized.size == len(PLAIN) + len(MULTIPART)
        with pytest.raises(CommandFailed) as missing:
            await client.status("No such mailbox")
        assert missing.value.status.value == "NO"


async def test_create_rename_delete_subscribe(target: Target) -> None:
    async with logged_in(target) as client:
        await client.create("Projects/2024")
        listed = {m.name: m for m in await client.list("", "Projects*")}
        assert set(listed) == {"Projects", "Projects/2024"}
        assert listed["Projects"].has_attribute("\\HasChildren")
        assert listed["Projects/2024"].has_attribute("\\HasNoChildren")
        with pytest.raises(CommandFailed) as exists:
            await client.create("Projects/2024")
        assert exists.value.code_name == "ALREADYEXISTS"

        await client.subscribe("Projects/2024")
        assert "Projects/2024" in {m.name for m in await client.lsub("", "Projects*")}
        await client.unsubscribe("Projects/2024")
        assert "Projects/2024" not in {m.name for m in await client.lsub("", "Projects*")}

        await client.rename("Projects/2024", "Projects/2025")
        assert {m.name for m in await client.list("", "Projects/*")} == {"Projects/2025"}
        with pytest.raises(CommandFailed) as gone:
            await client.rename("Projects/2024", "Projects/2026")
        assert gone.value.code_name == "NONEXISTENT"

        await client.delete("Projects/2025")
        await client.delete("Projects")
        assert not await client.list("", "Projects*")
        with pytest.raises(CommandFailed) as nonexistent:
            await client.delete("Projects")
        assert nonexistent.value.code_name == "NONEXISTENT"

        unicode_name = "Reçus/été"
        await client.create(unicode_name)
        assert unicode_name in {m.name for m in await client.list()}
        await client.select(unicode_name)
        await client.unselect()  # Dovecot says BYE when the selected mailbox is deleted
        await client.delete(unicode_name)

        if client.has_capability("CREATE-SPECIAL-USE"):
            await client.create("Old mail", special_use=["\\Archive"])
            made = await client.list("", "Old mail", return_=["SPECIAL-USE"])
            assert made[0].special_use == {"\\Archive"}
        else:
            with pytest.raises(MissingCapability):
                await client.create("Old mail", special_use=["\\Archive"])


async def test_append_select_examine(target: Target) -> None:
    async with logged_in(target) as client:
        first = await client.append("INBOX", PLAIN, flags=["\\Seen", "$Label1"], date=INTERNAL_DATE)
        second = await client.append("INBOX", MULTIPART)
        assert first.uid_validity is not None and first.uid_validity == second.uid_validity
        assert first.uid is not None and second.uid is not None and second.uid > first.uid
        with pytest.raises(CommandFailed) as trycreate:
            await client.append("Nowhere", PLAIN)
        assert trycreate.value.code_name == "TRYCREATE"

        selected = await client.select("INBOX")
        assert isinstance(selected, SelectData)
        assert selected.name == "INBOX"
        assert not selected.read_only
        assert selected.exists == 2
        assert selected.uid_validity == first.uid_validity
        assert selected.uid_next is not None and selected.uid_next > second.uid
        assert {"\\Seen", "\\Deleted", "\\Flagged"} <= set(selected.flags)
        assert selected.permanent_flags is not None and "\\Seen" in selected.permanent_flags
        state = client.mailbox
        assert (state.name, state.exists, state.uid_validity) == ("INBOX", 2, first.uid_validity)

        examined = await client.examine("Sent")
        assert examined.read_only and examined.exists == 0
        assert client.mailbox.name == "Sent" and client.mailbox.read_only
        with pytest.raises(CommandFailed):
            await client.select("No such mailbox")
        assert client.mailbox.name is None


# -- FETCH ----------------------------------------------------------------------------------------


async def test_fetch_typed_data(target: Target) -> None:
    async with logged_in(target) as client:
        uid1, uid2 = await seed(client)
        await client.select("INBOX")
        items = ["UID", "FLAGS", "ENVELOPE", "BODYSTRUCTURE", "INTERNALDATE", "RFC822.SIZE"]
        plain, multi = await client.fetch("1:*", items)
        assert (plain.seq, plain.uid, multi.seq, multi.uid) == (1, uid1, 2, uid2)
        assert plain.flags is not None and "\\Seen" in plain.flags
        assert multi.flags is not None and "\\Seen" not in multi.flags
        assert plain.internal_date == INTERNAL_DATE
        assert multi.internal_date is not None and multi.internal_date.tzinfo is not None
        assert (plain.size, multi.size) == (len(PLAIN), len(MULTIPART))

        envelope = plain.envelope
        assert envelope is not None
        assert envelope.subject == "Hello end to end"
        assert envelope.message_id == "<plain-1@example.com>"
        assert envelope.date_time == dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)
        assert [address(a) for a in envelope.from_] == [("Alice Example", "alice@example.com")]
        assert [address(a) for a in envelope.sender] == [("Alice Example", "alice@example.com")]
        assert [address(a) for a in envelope.to] == [
            ("Bob", "bob@example.org"),
            (None, "carol@example.net"),
        ]
        assert [address(a) for a in envelope.cc] == [(None, "dave@example.com")]
        assert envelope.bcc == ()
        assert multi.envelope is not None
        assert multi.envelope.in_reply_to == "<plain-1@example.com>"

        text = plain.body_structure
        assert isinstance(text, SinglePart)
        assert (text.type.lower(), text.subtype.lower()) == ("text", "plain")
        assert text.param("charset") is not None
        assert text.lines == 2

        structure = multi.body_structure
        assert isinstance(structure, MultiPart)
        assert structure.subtype.lower() == "mixed"
        first_part, attachment = structure.parts
        assert isinstance(first_part, SinglePart) and first_part.subtype.lower() == "plain"
        assert isinstance(attachment, SinglePart)
        media_type = (attachment.type.lower(), attachment.subtype.lower())
        assert media_type == ("application", "octet-stream")
        assert attachment.encoding.lower() == "base64"
        assert attachment.size == len(_ATTACHMENT_B64) - 2  # the CRLF before "--b1--" is not
        assert attachment.disposition is not None
        assert attachment.disposition.type.lower() == "attachment"
        assert attachment.disposition.param("filename") == "data.bin"

        by_uid = await client.fetch(uid2, ["FLAGS"], uid=True)
        assert [(r.seq, r.uid) for r in by_uid] == [(2, uid2)]
        assert await client.fetch([], ["FLAGS"]) == []
        assert [r.seq for r in await client.fetch([2, 1], "(UID FLAGS)")] == [1, 2]
        fast = await client.fetch(1, "FAST")
        assert fast[0].size == len(PLAIN) and fast[0].internal_date == INTERNAL_DATE


async def test_fetch_sections(target: Target) -> None:
    async with logged_in(target) as client:
        await seed(client)
        await client.select("INBOX")
        [multi] = await client.fetch(
            2,
            [
                "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]",
                "BODY.PEEK[1]",
                "BODY.PEEK[2.MIME]",
                "BODY.PEEK[TEXT]<0.4>",
                "BINARY.PEEK[2]",
                "BINARY.SIZE[2]",
            ],
        )
        fields = multi.section(Section(text=SectionText.HEADER_FIELDS, fields=("SUBJECT", "FROM")))
        assert isinstance(fields, bytes)
        assert fields.replace(b"\r\n", b"\n").strip().splitlines() == [
            b"From: Bob <bob@example.org>",
            b"Subject: Report with attachment",
        ]
        assert multi.section(Section(part=(1,))) == b"See the attachment."
        mime = multi.section(Section(part=(2,), text=SectionText.MIME))
        assert isinstance(mime, bytes) and b"Content-Disposition: attachment" in mime
        assert multi.section(Section(text=SectionText.TEXT), origin=0) == b"--b1"
        assert multi.binary_section((2,)) == ATTACHMENT
        assert multi.binary_sizes[(2,)] == len(ATTACHMENT)
        [unseen] = await client.fetch(2, ["FLAGS"])
        assert unseen.flags is not None and "\\Seen" not in unseen.flags  # PEEK

        [whole] = await client.fetch(2, ["BODY[]"])
        assert whole.body_text == MULTIPART
        [seen] = await client.fetch(2, ["FLAGS"])
        assert seen.flags is not None and "\\Seen" in seen.flags
        [header] = await client.fetch(1, ["BODY.PEEK[HEADER]", "RFC822.TEXT"])
        assert header.header == PLAIN.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        assert header.rfc822_text == PLAIN.split(b"\r\n\r\n", 1)[1]


# -- SEARCH -------------------------------------------------------------------------------------


async def test_search_and_esearch(target: Target) -> None:
    async with logged_in(target) as client:
        uid1, uid2 = await seed(client)
        await client.append("INBOX", PLAIN.replace(b"Hello end to end", b"Third"))
        await client.select("INBOX")
        assert await client.search("ALL") == [1, 2, 3]
        assert await client.search("UNSEEN") == [2, 3]
        assert await client.search('FROM "alice"') == [1, 3]
        assert await client.search('SUBJECT "attachment"', uid=True) == [uid2]
        criteria = SearchCriteria.from_("alice") & ~SearchCriteria.seen()
        assert await client.search(criteria) == [3]
        assert await client.search(SearchCriteria.since(dt.date(2024, 3, 1))) == [1, 2, 3]
        assert await client.search(SearchCriteria.larger(len(PLAIN) + 10)) == [2]
        assert await client.search(SearchCriteria.uid(uid1)) == [1]
        assert await client.search('BODY "nothing like this"') == []
        assert await client.search('TEXT "Bob,"') == [1, 3]
        assert await client.search('SUBJECT "été"') == []  # CHARSET UTF-8 sent as needed

        found = await client.esearch("UNSEEN", return_=["MIN", "MAX", "COUNT", "ALL"])
        assert (found.min, found.max, found.count) == (2, 3, 2)
        assert found.numbers == [2, 3]
        assert not found.uid
        by_uid = await client.esearch("ALL", return_=["COUNT"], uid=True)
        assert by_uid.uid and by_uid.count == 3
        nothing = await client.esearch('SUBJECT "nothing like this"', return_=["MIN", "COUNT"])
        assert nothing.min is None and nothing.count in (0, None)

        saved = await client.esearch("SEEN", return_=["SAVE"])
        assert saved.saved
        [again] = await client.fetch("$", ["UID"])
        assert again.uid == uid1


# -- STORE, COPY, MOVE, EXPUNGE ------------------------------------------------------------------


async def test_store_flags(target: Target) -> None:
    async with logged_in(target) as client:
        _, uid2 = await seed(client)
        await client.select("INBOX")
        added = await client.store("1:2", ["\\Flagged", "$Important"])
        assert set(added) == {1, 2}
        assert {"\\Flagged", "$Important", "\\Seen"} <= set(added[1])
        removed = await client.store(1, "\\Seen", mode="-")
        assert "\\Seen" not in removed[1] and "\\Flagged" in removed[1]
        replaced = await client.store(2, ["\\Answered"], mode="")
        assert flag_set(replaced[2]) == {"\\Answered"}
        assert await client.store(1, ["\\Draft"], silent=True) == {}
        by_uid = await client.store(uid2, ["\\Seen"], uid=True)
        assert set(by_uid) == {uid2}
        assert flag_set(by_uid[uid2]) == {"\\Answered", "\\Seen"}
        flags = {r.seq: flag_set(r.flags) for r in await client.fetch("1:*", ["FLAGS"])}
        assert flags[1] == {"\\Flagged", "$Important", "\\Draft"}
        assert flags[2] == {"\\Answered", "\\Seen"}
        assert flag_set(client.mailbox.message_flags[2]) == flags[2]
        assert await client.search(SearchCriteria.keyword("$Important")) == [1]
        examined = await client.examine("INBOX")
        assert examined.read_only
        # Read-only: refused (ours), or accepted and ignored (Dovecot).
        with contextlib.suppress(CommandFailed):
            await client.store(1, ["\\Deleted"])
        [after] = await client.fetch(1, ["FLAGS"])
        assert "\\Deleted" not in flag_set(after.flags)


async def test_copy_move_expunge(target: Target) -> None:
    async with logged_in(target) as client:
        uid1, uid2 = await seed(client)
        selected = await client.select("INBOX")
        archive = await client.status("Archive", ["UIDVALIDITY"])

        copied = await client.copy("1:2", "Archive")
        assert isinstance(copied, CopyResult)
        assert copied.uid_validity == archive.uid_validity
        assert copied.source_uids == (uid1, uid2)
        assert len(copied.destination_uids) == 2
        assert (await client.status("Archive")).messages == 2
        with pytest.raises(CommandFailed) as trycreate:
            await client.copy(1, "Nowhere")
        assert trycreate.value.code_name == "TRYCREATE"

        moved = await client.move(2, "Trash")
        assert moved is not None and moved.source_uids == (uid2,)
        assert client.mailbox.exists == 1
        assert (await client.status("Trash")).messages == 1
        by_uid = await client.move(uid1, "Junk", uid=True)
        assert by_uid is not None and by_uid.source_uids == (uid1,)
        assert client.mailbox.exists == 0
        assert await client.copy([], "Archive") is None

        await client.select("Archive")
        assert await client.expunge() == []
        await client.store("1:2", ["\\Deleted"])
        assert sorted(await client.expunge()) in ([1, 1], [1, 2])  # either order is right
        assert client.mailbox.exists == 0

        await client.select("Trash")
        [trash_uid] = [r.uid for r in await client.fetch("1", ["UID"])]
        assert trash_uid is not None
        await client.append("Trash", PLAIN)
        await client.noop()
        assert client.mailbox.exists == 2
        await client.store("1:*", ["\\Deleted"])
        assert await client.uid_expunge(trash_uid) == [1]
        assert client.mailbox.exists == 1
        assert selected.exists == 2  # what SELECT said then


async def test_close_unselect_check(target: Target) -> None:
    async with logged_in(target) as client:
        await seed(client)
        await client.select("INBOX")
        await client.store(1, ["\\Deleted"])
        await client.check()
        await client.unselect()  # no expunge
        assert client.mailbox.name is None
        assert (await client.select("INBOX")).exists == 2
        await client.close_mailbox()  # CLOSE: expunges silently
        assert client.mailbox.name is None
        assert (await client.status("INBOX")).messages == 1


async def test_after_enable_best(target: Target) -> None:
    """The same commands once the best protocol level is on: IMAP4rev2 on ours (ESEARCH
    answers SEARCH, SELECT sends a LIST, no RECENT, UTF-8 names, LSUB and CHECK replaced),
    nothing new on Dovecot 2.3."""
    async with logged_in(target) as client:
        rev2 = "IMAP4REV2" in await client.enable_best()
        assert rev2 == (target.kind == "ours")
        uid1, uid2 = await seed(client)
        selected = await client.select("INBOX")
        assert selected.exists == 2
        if rev2:
            assert selected.list_data is not None and selected.list_data.name == "INBOX"
            assert selected.recent == 0
        assert await client.search("UNSEEN") == [2]
        assert await client.search("ALL", uid=True) == [uid1, uid2]
        found = await client.esearch("ALL", return_=["COUNT", "MAX"])
        assert (found.count, found.max) == (2, 2)
        [fetched] = await client.fetch(2, ["ENVELOPE", "FLAGS"])
        assert fetched.envelope is not None
        assert fetched.envelope.subject == "Report with attachment"
        await client.check()
        assert set(SPECIAL_USE) <= {m.name for m in await client.lsub()}
        name = "Données/日本"
        await client.create(name)
        assert name in {m.name for m in await client.list()}
        assert (await client.status(name, ["MESSAGES"])).messages == 0
        moved = await client.move(1, name)
        assert moved is not None and moved.source_uids == (uid1,)
        assert (await client.status(name, ["MESSAGES"])).messages == 1


# -- untagged updates and IDLE ------------------------------------------------------------------


async def test_unsolicited_updates(target: Target) -> None:
    async with logged_in(target) as client, logged_in(target) as other:
        await client.select("INBOX")
        seen: list[Response] = []
        unregister = client.on_unsolicited(seen.append)
        await other.append("INBOX", PLAIN)
        with anyio.fail_after(10):
            while client.mailbox.exists < 1:
                await client.noop()
                await anyio.sleep(0.05)
        assert any(isinstance(r, ExistsResponse) and r.count == 1 for r in seen)
        unregister()
        unregister()


async def test_idle(target: Target) -> None:
    async with logged_in(target) as client, logged_in(target) as other:
        await client.select("INBOX")
        async with client.idle() as updates:
            await other.append("INBOX", PLAIN)
            with anyio.fail_after(10):
                async for update in updates:
                    if isinstance(update, ExistsResponse):
                        assert update.count == 1
                        break
        assert client.mailbox.exists == 1
        await client.noop()  # the connection goes on after DONE

        async with client.idle() as updates:
            assert await updates.wait(0.2) == []

        async def append_later() -> None:
            await anyio.sleep(0.2)
            await other.append("INBOX", MULTIPART)

        async with anyio.create_task_group() as tg:
            tg.start_soon(append_later)
            update = await client.idle_until(
                lambda r: isinstance(r, ExistsResponse) and r.count == 2, timeout=10
            )
        assert isinstance(update, ExistsResponse)
        assert client.mailbox.exists == 2


# -- streaming ------------------------------------------------------------------------------------


def big_message(size: int) -> bytes:
    header = b"From: Big <big@example.com>\r\nSubject: big\r\n\r\n"
    line = b"x" * 76 + b"\r\n"
    return header + line * ((size - len(header)) // len(line))


async def test_streaming_append_and_fetch(target: Target, tmp_path: Any) -> None:
    message = big_message(2 * 1024 * 1024)  # over the 1 MiB streaming threshold
    path = tmp_path / "big.eml"
    path.write_bytes(message)
    async with logged_in(target) as client:
        from_path = await client.append_from("INBOX", str(path))
        chunks = [message[i : i + 100_000] for i in range(0, len(message), 100_000)]
        from_chunks = await client.append_from("INBOX", chunks, len(message), flags=["\\Seen"])
        small = await client.append_from("INBOX", PLAIN)
        assert from_path.uid is not None and from_chunks.uid is not None
        assert small.uid is not None
        await client.select("INBOX")

        sink = io.BytesIO()
        assert await client.fetch_to(from_path.uid, "", sink) == len(message)
        assert sink.getvalue() == message
        sink = io.BytesIO()
        assert await client.fetch_to(small.uid, "HEADER", sink) > 0
        assert sink.getvalue() == PLAIN.split(b"\r\n\r\n")[0] + b"\r\n\r\n"

        received = bytearray()
        async with client.fetch_stream(from_chunks.uid) as stream:
            async for chunk in stream:
                received += chunk
        assert received == message
        [flags] = await client.fetch(1, ["FLAGS"])
        assert flags.flags is not None and "\\Seen" not in flags.flags  # peeked
        # The connection is in step after streaming.
        [sizes] = await client.fetch(2, ["RFC822.SIZE"])
        assert sizes.size == len(message)

        short = [message[:1000]]
        with pytest.raises(ImapConnectionError):
            await client.append_from("INBOX", short, len(message))
        assert client.closed.is_set()
        with pytest.raises(ConnectionLost):
            await client.noop()
