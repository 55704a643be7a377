"""AUTHENTICATE with every mechanism the server offers, end to end with our client (and
imaplib): SCRAM (with and without channel binding), PLAIN, LOGIN, CRAM-MD5, XOAUTH2,
OAUTHBEARER, EXTERNAL, ANONYMOUS; advertising; cancel, failures, the plaintext policy.

The mechanisms' RFC test vectors are checked in imap-wire; here the server's plumbing is.
"""

from __future__ import annotations

import imaplib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from imap_client import AsyncClient, AuthenticationFailed, CommandFailed
from imap_server.auth import (
    CertificateAuthenticator,
    CramMd5Authenticator,
    SaslMechanisms,
    TokenAuthenticator,
)
from imap_server.memory import MemoryStore
from imap_server.server import Listener
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_server.testing.transcript import play
from imap_wire.sasl import AnonymousClient, ScramCredentials

pytestmark = pytest.mark.anyio

GREETING = "S: * OK [CAPABILITY ...] IMAP server ready"


class FastStore(MemoryStore):
    scrypt_n = 2**4


@asynccontextmanager
async def connect(server: RunningServer, **options: Any) -> AsyncIterator[AsyncClient]:
    options.setdefault("tls", False)
    async with AsyncClient(
        server.host, server.port, connect_timeout=5.0, timeout=5.0, **options
    ) as client:
        yield client


async def _inbox_works(client: AsyncClient) -> None:
    status = await client.status("INBOX", ["MESSAGES"])
    assert status.messages == 0


def _code(exc: CommandFailed) -> str | None:
    return exc.code.name if exc.code is not None else None


# -- advertising ---------------------------------------------------------------------------------


async def test_default_mechanisms_advertised(server: RunningServer) -> None:
    async with connect(server) as client:
        assert client.sasl_mechanisms == {"SCRAM-SHA-256", "SCRAM-SHA-1", "LOGIN", "PLAIN"}


async def test_plaintext_policy_keeps_scram(store: MemoryStore) -> None:
    async with serve_for_tests(store, plaintext_auth="never") as server:
        async with connect(server) as client:
            assert client.has_capability("LOGINDISABLED")
            assert client.sasl_mechanisms == {"SCRAM-SHA-256", "SCRAM-SHA-1"}
            await client.login_scram("user", "pass")
            await _inbox_works(client)
        await play(
            server,
            f"""
            {GREETING}
            C: a1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==
            S: a1 NO [PRIVACYREQUIRED] Use STARTTLS or TLS first
            C: a2 AUTHENTICATE LOGIN
            S: a2 NO [PRIVACYREQUIRED] Use STARTTLS or TLS first
            """,
        )


async def test_enabled_list_restricts(store: MemoryStore) -> None:
    async with (
        serve_for_tests(store, sasl=SaslMechanisms(["PLAIN"])) as server,
        connect(server) as client,
    ):
        assert client.sasl_mechanisms == {"PLAIN"}
        with pytest.raises(CommandFailed):
            await client.login_scram("user", "pass")
        await client.login_plain("user", "pass")


def test_unknown_mechanism_name_in_config() -> None:
    with pytest.raises(ValueError, match="NOPE"):
        SaslMechanisms(["PLAIN", "NOPE"])


# -- SCRAM -------------------------------------------------------------------------------------


@pytest.mark.parametrize("hash_name", ["SHA-256", "SHA-1"])
async def test_scram(server: RunningServer, hash_name: str) -> None:
    async with connect(server) as client:
        await client.login_scram("user", "pass", hash=hash_name)
        await _inbox_works(client)


@pytest.mark.parametrize(("user", "password"), [("user", "wrong"), ("nobody", "pass")])
async def test_scram_refused(server: RunningServer, user: str, password: str) -> None:
    async with connect(server) as client:
        with pytest.raises(AuthenticationFailed) as info:
            await client.login_scram(user, password)
        assert _code(info.value) == "AUTHENTICATIONFAILED"
        await client.login_scram("user", "pass")  # the connection goes on


async def test_scram_after_password_change(store: MemoryStore, server: RunningServer) -> None:
    store.set_password("user", "new")
    async with connect(server) as client:
        with pytest.raises(AuthenticationFailed):
            await client.login_scram("user", "pass")
        await client.login_scram("user", "new")


def test_memory_store_keeps_no_password() -> None:
    store = FastStore()
    store.add_user("u", "secret")

    async def keys() -> tuple[ScramCredentials | None, ScramCredentials | None]:
        return (
            await store.scram_credentials("u", "sha1"),
            await store.scram_credentials("u", "sha256"),
        )

    sha1, sha256 = anyio.run(keys)
    assert sha1 is not None and sha256 is not None
    assert sha1.iterations == sha256.iterations == 4096
    assert sha1.salt != sha256.salt
    assert sha256 == ScramCredentials.derive(
        "secret", salt=sha256.salt, iterations=4096, hash_name="sha256"
    )
    assert anyio.run(store.scram_credentials, "nobody", "sha256") is None


