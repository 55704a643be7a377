"""SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants (RFC 5802, RFC 7677), with SASLprep.

The client proves it knows the password without sending it; the server proves it holds the
password's keys. The server stores only `ScramCredentials` (salt, iteration count, StoredKey,
ServerKey), never the password (RFC 5802 section 3). The -PLUS variants bind the exchange to
the TLS channel (RFC 5802 section 6, RFC 9266 ``tls-exporter``).

In IMAP the server-final-message travels as a challenge (RFC 9051 section 6.2.2 has no
additional data with success), so the client answers it with an empty response, and the
server's `ServerMechanism.respond` returns None after that empty response.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Final

from ._base import ClientMechanism, SaslError, ServerMechanism

__all__ = [
    "ScramClient",
    "ScramCredentials",
    "ScramServer",
    "ScramSha1Client",
    "ScramSha1PlusClient",
    "ScramSha1PlusServer",
    "ScramSha1Server",
    "ScramSha256Client",
    "ScramSha256PlusClient",
    "ScramSha256PlusServer",
    "ScramSha256Server",
    "saslprep",
    "scram_client",
    "scram_server",
]

_HASH_NAMES: Final = {"sha1": "SCRAM-SHA-1", "sha256": "SCRAM-SHA-256"}
_MIN_ITERATIONS: Final = 4096
# A server-chosen count above this would let a hostile server burn the client's CPU.
_MAX_ITERATIONS: Final = 10_000_000
# printable = %x21-2B / %x2D-7E (RFC 5802 section 7): printable ASCII except ",".
_NONCE_RE: Final = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
_POSIT_NUMBER_RE: Final = re.compile(r"[1-9][0-9]*")
_CB_NAME_RE: Final = re.compile(r"[A-Za-z0-9.-]+")
_ATTR_RE: Final = re.compile(r"([A-Za-z])=(.*)", re.DOTALL)
_SERVER_ERROR_RE: Final = re.compile(r"[\x21-\x2b\x2d-\x3c\x3e-\x7e]{1,64}")
# Keys the made-up salt of unknown users, so it stays the same across attempts in one process.
_UNKNOWN_USER_KEY: Final = secrets.token_bytes(32)


# -- SASLprep (RFC 4013) ---------------------------------------------------------------------

_PROHIBITED: Final[tuple[Callable[[str], bool], ...]] = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def saslprep(text: str, *, allow_unassigned: bool = True) -> str:
    """Prepare a username or password with the SASLprep profile (RFC 4013 section 2).

    Maps non-ASCII spaces (table C.1.2) to SPACE and "commonly mapped to nothing" characters
    (table B.1) to nothing, normalizes to NFKC, then refuses prohibited characters (tables
    C.1.2, C.2.1, C.2.2, C.3 to C.9) and strings breaking the bidirectional rules (RFC 3454
    section 6).

    Args:
        text: The string to prepare.
        allow_unassigned: Treat the string as a query (unassigned code points allowed, as
            RFC 5802 section 5.1 asks for SCRAM) rather than a stored string (RFC 3454
            section 7).

    Returns:
        The prepared string.

    Raises:
        SaslError: The string holds a prohibited or unassigned character or breaks the bidi
            rules. The text never includes the string.
    """
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in text
        if not stringprep.in_table_b1(char)
    )
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    if not prepared:
        return prepared
    for char in prepared:
        if any(table(char) for table in _PROHIBITED):
            raise SaslError("SASLprep: prohibited character (RFC 4013 section 2.3)")
        if not allow_unassigned and stringprep.in_table_a1(char):
            raise SaslError("SASLprep: unassigned code point (RFC 4013 section 2.5)")
    if any(stringprep.in_table_d1(char) for char in prepared):
        if any(stringprep.in_table_d2(char) for char in prepared):
            raise SaslError("SASLprep: mixed-direction string (RFC 3454 section 6)")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise SaslError("SASLprep: right-to-left string ends badly (RFC 3454 section 6)")
    return prepared


# -- shared helpers ----------------------------------------------------------------------------


def _hmac(hash_name: str, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hash_name).digest()


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SaslError(f"SCRAM: {what} is not valid base64 (RFC 5802 section 7)") from None


def _decode_utf8(message: bytes) -> str:
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError("SCRAM: message is not valid UTF-8 (RFC 5802 section 7)") from None


def _encode_saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _decode_saslname(text: str, what: str) -> str:
    """Undo the ``=2C`` / ``=3D`` escaping of a saslname (RFC 5802 section 5.1)."""
    if not text or "," in text or re.search(r"=(?!2C|3D)", text):
        raise SaslError(f"SCRAM: malformed {what} (RFC 5802 section 7)")
    return text.replace("=2C", ",").replace("=3D", "=")


def _attributes(text: str) -> list[tuple[str, str]]:
    """Split a comma-separated ``attr=value`` list (RFC 5802 section 5)."""
    attrs: list[tuple[str, str]] = []
    for part in text.split(","):
        match = _ATTR_RE.fullmatch(part)
        if match is None:
            raise SaslError("SCRAM: malformed attribute (RFC 5802 section 5)")
        attrs.append((match.group(1), match.group(2)))
    return attrs


def _expect(attrs: list[tuple[str, str]], index: int, key: str) -> str:
    if index >= len(attrs) or attrs[index][0] != key:
        raise SaslError(f"SCRAM: expected attribute {key!r} (RFC 5802 section 7)")
    return attrs[index][1]


def _check_extensions(attrs: list[tuple[str, str]]) -> None:
    for _key, value in attrs:
        if not value:
            raise SaslError("SCRAM: malformed extension attribute (RFC 5802 section 7)")


def _check_nonce(nonce: str) -> str:
    if _NONCE_RE.fullmatch(nonce) is None:
        raise SaslError("SCRAM: nonce must be printable ASCII without ',' (RFC 5802 section 7)")
    return nonce


def _default_nonce() -> str:
    return secrets.token_urlsafe(24)


def _channel_binding_name(channel_binding: tuple[str, bytes] | None) -> None:
    if channel_binding is not None and _CB_NAME_RE.fullmatch(channel_binding[0]) is None:
        raise ValueError("channel binding type must be letters, digits, '.' or '-'")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScramCredentials:
    """What a SCRAM server stores for a user instead of the password (RFC 5802 section 3).

    Attributes:
        salt: The user's salt.
        iterations: The PBKDF2 iteration count ``i``.
        stored_key: ``H(HMAC(SaltedPassword, "Client Key"))``.
        server_key: ``HMAC(SaltedPassword, "Server Key")``.
    """

    salt: bytes = field(repr=False)
    iterations: int
    stored_key: bytes = field(repr=False)
    server_key: bytes = field(repr=False)

    @classmethod
    def derive(
        cls,
        password: str,
        *,
        salt: bytes | None = None,
        iterations: int = _MIN_ITERATIONS,
        hash_name: str = "sha256",
    ) -> ScramCredentials:
        """Compute the stored keys for a password (RFC 5802 section 3).

        Args:
            password: The plaintext password; SASLprep'd first.
            salt: The salt; 16 random bytes when None.
            iterations: The iteration count (RFC 7677 section 4 recommends at least 4096).
            hash_name: ``"sha1"`` or ``"sha256"``.

        Returns:
            The credentials to store.

        Raises:
            ValueError: Unknown hash, empty salt or a count below 1.
            SaslError: The password fails SASLprep.
        """
        if hash_name not in _HASH_NAMES:
            raise ValueError(f"unsupported SCRAM hash {hash_name!r}")
        if iterations < 1:
            raise ValueError("iterations must be at least 1")
        if salt is None:
            salt = secrets.token_bytes(16)
        if not salt:
            raise ValueError("salt must not be empty")
        salted = hashlib.pbkdf2_hmac(hash_name, saslprep(password).encode(), salt, iterations)
        client_key = _hmac(hash_name, salted, b"Client Key")
        return cls(
            salt=salt,
            iterations=iterations,
            stored_key=hashlib.new(hash_name, client_key).digest(),
            server_key=_hmac(hash_name, salted, b"Server Key"),
        )


# -- client ------------------------------------------------------------------------------------


class ScramClient(ClientMechanism):
    """The client side of SCRAM (RFC 5802 section 5); use a hash-specific subclass.

    Sends client-first-message as the initial response, answers server-first-message with
    client-final-message, then checks server-final-message's signature and answers it with an
    empty response.
    """

    hash_name: ClassVar[str]
    plus: ClassVar[bool]

    __slots__ = (
        "_auth_message",
        "_channel_binding",
        "_client_first_bare",
        "_complete",
        "_gs2_header",
        "_max_iterations",
        "_min_iterations",
        "_nonce",
        "_password",
        "_server_signature",
        "_state",
    )

    def __init__(
        self,
        username: str,
        password: str,
        *,
        authzid: str | None = None,
        channel_binding: tuple[str, bytes] | None = None,
        nonce_factory: Callable[[], str] = _default_nonce,
        min_iterations: int = _MIN_ITERATIONS,
        max_iterations: int = _MAX_ITERATIONS,
    ) -> None:
        """Prepare an exchange.

        Args:
            username: The authentication identity; SASLprep'd and escaped.
            password: The password; SASLprep'd.
            authzid: The identity to act as, if not the username (RFC 5802 section 5.1 "a").
            channel_binding: ``(type, data)`` of the TLS channel, e.g. ``("tls-exporter",
                data)`` (RFC 9266). Required by the -PLUS classes; for the others it means the
                client could bind but believes the server cannot (gs2 flag ``y``).
            nonce_factory: Returns the client nonce; `secrets` by default.
            min_iterations: The smallest iteration count accepted from the server.
            max_iterations: The largest iteration count accepted from the server.

        Raises:
            SaslError: The username or password fails SASLprep, or the username is empty.
            ValueError: Channel binding missing for -PLUS or malformed, or bad limits.
        """
        if self.plus and channel_binding is None:
            raise ValueError(f"{self.name} needs channel binding data")
        _channel_binding_name(channel_binding)
        if not 1 <= min_iterations <= max_iterations:
            raise ValueError("need 1 <= min_iterations <= max_iterations")
        prepared_user = saslprep(username)
        if not prepared_user:
            raise SaslError("SCRAM: empty username (RFC 5802 section 5.1)")
        self._password = saslprep(password).encode()
        if channel_binding is None:
            flag = "n"
        elif self.plus:
            flag = f"p={channel_binding[0]}"
        else:
            flag = "y"
        authz = "" if authzid is None else f"a={_encode_saslname(authzid)}"
        self._gs2_header = f"{flag},{authz},"
        self._channel_binding = channel_binding
        self._nonce = _check_nonce(nonce_factory())
        self._client_first_bare = f"n={_encode_saslname(prepared_user)},r={self._nonce}"
        self._min_iterations = min_iterations
        self._max_iterations = max_iterations
        self._server_signature = b""
        self._state = "initial"
        self._complete = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} state={self._state}>"

    def initial_response(self) -> bytes | None:
        """Return client-first-message (RFC 5802 section 5.1).

        Returns:
            ``gs2-header client-first-message-bare``.

        Raises:
            SaslError: Called twice.
        """
        if self._state != "initial":
            raise SaslError("SCRAM: initial response already sent")
        self._state = "first-sent"
        return (self._gs2_header + self._client_first_bare).encode()

    def respond(self, challenge: bytes) -> bytes:
        """Answer server-first-message or check server-final-message (RFC 5802 section 5).

        Args:
            challenge: The server's message.

        Returns:
            client-final-message, then an empty response once the server is verified.

        Raises:
            SaslError: The message is malformed, the nonce or iteration count is refused, the
                server reported an error (``e=``) or its signature does not verify.
        """
        if self._state == "initial":
            # The server sent an empty challenge because we sent no initial response.
            if challenge:
                raise SaslError("SCRAM: the client speaks first (RFC 5802 section 5)")
            return self.initial_response() or b""
        if self._state == "first-sent":
            self._state = "failed"
            reply = self._client_final(_decode_utf8(challenge))
            self._state = "final-sent"
            return reply
        if self._state == "final-sent":
            self._state = "failed"
            self._check_server_final(_decode_utf8(challenge))
            self._state = "done"
            self._complete = True
            return b""
        raise SaslError("SCRAM: exchange not in progress")

    @property
    def complete(self) -> bool:
        """True once the server's signature verified."""
        return self._complete

    def _client_final(self, server_first: str) -> bytes:
        attrs = _attributes(server_first)
        if attrs and attrs[0][0] == "m":
            raise SaslError("SCRAM: unsupported mandatory extension (RFC 5802 section 5.1)")
        nonce = _check_nonce(_expect(attrs, 0, "r"))
        salt = _b64decode(_expect(attrs, 1, "s"), "salt")
        count = _expect(attrs, 2, "i")
        _check_extensions(attrs[3:])
        if not salt:
            raise SaslError("SCRAM: empty salt (RFC 5802 section 5.1)")
        if len(nonce) <= len(self._nonce) or not nonce.startswith(self._nonce):
            raise SaslError("SCRAM: server nonce does not extend the client nonce")
        if _POSIT_NUMBER_RE.fullmatch(count) is None:
            raise SaslError("SCRAM: malformed iteration count (RFC 5802 section 7)")
        iterations = int(count) if len(count) <= 12 else self._max_iterations + 1
        if not self._min_iterations <= iterations <= self._max_iterations:
            raise SaslError("SCRAM: iteration count outside the accepted range")

        hash_name = self.hash_name
        cbind_input = self._gs2_header.encode()
        if self.plus and self._channel_binding is not None:
            cbind_input += self._channel_binding[1]
        without_proof = f"c={_b64encode(cbind_input)},r={nonce}"
        auth_message = f"{self._client_first_bare},{server_first},{without_proof}".encode()

        salted = hashlib.pbkdf2_hmac(hash_name, self._password, salt, iterations)
        client_key = _hmac(hash_name, salted, b"Client Key")
        stored_key = hashlib.new(hash_name, client_key).digest()
        proof = _xor(client_key, _hmac(hash_name, stored_key, auth_message))
        server_key = _hmac(hash_name, salted, b"Server Key")
        self._server_signature = _hmac(hash_name, server_key, auth_message)
        return f"{without_proof},p={_b64encode(proof)}".encode()

    def _check_server_final(self, server_final: str) -> None:
        attrs = _attributes(server_final)
        _check_extensions(attrs[1:])
        if attrs[0][0] == "e":
            value = attrs[0][1]
            if _SERVER_ERROR_RE.fullmatch(value) is None:
                value = "(malformed)"
            raise SaslError(f"SCRAM: server refused authentication: {value}")
        signature = _b64decode(_expect(attrs, 0, "v"), "server signature")
        if not hmac.compare_digest(signature, self._server_signature):
            raise SaslError("SCRAM: server signature does not verify (RFC 5802 section 5.1)")


