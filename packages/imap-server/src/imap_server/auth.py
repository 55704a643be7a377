"""Authentication: the authenticator interfaces and the SASL mechanism registry.

Each mechanism family verifies through its own interface, all async so a store can ask a
database:

- `PasswordAuthenticator` (defined in `imap_server.store`): LOGIN, PLAIN and the LOGIN
  mechanism. The server calls it through `Session.login`.
- `ScramAuthenticator`: SCRAM-SHA-1 / SCRAM-SHA-256 (and -PLUS), from stored keys, never the
  password (RFC 5802 section 3).
- `CramMd5Authenticator`: CRAM-MD5 (RFC 2195). It needs the plaintext password (or a
  password-equivalent secret) on the server, so it is off unless an authenticator offers
  ``cram_md5_secret``; `MemoryStore` does not.
- `TokenAuthenticator`: XOAUTH2 and OAUTHBEARER (RFC 7628).
- `CertificateAuthenticator`: EXTERNAL, from the TLS client certificate.

`SaslMechanisms` says which mechanisms a server offers; by default every one whose
authenticator is configured, except ANONYMOUS. A mechanism is advertised (``AUTH=<name>``)
only where it can run: -PLUS needs TLS with a channel binding, EXTERNAL a client certificate.

The mechanisms of `imap_wire.sasl` are sans-I/O and call *synchronous* callbacks. The bridge:
each mechanism step (``start`` / ``respond``) runs in a worker thread
(`anyio.to_thread.run_sync`), and the callbacks call the async authenticators back in the
event loop with `anyio.from_thread.run`. The event loop stays free while a step waits for a
store; the thread only waits.
"""

from __future__ import annotations

import abc
import hashlib
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.from_thread
import anyio.to_thread

from imap_wire.sasl import (
    AnonymousServer,
    CramMd5Server,
    ExternalServer,
    LoginServer,
    OAuthBearerServer,
    PlainServer,
    ScramCredentials,
    ServerMechanism,
    XOAuth2Server,
    scram_server,
)

from .errors import AuthenticationFailed
from .store import PasswordAuthenticator

if TYPE_CHECKING:
    from .connection import CommandContext

__all__ = [
    "DEFAULT_MECHANISMS",
    "Authenticators",
    "CertificateAuthenticator",
    "CramMd5Authenticator",
    "MechanismSpec",
    "PasswordAuthenticator",
    "SaslExchange",
    "SaslMechanisms",
    "SaslTransport",
    "ScramAuthenticator",
    "TokenAuthenticator",
    "certificate_signature_hash",
    "tls_server_end_point",
]


class ScramAuthenticator(abc.ABC):
    """Gives the SCRAM stored keys of a user (RFC 5802 section 3)."""

    @abc.abstractmethod
    async def scram_credentials(self, username: str, hash_name: str) -> ScramCredentials | None:
        """Return the user's credentials for ``hash_name`` (``"sha1"``, ``"sha256"``), or
        None for an unknown user (the exchange then fails at the proof, like a wrong
        password)."""


class CramMd5Authenticator(abc.ABC):
    """Gives the CRAM-MD5 secret of a user: the plaintext password (RFC 2195).

    Only a store that keeps passwords recoverable can offer this; prefer SCRAM.
    """

    @abc.abstractmethod
    async def cram_md5_secret(self, username: str) -> str | None:
        """Return the user's password, or None for an unknown user."""


class TokenAuthenticator(abc.ABC):
    """Checks OAuth 2.0 bearer tokens (XOAUTH2, OAUTHBEARER)."""

    @abc.abstractmethod
    async def check_token(self, username: str, token: str, *, mechanism: str) -> str | None:
        """Return the user to log in as if ``token`` lets ``username`` in, else None."""


