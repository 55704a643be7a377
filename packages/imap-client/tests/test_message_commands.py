"""Message commands end to end against our server: FETCH, SEARCH, STORE, COPY, MOVE, EXPUNGE."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest

from imap_client import (
    AsyncClient,
    CommandFailed,
    FetchData,
    ImapError,
    MissingCapability,
    SearchData,
)
from imap_client._messages import merge_fetch_responses
from imap_wire import (
    FetchBody,
    FetchItem,
    FetchResponse,
    LocalProtocolError,
    Response,
    SearchCriteria,
    Section,
    SectionText,
    SequenceSet,
    StoreMode,
)

pytestmark = pytest.mark.anyio

Seed = Callable[..., Awaitable[None]]
Connect = Callable[[], AbstractAsyncContextManager[AsyncClient]]


def subject(msg: FetchData) -> str | None:
    assert msg.envelope is not None
    return msg.envelope.subject


def without_recent(flags: tuple[str, ...] | None) -> set[str]:
    assert flags is not None
    return set(flags) - {"\\Recent"}


def replay(expunged: list[int], uids: list[int]) -> list[int]:
    """What is left of ``uids`` (by sequence number) after those EXPUNGE responses."""
    left = list(uids)
    for seq in expunged:
        del left[seq - 1]
    return left


def drop_capabilities(client: AsyncClient, *names: str) -> None:
    wire = client.connection.wire
    wire.capabilities = wire.capabilities - set(names)


@pytest.fixture
async def inbox(client: AsyncClient, seed: Seed) -> AsyncClient:
    """``client`` with INBOX selected, holding messages 1 to 5 (UIDs 1 to 5)."""
    await seed(5)
    await client.select("INBOX")
    return client


# -- FETCH --------------------------------------------------------------------------------------


async def test_fetch_items(inbox: AsyncClient) -> None:
    msgs = await inbox.fetch("1:*", ["UID", "FLAGS", "ENVELOPE", "RFC822.SIZE", "INTERNALDATE"])
    assert [m.seq for m in msgs] == [1, 2, 3, 4, 5]
    assert [m.uid for m in msgs] == [1, 2, 3, 4, 5]
    assert [subject(m) for m in msgs] == [f"Message {i}" for i in range(1, 6)]
    assert all(isinstance(m, FetchResponse) for m in msgs)
    first = msgs[0]
    assert first.size is not None and first.size > 0
    assert first.internal_date is not None
    assert without_recent(first.flags) == set()


async def test_fetch_sections_and_item_forms(inbox: AsyncClient) -> None:
    header = Section(text=SectionText.HEADER_FIELDS, fields=("SUBJECT",))
    (msg,) = await inbox.fetch(2, "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
    assert msg.section(header) == b"Subject: Message 2\r\n\r\n"
    assert msg.section(Section(text=SectionText.TEXT)) == b"Body 2\r\n"
    (same,) = await inbox.fetch([2], "UID BODY.PEEK[TEXT]")
    assert same.uid == 2
    (typed,) = await inbox.fetch(
        SequenceSet.of(2), [FetchItem(name="UID"), FetchBody(section=header, peek=True)]
    )
    assert typed.section(header) == msg.section(header)
    (fast,) = await inbox.fetch("2", "FAST")
    assert fast.size is not None and fast.flags is not None and fast.internal_date is not None


async def test_fetch_by_uid(inbox: AsyncClient) -> None:
    msgs = await inbox.fetch("3:*", ["FLAGS"], uid=True)
    assert [(m.seq, m.uid) for m in msgs] == [(3, 3), (4, 4), (5, 5)]
    assert [m.uid for m in await inbox.fetch("9:*", ["FLAGS"], uid=True)] == [5]


async def test_fetch_argument_errors(inbox: AsyncClient) -> None:
    assert await inbox.fetch([], ["UID"]) == []
    with pytest.raises(ValueError, match="FETCH"):
        await inbox.fetch(1, ["NOT-AN-ITEM"])
    with pytest.raises(ValueError, match="macro"):
        await inbox.fetch(1, ["UID", "ALL"])
    with pytest.raises(ValueError, match="message set"):
        await inbox.fetch("1:x", ["UID"])
    with pytest.raises(ValueError, match="message set"):
        await inbox.fetch(0, ["UID"])


async def test_pipelined_fetches_each_get_their_messages(client: AsyncClient, seed: Seed) -> None:
    await seed(20)
    await client.select("INBOX")
    got: dict[int, list[FetchData]] = {}

    async def one(n: int) -> None:
        got[n] = await client.fetch(n, ["UID", "ENVELOPE", "BODY.PEEK[TEXT]"])

    async with anyio.create_task_group() as tg:
        for n in range(1, 21):
            tg.start_soon(one, n)
    assert sorted(got) == list(range(1, 21))
    for n, msgs in got.items():
        assert [(m.seq, m.uid, subject(m)) for m in msgs] == [(n, n, f"Message {n}")]
        assert msgs[0].section(Section(text=SectionText.TEXT)) == f"Body {n}\r\n".encode()


async def test_pipelined_uid_fetches_and_ranges(client: AsyncClient, seed: Seed) -> None:
    await seed(20)
    await client.select("INBOX")
    got: dict[str, list[int]] = {}

    async def one(uids: str) -> None:
        got[uids] = [m.uid or 0 for m in await client.fetch(uids, ["FLAGS"], uid=True)]

    sets = ["1:4", "5,7", "6", "8:12", "13:*"]
    async with anyio.create_task_group() as tg:
        for uids in sets:
            tg.start_soon(one, uids)
    assert got == {
        "1:4": [1, 2, 3, 4],
        "5,7": [5, 7],
        "6": [6],
        "8:12": [8, 9, 10, 11, 12],
        "13:*": list(range(13, 21)),
    }


async def test_fetch_leaves_other_messages_updates_unsolicited(
    inbox: AsyncClient, connect: Connect
) -> None:
    unsolicited: list[Response] = []
    inbox.on_unsolicited(unsolicited.append)
    async with connect() as other:
        await other.select("INBOX")
        await other.store(1, "\\Flagged", silent=True)
        await other.store(4, "\\Answered", silent=True)
    msgs = await inbox.fetch("1:2", ["UID"])
    # Message 1's update merges into its data; message 4's is nobody's but the handlers'.
    assert [(m.seq, m.uid) for m in msgs] == [(1, 1), (2, 2)]
    assert "\\Flagged" in (msgs[0].flags or ())
    assert [r.seq for r in unsolicited if isinstance(r, FetchResponse)] == [4]
    assert "\\Answered" in inbox.mailbox.message_flags[4]


def test_merge_fetch_responses() -> None:
    header = FetchBody(section=Section(text=SectionText.HEADER)).response_key
    text = FetchBody(section=Section(text=SectionText.TEXT)).response_key
    merged = merge_fetch_responses(
        [
            FetchResponse(seq=2, uid=7, sections={header: b"H"}),
            FetchResponse(seq=1, uid=3),
            FetchResponse(seq=2, flags=("\\Seen",), sections={text: b"T"}),
        ]
    )
    assert merged == [
        FetchResponse(seq=1, uid=3),
        FetchResponse(seq=2, uid=7, flags=("\\Seen",), sections={header: b"H", text: b"T"}),
    ]


async def test_select_waits_for_fetches_in_flight(inbox: AsyncClient) -> None:
    await inbox.create("Other")
    got: list[list[FetchData]] = []

    async def fetch() -> None:
        got.append(await inbox.fetch("1:*", ["UID"]))

    async with anyio.create_task_group() as tg:
        tg.start_soon(fetch)
        await anyio.sleep(0)
        tg.start_soon(inbox.select, "Other")
    assert [m.uid for m in got[0]] == [1, 2, 3, 4, 5]
    assert inbox.mailbox.name == "Other" and inbox.mailbox.exists == 0
    assert inbox.mailbox.message_flags == {}


# -- SEARCH -------------------------------------------------------------------------------------


async def test_search(client: AsyncClient, seed: Seed) -> None:
    await seed(2, flags={"\\Seen"})
    await seed(3, start=3)
    await client.select("INBOX")
    assert await client.search("ALL") == [1, 2, 3, 4, 5]
    assert await client.search("UNSEEN") == [3, 4, 5]
    assert await client.search('SUBJECT "Message 4"') == [4]
    assert await client.search(SearchCriteria.unseen() & ~SearchCriteria.subject("4")) == [3, 5]
    assert await client.search("SEEN", uid=True) == [1, 2]
    assert await client.search("DELETED") == []
    with pytest.raises(ValueError, match="SEARCH"):
        await client.search("NOT-A-KEY")


async def test_search_non_ascii(client: AsyncClient) -> None:
    message = b"From: a@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nBody\r\n"
    await client.append("INBOX", message)
    await client.select("INBOX")
    assert await client.search(SearchCriteria.subject("Grüße")) == [1]
    assert await client.search('SUBJECT "grüße"') == [1]
    with pytest.raises(CommandFailed) as caught:
        await client.search(SearchCriteria.subject("Grüße"), charset="KOI8-R")
    assert caught.value.code_name == "BADCHARSET"


async def test_search_after_imap4rev2(client: AsyncClient, seed: Seed) -> None:
    await seed(3)
    await client.enable("IMAP4rev2")
    await client.select("INBOX")
    assert await client.search("ALL") == [1, 2, 3]
    assert await client.search(SearchCriteria.subject("Grüße")) == []
    assert await client.search("2:3", uid=True) == [2, 3]


async def test_esearch(inbox: AsyncClient) -> None:
    data = await inbox.esearch("2:4", return_=["MIN", "MAX", "COUNT", "ALL"])
    assert data == SearchData(min=2, max=4, count=3, all=SequenceSet.parse("2:4"))
    assert data.numbers == [2, 3, 4]
    assert (await inbox.esearch("ALL", return_=["COUNT"], uid=True)).count == 5
    nothing = await inbox.esearch("DELETED", return_=["MIN", "COUNT"])
    assert nothing.min is None and nothing.count == 0 and nothing.numbers == []


async def test_esearch_save_and_saved_result(inbox: AsyncClient) -> None:
    saved = await inbox.esearch("2,4", return_=["SAVE"])
    assert saved.saved and saved.all is None
    assert [m.uid for m in await inbox.fetch("$", ["UID"])] == [2, 4]
    stored = await inbox.store("$", "\\Flagged")
    assert {n: without_recent(f) for n, f in stored.items()} == {2: {"\\Flagged"}, 4: {"\\Flagged"}}
    assert await inbox.search("FLAGGED") == [2, 4]


async def test_esearch_emulated_without_esearch(inbox: AsyncClient) -> None:
    drop_capabilities(inbox, "ESEARCH", "IMAP4REV2", "SEARCHRES")
    data = await inbox.esearch("2:4", return_=["MIN", "MAX", "COUNT"])
    assert data == SearchData(min=2, max=4, count=3)
    assert (await inbox.esearch("3")).numbers == [3]
    with pytest.raises(MissingCapability):
        await inbox.esearch("ALL", return_=["SAVE"])


async def test_pipelined_searches(client: AsyncClient, seed: Seed) -> None:
    await seed(10)
    await client.select("INBOX")
    got: dict[int, list[int]] = {}

    async def one(n: int) -> None:
        got[n] = await client.search(f'SUBJECT "Message {n}"')

    async with anyio.create_task_group() as tg:
        for n in range(2, 10):
            tg.start_soon(one, n)
    assert got == {n: [n] for n in range(2, 10)}


async def test_pipelined_esearches_after_imap4rev2(client: AsyncClient, seed: Seed) -> None:
    await seed(10)
    await client.enable("IMAP4rev2")
    await client.select("INBOX")
    got: dict[int, SearchData] = {}

    async def one(n: int) -> None:
        got[n] = await client.esearch(f"{n}:10", return_=["MIN", "COUNT"])

    async with anyio.create_task_group() as tg:
        for n in range(1, 9):
            tg.start_soon(one, n)
    assert {n: (d.min, d.count) for n, d in got.items()} == {n: (n, 11 - n) for n in range(1, 9)}


# -- STORE --------------------------------------------------------------------------------------


async def test_store(inbox: AsyncClient) -> None:
    added = await inbox.store("1:2", ["\\Flagged", "$Work"])
    assert {n: without_recent(f) for n, f in added.items()} == {
        1: {"\\Flagged", "$Work"},
        2: {"\\Flagged", "$Work"},
    }
    removed = await inbox.store(2, "$Work", mode="-")
    assert without_recent(removed[2]) == {"\\Flagged"}
    replaced = await inbox.store([1], ["\\Seen"], mode=StoreMode.REPLACE)
    assert without_recent(replaced[1]) == {"\\Seen"}
    assert without_recent(inbox.mailbox.message_flags[1]) == {"\\Seen"}
    by_uid = await inbox.store("4:5", "\\Answered", mode="add", uid=True)
    assert sorted(by_uid) == [4, 5]
    assert await inbox.store(3, "\\Seen", silent=True) == {}
    assert await inbox.search("SEEN") == [1, 3]
    with pytest.raises(ValueError, match="STORE mode"):
        await inbox.store(1, "\\Seen", mode="*")


# -- COPY, MOVE ---------------------------------------------------------------------------------


async def test_copy(inbox: AsyncClient) -> None:
    await inbox.create("Archive")
    result = await inbox.copy("2:3", "Archive")
    assert result is not None
    assert result.source_uids == (2, 3) and result.destination_uids == (1, 2)
    assert result.mapping == {2: 1, 3: 2}
    assert (await inbox.status("Archive")).messages == 2
    by_uid = await inbox.copy([5], "Archive", uid=True)
    assert by_uid is not None and by_uid.mapping == {5: 3}
    assert await inbox.copy([], "Archive") is None
    assert inbox.mailbox.exists == 5


async def test_copy_to_a_missing_mailbox_is_trycreate(inbox: AsyncClient) -> None:
    with pytest.raises(CommandFailed) as caught:
        await inbox.copy(1, "Nowhere")
    assert caught.value.code_name == "TRYCREATE"


async def test_move(inbox: AsyncClient) -> None:
    await inbox.create("Archive")
    result = await inbox.move("2:3", "Archive")
    assert result is not None and result.mapping == {2: 1, 3: 2}
    assert inbox.mailbox.exists == 3
    assert [m.uid for m in await inbox.fetch("1:*", ["UID"])] == [1, 4, 5]
    by_uid = await inbox.move("5", "Archive", uid=True)
    assert by_uid is not None and by_uid.mapping == {5: 3}
    assert (await inbox.status("Archive")).messages == 3


async def test_move_without_move_uses_uidplus(inbox: AsyncClient) -> None:
    await inbox.create("Archive")
    await inbox.store(1, "\\Deleted")  # must survive: only the moved messages go
    drop_capabilities(inbox, "MOVE", "IMAP4REV2")
    result = await inbox.move("2,4", "Archive")
    assert result is not None and result.mapping == {2: 1, 4: 2}
    assert [m.uid for m in await inbox.fetch("1:*", ["UID"])] == [1, 3, 5]
    assert inbox.mailbox.exists == 3
    moved = await inbox.fetch("1:*", ["FLAGS"], uid=True)
    assert [without_recent(m.flags) for m in moved] == [{"\\Deleted"}, set(), set()]
    assert (await inbox.status("Archive")).messages == 2
    assert await inbox.move("4:*", "Archive", uid=True) is not None
    assert [m.uid for m in await inbox.fetch("1:*", ["UID"])] == [1, 3]


async def test_move_without_move_or_uidplus_is_refused(inbox: AsyncClient) -> None:
    await inbox.create("Archive")
    drop_capabilities(inbox, "MOVE", "IMAP4REV2", "UIDPLUS")
    with pytest.raises(MissingCapability, match="UIDPLUS"):
        await inbox.move(1, "Archive")
    assert inbox.mailbox.exists == 5
    assert (await inbox.status("Archive")).messages == 0


async def test_move_to_a_missing_mailbox_is_trycreate(inbox: AsyncClient) -> None:
    with pytest.raises(CommandFailed) as caught:
        await inbox.move(1, "Nowhere")
    assert caught.value.code_name == "TRYCREATE"


# -- EXPUNGE ------------------------------------------------------------------------------------


async def test_expunge(inbox: AsyncClient) -> None:
    await inbox.fetch("1:*", ["FLAGS"])
    await inbox.store("2,4", "\\Deleted", silent=True)
    expunged = await inbox.expunge()
    assert len(expunged) == 2 and replay(expunged, [1, 2, 3, 4, 5]) == [1, 3, 5]
    state = inbox.mailbox
    assert state.exists == 3
    assert sorted(state.message_flags) == [1, 2, 3]
    assert [m.uid for m in await inbox.fetch("1:*", ["UID"])] == [1, 3, 5]
    assert await inbox.expunge() == []


async def test_uid_expunge_only_expunges_those(inbox: AsyncClient) -> None:
    await inbox.store("1:3", "\\Deleted")
    expunged = await inbox.uid_expunge("2:3")
    assert len(expunged) == 2 and replay(expunged, [1, 2, 3, 4, 5]) == [1, 4, 5]
    assert inbox.mailbox.exists == 3
    assert [m.uid for m in await inbox.fetch("1:*", ["UID"])] == [1, 4, 5]
    assert await inbox.uid_expunge([]) == []
    drop_capabilities(inbox, "UIDPLUS", "IMAP4REV2")
    with pytest.raises(MissingCapability):
        await inbox.uid_expunge(1)


async def test_message_commands_need_a_selected_mailbox(client: AsyncClient) -> None:
    # Refused before sending: the wire knows the state (RFC 9051 section 3).
    with pytest.raises((ImapError, LocalProtocolError), match="state"):
        await client.fetch(1, ["UID"])
