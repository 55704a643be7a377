"""AUTHENTICATE and the login helpers of `imap_client.AsyncClient` (``_auth.py``).

Two peers: our server (``imap_server.testing``: LOGIN and AUTHENTICATE PLAIN, with SASL-IR)
and a small scripted IMAP server below, `FakeServer`, which runs the server side of any
`imap_wire.sasl` mechanism over a real socket (TLS too) and records every client line, so
each mechanism is checked end to end, with the RFC test vectors where a fixed nonce or
challenge allows them, and with servers that misbehave.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.tls import TLSAttribute, TLSStream

from imap_client import AsyncClient, AuthenticationFailed, ImapConnectionError, ImapTimeout
from imap_client._auth import tls_server_end_point
from imap_server.auth import SaslMechanisms
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_wire.sasl import (
    AnonymousServer,
    ClientMechanism,
    CramMd5Server,
    ExternalServer,
    LoginServer,
    OAuthBearerClient,
    OAuthBearerServer,
    PlainClient,
    PlainServer,
    SaslError,
    ScramCredentials,
    ServerMechanism,
    XOAuth2Server,
    scram_client,
    scram_server,
)

PASSWORD = "pencil"
USERS = {"user": PASSWORD, "tim": "tanstaaftanstaaf"}


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


# -- a scripted IMAP server -----------------------------------------------------------------------

#: Builds the server mechanism for one AUTHENTICATE, given the server's side of the stream.
MechanismFactory = Callable[[anyio.abc.ByteStream], ServerMechanism]


def _check_password(user: str, password: str) -> bool:
    return USERS.get(user) == password


def _scram_factory(
    hash_name: str,
    *,
    plus: bool = False,
    binding: Callable[[anyio.abc.ByteStream], tuple[str, bytes] | None] | None = None,
    nonce: str | None = None,
    salt: bytes | None = None,
) -> MechanismFactory:
    def lookup(user: str) -> ScramCredentials | None:
        password = USERS.get(user)
        if password is None:
            return None
        return ScramCredentials.derive(password, salt=salt, hash_name=hash_name)

    def make(stream: anyio.abc.ByteStream) -> ServerMechanism:
        options: dict[str, Any] = {}
        if nonce is not None:
            options["nonce_factory"] = lambda: nonce
        return scram_server(
            lookup,
            hash_name=hash_name,
            channel_binding=binding(stream) if binding is not None else None,
            plus=plus,
            **options,
        )

    return make


def _tokens(valid: set[str], seen: list[str]) -> Callable[[str, str], bool]:
    def validate(user: str, token: str) -> bool:
        seen.append(token)
        return token in valid

    return validate


DEFAULT_MECHANISMS: dict[str, MechanismFactory] = {
    "PLAIN": lambda s: PlainServer(_check_password),
    "LOGIN": lambda s: LoginServer(_check_password),
    "CRAM-MD5": lambda s: CramMd5Server(USERS.get),
    "SCRAM-SHA-1": _scram_factory("sha1"),
    "SCRAM-SHA-256": _scram_factory("sha256"),
    "EXTERNAL": lambda s: ExternalServer("user"),
    "ANONYMOUS": lambda s: AnonymousServer(),
}


@dataclass
class FakeServer:
    """An IMAP server that does just enough: CAPABILITY, NOOP, LOGIN, LOGOUT and
    AUTHENTICATE with the server side of `imap_wire.sasl` mechanisms.

    Attributes:
        capabilities: Announced before authentication (``AUTH=`` names included).
        mechanisms: The mechanisms it runs, by name (default: `DEFAULT_MECHANISMS`).
        received: Every line a client sent, without CRLF.
        ok_capabilities: Put the new capabilities in the OK of a successful login.
        ok_before_final: Say OK instead of sending the last challenge once the mechanism
            has verified the client (SCRAM's server-final-message never comes).
        tamper_final: Corrupt that last challenge (a wrong SCRAM server signature).
        ok_after_cancel: Answer a cancelled exchange with OK.
        bad_base64: Send a challenge that is not base64.
        stall: Never answer the client's first response.
        bare_plus: Send an empty challenge as ``+`` with no space.
    """

    capabilities: tuple[str, ...] = ("IMAP4rev1", "SASL-IR", "AUTH=PLAIN")
    mechanisms: dict[str, MechanismFactory] = field(
        default_factory=lambda: dict(DEFAULT_MECHANISMS)
    )
    tls: ssl.SSLContext | None = None
    received: list[bytes] = field(default_factory=list)
    ok_capabilities: bool = True
    ok_before_final: bool = False
    tamper_final: bool = False
    ok_after_cancel: bool = False
    bad_base64: bool = False
    stall: bool = False
    bare_plus: bool = False
    port: int = 0

    AFTER: ClassVar[tuple[str, ...]] = ("IMAP4rev1", "AUTHENTICATED-FAKE")

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        try:
            if self.tls is not None:
                stream = await TLSStream.wrap(
                    stream, server_side=True, ssl_context=self.tls, standard_compatible=False
                )
            async with stream:
                await self._session(stream)
        except (
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            ssl.SSLError,
            OSError,
        ):
            pass

    async def _session(self, stream: anyio.abc.ByteStream) -> None:
        reader = BufferedByteReceiveStream(stream)

        async def send(line: bytes) -> None:
            await stream.send(line + b"\r\n")

        async def read() -> bytes:
            line = await reader.receive_until(b"\r\n", 1 << 16)
            # Leaving ``async with`` logs out: not part of the exchanges the tests check.
            if not line.upper().endswith(b" LOGOUT"):
                self.received.append(line)
            return line

        caps = " ".join(self.capabilities).encode()
        await send(b"* OK [CAPABILITY " + caps + b"] fake ready")
        while True:
            tag, _, rest = (await read()).partition(b" ")
            command, _, args = rest.partition(b" ")
            name = command.upper()
            if name == b"CAPABILITY":
                await send(b"* CAPABILITY " + caps)
                await send(tag + b" OK done")
            elif name == b"NOOP":
                await send(tag + b" OK done")
            elif name == b"LOGOUT":
                await send(b"* BYE bye")
                await send(tag + b" OK done")
                return
            elif name == b"LOGIN":
                user, _, password = args.decode().partition(" ")
                if _check_password(user.strip('"'), password.strip('"')):
                    await send(self._ok(tag))
                    caps = " ".join(self.AFTER).encode()
                else:
                    await send(tag + b" NO [AUTHENTICATIONFAILED] no")
            elif name == b"AUTHENTICATE":
                if await self._authenticate(tag, args, stream, send, read):
                    caps = " ".join(self.AFTER).encode()
            else:
                await send(tag + b" BAD unknown command")

    def _ok(self, tag: bytes) -> bytes:
        code = b"[CAPABILITY " + " ".join(self.AFTER).encode() + b"] "
        return tag + b" OK " + (code if self.ok_capabilities else b"") + b"logged in"

    async def _authenticate(
        self,
        tag: bytes,
        args: bytes,
        stream: anyio.abc.ByteStream,
        send: Callable[[bytes], Awaitable[None]],
        read: Callable[[], Awaitable[bytes]],
    ) -> bool:
        name, _, initial = args.decode().partition(" ")
        factory = self.mechanisms.get(name.upper())
        if factory is None:
            await send(tag + b" NO [CANNOT] unsupported mechanism")
            return False
        mech = factory(stream)
        response = None if not initial else b"" if initial == "=" else base64.b64decode(initial)
        try:
            challenge = mech.start(response)
            while challenge is not None:
                final = mech.authcid is not None  # the client is verified: this is the last
                if final and self.ok_before_final:
                    break
                if final and self.tamper_final:
                    challenge = b"v=" + b64(b"\x00" * 32)
                if self.bad_base64:
                    await send(b"+ not*base64!")
                elif not challenge and self.bare_plus:
                    await send(b"+")
                else:
                    await send(b"+ " + b64(challenge))
                line = await read()
                if self.stall:
                    await anyio.sleep_forever()
                if line == b"*":
                    if self.ok_after_cancel:
                        break
                    await send(tag + b" BAD cancelled")
                    return False
                challenge = mech.respond(base64.b64decode(line, validate=True))
        except SaslError:
            await send(tag + b" NO [AUTHENTICATIONFAILED] Authentication failed")
            return False
        await send(self._ok(tag))
        return True

    def lines_after_greeting(self) -> list[bytes]:
        """The client's lines with the tags removed (``AUTHENTICATE PLAIN ...``)."""
        out = []
        for line in self.received:
            tag, sep, rest = line.partition(b" ")
            out.append(rest if sep and tag[:1] == b"A" and tag[1:].isdigit() else line)
        return out


@asynccontextmanager
async def running(script: FakeServer) -> AsyncIterator[FakeServer]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    script.port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, script.handle)
        try:
            yield script
        finally:
            tg.cancel_scope.cancel()