async def test_scram_cancelled(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE SCRAM-SHA-256
        S: + ...
        C: *
        S: a1 BAD AUTHENTICATE cancelled
        C: a2 AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9YWJjZGVmZ2hpams=
        S: + ...
        C: *
        S: a2 BAD AUTHENTICATE cancelled
        C: a3 NOOP
        S: a3 OK NOOP completed
        """,
    )


async def test_scram_malformed_and_bad_base64(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE SCRAM-SHA-1 bm90IHNjcmFt
        S: a1 NO [AUTHENTICATIONFAILED] Authentication failed
        C: a2 AUTHENTICATE SCRAM-SHA-1
        S: + ...
        C: ###
        S: a2 BAD ...
        C: a3 NOOP
        S: a3 OK NOOP completed
        """,
    )


async def test_unknown_mechanism(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE X-UNKNOWN
        S: a1 NO [CANNOT] unsupported mechanism
        C: a2 AUTHENTICATE XOAUTH2 dXNlcj0BAQ==
        S: a2 NO [CANNOT] unsupported mechanism
        C: a3 AUTHENTICATE ANONYMOUS
        S: a3 NO [CANNOT] unsupported mechanism
        """,
    )


# -- PLAIN and LOGIN ---------------------------------------------------------------------------


async def test_plain_with_initial_response(server: RunningServer) -> None:
    async with connect(server) as client:
        await client.login_plain("user", "pass")
        await _inbox_works(client)


async def test_plain_and_login_without_initial_response(server: RunningServer) -> None:
    # "=" is the empty initial response: PLAIN then has nothing to check.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN =
        S: a1 NO [AUTHENTICATIONFAILED] Authentication failed
        C: a2 AUTHENTICATE LOGIN
        S: + VXNlcm5hbWU6
        C: dXNlcg==
        S: + UGFzc3dvcmQ6
        C: cGFzcw==
        S: a2 OK [CAPABILITY ...] Logged in
        """,
    )


async def test_login_mechanism(server: RunningServer) -> None:
    async with connect(server) as client:
        with pytest.raises(AuthenticationFailed) as info:
            await client.login_login("user", "wrong")
        assert _code(info.value) == "AUTHENTICATIONFAILED"
        await client.login_login("user", "pass")
        await _inbox_works(client)


async def test_imaplib_authenticate_plain(server: RunningServer) -> None:
    def run() -> tuple[str, str]:
        with imaplib.IMAP4(server.host, server.port, timeout=5) as m:
            typ, _ = m.authenticate("PLAIN", lambda challenge: b"\0user\0pass")
            state = m.state
            m.logout()
        return typ, state

    typ, state = await anyio.to_thread.run_sync(run)
    assert (typ, state) == ("OK", "AUTH")


# -- tokens, CRAM-MD5, ANONYMOUS -------------------------------------------------------------------


class Tokens(TokenAuthenticator):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    async def check_token(self, username: str, token: str, *, mechanism: str) -> str | None:
        await anyio.sleep(0)
        self.calls.append((username, token, mechanism))
        return "user" if token == "good-token" and username == "user@example.org" else None


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
async def test_oauth(store: MemoryStore, mechanism: str) -> None:
    tokens = Tokens()
    async with (
        serve_for_tests(store, token_authenticator=tokens) as server,
        connect(server) as client,
    ):
        assert {"XOAUTH2", "OAUTHBEARER"} <= client.sasl_mechanisms
        with pytest.raises(AuthenticationFailed):
            await client.login_oauth2("user@example.org", "bad-token", mechanism)
        await client.login_oauth2("user@example.org", "good-token", mechanism)
        await _inbox_works(client)
    assert tokens.calls == [
        ("user@example.org", "bad-token", mechanism),
        ("user@example.org", "good-token", mechanism),
    ]


class CramStore(FastStore, CramMd5Authenticator):
    async def cram_md5_secret(self, username: str) -> str | None:
        return "pass" if username == "user" else None


async def test_cram_md5_only_with_a_secret_source(server: RunningServer) -> None:
    async with connect(server) as client:
        assert "CRAM-MD5" not in client.sasl_mechanisms
    store = CramStore()
    store.add_user("user", "pass")
    async with serve_for_tests(store) as cram_server, connect(cram_server) as client:
        assert "CRAM-MD5" in client.sasl_mechanisms
        with pytest.raises(AuthenticationFailed):
            await client.login_cram_md5("user", "wrong")
        await client.login_cram_md5("user", "pass")
        await _inbox_works(client)


