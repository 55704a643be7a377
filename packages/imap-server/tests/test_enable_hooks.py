"""ENABLE hooks switch session options; STATUS HIGHESTMODSEQ follows CONDSTORE's."""

from __future__ import annotations

import pytest

from imap_server import CommandContext, MemoryStore, ServerExtension
from imap_server.testing.harness import serve_for_tests
from imap_server.testing.transcript import login_steps, play
from imap_wire import Registry, parse_generic_modifier

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _enable_condstore(ctx: CommandContext) -> bool:
    ctx.options.condstore = True
    return True


def _condstore_grammar(registry: Registry) -> None:
    registry.modifiers[("STATUS-ITEM", "HIGHESTMODSEQ")] = parse_generic_modifier


# What an extension implementing CONDSTORE (RFC 7162) hooks into the core: its grammar makes
# HIGHESTMODSEQ a STATUS item the parser knows; ENABLE sets the session's option, which turns
# on HIGHESTMODSEQ in STATUS and SELECT, and MODSEQ in flag updates.
CONDSTORE_HOOK = ServerExtension(
    name="condstore-hook", on_enable={"CONDSTORE": _enable_condstore}, wire=_condstore_grammar
)


async def test_highestmodseq_in_status_once_enabled() -> None:
    store = MemoryStore()
    store.add_user("user", "pass")
    async with serve_for_tests(store, extensions=[CONDSTORE_HOOK]) as running:
        await play(
            running,
            login_steps()
            + """
            C: a1 STATUS INBOX (HIGHESTMODSEQ)
            S: a1 BAD unknown STATUS item HIGHESTMODSEQ
            C: a2 APPEND INBOX {12}
            S: + ...
            C: Subject:
            C:
            C:
            S: a2 OK [APPENDUID ...] APPEND completed
            C: a3 ENABLE CONDSTORE
            S: * ENABLED CONDSTORE
            S: a3 OK ENABLE completed
            C: a4 STATUS INBOX (MESSAGES HIGHESTMODSEQ)
            S: * STATUS INBOX (MESSAGES 1 HIGHESTMODSEQ ...)
            S: a4 OK STATUS completed
            C: a5 SELECT INBOX
            S: ...
            S: * OK [HIGHESTMODSEQ ...] Highest
            S: ...
            S: a5 OK [READ-WRITE] SELECT completed
            """,
        )


async def test_enable_of_an_unknown_capability_enables_nothing() -> None:
    async with serve_for_tests() as running:
        await play(
            running,
            login_steps()
            + """
            C: a1 ENABLE CONDSTORE X-UNKNOWN
            S: * ENABLED
            S: a1 OK ENABLE completed
            """,
        )
