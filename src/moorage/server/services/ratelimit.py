"""Failed logins per client address: after ``limit`` failures within ``window`` seconds, the
address is refused (:class:`~moorage.errors.RateLimited`, 429) until the oldest of those
failures is ``window`` seconds old.

A failure is a token (API, Basic password, dashboard login) that matches no user; a request
without a token, and every successful one, counts for nothing. While an address is refused,
its requests are not authenticated at all, so a guess in that time reveals nothing, and
they add no failure, so waiting ``Retry-After`` seconds is always enough. The window is short
(60 s, ``MOORAGE_LOGIN_WINDOW``) so that the platform's owner, whose ``moor`` calls come from
127.0.0.1 like a local attacker's, is never locked out for long.

Addresses are kept in memory per API process (a restart forgets them) and at most
``max_addresses`` of them: past that, the address whose last failure is oldest is dropped.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from moorage.errors import RateLimited

LIMIT = 20
WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 10_000


class FailedLogins:
    """The failures of each client address within the last ``window`` seconds."""

    def __init__(
        self,
        limit: int = LIMIT,
        window: float = WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        self._lock = threading.Lock()
        # address -> times of its failures, oldest first; addresses by last failure, oldest first
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(address, None)
        return times

    def check(self, address: str) -> None:
        """Raise :class:`RateLimited` while ``address`` has ``limit`` recent failures."""
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            if len(times) < self.limit:
                return
            wait = max(1, math.ceil(times[0] + self.window - now))
        raise RateLimited(
            f"Too many failed logins from {address}; wait {wait} s.", retry_after=wait
        )

    def failed(self, address: str) -> None:
        """Count one failed authentication of ``address``."""
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times
            self._failures.move_to_end(address)
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)

    def tracked(self) -> int:
        """How many addresses have failures on record (expired ones may still count)."""
        with self._lock:
            return len(self._failures)
