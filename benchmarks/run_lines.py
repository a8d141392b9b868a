"""``jupyter omniforge run`` on a command printing ``--lines`` lines as fast as it can.

    python -m benchmarks.run_lines --lines 50000 --runs 7

The command is Python printing ``--lines`` lines of ``--width`` characters into its standard
output; it measures its own wall time (first print to the last byte flushed) and writes it into a
file. Against a spawned server, each round runs it bare, with its output into each of:

- ``/dev/null``: the floor, output that goes nowhere (no real destination is that cheap);
- a file;
- a pipe drained by ``cat > /dev/null``, the fastest reader there is (a CI runner reads the
  output of a job through a pipe, a terminal through a pty, which is slower);

and then under ``jupyter omniforge run build:…``, whose output (passed through) goes into a pipe
drained by ``cat`` too: the same destination as the third. ``--quiet`` runs ``run --quiet``
instead (nothing passed through). The settings take turns in each round, so that the machine's
noise falls on all of them.

Figures (medians over the rounds): the command's own time in each setting, and the slowdown
under ``run`` against each bare one (the issue's target, at most 10%, is read against the same
destination: the pipe); its wall time from spawn to exit (bare into the pipe: measured here;
under ``run``: the ``duration`` of ``build.completed``); the whole ``run`` (interpreter start-up
and sending the log's tail included); the progress events, and the most of them in any one
second by the server's clock (the runner spaces its sends ``1 / --max-rate`` apart; the server's
time stamps jitter by the time each request takes). Every round checks that the log holds every
line, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from jupyter_omniforge.client import OmniForge

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import SpawnedOmniforge

RESULTS = RESULTS_DIR / "run-lines.md"

#: The command: prints argv[1] lines of argv[2] characters as fast as it can, then writes the
#: seconds that took into the file argv[3].
PRINTER = """\
import sys, time
lines, width, timing = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pad = "x" * max(0, width - 12)
began = time.perf_counter()
for i in range(lines):
    print(f"line {i:06d} {pad}")
sys.stdout.flush()
elapsed = time.perf_counter() - began
with open(timing, "w") as f:
    f.write(repr(elapsed))
