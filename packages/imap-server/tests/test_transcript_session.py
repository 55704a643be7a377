"""Transcript tests: commands valid in any state, authentication, ENABLE, and what the server
answers to commands in the wrong state, unknown commands and malformed lines.

RFC 9051 sections 6.1 (any state), 6.2 (not authenticated), 6.3.1 (ENABLE); RFC 4959
(SASL-IR), RFC 4616 (PLAIN), RFC 5530 (response codes), RFC 2971 (ID), RFC 5161 (ENABLE).
"""

from __future__ import annotations

import base64

import pytest

from imap_server.memory import MemoryStore
from imap_server.testing.harness import RunningServer, serve_for_tests
from imap_server.testing.transcript import play
from imap_wire import Limits

pytestmark = pytest.mark.anyio

GREETING = "S: * OK [CAPABILITY IMAP4rev1 IMAP4rev2 ...] IMAP server ready"
LOGIN = """
    C: L1 LOGIN user pass
    S: L1 OK [CAPABILITY IMAP4rev1 IMAP4rev2 ...] Logged in
"""
SELECT = """
    C: S1 SELECT INBOX
    S: ...
    S: S1 OK [READ-WRITE] SELECT completed
"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


#: PLAIN messages (RFC 4616: authzid NUL authcid NUL password), base64.
PLAIN_OK = b64(b"\0user\0pass")
PLAIN_WRONG = b64(b"\0user\0wrong")
PLAIN_UNKNOWN = b64(b"\0nobody\0pass")
PLAIN_AS_ADMIN = b64(b"admin\0user\0pass")
PLAIN_AS_SELF = b64(b"user\0user\0pass")


# -- CAPABILITY, NOOP, LOGOUT, ID (any state) ------------------------------------------------------


async def test_capability_before_login(server: RunningServer) -> None:
    lines = await play(
        server,
        f"""
        {GREETING}
        C: a1 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 ... AUTH=PLAIN...
        S: a1 OK CAPABILITY completed
        """,
    )
    greeting, capability = lines[0].split(), lines[1].split()
    for caps in (greeting, capability):
        # What RFC 9051 folded into the base (appendix E) is advertised for rev1 clients too.
        for cap in ("LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT",
                    "UIDPLUS", "ESEARCH", "SEARCHRES", "MOVE", "LIST-EXTENDED", "LIST-STATUS",
                    "SPECIAL-USE", "BINARY", "STATUS=SIZE"):  # fmt: skip
            assert cap in caps or cap + "]" in caps
        assert "LOGINDISABLED" not in " ".join(caps)
        # No TLS context: STARTTLS is not offered.
        assert "STARTTLS" not in " ".join(caps)


async def test_capability_after_login_drops_auth_mechanisms(server: RunningServer) -> None:
    lines = await play(
        server,
        f"""
        {GREETING}
        {LOGIN}
        C: a1 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 ...
        S: a1 OK CAPABILITY completed
        {SELECT}
        C: a2 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 ...
        S: a2 OK CAPABILITY completed
        """,
    )
    for line in lines:
        if "CAPABILITY" in line:
            assert "AUTH=" not in line or line.startswith("* OK"), line
    after = [line for line in lines[1:] if "CAPABILITY IMAP4rev1" in line]
    assert len(after) == 3
    assert not any("AUTH=PLAIN" in line or "LOGINDISABLED" in line for line in after)


async def test_noop_in_every_state(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 NOOP
        S: a1 OK NOOP completed
        {LOGIN}
        C: a2 NOOP
        S: a2 OK NOOP completed
        {SELECT}
        C: a3 NOOP
        S: a3 OK NOOP completed
        C: a4 noop
        S: a4 OK NOOP completed
        """,
    )


@pytest.mark.parametrize("state", ["not authenticated", "authenticated", "selected"])
async def test_logout_sends_bye_then_ok_then_closes(server: RunningServer, state: str) -> None:
    setup = {"not authenticated": "", "authenticated": LOGIN, "selected": LOGIN + SELECT}[state]
    await play(
        server,
        f"""
        {GREETING}
        {setup}
        C: a1 LOGOUT
        S: * BYE Logging out
        S: a1 OK LOGOUT completed
        S: <closed>
        """,
    )