class CertificateAuthenticator(abc.ABC):
    """Maps a TLS client certificate to a user (EXTERNAL)."""

    @abc.abstractmethod
    async def user_for_certificate(self, der: bytes, authzid: str | None) -> str | None:
        """Return the user to log in as, or None to refuse.

        Args:
            der: The client certificate (DER); the TLS layer verified it against the server
                context's CA list.
            authzid: The identity the client asks to act as, or None for the certificate's.
        """


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticators:
    """The authenticators a server has, per mechanism family (None: that family is off)."""

    password: PasswordAuthenticator | None = None
    scram: ScramAuthenticator | None = None
    cram_md5: CramMd5Authenticator | None = None
    token: TokenAuthenticator | None = None
    certificate: CertificateAuthenticator | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslTransport:
    """What a mechanism needs to know about the connection.

    Attributes:
        tls: The connection is encrypted.
        channel_binding: ``(type, data)`` of the TLS channel for SCRAM -PLUS, or None.
        peer_certificate: The client's certificate (DER), or None.
    """

    tls: bool = False
    channel_binding: tuple[str, bytes] | None = None
    peer_certificate: bytes | None = None


class SaslExchange:
    """One running mechanism, and how the verified identity becomes a logged-in session.

    Args:
        mechanism: The sans-I/O mechanism.
        finish: Called once the mechanism completed; logs the session in and returns the
            user name (raises `AuthenticationFailed` to refuse).
    """

    __slots__ = ("_finish", "attempted_user", "mechanism", "user_hook")

    def __init__(
        self, mechanism: ServerMechanism, finish: Callable[[CommandContext], Awaitable[str]]
    ) -> None:
        self.mechanism = mechanism
        self._finish = finish
        #: The user the client named, once the mechanism has read it (before the proof
        #: is checked).
        self.attempted_user: str | None = None
        #: Called with that user as soon as it is known (the connection's login guards:
        #: a locked-out user is refused before the proof); may raise `AuthenticationFailed`.
        self.user_hook: Callable[[str], Coroutine[Any, Any, None]] | None = None

    def note_user(self, username: str) -> None:
        """Record the user the client named; called from the mechanism's worker thread."""
        self.attempted_user = username
        if self.user_hook is not None:
            anyio.from_thread.run(self.user_hook, username)

    async def start(self, initial_response: bytes | None) -> bytes | None:
        """Run `ServerMechanism.start` in a worker thread (its callbacks may await)."""
        return await anyio.to_thread.run_sync(self.mechanism.start, initial_response)

    async def respond(self, response: bytes) -> bytes | None:
        """Run `ServerMechanism.respond` in a worker thread."""
        return await anyio.to_thread.run_sync(self.mechanism.respond, response)

    async def finish(self, ctx: CommandContext) -> str:
        """Log the verified identity in; return the user name."""
        if not self.mechanism.complete:
            raise AuthenticationFailed()
        return await self._finish(ctx)


Builder = Callable[[Authenticators, SaslTransport], SaslExchange]
Availability = Callable[[Authenticators, SaslTransport], bool]


@dataclass(frozen=True, slots=True)
class MechanismSpec:
    """How the server runs one mechanism.

    Attributes:
        name: The registered name (upper case).
        build: Makes the exchange for one AUTHENTICATE.
        available: Whether the mechanism can run with these authenticators on this
            connection (advertised and accepted only then).
        plaintext: The client sends its password as is: subject to the server's plaintext
            policy (``LOGINDISABLED``, ``NO [PRIVACYREQUIRED]``).
    """

    name: str
    build: Builder
    available: Availability
    plaintext: bool = False


# -- the built-in mechanisms -----------------------------------------------------------------


def _refuse_proxy(authcid: str | None, authzid: str | None) -> str:
    if authcid is None or authzid not in (None, "", authcid):
        raise AuthenticationFailed()
    return authcid


async def _login_as(ctx: CommandContext, user: str) -> str:
    await ctx.connection.login_attempt(user)
    return await ctx.session.login_as(user)


def _password_finish(
    captured: list[tuple[str, str]], mech: ServerMechanism
) -> Callable[[CommandContext], Awaitable[str]]:
    async def finish(ctx: CommandContext) -> str:
        if not captured:
            raise AuthenticationFailed()
        authcid, password = captured[0]
        authzid = mech.authzid
        proxy = authzid if authzid and authzid != authcid else None
        return await ctx.server.authenticate(ctx, authcid, password, proxy)

    return finish


