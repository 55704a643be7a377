"""SASL test vectors copied from the RFC texts, for what test_sasl.py and test_sasl_scram.py do
not already pin down byte for byte.

Already covered elsewhere, and so not repeated here:

- RFC 5802 section 5 (SCRAM-SHA-1) and RFC 7677 section 3 (SCRAM-SHA-256): both sides, with
  the RFC nonces injected, in test_sasl_scram.py (``test_rfc_example_client``,
  ``test_rfc_example_server``, ``test_rfc_example_server_without_initial_response``).
- RFC 2195 section 2 (CRAM-MD5, the same vector as the ACAP example of RFC 2595 section 6):
  both sides in test_sasl.py (``test_cram_md5_rfc2195_example``).
- RFC 4616 section 4: the client's two messages and the server accepting the first one with
  SASL-IR (test_sasl.py ``test_plain_rfc4616_examples``, ``test_plain_server_accepts_rfc_example``).
- RFC 7628 section 4.1: the decoded initial response, both sides (test_sasl.py
  ``test_oauthbearer_rfc7628_example``).

Here: the PLAIN exchanges exactly as RFC 4616 section 4 shows them (empty challenge, octet
counts, the refused authzid), the limits and the character set of its section 2 ABNF, the
base64 payloads of RFC 7628 section 4.1, and the failed exchange of RFC 7628 section 4.3 (the
JSON error challenge and the client's dummy ``%x01`` response).
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest

from imap_wire.sasl import (
    OAuthBearerClient,
    OAuthBearerServer,
    PlainClient,
    PlainServer,
    SaslError,
)

# -- RFC 4616 section 4 (PLAIN) --------------------------------------------------------------------

# "C: {21}" / "C: <NUL>tim<NUL>tanstaaftanstaaf" after "S: + """.
PLAIN_EXAMPLE_1 = b"\x00tim\x00tanstaaftanstaaf"
# "C: a002 AUTHENTICATE "PLAIN" {20+}" / "C: Ursel<NUL>Kurt<NUL>xipj3plmq", refused with
# "NO "Not authorized to requested authorization identity"".
PLAIN_EXAMPLE_2 = b"Ursel\x00Kurt\x00xipj3plmq"

PASSWORDS = {"tim": "tanstaaftanstaaf", "Kurt": "xipj3plmq"}


def check_password(authcid: str, password: str) -> bool:
    return PASSWORDS.get(authcid) == password


def test_plain_example_1_octet_count() -> None:
    assert len(PLAIN_EXAMPLE_1) == 21


def test_plain_example_1_without_initial_response() -> None:
    # S: + ""   (an empty challenge), then the client's one message.
    server = PlainServer(check_password)
    client = PlainClient("tim", "tanstaaftanstaaf")
    assert server.start(None) == b""
    assert (server.complete, server.authcid) == (False, None)
    message = client.respond(b"")
    assert message == PLAIN_EXAMPLE_1
    assert client.complete
    assert server.respond(message) is None
    assert server.complete
    assert (server.authcid, server.authzid) == ("tim", "tim")


def test_plain_example_2_octet_count() -> None:
    assert len(PLAIN_EXAMPLE_2) == 20
    assert PlainClient("Kurt", "xipj3plmq", authzid="Ursel").initial_response() == PLAIN_EXAMPLE_2


def test_plain_example_2_refused_despite_right_password() -> None:
    # Kurt's password is right, but he may not act as Ursel: the server refuses.
    checked: list[tuple[str, str]] = []

    def spy(authcid: str, password: str) -> bool:
        checked.append((authcid, password))
        return check_password(authcid, password)

    server = PlainServer(spy, authorize=lambda authcid, authzid: False)
    with pytest.raises(SaslError) as info:
        server.start(PLAIN_EXAMPLE_2)
    assert checked == [("Kurt", "xipj3plmq")]
    assert not server.complete
    assert (server.authcid, server.authzid) == (None, None)
    assert "xipj3plmq" not in str(info.value)


def test_plain_example_2_refused_without_authorize_callback() -> None:
    server = PlainServer(check_password)
    with pytest.raises(SaslError):
        server.start(PLAIN_EXAMPLE_2)
    assert not server.complete


def test_plain_example_2_accepted_when_authorized() -> None:
    server = PlainServer(check_password, authorize=lambda c, z: (c, z) == ("Kurt", "Ursel"))
    assert server.start(PLAIN_EXAMPLE_2) is None
    assert (server.authcid, server.authzid) == ("Kurt", "Ursel")


