"""Extension points of the server: command handlers, wrappers, capabilities, ENABLE hooks.

An extension is a `ServerExtension` value. The application passes extensions to `Server`
(``Server(store, extensions=[my_ext])``), or names of extensions installed as packages, which
are found through the entry point group ``imap_server.extensions`` (each entry point names a
`ServerExtension` or a function returning one). Nothing is enabled by being installed.

A handler is ``async handler(ctx, command) -> StatusResponse | None``; returning None means
``OK <COMMAND> completed``. A wrapper takes the handler it wraps and returns a new one, so an
extension can change what an existing command does (add a response, refuse an argument).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from imap_wire import Registry, StatusResponse

if TYPE_CHECKING:
    from .connection import CommandContext

__all__ = [
    "ENTRY_POINT_GROUP",
    "EnableHook",
    "Handler",
    "ServerExtension",
    "Wrapper",
    "discover_extensions",
    "load_extensions",
]

ENTRY_POINT_GROUP = "imap_server.extensions"

Handler = Callable[["CommandContext", Any], Awaitable[StatusResponse | None]]
Wrapper = Callable[[Handler], Handler]
#: Called when a client ENABLEs the capability; return False to refuse it.
EnableHook = Callable[["CommandContext"], bool]


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerExtension:
    """What one extension adds to the server.

    Attributes:
        name: The extension's name (as enabled by the application).
        capabilities: Capability names to advertise.
        handlers: Command name (``"XPING"``, ``"UID XSORT"``) -> handler, for new commands or
            to replace a built-in one.
        wrappers: Command name -> wrapper around the handler in force.
        on_enable: Capability name -> hook run when a client ENABLEs it; a capability
            listed here can be enabled.
        wire: Installs the extension's grammar (commands, modifiers, response codes) into the
            ``imap_wire`` registry the server parses with.
    """

    name: str
    capabilities: Sequence[str] = ()
    handlers: Mapping[str, Handler] = field(default_factory=_empty)
    wrappers: Mapping[str, Wrapper] = field(default_factory=_empty)
    on_enable: Mapping[str, EnableHook] = field(default_factory=_empty)
    wire: Callable[[Registry], None] | None = None


def discover_extensions() -> dict[str, EntryPoint]:
    """Extensions installed as packages, by entry point name. Nothing is imported: pass
    names to `load_extensions` (or to `Server(extensions=[...])`) to use them."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_extensions(names: Sequence[str]) -> list[ServerExtension]:
    """Load installed extensions by entry point name.

    Raises:
        LookupError: No installed package offers an extension of that name.
        TypeError: The entry point is not a `ServerExtension` (or a function returning one).
    """
    eps = discover_extensions()
    out: list[ServerExtension] = []
    for name in names:
        ep = eps.get(name)
        if ep is None:
            raise LookupError(f"no imap_server extension named {name!r} is installed")
        obj = ep.load()
        ext = obj() if callable(obj) and not isinstance(obj, ServerExtension) else obj
        if not isinstance(ext, ServerExtension):
            raise TypeError(f"entry point {name!r} is not a ServerExtension")
        out.append(ext)
    return out