class ScramSha1Client(ScramClient):
    """SCRAM-SHA-1 client (RFC 5802)."""

    __slots__ = ()
    name: ClassVar[str] = "SCRAM-SHA-1"
    hash_name: ClassVar[str] = "sha1"
    plus: ClassVar[bool] = False


class ScramSha1PlusClient(ScramClient):
    """SCRAM-SHA-1-PLUS client, with channel binding (RFC 5802 section 6)."""

    __slots__ = ()
    name: ClassVar[str] = "SCRAM-SHA-1-PLUS"
    hash_name: ClassVar[str] = "sha1"
    plus: ClassVar[bool] = True


class ScramSha256Client(ScramClient):
    """SCRAM-SHA-256 client (RFC 7677)."""

    __slots__ = ()
    name: ClassVar[str] = "SCRAM-SHA-256"
    hash_name: ClassVar[str] = "sha256"
    plus: ClassVar[bool] = False


class ScramSha256PlusClient(ScramClient):
    """SCRAM-SHA-256-PLUS client, with channel binding (RFC 7677, RFC 5802 section 6)."""

    __slots__ = ()
    name: ClassVar[str] = "SCRAM-SHA-256-PLUS"
    hash_name: ClassVar[str] = "sha256"
    plus: ClassVar[bool] = True


