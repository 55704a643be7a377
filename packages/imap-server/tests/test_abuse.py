"""Abuse, measured on a whole server process: memory stays bounded, others are still served.

`test_hostile_input.py` and `test_limits.py` check each defence inside the test's event loop.
Here the server runs in a separate process (a script written to ``tmp_path``), so that its
memory can be read from ``/proc/<pid>/status`` while it is abused:

1. 200 connections at once from one address;
2. a client that asks for 20 MB of FETCH output and never reads it;
3. clients that announce a 10 MB literal, send 1 KB of it and stall;
4. the STARTTLS injection sequence (CVE-2011-0411), 100 times;
5. 1,000 failed logins over 20 connections;

and rounds of clients stalled half way through 5 MB literals, whose memory must be released
once they are logged out (a closed connection drops its buffers at once rather than when the
cycle collector gets to it).

Each case takes the server's resident set size (VmRSS) after a warm-up as its baseline,
resets the peak (VmHWM, through ``/proc/<pid>/clear_refs``), samples VmRSS during the abuse,
and asserts that the growth (the larger of the sampled peak and VmHWM, minus the baseline)
stays under `GROWTH_BOUND`. The figures are printed (``pytest -s``) and are in every assert
message. During and after the abuse, a well-behaved client logs in, SELECTs, FETCHes and
LOGOUTs; it connects from 127.0.0.2 (Linux routes all of 127.0.0.0/8 to the loopback
interface), so that the per-address limits and lockouts aimed at 127.0.0.1 do not hit it.

Every wait is bounded; the only waits on time are for the server's own timeouts to fire.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, binds 127.0.0.2"),
]

ABUSER = "127.0.0.1"
#: The well-behaved client's source address: another address on the loopback interface.
GOOD = "127.0.0.2"
#: Bound on any one wait for the server (a working server never comes near it).
TIMEOUT = 20.0
#: Growth of the server's resident memory allowed during one case, in KiB.
GROWTH_BOUND = 30 * 1024

GREETING = re.compile(rb"^\* OK \[CAPABILITY [^]]*\] IMAP server ready$")
TOO_MANY = b"* BYE [UNAVAILABLE] Too many connections"
AUTOLOGOUT = b"* BYE Autologout; idle for too long\r\n"
AUTH_FAILED = b"NO [AUTHENTICATIONFAILED] Authentication failed"
LOCKED_OUT = b"NO [AUTHENTICATIONFAILED] Too many failed logins; try again later"

# The server process. argv[1]: JSON with the `Server` keyword arguments, plus "seed" (messages
# put in INBOX first), "limits" (fields replaced in DEFAULT_SERVER_LIMITS), "throttle"
# (AuthThrottle arguments), "tls" (certificate and key files) and "log_level". It prints the
# port, serves until SIGTERM, then exits with status 0.
SERVER_SCRIPT = r"""
import dataclasses
import json
import logging
import signal
import ssl
import sys

import anyio

from imap_server import Listener, Server
from imap_server.memory import MemoryStore
from imap_server.message import parse_message
from imap_server.middleware import AuthThrottle, Recovery
from imap_wire import DEFAULT_SERVER_LIMITS


class FastStore(MemoryStore):
    scrypt_n = 16


