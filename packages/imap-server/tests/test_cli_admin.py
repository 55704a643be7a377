"""Tests of the administration commands: ``imap-server db upgrade|version`` and
``imap-server user add|passwd|del|list``.

They run `imap_server.cli.main` in this process over `FakeStore`, a small persistent store
(its state is a JSON file named by the URL, ``fake:///path/state.json``) implementing
`Backend`, `AccountAdmin` and `SchemaAdmin`, registered for the ``fake`` scheme by substituting
`imap_server.stores._entry_points`. Passwords come from a replaced ``sys.stdin`` (the pipe
path) or a replaced `getpass.getpass` with ``sys.stdin.isatty`` answering True (the prompt
path).
"""

from __future__ import annotations

import getpass
import io
import json
import signal
import sys
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imap_server import cli, stores
from imap_server.accounts import (
    AccountAdmin,
    AccountExists,
    GarbageCollector,
    GarbageReport,
    NoSuchAccount,
    PasswordHash,
    SchemaAdmin,
)
from imap_server.store import Backend, StoreError, StoreUnavailable, User

#: The schema version `FakeStore` needs to start.
LATEST = 2
#: What the fake stores did, in order ("open", "start", "aclose", "upgrade"), across runs.
EVENTS: list[str] = []
PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "Tr0ub4dor&3"


# -- a persistent fake store -----------------------------------------------------------------------


class FakeStore(Backend, AccountAdmin, SchemaAdmin, GarbageCollector):
    """Accounts and a schema version in a JSON file, so that they outlive one command."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        EVENTS.append("open")

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": 0, "accounts": {}}
        state: dict[str, Any] = json.loads(self.path.read_text())
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(state))

    def accounts(self) -> dict[str, str]:
        accounts: dict[str, str] = self.load()["accounts"]
        return accounts

    async def open_user(self, username: str) -> User:
        raise StoreError("these tests serve nothing")

    async def start(self) -> None:
        EVENTS.append("start")
        version = self.load()["version"]
        if version < LATEST:
            raise StoreUnavailable(
                f"the database is at schema version {version}, this store needs {LATEST}: "
                "run 'imap-server db upgrade'"
            )

    async def aclose(self) -> None:
        EVENTS.append("aclose")

    async def schema_version(self) -> int:
        version: int = self.load()["version"]
        return version

    async def upgrade(self) -> Sequence[int]:
        EVENTS.append("upgrade")
        state = self.load()
        applied = list(range(state["version"] + 1, LATEST + 1))
        state["version"] = LATEST
        self.save(state)
        return applied

    async def create_account(self, name: str, password: str) -> None:
        if not name:
            raise ValueError("the user name is empty")
        state = self.load()
        if name in state["accounts"]:
            raise AccountExists(name)
        state["accounts"][name] = PasswordHash.create(password, n=2**4).encode()
        self.save(state)

    async def change_password(self, name: str, password: str) -> None:
        state = self.load()
        if name not in state["accounts"]:
            raise NoSuchAccount(name)
        state["accounts"][name] = PasswordHash.create(password, n=2**4).encode()
        self.save(state)

    async def delete_account(self, name: str) -> None:
        state = self.load()
        if state["accounts"].pop(name, None) is None:
            raise NoSuchAccount(name)
        self.save(state)

    async def account_names(self) -> Sequence[str]:
        return sorted(self.load()["accounts"])

    async def collect_garbage(
        self, *, older_than: float = 3600.0, dry_run: bool = False
    ) -> GarbageReport:
        """Orphans in the state file, each ``[age in seconds, size]``."""
        state = self.load()
        orphans: list[list[int]] = state.get("orphans", [])
        old = [o for o in orphans if o[0] >= older_than]
        if not dry_run:
            state["orphans"] = [o for o in orphans if o[0] < older_than]
            self.save(state)
        return GarbageReport(
            examined=len(orphans) + 3,
            removed=len(old),
            removed_bytes=sum(o[1] for o in old),
            too_young=len(orphans) - len(old),
        )


def state_path(url: str) -> Path:
    return Path(urllib.parse.urlsplit(url).path)


def open_fake_store(url: str) -> FakeStore:
    return FakeStore(state_path(url))


class BareStore(Backend):
    """A store with neither accounts nor a schema to administer."""

    async def open_user(self, username: str) -> User:
        raise StoreError("these tests serve nothing")


@dataclass
class FakeEntryPoint:
    name: str
    target: object
    value: str = "tests:factory"

    def load(self) -> object:
        return self.target


@pytest.fixture(autouse=True)
def fake_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fake://`` and ``bare://`` next to the installed stores (memory://)."""
    installed = list(stores._entry_points())
    fakes = [FakeEntryPoint("fake", open_fake_store), FakeEntryPoint("bare", lambda u: BareStore())]

    def entry_points() -> Iterable[Any]:
        return [*fakes, *installed]

    monkeypatch.setattr(stores, "_entry_points", entry_points)
    # Keep main from configuring the root logger of the test process.
    monkeypatch.setattr(cli, "_configure_logging", lambda level: None)
    monkeypatch.setenv("COLUMNS", "1000")  # help on one line a paragraph, to search it
    EVENTS.clear()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"fake://{tmp_path / 'state.json'}"


