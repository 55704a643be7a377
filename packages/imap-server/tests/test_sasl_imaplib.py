"""AUTHENTICATE end to end with the standard library's imaplib, for every mechanism the server
offers on a plain loopback connection: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256,
XOAUTH2 and OAUTHBEARER. Each succeeds with the right secret, fails with ``NO
[AUTHENTICATIONFAILED]`` with a wrong one, and answers ``BAD`` when the client cancels with
``*``; the connection goes on after a failure.

imaplib has no SASL-IR: every exchange starts with a server challenge (empty for the
client-first mechanisms). Its ``authobject`` gets each decoded challenge and returns the raw
response, which imaplib base64-encodes; returning None sends ``*``. imaplib blocks, so the
server runs in a thread (`ThreadedServer`).
"""

from __future__ import annotations

import imaplib
from collections.abc import Callable, Iterator

import pytest

from imap_server.auth import CramMd5Authenticator, TokenAuthenticator
from imap_server.memory import MemoryStore
from imap_server.testing.harness import RunningServer, ThreadedServer
from imap_wire.sasl import ClientMechanism, scram_client

USER = "alice"
PASSWORD = "correct horse battery staple"
WRONG = "Tr0ub4dor&3"
EMAIL = "alice@example.org"
GOOD_TOKEN = "ya29.good-token"
BAD_TOKEN = "ya29.expired-token"

OFFERED = {"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER", "LOGIN", "PLAIN"}

Authobject = Callable[[bytes], bytes | None]


class Store(MemoryStore, CramMd5Authenticator):
    """Cheap password hashes, and the CRAM-MD5 secret (which `MemoryStore` does not keep)."""

    scrypt_n = 2**4

    async def cram_md5_secret(self, username: str) -> str | None:
        return PASSWORD if username == USER else None


class Tokens(TokenAuthenticator):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    async def check_token(self, username: str, token: str, *, mechanism: str) -> str | None:
        self.calls.append((username, token, mechanism))
        return USER if (username, token) == (EMAIL, GOOD_TOKEN) else None


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def running(tokens: Tokens) -> Iterator[RunningServer]:
    store = Store()
    store.add_user(USER, PASSWORD)
    with ThreadedServer(store, token_authenticator=tokens) as server:
        assert server.host == "127.0.0.1"
        yield server


@pytest.fixture
def imap(running: RunningServer) -> Iterator[imaplib.IMAP4]:
    client = imaplib.IMAP4(running.host, running.port, timeout=10)
    try:
        yield client
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            client.shutdown()


# -- authobjects -----------------------------------------------------------------------------------


class Recorder:
    """An authobject that answers with a list of responses and records the challenges."""

    def __init__(self, *responses: bytes | None) -> None:
        self.responses = list(responses)
        self.challenges: list[bytes] = []

    def __call__(self, challenge: bytes) -> bytes | None:
        self.challenges.append(challenge)
        if not self.responses:
            raise AssertionError(f"unexpected challenge {challenge!r}")
        return self.responses.pop(0)


class Mechanism:
    """An authobject driving an imap_wire client mechanism (which waits for the first,
    empty, challenge since imaplib sends no initial response)."""

    def __init__(self, mech: ClientMechanism, *, cancel_after: int | None = None) -> None:
        self.mech = mech
        self.cancel_after = cancel_after
        self.challenges: list[bytes] = []

    def __call__(self, challenge: bytes) -> bytes | None:
        if self.cancel_after is not None and len(self.challenges) == self.cancel_after:
            self.challenges.append(challenge)
            return None
        self.challenges.append(challenge)
        return self.mech.respond(challenge)


def _scram(hash_name: str, password: str, **options: int) -> Mechanism:
    return Mechanism(scram_client(USER, password, hash_name=hash_name), **options)


def _plain(password: str) -> Recorder:
    return Recorder(b"\x00" + USER.encode() + b"\x00" + password.encode())


def _login(password: str) -> Recorder:
    return Recorder(USER.encode(), password.encode())


def _xoauth2(token: str) -> Recorder:
    return Recorder(f"user={EMAIL}\x01auth=Bearer {token}\x01\x01".encode(), b"")


def _oauthbearer(token: str) -> Recorder:
    return Recorder(f"n,a={EMAIL},\x01auth=Bearer {token}\x01\x01".encode(), b"\x01")


def _logged_in(imap: imaplib.IMAP4) -> None:
    """The session is authenticated for real: INBOX can be selected."""
    assert imap.state == "AUTH"
    typ, data = imap.select("INBOX")
    assert typ == "OK" and data == [b"0"]


def _assert_refused(imap: imaplib.IMAP4, mechanism: str, authobject: Authobject) -> None:
    with pytest.raises(imaplib.IMAP4.error) as info:
        imap.authenticate(mechanism, authobject)
    assert "[AUTHENTICATIONFAILED]" in str(info.value)
    assert imap.state == "NONAUTH"


# -- what is offered -------------------------------------------------------------------------------


