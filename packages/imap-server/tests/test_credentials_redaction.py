"""Credentials never appear in logs, exceptions or ``repr``.

A server runs with every logger at DEBUG (the ``imap_server.trace`` and ``imap_client.trace``
connection traces included) while our client logs in with distinctive secrets, by every path:
LOGIN (quoted and literal password), AUTHENTICATE PLAIN with and without SASL-IR, the LOGIN
mechanism, CRAM-MD5, SCRAM-SHA-1 and SCRAM-SHA-256, XOAUTH2 and OAUTHBEARER; each succeeding
and failing. No secret (nor its base64 form, at any alignment, nor its hex) may show in:

- a log record: the formatted message, its arguments, the formatted exception and stack;
- the ``repr`` of the parsed commands the server handled (`Login`, `Authenticate`), of the
  `AuthenticateResponse` lines it read, of the server's and the client's mechanism objects
  and of `SaslExchange`;
- the exceptions the handlers raised (`AuthenticationFailed`) and the client's, with their
  chained causes, notes and formatted tracebacks;
- the ``repr`` of the `MemoryStore`, its accounts, password hashes, SCRAM keys and users.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from imap_client import AsyncClient, AuthenticationFailed
from imap_server.auth import CramMd5Authenticator, SaslExchange, TokenAuthenticator
from imap_server.connection import CommandContext, Connection
from imap_server.errors import AuthenticationFailed as ServerAuthenticationFailed
from imap_server.extensions import Handler, ServerExtension
from imap_server.memory import MemoryStore
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_wire import Authenticate, AuthenticateResponse, Login, parse_command
from imap_wire.sasl import (
    ClientMechanism,
    CramMd5Client,
    LoginClient,
    OAuthBearerClient,
    PlainClient,
    XOAuth2Client,
    scram_client,
)

pytestmark = pytest.mark.anyio

# Each secret has its own ASCII marker, so a leak names the path it came by.
PASSWORDS = {
    "quoted": "QuotedPw-Qx7Zr2Kd9",
    "literal": "Lit\u00e9ralPw-Vm4Tn8Hs",  # not ASCII: the client sends it as a literal
    "plainir": "PlainIrPw-Bw3Jc6Py1",
    "plainnoir": "PlainNoIrPw-Gh5Ls2Wq8",
    "loginmech": "LoginMechPw-Rt9Ys4Ue7",
    "scram1": "Scram1Pw-Np2Xc8Vb3",
    "scram256": "Scram256Pw-Ke4Dw9Fj6",
    "cram": "CramPw-Hd6Kf1Mz5",
}
WRONG = {user: f"Wrong{user.title()}-Zu5Ai1Cs4" for user in PASSWORDS}
GOOD_TOKEN = "ya29.GoodTok-Ua8Ie3Oa6"
BAD_TOKEN = "ya29.BadTok-Pq1Wr7Ty2"
EMAIL = "tokenuser@example.org"

SECRETS = [*PASSWORDS.values(), *WRONG.values(), GOOD_TOKEN, BAD_TOKEN]


def _b64_cores(secret: bytes) -> set[str]:
    """The base64 text that encodes ``secret`` inside any longer payload: one per alignment
    of the secret in base64's three-octet groups (the groups it shares with its neighbours
    are left out)."""
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + secret).decode()
        core = encoded[4 if shift else 0 : 4 * ((shift + len(secret)) // 3)]
        if len(core) >= 8:
            cores.add(core)
    return cores


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    marker = secret.rsplit("-", 1)[1]  # the ASCII part: found even when escaped
    return {secret, marker, raw.hex(), *_b64_cores(raw)}


FORMS = {form: secret for secret in SECRETS for form in _forms(secret)}


def leaks(text: str) -> list[str]:
    """The secrets (by value) some form of which appears in ``text``."""
    return sorted({secret for form, secret in FORMS.items() if form in text})


def test_forms_find_a_secret_in_a_sasl_payload() -> None:
    # The check itself: a PLAIN payload and a LOGIN command line give the secret away.
    for user, password in PASSWORDS.items():
        payload = b"\x00" + user.encode() + b"\x00" + password.encode()
        assert leaks(base64.b64encode(payload).decode()) == [password]
        assert leaks(f"a1 LOGIN {user} {password!r}") == [password]
    assert leaks(base64.b64encode(b"user=" + GOOD_TOKEN.encode()).decode()) == [GOOD_TOKEN]
    assert leaks('a1 LOGIN user "Lit\\u00e9ralPw-Vm4Tn8Hs"') == [PASSWORDS["literal"]]
    assert leaks("nothing to see") == []


# -- the server and what it lets us look at --------------------------------------------------------


class Store(MemoryStore, CramMd5Authenticator):
    scrypt_n = 2**4

    async def cram_md5_secret(self, username: str) -> str | None:
        return PASSWORDS["cram"] if username == "cram" else None


class Tokens(TokenAuthenticator):
    async def check_token(self, username: str, token: str, *, mechanism: str) -> str | None:
        return "quoted" if (username, token) == (EMAIL, GOOD_TOKEN) else None


@dataclass
class Seen:
    """What the server handled: commands, SASL lines, exchanges, exceptions, contexts."""

    commands: list[Any] = field(default_factory=list)
    sasl_lines: list[AuthenticateResponse] = field(default_factory=list)
    exchanges: list[SaslExchange] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    contexts: list[CommandContext] = field(default_factory=list)


def _recording(seen: Seen) -> Callable[[Handler], Handler]:
    def wrap(inner: Handler) -> Handler:
        async def handler(ctx: CommandContext, cmd: Any) -> Any:
            seen.commands.append(cmd)
            seen.contexts.append(ctx)
            try:
                return await inner(ctx, cmd)
            except BaseException as exc:
                seen.errors.append(exc)
                raise

        return handler

    return wrap


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    record = Seen()
    read_sasl_response = Connection.read_sasl_response
    start = SaslExchange.start

    async def reading(self: Connection) -> AuthenticateResponse:
        line = await read_sasl_response(self)
        record.sasl_lines.append(line)
        return line

    async def starting(self: SaslExchange, initial_response: bytes | None) -> bytes | None:
        record.exchanges.append(self)
        return await start(self, initial_response)

    monkeypatch.setattr(Connection, "read_sasl_response", reading)
    monkeypatch.setattr(SaslExchange, "start", starting)
    return record


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


LOGGERS = ("imap_server", "imap_server.trace", "imap_client", "imap_client.trace", "imap_wire")


@pytest.fixture
def records() -> Iterator[Records]:
    """Every record of every logger, at DEBUG (set before any connection: the traces are
    decided when a connection starts)."""
    handler = Records()
    root = logging.getLogger()
    names = {*LOGGERS, *(n for n in logging.root.manager.loggerDict if n.startswith("imap"))}
    levels = {name: logging.getLogger(name).level for name in names}
    root_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def store() -> Store:
    store = Store()
    for user, password in PASSWORDS.items():
        store.add_user(user, password)
    return store


@asynccontextmanager
async def running(store: Store, seen: Seen) -> AsyncIterator[RunningServer]:
    wrap = _recording(seen)
    recorder = ServerExtension(name="record", wrappers={"LOGIN": wrap, "AUTHENTICATE": wrap})
    async with serve_for_tests(store, token_authenticator=Tokens(), extensions=[recorder]) as srv:
        assert srv.host == "127.0.0.1"
        yield srv


# -- the log-in paths ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One way in: ``run(client, mechanisms)`` logs in, appending any mechanism it uses."""

    name: str
    run: Callable[[AsyncClient, list[ClientMechanism]], Awaitable[None]]
    succeeds: bool


