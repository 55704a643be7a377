"""Transcript tests: a ``C:`` / ``S:`` script played against a server, as the RFCs show them.

::

    await play(
        running,
        '''
        S: * OK [CAPABILITY ...] ...
        C: a1 LOGIN user pass
        S: a1 OK ...
        C: a2 SELECT INBOX
        S: * 0 EXISTS
        S: ...
        S: a2 OK [READ-WRITE] SELECT completed
    ''',
    )

Rules:

- ``C:`` lines are sent as written, with CRLF. A ``C:`` line that ends with a synchronizing
  literal ``{n}`` waits for the server's ``+`` (write it as an ``S: + ...`` line); the octets
  of the literal are the following ``C:`` line(s). ``C:`` with nothing after it sends an empty
  line; ``C+ <text>`` sends text without CRLF (to split a command over writes).
- ``S:`` lines are compared with the next line the server sent (split at CRLF, literals
  included). ``...`` matches any text (zero or more characters) within the line; a line that is
  only ``S: ...`` matches any number of server lines up to the one matching the next ``S:``.
- ``S: <closed>`` expects the server to close the connection.
- Leading whitespace and blank lines are ignored; lines starting with ``#`` are comments.

A mismatch raises `TranscriptMismatch` with the whole exchange so far.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import anyio
import anyio.abc

__all__ = [
    "TranscriptClient",
    "TranscriptMismatch",
    "TranscriptStep",
    "login_steps",
    "parse_transcript",
    "play",
    "select_steps",
]

_CLOSED = "<closed>"


class TranscriptMismatch(AssertionError):
    """The server's output did not match the transcript."""


@dataclass(frozen=True, slots=True)
class TranscriptStep:
    #: ``"C"`` (client line), ``"C+"`` (client text without CRLF) or ``"S"`` (server line).
    who: str
    text: str


def login_steps(user: str = "user", password: str = "pass", *, rev2: bool = False) -> str:
    """The opening of most transcripts: the greeting and a LOGIN (tag ``L1``), then with
    ``rev2`` an ``ENABLE IMAP4rev2`` (tag ``L2``)."""
    steps = f"""
        S: * OK [CAPABILITY IMAP4rev1 ...] IMAP server ready
        C: L1 LOGIN {user} {password}
        S: L1 OK [CAPABILITY IMAP4rev1 ...] Logged in
    """
    if rev2:
        steps += """
        C: L2 ENABLE IMAP4rev2
        S: * ENABLED IMAP4rev2
        S: L2 OK ENABLE completed
    """
    return steps


def select_steps(
    mailbox: str = "INBOX",
    *,
    read_only: bool = False,
    rev2: bool = False,
    user: str = "user",
    password: str = "pass",
) -> str:
    """`login_steps`, then SELECT (or EXAMINE with ``read_only``) of ``mailbox`` with its
    untagged data skipped (tag ``L2``, ``L3`` after ``rev2``'s ENABLE)."""
    verb, mode = ("EXAMINE", "READ-ONLY") if read_only else ("SELECT", "READ-WRITE")
    tag = "L3" if rev2 else "L2"
    return (
        login_steps(user, password, rev2=rev2)
        + f"""
        C: {tag} {verb} {mailbox}
        S: ...
        S: {tag} OK [{mode}] {verb} completed
    """
    )


def parse_transcript(script: str) -> list[TranscriptStep]:
    steps: list[TranscriptStep] = []
    for raw in textwrap.dedent(script).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for who in ("C+", "C", "S"):
            prefix = who + ":" if who != "C+" else "C+ "
            if line.startswith(prefix):
                text = line[len(prefix) :]
                steps.append(TranscriptStep(who, text[1:] if text.startswith(" ") else text))
                break
        else:
            raise ValueError(f"transcript line must start with C: or S: : {raw!r}")
    return steps


def _pattern(text: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in text.split("...")]
    return re.compile(".*".join(parts), re.DOTALL)