@asynccontextmanager
async def client_to(port: int, **options: Any) -> AsyncIterator[AsyncClient]:
    options.setdefault("tls", False)
    options.setdefault("timeout", 5.0)
    async with AsyncClient("127.0.0.1", port, connect_timeout=5.0, **options) as client:
        yield client


class Recorder(anyio.abc.ByteStream):
    """Wraps a client's stream to record what it sends."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner
        self.sent = bytearray()

    async def send(self, item: bytes) -> None:
        self.sent += item
        await self.inner.send(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def extra_attributes(self) -> Any:
        return self.inner.extra_attributes


def record(client: AsyncClient) -> Recorder:
    recorder = Recorder(client.connection.stream)
    client.connection.stream = recorder
    return recorder


class Refusing(ClientMechanism):
    """A mechanism that refuses the server's first challenge."""

    name: ClassVar[str] = "PLAIN"

    def initial_response(self) -> bytes | None:
        return None

    def respond(self, challenge: bytes) -> bytes:
        raise SaslError("refusing this challenge")

    @property
    def complete(self) -> bool:
        return False


# -- against our server --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_plain_with_initial_response_against_our_server(server: RunningServer) -> None:
    async with client_to(server.port) as client:
        assert "AUTH=PLAIN" in client.capabilities
        sent = record(client)
        await client.login_plain("user", "pass")
        line = b"AUTHENTICATE PLAIN " + b64(b"\0user\0pass") + b"\r\n"
        assert line in bytes(sent.sent)
        assert "AUTH=PLAIN" not in client.capabilities  # from the OK's CAPABILITY code
        await client.noop()


