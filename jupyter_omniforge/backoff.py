"""Exponential backoff with jitter: how long to wait before the next attempt of something that
failed (a reconnection, a commit). Redis connections use redis-py's own retry; everything else
waits with this."""

from __future__ import annotations

import asyncio
import random


class Backoff:
    """Delays ``first``, ``2 * first``, … up to ``cap`` seconds, each scaled by a random factor
    in ``[1 - jitter, 1]`` so that many clients failing together do not retry in lockstep.

    ``delay()`` is the wait before the next attempt (and counts the failure); ``reset()`` after
    a success starts again from ``first``.
    """

    __slots__ = ("cap", "failures", "first", "jitter")

    def __init__(self, first: float = 0.05, cap: float = 2.0, *, jitter: float = 0.5) -> None:
        if first <= 0 or cap < first or not 0 <= jitter <= 1:
            raise ValueError("need 0 < first <= cap and 0 <= jitter <= 1")
        self.first = first
        self.cap = cap
        self.jitter = jitter
        self.failures = 0

    def delay(self) -> float:
        """Count one failure; the seconds to wait before the next attempt."""
        self.failures += 1
        base = min(self.cap, self.first * 2 ** min(self.failures - 1, 62))
        return base * (1 - self.jitter * random.random())

    async def wait(self) -> None:
        """Count one failure and sleep for :meth:`delay`."""
        await asyncio.sleep(self.delay())

    def reset(self) -> None:
        self.failures = 0
