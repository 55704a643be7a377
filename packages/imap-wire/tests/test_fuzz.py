"""Fuzzing: no input makes the codec raise anything but `ImapWireError`.

Two sources of input: hypothesis (arbitrary octets, with and without a final CRLF, fed in
arbitrary reads), and mutations of the RFC example corpus (byte flips, deletions, insertions
of IMAP specials, duplications, splices, truncations) from a seeded `random.Random`, so a
failure names its seed and input. Every input goes through the one-shot parsers
(`parse_command`, `parse_response`) and through the connections, driven by a toy
application that answers each command so states, the AUTHENTICATE exchange and IDLE are
reached too.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_wire._api import (
    encode_command,
    encode_response,
    parse_command,
    parse_response,
    parse_responses,
)
from imap_wire._command_base import Command
from imap_wire._commands import Authenticate, Idle
from imap_wire._connection import (
    NEED_DATA,
    AuthenticateResponse,
    ClientConnection,
    IdleDone,
    LiteralRequest,
    ServerConnection,
)
from imap_wire._limits import Limits
from imap_wire._registry import Registry, default_registry
from imap_wire._responses import ContinuationRequest, ResponseStatus, StatusResponse
from imap_wire.errors import ImapWireError, LocalProtocolError

REGISTRY = default_registry()
# Small limits make the limit paths reachable by short inputs.
SMALL = Limits(
    max_line_length=200,
    max_literal_size=100,
    max_inline_literals=150,
    max_depth=6,
    max_items=60,
    literal_minus_max=20,
)
# Inserted by the mutator: IMAP specials, numbers at and over the 32-bit limit, literals.
TOKENS = [
    b"(",
    b")",
    b'"',
    b"{",
    b"}",
    b"\\",
    b"[",
    b"]",
    b"*",
    b"%",
    b"<",
    b">",
    b".",
    b":",
    b",",
    b"$",
    b" ",
    b"\r\n",
    b"\r",
    b"\n",
    b"\x00",
    b"\xff",
    b"0",
    b"1",
    b"7",
    b"4294967295",
    b"4294967296",
    b"18446744073709551616",
    b"{3}\r\n",
    b"{0}\r\n",
    b"{5+}\r\n",
    b"~{2}\r\n",
    b"{99999999999999999999}\r\n",
    b"NIL",
    b"()",
    b"BODY[",
    b"BODY[1.2.HEADER.FIELDS (FROM)]<0.10>",
]
MUTATION_SEED = 20240611

FAST_INPUTS = 2_000
SLOW_INPUTS = 100_000
SLOW_BUDGET_SECONDS = 180.0


def mutate(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    """Apply one to four random mutations."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        n = len(buf)
        pos = rng.randint(0, n)
        if op == 0 and n:  # flip a byte
            buf[rng.randrange(n)] = rng.randrange(256)
        elif op == 1 and n:  # delete a run
            del buf[pos : pos + rng.randint(1, 8)]
        elif op in (2, 3):  # insert an IMAP special
            buf[pos:pos] = rng.choice(TOKENS)
        elif op == 4 and n:  # duplicate a run
            start = rng.randrange(n)
            buf[pos:pos] = buf[start : start + rng.randint(1, 16)]
        elif op == 5:  # truncate
            del buf[pos:]
        elif op == 6:  # splice in a piece of another example
            other = rng.choice(corpus)
            start = rng.randrange(len(other))
            buf[pos:pos] = other[start : start + rng.randint(1, 30)]
        elif op == 7:  # insert a random byte
            buf[pos:pos] = bytes([rng.randrange(256)])
        elif op == 8 and n:  # repeat the whole input (a pipelined stream)
            buf.extend(bytes(buf))
    return bytes(buf)


def parse_both(data: bytes) -> None:
    """Run the one-shot command and response parsers; only ImapWireError may escape."""
    for parse in (parse_command, parse_response, parse_responses):
        with contextlib.suppress(ImapWireError):
            parse(data, registry=REGISTRY)


def _refuse_some(request: LiteralRequest) -> StatusResponse | None:
    if request.size % 7 == 3:
        return StatusResponse(tag=request.tag, status=ResponseStatus.NO, text="refused")
    return None


