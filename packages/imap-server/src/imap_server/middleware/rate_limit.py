"""`RateLimit`: commands per second per connection and per client address."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable

import anyio

from imap_wire import ResponseStatus, StatusResponse, response_code

from ._pipeline import CallNext, CommandCall

__all__ = ["RateLimit", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; a take may go into debt,
    which later takes wait out (so waiting clients are served in turn)."""

    __slots__ = ("burst", "level", "rate", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.level = burst
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.burst, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for_one(self, now: float) -> float:
        """Seconds until one token is there (0: now)."""
        self.refill(now)
        return 0.0 if self.level >= 1 else (1 - self.level) / self.rate

    def take(self) -> None:
        self.level -= 1

    def full(self, now: float) -> bool:
        self.refill(now)
        return self.level >= self.burst


class RateLimit:
    """Token buckets on commands: one per connection, one per client IP address.

    A command over the rate waits for its token when that takes at most ``max_delay``
    seconds (the client is slowed down, not failed); beyond that it is answered
    ``NO [LIMIT]`` without running. Commands of one connection run one at a time, so a
    waiting command delays only its own connection.

    Args:
        per_connection: Commands per second on one connection (None: no limit).
        per_address: Commands per second from one IP address, all its connections
            together (None: no limit).
        burst: Commands a bucket saves up, as seconds of its rate (default 2: a client
            idle for a while may send ``2 * rate`` commands at once; at least one).
        max_delay: Longest wait for a token before answering ``NO [LIMIT]``.
        exempt: Commands never limited (default LOGOUT, so a client can always leave).
        max_addresses: Address buckets kept; beyond it, full (idle) ones are forgotten,
            so memory stays bounded however many addresses connect.
    """

    def __init__(
        self,
        per_connection: float | None = 500.0,
        per_address: float | None = 2000.0,
        *,
        burst: float = 2.0,
        max_delay: float = 2.0,
        exempt: Iterable[str] = ("LOGOUT",),
        max_addresses: int = 10_000,
    ) -> None:
        for name, value in (("per_connection", per_connection), ("per_address", per_address)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or None for no limit)")
        if burst <= 0 or max_delay < 0:
            raise ValueError("burst must be positive and max_delay not negative")
        self.per_connection = per_connection
        self.per_address = per_address
        self.burst = burst
        self.max_delay = max_delay
        self.exempt = frozenset(name.upper() for name in exempt)
        self.max_addresses = max_addresses
        self._connections: weakref.WeakKeyDictionary[object, TokenBucket] = (
            weakref.WeakKeyDictionary()
        )
        self._addresses: dict[str, TokenBucket] = {}

    def _buckets(self, call: CommandCall, now: float) -> list[TokenBucket]:
        buckets = []
        if self.per_connection is not None:
            conn = call.connection
            bucket = self._connections.get(conn)
            if bucket is None:
                rate = self.per_connection
                bucket = self._connections[conn] = TokenBucket(rate, self._capacity(rate), now)
            buckets.append(bucket)
        address = call.remote
        if self.per_address is not None and address is not None:
            bucket = self._addresses.get(address)
            if bucket is None:
                if len(self._addresses) >= self.max_addresses:
                    self._forget_idle(now)
                rate = self.per_address
                bucket = self._addresses[address] = TokenBucket(rate, self._capacity(rate), now)
            buckets.append(bucket)
        return buckets

    def _capacity(self, rate: float) -> float:
        # At least one token, or a slow rate would refuse every command.
        return max(1.0, rate * self.burst)

    def _forget_idle(self, now: float) -> None:
        for address in [a for a, b in self._addresses.items() if b.full(now)]:
            del self._addresses[address]
        # Still over (every bucket busy): drop the oldest; they refill as new ones would.
        while len(self._addresses) >= self.max_addresses:
            del self._addresses[next(iter(self._addresses))]

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        if call.name in self.exempt:
            return await call_next(call)
        now = time.monotonic()
        buckets = self._buckets(call, now)
        wait = max((b.wait_for_one(now) for b in buckets), default=0.0)
        if wait > self.max_delay:
            return StatusResponse(
                tag=call.tag,
                status=ResponseStatus.NO,
                code=response_code("LIMIT"),
                text="Too many commands; slow down",
            )
        for bucket in buckets:
            bucket.take()
        if wait > 0:
            await anyio.sleep(wait)
        return await call_next(call)
