"""SCRAM (RFC 5802, RFC 7677) and SASLprep (RFC 4013): the RFC examples, round trips, fuzzing."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imap_wire.sasl._base import SaslError
from imap_wire.sasl._scram import (
    ScramClient,
    ScramCredentials,
    ScramServer,
    ScramSha1Client,
    ScramSha1Server,
    ScramSha256Client,
    ScramSha256PlusClient,
    ScramSha256PlusServer,
    ScramSha256Server,
    saslprep,
    scram_client,
    scram_server,
)

# (hash, client class, server class, client nonce, server nonce part, salt, C/S transcript)
RFC_EXAMPLES = [
    pytest.param(
        "sha1",
        ScramSha1Client,
        ScramSha1Server,
        "fyko+d2lbbFgONRv9qkxdawL",
        "3rfcNHYJY1ZVvWVs7j",
        "QSXCR+Q6sek8bf92",
        [
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        ],
        id="rfc5802-section-5",
    ),
    pytest.param(
        "sha256",
        ScramSha256Client,
        ScramSha256Server,
        "rOprNGfwEbeRWgbNEkqO",
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "W22ZaJ0SNY7soEsUEjb6gQ==",
        [
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        ],
        id="rfc7677-section-3",
    ),
]

USERS: dict[str, str] = {"user": "pencil", "a,b=c": "s3cr\u00e9t", "other": "pencil"}


def _fixed(value: str) -> Callable[[], str]:
    return lambda: value


def _lookup(
    hash_name: str, users: dict[str, str] = USERS
) -> Callable[[str], ScramCredentials | None]:
    table = {
        name: ScramCredentials.derive(password, salt=b"salt-" + name.encode(), hash_name=hash_name)
        for name, password in users.items()
    }
    return table.get


def _run(client: ScramClient, server: ScramServer) -> None:
    """Drive one exchange as IMAP would: SASL-IR, challenge, response, final, empty response."""
    challenge = server.start(client.initial_response())
    while challenge is not None:
        challenge = server.respond(client.respond(challenge))


@pytest.mark.parametrize(
    ("hash_name", "client_cls", "server_cls", "cnonce", "snonce", "salt", "transcript"),
    RFC_EXAMPLES,
)
def test_rfc_example_client(
    hash_name: str,
    client_cls: type[ScramClient],
    server_cls: type[ScramServer],
    cnonce: str,
    snonce: str,
    salt: str,
    transcript: list[bytes],
) -> None:
    client = client_cls("user", "pencil", nonce_factory=_fixed(cnonce))
    assert client.initial_response() == transcript[0]
    assert client.respond(transcript[1]) == transcript[2]
    assert not client.complete
    assert client.respond(transcript[3]) == b""
    assert client.complete


@pytest.mark.parametrize(
    ("hash_name", "client_cls", "server_cls", "cnonce", "snonce", "salt", "transcript"),
    RFC_EXAMPLES,
)
def test_rfc_example_server(
    hash_name: str,
    client_cls: type[ScramClient],
    server_cls: type[ScramServer],
    cnonce: str,
    snonce: str,
    salt: str,
    transcript: list[bytes],
) -> None:
    creds = ScramCredentials.derive(
        "pencil", salt=base64.b64decode(salt), iterations=4096, hash_name=hash_name
    )
    server = server_cls(
        lambda name: creds if name == "user" else None, nonce_factory=_fixed(snonce)
    )
    assert server.start(transcript[0]) == transcript[1]
    assert server.respond(transcript[2]) == transcript[3]
    assert server.authcid == "user"
    assert server.authzid is None
    assert not server.complete
    assert server.respond(b"") is None
    assert server.complete


def test_rfc_example_server_without_initial_response() -> None:
    creds = ScramCredentials.derive(
        "pencil", salt=base64.b64decode("QSXCR+Q6sek8bf92"), hash_name="sha1"
    )
    server = ScramSha1Server(lambda name: creds, nonce_factory=_fixed("3rfcNHYJY1ZVvWVs7j"))
    assert server.start(None) == b""
    assert server.respond(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL") == (
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
    )


def test_client_without_initial_response() -> None:
    client = ScramSha256Client("user", "pencil", nonce_factory=_fixed("abc"))
    assert client.respond(b"") == b"n,,n=user,r=abc"


@pytest.mark.parametrize("hash_name", ["sha1", "sha256"])
@pytest.mark.parametrize("authzid", [None, "admin", "x,y=z"])
@pytest.mark.parametrize("binding", [None, ("tls-exporter", b"\x00ekm\xff")])
@pytest.mark.parametrize("username", ["user", "a,b=c"])
def test_round_trip(
    hash_name: str, authzid: str | None, binding: tuple[str, bytes] | None, username: str
) -> None:
    client = scram_client(
        username, USERS[username], hash_name=hash_name, authzid=authzid, channel_binding=binding
    )
    server = scram_server(_lookup(hash_name), hash_name=hash_name, channel_binding=binding)
    assert client.name == server.name
    assert client.name.endswith("-PLUS") == (binding is not None)
    _run(client, server)
    assert client.complete and server.complete
    assert server.authcid == username
    assert server.authzid == authzid


def test_escaping_on_the_wire() -> None:
    client = ScramSha256Client("a,b=c", "x", authzid="=,", nonce_factory=_fixed("n"))
    assert client.initial_response() == b"n,a==3D=2C,n=a=2Cb=3Dc,r=n"


def test_plus_names() -> None:
    binding = ("tls-server-end-point", b"hash")
    assert scram_client("u", "p", hash_name="sha1", channel_binding=binding).name == (
        "SCRAM-SHA-1-PLUS"
    )
    assert scram_client("u", "p").name == "SCRAM-SHA-256"
    assert scram_server(_lookup("sha1"), hash_name="sha1").name == "SCRAM-SHA-1"
    assert scram_server(_lookup("sha256"), channel_binding=binding, plus=False).name == (
        "SCRAM-SHA-256"
    )
    with pytest.raises(ValueError):
        ScramSha256PlusClient("u", "p")
    with pytest.raises(ValueError):
        scram_client("u", "p", hash_name="md5")


def test_wrong_password_refused() -> None:
    client = scram_client("user", "pen")
    server = scram_server(_lookup("sha256"))
    with pytest.raises(SaslError, match="invalid proof"):
        _run(client, server)
    assert server.authcid is None and not server.complete


def test_unknown_user_refused_like_wrong_password() -> None:
    server = scram_server(_lookup("sha256"))
    first = server.start(scram_client("nobody", "x").initial_response())
    again = scram_server(_lookup("sha256")).start(scram_client("nobody", "x").initial_response())
    assert first is not None and again is not None
    # Same made-up salt each time, so probing does not reveal that the user is unknown.
    assert first.split(b",")[1:] == again.split(b",")[1:]
    with pytest.raises(SaslError, match="invalid proof"):
        _run(scram_client("nobody", "x"), scram_server(_lookup("sha256")))


def test_channel_binding_data_mismatch_refused() -> None:
    client = scram_client("user", "pencil", channel_binding=("tls-exporter", b"client view"))
    server = scram_server(_lookup("sha256"), channel_binding=("tls-exporter", b"server view"))
    with pytest.raises(SaslError, match="channel binding does not match"):
        _run(client, server)


def test_channel_binding_type_mismatch_refused() -> None:
    client = scram_client("user", "pencil", channel_binding=("tls-server-end-point", b"x"))
    server = scram_server(_lookup("sha256"), channel_binding=("tls-exporter", b"x"))
    with pytest.raises(SaslError, match="unsupported channel binding type"):
        _run(client, server)


def test_plus_server_refuses_unbound_client() -> None:
    server = ScramSha256PlusServer(_lookup("sha256"), channel_binding=("tls-exporter", b"x"))
    with pytest.raises(SaslError, match="requires channel binding"):
        server.start(b"n,,n=user,r=abc")


def test_plain_server_refuses_binding_client() -> None:
    server = ScramSha256Server(_lookup("sha256"))
    with pytest.raises(SaslError, match="use -PLUS"):
        server.start(b"p=tls-exporter,,n=user,r=abc")


def test_downgrade_detected() -> None:
    # The client could bind ("y") but saw no -PLUS; this server offers it: stripped by an attacker.
    client = ScramSha256Client("user", "pencil", channel_binding=("tls-exporter", b"x"))
    assert (client.initial_response() or b"").startswith(b"y,,")
    server = ScramSha256Server(_lookup("sha256"), channel_binding=("tls-exporter", b"x"))
    with pytest.raises(SaslError, match="downgrade"):
        server.start(b"y,,n=user,r=abc")
    # Without -PLUS on offer, "y" is fine.
    _run(
        ScramSha256Client("user", "pencil", channel_binding=("tls-exporter", b"x")),
        ScramSha256Server(_lookup("sha256")),
    )


def test_client_refuses_forged_server_signature() -> None:
    client = ScramSha1Client("user", "pencil", nonce_factory=_fixed("fyko+d2lbbFgONRv9qkxdawL"))
    client.initial_response()
    client.respond(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    with pytest.raises(SaslError, match="signature"):
        client.respond(b"v=" + base64.b64encode(b"\x00" * 20))
    assert not client.complete
    with pytest.raises(SaslError):
        client.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")


def test_client_reports_server_error() -> None:
    client = ScramSha256Client("user", "pencil", nonce_factory=_fixed("abc"))
    client.initial_response()
    client.respond(b"r=abcdef,s=c2FsdA==,i=4096")
    with pytest.raises(SaslError, match="invalid-proof"):
        client.respond(b"e=invalid-proof")


@pytest.mark.parametrize(
    ("server_first", "match"),
    [
        (b"r=abcdef,s=c2FsdA==,i=4095", "iteration count"),
        (b"r=abcdef,s=c2FsdA==,i=0", "iteration count"),
        (b"r=abcdef,s=c2FsdA==,i=99999999999999999999", "iteration count"),
        (b"r=xyzdef,s=c2FsdA==,i=4096", "nonce"),
        (b"r=abc,s=c2FsdA==,i=4096", "nonce"),
        (b"m=ext,r=abcdef,s=c2FsdA==,i=4096", "mandatory extension"),
        (b"r=abcdef,s=c2FsdA=,i=4096", "base64"),
        (b"r=abcdef,s=,i=4096", "salt"),
        (b"r=abcdef,i=4096,s=c2FsdA==", "expected attribute"),
        (b"r=abcdef,s=c2FsdA==", "expected attribute"),
        (b"r=abcdef,s=c2FsdA==,i=4096,", "malformed attribute"),
        (b"r=abc\xffdef,s=c2FsdA==,i=4096", "UTF-8"),
    ],
)
def test_client_refuses_bad_server_first(server_first: bytes, match: str) -> None:
    client = ScramSha256Client("user", "pencil", nonce_factory=_fixed("abc"))
    client.initial_response()
    with pytest.raises(SaslError, match=match):
        client.respond(server_first)


def test_min_iterations_is_configurable() -> None:
    client = ScramSha256Client("user", "pencil", nonce_factory=_fixed("abc"), min_iterations=1)
    assert client.respond(b"") and client.respond(b"r=abcdef,s=c2FsdA==,i=1").startswith(b"c=")


def test_credentials_stay_out_of_reprs_and_errors() -> None:
    creds = ScramCredentials.derive("hunter2", salt=b"NaCl")
    assert creds.stored_key.hex() not in repr(creds) and "NaCl" not in repr(creds)
    client = scram_client("user", "hunter2")
    assert "hunter2" not in repr(client)
    with pytest.raises(SaslError) as info:
        _run(scram_client("user", "hunter2"), scram_server(_lookup("sha256")))
    assert "hunter2" not in str(info.value) and "pencil" not in str(info.value)
    with pytest.raises(SaslError) as info:
        saslprep("hunter\u0007")
    assert "hunter" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I\u00adX", "IX"),
        ("user", "user"),
        ("USER", "USER"),
        ("\u00aa", "a"),
        ("\u2168", "IX"),
        ("a\u00a0b", "a b"),
        ("\u0627\u0031\u0628", "\u0627\u0031\u0628"),
    ],
)
def test_saslprep_rfc4013_examples(text: str, expected: str) -> None:
    assert saslprep(text) == expected


@pytest.mark.parametrize("text", ["\u0007", "\u0627\u0031", "a\u0627b", "a\u2028", "\ue000"])
def test_saslprep_rfc4013_errors(text: str) -> None:
    with pytest.raises(SaslError):
        saslprep(text)


def test_saslprep_unassigned() -> None:
    assert saslprep("\u0221") == "\u0221"  # unassigned in Unicode 3.2
    with pytest.raises(SaslError, match="unassigned"):
        saslprep("\u0221", allow_unassigned=False)


def test_server_refuses_replayed_nonce_and_extra_messages() -> None:
    client = ScramSha256Client("user", "pencil", nonce_factory=_fixed("abc"))
    server = ScramSha256Server(_lookup("sha256"), nonce_factory=_fixed("srv"))
    server_first = server.start(client.initial_response())
    assert server_first is not None
    final = client.respond(server_first)
    with pytest.raises(SaslError, match="nonce does not match"):
        server.respond(final.replace(b"r=abcsrv", b"r=abcxyz"))
    with pytest.raises(SaslError):
        server.respond(final)


# -- fuzzing -------------------------------------------------------------------------------

_ATOMS = st.sampled_from(
    [b"r=", b"s=", b"i=", b"v=", b"e=", b"m=", b"c=", b"p=", b"n=", b"a=", b",", b"=", b"==",
     b"abc", b"abcdef", b"c2FsdA==", b"4096", b"1", b"0", b"=2C", b"=3D", b"=41", b"y", b"n",
     b"p=tls-exporter", b"\xff", b"\xc3\xa9", b"\x00", b"biws", b"+/"]
)  # fmt: skip
_MESSAGES = st.one_of(st.binary(max_size=80), st.lists(_ATOMS, max_size=12).map(b"".join))


@settings(max_examples=300, deadline=None)
@given(
    server_first=st.one_of(st.just(b"r=abcdef,s=c2FsdA==,i=2"), _MESSAGES),
    server_final=_MESSAGES,
)
def test_fuzz_client_raises_only_sasl_error(server_first: bytes, server_final: bytes) -> None:
    client = ScramSha256Client(
        "user", "pencil", nonce_factory=_fixed("abc"), min_iterations=1, max_iterations=4096
    )
    client.initial_response()
    try:
        client.respond(server_first)
        client.respond(server_final)
    except SaslError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    first=st.one_of(
        st.sampled_from([b"n,,n=user,r=abc", b"p=tls-exporter,,n=user,r=abc"]), _MESSAGES
    ),
    final=st.one_of(
        st.lists(_ATOMS, max_size=8).map(lambda atoms: b"c=biws,r=abcsrv," + b"".join(atoms)),
        _MESSAGES,
    ),
    plus=st.booleans(),
)
def test_fuzz_server_raises_only_sasl_error(first: bytes, final: bytes, plus: bool) -> None:
    server = scram_server(_lookup("sha256"), channel_binding=("tls-exporter", b"x"), plus=plus)
    try:
        server.start(first)
        server.respond(final)
    except SaslError:
        pass