def new_server(mode: int, registry: Registry = REGISTRY) -> ServerConnection:
    """Return a server: fresh, authenticated, selected, with small limits, or streaming."""
    conn = ServerConnection(
        registry=registry,
        limits=SMALL if mode == 3 else Limits(),
        literal_policy=_refuse_some if mode % 2 else None,
        stream_literals_over=8 if mode == 4 else 1 << 20,
        literal_minus=mode == 3,
    )
    if mode in (1, 2, 4):
        conn.send(StatusResponse(tag=None, status=ResponseStatus.PREAUTH, text="hi"))
    if mode == 2:
        conn.receive_data(b"s SELECT INBOX\r\n")
        conn.next_event()
        conn.send(StatusResponse(tag="s", status=ResponseStatus.OK, text="ok"))
    return conn


def serve(conn: ServerConnection, chunks: Sequence[bytes], eof: bool = True) -> None:
    """Feed the chunks and play a server application; only ImapWireError may escape."""
    for chunk in [*chunks, b""] if eof else chunks:
        try:
            conn.receive_data(chunk)
        except LocalProtocolError:
            return  # data after the end of the stream: the test fed it, not the peer
        for _ in range(100_000):
            try:
                event = conn.next_event()
            except ImapWireError as exc:
                if getattr(exc, "fatal", False):
                    return
                continue
            if event is NEED_DATA:
                break
            try:
                if isinstance(event, Authenticate | Idle):
                    conn.send(ContinuationRequest(text=""))
                elif isinstance(event, AuthenticateResponse | IdleDone | Command):
                    conn.send(StatusResponse(tag=event.tag, status=ResponseStatus.OK, text="done"))
            except ImapWireError:
                pass
        else:
            pytest.fail("next_event never returned NEED_DATA")


def read(conn: ClientConnection, chunks: Sequence[bytes], eof: bool = True) -> None:
    """Feed the chunks to a client and drain its events; only ImapWireError may escape."""
    for chunk in [*chunks, b""] if eof else chunks:
        try:
            conn.receive_data(chunk)
        except LocalProtocolError:
            return
        for _ in range(100_000):
            try:
                event = conn.next_event()
            except ImapWireError as exc:
                if getattr(exc, "fatal", False):
                    return
                continue
            if event is NEED_DATA:
                break
        else:
            pytest.fail("next_event never returned NEED_DATA")


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


# -- hypothesis: arbitrary octets ----------------------------------------------------------

_OCTETS = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from(TOKENS) | st.binary(max_size=6), max_size=60).map(b"".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_OCTETS,
    crlf=st.booleans(),
    cuts=st.lists(st.integers(1, 400), max_size=8),
    mode=st.integers(0, 4),
)
def test_arbitrary_octets(data: bytes, crlf: bool, cuts: list[int], mode: int) -> None:
    if crlf:
        data += b"\r\n"
    parse_both(data)
    chunks = split(data, cuts)
    serve(new_server(mode), chunks)
    read(ClientConnection(limits=SMALL if mode == 3 else Limits()), chunks)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_OCTETS, min_size=1, max_size=8), mode=st.integers(0, 4))
def test_arbitrary_lines_after_an_exchange_starts(lines: list[bytes], mode: int) -> None:
    # The first line starts an AUTHENTICATE or IDLE exchange: the rest are SASL data or DONE.
    for start in (b"a AUTHENTICATE PLAIN\r\n", b"i IDLE\r\n"):
        serve(new_server(mode), [start, *(line + b"\r\n" for line in lines)])


# -- mutations of the RFC examples ---------------------------------------------------------