@pytest.mark.anyio
async def test_plain_without_initial_response_against_our_server(server: RunningServer) -> None:
    async with client_to(server.port) as client:
        sent = record(client)
        await client.authenticate(PlainClient("user", "pass"), initial_response=False)
        assert b"AUTHENTICATE PLAIN\r\n" + b64(b"\0user\0pass") + b"\r\n" in bytes(sent.sent)
        await client.noop()


@pytest.mark.anyio
async def test_no_sasl_ir_announced_means_no_initial_response(server: RunningServer) -> None:
    async with client_to(server.port) as client:
        wire = client.connection.wire
        wire.capabilities = wire.capabilities - {"SASL-IR", "IMAP4REV2"}
        sent = record(client)
        await client.authenticate("plain", "user", "pass")
        assert b"AUTHENTICATE PLAIN\r\n" in bytes(sent.sent)


@pytest.mark.anyio
async def test_wrong_password_against_our_server(server: RunningServer) -> None:
    async with client_to(server.port) as client:
        with pytest.raises(AuthenticationFailed) as info:
            await client.login_plain("user", "hunter2-wrong")
        assert info.value.code_name == "AUTHENTICATIONFAILED"
        assert info.value.status.value == "NO"
        for text in (str(info.value), repr(info.value), *getattr(info.value, "__notes__", [])):
            assert "hunter2" not in text
        await client.login_plain("user", "pass")  # the connection goes on


@pytest.mark.anyio
async def test_cancel_against_our_server(server: RunningServer) -> None:
    async with client_to(server.port) as client:
        sent = record(client)
        with pytest.raises(AuthenticationFailed) as info:
            await client.authenticate(Refusing(), initial_response=False)
        assert info.value.status.value == "BAD"
        assert isinstance(info.value.__cause__, SaslError)
        assert any("refusing this challenge" in n for n in info.value.__notes__)
        assert bytes(sent.sent).endswith(b"\r\n*\r\n")
        await client.login_plain("user", "pass")


@pytest.mark.anyio
async def test_login_best_against_our_server(server: RunningServer) -> None:
    async with client_to(server.port) as client:
        assert await client.login_best("user", "pass") == "SCRAM-SHA-256"


@pytest.mark.anyio
async def test_logindisabled_refuses_plaintext_before_sending() -> None:
    async with (
        # Only the plaintext mechanisms: SCRAM is offered over plaintext and login_best would
        # take it.
        serve_for_tests(plaintext_auth="never", sasl=SaslMechanisms(["PLAIN", "LOGIN"])) as server,
        client_to(server.port) as client,
    ):
        assert client.has_capability("LOGINDISABLED")
        sent = record(client)
        with pytest.raises(ImapConnectionError, match="LOGINDISABLED"):
            await client.login_plain("user", "pass")
        with pytest.raises(ImapConnectionError, match="LOGINDISABLED"):
            await client.login_login("user", "pass")
        with pytest.raises(ImapConnectionError, match="no password mechanism"):
            await client.login_best("user", "pass")
        assert b"pass" not in bytes(sent.sent)


# -- SCRAM -----------------------------------------------------------------------------------------

