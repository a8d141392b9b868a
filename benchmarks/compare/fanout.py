"""(a) Fan-out at a fixed rate: one writer, N light subscribers, full clients checking that they
converge — ``benchmarks.fanout`` itself, once per N."""

from __future__ import annotations

from ..fanout import FanoutConfig, FanoutResult, run_one
from ..loadgen.pool import SubscriberPool
from .config import CompareConfig
from .contenders import Running
from .outcome import Load, LoadMeter, Outcome

COLUMNS = [
    "N",
    "rate/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "deliveries/s",
    "delivered/expected",
    "converged",
    "connect all N (s)",
    "gen CPU: total (busiest)",
    "server CPU",
]


def load_of(r: FanoutResult) -> Load:
    return Load.of(r.main_cpu, r.worker_cpu, r.server_cpu)


async def run_metered(
    running: Running, pool: SubscriberPool, fcfg: FanoutConfig, n: int, rate: float, run_id: str
) -> tuple[FanoutResult, Load]:
    """``fanout.run_one``, and the load of its measured phase (as the run metered it) with the
    share other processes of the machine took over the whole run."""
    meter = LoadMeter(pool, running.pids)
    meter.start()
    r = await run_one(running.server, pool, fcfg, n, rate, run_id)
    load = load_of(r)
    load.other = meter.stop().other
    return r, load


def row(r: FanoutResult) -> list[str]:
    load = load_of(r)
    lat = r.latency_ms
    return [
        str(r.n),
        f"{r.rate:g}",
        f"{lat.p50:.1f}",
        f"{lat.p99:.1f}",
        f"{lat.max:.1f}",
        f"{r.deliveries_per_s:,.0f}",
        f"{r.delivered}/{r.expected}",
        "OK" if r.converged else "FAILED",
        f"{r.connect_all_s:.2f}",
        f"{load.generator_total * 100:.0f}% ({load.busiest * 100:.0f}%)",
        f"{load.server * 100:.0f}%",
    ]


def problems(r: FanoutResult) -> list[str]:
    """Why ``r`` counts as failed: lost deliveries, no convergence, errors."""
    out = list(r.errors)
    if r.delivered != r.expected:
        out.append(f"{r.expected - r.delivered} of {r.expected} deliveries lost")
    if not r.converged:
        out.append("full clients did not converge to the writer's text")
    if r.closed:
        out.append(f"connections closed: {r.closed}")
    return out


async def run(running: Running, pool: SubscriberPool, cfg: CompareConfig, run_id: str) -> Outcome:
    out = Outcome("fanout", running.contender.key)
    fcfg = cfg.fanout(room_prefix="idea:fanout")
    for n in cfg.subscribers:
        r, load = await run_metered(running, pool, fcfg, n, cfg.rate, run_id)
        out.rows.append(row(r))
        out.loads[f"N={n}"] = load
        bad = problems(r)
        if bad:
            out.problems.append(f"N={n}: {'; '.join(bad)}")
            continue  # a run that lost data has no figures
        out.figures[f"fanout.p50.{n}"] = r.latency_ms.p50
        out.figures[f"fanout.p99.{n}"] = r.latency_ms.p99
        out.figures[f"fanout.dps.{n}"] = r.deliveries_per_s
        if r.writer_late_max_ms > 5:
            out.notes.append(f"N={n}: the writer ran up to {r.writer_late_max_ms:.0f} ms late")
    return out
