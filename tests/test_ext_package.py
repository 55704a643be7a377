"""An extension in its own installed package reaches the server through the entry points.

``tests/ext_package`` is the distribution ``imap-server-test-ext`` (installed editable by
``scripts/test``). It offers ``xecho`` in the entry point groups ``imap_server.extensions``
(handler, capability, NOOP wrapper, ENABLE hook) and ``imap_wire.extensions`` (grammar). The
server here loads it by name, the way an application would, and is checked through transcripts.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from imap_server import extensions
from imap_server.memory import MemoryStore
from imap_server.server import Server
from imap_server.testing.harness import serve_for_tests
from imap_server.testing.transcript import play
from imap_wire import (
    SimpleCode,
    default_registry,
    discover_extensions,
    encode_command,
    encode_response,
    parse_command,
    parse_response,
)
from imap_wire.errors import RemoteProtocolError


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ext_module() -> ModuleType:
    # Imported by name at run time, as the entry points do. (A static import would make mypy
    # meet the package twice: as `imap_server_test_ext` through the editable install and as
    # `ext_package.src.imap_server_test_ext` in its scan of tests/.)
    return importlib.import_module("imap_server_test_ext")


class FastStore(MemoryStore):
    scrypt_n = 16


def new_store() -> FastStore:
    store = FastStore()
    store.add_user("user", "pass")
    return store


def test_the_package_is_discovered_but_nothing_is_loaded(ext_module: ModuleType) -> None:
    assert "xecho" in extensions.discover_extensions()
    (loaded,) = extensions.load_extensions(["xecho"])
    assert loaded.name == "xecho" and loaded.wire is ext_module.install_wire
    assert "xecho" in discover_extensions()
    # A fresh registry knows nothing of it until asked.
    assert "XECHO" not in default_registry().commands


def test_unknown_extension_names_are_refused() -> None:
    with pytest.raises(LookupError):
        Server(new_store(), extensions=["no-such-extension"])


@pytest.mark.anyio
async def test_enabled_by_name() -> None:
    async with serve_for_tests(new_store(), extensions=["xecho"]) as running:
        await play(
            running,
            r"""
            S: * OK [CAPABILITY IMAP4rev1 ... XECHO] IMAP server ready
            # Not valid before authentication.
            C: a1 XECHO hello
            S: a1 BAD ...
            C: a2 LOGIN user pass
            S: a2 OK [CAPABILITY IMAP4rev1 ... XECHO] Logged in
            C: a3 CAPABILITY
            S: * CAPABILITY IMAP4rev1 ... XECHO
            S: a3 OK CAPABILITY completed
            C: a4 XECHO hello
            S: * XECHO hello
            S: a4 OK XECHO completed
            C: a5 XECHO "two words"
            S: * XECHO "two words"
            S: a5 OK XECHO completed
            C: a6 XECHO {5}
            S: + ...
            C: a{b}c
            S: * XECHO "a{b}c"
            S: a6 OK XECHO completed
            C: a7 XECHO
            S: a7 BAD ...
            C: a8 XECHO one two
            S: a8 BAD ...
            C: a9 NOOP
            S: * OK [XNOOP] wrapped
            S: a9 OK NOOP completed
            C: a10 ENABLE XECHO
            S: * ENABLED XECHO
            S: a10 OK ENABLE completed
            # Enabling twice enables nothing new.
            C: a11 ENABLE XECHO
            S: * ENABLED
            S: a11 OK ENABLE completed
            C: a12 SELECT INBOX
            S: ...
            S: a12 OK [READ-WRITE] SELECT completed
            C: a13 XECHO selected
            S: * XECHO selected
            S: a13 OK XECHO completed
            # The wrapper keeps what NOOP does: report changes in the selected mailbox.
            C: a14 APPEND INBOX {16+}
            C: Subject: x
            C:
            C: hi
            S: * 1 EXISTS
            S: * 1 RECENT
            S: a14 OK [APPENDUID ...] APPEND completed
            C: a15 NOOP
            S: * OK [XNOOP] wrapped
            S: a15 OK NOOP completed
            C: a16 LOGOUT
            S: * BYE ...
            S: a16 OK LOGOUT completed
            S: <closed>
            """,
        )


@pytest.mark.anyio
async def test_not_enabled_by_being_installed() -> None:
    async with serve_for_tests(new_store()) as running:
        lines = await play(
            running,
            """
            S: * OK [CAPABILITY ...] IMAP server ready
            C: a1 LOGIN user pass
            S: a1 OK ...
            C: a2 XECHO hello
            S: a2 BAD ...
            C: a3 NOOP
            S: a3 OK NOOP completed
            C: a4 ENABLE XECHO
            S: * ENABLED
            S: a4 OK ENABLE completed
            C: a5 CAPABILITY
            S: * CAPABILITY ...
            S: a5 OK CAPABILITY completed
            C: a6 LOGOUT
            S: ...
            S: <closed>
            """,
        )
        assert not any("XECHO" in line.split() for line in lines if line.startswith("* "))
        assert not any("XNOOP" in line for line in lines)


def test_client_side_grammar(ext_module: ModuleType) -> None:
    XEcho, XEchoResponse = ext_module.XEcho, ext_module.XEchoResponse
    registry = default_registry()
    registry.enable("xecho")
    assert "XECHO" in registry.capabilities
    command = parse_command(b"t1 XECHO hi\r\n", registry=registry)
    assert command == XEcho(tag="t1", text=b"hi")
    assert encode_command(XEcho(tag="t2", text=b"two words")) == b't2 XECHO "two words"\r\n'
    with pytest.raises(RemoteProtocolError):
        parse_command(b"t1 XECHO hi\r\n")  # the default grammar has no XECHO
    assert parse_response(b"* XECHO hi\r\n", registry=registry) == XEchoResponse(text=b"hi")
    assert encode_response(XEchoResponse(text=b"a b")) == b'* XECHO "a b"\r\n'
    ok = parse_response(b"* OK [XNOOP] wrapped\r\n", registry=registry)
    assert ok.code == SimpleCode(name="XNOOP")  # type: ignore[union-attr]
