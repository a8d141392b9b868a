"""Scale-out over Redis: what a second instance costs in delivery latency and server CPU.

Issue 4's targets, at 100 subscribers per room:

1. cross-instance delivery adds at most 5 ms at p99 over same-instance delivery;
2. Redis adds at most 20% server CPU per delivered update over the in-process backplane.

Every run starts fresh servers (and a fresh ``redis-server`` on a free port when the layout uses
Redis) and drives them with the fan-out machinery of ``loadgen`` (one pycrdt writer, N light
subscribers with kernel receive timestamps, full clients checking convergence). Layouts:

- ``same``:  1 instance with Redis; writer and N subscribers on it;
- ``cross``: 2 instances sharing Redis; writer on A, N subscribers on B;
- ``mix``:   2 instances sharing Redis; writer on A, N/2 subscribers on A and N/2 on B;
- ``local``: 1 instance without Redis (the in-process backplane);
- ``shared``: as ``mix``, the two instances sharing one store (an SQLite file,
  ``sqlite_shared``) behind Redis: rooms write nothing to the store, a lease holder persists
  the streams. Its CPU per delivery against ``mix`` is the cost of that mode (issue 19: the
  sustained rate should be at least 0.8x the Redis-only one).

CPU per 1,000 deliveries: (a) = ``local``, (b) = ``same``, (c) = ``mix`` (both servers summed);
redis-server's own CPU is reported apart. ``--rounds K`` runs the layouts K times, alternating.

Example::

    python -m benchmarks.scaleout --subscribers 100 --rate 20 --duration 10 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import statistics
import sys
import tempfile
import time
from array import array
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from .fanout import _converged, _send_paced
from .loadgen.cpu import CpuMeter, CpuShare, format_share, proc_cpu_times
from .loadgen.eventloop import LOOPS, resolve_loop, run
from .loadgen.fullclient import FullClient, Writer
from .loadgen.pool import SubscriberPool
from .loadgen.profiler import start_py_spy, stop_py_spy, summarize_profile
from .loadgen.report import (
    RESULTS_DIR,
    append_section,
    command_line,
    environment,
    markdown_table,
)
from .loadgen.servers import (
    SpawnedOmniforge,
    SpawnedRedis,
    _omniforge_version,
    dist_version,
    log_errors,
    redis_server_version,
    spawn_omniforge_servers,
)
from .loadgen.settings import LoadSettings
from .loadgen.stats import Summary

SERVER_NAMES = "ABCDEFGH"
#: Error lines every jupyter server in this venv logs when stopped, unrelated to omniforge:
#: jupyter_server_ydoc's ``JupyterWebsocketServer.clean()`` task raises after its server stopped.
KNOWN_SHUTDOWN_NOISE = ("RuntimeError: WebsocketServer not running",)


@dataclass(frozen=True)
class Layout:
    """Where the writer, the subscribers and the convergence checkers connect."""

    name: str
    title: str
    servers: int
    redis: bool
    writer: int
    #: Servers the N subscribers are split over, evenly.
    subscribers: tuple[int, ...]
    #: Servers the full clients connect to, round robin.
    readers: tuple[int, ...]
    #: The servers share one store (an SQLite file, ``sqlite_shared``) behind Redis, instead
    #: of a journal each.
    shared_store: bool = False

    def describe(self) -> str:
        subs = "+".join(SERVER_NAMES[i] for i in self.subscribers)
        return (
            f"{self.servers} server(s){' + Redis' if self.redis else ', no Redis'}"
            f"{' + shared store' if self.shared_store else ''}; "
            f"writer on {SERVER_NAMES[self.writer]}, subscribers on {subs}"
        )


LAYOUTS = {
    "same": Layout("same", "same instance", 1, True, 0, (0,), (0,)),
    "cross": Layout("cross", "cross instance", 2, True, 0, (1,), (1,)),
    "mix": Layout("mix", "half on each", 2, True, 0, (0, 1), (1, 0)),
    "local": Layout("local", "no Redis", 1, False, 0, (0,), (0,)),
    # As "mix", with the store shared: Redis carries the updates, one lease holder persists.
    "shared": Layout("shared", "half on each, shared store", 2, True, 0, (0, 1), (1, 0), True),
}
#: CPU comparison: (a) in-process backplane, (b) one instance with Redis, (c) two with Redis.
CPU_LAYOUTS = (("a", "local"), ("b", "same"), ("c", "mix"))


@dataclass(kw_only=True)
class ScaleoutConfig(LoadSettings):
    n: int = 100
    rate: float = 20.0
    settle: float = 1.0
    idle: float = 3.0
    layouts: tuple[str, ...] = ("same", "cross", "mix", "local")
    rounds: int = 1
    server_args: tuple[str, ...] = ()
    redis_server: str = "redis-server"
    profile_dir: str | None = None
    log_dir: str | None = None
    profile_rate: int = 250
    profile_gil: bool = False
    room_prefix: str = "idea:scaleout"


@dataclass
class GroupResult:
    """Deliveries to the subscribers of one server."""

    server: str
    latency_ms: Summary
    delivered: int
    expected: int


@dataclass
class RunResult:
    layout: Layout
    round: int
    room: str = ""
    sent: int = 0
    expected: int = 0
    delivered: int = 0
    latencies_ms: array = field(default_factory=lambda: array("d"))
    latency_ms: Summary = field(default_factory=lambda: Summary.of([]))
    read_latency_ms: Summary = field(default_factory=lambda: Summary.of([]))
    groups: list[GroupResult] = field(default_factory=list)
    converged: bool = False
    drained: bool = False
    closed: dict[str, int] = field(default_factory=dict)
    writer_late_max_ms: float = 0.0
    server_cpu: list[CpuShare] = field(default_factory=list)
    #: Each server's CPU over ``--idle`` seconds before any client connected.
    idle_cpu: list[CpuShare] = field(default_factory=list)
    #: System (kernel) part of ``server_cpu``, all servers together.
    server_sys_s: float = 0.0
    redis_cpu: CpuShare | None = None
    main_cpu: CpuShare | None = None
    worker_cpu: list[CpuShare] = field(default_factory=list)
    worker_lag_p99_ms: float = 0.0
    connect_failed: int = 0
    profiled: bool = False
    profiles: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    #: Error lines logged after the server was told to stop (SIGTERM).
    shutdown_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.converged and self.delivered == self.expected and not self.errors

    @property
    def server_cpu_s(self) -> float:
        return sum(s.cpu_s for s in self.server_cpu)

    @property
    def window_s(self) -> float:
        return self.server_cpu[0].wall_s if self.server_cpu else 0.0

    @property
    def server_busy_s(self) -> float:
        """Server CPU over the window minus what the same servers used idle for as long."""
        idle = sum(i.share for i in self.idle_cpu) if self.idle_cpu else 0.0
        return self.server_cpu_s - idle * self.window_s

    def per_1000(self, cpu_s: float) -> float:
        return cpu_s / self.delivered * 1000 if self.delivered else float("nan")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


# -- one run -----------------------------------------------------------------------------------


async def measure(
    layout: Layout,
    urls: list[str],
    server_pids: list[int],
    redis_pid: int | None,
    pool: SubscriberPool,
    cfg: ScaleoutConfig,
    result: RunResult,
    profile_prefix: Path | None,
) -> None:
    """Connect, warm up, measure, drain, check convergence; fill ``result``."""
    writer = Writer()
    readers = [FullClient() for _ in range(cfg.full_clients)]
    try:
        await writer.start(urls[layout.writer], cfg.connect_timeout)
        await asyncio.gather(
            *(
                r.start(urls[layout.readers[i % len(layout.readers)]], cfg.connect_timeout)
                for i, r in enumerate(readers)
            )
        )
        for server, count in zip(
            layout.subscribers, _split(cfg.n, len(layout.subscribers)), strict=True
        ):
            _, failed, errors, wall = await pool.connect(
                urls[server],
                count,
                cfg.connect_concurrency,
                cfg.connect_timeout,
                cfg.kernel_timestamps,
                group=SERVER_NAMES[server],
            )
            _log(f"  {count} subscribers on {SERVER_NAMES[server]} in {wall:.2f} s")
            if failed:
                result.connect_failed += failed
                result.errors.append(f"{failed} subscribers failed to connect, e.g. {errors[:2]}")

        warm = max(3, math.ceil(cfg.rate * cfg.warmup))
        await _send_paced(writer, 0, warm, cfg.rate, cfg.update_size)
        warm_ok, _ = await pool.wait(warm, cfg.drain_timeout)
        if not warm_ok:
            result.errors.append("warm-up updates not delivered to every subscriber")

        count = max(1, round(cfg.rate * cfg.duration))
        profilers = []
        if profile_prefix is not None:
            for i, pid in enumerate(server_pids):
                out = Path(f"{profile_prefix}-{SERVER_NAMES[i]}.txt")
                proc = await start_py_spy(
                    pid, out, count / cfg.rate + 5, cfg.profile_rate, cfg.profile_gil
                )
                if proc is not None:
                    profilers.append(proc)
                    result.profiles.append(str(out))
            result.profiled = bool(profilers)

        server_meters = [CpuMeter(pid) for pid in server_pids]
        sys0 = [(proc_cpu_times(pid) or (0.0, 0.0))[1] for pid in server_pids]
        redis_meter = CpuMeter(redis_pid) if redis_pid else None
        main_meter = CpuMeter()
        await pool.mark()
        main_meter.start()
        for m in server_meters:
            m.start()
        if redis_meter:
            redis_meter.start()
        send_times, late = await _send_paced(writer, warm, count, cfg.rate, cfg.update_size)
        result.sent = count
        result.writer_late_max_ms = late * 1000
        result.drained, _ = await pool.wait(warm + count, cfg.drain_timeout)
        result.server_cpu = [m.stop() for m in server_meters]
        sys1 = [
            (proc_cpu_times(pid) or (0.0, s0))[1] for pid, s0 in zip(server_pids, sys0, strict=True)
        ]
        result.server_sys_s = sum(b - a for a, b in zip(sys0, sys1, strict=True))
        if redis_meter:
            result.redis_cpu = redis_meter.stop()
        result.worker_cpu = pool.cpu()
        result.main_cpu = main_meter.stop()
        for proc in profilers:
            await stop_py_spy(proc)

        collected = await pool.collect(warm, send_times)
        result.expected = collected.expected
        result.delivered = collected.delivered
        result.closed = collected.closed
        result.worker_lag_p99_ms = collected.lag_p99_ms
        result.latencies_ms = collected.latencies_ms
        result.latency_ms = Summary.of(collected.latencies_ms)
        result.read_latency_ms = Summary.of(collected.read_latencies_ms)
        if len(layout.subscribers) > 1:
            for server in layout.subscribers:
                name = SERVER_NAMES[server]
                part = await pool.collect(warm, send_times, group=name)
                result.groups.append(
                    GroupResult(name, Summary.of(part.latencies_ms), part.delivered, part.expected)
                )
        result.converged = await _converged(writer, readers, cfg.drain_timeout)
    except (TimeoutError, OSError, RuntimeError) as e:
        result.errors.append(f"{type(e).__name__}: {e}")
    finally:
        await pool.disconnect()
        await asyncio.gather(writer.close(), *(r.close() for r in readers))


async def run_layout(
    layout: Layout, cfg: ScaleoutConfig, pool: SubscriberPool, run_id: str, rnd: int
) -> RunResult:
    """One run of ``layout`` on fresh servers (and a fresh Redis); they are stopped after."""
    result = RunResult(layout, rnd, room=f"{cfg.room_prefix}-{run_id}-{layout.name}-{rnd}")
    spawners: list[SpawnedOmniforge] = []
    _log(f"[{layout.name} round {rnd}] {layout.describe()}")
    try:
        async with AsyncExitStack() as stack:
            extra = list(cfg.server_args)
            redis: SpawnedRedis | None = None
            if layout.redis:
                redis = await stack.enter_async_context(SpawnedRedis(cfg.redis_server))
                extra.append(f"--OmniForgeApp.redis_url={redis.url}")
            if layout.shared_store:
                shared_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                extra += [
                    "--OmniForgeApp.sqlite_shared=True",
                    f"--OmniForgeApp.db_path={shared_dir / 'shared.sqlite'}",
                ]
            spawners = await stack.enter_async_context(
                spawn_omniforge_servers(layout.servers, extra)
            )
            await asyncio.sleep(cfg.settle)  # let start-up work finish before connecting
            if cfg.idle > 0:
                meters = [CpuMeter(s.proc.pid) for s in spawners]  # type: ignore[union-attr]
                for m in meters:
                    m.start()
                await asyncio.sleep(cfg.idle)
                result.idle_cpu = [m.stop() for m in meters]
            profile_prefix = None
            if cfg.profile_dir:
                profile_prefix = Path(cfg.profile_dir) / f"scaleout-{run_id}-{layout.name}-{rnd}"
            await measure(
                layout,
                [s.server.url(result.room) for s in spawners],  # type: ignore[union-attr]
                [s.proc.pid for s in spawners],  # type: ignore[union-attr]
                redis.pid if redis else None,
                pool,
                cfg,
                result,
                profile_prefix,
            )
    except RuntimeError as e:  # a server or Redis that did not start
        result.errors.append(f"RuntimeError: {e}")
    for i, s in enumerate(spawners):
        if cfg.log_dir and s.log_tail:
            out = Path(cfg.log_dir) / f"scaleout-{run_id}-{layout.name}-{rnd}-{SERVER_NAMES[i]}.log"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(s.log_tail)
        if s.server is not None:
            running, _, stopping = s.log_tail.partition("received signal 15")
            name = SERVER_NAMES[i]
            result.log_errors += [
                f"{name}: {line}"
                for line in log_errors(running)
                if not any(noise in line for noise in KNOWN_SHUTDOWN_NOISE)
            ]
            result.shutdown_errors += [
                f"{name}: {line}"
                for line in log_errors(stopping)
                if not any(noise in line for noise in KNOWN_SHUTDOWN_NOISE)
            ]
    return result


# -- report ------------------------------------------------------------------------------------


RUN_COLUMNS = [
    "layout",
    "round",
    "servers",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "as read p50/p99 ms",
    "delivered/expected",
    "converged",
    "per server p50/p99 ms",
    "server CPU s / 1k deliveries (of it sys)",
    "server CPU (each)",
    "idle server CPU (each)",
    "Redis CPU s / 1k",
    "Redis CPU",
    "gen CPU subscribers / main",
    "gen loop lag p99 ms",
]


def run_row(r: RunResult) -> list[str]:
    lat = r.latency_ms
    groups = (
        ", ".join(f"{g.server} {g.latency_ms.p50:.1f}/{g.latency_ms.p99:.1f}" for g in r.groups)
        or "-"
    )
    workers = sum(s.share for s in r.worker_cpu) if r.worker_cpu else None
    return [
        r.layout.name + (" (profiled)" if r.profiled else ""),
        str(r.round),
        r.layout.describe(),
        f"{lat.p50:.1f}",
        f"{lat.p95:.1f}",
        f"{lat.p99:.1f}",
        f"{lat.max:.1f}",
        f"{r.read_latency_ms.p50:.1f}/{r.read_latency_ms.p99:.1f}"
        if r.read_latency_ms.count
        else "-",
        f"{r.delivered}/{r.expected}",
        "OK" if r.converged else "FAILED",
        groups,
        f"{r.per_1000(r.server_cpu_s):.3f} ({r.per_1000(r.server_sys_s):.3f})",
        " + ".join(format_share(s) for s in r.server_cpu) or "-",
        " + ".join(f"{s.share * 100:.1f}%" for s in r.idle_cpu) or "-",
        f"{r.per_1000(r.redis_cpu.cpu_s):.3f}" if r.redis_cpu else "-",
        format_share(r.redis_cpu),
        f"{workers * 100:.0f}% / {format_share(r.main_cpu)}" if workers is not None else "-",
        f"{r.worker_lag_p99_ms:.1f}",
    ]


def _measured(results: list[RunResult], name: str) -> list[RunResult]:
    """Runs of a layout that count for the targets (not profiled: py-spy costs CPU)."""
    return [r for r in results if r.layout.name == name and not r.profiled]


def _pooled_p99(runs: list[RunResult]) -> float:
    values = array("d")
    for r in runs:
        values.extend(r.latencies_ms)
    return Summary.of(values).p99


@dataclass
class Verdicts:
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def verdicts(results: list[RunResult]) -> Verdicts:
    v = Verdicts()
    same, cross, mix = (_measured(results, n) for n in ("same", "cross", "mix"))
    all_ok = all(r.ok for r in results)

    # Target 1: cross - same at p99, per round (paired in run order) and pooled.
    pairs = list(zip(same, cross, strict=False))
    if pairs:
        rows = []
        diffs = []
        for s, c in pairs:
            d = c.latency_ms.p99 - s.latency_ms.p99
            diffs.append(d)
            rows.append(
                [
                    str(s.round),
                    f"{s.latency_ms.p50:.1f} / {s.latency_ms.p99:.1f}",
                    f"{c.latency_ms.p50:.1f} / {c.latency_ms.p99:.1f}",
                    f"{c.latency_ms.p50 - s.latency_ms.p50:+.1f}",
                    f"{d:+.1f}",
                ]
            )
        pooled = _pooled_p99(cross) - _pooled_p99(same)
        rows.append(
            [
                "pooled",
                f"- / {_pooled_p99(same):.1f}",
                f"- / {_pooled_p99(cross):.1f}",
                "",
                f"{pooled:+.1f}",
            ]
        )
        median = statistics.median(diffs)
        ok = median <= 5.0 and all(r.ok for r in same + cross)
        v.tables.append(
            (
                "Target 1 — cross-instance p99 - same-instance p99 ≤ 5 ms",
                ["round", "same p50 / p99 ms", "cross p50 / p99 ms", "Δ p50 ms", "Δ p99 ms"],
                rows,
            )
        )
        v.lines.append(
            f"target 1: median Δp99 over {len(diffs)} pair(s) = {median:+.1f} ms, pooled "
            f"{pooled:+.1f} ms -> {'PASS' if ok else 'FAIL'}"
            + ("" if all(r.ok for r in same + cross) else " (a run lost deliveries or diverged)")
        )
    if mix:
        parts = []
        for r in mix:
            parts.append(
                f"round {r.round}: all {r.latency_ms.p99:.1f} ms, "
                + ", ".join(f"on {g.server} {g.latency_ms.p99:.1f} ms" for g in r.groups)
            )
        v.lines.append("mix (writer on A, half the subscribers on each) p99: " + "; ".join(parts))

    # Target 2: server CPU per 1,000 deliveries, pooled over rounds.
    cpu_rows = []
    per: dict[str, float] = {}
    per_with_redis: dict[str, float] = {}
    busy: dict[str, float] = {}
    for label, name in CPU_LAYOUTS:
        runs = _measured(results, name)
        if not runs:
            continue
        delivered = sum(r.delivered for r in runs)
        server_s = sum(r.server_cpu_s for r in runs)
        redis_s = sum(r.redis_cpu.cpu_s for r in runs if r.redis_cpu)
        busy_s = sum(r.server_busy_s for r in runs)
        sys_s = sum(r.server_sys_s for r in runs)
        busy[label] = busy_s / delivered * 1000 if delivered else float("nan")
        per[label] = server_s / delivered * 1000 if delivered else float("nan")
        per_with_redis[label] = (
            (server_s + redis_s) / delivered * 1000 if delivered else float("nan")
        )
        rounds = ", ".join(f"{r.per_1000(r.server_cpu_s):.3f}" for r in runs)
        cpu_rows.append(
            [
                f"({label}) {name}",
                LAYOUTS[name].describe(),
                f"{per[label]:.3f}",
                f"{(server_s - sys_s) / delivered * 1000:.3f} / {sys_s / delivered * 1000:.3f}"
                if delivered
                else "-",
                rounds,
                f"{redis_s / delivered * 1000:.3f}" if LAYOUTS[name].redis and delivered else "-",
                f"{per_with_redis[label]:.3f}",
                f"{per[label] / per['a']:.2f}" if "a" in per and label != "a" else "1",
                f"{per_with_redis[label] / per_with_redis['a']:.2f}"
                if "a" in per_with_redis and label != "a"
                else "1",
                f"{busy[label]:.3f}"
                + (f" ({busy[label] / busy['a']:.2f})" if "a" in busy and label != "a" else ""),
            ]
        )
    if cpu_rows:
        v.tables.append(
            (
                "Target 2 — server CPU per 1,000 deliveries; Redis adds ≤ 20% over (a)",
                [
                    "config",
                    "layout",
                    "server CPU s / 1k (pooled)",
                    "of it user / sys",
                    "per round",
                    "redis-server CPU s / 1k",
                    "servers + Redis s / 1k",
                    "ratio to (a), servers",
                    "ratio to (a), servers + Redis",
                    "servers minus idle s / 1k (ratio)",
                ],
                cpu_rows,
            )
        )
    if busy and any(r.idle_cpu for r in results):
        v.lines.append(
            "servers minus idle = server CPU in the window minus each server's idle share (no "
            "clients, measured before connecting) times the window: the per-delivery work "
            "without an instance's fixed background cost"
        )
    if "a" in per and ("b" in per or "c" in per):
        ratios = {k: per[k] / per["a"] for k in ("b", "c") if k in per}
        ok = all(x <= 1.20 for x in ratios.values())
        v.lines.append(
            "target 2: "
            + ", ".join(f"({k})/(a) = {x:.2f}" for k, x in ratios.items())
            + f" (servers only) -> {'PASS' if ok else 'FAIL'}; with redis-server's CPU: "
            + ", ".join(
                f"({k})/(a) = {per_with_redis[k] / per_with_redis['a']:.2f}" for k in ratios
            )
        )
    gen = [
        (sum(s.share for s in r.worker_cpu), r.main_cpu.share if r.main_cpu else 0.0)
        for r in results
        if r.worker_cpu
    ]
    if gen:
        v.lines.append(
            "load generator: subscriber process(es) "
            f"{min(g[0] for g in gen) * 100:.0f}-{max(g[0] for g in gen) * 100:.0f}% of a core, "
            f"main process {min(g[1] for g in gen) * 100:.0f}-{max(g[1] for g in gen) * 100:.0f}%"
        )
    if not all_ok:
        v.lines.append("some runs FAILED (lost deliveries, divergence or errors): see the notes")
    return v


def run_notes(results: list[RunResult]) -> list[str]:
    notes = []
    for r in results:
        tag = f"{r.layout.name} round {r.round}"
        if r.closed:
            notes.append(f"{tag}: connections closed during the run: {r.closed}")
        if r.errors:
            notes.append(f"{tag}: {'; '.join(r.errors)}")
        if r.writer_late_max_ms > 5:
            notes.append(f"{tag}: writer ran up to {r.writer_late_max_ms:.0f} ms behind schedule")
        if r.log_errors:
            notes.append(
                f"{tag}: server log had {len(r.log_errors)} error line(s) while running, first: "
                f"{r.log_errors[0][:300]!r}"
            )
        if r.shutdown_errors:
            notes.append(
                f"{tag}: {len(r.shutdown_errors)} error line(s) after SIGTERM, first: "
                f"{r.shutdown_errors[0][:200]!r}"
            )
        if r.profiled:
            notes.append(
                f"{tag}: profiled with py-spy ({', '.join(r.profiles)}); not in the targets"
            )
    return notes


def append_results(
    path: Path,
    facts: list[tuple[str, str]],
    results: list[RunResult],
    v: Verdicts,
    notes: list[str],
) -> None:
    """Append one section (facts, per-run table, target tables, verdicts); never rewrites."""
    parts = ["## Scale-out over Redis — jupyter_omniforge", ""]
    parts += [f"- {name}: {value}" for name, value in facts]
    parts += ["", markdown_table(RUN_COLUMNS, [run_row(r) for r in results]), ""]
    for title, columns, rows in v.tables:
        parts += [f"**{title}**", "", markdown_table(columns, rows), ""]
    parts += [f"- {line}" for line in v.lines + notes] + [""]
    append_section(path, parts)


# -- main --------------------------------------------------------------------------------------


async def run_scaleout(cfg: ScaleoutConfig) -> list[RunResult]:
    run_id = secrets.token_hex(3)
    loop = resolve_loop(cfg.loop)
    pool = await SubscriberPool.start(cfg.procs, loop)
    results: list[RunResult] = []
    try:
        for rnd in range(1, cfg.rounds + 1):
            for name in cfg.layouts:
                result = await run_layout(LAYOUTS[name], cfg, pool, run_id, rnd)
                results.append(result)
                print(
                    " | ".join(
                        f"{c}: {v}" for c, v in zip(RUN_COLUMNS, run_row(result), strict=True)
                    ),
                    flush=True,
                )
                for note in run_notes([result]):
                    print("  " + note, flush=True)
                if result.profiles:
                    for path in result.profiles:
                        print(summarize_profile(path), flush=True)
                await asyncio.sleep(0.5)
    finally:
        await pool.stop()
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.scaleout",
        description="Scale-out over Redis: cross- vs same-instance delivery latency, server CPU "
        "per delivery with and without Redis (fresh servers and Redis per run).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--subscribers", type=int, default=100, help="N subscribers per room")
    p.add_argument("--rate", type=float, default=20.0, help="updates per second")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds (at least 3 updates)")
    p.add_argument("--update-size", type=int, default=32, help="characters per update")
    p.add_argument(
        "--full-clients", type=int, default=3, help="pycrdt clients checking convergence"
    )
    p.add_argument("--procs", type=int, default=1, help="worker processes for light subscribers")
    p.add_argument("--connect-concurrency", type=int, default=100)
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--drain-timeout", type=float, default=10.0)
    p.add_argument(
        "--settle", type=float, default=1.0, help="seconds between servers ready and connecting"
    )
    p.add_argument(
        "--idle",
        type=float,
        default=3.0,
        help="seconds each run meters its servers idle (before any client) to separate their "
        "fixed background CPU; 0 to skip",
    )
    p.add_argument(
        "--layouts",
        default="same,cross,mix,local",
        help=f"comma-separated, run in this order each round; from {', '.join(LAYOUTS)}",
    )
    p.add_argument("--rounds", type=int, default=1, help="times the layouts are run, alternating")
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra jupyter server argument for every instance (repeatable)",
    )
    p.add_argument("--redis-server", default="redis-server", help="redis-server executable")
    p.add_argument("--loop", choices=LOOPS, default="auto")
    p.add_argument("--timestamps", choices=("kernel", "read"), default="kernel")
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="record every server with py-spy during the measured phase (raw stacks in DIR); "
        "profiled runs are reported but left out of the targets",
    )
    p.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument(
        "--profile-gil",
        action="store_true",
        help="py-spy --gil: only samples holding the GIL (Python running, not waiting in a "
        "syscall or for a CPU)",
    )
    p.add_argument(
        "--keep-logs", metavar="DIR", help="write each server's log (last 400 lines) to DIR"
    )
    p.add_argument("--results", type=Path, default=RESULTS_DIR / "scaleout.md")
    p.add_argument("--no-record", action="store_true", help="do not append to the results file")
    args = p.parse_args(argv)
    unknown = [x for x in args.layouts.split(",") if x.strip() and x.strip() not in LAYOUTS]
    if unknown:
        p.error(f"unknown layout(s) {unknown}; choose from {', '.join(LAYOUTS)}")
    return args


async def _main(args: argparse.Namespace) -> int:
    cfg = ScaleoutConfig(
        n=args.subscribers,
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        update_size=args.update_size,
        full_clients=args.full_clients,
        procs=args.procs,
        connect_concurrency=args.connect_concurrency,
        connect_timeout=args.connect_timeout,
        drain_timeout=args.drain_timeout,
        settle=args.settle,
        idle=args.idle,
        layouts=tuple(x.strip() for x in args.layouts.split(",") if x.strip()),
        rounds=max(1, args.rounds),
        server_args=tuple(args.server_arg),
        redis_server=args.redis_server,
        loop=args.loop,
        kernel_timestamps=args.timestamps == "kernel",
        profile_dir=args.profile,
        log_dir=args.keep_logs,
        profile_rate=args.profile_rate,
        profile_gil=args.profile_gil,
    )
    env = environment(resolve_loop(cfg.loop))
    started = time.perf_counter()
    results = await run_scaleout(cfg)
    v = verdicts(results)
    notes = run_notes(results)
    print()
    for title, columns, rows in v.tables:
        print(title)
        print(markdown_table(columns, rows))
        print()
    for line in v.lines:
        print(line)
    if not args.no_record:
        facts = [
            *env,
            (
                "versions",
                f"jupyter_omniforge {_omniforge_version()}, jupyter_server {dist_version('jupyter_server')}, "
                f"redis-py {dist_version('redis')}, redis-server {redis_server_version(cfg.redis_server)}",
            ),
            ("command", f"`{command_line()}`"),
            (
                "settings",
                f"N = {cfg.n} subscribers, {cfg.rate:g} updates/s for {cfg.duration:g} s "
                f"(warm-up {cfg.warmup:g} s), update {cfg.update_size} chars, "
                f"{cfg.full_clients} full clients, {cfg.procs} subscriber process(es), arrival = "
                f"{'kernel receive timestamp' if cfg.kernel_timestamps else 'read time'}; fresh "
                f"servers and Redis (no persistence, own port) per run; wall {time.perf_counter() - started:.0f} s",
            ),
        ]
        append_results(args.results, facts, results, v, notes)
        _log(f"appended to {args.results}")
    return 0 if all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run(_main(args), resolve_loop(args.loop))


if __name__ == "__main__":
    sys.exit(main())
