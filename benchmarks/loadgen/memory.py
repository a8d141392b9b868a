"""Resident memory of processes (``/proc/PID/status``), read once it has stopped moving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes (Linux ``VmRSS``), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


async def settled_rss(
    pids: Sequence[int], timeout: float = 10.0, interval: float = 0.5, tolerance: float = 0.002
) -> list[int]:
    """RSS of each of ``pids`` once two samples ``interval`` apart differ by less than
    ``tolerance`` (relative) for all of them, or after ``timeout`` seconds; 0 for a gone pid.

    A server finishing a burst of work (buffers, collection) keeps moving for a moment; a
    figure per connection divided out of a moving total would be noise.
    """
    deadline = time.perf_counter() + timeout
    last = [rss_bytes(p) or 0 for p in pids]
    while True:
        await asyncio.sleep(interval)
        now = [rss_bytes(p) or 0 for p in pids]
        steady = all(abs(a - b) <= tolerance * max(a, 1) for a, b in zip(last, now, strict=True))
        if steady or time.perf_counter() >= deadline:
            return now
        last = now
