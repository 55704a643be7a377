"""ENVELOPE parsing and writing (RFC 9051 section 7.5.2)."""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imap_wire._encoding import WireWriter
from imap_wire._envelope import Address, Envelope, parse_envelope
from imap_wire._framer import Framer, Line
from imap_wire._limits import Limits
from imap_wire._values import Literal8, StreamedLiteral, Value, tokenize
from imap_wire.errors import RemoteProtocolError

LIMITS = Limits()


def read(data: bytes) -> Value:
    """Frame and tokenize one value the way a client reads a response line."""
    framer = Framer(LIMITS, stream_threshold=1 << 30, decide_literals=False)
    framer.feed(data + b"\r\n")
    frame = framer.next_frame()
    assert isinstance(frame, Line)
    values = tokenize(frame.segments, frame.literals, LIMITS)
    assert len(values) == 1
    return values[0]


def wire(envelope: Envelope) -> bytes:
    w = WireWriter()
    envelope.write(w)
    return w.getvalue()


# The FETCH FULL example of RFC 9051 section 6.4.5 (and RFC 3501 section 6.4.5), the address
# lists joined as servers send them.
RFC9051_ENVELOPE = (
    b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev2 WG mtg summary and minutes" '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'((NIL NIL "imap" "cac.washington.edu")) '
    b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
    b'"<B27397-0100000@cac.washington.ed>")'
)
RFC3501_ENVELOPE = (
    b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'((NIL NIL "imap" "cac.washington.edu")) '
    # A space between the addresses, as the RFC's line wrapping shows it.
    b'((NIL NIL "minutes" "CNRI.Reston.VA.US") ("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
    b'"<B27397-0100000@cac.washington.edu>")'
)
TERRY = Address(name="Terry Gray", mailbox="gray", host="cac.washington.edu")


def test_rfc9051_example() -> None:
    env = parse_envelope(read(RFC9051_ENVELOPE))
    assert env == Envelope(
        date="Wed, 17 Jul 1996 02:23:25 -0700 (PDT)",
        subject="IMAP4rev2 WG mtg summary and minutes",
        from_=(TERRY,),
        sender=(TERRY,),
        reply_to=(TERRY,),
        to=(Address(mailbox="imap", host="cac.washington.edu"),),
        cc=(
            Address(mailbox="minutes", host="CNRI.Reston.VA.US"),
            Address(name="John Klensin", mailbox="KLENSIN", host="MIT.EDU"),
        ),
        message_id="<B27397-0100000@cac.washington.ed>",
    )
    assert env.from_[0].email == "gray@cac.washington.edu"
    assert env.date_time == datetime(1996, 7, 17, 2, 23, 25, tzinfo=timezone(timedelta(hours=-7)))
    # Written back in the server's shape, byte for byte.
    assert wire(env) == RFC9051_ENVELOPE


def test_rfc3501_example() -> None:
    env = parse_envelope(read(RFC3501_ENVELOPE))
    assert env.subject == "IMAP4rev1 WG mtg summary and minutes"
    assert [a.email for a in env.cc] == ["minutes@CNRI.Reston.VA.US", "KLENSIN@MIT.EDU"]
    assert env.bcc == () and env.in_reply_to is None
    assert env.message_id == "<B27397-0100000@cac.washington.edu>"


def test_group_syntax() -> None:
    # "To: boys: aaron@example.com, jeff;, undisclosed-recipients:;" as Dovecot sends it.
    env = parse_envelope(
        read(
            b'("Mon, 13 Jul 2015 21:15:32 -0400" "Test" (("Ann" NIL "ann" "example.com")) '
            b'NIL NIL ((NIL NIL "boys" NIL)(NIL NIL "aaron" "example.com")'
            b'(NIL NIL "jeff" "MISSING_DOMAIN")(NIL NIL NIL NIL)'
            b'(NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL "<1@x>")'
        )
    )
    assert env.sender == () and env.reply_to == ()
    starts = [a.mailbox for a in env.to if a.is_group_start]
    assert starts == ["boys", "undisclosed-recipients"]
    assert [a.is_group_end for a in env.to] == [False, False, False, True, False, True]
    assert [a.email for a in env.to] == [
        None,
        "aaron@example.com",
        "jeff@MISSING_DOMAIN",
        None,
        None,
        None,
    ]
    assert wire(env).count(b"(NIL NIL NIL NIL)") == 2


def test_routes_and_quoting() -> None:
    env = parse_envelope(
        read(
            b'(NIL "a \\"quoted\\" \\\\ subject" (("Example From" "@route1,@route2" "from" '
            b'"example.com")) NIL NIL NIL NIL NIL NIL NIL)'
        )
    )
    assert env.subject == 'a "quoted" \\ subject'
    assert env.from_[0].adl == "@route1,@route2"
    assert parse_envelope(read(wire(env))) == env


