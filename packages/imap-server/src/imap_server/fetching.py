"""FETCH: what a request needs from the store, and the ``* n FETCH`` response per message.

`fetch_plan` is computed once per command: it decides the least `Want` the store must fill
in, whether the command sets ``\\Seen``, and the list of items to produce, so that
`build_fetch_response` does no per-message analysis. The hot path (``FETCH 1:* (FLAGS UID)``
in a mailbox sync) builds each response without the dataclass constructor (see
`_new_response`) and shares one sorted tuple per distinct flag set.

Item semantics (RFC 9051 sections 6.4.5 and 7.5.2, RFC 3501 for RFC822*, RFC 3516):

- ``UID`` comes first when a UID command did not ask for it (RFC 9051 section 6.4.8).
- ``BODY[section]<origin.count>`` answers as ``BODY[section]<origin>``: the origin echoed,
  even for 0 (RFC 9051: ``BODY[]<0.2048>`` of a 1500-octet message is ``BODY[]<0>``). A
  section the message lacks is NIL.
- ``RFC822`` is ``BODY[]``, ``RFC822.HEADER`` is ``BODY.PEEK[HEADER]``, ``RFC822.TEXT`` is
  ``BODY[TEXT]``, each answered under its own name.
- ``BINARY`` data goes out as a literal8 exactly when it holds NUL (the codec decides;
  streamed BINARY data, below, always does);
  `UnknownTransferEncoding` (re-exported from `imap_server.message`) propagates for the
  caller to answer ``NO [UNKNOWN-CTE]``. ``BINARY.SIZE`` of a part the message lacks is 0
  (the grammar has no NIL there).
- NUL octets in ``BODY`` / ``RFC822`` data (a message appended as binary, RFC 3516) cannot
  go in a literal: each is sent as 0x80, which keeps every size and offset right.
- Items are written in the codec's fixed order (UID, FLAGS, ..., sections in the order
  asked): RFC 9051 does not order them, and `imap_wire.FetchResponse` fixes the wire form.

Large sections are streamed: a section that is one contiguous range of the message
(``BODY[]`` and ``RFC822``, ``BODY[TEXT]`` and ``RFC822.TEXT``, a part's body ``BODY[1.2]``,
``HEADER`` and ``MIME``, each with or without a partial) larger than `STREAM_THRESHOLD` goes
in the response as a `BodyRange`, an `imap_wire.LiteralSource` that the connection streams
chunk by chunk (`body_chunks`: `StreamingBody.stream` where the store has it, else ranged
`Body.read` calls of at most `CHUNK_SIZE`), so memory per FETCH does not grow with the
message. ``BINARY`` of the whole message or of a part that needs no decoding (7bit, 8bit,
binary) is streamed the same way, as a literal8 (``~{n}``, which the grammar allows for any
BINARY data, NUL or not). Smaller sections, and those that are not a range
(``HEADER.FIELDS``, a base64 or quoted-printable part's BINARY), are read whole, which is
faster.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from imap_wire import (
    BinarySectionKey,
    BodySectionKey,
    FetchAttribute,
    FetchBinary,
    FetchBinarySize,
    FetchBody,
    FetchItem,
    FetchItemName,
    FetchMacro,
    FetchResponse,
    LiteralSource,
    Section,
    SectionText,
)

from .message import (
    UnknownTransferEncoding,
    binary_size,
    identity_range,
    partial_range,
    read_binary,
    read_section,
    section_range,
)
from .store import Body, MessageData, StoreError, StreamingBody, Want

__all__ = [
    "CHUNK_SIZE",
    "STREAM_THRESHOLD",
    "BodyRange",
    "FetchPlan",
    "UnknownTransferEncoding",
    "body_chunks",
    "build_fetch_response",
    "expand_macro",
    "fetch_plan",
    "flags_response",
]

#: Sections (and RFC822, RFC822.TEXT) larger than this, in octets, are streamed from the
#: store as a `BodyRange` when they are one range of the message; smaller ones are read
#: whole (faster). Read at each FETCH, so a test may change it.
STREAM_THRESHOLD = 256 * 1024
#: The most octets one `Body.read` asks for while streaming a `BodyRange` (read at each
#: FETCH too).
CHUNK_SIZE = 1 << 20

_UID = FetchItem(name=FetchItemName.UID)
_HEADER = Section(text=SectionText.HEADER)
_TEXT = Section(text=SectionText.TEXT)
_NO_ITEMS: Mapping[Any, Any] = MappingProxyType({})
# Section texts whose contents are one range of the message (the part body when None).
_RANGED_TEXTS = frozenset({None, SectionText.HEADER, SectionText.TEXT, SectionText.MIME})

# Plain items by the store data they need; MODSEQ is RFC 7162's (the value is at hand).
_META_ITEMS = frozenset({"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "MODSEQ"})
_STRUCTURE_ITEMS = frozenset({"ENVELOPE", "BODY", "BODYSTRUCTURE"})
_BODY_ITEMS = frozenset({"RFC822", "RFC822.HEADER", "RFC822.TEXT"})


def expand_macro(macro: FetchMacro | str) -> tuple[FetchAttribute, ...]:
    """Return the items a FETCH macro stands for (RFC 9051 section 6.4.5): ``FAST`` is
    ``(FLAGS INTERNALDATE RFC822.SIZE)``, ``ALL`` adds ``ENVELOPE``, ``FULL`` adds ``BODY``.

    Raises:
        ValueError: Not a macro name.
    """
    return FetchMacro(macro.upper()).expand()


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Section:
    """One ``BODY[...]`` (or RFC822*) item to produce."""

    section: Section
    partial: tuple[int, int] | None
    #: The whole message: read from the body directly, no parsed structure needed.
    whole: bool
    #: One contiguous range of the message (no HEADER.FIELDS): may be streamed.
    ranged: bool = False


@dataclass(frozen=True, slots=True)
class _Steps:
    """What `build_fetch_response` produces, decided once per plan."""

    uid: bool = False
    flags: bool = False
    internal_date: bool = False
    size: bool = False
    modseq: bool = False
    envelope: bool = False
    body_structure: bool = False
    body: bool = False
    sections: tuple[tuple[BodySectionKey, _Section], ...] = ()
    binary: tuple[tuple[BinarySectionKey, tuple[int, ...], tuple[int, int] | None], ...] = ()
    binary_sizes: tuple[tuple[int, ...], ...] = ()
    rfc822: bool = False
    rfc822_header: bool = False
    rfc822_text: bool = False
    #: Only UID / FLAGS / INTERNALDATE / RFC822.SIZE / MODSEQ: nothing to await.
    meta_only: bool = True


@dataclass(frozen=True, slots=True)
class FetchPlan:
    """What one FETCH command needs, computed once by `fetch_plan`.

    Attributes:
        attributes: The items to produce, as asked (macro expanded), with ``UID`` first when
            a UID command did not ask for it.
        want: The least the store must fill in: `Want.META` for FLAGS, UID, INTERNALDATE,
            RFC822.SIZE (and MODSEQ); `Want.STRUCTURE` for ENVELOPE, BODY, BODYSTRUCTURE and
            for any section but the whole message; `Want.BODY` for section data.
        sets_seen: Reading sets ``\\Seen`` on a read-write mailbox: ``BODY[...]`` and
            ``BINARY[...]`` without ``.PEEK``, ``RFC822``, ``RFC822.TEXT``.
        extensions: Items this module does not produce (an extension's ``EMAILID``, a
            registered attribute class): the caller computes them and passes their values
            as ``extra_items``.
    """

    attributes: tuple[FetchAttribute, ...]
    want: Want
    sets_seen: bool
    extensions: tuple[FetchAttribute, ...] = ()
    _steps: _Steps = field(default_factory=_Steps, repr=False, compare=False)


def fetch_plan(attributes: Sequence[FetchAttribute], *, uid_command: bool) -> FetchPlan:
    """Plan a FETCH: see `FetchPlan`.

    Args:
        attributes: The command's items (expand a macro first, `expand_macro`).
        uid_command: The command is UID FETCH (or another UID command reporting FETCH).
    """
    items = tuple(attributes)
    if uid_command and not any(isinstance(a, FetchItem) and a.name.upper() == "UID" for a in items):
        items = (_UID, *items)
    want = Want.META
    sets_seen = False
    extensions: list[FetchAttribute] = []
    plain: set[str] = set()
    sections: dict[BodySectionKey, _Section] = {}
    binary: dict[BinarySectionKey, tuple[tuple[int, ...], tuple[int, int] | None]] = {}
    sizes: dict[tuple[int, ...], None] = {}
    for item in items:
        if isinstance(item, FetchItem):
            name = item.name.upper()
            if name in _META_ITEMS:
                pass
            elif name in _STRUCTURE_ITEMS:
                want |= Want.STRUCTURE
            elif name in _BODY_ITEMS:
                # RFC822 is the whole message; the others need the header/body split.
                want |= Want.BODY if name == "RFC822" else Want.BODY | Want.STRUCTURE
                sets_seen |= name != "RFC822.HEADER"
            else:
                extensions.append(item)
                continue
            plain.add(name)
        elif isinstance(item, FetchBody):
            whole = not item.section.part and item.section.text is None
            want |= Want.BODY if whole else Want.BODY | Want.STRUCTURE
            sets_seen |= not item.peek
            # BODY[x] and BODY.PEEK[x] share a response key: produce it once.
            ranged = item.section.text in _RANGED_TEXTS
            sections.setdefault(
                item.response_key, _Section(item.section, item.partial, whole, ranged)
            )
        elif isinstance(item, FetchBinary):
            want |= Want.BODY | Want.STRUCTURE
            sets_seen |= not item.peek
            binary.setdefault(item.response_key, (item.part, item.partial))
        elif isinstance(item, FetchBinarySize):
            want |= Want.BODY | Want.STRUCTURE
            sizes.setdefault(item.part, None)
        else:
            extensions.append(item)
    steps = _Steps(
        uid="UID" in plain,
        flags="FLAGS" in plain,
        internal_date="INTERNALDATE" in plain,
        size="RFC822.SIZE" in plain,
        modseq="MODSEQ" in plain,
        envelope="ENVELOPE" in plain,
        body_structure="BODYSTRUCTURE" in plain,
        body="BODY" in plain,
        sections=tuple(sections.items()),
        binary=tuple((key, part, partial) for key, (part, partial) in binary.items()),
        binary_sizes=tuple(sizes),
        rfc822="RFC822" in plain,
        rfc822_header="RFC822.HEADER" in plain,
        rfc822_text="RFC822.TEXT" in plain,
        meta_only=want == Want.META,
    )
    return FetchPlan(
        attributes=items,
        want=want,
        sets_seen=sets_seen,
        extensions=tuple(extensions),
        _steps=steps,
    )


# -- building responses ---------------------------------------------------------------------

# FetchResponse is a frozen slotted dataclass: its constructor runs a default factory and an
# object.__setattr__ per field, several times the cost of the rest of a FLAGS/UID response.
# Setting the slots through their descriptors on a bare instance is the same object; the
# field list is checked here so that a change in imap_wire falls back to the constructor.
_FIELDS = (
    "seq",
    "uid",
    "flags",
    "internal_date",
    "size",
    "envelope",
    "body_structure",
    "body",
    "modseq",
    "sections",
    "binary",
    "binary_sizes",
    "rfc822",
    "rfc822_header",
    "rfc822_text",
    "extra",
)
_FAST = tuple(f.name for f in fields(FetchResponse)) == _FIELDS
(
    _set_seq,
    _set_uid,
    _set_flags,
    _set_internal_date,
    _set_size,
    _set_envelope,
    _set_body_structure,
    _set_body,
    _set_modseq,
    _set_sections,
    _set_binary,
    _set_binary_sizes,
    _set_rfc822,
    _set_rfc822_header,
    _set_rfc822_text,
    _set_extra,
) = tuple(getattr(FetchResponse, name).__set__ for name in _FIELDS) if _FAST else (None,) * 16
_new = object.__new__


def _new_response(v: Sequence[Any]) -> FetchResponse:
    """Build a `FetchResponse` from values in `_FIELDS` order (calls unrolled: this runs
    once per message of a FETCH)."""
    if not _FAST:
        return FetchResponse(**dict(zip(_FIELDS, v, strict=True)))
    r: FetchResponse = _new(FetchResponse)
    _set_seq(r, v[0])
    _set_uid(r, v[1])
    _set_flags(r, v[2])
    _set_internal_date(r, v[3])
    _set_size(r, v[4])
    _set_envelope(r, v[5])
    _set_body_structure(r, v[6])
    _set_body(r, v[7])
    _set_modseq(r, v[8])
    _set_sections(r, v[9])
    _set_binary(r, v[10])
    _set_binary_sizes(r, v[11])
    _set_rfc822(r, v[12])
    _set_rfc822_header(r, v[13])
    _set_rfc822_text(r, v[14])
    _set_extra(r, v[15])
    return r


_DEFAULTS = tuple(getattr(FetchResponse(seq=1), name) for name in _FIELDS)


def flags_response(
    seq: int, uid: int | None, flags: tuple[str, ...], modseq: int | None = None
) -> FetchResponse:
    """``* seq FETCH (UID uid FLAGS (...) [MODSEQ (m)])``: the unsolicited update a session
    gets when another changed a message's flags (built without the dataclass constructor:
    with many sessions on a mailbox, every STORE makes one per session)."""
    v = list(_DEFAULTS)
    v[0] = seq
    v[1] = uid
    v[2] = flags
    v[8] = modseq
    return _new_response(v)


# Most messages of a mailbox share a handful of flag sets: sort each set once.
_FLAG_TUPLES: dict[frozenset[str], tuple[str, ...]] = {}
_FLAG_CACHE_SIZE = 4096


def _flag_tuple(flags: frozenset[str]) -> tuple[str, ...]:
    """The flags in a stable order (system flags first), cached per distinct set."""
    cached = _FLAG_TUPLES.get(flags)
    if cached is None:
        cached = tuple(sorted(flags, key=lambda f: (f[:1] != "\\", f)))
        if len(_FLAG_TUPLES) >= _FLAG_CACHE_SIZE:
            _FLAG_TUPLES.clear()
        _FLAG_TUPLES[flags] = cached
    return cached


def _textual(data: bytes | None) -> bytes | None:
    """Make section data sendable in a literal: NUL becomes 0x80 (same length)."""
    if data is not None and b"\x00" in data:
        return data.replace(b"\x00", b"\x80")
    return data


async def _read_whole(body: Body, partial: tuple[int, int] | None) -> bytes:
    if partial is None:
        return await body.read()
    origin, count = partial
    if origin >= body.size:
        return b""
    return await body.read(origin, origin + count)


# -- streaming ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyRange(LiteralSource):
    """Octets ``[start:end]`` of a message body, sent as a literal the connection streams
    (`chunks`) instead of bytes in the response: see `STREAM_THRESHOLD`.

    Attributes:
        size: ``end - start``, the literal's announced size.
        body: The message body.
        start: The first octet's offset in the body.
        end: The offset after the last octet.
        binary: Announce a literal8 (``BINARY`` data), else a literal.
        textual: Send each NUL as 0x80, as for any ``BODY`` data (same length).
        chunk_size: The most octets one `Body.read` asks for.
    """

    body: Body = field(repr=False, compare=False)
    start: int
    end: int
    textual: bool = True
    chunk_size: int = CHUNK_SIZE

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end or self.size != self.end - self.start:
            raise ValueError("BodyRange needs 0 <= start <= end and size == end - start")

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield the literal's octets in order, exactly ``size`` of them.

        Raises:
            StoreError: The store failed, or the body holds fewer or more octets than the
                range (the literal cannot be completed: the connection must close).
        """
        left = self.size
        pieces = body_chunks(self.body, self.start, self.end, self.chunk_size)
        try:
            async for piece in pieces:
                if not piece:
                    continue
                left -= len(piece)
                if left < 0:
                    raise StoreError("the message body is longer than its recorded size")
                if self.textual and b"\x00" in piece:
                    piece = piece.replace(b"\x00", b"\x80")
                yield piece
        finally:
            await pieces.aclose()
        if left:
            raise StoreError("the message body is shorter than its recorded size")


