"""`AsyncClient`: an IMAP client on anyio (asyncio or trio).

::

    async with AsyncClient("imap.example.com") as client:  # implicit TLS, port 993
        await client.login("alice", "secret")
        await client.select("INBOX")
        for msg in await client.fetch("1:*", ["UID", "FLAGS", "ENVELOPE"]):
            print(msg.uid, msg.envelope.subject)

Every method sends its command at once and returns when its tagged response arrives, so
commands started from several tasks are pipelined on one connection (the connection
sequences those that must not be, RFC 9051 section 5.5).
"""

from __future__ import annotations

from ._auth import AuthCommands
from ._idle import IdleCommands
from ._mailboxes import MailboxCommands
from ._messages import MessageCommands
from ._streaming import StreamingCommands

__all__ = ["AsyncClient"]


class AsyncClient(MailboxCommands, MessageCommands, AuthCommands, IdleCommands, StreamingCommands):
    """An IMAP client connection. See `ClientBase` for the constructor's arguments."""
