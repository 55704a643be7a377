"""Tests of ``imap-server serve``'s limit, timeout, middleware and TLS options.

Most check `imap_server.cli.server_options` (the `Server` keyword arguments built from the
parsed options, without starting anything); the end-to-end ones run ``python -m imap_server
serve`` in a child process on port 0 and check what a client sees.
"""

from __future__ import annotations

import contextlib
import imaplib
import inspect
import io
import re
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from imap_server import cli
from imap_server.auth import DEFAULT_MECHANISMS
from imap_server.memory import MemoryStore
from imap_server.middleware import (
    AuthThrottle,
    CommandLog,
    CommandTimeout,
    RateLimit,
    Recovery,
)
from imap_server.server import Server
from imap_server.testing.process import ServerProcess
from imap_wire import DEFAULT_SERVER_LIMITS

START_TIMEOUT = 15.0


def options(*argv: str) -> cli.ServerOptions:
    return cli.server_options(cli.build_parser().parse_args(["serve", *argv]))


def _default(function: object, name: str) -> object:
    assert callable(function)
    return inspect.signature(function).parameters[name].default


# -- --help -------------------------------------------------------------------------------------


def _help_entries(text: str) -> dict[str, str]:
    """Each option's help entry (its first line starts with two spaces and the option), with
    whitespace normalised."""
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = re.match(r"^  (--[\w-]+)", line)
        if match:
            current = entries.setdefault(match[1], [])
        elif not line.startswith("   "):
            current = None
        if current is not None:
            current.append(line)
    return {flag: " ".join(" ".join(lines).split()) for flag, lines in entries.items()}


HELP_DEFAULTS = [
    ("--max-line-length", "default: 65536"),
    ("--max-literal-size", "default: 67108864"),
    ("--max-literal-memory", "default: 536870912"),
    ("--max-nesting", "default: 64"),
    ("--unauthenticated-timeout", "default: 60"),
    ("--autologout", "default: 1800"),
    ("--idle-timeout", "default: 1800"),
    ("--write-timeout", "default: 60"),
    ("--tls-handshake-timeout", "default: 30"),
    ("--command-timeout", "default: 300"),
    ("--rate-limit", "default: 500"),
    ("--rate-limit-per-address", "default: 2000"),
    ("--auth-delay", "default: 0.5"),
    ("--auth-max-delay", "default: 8"),
    ("--auth-window", "default: 900"),
    ("--auth-lockout-address", "default: 100"),
    ("--auth-lockout-user", "default: 20"),
    ("--no-auth-throttle", "default: AuthThrottle on"),
    ("--no-command-log", "default: CommandLog on"),
    ("--tls-min-version", "default: 1.2"),
    ("--sasl", f"default: all but ANONYMOUS: {', '.join(DEFAULT_MECHANISMS)}"),
    ("--max-connections", "default: 1000"),
    ("--max-connections-per-address", "default: 50"),
    ("--max-bad-commands", "default: 10"),
]


@pytest.fixture(scope="module")
def help_entries() -> dict[str, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["serve", "--help"]) == 0
    return _help_entries(out.getvalue())


@pytest.mark.parametrize(("flag", "default"), HELP_DEFAULTS)
def test_help_gives_each_default(help_entries: dict[str, str], flag: str, default: str) -> None:
    assert flag in help_entries
    entry = help_entries[flag]
    assert re.search(rf"(\(|; ){re.escape(default)}[),]", entry), entry


def test_help_explains_zero_and_the_rfc(help_entries: dict[str, str]) -> None:
    assert "0: wait forever" in help_entries["--write-timeout"]
    for flag in ("--command-timeout",):
        assert "0: off" in help_entries[flag]
    for flag in ("--rate-limit", "--rate-limit-per-address"):
        assert "0: no limit" in help_entries[flag]
    for flag in ("--auth-lockout-address", "--auth-lockout-user"):
        assert "0: never" in help_entries[flag]
    assert "RFC 9051" in help_entries["--autologout"]
    assert "30 minutes" in help_entries["--autologout"]
    assert "warning" in help_entries["--autologout"]
    assert "even from loopback" in help_entries["--plaintext-auth"]
    assert "imap_server.commands" in help_entries["--no-command-log"]
    assert "ANONYMOUS" in help_entries["--sasl"]


def test_main_help_lists_the_new_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for flag, _ in HELP_DEFAULTS:
        assert flag in out


# -- the options -> Server configuration ------------------------------------------------------


