"""imap_client: an async IMAP4rev2 / IMAP4rev1 client on anyio, with a sync facade."""

from ._auth import ChannelBinding, TokenSource, tls_server_end_point
from ._base import ClientBase
from ._core import Connection, PendingCommand, UnsolicitedHandler
from ._idle import IdleSession
from ._streaming import AppendSource, BinarySink, FetchStream, MessageNotFound
from .client import AsyncClient
from .errors import (
    AuthenticationFailed,
    CommandFailed,
    ConnectionLost,
    ImapConnectionError,
    ImapError,
    ImapTimeout,
    InvalidCommand,
    MissingCapability,
    ProtocolViolation,
)
from .pool import ClientPool, ConnectFactory, LoginConnector, Pool, PoolClosed, RetryPolicy
from .results import (
    AppendResult,
    CopyResult,
    FetchData,
    ListData,
    NamespaceData,
    SearchData,
    SelectData,
    StatusData,
)
from .state import MailboxState
from .sync import BlockingFetchStream, BlockingIdleSession, BlockingIterator, Client

__all__ = [
    "AppendResult",
    "AppendSource",
    "AsyncClient",
    "AuthenticationFailed",
    "BinarySink",
    "BlockingFetchStream",
    "BlockingIdleSession",
    "BlockingIterator",
    "ChannelBinding",
    "Client",
    "ClientBase",
    "ClientPool",
    "CommandFailed",
    "ConnectFactory",
    "Connection",
    "ConnectionLost",
    "CopyResult",
    "FetchData",
    "FetchStream",
    "IdleSession",
    "ImapConnectionError",
    "ImapError",
    "ImapTimeout",
    "InvalidCommand",
    "ListData",
    "LoginConnector",
    "MailboxState",
    "MessageNotFound",
    "MissingCapability",
    "NamespaceData",
    "PendingCommand",
    "Pool",
    "PoolClosed",
    "ProtocolViolation",
    "RetryPolicy",
    "SearchData",
    "SelectData",
    "StatusData",
    "TokenSource",
    "UnsolicitedHandler",
    "tls_server_end_point",
]
