"""Hostile peers: what a security review of the framer and the connections found, kept fixed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from imap_wire import (
    DEFAULT_CLIENT_LIMITS,
    NEED_DATA,
    Append,
    ClientConnection,
    ContinuationRequired,
    LimitExceeded,
    Limits,
    LiteralMode,
    LiteralRefused,
    LiteralRequest,
    LiteralSource,
    LiteralStarted,
    LocalProtocolError,
    Login,
    Noop,
    RemoteProtocolError,
    ResponseStatus,
    ServerConnection,
    StartTLS,
    StatusResponse,
    WireWriter,
    encode_command,
    encode_response,
    parse_command,
)
from imap_wire._state import ConnectionState
from imap_wire._values import tokenize


def drain(conn: ServerConnection | ClientConnection) -> list[Any]:
    out: list[Any] = []
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            out.append(exc)
            continue
        if event is NEED_DATA:
            return out
        out.append(event)


def test_client_skips_a_literal_over_its_limit() -> None:
    # The octets of a literal the client refuses are still on their way; read as lines they
    # would let a message body inject responses.
    body = b"a9 OK [READ-WRITE] pwned\r\n* CAPABILITY IMAP4rev1 INJECTED\r\n"
    for limits in (
        replace(DEFAULT_CLIENT_LIMITS, max_literal_size=10),
        replace(DEFAULT_CLIENT_LIMITS, max_inline_literals=10),
    ):
        client = ClientConnection(limits=limits)
        client.receive_data(b"* 1 FETCH (BODY[] {%d}\r\n" % len(body) + body + b")\r\n")
        client.receive_data(b"* 2 EXISTS\r\n")
        events = drain(client)
        assert isinstance(events[0], LimitExceeded)
        assert [type(e).__name__ for e in events[1:]] == ["ExistsResponse"]
        assert client.capabilities == frozenset()


def test_client_skips_the_literal_of_an_overlong_line() -> None:
    body = b"a9 OK pwned\r\n"
    client = ClientConnection(limits=replace(DEFAULT_CLIENT_LIMITS, max_line_length=100))
    client.receive_data(b"* 1 FETCH (X " + b"z" * 200 + b" BODY[] {%d}\r\n" % len(body) + body)
    client.receive_data(b")\r\n* 2 EXISTS\r\n")
    events = drain(client)
    assert isinstance(events[0], LimitExceeded)
    assert [type(e).__name__ for e in events[1:]] == ["ExistsResponse"]


def test_client_drops_what_follows_starttls_ok_and_forgets_capabilities() -> None:
    client = ClientConnection()
    client.receive_data(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LITERAL+] hi\r\n")
    drain(client)
    modes = [client.literal_mode]
    client.send(StartTLS(tag="a1"))
    client.receive_data(b"a1 OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
    assert [type(e).__name__ for e in drain(client)] == ["StatusResponse"]
    assert client.plaintext_injected
    assert client.capabilities == frozenset()
    modes.append(client.literal_mode)
    assert modes == [LiteralMode.PLUS, LiteralMode.SYNC]


def test_preauth_counts_only_as_the_greeting() -> None:
    client = ClientConnection()
    client.receive_data(b"* OK hello\r\n* PREAUTH you are in\r\n")
    drain(client)
    assert client.state is ConnectionState.NOT_AUTHENTICATED


def test_an_eight_bit_tag_gets_an_untagged_bad_that_can_be_sent() -> None:
    server = ServerConnection()
    server.receive_data(b"\xffa NOOP\r\n")
    [error] = drain(server)
    assert error.tag is None
    assert server.send(error.response).startswith(b"* BAD ")


def test_an_overlong_tag_is_not_echoed() -> None:
    server = ServerConnection(limits=Limits(max_line_length=100))
    server.receive_data(b"x" * 200 + b" NOOP\r\n")
    [error] = drain(server)
    assert error.tag is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"{5}\r\n", b"* BAD invalid tag\r\n"),
        (b"a1 XUNKNOWN {5}\r\n", b"a1 BAD unknown command\r\n"),
        (b"a1 APPEND INBOX {5}\r\n", b"a1 BAD APPEND is not valid now\r\n"),
        (
            b"a1 LOGIN alice {9000}\r\n",
            b"a1 NO [TOOBIG] literal too large before authentication\r\n",
        ),
    ],
)
def test_no_continuation_for_a_line_that_cannot_succeed(line: bytes, expected: bytes) -> None:
    server = ServerConnection()
    server.receive_data(line)
    [refused] = drain(server)
    assert isinstance(refused, LiteralRefused)
    assert encode_response(refused.response) == expected


def test_login_literals_are_still_accepted() -> None:
    server = ServerConnection()
    server.receive_data(b"a1 LOGIN {5}\r\n")
    assert drain(server) == [ContinuationRequired(tag="a1", size=5)]


def test_a_failing_literal_policy_does_not_wedge_the_connection() -> None:
    def policy(request: LiteralRequest) -> StatusResponse | None:
        raise RuntimeError("policy bug")

    server = ServerConnection(literal_policy=policy)
    server.receive_data(b"a1 LOGIN {5}\r\n")
    with pytest.raises(RuntimeError):
        server.next_event()
    server.receive_data(b"a2 NOOP\r\n")
    assert drain(server) == [Noop(tag="a2")]


def test_literal_minus_survives_starttls() -> None:
    server = ServerConnection(literal_minus=True)
    server.receive_data(b"s STARTTLS\r\nx NOOP\r\n")
    drain(server)
    server.send(StatusResponse(tag="s", status=ResponseStatus.OK, text="go"))
    server.receive_data(b"a1 LOGIN alice {5000+}\r\n" + b"x" * 5000 + b"\r\n")
    [error] = drain(server)
    assert isinstance(error, LimitExceeded) and error.code == "TOOBIG"


def test_streamed_literals_do_not_copy_the_line() -> None:
    client = ClientConnection(stream_literals_over=0)
    client.receive_data(
        b"* 1 FETCH (" + b"".join(b"X%d {1}\r\nx " % i for i in range(50)) + b")\r\n"
    )
    started = [e for e in drain(client) if isinstance(e, LiteralStarted)]
    assert len(started) == 50
    assert all(s.prefix == b"* 1 FETCH (X0 {1}" for s in started)
    assert started[-1].preceding == b" X49 {1}"


def test_a_huge_line_stops_at_the_item_limit() -> None:
    with pytest.raises(LimitExceeded):
        tokenize([b"ab " * 200_000], [], Limits(max_items=1000))
    with pytest.raises(LimitExceeded):
        tokenize([b"(" + b'"" ' * 200_000 + b"NIL)"], [], Limits(max_items=1000))


@pytest.mark.parametrize(
    "line",
    [
        b'a1 LOGIN"user""pass"\r\n',
        b'a1 LOGIN ab"cd" x\r\n',
        b'a1 LOGIN "\\a\\d\\m" x\r\n',
        b"a1 LOGIN {3}\r\nabcpw\r\n",
    ],
)
def test_servers_refuse_what_a_lenient_reader_would_read_differently(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_command(line)
    assert info.value.tag == "a1"


def test_the_writer_refuses_numbers_the_protocol_cannot_carry() -> None:
    w = WireWriter()
    for bad in (-1, 1 << 63, True):
        with pytest.raises(LocalProtocolError):
            w.number(bad)
    with pytest.raises(LocalProtocolError):
        w.literal_source(LiteralSource(size=-1))
    # A literal the caller streams cannot be part of a single byte string.
    with pytest.raises(LocalProtocolError):
        encode_command(Append(tag="a", mailbox="x", message=LiteralSource(size=5)))


def test_login_command_round_trips_after_all_this() -> None:
    assert parse_command(encode_command(Login(tag="a1", username="u", password="p w"))) == Login(
        tag="a1", username="u", password="p w"
    )


def test_writers_refuse_what_would_read_back_differently() -> None:
    from imap_wire import OtherCode, Response, SearchResponse

    refused: list[Response] = [
        StatusResponse(tag="[x]", status=ResponseStatus.OK, text="t"),
        StatusResponse(
            tag="a1", status=ResponseStatus.OK, code=OtherCode(name="X", text="\ud800"), text="t"
        ),
        SearchResponse(numbers=(1 << 40,)),
    ]
    for response in refused:
        with pytest.raises(LocalProtocolError):
            encode_response(response)


def test_unescaped_backslashes_from_servers_are_kept() -> None:
    from imap_wire import parse_response

    status = parse_response(b'* STATUS "INBOX\\Sub" (MESSAGES 1)\r\n')
    assert status.mailbox == "INBOX\\Sub"  # type: ignore[union-attr]
    listed = parse_response(b'* LIST () "/" "a\\"b\\\\c"\r\n')
    assert listed.mailbox == 'a"b\\c'  # type: ignore[union-attr]