@pytest.fixture
def current(url: str) -> str:
    """A fake store at the latest schema version, with no accounts."""
    write_state(url, LATEST, {})
    return url


def state_of(url: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(state_path(url).read_text())
    return state


def write_state(url: str, version: int, accounts: dict[str, str]) -> None:
    state_path(url).write_text(json.dumps({"version": version, "accounts": accounts}))


def password_of(url: str, name: str) -> PasswordHash:
    return PasswordHash.decode(state_of(url)["accounts"][name])


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: str = "",
) -> Result:
    """``imap-server ARGV`` with ``stdin`` on a pipe (not a terminal)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    for secret in (PASSWORD, OTHER_PASSWORD):
        assert secret not in captured.out and secret not in captured.err
    assert "Traceback" not in captured.err
    return Result(code, captured.out, captured.err)


class Terminal:
    """A terminal on stdin: `getpass.getpass` answers from a list and records its prompts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        stdin = io.StringIO("never read\n")
        monkeypatch.setattr(stdin, "isatty", lambda: True)
        monkeypatch.setattr(sys, "stdin", stdin)
        monkeypatch.setattr(getpass, "getpass", self.getpass)

    def getpass(self, prompt: str = "Password: ", stream: object = None) -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)


def run_in_terminal(capsys: pytest.CaptureFixture[str], terminal: Terminal, *argv: str) -> Result:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    for secret in (PASSWORD, OTHER_PASSWORD):
        assert secret not in captured.out and secret not in captured.err
    assert "Traceback" not in captured.err
    assert sys.stdin.read() == "never read\n"  # the prompt path reads no line of stdin
    return Result(code, captured.out, captured.err)


# -- db --------------------------------------------------------------------------------------------


def test_db_upgrade_creates_then_finds_nothing_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    assert run(capsys, monkeypatch, "db", "version", "--store", url).out == "0\n"
    result = run(capsys, monkeypatch, "db", "upgrade", "--store", url)
    assert result.code == 0
    assert result.out == "database upgraded to schema version 2 (applied: 1, 2)\n"
    assert result.err == ""
    result = run(capsys, monkeypatch, "db", "upgrade", "--store", url)
    assert (result.code, result.out) == (0, "database already at schema version 2\n")
    assert run(capsys, monkeypatch, "db", "version", "--store", url).out == "2\n"
    # Never started (a store refuses to start on an old schema), always closed.
    assert EVENTS == ["open", "aclose"] + ["open", "upgrade", "aclose"] * 2 + ["open", "aclose"]


def test_db_upgrade_of_an_older_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    write_state(url, 1, {"alice": "kept"})
    result = run(capsys, monkeypatch, "db", "upgrade", "--store", url, "--log-level", "debug")
    assert (result.code, result.out) == (0, "database upgraded to schema version 2 (applied: 2)\n")
    assert state_of(url) == {"version": 2, "accounts": {"alice": "kept"}}


