"""Fixtures shared by the top-level tests: Dovecot and our server, each with a fresh account.

`tls_certificate` (session scope) is the one test certificate of the run (tests/interop uses it
too). `dovecot_server` (session scope) is the one Dovecot of the run, shared by tests/client and
tests/differential (every test takes an account of its own, so sharing is safe). It runs Dovecot
(Debian package ``dovecot-imapd``, 2.3 configuration syntax) as a foreground process (``dovecot
-F -c CONF``), everything in a temporary folder: configuration, ``base_dir``, ``state_dir``,
log, passwd-file, Maildirs and a copy of the certificate. It listens on 127.0.0.1 on two free
ports: plain text with STARTTLS offered, and implicit TLS. Mail is in Maildirs with
``LAYOUT=fs`` (one folder per hierarchy level, like our ``/`` delimiter; Maildir++ would refuse
``.`` in names); failed logins cost no delay nor per-IP penalty; IDLE polls every second should
inotify be missing. Plaintext authentication is allowed; the SASL mechanisms are PLAIN, LOGIN,
CRAM-MD5, SCRAM-SHA-1 and SCRAM-SHA-256 (the passwords are stored in the ``PLAIN`` scheme, from
which Dovecot derives what CRAM-MD5 and SCRAM need). XOAUTH2 and OAUTHBEARER need a token
validation service, so they are not enabled: they are tested against a scripted server.

`imap_server` (function scope, async) runs ours, `imap_server.testing.harness.serve_for_tests`
over a fresh `MemoryStore`, in the test's own event loop: asyncio or trio (our server runs on
anyio, so it is exercised under both). It has the same two listeners.

`target` is parametrized over both (``ours``, ``dovecot``) and gives a `Target`: host, ports,
an account and its password, and a client SSL context trusting the test certificate. Every test
gets an account nobody used before (Dovecot: a new user of the pre-written passwd-file; ours: a
new store), so each starts from the same state: an empty INBOX plus the special-use mailboxes of
`SPECIAL_MAILBOXES`, all subscribed. Dovecot's are created over IMAP when the account is handed
out (`DovecotServer.prepare_account`; each suite names its own), and get their special-use
attributes from the ``inbox`` namespace configuration. (``auto = subscribe`` would make them
appear without existing on disk until first opened, so a RENAME onto one would succeed: not what
a store with real mailboxes does.)

Running as root: Dovecot refuses mail access as UID 0, so the mail processes run as ``nobody``
and the Maildirs live under the system temporary folder (``/tmp/pytest-of-root`` is mode 0700,
which ``nobody`` cannot cross). Run as anyone else, every Dovecot process runs as that user.

Test modules cannot import this file at run time (``--import-mode=importlib``): they use the
fixtures, and import the types for annotations only (``if TYPE_CHECKING``).
"""

from __future__ import annotations

import contextlib
import grp
import itertools
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pytest

from imap_server import MemoryStore
from imap_server.server import Listener
from imap_server.testing.harness import serve_for_tests

if TYPE_CHECKING:
    # Imported when used: a client package that does not import must fail the client tests
    # only, not every test under tests/.
    from imap_client import AsyncClient