"""

#: Where the output goes, bare; "run" is the command under jupyter omniforge run (into "pipe").
SETTINGS = ("null", "file", "pipe", "run")


def expected_lines(lines: int, width: int) -> list[str]:
    pad = "x" * max(0, width - 12)
    return [f"line {i:06d} {pad}" for i in range(lines)]


def run_into(argv: list[str], sink: str, scratch: Path) -> float:
    """Run ``argv`` with its output into ``sink`` (``null``, ``file`` or ``pipe``: through
    ``cat > /dev/null``); the wall time from spawn to exit. Raises when it fails."""
    began = time.perf_counter()
    if sink == "pipe":
        cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        try:
            proc = subprocess.Popen(argv, stdout=cat.stdin, stderr=subprocess.PIPE)
            cat.stdin.close()
            _, err = proc.communicate()
        finally:
            cat.wait()
    elif sink == "file":
        with open(scratch / "output", "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
            _, err = proc.communicate()
    else:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = proc.communicate()
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:6]} exited {proc.returncode}: {err.decode()[-2000:]}")
    return elapsed


def wrapped(argv: list[str], channel: str, url: str, token: str, extra: list[str]) -> list[str]:
    return [
        *(sys.executable, "-m", "jupyter_omniforge.cli", "run", channel),
        *("--url", url, "--token", token, *extra, "--", *argv),
    ]


async def history(forge: OmniForge, channel: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = None
    while page := await forge.ahistory(channel, after, limit=1000):
        events += page
        after = page[-1]["id"]
    return events


def most_in_a_second(times: list[float]) -> int:
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50_000, help="lines printed (50000)")
    parser.add_argument("--width", type=int, default=80, help="characters per line (80)")
    parser.add_argument("--runs", type=int, default=7, help="rounds (7)")
    parser.add_argument("--max-rate", type=float, default=10.0, help="run's --max-rate (10)")
    parser.add_argument("--quiet", action="store_true", help="run with --quiet")
    parser.add_argument("--no-record", action="store_true", help="do not append to the results")
    args = parser.parse_args(argv)

    expected = expected_lines(args.lines, args.width)
    extra = ["--max-rate", f"{args.max_rate:g}", *(["--quiet"] if args.quiet else [])]
    #: Per setting, per round: the command's own time.
    own: dict[str, list[float]] = {setting: [] for setting in SETTINGS}
    wall_pipe, wall_run, whole, events, busiest = [], [], [], [], []
    spawner = SpawnedOmniforge()
    async with spawner:
        url = f"http://127.0.0.1:{spawner.port}/"
        async with OmniForge(url, spawner.token) as forge:
            with tempfile.TemporaryDirectory() as tmp:
                scratch = Path(tmp)
                timing = scratch / "elapsed"
                command = [sys.executable, "-c", PRINTER, str(args.lines), str(args.width)]
                command.append(str(timing))
                for round_ in range(args.runs):
                    channel = f"build:lines-{int(time.time())}-{round_}"
                    for setting in SETTINGS:
                        if setting == "run":
                            argv_ = wrapped(command, channel, url, spawner.token, extra)
                            took = partial(run_into, argv_, "pipe", scratch)
                            whole.append(await asyncio.to_thread(took))
                        else:
                            took = partial(run_into, command, setting, scratch)
                            elapsed = await asyncio.to_thread(took)
                            if setting == "pipe":
                                wall_pipe.append(elapsed)
                        own[setting].append(float(timing.read_text()))
                    run = await history(forge, channel)
                    log = [
                        line
                        for e in run
                        if e["type"] == "build.progress"
                        for line in e["data"]["log"]
                    ]
                    if log != expected:
                        missing = len(set(expected) - set(log))
                        raise SystemExit(f"round {round_}: {missing} lines are not in the log")
                    assert run[-1]["type"] == "build.completed", run[-1]
                    wall_run.append(run[-1]["data"]["duration"])
                    times = [e["time"] for e in run if e["type"] == "build.progress"]
                    events.append(len(times))
                    busiest.append(most_in_a_second(times))
                    print(
                        f"round {round_}: own time {_ms(own, round_)} ms ({', '.join(SETTINGS)}); "
                        f"whole run {whole[-1]:.2f} s, {len(times)} events; every line in the log",
                        flush=True,
                    )

    def median_ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.1f}"

    def slowdown(setting: str) -> float:
        return statistics.median(own["run"]) / statistics.median(own[setting]) - 1

    columns = [
        "lines x width",
        "rounds",
        "own time ms, bare: /dev/null",
        "file",
        "pipe",
        "under run (into a pipe)",
        "slowdown vs the pipe",
        "≤ 10%",
        "vs a file",
        "vs /dev/null",
        "spawn to exit ms: bare (pipe)",
        "under run",
        "whole run s",
        "events",
        "most in 1 s",
        "every line in the log",
    ]
    rows = [
        [
            f"{args.lines} x {args.width}",
            args.runs,
            median_ms(own["null"]),
            median_ms(own["file"]),
            median_ms(own["pipe"]),
            median_ms(own["run"]),
            f"{slowdown('pipe') * 100:+.1f}%",
            "yes" if slowdown("pipe") <= 0.10 else "NO",
            f"{slowdown('file') * 100:+.1f}%",
            f"{slowdown('null') * 100:+.1f}%",
            median_ms(wall_pipe),
            median_ms(wall_run),
            f"{statistics.median(whole):.2f}",
            f"{min(events)}-{max(events)}",
            max(busiest),
            f"yes ({args.runs}/{args.runs})",
        ]
    ]
    print()
    for column, value in zip(columns, rows[0], strict=True):
        print(f"{column}: {value}")
    if not args.no_record:
        output = "not printed (--quiet)" if args.quiet else "passed through into the pipe"
        append_run(
            RESULTS,
            "jupyter omniforge run: a command printing lines as fast as it can",
            [*environment("asyncio"), ("command", f"`{command_line()}`")],
            columns,
            rows,
            [
                f"run options: {' '.join(extra)}; the output under run: {output}",
                f"own time per round, ms ({', '.join(SETTINGS)}): "
                + "; ".join(_ms(own, i) for i in range(args.runs)),
            ],
        )


def _ms(series: dict[str, list[float]], i: int) -> str:
    return ", ".join(f"{values[i] * 1000:.1f}" for values in series.values())


if __name__ == "__main__":
    asyncio.run(main())