_CLIENTS: Final[dict[tuple[str, bool], type[ScramClient]]] = {
    ("sha1", False): ScramSha1Client,
    ("sha1", True): ScramSha1PlusClient,
    ("sha256", False): ScramSha256Client,
    ("sha256", True): ScramSha256PlusClient,
}


def scram_client(
    username: str,
    password: str,
    *,
    hash_name: str = "sha256",
    authzid: str | None = None,
    channel_binding: tuple[str, bytes] | None = None,
    nonce_factory: Callable[[], str] = _default_nonce,
    min_iterations: int = _MIN_ITERATIONS,
    max_iterations: int = _MAX_ITERATIONS,
) -> ScramClient:
    """Make a SCRAM client: the -PLUS variant when channel binding data is given.

    Args:
        username: The authentication identity.
        password: The password.
        hash_name: ``"sha1"`` or ``"sha256"``.
        authzid: The identity to act as, if any.
        channel_binding: ``(type, data)`` of the TLS channel (RFC 9266), if any.
        nonce_factory: Returns the client nonce.
        min_iterations: The smallest iteration count accepted from the server.
        max_iterations: The largest iteration count accepted from the server.

    Returns:
        The client mechanism, named e.g. ``SCRAM-SHA-256-PLUS``.

    Raises:
        ValueError: Unknown hash.
        SaslError: The username or password fails SASLprep.
    """
    try:
        cls = _CLIENTS[hash_name, channel_binding is not None]
    except KeyError:
        raise ValueError(f"unsupported SCRAM hash {hash_name!r}") from None
    return cls(
        username,
        password,
        authzid=authzid,
        channel_binding=channel_binding,
        nonce_factory=nonce_factory,
        min_iterations=min_iterations,
        max_iterations=max_iterations,
    )


