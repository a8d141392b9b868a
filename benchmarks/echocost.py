"""What a room pays to tell a copy of a held update from a new one, and what a copy cost before.

A stock pycrdt ``Provider`` sends back every update it receives. Before each batch a room now
reads the document's state vector once and diffs each incoming update against it
(``Room._without_echoes``): an update that adds nothing is dropped. This measures that check on
the rate workload's shape (one writer appending ``--size`` characters) and on a room of
``--writers`` writers taking turns (a state vector of that many clients), beside what applying
a held update costs pycrdt (which the room did for every copy before, then stored the copy and
sent it to every other peer).

Example::

    python -m benchmarks.echocost --updates 5000 --writers 50 --repeat 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import pycrdt
from pycrdt import Doc, Text, get_update

RESULTS = Path(__file__).parent / "results" / "echocost.md"


def room_of(writers: int, updates: int, size: int) -> tuple[Doc, bytes]:
    """A room document built by ``writers`` writers taking turns, and the last update."""
    room = Doc()
    docs = [Doc() for _ in range(writers)]
    update = b""
    for i in range(updates):
        doc = docs[i % writers]
        if writers > 1:
            doc.apply_update(room.get_update(doc.get_state()))
        state = doc.get_state()
        doc.get("code", type=Text).insert(len(doc.get("code", type=Text)), "x" * size)
        update = doc.get_update(state)
        room.apply_update(update)
    return room, update


def per_call(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20000)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows = []
    for writers in (1, args.writers):
        room, update = room_of(writers, args.updates, args.size)
        state = room.get_state()
        rows.append(
            (
                writers,
                len(state),
                per_call(room.get_state, args.repeat),
                per_call(lambda u=update, s=state: get_update(u, s), args.repeat),
                per_call(lambda d=room, u=update: d.apply_update(u), args.repeat // 10),
            )
        )
    lines = [
        "| writers | state vector | state vector read (once per batch) | diff of one update "
        "| applying a held update |",
        "|---|---|---|---|---|",
    ]
    for writers, sv, read, diff, apply in rows:
        lines.append(f"| {writers} | {sv} B | {read:.1f} µs | {diff:.1f} µs | {apply:.1f} µs |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write(
                f"\n## {time.strftime('%Y-%m-%d %H:%M')} UTC, pycrdt {pycrdt.__version__}, "
                f"Python {platform.python_version()}, {os.cpu_count()} cores\n\n"
                f"`python -m benchmarks.echocost --updates {args.updates} --size {args.size} "
                f"--writers {args.writers} --repeat {args.repeat}`\n\n{table}\n"
            )


if __name__ == "__main__":
    main()