# (hash, client nonce, server nonce, salt, client-first, client-final): RFC 5802 section 5 and
# RFC 7677 section 3, password "pencil".
SCRAM_VECTORS = [
    pytest.param(
        "sha1",
        "fyko+d2lbbFgONRv9qkxdawL",
        "3rfcNHYJY1ZVvWVs7j",
        "QSXCR+Q6sek8bf92",
        b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        id="rfc5802",
    ),
    pytest.param(
        "sha256",
        "rOprNGfwEbeRWgbNEkqO",
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "W22ZaJ0SNY7soEsUEjb6gQ==",
        b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        id="rfc7677",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize("ir", [True, False], ids=["sasl-ir", "no-ir"])
@pytest.mark.parametrize(("hash_name", "cnonce", "snonce", "salt", "first", "final"), SCRAM_VECTORS)
async def test_scram_rfc_vectors(
    ir: bool, hash_name: str, cnonce: str, snonce: str, salt: str, first: bytes, final: bytes
) -> None:
    name = "SCRAM-SHA-1" if hash_name == "sha1" else "SCRAM-SHA-256"
    script = FakeServer(capabilities=("IMAP4rev1", "SASL-IR", f"AUTH={name}"))
    script.mechanisms[name] = _scram_factory(hash_name, nonce=snonce, salt=base64.b64decode(salt))
    async with running(script), client_to(script.port) as client:
        mech = scram_client("user", PASSWORD, hash_name=hash_name, nonce_factory=lambda: cnonce)
        await client.authenticate(mech, initial_response=ir)
        assert mech.complete
        assert client.capabilities == {"IMAP4REV1", "AUTHENTICATED-FAKE"}
    command = f"AUTHENTICATE {name}".encode()
    expected = [command + b" " + b64(first)] if ir else [command, b64(first)]
    assert script.lines_after_greeting() == [*expected, b64(final), b""]


@pytest.mark.anyio
@pytest.mark.parametrize("hash_name", ["SHA-256", "SHA-1"])
async def test_login_scram(hash_name: str) -> None:
    name = f"SCRAM-{hash_name}"
    script = FakeServer(capabilities=("IMAP4rev1", f"AUTH={name}"), ok_capabilities=False)
    async with running(script), client_to(script.port) as client:
        await client.login_scram("user", PASSWORD, hash=hash_name)
        assert client.capabilities == {"IMAP4REV1", "AUTHENTICATED-FAKE"}
    lines = script.lines_after_greeting()
    assert lines[0] == f"AUTHENTICATE {name}".encode()  # no SASL-IR announced
    assert lines[-1] == b"CAPABILITY"  # the OK had no capabilities: asked


@pytest.mark.anyio
async def test_scram_wrong_password() -> None:
    async with running(FakeServer()) as script, client_to(script.port) as client:
        with pytest.raises(AuthenticationFailed) as info:
            await client.login_scram("user", "not-the-password")
        assert info.value.code_name == "AUTHENTICATIONFAILED"
        assert "not-the-password" not in str(info.value) + repr(info.value)


@pytest.mark.anyio
async def test_scram_bad_server_signature_cancels() -> None:
    async with running(FakeServer(tamper_final=True)) as script, client_to(script.port) as client:
        with pytest.raises(AuthenticationFailed) as info:
            await client.login_scram("user", PASSWORD)
        assert info.value.status.value == "BAD"
        assert isinstance(info.value.__cause__, SaslError)
        assert any("signature" in note for note in info.value.__notes__)
        assert script.received[-1] == b"*"
        await client.noop()  # cancelled cleanly: the connection goes on


@pytest.mark.anyio
async def test_ok_before_the_server_proved_itself_closes() -> None:
    async with running(FakeServer(ok_before_final=True)) as script, client_to(script.port) as c:
        with pytest.raises(ImapConnectionError, match="before the SCRAM-SHA-256 exchange"):
            await c.login_scram("user", PASSWORD)
        assert c.closed.is_set()


@pytest.mark.anyio
async def test_ok_to_a_cancelled_exchange_closes() -> None:
    script = FakeServer(tamper_final=True, ok_after_cancel=True)
    async with running(script), client_to(script.port) as client:
        with pytest.raises(ImapConnectionError, match="cancelled"):
            await client.login_scram("user", PASSWORD)
        assert client.closed.is_set()


@pytest.mark.anyio
async def test_challenge_not_base64_cancels() -> None:
    script = FakeServer(bad_base64=True)
    async with running(script), client_to(script.port) as client:
        with pytest.raises(AuthenticationFailed) as info:
            await client.login_cram_md5("tim", "tanstaaftanstaaf")
        assert info.value.status.value == "BAD"
        assert script.received[-1] == b"*"


@pytest.mark.anyio
async def test_scram_reused_or_unknown_mechanism() -> None:
    async with running(FakeServer()) as script, client_to(script.port) as client:
        mech = scram_client("user", PASSWORD)
        await client.authenticate(mech)
        with pytest.raises(ValueError, match="cannot start"):
            await client.authenticate(mech, initial_response=True)
        with pytest.raises(ValueError, match="unknown SASL mechanism"):
            await client.authenticate("NO-SUCH-MECH")
        with pytest.raises(TypeError):
            await client.authenticate(mech, "extra")
        with pytest.raises(ValueError, match="hash"):
            await client.login_scram("user", PASSWORD, hash="MD5")
        with pytest.raises(ValueError, match="no channel binding"):
            await client.login_scram("user", PASSWORD, channel_binding=True)
        with pytest.raises(ValueError, match="password"):
            await client.login_plain("user", "")


# -- the other mechanisms -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cram_md5_rfc2195_vector() -> None:
    challenge = b"<1896.697170952@postoffice.reston.mci.net>"
    script = FakeServer(capabilities=("IMAP4rev1", "SASL-IR", "AUTH=CRAM-MD5"))
    script.mechanisms["CRAM-MD5"] = lambda s: CramMd5Server(USERS.get, challenge=challenge)
    async with running(script), client_to(script.port) as client:
        await client.login_cram_md5("tim", "tanstaaftanstaaf")
    # No initial response although SASL-IR is on: CRAM-MD5 starts with the server.
    assert script.lines_after_greeting() == [
        b"AUTHENTICATE CRAM-MD5",
        b64(b"tim b913a602c7eda7a495b4e6e7334d3890"),
    ]


@pytest.mark.anyio
async def test_login_mechanism() -> None:
    async with running(FakeServer()) as script, client_to(script.port) as client:
        await client.login_login("user", PASSWORD)
    assert script.lines_after_greeting() == [b"AUTHENTICATE LOGIN", b64(b"user"), b64(b"pencil")]


@pytest.mark.anyio
async def test_plain_rfc4616_and_bare_plus() -> None:
    script = FakeServer(capabilities=("IMAP4rev1", "AUTH=PLAIN"), bare_plus=True)
    async with running(script), client_to(script.port) as client:
        await client.login_plain("tim", "tanstaaftanstaaf")
    # RFC 4616 section 4: "<NUL>tim<NUL>tanstaaftanstaaf".
    assert script.lines_after_greeting() == [b"AUTHENTICATE PLAIN", b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"]


@pytest.mark.anyio
@pytest.mark.parametrize("ir", [True, False])
async def test_external(ir: bool) -> None:
    async with running(FakeServer()) as script, client_to(script.port) as client:
        if ir:
            await client.login_external()
        else:
            await client.authenticate("EXTERNAL", initial_response=False)
    # RFC 9051 section 6.2.2: an empty initial response is "=".
    expected = [b"AUTHENTICATE EXTERNAL ="] if ir else [b"AUTHENTICATE EXTERNAL", b""]
    assert script.lines_after_greeting() == expected


@pytest.mark.anyio
async def test_anonymous_by_name() -> None:
    async with running(FakeServer()) as script, client_to(script.port) as client:
        await client.authenticate("ANONYMOUS", "me@example.org")
    assert script.lines_after_greeting() == [b"AUTHENTICATE ANONYMOUS " + b64(b"me@example.org")]


@pytest.mark.anyio
async def test_unsupported_mechanism_is_authentication_failed() -> None:
    script = FakeServer(mechanisms={})
    async with running(script), client_to(script.port) as client:
        with pytest.raises(AuthenticationFailed) as info:
            await client.login_plain("user", PASSWORD)
        assert info.value.code_name == "CANNOT"


@pytest.mark.anyio
async def test_oauthbearer_rfc7628_vector() -> None:
    seen: list[str] = []
    token = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
    script = FakeServer(capabilities=("IMAP4rev1", "AUTH=OAUTHBEARER", "SASL-IR"))
    script.mechanisms["OAUTHBEARER"] = lambda s: OAuthBearerServer(_tokens({token}, seen))
    mech = OAuthBearerClient("user@example.com", token, host="server.example.com", port=143)
    async with running(script), client_to(script.port) as client:
        await client.authenticate(mech)
    # RFC 7628 section 4.1, the line breaks of the example removed.
    assert script.lines_after_greeting() == [
        b"AUTHENTICATE OAUTHBEARER bixhPXVzZXJAZXhhbXBsZS5jb20sAWhv"
        b"c3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyI"
        b"HZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQ"
        b"EB"
    ]
    assert seen == [token]


@pytest.mark.anyio
@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
async def test_oauth2_token_callback_called_at_each_login(mechanism: str) -> None:
    seen: list[str] = []
    valid = {"token-1", "token-2"}
    script = FakeServer(capabilities=("IMAP4rev1", f"AUTH={mechanism}", "SASL-IR"))
    script.mechanisms["XOAUTH2"] = lambda s: XOAuth2Server(_tokens(valid, seen))
    script.mechanisms["OAUTHBEARER"] = lambda s: OAuthBearerServer(_tokens(valid, seen))
    issued = iter(["token-1", "token-2"])

    def sync_token() -> str:
        return next(issued)

    async def async_token() -> str:
        await anyio.sleep(0)
        return next(issued)

    async with running(script):
        for source in (sync_token, async_token):
            async with client_to(script.port) as client:
                await client.login_oauth2("user@example.com", source, mechanism=mechanism)
    assert seen == ["token-1", "token-2"]
    if mechanism == "OAUTHBEARER":
        first = base64.b64decode(script.received[0].split()[-1])
        assert b"\x01host=127.0.0.1\x01port=%d\x01" % script.port in first


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mechanism", "status", "ack"),
    [("XOAUTH2", "401", b""), ("OAUTHBEARER", "invalid_token", b"AQ==")],
)
async def test_oauth2_refused_token(mechanism: str, status: str, ack: bytes) -> None:
    seen: list[str] = []
    script = FakeServer(capabilities=("IMAP4rev1", f"AUTH={mechanism}", "SASL-IR"))
    script.mechanisms["XOAUTH2"] = lambda s: XOAuth2Server(_tokens(set(), seen))
    script.mechanisms["OAUTHBEARER"] = lambda s: OAuthBearerServer(_tokens(set(), seen))
    async with running(script), client_to(script.port) as client:
        with pytest.raises(AuthenticationFailed) as info:
            await client.login_oauth2("user@example.com", "expired-token", mechanism)
        assert info.value.code_name == "AUTHENTICATIONFAILED"
        assert any(status in note for note in info.value.__notes__)
        assert "expired-token" not in str(info.value) + "".join(info.value.__notes__)
        with pytest.raises(ValueError, match="OAuth mechanism"):
            await client.login_oauth2("u", "t", "PLAIN")
    assert script.received[-1] == ack  # the error challenge acknowledged (RFC 7628 3.2.3)


# -- exchange edge cases --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_timeout_in_the_exchange_closes_the_connection() -> None:
    script = FakeServer(capabilities=("IMAP4rev1", "AUTH=PLAIN"), stall=True)
    async with running(script), client_to(script.port, timeout=0.3) as client:
        with pytest.raises(ImapTimeout):
            await client.login_plain("user", PASSWORD)
        assert client.closed.is_set()


@pytest.mark.anyio
async def test_cancelled_exchange_closes_the_connection() -> None:
    script = FakeServer(capabilities=("IMAP4rev1", "AUTH=PLAIN"), stall=True)
    async with running(script), client_to(script.port) as client:
        with anyio.move_on_after(0.2):
            await client.login_plain("user", PASSWORD)
        assert client.closed.is_set()


@pytest.mark.anyio
async def test_commands_started_alongside_wait_for_authenticate() -> None:
    async with running(FakeServer()) as script, client_to(script.port) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.login_scram, "user", PASSWORD)
            tg.start_soon(client.noop)
            tg.start_soon(client.noop)
        await client.noop()
    lines = script.lines_after_greeting()
    # The exchange's lines (client-final, then the empty answer to server-final) are never
    # split by another command (RFC 9051 section 5.5).
    auth = next(i for i, line in enumerate(lines) if line.startswith(b"AUTHENTICATE"))
    assert b"NOOP" not in lines[auth + 1 : auth + 3]
    assert lines[auth + 2] == b""
    assert lines.count(b"NOOP") == 3


# -- login_best -----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (("SCRAM-SHA-1", "SCRAM-SHA-256", "CRAM-MD5", "PLAIN"), "SCRAM-SHA-256"),
        (("SCRAM-SHA-1", "PLAIN", "CRAM-MD5"), "SCRAM-SHA-1"),
        (("PLAIN", "CRAM-MD5"), "CRAM-MD5"),  # no TLS: the password is not revealed
        (("SCRAM-SHA-256-PLUS", "PLAIN"), "PLAIN"),  # no TLS, so no channel binding
        (("PLAIN",), "PLAIN"),
        ((), "LOGIN"),
    ],
)
async def test_login_best_choice(offered: tuple[str, ...], expected: str) -> None:
    caps = ("IMAP4rev1", "SASL-IR", *(f"AUTH={m}" for m in offered))
    async with running(FakeServer(capabilities=caps)) as script, client_to(script.port) as client:
        assert await client.login_best("user", PASSWORD) == expected
        assert client.capabilities == {"IMAP4REV1", "AUTHENTICATED-FAKE"}
    first = script.lines_after_greeting()[0]
    assert first.startswith(
        b"LOGIN " if expected == "LOGIN" else b"AUTHENTICATE " + expected.encode()
    )