def _sasl(make: Callable[[], ClientMechanism], *, sasl_ir: bool | None = None) -> Any:
    async def run(client: AsyncClient, mechs: list[ClientMechanism]) -> None:
        mech = make()
        mechs.append(mech)
        await client.authenticate(mech, initial_response=sasl_ir)

    return run


def _login(user: str, password: str) -> Any:
    async def run(client: AsyncClient, mechs: list[ClientMechanism]) -> None:
        await client.login(user, password)

    return run


def _attempts(ok: bool) -> list[Attempt]:
    """Every way in, with the right secrets (``ok``) or wrong ones."""

    def pw(user: str) -> str:
        return PASSWORDS[user] if ok else WRONG[user]

    token = GOOD_TOKEN if ok else BAD_TOKEN
    cases: list[tuple[str, Any]] = [
        ("LOGIN-quoted", _login("quoted", pw("quoted"))),
        ("LOGIN-literal", _login("literal", pw("literal"))),
        ("PLAIN-sasl-ir", _sasl(lambda: PlainClient("plainir", pw("plainir")), sasl_ir=True)),
        (
            "PLAIN-no-sasl-ir",
            _sasl(lambda: PlainClient("plainnoir", pw("plainnoir")), sasl_ir=False),
        ),
        ("LOGIN-mechanism", _sasl(lambda: LoginClient("loginmech", pw("loginmech")))),
        ("CRAM-MD5", _sasl(lambda: CramMd5Client("cram", pw("cram")))),
        ("SCRAM-SHA-1", _sasl(lambda: scram_client("scram1", pw("scram1"), hash_name="sha1"))),
        ("SCRAM-SHA-256", _sasl(lambda: scram_client("scram256", pw("scram256")))),
        (
            "SCRAM-SHA-256-no-sasl-ir",
            _sasl(lambda: scram_client("scram256", pw("scram256")), sasl_ir=False),
        ),
        ("XOAUTH2", _sasl(lambda: XOAuth2Client(EMAIL, token))),
        ("XOAUTH2-no-sasl-ir", _sasl(lambda: XOAuth2Client(EMAIL, token), sasl_ir=False)),
        ("OAUTHBEARER", _sasl(lambda: OAuthBearerClient(EMAIL, token, port=143))),
    ]
    return [Attempt(f"{name}-{'ok' if ok else 'fail'}", run, ok) for name, run in cases]


