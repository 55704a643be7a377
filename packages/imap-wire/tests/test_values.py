"""The tokenizer and the typed accessors every grammar module reads values through."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imap_wire._encoding import WireWriter
from imap_wire._limits import Limits
from imap_wire._values import (
    Cursor,
    Literal8,
    StreamedLiteral,
    Value,
    as_astring,
    as_nstring,
    as_number,
    tokenize,
)
from imap_wire.errors import LimitExceeded, RemoteProtocolError

LIMITS = Limits()


def tok(text: bytes, literals: list[bytes | StreamedLiteral] | None = None) -> list[Value]:
    """Tokenize one line; ``{n}`` marks split it into segments, as the framer does."""
    segments = text.split(b"\r\n")
    return tokenize(segments, literals or [], LIMITS)


def test_kinds() -> None:
    assert tok(b'a1 "q" NIL (x (y) z) 12') == ["a1", b"q", "NIL", ["x", ["y"], "z"], "12"]


def test_sibling_lists_close_to_their_parent() -> None:
    assert tok(b"(a (b) (c d) e) f") == [["a", ["b"], ["c", "d"], "e"], "f"]
    assert tok(b'(("" "/")("#ftp/" "/"))') == [[[b"", b"/"], [b"#ftp/", b"/"]]]


def test_flat_lists_read_like_any_other() -> None:
    # Lists of NILs and plain strings take a faster path; the values must not differ.
    assert tok(b'(("Ann" NIL "ann" "x.org")) ("CHARSET" "UTF-8") (NIL) ("")') == [
        [[b"Ann", "NIL", b"ann", b"x.org"]],
        [b"CHARSET", b"UTF-8"],
        ["NIL"],
        [b""],
    ]
    # Not flat: escapes, atoms other than NIL, lower-case nil, no space between items.
    assert tok(rb'("a\"b" NIL) (nil "x") ("a"NIL) (NIL 1)') == [
        [b'a"b', "NIL"],
        ["nil", b"x"],
        [b"a", "NIL"],
        ["NIL", "1"],
    ]


def test_flat_lists_count_toward_the_limits() -> None:
    with pytest.raises(LimitExceeded):
        tokenize([b"(NIL NIL NIL NIL NIL)"], [], Limits(max_items=6))
    tokenize([b"(NIL NIL NIL NIL NIL)"], [], Limits(max_items=7))
    with pytest.raises(LimitExceeded):
        tokenize([b"((NIL))"], [], Limits(max_depth=1))


def test_quoted_escapes() -> None:
    assert tok(rb'"a\"b" "c\\d"') == [b'a"b', b"c\\d"]


def test_sections_stay_in_their_atom() -> None:
    assert tok(b"BODY.PEEK[HEADER.FIELDS (From To)]<0.512> BODY[]") == [
        "BODY.PEEK[HEADER.FIELDS (From To)]<0.512>",
        "BODY[]",
    ]


def test_brackets_as_atom_characters() -> None:
    assert tok(b"foo]bar a[b [ [Gmail]/All ~peter/x") == [
        "foo]bar",
        "a[b",
        "[",
        "[Gmail]/All",
        "~peter/x",
    ]


def test_flags_and_wildcards_are_atoms() -> None:
    assert tok(rb"(\Seen \*) % * 1:* $") == [["\\Seen", "\\*"], "%", "*", "1:*", "$"]


def test_literals_take_their_place() -> None:
    values = tok(b"a {3}\r\n ~{2}\r\n x", [b"abc", b"\x00\x01"])
    assert values == ["a", b"abc", b"\x00\x01", "x"]
    assert type(values[1]) is bytes and type(values[2]) is Literal8
    streamed = StreamedLiteral(size=9)
    assert tok(b"(BODY[] {9}\r\n)", [streamed]) == [["BODY[]", streamed]]


def test_eight_bit_atoms_keep_their_octets() -> None:
    [atom] = tok(b"caf\xc3\xa9\xff")
    assert isinstance(atom, str)
    assert atom.encode("utf-8", "surrogateescape") == b"caf\xc3\xa9\xff"


@pytest.mark.parametrize(
    "line",
    [b'"open', b"(a", b"a)", b"{x", b"a\x01b", b"\x7f", b"a {3}"],
    ids=repr,
)
def test_malformed(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        tok(line)


def test_limits() -> None:
    with pytest.raises(LimitExceeded):
        tokenize([b"(" * 65 + b")" * 65], [], LIMITS)
    tokenize([b"(" * 64 + b")" * 64], [], LIMITS)
    with pytest.raises(LimitExceeded):
        tokenize([b"a " * 11], [], Limits(max_items=10))


def test_hostile_brackets_stay_linear() -> None:
    # Each "[" may start a section, but a section cannot hold "[": every scan stops at the
    # next one, so this takes milliseconds instead of a quadratic number of steps.
    assert tok(b"[a " * 20_000) == ["[a"] * 20_000


def test_accessors() -> None:
    assert as_number("4294967295", "n") == 4294967295
    bad_values: list[Value] = ["4294967296", "-1", "1" * 5000, "x", b"1"]
    for bad in bad_values:
        with pytest.raises(RemoteProtocolError):
            as_number(bad, "n")
    assert as_nstring("nil") is None and as_nstring(b"x") == b"x"
    assert as_astring("atom", "a") == b"atom"
    cursor = Cursor(["UID", "5", b"s", ["x"]])
    assert cursor.keyword("k") == "UID" and cursor.number("n") == 5
    assert cursor.string("s") == b"s" and cursor.list("l") == ["x"]
    cursor.end("line")
    with pytest.raises(RemoteProtocolError):
        cursor.next("more")


def _values(depth: int = 3) -> st.SearchStrategy[list[Value]]:
    leaf: st.SearchStrategy[Value] = st.one_of(
        st.binary(max_size=12),
        st.sampled_from(["NIL", "12", "\\Seen", "a]b", "1:*", "BODY[1]<0>"]),
    )
    nested = st.recursive(
        leaf,
        lambda inner: st.lists(inner, max_size=4),
        max_leaves=12,
    )
    return st.lists(nested, max_size=6)


def _write(w: WireWriter, v: Value) -> None:
    if isinstance(v, list):
        w.open()
        for i, item in enumerate(v):
            if i:
                w.sp()
            _write(w, item)
        w.close()
    elif isinstance(v, bytes):
        w.string(v)
    else:
        assert isinstance(v, str)
        w.raw(v.encode())


@given(_values())
def test_written_values_read_back(values: list[Value]) -> None:
    w = WireWriter()
    for i, v in enumerate(values):
        if i:
            w.sp()
        _write(w, v)
    data = w.getvalue()
    # Split at literal announcements the way the framer does.
    segments: list[bytes] = []
    literals: list[bytes | StreamedLiteral] = []
    rest = data
    while b"}\r\n" in rest:
        head, _, rest = rest.partition(b"}\r\n")
        size = int(head[head.rindex(b"{") + 1 :])
        segments.append(head + b"}")
        literals.append(rest[:size])
        rest = rest[size:]
    segments.append(rest)
    assert tokenize(segments, literals, LIMITS) == values


@given(st.binary(max_size=64))
def test_arbitrary_octets_raise_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        tokenize([data.replace(b"\r\n", b"")], [], LIMITS)
