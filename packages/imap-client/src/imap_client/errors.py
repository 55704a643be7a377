"""The client's exceptions: one root, command failures apart from connection failures."""

from __future__ import annotations

from imap_wire import ResponseCode, ResponseStatus, StatusResponse

__all__ = [
    "AuthenticationFailed",
    "CommandFailed",
    "ConnectionLost",
    "ImapConnectionError",
    "ImapError",
    "ImapTimeout",
    "InvalidCommand",
    "MissingCapability",
    "ProtocolViolation",
]


class ImapError(Exception):
    """The root of every exception this package raises."""


class CommandFailed(ImapError):
    """The server answered a command with ``NO`` or ``BAD``.

    Attributes:
        response: The tagged response.
        command: The command's name (``"UID FETCH"``).
    """

    def __init__(self, command: str, response: StatusResponse) -> None:
        self.command = command
        self.response = response
        code = f" [{response.code.name}]" if response.code is not None else ""
        super().__init__(f"{command} failed: {response.status.value}{code} {response.text}")

    @property
    def status(self) -> ResponseStatus:
        """``NO`` or ``BAD``."""
        return self.response.status

    @property
    def code(self) -> ResponseCode | None:
        """The response code (``TRYCREATE``, ``NONEXISTENT``, ...), if any."""
        return self.response.code

    @property
    def code_name(self) -> str | None:
        """The response code's name, upper case, if any."""
        return None if self.response.code is None else self.response.code.name.upper()


class AuthenticationFailed(CommandFailed):
    """LOGIN or AUTHENTICATE was refused."""


class InvalidCommand(ImapError, ValueError):
    """The command cannot be sent: not valid in the connection's state (FETCH with no mailbox
    selected), or an argument IMAP cannot express. Nothing was sent."""


class ImapConnectionError(ImapError):
    """The connection could not be made, or broke."""


class ConnectionLost(ImapConnectionError):
    """The connection ended while a command was pending (or before it could be sent).

    Attributes:
        bye: The server's ``BYE`` text, if it said goodbye first.
    """

    def __init__(self, message: str, *, bye: str | None = None) -> None:
        super().__init__(message)
        self.bye = bye


class ImapTimeout(ImapError, TimeoutError):
    """Connecting, a command, or an IDLE wait took longer than its timeout."""


class ProtocolViolation(ImapConnectionError):
    """The server sent something that cannot be IMAP; the connection was closed."""


class MissingCapability(ImapError):
    """The server lacks a capability the call needs; nothing was sent.

    Attributes:
        capability: The capability missing (``"UIDPLUS"``, ``"MOVE"`` ...).
    """

    def __init__(self, capability: str, detail: str | None = None) -> None:
        self.capability = capability
        super().__init__(detail or f"the server does not offer {capability}")
