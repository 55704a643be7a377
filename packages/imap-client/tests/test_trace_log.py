"""The connection trace on ``imap_client.trace``: C: / S: lines at DEBUG, secrets redacted."""

from __future__ import annotations

import base64
import logging

import pytest

from imap_client import AsyncClient
from imap_server import MemoryStore
from imap_server.testing.harness import RunningServer

pytestmark = pytest.mark.anyio

PASSWORD = "Tr4ce-pw-9q"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def trace(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "imap_client.trace"]


async def test_trace_shows_both_directions_and_hides_secrets(
    server: RunningServer, store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.add_user("tracer", PASSWORD)
    caplog.set_level(logging.DEBUG, logger="imap_client.trace")
    async with AsyncClient(server.host, server.port, tls=False, timeout=10) as client:
        await client.login("tracer", PASSWORD)
        await client.noop()
    async with AsyncClient(server.host, server.port, tls=False, timeout=10) as client:
        await client.login_plain("tracer", PASSWORD)
    async with AsyncClient(server.host, server.port, tls=False, timeout=10) as client:
        await client.authenticate("PLAIN", "tracer", PASSWORD, initial_response=False)
        await client.noop()
    lines = trace(caplog)
    text = "\n".join(lines)
    plain = base64.b64encode(f"\0tracer\0{PASSWORD}".encode()).decode()
    assert PASSWORD not in text
    assert plain not in text
    messages = [line.split("] ", 1)[1] for line in lines]
    assert any(m.startswith("S: * OK") for m in messages)
    assert any(m.endswith("LOGIN tracer <redacted>") for m in messages)
    assert any(m.endswith("AUTHENTICATE PLAIN <redacted>") for m in messages)
    assert any(m.startswith("C: ") and m.endswith("AUTHENTICATE PLAIN") for m in messages)
    assert "C: <redacted>" in messages
    assert any(m.startswith("C: ") and m.endswith(" NOOP") for m in messages)
    assert len({line.split("] ", 1)[0] for line in lines}) == 3


async def test_no_trace_unless_debug(client: AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imap_client.trace")
    await client.noop()
    assert not trace(caplog)