async def test_commands_pipelined_after_logout_are_not_run(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 LOGOUT
        C: a2 NOOP
        S: * BYE Logging out
        S: a1 OK LOGOUT completed
        S: <closed>
        """,
    )


async def test_id_in_every_state(server: RunningServer) -> None:
    # RFC 2971: ID is valid in any state; NIL or a field-value list from the client.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 ID NIL
        S: * ID ("name" "imap-server" "version" "...")
        S: a1 OK ID completed
        {LOGIN}
        C: a2 ID ("name" "transcript" "version" "1.0")
        S: * ID ("name" "imap-server" "version" "...")
        S: a2 OK ID completed
        {SELECT}
        C: a3 ID ("name" NIL)
        S: * ID ("name" "imap-server" ...)
        S: a3 OK ID completed
        """,
    )


async def test_id_with_configured_parameters(store: MemoryStore) -> None:
    async with serve_for_tests(store, server_id={"name": "Test", "vendor": "Us"}) as running:
        await play(
            running,
            f"""
            {GREETING}
            C: a1 ID NIL
            S: * ID ("name" "Test" "vendor" "Us")
            S: a1 OK ID completed
            """,
        )


async def test_id_malformed(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 ID
        S: a1 BAD ...
        C: a2 ID ("name")
        S: a2 BAD ID parameters must come in field-value pairs
        C: a3 ID ("name" "x" "version")
        S: a3 BAD ID parameters must come in field-value pairs
        C: a4 ID name
        S: a4 BAD ...
        C: a5 NOOP
        S: a5 OK NOOP completed
        """,
    )


# -- LOGIN -----------------------------------------------------------------------------------------


async def test_login(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 LOGIN user pass
        S: a1 OK [CAPABILITY IMAP4rev1 IMAP4rev2 ...] Logged in
        C: a2 SELECT INBOX
        S: ...
        S: a2 OK [READ-WRITE] SELECT completed
        """,
    )


@pytest.mark.parametrize(
    "command",
    [
        'LOGIN "user" "pass"',
        "LOGIN {4+}\nC: user {4+}\nC: pass",
        "LOGIN {4}\nS: + Ready for literal data\nC: user {4}\nS: + ...\nC: pass",
    ],
    ids=["quoted", "literal+", "literal"],
)
async def test_login_string_forms(server: RunningServer, command: str) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 {command}
        S: a1 OK [CAPABILITY ...] Logged in
        """,
    )


@pytest.mark.parametrize(
    "credentials", ["user wrong", "nobody pass", "USER pass", '"" ""'], ids=repr
)
async def test_login_failure(server: RunningServer, credentials: str) -> None:
    # RFC 5530: AUTHENTICATIONFAILED, the same for an unknown user and a wrong password.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 LOGIN {credentials}
        S: a1 NO [AUTHENTICATIONFAILED] Authentication failed
        C: a2 SELECT INBOX
        S: a2 BAD SELECT is not valid in the not authenticated state
        C: a3 LOGIN user pass
        S: a3 OK [CAPABILITY ...] Logged in
        """,
    )


async def test_login_malformed(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 LOGIN
        S: a1 BAD ...
        C: a2 LOGIN user
        S: a2 BAD missing password
        C: a3 LOGIN user pass extra
        S: a3 BAD ...
        C: a4 LOGIN "user pass
        S: a4 BAD ...
        C: a5 LOGIN user pass
        S: a5 OK [CAPABILITY ...] Logged in
        """,
    )


async def test_login_literal_too_large_before_authentication(server: RunningServer) -> None:
    # The literal is refused before the "+": the client sends nothing more for this command.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 LOGIN {{99999}}
        S: a1 NO [TOOBIG] literal too large before authentication
        C: a2 NOOP
        S: a2 OK NOOP completed
        """,
    )


# -- AUTHENTICATE PLAIN ----------------------------------------------------------------------------


