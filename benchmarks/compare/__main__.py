"""``python -m benchmarks.compare``: every workload against every server, tables and a plot."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from ..events import source_revision
from ..join import parse_size, size_label
from ..loadgen.cpu import wait_for_quiet
from ..loadgen.eventloop import LOOPS, resolve_loop, run
from ..loadgen.pool import SubscriberPool
from ..loadgen.profiler import start_py_spy, stop_py_spy, summarize_profile
from ..loadgen.report import (
    RESULTS_DIR,
    append_section,
    command_line,
    environment,
    markdown_table,
)
from ..loadgen.servers import (
    SpawnedJupyterServer,
    dist_version,
    node_version,
    peer_version,
    redis_server_version,
)
from . import awareness, events, fanout, join, memory, rate, rooms
from .config import QUICK, CompareConfig
from .contenders import CONTENDERS, Running, start
from .outcome import GEN_BUSY, Outcome, median_of_rounds
from .plot import plot
from .table import LOAD_COLUMNS, derive, detail_table, load_rows, summary

Workload = Callable[[Running, SubscriberPool, CompareConfig, str], Awaitable[Outcome]]

#: name → (run, detail columns, title). Run in this order.
WORKLOADS: dict[str, tuple[Workload, list[str], str]] = {
    "fanout": (fanout.run, fanout.COLUMNS, "(a) Fan-out: 1 writer → N subscribers"),
    "rate": (rate.run, rate.COLUMNS, "(a) Highest sustained rate (search)"),
    "rooms": (rooms.run, rooms.COLUMNS, "(b) Many rooms x 2 clients editing"),
    "join": (join.run, join.COLUMNS, "(c) Join a large document"),
    "conn-memory": (memory.connections, memory.COLUMNS, "(d) Memory per idle connection"),
    "room-memory": (memory.rooms, memory.COLUMNS, "(d) Memory per open room"),
    "awareness": (awareness.run, awareness.COLUMNS, "(e) Awareness storm"),
    "events": (events.run, events.COLUMNS, "(f) Events: 1 emitter → N subscribers"),
}
ALIASES = {"memory": ["conn-memory", "room-memory"]}
#: Log lines of every jupyter server in this venv at shutdown, unrelated to the workload:
#: jupyter_server_ydoc's ``JupyterWebsocketServer.clean()`` task raises after its server stopped.
KNOWN_NOISE = ("WebsocketServer not running",)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def measure(
    workload: str, key: str, pool: SubscriberPool, cfg: CompareConfig, run_id: str
) -> Outcome:
    """``workload`` against a fresh ``key`` server; never raises (a crash is a failed run)."""
    contender = CONTENDERS[key]
    if workload == "events" and contender.events is None:
        return Outcome(workload, key, skipped=contender.no_events)
    worker_pids = [w.proc.pid for w in pool.workers]
    busy = await wait_for_quiet(worker_pids, cfg.quiet_wait, cfg.quiet_cpu)
    started = time.perf_counter()
    running: Running | None = None
    try:
        async with start(contender, cfg.server_args) as running:
            await asyncio.sleep(cfg.settle)  # start-up work done before clients come
            profile = await _profile(running, workload, cfg, run_id)
            try:
                outcome = await WORKLOADS[workload][0](running, pool, cfg, run_id)
            finally:
                if profile is not None:
                    await stop_py_spy(profile[0])
            if profile is not None:
                summary_path = profile[1].with_suffix(".summary.txt")
                summary_path.write_text(summarize_profile(str(profile[1]), top=30) + "\n")
                outcome.notes.append(f"profiled with py-spy: {summary_path}")
    except Exception as e:  # one broken run must not end a 20-minute comparison
        outcome = Outcome(workload, key)
        outcome.problems.append(f"{type(e).__name__}: {e}")
        _log("".join(traceback.format_exception(e)[-6:]))
        await pool.disconnect()
    outcome.seconds = time.perf_counter() - started
    if busy:
        outcome.notes.append(busy)
    if running is not None and running.process is not None and running.process.killed:
        outcome.notes.append(
            f"the server did not exit within {running.process.stop_timeout:g} s of SIGTERM "
            "and was killed"
        )
    if running is not None:
        errors = [
            line
            for line in running.server.log_errors
            if not any(noise in line for noise in KNOWN_NOISE)
        ]
        if errors:
            outcome.notes.append(
                f"server log: {len(errors)} error line(s), first: `{errors[0][:200]}`"
            )
            if running.process is not None:  # keep the log of a run that went wrong
                kept = Path(tempfile.gettempdir()) / f"compare-{run_id}-{workload}-{key}.log"
                kept.write_text(running.process.log_tail + "\n")
                outcome.notes.append(f"server log kept in {kept}")
    return outcome


async def _profile(
    running: Running, workload: str, cfg: CompareConfig, run_id: str
) -> tuple[asyncio.subprocess.Process, Path] | None:
    """With ``--profile``: py-spy recording a Python server for the whole workload."""
    if cfg.profile_dir is None or not isinstance(running.process, SpawnedJupyterServer):
        return None
    assert running.server.pid is not None
    out = Path(cfg.profile_dir) / f"compare-{run_id}-{workload}-{running.contender.key}.txt"
    proc = await start_py_spy(running.server.pid, out, 3600, cfg.profile_rate, gil=True)
    return (proc, out) if proc is not None else None


async def compare(cfg: CompareConfig, run_id: str) -> list[Outcome]:
    """Each workload in turn against every server (fresh each time), rotating which goes first."""
    pool = await SubscriberPool.start(cfg.procs, resolve_loop(cfg.loop))
    outcomes: list[Outcome] = []
    try:
        for i, workload in enumerate(cfg.workloads):
            rounds: dict[str, list[Outcome]] = {key: [] for key in cfg.contenders}
            for r in range(cfg.rounds):
                shift = (i + r) % len(cfg.contenders)
                for key in cfg.contenders[shift:] + cfg.contenders[:shift]:
                    label = f" (round {r + 1} of {cfg.rounds})" if cfg.rounds > 1 else ""
                    _log(f"== {workload} — {CONTENDERS[key].title}{label}")
                    o = await measure(workload, key, pool, cfg, run_id)
                    rounds[key].append(o)
                    _print_outcome(o)
            outcomes += [median_of_rounds(rounds[key]) for key in cfg.contenders]
    finally:
        await pool.stop()
    return outcomes


def _print_outcome(o: Outcome) -> None:
    figures = ", ".join(f"{k} {v:,.1f}" for k, v in o.figures.items())
    status = "skipped: " + o.skipped if o.skipped else ("OK" if o.ok else "FAILED")
    title = CONTENDERS[o.contender].title
    print(f"{o.workload:12} {title:20} {status} ({o.seconds:.0f} s) {figures}", flush=True)
    for line in o.problems + o.notes + o.generator_bound():
        print(f"    {line}", flush=True)


def versions(contenders: Sequence[str]) -> str:
    parts = [f"node {node_version()}"]
    if "y-websocket" in contenders:
        parts.append(f"y-websocket {peer_version('y-websocket')}")
    if "hocuspocus" in contenders:
        parts.append(f"@hocuspocus/server {peer_version('@hocuspocus/server')}")
    parts.append(f"yjs {peer_version('yjs')}")
    parts += [
        f"jupyter_server {dist_version('jupyter_server')}",
        f"jupyter-server-ydoc {dist_version('jupyter-server-ydoc')}",
        f"pycrdt-websocket {dist_version('pycrdt-websocket')}",
        f"jupyter_omniforge {dist_version('jupyter_omniforge')} (source {source_revision()})",
    ]
    if "omniforge-redis" in contenders:
        parts.append(f"redis-server {redis_server_version()}, redis-py {dist_version('redis')}")
    return ", ".join(parts)


def settings(cfg: CompareConfig) -> str:
    return (
        f"fan-out N = {','.join(map(str, cfg.subscribers))} at {cfg.rate:g} updates/s for "
        f"{cfg.duration:g} s (warm-up {cfg.warmup:g} s), {cfg.full_clients} full clients; rate "
        f"search at N = {cfg.search_subscribers}, p99 ≤ {cfg.search_p99:g} ms, from "
        f"{cfg.search_start:g}/s doubling to ≤ {cfg.search_max:g}/s then {cfg.search_steps} "
        f"bisection step(s), {cfg.search_duration:g} s each; {cfg.rooms} rooms x 2 clients at "
        f"{cfg.rooms_rate:g} updates/s each for {cfg.rooms_duration:g} s; join "
        f"{', '.join(size_label(s) for s in cfg.join_sizes)} x {cfg.join_clients} clients; "
        f"memory {cfg.memory_connections} idle connections / {cfg.memory_rooms} rooms; "
        f"awareness {cfg.awareness_clients} clients x {cfg.awareness_hz:g} Hz for "
        f"{cfg.awareness_duration:g} s; events 1 → {cfg.events_subscribers} at "
        f"{cfg.events_rate:g}/s for {cfg.events_duration:g} s; {cfg.procs} subscriber "
        f"process(es); a fresh server (and Redis) per workload and server"
        + (
            f", {cfg.rounds} interleaved rounds, figures are their medians"
            if cfg.rounds > 1
            else ""
        )
        + "; arrival = "
        + ("kernel receive timestamp" if cfg.kernel_timestamps else "read time")
    )


def record(
    path: Path,
    cfg: CompareConfig,
    outcomes: list[Outcome],
    facts: list[tuple[str, str]],
    png: Path | None,
) -> None:
    """Append this run to ``path``: summary with ratios, load table, per-workload details."""
    columns, rows, verdicts = summary(cfg, outcomes, cfg.contenders)
    parts = ["## Side by side — " + facts[0][1], ""]
    parts += [f"- {name}: {value}" for name, value in facts]
    parts += ["", markdown_table(columns, rows), ""]
    parts += [f"- {line}" for line in verdicts]
    parts += [
        "- FAILED: the run lost data or broke (see the workload's table); n/a: the server has "
        "no such feature; ratios are ours ÷ the best peer's figure of this run.",
        "",
    ]
    if png is not None:
        parts += [f"![side by side]({png.name})", ""]
    bound = [
        f"{o.workload} / {CONTENDERS[o.contender].title}: {b}"
        for o in outcomes
        for b in o.generator_bound()
    ]
    parts += [
        "**Load while measuring** (CPU share of one core; the machine has "
        f"{os.cpu_count()} cores). The generator is suspect where one of its processes is above "
        f"{GEN_BUSY * 100:.0f}%:" + (" none was." if not bound else ""),
        "",
        markdown_table(LOAD_COLUMNS, load_rows(outcomes)),
        "",
    ]
    parts += [f"- generator busy: {b}" for b in bound]
    for workload in cfg.workloads:
        _, detail_columns, title = WORKLOADS[workload]
        these = [o for o in outcomes if o.workload == workload]
        parts += [f"**{title}**", "", detail_table(detail_columns, these), ""]
        for o in these:
            who = CONTENDERS[o.contender].title
            parts += [f"- {who}: {line}" for line in o.problems + o.notes]
        parts.append("")
    append_section(path, parts)


def _csv(kind: type) -> Callable[[str], list]:
    return lambda text: [kind(x) for x in text.split(",") if x.strip()]


#: Command-line options for the sizes: (flag, CompareConfig field, parser, help).
SIZE_OPTIONS: list[tuple[str, str, Callable[[str], object], str]] = [
    ("--subscribers", "subscribers", _csv(int), "(a) fan-out N values, comma-separated"),
    ("--rate", "rate", float, "(a) fan-out updates/s"),
    ("--duration", "duration", float, "(a) measured seconds per fan-out run"),
    ("--warmup", "warmup", float, "warm-up seconds (fan-out, awareness, events)"),
    ("--search-subscribers", "search_subscribers", int, "(a) N of the rate search"),
    ("--search-p99", "search_p99", float, "(a) p99 bound of a sustained rate, ms"),
    ("--search-start", "search_start", float, "(a) first rate tried, updates/s"),
    ("--search-max", "search_max", float, "(a) stop doubling above this rate"),
    ("--search-min", "search_min", float, "(a) stop halving below this rate"),
    ("--search-steps", "search_steps", int, "(a) bisection steps after doubling"),
    ("--search-duration", "search_duration", float, "(a) measured seconds per rate tried"),
    ("--search-drain", "search_drain", float, "(a) seconds a rate tried may take to drain"),
    ("--rooms", "rooms", int, "(b) rooms, two editing clients each"),
    ("--rooms-rate", "rooms_rate", float, "(b) updates/s per client"),
    ("--rooms-duration", "rooms_duration", float, "(b) seconds of editing"),
    ("--join-size", "join_sizes", lambda t: [parse_size(s) for s in t.split(",")], "(c) sizes"),
    ("--join-clients", "join_clients", int, "(c) fresh clients joining, per size"),
    ("--memory-connections", "memory_connections", int, "(d) idle connections"),
    ("--memory-rooms", "memory_rooms", int, "(d) open rooms"),
    ("--awareness-clients", "awareness_clients", int, "(e) clients in the storm"),
    ("--awareness-hz", "awareness_hz", float, "(e) cursor updates per second per client"),
    ("--awareness-duration", "awareness_duration", float, "(e) seconds of storm"),
    ("--awareness-drain", "awareness_drain", float, "(e) seconds for the last states to arrive"),
    ("--events-subscribers", "events_subscribers", int, "(f) subscribers"),
    ("--events-rate", "events_rate", float, "(f) events/s"),
    ("--events-duration", "events_duration", float, "(f) measured seconds"),
    ("--update-size", "update_size", int, "characters per fan-out update"),
    ("--full-clients", "full_clients", int, "pycrdt clients checking fan-out convergence"),
    ("--procs", "procs", int, "worker processes for light subscribers"),
    ("--connect-concurrency", "connect_concurrency", int, "connections in flight at once"),
    ("--connect-timeout", "connect_timeout", float, "seconds per connection"),
    ("--drain-timeout", "drain_timeout", float, "seconds for late deliveries after the last send"),
    ("--settle", "settle", float, "seconds between a server ready and its first client"),
    ("--quiet-wait", "quiet_wait", float, "wait up to this long for other processes to go quiet"),
    ("--quiet-cpu", "quiet_cpu", float, "'quiet': others use less than this share of a core"),
]


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, CompareConfig]:
    defaults = CompareConfig(contenders=[], workloads=[])
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description="jupyter_omniforge side by side with y-websocket, Hocuspocus and "
        "jupyter-server-ydoc: same workloads, same load generator, same run.",
    )
    p.add_argument(
        "--servers",
        default=",".join(CONTENDERS),
        help=f"comma-separated, from {', '.join(CONTENDERS)} (default: all)",
    )
    p.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated, from {', '.join([*WORKLOADS, *ALIASES])} (default: all)",
    )
    p.add_argument("--quick", action="store_true", help="small sizes, short phases: a smoke run")

    def shown(name: str, value: Any) -> str:
        if name == "join_sizes":
            return ",".join(size_label(v).replace(" ", "") for v in value)
        if isinstance(value, list):
            return ",".join(map(str, value))
        return f"{value:g}"

    for flag, name, kind, text in SIZE_OPTIONS:
        note = f" (default {shown(name, getattr(defaults, name))}"
        note += f"; --quick: {shown(name, QUICK[name])})" if name in QUICK else ")"
        p.add_argument(flag, dest=name, type=kind, default=None, help=text + note)
    p.add_argument("--loop", choices=LOOPS, default="auto", help="the generator's event loop")
    p.add_argument("--timestamps", choices=("kernel", "read"), default="kernel")
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra jupyter server argument for our server (repeatable)",
    )
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="record the Python servers (ours, jupyter-server-ydoc) with py-spy (--gil) during "
        "each workload; raw stacks and a summary per run in DIR. Costs CPU on the same cores: "
        "use it to find where time goes, not for the figures",
    )
    p.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every workload this many times against every server, interleaved, and "
        "report the median of each figure (default 1)",
    )
    p.add_argument("--results", type=Path, default=RESULTS_DIR / "compare.md")
    p.add_argument("--no-record", action="store_true", help="print only; write no results")
    args = p.parse_args(argv)

    contenders = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = [k for k in contenders if k not in CONTENDERS]
    if unknown:
        p.error(f"unknown server(s) {unknown}; choose from {', '.join(CONTENDERS)}")
    workloads: list[str] = []
    for w in (w.strip() for w in args.workloads.split(",") if w.strip()):
        for name in ALIASES.get(w, [w]):
            if name not in WORKLOADS:
                p.error(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
            workloads.append(name)
    cfg = CompareConfig(
        contenders=contenders,
        workloads=[w for w in WORKLOADS if w in workloads],
        loop=args.loop,
        kernel_timestamps=args.timestamps == "kernel",
        server_args=args.server_arg,
        profile_dir=args.profile,
        profile_rate=args.profile_rate,
        rounds=max(1, args.rounds),
    )
    for _, name, _, _ in SIZE_OPTIONS:
        given = getattr(args, name)
        if given is not None:
            setattr(cfg, name, given)
        elif args.quick and name in QUICK:
            setattr(cfg, name, QUICK[name])
    return args, cfg


async def main_async(args: argparse.Namespace, cfg: CompareConfig) -> int:
    run_id = secrets.token_hex(3)
    facts = environment(resolve_loop(cfg.loop))  # date, nproc and load average before the run
    started = time.perf_counter()
    outcomes = await compare(cfg, run_id)
    derive(outcomes)
    wall = time.perf_counter() - started
    columns, rows, verdicts = summary(cfg, outcomes, cfg.contenders)
    print()
    print(markdown_table(columns, rows))
    print()
    for line in verdicts:
        print(line)
    if args.no_record:
        return 0 if all(o.ok or o.skipped for o in outcomes) else 1
    facts += [
        ("cores", str(os.cpu_count())),
        ("versions", versions(cfg.contenders)),
        ("command", f"`{command_line()}`"),
        ("settings", settings(cfg) + ("; --quick" if args.quick else "")),
        ("wall time", f"{wall:.0f} s"),
    ]
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    try:
        png = plot(
            args.results.parent / f"compare-{stamp}.png",
            cfg,
            outcomes,
            cfg.contenders,
            f"jupyter_omniforge side by side — {facts[0][1]} UTC, {os.cpu_count()} cores"
            + (" (--quick)" if args.quick else ""),
        )
    except Exception as e:  # the tables matter more than the picture
        _log(f"plot failed: {type(e).__name__}: {e}")
        png = None
    else:
        if png is None:
            _log("matplotlib is not installed (pip install '.[bench]'): no plot")
    record(args.results, cfg, outcomes, facts, png)
    _log(f"appended to {args.results}" + (f", plot {png}" if png else ""))
    return 0 if all(o.ok or o.skipped for o in outcomes) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = parse_args(argv)
    return run(main_async(args, cfg), resolve_loop(cfg.loop))


if __name__ == "__main__":
    sys.exit(main())
