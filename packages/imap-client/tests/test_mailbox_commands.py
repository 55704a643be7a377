"""Mailbox commands end to end against our server: SELECT, LIST, STATUS, CREATE, APPEND ..."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.abc
import pytest

from imap_client import AsyncClient, CommandFailed, ListData, MissingCapability, StatusData
from imap_wire import ExistsResponse, Response

pytestmark = pytest.mark.anyio

Seed = Callable[..., Awaitable[None]]
Connect = Callable[[], AbstractAsyncContextManager[AsyncClient]]

MESSAGE = (
    b"From: a@example.org\r\nTo: b@example.org\r\nSubject: appended\r\n"
    b"Message-ID: <x@example.org>\r\n\r\nHello\r\n"
)


class Recorder(anyio.abc.ByteStream):
    """Wraps the client's stream and keeps what it sends."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner
        self.sent = bytearray()

    async def send(self, item: bytes) -> None:
        self.sent += item
        await self.inner.send(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


def record(client: AsyncClient) -> Recorder:
    recorder = Recorder(client.connection.stream)
    client.connection.stream = recorder
    return recorder


def names(listed: list[ListData]) -> list[str]:
    return sorted(d.name for d in listed)


# -- SELECT, EXAMINE, CLOSE, UNSELECT ---------------------------------------------------------


async def test_select_reports_the_mailbox_and_fills_the_state(
    client: AsyncClient, seed: Seed
) -> None:
    await seed(2, flags={"\\Seen"})
    await seed(1, start=3)
    data = await client.select("INBOX")
    assert data.name == "INBOX"
    assert not data.read_only
    assert data.exists == 3
    assert "\\Seen" in data.flags and "\\Deleted" in data.flags
    assert data.permanent_flags is not None and "\\*" in data.permanent_flags
    assert data.uid_validity is not None
    assert data.uid_next == 4
    assert data.unseen == 3  # IMAP4rev1: the first unseen message
    assert data.list_data is None  # only IMAP4rev2 servers send LIST with SELECT
    state = client.mailbox
    assert state.name == "INBOX"
    assert not state.read_only
    assert state.exists == 3
    assert state.uid_validity == data.uid_validity
    assert state.uid_next == 4
    assert state.flags == data.flags


async def test_examine_is_read_only(client: AsyncClient, seed: Seed) -> None:
    await seed(1)
    data = await client.examine("INBOX")
    assert data.read_only
    assert data.exists == 1
    assert client.mailbox.read_only
    with pytest.raises(CommandFailed):
        await client.store(1, "\\Seen")


async def test_select_resets_the_state_of_the_previous_mailbox(
    client: AsyncClient, seed: Seed
) -> None:
    await client.create("Other")
    await seed(3)
    await client.select("INBOX")
    await client.fetch("1:*", ["FLAGS"])
    assert client.mailbox.message_flags
    data = await client.select("Other")
    assert data.exists == 0
    state = client.mailbox
    assert state.name == "Other"
    assert state.exists == 0
    assert state.message_flags == {}
    assert state.uid_next == 1


async def test_select_of_a_missing_mailbox_leaves_nothing_selected(client: AsyncClient) -> None:
    await client.select("INBOX")
    with pytest.raises(CommandFailed) as caught:
        await client.select("Nowhere")
    assert caught.value.code_name == "NONEXISTENT"
    assert client.mailbox.name is None


async def test_unselect_and_close(client: AsyncClient, seed: Seed) -> None:
    await seed(2, flags={"\\Deleted"})
    await seed(1, start=3)
    await client.select("INBOX")
    await client.unselect()
    assert client.mailbox.name is None
    assert (await client.status("INBOX")).messages == 3  # UNSELECT does not expunge
    await client.select("INBOX")
    await client.close_mailbox()
    assert client.mailbox.name is None
    assert (await client.status("INBOX")).messages == 1  # CLOSE does


async def test_unselect_needs_the_capability(client: AsyncClient) -> None:
    await client.select("INBOX")
    wire = client.connection.wire
    wire.capabilities = wire.capabilities - {"UNSELECT", "IMAP4REV2"}
    with pytest.raises(MissingCapability) as caught:
        await client.unselect()
    assert caught.value.capability == "UNSELECT"


async def test_check(client: AsyncClient) -> None:
    await client.select("INBOX")
    await client.check()
    await client.unselect()
    await client.enable("IMAP4rev2")  # only in the authenticated state (RFC 5161 section 3.1)
    await client.select("INBOX")
    recorder = record(client)
    await client.check()  # IMAP4rev2 has no CHECK: a NOOP instead
    assert b"NOOP" in recorder.sent and b"CHECK" not in recorder.sent


# -- mailbox state from unsolicited data -------------------------------------------------------


async def test_unsolicited_exists_updates_the_state(
    client: AsyncClient, connect: Connect, seed: Seed
) -> None:
    await seed(1)
    await client.select("INBOX")
    seen: list[Response] = []
    unregister = client.on_unsolicited(seen.append)
    async with connect() as other:
        await other.append("INBOX", MESSAGE)
        await other.append("INBOX", MESSAGE)
    await client.noop()
    assert client.mailbox.exists == 3
    assert any(isinstance(r, ExistsResponse) and r.count == 3 for r in seen)
    unregister()


async def test_expunge_from_another_connection_updates_the_state(
    client: AsyncClient, connect: Connect, seed: Seed
) -> None:
    await seed(3)
    await client.select("INBOX")
    await client.fetch("1:*", ["FLAGS"])
    async with connect() as other:
        await other.select("INBOX")
        await other.store(2, "\\Deleted")
        assert await other.expunge() == [2]
    await client.noop()
    state = client.mailbox
    assert state.exists == 2
    assert sorted(state.message_flags) == [1, 2]


# -- CREATE, DELETE, RENAME, SUBSCRIBE ---------------------------------------------------------


async def test_create_delete_rename(client: AsyncClient) -> None:
    await client.create("Projects")
    await client.create("Projects/Alpha")
    await client.rename("Projects/Alpha", "Projects/Beta")
    assert names(await client.list("", "Projects*")) == ["Projects", "Projects/Beta"]
    await client.delete("Projects/Beta")
    assert names(await client.list("", "Projects*")) == ["Projects"]


async def test_create_existing_is_alreadyexists(client: AsyncClient) -> None:
    await client.create("Box")
    with pytest.raises(CommandFailed) as caught:
        await client.create("Box")
    assert caught.value.code_name == "ALREADYEXISTS"


async def test_delete_and_rename_missing_are_nonexistent(client: AsyncClient) -> None:
    with pytest.raises(CommandFailed) as caught:
        await client.delete("Nowhere")
    assert caught.value.code_name == "NONEXISTENT"
    with pytest.raises(CommandFailed) as caught:
        await client.rename("Nowhere", "Somewhere")
    assert caught.value.code_name == "NONEXISTENT"
    await client.create("A")
    await client.create("B")
    with pytest.raises(CommandFailed) as caught:
        await client.rename("A", "B")
    assert caught.value.code_name == "ALREADYEXISTS"


async def test_create_with_special_use(client: AsyncClient) -> None:
    await client.create("Bin", special_use=["\\Trash"])
    listed = await client.list("", "Bin", return_=["SPECIAL-USE"])
    assert [(d.name, d.special_use) for d in listed] == [("Bin", frozenset({"\\Trash"}))]
    wire = client.connection.wire
    wire.capabilities = wire.capabilities - {"CREATE-SPECIAL-USE"}
    with pytest.raises(MissingCapability):
        await client.create("Bin2", special_use=["\\Junk"])


async def test_subscribe_and_lsub(client: AsyncClient) -> None:
    await client.create("Sub")
    await client.create("NotSub")
    await client.subscribe("Sub")
    assert "Sub" in names(await client.lsub("", "*"))
    assert "NotSub" not in names(await client.lsub("", "*"))
    subscribed = await client.list("", "*", select=["SUBSCRIBED"])
    assert "Sub" in names(subscribed)
    assert all(d.has_attribute("\\subscribed") for d in subscribed)
    await client.unsubscribe("Sub")
    assert "Sub" not in names(await client.lsub("", "*"))


async def test_lsub_after_imap4rev2_uses_list_subscribed(client: AsyncClient) -> None:
    await client.create("Sub")
    await client.subscribe("Sub")
    await client.enable("IMAP4rev2")
    recorder = record(client)
    assert "Sub" in names(await client.lsub())
    assert b"LIST (SUBSCRIBED)" in recorder.sent and b"LSUB" not in recorder.sent


# -- LIST, STATUS, NAMESPACE -------------------------------------------------------------------


async def test_list(client: AsyncClient) -> None:
    await client.create("Work")
    await client.create("Work/Reports")
    listed = await client.list()
    assert names(listed) == ["INBOX", "Work", "Work/Reports"]
    by_name = {d.name: d for d in listed}
    work = by_name["Work"]
    assert work.delimiter == "/"
    assert isinstance(work.attributes, frozenset)
    assert "\\HasChildren" in work.attributes  # canonical case
    assert work.selectable
    assert work.status is None
    assert names(await client.list("", "%")) == ["INBOX", "Work"]
    assert names(await client.list("", ["INBOX", "Work/*"])) == ["INBOX", "Work/Reports"]


async def test_list_status(client: AsyncClient, seed: Seed) -> None:
    await client.create("Empty")
    await seed(2)
    listed = await client.list("", "*", status=["MESSAGES", "UIDNEXT"])
    statuses = {d.name: d.status for d in listed}
    inbox, empty = statuses["INBOX"], statuses["Empty"]
    assert inbox is not None and inbox.messages == 2 and inbox.uid_next == 3
    assert empty is not None and empty.messages == 0


async def test_list_status_without_list_status_sends_status(
    client: AsyncClient, seed: Seed
) -> None:
    await seed(2)
    wire = client.connection.wire
    wire.capabilities = wire.capabilities - {"LIST-STATUS", "IMAP4REV2"}
    recorder = record(client)
    listed = await client.list("", "INBOX", status=["MESSAGES"])
    assert b"RETURN" not in recorder.sent and b"STATUS INBOX (MESSAGES)" in recorder.sent
    assert listed[0].status is not None and listed[0].status.messages == 2


async def test_list_extended_needs_the_capability(client: AsyncClient) -> None:
    wire = client.connection.wire
    wire.capabilities = wire.capabilities - {"LIST-EXTENDED", "IMAP4REV2"}
    with pytest.raises(MissingCapability):
        await client.list("", "*", select=["SUBSCRIBED"])


async def test_status(client: AsyncClient, seed: Seed) -> None:
    await seed(3, flags={"\\Seen"})
    await seed(1, start=4)
    status = await client.status("INBOX", ["MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY", "SIZE"])
    assert status == StatusData(
        mailbox="INBOX",
        messages=4,
        unseen=1,
        uid_next=5,
        uid_validity=status.uid_validity,
        size=status.size,
        items=status.items,
    )
    assert status.uid_validity is not None
    assert status.size is not None and status.size > 0
    assert dict(status.items)["MESSAGES"] == 4
    default = await client.status("inbox")
    assert (default.messages, default.unseen, default.uid_next) == (4, 1, 5)


async def test_status_of_a_missing_mailbox(client: AsyncClient) -> None:
    with pytest.raises(CommandFailed) as caught:
        await client.status("Nowhere")
    assert caught.value.code_name == "NONEXISTENT"


async def test_namespace(client: AsyncClient) -> None:
    data = await client.namespace()
    assert [(n.prefix, n.delimiter) for n in data.personal] == [("", "/")]
    assert data.other == () and data.shared == ()


async def test_id(client: AsyncClient) -> None:
    server_id = await client.id({"name": "imap-client-tests", "version": "1"})
    assert server_id is not None and server_id["name"] == "imap-server"
    assert await client.id(None) == server_id


# -- pipelining ---------------------------------------------------------------------------------


async def test_pipelined_status_commands_each_get_their_mailbox(
    client: AsyncClient, seed: Seed
) -> None:
    boxes = [f"Box{i}" for i in range(8)]
    for i, name in enumerate(boxes):
        await client.create(name)
        await seed(i, mailbox=name)
    results: dict[str, StatusData] = {}

    async def one(name: str) -> None:
        results[name] = await client.status(name, ["MESSAGES"])

    async with anyio.create_task_group() as tg:
        for name in boxes:
            tg.start_soon(one, name)
    assert {n: s.messages for n, s in results.items()} == {n: i for i, n in enumerate(boxes)}
    assert all(s.mailbox == n for n, s in results.items())


async def test_pipelined_list_status_and_status(client: AsyncClient, seed: Seed) -> None:
    await client.create("Side")
    await seed(2)
    await seed(5, mailbox="Side")
    out: dict[str, Any] = {}

    async def listing() -> None:
        out["list"] = await client.list("", "*", status=["MESSAGES"])

    async def status() -> None:
        out["status"] = await client.status("Side", ["MESSAGES"])

    async with anyio.create_task_group() as tg:
        for task in (status, listing):
            tg.start_soon(task)
    listed = {d.name: d.status for d in out["list"]}
    assert {n: s.messages for n, s in listed.items() if s is not None} == {"INBOX": 2, "Side": 5}
    assert out["status"].messages == 5


async def test_pipelined_lists_namespace_and_id(client: AsyncClient) -> None:
    for name in ("Alpha", "Alpha/One", "Beta", "Beta/Two"):
        await client.create(name)
    out: dict[str, Any] = {}

    async def run(key: str, call: Callable[[], Awaitable[Any]]) -> None:
        out[key] = await call()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "alpha", lambda: client.list("", "Alpha*"))
        tg.start_soon(run, "namespace", client.namespace)
        tg.start_soon(run, "beta", lambda: client.list("", "Beta*"))
        tg.start_soon(run, "id", lambda: client.id(None))
        tg.start_soon(run, "top", lambda: client.list("", "%"))
    assert names(out["alpha"]) == ["Alpha", "Alpha/One"]
    assert names(out["beta"]) == ["Beta", "Beta/Two"]
    assert names(out["top"]) == ["Alpha", "Beta", "INBOX"]
    assert out["namespace"].personal[0].delimiter == "/"
    assert out["id"]["name"] == "imap-server"