@pytest.mark.parametrize("command", ["upgrade", "version"])
def test_db_refuses_a_store_without_a_schema(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    result = run(capsys, monkeypatch, "db", command, "--store", "memory://")
    assert result.code == 2
    assert result.err == "imap-server: error: the store at memory:// has no schema to upgrade\n"
    result = run(capsys, monkeypatch, "db", command, "--store", "bare://admin:s3cret@db/mail")
    assert result.code == 2
    assert "the store at bare://admin:***@db/mail has no schema" in result.err
    assert "s3cret" not in result.err


# -- user, password on stdin -----------------------------------------------------------------------


def test_user_add_list_passwd_del(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    result = run(capsys, monkeypatch, "user", "add", "--store", current, "bob", stdin=PASSWORD)
    assert (result.code, result.out, result.err) == (0, "added user bob\n", "")
    result = run(
        capsys, monkeypatch, "user", "add", "--store", current, "alice", stdin=PASSWORD + "\n"
    )
    assert (result.code, result.out) == (0, "added user alice\n")
    assert password_of(current, "alice").verify(PASSWORD)
    assert password_of(current, "bob").verify(PASSWORD)

    result = run(capsys, monkeypatch, "user", "list", "--store", current)
    assert (result.code, result.out) == (0, "alice\nbob\n")

    result = run(
        capsys,
        monkeypatch,
        *("user", "passwd", "--store", current, "alice"),
        stdin=OTHER_PASSWORD + "\nmore lines are not read\n",
    )
    assert (result.code, result.out) == (0, "changed the password of user alice\n")
    assert password_of(current, "alice").verify(OTHER_PASSWORD)
    assert not password_of(current, "alice").verify(PASSWORD)

    result = run(capsys, monkeypatch, "user", "del", "--store", current, "alice")
    assert result.code == 0
    assert result.out == "deleted user alice with all its mailboxes and messages\n"
    assert run(capsys, monkeypatch, "user", "list", "--store", current).out == "bob\n"
    # Each command started the store and closed it.
    assert EVENTS == ["open", "start", "aclose"] * 6


def test_user_list_of_no_accounts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    result = run(capsys, monkeypatch, "user", "list", "--log-level", "DEBUG", "--store", current)
    assert (result.code, result.out, result.err) == (0, "", "")


def test_password_keeps_all_but_the_newline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    spaced = "  " + PASSWORD + " \t"
    result = run(capsys, monkeypatch, "user", "add", "--store", current, "c", stdin=spaced + "\n")
    assert result.code == 0
    assert password_of(current, "c").verify(spaced)
    assert not password_of(current, "c").verify(PASSWORD)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "no password on stdin"),
        ("\n", "empty password refused"),
        ("\nsecond line\n", "empty password refused"),
    ],
)
@pytest.mark.parametrize("command", ["add", "passwd"])
def test_missing_or_empty_password_on_stdin(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    current: str,
    command: str,
    stdin: str,
    message: str,
) -> None:
    write_state(current, LATEST, {"bob": "unchanged"})
    result = run(capsys, monkeypatch, "user", command, "--store", current, "bob", stdin=stdin)
    assert result.code == 2
    assert result.err.startswith("imap-server: error: " + message)
    assert result.out == ""
    assert state_of(current)["accounts"] == {"bob": "unchanged"}
    assert "start" not in EVENTS and EVENTS[-1] == "aclose"


def test_user_add_of_an_existing_account(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    assert run(capsys, monkeypatch, "user", "add", "--store", current, "bob", stdin="x\n").code == 0
    before = state_of(current)
    result = run(capsys, monkeypatch, "user", "add", "--store", current, "bob", stdin=PASSWORD)
    assert (result.code, result.out) == (1, "")
    assert result.err == "imap-server: error: user bob exists already\n"
    assert state_of(current) == before


@pytest.mark.parametrize("command", ["passwd", "del"])
def test_user_commands_on_a_missing_account(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    current: str,
    command: str,
) -> None:
    result = run(capsys, monkeypatch, "user", command, "--store", current, "ghost", stdin=PASSWORD)
    assert (result.code, result.out) == (1, "")
    assert result.err == "imap-server: error: no such user: ghost\n"
    assert EVENTS == ["open", "start", "aclose"]


def test_user_add_with_an_invalid_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    result = run(capsys, monkeypatch, "user", "add", "--store", current, "", stdin=PASSWORD)
    assert result.code == 2
    assert result.err == "imap-server: error: user add: the user name is empty\n"


@pytest.mark.parametrize(
    "argv",
    [
        ("user", "list"),
        ("user", "add", "bob"),
        ("user", "del", "bob"),
    ],
)
def test_user_commands_on_an_old_schema(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    argv: tuple[str, ...],
) -> None:
    write_state(url, 1, {"bob": "unchanged"})
    result = run(capsys, monkeypatch, *argv, "--store", url, stdin=PASSWORD)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "imap-server: error: store: the database is at schema version 1, this store needs 2: "
        "run 'imap-server db upgrade'\n"
    )
    assert state_of(url)["accounts"] == {"bob": "unchanged"}
    assert EVENTS[-2:] == ["start", "aclose"]


