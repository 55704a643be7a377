"""trace_lines: printable trace lines, with passwords and SASL exchanges redacted."""

from __future__ import annotations

import base64
import itertools

from hypothesis import given
from hypothesis import strategies as st

from imap_wire import TraceState, trace_lines

Exchange = list[tuple[bool, bytes]]


def run(exchange: Exchange, cuts: list[int] | None = None) -> list[str]:
    """Trace ``(sent_by_client, octets)`` writes, each cut into chunks at ``cuts``."""
    state = TraceState()
    lines: list[str] = []
    for by_client, data in exchange:
        points = sorted({c % (len(data) + 1) for c in cuts or []} | {0, len(data)})
        for start, stop in itertools.pairwise(points):
            chunk = data[start:stop]
            traced = trace_lines(chunk, sent_by_client=by_client, state=state)
            lines += [("C: " if by_client else "S: ") + line for line in traced]
    return lines


def test_lines_split_at_crlf_across_chunks() -> None:
    state = TraceState()
    assert trace_lines(b"* OK ready\r\n* 1 EX", sent_by_client=False, state=state) == ["* OK ready"]
    assert trace_lines(b"ISTS\r", sent_by_client=False, state=state) == []
    assert trace_lines(b"\na1 OK done\r\n", sent_by_client=False, state=state) == [
        "* 1 EXISTS",
        "a1 OK done",
    ]


def test_non_printable_octets_are_escaped() -> None:
    lines = trace_lines(b"a1 SELECT \xc3\xa9t\x00\r\n", sent_by_client=True, state=TraceState())
    assert lines == ["a1 SELECT \\xc3\\xa9t\\x00"]


def test_long_line_is_cut() -> None:
    data = b"* OK " + b"x" * 5000 + b"\r\n"
    state = TraceState()
    (line,) = trace_lines(data[:100], sent_by_client=False, state=state) + trace_lines(
        data[100:], sent_by_client=False, state=state
    )
    assert line.startswith("* OK xxx")
    assert line.endswith("... [line of 5005 octets]")
    assert len(line) < 400


def test_literal_contents_are_replaced_by_their_size() -> None:
    lines = run(
        [
            (True, b"a1 APPEND INBOX {12}\r\n"),
            (False, b"+ Ready\r\n"),
            (True, b"hello\r\nworl"),
            (True, b"d\r\n"),
            (False, b"* 1 FETCH (BODY[] {3}\r\nabc FLAGS ())\r\n"),
        ]
    )
    assert lines == [
        "C: a1 APPEND INBOX {12}",
        "S: + Ready",
        "C: <12 octets>",
        "S: * 1 FETCH (BODY[] {3}",
        "S: <3 octets> FLAGS ())",
    ]


def test_login_keeps_the_user_only() -> None:
    lines = run(
        [
            (True, b"a1 LOGIN joe s3cret\r\n"),
            (True, b'a2 login "j o" "s3 \\" cret"\r\n'),
            (True, b"a3 LOGIN {3}\r\njoe {6+}\r\ns3cret\r\n"),
            (True, b'a4 LOGIN "joe s3cret\r\n'),
            (True, b"a5 NOOP\r\n"),
        ]
    )
    assert lines == [
        "C: a1 LOGIN joe <redacted>",
        'C: a2 login "j o" <redacted>',
        "C: a3 LOGIN {3}",
        "C: <3 octets> <redacted>",
        "C: <redacted>",
        "C: a4 LOGIN <redacted>",
        "C: a5 NOOP",
    ]


def test_authenticate_exchange_is_redacted_until_its_tagged_response() -> None:
    lines = run(
        [
            (True, b"a1 AUTHENTICATE PLAIN AGpvZQBzM2NyZXQ=\r\n"),
            (False, b"a1 OK done\r\n"),
            (True, b"a2 AUTHENTICATE SCRAM-SHA-256\r\n"),
            (False, b"+ \r\n"),
            (True, b"biwsbj1qb2Uscj1ybm9uY2U=\r\n"),
            (False, b"+ cj1ybm9uY2VzZXJ2ZXI=\r\n"),
            (True, b"Yz1iaXdzLHI9cm5vbmNl\r\n"),
            (False, b"* CAPABILITY IMAP4rev2\r\na2 OK authenticated\r\n"),
            (True, b"a3 NOOP\r\n"),
            (False, b"+ not in an exchange\r\n"),
        ]
    )
    assert lines == [
        "C: a1 AUTHENTICATE PLAIN <redacted>",
        "S: a1 OK done",
        "C: a2 AUTHENTICATE SCRAM-SHA-256",
        "S: +",
        "C: <redacted>",
        "S: + <redacted>",
        "C: <redacted>",
        "S: * CAPABILITY IMAP4rev2",
        "S: a2 OK authenticated",
        "C: a3 NOOP",
        "S: + not in an exchange",
    ]


# -- a password never shows, whatever the shape and the chunking --------------------------------