def test_literals_and_8bit() -> None:
    subject = "Grüße\r\nfrom {literal}".encode()
    data = (
        b'("Thu, 1 Jan 2024 00:00:00 +0000" {%d}\r\n%s ((NIL NIL "x" "y")) NIL NIL NIL NIL NIL '
        b"NIL NIL)" % (len(subject), subject)
    )
    env = parse_envelope(read(data))
    assert env.subject == "Grüße\r\nfrom {literal}"
    assert parse_envelope(read(wire(env))) == env


def test_invalid_utf8_round_trips_exactly() -> None:
    raw = b"\xff\xfe=?x?= \xc3"
    data = b"(NIL {%d}\r\n%s NIL NIL NIL NIL NIL NIL NIL NIL)" % (len(raw), raw)
    env = parse_envelope(read(data))
    assert env.subject is not None
    assert env.subject.encode("utf-8", "surrogateescape") == raw
    assert b"{%d}\r\n%s" % (len(raw), raw) in wire(env)


def test_empty_strings_differ_from_nil() -> None:
    env = parse_envelope(read(b'("" "" NIL NIL NIL NIL NIL NIL "" NIL)'))
    assert env.date == "" and env.subject == "" and env.in_reply_to == ""
    assert env.message_id is None
    assert env.date_time is None
    assert wire(env) == b'("" "" NIL NIL NIL NIL NIL NIL "" NIL)'


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # NIL inside an address list is skipped (MailKit issue #991).
        (
            b'(NIL NIL (NIL ("A" NIL "a" "b.c")) NIL NIL NIL NIL NIL NIL NIL)',
            Envelope(from_=(Address(name="A", mailbox="a", host="b.c"),)),
        ),
        # An empty list for an address list, and nil in lower case.
        (b"(nil Nil () () () () () () nil NIL)", Envelope()),
        # Atoms where strings belong are read as their text.
        (
            b"(Today hello ((NIL NIL joe example.com)) NIL NIL NIL NIL NIL NIL <id@x>)",
            Envelope(
                date="Today",
                subject="hello",
                from_=(Address(mailbox="joe", host="example.com"),),
                message_id="<id@x>",
            ),
        ),
    ],
)
def test_tolerances(data: bytes, expected: Envelope) -> None:
    assert parse_envelope(read(data)) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # QQ Mail leaves out the message-id, or both trailing fields (MailKit issues #669 and
        # #932); what is left is read from the start.
        (
            b'("Mon, 30 Oct 2017 11:05:21 +0800" "=?GBK?B?u7bTrcq5?=" (("=?GBK?B?zNrRtsbz?=" NIL '
            b'"10000" "qq.com")) NIL NIL NIL NIL NIL NIL)',
            Envelope(
                date="Mon, 30 Oct 2017 11:05:21 +0800",
                subject="=?GBK?B?u7bTrcq5?=",
                from_=(Address(name="=?GBK?B?zNrRtsbz?=", mailbox="10000", host="qq.com"),),
            ),
        ),
        (
            b'("d" "s" NIL NIL NIL NIL NIL NIL "<a@qq.com>")',
            Envelope(date="d", subject="s", in_reply_to="<a@qq.com>"),
        ),
        (
            b'("Tue, 24 Sep 2019 09:48:05 +0800" "s" (("n" NIL "u" "d")) (("n" NIL "u" "d")) '
            b'(("n" NIL "u" "d")) NIL NIL NIL)',
            Envelope(
                date="Tue, 24 Sep 2019 09:48:05 +0800",
                subject="s",
                from_=(Address(name="n", mailbox="u", host="d"),),
                sender=(Address(name="n", mailbox="u", host="d"),),
                reply_to=(Address(name="n", mailbox="u", host="d"),),
            ),
        ),
    ],
)
def test_trailing_fields_left_out(data: bytes, expected: Envelope) -> None:
    env = parse_envelope(read(data))
    assert env == expected
    # Written back with all ten fields.
    v = read(wire(env))
    assert isinstance(v, list) and len(v) == 10
    assert parse_envelope(v) == env


def test_literal8_is_read_as_a_string() -> None:
    v = read(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)")
    assert isinstance(v, list)
    v[1] = Literal8(b"binary subject")
    assert parse_envelope(v).subject == "binary subject"


def test_sender_shares_the_from_list() -> None:
    env = parse_envelope(read(RFC9051_ENVELOPE))
    if not sys.flags.bytes_warning:  # the raw lists are compared only without -b
        assert env.sender is env.from_ and env.reply_to is env.from_
    other = parse_envelope(
        read(
            b'(NIL NIL (("A" NIL "a" "x")) ((NIL NIL "a" "x")) (("A" NIL "a" "x")) '
            b"NIL NIL NIL NIL NIL)"
        )
    )
    assert other.sender == (Address(mailbox="a", host="x"),)
    assert other.reply_to == other.from_