ATTEMPTS = [*_attempts(True), *_attempts(False)]


def _exception_text(exc: BaseException) -> str:
    parts = ["".join(traceback.format_exception(exc))]
    chain: BaseException | None = exc
    while chain is not None:
        parts += [
            repr(chain),
            str(chain),
            repr(chain.args),
            repr(vars(chain) if hasattr(chain, "__dict__") else ""),
        ]
        parts += getattr(chain, "__notes__", [])
        chain = chain.__cause__ or chain.__context__
    return "\n".join(parts)


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args), record.exc_text or "", record.stack_info or ""]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(_exception_text(record.exc_info[1]))
    return "\n".join(parts)


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.name for a in ATTEMPTS])
async def test_no_credentials_leak(
    attempt: Attempt, store: Store, seen: Seen, records: Records
) -> None:
    mechs: list[ClientMechanism] = []
    client_errors: list[BaseException] = []
    async with (
        running(store, seen) as server,
        AsyncClient(
            server.host, server.port, tls=False, connect_timeout=5.0, timeout=5.0
        ) as client,
    ):
        if attempt.succeeds:
            await attempt.run(client, mechs)
            status = await client.status("INBOX", ["MESSAGES"])
            assert status.messages == 0
        else:
            with pytest.raises(AuthenticationFailed) as info:
                await attempt.run(client, mechs)
            client_errors.append(info.value)
            assert info.value.code is not None
            assert info.value.code.name == "AUTHENTICATIONFAILED"
        await client.logout()

    # The traces were on and saw the exchange: the test looks at something.
    traced = [r.getMessage() for r in records.records if r.name == "imap_server.trace"]
    assert any("LOGIN" in line or "AUTHENTICATE" in line for line in traced), traced
    assert any(r.name == "imap_client.trace" for r in records.records)
    assert len(seen.commands) == 1
    assert isinstance(seen.commands[0], Login | Authenticate)
    if not attempt.succeeds:
        assert len(seen.errors) == 1
        assert isinstance(seen.errors[0], ServerAuthenticationFailed)

    where: dict[str, list[str]] = {}

    def check(label: str, text: str) -> None:
        found = leaks(text)
        if found:
            where.setdefault(label, []).extend(found)

    for record in records.records:
        check(f"log record {record.name}:{record.lineno}", _record_text(record))
    for cmd in seen.commands:
        check(f"repr of {type(cmd).__name__}", repr(cmd) + str(cmd))
    for line in seen.sasl_lines:
        check("repr of AuthenticateResponse", repr(line) + str(line))
    for exchange in seen.exchanges:
        check("repr of SaslExchange", repr(exchange))
        check(f"repr of {type(exchange.mechanism).__name__}", repr(exchange.mechanism))
    for mech in mechs:
        check(f"repr of {type(mech).__name__}", repr(mech) + str(mech))
    for exc in seen.errors:
        check(f"server exception {type(exc).__name__}", _exception_text(exc))
    for exc in client_errors:
        check(f"client exception {type(exc).__name__}", _exception_text(exc))
    for ctx in seen.contexts:
        check("repr of the session", repr(ctx.session))
    assert where == {}


