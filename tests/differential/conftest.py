"""Fixtures for the differential tests: Dovecot, the reference IMAP server, and ours, each with a
fresh account per test.

Dovecot (Debian package ``dovecot-imapd``, 2.3 configuration syntax) runs once per test session
as a foreground process (``dovecot -F -c CONF``) with everything in a temporary folder: its
configuration, ``base_dir``, ``state_dir``, the log, the passwd-file and the Maildirs. It listens
on 127.0.0.1 on a free port, plain text only (``ssl = no``, ``disable_plaintext_auth = no``).
Each test gets an account of its own (the passwd-file lists `MAX_ACCOUNTS` of them), so no test
sees another's mailboxes and the server is started once. Mail is in Maildirs with
``LAYOUT=fs`` (one folder per hierarchy level, like our ``/`` delimiter; Maildir++ would refuse
``.`` in names).

Running as root: Dovecot refuses mail access as UID 0 (the passwd-file userdb rejects UID 0 and
the mail process refuses "userdb returned 0 as uid"), so the accounts' mail processes run as
``nobody`` and their Maildirs live in a folder of their own under the system temporary folder
(pytest's ``/tmp/pytest-of-root`` is mode 0700, which ``nobody`` cannot cross). The login and
internal processes keep the Debian package's ``dovenull`` and ``dovecot`` users. Run as anyone
else, every Dovecot process runs as that user (no chroot: that needs root).

Ours is `imap_server.testing.harness.ThreadedServer` over a `MemoryStore`, one per test.

Both accounts start alike: INBOX, plus ``Sent`` (``\\Sent``) and ``Trash`` (``\\Trash``), both
subscribed. Dovecot's are created over IMAP when the account is handed out, and get their
special-use attributes from the ``inbox`` namespace configuration; ours through the store API.

Test modules cannot import this file at run time (``--import-mode=importlib``): they use the
fixtures, and import the types for annotations only.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from imap_server import MemoryStore
from imap_server.testing.harness import ThreadedServer

PASSWORD = "differential secret"
START_TIMEOUT = 15.0  # seconds for Dovecot to accept connections
STOP_TIMEOUT = 10.0  # seconds for it to exit after SIGTERM
LEAK_TIMEOUT = 5.0  # seconds for a test's threads to end after it
MAX_ACCOUNTS = 500  # Dovecot accounts, one per test

#: The mailboxes every account starts with, besides INBOX, and their special-use attribute.
SPECIAL_MAILBOXES = (("Sent", "\\Sent"), ("Trash", "\\Trash"))

_UNPRIVILEGED_MAIL_USER = "nobody"


@dataclass(frozen=True, slots=True)
class Target:
    """An account on a server to run a scenario against."""

    name: str  # "dovecot" or "ours"
    host: str
    port: int
    user: str
    password: str


# -- Dovecot --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _mail_ids() -> tuple[int, int]:
    """The UID and GID of the accounts' mail processes."""
    if os.geteuid() == 0:
        mail_user = pwd.getpwnam(_UNPRIVILEGED_MAIL_USER)
        return mail_user.pw_uid, mail_user.pw_gid
    return os.getuid(), os.getgid()


def _config(folder: Path, mail_root: Path, port: int, passwd: Path) -> str:
    uid, gid = _mail_ids()
    if os.geteuid() == 0:
        users = ""  # the Debian package's dovecot and dovenull users
        no_chroot = ""
    else:
        me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        users = (
            f"default_internal_user = {me}\ndefault_internal_group = {group}\n"
            f"default_login_user = {me}\n"
        )
        no_chroot = "  chroot =\n"  # imap-login and anvil chroot by default: that needs root
    mailboxes = "".join(
        f"  mailbox {name} {{\n    special_use = {use}\n  }}\n" for name, use in SPECIAL_MAILBOXES
    )
    return f"""\
# Written by tests/differential/conftest.py (Dovecot 2.3 syntax).
protocols = imap
listen = 127.0.0.1
base_dir = {folder / "run"}
state_dir = {folder / "state"}
instance_name = imap-differential-{os.getpid()}
log_path = {folder / "dovecot.log"}
info_log_path = {folder / "dovecot.log"}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests log in with wrong passwords on purpose: no delay, and no per-IP penalty, which would
# slow every later login from 127.0.0.1 by seconds (the penalty is off when its anvil socket
# does not exist: mode 0).
auth_failure_delay = 0
{users}first_valid_uid = {min(uid, 500)}
first_valid_gid = 0
mail_location = maildir:~/Maildir:LAYOUT=fs
mail_fsync = never
# IDLE notices changes through inotify; should that be missing, poll often, not every 30 s.
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd}
  default_fields = uid={uid} gid={gid} home={mail_root}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{no_chroot}}}
service anvil {{
{no_chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}
"""


