"""The built-in command handlers: each turns one parsed command into session calls.

A handler is ``async handler(ctx, command) -> StatusResponse | None`` (None: ``OK <NAME>
completed``; a StatusResponse without a tag gets the command's). Extensions replace or wrap
them by name (see `imap_server.extensions`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from types import MappingProxyType

from imap_wire import (
    Append,
    Authenticate,
    CapabilityCode,
    CapabilityResponse,
    Close,
    ConnectionState,
    Copy,
    Create,
    Delete,
    Enable,
    EnabledResponse,
    Examine,
    Expunge,
    Fetch,
    Id,
    IdResponse,
    List,
    Login,
    Lsub,
    Move,
    NamespaceEntry,
    NamespaceResponse,
    Rename,
    ResponseStatus,
    Search,
    Select,
    Status,
    StatusResponse,
    Store,
    StreamedLiteral,
    Subscribe,
    Unsubscribe,
)
from imap_wire.sasl import SaslError

from . import listing
from .connection import CommandContext
from .errors import AuthenticationFailed, CommandFailed
from .extensions import Handler
from .spool import SpooledMessage

__all__ = ["BASE_HANDLERS"]

_OK = ResponseStatus.OK


def _ok(text: str, code: object | None = None) -> StatusResponse:
    return StatusResponse(tag=None, status=_OK, code=code, text=text)  # type: ignore[arg-type]


# -- any state ----------------------------------------------------------------------------------


async def capability(ctx: CommandContext, cmd: object) -> None:
    await ctx.out.send(CapabilityResponse(capabilities=ctx.server.capabilities(ctx.connection)))


async def noop(ctx: CommandContext, cmd: object) -> None:
    return None


async def logout(ctx: CommandContext, cmd: object) -> StatusResponse:
    await ctx.connection.bye("Logging out")
    ctx.connection._closing = True
    return _ok("LOGOUT completed")


async def id_(ctx: CommandContext, cmd: Id) -> None:
    params = tuple(ctx.server.server_id.items()) or None
    await ctx.out.send(IdResponse(parameters=params))


# -- not authenticated ----------------------------------------------------------------------


async def starttls(ctx: CommandContext, cmd: object) -> StatusResponse | None:
    if ctx.server.tls_context is None or ctx.info.tls:
        raise CommandFailed("STARTTLS not available", bad=True)
    # Sends the tagged OK itself, before the handshake; nothing more to answer here.
    await ctx.connection.start_tls(cmd.tag)  # type: ignore[attr-defined]
    return None


def _check_plaintext(ctx: CommandContext) -> None:
    if not ctx.server.plaintext_auth_allowed(ctx.info):
        raise CommandFailed("Use STARTTLS or TLS first", code="PRIVACYREQUIRED")


async def _logged_in(ctx: CommandContext, user: str) -> StatusResponse:
    ctx.connection.username = user
    return _ok(
        "Logged in",
        CapabilityCode(capabilities=ctx.server.capabilities(ctx.connection, authenticated=True)),
    )


async def login(ctx: CommandContext, cmd: Login) -> StatusResponse:
    _check_plaintext(ctx)
    user = await ctx.server.authenticate(ctx, cmd.username, cmd.password, None)
    return await _logged_in(ctx, user)


async def authenticate(ctx: CommandContext, cmd: Authenticate) -> StatusResponse:
    server = ctx.server
    spec = server.sasl.get(cmd.mechanism)
    transport = server.sasl_transport(ctx.connection)
    if spec is None or not spec.available(server.authenticators, transport):
        raise CommandFailed("unsupported mechanism", code="CANNOT")
    if spec.plaintext:
        _check_plaintext(ctx)
    exchange = spec.build(server.authenticators, transport)
    exchange.user_hook = ctx.connection.login_attempt
    try:
        challenge = await exchange.start(cmd.initial_response)
        while challenge is not None:
            await ctx.connection.continuation(base64.b64encode(challenge).decode("ascii"))
            reply = await ctx.connection.read_sasl_response()
            if reply.cancelled:
                raise CommandFailed("AUTHENTICATE cancelled", bad=True)
            challenge = await exchange.respond(reply.data)
    except SaslError:
        # Who failed, for the middleware (AuthThrottle counts failures per user).
        call = ctx.connection.current_call
        if call is not None and call.auth_user is None:
            call.auth_user = exchange.attempted_user
        raise AuthenticationFailed() from None
    user = await exchange.finish(ctx)
    return await _logged_in(ctx, user)


# -- authenticated --------------------------------------------------------------------------------


async def enable(ctx: CommandContext, cmd: Enable) -> None:
    enabled: list[str] = []
    for name in cmd.capabilities:
        upper = name.upper()
        if upper in ctx.options.enabled:
            continue
        if ctx.server.enable(ctx, upper):
            ctx.options.enabled.add(upper)
            enabled.append(upper if upper != "IMAP4REV2" else "IMAP4rev2")
    await ctx.out.send(EnabledResponse(capabilities=tuple(enabled)))


async def select(ctx: CommandContext, cmd: Select) -> StatusResponse:
    return await ctx.session.select(cmd.mailbox, ctx.out, read_only=False)


async def examine(ctx: CommandContext, cmd: Examine) -> StatusResponse:
    return await ctx.session.select(cmd.mailbox, ctx.out, read_only=True)


def _special_use(cmd: Create) -> frozenset[str]:
    uses: set[str] = set()
    for param in cmd.params:
        if param.name.upper() != "USE":
            raise CommandFailed(f"unsupported CREATE parameter {param.name}", bad=True)
        value = param.value
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if not isinstance(item, str):
                raise CommandFailed("invalid USE parameter", bad=True)
            uses.add(item)
    return frozenset(uses)


async def create(ctx: CommandContext, cmd: Create) -> None:
    name = cmd.mailbox
    if name.upper() == "INBOX":
        raise CommandFailed("INBOX always exists", code="ALREADYEXISTS")
    await ctx.session.create(name, special_use=_special_use(cmd))


async def delete(ctx: CommandContext, cmd: Delete) -> None:
    selected = ctx.session.selected
    await ctx.session.delete(cmd.mailbox)
    if selected and not ctx.session.selected:
        # The session closed its mailbox to delete it: keep the parser's state in step.
        ctx.connection.wire.states.state = ConnectionState.AUTHENTICATED


async def rename(ctx: CommandContext, cmd: Rename) -> None:
    await ctx.session.rename(cmd.old, cmd.new)


async def subscribe(ctx: CommandContext, cmd: Subscribe) -> None:
    await ctx.session.subscribe(cmd.mailbox)


async def unsubscribe(ctx: CommandContext, cmd: Unsubscribe) -> None:
    await ctx.session.unsubscribe(cmd.mailbox)


async def list_(ctx: CommandContext, cmd: List | Lsub) -> None:
    try:
        request = listing.list_request(cmd)
    except listing.BadListOptions as exc:
        raise CommandFailed(str(exc), bad=True) from None
    await ctx.session.list(request, ctx.out)


async def namespace(ctx: CommandContext, cmd: object) -> None:
    entry = NamespaceEntry(prefix="", delimiter=ctx.session.delimiter)
    await ctx.out.send(NamespaceResponse(personal=(entry,)))


async def status(ctx: CommandContext, cmd: Status) -> None:
    await ctx.out.send(await ctx.session.status(cmd.mailbox, cmd.items))


async def append(ctx: CommandContext, cmd: Append) -> StatusResponse:
    if cmd.extensions:
        raise CommandFailed("APPEND extensions are not supported", bad=True)
    message: bytes | SpooledMessage
    if isinstance(cmd.message, StreamedLiteral):  # over 1 MiB: in a temporary file
        message = ctx.connection.streamed_literal(cmd.message)
    elif isinstance(cmd.message, bytes):
        message = cmd.message
    else:  # pragma: no cover - a LiteralSource is what a client sends, not what it receives
        raise CommandFailed("message not received", bad=True)
    if not message:
        raise CommandFailed("empty message", bad=True)
    code = await ctx.session.append(
        cmd.mailbox, message, flags=cmd.flags, internal_date=cmd.date_time
    )
    return _ok("APPEND completed", code)


async def idle(ctx: CommandContext, cmd: object) -> None:
    await ctx.connection.idle(cmd.tag)  # type: ignore[attr-defined]


# -- selected -------------------------------------------------------------------------------------


async def check(ctx: CommandContext, cmd: object) -> None:
    return None


async def close(ctx: CommandContext, cmd: Close) -> None:
    await ctx.session.unselect(expunge=True)


async def unselect(ctx: CommandContext, cmd: object) -> None:
    await ctx.session.unselect(expunge=False)


async def expunge(ctx: CommandContext, cmd: Expunge) -> None:
    await ctx.session.expunge(ctx.out, cmd.uids if cmd.uid else None)


async def search(ctx: CommandContext, cmd: Search) -> None:
    await ctx.session.search(cmd, ctx.out)


async def fetch(ctx: CommandContext, cmd: Fetch) -> StatusResponse | None:
    if cmd.modifiers:
        raise CommandFailed("FETCH modifiers are not supported", bad=True)
    return await ctx.session.fetch(cmd, ctx.out)


async def store(ctx: CommandContext, cmd: Store) -> StatusResponse | None:
    if cmd.modifiers:
        raise CommandFailed("STORE modifiers are not supported", bad=True)
    return await ctx.session.store(cmd, ctx.out)


async def copy(ctx: CommandContext, cmd: Copy) -> StatusResponse:
    code = await ctx.session.copy(cmd, ctx.out)
    return _ok("COPY completed", code)


async def move(ctx: CommandContext, cmd: Move) -> None:
    await ctx.session.move(cmd, ctx.out)


BASE_HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "CAPABILITY": capability,
        "NOOP": noop,
        "LOGOUT": logout,
        "ID": id_,
        "STARTTLS": starttls,
        "LOGIN": login,
        "AUTHENTICATE": authenticate,
        "ENABLE": enable,
        "SELECT": select,
        "EXAMINE": examine,
        "CREATE": create,
        "DELETE": delete,
        "RENAME": rename,
        "SUBSCRIBE": subscribe,
        "UNSUBSCRIBE": unsubscribe,
        "LIST": list_,
        "LSUB": list_,
        "NAMESPACE": namespace,
        "STATUS": status,
        "APPEND": append,
        "IDLE": idle,
        "CHECK": check,
        "CLOSE": close,
        "UNSELECT": unselect,
        "EXPUNGE": expunge,
        "UID EXPUNGE": expunge,
        "SEARCH": search,
        "UID SEARCH": search,
        "FETCH": fetch,
        "UID FETCH": fetch,
        "STORE": store,
        "UID STORE": store,
        "COPY": copy,
        "UID COPY": copy,
        "MOVE": move,
        "UID MOVE": move,
    }
)