# -- server ------------------------------------------------------------------------------------


class ScramServer(ServerMechanism):
    """The server side of SCRAM (RFC 5802 section 5); use a hash-specific subclass.

    An unknown user gets a made-up salt and fails at the proof, like a wrong password, so the
    exchange does not reveal which users exist.
    """

    hash_name: ClassVar[str]
    plus: ClassVar[bool]

    __slots__ = (
        "_authcid",
        "_authzid",
        "_channel_binding",
        "_client_first_bare",
        "_complete",
        "_credentials",
        "_gs2_header",
        "_lookup",
        "_nonce",
        "_nonce_factory",
        "_server_first",
        "_state",
        "_username",
        "_verified_authzid",
    )

    def __init__(
        self,
        lookup: Callable[[str], ScramCredentials | None],
        *,
        channel_binding: tuple[str, bytes] | None = None,
        nonce_factory: Callable[[], str] = _default_nonce,
    ) -> None:
        """Prepare an exchange.

        Args:
            lookup: Returns the stored credentials of a (SASLprep'd) username, or None.
            channel_binding: ``(type, data)`` of the TLS channel. Required by the -PLUS
                classes; for the others it means the server advertises -PLUS too, so a client
                flag ``y`` is a downgrade and refused (RFC 5802 section 6).
            nonce_factory: Returns the server's nonce part; `secrets` by default.

        Raises:
            ValueError: Channel binding missing for -PLUS or malformed.
        """
        if self.plus and channel_binding is None:
            raise ValueError(f"{self.name} needs channel binding data")
        _channel_binding_name(channel_binding)
        self._lookup = lookup
        self._channel_binding = channel_binding
        self._nonce_factory = nonce_factory
        self._state = "initial"
        self._complete = False
        self._authcid: str | None = None
        self._authzid: str | None = None
        self._verified_authzid: str | None = None
        self._username = ""
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._credentials: ScramCredentials | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} state={self._state}>"

    def start(self, initial_response: bytes | None) -> bytes | None:
        """Read client-first-message and return server-first-message (RFC 5802 section 5.1).

        Args:
            initial_response: client-first-message, or None to ask for it with an empty
                challenge.

        Returns:
            The challenge to send.

        Raises:
            SaslError: The message is malformed or asks for an unsupported binding.
        """
        if self._state != "initial":
            raise SaslError("SCRAM: exchange already started")
        if initial_response is None:
            self._state = "waiting-first"
            return b""
        return self._first(initial_response)

    def respond(self, response: bytes) -> bytes | None:
        """Process the next client message (RFC 5802 section 5).

        Args:
            response: client-first-message (when there was no initial response),
                client-final-message, or the empty response acknowledging server-final.

        Returns:
            The next challenge (server-first-message or server-final-message), or None once
            the exchange succeeded.

        Raises:
            SaslError: The message is malformed, the channel binding or nonce does not match,
                or the proof is wrong.
        """
        if self._state == "waiting-first":
            return self._first(response)
        if self._state == "first-sent":
            self._state = "failed"
            reply = self._final(_decode_utf8(response))
            self._state = "final-sent"
            return reply
        if self._state == "final-sent":
            if response:
                self._state = "failed"
                raise SaslError("SCRAM: expected an empty response (RFC 5802 section 5)")
            self._state = "done"
            self._complete = True
            return None
        raise SaslError("SCRAM: exchange not in progress")

    @property
    def authcid(self) -> str | None:
        """The SASLprep'd username, once the proof verified."""
        return self._authcid

    @property
    def authzid(self) -> str | None:
        """The requested authorization identity, once the proof verified."""
        return self._verified_authzid

    @property
    def complete(self) -> bool:
        """True once the client acknowledged server-final-message."""
        return self._complete

    def _first(self, message: bytes) -> bytes:
        self._state = "failed"
        text = _decode_utf8(message)
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise SaslError("SCRAM: malformed gs2 header (RFC 5802 section 7)")
        flag, authz, bare = parts
        self._check_flag(flag)
        if authz:
            if not authz.startswith("a="):
                raise SaslError("SCRAM: malformed gs2 header (RFC 5802 section 7)")
            self._authzid = _decode_saslname(authz[2:], "authzid")
        attrs = _attributes(bare)
        if attrs and attrs[0][0] == "m":
            raise SaslError("SCRAM: unsupported mandatory extension (RFC 5802 section 5.1)")
        username = saslprep(_decode_saslname(_expect(attrs, 0, "n"), "username"))
        if not username:
            raise SaslError("SCRAM: empty username (RFC 5802 section 5.1)")
        client_nonce = _check_nonce(_expect(attrs, 1, "r"))
        _check_extensions(attrs[2:])

        credentials = self._lookup(username)
        if credentials is None:
            credentials = ScramCredentials(
                salt=_hmac("sha256", _UNKNOWN_USER_KEY, username.encode())[:16],
                iterations=_MIN_ITERATIONS,
                stored_key=b"",
                server_key=b"",
            )
        self._credentials = credentials
        self._username = username
        self._gs2_header = f"{flag},{authz},"
        self._client_first_bare = bare
        self._nonce = client_nonce + _check_nonce(self._nonce_factory())
        self._server_first = (
            f"r={self._nonce},s={_b64encode(credentials.salt)},i={credentials.iterations}"
        )
        self._state = "first-sent"
        return self._server_first.encode()

    def _check_flag(self, flag: str) -> None:
        if flag == "n" or flag == "y":
            if self.plus:
                raise SaslError(f"SCRAM: {self.name} requires channel binding")
            if flag == "y" and self._channel_binding is not None:
                # The client would have bound had it seen -PLUS: someone removed it.
                raise SaslError("SCRAM: channel binding downgrade (RFC 5802 section 6)")
            return
        if not flag.startswith("p=") or _CB_NAME_RE.fullmatch(flag[2:]) is None:
            raise SaslError("SCRAM: malformed gs2 header (RFC 5802 section 7)")
        if not self.plus:
            raise SaslError(f"SCRAM: {self.name} does not do channel binding, use -PLUS")
        assert self._channel_binding is not None
        if flag[2:] != self._channel_binding[0]:
            raise SaslError("SCRAM: unsupported channel binding type (RFC 5802 section 6)")

    def _final(self, text: str) -> bytes:
        attrs = _attributes(text)
        cbind = _b64decode(_expect(attrs, 0, "c"), "channel binding")
        nonce = _expect(attrs, 1, "r")
        if len(attrs) < 3 or attrs[-1][0] != "p":
            raise SaslError("SCRAM: expected attribute 'p' last (RFC 5802 section 7)")
        _check_extensions(attrs[2:-1])
        proof = _b64decode(attrs[-1][1], "proof")

        expected_cbind = self._gs2_header.encode()
        if self.plus and self._channel_binding is not None:
            expected_cbind += self._channel_binding[1]
        if not hmac.compare_digest(cbind, expected_cbind):
            raise SaslError("SCRAM: channel binding does not match (RFC 5802 section 6)")
        if not hmac.compare_digest(nonce.encode(), self._nonce.encode()):
            raise SaslError("SCRAM: nonce does not match (RFC 5802 section 5.1)")

        credentials = self._credentials
        assert credentials is not None
        hash_name = self.hash_name
        without_proof = text[: text.rindex(",p=")]
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_signature = _hmac(hash_name, credentials.stored_key, auth_message)
        if len(proof) != len(client_signature) or not credentials.stored_key:
            raise SaslError("SCRAM: invalid proof (RFC 5802 section 5.1)")
        client_key = _xor(proof, client_signature)
        if not hmac.compare_digest(
            hashlib.new(hash_name, client_key).digest(), credentials.stored_key
        ):
            raise SaslError("SCRAM: invalid proof (RFC 5802 section 5.1)")
        self._authcid = self._username
        self._verified_authzid = self._authzid
        signature = _hmac(hash_name, credentials.server_key, auth_message)
        return f"v={_b64encode(signature)}".encode()


