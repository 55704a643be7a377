"""The blocking `Client`: parity with `AsyncClient`, commands against a server in a thread,
exceptions, and the background thread's lifecycle (no thread left behind, Ctrl-C)."""

from __future__ import annotations

import gc
import inspect
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imap_client import (
    AsyncClient,
    AuthenticationFailed,
    CommandFailed,
    ConnectionLost,
    ImapConnectionError,
)
from imap_client.sync import (
    NOT_MIRRORED,
    RENAMED,
    BlockingIterator,
    Client,
    _Mirror,
    _mirror_undeclared,
    public_async_methods,
)
from imap_server import MemoryStore
from imap_server.testing.harness import RunningServer, ThreadedServer
from imap_wire import ExistsResponse, Response

MESSAGE = b"From: a@example.com\r\nSubject: hello\r\n\r\nbody text\r\n"


class FastStore(MemoryStore):
    """Cheap password hashes: these tests log in often."""

    scrypt_n = 2**4


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    store = FastStore()
    store.add_user("user", "pass")
    with ThreadedServer(store) as running:
        yield running


def connect(server: RunningServer, **options: Any) -> Client:
    return Client(server.host, server.port, tls=False, **options)


def is_closed(client: Client) -> bool:
    return client.is_closed  # (a call: mypy narrows attributes across calls that change them)


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def _serving_loop_worker(thread: threading.Thread) -> bool:
    """A worker thread of an event loop still running (the test server's: idle workers linger
    for 10 s). One of a client's loop would outlive that loop's thread, and be caught."""
    loop = getattr(thread, "loop", None)
    return thread.name == "AnyIO worker thread" and loop is not None and loop.is_running()


def new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    return {t for t in set(threading.enumerate()) - before if not _serving_loop_worker(t)}