# RFC 4616 section 2: "Servers MUST be capable of accepting authzid, authcid, and passwd
# productions up to and including 255 octets.  It is noted that the UTF-8 encoding of a
# Unicode character may be as long as 4 octets."
LONG_AUTHZID = "z" * 255
LONG_AUTHCID = "\U0001f600" * 63 + "abc"  # 63 * 4 + 3 = 255 octets
LONG_PASSWORD = "\u00e9" * 127 + "p"  # 127 * 2 + 1 = 255 octets


def test_plain_accepts_255_octet_fields() -> None:
    assert len(LONG_AUTHCID.encode()) == len(LONG_PASSWORD.encode()) == 255
    seen: list[tuple[str, str]] = []

    def accept(authcid: str, password: str) -> bool:
        seen.append((authcid, password))
        return True

    client = PlainClient(LONG_AUTHCID, LONG_PASSWORD, authzid=LONG_AUTHZID)
    message = client.initial_response()
    assert message == (
        LONG_AUTHZID.encode() + b"\x00" + LONG_AUTHCID.encode() + b"\x00" + LONG_PASSWORD.encode()
    )
    server = PlainServer(accept, authorize=lambda c, z: True)
    assert server.start(message) is None
    assert seen == [(LONG_AUTHCID, LONG_PASSWORD)]
    assert (server.authcid, server.authzid) == (LONG_AUTHCID, LONG_AUTHZID)


@pytest.mark.parametrize(
    "message",
    [
        # message = [authzid] UTF8NUL authcid UTF8NUL passwd
        pytest.param(b"tanstaaftanstaaf", id="no-nul"),
        pytest.param(b"\x00tim", id="one-nul"),
        pytest.param(b"\x00\x00tanstaaftanstaaf", id="empty-authcid"),
        pytest.param(b"Ursel\x00Kurt\x00", id="empty-passwd"),
        pytest.param(b"\x00tim\x00tanstaaf\x00taaf", id="nul-in-passwd"),
        # SAFE excludes what is not UTF-8: overlong forms, surrogates, stray continuations.
        pytest.param(b"\x00tim\x00\xc0\x80", id="overlong-nul"),
        pytest.param(b"\x00tim\x00\xed\xa0\x80", id="surrogate"),
        pytest.param(b"\x00t\x80m\x00tanstaaftanstaaf", id="stray-continuation"),
        pytest.param(b"\xff\x00tim\x00tanstaaftanstaaf", id="bad-authzid"),
        pytest.param(b"\x00tim\x00\xf4\x90\x80\x80", id="beyond-u10ffff"),
    ],
)
def test_plain_refuses_what_the_abnf_excludes(message: bytes) -> None:
    checked: list[tuple[str, str]] = []

    def accept_all(authcid: str, password: str) -> bool:
        checked.append((authcid, password))
        return True

    server = PlainServer(accept_all, authorize=lambda c, z: True)
    with pytest.raises(SaslError):
        server.start(message)
    assert checked == []
    assert not server.complete and server.authcid is None


# -- RFC 7628 section 4.1 (OAUTHBEARER, success) ---------------------------------------------------

TOKEN = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="

# "C: t1 AUTHENTICATE OAUTHBEARER bixhPXVz..." (the IMAP example), lines joined.
OAUTHBEARER_IMAP_B64 = (
    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhv"
    "c3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyI"
    "HZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQ"
    "EB"
)
# "C: t1 AUTH OAUTHBEARER bixhPXVz..." (the SMTP example, port 587), lines joined.
OAUTHBEARER_SMTP_B64 = (
    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2Vy"
    "dmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9QmVhcmVyIHZGOWRmd"
    "DRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
)


@pytest.mark.parametrize(
    ("port", "payload"), [(143, OAUTHBEARER_IMAP_B64), (587, OAUTHBEARER_SMTP_B64)]
)
def test_oauthbearer_success_payloads(port: int, payload: str) -> None:
    client = OAuthBearerClient("user@example.com", TOKEN, host="server.example.com", port=port)
    assert client.initial_response() == base64.b64decode(payload, validate=True)
    assert base64.b64encode(client.initial_response()).decode() == payload

    seen: list[tuple[str, str]] = []

    def validate(user: str, token: str) -> bool:
        seen.append((user, token))
        return True

    server = OAuthBearerServer(validate)
    assert server.start(base64.b64decode(payload)) is None
    assert seen == [("user@example.com", TOKEN)]
    assert server.complete
    assert (server.authcid, server.authzid) == ("user@example.com", "user@example.com")
    assert (server.host, server.port) == ("server.example.com", str(port))


# -- RFC 7628 section 4.3 (OAUTHBEARER, failure) ---------------------------------------------------

