"""(a) The highest update rate a server sustains with p99 <= ``search_p99`` ms at
``search_subscribers`` subscribers: double from ``search_start`` until a run fails, then bisect.

A run *passes* when nothing was lost, the full client converged and the p99 delivery latency is
within the bound. Each rate is one ``benchmarks.fanout`` run in a fresh room, with one full
client (fewer pycrdt clients in the generator's main process, which also runs the writer).

A run in which the writer could not send at the rate asked (it offered less than 95% of it) does
not pass either, and says so: the load generator, not the server, was the limit there, and the
figure is then a lower bound (shown as "≥").
"""

from __future__ import annotations

import asyncio
import math

from ..loadgen.pool import SubscriberPool
from .config import CompareConfig
from .contenders import Running
from .fanout import problems, run_metered
from .outcome import Load, Outcome

COLUMNS = [
    "rate/s",
    "p50 ms",
    "p99 ms",
    "delivered/expected",
    "verdict",
    "gen CPU: total (busiest)",
    "server CPU",
    "offered/s",
    "writer late max ms",
]
#: The writer must send at least this share of the rate asked for a run to count.
OFFERED = 0.95


def _round(rate: float) -> float:
    """Two significant digits: rates in the table stay readable."""
    digits = 1 - math.floor(math.log10(rate))
    return round(rate, digits)


async def run(running: Running, pool: SubscriberPool, cfg: CompareConfig, run_id: str) -> Outcome:
    out = Outcome("rate", running.contender.key)
    n = cfg.search_subscribers
    fcfg = cfg.fanout(
        duration=cfg.search_duration,
        drain_timeout=cfg.search_drain,
        room_prefix="idea:rate",
        full_clients=1,
    )
    generator_bound: list[float] = []
    tried: dict[float, Load] = {}

    async def passes(rate: float) -> bool:
        r, load = await run_metered(running, pool, fcfg, n, rate, run_id)
        tried[rate] = load
        bad = problems(r)
        offered = r.offered_rate >= OFFERED * rate
        ok = not bad and offered and r.latency_ms.p99 <= cfg.search_p99
        if ok:
            verdict = "pass"
        elif bad:
            verdict = bad[0][:80]
        elif not offered:
            verdict = "the generator could not offer this rate"
            generator_bound.append(rate)
        else:
            verdict = f"p99 > {cfg.search_p99:g} ms"
        out.rows.append(
            [
                f"{rate:g}",
                f"{r.latency_ms.p50:.1f}",
                f"{r.latency_ms.p99:.1f}",
                f"{r.delivered}/{r.expected}",
                verdict,
                f"{load.generator_total * 100:.0f}% ({load.busiest * 100:.0f}%)",
                f"{load.server * 100:.0f}%",
                f"{r.offered_rate:,.0f}",
                f"{r.writer_late_max_ms:.0f}",
            ]
        )
        await asyncio.sleep(cfg.settle)  # let a server that fell behind catch up
        return ok

    best: float | None = None
    failed: float | None = None
    rate = cfg.search_start
    while rate <= cfg.search_max:
        if not await passes(rate):
            failed = rate
            break
        best = rate
        rate *= 2
    if best is None:
        rate = cfg.search_start / 2
        while rate >= cfg.search_min:
            if await passes(rate):
                best = rate
                break
            failed = rate
            rate /= 2
    if best is not None and failed is not None:
        for _ in range(cfg.search_steps):
            mid = _round(math.sqrt(best * failed))
            if mid in (best, failed):
                break
            if await passes(mid):
                best = mid
            else:
                failed = mid

    if best is None:
        out.problems.append(f"no rate from {cfg.search_min:g}/s up passed")
    else:
        out.figures["rate.max"] = best
        out.loads[f"{best:g}/s (highest passing)"] = tried[best]
        if failed is None:
            out.notes.append(f"passed up to --search-max {cfg.search_max:g}/s: the limit is higher")
            out.lower_bounds.add("rate.max")
        elif failed in generator_bound:
            out.notes.append(
                f"at {failed:g}/s the load generator could not send at the rate: the server's "
                f"limit is at least {best:g}/s, the generator's is lower than {failed:g}/s"
            )
            out.lower_bounds.add("rate.max")
    if failed is not None:
        out.loads[f"{failed:g}/s (lowest failing)"] = tried[failed]
    return out
