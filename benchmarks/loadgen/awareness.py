"""Awareness storm: light subscribers announce cursor states at a fixed rate; what others saw.

Every sender has an index ``s``; its ``k``-th announcement carries the marker of
``s * SEQ_STRIDE + k`` inside its JSON state, so receivers time it like any marker (the regex
over raw frames finds it also when a server batches many clients' states into one frame).

A server may legitimately skip intermediate states (batching keeps only a client's latest), so
latency is *staleness*: for announcement ``k`` of sender ``s``, the time from its send until a
receiver held ``k`` or any later state of ``s`` (the first arrival of any marker ``≥ k`` from
``s``). A receiver that never got a state ``≥ k`` lost it; one that never got ``s``'s last state
did not converge.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from collections.abc import Mapping, Sequence

from .subscriber import LightSubscriber
from .yprotocol import awareness_message, marker

#: Announcements per sender are numbered below this.
SEQ_STRIDE = 1_000_000
#: Awareness client ids are this plus the sender index (unique in a room, never 0).
CLIENT_ID_BASE = 100_000


def storm_seq(sender: int, k: int) -> int:
    return sender * SEQ_STRIDE + k


def cursor_message(sender: int, k: int) -> bytes:
    """Sender ``sender``'s ``k``-th awareness message: a cursor state carrying its marker."""
    state = json.dumps(
        {
            "user": {"name": f"bench-{sender}"},
            "cursor": {"anchor": k, "head": k + 1},
            "m": marker(storm_seq(sender, k)),
        },
        separators=(",", ":"),
    )
    # Clock k + 1: a client's first state has clock 1 (y-protocols starts at 0 for "no state").
    return awareness_message(CLIENT_ID_BASE + sender, k + 1, state)


async def announce(
    sub: LightSubscriber, sender: int, count: int, hz: float, start: float, sent: dict[int, float]
) -> float:
    """Send ``count`` cursor updates at ``hz`` from ``start`` (perf_counter) on an absolute
    schedule; record each send time in ``sent``; return the worst lateness in seconds."""
    worst = 0.0
    for k in range(count):
        due = start + k / hz
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        message = cursor_message(sender, k)
        t = time.perf_counter()
        sub.send(message)
        sent[storm_seq(sender, k)] = t
        worst = max(worst, t - due)
    return worst


def staleness(
    first_seen: Mapping[int, float],
    receiver: int,
    senders: Sequence[int],
    count: int,
    warm: int,
    sent: Mapping[int, float],
    out: array,
) -> tuple[int, int, int]:
    """Append to ``out`` the staleness (ms) of announcements ``warm..count-1`` of every sender
    but ``receiver``, as seen by a receiver whose markers arrived at ``first_seen``.

    Returns (announcements that never reached it, neither they nor a later state; senders whose
    last state it does not hold; announcements it got exactly, not superseded).
    """
    lost = stale_end = exact = 0
    for s in senders:
        if s == receiver:
            continue
        base = s * SEQ_STRIDE
        if base + count - 1 not in first_seen:
            stale_end += 1
        earliest = float("inf")  # the earliest arrival of any state >= k, k going down
        lat: list[float] = []
        for k in range(count - 1, warm - 1, -1):
            arrived = first_seen.get(base + k)
            if arrived is not None:
                exact += 1
                earliest = min(earliest, arrived)
            sent_at = sent.get(base + k)
            if sent_at is None:
                continue  # never sent (the sender's connection was gone)
            if earliest == float("inf"):
                lost += 1
            else:
                lat.append((earliest - sent_at) * 1000.0)
        out.extend(lat)
    return lost, stale_end, exact
