"""mbsync (isync) syncing a Maildir with the ``imap-server`` command, both ways.

The scenario: the server has mail in INBOX and in a folder with a subfolder; a first sync
brings it into an empty Maildir with its flags; changes made in the Maildir (a new message, a
message marked seen, one flagged, one deleted) reach the server; changes made on the server
(flags set and cleared, a message deleted, one added) reach the Maildir; and a last sync finds
nothing to do: it sends no command that changes anything, and no file changes.

mbsync runs with ``-Dn`` (print the IMAP conversation), so the tests see which commands it
sent. Debian's ``isync`` package provides it (``scripts/test`` installs it when run as root).
"""

from __future__ import annotations

import imaplib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from interop.conftest import CliServer

USER = "alice"
PASSWORD = "interop secret: with a colon"
TIMEOUT = 10.0  # socket timeout of the imaplib checks
SYNC_TIMEOUT = 60.0  # for one mbsync run

# Commands that change nothing on the server.
READ_ONLY_COMMANDS = frozenset(
    {"CAPABILITY", "LOGIN", "NAMESPACE", "LIST", "LSUB", "SELECT", "EXAMINE", "UID FETCH",
     "UID SEARCH", "STATUS", "CLOSE", "NOOP", "LOGOUT", "CHECK"}
)  # fmt: skip


@pytest.fixture(scope="module")
def mbsync() -> tuple[str, tuple[int, ...]]:
    """The mbsync executable and its version."""
    path = shutil.which("mbsync")
    if path is None:
        pytest.fail("mbsync is not installed: apt-get install isync (scripts/test does, as root)")
    out = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=SYNC_TIMEOUT, check=True
    ).stdout
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    assert found, f"cannot read the version of mbsync from {out!r}"
    return path, tuple(int(part) for part in found.groups(default="0"))


