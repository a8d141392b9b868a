"""The comparison as tables: each figure per server, the best peer's, and our ratio to it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..join import size_label
from ..loadgen.report import markdown_table
from .config import CompareConfig
from .contenders import CONTENDERS
from .outcome import Outcome


@dataclass(frozen=True)
class Figure:
    """One row of the summary: a figure every server gets, and how ours should compare."""

    #: The workload measuring it (``Outcome.workload``).
    workload: str
    key: str
    label: str
    unit: str
    lower_is_better: bool
    #: Target for ours ÷ best peer (≤ it when lower is better, ≥ it otherwise), if any.
    target: float | None = None

    def meets(self, ratio: float) -> bool:
        return ratio <= self.target if self.lower_is_better else ratio >= self.target  # type: ignore[operator]

    def describe_target(self) -> str:
        if self.target is None:
            return ""
        return f"{'≤' if self.lower_is_better else '≥'} {self.target:g}x"


def figures(cfg: CompareConfig) -> list[Figure]:
    """The summary's rows for this run's sizes (issue 6's targets where it sets one)."""
    rows = []
    for n in cfg.subscribers:
        target = 0.8 if n in (100, 500) else None
        rows.append(Figure("fanout", f"fanout.p99.{n}", f"fan-out p99, N={n}", "ms", True, target))
    for n in cfg.subscribers:
        rows.append(Figure("fanout", f"fanout.p50.{n}", f"fan-out p50, N={n}", "ms", True))
    for n in cfg.subscribers:
        rows.append(
            Figure("fanout", f"fanout.dps.{n}", f"fan-out deliveries/s, N={n}", "/s", False)
        )
    rows.append(
        Figure(
            "rate",
            "rate.max",
            f"highest rate with p99 ≤ {cfg.search_p99:g} ms, N={cfg.search_subscribers}",
            "updates/s",
            False,
            1.25,
        )
    )
    rows += [
        Figure("rooms", "rooms.p99", f"{cfg.rooms} rooms x 2 editing: p99", "ms", True),
        Figure(
            "rooms", "rooms.dps", f"{cfg.rooms} rooms x 2 editing: updates delivered/s", "/s", False
        ),
    ]
    largest = max(cfg.join_sizes, default=0)
    for size in cfg.join_sizes:
        target = 1.0 if size == largest and size >= 10**7 else None
        rows.append(
            Figure("join", f"join.{size}", f"join {size_label(size)} (p50)", "ms", True, target)
        )
    rows += [
        Figure("conn-memory", "memory.conn", "memory per idle connection", "KiB", True, 1.0),
        Figure(
            "room-memory",
            "memory.room_conn",
            "memory per open room with its one idle connection",
            "KiB",
            True,
        ),
        Figure(
            "room-memory",
            "memory.room",
            "memory per open room (its connection deducted)",
            "KiB",
            True,
        ),
        Figure(
            "awareness",
            "awareness.p99",
            f"awareness storm {cfg.awareness_clients} x {cfg.awareness_hz:g} Hz: staleness p99",
            "ms",
            True,
        ),
        Figure("awareness", "awareness.rate", "awareness storm: states received/s", "/s", False),
        Figure(
            "events",
            "events.p99",
            f"events 1 → {cfg.events_subscribers} at {cfg.events_rate:g}/s: p99",
            "ms",
            True,
        ),
        Figure("events", "events.dps", "events: deliveries/s", "/s", False),
    ]
    return rows


def derive(outcomes: Sequence[Outcome]) -> None:
    """Figures computed from others of the same server: a room's memory without its
    connection's."""
    by = {(o.workload, o.contender): o for o in outcomes}
    for o in outcomes:
        if o.workload != "room-memory" or "memory.room_conn" not in o.figures:
            continue
        conn = by.get(("conn-memory", o.contender))
        if conn is not None and "memory.conn" in conn.figures:
            o.figures["memory.room"] = o.figures["memory.room_conn"] - conn.figures["memory.conn"]


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


@dataclass
class Cell:
    value: float | None
    text: str
    #: Only a lower bound (the generator or the search range was the limit).
    bound: bool = False


def _cells(fig: Figure, outcomes: Sequence[Outcome], contenders: Sequence[str]) -> dict[str, Cell]:
    measured = {o.contender: o for o in outcomes if fig.key in o.figures}
    cells = {}
    for key in contenders:
        if key in measured:
            value = measured[key].figures[fig.key]
            bound = fig.key in measured[key].lower_bounds
            cells[key] = Cell(value, ("≥ " if bound else "") + _fmt(value), bound)
            continue
        # Not measured: say why (skipped, failed, not run).
        related = [o for o in outcomes if o.contender == key and o.workload == fig.workload]
        if any(o.skipped for o in related):
            cells[key] = Cell(None, "n/a")
        elif any(o.problems for o in related):
            cells[key] = Cell(None, "FAILED")
        else:
            cells[key] = Cell(None, "-")
    return cells


def summary(
    cfg: CompareConfig, outcomes: Sequence[Outcome], contenders: Sequence[str]
) -> tuple[list[str], list[list[str]], list[str]]:
    """(columns, rows, verdict lines) of the summary table."""
    peers = [k for k in contenders if not CONTENDERS[k].ours]
    ours = [k for k in contenders if CONTENDERS[k].ours]
    columns = [
        "figure",
        "unit",
        *(CONTENDERS[k].title for k in contenders),
        "best peer",
        *(f"{CONTENDERS[k].title} ÷ best peer" for k in ours),
        "target",
    ]
    rows, verdicts = [], []
    for fig in figures(cfg):
        cells = _cells(fig, outcomes, contenders)
        measured = [(cells[k].value, k) for k in peers if cells[k].value is not None]
        best = (min if fig.lower_is_better else max)(measured, default=None)
        row = [fig.label, fig.unit, *(cells[k].text for k in contenders)]
        row.append(f"{_fmt(best[0])} ({CONTENDERS[best[1]].title})" if best else "-")
        for k in ours:
            value = cells[k].value
            if best is None or value is None or best[0] <= 0:
                row.append("-")
                continue
            ratio = value / best[0]
            mark = ""
            if fig.target is not None:
                met = fig.meets(ratio)
                mark = " ✓" if met else " ✗"
                verdicts.append(
                    f"{'MET' if met else 'MISSED'}: {fig.label} — {CONTENDERS[k].title} "
                    f"{_fmt(value)} {fig.unit} vs best peer {_fmt(best[0])} "
                    f"({CONTENDERS[best[1]].title}): {ratio:.2f}x, target {fig.describe_target()}"
                    + (" (ours is only a lower bound, see the notes)" if cells[k].bound else "")
                    + (
                        " (the best peer's figure is only a lower bound)"
                        if cells[best[1]].bound
                        else ""
                    )
                )
            row.append(f"{ratio:.2f}x{mark}")
        row.append(fig.describe_target())
        if any(c.value is not None or c.text != "-" for c in cells.values()):
            rows.append(row)
    return columns, rows, verdicts


def load_rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    """Per measured phase: the generator's and the server's CPU, and the machine's other load."""

    def pct(x: float) -> str:
        return "-" if math.isnan(x) else f"{x * 100:.0f}%"

    rows = []
    for o in outcomes:
        for phase, load in o.loads.items():
            rows.append(
                [
                    o.workload,
                    CONTENDERS[o.contender].title,
                    phase,
                    pct(load.generator_total),
                    pct(load.busiest),
                    pct(load.server),
                    pct(load.other),
                ]
            )
    return rows


LOAD_COLUMNS = [
    "workload",
    "server",
    "phase",
    "generator CPU (all processes)",
    "busiest generator process",
    "server CPU",
    "other processes",
]


def detail_table(columns: Sequence[str], outcomes: Sequence[Outcome]) -> str:
    """One workload's rows for every server, a ``server`` column first."""
    rows = []
    for o in outcomes:
        title = CONTENDERS[o.contender].title
        if o.skipped:
            rows.append([title, f"n/a: {o.skipped}", *([""] * (len(columns) - 1))])
        for r in o.rows:
            rows.append([title, *r])
        if not o.rows and o.problems:
            rows.append([title, f"FAILED: {o.problems[0][:200]}", *([""] * (len(columns) - 1))])
    return markdown_table(["server", *columns], rows)
