"""Two ``imap-server serve`` processes on one PostgreSQL database.

A session on one process must learn of every change made through the other: a client in IDLE
on process A sees each APPEND, STORE and EXPUNGE made through process B within a second, and a
SELECT on A right after a change through B shows the change (no stale cache in A).

Each test creates a fresh database (schema applied in this process with `PgStore.upgrade`),
starts ``python -m imap_server serve --store postgresql://...`` twice on port 0, reads each
bound port from the ``listening on`` line, and talks to them over TCP with a small blocking
client (both from `imap_server.testing.process`). Every child is stopped on the way out, pass or
fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from imap_server.testing.process import (
    RawClient,
    ServerProcess,
    flags_of,
    parse_numbered,
    uid_of,
)
from imap_store_pg import PgStore
from imap_store_pg.testing import fresh_database

USER, PASSWORD = "alice", "secret"
TIMEOUT = 15.0  # bound on any wait for a server's answer (keeps a broken server from hanging)
NOTICE = 1.0  # a change through one process reaches an IDLE session on the other within this


# -- PostgreSQL --------------------------------------------------------------------------------


class _CheapHashes(PgStore):
    scrypt_n = 2**4  # logins are many here; the server verifies with the hash's own cost


async def _prepare(server_dsn: str) -> str:
    url = await fresh_database(server_dsn)
    await PgStore(url).upgrade()
    store = _CheapHashes(url)
    await store.start()
    try:
        await store.create_account(USER, PASSWORD)
    finally:
        await store.aclose()
    return url


@pytest.fixture
def db_url(pg_dsn: str) -> str:
    """A fresh database with the schema applied and user ``alice`` / ``secret`` (``pg_dsn``:
    the session's PostgreSQL server, from conftest.py)."""
    return anyio.run(_prepare, pg_dsn)


# -- clients -----------------------------------------------------------------------------------


def connect(port: int, name: str) -> RawClient:
    """A blocking connection logged in as ``alice`` (use it in a ``with``)."""
    return RawClient("127.0.0.1", port, name=name, timeout=TIMEOUT, login=(USER, PASSWORD))


def messages(client: RawClient) -> dict[int, tuple[set[str], bytes]]:
    """``UID FETCH 1:* (FLAGS BODY.PEEK[])`` of the selected mailbox: UID -> flags, body."""
    out: dict[int, tuple[set[str], bytes]] = {}
    for uid, r in client.uid_fetch("FLAGS BODY.PEEK[]").items():
        flags = flags_of(r.text)
        assert flags is not None and len(r.literals) == 1, r
        out[uid] = (flags, r.literals[0])
    return out


def message(n: int) -> bytes:
    return (
        f"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: message {n}\r\n"
        f"Message-ID: <multiprocess-{n}@example.org>\r\n\r\nBody of message {n}.\r\n"
    ).encode()


# -- the tests ---------------------------------------------------------------------------------


def _is(line: str) -> Callable[[str], bool]:
    return lambda text: text == line


def _fetch_with(n: int, flag: str, present: bool) -> Callable[[str], bool]:
    def matches(text: str) -> bool:
        numbered = parse_numbered(text)
        if numbered is None or numbered[:2] != (n, "FETCH"):
            return False
        flags = flags_of(text)
        return flags is not None and (flag in flags) == present

    return matches


@pytest.mark.parametrize("writer_on", ["other process", "same process"])
def test_idle_sees_changes_made_through_either_process(
    db_url: str, writer_on: str, tmp_path: Path
) -> None:
    with (
        ServerProcess.serve(db_url, log_dir=tmp_path) as a,
        ServerProcess.serve(db_url, log_dir=tmp_path) as b,
    ):
        port_a, port_b = a.port, b.port
        writer_port = port_b if writer_on == "other process" else port_a
        try:
            with connect(port_a, "i") as idler, connect(writer_port, "w") as writer:
                assert idler.select() == 0
                tag = idler.idle()

                uid1 = writer.append(message(1))
                idler.expect("* 1 EXISTS", _is("* 1 EXISTS"), NOTICE)

                writer.select()
                writer.ok(f"UID STORE {uid1} +FLAGS (\\Flagged)")
                idler.expect("FETCH with \\Flagged", _fetch_with(1, "\\Flagged", True), NOTICE)

                uid2 = writer.append(message(2))
                idler.expect("* 2 EXISTS", _is("* 2 EXISTS"), NOTICE)

                writer.ok(f"UID STORE {uid2} +FLAGS (\\Seen)")
                idler.expect("FETCH with \\Seen", _fetch_with(2, "\\Seen", True), NOTICE)
                writer.ok(f"UID STORE {uid2} -FLAGS (\\Seen)")
                idler.expect("FETCH without \\Seen", _fetch_with(2, "\\Seen", False), NOTICE)

                writer.ok(f"UID STORE {uid1} +FLAGS (\\Deleted)")
                idler.expect("FETCH with \\Deleted", _fetch_with(1, "\\Deleted", True), NOTICE)
                writer.ok("EXPUNGE")
                idler.expect("* 1 EXPUNGE", _is("* 1 EXPUNGE"), NOTICE)

                uid3 = writer.append(message(3))
                idler.expect("* 2 EXISTS", _is("* 2 EXISTS"), NOTICE)

                idler.done(tag)
                # The idler's view is the mailbox's: message 1 is uid2, message 2 is uid3.
                fetched = idler.ok("FETCH 1:* (UID FLAGS)").numbered("FETCH")
                uids = [uid for r in fetched if (uid := uid_of(r.text)) is not None]
                assert uids == [uid2, uid3]
                assert uid1 < uid2 < uid3
        except BaseException:
            print(a.log_tail(), b.log_tail(), sep="\n")
            raise


def test_select_after_a_change_elsewhere_is_fresh(db_url: str, tmp_path: Path) -> None:
    """SELECT / STATUS / FETCH on A right after each change through B show the change."""
    with (
        ServerProcess.serve(db_url, log_dir=tmp_path) as a,
        ServerProcess.serve(db_url, log_dir=tmp_path) as b,
    ):
        port_a, port_b = a.port, b.port
        with (
            connect(port_a, "r") as reader,
            connect(port_a, "k") as keeper,
            connect(port_b, "w") as writer,
        ):
            # A session that stays on INBOX keeps process A's view of it warm (a cache, if
            # there is one, is filled and kept).
            keeper.select()
            writer.select()
            expected: dict[int, tuple[set[str], bytes]] = {}
            for n in range(6):
                body = message(100 + n)
                uid = writer.append(body)
                expected[uid] = (set(), body)
                # Right after the tagged OK: no waiting, no NOOP first.
                assert reader.select() == len(expected)
                assert messages(reader) == expected
                assert reader.status() == {
                    "MESSAGES": len(expected),
                    "UIDNEXT": uid + 1,
                    "UNSEEN": 1,
                }
                reader.ok("UNSELECT")

                writer.ok(f"UID STORE {uid} +FLAGS (\\Seen)")
                expected[uid] = ({"\\Seen"}, body)
                reader.select()
                assert messages(reader) == expected
                reader.ok("UNSELECT")
                assert reader.status()["UNSEEN"] == 0

                if n % 2:
                    gone = min(expected)
                    writer.ok(f"UID STORE {gone} +FLAGS.SILENT (\\Deleted)")
                    writer.ok(f"UID EXPUNGE {gone}")
                    del expected[gone]
                    assert reader.select() == len(expected)
                    assert messages(reader) == expected
                    reader.ok("UNSELECT")
            keeper.ok("NOOP")
            assert set(messages(keeper)) == set(expected)
