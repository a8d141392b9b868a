"""What pycrdt charges a server to apply a writer's appends, one by one or merged in batches.

A writer appends ``--size`` characters to Text ``code`` ``--updates`` times, one update each (as
the fan-out writer does). A fresh document then applies them: one by one, and merged in batches
of ``--batch`` (what a room does with ``update_interval``). Each appended item extends the
writer's previous one, and pycrdt's cost per append grows with that item's length; the table
shows it per tenth of the run. Also: appends after one large insert by the same writer.

Example::

    python -m benchmarks.applycost --updates 20000 --size 32 --batch 8
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import pycrdt
from pycrdt import Doc, Text, merge_updates


def writer_updates(count: int, size: int, first: int = 0) -> list[bytes]:
    """The updates of a writer that appends ``size`` characters ``count`` times (after one
    insert of ``first`` characters, if any, which is the first update)."""
    doc = Doc()
    text = doc.get("code", type=Text)
    updates = []
    if first:
        state = doc.get_state()
        text += "y" * first
        updates.append(doc.get_update(state))
    for i in range(count):
        state = doc.get_state()
        text += (f"~#{i};" + "x" * size)[: size - 1] + "\n"
        updates.append(doc.get_update(state))
    return updates


def apply_in_batches(doc: Doc, updates: list[bytes], batch: int) -> None:
    """Apply ``updates`` to ``doc``, ``batch`` at a time merged into one update."""
    for k in range(0, len(updates), batch):
        part = updates[k : k + batch]
        doc.apply_update(part[0] if len(part) == 1 else merge_updates(*part))


def apply_timed(updates: list[bytes], batch: int) -> list[float]:
    """µs per update for each tenth of ``updates``, applied in merged batches of ``batch``."""
    doc = Doc()
    doc.get("code", type=Text)
    tenth = max(len(updates) // 10, batch)
    out = []
    for start in range(0, len(updates) - tenth + 1, tenth):
        chunk = updates[start : start + tenth]
        began = time.perf_counter()
        apply_in_batches(doc, chunk, batch)
        out.append((time.perf_counter() - began) / len(chunk) * 1e6)
    return out


def after_big_insert(first: int, count: int, size: int, batch: int) -> float:
    """µs per append applied after the writer's one insert of ``first`` characters."""
    updates = writer_updates(count, size, first)
    doc = Doc()
    doc.get("code", type=Text)
    doc.apply_update(updates[0])
    rest = updates[1:]
    began = time.perf_counter()
    apply_in_batches(doc, rest, batch)
    return (time.perf_counter() - began) / len(rest) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=20000, help="appends by the writer")
    parser.add_argument("--size", type=int, default=32, help="characters per append")
    parser.add_argument("--batch", type=int, default=8, help="updates merged per apply")
    parser.add_argument("--big", type=int, default=1_000_000, help="characters of the big insert")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "applycost.md"
    )
    args = parser.parse_args()
    updates = writer_updates(args.updates, args.size)
    single = apply_timed(updates, 1)
    merged = apply_timed(updates, args.batch)
    lines = [
        f"## Apply cost — {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC",
        "",
        f"- machine: {platform.machine()}, nproc={os.cpu_count()}, pycrdt {pycrdt.__version__}",
        f"- load average before the run: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- command: `python -m benchmarks.applycost --updates {args.updates} --size {args.size} "
        f"--batch {args.batch} --big {args.big}`",
        "",
        f"| appends | µs per update, one by one | µs per update, merged by {args.batch} |",
        "|---|---|---|",
    ]
    tenth = len(updates) // 10
    for i, (a, b) in enumerate(zip(single, merged, strict=False)):
        lines.append(f"| {i * tenth}-{(i + 1) * tenth} | {a:.1f} | {b:.1f} |")
    few = max(args.updates // 10, args.batch)
    lines += [
        "",
        f"After one insert of {args.big:,} characters by the same writer, {few} appends of "
        f"{args.size}: {after_big_insert(args.big, few, args.size, 1):.1f} µs per update one by "
        f"one, {after_big_insert(args.big, few, args.size, args.batch):.1f} merged by "
        f"{args.batch}.",
        "",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    with args.out.open("a") as f:
        f.write(text)
    print(f"appended to {args.out}")


if __name__ == "__main__":
    main()