#: Every account's password (with a space: quoted on the wire; no colon: passwd-file).
PASSWORD = "client secret 1"
#: Dovecot accounts written to its passwd-file before it starts (one per test, all suites).
MAX_ACCOUNTS = 3000
#: Mailboxes besides INBOX every account starts with, and their special-use attribute (also
#: every special-use mailbox of Dovecot's configuration).
SPECIAL_MAILBOXES = (
    ("Archive", "\\Archive"),
    ("Drafts", "\\Drafts"),
    ("Junk", "\\Junk"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
)
#: SASL mechanisms each server offers (besides LOGIN the command).
DOVECOT_MECHANISMS = frozenset({"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"})
OUR_MECHANISMS = frozenset({"PLAIN"})

START_TIMEOUT = 15.0  # seconds for Dovecot to greet
STOP_TIMEOUT = 10.0  # seconds for it to exit after SIGTERM

Kind = Literal["ours", "dovecot"]


@dataclass(frozen=True, slots=True)
class Target:
    """An account on a server the client tests run against.

    ``port`` is plain text (STARTTLS offered), ``tls_port`` implicit TLS; ``ssl_context``
    trusts the test certificate (for ``localhost`` and ``127.0.0.1``) and checks host names.
    """

    kind: Kind
    host: str
    port: int
    tls_port: int
    user: str
    password: str
    ssl_context: ssl.SSLContext
    mechanisms: frozenset[str]

    def client(self, **options: Any) -> AsyncClient:
        """An `AsyncClient` for the plain port (pass ``tls=True`` for the TLS one)."""
        from imap_client import AsyncClient  # imported here: see the import above

        options.setdefault("tls", False)
        options.setdefault("ssl_context", self.ssl_context)
        options.setdefault("timeout", 20.0)
        options.setdefault("connect_timeout", 10.0)
        port = self.tls_port if options["tls"] else self.port
        return AsyncClient(self.host, port, **options)


# -- TLS ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Certificate:
    """A self-signed certificate for ``localhost`` / ``127.0.0.1`` and its key (PEM files)."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trusts this certificate only, host names checked."""
        context = ssl.create_default_context(cafile=str(self.cert))
        # Python 3.13's strict X.509 checks object to some self-signed certificates; the
        # certificate is pinned as the only trust anchor anyway.
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        return context


def make_certificate(folder: Path) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is not installed (scripts/test installs it with apt-get as root)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return Certificate(cert=cert, key=key)


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """The run's certificate (tests/client, tests/interop and Dovecot use it)."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


# -- Dovecot --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _mail_ids() -> tuple[int, int]:
    """UID and GID of the mail processes (``nobody`` as root: Dovecot refuses UID 0)."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid
    return os.getuid(), os.getgid()


def _dovecot_config(dovecot: DovecotServer, port: int, tls_port: int) -> str:
    folder = dovecot.folder
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
    dh = Path("/usr/share/dovecot/dh.pem")
    ssl_dh = f"ssl_dh = <{dh}\n" if dh.exists() else ""
    mailboxes = "".join(
        f"  mailbox {name} {{\n    special_use = {use}\n  }}\n" for name, use in SPECIAL_MAILBOXES
    )
    mechanisms = " ".join(sorted(m.lower() for m in DOVECOT_MECHANISMS))
    return f"""\
# Written by tests/conftest.py (Dovecot 2.3 syntax) for tests/client and tests/differential.
protocols = imap
listen = 127.0.0.1
base_dir = {folder / "run"}
state_dir = {folder / "state"}
instance_name = imap-tests-{os.getpid()}
log_path = {dovecot.log_file}
info_log_path = {dovecot.log_file}
ssl = yes
ssl_cert = <{dovecot.certificate.cert}
ssl_key = <{dovecot.certificate.key}
{ssl_dh}disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
# Tests fail logins on purpose: no delay (but 0.5 s remains), and no penalty doubling the
# delay of each later failure from 127.0.0.1 (login_trusted_networks does not prevent it; the
# penalty is off when its anvil socket does not exist: mode 0).
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
service anvil {{
{no_chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{users}first_valid_uid = {min(uid, 500)}
first_valid_gid = 0
mail_location = maildir:~/Maildir:LAYOUT=fs
mail_fsync = never
# Pipelining tests put 100 commands in flight at once.
imap_max_line_length = 256k
# IDLE notices changes through inotify; should that be missing, poll often, not every 30 s.
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dovecot.passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {dovecot.passwd}
  default_fields = uid={uid} gid={gid} home={dovecot.mail_root}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
{no_chroot}}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}
"""


class DovecotServer:
    """A Dovecot master process in the foreground, with its files in a folder of its own."""

    host = "127.0.0.1"

    def __init__(self, certificate: Certificate) -> None:
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
        self.folder = Path(tempfile.mkdtemp(prefix="imap-tests-dovecot-"))
        self.folder.chmod(0o755)
        # Dovecot reads the key as root before dropping privileges; a copy of its own keeps
        # the pytest folder (mode 0700) out of it.
        shutil.copy(certificate.cert, self.folder / "cert.pem")
        shutil.copy(certificate.key, self.folder / "key.pem")
        self.certificate = Certificate(self.folder / "cert.pem", self.folder / "key.pem")
        self.log_file = self.folder / "dovecot.log"
        # Every account there will be, written before Dovecot starts (it notices a changed
        # passwd-file only when the mtime's second changes).
        self.passwd = self.folder / "passwd"
        self.passwd.write_text(
            "".join(f"user{n}:{{PLAIN}}{PASSWORD}::::::\n" for n in range(1, MAX_ACCOUNTS + 1))
        )
        self.mail_root = self.folder / "mail"
        self.mail_root.mkdir()
        if os.geteuid() == 0:
            os.chown(self.mail_root, *_mail_ids())
        self.password = PASSWORD
        self._accounts = itertools.count(1)
        self._lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = self.tls_port = 0
        for attempt in range(3):  # another process may take a free port before Dovecot binds
            self.port, self.tls_port = _free_port(), _free_port()
            conf = self.folder / "dovecot.conf"
            conf.write_text(_dovecot_config(self, self.port, self.tls_port))
            with (self.folder / "stderr.log").open("ab") as stderr:
                self.proc = subprocess.Popen(
                    [binary, "-F", "-c", str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,  # its own process group, stopped as one
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

    def new_user(self) -> str:
        """An account of the passwd-file nobody used before."""
        with self._lock:
            n = next(self._accounts)
        if n > MAX_ACCOUNTS:
            pytest.fail(f"more than {MAX_ACCOUNTS} Dovecot accounts wanted: raise MAX_ACCOUNTS")
        return f"user{n}"

    def prepare_account(self, user: str, mailboxes: Iterable[str]) -> None:
        """Create and subscribe `mailboxes` (special-use ones of the configuration) over IMAP,
        as a client would."""
        commands = [f'LOGIN {user} "{self.password}"']
        for name in mailboxes:
            commands += [f"CREATE {name}", f"SUBSCRIBE {name}"]
        commands.append("LOGOUT")
        with socket.create_connection((self.host, self.port), timeout=10.0) as sock:
            sock.settimeout(10.0)
            with sock.makefile("rb") as reader:
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

    def log_size(self) -> int:
        """Where the log ends now, for `errors_since`."""
        return len(self.log())

    def errors_since(self, log_size: int) -> list[str]:
        """The Error, Panic and Fatal lines logged after `log_size`."""
        return [
            line
            for line in self.log()[log_size:].splitlines()
            if any(f": {level}:" in line for level in ("Error", "Panic", "Fatal"))
        ]

    def stop(self) -> None:
        """SIGTERM to the master (it stops its children), then SIGKILL to the group if need be."""
        proc, self.proc = self.proc, None
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
        deadline = time.monotonic() + STOP_TIMEOUT
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def remove_files(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def dovecot_server(tls_certificate: Certificate) -> Iterator[DovecotServer]:
    """One Dovecot for the whole run (tests/client and tests/differential); each test takes
    an account of its own."""
    server = DovecotServer(tls_certificate)
    try:
        yield server
    finally:
        server.stop()
        server.remove_files()


def _dovecot_target(dovecot: DovecotServer, certificate: Certificate) -> Target:
    user = dovecot.new_user()
    dovecot.prepare_account(user, (name for name, _ in SPECIAL_MAILBOXES))
    return Target(
        kind="dovecot",
        host=dovecot.host,
        port=dovecot.port,
        tls_port=dovecot.tls_port,
        user=user,
        password=dovecot.password,
        ssl_context=certificate.client_context(),
        mechanisms=DOVECOT_MECHANISMS,
    )


# -- ours -----------------------------------------------------------------------------------------


class FastMemoryStore(MemoryStore):
    """A `MemoryStore` with cheap password hashes."""

    scrypt_n: ClassVar[int] = 2**4


@contextlib.asynccontextmanager
async def _serve_ours(certificate: Certificate) -> AsyncIterator[Target]:
    user = "alice"
    store = FastMemoryStore()
    store.add_user(user, PASSWORD)
    account = await store.open_user(user)
    for name, use in SPECIAL_MAILBOXES:
        await account.create_mailbox(name, special_use=frozenset({use}))
        await account.subscribe(name)
    server_context = certificate.server_context()
    listeners = (Listener("127.0.0.1", 0), Listener("127.0.0.1", 0, tls=server_context))
    async with serve_for_tests(store, listeners=listeners, tls_context=server_context) as running:
        yield Target(
            kind="ours",
            host=running.host,
            port=running.ports[0],
            tls_port=running.ports[1],
            user=user,
            password=PASSWORD,
            ssl_context=certificate.client_context(),
            mechanisms=OUR_MECHANISMS,
        )


@pytest.fixture
async def imap_server(anyio_backend: str, tls_certificate: Certificate) -> AsyncIterator[Target]:
    """Our server in the test's event loop, with a fresh store and account."""
    async with _serve_ours(tls_certificate) as target:
        yield target


@pytest.fixture
def dovecot_target(dovecot_server: DovecotServer, tls_certificate: Certificate) -> Target:
    """A fresh account on Dovecot."""
    return _dovecot_target(dovecot_server, tls_certificate)


@pytest.fixture(params=["ours", "dovecot"])
async def target(
    request: pytest.FixtureRequest, anyio_backend: str, tls_certificate: Certificate
) -> AsyncIterator[Target]:
    """A fresh account on our server, then on Dovecot (the test runs once for each); a test
    after which Dovecot logged an error fails."""
    if request.param == "dovecot":
        dovecot: DovecotServer = request.getfixturevalue("dovecot_server")
        log_size = dovecot.log_size()
        yield _dovecot_target(dovecot, tls_certificate)
        errors = dovecot.errors_since(log_size)
        assert not errors, "Dovecot logged errors:\n" + "\n".join(errors)
        return
    async with _serve_ours(tls_certificate) as ours:
        yield ours
