"""Exceptions a command handler raises to answer ``NO`` or ``BAD``."""

from __future__ import annotations

from imap_wire import ResponseCode, ResponseStatus, StatusResponse, response_code

__all__ = ["AuthenticationFailed", "CommandFailed", "ConnectionClosedError"]


class CommandFailed(Exception):
    """Ends the command with a tagged ``NO`` (or ``BAD``), optionally with a response code.

    Args:
        text: Human-readable text of the response.
        code: A response code: a name such as ``"TRYCREATE"`` or a `ResponseCode`.
        bad: Answer ``BAD`` (the command was malformed or not valid now) instead of ``NO``.
    """

    def __init__(self, text: str, *, code: str | ResponseCode | None = None, bad: bool = False):
        super().__init__(text)
        self.text = text
        self.code: ResponseCode | None = response_code(code) if isinstance(code, str) else code
        self.status = ResponseStatus.BAD if bad else ResponseStatus.NO

    def response(self, tag: str) -> StatusResponse:
        return StatusResponse(tag=tag, status=self.status, code=self.code, text=self.text)


class AuthenticationFailed(CommandFailed):
    """Wrong credentials (``NO [AUTHENTICATIONFAILED]``)."""

    def __init__(self, text: str = "Authentication failed", *, code: str = "AUTHENTICATIONFAILED"):
        super().__init__(text, code=code)


class ConnectionClosedError(Exception):
    """The client went away (or must be dropped) in the middle of a command."""