async def test_authenticate_plain_with_continuation(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN
        S: + ...
        C: {PLAIN_OK}
        S: a1 OK [CAPABILITY IMAP4rev1 IMAP4rev2 ...] Logged in
        C: a2 SELECT INBOX
        S: ...
        S: a2 OK [READ-WRITE] SELECT completed
        """,
    )


async def test_authenticate_plain_with_initial_response(server: RunningServer) -> None:
    # RFC 4959 (SASL-IR): no continuation request.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN {PLAIN_OK}
        S: a1 OK [CAPABILITY IMAP4rev1 IMAP4rev2 ...] Logged in
        """,
    )


async def test_authenticate_mechanism_name_is_case_insensitive(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 authenticate plain {PLAIN_OK}
        S: a1 OK [CAPABILITY ...] Logged in
        """,
    )


async def test_authenticate_plain_authzid(server: RunningServer) -> None:
    # Acting as oneself is allowed; as anyone else is not.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN {PLAIN_AS_ADMIN}
        S: a1 NO [AUTHENTICATIONFAILED] Authentication failed
        C: a2 AUTHENTICATE PLAIN {PLAIN_AS_SELF}
        S: a2 OK [CAPABILITY ...] Logged in
        """,
    )


async def test_authenticate_cancelled(server: RunningServer) -> None:
    # RFC 9051 6.2.2: "*" cancels; the server MUST answer BAD.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN
        S: + ...
        C: *
        S: a1 BAD AUTHENTICATE cancelled
        C: a2 NOOP
        S: a2 OK NOOP completed
        C: a3 SELECT INBOX
        S: a3 BAD SELECT is not valid in the not authenticated state
        """,
    )


@pytest.mark.parametrize("response", ["!!!notbase64", "AHVzZXIAcGFzcw=x", "=AAA"])
async def test_authenticate_invalid_base64_response(server: RunningServer, response: str) -> None:
    # RFC 9051 6.2.2: an invalid base64 string MUST be rejected with BAD; the connection
    # goes on and the next line is a command again.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN
        S: + ...
        C: {response}
        S: a1 BAD invalid base64 in SASL response
        C: a2 NOOP
        S: a2 OK NOOP completed
        C: a3 LOGIN user pass
        S: a3 OK [CAPABILITY ...] Logged in
        """,
    )


async def test_authenticate_invalid_base64_initial_response(server: RunningServer) -> None:
    # RFC 4959: decoding errors in the initial response are treated as in any response: BAD.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN !!!notbase64
        S: a1 BAD ...
        C: a2 NOOP
        S: a2 OK NOOP completed
        """,
    )


async def test_authenticate_literal_instead_of_response(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN
        S: + ...
        C: {{16}}
        S: a1 BAD unexpected literal
        C: a2 NOOP
        S: a2 OK NOOP completed
        """,
    )


@pytest.mark.parametrize(
    "initial",
    [PLAIN_WRONG, PLAIN_UNKNOWN],
    ids=["wrong-password", "unknown-user"],
)
async def test_authenticate_wrong_credentials(server: RunningServer, initial: str) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN {initial}
        S: a1 NO [AUTHENTICATIONFAILED] Authentication failed
        C: a2 AUTHENTICATE PLAIN
        S: + ...
        C: {initial}
        S: a2 NO [AUTHENTICATIONFAILED] Authentication failed
        C: a3 AUTHENTICATE PLAIN {PLAIN_OK}
        S: a3 OK [CAPABILITY ...] Logged in
        """,
    )


@pytest.mark.parametrize(
    "initial", [b64(b"no-nul-at-all"), "=", b64(b"\0user")], ids=["no-nul", "empty", "one-nul"]
)
async def test_authenticate_malformed_plain_message(server: RunningServer, initial: str) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE PLAIN {initial}
        S: a1 NO [AUTHENTICATIONFAILED] ...
        C: a2 NOOP
        S: a2 OK NOOP completed
        """,
    )


