"""Tests of the ``imap-server`` command, `imap_server.stores` and the demo's sample mail.

The end-to-end tests run ``python -m imap_server`` in a child process on port 0
(`imap_server.testing.process.ServerProcess`), read the bound port from the ``listening on``
line it prints to stderr, and talk to it with the stdlib ``imaplib`` (a client that is not
ours). Every child is stopped on the way out, pass or fail.
Argument and startup errors run `imap_server.cli.main` in this process, which is quicker.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.header
import email.message
import email.policy
import imaplib
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from imap_server import cli, demo, stores
from imap_server.memory import MemoryStore
from imap_server.store import Backend
from imap_server.testing.process import ServerProcess

START_TIMEOUT = 15.0  # seconds for a child to accept connections
STOP_TIMEOUT = 5.0  # seconds for a child to exit after SIGINT / SIGTERM


# -- a server in a child process ----------------------------------------------------------------


def running(log_dir: Path, *args: str) -> ServerProcess:
    """``python -m imap_server ARGS``, its output in files in ``log_dir`` (a context manager)."""
    return ServerProcess(
        *args, log_dir=log_dir, start_timeout=START_TIMEOUT, stop_timeout=STOP_TIMEOUT
    )


def stdout_lines(server: ServerProcess) -> list[str]:
    return server.stdout_text().splitlines()


def assert_clean_exit(server: ServerProcess, signum: signal.Signals) -> None:
    started = time.monotonic()
    code = server.stop(signum)  # fails if the child still runs STOP_TIMEOUT s later
    seconds = time.monotonic() - started
    output = server.log_tail(None)
    assert code == 0, output
    assert seconds < STOP_TIMEOUT
    assert "Traceback" not in output
    assert f"received {signum.name}, shutting down" in output


def ipv6_loopback() -> bool:
    """Whether ``::1`` can be bound here (containers often lack IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- fixtures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this (self-signed) certificate and nothing else."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return Certificate(cert, key)


@pytest.fixture
def quiet_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep `cli.main` from configuring the root logger of the test process."""
    monkeypatch.setattr(cli, "_configure_logging", lambda level: None)


class FastMemoryStore(MemoryStore):
    # Password hashing at full cost takes tens of milliseconds a user; tests need no security.
    scrypt_n = 2**4


def run_async(fn: Callable[..., Any], *args: object) -> Any:
    return anyio.run(fn, *args, backend="asyncio")


# -- end to end: demo ---------------------------------------------------------------------------


def _inbox_samples() -> list[demo.SampleMessage]:
    return [m for m in demo.sample_messages() if m.mailbox == "INBOX"]


def _message_id(raw: bytes) -> str:
    return str(email.message_from_bytes(raw)["Message-ID"])


def test_demo_serves_the_sample_mail_to_imaplib(tmp_path: Path) -> None:
    with running(tmp_path, "demo", "--listen", "127.0.0.1:0") as server:
        [(host, port, kind)] = server.listening()
        assert (host, kind) == ("127.0.0.1", "plain")
        server.wait_for(lambda: "Stop the server" in server.stdout_text(), "instructions")
        instructions = "\n".join(stdout_lines(server))
        assert f"port:      {port}" in instructions
        assert "username:  demo" in instructions and "password:  demo" in instructions

        samples = _inbox_samples()
        with imaplib.IMAP4("127.0.0.1", port) as client:
            assert client.login("demo", "demo")[0] == "OK"
            status, data = client.select("INBOX")
            assert status == "OK" and data == [str(len(samples)).encode()]

            status, fetched = client.fetch("1:*", "(FLAGS BODY.PEEK[])")
            assert status == "OK"
            bodies = [item[1] for item in fetched if isinstance(item, tuple)]
            assert [_message_id(b) for b in bodies] == [_message_id(m.body) for m in samples]
            # Octet for octet what was stored, CRLFs included (the dates differ by the
            # seconds between populate() and sample_messages() here, the rest must not).
            assert [len(b) for b in bodies] == [len(m.body) for m in samples]

            def search(*criteria: str) -> list[int]:
                status, data = client.search(None, *criteria)
                assert status == "OK"
                return [int(n) for n in data[0].split()]

            unseen = [i for i, m in enumerate(samples, 1) if "\\Seen" not in m.flags]
            flagged = [i for i, m in enumerate(samples, 1) if "\\Flagged" in m.flags]
            assert search("UNSEEN") == unseen and len(unseen) >= 2
            assert search("FLAGGED") == flagged and len(flagged) >= 2
            assert search("SUBJECT", "lunch") == [2, 3]
            assert search("FROM", "alice") == [2]
            assert search("HEADER", "In-Reply-To", "lunch") == [3]

            status, listed = client.list()
            assert status == "OK"
            text = b"\n".join(line for line in listed if isinstance(line, bytes))
            for name, special_use in demo.FOLDERS:
                [use] = special_use
                assert re.search(
                    rb"\(.*" + re.escape(use.encode()) + rb".*\) .* " + name.encode(), text
                )
            assert client.select("Sent")[1] == [b"1"]

        # The Python one-liner the demo prints works as printed.
        [line] = [s.strip() for s in stdout_lines(server) if s.strip().startswith("python -c")]
        command = [sys.executable, *shlex.split(line)[1:]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
        assert result.returncode == 0, result.stderr
        assert "Subject: Welcome to the imap-server demo" in result.stdout

        assert_clean_exit(server, signal.SIGTERM)


# -- end to end: serve --------------------------------------------------------------------------


def test_serve_users_and_sigterm(tmp_path: Path) -> None:
    listen = ["--listen", "127.0.0.1:0"]
    if ipv6_loopback():
        listen += ["--listen", "[::1]:0"]
    users = ["--user", "alice:secret", "--user", "bob:pa:ss"]
    with running(tmp_path, "serve", *listen, *users, "--log-level", "debug") as server:
        found = server.listening(len(listen) // 2)
        assert all(kind == "plain" for _, _, kind in found)
        for host, port, _ in found:
            with imaplib.IMAP4(host.strip("[]"), port) as client:
                assert client.login("alice", "secret")[0] == "OK"
                message = b"From: alice@example.com\r\nSubject: hello\r\n\r\nHi!\r\n"
                assert client.append("INBOX", r"(\Seen)", None, message)[0] == "OK"
                client.select("INBOX")
                status, data = client.fetch("1", "(FLAGS BODY.PEEK[])")
                assert status == "OK"
                assert isinstance(data[0], tuple) and data[0][1] == message
        port = found[0][1]
        with imaplib.IMAP4("127.0.0.1", port) as client:
            assert client.login("bob", "pa:ss")[0] == "OK"  # colons in the password
        with imaplib.IMAP4("127.0.0.1", port) as client, pytest.raises(imaplib.IMAP4.error):
            client.login("alice", "wrong")
        assert_clean_exit(server, signal.SIGTERM)
    assert "added user alice" in server.log_tail(None)


def test_sigint_with_a_client_connected(tmp_path: Path) -> None:
    with running(tmp_path, "serve", "--listen", "127.0.0.1:0", "--user", "u:p") as server:
        [(_, port, _)] = server.listening()
        client = imaplib.IMAP4("127.0.0.1", port)
        try:
            client.login("u", "p")
            client.select("INBOX")
            # The server must not wait for this client to leave.
            assert_clean_exit(server, signal.SIGINT)
        finally:
            client.shutdown()


def test_implicit_tls_and_starttls(tmp_path: Path, certificate: Certificate) -> None:
    with running(
        tmp_path,
        "serve",
        "--listen", "127.0.0.1:0",
        "--tls-listen", "127.0.0.1:0",
        "--cert", str(certificate.cert),
        "--key", str(certificate.key),
        "--user", "u:p",
        "--plaintext-auth", "never",
    ) as server:  # fmt: skip
        [(_, plain, plain_kind), (_, tls, tls_kind)] = server.listening(2)
        assert (plain_kind, tls_kind) == ("plain, STARTTLS", "TLS")
        context = certificate.client_context()

        with imaplib.IMAP4_SSL("127.0.0.1", tls, ssl_context=context) as client:
            assert client.login("u", "p")[0] == "OK"
            assert client.select("INBOX")[0] == "OK"
            assert isinstance(client.sock, ssl.SSLSocket)
            assert client.sock.version() in ("TLSv1.2", "TLSv1.3")

        with imaplib.IMAP4("127.0.0.1", plain) as client:
            assert "STARTTLS" in client.capabilities
            assert "LOGINDISABLED" in client.capabilities
            with pytest.raises(imaplib.IMAP4.error):
                client.login("u", "p")
            assert client.starttls(ssl_context=context)[0] == "OK"
            assert "LOGINDISABLED" not in client.capabilities
            assert client.login("u", "p")[0] == "OK"

        # A client that does not trust the certificate is refused by its own TLS check.
        with pytest.raises(ssl.SSLCertVerificationError):
            imaplib.IMAP4_SSL("127.0.0.1", tls, ssl_context=ssl.create_default_context())
        assert_clean_exit(server, signal.SIGTERM)


def test_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with running(tmp_path, "serve", "--listen", f"127.0.0.1:{port}") as server:
            code = server.proc.wait(START_TIMEOUT)
            server.close()
    assert code == 2, server.log_tail(None)
    error = f"imap-server: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert server.log_text().splitlines()[-1] == error
    assert "Traceback" not in server.log_tail(None)


# -- argument and startup errors (in process) ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: COMMAND"),
        (["bogus"], "invalid choice"),
        (["serve", "--listen", "nonsense"], "expected HOST:PORT"),
        (["serve", "--listen", "::1:143"], "IPv6 address in brackets"),
        (["serve", "--listen", "[::1]143"], "expected [IPV6]:PORT"),
        (["serve", "--listen", "127.0.0.1:70000"], "from 0 to 65535"),
        (["serve", "--user", "nopassword"], "expected NAME:PASSWORD"),
        (["serve", "--user", ":x"], "expected NAME:PASSWORD"),
        (["serve", "--log-level", "loud"], "invalid log level"),
        (["serve", "--plaintext-auth", "sometimes"], "invalid choice"),
        (["serve", "--tls-listen", "127.0.0.1:993"], "--tls-listen needs --cert"),
        (["serve", "--key", "k.pem"], "--key needs --cert"),
        (["demo", "--listen", "x"], "expected HOST:PORT"),
    ],
)
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "usage: imap-server" in err


@pytest.mark.usefixtures("quiet_logging")
def test_startup_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        (["--cert", str(tmp_path / "missing.pem")], "cannot read TLS certificate"),
        (["--cert", str(garbage)], "not a PEM certificate and key"),
        (["--store", "nosuch://db"], "no installed store handles nosuch:// URLs (installed: "),
        (["--store", "mail"], "the store URL has no scheme"),
        (["--store", "memory://extra"], "not a memory store URL"),
        (["--user", "a:1", "--user", "a:2"], "--user a: user 'a' already exists"),
    ]
    for args, message in cases:
        assert cli.main(["serve", "--listen", "127.0.0.1:0", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("imap-server: error: ") and message in err, (args, err)
        assert err.count("\n") == 1, err


@pytest.mark.usefixtures("quiet_logging")
def test_store_passwords_are_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--store", "nosuch://mail:s3cret@db/mail"]) == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err and "nosuch://mail:***@db/mail" in err


@pytest.mark.usefixtures("quiet_logging")
def test_encrypted_key_is_refused_without_a_prompt(
    tmp_path: Path, certificate: Certificate, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "encrypted.pem"
    subprocess.run(
        ["openssl", "pkey", "-in", str(certificate.key), "-aes256", "-passout", "pass:x",
         "-out", str(key)],
        check=True, capture_output=True,
    )  # fmt: skip
    argv = ["serve", "--cert", str(certificate.cert), "--key", str(key)]
    assert cli.main(argv) == 2
    assert "is encrypted" in capsys.readouterr().err


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("imap-server ")
    assert cli.main(["serve", "--help"]) == 0
    assert "--tls-listen" in capsys.readouterr().out


def test_python_dash_m_runs_main() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "imap_server", "serve", "--listen", "bad"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "expected HOST:PORT" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:1143", cli.Address("127.0.0.1", 1143)),
        ("localhost:0", cli.Address("localhost", 0)),
        ("0.0.0.0:993", cli.Address("0.0.0.0", 993)),
        ("[::1]:143", cli.Address("::1", 143)),
        ("[::]:143", cli.Address("::", 143)),
        ("[fe80::1%eth0]:143", cli.Address("fe80::1%eth0", 143)),
    ],
)
def test_parse_address(text: str, expected: cli.Address) -> None:
    assert cli.parse_address(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    "text", ["", "host", ":143", "host:", "host:x", "[::1]", "[nope]:1", "h:-1"]
)
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        cli.parse_address(text)


def test_parse_user() -> None:
    assert cli.parse_user("alice:se:cret") == ("alice", "se:cret")
    assert cli.parse_user("alice:") == ("alice", "")
    with pytest.raises(ValueError):
        cli.parse_user("alice")


def test_demo_instructions_connect_to_loopback_for_wildcards() -> None:
    assert "server:    127.0.0.1" in cli.demo_instructions("0.0.0.0", 1143)
    assert "imaplib.IMAP4('::1', 1143)" in cli.demo_instructions("::", 1143)


# -- stores ---------------------------------------------------------------------------------------


@dataclass
class FakeEntryPoint:
    name: str
    target: object
    value: str = "tests:factory"

    def load(self) -> object:
        return self.target


def _with_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: FakeEntryPoint) -> None:
    monkeypatch.setattr(stores, "_entry_points", lambda: list(eps))


def test_open_store_memory() -> None:
    assert "memory" in stores.available_stores()
    store = run_async(stores.open_store, "memory://")
    assert isinstance(store, MemoryStore)


def test_open_store_sync_and_async_factories(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    def sync_factory(url: str) -> Backend:
        made.append(url)
        return MemoryStore()

    async def async_factory(url: str) -> Backend:
        await anyio.sleep(0)
        made.append(url)
        return MemoryStore()

    _with_entry_points(
        monkeypatch, FakeEntryPoint("sync", sync_factory), FakeEntryPoint("Async", async_factory)
    )
    assert isinstance(run_async(stores.open_store, "sync://a"), MemoryStore)
    assert isinstance(run_async(stores.open_store, "ASYNC://b/c?x=1"), MemoryStore)
    assert made == ["sync://a", "ASYNC://b/c?x=1"]


def test_open_store_unknown_scheme_lists_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_entry_points(
        monkeypatch, FakeEntryPoint("s3", MemoryStore), FakeEntryPoint("memory", MemoryStore)
    )
    with pytest.raises(stores.UnknownStoreError) as info:
        run_async(stores.open_store, "postgresql://db/mail")
    assert isinstance(info.value, ValueError)
    assert info.value.scheme == "postgresql"
    assert info.value.available == ["memory", "s3"]
    assert "(installed: memory, s3)" in str(info.value)
    with pytest.raises(stores.UnknownStoreError, match="no scheme"):
        run_async(stores.open_store, "/var/mail")


def test_open_store_refuses_what_is_not_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_entry_points(monkeypatch, FakeEntryPoint("odd", lambda url: object()))
    with pytest.raises(TypeError, match=r"not an imap_server\.store\.Backend"):
        run_async(stores.open_store, "odd://")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("memory://", "memory://"),
        ("postgresql://mail:s3cret@db:5432/mail", "postgresql://mail:***@db:5432/mail"),
        ("postgresql://mail@db/mail", "postgresql://mail@db/mail"),
        ("s3://key:se@cret@bucket/prefix", "s3://key:***@bucket/prefix"),
        ("postgresql://u:p@db:notaport/x", "postgresql://u:***@db:notaport/x"),
        ("s3://u:p@[::1/x", "<invalid URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert stores.redact_url(url) == shown


# -- the demo's sample mail -----------------------------------------------------------------------


def _parsed(sample: demo.SampleMessage) -> email.message.EmailMessage:
    message = email.message_from_bytes(sample.body, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def _decoded(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def test_sample_messages_are_well_formed() -> None:
    now = dt.datetime(2025, 5, 17, 12, 0, tzinfo=dt.UTC)
    samples = demo.sample_messages(now)
    assert 5 <= len([m for m in samples if m.mailbox == "INBOX"]) <= 8
    ids = set()
    for sample in samples:
        body = sample.body
        assert body.isascii()
        assert b"\n" not in body.replace(b"\r\n", b""), "bare LF"
        assert b"\r" not in body.replace(b"\r\n", b""), "bare CR"
        assert max(len(line) for line in body.split(b"\r\n")) <= 998
        message = _parsed(sample)
        for header in ("Date", "From", "To", "Subject", "Message-ID"):
            assert message[header], (header, message["Subject"])
        ids.add(message["Message-ID"])
        assert message["Date"].datetime <= sample.internal_date <= now
        assert not message.defects, (message["Subject"], message.defects)
    assert len(ids) == len(samples)

    by_id = {_parsed(s)["Message-ID"]: s for s in samples}
    types = {_parsed(s).get_content_type() for s in samples}
    assert {"text/plain", "multipart/alternative", "multipart/mixed"} <= types

    report = _parsed(by_id["<report.q3.carol@example.com>"])
    attachments = {part.get_filename(): part for part in report.iter_attachments()}
    png = attachments["revenue.png"].get_content()
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert attachments["figures.csv"].get_content().startswith("quarter,")

    reply = _parsed(by_id["<9f3c2a17.bob@example.net>"])
    assert reply["In-Reply-To"] == "<lunch.20.alice@example.com>"
    assert str(reply["References"]).split() == ["<lunch.20.alice@example.com>"]

    subjects = {_decoded(str(_parsed(s)["Subject"])) for s in samples}
    assert {"Grüße aus München", "会議の議事録"} <= subjects
    german = _parsed(by_id["<c0ffee.42.juergen@example.de>"])
    assert "Weißwürste" in german.get_content()
    assert _decoded(german["From"]).startswith("Jürgen Müller")
    japanese = _parsed(by_id["<minutes.7.hanako@example.jp>"])
    assert "議事録" in japanese.get_content()
    payload = japanese.get_payload()
    assert isinstance(payload, str) and base64.b64decode(payload, validate=False)


def test_populate_fills_folders_with_special_use() -> None:
    async def scenario() -> None:
        store = FastMemoryStore()
        store.add_user("demo", "demo")
        await demo.populate(store)
        user = await store.open_user("demo")
        listed = {info.name: info for info in await user.list_mailboxes()}
        for name, special_use in demo.FOLDERS:
            assert listed[name].attributes >= special_use
        assert await user.subscriptions() >= {"INBOX", "Sent", "Drafts", "Archive", "Trash"}
        counts = {name: (await (await user.get_mailbox(name)).status()).messages for name in listed}
        expected: dict[str, int] = dict.fromkeys(listed, 0)
        for sample in demo.sample_messages():
            expected[sample.mailbox] += 1
        assert counts == expected
        inbox = await user.get_mailbox("INBOX")
        status = await inbox.status()
        assert status.unseen == sum(
            "\\Seen" not in m.flags for m in demo.sample_messages() if m.mailbox == "INBOX"
        )

    run_async(scenario)
