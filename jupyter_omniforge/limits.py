"""Limits and quotas: what one connection, one user and one room may ask of the server.

Each is a setting of :class:`~jupyter_omniforge.app.OmniForgeApp`; the objects here only count.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from .errors import TooManyConnections

KiB = 1024
MiB = 1024 * KiB


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

    @property
    def full(self) -> bool:
        """True when the bucket has refilled: forgetting it loses nothing."""
        return self._tokens + (time.monotonic() - self._last) * self.rate >= self.burst


@dataclass(frozen=True, slots=True)
class RoomLimits:
    """What one room accepts from its peers (and from stored rows and other instances)."""

    #: Deepest nesting of Any values (and JSON) in an update or an awareness state.
    max_depth: int = 64
    #: Updates from clients that would grow the document past this many bytes are refused.
    max_document_bytes: int = 128 * MiB
    #: Awareness client ids one connection may announce.
    awareness_clients_per_connection: int = 4
    #: Largest awareness state (its JSON) one client id may have.
    awareness_state_bytes: int = 8 * KiB


class ConnectionQuota:
    """Open connections per user: :meth:`acquire` on open, :meth:`release` on close."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, username: str) -> None:
        """Count one more connection of ``username``; raise :class:`TooManyConnections` (and
        count nothing) when that would be more than ``limit``."""
        if self._open[username] >= self.limit:
            raise TooManyConnections(
                f"{username} already has {self.limit} connections open (max_connections_per_user)"
            )
        self._open[username] += 1

    def release(self, username: str) -> None:
        left = self._open[username] - 1
        if left > 0:
            self._open[username] = left
        else:
            del self._open[username]

    def __getitem__(self, username: str) -> int:
        return self._open.get(username, 0)


class RateQuota:
    """``per_minute`` events per key (a user) and minute, in bursts of up to as many."""

    #: Past this many keys, the buckets that have refilled are forgotten.
    _TIDY_AT = 10_000

    def __init__(self, per_minute: float) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> bool:
        """Spend one of ``key``'s events; False (nothing spent) when it has none left."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._TIDY_AT:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.full}
            bucket = self._buckets[key] = TokenBucket(self.per_minute / 60, self.per_minute)
        return bucket.take()
