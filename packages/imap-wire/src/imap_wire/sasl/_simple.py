"""Password and identity-only SASL mechanisms: PLAIN, LOGIN, CRAM-MD5, EXTERNAL, ANONYMOUS.

Each mechanism comes as a client and a server class. Servers verify credentials through
callbacks the application supplies and never keep the password after the check. Credentials
never appear in ``repr()`` or in exception text.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import ClassVar

from ._base import (
    ClientMechanism,
    OneMessageClient,
    OneMessageServer,
    SaslError,
    VerifyingServer,
)

__all__ = [
    "AnonymousClient",
    "AnonymousServer",
    "AuthorizeCallback",
    "CramMd5Client",
    "CramMd5Server",
    "ExternalClient",
    "ExternalServer",
    "LoginClient",
    "LoginServer",
    "PasswordCallback",
    "PasswordLookup",
    "PlainClient",
    "PlainServer",
]

PasswordCallback = Callable[[str, str], bool]
"""``check_password(authcid, password)``: True when the password is right."""

PasswordLookup = Callable[[str], "str | None"]
"""``lookup_password(authcid)``: the plaintext password, or None for an unknown user."""

AuthorizeCallback = Callable[[str, str], bool]
"""``authorize(authcid, authzid)``: True when ``authcid`` may act as ``authzid``."""

# RFC 4616 section 2 bounds authcid, authzid and passwd at 255 octets; LOGIN and CRAM-MD5
# have no stated bound, so they share it to keep hostile input small.
_MAX_FIELD = 255


def _text(data: bytes, what: str) -> str:
    """Decode a UTF-8 field a peer sent, raising `SaslError` without echoing it."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError(f"{what} is not valid UTF-8") from None


def _encode(value: str, what: str, *, allow_empty: bool = False) -> bytes:
    """Encode a local field, rejecting what the mechanisms cannot carry."""
    data = value.encode("utf-8")
    if "\0" in value:
        raise SaslError(f"{what} must not contain NUL")
    if not data and not allow_empty:
        raise SaslError(f"{what} must not be empty")
    if len(data) > _MAX_FIELD:
        raise SaslError(f"{what} is longer than {_MAX_FIELD} octets")
    return data


def _resolve_authzid(authcid: str, authzid: str, authorize: AuthorizeCallback | None) -> str:
    """Return the effective authorization identity (RFC 4422 section 3.4.1).

    An empty authzid means "act as myself". Another identity needs ``authorize``; without one
    the server refuses proxy authorization.
    """
    if not authzid or authzid == authcid:
        return authcid
    if authorize is None or not authorize(authcid, authzid):
        raise SaslError("not authorized to act as the requested identity")
    return authzid


# --- PLAIN (RFC 4616) ------------------------------------------------------------------------


class PlainClient(OneMessageClient):
    """Client side of PLAIN (RFC 4616): one message ``[authzid] NUL authcid NUL passwd``.

    PLAIN sends the password in the clear: use it only over TLS.

    Args:
        authcid: The authentication identity (user name).
        password: The password.
        authzid: The identity to act as; empty to act as ``authcid``.

    Raises:
        SaslError: A field is empty, too long or contains NUL (RFC 4616 section 2).
    """

    name: ClassVar[str] = "PLAIN"
    __slots__ = ()

    def __init__(self, authcid: str, password: str, authzid: str = "") -> None:
        super().__init__(
            b"\0".join(
                (
                    _encode(authzid, "authzid", allow_empty=True),
                    _encode(authcid, "authcid"),
                    _encode(password, "password"),
                )
            )
        )


