"""Shared fixtures for the interop tests: real IMAP clients against our server.

The server runs either as the ``imap-server`` command in a child process (`CliServer`, the way
a user runs it: ``python -m imap_server serve --listen 127.0.0.1:0 --user NAME:PASSWORD``, the
bound ports read from the ``listening on`` lines it prints to stderr), or in a background thread
of this process (`imap_server.testing.ThreadedServer`) when a test needs to preload state the
protocol cannot create (special-use attributes, for one).

Test modules cannot import this file at run time (``--import-mode=importlib``); they get what it
holds through fixtures, and import its types for annotations only (``if TYPE_CHECKING``).

Every test is checked for leaks (`_no_leaks`): a thread or child process it started and left
running fails it.
"""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest

from imap_server import MemoryStore
from imap_server.testing.harness import ThreadedServer

if TYPE_CHECKING:
    from conftest import Certificate

#: The account every server of these tests has.
USER = "alice"
PASSWORD = "interop secret: with a colon"

START_TIMEOUT = 20.0  # seconds for the child process to accept connections
STOP_TIMEOUT = 10.0  # seconds for it to exit after SIGTERM
LEAK_TIMEOUT = 5.0  # seconds for a test's threads and child processes to end after it

_LISTENING = re.compile(r"^imap-server: listening on (\S+):(\d+) \(([^)]*)\)$", re.MULTILINE)


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_files(tls_certificate: Certificate) -> Certificate:
    """The run's test certificate (`tls_certificate` of ``tests/conftest.py``)."""
    return tls_certificate


@pytest.fixture(scope="session")
def client_ssl_context(tls_files: Certificate) -> ssl.SSLContext:
    return tls_files.client_context()


# -- the server as a child process ----------------------------------------------------------------


class CliServer:
    """``python -m imap_server serve`` in a child process, with a plain listener (STARTTLS
    offered) and an implicit-TLS one, and one user (`USER` / `PASSWORD`).

    Its stderr goes to a file (read for the ``listening on`` lines, and shown when the server
    fails to start or to stop cleanly), so no thread has to drain a pipe.
    """

    host = "127.0.0.1"

    def __init__(self, tls: Certificate, log_file: Path) -> None:
        self.log_file = log_file
        with log_file.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "imap_server", "serve",
                 "--listen", f"{self.host}:0", "--tls-listen", f"{self.host}:0",
                 "--cert", str(tls.cert), "--key", str(tls.key),
                 "--user", f"{USER}:{PASSWORD}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        try:
            self.port, self.tls_port = self._wait_for_ports()
        except BaseException:
            self.kill()
            raise

    def log(self) -> str:
        """What the server printed to stderr so far."""
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def _wait_for_ports(self) -> tuple[int, int]:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            found = {kind: int(port) for _, port, kind in _LISTENING.findall(self.log())}
            if "plain, STARTTLS" in found and "TLS" in found:
                return found["plain, STARTTLS"], found["TLS"]
            if self.proc.poll() is not None:
                pytest.fail(f"imap-server exited ({self.proc.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"imap-server not listening after {START_TIMEOUT} s:\n{self.log()}")
            time.sleep(0.02)

    def stop(self) -> int:
        """SIGTERM, as a service manager would; return the exit code (0: clean shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                pytest.fail(f"imap-server still running {STOP_TIMEOUT} s after SIGTERM")
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)


@pytest.fixture(scope="module")
def cli_server(
    tls_files: Certificate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CliServer]:
    """One ``imap-server`` child process per test module."""
    server = CliServer(tls_files, tmp_path_factory.mktemp("cli-server") / "stderr.log")
    try:
        yield server
        code = server.stop()
        assert code == 0, f"imap-server exited with {code}:\n{server.log()}"
    finally:
        server.kill()


# -- the server in a thread -----------------------------------------------------------------------


class FastMemoryStore(MemoryStore):
    """A `MemoryStore` with cheap password hashes: tests log in often."""

    scrypt_n: ClassVar[int] = 2**4


@pytest.fixture
def memory_store() -> MemoryStore:
    """An empty store with the account `USER` / `PASSWORD`."""
    store = FastMemoryStore()
    store.add_user(USER, PASSWORD)
    return store


@pytest.fixture
def threaded_server(memory_store: MemoryStore, tls_files: Certificate) -> Iterator[ThreadedServer]:
    """`memory_store` served in a background thread on a plain listener offering STARTTLS;
    ``server.running.port`` is its port, ``server.call`` runs code in its event loop."""
    server = ThreadedServer(memory_store, tls_context=tls_files.server_context())
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- no leaks -------------------------------------------------------------------------------------


def _child_pids() -> set[int]:
    """This process's live children (Linux: from /proc; elsewhere an empty set)."""
    me, children = os.getpid(), set[int]()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) == me and state != "Z":
            children.add(int(entry))
    return children


def _wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread or a child process running (fixtures of a wider scope
    start before this one, so theirs do not count)."""
    threads_before = set(threading.enumerate())
    children_before = _child_pids()
    yield

    def new_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]

    def new_children() -> set[int]:
        return _child_pids() - children_before

    _wait_until(lambda: not new_threads() and not new_children(), LEAK_TIMEOUT)
    leaked_threads, leaked_children = new_threads(), new_children()
    assert not leaked_threads, f"threads left running: {leaked_threads}"
    assert not leaked_children, f"child processes left running: {sorted(leaked_children)}"