def _build_plain(auth: Authenticators, transport: SaslTransport) -> SaslExchange:
    # The mechanism only parses; the password is checked by Session.login in `finish`, so a
    # custom session's login applies to PLAIN as to the LOGIN command.
    captured: list[tuple[str, str]] = []

    def capture(authcid: str, password: str) -> bool:
        captured.append((authcid, password))
        return True

    mech = PlainServer(capture, authorize=lambda authcid, authzid: True)
    return SaslExchange(mech, _password_finish(captured, mech))


def _build_login(auth: Authenticators, transport: SaslTransport) -> SaslExchange:
    captured: list[tuple[str, str]] = []

    def capture(username: str, password: str) -> bool:
        captured.append((username, password))
        return True

    mech = LoginServer(capture)
    return SaslExchange(mech, _password_finish(captured, mech))


def _scram_builder(hash_name: str, plus: bool) -> Builder:
    def build(auth: Authenticators, transport: SaslTransport) -> SaslExchange:
        scram = auth.scram
        assert scram is not None

        def lookup(username: str) -> ScramCredentials | None:
            exchange.note_user(username)
            return anyio.from_thread.run(scram.scram_credentials, username, hash_name)

        mech = scram_server(
            lookup, hash_name=hash_name, channel_binding=transport.channel_binding, plus=plus
        )

        async def finish(ctx: CommandContext) -> str:
            return await _login_as(ctx, _refuse_proxy(mech.authcid, mech.authzid))

        exchange = SaslExchange(mech, finish)
        return exchange

    return build


def _scram_available(plus: bool) -> Availability:
    def available(auth: Authenticators, transport: SaslTransport) -> bool:
        if auth.scram is None:
            return False
        return not plus or transport.channel_binding is not None

    return available


def _build_cram_md5(auth: Authenticators, transport: SaslTransport) -> SaslExchange:
    cram = auth.cram_md5
    assert cram is not None

    def lookup(username: str) -> str | None:
        exchange.note_user(username)
        return anyio.from_thread.run(cram.cram_md5_secret, username)

    mech = CramMd5Server(lookup)

    async def finish(ctx: CommandContext) -> str:
        return await _login_as(ctx, _refuse_proxy(mech.authcid, mech.authzid))

    exchange = SaslExchange(mech, finish)
    return exchange


def _token_builder(name: str) -> Builder:
    def build(auth: Authenticators, transport: SaslTransport) -> SaslExchange:
        tokens = auth.token
        assert tokens is not None
        users: list[str] = []

        def validate(user: str, token: str) -> bool:
            exchange.note_user(user)
            found = anyio.from_thread.run(_check_token, tokens, user, token, name)
            if found is None:
                return False
            users.append(found)
            return True

        mech: ServerMechanism
        mech = XOAuth2Server(validate) if name == "XOAUTH2" else OAuthBearerServer(validate)

        async def finish(ctx: CommandContext) -> str:
            if not users:
                raise AuthenticationFailed()
            return await _login_as(ctx, users[0])

        exchange = SaslExchange(mech, finish)
        return exchange

    return build


async def _check_token(
    tokens: TokenAuthenticator, user: str, token: str, mechanism: str
) -> str | None:
    return await tokens.check_token(user, token, mechanism=mechanism)


def _build_external(auth: Authenticators, transport: SaslTransport) -> SaslExchange:
    certificates = auth.certificate
    der = transport.peer_certificate
    assert certificates is not None and der is not None
    # The identity comes from the certificate after the exchange: the mechanism only parses
    # the requested authzid (empty identity placeholder; an empty authzid means "none").
    mech = ExternalServer("", authorize=lambda identity, authzid: True)

    async def finish(ctx: CommandContext) -> str:
        authzid = mech.authzid or None
        user = await certificates.user_for_certificate(der, authzid)
        if user is None:
            raise AuthenticationFailed()
        return await _login_as(ctx, user)

    return SaslExchange(mech, finish)


def _anonymous_builder(user: str) -> Builder:
    def build(auth: Authenticators, transport: SaslTransport) -> SaslExchange:
        async def finish(ctx: CommandContext) -> str:
            return await _login_as(ctx, user)

        return SaslExchange(AnonymousServer(user), finish)

    return build


