"""What encryption at rest costs where it is paid: storing updates, and opening a room from disk.

A writer's ``--updates`` appends of ``--size`` characters each go through the SQLite store, with
and without a cipher (``encryption_key_file``); then the store is closed and opened again, and
the room is read back (what a join of a room that is not in memory waits for), ``--rounds``
times. Compaction is off, so the read decrypts every row.

Example::

    python -m benchmarks.coldopen --updates 2000 --size 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from pycrdt import Doc, Text

from jupyter_omniforge.store import SQLiteStore, StoreSettings
from jupyter_omniforge.store.crypto import Cipher

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment, markdown_table


def writer_updates(count: int, size: int) -> list[bytes]:
    doc = Doc()
    text = doc.get("code", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        text += (f"{i};" + "x" * size)[:size]
    return updates


async def run(updates: list[bytes], cipher: Cipher | None, directory: Path) -> tuple[float, float]:
    """Seconds to store every update (appended and committed), and to open the room again."""
    settings = StoreSettings(
        path=str(directory / "omniforge.sqlite"),
        synchronous="NORMAL",
        compact_idle=3600,
        compact_max_updates=10**9,
        cipher=cipher,
    )
    store = SQLiteStore.from_settings(settings)
    await store.start()
    start = time.perf_counter()
    for update in updates:
        store.rooms.append("idea:cold", update)
    await store.rooms.flush()
    stored = time.perf_counter() - start
    await store.close()
    store = SQLiteStore.from_settings(settings)
    await store.start()
    start = time.perf_counter()
    rows = await store.rooms.load("idea:cold")
    doc = Doc()
    for row in rows:
        doc.apply_update(row)
    opened = time.perf_counter() - start
    await store.close()
    assert len(rows) == len(updates)
    return stored, opened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "coldopen.md")
    args = parser.parse_args()
    updates = writer_updates(args.updates, args.size)
    total = sum(map(len, updates))
    cipher = Cipher(os.urandom(32))
    results: dict[str, list[tuple[float, float]]] = {"plain": [], "encrypted": []}
    for _ in range(args.rounds):
        for name, c in (("plain", None), ("encrypted", cipher)):
            with tempfile.TemporaryDirectory() as tmp:
                results[name].append(asyncio.run(run(updates, c, Path(tmp))))
    facts = [
        *environment("asyncio"),
        ("command", f"`{command_line()}`"),
        ("updates", f"{len(updates)}, {total / 1e6:.1f} MB in all"),
    ]
    table = [
        (
            name,
            f"{statistics.median(v[0] for v in values):.2f}",
            f"{statistics.median(v[1] for v in values) * 1000:.0f}",
        )
        for name, values in results.items()
    ]
    columns = ("store", "store all (median s)", "open the room from disk (median ms)")
    append_run(args.out, "Cold open", facts, columns, table)
    print(markdown_table(columns, table))


if __name__ == "__main__":
    main()