@pytest.mark.parametrize(
    "argv",
    [
        ("user", "list"),
        ("user", "add", "bob"),
        ("user", "passwd", "bob"),
        ("user", "del", "bob"),
    ],
)
def test_user_commands_refuse_the_memory_store(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
) -> None:
    # Made before stdin is read: a person at a terminal is not asked for a password first.
    terminal = Terminal(monkeypatch)
    result = run_in_terminal(capsys, terminal, *argv, "--store", "memory://")
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(
        "imap-server: error: the store at memory:// keeps nothing between runs"
    )
    assert "--user" in result.err
    assert terminal.prompts == []


def test_user_commands_refuse_a_store_without_accounts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(capsys, monkeypatch, "user", "list", "--store", "bare://admin:s3cret@db/mail")
    assert result.code == 2
    assert result.err == (
        "imap-server: error: the store at bare://admin:***@db/mail cannot manage accounts "
        "(it does not implement imap_server.accounts.AccountAdmin; use the store's own tools)\n"
    )


@pytest.mark.parametrize("argv", [("db", "upgrade"), ("user", "list"), ("user", "add", "bob")])
def test_unknown_store_scheme(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    result = run(capsys, monkeypatch, *argv, "--store", "nope://u:s3cret@host/x", stdin=PASSWORD)
    assert result.code == 2
    assert result.err.startswith(
        "imap-server: error: --store nope://u:***@host/x: no installed store handles nope:// URLs "
        "(installed: "
    )
    assert "fake" in result.err and "memory" in result.err
    assert "s3cret" not in result.err


def test_a_password_argument_is_refused_without_echoing_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    argv = ("user", "add", "--store", current, "bob", PASSWORD)
    result = run(capsys, monkeypatch, *argv, stdin=OTHER_PASSWORD)
    assert (result.code, result.out) == (2, "")
    assert result.err.endswith(
        "imap-server user add: error: too many arguments (the password is never taken from "
        "the command line: it is asked for on a terminal, or read from stdin)\n"
    )
    assert state_of(current)["accounts"] == {}
    assert EVENTS == []


@pytest.mark.parametrize(
    "argv",
    [
        ("user", "list"),  # no --store
        ("user", "add", "--store", "memory://"),  # no NAME
        ("user", "list", "--store", "memory://", "extra"),
        ("user", "passwd", "--store", "memory://", "bob", PASSWORD),  # no password arguments
        ("user",),
        ("user", "rename", "--store", "memory://"),
        ("db",),
        ("db", "upgrade"),
        ("user", "list", "--store", "memory://", "--log-level", "LOUD"),
    ],
)
def test_usage_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    result = run(capsys, monkeypatch, *argv)
    assert result.code == 2
    assert "usage: imap-server" in result.err


def test_a_store_error_while_working_is_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    current: str,
) -> None:
    async def unavailable(self: FakeStore, name: str, password: str) -> None:
        raise StoreUnavailable("connection to the database lost")

    monkeypatch.setattr(FakeStore, "create_account", unavailable)
    result = run(capsys, monkeypatch, "user", "add", "--store", current, "bob", stdin=PASSWORD)
    assert (result.code, result.out) == (2, "")
    assert result.err == "imap-server: error: store: connection to the database lost\n"
    assert EVENTS == ["open", "start", "aclose"]


@pytest.mark.parametrize("argv", [("db", "upgrade"), ("user", "list")])
def test_an_unexpected_store_failure_is_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    current: str,
    argv: tuple[str, ...],
) -> None:
    async def broken(self: FakeStore) -> Sequence[int]:
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(FakeStore, "upgrade", broken)
    monkeypatch.setattr(FakeStore, "account_names", broken)
    result = run(capsys, monkeypatch, *argv, "--store", current)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "imap-server: error: unexpected RuntimeError: driver exploded "
        "(--log-level DEBUG shows the traceback)\n"
    )
    assert EVENTS[-1] == "aclose"


# -- user, password at a prompt --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["add", "passwd"])
def test_password_prompt(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    current: str,
    command: str,
) -> None:
    if command == "passwd":
        write_state(current, LATEST, {"bob": "old"})
    terminal = Terminal(monkeypatch, PASSWORD, PASSWORD)
    result = run_in_terminal(capsys, terminal, "user", command, "--store", current, "bob")
    assert result.code == 0
    assert terminal.prompts == ["Password: ", "Again: "]
    assert password_of(current, "bob").verify(PASSWORD)