def run_mutations(
    corpus: Sequence[bytes], count: int, seed: int, deadline: float | None = None
) -> int:
    """Fuzz ``count`` mutated inputs through every parse path; return how many ran."""
    rng = random.Random(seed)
    server_modes = [new_server(mode) for mode in range(5)]
    client = ClientConnection()
    batch: list[bytes] = []
    for i in range(count):
        data = mutate(rng, rng.choice(corpus), corpus)
        try:
            parse_both(data)
        except Exception as exc:  # name the input: the seed alone is hard to replay
            raise AssertionError(f"input {i} of seed {seed}: {data!r}") from exc
        batch.append(data)
        if len(batch) == 50:
            stream = b"".join(batch)
            chunks = split(stream, [rng.randrange(1, len(stream) + 1) for _ in range(5)])
            mode = rng.randrange(5)
            try:
                serve(server_modes[mode], chunks, eof=False)
                read(client, chunks, eof=False)
            except Exception as exc:
                raise AssertionError(f"batch ending at input {i} of seed {seed}") from exc
            # A fatal error or LOGOUT ends a connection: start afresh now and then.
            if rng.random() < 0.2:
                server_modes[mode] = new_server(mode)
                client = ClientConnection()
            batch = []
            if deadline is not None and time.monotonic() > deadline:
                return i + 1
    return count


def test_mutated_rfc_examples(rfc_examples: Sequence[Any]) -> None:
    corpus = [e.data for e in rfc_examples]
    assert run_mutations(corpus, FAST_INPUTS, MUTATION_SEED) == FAST_INPUTS


@pytest.mark.slow
def test_mutated_rfc_examples_100k(rfc_examples: Sequence[Any]) -> None:
    corpus = [e.data for e in rfc_examples]
    start = time.monotonic()
    ran = run_mutations(corpus, SLOW_INPUTS, MUTATION_SEED + 1, start + SLOW_BUDGET_SECONDS)
    elapsed = time.monotonic() - start
    assert ran == SLOW_INPUTS, f"only {ran} inputs in {elapsed:.0f} s"


def test_mutator_covers_every_operation(rfc_examples: Sequence[Any]) -> None:
    corpus = [e.data for e in rfc_examples]
    rng = random.Random(1)
    outputs = {mutate(rng, corpus[0], corpus) for _ in range(500)}
    assert len(outputs) > 400
    assert any(len(o) > 2 * len(corpus[0]) for o in outputs)  # duplication of the whole
    assert any(len(o) < len(corpus[0]) for o in outputs)  # deletions and truncations


# -- values the parsers accept can be written back -----------------------------------------

_ROUND_TRIP_INPUTS = 3_000


def _round_trip_failures(
    corpus: Sequence[bytes],
    parse: Callable[..., Any],
    encode: Callable[[Any], bytes],
    seed: int,
) -> list[tuple[bytes, str]]:
    rng = random.Random(seed)
    failures: list[tuple[bytes, str]] = []
    for _ in range(_ROUND_TRIP_INPUTS):
        data = mutate(rng, rng.choice(corpus), corpus)
        try:
            value = parse(data, registry=REGISTRY)
        except ImapWireError:
            continue
        try:
            again = parse(encode(value), registry=REGISTRY)
        except ImapWireError as exc:
            failures.append((data, f"{type(exc).__name__}: {exc}"))
            continue
        if again != value:
            failures.append((data, f"{value!r} != {again!r}"))
    return failures


def test_mutated_commands_that_parse_round_trip(rfc_examples: Sequence[Any]) -> None:
    # The server parses strictly: whatever it accepts, the client encoder must write back.
    corpus = [e.data for e in rfc_examples if e.direction == "C"]
    failures = _round_trip_failures(corpus, parse_command, encode_command, MUTATION_SEED)
    assert failures == []


def test_mutated_responses_that_encode_round_trip(rfc_examples: Sequence[Any]) -> None:
    # The client parses tolerantly, so the encoder may refuse what it read (LocalProtocolError);
    # what it does write must read back equal.
    corpus = [e.data for e in rfc_examples if e.direction == "S"]
    rng = random.Random(MUTATION_SEED)
    unequal: list[tuple[bytes, Any, Any]] = []
    for _ in range(_ROUND_TRIP_INPUTS):
        data = mutate(rng, rng.choice(corpus), corpus)
        try:
            value = parse_response(data, registry=REGISTRY)
            encoded = encode_response(value)
        except ImapWireError:
            continue
        again = parse_response(encoded, registry=REGISTRY)
        if again != value:
            unequal.append((data, value, again))
    assert unequal == []