class ScramSha1Server(ScramServer):
    """SCRAM-SHA-1 server (RFC 5802)."""

    __slots__ = ()
    name: ClassVar[str] = "SCRAM-SHA-1"
    hash_name: ClassVar[str] = "sha1"
    plus: ClassVar[bool] = False


class ScramSha1PlusServer(ScramServer):
    """SCRAM-SHA-1-PLUS server, with channel binding (RFC 5802 section 6)."""

    __slots__ = ()
    name: ClassVar[str] = "SCRAM-SHA-1-PLUS"
    hash_name: ClassVar[str] = "sha1"
    plus: ClassVar[bool] = True


class ScramSha256Server(ScramServer):
    """SCRAM-SHA-256 server (RFC 7677)."""

    __slots__ = ()
    name: ClassVar[str] = "SCRAM-SHA-256"
    hash_name: ClassVar[str] = "sha256"
    plus: ClassVar[bool] = False


class ScramSha256PlusServer(ScramServer):
    """SCRAM-SHA-256-PLUS server, with channel binding (RFC 7677, RFC 5802 section 6)."""

    __slots__ = ()
    name: ClassVar[str] = "SCRAM-SHA-256-PLUS"
    hash_name: ClassVar[str] = "sha256"
    plus: ClassVar[bool] = True


