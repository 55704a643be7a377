"""Shared fixtures for the imap-wire tests: the RFC example corpus.

Every ``C:`` and ``S:`` example line of sections 6 and 7 of RFC 9051 and RFC 3501 is
extracted automatically from the RFC text (found through ``$IMAP_RFC_DIR``, else in the ``rfc``
folder next to this file, which holds the RFC Editor's original texts):
wrapped lines are joined, literals are reassembled from the content lines that follow their
``{n}`` announcement, and lines that are not commands or responses are skipped for the reasons
listed in `SKIPPED_LINES`. The corpus is computed once, at import time, so hypothesis tests
(which cannot use function-scoped fixtures) and `pytest_generate_tests` can use it.

Test modules cannot import this file (``--import-mode=importlib``); they get the corpus
through fixtures: ``rfc_examples`` (every example), ``rfc_skipped`` (what was skipped, and
why), and the parameters ``rfc_command``, ``rfc_response`` and ``rfc_example`` that
`pytest_generate_tests` fills in, one test per example. A test module may hold a dict
``KNOWN_FAILURES`` mapping ``"<test function>[<example id>]"`` to a reason: those
parametrizations are marked as strict xfails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_RFC_FILES = ("rfc9051.txt", "rfc3501.txt")


def _find_rfc_dir() -> Path | None:
    here = Path(__file__).resolve().parent
    env = os.environ.get("IMAP_RFC_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(here / "rfc")
    for folder in candidates:
        if all((folder / name).is_file() for name in _RFC_FILES):
            return folder
    return None


#: Where the RFC texts were found; None when they were not (test_corpus_is_large fails then).
RFC_DIR = _find_rfc_dir()
CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class RfcExample:
    """One command (``C:``) or response (``S:``) of an RFC example, as wire bytes.

    Attributes:
        rfc: RFC number (9051 or 3501).
        line: Line number (1-based) of the example's first line in the RFC text.
        direction: ``"C"`` for a client command, ``"S"`` for a server response.
        data: The complete command or response, CRLF line endings, literals included.
        literals: The contents of the literals in ``data``, in order.
        note: What the extractor had to fix up (e.g. a miscounted literal), or "".
    """

    rfc: int
    line: int
    direction: str
    data: bytes
    literals: tuple[bytes, ...] = ()
    note: str = ""

    @property
    def id(self) -> str:
        """Stable name for test ids and `KNOWN_FAILURES` keys: ``rfc9051-L1250-C``."""
        return f"rfc{self.rfc}-L{self.line}-{self.direction}"


@dataclass(frozen=True, slots=True)
class SkippedLine:
    """An example line the extractor did not turn into an `RfcExample`."""

    rfc: int
    line: int
    text: str
    reason: str


# Reasons for skipping an example line. Each skipped line in `SKIPPED_LINES` has one of them.
DONE = "C: DONE ends IDLE; it is not a command"
SASL = "SASL data line of an AUTHENTICATE exchange (base64, not a command)"
ELLIPSIS = "abbreviated with '...' in the RFC: not a complete line"
NO_CONTENT = "literal announced but its content is not shown (the server rejects the command)"

# The example lines skipped, by (RFC, line number) -> reason. The extractor decides by rule;
# test_rfc_examples.py checks that exactly these lines were skipped, so a change in the RFC
# text or in the extractor cannot silently drop (or add) examples.
SKIPPED_LINES: dict[tuple[int, int], str] = {
    # RFC 9051, section 6.2.2 (AUTHENTICATE GSSAPI and PLAIN examples).
    (9051, 1526): SASL,
    (9051, 1543): SASL,  # empty SASL response
    (9051, 1546): SASL,
    (9051, 1576): SASL,
    # RFC 9051, section 6.3.13 (IDLE).
    (9051, 3603): DONE,
    (9051, 3607): ELLIPSIS,  # S: * 4 FETCH (...)
    (9051, 3618): DONE,
    (9051, 3621): ELLIPSIS,  # S: * 3 FETCH (...)
    # RFC 9051, section 6.4.4.1 (SEARCHRES examples).
    (9051, 4166): ELLIPSIS,
    (9051, 4167): ELLIPSIS,
    (9051, 4168): ELLIPSIS,
    (9051, 4179): ELLIPSIS,
    (9051, 4180): ELLIPSIS,
    (9051, 4181): ELLIPSIS,
    # RFC 9051, section 6.4.5 (FETCH).
    (9051, 4466): ELLIPSIS,
    (9051, 4467): ELLIPSIS,
    (9051, 4468): ELLIPSIS,
    # RFC 9051, section 7.1 (LIMIT, BAD examples).
    (9051, 5137): ELLIPSIS,  # C: m STORE 42 FLAGS f1 f2 f3 f4 f5 ... f250
    (9051, 5327): ELLIPSIS,  # C: ...very long command line...
    (9051, 5329): ELLIPSIS,  # C: ...empty line...
    # RFC 9051, section 7.6 (command continuation request).
    (9051, 6199): NO_CONTENT,  # C: A044 BLURDYBLOOP {102856}
    # RFC 3501, section 6.2.2 (AUTHENTICATE GSSAPI).
    (3501, 1634): SASL,
    (3501, 1651): SASL,  # empty SASL response
    (3501, 1654): SASL,
    # RFC 3501, section 6.4.5 (FETCH).
    (3501, 3208): ELLIPSIS,
    (3501, 3209): ELLIPSIS,
    (3501, 3210): ELLIPSIS,
    # RFC 3501, section 7.1.3 (BAD).
    (3501, 3703): ELLIPSIS,  # C: ...very long command line...
    (3501, 3705): ELLIPSIS,  # C: ...empty line...
    # RFC 3501, section 7.5 (command continuation request).
    (3501, 4410): NO_CONTENT,  # C: A044 BLURDYBLOOP {102856}
}

_MARKER = re.compile(r"^(?P<lead>\s*(?:Examples?:\s+)?)(?P<dir>[CS]):(?: (?P<text>.*))?$")
# Non-example lines that can sit between or after example lines at an example's indentation:
# <TLS negotiation ...>, "...time passes...", ". . .", "[...]", "//" comments, and prose.
_ANNOTATION = re.compile(
    r"^(?:<.*>|\.\.\..*|\. \. \.|\[\.\.\..*\]|//.*|\(Server and client then close.*\))$"
)
_LITERAL_AT_END = re.compile(r"(~?)\{([0-9]+)(\+?)\}$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=]+$")
_PAGE_FOOTER = re.compile(r"^\S.*\s\[Page \d+\]$")
_PAGE_HEADER = re.compile(r"^RFC \d+\s.*\s\d{4}$")
_SECTION_START = re.compile(r"^6\.\s+Client Commands\s*$")
_SECTION_END = re.compile(r"^8\.\s+Sample")
_AUTHENTICATE = re.compile(r"^\S+ AUTHENTICATE\b", re.IGNORECASE)


def _rfc_lines(text: str) -> list[tuple[int, str]]:
    """Return (line number, text) of sections 6 and 7, pagination removed."""
    raw = text.replace("\r\n", "\n").split("\n")
    # RFC 3501 is paginated: drop each page's footer, form feed and header, and the blank
    # lines around them, so an example split by a page break reads as one block.
    drop: set[int] = set()
    for i, line in enumerate(raw):
        if "\f" in line or _PAGE_FOOTER.match(line) or _PAGE_HEADER.match(line):
            drop.add(i)
    for i in sorted(drop):
        j = i - 1
        while j >= 0 and j not in drop and not raw[j].strip():
            drop.add(j)
            j -= 1
        j = i + 1
        while j < len(raw) and j not in drop and not raw[j].strip():
            drop.add(j)
            j += 1
    lines = [(i + 1, line.rstrip()) for i, line in enumerate(raw) if i not in drop]
    start = next(k for k, (_, t) in enumerate(lines) if _SECTION_START.match(t))
    end = next(k for k, (_, t) in enumerate(lines) if k > start and _SECTION_END.match(t))
    return lines[start:end]


@dataclass(slots=True)
class _Item:
    line: int
    direction: str
    text: str


def _marker_items(text: str) -> list[_Item]:
    """Find the example lines and join the lines the RFC text wrapped."""
    lines = _rfc_lines(text)
    items: list[_Item] = []
    k = 0
    while k < len(lines):
        lineno, line = lines[k]
        k += 1
        m = _MARKER.match(line)
        if m is None:
            continue
        column = len(m.group("lead"))
        text = m.group("text") or ""
        # A wrapped line continues at or beyond the marker's column (RFC 3501 wraps at the
        # column of "C:", RFC 9051 usually deeper), up to a blank line or the next marker.
        while k < len(lines):
            cont = lines[k][1]
            stripped = cont.strip()
            indent = len(cont) - len(cont.lstrip())
            if not stripped or indent < column or _MARKER.match(cont):
                break
            if _ANNOTATION.match(stripped):
                k += 1
                continue
            k += 1
            if text.startswith("+ ") and _BASE64.match(stripped) and _BASE64.match(text[2:]):
                text += stripped  # base64 wrapped mid-token (SASL challenge)
            elif _BASE64.match(text) and _BASE64.match(stripped):
                text += stripped  # SASL response (skipped later, but keep it whole)
            elif text.endswith(")") and stripped.startswith("(") and ")(" in text + stripped:
                text += stripped  # NAMESPACE lists: the RFC writes ")(" without a space
            else:
                text += " " + stripped
        items.append(_Item(lineno, m.group("dir"), text))
    return items


def _collect_literal(size: int, content: list[_Item]) -> tuple[bytes, bytes, int, str]:
    """Take a literal's octets from the content lines that follow its announcement.

    Args:
        size: The declared octet count.
        content: The same-direction lines after the announcement (consumed from the front).

    Returns:
        (literal octets, the rest of the logical line after them (no CRLF), the literal's
        actual size, a note when the declared size had to be fixed up).
    """
    buf = bytearray()
    used = 0
    while len(buf) < size and used < len(content):
        buf += content[used].text.encode("utf-8") + CRLF
        used += 1
    if len(buf) >= size:
        rest = bytes(buf[size:])
        if rest:
            # The literal ends inside a line: what follows must continue the command.
            tail = rest[:-2]
            if tail == b"" or tail[:1] in (b" ", b")"):
                del content[:used]
                return bytes(buf[:size]), tail, size, ""
        elif used < len(content):
            nxt = content[used].text
            if nxt == "" or nxt[:1] in (" ", ")"):
                del content[: used + 1]
                return bytes(buf), nxt.encode("utf-8"), size, ""
    # Miscounted (or abbreviated): the literal is every content line, each with its CRLF;
    # a final empty line is the CRLF that ends the command, not part of the literal.
    lines = [c.text for c in content]
    del content[:]
    if lines and lines[-1] == "":
        lines.pop()
        data = b"".join(t.encode("utf-8") + CRLF for t in lines)
    else:
        data = CRLF.join(t.encode("utf-8") for t in lines)
    return data, b"", len(data), f"literal declared as {size} octets, content is {len(data)}"


def _is_skipped_by_rule(item: _Item, in_sasl: bool) -> str | None:
    if "..." in item.text:
        return ELLIPSIS
    if item.direction == "C":
        if item.text.upper() == "DONE":
            return DONE
        if in_sasl:
            return SASL
    return None


def extract_examples(text: str, rfc: int) -> tuple[list[RfcExample], list[SkippedLine]]:
    """Extract the examples of sections 6 and 7 of an RFC.

    Args:
        text: The RFC's text.
        rfc: The RFC's number (recorded in each example).

    Returns:
        The examples in RFC order, and the example lines skipped with their reasons.
    """
    items = _marker_items(text)
    examples: list[RfcExample] = []
    skipped: list[SkippedLine] = []
    in_sasl = False
    k = 0
    while k < len(items):
        item = items[k]
        k += 1
        reason = _is_skipped_by_rule(item, in_sasl)
        if reason is not None:
            skipped.append(SkippedLine(rfc, item.line, item.text, reason))
            continue
        if item.direction == "S" and not item.text.startswith(("+", "*")):
            in_sasl = False  # a tagged completion ends an AUTHENTICATE exchange
        if item.direction == "C" and _AUTHENTICATE.match(item.text):
            in_sasl = True
        m = _LITERAL_AT_END.search(item.text)
        if m is None:
            examples.append(
                RfcExample(rfc, item.line, item.direction, item.text.encode("utf-8") + CRLF)
            )
            continue
        # Gather the same-direction lines that follow; continuation requests ("S: +") in
        # between are examples of their own, emitted in order.
        content: list[_Item] = []
        between: list[_Item] = []
        j = k
        while j < len(items):
            nxt = items[j]
            if nxt.direction == item.direction:
                if nxt.direction == "C" and (_AUTHENTICATE.match(nxt.text) or "..." in nxt.text):
                    break
                content.append(nxt)
            elif nxt.text.startswith("+"):
                between.append(nxt)
            else:
                break
            j += 1
        if not content:
            skipped.append(SkippedLine(rfc, item.line, item.text, NO_CONTENT))
            continue
        total_content = len(content)
        data = bytearray()
        contents: list[bytes] = []
        notes: list[str] = []
        line = item.text.encode("utf-8")
        while True:
            lm = _LITERAL_AT_END.search(line.decode("utf-8"))
            if lm is None or not content:
                data += line + CRLF
                break
            declared = int(lm.group(2))
            literal, rest, actual, note = _collect_literal(declared, content)
            if actual != declared:
                line = line[: lm.start()] + f"{lm.group(1)}{{{actual}{lm.group(3)}}}".encode()
                notes.append(note)
            data += line + CRLF + literal
            contents.append(literal)
            line = rest
        # The continuation requests up to the literals' last line are emitted after the
        # command; content lines the literals did not use (pipelined commands) and later
        # lines stay in the queue, in order.
        same_direction = [c for c in items[k:j] if c.direction == item.direction]
        used = {id(c) for c in same_direction[: total_content - len(content)]}
        last = max(c.line for c in items[k:j] if id(c) in used)
        requests = [b for b in between if b.line < last]
        examples.append(
            RfcExample(
                rfc,
                item.line,
                item.direction,
                bytes(data),
                literals=tuple(contents),
                note="; ".join(notes),
            )
        )
        for b in requests:
            examples.append(RfcExample(rfc, b.line, b.direction, b.text.encode("utf-8") + CRLF))
        done = used | {id(b) for b in requests}
        items[k:j] = [c for c in items[k:j] if id(c) not in done]
    return examples, skipped


def _extract_all() -> tuple[tuple[RfcExample, ...], tuple[SkippedLine, ...]]:
    examples: list[RfcExample] = []
    skipped: list[SkippedLine] = []
    if RFC_DIR is None:
        return (), ()
    for rfc in (9051, 3501):
        text = (RFC_DIR / f"rfc{rfc}.txt").read_text(encoding="utf-8-sig")
        ex, sk = extract_examples(text, rfc)
        examples += ex
        skipped += sk
    return tuple(examples), tuple(skipped)


RFC_EXAMPLES, RFC_SKIPPED = _extract_all()
RFC_COMMANDS = tuple(e for e in RFC_EXAMPLES if e.direction == "C")
RFC_RESPONSES = tuple(e for e in RFC_EXAMPLES if e.direction == "S")


@pytest.fixture(scope="session")
def rfc_dir() -> Path | None:
    """The folder the RFC texts were read from, or None if they were not found."""
    return RFC_DIR


@pytest.fixture(scope="session")
def rfc_examples() -> tuple[RfcExample, ...]:
    """Every extracted RFC example, commands and responses, in RFC order."""
    return RFC_EXAMPLES


@pytest.fixture(scope="session")
def rfc_skipped() -> tuple[SkippedLine, ...]:
    """The example lines the extractor skipped, with their reasons."""
    return RFC_SKIPPED


@pytest.fixture(scope="session")
def rfc_expected_skips() -> dict[tuple[int, int], str]:
    """The explicit list of lines that must be skipped (`SKIPPED_LINES`)."""
    return SKIPPED_LINES


@pytest.fixture(scope="session")
def rfc_extract() -> Callable[[str, int], tuple[list[RfcExample], list[SkippedLine]]]:
    """The extractor itself, to run on other text: ``rfc_extract(text, rfc)``."""
    return extract_examples


def _params(
    examples: tuple[RfcExample, ...], function: str, known: dict[str, str]
) -> Iterator[object]:
    for ex in examples:
        reason = known.get(f"{function}[{ex.id}]")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(ex, id=ex.id, marks=marks)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``rfc_command``, ``rfc_response`` and ``rfc_example`` over the corpus."""
    known: dict[str, str] = getattr(metafunc.module, "KNOWN_FAILURES", {})
    name = metafunc.function.__name__
    for argname, corpus in (
        ("rfc_command", RFC_COMMANDS),
        ("rfc_response", RFC_RESPONSES),
        ("rfc_example", RFC_EXAMPLES),
    ):
        if argname in metafunc.fixturenames:
            metafunc.parametrize(argname, list(_params(corpus, name, known)))