class PlainServer(OneMessageServer):
    """Server side of PLAIN (RFC 4616).

    Args:
        check_password: ``check_password(authcid, password) -> bool``.
        authorize: ``authorize(authcid, authzid) -> bool`` for a client asking to act as
            another identity; without it such requests fail.
    """

    name: ClassVar[str] = "PLAIN"
    __slots__ = ("_authorize", "_check")

    def __init__(
        self, check_password: PasswordCallback, authorize: AuthorizeCallback | None = None
    ) -> None:
        super().__init__()
        self._check = check_password
        self._authorize = authorize

    def _finish(self, message: bytes) -> bytes | None:
        self._state = "failed"
        parts = message.split(b"\0")
        if len(parts) != 3:
            raise SaslError("malformed PLAIN message")
        raw_authzid, raw_authcid, raw_password = parts
        if not raw_authcid or not raw_password:
            raise SaslError("malformed PLAIN message: empty authcid or password")
        if max(len(p) for p in parts) > _MAX_FIELD:
            raise SaslError("malformed PLAIN message: field too long")
        authzid = _text(raw_authzid, "authzid")
        authcid = _text(raw_authcid, "authcid")
        password = _text(raw_password, "password")
        if not self._check(authcid, password):
            raise SaslError("authentication failed")
        self._succeed(authcid, _resolve_authzid(authcid, authzid, self._authorize))
        return None


# --- LOGIN (draft-murchison-sasl-login) ------------------------------------------------------


class LoginClient(ClientMechanism):
    """Client side of the obsolete LOGIN mechanism (draft-murchison-sasl-login).

    The server prompts twice (``Username:`` then ``Password:``); the client answers each
    prompt in turn whatever its text, as prompts vary between servers. Prefer PLAIN.

    Args:
        username: The user name.
        password: The password.
    """

    name: ClassVar[str] = "LOGIN"
    __slots__ = ("_answers", "_sent")

    def __init__(self, username: str, password: str) -> None:
        self._answers = (_encode(username, "username"), _encode(password, "password"))
        self._sent = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(complete={self.complete!r})"

    def initial_response(self) -> bytes | None:
        """Return None: LOGIN waits for the server's first prompt."""
        return None

    def respond(self, challenge: bytes) -> bytes:
        """Answer the user name prompt, then the password prompt.

        Raises:
            SaslError: A third prompt arrived.
        """
        if self._sent >= len(self._answers):
            raise SaslError("unexpected LOGIN challenge")
        answer = self._answers[self._sent]
        self._sent += 1
        return answer

    @property
    def complete(self) -> bool:
        """True once the password was sent."""
        return self._sent == len(self._answers)


class LoginServer(VerifyingServer):
    """Server side of LOGIN (draft-murchison-sasl-login).

    An initial response, as some clients send, is taken as the user name.

    Args:
        check_password: ``check_password(username, password) -> bool``.
    """

    name: ClassVar[str] = "LOGIN"
    __slots__ = ("_check", "_username")

    USERNAME_PROMPT: ClassVar[bytes] = b"Username:"
    PASSWORD_PROMPT: ClassVar[bytes] = b"Password:"

    def __init__(self, check_password: PasswordCallback) -> None:
        super().__init__()  # new -> username -> password -> done | failed
        self._check = check_password
        self._username: str | None = None

    def start(self, initial_response: bytes | None) -> bytes | None:
        """Prompt for the user name, or for the password when it came as initial response."""
        if self._state != "new":
            raise SaslError("LOGIN exchange already started")
        if not initial_response:
            self._state = "username"
            return self.USERNAME_PROMPT
        self._state = "username"
        return self.respond(initial_response)

    def respond(self, response: bytes) -> bytes | None:
        """Take the user name, then the password."""
        if self._state == "username":
            self._state = "failed"
            if not response or len(response) > _MAX_FIELD:
                raise SaslError("malformed LOGIN user name")
            self._username = _text(response, "user name")
            self._state = "password"
            return self.PASSWORD_PROMPT
        if self._state == "password" and self._username is not None:
            self._state = "failed"
            if len(response) > _MAX_FIELD:
                raise SaslError("malformed LOGIN password")
            password = _text(response, "password")
            if not self._check(self._username, password):
                raise SaslError("authentication failed")
            self._succeed(self._username)  # LOGIN cannot ask for another identity
            return None
        raise SaslError("unexpected LOGIN response")


