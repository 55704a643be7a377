"""Connection limits (in total, per address) and the limit on bad commands in a row.

Each case checks the clear answer (``* BYE [UNAVAILABLE]`` at accept, ``* BYE`` after too many
bad commands), that the connection is closed, and that the next connection works.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest

from imap_server import cli
from imap_server.memory import MemoryStore
from imap_server.server import Listener, Server
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_server.testing.transcript import TranscriptClient, play

TIMEOUT = 10.0
REFUSED = """
    S: * BYE [UNAVAILABLE] Too many connections
    S: <closed>
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FastStore(MemoryStore):
    """Cheap password hashes."""

    scrypt_n = 16


def new_store() -> FastStore:
    store = FastStore()
    store.add_user("user", "pass")
    return store


@asynccontextmanager
async def limited(
    *,
    max_connections: int | None = 1000,
    max_connections_per_address: int | None = 50,
    max_bad_commands: int | None = 10,
) -> AsyncIterator[RunningServer]:
    async with serve_for_tests(
        new_store(),
        max_connections=max_connections,
        max_connections_per_address=max_connections_per_address,
        max_bad_commands=max_bad_commands,
    ) as running:
        yield running


async def wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(TIMEOUT):
        while not condition():
            await anyio.sleep(0.01)


async def open_client(running: RunningServer, local_host: str | None = None) -> TranscriptClient:
    """A client that got the greeting (so the server counts it)."""
    stream = await anyio.connect_tcp(running.host, running.port, local_host=local_host)
    client = TranscriptClient(stream, timeout=TIMEOUT)
    await client.play("S: * OK ...")
    return client


async def logout(client: TranscriptClient) -> None:
    await client.play("C: z LOGOUT\nS: * BYE ...\nS: z OK ...\nS: <closed>")
    await client.stream.aclose()


async def assert_works(running: RunningServer) -> None:
    await play(
        running,
        """
        S: * OK ...
        C: w1 LOGIN user pass
        S: w1 OK ...
        C: w2 SELECT INBOX
        S: ...
        S: w2 OK ...
        C: w3 LOGOUT
        S: * BYE ...
        S: w3 OK ...
        S: <closed>
        """,
        timeout=TIMEOUT,
    )


# -- connections ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_total_connection_limit() -> None:
    async with limited(max_connections=2, max_connections_per_address=None) as running:
        server = running.server
        async with AsyncExitStack() as stack:
            first = await open_client(running)
            stack.push_async_callback(first.stream.aclose)
            second = await open_client(running)
            stack.push_async_callback(second.stream.aclose)
            # Refused before a session exists: the connection set does not grow.
            lines = await play(running, REFUSED, timeout=TIMEOUT)
            assert lines[0] == "* BYE [UNAVAILABLE] Too many connections"
            assert len(server.connections) == 2
            # One leaves: the next client is served.
            await logout(first)
            await wait_until(lambda: len(server.connections) == 1)
            await assert_works(running)
            await play(running, "S: * OK ...\nC: n NOOP\nS: n OK ...", timeout=TIMEOUT)
        await wait_until(lambda: not server.connections)
        await assert_works(running)


