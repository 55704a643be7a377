"""Sequence sets: RFC 9051 section 9 ``sequence-set`` / ``uid-set``, and ``$`` (RFC 5182)."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imap_wire._encoding import WireWriter
from imap_wire._limits import Limits
from imap_wire._sequence_set import (
    MAX_NUMBER,
    STAR,
    SequenceItem,
    SequenceSet,
    parse_sequence_set,
)
from imap_wire._values import tokenize
from imap_wire.errors import LocalProtocolError, RemoteProtocolError


def written(s: SequenceSet) -> bytes:
    w = WireWriter()
    s.write(w)
    return w.getvalue()


# -- RFC examples ------------------------------------------------------------------------------


def test_rfc9051_example_with_15_messages() -> None:
    s = SequenceSet.parse("2,4:7,9,12:*")
    assert s.ranges == ((2, 2), (4, 7), (9, 9), (12, STAR))
    assert list(s.resolve(15)) == [2, 4, 5, 6, 7, 9, 12, 13, 14, 15]
    assert s.count(15) == 10
    assert str(s) == "2,4:7,9,12:*"


def test_rfc9051_example_star_first_overlapping() -> None:
    # *:4,5:7 with 10 messages is 10,9,...,4,5,6,7: coalesced, 4 to 10.
    s = SequenceSet.parse("*:4,5:7")
    assert list(s.resolve(10)) == [4, 5, 6, 7, 8, 9, 10]
    assert s.intervals(10) == [(4, 10)]
    assert str(s) == "*:4,5:7"


def test_reversed_range_is_the_same_set() -> None:
    a, b = SequenceSet.parse("2:4"), SequenceSet.parse("4:2")
    assert list(a.resolve(10)) == list(b.resolve(10)) == [2, 3, 4]
    assert str(b) == "4:2"  # kept as written
    assert b.contains(3, 10)


def test_star_range_includes_last_even_when_below_start() -> None:
    # RFC 9051 section 9: 3291:* includes the last UID even if it is less than 3291.
    s = SequenceSet.parse("3291:*")
    assert list(s.resolve(3000)) == [3000]
    assert s.contains(3000, 3000)
    assert not s.contains(2999, 3000)


def test_copyuid_example_iterates_in_order() -> None:
    # RFC 9051 section 6.3.12: [COPYUID 38505 304,319:320 3956:3958].
    src = SequenceSet.parse("304,319:320", allow_star=False)
    dst = SequenceSet.parse("3956:3958", allow_star=False)
    assert list(zip(src, dst, strict=True)) == [(304, 3956), (319, 3957), (320, 3958)]
    # A range of 12:10 is exactly 10,11,12 (RFC 9051 section 7.1).
    assert list(SequenceSet.parse("12:10,1")) == [10, 11, 12, 1]


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["1", "*", "1:*", "*:1", "1:5", "5:1", "1,2,3", "4294967295", "1:4294967295", "7,1,3:2", "$"],
)
def test_text_round_trips_exactly(text: str) -> None:
    s = SequenceSet.parse(text)
    assert str(s) == text
    assert written(s) == text.encode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "01",
        "1:0",
        "0:*",
        "4294967296",
        "99999999999",
        "1:",
        ":1",
        "1,",
        ",1",
        "1,,2",
        "1:2:3",
        "**",
        "*1",
        "-1",
        "+1",
        " 1",
        "1 ",
        "a",
        "1:a",
        "$,1",
        "1,$",
        "$:1",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: isdigit(), but not a DIGIT
        "\u00b9",
    ],
)
def test_invalid_sets_are_refused(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        SequenceSet.parse(text)


@pytest.mark.parametrize("text", ["*", "1:*", "*:3", "1,*", "$"])
def test_uid_set_refuses_star_and_dollar(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        SequenceSet.parse(text, allow_star=False)


def test_single_number_fast_path_matches_general_path() -> None:
    assert SequenceSet.parse("42") == SequenceSet(ranges=((42, 42),))
    assert SequenceSet.parse("42:42") == SequenceSet.parse("42")


def test_parse_sequence_set_value() -> None:
    assert parse_sequence_set("1:3") == SequenceSet.of((1, 3))
    with pytest.raises(RemoteProtocolError):
        parse_sequence_set(b"1:3")
    with pytest.raises(RemoteProtocolError):
        parse_sequence_set(["1"])
    with pytest.raises(RemoteProtocolError):
        parse_sequence_set("*", allow_star=False)


# -- saved result ($) --------------------------------------------------------------------------


def test_saved_result() -> None:
    s = SequenceSet.parse("$")
    assert s is SequenceSet.saved()
    assert s.is_saved
    assert s.ranges == ()
    assert str(s) == "$"
    assert written(s) == b"$"
    assert repr(s) == "SequenceSet('$')"
    assert not SequenceSet.parse("1").is_saved
    with pytest.raises(ValueError):
        s.contains(1, 10)
    with pytest.raises(ValueError):
        list(s.resolve(10))
    with pytest.raises(ValueError):
        s.count(10)
    with pytest.raises(ValueError):
        list(s)
    with pytest.raises(ValueError):
        _ = 1 in s


# -- building ----------------------------------------------------------------------------------


def test_of_sorts_and_merges() -> None:
    assert str(SequenceSet.of(1, 2, 3, 5)) == "1:3,5"
    assert str(SequenceSet.of(5, 3, 1, 2)) == "1:3,5"
    assert str(SequenceSet.of((7, 4), 9, 2, (12, "*"))) == "2,4:7,9,12:*"
    assert str(SequenceSet.of(range(1, 4), 4, range(10, 10))) == "1:4"
    assert str(SequenceSet.of((1, 5), (3, 8), 9)) == "1:9"
    assert str(SequenceSet.of("*")) == "*"
    assert str(SequenceSet.of(("*", 5), 3)) == "3,5:*"
    assert str(SequenceSet.of((5, "*"), (1, 4))) == "1:*"
    assert str(SequenceSet.of(MAX_NUMBER, "*")) == "4294967295:*"
    assert SequenceSet.of() == SequenceSet()


def test_from_numbers() -> None:
    assert str(SequenceSet.from_numbers([5, 3, 1, 2, 2])) == "1:3,5"
    assert str(SequenceSet.from_numbers(range(1, 1001))) == "1:1000"
    assert str(SequenceSet.from_numbers(iter([10]))) == "10"


@pytest.mark.parametrize(
    "items",
    [(0,), (-1,), (MAX_NUMBER + 1,), ((0, 5),), (range(0, 3),), (range(1, 10, 2),), ("x",)],
)
def test_of_refuses_invalid_items(items: tuple[object, ...]) -> None:
    with pytest.raises(LocalProtocolError):
        SequenceSet.of(*items)  # type: ignore[arg-type]


def test_from_numbers_refuses_zero_and_non_integers() -> None:
    with pytest.raises(LocalProtocolError):
        SequenceSet.from_numbers([1, 0])
    with pytest.raises(LocalProtocolError):
        SequenceSet.from_numbers([True])
    with pytest.raises(LocalProtocolError):
        SequenceSet.from_numbers(["1"])  # type: ignore[list-item]


def test_write_refuses_invalid_sets() -> None:
    with pytest.raises(LocalProtocolError):
        written(SequenceSet())
    with pytest.raises(LocalProtocolError):
        written(SequenceSet(ranges=((1, MAX_NUMBER + 1),)))
    with pytest.raises(LocalProtocolError):
        written(SequenceSet(ranges=((-3, 1),)))
    with pytest.raises(LocalProtocolError):
        written(SequenceSet(ranges=((1, 1),), is_saved=True))


# -- queries -----------------------------------------------------------------------------------


def test_contains() -> None:
    s = SequenceSet.parse("2,4:7,9,12:*")
    members = {n for n in range(0, 20) if s.contains(n, 15)}
    assert members == {2, 4, 5, 6, 7, 9, 12, 13, 14, 15}
    # Only numbers in use are members.
    assert not SequenceSet.parse("1:100").contains(50, 10)
    assert not SequenceSet.parse("*").contains(0, 0)
    assert SequenceSet.parse("*").contains(7, 7)


def test_resolve_clamps_huge_ranges() -> None:
    s = SequenceSet.parse("1:4294967295")
    assert list(s.resolve(3)) == [1, 2, 3]
    assert s.count(3) == 3
    assert s.count(MAX_NUMBER) == MAX_NUMBER
    assert SequenceSet.parse("4294967295:1").intervals(5) == [(1, 5)]


def test_resolve_in_an_empty_mailbox() -> None:
    assert list(SequenceSet.parse("1:*").resolve(0)) == []
    assert SequenceSet.parse("*").count(0) == 0


def test_resolve_deduplicates_and_sorts() -> None:
    assert list(SequenceSet.parse("5,1:3,2,3:1,5").resolve(10)) == [1, 2, 3, 5]
    assert SequenceSet.parse("1:3,4,6:7").intervals(10) == [(1, 4), (6, 7)]


def test_iteration_and_membership_need_no_star() -> None:
    s = SequenceSet.parse("3,1:2")
    assert list(s) == [3, 1, 2]
    assert 2 in s
    assert 4 not in s
    assert "2" not in s
    assert SequenceSet.parse("*").has_star
    assert not s.has_star
    with pytest.raises(ValueError):
        list(SequenceSet.parse("1:*"))
    with pytest.raises(ValueError):
        _ = 1 in SequenceSet.parse("*:3")


def test_iterating_a_huge_range_is_lazy() -> None:
    it = iter(SequenceSet.parse("1:4294967295"))
    assert [next(it) for _ in range(3)] == [1, 2, 3]
    assert 4000000000 in SequenceSet.parse("1:4294967295")


def test_value_semantics() -> None:
    assert SequenceSet.parse("1:3") == SequenceSet(ranges=((1, 3),))
    assert SequenceSet.parse("1:3") != SequenceSet.parse("3:1")
    assert hash(SequenceSet.parse("1,2")) == hash(SequenceSet(ranges=((1, 1), (2, 2))))
    assert repr(SequenceSet.parse("1:*")) == "SequenceSet('1:*')"


# -- property tests ----------------------------------------------------------------------------

numbers = st.integers(min_value=1, max_value=MAX_NUMBER)
small = st.integers(min_value=1, max_value=60)
seq_numbers = st.one_of(numbers, small, st.just(STAR))
ranges = st.one_of(seq_numbers.map(lambda n: (n, n)), st.tuples(seq_numbers, seq_numbers))
sets = st.one_of(
    st.lists(ranges, min_size=1, max_size=8).map(lambda r: SequenceSet(ranges=tuple(r))),
    st.just(SequenceSet.saved()),
)


@given(sets)
def test_round_trip_through_the_wire(s: SequenceSet) -> None:
    data = written(s)
    values = tokenize([data], [], Limits())
    assert len(values) == 1
    assert parse_sequence_set(values[0]) == s
    assert SequenceSet.parse(str(s)) == s


def _brute_force(s: SequenceSet, largest: int) -> set[int]:
    out: set[int] = set()
    for a, b in s.ranges:
        a = largest if a == STAR else a
        b = largest if b == STAR else b
        out.update(n for n in range(min(a, b), max(a, b) + 1) if 1 <= n <= largest)
    return out


small_ranges = st.one_of(
    st.one_of(small, st.just(STAR)).map(lambda n: (n, n)),
    st.tuples(st.one_of(small, st.just(STAR)), st.one_of(small, st.just(STAR))),
)
small_sets = st.lists(small_ranges, min_size=1, max_size=6).map(
    lambda r: SequenceSet(ranges=tuple(r))
)


@given(small_sets, st.integers(min_value=0, max_value=70))
def test_resolve_contains_count_agree(s: SequenceSet, largest: int) -> None:
    expected = _brute_force(s, largest)
    assert list(s.resolve(largest)) == sorted(expected)
    assert s.count(largest) == len(expected)
    assert {n for n in range(-1, 75) if s.contains(n, largest)} == expected


def _item(n: int) -> int | Literal["*"]:
    return "*" if n == STAR else n


@given(small_sets, st.integers(min_value=0, max_value=70))
def test_of_keeps_the_meaning(s: SequenceSet, largest: int) -> None:
    items: list[SequenceItem] = [(_item(a), _item(b)) for a, b in s.ranges]
    compact = SequenceSet.of(*items)
    assert list(compact.resolve(largest)) == list(s.resolve(largest))
    # Compact: sorted, no two ranges overlapping or adjacent.
    spans = [(a or MAX_NUMBER + 1, b or MAX_NUMBER + 1) for a, b in compact.ranges]
    assert all(a <= b for a, b in spans)
    assert all(spans[i][1] + 1 < spans[i + 1][0] for i in range(len(spans) - 1))


@given(st.lists(numbers, min_size=1, max_size=30))
def test_from_numbers_holds_exactly_the_numbers(ns: list[int]) -> None:
    s = SequenceSet.from_numbers(ns)
    assert not s.has_star
    assert sorted(set(s)) == sorted(set(ns))
    assert list(s) == sorted(set(ns))


@given(st.text(alphabet="0123456789:,*$ x", max_size=20) | st.text(max_size=10))
def test_parse_raises_only_remote_protocol_error(text: str) -> None:
    try:
        s = SequenceSet.parse(text)
    except RemoteProtocolError:
        return
    assert str(s) == text or SequenceSet.parse(str(s)) == s
