"""An ``imap-server`` in a child process, and a raw IMAP client to talk to it, for tests.

A store that several server processes share (a database, a bucket) is best tested with real
processes: two servers on one store must see each other's changes, and a server killed with
SIGKILL must leave the store whole for the next one. `ServerProcess` runs ``python -m
imap_server serve --store URL`` on a free loopback port with its output in files;
`RawClient` is a small blocking IMAP client that sends tagged commands and reads the responses
(literals included) so that a test can check them line by line::

    from imap_server.testing.process import RawClient, ServerProcess


    def test_two_processes(tmp_path):
        url = "mystore://..."  # a store holding user alice / secret
        with (
            ServerProcess.serve(url, log_dir=tmp_path) as a,
            ServerProcess.serve(url, log_dir=tmp_path) as b,
            RawClient(a.host, a.port, login=("alice", "secret")) as one,
            RawClient(b.host, b.port, login=("alice", "secret")) as two,
        ):
            uid = two.append(b"Subject: hi\\r\\n\\r\\nHi!\\r\\n")
            assert one.select() == 1
            assert uid in one.uid_fetch("FLAGS")

Both use only the standard library, and fail with `AssertionError` (`ServerProcessError`, or
`RawClient.fail`), which test runners report as a failed test. For a server in the test's own
process use `imap_server.testing.harness` instead.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Self

__all__ = [
    "LISTENING",
    "NO_LIMITS",
    "Listening",
    "RawClient",
    "Reply",
    "Response",
    "ServerProcess",
    "ServerProcessError",
    "flags_of",
    "parse_numbered",
    "uid_of",
]

#: The line ``imap-server serve`` writes to stderr for each listener once it accepts
#: connections: host, port and kind (``plain``, ``plain, STARTTLS``, ``TLS``).
LISTENING = re.compile(r"^imap-server: listening on (\S+):(\d+) \(([^)]*)\)$")

#: ``serve`` options that lift the per-address connection limit and both command rate limits:
#: a load test opens many connections from 127.0.0.1 and sends commands as fast as it can.
NO_LIMITS = (
    "--max-connections-per-address", "0",
    "--rate-limit", "0",
    "--rate-limit-per-address", "0",
)  # fmt: skip

_POLL = 0.05  # seconds between looks at a child's output while waiting for a line


class ServerProcessError(AssertionError):
    """A child did not start listening, or did not exit when told to (with its output)."""


class Listening(NamedTuple):
    """One ``listening on`` line."""

    host: str
    port: int
    kind: str


class ServerProcess:
    """``python -m imap_server ARGS`` in a child process, its stdout and stderr in files.

    The child starts at once; `host` and `port` (or `listening`) wait for its ``listening on``
    line. Use it as a context manager: on the way out the child gets SIGTERM, then SIGKILL if it
    is still running ``stop_timeout`` seconds later. For a store under test, `serve` builds the
    usual command line.

    Args:
        args: The arguments after ``python -m imap_server`` (``"serve", "--store", url, ...``).
        log_dir: Where the output goes: ``imap-server-N.stdout`` and ``imap-server-N.log``
            (stderr: the server's log), N the first number not yet taken in this directory.
            The files stay for a look after the test.
        env: The child's environment (default: this process's).
        start_timeout: Seconds `listening` (and so `host`, `port`) waits for the child.
        stop_timeout: Seconds `stop` and `close` wait for the child to exit.
    """

    def __init__(
        self,
        *args: str,
        log_dir: str | Path,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.argv = [sys.executable, "-m", "imap_server", *args]
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        folder = Path(log_dir)
        for n in itertools.count(1):
            try:
                log = (folder / f"imap-server-{n}.log").open("x", encoding="utf-8")
            except FileExistsError:
                continue
            break
        self.log_path = Path(log.name)
        self.stdout_path = self.log_path.with_suffix(".stdout")
        with log, self.stdout_path.open("w", encoding="utf-8") as stdout:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=log,
                env=None if env is None else dict(env),
            )
        self._listening: list[Listening] = []

    @classmethod
    def serve(
        cls,
        store_url: str | None,
        *extra: str,
        log_dir: str | Path,
        unlimited: bool = True,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> Self:
        """``imap-server serve --store STORE_URL --listen 127.0.0.1:0 [NO_LIMITS] EXTRA...``.

        ``store_url`` None leaves out ``--store`` (the memory store); ``unlimited`` False
        leaves out `NO_LIMITS`. The other arguments are the constructor's.
        """
        argv = ["serve"]
        if store_url is not None:
            argv += ["--store", store_url]
        argv += ["--listen", "127.0.0.1:0"]
        if unlimited:
            argv += NO_LIMITS
        return cls(
            *argv,
            *extra,
            log_dir=log_dir,
            env=env,
            start_timeout=start_timeout,
            stop_timeout=stop_timeout,
        )

    # -- the child's output ----------------------------------------------------------------

    def log_text(self) -> str:
        """Everything the child wrote to stderr so far (its log)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stdout_text(self) -> str:
        """Everything the child wrote to stdout so far."""
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int | None = 200) -> str:
        """The child's stdout and the last ``lines`` lines of its stderr (all if None), each
        under a ``---`` heading: for a failure message."""
        stderr = self.log_text().splitlines()
        if lines is not None:
            stderr = stderr[-lines:]
        return "\n".join(["--- stdout", *self.stdout_text().splitlines(), "--- stderr", *stderr])

    # -- waiting for the child -------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while the child runs."""
        return self.proc.poll()

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        """Wait until ``ready()`` holds (it may read `log_text`, `stdout_text`); raise
        `ServerProcessError` with the child's output if the child exits first or ``timeout``
        (default ``start_timeout``) seconds pass."""
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            exited = self.proc.poll() is not None  # before ready(): its output is all there
            if ready():
                return
            if exited:
                raise ServerProcessError(
                    f"exited ({self.proc.returncode}) before {what}:\n{self.log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerProcessError(f"no {what} after {timeout} s:\n{self.log_tail()}")
            time.sleep(min(remaining, _POLL))

    def _scan(self) -> list[Listening]:
        matches = (LISTENING.match(line) for line in self.log_text().splitlines())
        self._listening = [Listening(m[1], int(m[2]), m[3]) for m in matches if m]
        return self._listening

    def listening(self, count: int = 1) -> list[Listening]:
        """Wait for ``count`` ``listening on`` lines; return every one seen."""
        if len(self._listening) < count:
            self.wait_for(lambda: len(self._scan()) >= count, f"{count} listening line(s)")
        return list(self._listening)

    @property
    def host(self) -> str:
        """The host of the first listener (waits for it)."""
        return self.listening()[0].host

    @property
    def port(self) -> int:
        """The port of the first listener (waits for it)."""
        return self.listening()[0].port

    def port_of(self, kind: str) -> int:
        """The port of the first listener of this kind (``plain``, ``TLS``...): waits until
        there is one."""
        ports: list[int] = []

        def found() -> bool:
            ports[:] = [entry.port for entry in self._scan() if entry.kind == kind]
            return bool(ports)

        self.wait_for(found, f"a {kind} listener")
        return ports[0]

    # -- stopping the child ----------------------------------------------------------------

    def stop(self, signum: signal.Signals = signal.SIGTERM, timeout: float | None = None) -> int:
        """Send ``signum`` and wait for the child to exit; return its exit code. If it is still
        running ``timeout`` (default ``stop_timeout``) seconds later, kill it and raise
        `ServerProcessError`."""
        timeout = self.stop_timeout if timeout is None else timeout
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerProcessError(
                f"still running {timeout} s after {signum.name}:\n{self.log_tail()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL, and wait: no clean-up of any kind in the child (a crash)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        """SIGTERM, then SIGKILL if the child lingers ``stop_timeout`` seconds; wait for it.
        Nothing if it has exited already."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- a raw client -------------------------------------------------------------------------------

_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}$")
_NUMBERED = re.compile(r"^\* (\d+) (EXISTS|EXPUNGE|FETCH)\b ?(.*)$")
_UID = re.compile(r"[( ]UID (\d+)")
_FLAGS = re.compile(r"[( ]FLAGS \(([^)]*)\)")
_APPENDUID = re.compile(r"\[APPENDUID \d+ (\d+)\]")


def parse_numbered(text: str) -> tuple[int, str, str] | None:
    """``* n EXISTS`` / ``* n EXPUNGE`` / ``* n FETCH (...)``: (n, kind, the rest); None for
    any other response."""
    m = _NUMBERED.match(text)
    return None if m is None else (int(m[1]), m[2], m[3])


def uid_of(text: str) -> int | None:
    """The ``UID n`` item of a FETCH response (None without one)."""
    m = _UID.search(text)
    return None if m is None else int(m[1])


def flags_of(text: str) -> set[str] | None:
    """The ``FLAGS (...)`` item of a FETCH response without ``\\Recent`` (None without one)."""
    m = _FLAGS.search(text)
    return None if m is None else {f for f in m[1].split() if f != "\\Recent"}


@dataclass
class Response:
    """One response: its text with each literal's data left out (the ``{n}`` stays), and the
    literals' data in order."""

    text: str
    literals: list[bytes] = field(default_factory=list)


@dataclass
class Reply:
    """The responses to one command: the untagged ones, then the tagged line."""

    untagged: list[Response]
    tagged: str

    @property
    def status(self) -> str:
        """``OK``, ``NO`` or ``BAD``."""
        return self.tagged.split(" ", 2)[1]

    def numbered(self, kind: str) -> list[Response]:
        """The untagged ``* n KIND`` responses (``EXISTS``, ``EXPUNGE``, ``FETCH``)."""
        return [r for r in self.untagged if (p := parse_numbered(r.text)) and p[1] == kind]


class RawClient:
    """One IMAP connection over a blocking socket, for tests: commands go out as written, and
    responses come back as `Response` (text plus literals), without interpretation.

    Tags are ``name`` followed by a counter. Every line sent and received is kept in
    `transcript`; `fail` makes an `AssertionError` that ends with the last 30 of them. Every
    read gives up after ``timeout`` seconds (`TimeoutError`), so a broken server cannot hang a
    test. Subclasses can follow the responses by overriding `received`.

    Args:
        host: The server's address.
        port: The server's port.
        name: The tag prefix, and how failures name this client.
        timeout: Seconds any one read (and the connect) may take.
        login: ``(user, password)``: LOGIN after the greeting.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str = "t",
        timeout: float = 30.0,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = bytearray()
        self.transcript: list[str] = []
        self._tags = 0
        try:
            #: The server's greeting.
            self.greeting = self.read()
            if not self.greeting.text.startswith("* OK"):
                raise self.fail(f"greeting {self.greeting.text!r}")
            if login is not None:
                self.ok(f"LOGIN {login[0]} {login[1]}")
        except BaseException:
            self.sock.close()
            raise

    def close(self, *, logout: bool = True) -> None:
        """Send LOGOUT (without waiting for the answer) unless ``logout`` is False; close."""
        if logout:
            with contextlib.suppress(OSError):
                self.sock.sendall(b"Z LOGOUT\r\n")
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fail(self, text: str) -> AssertionError:
        """An error to raise: ``text`` and the last lines of the transcript."""
        tail = "\n".join(self.transcript[-30:])
        return AssertionError(f"{self.name}: {text}\n--- last lines ---\n{tail}")

    # -- reading -------------------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)  # TimeoutError (socket.timeout) when nothing came
        if not data:
            raise self.fail("connection closed by the server")
        self.buffer += data

    def _line(self, deadline: float) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._fill(deadline)
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def read(self, timeout: float | None = None) -> Response:
        """The next response; `TimeoutError` if none is complete within ``timeout`` (default:
        the client's)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        parts: list[bytes] = []
        literals: list[bytes] = []
        line = self._line(deadline)
        while (m := _LITERAL_AT_END.search(line)) is not None:
            size = int(m[1])
            while len(self.buffer) < size:
                self._fill(deadline)
            literals.append(bytes(self.buffer[:size]))
            del self.buffer[:size]
            parts.append(line)
            line = self._line(deadline)
        parts.append(line)
        response = Response(b"".join(parts).decode("utf-8", "replace"), literals)
        self.transcript.append("S: " + response.text)
        self.received(response)
        return response

    def received(self, response: Response) -> None:
        """Called with every response read (the greeting included); does nothing here."""

    def expect(self, what: str, matches: Callable[[str], bool], within: float) -> str:
        """Read responses until one ``matches``; fail if none does within ``within`` seconds.
        Return its text."""
        deadline = time.monotonic() + within
        while True:
            try:
                response = self.read(deadline - time.monotonic())
            except TimeoutError:
                raise self.fail(f"no {what} within {within} s") from None
            if matches(response.text):
                return response.text

    # -- commands ------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send ``data`` as it is (the transcript keeps its first 200 octets)."""
        self.transcript.append("C: " + data[:200].decode("utf-8", "replace").rstrip("\r\n"))
        self.sock.sendall(data)

    def next_tag(self) -> str:
        """A new tag: ``name`` and the next number."""
        self._tags += 1
        return f"{self.name}{self._tags}"

    def command(self, text: str, literal: bytes | None = None) -> Reply:
        """Run a command and return its reply, whatever the status. ``literal`` is sent right
        after the line: announce it in ``text`` with a non-synchronizing ``{n+}``."""
        tag = self.next_tag()
        data = f"{tag} {text}\r\n".encode()
        if literal is not None:
            data += literal + b"\r\n"
        self.send(data)
        return self.reply(tag)

    def reply(self, tag: str) -> Reply:
        """Read responses up to the tagged one of ``tag``."""
        untagged: list[Response] = []
        while True:
            response = self.read()
            if response.text.startswith(tag + " "):
                return Reply(untagged, response.text)
            untagged.append(response)

    def ok(self, text: str, literal: bytes | None = None) -> Reply:
        """`command`, failing unless it is answered OK."""
        reply = self.command(text, literal)
        if reply.status != "OK":
            raise self.fail(f"{text!r} answered {reply.tagged!r}")
        return reply

    def append(self, body: bytes, mailbox: str = "INBOX", flags: str | None = None) -> int:
        """APPEND ``body`` (with ``(flags)`` if not None); return the UID its APPENDUID names."""
        flag_list = "" if flags is None else f" ({flags})"
        reply = self.ok(f"APPEND {mailbox}{flag_list} {{{len(body)}+}}", body)
        m = _APPENDUID.search(reply.tagged)
        if m is None:
            raise self.fail(f"no APPENDUID in {reply.tagged!r}")
        return int(m[1])

    def select(self, mailbox: str = "INBOX") -> int:
        """SELECT; return the EXISTS count (fail unless EXISTS is the one numbered response)."""
        reply = self.ok(f"SELECT {mailbox}")
        numbered = [p for r in reply.untagged if (p := parse_numbered(r.text))]
        if len(numbered) != 1 or numbered[0][1] != "EXISTS":
            raise self.fail(f"SELECT answered {[f'{n} {kind}' for n, kind, _ in numbered]}")
        return numbered[0][0]

    def uid_fetch(self, items: str, uids: str = "1:*") -> dict[int, Response]:
        """``UID FETCH uids (items)``: UID -> its FETCH response. Fails on a UID answered
        twice."""
        out: dict[int, Response] = {}
        for r in self.ok(f"UID FETCH {uids} ({items})").numbered("FETCH"):
            uid = uid_of(r.text)
            if uid is None:
                raise self.fail(f"no UID in {r.text!r}")
            if uid in out:
                raise self.fail(f"UID {uid} fetched twice")
            out[uid] = r
        return out

    def status(
        self, mailbox: str = "INBOX", items: Sequence[str] = ("MESSAGES", "UIDNEXT", "UNSEEN")
    ) -> dict[str, int]:
        """``STATUS mailbox (items)``: item -> number."""
        reply = self.ok(f"STATUS {mailbox} ({' '.join(items)})")
        [line] = [r.text for r in reply.untagged if r.text.startswith("* STATUS")]
        values = line[line.rindex("(") + 1 : -1].split()
        return {k: int(v) for k, v in zip(values[::2], values[1::2], strict=True)}

    def idle(self) -> str:
        """Start IDLE; return its tag once the ``+`` came."""
        tag = self.next_tag()
        self.send(f"{tag} IDLE\r\n".encode())
        while not self.read().text.startswith("+"):
            pass
        return tag

    def done(self, tag: str) -> Reply:
        """End IDLE ``tag``; fail unless it ends OK."""
        self.send(b"DONE\r\n")
        reply = self.reply(tag)
        if reply.status != "OK":
            raise self.fail(f"IDLE ended with {reply.tagged!r}")
        return reply