class TranscriptClient:
    """One client connection that plays transcripts piecewise: a test interleaves several
    of them (two sessions on one mailbox, IDLE on one while the other changes things).

    ::

        async with await TranscriptClient.connect(running) as a, ...:
            await a.play("C: a1 NOOP\\nS: a1 OK ...")
    """

    def __init__(self, stream: anyio.abc.ByteStream, *, timeout: float = 5.0) -> None:
        self.stream = stream
        self.timeout = timeout
        self._buffer = b""
        self._closed = False
        #: Every line sent and received so far, prefixed ``C:`` / ``C+`` / ``S:``.
        self.log: list[str] = []

    @classmethod
    async def connect(
        cls, target: tuple[str, int] | object, *, timeout: float = 5.0
    ) -> TranscriptClient:
        """Connect to ``(host, port)`` or anything with ``host`` and ``port`` attributes."""
        if isinstance(target, tuple):
            host, port = target
        else:
            host, port = target.host, target.port  # type: ignore[attr-defined]
        return cls(await anyio.connect_tcp(host, port), timeout=timeout)

    async def __aenter__(self) -> TranscriptClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stream.aclose()

    @property
    def received(self) -> list[str]:
        """The server's lines so far."""
        return [line[3:] for line in self.log if line.startswith("S: ")]

    def _fail(self, message: str) -> TranscriptMismatch:
        return TranscriptMismatch(message + "\n--- exchange so far ---\n" + "\n".join(self.log))

    async def _line(self, waiting_for: str) -> str | None:
        """The server's next line; None once it closed the connection."""
        while b"\r\n" not in self._buffer:
            if self._closed:
                return None
            try:
                with anyio.fail_after(self.timeout):
                    data = await self.stream.receive(65536)
            except TimeoutError:
                raise self._fail(f"timed out waiting for: {waiting_for}") from None
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                data = b""
            if not data:
                self._closed = True
                if self._buffer:
                    rest, self._buffer = self._buffer, b""
                    return self._received(rest)
                return None
            self._buffer += data
        raw, self._buffer = self._buffer.split(b"\r\n", 1)
        return self._received(raw)

    def _received(self, raw: bytes) -> str:
        line = raw.decode("utf-8", "replace")
        self.log.append("S: " + line)
        return line

    async def play(self, script: str) -> None:
        """Play a transcript on this connection (the rules are in the module docstring)."""
        steps = parse_transcript(script)
        i = 0
        while i < len(steps):
            step = steps[i]
            if step.who in ("C", "C+"):
                data = step.text.encode("utf-8") + (b"\r\n" if step.who == "C" else b"")
                await self.stream.send(data)
                self.log.append(
                    f"{step.who}: {step.text}" if step.who == "C" else "C+ " + step.text
                )
            elif step.text == "...":
                following = next((s for s in steps[i + 1 :] if s.who == "S"), None)
                if following is None:
                    raise self._fail("'S: ...' must be followed by another S: line")
                pattern = _pattern(following.text)
                while True:
                    got = await self._line(following.text)
                    if got is None:
                        if following.text == _CLOSED:
                            self.log.append("S: <closed>")
                            break
                        raise self._fail(f"connection closed; expected: {following.text}")
                    if pattern.fullmatch(got):
                        break
                i += 1  # the following S: line was consumed
            else:
                got = await self._line(step.text)
                if got is None:
                    if step.text != _CLOSED:
                        raise self._fail(f"connection closed; expected: {step.text}")
                    self.log.append("S: <closed>")
                elif step.text == _CLOSED:
                    raise self._fail(f"expected the connection to close; got: {got}")
                elif not _pattern(step.text).fullmatch(got):
                    raise self._fail(f"expected: {step.text}\n     got: {got}")
            i += 1


async def play(
    target: tuple[str, int] | object,
    script: str,
    *,
    timeout: float = 5.0,
) -> list[str]:
    """Play a transcript on a new connection to a server; return every line the server sent.

    Args:
        target: ``(host, port)`` or anything with ``host`` and ``port`` attributes
            (a `RunningServer`).
    """
    async with await TranscriptClient.connect(target, timeout=timeout) as client:
        await client.play(script)
        return client.received
