"""`AuthCommands`: AUTHENTICATE with the SASL mechanisms of `imap_wire.sasl`.

::

    await client.authenticate(PlainClient("alice", "secret"))  # any ClientMechanism
    await client.login_scram("alice", "secret")  # SCRAM-SHA-256
    await client.login_oauth2("alice@example.com", get_token)  # XOAUTH2, fresh token
    used = await client.login_best("alice", "secret")  # strongest offered: "SCRAM-SHA-256"

The exchange (RFC 9051 section 6.2.2, RFC 4422): the initial response goes on the command
line when the server takes one (SASL-IR, RFC 4959, folded into IMAP4rev2), else after the
server's empty ``+``; each ``+`` challenge goes to the mechanism and its answer back. IMAP has
no "additional data with success" field, so data a mechanism expects with the outcome
(SCRAM's server-final-message) comes as a last ``+`` and is answered with an empty line. A
tagged OK before the mechanism is complete (the server skipped proving itself) ends the
connection with `ImapConnectionError`: the client cannot trust it. When the mechanism
refuses a challenge (bad server signature, malformed data) the client cancels with ``*``
and raises `AuthenticationFailed` with the server's BAD, the reason chained and noted.

Credentials never appear in logs, exception texts or ``repr``: the mechanisms hide them,
payloads are not logged, and `imap_wire.Authenticate` keeps its initial response out of its
``repr``.

Plaintext passwords (PLAIN, the LOGIN mechanism, the LOGIN command) follow the server's
word: they are refused before anything is sent when the server says ``LOGINDISABLED`` and
does not offer the mechanism by name (``AUTH=PLAIN``). A server that offers them on a
connection without TLS has decided that it accepts them there (ours does so on loopback
only, by default); `login_best` prefers what does not reveal the password.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

import anyio
from anyio.streams.tls import TLSAttribute

from imap_wire import Authenticate, RemoteProtocolError, ResponseStatus, StatusResponse
from imap_wire.sasl import (
    CLIENT_MECHANISMS,
    ClientMechanism,
    CramMd5Client,
    ExternalClient,
    LoginClient,
    OAuthBearerClient,
    PlainClient,
    SaslError,
    XOAuth2Client,
    scram_client,
)

from ._base import ClientBase
from ._core import Connection, PendingCommand, _Completed
from .errors import AuthenticationFailed, ImapConnectionError, ImapTimeout

__all__ = ["AuthCommands", "ChannelBinding", "TokenSource", "tls_server_end_point"]

log = logging.getLogger("imap_client")

#: An OAuth 2.0 access token, or a function (sync or async) returning a fresh one. A function
#: is called at each login, so a connection made again (by a pool) uses a current token.
TokenSource = str | Callable[[], str] | Callable[[], Awaitable[str]]

#: ``(type, data)`` of a TLS channel binding (RFC 5056), as `imap_wire.sasl.ScramClient`
#: takes it: ``("tls-unique", ...)``, ``("tls-server-end-point", ...)``.
ChannelBinding = tuple[str, bytes]

_BINDING_TYPES: Final = ("tls-unique", "tls-server-end-point", "tls-exporter")
_SCRAM_HASHES: Final = {"SHA-256": "sha256", "SHA256": "sha256", "SHA-1": "sha1", "SHA1": "sha1"}


class AuthCommands(ClientBase):
    """AUTHENTICATE with any `imap_wire.sasl` client mechanism, and login helpers."""

    # -- what the server offers -------------------------------------------------------------------

    @property
    def sasl_mechanisms(self) -> frozenset[str]:
        """The SASL mechanisms the server announced (``AUTH=`` capabilities), upper case."""
        return frozenset(c[5:] for c in self.capabilities if c.startswith("AUTH="))

    @property
    def is_tls(self) -> bool:
        """Whether the connection runs over TLS (implicit or after STARTTLS)."""
        return self._ssl_object() is not None

    def _ssl_object(self) -> ssl.SSLObject | None:
        obj: ssl.SSLObject | None = self.connection.stream.extra(TLSAttribute.ssl_object, None)
        return obj

    def channel_binding(self, kind: str | None = None) -> ChannelBinding | None:
        """Return this connection's TLS channel binding, for SCRAM's -PLUS variants.

        Args:
            kind: ``"tls-unique"`` (RFC 5929; TLS 1.2 and older only, RFC 9266 section 3),
                ``"tls-server-end-point"`` (RFC 5929: a hash of the server's certificate)
                or ``"tls-exporter"`` (RFC 9266). None picks the standard default for the TLS
                version: ``tls-exporter`` on TLS 1.3, ``tls-unique`` before.

        Returns:
            ``(kind, data)``, or None when the connection has no TLS or the data cannot be
            had. Python's `ssl` module cannot export keying material, so ``tls-exporter`` is
            never available, and on TLS 1.3 only an explicit ``"tls-server-end-point"``
            gives a binding.

        Raises:
            ValueError: Unknown kind.
        """
        if kind is not None and kind not in _BINDING_TYPES:
            raise ValueError(f"unknown channel binding type {kind!r}")
        obj = self._ssl_object()
        if obj is None:
            return None
        tls13 = obj.version() == "TLSv1.3"
        if kind is None:
            kind = "tls-exporter" if tls13 else "tls-unique"
        data: bytes | None = None
        if kind == "tls-unique" and not tls13:
            data = obj.get_channel_binding("tls-unique")
        elif kind == "tls-server-end-point":
            der = obj.getpeercert(binary_form=True)
            data = tls_server_end_point(der) if der else None
        return (kind, data) if data else None

    # -- AUTHENTICATE -----------------------------------------------------------------------------

    async def authenticate(
        self,
        mechanism: ClientMechanism | str,
        *args: Any,
        initial_response: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """AUTHENTICATE: run a SASL exchange (RFC 9051 section 6.2.2, RFC 4422).

        Args:
            mechanism: A fresh `imap_wire.sasl.ClientMechanism` (one per attempt), or a
                mechanism name of `imap_wire.sasl.CLIENT_MECHANISMS` built with ``args`` and
                ``kwargs`` (``authenticate("PLAIN", "alice", "secret")``).
            initial_response: Send the mechanism's first message with the command (SASL-IR,
                RFC 4959); None (default): when the server announces ``SASL-IR`` or
                ``IMAP4rev2``, which includes it.
            args: Constructor arguments when ``mechanism`` is a name.
            kwargs: Constructor keyword arguments when ``mechanism`` is a name.

        Raises:
            AuthenticationFailed: The server refused (NO, with its code such as
                ``AUTHENTICATIONFAILED``), or the client cancelled the exchange because the
                mechanism refused a challenge (BAD; the reason is chained and noted).
            ImapConnectionError: The server said OK before the mechanism was complete (for
                SCRAM: without proving it knows the password), or to a cancelled exchange;
                the connection is closed.
            ImapTimeout: Over the client's ``timeout``; the connection is closed.
            ValueError: Unknown mechanism name, or a mechanism that cannot start (a field it
                cannot carry, already used).
        """
        mech = _build_mechanism(mechanism, args, kwargs)
        conn = self.connection
        if initial_response is None:
            initial_response = self.has_capability("SASL-IR") or self.has_capability("IMAP4rev2")
        first: bytes | None = None
        if initial_response:
            try:
                first = mech.initial_response()
            except SaslError as exc:
                raise ValueError(f"{mech.name} cannot start: {exc}") from exc
        log.debug("AUTHENTICATE %s (initial response: %s)", mech.name, first is not None)
        pending = PendingCommand(
            Authenticate(tag=self.next_tag(), mechanism=mech.name, initial_response=first),
            exchange=True,
        )
        sent = False
        try:
            with anyio.fail_after(self.timeout):
                await conn.submit(pending)
                sent = True
                refused = await _exchange(conn, pending, mech)
                result = await pending.wait()
        except TimeoutError:
            error = ImapTimeout(f"AUTHENTICATE timed out after {self.timeout} s")
            if sent:
                await _abandon(conn, pending, error)
            raise error from None
        except BaseException:
            # Cancelled (or failed) in the middle of the exchange: the server waits for a
            # line that will never come, and would take the next command as one.
            if sent:
                await _abandon(conn, pending, ImapConnectionError("AUTHENTICATE interrupted"))
            raise
        await self._authenticated(conn, pending, mech, result, refused)

    async def _authenticated(
        self,
        conn: Connection,
        pending: PendingCommand,
        mech: ClientMechanism,
        result: StatusResponse,
        refused: Exception | None,
    ) -> None:
        """Judge the tagged response of an exchange."""
        if result.status is not ResponseStatus.OK:
            error = AuthenticationFailed(pending.name, result)
            if refused is not None:
                error.add_note(f"the client cancelled the {mech.name} exchange: {refused}")
            status = getattr(mech, "error_status", None)
            if isinstance(status, str):
                error.add_note(f"the server refused the token (status {status!r})")
            raise error from refused
        if refused is not None or not mech.complete:
            reason = (
                "accepted an exchange the client cancelled"
                if refused is not None
                else f"said OK before the {mech.name} exchange was complete (not verified)"
            )
            broken = ImapConnectionError(f"AUTHENTICATE: the server {reason}; connection closed")
            await conn.aclose(broken)
            raise broken from refused
        await self._after_authentication(pending)

    # -- one mechanism each ------------------------------------------------------------------------

    async def login_plain(self, user: str, password: str, authzid: str = "") -> None:
        """AUTHENTICATE PLAIN (RFC 4616): the password in clear, in one message.

        Args:
            user: The authentication identity.
            password: The password.
            authzid: The identity to act as (empty: ``user``).

        Raises:
            AuthenticationFailed: Refused by the server.
            ImapConnectionError: The server says LOGINDISABLED and does not offer PLAIN.
            ValueError: A field PLAIN cannot carry (empty, NUL, over 255 octets).
        """
        self._check_cleartext("PLAIN")
        await self.authenticate(_make(PlainClient, user, password, authzid))

    async def login_login(self, user: str, password: str) -> None:
        """AUTHENTICATE LOGIN: the obsolete mechanism answering ``Username:`` and
        ``Password:`` prompts (draft-murchison-sasl-login). Prefer `login_plain` or `login`.

        Raises:
            AuthenticationFailed: Refused by the server.
            ImapConnectionError: The server says LOGINDISABLED and does not offer LOGIN.
        """
        self._check_cleartext("LOGIN")
        await self.authenticate(_make(LoginClient, user, password))

    async def login_cram_md5(self, user: str, password: str) -> None:
        """AUTHENTICATE CRAM-MD5 (RFC 2195): the password is not sent, but a recorded
        exchange allows an offline dictionary attack. Prefer SCRAM.

        Raises:
            AuthenticationFailed: Refused by the server.
        """
        await self.authenticate(_make(CramMd5Client, user, password))

    async def login_scram(
        self,
        user: str,
        password: str,
        hash: Literal["SHA-256", "SHA-1"] | str = "SHA-256",
        channel_binding: bool | str | ChannelBinding | None = None,
        *,
        authzid: str | None = None,
    ) -> None:
        """AUTHENTICATE SCRAM-SHA-256 or SCRAM-SHA-1 (RFC 7677, RFC 5802), or their -PLUS
        variant bound to the TLS channel. The server proves it knows the password too.

        Args:
            user: The authentication identity.
            password: The password.
            hash: ``"SHA-256"`` or ``"SHA-1"``.
            channel_binding: None or False: no binding (SCRAM-SHA-256). True: this
                connection's default binding (see `channel_binding`); a type name such as
                ``"tls-server-end-point"``: that binding of this connection; or an explicit
                ``(type, data)``. With a binding the mechanism is SCRAM-SHA-256-PLUS.
            authzid: The identity to act as, if not ``user``.

        Raises:
            AuthenticationFailed: Refused by the server, or its signature did not verify.
            ImapConnectionError: The server said OK without proving itself.
            ValueError: Unknown hash, or the binding asked for is not available.
        """
        hash_name = _SCRAM_HASHES.get(hash.upper())
        if hash_name is None:
            raise ValueError(f"unsupported SCRAM hash {hash!r}")
        binding: ChannelBinding | None
        if channel_binding is None or channel_binding is False:
            binding = None
        elif isinstance(channel_binding, tuple):
            binding = channel_binding
        else:
            kind = None if channel_binding is True else channel_binding
            binding = self.channel_binding(kind)
            if binding is None:
                raise ValueError("no channel binding is available on this connection")
        await self.authenticate(
            _make(
                scram_client,
                user,
                password,
                hash_name=hash_name,
                authzid=authzid,
                channel_binding=binding,
            )
        )

    async def login_oauth2(
        self,
        user: str,
        token: TokenSource,
        mechanism: Literal["XOAUTH2", "OAUTHBEARER"] | str = "XOAUTH2",
    ) -> None:
        """AUTHENTICATE XOAUTH2 (Gmail, Outlook.com) or OAUTHBEARER (RFC 7628).

        Args:
            user: The mailbox user (an email address).
            token: The access token, or a function (sync or async) returning one; it is
                called at every login, so a reconnecting pool gets a fresh token.
            mechanism: ``"XOAUTH2"`` or ``"OAUTHBEARER"`` (which also sends the host and
                port connected to).

        Raises:
            AuthenticationFailed: The token was refused; a note gives the ``status`` of the
                server's JSON error when it sent one.
            ValueError: Unknown mechanism, or a user or token that cannot be sent.
        """
        name = mechanism.upper()
        if name not in ("XOAUTH2", "OAUTHBEARER"):
            raise ValueError(f"unsupported OAuth mechanism {mechanism!r}")
        value = await _resolve_token(token)
        mech: ClientMechanism
        if name == "XOAUTH2":
            mech = _make(XOAuth2Client, user, value)
        else:
            mech = _make(OAuthBearerClient, user, value, host=self.host, port=self.port)
        await self.authenticate(mech)

    async def login_external(self, authzid: str = "") -> None:
        """AUTHENTICATE EXTERNAL (RFC 4422 appendix A): the identity comes from outside,
        typically the TLS client certificate (give it in the ``ssl_context``).

        Args:
            authzid: The identity to act as; empty for the external one.

        Raises:
            AuthenticationFailed: Refused by the server.
        """
        await self.authenticate(_make(ExternalClient, authzid))

    # -- the best one ------------------------------------------------------------------------------

    async def login_best(
        self, user: str, password: str, *, channel_binding: bool | str = True
    ) -> str:
        """Log in with the strongest password mechanism the server offers; one attempt.

        The order: SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS when a channel binding is
        available (see `channel_binding`), SCRAM-SHA-256, SCRAM-SHA-1; then, over TLS, PLAIN
        and the LOGIN command; without TLS, CRAM-MD5 (which does not reveal the password),
        PLAIN, then the LOGIN command. PLAIN needs ``AUTH=PLAIN``, the LOGIN command the
        absence of ``LOGINDISABLED``. With a channel binding at hand and no -PLUS offered,
        SCRAM tells the server so (gs2 flag ``y``, RFC 5802 section 6), which detects an
        attacker who stripped -PLUS from the capabilities; that is also why any -PLUS comes
        before SCRAM-SHA-256: a server offering SCRAM-SHA-1-PLUS must refuse flag ``y``.

        A refusal is not followed by a weaker attempt: that would double the failed logins
        the server counts, and let an attacker force a downgrade.

        Args:
            user: The user name.
            password: The password.
            channel_binding: True: this connection's default binding type; a type name
                (``"tls-server-end-point"``, useful on TLS 1.3 where the default
                ``tls-exporter`` is not available in Python); False: none.

        Returns:
            What was used: a mechanism name (``"SCRAM-SHA-256"``) or ``"LOGIN"`` for the
            LOGIN command.

        Raises:
            AuthenticationFailed: Refused by the server.
            ImapConnectionError: The server offers nothing this method uses.
        """
        if not self.capabilities:
            await self.capability()
        offered = self.sasl_mechanisms
        binding: ChannelBinding | None = None
        if channel_binding is not False:
            binding = self.channel_binding(None if channel_binding is True else channel_binding)
        scram: tuple[str, ...] = ("SCRAM-SHA-256", "SCRAM-SHA-1")
        if binding is not None:
            scram = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", *scram)
        for name in scram:
            if name in offered:
                # A binding given to a class without -PLUS sends flag "y".
                cls = CLIENT_MECHANISMS[name]
                await self.authenticate(_make(cls, user, password, channel_binding=binding))
                return name
        order = ("PLAIN", "LOGIN") if self.is_tls else ("CRAM-MD5", "PLAIN", "LOGIN")
        for name in order:
            if name == "CRAM-MD5" and name in offered:
                await self.login_cram_md5(user, password)
                return name
            if name == "PLAIN" and name in offered:
                await self.login_plain(user, password)
                return name
            if name == "LOGIN" and not self.has_capability("LOGINDISABLED"):
                await self.login(user, password)
                return name
        raise ImapConnectionError(
            "the server offers no password mechanism this client uses "
            f"(SASL: {', '.join(sorted(offered)) or 'none'}; LOGIN disabled)"
        )

    def _check_cleartext(self, name: str) -> None:
        if self.has_capability("LOGINDISABLED") and name not in self.sasl_mechanisms:
            raise ImapConnectionError(
                f"the server disables plaintext logins on this connection (LOGINDISABLED, "
                f"no AUTH={name}); use TLS or another mechanism"
            )


# -- the exchange ---------------------------------------------------------------------------------


async def _exchange(
    conn: Connection, pending: PendingCommand, mech: ClientMechanism
) -> Exception | None:
    """Answer each ``+`` until the command completes; return why the client cancelled, if it
    did (the tagged response follows)."""
    refused: Exception | None = None
    while True:
        try:
            request = await pending.continuation()
        except _Completed:
            return refused
        if pending.done:
            return refused  # a "+" just before the tagged response: nothing to answer
        if refused is not None:
            # A "+" after "*": the server must answer BAD (RFC 9051 section 6.2.2).
            raise ImapConnectionError("the server went on with a cancelled AUTHENTICATE")
        try:
            reply = mech.respond(request.data)
        except (SaslError, RemoteProtocolError) as exc:
            refused = exc
            log.debug("cancelling AUTHENTICATE %s: %s", mech.name, exc)
            await conn.write_raw(conn.wire.CANCEL)
            continue
        await conn.write_raw(conn.wire.continuation_data(reply))


async def _abandon(conn: Connection, pending: PendingCommand, cause: Exception) -> None:
    """Close a connection left in the middle of an exchange (shielded from cancellation)."""
    if pending.done:
        return
    with anyio.CancelScope(shield=True):
        await conn.aclose(cause)


def _build_mechanism(
    mechanism: ClientMechanism | str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> ClientMechanism:
    if isinstance(mechanism, ClientMechanism):
        if args or kwargs:
            raise TypeError("constructor arguments go with a mechanism name, not an instance")
        return mechanism
    cls = CLIENT_MECHANISMS.get(mechanism.upper())
    if cls is None:
        known = ", ".join(sorted(CLIENT_MECHANISMS))
        raise ValueError(f"unknown SASL mechanism {mechanism!r} (known: {known})")
    return _make(cls, *args, **kwargs)


def _make(factory: Callable[..., ClientMechanism], *args: Any, **kwargs: Any) -> ClientMechanism:
    """Build a mechanism, turning its refusal of a field into `ValueError` (the texts of
    `SaslError` never hold the field)."""
    try:
        return factory(*args, **kwargs)
    except SaslError as exc:
        raise ValueError(str(exc)) from exc


async def _resolve_token(source: TokenSource) -> str:
    if isinstance(source, str):
        return source
    value: Any = source()
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, str):
        raise TypeError("the token function must return a str")
    return value


# -- tls-server-end-point (RFC 5929 section 4) ---------------------------------------------------

# Signature algorithm OIDs to the hash they use; MD5 and SHA-1 become SHA-256 (RFC 5929
# section 4.1). Algorithms with no single hash (Ed25519, Ed448) have no binding.
_SIGNATURE_HASHES: Final = {
    "1.2.840.113549.1.1.4": "sha256",  # md5WithRSAEncryption
    "1.2.840.113549.1.1.5": "sha256",  # sha1WithRSAEncryption
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.10045.4.1": "sha256",  # ecdsa-with-SHA1
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
    "1.2.840.10040.4.3": "sha256",  # dsa-with-sha1
    "2.16.840.1.101.3.4.3.1": "sha224",  # dsa-with-sha224
    "2.16.840.1.101.3.4.3.2": "sha256",  # dsa-with-sha256
}
_RSASSA_PSS: Final = "1.2.840.113549.1.1.10"
_HASHES: Final = {
    "1.3.14.3.2.26": "sha256",  # SHA-1, replaced by SHA-256
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "2.16.840.1.101.3.4.2.4": "sha224",
}


def tls_server_end_point(certificate: bytes) -> bytes | None:
    """Return the ``tls-server-end-point`` channel binding of a certificate (RFC 5929 section
    4.1): its DER hashed with the hash of its signature algorithm, SHA-256 for MD5 and SHA-1.

    Args:
        certificate: The server's certificate, DER (``getpeercert(binary_form=True)``).

    Returns:
        The binding data, or None when the algorithm has no single hash (Ed25519) or the
        certificate cannot be read.
    """
    try:
        hash_name = _signature_hash(certificate)
    except (ValueError, IndexError):
        return None
    return None if hash_name is None else hashlib.new(hash_name, certificate).digest()


def _signature_hash(der: bytes) -> str | None:
    """The hash of a certificate's signatureAlgorithm (RFC 5280 section 4.1.1.2)."""
    tag, start, _ = _tlv(der, 0)
    _expect(tag, 0x30)
    tag, _, tbs_end = _tlv(der, start)  # tbsCertificate
    _expect(tag, 0x30)
    tag, alg_start, alg_end = _tlv(der, tbs_end)  # signatureAlgorithm
    _expect(tag, 0x30)
    oid, params = _algorithm(der, alg_start, alg_end)
    if oid != _RSASSA_PSS:
        return _SIGNATURE_HASHES.get(oid)
    # RSASSA-PSS-params (RFC 4055 section 3.1): hashAlgorithm [0] EXPLICIT, default SHA-1.
    if params is None:
        return "sha256"
    tag, p_start, p_end = _tlv(der, params)
    _expect(tag, 0x30)
    if p_start == p_end:
        return "sha256"
    tag, h_start, _ = _tlv(der, p_start)
    if tag != 0xA0:
        return "sha256"
    tag, a_start, a_end = _tlv(der, h_start)
    _expect(tag, 0x30)
    return _HASHES.get(_algorithm(der, a_start, a_end)[0])


def _algorithm(der: bytes, start: int, end: int) -> tuple[str, int | None]:
    """An AlgorithmIdentifier's OID, and where its parameters start (None if absent)."""
    tag, o_start, o_end = _tlv(der, start)
    _expect(tag, 0x06)
    return _oid(der[o_start:o_end]), (o_end if o_end < end else None)


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """Read a DER tag and length at ``pos``: (tag, content start, content end)."""
    tag = der[pos]
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _expect(tag: int, wanted: int) -> None:
    if tag != wanted:
        raise ValueError("unexpected DER tag")


def _oid(content: bytes) -> str:
    if not content:
        raise ValueError("empty OID")
    first = content[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(map(str, arcs))