# "C: t1 AUTHENTICATE OAUTHBEARER bixhPXVz...", with an empty auth value (asking for the scope).
FAILED_CLIENT_B64 = (
    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE="
)
FAILED_CLIENT = b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=\x01\x01"
# "S: + eyJzdGF0dXMi..." lines joined. (The decoded JSON the RFC prints after it is cut short
# at "openid-config"; the base64 is what goes on the wire.)
ERROR_CHALLENGE_B64 = (
    "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxl"
    "X3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4"
    "YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9u"
    "In0="
)
ERROR_CHALLENGE = base64.b64decode(ERROR_CHALLENGE_B64, validate=True)
# "C: AQ==": "the base64 encoding of the ASCII value 0x01".
DUMMY_RESPONSE_B64 = "AQ=="


def test_failed_exchange_payloads_decode_as_the_rfc_says() -> None:
    assert base64.b64decode(FAILED_CLIENT_B64, validate=True) == FAILED_CLIENT
    assert base64.b64decode(DUMMY_RESPONSE_B64, validate=True) == b"\x01"
    assert json.loads(ERROR_CHALLENGE) == {
        "status": "invalid_token",
        "scope": "example_scope",
        "openid-configuration": "https://example.com/.well-known/openid-configuration",
    }


def test_failed_exchange_client_sends_dummy_response() -> None:
    client = OAuthBearerClient("user@example.com", "expired-token")
    client.initial_response()
    assert client.respond(ERROR_CHALLENGE) == base64.b64decode(DUMMY_RESPONSE_B64)
    assert client.error == ERROR_CHALLENGE
    assert client.error_status == "invalid_token"
    with pytest.raises(SaslError):
        client.respond(ERROR_CHALLENGE)  # the exchange is over: the server must say NO


def test_failed_exchange_server_sends_error_challenge_then_fails() -> None:
    # A token the server refuses: the error challenge is the RFC's, byte for byte.
    seen: list[tuple[str, str]] = []

    def refuse(user: str, token: str) -> bool:
        seen.append((user, token))
        return False

    server = OAuthBearerServer(refuse, error_json=ERROR_CHALLENGE)
    client = OAuthBearerClient("user@example.com", TOKEN, host="server.example.com", port=143)
    challenge = server.start(client.initial_response())
    assert challenge == ERROR_CHALLENGE
    assert base64.b64encode(challenge).decode() == ERROR_CHALLENGE_B64
    assert seen == [("user@example.com", TOKEN)]
    assert not server.complete
    dummy = client.respond(challenge)
    assert dummy == b"\x01"
    with pytest.raises(SaslError):
        server.respond(dummy)
    assert not server.complete
    assert (server.authcid, server.authzid) == (None, None)


def test_failed_exchange_server_refuses_other_than_dummy_response() -> None:
    server = OAuthBearerServer(lambda user, token: False, error_json=ERROR_CHALLENGE)
    assert server.start(base64.b64decode(OAUTHBEARER_IMAP_B64)) == ERROR_CHALLENGE
    with pytest.raises(SaslError):
        server.respond(b"")
    assert not server.complete


def test_failed_exchange_empty_auth_gets_error_challenge() -> None:
    server = OAuthBearerServer(lambda user, token: False, error_json=ERROR_CHALLENGE)
    assert server.start(base64.b64decode(FAILED_CLIENT_B64)) == ERROR_CHALLENGE
    with pytest.raises(SaslError):
        server.respond(base64.b64decode(DUMMY_RESPONSE_B64))
    assert not server.complete


# -- the vectors above are the RFCs' ---------------------------------------------------------------


def _rfc_text(name: str) -> str:
    """The RFC's text with all white space removed, or a skip when it is not at hand."""
    candidates = [Path(__file__).resolve().parent / "rfc", Path("/work/shared/rfc")]
    env = os.environ.get("IMAP_RFC_DIR")
    if env:
        candidates.insert(0, Path(env))
    for folder in candidates:
        path = folder / name
        if path.is_file():
            return re.sub(r"\s+", "", path.read_text(encoding="utf-8", errors="replace"))
    pytest.skip(f"{name} not available")


@pytest.mark.parametrize(
    ("rfc", "snippet"),
    [
        ("rfc4616.txt", "<NUL>tim<NUL>tanstaaftanstaaf"),
        ("rfc4616.txt", "Ursel<NUL>Kurt<NUL>xipj3plmq"),
        ("rfc7628.txt", OAUTHBEARER_IMAP_B64),
        ("rfc7628.txt", OAUTHBEARER_SMTP_B64),
        ("rfc7628.txt", FAILED_CLIENT_B64),
        ("rfc7628.txt", "S:+" + ERROR_CHALLENGE_B64 + "C:" + DUMMY_RESPONSE_B64),
        ("rfc7628.txt", TOKEN),
    ],
)
def test_vectors_appear_in_the_rfc_text(rfc: str, snippet: str) -> None:
    assert re.sub(r"\s+", "", snippet) in _rfc_text(rfc)