@pytest.mark.anyio
async def test_per_address_connection_limit() -> None:
    async with limited(max_connections=None, max_connections_per_address=2) as running:
        server = running.server
        clients = [await open_client(running) for _ in range(2)]
        await play(running, REFUSED, timeout=TIMEOUT)
        # Another address (loopback 127.0.0.2) has its own count; the port is not part of it.
        other = await open_client(running, local_host="127.0.0.2")
        await other.play("C: a NOOP\nS: a OK ...")
        await play(running, REFUSED, timeout=TIMEOUT)
        await logout(clients.pop())
        await wait_until(lambda: len(server.connections) == 2)
        await assert_works(running)
        for client in [*clients, other]:
            await logout(client)
        await wait_until(lambda: not server.connections)
        await assert_works(running)


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) with a throwaway self-signed certificate."""
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    client.check_hostname = False
    return server, client


@pytest.mark.anyio
async def test_implicit_tls_client_over_the_limit_is_told_over_tls(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_tls, client_tls = tls_contexts
    async with serve_for_tests(
        new_store(), listeners=(Listener("127.0.0.1", 0, tls=server_tls),), max_connections=1
    ) as running:

        async def connect() -> TranscriptClient:
            stream = await anyio.connect_tcp(
                running.host, running.port, ssl_context=client_tls, tls_hostname="localhost",
                tls_standard_compatible=False,
            )  # fmt: skip
            return TranscriptClient(stream, timeout=TIMEOUT)

        first = await connect()
        await first.play("S: * OK ...")
        refused = await connect()
        await refused.play(REFUSED)
        await refused.stream.aclose()
        await logout(first)
        await wait_until(lambda: not running.server.connections)
        again = await connect()
        await again.play("S: * OK ...\nC: n NOOP\nS: n OK ...")
        await logout(again)


@pytest.mark.anyio
async def test_connection_limits_can_be_disabled() -> None:
    async with limited(max_connections=None, max_connections_per_address=None) as running:
        clients = [await open_client(running) for _ in range(5)]
        await assert_works(running)
        for client in clients:
            await logout(client)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_connections "):
        Server(new_store(), max_connections=0)
    with pytest.raises(ValueError, match="max_connections_per_address"):
        Server(new_store(), max_connections_per_address=0)
    with pytest.raises(ValueError, match="max_bad_commands"):
        Server(new_store(), max_bad_commands=-1)


# -- bad commands in a row ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_bad_commands_in_a_row_end_the_connection() -> None:
    async with limited(max_bad_commands=3) as running:
        # Parser errors, an unknown command and a handler's BAD all count.
        await play(
            running,
            """
            S: * OK ...
            C: a1 FROBNICATE
            S: a1 BAD ...
            C: garbage
            S: garbage BAD ...
            C: a3 SELECT
            S: a3 BAD ...
            S: * BYE Too many invalid commands
            S: <closed>
            """,
            timeout=TIMEOUT,
        )
        await wait_until(lambda: not running.server.connections)
        await assert_works(running)


@pytest.mark.anyio
async def test_a_good_command_resets_the_bad_command_count() -> None:
    async with limited(max_bad_commands=2) as running:
        await play(
            running,
            """
            S: * OK ...
            C: a1 FROBNICATE
            S: a1 BAD ...
            C: a2 NOOP
            S: a2 OK ...
            C: a3 FROBNICATE
            S: a3 BAD ...
            C: a4 NOOP
            S: a4 OK ...
            C: a5 FROBNICATE
            S: a5 BAD ...
            C: a6 FROBNICATE
            S: a6 BAD ...
            S: * BYE Too many invalid commands
            S: <closed>
            """,
            timeout=TIMEOUT,
        )
        await assert_works(running)


@pytest.mark.anyio
async def test_bad_command_limit_can_be_disabled() -> None:
    async with limited(max_bad_commands=None) as running:
        bad = "\n".join(f"C: b{i} FROBNICATE\nS: b{i} BAD ..." for i in range(30))
        await play(running, f"S: * OK ...\n{bad}\nC: n NOOP\nS: n OK ...", timeout=TIMEOUT)


# -- the command line -----------------------------------------------------------------------------


def test_cli_limit_options() -> None:
    parser = cli.build_parser()
    defaults = parser.parse_args(["serve"])
    assert (
        defaults.max_connections,
        defaults.max_connections_per_address,
        defaults.max_bad_commands,
    ) == (1000, 50, 10)
    args = parser.parse_args(
        ["serve", "--max-connections", "5", "--max-connections-per-address", "0",
         "--max-bad-commands", "3"]
    )  # fmt: skip
    assert (args.max_connections, args.max_connections_per_address, args.max_bad_commands) == (
        5,
        None,
        3,
    )


def test_cli_limit_options_are_checked_and_documented(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for value in ("-1", "many"):
        assert cli.main(["serve", "--max-connections", value]) == 2
        assert "invalid count" in capsys.readouterr().err
    assert cli.main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--max-connections", "--max-connections-per-address", "--max-bad-commands"):
        assert option in out