@pytest.mark.parametrize("command", ["add", "passwd"])
def test_password_prompt_refuses_a_mismatch(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    current: str,
    command: str,
) -> None:
    write_state(current, LATEST, {"bob": "old"})
    terminal = Terminal(monkeypatch, PASSWORD, OTHER_PASSWORD)
    result = run_in_terminal(capsys, terminal, "user", command, "--store", current, "carol")
    assert (result.code, result.out) == (2, "")
    assert result.err == "imap-server: error: the passwords do not match\n"
    assert terminal.prompts == ["Password: ", "Again: "]
    assert state_of(current)["accounts"] == {"bob": "old"}
    assert "start" not in EVENTS and EVENTS[-1] == "aclose"


def test_password_prompt_refuses_an_empty_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    terminal = Terminal(monkeypatch, "", "")
    result = run_in_terminal(capsys, terminal, "user", "add", "--store", current, "bob")
    assert (result.code, result.out) == (2, "")
    assert result.err == "imap-server: error: empty password refused\n"
    assert terminal.prompts == ["Password: "]  # not asked again
    assert state_of(current)["accounts"] == {}


def test_ctrl_d_at_the_prompt(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    def end_of_file(prompt: str = "Password: ", stream: object = None) -> str:
        raise EOFError

    Terminal(monkeypatch)
    monkeypatch.setattr(getpass, "getpass", end_of_file)
    assert cli.main(["user", "add", "--store", current, "bob"]) == 2
    assert capsys.readouterr().err == "imap-server: error: no password given\n"
    assert state_of(current)["accounts"] == {}


def test_ctrl_c_at_the_prompt(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    handlers: list[object] = []

    def interrupted(prompt: str = "Password: ", stream: object = None) -> str:
        # Ctrl-C must raise here, not wait for the event loop (which would wait for Enter).
        handlers.append(signal.getsignal(signal.SIGINT))
        raise KeyboardInterrupt

    Terminal(monkeypatch)
    monkeypatch.setattr(getpass, "getpass", interrupted)
    before = signal.getsignal(signal.SIGINT)
    assert cli.main(["user", "add", "--store", current, "bob"]) == 130
    assert handlers == [signal.default_int_handler]
    assert signal.getsignal(signal.SIGINT) is before
    assert state_of(current)["accounts"] == {}
    assert EVENTS == ["open", "aclose"]
    assert capsys.readouterr().err == "\n"


def test_read_password_without_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(cli.CliError, match="no stdin"):
        cli.read_password()


# -- help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["add", "passwd"])
def test_help_says_where_the_password_comes_from(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    result = run(capsys, monkeypatch, "user", command, "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "never taken from the command line" in text
    assert "when stdin is a terminal it is asked for twice" in text
    assert "otherwise the first line of stdin is the password" in text
    assert f"imap-server user {command} --store URL NAME" in text


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--help",), "add, remove and list the accounts of a persistent store"),
        (("db", "--help"), "Run 'imap-server db upgrade' on a new database"),
        (("db", "upgrade", "--help"), "apply the migrations an existing one lacks"),
        (("db", "version", "--help"), "Print the schema version the database is at"),
        (("user", "--help"), "never taken from the command line"),
        (("user", "del", "--help"), "without asking for confirmation"),
        (("user", "list", "--help"), "Print every account's name, one a line, sorted"),
    ],
)
def test_help(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    says: str,
) -> None:
    result = run(capsys, monkeypatch, *argv)
    assert result.code == 0
    assert says in " ".join(result.out.split())


# -- gc -------------------------------------------------------------------------------------------


def test_gc_removes_old_orphans_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    state = state_of(current)
    state["orphans"] = [[7200, 10], [4000, 5], [60, 1]]
    state_path(current).write_text(json.dumps(state))
    result = run(capsys, monkeypatch, "gc", "--store", current, "--dry-run")
    assert (result.code, result.out) == (
        0,
        "examined 6 bodies: would remove 2 orphaned (15 octets); kept 1 orphaned ones younger "
        "than 3600 s\n",
    )
    assert len(state_of(current)["orphans"]) == 3
    result = run(capsys, monkeypatch, "gc", "--store", current, "--older-than", "0")
    assert result.code == 0
    assert "removed 3 orphaned (16 octets)" in result.out
    assert state_of(current)["orphans"] == []
    assert EVENTS[-3:] == ["open", "start", "aclose"]


def test_gc_refuses_a_store_without_orphans(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(capsys, monkeypatch, "gc", "--store", "memory://")
    assert result.code == 2
    assert "leaves no orphaned bodies to collect" in result.err
    assert "Traceback" not in result.err


def test_gc_refuses_a_negative_age(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    result = run(capsys, monkeypatch, "gc", "--store", current, "--older-than", "-1")
    assert result.code == 2