# --- CRAM-MD5 (RFC 2195) ---------------------------------------------------------------------


def _cram_digest(password: str, challenge: bytes) -> bytes:
    """Return ``hex(HMAC-MD5(password, challenge))`` in lowercase ASCII (RFC 2195 section 2)."""
    return hmac.new(password.encode("utf-8"), challenge, hashlib.md5).hexdigest().encode("ascii")


class CramMd5Client(ClientMechanism):
    """Client side of CRAM-MD5 (RFC 2195): answers ``username SP hex(HMAC-MD5)``.

    CRAM-MD5 hides the password from an eavesdropper but not from an offline dictionary
    attack, and RFC 8314 era deployments should prefer SCRAM or PLAIN over TLS.

    Args:
        username: The user name.
        password: The shared secret.
    """

    name: ClassVar[str] = "CRAM-MD5"
    __slots__ = ("_done", "_password", "_username")

    def __init__(self, username: str, password: str) -> None:
        self._username = _encode(username, "username")
        if b" " in self._username:
            # The server splits the response at the last space, but many do so at the first.
            raise SaslError("username must not contain a space")
        self._password = password
        self._done = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(complete={self._done!r})"

    def initial_response(self) -> bytes | None:
        """Return None: CRAM-MD5 starts with the server's challenge."""
        return None

    def respond(self, challenge: bytes) -> bytes:
        """Answer the server's timestamp challenge (RFC 2195 section 2).

        Raises:
            SaslError: The challenge is empty or a second challenge arrived.
        """
        if self._done:
            raise SaslError("unexpected CRAM-MD5 challenge")
        if not challenge:
            raise SaslError("empty CRAM-MD5 challenge")
        self._done = True
        return self._username + b" " + _cram_digest(self._password, challenge)

    @property
    def complete(self) -> bool:
        """True once the digest was sent."""
        return self._done


class CramMd5Server(VerifyingServer):
    """Server side of CRAM-MD5 (RFC 2195).

    CRAM-MD5 needs the plaintext password (or the HMAC-MD5 inner and outer states, which are
    password equivalent) on the server, so ``lookup_password`` exposes stored secrets to
    whoever can read the store. Prefer SCRAM, whose stored keys are not password equivalent.

    Args:
        lookup_password: ``lookup_password(username) -> str | None``; None for an unknown user.
        hostname: The host name in the challenge.
        challenge: A fixed challenge, for tests only; by default a fresh
            ``<random.timestamp@hostname>`` message id.
    """

    name: ClassVar[str] = "CRAM-MD5"
    __slots__ = ("_challenge", "_lookup")

    def __init__(
        self,
        lookup_password: PasswordLookup,
        hostname: str = "localhost",
        *,
        challenge: bytes | None = None,
    ) -> None:
        super().__init__()  # new -> waiting -> done | failed
        self._lookup = lookup_password
        if challenge is None:
            challenge = f"<{secrets.randbits(63)}.{time.time_ns()}@{hostname}>".encode()
        self._challenge = challenge

    def start(self, initial_response: bytes | None) -> bytes | None:
        """Send the challenge (RFC 2195 section 2).

        Raises:
            SaslError: The client sent an initial response, which CRAM-MD5 does not have.
        """
        if self._state != "new":
            raise SaslError("CRAM-MD5 exchange already started")
        if initial_response:
            self._state = "failed"
            raise SaslError("CRAM-MD5 takes no initial response")
        self._state = "waiting"
        return self._challenge

    def respond(self, response: bytes) -> bytes | None:
        """Check ``username SP digest`` against the looked-up password."""
        if self._state != "waiting":
            raise SaslError("unexpected CRAM-MD5 response")
        self._state = "failed"
        raw_user, sep, digest = response.rpartition(b" ")
        if not sep or not raw_user or len(raw_user) > _MAX_FIELD or len(digest) != 32:
            raise SaslError("malformed CRAM-MD5 response")
        if digest.strip(b"0123456789abcdef"):
            raise SaslError("malformed CRAM-MD5 response")
        username = _text(raw_user, "username")
        password = self._lookup(username)
        # Compute a digest for unknown users too, so timing does not reveal which exist.
        expected = _cram_digest(password if password is not None else "", self._challenge)
        if not hmac.compare_digest(expected, digest) or password is None:
            raise SaslError("authentication failed")
        self._succeed(username)  # CRAM-MD5 cannot ask for another identity
        return None