def _always(auth: Authenticators, transport: SaslTransport) -> bool:
    return True


def _builtin_specs(anonymous_user: str) -> dict[str, MechanismSpec]:
    specs = [
        MechanismSpec("SCRAM-SHA-256-PLUS", _scram_builder("sha256", True), _scram_available(True)),
        MechanismSpec("SCRAM-SHA-256", _scram_builder("sha256", False), _scram_available(False)),
        MechanismSpec("SCRAM-SHA-1-PLUS", _scram_builder("sha1", True), _scram_available(True)),
        MechanismSpec("SCRAM-SHA-1", _scram_builder("sha1", False), _scram_available(False)),
        MechanismSpec("CRAM-MD5", _build_cram_md5, lambda a, t: a.cram_md5 is not None),
        MechanismSpec("XOAUTH2", _token_builder("XOAUTH2"), lambda a, t: a.token is not None),
        MechanismSpec(
            "OAUTHBEARER", _token_builder("OAUTHBEARER"), lambda a, t: a.token is not None
        ),
        MechanismSpec(
            "EXTERNAL",
            _build_external,
            lambda a, t: a.certificate is not None and t.peer_certificate is not None,
        ),
        MechanismSpec("ANONYMOUS", _anonymous_builder(anonymous_user), _always),
        MechanismSpec("LOGIN", _build_login, _always, plaintext=True),
        MechanismSpec("PLAIN", _build_plain, _always, plaintext=True),
    ]
    return {spec.name: spec for spec in specs}


#: The mechanisms on by default (each still needs its authenticator): all but ANONYMOUS.
DEFAULT_MECHANISMS: tuple[str, ...] = (
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "XOAUTH2",
    "OAUTHBEARER",
    "EXTERNAL",
    "LOGIN",
    "PLAIN",
)


class SaslMechanisms:
    """The mechanisms a server offers, in the order it advertises them.

    Args:
        enabled: Names of the built-in mechanisms to offer (default `DEFAULT_MECHANISMS`;
            add ``"ANONYMOUS"`` to allow anonymous logins). Each is offered only where its
            authenticator is configured and the connection allows it.
        extra: Further mechanisms (`MechanismSpec`), offered before the built-in ones;
            one with a built-in name replaces it.
        anonymous_user: The user ANONYMOUS logs in as.
        server_certificate: The server's certificate (DER), for the ``tls-server-end-point``
            channel binding (RFC 5929 section 4) on TLS 1.3, where ``tls-unique`` does not
            exist. Python's `ssl` cannot tell a server its own certificate, hence this.
        end_point_hash: The hash of ``tls-server-end-point`` (default: the certificate's
            signature hash, `certificate_signature_hash`; SHA-256 when that is MD5 or SHA-1,
            RFC 5929 section 4.1).

    Channel binding for SCRAM -PLUS: ``tls-unique`` on TLS 1.2 and older, else
    ``tls-server-end-point`` when ``server_certificate`` is given; else no -PLUS.
    """

    def __init__(
        self,
        enabled: Iterable[str] | None = None,
        *,
        extra: Iterable[MechanismSpec] = (),
        anonymous_user: str = "anonymous",
        server_certificate: bytes | None = None,
        end_point_hash: str | None = None,
    ) -> None:
        builtin = _builtin_specs(anonymous_user)
        names = [n.upper() for n in (DEFAULT_MECHANISMS if enabled is None else enabled)]
        unknown = [n for n in names if n not in builtin]
        if unknown:
            raise ValueError(f"unknown SASL mechanism(s): {', '.join(unknown)}")
        specs: dict[str, MechanismSpec] = {}
        extras = {spec.name.upper(): spec for spec in extra}
        specs.update(extras)
        for name in names:
            specs.setdefault(name, builtin[name])
        self.specs: dict[str, MechanismSpec] = specs
        self.server_certificate = server_certificate
        if server_certificate is not None and end_point_hash is None:
            end_point_hash = certificate_signature_hash(server_certificate)
        self.end_point_hash = end_point_hash or "sha256"
        # Computed once: the certificate does not change while the server runs.
        self._end_point: bytes | None = (
            tls_server_end_point(server_certificate, self.end_point_hash)
            if server_certificate is not None
            else None
        )

    def get(self, name: str) -> MechanismSpec | None:
        """The enabled mechanism called ``name``, or None."""
        return self.specs.get(name.upper())

    def usable(self, auth: Authenticators, transport: SaslTransport) -> list[MechanismSpec]:
        """The enabled mechanisms that can run on this connection, in advertising order."""
        return [spec for spec in self.specs.values() if spec.available(auth, transport)]

    def transport(self, ssl_object: ssl.SSLObject | None, *, tls: bool) -> SaslTransport:
        """Describe a connection: its channel binding and client certificate."""
        if ssl_object is None:
            return SaslTransport(tls=tls)
        binding: tuple[str, bytes] | None = None
        if ssl_object.version() != "TLSv1.3":
            unique = ssl_object.get_channel_binding("tls-unique")
            if unique:
                binding = ("tls-unique", unique)
        if binding is None and self._end_point is not None:
            binding = ("tls-server-end-point", self._end_point)
        peer = ssl_object.getpeercert(binary_form=True)
        return SaslTransport(tls=True, channel_binding=binding, peer_certificate=peer or None)


