"""(e) Awareness storm: N clients in one room, each moving its cursor ``awareness_hz`` times a
second (``loadgen.awareness``: light subscribers in the worker processes send the states and
time everyone else's). Latency is staleness — send until a receiver holds that state or a later
one of the same client — because a server may batch and keep only a client's latest state. A
receiver that never got some state nor a later one, or that does not hold every client's last
state at the end, is lost data."""

from __future__ import annotations

import asyncio

from ..loadgen.pool import SubscriberPool
from ..loadgen.stats import Summary
from ..loadgen.yprotocol import MSG_AWARENESS
from .config import CompareConfig
from .contenders import Running
from .outcome import LoadMeter, Outcome

COLUMNS = [
    "clients",
    "Hz",
    "states sent",
    "staleness p50 ms",
    "p99 ms",
    "max ms",
    "states received/s",
    "frames received/s",
    "received exactly / expected",
    "lost",
    "without a last state",
    "sender late max ms",
]


async def run(running: Running, pool: SubscriberPool, cfg: CompareConfig, run_id: str) -> Outcome:
    out = Outcome("awareness", running.contender.key)
    n = cfg.awareness_clients
    room = f"idea:awareness-{run_id}"
    failed, errors = await running.subscribe(pool, cfg, room, n, timed=(MSG_AWARENESS,))
    try:
        if failed:
            out.problems.append(f"{failed} of {n} clients failed to connect, e.g. {errors[:2]}")
            return out
        count = max(2, round(cfg.awareness_hz * cfg.awareness_duration))
        warm = min(count - 1, round(cfg.awareness_hz * cfg.warmup))
        meter = LoadMeter(pool, running.pids)
        await pool.mark()
        meter.start()
        sent, late_ms = await pool.storm(count, cfg.awareness_hz, cfg.awareness_duration + 60)
        # Batching servers send the last states within their interval; give them that.
        await asyncio.sleep(cfg.awareness_drain)
        out.loads["storm"] = meter.stop()
        seen = await pool.collect_storm(sent, sum(pool.connected), count, warm)
    finally:
        await pool.disconnect()
    lat = Summary.of(seen.latencies_ms)
    measured_s = (count - warm) / cfg.awareness_hz
    rate = seen.exact / measured_s
    out.rows.append(
        [
            str(n),
            f"{cfg.awareness_hz:g}",
            f"{n * count:,}",
            f"{lat.p50:.1f}",
            f"{lat.p99:.1f}",
            f"{lat.max:.1f}",
            f"{rate:,.0f}",
            f"{seen.frames / (count / cfg.awareness_hz):,.0f}",
            f"{seen.exact}/{seen.expected}",
            str(seen.lost),
            str(seen.stale_end),
            f"{late_ms:.0f}",
        ]
    )
    if seen.lost or seen.stale_end:
        out.problems.append(
            f"{seen.lost} states never reached a receiver (nor a later one); "
            f"{seen.stale_end} receiver/sender pairs without the sender's last state"
        )
    else:
        out.figures["awareness.p50"] = lat.p50
        out.figures["awareness.p99"] = lat.p99
        out.figures["awareness.rate"] = rate
    if late_ms > 20:
        out.notes.append(f"a sender ran up to {late_ms:.0f} ms behind its schedule")
    return out
