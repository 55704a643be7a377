"""Test helpers: the store conformance suite, and servers to test against.

A store package runs the conformance suite against itself by subclassing `StoreConformance`
in its tests (see that class). The suite needs pytest, which imap-server does not depend on, so
it is imported on first use: the other helpers here work without pytest.

The other modules: `imap_server.testing.harness` runs a server in the test's own event loop;
`imap_server.testing.process` runs ``imap-server serve`` in a child process (several of
them on one store, or one to kill) with a raw client to talk to it;
`imap_server.testing.transcript` plays ``C:`` / ``S:`` transcripts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conformance import StoreConformance, sample_message

__all__ = ["StoreConformance", "sample_message"]

try:
    import pytest
except ImportError:  # pragma: no cover - only test code uses the suite
    pass
else:
    # Before the suite is imported: pytest then rewrites its asserts to explain failures.
    pytest.register_assert_rewrite(f"{__name__}.conformance")


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import conformance

        return getattr(conformance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
