"""XECHO: an extension in its own package, as a third party would write one.

What it adds:

- grammar (entry point ``imap_wire.extensions``, name ``xecho``): the command
  ``XECHO <astring>`` (authenticated and selected states), the untagged response
  ``* XECHO <astring>`` and the response code ``[XNOOP]``, so a client parses them too;
- server behaviour (entry point ``imap_server.extensions``, name ``xecho``): a handler for
  XECHO, the capability ``XECHO``, a wrapper that makes NOOP say ``* OK [XNOOP] wrapped``
  first, and an ENABLE hook so ``ENABLE XECHO`` answers ``* ENABLED XECHO``.

Nothing happens on import or on installation: an application names the extension
(``Server(store, extensions=["xecho"])``, ``registry.enable("xecho")``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

from imap_server.connection import CommandContext
from imap_server.extensions import Handler, ServerExtension
from imap_wire import (
    Command,
    ConnectionState,
    Cursor,
    ParseContext,
    Registry,
    Response,
    ResponseCode,
    ResponseStatus,
    SimpleCode,
    StatusResponse,
    WireWriter,
)
from imap_wire.errors import RemoteProtocolError

__all__ = [
    "CAPABILITY",
    "XEcho",
    "XEchoResponse",
    "install_wire",
    "server_extension",
]

CAPABILITY = "XECHO"


@dataclass(frozen=True, slots=True, kw_only=True)
class XEcho(Command):
    """``tag XECHO <astring>``."""

    name: ClassVar[str] = "XECHO"
    text: bytes

    def _write_arguments(self, w: WireWriter) -> None:
        w.sp()
        w.astring(self.text)


@dataclass(frozen=True, slots=True)
class XEchoResponse:
    """``* XECHO <astring>``."""

    text: bytes

    def write(self, w: WireWriter) -> None:
        w.raw(b"* XECHO ")
        w.astring(self.text)
        w.crlf()


def _parse_xecho(tag: str, cursor: Cursor, ctx: ParseContext) -> XEcho:
    text = cursor.astring("XECHO text")
    cursor.end("XECHO")
    return XEcho(tag=tag, text=text)


def _parse_xecho_response(cursor: Cursor, ctx: ParseContext) -> XEchoResponse:
    text = cursor.astring("XECHO text")
    cursor.end("XECHO response")
    return XEchoResponse(text=text)


def _parse_xnoop_code(name: str, args: bytes | None) -> ResponseCode:
    if args is not None:
        raise RemoteProtocolError(f"response code {name} takes no arguments")
    return SimpleCode(name=name)


def install_wire(registry: Registry) -> None:
    """The grammar (the ``imap_wire.extensions`` entry point)."""
    registry.commands["XECHO"] = _parse_xecho
    registry.command_states["XECHO"] = frozenset(
        {ConnectionState.AUTHENTICATED, ConnectionState.SELECTED}
    )
    registry.untagged["XECHO"] = _parse_xecho_response
    registry.response_codes["XNOOP"] = _parse_xnoop_code
    registry.capabilities.add(CAPABILITY)


async def _xecho(ctx: CommandContext, command: XEcho) -> None:
    # The connection's send() is typed with imap_wire's closed `Response` union; an
    # extension's own response only needs a write(w) method, hence the cast.
    await ctx.out.send(cast(Response, XEchoResponse(text=command.text)))


def _wrap_noop(inner: Handler) -> Handler:
    async def noop(ctx: CommandContext, command: object) -> StatusResponse | None:
        await ctx.out.send(
            StatusResponse(
                tag=None, status=ResponseStatus.OK, code=SimpleCode(name="XNOOP"), text="wrapped"
            )
        )
        return await inner(ctx, command)

    return noop


def _enable_xecho(ctx: CommandContext) -> bool:
    return True


def server_extension() -> ServerExtension:
    """The server side (the ``imap_server.extensions`` entry point)."""
    return ServerExtension(
        name="xecho",
        capabilities=(CAPABILITY,),
        handlers={"XECHO": _xecho},
        wrappers={"NOOP": _wrap_noop},
        on_enable={CAPABILITY: _enable_xecho},
        wire=install_wire,
    )
