"""Open a store from a URL: the scheme picks an installed store package.

Stores are found through the entry point group ``imap_server.stores``: the entry point's name is
the URL scheme, its value a factory taking the whole URL and returning a `Backend` (or an
awaitable of one, for stores that must connect while opening). imap-server registers
``memory`` itself; a store package registers its own scheme in its ``pyproject.toml``::

    [project.entry-points."imap_server.stores"]
    postgresql = "imap_store_pg:open_store"

after which ``imap-server serve --store postgresql://user@db/mail`` (or
``await open_store("postgresql://user@db/mail")``) uses it. Nothing is imported until a URL of
that scheme is opened, so an installed but unused store costs nothing.
"""

from __future__ import annotations

import inspect
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import TypeAlias

from .store import Backend

__all__ = [
    "ENTRY_POINT_GROUP",
    "StoreFactory",
    "UnknownStoreError",
    "available_stores",
    "open_store",
    "redact_url",
]

ENTRY_POINT_GROUP = "imap_server.stores"

#: What an ``imap_server.stores`` entry point names: called with the URL, returns the store
#: (directly, or through an awaitable).
StoreFactory: TypeAlias = Callable[[str], Backend | Awaitable[Backend]]


class UnknownStoreError(ValueError):
    """No installed store handles the URL's scheme (or the URL has no scheme).

    Attributes:
        scheme: The scheme asked for ("" when the URL had none).
        available: The schemes installed stores handle, sorted.
    """

    def __init__(self, scheme: str, available: Iterable[str]) -> None:
        self.scheme = scheme
        self.available = sorted(available)
        installed = ", ".join(self.available) or "none"
        if scheme:
            message = f"no installed store handles {scheme}:// URLs (installed: {installed})"
        else:
            message = f"the store URL has no scheme, e.g. memory:// (installed: {installed})"
        super().__init__(message)


def _entry_points() -> Iterable[EntryPoint]:
    # A function of its own so that tests can substitute fake entry points.
    return entry_points(group=ENTRY_POINT_GROUP)


def available_stores() -> dict[str, EntryPoint]:
    """The installed stores by URL scheme (none of them loaded)."""
    found: dict[str, EntryPoint] = {}
    for ep in _entry_points():
        # Two distributions claiming one scheme: the first one found wins.
        found.setdefault(ep.name.lower(), ep)
    return found


def _scheme(url: str) -> str:
    # urlsplit accepts anything; a "scheme" needs the "://" after it here, so that a bare
    # path such as "C:/mail" or a mistyped "memory" is reported instead of misread.
    if "://" not in url:
        return ""
    return urllib.parse.urlsplit(url).scheme.lower()


async def open_store(url: str) -> Backend:
    """Open the store a URL names, with the factory its scheme's entry point names.

    Example:
        >>> import anyio
        >>> anyio.run(open_store, "memory://")
        <MemoryStore: 0 users>

    Raises:
        UnknownStoreError: No installed store handles the scheme.
        ValueError: The store rejects the rest of the URL (raised by its factory).
        TypeError: The factory returned something that is not a `Backend`.
    """
    scheme = _scheme(url)
    stores = available_stores()
    ep = stores.get(scheme) if scheme else None
    if ep is None:
        raise UnknownStoreError(scheme, stores)
    factory: StoreFactory = ep.load()
    result = factory(url)
    # Stores that need I/O to open (a connection pool) have async factories.
    backend = await result if inspect.isawaitable(result) else result
    if not isinstance(backend, Backend):
        raise TypeError(
            f"the {scheme!r} store factory {ep.value} returned {type(backend).__name__}, "
            "not an imap_server.store.Backend"
        )
    return backend


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``, for logs and error messages.

    Example:
        >>> redact_url("postgresql://mail:s3cret@db/mail")
        'postgresql://mail:***@db/mail'
    """
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. an invalid port: nothing can be told apart safely
        return "<invalid URL>"
    if password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))
