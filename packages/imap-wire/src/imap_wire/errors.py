"""Errors raised by `imap_wire`.

Every error the package raises on purpose derives from `ImapWireError`. Protocol errors say
which side is at fault (`LocalProtocolError`: we tried to send something invalid;
`RemoteProtocolError`: the peer sent something invalid or over a limit), as h11 does, and a
remote error carries what a server should answer: a tagged ``BAD`` for the command's tag where
there is one, ``NO [TOOBIG]`` for an oversized literal, or ``BYE`` when the connection cannot
go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._responses import StatusResponse

__all__ = [
    "ImapWireError",
    "LimitExceeded",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
]


class ImapWireError(Exception):
    """Base class of every error `imap_wire` raises."""


class ProtocolError(ImapWireError):
    """A violation of the IMAP grammar or of a configured limit.

    Attributes:
        text: Human-readable description, safe to send to the peer (never echoes credentials).
        tag: Tag of the command the error belongs to, if known.
        status: ``"BAD"``, ``"NO"`` or ``"BYE"``: the status of the response to send.
        code: Response code name to send with it (``"TOOBIG"``, ``"PARSE"``, ...), if any.
        fatal: True when the connection cannot continue (the stream cannot be resynchronised).
    """

    def __init__(
        self,
        text: str,
        *,
        tag: str | None = None,
        status: str = "BAD",
        code: str | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(text)
        self.text = text
        self.tag = tag
        self.status = status
        self.code = code
        self.fatal = fatal

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.text!r}, tag={self.tag!r}, status={self.status!r}, "
            f"code={self.code!r}, fatal={self.fatal!r})"
        )


class LocalProtocolError(ProtocolError):
    """We were asked to encode something the protocol cannot express."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something malformed, or something over a configured limit."""

    @property
    def response(self) -> StatusResponse:
        """The status response a server sends for this error (RFC 9051 section 7.1)."""
        from ._response_codes import response_code
        from ._responses import ResponseStatus, StatusResponse

        if self.fatal or self.status == "BYE":
            status, tag = ResponseStatus.BYE, None
        else:
            status, tag = ResponseStatus(self.status), self.tag
        code = response_code(self.code) if self.code else None
        return StatusResponse(tag=tag, status=status, code=code, text=self.text)


class LimitExceeded(RemoteProtocolError):
    """The peer's input went over one of the configured `Limits`."""