def test_defaults_match_the_library() -> None:
    built = options()
    assert built["limits"] == DEFAULT_SERVER_LIMITS
    for name in (
        "autologout",
        "unauthenticated_timeout",
        "idle_timeout",
        "tls_handshake_timeout",
        "write_timeout",
        "max_connections",
        "max_connections_per_address",
        "max_bad_commands",
        "max_literal_memory",
        "spool_directory",
        "plaintext_auth",
    ):
        assert built[name] == _default(Server, name), name
    assert list(built["sasl"].specs) == list(DEFAULT_MECHANISMS)
    pipeline = built["middleware"]
    assert [type(m) for m in pipeline] == [
        CommandLog,
        Recovery,
        RateLimit,
        AuthThrottle,
        CommandTimeout,
    ]
    _, _, rate, throttle, timeout = pipeline
    assert isinstance(rate, RateLimit)
    assert rate.per_connection == _default(RateLimit, "per_connection") == 500
    assert rate.per_address == _default(RateLimit, "per_address") == 2000
    assert isinstance(throttle, AuthThrottle)
    for attribute, parameter in (
        ("base_delay", "base_delay"),
        ("max_delay", "max_delay"),
        ("window", "window"),
        ("address_lockout_after", "address_lockout_after"),
        ("user_lockout_after", "user_lockout_after"),
    ):
        assert getattr(throttle, attribute) == _default(AuthThrottle, parameter), attribute
    assert isinstance(timeout, CommandTimeout)
    assert timeout.seconds == _default(CommandTimeout, "seconds") == 300


def test_limits_and_timeouts() -> None:
    built = options(
        "--max-line-length", "1000",
        "--max-literal-size", "2048",
        "--max-nesting", "5",
        "--unauthenticated-timeout", "7",
        "--autologout", "3600",
        "--idle-timeout", "120.5",
        "--write-timeout", "9",
        "--tls-handshake-timeout", "4",
    )  # fmt: skip
    limits = built["limits"]
    assert (limits.max_line_length, limits.max_literal_size, limits.max_depth) == (1000, 2048, 5)
    # The others keep their defaults.
    assert limits.max_items == DEFAULT_SERVER_LIMITS.max_items
    assert limits.max_inline_literals == DEFAULT_SERVER_LIMITS.max_inline_literals
    assert built["unauthenticated_timeout"] == 7
    assert built["autologout"] == 3600
    assert built["idle_timeout"] == 120.5
    assert built["write_timeout"] == 9
    assert built["tls_handshake_timeout"] == 4

    server = Server(MemoryStore(), **built)
    assert server.limits is limits
    assert (server.autologout, server.idle_timeout, server.write_timeout) == (3600, 120.5, 9)
    assert (server.unauthenticated_timeout, server.tls_handshake_timeout) == (7, 4)


def test_write_timeout_zero_waits_forever() -> None:
    built = options("--write-timeout", "0")
    assert built["write_timeout"] is None
    assert Server(MemoryStore(), **built).write_timeout is None


def test_middleware_settings() -> None:
    built = options(
        "--command-timeout", "12",
        "--rate-limit", "3",
        "--rate-limit-per-address", "7.5",
        "--auth-delay", "0.25",
        "--auth-max-delay", "4",
        "--auth-window", "60",
        "--auth-lockout-address", "9",
        "--auth-lockout-user", "3",
    )  # fmt: skip
    _, _, rate, throttle, timeout = built["middleware"]
    assert isinstance(rate, RateLimit)
    assert (rate.per_connection, rate.per_address) == (3, 7.5)
    assert isinstance(throttle, AuthThrottle)
    assert (throttle.base_delay, throttle.max_delay, throttle.window) == (0.25, 4, 60)
    assert (throttle.address_lockout_after, throttle.user_lockout_after) == (9, 3)
    assert isinstance(timeout, CommandTimeout)
    assert timeout.seconds == 12
    server = Server(MemoryStore(), **built)
    assert list(server.middleware) == built["middleware"]


def test_zero_turns_middleware_off() -> None:
    types = [type(m) for m in options("--command-timeout", "0")["middleware"]]
    assert types == [CommandLog, Recovery, RateLimit, AuthThrottle]

    [rate] = [m for m in options("--rate-limit", "0")["middleware"] if isinstance(m, RateLimit)]
    assert (rate.per_connection, rate.per_address) == (None, 2000)
    [rate] = [
        m
        for m in options("--rate-limit-per-address", "0")["middleware"]
        if isinstance(m, RateLimit)
    ]
    assert (rate.per_connection, rate.per_address) == (500, None)
    both = options("--rate-limit", "0", "--rate-limit-per-address", "0")["middleware"]
    assert not any(isinstance(m, RateLimit) for m in both)

    built = options("--auth-lockout-address", "0", "--auth-lockout-user", "0")
    [throttle] = [m for m in built["middleware"] if isinstance(m, AuthThrottle)]
    assert (throttle.address_lockout_after, throttle.user_lockout_after) == (None, None)

    built = options("--auth-delay", "0", "--auth-max-delay", "0")
    [throttle] = [m for m in built["middleware"] if isinstance(m, AuthThrottle)]
    assert (throttle.base_delay, throttle.max_delay) == (0, 0)