@pytest.mark.anyio
async def test_login_best_no_fallback_after_refusal() -> None:
    caps = ("IMAP4rev1", "AUTH=SCRAM-SHA-256", "AUTH=PLAIN")
    async with running(FakeServer(capabilities=caps)) as script, client_to(script.port) as client:
        with pytest.raises(AuthenticationFailed):
            await client.login_best("user", "wrong")
    # AUTHENTICATE, client-first, client-final, NO: then nothing, PLAIN is not tried.
    lines = script.lines_after_greeting()
    assert lines[0] == b"AUTHENTICATE SCRAM-SHA-256"
    assert len(lines) == 3


@pytest.mark.anyio
async def test_login_best_asks_capabilities_when_unknown() -> None:
    async with running(FakeServer()) as script, client_to(script.port) as client:
        client.connection.wire.capabilities = frozenset()
        assert await client.login_best("user", PASSWORD) == "PLAIN"
    assert script.lines_after_greeting()[0] == b"CAPABILITY"


# -- TLS and channel binding -----------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    cert: Path
    key: Path
    folder: Path

    def server_context(
        self, maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
    ) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        context.maximum_version = maximum
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.cert))
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        return context

    def der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.cert.read_text())


def _openssl(folder: Path, name: str, key_args: list[str], sign_args: list[str]) -> Path:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", *key_args, "-nodes", "-subj", "/CN=localhost", "-days", "2",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", *sign_args,
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Certs]:
    folder = tmp_path_factory.mktemp("tls")
    cert = _openssl(folder, "server", EC, ["-sha256"])
    yield Certs(cert=cert, key=folder / "server.key", folder=folder)


