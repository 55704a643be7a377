"""OAuth 2.0 bearer token mechanisms: OAUTHBEARER (RFC 7628) and Google's XOAUTH2.

Both send the token in the initial response. On a bad token the server answers with a JSON
error as a challenge; the client acknowledges it (an empty response for XOAUTH2, a single
``%x01`` for OAUTHBEARER, RFC 7628 section 3.2.3) and the server then fails the exchange.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Callable
from typing import ClassVar

from ._base import ClientMechanism, OneMessageServer, SaslError

__all__ = [
    "OAuthBearerClient",
    "OAuthBearerServer",
    "TokenValidator",
    "XOAuth2Client",
    "XOAuth2Server",
]

TokenValidator = Callable[[str, str], bool]
"""``validate_token(user, token)``: True when ``token`` is valid for ``user``."""

_KVSEP = b"\x01"
# RFC 6750 section 2.1 b64token, the only token shape a Bearer credential may take.
_B64TOKEN = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")
# RFC 7628 section 3.1: key = 1*ALPHA, value = *(VCHAR / SP / HTAB / CR / LF).
_KEY = re.compile(rb"[A-Za-z]+")
_VALUE = re.compile(rb"[\x21-\x7e \t\r\n]*")
_MAX_MESSAGE = 64 * 1024  # tokens are large (JWTs) but not unbounded


def _bearer(user: str, token: str) -> tuple[bytes, bytes]:
    """Encode and check a user and bearer token for sending."""
    raw_user = user.encode("utf-8")
    raw_token = token.encode("ascii", "replace")
    if not raw_user or any(c in raw_user for c in b"\x00\x01"):
        raise SaslError("user must be non-empty and free of control characters")
    if not _B64TOKEN.fullmatch(raw_token):
        raise SaslError("token is not a valid bearer token")
    return raw_user, raw_token


def _parse_auth(value: bytes) -> bytes:
    """Return the token of an ``auth=Bearer <token>`` value (RFC 6750 section 2.1)."""
    scheme, sep, token = value.partition(b" ")
    if not sep or scheme.lower() != b"bearer" or not _B64TOKEN.fullmatch(token):
        raise SaslError("malformed bearer credential")
    return token


def _error_status(challenge: bytes) -> str | None:
    """Return the ``status`` of a JSON error challenge, or None when there is none."""
    try:
        data = json.loads(challenge)
    except ValueError:
        return None
    if isinstance(data, dict):
        status = data.get("status")
        return status if isinstance(status, str) else None
    return None


class _TokenClient(ClientMechanism):
    """Shared client logic: one message, then at most one error acknowledgement."""

    __slots__ = ("_error", "_message", "_state")
    _ACK: ClassVar[bytes]

    def __init__(self, message: bytes) -> None:
        self._message = message
        self._error: bytes | None = None
        self._state = "new"  # new -> sent -> acked

    def __repr__(self) -> str:
        return f"{type(self).__name__}(complete={self.complete!r})"

    def initial_response(self) -> bytes:
        """Return the whole client message (it carries the token)."""
        self._state = "sent"
        return self._message

    def respond(self, challenge: bytes) -> bytes:
        """Send the message after an empty challenge, or acknowledge an error challenge.

        Raises:
            SaslError: A challenge arrived after the error was acknowledged, or the first
                challenge was not empty.
        """
        if self._state == "new":
            if challenge:
                raise SaslError(f"unexpected {self.name} challenge")
            return self.initial_response()
        if self._state == "sent":
            self._error = challenge
            self._state = "acked"
            return self._ACK
        raise SaslError(f"unexpected {self.name} challenge")

    @property
    def error(self) -> bytes | None:
        """The server's JSON error challenge, if the token was refused."""
        return self._error

    @property
    def error_status(self) -> str | None:
        """The ``status`` member of the JSON error, if any (RFC 7628 section 3.2.2)."""
        return None if self._error is None else _error_status(self._error)

    @property
    def complete(self) -> bool:
        """True once the message was sent; the server's OK or NO tells the outcome."""
        return self._state != "new"