@dataclass
class Sync:
    """An mbsync configuration in a temporary folder, and how to run it."""

    exe: str
    config: Path
    inbox: Path  # the Maildir of INBOX
    root: Path  # the Maildirs of the other folders

    def run(self) -> list[str]:
        """Sync everything; return the IMAP commands mbsync sent (without tags)."""
        result = subprocess.run(
            [self.exe, "-c", str(self.config), "-a", "-Dn"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
            timeout=SYNC_TIMEOUT, cwd=self.config.parent,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"mbsync exited with {result.returncode}:\n{output}"
        assert "Error" not in output, output
        return [
            m[1] for m in re.finditer(r"^>>> \d+ ((?:UID )?[A-Z]+)", output, flags=re.MULTILINE)
        ]

    def folder(self, name: str) -> Path:
        return self.inbox if name == "INBOX" else self.root / name

    def messages(self) -> dict[str, dict[str, str]]:
        """Each folder's messages: subject -> Maildir flags (``"FS"``)."""
        folders: dict[str, dict[str, str]] = {}
        for path in sorted(self._message_files()):
            maildir = path.parent.parent
            name = "INBOX" if maildir == self.inbox else maildir.relative_to(self.root).as_posix()
            subject = subject_of(path.read_bytes())
            assert subject not in folders.setdefault(name, {}), f"{subject} twice in {name}"
            folders[name][subject] = path.name.partition(":2,")[2]
        return folders

    def files(self) -> dict[str, bytes]:
        """Every file of the Maildirs (messages and mbsync's state), by path."""
        return {
            str(path): path.read_bytes()
            for top in (self.inbox, self.root)
            for path in top.rglob("*")
            if path.is_file()
        }

    def _message_files(self) -> Iterator[Path]:
        for top in (self.inbox, self.root):
            for sub in ("cur", "new"):
                yield from (p for p in top.rglob(f"{sub}/*") if p.parent.name == sub)

    def find(self, folder: str, subject: str) -> Path:
        for sub in ("cur", "new"):
            for path in (self.folder(folder) / sub).iterdir():
                if subject_of(path.read_bytes()) == subject:
                    return path
        raise AssertionError(f"no message {subject!r} in the Maildir {folder}")

    def set_flags(self, folder: str, subject: str, flags: str) -> None:
        """Give a Maildir message these flags, as a mail reader does (rename into cur/)."""
        path = self.find(folder, subject)
        base = path.name.partition(":2,")[0]
        path.rename(path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(flags))}")

    def deliver(self, folder: str, data: bytes) -> None:
        """Put a new message into a Maildir (tmp/, then new/, as Maildir wants)."""
        name = f"{time.time_ns()}.P{os.getpid()}.interop"
        tmp = self.folder(folder) / "tmp" / name
        tmp.write_bytes(data)
        tmp.rename(self.folder(folder) / "new" / name)


def subject_of(data: bytes) -> str:
    return str(BytesHeaderParser().parsebytes(data)["Subject"])


def message(subject: str) -> bytes:
    return f"From: ann@example.com\r\nSubject: {subject}\r\n\r\n{subject}\r\n".encode()


def configure(
    folder: Path,
    mbsync: tuple[str, tuple[int, ...]],
    cli_server: CliServer,
    *,
    auth_mechs: str = "LOGIN",
    patterns: str = "*",
) -> Sync:
    """Write an mbsync configuration that syncs the server with Maildirs in ``folder``."""
    exe, version = mbsync
    # isync 1.5 renamed SSLType to TLSType (and still reads the old name, with a warning).
    tls_type = "TLSType" if version >= (1, 5) else "SSLType"
    inbox, root = folder / "inbox", folder / "mail"
    root.mkdir(parents=True)
    config = folder / "mbsyncrc"
    config.write_text(
        f"""\
IMAPAccount server
Host {cli_server.host}
Port {cli_server.port}
User {USER}
Pass "{PASSWORD}"
{tls_type} None
AuthMechs {auth_mechs}

IMAPStore far
Account server

MaildirStore near
Path {root}/
Inbox {inbox}
SubFolders Verbatim

Channel both
Far :far:
Near :near:
Patterns {patterns}
Create Both
Expunge Both
SyncState *
"""
    )
    config.chmod(0o600)
    return Sync(exe=exe, config=config, inbox=inbox, root=root)


@pytest.fixture
def sync(tmp_path: Path, mbsync: tuple[str, tuple[int, ...]], cli_server: CliServer) -> Sync:
    return configure(tmp_path, mbsync, cli_server)


def server_messages(cli_server: CliServer) -> dict[str, dict[str, set[str]]]:
    """Each folder's messages on the server: subject -> flags (without \\Recent)."""
    folders: dict[str, dict[str, set[str]]] = {}
    with imaplib.IMAP4(cli_server.host, cli_server.port, timeout=TIMEOUT) as m:
        m.login(USER, PASSWORD)
        typ, listed = m.list()
        assert typ == "OK"
        for line in listed:
            assert isinstance(line, bytes)
            name = line.decode().rsplit(" ", 1)[1].strip('"')
            folders[name] = {}
            typ, _ = m.select(name, readonly=True)
            assert typ == "OK"
            typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            assert typ == "OK"
            for item in data:
                if not isinstance(item, tuple):
                    continue
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                assert flags is not None
                folders[name][subject_of(item[1])] = set(flags[1].decode().split()) - {"\\Recent"}
    return folders


def test_mbsync_both_ways(sync: Sync, cli_server: CliServer) -> None:
    # The server's mail, before any sync.
    with imaplib.IMAP4(cli_server.host, cli_server.port, timeout=TIMEOUT) as m:
        m.login(USER, PASSWORD)
        for name in ("Work", "Work/Reports"):
            assert m.create(name)[0] == "OK"
        for subject, flags in (("inbox 0", None), ("inbox 1", r"(\Seen)"),
                               ("inbox 2", r"(\Seen \Flagged)")):  # fmt: skip
            assert m.append("INBOX", flags, None, message(subject))[0] == "OK"
        for subject in ("work 0", "work 1"):
            assert m.append("Work", r"(\Answered)", None, message(subject))[0] == "OK"
        assert m.append("Work/Reports", r"(\Draft)", None, message("report"))[0] == "OK"

    # 1. Into the empty Maildir, with flags.
    commands = sync.run()
    assert "APPEND" not in commands
    assert sync.messages() == {
        "INBOX": {"inbox 0": "", "inbox 1": "S", "inbox 2": "FS"},
        "Work": {"work 0": "R", "work 1": "R"},
        "Work/Reports": {"report": "D"},
    }

    # 2. Changes in the Maildir reach the server.
    sync.deliver("INBOX", message("written locally"))
    sync.set_flags("INBOX", "inbox 0", "S")  # read
    sync.set_flags("INBOX", "inbox 1", "FS")  # flagged
    sync.set_flags("INBOX", "inbox 2", "FST")  # deleted ("trashed")
    sync.deliver("Work/Reports", message("local report"))
    commands = sync.run()
    assert {"APPEND", "UID STORE"} <= set(commands)
    assert server_messages(cli_server) == {
        "INBOX": {"inbox 0": {"\\Seen"}, "inbox 1": {"\\Seen", "\\Flagged"},
                  "written locally": set()},
        "Work": {"work 0": {"\\Answered"}, "work 1": {"\\Answered"}},
        "Work/Reports": {"report": {"\\Draft"}, "local report": set()},
    }  # fmt: skip
    # Expunge Both: the deleted message is gone from the Maildir too.
    assert sync.messages()["INBOX"] == {"inbox 0": "S", "inbox 1": "FS", "written locally": ""}

    # 3. Changes on the server reach the Maildir.
    with imaplib.IMAP4(cli_server.host, cli_server.port, timeout=TIMEOUT) as m:
        m.login(USER, PASSWORD)
        m.select("INBOX")
        uids = subject_uids(m, "inbox 0")
        assert m.uid("STORE", uids, "-FLAGS", r"(\Seen)")[0] == "OK"
        uids = subject_uids(m, "inbox 1")
        assert m.uid("STORE", uids, "+FLAGS", r"(\Answered)")[0] == "OK"
        uids = subject_uids(m, "written locally")
        assert m.uid("STORE", uids, "+FLAGS", r"(\Deleted)")[0] == "OK"
        assert m.expunge()[0] == "OK"
        m.select("Work")
        uids = subject_uids(m, "work 0")
        assert m.uid("STORE", uids, "+FLAGS", r"(\Flagged)")[0] == "OK"
        assert m.append("Work", r"(\Seen)", None, message("from the server"))[0] == "OK"
    sync.run()
    expected = {
        "INBOX": {"inbox 0": "", "inbox 1": "FRS"},
        "Work": {"work 0": "FR", "work 1": "R", "from the server": "S"},
        "Work/Reports": {"report": "D", "local report": ""},
    }
    assert sync.messages() == expected

    # 4. Nothing left to do: no change sent, no file touched, on either side.
    files, on_server = sync.files(), server_messages(cli_server)
    commands = sync.run()
    changing = [c for c in commands if c not in READ_ONLY_COMMANDS]
    assert not changing, f"mbsync sent {changing} on a sync with nothing to do"
    assert sync.files() == files
    assert sync.messages() == expected
    assert server_messages(cli_server) == on_server


def subject_uids(m: imaplib.IMAP4, subject: str) -> str:
    """The UIDs of the messages with this subject in the selected mailbox, as a UID set."""
    typ, data = m.uid("SEARCH", "SUBJECT", f'"{subject}"')
    assert typ == "OK" and data[0], (typ, data)
    uids: bytes = data[0]
    return uids.decode().replace(" ", ",")


MAILDIR_FLAGS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S"}


def test_mbsync_sasl_plain_login(
    tmp_path: Path, mbsync: tuple[str, tuple[int, ...]], cli_server: CliServer
) -> None:
    """AUTHENTICATE PLAIN, with the credentials in the command itself (SASL-IR)."""
    with imaplib.IMAP4(cli_server.host, cli_server.port, timeout=TIMEOUT) as m:
        m.login(USER, PASSWORD)
        assert m.append("INBOX", r"(\Flagged)", None, message("for SASL"))[0] == "OK"
    sync = configure(tmp_path, mbsync, cli_server, auth_mechs="PLAIN", patterns="INBOX")
    commands = sync.run()
    assert commands[0] == "AUTHENTICATE"
    on_server = server_messages(cli_server)["INBOX"]
    assert sync.messages()["INBOX"] == {
        subject: "".join(sorted(MAILDIR_FLAGS[f] for f in flags))
        for subject, flags in on_server.items()
    }