# --- EXTERNAL (RFC 4422 appendix A) ----------------------------------------------------------


class ExternalClient(OneMessageClient):
    """Client side of EXTERNAL (RFC 4422 appendix A): identity comes from e.g. a TLS cert.

    Args:
        authzid: The identity to act as; empty to act as the externally established one.
    """

    name: ClassVar[str] = "EXTERNAL"
    __slots__ = ()

    def __init__(self, authzid: str = "") -> None:
        # The message is the authzid, possibly empty (RFC 4422 section A.1).
        super().__init__(_encode(authzid, "authzid", allow_empty=True))


class ExternalServer(OneMessageServer):
    """Server side of EXTERNAL (RFC 4422 appendix A).

    Args:
        external_identity: The identity the lower layer established (the TLS client
            certificate's subject, a Unix peer's user...), or None when there is none.
        authorize: ``authorize(identity, authzid) -> bool`` for a client asking to act as
            another identity; without it such requests fail.
    """

    name: ClassVar[str] = "EXTERNAL"
    __slots__ = ("_authorize", "_identity")

    def __init__(
        self, external_identity: str | None, authorize: AuthorizeCallback | None = None
    ) -> None:
        super().__init__()
        self._identity = external_identity
        self._authorize = authorize

    def _finish(self, message: bytes) -> bytes | None:
        self._state = "failed"
        if self._identity is None:
            raise SaslError("no external identity established")
        if len(message) > _MAX_FIELD or b"\0" in message:
            raise SaslError("malformed EXTERNAL authzid")
        authzid = _text(message, "authzid")
        self._succeed(self._identity, _resolve_authzid(self._identity, authzid, self._authorize))
        return None


# --- ANONYMOUS (RFC 4505) --------------------------------------------------------------------


def _check_trace(trace: str) -> None:
    """Check a trace is an email or a token of at most 255 characters (RFC 4505 section 2)."""
    if len(trace) > 255 or "\0" in trace:
        raise SaslError("malformed ANONYMOUS trace")


class AnonymousClient(OneMessageClient):
    """Client side of ANONYMOUS (RFC 4505).

    Args:
        trace: Optional trace information, an email address or an opaque token of at most
            255 characters (RFC 4505 section 2).
    """

    name: ClassVar[str] = "ANONYMOUS"
    __slots__ = ()

    def __init__(self, trace: str = "") -> None:
        _check_trace(trace)
        super().__init__(trace.encode("utf-8"))


class AnonymousServer(OneMessageServer):
    """Server side of ANONYMOUS (RFC 4505).

    Whether anonymous access is offered at all is the server's decision; this class only runs
    the exchange. The trace is kept in `trace` for logging and is not an identity.

    Args:
        username: The `authcid` and `authzid` reported on success.
    """

    name: ClassVar[str] = "ANONYMOUS"
    __slots__ = ("_trace", "_username")

    def __init__(self, username: str = "anonymous") -> None:
        super().__init__()
        self._username = username
        self._trace: str | None = None

    def _finish(self, message: bytes) -> bytes | None:
        self._state = "failed"
        if len(message) > 1020:
            raise SaslError("malformed ANONYMOUS trace")
        trace = _text(message, "trace")
        _check_trace(trace)
        self._trace = trace
        self._succeed(self._username)
        return None

    @property
    def trace(self) -> str | None:
        """The client's trace information, once received (RFC 4505 section 2)."""
        return self._trace