async def test_anonymous_when_enabled(store: MemoryStore) -> None:
    store.add_user("guest", "unused")
    sasl = SaslMechanisms(["ANONYMOUS", "PLAIN"], anonymous_user="guest")
    async with serve_for_tests(store, sasl=sasl) as server, connect(server) as client:
        assert client.sasl_mechanisms == {"ANONYMOUS", "PLAIN"}
        await client.authenticate(AnonymousClient("someone@example.org"))
        await _inbox_works(client)


# -- the event loop stays free -------------------------------------------------------------------


async def test_slow_authenticator_does_not_block_others(store: MemoryStore) -> None:
    release = anyio.Event()

    class SlowTokens(TokenAuthenticator):
        async def check_token(self, username: str, token: str, *, mechanism: str) -> str | None:
            await release.wait()
            return "user"

    async with (
        serve_for_tests(store, token_authenticator=SlowTokens()) as server,
        connect(server) as slow,
        connect(server) as quick,
    ):
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow.login_oauth2, "user", "t")
            await quick.login_plain("user", "pass")  # served while the other waits
            await _inbox_works(quick)
            release.set()
        await _inbox_works(slow)


# -- TLS: channel binding and client certificates --------------------------------------------------


@dataclass(frozen=True)
class Certs:
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.server_cert.read_text())

    def client_der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.client_cert.read_text())

    def server_context(
        self, maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
    ) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        context.maximum_version = maximum
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cafile=str(self.client_cert))
        return context

    def client_context(self, *, with_certificate: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.server_cert))
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        if with_certificate:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


def _self_signed(folder: Path, name: str, subject: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", subject, "-days", "2", "-sha256",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Certs]:
    folder = tmp_path_factory.mktemp("sasl-tls")
    server_cert, server_key = _self_signed(folder, "server", "/CN=localhost")
    client_cert, client_key = _self_signed(folder, "client", "/CN=user")
    yield Certs(server_cert, server_key, client_cert, client_key)


@asynccontextmanager
async def tls_server(
    store: MemoryStore,
    certs: Certs,
    maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
    **options: Any,
) -> AsyncIterator[RunningServer]:
    listener = Listener("127.0.0.1", 0, tls=certs.server_context(maximum))
    async with serve_for_tests(store, listeners=(listener,), **options) as server:
        yield server


async def test_scram_plus_tls_unique(store: MemoryStore, certs: Certs) -> None:
    async with tls_server(store, certs, ssl.TLSVersion.TLSv1_2) as server:
        for hash_name in ("SHA-256", "SHA-1"):
            async with connect(server, tls=True, ssl_context=certs.client_context()) as client:
                assert {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"} <= client.sasl_mechanisms
                await client.login_scram("user", "pass", hash=hash_name, channel_binding=True)
                await _inbox_works(client)
        # A client that does not bind still gets in with plain SCRAM.
        async with connect(server, tls=True, ssl_context=certs.client_context()) as client:
            await client.login_scram("user", "pass")


async def test_scram_plus_server_end_point(store: MemoryStore, certs: Certs) -> None:
    async with (
        tls_server(store, certs) as server,
        connect(server, tls=True, ssl_context=certs.client_context()) as client,
    ):
        # TLS 1.3 has no tls-unique and the server was not told its certificate.
        assert "SCRAM-SHA-256-PLUS" not in client.sasl_mechanisms
    sasl = SaslMechanisms(server_certificate=certs.server_der())
    async with (
        tls_server(store, certs, sasl=sasl) as server,
        connect(server, tls=True, ssl_context=certs.client_context()) as client,
    ):
        assert "SCRAM-SHA-256-PLUS" in client.sasl_mechanisms
        await client.login_scram("user", "pass", channel_binding="tls-server-end-point")
        await _inbox_works(client)


class Certificates(CertificateAuthenticator):
    def __init__(self, der: bytes) -> None:
        self.der = der

    async def user_for_certificate(self, der: bytes, authzid: str | None) -> str | None:
        if der != self.der or authzid not in (None, "user"):
            return None
        return "user"


async def test_external(store: MemoryStore, certs: Certs) -> None:
    authenticator = Certificates(certs.client_der())
    async with tls_server(store, certs, certificate_authenticator=authenticator) as server:
        async with connect(server, tls=True, ssl_context=certs.client_context()) as client:
            assert "EXTERNAL" not in client.sasl_mechanisms  # no client certificate
        context = certs.client_context(with_certificate=True)
        async with connect(server, tls=True, ssl_context=context) as client:
            assert "EXTERNAL" in client.sasl_mechanisms
            with pytest.raises(AuthenticationFailed):
                await client.login_external("admin")
            await client.login_external()
            await _inbox_works(client)
