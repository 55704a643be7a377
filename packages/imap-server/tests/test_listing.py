"""Tests of imap_server.listing: patterns, LIST / LSUB selection, attributes, RFC transcripts."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imap_server.listing import (
    MAX_PATTERN_LENGTH,
    BadListOptions,
    ListRequest,
    canonical_name,
    list_mailboxes,
    list_request,
    mark_unselectable,
    match_pattern,
    status_targets,
)
from imap_server.store import MailboxInfo
from imap_wire import (
    List,
    ListResponse,
    ListReturnOption,
    ListSelectOption,
    Lsub,
    LsubResponse,
    Modifier,
    encode_response,
    parse_command,
    parse_response,
)

CHILDREN = frozenset({"\\HasChildren", "\\HasNoChildren"})


# -- helpers ------------------------------------------------------------------------------


def boxes(*specs: str | tuple[str, str]) -> list[MailboxInfo]:
    """Mailboxes from names, or (name, "attr attr") pairs."""
    out = []
    for spec in specs:
        if isinstance(spec, tuple):
            name, attrs = spec
            out.append(MailboxInfo(name=name, attributes=frozenset(attrs.split())))
        else:
            out.append(MailboxInfo(name=spec))
    return out


def run(
    line: str,
    mailboxes: Sequence[MailboxInfo],
    subscriptions: Iterable[str] = (),
    *,
    delimiter: str = "/",
    rev2: bool = True,
) -> list[ListResponse | LsubResponse]:
    """Parse a command line as the server does and list."""
    command = parse_command(line.encode() + b"\r\n")
    assert isinstance(command, List | Lsub)
    request = list_request(command)
    return list_mailboxes(
        mailboxes, frozenset(subscriptions), request, delimiter=delimiter, rev2=rev2
    )


Key = tuple[str, frozenset[str], str | None, str, tuple[object, ...]]


def _sort_key(key: Key) -> str:
    """An order for keys that does not depend on how a frozenset happens to iterate (two
    equal sets built differently may print their members in different orders)."""
    return repr((key[0], sorted(key[1]), *key[2:]))


def _key(response: object, *, children: bool) -> Key:
    assert isinstance(response, ListResponse | LsubResponse)
    attributes = frozenset(response.attributes)
    if not children:
        attributes -= CHILDREN
    return (
        type(response).__name__,
        attributes,
        response.delimiter,
        response.mailbox,
        response.extended,
    )


def assert_transcript(
    responses: Sequence[ListResponse | LsubResponse],
    expected: str,
    *,
    children: bool = True,
    ordered: bool = False,
) -> None:
    """Compare responses with RFC lines ``S: * LIST ...`` (one per line).

    Each response is encoded and parsed back (so the wire form is checked too); RFC lines are
    parsed with the codec, which makes attribute case and INBOX spelling canonical. With
    ``children`` False, ``\\HasChildren`` / ``\\HasNoChildren`` are left out of the comparison:
    the example's server did not send them, which the RFC allows either way.
    """
    lines = [ln.strip().removeprefix("S:").strip() for ln in expected.strip().splitlines()]
    want = [_key(parse_response(ln.encode() + b"\r\n"), children=children) for ln in lines]
    got = [_key(parse_response(encode_response(r)), children=children) for r in responses]
    if ordered:
        assert got == want
    else:
        assert sorted(got, key=_sort_key) == sorted(want, key=_sort_key)


def names(responses: Sequence[ListResponse | LsubResponse]) -> list[str]:
    return [r.mailbox for r in responses]


def attrs(responses: Sequence[ListResponse | LsubResponse], name: str) -> set[str]:
    for r in responses:
        if r.mailbox == name:
            return set(r.attributes)
    raise AssertionError(f"{name} not listed")


# -- match_pattern ------------------------------------------------------------------------


@functools.cache
def _reference(pattern: str, name: str, delimiter: str) -> bool:
    """Brute-force definition of matching (RFC 9051 6.3.9), without INBOX folding."""
    if not pattern:
        return not name
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return any(_reference(rest, name[i:], delimiter) for i in range(len(name) + 1))
    if head == "%":
        for i in range(len(name) + 1):
            if _reference(rest, name[i:], delimiter):
                return True
            if i < len(name) and name[i] == delimiter:
                return False
        return False
    return bool(name) and name[0] == head and _reference(rest, name[1:], delimiter)


def test_wildcards() -> None:
    assert match_pattern("*", "a/b/c", "/")
    assert match_pattern("%", "abc", "/")
    assert not match_pattern("%", "a/b", "/")
    assert match_pattern("a/%", "a/b", "/")
    assert not match_pattern("a/%", "a/b/c", "/")
    assert match_pattern("a/*", "a/b/c", "/")
    assert match_pattern("a*c", "a/b/c", "/")
    assert not match_pattern("a%c", "a/b/c", "/")
    assert match_pattern("a%c", "abbc", "/")
    assert match_pattern("%/%", "a/b", "/")
    assert match_pattern("", "", "/")
    assert not match_pattern("", "a", "/")
    assert match_pattern("Fruit", "Fruit", "/")
    assert not match_pattern("Fruit", "fruit", "/")  # only INBOX folds case
    assert match_pattern("*2", "foo2/bar2", "/")
    assert not match_pattern("*2", "foo2/bar1", "/")
    # An empty level still counts: "%" stops at every delimiter.
    assert match_pattern("a/%/b", "a//b", "/")


def test_percent_with_other_delimiter() -> None:
    assert match_pattern("comp.%", "comp.mail", ".")
    assert not match_pattern("comp.%", "comp.mail.misc", ".")
    assert match_pattern("a/%", "a/b.c", ".") is False  # "/" is a plain character here
    assert match_pattern("a/%", "a/bc", ".")


def test_inbox_is_case_insensitive() -> None:
    assert match_pattern("inbox", "INBOX", "/")
    assert match_pattern("INBOX", "inbox", "/")
    assert match_pattern("InBoX/%", "INBOX/sub", "/")
    assert match_pattern("INBOX/*", "inbox/sub/x", "/")
    assert match_pattern("%", "Inbox", "/")
    # Only the level "INBOX" folds, not a longer name that starts with it.
    assert not match_pattern("inboxes", "INBOXES", "/")
    assert not match_pattern("INBOXES", "inboxes", "/")
    # RFC 9051: INBOX is listed if the upper-case "INBOX" matches the pattern.
    assert match_pattern("I*", "inbox", "/")
    assert not match_pattern("i*", "INBOX", "/")


def test_overlong_pattern_matches_nothing() -> None:
    assert not match_pattern("*" * (MAX_PATTERN_LENGTH + 1), "a", "/")
    assert match_pattern("*" * MAX_PATTERN_LENGTH, "a", "/")


def test_hostile_pattern_is_linear() -> None:
    # "*a*a*a...*b" backtracks exponentially in a naive matcher; here one pass per name.
    pattern = "*a" * 400 + "*b"
    name = "a" * 5000
    start = time.perf_counter()
    assert not match_pattern(pattern, name, "/")
    assert not match_pattern("%a" * 400 + "%b", name, "/")
    assert match_pattern(pattern, name + "b", "/")
    assert time.perf_counter() - start < 2.0


_ALPHABET = st.sampled_from("ab/.*%")
_NAME_ALPHABET = st.sampled_from("ab/.")


@settings(max_examples=600, deadline=None)
@given(
    pattern=st.text(_ALPHABET, max_size=10),
    name=st.text(_NAME_ALPHABET, max_size=12),
    delimiter=st.sampled_from("/."),
)
def test_match_pattern_agrees_with_brute_force(pattern: str, name: str, delimiter: str) -> None:
    assert match_pattern(pattern, name, delimiter) == _reference(pattern, name, delimiter)


# -- canonical_name -----------------------------------------------------------------------


def test_canonical_name() -> None:
    assert canonical_name("", "foo/*", "/") == "foo/*"
    assert canonical_name("archive/", "%", "/") == "archive/%"
    assert canonical_name("#news.", "comp.mail.*", ".") == "#news.comp.mail.*"
    assert canonical_name("~smith/Mail/", "foo.*", "/") == "~smith/Mail/foo.*"
    # One delimiter where the reference ends and the pattern starts with it.
    assert canonical_name("archive/", "/2020", "/") == "archive/2020"
    # A reference without a trailing delimiter is a plain prefix (implementation-defined).
    assert canonical_name("foo/bar", "rag/baz", "/") == "foo/barrag/baz"


# -- list_request -------------------------------------------------------------------------


def test_list_request_basic_and_extended() -> None:
    request = list_request(List(tag="a", reference="", patterns=("*",)))
    assert request == ListRequest(reference="", patterns=("*",))
    assert not request.is_extended and not request.is_lsub
    request = list_request(
        List(
            tag="a",
            reference="",
            patterns=("*",),
            select_options=(ListSelectOption.SUBSCRIBED, ListSelectOption.RECURSIVEMATCH),
            return_options=(ListReturnOption.CHILDREN,),
            return_status=("messages", "UNSEEN", "MESSAGES"),
        )
    )
    assert request.is_extended
    assert request.subscribed_only and request.recursive_match and request.return_subscribed
    assert request.returns == {ListReturnOption.CHILDREN}
    assert request.status_items == ("MESSAGES", "UNSEEN")
    assert list_request(List(tag="a", reference="", patterns=("a", "b"))).is_extended


def test_list_request_lsub() -> None:
    request = list_request(Lsub(tag="a", reference="#news.", pattern="comp.%"))
    assert request.is_lsub and request.patterns == ("comp.%",)


@pytest.mark.parametrize(
    "select",
    [
        (ListSelectOption.RECURSIVEMATCH,),
        (ListSelectOption.RECURSIVEMATCH, ListSelectOption.REMOTE),
        (ListSelectOption.RECURSIVEMATCH, ListSelectOption.SPECIAL_USE),
        ("BOGUS",),
    ],
)
def test_list_request_rejects(select: tuple[str, ...]) -> None:
    with pytest.raises(BadListOptions):
        list_request(List(tag="a", reference="", patterns=("*",), select_options=select))


def test_list_request_rejects_other_mistakes() -> None:
    with pytest.raises(BadListOptions):
        list_request(List(tag="a", reference="", patterns=()))
    with pytest.raises(BadListOptions):
        list_request(List(tag="a", reference="", patterns=("*",), return_status=()))
    with pytest.raises(BadListOptions):
        list_request(List(tag="a", reference="", patterns=("*",), return_options=("NOPE",)))
    assert issubclass(BadListOptions, ValueError)


def test_list_request_keeps_extension_options() -> None:
    ext = Modifier(name="X-OPT")
    request = list_request(
        List(
            tag="a",
            reference="",
            patterns=("*",),
            select_options=(ListSelectOption.RECURSIVEMATCH, ext),
            return_options=(ext,),
        )
    )
    assert request.extension_select == (ext,) and request.extension_return == (ext,)


def test_parser_and_list_request_agree_on_recursivematch() -> None:
    with pytest.raises(Exception, match="RECURSIVEMATCH"):
        parse_command(b'a LIST (RECURSIVEMATCH) "" "*"\r\n')
    command = parse_command(b'a LIST (RECURSIVEMATCH SUBSCRIBED REMOTE) "" "*"\r\n')
    assert isinstance(command, List)
    assert list_request(command).recursive_match


# -- LIST rules ---------------------------------------------------------------------------

HIERARCHY = boxes(
    ("INBOX", "\\Marked \\Noinferiors"),
    "Fruit",
    "Fruit/Apple",
    "Fruit/Banana",
    "Tofu",
    "Vegetable",
    "Vegetable/Broccoli",
    "Vegetable/Corn",
)
SUBSCRIBED = ("INBOX", "Fruit/Banana", "Fruit/Peach", "Vegetable", "Vegetable/Broccoli")


def test_delimiter_request_bytes() -> None:
    (response,) = run('A101 LIST "" ""', HIERARCHY)
    assert encode_response(response) == b'* LIST (\\Noselect) "/" ""\r\n'
    (response,) = run('A101 LSUB "" ""', HIERARCHY, rev2=False)
    assert encode_response(response) == b'* LSUB (\\Noselect) "/" ""\r\n'


def test_delimiter_request_roots() -> None:
    (response,) = run('A102 LIST #news.comp.mail.misc ""', [], delimiter=".")
    assert_transcript([response], 'S: * LIST (\\Noselect) "." #news.')
    (response,) = run('A103 LIST /usr/staff/jones ""', [])
    assert_transcript([response], 'S: * LIST (\\Noselect) "/" /')
    (response,) = run('A LIST Fruit ""', HIERARCHY)
    assert response.mailbox == ""


def test_extended_syntax_ignores_empty_patterns() -> None:
    assert run('a LIST "" ("" "Tofu")', HIERARCHY) == run('a LIST "" "Tofu"', HIERARCHY)
    assert run('a LIST (SUBSCRIBED) "" ""', HIERARCHY, SUBSCRIBED) == []
    assert run('a LIST "" ""  RETURN (CHILDREN)', HIERARCHY) == []


def test_order_inbox_first_then_hierarchy() -> None:
    mailboxes = boxes("Zeta", "Fruit A", "Fruit", "Fruit/Apple", "INBOX/sub", "INBOX", "apple")
    assert names(run('a LIST "" "*"', mailboxes)) == [
        "INBOX",
        "INBOX/sub",
        "Fruit",
        "Fruit/Apple",
        "Fruit A",
        "Zeta",
        "apple",
    ]


def test_inbox_spelled_upper_case() -> None:
    responses = run('a LIST "" "inbox"', boxes("inbox", "Other"))
    assert names(responses) == ["INBOX"]
    responses = run('a LSUB "" "*"', boxes("INBOX"), ["Inbox"], rev2=False)
    assert names(responses) == ["INBOX"]


def test_children_attributes() -> None:
    responses = run('a LIST "" "*"', HIERARCHY)
    assert attrs(responses, "Fruit") == {"\\HasChildren"}
    assert attrs(responses, "Fruit/Apple") == {"\\HasNoChildren"}
    # \Noinferiors implies \HasNoChildren: not repeated.
    assert attrs(responses, "INBOX") == {"\\Marked", "\\Noinferiors"}


def test_store_attributes_are_canonical_and_computed_ones_ignored() -> None:
    mailboxes = boxes(("Sent", "\\sent \\HASCHILDREN \\Subscribed \\X-Custom"))
    (response,) = run('a LIST "" "*"', mailboxes)
    assert response.attributes == ("\\X-Custom", "\\Sent", "\\HasNoChildren")


def test_placeholder_is_noselect() -> None:
    mailboxes = boxes(("Archive", "\\Noselect"), "Archive/2020")
    responses = run('a LIST "" "%"', mailboxes)
    assert responses[0].attributes == ("\\Noselect", "\\HasChildren")
    assert status_targets(responses) == []


def test_missing_superior_rev2_and_rev1() -> None:
    mailboxes = boxes("INBOX", "music/rock")
    rev2 = run('a LIST "" "%"', mailboxes)
    assert attrs(rev2, "music") == {"\\NonExistent", "\\HasChildren"}
    rev1 = run('a LIST "" "%"', mailboxes, rev2=False)
    assert attrs(rev1, "music") == {"\\Noselect", "\\HasChildren"}
    # The extended syntax tells a rev1 client knows \NonExistent.
    rev1_ext = run('a LIST "" "%" RETURN (CHILDREN)', mailboxes, rev2=False)
    assert attrs(rev1_ext, "music") == {"\\NonExistent", "\\HasChildren"}
    # Listed inferiors make the superior redundant.
    assert names(run('a LIST "" "*"', mailboxes)) == ["INBOX", "music/rock"]
    assert names(run('a LIST "" "music"', mailboxes)) == ["music"]
    assert names(run('a LIST "" "nope"', mailboxes)) == []
    assert status_targets(rev2) == ["INBOX"]


def test_missing_superiors_deepest_first() -> None:
    mailboxes = boxes("a/b/c")
    assert names(run('a LIST "" (% a/%)', mailboxes)) == ["a/b"]
    assert names(run('a LIST "" "%"', mailboxes)) == ["a"]


def test_subscribed_attribute_only_when_asked() -> None:
    plain = run('a LIST "" "*"', HIERARCHY, SUBSCRIBED)
    assert all("\\Subscribed" not in r.attributes for r in plain)
    asked = run('a LIST "" "*" RETURN (SUBSCRIBED)', HIERARCHY, SUBSCRIBED)
    assert attrs(asked, "Vegetable") == {"\\Subscribed", "\\HasChildren"}
    assert "Fruit/Peach" not in names(asked)  # return options add no names
    rev1 = run('a LIST "" "*"', HIERARCHY, SUBSCRIBED, rev2=False)
    assert all("\\Subscribed" not in r.attributes for r in rev1)


def test_mailboxinfo_subscribed_counts() -> None:
    mailboxes = [MailboxInfo(name="Box", subscribed=True)]
    assert names(run('a LIST (SUBSCRIBED) "" "*"', mailboxes)) == ["Box"]


def test_special_use() -> None:
    mailboxes = boxes("INBOX", ("Sent", "\\Sent"), ("Bin", "\\Trash"), "Folder", "Folder/x")
    plain = run('a LIST "" "*"', mailboxes)
    assert attrs(plain, "Sent") == {"\\Sent", "\\HasNoChildren"}
    assert names(plain) == ["INBOX", "Bin", "Folder", "Folder/x", "Sent"]
    ret = run('a LIST "" "*" RETURN (SPECIAL-USE)', mailboxes)
    assert names(ret) == names(plain)  # RFC 6154 5.2: the return option selects nothing
    sel = run('a LIST (SPECIAL-USE) "" "*"', mailboxes)
    assert names(sel) == ["Bin", "Sent"]
    both = run('a LIST (SPECIAL-USE SUBSCRIBED) "" "*"', mailboxes, ["Sent", "Folder", "Gone"])
    assert names(both) == ["Sent"]
    assert attrs(both, "Sent") == {"\\Sent", "\\Subscribed", "\\HasNoChildren"}


def test_subscribed_selection_nonexistent() -> None:
    responses = run('a LIST (SUBSCRIBED) "" "*"', HIERARCHY, SUBSCRIBED)
    assert attrs(responses, "Fruit/Peach") == {"\\NonExistent", "\\Subscribed", "\\HasNoChildren"}
    # A subscribed missing superior does not exist but has children.
    responses = run('a LIST (SUBSCRIBED) "" "*"', boxes("a/b"), ["a"])
    assert attrs(responses, "a") == {"\\NonExistent", "\\Subscribed", "\\HasChildren"}


def test_recursivematch_childinfo() -> None:
    responses = run(
        'a LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"', HIERARCHY, ["Fruit/Banana", "Vegetable"]
    )
    assert [(r.mailbox, r.childinfo) for r in responses] == [
        ("Fruit", ("SUBSCRIBED",)),
        ("Vegetable", ()),
    ]
    assert status_targets(responses) == ["Vegetable"]


def test_recursivematch_deep_and_multiple_patterns() -> None:
    responses = run('a LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"', boxes("a/b/c"), ["a/b/c"])
    assert [(r.mailbox, r.childinfo) for r in responses] == [("a", ("SUBSCRIBED",))]
    # The qualifying inferior is listed by the second pattern: no CHILDINFO line for "a".
    responses = run('a LIST (SUBSCRIBED RECURSIVEMATCH) "" (% a/b/c)', boxes("a/b/c"), ["a/b/c"])
    assert [(r.mailbox, r.childinfo) for r in responses] == [("a/b/c", ())]


def test_recursivematch_with_special_use() -> None:
    mailboxes = boxes("P", ("P/Sent", "\\Sent"), "P/Other")
    request = list_request(
        List(
            tag="a",
            reference="",
            patterns=("%",),
            select_options=(
                ListSelectOption.SUBSCRIBED,
                ListSelectOption.RECURSIVEMATCH,
                ListSelectOption.SPECIAL_USE,
            ),
        )
    )
    responses = list_mailboxes(
        mailboxes, frozenset({"P", "P/Sent"}), request, delimiter="/", rev2=True
    )
    # "P" is subscribed but not special-use: listed only for its child, no STATUS for it.
    assert [(r.mailbox, r.childinfo) for r in responses] == [("P", ("SUBSCRIBED",))]
    assert attrs(responses, "P") == {"\\Subscribed", "\\HasChildren"}
    assert status_targets(responses, request) == []
    assert status_targets(responses) == ["P"]  # without the request, \Subscribed decides


def test_remote_changes_nothing() -> None:
    assert run('a LIST (REMOTE) "" "*"', HIERARCHY) == run('a LIST "" "*"', HIERARCHY)


def test_duplicate_patterns_list_once() -> None:
    assert names(run('a LIST "" (Tofu Tofu T*)', HIERARCHY)) == ["Tofu"]


def test_reference_applies() -> None:
    assert names(run("a LIST Fruit/ %", HIERARCHY)) == ["Fruit/Apple", "Fruit/Banana"]
    assert names(run("a LIST Fruit/ /Apple", HIERARCHY)) == ["Fruit/Apple"]


def test_no_delimiter_characters_in_flat_names() -> None:
    mailboxes = boxes("a.b", "c")
    assert names(run('a LIST "" "%"', mailboxes)) == ["a.b", "c"]


def test_flat_name_space_sends_nil_delimiter() -> None:
    mailboxes = boxes("a/b", "c")
    responses = run('a LIST "" "%"', mailboxes, delimiter="")
    assert names(responses) == ["a/b", "c"]
    assert encode_response(responses[0]) == b"* LIST (\\HasNoChildren) NIL a/b\r\n"
    (response,) = run('a LIST "" ""', mailboxes, delimiter="")
    assert encode_response(response) == b'* LIST (\\Noselect) NIL ""\r\n'


# -- LSUB ---------------------------------------------------------------------------------


def test_lsub_rules() -> None:
    mailboxes = boxes("INBOX", ("foo", "\\Noinferiors"), "bar", "bar/baz", ("ph", "\\Noselect"))
    subs = ["bar/baz", "gone", "foo", "ph", "x/y/z"]
    responses = run('a LSUB "" "%"', mailboxes, subs, rev2=False)
    assert all(isinstance(r, LsubResponse) for r in responses)
    assert [(r.mailbox, r.attributes) for r in responses] == [
        ("bar", ("\\Noselect",)),  # not subscribed, has a subscribed inferior
        ("foo", ("\\Noinferiors",)),
        ("gone", ()),  # subscribed, does not exist: listed plainly
        ("ph", ("\\Noselect",)),  # a subscribed placeholder
        ("x", ("\\Noselect",)),
    ]
    responses = run('a LSUB "" "*"', mailboxes, subs, rev2=False)
    assert names(responses) == ["bar/baz", "foo", "gone", "ph", "x/y/z"]
    assert status_targets(responses) == []


# -- RFC transcripts ----------------------------------------------------------------------


def test_rfc9051_basic_examples() -> None:
    mailboxes = boxes(("~/Mail/foo", "\\Noselect"), "~/Mail/foo/x", "~/Mail/meetings")
    responses = run("A202 LIST ~/Mail/ %", mailboxes, rev2=False)
    assert_transcript(
        responses,
        """
        S: * LIST (\\Noselect) "/" ~/Mail/foo
        S: * LIST () "/" ~/Mail/meetings
        """,
        children=False,
        ordered=True,
    )


def test_rfc9051_example_1_to_6() -> None:
    assert_transcript(
        run('A01 LIST "" "*"', HIERARCHY, SUBSCRIBED),
        """
        S: * LIST (\\Marked \\NoInferiors) "/" "inbox"
        S: * LIST () "/" "Fruit"
        S: * LIST () "/" "Fruit/Apple"
        S: * LIST () "/" "Fruit/Banana"
        S: * LIST () "/" "Tofu"
        S: * LIST () "/" "Vegetable"
        S: * LIST () "/" "Vegetable/Broccoli"
        S: * LIST () "/" "Vegetable/Corn"
        """,
        children=False,
        ordered=True,
    )
    assert_transcript(
        run('A02 LIST (SUBSCRIBED) "" "*"', HIERARCHY, SUBSCRIBED),
        """
        S: * LIST (\\Marked \\NoInferiors \\Subscribed) "/" "inbox"
        S: * LIST (\\Subscribed) "/" "Fruit/Banana"
        S: * LIST (\\Subscribed \\NonExistent) "/" "Fruit/Peach"
        S: * LIST (\\Subscribed) "/" "Vegetable"
        S: * LIST (\\Subscribed) "/" "Vegetable/Broccoli"
        """,
        children=False,
        ordered=True,
    )
    # Example 3 asks RETURN (CHILDREN): the output is fixed, children attributes included.
    assert_transcript(
        run('A03 LIST () "" "%" RETURN (CHILDREN)', HIERARCHY, SUBSCRIBED),
        """
        S: * LIST (\\Marked \\NoInferiors) "/" "inbox"
        S: * LIST (\\HasChildren) "/" "Fruit"
        S: * LIST (\\HasNoChildren) "/" "Tofu"
        S: * LIST (\\HasChildren) "/" "Vegetable"
        """,
        ordered=True,
    )
    # Examples 4 to 6 with REMOTE, minus the remote mailboxes (this server has none).
    assert_transcript(
        run('A04 LIST (REMOTE) "" "%" RETURN (CHILDREN)', HIERARCHY, SUBSCRIBED),
        """
        S: * LIST (\\Marked \\NoInferiors) "/" "inbox"
        S: * LIST (\\HasChildren) "/" "Fruit"
        S: * LIST (\\HasNoChildren) "/" "Tofu"
        S: * LIST (\\HasChildren) "/" "Vegetable"
        """,
    )
    assert_transcript(
        run('A05 LIST (REMOTE SUBSCRIBED) "" "*"', HIERARCHY, SUBSCRIBED),
        """
        S: * LIST (\\Marked \\NoInferiors \\Subscribed) "/" "inbox"
        S: * LIST (\\Subscribed) "/" "Fruit/Banana"
        S: * LIST (\\Subscribed \\NonExistent) "/" "Fruit/Peach"
        S: * LIST (\\Subscribed) "/" "Vegetable"
        S: * LIST (\\Subscribed) "/" "Vegetable/Broccoli"
        """,
        children=False,
    )
    assert_transcript(
        run('A06 LIST (REMOTE) "" "*" RETURN (SUBSCRIBED)', HIERARCHY, SUBSCRIBED),
        """
        S: * LIST (\\Marked \\NoInferiors \\Subscribed) "/" "inbox"
        S: * LIST () "/" "Fruit"
        S: * LIST () "/" "Fruit/Apple"
        S: * LIST (\\Subscribed) "/" "Fruit/Banana"
        S: * LIST () "/" "Tofu"
        S: * LIST (\\Subscribed) "/" "Vegetable"
        S: * LIST (\\Subscribed) "/" "Vegetable/Broccoli"
        S: * LIST () "/" "Vegetable/Corn"
        """,
        children=False,
        ordered=True,
    )


FOO = boxes(("INBOX", "\\Marked \\Noinferiors"), "Foo", "Foo/Bar", "Foo/Baz", "Moo")


def test_rfc9051_example_7() -> None:
    assert_transcript(
        run('CA3 LIST "" "%" RETURN (CHILDREN)', FOO),
        """
        S: * LIST (\\Marked \\NoInferiors) "/" "inbox"
        S: * LIST (\\HasChildren) "/" "Foo"
        S: * LIST (\\HasNoChildren) "/" "Moo"
        """,
        ordered=True,
    )
    # A) Only "Foo/Baz" is subscribed.
    sub = ["Foo/Baz"]
    assert_transcript(
        run('C02 LIST (SUBSCRIBED) "" "*"', FOO, sub),
        'S: * LIST (\\Subscribed) "/" "Foo/Baz"',
        children=False,
    )
    assert run('C03 LIST (SUBSCRIBED) "" "%"', FOO, sub) == []
    assert_transcript(
        run('C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"', FOO, sub),
        'S: * LIST () "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))',
        children=False,
    )
    # A1) "Foo" subscribed too.
    assert_transcript(
        run('C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"', FOO, ["Foo", "Foo/Baz"]),
        'S: * LIST (\\Subscribed \\HasChildren) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))',
    )
    # A2) "Foo" not in the hierarchy and not subscribed.
    no_foo = [b for b in FOO if b.name != "Foo"]
    assert_transcript(
        run('C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"', no_foo, sub),
        'S: * LIST (\\NonExistent) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))',
        children=False,
    )
    # B) Nothing subscribed.
    assert run('C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"', FOO) == []
    # C) "Foo" and "Moo" subscribed.
    assert_transcript(
        run('C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)', FOO, ["Foo", "Moo"]),
        """
        S: * LIST (\\HasChildren \\Subscribed) "/" "Foo"
        S: * LIST (\\HasNoChildren \\Subscribed) "/" "Moo"
        """,
        ordered=True,
    )


EX8 = boxes(
    ("INBOX", "\\Marked \\Noinferiors"),
    "foo2",
    "foo2/bar1",
    "foo2/bar2",
    "baz2",
    "baz2/bar2",
    "baz2/bar22",
    "baz2/bar222",
    "eps2",
    "eps2/mamba",
    "qux2/bar2",
)
EX8_SUBSCRIBED = (
    "foo2/bar1",
    "foo2/bar2",
    "baz2/bar2",
    "baz2/bar22",
    "baz2/bar222",
    "eps2",
    "eps2/mamba",
    "qux2/bar2",
)


def test_rfc9051_example_8() -> None:
    assert_transcript(
        run('D03 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"', EX8, EX8_SUBSCRIBED),
        """
        S: * LIST () "/" "foo2" ("CHILDINFO" ("SUBSCRIBED"))
        S: * LIST (\\Subscribed) "/" "foo2/bar2"
        S: * LIST (\\Subscribed) "/" "baz2/bar2"
        S: * LIST (\\Subscribed) "/" "baz2/bar22"
        S: * LIST (\\Subscribed) "/" "baz2/bar222"
        S: * LIST (\\Subscribed) "/" "eps2" ("CHILDINFO" ("SUBSCRIBED"))
        S: * LIST (\\Subscribed) "/" "qux2/bar2"
        """,
        children=False,
    )
    # With "*" the RFC shows redundant CHILDINFO lines for "foo2" and "baz2" (allowed, but
    # section 6.3.9.6 says servers SHOULD suppress them): this server leaves them out.
    assert_transcript(
        run('D03 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*"', EX8, EX8_SUBSCRIBED),
        """
        S: * LIST (\\Subscribed) "/" "foo2/bar1"
        S: * LIST (\\Subscribed) "/" "foo2/bar2"
        S: * LIST (\\Subscribed) "/" "baz2/bar2"
        S: * LIST (\\Subscribed) "/" "baz2/bar22"
        S: * LIST (\\Subscribed) "/" "baz2/bar222"
        S: * LIST (\\Subscribed) "/" "eps2" ("CHILDINFO" ("SUBSCRIBED"))
        S: * LIST (\\Subscribed) "/" "eps2/mamba"
        S: * LIST (\\Subscribed) "/" "qux2/bar2"
        """,
        children=False,
    )


def test_rfc9051_example_9() -> None:
    mailboxes = boxes("foo")
    sub = ["foo/bar"]
    assert_transcript(
        run('a1 LIST "" ("foo")', mailboxes, sub), 'S: * LIST () "/" foo', children=False
    )
    assert_transcript(
        run('a2 LIST (SUBSCRIBED) "" "foo/*"', mailboxes, sub),
        'S: * LIST (\\Subscribed \\NonExistent) "/" foo/bar',
        children=False,
    )
    assert_transcript(
        run('a3 LIST (SUBSCRIBED RECURSIVEMATCH) "" foo RETURN (CHILDREN)', mailboxes, sub),
        'S: * LIST (\\HasNoChildren) "/" foo ("CHILDINFO" ("SUBSCRIBED"))',
    )


def test_rfc9051_example_10() -> None:
    mailboxes = boxes("music/rock")
    assert_transcript(
        run('a1 LIST (REMOTE) "" *', mailboxes), 'S: * LIST () "/" music/rock', children=False
    )
    assert_transcript(
        run('a2 LIST () "" %', mailboxes), 'S: * LIST (\\NonExistent \\HasChildren) "/" music'
    )
    assert_transcript(
        run('a3.1 LIST "" (% music/rock)', mailboxes),
        'S: * LIST () "/" music/rock',
        children=False,
    )


def test_rfc9051_example_11_list_status() -> None:
    mailboxes = boxes("INBOX", "foo", ("bar", "\\Noselect"), "bar.x", "foo.sub")
    responses = run('A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))', mailboxes, delimiter=".")
    assert_transcript(
        responses,
        """
        S: * LIST () "."  "INBOX"
        S: * LIST () "." "foo"
        S: * LIST (\\NoSelect) "." "bar"
        """,
        children=False,
    )
    assert status_targets(responses) == ["INBOX", "foo"]
    responses = run(
        'A02 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (STATUS (MESSAGES))',
        mailboxes,
        ["INBOX", "foo.sub"],
        delimiter=".",
    )
    assert_transcript(
        responses,
        """
        S: * LIST (\\Subscribed) "."  "INBOX"
        S: * LIST () "." "foo" (CHILDINFO ("SUBSCRIBED"))
        """,
        children=False,
    )
    assert status_targets(responses) == ["INBOX"]


def test_rfc3501_lsub_examples() -> None:
    subs = ["#news.comp.mail.mime", "#news.comp.mail.misc"]
    assert_transcript(
        run('A002 LSUB "#news." "comp.mail.*"', [], subs, delimiter=".", rev2=False),
        """
        S: * LSUB () "." #news.comp.mail.mime
        S: * LSUB () "." #news.comp.mail.misc
        """,
        ordered=True,
    )
    assert_transcript(
        run('A003 LSUB "#news." "comp.%"', [], subs, delimiter=".", rev2=False),
        'S: * LSUB (\\NoSelect) "." #news.comp.mail',
    )


SPECIAL = boxes(
    ("INBOX", "\\Marked"),
    "ToDo",
    "Projects",
    "Projects/Big",
    ("SentMail", "\\Sent"),
    ("MyDrafts", "\\Marked \\Drafts"),
    ("Trash", "\\Trash"),
)


def test_rfc6154_examples() -> None:
    # 5.1: the example server also supports CHILDREN, so the output is fixed.
    assert_transcript(
        run('t1 LIST "" "%"', SPECIAL, rev2=False),
        """
        S: * LIST (\\Marked \\HasNoChildren) "/" Inbox
        S: * LIST (\\HasNoChildren) "/" ToDo
        S: * LIST (\\HasChildren) "/" Projects
        S: * LIST (\\Sent \\HasNoChildren) "/" SentMail
        S: * LIST (\\Marked \\Drafts \\HasNoChildren) "/" MyDrafts
        S: * LIST (\\Trash \\HasNoChildren) "/" Trash
        """,
    )
    assert_transcript(
        run('t2 LIST "" "%" RETURN (SPECIAL-USE)', SPECIAL, rev2=False),
        """
        S: * LIST (\\Marked) "/" Inbox
        S: * LIST () "/" ToDo
        S: * LIST () "/" Projects
        S: * LIST (\\Sent) "/" SentMail
        S: * LIST (\\Marked \\Drafts) "/" MyDrafts
        S: * LIST (\\Trash) "/" Trash
        """,
        children=False,
    )
    assert_transcript(
        run('t3 LIST (SPECIAL-USE) "" "*"', SPECIAL, rev2=False),
        """
        S: * LIST (\\Sent) "/" SentMail
        S: * LIST (\\Marked \\Drafts) "/" MyDrafts
        S: * LIST (\\Trash) "/" Trash
        """,
        children=False,
    )


def test_rfc3348_example() -> None:
    mailboxes = boxes("INBOX", "ITEM_1", "ITEM_1/ITEM_1A", "ITEM_2", "ITEM_2/TOP_SECRET")
    responses = run('A001 LIST "" *', mailboxes)
    assert_transcript(
        [r for r in responses if r.mailbox != "ITEM_2/TOP_SECRET"],
        """
        S: * LIST (\\HasNoChildren) "/" INBOX
        S: * LIST (\\HasChildren) "/" ITEM_1
        S: * LIST (\\HasNoChildren) "/" ITEM_1/ITEM_1A
        S: * LIST (\\HasChildren) "/" ITEM_2
        """,
        ordered=True,
    )


# -- after listing ------------------------------------------------------------------------


def test_mark_unselectable() -> None:
    response = ListResponse(attributes=("\\HasNoChildren",), delimiter="/", mailbox="x")
    marked = mark_unselectable(response)
    assert marked.attributes == ("\\Noselect", "\\HasNoChildren")
    assert mark_unselectable(marked) is marked
    assert status_targets([marked]) == []


def test_non_ascii_names_round_trip() -> None:
    mailboxes = boxes("Entwürfe", "日本語", "日本語/子")
    responses = run('a LIST "" "*"', mailboxes)
    assert names(responses) == ["Entwürfe", "日本語", "日本語/子"]
    for r in responses:
        assert parse_response(encode_response(r)) == r


# -- properties ---------------------------------------------------------------------------

_LEVEL = st.sampled_from(["a", "b", "INBOX", "inbox", "c d", "ü"])
_NAME = st.lists(_LEVEL, min_size=1, max_size=3).map("/".join)
_PATTERN = st.lists(st.sampled_from(["a", "b", "INBOX", "%", "*", "/", "ü"]), max_size=5).map(
    "".join
)
_SELECT = st.sets(st.sampled_from(["SUBSCRIBED", "REMOTE", "SPECIAL-USE", "RECURSIVEMATCH"]))
_RETURN = st.sets(st.sampled_from(["SUBSCRIBED", "CHILDREN", "SPECIAL-USE"]))


@settings(max_examples=300, deadline=None)
@given(
    existing=st.lists(
        st.tuples(_NAME, st.sampled_from(["", "\\Noselect", "\\Sent", "\\Noinferiors"])),
        max_size=8,
    ),
    subscribed=st.frozensets(_NAME, max_size=5),
    patterns=st.lists(_PATTERN, min_size=1, max_size=3),
    select=_SELECT,
    returns=_RETURN,
    lsub=st.booleans(),
    rev2=st.booleans(),
)
def test_listing_properties(
    existing: list[tuple[str, str]],
    subscribed: frozenset[str],
    patterns: list[str],
    select: set[str],
    returns: set[str],
    lsub: bool,
    rev2: bool,
) -> None:
    mailboxes = boxes(*existing)
    command: List | Lsub
    if lsub:
        command = Lsub(tag="a", reference="", pattern=patterns[0])
    else:
        command = List(
            tag="a",
            reference="",
            patterns=tuple(patterns),
            select_options=tuple(sorted(select)),
            return_options=tuple(sorted(returns)),
        )
    try:
        request = list_request(command)
    except BadListOptions:
        assert "RECURSIVEMATCH" in select and "SUBSCRIBED" not in select
        return
    responses = list_mailboxes(mailboxes, subscribed, request, delimiter="/", rev2=rev2)
    seen = [r.mailbox for r in responses]
    assert len(seen) == len(set(seen)), "one response per name"
    for r in responses:
        # Every response encodes and reads back.
        assert parse_response(encode_response(r)) == r
        assert not set(r.attributes) >= CHILDREN
        if r.mailbox and request.patterns != ("",):
            assert any(match_pattern(p, r.mailbox, "/") for p in patterns if p)
    for name in status_targets(responses, request):
        assert any(b.name == name or b.name.upper() == name == "INBOX" for b in mailboxes)