class Dovecot:
    """A Dovecot master process in the foreground, with its files in `folder`."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        binary = shutil.which("dovecot") or next(
            (p for p in ("/usr/sbin/dovecot", "/sbin/dovecot") if os.access(p, os.X_OK)), None
        )
        if binary is None:
            pytest.fail(
                "Dovecot is not installed: apt-get install dovecot-imapd "
                "(scripts/test does, as root)"
            )
        # Not pytest's tmp_path: as root, the mail processes run as `nobody`, who cannot
        # cross /tmp/pytest-of-root (mode 0700) to the Maildirs and Dovecot's sockets.
        self.folder = Path(tempfile.mkdtemp(prefix="imap-differential-dovecot-"))
        self.folder.chmod(0o755)
        self.log_file = self.folder / "dovecot.log"
        # Every account there will be, written before Dovecot starts: it re-reads a changed
        # passwd-file only when the mtime's second changes, so appending is not reliable.
        self.passwd = self.folder / "passwd"
        self.passwd.write_text(
            "".join(f"user{n}:{{PLAIN}}{PASSWORD}::::::\n" for n in range(1, MAX_ACCOUNTS + 1))
        )
        self.mail_root = self.folder / "mail"
        self.mail_root.mkdir()
        if os.geteuid() == 0:
            os.chown(self.mail_root, *_mail_ids())
        self._users = 0
        self._lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        for attempt in range(3):  # another process may take the free port before Dovecot binds
            self.port = _free_port()
            conf = self.folder / "dovecot.conf"
            conf.write_text(_config(self.folder, self.mail_root, self.port, self.passwd))
            with (self.folder / "stderr.log").open("ab") as stderr:
                self.proc = subprocess.Popen(
                    [binary, "-F", "-c", str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,  # its own process group: stopped as one below
                )
            if self._wait_until_ready():
                return
            self.stop()
            if attempt == 2 or "bind(" not in self.log():
                break
        log = self.log()
        self.remove_files()
        pytest.fail(f"Dovecot did not start:\n{log}")

    def log(self) -> str:
        """Dovecot's log and what it wrote to stderr."""
        text = []
        for path in (self.log_file, self.folder / "stderr.log"):
            with contextlib.suppress(OSError):
                text.append(path.read_text(encoding="utf-8", errors="replace"))
        return "".join(text)

    def _wait_until_ready(self) -> bool:
        """Wait (bounded) for a greeting on the port; False if Dovecot exited or never greeted."""
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=2.0) as sock,
            ):
                sock.settimeout(2.0)
                if sock.recv(1024).startswith(b"* OK"):
                    return True
            time.sleep(0.05)
        return False

    def new_account(self) -> Target:
        """One of the accounts of the passwd-file, not used before."""
        with self._lock:
            self._users += 1
            n = self._users
        if n > MAX_ACCOUNTS:
            pytest.fail(
                f"more than {MAX_ACCOUNTS} tests want a Dovecot account: raise MAX_ACCOUNTS"
            )
        target = Target("dovecot", self.host, self.port, f"user{n}", PASSWORD)
        _prepare_dovecot_account(target)
        return target

    def stop(self) -> None:
        """SIGTERM to the master (it stops its children), then SIGKILL to the group if need be."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(STOP_TIMEOUT)
        # Children that outlived the master (they exit when it does; bounded wait, then kill).
        deadline = time.monotonic() + STOP_TIMEOUT
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None

    def remove_files(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _prepare_dovecot_account(target: Target) -> None:
    """Create and subscribe the special-use mailboxes, as a client would. (Dovecot's
    ``auto = subscribe`` makes them appear without existing on disk until first opened, so a
    RENAME onto one would succeed: not what a store with real mailboxes does.)"""
    commands = [f'LOGIN {target.user} "{target.password}"']
    for name, _ in SPECIAL_MAILBOXES:
        commands += [f"CREATE {name}", f"SUBSCRIBE {name}"]
    commands.append("LOGOUT")
    with socket.create_connection((target.host, target.port), timeout=10.0) as sock:
        sock.settimeout(10.0)
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"* OK"), "no greeting from Dovecot"
        for i, command in enumerate(commands):
            tag = f"p{i}".encode()
            sock.sendall(tag + b" " + command.encode() + b"\r\n")
            while True:
                line = reader.readline()
                assert line, f"Dovecot closed the connection during {command!r}"
                if line.startswith(tag + b" "):
                    assert line.startswith(tag + b" OK"), f"{command!r}: {line!r}"
                    break
        reader.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot for the whole run; each test adds an account of its own."""
    server = Dovecot()
    try:
        yield server
    finally:
        server.stop()
        server.remove_files()


# -- ours -----------------------------------------------------------------------------------------


class FastMemoryStore(MemoryStore):
    """A `MemoryStore` with cheap password hashes."""

    scrypt_n: ClassVar[int] = 2**4


@pytest.fixture
def ours() -> Iterator[tuple[ThreadedServer, MemoryStore]]:
    store = FastMemoryStore()
    server = ThreadedServer(store)
    server.start()
    try:
        yield server, store
    finally:
        server.stop()


def _add_our_account(server: ThreadedServer, store: MemoryStore, user: str) -> Target:
    store.add_user(user, PASSWORD)

    async def setup() -> None:
        account = await store.open_user(user)
        for name, use in SPECIAL_MAILBOXES:
            await account.create_mailbox(name, special_use=frozenset({use}))
            await account.subscribe(name)

    server.call(setup)
    running = server.running
    assert running is not None
    return Target("ours", running.host, running.port, user, PASSWORD)


@pytest.fixture
def targets(
    dovecot: Dovecot, ours: tuple[ThreadedServer, MemoryStore]
) -> Iterator[tuple[Target, Target]]:
    """A fresh account on Dovecot and on ours, alike; Dovecot's log is shown if the test fails."""
    reference = dovecot.new_account()
    ours_target = _add_our_account(*ours, reference.user)
    log_size = len(dovecot.log())
    yield reference, ours_target
    errors = [
        line
        for line in dovecot.log()[log_size:].splitlines()
        if ": Error:" in line or ": Panic:" in line or ": Fatal:" in line
    ]
    assert not errors, "Dovecot logged errors:\n" + "\n".join(errors)


# -- no leaks -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread running (wider-scoped fixtures start before this)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + LEAK_TIMEOUT
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"threads left running: {leaked}"
