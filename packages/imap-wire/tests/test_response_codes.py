"""Response codes (RFC 9051 section 7.1, RFC 5530, RFC 4315, RFC 7162)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imap_wire._encoding import WireWriter
from imap_wire._registry import ParseContext, Registry
from imap_wire._response_codes import (
    SIMPLE_CODES,
    AppendUidCode,
    BadCharsetCode,
    CapabilityCode,
    CodeName,
    CopyUidCode,
    HighestModSeqCode,
    ModifiedCode,
    OtherCode,
    PermanentFlagsCode,
    ResponseCode,
    SimpleCode,
    UidNextCode,
    UidValidityCode,
    UnseenCode,
    install,
    parse_response_code,
    parse_simple_code,
    response_code,
)
from imap_wire._sequence_set import STAR, SequenceSet
from imap_wire.errors import LocalProtocolError, RemoteProtocolError


def _registry() -> Registry:
    registry = Registry()
    install(registry)
    return registry


REGISTRY = _registry()
STRICT = ParseContext(registry=REGISTRY, strict=True)
LENIENT = ParseContext(registry=REGISTRY, strict=False)


def written(code: ResponseCode) -> bytes:
    w = WireWriter()
    code.write(w)
    return w.getvalue()


def code_of(line: bytes) -> bytes:
    """Return what a response line holds between its first "[" and the next "]"."""
    start = line.index(b"[") + 1
    return line[start : line.index(b"]", start)]


# -- RFC examples ----------------------------------------------------------------------------

# Every example line of RFC 9051 section 7.1 and RFC 5530 section 3 that carries a code.
RFC_LINES = [
    (b'o356 NO [ALREADYEXISTS] Mailbox "that" already exists', "ALREADYEXISTS"),
    (b"b NO [AUTHENTICATIONFAILED] Authentication failed", "AUTHENTICATIONFAILED"),
    (b"c1 NO [AUTHORIZATIONFAILED] No such authorization-ID", "AUTHORIZATIONFAILED"),
    (b"c2 NO [AUTHORIZATIONFAILED] Authenticator is not an admin", "AUTHORIZATIONFAILED"),
    (b"l NO [CANNOT] Adjacent slashes are not supported", "CANNOT"),
    (b"k1 OK [READ-ONLY] Done", "READ-ONLY"),
    (b"k2 OK [CLIENTBUG] Done", "CLIENTBUG"),
    (b"e NO [CONTACTADMIN]", "CONTACTADMIN"),
    (b"i NO [CORRUPTION] Cannot open mailbox", "CORRUPTION"),
    (b"d NO [EXPIRED] That password isn't valid any more", "EXPIRED"),
    (b"h OK [EXPUNGEISSUED] Search completed", "EXPUNGEISSUED"),
    (b'o356 NO [HASCHILDREN] Mailbox "Notes" has children', "HASCHILDREN"),
    (b"g NO [INUSE] Mailbox in use", "INUSE"),
    (b"m NO [LIMIT] At most 32 flags in one mailbox supported", "LIMIT"),
    (b"p NO [NONEXISTENT] No such mailbox", "NONEXISTENT"),
    (b"f NO [NOPERM] Access denied", "NOPERM"),
    (b"n1 NO [OVERQUOTA] Sorry", "OVERQUOTA"),
    (b"n2 OK [OVERQUOTA] You are now over your soft quota", "OVERQUOTA"),
    (b"d NO [PRIVACYREQUIRED] Connection offers no privacy", "PRIVACYREQUIRED"),
    (b"j NO [SERVERBUG] This should not happen", "SERVERBUG"),
    (b"a NO [UNAVAILABLE] User's backend down for maintenance", "UNAVAILABLE"),
    (b"* OK [ALERT] System shutdown in 10 minutes", "ALERT"),
    (b"a002 OK [READ-WRITE] SELECT completed", "READ-WRITE"),
    (b"A003 NO [TRYCREATE] Mailbox doesn't exist", "TRYCREATE"),
    (b"* NO [UIDNOTSTICKY] Non-persistent UIDs", "UIDNOTSTICKY"),
    (b"* OK [CLOSED] Previous mailbox is now closed", "CLOSED"),
    (b"* OK [NOMODSEQ] Sorry, this mailbox format doesn't support modsequences", "NOMODSEQ"),
    (b"A003 BAD [TOOBIG] Literal too large", "TOOBIG"),
    (b"A282 NO [NOTSAVED] Search result not saved", "NOTSAVED"),
    (b"A1 NO [UNKNOWN-CTE] Can't decode", "UNKNOWN-CTE"),
    (b"t3 NO [USEATTR] \\All not supported", "USEATTR"),
    (b"* NO [PARSE] Bad header in message 12", "PARSE"),
]


@pytest.mark.parametrize(("line", "name"), RFC_LINES)
def test_simple_codes_from_the_rfcs(line: bytes, name: str) -> None:
    for ctx in (STRICT, LENIENT):
        code = parse_response_code(code_of(line), ctx)
        assert code == SimpleCode(name=name)
        assert code.name == name
        assert written(code) == name.encode()


TYPED_EXAMPLES: list[tuple[bytes, ResponseCode]] = [
    (
        b"A003 OK [APPENDUID 38505 3955] APPEND completed",
        AppendUidCode(uid_validity=38505, uids=SequenceSet.parse("3955")),
    ),
    (
        b"A004 OK [COPYUID 38505 304,319:320 3956:3958] Done",
        CopyUidCode(
            uid_validity=38505,
            source=SequenceSet.parse("304,319:320"),
            destination=SequenceSet.parse("3956:3958"),
        ),
    ),
    (
        b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited",
        PermanentFlagsCode(flags=("\\Deleted", "\\Seen", "\\*")),
    ),
    (b"A1 NO [BADCHARSET (UTF-8)] charset not supported", BadCharsetCode(charsets=("UTF-8",))),
    (b"A1 NO [BADCHARSET] charset not supported", BadCharsetCode()),
    (
        b"* OK [CAPABILITY IMAP4rev2 AUTH=PLAIN] Ready",
        CapabilityCode(capabilities=("IMAP4rev2", "AUTH=PLAIN")),
    ),
    (
        b"* OK [CAPABILITY STARTTLS AUTH=SCRAM-SHA-256 LOGINDISABLED IMAP4rev2] Service Ready",
        CapabilityCode(
            capabilities=("STARTTLS", "AUTH=SCRAM-SHA-256", "LOGINDISABLED", "IMAP4rev2")
        ),
    ),
    (b"* OK [UIDVALIDITY 3857529045] UIDs valid", UidValidityCode(uid_validity=3857529045)),
    (b"* OK [UIDNEXT 4392] Predicted next UID", UidNextCode(uid_next=4392)),
    (b"* OK [UNSEEN 12] Message 12 is first unseen", UnseenCode(seq=12)),
    (
        b"* OK [HIGHESTMODSEQ 715194045007] Highest",
        HighestModSeqCode(modseq=715194045007),
    ),
    (
        b"d105 OK [MODIFIED 7,9] Conditional STORE failed",
        ModifiedCode(set=SequenceSet.parse("7,9")),
    ),
    (
        b"* OK [PERMANENTFLAGS ()] No permanent flags permitted",
        PermanentFlagsCode(flags=()),
    ),
    (
        b"* NO [REFERRAL imap://user;AUTH=*@SERVER2/] Remote Server",
        OtherCode(name="REFERRAL", text="imap://user;AUTH=*@SERVER2/"),
    ),
    (b"* OK [COMPRESSIONACTIVE] DEFLATE active", OtherCode(name="COMPRESSIONACTIVE")),
]


@pytest.mark.parametrize(("line", "expected"), TYPED_EXAMPLES)
def test_typed_codes_from_the_rfcs(line: bytes, expected: ResponseCode) -> None:
    text = code_of(line)
    for ctx in (STRICT, LENIENT):
        assert parse_response_code(text, ctx) == expected
    assert written(expected) == text


def test_names_are_case_insensitive() -> None:
    assert parse_response_code(b"trycreate", STRICT) == SimpleCode(name="TRYCREATE")
    assert parse_response_code(b"UidNext 5", STRICT) == UidNextCode(uid_next=5)
    assert parse_response_code(b"x-Vendor a b", STRICT) == OtherCode(name="X-VENDOR", text="a b")


def test_every_base_code_is_registered() -> None:
    assert set(REGISTRY.response_codes) == {c.value for c in CodeName}
    assert {c.name for c in (UidNextCode(uid_next=1), UnseenCode(seq=1))} == {"UIDNEXT", "UNSEEN"}


def test_permanentflags_canonicalises_system_flags() -> None:
    code = parse_response_code(b"PERMANENTFLAGS (\\deleted \\SEEN $Label \\*)", STRICT)
    assert code == PermanentFlagsCode(flags=("\\Deleted", "\\Seen", "$Label", "\\*"))


def test_badcharset_quoted_charsets() -> None:
    code = parse_response_code(b'BADCHARSET ("UTF-8" "a b" US-ASCII)', STRICT)
    assert code == BadCharsetCode(charsets=("UTF-8", "a b", "US-ASCII"))
    assert written(code) == b'BADCHARSET (UTF-8 "a b" US-ASCII)'


# -- malformed arguments ---------------------------------------------------------------------

MALFORMED = [
    b"UIDNEXT",
    b"UIDNEXT 0",
    b"UIDNEXT x",
    b"UIDNEXT 4294967296",
    b"UIDNEXT 1 2",
    b"UIDVALIDITY -1",
    b"UNSEEN " + b"9" * 5000,
    b"HIGHESTMODSEQ 9223372036854775808",
    b"APPENDUID 38505",
    b"APPENDUID 0 3955",
    b"APPENDUID 38505 *",
    b"APPENDUID 38505 $",
    b"COPYUID 38505 304 3956:*",
    b"COPYUID 38505 304",
    b"COPYUID 38505 304 0",
    b"COPYUID 38505  304 3956",
    b"MODIFIED",
    b"MODIFIED x",
    b"PERMANENTFLAGS",
    b"PERMANENTFLAGS \\Seen",
    b"PERMANENTFLAGS (\\Seen) x",
    b"PERMANENTFLAGS ((x))",
    b"PERMANENTFLAGS (\\Seen",
    b"BADCHARSET ()",
    b"BADCHARSET UTF-8",
    b"BADCHARSET ((x))",
    b"CAPABILITY",
    b"CAPABILITY (IMAP4rev2)",
    b'CAPABILITY "IMAP4rev2"',
    b"ALERT now",
    b"TRYCREATE ",
    b"READ-ONLY x",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_arguments_strict(text: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_response_code(text, STRICT)


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_arguments_tolerated_client_side(text: bytes) -> None:
    code = parse_response_code(text, LENIENT)
    assert isinstance(code, OtherCode)
    name, _, args = text.partition(b" ")
    assert code.name == name.decode()
    assert code.text == (args.decode() or None)
    if code.text is not None and len(code.text) < 1000:
        assert written(code) == text


@pytest.mark.parametrize("text", [b"", b" ALERT", b"AL(ERT", b'"ALERT"', b"\xffX", b"A\x00"])
def test_invalid_name_always_raises(text: bytes) -> None:
    for ctx in (STRICT, LENIENT):
        with pytest.raises(RemoteProtocolError):
            parse_response_code(text, ctx)


def test_unknown_code_with_empty_text() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_response_code(b"XFOO ", STRICT)
    assert parse_response_code(b"XFOO ", LENIENT) == OtherCode(name="XFOO")


# -- factory and registry --------------------------------------------------------------------


def test_response_code_factory() -> None:
    for name in SIMPLE_CODES:
        assert response_code(name) == SimpleCode(name=name)
        assert response_code(name.lower()) == SimpleCode(name=name)
    assert response_code("TOOBIG") == SimpleCode(name=CodeName.TOOBIG)
    assert response_code("badcharset") == BadCharsetCode()
    assert response_code("XSTATUS") == SimpleCode(name="XSTATUS")
    for name in ("UIDNEXT", "COPYUID", "CAPABILITY", "PERMANENTFLAGS", "MODIFIED"):
        with pytest.raises(LocalProtocolError):
            response_code(name)
    for bad in ("", "A B", "A]", "A(", 'A"'):
        with pytest.raises(LocalProtocolError):
            response_code(bad)


def test_extension_code_through_the_registry() -> None:
    registry = _registry()
    registry.response_codes["COMPRESSIONACTIVE"] = parse_simple_code
    ctx = ParseContext(registry=registry)
    assert parse_response_code(b"COMPRESSIONACTIVE", ctx) == SimpleCode(name="COMPRESSIONACTIVE")
    with pytest.raises(RemoteProtocolError):
        parse_response_code(b"COMPRESSIONACTIVE x", ctx)
    # The base registry is left alone.
    assert parse_response_code(b"COMPRESSIONACTIVE", STRICT) == OtherCode(name="COMPRESSIONACTIVE")


WRITE_ERRORS: list[ResponseCode] = [
    CapabilityCode(capabilities=()),
    CapabilityCode(capabilities=("a b",)),
    UidNextCode(uid_next=0),
    UidValidityCode(uid_validity=2**32),
    UnseenCode(seq=-1),
    HighestModSeqCode(modseq=0),
    AppendUidCode(uid_validity=1, uids=SequenceSet.parse("1:*")),
    AppendUidCode(uid_validity=1, uids=SequenceSet.saved()),
    CopyUidCode(uid_validity=1, source=SequenceSet.parse("1"), destination=SequenceSet.parse("*")),
    PermanentFlagsCode(flags=("a b",)),
    BadCharsetCode(charsets=("x]y",)),
    BadCharsetCode(charsets=("caf\u00e9",)),
    OtherCode(name="X", text=""),
    OtherCode(name="X", text="a]b"),
    OtherCode(name="X", text="a\r\nb"),
    OtherCode(name="X Y"),
    SimpleCode(name="A]"),
]


@pytest.mark.parametrize("code", WRITE_ERRORS)
def test_unwritable_codes(code: ResponseCode) -> None:
    with pytest.raises(LocalProtocolError):
        written(code)


# -- round trips and fuzzing -----------------------------------------------------------------

ATOM_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '(){%*"\\][')
atoms = st.text(ATOM_CHARS, min_size=1, max_size=12)
nz32 = st.integers(1, 2**32 - 1)
uid_ranges = st.lists(
    st.tuples(nz32, nz32) | nz32.map(lambda n: (n, n)), min_size=1, max_size=4
).map(lambda r: SequenceSet(ranges=tuple(r)))
seq_ranges = st.lists(
    st.tuples(nz32 | st.just(STAR), nz32 | st.just(STAR)), min_size=1, max_size=4
).map(lambda r: SequenceSet(ranges=tuple(r)))
flags = (
    st.sampled_from(["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\*"])
    | atoms.filter(lambda a: a[0] != "\\")
    | atoms.map(lambda a: "\\X" + a.replace("\\", ""))
)
charsets = st.text(
    st.characters(min_codepoint=1, max_codepoint=0x7F, blacklist_characters="\r\n]"),
    max_size=10,
)
unknown_names = atoms.map(str.upper).filter(lambda n: n not in REGISTRY.response_codes)
other_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r\n]"),
    min_size=1,
    max_size=20,
)

codes: st.SearchStrategy[ResponseCode] = st.one_of(
    st.sampled_from(sorted(SIMPLE_CODES)).map(lambda n: SimpleCode(name=n)),
    st.lists(charsets, max_size=3).map(lambda c: BadCharsetCode(charsets=tuple(c))),
    st.lists(atoms, min_size=1, max_size=4).map(lambda c: CapabilityCode(capabilities=tuple(c))),
    st.lists(flags, max_size=5).map(lambda f: PermanentFlagsCode(flags=tuple(f))),
    nz32.map(lambda n: UidNextCode(uid_next=n)),
    nz32.map(lambda n: UidValidityCode(uid_validity=n)),
    nz32.map(lambda n: UnseenCode(seq=n)),
    st.builds(lambda v, u: AppendUidCode(uid_validity=v, uids=u), nz32, uid_ranges),
    st.builds(
        lambda v, s, d: CopyUidCode(uid_validity=v, source=s, destination=d),
        nz32,
        uid_ranges,
        uid_ranges,
    ),
    st.integers(1, 2**63 - 1).map(lambda n: HighestModSeqCode(modseq=n)),
    seq_ranges.map(lambda s: ModifiedCode(set=s)),
    st.builds(lambda n, t: OtherCode(name=n, text=t), unknown_names, st.none() | other_text),
)


@settings(max_examples=200, deadline=None)
@given(codes)
def test_round_trip(code: ResponseCode) -> None:
    text = written(code)
    assert b"]" not in text
    for ctx in (STRICT, LENIENT):
        assert parse_response_code(text, ctx) == code


junk_alphabet = st.sampled_from(
    [
        *(c.value.encode() for c in CodeName),
        *(bytes([b]) for b in b' ()\\"*$:,{}[]~+0123456789AZaz\xff\x00'),
        b" 1",
        b"4294967296",
        b"\\Seen",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40) | st.lists(junk_alphabet, max_size=12).map(b"".join))
def test_junk_raises_only_protocol_errors(text: bytes) -> None:
    for ctx in (STRICT, LENIENT):
        try:
            code = parse_response_code(text, ctx)
        except RemoteProtocolError:
            continue
        assert isinstance(code, ResponseCode)
        assert code.name == code.name.upper()