async def test_authenticate_unsupported_mechanism(server: RunningServer) -> None:
    # RFC 9051 6.2.2: an unsupported mechanism is refused with NO.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 AUTHENTICATE CRAM-MD5
        S: a1 NO [CANNOT] unsupported mechanism
        C: a2 AUTHENTICATE X-UNKNOWN {b64(b"x")}
        S: a2 NO [CANNOT] unsupported mechanism
        C: a3 AUTHENTICATE
        S: a3 BAD ...
        """,
    )


# -- plaintext authentication refused (LOGINDISABLED, PRIVACYREQUIRED) -----------------------------


async def test_plaintext_auth_never(store: MemoryStore) -> None:
    async with serve_for_tests(store, plaintext_auth="never") as running:
        lines = await play(
            running,
            f"""
            S: * OK [CAPABILITY IMAP4rev1 IMAP4rev2 ... LOGINDISABLED] IMAP server ready
            C: a1 CAPABILITY
            S: * CAPABILITY IMAP4rev1 IMAP4rev2 ... LOGINDISABLED
            S: a1 OK CAPABILITY completed
            C: a2 LOGIN user pass
            S: a2 NO [PRIVACYREQUIRED] Use STARTTLS or TLS first
            C: a3 AUTHENTICATE PLAIN {PLAIN_OK}
            S: a3 NO [PRIVACYREQUIRED] Use STARTTLS or TLS first
            C: a4 AUTHENTICATE PLAIN
            S: a4 NO [PRIVACYREQUIRED] Use STARTTLS or TLS first
            C: a5 STARTTLS
            S: a5 BAD STARTTLS not available
            C: a6 SELECT INBOX
            S: a6 BAD SELECT is not valid in the not authenticated state
            """,
        )
    # RFC 9051 6.2.3: with LOGINDISABLED no plaintext mechanism is advertised either.
    assert not any("AUTH=PLAIN" in line for line in lines)


async def test_plaintext_auth_loopback_allows_local_clients(server: RunningServer) -> None:
    # The default ("loopback"): the tests connect from 127.0.0.1.
    await play(
        server,
        """
        S: * OK [CAPABILITY ... AUTH=PLAIN] IMAP server ready
        C: a1 LOGIN user pass
        S: a1 OK ...
        """,
    )


async def test_starttls_without_tls_configured(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: a1 STARTTLS
        S: a1 BAD STARTTLS not available
        C: a2 NOOP
        S: a2 OK NOOP completed
        """,
    )


# -- autologout ------------------------------------------------------------------------------------


async def test_unauthenticated_timeout(store: MemoryStore) -> None:
    async with serve_for_tests(store, unauthenticated_timeout=0.2) as running:
        await play(
            running,
            f"""
            {GREETING}
            S: * BYE Autologout; idle for too long
            S: <closed>
            """,
        )


async def test_autologout_after_login(store: MemoryStore) -> None:
    async with serve_for_tests(store, autologout=0.2) as running:
        await play(
            running,
            f"""
            {GREETING}
            {LOGIN}
            S: * BYE Autologout; idle for too long
            S: <closed>
            """,
        )


# -- limits ----------------------------------------------------------------------------------------


async def test_limits(store: MemoryStore) -> None:
    # Over a limit: NO [TOOBIG] for a synchronizing literal (before the "+"), BAD for a
    # non-synchronizing one (its octets are skipped) and for a long line; the connection
    # goes on.
    limits = Limits(max_line_length=200, max_literal_size=50)
    async with serve_for_tests(store, limits=limits) as running:
        await play(
            running,
            f"""
            {GREETING}
            {LOGIN}
            C: a1 APPEND INBOX {{60}}
            S: a1 NO [TOOBIG] ...
            C: a2 APPEND INBOX {{60+}}
            C: {"y" * 58}
            C:
            S: a2 BAD [TOOBIG] ...
            C: a3 NOOP {"x" * 300}
            S: a3 BAD line longer than 200 octets
            C: a4 NOOP
            S: a4 OK NOOP completed
            """,
        )


# -- ENABLE ----------------------------------------------------------------------------------------


async def test_enable(server: RunningServer) -> None:
    # RFC 5161: ENABLED lists what this command enabled; unknown names are ignored; what is
    # already enabled is not listed again.
    await play(
        server,
        f"""
        {GREETING}
        {LOGIN}
        C: a1 ENABLE IMAP4rev2
        S: * ENABLED IMAP4rev2
        S: a1 OK ENABLE completed
        C: a2 ENABLE imap4rev2
        S: * ENABLED
        S: a2 OK ENABLE completed
        C: a3 ENABLE X-UNKNOWN FOO
        S: * ENABLED
        S: a3 OK ENABLE completed
        C: a4 ENABLE
        S: a4 BAD missing capability
        """,
    )