def test_mechanisms_advertised(imap: imaplib.IMAP4) -> None:
    offered = {cap[len("AUTH=") :] for cap in imap.capabilities if cap.startswith("AUTH=")}
    assert offered == OFFERED


def test_unknown_mechanism(imap: imaplib.IMAP4) -> None:
    with pytest.raises(imaplib.IMAP4.error, match=r"\[CANNOT\]"):
        imap.authenticate("X-UNKNOWN", Recorder())
    assert imap.noop()[0] == "OK"


# -- PLAIN -----------------------------------------------------------------------------------------


def test_plain(imap: imaplib.IMAP4) -> None:
    auth = _plain(PASSWORD)
    typ, _ = imap.authenticate("PLAIN", auth)
    assert typ == "OK"
    assert auth.challenges == [b""]  # "+ " then the one message (RFC 4616 section 4)
    _logged_in(imap)


def test_plain_wrong_password(imap: imaplib.IMAP4) -> None:
    _assert_refused(imap, "PLAIN", _plain(WRONG))
    _assert_refused(imap, "PLAIN", Recorder(b"\x00nobody\x00" + PASSWORD.encode()))
    _assert_refused(imap, "PLAIN", Recorder(b"not a PLAIN message"))
    imap.authenticate("PLAIN", _plain(PASSWORD))  # the connection goes on
    _logged_in(imap)


def test_plain_authzid_refused(imap: imaplib.IMAP4) -> None:
    # MemoryStore allows no proxy login: acting as someone else fails even with the password.
    _assert_refused(imap, "PLAIN", Recorder(b"bob\x00" + USER.encode() + b"\x00" + b"x"))
    with pytest.raises(imaplib.IMAP4.error):
        imap.authenticate(
            "PLAIN", Recorder(b"bob\x00" + USER.encode() + b"\x00" + PASSWORD.encode())
        )
    assert imap.state == "NONAUTH"


# -- LOGIN (two prompts) ---------------------------------------------------------------------------


def test_login_mechanism(imap: imaplib.IMAP4) -> None:
    auth = _login(PASSWORD)
    typ, _ = imap.authenticate("LOGIN", auth)
    assert typ == "OK"
    assert auth.challenges == [b"Username:", b"Password:"]
    _logged_in(imap)


def test_login_mechanism_wrong_password(imap: imaplib.IMAP4) -> None:
    auth = _login(WRONG)
    _assert_refused(imap, "LOGIN", auth)
    assert auth.challenges == [b"Username:", b"Password:"]
    _assert_refused(imap, "LOGIN", Recorder(b"nobody", PASSWORD.encode()))
    imap.authenticate("LOGIN", _login(PASSWORD))
    _logged_in(imap)


# -- CRAM-MD5 --------------------------------------------------------------------------------------


def test_cram_md5(imap: imaplib.IMAP4) -> None:
    typ, _ = imap.login_cram_md5(USER, PASSWORD)
    assert typ == "OK"
    _logged_in(imap)


def test_cram_md5_wrong_password(imap: imaplib.IMAP4) -> None:
    with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\]"):
        imap.login_cram_md5(USER, WRONG)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\]"):
        imap.login_cram_md5("nobody", PASSWORD)
    assert imap.state == "NONAUTH"
    imap.login_cram_md5(USER, PASSWORD)
    _logged_in(imap)


def test_cram_md5_challenge_is_a_fresh_message_id(imap: imaplib.IMAP4) -> None:
    first, second = Recorder(None), Recorder(None)
    for auth in (first, second):
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            imap.authenticate("CRAM-MD5", auth)
    (a,), (b,) = first.challenges, second.challenges
    assert a.startswith(b"<") and a.endswith(b">") and b"@" in a
    assert a != b


# -- SCRAM -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mechanism", "hash_name"), [("SCRAM-SHA-256", "sha256"), ("SCRAM-SHA-1", "sha1")]
)
def test_scram(imap: imaplib.IMAP4, mechanism: str, hash_name: str) -> None:
    auth = _scram(hash_name, PASSWORD)
    assert auth.mech.name == mechanism
    typ, _ = imap.authenticate(mechanism, auth)
    assert typ == "OK"
    # Empty challenge, server-first-message, server-final-message (RFC 5802 section 5).
    assert len(auth.challenges) == 3
    assert auth.challenges[0] == b""
    assert auth.challenges[1].startswith(b"r=") and b",s=" in auth.challenges[1]
    assert auth.challenges[2].startswith(b"v=")
    assert auth.mech.complete  # the server proved it knows the password too
    _logged_in(imap)


@pytest.mark.parametrize(
    ("mechanism", "hash_name"), [("SCRAM-SHA-256", "sha256"), ("SCRAM-SHA-1", "sha1")]
)
def test_scram_wrong_password(imap: imaplib.IMAP4, mechanism: str, hash_name: str) -> None:
    auth = _scram(hash_name, WRONG)
    _assert_refused(imap, mechanism, auth)
    assert len(auth.challenges) == 2  # refused at the proof: no server signature
    assert not auth.mech.complete
    unknown = Mechanism(scram_client("nobody", PASSWORD, hash_name=hash_name))
    _assert_refused(imap, mechanism, unknown)
    imap.authenticate(mechanism, _scram(hash_name, PASSWORD))
    _logged_in(imap)