def _end_point(certs: Certs) -> Callable[[anyio.abc.ByteStream], tuple[str, bytes]]:
    def binding(stream: anyio.abc.ByteStream) -> tuple[str, bytes]:
        return ("tls-server-end-point", hashlib.sha256(certs.der()).digest())

    return binding


def _tls_unique(stream: anyio.abc.ByteStream) -> tuple[str, bytes] | None:
    data = stream.extra(TLSAttribute.ssl_object).get_channel_binding("tls-unique")
    return None if data is None else ("tls-unique", data)


def _plus_server(**options: Any) -> FakeServer:
    return FakeServer(
        capabilities=("IMAP4rev1", "SASL-IR", "AUTH=SCRAM-SHA-256", "AUTH=SCRAM-SHA-256-PLUS"),
        **options,
    )


@pytest.mark.anyio
async def test_scram_plus_tls_unique_on_tls12(certs: Certs) -> None:
    script = _plus_server(tls=certs.server_context(ssl.TLSVersion.TLSv1_2))
    script.mechanisms["SCRAM-SHA-256-PLUS"] = _scram_factory(
        "sha256", plus=True, binding=_tls_unique
    )
    async with (
        running(script),
        client_to(script.port, tls=True, ssl_context=certs.client_context()) as client,
    ):
        assert client.is_tls
        binding = client.channel_binding()
        assert binding is not None and binding[0] == "tls-unique"
        assert await client.login_best("user", PASSWORD) == "SCRAM-SHA-256-PLUS"
    first = base64.b64decode(script.lines_after_greeting()[0].split()[-1])
    assert first.startswith(b"p=tls-unique,,n=user,r=")