_SERVERS: Final[dict[tuple[str, bool], type[ScramServer]]] = {
    ("sha1", False): ScramSha1Server,
    ("sha1", True): ScramSha1PlusServer,
    ("sha256", False): ScramSha256Server,
    ("sha256", True): ScramSha256PlusServer,
}


def scram_server(
    lookup: Callable[[str], ScramCredentials | None],
    *,
    hash_name: str = "sha256",
    channel_binding: tuple[str, bytes] | None = None,
    plus: bool | None = None,
    nonce_factory: Callable[[], str] = _default_nonce,
) -> ScramServer:
    """Make a SCRAM server for the mechanism the client chose.

    Args:
        lookup: Returns the stored credentials of a username, or None.
        hash_name: ``"sha1"`` or ``"sha256"``.
        channel_binding: ``(type, data)`` of the TLS channel (RFC 9266), if any.
        plus: Whether the client chose the -PLUS variant; by default, whether channel binding
            data is given.
        nonce_factory: Returns the server's nonce part.

    Returns:
        The server mechanism.

    Raises:
        ValueError: Unknown hash, or -PLUS without channel binding data.
    """
    if plus is None:
        plus = channel_binding is not None
    try:
        cls = _SERVERS[hash_name, plus]
    except KeyError:
        raise ValueError(f"unsupported SCRAM hash {hash_name!r}") from None
    return cls(lookup, channel_binding=channel_binding, nonce_factory=nonce_factory)