# -- XOAUTH2 and OAUTHBEARER -----------------------------------------------------------------------


def test_xoauth2(imap: imaplib.IMAP4, tokens: Tokens) -> None:
    auth = _xoauth2(GOOD_TOKEN)
    typ, _ = imap.authenticate("XOAUTH2", auth)
    assert typ == "OK"
    assert auth.challenges == [b""]
    assert tokens.calls == [(EMAIL, GOOD_TOKEN, "XOAUTH2")]
    _logged_in(imap)


def test_xoauth2_bad_token(imap: imaplib.IMAP4, tokens: Tokens) -> None:
    auth = _xoauth2(BAD_TOKEN)
    _assert_refused(imap, "XOAUTH2", auth)
    # The JSON error challenge, acknowledged with an empty response.
    assert len(auth.challenges) == 2 and b'"status":"401"' in auth.challenges[1]
    assert tokens.calls == [(EMAIL, BAD_TOKEN, "XOAUTH2")]
    imap.authenticate("XOAUTH2", _xoauth2(GOOD_TOKEN))
    _logged_in(imap)


def test_oauthbearer(imap: imaplib.IMAP4, tokens: Tokens) -> None:
    auth = _oauthbearer(GOOD_TOKEN)
    typ, _ = imap.authenticate("OAUTHBEARER", auth)
    assert typ == "OK"
    assert auth.challenges == [b""]
    assert tokens.calls == [(EMAIL, GOOD_TOKEN, "OAUTHBEARER")]
    _logged_in(imap)


def test_oauthbearer_bad_token(imap: imaplib.IMAP4, tokens: Tokens) -> None:
    auth = _oauthbearer(BAD_TOKEN)
    _assert_refused(imap, "OAUTHBEARER", auth)
    # RFC 7628 section 3.2.2: a JSON error challenge, answered with the dummy %x01.
    assert len(auth.challenges) == 2 and b'"status":"invalid_token"' in auth.challenges[1]
    assert tokens.calls == [(EMAIL, BAD_TOKEN, "OAUTHBEARER")]
    imap.authenticate("OAUTHBEARER", _oauthbearer(GOOD_TOKEN))
    _logged_in(imap)


def test_oauthbearer_error_then_cancel(imap: imaplib.IMAP4) -> None:
    # RFC 7628 section 4.3, second form: "*" instead of the dummy response.
    auth = Recorder(f"n,a={EMAIL},\x01auth=Bearer {BAD_TOKEN}\x01\x01".encode(), None)
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        imap.authenticate("OAUTHBEARER", auth)
    assert len(auth.challenges) == 2
    assert imap.state == "NONAUTH"
    assert imap.noop()[0] == "OK"


# -- cancelling with "*" ---------------------------------------------------------------------------


def _cancel_cases() -> list[tuple[str, Callable[[], Authobject], int]]:
    """(mechanism, authobject factory, challenges seen before the cancel)."""
    return [
        ("PLAIN", lambda: Recorder(None), 1),
        ("LOGIN", lambda: Recorder(None), 1),
        ("LOGIN", lambda: Recorder(USER.encode(), None), 2),
        ("CRAM-MD5", lambda: Recorder(None), 1),
        ("SCRAM-SHA-256", lambda: _scram("sha256", PASSWORD, cancel_after=0), 1),
        ("SCRAM-SHA-256", lambda: _scram("sha256", PASSWORD, cancel_after=1), 2),
        ("SCRAM-SHA-1", lambda: _scram("sha1", PASSWORD, cancel_after=1), 2),
        # After the server's signature: the server was about to say OK.
        ("SCRAM-SHA-1", lambda: _scram("sha1", PASSWORD, cancel_after=2), 3),
        ("XOAUTH2", lambda: Recorder(None), 1),
        ("OAUTHBEARER", lambda: Recorder(None), 1),
    ]


@pytest.mark.parametrize(
    ("mechanism", "make", "seen"),
    _cancel_cases(),
    ids=[f"{name}-{seen}" for name, _, seen in _cancel_cases()],
)
def test_cancel(
    imap: imaplib.IMAP4, mechanism: str, make: Callable[[], Authobject], seen: int
) -> None:
    auth = make()
    with pytest.raises(imaplib.IMAP4.error) as info:
        imap.authenticate(mechanism, auth)
    message = str(info.value)
    assert "BAD" in message and "cancelled" in message
    assert "AUTHENTICATIONFAILED" not in message
    assert isinstance(auth, Recorder | Mechanism)
    assert len(auth.challenges) == seen
    assert imap.state == "NONAUTH"
    assert imap.noop()[0] == "OK"
    # Still not logged in: a command of the authenticated state is refused.
    with pytest.raises(imaplib.IMAP4.error):
        imap.select("INBOX")
    imap.authenticate("PLAIN", _plain(PASSWORD))
    _logged_in(imap)
