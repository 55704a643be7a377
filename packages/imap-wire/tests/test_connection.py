"""The connection objects: `ServerConnection` and `ClientConnection` (sans-I/O, h11 style)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterable
from typing import Any

import pytest

from imap_wire._commands import Authenticate, Enable, Id, Idle, Login, Noop, Search, StartTLS
from imap_wire._connection import (
    NEED_DATA,
    AuthenticateResponse,
    ClientConnection,
    ConnectionClosed,
    ContinuationRequired,
    IdleDone,
    LiteralRefused,
    LiteralRequest,
    ServerConnection,
)
from imap_wire._encoding import LiteralMode, LiteralSource
from imap_wire._framer import LiteralChunk, LiteralStarted
from imap_wire._limits import Limits
from imap_wire._mailbox_commands import Append, Select
from imap_wire._response_codes import CapabilityCode, response_code
from imap_wire._responses import (
    CapabilityResponse,
    ContinuationRequest,
    EnabledResponse,
    ExistsResponse,
    ListResponse,
    ResponseStatus,
    StatusResponse,
)
from imap_wire._state import ConnectionState
from imap_wire.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError

OK, NO, BAD = ResponseStatus.OK, ResponseStatus.NO, ResponseStatus.BAD
AUTH = ConnectionState.AUTHENTICATED
SELECTED = ConnectionState.SELECTED


def _error(exc: RemoteProtocolError) -> tuple[str, str, str | None, str, str | None]:
    return (type(exc).__name__, exc.text, exc.tag, exc.status, exc.code)


def events(conn: ServerConnection | ClientConnection, data: bytes = b"") -> list[Any]:
    """Feed ``data`` (if any) and return the events up to NEED_DATA, errors as tuples."""
    if data:
        conn.receive_data(data)
    out: list[Any] = []
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            out.append(_error(exc))
            if exc.fatal:
                return out
            continue
        if event is NEED_DATA:
            return out
        out.append(event)


def utf8_of(conn: ServerConnection | ClientConnection) -> bool:
    """Read ``conn.utf8`` (a function call, so mypy does not narrow it across events)."""
    return conn.utf8


def mode_of(conn: ClientConnection) -> LiteralMode:
    """Read ``conn.literal_mode`` without mypy narrowing it across events."""
    return conn.literal_mode


def authenticated() -> ServerConnection:
    conn = ServerConnection()
    assert conn.send(StatusResponse(tag=None, status=ResponseStatus.PREAUTH, text="hi")) == (
        b"* PREAUTH hi\r\n"
    )
    assert conn.state is AUTH
    return conn


def selected() -> ServerConnection:
    conn = authenticated()
    assert events(conn, b"s SELECT INBOX\r\n") == [Select(tag="s", mailbox="INBOX")]
    conn.send(StatusResponse(tag="s", status=OK, text="selected"))
    assert conn.state is SELECTED
    return conn


def bad(tag: str | None, text: str, kind: str = "RemoteProtocolError") -> tuple[Any, ...]:
    return (kind, text, tag, "BAD", None)


# -- server: commands and state ------------------------------------------------------------


def test_login_then_select() -> None:
    conn = ServerConnection()
    assert conn.state is ConnectionState.NOT_AUTHENTICATED
    assert events(conn, b"a1 LOGIN alice secret\r\n") == [
        Login(tag="a1", username="alice", password="secret")
    ]
    assert conn.state is ConnectionState.NOT_AUTHENTICATED  # until the server says OK
    assert conn.send(StatusResponse(tag="a1", status=OK, text="welcome")) == b"a1 OK welcome\r\n"
    assert conn.state is AUTH
    assert events(conn, b"a2 SELECT INBOX\r\n") == [Select(tag="a2", mailbox="INBOX")]
    conn.send(StatusResponse(tag="a2", status=OK, text="done"))
    assert conn.state is SELECTED


def test_failed_login_keeps_the_state() -> None:
    conn = ServerConnection()
    events(conn, b"a1 LOGIN alice wrong\r\n")
    conn.send(StatusResponse(tag="a1", status=NO, text="no"))
    assert conn.state is ConnectionState.NOT_AUTHENTICATED


def test_command_not_valid_in_the_state() -> None:
    conn = ServerConnection()
    assert events(conn, b"a1 SELECT INBOX\r\na2 FETCH 1 FLAGS\r\na3 NOOP\r\n") == [
        bad("a1", "SELECT is not valid in the not authenticated state"),
        bad("a2", "FETCH is not valid in the not authenticated state"),
        Noop(tag="a3"),
    ]
    conn = authenticated()
    assert events(conn, b"b1 LOGIN a b\r\nb2 FETCH 1 FLAGS\r\n") == [
        bad("b1", "LOGIN is not valid in the authenticated state"),
        bad("b2", "FETCH is not valid in the authenticated state"),
    ]


def test_tag_reuse() -> None:
    conn = ServerConnection()
    assert events(conn, b"a NOOP\r\na NOOP\r\n") == [
        Noop(tag="a"),
        bad("a", "tag already in use"),
    ]
    conn.send(StatusResponse(tag="a", status=OK, text="done"))
    assert events(conn, b"a NOOP\r\n") == [Noop(tag="a")]


def test_long_session_of_short_commands() -> None:
    conn = ServerConnection()
    got: list[Any] = []
    for n in range(10_000):  # 100 KiB of commands
        got += events(conn, b"t%05d NOOP\r\n" % n)
        conn.send(StatusResponse(tag=f"t{n:05d}", status=OK, text="done"))
    assert got == [Noop(tag=f"t{n:05d}") for n in range(10_000)]


def test_malformed_commands_continue() -> None:
    conn = ServerConnection()
    got = events(conn, b"a FROB\r\n\r\nb LOGIN x\r\nc NOOP\r\n")
    assert got[0] == bad("a", "unknown command")
    assert got[1][:3] == ("RemoteProtocolError", "empty command line", None)
    assert got[2][2:4] == ("b", "BAD")
    assert got[3] == Noop(tag="c")


def test_literal_in_a_uid_command_gets_its_continuation() -> None:
    # The framer sees only "UID" before the literal; the line is checked once complete.
    conn = selected()
    got = events(conn, b"a UID SEARCH CHARSET UTF-8 TEXT {2}\r\n")
    assert [type(e).__name__ for e in got] == ["ContinuationRequired"]
    (search,) = events(conn, b"hi\r\n")
    assert isinstance(search, Search) and search.uid


def test_server_greeting_and_bye() -> None:
    conn = authenticated()
    assert (
        conn.send(StatusResponse(tag=None, status=ResponseStatus.BYE, text="bye"))
        == b"* BYE bye\r\n"
    )
    assert conn.state is ConnectionState.LOGOUT
    assert events(conn, b"a NOOP\r\n") == [bad("a", "NOOP is not valid in the logout state")]


# -- server: limits ------------------------------------------------------------------------


def test_line_too_long() -> None:
    conn = ServerConnection(limits=Limits(max_line_length=20))
    assert events(conn, b"abc NOOP" + b" " * 30 + b"\r\nb NOOP\r\n") == [
        bad("abc", "line longer than 20 octets", "LimitExceeded"),
        Noop(tag="b"),
    ]


def test_synchronizing_literal_too_large_is_refused_before_any_continuation() -> None:
    conn = ServerConnection(limits=Limits(max_literal_size=10))
    assert events(conn, b"a LOGIN {11}\r\n") == [
        ("LimitExceeded", "literal of 11 octets is too large", "a", "NO", "TOOBIG")
    ]
    # No "+" was sent, so the client sends its next command.
    assert events(conn, b"b NOOP\r\n") == [Noop(tag="b")]


def test_non_synchronizing_literal_too_large_is_skipped() -> None:
    conn = ServerConnection(limits=Limits(max_literal_size=10))
    assert events(conn, b"a LOGIN {11+}\r\nb NOOP\r\nx y\r\nc NOOP\r\n") == [
        ("LimitExceeded", "literal of 11 octets is too large", "a", "BAD", "TOOBIG"),
        Noop(tag="c"),
    ]


def test_literal_minus() -> None:
    conn = ServerConnection(literal_minus=True)
    assert events(conn, b"a LOGIN {4097+}\r\n" + b"x" * 4097 + b" y\r\n") == [
        ("LimitExceeded", "literal of 4097 octets is too large", "a", "BAD", "TOOBIG")
    ]
    assert events(conn, b"b LOGIN {4096+}\r\n" + b"x" * 4096 + b" y\r\n") == [
        Login(tag="b", username="x" * 4096, password="y")
    ]
    assert events(conn, b"c LOGIN {5000}\r\n") == [ContinuationRequired(tag="c", size=5000)]
    # Without LITERAL- the server takes the large non-synchronizing literal.
    plus = ServerConnection()
    assert events(plus, b"a LOGIN {4097+}\r\n" + b"x" * 4097 + b" y\r\n") == [
        Login(tag="a", username="x" * 4097, password="y")
    ]


def test_inline_literal_total() -> None:
    conn = ServerConnection(limits=Limits(max_inline_literals=10))
    assert events(conn, b"a LOGIN {6+}\r\nabcdef {6+}\r\nabcdef\r\nb NOOP\r\n") == [
        ("LimitExceeded", "literals of this line are too large in total", "a", "BAD", "TOOBIG"),
        Noop(tag="b"),
    ]


def _nested(depth: int) -> bytes:
    return b"a ID " + b"(" * depth + b'"k" NIL' + b")" * depth + b"\r\n"


def test_nesting_depth_limit() -> None:
    conn = ServerConnection(limits=Limits(max_depth=3))
    got = events(conn, _nested(4) + b"b NOOP\r\n")
    assert [g[:2] for g in got[:1]] == [("LimitExceeded", "parentheses nested deeper than 3")]
    assert got[1:] == [Noop(tag="b")]
    # At the limit the line reaches the grammar.
    assert events(ServerConnection(limits=Limits(max_depth=1)), _nested(1)) == [
        Id(tag="a", parameters=(("k", None),))
    ]


def test_item_count_limit() -> None:
    conn = ServerConnection(limits=Limits(max_items=8))
    got = events(conn, b'a ID ("a" "b" "c" "d" "e" "f")\r\nb NOOP\r\n')
    assert got[0][:2] == ("LimitExceeded", "more than 8 items in one line")
    assert got[1:] == [Noop(tag="b")]


_TOKENIZE_ERRORS = {
    "depth": (Limits(max_depth=2), _nested(3)),
    "items": (Limits(max_items=4), b'a ID ("a" "b" "c")\r\n'),
    "unbalanced-close": (Limits(), b"a NOOP)\r\n"),
    "unbalanced-open": (Limits(), b"a ID (\r\n"),
    "unterminated-quote": (Limits(), b'a LOGIN "bob\r\n'),
}


@pytest.mark.parametrize("case", sorted(_TOKENIZE_ERRORS))
def test_tokenize_errors_carry_the_tag(case: str) -> None:
    limits, data = _TOKENIZE_ERRORS[case]
    (error,) = events(ServerConnection(limits=limits), data)
    assert error[2:4] == ("a", "BAD")


def test_memory_bounded_without_crlf() -> None:
    conn = ServerConnection()
    chunk = b"x" * 65536
    errors: list[Any] = []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        errors += events(conn, b"a1 LOGIN " + chunk[9:])
        for _ in range(159):  # 10 MiB in all
            errors += events(conn, chunk)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert errors == [bad("a1", "line longer than 65536 octets", "LimitExceeded")]
    assert peak < 1 << 20, peak
    assert events(conn, b"\r\nb NOOP\r\n") == [Noop(tag="b")]


# -- server: literals and the policy hook --------------------------------------------------


def test_synchronizing_literal_needs_a_continuation() -> None:
    conn = ServerConnection()
    assert events(conn, b"a LOGIN {5}\r\n") == [ContinuationRequired(tag="a", size=5)]
    assert ContinuationRequired(tag="a", size=5).data == b"+ Ready for literal data\r\n"
    assert events(conn, b"alice {6}\r\n") == [ContinuationRequired(tag="a", size=6)]
    assert events(conn, b"secret\r\n") == [Login(tag="a", username="alice", password="secret")]


def test_literal_policy() -> None:
    asked: list[LiteralRequest] = []
    refusal = StatusResponse(tag="x", status=NO, code=response_code("TOOBIG"), text="too big")

    def policy(request: LiteralRequest) -> StatusResponse | None:
        asked.append(request)
        return refusal if request.size > 5 else None

    conn = ServerConnection(literal_policy=policy)
    # Accepted: the continuation is for the application to send.
    assert events(conn, b"a LOGIN {3}\r\n") == [ContinuationRequired(tag="a", size=3)]
    # Refused (synchronizing): no continuation, the command is dropped, the next line parses.
    assert events(conn, b"bob {6}\r\n") == [LiteralRefused(tag="a", response=refusal)]
    assert events(conn, b"b NOOP\r\n") == [Noop(tag="b")]
    # Refused (non-synchronizing): the octets on their way are skipped with the line.
    assert events(conn, b"c LOGIN {3+}\r\nbob {6+}\r\nsecret\r\nd NOOP\r\n") == [
        LiteralRefused(tag="c", response=refusal),
        Noop(tag="d"),
    ]
    assert asked == [
        LiteralRequest(tag="a", command="LOGIN", size=3, binary=False, synchronizing=True),
        LiteralRequest(tag="a", command="LOGIN", size=6, binary=False, synchronizing=True),
        LiteralRequest(tag="c", command="LOGIN", size=3, binary=False, synchronizing=False),
        LiteralRequest(tag="c", command="LOGIN", size=6, binary=False, synchronizing=False),
    ]


def test_literal_policy_sees_literal8() -> None:
    asked: list[LiteralRequest] = []

    def policy(request: LiteralRequest) -> StatusResponse | None:
        asked.append(request)
        return None

    conn = authenticated()
    conn.literal_policy = policy
    got = events(conn, b"a APPEND box ~{3+}\r\n\x00\x01\x02\r\n")
    assert asked == [
        LiteralRequest(tag="a", command="APPEND", size=3, binary=True, synchronizing=False)
    ]
    assert got == [Append(tag="a", mailbox="box", message=b"\x00\x01\x02", binary=True)]


def test_streamed_append() -> None:
    conn = ServerConnection(stream_literals_over=4)
    conn.send(StatusResponse(tag=None, status=ResponseStatus.PREAUTH, text="hi"))
    got = events(conn, b"a APPEND box {10+}\r\n0123456789\r\n")
    assert [type(e) for e in got] == [LiteralStarted, LiteralChunk, Append]
    assert got[1] == LiteralChunk(b"0123456789")
    (inline,) = events(authenticated(), b"a APPEND box {10+}\r\n0123456789\r\n")
    assert isinstance(inline, Append)
    assert inline.message == b"0123456789"


# -- server: AUTHENTICATE and IDLE ---------------------------------------------------------


def test_authenticate_exchange() -> None:
    conn = ServerConnection()
    assert events(conn, b"a AUTHENTICATE PLAIN\r\n") == [Authenticate(tag="a", mechanism="PLAIN")]
    # Until the server sends a continuation request, lines are commands.
    assert conn.send(ContinuationRequest(text="")) == b"+ \r\n"
    assert events(conn, b"AGJvYgBwdw==\r\n") == [
        AuthenticateResponse(tag="a", data=b"\x00bob\x00pw")
    ]
    conn.send(ContinuationRequest(text="more"))
    assert events(conn, b"\r\n") == [AuthenticateResponse(tag="a", data=b"")]
    conn.send(StatusResponse(tag="a", status=OK, text="ok"))
    assert conn.state is AUTH
    # The exchange is over: the next line is a command again.
    assert events(conn, b"b NOOP\r\n") == [Noop(tag="b")]


def test_authenticate_cancelled() -> None:
    conn = ServerConnection()
    events(conn, b"a AUTHENTICATE PLAIN\r\n")
    conn.send(ContinuationRequest(text=""))
    assert events(conn, b"*\r\n") == [AuthenticateResponse(tag="a", cancelled=True)]
    conn.send(StatusResponse(tag="a", status=BAD, text="cancelled"))
    assert conn.state is ConnectionState.NOT_AUTHENTICATED


def test_authenticate_invalid_base64() -> None:
    conn = ServerConnection()
    events(conn, b"a AUTHENTICATE PLAIN\r\n")
    conn.send(ContinuationRequest(text=""))
    assert events(conn, b"not base64!\r\n") == [bad("a", "invalid base64 in SASL response")]


def test_authenticate_response_cannot_be_a_literal() -> None:
    conn = ServerConnection()
    events(conn, b"a AUTHENTICATE PLAIN\r\n")
    conn.send(ContinuationRequest(text=""))
    assert events(conn, b"{5}\r\nb NOOP\r\n") == [bad("a", "unexpected literal")]
    # Nothing more is read until the server has answered the exchange.
    conn.send(StatusResponse(tag="a", status=BAD, text="unexpected literal"))
    assert events(conn) == [Noop(tag="b")]


def test_nothing_is_read_during_an_exchange_until_the_server_answers() -> None:
    conn = ServerConnection()
    # A SASL response sent before the "+" is not taken for a command (nor its text for a tag).
    assert events(conn, b"a AUTHENTICATE PLAIN\r\nAGFsaWNlAHB3\r\n") == [
        Authenticate(tag="a", mechanism="PLAIN", initial_response=None)
    ]
    conn.send(ContinuationRequest(text=""))
    assert events(conn) == [AuthenticateResponse(tag="a", data=b"\x00alice\x00pw")]
    assert events(conn, b"b NOOP\r\n") == []
    conn.send(StatusResponse(tag="a", status=OK, text="done"))
    assert events(conn) == [Noop(tag="b")]
    # IDLE: a command pipelined behind IDLE waits for the server's answer to IDLE.
    assert events(conn, b"c IDLE\r\nd NOOP\r\n") == [Idle(tag="c")]
    conn.send(ContinuationRequest(text="idling"))
    assert events(conn, b"DONE\r\n") == [bad("c", "expected DONE")]


def test_an_overlong_sasl_line_is_refused_under_the_exchange_tag() -> None:
    conn = ServerConnection(limits=Limits(max_line_length=100))
    events(conn, b"a1 AUTHENTICATE PLAIN\r\n")
    conn.send(ContinuationRequest(text=""))
    got = events(conn, b"c2VjcmV0" * 50 + b"\r\n")
    assert got[0][2:4] == ("a1", "BAD")


def test_authenticate_response_repr_hides_the_data() -> None:
    assert "pw" not in repr(AuthenticateResponse(tag="a", data=b"\x00bob\x00pw"))


def test_authenticate_initial_response() -> None:
    conn = ServerConnection()
    assert events(conn, b"a AUTHENTICATE PLAIN AGJvYgBwdw==\r\n") == [
        Authenticate(tag="a", mechanism="PLAIN", initial_response=b"\x00bob\x00pw")
    ]


def test_idle_done() -> None:
    conn = authenticated()
    assert events(conn, b"i IDLE\r\n") == [Idle(tag="i")]
    assert conn.send(ContinuationRequest(text="idling")) == b"+ idling\r\n"
    assert conn.send(ExistsResponse(count=4)) == b"* 4 EXISTS\r\n"
    assert events(conn, b"done\r\n") == [IdleDone(tag="i")]
    conn.send(StatusResponse(tag="i", status=OK, text="IDLE terminated"))
    assert events(conn, b"j IDLE\r\n") == [Idle(tag="j")]
    conn.send(ContinuationRequest(text="idling"))
    assert events(conn, b"NOOP\r\n") == [bad("j", "expected DONE")]


# -- server: STARTTLS ----------------------------------------------------------------------


def test_starttls_drops_injected_plaintext() -> None:
    conn = ServerConnection()
    assert events(conn, b"s STARTTLS\r\n")[0] == StartTLS(tag="s")
    conn.receive_data(b"x LOGIN evil pw\r\n")  # came in the same packet, before TLS
    conn.send(StatusResponse(tag="s", status=OK, text="begin TLS"))
    assert conn.plaintext_injected
    assert events(conn) == []
    # After the handshake, commands are read again.
    assert events(conn, b"y NOOP\r\n") == [Noop(tag="y")]


def test_starttls_drops_a_partial_line_too() -> None:
    conn = ServerConnection()
    conn.receive_data(b"s STARTTLS\r\nx LOG")
    assert conn.next_event() == StartTLS(tag="s")
    assert conn.next_event() is NEED_DATA
    conn.send(StatusResponse(tag="s", status=OK, text="begin TLS"))
    assert conn.plaintext_injected
    assert events(conn, b"y NOOP\r\n") == [Noop(tag="y")]


def test_starttls_without_injection() -> None:
    conn = ServerConnection()
    events(conn, b"s STARTTLS\r\n")
    conn.send(StatusResponse(tag="s", status=OK, text="begin TLS"))
    assert not conn.plaintext_injected
    assert events(conn, b"y NOOP\r\n") == [Noop(tag="y")]


def test_nothing_is_read_after_starttls_until_it_is_answered() -> None:
    # A server that pulls events before answering must not get the injected command.
    conn = ServerConnection()
    conn.receive_data(b"s STARTTLS\r\nx LOGIN evil pw\r\n")
    assert conn.next_event() == StartTLS(tag="s")
    assert conn.next_event() is NEED_DATA
    conn.send(StatusResponse(tag="s", status=OK, text="begin TLS"))
    assert conn.plaintext_injected
    assert conn.next_event() is NEED_DATA


def test_refused_starttls_keeps_the_pipelined_command() -> None:
    conn = ServerConnection()
    conn.receive_data(b"s STARTTLS\r\nx NOOP\r\n")
    assert conn.next_event() == StartTLS(tag="s")
    conn.send(StatusResponse(tag="s", status=NO, text="no TLS"))
    assert not conn.plaintext_injected
    assert events(conn) == [Noop(tag="x")]


# -- server: end of stream -----------------------------------------------------------------


def test_clean_end_of_stream() -> None:
    conn = ServerConnection()
    assert events(conn, b"a NOOP\r\n") == [Noop(tag="a")]
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.state is ConnectionState.LOGOUT
    assert conn.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"more")


@pytest.mark.parametrize("tail", [b"a NOO", b"a LOGIN {5+}\r\nab"])
def test_end_of_stream_mid_line_is_fatal(tail: bytes) -> None:
    conn = ServerConnection()
    assert events(conn, tail) == []
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.fatal
    assert info.value.response == StatusResponse(
        tag=None, status=ResponseStatus.BYE, text="connection closed in the middle of a line"
    )


@pytest.mark.parametrize("conn_type", [ServerConnection, ClientConnection])
def test_end_of_stream_mid_line_then_closed(
    conn_type: type[ServerConnection] | type[ClientConnection],
) -> None:
    conn = conn_type()
    conn.receive_data(b"a NOO")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert conn.next_event() == ConnectionClosed()
    assert conn.state is ConnectionState.LOGOUT


# -- RemoteProtocolError.response ----------------------------------------------------------


def test_error_response_renders() -> None:
    conn = ServerConnection()
    conn.receive_data(b"a1 SELECT INBOX\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    response = info.value.response
    assert response == StatusResponse(
        tag="a1", status=BAD, text="SELECT is not valid in the not authenticated state"
    )
    assert conn.send(response) == b"a1 BAD SELECT is not valid in the not authenticated state\r\n"
    fatal = RemoteProtocolError("gone", tag="a1", fatal=True)
    assert fatal.response == StatusResponse(tag=None, status=ResponseStatus.BYE, text="gone")


def test_error_response_text_does_not_echo_the_password() -> None:
    conn = ServerConnection()
    conn.receive_data(b'a LOGIN alice "pass word" extra\r\n')
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert "pass word" not in info.value.text
    assert b"pass word" not in conn.send(info.value.response)


def test_error_response_renders_its_code() -> None:
    conn = ServerConnection(limits=Limits(max_literal_size=10))
    conn.receive_data(b"a LOGIN {11}\r\n")
    with pytest.raises(LimitExceeded) as info:
        conn.next_event()
    assert info.value.response == StatusResponse(
        tag="a", status=NO, code=response_code("TOOBIG"), text="literal of 11 octets is too large"
    )
    assert conn.send(info.value.response) == (
        b"a NO [TOOBIG] literal of 11 octets is too large\r\n"
    )


# -- server: UTF8=ACCEPT -------------------------------------------------------------------


def test_server_utf8_accept() -> None:
    conn = authenticated()
    name = "Entwürfe".encode()
    assert events(conn, b"a SELECT " + name + b"\r\n")[0][2:4] == ("a", "BAD")
    assert not utf8_of(conn)
    conn.send(EnabledResponse(capabilities=("UTF8=ACCEPT",)))
    assert utf8_of(conn)
    # UTF-8 goes in quoted strings (RFC 9755: an atom stays ASCII).
    assert events(conn, b'b SELECT "' + name + b'"\r\n') == [Select(tag="b", mailbox="Entwürfe")]
    listed = conn.send(ListResponse(attributes=(), delimiter="/", mailbox="Entwürfe"))
    assert listed == b'* LIST () "/" "' + name + b'"\r\n'


def test_server_imap4rev2_names_mailboxes_in_utf8() -> None:
    # RFC 9051 section 5.1: after ENABLE IMAP4rev2, names are UTF-8, not modified UTF-7.
    conn = authenticated()
    conn.send(EnabledResponse(capabilities=("IMAP4rev2",)))
    assert utf8_of(conn)
    listed = conn.send(ListResponse(attributes=(), delimiter="/", mailbox="Entwürfe"))
    assert listed == b'* LIST () "/" "' + "Entwürfe".encode() + b'"\r\n'


# -- client --------------------------------------------------------------------------------


def test_client_literal_mode_follows_capabilities() -> None:
    conn = ClientConnection()
    assert mode_of(conn) is LiteralMode.SYNC
    events(conn, b"* OK [CAPABILITY IMAP4rev2 LITERAL-] ready\r\n")
    assert mode_of(conn) is LiteralMode.MINUS
    assert conn.capabilities == {"IMAP4REV2", "LITERAL-"}
    events(conn, b"* CAPABILITY IMAP4rev2 literal+ LITERAL-\r\n")
    assert mode_of(conn) is LiteralMode.PLUS
    events(conn, b"* CAPABILITY IMAP4rev2\r\n")
    assert mode_of(conn) is LiteralMode.SYNC
    got = events(conn, b"a OK [CAPABILITY IMAP4rev2 LITERAL+] done\r\n")
    assert got == [
        StatusResponse(
            tag="a",
            status=OK,
            code=CapabilityCode(capabilities=("IMAP4rev2", "LITERAL+")),
            text="done",
        )
    ]
    assert mode_of(conn) is LiteralMode.PLUS


_PASSWORD = "pässword"  # 8-bit: always a literal outside UTF-8 mode


def test_client_encodes_synchronizing_literals_with_waits() -> None:
    conn = ClientConnection()
    encoded = conn.send(Login(tag="a", username="bob", password=_PASSWORD))
    assert encoded.parts == (b"a LOGIN bob {9}\r\n", "pässword\r\n".encode())
    assert encoded.wait_after == (True, False)
    assert encoded.data == b"a LOGIN bob {9}\r\n" + "pässword\r\n".encode()


def test_client_encodes_literal_plus_and_minus() -> None:
    conn = ClientConnection()
    events(conn, b"* CAPABILITY IMAP4rev2 LITERAL+\r\n")
    encoded = conn.send(Login(tag="a", username="bob", password=_PASSWORD))
    assert encoded.parts == (b"a LOGIN bob {9+}\r\n" + "pässword\r\n".encode(),)
    assert encoded.wait_after == (False,)
    events(conn, b"* CAPABILITY IMAP4rev2 LITERAL-\r\n")
    big = "ä" * 2049  # 4098 octets: over LITERAL-'s 4096
    encoded = conn.send(Login(tag="b", username=_PASSWORD, password=big))
    assert encoded.parts[0] == b"b LOGIN {9+}\r\n" + _PASSWORD.encode() + b" {4098}\r\n"
    assert encoded.wait_after == (True, False)


def test_client_streams_a_literal_source() -> None:
    conn = ClientConnection()
    events(conn, b"* PREAUTH ready\r\n")
    encoded = conn.send(Append(tag="a", mailbox="INBOX", message=LiteralSource(size=10)))
    parts = [p for p in encoded.parts if p != b""]
    assert parts == [b"a APPEND INBOX {10}\r\n", LiteralSource(size=10), b"\r\n"]
    assert encoded.wait_after[0]
    with pytest.raises(LocalProtocolError):
        _ = encoded.data


def test_client_state_and_tags() -> None:
    conn = ClientConnection()
    with pytest.raises(LocalProtocolError):
        conn.send(Select(tag="s", mailbox="INBOX"))
    conn.send(Login(tag="a", username="bob", password="pw"))
    with pytest.raises(LocalProtocolError):
        conn.send(Noop(tag="a"))
    assert events(conn, b"a OK welcome\r\n") == [StatusResponse(tag="a", status=OK, text="welcome")]
    assert conn.state is AUTH
    conn.send(Noop(tag="a"))  # the tag is free again
    conn.send(Select(tag="s", mailbox="INBOX"))
    events(conn, b"* 3 EXISTS\r\ns OK [READ-WRITE] selected\r\n")
    assert conn.state is SELECTED


def test_client_preauth_and_bye() -> None:
    conn = ClientConnection()
    assert events(conn, b"* PREAUTH logged in\r\n") == [
        StatusResponse(tag=None, status=ResponseStatus.PREAUTH, text="logged in")
    ]
    assert conn.state is AUTH
    events(conn, b"* BYE shutting down\r\n")
    assert conn.state is ConnectionState.LOGOUT
    with pytest.raises(LocalProtocolError):
        conn.send(Noop(tag="n"))


def test_client_utf8_accept() -> None:
    conn = ClientConnection()
    events(conn, b"* PREAUTH ready\r\n")
    assert conn.send(Select(tag="s", mailbox="Entwürfe")).data == b"s SELECT Entw&APw-rfe\r\n"
    conn.send(Enable(tag="e", capabilities=("UTF8=ACCEPT",)))
    assert events(conn, b"* ENABLED UTF8=ACCEPT\r\ne OK enabled\r\n")[0] == EnabledResponse(
        capabilities=("UTF8=ACCEPT",)
    )
    assert conn.utf8
    assert conn.send(Select(tag="t", mailbox="Entwürfe")).data == (
        b's SELECT "' + "Entwürfe".encode() + b'"\r\n'
    ).replace(b"s SELECT", b"t SELECT")
    assert events(conn, b'* LIST () "/" ' + "Entwürfe".encode() + b"\r\n") == [
        ListResponse(attributes=(), delimiter="/", mailbox="Entwürfe")
    ]


def test_client_skips_a_bad_line() -> None:
    conn = ClientConnection()
    got = events(conn, b"* 1 FETCH (((\r\n* 2 EXISTS\r\n")
    assert got[0][0] == "RemoteProtocolError"
    assert got[1:] == [ExistsResponse(count=2)]


def test_client_helpers() -> None:
    assert ClientConnection.continuation_data(b"\x00bob\x00pw") == b"AGJvYgBwdw==\r\n"
    assert ClientConnection.DONE == b"DONE\r\n"
    assert ClientConnection.CANCEL == b"*\r\n"


def test_client_continuation_and_capability_responses() -> None:
    conn = ClientConnection()
    assert events(conn, b"+ Ready for literal data\r\n* CAPABILITY IMAP4rev2\r\n") == [
        ContinuationRequest(text="Ready for literal data"),
        CapabilityResponse(capabilities=("IMAP4rev2",)),
    ]


def test_client_end_of_stream() -> None:
    conn = ClientConnection()
    conn.receive_data(b"* OK hi\r\n")
    conn.receive_data(b"")
    assert conn.next_event() == StatusResponse(tag=None, status=OK, text="hi")
    assert conn.next_event() == ConnectionClosed()
    assert conn.state is ConnectionState.LOGOUT


# -- both ends talking ---------------------------------------------------------------------


def _write(server: ServerConnection, parts: Iterable[tuple[bytes, bool]]) -> list[Any]:
    """Send a command's parts, waiting where the encoding says (the server's ``+``)."""
    got: list[Any] = []
    for data, wait in parts:
        got += events(server, data)
        if wait:
            assert isinstance(got[-1], ContinuationRequired)
    return got


def test_client_and_server_exchange_a_synchronizing_literal() -> None:
    client, server = ClientConnection(), ServerConnection()
    login = Login(tag="a1", username="bob", password=_PASSWORD)
    encoded = client.send(login)
    parts = [p for p in encoded.parts if isinstance(p, bytes)]
    got = _write(server, zip(parts, encoded.wait_after, strict=True))
    assert got[0] == ContinuationRequired(tag="a1", size=9)
    assert events(client, got[0].data) == [ContinuationRequest(text="Ready for literal data")]
    assert got[1:] == [login]
    assert events(client, server.send(StatusResponse(tag="a1", status=OK, text="ok"))) == [
        StatusResponse(tag="a1", status=OK, text="ok")
    ]
    assert client.state is server.state is AUTH
