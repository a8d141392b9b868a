"""Per-connection limits."""

from __future__ import annotations

import time


class TokenBucket:
    """Allows ``rate`` events per second on average, with bursts of up to ``burst`` events."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = float(rate)
        self.burst = float(max(burst, rate, 1))
        self._tokens = self.burst
        self._last = time.monotonic()

    def take(self, n: float = 1.0) -> bool:
        """Spend ``n`` tokens; False (and nothing spent) when there are not enough."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < n:
            return False
        self._tokens -= n
        return True
