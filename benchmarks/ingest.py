"""Event ingest: how many events a server stores per second, and its CPU per event, with no
subscriber.

``--connections`` keep-alive HTTP/1.1 connections each POST batches of ``--batch`` events (a JSON
array; ``--batch 1`` POSTs single events, the pre-batch API) to ``omniforge/api/events`` as fast as
the server answers, for ``--duration`` seconds after a warm-up. Events are ``build.progress`` on
``--channels`` channels, so each one also updates its build room's document. Every answer must
store every event of its batch, else the run is FAILED.

Server CPU is the server process and its children (room folds run in a child process), from
``/proc``; µs per event is that CPU over the events stored in the window.

Example::

    python -m benchmarks.ingest --batch 1,100 --connections 4 --duration 10 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from .events import Emitter, SpawnedServer
from .loadgen.cpu import CpuMeter, CpuShare, format_share
from .loadgen.profiler import start_py_spy, stop_py_spy
from .loadgen.report import RESULTS_DIR, append_section, command_line, environment, markdown_table

RESULTS_FILE = RESULTS_DIR / "ingest.md"


@dataclass
class IngestResult:
    batch: int
    stored: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    server_cpu: CpuShare | None = None
    gen_cpu: CpuShare | None = None

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    @property
    def us_per_event(self) -> float:
        if not self.server_cpu or not self.stored:
            return float("nan")
        return self.server_cpu.cpu_s / self.stored * 1e6


async def ingest_run(
    emitter: Emitter, pid: int | None, batch: int, args: argparse.Namespace, run: int
) -> IngestResult:
    result = IngestResult(batch)
    channels = [f"build:ingest-{run}-{i}" for i in range(args.channels)]
    seq = 0
    measuring = False
    stop_at = 0.0

    async def worker(w: int) -> None:
        nonlocal seq
        k = w
        while time.perf_counter() < stop_at:
            first, seq = seq, seq + batch
            channel = channels[k % len(channels)]
            k += 1
            if batch == 1:
                stored = [e for e in [await emitter.emit(channel, first)] if e is not None]
            else:
                stored = await emitter.emit_batch(channel, list(range(first, first + batch)))
            if measuring:
                result.stored += len(stored)

    stop_at = time.perf_counter() + args.warmup
    await asyncio.gather(*(worker(w) for w in range(args.connections)))
    server = CpuMeter(pid, tree=True) if pid else None
    gen = CpuMeter()
    measuring = True
    profiler = None
    if args.profile and pid:
        out = args.profile.with_name(f"{args.profile.stem}-batch{batch}-{run}.raw")
        profiler = await start_py_spy(pid, out, args.duration, 200, gil=args.profile_gil)
    if server:
        server.start()
    gen.start()
    t0 = time.perf_counter()
    stop_at = t0 + args.duration
    await asyncio.gather(*(worker(w) for w in range(args.connections)))
    result.seconds = time.perf_counter() - t0
    result.gen_cpu = gen.stop()
    result.server_cpu = server.stop() if server else None
    if profiler is not None:
        await stop_py_spy(profiler)
    result.errors = list(emitter.errors)
    emitter.errors.clear()
    return result


async def main_async(args: argparse.Namespace) -> list[IngestResult]:
    batches = [int(b) for b in args.batch.split(",")]
    results: list[IngestResult] = []
    extra = [
        "--OmniForgeApp.event_retention_count=1000000",
        f"--OmniForgeApp.max_events_per_post={max(batches)}",
        *args.server_arg,
    ]
    async with SpawnedServer(extra) as server:
        emitter = Emitter(server, args.connections, "raw", timeout=60.0)
        await emitter.start()
        try:
            for run in range(args.rounds):
                for batch in batches:
                    r = await ingest_run(emitter, server.pid, batch, args, run)
                    results.append(r)
                    print(
                        f"round {run + 1} batch {batch}: {r.rate:,.0f} events/s, "
                        f"{r.us_per_event:.0f} µs server CPU/event, errors {len(r.errors)}",
                        flush=True,
                    )
                    await asyncio.sleep(args.settle)
        finally:
            emitter.close()
    return results


def report(args: argparse.Namespace, results: list[IngestResult]) -> list[str]:
    rows = []
    for batch in sorted({r.batch for r in results}):
        runs = [r for r in results if r.batch == batch]
        rates = [r.rate for r in runs]
        cpu = [r.us_per_event for r in runs]
        rows.append(
            [
                batch,
                len(runs),
                ", ".join(f"{x:,.0f}" for x in rates),
                f"{statistics.median(rates):,.0f}",
                ", ".join(f"{x:.0f}" for x in cpu),
                f"{statistics.median(cpu):.0f}",
                ", ".join(format_share(r.server_cpu) for r in runs),
                ", ".join(format_share(r.gen_cpu) for r in runs),
                "OK" if not any(r.errors for r in runs) else f"FAILED ({runs[0].errors[:2]})",
            ]
        )
    columns = [
        "events per POST",
        "rounds",
        "events/s (each)",
        "events/s median",
        "server CPU µs/event (each)",
        "µs/event median",
        "server CPU",
        "generator CPU",
        "every event stored",
    ]
    lines = [
        f"## Event ingest — {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC",
        "",
        *[f"- {k}: {v}" for k, v in environment("asyncio")],
        f"- command: `{command_line()}`",
        f"- settings: {args.connections} connections, {args.channels} channels, "
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up, no subscribers",
        "",
        markdown_table(columns, rows),
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--batch", default="1,100", help="comma-separated events per POST")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=2.0, help="pause between runs")
    parser.add_argument("--server-arg", action="append", default=[])
    parser.add_argument(
        "--profile", type=Path, help="py-spy raw profile of the server per run, at this path"
    )
    parser.add_argument(
        "--profile-all",
        dest="profile_gil",
        action="store_false",
        help="profile every sample (waits too), not only those running Python",
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    lines = report(args, results)
    print("\n".join(lines))
    if not args.no_record:
        append_section(RESULTS_FILE, lines)
    if any(r.errors for r in results):
        print(json.dumps([r.errors[:3] for r in results if r.errors]))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
