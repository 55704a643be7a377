"""BODY and BODYSTRUCTURE (RFC 9051 section 7.5.2; ABNF ``body`` and ``body-*``, section 9).

A body structure is a tree: `MultiPart` nodes (``body-type-mpart``) hold their parts, and
`SinglePart` leaves (``body-type-1part``) describe one MIME entity; a ``message/rfc822`` or
``message/global`` leaf carries the encapsulated message's `Envelope` and body structure.
``BODY`` is the same structure without extension data; `SinglePart.extended` and
`MultiPart.extended` record whether the server sent extension data, and the writers write it
(``body-ext-1part`` / ``body-ext-mpart``) exactly when the flag is set, so both shapes round
trip. Strings are decoded from UTF-8 with ``surrogateescape`` so that writing re-encodes the
exact octets; media type names keep the server's case (`SinglePart.mime_type` is the
lower-cased ``type/subtype``). `part_at` implements IMAP part numbering (RFC 9051 section
6.4.5.1).

`parse_body_structure` is on the FETCH hot path: it reads list items by index, checks types
with ``type(x) is ...``, and builds values with `imap_wire._envelope.fast_constructor`.

Tolerances (a client parses what real servers send). In the basic fields:

- Type names in any case (Dovecot sends ``"text" "plain"``); an atom where a string belongs
  is read as its text.
- ``NIL`` or an empty list ``()`` where a parameter list belongs: no parameters.
- A number sent as a string (``"1234"``) for the size or line count; a negative size
  (``-1`` from Dovecot, ``-2`` from SmarterMail, MailKit issues #385 and #823) is read as 0.
- ``NIL`` where the media type, the encoding (maddy) or a parameter name or value
  (``("boundary" NIL)`` from mail.ru, MailKit issue #124) belongs: the empty string, which the
  writer writes as ``""``.
- A text part without its line count (``body-fld-lines``), seen from some servers: `lines` is
  None, and the writer leaves it out again. (A number right after the size is always read as
  the line count.)
- A ``message/rfc822`` part whose envelope and body are missing is read as a basic part
  (`envelope` and `body` None, as the writer writes it); an encapsulated body sent as ``()``
  or ``NIL`` (MailKit issue #944) is read as `body` None, and written back as ``()``.
- A multipart with zero parts: Gmail sends ``("RELATED" NIL ("ATTACHMENT" NIL) NIL)`` for a
  multipart it could not split (MailKit issues #205, #777). A list whose second element is a
  parameter list or ``NIL`` (or that holds only a subtype) is read as a `MultiPart` without
  parts; the writer writes such a value in the same shape. So is a list starting with ``NIL``
  in place of the parts, ``(NIL "alternative" ("boundary" "x") NIL NIL NIL)`` (MailKit issue
  #1393), unless a size follows where a single part has it (then the ``NIL`` is the type).

Extension data is optional information, so it never makes a response unreadable:

- ``body-fld-lang`` as a single string or a list (both are in the grammar); ``()`` counts as
  NIL. The writer writes one tag as a string, several as a list.
- A disposition sent as a bare string (``"inline"``, MailKit issue #919) is a disposition
  without parameters; ``(NIL NIL)`` (Exchange) is no disposition, and ``(NIL ("FILENAME"
  "a.pdf"))`` (MailKit issue #486) a disposition of type ``""`` with its parameters (RFC 2183
  section 2.8 says to treat it as an attachment).
- Any other extension field of the wrong shape (a list where the MD5 belongs, an odd-length
  parameter list) is read as absent.
- Extension data (``body-extension``) of any nesting depth the tokenizer allowed is kept in
  `SinglePart.extensions` / `MultiPart.extensions` as nested tuples.

Everything else that does not match the grammar raises `RemoteProtocolError`, the only
exception `parse_body_structure` raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from ._encoding import UINT63, WireWriter
from ._envelope import Envelope, fast_constructor, parse_envelope, text_or_nil
from ._values import Value, describe
from .errors import RemoteProtocolError

__all__ = [
    "BodyStructure",
    "Disposition",
    "ExtensionValue",
    "MultiPart",
    "Params",
    "SinglePart",
    "parse_body_structure",
    "part_at",
]

#: One ``body-extension`` item: a string, a number, NIL, or a parenthesised list of them.
ExtensionValue: TypeAlias = "str | int | tuple[ExtensionValue, ...] | None"
#: Body parameters (``body-fld-param``) as ``(name, value)`` pairs, in the server's order.
Params: TypeAlias = "tuple[tuple[str, str], ...]"

_UTF8 = "utf-8"
_ESCAPE = "surrogateescape"
_MESSAGE_SUBTYPES = frozenset({"RFC822", "GLOBAL"})


def _find_param(params: Params, name: str) -> str | None:
    key = name.lower()
    for k, value in params:
        if k.lower() == key:
            return value
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Disposition:
    """A body disposition (``body-fld-dsp``; RFC 2183 Content-Disposition).

    Attributes:
        type: The disposition type as sent (``"ATTACHMENT"``, ``"inline"``).
        params: Its parameters (``FILENAME`` and so on).
    """

    type: str
    params: Params = ()

    def param(self, name: str) -> str | None:
        """Return the value of parameter ``name`` (case-insensitive), or None."""
        return _find_param(self.params, name)

    def write(self, w: WireWriter) -> None:
        """Write the parenthesised disposition."""
        w.open()
        w.string(self.type)
        w.sp()
        _write_params(w, self.params)
        w.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class SinglePart:
    """A non-multipart body part (``body-type-1part``, RFC 9051 section 7.5.2).

    Attributes:
        type: Media type as sent (``"TEXT"``, ``"application"``).
        subtype: Media subtype as sent.
        params: Content-Type parameters.
        id: Content-ID, or None.
        description: Content-Description, or None.
        encoding: Content-Transfer-Encoding as sent (``"7BIT"``, ``"base64"``).
        size: Size in octets, in its transfer encoding.
        lines: Size in text lines (``text/*``, ``message/rfc822`` and ``message/global``
            only; None when absent).
        envelope: The encapsulated message's envelope (``message/rfc822`` and
            ``message/global`` only).
        body: The encapsulated message's body structure (same parts only).
        md5: Content-MD5, or None (extension data).
        disposition: Content-Disposition, or None (extension data).
        language: Content-Language tags, or None (extension data).
        location: Content-Location URI, or None (extension data).
        extensions: Further extension data, not defined by the base protocol.
        extended: True if the wire form carried extension data (``BODYSTRUCTURE``); the
            writer writes the extension fields only then.
    """

    type: str
    subtype: str
    params: Params = ()
    id: str | None = None
    description: str | None = None
    encoding: str = "7BIT"
    size: int = 0
    lines: int | None = None
    envelope: Envelope | None = None
    body: BodyStructure | None = None
    md5: str | None = None
    disposition: Disposition | None = None
    language: tuple[str, ...] | None = None
    location: str | None = None
    extensions: tuple[ExtensionValue, ...] = ()
    extended: bool = False

    @property
    def mime_type(self) -> str:
        """Return the lower-cased ``type/subtype``."""
        return f"{self.type}/{self.subtype}".lower()

    @property
    def is_message(self) -> bool:
        """True for ``message/rfc822`` and ``message/global`` (encapsulated messages)."""
        return self.type.upper() == "MESSAGE" and self.subtype.upper() in _MESSAGE_SUBTYPES

    def param(self, name: str) -> str | None:
        """Return the value of Content-Type parameter ``name`` (case-insensitive), or None."""
        return _find_param(self.params, name)

    def write(self, w: WireWriter) -> None:
        """Write the parenthesised body part (``BODY`` or ``BODYSTRUCTURE`` shape).

        The envelope, body and line count are written only where the grammar has a place for
        them (``message/rfc822`` and ``message/global`` with an envelope; ``text/*``), and the
        extension fields only when `extended` is set.
        """
        w.open()
        w.string(self.type)
        w.sp()
        w.string(self.subtype)
        w.sp()
        _write_params(w, self.params)
        w.sp()
        w.nstring(self.id)
        w.sp()
        w.nstring(self.description)
        w.sp()
        w.string(self.encoding)
        w.sp()
        w.number(self.size)
        if self.envelope is not None and self.is_message:
            w.sp()
            self.envelope.write(w)
            w.sp()
            if self.body is None:
                w.raw(b"()")
            else:
                self.body.write(w)
            if self.lines is not None:
                w.sp()
                w.number(self.lines)
        elif self.lines is not None and self.type.upper() == "TEXT":
            w.sp()
            w.number(self.lines)
        if self.extended:
            w.sp()
            w.nstring(self.md5)
            _write_extension_tail(w, self)
        w.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiPart:
    """A multipart body (``body-type-mpart``, RFC 9051 section 7.5.2).

    Attributes:
        parts: The parts, in order (part numbers 1, 2, ...).
        subtype: Multipart subtype as sent (``"MIXED"``, ``"alternative"``).
        params: Content-Type parameters (extension data).
        disposition: Content-Disposition, or None (extension data).
        language: Content-Language tags, or None (extension data).
        location: Content-Location URI, or None (extension data).
        extensions: Further extension data, not defined by the base protocol.
        extended: True if the wire form carried extension data (``BODYSTRUCTURE``).
    """

    parts: tuple[BodyStructure, ...]
    subtype: str
    params: Params = ()
    disposition: Disposition | None = None
    language: tuple[str, ...] | None = None
    location: str | None = None
    extensions: tuple[ExtensionValue, ...] = ()
    extended: bool = False

    @property
    def mime_type(self) -> str:
        """Return the lower-cased ``multipart/subtype``."""
        return f"multipart/{self.subtype.lower()}"

    def param(self, name: str) -> str | None:
        """Return the value of Content-Type parameter ``name`` (case-insensitive), or None."""
        return _find_param(self.params, name)

    def write(self, w: WireWriter) -> None:
        """Write the parenthesised multipart body (``BODY`` or ``BODYSTRUCTURE`` shape)."""
        w.open()
        for part in self.parts:
            part.write(w)
        if self.parts:
            w.sp()
        w.string(self.subtype)
        if self.extended:
            w.sp()
            _write_params(w, self.params)
            _write_extension_tail(w, self)
        w.close()


#: A body structure: a multipart node or a single part.
BodyStructure: TypeAlias = "SinglePart | MultiPart"


def part_at(bs: BodyStructure, path: tuple[int, ...]) -> BodyStructure | None:
    """Return the part that IMAP part number ``path`` names (RFC 9051 section 6.4.5.1).

    ``(2, 1)`` is section ``2.1``. A non-multipart message has only part 1, the body itself;
    the parts of a ``message/rfc822`` (or ``message/global``) part are numbered inside its
    encapsulated message, by the same rule. The empty path is the whole message.

    Args:
        bs: The message's body structure.
        path: The part numbers (1-based).

    Returns:
        The part, or None if the structure has no such part.
    """
    current = bs
    # The body whose parts the next number counts: a message's body or a multipart.
    container: BodyStructure | None = bs
    for n in path:
        if container is None:
            return None
        if isinstance(container, MultiPart):
            if not 1 <= n <= len(container.parts):
                return None
            current = container.parts[n - 1]
        elif n == 1:
            current = container
        else:
            return None
        container = current if isinstance(current, MultiPart) else current.body
    return current


# -- parsing --------------------------------------------------------------------------------

_new_single = fast_constructor(SinglePart)
_new_multi = fast_constructor(MultiPart)
_new_disposition = fast_constructor(Disposition)


def parse_body_structure(v: Value) -> BodyStructure:
    """Parse a ``body`` value (``BODY`` or ``BODYSTRUCTURE``), with the tolerances above.

    Args:
        v: The parenthesised body structure, as tokenized.

    Returns:
        A `SinglePart` or a `MultiPart`.

    Raises:
        RemoteProtocolError: The value is not a body structure.
    """
    try:
        return _body(v)
    except RecursionError:
        # Only reachable with a tokenizer depth limit raised far above the default.
        raise RemoteProtocolError("body structure nested too deeply") from None


def _body(v: Value) -> BodyStructure:
    if type(v) is not list or not v:
        raise RemoteProtocolError(f"expected body structure (a list), got {describe(v)}")
    n = len(v)
    type_ = v[0]
    if type(type_) is list or n == 1:
        return _multipart(v)
    subtype = v[1]
    if type(subtype) is list or (type(subtype) is str and subtype.upper() == "NIL"):
        return _multipart(v)  # a multipart without parts (Gmail)
    # Inline fast paths for the usual shapes (quoted strings, NIL, atom numbers); the helper
    # functions take the rest.
    if type(type_) is bytes:
        t = type_.decode(_UTF8, _ESCAPE)
    elif type(type_) is str and type_.upper() == "NIL" and (n < 7 or not _is_size(v[6])):
        return _multipart(v[1:])  # NIL in place of the parts (MailKit issue #1393)
    else:
        t = _field(type_, "body type")
    if n < 7:
        raise RemoteProtocolError("body part with fewer than 7 fields")
    st = subtype.decode(_UTF8, _ESCAPE) if type(subtype) is bytes else _string(subtype, "subtype")
    params = _params(v[2])
    x = v[3]
    id_ = x.decode(_UTF8, _ESCAPE) if type(x) is bytes else None if x == "NIL" else _text(x)
    x = v[4]
    desc = x.decode(_UTF8, _ESCAPE) if type(x) is bytes else None if x == "NIL" else _text(x)
    x = v[5]
    encoding = x.decode(_UTF8, _ESCAPE) if type(x) is bytes else _field(x, "body encoding")
    x = v[6]
    size = int(x) if type(x) is str and x.isdigit() and x.isascii() and len(x) < 19 else _size(x)
    lines = envelope = body = None
    i = 7
    tu = t.upper()
    if tu == "TEXT":
        if n > 7:
            x = v[7]
            if type(x) is str and x.isdigit() and x.isascii() and len(x) < 19:
                lines = int(x)
                i = 8
            elif _is_number(x):
                lines = _number(x, "body lines")
                i = 8
    elif tu == "MESSAGE" and n > 7 and type(v[7]) is list and st.upper() in _MESSAGE_SUBTYPES:
        envelope = parse_envelope(v[7])
        if n < 9:
            raise RemoteProtocolError("message part without its body structure")
        x = v[8]
        if type(x) is list:
            body = _body(x) if x else None
        elif type(x) is not str or x.upper() != "NIL":
            raise RemoteProtocolError(f"expected body structure (a list), got {describe(x)}")
        i = 9
        if n > 9 and _is_number(v[9]):
            lines = _number(v[9], "body lines")
            i = 10
    if i == n:
        return _new_single(
            t, st, params, id_, desc, encoding, size, lines, envelope, body,
            None, None, None, None, (), False,
        )  # fmt: skip
    x = v[i]
    md5 = x.decode(_UTF8, _ESCAPE) if type(x) is bytes else _loose_text(x)
    disposition, language, location, extensions = _extension_tail(v, i + 1)
    return _new_single(
        t, st, params, id_, desc, encoding, size, lines, envelope, body,
        md5, disposition, language, location, extensions, True,
    )  # fmt: skip


def _multipart(v: list[Value]) -> MultiPart:
    n = len(v)
    i = 0
    parts: list[BodyStructure] = []
    while i < n and type(v[i]) is list:
        parts.append(_body(v[i]))
        i += 1
    if i == n:
        raise RemoteProtocolError("multipart body structure without a subtype")
    st = v[i]
    st = st.decode(_UTF8, _ESCAPE) if type(st) is bytes else _string(st, "multipart subtype")
    i += 1
    if i == n:
        return _new_multi(tuple(parts), st, (), None, None, None, (), False)
    params = _loose_params(v[i])
    disposition, language, location, extensions = _extension_tail(v, i + 1)
    return _new_multi(tuple(parts), st, params, disposition, language, location, extensions, True)


def _extension_tail(
    v: list[Value], i: int
) -> tuple[Disposition | None, tuple[str, ...] | None, str | None, tuple[ExtensionValue, ...]]:
    """Read disposition, language, location and further extension data from ``v[i:]``.

    Each is optional and read leniently; the usual NIL is checked inline.
    """
    n = len(v)
    if i >= n:
        return None, None, None, ()
    x = v[i]
    disposition = None if type(x) is str and x == "NIL" else _disposition(x)
    if i + 1 >= n:
        return disposition, None, None, ()
    x = v[i + 1]
    language = None if type(x) is str and x == "NIL" else _language(x)
    if i + 2 >= n:
        return disposition, language, None, ()
    x = v[i + 2]
    location = x.decode(_UTF8, _ESCAPE) if type(x) is bytes else _loose_text(x)
    if i + 3 >= n:
        return disposition, language, location, ()
    return disposition, language, location, tuple(_extension(e) for e in v[i + 3 :])


def _string(v: Value, what: str) -> str:
    """Read a required string that is not a plain quoted string: an atom or a literal8."""
    if type(v) is str and v.upper() != "NIL":
        return v
    if isinstance(v, bytes):
        return v.decode(_UTF8, _ESCAPE)
    raise RemoteProtocolError(f"expected {what} (a string), got {describe(v)}")


def _field(v: Value, what: str) -> str:
    """Read a string of the basic fields where servers send ``NIL`` too (the empty string)."""
    if type(v) is str and v.upper() == "NIL":
        return ""
    return _string(v, what)


_text = text_or_nil


def _is_size(v: Value) -> bool:
    """Tell whether ``v`` is what a body part has as its size: a number, maybe negative."""
    if type(v) is str:
        return v.isascii() and (v.isdigit() or (v[:1] == "-" and v[1:].isdigit()))
    if type(v) is bytes:  # bytes.isdigit() is ASCII only
        return v.isdigit() or (v[:1] == b"-" and v[1:].isdigit())
    return False


def _size(v: Value) -> int:
    """Read ``body-fld-octets``; a negative number (Dovecot, SmarterMail) reads as 0."""
    if _is_size(v) and not v.isdigit():  # type: ignore[union-attr]
        return 0
    return _number(v, "body size")


def _is_number(v: Value) -> bool:
    """Tell whether ``v`` is a number, or a number sent as a string."""
    if type(v) is str or type(v) is bytes:
        return v.isdigit() and v.isascii()
    return False


def _number(v: Value, what: str) -> int:
    """Read a ``number`` or ``number64``, also when sent as a quoted string."""
    if isinstance(v, (str, bytes)) and v.isdigit() and v.isascii() and len(v) <= 19:
        n = int(v)
        if n <= UINT63:
            return n
    raise RemoteProtocolError(f"expected {what} (a number)")


def _params(v: Value) -> Params:
    """Read a ``body-fld-param``: ``NIL``, ``()`` or name/value string pairs."""
    if type(v) is list:
        n = len(v)
        if n == 2:  # the usual single parameter (CHARSET, NAME)
            a, b = v
            if type(a) is bytes and type(b) is bytes:
                return ((a.decode(_UTF8, _ESCAPE), b.decode(_UTF8, _ESCAPE)),)
        if n & 1:
            raise RemoteProtocolError("body parameter list with an odd number of strings")
        out = []
        for j in range(0, n, 2):
            a = v[j]
            b = v[j + 1]
            out.append(
                (
                    a.decode(_UTF8, _ESCAPE) if type(a) is bytes else _field(a, "parameter"),
                    b.decode(_UTF8, _ESCAPE) if type(b) is bytes else _field(b, "parameter"),
                )
            )
        return tuple(out)
    if type(v) is str and v.upper() == "NIL":
        return ()
    raise RemoteProtocolError(f"expected body parameters (a list or NIL), got {describe(v)}")


def _loose_params(v: Value) -> Params:
    """Read parameters in extension data, where a malformed list counts as none."""
    try:
        return _params(v)
    except RemoteProtocolError:
        return ()


def _loose_text(v: Value) -> str | None:
    """Read an ``nstring`` in extension data: anything else counts as NIL."""
    if type(v) is str:
        return None if v.upper() == "NIL" else v
    if isinstance(v, bytes):
        return v.decode(_UTF8, _ESCAPE)
    return None


def _disposition(v: Value) -> Disposition | None:
    """Read a ``body-fld-dsp`` leniently (see the module docstring)."""
    if type(v) is list:
        # (NIL NIL) from Exchange, and other lists without a type or parameters, count as no
        # disposition; (NIL ("FILENAME" "x")) keeps its parameters.
        dtype = _loose_text(v[0]) if v else None
        params = _loose_params(v[1]) if len(v) > 1 else ()
        if dtype is None and params:
            dtype = ""
    else:
        dtype = _loose_text(v)
        params = ()
    return None if dtype is None else _new_disposition(dtype, params)


def _language(v: Value) -> tuple[str, ...] | None:
    """Read a ``body-fld-lang``: one string, a list of strings, or NIL."""
    if type(v) is bytes:
        return (v.decode(_UTF8, _ESCAPE),)
    if type(v) is list:
        tags = tuple(t for t in (_loose_text(x) for x in v) if t is not None)
        return tags or None
    text = _loose_text(v)
    return None if text is None else (text,)


def _extension(v: Value) -> ExtensionValue:
    """Convert one ``body-extension`` to immutable form."""
    if type(v) is bytes:
        return v.decode(_UTF8, _ESCAPE)
    if type(v) is str:
        if v.isdigit() and v.isascii() and len(v) <= 19:
            return int(v)
        return None if v.upper() == "NIL" else v
    if type(v) is list:
        return tuple(_extension(x) for x in v)
    if isinstance(v, bytes):
        return v.decode(_UTF8, _ESCAPE)
    return None  # a streamed literal: no place to keep it


# -- writing --------------------------------------------------------------------------------


def _write_params(w: WireWriter, params: Params) -> None:
    if not params:
        w.nil()
        return
    w.open()
    for j, (name, value) in enumerate(params):
        if j:
            w.sp()
        w.string(name)
        w.sp()
        w.string(value)
    w.close()


def _write_extension_tail(w: WireWriter, part: SinglePart | MultiPart) -> None:
    """Write the extension fields both part kinds share, each after a space: disposition,
    language, location, then further extension data."""
    w.sp()
    if part.disposition is None:
        w.nil()
    else:
        part.disposition.write(w)
    language = part.language
    w.sp()
    if not language:
        w.nil()
    elif len(language) == 1:
        w.string(language[0])
    else:
        w.open()
        for j, tag in enumerate(language):
            if j:
                w.sp()
            w.string(tag)
        w.close()
    w.sp()
    w.nstring(part.location)
    for ext in part.extensions:
        w.sp()
        _write_extension(w, ext)


def _write_extension(w: WireWriter, ext: ExtensionValue) -> None:
    if ext is None:
        w.nil()
    elif isinstance(ext, str):
        w.string(ext)
    elif isinstance(ext, int):
        w.number(ext)
    else:
        w.open()
        for j, item in enumerate(ext):
            if j:
                w.sp()
            _write_extension(w, item)
        w.close()
