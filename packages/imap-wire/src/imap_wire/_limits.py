"""Configurable bounds on what the parser accepts."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CLIENT_LIMITS", "DEFAULT_SERVER_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on one connection's input; each is enforced and reported as `LimitExceeded`.

    Attributes:
        max_line_length: Octets of command or response text in one logical line, literal
            contents excluded (RFC 7162 section 4 recommends accepting at least 8192).
        max_literal_size: Octets in one literal.
        max_inline_literals: Total octets of literals held in memory for one line; literals
            larger than the connection's streaming threshold are streamed and do not count.
        max_depth: Nesting depth of parenthesised lists.
        max_items: Tokens (atoms, strings, parentheses) in one logical line.
        literal_minus_max: Largest non-synchronizing literal accepted when the server
            advertises LITERAL- instead of LITERAL+ (RFC 7888 section 5).
        max_unauthenticated_literal: Largest literal a server accepts before the client has
            authenticated (a user name or password needs little).
    """

    max_line_length: int = 65_536
    max_literal_size: int = 64 * 1024 * 1024
    max_inline_literals: int = 16 * 1024 * 1024
    max_depth: int = 64
    max_items: int = 200_000
    literal_minus_max: int = 4096
    max_unauthenticated_literal: int = 8192


#: What a server accepts from a client by default.
DEFAULT_SERVER_LIMITS = Limits()

#: What a client accepts from a server by default: servers send large bodies and long
#: responses (a FETCH of many messages is one line per message, but SEARCH results are long).
DEFAULT_CLIENT_LIMITS = Limits(
    max_line_length=16 * 1024 * 1024,
    max_literal_size=1 << 40,
    max_inline_literals=256 * 1024 * 1024,
    max_items=2_000_000,
)
