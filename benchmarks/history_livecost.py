"""What version history costs live editing (issue 17: "the fan-out and rate workloads stay within
5% of before"), measured as the server's CPU per update, before and after, in one run.

Two servers run the same fixed-rate fan-out (``benchmarks.fanout``: one pycrdt writer, N light
subscribers, full clients checking convergence), one after the other, rounds interleaved (the
order alternates): the checkout named by ``--baseline`` (``git worktree add /tmp/base COMMIT``,
the commit before history landed) and this one. Each round gets fresh servers and rooms. What
is compared is the server's CPU seconds (with its child processes) per update sent, over the
measured phase: unlike a latency or the highest rate, that figure hardly moves when other
processes share the cores (a loaded machine delays the work, it does not add to it). Latencies
are shown too, for what they are worth on a shared machine.

At the default ``--rate`` and ``--duration`` the measured phase sends more than
``history_checkpoint_updates`` (500) updates per run: the automatic versions taken every 500
updates are part of what is measured.

Example::

    git worktree add /tmp/base-hist 30aeb48
    python -m benchmarks.history_livecost --baseline /tmp/base-hist --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

from .compare.contenders import BASELINE_ENV, OMNIFORGE_ARGS
from .fanout import FanoutConfig, FanoutResult, run_fanout
from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import SpawnedOmniforge


async def one_run(pythonpath: str | None, cfg: FanoutConfig) -> FanoutResult:
    async with SpawnedOmniforge(extra_args=OMNIFORGE_ARGS, pythonpath=pythonpath) as server:
        (result,) = await run_fanout(server, cfg)
    return result


def cpu_us_per_update(result: FanoutResult) -> float:
    if result.server_cpu is None or not result.sent:
        return float("nan")
    return result.server_cpu.cpu_s / result.sent * 1e6


async def measure(args: argparse.Namespace) -> dict[str, list[FanoutResult]]:
    cfg = FanoutConfig(
        subscribers=[args.subscribers],
        rates=[args.rate],
        duration=args.duration,
        full_clients=1,
        loop="asyncio",
    )
    servers = {"before (baseline)": str(args.baseline), "after (this checkout)": None}
    results: dict[str, list[FanoutResult]] = {name: [] for name in servers}
    for round_ in range(args.rounds):
        order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
        for name in order:
            print(f"== round {round_ + 1}/{args.rounds}: {name}", flush=True)
            result = await one_run(servers[name], cfg)
            if not result.ok:
                raise SystemExit(f"{name}: the run failed: {result.errors or 'not converged'}")
            results[name].append(result)
            print(f"   server CPU {cpu_us_per_update(result):.0f} µs per update", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--baseline",
        type=Path,
        default=os.environ.get(BASELINE_ENV),
        help=f"the checkout before history (default: ${BASELINE_ENV})",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=300.0, help="updates/s")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "history.md")
    args = parser.parse_args(argv)
    if args.baseline is None or not (args.baseline / "jupyter_omniforge").is_dir():
        parser.error("--baseline: a checkout of the commit before history (git worktree add)")
    facts = environment("asyncio (spawned jupyter servers)")
    results = asyncio.run(measure(args))

    rows = []
    medians = {}
    for name, runs in results.items():
        cpu = [cpu_us_per_update(r) for r in runs]
        medians[name] = statistics.median(cpu)
        rows.append(
            [
                name,
                ", ".join(f"{c:.0f}" for c in cpu),
                f"{medians[name]:.0f}",
                f"{statistics.median(r.latency_ms.p50 for r in runs):.1f}",
                f"{statistics.median(r.latency_ms.p99 for r in runs):.1f}",
                f"{statistics.median(r.deliveries_per_s for r in runs):,.0f}",
                f"{statistics.median(r.server_cpu.share for r in runs if r.server_cpu) * 100:.0f}%",
            ]
        )
    before, after = medians.values()
    ratio = after / before
    runs_before, runs_after = results.values()
    paired = [
        cpu_us_per_update(a) / cpu_us_per_update(b)
        for a, b in zip(runs_after, runs_before, strict=True)
    ]
    notes = [
        f"after ÷ before, server CPU per update (medians): {ratio:.3f}"
        f" ({'within' if ratio <= 1.05 else 'beyond'} issue 17's 5%)",
        "after ÷ before within each round: "
        + ", ".join(f"{r:.2f}" for r in paired)
        + f" (median {statistics.median(paired):.3f}; the load of the shared machine drifts"
        " between rounds, less within one)",
        f"{args.rounds} interleaved rounds (order alternating), a fresh server per run; every run"
        " delivered every update to every subscriber and converged",
    ]
    facts += [
        ("command", f"`{command_line()}`"),
        (
            "workload",
            f"fan-out: 1 writer at {args.rate:g} updates/s for {args.duration:g} s, "
            f"{args.subscribers} light subscribers, 1 full client",
        ),
    ]
    columns = [
        "server",
        "server CPU µs per update, each round",
        "median",
        "p50 ms (median)",
        "p99 ms (median)",
        "deliveries/s (median)",
        "server CPU share (median)",
    ]
    append_run(
        args.out, "History: cost to live editing (before/after)", facts, columns, rows, notes
    )
    print(f"after ÷ before: {ratio:.3f}; appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