def tls_server_end_point(certificate: bytes, hash_name: str | None = None) -> bytes:
    """The ``tls-server-end-point`` channel binding of a certificate (RFC 5929 section 4.1).

    Args:
        certificate: The server's certificate, DER.
        hash_name: The hash to use; default: the one the certificate's signature uses
            (`certificate_signature_hash`). MD5 and SHA-1 become SHA-256, as the RFC says.
    """
    if hash_name is None:
        hash_name = certificate_signature_hash(certificate)
    if hash_name.lower() in ("md5", "sha1"):
        hash_name = "sha256"
    return hashlib.new(hash_name, certificate).digest()


# Signature algorithm OIDs (DER content octets) -> their hash (RFC 4055, RFC 5758, RFC 3279).
_SIGNATURE_HASHES: dict[bytes, str] = {
    bytes.fromhex("2a864886f70d010104"): "md5",  # md5WithRSAEncryption
    bytes.fromhex("2a864886f70d010105"): "sha1",  # sha1WithRSAEncryption
    bytes.fromhex("2a864886f70d01010b"): "sha256",  # sha256WithRSAEncryption
    bytes.fromhex("2a864886f70d01010c"): "sha384",
    bytes.fromhex("2a864886f70d01010d"): "sha512",
    bytes.fromhex("2a864886f70d01010e"): "sha224",
    bytes.fromhex("2a8648ce3d040301"): "sha224",  # ecdsa-with-SHA224
    bytes.fromhex("2a8648ce3d040302"): "sha256",
    bytes.fromhex("2a8648ce3d040303"): "sha384",
    bytes.fromhex("2a8648ce3d040304"): "sha512",
    bytes.fromhex("2a8648ce380403"): "sha1",  # dsa-with-sha1
    bytes.fromhex("608648016503040302"): "sha256",  # dsa-with-sha256
}


def certificate_signature_hash(certificate: bytes) -> str:
    """The hash of a DER certificate's signature algorithm, for ``tls-server-end-point``.

    ``"sha256"`` when the algorithm names no single hash (RSASSA-PSS parameters, Ed25519),
    which RFC 5929 leaves open and common implementations settle the same way.

    Raises:
        ValueError: ``certificate`` is not DER.
    """
    # Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE
    # { algorithm OID, parameters ANY OPTIONAL }, signature BIT STRING } (RFC 5280 4.1).
    body, _ = _der_element(certificate, 0, 0x30)
    _, after_tbs = _der_element(certificate, body, 0x30)
    algorithm, _ = _der_element(certificate, after_tbs, 0x30)
    oid_start, oid_end = _der_element(certificate, algorithm, 0x06)
    return _SIGNATURE_HASHES.get(certificate[oid_start:oid_end], "sha256")


def _der_element(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """The content start and the end of the DER element with ``tag`` at ``pos``."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError("not a DER certificate")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or pos + count > len(data):
            raise ValueError("not a DER certificate")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("not a DER certificate")
    return pos, pos + length
