"""`AuthThrottle`: slow down and then lock out password guessing."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import anyio

from imap_wire import ResponseStatus, StatusResponse

from ..errors import AuthenticationFailed
from ._pipeline import CallNext, CommandCall

__all__ = ["AuthThrottle"]

log = logging.getLogger("imap_server")

_AUTH_COMMANDS = frozenset({"LOGIN", "AUTHENTICATE"})
_LOCKED_TEXT = "Too many failed logins; try again later"


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class AuthThrottle:
    """Growing delays after failed logins, per client address and per user, and lockouts.

    After the n-th failure in a row (failures older than ``window`` seconds are
    forgotten), the ``NO`` of a LOGIN or AUTHENTICATE is held back
    ``min(max_delay, base_delay * 2 ** (n - 1))`` seconds, n being the larger of the
    address's and the user's count. At ``address_lockout_after`` failures from an address,
    its attempts are refused without checking anything until ``window`` seconds pass with
    no further failure; at ``user_lockout_after`` failures naming a user, that user is
    refused, even with the right password, the same way. Refusals are
    ``NO [AUTHENTICATIONFAILED] Too many failed logins; try again later``; they count as
    failures too, so an attacker who keeps trying stays locked out.

    A successful login clears its user's count, not its address's (one valid account
    must not reset the counter for guessing others). Locking out users lets a stranger
    lock a known user out for ``window`` seconds: set ``user_lockout_after=None`` to rely
    on delays and the address lockout only. Counters are per `Server` process.

    Args:
        base_delay: Delay after the first failure, seconds.
        max_delay: Longest delay.
        window: Seconds after the last failure for which a count (and a lockout) lasts.
        address_lockout_after: Failures from one IP address that lock it out (None: never).
        user_lockout_after: Failures naming one user that lock the user out (None: never).
        max_tracked: Counters kept (addresses and users); beyond it, the least recently
            failed are forgotten, so memory stays bounded.
    """

    def __init__(
        self,
        *,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        window: float = 15 * 60,
        address_lockout_after: int | None = 100,
        user_lockout_after: int | None = 20,
        max_tracked: int = 100_000,
    ) -> None:
        if base_delay < 0 or max_delay < base_delay or window <= 0:
            raise ValueError("need 0 <= base_delay <= max_delay and a positive window")
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.window = window
        self.address_lockout_after = address_lockout_after
        self.user_lockout_after = user_lockout_after
        self.max_tracked = max_tracked
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()

    # -- the counters ------------------------------------------------------------------------

    def failures(self, kind: str, key: str, now: float | None = None) -> int:
        """Failures counted for ``("address", ip)`` or ``("user", name)``."""
        entry = self._failures.get((kind, key))
        if entry is None:
            return 0
        if (now if now is not None else time.monotonic()) - entry.last > self.window:
            del self._failures[(kind, key)]
            return 0
        return entry.count

    def _record_failure(self, kind: str, key: str, now: float) -> int:
        count = self.failures(kind, key, now) + 1
        self._failures[(kind, key)] = _Failures(count, now)
        self._failures.move_to_end((kind, key))
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)
        return count

    def _locked(self, kind: str, key: str | None, limit: int | None, now: float) -> bool:
        return key is not None and limit is not None and self.failures(kind, key, now) >= limit

    def _delay(self, count: int) -> float:
        if count <= 0:
            return 0.0
        return float(min(self.max_delay, self.base_delay * 2 ** min(count - 1, 32)))

    # -- the middleware ----------------------------------------------------------------------

    async def __call__(self, call: CommandCall, call_next: CallNext) -> StatusResponse:
        if call.name not in _AUTH_COMMANDS:
            return await call_next(call)
        address = call.remote
        if self._locked("address", address, self.address_lockout_after, time.monotonic()):
            await self._failed(call)
            return AuthenticationFailed(_LOCKED_TEXT).response(call.tag)

        async def guard(user: str) -> None:
            if self._locked("user", user, self.user_lockout_after, time.monotonic()):
                raise AuthenticationFailed(_LOCKED_TEXT)

        call.login_guards.append(guard)
        response = await call_next(call)
        if response.status is ResponseStatus.OK:
            if call.auth_user is not None:
                self._failures.pop(("user", call.auth_user), None)
            return response
        if response.code is not None and response.code.name == "AUTHENTICATIONFAILED":
            await self._failed(call)
        return response

    async def _failed(self, call: CommandCall) -> None:
        """Count a failure and hold the answer back for its delay."""
        now = time.monotonic()
        by_address = by_user = 0
        if call.remote is not None:
            by_address = self._record_failure("address", call.remote, now)
            if by_address == self.address_lockout_after:
                log.warning("locking out logins from %s after %d failures", call.remote, by_address)
        if call.auth_user is not None:
            by_user = self._record_failure("user", call.auth_user, now)
            if by_user == self.user_lockout_after:
                log.warning("locking out user %s after %d failures", call.auth_user, by_user)
        await anyio.sleep(self._delay(max(by_address, by_user)))