def assert_no_new_threads(before: set[threading.Thread], within: float = 3.0) -> None:
    """Every thread started since ``before`` ends (worker threads end shortly after their
    event loop, so this waits a little)."""
    deadline = time.monotonic() + within
    while (extra := new_threads(before)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not extra, f"threads left running: {extra}"


@pytest.fixture
def baseline(server: RunningServer) -> set[threading.Thread]:
    """The threads before a test's client exists (after a login warmed the server up)."""
    with connect(server) as client:
        client.login("user", "pass")
    time.sleep(0.05)
    return _threads()


# -- parity with AsyncClient ----------------------------------------------------------------------


def _params(function: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    return [
        (p.name, p.kind, p.default, p.annotation)
        for p in inspect.signature(function).parameters.values()
    ]


def test_every_public_async_method_has_a_declared_blocking_counterpart() -> None:
    methods = public_async_methods(AsyncClient)
    assert {"connect", "aclose", "logout", "noop", "login", "capability"} <= set(methods)
    client = Client("imap.invalid")  # not connected: looking only
    undeclared = []
    for name, kind in sorted(methods.items()):
        if name in NOT_MIRRORED:
            continue
        sync_name = RENAMED.get(name, name)
        declared = inspect.getattr_static(Client, sync_name, None)
        assert declared is not None, f"AsyncClient.{name} has no counterpart"
        if isinstance(declared, _Mirror):
            assert declared.async_name == name
            if not declared.declared:  # mirrored at run time, invisible to mypy
                wrapper = {"call": "_Blocking", "context": "_BlockingContext"}.get(
                    kind, "_BlockingIterator"
                )
                undeclared.append(f"{sync_name} = {wrapper}(AsyncClient.{name})")
        else:
            assert inspect.isfunction(declared), f"Client.{sync_name} is not a method"
        blocking = getattr(client, sync_name)
        async_params = _params(getattr(AsyncClient, name))[1:]  # without self
        assert _params(blocking) == async_params, f"Client.{sync_name} differs from {name}"
        if kind == "call" and isinstance(declared, _Mirror):
            assert blocking.__doc__ == getattr(AsyncClient, name).__doc__
    assert not undeclared, "declare in Client's body (typed): " + "; ".join(undeclared)


def test_the_constructor_takes_the_async_clients_arguments() -> None:
    async_params = _params(AsyncClient.__init__)
    sync_params = _params(Client.__init__)
    assert sync_params[: len(async_params)] == async_params
    assert [p[0] for p in sync_params[len(async_params) :]] == ["backend"]


def test_a_method_added_to_async_client_is_mirrored_without_edits(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def frobnicate(self: AsyncClient, value: int, *, twice: bool = False) -> int:
        """Add one (or two) after a NOOP."""
        await self.noop()
        return value + (2 if twice else 1)

    monkeypatch.setattr(AsyncClient, "frobnicate", frobnicate, raising=False)

    class Extended(Client):
        pass

    assert _mirror_undeclared(Extended) == ["frobnicate"]
    method = inspect.getattr_static(Extended, "frobnicate")
    assert isinstance(method, _Mirror) and not method.declared
    with Extended(server.host, server.port, tls=False) as client:
        assert client.frobnicate(41) == 42  # type: ignore[attr-defined]
        assert client.frobnicate(40, twice=True) == 42  # type: ignore[attr-defined]
        assert client.frobnicate.__doc__ == frobnicate.__doc__  # type: ignore[attr-defined]


def test_signatures_are_typed() -> None:
    # Checked by mypy (this file is type-checked): the blocking methods have the parameters
    # and the (awaited) return types of the async ones.
    def uses(client: Client) -> None:
        noop: Callable[[], None] = client.noop
        capabilities: frozenset[str] = client.capability()
        ids: list[int] = client.search("ALL", uid=True)
        stream: BlockingIterator[bytes] = client.fetch_stream(1)
        del noop, capabilities, ids, stream

    assert callable(uses)


# -- commands ---------------------------------------------------------------------------------


def test_login_noop_capability_logout(server: RunningServer) -> None:
    client = connect(server)
    greeting = client.connect()
    assert greeting.status.value == "OK"
    assert "IMAP4REV2" in client.capability()
    client.login("user", "pass")
    assert client.has_capability("IDLE")
    client.noop()
    assert not is_closed(client)
    client.logout()
    assert is_closed(client)
    client.logout()  # idempotent
    client.close()


def test_mailbox_and_message_commands(server: RunningServer) -> None:
    with connect(server) as client:
        client.login("user", "pass")
        client.create("Sync")
        appended = client.append("Sync", MESSAGE, flags=["\\Flagged"])
        selected = client.select("Sync")
        assert selected.exists == 1
        assert client.mailbox.exists == 1
        assert client.search("FLAGGED") == [1]
        assert client.search("ALL", uid=True) == [appended.uid]
        (message,) = client.fetch("1", ["UID", "FLAGS", "BODY.PEEK[]"])
        assert message.uid == appended.uid
        assert message.flags is not None and "\\Flagged" in message.flags
        client.store("1", ["\\Deleted"])
        assert client.expunge() == [1]
        client.close_mailbox()  # IMAP CLOSE
        assert not client.is_closed
        assert "Sync" in [entry.name for entry in client.list("", "*")]
        client.delete("Sync")


def test_streaming_a_body(server: RunningServer) -> None:
    with connect(server) as client:
        client.login("user", "pass")
        client.create("Stream")
        uid = client.append("Stream", MESSAGE).uid
        assert uid is not None
        client.select("Stream")
        assert b"".join(client.fetch_stream(uid)) == MESSAGE
        with client.fetch_stream(uid, "TEXT") as stream:
            assert b"".join(stream) == b"body text\r\n"
        stream = client.fetch_stream(uid)
        next(stream)
        stream.close()  # early: the rest is dropped, the connection goes on
        client.noop()
        client.delete("Stream")


def test_idle_yields_updates_from_another_connection(server: RunningServer) -> None:
    with connect(server) as client, connect(server) as other:
        client.login("user", "pass")
        other.login("user", "pass")
        client.create("Idle")
        client.select("Idle")
        with client.idle() as updates:
            assert updates.wait(0.05) == []
            other.append("Idle", MESSAGE)
            first = next(updates)
            assert isinstance(first, ExistsResponse) or updates.wait(2)
        assert client.mailbox.exists == 1
        client.noop()  # IDLE ended: commands run again

        def appended(response: Response) -> bool:
            return isinstance(response, ExistsResponse) and response.count == 2

        timer = threading.Timer(0.1, other.append, ("Idle", MESSAGE))
        timer.start()
        assert isinstance(client.idle_until(appended, timeout=5), ExistsResponse)
        timer.join()
        client.delete("Idle")


def test_call_runs_a_coroutine_function_with_the_async_client(server: RunningServer) -> None:
    with connect(server) as client:
        client.login("user", "pass")

        async def capabilities_twice(async_client: AsyncClient, extra: str) -> list[str]:
            await async_client.noop()
            return [*sorted(await async_client.capability())[:1], extra]

        assert client.call(capabilities_twice, "x")[-1] == "x"


def test_calls_from_several_threads(server: RunningServer) -> None:
    with connect(server) as client:
        client.login("user", "pass")
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(5):
                    client.noop()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors


def test_unsolicited_handlers_run_in_the_loop_thread(server: RunningServer) -> None:
    with connect(server) as client, connect(server) as other:
        client.login("user", "pass")
        other.login("user", "pass")
        client.create("Handler")
        client.select("Handler")
        seen: list[tuple[Response, int]] = []
        unregister = client.on_unsolicited(lambda r: seen.append((r, threading.get_ident())))
        other.append("Handler", MESSAGE)
        client.noop()
        assert seen and all(ident != threading.get_ident() for _, ident in seen)
        unregister()
        client.delete("Handler")


# -- exceptions -------------------------------------------------------------------------------


def test_exceptions_propagate_unchanged(server: RunningServer) -> None:
    with connect(server) as client:
        with pytest.raises(AuthenticationFailed) as failed:
            client.login("user", "wrong")
        assert failed.value.response.status.value == "NO"
        client.login("user", "pass")
        with pytest.raises(CommandFailed) as no_such:
            client.select("No such mailbox")
        assert no_such.value.command == "SELECT"
        assert no_such.value.code_name == "NONEXISTENT"
        client.noop()  # still usable


def test_errors_before_and_after_the_connection(
    server: RunningServer, baseline: set[threading.Thread]
) -> None:
    client = connect(server)
    with pytest.raises(ImapConnectionError, match="not connected"):
        client.noop()
    client.connect()
    with pytest.raises(RuntimeError, match="already connected"):
        client.connect()
    client.close()
    with pytest.raises(ConnectionLost):
        client.noop()
    assert_no_new_threads(baseline)


def test_a_failed_connect_leaves_no_thread(baseline: set[threading.Thread]) -> None:
    with socket_closed_port() as port:
        client = Client("127.0.0.1", port, tls=False, connect_timeout=5)
        with pytest.raises(ImapConnectionError):
            client.connect()
        with pytest.raises(ImapConnectionError):
            client.__enter__()
    assert_no_new_threads(baseline)


class socket_closed_port:
    """A port nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        return port

    def __exit__(self, *exc_info: object) -> None:
        pass


# -- the background thread --------------------------------------------------------------------


def test_the_context_manager_stops_the_thread(
    server: RunningServer, baseline: set[threading.Thread]
) -> None:
    with connect(server) as client:
        client.login("user", "pass")
        names = {t.name for t in _threads() - baseline}
        assert any(name.startswith("imap-client") for name in names)
    assert_no_new_threads(baseline)


def test_the_context_manager_closes_on_an_error(
    server: RunningServer, baseline: set[threading.Thread]
) -> None:
    with pytest.raises(ValueError), connect(server) as client:
        client.login("user", "pass")
        raise ValueError("boom")
    assert client.is_closed
    assert_no_new_threads(baseline)


def test_close_from_another_thread_fails_the_pending_call(
    server: RunningServer, baseline: set[threading.Thread]
) -> None:
    client = connect(server)
    client.connect()
    client.login("user", "pass")
    client.select("INBOX")
    threading.Timer(0.2, client.close).start()
    with pytest.raises(ConnectionLost):
        client.idle_until(lambda response: False, timeout=10)
    assert_no_new_threads(baseline)


def test_a_client_never_closed_stops_its_thread_when_collected(
    server: RunningServer, baseline: set[threading.Thread]
) -> None:
    client = connect(server)
    client.connect()
    client.login("user", "pass")
    del client
    gc.collect()
    assert_no_new_threads(baseline)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signals reach the main thread only",
)
def test_ctrl_c_cancels_the_call_closes_and_stops_the_thread(
    server: RunningServer, baseline: set[threading.Thread]
) -> None:
    main = threading.main_thread().ident
    assert main is not None
    client = connect(server)
    with pytest.raises(KeyboardInterrupt), client:
        client.login("user", "pass")
        client.select("INBOX")
        threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()
        with client.idle() as updates:
            updates.wait(10)  # interrupted
    assert client.is_closed
    assert_no_new_threads(baseline)
