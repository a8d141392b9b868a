"""What one workload measured on one server: its figures, whether it was correct, and the load
on the machine while it ran (so a reader can tell whether the load generator kept up)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..loadgen.cpu import CpuMeter, CpuShare, machine_busy_seconds
from ..loadgen.pool import SubscriberPool

#: A generator process busier than this (share of one core) may be what limits a result.
GEN_BUSY = 0.7


@dataclass
class Load:
    """CPU shares (1.0 = one core) over a measured phase."""

    #: Each load-generator process: the main one first, then the subscriber workers.
    generator: list[float] = field(default_factory=list)
    server: float = math.nan
    #: Everything else on the machine (other users, other benchmarks).
    other: float = math.nan

    @property
    def busiest(self) -> float:
        return max(self.generator, default=math.nan)

    @property
    def generator_total(self) -> float:
        return sum(self.generator) if self.generator else math.nan

    @classmethod
    def of(
        cls, main: CpuShare | None, workers: Sequence[CpuShare], server: CpuShare | None
    ) -> Load:
        """From meters a benchmark already read (``fanout.run_one``'s)."""
        return cls(
            [s.share for s in ([main] if main else []) + list(workers)],
            server.share if server else math.nan,
        )

    def describe(self) -> str:
        def pct(x: float) -> str:
            return "-" if math.isnan(x) else f"{x * 100:.0f}%"

        return (
            f"gen {pct(self.generator_total)} (busiest {pct(self.busiest)}), "
            f"server {pct(self.server)}, other {pct(self.other)}"
        )


class LoadMeter:
    """Meters this process, the pool's workers, the server (and helpers) and the machine."""

    def __init__(self, pool: SubscriberPool | None, server_pids: Sequence[int]) -> None:
        self._gen = [CpuMeter()] + [CpuMeter(w.proc.pid) for w in (pool.workers if pool else [])]
        # The server's child processes (compaction, say) count as the server's.
        self._server = [CpuMeter(pid, tree=True) for pid in server_pids]
        self._busy0 = 0.0
        self._wall0 = 0.0

    def start(self) -> None:
        for m in (*self._gen, *self._server):
            m.start()
        self._busy0 = machine_busy_seconds()
        self._wall0 = time.perf_counter()

    def stop(self) -> Load:
        gen = [m.stop() for m in self._gen]
        server = [m.stop() for m in self._server]
        wall = time.perf_counter() - self._wall0
        ours = sum(s.cpu_s for s in gen) + sum(s.cpu_s for s in server)
        busy = machine_busy_seconds() - self._busy0
        return Load(
            [s.share for s in gen],
            sum(s.cpu_s for s in server) / wall if wall > 0 else math.nan,
            max(0.0, busy - ours) / wall if wall > 0 else math.nan,
        )


@dataclass
class Outcome:
    """One workload on one server."""

    workload: str
    contender: str
    #: Figures by key (``Figure.key`` in ``table.py``); a missing key was not measured.
    figures: dict[str, float] = field(default_factory=dict)
    #: Figures that are only a lower bound (the generator, or the search range, was the limit).
    lower_bounds: set[str] = field(default_factory=set)
    #: Reasons the run counts as failed (lost data, errors); empty = OK.
    problems: list[str] = field(default_factory=list)
    #: Measured phases, by name, and the load during each.
    loads: dict[str, Load] = field(default_factory=dict)
    #: Rows of this workload's detail table (columns in the workload's module).
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Not applicable to this server, and why.
    skipped: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.skipped

    def generator_bound(self) -> list[str]:
        """Phases where a generator process was busier than :data:`GEN_BUSY`."""
        return [
            f"{name}: {load.describe()}"
            for name, load in self.loads.items()
            if not math.isnan(load.busiest) and load.busiest > GEN_BUSY
        ]


def median_of_rounds(rounds: Sequence[Outcome]) -> Outcome:
    """One outcome from several rounds of a workload on one server: each figure is the median
    of the rounds that measured it; rows, loads, problems and notes of every round are kept,
    marked with their round. Any round's problem makes the whole a failed run."""
    if len(rounds) == 1:
        return rounds[0]
    first = rounds[0]
    out = Outcome(first.workload, first.contender, skipped=first.skipped)
    for key in dict.fromkeys(k for o in rounds for k in o.figures):
        values = sorted(o.figures[key] for o in rounds if key in o.figures)
        mid = len(values) // 2
        out.figures[key] = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    for i, o in enumerate(rounds, 1):
        tag = f"round {i}"
        out.lower_bounds |= o.lower_bounds
        out.problems += [f"{tag}: {line}" for line in o.problems]
        out.notes += [f"{tag}: {line}" for line in o.notes]
        out.loads.update({f"{name} ({tag})": load for name, load in o.loads.items()})
        out.rows += [[f"{row[0]} ({tag})", *row[1:]] if row else row for row in o.rows]
        out.seconds += o.seconds
    return out