async def test_store_and_users_show_no_secret(store: Store) -> None:
    # Log in once by each family first, so whatever the store caches is there too.
    assert await store.check_password("quoted", PASSWORDS["quoted"]) == "quoted"
    assert await store.check_password("quoted", WRONG["quoted"]) is None
    texts = [repr(store), str(store)]
    for name in PASSWORDS:
        account = store._accounts[name]
        texts += [repr(account), repr(account.password), repr(account.scram)]
        for creds in account.scram.values():
            texts.append(repr(creds))
            for key in (creds.stored_key, creds.server_key, creds.salt):
                assert base64.b64encode(key).decode() not in repr(store._accounts)
                assert key.hex() not in repr(creds)
        user = await store.open_user(name)
        texts += [repr(user), str(user)]
        scram = await store.scram_credentials(name, "sha256")
        texts.append(repr(scram))
    assert [leaks(text) for text in texts] == [[] for _ in texts]


def test_parsed_commands_hide_credentials() -> None:
    # Straight from the wire (without the server): LOGIN quoted and literal, AUTHENTICATE
    # with an initial response.
    password = PASSWORDS["quoted"]
    literal = PASSWORDS["literal"].encode()
    payload = base64.b64encode(b"\x00plainir\x00" + PASSWORDS["plainir"].encode())
    lines = [
        f"a1 LOGIN quoted {password}\r\n".encode(),
        f'a2 LOGIN quoted "{password}"\r\n'.encode(),
        b"a3 LOGIN literal {%d+}\r\n%s\r\n" % (len(literal), literal),
        b"a4 AUTHENTICATE PLAIN " + payload + b"\r\n",
    ]
    for line in lines:
        command = parse_command(line)
        assert isinstance(command, Login | Authenticate)
        assert leaks(repr(command)) == []
        assert leaks(str(command)) == []


# -- a SASL response the server did not ask for ----------------------------------------------------


@pytest.mark.parametrize(
    ("mechanism", "options"),
    [("PLAIN", {"plaintext_auth": "never"}), ("X-UNKNOWN", {})],
    ids=["refused-privacyrequired", "refused-cannot"],
)
async def test_unrequested_sasl_response_not_logged(
    records: Records, store: Store, mechanism: str, options: dict[str, Any]
) -> None:
    payload = base64.b64encode(b"\x00plainir\x00" + PASSWORDS["plainir"].encode())
    async with serve_for_tests(store, **options) as server:
        assert server.host == "127.0.0.1"
        stream = await anyio.connect_tcp(server.host, server.port)
        async with stream:
            received = b""
            with anyio.fail_after(10):
                while b"\r\n" not in received:
                    received += await stream.receive()
                # One write: a client that does not wait for the continuation request.
                await stream.send(b"a1 AUTHENTICATE %s\r\n%s\r\n" % (mechanism.encode(), payload))
                while b"BAD" not in received:
                    received += await stream.receive()
    assert b"a1 NO [" in received
    traced = [r.getMessage() for r in records.records if r.name == "imap_server.trace"]
    assert any("a1 AUTHENTICATE" in line for line in traced)
    assert [leaks(_record_text(r)) for r in records.records] == [[] for _ in records.records]
