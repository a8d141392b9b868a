"""The comparison as one PNG (matplotlib, a benchmark-only dependency: ``pip install
'.[bench]'``): fan-out latency and throughput over N, and the single-figure workloads as bars."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..join import size_label
from .config import CompareConfig
from .contenders import CONTENDERS
from .outcome import Outcome


def _value(outcomes: Sequence[Outcome], contender: str, key: str) -> float:
    for o in outcomes:
        if o.contender == contender and key in o.figures:
            return o.figures[key]
    return math.nan


def plot(
    path: Path,
    cfg: CompareConfig,
    outcomes: Sequence[Outcome],
    contenders: Sequence[str],
    title: str,
) -> Path | None:
    """Write the PNG to ``path``; None (and nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None

    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    names = [CONTENDERS[k].title for k in contenders]

    def log_scale(ax, values: list[float]) -> None:
        # Only with something to show: a log axis without a positive value cannot be drawn.
        if any(v > 0 for v in values):
            ax.set_yscale("log")

    def lines(ax, prefix: str, ylabel: str, log: bool) -> None:
        drawn: list[float] = []
        for k, name in zip(contenders, names, strict=True):
            ys = [_value(outcomes, k, f"{prefix}.{n}") for n in cfg.subscribers]
            ax.plot(cfg.subscribers, ys, marker="o", label=name)
            drawn += [y for y in ys if not math.isnan(y)]
        ax.set_xscale("log")
        ax.set_xticks(cfg.subscribers, [str(n) for n in cfg.subscribers])
        ax.minorticks_off()
        if log:
            log_scale(ax, drawn)
        ax.set_xlabel("subscribers N")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)

    def bars(ax, keys: Sequence[tuple[str, str]], ylabel: str, log: bool = False) -> None:
        width = 0.8 / max(1, len(contenders))
        drawn: list[float] = []
        for i, (k, name) in enumerate(zip(contenders, names, strict=True)):
            points = [(j + i * width, _value(outcomes, k, key)) for j, (key, _) in enumerate(keys)]
            # Not measured (NaN), or not drawable on a log axis: no bar.
            points = [(x, y) for x, y in points if not math.isnan(y) and (y > 0 or not log)]
            ax.bar([x for x, _ in points], [y for _, y in points], width, label=name)
            drawn += [y for _, y in points]
        ax.set_xticks([j + width * (len(contenders) - 1) / 2 for j in range(len(keys))])
        ax.set_xticklabels([label for _, label in keys], fontsize=8)
        if log:
            log_scale(ax, drawn)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)

    lines(axes[0][0], "fanout.p99", f"fan-out p99 ms at {cfg.rate:g} updates/s", log=True)
    axes[0][0].legend(fontsize=8)
    lines(axes[0][1], "fanout.dps", "fan-out deliveries/s", log=True)
    bars(
        axes[0][2],
        [("rate.max", f"N={cfg.search_subscribers}, p99 ≤ {cfg.search_p99:g} ms")],
        "highest sustained updates/s",
    )
    bars(
        axes[1][0],
        [(f"join.{s}", f"join {size_label(s)}") for s in cfg.join_sizes],
        "join time p50 ms",
        log=True,
    )
    bars(
        axes[1][1],
        [
            ("memory.conn", "per idle connection"),
            ("memory.room_conn", "per open room (its connection included)"),
        ],
        "server RSS KiB",
    )
    bars(
        axes[1][2],
        [
            ("rooms.p99", f"{cfg.rooms} rooms x2"),
            ("awareness.p99", f"awareness {cfg.awareness_clients}x{cfg.awareness_hz:g} Hz"),
            ("events.p99", f"events →{cfg.events_subscribers}"),
        ],
        "p99 ms",
        log=True,
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
