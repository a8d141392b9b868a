"""Results files: one append-only Markdown file per benchmark under ``benchmarks/results/``."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from .servers import dist_version, redact

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def environment(loop: str) -> list[tuple[str, str]]:
    """Facts every run records: date, machine, versions of the load generator's stack."""
    return [
        ("date (UTC)", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")),
        (
            "machine",
            f"{platform.machine()}, nproc={os.cpu_count()}, {platform.system()} {platform.release()}",
        ),
        ("load average before the run (1/5/15 min)", _loadavg()),
        (
            "load generator",
            (
                f"Python {platform.python_version()}, pycrdt {dist_version('pycrdt')}, event loop {loop}"
                + (f" (uvloop {dist_version('uvloop')})" if loop == "uvloop" else "")
            ),
        ),
    ]


def _loadavg() -> str:
    """Other work on the machine shows up as noise in the figures; this makes it visible."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "-"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def command_line() -> str:
    return redact(" ".join(shlex.quote(a) for a in ["python", "-m", _module_name(), *sys.argv[1:]]))


def _module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is None:
        return sys.argv[0]
    return spec.name.removesuffix(".__main__")  # ``python -m package`` runs package.__main__


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def append_run(
    path: Path,
    title: str,
    facts: Sequence[tuple[str, str]],
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    notes: Sequence[str] = (),
) -> None:
    """Append one run (heading, facts, table, notes) to ``path``; never rewrites earlier runs."""
    parts = [f"## {title}", ""]
    parts += [f"- {name}: {value}" for name, value in facts]
    parts += ["", markdown_table(columns, rows), ""]
    if notes:
        parts += [f"- {note}" for note in notes] + [""]
    append_section(path, parts)


def append_section(path: Path, lines: Sequence[str]) -> None:
    """Append ``lines`` (one run's section) to ``path``, creating it with its heading if new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        if f.tell() == 0:
            f.write(f"# {path.stem} benchmark results (append-only; see ../README.md)\n\n")
        f.write("\n".join(lines) + "\n")
