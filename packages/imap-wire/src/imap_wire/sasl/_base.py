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