@pytest.mark.anyio
async def test_scram_flag_y_when_plus_not_offered(certs: Certs) -> None:
    script = FakeServer(
        capabilities=("IMAP4rev1", "SASL-IR", "AUTH=SCRAM-SHA-256"),
        tls=certs.server_context(ssl.TLSVersion.TLSv1_2),
    )
    async with (
        running(script),
        client_to(script.port, tls=True, ssl_context=certs.client_context()) as client,
    ):
        assert await client.login_best("user", PASSWORD) == "SCRAM-SHA-256"
    first = base64.b64decode(script.lines_after_greeting()[0].split()[-1])
    assert first.startswith(b"y,,n=user,r=")


@pytest.mark.anyio
async def test_any_plus_before_flag_y(certs: Certs) -> None:
    script = FakeServer(
        capabilities=("IMAP4rev1", "AUTH=SCRAM-SHA-256", "AUTH=SCRAM-SHA-1-PLUS"),
        tls=certs.server_context(ssl.TLSVersion.TLSv1_2),
    )
    script.mechanisms["SCRAM-SHA-1-PLUS"] = _scram_factory("sha1", plus=True, binding=_tls_unique)
    async with (
        running(script),
        client_to(script.port, tls=True, ssl_context=certs.client_context()) as client,
    ):
        # SCRAM-SHA-256 with flag "y" would be refused by a server that can bind.
        assert await client.login_best("user", PASSWORD) == "SCRAM-SHA-1-PLUS"


