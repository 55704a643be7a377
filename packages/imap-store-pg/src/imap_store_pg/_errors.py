"""Translation of driver errors into `imap_server.store` errors.

The server maps `StoreError` subclasses to response codes and knows nothing of asyncpg, so
no asyncpg exception may leave this package: every database call goes through `translated`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg

from imap_server.store import (
    AlreadyExists,
    CannotError,
    MailboxGone,
    OverQuota,
    StoreError,
    StoreUnavailable,
)

__all__ = ["GONE", "OUT_OF_UIDS", "OVER_QUOTA", "translated"]

#: SQLSTATEs our own functions raise (class "IM": not used by PostgreSQL).
GONE = "IM001"
OVER_QUOTA = "IM002"
OUT_OF_UIDS = "IM003"

#: Errors that mean the server or the connection is not there (or not usable) right now.
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58", "XX")


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn asyncpg / socket errors raised inside into `StoreError` subclasses."""
    try:
        yield
    except StoreError:
        raise
    except asyncpg.PostgresError as exc:
        state = getattr(exc, "sqlstate", None) or ""
        if state == GONE:
            raise MailboxGone() from None
        if state == OVER_QUOTA:
            raise OverQuota() from None
        if state == OUT_OF_UIDS:
            raise CannotError("The mailbox has run out of UIDs") from None
        if state == "23505":  # unique_violation
            raise AlreadyExists() from None
        if state.startswith(_UNAVAILABLE_CLASSES):
            raise StoreUnavailable(f"database unavailable ({state})") from None
        raise StoreUnavailable(f"database error ({state}): {type(exc).__name__}") from None
    except (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError) as exc:
        raise StoreUnavailable(f"database connection failed: {type(exc).__name__}") from None
    except (OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"database unreachable: {exc.__class__.__name__}") from None