async def test_enable_is_not_valid_before_login_or_when_selected(server: RunningServer) -> None:
    # RFC 5161 3.1 / RFC 9051 6.3.1: only in the authenticated state.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 ENABLE IMAP4rev2
        S: a1 BAD ENABLE is not valid in the not authenticated state
        {LOGIN}
        {SELECT}
        C: a2 ENABLE IMAP4rev2
        S: a2 BAD ENABLE is not valid in the selected state
        C: a3 UNSELECT
        S: a3 OK UNSELECT completed
        C: a4 ENABLE IMAP4rev2
        S: * ENABLED IMAP4rev2
        S: a4 OK ENABLE completed
        """,
    )


# -- commands in the wrong state -------------------------------------------------------------------

AUTHENTICATED_COMMANDS = [
    "SELECT INBOX",
    "EXAMINE INBOX",
    "CREATE foo",
    "DELETE foo",
    "RENAME foo bar",
    "SUBSCRIBE foo",
    "UNSUBSCRIBE foo",
    'LIST "" *',
    'LSUB "" *',
    "NAMESPACE",
    "STATUS INBOX (MESSAGES)",
    "IDLE",
]
SELECTED_COMMANDS = [
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "SEARCH ALL",
    "FETCH 1 FLAGS",
    "STORE 1 +FLAGS (\\Seen)",
    "COPY 1 INBOX",
    "MOVE 1 INBOX",
    "UID SEARCH ALL",
    "UID FETCH 1 FLAGS",
    "UID STORE 1 +FLAGS (\\Seen)",
    "UID COPY 1 INBOX",
    "UID MOVE 1 INBOX",
    "UID EXPUNGE 1",
]


@pytest.mark.parametrize("command", AUTHENTICATED_COMMANDS + SELECTED_COMMANDS)
async def test_command_before_login_is_bad(server: RunningServer, command: str) -> None:
    name = command.split()[0] if not command.startswith("UID ") else " ".join(command.split()[:2])
    await play(
        server,
        f"""
        {GREETING}
        C: a1 {command}
        S: a1 BAD {name} is not valid in the not authenticated state
        C: a2 NOOP
        S: a2 OK NOOP completed
        """,
    )


async def test_append_before_login_refuses_the_literal(server: RunningServer) -> None:
    # The literal is refused before the "+" (RFC 9051 7.5: the client then sends nothing).
    await play(
        server,
        f"""
        {GREETING}
        C: a1 APPEND INBOX {{5}}
        S: a1 BAD APPEND is not valid now
        C: a2 APPEND INBOX {{5+}}
        C: hello
        S: a2 BAD APPEND is not valid now
        C: a3 NOOP
        S: a3 OK NOOP completed
        """,
    )


@pytest.mark.parametrize("command", SELECTED_COMMANDS)
async def test_selected_command_without_mailbox_is_bad(server: RunningServer, command: str) -> None:
    name = command.split()[0] if not command.startswith("UID ") else " ".join(command.split()[:2])
    await play(
        server,
        f"""
        {GREETING}
        {LOGIN}
        C: a1 {command}
        S: a1 BAD {name} is not valid in the authenticated state
        """,
    )


@pytest.mark.parametrize(
    "command", ["LOGIN user pass", f"AUTHENTICATE PLAIN {PLAIN_OK}", "STARTTLS"]
)
@pytest.mark.parametrize("state", ["authenticated", "selected"])
async def test_not_authenticated_command_after_login_is_bad(
    server: RunningServer, command: str, state: str
) -> None:
    await play(
        server,
        f"""
        {GREETING}
        {LOGIN}
        {SELECT if state == "selected" else ""}
        C: a1 {command}
        S: a1 BAD {command.split()[0]} is not valid in the {state} state
        C: a2 NOOP
        S: a2 OK NOOP completed
        """,
    )


# -- unknown commands, malformed lines, tags -------------------------------------------------------


@pytest.mark.parametrize("state", ["not authenticated", "authenticated", "selected"])
async def test_unknown_command(server: RunningServer, state: str) -> None:
    setup = {"not authenticated": "", "authenticated": LOGIN, "selected": LOGIN + SELECT}[state]
    await play(
        server,
        f"""
        {GREETING}
        {setup}
        C: a1 FROBNICATE
        S: a1 BAD unknown command
        C: a2 XLIST "" *
        S: a2 BAD unknown command
        C: a3 UID FROBNICATE 1
        S: a3 BAD unknown command
        C: a4 NOOP
        S: a4 OK NOOP completed
        """,
    )


async def test_malformed_lines(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C:
        S: * BAD empty command line
        C: a1
        S: a1 BAD missing command name
        C: * NOOP
        S: * BAD invalid tag
        C: + NOOP
        S: * BAD invalid tag
        C: a2 NOOP extra
        S: a2 BAD unexpected atom after noop
        C: a3 CAPABILITY now
        S: a3 BAD ...
        C: a4 UID
        S: a4 BAD missing UID command name
        C: a5 NOOP
        S: a5 OK NOOP completed
        """,
    )


