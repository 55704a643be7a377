"""SASL mechanisms for IMAP ``AUTHENTICATE`` (RFC 4422, RFC 9051 section 6.2.2).

Mechanisms are sans-I/O: they turn decoded challenges into responses and back, and the IMAP
layer base64-codes the payloads (and sends the initial response inline with SASL-IR,
RFC 4959). Servers verify through callbacks the application passes to each mechanism.

`CLIENT_MECHANISMS` and `SERVER_MECHANISMS` map each registered mechanism name to its class.
They are built once at import and never changed; an application that wants to offer a
different set copies one (``dict(SERVER_MECHANISMS)``) and edits the copy. Constructors
differ by mechanism, so a registry tells which names are known, not how to build them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._base import ClientMechanism, SaslError, ServerMechanism
from ._oauth import (
    OAuthBearerClient,
    OAuthBearerServer,
    TokenValidator,
    XOAuth2Client,
    XOAuth2Server,
)
from ._scram import (
    ScramClient,
    ScramCredentials,
    ScramServer,
    ScramSha1Client,
    ScramSha1PlusClient,
    ScramSha1PlusServer,
    ScramSha1Server,
    ScramSha256Client,
    ScramSha256PlusClient,
    ScramSha256PlusServer,
    ScramSha256Server,
    saslprep,
    scram_client,
    scram_server,
)
from ._simple import (
    AnonymousClient,
    AnonymousServer,
    AuthorizeCallback,
    CramMd5Client,
    CramMd5Server,
    ExternalClient,
    ExternalServer,
    LoginClient,
    LoginServer,
    PasswordCallback,
    PasswordLookup,
    PlainClient,
    PlainServer,
)

__all__ = [
    "CLIENT_MECHANISMS",
    "SERVER_MECHANISMS",
    "AnonymousClient",
    "AnonymousServer",
    "AuthorizeCallback",
    "ClientMechanism",
    "CramMd5Client",
    "CramMd5Server",
    "ExternalClient",
    "ExternalServer",
    "LoginClient",
    "LoginServer",
    "OAuthBearerClient",
    "OAuthBearerServer",
    "PasswordCallback",
    "PasswordLookup",
    "PlainClient",
    "PlainServer",
    "SaslError",
    "ScramClient",
    "ScramCredentials",
    "ScramServer",
    "ScramSha1Client",
    "ScramSha1PlusClient",
    "ScramSha1PlusServer",
    "ScramSha1Server",
    "ScramSha256Client",
    "ScramSha256PlusClient",
    "ScramSha256PlusServer",
    "ScramSha256Server",
    "ServerMechanism",
    "TokenValidator",
    "XOAuth2Client",
    "XOAuth2Server",
    "saslprep",
    "scram_client",
    "scram_server",
]

_CLIENTS: tuple[type[ClientMechanism], ...] = (
    AnonymousClient,
    CramMd5Client,
    ExternalClient,
    LoginClient,
    OAuthBearerClient,
    PlainClient,
    ScramSha1Client,
    ScramSha1PlusClient,
    ScramSha256Client,
    ScramSha256PlusClient,
    XOAuth2Client,
)
_SERVERS: tuple[type[ServerMechanism], ...] = (
    AnonymousServer,
    CramMd5Server,
    ExternalServer,
    LoginServer,
    OAuthBearerServer,
    PlainServer,
    ScramSha1Server,
    ScramSha1PlusServer,
    ScramSha256Server,
    ScramSha256PlusServer,
    XOAuth2Server,
)

CLIENT_MECHANISMS: Mapping[str, type[ClientMechanism]] = {cls.name: cls for cls in _CLIENTS}
"""Mechanism name to client class. Never mutated: copy it to customise."""

SERVER_MECHANISMS: Mapping[str, type[ServerMechanism]] = {cls.name: cls for cls in _SERVERS}
"""Mechanism name to server class. Never mutated: copy it to customise."""
