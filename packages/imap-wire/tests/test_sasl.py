"""Tests for the PLAIN, LOGIN, CRAM-MD5, EXTERNAL, ANONYMOUS, XOAUTH2 and OAUTHBEARER mechanisms."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imap_wire.errors import ImapWireError
from imap_wire.sasl import (
    CLIENT_MECHANISMS,
    SERVER_MECHANISMS,
    AnonymousClient,
    AnonymousServer,
    ClientMechanism,
    CramMd5Client,
    CramMd5Server,
    ExternalClient,
    ExternalServer,
    LoginClient,
    LoginServer,
    OAuthBearerClient,
    OAuthBearerServer,
    PlainClient,
    PlainServer,
    SaslError,
    ServerMechanism,
    XOAuth2Client,
    XOAuth2Server,
)

TOKEN = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
CRAM_CHALLENGE = b"<1896.697170952@postoffice.reston.mci.net>"


def check_password(user: str, password: str) -> bool:
    return (user, password) == ("tim", "tanstaaftanstaaf")


def lookup_password(user: str) -> str | None:
    return "tanstaaftanstaaf" if user == "tim" else None


def validate_token(user: str, token: str) -> bool:
    return (user, token) == ("user@example.com", TOKEN)


def run(client: ClientMechanism, server: ServerMechanism, *, sasl_ir: bool = True) -> None:
    """Drive a client against a server until the server reports success or raises."""
    challenge = server.start(client.initial_response() if sasl_ir else None)
    for _ in range(10):
        if challenge is None:
            return
        challenge = server.respond(client.respond(challenge))
    raise AssertionError("exchange did not end")


def test_saslerror_is_rooted() -> None:
    assert issubclass(SaslError, ImapWireError)


def test_registries() -> None:
    for name in ("PLAIN", "LOGIN", "CRAM-MD5", "EXTERNAL", "ANONYMOUS", "XOAUTH2", "OAUTHBEARER"):
        assert CLIENT_MECHANISMS[name].name == name
        assert SERVER_MECHANISMS[name].name == name


# --- PLAIN (RFC 4616 section 4) --------------------------------------------------------------


def test_plain_rfc4616_examples() -> None:
    assert PlainClient("tim", "tanstaaftanstaaf").initial_response() == b"\0tim\0tanstaaftanstaaf"
    client = PlainClient("Kurt", "xipj3plmq", authzid="Ursel")
    assert client.initial_response() == b"Ursel\0Kurt\0xipj3plmq"
    assert client.complete


def test_plain_server_accepts_rfc_example() -> None:
    server = PlainServer(check_password)
    assert server.start(b"\0tim\0tanstaaftanstaaf") is None
    assert server.complete
    assert (server.authcid, server.authzid) == ("tim", "tim")


def test_plain_server_authzid_needs_authorize() -> None:
    with pytest.raises(SaslError):
        PlainServer(check_password).start(b"boss\0tim\0tanstaaftanstaaf")
    server = PlainServer(check_password, authorize=lambda c, z: (c, z) == ("tim", "boss"))
    assert server.start(b"boss\0tim\0tanstaaftanstaaf") is None
    assert (server.authcid, server.authzid) == ("tim", "boss")


@pytest.mark.parametrize(
    "message",
    [
        b"\0tim\0wrong",
        b"tim\0tanstaaftanstaaf",
        b"\0\0x",
        b"\0tim\0",
        b"\0t\xffm\0x",
        b"a\0b\0c\0d",
    ],
)
def test_plain_server_rejects(message: bytes) -> None:
    server = PlainServer(check_password)
    with pytest.raises(SaslError) as info:
        server.start(message)
    assert b"tanstaaf".decode() not in str(info.value)
    assert not server.complete and server.authcid is None


def test_plain_round_trips_without_sasl_ir() -> None:
    server = PlainServer(check_password)
    run(PlainClient("tim", "tanstaaftanstaaf"), server, sasl_ir=False)
    assert server.complete


def test_plain_client_rejects_bad_fields() -> None:
    for args in (("", "p"), ("u", ""), ("u\0", "p"), ("u", "p" * 256)):
        with pytest.raises(SaslError):
            PlainClient(*args)


def test_credentials_not_in_repr() -> None:
    for mech in (
        PlainClient("tim", "tanstaaftanstaaf"),
        LoginClient("tim", "tanstaaftanstaaf"),
        CramMd5Client("tim", "tanstaaftanstaaf"),
        XOAuth2Client("user@example.com", TOKEN),
        OAuthBearerClient("user@example.com", TOKEN),
    ):
        assert "tanstaaf" not in repr(mech) and TOKEN not in repr(mech)


# --- LOGIN -----------------------------------------------------------------------------------


def test_login_exchange() -> None:
    client, server = LoginClient("tim", "tanstaaftanstaaf"), LoginServer(check_password)
    assert client.initial_response() is None
    assert server.start(None) == b"Username:"
    assert client.respond(b"Username:") == b"tim"
    assert server.respond(b"tim") == b"Password:"
    assert client.respond(b"Password:") == b"tanstaaftanstaaf"
    assert client.complete
    assert server.respond(b"tanstaaftanstaaf") is None
    assert server.complete and server.authcid == "tim"
    with pytest.raises(SaslError):
        client.respond(b"More:")


def test_login_username_as_initial_response() -> None:
    server = LoginServer(check_password)
    assert server.start(b"tim") == b"Password:"
    assert server.respond(b"tanstaaftanstaaf") is None


def test_login_wrong_password() -> None:
    server = LoginServer(check_password)
    with pytest.raises(SaslError):
        run(LoginClient("tim", "nope"), server)
    assert not server.complete and server.authcid is None


# --- CRAM-MD5 (RFC 2195 section 2) -----------------------------------------------------------


def test_cram_md5_rfc2195_example() -> None:
    client = CramMd5Client("tim", "tanstaaftanstaaf")
    assert client.initial_response() is None
    response = client.respond(CRAM_CHALLENGE)
    assert response == b"tim b913a602c7eda7a495b4e6e7334d3890"
    server = CramMd5Server(lookup_password, challenge=CRAM_CHALLENGE)
    assert server.start(None) == CRAM_CHALLENGE
    assert server.respond(response) is None
    assert server.authcid == "tim"


def test_cram_md5_default_challenge_shape() -> None:
    challenge = CramMd5Server(lookup_password, "imap.example.org").start(None)
    assert challenge is not None
    assert challenge.startswith(b"<") and challenge.endswith(b"@imap.example.org>")
    assert challenge != CramMd5Server(lookup_password, "imap.example.org").start(None)


@pytest.mark.parametrize(
    "response",
    [
        b"tim b913a602c7eda7a495b4e6e7334d3891",
        b"bob b913a602c7eda7a495b4e6e7334d3890",
        b"tim B913A602C7EDA7A495B4E6E7334D3890",
        b"tim b913a602",
        b"timb913a602c7eda7a495b4e6e7334d3890",
        b"",
    ],
)
def test_cram_md5_rejects(response: bytes) -> None:
    server = CramMd5Server(lookup_password, challenge=CRAM_CHALLENGE)
    server.start(None)
    with pytest.raises(SaslError):
        server.respond(response)
    assert not server.complete


def test_cram_md5_round_trip_and_no_initial_response() -> None:
    server = CramMd5Server(lookup_password)
    run(CramMd5Client("tim", "tanstaaftanstaaf"), server)
    assert server.complete
    with pytest.raises(SaslError):
        CramMd5Server(lookup_password).start(b"tim")


# --- EXTERNAL (RFC 4422 appendix A) ----------------------------------------------------------


def test_external() -> None:
    server = ExternalServer("CN=tim")
    run(ExternalClient(), server)
    assert (server.authcid, server.authzid) == ("CN=tim", "CN=tim")
    server = ExternalServer("CN=tim")
    run(ExternalClient(), server, sasl_ir=False)
    assert server.complete


def test_external_authzid_and_no_identity() -> None:
    with pytest.raises(SaslError):
        run(ExternalClient("boss"), ExternalServer("CN=tim"))
    server = ExternalServer("CN=tim", authorize=lambda c, z: z == "boss")
    run(ExternalClient("boss"), server)
    assert (server.authcid, server.authzid) == ("CN=tim", "boss")
    with pytest.raises(SaslError):
        run(ExternalClient(), ExternalServer(None))


# --- ANONYMOUS (RFC 4505) --------------------------------------------------------------------


def test_anonymous() -> None:
    server = AnonymousServer()
    run(AnonymousClient("sirhc"), server)
    assert server.complete and server.trace == "sirhc" and server.authcid == "anonymous"
    server = AnonymousServer()
    run(AnonymousClient(), server, sasl_ir=False)
    assert server.trace == ""
    with pytest.raises(SaslError):
        AnonymousClient("x" * 256)
    with pytest.raises(SaslError):
        AnonymousServer().start(b"\xff")


# --- XOAUTH2 ---------------------------------------------------------------------------------


def test_xoauth2_format_and_round_trip() -> None:
    client = XOAuth2Client("user@example.com", TOKEN)
    message = client.initial_response()
    assert message == b"user=user@example.com\x01auth=Bearer " + TOKEN.encode() + b"\x01\x01"
    server = XOAuth2Server(validate_token)
    assert server.start(message) is None
    assert server.complete and server.authcid == "user@example.com"


def test_xoauth2_error_path() -> None:
    client = XOAuth2Client("user@example.com", "bad-token")
    server = XOAuth2Server(validate_token)
    challenge = server.start(client.initial_response())
    assert challenge is not None and b"401" in challenge
    ack = client.respond(challenge)
    assert ack == b""
    assert client.error == challenge and client.error_status == "401"
    with pytest.raises(SaslError, match="invalid token"):
        server.respond(ack)
    assert not server.complete and server.authcid is None


@pytest.mark.parametrize(
    "message",
    [
        b"user=user@example.com\x01auth=Bearer " + TOKEN.encode() + b"\x01",
        b"user=\x01auth=Bearer abc\x01\x01",
        b"user=u\x01auth=Basic abc\x01\x01",
        b"user=u\x01auth=Bearer a b\x01\x01",
        b"auth=Bearer abc\x01\x01",
    ],
)
def test_xoauth2_malformed(message: bytes) -> None:
    with pytest.raises(SaslError):
        XOAuth2Server(validate_token).start(message)


# --- OAUTHBEARER (RFC 7628 section 4) --------------------------------------------------------

RFC7628_EXAMPLE = (
    b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
    b"auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
)


def test_oauthbearer_rfc7628_example() -> None:
    client = OAuthBearerClient("user@example.com", TOKEN, host="server.example.com", port=143)
    assert client.initial_response() == RFC7628_EXAMPLE
    server = OAuthBearerServer(validate_token)
    assert server.start(RFC7628_EXAMPLE) is None
    assert server.complete and server.authcid == "user@example.com"
    assert (server.host, server.port) == ("server.example.com", "143")


def test_oauthbearer_minimal_and_escaped_user() -> None:
    client = OAuthBearerClient("a,b=c", TOKEN)
    assert (
        client.initial_response()
        == b"n,a=a=2Cb=3Dc,\x01auth=Bearer " + TOKEN.encode() + b"\x01\x01"
    )
    seen: list[str] = []

    def accept(user: str, token: str) -> bool:
        seen.append(user)
        return True

    server = OAuthBearerServer(accept)
    run(OAuthBearerClient("a,b=c", TOKEN), server, sasl_ir=False)
    assert seen == ["a,b=c"] and server.complete


def test_oauthbearer_error_path() -> None:
    client = OAuthBearerClient("user@example.com", "bad")
    server = OAuthBearerServer(validate_token)
    challenge = server.start(client.initial_response())
    assert challenge is not None
    assert client.respond(challenge) == b"\x01"
    assert client.error_status == "invalid_token"
    with pytest.raises(SaslError):
        server.respond(b"\x01")
    with pytest.raises(SaslError):
        client.respond(b"again")


@pytest.mark.parametrize(
    "message",
    [
        b"\x01",
        b"n,,\x01auth=Bearer abc\x01\x01",
        b"p=tls-unique,a=u,\x01auth=Bearer abc\x01\x01",
        b"n,a=u,\x01host=x\x01\x01",
        b"n,a=u,\x01auth=Bearer abc\x01",
        b"n,a=u=41,\x01auth=Bearer abc\x01\x01",
        b"n,a=u,\x01auth=Bearer abc\x01auth=Bearer abc\x01\x01",
        b"n,a=u,\x011x=y\x01auth=Bearer abc\x01\x01",
    ],
)
def test_oauthbearer_malformed(message: bytes) -> None:
    with pytest.raises(SaslError):
        OAuthBearerServer(validate_token).start(message)


def test_oauthbearer_ignores_unknown_keys() -> None:
    server = OAuthBearerServer(lambda user, token: True)
    assert server.start(b"y,a=u,\x01foo=bar\x01auth=Bearer abc\x01\x01") is None


# --- Hostile input ---------------------------------------------------------------------------

SERVERS: dict[str, Callable[[], ServerMechanism]] = {
    "PLAIN": lambda: PlainServer(check_password),
    "LOGIN": lambda: LoginServer(check_password),
    "CRAM-MD5": lambda: CramMd5Server(lookup_password),
    "EXTERNAL": lambda: ExternalServer("CN=tim"),
    "ANONYMOUS": lambda: AnonymousServer(),
    "XOAUTH2": lambda: XOAuth2Server(validate_token),
    "OAUTHBEARER": lambda: OAuthBearerServer(validate_token),
}


@given(
    name=st.sampled_from(sorted(SERVERS)),
    first=st.none() | st.binary(max_size=300),
    rest=st.lists(st.binary(max_size=300), max_size=4),
)
def test_servers_only_raise_saslerror(name: str, first: bytes | None, rest: list[bytes]) -> None:
    server = SERVERS[name]()
    try:
        server.start(first)
        for message in rest:
            server.respond(message)
    except SaslError:
        assert not server.complete or server.authcid is not None


@given(
    client=st.sampled_from(
        [
            lambda: PlainClient("tim", "p"),
            lambda: LoginClient("tim", "p"),
            lambda: CramMd5Client("tim", "p"),
            lambda: ExternalClient(),
            lambda: AnonymousClient(),
            lambda: XOAuth2Client("u", "t"),
            lambda: OAuthBearerClient("u", "t"),
        ]
    ),
    challenges=st.lists(st.binary(max_size=100), max_size=4),
    sasl_ir=st.booleans(),
)
def test_clients_only_raise_saslerror(
    client: object, challenges: list[bytes], sasl_ir: bool
) -> None:
    assert callable(client)
    mech = client()
    assert isinstance(mech, ClientMechanism)
    try:
        if sasl_ir:
            mech.initial_response()
        for challenge in challenges:
            mech.respond(challenge)
    except SaslError:
        pass