async def test_malformed_arguments(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        {LOGIN}
        C: a1 SELECT
        S: a1 BAD missing mailbox name
        C: a2 SELECT "unterminated
        S: a2 BAD ...
        C: a3 CREATE
        S: a3 BAD missing mailbox name
        C: a4 RENAME foo
        S: a4 BAD ...
        C: a5 LIST ""
        S: a5 BAD missing mailbox pattern
        C: a6 STATUS INBOX
        S: a6 BAD missing STATUS items
        C: a7 APPEND
        S: a7 BAD missing mailbox name
        C: a8 NAMESPACE extra
        S: a8 BAD ...
        C: a9 IDLE extra
        S: a9 BAD ...
        C: b1 NOOP
        S: b1 OK NOOP completed
        """,
    )


async def test_malformed_arguments_in_selected_state(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        {LOGIN}
        {SELECT}
        C: a1 FETCH 1 (FLAGS
        S: a1 BAD unbalanced '('
        C: a2 FETCH
        S: a2 BAD ...
        C: a3 STORE 1 +FLAGS
        S: a3 BAD missing flags
        C: a4 COPY 1
        S: a4 BAD missing mailbox name
        C: a5 SEARCH
        S: a5 BAD missing search criteria
        C: a6 FETCH x FLAGS
        S: a6 BAD ...
        C: a7 EXPUNGE now
        S: a7 BAD ...
        C: a8 UID EXPUNGE
        S: a8 BAD ...
        C: a9 NOOP
        S: a9 OK NOOP completed
        """,
    )


async def test_tag_reuse_after_completion_is_accepted(server: RunningServer) -> None:
    # RFC 9051 2.2.1 asks clients for unique tags, but only a tag of a command still in
    # progress is ambiguous; commands here run one after the other, so a reused tag
    # (even pipelined) still gets its own answer, as Dovecot does.
    await play(
        server,
        f"""
        {GREETING}
        C: a1 NOOP
        S: a1 OK NOOP completed
        C: a1 NOOP
        S: a1 OK NOOP completed
        C: a1 CAPABILITY
        C: a1 NOOP
        S: * CAPABILITY ...
        S: a1 OK CAPABILITY completed
        S: a1 OK NOOP completed
        """,
    )


async def test_pipelined_commands_are_answered_in_order(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C: p1 LOGIN user pass
        C: p2 SELECT INBOX
        C: p3 NOOP
        C: p4 LOGOUT
        S: p1 OK ...
        S: ...
        S: p2 OK [READ-WRITE] SELECT completed
        S: p3 OK NOOP completed
        S: * BYE Logging out
        S: p4 OK LOGOUT completed
        S: <closed>
        """,
    )


async def test_command_split_over_writes(server: RunningServer) -> None:
    await play(
        server,
        f"""
        {GREETING}
        C+ a1 NO
        C+ OP
        C:
        S: a1 OK NOOP completed
        C+ a2 LOGIN user {{4}}
        C:
        S: + ...
        C+ pa
        C+ ss
        C:
        S: a2 OK [CAPABILITY ...] Logged in
        """,
    )