async def body_chunks(
    body: Body, start: int, end: int, chunk_size: int = CHUNK_SIZE
) -> AsyncGenerator[bytes, None]:
    """Yield octets ``[start:end]`` of ``body`` in pieces: through `StreamingBody.stream`
    when the body has it (pieces of the store's size), else through `Body.read` calls of at
    most ``chunk_size`` octets each.

    Raises:
        StoreError: The store failed, or a read returned nothing before ``end``.
        ValueError: ``chunk_size`` is not positive.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    if start >= end:
        return
    if isinstance(body, StreamingBody):
        stream = body.stream(start, end)
        try:
            async for piece in stream:
                yield piece
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        return
    position = start
    while position < end:
        data = await body.read(position, min(position + chunk_size, end))
        if not data:
            raise StoreError("the message body is shorter than its recorded size")
        yield data
        position += len(data)


async def _range_data(body: Body, start: int, end: int) -> bytes | LiteralSource:
    """``BODY`` data for octets ``[start:end]``: a `BodyRange` when large, else the octets."""
    if end - start > STREAM_THRESHOLD:
        return BodyRange(size=end - start, body=body, start=start, end=end, chunk_size=CHUNK_SIZE)
    if start >= end:
        return b""
    data = await body.read(start, end)
    return data.replace(b"\x00", b"\x80") if b"\x00" in data else data


async def build_fetch_response(
    msg: MessageData,
    seq: int,
    plan: FetchPlan,
    *,
    flags: frozenset[str] | None = None,
    extra_items: Mapping[str, object] | None = None,
) -> FetchResponse:
    """Build the ``* seq FETCH (...)`` response for one message.

    Args:
        msg: The message, as the store filled it in for ``plan.want``.
        seq: Its sequence number.
        plan: The command's plan.
        flags: The flags to report (with ``\\Recent``, or after ``\\Seen`` was set), else
            ``msg.flags``.
        extra_items: Values of the plan's `FetchPlan.extensions` items, by response item
            name (``FetchResponse.extra``).

    Raises:
        UnknownTransferEncoding: BINARY met an encoding it cannot remove: answer the
            command ``NO [UNKNOWN-CTE]``.
        ValueError: The store left out what ``plan.want`` asked for.
    """
    s = plan._steps
    extra = _NO_ITEMS if not extra_items else MappingProxyType(dict(extra_items))
    flag_tuple = None
    if s.flags:
        flag_tuple = _flag_tuple(msg.flags if flags is None else flags)
    if s.meta_only:
        return _new_response(
            (
                seq,
                msg.uid if s.uid else None,
                flag_tuple,
                msg.internal_date if s.internal_date else None,
                msg.size if s.size else None,
                None,
                None,
                None,
                msg.modseq if s.modseq else None,
                _NO_ITEMS,
                _NO_ITEMS,
                _NO_ITEMS,
                None,
                None,
                None,
                extra,
            )
        )

    parsed = msg.parsed
    if parsed is None and plan.want & Want.STRUCTURE:
        raise ValueError("the store did not fill in MessageData.parsed (Want.STRUCTURE)")
    body = msg.body
    if body is None and plan.want & Want.BODY:
        raise ValueError("the store did not fill in MessageData.body (Want.BODY)")

    sections: Mapping[BodySectionKey, bytes | LiteralSource | None] = _NO_ITEMS
    if s.sections:
        found: dict[BodySectionKey, bytes | LiteralSource | None] = {}
        assert body is not None
        for key, spec in s.sections:
            # Only a body over the threshold can have a section to stream.
            if spec.ranged and body.size > STREAM_THRESHOLD:
                if spec.whole:
                    span: tuple[int, int] | None = (0, body.size)
                else:
                    assert parsed is not None
                    span = section_range(parsed, body.size, spec.section)
                if span is None:
                    found[key] = None
                else:
                    found[key] = await _range_data(body, *partial_range(*span, spec.partial))
            elif spec.whole:
                found[key] = _textual(await _read_whole(body, spec.partial))
            else:
                assert parsed is not None
                found[key] = _textual(await read_section(parsed, body, spec.section, spec.partial))
        sections = found
    binaries: Mapping[BinarySectionKey, bytes | LiteralSource | None] = _NO_ITEMS
    if s.binary:
        assert parsed is not None and body is not None
        decoded: dict[BinarySectionKey, bytes | LiteralSource | None] = {}
        for bkey, part, partial in s.binary:
            if body.size > STREAM_THRESHOLD:
                # May raise UnknownTransferEncoding, as read_binary would.
                span = identity_range(parsed, body.size, part)
                if span is not None:
                    start, end = partial_range(*span, partial)
                    if end - start > STREAM_THRESHOLD:
                        decoded[bkey] = BodyRange(
                            size=end - start, body=body, start=start, end=end,
                            binary=True, textual=False, chunk_size=CHUNK_SIZE,
                        )  # fmt: skip
                        continue
            # May raise UnknownTransferEncoding: the caller answers NO [UNKNOWN-CTE].
            decoded[bkey] = await read_binary(parsed, body, part, partial)
        binaries = decoded
    binary_sizes: Mapping[tuple[int, ...], int] = _NO_ITEMS
    if s.binary_sizes:
        assert parsed is not None and body is not None
        counted: dict[tuple[int, ...], int] = {}
        for part in s.binary_sizes:
            size = await binary_size(parsed, body, part)
            counted[part] = 0 if size is None else size
        binary_sizes = counted
    rfc822: bytes | LiteralSource | None = None
    rfc822_header: bytes | None = None
    rfc822_text: bytes | LiteralSource | None = None
    if s.rfc822:
        assert body is not None
        if body.size > STREAM_THRESHOLD:
            rfc822 = await _range_data(body, 0, body.size)
        else:
            rfc822 = _textual(await body.read())
    if s.rfc822_header:
        assert parsed is not None and body is not None
        rfc822_header = _textual(await read_section(parsed, body, _HEADER)) or b""
    if s.rfc822_text:
        assert parsed is not None and body is not None
        span = section_range(parsed, body.size, _TEXT) if body.size > STREAM_THRESHOLD else None
        if span is not None:
            rfc822_text = await _range_data(body, *span)
        else:
            rfc822_text = _textual(await read_section(parsed, body, _TEXT)) or b""

    return _new_response(
        (
            seq,
            msg.uid if s.uid else None,
            flag_tuple,
            msg.internal_date if s.internal_date else None,
            msg.size if s.size else None,
            parsed.envelope if s.envelope and parsed is not None else None,
            parsed.body_structure if s.body_structure and parsed is not None else None,
            parsed.body if s.body and parsed is not None else None,
            msg.modseq if s.modseq else None,
            sections,
            binaries,
            binary_sizes,
            rfc822,
            rfc822_header,
            rfc822_text,
            extra,
        )
    )