def test_no_auth_throttle_and_no_command_log() -> None:
    types = [type(m) for m in options("--no-auth-throttle")["middleware"]]
    assert types == [CommandLog, Recovery, RateLimit, CommandTimeout]
    types = [type(m) for m in options("--no-command-log")["middleware"]]
    assert types == [Recovery, RateLimit, AuthThrottle, CommandTimeout]
    everything_off = options(
        "--no-command-log", "--no-auth-throttle", "--command-timeout", "0",
        "--rate-limit", "0", "--rate-limit-per-address", "0",
    )["middleware"]  # fmt: skip
    assert [type(m) for m in everything_off] == [Recovery]


def test_limits_that_existed_before() -> None:
    built = options(
        "--max-connections", "0", "--max-connections-per-address", "3", "--max-bad-commands", "0"
    )
    assert (built["max_connections"], built["max_connections_per_address"]) == (None, 3)
    assert built["max_bad_commands"] is None


def test_sasl_mechanisms() -> None:
    built = options("--sasl", "plain, Anonymous,PLAIN")
    assert list(built["sasl"].specs) == ["PLAIN", "ANONYMOUS"]
    assert list(options("--sasl", "SCRAM-SHA-256")["sasl"].specs) == ["SCRAM-SHA-256"]


def test_plaintext_auth_choice() -> None:
    assert options("--plaintext-auth", "never")["plaintext_auth"] == "never"
    assert options()["plaintext_auth"] == "loopback"


# -- bad values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-line-length", "-5"], "invalid number '-5' (1 or more)"),
        (["--max-line-length", "0"], "invalid number '0' (1 or more)"),
        (["--max-line-length", "1.5"], "invalid number '1.5'"),
        (["--max-literal-size", "lots"], "invalid number 'lots'"),
        (["--max-nesting", "-1"], "invalid number '-1'"),
        (["--unauthenticated-timeout", "-1"], "invalid number of seconds '-1' (more than 0)"),
        (["--unauthenticated-timeout", "0"], "invalid number of seconds '0'"),
        (["--autologout", "-60"], "invalid number of seconds '-60'"),
        (["--autologout", "inf"], "invalid number of seconds 'inf'"),
        (["--idle-timeout", "nan"], "invalid number of seconds 'nan'"),
        (["--write-timeout", "-1"], "invalid number of seconds '-1' (0 or more; 0: off)"),
        (["--tls-handshake-timeout", "0"], "invalid number of seconds '0'"),
        (["--command-timeout", "-3"], "invalid number of seconds '-3' (0 or more; 0: off)"),
        (["--rate-limit", "-1"], "invalid rate '-1' (0 or more; 0: no limit)"),
        (["--rate-limit-per-address", "fast"], "invalid rate 'fast'"),
        (["--auth-delay", "-0.5"], "invalid number of seconds '-0.5'"),
        (["--auth-max-delay", "-8"], "invalid number of seconds '-8'"),
        (["--auth-window", "0"], "invalid number of seconds '0' (more than 0)"),
        (["--auth-lockout-address", "-1"], "invalid count '-1'"),
        (["--auth-lockout-user", "x"], "invalid count 'x'"),
        (["--auth-delay", "10", "--auth-max-delay", "5"], "--auth-max-delay must not be less"),
        (["--tls-min-version", "1.1"], "invalid TLS version '1.1' (choose from 1.2, 1.3)"),
        (["--tls-min-version", "1.3"], "--tls-min-version needs --cert"),
        (["--sasl", "PLAIN,BOGUS"], "unknown SASL mechanism(s): BOGUS (known: "),
        (["--sasl", "PLAIN,,LOGIN"], "expected comma-separated SASL mechanism names"),
        (["--sasl", ""], "expected comma-separated SASL mechanism names"),
    ],
)
def test_bad_values(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "usage: imap-server serve" in err
    assert "Traceback" not in err


def test_bad_values_through_parse_args() -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["serve", "--rate-limit", "-2"])
    assert exit_info.value.code == 2


# -- TLS context ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
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


def test_tls_min_version_sets_the_context(certificate: Certificate) -> None:
    parser = cli.build_parser()
    files = ["--cert", str(certificate.cert), "--key", str(certificate.key)]
    default = cli.tls_context(parser.parse_args(["serve", *files]))
    assert default is not None and default.minimum_version is ssl.TLSVersion.TLSv1_2
    args = parser.parse_args(["serve", *files, "--tls-min-version", "1.3"])
    strict = cli.tls_context(args)
    assert strict is not None and strict.minimum_version is ssl.TLSVersion.TLSv1_3
    assert cli.tls_context(parser.parse_args(["serve"])) is None


