"""imap_server: an IMAP4rev2 / IMAP4rev1 server on anyio.

`Server` serves a store (`imap_server.store.Backend`; `MemoryStore` is the reference one) on
TCP, implicit TLS and STARTTLS listeners. See the guide at ``docs/server/index.md``.
"""

from .connection import CommandContext, Connection
from .errors import AuthenticationFailed, CommandFailed
from .extensions import (
    ENTRY_POINT_GROUP,
    EnableHook,
    Handler,
    ServerExtension,
    Wrapper,
    discover_extensions,
    load_extensions,
)
from .memory import MemoryStore
from .server import Listener, PlaintextAuth, Server
from .session import ConnectionInfo, ResponseSink, Session, SessionOptions, StoreSession
from .store import (
    AlreadyExists,
    AppendResult,
    Backend,
    Body,
    BytesBody,
    CannotError,
    CopyResult,
    FlagChange,
    FlagUpdate,
    InvalidName,
    Mailbox,
    MailboxChanges,
    MailboxGone,
    MailboxInfo,
    MailboxSnapshot,
    MailboxStatus,
    MessageData,
    MessageTooBig,
    NoSuchMailbox,
    OverQuota,
    PasswordAuthenticator,
    StoreError,
    StoreUnavailable,
    UnsupportedSpecialUse,
    User,
    Want,
)
from .stores import UnknownStoreError, open_store
from .tracker import MailboxView, Tracker

__all__ = [
    "ENTRY_POINT_GROUP",
    "AlreadyExists",
    "AppendResult",
    "AuthenticationFailed",
    "Backend",
    "Body",
    "BytesBody",
    "CannotError",
    "CommandContext",
    "CommandFailed",
    "Connection",
    "ConnectionInfo",
    "CopyResult",
    "EnableHook",
    "FlagChange",
    "FlagUpdate",
    "Handler",
    "InvalidName",
    "Listener",
    "Mailbox",
    "MailboxChanges",
    "MailboxGone",
    "MailboxInfo",
    "MailboxSnapshot",
    "MailboxStatus",
    "MailboxView",
    "MemoryStore",
    "MessageData",
    "MessageTooBig",
    "NoSuchMailbox",
    "OverQuota",
    "PasswordAuthenticator",
    "PlaintextAuth",
    "ResponseSink",
    "Server",
    "ServerExtension",
    "Session",
    "SessionOptions",
    "StoreError",
    "StoreSession",
    "StoreUnavailable",
    "Tracker",
    "UnknownStoreError",
    "UnsupportedSpecialUse",
    "User",
    "Want",
    "Wrapper",
    "discover_extensions",
    "load_extensions",
    "open_store",
]