def message(number, size):
    head = b"Subject: message %d\r\nFrom: a@example.org\r\n\r\n" % number
    line = b"x" * 78 + b"\r\n"
    body = head + line * ((size - len(head)) // len(line))
    return body + b"y" * (size - len(body))


async def main(config):
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("imap_server").setLevel(config.pop("log_level", "WARNING"))
    logging.getLogger("imap_server.trace").setLevel(logging.WARNING)
    store = FastStore()
    store.add_user("user", "pass")
    seed = config.pop("seed", None)
    if seed:
        box = await (await store.open_user("user")).get_mailbox("INBOX")
        for i in range(seed["count"]):
            body = message(i + 1, seed["size"])
            await box.append(body, parsed=parse_message(body))
    limits = dataclasses.replace(DEFAULT_SERVER_LIMITS, **config.pop("limits", {}))
    throttle = AuthThrottle(**config.pop("throttle", {}))
    tls = config.pop("tls", None)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        config["tls_context"] = context
    server = Server(store, limits=limits, middleware=[Recovery(), throttle], **config)
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            ports = await tg.start(server.serve, Listener("127.0.0.1", 0))
            print(ports[0], flush=True)
            async for _ in signals:
                tg.cancel_scope.cancel()
                break
    print("server stopped", file=sys.stderr, flush=True)


anyio.run(main, json.loads(sys.argv[1]))
"""


# -- the server process ---------------------------------------------------------------------------


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM, KiB."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out

    def rss(self) -> int:
        return self.status()["VmRSS"]

    def reset_peak(self) -> None:
        """Reset VmHWM to the present VmRSS (Linux 4.0+)."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def sockets(self) -> int:
        """Sockets the server holds open (the listener and one per connection)."""
        count = 0
        folder = f"/proc/{self.proc.pid}/fd"
        for name in os.listdir(folder):
            try:
                if os.readlink(f"{folder}/{name}").startswith("socket:"):
                    count += 1
            except FileNotFoundError:
                pass
        return count

    def wait_sockets(self, count: int, timeout: float = TIMEOUT) -> float:
        """Wait until the server holds ``count`` sockets; return how long it took."""
        start = time.monotonic()
        while (now := self.sockets()) != count:
            assert time.monotonic() - start < timeout, f"server holds {now} sockets, not {count}"
            time.sleep(0.02)
        return time.monotonic() - start

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def server_process(tmp_path: Path, **config: Any) -> Iterator[ServerProcess]:
    """Run the server script with ``config``; stop it with SIGTERM (it must exit 0 and have
    logged no error and no traceback)."""
    script = tmp_path / "abuse_server.py"
    script.write_text(SERVER_SCRIPT)
    log = tmp_path / f"server-{time.monotonic_ns()}.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(script), json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip().isdigit(), f"no port: {line!r}\n{log.read_text()}"
        running = ServerProcess(proc, int(line), log)
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("the server ignored SIGTERM") from None
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
    text = log.read_text(errors="replace")
    assert status == 0, f"server exited with {status}:\n{text}"
    assert "Traceback" not in text and "ERROR" not in text, text
    assert "server stopped" in text, text


# -- memory ---------------------------------------------------------------------------------------


@dataclass
class Memory:
    """The server's memory over one case, KiB."""

    name: str
    server: ServerProcess
    bound: int = GROWTH_BOUND
    baseline: int = 0
    sampled_peak: int = 0
    hwm: int = 0
    after: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.baseline = self.server.rss()
        self.server.reset_peak()
        self.sampled_peak = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self.sampled_peak = max(self.sampled_peak, self.server.rss())
            except (OSError, KeyError):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        status = self.server.status()
        self.hwm, self.after = status["VmHWM"], status["VmRSS"]

    @property
    def growth(self) -> int:
        return max(self.sampled_peak, self.hwm) - self.baseline

    def report(self) -> str:
        def mb(kib: int) -> str:
            return f"{kib / 1024:.1f} MB"

        return (
            f"[{self.name}] baseline RSS {mb(self.baseline)}, peak {mb(self.sampled_peak)}"
            f" sampled / {mb(self.hwm)} VmHWM, after {mb(self.after)},"
            f" growth {mb(self.growth)} (bound {mb(self.bound)})"
        )

    def check(self, extra: str = "") -> None:
        self.stop()
        report = self.report() + (f"; {extra}" if extra else "")
        print("\n" + report)
        assert self.growth < self.bound, report


@contextmanager
def measured(name: str, server: ServerProcess, bound: int = GROWTH_BOUND) -> Iterator[Memory]:
    """Warm up (a well-behaved session), take the baseline, sample during the block."""
    for _ in range(3):
        well_behaved(server)
    time.sleep(0.2)
    memory = Memory(name, server, bound)
    try:
        yield memory
    finally:
        if not memory._stop.is_set():
            memory.stop()


# -- clients --------------------------------------------------------------------------------------


class Client:
    """A blocking raw client: bytes out, lines in."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    @classmethod
    def connect(
        cls, server: ServerProcess, source: str = ABUSER, *, rcvbuf: int | None = None
    ) -> Client:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((source, 0))
            sock.settimeout(TIMEOUT)
            sock.connect(("127.0.0.1", server.port))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        """The next line (without CRLF); fails at the end of the stream."""
        deadline = time.monotonic() + TIMEOUT
        while (end := self.buffer.find(b"\r\n")) < 0:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            assert data, f"connection closed; buffered: {bytes(self.buffer)!r}"
            self.buffer += data
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def until(self, prefix: bytes) -> bytes:
        while not (line := self.line()).startswith(prefix):
            pass
        return line

    def rest(self, timeout: float = TIMEOUT) -> bytes:
        """Everything until the server closes the connection (EOF or reset)."""
        out = bytearray(self.buffer)
        self.buffer.clear()
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                return bytes(out)
            if not data:
                return bytes(out)
            out += data

    def close(self) -> None:
        self.sock.close()


def login(client: Client, tag: bytes = b"l") -> None:
    assert GREETING.match(greeting := client.line()), greeting
    client.send(tag + b" LOGIN user pass\r\n")
    done = client.until(tag + b" ")
    assert done.startswith(tag + b" OK "), done


def well_behaved(server: ServerProcess) -> int:
    """LOGIN, SELECT INBOX, FETCH, LOGOUT from 127.0.0.2; return INBOX's message count."""
    client = Client.connect(server, GOOD)
    try:
        assert client.sock.getsockname()[0] == GOOD
        login(client, b"w1")
        client.send(b"w2 SELECT INBOX\r\n")
        exists = -1
        while not (line := client.line()).startswith(b"w2 "):
            if m := re.fullmatch(rb"\* (\d+) EXISTS", line):
                exists = int(m[1])
        assert line.startswith(b"w2 OK [READ-WRITE]"), line
        assert exists >= 0
        client.send(b"w3 UID FETCH 1:* (UID RFC822.SIZE)\r\n")
        done = client.until(b"w3 ")
        assert done.startswith(b"w3 OK"), done
        if exists:
            client.send(b"w4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
            assert client.line().startswith(b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {")
            done = client.until(b"w4 ")
            assert done.startswith(b"w4 OK"), done
        client.send(b"w5 LOGOUT\r\n")
        rest = client.rest()
        assert rest.startswith(b"* BYE ") and rest.endswith(b"\r\nw5 OK LOGOUT completed\r\n"), rest
        return exists
    finally:
        client.close()


@contextmanager
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    try:
        yield opened
    finally:
        for client in opened:
            client.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic() - start


# -- 1. many connections from one address --------------------------------------------------------


def test_200_connections_from_one_address(tmp_path: Path) -> None:
    with server_process(tmp_path, max_connections_per_address=50) as server:
        idle = server.sockets()
        with measured("200 connections", server) as memory:
            for _ in range(3):
                with clients() as opened:
                    for _ in range(200):
                        opened.append(Client.connect(server))
                    first = [c.line() for c in opened]
                    greeted = [i for i, line in enumerate(first) if GREETING.match(line)]
                    refused = [i for i, line in enumerate(first) if line == TOO_MANY]
                    assert greeted == list(range(50)), first
                    assert refused == list(range(50, 200)), first
                    # Each refused connection is closed right after its BYE.
                    for client in opened[50:]:
                        assert client.rest() == b""
                    # The 50 stay served; another address is not affected.
                    assert server.sockets() == idle + 50
                    assert well_behaved(server) == 0
                    opened[0].send(b"n NOOP\r\n")
                    assert opened[0].line() == b"n OK NOOP completed"
                server.wait_sockets(idle)
            memory.check()
        # The slots are free again: 127.0.0.1 is served.
        with clients() as opened:
            opened.append(Client.connect(server))
            login(opened[0])


# -- 2. a client that never reads -----------------------------------------------------------------


def test_client_that_never_reads_its_fetch(tmp_path: Path) -> None:
    count, size = 200, 100_000
    with server_process(tmp_path, write_timeout=2, seed={"count": count, "size": size}) as server:
        idle = server.sockets()
        # Bound: half of the one response asked for (20 MB), which a server buffering it
        # would hold at least once.
        bound = count * size // 2 // 1024
        with measured("never reads", server, bound) as memory, clients() as opened:
            client = Client.connect(server, rcvbuf=4096)
            opened.append(client)
            login(client)
            client.send(b"s SELECT INBOX\r\n")
            assert client.until(b"s ").startswith(b"s OK")
            client.send(b"a FETCH 1:* BODY[]\r\n")
            sent = time.monotonic()
            time.sleep(0.3)
            # While the server waits for it to read, another client is served.
            assert server.sockets() == idle + 1
            assert well_behaved(server) == count
            served = time.monotonic() - sent
            assert server.sockets() == idle + 1, "the slow reader was closed before the check"
            # Then the server gives up on it (write_timeout).
            server.wait_sockets(idle)
            closed = time.monotonic() - sent
            data = client.rest()
            first = data[: data.find(b"\r\n") + 2]
            assert first.startswith(b"* 1 FETCH (") and first.endswith(b"BODY[] {%d}\r\n" % size)
            assert b"\r\na OK" not in data, "the FETCH completed"
            assert len(data) < count * size
            memory.check(
                f"well-behaved client served {served:.1f} s into the stall; slow reader closed"
                f" {closed:.1f} s after its FETCH; it had been sent {len(data) / 1e6:.1f} MB"
                f" of {count * size / 1e6:.0f} MB"
            )
        assert well_behaved(server) == count


# -- 3. literals that stall -----------------------------------------------------------------------


def test_literal_that_stalls(tmp_path: Path) -> None:
    stallers = 10
    with server_process(tmp_path, autologout=2, unauthenticated_timeout=2) as server:
        idle = server.sockets()
        before = well_behaved(server)
        with measured("stalled literals", server) as memory, clients() as opened:
            for _ in range(stallers):
                client = Client.connect(server)
                opened.append(client)
                login(client)
                client.send(b"a APPEND INBOX {10000000}\r\n")
                assert client.line().startswith(b"+")
                client.send(b"Subject: stall\r\n\r\n" + b"z" * (1024 - 19) + b"\r\n")
            # Before login, a literal over Limits.max_unauthenticated_literal (8192) is
            # refused before any "+".
            early = Client.connect(server)
            opened.append(early)
            assert GREETING.match(early.line())
            early.send(b"u LOGIN {8193}\r\n")
            assert early.line() == b"u NO [TOOBIG] literal too large before authentication"
            # Others are served meanwhile, and see nothing appended.
            assert server.sockets() == idle + stallers + 1
            assert well_behaved(server) == before
            assert server.sockets() == idle + stallers + 1
            # Then each staller is logged out, with the documented BYE.
            for client in opened:
                assert client.rest() == AUTOLOGOUT
            server.wait_sockets(idle)
            memory.check(f"{stallers} literals of 10 MB announced, 1 KB each sent")
        assert well_behaved(server) == before


# -- 4. STARTTLS injection ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is not installed")
    folder = tmp_path_factory.mktemp("abuse-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


_LOGIN_RAN = re.compile(r"^DEBUG imap_server LOGIN ", re.MULTILINE)


def test_starttls_injection(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    config: dict[str, Any] = {"tls": [str(cert), str(key)], "log_level": "DEBUG"}
    with server_process(tmp_path, **config) as server:
        idle = server.sockets()
        with measured("STARTTLS injection", server) as memory:
            logins_before = len(_LOGIN_RAN.findall(server.log_text()))
            for _ in range(100):
                with clients() as opened:
                    client = Client.connect(server)
                    opened.append(client)
                    assert GREETING.match(client.line())
                    client.send(b"a STARTTLS\r\nb LOGIN user pass\r\n")
                    assert client.rest() == b"a OK Begin TLS negotiation now\r\n"
            server.wait_sockets(idle)
            # The server logs each command it ran (at DEBUG): no LOGIN ran.
            assert len(_LOGIN_RAN.findall(server.log_text())) == logins_before
            assert well_behaved(server) == 0
            memory.check("100 injections")
        # STARTTLS itself works: the same LOGIN sent after the handshake is run.
        with clients() as opened:
            client = Client.connect(server)
            opened.append(client)
            assert GREETING.match(client.line())
            client.send(b"a STARTTLS\r\n")
            assert client.line() == b"a OK Begin TLS negotiation now"
            context = ssl.create_default_context(cafile=str(cert))
            context.check_hostname = False
            client.sock = context.wrap_socket(client.sock)
            client.send(b"b LOGIN user pass\r\n")
            assert client.until(b"b ").startswith(b"b OK")
        assert len(_LOGIN_RAN.findall(server.log_text())) > logins_before


# -- 5. password guessing -------------------------------------------------------------------------


def test_thousand_failed_logins(tmp_path: Path) -> None:
    parallel, each = 20, 50
    throttle = {
        "base_delay": 0.01,
        "max_delay": 0.05,
        "address_lockout_after": 100,
        "user_lockout_after": None,
    }
    with (
        server_process(tmp_path, throttle=throttle, max_bad_commands=10) as server,
        measured("1,000 failed logins", server) as memory,
        clients() as opened,
    ):
        for _ in range(parallel):
            client = Client.connect(server)
            opened.append(client)
            assert GREETING.match(client.line())

        def guess(client: Client) -> list[bytes]:
            answers = []
            for i in range(each):
                tag = b"t%d" % i
                client.send(tag + b" LOGIN user wrong%d\r\n" % i)
                answer = client.until(tag + b" ")
                answers.append(answer.removeprefix(tag + b" "))
            return answers

        start = time.monotonic()
        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(guess, opened))
        elapsed = time.monotonic() - start
        answers = [a for r in results for a in r]
        assert set(answers) <= {AUTH_FAILED, LOCKED_OUT}, set(answers)
        failed = answers.count(AUTH_FAILED)
        # 100 failures lock the address out; up to one attempt per other connection
        # may have been checked before the 100th failure was counted.
        assert 100 <= failed < 100 + parallel, failed
        for r in results:  # once locked out, locked out
            assert r == sorted(r, key=lambda a: a == LOCKED_OUT), r
        # NO is not BAD: 50 NOs did not reach max_bad_commands (10); the connections live.
        for client in opened:
            client.send(b"n NOOP\r\n")
            assert client.line() == b"n OK NOOP completed"
        # Locked out, even with the right password.
        opened[0].send(b"r LOGIN user pass\r\n")
        assert opened[0].line() == b"r " + LOCKED_OUT
        # Another address logs in.
        assert well_behaved(server) == 0
        memory.check(
            f"{len(answers)} failed logins in {elapsed:.1f} s: {failed} 'Authentication"
            f" failed', {answers.count(LOCKED_OUT)} 'Too many failed logins'"
        )


# -- memory of closed connections -----------------------------------------------------------------


def test_memory_of_closed_connections_is_released(tmp_path: Path) -> None:
    # Clients that send half of a large literal and stall until they are logged out: while
    # they are connected the server holds what they sent (25 MB per round, legitimately);
    # once they are gone, the next round must be able to reuse that memory rather than add
    # to it. (Clients that close at once do not show it: their connection objects are
    # young, and the cyclic GC's frequent young-generation passes free them.)
    rounds, per_round, sent = 6, 5, 5_000_000
    held = per_round * sent // 1024
    with server_process(tmp_path, autologout=1) as server:
        idle = server.sockets()
        with measured("closed mid-literal", server, held + GROWTH_BOUND) as memory:
            after_round = []
            for _ in range(rounds):
                with clients() as opened:
                    for _ in range(per_round):
                        client = Client.connect(server)
                        opened.append(client)
                        login(client)
                        client.send(b"a APPEND INBOX {10000000}\r\n")
                        assert client.line().startswith(b"+")
                        client.send(b"Subject: x\r\n\r\n" + b"z" * (sent - 15))
                    for client in opened:
                        assert client.rest() == AUTOLOGOUT
                server.wait_sockets(idle)
                after_round.append(server.rss() // 1024)
            assert well_behaved(server) == 0
            memory.check(
                f"{rounds} rounds of {per_round} clients that sent {sent / 1e6:.0f} MB of a"
                f" literal and were logged out; RSS after each round (MB): {after_round}"
            )
