"""Interface shared by every SASL mechanism (RFC 4422).

Mechanisms are sans-I/O state machines over raw payload bytes: the IMAP layer base64-codes
them for ``AUTHENTICATE`` (RFC 9051 section 6.2.2) and for the SASL-IR initial response
(RFC 4959). A client mechanism produces the client's messages; a server mechanism checks them
through application callbacks and records the authenticated identity.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from ..errors import ImapWireError

__all__ = ["ClientMechanism", "SaslError", "ServerMechanism"]


class SaslError(ImapWireError):
    """Authentication exchange failed (bad message, bad proof...).

    The text is safe to log or show: it never contains credentials or payload bytes.
    """


class ClientMechanism(abc.ABC):
    """The client side of one authentication exchange (RFC 4422 section 3).

    Attributes:
        name: The registered mechanism name, as sent in ``AUTHENTICATE``.
    """

    __slots__ = ()
    name: ClassVar[str]

    @abc.abstractmethod
    def initial_response(self) -> bytes | None:
        """Return the initial client response (RFC 4422 section 3.3).

        Returns:
            The payload to send with the command (SASL-IR, RFC 4959), or None when the
            mechanism has nothing to send first and waits for a server challenge.
        """
        ...

    @abc.abstractmethod
    def respond(self, challenge: bytes) -> bytes:
        """Return the client message answering a server challenge (RFC 4422 section 3.4).

        Args:
            challenge: The decoded server challenge.

        Returns:
            The next client response.

        Raises:
            SaslError: The challenge is malformed or unexpected at this point.
        """
        ...

    @property
    @abc.abstractmethod
    def complete(self) -> bool:
        """True once the client has nothing more to send."""
        ...


class ServerMechanism(abc.ABC):
    """The server side of one authentication exchange (RFC 4422 section 3).

    Attributes:
        name: The registered mechanism name.
    """

    __slots__ = ()
    name: ClassVar[str]

    @abc.abstractmethod
    def start(self, initial_response: bytes | None) -> bytes | None:
        """Begin the exchange (RFC 4422 section 3.3).

        Args:
            initial_response: The client's initial response, or None when it sent none.

        Returns:
            The first challenge to send, or None when authentication succeeded already.

        Raises:
            SaslError: The response is malformed or the credentials are wrong.
        """
        ...

    @abc.abstractmethod
    def respond(self, response: bytes) -> bytes | None:
        """Process a client response (RFC 4422 section 3.4).

        Args:
            response: The decoded client response.

        Returns:
            The next challenge, or None when authentication succeeded.

        Raises:
            SaslError: The response is malformed or the credentials are wrong.
        """
        ...

    @property
    @abc.abstractmethod
    def authcid(self) -> str | None:
        """The authentication identity, set once verified (RFC 4422 section 2)."""
        ...

    @property
    @abc.abstractmethod
    def authzid(self) -> str | None:
        """The authorization identity requested, set once verified (RFC 4422 section 2)."""
        ...

    @property
    @abc.abstractmethod
    def complete(self) -> bool:
        """True once the exchange ended in success."""
        ...


class OneMessageClient(ClientMechanism):
    """A client whose whole part is one message, sent as the initial response or after the
    server's empty challenge (PLAIN, EXTERNAL, ANONYMOUS).

    Subclasses compute the message and pass it to ``__init__``; it never shows in ``repr``.
    """

    __slots__ = ("_done", "_message")

    def __init__(self, message: bytes) -> None:
        self._message = message
        self._done = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(complete={self._done!r})"

    def initial_response(self) -> bytes:
        """Return the message."""
        self._done = True
        return self._message

    def respond(self, challenge: bytes) -> bytes:
        """Send the message after the server's empty challenge (no SASL-IR).

        Raises:
            SaslError: The challenge is not empty, or the message was already sent.
        """
        if self._done or challenge:
            raise SaslError(f"unexpected {self.name} challenge")
        return self.initial_response()

    @property
    def complete(self) -> bool:
        """True once the message was produced."""
        return self._done


class VerifyingServer(ServerMechanism):
    """A server that records who it verified: the identities and the state of the exchange.

    Subclasses move ``_state`` on from ``"new"`` and call `_succeed` once the client is
    verified (``"failed"`` marks an exchange that can only fail from then on).
    """

    __slots__ = ("_authcid", "_authzid", "_state")

    def __init__(self) -> None:
        self._authcid: str | None = None
        self._authzid: str | None = None
        self._state = "new"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(authcid={self._authcid!r}, complete={self.complete!r})"

    def _succeed(self, authcid: str, authzid: str | None = None) -> None:
        self._authcid = authcid
        self._authzid = authcid if authzid is None else authzid
        self._state = "done"

    @property
    def authcid(self) -> str | None:
        """The verified authentication identity."""
        return self._authcid

    @property
    def authzid(self) -> str | None:
        """The identity to act as: the one requested, or `authcid` when none was."""
        return self._authzid

    @property
    def complete(self) -> bool:
        """True once the client was verified."""
        return self._state == "done"


class OneMessageServer(VerifyingServer):
    """A server for mechanisms whose client sends one message: as its initial response, or
    after an empty challenge. Subclasses verify it in `_finish`.
    """

    __slots__ = ()

    def start(self, initial_response: bytes | None) -> bytes | None:
        """Take the initial response, or ask for the message with an empty challenge."""
        if self._state != "new":
            raise SaslError(f"{self.name} exchange already started")
        if initial_response is None:
            self._state = "waiting"
            return b""
        return self._finish(initial_response)

    def respond(self, response: bytes) -> bytes | None:
        """Take the message sent after the empty challenge."""
        if self._state != "waiting":
            raise SaslError(f"unexpected {self.name} response")
        return self._finish(response)

    @abc.abstractmethod
    def _finish(self, message: bytes) -> bytes | None:
        """Verify the client's message; return a further challenge, or None on success."""
        ...