# -- end to end ---------------------------------------------------------------------------------


def serving(log_dir: Path, *args: str) -> ServerProcess:
    """``python -m imap_server serve ARGS``, its output in files in ``log_dir`` (a context
    manager)."""
    return ServerProcess("serve", *args, log_dir=log_dir, start_timeout=START_TIMEOUT)


class Raw:
    """A line-at-a-time IMAP client on a socket (to see the exact responses)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file: IO[bytes] = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self) -> bytes:
        return self.file.readline()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def tagged(self, tag: bytes) -> bytes:
        """Read up to and including the tagged response of ``tag``."""
        while True:
            line = self.line()
            if not line:
                pytest.fail(f"connection closed before {tag!r}")
            if line.startswith(tag + b" "):
                return line

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_limits_and_plaintext_in_a_real_process(tmp_path: Path) -> None:
    with serving(
        tmp_path,
        "--listen", "127.0.0.1:0",
        "--user", "u:p",
        "--max-line-length", "1000",
        "--plaintext-auth", "never",
        "--autologout", "60",
    ) as child:  # fmt: skip
        port = child.port_of("plain")

        client = Raw(port)
        try:
            # A 2000-octet line: answered BAD and skipped; the connection goes on.
            client.send(b"a1 NOOP " + b"x" * 1992 + b"\r\n")
            assert client.tagged(b"a1") == b"a1 BAD line longer than 1000 octets\r\n"
            client.send(b"a2 NOOP\r\n")
            assert client.tagged(b"a2").startswith(b"a2 OK")
            # A 999-octet line is parsed (and refused for its argument, not its length).
            client.send(b"a3 NOOP " + b"x" * 989 + b"\r\n")
            reply = client.tagged(b"a3")
            assert reply.startswith(b"a3 BAD") and b"longer than" not in reply, reply

            # --plaintext-auth never: no LOGIN over loopback without TLS.
            assert b"LOGINDISABLED" in client.greeting
            client.send(b"a4 LOGIN u p\r\n")
            assert client.tagged(b"a4").startswith(b"a4 NO [PRIVACYREQUIRED]")
        finally:
            client.close()

        assert child.stop(timeout=10) == 0
    err = child.log_text()
    assert "--autologout 60 is below the 30 minutes" in err
    # CommandLog is on by default, at INFO.
    assert re.search(r"INFO imap_server\.commands: 127\.0\.0\.1 - a2 NOOP OK", err), err
    assert "Traceback" not in err


def test_rate_limit_in_a_real_process(tmp_path: Path) -> None:
    with serving(tmp_path, "--listen", "127.0.0.1:0", "--rate-limit", "0.1") as child:
        # --rate-limit 0.1: one command saved up, the next would wait 10 s, more than the
        # 2 s RateLimit waits: refused.
        client = Raw(child.port_of("plain"))
        try:
            client.send(b"r1 NOOP\r\nr2 NOOP\r\n")
            assert client.tagged(b"r1").startswith(b"r1 OK")
            assert client.tagged(b"r2") == b"r2 NO [LIMIT] Too many commands; slow down\r\n"
        finally:
            client.close()
        assert child.stop(timeout=10) == 0


def test_default_rate_allows_a_burst(tmp_path: Path) -> None:
    with serving(tmp_path, "--listen", "127.0.0.1:0", "--no-command-log") as child:
        client = Raw(child.port_of("plain"))
        try:
            # A burst well within the default rates: every command runs.
            client.send(b"".join(b"r%d NOOP\r\n" % i for i in range(20)))
            for i in range(20):
                assert client.tagged(b"r%d" % i).startswith(b"r%d OK" % i)
        finally:
            client.close()
        assert child.stop(timeout=10) == 0
    err = child.log_text()
    assert "imap_server.commands" not in err
    assert "autologout" not in err


def test_tls_min_version_refuses_older_clients(tmp_path: Path, certificate: Certificate) -> None:
    with serving(
        tmp_path,
        "--listen", "127.0.0.1:0",
        "--tls-listen", "127.0.0.1:0",
        "--cert", str(certificate.cert),
        "--key", str(certificate.key),
        "--tls-min-version", "1.3",
        "--user", "u:p",
    ) as child:  # fmt: skip
        port = child.port_of("TLS")
        old = certificate.client_context()
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(ssl.SSLError):
            imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=old, timeout=10)

        with imaplib.IMAP4_SSL(
            "127.0.0.1", port, ssl_context=certificate.client_context(), timeout=10
        ) as client:
            assert isinstance(client.sock, ssl.SSLSocket)
            assert client.sock.version() == "TLSv1.3"
            assert client.login("u", "p")[0] == "OK"
        assert child.stop(timeout=10) == 0
    assert "Traceback" not in child.log_text()