class _TokenServer(OneMessageServer):
    """Shared server logic: parse one message, validate, send an error challenge on failure."""

    __slots__ = ("_validate", "error_json")
    _ACK: ClassVar[bytes]

    def __init__(self, validate_token: TokenValidator, error_json: bytes) -> None:
        super().__init__()  # new -> waiting -> done | error -> failed
        self._validate = validate_token
        self.error_json = error_json

    @abc.abstractmethod
    def _parse(self, message: bytes) -> tuple[str, bytes]:
        """Return the user and token of a client message."""
        ...

    def respond(self, response: bytes) -> bytes | None:
        """Take the client message, or its acknowledgement of the error challenge.

        Raises:
            SaslError: The message is malformed, or the exchange ends in failure after the
                client acknowledged the error.
        """
        if self._state == "error":
            self._state = "failed"
            if response != self._ACK:
                raise SaslError(f"malformed {self.name} error acknowledgement")
            raise SaslError("invalid token")
        return super().respond(response)

    def _finish(self, message: bytes) -> bytes | None:
        self._state = "failed"
        if len(message) > _MAX_MESSAGE:
            raise SaslError(f"{self.name} message too long")
        user, token = self._parse(message)
        if not token or not self._validate(user, token.decode("ascii")):
            self._state = "error"
            return self.error_json
        self._succeed(user)
        return None


# --- XOAUTH2 (Google) ------------------------------------------------------------------------


class XOAuth2Client(_TokenClient):
    """Client side of XOAUTH2: ``user=<user>^Aauth=Bearer <token>^A^A``.

    Google's mechanism predates OAUTHBEARER (RFC 7628) and is still the one Gmail and
    Outlook.com advertise. On a bad token the server sends a JSON error; the client answers
    it with an empty response, found in `error`.

    Args:
        user: The mailbox user (email address).
        token: The OAuth 2.0 access token.

    Raises:
        SaslError: The user or token cannot be carried.
    """

    name: ClassVar[str] = "XOAUTH2"
    __slots__ = ()
    _ACK: ClassVar[bytes] = b""

    def __init__(self, user: str, token: str) -> None:
        raw_user, raw_token = _bearer(user, token)
        super().__init__(b"user=" + raw_user + b"\x01auth=Bearer " + raw_token + b"\x01\x01")


class XOAuth2Server(_TokenServer):
    """Server side of XOAUTH2.

    Args:
        validate_token: ``validate_token(user, token) -> bool``.
        error_json: The JSON challenge sent when the token is refused.
    """

    name: ClassVar[str] = "XOAUTH2"
    __slots__ = ()
    _ACK: ClassVar[bytes] = b""

    def __init__(
        self,
        validate_token: TokenValidator,
        error_json: bytes = b'{"status":"401","schemes":"Bearer","scope":""}',
    ) -> None:
        super().__init__(validate_token, error_json)

    def _parse(self, message: bytes) -> tuple[str, bytes]:
        if not message.endswith(b"\x01\x01"):
            raise SaslError("malformed XOAUTH2 message")
        fields: dict[bytes, bytes] = {}
        for field in message[:-2].split(_KVSEP):
            key, sep, value = field.partition(b"=")
            if not sep or key in fields:
                raise SaslError("malformed XOAUTH2 message")
            fields[key] = value
        if set(fields) != {b"user", b"auth"} or not fields[b"user"]:
            raise SaslError("malformed XOAUTH2 message")
        return _decode_user(fields[b"user"]), _parse_auth(fields[b"auth"])


