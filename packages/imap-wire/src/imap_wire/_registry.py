"""Registries of grammar pieces, so packages add commands, items and codes without re-parsing.

The base grammar registers itself exactly as an extension does: each grammar module has an
``install(registry)`` function. `default_registry` returns a fresh copy an application may
change; nothing here is global mutable state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._state import ConnectionState
    from ._values import Cursor, Value

__all__ = [
    "ENTRY_POINT_GROUP",
    "ParseContext",
    "Registry",
    "default_registry",
    "discover_extensions",
]

#: Entry point group through which installed packages offer wire extensions.
ENTRY_POINT_GROUP = "imap_wire.extensions"

#: ``parser(tag, cursor, ctx)``: the cursor is positioned after the command name.
CommandParser = Callable[[str, "Cursor", "ParseContext"], Any]
#: ``parser(name, cursor, ctx)`` for a FETCH attribute in a command (name upper-cased atom).
FetchAttributeParser = Callable[[str, "Cursor", "ParseContext"], Any]
#: ``parser(name, value, ctx) -> value`` for a FETCH response item (``name`` upper-cased).
FetchItemParser = Callable[[str, "Value", "ParseContext"], Any]
#: ``parser(name, cursor, ctx)``: a SEARCH key; the cursor is after the key's name.
SearchKeyParser = Callable[[str, "Cursor", "ParseContext"], Any]
#: ``parser(name, text)``: a response code; ``text`` is what follows the name inside [...].
ResponseCodeParser = Callable[[str, "bytes | None"], Any]
#: ``parser(cursor, ctx)``: untagged response data after its keyword.
UntaggedParser = Callable[["Cursor", "ParseContext"], Any]
#: ``parser(number, cursor, ctx)``: untagged data of the ``* <n> KEYWORD`` shape.
NumberedParser = Callable[[int, "Cursor", "ParseContext"], Any]
#: ``parser(name, cursor, ctx)``: a command modifier (RFC 4466 select-param, fetch-modifier,
#: store-modifier, search-return-opt, list option) keyed by (command, name).
ModifierParser = Callable[[str, "Cursor", "ParseContext"], Any]


@dataclass(slots=True)
class Registry:
    """What the parser knows, keyed by upper-case names.

    Attributes:
        commands: Command name -> parser (``UID`` forms dispatch to ``"UID FETCH"`` etc.).
        command_states: Command name -> the connection states it is valid in.
        fetch_attributes: FETCH attribute name (``BODY.PEEK`` for ``BODY.PEEK[...]``) ->
            parser, for commands.
        fetch_items: FETCH response item name (``BODY`` for ``BODY[...]``) -> parser.
        search_keys: SEARCH key name -> parser.
        response_codes: Response code name -> parser.
        untagged: Untagged response keyword (``LIST``, ``ESEARCH`` ...) -> parser.
        numbered: Keyword of ``* n KEYWORD`` data (``EXISTS``, ``FETCH`` ...) -> parser.
        modifiers: ``(context, name)`` -> parser, where context is ``"SELECT"`` (EXAMINE
            too), ``"CREATE"``, ``"RENAME"``, ``"FETCH"``, ``"STORE"``, ``"SEARCH-RETURN"``,
            ``"LIST-SELECT"``, ``"LIST-RETURN"``, ``"STATUS-ITEM"`` or ``"APPEND"``.
        capabilities: Capabilities the installed extensions implement on the wire.
        extensions: Names of the extensions installed, in order.
    """

    commands: dict[str, CommandParser] = field(default_factory=dict)
    command_states: dict[str, frozenset[ConnectionState]] = field(default_factory=dict)
    fetch_attributes: dict[str, FetchAttributeParser] = field(default_factory=dict)
    fetch_items: dict[str, FetchItemParser] = field(default_factory=dict)
    search_keys: dict[str, SearchKeyParser] = field(default_factory=dict)
    response_codes: dict[str, ResponseCodeParser] = field(default_factory=dict)
    untagged: dict[str, UntaggedParser] = field(default_factory=dict)
    numbered: dict[str, NumberedParser] = field(default_factory=dict)
    modifiers: dict[tuple[str, str], ModifierParser] = field(default_factory=dict)
    capabilities: set[str] = field(default_factory=set)
    extensions: list[str] = field(default_factory=list)

    def copy(self) -> Registry:
        """Return an independent copy (changing it leaves this one as it is)."""
        return Registry(
            commands=dict(self.commands),
            command_states=dict(self.command_states),
            fetch_attributes=dict(self.fetch_attributes),
            fetch_items=dict(self.fetch_items),
            search_keys=dict(self.search_keys),
            response_codes=dict(self.response_codes),
            untagged=dict(self.untagged),
            numbered=dict(self.numbered),
            modifiers=dict(self.modifiers),
            capabilities=set(self.capabilities),
            extensions=list(self.extensions),
        )

    def install(self, name: str, installer: Callable[[Registry], None]) -> None:
        """Run an extension's installer on this registry, once.

        Raises:
            ValueError: An extension of that name is already installed.
        """
        if name in self.extensions:
            raise ValueError(f"extension {name!r} is already installed")
        installer(self)
        self.extensions.append(name)

    def enable(self, *names: str) -> None:
        """Install extensions discovered through the ``imap_wire.extensions`` entry points.

        Raises:
            LookupError: No installed package offers an extension of that name.
            ValueError: Two packages offer the same name, or it is installed already.
        """
        found = discover_extensions()
        for name in names:
            if name not in found:
                raise LookupError(f"no imap_wire extension named {name!r} is installed")
            self.install(name, found[name])


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseContext:
    """What a grammar parser needs to know about the connection.

    Attributes:
        registry: Grammar pieces in force.
        utf8: UTF8=ACCEPT is enabled (RFC 9755): mailbox names are UTF-8.
        strict: Refuse input that is merely sloppy. Servers parse commands strictly (and
            answer ``BAD``); clients parse responses tolerantly, as real servers require.
    """

    registry: Registry
    utf8: bool = False
    strict: bool = True


def discover_extensions() -> dict[str, Callable[[Registry], None]]:
    """Return the installers offered through the ``imap_wire.extensions`` entry points.

    Raises:
        ValueError: Two installed packages offer an extension of the same name.
    """
    found: dict[str, Callable[[Registry], None]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            raise ValueError(f"two packages offer the imap_wire extension {ep.name!r}")
        found[ep.name] = ep.load()
    return found


@functools.cache
def _base_registry() -> Registry:
    from . import _commands, _fetch, _response_codes, _responses, _search

    base = Registry()
    for module in (_response_codes, _search, _fetch, _commands, _responses):
        module.install(base)
    return base


def default_registry() -> Registry:
    """Return a new registry holding the IMAP4rev1 and IMAP4rev2 grammar."""
    return _base_registry().copy()
