"""The connection trace on ``imap_server.trace``: C: / S: lines at DEBUG, secrets redacted."""

from __future__ import annotations

import base64
import logging

import pytest

from imap_server.memory import MemoryStore
from imap_server.testing.harness import serve_for_tests
from imap_server.testing.transcript import play

pytestmark = pytest.mark.anyio

USER = "tracer"
PASSWORD = "Tr4ce-pw-9q"
PLAIN = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()


class FastStore(MemoryStore):
    scrypt_n = 2**4


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_trace_shows_both_directions_and_hides_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="imap_server.trace")
    store = FastStore()
    store.add_user(USER, PASSWORD)
    async with serve_for_tests(store) as server:
        await play(
            server,
            f"""
            S: * OK ...
            C: a1 LOGIN {USER} "{PASSWORD}"
            S: a1 OK ...
            C: a2 LOGOUT
            S: * BYE ...
            S: a2 OK ...
            """,
        )
        await play(
            server,
            f"""
            S: * OK ...
            C: b1 LOGIN {USER} {{{len(PASSWORD)}}}
            S: + ...
            C: {PASSWORD}
            S: b1 OK ...
            """,
        )
        await play(
            server,
            f"""
            S: * OK ...
            C: c1 AUTHENTICATE PLAIN {PLAIN}
            S: c1 OK ...
            C: c2 NOOP
            S: c2 OK ...
            """,
        )
        await play(
            server,
            f"""
            S: * OK ...
            C: d1 AUTHENTICATE PLAIN
            S: +...
            C: {PLAIN}
            S: d1 OK ...
            C: d2 NOOP
            S: d2 OK ...
            """,
        )
    records = [r for r in caplog.records if r.name == "imap_server.trace"]
    assert all(r.levelno == logging.DEBUG for r in records)
    text = "\n".join(r.getMessage() for r in records)
    assert PASSWORD not in text
    assert PLAIN not in text
    messages = [r.getMessage().split("] ", 1)[1] for r in records]
    for expected in (
        f"C: a1 LOGIN {USER} <redacted>",
        f"C: b1 LOGIN {USER} <redacted>",
        "C: <redacted>",
        "C: c1 AUTHENTICATE PLAIN <redacted>",
        "C: d1 AUTHENTICATE PLAIN",
        "S: +",
        "C: c2 NOOP",
        "C: d2 NOOP",
        "S: d2 OK NOOP completed",
    ):
        assert expected in messages, expected
    assert any(m.startswith("S: * OK") for m in messages)
    # One id per connection, four connections.
    assert len({r.getMessage().split("] ", 1)[0] for r in records}) == 4


async def test_no_trace_unless_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imap_server.trace")
    async with serve_for_tests() as server:
        await play(server, "S: * OK ...\nC: a1 NOOP\nS: a1 OK ...")
    assert not [r for r in caplog.records if r.name == "imap_server.trace"]
