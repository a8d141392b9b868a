"""(b) Many rooms: R rooms, two full clients in each, both editing at a fixed rate.

Each client is a pycrdt :class:`~benchmarks.loadgen.fullclient.Writer` that also records when
the markers of the other client's updates arrive. Client A of a room numbers its updates from
0, client B from :data:`B_FIRST`; every client starts at its own phase so that sends spread
evenly. Latency = arrival at the other client of the room - send. At the end both clients of
every room must hold the same text with all updates of both; a room that does not counts as
lost data.
"""

from __future__ import annotations

import asyncio
import time

from ..fanout import _send_paced
from ..loadgen.fullclient import Writer
from ..loadgen.pool import SubscriberPool
from ..loadgen.stats import Summary
from ..loadgen.yprotocol import MARKER_RE
from .config import CompareConfig
from .contenders import Running
from .outcome import LoadMeter, Outcome

#: Client B's first marker number (A's run from 0).
B_FIRST = 1_000_000

COLUMNS = [
    "rooms",
    "clients",
    "updates sent",
    "p50 ms",
    "p99 ms",
    "max ms",
    "updates delivered/s",
    "delivered/expected",
    "rooms converged",
    "connect all (s)",
]


async def _edit(client: Writer, first: int, count: int, rate: float, delay: float) -> list[float]:
    await asyncio.sleep(delay)
    times, _ = await _send_paced(client, first, count, rate, 32)
    return times


def _complete(client: Writer, first: int, count: int) -> bool:
    """True once ``client`` saw every marker ``first..first+count-1``."""
    seen = client.first_seen
    assert seen is not None
    return all(first + k in seen for k in range(count))


async def run(running: Running, pool: SubscriberPool, cfg: CompareConfig, run_id: str) -> Outcome:
    out = Outcome("rooms", running.contender.key)
    server = running.server
    names = [f"idea:rooms-{run_id}-{i}" for i in range(cfg.rooms)]
    pairs = [
        (
            Writer(server.framing(name), track_markers=True),
            Writer(server.framing(name), track_markers=True),
        )
        for name in names
    ]
    clients = [c for pair in pairs for c in pair]
    gate = asyncio.Semaphore(cfg.connect_concurrency)
    errors: list[str] = []

    async def connect(client: Writer, name: str) -> None:
        async with gate:
            try:
                await client.start(server.url(name), cfg.connect_timeout)
            except (TimeoutError, OSError, RuntimeError) as e:
                errors.append(f"{type(e).__name__}: {e}")

    count = max(1, round(cfg.rooms_rate * cfg.rooms_duration))
    try:
        t0 = time.perf_counter()
        await asyncio.gather(
            *(connect(c, n) for (a, b), n in zip(pairs, names, strict=True) for c in (a, b))
        )
        connect_s = time.perf_counter() - t0
        if errors:
            out.problems.append(f"{len(errors)} clients failed to connect, e.g. {errors[:2]}")
            return out

        meter = LoadMeter(pool, running.pids)
        meter.start()
        period = 1 / cfg.rooms_rate
        spread = len(clients)
        sends = await asyncio.gather(
            *(
                _edit(c, B_FIRST if i % 2 else 0, count, cfg.rooms_rate, period * i / spread)
                for i, c in enumerate(clients)
            )
        )
        # Drain: every client must get every update of the other one.
        await asyncio.gather(
            *(
                c.wait_until(lambda c=c, f=f: _complete(c, f, count), cfg.drain_timeout)
                for a, b in pairs
                for c, f in ((b, 0), (a, B_FIRST))
            )
        )
        out.loads["editing"] = meter.stop()

        latencies: list[float] = []
        delivered = 0
        last_arrival = 0.0
        first_send = min(t[0] for t in sends)
        for i, (a, b) in enumerate(pairs):
            for side, receiver, first in ((0, b, 0), (1, a, B_FIRST)):
                times = sends[2 * i + side]
                seen = receiver.first_seen
                assert seen is not None
                for k, sent in enumerate(times):
                    arrived = seen.get(first + k)
                    if arrived is not None:
                        delivered += 1
                        latencies.append((arrived - sent) * 1000)
                        last_arrival = max(last_arrival, arrived)
        converged = sum(
            1
            for a, b in pairs
            if a.content() == b.content()
            and len(MARKER_RE.findall(a.content().encode())) == 2 * count
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    expected = 2 * count * cfg.rooms
    lat = Summary.of(latencies)
    span = last_arrival - first_send
    dps = delivered / span if span > 0 else 0.0
    out.rows.append(
        [
            str(cfg.rooms),
            str(len(clients)),
            f"{expected:,}",
            f"{lat.p50:.1f}",
            f"{lat.p99:.1f}",
            f"{lat.max:.1f}",
            f"{dps:,.0f}",
            f"{delivered}/{expected}",
            f"{converged}/{cfg.rooms}",
            f"{connect_s:.2f}",
        ]
    )
    if delivered != expected:
        out.problems.append(f"{expected - delivered} of {expected} updates not delivered")
    if converged != cfg.rooms:
        out.problems.append(f"{cfg.rooms - converged} rooms did not converge")
    if not out.problems:
        out.figures["rooms.p50"] = lat.p50
        out.figures["rooms.p99"] = lat.p99
        out.figures["rooms.dps"] = dps
    return out