@pytest.mark.parametrize(
    "data",
    [
        b"NIL",
        b'"envelope"',
        b"()",
        b'("d" "s" NIL NIL NIL NIL NIL)',
        b'("d" "s" NIL NIL NIL NIL NIL NIL NIL NIL NIL)',
        b'(("d") "s" NIL NIL NIL NIL NIL NIL NIL NIL)',
        b'(NIL NIL "not a list" NIL NIL NIL NIL NIL NIL NIL)',
        b"(NIL NIL FROM NIL NIL NIL NIL NIL NIL NIL)",
        b"(NIL NIL ((NIL NIL NIL)) NIL NIL NIL NIL NIL NIL NIL)",
        b"(NIL NIL ((NIL NIL NIL NIL NIL)) NIL NIL NIL NIL NIL NIL NIL)",
        b'(NIL NIL ("x") NIL NIL NIL NIL NIL NIL NIL)',
        b"(NIL NIL (((NIL) NIL NIL NIL)) NIL NIL NIL NIL NIL NIL NIL)",
        b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL (NIL))",
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_envelope(read(data))


def test_streamed_literal_is_refused() -> None:
    v: list[Value] = ["NIL"] * 10
    v[1] = StreamedLiteral(size=100_000)
    with pytest.raises(RemoteProtocolError):
        parse_envelope(v)


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (
            "Mon, 7 Feb 1994 21:52:25 -0800",
            datetime(1994, 2, 7, 21, 52, 25, tzinfo=timezone(timedelta(hours=-8))),
        ),
        ("7 Feb 1994 21:52:25 +0000 (UTC)", datetime(1994, 2, 7, 21, 52, 25, tzinfo=UTC)),
        # "-0000": a time whose offset is unknown (RFC 5322 section 3.3) is naive.
        ("Mon, 7 Feb 1994 21:52:25 -0000", datetime(1994, 2, 7, 21, 52, 25)),
        ("yesterday", None),
        ("", None),
        (None, None),
        ("Mon, 32 Feb 1994 21:52:25 -0800", None),
        ("Mon, 7 Feb 99999999999999999999 21:52:25 -0800", None),
    ],
)
def test_date_time(date: str | None, expected: datetime | None) -> None:
    assert Envelope(date=date).date_time == expected


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_date_time_never_raises(date: str) -> None:
    result = Envelope(date=date).date_time
    assert result is None or isinstance(result, datetime)


# -- hypothesis ------------------------------------------------------------------------------

# Any text, including text decoded from arbitrary octets with surrogateescape.
texts = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    st.binary(max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(["NIL", "nil", "", "123", "a b", '"', "\\"]),
)
ntexts = st.none() | texts
addresses = st.builds(Address, name=ntexts, adl=ntexts, mailbox=ntexts, host=ntexts)
address_lists = st.lists(addresses, max_size=3).map(tuple)
envelopes = st.builds(
    Envelope,
    date=ntexts,
    subject=ntexts,
    from_=address_lists,
    sender=address_lists,
    reply_to=address_lists,
    to=address_lists,
    cc=address_lists,
    bcc=address_lists,
    in_reply_to=ntexts,
    message_id=ntexts,
)


@settings(max_examples=80, deadline=None)
@given(envelopes)
def test_round_trip(env: Envelope) -> None:
    assert parse_envelope(read(wire(env))) == env


@settings(max_examples=20, deadline=None)
@given(envelopes, st.booleans())
def test_round_trip_utf8_writer(env: Envelope, utf8: bool) -> None:
    w = WireWriter(utf8=utf8)
    env.write(w)
    assert parse_envelope(read(w.getvalue())) == env


atoms = st.sampled_from(["NIL", "nil", "0", "12", "x", "\\Seen", "99999999999999999999999"])
leaves: st.SearchStrategy[Value] = st.one_of(
    atoms,
    st.binary(max_size=4),
    st.builds(Literal8, st.binary(max_size=3)),
    st.builds(StreamedLiteral, size=st.integers(0, 9)),
)
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=11), max_leaves=20)
# Ten fields, each a leaf, an address-list-like list or an address-like list.
envelope_like = st.lists(
    st.one_of(leaves, st.lists(st.one_of(leaves, st.lists(leaves, max_size=5)), max_size=3)),
    min_size=10,
    max_size=10,
)


@settings(max_examples=70, deadline=None)
@given(st.one_of(values, envelope_like))
def test_parse_raises_only_protocol_errors(v: Value) -> None:
    try:
        env = parse_envelope(v)
    except RemoteProtocolError:
        return
    assert isinstance(env, Envelope)
    env.date_time  # noqa: B018  (never raises either)


@settings(max_examples=50, deadline=None)
@given(st.data(), envelopes)
def test_mutated_envelopes_raise_only_protocol_errors(data: st.DataObject, env: Envelope) -> None:
    v = read(wire(env))
    assert isinstance(v, list)
    # Replace one value somewhere in the structure.
    target = v
    while True:
        index = data.draw(st.integers(0, len(target) - 1))
        item = target[index]
        if isinstance(item, list) and item and data.draw(st.booleans()):
            target = item
            continue
        target[index] = data.draw(st.one_of(leaves, st.lists(leaves, max_size=5)))
        break
    with contextlib.suppress(RemoteProtocolError):
        parse_envelope(v)
