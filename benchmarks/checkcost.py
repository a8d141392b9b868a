"""What checking an update costs the server before pycrdt sees it, next to what applying it costs.

Records an editing session (``--updates`` updates of one writer: typing into Text ``code``,
deleting, setting keys of Map ``tokens``, adding notebook-like cells, each a Map holding a
Text, to Array ``cells`` and typing into them), then times per update:

- the gate alone (:func:`jupyter_omniforge.updates.gate`, what main did before the structure);
- the gate and the document's structure (:class:`jupyter_omniforge.structure.Structure`,
  what a room does now);
- pycrdt applying the update to a document (what the check guards).

And the time to read the whole document's structure afresh (a room that reloads after an
update that passed the check fails to apply).

Example::

    python -m benchmarks.checkcost --updates 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from pycrdt import Array, Doc, Map, Text

from jupyter_omniforge.structure import Structure
from jupyter_omniforge.updates import gate

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment, markdown_table

ROOTS = {"code": "text", "tokens": "map", "cells": "array"}


def session(count: int, seed: int = 1) -> tuple[list[bytes], bytes]:
    """The updates of an editing session of ``count`` updates, and the final document."""
    rng = random.Random(seed)
    doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    code = doc.get("code", type=Text)
    tokens = doc.get("tokens", type=Map)
    cells = doc.get("cells", type=Array)
    sources: list[Text] = []
    while len(updates) < count:
        op = rng.random()
        if op < 0.55 or len(code) < 10:
            code.insert(rng.randint(0, len(code)), rng.choice("abcdefgh \n"))
        elif op < 0.65:
            start = rng.randint(0, len(code) - 5)
            del code[start : start + rng.randint(1, 4)]
        elif op < 0.75:
            tokens[f"t{rng.randint(0, 50)}"] = rng.random()
        elif op < 0.78:
            source = Text("# a new cell\n")
            cells.append(Map({"cell_type": "code", "source": source}))
            sources.append(source)
        elif sources:
            source = rng.choice(sources)
            source.insert(rng.randint(0, len(source)), rng.choice("xyz ="))
    return updates[:count], doc.get_update()


def per_update(fn, updates: list[bytes]) -> float:
    start = time.perf_counter()
    for update in updates:
        fn(update)
    return (time.perf_counter() - start) / len(updates) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "checkcost.md")
    args = parser.parse_args()
    updates, full = session(args.updates)
    rows: dict[str, list[float]] = {"gate": [], "gate + structure": [], "pycrdt apply": []}
    rebuild: list[float] = []
    for _ in range(args.rounds):
        rows["gate"].append(per_update(gate, updates))
        structure = Structure(ROOTS)
        rows["gate + structure"].append(per_update(structure.check, updates))
        doc = Doc()
        rows["pycrdt apply"].append(per_update(doc.apply_update, updates))
        start = time.perf_counter()
        Structure(ROOTS).check(full, limits=False)
        rebuild.append(time.perf_counter() - start)
    assert structure.pooled == 0
    facts = [
        *environment("none"),
        ("command", f"`{command_line()}`"),
        (
            "session",
            f"{len(updates)} updates of one writer; final document {len(full):,} bytes, "
            f"{structure.types} shared types, "
            f"{sum(len(s) for s in structure._starts.values()):,} runs of IDs in the structure",
        ),
    ]
    table = [
        (name, f"{statistics.median(v):.1f}", f"{min(v):.1f}", f"{max(v):.1f}")
        for name, v in rows.items()
    ]
    notes = [
        "reading the whole final document's structure afresh: median "
        f"{statistics.median(rebuild) * 1000:.0f} ms"
    ]
    columns = ("per update", "median µs", "min µs", "max µs")
    append_run(args.out, "Check cost", facts, columns, table, notes)
    print(markdown_table(columns, table), *notes, sep="\n")


if __name__ == "__main__":
    main()
