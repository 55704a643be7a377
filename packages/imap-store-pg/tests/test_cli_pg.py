"""The administration commands against PostgreSQL, run as the real command.

Each test gets a fresh, empty database (`imap_store_pg.testing.fresh_database` on the
``pg_dsn`` server) and runs ``python -m imap_server db ...``, ``user ...`` and ``serve`` in
child processes, with passwords on stdin, as an administrator's script would; logins go
through the stdlib ``imaplib``. Every child is killed on the way out, pass or fail.
"""

from __future__ import annotations

import imaplib
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import pytest

from imap_store_pg import schema
from imap_store_pg.testing import fresh_database

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "Tr0ub4dor&3 with spaces "
COMMAND_TIMEOUT = 60.0  # seconds for one db / user command
START_TIMEOUT = 30.0  # seconds for serve to accept connections
STOP_TIMEOUT = 10.0  # seconds for serve to exit after SIGTERM
_LISTENING = re.compile(r"^imap-server: listening on (\S+):(\d+) \(([^)]*)\)$")


@pytest.fixture
def url(pg_dsn: str) -> str:
    """A fresh database with nothing in it (schema version 0)."""
    return anyio.run(fresh_database, pg_dsn)


def imap_server(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m imap_server ARGS`` with ``stdin`` on a pipe; never shows a password."""
    result = subprocess.run(
        [sys.executable, "-m", "imap_server", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    for secret in (PASSWORD, NEW_PASSWORD.strip()):
        assert secret not in result.stdout and secret not in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


def quiet(*args: str) -> tuple[str, ...]:
    return (*args, "--log-level", "WARNING")


@contextmanager
def serving(url: str) -> Iterator[int]:
    """``imap-server serve --store URL`` on a free loopback port; yields the port."""
    argv = ["serve", "--store", url, "--listen", "127.0.0.1:0", "--no-auth-throttle"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "imap_server", *argv, "--log-level", "WARNING"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"serve did not start in {START_TIMEOUT}s: {seen}")
            if line is None:
                pytest.fail(f"serve exited with {proc.wait()}: {seen}")
            seen.append(line)
            match = _LISTENING.match(line)
            if match:
                break
        yield int(match.group(2))
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(STOP_TIMEOUT)
        assert proc.stderr is not None
        proc.stderr.close()


def can_log_in(port: int, user: str, password: str) -> bool:
    with imaplib.IMAP4("127.0.0.1", port, timeout=COMMAND_TIMEOUT) as imap:
        try:
            imap.login(user, password)
        except imaplib.IMAP4.error:
            return False
        imap.select("INBOX")
        imap.logout()
        return True


def test_upgrade_add_passwd_serve_delete(url: str) -> None:
    latest = schema.SCHEMA_VERSION
    every = ", ".join(str(version) for version, _ in schema.MIGRATIONS)

    result = imap_server(*quiet("db", "version", "--store", url))
    assert (result.returncode, result.stdout) == (0, "0\n")
    result = imap_server(*quiet("db", "upgrade", "--store", url))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"database upgraded to schema version {latest} (applied: {every})\n"
    result = imap_server(*quiet("db", "upgrade", "--store", url))
    assert (result.returncode, result.stdout) == (
        0,
        f"database already at schema version {latest}\n",
    )
    assert imap_server(*quiet("db", "version", "--store", url)).stdout == f"{latest}\n"

    assert imap_server(*quiet("user", "list", "--store", url)).stdout == ""
    result = imap_server(*quiet("user", "add", "--store", url, "alice"), stdin=PASSWORD + "\n")
    assert (result.returncode, result.stdout) == (0, "added user alice\n"), result.stderr
    result = imap_server(*quiet("user", "add", "--store", url, "bob"), stdin=PASSWORD)
    assert result.returncode == 0, result.stderr
    result = imap_server(*quiet("user", "add", "--store", url, "alice"), stdin=NEW_PASSWORD)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.endswith("error: user alice exists already\n")
    result = imap_server(*quiet("user", "list", "--store", url))
    assert (result.returncode, result.stdout) == (0, "alice\nbob\n")

    with serving(url) as port:
        assert can_log_in(port, "alice", PASSWORD)
        # Changed and deleted while the server runs: the next login sees it.
        result = imap_server(
            *quiet("user", "passwd", "--store", url, "alice"), stdin=NEW_PASSWORD + "\n"
        )
        assert (result.returncode, result.stdout) == (0, "changed the password of user alice\n")
        assert can_log_in(port, "alice", NEW_PASSWORD)  # trailing space and all
        assert not can_log_in(port, "alice", PASSWORD)
        assert not can_log_in(port, "alice", NEW_PASSWORD.strip())

        result = imap_server(*quiet("user", "del", "--store", url, "alice"))
        assert result.returncode == 0, result.stderr
        assert result.stdout == "deleted user alice with all its mailboxes and messages\n"
        assert not can_log_in(port, "alice", NEW_PASSWORD)
        assert can_log_in(port, "bob", PASSWORD)

    assert imap_server(*quiet("user", "list", "--store", url)).stdout == "bob\n"
    for command in ("passwd", "del"):
        result = imap_server(*quiet("user", command, "--store", url, "alice"), stdin=PASSWORD)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr.endswith("error: no such user: alice\n")


def test_commands_before_the_upgrade_say_what_to_run(url: str) -> None:
    for argv in (("user", "list"), ("user", "add", "alice")):
        result = imap_server(*quiet(*argv, "--store", url), stdin=PASSWORD)
        assert (result.returncode, result.stdout) == (2, "")
        assert len(result.stderr.splitlines()) == 1
        assert "imap-server db upgrade" in result.stderr
    assert imap_server(*quiet("db", "version", "--store", url)).stdout == "0\n"


def test_unreachable_database_is_one_line(url: str) -> None:
    # A database that does not exist on the server: the store cannot connect.
    missing = url.rsplit("/", 1)[0] + "/imap_no_such_database"
    for argv in (("db", "upgrade"), ("user", "list")):
        result = imap_server(*quiet(*argv, "--store", missing))
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("imap-server: error: ")


def test_serve_user_flag_points_to_user_add(pg_dsn: str) -> None:
    # A store that keeps accounts: --user (made for memory://) would have to decide what to
    # do with an existing account; the command says how to create one instead.
    url = anyio.run(fresh_database, pg_dsn)
    result = subprocess.run(
        [sys.executable, "-m", "imap_server", "serve", "--store", url,
         "--listen", "127.0.0.1:0", "--user", "x:secret-pw"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "user add --store URL NAME" in result.stderr
    assert "secret-pw" not in result.stderr
