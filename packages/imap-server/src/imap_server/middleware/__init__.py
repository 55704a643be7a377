"""Middleware: a pipeline around command handling that the application composes.

``Server(store, middleware=[CommandLog(), Recovery(), Metrics(observe), RateLimit(),
AuthThrottle(), CommandTimeout(60)])``: the first is the outermost. Each piece is a small
object with one job, called as ``await piece(call, call_next)`` (see `Middleware`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._pipeline import CallNext, CommandCall, LoginGuard, Middleware, compose
from .auth_throttle import AuthThrottle
from .command_log import CommandLog
from .metrics import CommandMetrics, Metrics
from .rate_limit import RateLimit, TokenBucket
from .recovery import Recovery
from .timeout import DEFAULT_TIMEOUT_EXEMPT, CommandTimeout

__all__ = [
    "DEFAULT_TIMEOUT_EXEMPT",
    "AuthThrottle",
    "CallNext",
    "CommandCall",
    "CommandLog",
    "CommandMetrics",
    "CommandTimeout",
    "LoginGuard",
    "Metrics",
    "Middleware",
    "RateLimit",
    "Recovery",
    "TokenBucket",
    "compose",
    "default_middleware",
]


def default_middleware() -> Sequence[Middleware]:
    """What `Server` uses when given no ``middleware``: `Recovery` and `AuthThrottle`
    with their defaults (fresh objects each call: throttle counters are per server)."""
    return (Recovery(), AuthThrottle())
