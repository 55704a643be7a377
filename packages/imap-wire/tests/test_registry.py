"""Registries: extensions add grammar pieces the same way the base grammar does."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import pytest

import imap_wire._registry as registry_module
from imap_wire import (
    Command,
    ConnectionState,
    FetchItem,
    Modifier,
    OtherCode,
    Registry,
    SearchKey,
    SimpleCode,
    WireWriter,
    default_registry,
    discover_extensions,
    encode_command,
    encode_response,
    parse_command,
    parse_generic_modifier,
    parse_response,
)
from imap_wire._fetch import parse_plain_attribute
from imap_wire._response_codes import parse_simple_code
from imap_wire._search import as_search_parser
from imap_wire._values import Cursor
from imap_wire.errors import RemoteProtocolError


@dataclass(frozen=True, slots=True, kw_only=True)
class XPing(Command):
    name: ClassVar[str] = "XPING"
    payload: str

    def write(self, w: WireWriter) -> None:
        w.atom(self.tag)
        w.raw(b" XPING ")
        w.astring(self.payload)
        w.crlf()


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchOlder(SearchKey):
    """RFC 5032 ``OLDER <seconds>``, as imap-ext would add it."""

    seconds: int

    def write(self, w: WireWriter) -> None:
        w.raw(b"OLDER ")
        w.number(self.seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaResponse:
    """RFC 9208 ``* QUOTA root (STORAGE 10 512)``, reduced to what the test needs."""

    root: bytes
    resources: tuple[tuple[str, int, int], ...]


def install_everything(registry: Registry) -> None:
    registry.commands["XPING"] = lambda tag, cursor, ctx: XPing(
        tag=tag, payload=cursor.astring("payload").decode()
    )
    registry.command_states["XPING"] = frozenset(
        {ConnectionState.NOT_AUTHENTICATED, ConnectionState.AUTHENTICATED}
    )
    registry.fetch_attributes["X-GM-MSGID"] = parse_plain_attribute
    registry.fetch_items["X-GM-MSGID"] = lambda name, value, ctx: int(value)  # type: ignore[arg-type]
    registry.search_keys["OLDER"] = lambda name, cursor, ctx: SearchOlder(
        seconds=as_search_parser(cursor).number("OLDER", minimum=1)
    )
    registry.response_codes["XSTALE"] = parse_simple_code
    registry.modifiers[("SELECT", "CONDSTORE")] = parse_generic_modifier

    def parse_quota(cursor: Cursor, ctx: Any) -> QuotaResponse:
        root = cursor.astring("quota root")
        items = cursor.list("resources")
        resources = tuple(
            (str(items[i]), int(str(items[i + 1])), int(str(items[i + 2])))
            for i in range(0, len(items), 3)
        )
        return QuotaResponse(root=root, resources=resources)

    registry.untagged["QUOTA"] = parse_quota
    registry.capabilities.add("X-EVERYTHING")


@pytest.fixture
def registry() -> Registry:
    reg = default_registry()
    reg.install("everything", install_everything)
    return reg


def test_a_new_command(registry: Registry) -> None:
    assert parse_command(b"a1 XPING hello\r\n", registry=registry) == XPing(
        tag="a1", payload="hello"
    )
    assert encode_command(XPing(tag="a2", payload="two words")) == b'a2 XPING "two words"\r\n'
    with pytest.raises(RemoteProtocolError) as info:
        parse_command(b"a1 XPING hello\r\n")  # not in the default grammar
    assert info.value.tag == "a1"


def test_a_fetch_item(registry: Registry) -> None:
    fetch = parse_command(b"a1 FETCH 1 (UID X-GM-MSGID)\r\n", registry=registry)
    assert fetch.attributes == (FetchItem(name="UID"), FetchItem(name="X-GM-MSGID"))  # type: ignore[attr-defined]
    response = parse_response(
        b"* 1 FETCH (UID 7 X-GM-MSGID 1278455344230334865)\r\n", registry=registry
    )
    assert response.uid == 7  # type: ignore[union-attr]
    assert response.extra == {"X-GM-MSGID": 1278455344230334865}  # type: ignore[union-attr]


def test_a_search_key(registry: Registry) -> None:
    search = parse_command(b"a1 SEARCH NOT OLDER 3600 SEEN\r\n", registry=registry)
    assert "SearchNot(key=SearchOlder(seconds=3600))" in repr(search.criteria)  # type: ignore[attr-defined]
    assert encode_command(search) == b"a1 SEARCH NOT OLDER 3600 SEEN\r\n"


def test_a_response_code(registry: Registry) -> None:
    ok = parse_response(b"* OK [XSTALE] cache is old\r\n", registry=registry)
    assert ok.code == SimpleCode(name="XSTALE")  # type: ignore[union-attr]
    # Unregistered, a client still sees the code verbatim.
    assert parse_response(b"* OK [XSTALE] cache is old\r\n").code == OtherCode(name="XSTALE")  # type: ignore[union-attr]


def test_a_command_modifier(registry: Registry) -> None:
    select = parse_command(b"a1 SELECT INBOX (CONDSTORE)\r\n", registry=registry)
    assert select.params == (Modifier(name="CONDSTORE", value=None),)  # type: ignore[attr-defined]
    assert encode_command(select) == b"a1 SELECT INBOX (CONDSTORE)\r\n"
    with pytest.raises(RemoteProtocolError):
        parse_command(b"a1 SELECT INBOX (CONDSTORE)\r\n")


def test_response_data(registry: Registry) -> None:
    # Response is the union of the base kinds; an extension's kind is just an object.
    quota: object = parse_response(b'* QUOTA "" (STORAGE 10 512)\r\n', registry=registry)
    assert quota == QuotaResponse(root=b"", resources=(("STORAGE", 10, 512),))
    unknown = parse_response(b'* QUOTA "" (STORAGE 10 512)\r\n')
    assert type(unknown).__name__ == "UnknownResponse"
    assert encode_response(unknown) == b'* QUOTA "" (STORAGE 10 512)\r\n'


def test_registries_are_values(registry: Registry) -> None:
    # default_registry() hands out a fresh copy each time; changing one changes no other.
    assert "XPING" not in default_registry().commands
    copy = registry.copy()
    del copy.commands["XPING"]
    assert "XPING" in registry.commands
    assert registry.extensions == ["everything"]
    with pytest.raises(ValueError, match="already installed"):
        registry.install("everything", install_everything)


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    module = types.ModuleType("fake_imap_extension")
    module.install = install_everything  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_imap_extension", module)
    points = [
        EntryPoint(name=n, value="fake_imap_extension:install", group="imap_wire.extensions")
        for n in names
    ]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return points if group == "imap_wire.extensions" else []

    monkeypatch.setattr(registry_module, "entry_points", entry_points)


def test_entry_point_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch, "everything")
    assert discover_extensions() == {"everything": install_everything}
    reg = default_registry()
    assert "XPING" not in reg.commands  # nothing is installed by discovery alone
    reg.enable("everything")
    assert "XPING" in reg.commands and "X-EVERYTHING" in reg.capabilities
    with pytest.raises(LookupError):
        reg.enable("nonexistent")


def test_two_extensions_of_one_name_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch, "dup", "dup")
    with pytest.raises(ValueError, match="two packages"):
        discover_extensions()
