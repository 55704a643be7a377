"""A throwaway PostgreSQL server for tests and benchmarks.

`postgres_server` starts one with the binaries on ``PATH`` (``initdb``, ``pg_ctl``) in a
temporary directory, listening on a free loopback port, and removes it afterwards; when
``IMAP_TEST_PG_DSN`` is set, it uses that server instead and starts nothing. `fresh_database`
creates an empty database on it, so that tests do not see each other's data.

    with postgres_server() as dsn:
        url = anyio.run(fresh_database, dsn)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DSN_ENV", "PostgresUnavailable", "fresh_database", "postgres_server"]

#: A server to use instead of starting one (``postgresql://user:pass@host:port/db``); the
#: user must be allowed to create databases.
DSN_ENV = "IMAP_TEST_PG_DSN"
_START_TIMEOUT = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on ``PATH`` and no ``IMAP_TEST_PG_DSN``."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server(*, fsync: bool = False) -> Iterator[str]:
    """Yield the DSN of a PostgreSQL server (superuser ``postgres``, database ``postgres``).

    Args:
        fsync: Keep PostgreSQL's fsync on. Off by default: a test cluster that dies with the
            machine is thrown away anyway, and fsync makes each commit cost a disk flush.
            (The crash tests kill the *IMAP server*, not PostgreSQL, so they need no fsync.)

    Raises:
        PostgresUnavailable: Neither binaries nor ``IMAP_TEST_PG_DSN``.
    """
    given = os.environ.get(DSN_ENV)
    if given:
        yield given
        return
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PostgresUnavailable(f"initdb/pg_ctl not on PATH and {DSN_ENV} not set")
    with tempfile.TemporaryDirectory(prefix="imap-pg-") as tmp:
        data = Path(tmp) / "data"
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        # Running as root: initdb refuses; PostgreSQL must run as another user.
        run_as = _unprivileged_user() if os.geteuid() == 0 else None
        if run_as is not None:
            shutil.chown(tmp, run_as)
        _run(
            [initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--no-sync"],
            run_as, env,
        )  # fmt: skip
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={tmp} "
            f"-c max_connections=200 -c shared_buffers=128MB "
            f"-c fsync={'on' if fsync else 'off'} -c synchronous_commit={'on' if fsync else 'off'} "
            "-c full_page_writes=off"
        )
        log = Path(tmp) / "postgres.log"
        _run(
            [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w",
             "-t", str(_START_TIMEOUT), "start"],
            run_as, env,
        )  # fmt: skip
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], run_as, env)


def _unprivileged_user() -> str:
    """A user PostgreSQL may run as when the tests run as root."""
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            import pwd

            pwd.getpwnam(name)
            return name
    raise PostgresUnavailable("running as root and no 'postgres' or 'nobody' user exists")


def _run(argv: list[str], run_as: str | None, env: dict[str, str]) -> None:
    if run_as is not None:
        argv = ["runuser", "-u", run_as, "--", *argv]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
        )


async def fresh_database(dsn: str) -> str:
    """Create an empty database on the server at ``dsn``; return its DSN."""
    import asyncpg

    name = f"imap_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))