def _decode_user(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError("user is not valid UTF-8") from None


# --- OAUTHBEARER (RFC 7628) ------------------------------------------------------------------


def _gs2_escape(name: bytes) -> bytes:
    """Escape a GS2 saslname (RFC 5801 section 4): ``=`` as ``=3D``, ``,`` as ``=2C``."""
    return name.replace(b"=", b"=3D").replace(b",", b"=2C")


def _gs2_unescape(name: bytes) -> bytes:
    """Undo `_gs2_escape`, rejecting any other ``=`` sequence."""
    if b"," in name or name.replace(b"=3D", b"").replace(b"=2C", b"").count(b"="):
        raise SaslError("malformed GS2 authzid")
    return name.replace(b"=2C", b",").replace(b"=3D", b"=")


class OAuthBearerClient(_TokenClient):
    """Client side of OAUTHBEARER (RFC 7628 section 3.1).

    Sends ``n,a=<user>,^Ahost=<host>^Aport=<port>^Aauth=Bearer <token>^A^A``. On a bad
    token the server sends a JSON error (RFC 7628 section 3.2.2), found in `error`; the
    client acknowledges it with ``^A``.

    Args:
        user: The authorization identity sent in the GS2 header; IMAP servers need it to
            know whose mailbox is meant.
        token: The OAuth 2.0 access token.
        host: The host name the client connected to, if it should be sent.
        port: The port the client connected to, if it should be sent.

    Raises:
        SaslError: The user, host or token cannot be carried.
    """

    name: ClassVar[str] = "OAUTHBEARER"
    __slots__ = ()
    _ACK: ClassVar[bytes] = _KVSEP

    def __init__(
        self, user: str, token: str, *, host: str | None = None, port: int | None = None
    ) -> None:
        raw_user, raw_token = _bearer(user, token)
        pairs = []
        if host is not None:
            raw_host = host.encode("ascii", "replace")
            if not raw_host or not _VALUE.fullmatch(raw_host):
                raise SaslError("host cannot be sent in OAUTHBEARER")
            pairs.append(b"host=" + raw_host)
        if port is not None:
            if not 0 < port < 65536:
                raise SaslError("port out of range")
            pairs.append(b"port=%d" % port)
        pairs.append(b"auth=Bearer " + raw_token)
        header = b"n,a=" + _gs2_escape(raw_user) + b","
        super().__init__(header + _KVSEP + b"".join(p + _KVSEP for p in pairs) + _KVSEP)


class OAuthBearerServer(_TokenServer):
    """Server side of OAUTHBEARER (RFC 7628 section 3).

    The GS2 authzid (``a=``) is required: the token alone does not name a mailbox user, and
    RFC 7628 section 3.1 lets applications require it. Unknown keys are ignored; ``host``
    and ``port`` are kept in `host` and `port` for the application to check.

    Args:
        validate_token: ``validate_token(user, token) -> bool``.
        error_json: The JSON challenge sent when the token is refused (RFC 7628 section
            3.2.2).
    """

    name: ClassVar[str] = "OAUTHBEARER"
    __slots__ = ("host", "port")
    _ACK: ClassVar[bytes] = _KVSEP

    def __init__(
        self,
        validate_token: TokenValidator,
        error_json: bytes = b'{"status":"invalid_token","schemes":"bearer"}',
    ) -> None:
        super().__init__(validate_token, error_json)
        self.host: str | None = None
        self.port: str | None = None

    def _parse(self, message: bytes) -> tuple[str, bytes]:
        if message == _KVSEP:
            # RFC 7628 section 3.1: a lone kvsep as first message; fail without discovery.
            raise SaslError("OAUTHBEARER exchange aborted")
        header, sep, rest = message.partition(_KVSEP)
        if not sep or (rest != _KVSEP and not rest.endswith(_KVSEP * 2)):
            raise SaslError("malformed OAUTHBEARER message")
        parts = header.split(b",")
        if len(parts) != 3 or parts[2] != b"":
            raise SaslError("malformed OAUTHBEARER GS2 header")
        cbind, authzid = parts[0], parts[1]
        if cbind not in (b"n", b"y"):
            raise SaslError("OAUTHBEARER does not support channel binding")
        if not authzid.startswith(b"a=") or len(authzid) == 2:
            raise SaslError("OAUTHBEARER needs an authorization identity")
        user = _decode_user(_gs2_unescape(authzid[2:]))
        fields: dict[bytes, bytes] = {}
        for pair in rest[:-2].split(_KVSEP) if rest != _KVSEP else []:
            key, eq, value = pair.partition(b"=")
            if not eq or not _KEY.fullmatch(key) or not _VALUE.fullmatch(value):
                raise SaslError("malformed OAUTHBEARER key/value pair")
            if key in fields:
                raise SaslError("duplicate OAUTHBEARER key")
            fields[key] = value
        if b"auth" not in fields:
            raise SaslError("OAUTHBEARER message has no auth")
        if b"host" in fields:
            self.host = fields[b"host"].decode("ascii")
        if b"port" in fields:
            self.port = fields[b"port"].decode("ascii")
        if fields[b"auth"] == b"":
            # RFC 7628 section 4.3: an empty auth asks for the error challenge (which says
            # the scope a token needs); the exchange then fails.
            return user, b""
        return user, _parse_auth(fields[b"auth"])