@pytest.mark.anyio
async def test_scram_plus_on_tls13(certs: Certs) -> None:
    script = _plus_server(tls=certs.server_context())
    script.mechanisms["SCRAM-SHA-256-PLUS"] = _scram_factory(
        "sha256", plus=True, binding=_end_point(certs)
    )
    async with running(script):
        options: dict[str, Any] = {"tls": True, "ssl_context": certs.client_context()}
        async with client_to(script.port, **options) as client:
            # The default for TLS 1.3, tls-exporter, is out of Python's reach: no -PLUS.
            assert client.channel_binding() is None
            assert client.channel_binding("tls-unique") is None  # RFC 9266 section 3
            assert client.channel_binding("tls-exporter") is None
            assert await client.login_best("user", PASSWORD) == "SCRAM-SHA-256"
        async with client_to(script.port, **options) as client:
            name = await client.login_best("user", PASSWORD, channel_binding="tls-server-end-point")
            assert name == "SCRAM-SHA-256-PLUS"
        async with client_to(script.port, **options) as client:
            binding = ("tls-server-end-point", hashlib.sha256(certs.der()).digest())
            await client.login_scram("user", PASSWORD, channel_binding=binding)
    firsts = [
        base64.b64decode(line.split()[-1])[:24]
        for line in script.lines_after_greeting()
        if line.startswith(b"AUTHENTICATE")
    ]
    assert len(firsts) == 3
    assert firsts[0].startswith(b"n,,n=user,r=")
    assert firsts[1] == firsts[2] == b"p=tls-server-end-point,,"
    with pytest.raises(ValueError, match="unknown channel binding"):
        client.channel_binding("tls-bogus")


@pytest.mark.anyio
async def test_login_best_over_tls_prefers_plain_to_cram(certs: Certs) -> None:
    script = FakeServer(
        capabilities=("IMAP4rev1", "SASL-IR", "AUTH=CRAM-MD5", "AUTH=PLAIN"),
        tls=certs.server_context(),
    )
    async with (
        running(script),
        client_to(script.port, tls=True, ssl_context=certs.client_context()) as client,
    ):
        assert await client.login_best("user", PASSWORD) == "PLAIN"


@pytest.mark.anyio
async def test_no_channel_binding_without_tls() -> None:
    async with running(FakeServer()) as script, client_to(script.port) as client:
        assert not client.is_tls
        assert client.channel_binding() is None
        assert client.channel_binding("tls-server-end-point") is None


@pytest.mark.parametrize(
    ("key_args", "sign_args", "hash_name"),
    [
        (EC, ["-sha256"], "sha256"),
        (EC, ["-sha384"], "sha384"),
        (EC, ["-sha512"], "sha512"),
        (EC, ["-sha1"], "sha256"),  # RFC 5929 section 4.1: SHA-1 becomes SHA-256
        (["-newkey", "rsa:1024"], ["-sha384"], "sha384"),
        (["-newkey", "rsa:1024"], ["-sha256", "-sigopt", "rsa_padding_mode:pss"], "sha256"),
        (["-newkey", "rsa:1024"], ["-sha512", "-sigopt", "rsa_padding_mode:pss"], "sha512"),
        (["-newkey", "ed25519"], [], None),  # no single hash: no binding
    ],
    ids=["ec256", "ec384", "ec512", "ec-sha1", "rsa384", "pss256", "pss512", "ed25519"],
)
def test_tls_server_end_point(
    certs: Certs, key_args: list[str], sign_args: list[str], hash_name: str | None
) -> None:
    name = "-".join(a.replace(":", "") for a in [*key_args[1:2], *sign_args]).strip("-")
    try:
        pem = _openssl(certs.folder, name or "x", key_args, sign_args)
    except subprocess.CalledProcessError:
        pytest.skip("this openssl cannot make that certificate")
    der = ssl.PEM_cert_to_DER_cert(pem.read_text())
    expected = None if hash_name is None else hashlib.new(hash_name, der).digest()
    assert tls_server_end_point(der) == expected
    assert tls_server_end_point(der[:40]) is None
    assert tls_server_end_point(b"") is None


# -- secrets stay secret ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_credentials_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cret-Pa55"
    USERS["secretive"] = secret
    caps = ("IMAP4rev1", "SASL-IR", "AUTH=PLAIN", "AUTH=SCRAM-SHA-256", "AUTH=CRAM-MD5")
    try:
        with caplog.at_level(logging.DEBUG):
            async with running(FakeServer(capabilities=caps, tamper_final=True)) as script:
                for login in ("login_plain", "login_login", "login_cram_md5", "login_scram"):
                    async with client_to(script.port) as client:
                        method = getattr(client, login)
                        try:
                            await method("secretive", secret)
                        except AuthenticationFailed as exc:
                            text = "".join([str(exc), repr(exc), *exc.__notes__])
                            assert secret not in text
                        assert secret not in repr(client) + repr(client.connection)
    finally:
        del USERS["secretive"]
    assert caplog.records  # something was logged
    logged = caplog.text
    assert secret not in logged
    assert b64(secret.encode()).decode()[:8] not in logged