_MARK = "Zq9"
passwords = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=20
).map(lambda s: _MARK + s)
users = st.text(st.sampled_from("abcdefgh"), min_size=1, max_size=8)
cuts = st.lists(st.integers(min_value=0, max_value=200), max_size=6)


def _quoted(text: str) -> bytes:
    return b'"' + text.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'


def _login(user: str, password: str, user_shape: str, password_shape: str) -> Exchange:
    exchange: Exchange = []
    line = b"t1 LOGIN "
    for value, shape, last in ((user, user_shape, False), (password, password_shape, True)):
        raw = value.encode()
        if shape == "atom" and all(c.isalnum() for c in value):
            line += raw
        elif shape in ("literal", "literal+"):
            plus = b"+" if shape == "literal+" else b""
            exchange.append((True, line + b"{%d%s}\r\n" % (len(raw), plus)))
            if not plus:
                exchange.append((False, b"+ Ready for literal data\r\n"))
            line = raw
        else:
            line += _quoted(value)
        line += b"\r\n" if last else b" "
    exchange.append((True, line))
    exchange.append((False, b"t1 OK LOGIN completed\r\n"))
    return exchange


shapes = st.sampled_from(["atom", "quoted", "literal", "literal+"])


@given(users, passwords, shapes, shapes, cuts)
def test_login_password_never_shows(
    user: str, password: str, user_shape: str, password_shape: str, cut: list[int]
) -> None:
    exchange = _login(user, password, user_shape, password_shape)
    exchange.append((True, b"t2 NOOP\r\n"))
    text = "\n".join(run(exchange, cut))
    assert password not in text
    assert _MARK not in text
    assert "C: t2 NOOP" in text


@given(users, passwords, st.booleans(), st.sampled_from(["OK", "NO", "BAD"]), cuts)
def test_authenticate_payloads_never_show(
    user: str, password: str, initial_response: bool, status: str, cut: list[int]
) -> None:
    payload = base64.b64encode(f"\0{user}\0{password}".encode())
    challenge = base64.b64encode(f"r={_MARK}{password}".encode())
    exchange: Exchange
    if initial_response:
        exchange = [(True, b"t1 AUTHENTICATE PLAIN " + payload + b"\r\n")]
    else:
        exchange = [
            (True, b"t1 AUTHENTICATE PLAIN\r\n"),
            (False, b"+ " + challenge + b"\r\n"),
            (True, payload + b"\r\n"),
            (False, b"+ " + challenge + b"\r\n"),
            (True, b"*\r\n"),
        ]
    exchange += [(False, f"t1 {status} done\r\n".encode()), (True, b"t2 NOOP\r\n")]
    text = "\n".join(run(exchange, cut))
    for secret in (password, payload.decode(), challenge.decode(), _MARK):
        assert secret not in text
    assert "C: t1 AUTHENTICATE PLAIN" in text
    assert "C: t2 NOOP" in text


def client(data: bytes, state: TraceState) -> list[str]:
    return trace_lines(data, sent_by_client=True, state=state)


def server(data: bytes, state: TraceState) -> list[str]:
    return trace_lines(data, sent_by_client=False, state=state)


def test_refused_literal_does_not_hide_the_next_commands() -> None:
    # The server refused the literal before its "+": the client never sends it, and what it
    # sends next is commands, which the trace must show.
    state = TraceState()
    assert client(b"a2 NOOP {9000}\r\n", state) == ["a2 NOOP {9000}"]
    assert server(b"a2 NO [TOOBIG] too big\r\n", state) == ["a2 NO [TOOBIG] too big"]
    assert client(b"a3 LOGIN u secret\r\na4 CREATE x\r\n", state) == [
        "a3 LOGIN u <redacted>",
        "a4 CREATE x",
    ]


def test_accepted_literal_is_still_skipped() -> None:
    state = TraceState()
    client(b"a2 APPEND x {5}\r\n", state)
    assert server(b"+ go\r\n", state) == ["+ go"]
    assert client(b"hello\r\na3 NOOP\r\n", state) == ["<5 octets>", "a3 NOOP"]


def test_sasl_response_to_a_refused_authenticate_is_redacted() -> None:
    # A client that sends its response without waiting for "+": the server refuses the
    # AUTHENTICATE at once, reads the response as a command and repeats it as a tag.
    payload = base64.b64encode(b"\x00user\x00hunter2")
    state = TraceState()
    assert client(b"a1 AUTHENTICATE PLAIN\r\n", state) == ["a1 AUTHENTICATE PLAIN"]
    assert server(b"a1 NO [PRIVACYREQUIRED] no\r\n", state) == ["a1 NO [PRIVACYREQUIRED] no"]
    assert client(payload + b"\r\n", state) == ["<redacted>"]
    assert server(payload + b" BAD missing command name\r\n", state) == [
        "<redacted> BAD missing command name"
    ]
    # IDLE's DONE and a SASL cancel stay visible.
    assert client(b"DONE\r\n", state) == ["DONE"]
