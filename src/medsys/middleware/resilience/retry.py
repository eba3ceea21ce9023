"""When a call may be repeated, and how much repeating the system can afford.

A request is repeated only when repeating cannot do harm: a GET, or a write carrying an
idempotency key (the upstream then answers a repeat with the first result). Retries are
also capped by a budget, as Envoy does: over a sliding window, retries may add at most
``ratio`` of the requests (with a small floor), so retries never multiply the load on an
upstream that is already struggling.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


def may_repeat(method: str, has_idempotency_key: bool) -> bool:
    return method.upper() in {"GET", "HEAD", "OPTIONS"} or has_idempotency_key


class RetryBudget:
    def __init__(
        self,
        ratio: float = 0.2,
        floor: int = 3,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio, self.floor, self.window = ratio, floor, window
        self._clock = clock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()
        self.refused = 0

    def _trim(self, now: float) -> None:
        for series in (self._requests, self._retries):
            while series and now - series[0] > self.window:
                series.popleft()

    def request(self) -> None:
        now = self._clock()
        self._requests.append(now)
        self._trim(now)

    def try_spend(self) -> bool:
        """Take one retry from the budget, or say no."""
        now = self._clock()
        self._trim(now)
        allowed = max(self.floor, int(len(self._requests) * self.ratio))
        if len(self._retries) >= allowed:
            self.refused += 1
            return False
        self._retries.append(now)
        return True