# -- APPEND -------------------------------------------------------------------------------------


async def test_append(client: AsyncClient) -> None:
    when = dt.datetime(2023, 5, 17, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    first = await client.append("INBOX", MESSAGE, flags=["\\Seen", "$Label"], date=when)
    second = await client.append("INBOX", MESSAGE)
    assert first.uid == 1 and second.uid == 2
    assert first.uid_validity is not None and first.uid_validity == second.uid_validity
    await client.select("INBOX")
    (msg,) = await client.fetch(1, ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
    assert msg.flags is not None and set(msg.flags) - {"\\Recent"} == {"\\Seen", "$Label"}
    assert msg.internal_date == when
    assert msg.body_text == MESSAGE


async def test_append_binary(client: AsyncClient) -> None:
    message = b"Subject: binary\r\n\r\nA\x00B\r\n"
    recorder = record(client)
    assert (await client.append("INBOX", message)).uid == 1
    assert b"~{" in recorder.sent  # a literal8 (RFC 3516 section 4.4)
    await client.select("INBOX")
    (msg,) = await client.fetch(1, ["BINARY.PEEK[]"])
    assert msg.binary_section() == message
    drop = client.connection.wire
    drop.capabilities = drop.capabilities - {"BINARY", "IMAP4REV2"}
    with pytest.raises(MissingCapability):
        await client.append("INBOX", message)


async def test_append_to_a_missing_mailbox_is_trycreate(client: AsyncClient) -> None:
    with pytest.raises(CommandFailed) as caught:
        await client.append("Nowhere", MESSAGE)
    assert caught.value.code_name == "TRYCREATE"


# -- ENABLE, IMAP4rev2, international names ----------------------------------------------------


async def test_enable_imap4rev2(client: AsyncClient, seed: Seed) -> None:
    await seed(2)
    assert client.enabled == frozenset()
    assert await client.enable("IMAP4rev2") == {"IMAP4REV2"}
    assert client.enabled == {"IMAP4REV2"}
    assert await client.enable("IMAP4rev2") == frozenset()  # already on
    data = await client.select("INBOX")
    assert data.exists == 2
    assert data.unseen is None and data.recent == 0
    assert data.list_data is not None and data.list_data.name == "INBOX"
    assert await client.search("ALL") == [1, 2]


async def test_enable_best(client: AsyncClient) -> None:
    assert await client.enable_best() == {"IMAP4REV2"}
    assert client.connection.wire.utf8


async def test_enable_best_with_nothing_to_enable(client: AsyncClient) -> None:
    wire = client.connection.wire
    wire.capabilities = wire.capabilities - {"IMAP4REV2", "UTF8=ACCEPT"}
    assert await client.enable_best() == frozenset()


INTERNATIONAL = "Entwürfe/日本語"


async def test_international_names_in_modified_utf7(client: AsyncClient) -> None:
    recorder = record(client)
    await client.create("Entwürfe")
    await client.create(INTERNATIONAL)
    assert b"Entw&APw-rfe" in recorder.sent  # modified UTF-7 (RFC 3501 section 5.1.3)
    assert "Entwürfe".encode() not in recorder.sent
    assert INTERNATIONAL in names(await client.list("", "Entw*"))
    await client.append(INTERNATIONAL, MESSAGE)
    assert (await client.status(INTERNATIONAL)).messages == 1
    data = await client.select(INTERNATIONAL)
    assert data.exists == 1 and client.mailbox.name == INTERNATIONAL
    listed = await client.list("", "*", status=["MESSAGES"])
    status = {d.name: d.status for d in listed}[INTERNATIONAL]
    assert status is not None and status.messages == 1


async def test_international_names_after_imap4rev2_in_utf8(client: AsyncClient) -> None:
    await client.enable("IMAP4rev2")
    recorder = record(client)
    await client.create(INTERNATIONAL)
    assert INTERNATIONAL.encode() in recorder.sent
    listed = await client.list("", "*", status=["MESSAGES"])
    by_name = {d.name: d for d in listed}
    assert INTERNATIONAL in by_name
    status = by_name[INTERNATIONAL].status
    assert status is not None and status.messages == 0
    assert (await client.status(INTERNATIONAL)).mailbox == INTERNATIONAL
    await client.rename(INTERNATIONAL, "Entwürfe/中文")
    assert "Entwürfe/中文" in names(await client.list("", "Entw*"))


async def test_enable_needs_an_argument(client: AsyncClient) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await client.enable()
