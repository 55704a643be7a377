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

__all__ = ["TranscriptMismatch", "TranscriptStep", "parse_transcript", "play"]

_CLOSED = "<closed>"


class TranscriptMismatch(AssertionError):
    """The server's output did not match the transcript."""


@dataclass(frozen=True, slots=True)
class TranscriptStep:
    #: ``"C"`` (client line), ``"C+"`` (client text without CRLF) or ``"S"`` (server line).
    who: str
    text: str


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


class _Reader:
    def __init__(self, stream: anyio.abc.ByteStream, timeout: float) -> None:
        self.stream = stream
        self.buffer = b""
        self.timeout = timeout
        self.closed = False

    async def line(self) -> str | None:
        while b"\r\n" not in self.buffer:
            if self.closed:
                return None
            try:
                with anyio.fail_after(self.timeout):
                    data = await self.stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                data = b""
            if not data:
                self.closed = True
                if self.buffer:
                    rest, self.buffer = self.buffer, b""
                    return rest.decode("utf-8", "replace")
                return None
            self.buffer += data
        raw, self.buffer = self.buffer.split(b"\r\n", 1)
        return raw.decode("utf-8", "replace")


async def play(
    target: tuple[str, int] | object,
    script: str,
    *,
    timeout: float = 5.0,
) -> list[str]:
    """Play a transcript against a server; return every line the server sent.

    Args:
        target: ``(host, port)`` or anything with ``host`` and ``port`` attributes
            (a `RunningServer`).
    """
    if isinstance(target, tuple):
        host, port = target
    else:
        host, port = target.host, target.port  # type: ignore[attr-defined]
    steps = parse_transcript(script)
    log: list[str] = []

    def fail(message: str) -> TranscriptMismatch:
        return TranscriptMismatch(message + "\n--- exchange so far ---\n" + "\n".join(log))

    async with await anyio.connect_tcp(host, port) as stream:
        reader = _Reader(stream, timeout)
        i = 0
        while i < len(steps):
            step = steps[i]
            if step.who == "C":
                await stream.send(step.text.encode("utf-8") + b"\r\n")
                log.append("C: " + step.text)
            elif step.who == "C+":
                await stream.send(step.text.encode("utf-8"))
                log.append("C+ " + step.text)
            elif step.text == "...":
                following = next((s for s in steps[i + 1 :] if s.who == "S"), None)
                if following is None:
                    raise fail("'S: ...' must be followed by another S: line")
                pattern = _pattern(following.text)
                while True:
                    try:
                        got = await reader.line()
                    except TimeoutError:
                        raise fail(f"timed out waiting for: {following.text}") from None
                    if got is None:
                        if following.text == _CLOSED:
                            break
                        raise fail(f"connection closed; expected: {following.text}")
                    log.append("S: " + got)
                    if pattern.fullmatch(got):
                        break
                i += 1  # the following S: line was consumed
            else:
                try:
                    got = await reader.line()
                except TimeoutError:
                    raise fail(f"timed out waiting for: {step.text}") from None
                if got is None:
                    if step.text == _CLOSED:
                        log.append("S: <closed>")
                        i += 1
                        continue
                    raise fail(f"connection closed; expected: {step.text}")
                log.append("S: " + got)
                if step.text == _CLOSED or not _pattern(step.text).fullmatch(got):
                    raise fail(f"expected: {step.text}\n     got: {got}")
            i += 1
    return [line[3:] for line in log if line.startswith("S: ")]
